//! Delivery receipts (XEP-0184), read markers (XEP-0333) and typing notifications (XEP-0085)
//! are off by default and opt-in per 1:1 conversation (docs/HEADLESS.md "Activity sharing"):
//! off, nothing is sent and no receipt request is answered (read in Prosody's stanza log); on,
//! requests go out with messages, requests are answered, and the partner's receipts, markers
//! and chat states become `delivered`, `displayed` and `typing` events — but a receipt or
//! marker from anyone else is ignored, and rooms never share activity; with OMEMO the request
//! and marker travel in clear beside the ciphertext (as docs/THREAT_MODEL.md says). The real `talpa`
//! binary, Prosody through the private Tor network, slixmpp peers writing raw stanzas.

mod support;

use std::time::Duration;

use serde_json::{Value, json};
use support::headless::{Headless, error_kind, send, talpa_online};
use support::{Peer, bed, secret};

const LONG: Duration = Duration::from_secs(90);

const NS: [&str; 3] = [
    "urn:xmpp:receipts",
    "urn:xmpp:chat-markers:0",
    "http://jabber.org/protocol/chatstates",
];

/// Every stanza Prosody received addressed to `to` (bare JID, any resource).
fn received_by_server_for(to: &str) -> Vec<String> {
    bed()
        .stanza_log_text()
        .lines()
        .filter_map(|l| l.split_once("RECV: ").map(|(_, s)| s.to_owned()))
        .filter(|s| s.contains(&format!(" to='{to}'")) || s.contains(&format!(" to='{to}/")))
        .collect()
}

fn ok(t: &mut Headless, cmd: Value) -> Value {
    let (r, _) = t.call(cmd);
    assert_eq!(r["ok"], true, "{r}");
    r
}

/// A raw chat message from a peer to `to`.
/// Asks `conversation_privacy` for `with` and checks its `share_activity` and `account_default`.
fn assert_privacy(t: &mut Headless, account: &str, with: &str, share: bool, default: bool) {
    let r = ok(
        t,
        json!({"cmd": "conversation_privacy", "account": account, "with": with}),
    );
    assert_eq!(
        (&r["share_activity"], &r["account_default"]),
        (&json!(share), &json!(default)),
        "{r}"
    );
}

fn raw(peer: &mut Peer, xml: &str) {
    peer.send_cmd(&json!({"cmd": "raw", "xml": xml}));
}

/// The peer's raw `stanza` event for a message satisfying `pred`.
fn stanza_at(peer: &mut Peer, pred: impl Fn(&str) -> bool) -> String {
    let e = peer.wait_event(
        |e| {
            e["event"] == "stanza" && e["kind"] == "message" && e["xml"].as_str().is_some_and(&pred)
        },
        LONG,
    );
    e["xml"].as_str().unwrap_or_default().to_owned()
}

/// Talpa with `account` online, its conversation with `peer_jid` in plaintext (the peer has
/// no OMEMO keys); the peer reports raw stanzas.
fn setup(prefix: &str) -> (tempfile::TempDir, Headless, String, Peer, String) {
    let bed = bed();
    let (alice, apw) = bed.new_account(&format!("{prefix}a"));
    let (bob, bpw) = bed.new_account(&format!("{prefix}b"));
    let dir = tempfile::tempdir().expect("tempdir");
    let mut talpa = talpa_online(bed, &dir.path().join("p"), &alice, &apw);
    let mut peer = Peer::spawn(bed, &bob, &bpw);
    peer.send_cmd(&json!({"cmd": "raw_events", "on": true}));
    let r = ok(
        &mut talpa,
        json!({"cmd": "set_encryption", "account": alice, "conversation": bob, "enabled": false}),
    );
    assert!(r["warning"].is_string(), "{r}");
    (dir, talpa, alice, peer, bob)
}

/// Sends a message from the peer and waits until Talpa has it: everything the peer sent
/// before has been handled by then (one stream, in order).
fn barrier(talpa: &mut Headless, peer: &mut Peer, alice: &str) {
    let text = secret("barrier");
    peer.send_message(alice, &text);
    talpa.wait_event_for(
        |e| e["event"] == "message" && e["body"] == text.as_str(),
        LONG,
    );
}

fn activity_events(talpa: &Headless) -> Vec<&Value> {
    talpa
        .events
        .iter()
        .filter(|e| {
            matches!(
                e["event"].as_str(),
                Some("delivered" | "displayed" | "typing")
            )
        })
        .collect()
}

