//! Preferences: retention default, idle lock, Tor (its own page, [`TorSettingsPage`]), passphrase and duress passphrase, clearing
//! history and the panic wipe (both confirmed first).

use std::cell::{Cell, OnceCell};
use std::sync::OnceLock;

use gtk4::glib::subclass::Signal;
use gtk4::prelude::*;
use gtk4::subclass::prelude::*;
use gtk4::{CompositeTemplate, glib};
use libadwaita as adw;
use libadwaita::prelude::*;
use libadwaita::subclass::prelude::*;

use crate::core::commands::Secret;
use crate::core::events::TorStatusInfo;
use crate::core::{Command, CoreHandle, Reply};
use crate::ui::add_account_dialog::RETENTION_POLICIES;
use crate::ui::notifications::{NotificationPolicy, keys};
use crate::ui::tor_settings_page::TorSettingsPage;
use crate::ui::user_text;

/// The preference the core reports the idle lock under (docs/HEADLESS.md, `preferences`).
const IDLE_LOCK_KEY: &str = "lock.idle_minutes";

mod imp {
    #[allow(clippy::wildcard_imports)]
    // gtk-rs subclass idiom: imp shares its wrapper's imports
    use super::*;

    #[derive(Default, CompositeTemplate)]
    #[template(file = "../../ui/preferences_window.ui")]
    pub struct PreferencesWindow {
        #[template_child]
        pub retention_row: TemplateChild<adw::ComboRow>,
        #[template_child]
        pub retention_button: TemplateChild<gtk4::Button>,
        #[template_child]
        pub clear_history_button: TemplateChild<gtk4::Button>,
        #[template_child]
        pub idle_spin: TemplateChild<gtk4::SpinButton>,
        #[template_child]
        pub notify_enabled_switch: TemplateChild<gtk4::Switch>,
        #[template_child]
        pub notify_sender_switch: TemplateChild<gtk4::Switch>,
        #[template_child]
        pub notify_body_switch: TemplateChild<gtk4::Switch>,
        #[template_child]
        pub old_passphrase_row: TemplateChild<adw::PasswordEntryRow>,
        #[template_child]
        pub new_passphrase_row: TemplateChild<adw::PasswordEntryRow>,
        #[template_child]
        pub change_passphrase_button: TemplateChild<gtk4::Button>,
        #[template_child]
        pub duress_row: TemplateChild<adw::PasswordEntryRow>,
        #[template_child]
        pub duress_set_button: TemplateChild<gtk4::Button>,
        #[template_child]
        pub duress_clear_button: TemplateChild<gtk4::Button>,
        #[template_child]
        pub wipe_button: TemplateChild<gtk4::Button>,
        pub core: OnceCell<CoreHandle>,
        pub tor_page: OnceCell<TorSettingsPage>,
        /// Set while stored values are shown, so only the user's changes reach the core.
        pub syncing: Cell<bool>,
    }

    #[glib::object_subclass]
    impl ObjectSubclass for PreferencesWindow {
        const NAME: &'static str = "TalpaPreferencesWindow";
        type Type = super::PreferencesWindow;
        type ParentType = adw::PreferencesWindow;

        fn class_init(klass: &mut Self::Class) {
            klass.bind_template();
        }

        fn instance_init(obj: &glib::subclass::InitializingObject<Self>) {
            obj.init_template();
        }
    }

    impl ObjectImpl for PreferencesWindow {
        fn signals() -> &'static [Signal] {
            static SIGNALS: OnceLock<Vec<Signal>> = OnceLock::new();
            SIGNALS.get_or_init(|| vec![Signal::builder("wiped").build()])
        }

        fn constructed(&self) {
            self.parent_constructed();
            let obj = self.obj();
            for row in [
                &*self.old_passphrase_row,
                &*self.new_passphrase_row,
                &*self.duress_row,
            ] {
                crate::ui::a11y::label_password_peek(row);
            }
            // The window's own search entry (GTK 4.8 leaves it unnamed).
            crate::ui::a11y::name_search_entries(&*obj, "Search preferences");
            self.retention_button.connect_clicked(glib::clone!(
                #[weak]
                obj,
                move |_| obj.apply_retention()
            ));
            self.clear_history_button.connect_clicked(glib::clone!(
                #[weak]
                obj,
                move |_| obj.confirm_clear_history()
            ));
            self.change_passphrase_button.connect_clicked(glib::clone!(
                #[weak]
                obj,
                move |_| obj.change_passphrase()
            ));
            self.duress_set_button.connect_clicked(glib::clone!(
                #[weak]
                obj,
                move |_| obj.set_duress(true)
            ));
            self.duress_clear_button.connect_clicked(glib::clone!(
                #[weak]
                obj,
                move |_| obj.set_duress(false)
            ));
            self.idle_spin.connect_value_changed(glib::clone!(
                #[weak]
                obj,
                move |spin| obj.idle_lock_chosen(spin.value_as_int())
            ));
            for (switch, key) in [
                (&*self.notify_enabled_switch, keys::ENABLED),
                (&*self.notify_sender_switch, keys::SHOW_SENDER),
                (&*self.notify_body_switch, keys::SHOW_BODY),
            ] {
                switch.connect_active_notify(glib::clone!(
                    #[weak]
                    obj,
                    move |switch| obj.flag_chosen(key, switch.is_active())
                ));
            }
            self.wipe_button.connect_clicked(glib::clone!(
                #[weak]
                obj,
                move |_| obj.confirm_wipe()
            ));
        }
    }

    impl WidgetImpl for PreferencesWindow {}
    impl WindowImpl for PreferencesWindow {}
    impl AdwWindowImpl for PreferencesWindow {}
    impl PreferencesWindowImpl for PreferencesWindow {}
}

