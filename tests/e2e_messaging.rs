//! 1:1 messaging end to end: the real `talpa` binary logs in to Prosody through the private
//! Tor network and talks to an independent slixmpp peer and to another Talpa.

mod support;

use std::time::Duration;

use serde_json::{Value, json};
use support::headless::{Headless, bodies, talpa_online};
use support::{Peer, bed};

const LONG: Duration = Duration::from_secs(120);

fn is_message(e: &Value, body: &str) -> bool {
    e["event"] == "message" && e["body"] == body
}

#[test]
fn talpa_and_a_slixmpp_peer_exchange_messages_through_tor() {
    let bed = bed();
    let (a, apw) = bed.new_account("talpa");
    let (b, bpw) = bed.new_account("peer");
    let dir = tempfile::tempdir().expect("tempdir");
    let mut talpa = talpa_online(bed, &dir.path().join("p"), &a, &apw);
    let mut peer = Peer::spawn(bed, &b, &bpw);

    // This peer has no OMEMO keys: encryption (on by default) is turned off explicitly.
    talpa.call(json!({"cmd": "set_encryption", "account": a, "conversation": b, "enabled": false}));
    let (r, _) = talpa.call(json!({"cmd": "send", "account": a, "to": b, "body": "hello peer"}));
    assert_eq!(r["ok"], true, "{r}");
    let got = peer.wait_message("hello peer", LONG);
    let origin = r["origin_id"].as_str().expect("origin id");
    assert_eq!(got["id"], origin, "the stanza id is the random origin-id");

    peer.send_message(&a, "hello talpa");
    let m = talpa.wait_event_for(|e| is_message(e, "hello talpa"), LONG);
    assert_eq!(m["direction"], "in");
    assert_eq!(m["with"], b);

    let (r, _) = talpa.call(json!({"cmd": "history", "account": a, "with": b}));
    let bodies = bodies(&r);
    assert_eq!(bodies, ["hello peer", "hello talpa"]);
    talpa.quit();
}

#[test]
fn two_talpas_talk_and_offline_messages_are_caught_up_from_the_archive() {
    let bed = bed();
    let (a, apw) = bed.new_account("alice");
    let (b, bpw) = bed.new_account("bob");
    let dirs = tempfile::tempdir().expect("tempdir");
    let mut alice = talpa_online(bed, &dirs.path().join("a"), &a, &apw);
    let mut bob = talpa_online(bed, &dirs.path().join("b"), &b, &bpw);

    alice.call(json!({"cmd": "send", "account": a, "to": b, "body": "one"}));
    bob.wait_event_for(|e| is_message(e, "one"), LONG);
    bob.call(json!({"cmd": "send", "account": b, "to": a, "body": "two"}));
    alice.wait_event_for(|e| is_message(e, "two"), LONG);

    // Bob goes offline; Alice writes; Bob comes back and catches up from his archive.
    bob.call(json!({"cmd": "set_account_enabled", "account": b, "enabled": false}));
    // No pause: archive stamps have whole-second precision, and a caught-up message of the
    // same second as "two" must still sort after it (archive order).
    alice.call(json!({"cmd": "send", "account": a, "to": b, "body": "while you were away"}));
    std::thread::sleep(Duration::from_secs(2));
    bob.call(json!({"cmd": "set_account_enabled", "account": b, "enabled": true}));
    bob.wait_event_for(|e| is_message(e, "while you were away"), LONG);
    let (r, _) = bob.call(json!({"cmd": "history", "account": b, "with": a}));
    let bodies = bodies(&r);
    assert_eq!(
        bodies,
        ["one", "two", "while you were away"],
        "no loss, no duplicate: {r:#}"
    );
    alice.quit();
    bob.quit();
}

