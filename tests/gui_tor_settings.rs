//! The Tor page of the preferences against the real core (Arti on the bed's private Tor
//! network): switching to the system Tor's SOCKS port and back to the built-in Tor with plain
//! and obfs4 bridge lines reaches the core's `tor_settings`; a bad bridge line is named inline,
//! nothing is stored and nothing typed is lost; the settings survive lock and unlock and show
//! again in a new preferences window. The add-account dialog's DNS-over-TLS resolver reaches
//! the core, which refuses a malformed one.

mod gui_support;
mod support;

use std::time::Duration;

use gtk4::glib;
use gtk4::prelude::*;
use libadwaita as adw;
use libadwaita::prelude::*;
use talpa::core::commands::Secret;
use talpa::core::tor_settings::TorSettings;
use talpa::core::{Command, CoreHandle, CoreOptions, Reply};
use talpa::ui::add_account_dialog::AddAccountDialog;
use talpa::ui::preferences_window::PreferencesWindow;
use talpa::ui::tor_settings_page::TorSettingsPage;
use talpa::ui::window::Window;

use gui_support::{find_widget, pump, pump_until};
use support::bed;

const PLAIN: &str = "127.0.0.1:1 848A4D63B5391E50F190841D7CE1ED922B39ADC7";
const OBFS4: &str = "obfs4 127.0.0.1:2 E7B7155212310DA2E9A7D1A5E06AAE463A7CED25 \
                     cert=ssH+9rP8dG2NLDN2XuFw63hIO/9MNNinLmxQDpVa+7kTOa9/m+tGWT1SmSYpQ9uTBGa6Hw iat-mode=0";
const BAD: &str = "this is not a bridge line";
const PASSPHRASE: &str = "gui tor settings passphrase";

#[test]
fn tor_mode_and_bridges_chosen_in_preferences_reach_the_core_and_a_bad_line_is_named() {
    if gui_support::is_gui_child() {
        gui_support::run_app_checks_with(bed_options, checks);
        return;
    }
    let _ = bed();
    gui_support::run_as_gui_child(
        "tor_mode_and_bridges_chosen_in_preferences_reach_the_core_and_a_bad_line_is_named",
    );
}

fn bed_options(profile: std::path::PathBuf) -> CoreOptions {
    let mut options = CoreOptions::new(profile);
    options.tor_network = Some(bed().tor.network_file.clone());
    options
}

fn call(core: &CoreHandle, command: Command) -> Reply {
    let name = command.name();
    glib::MainContext::default()
        .block_on(core.call(command))
        .unwrap_or_else(|e| panic!("{name} failed: {e}"))
}

fn stored(core: &CoreHandle) -> TorSettings {
    match call(core, Command::TorSettings) {
        Reply::TorSettings(settings) => settings,
        other => panic!("tor_settings answered {other:?}"),
    }
}

fn open_tor_page(app: &adw::Application) -> (PreferencesWindow, TorSettingsPage) {
    app.activate_action("preferences", None);
    pump_until("the preferences", || {
        app.windows()
            .into_iter()
            .any(|w| w.is::<PreferencesWindow>())
    });
    let preferences = app
        .windows()
        .into_iter()
        .find_map(|w| w.downcast::<PreferencesWindow>().ok())
        .expect("the preferences");
    preferences.set_default_size(700, 780);
    let page = preferences.tor_page().expect("the Tor page").clone();
    preferences.set_visible_page(&page);
    (preferences, page)
}

fn apply(page: &TorSettingsPage) {
    find_widget::<gtk4::Button>(page.upcast_ref(), &|b| {
        b.label().as_deref() == Some("Apply Tor Settings")
    })
    .expect("the Apply button")
    .emit_clicked();
}

fn bridges_view(page: &TorSettingsPage) -> gtk4::TextView {
    find_widget::<gtk4::TextView>(page.upcast_ref(), &|_| true).expect("the bridge lines")
}

fn text_of(view: &gtk4::TextView) -> String {
    let buffer = view.buffer();
    buffer
        .text(&buffer.start_iter(), &buffer.end_iter(), false)
        .to_string()
}

