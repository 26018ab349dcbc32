//! The window shows plainly what the core knows about encrypting an outgoing message, against
//! the real bed: a message to a contact without OMEMO keys is shown as waiting to be encrypted
//! (never with the plaintext badge) with the reason it is held, and nothing of it reaches
//! Prosody in clear; in a private room with one member who has keys (the OMEMO peer) and one
//! without, the sent message is encrypted for the first and its row names the second as unable
//! to read it. Both notes come back when the conversation is opened again and after a lock and
//! unlock (they are kept with the message), and memory-only messages get them too. "Check
//! again" on the held note, once the contact has published keys, sends the message encrypted.

mod gui_bed_support;
mod gui_support;
mod support;

use std::time::Duration;

use gtk4::prelude::*;
use libadwaita as adw;
use serde_json::json;
use talpa::core::events::StoredMessage;
use talpa::core::{Command, CoreHandle, Event, Reply};
use talpa::ui::chat::MessageRow;
use talpa::ui::session_view::SessionView;
use talpa::ui::window::Window;

use gui_bed_support::{LONG, bed_options, call};
use gui_support::{find_widget, pump, pump_until, visible_texts};
use support::{Peer, PeerOptions, bed, secret};

#[test]
fn held_and_partly_readable_messages_say_so_on_their_rows() {
    if gui_support::is_gui_child() {
        gui_support::run_app_checks_with(bed_options, checks);
        return;
    }
    let _ = bed();
    gui_support::run_as_gui_child("held_and_partly_readable_messages_say_so_on_their_rows");
}

#[test]
fn a_held_note_goes_away_when_the_message_is_sent() {
    if gui_support::is_gui_child() {
        gui_support::run_app_checks(note_checks);
        return;
    }
    gui_support::run_as_gui_child("a_held_note_goes_away_when_the_message_is_sent");
}

/// In-process with a stub core: the events the core sends for a held message that is sent
/// later (keys appeared) update its row in place.
#[allow(clippy::needless_pass_by_value)] // the signature run_app_checks expects
fn note_checks(app: &adw::Application, core: CoreHandle) {
    const ME: &str = "alice@talpa.test";
    const PEER: &str = "carol@talpa.test";
    let (window, session) = gui_support::unlocked_window_with_account(app, core, ME, "forever");
    session.open_conversation(ME, PEER);
    pump(Duration::from_millis(300));
    let mut message = StoredMessage {
        id: 7,
        account: ME.into(),
        with: PEER.into(),
        direction: "out".into(),
        from: ME.into(),
        body: "wait for my keys".into(),
        timestamp_ms: 1_700_000_000_000,
        encryption: "pending".into(),
        corrected: false,
        retracted: false,
        origin_id: Some("oid-held".into()),
        notes: talpa::core::events::MessageNotes::default(),
    };
    window.on_event(&Event::Message(message.clone()));
    window.on_event(&Event::MessageHeld {
        account: ME.into(),
        with: PEER.into(),
        origin_id: "oid-held".into(),
        cause: talpa::core::events::HeldCause::NoKeys,
        reason: format!(
            "nobody in the conversation with {PEER} has usable OMEMO keys: the message was not sent"
        ),
    });
    pump_until("the held note", || {
        row_text(&session, "oid-held").contains("Held: carol@talpa.test has no OMEMO keys yet")
    });
    let shown = row_text(&session, "oid-held");
    assert!(shown.contains("Waiting to be encrypted"), "{shown}");
    assert!(!shown.contains("NOT ENCRYPTED"), "{shown}");
    let row = find_widget::<MessageRow>(session.upcast_ref(), &|r| {
        r.message().is_some_and(|m| m.origin_id() == "oid-held")
    })
    .expect("the row");
    assert_eq!(
        gui_support::unlabelled(row.upcast_ref()),
        Vec::<String>::new()
    );

    message.encryption = "omemo2".into();
    window.on_event(&Event::MessageUpdated(message));
    pump_until("the sent badge", || {
        row_text(&session, "oid-held").contains("OMEMO 2")
    });
    let shown = row_text(&session, "oid-held");
    assert!(
        !shown.contains("Held:"),
        "the held note stays after sending:\n{shown}"
    );
    assert!(!shown.contains("Waiting"), "{shown}");

    // A memory-only ("don't store") message has no origin-id: its notes come with it.
    let mut memory = StoredMessage {
        id: -1,
        body: "kept in memory only".into(),
        origin_id: None,
        ..message_pending(ME, PEER)
    };
    memory.notes.held = Some(talpa::core::events::HeldCause::NoKeys);
    window.on_event(&Event::Message(memory.clone()));
    pump_until("the memory-only held note", || {
        body_row_text(&session, "kept in memory only")
            .contains("Held: carol@talpa.test has no OMEMO keys yet")
    });
    memory.encryption = "omemo2".into();
    memory.notes = talpa::core::events::MessageNotes {
        held: None,
        not_readable_by: vec!["dave@talpa.test".into()],
        delivery: None,
        attachment: None,
    };
    window.on_event(&Event::MessageUpdated(memory));
    pump_until("the memory-only not-readable note", || {
        body_row_text(&session, "kept in memory only").contains("Not readable by: dave@talpa.test")
    });
    let shown = body_row_text(&session, "kept in memory only");
    assert!(!shown.contains("Held:"), "{shown}");
}

