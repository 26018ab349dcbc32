//! What the core knows about who cannot read an outgoing message stays with the message
//! (docs/HEADLESS.md, `history`'s `held` and `not_readable_by`): after a restart of the
//! process, in "don't store" conversations too; and `check_keys` looks for missing keys at
//! once (the user's "Check again"), so a held message goes out encrypted as soon as its
//! recipient has published keys — never in plaintext. The real `talpa` binary, Prosody through
//! the private Tor network, the Python peers; what went over the wire is read in Prosody's
//! stanza log.

mod support;

use std::time::Duration;

use serde_json::{Value, json};
use support::headless::{Headless, room_with, send, talpa_online};
use support::{Bed, Peer, bed, omemo_peer, secret};

const LONG: Duration = Duration::from_secs(90);

/// The message `origin_id` in `with`'s history.
fn in_history(t: &mut Headless, account: &str, with: &str, origin_id: &str) -> Value {
    let (r, _) = t.call(json!({"cmd": "history", "account": account, "with": with}));
    assert_eq!(r["ok"], true, "{r}");
    r["messages"]
        .as_array()
        .and_then(|ms| ms.iter().find(|m| m["origin_id"] == origin_id).cloned())
        .unwrap_or_else(|| panic!("{origin_id} not in the history of {with}: {r}"))
}

/// The memory-only message with `body` in `with`'s history.
fn in_memory(t: &mut Headless, account: &str, with: &str, body: &str) -> Value {
    let (r, _) = t.call(json!({"cmd": "history", "account": account, "with": with}));
    assert_eq!(r["ok"], true, "{r}");
    r["messages"]
        .as_array()
        .and_then(|ms| ms.iter().find(|m| m["body"] == body).cloned())
        .unwrap_or_else(|| panic!("the message is not in the history of {with}: {r}"))
}

/// A Talpa on the same profile again, unlocked (its account connects in the background).
fn restart(talpa: Headless, bed: &Bed, profile: &std::path::Path) -> Headless {
    talpa.quit();
    let network = bed.tor.network_file.to_string_lossy().into_owned();
    let mut talpa = Headless::start_with(
        profile,
        &["--tor-network", &network, "--startup-jitter", "1"],
    );
    let (r, _) = talpa.call(json!({"cmd": "unlock", "passphrase": "e2e"}));
    assert_eq!(r["ok"], true, "{r}");
    talpa
}

#[test]
fn who_cannot_read_a_message_and_why_one_is_held_are_in_history_after_a_restart() {
    let bed = bed();
    let (owner, apw) = bed.new_account("notesowner");
    let (member, bpw) = bed.new_account("noteskeyed");
    let (other, cpw) = bed.new_account("noteskeyless");
    let (contact, _) = bed.new_account("notescontact");
    let room = bed.new_room("notes");
    let dir = tempfile::tempdir().expect("tempdir");
    let profile = dir.path().join("p");
    let mut talpa = talpa_online(bed, &profile, &owner, &apw);
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

    let to_room = secret("to the room, one member without keys");
    let room_oid = send(&mut talpa, &owner, &room, &to_room);
    talpa.wait_event_for(
        |e| e["event"] == "keys_missing" && e["origin_id"] == room_oid.as_str(),
        LONG,
    );
    keyed.wait_event(
        |e| e["event"] == "message" && e["type"] == "groupchat" && e["body"] == to_room.as_str(),
        LONG,
    );
    let held_text = secret("to a contact without keys");
    let held_oid = send(&mut talpa, &owner, &contact, &held_text);
    talpa.wait_event_for(
        |e| e["event"] == "message_held" && e["origin_id"] == held_oid.as_str(),
        LONG,
    );
    // A private message to an occupant cannot be encrypted: held, in its own conversation.
    let occupant = format!("{room}/vole");
    let pm_oid = send(&mut talpa, &owner, &occupant, &secret("to an occupant"));
    let pm = talpa.wait_event_for(
        |e| e["event"] == "message_updated" && e["origin_id"] == pm_oid.as_str(),
        LONG,
    );
    assert_eq!(
        (&pm["held"], &pm["with"]),
        (&json!("occupant_message"), &json!(occupant)),
        "{pm}"
    );
    let m = in_history(&mut talpa, &owner, &room, &room_oid);
    assert_eq!(m["not_readable_by"], json!([other]), "{m}");
    let m = in_history(&mut talpa, &owner, &contact, &held_oid);
    assert_eq!(
        (&m["held"], &m["encryption"]),
        (&json!("no_keys"), &json!("pending")),
        "{m}"
    );

    let mut talpa = restart(talpa, bed, &profile);
    let m = in_history(&mut talpa, &owner, &room, &room_oid);
    assert_eq!(m["not_readable_by"], json!([other]), "after a restart: {m}");
    assert!(
        m["encryption"] == "omemo2" || m["encryption"] == "omemo",
        "{m}"
    );
    assert!(m.get("held").is_none(), "a sent message is not held: {m}");
    let m = in_history(&mut talpa, &owner, &contact, &held_oid);
    assert_eq!(m["held"], "no_keys", "after a restart: {m}");
    let log = bed.stanza_log_text();
    assert!(
        !log.contains(&to_room) && !log.contains(&held_text),
        "plaintext on the wire"
    );
    talpa.quit();
}

