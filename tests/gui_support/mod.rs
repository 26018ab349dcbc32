//! Helpers shared by the GUI tests: an Xvfb of their own, screenshots and image checks.
#![allow(dead_code)] // each GUI test binary uses a different subset

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::rc::Rc;
use std::thread::sleep;
use std::time::{Duration, Instant};

/// How long we wait for any one thing to appear before failing (a deadline, not an assertion
/// about speed).
pub const PATIENCE: Duration = Duration::from_secs(60);

/// An X server of our own, stopped on drop.
pub struct Xvfb {
    child: Child,
    /// The X display name, e.g. `:140`.
    pub display: String,
}

impl Xvfb {
    /// Starts Xvfb on a display number it picks itself (`-displayfd`, so parallel tests never
    /// race for one) and waits until it is ready; panics if it cannot.
    pub fn start() -> Xvfb {
        let mut child = Command::new("Xvfb")
            .args([
                "-displayfd",
                "1",
                "-screen",
                "0",
                "1280x800x24",
                "-nolisten",
                "tcp",
                // Without it the server resets whenever its last client leaves — between two
                // `xdotool` polls, before Talpa has connected — and closes connections that
                // arrive during the reset: Talpa then finds no display.
                "-noreset",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("Xvfb must be installed (apt install xvfb)");
        // Xvfb writes the display number once it accepts connections.
        let line = first_line(&mut child);
        let mut xvfb = Xvfb {
            child,
            display: String::new(),
        };
        let number = line.trim();
        assert!(
            !number.is_empty() && number.chars().all(|c| c.is_ascii_digit()),
            "Xvfb did not start (status {:?})",
            xvfb.child.try_wait()
        );
        xvfb.display = format!(":{number}");
        xvfb
    }
}

/// The first line `child` writes to its (piped) stdout, or nothing if none comes within
/// [`PATIENCE`].
pub fn first_line(child: &mut Child) -> String {
    let stdout = child.stdout.take().expect("the child's stdout is piped");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = std::io::BufRead::read_line(&mut std::io::BufReader::new(stdout), &mut line);
        let _ = tx.send(line);
    });
    rx.recv_timeout(PATIENCE).unwrap_or_default()
}

impl Drop for Xvfb {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Takes a screenshot of the whole X screen as `<screenshots>/<name>.png` and prints its path.
pub fn screenshot(display: &str, name: &str) -> PathBuf {
    let dir = screenshot_dir();
    std::fs::create_dir_all(&dir).expect("create the screenshot directory");
    let path = dir.join(format!("{name}.png"));
    let status = Command::new("import")
        .args(["-window", "root"])
        .arg(&path)
        .env("DISPLAY", display)
        .status()
        .expect("imagemagick must be installed (import)");
    assert!(status.success(), "import failed for {}", path.display());
    println!("screenshot: {}", path.display());
    path
}

/// Where screenshots are kept: `$CARGO_TARGET_DIR/screenshots`.
pub fn screenshot_dir() -> PathBuf {
    // CARGO_TARGET_TMPDIR is <target>/tmp; the screenshots live beside it.
    Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .map_or_else(|| PathBuf::from("target"), Path::to_path_buf)
        .join("screenshots")
}

/// Number of distinct colours in an image (imagemagick's `%k`).
pub fn distinct_colours(path: &Path) -> u64 {
    let out = Command::new("convert")
        .arg(path)
        .args(["-format", "%k", "info:"])
        .output()
        .expect("imagemagick must be installed (convert)");
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("convert gave no colour count for {}", path.display()))
}

/// Number of pixels that differ between two screenshots (imagemagick's `compare -metric AE`).
pub fn differing_pixels(a: &Path, b: &Path) -> u64 {
    let out = Command::new("compare")
        .args(["-metric", "AE"])
        .arg(a)
        .arg(b)
        .arg("null:")
        .output()
        .expect("imagemagick must be installed (compare)");
    // compare prints the metric on stderr, sometimes as "N (fraction)".
    let text = String::from_utf8_lossy(&out.stderr);
    text.split_whitespace()
        .next()
        .and_then(|n| n.parse::<f64>().ok())
        .map_or_else(
            || panic!("compare gave no pixel count: {text}"),
            |n| n as u64,
        )
}

/// Set in the environment of a GUI child process.
const CHILD_ENV: &str = "TALPA_GUI_CHILD";

/// Whether this process is the GUI child of a test (see [`run_as_gui_child`]).
pub fn is_gui_child() -> bool {
    std::env::var_os(CHILD_ENV).is_some()
}

