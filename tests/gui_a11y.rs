//! Every control has an accessible label (issue #8 item 10), beyond the windows
//! `gui_accounts` walks: the unlock page, the chat view with a conversation open (composer,
//! message rows, an own message's context menu, the editing bar, the deletion question and the
//! changed-key banner), a contact's devices window, the conversation switcher, the Tor popover,
//! a room with its side panel and invite picker, the contact requests, the account window
//! (contacts, blocking, archiving), the conversation settings, the room audit, the room
//! create/join dialogs, every preferences page, and (second test) the shortcuts and About
//! windows and the confirmations (clear one conversation, clear all history, wipe, remove an
//! account), each cancelled with nothing changed. Each shown control (see
//! `gui_support::unlabelled`) must have an accessible label (`a11y::set_label` or a template
//! `<accessibility>` label) or, for buttons, show text; every item of every menu model (menu
//! buttons, context menus) must have a label. What a screen reader really gets is checked
//! from outside by tests/gui_atspi.rs.
//!
//! In-process under a private Xvfb with a stub core (no profile, no bed): the views are fed the
//! events the core would send.

mod gui_support;

use std::time::Duration;

use gtk4::prelude::*;
use libadwaita as adw;
use libadwaita::prelude::*;
use talpa::core::events::{AuditFinding, Occupant, RoomAudit, StoredMessage};
use talpa::core::{CoreHandle, Event};
use talpa::ui::account_window::AccountWindow;
use talpa::ui::chat::MessageRow;
use talpa::ui::chat::room_audit_window::RoomAuditWindow;
use talpa::ui::contact_requests_view::AccountContacts;
use talpa::ui::conversation_settings_dialog::ConversationSettingsDialog;
use talpa::ui::conversation_switcher_dialog::ConversationSwitcherDialog;
use talpa::ui::devices_window::DevicesWindow;
use talpa::ui::models::ConversationObject;
use talpa::ui::preferences_window::PreferencesWindow;
use talpa::ui::room_dialog::RoomDialog;
use talpa::ui::window::Window;

use gui_support::{find_widget, pump, unlabelled};

const ALICE: &str = "alice@talpa.test";
const CAROL: &str = "carol@talpa.test";
const ROOM: &str = "plans@rooms.talpa.test";

#[test]
fn every_control_of_every_window_has_an_accessible_label() {
    if gui_support::is_gui_child() {
        gui_support::run_app_checks(checks);
        return;
    }
    gui_support::run_as_gui_child("every_control_of_every_window_has_an_accessible_label");
}

