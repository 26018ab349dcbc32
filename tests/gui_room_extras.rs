//! Group-chat odds and ends in the window, against the real bed through Tor with Python peers:
//! a message from an occupant whose nick imitates another's ("аlice" with a Cyrillic а next to
//! "alice") carries the look-alike warning on its sender line (and in its accessible label);
//! a room its owner destroys says so with the owner's reason and offers the room they suggest
//! in a bar above the conversation, again after lock and unlock (the reason is kept in the
//! encrypted store);
//! *Rejoin* of a password-protected room uses the stored password, and when that no longer
//! works asks for it, telling a wrong one. Screenshots kept.

mod gui_bed_support;
mod gui_support;
mod support;

use std::time::Duration;

use gtk4::prelude::*;
use libadwaita as adw;
use libadwaita::prelude::*;
use talpa::core::commands::Secret;
use talpa::core::events::{Occupant, StoredMessage};
use talpa::core::{Command, CoreHandle, Event};
use talpa::ui::chat::MessageRow;
use talpa::ui::chat::room_moved_banner::RoomMovedBanner;
use talpa::ui::window::Window;

use gui_bed_support::{LONG, bed_options, call, pump_until_peer};
use gui_support::{find_widget, pump, pump_until, visible_texts};
use support::{Peer, bed};

/// The imitating nick: "alice" with a Cyrillic а.
const IMITATOR: &str = "\u{430}lice";

#[test]
fn a_lookalike_senders_message_is_flagged_and_a_destroyed_room_says_why() {
    if gui_support::is_gui_child() {
        gui_support::run_app_checks_with(bed_options, lookalike_and_destroy);
        return;
    }
    let _ = bed();
    gui_support::run_as_gui_child(
        "a_lookalike_senders_message_is_flagged_and_a_destroyed_room_says_why",
    );
}

#[test]
fn rejoining_a_password_room_uses_the_stored_password_then_asks_for_it() {
    if gui_support::is_gui_child() {
        gui_support::run_app_checks_with(bed_options, password_rejoin);
        return;
    }
    let _ = bed();
    gui_support::run_as_gui_child(
        "rejoining_a_password_room_uses_the_stored_password_then_asks_for_it",
    );
}

#[test]
fn rows_on_screen_are_flagged_when_their_sender_becomes_a_lookalike_in_that_room_only() {
    if gui_support::is_gui_child() {
        gui_support::run_app_checks(rebinding);
        return;
    }
    gui_support::run_as_gui_child(
        "rows_on_screen_are_flagged_when_their_sender_becomes_a_lookalike_in_that_room_only",
    );
}

fn room_message(id: i64, room: &str, nick: &str, body: &str) -> StoredMessage {
    StoredMessage {
        id,
        account: "me@talpa.test".into(),
        with: room.into(),
        direction: "in".into(),
        from: nick.into(),
        body: body.into(),
        timestamp_ms: 1_700_000_000_000 + id,
        encryption: "none".into(),
        corrected: false,
        retracted: false,
        origin_id: None,
        notes: talpa::core::events::MessageNotes::default(),
    }
}

fn occupant(nick: &str, lookalike_of: Option<&str>) -> Occupant {
    Occupant {
        nick: nick.into(),
        role: None,
        affiliation: None,
        jid: None,
        occupant_id: None,
        lookalike_of: lookalike_of.map(str::to_owned),
    }
}

