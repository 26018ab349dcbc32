//! Contact names given on this computer: named through the conversation settings' *Name*
//! entry, the sidebar row and the header show the name, with the address still visible (the
//! row's subtitle and tooltip, the header's subtitle); a hostile name is shown cleaned; the
//! name comes back after lock and unlock (kept in the encrypted store); emptied, the address
//! is shown again. Elsewhere too: search results (the conversation, with the address in the
//! tooltip, and what matched said to a screen reader, as is the message a result opens), the
//! message box's placeholder, the contact's messages, a notification's title (only where
//! senders may be shown), the
//! conversation settings' title and the account's contacts, all following a rename at once
//! (the conversation switcher too, while it is open); a room's occupants name an occupant
//! only through the real address the room gave; a name with `&` or `<` is shown as text. In-process, with the real core on a temporary
//! profile (no server needed).
//!
//! Runs as a child of itself on a private Xvfb (see `gui_support::run_as_gui_child`).

mod gui_support;

use std::time::Duration;

use gtk4::glib;
use gtk4::prelude::*;
use libadwaita as adw;
use libadwaita::prelude::*;
use talpa::core::commands::{NewAccount, Secret};
use talpa::core::{Command, CoreHandle, Event, Reply};
use talpa::ui::account_window::AccountWindow;
use talpa::ui::chat::{MessageRow, found_message};
use talpa::ui::contact_name_row;
use talpa::ui::contact_requests_view::AccountContacts;
use talpa::ui::conversation_settings_dialog::ConversationSettingsDialog;
use talpa::ui::conversation_switcher_dialog::ConversationSwitcherDialog;
use talpa::ui::search_dialog::SearchDialog;
use talpa::ui::session_view::SessionView;
use talpa::ui::window::Window;

use gui_support::{find_widget, pump, pump_until};

const ALICE: &str = "alice@talpa.test";
const CAROL: &str = "carol@talpa.test";

#[test]
fn a_contact_named_on_this_computer_shows_its_name_with_the_address_beside_it() {
    if gui_support::is_gui_child() {
        gui_support::run_app_checks(checks);
        return;
    }
    gui_support::run_as_gui_child(
        "a_contact_named_on_this_computer_shows_its_name_with_the_address_beside_it",
    );
}

fn call(core: &CoreHandle, command: Command) -> Reply {
    let name = command.name();
    glib::MainContext::default()
        .block_on(core.call(command))
        .unwrap_or_else(|e| panic!("{name} failed: {e}"))
}

fn find<T: IsA<gtk4::Window>>(app: &adw::Application) -> Option<T> {
    app.windows()
        .into_iter()
        .find_map(|w| w.downcast::<T>().ok())
}

/// The sidebar row of Carol's conversation: (title, subtitle, the title's tooltip).
fn sidebar_row(session: &SessionView) -> Option<(String, String, String)> {
    let row = find_widget::<adw::ActionRow>(session.upcast_ref(), &|r| {
        r.subtitle().is_some_and(|s| s.contains(ALICE))
            && (r.title() == CAROL || r.subtitle().is_some_and(|s| s.contains(CAROL)))
    })?;
    let tooltip = find_widget::<gtk4::Label>(row.upcast_ref(), &|l| l.has_css_class("title"))
        .and_then(|l| l.tooltip_text())
        .map(|t| t.to_string())
        .unwrap_or_default();
    Some((
        row.title().to_string(),
        row.subtitle().map(|s| s.to_string()).unwrap_or_default(),
        tooltip,
    ))
}

/// The header of the open conversation: (title, subtitle).
fn header(session: &SessionView) -> Option<(String, String)> {
    find_widget::<adw::WindowTitle>(session.upcast_ref(), &|t| t.subtitle().contains(ALICE))
        .map(|t| (t.title().to_string(), t.subtitle().to_string()))
}

/// Types `text` into the settings dialog's name entry and applies it.
fn rename(app: &adw::Application, session: &SessionView, text: &str) {
    session.show_conversation_settings();
    pump_until("the settings dialog", || {
        find::<ConversationSettingsDialog>(app).is_some()
    });
    let dialog = find::<ConversationSettingsDialog>(app).expect("settings dialog");
    let entry = find_widget::<adw::EntryRow>(dialog.upcast_ref(), &|r| {
        r.title() == contact_name_row::TITLE
    })
    .expect("the name entry");
    assert!(
        entry
            .tooltip_text()
            .is_some_and(|t| t.contains("server never learns")),
        "the entry says where the name is kept"
    );
    entry.set_text(text);
    entry.emit_by_name::<()>("apply", &[]);
    pump_until("the toast of the saved name", || {
        gui_support::visible_texts(dialog.upcast_ref()).contains("Name")
    });
    dialog.close();
    pump_until("the dialog closed", || {
        find::<ConversationSettingsDialog>(app).is_none()
    });
}