glib::wrapper! {
    /// Talpa's preferences.
    pub struct PreferencesWindow(ObjectSubclass<imp::PreferencesWindow>)
        @extends adw::PreferencesWindow, adw::Window, gtk4::Window, gtk4::Widget,
        @implements gtk4::Buildable, gtk4::ConstraintTarget, gtk4::Native,
            gtk4::Root, gtk4::ShortcutManager;
}

impl PreferencesWindow {
    /// Preferences over `parent`, talking to `core`.
    pub fn new(core: CoreHandle, parent: &impl IsA<gtk4::Window>) -> Self {
        let window: Self = glib::Object::builder()
            .property("transient-for", parent)
            .build();
        // Registered with the application so that locking finds and destroys it.
        window.set_application(parent.as_ref().application().as_ref());
        let tor_page = TorSettingsPage::new(core.clone());
        window.add(&tor_page);
        let _ = window.imp().tor_page.set(tor_page);
        let _ = window.imp().core.set(core);
        window.load_preferences();
        window
    }

    /// Shows the stored idle lock and notification preferences.
    fn load_preferences(&self) {
        let Some(core) = self.imp().core.get().cloned() else {
            return;
        };
        let window = self.downgrade();
        glib::MainContext::default().spawn_local(async move {
            let result = core.call(Command::Preferences).await;
            let Some(window) = window.upgrade() else {
                return;
            };
            let Ok(Reply::Preferences { preferences }) = result else {
                return;
            };
            let imp = window.imp();
            imp.syncing.set(true);
            if let Some(minutes) = preferences
                .get(IDLE_LOCK_KEY)
                .and_then(|m| m.parse::<f64>().ok())
            {
                imp.idle_spin.set_value(minutes);
            }
            let policy = NotificationPolicy::from_preferences(&preferences);
            imp.notify_enabled_switch.set_active(policy.enabled);
            imp.notify_sender_switch.set_active(policy.show_sender);
            imp.notify_body_switch.set_active(policy.show_body);
            imp.syncing.set(false);
        });
    }

    fn idle_lock_chosen(&self, minutes: i32) {
        if self.imp().syncing.get() {
            return;
        }
        let Ok(minutes) = u32::try_from(minutes) else {
            return;
        };
        self.run(Command::SetIdleLock { minutes }, "Idle lock changed.");
    }

    fn flag_chosen(&self, key: &str, on: bool) {
        if self.imp().syncing.get() {
            return;
        }
        self.run(
            Command::SetPreference {
                key: key.to_owned(),
                value: Some(on.to_string()),
            },
            "Notification preference saved.",
        );
    }