/// With a stub core: history on screen before the room reports its occupants (a room opened
/// while Talpa is still joining) gets the warning once the imitator is flagged; a flag in
/// another room does not mark the same nick here.
#[allow(clippy::needless_pass_by_value)] // run_app_checks's signature
fn rebinding(app: &adw::Application, core: CoreHandle) {
    let (account, room, other) = (
        "me@talpa.test",
        "here@rooms.talpa.test",
        "there@rooms.talpa.test",
    );
    let (window, session) = gui_support::unlocked_window_with_account(app, core, account, "1w");
    session.open_conversation(account, room);
    window.on_event(&Event::Message(room_message(
        1,
        room,
        "alice",
        "hello from alice",
    )));
    window.on_event(&Event::Message(room_message(
        2,
        room,
        IMITATOR,
        "hello from the imitator",
    )));
    pump_until("both rows", || {
        row_of(&window, "hello from alice").is_some()
            && row_of(&window, "hello from the imitator").is_some()
    });
    let flagged = |body: &str| {
        visible_texts(row_of(&window, body).expect("the row").upcast_ref()).contains("Looks like")
    };
    assert!(
        !flagged("hello from the imitator"),
        "flagged with no look-alike known"
    );

    // The same nick flagged in another room changes nothing here.
    window.on_event(&Event::Occupants {
        account: account.into(),
        room: other.into(),
        occupants: vec![occupant("alice", None), occupant(IMITATOR, Some("alice"))],
    });
    pump(Duration::from_millis(200));
    assert!(
        !flagged("hello from the imitator"),
        "a flag in another room marks this room's sender"
    );

    window.on_event(&Event::Occupants {
        account: account.into(),
        room: room.into(),
        occupants: vec![occupant("alice", None), occupant(IMITATOR, Some("alice"))],
    });
    pump_until("the imitator's shown row flagged", || {
        flagged("hello from the imitator")
    });
    assert!(!flagged("hello from alice"), "the original is flagged");
}

fn join(core: &CoreHandle, me: &str, room: &str, password: Option<&str>) {
    call(
        core,
        Command::JoinRoom {
            account: me.to_owned(),
            room: room.to_owned(),
            nick: "mole".into(),
            password: password.map(Secret::new),
            force: false,
        },
    );
}

fn groupchat(peer: &mut Peer, room: &str, body: &str) {
    peer.send_cmd(&serde_json::json!({
        "cmd": "raw",
        "xml": format!("<message to='{room}' type='groupchat'><body>{body}</body></message>"),
    }));
}

/// The row showing the message with `body`, if it is on screen.
fn row_of(window: &Window, body: &str) -> Option<MessageRow> {
    find_widget::<MessageRow>(window.upcast_ref(), &|r| {
        r.message().is_some_and(|m| m.body() == body)
    })
}

/// The open dialog whose heading is `heading` and whose body contains `body`, if any.
fn dialog(app: &adw::Application, heading: &str, body: &str) -> Option<adw::MessageDialog> {
    app.windows()
        .into_iter()
        .filter_map(|w| w.downcast::<adw::MessageDialog>().ok())
        .find(|d| {
            d.is_visible() && d.heading().as_deref() == Some(heading) && d.body().contains(body)
        })
}

fn mole_in(peer: &mut Peer, room: &str, available: bool) {
    pump_until_peer(peer, &format!("Talpa in {room}: {available}"), |e| {
        e["event"] == "occupant"
            && e["room"] == room
            && e["nick"] == "mole"
            && e["available"] == available
    });
}

fn kick_mole(peer: &mut Peer, room: &str) {
    peer.send_cmd(&serde_json::json!({
        "cmd": "iq",
        "xml": format!(
            "<iq type='set' to='{room}'><query xmlns='http://jabber.org/protocol/muc#admin'>\
             <item nick='mole' role='none'/></query></iq>"
        ),
    }));
}

fn rejoin_button(window: &Window) -> Option<gtk4::Button> {
    find_widget::<gtk4::Button>(window.upcast_ref(), &|b| {
        b.label().as_deref() == Some("Rejoin") && b.is_visible()
    })
}

