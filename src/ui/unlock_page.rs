//! The unlock / create-profile page: the only thing shown while the profile is locked.

use std::cell::{Cell, OnceCell};
use std::sync::OnceLock;

use gtk4::glib::subclass::Signal;
use gtk4::prelude::*;
use gtk4::subclass::prelude::*;
use gtk4::{CompositeTemplate, glib};
use libadwaita as adw;
use libadwaita::prelude::*;

use crate::core::commands::Secret;
use crate::core::{Command, CoreError, CoreHandle, Reply};
use crate::ui::user_text;

mod imp {
    #[allow(clippy::wildcard_imports)]
    // gtk-rs subclass idiom: imp shares its wrapper's imports
    use super::*;

    #[derive(Default, CompositeTemplate)]
    #[template(file = "../../ui/unlock_page.ui")]
    pub struct UnlockPage {
        #[template_child]
        pub status: TemplateChild<adw::StatusPage>,
        #[template_child]
        pub passphrase_row: TemplateChild<adw::PasswordEntryRow>,
        #[template_child]
        pub confirm_row: TemplateChild<adw::PasswordEntryRow>,
        #[template_child]
        pub strength_bar: TemplateChild<gtk4::LevelBar>,
        #[template_child]
        pub strength_label: TemplateChild<gtk4::Label>,
        #[template_child]
        pub error_label: TemplateChild<gtk4::Label>,
        #[template_child]
        pub submit_button: TemplateChild<gtk4::Button>,
        #[template_child]
        pub spinner: TemplateChild<gtk4::Spinner>,
        #[template_child]
        pub mode_button: TemplateChild<gtk4::Button>,
        pub core: OnceCell<CoreHandle>,
        pub creating: Cell<bool>,
        /// The core said no profile exists: only then does the page offer to create one, so
        /// that a misclick can never lead towards replacing an existing profile.
        pub may_create: Cell<bool>,
        pub busy: Cell<bool>,
    }

    #[glib::object_subclass]
    impl ObjectSubclass for UnlockPage {
        const NAME: &'static str = "TalpaUnlockPage";
        type Type = super::UnlockPage;
        type ParentType = gtk4::Box;

        fn class_init(klass: &mut Self::Class) {
            klass.bind_template();
        }

        fn instance_init(obj: &glib::subclass::InitializingObject<Self>) {
            obj.init_template();
        }
    }

    impl ObjectImpl for UnlockPage {
        fn signals() -> &'static [Signal] {
            static SIGNALS: OnceLock<Vec<Signal>> = OnceLock::new();
            SIGNALS.get_or_init(|| vec![Signal::builder("unlocked").build()])
        }

        fn constructed(&self) {
            self.parent_constructed();
            let obj = self.obj();
            crate::ui::a11y::label_password_peek(&self.passphrase_row);
            crate::ui::a11y::label_password_peek(&self.confirm_row);
            self.submit_button.connect_clicked(glib::clone!(
                #[weak]
                obj,
                move |_| obj.submit()
            ));
            self.passphrase_row.connect_entry_activated(glib::clone!(
                #[weak]
                obj,
                move |_| {
                    if obj.imp().creating.get() {
                        obj.imp().confirm_row.grab_focus();
                    } else {
                        obj.submit();
                    }
                }
            ));
            self.confirm_row.connect_entry_activated(glib::clone!(
                #[weak]
                obj,
                move |_| obj.submit()
            ));
            self.passphrase_row.connect_changed(glib::clone!(
                #[weak]
                obj,
                move |_| obj.update_strength()
            ));
            self.mode_button.connect_clicked(glib::clone!(
                #[weak]
                obj,
                move |_| {
                    let creating = !obj.imp().creating.get();
                    if !creating || obj.imp().may_create.get() {
                        obj.set_creating(creating);
                    }
                }
            ));
        }
    }

    impl WidgetImpl for UnlockPage {}
    impl BoxImpl for UnlockPage {}
}

glib::wrapper! {
    /// Asks for the profile passphrase (or a new one), sends `Unlock`/`CreateProfile`, and emits
    /// `unlocked` once the core accepted it.
    pub struct UnlockPage(ObjectSubclass<imp::UnlockPage>)
        @extends gtk4::Box, gtk4::Widget,
        @implements gtk4::Buildable, gtk4::ConstraintTarget, gtk4::Orientable;
}

impl UnlockPage {
    /// A page talking to `core`.
    pub fn new(core: CoreHandle) -> Self {
        let page: Self = glib::Object::new();
        let _ = page.imp().core.set(core);
        page.refresh_may_create();
        page
    }

    /// Asks the core whether a profile exists; the page offers to create one only when the
    /// answer is no (not while it is unknown, nor when the core cannot say).
    fn refresh_may_create(&self) {
        self.set_may_create(false);
        let Some(core) = self.imp().core.get().cloned() else {
            return;
        };
        let page = self.downgrade();
        glib::MainContext::default().spawn_local(async move {
            let none = matches!(
                core.call(Command::ProfileExists).await,
                Ok(Reply::ProfileExists { exists: false })
            );
            if let Some(page) = page.upgrade() {
                page.set_may_create(none);
            }
        });
    }

