//! The main window: the unlock page while locked, a fresh [`SessionView`] while unlocked.
//! It owns the one task that consumes the core's events on the GTK main loop.

use std::cell::{OnceCell, RefCell};

use gtk4::prelude::*;
use gtk4::subclass::prelude::*;
use gtk4::{CompositeTemplate, gio, glib};
use libadwaita as adw;
use libadwaita::prelude::*;
use libadwaita::subclass::prelude::*;
use tokio::sync::broadcast::error::RecvError;

use crate::core::events::TorStatusInfo;
use crate::core::{Command, CoreError, CoreHandle, Event, Reply};
use crate::ui::add_account_dialog::AddAccountDialog;
use crate::ui::conversation_switcher_dialog::ConversationSwitcherDialog;
use crate::ui::preferences_window::PreferencesWindow;
use crate::ui::room_dialog::RoomDialog;
use crate::ui::session_view::SessionView;
use crate::ui::unlock_page::UnlockPage;
use crate::ui::user_text;

mod imp {
    #[allow(clippy::wildcard_imports)]
    // gtk-rs subclass idiom: imp shares its wrapper's imports
    use super::*;

    #[derive(Default, CompositeTemplate)]
    #[template(file = "../../ui/window.ui")]
    pub struct Window {
        #[template_child]
        pub toast_overlay: TemplateChild<adw::ToastOverlay>,
        #[template_child]
        pub stack: TemplateChild<gtk4::Stack>,
        pub core: OnceCell<CoreHandle>,
        pub unlock_page: OnceCell<UnlockPage>,
        pub session: RefCell<Option<SessionView>>,
        pub tor_status: RefCell<Option<TorStatusInfo>>,
        pub event_task: RefCell<Option<glib::JoinHandle<()>>>,
        /// Notices shown, dismissed at lock (they can name contacts and rooms).
        pub toasts: RefCell<Vec<glib::WeakRef<adw::Toast>>>,
    }

    #[glib::object_subclass]
    impl ObjectSubclass for Window {
        const NAME: &'static str = "TalpaWindow";
        type Type = super::Window;
        type ParentType = adw::ApplicationWindow;

        fn class_init(klass: &mut Self::Class) {
            klass.bind_template();
        }

        fn instance_init(obj: &glib::subclass::InitializingObject<Self>) {
            obj.init_template();
        }
    }

    impl ObjectImpl for Window {
        fn dispose(&self) {
            if let Some(task) = self.event_task.take() {
                task.abort();
            }
            if let Some(session) = self.session.take() {
                session.clear();
            }
        }
    }
    impl WidgetImpl for Window {}
    impl WindowImpl for Window {}
    impl ApplicationWindowImpl for Window {}
    impl AdwApplicationWindowImpl for Window {}
}

glib::wrapper! {
    /// Talpa's only top-level window.
    pub struct Window(ObjectSubclass<imp::Window>)
        @extends adw::ApplicationWindow, gtk4::ApplicationWindow, gtk4::Window, gtk4::Widget,
        @implements gio::ActionGroup, gio::ActionMap, gtk4::Buildable,
            gtk4::ConstraintTarget, gtk4::Native, gtk4::Root, gtk4::ShortcutManager;
}

impl Window {
    /// The window of `app`, talking to `core`; starts on the unlock page.
    pub fn new(app: &adw::Application, core: CoreHandle) -> Self {
        let window: Self = glib::Object::builder().property("application", app).build();
        let imp = window.imp();
        let page = UnlockPage::new(core.clone());
        page.connect_unlocked(glib::clone!(
            #[weak]
            window,
            move |_| {
                // The core's `Unlocked` event may have come first.
                if !window.is_unlocked() {
                    window.on_unlocked();
                }
            }
        ));
        imp.stack.add_named(&page, Some("unlock"));
        imp.stack.set_visible_child(&page);
        let _ = imp.unlock_page.set(page);
        let _ = imp.core.set(core);
        window.set_help_overlay(Some(&crate::ui::shortcuts_window::build()));
        window.setup_actions();
        // Looking at the window withdraws the message notification and starts counting again.
        window.connect_is_active_notify(|window| {
            if let Some(session) = window.session().filter(|_| window.is_active()) {
                session.window_activated();
            }
        });
        window.listen();
        window.refresh_tor();
        window
    }

    /// Shows a transient notice.
    pub fn toast(&self, text: &str) {
        let toast = adw::Toast::new(text);
        let mut toasts = self.imp().toasts.borrow_mut();
        toasts.retain(|t| t.upgrade().is_some());
        toasts.push(toast.downgrade());
        drop(toasts);
        self.imp().toast_overlay.add_toast(toast);
    }

