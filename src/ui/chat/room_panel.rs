//! The side panel of an open room: who is present (nick, real address when the room shows it,
//! affiliation), inviting someone, and leaving. Fed by the session view from `Event::Occupants`.
//! An occupant whose real address the room shows and whom the user named is given that name
//! beside the address; the title stays the nickname, the occupant's own choice (a nickname is
//! never taken for a name the user gave).

use std::cell::{Cell, OnceCell, RefCell};
use std::sync::OnceLock;

use gtk4::glib::subclass::Signal;
use gtk4::prelude::*;
use gtk4::subclass::prelude::*;
use gtk4::{CompositeTemplate, gio, glib};
use libadwaita as adw;

use crate::core::{Command, CoreHandle};
use crate::ui::models::OccupantObject;
use crate::ui::{toast, user_text};

mod imp {
    #[allow(clippy::wildcard_imports)]
    // gtk-rs subclass idiom: imp shares its wrapper's imports
    use super::*;

    #[derive(Default, CompositeTemplate)]
    #[template(file = "../../../ui/chat/room_panel.ui")]
    pub struct RoomPanel {
        #[template_child]
        pub title_label: TemplateChild<gtk4::Label>,
        #[template_child]
        pub occupants_list: TemplateChild<gtk4::ListBox>,
        #[template_child]
        pub invite_entry: TemplateChild<gtk4::Entry>,
        #[template_child]
        pub invite_button: TemplateChild<gtk4::Button>,
        #[template_child]
        pub leave_button: TemplateChild<gtk4::Button>,
        pub core: OnceCell<CoreHandle>,
        /// `(account, room)` shown now.
        pub room: RefCell<Option<(String, String)>>,
        /// Its occupants (made into rows again when a contact is renamed).
        pub occupants: RefCell<Option<gio::ListStore>>,
        /// Whether renames are followed already.
        pub watching_names: Cell<bool>,
    }

    #[glib::object_subclass]
    impl ObjectSubclass for RoomPanel {
        const NAME: &'static str = "TalpaRoomPanel";
        type Type = super::RoomPanel;
        type ParentType = gtk4::Box;

        fn class_init(klass: &mut Self::Class) {
            klass.bind_template();
        }

        fn instance_init(obj: &glib::subclass::InitializingObject<Self>) {
            obj.init_template();
        }
    }

    impl ObjectImpl for RoomPanel {
        fn signals() -> &'static [Signal] {
            static SIGNALS: OnceLock<Vec<Signal>> = OnceLock::new();
            SIGNALS.get_or_init(|| {
                vec![
                    Signal::builder("left")
                        .param_types([String::static_type(), String::static_type()])
                        .build(),
                ]
            })
        }

        fn constructed(&self) {
            self.parent_constructed();
            let obj = self.obj();
            let placeholder = gtk4::Label::builder()
                .label("Nobody here yet, or the room has not answered.")
                .wrap(true)
                .margin_top(6)
                .margin_bottom(6)
                .css_classes(["dim-label"])
                .build();
            self.occupants_list.set_placeholder(Some(&placeholder));
            self.invite_button.connect_clicked(glib::clone!(
                #[weak]
                obj,
                move |_| obj.invite()
            ));
            self.invite_entry.connect_activate(glib::clone!(
                #[weak]
                obj,
                move |_| obj.invite()
            ));
            if let Some(row) = self.invite_button.parent().and_downcast::<gtk4::Box>() {
                let picker = crate::ui::chat::invite_popover::menu_button(&obj);
                row.insert_child_after(&picker, Some(&*self.invite_entry));
            }
            self.leave_button.connect_clicked(glib::clone!(
                #[weak]
                obj,
                move |_| obj.leave()
            ));
        }
    }

    impl WidgetImpl for RoomPanel {}
    impl BoxImpl for RoomPanel {}
}

glib::wrapper! {
    /// Occupants, invite and leave for the open room.
    pub struct RoomPanel(ObjectSubclass<imp::RoomPanel>)
        @extends gtk4::Box, gtk4::Widget,
        @implements gtk4::Buildable, gtk4::ConstraintTarget, gtk4::Orientable;
}

/// A readable line for an occupant's standing in the room, and its real address (with the
/// name the user gave it, `name`) when the room shows it.
pub fn occupant_subtitle(jid: &str, affiliation: &str, name: Option<&str>) -> String {
    let standing = match affiliation {
        "owner" => "Owner",
        "admin" => "Administrator",
        "member" => "Member",
        "outcast" => "Banned",
        _ => "Not a member",
    };
    match (jid.is_empty(), name) {
        (true, _) => format!("{standing} · address hidden"),
        (false, Some(name)) => format!("{standing} · {name} ({jid})"),
        (false, None) => format!("{standing} · {jid}"),
    }
}

fn occupant_row(item: &glib::Object, account: &str) -> gtk4::Widget {
    let Some(occupant) = item.downcast_ref::<OccupantObject>() else {
        return gtk4::Label::new(None).upcast();
    };
    let jid = occupant.jid();
    let bare = jid.split_once('/').map_or(jid.as_str(), |(bare, _)| bare);
    let name = (!bare.is_empty())
        .then(|| crate::ui::contact_names::name_of(account, bare))
        .flatten();
    let mut subtitle = occupant_subtitle(
        &jid,
        &occupant.affiliation(),
        name.as_ref().map(|n| n.text.as_str()),
    );
    let lookalike = occupant.lookalike_of();
    if !lookalike.is_empty() {
        subtitle = format!("{} · {subtitle}", user_text::lookalike_warning(&lookalike));
    }
    let row = adw::ActionRow::builder()
        .title(glib::markup_escape_text(&occupant.nick()))
        .subtitle(glib::markup_escape_text(&subtitle))
        .build();
    if !lookalike.is_empty() {
        let icon = gtk4::Image::builder()
            .icon_name("dialog-warning-symbolic")
            .tooltip_text(user_text::lookalike_warning(&lookalike))
            .css_classes(["warning"])
            .build();
        crate::ui::a11y::set_label(&icon, &user_text::lookalike_warning(&lookalike));
        adw::prelude::ActionRowExt::add_prefix(&row, &icon);
    }
    row.upcast()
}