/// GTK needs `DISPLAY` before it starts, and tests may not set environment variables
/// (`unsafe_code` is forbidden), so an in-process GUI test re-runs its own binary, filtered to
/// itself, on a private Xvfb. GTK criticals are fatal there. The child's exit status is the
/// verdict; its output is shown.
pub fn run_as_gui_child(test_name: &str) {
    run_as_gui_child_with_env(test_name, &[]);
}

/// [`run_as_gui_child`] with more variables in the child's environment.
pub fn run_as_gui_child_with_env(test_name: &str, env: &[(&str, &str)]) {
    let xvfb = Xvfb::start();
    let out = Command::new(std::env::current_exe().expect("own test binary"))
        .args(["--exact", test_name, "--nocapture", "--test-threads=1"])
        .envs(env.iter().copied())
        .env(CHILD_ENV, "1")
        .env("DISPLAY", &xvfb.display)
        .env("GDK_BACKEND", "x11")
        .env("GSK_RENDERER", "cairo")
        .env("GTK_A11Y", "none")
        .env("NO_AT_BRIDGE", "1")
        .env("G_DEBUG", "fatal-criticals")
        .env_remove("WAYLAND_DISPLAY")
        .output()
        .expect("re-run the test binary");
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("{stdout}");
    eprintln!("{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "the GUI child failed: {}", out.status);
    assert!(
        stdout.contains("GUI-CHILD-DONE"),
        "the GUI child did not run its checks"
    );
}

/// In the GUI child: runs `checks` inside a Talpa-like application (stylesheet and actions
/// installed) with a stub core, then quits. Panics if `checks` panicked.
pub fn run_app_checks(checks: fn(&libadwaita::Application, talpa::core::CoreHandle)) {
    run_app_checks_with(talpa::core::CoreOptions::new, checks);
}

/// [`run_app_checks`] with a core made by `options` from the (temporary) profile directory.
pub fn run_app_checks_with(
    options: fn(PathBuf) -> talpa::core::CoreOptions,
    checks: fn(&libadwaita::Application, talpa::core::CoreHandle),
) {
    run_checks_in_app(
        || {
            libadwaita::Application::builder()
                .application_id("org.talpa.TalpaTest")
                .flags(gtk4::gio::ApplicationFlags::NON_UNIQUE)
                .build()
        },
        options,
        checks,
    );
}

/// [`run_app_checks_with`] in the application `make_app` builds (e.g. Talpa's own, unique one):
/// runs `checks` once it is activated, then quits. Panics if `checks` panicked.
pub fn run_checks_in_app(
    make_app: impl FnOnce() -> libadwaita::Application,
    options: fn(PathBuf) -> talpa::core::CoreOptions,
    checks: fn(&libadwaita::Application, talpa::core::CoreHandle),
) {
    use gtk4::prelude::*;
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    let _guard = runtime.enter();
    let profile = tempfile::tempdir().expect("profile dir");
    let core = talpa::core::CoreHandle::spawn(options(profile.path().to_path_buf()));
    let app = make_app();
    let verdict: Rc<RefCell<Option<String>>> = Rc::new(RefCell::new(None));
    let v = verdict.clone();
    app.connect_startup(talpa::ui::install);
    app.connect_activate(move |app| {
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            checks(app, core.clone());
        }));
        *v.borrow_mut() = Some(match result {
            Ok(()) => "ok".to_owned(),
            Err(e) => e
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| e.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_else(|| "panic".to_owned()),
        });
        for w in app.windows() {
            w.destroy();
        }
        app.quit();
    });
    app.run_with_args::<&str>(&[]);
    let verdict = verdict.borrow().clone();
    assert_eq!(verdict.as_deref(), Some("ok"), "GUI checks failed");
    println!("GUI-CHILD-DONE");
}

/// Runs the GTK main loop for a while so widgets realize, lay out and draw.
pub fn pump(duration: Duration) {
    let ctx = gtk4::glib::MainContext::default();
    let end = Instant::now() + duration;
    while Instant::now() < end {
        while ctx.iteration(false) {}
        sleep(Duration::from_millis(10));
    }
}

/// Runs the GTK main loop until `done` holds; panics with `what` at the deadline.
pub fn pump_until(what: &str, done: impl Fn() -> bool) {
    let ctx = gtk4::glib::MainContext::default();
    let end = Instant::now() + PATIENCE;
    while !done() {
        assert!(Instant::now() < end, "timed out waiting for {what}");
        while ctx.iteration(false) {}
        sleep(Duration::from_millis(10));
    }
}