thread_local! {
    /// Every unlabelled control found so far, named with its window (all reported at the end).
    static MISSING: std::cell::RefCell<Vec<String>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Notes every unlabelled control under `widget` (the test fails at its end if any).
fn assert_labelled(what: &str, widget: &impl IsA<gtk4::Widget>) {
    for control in unlabelled(widget.upcast_ref()) {
        MISSING.with(|m| m.borrow_mut().push(format!("{what}: {control}")));
    }
}

fn message(id: i64, with: &str, direction: &str, body: &str) -> StoredMessage {
    // An own message is editable (has a menu) once stored with its origin id.
    StoredMessage {
        id,
        account: ALICE.into(),
        with: with.into(),
        direction: direction.into(),
        from: if direction == "in" {
            with.into()
        } else {
            ALICE.into()
        },
        body: body.into(),
        timestamp_ms: 1_700_000_000_000 + id * 60_000,
        encryption: "omemo2".into(),
        corrected: false,
        retracted: false,
        origin_id: Some(format!("origin-{id}")),
        notes: talpa::core::events::MessageNotes::default(),
    }
}

/// Whether a shown button labelled `label` is under `widget`.
fn shown_button(widget: &impl IsA<gtk4::Widget>, label: &str) -> bool {
    find_widget::<gtk4::Button>(widget.upcast_ref(), &|b| {
        b.is_mapped() && b.label().as_deref() == Some(label)
    })
    .is_some()
}

fn occupant(nick: &str, jid: &str) -> Occupant {
    Occupant {
        nick: nick.into(),
        role: Some("participant".into()),
        affiliation: Some("member".into()),
        jid: Some(jid.into()),
        occupant_id: None,
        lookalike_of: None,
    }
}

#[allow(clippy::needless_pass_by_value, clippy::too_many_lines)] // run_app_checks' signature; one walk
fn checks(app: &adw::Application, core: CoreHandle) {
    let window = gui_support::locked_window(app, core.clone());

    // The unlock page.
    assert!(!window.is_unlocked(), "a new window starts locked");
    assert_labelled("the unlock page", &window);

    // The session with an account, a contact request and a conversation open.
    let session =
        gui_support::unlock_with_accounts(&window, &[gui_support::online_account(ALICE, "1w")]);
    window.on_event(&Event::Roster {
        account: ALICE.into(),
        contacts: vec![CAROL.into(), "dave@talpa.test".into()],
    });
    window.on_event(&Event::SubscriptionRequest {
        account: ALICE.into(),
        from: "eve@talpa.test".into(),
    });
    session.open_conversation(ALICE, CAROL);
    window.on_event(&Event::Message(message(1, CAROL, "in", "hello")));
    window.on_event(&Event::Message(message(2, CAROL, "out", "hi there")));
    pump(Duration::from_secs(1));
    assert!(
        shown_button(&window, "Approve"),
        "the contact request is shown"
    );
    assert!(
        find_widget::<gtk4::Entry>(window.upcast_ref(), &WidgetExt::is_mapped).is_some(),
        "the composer is shown"
    );
    assert_labelled("the chat view with a conversation open", &window);

    // The banner announcing a contact's changed key.
    window.on_event(&Event::IdentityChanged {
        account: ALICE.into(),
        jid: CAROL.into(),
        device: 7,
        old_fingerprint: "aaaaaaaa bbbbbbbb".into(),
        new_fingerprint: "00000000 11111111".into(),
        old_was_verified: true,
    });
    pump(Duration::from_millis(500));
    assert!(
        shown_button(&window, "Review"),
        "the changed-key banner is shown"
    );
    assert_labelled("the chat view with the changed-key banner", &window);

    // The contact's devices window, the conversation switcher and the Tor popover.
    WidgetExt::activate_action(&session, "session.contact-devices", None)
        .expect("session.contact-devices");
    pump(Duration::from_millis(500));
    let devices = app
        .windows()
        .into_iter()
        .find(ObjectExt::is::<DevicesWindow>)
        .expect("the contact's devices window");
    assert_labelled("the contact's devices window", &devices);
    devices.close();
    WidgetExt::activate_action(&window, "win.switch-conversation", None)
        .expect("win.switch-conversation");
    pump(Duration::from_millis(500));
    let switcher = app
        .windows()
        .into_iter()
        .find(ObjectExt::is::<ConversationSwitcherDialog>)
        .expect("the conversation switcher");
    assert_labelled("the conversation switcher", &switcher);
    switcher.close();
    let indicator = session.tor_indicator();
    indicator.popup();
    pump(Duration::from_millis(500));
    let tor = find_widget::<gtk4::Popover>(indicator.upcast_ref(), &WidgetExt::is_mapped)
        .expect("the Tor popover");
    assert_labelled("the Tor popover", &tor);
    indicator.popdown();
    pump(Duration::from_millis(300));

    // An own message's context menu.
    let row = find_widget::<MessageRow>(window.upcast_ref(), &|r| {
        r.message().is_some_and(|m| m.outgoing())
    })
    .expect("the own message's row");
    assert!(row.show_menu(10.0, 10.0), "an own message has a menu");
    pump(Duration::from_millis(500));
    let menu = session
        .conversation_view()
        .expect("the conversation view")
        .menu_popover();
    assert!(menu.is_mapped(), "the message's menu is shown");
    assert_labelled("the message menu", &menu);
    menu.popdown();
    pump(Duration::from_millis(300));

    // The editing bar (correcting the last own message) and the deletion question.
    let view = session.conversation_view().expect("the conversation view");
    let own = view.last_own_message().expect("the own message");
    view.start_correction(&own);
    pump(Duration::from_millis(500));
    assert!(view.editing().is_some(), "the correction started");
    assert_labelled("the chat view while correcting", &window);
    view.cancel_correction();
    let count = app.windows().len();
    view.confirm_retraction(&own);
    pump(Duration::from_millis(500));
    let question = app
        .windows()
        .into_iter()
        .find_map(|w| w.downcast::<adw::MessageDialog>().ok())
        .expect("the deletion question");
    assert!(app.windows().len() > count);
    assert_labelled("the deletion question", &question);
    question.close();
    pump(Duration::from_millis(300));

    // The conversation settings.
    let conversation = ConversationObject::new(ALICE, CAROL);
    let dialog = ConversationSettingsDialog::new(core.clone(), &window, &conversation);
    dialog.present();
    pump(Duration::from_millis(500));
    assert_labelled("the conversation settings", &dialog);
    find_widget::<gtk4::Button>(dialog.upcast_ref(), &|b| {
        b.label().as_deref() == Some("Clear…")
    })
    .expect("the conversation settings' Clear… button")
    .emit_clicked();
    check_and_cancel("the clear-this-conversation confirmation");
    dialog.close();

    // The account window: contacts, blocking, archiving.
    let account = AccountWindow::new(core.clone(), Some(window.upcast_ref()), ALICE);
    account.show_contacts(&AccountContacts {
        contacts: vec![CAROL.into(), "mallory@talpa.test".into()],
        blocked: vec!["mallory@talpa.test".into(), "spam@talpa.test".into()],
    });
    account.present();
    pump(Duration::from_millis(500));
    assert!(
        shown_button(&account, "Unblock"),
        "the account window shows its block list"
    );
    assert_labelled("the account window", &account);
    account.close();

    // A room with its side panel and the invite picker.
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
            occupant("mole", ALICE),
            occupant("badger", "bob@talpa.test"),
        ],
    });
    session.open_conversation(ALICE, ROOM);
    let panel_button = find_widget::<gtk4::ToggleButton>(window.upcast_ref(), &|t| {
        t.icon_name().as_deref() == Some("system-users-symbolic")
    })
    .expect("the room panel button");
    panel_button.set_active(true);
    pump(Duration::from_secs(1));
    assert_labelled("the room with its panel", &window);
    let panel = session.room_panel().expect("the room panel");
    let invite = find_widget::<gtk4::MenuButton>(panel.upcast_ref(), &WidgetExt::is_mapped)
        .expect("the invite picker button");
    invite.popup();
    pump(Duration::from_millis(500));
    let picker = invite.popover().expect("the invite picker");
    assert!(picker.is_mapped(), "the invite picker is shown");
    assert!(
        shown_button(&picker, CAROL),
        "the invite picker lists the contacts"
    );
    assert_labelled("the invite picker", &picker);
    invite.popdown();
    pump(Duration::from_millis(300));

    // The room audit.
    let audit = RoomAuditWindow::new(
        &window,
        &RoomAudit {
            account: ALICE.into(),
            room: ROOM.into(),
            clean: false,
            members_only: false,
            real_jids_visible_to: "everyone".into(),
            public: true,
            archived: true,
            public_logs: false,
            password_protected: false,
            onion: false,
            members_without_keys: vec!["bob@talpa.test".into()],
            findings: vec![
                AuditFinding {
                    item: "public".into(),
                    level: "warning".into(),
                    text: "Anyone can find and enter this room.".into(),
                },
                AuditFinding {
                    item: "archived".into(),
                    level: "notice".into(),
                    text: "The server keeps the room's messages.".into(),
                },
            ],
        },
    );
    audit.present();
    pump(Duration::from_millis(500));
    assert_labelled("the room audit", &audit);
    audit.close();

    // The room create and join dialogs.
    for creating in [true, false] {
        let dialog = RoomDialog::new(core.clone(), &window, &[ALICE.to_owned()], creating);
        dialog.present();
        pump(Duration::from_millis(500));
        assert_labelled(
            if creating {
                "the create-room dialog"
            } else {
                "the join-room dialog"
            },
            &dialog,
        );
        dialog.close();
    }

    // Every preferences page.
    app.activate_action("preferences", None);
    pump(Duration::from_secs(1));
    let preferences = app
        .windows()
        .into_iter()
        .find_map(|w| w.downcast::<PreferencesWindow>().ok())
        .expect("the preferences");
    let mut pages = Vec::new();
    collect_pages(preferences.upcast_ref(), &mut pages);
    assert!(pages.len() > 1, "the preferences have several pages");
    for page in pages {
        preferences.set_visible_page(&page);
        pump(Duration::from_millis(500));
        assert_labelled(
            &format!("the preferences page {:?}", page.title()),
            &preferences,
        );
    }
    preferences.close();

    let missing = MISSING.with(std::cell::RefCell::take);
    assert!(missing.is_empty(), "unlabelled controls: {missing:#?}");
}

