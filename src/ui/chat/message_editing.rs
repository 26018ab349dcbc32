//! Editing one's own messages from the conversation view: correcting the last own message
//! (XEP-0308, from a message's context menu or with Up in an empty composer, as Dino and
//! Conversations do) and retracting ("delete for everyone", XEP-0424) any own message after a
//! confirmation. The core does the protocol (and encrypts both like the conversation); the view
//! only names the message by the origin-id the core reported with it.

use gtk4::prelude::*;
use gtk4::subclass::prelude::*;
use gtk4::{gdk, gio, glib};
use libadwaita as adw;
use libadwaita::prelude::*;

use crate::core::{Command, CoreError};
use crate::ui::chat::{ConversationView, MessageRow};
use crate::ui::models::MessageObject;
use crate::ui::{toast, user_text};

/// The action group the message menu's items live in (`msg.correct`, `msg.retract`), both
/// taking the message's local id.
pub const ACTION_GROUP: &str = "msg";

/// Installs the `msg.*` actions and the composer's Up / Escape keys on `view`.
pub fn install(view: &ConversationView, composer: &gtk4::Entry) {
    let group = gio::SimpleActionGroup::new();
    let correct = gio::SimpleAction::new("correct", Some(glib::VariantTy::INT64));
    correct.connect_activate(glib::clone!(
        #[weak]
        view,
        move |_, id| {
            if let Some(m) = id
                .and_then(glib::Variant::get::<i64>)
                .and_then(|id| view.message_by_id(id))
            {
                view.start_correction(&m);
            }
        }
    ));
    let retract = gio::SimpleAction::new("retract", Some(glib::VariantTy::INT64));
    retract.connect_activate(glib::clone!(
        #[weak]
        view,
        move |_, id| {
            if let Some(m) = id
                .and_then(glib::Variant::get::<i64>)
                .and_then(|id| view.message_by_id(id))
            {
                view.confirm_retraction(&m);
            }
        }
    ));
    group.add_action(&correct);
    group.add_action(&retract);
    view.insert_action_group(ACTION_GROUP, Some(&group));

    let keys = gtk4::EventControllerKey::new();
    // Before the entry's own key handling (Up would otherwise move focus).
    keys.set_propagation_phase(gtk4::PropagationPhase::Capture);
    keys.connect_key_pressed(glib::clone!(
        #[weak]
        view,
        #[weak]
        composer,
        #[upgrade_or]
        glib::Propagation::Proceed,
        move |_, key, _, modifiers| {
            if !modifiers.is_empty() {
                return glib::Propagation::Proceed;
            }
            match key {
                gdk::Key::Up if composer.text().is_empty() && view.editing().is_none() => {
                    if let Some(last) = view.last_own_message() {
                        view.start_correction(&last);
                        return glib::Propagation::Stop;
                    }
                    glib::Propagation::Proceed
                }
                gdk::Key::Escape if view.editing().is_some() => {
                    view.cancel_correction();
                    glib::Propagation::Stop
                }
                _ => glib::Propagation::Proceed,
            }
        }
    ));
    composer.add_controller(keys);
}

/// The Menu key and Shift+F10 on a focused message open its menu, as a secondary click does.
pub fn install_list_keys(view: &ConversationView, list: &gtk4::ListView) {
    let keys = gtk4::EventControllerKey::new();
    keys.connect_key_pressed(glib::clone!(
        #[weak]
        view,
        #[upgrade_or]
        glib::Propagation::Proceed,
        move |_, key, _, modifiers| {
            let menu_key = key == gdk::Key::Menu && modifiers.is_empty()
                || key == gdk::Key::F10 && modifiers == gdk::ModifierType::SHIFT_MASK;
            if menu_key && view.open_focused_menu() {
                glib::Propagation::Stop
            } else {
                glib::Propagation::Proceed
            }
        }
    ));
    list.add_controller(keys);
}

/// The context menu of `message` shown in `row`: "Correct" for the last own message, "Delete
/// for Everyone" for every own message. `None` when nothing can be done with it.
pub fn show_menu(
    row: &MessageRow,
    message: &MessageObject,
    x: f64,
    y: f64,
) -> Option<gtk4::PopoverMenu> {
    let view = row
        .ancestor(ConversationView::static_type())
        .and_downcast::<ConversationView>()?;
    if !message.editable() {
        return None;
    }
    let menu = gio::Menu::new();
    let target = message.id().to_variant();
    if view
        .last_own_message()
        .is_some_and(|last| last.id() == message.id())
    {
        let item = gio::MenuItem::new(Some("Correct"), None);
        item.set_action_and_target_value(Some("msg.correct"), Some(&target));
        menu.append_item(&item);
    }
    let item = gio::MenuItem::new(Some("Delete for Everyone"), None);
    item.set_action_and_target_value(Some("msg.retract"), Some(&target));
    menu.append_item(&item);
    // One menu for the whole view, outside the recycled list rows (a popover inside a list
    // row leaves the list's focus chain pointing at it once it closes).
    let popover = view.menu_popover();
    popover.set_menu_model(Some(&menu));
    let (x, y) = row.translate_coordinates(&view, x, y).unwrap_or((x, y));
    // Pointer coordinates are fractions of pixels; the rectangle takes whole ones.
    #[allow(clippy::cast_possible_truncation)]
    popover.set_pointing_to(Some(&gdk::Rectangle::new(x as i32, y as i32, 1, 1)));
    popover.popup();
    Some(popover)
}

