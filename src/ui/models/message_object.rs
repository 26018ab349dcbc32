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
        pub(super) id: Cell<i64>,
        /// Who sent it (bare JID or room nick).
        #[property(get, set)]
        pub(super) sender: RefCell<String>,
        /// The text.
        #[property(get, set)]
        pub(super) body: RefCell<String>,
        /// Unix time in milliseconds.
        #[property(get, set)]
        pub(super) timestamp_ms: Cell<i64>,
        /// `omemo2`, `omemo`, `pending` (to be encrypted, not sent yet) or `none`.
        #[property(get, set)]
        pub(super) encryption: RefCell<String>,
        /// Whether the user sent it.
        #[property(get, set)]
        pub(super) outgoing: Cell<bool>,
        /// Whether it was corrected.
        #[property(get, set)]
        pub(super) corrected: Cell<bool>,
        /// Whether its sender retracted it (the text is gone).
        #[property(get, set)]
        pub(super) retracted: Cell<bool>,
        /// The origin-id of an outgoing stored message (empty otherwise): what the core's
        /// `correct` and `retract` name it by.
        #[property(get, set)]
        pub(super) origin_id: RefCell<String>,
        /// A note under an outgoing message (why it is held, who cannot read it), as Pango
        /// markup with a "Check again" link; empty if none.
        #[property(get, set)]
        pub(super) note: RefCell<String>,
        /// The file it shares, if any (`core::files`).
        pub(super) attachment: RefCell<Option<crate::core::events::FileAttachment>>,
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
        // Fields are filled directly, not through property names: a conversation opens with a
        // page of these, and nothing observes a message before it is in the model.
        let obj: Self = glib::Object::new();
        let imp = obj.imp();
        imp.id.set(m.id);
        imp.sender.replace(m.from.clone());
        if !m.retracted {
            imp.body.replace(m.body.clone());
        }
        imp.timestamp_ms.set(m.timestamp_ms);
        imp.encryption.replace(m.encryption.clone());
        imp.outgoing.set(m.direction == "out");
        imp.corrected.set(m.corrected);
        imp.retracted.set(m.retracted);
        if let Some(origin_id) = &m.origin_id {
            imp.origin_id.replace(origin_id.clone());
        }
        imp.note
            .replace(crate::ui::chat::message_notes::note_for(m));
        imp.attachment.replace(m.notes.attachment.clone());
        obj
    }

    /// The file it shares, if any.
    pub fn attachment(&self) -> Option<crate::core::events::FileAttachment> {
        self.imp().attachment.borrow().clone()
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

#[cfg(test)]
mod tests {
    use super::MessageObject;
    use crate::core::events::StoredMessage;

    fn stored(retracted: bool) -> StoredMessage {
        StoredMessage {
            id: 42,
            account: "alice@talpa.test".into(),
            with: "bob@talpa.test".into(),
            direction: "out".into(),
            from: "alice@talpa.test".into(),
            body: "hello".into(),
            timestamp_ms: 1_700_000_000_123,
            encryption: "omemo2".into(),
            corrected: true,
            retracted,
            origin_id: Some("origin-1".into()),
            notes: crate::core::events::MessageNotes::default(),
        }
    }

    #[test]
    fn a_message_object_carries_every_field_of_the_stored_message() {
        let m = MessageObject::from_stored(&stored(false));
        assert_eq!(
            (
                m.id(),
                m.sender(),
                m.body(),
                m.timestamp_ms(),
                m.encryption()
            ),
            (
                42,
                "alice@talpa.test".to_owned(),
                "hello".to_owned(),
                1_700_000_000_123,
                "omemo2".to_owned()
            )
        );
        assert!(m.outgoing() && m.corrected() && !m.retracted());
        assert_eq!(m.origin_id(), "origin-1");
        assert!(m.editable());
    }

    #[test]
    fn a_retracted_message_object_holds_no_text() {
        let m = MessageObject::from_stored(&stored(true));
        assert!(m.retracted() && m.body().is_empty() && !m.editable());
    }
}