#[test]
fn memory_only_messages_say_why_they_are_held_and_who_cannot_read_them() {
    let bed = bed();
    let (owner, apw) = bed.new_account("memnotesowner");
    let (member, bpw) = bed.new_account("memnoteskeyed");
    let (other, cpw) = bed.new_account("memnoteskeyless");
    let (contact, _) = bed.new_account("memnotescontact");
    let room = bed.new_room("memnotes");
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
    for with in [&room, &contact] {
        let (r, _) = talpa.call(
            json!({"cmd": "set_retention", "account": owner, "with": with, "policy": "dont_store"}),
        );
        assert_eq!(r["ok"], true, "{r}");
    }

    let to_room = secret("memory only, to the room");
    send(&mut talpa, &owner, &room, &to_room);
    let updated = talpa.wait_event_for(
        |e| {
            e["event"] == "message_updated"
                && e["body"] == to_room.as_str()
                && e["encryption"] != "pending"
        },
        LONG,
    );
    assert_eq!(updated["not_readable_by"], json!([other]), "{updated}");
    let m = in_memory(&mut talpa, &owner, &room, &to_room);
    assert!(
        m["id"].as_i64().is_some_and(|id| id < 0),
        "memory-only: {m}"
    );
    assert_eq!(m["not_readable_by"], json!([other]), "{m}");

    let held = secret("memory only, held");
    send(&mut talpa, &owner, &contact, &held);
    let updated = talpa.wait_event_for(
        |e| e["event"] == "message_updated" && e["body"] == held.as_str(),
        LONG,
    );
    assert_eq!(
        (&updated["held"], &updated["encryption"]),
        (&json!("no_keys"), &json!("pending")),
        "{updated}"
    );
    let m = in_memory(&mut talpa, &owner, &contact, &held);
    assert_eq!(m["held"], "no_keys", "{m}");
    let log = bed.stanza_log_text();
    assert!(
        !log.contains(&to_room) && !log.contains(&held),
        "plaintext on the wire"
    );
    talpa.quit();
}

#[test]
fn checking_again_sends_a_held_message_encrypted_once_a_non_contact_has_published_keys() {
    let bed = bed();
    let (a, apw) = bed.new_account("checkagain");
    let (b, bpw) = bed.new_account("checkagainlater");
    let dir = tempfile::tempdir().expect("tempdir");
    let mut talpa = talpa_online(bed, &dir.path().join("p"), &a, &apw);
    let text = secret("held until the keys are checked again");
    let oid = send(&mut talpa, &a, &b, &text);
    talpa.wait_event_for(
        |e| e["event"] == "message_held" && e["origin_id"] == oid.as_str(),
        LONG,
    );
    let (r, _) = talpa.call(json!({"cmd": "check_keys", "account": a, "with": b}));
    assert_eq!(r["ok"], true, "{r}");
    assert_eq!(
        (&r["with_keys"], &r["without_keys"]),
        (&json!([]), &json!([b])),
        "no keys yet: {r}"
    );

    // Not a contact: no PEP event tells Talpa about the keys; its "no list" answer would be
    // believed for ten minutes.
    let mut peer = omemo_peer(bed, &b, &bpw);
    let (r, _) = talpa.call(json!({"cmd": "check_keys", "account": a, "with": b}));
    assert_eq!(r["ok"], true, "{r}");
    assert_eq!(r["with_keys"], json!([b]), "{r}");
    let got = peer.wait_message(&text, LONG);
    assert!(
        got["encrypted"] == "twomemo" || got["encrypted"] == "oldmemo",
        "{got}"
    );
    let sent = talpa.wait_event_for(
        |e| {
            e["event"] == "message_updated"
                && e["origin_id"] == oid.as_str()
                && e["encryption"] != "pending"
        },
        LONG,
    );
    assert!(sent.get("held").is_none(), "{sent}");
    let m = in_history(&mut talpa, &a, &b, &oid);
    assert!(
        m["encryption"] == "omemo2" || m["encryption"] == "omemo",
        "{m}"
    );
    assert!(m.get("held").is_none(), "sent: no longer held: {m}");
    assert!(
        !bed.stanza_log_text().contains(&text),
        "the held message went over the wire in clear"
    );
    talpa.quit();
}

