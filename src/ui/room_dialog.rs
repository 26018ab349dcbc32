//! The room dialog, in one of two modes: create a private room (members-only, hidden,
//! persistent, no public log — the core sets these) or join an existing room (with its password
//! if it has one). Sends `Command::CreateRoom` or `Command::JoinRoom`; the sidebar shows the
//! room when the core reports `RoomJoined`.

use std::cell::{Cell, OnceCell};

use gtk4::prelude::*;
use gtk4::subclass::prelude::*;
use gtk4::{CompositeTemplate, glib};
use libadwaita as adw;
use libadwaita::prelude::*;
use libadwaita::subclass::prelude::*;

use crate::core::commands::Secret;
use crate::core::{Command, CoreHandle};
use crate::ui::user_text;

mod imp {
    #[allow(clippy::wildcard_imports)]
    // gtk-rs subclass idiom: imp shares its wrapper's imports
    use super::*;

    #[derive(Default, CompositeTemplate)]
    #[template(file = "../../ui/room_dialog.ui")]
    pub struct RoomDialog {
        #[template_child]
        pub accounts_model: TemplateChild<gtk4::StringList>,
        #[template_child]
        pub cancel_button: TemplateChild<gtk4::Button>,
        #[template_child]
        pub submit_button: TemplateChild<gtk4::Button>,
        #[template_child]
        pub account_row: TemplateChild<adw::ComboRow>,
        #[template_child]
        pub room_row: TemplateChild<adw::EntryRow>,
        #[template_child]
        pub nick_row: TemplateChild<adw::EntryRow>,
        #[template_child]
        pub password_row: TemplateChild<adw::PasswordEntryRow>,
        #[template_child]
        pub error_label: TemplateChild<gtk4::Label>,
        #[template_child]
        pub private_group: TemplateChild<adw::PreferencesGroup>,
        pub core: OnceCell<CoreHandle>,
        pub creating: Cell<bool>,
    }

    #[glib::object_subclass]
    impl ObjectSubclass for RoomDialog {
        const NAME: &'static str = "TalpaRoomDialog";
        type Type = super::RoomDialog;
        type ParentType = adw::Window;

        fn class_init(klass: &mut Self::Class) {
            klass.bind_template();
            klass.add_binding_action(
                gtk4::gdk::Key::Escape,
                gtk4::gdk::ModifierType::empty(),
                "window.close",
            );
        }

        fn instance_init(obj: &glib::subclass::InitializingObject<Self>) {
            obj.init_template();
        }
    }

    impl ObjectImpl for RoomDialog {
        fn constructed(&self) {
            self.parent_constructed();
            let obj = self.obj();
            crate::ui::a11y::label_password_peek(&self.password_row);
            self.cancel_button.connect_clicked(glib::clone!(
                #[weak]
                obj,
                move |_| obj.close()
            ));
            self.submit_button.connect_clicked(glib::clone!(
                #[weak]
                obj,
                move |_| obj.submit()
            ));
        }
    }

    impl WidgetImpl for RoomDialog {}
    impl WindowImpl for RoomDialog {}
    impl AdwWindowImpl for RoomDialog {}
}

glib::wrapper! {
    /// Creates a private room or joins one.
    pub struct RoomDialog(ObjectSubclass<imp::RoomDialog>)
        @extends adw::Window, gtk4::Window, gtk4::Widget,
        @implements gtk4::Buildable, gtk4::ConstraintTarget, gtk4::Native,
            gtk4::Root, gtk4::ShortcutManager;
}

/// What the dialog's fields must hold before the core is asked; the core validates fully.
/// Returns a sentence for the user when something is missing.
pub fn check_room_fields(room: &str, nick: &str) -> Result<(), &'static str> {
    match room.split_once('@') {
        Some((local, domain))
            if !local.is_empty()
                && !domain.is_empty()
                && !domain.contains('@')
                && !room.contains('/')
                && !room.chars().any(char::is_whitespace) => {}
        _ => return Err("Enter the room's address, like name@rooms.server."),
    }
    if nick.trim().is_empty() {
        return Err("Choose a nickname for the room.");
    }
    Ok(())
}

impl RoomDialog {
    /// A dialog over `parent` that creates (`creating`) or joins a room with one of `accounts`.
    pub fn new(
        core: CoreHandle,
        parent: &impl IsA<gtk4::Window>,
        accounts: &[String],
        creating: bool,
    ) -> Self {
        let dialog: Self = glib::Object::builder()
            .property("transient-for", parent)
            .build();
        // Registered with the application so that locking finds and destroys it.
        dialog.set_application(parent.as_ref().application().as_ref());
        let imp = dialog.imp();
        let _ = imp.core.set(core);
        for account in accounts {
            imp.accounts_model.append(account);
        }
        imp.creating.set(creating);
        imp.private_group.set_visible(creating);
        imp.password_row.set_visible(!creating);
        if creating {
            dialog.set_title(Some("Create Private Room"));
            imp.submit_button.set_label("Create");
        }
        dialog
    }

    /// Whether this dialog creates a room (rather than joining one).
    pub fn is_creating(&self) -> bool {
        self.imp().creating.get()
    }

    fn show_error(&self, text: Option<&str>) {
        let label = &self.imp().error_label;
        label.set_label(text.unwrap_or(""));
        label.set_visible(text.is_some());
    }

    fn submit(&self) {
        let imp = self.imp();
        let Some(core) = imp.core.get().cloned() else {
            return;
        };
        let Some(account) = imp
            .account_row
            .selected_item()
            .and_downcast::<gtk4::StringObject>()
            .map(|s| s.string().to_string())
        else {
            self.show_error(Some("Add an account first."));
            return;
        };
        let room = imp.room_row.text().trim().to_owned();
        let nick = imp.nick_row.text().trim().to_owned();
        if let Err(text) = check_room_fields(&room, &nick) {
            self.show_error(Some(text));
            return;
        }
        let password = imp.password_row.text();
        let password = (!password.is_empty()).then(|| Secret::new(password.as_str()));
        // The linkability guard refuses a room another own account is in; the error says so.
        let command = if imp.creating.get() {
            Command::CreateRoom {
                account,
                room,
                nick,
                password,
                force: false,
            }
        } else {
            Command::JoinRoom {
                account,
                room,
                nick,
                password,
                force: false,
            }
        };
        self.show_error(None);
        imp.submit_button.set_sensitive(false);
        let dialog = self.downgrade();
        glib::MainContext::default().spawn_local(async move {
            let result = core.call(command).await;
            let Some(dialog) = dialog.upgrade() else {
                return;
            };
            dialog.imp().submit_button.set_sensitive(true);
            match result {
                Ok(_) => {
                    dialog.imp().password_row.set_text("");
                    dialog.close();
                }
                Err(e) => dialog.show_error(Some(&user_text::error_text(&e))),
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::check_room_fields;

    #[test]
    fn a_room_needs_a_bare_address_and_a_nickname() {
        assert!(check_room_fields("plans@rooms.talpa.test", "mole").is_ok());
        assert!(check_room_fields("plans", "mole").is_err());
        assert!(check_room_fields("plans@rooms.talpa.test/x", "mole").is_err());
        assert!(check_room_fields("@rooms.talpa.test", "mole").is_err());
        assert!(check_room_fields("plans@rooms.talpa.test", " ").is_err());
    }
}