#[allow(clippy::needless_pass_by_value, clippy::too_many_lines)] // run_app_checks_with's signature; one story
fn lookalike_and_destroy(app: &adw::Application, core: CoreHandle) {
    let display = std::env::var("DISPLAY").expect("DISPLAY set by the parent");
    let bed = bed();
    let (me, my_password) = bed.new_account("guixme");
    let (host_jid, host_password) = bed.new_account("guixhost");
    let (fake_jid, fake_password) = bed.new_account("guixfake");
    let room = bed.new_room("guixroom");
    let elsewhere = bed.new_room("guixnew");
    let window = Window::new(app, core.clone());
    window.set_default_size(1100, 700);
    window.present();
    let session = gui_bed_support::unlock_with_bed_account(
        &window,
        &core,
        "gui extras passphrase",
        &me,
        &my_password,
    );
    let mut host = Peer::spawn(bed, &host_jid, &host_password);
    let mut fake = Peer::spawn(bed, &fake_jid, &fake_password);
    host.send_cmd(&serde_json::json!({"cmd": "join", "room": room, "nick": "alice"}));
    host.wait_event(|e| e["event"] == "joined", LONG);
    host.send_cmd(&serde_json::json!({"cmd": "join", "room": elsewhere, "nick": "alice"}));
    host.wait_event(
        |e| e["event"] == "joined" && e["room"] == elsewhere.as_str(),
        LONG,
    );
    gui_bed_support::wait_until_online(&session, &me);

    join(&core, &me, &room, None);
    pump_until("the room under Rooms", || session.lists_as_room(&me, &room));
    session.open_conversation(&me, &room);
    mole_in(&mut host, &room, true);
    // The imitator arrives after Talpa is in, so Talpa sees the original first (existing
    // occupants are listed in the server's order).
    fake.send_cmd(&serde_json::json!({"cmd": "join", "room": room, "nick": IMITATOR}));
    pump_until_peer(&mut fake, "the imitator in the room", |e| {
        e["event"] == "joined"
    });
    let occupants = session.occupants(&me, &room);
    pump_until("three occupants", || occupants.n_items() >= 3);

    // The imitator's message carries the warning on its sender line; the original's does not.
    let (real, imitated) = ("from the real alice", "from the imitator");
    groupchat(&mut host, &room, real);
    groupchat(&mut fake, &room, imitated);
    pump_until("both messages on screen", || {
        row_of(&window, real).is_some() && row_of(&window, imitated).is_some()
    });
    let warning = "Looks like alice: may be someone else";
    let fake_row = row_of(&window, imitated).expect("the imitator's row");
    let fake_texts = visible_texts(fake_row.upcast_ref());
    assert!(
        fake_texts.contains(&format!("{IMITATOR} ⚠ {warning}")),
        "the imitator's message is not flagged:\n{fake_texts}\noccupants: {:?}",
        occupants
            .iter::<gtk4::glib::Object>()
            .flatten()
            .map(|o| (
                o.property::<String>("nick"),
                o.property::<String>("lookalike-of")
            ))
            .collect::<Vec<_>>()
    );
    let sender =
        find_widget::<gtk4::Label>(fake_row.upcast_ref(), &|l| l.label().starts_with(IMITATOR))
            .expect("the sender line");
    assert_eq!(
        talpa::ui::a11y::label_of(&sender).as_deref(),
        Some(format!("{IMITATOR} ⚠ {warning}").as_str()),
        "a screen reader does not hear the warning"
    );
    let real_texts = visible_texts(row_of(&window, real).expect("the real row").upcast_ref());
    assert!(
        real_texts.contains("alice") && !real_texts.contains("Looks like"),
        "the original's message is flagged:\n{real_texts}"
    );
    pump(Duration::from_millis(300));
    gui_support::screenshot(&display, "room_extras_1_lookalike_sender");

    // The owner destroys the room, with a reason and a new room to go to.
    let reason = "Moving to a new home";
    host.send_cmd(&serde_json::json!({
        "cmd": "iq",
        "xml": format!(
            "<iq type='set' to='{room}'><query xmlns='http://jabber.org/protocol/muc#owner'>\
             <destroy jid='{elsewhere}'><reason>{reason}</reason></destroy></query></iq>"
        ),
    }));
    let told = format!("This room was destroyed: {reason}");
    pump_until("the destruction in the window", || {
        visible_texts(window.upcast_ref()).contains(&told)
    });
    assert_eq!(
        header_subtitle(&window, &room).as_deref(),
        Some(told.as_str()),
        "the header does not say (once) that the room was destroyed"
    );
    assert!(
        window.toast_titles().iter().any(|t| t.contains(&told)),
        "no notice of the destruction: {:?}",
        window.toast_titles()
    );
    assert!(
        rejoin_button(&window).is_none(),
        "Rejoin is offered for a destroyed room"
    );
    // The alternate is offered in a bar above the conversation, not in a dialog.
    let offer = format!("{told}. Its owner suggests {elsewhere} instead.");
    pump_until("the suggestion of the new room", || {
        banner(&window).is_some_and(|b| b.text() == offer)
    });
    assert!(
        dialog(app, "Room destroyed", "").is_none(),
        "the suggestion is still a dialog"
    );
    pump(Duration::from_millis(300));
    gui_support::screenshot(&display, "room_extras_2_destroyed");
    banner(&window)
        .and_then(|b| b.dismiss_button())
        .expect("Dismiss")
        .emit_clicked();
    pump_until("the suggestion dismissed", || banner(&window).is_none());

    // After lock and unlock the room still says why it is gone, and offers the new room again.
    call(&core, Command::Lock);
    pump_until("the lock page", || !window.is_unlocked());
    call(
        &core,
        Command::Unlock {
            passphrase: Secret::new("gui extras passphrase"),
        },
    );
    pump_until("the session view again", || window.is_unlocked());
    let session = window.session().expect("session view");
    gui_bed_support::wait_until_online(&session, &me);
    pump_until("the destroyed room listed again", || {
        session.lists_as_room(&me, &room)
    });
    session.open_conversation(&me, &room);
    pump_until("the reason after unlock", || {
        header_subtitle(&window, &room).as_deref() == Some(told.as_str())
    });
    assert!(
        rejoin_button(&window).is_none(),
        "Rejoin is offered for a destroyed room after unlock"
    );
    pump_until("the suggestion after unlock", || {
        banner(&window).is_some_and(|b| b.text() == offer)
    });
    pump(Duration::from_millis(300));
    gui_support::screenshot(&display, "room_extras_3_destroyed_after_unlock");
    let join = banner(&window)
        .and_then(|b| b.join_button())
        .expect("the Join button");
    assert_eq!(
        join.label().as_deref(),
        Some(format!("Join {elsewhere}").as_str())
    );
    host.take_pending();
    join.emit_clicked();
    mole_in(&mut host, &elsewhere, true);
    pump_until("the new room under Rooms", || {
        session.lists_as_room(&me, &elsewhere)
    });
    pump_until("the suggestion withdrawn once joined", || {
        banner(&window).is_none()
    });

    // Once in the new room, the old one still says why it is gone but offers nothing more.
    call(&core, Command::Lock);
    pump_until("the lock page", || !window.is_unlocked());
    call(
        &core,
        Command::Unlock {
            passphrase: Secret::new("gui extras passphrase"),
        },
    );
    pump_until("the session view again", || window.is_unlocked());
    let session = window.session().expect("session view");
    pump_until("both rooms listed again", || {
        session.lists_as_room(&me, &room) && session.lists_as_room(&me, &elsewhere)
    });
    session.open_conversation(&me, &room);
    pump_until("the reason after the second unlock", || {
        header_subtitle(&window, &room).as_deref() == Some(told.as_str())
    });
    pump(Duration::from_millis(300));
    assert!(
        banner(&window).is_none(),
        "the room already joined is offered again"
    );
}

