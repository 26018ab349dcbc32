//! The outbox survives a crash: 100 messages queued offline, Talpa killed with SIGKILL while
//! it is sending them, started again — the peer receives every message exactly once, counted
//! as raw stanzas (the peer does no deduplication of its own), and the peer's server archive
//! (archiving on, as on most public servers) holds each exactly once too.

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

/// Text between `open` and `close`, for each occurrence.
fn between<'a>(xml: &'a str, open: &str, close: &str) -> Vec<&'a str> {
    xml.split(open)
        .skip(1)
        .filter_map(|rest| rest.split(close).next())
        .collect()
}

/// Every `crash-` body in the peer's own server archive (XEP-0313, the conversation with
/// `with`, paged), counted as raw archived stanzas.
fn archived(peer: &mut Peer, with: &str) -> BTreeMap<String, usize> {
    peer.send_cmd(&json!({"cmd": "raw_events", "on": true}));
    let mut found = BTreeMap::new();
    let mut after = String::new();
    for _ in 0..10 {
        let qid = support::random_hex(8);
        let xml = format!(
            "<iq type='set'><query xmlns='urn:xmpp:mam:2' queryid='{qid}'>\
             <x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' type='hidden'>\
             <value>urn:xmpp:mam:2</value></field><field var='with'><value>{with}</value>\
             </field></x><set xmlns='http://jabber.org/protocol/rsm'><max>50</max>{after}\
             </set></query></iq>"
        );
        let id = support::random_hex(6);
        peer.send_cmd(&json!({"cmd": "iq", "id": id, "xml": xml}));
        let ack = peer.wait_event(|e| e["event"] == "ack" && e["id"] == id, LONG);
        assert_eq!(ack["type"], "result", "{ack}");
        for e in peer.take_pending() {
            let xml = e["xml"].as_str().unwrap_or_default();
            if e["event"] != "stanza" || !xml.contains(&qid) {
                continue;
            }
            for body in between(xml, "<body>", "</body>") {
                if body.starts_with("crash-") {
                    *found.entry(body.to_owned()).or_default() += 1;
                }
            }
        }
        let response = ack["response"].as_str().unwrap_or_default();
        if response.contains("complete=\"true\"") || response.contains("complete='true'") {
            return found;
        }
        let last = between(response, "<last>", "</last>");
        assert_eq!(
            last.len(),
            1,
            "an incomplete page names its last item: {ack}"
        );
        after = format!("<after>{}</after>", last[0]);
    }
    panic!("the archive did not end within 10 pages: {found:?}");
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

    // The server archived what it delivered: a resend after the crash would be there twice.
    let in_archive = archived(&mut peer, &a);
    let twice: Vec<_> = in_archive.iter().filter(|(_, n)| **n != 1).collect();
    assert!(twice.is_empty(), "archived more than once: {twice:?}");
    assert_eq!(
        in_archive.len(),
        COUNT,
        "each message archived: {in_archive:?}"
    );
}