impl RoomPanel {
    /// A panel talking to `core`, showing no room.
    pub fn new(core: CoreHandle) -> Self {
        let panel: Self = glib::Object::new();
        let _ = panel.imp().core.set(core);
        panel
    }

    /// Shows `room` of `account` with its occupants model.
    pub fn show_room(&self, account: &str, room: &str, occupants: &gio::ListStore) {
        let imp = self.imp();
        imp.room
            .replace(Some((account.to_owned(), room.to_owned())));
        let account = account.to_owned();
        imp.occupants_list
            .bind_model(Some(occupants), move |item| occupant_row(item, &account));
        imp.title_label.set_label("Occupants");
        if !imp.watching_names.replace(true) {
            // A rename shows at once: the rows are made again.
            let panel = self.downgrade();
            crate::ui::contact_names::watch(self, move || {
                let Some(panel) = panel.upgrade() else { return };
                let imp = panel.imp();
                let room = imp.room.borrow().clone();
                let model = imp.occupants.borrow().clone();
                if let (Some((account, room)), Some(model)) = (room, model) {
                    panel.show_room(&account, &room, &model);
                }
            });
        }
        imp.occupants.replace(Some(occupants.clone()));
    }

    /// Shows nothing (on lock and when a 1:1 conversation opens).
    pub fn clear(&self) {
        let imp = self.imp();
        imp.room.replace(None);
        imp.occupants.replace(None);
        imp.occupants_list
            .bind_model(None::<&gio::ListModel>, |item| occupant_row(item, ""));
        imp.invite_entry.set_text("");
    }

    /// Calls `f(account, room)` after the core left the room.
    pub fn connect_left<F: Fn(&Self, &str, &str) + 'static>(&self, f: F) -> glib::SignalHandlerId {
        self.connect_local("left", false, move |values| {
            let panel = values.first()?.get::<Self>().ok()?;
            let account = values.get(1)?.get::<String>().ok()?;
            let room = values.get(2)?.get::<String>().ok()?;
            f(&panel, &account, &room);
            None
        })
    }

    /// `(account, room)` shown now.
    pub fn room(&self) -> Option<(String, String)> {
        self.imp().room.borrow().clone()
    }

    fn invite(&self) {
        let jid = self.imp().invite_entry.text().trim().to_owned();
        self.invite_jid(&jid);
    }

    /// Invites `jid` into the shown room (mediated; makes them a member first).
    pub fn invite_jid(&self, jid: &str) {
        let imp = self.imp();
        let jid = jid.trim().to_owned();
        if jid.is_empty() {
            return;
        }
        let (Some((account, room)), Some(core)) =
            (imp.room.borrow().clone(), imp.core.get().cloned())
        else {
            return;
        };
        imp.invite_button.set_sensitive(false);
        let panel = self.downgrade();
        glib::MainContext::default().spawn_local(async move {
            let result = core
                .call(Command::Invite {
                    account,
                    room,
                    jid: jid.clone(),
                })
                .await;
            let Some(panel) = panel.upgrade() else { return };
            panel.imp().invite_button.set_sensitive(true);
            match result {
                Ok(_) => {
                    if panel.imp().invite_entry.text().trim() == jid {
                        panel.imp().invite_entry.set_text("");
                    }
                    toast(&panel, &format!("{jid} is now a member and was invited."));
                }
                Err(e) => toast(
                    &panel,
                    &format!("Could not invite {jid}. {}", user_text::error_text(&e)),
                ),
            }
        });
    }

    fn leave(&self) {
        let imp = self.imp();
        let (Some((account, room)), Some(core)) =
            (imp.room.borrow().clone(), imp.core.get().cloned())
        else {
            return;
        };
        let panel = self.downgrade();
        glib::MainContext::default().spawn_local(async move {
            let result = core
                .call(Command::LeaveRoom {
                    account: account.clone(),
                    room: room.clone(),
                })
                .await;
            let Some(panel) = panel.upgrade() else { return };
            match result {
                Ok(_) => panel.emit_by_name::<()>("left", &[&account, &room]),
                Err(e) => toast(
                    &panel,
                    &format!("Could not leave {room}. {}", user_text::error_text(&e)),
                ),
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::occupant_subtitle;

    #[test]
    fn occupant_standing_is_readable_and_hidden_addresses_are_said_so() {
        assert_eq!(
            occupant_subtitle("bob@talpa.test", "member", None),
            "Member · bob@talpa.test"
        );
        assert_eq!(
            occupant_subtitle("", "none", None),
            "Not a member · address hidden"
        );
    }

    #[test]
    fn a_named_occupant_is_named_beside_its_address_and_a_hidden_one_never() {
        assert_eq!(
            occupant_subtitle("bob@talpa.test/phone", "member", Some("Bob")),
            "Member · Bob (bob@talpa.test/phone)"
        );
        assert_eq!(
            occupant_subtitle("", "none", Some("Bob")),
            "Not a member · address hidden"
        );
    }
}
