//! The add-account dialog: address, password, optional server override and trust anchor,
//! retention and local-only contacts. Sends `Command::AddAccount`.

use std::cell::{OnceCell, RefCell};
use std::sync::OnceLock;

use gtk4::glib::subclass::Signal;
use gtk4::prelude::*;
use gtk4::subclass::prelude::*;
use gtk4::{CompositeTemplate, gio, glib};
use libadwaita as adw;
use libadwaita::prelude::*;
use libadwaita::subclass::prelude::*;

use crate::core::commands::{NewAccount, Secret};
use crate::core::{Command, CoreHandle};
use crate::ui::user_text;

/// The core's retention names, in the order of the dialog's list.
pub const RETENTION_POLICIES: [&str; 7] = ["dont_store", "1h", "1d", "1w", "1m", "1y", "forever"];

mod imp {
    #[allow(clippy::wildcard_imports)]
    // gtk-rs subclass idiom: imp shares its wrapper's imports
    use super::*;

    #[derive(Default, CompositeTemplate)]
    #[template(file = "../../ui/add_account_dialog.ui")]
    pub struct AddAccountDialog {
        #[template_child]
        pub toast_overlay: TemplateChild<adw::ToastOverlay>,
        #[template_child]
        pub cancel_button: TemplateChild<gtk4::Button>,
        #[template_child]
        pub add_button: TemplateChild<gtk4::Button>,
        #[template_child]
        pub jid_row: TemplateChild<adw::EntryRow>,
        #[template_child]
        pub password_row: TemplateChild<adw::PasswordEntryRow>,
        #[template_child]
        pub error_label: TemplateChild<gtk4::Label>,
        #[template_child]
        pub host_row: TemplateChild<adw::EntryRow>,
        #[template_child]
        pub port_row: TemplateChild<adw::EntryRow>,
        /// The DNS-over-TLS resolver for SRV lookups (through Tor; unused with a host override).
        #[template_child]
        pub dot_row: TemplateChild<adw::EntryRow>,
        #[template_child]
        pub direct_tls_switch: TemplateChild<gtk4::Switch>,
        #[template_child]
        pub trust_row: TemplateChild<adw::ActionRow>,
        #[template_child]
        pub trust_button: TemplateChild<gtk4::Button>,
        #[template_child]
        pub trust_clear_button: TemplateChild<gtk4::Button>,
        #[template_child]
        pub retention_row: TemplateChild<adw::ComboRow>,
        #[template_child]
        pub local_contacts_switch: TemplateChild<gtk4::Switch>,
        pub core: OnceCell<CoreHandle>,
        pub trust_anchor: RefCell<Option<String>>,
        pub chooser: RefCell<Option<gtk4::FileChooserNative>>,
    }

    #[glib::object_subclass]
    impl ObjectSubclass for AddAccountDialog {
        const NAME: &'static str = "TalpaAddAccountDialog";
        type Type = super::AddAccountDialog;
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

    impl ObjectImpl for AddAccountDialog {
        fn signals() -> &'static [Signal] {
            static SIGNALS: OnceLock<Vec<Signal>> = OnceLock::new();
            SIGNALS.get_or_init(|| vec![Signal::builder("account-added").build()])
        }

        fn constructed(&self) {
            self.parent_constructed();
            let obj = self.obj();
            crate::ui::a11y::label_password_peek(&self.password_row);
            self.cancel_button.connect_clicked(glib::clone!(
                #[weak]
                obj,
                move |_| obj.close()
            ));
            self.add_button.connect_clicked(glib::clone!(
                #[weak]
                obj,
                move |_| obj.submit()
            ));
            self.trust_button.connect_clicked(glib::clone!(
                #[weak]
                obj,
                move |_| obj.choose_trust_anchor()
            ));
            self.trust_clear_button.connect_clicked(glib::clone!(
                #[weak]
                obj,
                move |_| obj.set_trust_anchor(None, None)
            ));
        }
    }

    impl WidgetImpl for AddAccountDialog {}
    impl WindowImpl for AddAccountDialog {}
    impl AdwWindowImpl for AddAccountDialog {}
}

glib::wrapper! {
    /// Collects a new account's settings and asks the core to add it.
    pub struct AddAccountDialog(ObjectSubclass<imp::AddAccountDialog>)
        @extends adw::Window, gtk4::Window, gtk4::Widget,
        @implements gtk4::Buildable, gtk4::ConstraintTarget, gtk4::Native,
            gtk4::Root, gtk4::ShortcutManager;
}

/// Checks the optional port text: empty is "default", otherwise 1–65535.
pub fn parse_port(text: &str) -> Result<Option<u16>, &'static str> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    match text.parse::<u16>() {
        Ok(0) | Err(_) => Err("The port must be a number from 1 to 65535."),
        Ok(port) => Ok(Some(port)),
    }
}

