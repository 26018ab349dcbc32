//! Settings of one conversation: its retention override, whether it notifies, whether it
//! shares delivery, read and typing status (1:1 only, off by default), and clearing its
//! history (confirmed first). Retention and clearing go to the core; the mute flag is a `ui.*`
//! preference kept in the encrypted store. A contact's name (given here) titles the dialog,
//! its address in the subtitle.

use std::cell::{Cell, OnceCell, RefCell};
use std::sync::OnceLock;

use gtk4::glib::subclass::Signal;
use gtk4::prelude::*;
use gtk4::subclass::prelude::*;
use gtk4::{CompositeTemplate, glib};
use libadwaita as adw;
use libadwaita::prelude::*;
use libadwaita::subclass::prelude::*;

use crate::core::{Command, CoreHandle, Reply};
use crate::ui::add_account_dialog::RETENTION_POLICIES;
use crate::ui::models::ConversationObject;
use crate::ui::notifications::mute_key;
use crate::ui::user_text;

mod imp {
    #[allow(clippy::wildcard_imports)]
    // gtk-rs subclass idiom: imp shares its wrapper's imports
    use super::*;

    #[derive(Default, CompositeTemplate)]
    #[template(file = "../../ui/conversation_settings_dialog.ui")]
    pub struct ConversationSettingsDialog {
        #[template_child]
        pub toast_overlay: TemplateChild<adw::ToastOverlay>,
        #[template_child]
        pub title: TemplateChild<adw::WindowTitle>,
        #[template_child]
        pub retention_row: TemplateChild<adw::ComboRow>,
        #[template_child]
        pub notify_switch: TemplateChild<gtk4::Switch>,
        #[template_child]
        pub clear_button: TemplateChild<gtk4::Button>,
        #[template_child]
        pub contact_group: TemplateChild<adw::PreferencesGroup>,
        #[template_child]
        pub contact_row: TemplateChild<adw::ActionRow>,
        #[template_child]
        pub contact_button: TemplateChild<gtk4::Button>,
        #[template_child]
        pub activity_group: TemplateChild<adw::PreferencesGroup>,
        #[template_child]
        pub activity_row: TemplateChild<adw::ActionRow>,
        #[template_child]
        pub activity_switch: TemplateChild<gtk4::Switch>,
        pub core: OnceCell<CoreHandle>,
        pub conversation: RefCell<Option<ConversationObject>>,
        /// Set while the dialog itself moves the retention row, so only the user's choice
        /// reaches the core.
        pub syncing: Cell<bool>,
    }

    #[glib::object_subclass]
    impl ObjectSubclass for ConversationSettingsDialog {
        const NAME: &'static str = "TalpaConversationSettingsDialog";
        type Type = super::ConversationSettingsDialog;
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

    impl ObjectImpl for ConversationSettingsDialog {
        fn signals() -> &'static [Signal] {
            static SIGNALS: OnceLock<Vec<Signal>> = OnceLock::new();
            SIGNALS.get_or_init(|| vec![Signal::builder("history-cleared").build()])
        }

        fn constructed(&self) {
            self.parent_constructed();
            let obj = self.obj();
            self.retention_row.connect_selected_notify(glib::clone!(
                #[weak]
                obj,
                move |_| obj.retention_chosen()
            ));
            self.contact_button.connect_clicked(glib::clone!(
                #[weak]
                obj,
                move |_| obj.toggle_contact()
            ));
            self.clear_button.connect_clicked(glib::clone!(
                #[weak]
                obj,
                move |_| obj.confirm_clear()
            ));
        }
    }

    impl WidgetImpl for ConversationSettingsDialog {}
    impl WindowImpl for ConversationSettingsDialog {}
    impl AdwWindowImpl for ConversationSettingsDialog {}
}

glib::wrapper! {
    /// One conversation's settings.
    pub struct ConversationSettingsDialog(ObjectSubclass<imp::ConversationSettingsDialog>)
        @extends adw::Window, gtk4::Window, gtk4::Widget,
        @implements gtk4::Buildable, gtk4::ConstraintTarget, gtk4::Native,
            gtk4::Root, gtk4::ShortcutManager;
}

