//! A conversation: a virtualized list of messages (a `GtkListView` over a `gio::ListStore`) and
//! a composer. History comes from `Command::History`, live messages from `Event::Message`.

use std::cell::{OnceCell, RefCell};

use gtk4::prelude::*;
use gtk4::subclass::prelude::*;
use gtk4::{CompositeTemplate, gio, glib};

use crate::core::events::StoredMessage;
use crate::core::{Command, CoreHandle, Reply};
use crate::ui::chat::MessageRow;
use crate::ui::models::MessageObject;
use crate::ui::{toast, user_text};

/// How many stored messages are loaded when a conversation opens.
const HISTORY_PAGE: u32 = 50;

mod imp {
    #[allow(clippy::wildcard_imports)]
    // gtk-rs subclass idiom: imp shares its wrapper's imports
    use super::*;

    #[derive(Default, CompositeTemplate)]
    #[template(file = "../../../ui/chat/conversation_view.ui")]
    pub struct ConversationView {
        #[template_child]
        pub scroller: TemplateChild<gtk4::ScrolledWindow>,
        #[template_child]
        pub list_view: TemplateChild<gtk4::ListView>,
        #[template_child]
        pub composer: TemplateChild<gtk4::Entry>,
        #[template_child]
        pub send_button: TemplateChild<gtk4::Button>,
        pub messages: OnceCell<gio::ListStore>,
        pub core: OnceCell<CoreHandle>,
        /// `(account, peer)` shown now.
        pub conversation: RefCell<Option<(String, String)>>,
        pub history_task: RefCell<Option<glib::JoinHandle<()>>>,
    }

    #[glib::object_subclass]
    impl ObjectSubclass for ConversationView {
        const NAME: &'static str = "TalpaConversationView";
        type Type = super::ConversationView;
        type ParentType = gtk4::Box;

        fn class_init(klass: &mut Self::Class) {
            klass.bind_template();
        }

        fn instance_init(obj: &glib::subclass::InitializingObject<Self>) {
            obj.init_template();
        }
    }

    impl ObjectImpl for ConversationView {
        fn constructed(&self) {
            self.parent_constructed();
            let obj = self.obj();
            let store = gio::ListStore::new::<MessageObject>();
            let factory = gtk4::SignalListItemFactory::new();
            factory.connect_setup(|_, item| {
                if let Some(item) = item.downcast_ref::<gtk4::ListItem>() {
                    item.set_child(Some(&MessageRow::default()));
                    item.set_activatable(false);
                }
            });
            factory.connect_bind(|_, item| {
                let Some(item) = item.downcast_ref::<gtk4::ListItem>() else {
                    return;
                };
                let row = item.child().and_downcast::<MessageRow>();
                let message = item.item().and_downcast::<MessageObject>();
                if let (Some(row), Some(message)) = (row, message) {
                    row.bind(&message);
                }
            });
            factory.connect_unbind(|_, item| {
                if let Some(row) = item
                    .downcast_ref::<gtk4::ListItem>()
                    .and_then(gtk4::ListItem::child)
                    .and_downcast::<MessageRow>()
                {
                    row.unbind();
                }
            });
            self.list_view.set_factory(Some(&factory));
            self.list_view
                .set_model(Some(&gtk4::NoSelection::new(Some(store.clone()))));
            let _ = self.messages.set(store);
            self.send_button.connect_clicked(glib::clone!(
                #[weak]
                obj,
                move |_| obj.send()
            ));
            self.composer.connect_activate(glib::clone!(
                #[weak]
                obj,
                move |_| obj.send()
            ));
        }

        fn dispose(&self) {
            if let Some(task) = self.history_task.take() {
                task.abort();
            }
            self.obj().clear();
        }
    }

    impl WidgetImpl for ConversationView {}
    impl BoxImpl for ConversationView {}
}

glib::wrapper! {
    /// Shows one conversation and sends messages into it.
    pub struct ConversationView(ObjectSubclass<imp::ConversationView>)
        @extends gtk4::Box, gtk4::Widget,
        @implements gtk4::Buildable, gtk4::ConstraintTarget, gtk4::Orientable;
}

impl ConversationView {
    /// A view talking to `core`.
    pub fn new(core: CoreHandle) -> Self {
        let view: Self = glib::Object::new();
        let _ = view.imp().core.set(core);
        view
    }

