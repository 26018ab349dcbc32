//! One conversation (an account and a peer) as the sidebar shows it.

use std::cell::{Cell, RefCell};

use gtk4::glib;
use gtk4::glib::prelude::*;
use gtk4::glib::subclass::prelude::*;

mod imp {
    #[allow(clippy::wildcard_imports)]
    // gtk-rs subclass idiom: imp shares its wrapper's imports
    use super::*;

    #[derive(Default, glib::Properties)]
    #[properties(wrapper_type = super::ConversationObject)]
    pub struct ConversationObject {
        /// The account's bare JID.
        #[property(get, set)]
        account: RefCell<String>,
        /// The peer's bare JID (contact or room).
        #[property(get, set)]
        peer: RefCell<String>,
        /// Messages received while the conversation was not shown.
        #[property(get, set)]
        unread: Cell<u32>,
        /// The account's colour label index.
        #[property(get, set)]
        colour: Cell<u32>,
        /// Whether the peer is a group chat (a room) rather than one person.
        #[property(get, set)]
        is_room: Cell<bool>,
        /// Whether the peer is in the account's contact list (roster).
        #[property(get, set)]
        in_roster: Cell<bool>,
        /// Whether new messages here raise a desktop notification.
        #[property(get, set, default = true)]
        notify: Cell<bool>,
        /// A room's subject (empty when none is set).
        #[property(get, set)]
        subject: RefCell<String>,
        /// Why we are no longer in this room, as user text (empty while joined).
        #[property(get, set)]
        left_reason: RefCell<String>,
        /// Whether joining the room again may work (kicked, left elsewhere, server restart).
        #[property(get, set)]
        rejoinable: Cell<bool>,
        /// Our nickname in the room, as last joined (empty when unknown).
        #[property(get, set)]
        nick: RefCell<String>,
        /// The name the user gave the contact on this device (empty when none).
        #[property(get, set)]
        display_name: RefCell<String>,
    }

    #[glib::object_subclass]
    impl ObjectSubclass for ConversationObject {
        const NAME: &'static str = "TalpaConversationObject";
        type Type = super::ConversationObject;
    }

    #[glib::derived_properties]
    impl ObjectImpl for ConversationObject {}
}

glib::wrapper! {
    /// A conversation in the sidebar's list model.
    pub struct ConversationObject(ObjectSubclass<imp::ConversationObject>);
}

impl ConversationObject {
    /// A conversation of `account` with `peer`, nothing unread.
    pub fn new(account: &str, peer: &str) -> Self {
        glib::Object::builder()
            .property("account", account)
            .property("peer", peer)
            .property("colour", super::account_colour_index(account))
            .property("notify", true)
            .build()
    }

    /// Whether this is the conversation of `account` with `peer`.
    pub fn is(&self, account: &str, peer: &str) -> bool {
        self.account() == account && self.peer() == peer
    }
}