/// A presented window on a new profile whose core stores Alice's account (its server never
/// answers: port 9), as both checks start.
fn window_with_alice(app: &adw::Application, core: &CoreHandle) -> Window {
    let window = Window::new(app, core.clone());
    window.set_default_size(1000, 700);
    window.present();
    pump(Duration::from_millis(300));
    call(
        core,
        Command::CreateProfile {
            passphrase: Secret::new("names"),
        },
    );
    call(
        core,
        Command::AddAccount(NewAccount {
            jid: ALICE.into(),
            password: Secret::new("pw"),
            host: Some("127.0.0.1".into()),
            port: Some(9),
            direct_tls: false,
            trust_anchor_pem: None,
            local_only_contacts: false,
            dot_resolver: None,
            retention: Some("1w".into()),
        }),
    );
    window
}

#[allow(clippy::needless_pass_by_value)] // the signature run_app_checks expects
fn checks(app: &adw::Application, core: CoreHandle) {
    let window = window_with_alice(app, &core);
    let core = &core;
    // A stored conversation with Carol (the message waits in the outbox).
    call(
        core,
        Command::Send {
            account: ALICE.into(),
            to: CAROL.into(),
            body: "hello".into(),
        },
    );
    pump_until("the session view", || window.is_unlocked());
    let session = window.session().expect("session view");
    window.reload_accounts();
    pump_until("the account list", || !session.account_jids().is_empty());
    session.open_conversation(ALICE, CAROL);
    pump_until("Carol's row, by address", || {
        sidebar_row(&session).is_some_and(|(title, ..)| title == CAROL)
    });

    // A name another client put in the server roster shows; one given here wins over it.
    let roster = std::collections::BTreeMap::from([(CAROL.to_owned(), "Roster Carol".to_owned())]);
    window.on_event(&Event::ContactNames {
        account: ALICE.into(),
        names: std::collections::BTreeMap::new(),
        roster_names: roster.clone(),
    });
    pump_until("the roster's name shown", || {
        sidebar_row(&session).is_some_and(|(title, ..)| title == "Roster Carol")
    });
    window.on_event(&Event::ContactNames {
        account: ALICE.into(),
        names: std::collections::BTreeMap::from([(CAROL.to_owned(), "Mine".to_owned())]),
        roster_names: roster,
    });
    pump_until("the local name wins", || {
        sidebar_row(&session).is_some_and(|(title, ..)| title == "Mine")
    });

    // Named in the settings: a right-to-left override and a line break do not survive.
    rename(app, &session, "Carol \u{202e}from\nwork");
    pump_until("the row named", || {
        sidebar_row(&session).is_some_and(|(title, ..)| title == "Carol from work")
    });
    let (_, subtitle, tooltip) = sidebar_row(&session).expect("row");
    assert!(
        subtitle.contains(CAROL),
        "the address stays visible: {subtitle}"
    );
    assert_eq!(tooltip, CAROL, "the whole address in the tooltip");
    pump_until("the header named", || {
        header(&session)
            .is_some_and(|(title, subtitle)| title == "Carol from work" && subtitle.contains(CAROL))
    });
    let display = std::env::var("DISPLAY").expect("DISPLAY set by the parent");
    pump(Duration::from_millis(500));
    gui_support::screenshot(&display, "contact_named");

    // The conversation switcher finds Carol by her name too.
    window.switch_conversation();
    pump_until("the switcher", || {
        find::<ConversationSwitcherDialog>(app).is_some()
    });
    let switcher = find::<ConversationSwitcherDialog>(app).expect("switcher");
    switcher.search("FROM WO");
    pump_until("Carol found by name", || switcher.n_results() == 1);
    switcher.search("nobody");
    pump_until("no one else", || switcher.n_results() == 0);
    switcher.close();
    pump_until("the switcher closed", || {
        find::<ConversationSwitcherDialog>(app).is_none()
    });

    // Kept in the encrypted store: named again after lock and unlock.
    window.lock();
    pump_until("locked", || !window.is_unlocked());
    call(
        core,
        Command::Unlock {
            passphrase: Secret::new("names"),
        },
    );
    pump_until("unlocked", || window.is_unlocked());
    let session = window.session().expect("session view");
    pump_until("the row named after unlock", || {
        sidebar_row(&session).is_some_and(|(title, ..)| title == "Carol from work")
    });

    // Emptied: the address again.
    session.open_conversation(ALICE, CAROL);
    rename(app, &session, "");
    pump_until("the row by address again", || {
        sidebar_row(&session)
            .is_some_and(|(title, subtitle, _)| title == CAROL && subtitle == ALICE)
    });
    let Reply::ContactNames { names, .. } = call(
        core,
        Command::ContactNames {
            account: ALICE.into(),
        },
    ) else {
        panic!("contact_names answers names")
    };
    assert!(names.is_empty(), "{names:?}");
}

