//! Private group chats end to end: Talpa creates a private room through Tor, the room really
//! is members-only, an invited slixmpp peer joins, and messages flow both ways into history.

mod support;

use std::time::Duration;

use serde_json::json;
use support::headless::{bodies, talpa_online};
use support::{Peer, bed};

const LONG: Duration = Duration::from_secs(120);

#[test]
fn talpa_creates_a_private_room_invites_a_peer_and_they_talk() {
    let bed = bed();
    let (a, apw) = bed.new_account("owner");
    let (b, bpw) = bed.new_account("member");
    let room = bed.new_room("cell");
    let dir = tempfile::tempdir().expect("tempdir");
    let mut talpa = talpa_online(bed, &dir.path().join("p"), &a, &apw);

    let (r, _) = talpa.call(json!({"cmd": "create_room", "account": a, "room": room,
                                   "nick": "mole"}));
    assert_eq!(r["ok"], true, "{r}");
    let joined = talpa.wait_event_for(|e| e["event"] == "room_joined" && e["room"] == room, LONG);
    assert_eq!(joined["created"], true, "{joined}");
    // Let the owner's configuration land before anyone else knocks.
    std::thread::sleep(Duration::from_secs(2));

    let mut peer = Peer::spawn(bed, &b, &bpw);
    peer.send_cmd(&json!({"cmd": "join", "room": room, "nick": "badger"}));
    let refused = peer.wait_event(|e| e["event"] == "error" || e["event"] == "joined", LONG);
    assert_eq!(
        refused["event"], "error",
        "a non-member got into the private room: {refused}"
    );

    let (r, _) = talpa.call(json!({"cmd": "invite", "account": a, "room": room, "jid": b}));
    assert_eq!(r["ok"], true, "{r}");
    peer.send_cmd(&json!({"cmd": "join", "room": room, "nick": "badger"}));
    peer.wait_event(|e| e["event"] == "joined", LONG);
    let occ = talpa.wait_event_for(
        |e| {
            e["event"] == "occupants"
                && e["occupants"]
                    .as_array()
                    .is_some_and(|o| o.iter().any(|x| x["nick"] == "badger"))
        },
        LONG,
    );
    let badger = occ["occupants"]
        .as_array()
        .and_then(|o| o.iter().find(|x| x["nick"] == "badger").cloned())
        .expect("badger");
    assert_eq!(
        badger["jid"], b,
        "non-anonymous: members see real JIDs: {occ}"
    );

    peer.send_cmd(&json!({"cmd": "groupchat", "room": room, "body": "hello cell"}));
    let m = talpa.wait_event_for(
        |e| e["event"] == "message" && e["body"] == "hello cell",
        LONG,
    );
    assert_eq!(m["with"], room);
    assert_eq!(m["from"], "badger");

    // This peer has no OMEMO keys: encryption (on by default) is turned off explicitly.
    talpa.call(
        json!({"cmd": "set_encryption", "account": a, "conversation": room, "enabled": false}),
    );
    let (r, _) = talpa.call(json!({"cmd": "send", "account": a, "to": room, "body": "hi badger"}));
    assert_eq!(r["ok"], true, "{r}");
    let got = peer.wait_event(
        |e| e["event"] == "message" && e["body"] == "hi badger" && e["type"] == "groupchat",
        LONG,
    );
    assert_eq!(got["from"], format!("{room}/mole"));

    std::thread::sleep(Duration::from_secs(2));
    let (r, _) = talpa.call(json!({"cmd": "history", "account": a, "with": room}));
    let bodies = bodies(&r);
    assert_eq!(
        bodies,
        ["hello cell", "hi badger"],
        "the reflection is not a duplicate: {r}"
    );

    let (r, _) = talpa.call(json!({"cmd": "leave_room", "account": a, "room": room}));
    assert_eq!(r["ok"], true, "{r}");
    talpa.quit();
}

#[test]
fn room_commands_reject_bad_input_with_clear_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut t = support::headless::Headless::start(&dir.path().join("p"));
    t.call(json!({"cmd": "create_profile", "passphrase": "pw"}));
    t.call(json!({"cmd": "add_account", "jid": "a@talpa.test", "password": "x"}));
    t.call(json!({"cmd": "set_account_enabled", "account": "a@talpa.test", "enabled": false}));
    let (r, _) = t.call(json!({"cmd": "join_room", "account": "a@talpa.test",
                               "room": "rooms.talpa.test", "nick": "x"}));
    assert_eq!(support::headless::error_kind(&r), "invalid_input", "{r}");
    let (r, _) = t.call(json!({"cmd": "join_room", "account": "a@talpa.test",
                               "room": "r@rooms.talpa.test", "nick": "  "}));
    assert_eq!(support::headless::error_kind(&r), "invalid_input", "{r}");
    let (r, _) = t.call(json!({"cmd": "join_room", "account": "a@talpa.test",
                               "room": "r@rooms.talpa.test", "nick": "x"}));
    assert_eq!(
        support::headless::error_kind(&r),
        "invalid_input",
        "disabled account: {r}"
    );
    t.quit();
}