#[test]
fn off_by_default_nothing_is_sent_no_request_is_answered_and_nothing_is_shown() {
    let (_dir, mut talpa, alice, mut peer, bob) = setup("actoff");
    assert_privacy(&mut talpa, &alice, &bob, false, false);
    let text = secret("plain, no receipt request");
    let oid = send(&mut talpa, &alice, &bob, &text);
    peer.wait_message(&text, LONG);
    // The partner asks for a receipt, types, marks our message displayed, confirms it.
    let asked = secret("please confirm");
    raw(
        &mut peer,
        &format!(
            "<message to='{alice}' type='chat' id='ask-{oid}'><body>{asked}</body>\
             <request xmlns='urn:xmpp:receipts'/><markable xmlns='urn:xmpp:chat-markers:0'/>\
             <active xmlns='http://jabber.org/protocol/chatstates'/></message>"
        ),
    );
    raw(
        &mut peer,
        &format!(
            "<message to='{alice}' type='chat'>\
             <composing xmlns='http://jabber.org/protocol/chatstates'/></message>"
        ),
    );
    raw(
        &mut peer,
        &format!(
            "<message to='{alice}' type='chat'><received xmlns='urn:xmpp:receipts' id='{oid}'/>\
             <displayed xmlns='urn:xmpp:chat-markers:0' id='{oid}'/></message>"
        ),
    );
    talpa.wait_event_for(
        |e| e["event"] == "message" && e["body"] == asked.as_str(),
        LONG,
    );
    // The front end asks to tell typing and reading: nothing goes out.
    ok(
        &mut talpa,
        json!({"cmd": "chat_state", "account": alice, "with": bob, "state": "composing"}),
    );
    ok(
        &mut talpa,
        json!({"cmd": "mark_displayed", "account": alice, "with": bob, "message": format!("ask-{oid}")}),
    );
    let after = secret("after");
    send(&mut talpa, &alice, &bob, &after);
    peer.wait_message(&after, LONG);
    barrier(&mut talpa, &mut peer, &alice);

    assert!(
        activity_events(&talpa).is_empty(),
        "{:?}",
        activity_events(&talpa)
    );
    let to_bob = received_by_server_for(&bob);
    assert!(
        to_bob.iter().any(|s| s.contains(&oid)),
        "our message is in the log: {to_bob:#?}"
    );
    for s in &to_bob {
        for ns in NS {
            assert!(!s.contains(ns), "Talpa sent {ns} while off: {s}");
        }
    }
}

