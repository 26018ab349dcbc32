//! Group-chat features end to end through Tor with slixmpp peers as members: the room audit,
//! MUC MAM catch-up, XEP-0402 bookmarks, passwords, invitations, moderation, and the
//! linkability and spoofing rules.

mod support;

use std::time::Duration;

use serde_json::{Value, json};
use support::headless::{Headless, bodies, error_kind, talpa_online};
use support::{Bed, Peer, bed};

const LONG: Duration = Duration::from_secs(120);

/// Forgets the events seen so far, so the next wait only matches new ones.
fn fresh(t: &mut Headless) {
    t.events.clear();
}

fn ok(r: &Value) {
    assert_eq!(r["ok"], true, "{r}");
}

/// Talpa (`a`) creates a private room as `mole` and lets the peer (`b`) in as `badger`.
fn private_room_with_peer(talpa: &mut Headless, peer: &mut Peer, a: &str, b: &str, room: &str) {
    let (r, _) = talpa.call(json!({"cmd": "create_room", "account": a, "room": room,
                                   "nick": "mole"}));
    ok(&r);
    talpa.wait_event_for(|e| e["event"] == "room_audit" && e["room"] == room, LONG);
    let (r, _) = talpa.call(json!({"cmd": "invite", "account": a, "room": room, "jid": b}));
    ok(&r);
    peer.send_cmd(&json!({"cmd": "join", "room": room, "nick": "badger"}));
    peer.wait_event(|e| e["event"] == "joined" && e["room"] == room, LONG);
    talpa.wait_event_for(|e| has_occupant(e, room, "badger"), LONG);
}

fn has_occupant(e: &Value, room: &str, nick: &str) -> bool {
    e["event"] == "occupants"
        && e["room"] == room
        && e["occupants"]
            .as_array()
            .is_some_and(|o| o.iter().any(|x| x["nick"] == nick))
}

fn occupant(e: &Value, nick: &str) -> Value {
    e["occupants"]
        .as_array()
        .and_then(|o| o.iter().find(|x| x["nick"] == nick).cloned())
        .unwrap_or(Value::Null)
}

fn warned(audit: &Value) -> Vec<String> {
    audit["findings"]
        .as_array()
        .map(|f| {
            f.iter()
                .filter(|x| x["level"] == "warning")
                .map(|x| x["item"].as_str().unwrap_or("").to_owned())
                .collect()
        })
        .unwrap_or_default()
}

fn peer_iq(peer: &mut Peer, xml: &str) -> Value {
    let id = support::random_hex(6);
    peer.send_cmd(&json!({"cmd": "iq", "id": id, "xml": xml}));
    peer.wait_event(|e| e["event"] == "ack" && e["id"] == id, LONG)
}

fn online(bed: &Bed, dir: &tempfile::TempDir, name: &str, jid: &str, pw: &str) -> Headless {
    talpa_online(bed, &dir.path().join(name), jid, pw)
}

