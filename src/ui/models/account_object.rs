//! One account as the sidebar shows it.

use std::cell::{Cell, RefCell};

use gtk4::glib;
use gtk4::glib::prelude::*;
use gtk4::glib::subclass::prelude::*;

use crate::core::events::AccountSummary;

mod imp {
    #[allow(clippy::wildcard_imports)]
    // gtk-rs subclass idiom: imp shares its wrapper's imports
    use super::*;

    #[derive(Default, glib::Properties)]
    #[properties(wrapper_type = super::AccountObject)]
    pub struct AccountObject {
        /// The account's bare JID (its id).
        #[property(get, set)]
        jid: RefCell<String>,
        /// The connection state as the core names it.
        #[property(get, set)]
        state: RefCell<String>,
        /// Extra detail about the state (error text …).
        #[property(get, set)]
        detail: RefCell<String>,
        /// Whether the account is enabled.
        #[property(get, set)]
        enabled: Cell<bool>,
        /// The account's colour label index.
        #[property(get, set)]
        colour: Cell<u32>,
    }

    #[glib::object_subclass]
    impl ObjectSubclass for AccountObject {
        const NAME: &'static str = "TalpaAccountObject";
        type Type = super::AccountObject;
    }

    #[glib::derived_properties]
    impl ObjectImpl for AccountObject {}
}

glib::wrapper! {
    /// An account in the sidebar's list model.
    pub struct AccountObject(ObjectSubclass<imp::AccountObject>);
}

impl AccountObject {
    /// Wraps an account summary from the core.
    pub fn from_summary(s: &AccountSummary) -> Self {
        glib::Object::builder()
            .property("jid", &s.jid)
            .property("state", &s.state)
            .property("enabled", s.enabled)
            .property("colour", super::account_colour_index(&s.jid))
            .build()
    }
}