#[test]
fn a_conversation_that_shares_activity_requests_answers_and_shows_it_and_ignores_forgeries() {
    let (_dir, mut talpa, alice, mut peer, bob) = setup("acton");
    let (mallory, mpw) = bed().new_account("actonm");
    let mut forger = Peer::spawn(bed(), &mallory, &mpw);
    for with in [&bob, &mallory] {
        ok(
            &mut talpa,
            json!({"cmd": "set_conversation_privacy", "account": alice, "with": with,
                   "share_activity": true}),
        );
    }
    assert_privacy(&mut talpa, &alice, &bob, true, false);

    // Outgoing messages ask for a receipt and are markable.
    let text = secret("shared");
    let oid = send(&mut talpa, &alice, &bob, &text);
    let xml = stanza_at(&mut peer, |x| x.contains(&oid) && x.contains("<body"));
    for ns in NS {
        assert!(xml.contains(ns), "{ns} missing: {xml}");
    }

    // Someone else confirms and marks our message to bob: ignored (even though mallory's own
    // conversation shares activity). Then bob types, confirms, reads.
    raw(
        &mut forger,
        &format!(
            "<message to='{alice}' type='chat'><received xmlns='urn:xmpp:receipts' id='{oid}'/>\
             <displayed xmlns='urn:xmpp:chat-markers:0' id='{oid}'/></message>"
        ),
    );
    let forged_done = secret("forger's barrier");
    forger.send_message(&alice, &forged_done);
    talpa.wait_event_for(
        |e| e["event"] == "message" && e["body"] == forged_done.as_str(),
        LONG,
    );
    raw(
        &mut peer,
        &format!(
            "<message to='{alice}' type='chat'>\
             <composing xmlns='http://jabber.org/protocol/chatstates'/></message>"
        ),
    );
    let typing = talpa.wait_event_for(|e| e["event"] == "typing", LONG);
    assert_eq!(
        (&typing["with"], &typing["state"]),
        (&json!(bob), &json!("composing")),
        "{typing}"
    );
    raw(
        &mut peer,
        &format!(
            "<message to='{alice}' type='chat'><received xmlns='urn:xmpp:receipts' id='{oid}'/></message>"
        ),
    );
    let d = talpa.wait_event_for(|e| e["event"] == "delivered", LONG);
    assert_eq!(
        (&d["with"], &d["message"]),
        (&json!(bob), &json!(oid)),
        "{d}"
    );
    raw(
        &mut peer,
        &format!(
            "<message to='{alice}' type='chat'><displayed xmlns='urn:xmpp:chat-markers:0' id='{oid}'/></message>"
        ),
    );
    let d = talpa.wait_event_for(|e| e["event"] == "displayed", LONG);
    assert_eq!(
        (&d["with"], &d["message"]),
        (&json!(bob), &json!(oid)),
        "{d}"
    );
    assert!(
        activity_events(&talpa)
            .iter()
            .all(|e| e["with"] == bob.as_str()),
        "nothing from the forger: {:?}",
        activity_events(&talpa)
    );

    // Bob asks for a receipt: answered, to the device that asked.
    let asked = secret("please confirm");
    let ask_id = format!("ask-{}", support::random_hex(8));
    raw(
        &mut peer,
        &format!(
            "<message to='{alice}' type='chat' id='{ask_id}'><body>{asked}</body>\
             <request xmlns='urn:xmpp:receipts'/><markable xmlns='urn:xmpp:chat-markers:0'/>\
             </message>"
        ),
    );
    stanza_at(&mut peer, |x| {
        x.contains("<received") && x.contains("urn:xmpp:receipts") && x.contains(&ask_id)
    });
    // Typing and reading go out when the front end says so; a repeated state is not resent.
    for state in ["composing", "composing", "paused"] {
        ok(
            &mut talpa,
            json!({"cmd": "chat_state", "account": alice, "with": bob, "state": state}),
        );
    }
    // Without an id: their newest markable message; a second time: not again.
    for _ in 0..2 {
        ok(
            &mut talpa,
            json!({"cmd": "mark_displayed", "account": alice, "with": bob}),
        );
    }
    stanza_at(&mut peer, |x| {
        x.contains("<displayed") && x.contains(&ask_id)
    });
    let to_bob = received_by_server_for(&bob);
    let count = |state: &str| {
        to_bob
            .iter()
            .filter(|s| s.contains(&format!("<{state} xmlns=")))
            .count()
    };
    assert_eq!(
        count("composing"),
        1,
        "composing once per burst: {to_bob:#?}"
    );
    assert_eq!(count("paused"), 1, "{to_bob:#?}");

    // Turned off again: nothing more.
    ok(
        &mut talpa,
        json!({"cmd": "set_conversation_privacy", "account": alice, "with": bob,
               "share_activity": false}),
    );
    ok(
        &mut talpa,
        json!({"cmd": "chat_state", "account": alice, "with": bob, "state": "composing"}),
    );
    let plain = secret("off again");
    let plain_oid = send(&mut talpa, &alice, &bob, &plain);
    let xml = stanza_at(&mut peer, |x| x.contains(&plain_oid) && x.contains("<body"));
    assert!(!xml.contains("urn:xmpp:receipts"), "{xml}");
    assert_eq!(
        received_by_server_for(&bob)
            .iter()
            .filter(|s| s.contains("<composing"))
            .count(),
        1,
        "no composing after turning it off"
    );
    assert_eq!(
        received_by_server_for(&bob)
            .iter()
            .filter(|s| s.contains("<displayed"))
            .count(),
        1,
        "displayed once for the same message"
    );
}