#[test]
fn a_named_contact_is_named_in_search_notifications_the_composer_and_its_account() {
    if gui_support::is_gui_child() {
        gui_support::run_app_checks(elsewhere_checks);
        return;
    }
    gui_support::run_as_gui_child(
        "a_named_contact_is_named_in_search_notifications_the_composer_and_its_account",
    );
}

const DAVE: &str = "dave@talpa.test";

fn set_name(core: &CoreHandle, name: &str) {
    call(
        core,
        Command::SetContactName {
            account: ALICE.into(),
            jid: CAROL.into(),
            name: Some(name.into()),
        },
    );
}

/// The open conversation's message box: its placeholder.
fn placeholder(session: &SessionView) -> String {
    let view = session.conversation_view().expect("conversation view");
    find_widget::<gtk4::Entry>(view.upcast_ref(), &|e| {
        e.placeholder_text()
            .is_some_and(|p| p.starts_with("Message to"))
    })
    .and_then(|e| e.placeholder_text())
    .map(|p| p.to_string())
    .unwrap_or_default()
}

/// The search results' conversation lines: (text, tooltip), and each row's accessible label.
fn search_results(dialog: &SearchDialog) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    let mut stack = vec![dialog.clone().upcast::<gtk4::Widget>()];
    while let Some(w) = stack.pop() {
        if let Some(row) = w.downcast_ref::<gtk4::ListBoxRow>()
            && let Some(title) =
                find_widget::<gtk4::Label>(row.upcast_ref(), &|l| l.has_css_class("heading"))
        {
            out.push((
                title.text().to_string(),
                title
                    .tooltip_text()
                    .map(|t| t.to_string())
                    .unwrap_or_default(),
                talpa::ui::a11y::label_of(row).unwrap_or_default(),
            ));
            continue;
        }
        let mut child = w.first_child();
        while let Some(c) = child {
            child = c.next_sibling();
            stack.push(c);
        }
    }
    out
}

/// The accessible labels of the message rows highlighted as found by the search.
fn found_row_labels(session: &SessionView) -> Vec<String> {
    let view = session.conversation_view().expect("conversation view");
    let mut out = Vec::new();
    let mut stack = vec![view.list_view().clone().upcast::<gtk4::Widget>()];
    while let Some(w) = stack.pop() {
        if let Some(row) = w.downcast_ref::<MessageRow>() {
            if row.has_css_class(found_message::CLASS) {
                out.push(talpa::ui::a11y::label_of(row).unwrap_or_default());
            }
            continue;
        }
        let mut child = w.first_child();
        while let Some(c) = child {
            child = c.next_sibling();
            stack.push(c);
        }
    }
    out
}

/// The sender line of the message row showing `body`.
fn message_sender(session: &SessionView, body: &str) -> Option<String> {
    let view = session.conversation_view()?;
    let row = find_widget::<MessageRow>(view.list_view().upcast_ref(), &|r| {
        r.message().is_some_and(|m| m.body() == body)
    })?;
    find_widget::<gtk4::Label>(row.upcast_ref(), &|l| l.has_css_class("heading"))
        .map(|l| l.text().to_string())
}

fn incoming(id: i64, with: &str, body: &str) -> Event {
    Event::Message(talpa::core::events::StoredMessage {
        id,
        account: ALICE.into(),
        with: with.into(),
        direction: "in".into(),
        from: with.into(),
        body: body.into(),
        timestamp_ms: 1_700_000_000_000 + id,
        encryption: "none".into(),
        corrected: false,
        retracted: false,
        origin_id: None,
        notes: talpa::core::events::MessageNotes::default(),
    })
}

