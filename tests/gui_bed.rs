//! The window against the real bed: a profile with an account on the bed's Prosody, reached
//! through the bed's private Tor network. The account goes online (shown in the sidebar), a
//! message from the Python peer appears in the window (widget tree + screenshot), the answer
//! typed into the composer reaches the peer, adding the peer to the contacts from the
//! conversation settings asks them for presence, the Tor popover shows the account's circuit, a
//! private room created with the room dialog admits the peer invited from its panel (who then
//! shows among the occupants and talks, and sees us leave), and locking leaves no message text
//! in the window.

mod gui_bed_support;
mod gui_support;
mod support;

use std::time::Duration;

use gtk4::prelude::*;
use libadwaita as adw;
use talpa::core::CoreHandle;
use talpa::ui::conversation_settings_dialog::ConversationSettingsDialog;
use talpa::ui::window::Window;

use gui_bed_support::bed_options;
use gui_support::{find_widget, pump, pump_until, visible_texts};
use support::{Peer, bed};

const LONG: Duration = Duration::from_secs(120);
const FROM_PEER: &str = "hello window, from the slixmpp peer";
const FROM_WINDOW: &str = "answer typed into the Talpa window";
const IN_ROOM: &str = "hello cell, from the invited peer";

#[test]
fn the_window_receives_a_peer_message_through_tor_and_answers_it() {
    if gui_support::is_gui_child() {
        gui_support::run_app_checks_with(bed_options, checks);
        return;
    }
    // Bring the bed up before the child starts (it is shared and reused).
    let _ = bed();
    gui_support::run_as_gui_child("the_window_receives_a_peer_message_through_tor_and_answers_it");
}

#[allow(clippy::needless_pass_by_value)] // the signature run_app_checks_with expects
fn checks(app: &adw::Application, core: CoreHandle) {
    let display = std::env::var("DISPLAY").expect("DISPLAY set by the parent");
    let bed = bed();
    let (me, my_password) = bed.new_account("gui");
    let (peer_jid, peer_password) = bed.new_account("guipeer");
    let (window, session) =
        gui_bed_support::window_on_bed(app, &core, "gui bed passphrase", &me, &my_password);
    // An OMEMO peer: the answer typed in the window travels encrypted (on by default).
    let mut peer = Peer::spawn_with(
        bed,
        &peer_jid,
        &peer_password,
        &support::PeerOptions {
            omemo: true,
            ..support::PeerOptions::default()
        },
    );
    gui_bed_support::wait_until_online(&session, &me);
    // As in support::headless::talpa_online: let the server take in our presence first.
    pump(Duration::from_secs(2));
    gui_support::screenshot(&display, "bed_1_account_online");

    peer.send_message(&me, FROM_PEER);
    pump_until("the peer's message in the sidebar", || {
        visible_texts(window.upcast_ref()).contains(&peer_jid)
    });
    session.open_conversation(&me, &peer_jid);
    pump_until("the peer's message in the conversation", || {
        visible_texts(window.upcast_ref()).contains(FROM_PEER)
    });
    pump(Duration::from_millis(500));
    gui_support::screenshot(&display, "bed_2_message_received");
    let view = session.conversation_view().expect("conversation view");
    let row = find_widget::<talpa::ui::chat::MessageRow>(view.upcast_ref(), &|row| {
        visible_texts(row.upcast_ref()).contains(FROM_PEER)
    })
    .expect("a message row holds the peer's message");
    let row_text = visible_texts(row.upcast_ref());
    assert!(
        row_text.contains(&peer_jid),
        "the row does not name the sender:\n{row_text}"
    );
    assert!(
        row_text.contains("NOT ENCRYPTED"),
        "the plaintext message is not flagged:\n{row_text}"
    );

    let composer = find_widget::<gtk4::Entry>(view.upcast_ref(), &|e| {
        e.placeholder_text().is_some_and(|p| p.contains(&peer_jid))
    })
    .expect("the composer");
    composer.set_text(FROM_WINDOW);
    composer.emit_activate();
    pump_until("our answer in the conversation", || {
        visible_texts(window.upcast_ref()).contains(FROM_WINDOW)
    });
    let got = peer.wait_message(FROM_WINDOW, LONG);
    assert_eq!(
        got["from"]
            .as_str()
            .map(|f| f.split('/').next().unwrap_or(f)),
        Some(me.as_str()),
        "the peer got the answer from someone else: {got}"
    );
    gui_support::screenshot(&display, "bed_3_answer_sent");

    // Conversation settings → Add to Contacts: the peer is asked to share presence.
    session.show_conversation_settings();
    pump_until("the conversation settings", || {
        app.windows()
            .into_iter()
            .any(|w| w.is::<talpa::ui::conversation_settings_dialog::ConversationSettingsDialog>())
    });
    let settings = app
        .windows()
        .into_iter()
        .find_map(|w| w.downcast::<ConversationSettingsDialog>().ok())
        .expect("the conversation settings");
    let add = find_widget::<gtk4::Button>(settings.upcast_ref(), &|b| {
        b.label().as_deref() == Some("Add to Contacts")
    })
    .expect("the Add to Contacts button");
    add.emit_clicked();
    pump_until("the contact to be added", || {
        add.label().as_deref() == Some("Remove from Contacts")
    });
    pump(Duration::from_millis(500));
    gui_support::screenshot(&display, "bed_3b_contact_added");
    let asked = peer.wait_event(
        |e| e["event"] == "subscribe" && e["from"] == me.as_str(),
        LONG,
    );
    assert_eq!(asked["from"], me.as_str());
    settings.close();

    let indicator = session.tor_indicator().clone();
    indicator.popup();
    pump_until("the account's circuit in the Tor popover", || {
        indicator.circuits_text().contains("guard 127.0.0.1:")
    });
    let circuits = indicator.circuits_text();
    assert!(
        circuits.contains(&me) && circuits.contains("exit 127.0.0.1:"),
        "the popover does not show the account's circuit:\n{circuits}"
    );
    pump(Duration::from_millis(500));
    gui_support::screenshot(&display, "bed_4_tor_popover_circuit");

    indicator.popdown();
    create_room_and_talk_in_it(app, &window, &session, &me, &peer_jid, &mut peer);

    drop(session);
    window.lock();
    pump_until("the lock", || !window.is_unlocked());
    // Let dismissed notices finish their hide animation.
    pump(Duration::from_secs(1));
    let shown = visible_texts(window.upcast_ref());
    for text in [FROM_PEER, FROM_WINDOW, IN_ROOM, peer_jid.as_str()] {
        assert!(!shown.contains(text), "{text:?} is still shown after lock");
    }
}

