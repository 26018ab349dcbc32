//! One account's settings, opened from its row in the sidebar: connect on or off, password,
//! server override, trust anchor, DNS-over-TLS resolver (sent together as `update_account`; the
//! account alone reconnects), the default retention of its conversations (`set_retention`
//! at once), a way to its OMEMO devices, strict trust and key access (the devices window) and
//! removal with its data (the window's confirmation). A note says what links
//! accounts to each other. The core refuses bad values with nothing changed; the dialog then
//! keeps everything typed and says why.

use std::cell::{Cell, OnceCell, RefCell};

use gtk4::prelude::*;
use gtk4::subclass::prelude::*;
use gtk4::{gio, glib};
use libadwaita as adw;
use libadwaita::prelude::*;
use libadwaita::subclass::prelude::*;

use crate::core::commands::{AccountChanges, Secret};
use crate::core::{Command, CoreHandle, Reply};
use crate::ui::add_account_dialog::{RETENTION_POLICIES, parse_port};
use crate::ui::user_text;
use crate::ui::window::Window;

/// What the dialog says about linkability across accounts.
pub const LINKABILITY_NOTE: &str = "Each account connects over its own Tor circuits, with its own keys and its own random delay, so servers cannot tell your accounts belong together from the network. What still links them: writing to the same contacts, joining the same rooms (Talpa warns before that), the same server, and your writing style.";

mod imp {
    #[allow(clippy::wildcard_imports)]
    // gtk-rs subclass idiom: imp shares its wrapper's imports
    use super::*;

    #[derive(Default)]
    pub struct AccountSettingsDialog {
        pub jid: OnceCell<String>,
        pub core: OnceCell<CoreHandle>,
        pub window: glib::WeakRef<Window>,
        pub enabled_switch: gtk4::Switch,
        pub password_row: adw::PasswordEntryRow,
        pub host_row: adw::EntryRow,
        pub port_row: adw::EntryRow,
        pub direct_tls_switch: gtk4::Switch,
        pub trust_row: adw::ActionRow,
        pub trust_button: gtk4::Button,
        pub trust_clear_button: gtk4::Button,
        pub dot_row: adw::EntryRow,
        pub error_label: gtk4::Label,
        pub save_button: gtk4::Button,
        pub retention_row: adw::ComboRow,
        pub remove_button: gtk4::Button,
        pub trust_anchor: RefCell<Option<String>>,
        pub chooser: RefCell<Option<gtk4::FileChooserNative>>,
        /// Set while stored values are shown, so they are not taken for the user's edits.
        pub syncing: Cell<bool>,
        /// Whether the stored settings arrived (before that, nothing is sent).
        pub loaded: Cell<bool>,
    }

    #[glib::object_subclass]
    impl ObjectSubclass for AccountSettingsDialog {
        const NAME: &'static str = "TalpaAccountSettingsDialog";
        type Type = super::AccountSettingsDialog;
        type ParentType = adw::PreferencesWindow;
    }

    impl ObjectImpl for AccountSettingsDialog {}
    impl WidgetImpl for AccountSettingsDialog {}
    impl WindowImpl for AccountSettingsDialog {}
    impl AdwWindowImpl for AccountSettingsDialog {}
    impl PreferencesWindowImpl for AccountSettingsDialog {}
}

glib::wrapper! {
    /// The settings of one account.
    pub struct AccountSettingsDialog(ObjectSubclass<imp::AccountSettingsDialog>)
        @extends adw::PreferencesWindow, adw::Window, gtk4::Window, gtk4::Widget,
        @implements gtk4::Buildable, gtk4::ConstraintTarget, gtk4::Native,
                    gtk4::Root, gtk4::ShortcutManager;
}

fn label(widget: &impl IsA<gtk4::Widget>, text: &str) {
    crate::ui::a11y::set_label(widget, text);
}

impl AccountSettingsDialog {
    /// The settings of `jid`, over `window`; shows the stored values once the core answered.
    pub fn new(core: CoreHandle, window: &Window, jid: &str) -> Self {
        let dialog: Self = glib::Object::builder()
            .property("transient-for", window)
            .property("modal", true)
            .property("search-enabled", false)
            .property("title", "Account Settings")
            .property("default-width", 560)
            .property("default-height", 720)
            .build();
        // Registered with the application so that locking finds and destroys it.
        dialog.set_application(window.application().as_ref());
        let imp = dialog.imp();
        let _ = imp.jid.set(jid.to_owned());
        let _ = imp.core.set(core);
        imp.window.set(Some(window));
        dialog.build();
        dialog.load();
        dialog
    }

