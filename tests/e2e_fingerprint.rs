//! What the server sees of Talpa: a scripted session (login through Tor, a message, the
//! questions another client may ask, a reconnection, another message), read back from
//! Prosody's stanza log — everything Talpa sent, as the server parsed it.

mod support;

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use serde_json::json;
use support::headless::talpa_online;
use support::{Peer, bed};

const LONG: Duration = Duration::from_secs(120);

/// `(session id, stanza)` for every stanza the server received on a connection that bound a
/// resource of `jid`, plus the bound resources in order.
fn talpa_traffic(log: &str, jid: &str) -> (Vec<(String, String)>, Vec<String>) {
    let mut resources = Vec::new();
    let mut sessions = HashSet::new();
    let needle = format!("<jid>{jid}/");
    for line in log.lines() {
        let mut fields = line.splitn(3, '\t');
        let (Some(head), Some(_level), Some(text)) = (fields.next(), fields.next(), fields.next())
        else {
            continue;
        };
        let Some(session) = head.rsplit(' ').next() else {
            continue;
        };
        if let (true, Some(rest)) = (text.starts_with("SEND:"), text.split(&needle).nth(1))
            && let Some(resource) = rest.split("</jid>").next()
        {
            resources.push(resource.to_owned());
            sessions.insert(session.to_owned());
        }
    }
    let received = log
        .lines()
        .filter_map(|line| {
            let mut fields = line.splitn(3, '\t');
            let session = fields.next()?.rsplit(' ').next()?.to_owned();
            let text = fields.nth(1)?;
            let stanza = text.strip_prefix("RECV: ")?;
            sessions
                .contains(&session)
                .then(|| (session, stanza.to_owned()))
        })
        .collect();
    (received, resources)
}

/// Every `name='value'` attribute of a serialised stanza.
fn attrs<'a>(stanza: &'a str, name: &str) -> Vec<&'a str> {
    stanza
        .split(&format!(" {name}='"))
        .skip(1)
        .filter_map(|r| r.split('\'').next())
        .collect()
}

/// The stanza without what OMEMO (XEP-0384) prescribes to carry protocol ids: device ids as
/// PEP item ids, prekey and signed-prekey ids in bundles, key `rid`s in `<encrypted>`. Those
/// are the protocol's, the same in every client, not ids Talpa chooses.
fn without_omemo_ids(stanza: &str) -> String {
    let mut s = stanza.to_owned();
    for (open, close) in [
        ("<bundle", "</bundle>"),
        ("<encrypted", "</encrypted>"),
        ("<list", "</list>"),
        ("<devices", "</devices>"),
    ] {
        while let Some(a) = s.find(open) {
            let Some(b) = s[a..].find(close) else { break };
            s.replace_range(a..a + b + close.len(), "");
        }
    }
    if s.contains("omemo") || s.contains("axolotl") {
        while let Some(a) = s.find("<item id='") {
            let Some(b) = s[a + 10..].find('\'') else {
                break;
            };
            s.replace_range(a..=(a + 10 + b), "<item");
        }
    }
    s
}

fn is_random_id(id: &str) -> bool {
    id.len() == 32
        && id
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
}