/// The create-room dialog makes a private room; the panel invites the peer, who joins and talks.
fn create_room_and_talk_in_it(
    app: &adw::Application,
    window: &Window,
    session: &talpa::ui::session_view::SessionView,
    me: &str,
    peer_jid: &str,
    peer: &mut Peer,
) {
    let display = std::env::var("DISPLAY").expect("DISPLAY set by the parent");
    let room = bed().new_room("guiroom");
    WidgetExt::activate_action(window, "win.create-room", None).expect("win.create-room");
    pump_until("the create-room dialog", || {
        app.windows()
            .into_iter()
            .any(|w| w.is::<talpa::ui::room_dialog::RoomDialog>())
    });
    let dialog = app
        .windows()
        .into_iter()
        .find_map(|w| w.downcast::<talpa::ui::room_dialog::RoomDialog>().ok())
        .expect("the room dialog");
    let entry_row = |title: &str| {
        find_widget::<adw::EntryRow>(dialog.upcast_ref(), &|r: &adw::EntryRow| {
            libadwaita::prelude::PreferencesRowExt::title(r).starts_with(title)
        })
        .unwrap_or_else(|| panic!("the {title} row"))
    };
    entry_row("Room address").set_text(&room);
    entry_row("Nickname").set_text("mole");
    let create = find_widget::<gtk4::Button>(dialog.upcast_ref(), &|b| {
        b.label().as_deref() == Some("Create")
    })
    .expect("the Create button");
    create.emit_clicked();
    pump_until("the new room under Rooms", || {
        session.lists_as_room(me, &room)
    });
    session.open_conversation(me, &room);
    let room_button = find_widget::<gtk4::ToggleButton>(window.upcast_ref(), &|t| {
        t.icon_name().as_deref() == Some("system-users-symbolic")
    })
    .expect("the room panel button");
    room_button.set_active(true);
    let panel = session.room_panel().expect("room panel").clone();
    pump_until("ourselves among the occupants", || {
        visible_texts(panel.upcast_ref()).contains("mole")
    });
    let invite_entry =
        find_widget::<gtk4::Entry>(panel.upcast_ref(), &|_| true).expect("the invite entry");
    invite_entry.set_text(peer_jid);
    invite_entry.emit_activate();
    pump_until("the invitation to be sent", || {
        invite_entry.text().is_empty()
    });
    peer.send_cmd(&serde_json::json!({"cmd": "join", "room": room, "nick": "badger"}));
    let joined = peer.wait_event(|e| e["event"] == "joined" || e["event"] == "error", LONG);
    assert_eq!(
        joined["event"], "joined",
        "the invited peer was refused: {joined}"
    );
    pump_until("the peer among the occupants", || {
        visible_texts(panel.upcast_ref()).contains("badger")
    });
    peer.send_cmd(&serde_json::json!({"cmd": "groupchat", "room": room, "body": IN_ROOM}));
    pump_until("the peer's room message", || {
        visible_texts(window.upcast_ref()).contains(IN_ROOM)
    });
    pump(Duration::from_secs(1));
    gui_support::screenshot(&display, "bed_5_private_room_with_invited_peer");

    let leave = find_widget::<gtk4::Button>(panel.upcast_ref(), &|b| {
        b.label().as_deref() == Some("Leave Room")
    })
    .expect("the Leave Room button");
    leave.emit_clicked();
    pump_until("the room to leave the sidebar", || {
        !session.lists_as_room(me, &room)
    });
    let left = peer.wait_event(
        |e| e["event"] == "occupant" && e["nick"] == "mole" && e["available"] == false,
        LONG,
    );
    assert_eq!(left["room"], room.as_str(), "{left}");
}