    /// The texts of the notices shown or queued now (for tests).
    pub fn toast_titles(&self) -> Vec<String> {
        self.imp()
            .toasts
            .borrow()
            .iter()
            .filter_map(glib::WeakRef::upgrade)
            .filter_map(|t| t.title().map(|s| s.to_string()))
            .collect()
    }

    /// Reads again from the core what the window shows (after it missed events).
    pub fn resync(&self) {
        self.refresh_tor();
        if let Some(session) = self.session() {
            session.resync();
        }
    }

    /// The unlocked profile's view, if the profile is shown unlocked.
    pub fn session(&self) -> Option<SessionView> {
        self.imp().session.borrow().clone()
    }

    /// Whether the profile is shown unlocked.
    pub fn is_unlocked(&self) -> bool {
        self.imp().session.borrow().is_some()
    }

    /// The core this window talks to.
    pub fn core(&self) -> Option<CoreHandle> {
        self.imp().core.get().cloned()
    }

    fn setup_actions(&self) {
        let lock = gio::ActionEntry::builder("lock")
            .activate(|window: &Self, _, _| window.lock())
            .build();
        let add_account = gio::ActionEntry::builder("add-account")
            .activate(|window: &Self, _, _| window.add_account())
            .build();
        let create_room = gio::ActionEntry::builder("create-room")
            .activate(|window: &Self, _, _| window.room_dialog(true))
            .build();
        let join_room = gio::ActionEntry::builder("join-room")
            .activate(|window: &Self, _, _| window.room_dialog(false))
            .build();
        let remove_account = gio::ActionEntry::builder("remove-account")
            .parameter_type(Some(&String::static_variant_type()))
            .activate(|window: &Self, _, jid| {
                if let Some(jid) = jid.and_then(glib::Variant::get::<String>) {
                    window.confirm_remove_account(&jid);
                }
            })
            .build();
        let account_settings = gio::ActionEntry::builder("account-settings")
            .parameter_type(Some(&String::static_variant_type()))
            .activate(|window: &Self, _, jid| {
                if let (Some(jid), Some(core)) =
                    (jid.and_then(glib::Variant::get::<String>), window.core())
                {
                    crate::ui::account_settings_dialog::AccountSettingsDialog::new(
                        core, window, &jid,
                    )
                    .present();
                }
            })
            .build();
        let switch_conversation = gio::ActionEntry::builder("switch-conversation")
            .activate(|window: &Self, _, _| window.switch_conversation())
            .build();
        let search = gio::ActionEntry::builder("search")
            .activate(|window: &Self, _, _| window.search_messages())
            .build();
        self.add_action_entries([
            lock,
            add_account,
            create_room,
            join_room,
            remove_account,
            account_settings,
            switch_conversation,
            search,
        ]);
        self.update_actions();
    }

    fn update_actions(&self) {
        let unlocked = self.is_unlocked();
        for name in [
            "lock",
            "add-account",
            "create-room",
            "join-room",
            "remove-account",
            "account-settings",
            "switch-conversation",
            "search",
        ] {
            if let Some(action) = self.lookup_action(name).and_downcast::<gio::SimpleAction>() {
                action.set_enabled(unlocked);
            }
        }
        if let Some(action) = self
            .application()
            .and_then(|app| app.lookup_action("preferences"))
            .and_downcast::<gio::SimpleAction>()
        {
            action.set_enabled(unlocked);
        }
    }

    /// Consumes the core's events on the main loop for as long as the window lives.
    fn listen(&self) {
        let Some(core) = self.core() else { return };
        let mut events = core.subscribe();
        let window = self.downgrade();
        let task = glib::MainContext::default().spawn_local(async move {
            loop {
                let event = match events.recv().await {
                    Ok(event) => event,
                    Err(RecvError::Lagged(missed)) => {
                        // Dropped events would leave the view incomplete: read it all again.
                        tracing::warn!(missed, "the window fell behind the core's events");
                        if let Some(window) = window.upgrade() {
                            window.resync();
                        }
                        continue;
                    }
                    Err(RecvError::Closed) => break,
                };
                let Some(window) = window.upgrade() else {
                    break;
                };
                window.on_event(&event);
            }
        });
        self.imp().event_task.replace(Some(task));
    }

