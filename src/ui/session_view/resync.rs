//! Catching up after the window fell behind the core's event stream (the broadcast channel
//! lagged and dropped events): the accounts, the conversation list and the open conversation's
//! last page are read again from the core, so nothing the dropped events carried stays missing.

use gtk4::glib;
use gtk4::prelude::*;
use gtk4::subclass::prelude::*;

use super::SessionView;
use crate::core::events::AccountSummary;
use crate::core::{Command, CoreHandle, Reply};

/// Reads again what the view shows from the core (see the module comment).
pub(super) fn resync(view: &SessionView) {
    let Some(core) = view.imp().core.get().cloned() else {
        return;
    };
    if let Some(chat) = view.imp().conversation_view.get() {
        chat.reload();
    }
    let view = view.downgrade();
    glib::MainContext::default().spawn_local(async move {
        let Ok(Reply::Accounts { accounts }) = core.call(Command::ListAccounts).await else {
            return;
        };
        if let Some(view) = view.upgrade() {
            view.set_accounts(&accounts);
        }
        list_conversations(&view, &core, &accounts).await;
    });
}

/// Lists the accounts' stored conversations in the sidebar (rooms marked as rooms).
pub(super) async fn list_conversations(
    view: &glib::WeakRef<SessionView>,
    core: &CoreHandle,
    accounts: &[AccountSummary],
) {
    for account in accounts {
        super::contact_names::load(view, core, &account.jid).await;
        let command = Command::Conversations {
            account: account.jid.clone(),
        };
        let Ok(Reply::Conversations { conversations }) = core.call(command).await else {
            continue;
        };
        let Some(view) = view.upgrade() else {
            return;
        };
        for c in conversations {
            if let Some((_, obj)) = view.conversation(&account.jid, &c.with)
                && c.is_room
            {
                obj.set_is_room(true);
                super::room_state::restore(&view, &account.jid, &c);
            }
        }
    }
}
