//! What the unlocked profile shows: an `AdwLeaflet` with the sidebar (accounts with state and a
//! colour label, conversations with unread counts) and the content (the open conversation).
//! A new `SessionView` is made on every unlock and destroyed on lock.

use std::cell::{Cell, OnceCell, RefCell};
use std::time::Duration;

use gtk4::prelude::*;
use gtk4::subclass::prelude::*;
use gtk4::{CompositeTemplate, gio, glib};
use libadwaita as adw;
use libadwaita::prelude::*;

use crate::core::events::{AccountSummary, StoredMessage, TorStatusInfo};
use crate::core::{Command, CoreHandle, Event};
use crate::ui::chat::ConversationView;
use crate::ui::models::{AccountObject, ConversationObject};
use crate::ui::tor_indicator::TorIndicator;
use crate::ui::{toast, user_text};

mod imp {
    #[allow(clippy::wildcard_imports)]
    // gtk-rs subclass idiom: imp shares its wrapper's imports
    use super::*;

    #[derive(Default, CompositeTemplate)]
    #[template(file = "../../ui/session_view.ui")]
    pub struct SessionView {
        #[template_child]
        pub leaflet: TemplateChild<adw::Leaflet>,
        #[template_child]
        pub sidebar: TemplateChild<gtk4::Box>,
        #[template_child]
        pub content: TemplateChild<gtk4::Box>,
        #[template_child]
        pub accounts_list: TemplateChild<gtk4::ListBox>,
        #[template_child]
        pub conversations_list: TemplateChild<gtk4::ListBox>,
        #[template_child]
        pub new_chat_entry: TemplateChild<gtk4::Entry>,
        #[template_child]
        pub content_title: TemplateChild<adw::WindowTitle>,
        #[template_child]
        pub back_button: TemplateChild<gtk4::Button>,
        #[template_child]
        pub tor_indicator: TemplateChild<TorIndicator>,
        #[template_child]
        pub content_stack: TemplateChild<gtk4::Stack>,
        pub accounts: OnceCell<gio::ListStore>,
        pub conversations: OnceCell<gio::ListStore>,
        pub conversation_view: OnceCell<ConversationView>,
        pub selected_account: RefCell<Option<String>>,
        pub core: OnceCell<CoreHandle>,
        /// Set while the view itself changes `enabled`, so only the user's flips reach the core.
        pub syncing: Cell<bool>,
        /// Unread messages not yet added to their conversation's badge, and whether a refresh
        /// is scheduled (see `UNREAD_REFRESH`).
        pub pending_unread: RefCell<Vec<(ConversationObject, u32)>>,
        pub unread_scheduled: Cell<bool>,
    }

    #[glib::object_subclass]
    impl ObjectSubclass for SessionView {
        const NAME: &'static str = "TalpaSessionView";
        type Type = super::SessionView;
        type ParentType = gtk4::Box;

        fn class_init(klass: &mut Self::Class) {
            TorIndicator::ensure_type();
            klass.bind_template();
        }

        fn instance_init(obj: &glib::subclass::InitializingObject<Self>) {
            obj.init_template();
        }
    }

    impl ObjectImpl for SessionView {
        fn constructed(&self) {
            self.parent_constructed();
            let obj = self.obj();
            let accounts = gio::ListStore::new::<AccountObject>();
            let conversations = gio::ListStore::new::<ConversationObject>();
            self.accounts_list
                .bind_model(Some(&accounts), super::account_row);
            self.conversations_list
                .bind_model(Some(&conversations), super::conversation_row);
            let _ = self.accounts.set(accounts);
            let placeholder = gtk4::Label::builder()
                .label("No accounts yet. Add one with the + button (Ctrl+N).")
                .wrap(true)
                .margin_start(12)
                .margin_end(12)
                .margin_top(6)
                .margin_bottom(6)
                .xalign(0.0)
                .css_classes(["dim-label"])
                .build();
            self.accounts_list.set_placeholder(Some(&placeholder));
            let _ = self.conversations.set(conversations);

            self.accounts_list.connect_row_selected(glib::clone!(
                #[weak]
                obj,
                move |_, row| {
                    let jid = row.and_then(|r| {
                        obj.imp()
                            .accounts
                            .get()?
                            .item(r.index() as u32)
                            .and_downcast::<AccountObject>()
                    });
                    obj.imp().selected_account.replace(jid.map(|a| a.jid()));
                }
            ));
            self.conversations_list.connect_row_activated(glib::clone!(
                #[weak]
                obj,
                move |_, row| obj.open_index(row.index() as u32)
            ));
            self.new_chat_entry.connect_activate(glib::clone!(
                #[weak]
                obj,
                move |entry| obj.start_chat(entry)
            ));
            self.new_chat_entry.connect_icon_release(glib::clone!(
                #[weak]
                obj,
                move |entry, _| obj.start_chat(entry)
            ));
            self.back_button.connect_clicked(glib::clone!(
                #[weak]
                obj,
                move |_| obj.imp().leaflet.set_visible_child(&*obj.imp().sidebar)
            ));
        }