    /// Applies one core event (the event task calls this for every event).
    pub fn on_event(&self, event: &Event) {
        match event {
            Event::Locked => self.show_locked(),
            Event::Unlocked => {
                if !self.is_unlocked() {
                    self.on_unlocked();
                }
            }
            Event::TorStatus(status) => {
                self.imp().tor_status.replace(Some(status.clone()));
                if let Some(session) = self.imp().session.borrow().as_ref() {
                    session.set_tor_status(status);
                }
            }
            Event::Error {
                kind,
                message: _,
                account,
            } => {
                // The core's wording stays in the logs; the user gets a sentence made here.
                let text = match account {
                    Some(account) => format!("Something went wrong with {account} ({kind})."),
                    None => format!("Something went wrong ({kind})."),
                };
                self.toast(&text);
            }
            other => {
                if let Some(session) = self.imp().session.borrow().as_ref() {
                    session.handle_event(other);
                }
            }
        }
    }

    fn refresh_tor(&self) {
        let Some(core) = self.core() else { return };
        let window = self.downgrade();
        glib::MainContext::default().spawn_local(async move {
            if let (Ok(Reply::Tor(status)), Some(window)) =
                (core.call(Command::TorStatus).await, window.upgrade())
            {
                window.on_event(&Event::TorStatus(status));
            }
        });
    }

    fn on_unlocked(&self) {
        let Some(core) = self.core() else { return };
        let imp = self.imp();
        if let Some(old) = imp.session.take() {
            old.clear();
            imp.stack.remove(&old);
        }
        let session = SessionView::new(&core);
        if let Some(status) = imp.tor_status.borrow().as_ref() {
            session.set_tor_status(status);
        }
        imp.stack.add_named(&session, Some("session"));
        imp.stack.set_visible_child(&session);
        imp.session.replace(Some(session));
        self.update_actions();
        // The stored conversations are listed at once, not only as new messages arrive.
        self.load_accounts(true);
        self.reload_preferences();
    }

    /// Asks the core for the stored preferences and applies them to the session.
    pub fn reload_preferences(&self) {
        let Some(core) = self.core() else { return };
        let window = self.downgrade();
        glib::MainContext::default().spawn_local(async move {
            let result = core.call(Command::Preferences).await;
            let Some(window) = window.upgrade() else {
                return;
            };
            if let Ok(Reply::Preferences { preferences }) = result
                && let Some(session) = window.session()
            {
                session.apply_preferences(&preferences);
            }
        });
    }

    /// Asks the core for the account list and shows it.
    pub fn reload_accounts(&self) {
        self.load_accounts(false);
    }

    /// Asks the core for the account list and shows it, and with `conversations` each
    /// account's stored conversations too (one account listing for both).
    fn load_accounts(&self, conversations: bool) {
        let Some(core) = self.core() else { return };
        let window = self.downgrade();
        glib::MainContext::default().spawn_local(async move {
            let result = core.call(Command::ListAccounts).await;
            let Some(window) = window.upgrade() else {
                return;
            };
            match result {
                Ok(Reply::Accounts { accounts } | Reply::Unlocked { accounts }) => {
                    if let Some(session) = window.imp().session.borrow().as_ref() {
                        session.set_accounts(&accounts);
                        if conversations {
                            session.list_stored_conversations(accounts);
                        }
                    }
                }
                Ok(_) => {}
                Err(e) => window.toast(&format!(
                    "Could not list your accounts. {}",
                    user_text::error_text(&e)
                )),
            }
        });
    }

    /// Drops the session view and everything it showed, and returns to the unlock page.
    pub fn show_locked(&self) {
        let imp = self.imp();
        for dialog in self.application().map(|a| a.windows()).unwrap_or_default() {
            if dialog != *self.upcast_ref::<gtk4::Window>() {
                dialog.destroy();
            }
        }
        if let Some(page) = imp.unlock_page.get() {
            page.reset();
            imp.stack.set_visible_child(page);
        }
        if let Some(session) = imp.session.take() {
            session.clear();
            imp.stack.remove(&session);
        }
        if let Some(app) = self.application() {
            crate::ui::notifications::withdraw(app.upcast_ref());
        }
        // libadwaita 1.2 crashes when a queued toast is dismissed: blank them out instead, so
        // no notice shows a contact's or room's name after the lock, and let them time out.
        for toast in imp.toasts.take() {
            if let Some(toast) = toast.upgrade() {
                toast.set_title("Talpa is locked.");
                toast.set_timeout(1);
            }
        }
        // Message text the user copied must not outlive the lock either.
        let clipboard = self.clipboard();
        if clipboard.is_local() {
            let _ = clipboard.set_content(None::<&gtk4::gdk::ContentProvider>);
        }
        self.update_actions();
    }