    fn set_may_create(&self, may_create: bool) {
        let imp = self.imp();
        imp.may_create.set(may_create);
        if !may_create && imp.creating.get() {
            self.set_creating(false);
        }
        imp.mode_button
            .set_visible(imp.creating.get() || may_create);
    }

    /// Whether the page offers to create a profile (a profile is known not to exist).
    pub fn offers_creation(&self) -> bool {
        let imp = self.imp();
        imp.creating.get() || imp.mode_button.is_visible()
    }

    /// Calls `f` when the core accepted the passphrase.
    pub fn connect_unlocked<F: Fn(&Self) + 'static>(&self, f: F) -> glib::SignalHandlerId {
        self.connect_local("unlocked", false, move |values| {
            if let Some(Ok(page)) = values.first().map(glib::Value::get::<Self>) {
                f(&page);
            }
            None
        })
    }

    /// Switches between "unlock the existing profile" and "create a new profile" (which the
    /// caller knows not to exist: after a wipe, or when the core answered that there is none).
    pub fn set_creating(&self, creating: bool) {
        let imp = self.imp();
        if creating {
            imp.may_create.set(true);
        }
        imp.creating.set(creating);
        imp.mode_button
            .set_visible(creating || imp.may_create.get());
        imp.confirm_row.set_visible(creating);
        imp.strength_bar.set_visible(creating);
        imp.strength_label.set_visible(creating);
        if creating {
            imp.status.set_title("Create a profile");
            imp.status.set_description(Some(
                "Choose a passphrase. It encrypts everything Talpa keeps on this computer and cannot be recovered if you forget it.",
            ));
            imp.submit_button.set_label("Create profile");
            imp.mode_button
                .set_label("Unlock an existing profile instead");
        } else {
            imp.status.set_title("Unlock Talpa");
            imp.status.set_description(Some(
                "Your messages and accounts are kept in an encrypted profile on this computer.",
            ));
            imp.submit_button.set_label("Unlock");
            imp.mode_button.set_label("Create a new profile instead");
        }
        self.update_strength();
        self.show_error(None);
    }

    /// Empties both entries, the error and the busy state (on lock and after success), and asks
    /// the core again whether a profile exists.
    pub fn reset(&self) {
        self.refresh_may_create();
        let imp = self.imp();
        imp.passphrase_row.set_text("");
        imp.confirm_row.set_text("");
        self.show_error(None);
        self.set_busy(false);
        imp.passphrase_row.grab_focus();
    }

    fn update_strength(&self) {
        let imp = self.imp();
        let strength = user_text::passphrase_strength(&imp.passphrase_row.text());
        imp.strength_bar.set_value(f64::from(strength));
        imp.strength_label
            .set_label(user_text::strength_hint(strength));
    }

    fn show_error(&self, text: Option<&str>) {
        let label = &self.imp().error_label;
        label.set_label(text.unwrap_or(""));
        label.set_visible(text.is_some());
    }

    fn set_busy(&self, busy: bool) {
        let imp = self.imp();
        imp.busy.set(busy);
        imp.spinner.set_visible(busy);
        imp.spinner.set_spinning(busy);
        imp.submit_button.set_sensitive(!busy);
        imp.mode_button.set_sensitive(!busy);
        imp.passphrase_row.set_sensitive(!busy);
        imp.confirm_row.set_sensitive(!busy);
    }

    fn submit(&self) {
        let imp = self.imp();
        if imp.busy.get() {
            return;
        }
        let Some(core) = imp.core.get().cloned() else {
            return;
        };
        let passphrase = Secret::new(imp.passphrase_row.text().as_str());
        if passphrase.is_empty() {
            self.show_error(Some("Enter your passphrase."));
            return;
        }
        let creating = imp.creating.get();
        let command = if creating {
            if user_text::passphrase_strength(passphrase.expose()) == 0 {
                self.show_error(Some("The passphrase must have at least 8 characters."));
                return;
            }
            if imp.confirm_row.text().as_str() != passphrase.expose() {
                self.show_error(Some("The two passphrases are not the same."));
                return;
            }
            Command::CreateProfile { passphrase }
        } else {
            Command::Unlock { passphrase }
        };
        self.show_error(None);
        self.set_busy(true);
        let page = self.downgrade();
        glib::MainContext::default().spawn_local(async move {
            let result = core.call(command).await;
            let Some(page) = page.upgrade() else { return };
            page.set_busy(false);
            match result {
                Ok(_) => {
                    // Next time the profile exists: the page asks to unlock it.
                    page.set_creating(false);
                    page.reset();
                    page.emit_by_name::<()>("unlocked", &[]);
                }
                Err(e) => page.on_error(&e, creating),
            }
        });
    }

    fn on_error(&self, e: &CoreError, creating: bool) {
        match e {
            CoreError::NoProfile if !creating => self.set_creating(true),
            CoreError::ProfileExists => self.set_may_create(false),
            CoreError::WrongPassphrase => {
                self.imp().passphrase_row.set_text("");
                self.imp().passphrase_row.grab_focus();
            }
            _ => {}
        }
        self.show_error(Some(&user_text::error_text(e)));
        self.imp().passphrase_row.grab_focus();
    }
}