impl ConversationSettingsDialog {
    /// The settings of `conversation`, over `parent`.
    pub fn new(
        core: CoreHandle,
        parent: &impl IsA<gtk4::Window>,
        conversation: &ConversationObject,
    ) -> Self {
        let dialog: Self = glib::Object::builder()
            .property("transient-for", parent)
            .build();
        // Registered with the application so that locking finds and destroys it.
        dialog.set_application(parent.as_ref().application().as_ref());
        let imp = dialog.imp();
        let _ = imp.core.set(core);
        // A contact named here is called by its name, the address in the subtitle, and
        // follows a rename made in this very dialog.
        let (title, account, peer, is_room) = (
            imp.title.downgrade(),
            conversation.account(),
            conversation.peer(),
            conversation.is_room(),
        );
        let name_title = move || {
            let Some(title) = title.upgrade() else { return };
            if let Some(name) = (!is_room)
                .then(|| crate::ui::contact_names::name_of(&account, &peer))
                .flatten()
            {
                title.set_title(&name.text);
                title.set_subtitle(&format!("{peer} · {account}"));
            } else {
                title.set_title(&peer);
                title.set_subtitle(&account);
            }
        };
        name_title();
        crate::ui::contact_names::watch(&dialog, name_title);
        conversation
            .bind_property("notify", &*imp.notify_switch, "active")
            .bidirectional()
            .sync_create()
            .build();
        imp.notify_switch.connect_active_notify(glib::clone!(
            #[weak]
            dialog,
            move |switch| dialog.notify_chosen(switch.is_active())
        ));
        imp.contact_group.set_visible(!conversation.is_room());
        if let Some(core) = imp.core.get().cloned()
            && !conversation.is_room()
            && !conversation.peer().contains('/')
        {
            crate::ui::contact_name_row::add(&dialog, &imp.contact_group, core, conversation);
        }
        conversation.connect_in_roster_notify(glib::clone!(
            #[weak]
            dialog,
            move |c| dialog.show_contact_state(c.in_roster())
        ));
        dialog.show_contact_state(conversation.in_roster());
        imp.conversation.replace(Some(conversation.clone()));
        dialog.load_retention();
        // Rooms and private messages to room occupants (`room/nick`) never share activity.
        let one_to_one = !conversation.is_room() && !conversation.peer().contains('/');
        imp.activity_group.set_visible(one_to_one);
        if one_to_one {
            crate::ui::chat::activity_marks::load_switch(
                &dialog,
                &imp.activity_switch,
                &imp.activity_row,
            );
        }
        dialog
    }

    /// The conversation's (account, peer), for the activity switch.
    pub(crate) fn account_and_peer(&self) -> Option<(String, String)> {
        self.peer()
    }

    /// Shows a short message at the bottom of the dialog.
    pub(crate) fn show_toast(&self, text: &str) {
        self.toast(text);
    }

