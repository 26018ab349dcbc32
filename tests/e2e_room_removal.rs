//! A headless Talpa member removed from a room by its owner, end to end through Tor, with
//! hostile reasons (line breaks, DEL and C1 controls, a right-to-left override, thousands of
//! characters) that must arrive as one bounded, clean line:
//! - a kick: `room_left` `kicked` names who kicked (the owner's nick in the room, from the
//!   XEP-0045 `<actor/>`) and why (the `<reason/>`); Talpa can join again;
//! - a destruction (XEP-0045 §10.9): `room_left` `destroyed` with the owner's reason and the
//!   suggested room; the room is dropped from the account's server bookmarks, its conversation
//!   keeps the reason, the alternate and our nickname (listed by `conversations`, also after a
//!   restart), and Talpa goes on working (it joins the suggested room).

mod support;

use std::time::Duration;

use serde_json::{Value, json};
use support::headless::{Headless, talpa_online};
use support::{Peer, bed};

const LONG: Duration = Duration::from_secs(120);

fn peer_iq(peer: &mut Peer, xml: &str) -> Value {
    let id = support::random_hex(6);
    peer.send_cmd(&json!({"cmd": "iq", "id": id, "xml": xml}));
    peer.wait_event(|e| e["event"] == "ack" && e["id"] == id, LONG)
}

/// A new room with its owner (a Python peer, in it as `owner_nick`) and Talpa (headless,
/// online, in it as "mole").
struct InRoom {
    talpa: Headless,
    owner: Peer,
    me: (String, String),
    room: String,
    _dir: tempfile::TempDir,
}

fn both_in_room(prefix: &str, owner_nick: &str) -> InRoom {
    let bed = bed();
    let dir = tempfile::tempdir().expect("profile dir");
    let (me, my_password) = bed.new_account(&format!("{prefix}me"));
    let (owner_jid, owner_password) = bed.new_account(&format!("{prefix}owner"));
    let room = bed.new_room(&format!("{prefix}room"));
    let mut owner = Peer::spawn(bed, &owner_jid, &owner_password);
    owner.send_cmd(&json!({"cmd": "join", "room": room, "nick": owner_nick}));
    owner.wait_event(|e| e["event"] == "joined" && e["room"] == room, LONG);
    let mut talpa = talpa_online(bed, &dir.path().join("me"), &me, &my_password);
    join(&mut talpa, &me, &room);
    owner.wait_event(
        |e| e["event"] == "occupant" && e["nick"] == "mole" && e["available"] == true,
        LONG,
    );
    InRoom {
        talpa,
        owner,
        me: (me, my_password),
        room,
        _dir: dir,
    }
}

fn join(talpa: &mut Headless, me: &str, room: &str) {
    let (r, _) = talpa.call(json!({"cmd": "join_room", "account": me, "room": room,
                                   "nick": "mole"}));
    assert_eq!(r["ok"], true, "{r}");
    talpa.wait_event_for(|e| e["event"] == "room_joined" && e["room"] == room, LONG);
}

/// The `room_left` event's `detail`, checked to be one clean line of 300 characters that
/// starts with `clean_start`.
fn clean_detail<'a>(left: &'a Value, clean_start: &str) -> &'a str {
    let detail = left["detail"].as_str().expect("the owner's reason");
    assert!(
        detail.starts_with(clean_start),
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
    detail
}

#[test]
fn a_kick_tells_who_kicked_and_a_bounded_clean_reason() {
    let InRoom {
        mut talpa,
        mut owner,
        me,
        room,
        _dir,
    } = both_in_room("kick", "boss");
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
    clean_detail(&left, "Offtopic again and again yyy");
    assert!(left.get("alternate").is_none(), "{left}");

    // A kick is not a ban: Talpa can join again.
    join(&mut talpa, &me.0, &room);
    talpa.quit();
}

#[test]
fn a_destroyed_room_is_left_with_a_bounded_clean_reason_and_forgotten() {
    let InRoom {
        mut talpa,
        mut owner,
        me,
        room,
        _dir: dir,
    } = both_in_room("destroy", "owner");
    let elsewhere = bed().new_room("destroyalt");
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
    clean_detail(&left, "Closingtxt.exe now for good xxx");

    // No longer bookmarked on the server (so not joined, or re-created, at the next login).
    let mut same = Peer::spawn(bed(), &me.0, &me.1);
    let bookmarks = peer_iq(
        &mut same,
        "<iq type='get'><pubsub xmlns='http://jabber.org/protocol/pubsub'>\
         <items node='urn:xmpp:bookmarks:1'/></pubsub></iq>",
    );
    assert!(
        !bookmarks["response"].as_str().unwrap_or("").contains(&room),
        "the destroyed room is still bookmarked: {bookmarks}"
    );

    // The conversation keeps what the room told.
    let kept = destroyed_note(&mut talpa, &me.0, &room);
    assert_eq!(kept["reason"], left["detail"], "{kept}");
    assert_eq!(kept["alternate"], elsewhere.as_str(), "{kept}");
    assert_eq!(kept["nick"], "mole", "{kept}");

    // Talpa goes on working: it joins the room the owner suggested.
    join(&mut talpa, &me.0, &elsewhere);
    talpa.quit();

    // After a restart the destroyed room still says why (kept in the encrypted store).
    let network = bed().tor.network_file.to_string_lossy().into_owned();
    let mut again = Headless::start_with(&dir.path().join("me"), &["--tor-network", &network]);
    let (r, _) = again.call(json!({"cmd": "unlock", "passphrase": "e2e"}));
    assert_eq!(r["ok"], true, "{r}");
    assert_eq!(destroyed_note(&mut again, &me.0, &room), kept);
    let (r, _) = again.call(json!({"cmd": "conversations", "account": me.0}));
    let listed = &r["conversations"];
    assert!(
        listed.as_array().is_some_and(|l| l
            .iter()
            .any(|c| c["with"] == elsewhere.as_str() && c.get("destroyed").is_none())),
        "the joined alternate is listed as destroyed: {r}"
    );
    again.quit();
}

/// The `destroyed` note the `conversations` reply gives for `room`.
fn destroyed_note(talpa: &mut Headless, me: &str, room: &str) -> Value {
    let (r, _) = talpa.call(json!({"cmd": "conversations", "account": me}));
    assert_eq!(r["ok"], true, "{r}");
    r["conversations"]
        .as_array()
        .and_then(|l| l.iter().find(|c| c["with"] == room))
        .map(|c| c["destroyed"].clone())
        .filter(Value::is_object)
        .unwrap_or_else(|| panic!("{room} is not listed as destroyed: {r}"))
}