#[test]
fn checking_a_room_member_again_encrypts_the_next_message_to_its_new_keys() {
    let bed = bed();
    let (owner, apw) = bed.new_account("recheckowner");
    let (member, bpw) = bed.new_account("recheckkeyed");
    let (other, cpw) = bed.new_account("recheckkeyless");
    let room = bed.new_room("recheck");
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
    let first = secret("before the member published keys");
    let oid = send(&mut talpa, &owner, &room, &first);
    let missing = talpa.wait_event_for(
        |e| e["event"] == "keys_missing" && e["origin_id"] == oid.as_str(),
        LONG,
    );
    assert_eq!(missing["jids"], json!([other]), "{missing}");

    // The member, still in the room with the same client, publishes keys from another one
    // (not a contact, not arriving in the room: nothing tells Talpa).
    let _publisher = omemo_peer(bed, &other, &cpw);
    let before_check = talpa.events.len();
    let (r, _) =
        talpa.call(json!({"cmd": "check_keys", "account": owner, "with": room, "jids": [other]}));
    assert_eq!(r["ok"], true, "{r}");
    assert_eq!(
        (&r["with_keys"], &r["without_keys"]),
        (&json!([other]), &json!([])),
        "{r}"
    );
    // The room audit no longer lists the member either.
    talpa.wait_events_until(
        |evs| {
            evs[before_check..].iter().any(|e| {
                e["event"] == "room_audit"
                    && e["room"] == room.as_str()
                    && e["members_without_keys"] == json!([])
            })
        },
        LONG,
    );
    let from = talpa.events.len();
    let second = secret("after checking again");
    let oid = send(&mut talpa, &owner, &room, &second);
    keyed.wait_event(
        |e| e["event"] == "message" && e["type"] == "groupchat" && e["body"] == second.as_str(),
        LONG,
    );
    let sent = talpa.wait_event_for(
        |e| {
            e["event"] == "message_updated"
                && e["origin_id"] == oid.as_str()
                && e["encryption"] != "pending"
        },
        LONG,
    );
    assert!(sent.get("not_readable_by").is_none(), "{sent}");
    assert!(
        !talpa.events[from..]
            .iter()
            .any(|e| e["event"] == "keys_missing" && e["room"] == room.as_str()),
        "nobody is missing keys now"
    );
    assert!(
        !bed.stanza_log_text().contains(&second),
        "the room message went over the wire in clear"
    );
    talpa.quit();
}

#[test]
fn checking_a_room_again_sends_a_message_held_for_want_of_keys_to_the_member_who_published() {
    let bed = bed();
    let (owner, apw) = bed.new_account("heldroomowner");
    let (other, cpw) = bed.new_account("heldroomkeyless");
    let room = bed.new_room("heldroom");
    let dir = tempfile::tempdir().expect("tempdir");
    let mut talpa = talpa_online(bed, &dir.path().join("p"), &owner, &apw);
    let mut keyless = Peer::spawn(bed, &other, &cpw);
    room_with(
        &mut talpa,
        &owner,
        &room,
        &mut [(&mut keyless, &other, "vole")],
    );
    let text = secret("held: nobody in the room has keys");
    let oid = send(&mut talpa, &owner, &room, &text);
    let held = talpa.wait_event_for(
        |e| e["event"] == "message_held" && e["origin_id"] == oid.as_str(),
        LONG,
    );
    assert_eq!(held["cause"], "no_keys", "{held}");

    // The member publishes keys from another client; the room is checked again as a whole
    // (no JIDs named: every known member).
    let _publisher = omemo_peer(bed, &other, &cpw);
    let (r, _) = talpa.call(json!({"cmd": "check_keys", "account": owner, "with": room}));
    assert_eq!(r["ok"], true, "{r}");
    assert_eq!(r["with_keys"], json!([other]), "{r}");
    let sent = talpa.wait_event_for(
        |e| {
            e["event"] == "message_updated"
                && e["origin_id"] == oid.as_str()
                && e["encryption"] != "pending"
        },
        LONG,
    );
    assert!(sent.get("held").is_none(), "{sent}");
    // The member's keyless client in the room gets the encrypted stanza, not the text.
    let got = keyless.wait_event(
        |e| {
            e["event"] == "message"
                && e["type"] == "groupchat"
                && e["from"].as_str().is_some_and(|f| f.ends_with("/mole"))
        },
        LONG,
    );
    assert_ne!(got["body"], text.as_str(), "{got}");
    assert!(
        !bed.stanza_log_text().contains(&text),
        "the held room message went over the wire in clear"
    );
    talpa.quit();
}