/// Runs one line in Prosody's admin shell (mod_admin_shell; a line starting with `>` runs Lua
/// inside the server) and returns what it printed.
fn prosody_shell(bed: &Bed, line: &str) -> String {
    use std::io::Write as _;
    let mut child = std::process::Command::new("prosodyctl")
        .arg("--config")
        .arg(&bed.prosody.config)
        .arg("shell")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("prosodyctl shell");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(format!("{line}\n").as_bytes())
        .expect("write to prosodyctl shell");
    let out = child.wait_with_output().expect("prosodyctl shell");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Makes the room forget the occupant `nick` without telling anyone (as a room does after a
/// server restart or a lost presence): no presence goes out.
fn drop_occupant_silently(bed: &Bed, room: &str, nick: &str) {
    let out = prosody_shell(
        bed,
        &format!(
            ">local r = prosody.hosts[\"{}\"].modules.muc.get_room_from_jid(\"{room}\"); \
             local o = r and r:get_occupant_by_nick(\"{room}/{nick}\"); \
             if not o then return \"absent\" end; o.role = nil; r:save_occupant(o); \
             return \"dropped\"",
            bed.muc_domain
        ),
    );
    assert!(out.contains("dropped"), "prosody shell: {out}");
}

/// The room messages of a `history` reply with `prefix`, each with how often it is there.
fn counted(history: &Value, prefix: &str) -> std::collections::BTreeMap<String, usize> {
    let mut n = std::collections::BTreeMap::new();
    for b in bodies(history)
        .into_iter()
        .filter(|b| b.starts_with(prefix))
    {
        *n.entry(b).or_insert(0) += 1;
    }
    n
}

#[test]
fn room_audit_reports_each_weakness_of_an_open_room_and_a_private_room_is_clean() {
    let bed = bed();
    let (a, apw) = bed.new_account("auditor");
    let (b, bpw) = bed.new_account("weakowner");
    let weak = bed.new_room("weak");
    let private = bed.new_room("private");
    let dir = tempfile::tempdir().expect("tempdir");
    let mut peer = Peer::spawn(bed, &b, &bpw);
    peer.send_cmd(
        &json!({"cmd": "join", "room": weak, "nick": "host", "config": {
            "muc#roomconfig_publicroom": true,
            "muc#roomconfig_whois": "moderators",
            "muc#roomconfig_membersonly": false,
            "muc#roomconfig_enablearchiving": true,
            "muc#roomconfig_persistentroom": true,
        }}),
    );
    peer.wait_event(|e| e["event"] == "joined", LONG);
    let mut talpa = online(bed, &dir, "p", &a, &apw);

    // "Creating" a room someone else already made joins it, says so, and audits it.
    let (r, _) = talpa.call(json!({"cmd": "create_room", "account": a, "room": weak,
                                   "nick": "mole"}));
    ok(&r);
    let audit = talpa.wait_event_for(|e| e["event"] == "room_audit" && e["room"] == weak, LONG);
    assert!(
        talpa.events.iter().any(|e| e["event"] == "error"
            && e["message"]
                .as_str()
                .is_some_and(|m| m.contains("already existed"))),
        "{:?}",
        talpa.events
    );
    assert_eq!(audit["clean"], false, "{audit}");
    assert_eq!(audit["members_only"], false, "{audit}");
    assert_eq!(audit["public"], true, "{audit}");
    assert_eq!(audit["archived"], true, "{audit}");
    assert_eq!(audit["real_jids_visible_to"], "moderators", "{audit}");
    let w = warned(&audit);
    for item in ["members_only", "real_jids", "public", "archive"] {
        assert!(w.iter().any(|x| x == item), "{item} not reported: {audit}");
    }
    for f in audit["findings"].as_array().expect("findings") {
        assert!(f["text"].as_str().is_some_and(|t| t.len() > 20), "{f}");
    }

    // A configuration change (status 104) is audited again.
    fresh(&mut talpa);
    peer.send_cmd(&json!({"cmd": "configure", "room": weak,
                          "config": {"muc#roomconfig_whois": "anyone"}}));
    let again = talpa.wait_event_for(|e| e["event"] == "room_audit" && e["room"] == weak, LONG);
    assert_eq!(again["real_jids_visible_to"], "everyone", "{again}");
    assert_eq!(again["clean"], false, "still open and public: {again}");

    let (r, _) = talpa.call(json!({"cmd": "create_room", "account": a, "room": private,
                                   "nick": "mole"}));
    ok(&r);
    let audit = talpa.wait_event_for(|e| e["event"] == "room_audit" && e["room"] == private, LONG);
    assert_eq!(audit["clean"], true, "{audit}");
    assert_eq!(audit["members_only"], true, "{audit}");
    assert_eq!(audit["public"], false, "{audit}");
    assert_eq!(audit["real_jids_visible_to"], "everyone", "{audit}");
    assert_eq!(audit["members_without_keys"], json!([]), "{audit}");
    // The server's own view of the room, asked by an outsider.
    let info = peer_iq(
        &mut peer,
        &format!(
            "<iq type='get' to='{private}'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>"
        ),
    );
    let xml = info["response"].as_str().unwrap_or("");
    for feature in ["muc_membersonly", "muc_nonanonymous", "muc_hidden"] {
        assert!(xml.contains(feature), "{feature} missing: {xml}");
    }
    assert!(!xml.contains("muc_public"), "{xml}");
    talpa.quit();
}

/// Messages the peer sends while Talpa is away in the catch-up test.
const AWAY: usize = 60;

/// "mine", then the messages sent while away, then `tail`.
fn expected(tail: &[&str]) -> Vec<String> {
    let mut all = vec!["mine".to_owned()];
    all.extend((1..=AWAY).map(|i| format!("away {i}")));
    all.extend(tail.iter().map(|t| (*t).to_owned()));
    all
}

/// Every expected message exactly once, the peer's in the order sent. (Archive stamps have a
/// one-second precision, so our own message may sort among the peer's sent within that second.)
fn assert_same_history(got: &[String], want: &[String]) {
    let mut g = got.to_vec();
    let mut w = want.to_vec();
    g.sort();
    w.sort();
    assert_eq!(g, w, "each message once: {got:?}");
    let theirs = |v: &[String]| -> Vec<String> {
        v.iter().filter(|b| b.as_str() != "mine").cloned().collect()
    };
    assert_eq!(theirs(got), theirs(want), "in order: {got:?}");
}

#[test]
fn rejoining_catches_up_the_room_archive_once_and_bookmarks_autojoin_a_fresh_profile() {
    let bed = bed();
    let (a, apw) = bed.new_account("catchup");
    let (b, bpw) = bed.new_account("talker");
    let room = bed.new_room("history");
    let forged_room = bed.new_room("forged");
    let live_room = bed.new_room("live");
    let dir = tempfile::tempdir().expect("tempdir");
    let mut peer = Peer::spawn(bed, &b, &bpw);
    let mut talpa = online(bed, &dir, "p1", &a, &apw);
    private_room_with_peer(&mut talpa, &mut peer, &a, &b, &room);

    // This peer has no OMEMO keys: encryption (on by default) is turned off explicitly.
    talpa.call(
        json!({"cmd": "set_encryption", "account": a, "conversation": room, "enabled": false}),
    );
    let (r, _) = talpa.call(json!({"cmd": "send", "account": a, "to": room, "body": "mine"}));
    ok(&r);
    peer.wait_event(|e| e["event"] == "message" && e["body"] == "mine", LONG);

    // The server bookmark exists (checked by another client of the same account).
    let mut same = Peer::spawn(bed, &a, &apw);
    let bookmarks = "<iq type='get'><pubsub xmlns='http://jabber.org/protocol/pubsub'>\
                     <items node='urn:xmpp:bookmarks:1'/></pubsub></iq>";
    let got = peer_iq(&mut same, bookmarks);
    assert!(
        got["response"].as_str().unwrap_or("").contains(&room),
        "joined room not bookmarked: {got}"
    );

    fresh(&mut talpa);
    let (r, _) = talpa.call(json!({"cmd": "leave_room", "account": a, "room": room}));
    ok(&r);
    talpa.wait_event_for(|e| e["event"] == "room_left" && e["room"] == room, LONG);
    peer.wait_event(
        |e| e["event"] == "occupant" && e["nick"] == "mole" && e["available"] == false,
        LONG,
    );
    let got = peer_iq(&mut same, bookmarks);
    assert!(
        !got["response"].as_str().unwrap_or("").contains(&room),
        "left room still bookmarked: {got}"
    );
    // More than one archive page (Prosody answers at most 50 per query).
    for i in 1..=AWAY {
        peer.send_cmd(&json!({"cmd": "groupchat", "room": room, "body": format!("away {i}")}));
    }
    peer.wait_event(
        |e| e["event"] == "message" && e["body"] == format!("away {AWAY}"),
        LONG,
    );

    let (r, _) = talpa.call(json!({"cmd": "join_room", "account": a, "room": room,
                                   "nick": "mole"}));
    ok(&r);
    talpa.wait_event_for(|e| e["event"] == "room_joined" && e["room"] == room, LONG);
    // Sent once Talpa is back: it arrives live, after the catch-up.
    peer.wait_event(
        |e| e["event"] == "occupant" && e["nick"] == "mole" && e["available"] == true,
        LONG,
    );
    peer.send_cmd(&json!({"cmd": "groupchat", "room": room, "body": "back"}));
    talpa.wait_event_for(|e| e["event"] == "message" && e["body"] == "back", LONG);
    let (r, _) = talpa.call(json!({"cmd": "history", "account": a, "with": room,
                                   "limit": 500}));
    assert_eq!(
        bodies(&r),
        expected(&["back"]),
        "caught up once, in order: {r}"
    );
    talpa.quit();

    // A fresh profile of the same account knows nothing locally: the server bookmark
    // (published again by the rejoin) brings the room back, and the archive its history.
    let mut talpa2 = online(bed, &dir, "p2", &a, &apw);
    talpa2.wait_event_for(|e| e["event"] == "room_joined" && e["room"] == room, LONG);
    peer.send_cmd(&json!({"cmd": "groupchat", "room": room, "body": "welcome back"}));
    talpa2.wait_event_for(
        |e| e["event"] == "message" && e["body"] == "welcome back",
        LONG,
    );
    let (r, _) = talpa2.call(json!({"cmd": "history", "account": a, "with": room,
                                    "limit": 500}));
    assert_same_history(&bodies(&r), &expected(&["back", "welcome back"]));
    let mine = r["messages"]
        .as_array()
        .and_then(|m| m.iter().find(|m| m["body"] == "mine"))
        .expect("mine");
    assert_eq!(mine["direction"], "out", "own message recognised: {r}");

    // A contact publishing a "bookmark event" to us joins nothing.
    let forged = format!(
        "<message to='{a}' type='headline'><event xmlns='http://jabber.org/protocol/pubsub#event'>\
         <items node='urn:xmpp:bookmarks:1'><item id='{forged_room}'>\
         <conference xmlns='urn:xmpp:bookmarks:1' autojoin='true'><nick>dupe</nick></conference>\
         </item></items></event></message>"
    );
    peer.send_cmd(&json!({"cmd": "raw", "xml": forged}));
    peer.send_cmd(&json!({"cmd": "send", "to": a, "body": "after the forgery"}));
    talpa2.wait_event_for(
        |e| e["event"] == "message" && e["body"] == "after the forgery",
        LONG,
    );
    assert!(
        !talpa2
            .events
            .iter()
            .any(|e| e["room"] == forged_room.as_str()),
        "a forged bookmark event made Talpa act: {:?}",
        talpa2.events
    );

    // A bookmark added by another client of the account joins the room live.
    let added = peer_iq(
        &mut same,
        &format!(
            "<iq type='set'><pubsub xmlns='http://jabber.org/protocol/pubsub'>\
             <publish node='urn:xmpp:bookmarks:1'><item id='{live_room}'>\
             <conference xmlns='urn:xmpp:bookmarks:1' autojoin='true'><nick>mole</nick>\
             </conference></item></publish><publish-options>\
             <x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' type='hidden'>\
             <value>http://jabber.org/protocol/pubsub#publish-options</value></field>\
             <field var='pubsub#persist_items'><value>true</value></field>\
             <field var='pubsub#access_model'><value>whitelist</value></field>\
             <field var='pubsub#max_items'><value>max</value></field></x>\
             </publish-options></pubsub></iq>"
        ),
    );
    assert_eq!(added["type"], "result", "{added}");
    talpa2.wait_event_for(
        |e| e["event"] == "room_joined" && e["room"] == live_room.as_str(),
        LONG,
    );
    talpa2.quit();
}

#[test]
fn password_room_nick_subject_occupant_ids_kick_and_ban_work() {
    let bed = bed();
    let (a, apw) = bed.new_account("moderator");
    let (b, bpw) = bed.new_account("guest");
    let room = bed.new_room("locked");
    let dir = tempfile::tempdir().expect("tempdir");
    let mut peer = Peer::spawn(bed, &b, &bpw);
    let mut talpa = online(bed, &dir, "p", &a, &apw);

    // A private room with a password: the audit says so; the invited peer needs it.
    let (r, _) = talpa.call(json!({"cmd": "create_room", "account": a, "room": room,
                                   "nick": "mole", "password": "pw-1"}));
    ok(&r);
    let audit = talpa.wait_event_for(|e| e["event"] == "room_audit" && e["room"] == room, LONG);
    assert_eq!(audit["password_protected"], true, "{audit}");
    let (r, _) = talpa.call(json!({"cmd": "invite", "account": a, "room": room, "jid": b}));
    ok(&r);
    peer.send_cmd(&json!({"cmd": "join", "room": room, "nick": "badger", "password": "pw-1"}));
    peer.wait_event(|e| e["event"] == "joined" && e["room"] == room, LONG);
    let occ = talpa.wait_event_for(|e| has_occupant(e, &room, "badger"), LONG);
    let badger = occupant(&occ, "badger");
    assert!(
        badger["occupant_id"]
            .as_str()
            .is_some_and(|i| !i.is_empty()),
        "occupant-id (XEP-0421): {occ}"
    );
    assert_eq!(badger["affiliation"], "member", "{occ}");

    // Nick and subject.
    fresh(&mut talpa);
    let (r, _) = talpa.call(json!({"cmd": "set_nick", "account": a, "room": room,
                                   "nick": "vole"}));
    ok(&r);
    talpa.wait_event_for(
        |e| e["event"] == "room_joined" && e["room"] == room && e["nick"] == "vole",
        LONG,
    );
    peer.wait_event(
        |e| e["event"] == "occupant" && e["nick"] == "vole" && e["available"] == true,
        LONG,
    );
    let (r, _) = talpa.call(json!({"cmd": "set_subject", "account": a, "room": room,
                                   "subject": "plans"}));
    ok(&r);
    let subject = talpa.wait_event_for(|e| e["event"] == "room_subject" && e["room"] == room, LONG);
    assert_eq!(subject["subject"], "plans", "{subject}");
    assert_eq!(subject["by"], "vole", "{subject}");

    // Kick, then ban: the banned peer cannot come back.
    let (r, _) = talpa.call(json!({"cmd": "kick", "account": a, "room": room,
                                   "nick": "badger", "reason": "test"}));
    ok(&r);
    peer.wait_event(
        |e| e["event"] == "occupant" && e["nick"] == "badger" && e["available"] == false,
        LONG,
    );
    // A kicked member may come back; a banned one may not.
    peer.send_cmd(&json!({"cmd": "join", "room": room, "nick": "badger", "password": "pw-1"}));
    peer.wait_event(|e| e["event"] == "joined" && e["room"] == room, LONG);
    let (r, _) = talpa.call(json!({"cmd": "ban", "account": a, "room": room, "jid": b}));
    ok(&r);
    peer.wait_event(
        |e| e["event"] == "occupant" && e["nick"] == "badger" && e["available"] == false,
        LONG,
    );
    peer.send_cmd(&json!({"cmd": "raw_events", "on": true}));
    peer.send_cmd(&json!({"cmd": "join", "room": room, "nick": "badger", "password": "pw-1"}));
    // slixmpp's join only gives up after its own timeout; the room's answer is immediate.
    let e = peer.wait_event(
        |e| {
            (e["event"] == "stanza"
                && e["kind"] == "presence"
                && e["xml"]
                    .as_str()
                    .is_some_and(|x| x.contains("type=\"error\"")))
                || e["event"] == "joined"
        },
        LONG,
    );
    assert_eq!(e["event"], "stanza", "a banned member got back in: {e}");
    let (r, _) = talpa.call(json!({"cmd": "set_affiliation", "account": a, "room": room,
                                   "jid": b, "affiliation": "none"}));
    ok(&r);

    // Self-ping of a room we are in leaves it be.
    fresh(&mut talpa);
    let (r, _) = talpa.call(json!({"cmd": "check_rooms", "account": a}));
    ok(&r);
    assert!(
        !talpa.events.iter().any(|e| e["event"] == "room_left"),
        "{:?}",
        talpa.events
    );
    talpa.quit();
}

#[test]
fn invitations_direct_and_mediated_are_accepted_or_declined_and_wrong_passwords_refused() {
    let bed = bed();
    let (a, apw) = bed.new_account("invitee");
    let (b, bpw) = bed.new_account("inviter");
    let theirs = bed.new_room("theirs");
    let declined = bed.new_room("declined");
    let dir = tempfile::tempdir().expect("tempdir");
    let mut peer = Peer::spawn(bed, &b, &bpw);
    peer.send_cmd(&json!({"cmd": "raw_events", "on": true}));
    let mut talpa = online(bed, &dir, "p", &a, &apw);

    // A direct invitation (XEP-0249) carrying a password, accepted.
    peer.send_cmd(
        &json!({"cmd": "join", "room": theirs, "nick": "host", "config": {
            "muc#roomconfig_roomsecret": "pw-2",
            "muc#roomconfig_membersonly": true,
            "muc#roomconfig_whois": "anyone",
        }}),
    );
    peer.wait_event(|e| e["event"] == "joined" && e["room"] == theirs, LONG);
    let absent = format!("absent-{}@talpa.test", support::random_hex(4));
    for jid in [a.as_str(), absent.as_str()] {
        let id = support::random_hex(6);
        peer.send_cmd(
            &json!({"cmd": "affiliation", "id": id, "room": theirs, "jid": jid,
                              "affiliation": "member"}),
        );
        peer.wait_event(|e| e["event"] == "ack" && e["id"] == id, LONG);
    }
    peer.send_cmd(&json!({"cmd": "raw", "xml": format!(
        "<message to='{a}'><x xmlns='jabber:x:conference' jid='{theirs}' password='pw-2' \
         reason='join us'/></message>")}));
    let inv = talpa.wait_event_for(|e| e["event"] == "room_invite" && e["room"] == theirs, LONG);
    assert_eq!(inv["direct"], true, "{inv}");
    assert_eq!(inv["has_password"], true, "{inv}");
    assert_eq!(inv["from"], b, "{inv}");
    assert!(
        inv.get("password").is_none(),
        "the password is not shown: {inv}"
    );
    let (r, _) = talpa.call(json!({"cmd": "accept_invite", "account": a, "room": theirs,
                                   "nick": "mole"}));
    ok(&r);
    talpa.wait_event_for(|e| e["event"] == "room_audit" && e["room"] == theirs, LONG);
    // As a plain member, Talpa still knows every member to encrypt to, present or not.
    let (r, _) = talpa.call(json!({"cmd": "room_members", "account": a, "room": theirs}));
    let mut want = vec![absent.clone(), b.clone()];
    want.sort();
    assert_eq!(r["recipients"], json!(want), "{r}");

    // A mediated invitation, declined through the room.
    peer.send_cmd(
        &json!({"cmd": "join", "room": declined, "nick": "host", "config": {
            "muc#roomconfig_roomsecret": "pw-3",
        }}),
    );
    peer.wait_event(|e| e["event"] == "joined" && e["room"] == declined, LONG);
    peer.send_cmd(&json!({"cmd": "invite", "room": declined, "jid": a}));
    let inv = talpa.wait_event_for(
        |e| e["event"] == "room_invite" && e["room"] == declined,
        LONG,
    );
    assert_eq!(inv["direct"], false, "{inv}");
    let (r, _) = talpa.call(json!({"cmd": "decline_invite", "account": a, "room": declined}));
    ok(&r);
    peer.wait_event(
        |e| e["event"] == "stanza" && e["xml"].as_str().is_some_and(|x| x.contains("decline")),
        LONG,
    );
    let (r, _) = talpa.call(json!({"cmd": "decline_invite", "account": a, "room": declined}));
    assert_eq!(error_kind(&r), "not_found", "{r}");

    // The wrong password is refused, and said so.
    let (r, _) = talpa.call(json!({"cmd": "join_room", "account": a, "room": declined,
                                   "nick": "mole", "password": "wrong"}));
    ok(&r);
    let left = talpa.wait_event_for(|e| e["event"] == "room_left" && e["room"] == declined, LONG);
    assert_eq!(left["reason"], "join_refused: not-authorized", "{left}");
    talpa.quit();
}

#[test]
fn room_private_messages_edits_and_lookalike_nicks_cannot_impersonate() {
    let bed = bed();
    let (a, apw) = bed.new_account("watcher");
    let (b, bpw) = bed.new_account("honest");
    let (m, mpw) = bed.new_account("mallory");
    let room = bed.new_room("spoof");
    let dir = tempfile::tempdir().expect("tempdir");
    let mut peer = Peer::spawn(bed, &b, &bpw);
    let mut mallory = Peer::spawn(bed, &m, &mpw);
    let mut talpa = online(bed, &dir, "p", &a, &apw);
    private_room_with_peer(&mut talpa, &mut peer, &a, &b, &room);
    let first = talpa.wait_event_for(|e| has_occupant(e, &room, "badger"), LONG);
    let badger_id = occupant(&first, "badger")["occupant_id"].clone();
    assert!(badger_id.is_string(), "{first}");
    let (r, _) = talpa.call(json!({"cmd": "invite", "account": a, "room": room, "jid": m}));
    ok(&r);

    // The member list OMEMO encrypts to: members (mallory, not here yet) and occupants' real
    // JIDs (badger), never ourselves.
    let (r, _) = talpa.call(json!({"cmd": "room_members", "account": a, "room": room}));
    ok(&r);
    let mut want = vec![b.clone(), m.clone()];
    want.sort();
    assert_eq!(r["recipients"], json!(want), "{r}");
    assert!(
        r["affiliations"]
            .as_array()
            .is_some_and(|l| l.contains(&json!([a, "owner"]))),
        "{r}"
    );

    // A private message from an occupant is its own conversation, never the real JID's.
    peer.send_cmd(&json!({"cmd": "send", "to": format!("{room}/mole"), "body": "psst"}));
    let pm = talpa.wait_event_for(|e| e["event"] == "message" && e["body"] == "psst", LONG);
    assert_eq!(pm["with"], format!("{room}/badger"), "{pm}");
    assert_eq!(pm["from"], "badger", "{pm}");
    // Private messages to an occupant cannot be OMEMO-encrypted: plaintext only by choice.
    let (r, _) = talpa
        .call(json!({"cmd": "send", "account": a, "to": format!("{room}/badger"), "body": "held"}));
    ok(&r);
    talpa.wait_event_for(|e| e["event"] == "message_held" && e["with"] == room, LONG);
    talpa.call(json!({"cmd": "set_encryption", "account": a,
                      "conversation": format!("{room}/badger"), "enabled": false}));
    let (r, _) = talpa.call(
        json!({"cmd": "send", "account": a, "to": format!("{room}/badger"),
                                   "body": "psst back"}),
    );
    ok(&r);
    let back = peer.wait_event(
        |e| e["event"] == "message" && e["body"] == "psst back",
        LONG,
    );
    assert_eq!(back["from"], format!("{room}/mole"), "{back}");
    let (r, _) = talpa.call(
        json!({"cmd": "send", "account": a, "to": format!("{b}/res"),
                                   "body": "x"}),
    );
    assert_eq!(
        error_kind(&r),
        "invalid_input",
        "only occupants take a resource: {r}"
    );

    // badger says something; mallory, under a look-alike nick, tries to correct it.
    peer.send_cmd(
        &json!({"cmd": "groupchat", "room": room, "body": "meet at 6",
                          "msg_id": "orig-1"}),
    );
    talpa.wait_event_for(
        |e| e["event"] == "message" && e["body"] == "meet at 6",
        LONG,
    );
    let fix = |body: &str| {
        format!(
            "<message to='{room}' type='groupchat'><body>{body}</body>\
             <replace xmlns='urn:xmpp:message-correct:0' id='orig-1'/></message>"
        )
    };
    // The author's own correction is applied.
    peer.send_cmd(&json!({"cmd": "raw", "xml": fix("meet at 6:30")}));
    talpa.wait_event_for(
        |e| e["event"] == "message_updated" && e["body"] == "meet at 6:30",
        LONG,
    );
    mallory.send_cmd(&json!({"cmd": "join", "room": room, "nick": "bаdger"}));
    mallory.wait_event(|e| e["event"] == "joined", LONG);
    let occ = talpa.wait_event_for(|e| has_occupant(e, &room, "bаdger"), LONG);
    assert_eq!(occupant(&occ, "bаdger")["lookalike_of"], "badger", "{occ}");
    assert_eq!(
        occupant(&occ, "badger")["lookalike_of"],
        Value::Null,
        "{occ}"
    );
    mallory.send_cmd(&json!({"cmd": "raw", "xml": fix("meet at 9 (look-alike)")}));
    // Then badger leaves and mallory takes the very nick: a different occupant-id.
    peer.send_cmd(&json!({"cmd": "leave", "room": room, "nick": "badger"}));
    talpa.wait_event_for(
        |e| {
            e["event"] == "occupants"
                && e["room"] == room
                && !has_occupant(e, &room, "badger")
                && has_occupant(e, &room, "bаdger")
        },
        LONG,
    );
    mallory.send_cmd(&json!({"cmd": "leave", "room": room, "nick": "bаdger"}));
    mallory.wait_event(
        |e| e["event"] == "occupant" && e["nick"] == "bаdger" && e["available"] == false,
        LONG,
    );
    mallory.send_cmd(&json!({"cmd": "join", "room": room, "nick": "badger"}));
    mallory.wait_event(|e| e["event"] == "joined", LONG);
    // The same nick, another person: another occupant-id.
    let taken = talpa.wait_event_for(
        |e| {
            has_occupant(e, &room, "badger")
                && occupant(e, "badger")["occupant_id"].is_string()
                && occupant(e, "badger")["occupant_id"] != badger_id
        },
        LONG,
    );
    assert_eq!(occupant(&taken, "badger")["jid"], m, "{taken}");
    mallory.send_cmd(&json!({"cmd": "raw", "xml": fix("meet at 9 (same nick)")}));
    mallory.send_cmd(&json!({"cmd": "groupchat", "room": room, "body": "sentinel"}));
    talpa.wait_event_for(|e| e["event"] == "message" && e["body"] == "sentinel", LONG);
    assert!(
        !talpa
            .events
            .iter()
            // Only received messages: our own held private message is updated too (its
            // `held` note), which is no correction.
            .any(|e| e["event"] == "message_updated"
                && e["direction"] == "in"
                && e["body"] != "meet at 6:30"),
        "a correction from another occupant was applied: {:?}",
        talpa.events
    );
    let (r, _) = talpa.call(json!({"cmd": "history", "account": a, "with": room}));
    let b = bodies(&r);
    assert!(b.contains(&"meet at 6:30".to_owned()), "{r}");
    assert!(!b.iter().any(|x| x.contains("meet at 9")), "{r}");
    talpa.quit();
}

#[test]
fn joining_a_room_another_own_account_is_in_is_refused_unless_forced() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut t = Headless::start(&dir.path().join("p"));
    t.call(json!({"cmd": "create_profile", "passphrase": "pw"}));
    for jid in ["a@talpa.test", "b@talpa.test"] {
        t.call(json!({"cmd": "add_account", "jid": jid, "password": "x"}));
        t.call(json!({"cmd": "set_account_enabled", "account": jid, "enabled": false}));
    }
    let room = "cell@rooms.talpa.test";
    // Remembered for a (the account is offline, so the join itself fails).
    let (r, _) = t.call(
        json!({"cmd": "join_room", "account": "a@talpa.test", "room": room,
                               "nick": "one"}),
    );
    assert_eq!(error_kind(&r), "invalid_input", "{r}");
    let (r, _) = t.call(
        json!({"cmd": "join_room", "account": "b@talpa.test", "room": room,
                               "nick": "two"}),
    );
    assert_eq!(error_kind(&r), "would_link_accounts", "{r}");
    assert!(
        r["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("a@talpa.test") && m.contains("force")),
        "{r}"
    );
    let (r, _) = t.call(
        json!({"cmd": "create_room", "account": "b@talpa.test", "room": room,
                               "nick": "two"}),
    );
    assert_eq!(error_kind(&r), "would_link_accounts", "{r}");
    let (r, _) = t.call(
        json!({"cmd": "join_room", "account": "b@talpa.test", "room": room,
                               "nick": "two", "force": true}),
    );
    assert_eq!(
        error_kind(&r),
        "invalid_input",
        "forced past the guard, stopped only by the offline account: {r}"
    );
    t.quit();
}

#[test]
fn room_audit_names_a_member_without_omemo_keys_until_they_publish_some() {
    let bed = bed();
    let (a, apw) = bed.new_account("auditor");
    let (b, bpw) = bed.new_account("keyless");
    let room = bed.new_room("keys");
    let dir = tempfile::tempdir().expect("tempdir");
    let mut talpa = online(bed, &dir, "p", &a, &apw);
    let mut peer = Peer::spawn(bed, &b, &bpw);
    private_room_with_peer(&mut talpa, &mut peer, &a, &b, &room);
    let audit = talpa.wait_event_for(
        |e| {
            e["event"] == "room_audit"
                && e["room"] == room
                && e["members_without_keys"] == json!([b])
        },
        LONG,
    );
    assert!(warned(&audit).contains(&"keys".to_owned()), "{audit}");
    assert_eq!(audit["clean"], false, "{audit}");

    // The member comes back with an OMEMO client: its keys are found, the entry goes.
    peer.send_cmd(&json!({"cmd": "leave", "room": room, "nick": "badger"}));
    talpa.wait_event_for(
        |e| e["event"] == "occupants" && e["room"] == room && !has_occupant(e, &room, "badger"),
        LONG,
    );
    drop(peer);
    fresh(&mut talpa);
    let mut keyed = Peer::spawn_with(
        bed,
        &b,
        &bpw,
        &support::PeerOptions {
            omemo: true,
            ..support::PeerOptions::default()
        },
    );
    keyed.send_cmd(&json!({"cmd": "join", "room": room, "nick": "badger"}));
    keyed.wait_event(|e| e["event"] == "joined" && e["room"] == room, LONG);
    let audit = talpa.wait_event_for(
        |e| {
            e["event"] == "room_audit"
                && e["room"] == room
                && e["members_without_keys"] == json!([])
        },
        LONG,
    );
    assert!(!warned(&audit).contains(&"keys".to_owned()), "{audit}");
    talpa.quit();
}

#[test]
fn a_direct_invitation_from_talpa_lets_another_talpa_in_and_never_links_own_accounts() {
    let bed = bed();
    let (a, apw) = bed.new_account("host");
    let (b, bpw) = bed.new_account("guest");
    let room = bed.new_room("direct");
    let dir = tempfile::tempdir().expect("tempdir");
    let mut host = online(bed, &dir, "a", &a, &apw);
    let mut guest = online(bed, &dir, "b", &b, &bpw);
    let (r, _) = host.call(json!({"cmd": "create_room", "account": a, "room": room,
                                  "nick": "mole", "password": "pw-7"}));
    ok(&r);
    host.wait_event_for(|e| e["event"] == "room_audit" && e["room"] == room, LONG);

    let (r, _) = host.call(json!({"cmd": "direct_invite", "account": a, "room": room,
                                  "jid": b, "reason": "come in"}));
    ok(&r);
    let inv = guest.wait_event_for(|e| e["event"] == "room_invite" && e["room"] == room, LONG);
    assert_eq!(inv["direct"], true, "{inv}");
    assert_eq!(inv["from"], a, "{inv}");
    assert_eq!(inv["reason"], "come in", "{inv}");
    assert_eq!(inv["has_password"], true, "{inv}");
    // The membership granted with the invitation and the password it carried let the guest in.
    let (r, _) = guest.call(json!({"cmd": "accept_invite", "account": b, "room": room,
                                   "nick": "vole"}));
    ok(&r);
    guest.wait_event_for(|e| e["event"] == "room_joined" && e["room"] == room, LONG);
    host.wait_event_for(|e| has_occupant(e, &room, "vole"), LONG);

    // Another account of the host's own profile is not invited unless forced.
    let twin = format!("twin-{}@talpa.test", support::random_hex(4));
    host.call(json!({"cmd": "add_account", "jid": twin, "password": "x"}));
    host.call(json!({"cmd": "set_account_enabled", "account": twin, "enabled": false}));
    let (r, _) = host.call(json!({"cmd": "direct_invite", "account": a, "room": room,
                                  "jid": twin}));
    assert_eq!(error_kind(&r), "would_link_accounts", "{r}");
    assert!(
        r["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains(&twin) && m.contains("force")),
        "{r}"
    );
    let (r, _) = host.call(json!({"cmd": "invite", "account": a, "room": room, "jid": twin}));
    assert_eq!(error_kind(&r), "would_link_accounts", "mediated too: {r}");
    let (r, _) = host.call(json!({"cmd": "direct_invite", "account": a, "room": room,
                                  "jid": twin, "force": true}));
    ok(&r);
    // Only from a room the account is in.
    let (r, _) = host.call(json!({"cmd": "direct_invite", "account": a,
                                  "room": bed.new_room("elsewhere"), "jid": b}));
    assert_eq!(error_kind(&r), "invalid_input", "{r}");
    guest.quit();
    host.quit();
}

#[test]
fn a_room_that_silently_forgot_talpa_answers_the_self_ping_and_talpa_rejoins_and_catches_up() {
    let bed = bed();
    let (a, apw) = bed.new_account("forgotten");
    let (b, bpw) = bed.new_account("stayer");
    let room = bed.new_room("forgot");
    let dir = tempfile::tempdir().expect("tempdir");
    let mut talpa = online(bed, &dir, "p", &a, &apw);
    let mut peer = Peer::spawn(bed, &b, &bpw);
    private_room_with_peer(&mut talpa, &mut peer, &a, &b, &room);
    peer.send_cmd(&json!({"cmd": "groupchat", "room": room, "body": "ping 1"}));
    talpa.wait_event_for(|e| e["event"] == "message" && e["body"] == "ping 1", LONG);

    drop_occupant_silently(bed, &room, "mole");
    // Sent while the room does not know Talpa: not delivered live.
    peer.send_cmd(&json!({"cmd": "groupchat", "room": room, "body": "ping 2"}));
    peer.wait_event(|e| e["event"] == "message" && e["body"] == "ping 2", LONG);
    fresh(&mut talpa);
    let (r, _) = talpa.call(json!({"cmd": "check_rooms", "account": a}));
    ok(&r);
    talpa.wait_event_for(|e| e["event"] == "room_joined" && e["room"] == room, LONG);
    peer.wait_event(
        |e| e["event"] == "occupant" && e["nick"] == "mole" && e["available"] == true,
        LONG,
    );
    peer.send_cmd(&json!({"cmd": "groupchat", "room": room, "body": "ping 3"}));
    talpa.wait_event_for(|e| e["event"] == "message" && e["body"] == "ping 3", LONG);
    let (r, _) = talpa.call(json!({"cmd": "history", "account": a, "with": room,
                                   "limit": 100}));
    let want: std::collections::BTreeMap<String, usize> =
        [("ping 1", 1), ("ping 2", 1), ("ping 3", 1)]
            .into_iter()
            .map(|(b, n)| (b.to_owned(), n))
            .collect();
    assert_eq!(counted(&r, "ping"), want, "each once after the rejoin: {r}");
    // A self-ping while joined changes nothing.
    fresh(&mut talpa);
    let (r, _) = talpa.call(json!({"cmd": "check_rooms", "account": a}));
    ok(&r);
    peer.send_cmd(&json!({"cmd": "groupchat", "room": room, "body": "ping 4"}));
    talpa.wait_event_for(|e| e["event"] == "message" && e["body"] == "ping 4", LONG);
    assert!(
        !talpa.events.iter().any(|e| e["event"] == "room_joined"),
        "rejoined a room that still knew us: {:?}",
        talpa.events
    );
    talpa.quit();
}

#[test]
fn after_a_rebind_without_resumption_rooms_are_rejoined_and_their_archive_caught_up_once() {
    let bed = bed();
    let (a, apw) = bed.new_account("rebound");
    let (b, bpw) = bed.new_account("witness");
    let room = bed.new_room("rebind");
    let dir = tempfile::tempdir().expect("tempdir");
    let mut talpa = online(bed, &dir, "p", &a, &apw);
    let mut peer = Peer::spawn(bed, &b, &bpw);
    private_room_with_peer(&mut talpa, &mut peer, &a, &b, &room);
    peer.send_cmd(&json!({"cmd": "groupchat", "room": room, "body": "seen 1"}));
    talpa.wait_event_for(|e| e["event"] == "message" && e["body"] == "seen 1", LONG);
    let before = talpa.wait_event_for(
        |e| e["event"] == "account_state" && e["state"] == "online",
        LONG,
    );

    // The server closes Talpa's stream and revokes its resumption token (a clean close):
    // Talpa must bind a new session, and the room dropped the old resource.
    fresh(&mut talpa);
    let out = prosody_shell(bed, &format!("c2s:close(\"{a}\")"));
    assert!(out.contains("OK"), "prosody shell: {out}");
    peer.wait_event(
        |e| e["event"] == "occupant" && e["nick"] == "mole" && e["available"] == false,
        LONG,
    );
    for i in 1..=3 {
        peer.send_cmd(&json!({"cmd": "groupchat", "room": room, "body": format!("away {i}")}));
    }
    peer.wait_event(|e| e["event"] == "message" && e["body"] == "away 3", LONG);
    let after = talpa.wait_event_for(
        |e| e["event"] == "account_state" && e["state"] == "online",
        LONG,
    );
    assert_ne!(
        after["detail"], before["detail"],
        "a new session (new resource), not a resumption: {after}"
    );
    talpa.wait_event_for(|e| e["event"] == "room_joined" && e["room"] == room, LONG);
    peer.wait_event(
        |e| e["event"] == "occupant" && e["nick"] == "mole" && e["available"] == true,
        LONG,
    );
    peer.send_cmd(&json!({"cmd": "groupchat", "room": room, "body": "back 1"}));
    talpa.wait_event_for(|e| e["event"] == "message" && e["body"] == "back 1", LONG);
    let (r, _) = talpa.call(json!({"cmd": "history", "account": a, "with": room,
                                   "limit": 100}));
    let got = bodies(&r);
    let want: Vec<String> = ["seen 1", "away 1", "away 2", "away 3", "back 1"]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
    assert_eq!(got, want, "caught up once, in order: {r}");
    talpa.quit();
}
