//! The conversation switcher (Ctrl+K): type part of a contact's or room's address, press Enter
//! (or pick a row) and that conversation opens. It filters the session's conversation model.
//! A contact the user named is listed and found by that name, and a rename while the switcher
//! is open (in the conversation settings, or a roster push from another client) shows at once.

use std::cell::{OnceCell, RefCell};
use std::sync::OnceLock;

use gtk4::glib::subclass::Signal;
use gtk4::prelude::*;
use gtk4::subclass::prelude::*;
use gtk4::{CompositeTemplate, gio, glib};
use libadwaita as adw;
use libadwaita::prelude::*;
use libadwaita::subclass::prelude::*;

use crate::ui::models::ConversationObject;

mod imp {
    #[allow(clippy::wildcard_imports)]
    // gtk-rs subclass idiom: imp shares its wrapper's imports
    use super::*;

    #[derive(Default, CompositeTemplate)]
    #[template(file = "../../ui/conversation_switcher_dialog.ui")]
    pub struct ConversationSwitcherDialog {
        #[template_child]
        pub search_entry: TemplateChild<gtk4::SearchEntry>,
        #[template_child]
        pub results_list: TemplateChild<gtk4::ListBox>,
        pub filter: OnceCell<gtk4::CustomFilter>,
        pub results: OnceCell<gtk4::FilterListModel>,
        pub query: RefCell<String>,
    }

    #[glib::object_subclass]
    impl ObjectSubclass for ConversationSwitcherDialog {
        const NAME: &'static str = "TalpaConversationSwitcherDialog";
        type Type = super::ConversationSwitcherDialog;
        type ParentType = adw::Window;

        fn class_init(klass: &mut Self::Class) {
            klass.bind_template();
            klass.add_binding_action(
                gtk4::gdk::Key::Escape,
                gtk4::gdk::ModifierType::empty(),
                "window.close",
            );
        }

        fn instance_init(obj: &glib::subclass::InitializingObject<Self>) {
            obj.init_template();
        }
    }

    impl ObjectImpl for ConversationSwitcherDialog {
        fn signals() -> &'static [Signal] {
            static SIGNALS: OnceLock<Vec<Signal>> = OnceLock::new();
            SIGNALS.get_or_init(|| {
                vec![
                    Signal::builder("chosen")
                        .param_types([String::static_type(), String::static_type()])
                        .build(),
                ]
            })
        }
    }

    impl WidgetImpl for ConversationSwitcherDialog {}
    impl WindowImpl for ConversationSwitcherDialog {}
    impl AdwWindowImpl for ConversationSwitcherDialog {}
}

glib::wrapper! {
    /// Finds and opens a conversation by typing.
    pub struct ConversationSwitcherDialog(ObjectSubclass<imp::ConversationSwitcherDialog>)
        @extends adw::Window, gtk4::Window, gtk4::Widget,
        @implements gtk4::Buildable, gtk4::ConstraintTarget, gtk4::Native,
            gtk4::Root, gtk4::ShortcutManager;
}

/// Whether a conversation matches what was typed (case-insensitive, on the peer's address).
pub fn matches(peer: &str, query: &str) -> bool {
    peer.to_lowercase().contains(&query.trim().to_lowercase())
}

/// Whether `c` matches what was typed: its address, or the contact's name (read from the names
/// themselves, which are renamed before any conversation is).
fn conversation_matches(c: &ConversationObject, query: &str) -> bool {
    matches(&c.peer(), query)
        || (!c.is_room()
            && crate::ui::contact_names::name_of(&c.account(), &c.peer())
                .is_some_and(|name| matches(&name.text, query)))
}

