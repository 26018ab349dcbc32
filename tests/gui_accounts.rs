//! Account settings and accessible labels in the real window against the real core and bed
//! (issue #8 items 5 and 10, issue #3 item 4):
//! - the settings dialog opened from an account's row fixes a wrong password and the account
//!   logs in; a bad resolver is refused with nothing stored; the retention default reaches the
//!   core; the linkability note is shown;
//! - the Tor page's start-up delay row reaches the stored Tor settings;
//! - every button, switch, entry, menu button and spin button shown in the main window, the
//!   account settings dialog, the account's devices window, the add-account dialog and the Tor
//!   preferences has an accessible label or visible text.

mod gui_support;
mod support;

use std::time::Duration;

use gtk4::glib;
use gtk4::prelude::*;
use libadwaita as adw;
use libadwaita::prelude::*;
use talpa::core::commands::{NewAccount, Secret};
use talpa::core::tor_settings::TorSettings;
use talpa::core::{Command, CoreHandle, CoreOptions, Event, Reply};
use talpa::ui::account_settings_dialog::{AccountSettingsDialog, LINKABILITY_NOTE};
use talpa::ui::devices_window::DevicesWindow;
use talpa::ui::preferences_window::PreferencesWindow;
use talpa::ui::window::Window;

use gui_support::{find_widget, pump, pump_until, unlabelled, visible_texts};
use support::bed;

#[test]
fn account_settings_fix_a_password_refuse_a_bad_resolver_and_every_control_is_labelled() {
    if gui_support::is_gui_child() {
        gui_support::run_app_checks_with(bed_options, checks);
        return;
    }
    let _ = bed();
    gui_support::run_as_gui_child(
        "account_settings_fix_a_password_refuse_a_bad_resolver_and_every_control_is_labelled",
    );
}

fn bed_options(profile: std::path::PathBuf) -> CoreOptions {
    let mut options = CoreOptions::new(profile);
    options.tor_network = Some(bed().tor.network_file.clone());
    options.startup_jitter = Duration::from_secs(1);
    options
}

fn call(core: &CoreHandle, command: Command) -> Reply {
    let name = command.name();
    glib::MainContext::default()
        .block_on(core.call(command))
        .unwrap_or_else(|e| panic!("{name} failed: {e}"))
}

fn account(core: &CoreHandle, jid: &str) -> (String, String) {
    match call(core, Command::ListAccounts) {
        Reply::Accounts { accounts } => {
            let a = accounts
                .into_iter()
                .find(|a| a.jid == jid)
                .expect("the account");
            (a.state, a.retention)
        }
        other => panic!("list_accounts answered {other:?}"),
    }
}

fn dot_resolver(core: &CoreHandle, jid: &str) -> Option<String> {
    match call(
        core,
        Command::AccountSettings {
            account: jid.to_owned(),
        },
    ) {
        Reply::AccountSettings { dot_resolver, .. } => dot_resolver,
        other => panic!("account_settings answered {other:?}"),
    }
}

fn stored_tor(core: &CoreHandle) -> TorSettings {
    match call(core, Command::TorSettings) {
        Reply::TorSettings(s) => s,
        other => panic!("tor_settings answered {other:?}"),
    }
}