        fn dispose(&self) {
            self.obj().clear();
        }
    }

    impl WidgetImpl for SessionView {}
    impl BoxImpl for SessionView {}
}

glib::wrapper! {
    /// The unlocked profile's two-pane view.
    pub struct SessionView(ObjectSubclass<imp::SessionView>)
        @extends gtk4::Box, gtk4::Widget,
        @implements gtk4::Buildable, gtk4::ConstraintTarget, gtk4::Orientable;
}

/// Unread badges change at most this often: during a flood, a change per message would repaint
/// the window at the frame rate (with software rendering, most of the flood's CPU time).
const UNREAD_REFRESH: Duration = Duration::from_millis(250);

fn colour_dot(colour: u32) -> gtk4::Widget {
    let dot = gtk4::Box::builder()
        .width_request(12)
        .height_request(12)
        .valign(gtk4::Align::Center)
        .css_classes(["account-dot", &format!("account-color-{colour}")])
        .build();
    dot.upcast()
}

fn account_row(item: &glib::Object) -> gtk4::Widget {
    let Some(account) = item.downcast_ref::<AccountObject>() else {
        return gtk4::Label::new(None).upcast();
    };
    let row = adw::ActionRow::builder().title(account.jid()).build();
    row.add_prefix(&colour_dot(account.colour()));
    account
        .bind_property("state", &row, "subtitle")
        .transform_to(|_, state: String| Some(user_text::account_state_text(&state).to_owned()))
        .sync_create()
        .build();
    // GTK 4.8's Rust bindings cannot set accessible properties from code (v4_10); the tooltip
    // is what assistive technology reads for the switch.
    let switch = gtk4::Switch::builder()
        .valign(gtk4::Align::Center)
        .tooltip_text(format!("Connect {} through Tor", account.jid()))
        .build();
    account
        .bind_property("enabled", &switch, "active")
        .bidirectional()
        .sync_create()
        .build();
    row.add_suffix(&switch);
    row.upcast()
}

fn conversation_row(item: &glib::Object) -> gtk4::Widget {
    let Some(conversation) = item.downcast_ref::<ConversationObject>() else {
        return gtk4::Label::new(None).upcast();
    };
    let row = adw::ActionRow::builder()
        .title(conversation.peer())
        .subtitle(conversation.account())
        .activatable(true)
        .build();
    row.add_prefix(&colour_dot(conversation.colour()));
    let unread = gtk4::Label::builder()
        .valign(gtk4::Align::Center)
        .css_classes(["unread-count"])
        .build();
    conversation
        .bind_property("unread", &unread, "label")
        .transform_to(|_, n: u32| Some(n.to_string()))
        .sync_create()
        .build();
    conversation
        .bind_property("unread", &unread, "visible")
        .transform_to(|_, n: u32| Some(n > 0))
        .sync_create()
        .build();
    row.add_suffix(&unread);
    row.upcast()
}

impl SessionView {
    /// A view of the unlocked profile talking to `core`.
    pub fn new(core: &CoreHandle) -> Self {
        let view: Self = glib::Object::new();
        let chat = ConversationView::new(core.clone());
        view.imp().content_stack.add_named(&chat, Some("chat"));
        let _ = view.imp().conversation_view.set(chat);
        let _ = view.imp().core.set(core.clone());
        view
    }

    /// The open conversation's view.
    pub fn conversation_view(&self) -> Option<&ConversationView> {
        self.imp().conversation_view.get()
    }

