//! Notes under an outgoing message: why it is held and who in a room cannot read it, with a
//! "Check again" link where missing keys are the reason: it has the core look for them now
//! (`check_keys`).
//!
//! The core keeps both with the message (`notes` of its `StoredMessage`, in the store or in
//! memory for "don't store" conversations), so a note is shown again after a restart, a lock or
//! when the conversation is opened again. The `message_held` and `keys_missing` events are also
//! remembered by origin-id for the session (bounded), so a note shows at once on a shown row.
//! Notes are Pango markup (the row's note label uses markup for the link).

use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};

use gtk4::prelude::*;
use gtk4::subclass::prelude::*;
use gtk4::{gio, glib};

use crate::core::events::{HeldCause, StoredMessage};
use crate::core::{Command, Event, Reply};
use crate::ui::chat::ConversationView;
use crate::ui::models::MessageObject;
use crate::ui::{toast, user_text};

/// Notes remembered at most (oldest forgotten first).
const MAX_NOTES: usize = 512;

/// The link target of a note's "Check again": this prefix, then the JIDs whose keys to look
/// for, comma-separated (none: the conversation's peer, or the room's members).
const CHECK_AGAIN: &str = "check-again:";

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

/// The note (markup) for a held message of the conversation `with`; "Check again" only where
/// keys appearing can send it (not for a room not joined yet, nor a private message to an
/// occupant, which cannot be encrypted at all).
fn held_note(with: &str, cause: HeldCause) -> String {
    let text = user_text::held_text(with, cause);
    match cause {
        HeldCause::NoKeys | HeldCause::EncryptionFailed => with_check_again(&text, &[]),
        HeldCause::NoRoomMembers | HeldCause::OccupantMessage => {
            glib::markup_escape_text(&text).to_string()
        }
    }
}

/// The note (markup) for a room message `jids` cannot read.
fn not_readable_note(jids: &[String]) -> String {
    with_check_again(&user_text::not_readable_text(jids), jids)
}

fn with_check_again(text: &str, jids: &[String]) -> String {
    let target = format!("{CHECK_AGAIN}{}", jids.join(","));
    format!(
        "{} <a href=\"{}\">Check again</a>",
        glib::markup_escape_text(text),
        glib::markup_escape_text(&target)
    )
}

/// The note (markup) to show under `m` (empty when none): what the core kept with it, else
/// what this session's events said.
pub fn note_for(m: &StoredMessage) -> String {
    if m.direction != "out" {
        return String::new();
    }
    match (&m.notes.held, m.notes.not_readable_by.as_slice()) {
        (Some(cause), _) if m.encryption == "pending" => held_note(&m.with, *cause),
        (_, jids) if !jids.is_empty() => not_readable_note(jids),
        _ => m
            .origin_id
            .as_deref()
            .map(|o| {
                let note = remembered(o, &m.encryption);
                match crate::ui::chat::activity_marks::note(o) {
                    Some(mark) if note.is_empty() => mark.to_owned(),
                    _ => note,
                }
            })
            .unwrap_or_default(),
    }
}

/// What this session's events said about `origin_id`.
fn remembered(origin_id: &str, encryption: &str) -> String {
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
        } => (origin_id.clone(), Note::Held(held_note(with, *cause))),
        Event::KeysMissing {
            jids,
            origin_id: Some(origin_id),
            ..
        } if !jids.is_empty() => (
            origin_id.clone(),
            Note::NotReadable(not_readable_note(jids)),
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
            let note = remembered(origin_id, &obj.encryption());
            if note.is_empty() {
                return;
            }
            obj.set_note(note);
            store.splice(pos, 1, &[obj]);
            return;
        }
    }
}

/// Makes a row's note label show notes (markup) and answer their "Check again" link.
pub fn set_up(label: &gtk4::Label) {
    label.set_use_markup(true);
    label.connect_activate_link(|label, uri| {
        let Some(jids) = uri.strip_prefix(CHECK_AGAIN) else {
            return glib::Propagation::Proceed;
        };
        let jids = jids
            .split(',')
            .filter(|j| !j.is_empty())
            .map(str::to_owned)
            .collect();
        if let Some(view) = label
            .ancestor(ConversationView::static_type())
            .and_downcast::<ConversationView>()
        {
            check_again(&view, jids);
        }
        glib::Propagation::Stop
    });
}

/// Asks the core to look for the keys of `jids` (none: the open conversation's peer or room
/// members) now, and says what it found.
fn check_again(view: &ConversationView, jids: Vec<String>) {
    let imp = view.imp();
    let (Some((account, with)), Some(core)) =
        (imp.conversation.borrow().clone(), imp.core.get().cloned())
    else {
        return;
    };
    let command = Command::CheckKeys {
        account,
        with,
        jids,
    };
    let view = view.downgrade();
    glib::MainContext::default().spawn_local(async move {
        let result = core.call(command).await;
        let Some(view) = view.upgrade() else {
            return;
        };
        let text = match result {
            Ok(Reply::KeysChecked { without_keys, .. }) if without_keys.is_empty() => {
                "OMEMO keys found: waiting messages are sent encrypted now, and new ones can be \
                 read by everybody."
                    .to_owned()
            }
            Ok(Reply::KeysChecked { without_keys, .. }) => format!(
                "Still no OMEMO keys for {}. Nothing is sent to them in plaintext.",
                without_keys.join(", ")
            ),
            Ok(_) => return,
            Err(e) => format!("Could not check for keys. {}", user_text::error_text(&e)),
        };
        toast(&view, &text);
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outgoing(encryption: &str) -> StoredMessage {
        StoredMessage {
            id: 1,
            account: "me@s".into(),
            with: "room@rooms.s".into(),
            direction: "out".into(),
            from: "me@s".into(),
            body: "x".into(),
            timestamp_ms: 0,
            encryption: encryption.into(),
            corrected: false,
            retracted: false,
            origin_id: None,
            notes: crate::core::events::MessageNotes::default(),
        }
    }

    #[test]
    fn a_kept_held_cause_is_shown_only_while_the_message_waits() {
        let mut m = outgoing("pending");
        m.notes.held = Some(HeldCause::NoKeys);
        let note = note_for(&m);
        assert!(
            note.starts_with("Held: room@rooms.s has no OMEMO keys yet"),
            "{note}"
        );
        assert!(note.contains("href=\"check-again:\""), "{note}");
        m.encryption = "omemo2".into();
        assert_eq!(note_for(&m), "");
    }

    #[test]
    fn a_message_held_for_want_of_a_joined_room_offers_no_check_again() {
        let mut m = outgoing("pending");
        m.notes.held = Some(HeldCause::NoRoomMembers);
        let note = note_for(&m);
        assert!(note.starts_with("Held: no member of this room"), "{note}");
        assert!(!note.contains("Check again"), "{note}");
    }

    #[test]
    fn kept_unreadable_members_are_named_with_a_link_to_check_them_again() {
        let mut m = outgoing("omemo2");
        m.notes.not_readable_by = vec!["a@s".into(), "b&c@s".into()];
        let note = note_for(&m);
        assert!(
            note.starts_with("Not readable by: a@s, b&amp;c@s "),
            "{note}"
        );
        assert!(
            note.contains("href=\"check-again:a@s,b&amp;c@s\""),
            "{note}"
        );
    }
}