#[allow(clippy::needless_pass_by_value, clippy::too_many_lines)] // run_app_checks_with's signature; one story
fn checks(app: &adw::Application, core: CoreHandle) {
    let display = std::env::var("DISPLAY").expect("DISPLAY set by the parent");
    let bed = bed();
    let (me, password) = bed.new_account("guiacct");
    let window = Window::new(app, core.clone());
    window.set_default_size(1000, 700);
    window.present();
    call(
        &core,
        Command::CreateProfile {
            passphrase: Secret::new("gui accounts passphrase"),
        },
    );
    pump_until("the session view", || window.is_unlocked());
    let ca = std::fs::read_to_string(&bed.ca_cert).expect("the bed's CA");
    let events = std::cell::RefCell::new(core.subscribe());
    call(
        &core,
        Command::AddAccount(NewAccount {
            jid: me.clone(),
            password: Secret::new("not the password"),
            host: Some(bed.prosody.host.clone()),
            port: Some(bed.prosody.c2s_port),
            direct_tls: false,
            trust_anchor_pem: Some(ca),
            local_only_contacts: false,
            dot_resolver: None,
            retention: None,
        }),
    );
    window.reload_accounts();
    let target = me.to_variant();
    pump_until("the account row's menu with its settings", || {
        gui_support::menu_button_with(window.upcast_ref(), "win.account-settings", &target)
            .is_some()
    });
    let failed = std::cell::Cell::new(false);
    pump_until("the wrong password to fail", || {
        while let Ok(event) = events.borrow_mut().try_recv() {
            if let Event::AccountState { account, state, .. } = event
                && account == me
                && state == "login_refused"
            {
                failed.set(true);
            }
        }
        failed.get()
    });

    // Opened from the account's row.
    gui_support::choose_menu_item(window.upcast_ref(), "win.account-settings", &target);
    pump_until("the account settings", || {
        app.windows()
            .iter()
            .any(ObjectExt::is::<AccountSettingsDialog>)
    });
    let dialog = app
        .windows()
        .into_iter()
        .find_map(|w| w.downcast::<AccountSettingsDialog>().ok())
        .expect("the dialog");
    pump_until("the stored settings", || dialog.is_loaded());
    assert!(
        visible_texts(dialog.upcast_ref()).contains(LINKABILITY_NOTE),
        "the linkability note is shown"
    );
    pump(Duration::from_millis(300));
    gui_support::screenshot(&display, "account_settings_dialog");

    // A bad resolver is refused by the core: nothing stored, the typing kept.
    dialog.dot_row().set_text("not a resolver");
    dialog.save();
    pump_until("the refusal", || dialog.error_text().is_some());
    let error = dialog.error_text().expect("error");
    assert!(error.contains("Nothing was changed"), "{error}");
    assert_eq!(dialog.dot_row().text(), "not a resolver");
    assert_eq!(dot_resolver(&core, &me), None);
    // A bad port is caught before the core is asked.
    dialog.dot_row().set_text("");
    dialog.port_row().set_text("70000");
    dialog.save();
    pump_until("the port error", || {
        dialog
            .error_text()
            .is_some_and(|e| !e.contains("Nothing was changed"))
    });
    dialog
        .port_row()
        .set_text(&bed.prosody.c2s_port.to_string());

    // The right password: the account logs in.
    dialog.password_row().set_text(&password);
    dialog.save();
    pump_until("the saved settings", || dialog.error_text().is_none());
    pump_until("the account online", || account(&core, &me).0 == "online");
    assert_eq!(
        dialog.password_row().text(),
        "",
        "the typed password is not kept"
    );

    // The retention default reaches the core.
    let retention =
        find_widget::<adw::ComboRow>(dialog.upcast_ref(), &|r| r.title() == "Keep messages")
            .expect("the retention row");
    retention.set_selected(2);
    pump_until("the account retention", || account(&core, &me).1 == "1d");

    // Its devices, trust and key access are one click away.
    find_widget::<gtk4::Button>(dialog.upcast_ref(), &|b| {
        b.label().as_deref() == Some("Devices, Keys and Trust…")
    })
    .expect("the devices button")
    .emit_clicked();
    pump_until("the devices window from the settings", || {
        app.windows().iter().any(ObjectExt::is::<DevicesWindow>)
    });
    for w in app.windows() {
        if w.is::<DevicesWindow>() {
            w.close();
        }
    }
    pump(Duration::from_millis(200));

    // Accessible labels: the dialog and the main window with an account row.
    let missing = unlabelled(dialog.upcast_ref());
    assert!(
        missing.is_empty(),
        "unlabelled in the account settings: {missing:#?}"
    );
    dialog.close();
    pump(Duration::from_millis(300));
    let missing = unlabelled(window.upcast_ref());
    assert!(missing.is_empty(), "unlabelled in the window: {missing:#?}");

    // The account's devices window and the add-account dialog.
    gui_support::choose_menu_item(
        window.upcast_ref(),
        "session.account-devices",
        &me.to_variant(),
    );
    pump_until("the devices window", || {
        app.windows().iter().any(ObjectExt::is::<DevicesWindow>)
    });
    pump(Duration::from_millis(500));
    for w in app.windows() {
        if w.is::<DevicesWindow>() {
            let missing = unlabelled(w.upcast_ref());
            assert!(
                missing.is_empty(),
                "unlabelled in the devices window: {missing:#?}"
            );
            w.close();
        }
    }
    let count = app.windows().len();
    WidgetExt::activate_action(&window, "win.add-account", None).expect("add-account");
    pump_until("the add-account dialog", || app.windows().len() > count);
    pump(Duration::from_millis(300));
    for w in app.windows() {
        if w.type_().name() == "TalpaAddAccountDialog" {
            let missing = unlabelled(w.upcast_ref());
            assert!(
                missing.is_empty(),
                "unlabelled in the add-account dialog: {missing:#?}"
            );
            w.close();
        }
    }

    // The Tor page's start-up delay row.
    app.activate_action("preferences", None);
    pump_until("the preferences", || {
        app.windows().iter().any(ObjectExt::is::<PreferencesWindow>)
    });
    let preferences = app
        .windows()
        .into_iter()
        .find_map(|w| w.downcast::<PreferencesWindow>().ok())
        .expect("the preferences");
    let page = preferences.tor_page().expect("the Tor page").clone();
    preferences.set_visible_page(&page);
    pump_until("the stored Tor settings", || {
        page.jitter_spin().value_as_int() == 120
    });
    pump(Duration::from_millis(300));
    let missing = unlabelled(preferences.upcast_ref());
    assert!(
        missing.is_empty(),
        "unlabelled in the Tor preferences: {missing:#?}"
    );
    page.jitter_spin().set_value(7.0);
    page.apply();
    pump_until("the stored start-up delay", || {
        stored_tor(&core).startup_jitter_secs == Some(7)
    });
    gui_support::screenshot(&display, "tor_settings_startup_delay");
    preferences.close();
}