    fn jid(&self) -> String {
        self.imp().jid.get().cloned().unwrap_or_default()
    }

    #[allow(clippy::too_many_lines)] // one straight list of rows
    fn build(&self) {
        let imp = self.imp();
        let jid = self.jid();
        let page = adw::PreferencesPage::new();

        let account = adw::PreferencesGroup::builder()
            .title(jid.as_str())
            .description(LINKABILITY_NOTE)
            .build();
        imp.enabled_switch.set_valign(gtk4::Align::Center);
        label(&imp.enabled_switch, &format!("Connect {jid} through Tor"));
        let enabled_row = adw::ActionRow::builder()
            .title("Connect")
            .subtitle("Off: the account stays offline and nothing is sent for it.")
            .activatable_widget(&imp.enabled_switch)
            .build();
        enabled_row.add_suffix(&imp.enabled_switch);
        account.add(&enabled_row);
        imp.retention_row.set_title("Keep messages");
        imp.retention_row.set_subtitle(
            "The default for this account's conversations; a conversation can override it.",
        );
        imp.retention_row.set_model(Some(&gtk4::StringList::new(&[
            "Don't store",
            "1 hour",
            "1 day",
            "1 week",
            "1 month",
            "1 year",
            "Forever",
        ])));
        account.add(&imp.retention_row);
        if let Some(core) = imp.core.get().cloned() {
            crate::ui::chat::activity_marks::add_default_row(&account, core, &jid);
        }
        let devices = gtk4::Button::builder()
            .label("Devices, Keys and Trust…")
            .halign(gtk4::Align::Start)
            .margin_top(12)
            .tooltip_text("OMEMO devices, strict trust and who may fetch this account's keys")
            .build();
        devices.connect_clicked(glib::clone!(
            #[weak(rename_to = dialog)]
            self,
            move |_| {
                let session = dialog.imp().window.upgrade().and_then(|w| w.session());
                if let Some(session) = session {
                    let jid = dialog.jid().to_variant();
                    let _ =
                        WidgetExt::activate_action(&session, "session.account-devices", Some(&jid));
                }
            }
        ));
        account.add(&devices);
        page.add(&account);

        let connection = adw::PreferencesGroup::builder()
            .title("Connection")
            .description("Saved together; the account reconnects through Tor with them (after its random delay). Other accounts are not touched.")
            .build();
        imp.password_row
            .set_title("New password (empty: unchanged)");
        connection.add(&imp.password_row);
        crate::ui::a11y::label_password_peek(&imp.password_row);
        imp.host_row
            .set_title("Server host (empty: look up the domain)");
        connection.add(&imp.host_row);
        imp.port_row.set_title("Server port (empty: default)");
        connection.add(&imp.port_row);
        imp.direct_tls_switch.set_valign(gtk4::Align::Center);
        label(&imp.direct_tls_switch, "Direct TLS instead of STARTTLS");
        let direct_row = adw::ActionRow::builder()
            .title("Direct TLS (XEP-0368)")
            .activatable_widget(&imp.direct_tls_switch)
            .build();
        direct_row.add_suffix(&imp.direct_tls_switch);
        connection.add(&direct_row);
        imp.trust_row.set_title("Trusted certificate");
        imp.trust_button.set_icon_name("document-open-symbolic");
        imp.trust_button.set_valign(gtk4::Align::Center);
        imp.trust_button.add_css_class("flat");
        imp.trust_button
            .set_tooltip_text(Some("Choose a PEM certificate file"));
        label(&imp.trust_button, "Choose a trusted certificate file");
        imp.trust_clear_button.set_icon_name("edit-clear-symbolic");
        imp.trust_clear_button.set_valign(gtk4::Align::Center);
        imp.trust_clear_button.add_css_class("flat");
        imp.trust_clear_button
            .set_tooltip_text(Some("Trust only the usual certificate authorities"));
        label(&imp.trust_clear_button, "Forget the trusted certificate");
        imp.trust_row.add_suffix(&imp.trust_clear_button);
        imp.trust_row.add_suffix(&imp.trust_button);
        connection.add(&imp.trust_row);
        imp.dot_row
            .set_title("DNS-over-TLS resolver (host:port#name; empty: default)");
        connection.add(&imp.dot_row);
        imp.error_label.set_wrap(true);
        imp.error_label.set_xalign(0.0);
        imp.error_label.set_margin_top(6);
        imp.error_label.add_css_class("error");
        imp.error_label.set_visible(false);
        connection.add(&imp.error_label);
        imp.save_button.set_label("Save and Reconnect");
        imp.save_button.set_halign(gtk4::Align::End);
        imp.save_button.set_margin_top(12);
        imp.save_button.add_css_class("suggested-action");
        connection.add(&imp.save_button);
        page.add(&connection);

        let danger = adw::PreferencesGroup::builder()
            .title("Remove")
            .description("Erases the account's password, contacts, rooms, messages and keys from this computer. The account itself stays on its server.")
            .build();
        imp.remove_button.set_label("Remove Account…");
        imp.remove_button.set_halign(gtk4::Align::Start);
        imp.remove_button.add_css_class("destructive-action");
        danger.add(&imp.remove_button);
        page.add(&danger);
        PreferencesWindowExt::add(self, &page);
        self.set_trust_anchor(None, None);

        imp.enabled_switch.connect_active_notify(glib::clone!(
            #[weak(rename_to = dialog)]
            self,
            move |_| dialog.on_enabled_flipped()
        ));
        imp.retention_row.connect_selected_notify(glib::clone!(
            #[weak(rename_to = dialog)]
            self,
            move |_| dialog.on_retention_chosen()
        ));
        imp.save_button.connect_clicked(glib::clone!(
            #[weak(rename_to = dialog)]
            self,
            move |_| dialog.save()
        ));
        imp.trust_button.connect_clicked(glib::clone!(
            #[weak(rename_to = dialog)]
            self,
            move |_| dialog.choose_trust_anchor()
        ));
        imp.trust_clear_button.connect_clicked(glib::clone!(
            #[weak(rename_to = dialog)]
            self,
            move |_| dialog.set_trust_anchor(None, None)
        ));
        imp.remove_button.connect_clicked(glib::clone!(
            #[weak(rename_to = dialog)]
            self,
            move |_| {
                if let Some(window) = dialog.imp().window.upgrade() {
                    window.confirm_remove_account(&dialog.jid());
                }
                dialog.close();
            }
        ));
    }