#[test]
fn the_server_log_of_a_talpa_session_shows_no_fingerprint() {
    let bed = bed();
    let stanza_log = bed
        .prosody
        .stanza_log
        .clone()
        .expect("the bed logs stanzas (bed.json prosody.stanza_log)");
    let (a, apw) = bed.new_account("plain");
    let (b, bpw) = bed.new_account("curious");
    let dir = tempfile::tempdir().expect("tempdir");
    let mut talpa = talpa_online(bed, &dir.path().join("p"), &a, &apw);
    let mut peer = Peer::spawn(bed, &b, &bpw);

    // This peer has no OMEMO keys: encryption (on by default) is turned off explicitly.
    talpa.call(json!({"cmd": "set_encryption", "account": a, "conversation": b, "enabled": false}));
    talpa.call(json!({"cmd": "send", "account": a, "to": b, "body": "first"}));
    peer.wait_message("first", LONG);
    let online = talpa.wait_event(|e| e["event"] == "account_state" && e["state"] == "online");
    let full = online["detail"].as_str().expect("bound JID").to_owned();

    // What any client may ask another: features, software version, time, idle time.
    let mut answers = BTreeMap::new();
    for (n, ns) in [
        (
            "disco",
            "<query xmlns='http://jabber.org/protocol/disco#info'/>",
        ),
        ("version", "<query xmlns='jabber:iq:version'/>"),
        ("time", "<time xmlns='urn:xmpp:time'/>"),
        ("last", "<query xmlns='jabber:iq:last'/>"),
    ] {
        let xml = format!("<iq type='get' to='{full}'>{ns}</iq>");
        peer.send_cmd(&json!({"cmd": "iq", "xml": xml, "id": n}));
        let ack = peer.wait_event(|e| e["event"] == "ack" && e["id"] == n, LONG);
        answers.insert(n, ack);
    }
    assert_eq!(answers["disco"]["type"], "result", "{answers:?}");
    for refused in ["version", "time", "last"] {
        assert_eq!(
            answers[refused]["condition"], "service-unavailable",
            "{refused}: {answers:?}"
        );
    }

    // Reconnect: a new stream, a new resource.
    talpa.call(json!({"cmd": "set_account_enabled", "account": a, "enabled": false}));
    talpa.events.clear();
    talpa.call(json!({"cmd": "set_account_enabled", "account": a, "enabled": true}));
    talpa.wait_event_for(
        |e| e["event"] == "account_state" && e["state"] == "online",
        LONG,
    );
    talpa.call(json!({"cmd": "send", "account": a, "to": b, "body": "second"}));
    peer.wait_message("second", LONG);
    talpa.quit();

    let log = std::fs::read_to_string(&stanza_log).expect("stanza log");
    let (received, resources) = talpa_traffic(&log, &a);
    assert_eq!(resources.len(), 2, "two logins: {resources:?}");
    for r in &resources {
        let (adj, noun) = r.split_once('_').unwrap_or_default();
        assert!(
            !adj.is_empty()
                && !noun.is_empty()
                && r.bytes().all(|c| c.is_ascii_lowercase() || c == b'_')
                && r.matches('_').count() == 1,
            "resource {r:?} is not ^[a-z]+_[a-z]+$"
        );
    }
    assert_ne!(resources[0], resources[1], "a new resource per connection");

    assert!(
        received.len() > 10,
        "too little traffic found: {received:?}"
    );
    let all: Vec<&str> = received.iter().map(|(_, s)| s.as_str()).collect();
    let report = all.join("\n");
    for forbidden in [
        "resource-binding", // tokio-xmpp's fixed bind id
        "jabber:iq:version'><name",
        "<os>",
        "<tzo>",
        "<utc>",
        "seconds='",
        "Talpa",
        "tokio",
        "xmpp-rs",
    ] {
        assert!(
            !report.contains(forbidden),
            "Talpa sent {forbidden:?}:\n{report}"
        );
    }
    // Prosody's parser stamps its default `en` on every stanza that carries no xml:lang of
    // its own; any other value would be the client's.
    for stanza in &all {
        for lang in attrs(stanza, "xml:lang") {
            assert_eq!(lang, "en", "Talpa chose a language: {stanza}");
        }
    }
    let disco = all
        .iter()
        .find(|s| s.contains("http://jabber.org/protocol/disco#info") && s.contains("<identity"))
        .expect("the disco#info answer is in the log");
    assert!(
        !disco.contains(" name='"),
        "disco#info names the client: {disco}"
    );
    assert!(
        disco.contains("category='client'") && disco.contains("type='pc'"),
        "{disco}"
    );

    // Every id Talpa chose is 128-bit random and never reused; answers to others' requests
    // carry the requester's id and are left out.
    let mut seen = HashSet::new();
    for stanza in &all {
        let answer = stanza.starts_with("<iq")
            && (attrs(stanza, "type").first() == Some(&"result")
                || attrs(stanza, "type").first() == Some(&"error"));
        if answer {
            continue;
        }
        let mut own = HashSet::new();
        let stripped = without_omemo_ids(stanza);
        for id in attrs(&stripped, "id")
            .into_iter()
            .chain(attrs(&stripped, "queryid"))
        {
            assert!(
                is_random_id(id),
                "counter-like or fixed id {id:?} in {stanza}"
            );
            own.insert(id);
        }
        for id in own {
            // The message id and its origin-id are one value, on purpose.
            assert!(seen.insert(id.to_owned()), "id {id} reused in {stanza}");
        }
    }
}