    /// Replaces the account list.
    pub fn set_accounts(&self, accounts: &[AccountSummary]) {
        let Some(store) = self.imp().accounts.get() else {
            return;
        };
        let objects: Vec<AccountObject> =
            accounts.iter().map(AccountObject::from_summary).collect();
        for account in &objects {
            account.connect_enabled_notify(glib::clone!(
                #[weak(rename_to = view)]
                self,
                move |account| view.on_enabled_flipped(account)
            ));
        }
        store.splice(0, store.n_items(), &objects);
        self.update_circuits();
    }

    /// Shows Tor's state in the header bar.
    pub fn set_tor_status(&self, status: &TorStatusInfo) {
        self.imp().tor_indicator.set_status(status);
    }

    /// Applies one core event to the models.
    pub fn handle_event(&self, event: &Event) {
        match event {
            Event::TorStatus(status) => self.set_tor_status(status),
            Event::AccountState {
                account,
                state,
                detail,
            } => {
                if let Some(obj) = self.account(account) {
                    obj.set_state(state.clone());
                    obj.set_detail(detail.clone().unwrap_or_default());
                    if state == "error" {
                        toast(
                            self,
                            &format!("{account} could not connect; Talpa will retry through Tor."),
                        );
                    }
                }
                self.update_circuits();
            }
            Event::Message(message) => self.on_message(message, true),
            Event::MessageUpdated(message) => self.on_message(message, false),
            Event::Roster { account, contacts } => {
                for peer in contacts {
                    self.conversation(account, peer);
                }
            }
            Event::RoomJoined { account, room, .. } => {
                self.conversation(account, room);
            }
            Event::Occupants { .. } | Event::Unlocked | Event::Locked | Event::Error { .. } => {}
        }
    }

    /// Forgets every account, conversation and message shown (on lock).
    pub fn clear(&self) {
        let imp = self.imp();
        if let Some(view) = imp.conversation_view.get() {
            view.clear();
        }
        imp.pending_unread.borrow_mut().clear();
        if let Some(store) = imp.conversations.get() {
            store.remove_all();
        }
        if let Some(store) = imp.accounts.get() {
            store.remove_all();
        }
        imp.new_chat_entry.set_text("");
        imp.content_title.set_title("No conversation");
        imp.content_title.set_subtitle("");
    }

    /// The user flipped an account's switch: ask the core, and flip it back if it refuses.
    fn on_enabled_flipped(&self, account: &AccountObject) {
        if self.imp().syncing.get() {
            return;
        }
        let Some(core) = self.imp().core.get().cloned() else {
            return;
        };
        let enabled = account.enabled();
        let command = Command::SetAccountEnabled {
            account: account.jid(),
            enabled,
        };
        let view = self.downgrade();
        let account = account.downgrade();
        glib::MainContext::default().spawn_local(async move {
            let result = core.call(command).await;
            let (Some(view), Some(account)) = (view.upgrade(), account.upgrade()) else {
                return;
            };
            if let Err(e) = result {
                view.imp().syncing.set(true);
                account.set_enabled(!enabled);
                view.imp().syncing.set(false);
                toast(
                    &view,
                    &format!(
                        "Could not {} {}. {}",
                        if enabled { "connect" } else { "disconnect" },
                        account.jid(),
                        user_text::error_text(&e)
                    ),
                );
            }
        });
    }

    fn account(&self, jid: &str) -> Option<AccountObject> {
        self.imp()
            .accounts
            .get()?
            .iter::<AccountObject>()
            .flatten()
            .find(|a| a.jid() == jid)
    }

    fn update_circuits(&self) {
        let Some(store) = self.imp().accounts.get() else {
            return;
        };
        let lines: Vec<(String, String)> = store
            .iter::<AccountObject>()
            .flatten()
            .map(|a| {
                let state = user_text::account_state_text(&a.state());
                (a.jid(), format!("{state}, on its own isolated circuit"))
            })
            .collect();
        self.imp().tor_indicator.set_accounts(&lines);
    }

