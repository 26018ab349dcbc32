//! One message in the conversation view: sender, time, encryption badge, text, and a note
//! (why an own message is held, who in a room cannot read it). In a conversation with a
//! contact the user named, the contact's messages are signed with that name (the header's
//! subtitle shows the address); a room's are signed with the sender's own nickname.

use gtk4::prelude::*;
use gtk4::subclass::prelude::*;
use std::cell::RefCell;

use gtk4::{CompositeTemplate, gdk, glib};

use crate::ui::models::MessageObject;
use crate::ui::user_text;

thread_local! {
    /// The conversation with a contact on screen (account, contact); none for a room.
    static CONTACT: RefCell<Option<(String, String)>> = const { RefCell::new(None) };
}

/// Notes the conversation the window opens (its rows are bound after this): a contact's
/// messages are signed with its name, a room's never are.
pub fn opened(account: &str, peer: &str, is_room: bool) {
    CONTACT.with_borrow_mut(|c| {
        *c = (!is_room).then(|| (account.to_owned(), peer.to_owned()));
    });
}

/// The name the user gave the contact on screen, when it wrote `sender`.
fn contact_name(sender: &str) -> Option<String> {
    CONTACT.with_borrow(|c| {
        let (account, peer) = c.as_ref()?;
        let bare = sender.split_once('/').map_or(sender, |(bare, _)| bare);
        if bare != peer {
            return None;
        }
        crate::ui::contact_names::name_of(account, peer).map(|n| n.text)
    })
}

/// Who a row says wrote `message`: "You", the contact's name, or the sender as stored.
pub(crate) fn shown_sender(message: &MessageObject) -> String {
    if message.outgoing() {
        "You".to_owned()
    } else {
        let sender = message.sender();
        contact_name(&sender).unwrap_or(sender)
    }
}

/// Binds again the rows `view` shows now (after a contact was renamed).
pub fn rebind_shown(view: &crate::ui::chat::ConversationView) {
    for_each_row(view, |row| {
        if let Some(message) = row.message() {
            row.bind(&message);
        }
    });
}

/// Calls `f` with every message row widget `view`'s list holds now.
pub(crate) fn for_each_row(
    view: &crate::ui::chat::ConversationView,
    mut f: impl FnMut(&MessageRow),
) {
    fn walk(widget: &gtk4::Widget, f: &mut dyn FnMut(&MessageRow)) {
        if let Some(row) = widget.downcast_ref::<MessageRow>() {
            f(row);
            return;
        }
        let mut child = widget.first_child();
        while let Some(c) = child {
            walk(&c, f);
            child = c.next_sibling();
        }
    }
    walk(view.list_view().upcast_ref(), &mut f);
}

mod imp {
    #[allow(clippy::wildcard_imports)]
    // gtk-rs subclass idiom: imp shares its wrapper's imports
    use super::*;

    #[allow(clippy::struct_field_names)] // template ids name the widget kind on purpose
    #[derive(Default, CompositeTemplate)]
    #[template(file = "../../../ui/chat/message_row.ui")]
    pub struct MessageRow {
        #[template_child]
        pub sender_label: TemplateChild<gtk4::Label>,
        #[template_child]
        pub time_label: TemplateChild<gtk4::Label>,
        #[template_child]
        pub badge_label: TemplateChild<gtk4::Label>,
        #[template_child]
        pub body_label: TemplateChild<gtk4::Label>,
        #[template_child]
        pub edited_label: TemplateChild<gtk4::Label>,
        /// Why an own message is held, or who in the room cannot read it.
        #[template_child]
        pub note_label: TemplateChild<gtk4::Label>,
        /// The message shown now (rows are recycled), for its context menu.
        pub message: RefCell<Option<MessageObject>>,
    }

    #[glib::object_subclass]
    impl ObjectSubclass for MessageRow {
        const NAME: &'static str = "TalpaMessageRow";
        type Type = super::MessageRow;
        type ParentType = gtk4::Box;

        fn class_init(klass: &mut Self::Class) {
            klass.bind_template();
        }

        fn instance_init(obj: &glib::subclass::InitializingObject<Self>) {
            obj.init_template();
        }
    }

    impl ObjectImpl for MessageRow {
        fn constructed(&self) {
            self.parent_constructed();
            let obj = self.obj();
            crate::ui::chat::message_notes::set_up(&self.note_label);
            crate::ui::chat::attachment_row::install(&obj);
            // Secondary click, and a long press on touch screens, open the message's menu.
            let click = gtk4::GestureClick::new();
            click.set_button(gdk::BUTTON_SECONDARY);
            click.connect_pressed(glib::clone!(
                #[weak]
                obj,
                move |gesture, _, x, y| {
                    if obj.show_menu(x, y) {
                        gesture.set_state(gtk4::EventSequenceState::Claimed);
                    }
                }
            ));
            obj.add_controller(click);
            let press = gtk4::GestureLongPress::new();
            press.set_touch_only(true);
            press.connect_pressed(glib::clone!(
                #[weak]
                obj,
                move |_, x, y| {
                    obj.show_menu(x, y);
                }
            ));
            obj.add_controller(press);
        }
    }
    impl WidgetImpl for MessageRow {}
    impl BoxImpl for MessageRow {}
}