    fn load(&self) {
        let Some(core) = self.imp().core.get().cloned() else {
            return;
        };
        let account = self.jid();
        let dialog = self.downgrade();
        glib::MainContext::default().spawn_local(async move {
            let result = core.call(Command::AccountSettings { account }).await;
            let Some(dialog) = dialog.upgrade() else {
                return;
            };
            match result {
                Ok(reply) => dialog.show_settings(&reply),
                Err(e) => dialog.show_error(Some(&user_text::error_text(&e))),
            }
        });
    }

    fn show_settings(&self, reply: &Reply) {
        let Reply::AccountSettings {
            enabled,
            host,
            port,
            direct_tls,
            trust_anchor_pem,
            dot_resolver,
            retention,
            ..
        } = reply
        else {
            return;
        };
        let imp = self.imp();
        imp.syncing.set(true);
        imp.enabled_switch.set_active(*enabled);
        imp.host_row.set_text(host.as_deref().unwrap_or_default());
        imp.port_row
            .set_text(&port.map(|p| p.to_string()).unwrap_or_default());
        imp.direct_tls_switch.set_active(*direct_tls);
        imp.dot_row
            .set_text(dot_resolver.as_deref().unwrap_or_default());
        let name = trust_anchor_pem.as_ref().map(|_| "the stored certificate");
        self.set_trust_anchor(trust_anchor_pem.clone(), name);
        if let Some(index) = RETENTION_POLICIES.iter().position(|p| p == retention) {
            imp.retention_row.set_selected(index as u32);
        }
        imp.syncing.set(false);
        imp.loaded.set(true);
    }

    /// The inline error of the connection settings, if one is shown.
    pub fn error_text(&self) -> Option<String> {
        let label = &self.imp().error_label;
        label.is_visible().then(|| label.label().to_string())
    }

    fn show_error(&self, text: Option<&str>) {
        let label = &self.imp().error_label;
        label.set_label(text.unwrap_or_default());
        label.set_visible(text.is_some());
    }

