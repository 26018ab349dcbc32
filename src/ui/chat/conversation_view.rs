//! A conversation: a virtualized list of messages and a composer. History comes from
//! `Command::History` (older pages fetched when the user scrolls to the top), live messages from
//! `Event::Message`.
//!
//! Live messages are not put into the model one by one: `push` queues them and one flush per
//! burst (at most one every `FLUSH_INTERVAL` while messages keep coming) adds them in a single
//! splice, slides the window once and scrolls to the newest once, so a flood costs a handful of
//! frames instead of one relayout per message.
//!
//! GTK 4.8's `GtkListView` keeps up to 200 row widgets whatever the viewport, so the list shows a
//! window onto the conversation's model (a `GtkSliceListModel` about 1.5 screens long) that slides
//! when the user scrolls to either edge: the number of live row widgets stays below twice the
//! visible rows however long the conversation (tests/gui_virtualization.rs).

use std::cell::{Cell, OnceCell, RefCell};
use std::collections::HashSet;
use std::rc::Rc;
use std::time::{Duration, Instant};

use gtk4::prelude::*;
use gtk4::subclass::prelude::*;
use gtk4::{CompositeTemplate, gdk, gio, glib};

use crate::core::events::StoredMessage;
use crate::core::{Command, CoreHandle, Reply};
use crate::ui::chat::{MessageRow, message_editing};
use crate::ui::models::MessageObject;
use crate::ui::{toast, user_text};

/// How many stored messages are loaded when a conversation opens, and per older page.
const HISTORY_PAGE: u32 = 50;

/// How long a click on a conversation waits on the GTK thread for its history (see
/// `open_with`).
const HISTORY_WAIT: Duration = Duration::from_millis(30);

/// The shortest time between two flushes of live messages into the model: the first message
/// after a quiet spell is shown at once, a flood is drawn a few times a second.
const FLUSH_INTERVAL: Duration = Duration::from_millis(150);

/// The smallest height a message row can have (one line of header, one of text, margins), in
/// pixels: the window onto the model is sized so it always fills the viewport.
const MIN_ROW_HEIGHT: f64 = 52.0;

/// Extra layout passes per frame `hold_end` may ask for while putting the list at its bottom
/// (GTK runs at most four passes a frame).
const EXTRA_PASSES: u32 = 2;

/// The most row widgets kept for reuse (see `imp::ConversationView::rows`).
const ROWS_KEPT: usize = 64;

