//! The conversation settings' *Name* entry: the name the user gives a contact on this device
//! (kept only in the encrypted profile, never in the server roster; `set_contact_name`).
//! Emptied and applied, it forgets the name.

use gtk4::glib;
use gtk4::prelude::*;
use libadwaita as adw;
use libadwaita::prelude::*;

use crate::core::{Command, CoreHandle, Reply};
use crate::ui::conversation_settings_dialog::ConversationSettingsDialog;
use crate::ui::models::ConversationObject;
use crate::ui::user_text;

/// The entry's title (also what tests and screen readers find it by).
pub const TITLE: &str = "Name (only on this computer)";

/// Adds the name entry for `conversation`'s contact to `group` of `dialog`.
pub fn add(
    dialog: &ConversationSettingsDialog,
    group: &adw::PreferencesGroup,
    core: CoreHandle,
    conversation: &ConversationObject,
) -> adw::EntryRow {
    let row = adw::EntryRow::builder()
        .title(TITLE)
        .show_apply_button(true)
        .tooltip_text(
            "Shown instead of the address. Kept only in the encrypted profile: your server \
             never learns it. Leave empty to show the address.",
        )
        .build();
    let (account, peer) = (conversation.account(), conversation.peer());
    // The name given here (not one another client put in the server roster).
    {
        let command = Command::ContactNames {
            account: account.clone(),
        };
        let (core, row, peer) = (core.clone(), row.downgrade(), peer.clone());
        glib::MainContext::default().spawn_local(async move {
            if let Ok(Reply::ContactNames { names, .. }) = core.call(command).await
                && let (Some(row), Some(name)) = (row.upgrade(), names.get(&peer))
                && row.text().is_empty()
            {
                row.set_text(name);
            }
        });
    }
    let dialog = dialog.downgrade();
    row.connect_apply(move |row| {
        let text = row.text().to_string();
        let command = Command::SetContactName {
            account: account.clone(),
            jid: peer.clone(),
            name: Some(text),
        };
        let (core, row, dialog, peer) =
            (core.clone(), row.downgrade(), dialog.clone(), peer.clone());
        glib::MainContext::default().spawn_local(async move {
            let result = core.call(command).await;
            let Some(dialog) = dialog.upgrade() else {
                return;
            };
            match result {
                Ok(Reply::ContactNames { names, .. }) => {
                    // Show the name as it was kept (cleaned, bounded).
                    if let Some(row) = row.upgrade() {
                        row.set_text(names.get(&peer).map_or("", String::as_str));
                    }
                    dialog.show_toast(if names.contains_key(&peer) {
                        "Name saved on this computer"
                    } else {
                        "Name removed"
                    });
                }
                Ok(_) => {}
                Err(e) => dialog.show_toast(&user_text::error_text(&e)),
            }
        });
    });
    group.add(&row);
    row
}
