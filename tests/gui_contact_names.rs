//! Contact names given on this computer: named through the conversation settings' *Name*
//! entry, the sidebar row and the header show the name, with the address still visible (the
//! row's subtitle and tooltip, the header's subtitle); a hostile name is shown cleaned; the
//! name comes back after lock and unlock (kept in the encrypted store); emptied, the address
//! is shown again. In-process, with the real core on a temporary profile (no server needed).
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
use talpa::ui::contact_name_row;
use talpa::ui::conversation_settings_dialog::ConversationSettingsDialog;
use talpa::ui::conversation_switcher_dialog::ConversationSwitcherDialog;
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

#[allow(clippy::needless_pass_by_value)] // the signature run_app_checks expects
fn checks(app: &adw::Application, core: CoreHandle) {
    let window = Window::new(app, core.clone());
    let core = &core;
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