fn set_preference(core: &CoreHandle, key: &str, value: bool) {
    call(
        core,
        Command::SetPreference {
            key: key.into(),
            value: Some(value.to_string()),
        },
    );
}

#[allow(clippy::needless_pass_by_value, clippy::too_many_lines)] // run_app_checks' signature
fn elsewhere_checks(app: &adw::Application, core: CoreHandle) {
    let window = window_with_alice(app, &core);
    let core = &core;
    for (to, body) in [(CAROL, "the vole digs"), (DAVE, "hello dave")] {
        call(
            core,
            Command::Send {
                account: ALICE.into(),
                to: to.into(),
                body: body.into(),
            },
        );
    }
    pump_until("the session view", || window.is_unlocked());
    let session = window.session().expect("session view");
    window.reload_accounts();
    pump_until("the account list", || !session.account_jids().is_empty());
    session.open_conversation(ALICE, CAROL);
    pump_until("the composer names the address", || {
        placeholder(&session) == format!("Message to {CAROL}")
    });

    // The composer: the name, and a rename follows at once.
    set_name(core, "Carol & <Co>");
    pump_until("the composer names Carol", || {
        placeholder(&session) == "Message to Carol & <Co>"
    });
    pump_until("the sidebar shows the name as text", || {
        find_widget::<adw::ActionRow>(session.upcast_ref(), &|r| {
            r.subtitle().is_some_and(|s| s.contains(CAROL))
        })
        .and_then(|row| find_widget::<gtk4::Label>(row.upcast_ref(), &|l| l.has_css_class("title")))
        .is_some_and(|title| title.text() == "Carol & <Co>")
    });

    // Search: the conversation by its name, the address in the tooltip, what matched said to
    // a screen reader; a rename while the results are listed renames them.
    let search = talpa::ui::search_dialog::open(&window, core.clone(), &session);
    search.set_only_open_conversation(false);
    search.search("vole");
    pump_until("Carol's hit", || search.n_results() == 1);
    let results = search_results(&search);
    let (title, tooltip, label) = results.first().expect("one result");
    assert_eq!(title, "Carol & <Co>");
    assert!(
        tooltip.contains(CAROL),
        "the address one hover away: {tooltip}"
    );
    assert!(
        label.contains("Carol & <Co>") && label.contains(CAROL),
        "the screen reader hears name and address: {label}"
    );
    assert!(
        label.contains("Matched “vole”"),
        "the screen reader hears what matched: {label}"
    );
    set_name(core, "Carol from work");
    pump_until("the result renamed", || {
        search_results(&search)
            .first()
            .is_some_and(|(title, ..)| title == "Carol from work")
    });
    pump_until("the composer renamed", || {
        placeholder(&session) == "Message to Carol from work"
    });
    // Chosen: the message found says so to a screen reader too.
    search.choose(0);
    pump_until("the found message announced", || {
        found_row_labels(&session)
            .iter()
            .any(|l| l.starts_with("Found by the search") && l.contains("the vole digs"))
    });

    // Her messages are signed with her name, and follow a rename.
    window.on_event(&incoming(900_000, CAROL, "from carol"));
    pump_until("Carol's message signed with her name", || {
        message_sender(&session, "from carol").as_deref() == Some("Carol from work")
    });
    set_name(core, "Carol W");
    pump_until("Carol's message signed with her new name", || {
        message_sender(&session, "from carol").as_deref() == Some("Carol W")
    });

    // Notifications: the name only where the sender may be shown at all.
    session.open_conversation(ALICE, DAVE);
    pump_until("Dave open", || {
        session
            .conversation_view()
            .is_some_and(|v| v.is_showing(ALICE, DAVE) && !v.is_opening())
    });
    set_preference(core, "ui.notify.show_sender", false);
    set_preference(core, "ui.notify.show_body", true);
    window.reload_preferences();
    pump(Duration::from_millis(500));
    pump_until("a quiet period", || !session.notification_burst_open());
    window.on_event(&incoming(900_001, CAROL, "first"));
    let (title, body) = session.last_notification().expect("a notification");
    assert_eq!(title, "Talpa", "the sender stays hidden");
    assert!(
        !body.contains("Carol") && !body.contains(CAROL),
        "no name without the opt-in: {body}"
    );
    set_preference(core, "ui.notify.show_sender", true);
    window.reload_preferences();
    pump(Duration::from_millis(500));
    session.window_activated();
    pump_until("a quiet period", || !session.notification_burst_open());
    window.on_event(&incoming(900_002, CAROL, "second"));
    assert_eq!(
        session.last_notification(),
        Some(("Carol W".to_owned(), "second".to_owned()))
    );

    // The conversation settings: titled by the name, the address beneath.
    session.open_conversation(ALICE, CAROL);
    session.show_conversation_settings();
    pump_until("the settings dialog", || {
        find::<ConversationSettingsDialog>(app).is_some()
    });
    let dialog = find::<ConversationSettingsDialog>(app).expect("settings dialog");
    let dialog_title = || {
        find_widget::<adw::WindowTitle>(dialog.upcast_ref(), &|_| true)
            .map(|t| (t.title().to_string(), t.subtitle().to_string()))
            .unwrap_or_default()
    };
    pump_until("the dialog titled by the name", || {
        let (title, subtitle) = dialog_title();
        title == "Carol W" && subtitle.contains(CAROL)
    });
    dialog.close();

    // The account's contacts: the name over the address, and a rename follows.
    let account_window = AccountWindow::new(core.clone(), Some(window.upcast_ref()), ALICE);
    account_window.show_contacts(&AccountContacts {
        contacts: vec![CAROL.into(), DAVE.into()],
        blocked: Vec::new(),
    });
    account_window.present();
    let contact_row = |jid: &str| {
        find_widget::<adw::ActionRow>(account_window.upcast_ref(), &|r| {
            r.title() == jid || r.subtitle().is_some_and(|s| s == jid)
        })
        .map(|r| {
            (
                r.title().to_string(),
                r.subtitle().unwrap_or_default().to_string(),
            )
        })
    };
    assert_eq!(
        contact_row(CAROL),
        Some(("Carol W".to_owned(), CAROL.to_owned()))
    );
    assert_eq!(contact_row(DAVE), Some((DAVE.to_owned(), String::new())));
    set_name(core, "Carol B");
    pump_until("the contact renamed", || {
        contact_row(CAROL).is_some_and(|(title, _)| title == "Carol B")
    });
    account_window.close();
}

