//! What the unlocked profile shows: an `AdwLeaflet` with the sidebar (accounts with state and a
//! colour label, conversations with unread counts) and the content (the open conversation).
//! A new `SessionView` is made on every unlock and destroyed on lock.

use std::cell::{Cell, OnceCell, RefCell};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

use gtk4::prelude::*;
use gtk4::subclass::prelude::*;
use gtk4::{CompositeTemplate, gio, glib};
use libadwaita as adw;
use libadwaita::prelude::*;

use crate::core::events::{AccountSummary, Occupant, StoredMessage, TorStatusInfo};
use crate::core::{Command, CoreHandle, Event, Reply};
use crate::ui::chat::{ConversationView, RoomPanel};
use crate::ui::contact_requests_view::ContactRequestsView;
use crate::ui::conversation_settings_dialog::ConversationSettingsDialog;
use crate::ui::models::{AccountObject, ConversationObject, OccupantObject};
use crate::ui::notifications::{self, NotificationPolicy};
use crate::ui::session_security::SecurityState;
use crate::ui::tor_indicator::{TorIndicator, circuit_text};
use crate::ui::{toast, user_text};

mod activity;
mod contact_names;
mod resync;
mod room_state;

mod jid_row;

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
        pub rooms_list: TemplateChild<gtk4::ListBox>,
        #[template_child]
        pub room_button: TemplateChild<gtk4::ToggleButton>,
        #[template_child]
        pub settings_button: TemplateChild<gtk4::Button>,
        #[template_child]
        pub room_revealer: TemplateChild<gtk4::Revealer>,
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
        /// The 1:1 conversations and the rooms: two filtered views of `conversations`.
        pub people: OnceCell<gtk4::FilterListModel>,
        pub rooms: OnceCell<gtk4::FilterListModel>,
        pub room_panel: OnceCell<RoomPanel>,
        /// The offer of a destroyed room's alternate, above the open conversation.
        pub room_moved_banner: OnceCell<crate::ui::chat::room_moved_banner::RoomMovedBanner>,
        /// Occupants of each joined room, keyed by (account, room).
        pub occupants: RefCell<HashMap<(String, String), gio::ListStore>>,
        /// The conversation shown now.
        pub open: RefCell<Option<ConversationObject>>,
        /// Which conversations are muted.
        pub muted: RefCell<HashSet<(String, String)>>,
        /// Talpa's desktop notification: coalesced bursts, and what a click opens.
        pub notifier: notifications::Notifier,
        pub conversation_view: OnceCell<ConversationView>,
        pub selected_account: RefCell<Option<String>>,
        pub core: OnceCell<CoreHandle>,
        /// Set while the view itself changes `enabled`, so only the user's flips reach the core.
        pub syncing: Cell<bool>,
        /// Unread messages not yet added to their conversation's badge, and whether a refresh
        /// is scheduled (see `UNREAD_REFRESH`).
        pub pending_unread: RefCell<Vec<(ConversationObject, u32)>>,
        pub unread_scheduled: Cell<bool>,
        /// Contact requests (shown under the header bar) and the accounts' contact lists.
        pub contacts: OnceCell<ContactRequestsView>,
        /// Device alerts, room audits, the devices & trust window (src/ui/session_security.rs).
        pub security: OnceCell<SecurityState>,
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
            let people = gtk4::FilterListModel::new(
                Some(conversations.clone()),
                Some(gtk4::CustomFilter::new(|o| {
                    o.downcast_ref::<ConversationObject>()
                        .is_some_and(|c| !c.is_room())
                })),
            );
            let rooms = gtk4::FilterListModel::new(
                Some(conversations.clone()),
                Some(gtk4::CustomFilter::new(|o| {
                    o.downcast_ref::<ConversationObject>()
                        .is_some_and(ConversationObject::is_room)
                })),
            );
            self.conversations_list
                .bind_model(Some(&people), super::conversation_row);
            self.rooms_list
                .bind_model(Some(&rooms), super::conversation_row);
            let rooms_placeholder = gtk4::Label::builder()
                .label("No rooms yet. Create a private room or join one.")
                .wrap(true)
                .margin_start(12)
                .margin_end(12)
                .margin_top(6)
                .margin_bottom(6)
                .xalign(0.0)
                .css_classes(["dim-label"])
                .build();
            self.rooms_list.set_placeholder(Some(&rooms_placeholder));
            let _ = self.people.set(people);
            let _ = self.rooms.set(rooms);
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
                move |_, row| {
                    let item = obj
                        .imp()
                        .people
                        .get()
                        .and_then(|m| m.item(row.index() as u32));
                    if let Some(c) = item.and_downcast::<ConversationObject>() {
                        obj.imp().rooms_list.unselect_all();
                        obj.open_object(&c);
                    }
                }
            ));
            self.rooms_list.connect_row_activated(glib::clone!(
                #[weak]
                obj,
                move |_, row| {
                    let item = obj
                        .imp()
                        .rooms
                        .get()
                        .and_then(|m| m.item(row.index() as u32));
                    if let Some(c) = item.and_downcast::<ConversationObject>() {
                        obj.imp().conversations_list.unselect_all();
                        obj.open_object(&c);
                    }
                }
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
            self.settings_button.connect_clicked(glib::clone!(
                #[weak]
                obj,
                move |_| obj.show_conversation_settings()
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
    jid_row::fit(&row, &account.jid());
    row.add_prefix(&colour_dot(account.colour()));
    account
        .bind_property("state", &row, "subtitle")
        .transform_to(|_, state: String| Some(user_text::account_state_text(&state).to_owned()))
        .sync_create()
        .build();
    // Why the account is in its state (an error's reason) is one hover away.
    account
        .bind_property("detail", &row, "tooltip-text")
        .transform_to(|_, detail: String| Some((!detail.is_empty()).then_some(detail)))
        .sync_create()
        .build();
    let switch = gtk4::Switch::builder()
        .valign(gtk4::Align::Center)
        .tooltip_text(format!("Connect {} through Tor", account.jid()))
        .build();
    account
        .bind_property("enabled", &switch, "active")
        .bidirectional()
        .sync_create()
        .build();
    crate::ui::a11y::set_label(&switch, &format!("Connect {} through Tor", account.jid()));
    row.add_suffix(&switch);
    let jid = account.jid();
    // The most used action stays a button; the rest is in the row's menu.
    let contacts = gtk4::Button::builder()
        .icon_name("system-users-symbolic")
        .valign(gtk4::Align::Center)
        .tooltip_text(format!("Contacts, blocking and server archive of {jid}"))
        .action_name("contacts.open")
        .action_target(&jid.to_variant())
        .css_classes(["flat"])
        .build();
    crate::ui::a11y::set_label(&contacts, &format!("Contacts of {jid}"));
    row.add_suffix(&contacts);
    let menu = gio::Menu::new();
    for (label, action) in [
        ("Devices and Keys", "session.account-devices"),
        ("Account Settings", "win.account-settings"),
        ("Remove Account…", "win.remove-account"),
    ] {
        let item = gio::MenuItem::new(Some(label), None);
        item.set_action_and_target_value(Some(action), Some(&jid.to_variant()));
        menu.append_item(&item);
    }
    let more = gtk4::MenuButton::builder()
        .icon_name("view-more-symbolic")
        .valign(gtk4::Align::Center)
        .tooltip_text(format!("Devices, settings and removal of {jid}"))
        .menu_model(&menu)
        .css_classes(["flat"])
        .build();
    crate::ui::a11y::set_label(&more, &format!("More actions for {jid}"));
    row.add_suffix(&more);
    row.upcast()
}

fn conversation_row(item: &glib::Object) -> gtk4::Widget {
    let Some(conversation) = item.downcast_ref::<ConversationObject>() else {
        return gtk4::Label::new(None).upcast();
    };
    // Plain text: a contact's name may hold `&` or `<`.
    let row = adw::ActionRow::builder()
        .title(conversation.peer())
        .subtitle(conversation.account())
        .use_markup(false)
        .activatable(true)
        .build();
    jid_row::fit(&row, &conversation.peer());
    if !conversation.is_room() {
        contact_names::fit_row(&row, conversation);
    }
    row.add_prefix(&colour_dot(conversation.colour()));
    if conversation.is_room() {
        room_state::decorate_row(&row, conversation);
        let icon = gtk4::Image::builder()
            .icon_name("system-users-symbolic")
            .tooltip_text("Group chat")
            .build();
        row.add_prefix(&icon);
    }
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
        crate::ui::chat::activity_marks::install_composer(&chat, core.clone());
        activity::watch_focus(&view);
        let _ = view.imp().conversation_view.set(chat);
        let panel = RoomPanel::new(core.clone());
        view.imp().room_revealer.set_child(Some(&panel));
        panel.connect_left(glib::clone!(
            #[weak]
            view,
            move |_, account, room| view.forget_room(account, room)
        ));
        let _ = view.imp().room_panel.set(panel);
        room_state::install(&view);
        let banner = room_state::new_banner();
        let content = &view.imp().content;
        content.insert_child_after(&banner, content.first_child().as_ref());
        let _ = view.imp().room_moved_banner.set(banner);
        view.imp().tor_indicator.connect_opened(glib::clone!(
            #[weak]
            view,
            move |_| view.refresh_circuits()
        ));
        let contacts = ContactRequestsView::new(core.clone(), &view);
        let sidebar = &view.imp().sidebar;
        sidebar.insert_child_after(&contacts, sidebar.first_child().as_ref());
        let _ = view.imp().contacts.set(contacts);
        let _ = view.imp().core.set(core.clone());
        let _ = view.imp().security.set(SecurityState::install(&view));
        view
    }

    /// Contact requests and the accounts' contact lists.
    pub fn contact_requests_view(&self) -> Option<&ContactRequestsView> {
        self.imp().contacts.get()
    }

    /// The open conversation's view.
    pub fn conversation_view(&self) -> Option<&ConversationView> {
        self.imp().conversation_view.get()
    }

    /// Reads accounts, conversations and the open conversation again after missed events.
    pub fn resync(&self) {
        resync::resync(self);
    }

    /// Lists the accounts' stored conversations in the sidebar (after unlock: not only those
    /// a new message arrives in).
    pub fn list_stored_conversations(&self, accounts: Vec<AccountSummary>) {
        let Some(core) = self.imp().core.get().cloned() else {
            return;
        };
        let view = self.downgrade();
        glib::MainContext::default().spawn_local(async move {
            resync::list_conversations(&view, &core, &accounts).await;
        });
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
                unreachable,
            } => {
                if let Some(obj) = self.account(account) {
                    obj.set_state(state.clone());
                    if let Some(cause) = unreachable {
                        // Tor works; the server did not answer: said plainly, not as Tor's fault.
                        let text = user_text::unreachable_text(*cause);
                        obj.set_detail(text.as_str());
                        toast(self, &user_text::unreachable_notice(account, *cause));
                        self.update_circuits();
                        return;
                    }
                    obj.set_detail(detail.clone().unwrap_or_default());
                    let why = detail.as_deref().unwrap_or_default();
                    if state == "error" {
                        toast(self, &user_text::connect_failure_text(account, why));
                    } else if state == "login_refused" {
                        toast(self, &user_text::login_refused_text(account, why));
                    } else if state == "input_refused" {
                        toast(self, &user_text::input_refused_text(account, why));
                    }
                }
                self.update_circuits();
            }
            Event::Message(message) => self.on_message(message, true),
            Event::MessageUpdated(message) => self.on_message(message, false),
            Event::Roster { account, contacts } => {
                if let Some(sidebar) = self.imp().contacts.get() {
                    sidebar.handle_event(event);
                }
                if let Some(store) = self.imp().conversations.get() {
                    for c in store.iter::<ConversationObject>().flatten() {
                        if c.account() == *account {
                            c.set_in_roster(false);
                        }
                    }
                }
                for peer in contacts {
                    if let Some((_, c)) = self.conversation(account, peer) {
                        c.set_in_roster(true);
                    }
                }
            }
            Event::RoomJoined {
                account,
                room,
                nick,
                ..
            } => {
                if let Some((_, c)) = self.conversation(account, room) {
                    c.set_is_room(true);
                }
                room_state::joined(self, account, room, nick);
            }
            Event::Occupants {
                account,
                room,
                occupants,
            } => {
                crate::ui::chat::sender_lookalike::note_occupants(
                    account,
                    room,
                    occupants,
                    self.imp().conversation_view.get(),
                );
                self.set_occupants(account, room, occupants);
            }
            Event::SubscriptionRequest { .. } | Event::Blocklist { .. } => {
                if let Some(sidebar) = self.imp().contacts.get() {
                    sidebar.handle_event(event);
                }
            }
            Event::RoomAudit(_) | Event::DeviceNew { .. } | Event::IdentityChanged { .. } => {
                if let Some(security) = self.imp().security.get() {
                    security.handle_event(self, event);
                }
            }
            Event::RoomInvite {
                account,
                room,
                from,
                reason,
                direct,
                ..
            } => {
                if let (Some(window), Some(core)) = (
                    self.root().and_downcast::<gtk4::Window>(),
                    self.imp().core.get().cloned(),
                ) {
                    crate::ui::invitation_dialog::ask(
                        &window,
                        core,
                        crate::ui::invitation_dialog::Invitation {
                            account: account.clone(),
                            room: room.clone(),
                            from: from.clone(),
                            reason: reason.clone(),
                            direct: *direct,
                        },
                    );
                }
            }
            Event::RoomLeft {
                account,
                room,
                reason,
                detail,
                actor,
                alternate,
            } => room_state::left(
                self,
                account,
                room,
                reason,
                room_state::Told {
                    detail: detail.as_deref(),
                    actor: actor.as_deref(),
                    alternate: alternate.as_deref(),
                },
            ),
            Event::RoomSubject {
                account,
                room,
                subject,
                ..
            } => room_state::subject(self, account, room, subject),
            Event::ContactNames {
                account,
                names,
                roster_names,
            } => contact_names::apply(self, account, names, roster_names),
            // A download's progress is followed by its attachment row (`attachment_row`), an
            // upload's end by the attach button; the message arrives as `message` /
            // `message_updated`.
            Event::Unlocked
            | Event::Locked
            | Event::Error { .. }
            | Event::TransferProgress { .. }
            | Event::TransferDone { .. }
            | Event::TransferFailed { .. } => {}
            Event::Delivered { .. } | Event::Displayed { .. } | Event::Typing { .. } => {
                activity::handle(self, event);
            }
            Event::KeysMissing { .. } | Event::MessageHeld { .. } => self.on_message_note(event),
        }
    }

    /// Forgets every account, conversation and message shown (on lock).
    pub fn clear(&self) {
        let imp = self.imp();
        if let Some(view) = imp.conversation_view.get() {
            view.clear();
        }
        crate::ui::chat::message_notes::clear();
        crate::ui::chat::activity_marks::clear();
        contact_names::forget();
        activity::clear();
        room_state::clear();
        if let Some(banner) = imp.room_moved_banner.get() {
            banner.withdraw();
        }
        crate::ui::chat::sender_lookalike::clear();
        if let Some(panel) = imp.room_panel.get() {
            panel.clear();
        }
        if let Some(contacts) = imp.contacts.get() {
            contacts.clear();
        }
        if let Some(security) = imp.security.get() {
            security.clear();
        }
        for store in imp.occupants.take().into_values() {
            store.remove_all();
        }
        imp.room_button.set_active(false);
        imp.room_button.set_visible(false);
        imp.settings_button.set_visible(false);
        imp.open.replace(None);
        imp.muted.take();
        imp.notifier.clear();
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

    /// The header bar's Tor indicator.
    pub fn tor_indicator(&self) -> &TorIndicator {
        &self.imp().tor_indicator
    }

    /// Asks the core for every account's circuit and shows them in the Tor popover.
    pub fn refresh_circuits(&self) {
        let Some(core) = self.imp().core.get().cloned() else {
            return;
        };
        let accounts: Vec<(String, String)> = self
            .imp()
            .accounts
            .get()
            .map(|s| {
                s.iter::<AccountObject>()
                    .flatten()
                    .map(|a| (a.jid(), a.state()))
                    .collect()
            })
            .unwrap_or_default();
        let view = self.downgrade();
        glib::MainContext::default().spawn_local(async move {
            let mut lines = Vec::new();
            for (jid, state) in accounts {
                let state_text = user_text::account_state_text(&state);
                let line = match core
                    .call(Command::Circuit {
                        account: jid.clone(),
                    })
                    .await
                {
                    Ok(Reply::Circuit {
                        circuit: Some(circuit),
                    }) => format!(
                        "{state_text}, on its own circuit:\n{}",
                        circuit_text(&circuit)
                    ),
                    _ => format!("{state_text}, no circuit yet (its own, when it connects)"),
                };
                lines.push((jid, line));
            }
            if let Some(view) = view.upgrade() {
                view.imp().tor_indicator.set_accounts(&lines);
            }
        });
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
        obj.set_notify(
            !self
                .imp()
                .muted
                .borrow()
                .contains(&(account.to_owned(), peer.to_owned())),
        );
        // A conversation turns out to be a room when the core reports the join: move it.
        obj.connect_is_room_notify(glib::clone!(
            #[weak(rename_to = view)]
            self,
            move |_| {
                for model in [view.imp().people.get(), view.imp().rooms.get()]
                    .into_iter()
                    .flatten()
                {
                    if let Some(filter) = model.filter() {
                        filter.changed(gtk4::FilterChange::Different);
                    }
                }
            }
        ));
        store.append(&obj);
        Some((store.n_items() - 1, obj))
    }

    /// Shows why a message is held, or who in a room cannot read it, on its row.
    fn on_message_note(&self, event: &Event) {
        crate::ui::chat::message_notes::handle(event, self.imp().conversation_view.get());
    }

    fn on_message(&self, message: &StoredMessage, new: bool) {
        let Some((_, conversation)) = self.conversation(&message.account, &message.with) else {
            return;
        };
        let Some(view) = self.imp().conversation_view.get() else {
            return;
        };
        let shown = view.is_showing(&message.account, &message.with);
        activity::on_message(self, message, new);
        if shown {
            view.push(message);
        } else if new && message.direction == "in" {
            self.add_unread(&conversation);
        }
        let active = self
            .root()
            .and_downcast::<gtk4::Window>()
            .is_some_and(|w| w.is_active());
        if new && !(shown && active) {
            self.notify_message(message, &conversation);
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

    fn open_object(&self, conversation: &ConversationObject) {
        activity::clear();
        let imp = self.imp();
        imp.open.replace(Some(conversation.clone()));
        imp.notifier
            .opened(&conversation.account(), &conversation.peer());
        imp.settings_button.set_visible(true);
        conversation.set_unread(0);
        imp.pending_unread
            .borrow_mut()
            .retain(|(c, _)| c != conversation);
        crate::ui::chat::sender_lookalike::opened(&conversation.account(), &conversation.peer());
        crate::ui::chat::message_row::opened(
            &conversation.account(),
            &conversation.peer(),
            conversation.is_room(),
        );
        if let Some(view) = imp.conversation_view.get() {
            // The header (title, subtitle, composer state) changes with the rows, in one frame
            // (see `ConversationView::open_with`).
            let (session, title, c) = (
                self.downgrade(),
                imp.content_title.clone(),
                conversation.clone(),
            );
            view.open_with(&conversation.account(), &conversation.peer(), move || {
                title.set_title(&contact_names::title(&c));
                if let Some(session) = session.upgrade() {
                    room_state::refresh_open(&session, &c);
                    activity::opened(&session, &c.account(), &c.peer());
                }
            });
            imp.content_stack.set_visible_child(view);
            view.grab_focus();
        }
        let is_room = conversation.is_room();
        if let Some(security) = imp.security.get() {
            security.opened(&conversation.account(), &conversation.peer(), is_room);
        }
        imp.room_button.set_visible(is_room);
        if let Some(panel) = imp.room_panel.get() {
            if is_room {
                let occupants = self.occupants(&conversation.account(), &conversation.peer());
                panel.show_room(&conversation.account(), &conversation.peer(), &occupants);
            } else {
                imp.room_button.set_active(false);
                panel.clear();
            }
        }
        imp.leaflet.set_visible_child(&*imp.content);
    }

    /// The occupants model of a room (empty until the core reports them).
    pub fn occupants(&self, account: &str, room: &str) -> gio::ListStore {
        self.imp()
            .occupants
            .borrow_mut()
            .entry((account.to_owned(), room.to_owned()))
            .or_insert_with(gio::ListStore::new::<OccupantObject>)
            .clone()
    }

    fn set_occupants(&self, account: &str, room: &str, occupants: &[Occupant]) {
        if let Some((_, c)) = self.conversation(account, room) {
            c.set_is_room(true);
        }
        let objects: Vec<OccupantObject> = occupants
            .iter()
            .map(OccupantObject::from_occupant)
            .collect();
        let store = self.occupants(account, room);
        store.splice(0, store.n_items(), &objects);
    }

    /// Removes a room the user left from the sidebar, and closes it if it is open.
    fn forget_room(&self, account: &str, room: &str) {
        let imp = self.imp();
        if let Some(view) = imp.conversation_view.get()
            && view.is_showing(account, room)
        {
            view.clear();
            imp.content_stack.set_visible_child_name("empty");
            imp.content_title.set_title("No conversation");
            imp.content_title.set_subtitle("");
            imp.room_button.set_active(false);
            imp.room_button.set_visible(false);
            imp.settings_button.set_visible(false);
            imp.open.replace(None);
            if let Some(panel) = imp.room_panel.get() {
                panel.clear();
            }
        }
        if let Some(store) = imp.conversations.get()
            && let Some(pos) = store
                .iter::<ConversationObject>()
                .flatten()
                .position(|c| c.is(account, room))
        {
            store.remove(pos as u32);
        }
        imp.occupants
            .borrow_mut()
            .remove(&(account.to_owned(), room.to_owned()));
        toast(self, &format!("You left {room}."));
    }

    /// An account's connection state as last reported (`online`, `connecting` …).
    pub fn account_state(&self, jid: &str) -> Option<String> {
        self.account(jid).map(|a| a.state())
    }

    /// Drops everything shown of a removed account: its conversations, rooms and occupants.
    pub fn forget_account(&self, jid: &str) {
        let imp = self.imp();
        if let Some(view) = imp.conversation_view.get()
            && imp
                .open
                .borrow()
                .as_ref()
                .is_some_and(|c| c.account() == jid)
        {
            view.clear();
            imp.content_stack.set_visible_child_name("empty");
            imp.content_title.set_title("No conversation");
            imp.content_title.set_subtitle("");
            imp.room_button.set_active(false);
            imp.room_button.set_visible(false);
            imp.settings_button.set_visible(false);
            imp.open.replace(None);
            if let Some(panel) = imp.room_panel.get() {
                panel.clear();
            }
        }
        if let Some(store) = imp.conversations.get() {
            let keep: Vec<ConversationObject> = store
                .iter::<ConversationObject>()
                .flatten()
                .filter(|c| c.account() != jid)
                .collect();
            store.splice(0, store.n_items(), &keep);
        }
        imp.occupants.borrow_mut().retain(|(a, _), _| a != jid);
    }

    /// Every conversation and room the sidebar lists.
    pub fn conversations_model(&self) -> Option<gio::ListStore> {
        self.imp().conversations.get().cloned()
    }

    /// The bare JIDs of the profile's accounts, in sidebar order.
    pub fn account_jids(&self) -> Vec<String> {
        self.imp()
            .accounts
            .get()
            .map(|s| {
                s.iter::<AccountObject>()
                    .flatten()
                    .map(|a| a.jid())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Applies stored preferences: what notifications show, which conversations are muted.
    pub fn apply_preferences(&self, preferences: &BTreeMap<String, String>) {
        let imp = self.imp();
        imp.notifier
            .set_policy(NotificationPolicy::from_preferences(preferences));
        let muted: HashSet<(String, String)> = preferences
            .iter()
            .filter(|(_, v)| v.as_str() == "true")
            .filter_map(|(k, _)| k.strip_prefix(notifications::keys::MUTE_PREFIX))
            .filter_map(|rest| {
                // `<account>:<peer>`; JIDs contain no ':' in their bare form's node@domain.
                let (account, peer) = rest.split_once(':')?;
                Some((account.to_owned(), peer.to_owned()))
            })
            .collect();
        if let Some(store) = imp.conversations.get() {
            for c in store.iter::<ConversationObject>().flatten() {
                c.set_notify(!muted.contains(&(c.account(), c.peer())));
            }
        }
        imp.muted.replace(muted);
    }

    /// The last notification raised, as (title, body).
    pub fn last_notification(&self) -> Option<(String, String)> {
        self.imp().notifier.last()
    }

    /// The number a click on the last notification carries (`app.open-notified`'s target).
    pub fn last_notification_token(&self) -> Option<u64> {
        self.imp().notifier.last_token()
    }

    /// How many notifications were raised (coalesced updates included).
    pub fn notifications_raised(&self) -> u64 {
        self.imp().notifier.sent()
    }

    /// Whether a burst of messages is still being gathered into a coming notification update.
    pub fn notification_burst_open(&self) -> bool {
        self.imp().notifier.in_burst()
    }

    /// The window became active: the notification is withdrawn and counting starts again.
    pub fn window_activated(&self) {
        self.imp().notifier.window_activated();
    }

    /// A click on the notification numbered `token`: opens its newest conversation, unless
    /// a newer notification replaced it.
    pub fn open_notified(&self, token: u64) {
        if let Some((account, peer)) = self.imp().notifier.target(token) {
            self.open_conversation(&account, &peer);
        }
    }

    fn notify_message(&self, message: &StoredMessage, conversation: &ConversationObject) {
        let app = self
            .root()
            .and_downcast::<gtk4::Window>()
            .and_then(|w| w.application());
        // A room's senders go by their nicknames: never matched to a contact's name.
        let name = (!conversation.is_room())
            .then(|| crate::ui::contact_names::name_of(&message.account, &message.with))
            .flatten()
            .map(|n| notifications::contact_label(&n, &message.with));
        self.imp().notifier.message(
            app.as_ref().map(Cast::upcast_ref),
            message,
            !conversation.notify(),
            conversation.is_room(),
            name.as_deref(),
        );
    }

    /// Opens the open conversation's settings dialog.
    pub fn show_conversation_settings(&self) {
        let imp = self.imp();
        let (Some(core), Some(conversation), Some(parent)) = (
            imp.core.get().cloned(),
            imp.open.borrow().clone(),
            self.root().and_downcast::<gtk4::Window>(),
        ) else {
            return;
        };
        let dialog = ConversationSettingsDialog::new(core, &parent, &conversation);
        dialog.connect_history_cleared(glib::clone!(
            #[weak(rename_to = view)]
            self,
            move |_| {
                if let Some(chat) = view.imp().conversation_view.get() {
                    chat.reload();
                }
            }
        ));
        dialog.present();
    }

    /// The room panel (occupants, invite, leave).
    pub fn room_panel(&self) -> Option<&RoomPanel> {
        self.imp().room_panel.get()
    }

    /// Whether `peer` of `account` is listed among the rooms (not the 1:1 conversations).
    pub fn lists_as_room(&self, account: &str, peer: &str) -> bool {
        self.imp()
            .rooms
            .get()
            .is_some_and(|m| filtered(m).any(|c| c.is(account, peer)))
    }

    fn start_chat(&self, entry: &gtk4::Entry) {
        // Addresses are case-insensitive and the core stores them lower-cased: "Carol@Example.org"
        // must open the same conversation its messages arrive in.
        let peer = entry.text().trim().to_lowercase();
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
        // What the user types next is the first message, not more of the address.
        if let Some(view) = self.imp().conversation_view.get() {
            view.focus_composer();
        }
    }

    /// Shows the conversation of `account` with `peer` (added to the sidebar if new).
    pub fn open_conversation(&self, account: &str, peer: &str) {
        let Some((_, conversation)) = self.conversation(account, peer) else {
            return;
        };
        let imp = self.imp();
        let (list, other, model) = if conversation.is_room() {
            (&imp.rooms_list, &imp.conversations_list, imp.rooms.get())
        } else {
            (&imp.conversations_list, &imp.rooms_list, imp.people.get())
        };
        let index = model.and_then(|m| filtered(m).position(|c| c.is(account, peer)));
        other.unselect_all();
        if let Some(row) = index.and_then(|i| list.row_at_index(i as i32)) {
            list.select_row(Some(&row));
        }
        self.open_object(&conversation);
    }
}

/// The conversations a filtered model shows (GTK 4.8's filter models announce plain
/// `GObject` items, so they are downcast one by one).
fn filtered(model: &gtk4::FilterListModel) -> impl Iterator<Item = ConversationObject> + '_ {
    model
        .iter::<glib::Object>()
        .flatten()
        .filter_map(|o| o.downcast::<ConversationObject>().ok())
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