impl AddAccountDialog {
    /// A dialog over `parent`, talking to `core`.
    pub fn new(core: CoreHandle, parent: &impl IsA<gtk4::Window>) -> Self {
        let dialog: Self = glib::Object::builder()
            .property("transient-for", parent)
            .build();
        // Registered with the application so that locking finds and destroys it.
        dialog.set_application(parent.as_ref().application().as_ref());
        let _ = dialog.imp().core.set(core);
        dialog
    }

    /// Calls `f` after the core added the account (the dialog then closes itself).
    pub fn connect_account_added<F: Fn(&Self) + 'static>(&self, f: F) -> glib::SignalHandlerId {
        self.connect_local("account-added", false, move |values| {
            if let Some(Ok(dialog)) = values.first().map(glib::Value::get::<Self>) {
                f(&dialog);
            }
            None
        })
    }

    fn show_error(&self, text: Option<&str>) {
        let label = &self.imp().error_label;
        label.set_label(text.unwrap_or(""));
        label.set_visible(text.is_some());
    }

    fn set_trust_anchor(&self, pem: Option<String>, name: Option<&str>) {
        let imp = self.imp();
        imp.trust_clear_button.set_visible(pem.is_some());
        imp.trust_row.set_subtitle(&match name {
            Some(name) => format!("Trusting {name} for this account only"),
            None => "None: the usual certificate authorities".to_owned(),
        });
        imp.trust_anchor.replace(pem);
    }

    fn choose_trust_anchor(&self) {
        let chooser = crate::ui::pem_file::chooser(self);
        chooser.connect_response(glib::clone!(
            #[weak(rename_to = dialog)]
            self,
            move |chooser, response| {
                if response == gtk4::ResponseType::Accept
                    && let Some(file) = chooser.file()
                {
                    dialog.load_trust_anchor(file);
                }
                dialog.imp().chooser.replace(None);
            }
        ));
        chooser.show();
        self.imp().chooser.replace(Some(chooser));
    }

    fn load_trust_anchor(&self, file: gio::File) {
        let dialog = self.downgrade();
        glib::MainContext::default().spawn_local(async move {
            let result = crate::ui::pem_file::load(&file).await;
            let Some(dialog) = dialog.upgrade() else {
                return;
            };
            match result {
                Ok((text, name)) => {
                    dialog.set_trust_anchor(Some(text), Some(&name));
                    dialog.show_error(None);
                }
                Err(why) => dialog.show_error(Some(&why)),
            }
        });
    }

    fn submit(&self) {
        let imp = self.imp();
        let Some(core) = imp.core.get().cloned() else {
            return;
        };
        let jid = imp.jid_row.text().trim().to_owned();
        if !jid.contains('@') || jid.starts_with('@') || jid.ends_with('@') {
            self.show_error(Some("Enter the account's address, like name@server."));
            imp.jid_row.grab_focus();
            return;
        }
        let password = Secret::new(imp.password_row.text().as_str());
        if password.is_empty() {
            self.show_error(Some("Enter the account's password."));
            imp.password_row.grab_focus();
            return;
        }
        let port = match parse_port(&imp.port_row.text()) {
            Ok(port) => port,
            Err(text) => {
                self.show_error(Some(text));
                imp.port_row.grab_focus();
                return;
            }
        };
        let host = Some(imp.host_row.text().trim().to_owned()).filter(|h| !h.is_empty());
        let retention = RETENTION_POLICIES
            .get(imp.retention_row.selected() as usize)
            .map(|s| (*s).to_owned());
        let account = NewAccount {
            jid,
            password,
            host,
            port,
            direct_tls: imp.direct_tls_switch.is_active(),
            trust_anchor_pem: imp.trust_anchor.borrow().clone(),
            local_only_contacts: imp.local_contacts_switch.is_active(),
            dot_resolver: Some(imp.dot_row.text().trim().to_owned()).filter(|r| !r.is_empty()),
            retention,
        };
        self.show_error(None);
        imp.add_button.set_sensitive(false);
        let dialog = self.downgrade();
        glib::MainContext::default().spawn_local(async move {
            let result = core.call(Command::AddAccount(account)).await;
            let Some(dialog) = dialog.upgrade() else {
                return;
            };
            dialog.imp().add_button.set_sensitive(true);
            match result {
                Ok(_) => {
                    dialog.imp().password_row.set_text("");
                    dialog.emit_by_name::<()>("account-added", &[]);
                    dialog.close();
                }
                Err(e) => dialog.show_error(Some(&user_text::error_text(&e))),
            }
        });
    }
}

#[cfg(test)]
mod tests {
    #[allow(clippy::wildcard_imports)]
    // gtk-rs subclass idiom: imp shares its wrapper's imports
    use super::*;

    #[test]
    fn port_override_is_optional_but_must_be_valid() {
        assert_eq!(parse_port(""), Ok(None));
        assert_eq!(parse_port(" 5222 "), Ok(Some(5222)));
        assert!(parse_port("0").is_err());
        assert!(parse_port("70000").is_err());
        assert!(parse_port("abc").is_err());
    }
}