#[test]
fn rooms_never_share_activity_and_the_account_default_covers_only_roster_contacts() {
    let bed = bed();
    let (alice, apw) = bed.new_account("actroom");
    let (bob, bpw) = bed.new_account("actroomb");
    let (stranger, spw) = bed.new_account("actrooms");
    let room = bed.new_room("actroom");
    let dir = tempfile::tempdir().expect("tempdir");
    let mut talpa = talpa_online(bed, &dir.path().join("p"), &alice, &apw);
    let mut member = Peer::spawn(bed, &bob, &bpw);
    let mut other = Peer::spawn(bed, &stranger, &spw);
    member.send_cmd(&json!({"cmd": "raw_events", "on": true}));
    other.send_cmd(&json!({"cmd": "raw_events", "on": true}));
    support::headless::room_with(
        &mut talpa,
        &alice,
        &room,
        &mut [(&mut member, &bob, "badger")],
    );
    for with in [&room, &bob, &stranger] {
        ok(
            &mut talpa,
            json!({"cmd": "set_encryption", "account": alice, "conversation": with, "enabled": false}),
        );
    }

    let (r, _) = talpa.call(json!({"cmd": "set_conversation_privacy", "account": alice,
                                   "with": room, "share_activity": true}));
    assert_eq!(error_kind(&r), "invalid_input", "{r}");
    // The account default is on: it covers bob once he is a contact, never the room or a
    // stranger.
    ok(
        &mut talpa,
        json!({"cmd": "set_conversation_privacy", "account": alice, "share_activity": true}),
    );
    ok(
        &mut talpa,
        json!({"cmd": "add_contact", "account": alice, "jid": bob}),
    );
    talpa.wait_event_for(
        |e| {
            e["event"] == "roster"
                && e["contacts"]
                    .as_array()
                    .is_some_and(|c| c.contains(&json!(bob)))
        },
        LONG,
    );
    assert_privacy(&mut talpa, &alice, &stranger, false, true);

    let in_room = secret("to the room");
    let room_oid = send(&mut talpa, &alice, &room, &in_room);
    ok(
        &mut talpa,
        json!({"cmd": "chat_state", "account": alice, "with": room, "state": "composing"}),
    );
    let xml = stanza_at(&mut member, |x| {
        x.contains("groupchat") && x.contains(&room_oid)
    });
    assert!(
        !xml.contains("urn:xmpp:receipts") && !xml.contains("chat-markers"),
        "{xml}"
    );
    let to_stranger = secret("to a stranger");
    let s_oid = send(&mut talpa, &alice, &stranger, &to_stranger);
    let xml = stanza_at(&mut other, |x| x.contains(&s_oid) && x.contains("<body"));
    assert!(!xml.contains("urn:xmpp:receipts"), "{xml}");
    let to_contact = secret("to a contact");
    let c_oid = send(&mut talpa, &alice, &bob, &to_contact);
    let xml = stanza_at(&mut member, |x| x.contains(&c_oid) && x.contains("<body"));
    assert!(xml.contains("urn:xmpp:receipts"), "{xml}");

    // A stranger's receipt request is not answered.
    let ask = secret("stranger asks");
    raw(
        &mut other,
        &format!(
            "<message to='{alice}' type='chat' id='strange-{s_oid}'><body>{ask}</body>\
             <request xmlns='urn:xmpp:receipts'/></message>"
        ),
    );
    talpa.wait_event_for(
        |e| e["event"] == "message" && e["body"] == ask.as_str(),
        LONG,
    );
    let barrier_text = secret("after the stranger");
    send(&mut talpa, &alice, &stranger, &barrier_text);
    other.wait_message(&barrier_text, LONG);
    for s in received_by_server_for(&stranger)
        .iter()
        .chain(received_by_server_for(&room).iter())
    {
        for ns in NS {
            assert!(!s.contains(ns), "{ns} sent to a stranger or a room: {s}");
        }
    }
}

#[test]
fn with_omemo_the_shared_activity_travels_outside_the_encryption_as_the_docs_say() {
    let bed = bed();
    let (alice, apw) = bed.new_account("actomemo");
    let (bob, bpw) = bed.new_account("actomemob");
    let dir = tempfile::tempdir().expect("tempdir");
    let mut talpa = talpa_online(bed, &dir.path().join("p"), &alice, &apw);
    let mut peer = support::omemo_peer(bed, &bob, &bpw);
    peer.send_cmd(&json!({"cmd": "raw_events", "on": true}));
    ok(
        &mut talpa,
        json!({"cmd": "set_conversation_privacy", "account": alice, "with": bob,
               "share_activity": true}),
    );
    let text = secret("encrypted, with a receipt request beside it");
    let oid = send(&mut talpa, &alice, &bob, &text);
    let got = peer.wait_message(&text, LONG);
    assert_eq!(got["encrypted"], "twomemo", "{got}");
    // What the server saw: the ciphertext, and the request and marker in clear beside it.
    let seen = received_by_server_for(&bob)
        .into_iter()
        .find(|s| s.contains(&oid) && s.contains("<encrypted"))
        .expect("the encrypted message in the server's log");
    assert!(
        seen.contains("urn:xmpp:receipts") && seen.contains("urn:xmpp:chat-markers:0"),
        "{seen}"
    );
    assert!(!seen.contains(&text), "the body went in clear: {seen}");
    raw(
        &mut peer,
        &format!(
            "<message to='{alice}' type='chat'><received xmlns='urn:xmpp:receipts' id='{oid}'/></message>"
        ),
    );
    let d = talpa.wait_event_for(|e| e["event"] == "delivered", LONG);
    assert_eq!(
        (&d["with"], &d["message"]),
        (&json!(bob), &json!(oid)),
        "{d}"
    );
}

