//! The "no device list" cache (docs/PROTOCOLS.md, OMEMO): in a private room, a member without
//! OMEMO keys is asked for its device list once, not again on every arrival in the room or
//! every message, and is named in `keys_missing` each time; a member who publishes keys later
//! (a contact: its PEP event reaches us) is encrypted to at once. The real `talpa` binary,
//! Prosody through the private Tor network, the Python peers. What Talpa asked is counted in
//! Prosody's stanza log, which the code under test cannot touch.

mod support;

use std::collections::HashSet;
use std::time::Duration;

use serde_json::{Value, json};
use support::headless::{Headless, room_with, send, talpa_online};
use support::{Peer, bed, omemo_peer, secret};

const LONG: Duration = Duration::from_secs(90);
const NODES: [&str; 2] = [
    "urn:xmpp:omemo:2:devices",
    "eu.siacs.conversations.axolotl.devicelist",
];

/// Waits for an event matching `pred` among those arriving after the first `from` events.
fn wait_after(t: &mut Headless, from: usize, pred: impl Fn(&Value) -> bool) -> Value {
    t.wait_events_until(|evs| evs.iter().skip(from).any(&pred), LONG);
    t.events
        .iter()
        .skip(from)
        .find(|e| pred(e))
        .cloned()
        .expect("seen")
}

fn occupants(room: &str, n: usize) -> impl Fn(&Value) -> bool + '_ {
    move |e| {
        e["event"] == "occupants"
            && e["room"] == room
            && e["occupants"].as_array().is_some_and(|o| o.len() == n)
    }
}

/// Prosody's c2s session of a stanza-log line ("<date> <session>\t<level>\tRECV: ...").
fn session_of(line: &str) -> Option<&str> {
    line.split('\t').next()?.rsplit(' ').next()
}

/// The c2s sessions on which Prosody received the messages `origin_ids`: Talpa's.
fn sessions_sending(log: &str, origin_ids: &[&str]) -> HashSet<String> {
    log.lines()
        .filter(|l| l.contains("RECV: <message") && origin_ids.iter().any(|id| l.contains(id)))
        .filter_map(session_of)
        .map(str::to_owned)
        .collect()
}

/// How many times Prosody received, on one of `sessions`, a query for `jid`'s items of
/// `node`.
fn list_queries(log: &str, sessions: &HashSet<String>, jid: &str, node: &str) -> usize {
    let to = format!("to='{jid}'");
    let items = format!("<items node='{node}'");
    log.lines()
        .filter(|l| session_of(l).is_some_and(|s| sessions.contains(s)))
        .filter(|l| l.contains("RECV: <iq") && l.contains("type='get'"))
        .filter(|l| l.contains(&to) && l.contains(&items))
        .count()
}

fn keys_missing_count(events: &[Value], room: &str) -> usize {
    events
        .iter()
        .filter(|e| e["event"] == "keys_missing" && e["room"] == room)
        .count()
}

/// The keyless member leaves and comes back: an occupant arrival, on which Talpa used to ask
/// for its device list again.
fn rejoin(talpa: &mut Headless, peer: &mut Peer, room: &str, nick: &str) {
    let from = talpa.events.len();
    peer.send_cmd(&json!({"cmd": "leave", "room": room, "nick": nick}));
    wait_after(talpa, from, occupants(room, 2));
    let from = talpa.events.len();
    peer.send_cmd(&json!({"cmd": "join", "room": room, "nick": nick}));
    wait_after(talpa, from, occupants(room, 3));
}

#[test]
fn a_keyless_room_member_is_asked_for_its_device_list_once_across_rejoins_and_messages() {
    let bed = bed();
    let (owner, apw) = bed.new_account("nolistowner");
    let (member, bpw) = bed.new_account("keyed");
    let (other, cpw) = bed.new_account("keyless");
    let room = bed.new_room("nolist");
    let dir = tempfile::tempdir().expect("tempdir");
    let mut talpa = talpa_online(bed, &dir.path().join("p"), &owner, &apw);
    let mut keyed = omemo_peer(bed, &member, &bpw);
    let mut keyless = Peer::spawn(bed, &other, &cpw);
    room_with(
        &mut talpa,
        &owner,
        &room,
        &mut [
            (&mut keyed, &member, "badger"),
            (&mut keyless, &other, "vole"),
        ],
    );

    let mut oids = Vec::new();
    for round in 1..=2 {
        rejoin(&mut talpa, &mut keyless, &room, "vole");
        let text = secret(&format!("to the room, message {round}"));
        oids.push(send(&mut talpa, &owner, &room, &text));
        talpa.wait_events_until(|evs| keys_missing_count(evs, &room) >= round, LONG);
        let missing = talpa
            .events
            .iter()
            .filter(|e| e["event"] == "keys_missing" && e["room"] == room.as_str())
            .nth(round - 1)
            .cloned()
            .expect("keys_missing");
        assert_eq!(
            missing["jids"],
            json!([other]),
            "message {round}: {missing}"
        );
        let got = keyed.wait_event(
            |e| e["event"] == "message" && e["type"] == "groupchat" && e["body"] == text.as_str(),
            LONG,
        );
        assert_eq!(got["encrypted"], "twomemo", "message {round}: {got}");
    }

    let log = bed.stanza_log_text();
    let ids: Vec<&str> = oids.iter().map(String::as_str).collect();
    let sessions = sessions_sending(&log, &ids);
    assert!(
        !sessions.is_empty(),
        "the stanza log does not show Talpa's messages: the counts below would prove nothing"
    );
    for node in NODES {
        assert_eq!(
            list_queries(&log, &sessions, &other, node),
            1,
            "Talpa's queries for the keyless member's {node} (joined, rejoined twice, two \
             messages): one, then the answer is believed"
        );
        assert_eq!(
            list_queries(&log, &sessions, &member, node),
            1,
            "the keyed member's {node} is asked once, so the count above sees Talpa's queries"
        );
    }
    talpa.quit();
}