    /// The message model (for tests and for the window's live updates).
    pub fn messages(&self) -> Option<&gio::ListStore> {
        self.imp().messages.get()
    }

    /// Empties the list and overwrites every message's text (on lock and on switch).
    pub fn clear(&self) {
        let imp = self.imp();
        if let Some(store) = imp.messages.get() {
            for obj in store.iter::<MessageObject>().flatten() {
                obj.forget();
            }
            store.remove_all();
        }
        imp.composer.set_text("");
        imp.conversation.replace(None);
    }

    /// Opens the conversation of `account` with `peer` and loads its stored history.
    pub fn open(&self, account: &str, peer: &str) {
        let imp = self.imp();
        if imp.conversation.borrow().as_ref() == Some(&(account.to_owned(), peer.to_owned())) {
            return;
        }
        self.clear();
        imp.conversation
            .replace(Some((account.to_owned(), peer.to_owned())));
        imp.composer
            .set_placeholder_text(Some(&format!("Message to {peer}")));
        let Some(core) = imp.core.get().cloned() else {
            return;
        };
        if let Some(task) = imp.history_task.take() {
            task.abort();
        }
        let command = Command::History {
            account: account.to_owned(),
            with: peer.to_owned(),
            before: None,
            limit: Some(HISTORY_PAGE),
        };
        let view = self.downgrade();
        let task = glib::MainContext::default().spawn_local(async move {
            let result = core.call(command).await;
            let Some(view) = view.upgrade() else { return };
            match result {
                Ok(Reply::History { messages }) => {
                    for m in &messages {
                        view.push(m);
                    }
                }
                Ok(_) => {}
                Err(e) => toast(
                    &view,
                    &format!("Could not load history. {}", user_text::error_text(&e)),
                ),
            }
        });
        imp.history_task.replace(Some(task));
    }

    /// Adds a message if it belongs to the open conversation and is not shown yet.
    pub fn push(&self, message: &StoredMessage) {
        let imp = self.imp();
        let open = imp.conversation.borrow().as_ref()
            == Some(&(message.account.clone(), message.with.clone()));
        let Some(store) = imp.messages.get() else {
            return;
        };
        if !open {
            return;
        }
        let existing = store
            .iter::<MessageObject>()
            .flatten()
            .position(|m| m.id() == message.id);
        let obj = MessageObject::from_stored(message);
        if let Some(pos) = existing {
            store.splice(pos as u32, 1, &[obj]);
        } else {
            store.append(&obj);
            self.scroll_to_end();
        }
    }

    /// Loads the open conversation's history again (after it was cleared or expired).
    pub fn reload(&self) {
        let Some((account, peer)) = self.imp().conversation.borrow().clone() else {
            return;
        };
        self.clear();
        self.open(&account, &peer);
    }

    /// Whether the view shows this conversation.
    pub fn is_showing(&self, account: &str, peer: &str) -> bool {
        self.imp().conversation.borrow().as_ref() == Some(&(account.to_owned(), peer.to_owned()))
    }

    fn scroll_to_end(&self) {
        let adj = self.imp().scroller.vadjustment();
        glib::idle_add_local_once(move || adj.set_value(adj.upper()));
    }

    fn send(&self) {
        let imp = self.imp();
        let body = imp.composer.text().to_string();
        if body.trim().is_empty() {
            return;
        }
        let Some((account, to)) = imp.conversation.borrow().clone() else {
            return;
        };
        let Some(core) = imp.core.get().cloned() else {
            return;
        };
        imp.composer.set_text("");
        let view = self.downgrade();
        glib::MainContext::default().spawn_local(async move {
            let command = Command::Send {
                account: account.clone(),
                to: to.clone(),
                body: body.clone(),
            };
            let result = core.call(command).await;
            if let (Err(e), Some(view)) = (result, view.upgrade()) {
                // Give the text back unless the user already typed something else or left.
                let composer = &view.imp().composer;
                if composer.text().is_empty() && view.is_showing(&account, &to) {
                    composer.set_text(&body);
                }
                toast(
                    &view,
                    &format!("The message was not sent. {}", user_text::error_text(&e)),
                );
            }
        });
    }
}
