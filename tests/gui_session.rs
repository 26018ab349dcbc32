//! In-process GUI test of the unlocked window: the session view shows accounts, conversations
//! and messages, and locking leaves no message text in any widget of the window.
//!
//! Runs as a child of itself on a private Xvfb (see `gui_support::run_as_gui_child`).

mod gui_support;

use std::time::Duration;

use gtk4::prelude::*;
use libadwaita as adw;
use talpa::core::events::{AccountSummary, StoredMessage, TorStatusInfo};
use talpa::core::{CoreHandle, Event};
use talpa::ui::window::Window;

use gui_support::pump;

const SECRETS: [&str; 3] = [
    "SECRET-ONE meet at",
    "SECRET-TWO bring",
    "SECRET-THREE legacy",
];

#[test]
fn locking_removes_every_message_from_the_window() {
    if gui_support::is_gui_child() {
        gui_support::run_app_checks(checks);
        return;
    }
    gui_support::run_as_gui_child("locking_removes_every_message_from_the_window");
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
        origin_id: None,
        notes: talpa::core::events::MessageNotes::default(),
    }
}

fn checks(app: &adw::Application, core: CoreHandle) {
    let display = std::env::var("DISPLAY").expect("DISPLAY set by the parent");
    let window = gui_support::locked_window(app, core);
    assert!(!window.is_unlocked(), "a new window must start locked");

    let session = gui_support::unlock_with_accounts(
        &window,
        &[
            gui_support::online_account("alice@talpa.test", "1w"),
            AccountSummary {
                jid: "activist@example.org".into(),
                enabled: true,
                state: "waiting_for_jitter".into(),
                retention: "1d".into(),
            },
        ],
    );
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
