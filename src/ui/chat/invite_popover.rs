//! "Invite a contact" in a room's side panel: a menu button beside the address entry listing the
//! account's contacts (from the session's roster, see `contact_requests_view`); choosing one invites
//! them at once, as typing their address and pressing Invite does. A contact the user named is
//! listed by that name with its address beside it.

use gtk4::glib;
use gtk4::prelude::*;

use crate::ui::chat::RoomPanel;
use crate::ui::session_view::SessionView;

/// The menu button for `panel`; its list is made each time it opens, so it is never stale.
pub fn menu_button(panel: &RoomPanel) -> gtk4::MenuButton {
    let button = gtk4::MenuButton::builder()
        .icon_name("contact-new-symbolic")
        .tooltip_text("Invite one of your contacts")
        .build();
    crate::ui::a11y::set_label(&button, "Invite one of your contacts");
    let panel = panel.downgrade();
    button.set_create_popup_func(move |button| {
        if let Some(panel) = panel.upgrade() {
            button.set_popover(Some(&picker(&panel)));
        }
    });
    button
}

/// The account's contacts of the panel's room, as (bare JID) buttons that invite.
pub fn contacts_for(panel: &RoomPanel) -> Vec<String> {
    let Some((account, _)) = panel.room() else {
        return Vec::new();
    };
    panel
        .ancestor(SessionView::static_type())
        .and_downcast::<SessionView>()
        .and_then(|s| s.contact_requests_view().map(|c| c.contacts_of(&account)))
        .map(|known| {
            known
                .contacts
                .into_iter()
                .filter(|c| !known.blocked.contains(c))
                .collect()
        })
        .unwrap_or_default()
}

fn picker(panel: &RoomPanel) -> gtk4::Popover {
    let list = gtk4::Box::builder()
        .orientation(gtk4::Orientation::Vertical)
        .spacing(2)
        .build();
    let contacts = contacts_for(panel);
    if contacts.is_empty() {
        list.append(
            &gtk4::Label::builder()
                .label("No contacts yet. Type an address instead.")
                .wrap(true)
                .max_width_chars(28)
                .css_classes(["dim-label"])
                .build(),
        );
    }
    let popover = gtk4::Popover::builder().build();
    let account = panel.room().map(|(account, _)| account).unwrap_or_default();
    for jid in contacts {
        let label = match crate::ui::contact_names::name_of(&account, &jid) {
            Some(name) => format!("{} ({jid})", name.text),
            None => jid.clone(),
        };
        let item = gtk4::Button::builder()
            .label(&label)
            .tooltip_text(format!("Invite {jid} (makes them a member)"))
            .css_classes(["flat"])
            .build();
        item.connect_clicked(glib::clone!(
            #[weak]
            panel,
            #[weak]
            popover,
            move |_| {
                popover.popdown();
                panel.invite_jid(&jid);
            }
        ));
        list.append(&item);
    }
    let scroller = gtk4::ScrolledWindow::builder()
        .hscrollbar_policy(gtk4::PolicyType::Never)
        .propagate_natural_height(true)
        .max_content_height(320)
        .child(&list)
        .build();
    popover.set_child(Some(&scroller));
    popover
}
