//! In-process GUI test of rooms: rooms are listed apart from 1:1 conversations, an open room
//! shows its occupants panel, and the create/join dialogs open in their modes (with the
//! explanation of "private" only when creating); a retracted message loses its text; the Ctrl+K
//! switcher finds and opens a room. Screenshots are kept.

mod gui_support;

use std::time::Duration;

use gtk4::prelude::*;
use libadwaita as adw;
use talpa::core::events::{Occupant, StoredMessage};
use talpa::core::{CoreHandle, Event};
use talpa::ui::conversation_switcher_dialog::ConversationSwitcherDialog;
use talpa::ui::room_dialog::RoomDialog;

use gui_support::pump;

#[test]
fn rooms_are_listed_apart_and_show_their_occupants() {
    if gui_support::is_gui_child() {
        gui_support::run_app_checks(checks);
        return;
    }
    gui_support::run_as_gui_child("rooms_are_listed_apart_and_show_their_occupants");
}

fn texts(widget: &gtk4::Widget, out: &mut Vec<String>) {
    if let Some(label) = widget.downcast_ref::<gtk4::Label>()
        && label.is_child_visible()
    {
        out.push(label.label().to_string());
    }
    let mut child = widget.first_child();
    while let Some(c) = child {
        texts(&c, out);
        child = c.next_sibling();
    }
}

fn all_texts(widget: &impl IsA<gtk4::Widget>) -> String {
    let mut out = Vec::new();
    texts(widget.upcast_ref(), &mut out);
    out.join("\n")
}

fn find<T: IsA<gtk4::Window>>(app: &adw::Application) -> Option<T> {
    app.windows()
        .into_iter()
        .find_map(|w| w.downcast::<T>().ok())
}

const ALICE: &str = "alice@talpa.test";
const ROOM: &str = "plans@rooms.talpa.test";