    /// Sends `Lock`; the view is dropped whatever the core answers, so nothing stays on screen.
    pub fn lock(&self) {
        let Some(core) = self.core() else { return };
        self.show_locked();
        let window = self.downgrade();
        glib::MainContext::default().spawn_local(async move {
            let result = core.call(Command::Lock).await;
            if let (Err(e), Some(window)) = (result, window.upgrade())
                && !matches!(e, CoreError::Locked)
            {
                window.toast(&user_text::error_text(&e));
            }
        });
    }

    fn add_account(&self) {
        let Some(core) = self.core() else { return };
        let dialog = AddAccountDialog::new(core, self);
        dialog.connect_account_added(glib::clone!(
            #[weak(rename_to = window)]
            self,
            move |_| {
                window.toast("Account added. It connects through Tor after a random delay.");
                window.reload_accounts();
            }
        ));
        dialog.present();
    }

    /// Opens the conversation switcher (Ctrl+K).
    pub fn switch_conversation(&self) {
        let Some(model) = self.session().and_then(|s| s.conversations_model()) else {
            return;
        };
        let dialog = ConversationSwitcherDialog::new(self, &model);
        dialog.connect_chosen(glib::clone!(
            #[weak(rename_to = window)]
            self,
            move |_, account, peer| {
                if let Some(session) = window.session() {
                    session.open_conversation(account, peer);
                }
            }
        ));
        dialog.present();
    }

    /// Opens the message search (Ctrl+F) over this computer's stored messages.
    pub fn search_messages(&self) {
        let (Some(core), Some(session)) = (self.core(), self.session()) else {
            return;
        };
        crate::ui::search_dialog::open(self, core, &session);
    }

    /// Asks before removing an account with all of its data, then asks the core.
    pub fn confirm_remove_account(&self, jid: &str) {
        let dialog = adw::MessageDialog::new(
            Some(self),
            Some(&format!("Remove {jid}?")),
            Some(
                "Its password, contacts, rooms, messages and keys are erased from this computer. \
                 The account itself stays on its server.",
            ),
        );
        dialog.add_response("cancel", "Cancel");
        dialog.add_response("remove", "Remove Account");
        dialog.set_response_appearance("remove", adw::ResponseAppearance::Destructive);
        dialog.set_default_response(Some("cancel"));
        dialog.set_close_response("cancel");
        // Registered with the application so that locking finds and destroys it.
        dialog.set_application(self.application().as_ref());
        let window = self.downgrade();
        let jid = jid.to_owned();
        dialog.connect_response(None, move |_, response| {
            if response != "remove" {
                return;
            }
            let (Some(window), jid) = (window.upgrade(), jid.clone()) else {
                return;
            };
            let Some(core) = window.core() else { return };
            let weak = window.downgrade();
            glib::MainContext::default().spawn_local(async move {
                let result = core
                    .call(Command::RemoveAccount {
                        account: jid.clone(),
                    })
                    .await;
                let Some(window) = weak.upgrade() else { return };
                match result {
                    Ok(_) => {
                        if let Some(session) = window.session() {
                            session.forget_account(&jid);
                        }
                        window.reload_accounts();
                        window.toast("The account and its data were removed.");
                    }
                    Err(e) => window.toast(&user_text::error_text(&e)),
                }
            });
        });
        dialog.present();
    }

    /// Opens the dialog that creates a private room (`creating`) or joins one.
    pub fn room_dialog(&self, creating: bool) {
        let (Some(core), Some(session)) = (self.core(), self.session()) else {
            return;
        };
        let accounts = session.account_jids();
        if accounts.is_empty() {
            self.toast("Add an account first: rooms are joined with one of your accounts.");
            return;
        }
        RoomDialog::new(core, self, &accounts, creating).present();
    }

    /// Opens the preferences (only while unlocked).
    pub fn show_preferences(&self) {
        if !self.is_unlocked() {
            return;
        }
        let Some(core) = self.core() else { return };
        let preferences = PreferencesWindow::new(core, self);
        if let Some(status) = self.imp().tor_status.borrow().as_ref() {
            preferences.set_tor_status(status);
        }
        preferences.connect_wiped(glib::clone!(
            #[weak(rename_to = window)]
            self,
            move |_| {
                window.show_locked();
                if let Some(page) = window.imp().unlock_page.get() {
                    page.set_creating(true);
                }
                window.toast("The profile was wiped.");
            }
        ));
        preferences.connect_close_request(glib::clone!(
            #[weak(rename_to = window)]
            self,
            #[upgrade_or]
            glib::Propagation::Proceed,
            move |_| {
                window.reload_preferences();
                glib::Propagation::Proceed
            }
        ));
        preferences.present();
    }
}