/// The first widget of type `T` under `widget` (depth first) for which `pick` holds.
pub fn find_widget<T: gtk4::prelude::IsA<gtk4::Widget>>(
    widget: &gtk4::Widget,
    pick: &dyn Fn(&T) -> bool,
) -> Option<T> {
    use gtk4::prelude::*;
    if let Some(w) = widget.downcast_ref::<T>()
        && pick(w)
    {
        return Some(w.clone());
    }
    let mut child = widget.first_child();
    while let Some(c) = child {
        if let Some(found) = find_widget(&c, pick) {
            return Some(found);
        }
        child = c.next_sibling();
    }
    None
}

/// Every visible label's text under `widget`, one per line.
pub fn visible_texts(widget: &gtk4::Widget) -> String {
    use gtk4::prelude::*;
    fn walk(widget: &gtk4::Widget, out: &mut Vec<String>) {
        if !widget.is_child_visible() || !widget.is_visible() {
            return;
        }
        if let Some(label) = widget.downcast_ref::<gtk4::Label>() {
            out.push(label.label().to_string());
        }
        let mut child = widget.first_child();
        while let Some(c) = child {
            walk(&c, out);
            child = c.next_sibling();
        }
    }
    let mut out = Vec::new();
    walk(widget, &mut out);
    out.join("\n")
}

// Accessible labels (issue #8 item 10): the walker every GUI test applies to a window.

/// Whether a template (`ui/**/*.ui`) gave this widget an accessible label: its object, found by
/// buildable id or (for objects without an id) by its tooltip, has an `<accessibility>` label
/// among its own properties.
pub fn template_label(widget: &gtk4::Widget) -> bool {
    use gtk4::glib;
    use gtk4::prelude::*;
    let mut needles = Vec::new();
    if let Some(id) = widget
        .buildable_id()
        .filter(|id| !id.starts_with("___object_"))
    {
        needles.push(format!("id=\"{id}\""));
    }
    if let Some(tip) = widget.tooltip_text() {
        needles.push(format!(
            "<property name=\"tooltip-text\">{}</property>",
            glib::markup_escape_text(&tip)
        ));
    }
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("ui");
    let mut dirs = vec![root];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).expect("ui dir").flatten() {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "ui") {
                let text = std::fs::read_to_string(&path).expect("ui file");
                for needle in &needles {
                    for (at, _) in text.match_indices(needle.as_str()) {
                        // The object's own properties: from its opening tag to its first child
                        // (objects held by a property, like a spin button's adjustment, are
                        // inside that range).
                        let start = text[..at].rfind("<object").unwrap_or(0);
                        let rest = &text[start..];
                        let end = rest.find("<child").unwrap_or(rest.len());
                        let own = &rest[..end];
                        if own.contains("<accessibility>") && own.contains("name=\"label\"") {
                            return true;
                        }
                    }
                }
            }
        }
    }
    false
}

/// Text a control shows itself (a button's label or a label inside it).
pub fn visible_text(widget: &gtk4::Widget) -> bool {
    use gtk4::prelude::*;
    if let Some(b) = widget.downcast_ref::<gtk4::Button>()
        && b.label().is_some_and(|l| !l.trim().is_empty())
    {
        return true;
    }
    if let Some(b) = widget.downcast_ref::<gtk4::MenuButton>()
        && b.label().is_some_and(|l| !l.trim().is_empty())
    {
        return true;
    }
    !visible_texts(widget).trim().is_empty()
}

/// Whether a control lies inside a widget GTK or libadwaita build and label themselves
/// (window controls, a row's own expander, a spin button's +/- buttons …).
pub fn inside_toolkit_part(widget: &gtk4::Widget) -> bool {
    use gtk4::prelude::*;
    let mut w = widget.parent();
    while let Some(p) = w {
        // A popover's content is the application's own (a menu button's picker, say).
        if p.is::<gtk4::Popover>() {
            return false;
        }
        let name = p.type_().name();
        if matches!(
            name,
            "GtkWindowControls"
                | "GtkSpinButton"
                | "AdwComboRow"
                | "GtkDropDown"
                | "AdwEntryRow"
                | "AdwPasswordEntryRow"
                | "AdwToastWidget"
                | "GtkMenuButton"
        ) {
            return true;
        }
        w = p.parent();
    }
    false
}