fn message_pending(me: &str, peer: &str) -> StoredMessage {
    StoredMessage {
        id: 0,
        account: me.into(),
        with: peer.into(),
        direction: "out".into(),
        from: me.into(),
        body: String::new(),
        timestamp_ms: 1_700_000_000_001,
        encryption: "pending".into(),
        corrected: false,
        retracted: false,
        origin_id: None,
        notes: talpa::core::events::MessageNotes::default(),
    }
}

/// The visible text of the shown row whose body is `body` (empty if not shown).
fn body_row_text(session: &SessionView, body: &str) -> String {
    find_widget::<MessageRow>(session.upcast_ref(), &|r| {
        r.message().is_some_and(|m| m.body() == body)
    })
    .map(|r| visible_texts(r.upcast_ref()))
    .unwrap_or_default()
}

fn send(core: &CoreHandle, account: &str, to: &str, body: &str) -> String {
    match call(
        core,
        Command::Send {
            account: account.to_owned(),
            to: to.to_owned(),
            body: body.to_owned(),
        },
    ) {
        Reply::Queued { origin_id } => origin_id,
        other => panic!("send answered {other:?}"),
    }
}

/// The visible text of the shown row of the message `origin_id` (empty if not shown).
fn row_text(session: &SessionView, origin_id: &str) -> String {
    find_widget::<MessageRow>(session.upcast_ref(), &|r| {
        r.message().is_some_and(|m| m.origin_id() == origin_id)
    })
    .map(|r| visible_texts(r.upcast_ref()))
    .unwrap_or_default()
}

