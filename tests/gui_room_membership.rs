//! Rooms in the window tell the truth about membership (issue: RoomLeft/RoomSubject had no
//! view). Against the real bed through Tor, a Python peer owns a room: its subject shows under
//! the room's title; when the peer kicks Talpa the room's row and header say so, the composer
//! is disabled and *Rejoin* enters the room again; after a ban the row says "Banned" with no
//! *Rejoin*, and joining again is refused with the reason in a toast; joining a members-only
//! room is refused with "Members only". Screenshots kept.

mod gui_bed_support;
mod gui_support;
mod support;

use std::time::Duration;

use gtk4::prelude::*;
use libadwaita as adw;
use talpa::core::{Command, CoreHandle};
use talpa::ui::window::Window;

use gui_bed_support::{LONG, bed_options, call, pump_until_peer};
use gui_support::{find_widget, pump, pump_until, visible_texts};
use support::{Peer, bed};

#[test]
fn removals_and_refused_joins_are_shown_and_the_subject_is_under_the_title() {
    if gui_support::is_gui_child() {
        gui_support::run_app_checks_with(bed_options, checks);
        return;
    }
    let _ = bed();
    gui_support::run_as_gui_child(
        "removals_and_refused_joins_are_shown_and_the_subject_is_under_the_title",
    );
}

fn composer(window: &Window) -> gtk4::Entry {
    let view = window.session().expect("session view");
    let chat = view
        .conversation_view()
        .expect("a conversation view")
        .clone();
    find_widget::<gtk4::Entry>(chat.upcast_ref(), &|_| true).expect("the composer")
}

fn rejoin_button(window: &Window) -> Option<gtk4::Button> {
    find_widget::<gtk4::Button>(window.upcast_ref(), &|b| {
        b.label().as_deref() == Some("Rejoin") && b.is_visible()
    })
}

fn join(core: &CoreHandle, me: &str, room: &str) {
    call(
        core,
        Command::JoinRoom {
            account: me.to_owned(),
            room: room.to_owned(),
            nick: "mole".into(),
            password: None,
            force: false,
        },
    );
}

#[allow(clippy::needless_pass_by_value, clippy::too_many_lines)] // run_app_checks_with's signature; one story
fn checks(app: &adw::Application, core: CoreHandle) {
    let display = std::env::var("DISPLAY").expect("DISPLAY set by the parent");
    let bed = bed();
    let (me, my_password) = bed.new_account("guimemb");
    let (host_jid, host_password) = bed.new_account("guimembhost");
    let room = bed.new_room("guimembroom");
    let closed = bed.new_room("guimembclosed");
    let window = Window::new(app, core.clone());
    window.set_default_size(1100, 700);
    window.present();
    let session = gui_bed_support::unlock_with_bed_account(
        &window,
        &core,
        "gui membership passphrase",
        &me,
        &my_password,
    );
    let mut host = Peer::spawn(bed, &host_jid, &host_password);
    host.send_cmd(&serde_json::json!({"cmd": "join", "room": room, "nick": "badger"}));
    host.wait_event(|e| e["event"] == "joined", LONG);
    host.send_cmd(&serde_json::json!({
        "cmd": "join", "room": closed, "nick": "badger",
        "config": {"muc#roomconfig_membersonly": true},
    }));
    host.wait_event(
        |e| e["event"] == "joined" && e["room"] == closed.as_str(),
        LONG,
    );
    host.send_cmd(&serde_json::json!({
        "cmd": "raw",
        "xml": format!(
            "<message to='{room}' type='groupchat'><subject>Plans for friday</subject></message>"
        ),
    }));
    gui_bed_support::wait_until_online(&session, &me);

    // Joined: the subject the room sends on entry shows under the title.
    join(&core, &me, &room);
    pump_until("the room under Rooms", || session.lists_as_room(&me, &room));
    session.open_conversation(&me, &room);
    pump_until("the subject under the room's title", || {
        visible_texts(window.upcast_ref()).contains("Plans for friday")
    });
    assert!(
        composer(&window).is_sensitive(),
        "a joined room's composer is disabled"
    );
    host.send_cmd(&serde_json::json!({
        "cmd": "raw",
        "xml": format!(
            "<message to='{room}' type='groupchat'><subject>Plans moved to saturday</subject></message>"
        ),
    }));
    pump_until("the new subject", || {
        visible_texts(window.upcast_ref()).contains("Plans moved to saturday")
    });
    gui_support::screenshot(&display, "room_membership_1_subject");

    // Kicked: the row and the header say so, the composer is off, Rejoin is offered.
    host.send_cmd(&serde_json::json!({
        "cmd": "iq",
        "xml": format!(
            "<iq type='set' to='{room}'><query xmlns='http://jabber.org/protocol/muc#admin'>\
             <item nick='mole' role='none'/></query></iq>"
        ),
    }));
    let removed = "You were removed from this room by an admin";
    pump_until("the kick in the window", || {
        visible_texts(window.upcast_ref()).contains(removed)
    });
    assert!(
        visible_texts(window.upcast_ref()).contains(&format!("Not in this room: {removed}")),
        "the header does not say the room was left:\n{}",
        visible_texts(window.upcast_ref())
    );
    assert!(
        !composer(&window).is_sensitive(),
        "the composer of a room we were kicked from works"
    );
    assert!(
        window.toast_titles().iter().any(|t| t.contains(removed)),
        "no notice of the kick: {:?}",
        window.toast_titles()
    );
    pump(Duration::from_millis(300));
    gui_support::screenshot(&display, "room_membership_2_kicked");
    let rejoin = rejoin_button(&window).expect("Rejoin is offered after a kick");
    pump_until_peer(&mut host, "Talpa kicked", |e| {
        e["event"] == "occupant" && e["nick"] == "mole" && e["available"] == false
    });
    host.take_pending();
    rejoin.emit_clicked();
    pump_until_peer(&mut host, "Talpa entering the room again", |e| {
        e["event"] == "occupant"
            && e["room"] == room.as_str()
            && e["nick"] == "mole"
            && e["available"] == true
    });
    pump_until("the composer enabled again", || {
        composer(&window).is_sensitive()
    });
    let shown = visible_texts(window.upcast_ref());
    assert!(
        !shown.contains("Not in this room") && !shown.contains(&format!("{removed} · {me}")),
        "the removal is still shown after rejoining:\n{shown}"
    );
    assert!(
        rejoin_button(&window).is_none(),
        "Rejoin is offered while joined"
    );

    // Banned: no Rejoin, and joining again is refused with the reason.
    host.send_cmd(&serde_json::json!({
        "cmd": "affiliation", "room": room, "jid": me, "affiliation": "outcast",
    }));
    pump_until("the ban in the window", || {
        visible_texts(window.upcast_ref()).contains("Banned: you were banned from this room")
    });
    assert!(
        !composer(&window).is_sensitive(),
        "the composer of a room we are banned from works"
    );
    assert!(
        rejoin_button(&window).is_none(),
        "Rejoin is offered after a ban"
    );
    join(&core, &me, &room);
    pump_until("the refused join told", || {
        window
            .toast_titles()
            .iter()
            .any(|t| t.contains("Could not join") && t.contains("Banned"))
    });

    // A members-only room we are not a member of.
    join(&core, &me, &closed);
    pump_until("the members-only refusal told", || {
        window.toast_titles().iter().any(|t| {
            t.contains(closed.as_str()) && t.contains("Members only: you are not a member")
        })
    });
    pump(Duration::from_millis(300));
    gui_support::screenshot(&display, "room_membership_3_refused");
}