/// Every item of `model` (and of its sections and submenus) without a label, as "what: …".
pub fn unlabelled_menu_items(model: &gtk4::gio::MenuModel, what: &str, out: &mut Vec<String>) {
    use gtk4::gio;
    use gtk4::prelude::*;
    for i in 0..model.n_items() {
        let label = model
            .item_attribute_value(i, gio::MENU_ATTRIBUTE_LABEL, None)
            .and_then(|v| v.get::<String>());
        let linked: Vec<gio::MenuModel> = [gio::MENU_LINK_SECTION, gio::MENU_LINK_SUBMENU]
            .into_iter()
            .filter_map(|link| model.item_link(i, link))
            .collect();
        // A section may go without a title; an item or a submenu needs a label.
        let is_section = model.item_link(i, gio::MENU_LINK_SECTION).is_some();
        if !is_section && label.as_deref().is_none_or(|l| l.trim().is_empty()) {
            let action = model
                .item_attribute_value(i, gio::MENU_ATTRIBUTE_ACTION, None)
                .and_then(|v| v.get::<String>());
            out.push(format!(
                "{what}: menu item {i} (action {action:?}) has no label"
            ));
        }
        for sub in linked {
            unlabelled_menu_items(&sub, what, out);
        }
    }
}

/// Every mapped control under `root` that has no accessible label and shows no text, and every
/// item without a label in the menus of its menu buttons and popover menus (context menus
/// included, shown or not).
pub fn unlabelled(root: &gtk4::Widget) -> Vec<String> {
    use gtk4::prelude::*;
    fn walk(w: &gtk4::Widget, out: &mut Vec<String>) {
        let model = w
            .downcast_ref::<gtk4::MenuButton>()
            .and_then(gtk4::MenuButton::menu_model)
            .or_else(|| {
                w.downcast_ref::<gtk4::PopoverMenu>()
                    .and_then(gtk4::PopoverMenu::menu_model)
            });
        if let Some(model) = model {
            unlabelled_menu_items(&model, &format!("menu of a {}", w.type_().name()), out);
        }
        if !w.is_mapped() {
            // A context menu's popover is not mapped until it opens: look inside for its model.
            let mut child = w.first_child();
            while let Some(c) = child {
                if c.is::<gtk4::PopoverMenu>() {
                    walk(&c, out);
                }
                child = c.next_sibling();
            }
            return;
        }
        let control = w.is::<gtk4::Button>()
            || w.is::<gtk4::Switch>()
            || w.is::<gtk4::Entry>()
            || w.is::<gtk4::MenuButton>()
            || w.is::<gtk4::SpinButton>()
            || w.is::<gtk4::SearchEntry>()
            || w.is::<gtk4::PasswordEntry>()
            || w.is::<gtk4::CheckButton>()
            || w.is::<gtk4::Scale>();
        // Controls whose only text is their value (or a placeholder) need a real label.
        let value_only = w.is::<gtk4::Switch>()
            || w.is::<gtk4::SpinButton>()
            || w.is::<gtk4::SearchEntry>()
            || w.is::<gtk4::PasswordEntry>()
            || w.is::<gtk4::Scale>();
        if control && !inside_toolkit_part(w) {
            let id = w.buildable_id().map(|s| s.to_string());
            let ok = talpa::ui::a11y::label_of(w).is_some()
                || template_label(w)
                || (!value_only && visible_text(w));
            if !ok {
                out.push(format!(
                    "{} (id {:?}, tooltip {:?}, in {})",
                    w.type_().name(),
                    id,
                    w.tooltip_text(),
                    w.parent()
                        .map(|p| p.type_().name().to_owned())
                        .unwrap_or_default()
                ));
            }
        }
        let mut child = w.first_child();
        while let Some(c) = child {
            walk(&c, out);
            child = c.next_sibling();
        }
    }
    let mut out = Vec::new();
    walk(root, &mut out);
    out
}

/// Whether `model` (or one of its sections and submenus) has an item for `action` with `target`.
pub fn menu_has_item(
    model: &gtk4::gio::MenuModel,
    action: &str,
    target: &gtk4::glib::Variant,
) -> bool {
    use gtk4::gio;
    use gtk4::prelude::*;
    (0..model.n_items()).any(|i| {
        let item_action = model
            .item_attribute_value(i, gio::MENU_ATTRIBUTE_ACTION, None)
            .and_then(|v| v.get::<String>());
        let item_target = model.item_attribute_value(i, gio::MENU_ATTRIBUTE_TARGET, None);
        (item_action.as_deref() == Some(action) && item_target.as_ref() == Some(target))
            || [gio::MENU_LINK_SECTION, gio::MENU_LINK_SUBMENU]
                .into_iter()
                .filter_map(|link| model.item_link(i, link))
                .any(|sub| menu_has_item(&sub, action, target))
    })
}