/// A Talpa on the same profile again, unlocked; with `online`, once its account is online
/// (and the server had a moment to route to the new resource).
fn restart(talpa: Headless, profile: &std::path::Path, account: &str, online: bool) -> Headless {
    talpa.quit();
    let network = bed().tor.network_file.to_string_lossy().into_owned();
    let mut talpa = Headless::start_with(
        profile,
        &["--tor-network", &network, "--startup-jitter", "1"],
    );
    ok(&mut talpa, json!({"cmd": "unlock", "passphrase": "e2e"}));
    if online {
        talpa.wait_event_for(
            |e| e["event"] == "account_state" && e["account"] == account && e["state"] == "online",
            Duration::from_secs(120),
        );
        std::thread::sleep(Duration::from_secs(2));
    }
    talpa
}

/// The `delivery` mark of each of `oids` in `with`'s history (null: none).
fn marks(talpa: &mut Headless, account: &str, with: &str, oids: &[&str]) -> Vec<Value> {
    let r = ok(
        talpa,
        json!({"cmd": "history", "account": account, "with": with}),
    );
    oids.iter()
        .map(|oid| {
            r["messages"]
                .as_array()
                .and_then(|ms| ms.iter().find(|m| m["origin_id"] == *oid))
                .unwrap_or_else(|| panic!("{oid} not in the history: {r}"))["delivery"]
                .clone()
        })
        .collect()
}

#[test]
fn receipts_and_read_markers_for_messages_sent_before_a_restart_count_and_stay_in_history() {
    let (dir, mut talpa, alice, mut peer, bob) = setup("actkeep");
    let profile = dir.path().join("p");
    let (mallory, mpw) = bed().new_account("actkeepm");
    let mut forger = Peer::spawn(bed(), &mallory, &mpw);
    for with in [&bob, &mallory] {
        ok(
            &mut talpa,
            json!({"cmd": "set_conversation_privacy", "account": alice, "with": with,
                   "share_activity": true}),
        );
    }
    let mut oids = Vec::new();
    for n in 1..=3 {
        let text = secret(&format!("before the restart {n}"));
        oids.push(send(&mut talpa, &alice, &bob, &text));
        peer.wait_message(&text, LONG);
    }
    let oids: Vec<&str> = oids.iter().map(String::as_str).collect();
    assert_eq!(
        marks(&mut talpa, &alice, &bob, &oids),
        [Value::Null, Value::Null, Value::Null]
    );

    let mut talpa = restart(talpa, &profile, &alice, true);
    // Someone else confirms and marks our messages to bob: still ignored after the restart.
    raw(
        &mut forger,
        &format!(
            "<message to='{alice}' type='chat'><received xmlns='urn:xmpp:receipts' id='{}'/>\
             <displayed xmlns='urn:xmpp:chat-markers:0' id='{}'/></message>",
            oids[2], oids[2]
        ),
    );
    let forged_done = secret("forger's barrier");
    forger.send_message(&alice, &forged_done);
    talpa.wait_event_for(
        |e| e["event"] == "message" && e["body"] == forged_done.as_str(),
        LONG,
    );
    assert!(
        activity_events(&talpa).is_empty(),
        "{:?}",
        activity_events(&talpa)
    );
    assert_eq!(
        marks(&mut talpa, &alice, &bob, &oids),
        [Value::Null, Value::Null, Value::Null],
        "a forged receipt marks nothing"
    );

    // Bob confirms the newest and reads up to the second.
    raw(
        &mut peer,
        &format!(
            "<message to='{alice}' type='chat'><received xmlns='urn:xmpp:receipts' id='{}'/></message>",
            oids[2]
        ),
    );
    let d = talpa.wait_event_for(|e| e["event"] == "delivered", LONG);
    assert_eq!(
        (&d["with"], &d["message"]),
        (&json!(bob), &json!(oids[2])),
        "{d}"
    );
    raw(
        &mut peer,
        &format!(
            "<message to='{alice}' type='chat'><displayed xmlns='urn:xmpp:chat-markers:0' id='{}'/></message>",
            oids[1]
        ),
    );
    let d = talpa.wait_event_for(|e| e["event"] == "displayed", LONG);
    assert_eq!(
        (&d["with"], &d["message"]),
        (&json!(bob), &json!(oids[1])),
        "{d}"
    );
    let expected = [json!("read"), json!("read"), json!("delivered")];
    assert_eq!(
        marks(&mut talpa, &alice, &bob, &oids),
        expected,
        "read up to the second (the first too), the third delivered"
    );
    // Kept in the store: the same after another restart (offline is enough).
    let mut talpa = restart(talpa, &profile, &alice, false);
    assert_eq!(marks(&mut talpa, &alice, &bob, &oids), expected);
}