/// Every preferences page under `widget`, shown or not.
fn collect_pages(widget: &gtk4::Widget, out: &mut Vec<adw::PreferencesPage>) {
    if let Some(page) = widget.downcast_ref::<adw::PreferencesPage>() {
        out.push(page.clone());
        return;
    }
    let mut child = widget.first_child();
    while let Some(c) = child {
        collect_pages(&c, out);
        child = c.next_sibling();
    }
}

/// The shortcuts and About windows, the main menu and message context menus (their menu
/// models), and the confirmations the window asks before destroying something (clear all
/// history, wipe the profile, remove an account; clearing one conversation is checked in the
/// first test): each opened on a real (offline) profile,
/// checked for unlabelled controls and cancelled, after which the profile and its account are
/// still there.
#[test]
fn confirmations_shortcuts_and_about_are_labelled_and_cancelling_changes_nothing() {
    if gui_support::is_gui_child() {
        gui_support::run_app_checks_with(offline_options, confirmation_checks);
        return;
    }
    gui_support::run_as_gui_child(
        "confirmations_shortcuts_and_about_are_labelled_and_cancelling_changes_nothing",
    );
}

/// A real profile that never connects during the test (no network is used).
fn offline_options(profile: std::path::PathBuf) -> talpa::core::CoreOptions {
    let mut options = talpa::core::CoreOptions::new(profile);
    options.startup_jitter = Duration::from_secs(3600);
    options
}