    /// Uses `pem` as the account's extra trust anchor (`None`: the usual authorities only);
    /// `name` says where it came from. Takes effect with the next save.
    pub fn set_trust_anchor(&self, pem: Option<String>, name: Option<&str>) {
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

    fn toast(&self, text: &str) {
        self.add_toast(adw::Toast::new(text));
    }

    fn reload_window(&self) {
        if let Some(window) = self.imp().window.upgrade() {
            window.reload_accounts();
        }
    }

    fn on_enabled_flipped(&self) {
        let imp = self.imp();
        if imp.syncing.get() || !imp.loaded.get() {
            return;
        }
        let Some(core) = imp.core.get().cloned() else {
            return;
        };
        let enabled = imp.enabled_switch.is_active();
        let command = Command::SetAccountEnabled {
            account: self.jid(),
            enabled,
        };
        let dialog = self.downgrade();
        glib::MainContext::default().spawn_local(async move {
            let result = core.call(command).await;
            let Some(dialog) = dialog.upgrade() else {
                return;
            };
            match result {
                Ok(_) => dialog.reload_window(),
                Err(e) => {
                    dialog.imp().syncing.set(true);
                    dialog.imp().enabled_switch.set_active(!enabled);
                    dialog.imp().syncing.set(false);
                    dialog.toast(&user_text::error_text(&e));
                }
            }
        });
    }

    fn on_retention_chosen(&self) {
        let imp = self.imp();
        if imp.syncing.get() || !imp.loaded.get() {
            return;
        }
        let Some(core) = imp.core.get().cloned() else {
            return;
        };
        let Some(policy) = RETENTION_POLICIES
            .get(imp.retention_row.selected() as usize)
            .map(|s| (*s).to_owned())
        else {
            return;
        };
        let command = Command::SetRetention {
            account: self.jid(),
            with: None,
            policy,
        };
        let dialog = self.downgrade();
        glib::MainContext::default().spawn_local(async move {
            let result = core.call(command).await;
            let Some(dialog) = dialog.upgrade() else {
                return;
            };
            match result {
                Ok(Reply::Erased { erased }) if erased > 0 => dialog.toast(&format!(
                    "Retention changed; {erased} older messages were erased."
                )),
                Ok(_) => dialog.toast("Retention changed."),
                Err(e) => dialog.toast(&user_text::error_text(&e)),
            }
        });
    }

    /// The connection settings as typed now (the password only when one was typed).
    pub fn changes(&self) -> Result<AccountChanges, &'static str> {
        let imp = self.imp();
        let port = parse_port(&imp.port_row.text())?;
        let text =
            |row: &adw::EntryRow| Some(row.text().trim().to_owned()).filter(|t| !t.is_empty());
        let password = imp.password_row.text();
        Ok(AccountChanges {
            account: self.jid(),
            password: (!password.is_empty()).then(|| Secret::new(password.as_str())),
            host: Some(text(&imp.host_row)),
            port: Some(port),
            direct_tls: Some(imp.direct_tls_switch.is_active()),
            trust_anchor_pem: Some(imp.trust_anchor.borrow().clone()),
            dot_resolver: Some(text(&imp.dot_row)),
        })
    }

    /// Sends the connection settings; on refusal keeps them as typed and says why.
    pub fn save(&self) {
        let imp = self.imp();
        let Some(core) = imp.core.get().cloned() else {
            return;
        };
        if !imp.loaded.get() {
            return;
        }
        let changes = match self.changes() {
            Ok(c) => c,
            Err(text) => {
                self.show_error(Some(text));
                imp.port_row.grab_focus();
                return;
            }
        };
        imp.save_button.set_sensitive(false);
        let dialog = self.downgrade();
        glib::MainContext::default().spawn_local(async move {
            let result = core.call(Command::UpdateAccount(changes)).await;
            let Some(dialog) = dialog.upgrade() else {
                return;
            };
            dialog.imp().save_button.set_sensitive(true);
            match result {
                Ok(_) => {
                    dialog.show_error(None);
                    dialog.imp().password_row.set_text("");
                    dialog.toast("Saved. The account reconnects with the new settings.");
                    dialog.reload_window();
                }
                Err(e) => dialog.show_error(Some(&format!(
                    "Nothing was changed. {}",
                    user_text::error_text(&e)
                ))),
            }
        });
    }

    /// The password row (for tests).
    pub fn password_row(&self) -> adw::PasswordEntryRow {
        self.imp().password_row.clone()
    }

    /// The port row (for tests).
    pub fn port_row(&self) -> adw::EntryRow {
        self.imp().port_row.clone()
    }

    /// The DNS-over-TLS resolver row (for tests).
    pub fn dot_row(&self) -> adw::EntryRow {
        self.imp().dot_row.clone()
    }

    /// Whether the stored settings are shown (for tests).
    pub fn is_loaded(&self) -> bool {
        self.imp().loaded.get()
    }
}
