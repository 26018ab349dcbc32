//! The message a search result led to, highlighted for a few seconds where the conversation
//! shows it, so the eye finds it among its neighbours.
//!
//! Rows are recycled as the list scrolls, so the highlight is not kept on a widget: the found
//! message is remembered here, each row asks [`show`] whenever it is bound, and [`flash`]
//! updates the rows bound at that moment.
//!
//! The highlight is a colour, which a screen reader does not see: the found row's accessible
//! label says it was found by the search, and what it holds.

use std::cell::{Cell, RefCell};
use std::time::Duration;

use gtk4::glib;
use gtk4::prelude::*;

use crate::ui::chat::{ConversationView, MessageRow};
use crate::ui::models::MessageObject;

/// The CSS class of the found message's row.
pub const CLASS: &str = "search-found";

/// How long the highlight stays.
const SHOWN_FOR: Duration = Duration::from_secs(4);

thread_local! {
    /// The message highlighted now, if any.
    static FOUND: RefCell<glib::WeakRef<MessageObject>> = RefCell::new(glib::WeakRef::new());
    /// Counts highlights, so an older one's end does not end a newer one.
    static GENERATION: Cell<u64> = const { Cell::new(0) };
}

/// What a screen reader says for the found message's row.
pub fn accessible_label(message: &MessageObject) -> String {
    let sender = crate::ui::chat::message_row::shown_sender(message);
    let time = crate::ui::chat::message_row::format_time(message.timestamp_ms());
    format!(
        "Found by the search: {sender}, {time}: {}",
        crate::core::one_line_bounded(&message.body(), 500)
    )
}

/// Puts the highlight on `row` if it shows the found message, and takes it off otherwise
/// (called whenever the row is bound).
pub fn show(row: &MessageRow, message: &MessageObject) {
    let found = FOUND.with(|f| f.borrow().upgrade().is_some_and(|m| &m == message));
    if found {
        row.add_css_class(CLASS);
        crate::ui::a11y::set_label(row, &accessible_label(message));
    } else {
        unmark(row);
    }
}

/// Takes the highlight (and what it told a screen reader) off `row`.
fn unmark(row: &MessageRow) {
    // Checked first: most rows were never marked, and relabelling costs a builder run.
    if row.has_css_class(CLASS) {
        row.remove_css_class(CLASS);
        crate::ui::a11y::set_label(row, "");
    }
}

/// Highlights `message` in `view` for a few seconds.
pub fn flash(view: &ConversationView, message: &MessageObject) {
    FOUND.with(|f| f.borrow().set(Some(message)));
    let generation = GENERATION.with(|g| {
        g.set(g.get() + 1);
        g.get()
    });
    refresh(view);
    let view = view.downgrade();
    glib::timeout_add_local_once(SHOWN_FOR, move || {
        if GENERATION.with(Cell::get) != generation {
            return;
        }
        FOUND.with(|f| f.borrow().set(None));
        if let Some(view) = view.upgrade() {
            refresh(&view);
        }
    });
}

/// Applies [`show`] to every row `view` has now.
fn refresh(view: &ConversationView) {
    crate::ui::chat::message_row::for_each_row(view, |row| match row.message() {
        Some(m) => show(row, &m),
        None => unmark(row),
    });
}
