//! In-process GUI test over a real (offline) profile: notifications say only "New message" by
//! default, name the sender and show the text only once opted in, stay silent for a conversation
//! muted in its settings dialog and after lock; the settings dialog changes the conversation's
//! retention in the core; removing the account (confirmed) erases it and its conversations.
//! Screenshots are kept.

mod gui_support;

use std::rc::Rc;
use std::time::Duration;

use gtk4::glib;
use gtk4::prelude::*;
use libadwaita as adw;
use libadwaita::prelude::*;
use talpa::core::commands::{NewAccount, Secret};
use talpa::core::events::StoredMessage;
use talpa::core::{Command, CoreHandle, Event, Reply};
use talpa::ui::conversation_settings_dialog::ConversationSettingsDialog;
use talpa::ui::window::Window;

use gui_support::{find_widget, pump, pump_until};

#[test]
fn notifications_hide_content_by_default_and_respect_mute_and_lock() {
    if gui_support::is_gui_child() {
        gui_support::run_app_checks(checks);
        return;
    }
    gui_support::run_as_gui_child(
        "notifications_hide_content_by_default_and_respect_mute_and_lock",
    );
}

const ALICE: &str = "alice@talpa.test";

fn call(core: &CoreHandle, command: Command) -> Reply {
    let name = command.name();
    glib::MainContext::default()
        .block_on(core.call(command))
        .unwrap_or_else(|e| panic!("{name} failed: {e}"))
}

fn incoming(id: i64, with: &str, body: &str) -> Event {
    Event::Message(StoredMessage {
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
    })
}

fn find<T: IsA<gtk4::Window>>(app: &adw::Application) -> Option<T> {
    app.windows()
        .into_iter()
        .find_map(|w| w.downcast::<T>().ok())
}

#[allow(clippy::needless_pass_by_value)] // the signature run_app_checks expects
fn checks(app: &adw::Application, core: CoreHandle) {
    let display = std::env::var("DISPLAY").expect("DISPLAY set by the parent");
    let window = Window::new(app, core.clone());
    let core = &core;
    window.set_default_size(1100, 700);
    window.present();
    pump(Duration::from_millis(300));
    call(
        core,
        Command::CreateProfile {
            passphrase: Secret::new("notify test passphrase"),
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
    pump_until("the session view", || window.is_unlocked());
    let session = window.session().expect("session view");
    window.reload_accounts();
    pump_until("the account list", || !session.account_jids().is_empty());

    // Default policy: no sender, no content.
    window.on_event(&incoming(1, "carol@talpa.test", "SECRET carol text"));
    assert_eq!(
        session.last_notification(),
        Some(("Talpa".to_owned(), "New message".to_owned())),
        "the default notification must name neither sender nor content"
    );

    // Mute carol in her conversation's settings; set her retention to one hour there.
    session.open_conversation(ALICE, "carol@talpa.test");
    session.show_conversation_settings();
    pump_until("the settings dialog", || {
        find::<ConversationSettingsDialog>(app).is_some()
    });
    let dialog = find::<ConversationSettingsDialog>(app).expect("settings dialog");
    let combo =
        find_widget::<adw::ComboRow>(dialog.upcast_ref(), &|_| true).expect("the retention row");
    pump_until("the stored retention", || combo.is_sensitive());
    assert_eq!(
        combo.selected(),
        3,
        "the account default (1 week) is not shown"
    );
    pump(Duration::from_millis(500));
    gui_support::screenshot(&display, "conversation_settings_dialog");
    combo.set_selected(1);
    let switch = find_widget::<gtk4::Switch>(dialog.upcast_ref(), &|_| true)
        .expect("the notification switch");
    assert!(
        switch.is_active(),
        "a new conversation starts with notifications on"
    );
    switch.set_active(false);
    let muted = Rc::new(std::cell::Cell::new(false));
    pump_until("the mute preference in the store", || {
        if let Reply::Preferences { preferences } = call(core, Command::Preferences) {
            muted.set(
                preferences.get("ui.notify.mute:alice@talpa.test:carol@talpa.test")
                    == Some(&"true".to_owned()),
            );
        }
        muted.get()
    });
    let Reply::ConversationRetention {
        retention_override, ..
    } = call(
        core,
        Command::ConversationRetention {
            account: ALICE.into(),
            with: "carol@talpa.test".into(),
        },
    )
    else {
        panic!("conversation_retention answered something else");
    };
    assert_eq!(retention_override.as_deref(), Some("1h"));
    dialog.close();

    // Opt in to sender and text: dave's message shows both, muted carol's raises nothing.
    for key in ["ui.notify.show_sender", "ui.notify.show_body"] {
        call(
            core,
            Command::SetPreference {
                key: key.into(),
                value: Some("true".into()),
            },
        );
    }
    window.reload_preferences();
    pump(Duration::from_millis(500));
    window.on_event(&incoming(2, "dave@talpa.test", "dave says hi"));
    assert_eq!(
        session.last_notification(),
        Some(("dave@talpa.test".to_owned(), "dave says hi".to_owned()))
    );
    window.on_event(&incoming(3, "erin@talpa.test", "erin text"));
    session.open_conversation(ALICE, "dave@talpa.test");
    window.on_event(&incoming(4, "carol@talpa.test", "muted text"));
    assert_eq!(
        session.last_notification().map(|n| n.1),
        Some("erin text".to_owned()),
        "a muted conversation raised a notification"
    );

    // Removing the account (trash button → confirmation) erases it and its conversations.
    WidgetExt::activate_action(&window, "win.remove-account", Some(&ALICE.to_variant()))
        .expect("win.remove-account");
    pump_until("the removal confirmation", || {
        find::<adw::MessageDialog>(app).is_some()
    });
    pump(Duration::from_millis(500));
    gui_support::screenshot(&display, "remove_account_confirmation");
    find::<adw::MessageDialog>(app)
        .expect("confirmation")
        .response("remove");
    pump_until("the account to be removed", || {
        session.account_jids().is_empty()
    });
    let Reply::Accounts { accounts } = call(core, Command::ListAccounts) else {
        panic!("list_accounts answered something else");
    };
    assert!(accounts.is_empty(), "the core still has {accounts:?}");
    let shown = gui_support::visible_texts(window.upcast_ref());
    assert!(
        !shown.contains("dave@talpa.test") && !shown.contains("dave says hi"),
        "the removed account's conversations are still shown:\n{shown}"
    );

    // Locked: nothing is shown, nothing is raised.
    let weak = session.downgrade();
    drop(session);
    call(core, Command::Lock);
    pump_until("the lock", || !window.is_unlocked());
    window.on_event(&incoming(5, "dave@talpa.test", "after lock"));
    assert!(weak.upgrade().is_none(), "the session outlived the lock");
    assert!(
        !gui_support::visible_texts(window.upcast_ref()).contains("after lock"),
        "a message was shown while locked"
    );
}
