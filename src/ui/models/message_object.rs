//! One message as the conversation view shows it.

use std::cell::{Cell, RefCell};

use gtk4::glib;
use gtk4::glib::prelude::*;
use gtk4::glib::subclass::prelude::*;

use crate::core::events::StoredMessage;

mod imp {
    #[allow(clippy::wildcard_imports)]
    // gtk-rs subclass idiom: imp shares its wrapper's imports
    use super::*;

    #[derive(Default, glib::Properties)]
    #[properties(wrapper_type = super::MessageObject)]
    pub struct MessageObject {
        /// Local id, unique within the profile.
        #[property(get, set)]
        id: Cell<i64>,
        /// Who sent it (bare JID or room nick).
        #[property(get, set)]
        sender: RefCell<String>,
        /// The text.
        #[property(get, set)]
        body: RefCell<String>,
        /// Unix time in milliseconds.
        #[property(get, set)]
        timestamp_ms: Cell<i64>,
        /// `omemo2`, `omemo`, `pending` (to be encrypted, not sent yet) or `none`.
        #[property(get, set)]
        encryption: RefCell<String>,
        /// Whether the user sent it.
        #[property(get, set)]
        outgoing: Cell<bool>,
        /// Whether it was corrected.
        #[property(get, set)]
        corrected: Cell<bool>,
        /// Whether its sender retracted it (the text is gone).
        #[property(get, set)]
        retracted: Cell<bool>,
        /// The origin-id of an outgoing stored message (empty otherwise): what the core's
        /// `correct` and `retract` name it by.
        #[property(get, set)]
        origin_id: RefCell<String>,
        /// A note under an outgoing message (why it is held, who cannot read it); empty if
        /// none.
        #[property(get, set)]
        note: RefCell<String>,
    }

    #[glib::object_subclass]
    impl ObjectSubclass for MessageObject {
        const NAME: &'static str = "TalpaMessageObject";
        type Type = super::MessageObject;
    }

    #[glib::derived_properties]
    impl ObjectImpl for MessageObject {}
}

glib::wrapper! {
    /// A message in a conversation's list model.
    pub struct MessageObject(ObjectSubclass<imp::MessageObject>);
}

impl MessageObject {
    /// Wraps a message the core reported.
    pub fn from_stored(m: &StoredMessage) -> Self {
        glib::Object::builder()
            .property("id", m.id)
            .property("sender", &m.from)
            .property("body", if m.retracted { "" } else { m.body.as_str() })
            .property("timestamp-ms", m.timestamp_ms)
            .property("encryption", &m.encryption)
            .property("outgoing", m.direction == "out")
            .property("corrected", m.corrected)
            .property("retracted", m.retracted)
            .property("origin-id", m.origin_id.as_deref().unwrap_or_default())
            .property(
                "note",
                crate::ui::chat::message_notes::note_for(
                    m.origin_id.as_deref().unwrap_or_default(),
                    &m.encryption,
                ),
            )
            .build()
    }

    /// Whether the user may correct or retract it: an own, stored, not retracted message.
    pub fn editable(&self) -> bool {
        self.outgoing() && !self.retracted() && !self.origin_id().is_empty()
    }

    /// Overwrites the body so the text does not linger after the model drops it.
    pub fn forget(&self) {
        self.set_body(String::new());
        self.set_sender(String::new());
    }
}