    /// Calls `f` after the profile was wiped (the window then closes itself).
    pub fn connect_wiped<F: Fn(&Self) + 'static>(&self, f: F) -> glib::SignalHandlerId {
        self.connect_local("wiped", false, move |values| {
            if let Some(Ok(window)) = values.first().map(glib::Value::get::<Self>) {
                f(&window);
            }
            None
        })
    }

    /// Shows Tor's current state on the Tor page.
    pub fn set_tor_status(&self, status: &TorStatusInfo) {
        if let Some(page) = self.imp().tor_page.get() {
            page.set_tor_status(status);
        }
    }

    /// The Tor page (mode, SOCKS address, bridges).
    pub fn tor_page(&self) -> Option<&TorSettingsPage> {
        self.imp().tor_page.get()
    }

    fn notify(&self, text: &str) {
        self.add_toast(adw::Toast::new(text));
    }

    /// Runs `command` on the main loop and shows `done` or the error as a toast.
    fn run(&self, command: Command, done: &'static str) {
        let Some(core) = self.imp().core.get().cloned() else {
            return;
        };
        let window = self.downgrade();
        glib::MainContext::default().spawn_local(async move {
            let result = core.call(command).await;
            let Some(window) = window.upgrade() else {
                return;
            };
            match result {
                Ok(Reply::Erased { erased }) => {
                    window.notify(&format!("{done} ({erased} messages erased)."));
                }
                Ok(_) => window.notify(done),
                Err(e) => window.notify(&user_text::error_text(&e)),
            }
        });
    }

    fn apply_retention(&self) {
        let Some(core) = self.imp().core.get().cloned() else {
            return;
        };
        let Some(policy) = RETENTION_POLICIES
            .get(self.imp().retention_row.selected() as usize)
            .map(|s| (*s).to_owned())
        else {
            return;
        };
        let window = self.downgrade();
        glib::MainContext::default().spawn_local(async move {
            let accounts = match core.call(Command::ListAccounts).await {
                Ok(Reply::Accounts { accounts }) => accounts,
                Ok(_) => Vec::new(),
                Err(e) => {
                    if let Some(window) = window.upgrade() {
                        window.notify(&user_text::error_text(&e));
                    }
                    return;
                }
            };
            let mut failed = None;
            for account in &accounts {
                let command = Command::SetRetention {
                    account: account.jid.clone(),
                    with: None,
                    policy: policy.clone(),
                };
                if let Err(e) = core.call(command).await {
                    failed = Some(e);
                }
            }
            let Some(window) = window.upgrade() else {
                return;
            };
            match failed {
                Some(e) => window.notify(&user_text::error_text(&e)),
                None if accounts.is_empty() => window.notify("There are no accounts yet."),
                None => window.notify("Retention applied to every account."),
            }
        });
    }

    fn change_passphrase(&self) {
        let imp = self.imp();
        let old = Secret::new(imp.old_passphrase_row.text().as_str());
        let new = Secret::new(imp.new_passphrase_row.text().as_str());
        if user_text::passphrase_strength(new.expose()) == 0 {
            self.notify("The new passphrase must have at least 8 characters.");
            return;
        }
        imp.old_passphrase_row.set_text("");
        imp.new_passphrase_row.set_text("");
        self.run(
            Command::ChangePassphrase { old, new },
            "Passphrase changed.",
        );
    }

    fn set_duress(&self, set: bool) {
        let imp = self.imp();
        let passphrase = if set {
            let secret = Secret::new(imp.duress_row.text().as_str());
            if user_text::passphrase_strength(secret.expose()) == 0 {
                self.notify("The duress passphrase must have at least 8 characters.");
                return;
            }
            Some(secret)
        } else {
            None
        };
        imp.duress_row.set_text("");
        let done = if set {
            "Duress passphrase set."
        } else {
            "Duress passphrase removed."
        };
        self.run(Command::SetDuressPassphrase { passphrase }, done);
    }

    fn confirm(&self, heading: &str, body: &str, action: &str, then: impl Fn(&Self) + 'static) {
        let dialog = adw::MessageDialog::new(Some(self), Some(heading), Some(body));
        dialog.add_response("cancel", "Cancel");
        dialog.add_response("confirm", action);
        dialog.set_response_appearance("confirm", adw::ResponseAppearance::Destructive);
        dialog.set_default_response(Some("cancel"));
        dialog.set_close_response("cancel");
        dialog.set_destroy_with_parent(true);
        let window = self.downgrade();
        dialog.connect_response(None, move |_, response| {
            if response == "confirm"
                && let Some(window) = window.upgrade()
            {
                then(&window);
            }
        });
        dialog.present();
    }

    fn confirm_clear_history(&self) {
        self.confirm(
            "Clear all history?",
            "Every stored message of every account is erased from this computer. Your contacts keep their copies.",
            "Clear History",
            |window| {
                window.run(
                    Command::ClearHistory {
                        account: None,
                        with: None,
                    },
                    "History cleared",
                );
            },
        );
    }

    fn confirm_wipe(&self) {
        self.confirm(
            "Wipe the whole profile?",
            "All accounts, keys, contacts and messages on this computer are destroyed now. This cannot be undone.",
            "Wipe Everything",
            |window| {
                let Some(core) = window.imp().core.get().cloned() else {
                    return;
                };
                let weak = window.downgrade();
                glib::MainContext::default().spawn_local(async move {
                    let result = core.call(Command::Wipe).await;
                    let Some(window) = weak.upgrade() else { return };
                    match result {
                        Ok(_) => {
                            window.emit_by_name::<()>("wiped", &[]);
                            window.close();
                        }
                        Err(e) => window.notify(&user_text::error_text(&e)),
                    }
                });
            },
        );
    }
}