/// The window's length for a viewport of `page` pixels: one and a half screens of the
/// smallest rows (so it always fills the viewport and never holds two screens), at least 8.
pub fn window_len(page: f64) -> u32 {
    let rows = (page / MIN_ROW_HEIGHT).ceil().max(1.0);
    // Bounded by the viewport height in pixels; the cast cannot truncate a real screen.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let rows = rows as u32;
    (rows + rows / 2).max(8)
}

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
        /// Shown while the composer holds a correction (see `message_editing`).
        #[template_child]
        pub edit_bar: TemplateChild<gtk4::Box>,
        #[template_child]
        pub edit_cancel: TemplateChild<gtk4::Button>,
        /// The own message the composer's text will correct.
        pub editing: RefCell<Option<MessageObject>>,
        /// The message context menu (see `message_editing`).
        pub menu: OnceCell<gtk4::PopoverMenu>,
        pub messages: OnceCell<gio::ListStore>,
        /// The part of `messages` the list view shows.
        pub window: OnceCell<gtk4::SliceListModel>,
        /// Whether the window stays on the newest messages as they arrive.
        pub following: Cell<bool>,
        /// Set while the window moves, so the scroll it causes is not taken for the user's.
        pub sliding: Cell<bool>,
        /// A scroll to the newest message is pending: scroll positions seen meanwhile are the
        /// layout settling (the top, before the jump), not the user, and must not slide.
        pub settling: Cell<bool>,
        /// `show_from` slid the window: the next layout pass (after GTK placed the new rows)
        /// shows them from the top.
        pub to_top: Cell<bool>,
        /// Whether an older page is being fetched, or the oldest message is already shown.
        pub loading_older: Cell<bool>,
        pub history_complete: Cell<bool>,
        pub core: OnceCell<CoreHandle>,
        /// `(account, peer)` shown now (or being opened, see `opening`).
        pub conversation: RefCell<Option<(String, String)>>,
        /// Set from `open` until the opened conversation's history arrives: the model still
        /// holds the previous conversation's rows (so no empty frame is painted in between),
        /// which the history replaces in one splice.
        pub opening: Cell<bool>,
        /// Run in the same main-loop turn as that splice (the window's header), see `open_with`.
        pub on_shown: RefCell<Option<Box<dyn FnOnce()>>>,
        pub history_task: RefCell<Option<glib::JoinHandle<()>>>,
        /// Local ids of the messages in the model, so a live message is placed without scanning.
        pub shown_ids: RefCell<HashSet<i64>>,
        /// Live messages (new or updated) of the open conversation not in the model yet, oldest
        /// first; `flush` moves them in.
        pub pending: RefCell<Vec<StoredMessage>>,
        /// The scheduled flush, if any.
        pub flush_source: RefCell<Option<glib::SourceId>>,
        /// When the last flush ran (flushes are spaced by `FLUSH_INTERVAL`).
        pub last_flush: Cell<Option<Instant>>,
        /// The frame clock's `layout` and `after-paint` handlers (see `hold_end`), while
        /// realized.
        pub layout_watch: RefCell<Option<(gdk::FrameClock, Vec<glib::SignalHandlerId>)>>,
        /// The frame in which `hold_end` last acted, how many extra layout passes it asked for
        /// in it, and the list's height it saw.
        pub held: Cell<(i64, u32, f64)>,
        /// Every row widget made (up to `ROWS_KEPT`), in the list or not. Opening a
        /// conversation replaces every row (GTK 4.8 makes a new list item per new item); a new
        /// list item gets a row no list item holds any more (GTK unparented it when it dropped
        /// the old list item) instead of one built from the template, which saves building and
        /// destroying a screenful of rows per open. GTK 4.8 takes the row out of a list item
        /// before the factory's `teardown` runs, so the rows are held here, not collected
        /// there. Rows are only made when none is free, so this never holds more rows than
        /// the most the list held at once (plus one window's worth made ahead once idle).
        pub rows: Rc<RefCell<Vec<MessageRow>>>,
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
            let rows = self.rows.clone();
            factory.connect_setup(move |_, item| {
                if let Some(item) = item.downcast_ref::<gtk4::ListItem>() {
                    let row = free_row(&rows);
                    item.set_child(Some(&row));
                    item.set_activatable(false);
                }
            });
            factory.connect_teardown(move |_, item| {
                if let Some(item) = item.downcast_ref::<gtk4::ListItem>() {
                    item.set_child(None::<&gtk4::Widget>);
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
            let window = gtk4::SliceListModel::new(Some(store.clone()), 0, window_len(700.0));
            self.list_view
                .set_model(Some(&gtk4::NoSelection::new(Some(window.clone()))));
            self.following.set(true);
            store.connect_items_changed(glib::clone!(
                #[weak]
                obj,
                move |_, _, _, _| obj.keep_window_placed()
            ));
            // Scrolling on past an edge (where the value no longer changes) slides too.
            self.scroller.connect_edge_overshot(glib::clone!(
                #[weak]
                obj,
                move |_, pos| {
                    if matches!(pos, gtk4::PositionType::Top | gtk4::PositionType::Bottom) {
                        obj.scrolled();
                    }
                }
            ));
            let adj = self.scroller.vadjustment();
            adj.connect_value_changed(glib::clone!(
                #[weak]
                obj,
                move |_| obj.scrolled()
            ));
            adj.connect_page_size_notify(glib::clone!(
                #[weak]
                obj,
                move |adj| obj.resize_window(adj.page_size())
            ));
            let _ = self.window.set(window);
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
            self.edit_cancel.connect_clicked(glib::clone!(
                #[weak]
                obj,
                move |_| obj.cancel_correction()
            ));
            message_editing::install(&obj, &self.composer);
            crate::ui::chat::attach_button::install(&obj);
            message_editing::install_list_keys(&obj, &self.list_view);
        }

        fn dispose(&self) {
            if let Some(source) = self.flush_source.take() {
                source.remove();
            }
            if let Some(task) = self.history_task.take() {
                task.abort();
            }
            if let Some(menu) = self.menu.get() {
                menu.unparent();
            }
            self.obj().clear();
        }
    }

    impl WidgetImpl for ConversationView {
        fn realize(&self) {
            self.parent_realize();
            self.obj().watch_layout();
            // Once idle, rows for a window's worth of messages are made ahead of the first
            // open that needs them (see `rows`).
            let view = self.obj().downgrade();
            glib::idle_add_local_full(glib::Priority::LOW, move || {
                if let Some(view) = view.upgrade() {
                    view.make_rows_ahead();
                }
                glib::ControlFlow::Break
            });
        }

        fn unrealize(&self) {
            if let Some((clock, ids)) = self.layout_watch.take() {
                for id in ids {
                    clock.disconnect(id);
                }
            }
            // Without frames, a pending scroll would hold off the user's scrolls for good.
            self.settling.set(false);
            self.parent_unrealize();
        }
    }
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

    /// Empties the list at once and overwrites every message's text (on lock, and when the
    /// conversation is closed or its history cleared).
    pub fn clear(&self) {
        let imp = self.imp();
        if let Some(task) = imp.history_task.take() {
            task.abort();
        }
        imp.opening.set(false);
        imp.on_shown.replace(None);
        self.release_focus_from_rows(|_| false);
        if let Some(store) = imp.messages.get() {
            for obj in store.iter::<MessageObject>().flatten() {
                obj.forget();
            }
            store.remove_all();
        }
        imp.shown_ids.borrow_mut().clear();
        imp.pending.borrow_mut().clear();
        if let Some(source) = imp.flush_source.take() {
            source.remove();
        }
        imp.following.set(true);
        imp.loading_older.set(false);
        imp.history_complete.set(false);
        self.cancel_correction();
        imp.composer.set_text("");
        imp.conversation.replace(None);
    }

    /// Opens the conversation of `account` with `peer` and loads its stored history.
    pub fn open(&self, account: &str, peer: &str) {
        self.open_with(account, peer, || {});
    }

    /// Opens the conversation of `account` with `peer` and loads its last page of history.
    /// Until that page arrives the list keeps the previous conversation's rows (no empty
    /// frame); the page then replaces them in one splice, and `shown` (e.g. the header's new
    /// title) runs right after it, so both appear in the same frame. Live messages of the new
    /// conversation that arrive meanwhile wait in `pending`; those of the previous one are no
    /// longer this view's (`is_showing` is already false for it).
    ///
    /// The store usually answers within a few milliseconds, so the GTK thread waits for the
    /// page (at most `HISTORY_WAIT`): the page then lands in the same frame as everything else
    /// the click changed (the sidebar's selection, the header, the composer) instead of a frame
    /// later. A slower answer is awaited in a task.
    pub fn open_with(&self, account: &str, peer: &str, shown: impl FnOnce() + 'static) {
        self.start_open(account, peer, Box::new(shown), true);
    }

    /// Opens a conversation (see `open_with`); `wait` says whether the GTK thread may wait
    /// briefly for the history.
    fn start_open(&self, account: &str, peer: &str, shown: Box<dyn FnOnce()>, wait: bool) {
        let imp = self.imp();
        if self.is_showing(account, peer) {
            if imp.opening.get() {
                imp.on_shown.replace(Some(Box::new(shown)));
            } else {
                shown();
            }
            return;
        }
        if let Some(source) = imp.flush_source.take() {
            source.remove();
        }
        imp.pending.borrow_mut().clear();
        imp.shown_ids.borrow_mut().clear();
        imp.following.set(true);
        imp.loading_older.set(false);
        imp.history_complete.set(false);
        self.cancel_correction();
        imp.composer.set_text("");
        imp.opening.set(true);
        imp.on_shown.replace(Some(shown));
        imp.conversation
            .replace(Some((account.to_owned(), peer.to_owned())));
        imp.composer
            .set_placeholder_text(Some(&composer_placeholder(account, peer)));
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
        let mut call = Box::pin(async move { core.call(command).await });
        // The wait's answer is used in a task all the same: it runs in the next main-loop turn,
        // before GTK's frame (which runs at a lower priority).
        let early = if wait {
            wait_briefly(&mut call, HISTORY_WAIT)
        } else {
            None
        };
        let view = self.downgrade();
        let task = glib::MainContext::default().spawn_local(async move {
            let result = match early {
                Some(result) => result,
                None => call.await,
            };
            let Some(view) = view.upgrade() else { return };
            match result {
                Ok(Reply::History { messages }) => {
                    view.imp()
                        .history_complete
                        .set(messages.len() < HISTORY_PAGE as usize);
                    view.show_history(&messages);
                }
                Ok(_) => view.show_history(&[]),
                Err(e) => {
                    // The error, over an empty list: not the previous conversation.
                    view.show_history(&[]);
                    toast(
                        &view,
                        &format!("Could not load history. {}", user_text::error_text(&e)),
                    );
                }
            }
        });
        imp.history_task.replace(Some(task));
    }

    /// Adds a message (or replaces the shown one with the same id, e.g. after a correction) if
    /// it belongs to the open conversation. The model changes at the next flush, together with
    /// every other message that arrives until then.
    pub fn push(&self, message: &StoredMessage) {
        let imp = self.imp();
        if !self.is_showing(&message.account, &message.with) {
            return;
        }
        imp.pending.borrow_mut().push(message.clone());
        if imp.flush_source.borrow().is_some() {
            return;
        }
        let wait = imp.last_flush.get().map_or(Duration::ZERO, |at| {
            FLUSH_INTERVAL.saturating_sub(at.elapsed())
        });
        let view = self.downgrade();
        let flush = move || {
            if let Some(view) = view.upgrade() {
                view.imp().flush_source.replace(None);
                view.flush();
            }
            glib::ControlFlow::Break
        };
        // Before the next layout (GTK lays out at HIGH_IDLE + 10), after the events already
        // queued (DEFAULT): a burst read at once becomes one flush.
        let source = if wait.is_zero() {
            glib::idle_add_local_full(glib::Priority::HIGH_IDLE, flush)
        } else {
            glib::timeout_add_local_full(wait, glib::Priority::HIGH_IDLE, flush)
        };
        imp.flush_source.replace(Some(source));
    }

    /// Moves the pending live messages into the model: updates of shown messages in place,
    /// new ones in one splice at the end, then one slide and one scroll to the newest.
    pub fn flush(&self) {
        let imp = self.imp();
        if imp.opening.get() {
            // The model holds the previous conversation: these wait for the history.
            return;
        }
        imp.last_flush.set(Some(Instant::now()));
        let batch = imp.pending.take();
        let Some(store) = imp.messages.get() else {
            return;
        };
        let mut added: Vec<MessageObject> = Vec::with_capacity(batch.len());
        for message in &batch {
            let obj = MessageObject::from_stored(message);
            if imp.shown_ids.borrow_mut().insert(message.id) {
                added.push(obj);
            } else if let Some(slot) = added.iter_mut().find(|m| m.id() == message.id) {
                *slot = obj;
            } else if let Some(pos) = position_from_end(store, message.id) {
                // A new object: GTK makes a new row widget for it and drops the old one.
                self.release_focus_from_rows(|p| p != pos);
                store.splice(pos, 1, &[obj]);
            }
        }
        if !added.is_empty() {
            store.splice(store.n_items(), 0, &added);
            // A user reading older messages stays where they are.
            if imp.following.get() {
                self.scroll_to_end();
            }
        }
    }

    /// Shows stored history (oldest first) of the open conversation in one model change,
    /// followed by whatever live messages were already shown. While opening, that change
    /// replaces the previous conversation's rows; the live messages that waited follow at once
    /// (before the next frame).
    pub fn show_history(&self, messages: &[StoredMessage]) {
        let imp = self.imp();
        let Some(store) = imp.messages.get() else {
            return;
        };
        let replaced = if imp.opening.replace(false) {
            store.n_items()
        } else {
            0
        };
        let old: Vec<MessageObject> = (0..replaced)
            .filter_map(|i| store.item(i).and_downcast::<MessageObject>())
            .collect();
        let objects: Vec<MessageObject> = {
            let mut shown = imp.shown_ids.borrow_mut();
            messages
                .iter()
                .filter(|m| shown.insert(m.id))
                .map(MessageObject::from_stored)
                .collect()
        };
        // Live messages that arrived while the history loaded are newer: keep them last.
        self.release_focus_from_rows(|p| p >= replaced);
        // The window moves to where the newest messages will be before the splice: at its old
        // place, the splice would first show the oldest loaded messages and the slide to the
        // newest (`keep_window_placed`) then replace every row again.
        if let Some(window) = imp.window.get()
            && imp.following.get()
        {
            let n = store.n_items() - replaced + objects.len() as u32;
            self.slide_to(n.saturating_sub(window.size()));
        }
        store.splice(0, replaced, &objects);
        for obj in old {
            obj.forget();
        }
        if let Some(shown) = imp.on_shown.take() {
            shown();
        }
        if !imp.pending.borrow().is_empty() {
            self.flush();
        }
        self.scroll_to_end();
    }

    /// Puts the keyboard focus in the message box, where a user who just opened the
    /// conversation types; on the view when the box takes no input (a room we are no longer in).
    pub fn focus_composer(&self) {
        let imp = self.imp();
        if !(imp.composer.is_sensitive() && imp.composer.grab_focus()) {
            self.grab_focus();
        }
    }

    /// Whether the keyboard focus is in the message box.
    pub fn composer_has_focus(&self) -> bool {
        let composer: &gtk4::Widget = self.imp().composer.upcast_ref();
        self.root()
            .and_then(|root| root.focus())
            .is_some_and(|focus| &focus == composer || focus.is_ancestor(composer))
    }

    /// The list view showing the messages.
    pub fn list_view(&self) -> &gtk4::ListView {
        &self.imp().list_view
    }

    /// The scrolled window around the message list.
    pub fn scroller(&self) -> &gtk4::ScrolledWindow {
        &self.imp().scroller
    }

    /// Loads the open conversation's history again (after it was cleared or expired).
    pub fn reload(&self) {
        let Some((account, peer)) = self.imp().conversation.borrow().clone() else {
            return;
        };
        self.clear();
        // No wait for the history here: after a lagged event stream, the live messages still
        // queued behind the gap are older than the page the store has now, and they must reach
        // the list before that page (which goes before them), not after it.
        self.start_open(&account, &peer, Box::new(|| {}), false);
        // The list is already empty: live messages go in at once, the history before them.
        self.imp().opening.set(false);
    }

    /// Whether a conversation is being opened: its history has not arrived yet, so the list
    /// still holds the previous conversation's rows.
    pub fn is_opening(&self) -> bool {
        self.imp().opening.get()
    }

    /// Lets the user write here, or not (a room we are no longer in) with `why_not` shown.
    /// Also names the contact in the empty message box again (after a rename).
    pub fn set_can_send(&self, why_not: Option<&str>) {
        let imp = self.imp();
        imp.composer.set_sensitive(why_not.is_none());
        imp.send_button.set_sensitive(why_not.is_none());
        let conversation = imp.conversation.borrow().clone().unwrap_or_default();
        let placeholder = why_not.map_or_else(
            || composer_placeholder(&conversation.0, &conversation.1),
            str::to_owned,
        );
        imp.composer.set_placeholder_text(Some(&placeholder));
    }

    /// Whether the view shows this conversation.
    pub fn is_showing(&self, account: &str, peer: &str) -> bool {
        self.imp().conversation.borrow().as_ref() == Some(&(account.to_owned(), peer.to_owned()))
    }

    /// The offset and length of the part of the conversation the list shows.
    pub fn window_range(&self) -> (u32, u32) {
        self.imp()
            .window
            .get()
            .map_or((0, 0), |w| (w.offset(), w.size()))
    }

    /// Makes row widgets (unbound, empty) until there are as many as the list's window holds,
    /// so the first open of a long conversation does not build them from the template either.
    fn make_rows_ahead(&self) {
        let imp = self.imp();
        let Some(window) = imp.window.get() else {
            return;
        };
        let want = (window.size() as usize).min(ROWS_KEPT);
        let mut rows = imp.rows.borrow_mut();
        while rows.len() < want {
            rows.push(MessageRow::default());
        }
    }

    /// Moves the keyboard focus out of the message list if it is on a row whose message is not
    /// to stay (`stays` is asked with the message's position in the model), before the model or
    /// the window changes.
    ///
    /// GTK 4.8 drops the row widget of a removed item without moving the window's focus out of
    /// it when the list view's own focus child is not that row (e.g. after a focus move that
    /// landed in a row's selectable text): the window then keeps focusing a label whose row was
    /// freed, and the next focus move (a Tab, or GTK moving the focus off a widget that became
    /// insensitive) walks freed widgets (`gtk_widget_is_ancestor: assertion 'GTK_IS_WIDGET
    /// (widget)'`). The focus goes to the composer, or nowhere if it cannot take it.
    fn release_focus_from_rows(&self, stays: impl Fn(u32) -> bool) {
        let imp = self.imp();
        let Some(root) = self.root() else {
            return;
        };
        let Some(focus) = root.focus() else {
            return;
        };
        if !focus.is_ancestor(&*imp.list_view) {
            return;
        }
        // The focus is in a row, or on a list item itself (its child is the row).
        let position = focus
            .ancestor(MessageRow::static_type())
            .or_else(|| focus.first_child())
            .and_downcast::<MessageRow>()
            .and_then(|row| row.message())
            .zip(imp.messages.get())
            .and_then(|(message, store)| position_from_end(store, message.id()));
        if position.is_some_and(stays) {
            return;
        }
        if !(imp.composer.is_sensitive() && imp.composer.is_mapped() && imp.composer.grab_focus()) {
            root.set_focus(None::<&gtk4::Widget>);
        }
    }

    /// Keeps the window on the newest messages while following them, and inside the model.
    fn keep_window_placed(&self) {
        let imp = self.imp();
        let (Some(store), Some(window)) = (imp.messages.get(), imp.window.get()) else {
            return;
        };
        let n = store.n_items();
        let last_start = n.saturating_sub(window.size());
        if imp.following.get() || window.offset() > last_start {
            self.slide_to(last_start);
        }
    }

    fn resize_window(&self, page: f64) {
        let Some(window) = self.imp().window.get() else {
            return;
        };
        let len = window_len(page);
        if len != window.size() {
            let offset = window.offset();
            self.release_focus_from_rows(|p| p >= offset && p - offset < len);
            window.set_size(len);
            self.keep_window_placed();
        }
    }

    fn slide_to(&self, offset: u32) {
        let imp = self.imp();
        if let Some(window) = imp.window.get()
            && window.offset() != offset
        {
            let len = window.size();
            self.release_focus_from_rows(|p| p >= offset && p - offset < len);
            let was_sliding = imp.sliding.replace(true);
            window.set_offset(offset);
            imp.sliding.set(was_sliding);
        }
    }

    /// The user scrolled: at the top, the window slides to older messages (fetching an older
    /// page from the core once the oldest loaded one is shown); at the bottom, to newer ones.
    fn scrolled(&self) {
        let imp = self.imp();
        if imp.sliding.get() || imp.settling.get() {
            return;
        }
        let (Some(store), Some(window)) = (imp.messages.get(), imp.window.get()) else {
            return;
        };
        let adj = imp.scroller.vadjustment();
        let (value, page, upper) = (adj.value(), adj.page_size(), adj.upper());
        if upper <= page {
            return;
        }
        let (offset, len, n) = (window.offset(), window.size(), store.n_items());
        let step = (len / 3).max(1);
        let per_row = upper / f64::from(window.n_items().max(1));
        if imp.following.get() {
            if value <= 0.0 {
                // Following the newest messages, a jump straight to the top is the list
                // re-laying itself out (a user's scroll passes through the values between).
                self.scroll_to_end();
                return;
            }
            if value + page < upper - 2.0 * per_row {
                // The user scrolled up: stop following.
                imp.following.set(false);
            }
        }
        if value <= 0.0 {
            if offset == 0 {
                self.load_older();
                return;
            }
            let new_offset = offset.saturating_sub(step);
            imp.following.set(false);
            self.slide_to(new_offset);
            // The row that was at the top is now `offset - new_offset` rows down: keep it there.
            let target = f64::from(offset - new_offset) * per_row;
            glib::idle_add_local_once(move || adj.set_value(target));
        } else if value + page >= upper - 1.0 {
            let last_start = n.saturating_sub(len);
            if offset >= last_start {
                imp.following.set(true);
                return;
            }
            let new_offset = (offset + step).min(last_start);
            self.slide_to(new_offset);
            imp.following.set(new_offset == last_start);
            let bottom_row = f64::from(offset + len - new_offset);
            glib::idle_add_local_once(move || adj.set_value(bottom_row * per_row - page));
        } else {
            imp.following.set(false);
        }
    }

    /// Fetches the page of stored history before the oldest message shown.
    fn load_older(&self) {
        let imp = self.imp();
        if imp.loading_older.get() || imp.history_complete.get() || imp.opening.get() {
            return;
        }
        let (Some(core), Some((account, with)), Some(store)) = (
            imp.core.get().cloned(),
            imp.conversation.borrow().clone(),
            imp.messages.get(),
        ) else {
            return;
        };
        // Memory-only ("don't store") messages have negative ids; the store pages by positive ones.
        let Some(oldest) = store
            .item(0)
            .and_downcast::<MessageObject>()
            .map(|m| m.id())
            .filter(|id| *id > 0)
        else {
            return;
        };
        imp.loading_older.set(true);
        let view = self.downgrade();
        glib::MainContext::default().spawn_local(async move {
            let result = core
                .call(Command::History {
                    account: account.clone(),
                    with: with.clone(),
                    before: Some(oldest),
                    limit: Some(HISTORY_PAGE),
                })
                .await;
            let Some(view) = view.upgrade() else { return };
            let imp = view.imp();
            imp.loading_older.set(false);
            if !view.is_showing(&account, &with) || imp.opening.get() {
                return;
            }
            if let Ok(Reply::History { messages }) = result {
                imp.history_complete
                    .set(messages.len() < HISTORY_PAGE as usize);
                view.prepend_older(&messages);
            }
        });
    }

    /// Puts older messages before the loaded ones, keeping the window on what it showed.
    pub fn prepend_older(&self, messages: &[StoredMessage]) {
        let imp = self.imp();
        let (Some(store), Some(window)) = (imp.messages.get(), imp.window.get()) else {
            return;
        };
        let objects: Vec<MessageObject> = {
            let mut shown = imp.shown_ids.borrow_mut();
            messages
                .iter()
                .filter(|m| shown.insert(m.id))
                .map(MessageObject::from_stored)
                .collect()
        };
        let added = objects.len() as u32;
        imp.following.set(false);
        let (offset, len) = (window.offset(), window.size());
        // Until the slide below, the window shows `added` rows less of what it showed.
        self.release_focus_from_rows(|p| p >= offset && p + added < offset + len);
        imp.sliding.set(true);
        store.splice(0, 0, &objects);
        imp.sliding.set(false);
        self.slide_to(offset + added);
        // The user is still at the top: go on into what was just loaded.
        let view = self.downgrade();
        glib::idle_add_local_once(move || {
            if let Some(view) = view.upgrade() {
                view.scrolled();
            }
        });
    }

    /// Shows the conversation from its `index`-th loaded message on (e.g. to jump to a search
    /// result), leaving the newest messages.
    pub fn show_from(&self, index: u32) {
        let imp = self.imp();
        let (Some(store), Some(window)) = (imp.messages.get(), imp.window.get()) else {
            return;
        };
        imp.following.set(false);
        // A scroll to the newest message still pending (the open's, when a search result is
        // shown right after opening its conversation) would put the list at its bottom in the
        // next layout and slide the window away from `index`.
        imp.settling.set(false);
        // Until the rows are shown from the top (below), the scroll positions GTK sets while it
        // keeps its old rows in place are not the user's: taken as a scroll to the bottom, one
        // slid the window back and the list swung between the two places.
        imp.sliding.set(true);
        self.slide_to(index.min(store.n_items().saturating_sub(window.size())));
        // Once the list laid out its new rows (`hold_end`, in the next layout pass; before it,
        // GTK would put the rows it showed back in place), show the first of them at the top.
        imp.to_top.set(true);
        if imp.list_view.is_mapped() && imp.layout_watch.borrow().is_some() {
            imp.list_view.queue_resize();
        } else {
            let view = self.downgrade();
            glib::idle_add_local_once(move || {
                if let Some(view) = view.upgrade() {
                    view.show_top();
                }
            });
        }
    }

    /// Shows the list from its first row, ending `show_from`.
    fn show_top(&self) {
        let imp = self.imp();
        imp.to_top.set(false);
        imp.scroller.vadjustment().set_value(0.0);
        imp.sliding.set(false);
    }

    /// Connects the window's frame clock: `hold_end` runs in every layout pass (after GTK
    /// allocated the widgets), `end_settling` after every painted frame.
    fn watch_layout(&self) {
        let Some(clock) = self.frame_clock() else {
            return;
        };
        let view = self.downgrade();
        let layout = clock.connect_layout(move |clock| {
            if let Some(view) = view.upgrade() {
                view.hold_end(clock);
            }
        });
        let view = self.downgrade();
        let painted = clock.connect_after_paint(move |clock| {
            if let Some(view) = view.upgrade() {
                view.end_settling(clock);
            }
        });
        self.imp()
            .layout_watch
            .replace(Some((clock, vec![layout, painted])));
    }

    /// While a scroll to the newest message is pending, puts the list at its bottom inside the
    /// frame being laid out, so the first frame painted after history or live messages arrive
    /// already shows the newest message (not the top of the list, then a jump a frame later).
    ///
    /// Two GTK 4.8 facts make this work: the frame clock repeats its layout phase (up to four
    /// times) while an allocation is queued during it, and `GtkListView` measures row widgets
    /// it created for new items only in its next allocation — so the first pass after a model
    /// change reports a list no taller than the viewport. Hence: if the list is not at its
    /// bottom, move it there (the new value re-anchors the list, which queues the next pass);
    /// if it is, queue one more pass (at most `EXTRA_PASSES` a frame, and none once a pass left
    /// the list's height unchanged) so freshly made rows are measured before the frame is
    /// painted.
    fn hold_end(&self, clock: &gdk::FrameClock) {
        let imp = self.imp();
        if imp.to_top.get() && imp.list_view.is_mapped() {
            self.show_top();
            return;
        }
        if !imp.settling.get() || !imp.list_view.is_mapped() {
            return;
        }
        let frame = clock.frame_counter();
        let adj = imp.scroller.vadjustment();
        let (upper, bottom) = (adj.upper(), adj.upper() - adj.page_size());
        let (held_in, passes, last_upper) = imp.held.get();
        let (passes, settled) = if held_in == frame {
            // The last pass changed nothing: the rows are measured, no further pass needed.
            (passes, (upper - last_upper).abs() < 0.5)
        } else {
            (0, false)
        };
        if adj.value() < bottom {
            imp.held.set((frame, passes, upper));
            adj.set_value(bottom);
        } else if passes < EXTRA_PASSES && !settled {
            imp.held.set((frame, passes + 1, upper));
            imp.list_view.queue_resize();
        }
    }

    /// After a frame in which `hold_end` held the list at its bottom (or when the list is not
    /// on screen), the scroll is done.
    fn end_settling(&self, clock: &gdk::FrameClock) {
        let imp = self.imp();
        if imp.settling.get()
            && (imp.held.get().0 == clock.frame_counter() || !imp.list_view.is_mapped())
        {
            imp.settling.set(false);
        }
    }

    /// Shows the newest message: in the next frame's layout when the view is on screen (see
    /// `hold_end`), otherwise once idle.
    fn scroll_to_end(&self) {
        let imp = self.imp();
        imp.settling.set(true);
        if imp.list_view.is_mapped() && imp.layout_watch.borrow().is_some() {
            imp.list_view.queue_resize();
            return;
        }
        let adj = imp.scroller.vadjustment();
        let view = self.downgrade();
        glib::idle_add_local_once(move || {
            adj.set_value(adj.upper());
            if let Some(view) = view.upgrade() {
                view.imp().settling.set(false);
            }
        });
    }

    fn send(&self) {
        let imp = self.imp();
        let body = imp.composer.text().to_string();
        if body.trim().is_empty() {
            return;
        }
        if let Some(message) = self.editing() {
            self.send_correction(&message, body);
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

/// The position of the message with local id `id` in `store`, searched from the newest (live
/// updates are mostly about recent messages).
fn position_from_end(store: &gio::ListStore, id: i64) -> Option<u32> {
    (0..store.n_items()).rev().find(|&i| {
        store
            .item(i)
            .and_downcast::<MessageObject>()
            .is_some_and(|m| m.id() == id)
    })
}

/// A row widget for a new list item: one of `rows` that no list item holds, or a new one (kept
/// in `rows` while there are fewer than `ROWS_KEPT`).
fn free_row(rows: &RefCell<Vec<MessageRow>>) -> MessageRow {
    let mut rows = rows.borrow_mut();
    if let Some(row) = rows.iter().find(|row| row.parent().is_none()) {
        return row.clone();
    }
    let row = MessageRow::default();
    if rows.len() < ROWS_KEPT {
        rows.push(row.clone());
    }
    row
}

/// Polls `future` on this thread until it is ready or `limit` has passed (then it can still be
/// awaited elsewhere: it keeps its state). The thread sleeps between polls until the future's
/// waker is called.
fn wait_briefly<F: Future + Unpin>(future: &mut F, limit: Duration) -> Option<F::Output> {
    struct Unpark(std::thread::Thread);
    impl std::task::Wake for Unpark {
        fn wake(self: std::sync::Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = std::task::Waker::from(std::sync::Arc::new(Unpark(std::thread::current())));
    let mut context = std::task::Context::from_waker(&waker);
    let deadline = Instant::now() + limit;
    loop {
        if let std::task::Poll::Ready(output) = std::pin::Pin::new(&mut *future).poll(&mut context)
        {
            return Some(output);
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return None;
        }
        std::thread::park_timeout(left);
    }
}

/// What the empty message box says: "Message to" the contact's name when the user named it
/// (`ui::contact_names`; the header's subtitle shows the address), else its address.
fn composer_placeholder(account: &str, peer: &str) -> String {
    format!(
        "Message to {}",
        crate::ui::contact_names::title_of(account, peer)
    )
}
