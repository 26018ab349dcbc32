//! The GTK4 + libadwaita desktop front end.
//!
//! Two ways to run async work, and no others: futures on the GTK main loop
//! (`glib::MainContext::spawn_local`, may touch widgets) awaiting the core's channels, and the
//! core's own tokio tasks (never touch GObjects). Templates are compiled into the binary
//! (`#[template(file = ...)]`, `include_str!`), one `.ui` per widget at the path mirroring its
//! `.rs`; `tests/gui_templates.rs` checks that every template is used.

pub mod a11y;
pub mod account_settings_dialog;
pub mod account_window;
pub mod add_account_dialog;
pub mod bounded_file;
pub mod chat;
pub mod contact_name_row;
pub mod contact_names;
pub mod contact_requests_view;
pub mod conversation_settings_dialog;
pub mod conversation_switcher_dialog;
pub mod devices_window;
pub mod invitation_dialog;
pub mod models;
pub mod notifications;
pub mod pem_file;
pub mod preferences_window;
pub mod probe;
pub mod room_dialog;
pub mod room_password_dialog;
pub mod search_dialog;
pub mod session_security;
pub mod session_view;
pub mod shortcuts_window;
pub mod tor_indicator;
pub mod tor_settings_page;
pub mod unlock_page;
pub mod user_text;
pub mod window;

use std::process::ExitCode;

use gtk4::{gdk, gio, glib};
use libadwaita as adw;
use libadwaita::prelude::*;

use crate::core::{Command, CoreError, CoreHandle};

/// The application id (also the D-Bus name and the .desktop file's name).
pub const APP_ID: &str = "org.talpa.Talpa";

/// The application stylesheet, compiled into the binary.
const STYLE_CSS: &str = include_str!("../../resources/style.css");

/// Shows a transient notice in the window (or dialog) that holds `widget`.
pub fn toast(widget: &impl IsA<gtk4::Widget>, text: &str) {
    // The main window keeps track of its notices so that locking can dismiss them.
    if let Some(window) = widget.root().and_downcast::<window::Window>() {
        window.toast(text);
        return;
    }
    let overlay = widget
        .ancestor(adw::ToastOverlay::static_type())
        .and_downcast::<adw::ToastOverlay>();
    if let Some(overlay) = overlay {
        overlay.add_toast(adw::Toast::new(text));
    } else {
        tracing::warn!("no toast overlay to show a notice in");
    }
}

/// The display could not be opened: no X server or Wayland compositor answered (or it closed
/// the connection at once, as an X server does while it resets).
#[derive(Debug, thiserror::Error)]
#[error("cannot open the display ({0}): is a graphical session running?")]
pub struct NoDisplay(pub String);

/// Initialises GTK and libadwaita early (connecting to the display, loading settings), so the
/// caller can overlap it with other start-up work.
///
/// When it fails the process must not go on to [`run`], since
/// GTK counts itself initialised even after a failed attempt and would then start the
/// application without a display (libadwaita dereferences the missing display: SIGSEGV).
pub fn preinit() -> Result<(), NoDisplay> {
    if gtk4::init().is_err() {
        let named = std::env::var("WAYLAND_DISPLAY")
            .map(|d| format!("WAYLAND_DISPLAY={d}"))
            .or_else(|_| std::env::var("DISPLAY").map(|d| format!("DISPLAY={d}")))
            .unwrap_or_else(|_| "neither DISPLAY nor WAYLAND_DISPLAY is set".to_owned());
        return Err(NoDisplay(named));
    }
    adw::init().ok();
    probe::mark("gtk_init");
    Ok(())
}

/// Runs the GTK application on the calling thread until its last window closes.
/// `runtime` is the tokio runtime the core runs on; the GTK side never blocks on it.
pub fn run(core: CoreHandle, runtime: &tokio::runtime::Runtime) -> ExitCode {
    run_with_probe(Ok(core), runtime, None, false)
}

/// [`run`], with the benchmark probe reading from `probe` (a `/proc/self/fd/N` path) when given.
///
/// `core` is what starting the core on the profile gave: an error (the profile is open in
/// another Talpa process) is shown in a window of its own, and the process then exits with
/// status 2. With `unique` (the default profile) the application is unique on the session bus
/// under [`APP_ID`]: a second launch hands over to the first process — whose window comes to
/// the front — and exits 0 without showing anything. Without a session bus GApplication runs
/// non-unique, and the profile lock alone keeps a second process off the store.
pub fn run_with_probe(
    core: Result<CoreHandle, CoreError>,
    runtime: &tokio::runtime::Runtime,
    probe: Option<std::path::PathBuf>,
    unique: bool,
) -> ExitCode {
    let _guard = runtime.enter();
    let probe = std::cell::RefCell::new(probe);
    let refused = std::rc::Rc::new(std::cell::Cell::new(false));
    let app = application(unique);
    app.connect_startup(install);
    let refused_in_activate = refused.clone();
    app.connect_activate(move |app| {
        if let Some(window) = app.active_window() {
            // Launched again (or activated by a notification): the window comes to the front,
            // showing whatever it shows — the unlock page when the profile is locked.
            tracing::info!("activated again: presenting the window");
            window.present();
            return;
        }
        let core = match &core {
            Ok(core) => core.clone(),
            Err(error) => {
                refused_in_activate.set(true);
                show_profile_in_use(app, error);
                return;
            }
        };
        probe::mark("activate");
        let window = window::Window::new(app, core.clone());
        probe::mark("window_built");
        window.present();
        probe::mark("presented");
        if let Some(source) = probe.borrow_mut().take() {
            probe::start(source, &window, core.clone());
        }
    });
    let status = app.run_with_args::<&str>(&[]);
    if refused.get() {
        return ExitCode::from(2);
    }
    ExitCode::from(status.get())
}

