//! The unlock page fits its window: after a wrong passphrase put its answer on the page, the
//! duress passphrase hint at its bottom is wholly visible at the default window size without
//! scrolling (it was cut off), and at 360×500 it is reachable by scrolling, the window not
//! growing past that size to fit it. Runs as a child of itself on a private Xvfb.

mod gui_support;

use std::time::Duration;

use gtk4::prelude::*;
use libadwaita as adw;
use talpa::core::CoreHandle;
use talpa::ui::window::Window;

use gui_support::{find_widget, pump};

const SMALL: (i32, i32) = (360, 500);
/// The window's default size (ui/window.ui).
const DEFAULT: (i32, i32) = (960, 640);

#[test]
fn after_a_wrong_passphrase_the_duress_hint_shows_at_the_default_size_and_scrolls_into_view_at_360_by_500()
 {
    if gui_support::is_gui_child() {
        gui_support::run_app_checks(checks);
        return;
    }
    gui_support::run_as_gui_child(
        "after_a_wrong_passphrase_the_duress_hint_shows_at_the_default_size_and_scrolls_into_view_at_360_by_500",
    );
}

#[allow(clippy::needless_pass_by_value)] // run_app_checks' signature
fn checks(app: &adw::Application, core: CoreHandle) {
    let display = std::env::var("DISPLAY").expect("DISPLAY set by the parent");
    let block = |c| {
        gtk4::glib::MainContext::default()
            .block_on(core.call(c))
            .expect("core call")
    };
    block(talpa::core::Command::CreateProfile {
        passphrase: talpa::core::commands::Secret::new("the passphrase"),
    });
    block(talpa::core::Command::Lock);
    let window = Window::new(app, core.clone());
    window.set_default_size(DEFAULT.0, DEFAULT.1);
    window.present();
    pump(Duration::from_millis(800));
    wrong_passphrase(&window);
    let hint = find_widget::<gtk4::Label>(window.upcast_ref(), &|l| {
        l.label().contains("duress passphrase")
    })
    .expect("the duress hint");
    pump(Duration::from_millis(300));
    gui_support::screenshot(&display, "unlock_default_after_a_wrong_passphrase");
    let scroller = scroller_of(&hint);
    assert!(
        scroller.vadjustment().value() <= 0.0,
        "the page scrolled by itself"
    );
    assert_within(&hint, &scroller, "at the default size, without scrolling");
    window.destroy();
    let window = Window::new(app, core);
    window.set_default_size(SMALL.0, SMALL.1);
    window.present();
    pump(Duration::from_millis(800));
    assert!(
        window.width() <= SMALL.0 && window.height() <= SMALL.1,
        "the window grew to {}×{} to fit the unlock page",
        window.width(),
        window.height()
    );
    wrong_passphrase(&window);
    pump(Duration::from_millis(300));
    gui_support::screenshot(&display, "unlock_small_after_a_wrong_passphrase");
    let hint = find_widget::<gtk4::Label>(window.upcast_ref(), &|l| {
        l.label().contains("duress passphrase")
    })
    .expect("the duress hint");
    let scroller = scroller_of(&hint);
    let adjustment = scroller.vadjustment();
    adjustment.set_value(adjustment.upper() - adjustment.page_size());
    pump(Duration::from_millis(300));
    gui_support::screenshot(&display, "unlock_small_scrolled_to_the_hint");
    assert_within(&hint, &scroller, "at 360×500, scrolled to the end");
    let scroller_in_window = scroller
        .compute_bounds(&window)
        .expect("the scrolled window's bounds");
    assert!(
        scroller_in_window.y() + scroller_in_window.height() <= window.height() as f32 + 0.5,
        "the scrolled window reaches below the window ({} > {})",
        scroller_in_window.y() + scroller_in_window.height(),
        window.height()
    );
}

/// Submits a passphrase that does not open the profile and waits for the page's answer, which
/// appears above the hint and pushes it down.
fn wrong_passphrase(window: &Window) {
    let entry = find_widget::<adw::PasswordEntryRow>(window.upcast_ref(), &|_| true)
        .expect("the passphrase row");
    entry.set_text("not the passphrase");
    find_widget::<gtk4::Button>(window.upcast_ref(), &|b| {
        b.label().as_deref() == Some("Unlock")
    })
    .expect("Unlock")
    .emit_clicked();
    gui_support::pump_until("the inline answer", || {
        find_widget::<gtk4::Label>(window.upcast_ref(), &|l| {
            l.has_css_class("error") && l.is_visible() && !l.label().is_empty()
        })
        .is_some()
    });
}

/// The scrolled window `hint` is in.
fn scroller_of(hint: &gtk4::Label) -> gtk4::ScrolledWindow {
    hint.ancestor(gtk4::ScrolledWindow::static_type())
        .and_downcast::<gtk4::ScrolledWindow>()
        .expect("the hint is inside a scrolled window")
}

/// Asserts that `hint` is mapped and lies wholly within the visible part of `scroller`.
fn assert_within(hint: &gtk4::Label, scroller: &gtk4::ScrolledWindow, when: &str) {
    assert!(hint.is_mapped(), "{when}: the hint is not mapped");
    let b = hint
        .compute_bounds(scroller)
        .expect("the hint's bounds in its scrolled window");
    assert!(
        b.y() >= 0.0 && b.y() + b.height() <= scroller.height() as f32 + 0.5,
        "{when}: the hint ({}..{}) is cut off by its scrolled window (0..{})",
        b.y(),
        b.y() + b.height(),
        scroller.height()
    );
}