/// The destroyed room's offer bar, if it is shown.
fn banner(window: &Window) -> Option<RoomMovedBanner> {
    find_widget::<RoomMovedBanner>(window.upcast_ref(), &|b| b.is_visible() && b.is_mapped())
}

#[allow(clippy::needless_pass_by_value, clippy::too_many_lines)] // run_app_checks_with's signature; one story
fn password_rejoin(app: &adw::Application, core: CoreHandle) {
    let display = std::env::var("DISPLAY").expect("DISPLAY set by the parent");
    let bed = bed();
    let (me, my_password) = bed.new_account("guipwme");
    let (host_jid, host_password) = bed.new_account("guipwhost");
    let room = bed.new_room("guipwroom");
    let window = Window::new(app, core.clone());
    window.set_default_size(1100, 700);
    window.present();
    let session = gui_bed_support::unlock_with_bed_account(
        &window,
        &core,
        "gui password passphrase",
        &me,
        &my_password,
    );
    let mut host = Peer::spawn(bed, &host_jid, &host_password);
    host.send_cmd(&serde_json::json!({
        "cmd": "join", "room": room, "nick": "badger",
        "config": {"muc#roomconfig_roomsecret": "first secret"},
    }));
    host.wait_event(|e| e["event"] == "joined", LONG);
    gui_bed_support::wait_until_online(&session, &me);

    join(&core, &me, &room, Some("first secret"));
    mole_in(&mut host, &room, true);
    pump_until("the room under Rooms", || session.lists_as_room(&me, &room));
    session.open_conversation(&me, &room);

    // Kicked, then Rejoin: the password used to join is used again.
    host.take_pending();
    kick_mole(&mut host, &room);
    mole_in(&mut host, &room, false);
    pump_until("Rejoin offered", || rejoin_button(&window).is_some());
    host.take_pending();
    rejoin_button(&window).expect("Rejoin").emit_clicked();
    mole_in(&mut host, &room, true);
    pump_until("Rejoin gone once joined", || {
        rejoin_button(&window).is_none()
    });

    // The owner changes the password and kicks again: Rejoin is refused and asks for it.
    host.send_cmd(&serde_json::json!({
        "cmd": "configure", "room": room,
        "config": {"muc#roomconfig_roomsecret": "second secret"},
    }));
    host.wait_event(|e| e["event"] == "ack" && e["cmd"] == "configure", LONG);
    host.take_pending();
    kick_mole(&mut host, &room);
    mole_in(&mut host, &room, false);
    pump_until("Rejoin offered again", || rejoin_button(&window).is_some());
    rejoin_button(&window).expect("Rejoin").emit_clicked();
    pump_until("the password question", || {
        dialog(app, "Room password", "needs a password").is_some()
    });
    assert!(
        window
            .toast_titles()
            .iter()
            .any(|t| t.contains("Could not join") && t.contains("Wrong password")),
        "the refusal is not told: {:?}",
        window.toast_titles()
    );
    pump(Duration::from_millis(300));
    gui_support::screenshot(&display, "room_extras_3_password_asked");
    let answer = |text: &str, asked: &str| {
        let d = dialog(app, "Room password", asked).expect("the password question");
        let entry = find_widget::<gtk4::PasswordEntry>(d.upcast_ref(), &|_| true)
            .expect("the password entry");
        entry.set_text(text);
        d.response("join");
    };
    answer("a wrong guess", "needs a password");
    pump_until("the wrong password told in the question", || {
        dialog(app, "Room password", "Wrong password").is_some()
    });
    let shown = visible_texts(window.upcast_ref());
    assert!(
        shown.contains("Wrong password"),
        "the room's row does not say the password was wrong:\n{shown}"
    );
    gui_support::screenshot(&display, "room_extras_4_wrong_password");
    host.take_pending();
    answer("second secret", "Wrong password");
    mole_in(&mut host, &room, true);
    pump_until("Rejoin gone once joined with the new password", || {
        rejoin_button(&window).is_none()
    });
    assert!(
        dialog(app, "Room password", "").is_none(),
        "a password question is still open after joining"
    );
}

/// The open conversation's header subtitle, when the header shows `title`.
fn header_subtitle(window: &Window, title: &str) -> Option<String> {
    find_widget::<adw::WindowTitle>(window.upcast_ref(), &|t| t.title() == title)
        .map(|t| t.subtitle().to_string())
}
