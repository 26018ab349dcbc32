//! The sidebar's contact requests (someone asks to see an account's presence: approve or deny)
//! and what the session knows of each account's contacts and block list, for the account
//! window. It lives in the session view, which forwards the `roster`, `subscription_request`
//! and `blocklist` events to it; the `contacts.open` action (an account's bare JID) opens that
//! account's window.

use std::cell::{OnceCell, RefCell};
use std::collections::BTreeMap;

use gtk4::prelude::*;
use gtk4::subclass::prelude::*;
use gtk4::{CompositeTemplate, gio, glib};

use crate::core::{Command, CoreHandle, Event};
use crate::ui::account_window::AccountWindow;
use crate::ui::{toast, user_text};

/// What the session knows of one account's contacts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccountContacts {
    /// The contacts (server roster, or the local list for local-only accounts), sorted.
    pub contacts: Vec<String>,
    /// The blocked JIDs, sorted.
    pub blocked: Vec<String>,
}

mod imp {
    #[allow(clippy::wildcard_imports)]
    // gtk-rs subclass idiom: imp shares its wrapper's imports
    use super::*;

    #[derive(Default, CompositeTemplate)]
    #[template(file = "../../ui/contact_requests_view.ui")]
    pub struct ContactRequestsView {
        #[template_child]
        pub list: TemplateChild<gtk4::ListBox>,
        pub core: OnceCell<CoreHandle>,
        /// Pending requests, oldest first: (account, who asks).
        pub requests: RefCell<Vec<(String, String)>>,
        pub contacts: RefCell<BTreeMap<String, AccountContacts>>,
        /// The account windows open now (at most one per account).
        pub windows: RefCell<Vec<glib::WeakRef<AccountWindow>>>,
    }

    #[glib::object_subclass]
    impl ObjectSubclass for ContactRequestsView {
        const NAME: &'static str = "TalpaContactRequestsView";
        type Type = super::ContactRequestsView;
        type ParentType = gtk4::Box;

        fn class_init(klass: &mut Self::Class) {
            klass.bind_template();
        }

        fn instance_init(obj: &glib::subclass::InitializingObject<Self>) {
            obj.init_template();
        }
    }

    impl ObjectImpl for ContactRequestsView {
        fn dispose(&self) {
            self.obj().clear();
        }
    }

    impl WidgetImpl for ContactRequestsView {}
    impl BoxImpl for ContactRequestsView {}
}

glib::wrapper! {
    /// Contact requests in the sidebar, and the session's contact lists.
    pub struct ContactRequestsView(ObjectSubclass<imp::ContactRequestsView>)
        @extends gtk4::Box, gtk4::Widget,
        @implements gtk4::Buildable, gtk4::ConstraintTarget, gtk4::Orientable;
}

impl ContactRequestsView {
    /// A sidebar part talking to `core`; installs the `contacts.open` action on `host` (the
    /// session view, whose account rows carry the buttons).
    pub fn new(core: CoreHandle, host: &impl IsA<gtk4::Widget>) -> Self {
        let sidebar: Self = glib::Object::new();
        let _ = sidebar.imp().core.set(core);
        let group = gio::SimpleActionGroup::new();
        let open = gio::SimpleAction::new("open", Some(glib::VariantTy::STRING));
        open.connect_activate(glib::clone!(
            #[weak]
            sidebar,
            move |_, jid| {
                if let Some(jid) = jid.and_then(glib::Variant::get::<String>) {
                    sidebar.open_account(&jid);
                }
            }
        ));
        group.add_action(&open);
        host.insert_action_group("contacts", Some(&group));
        sidebar
    }

    /// Takes in a core event (others are ignored).
    pub fn handle_event(&self, event: &Event) {
        let imp = self.imp();
        match event {
            Event::SubscriptionRequest { account, from } => {
                let request = (account.clone(), from.clone());
                if !imp.requests.borrow().contains(&request) {
                    imp.requests.borrow_mut().push(request);
                    self.show_requests();
                }
            }
            Event::Roster { account, contacts } => {
                let mut sorted = contacts.clone();
                sorted.sort();
                sorted.dedup();
                imp.contacts
                    .borrow_mut()
                    .entry(account.clone())
                    .or_default()
                    .contacts = sorted;
                self.refresh_window(account);
            }
            Event::Blocklist { account, jids } => {
                imp.contacts
                    .borrow_mut()
                    .entry(account.clone())
                    .or_default()
                    .blocked
                    .clone_from(jids);
                // Someone blocked is no longer asking.
                let before = imp.requests.borrow().len();
                imp.requests
                    .borrow_mut()
                    .retain(|(a, from)| a != account || !jids.contains(from));
                if imp.requests.borrow().len() != before {
                    self.show_requests();
                }
                self.refresh_window(account);
            }
            _ => {}
        }
    }

    /// The pending contact requests, as (account, who asks).
    pub fn requests(&self) -> Vec<(String, String)> {
        self.imp().requests.borrow().clone()
    }

    /// What is known of `account`'s contacts and block list.
    pub fn contacts_of(&self, account: &str) -> AccountContacts {
        self.imp()
            .contacts
            .borrow()
            .get(account)
            .cloned()
            .unwrap_or_default()
    }

