//! In-process GUI test: a conversation of 10,000 messages keeps only about a screenful of row
//! widgets alive (the message list is a `GtkListView` over a model, not a widget per message),
//! at the end, in the middle and at the top of the history. Checked from the widget tree.

mod gui_support;

use std::time::{Duration, Instant};

use gtk4::graphene;
use gtk4::prelude::*;
use libadwaita as adw;
use talpa::core::CoreHandle;
use talpa::core::events::StoredMessage;
use talpa::ui::chat::{ConversationView, MessageRow};

use gui_support::pump;

const MESSAGES: i64 = 10_000;

#[test]
fn ten_thousand_messages_keep_at_most_twice_the_visible_rows_alive() {
    if gui_support::is_gui_child() {
        gui_support::run_app_checks(checks);
        return;
    }
    gui_support::run_as_gui_child(
        "ten_thousand_messages_keep_at_most_twice_the_visible_rows_alive",
    );
}

/// Every `MessageRow` under `widget`.
fn rows(widget: &gtk4::Widget, out: &mut Vec<MessageRow>) {
    if let Some(row) = widget.downcast_ref::<MessageRow>() {
        out.push(row.clone());
        return;
    }
    let mut child = widget.first_child();
    while let Some(c) = child {
        rows(&c, out);
        child = c.next_sibling();
    }
}

/// (live row widgets, rows at least partly inside the visible viewport).
fn count(view: &ConversationView) -> (usize, usize) {
    let mut all = Vec::new();
    rows(view.list_view().upcast_ref(), &mut all);
    let scroller = view.scroller();
    let height = scroller.height() as f32;
    let visible = all
        .iter()
        .filter(|row| row.is_child_visible() && row.is_mapped())
        .filter_map(|row| row.compute_bounds(scroller))
        .filter(|b: &graphene::Rect| b.y() + b.height() > 0.0 && b.y() < height)
        .count();
    (all.len(), visible)
}

fn check_window(view: &ConversationView, place: &str) {
    let (live, visible) = count(view);
    println!("{place}: {live} live row widgets, {visible} visible rows");
    assert!(
        visible > 3,
        "{place}: only {visible} rows visible; nothing laid out?"
    );
    assert!(
        live <= 2 * visible,
        "{place}: {live} row widgets alive for {visible} visible rows (more than twice)"
    );
}

fn checks(app: &adw::Application, core: CoreHandle) {
    let display = std::env::var("DISPLAY").expect("DISPLAY set by the parent");
    let (_window, session) =
        gui_support::unlocked_window_with_account(app, core, "alice@talpa.test", "forever");
    session.open_conversation("alice@talpa.test", "carol@talpa.test");
    let view = session
        .conversation_view()
        .expect("conversation view")
        .clone();
    let history: Vec<StoredMessage> = (1..=MESSAGES)
        .map(|id| StoredMessage {
            id,
            account: "alice@talpa.test".into(),
            with: "carol@talpa.test".into(),
            direction: if id % 3 == 0 { "out" } else { "in" }.into(),
            from: if id % 3 == 0 {
                "alice@talpa.test"
            } else {
                "carol@talpa.test"
            }
            .into(),
            body: format!("message number {id}"),
            timestamp_ms: 1_700_000_000_000 + id * 1000,
            encryption: "omemo2".into(),
            corrected: false,
            retracted: false,
            origin_id: None,
            notes: talpa::core::events::MessageNotes::default(),
        })
        .collect();
    let started = Instant::now();
    view.show_history(&history);
    pump(Duration::from_secs(2));
    // Reported, not asserted (no timing assertions in tests; benchmarks live in tests/bench).
    println!(
        "showing {MESSAGES} messages took {:?} including 2 s of settling",
        started.elapsed()
    );
    assert_eq!(
        view.messages().map(gtk4::prelude::ListModelExt::n_items),
        Some(MESSAGES as u32)
    );
    gui_support::screenshot(&display, "conversation_10000_messages_end");
    check_window(&view, "at the end");

    let len = view.window_range().1;
    assert_eq!(
        view.window_range().0,
        MESSAGES as u32 - len,
        "a conversation opens on its newest messages"
    );

    view.show_from(5_000);
    pump(Duration::from_secs(1));
    check_window(&view, "in the middle");
    let shown = gui_support::visible_texts(view.upcast_ref());
    assert!(
        shown.contains("message number 5001\n"),
        "the middle of the history is not shown:\n{shown}"
    );

    // Scrolling to the top edge slides the window to older messages, again and again.
    let adj = view.scroller().vadjustment();
    let mut offset = view.window_range().0;
    for _ in 0..5 {
        adj.set_value(10.0);
        pump(Duration::from_millis(100));
        adj.set_value(0.0);
        pump(Duration::from_millis(300));
        let now = view.window_range().0;
        assert!(
            now < offset,
            "scrolling to the top did not reach older messages"
        );
        offset = now;
    }
    check_window(&view, "after scrolling up");

    // And the bottom edge slides it to newer ones.
    for _ in 0..3 {
        adj.set_value(adj.upper() - adj.page_size() - 10.0);
        pump(Duration::from_millis(100));
        adj.set_value(adj.upper());
        pump(Duration::from_millis(300));
        let now = view.window_range().0;
        assert!(
            now > offset,
            "scrolling to the bottom did not reach newer messages"
        );
        offset = now;
    }
    check_window(&view, "after scrolling down");

    view.show_from(0);
    pump(Duration::from_secs(1));
    gui_support::screenshot(&display, "conversation_10000_messages_top");
    check_window(&view, "at the top");
    assert!(
        gui_support::visible_texts(view.upcast_ref()).contains("message number 1\n"),
        "the first message is not reachable"
    );
}
