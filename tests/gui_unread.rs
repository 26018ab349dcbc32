//! In-process GUI test: a flood into a conversation that is not on screen is counted in full on
//! its sidebar badge (badges are refreshed together, a few times a second, not per message).
//!
//! Runs as a child of itself on a private Xvfb (see `gui_support::run_as_gui_child`).

mod gui_support;

use std::time::Duration;

use gtk4::prelude::*;
use libadwaita as adw;
use talpa::core::events::StoredMessage;
use talpa::core::{CoreHandle, Event};

use gui_support::pump;

#[test]
fn a_flood_off_screen_is_counted_in_full_on_the_unread_badge() {
    if gui_support::is_gui_child() {
        gui_support::run_app_checks(checks);
        return;
    }
    gui_support::run_as_gui_child("a_flood_off_screen_is_counted_in_full_on_the_unread_badge");
}

fn message(id: i64, with: &str) -> StoredMessage {
    StoredMessage {
        id,
        account: "alice@talpa.test".into(),
        with: with.into(),
        direction: "in".into(),
        from: with.into(),
        body: format!("flood {id}"),
        timestamp_ms: 1_700_000_000_000 + id,
        encryption: "none".into(),
        corrected: false,
        retracted: false,
        origin_id: None,
        notes: talpa::core::events::MessageNotes::default(),
    }
}

/// Every label text in the widget tree.
fn labels(widget: &gtk4::Widget, out: &mut Vec<String>) {
    if let Some(label) = widget.downcast_ref::<gtk4::Label>() {
        out.push(label.label().to_string());
    }
    let mut child = widget.first_child();
    while let Some(c) = child {
        labels(&c, out);
        child = c.next_sibling();
    }
}

fn checks(app: &adw::Application, core: CoreHandle) {
    let (window, session) =
        gui_support::unlocked_window_with_account(app, core, "alice@talpa.test", "1w");
    session.open_conversation("alice@talpa.test", "carol@talpa.test");
    for id in 1..=500 {
        window.on_event(&Event::Message(message(id, "flood@talpa.test")));
    }
    window.on_event(&Event::Message(message(501, "carol@talpa.test")));
    pump(Duration::from_secs(1));

    let mut shown = Vec::new();
    labels(window.upcast_ref(), &mut shown);
    assert!(
        shown.iter().any(|l| l == "500"),
        "the flooded conversation's badge counts all 500: {shown:?}"
    );
    let open = session
        .conversation_view()
        .and_then(|v| v.messages().cloned())
        .expect("a message model");
    assert_eq!(open.n_items(), 1, "the open conversation shows its message");

    // Opening the flooded conversation clears its badge, also of counts not shown yet.
    window.on_event(&Event::Message(message(502, "flood@talpa.test")));
    session.open_conversation("alice@talpa.test", "flood@talpa.test");
    pump(Duration::from_secs(1));
    let mut shown = Vec::new();
    labels(window.upcast_ref(), &mut shown);
    assert!(
        !shown.iter().any(|l| l == "500" || l == "501" || l == "1"),
        "no badge left after opening: {shown:?}"
    );
}
