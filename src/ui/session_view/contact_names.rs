//! Contact names given on this device (`set_contact_name`; kept only in the encrypted store),
//! else the names other clients wrote into the server roster: the sidebar row and the header
//! show the name instead of the address, which stays visible as the row's subtitle and
//! tooltip and the header's subtitle.
//!
//! The names are remembered per account while the profile is unlocked (`ui::contact_names`,
//! forgotten at lock with the rest of the session), so a conversation that appears later is
//! named too, and the other views that name contacts follow.

use std::collections::BTreeMap;

use gtk4::glib;
use gtk4::prelude::*;
use gtk4::subclass::prelude::ObjectSubclassIsExt;
use libadwaita as adw;

use super::SessionView;
use crate::core::{Command, CoreHandle, Reply};
use crate::ui::models::ConversationObject;

fn cached(account: &str, peer: &str) -> Option<String> {
    crate::ui::contact_names::name_of(account, peer).map(|n| n.text)
}

/// What a conversation is called: its name, else its address.
pub(super) fn title(c: &ConversationObject) -> String {
    let name = c.display_name();
    if name.is_empty() { c.peer() } else { name }
}

/// The header's subtitle of a 1:1 conversation: the address when named, and the account.
pub(super) fn subtitle(c: &ConversationObject) -> String {
    if c.display_name().is_empty() {
        c.account()
    } else {
        format!("{} · {}", c.peer(), c.account())
    }
}

/// Takes `account`'s names (all of them, as the core reports them) and shows them: the one
/// given here, else the one another client wrote into the server roster.
pub(super) fn apply(
    view: &SessionView,
    account: &str,
    names: &BTreeMap<String, String>,
    roster_names: &BTreeMap<String, String>,
) {
    let names = crate::ui::contact_names::replace(account, names, roster_names);
    let imp = view.imp();
    if let Some(store) = imp.conversations.get() {
        for c in store.iter::<ConversationObject>().flatten() {
            if c.account() == account && !c.is_room() {
                let name = names
                    .get(&c.peer())
                    .map(|n| n.text.clone())
                    .unwrap_or_default();
                if c.display_name() != name {
                    c.set_display_name(name);
                }
            }
        }
    }
    let open = imp.open.borrow().clone();
    if let Some(c) = open
        && c.account() == account
    {
        imp.content_title.set_title(&title(&c));
        super::room_state::refresh_open(view, &c);
        if !c.is_room()
            && let Some(chat) = imp.conversation_view.get()
        {
            // The contact's messages on screen are signed with the new name.
            crate::ui::chat::message_row::rebind_shown(chat);
        }
    }
}

/// Asks the core for each account's names and shows them.
pub(super) async fn load(view: &glib::WeakRef<SessionView>, core: &CoreHandle, account: &str) {
    let command = Command::ContactNames {
        account: account.to_owned(),
    };
    if let Ok(Reply::ContactNames {
        names,
        roster_names,
    }) = core.call(command).await
        && let Some(view) = view.upgrade()
    {
        apply(&view, account, &names, &roster_names);
    }
}

/// Shows `c`'s name in its sidebar `row`, now and whenever it changes.
pub(super) fn fit_row(row: &adw::ActionRow, c: &ConversationObject) {
    if !c.is_room()
        && c.display_name().is_empty()
        && let Some(name) = cached(&c.account(), &c.peer())
    {
        c.set_display_name(name);
    }
    crate::ui::contact_names::show_on_row(row, c);
}

/// Forgets the names (at lock).
pub(super) fn forget() {
    crate::ui::contact_names::forget();
}