/// The `id` attribute of the outermost element of `xml`.
fn outer_id(xml: &str) -> String {
    let head = &xml[..xml.find('>').unwrap_or(xml.len())];
    for quote in ['\'', '"'] {
        if let Some((_, rest)) = head.split_once(&format!(" id={quote}")) {
            return rest.split(quote).next().unwrap_or_default().to_owned();
        }
    }
    panic!("no id in {xml}")
}

#[test]
fn a_receipt_or_marker_of_a_correction_marks_the_corrected_message_and_an_earlier_mark_stands() {
    let (_dir, mut talpa, alice, mut peer, bob) = setup("actfix");
    ok(
        &mut talpa,
        json!({"cmd": "set_conversation_privacy", "account": alice, "with": bob,
               "share_activity": true}),
    );
    let text = secret("with a typo");
    let oid = send(&mut talpa, &alice, &bob, &text);
    peer.wait_message(&text, LONG);
    raw(
        &mut peer,
        &format!(
            "<message to='{alice}' type='chat'><received xmlns='urn:xmpp:receipts' id='{oid}'/></message>"
        ),
    );
    let d = talpa.wait_event_for(|e| e["event"] == "delivered", LONG);
    assert_eq!(d["message"], json!(oid), "{d}");

    // The correction: the original's receipt still stands.
    let fixed = secret("without the typo");
    ok(
        &mut talpa,
        json!({"cmd": "correct", "account": alice, "with": bob, "message": oid, "body": fixed}),
    );
    let correction = stanza_at(&mut peer, |x| {
        x.contains(fixed.as_str()) && x.contains("urn:xmpp:message-correct:0")
    });
    let cid = outer_id(&correction);
    assert!(
        !cid.is_empty() && cid != oid,
        "the correction has its own id: {correction}"
    );
    assert!(
        correction.contains("urn:xmpp:receipts") && correction.contains("<markable"),
        "the correction asks for a receipt like any message of the conversation: {correction}"
    );
    assert_eq!(
        marks(&mut talpa, &alice, &bob, &[&oid]),
        [json!("delivered")],
        "a correction does not undo the original's receipt"
    );

    // Bob's receipt and marker name the correction: they mark the message it corrected.
    talpa.events.clear();
    raw(
        &mut peer,
        &format!(
            "<message to='{alice}' type='chat'><received xmlns='urn:xmpp:receipts' id='{cid}'/></message>"
        ),
    );
    let d = talpa.wait_event_for(|e| e["event"] == "delivered", LONG);
    assert_eq!(
        (&d["with"], &d["message"]),
        (&json!(bob), &json!(oid)),
        "{d}"
    );
    raw(
        &mut peer,
        &format!(
            "<message to='{alice}' type='chat'><displayed xmlns='urn:xmpp:chat-markers:0' id='{cid}'/></message>"
        ),
    );
    let d = talpa.wait_event_for(|e| e["event"] == "displayed", LONG);
    assert_eq!(
        (&d["with"], &d["message"]),
        (&json!(bob), &json!(oid)),
        "{d}"
    );
    assert_eq!(marks(&mut talpa, &alice, &bob, &[&oid]), [json!("read")]);
    let r = ok(
        &mut talpa,
        json!({"cmd": "history", "account": alice, "with": bob}),
    );
    let shown = r["messages"]
        .as_array()
        .and_then(|ms| ms.iter().find(|m| m["origin_id"] == json!(oid)))
        .unwrap_or_else(|| panic!("{oid} not in the history: {r}"));
    assert_eq!(shown["body"], json!(fixed.as_str()), "{shown}");
}
