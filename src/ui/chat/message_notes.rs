//! Notes under an outgoing message: why it is held (`message_held`) and who in a room cannot
//! read it (`keys_missing`). Kept by origin-id for the session (bounded), read in O(1) when a
//! row's object is made; a note that arrives for a shown message re-binds that one row.

use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};

use gtk4::gio;
use gtk4::prelude::*;

use crate::core::Event;
use crate::ui::chat::ConversationView;
use crate::ui::models::MessageObject;
use crate::ui::user_text;

/// Notes remembered at most (oldest forgotten first).
const MAX_NOTES: usize = 512;

enum Note {
    /// Why it waits; shown only while the message is still pending encryption.
    Held(String),
    /// Who cannot read it.
    NotReadable(String),
}

#[derive(Default)]
struct Notes {
    by_origin: HashMap<String, Note>,
    order: VecDeque<String>,
}

thread_local! {
    static NOTES: RefCell<Notes> = RefCell::new(Notes::default());
}

/// The note to show for a message with `origin_id` and `encryption` (empty when none).
pub fn note_for(origin_id: &str, encryption: &str) -> String {
    if origin_id.is_empty() {
        return String::new();
    }
    NOTES.with(|n| match n.borrow().by_origin.get(origin_id) {
        Some(Note::Held(text)) if encryption == "pending" => text.clone(),
        Some(Note::NotReadable(text)) => text.clone(),
        _ => String::new(),
    })
}

/// Shows a `message_held` or `keys_missing` event on its message's row.
pub fn handle(event: &Event, view: Option<&ConversationView>) {
    let (origin_id, note) = match event {
        Event::MessageHeld {
            with,
            origin_id,
            cause,
            ..
        } => (
            origin_id.clone(),
            Note::Held(user_text::held_text(with, *cause)),
        ),
        Event::KeysMissing {
            jids,
            origin_id: Some(origin_id),
            ..
        } if !jids.is_empty() => (
            origin_id.clone(),
            Note::NotReadable(user_text::not_readable_text(jids)),
        ),
        _ => return,
    };
    NOTES.with(|n| {
        let mut n = n.borrow_mut();
        if n.by_origin.insert(origin_id.clone(), note).is_none() {
            n.order.push_back(origin_id.clone());
            while n.order.len() > MAX_NOTES {
                if let Some(old) = n.order.pop_front() {
                    n.by_origin.remove(&old);
                }
            }
        }
    });
    if let Some(store) = view.and_then(ConversationView::messages) {
        refresh(store, &origin_id);
    }
}

/// Forgets every note (on lock).
pub fn clear() {
    NOTES.with(|n| *n.borrow_mut() = Notes::default());
}

/// Re-binds the shown row of `origin_id`, if the open conversation shows it (newest first:
/// a held or just-sent message is near the end).
fn refresh(store: &gio::ListStore, origin_id: &str) {
    for pos in (0..store.n_items()).rev() {
        let Some(obj) = store.item(pos).and_downcast::<MessageObject>() else {
            continue;
        };
        if obj.origin_id() == origin_id {
            obj.set_note(note_for(origin_id, &obj.encryption()));
            store.splice(pos, 1, &[obj]);
            return;
        }
    }
}
