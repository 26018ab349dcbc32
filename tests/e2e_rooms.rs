//! Private group chats end to end: Talpa creates a private room through Tor, the room really
//! is members-only, an invited slixmpp peer joins, and messages flow both ways into history.
//! Joining a room full of occupants publishes their list a bounded number of times, not once
//! per occupant.

mod support;
mod xmpp_common;

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

/// Occupants already in the room when Talpa joins it.
const CROWD: usize = 24;

#[test]
fn joining_a_room_with_many_occupants_publishes_a_bounded_number_of_occupant_lists() {
    use talpa::xmpp::muc::Affiliation;
    use tokio_xmpp::jid::BareJid;

    let bed = bed();
    let (a, apw) = bed.new_account("crowdme");
    let room = bed.new_room("crowd");
    let room_jid: BareJid = room.parse().expect("room jid");
    let me: BareJid = a.parse().expect("jid");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    // An owner makes the room private and lets Talpa's account and the crowd in; the crowd
    // joins (straight to Prosody: only Talpa goes through Tor).
    let sessions = rt.block_on(async {
        let (owner_jid, owner_pw) = bed.new_account("crowdowner");
        let (owner, mut oev) = xmpp_common::connect(&owner_jid, &owner_pw).await;
        owner
            .muc_join(&room_jid, "owner", None)
            .await
            .expect("owner join");
        xmpp_common::self_presence(&mut oev, &room_jid).await;
        owner
            .muc_configure_private(&room_jid, None)
            .await
            .expect("configure");
        owner
            .muc_set_affiliation(&room_jid, &me, Affiliation::Member)
            .await
            .expect("Talpa's account is a member");
        let mut sessions = vec![(owner, oev)];
        for i in 0..CROWD {
            let (jid, pw) = bed.new_account(&format!("crowd{i}"));
            let member: BareJid = jid.parse().expect("jid");
            sessions[0]
                .0
                .muc_set_affiliation(&room_jid, &member, Affiliation::Member)
                .await
                .expect("member");
            let (s, mut ev) = xmpp_common::connect(&jid, &pw).await;
            s.muc_join(&room_jid, &format!("crowd{i}"), None)
                .await
                .expect("join");
            xmpp_common::self_presence(&mut ev, &room_jid).await;
            sessions.push((s, ev));
        }
        sessions
    });

    let dir = tempfile::tempdir().expect("tempdir");
    let mut talpa = talpa_online(bed, &dir.path().join("p"), &a, &apw);
    let (r, _) = talpa.call(json!({"cmd": "join_room", "account": a, "room": room,
                                   "nick": "mole"}));
    assert_eq!(r["ok"], true, "{r}");
    let everyone = CROWD + 2;
    let full = |e: &serde_json::Value| {
        e["event"] == "occupants"
            && e["room"] == room
            && e["occupants"]
                .as_array()
                .is_some_and(|o| o.len() == everyone)
    };
    talpa.wait_event_for(full, LONG);
    // Whatever else the join publishes (the affiliation lists, the audit) comes meanwhile.
    talpa.wait_event_for(|e| e["event"] == "room_audit" && e["room"] == room, LONG);
    std::thread::sleep(Duration::from_secs(3));
    let _ = talpa.call(json!({"cmd": "list_accounts"}));
    let lists: Vec<usize> = talpa
        .events
        .iter()
        .filter(|e| e["event"] == "occupants" && e["room"] == room)
        .map(|e| e["occupants"].as_array().map_or(0, Vec::len))
        .collect();
    assert!(
        lists.len() <= 3,
        "{} occupant lists for one join of a room of {everyone}: {lists:?}",
        lists.len()
    );
    assert!(
        lists.iter().all(|&n| n == everyone),
        "a partial list was published: {lists:?}"
    );
    talpa.quit();
    rt.block_on(async {
        for (s, _) in sessions {
            s.close().await;
        }
    });
}
