//! One person present in a room, as the occupants panel shows them.

use std::cell::RefCell;

use gtk4::glib;
use gtk4::glib::prelude::*;
use gtk4::glib::subclass::prelude::*;

use crate::core::events::Occupant;

mod imp {
    #[allow(clippy::wildcard_imports)]
    // gtk-rs subclass idiom: imp shares its wrapper's imports
    use super::*;

    #[derive(Default, glib::Properties)]
    #[properties(wrapper_type = super::OccupantObject)]
    pub struct OccupantObject {
        /// The nickname in the room.
        #[property(get, set)]
        nick: RefCell<String>,
        /// The real bare JID, empty when the room hides it.
        #[property(get, set)]
        jid: RefCell<String>,
        /// `owner`, `admin`, `member`, `outcast`, `none` or empty.
        #[property(get, set)]
        affiliation: RefCell<String>,
        /// `moderator`, `participant`, `visitor`, `none` or empty.
        #[property(get, set)]
        role: RefCell<String>,
        /// The other occupant's nick this one looks like (empty when none).
        #[property(get, set)]
        lookalike_of: RefCell<String>,
    }

    #[glib::object_subclass]
    impl ObjectSubclass for OccupantObject {
        const NAME: &'static str = "TalpaOccupantObject";
        type Type = super::OccupantObject;
    }

    #[glib::derived_properties]
    impl ObjectImpl for OccupantObject {}
}

glib::wrapper! {
    /// An occupant in a room's list model.
    pub struct OccupantObject(ObjectSubclass<imp::OccupantObject>);
}

impl OccupantObject {
    /// Wraps an occupant the core reported.
    pub fn from_occupant(o: &Occupant) -> Self {
        glib::Object::builder()
            .property("nick", &o.nick)
            .property("jid", o.jid.clone().unwrap_or_default())
            .property("affiliation", o.affiliation.clone().unwrap_or_default())
            .property("role", o.role.clone().unwrap_or_default())
            .property("lookalike-of", o.lookalike_of.clone().unwrap_or_default())
            .build()
    }
}
