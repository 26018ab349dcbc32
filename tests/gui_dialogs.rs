//! In-process GUI test: every dialog and secondary window builds from its template and shows
//! without a GTK critical (criticals are fatal in the GUI child), with screenshots kept.

mod gui_support;

use std::time::Duration;

use gtk4::prelude::*;
use libadwaita as adw;
use talpa::core::{CoreHandle, Event};
use talpa::ui::add_account_dialog::AddAccountDialog;
use talpa::ui::preferences_window::PreferencesWindow;

use gui_support::pump;

#[test]
fn every_dialog_builds_from_its_template_and_shows_without_criticals() {
    if gui_support::is_gui_child() {
        gui_support::run_app_checks(checks);
        return;
    }
    gui_support::run_as_gui_child(
        "every_dialog_builds_from_its_template_and_shows_without_criticals",
    );
}

fn find<T: IsA<gtk4::Window>>(app: &adw::Application) -> Option<T> {
    app.windows()
        .into_iter()
        .find_map(|w| w.downcast::<T>().ok())
}

fn checks(app: &adw::Application, core: CoreHandle) {
    let display = std::env::var("DISPLAY").expect("DISPLAY set by the parent");
    let window = gui_support::locked_window(app, core);

    // While locked, neither preferences nor adding an account is possible.
    app.activate_action("preferences", None);
    pump(Duration::from_millis(300));
    assert!(
        find::<PreferencesWindow>(app).is_none(),
        "preferences opened while locked"
    );

    gui_support::unlock_with_accounts(&window, &[]);
    pump(Duration::from_millis(300));

    WidgetExt::activate_action(&window, "win.add-account", None).expect("win.add-account exists");
    pump(Duration::from_secs(1));
    let dialog = find::<AddAccountDialog>(app).expect("the add-account dialog is shown");
    gui_support::screenshot(&display, "add_account_dialog");
    dialog.close();
    pump(Duration::from_millis(300));

    app.activate_action("preferences", None);
    pump(Duration::from_secs(1));
    let preferences = find::<PreferencesWindow>(app).expect("preferences are shown");
    gui_support::screenshot(&display, "preferences_window");
    preferences.close();
    pump(Duration::from_millis(300));

    app.activate_action("about", None);
    pump(Duration::from_secs(1));
    let about = find::<adw::AboutWindow>(app).expect("the about window is shown");
    about.close();

    WidgetExt::activate_action(&window, "win.show-help-overlay", None)
        .expect("win.show-help-overlay exists");
    pump(Duration::from_secs(1));
    let shortcuts = window
        .help_overlay()
        .filter(WidgetExt::is_visible)
        .expect("the shortcuts window is shown");
    gui_support::screenshot(&display, "shortcuts_window");
    shortcuts.close();

    // Locking closes every dialog with the session.
    WidgetExt::activate_action(&window, "win.add-account", None).expect("win.add-account exists");
    pump(Duration::from_millis(500));
    window.on_event(&Event::Locked);
    pump(Duration::from_millis(500));
    assert!(
        find::<AddAccountDialog>(app).is_none(),
        "the add-account dialog survived the lock"
    );
}