fn checks(app: &adw::Application, core: CoreHandle) {
    let display = std::env::var("DISPLAY").expect("DISPLAY set by the parent");
    let (window, session) = gui_support::unlocked_window_with_account(app, core, ALICE, "1w");
    window.on_event(&Event::Roster {
        account: ALICE.into(),
        contacts: vec!["carol@talpa.test".into()],
    });
    window.on_event(&Event::RoomJoined {
        account: ALICE.into(),
        room: ROOM.into(),
        nick: "mole".into(),
        created: true,
    });
    window.on_event(&Event::Occupants {
        account: ALICE.into(),
        room: ROOM.into(),
        occupants: vec![
            Occupant {
                nick: "mole".into(),
                role: Some("moderator".into()),
                affiliation: Some("owner".into()),
                jid: Some(ALICE.into()),
                occupant_id: None,
                lookalike_of: None,
            },
            Occupant {
                nick: "badger".into(),
                role: Some("participant".into()),
                affiliation: Some("member".into()),
                jid: Some("bob@talpa.test".into()),
                occupant_id: None,
                lookalike_of: None,
            },
            Occupant {
                nick: "badg\u{435}r".into(),
                role: Some("participant".into()),
                affiliation: Some("none".into()),
                jid: None,
                occupant_id: None,
                lookalike_of: Some("badger".into()),
            },
        ],
    });
    assert!(
        session.lists_as_room(ALICE, ROOM),
        "the room is not under Rooms"
    );
    assert!(
        !session.lists_as_room(ALICE, "carol@talpa.test"),
        "a contact is listed as a room"
    );

    session.open_conversation(ALICE, ROOM);
    window.on_event(&Event::Message(StoredMessage {
        id: 1,
        account: ALICE.into(),
        with: ROOM.into(),
        direction: "in".into(),
        from: "badger".into(),
        body: "room hello".into(),
        timestamp_ms: 1_700_000_000_000,
        encryption: "none".into(),
        corrected: false,
        retracted: false,
        origin_id: None,
        notes: talpa::core::events::MessageNotes::default(),
    }));
    let room_button = find_toggle(window.upcast_ref()).expect("the room panel button exists");
    assert!(room_button.is_visible(), "an open room offers its panel");
    room_button.set_active(true);
    pump(Duration::from_secs(1));
    gui_support::screenshot(&display, "room_with_occupants_panel");
    let panel = session.room_panel().expect("the room panel exists");
    let shown = all_texts(panel);
    for expected in [
        "badger",
        "Member · bob@talpa.test",
        "Owner · alice@talpa.test",
        "Looks like badger: may be someone else · Not a member · address hidden",
    ] {
        assert!(
            shown.contains(expected),
            "the occupants panel lacks {expected:?}:\n{shown}"
        );
    }
    assert!(
        all_texts(&window).contains("room hello"),
        "the room message is not shown"
    );

    // A retraction removes the text and says so.
    window.on_event(&Event::MessageUpdated(StoredMessage {
        id: 1,
        account: ALICE.into(),
        with: ROOM.into(),
        direction: "in".into(),
        from: "badger".into(),
        body: String::new(),
        timestamp_ms: 1_700_000_000_000,
        encryption: "none".into(),
        corrected: false,
        retracted: true,
        origin_id: None,
        notes: talpa::core::events::MessageNotes::default(),
    }));
    pump(Duration::from_millis(300));
    let shown = all_texts(&window);
    assert!(
        shown.contains("This message was deleted.") && !shown.contains("room hello"),
        "the retraction is not shown:\n{shown}"
    );

    // A 1:1 conversation hides the room panel.
    session.open_conversation(ALICE, "carol@talpa.test");
    pump(Duration::from_millis(300));
    assert!(
        !room_button.is_visible(),
        "a 1:1 conversation shows a room panel"
    );

    // Ctrl+K: typing part of the room's address and choosing it opens the room again.
    WidgetExt::activate_action(&window, "win.switch-conversation", None)
        .expect("win.switch-conversation");
    pump(Duration::from_millis(500));
    let switcher =
        find::<ConversationSwitcherDialog>(app).expect("the conversation switcher is shown");
    assert_eq!(
        switcher.n_results(),
        2,
        "the switcher lists every conversation"
    );
    switcher.search("PLANS");
    assert_eq!(
        switcher.n_results(),
        1,
        "the search does not narrow the list"
    );
    pump(Duration::from_millis(300));
    gui_support::screenshot(&display, "conversation_switcher");
    switcher.choose(0);
    pump(Duration::from_millis(300));
    assert!(
        room_button.is_visible(),
        "choosing the room in the switcher did not open it"
    );
    assert!(
        find::<ConversationSwitcherDialog>(app).is_none(),
        "the switcher stayed open"
    );

    WidgetExt::activate_action(&window, "win.create-room", None).expect("win.create-room");
    pump(Duration::from_secs(1));
    let dialog = find::<RoomDialog>(app).expect("the create-room dialog is shown");
    assert!(dialog.is_creating(), "create-room opened the join dialog");
    let text = all_texts(&dialog);
    assert!(
        text.contains("members-only"),
        "the create dialog does not explain what private means:\n{text}"
    );
    gui_support::screenshot(&display, "create_room_dialog");
    dialog.close();
    pump(Duration::from_millis(300));

    WidgetExt::activate_action(&window, "win.join-room", None).expect("win.join-room");
    pump(Duration::from_secs(1));
    let dialog = find::<RoomDialog>(app).expect("the join-room dialog is shown");
    assert!(!dialog.is_creating(), "join-room opened the create dialog");
    gui_support::screenshot(&display, "join_room_dialog");

    window.on_event(&Event::Locked);
    pump(Duration::from_millis(500));
    assert!(
        find::<RoomDialog>(app).is_none(),
        "the room dialog survived the lock"
    );
    assert!(
        !all_texts(&window).contains("badger"),
        "an occupant is still shown after lock"
    );
}

fn find_toggle(widget: &gtk4::Widget) -> Option<gtk4::ToggleButton> {
    if let Some(t) = widget.downcast_ref::<gtk4::ToggleButton>()
        && t.icon_name().as_deref() == Some("system-users-symbolic")
    {
        return Some(t.clone());
    }
    let mut child = widget.first_child();
    while let Some(c) = child {
        if let Some(found) = find_toggle(&c) {
            return Some(found);
        }
        child = c.next_sibling();
    }
    None
}
