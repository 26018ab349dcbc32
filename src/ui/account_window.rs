//! One account's contacts and what its server keeps: add a contact, remove or block one,
//! unblock (XEP-0191), and the server's archiving preference (XEP-0441) with what each choice
//! means. Opened from the account's row in the sidebar; the lists come from the session's
//! `roster` and `blocklist` events (see `contact_requests_view`). A contact the user named
//! is listed by that name, its address beneath (`ui::contact_names`, following renames).

use std::cell::{Cell, OnceCell, RefCell};

use gtk4::prelude::*;
use gtk4::subclass::prelude::*;
use gtk4::{CompositeTemplate, glib};
use libadwaita as adw;
use libadwaita::prelude::*;
use libadwaita::subclass::prelude::*;

use crate::core::{Command, CoreError, CoreHandle, Reply};
use crate::ui::contact_requests_view::AccountContacts;
use crate::ui::user_text;

/// The server archiving choices (XEP-0441 `default`), in the combo row's order, with their
/// label and what each means for the user.
pub const ARCHIVING: [(&str, &str, &str); 3] = [
    (
        "always",
        "Every message",
        "The server keeps a copy of every message: Talpa catches up after being offline and your \
         other devices see your history, and whoever seizes the server reads who wrote to whom, \
         and when.",
    ),
    (
        "roster",
        "Only with contacts",
        "The server keeps messages with people in your server contact list only (with \
         local-only contacts, almost none).",
    ),
    (
        "never",
        "Nothing",
        "The server keeps no archive: a seized server has no history, but messages that arrive \
         while you are offline may be lost and catch-up has nothing to fetch.",
    ),
];

mod imp {
    #[allow(clippy::wildcard_imports)]
    // gtk-rs subclass idiom: imp shares its wrapper's imports
    use super::*;

    #[derive(Default, CompositeTemplate)]
    #[template(file = "../../ui/account_window.ui")]
    pub struct AccountWindow {
        #[template_child]
        pub add_row: TemplateChild<adw::EntryRow>,
        #[template_child]
        pub add_button: TemplateChild<gtk4::Button>,
        #[template_child]
        pub contacts_group: TemplateChild<adw::PreferencesGroup>,
        #[template_child]
        pub blocked_group: TemplateChild<adw::PreferencesGroup>,
        #[template_child]
        pub block_row: TemplateChild<adw::EntryRow>,
        #[template_child]
        pub block_button: TemplateChild<gtk4::Button>,
        #[template_child]
        pub archive_row: TemplateChild<adw::ComboRow>,
        pub core: OnceCell<CoreHandle>,
        pub account: OnceCell<String>,
        /// The rows listing contacts and blocked JIDs (replaced on every update).
        pub rows: RefCell<Vec<(adw::PreferencesGroup, adw::ActionRow)>>,
        /// Set while the window moves the archive row itself, so only the user's choice
        /// reaches the server.
        pub syncing: Cell<bool>,
        /// The lists shown now.
        pub shown: RefCell<AccountContacts>,
        /// The archiving value the server last reported.
        pub archiving: RefCell<Option<String>>,
    }

    #[glib::object_subclass]
    impl ObjectSubclass for AccountWindow {
        const NAME: &'static str = "TalpaAccountWindow";
        type Type = super::AccountWindow;
        type ParentType = adw::PreferencesWindow;

        fn class_init(klass: &mut Self::Class) {
            klass.bind_template();
        }

        fn instance_init(obj: &glib::subclass::InitializingObject<Self>) {
            obj.init_template();
        }
    }

    impl ObjectImpl for AccountWindow {
        fn constructed(&self) {
            self.parent_constructed();
            let obj = self.obj();
            self.add_button.connect_clicked(glib::clone!(
                #[weak]
                obj,
                move |_| obj.add_typed()
            ));
            self.add_row.connect_entry_activated(glib::clone!(
                #[weak]
                obj,
                move |_| obj.add_typed()
            ));
            self.block_button.connect_clicked(glib::clone!(
                #[weak]
                obj,
                move |_| obj.block_typed()
            ));
            self.block_row.connect_entry_activated(glib::clone!(
                #[weak]
                obj,
                move |_| obj.block_typed()
            ));
            // The choices' labels live with their values and meanings (`ARCHIVING`).
            let labels: Vec<&str> = ARCHIVING.iter().map(|(_, label, _)| *label).collect();
            self.archive_row
                .set_model(Some(&gtk4::StringList::new(&labels)));
            self.archive_row.connect_selected_notify(glib::clone!(
                #[weak]
                obj,
                move |row| obj.archiving_chosen(row.selected())
            ));
        }
    }
    impl WidgetImpl for AccountWindow {}
    impl WindowImpl for AccountWindow {}
    impl AdwWindowImpl for AccountWindow {}
    impl PreferencesWindowImpl for AccountWindow {}
}

