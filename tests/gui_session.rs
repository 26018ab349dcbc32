//! In-process GUI test of the unlocked window: the session view shows accounts, conversations
//! and messages, and locking leaves no message text in any widget of the window.
//!
//! GTK needs `DISPLAY` before it starts, and tests may not set environment variables
//! (`unsafe_code` is forbidden), so the test re-runs its own binary as a child on a private
//! Xvfb; the child does the GTK work and its exit status is the verdict.

mod gui_support;

use std::cell::RefCell;
use std::process::Command;
use std::rc::Rc;
use std::time::{Duration, Instant};

use gtk4::prelude::*;
use gtk4::{gio, glib};
use libadwaita as adw;
use talpa::core::events::{AccountSummary, StoredMessage, TorStatusInfo};
use talpa::core::{CoreHandle, CoreOptions, Event};
use talpa::ui::window::Window;

const CHILD_ENV: &str = "TALPA_GUI_SESSION_CHILD";
const SECRETS: [&str; 3] = [
    "SECRET-ONE meet at",
    "SECRET-TWO bring",
    "SECRET-THREE legacy",
];

#[test]
fn locking_removes_every_message_from_the_window() {
    if std::env::var_os(CHILD_ENV).is_some() {
        child();
        return;
    }
    let xvfb = gui_support::Xvfb::start();
    let out = Command::new(std::env::current_exe().expect("own test binary"))
        .args([
            "--exact",
            "locking_removes_every_message_from_the_window",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, "1")
        .env("DISPLAY", &xvfb.display)
        .env("GDK_BACKEND", "x11")
        .env("GSK_RENDERER", "cairo")
        .env("GTK_A11Y", "none")
        .env("NO_AT_BRIDGE", "1")
        .env_remove("WAYLAND_DISPLAY")
        .output()
        .expect("re-run the test binary");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    eprintln!("{stderr}");
    assert!(out.status.success(), "the GUI child failed: {}", out.status);
    assert!(
        stdout.contains("GUI-CHILD-DONE"),
        "the GUI child did not run its checks"
    );
}

/// Runs the main loop for a while so widgets realize, lay out and draw.
fn pump(duration: Duration) {
    let ctx = glib::MainContext::default();
    let end = Instant::now() + duration;
    while Instant::now() < end {
        while ctx.iteration(false) {}
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Every text a label or an editable in the widget tree holds.
fn texts(widget: &gtk4::Widget, out: &mut Vec<String>) {
    if let Some(label) = widget.downcast_ref::<gtk4::Label>() {
        out.push(label.label().to_string());
    }
    if let Some(editable) = widget.dynamic_cast_ref::<gtk4::Editable>() {
        out.push(editable.text().to_string());
    }
    let mut child = widget.first_child();
    while let Some(c) = child {
        texts(&c, out);
        child = c.next_sibling();
    }
}

fn window_texts(window: &Window) -> String {
    let mut out = Vec::new();
    texts(window.upcast_ref(), &mut out);
    out.join("\n")
}

fn message(id: i64, with: &str, direction: &str, body: &str, encryption: &str) -> StoredMessage {
    StoredMessage {
        id,
        account: "alice@talpa.test".into(),
        with: with.into(),
        direction: direction.into(),
        from: if direction == "in" {
            with.into()
        } else {
            "alice@talpa.test".into()
        },
        body: body.into(),
        timestamp_ms: 1_700_000_000_000 + id * 60_000,
        encryption: encryption.into(),
        corrected: false,
        retracted: false,
    }
}

fn child() {
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    let _guard = runtime.enter();
    let profile = tempfile::tempdir().expect("profile dir");
    let core = CoreHandle::spawn(CoreOptions::new(profile.path().to_path_buf()));
    let app = adw::Application::builder()
        .application_id("org.talpa.TalpaTest")
        .flags(gio::ApplicationFlags::NON_UNIQUE)
        .build();
    let verdict: Rc<RefCell<Option<String>>> = Rc::new(RefCell::new(None));
    let v = verdict.clone();
    app.connect_startup(|_| talpa::ui::install_style());
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

fn checks(app: &adw::Application, core: CoreHandle) {
    let display = std::env::var("DISPLAY").expect("DISPLAY set by the parent");
    let window = Window::new(app, core);
    window.present();
    pump(Duration::from_millis(500));
    assert!(!window.is_unlocked(), "a new window must start locked");

    window.on_event(&Event::Unlocked);
    let session = window.session().expect("unlocking shows the session view");
    session.set_accounts(&[
        AccountSummary {
            jid: "alice@talpa.test".into(),
            enabled: true,
            state: "online".into(),
            retention: "1w".into(),
        },
        AccountSummary {
            jid: "activist@example.org".into(),
            enabled: true,
            state: "waiting_for_jitter".into(),
            retention: "1d".into(),
        },
    ]);
    window.on_event(&Event::TorStatus(TorStatusInfo {
        state: "ready".into(),
        percent: 100,
        text: "Tor is ready".into(),
    }));
    session.open_conversation("alice@talpa.test", "carol@talpa.test");
    window.on_event(&Event::Message(message(
        1,
        "carol@talpa.test",
        "in",
        SECRETS[0],
        "omemo2",
    )));
    window.on_event(&Event::Message(message(
        2,
        "carol@talpa.test",
        "out",
        SECRETS[1],
        "none",
    )));
    window.on_event(&Event::Message(message(
        3,
        "carol@talpa.test",
        "in",
        SECRETS[2],
        "omemo",
    )));
    window.on_event(&Event::Message(message(
        4,
        "dave@talpa.test",
        "in",
        "unread elsewhere",
        "omemo2",
    )));
    pump(Duration::from_secs(2));
    gui_support::screenshot(&display, "session_view_conversation");

    let store = session
        .conversation_view()
        .and_then(|v| v.messages().cloned())
        .expect("the conversation view has a message model");
    assert_eq!(
        store.n_items(),
        3,
        "the open conversation shows its three messages"
    );
    let shown = window_texts(&window);
    for secret in SECRETS {
        assert!(
            shown.contains(secret),
            "message {secret:?} is not on screen:\n{shown}"
        );
    }
    assert!(
        shown.contains("NOT ENCRYPTED"),
        "the unencrypted message is not flagged"
    );
    assert!(shown.contains("OMEMO 2"), "the OMEMO 2 badge is missing");
    assert!(
        shown.contains("OMEMO (legacy)"),
        "the legacy OMEMO badge is missing"
    );

    let weak_session = session.downgrade();
    drop(session);
    window.on_event(&Event::Locked);
    pump(Duration::from_secs(1));
    gui_support::screenshot(&display, "session_view_after_lock");
    assert!(
        !window.is_unlocked(),
        "Locked must return to the unlock page"
    );
    assert_eq!(store.n_items(), 0, "locking must empty the message model");
    let shown = window_texts(&window);
    for secret in SECRETS {
        assert!(
            !shown.contains(secret),
            "message {secret:?} is still in a widget after lock"
        );
    }
    assert!(
        !shown.contains("carol@talpa.test"),
        "a contact is still shown after lock"
    );
    assert!(
        weak_session.upgrade().is_none(),
        "the session view outlived the lock"
    );
}