    /// Opens (or raises) the window of `account`: contacts, blocking, server archive.
    pub fn open_account(&self, account: &str) -> Option<AccountWindow> {
        let imp = self.imp();
        imp.windows.borrow_mut().retain(|w| w.upgrade().is_some());
        if let Some(window) = imp
            .windows
            .borrow()
            .iter()
            .filter_map(glib::WeakRef::upgrade)
            // A closed window may still be referenced somewhere; it is not reopened.
            .find(|w| w.account() == account && w.is_visible())
        {
            GtkWindowExt::present(&window);
            return Some(window);
        }
        let core = imp.core.get()?.clone();
        let parent = self.root().and_downcast::<gtk4::Window>();
        let window = AccountWindow::new(core, parent.as_ref(), account);
        window.show_contacts(&self.contacts_of(account));
        imp.windows.borrow_mut().push(window.downgrade());
        GtkWindowExt::present(&window);
        Some(window)
    }

    /// Forgets every request and contact (on lock) and closes the account windows.
    pub fn clear(&self) {
        let imp = self.imp();
        imp.requests.borrow_mut().clear();
        imp.contacts.borrow_mut().clear();
        for window in imp.windows.take() {
            if let Some(window) = window.upgrade() {
                GtkWindowExt::close(&window);
            }
        }
        self.show_requests();
    }

    /// Approves (`approve`) or denies a request, and drops it once the core did.
    pub fn answer(&self, account: &str, from: &str, approve: bool) {
        let Some(core) = self.imp().core.get().cloned() else {
            return;
        };
        let command = if approve {
            Command::ApproveContact {
                account: account.to_owned(),
                jid: from.to_owned(),
            }
        } else {
            Command::DenyContact {
                account: account.to_owned(),
                jid: from.to_owned(),
            }
        };
        let sidebar = self.downgrade();
        let request = (account.to_owned(), from.to_owned());
        glib::MainContext::default().spawn_local(async move {
            let result = core.call(command).await;
            let Some(sidebar) = sidebar.upgrade() else {
                return;
            };
            match result {
                Ok(_) => {
                    sidebar
                        .imp()
                        .requests
                        .borrow_mut()
                        .retain(|r| *r != request);
                    sidebar.show_requests();
                    let (account, from) = request;
                    toast(
                        &sidebar,
                        &if approve {
                            format!("{from} can now see when {account} is online.")
                        } else {
                            format!("{from}'s request was refused.")
                        },
                    );
                }
                Err(e) => {
                    // Rebuilt rows have their buttons back.
                    sidebar.show_requests();
                    toast(
                        &sidebar,
                        &format!(
                            "Could not answer {}. {}",
                            request.1,
                            user_text::error_text(&e)
                        ),
                    );
                }
            }
        });
    }

    fn refresh_window(&self, account: &str) {
        let contacts = self.contacts_of(account);
        for window in self
            .imp()
            .windows
            .borrow()
            .iter()
            .filter_map(glib::WeakRef::upgrade)
        {
            if window.account() == account {
                window.show_contacts(&contacts);
            }
        }
    }

    fn show_requests(&self) {
        let imp = self.imp();
        let list = &imp.list;
        while let Some(row) = list.first_child() {
            list.remove(&row);
        }
        let requests = imp.requests.borrow().clone();
        for (account, from) in &requests {
            list.append(&self.request_row(account, from));
        }
        self.set_visible(!requests.is_empty());
    }

    /// One request: who asks (wrapped, never widening the sidebar), for which account, and
    /// the two answers below.
    fn request_row(&self, account: &str, from: &str) -> gtk4::ListBoxRow {
        let content = gtk4::Box::builder()
            .orientation(gtk4::Orientation::Vertical)
            .spacing(4)
            .margin_start(12)
            .margin_end(12)
            .margin_top(8)
            .margin_bottom(8)
            .build();
        let title = gtk4::Label::builder()
            .label(from)
            .xalign(0.0)
            .wrap(true)
            .wrap_mode(gtk4::pango::WrapMode::WordChar)
            // Wrapped labels ask for their whole line otherwise, widening the sidebar.
            .max_width_chars(24)
            .build();
        let subtitle = gtk4::Label::builder()
            .label(format!("wants to see when {account} is online"))
            .xalign(0.0)
            .wrap(true)
            .wrap_mode(gtk4::pango::WrapMode::WordChar)
            // Wrapped labels ask for their whole line otherwise, widening the sidebar.
            .max_width_chars(24)
            .css_classes(["dim-label", "caption"])
            .build();
        content.append(&title);
        content.append(&subtitle);
        let buttons = gtk4::Box::builder()
            .spacing(6)
            .halign(gtk4::Align::End)
            .build();
        for (label, approve, tooltip) in [
            ("Deny", false, format!("Refuse {from}'s request")),
            (
                "Approve",
                true,
                format!("Let {from} see when {account} is online"),
            ),
        ] {
            let button = gtk4::Button::builder()
                .label(label)
                .tooltip_text(tooltip)
                .build();
            if approve {
                button.add_css_class("suggested-action");
            }
            let (account, from) = (account.to_owned(), from.to_owned());
            button.connect_clicked(glib::clone!(
                #[weak(rename_to = sidebar)]
                self,
                move |b| {
                    b.set_sensitive(false);
                    sidebar.answer(&account, &from, approve);
                }
            ));
            buttons.append(&button);
        }
        content.append(&buttons);
        gtk4::ListBoxRow::builder()
            .activatable(false)
            .child(&content)
            .build()
    }
}