/// The shown menu button under `root` whose menu has an item for `action` on `target` (an
/// account row's "more" menu, say).
pub fn menu_button_with(
    root: &gtk4::Widget,
    action: &str,
    target: &gtk4::glib::Variant,
) -> Option<gtk4::MenuButton> {
    use gtk4::prelude::*;
    find_widget::<gtk4::MenuButton>(root, &|b| {
        b.is_mapped()
            && b.menu_model()
                .is_some_and(|m| menu_has_item(&m, action, target))
    })
}

/// Chooses the item for `action` on `target` in a shown menu button's menu under `root` (what a
/// click on that menu item does: the action activated from the menu button); panics if no
/// shown menu offers it.
pub fn choose_menu_item(root: &gtk4::Widget, action: &str, target: &gtk4::glib::Variant) {
    use gtk4::prelude::*;
    let button = menu_button_with(root, action, target)
        .unwrap_or_else(|| panic!("no shown menu offers {action} for {target}"));
    WidgetExt::activate_action(&button, action, Some(target))
        .unwrap_or_else(|e| panic!("{action} from the menu: {e}"));
}

// An unlocked window with one account: the setup the in-process window tests share
// (gui_a11y, gui_conversation_ingest, gui_dialogs, gui_notifications, gui_rooms, gui_session,
// gui_unread, gui_virtualization). The core is not asked: the window is unlocked and given its
// accounts as the core's events would.

/// The size the window tests give Talpa's window.
pub const WINDOW_SIZE: (i32, i32) = (1100, 700);

/// Talpa's window over `core`, presented at [`WINDOW_SIZE`] and drawn; still locked.
pub fn locked_window(
    app: &libadwaita::Application,
    core: talpa::core::CoreHandle,
) -> talpa::ui::window::Window {
    use gtk4::prelude::*;
    let window = talpa::ui::window::Window::new(app, core);
    window.set_default_size(WINDOW_SIZE.0, WINDOW_SIZE.1);
    window.present();
    pump(Duration::from_millis(500));
    window
}

/// An account `jid` as the core reports it when online, keeping messages for `retention`.
pub fn online_account(jid: &str, retention: &str) -> talpa::core::events::AccountSummary {
    talpa::core::events::AccountSummary {
        jid: jid.into(),
        enabled: true,
        state: "online".into(),
        retention: retention.into(),
    }
}

/// Unlocks `window` as the core's `Unlocked` event does and lists `accounts`; the session view.
pub fn unlock_with_accounts(
    window: &talpa::ui::window::Window,
    accounts: &[talpa::core::events::AccountSummary],
) -> talpa::ui::session_view::SessionView {
    window.on_event(&talpa::core::Event::Unlocked);
    let session = window.session().expect("unlocking shows the session view");
    session.set_accounts(accounts);
    session
}

/// Talpa's window, unlocked, with one online account `jid` keeping messages for `retention`.
pub fn unlocked_window_with_account(
    app: &libadwaita::Application,
    core: talpa::core::CoreHandle,
    jid: &str,
    retention: &str,
) -> (
    talpa::ui::window::Window,
    talpa::ui::session_view::SessionView,
) {
    let window = locked_window(app, core);
    let session = unlock_with_accounts(&window, &[online_account(jid, retention)]);
    (window, session)
}

/// A private D-Bus session bus (`dbus-daemon --session`), stopped on drop.
pub struct SessionBus {
    child: Child,
    /// The bus address, for `DBUS_SESSION_BUS_ADDRESS`.
    pub address: String,
}

impl SessionBus {
    /// Starts the bus and waits for its address; panics (the test fails) if it cannot.
    pub fn start() -> SessionBus {
        let mut child = Command::new("dbus-daemon")
            .args(["--session", "--nofork", "--print-address=1"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("dbus-daemon must be installed (apt install dbus-daemon)");
        let address = first_line(&mut child);
        let mut bus = SessionBus {
            child,
            address: address.trim().to_owned(),
        };
        assert!(
            bus.address.starts_with("unix:"),
            "the D-Bus session bus did not start (status {:?})",
            bus.child.try_wait()
        );
        bus
    }
}

impl Drop for SessionBus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
