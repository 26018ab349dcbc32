//! The offer to follow a destroyed room's owner to the room they suggest instead (XEP-0045
//! `<destroy jid=…>`), inline above the open conversation: a bar (no dialog in the way) that
//! says why the room is gone and offers *Join <alternate>* and *Dismiss*. Its buttons use the
//! session view's `rooms.join-alternate` and `rooms.dismiss-alternate` actions with the
//! (account, destroyed room) target; the view says which room's offer to show.
//!
//! A plain box rather than `GtkInfoBar` (deprecated, and its inner `GtkRevealer` trips GTK
//! 4.8's height-for-width check with a wrapping label) or `AdwBanner` (libadwaita 1.3).

use std::cell::OnceCell;

use gtk4::prelude::*;
use gtk4::subclass::prelude::*;
use gtk4::{glib, pango};

mod imp {
    use super::{OnceCell, glib, pango};
    use gtk4::prelude::*;
    use gtk4::subclass::prelude::*;

    #[derive(Default)]
    pub struct RoomMovedBanner {
        pub label: OnceCell<gtk4::Label>,
        pub join: OnceCell<gtk4::Button>,
        pub dismiss: OnceCell<gtk4::Button>,
    }

    #[glib::object_subclass]
    impl ObjectSubclass for RoomMovedBanner {
        const NAME: &'static str = "TalpaRoomMovedBanner";
        type Type = super::RoomMovedBanner;
        type ParentType = gtk4::Box;
    }

    impl ObjectImpl for RoomMovedBanner {
        fn constructed(&self) {
            self.parent_constructed();
            let banner = self.obj();
            banner.set_orientation(gtk4::Orientation::Horizontal);
            banner.set_spacing(12);
            banner.set_margin_start(12);
            banner.set_margin_end(12);
            banner.set_margin_top(6);
            banner.set_margin_bottom(6);
            banner.add_css_class("room-moved-banner");
            banner.set_visible(false);
            let label = gtk4::Label::builder()
                .xalign(0.0)
                .hexpand(true)
                .wrap(true)
                .wrap_mode(pango::WrapMode::WordChar)
                .build();
            let join = gtk4::Button::builder()
                .valign(gtk4::Align::Center)
                .css_classes(["suggested-action"])
                .build();
            let dismiss = gtk4::Button::builder()
                .label("Dismiss")
                .valign(gtk4::Align::Center)
                .tooltip_text("Hide this suggestion")
                .build();
            banner.append(&label);
            banner.append(&join);
            banner.append(&dismiss);
            let _ = self.label.set(label);
            let _ = self.join.set(join);
            let _ = self.dismiss.set(dismiss);
        }
    }

    impl WidgetImpl for RoomMovedBanner {}
    impl BoxImpl for RoomMovedBanner {}
}

glib::wrapper! {
    /// The inline offer to join a destroyed room's suggested alternate (see the module).
    pub struct RoomMovedBanner(ObjectSubclass<imp::RoomMovedBanner>)
        @extends gtk4::Box, gtk4::Widget,
        @implements gtk4::Buildable, gtk4::ConstraintTarget, gtk4::Orientable;
}

impl Default for RoomMovedBanner {
    fn default() -> Self {
        Self::new()
    }
}

impl RoomMovedBanner {
    /// A hidden banner.
    pub fn new() -> Self {
        glib::Object::new()
    }

    /// Shows the offer for `account`'s destroyed `room`: `text` says why it is gone
    /// ("This room was destroyed: …") and `alternate` is the room its owner suggests.
    pub fn offer(&self, account: &str, room: &str, text: &str, alternate: &str) {
        let imp = self.imp();
        let target = (account.to_owned(), room.to_owned()).to_variant();
        if let Some(label) = imp.label.get() {
            label.set_label(&format!("{text}. Its owner suggests {alternate} instead."));
        }
        if let Some(join) = imp.join.get() {
            join.set_label(&format!("Join {alternate}"));
            join.set_tooltip_text(Some(&format!("Join {alternate} with the same nickname")));
            // The target first: an action name without its (account, room) target warns.
            join.set_action_target_value(Some(&target));
            join.set_action_name(Some("rooms.join-alternate"));
        }
        if let Some(dismiss) = imp.dismiss.get() {
            dismiss.set_action_target_value(Some(&target));
            dismiss.set_action_name(Some("rooms.dismiss-alternate"));
        }
        self.set_visible(true);
    }

    /// Hides the offer.
    pub fn withdraw(&self) {
        self.set_visible(false);
    }

    /// What the banner says (empty while hidden).
    pub fn text(&self) -> String {
        if !self.is_visible() {
            return String::new();
        }
        self.imp()
            .label
            .get()
            .map(|l| l.label().to_string())
            .unwrap_or_default()
    }

    /// The *Join <alternate>* button.
    pub fn join_button(&self) -> Option<gtk4::Button> {
        self.imp().join.get().cloned()
    }

    /// The *Dismiss* button.
    pub fn dismiss_button(&self) -> Option<gtk4::Button> {
        self.imp().dismiss.get().cloned()
    }
}