#[test]
fn a_room_occupant_is_named_only_through_its_real_address_never_its_nickname() {
    if gui_support::is_gui_child() {
        gui_support::run_app_checks(room_checks);
        return;
    }
    gui_support::run_as_gui_child(
        "a_room_occupant_is_named_only_through_its_real_address_never_its_nickname",
    );
}

const ROOM: &str = "plans@rooms.talpa.test";

fn names_event(name: &str) -> Event {
    Event::ContactNames {
        account: ALICE.into(),
        names: std::collections::BTreeMap::from([(CAROL.to_owned(), name.to_owned())]),
        roster_names: std::collections::BTreeMap::new(),
    }
}

fn occupant(nick: &str, jid: Option<&str>) -> talpa::core::events::Occupant {
    talpa::core::events::Occupant {
        nick: nick.into(),
        role: Some("participant".into()),
        affiliation: Some("member".into()),
        jid: jid.map(str::to_owned),
        occupant_id: None,
        lookalike_of: None,
    }
}

/// The room panel's occupant rows: (nick, subtitle).
fn occupant_rows(session: &SessionView) -> Vec<(String, String)> {
    let panel = session.room_panel().expect("the room panel");
    let mut out = Vec::new();
    let mut stack = vec![panel.clone().upcast::<gtk4::Widget>()];
    while let Some(w) = stack.pop() {
        if let Some(row) = w.downcast_ref::<adw::ActionRow>() {
            out.push((
                row.title().to_string(),
                row.subtitle().unwrap_or_default().to_string(),
            ));
            continue;
        }
        let mut child = w.first_child();
        while let Some(c) = child {
            child = c.next_sibling();
            stack.push(c);
        }
    }
    out.sort();
    out
}

