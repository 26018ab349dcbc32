//! Circuit loss: 200 messages exchanged between Talpa (through Tor) and a peer while the exit
//! relay carrying Talpa's session is killed twice. Talpa reconnects over a new circuit
//! (XEP-0198 resumption, or a new binding plus archive catch-up); nothing is lost and nothing
//! arrives twice, on either side.
//!
//! Killing relays would break everybody else's tests on the shared bed, so this test brings up
//! a bed of its own and stops it at the end (also on panic).

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{Value, json};
use support::headless::talpa_online;
use support::{OwnBed, Peer};

const LONG: Duration = Duration::from_secs(240);
/// Messages per direction per phase; four phases.
const PER_PHASE: usize = 25;
const PHASES: usize = 4;

fn body_of(e: &Value, prefix: &str) -> Option<String> {
    (e["event"] == "message")
        .then(|| e["body"].as_str())
        .flatten()
        .filter(|b| b.starts_with(prefix))
        .map(str::to_owned)
}

/// How often each peer message was shown by Talpa (as a `message` event).
fn incoming(events: &[Value]) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for b in events.iter().filter_map(|e| body_of(e, "p2t-")) {
        *out.entry(b).or_default() += 1;
    }
    out
}

#[test]
fn two_hundred_messages_survive_two_killed_exit_relays_without_loss_or_duplicates() {
    // Four exits: after two are killed, two are left, so one remains usable even when the
    // other is the client's guard (a circuit never uses its guard as its exit).
    let bed = OwnBed::start_with("circuit-loss", &["--relays", "7", "--exits", "4"]);
    let (a, apw) = bed.new_account("talpa");
    let (b, bpw) = bed.new_account("peer");
    let dir = tempfile::tempdir().expect("tempdir");
    let mut talpa = talpa_online(&bed, &dir.path().join("p"), &a, &apw);
    // This peer has no OMEMO keys: encryption (on by default) is turned off explicitly.
    talpa.call(json!({"cmd": "set_encryption", "account": a, "conversation": b, "enabled": false}));
    let mut peer = Peer::spawn(&bed, &b, &bpw);

    let mut killed = Vec::new();
    let mut mark = 0;
    for phase in 0..PHASES {
        if phase == 1 || phase == 2 {
            let exit = bed
                .exit_relay_connected_to_prosody()
                .unwrap_or_else(|| panic!("no relay carries Talpa's session (phase {phase})"))
                .clone();
            assert!(!killed.contains(&exit.nickname), "{exit:?} is dead already");
            mark = talpa.events.len();
            let status = std::process::Command::new("kill")
                .args(["-KILL", &exit.pid.to_string()])
                .status()
                .expect("kill");
            assert!(status.success(), "could not kill {exit:?}");
            killed.push(exit.nickname);
        }
        // Both sides write while the circuit is (maybe) gone.
        for i in 0..PER_PHASE {
            let n = phase * PER_PHASE + i;
            let (r, _) = talpa
                .call(json!({"cmd": "send", "account": a, "to": b, "body": format!("t2p-{n:03}")}));
            assert_eq!(r["ok"], true, "{r}");
            peer.send_message(&a, &format!("p2t-{n:03}"));
        }
        if phase == 1 || phase == 2 {
            // Back online over a new circuit before the next relay is chosen.
            let online = |e: &Value| {
                e["event"] == "account_state" && e["account"] == a && e["state"] == "online"
            };
            talpa.wait_events_until(|events| events[mark..].iter().any(online), LONG);
        }
    }
    assert_eq!(killed.len(), 2);

    let total = PHASES * PER_PHASE;
    let mut at_peer: BTreeMap<String, usize> = BTreeMap::new();
    while at_peer.len() < total {
        let e = peer.wait_event(|e| body_of(e, "t2p-").is_some(), LONG);
        *at_peer
            .entry(body_of(&e, "t2p-").unwrap_or_default())
            .or_default() += 1;
    }
    talpa.wait_events_until(|events| incoming(events).len() == total, LONG);
    // A duplicate would come right behind, on the same streams.
    std::thread::sleep(Duration::from_secs(5));
    for e in peer.take_pending() {
        if let Some(b) = body_of(&e, "t2p-") {
            *at_peer.entry(b).or_default() += 1;
        }
    }
    let (history, _) =
        talpa.call(json!({"cmd": "history", "account": a, "with": b, "limit": 1000}));
    let at_talpa = incoming(&talpa.events);
    let mut stored: BTreeMap<String, usize> = BTreeMap::new();
    for m in history["messages"].as_array().expect("history") {
        *stored
            .entry(m["body"].as_str().unwrap_or_default().to_owned())
            .or_default() += 1;
    }

    let dup = |m: &BTreeMap<String, usize>| -> Vec<String> {
        m.iter()
            .filter(|(_, n)| **n != 1)
            .map(|(b, n)| format!("{b}×{n}"))
            .collect()
    };
    assert_eq!(at_peer.len(), total, "lost on the way to the peer");
    assert!(
        dup(&at_peer).is_empty(),
        "peer got duplicates: {:?}",
        dup(&at_peer)
    );
    assert_eq!(at_talpa.len(), total, "lost on the way to Talpa");
    assert!(
        dup(&at_talpa).is_empty(),
        "Talpa showed duplicates: {:?}",
        dup(&at_talpa)
    );
    assert_eq!(stored.len(), 2 * total, "history: {history}");
    assert!(
        dup(&stored).is_empty(),
        "Talpa stored duplicates: {:?}",
        dup(&stored)
    );
    talpa.quit();
}
