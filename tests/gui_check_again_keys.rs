//! The "Check again" link under a held message works from the keyboard alone: with real key
//! presses sent to the window (xdotool on the test's Xvfb), Tab from the message's text moves
//! the focus to the note's link, which then looks focused (GtkLabel draws no focus ring around a
//! link; the stylesheet rings the note), and Enter follows it — the core is asked to look for keys
//! (the stub core here answers with an error, which the window tells in a notice). Runs as a child
//! of itself on a private Xvfb.

mod gui_support;

use std::process::Command as Process;
use std::time::Duration;

use gtk4::prelude::*;
use libadwaita as adw;
use talpa::core::events::{HeldCause, MessageNotes, StoredMessage};
use talpa::core::{CoreHandle, Event};
use talpa::ui::chat::MessageRow;
use talpa::ui::window::Window;

use gui_support::{find_widget, pump, pump_until};

const ME: &str = "mole@talpa.test";
const PEER: &str = "keyless@talpa.test";
const BODY: &str = "waiting for keys";

#[test]
fn tab_reaches_the_check_again_link_and_enter_follows_it() {
    if gui_support::is_gui_child() {
        gui_support::run_app_checks(checks);
        return;
    }
    gui_support::run_as_gui_child("tab_reaches_the_check_again_link_and_enter_follows_it");
}

/// Sends `key` (xdotool's name) to the focused X window and lets GTK handle it.
fn press(key: &str) {
    let out = Process::new("xdotool")
        .args(["key", "--clearmodifiers", key])
        .output()
        .expect("xdotool runs");
    assert!(
        out.status.success(),
        "xdotool key {key}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    pump(Duration::from_millis(300));
}

/// Gives the window the X input focus, as a click on it would.
fn focus_window() {
    let out = Process::new("xdotool")
        .args([
            "search",
            "--onlyvisible",
            "--name",
            "^Talpa$",
            "windowfocus",
            "--sync",
        ])
        .output()
        .expect("xdotool runs");
    assert!(
        out.status.success(),
        "xdotool could not focus the window: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    pump(Duration::from_millis(300));
}

fn focused(window: &Window) -> String {
    gtk4::prelude::RootExt::focus(window).map_or_else(
        || "nothing".to_owned(),
        |w| {
            format!(
                "{} {:?}",
                w.type_().name(),
                w.downcast_ref::<gtk4::Label>().map(gtk4::Label::label)
            )
        },
    )
}

#[allow(clippy::needless_pass_by_value)] // run_app_checks' signature
fn checks(app: &adw::Application, core: CoreHandle) {
    let display = std::env::var("DISPLAY").expect("DISPLAY set by the parent");
    let (window, session) = gui_support::unlocked_window_with_account(app, core, ME, "1w");
    session.open_conversation(ME, PEER);
    pump(Duration::from_millis(300));
    window.on_event(&Event::Message(StoredMessage {
        id: 1,
        account: ME.into(),
        with: PEER.into(),
        direction: "out".into(),
        from: ME.into(),
        body: BODY.into(),
        timestamp_ms: 1_700_000_000_000,
        encryption: "pending".into(),
        corrected: false,
        retracted: false,
        origin_id: Some("held-1".into()),
        notes: MessageNotes {
            held: Some(HeldCause::NoKeys),
            not_readable_by: Vec::new(),
            delivery: None,
            attachment: None,
        },
    }));
    let row = || {
        find_widget::<MessageRow>(window.upcast_ref(), &|r| {
            r.message().is_some_and(|m| m.body() == BODY)
        })
    };
    pump_until("the held message with its note", || {
        row().is_some_and(|r| {
            find_widget::<gtk4::Label>(r.upcast_ref(), &|l| {
                l.is_visible() && l.label().contains("Check again")
            })
            .is_some()
        })
    });
    let row = row().expect("the row");
    let body = find_widget::<gtk4::Label>(row.upcast_ref(), &|l| l.label() == BODY)
        .expect("the message's text");
    let note = find_widget::<gtk4::Label>(row.upcast_ref(), &|l| l.label().contains("Check again"))
        .expect("the note");

    // The user got to the message's text (with the arrows, say); from there on, only keys.
    focus_window();
    assert!(body.grab_focus(), "the message's text takes no focus");
    let unfocused = pixels(note.upcast_ref());
    press("Tab");
    assert!(
        note.has_focus(),
        "Tab from the message's text did not reach the note's link (focus on {})",
        focused(&window)
    );
    pump(Duration::from_millis(200));
    gui_support::screenshot(&display, "check_again_focused");
    // GtkLabel draws no focus ring around a focused link: the stylesheet must show it.
    let focused_look = pixels(note.upcast_ref());
    // A ring drawn outside the note makes the drawing larger: that is a change too.
    let changed = if unfocused.len() == focused_look.len() {
        unfocused
            .iter()
            .zip(&focused_look)
            .filter(|(a, b)| a != b)
            .count()
    } else {
        usize::MAX
    };
    assert!(
        changed > 50,
        "the focused link looks the same as before ({changed} bytes differ): keyboard users \
         cannot see where they are"
    );
    press("Return");
    pump_until("the answer to Check again", || {
        window
            .toast_titles()
            .iter()
            .any(|t| t.starts_with("Could not check for keys"))
    });
}

/// The widget as GTK draws it now, as RGBA bytes.
fn pixels(widget: &gtk4::Widget) -> Vec<u8> {
    let (w, h) = (widget.width(), widget.height());
    let paintable = gtk4::WidgetPaintable::new(Some(widget));
    let snapshot = gtk4::Snapshot::new();
    paintable.snapshot(&snapshot, f64::from(w), f64::from(h));
    let node = snapshot.to_node().expect("the widget draws something");
    let renderer = widget
        .native()
        .and_then(|n| n.renderer())
        .expect("the window's renderer");
    let texture = renderer.render_texture(&node, None);
    let stride = texture.width() as usize * 4;
    let mut bytes = vec![0u8; stride * texture.height() as usize];
    texture.download(&mut bytes, stride);
    bytes
}