#[allow(clippy::needless_pass_by_value)] // the signature run_app_checks_with expects
fn checks(app: &adw::Application, core: CoreHandle) {
    let display = std::env::var("DISPLAY").expect("DISPLAY set by the parent");
    let bed = bed();
    let (me, my_password) = bed.new_account("guiheld");
    let (keyless, keyless_pw) = bed.new_account("guiheldnokeys");
    let window = Window::new(app, core.clone());
    window.set_default_size(1000, 700);
    window.present();
    let session = gui_bed_support::unlock_with_bed_account(
        &window,
        &core,
        "gui held passphrase",
        &me,
        &my_password,
    );
    gui_bed_support::wait_until_online(&session, &me);

    // (a) A contact without keys: the message waits, encrypted-only, and says why.
    session.open_conversation(&me, &keyless);
    let held_text = secret("held for a contact without keys");
    let text = held_text.clone();
    let oid = send(&core, &me, &keyless, &text);
    let held_oid = oid.clone();
    let held = format!("Held: {keyless} has no OMEMO keys yet");
    let deadline = std::time::Instant::now() + LONG;
    while !row_text(&session, &oid).contains(&held) {
        assert!(
            std::time::Instant::now() < deadline,
            "the held note never showed; the row says:\n{}",
            row_text(&session, &oid)
        );
        pump(Duration::from_millis(50));
    }
    let shown = row_text(&session, &oid);
    assert!(shown.contains("Waiting to be encrypted"), "{shown}");
    assert!(
        !shown.contains("NOT ENCRYPTED"),
        "a held message must not look unencrypted:\n{shown}"
    );
    assert!(shown.contains("never in plaintext"), "{shown}");
    pump(Duration::from_millis(300));
    gui_support::screenshot(&display, "held_1_contact_without_keys");
    assert!(
        !bed.stanza_log_text().contains(&text),
        "the held message's text went over the wire"
    );

    // (b) A private room with one member with keys and one without.
    let (keyed_jid, keyed_pw) = bed.new_account("guiheldkeyed");
    let (bare_jid, bare_pw) = bed.new_account("guiheldbare");
    let room = bed.new_room("guiheld");
    call(
        &core,
        Command::CreateRoom {
            account: me.clone(),
            room: room.clone(),
            nick: "mole".into(),
            password: None,
            force: false,
        },
    );
    pump_until("the room under Rooms", || session.lists_as_room(&me, &room));
    let mut keyed = Peer::spawn_with(
        bed,
        &keyed_jid,
        &keyed_pw,
        &PeerOptions {
            omemo: true,
            ..PeerOptions::default()
        },
    );
    let mut bare = Peer::spawn(bed, &bare_jid, &bare_pw);
    for (peer, jid, nick) in [
        (&mut keyed, &keyed_jid, "badger"),
        (&mut bare, &bare_jid, "vole"),
    ] {
        call(
            &core,
            Command::Invite {
                account: me.clone(),
                room: room.clone(),
                jid: jid.clone(),
            },
        );
        peer.send_cmd(&json!({"cmd": "join", "room": room, "nick": nick}));
        gui_bed_support::pump_until_peer(peer, "joined", |e| e["event"] == "joined");
    }
    let occupants = session.occupants(&me, &room);
    pump_until("three occupants", || occupants.n_items() == 3);
    session.open_conversation(&me, &room);
    let text = secret("to the room");
    let oid = send(&core, &me, &room, &text);
    let got = gui_bed_support::pump_until_peer(&mut keyed, "the room message", |e| {
        e["event"] == "message" && e["type"] == "groupchat" && e["body"] == text.as_str()
    });
    assert_eq!(got["encrypted"], "twomemo", "{got}");
    let note = format!("Not readable by: {bare_jid}");
    let deadline = std::time::Instant::now() + LONG;
    while !row_text(&session, &oid).contains(&note) {
        assert!(
            std::time::Instant::now() < deadline,
            "the not-readable note never showed; the row says:\n{}",
            row_text(&session, &oid)
        );
        pump(Duration::from_millis(50));
    }
    let shown = row_text(&session, &oid);
    assert!(shown.contains("OMEMO 2"), "{shown}");
    assert!(
        !shown.contains(&keyed_jid),
        "the keyed member can read it:\n{shown}"
    );
    assert!(!shown.contains("Held:"), "{shown}");
    pump(Duration::from_millis(300));
    gui_support::screenshot(&display, "held_2_room_not_readable_by");
    assert!(
        !bed.stanza_log_text().contains(&text),
        "the room message went over the wire in clear"
    );

    // (c) Opened again, and after a lock and unlock: both notes are still there.
    session.open_conversation(&me, &keyless);
    pump_until("the held note, reopened", || {
        row_text(&session, &held_oid).contains(&held)
    });
    session.open_conversation(&me, &room);
    pump_until("the not-readable note, reopened", || {
        row_text(&session, &oid).contains(&note)
    });
    drop(session);
    call(&core, Command::Lock);
    pump_until("the lock", || !window.is_unlocked());
    call(
        &core,
        Command::Unlock {
            passphrase: talpa::core::commands::Secret::new("gui held passphrase"),
        },
    );
    pump_until("the unlock", || window.is_unlocked());
    let session = window.session().expect("session view");
    window.reload_accounts();
    pump_until("the not-readable note after unlocking", || {
        session.open_conversation(&me, &room);
        row_text(&session, &oid).contains(&note)
    });
    pump_until("the held note after unlocking", || {
        session.open_conversation(&me, &keyless);
        row_text(&session, &held_oid).contains(&held)
    });
    pump(Duration::from_millis(300));
    gui_support::screenshot(&display, "held_3_after_unlock");

    // (d) The contact publishes keys (not a contact: nothing tells Talpa); "Check again".
    let mut later = Peer::spawn_with(
        bed,
        &keyless,
        &keyless_pw,
        &PeerOptions {
            omemo: true,
            ..PeerOptions::default()
        },
    );
    pump_until("the account online again", || {
        session.account_state(&me).as_deref() == Some("online")
    });
    check_again(&session, &held_oid);
    let got = gui_bed_support::pump_until_peer(&mut later, "the held message", |e| {
        e["event"] == "message" && e["body"] == held_text.as_str()
    });
    assert!(
        got["encrypted"] == "twomemo" || got["encrypted"] == "oldmemo",
        "{got}"
    );
    pump_until("the sent badge", || {
        let shown = row_text(&session, &held_oid);
        shown.contains("OMEMO") && !shown.contains("Held:")
    });
    assert!(
        !bed.stanza_log_text().contains(&held_text),
        "the held message went over the wire in clear"
    );

    // (e) The room member without keys publishes some from another client; "Check again" on
    // the room message's note finds them: the next message is readable by everybody.
    let _publisher = Peer::spawn_with(
        bed,
        &bare_jid,
        &bare_pw,
        &PeerOptions {
            omemo: true,
            ..PeerOptions::default()
        },
    );
    session.open_conversation(&me, &room);
    pump_until("the room note", || row_text(&session, &oid).contains(&note));
    check_again(&session, &oid);
    pump_until("keys found", || {
        window
            .toast_titles()
            .iter()
            .any(|t| t.contains("OMEMO keys found"))
    });
    let next = secret("to the room after checking again");
    let next_oid = send(&core, &me, &room, &next);
    gui_bed_support::pump_until_peer(&mut keyed, "the next room message", |e| {
        e["event"] == "message" && e["type"] == "groupchat" && e["body"] == next.as_str()
    });
    pump_until("the next message sent", || {
        row_text(&session, &next_oid).contains("OMEMO")
    });
    let shown = row_text(&session, &next_oid);
    assert!(!shown.contains("Not readable by"), "{shown}");
    assert!(
        row_text(&session, &oid).contains(&note),
        "the earlier message still cannot be read by the member"
    );
    assert!(
        !bed.stanza_log_text().contains(&next),
        "the room message went over the wire in clear"
    );
}

/// Follows the "Check again" link of the note under the message `origin_id`, as a click does.
fn check_again(session: &SessionView, origin_id: &str) {
    let row = find_widget::<MessageRow>(session.upcast_ref(), &|r| {
        r.message().is_some_and(|m| m.origin_id() == origin_id)
    })
    .expect("the message's row");
    let link = find_widget::<gtk4::Label>(row.upcast_ref(), &|l| l.label().contains("Check again"))
        .expect("the note's Check again link");
    let markup = link.label().to_string();
    let uri = markup
        .split("href=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("a link target")
        .to_owned();
    let handled: bool = link.emit_by_name("activate-link", &[&uri]);
    assert!(handled, "the note's link is Talpa's own: {uri}");
}