#[test]
fn a_contact_without_keys_is_asked_once_however_many_messages_wait_for_keys() {
    let bed = bed();
    let (a, apw) = bed.new_account("nolistsender");
    let (b, bpw) = bed.new_account("keylesscontact");
    let dir = tempfile::tempdir().expect("tempdir");
    let mut talpa = talpa_online(bed, &dir.path().join("p"), &a, &apw);
    let _peer = Peer::spawn(bed, &b, &bpw);
    // Each message flushes the outbox again: every held message is tried afresh, and a message
    // that reaches nobody used to have the device lists fetched a second time.
    let texts = [secret("waits for keys, 1"), secret("waits for keys, 2")];
    for text in &texts {
        let oid = send(&mut talpa, &a, &b, text);
        let held = talpa.wait_event_for(
            |e| e["event"] == "message_held" && e["origin_id"] == oid.as_str(),
            LONG,
        );
        assert_eq!(held["with"], b.as_str(), "{held}");
    }
    let log = bed.stanza_log_text();
    for text in &texts {
        assert!(!log.contains(text.as_str()), "a held message went out");
    }
    // Nobody else knows this fresh account: every query for its lists is Talpa's.
    let everyone: HashSet<String> = log
        .lines()
        .filter_map(session_of)
        .map(str::to_owned)
        .collect();
    for node in NODES {
        assert_eq!(
            list_queries(&log, &everyone, &b, node),
            1,
            "queries for the keyless contact's {node} over two held messages"
        );
    }
    talpa.quit();
}

#[test]
fn a_member_who_publishes_keys_later_is_encrypted_to_at_once_via_the_pep_event() {
    let bed = bed();
    let (owner, apw) = bed.new_account("nolistowner");
    let (member, bpw) = bed.new_account("keyed");
    let (other, cpw) = bed.new_account("laterkeys");
    let room = bed.new_room("nolist");
    let dir = tempfile::tempdir().expect("tempdir");
    let mut talpa = talpa_online(bed, &dir.path().join("p"), &owner, &apw);
    let mut keyed = omemo_peer(bed, &member, &bpw);
    let mut keyless = Peer::spawn(bed, &other, &cpw);

    // A contact, both ways: its PEP events (device lists) reach Talpa.
    keyless.send_cmd(&json!({"cmd": "auto_approve", "on": true}));
    let (r, _) = talpa.call(json!({"cmd": "add_contact", "account": owner, "jid": other}));
    assert_eq!(r["ok"], true, "{r}");
    talpa.wait_event_for(
        |e| e["event"] == "subscription_request" && e["from"] == other.as_str(),
        LONG,
    );
    let (r, _) = talpa.call(json!({"cmd": "approve_contact", "account": owner, "jid": other}));
    assert_eq!(r["ok"], true, "{r}");

    room_with(
        &mut talpa,
        &owner,
        &room,
        &mut [
            (&mut keyed, &member, "badger"),
            (&mut keyless, &other, "vole"),
        ],
    );
    let first = secret("before the member has keys");
    send(&mut talpa, &owner, &room, &first);
    let missing = talpa.wait_event_for(|e| e["event"] == "keys_missing", LONG);
    assert_eq!(missing["jids"], json!([other]), "{missing}");
    keyed.wait_event(
        |e| e["event"] == "message" && e["type"] == "groupchat" && e["body"] == first.as_str(),
        LONG,
    );

    // The member comes back with an OMEMO client: it publishes its device lists (a PEP event
    // to Talpa) and joins again. Talpa believed "no list" for ten minutes, and must not wait.
    keyless.send_cmd(&json!({"cmd": "quit"}));
    drop(keyless);
    let from = talpa.events.len();
    let mut later = omemo_peer(bed, &other, &cpw);
    wait_after(&mut talpa, from, |e| {
        e["event"] == "room_audit"
            && e["room"] == room.as_str()
            && e["members_without_keys"]
                .as_array()
                .is_some_and(Vec::is_empty)
    });
    later.send_cmd(&json!({"cmd": "join", "room": room, "nick": "vole"}));
    later.wait_event(|e| e["event"] == "joined", LONG);
    let from = talpa.events.len();
    let second = secret("after the member published keys");
    send(&mut talpa, &owner, &room, &second);
    let got = later.wait_event(
        |e| e["event"] == "message" && e["type"] == "groupchat" && e["body"] == second.as_str(),
        LONG,
    );
    assert!(
        got["encrypted"] == "twomemo" || got["encrypted"] == "oldmemo",
        "{got}"
    );
    keyed.wait_event(
        |e| e["event"] == "message" && e["type"] == "groupchat" && e["body"] == second.as_str(),
        LONG,
    );
    assert_eq!(
        keys_missing_count(&talpa.events[from..], &room),
        0,
        "nobody is missing keys now: {:?}",
        &talpa.events[from..]
    );
    talpa.quit();
}
