//! A headless Talpa member kicked from a room by its owner, end to end through Tor: the
//! `room_left` `kicked` event names who kicked (the owner's nick in the room, from the
//! XEP-0045 `<actor/>`) and why (the `<reason/>`), a hostile reason (line breaks, DEL and C1
//! controls, a right-to-left override, 5 000 characters) arriving as one bounded clean line.

mod support;

use std::time::Duration;

use serde_json::{Value, json};
use support::headless::talpa_online;
use support::{Peer, bed};

const LONG: Duration = Duration::from_secs(120);

fn peer_iq(peer: &mut Peer, xml: &str) -> Value {
    let id = support::random_hex(6);
    peer.send_cmd(&json!({"cmd": "iq", "id": id, "xml": xml}));
    peer.wait_event(|e| e["event"] == "ack" && e["id"] == id, LONG)
}

#[test]
fn a_kick_tells_who_kicked_and_a_bounded_clean_reason() {
    let bed = bed();
    let dir = tempfile::tempdir().expect("profile dir");
    let (me, my_password) = bed.new_account("kickme");
    let (owner_jid, owner_password) = bed.new_account("kickowner");
    let room = bed.new_room("kickroom");
    let mut owner = Peer::spawn(bed, &owner_jid, &owner_password);
    owner.send_cmd(&json!({"cmd": "join", "room": room, "nick": "boss"}));
    owner.wait_event(|e| e["event"] == "joined" && e["room"] == room, LONG);
    let mut talpa = talpa_online(bed, &dir.path().join("me"), &me, &my_password);
    let (r, _) = talpa.call(json!({"cmd": "join_room", "account": me, "room": room,
                                   "nick": "mole"}));
    assert_eq!(r["ok"], true, "{r}");
    talpa.wait_event_for(|e| e["event"] == "room_joined" && e["room"] == room, LONG);
    owner.wait_event(
        |e| e["event"] == "occupant" && e["nick"] == "mole" && e["available"] == true,
        LONG,
    );

    let hostile = format!(
        "Off\u{202E}topic\n\n\u{7F}\u{85}\u{9B}again\tand again {}",
        "y".repeat(5_000)
    );
    let kicked = peer_iq(
        &mut owner,
        &format!(
            "<iq type='set' to='{room}'><query xmlns='http://jabber.org/protocol/muc#admin'>\
             <item nick='mole' role='none'><reason>{hostile}</reason></item></query></iq>"
        ),
    );
    assert_eq!(
        kicked["type"], "result",
        "the owner could not kick: {kicked}"
    );
    let left = talpa.wait_event_for(|e| e["event"] == "room_left" && e["room"] == room, LONG);
    assert_eq!(left["reason"], "kicked", "{left}");
    assert_eq!(left["actor"], "boss", "the kicker is not named: {left}");
    let detail = left["detail"].as_str().expect("the kick's reason");
    assert!(
        detail.starts_with("Offtopic again and again yyy"),
        "the reason is not one clean line: {detail:?}"
    );
    assert_eq!(detail.chars().count(), 300, "the reason is not bounded");
    assert!(detail.ends_with('…'));
    assert!(
        !detail
            .chars()
            .any(|c| c.is_control() || ('\u{202A}'..='\u{202E}').contains(&c)),
        "control characters kept: {detail:?}"
    );
    assert!(left.get("alternate").is_none(), "{left}");

    // A kick is not a ban: Talpa can join again.
    let (r, _) = talpa.call(json!({"cmd": "join_room", "account": me, "room": room,
                                   "nick": "mole"}));
    assert_eq!(r["ok"], true, "{r}");
    talpa.wait_event_for(|e| e["event"] == "room_joined" && e["room"] == room, LONG);
    talpa.quit();
}