#[test]
fn messages_queued_while_offline_are_delivered_once_after_reconnecting() {
    let bed = bed();
    let (a, apw) = bed.new_account("queuer");
    let (b, bpw) = bed.new_account("receiver");
    let dir = tempfile::tempdir().expect("tempdir");
    let profile = dir.path().join("p");
    let mut talpa = talpa_online(bed, &profile, &a, &apw);
    talpa.call(json!({"cmd": "set_account_enabled", "account": a, "enabled": false}));
    // This peer has no OMEMO keys: encryption (on by default) is turned off explicitly.
    talpa.call(json!({"cmd": "set_encryption", "account": a, "conversation": b, "enabled": false}));
    for i in 0..5 {
        let (r, _) =
            talpa.call(json!({"cmd": "send", "account": a, "to": b, "body": format!("q{i}")}));
        assert_eq!(r["ok"], true, "{r}");
    }
    // Restart the process: the queue lives in the encrypted outbox, not in memory.
    talpa.quit();
    let network = bed.tor.network_file.to_string_lossy().into_owned();
    let mut talpa = Headless::start_with(
        &profile,
        &["--tor-network", &network, "--startup-jitter", "1"],
    );
    talpa.call(json!({"cmd": "unlock", "passphrase": "e2e"}));
    let mut peer = Peer::spawn(bed, &b, &bpw);
    talpa.call(json!({"cmd": "set_account_enabled", "account": a, "enabled": true}));
    for i in 0..5 {
        peer.wait_message(&format!("q{i}"), LONG);
    }
    std::thread::sleep(Duration::from_secs(3));
    let dupes: Vec<_> = peer
        .pending_events()
        .into_iter()
        .filter(|e| e["event"] == "message")
        .collect();
    assert!(dupes.is_empty(), "duplicates delivered: {dupes:?}");
    talpa.quit();
}

#[test]
fn contacts_are_added_and_own_messages_corrected_and_retracted() {
    let bed = bed();
    let (a, apw) = bed.new_account("editor");
    let (b, bpw) = bed.new_account("reader");
    let dir = tempfile::tempdir().expect("tempdir");
    let mut talpa = talpa_online(bed, &dir.path().join("p"), &a, &apw);
    let mut peer = Peer::spawn(bed, &b, &bpw);

    let (r, _) = talpa.call(json!({"cmd": "add_contact", "account": a, "jid": b}));
    assert_eq!(r["ok"], true, "{r}");
    peer.wait_event(|e| e["event"] == "subscribe" && e["from"] == a, LONG);
    talpa.wait_event_for(
        |e| {
            e["event"] == "roster"
                && e["contacts"]
                    .as_array()
                    .is_some_and(|c| c.iter().any(|j| *j == json!(b)))
        },
        LONG,
    );

    // This peer has no OMEMO keys: encryption (on by default) is turned off explicitly.
    talpa.call(json!({"cmd": "set_encryption", "account": a, "conversation": b, "enabled": false}));
    let (r, _) = talpa.call(json!({"cmd": "send", "account": a, "to": b, "body": "helo"}));
    let id = r["origin_id"].as_str().expect("origin id").to_owned();
    peer.wait_message("helo", LONG);
    let (r, _) = talpa
        .call(json!({"cmd": "correct", "account": a, "with": b, "message": id, "body": "hello"}));
    assert_eq!(r["ok"], true, "{r}");
    peer.wait_message("hello", LONG);
    let (r, _) = talpa.call(json!({"cmd": "history", "account": a, "with": b}));
    assert_eq!(bodies(&r), ["hello"], "{r}");
    assert_eq!(r["messages"][0]["corrected"], true, "{r}");

    let (r, _) = talpa.call(json!({"cmd": "retract", "account": a, "with": b, "message": id}));
    assert_eq!(r["ok"], true, "{r}");
    let (r, _) = talpa.call(json!({"cmd": "history", "account": a, "with": b}));
    assert_eq!(r["messages"][0]["retracted"], true, "{r}");
    assert_eq!(r["messages"][0]["body"], "", "the text is gone: {r}");

    let (r, _) = talpa
        .call(json!({"cmd": "correct", "account": a, "with": b, "message": "nope", "body": "x"}));
    assert_eq!(support::headless::error_kind(&r), "not_found", "{r}");
    talpa.quit();
}