fn result_row(item: &glib::Object) -> gtk4::Widget {
    let Some(c) = item.downcast_ref::<ConversationObject>() else {
        return gtk4::Label::new(None).upcast();
    };
    let row = adw::ActionRow::builder()
        // Plain text: a contact's name may hold `&` or `<`.
        .use_markup(false)
        .activatable(true)
        .build();
    crate::ui::contact_names::show_on_row(&row, c);
    if c.is_room() {
        row.add_prefix(&gtk4::Image::from_icon_name("system-users-symbolic"));
    }
    row.upcast()
}

impl ConversationSwitcherDialog {
    /// A switcher over `conversations` (the session's model), above `parent`.
    pub fn new(parent: &impl IsA<gtk4::Window>, conversations: &gio::ListStore) -> Self {
        let dialog: Self = glib::Object::builder()
            .property("transient-for", parent)
            .build();
        // Registered with the application so that locking finds and destroys it.
        dialog.set_application(parent.as_ref().application().as_ref());
        let imp = dialog.imp();
        let weak = dialog.downgrade();
        let filter = gtk4::CustomFilter::new(move |item| {
            let Some(dialog) = weak.upgrade() else {
                return false;
            };
            item.downcast_ref::<ConversationObject>()
                .is_some_and(|c| conversation_matches(c, &dialog.imp().query.borrow()))
        });
        let results = gtk4::FilterListModel::new(Some(conversations.clone()), Some(filter.clone()));
        imp.results_list.bind_model(Some(&results), result_row);
        // A rename may make a conversation match, or stop matching, what was typed.
        let weak_filter = filter.downgrade();
        crate::ui::contact_names::watch(&dialog, move || {
            if let Some(filter) = weak_filter.upgrade() {
                filter.changed(gtk4::FilterChange::Different);
            }
        });
        imp.search_entry.connect_search_changed(glib::clone!(
            #[weak]
            dialog,
            move |entry| dialog.search(&entry.text())
        ));
        imp.search_entry.connect_activate(glib::clone!(
            #[weak]
            dialog,
            move |_| dialog.choose(0)
        ));
        imp.results_list.connect_row_activated(glib::clone!(
            #[weak]
            dialog,
            move |_, row| dialog.choose(row.index() as u32)
        ));
        let _ = imp.filter.set(filter);
        let _ = imp.results.set(results);
        dialog
    }

    /// Calls `f(account, peer)` when a conversation is chosen (the dialog then closes).
    pub fn connect_chosen<F: Fn(&Self, &str, &str) + 'static>(
        &self,
        f: F,
    ) -> glib::SignalHandlerId {
        self.connect_local("chosen", false, move |values| {
            let dialog = values.first()?.get::<Self>().ok()?;
            let account = values.get(1)?.get::<String>().ok()?;
            let peer = values.get(2)?.get::<String>().ok()?;
            f(&dialog, &account, &peer);
            None
        })
    }

    /// Filters the list by `query` (what the search entry does).
    pub fn search(&self, query: &str) {
        let imp = self.imp();
        imp.query.replace(query.to_owned());
        if let Some(filter) = imp.filter.get() {
            filter.changed(gtk4::FilterChange::Different);
        }
    }

    /// How many conversations match now.
    pub fn n_results(&self) -> u32 {
        self.imp()
            .results
            .get()
            .map_or(0, gio::prelude::ListModelExt::n_items)
    }

    /// Opens the `index`-th match (Enter opens the first).
    pub fn choose(&self, index: u32) {
        let Some(c) = self
            .imp()
            .results
            .get()
            .and_then(|r| r.item(index))
            .and_downcast::<ConversationObject>()
        else {
            return;
        };
        self.emit_by_name::<()>("chosen", &[&c.account(), &c.peer()]);
        self.close();
    }
}

#[cfg(test)]
mod tests {
    use super::matches;

    #[test]
    fn typing_part_of_an_address_matches_regardless_of_case() {
        assert!(matches("plans@rooms.talpa.test", "PLANS"));
        assert!(matches("carol@talpa.test", " car"));
        assert!(matches("carol@talpa.test", ""));
        assert!(!matches("carol@talpa.test", "dave"));
    }
}
