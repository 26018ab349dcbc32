//! An incoming room invitation (XEP-0249 direct, or mediated by the room): who invites which
//! account to which room, and *Join* (with a nickname the user types: none is suggested, so the
//! account's name is never put in a room by default), *Decline* or *Not Now*.

use gtk4::glib;
use gtk4::prelude::*;
use libadwaita as adw;
use libadwaita::prelude::*;

use crate::core::{Command, CoreHandle};
use crate::ui::{toast, user_text};

/// An invitation as the core reported it (`Event::RoomInvite`).
#[derive(Debug, Clone)]
pub struct Invitation {
    /// The invited account's bare JID.
    pub account: String,
    /// The room's bare JID.
    pub room: String,
    /// Who invites, if known.
    pub from: Option<String>,
    /// The reason given.
    pub reason: Option<String>,
    /// A direct (XEP-0249) invitation rather than one mediated by the room.
    pub direct: bool,
}

/// The question's text: who invites whom to which room, and the reason if any. An inviter the
/// user named (`ui::contact_names`) is called by that name, with the address beside it.
#[must_use]
pub fn body(invitation: &Invitation) -> String {
    let from = invitation.from.as_deref().map_or_else(
        || "Someone".to_owned(),
        |from| {
            let bare = from.split_once('/').map_or(from, |(bare, _)| bare);
            match crate::ui::contact_names::name_of(&invitation.account, bare) {
                Some(name) => format!("{} ({from})", name.text),
                None => from.to_owned(),
            }
        },
    );
    let how = if invitation.direct {
        "directly"
    } else {
        "through the room"
    };
    let mut text = format!(
        "{from} invites {} to the room {} ({how}).",
        invitation.account, invitation.room
    );
    if let Some(reason) = invitation
        .reason
        .as_deref()
        .filter(|r| !r.trim().is_empty())
    {
        text.push_str("\n\n“");
        text.push_str(reason);
        text.push('”');
    }
    text.push_str("\n\nJoining shows the room your nickname; its members may see more, depending on the room's settings (its audit tells you after joining).");
    text
}

/// Asks about `invitation` over `parent`; the dialog belongs to the application, so locking
/// destroys it with everything else.
pub fn ask(parent: &gtk4::Window, core: CoreHandle, invitation: Invitation) -> adw::MessageDialog {
    let dialog = adw::MessageDialog::new(
        Some(parent),
        Some("Room invitation"),
        Some(&body(&invitation)),
    );
    let nick = gtk4::Entry::builder()
        .placeholder_text("Your nickname in this room")
        .build();
    crate::ui::a11y::set_label(&nick, "Your nickname in this room");
    dialog.set_extra_child(Some(&nick));
    dialog.add_response("later", "Not Now");
    dialog.add_response("decline", "Decline");
    dialog.add_response("join", "Join");
    dialog.set_response_appearance("join", adw::ResponseAppearance::Suggested);
    dialog.set_response_enabled("join", false);
    dialog.set_default_response(Some("later"));
    dialog.set_close_response("later");
    dialog.set_application(parent.application().as_ref());
    nick.connect_changed(glib::clone!(
        #[weak]
        dialog,
        move |entry| dialog.set_response_enabled("join", !entry.text().trim().is_empty())
    ));
    let parent = parent.downgrade();
    dialog.connect_response(None, move |dialog, response| {
        let command = match response {
            "join" => Command::AcceptInvite {
                account: invitation.account.clone(),
                room: invitation.room.clone(),
                nick: nick.text().trim().to_owned(),
                force: false,
            },
            "decline" => Command::DeclineInvite {
                account: invitation.account.clone(),
                room: invitation.room.clone(),
            },
            _ => return,
        };
        dialog.close();
        let core = core.clone();
        let parent = parent.clone();
        glib::MainContext::default().spawn_local(async move {
            if let (Err(e), Some(parent)) = (core.call(command).await, parent.upgrade()) {
                toast(&parent, &user_text::error_text(&e));
            }
        });
    });
    dialog.present();
    dialog
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    #[test]
    fn a_named_inviter_is_called_by_the_name_with_the_address_beside_it() {
        let invitation = Invitation {
            account: "alice@s".into(),
            room: "plans@rooms.s".into(),
            from: Some("carol@s/phone".into()),
            reason: None,
            direct: true,
        };
        assert!(body(&invitation).starts_with("carol@s/phone invites alice@s"));
        let names = BTreeMap::from([("carol@s".to_owned(), "Carol".to_owned())]);
        crate::ui::contact_names::replace("alice@s", &names, &BTreeMap::new());
        assert!(
            body(&invitation).starts_with("Carol (carol@s/phone) invites alice@s"),
            "{}",
            body(&invitation)
        );
        // Another account's name for the same address is not this account's.
        let other = Invitation {
            account: "bob@s".into(),
            ..invitation
        };
        assert!(body(&other).starts_with("carol@s/phone invites"));
        crate::ui::contact_names::forget();
    }
}
