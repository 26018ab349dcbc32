//! One account's contacts and what its server keeps: add a contact, remove or block one,
//! unblock (XEP-0191), and the server's archiving preference (XEP-0441) with what each choice
//! means. Opened from the account's row in the sidebar; the lists come from the session's
//! `roster` and `blocklist` events (see `contact_requests_view`).

use std::cell::{Cell, OnceCell, RefCell};

use gtk4::glib;
use gtk4::prelude::*;
use gtk4::subclass::prelude::*;
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

    #[derive(Default)]
    pub struct AccountWindow {
        pub core: OnceCell<CoreHandle>,
        pub account: OnceCell<String>,
        pub contacts_group: OnceCell<adw::PreferencesGroup>,
        pub blocked_group: OnceCell<adw::PreferencesGroup>,
        pub archive_row: OnceCell<adw::ComboRow>,
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
    }

    impl ObjectImpl for AccountWindow {}
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

impl AccountWindow {
    /// The window of `account`, transient for `parent`.
    pub fn new(core: CoreHandle, parent: Option<&gtk4::Window>, account: &str) -> Self {
        let window: Self = glib::Object::builder()
            .property("title", account)
            .property("modal", false)
            .property("search-enabled", false)
            .property("default-width", 560)
            .property("default-height", 640)
            .property("destroy-with-parent", true)
            .build();
        GtkWindowExt::set_transient_for(&window, parent);
        window.set_application(parent.and_then(GtkWindowExt::application).as_ref());
        let imp = window.imp();
        let _ = imp.core.set(core);
        let _ = imp.account.set(account.to_owned());
        window.build();
        window.load_archiving();
        window
    }

    /// The account this window is about.
    pub fn account(&self) -> String {
        self.imp().account.get().cloned().unwrap_or_default()
    }

    fn build(&self) {
        let imp = self.imp();
        let page = adw::PreferencesPage::builder()
            .title("Contacts")
            .icon_name("system-users-symbolic")
            .build();

        let add_group = adw::PreferencesGroup::builder()
            .title("Add a contact")
            .description(
                "Talpa asks them to share their presence. On an account with local-only \
                 contacts, the contact is kept only in this computer's encrypted store and \
                 nothing is sent.",
            )
            .build();
        let add_row = adw::EntryRow::builder()
            .title("Address (name@server)")
            .show_apply_button(false)
            .build();
        let add_button = gtk4::Button::builder()
            .label("Add")
            .valign(gtk4::Align::Center)
            .tooltip_text("Add this address to the contacts")
            .css_classes(["suggested-action"])
            .build();
        add_row.add_suffix(&add_button);
        let add = glib::clone!(
            #[weak(rename_to = window)]
            self,
            #[weak]
            add_row,
            move || {
                let jid = add_row.text().trim().to_owned();
                if !jid.is_empty() {
                    add_row.set_text("");
                    window.contact_op("add", &jid);
                }
            }
        );
        let add2 = add.clone();
        add_button.connect_clicked(move |_| add());
        add_row.connect_entry_activated(move |_| add2());
        add_group.add(&add_row);
        page.add(&add_group);

        let contacts_group = adw::PreferencesGroup::builder().title("Contacts").build();
        page.add(&contacts_group);

        let blocked_group = adw::PreferencesGroup::builder()
            .title("Blocked")
            .description(
                "The server refuses their messages and presence, and Talpa drops anything \
                 from them that still arrives. The block list is stored on the server.",
            )
            .build();
        let block_row = adw::EntryRow::builder()
            .title("Block an address (name@server or a server)")
            .build();
        let block_button = gtk4::Button::builder()
            .label("Block")
            .valign(gtk4::Align::Center)
            .tooltip_text("Block this address")
            .css_classes(["destructive-action"])
            .build();
        block_row.add_suffix(&block_button);
        let block = glib::clone!(
            #[weak(rename_to = window)]
            self,
            #[weak]
            block_row,
            move || {
                let jid = block_row.text().trim().to_owned();
                if !jid.is_empty() {
                    block_row.set_text("");
                    window.contact_op("block", &jid);
                }
            }
        );
        let block2 = block.clone();
        block_button.connect_clicked(move |_| block());
        block_row.connect_entry_activated(move |_| block2());
        blocked_group.add(&block_row);
        page.add(&blocked_group);

        let archive_group = adw::PreferencesGroup::builder()
            .title("Server archive")
            .description("What your server keeps of your messages (XEP-0441). Talpa shows what the server reports.")
            .build();
        let labels: Vec<&str> = ARCHIVING.iter().map(|(_, label, _)| *label).collect();
        let archive_row = adw::ComboRow::builder()
            .title("Server keeps")
            .subtitle("Asking the server… (the account must be online)")
            .model(&gtk4::StringList::new(&labels))
            .sensitive(false)
            .build();
        archive_row.set_subtitle_lines(0);
        archive_row.connect_selected_notify(glib::clone!(
            #[weak(rename_to = window)]
            self,
            move |row| window.archiving_chosen(row.selected())
        ));
        archive_group.add(&archive_row);
        page.add(&archive_group);

        PreferencesWindowExt::add(self, &page);
        let _ = imp.contacts_group.set(contacts_group);
        let _ = imp.blocked_group.set(blocked_group);
        let _ = imp.archive_row.set(archive_row);
    }

    /// Shows the account's contacts and block list.
    pub fn show_contacts(&self, known: &AccountContacts) {
        let imp = self.imp();
        let (Some(contacts_group), Some(blocked_group)) =
            (imp.contacts_group.get(), imp.blocked_group.get())
        else {
            return;
        };
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
        for jid in &known.contacts {
            let row = adw::ActionRow::builder().title(jid).build();
            let blocked = known.blocked.contains(jid);
            if blocked {
                row.set_subtitle("Blocked");
            }
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
            let row = adw::ActionRow::builder().title(jid).build();
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
                    } else if let Some(row) = window.imp().archive_row.get() {
                        row.set_subtitle(&format!("Not known: {}", user_text::error_text(&e)));
                    }
                    window.failed("The server's archiving could not be read or changed.", &e);
                }
            }
        });
    }

    /// Shows the archiving value the server reported.
    fn show_archiving(&self, value: &str) {
        let imp = self.imp();
        let Some(row) = imp.archive_row.get() else {
            return;
        };
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