    /// The conversation of `account` with `peer`, added to the sidebar if new.
    fn conversation(&self, account: &str, peer: &str) -> Option<(u32, ConversationObject)> {
        let store = self.imp().conversations.get()?;
        if let Some(found) = store
            .iter::<ConversationObject>()
            .flatten()
            .enumerate()
            .find(|(_, c)| c.is(account, peer))
        {
            return Some((found.0 as u32, found.1));
        }
        let obj = ConversationObject::new(account, peer);
        store.append(&obj);
        Some((store.n_items() - 1, obj))
    }

    fn on_message(&self, message: &StoredMessage, new: bool) {
        let Some((_, conversation)) = self.conversation(&message.account, &message.with) else {
            return;
        };
        let Some(view) = self.imp().conversation_view.get() else {
            return;
        };
        let shown = view.is_showing(&message.account, &message.with);
        if shown {
            view.push(message);
        } else if new && message.direction == "in" {
            self.add_unread(&conversation);
        }
    }

    /// Counts one more unread message; badges are refreshed together after `UNREAD_REFRESH`.
    fn add_unread(&self, conversation: &ConversationObject) {
        let imp = self.imp();
        {
            let mut pending = imp.pending_unread.borrow_mut();
            match pending.iter_mut().find(|(c, _)| c == conversation) {
                Some((_, n)) => *n = n.saturating_add(1),
                None => pending.push((conversation.clone(), 1)),
            }
        }
        if !imp.unread_scheduled.replace(true) {
            glib::timeout_add_local_once(
                UNREAD_REFRESH,
                glib::clone!(
                    #[weak(rename_to = view)]
                    self,
                    move || view.flush_unread()
                ),
            );
        }
    }

    fn flush_unread(&self) {
        let imp = self.imp();
        imp.unread_scheduled.set(false);
        for (conversation, n) in imp.pending_unread.take() {
            conversation.set_unread(conversation.unread().saturating_add(n));
        }
    }

    fn open_index(&self, index: u32) {
        let imp = self.imp();
        let Some(conversation) = imp
            .conversations
            .get()
            .and_then(|s| s.item(index))
            .and_downcast::<ConversationObject>()
        else {
            return;
        };
        conversation.set_unread(0);
        imp.pending_unread
            .borrow_mut()
            .retain(|(c, _)| *c != conversation);
        imp.content_title.set_title(&conversation.peer());
        imp.content_title.set_subtitle(&conversation.account());
        if let Some(view) = imp.conversation_view.get() {
            view.open(&conversation.account(), &conversation.peer());
            imp.content_stack.set_visible_child(view);
            view.grab_focus();
        }
        imp.leaflet.set_visible_child(&*imp.content);
    }

    fn start_chat(&self, entry: &gtk4::Entry) {
        let peer = entry.text().trim().to_owned();
        if peer.is_empty() {
            return;
        }
        if !looks_like_bare_jid(&peer) {
            toast(self, "Enter an address like name@server.");
            return;
        }
        let account = self.imp().selected_account.borrow().clone().or_else(|| {
            self.imp()
                .accounts
                .get()?
                .item(0)
                .and_downcast::<AccountObject>()
                .map(|a| a.jid())
        });
        let Some(account) = account else {
            toast(self, "Add an account first.");
            return;
        };
        entry.set_text("");
        self.open_conversation(&account, &peer);
    }

    /// Shows the conversation of `account` with `peer` (added to the sidebar if new).
    pub fn open_conversation(&self, account: &str, peer: &str) {
        if let Some((index, _)) = self.conversation(account, peer) {
            if let Some(row) = self.imp().conversations_list.row_at_index(index as i32) {
                self.imp().conversations_list.select_row(Some(&row));
            }
            self.open_index(index);
        }
    }
}

/// A cheap shape check so typos are caught before the core is asked; the core validates fully.
fn looks_like_bare_jid(s: &str) -> bool {
    match s.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && !domain.is_empty()
                && !domain.contains('@')
                && !s.contains('/')
                && !s.chars().any(char::is_whitespace)
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::looks_like_bare_jid;

    #[test]
    fn only_bare_jids_start_a_chat() {
        assert!(looks_like_bare_jid("bob@talpa.test"));
        assert!(!looks_like_bare_jid("bob"));
        assert!(!looks_like_bare_jid("bob@talpa.test/res"));
        assert!(!looks_like_bare_jid("@talpa.test"));
        assert!(!looks_like_bare_jid("a b@c"));
    }
}
