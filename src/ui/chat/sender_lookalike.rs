//! The look-alike warning on a room message's sender line: a message from an occupant whose
//! nick imitates another's (the core's `lookalike_of`, the check the occupant list shows)
//! says so beside the nick, in the text a screen reader reads too. A nick once flagged in a
//! room stays flagged for the session (bounded), so messages from an imitator who left keep
//! their warning; rows already on screen when a nick becomes flagged (history opened before
//! the join) are bound again.

use std::cell::RefCell;
use std::collections::HashMap;

use gtk4::gio;
use gtk4::prelude::*;

use crate::core::events::Occupant;
use crate::ui::chat::ConversationView;
use crate::ui::models::MessageObject;
use crate::ui::user_text;

/// Flagged nicks remembered per room at most (later ones are not added).
const MAX_PER_ROOM: usize = 256;

/// The CSS class (and marker) of a sender line that carries the warning.
const CLASS: &str = "lookalike-sender";

thread_local! {
    /// (account, room) → flagged nick → the nick it imitates.
    static FLAGGED: RefCell<HashMap<(String, String), HashMap<String, String>>> =
        RefCell::default();
    /// The conversation on screen (account, peer), whose rows are being bound.
    static OPEN: RefCell<Option<(String, String)>> = RefCell::default();
}

/// Remembers the flagged occupants of an `Occupants` event; rows of `view` already showing
/// a newly flagged sender of that room are bound again, so they carry the warning too.
pub fn note_occupants(
    account: &str,
    room: &str,
    occupants: &[Occupant],
    view: Option<&ConversationView>,
) {
    if occupants.iter().all(|o| o.lookalike_of.is_none()) {
        return;
    }
    let newly: Vec<String> = FLAGGED.with_borrow_mut(|f| {
        let nicks = f.entry((account.to_owned(), room.to_owned())).or_default();
        let mut newly = Vec::new();
        for o in occupants {
            let Some(imitated) = &o.lookalike_of else {
                continue;
            };
            if nicks.get(&o.nick) == Some(imitated)
                || (nicks.len() >= MAX_PER_ROOM && !nicks.contains_key(&o.nick))
            {
                continue;
            }
            nicks.insert(o.nick.clone(), imitated.clone());
            newly.push(o.nick.clone());
        }
        newly
    });
    if newly.is_empty() {
        return;
    }
    if let Some(store) = view
        .filter(|v| v.is_showing(account, room))
        .and_then(ConversationView::messages)
    {
        rebind(store, &newly);
    }
}

/// Binds again the rows of `store` whose (incoming) sender is one of `nicks`.
fn rebind(store: &gio::ListStore, nicks: &[String]) {
    for pos in 0..store.n_items() {
        let Some(obj) = store.item(pos).and_downcast::<MessageObject>() else {
            continue;
        };
        if !obj.outgoing() && nicks.contains(&obj.sender()) {
            store.splice(pos, 1, &[obj]);
        }
    }
}

/// Forgets every flag (on lock).
pub fn clear() {
    FLAGGED.with_borrow_mut(HashMap::clear);
    OPEN.with_borrow_mut(|o| *o = None);
}

/// Notes the conversation the window opens (its rows are bound after this).
pub fn opened(account: &str, peer: &str) {
    OPEN.with_borrow_mut(|o| *o = Some((account.to_owned(), peer.to_owned())));
}

/// The nick `sender` imitates in the conversation on screen, if flagged.
fn imitated(sender: &str) -> Option<String> {
    FLAGGED.with_borrow(|f| {
        if f.is_empty() {
            return None;
        }
        OPEN.with_borrow(|o| f.get(o.as_ref()?)?.get(sender).cloned())
    })
}

/// Shows `sender` on a message row's sender `label`, with the look-alike warning when the
/// sender imitates another occupant of the room on screen. Costs a hash lookup for the
/// common unflagged sender.
pub fn show(label: &gtk4::Label, message: &MessageObject, sender: &str) {
    let warning = if message.outgoing() {
        None
    } else {
        imitated(sender).map(|i| user_text::lookalike_warning(&i))
    };
    match warning {
        Some(warning) => {
            let text = format!("{sender} ⚠ {warning}");
            label.set_label(&text);
            label.add_css_class(CLASS);
            label.add_css_class("warning");
            crate::ui::a11y::set_label(label, &text);
        }
        None if label.has_css_class(CLASS) => {
            label.remove_css_class(CLASS);
            label.remove_css_class("warning");
            crate::ui::a11y::set_label(label, sender);
        }
        None => {}
    }
}
