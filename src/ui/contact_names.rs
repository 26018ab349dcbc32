//! The names contacts are shown by, for every view of the window that names a contact
//! outside the sidebar (search results, notifications, the composer, the contacts list):
//! the name given on this computer (`set_contact_name`, trusted: the user chose it), else the
//! name another of the user's clients wrote into the server roster (which came over the
//! network, so it is marked as such). The session view fills this when the core reports an
//! account's names (`Event::ContactNames`) and empties it at lock.
//!
//! A name never replaces the address where it cannot be seen: every place that shows a name
//! keeps the address in a subtitle or tooltip, so a name cannot pass for another contact.
//! Room nicknames are never looked up here — a nickname is the occupant's own choice and is
//! shown as such.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashMap};
use std::rc::Rc;

use gtk4::glib;
use gtk4::prelude::*;
use libadwaita as adw;
use libadwaita::prelude::*;

use crate::ui::models::ConversationObject;

/// A contact's name and where it comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContactName {
    /// The name, cleaned by the core (one bounded line, no hidden characters).
    pub text: String,
    /// Given on this computer (`true`), or read from the server roster (`false`).
    pub local: bool,
}

type Watcher = (glib::WeakRef<glib::Object>, Rc<dyn Fn()>);

thread_local! {
    /// Name by (account, contact).
    static NAMES: RefCell<HashMap<(String, String), ContactName>> = RefCell::new(HashMap::new());
    /// Called whenever names change, while their owner lives.
    static WATCHERS: RefCell<Vec<Watcher>> = const { RefCell::new(Vec::new()) };
}

/// The name `account` (bare JID) shows for `peer` (bare JID), if any.
pub fn name_of(account: &str, peer: &str) -> Option<ContactName> {
    NAMES.with(|n| {
        n.borrow()
            .get(&(account.to_owned(), peer.to_owned()))
            .cloned()
    })
}

/// What a contact is called: its name, else its address.
pub fn title_of(account: &str, peer: &str) -> String {
    name_of(account, peer).map_or_else(|| peer.to_owned(), |n| n.text)
}

/// Takes `account`'s names as the core reports them (given here, and the roster's) and tells
/// every watcher. Returns the merged names: the one given here wins.
pub fn replace(
    account: &str,
    names: &BTreeMap<String, String>,
    roster_names: &BTreeMap<String, String>,
) -> BTreeMap<String, ContactName> {
    let mut merged: BTreeMap<String, ContactName> = roster_names
        .iter()
        .map(|(peer, text)| {
            let name = ContactName {
                text: text.clone(),
                local: false,
            };
            (peer.clone(), name)
        })
        .collect();
    merged.extend(names.iter().map(|(peer, text)| {
        let name = ContactName {
            text: text.clone(),
            local: true,
        };
        (peer.clone(), name)
    }));
    NAMES.with(|n| {
        let mut n = n.borrow_mut();
        n.retain(|(a, _), _| a != account);
        n.extend(
            merged
                .iter()
                .map(|(peer, name)| ((account.to_owned(), peer.clone()), name.clone())),
        );
    });
    changed();
    merged
}

/// Calls `f` whenever names change, for as long as `owner` lives (a widget showing names
/// calls it to show the new ones).
pub fn watch(owner: &impl IsA<glib::Object>, f: impl Fn() + 'static) {
    WATCHERS.with(|w| {
        let mut w = w.borrow_mut();
        w.retain(|(o, _)| o.upgrade().is_some());
        w.push((owner.upcast_ref::<glib::Object>().downgrade(), Rc::new(f)));
    });
}

/// Tells every live watcher that names changed.
fn changed() {
    // Cloned out first: a watcher may register another.
    let live: Vec<Rc<dyn Fn()>> = WATCHERS.with(|w| {
        let mut w = w.borrow_mut();
        w.retain(|(o, _)| o.upgrade().is_some());
        w.iter().map(|(_, f)| f.clone()).collect()
    });
    for f in live {
        f();
    }
}

/// Shows conversation `c` on `row` as the sidebar and the conversation switcher do: its name
/// as the title, with the address and the account beneath; unnamed, the address over the
/// account. Follows a rename (the session view renames `c`) for as long as `row` lives.
pub fn show_on_row(row: &adw::ActionRow, c: &ConversationObject) {
    fn show(row: &adw::ActionRow, c: &ConversationObject) {
        if c.display_name().is_empty() {
            row.set_title(&c.peer());
            row.set_subtitle(&c.account());
        } else {
            row.set_title(&c.display_name());
            row.set_subtitle(&format!("{} · {}", c.peer(), c.account()));
        }
    }
    show(row, c);
    let weak_row = row.downgrade();
    let handler = c.connect_display_name_notify(move |c| {
        if let Some(row) = weak_row.upgrade() {
            show(&row, c);
        }
    });
    // The conversation outlives the rows made for it (each opening of the switcher makes
    // new ones): its handler goes with the row.
    let (conversation, handler) = (c.downgrade(), Cell::new(Some(handler)));
    row.connect_destroy(move |_| {
        if let (Some(c), Some(handler)) = (conversation.upgrade(), handler.take()) {
            c.disconnect(handler);
        }
    });
}

/// Forgets every name (at lock).
pub fn forget() {
    NAMES.with(|n| n.borrow_mut().clear());
    changed();
}
