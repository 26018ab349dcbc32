//! The outbox survives a crash: 100 messages queued offline, Talpa killed with SIGKILL while
//! it is sending them, started again — the peer receives every message exactly once, counted
//! as raw stanzas (the peer does no deduplication of its own).

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{Value, json};
use support::headless::{Headless, bodies, talpa_online};
use support::{Peer, bed};

const LONG: Duration = Duration::from_secs(180);
const COUNT: usize = 100;

fn is_crash_message(e: &Value) -> bool {
    e["event"] == "message" && e["body"].as_str().is_some_and(|b| b.starts_with("crash-"))
}

fn count(received: &mut BTreeMap<String, usize>, e: &Value) {
    let body = e["body"].as_str().unwrap_or_default().to_owned();
    *received.entry(body).or_default() += 1;
}

#[test]
fn messages_queued_offline_are_delivered_exactly_once_across_a_sigkill_mid_send() {
    let bed = bed();
    let (a, apw) = bed.new_account("crasher");
    let (b, bpw) = bed.new_account("counter");
    let dir = tempfile::tempdir().expect("tempdir");
    let profile = dir.path().join("p");
    let mut talpa = talpa_online(bed, &profile, &a, &apw);
    let mut peer = Peer::spawn(bed, &b, &bpw);

    let (r, _) = talpa.call(json!({"cmd": "set_account_enabled", "account": a, "enabled": false}));
    assert_eq!(r["ok"], true, "{r}");
    // This peer has no OMEMO keys: encryption (on by default) is turned off explicitly.
    talpa.call(json!({"cmd": "set_encryption", "account": a, "conversation": b, "enabled": false}));
    for i in 0..COUNT {
        let body = format!("crash-{i:03}");
        let (r, _) = talpa.call(json!({"cmd": "send", "account": a, "to": b, "body": body}));
        assert_eq!(r["ok"], true, "{r}");
    }
    let (r, _) = talpa.call(json!({"cmd": "set_account_enabled", "account": a, "enabled": true}));
    assert_eq!(r["ok"], true, "{r}");

    // The first message reached the peer: Talpa is in the middle of sending. Kill it.
    let mut received = BTreeMap::new();
    let first = peer.wait_event(is_crash_message, LONG);
    talpa.kill();
    count(&mut received, &first);
    for e in peer.take_pending().iter().filter(|e| is_crash_message(e)) {
        count(&mut received, e);
    }
    eprintln!(
        "SIGKILL after the peer had received {} of {COUNT} messages",
        received.values().sum::<usize>()
    );

    let network = bed.tor.network_file.to_string_lossy().into_owned();
    let mut talpa = Headless::start_with(
        &profile,
        &["--tor-network", &network, "--startup-jitter", "1"],
    );
    let (r, _) = talpa.call(json!({"cmd": "unlock", "passphrase": "e2e"}));
    assert_eq!(r["ok"], true, "{r}");
    while received.len() < COUNT {
        let e = peer.wait_event(is_crash_message, LONG);
        count(&mut received, &e);
    }
    // Anything sent twice would arrive right behind the rest, over the same stream.
    talpa.wait_event_for(
        |e| e["event"] == "account_state" && e["account"] == a && e["state"] == "online",
        LONG,
    );
    std::thread::sleep(Duration::from_secs(5));
    for e in peer.take_pending().iter().filter(|e| is_crash_message(e)) {
        count(&mut received, e);
    }
    let twice: Vec<_> = received.iter().filter(|(_, n)| **n != 1).collect();
    assert!(twice.is_empty(), "delivered more than once: {twice:?}");
    assert_eq!(received.len(), COUNT);

    let (r, _) = talpa.call(json!({"cmd": "history", "account": a, "with": b, "limit": 500}));
    let mut stored = bodies(&r);
    stored.sort();
    stored.dedup();
    assert_eq!(stored.len(), COUNT, "each message stored once: {r}");
    talpa.quit();
}