    /// Calls `f` after the conversation's history was erased.
    pub fn connect_history_cleared<F: Fn(&Self) + 'static>(&self, f: F) -> glib::SignalHandlerId {
        self.connect_local("history-cleared", false, move |values| {
            if let Some(Ok(dialog)) = values.first().map(glib::Value::get::<Self>) {
                f(&dialog);
            }
            None
        })
    }

    fn show_contact_state(&self, in_roster: bool) {
        let imp = self.imp();
        if in_roster {
            imp.contact_row
                .set_subtitle("In your contact list: you share presence with each other");
            imp.contact_button.set_label("Remove from Contacts");
        } else {
            imp.contact_row.set_subtitle(
                "Not in your contact list. Adding asks to see their presence; the server stores your contact list",
            );
            imp.contact_button.set_label("Add to Contacts");
        }
    }

    fn toggle_contact(&self) {
        let imp = self.imp();
        let (Some(core), Some(conversation)) =
            (imp.core.get().cloned(), imp.conversation.borrow().clone())
        else {
            return;
        };
        let (account, jid) = (conversation.account(), conversation.peer());
        let adding = !conversation.in_roster();
        let command = if adding {
            Command::AddContact { account, jid }
        } else {
            Command::RemoveContact { account, jid }
        };
        imp.contact_button.set_sensitive(false);
        let dialog = self.downgrade();
        glib::MainContext::default().spawn_local(async move {
            let result = core.call(command).await;
            let Some(dialog) = dialog.upgrade() else {
                return;
            };
            dialog.imp().contact_button.set_sensitive(true);
            match result {
                Ok(_) => {
                    // The roster push confirms it later; show the change at once.
                    conversation.set_in_roster(adding);
                    dialog.toast(if adding {
                        "Added. They are asked to share their presence."
                    } else {
                        "Removed from your contacts."
                    });
                }
                Err(e) => dialog.toast(&user_text::error_text(&e)),
            }
        });
    }

    fn toast(&self, text: &str) {
        self.imp().toast_overlay.add_toast(adw::Toast::new(text));
    }

    fn peer(&self) -> Option<(String, String)> {
        self.imp()
            .conversation
            .borrow()
            .as_ref()
            .map(|c| (c.account(), c.peer()))
    }

    fn load_retention(&self) {
        let (Some(core), Some((account, with))) = (self.imp().core.get().cloned(), self.peer())
        else {
            return;
        };
        let dialog = self.downgrade();
        glib::MainContext::default().spawn_local(async move {
            let result = core
                .call(Command::ConversationRetention { account, with })
                .await;
            let Some(dialog) = dialog.upgrade() else {
                return;
            };
            let imp = dialog.imp();
            match result {
                Ok(Reply::ConversationRetention { effective, .. }) => {
                    if let Some(index) = RETENTION_POLICIES.iter().position(|p| *p == effective) {
                        imp.syncing.set(true);
                        imp.retention_row.set_selected(index as u32);
                        imp.syncing.set(false);
                    }
                    imp.retention_row.set_sensitive(true);
                }
                Ok(_) => {}
                Err(e) => dialog.toast(&user_text::error_text(&e)),
            }
        });
    }

    fn retention_chosen(&self) {
        let imp = self.imp();
        if imp.syncing.get() {
            return;
        }
        let Some(policy) = RETENTION_POLICIES
            .get(imp.retention_row.selected() as usize)
            .map(|s| (*s).to_owned())
        else {
            return;
        };
        let (Some(core), Some((account, with))) = (imp.core.get().cloned(), self.peer()) else {
            return;
        };
        let dialog = self.downgrade();
        glib::MainContext::default().spawn_local(async move {
            let result = core
                .call(Command::SetRetention {
                    account,
                    with: Some(with),
                    policy,
                })
                .await;
            let Some(dialog) = dialog.upgrade() else {
                return;
            };
            match result {
                Ok(Reply::Erased { erased }) if erased > 0 => {
                    dialog.toast(&format!(
                        "Retention changed; {erased} older messages erased."
                    ));
                    dialog.emit_by_name::<()>("history-cleared", &[]);
                }
                Ok(_) => dialog.toast("Retention changed."),
                Err(e) => dialog.toast(&user_text::error_text(&e)),
            }
        });
    }

    fn notify_chosen(&self, notify: bool) {
        let (Some(core), Some((account, with))) = (self.imp().core.get().cloned(), self.peer())
        else {
            return;
        };
        let command = Command::SetPreference {
            key: mute_key(&account, &with),
            value: (!notify).then(|| "true".to_owned()),
        };
        let dialog = self.downgrade();
        glib::MainContext::default().spawn_local(async move {
            if let (Err(e), Some(dialog)) = (core.call(command).await, dialog.upgrade()) {
                dialog.toast(&user_text::error_text(&e));
            }
        });
    }

    fn confirm_clear(&self) {
        let Some((account, with)) = self.peer() else {
            return;
        };
        let message = adw::MessageDialog::new(
            Some(self),
            Some("Clear this conversation?"),
            Some(&format!(
                "Every stored message with {with} is erased from this computer. They keep their copies."
            )),
        );
        message.add_response("cancel", "Cancel");
        message.add_response("confirm", "Clear History");
        message.set_response_appearance("confirm", adw::ResponseAppearance::Destructive);
        message.set_default_response(Some("cancel"));
        message.set_close_response("cancel");
        message.set_destroy_with_parent(true);
        let dialog = self.downgrade();
        message.connect_response(None, move |_, response| {
            if response != "confirm" {
                return;
            }
            let Some(dialog) = dialog.upgrade() else {
                return;
            };
            let Some(core) = dialog.imp().core.get().cloned() else {
                return;
            };
            let command = Command::ClearHistory {
                account: Some(account.clone()),
                with: Some(with.clone()),
            };
            let weak = dialog.downgrade();
            glib::MainContext::default().spawn_local(async move {
                let result = core.call(command).await;
                let Some(dialog) = weak.upgrade() else { return };
                match result {
                    Ok(Reply::Erased { erased }) => {
                        dialog.toast(&format!("History cleared ({erased} messages erased)."));
                        dialog.emit_by_name::<()>("history-cleared", &[]);
                    }
                    Ok(_) => dialog.emit_by_name::<()>("history-cleared", &[]),
                    Err(e) => dialog.toast(&user_text::error_text(&e)),
                }
            });
        });
        message.present();
    }
}