glib::wrapper! {
    /// An account's contacts, block list and server archive.
    pub struct AccountWindow(ObjectSubclass<imp::AccountWindow>)
        @extends adw::PreferencesWindow, adw::Window, gtk4::Window, gtk4::Widget,
        @implements gtk4::Buildable, gtk4::ConstraintTarget, gtk4::Native, gtk4::Root,
            gtk4::ShortcutManager;
}

/// A contact's row: its name over its address when the user named it, else its address;
/// shown as plain text (a name may hold `&` or `<`).
fn contact_row(account: &str, jid: &str, blocked: bool) -> adw::ActionRow {
    let row = adw::ActionRow::builder().use_markup(false).build();
    let mut subtitle = Vec::new();
    if let Some(name) = crate::ui::contact_names::name_of(account, jid) {
        row.set_title(&name.text);
        subtitle.push(jid);
    } else {
        row.set_title(jid);
    }
    if blocked {
        subtitle.push("Blocked");
    }
    if !subtitle.is_empty() {
        row.set_subtitle(&subtitle.join(" · "));
    }
    row
}

impl AccountWindow {
    /// The window of `account`, transient for `parent`.
    pub fn new(core: CoreHandle, parent: Option<&gtk4::Window>, account: &str) -> Self {
        let window: Self = glib::Object::builder().property("title", account).build();
        GtkWindowExt::set_transient_for(&window, parent);
        window.set_application(parent.and_then(GtkWindowExt::application).as_ref());
        let imp = window.imp();
        let _ = imp.core.set(core);
        let _ = imp.account.set(account.to_owned());
        window.load_archiving();
        let weak = window.downgrade();
        crate::ui::contact_names::watch(&window, move || {
            if let Some(window) = weak.upgrade() {
                let shown = window.imp().shown.borrow().clone();
                window.show_contacts(&shown);
            }
        });
        window
    }

    /// The account this window is about.
    pub fn account(&self) -> String {
        self.imp().account.get().cloned().unwrap_or_default()
    }

    fn add_typed(&self) {
        let row = &self.imp().add_row;
        let jid = row.text().trim().to_owned();
        if !jid.is_empty() {
            row.set_text("");
            self.contact_op("add", &jid);
        }
    }

    fn block_typed(&self) {
        let row = &self.imp().block_row;
        let jid = row.text().trim().to_owned();
        if !jid.is_empty() {
            row.set_text("");
            self.contact_op("block", &jid);
        }
    }

    /// Shows the account's contacts and block list.
    pub fn show_contacts(&self, known: &AccountContacts) {
        let imp = self.imp();
        let (contacts_group, blocked_group) = (&*imp.contacts_group, &*imp.blocked_group);
        imp.shown.replace(known.clone());
        for (group, row) in imp.rows.take() {
            group.remove(&row);
        }
        let mut rows = Vec::new();
        if known.contacts.is_empty() {
            let row = adw::ActionRow::builder()
                .title("No contacts yet")
                .css_classes(["dim-label"])
                .build();
            contacts_group.add(&row);
            rows.push((contacts_group.clone(), row));
        }
        let account = self.account();
        for jid in &known.contacts {
            let blocked = known.blocked.contains(jid);
            let row = contact_row(&account, jid, blocked);
            let block = if blocked {
                ("Unblock", "unblock", format!("Unblock {jid}"))
            } else {
                ("Block", "block", format!("Block {jid}"))
            };
            for (label, op, tooltip) in [
                block,
                (
                    "Remove",
                    "remove",
                    format!("Remove {jid} from the contacts"),
                ),
            ] {
                row.add_suffix(&self.op_button(label, op, jid, tooltip));
            }
            contacts_group.add(&row);
            rows.push((contacts_group.clone(), row));
        }
        for jid in &known.blocked {
            let row = contact_row(&account, jid, false);
            row.add_suffix(&self.op_button("Unblock", "unblock", jid, format!("Unblock {jid}")));
            blocked_group.add(&row);
            rows.push((blocked_group.clone(), row));
        }
        imp.rows.replace(rows);
    }

