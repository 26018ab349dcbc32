//! In-process GUI tests: live messages into the conversation on screen are added in bursts (one
//! model change per burst, not one per message), all of them, in order, once each, with updates
//! in place, and the view stays on the newest; older pages go before the loaded messages in
//! order and without duplicates.
//!
//! Runs as a child of itself on a private Xvfb (see `gui_support::run_as_gui_child`).

mod gui_support;

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use gtk4::prelude::*;
use libadwaita as adw;
use talpa::core::events::StoredMessage;
use talpa::core::{CoreHandle, Event};
use talpa::ui::chat::ConversationView;
use talpa::ui::models::MessageObject;
use talpa::ui::window::Window;

use gui_support::pump;

const ACCOUNT: &str = "alice@talpa.test";
const PEER: &str = "carol@talpa.test";

#[test]
fn a_burst_of_live_messages_on_screen_appears_in_order_once_each_in_few_model_changes() {
    if gui_support::is_gui_child() {
        gui_support::run_app_checks(burst_checks);
        return;
    }
    gui_support::run_as_gui_child(
        "a_burst_of_live_messages_on_screen_appears_in_order_once_each_in_few_model_changes",
    );
}

#[test]
fn older_pages_go_before_the_loaded_messages_in_order_without_duplicates() {
    if gui_support::is_gui_child() {
        gui_support::run_app_checks(older_checks);
        return;
    }
    gui_support::run_as_gui_child(
        "older_pages_go_before_the_loaded_messages_in_order_without_duplicates",
    );
}

fn message(id: i64, with: &str, body: &str) -> StoredMessage {
    StoredMessage {
        id,
        account: ACCOUNT.into(),
        with: with.into(),
        direction: "in".into(),
        from: with.into(),
        body: body.into(),
        timestamp_ms: 1_700_000_000_000 + id * 1000,
        encryption: "none".into(),
        corrected: false,
        retracted: false,
        origin_id: None,
        notes: talpa::core::events::MessageNotes::default(),
    }
}

fn numbered(id: i64) -> StoredMessage {
    message(id, PEER, &format!("message number {id}"))
}

/// A window with one account and `PEER`'s conversation open.
fn open(app: &adw::Application, core: CoreHandle) -> (Window, ConversationView) {
    let (window, session) =
        gui_support::unlocked_window_with_account(app, core, ACCOUNT, "forever");
    // Another conversation was on screen before (as in the benchmark).
    session.open_conversation(ACCOUNT, "erin@talpa.test");
    let view = session
        .conversation_view()
        .expect("a conversation view")
        .clone();
    view.show_history(&[message(9_999, "erin@talpa.test", "an earlier chat")]);
    pump(Duration::from_millis(300));
    session.open_conversation(ACCOUNT, PEER);
    let view = session
        .conversation_view()
        .expect("a conversation view")
        .clone();
    (window, view)
}

/// The local ids in the view's model, in model order.
fn ids(view: &ConversationView) -> Vec<i64> {
    view.messages()
        .expect("a message model")
        .iter::<MessageObject>()
        .map(|m| m.expect("only message objects").id())
        .collect()
}

/// Whether the view's list is scrolled to its bottom.
fn at_bottom(view: &ConversationView) -> bool {
    let adj = view.scroller().vadjustment();
    adj.value() + adj.page_size() >= adj.upper() - 1.0
}

fn burst_checks(app: &adw::Application, core: CoreHandle) {
    let (window, view) = open(app, core);
    view.show_history(&(1..=100).map(numbered).collect::<Vec<_>>());
    pump(Duration::from_millis(500));
    assert!(
        at_bottom(&view),
        "an opened conversation shows its newest messages"
    );
    assert!(
        gui_support::visible_texts(view.upcast_ref()).contains("message number 100\n"),
        "the newest stored message is not on screen"
    );
    let store = view.messages().expect("a message model").clone();
    let changes = Rc::new(Cell::new(0u32));
    let counter = changes.clone();
    store.connect_items_changed(move |_, _, _, _| counter.set(counter.get() + 1));

    // 300 new messages read in one go, a correction of a shown one and of one in the burst,
    // a repeat, and messages of another conversation in between.
    for id in 101..=400 {
        window.on_event(&Event::Message(numbered(id)));
        if id == 200 {
            window.on_event(&Event::MessageUpdated(message(50, PEER, "corrected fifty")));
            window.on_event(&Event::Message(numbered(150)));
            window.on_event(&Event::Message(message(id, "dave@talpa.test", "elsewhere")));
        }
        if id == 300 {
            window.on_event(&Event::MessageUpdated(message(250, PEER, "corrected 250")));
        }
    }
    pump(Duration::from_secs(1));

    let got = ids(&view);
    assert_eq!(
        got,
        (1..=400).collect::<Vec<_>>(),
        "every message once, in order"
    );
    let body = |id: i64| {
        store
            .iter::<MessageObject>()
            .flatten()
            .find(|m| m.id() == id)
            .map(|m| m.body())
    };
    assert_eq!(body(50).as_deref(), Some("corrected fifty"));
    assert_eq!(body(250).as_deref(), Some("corrected 250"));
    assert!(
        changes.get() <= 4,
        "the burst took {} model changes (expected one splice per flush)",
        changes.get()
    );
    let (offset, len) = view.window_range();
    assert_eq!(offset + len, 400, "the list follows the newest messages");
    let shown = gui_support::visible_texts(view.upcast_ref());
    assert!(
        shown.contains("message number 400\n"),
        "the newest message is not on screen:\n{shown}"
    );
    assert!(
        !shown.contains("elsewhere"),
        "another conversation's message is shown:\n{shown}"
    );
    assert!(at_bottom(&view), "the list is not scrolled to the bottom");

    // A second burst after a quiet spell is shown too (flushes keep coming).
    for id in 401..=410 {
        window.on_event(&Event::Message(numbered(id)));
    }
    pump(Duration::from_secs(1));
    assert_eq!(ids(&view), (1..=410).collect::<Vec<_>>());
    let shown = gui_support::visible_texts(view.upcast_ref());
    assert!(shown.contains("message number 410\n"), "{shown}");
}

fn older_checks(app: &adw::Application, core: CoreHandle) {
    let (_window, view) = open(app, core);
    view.show_history(&(951..=1000).map(numbered).collect::<Vec<_>>());
    pump(Duration::from_millis(500));
    // An older page that overlaps what is shown (e.g. a message stored meanwhile).
    view.prepend_older(&(901..=955).map(numbered).collect::<Vec<_>>());
    pump(Duration::from_millis(500));
    view.prepend_older(&(851..=900).map(numbered).collect::<Vec<_>>());
    pump(Duration::from_millis(500));
    assert_eq!(
        ids(&view),
        (851..=1000).collect::<Vec<_>>(),
        "older pages in order before the loaded ones, no message twice"
    );
}