impl ConversationView {
    /// The view's message menu (made on first use, unparented when the view is disposed).
    pub fn menu_popover(&self) -> gtk4::PopoverMenu {
        let imp = self.imp();
        imp.menu
            .get_or_init(|| {
                let popover = gtk4::PopoverMenu::from_model(None::<&gio::MenuModel>);
                popover.set_has_arrow(false);
                popover.set_parent(self);
                popover.connect_closed(glib::clone!(
                    #[weak(rename_to = view)]
                    self,
                    move |_| {
                        view.imp().composer.grab_focus();
                    }
                ));
                popover
            })
            .clone()
    }

    /// Opens the menu of the message row holding the keyboard focus; false when none has it or
    /// the message has no menu.
    pub fn open_focused_menu(&self) -> bool {
        let list: &gtk4::ListView = self.list_view();
        let Some(item) = list.focus_child() else {
            return false;
        };
        // The focused list item holds the row (GTK wraps it in its own item widget).
        let row = item
            .downcast_ref::<MessageRow>()
            .cloned()
            .or_else(|| item.first_child().and_downcast::<MessageRow>());
        row.is_some_and(|row| {
            let (w, h) = (f64::from(row.width()), f64::from(row.height()));
            row.show_menu(w / 4.0, h / 2.0)
        })
    }

    /// The loaded message with this local id.
    pub fn message_by_id(&self, id: i64) -> Option<MessageObject> {
        self.messages()?
            .iter::<MessageObject>()
            .flatten()
            .find(|m| m.id() == id)
    }

    /// The newest own message, if the user can still correct it.
    pub fn last_own_message(&self) -> Option<MessageObject> {
        let store = self.messages()?;
        let n = store.n_items();
        (0..n)
            .rev()
            .filter_map(|i| store.item(i).and_downcast::<MessageObject>())
            .find(MessageObject::outgoing)
            .filter(MessageObject::editable)
    }

    /// The message being corrected now, if any.
    pub fn editing(&self) -> Option<MessageObject> {
        self.imp().editing.borrow().clone()
    }

    /// Puts `message`'s text into the composer; sending it then corrects the message.
    pub fn start_correction(&self, message: &MessageObject) {
        if !message.editable() {
            return;
        }
        let imp = self.imp();
        imp.editing.replace(Some(message.clone()));
        imp.edit_bar.set_visible(true);
        imp.composer.set_text(&message.body());
        imp.composer.grab_focus();
        imp.composer.set_position(-1);
    }

    /// Leaves correction mode and empties the composer.
    pub fn cancel_correction(&self) {
        let imp = self.imp();
        if imp.editing.take().is_some() {
            imp.composer.set_text("");
        }
        imp.edit_bar.set_visible(false);
    }

    /// Sends the composer's text as a correction of the message being edited.
    pub(super) fn send_correction(&self, message: &MessageObject, body: String) {
        let imp = self.imp();
        let (Some((account, with)), Some(core)) =
            (imp.conversation.borrow().clone(), imp.core.get().cloned())
        else {
            return;
        };
        self.cancel_correction();
        if body == message.body() {
            return;
        }
        let command = Command::Correct {
            account,
            with,
            message: message.origin_id(),
            body: body.clone(),
        };
        let view = self.downgrade();
        let message = message.clone();
        glib::MainContext::default().spawn_local(async move {
            let result = core.call(command).await;
            if let (Err(e), Some(view)) = (result, view.upgrade()) {
                // Back into correction mode with the text, unless the user moved on.
                if view.imp().composer.text().is_empty() {
                    view.start_correction(&message);
                    view.imp().composer.set_text(&body);
                }
                toast(&view, &failed("corrected", &e));
            }
        });
    }

    /// Asks whether to delete `message` for everyone, and retracts it if so.
    pub fn confirm_retraction(&self, message: &MessageObject) {
        if !message.editable() {
            return;
        }
        let parent = self.root().and_downcast::<gtk4::Window>();
        let dialog = adw::MessageDialog::new(
            parent.as_ref(),
            Some("Delete for everyone?"),
            Some(
                "The message is erased here and the others are asked to erase it too. Clients \
                 that do not support deletion, and anyone who already read it, keep the text.",
            ),
        );
        dialog.set_application(parent.and_then(|p| p.application()).as_ref());
        dialog.add_response("cancel", "Cancel");
        dialog.add_response("delete", "Delete");
        dialog.set_response_appearance("delete", adw::ResponseAppearance::Destructive);
        dialog.set_default_response(Some("cancel"));
        dialog.set_close_response("cancel");
        dialog.set_destroy_with_parent(true);
        let view = self.downgrade();
        let message = message.clone();
        dialog.connect_response(None, move |_, response| {
            if response == "delete"
                && let Some(view) = view.upgrade()
            {
                view.retract(&message);
            }
        });
        dialog.present();
    }

    /// Retracts `message` without asking (the confirmation already happened).
    pub fn retract(&self, message: &MessageObject) {
        let imp = self.imp();
        let (Some((account, with)), Some(core)) =
            (imp.conversation.borrow().clone(), imp.core.get().cloned())
        else {
            return;
        };
        if self.editing().is_some_and(|m| m.id() == message.id()) {
            self.cancel_correction();
        }
        let command = Command::Retract {
            account,
            with,
            message: message.origin_id(),
        };
        let view = self.downgrade();
        glib::MainContext::default().spawn_local(async move {
            let result = core.call(command).await;
            if let (Err(e), Some(view)) = (result, view.upgrade()) {
                toast(&view, &failed("deleted", &e));
            }
        });
    }
}

fn failed(what: &str, e: &CoreError) -> String {
    format!("The message was not {what}. {}", user_text::error_text(e))
}