#[allow(clippy::needless_pass_by_value)] // the signature run_app_checks_with expects
fn checks(app: &adw::Application, core: CoreHandle) {
    let display = std::env::var("DISPLAY").expect("DISPLAY set by the parent");
    let window = Window::new(app, core.clone());
    window.set_default_size(1000, 700);
    window.present();
    call(
        &core,
        Command::CreateProfile {
            passphrase: Secret::new(PASSPHRASE),
        },
    );
    pump_until("the session view", || window.is_unlocked());
    assert_eq!(stored(&core).mode, "embedded");

    // The system Tor (here: the bed's C tor) through its SOCKS port.
    let (preferences, page) = open_tor_page(app);
    pump(Duration::from_millis(500));
    let mode_row = find_widget::<adw::ComboRow>(page.upcast_ref(), &|_| true).expect("mode row");
    mode_row.set_selected(1);
    let socks_row = find_widget::<adw::EntryRow>(page.upcast_ref(), &|r| r.is_visible())
        .expect("the SOCKS address row shows for the system Tor");
    let socks = format!("127.0.0.1:{}", bed().tor.socks_port);
    socks_row.set_text(&socks);
    apply(&page);
    pump_until("the system Tor mode in the core", || {
        stored(&core).mode == "system_socks"
    });
    assert_eq!(stored(&core).socks_addr.as_deref(), Some(socks.as_str()));
    assert_eq!(page.error_text(), None);

    // Back to the built-in Tor with bridges, one line of them bad: named, nothing stored.
    mode_row.set_selected(0);
    assert!(
        !socks_row.is_visible(),
        "the SOCKS row hides for the built-in Tor"
    );
    let switch = find_widget::<gtk4::Switch>(page.upcast_ref(), &|_| true).expect("use bridges");
    switch.set_active(true);
    let view = bridges_view(&page);
    let typed = format!("# bridges from a friend\n{PLAIN}\n{BAD}\n{OBFS4}");
    view.buffer().set_text(&typed);
    apply(&page);
    pump_until("the inline error", || page.error_text().is_some());
    let error = page.error_text().unwrap_or_default();
    assert!(
        error.starts_with("Line 3 ") && error.contains("Nothing was changed"),
        "the error does not name the bad line: {error}"
    );
    assert_eq!(text_of(&view), typed, "what was typed is kept");
    assert_eq!(stored(&core).mode, "system_socks", "nothing was stored");
    pump(Duration::from_millis(500));
    gui_support::screenshot(&display, "tor_settings_bad_bridge_line");

    // Without the bad line: stored and applied.
    view.buffer()
        .set_text(&format!("# bridges from a friend\n{PLAIN}\n{OBFS4}"));
    apply(&page);
    pump_until("the bridges in the core", || stored(&core).use_bridges);
    let mut now = stored(&core);
    assert_eq!(now.mode, "embedded");
    assert_eq!(now.bridges, vec![PLAIN.to_owned(), OBFS4.to_owned()]);
    pump_until("the error to go", || page.error_text().is_none());
    pump(Duration::from_millis(500));
    gui_support::screenshot(&display, "tor_settings_bridges_applied");

    // A private test network chosen from its file: described in the row, kept in the profile;
    // an unreadable file changes nothing and says so.
    assert!(page.network_text().contains("public Tor network"));
    page.load_network_file(&bed().tor.network_file);
    assert!(
        page.network_text()
            .contains("private test network: 3 authorities"),
        "{}",
        page.network_text()
    );
    apply(&page);
    pump_until("the private network in the core", || {
        stored(&core).private_network.is_some()
    });
    now = stored(&core);
    page.load_network_file(std::path::Path::new("/nonexistent/tor-network.json"));
    let error = page.error_text().unwrap_or_default();
    assert!(error.contains("Nothing was changed"), "{error}");
    assert_eq!(page.settings(), now, "the unreadable file changed nothing");
    // An endless file is refused after 1 MiB, not read into memory.
    page.load_network_file(std::path::Path::new("/dev/zero"));
    let error = page.error_text().unwrap_or_default();
    assert!(
        error.contains("larger than 1024 KiB") && error.contains("Nothing was changed"),
        "{error}"
    );
    assert_eq!(page.settings(), now, "/dev/zero changed something");
    preferences.close();

    // Kept in the encrypted profile across lock and unlock, and shown again.
    window.lock();
    pump_until("the lock", || !window.is_unlocked());
    call(
        &core,
        Command::Unlock {
            passphrase: Secret::new(PASSPHRASE),
        },
    );
    pump_until("the session view again", || window.is_unlocked());
    assert_eq!(stored(&core), now, "the settings survive lock and unlock");
    let (preferences, page) = open_tor_page(app);
    let view = bridges_view(&page);
    pump_until("the stored bridges in the page", || {
        text_of(&view).contains(OBFS4)
    });
    assert_eq!(page.settings(), now, "the page shows what is stored");
    preferences.close();
    pump(Duration::from_millis(300));
    dot_resolver_reaches_the_core(app, &window, &core);
}

/// The per-account DNS-over-TLS resolver typed in the add-account dialog is checked by the core.
fn dot_resolver_reaches_the_core(app: &adw::Application, window: &Window, core: &CoreHandle) {
    WidgetExt::activate_action(window, "win.add-account", None).expect("win.add-account");
    pump_until("the add-account dialog", || {
        app.windows()
            .into_iter()
            .any(|w| w.is::<AddAccountDialog>())
    });
    let dialog = app
        .windows()
        .into_iter()
        .find_map(|w| w.downcast::<AddAccountDialog>().ok())
        .expect("the add-account dialog");
    let row = |title: &str| {
        find_widget::<adw::PreferencesRow>(dialog.upcast_ref(), &|r| r.title().starts_with(title))
            .and_then(|r| r.dynamic_cast::<gtk4::Editable>().ok())
            .unwrap_or_else(|| panic!("the {title} row"))
    };
    let jid = "dot@talpa.test";
    row("Address").set_text(jid);
    row("Password").set_text("dot password");
    row("DNS-over-TLS resolver").set_text("not a resolver");
    let add = find_widget::<gtk4::Button>(dialog.upcast_ref(), &|b| {
        b.label().as_deref() == Some("Add")
    })
    .expect("the Add button");
    add.emit_clicked();
    pump_until("the resolver to be refused", || {
        gui_support::visible_texts(dialog.upcast_ref()).contains("Please check what you entered")
    });
    row("DNS-over-TLS resolver").set_text("127.0.0.1:853#dns.talpa.test");
    add.emit_clicked();
    pump_until(
        "the account to be added",
        || matches!(call(core, Command::ListAccounts), Reply::Accounts { accounts } if accounts.iter().any(|a| a.jid == jid)),
    );
}