fn call(core: &CoreHandle, command: talpa::core::Command) -> talpa::core::Reply {
    let name = command.name();
    gtk4::glib::MainContext::default()
        .block_on(core.call(command))
        .unwrap_or_else(|e| panic!("{name} failed: {e}"))
}

fn account_jids(core: &CoreHandle) -> Vec<String> {
    match call(core, talpa::core::Command::ListAccounts) {
        talpa::core::Reply::Accounts { accounts } => accounts.into_iter().map(|a| a.jid).collect(),
        other => panic!("list_accounts answered {other:?}"),
    }
}

/// The shown toplevel of type `T`, once there is one.
fn toplevel<T: IsA<gtk4::Window> + IsA<gtk4::Widget>>(what: &str) -> T {
    let found = || {
        gtk4::Window::list_toplevels()
            .into_iter()
            .filter_map(|w| w.downcast::<T>().ok())
            .find(gtk4::prelude::WidgetExt::is_visible)
    };
    gui_support::pump_until(what, || found().is_some());
    pump(Duration::from_millis(300));
    found().expect("just seen")
}

/// Checks the confirmation that is open, then answers it with "cancel" and closes it.
fn check_and_cancel(what: &str) {
    let dialog = toplevel::<adw::MessageDialog>(what);
    assert!(
        dialog.has_response("cancel"),
        "{what} has a Cancel response"
    );
    assert_labelled(what, &dialog);
    dialog.response("cancel");
    dialog.close();
    pump(Duration::from_millis(300));
}