/// Talpa's application object: unique on the session bus under [`APP_ID`] when `unique` (the
/// default profile), otherwise one of several processes (other profiles may be open at once,
/// one process each; docs/ARCHITECTURE.md, "One process per profile").
pub fn application(unique: bool) -> adw::Application {
    adw::Application::builder()
        .application_id(APP_ID)
        .flags(if unique {
            gio::ApplicationFlags::empty()
        } else {
            gio::ApplicationFlags::NON_UNIQUE
        })
        .build()
}

/// The window of a process that may not use its profile: it says why, and nothing else.
fn show_profile_in_use(app: &adw::Application, error: &CoreError) {
    // Also for whoever started Talpa from a terminal.
    eprintln!("talpa: {error}");
    let (title, text) = if matches!(error, CoreError::ProfileInUse) {
        ("Talpa Is Already Open", user_text::error_text(error))
    } else {
        // The details name the profile directory and what the system said about it.
        (
            "Cannot Open the Profile",
            format!("{}\n\n{error}", user_text::error_text(error)),
        )
    };
    let status = adw::StatusPage::builder()
        .icon_name("dialog-warning-symbolic")
        .title(title)
        .description(glib::markup_escape_text(&text).as_str())
        .build();
    let close = gtk4::Button::builder()
        .label("Close")
        .halign(gtk4::Align::Center)
        .css_classes(["pill", "suggested-action"])
        .build();
    status.set_child(Some(&close));
    let content = gtk4::Box::new(gtk4::Orientation::Vertical, 0);
    content.append(&adw::HeaderBar::new());
    content.append(&status);
    status.set_vexpand(true);
    let window = adw::ApplicationWindow::builder()
        .application(app)
        .title("Talpa")
        .default_width(480)
        .default_height(440)
        .content(&content)
        .build();
    close.connect_clicked(glib::clone!(
        #[weak]
        window,
        move |_| window.close()
    ));
    window.present();
}

/// Prepares `app` at startup: the stylesheet, the application actions and their shortcuts.
pub fn install(app: &adw::Application) {
    probe::mark("app_startup");
    install_style();
    setup_app_actions(app);
}

/// Loads Talpa's stylesheet for the default display.
fn install_style() {
    let Some(display) = gdk::Display::default() else {
        return;
    };
    let provider = gtk4::CssProvider::new();
    provider.load_from_data(STYLE_CSS);
    gtk4::style_context_add_provider_for_display(
        &display,
        &provider,
        gtk4::STYLE_PROVIDER_PRIORITY_APPLICATION,
    );
}

fn talpa_window(app: &adw::Application) -> Option<window::Window> {
    app.windows()
        .into_iter()
        .find_map(|w| w.downcast::<window::Window>().ok())
}

fn setup_app_actions(app: &adw::Application) {
    let quit = gio::ActionEntry::builder("quit")
        .activate(|app: &adw::Application, _, _| quit(app))
        .build();
    let about = gio::ActionEntry::builder("about")
        .activate(|app: &adw::Application, _, _| show_about(app))
        .build();
    let preferences = gio::ActionEntry::builder("preferences")
        .activate(|app: &adw::Application, _, _| {
            if let Some(window) = talpa_window(app) {
                window.show_preferences();
            }
        })
        .build();
    // A click on the message notification: show the window and its newest notified
    // conversation. The target is the notification's number, never an address.
    let open_notified = gio::ActionEntry::builder(notifications::OPEN_ACTION)
        .parameter_type(Some(&u64::static_variant_type()))
        .activate(|app: &adw::Application, _, token| {
            let Some(window) = talpa_window(app) else {
                return;
            };
            window.present();
            if let (Some(session), Some(token)) =
                (window.session(), token.and_then(glib::Variant::get::<u64>))
            {
                session.open_notified(token);
            }
        })
        .build();
    app.add_action_entries([quit, about, preferences, open_notified]);
    app.set_accels_for_action("app.quit", &["<Control>q"]);
    app.set_accels_for_action("app.preferences", &["<Control>comma"]);
    app.set_accels_for_action("win.lock", &["<Control>l"]);
    app.set_accels_for_action("win.add-account", &["<Control>n"]);
    app.set_accels_for_action("win.switch-conversation", &["<Control>k"]);
    app.set_accels_for_action("win.search", &["<Control>f"]);
    app.set_accels_for_action("win.show-help-overlay", &["<Control>question"]);
}

/// Asks the core to stop (it disconnects and locks), then ends the GTK application.
fn quit(app: &adw::Application) {
    let Some(core) = talpa_window(app).and_then(|w| w.core()) else {
        app.quit();
        return;
    };
    for window in app.windows() {
        window.set_visible(false);
    }
    let app = app.clone();
    glib::MainContext::default().spawn_local(async move {
        // Whatever the core answers, the window goes; a stopped core is already quiet.
        let _ = core.call(Command::Quit).await;
        for window in app.windows() {
            window.destroy();
        }
        app.quit();
    });
}

fn show_about(app: &adw::Application) {
    let about = adw::AboutWindow::builder()
        .application_name("Talpa")
        .application_icon(APP_ID)
        .version(env!("CARGO_PKG_VERSION"))
        .comments("A privacy-hardened XMPP client. Every connection goes through Tor and the local store is encrypted and forgets. Messages are end-to-end encrypted with OMEMO and never fall back to plaintext.")
        .license_type(gtk4::License::Gpl30)
        .modal(true)
        .build();
    a11y::name_toolkit_controls(&about);
    if let Some(window) = talpa_window(app) {
        about.set_transient_for(Some(&window));
    }
    about.set_application(Some(app));
    about.present();
}