glib::wrapper! {
    /// A recycled row of the conversation's `GtkListView`.
    pub struct MessageRow(ObjectSubclass<imp::MessageRow>)
        @extends gtk4::Box, gtk4::Widget,
        @implements gtk4::Buildable, gtk4::ConstraintTarget, gtk4::Orientable;
}

impl Default for MessageRow {
    fn default() -> Self {
        glib::Object::new()
    }
}

const BADGE_CLASSES: [&str; 4] = [
    "badge-omemo2",
    "badge-omemo-legacy",
    "badge-pending",
    "badge-unencrypted",
];

impl MessageRow {
    /// Shows `message` in this (possibly recycled) row.
    pub fn bind(&self, message: &MessageObject) {
        let imp = self.imp();
        let sender = shown_sender(message);
        imp.sender_label.set_label(&sender);
        crate::ui::chat::sender_lookalike::show(&imp.sender_label, message, &sender);
        imp.time_label
            .set_label(&format_time(message.timestamp_ms()));
        let (badge, class, tooltip) = user_text::encryption_badge(&message.encryption());
        // Each class change restyles the label: a recycled row usually keeps its badge.
        if !imp.badge_label.has_css_class(class) {
            for c in BADGE_CLASSES {
                imp.badge_label.remove_css_class(c);
            }
            imp.badge_label.add_css_class(class);
        }
        imp.badge_label.set_label(badge);
        // The tooltip is also what screen readers announce for the badge. GTK 4.8 looks for the
        // pointer (X round trips) whenever a shown widget's tooltip changes, which for every
        // row bound cost about a tenth of opening a conversation; a hidden widget's tooltip is
        // only stored.
        if imp.badge_label.tooltip_text().as_deref() != Some(tooltip) {
            imp.badge_label.set_visible(false);
            imp.badge_label.set_tooltip_text(Some(tooltip));
            imp.badge_label.set_visible(true);
        }
        let body = if message.retracted() {
            "This message was deleted.".to_owned()
        } else {
            message.body()
        };
        imp.body_label.set_label(&body);
        imp.edited_label
            .set_visible(message.corrected() && !message.retracted());
        let note = message.note();
        imp.note_label.set_visible(!note.is_empty());
        imp.note_label.set_label(&note);
        imp.message.replace(Some(message.clone()));
        crate::ui::chat::attachment_row::show(self, message);
        if message.retracted() {
            imp.body_label.add_css_class("dim-label");
        } else {
            imp.body_label.remove_css_class("dim-label");
        }
        if message.outgoing() {
            self.add_css_class("outgoing");
        } else {
            self.remove_css_class("outgoing");
        }
        crate::ui::chat::found_message::show(self, message);
    }

    /// Empties the row when it is recycled, so no text stays in an unused widget.
    pub fn unbind(&self) {
        let imp = self.imp();
        imp.message.replace(None);
        imp.sender_label.set_label("");
        imp.body_label.set_label("");
        imp.time_label.set_label("");
        imp.note_label.set_label("");
    }
}

impl MessageRow {
    /// Opens the shown message's context menu at (`x`, `y`); false when it has none (not an own,
    /// stored, undeleted message).
    pub fn show_menu(&self, x: f64, y: f64) -> bool {
        let Some(message) = self.imp().message.borrow().clone() else {
            return false;
        };
        crate::ui::chat::message_editing::show_menu(self, &message, x, y).is_some()
    }

    /// The message this row shows now.
    pub fn message(&self) -> Option<MessageObject> {
        self.imp().message.borrow().clone()
    }
}

/// Local wall-clock time of a message, `HH:MM` today or `YYYY-MM-DD HH:MM` otherwise.
pub(crate) fn format_time(timestamp_ms: i64) -> String {
    let Ok(utc) = glib::DateTime::from_unix_utc(timestamp_ms.div_euclid(1000)) else {
        return String::new();
    };
    let Ok(local) = utc.to_local() else {
        return String::new();
    };
    let today = glib::DateTime::now_local().is_ok_and(|now| now.ymd() == local.ymd());
    let format = if today { "%H:%M" } else { "%Y-%m-%d %H:%M" };
    local
        .format(format)
        .map(|s| s.to_string())
        .unwrap_or_default()
}