#[allow(clippy::needless_pass_by_value)] // run_app_checks_with's signature
fn confirmation_checks(app: &adw::Application, core: CoreHandle) {
    use talpa::core::Command;
    use talpa::core::commands::{NewAccount, Secret};

    // The menu check itself finds an item without a label.
    let menu = gtk4::gio::Menu::new();
    menu.append(Some("Labelled"), Some("win.lock"));
    menu.append(Some(""), Some("win.lock"));
    let mut found = Vec::new();
    gui_support::unlabelled_menu_items(menu.upcast_ref(), "a test menu", &mut found);
    assert_eq!(
        found.len(),
        1,
        "the menu check finds the unlabelled item: {found:?}"
    );

    let window = Window::new(app, core.clone());
    window.set_default_size(1100, 700);
    window.present();
    call(
        &core,
        Command::CreateProfile {
            passphrase: Secret::new("a11y confirmations passphrase"),
        },
    );
    gui_support::pump_until("the session view", || window.is_unlocked());
    call(
        &core,
        Command::AddAccount(NewAccount {
            jid: ALICE.into(),
            password: Secret::new("never used"),
            host: Some("127.0.0.1".into()),
            port: Some(9),
            direct_tls: false,
            trust_anchor_pem: None,
            local_only_contacts: false,
            dot_resolver: None,
            retention: None,
        }),
    );
    window.reload_accounts();
    pump(Duration::from_millis(500));
    let display = std::env::var("DISPLAY").expect("DISPLAY set by the parent");
    gui_support::screenshot(&display, "a11y_account_row");
    // The main menu's items (the walker reads the menu button's model).
    assert_labelled("the main window with its main menu", &window);

    // The shortcuts window (Ctrl+?) and About.
    gtk4::prelude::WidgetExt::activate_action(&window, "win.show-help-overlay", None)
        .expect("win.show-help-overlay");
    let shortcuts = toplevel::<gtk4::ShortcutsWindow>("the shortcuts window");
    assert_labelled("the shortcuts window", &shortcuts);
    shortcuts.close();
    app.activate_action("about", None);
    let about = toplevel::<adw::AboutWindow>("the About window");
    assert_labelled("the About window", &about);
    about.close();

    // Preferences: clear all history, then wipe, each cancelled.
    app.activate_action("preferences", None);
    let preferences = toplevel::<PreferencesWindow>("the preferences");
    for (button, what) in [
        ("Clear…", "the clear-all-history confirmation"),
        ("Wipe…", "the panic-wipe confirmation"),
    ] {
        let b = find_widget::<gtk4::Button>(preferences.upcast_ref(), &|b| {
            b.label().as_deref() == Some(button)
        })
        .unwrap_or_else(|| panic!("the preferences have a {button} button"));
        b.emit_clicked();
        check_and_cancel(what);
    }
    preferences.close();

    // Removing an account, from the account row's menu (the row shows its connection switch,
    // a contacts button and that menu: nothing more).
    let row = find_widget::<adw::ActionRow>(window.upcast_ref(), &|r| r.title() == ALICE)
        .expect("the account row");
    let controls = [
        find_widget::<gtk4::Switch>(row.upcast_ref(), &|w| w.is_mapped()).is_some(),
        find_widget::<gtk4::Button>(row.upcast_ref(), &|b| {
            b.is_mapped() && b.action_name().as_deref() == Some("contacts.open")
        })
        .is_some(),
    ];
    assert_eq!(
        controls,
        [true, true],
        "the row shows its switch and contacts button"
    );
    let buttons = std::cell::Cell::new(0);
    find_widget::<gtk4::Button>(row.upcast_ref(), &|b| {
        if b.is_mapped() && !gui_support::inside_toolkit_part(b.upcast_ref()) {
            buttons.set(buttons.get() + 1);
        }
        false
    });
    assert_eq!(
        buttons.get(),
        1,
        "one button besides the menu in the account row"
    );
    for action in ["session.account-devices", "win.account-settings"] {
        assert!(
            gui_support::menu_button_with(row.upcast_ref(), action, &ALICE.to_variant()).is_some(),
            "the account row's menu offers {action}"
        );
    }
    gui_support::choose_menu_item(row.upcast_ref(), "win.remove-account", &ALICE.to_variant());
    check_and_cancel("the remove-account confirmation");

    pump(Duration::from_millis(500));
    assert!(window.is_unlocked(), "cancelling locked nothing");
    assert_eq!(
        account_jids(&core),
        vec![ALICE.to_owned()],
        "cancelling removed nothing"
    );

    let missing = MISSING.with(std::cell::RefCell::take);
    assert!(missing.is_empty(), "unlabelled controls: {missing:#?}");
}