    fn op_button(&self, label: &str, op: &'static str, jid: &str, tooltip: String) -> gtk4::Button {
        let button = gtk4::Button::builder()
            .label(label)
            .valign(gtk4::Align::Center)
            .tooltip_text(tooltip)
            .build();
        let jid = jid.to_owned();
        button.connect_clicked(glib::clone!(
            #[weak(rename_to = window)]
            self,
            move |b| {
                b.set_sensitive(false);
                window.contact_op(op, &jid);
            }
        ));
        button
    }

    /// Runs `add`, `remove`, `block` or `unblock` for `jid`; the lists follow the core's events.
    pub fn contact_op(&self, op: &str, jid: &str) {
        let Some(core) = self.imp().core.get().cloned() else {
            return;
        };
        let (account, jid) = (self.account(), jid.to_owned());
        let command = match op {
            "add" => Command::AddContact {
                account,
                jid: jid.clone(),
            },
            "remove" => Command::RemoveContact {
                account,
                jid: jid.clone(),
            },
            "block" => Command::Block {
                account,
                jid: jid.clone(),
            },
            "unblock" => Command::Unblock {
                account,
                jid: jid.clone(),
            },
            _ => return,
        };
        let done = match op {
            "add" => format!("{jid} was added."),
            "remove" => format!("{jid} was removed from the contacts."),
            "block" => format!("{jid} is blocked."),
            _ => format!("{jid} is no longer blocked."),
        };
        let window = self.downgrade();
        glib::MainContext::default().spawn_local(async move {
            let result = core.call(command).await;
            let Some(window) = window.upgrade() else {
                return;
            };
            match result {
                Ok(_) => window.add_toast(adw::Toast::new(&done)),
                Err(e) => window.failed(&format!("Could not change {jid}."), &e),
            }
        });
    }

    fn failed(&self, what: &str, e: &CoreError) {
        self.add_toast(adw::Toast::new(&format!(
            "{what} {}",
            user_text::error_text(e)
        )));
        // Buttons disabled while waiting come back with rebuilt rows.
        let shown = self.imp().shown.borrow().clone();
        self.show_contacts(&shown);
    }

    fn load_archiving(&self) {
        self.run_archiving(Command::Archiving {
            account: self.account(),
        });
    }

    fn archiving_chosen(&self, index: u32) {
        let imp = self.imp();
        if imp.syncing.get() {
            return;
        }
        let Some((value, _, _)) = ARCHIVING.get(index as usize) else {
            return;
        };
        if imp.archiving.borrow().as_deref() == Some(*value) {
            return;
        }
        self.run_archiving(Command::SetArchiving {
            account: self.account(),
            default: (*value).to_owned(),
        });
    }

    fn run_archiving(&self, command: Command) {
        let Some(core) = self.imp().core.get().cloned() else {
            return;
        };
        let setting = matches!(command, Command::SetArchiving { .. });
        let window = self.downgrade();
        glib::MainContext::default().spawn_local(async move {
            let result = core.call(command).await;
            let Some(window) = window.upgrade() else {
                return;
            };
            match result {
                Ok(Reply::Archiving { archiving }) => {
                    window.show_archiving(&archiving);
                    if setting {
                        window.add_toast(adw::Toast::new("The server's archiving was changed."));
                    }
                }
                Ok(_) => {}
                Err(e) => {
                    let previous = window.imp().archiving.borrow().clone();
                    if let Some(previous) = previous {
                        window.show_archiving(&previous);
                    } else {
                        window
                            .imp()
                            .archive_row
                            .set_subtitle(&format!("Not known: {}", user_text::error_text(&e)));
                    }
                    window.failed("The server's archiving could not be read or changed.", &e);
                }
            }
        });
    }

    /// Shows the archiving value the server reported.
    fn show_archiving(&self, value: &str) {
        let imp = self.imp();
        let row = &imp.archive_row;
        let Some(index) = ARCHIVING.iter().position(|(v, _, _)| *v == value) else {
            return;
        };
        imp.archiving.replace(Some(value.to_owned()));
        imp.syncing.set(true);
        row.set_selected(index as u32);
        imp.syncing.set(false);
        row.set_subtitle(ARCHIVING[index].2);
        row.set_sensitive(true);
    }

    /// The archiving value the server last reported (`always`, `roster`, `never`).
    pub fn archiving(&self) -> Option<String> {
        self.imp().archiving.borrow().clone()
    }
}