#[allow(clippy::needless_pass_by_value)] // run_app_checks' signature
fn room_checks(app: &adw::Application, core: CoreHandle) {
    let (window, session) = gui_support::unlocked_window_with_account(app, core, ALICE, "1w");
    window.on_event(&Event::Roster {
        account: ALICE.into(),
        contacts: vec![CAROL.into(), DAVE.into()],
    });
    window.on_event(&names_event("Carol from work"));
    window.on_event(&Event::RoomJoined {
        account: ALICE.into(),
        room: ROOM.into(),
        nick: "mole".into(),
        created: true,
    });
    // Carol under a nick of her own; someone else under Carol's name as a nick, address hidden.
    window.on_event(&Event::Occupants {
        account: ALICE.into(),
        room: ROOM.into(),
        occupants: vec![
            occupant("badger", Some(CAROL)),
            occupant("Carol from work", None),
        ],
    });
    session.open_conversation(ALICE, ROOM);
    pump_until("the occupants", || occupant_rows(&session).len() == 2);
    assert_eq!(
        occupant_rows(&session),
        [
            (
                "Carol from work".to_owned(),
                "Member · address hidden".to_owned()
            ),
            (
                "badger".to_owned(),
                format!("Member · Carol from work ({CAROL})")
            ),
        ],
        "the name goes with the real address, the nick stays the occupant's"
    );
    window.on_event(&names_event("Carol B"));
    pump_until("the occupant renamed", || {
        occupant_rows(&session)
            .iter()
            .any(|(nick, subtitle)| nick == "badger" && subtitle.contains("Carol B"))
    });

    // The invite picker lists the contact by name, with the address.
    let panel = session.room_panel().expect("the room panel");
    let items: Vec<String> = talpa::ui::chat::invite_popover::contacts_for(panel);
    assert_eq!(items, [CAROL, DAVE]);
    let invite = find_widget::<gtk4::MenuButton>(panel.upcast_ref(), &|_| true)
        .expect("the invite picker button");
    find_widget::<gtk4::ToggleButton>(window.upcast_ref(), &|t| {
        t.icon_name().as_deref() == Some("system-users-symbolic")
    })
    .expect("the room panel button")
    .set_active(true);
    pump(Duration::from_millis(500));
    invite.popup();
    pump_until("the picker", || {
        invite.popover().is_some_and(|p| p.is_mapped())
    });
    let picker = invite.popover().expect("the picker");
    let labels = gui_support::visible_texts(picker.upcast_ref());
    assert!(
        labels.contains(&format!("Carol B ({CAROL})")) && labels.contains(DAVE),
        "{labels}"
    );
    invite.popdown();
}

#[test]
fn a_rename_while_the_conversation_switcher_is_open_shows_in_it_at_once() {
    if gui_support::is_gui_child() {
        gui_support::run_app_checks(switcher_checks);
        return;
    }
    gui_support::run_as_gui_child(
        "a_rename_while_the_conversation_switcher_is_open_shows_in_it_at_once",
    );
}

/// The conversation switcher's row of Carol's conversation: its title.
fn switcher_title(switcher: &ConversationSwitcherDialog) -> Option<String> {
    find_widget::<adw::ActionRow>(switcher.upcast_ref(), &|r| {
        r.title() == CAROL || r.subtitle().is_some_and(|s| s.contains(CAROL))
    })
    .map(|r| r.title().to_string())
}

#[allow(clippy::needless_pass_by_value)] // run_app_checks' signature
fn switcher_checks(app: &adw::Application, core: CoreHandle) {
    let (window, _session) = gui_support::unlocked_window_with_account(app, core, ALICE, "1w");
    window.on_event(&incoming(1, CAROL, "hello"));
    window.on_event(&names_event("Carol from work"));
    window.switch_conversation();
    pump_until("the switcher", || {
        find::<ConversationSwitcherDialog>(app).is_some()
    });
    let switcher = find::<ConversationSwitcherDialog>(app).expect("switcher");
    pump_until("Carol listed by name", || {
        switcher_title(&switcher).as_deref() == Some("Carol from work")
    });
    switcher.search("from work");
    pump_until("Carol found by name", || switcher.n_results() == 1);

    // Renamed by another of the user's clients (a roster push) while the switcher is open.
    window.on_event(&Event::ContactNames {
        account: ALICE.into(),
        names: std::collections::BTreeMap::new(),
        roster_names: std::collections::BTreeMap::from([(CAROL.to_owned(), "Carol B".to_owned())]),
    });
    pump_until("the old name no longer matches", || {
        switcher.n_results() == 0
    });
    switcher.search("carol b");
    pump_until("Carol found by her new name", || switcher.n_results() == 1);
    assert_eq!(switcher_title(&switcher).as_deref(), Some("Carol B"));
    // Renamed again with the switcher showing her row: the row follows.
    window.on_event(&names_event("Carol B from work"));
    pump_until("the row renamed", || {
        switcher_title(&switcher).as_deref() == Some("Carol B from work")
    });
    switcher.close();
}
