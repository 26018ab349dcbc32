//! A room its owner destroys (XEP-0045 §10.9), end to end through Tor: a headless Talpa
//! member is told `room_left` `destroyed` with the owner's reason and the suggested room; a
//! hostile reason (20 000 characters, line breaks, DEL and C1 controls, a right-to-left
//! override) arrives as one bounded, clean line; the destroyed room is dropped from the
//! account's server bookmarks, and Talpa goes on working (it joins the suggested room).

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
fn a_destroyed_room_is_left_with_a_bounded_clean_reason_and_forgotten() {
    let bed = bed();
    let dir = tempfile::tempdir().expect("profile dir");
    let (me, my_password) = bed.new_account("destroyme");
    let (owner_jid, owner_password) = bed.new_account("destroyowner");
    let room = bed.new_room("destroyroom");
    let elsewhere = bed.new_room("destroyalt");
    let mut owner = Peer::spawn(bed, &owner_jid, &owner_password);
    owner.send_cmd(&json!({"cmd": "join", "room": room, "nick": "owner"}));
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
        "Closing\u{202E}txt.exe\n\n\u{7F}\u{85}\u{9B}now\tfor good {}",
        "x".repeat(20_000)
    );
    let destroyed = peer_iq(
        &mut owner,
        &format!(
            "<iq type='set' to='{room}'><query xmlns='http://jabber.org/protocol/muc#owner'>\
             <destroy jid='{elsewhere}'><reason>{hostile}</reason></destroy></query></iq>"
        ),
    );
    assert_eq!(
        destroyed["type"], "result",
        "the owner could not destroy: {destroyed}"
    );
    let left = talpa.wait_event_for(|e| e["event"] == "room_left" && e["room"] == room, LONG);
    assert_eq!(left["reason"], "destroyed", "{left}");
    assert_eq!(left["alternate"], elsewhere.as_str(), "{left}");
    let detail = left["detail"].as_str().expect("the owner's reason");
    assert!(
        detail.starts_with("Closingtxt.exe now for good xxx"),
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

    // No longer bookmarked on the server (so not joined, or re-created, at the next login).
    let mut same = Peer::spawn(bed, &me, &my_password);
    let bookmarks = peer_iq(
        &mut same,
        "<iq type='get'><pubsub xmlns='http://jabber.org/protocol/pubsub'>\
         <items node='urn:xmpp:bookmarks:1'/></pubsub></iq>",
    );
    assert!(
        !bookmarks["response"].as_str().unwrap_or("").contains(&room),
        "the destroyed room is still bookmarked: {bookmarks}"
    );

    // Talpa goes on working: it joins the room the owner suggested.
    let (r, _) = talpa.call(json!({"cmd": "join_room", "account": me, "room": elsewhere,
                                   "nick": "mole"}));
    assert_eq!(r["ok"], true, "{r}");
    talpa.wait_event_for(
        |e| e["event"] == "room_joined" && e["room"] == elsewhere.as_str(),
        LONG,
    );
    talpa.quit();
}
