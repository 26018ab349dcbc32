//! Delivery and read marks on own messages, the composer's typing notifications, and the
//! conversation settings' "Share delivery, read and typing status" switch (off by default;
//! the core sends and shows nothing for conversations that do not share, see
//! `core::activity`).
//!
//! Marks are notes under the message ("Delivered", "Read"), through the row's existing note
//! label (`message_notes::note_for` asks [`note`] last): nothing is added to row building, and
//! while no `delivered`/`displayed` event arrived (always, when the feature is off) [`note`]
//! is one check of an empty set. Marks are remembered for this session only (bounded).

use std::cell::RefCell;
use std::collections::{HashSet, VecDeque};
use std::rc::Rc;
use std::time::Duration;

use gtk4::prelude::*;
use gtk4::subclass::prelude::*;
use gtk4::{gio, glib};

use crate::core::{Command, CoreHandle, Event, Reply};
use crate::ui::chat::ConversationView;
use crate::ui::conversation_settings_dialog::ConversationSettingsDialog;
use crate::ui::models::MessageObject;
use crate::ui::user_text;

/// Marks remembered at most (oldest forgotten first).
const MAX_MARKS: usize = 2048;

/// After this long without a keystroke, `paused` is sent (XEP-0085 suggests a few seconds).
const PAUSED_AFTER: Duration = Duration::from_secs(5);

/// The note under a delivered message.
pub const DELIVERED: &str = "Delivered";
/// The note under a message the contact displayed.
pub const READ: &str = "Read";

#[derive(Default)]
struct Marks {
    delivered: HashSet<String>,
    read: HashSet<String>,
    order: VecDeque<String>,
}

impl Marks {
    fn remember(&mut self, origin_id: &str, read: bool) {
        let set = if read {
            &mut self.read
        } else {
            &mut self.delivered
        };
        if set.insert(origin_id.to_owned()) {
            self.order.push_back(origin_id.to_owned());
        }
        while self.order.len() > MAX_MARKS {
            if let Some(old) = self.order.pop_front() {
                self.delivered.remove(&old);
                self.read.remove(&old);
            }
        }
    }
}

thread_local! {
    static MARKS: RefCell<Marks> = RefCell::new(Marks::default());
}

/// The mark (a note) of the own message `origin_id`, if a receipt or marker came for it.
pub fn note(origin_id: &str) -> Option<&'static str> {
    MARKS.with(|m| {
        let m = m.borrow();
        if m.order.is_empty() {
            None
        } else if m.read.contains(origin_id) {
            Some(READ)
        } else if m.delivered.contains(origin_id) {
            Some(DELIVERED)
        } else {
            None
        }
    })
}

/// Forgets every mark (on lock).
pub fn clear() {
    MARKS.with(|m| *m.borrow_mut() = Marks::default());
}

/// Shows a `delivered` or `displayed` event on the open conversation's rows. A `displayed`
/// marker means "read up to here": earlier own messages shown are marked read too.
pub fn handle(event: &Event, view: Option<&ConversationView>) {
    let (account, with, message, read) = match event {
        Event::Delivered {
            account,
            with,
            message,
        } => (account, with, message, false),
        Event::Displayed {
            account,
            with,
            message,
        } => (account, with, message, true),
        _ => return,
    };
    MARKS.with(|m| m.borrow_mut().remember(message, read));
    let Some(view) = view.filter(|v| v.is_showing(account, with)) else {
        return;
    };
    if let Some(store) = view.messages() {
        refresh(store, message, read);
    }
}

/// Re-binds the rows that change: the marked message, and for a read marker the own messages
/// before it not yet marked read.
fn refresh(store: &gio::ListStore, origin_id: &str, read: bool) {
    let mut found = false;
    for pos in (0..store.n_items()).rev() {
        let Some(obj) = store.item(pos).and_downcast::<MessageObject>() else {
            continue;
        };
        if !found {
            found = obj.origin_id() == origin_id;
            if !found {
                continue;
            }
        } else if !read {
            return;
        } else if !obj.outgoing() || obj.origin_id().is_empty() {
            continue;
        } else if note(&obj.origin_id()) == Some(READ) {
            return;
        } else {
            MARKS.with(|m| m.borrow_mut().remember(&obj.origin_id(), true));
        }
        // Another note (held, not readable) says more; keep it.
        let current = obj.note();
        if current.is_empty() || current == DELIVERED || current == READ {
            obj.set_note(if read { READ } else { DELIVERED });
            store.splice(pos, 1, &[obj]);
        }
    }
}

/// Loads the conversation's sharing state into the settings dialog's switch, then sends the
/// user's changes to the core.
pub fn load_switch(
    dialog: &ConversationSettingsDialog,
    switch: &gtk4::Switch,
    row: &libadwaita::ActionRow,
) {
    let (Some(core), Some((account, with))) = (core_of(dialog), dialog.account_and_peer()) else {
        return;
    };
    let (dialog, switch, row) = (dialog.downgrade(), switch.downgrade(), row.downgrade());
    glib::MainContext::default().spawn_local(async move {
        let result = core
            .call(Command::ConversationPrivacy {
                account: account.clone(),
                with: Some(with.clone()),
            })
            .await;
        let (Some(dialog), Some(switch), Some(row)) =
            (dialog.upgrade(), switch.upgrade(), row.upgrade())
        else {
            return;
        };
        match result {
            Ok(Reply::ConversationPrivacy { share_activity, .. }) => {
                switch.set_active(share_activity);
                row.set_sensitive(true);
            }
            Ok(_) => {}
            Err(e) => dialog.show_toast(&user_text::error_text(&e)),
        }
        let weak = dialog.downgrade();
        switch.connect_active_notify(move |switch| {
            let share = switch.is_active();
            let command = Command::SetConversationPrivacy {
                account: account.clone(),
                with: Some(with.clone()),
                share_activity: share,
            };
            let (core, weak) = (core.clone(), weak.clone());
            glib::MainContext::default().spawn_local(async move {
                let result = core.call(command).await;
                if let Some(dialog) = weak.upgrade() {
                    dialog.show_toast(&match result {
                        Ok(_) if share => {
                            "This contact now sees when you got and read messages and when you \
                             type."
                                .to_owned()
                        }
                        Ok(_) => {
                            "Delivery, read and typing status are no longer shared.".to_owned()
                        }
                        Err(e) => user_text::error_text(&e),
                    });
                }
            });
        });
    });
}

/// The account settings' row for the account default ("Share with contacts by default", off
/// unless changed), added to `group`.
pub fn add_default_row(group: &libadwaita::PreferencesGroup, core: CoreHandle, account: &str) {
    use libadwaita::prelude::*;
    let switch = gtk4::Switch::builder().valign(gtk4::Align::Center).build();
    crate::ui::a11y::set_label(
        &switch,
        "Share delivery, read and typing status with contacts by default",
    );
    let row = libadwaita::ActionRow::builder()
        .title("Share delivery, read and typing status")
        .subtitle(
            "The default for contacts in your contact list (never rooms or strangers); each \
             conversation can choose otherwise. Sent outside end-to-end encryption.",
        )
        .activatable_widget(&switch)
        .sensitive(false)
        .build();
    row.add_suffix(&switch);
    group.add(&row);
    let account = account.to_owned();
    let (switch, row) = (switch.downgrade(), row.downgrade());
    glib::MainContext::default().spawn_local(async move {
        let result = core
            .call(Command::ConversationPrivacy {
                account: account.clone(),
                with: None,
            })
            .await;
        let (Some(switch), Some(row), Ok(Reply::ConversationPrivacy { share_activity, .. })) =
            (switch.upgrade(), row.upgrade(), result)
        else {
            return;
        };
        switch.set_active(share_activity);
        row.set_sensitive(true);
        switch.connect_active_notify(move |switch| {
            let command = Command::SetConversationPrivacy {
                account: account.clone(),
                with: None,
                share_activity: switch.is_active(),
            };
            let core = core.clone();
            glib::MainContext::default().spawn_local(async move {
                if let Err(e) = core.call(command).await {
                    tracing::debug!(error = %e, "account default not changed");
                }
            });
        });
    });
}

fn core_of(dialog: &ConversationSettingsDialog) -> Option<CoreHandle> {
    dialog.imp().core.get().cloned()
}

/// What the composer last told the open conversation's partner.
#[derive(Default)]
struct Composing {
    /// The conversation `composing` was sent to (until `paused` or `active`).
    to: RefCell<Option<(String, String)>>,
    /// The pending "paused after 5 s idle".
    idle: RefCell<Option<glib::SourceId>>,
}

/// Sends chat states while the user types in `view`'s composer: `composing` once per typing
/// burst, `paused` after [`PAUSED_AFTER`] without a keystroke, `active` when the composer is
/// emptied (sent or erased). The core drops them unless the conversation shares activity.
pub fn install_composer(view: &ConversationView, core: CoreHandle) {
    let state = Rc::new(Composing::default());
    let weak = view.downgrade();
    view.imp().composer.connect_changed(move |entry| {
        let Some(view) = weak.upgrade() else { return };
        let Some(conv) = view.imp().conversation.borrow().clone() else {
            return;
        };
        if let Some(id) = state.idle.take() {
            id.remove();
        }
        let typing_to = state.to.borrow().clone();
        if entry.text().is_empty() {
            // Replacing the text empties it for a moment (a selection typed over, or
            // `set_text`): stopped typing only if it is still empty once the main loop idles.
            if typing_to.is_some() {
                let (core, state, entry) = (core.clone(), Rc::downgrade(&state), entry.downgrade());
                glib::idle_add_local_once(move || {
                    let (Some(state), Some(entry)) = (state.upgrade(), entry.upgrade()) else {
                        return;
                    };
                    if entry.text().is_empty()
                        && let Some(to) = state.to.take()
                    {
                        if let Some(id) = state.idle.take() {
                            id.remove();
                        }
                        chat_state(&core, to, "active");
                    }
                });
            }
            return;
        }
        if typing_to.as_ref() != Some(&conv) {
            if let Some(old) = typing_to {
                chat_state(&core, old, "active");
            }
            state.to.replace(Some(conv.clone()));
            chat_state(&core, conv.clone(), "composing");
        }
        let (core, state_weak) = (core.clone(), Rc::downgrade(&state));
        let id = glib::timeout_add_local_once(PAUSED_AFTER, move || {
            if let Some(state) = state_weak.upgrade() {
                state.idle.replace(None);
                if let Some(to) = state.to.take() {
                    chat_state(&core, to, "paused");
                }
            }
        });
        state.idle.replace(Some(id));
    });
}

fn chat_state(core: &CoreHandle, (account, with): (String, String), state: &str) {
    let command = Command::ChatState {
        account,
        with,
        state: state.to_owned(),
    };
    let core = core.clone();
    glib::MainContext::default().spawn_local(async move {
        if let Err(e) = core.call(command).await {
            tracing::debug!(error = %e, "chat state not sent");
        }
    });
}

/// Tells the partner that their newest message was displayed (the core sends it only when
/// the conversation shares activity, once per message).
pub fn mark_displayed(core: &CoreHandle, account: &str, with: &str) {
    let command = Command::MarkDisplayed {
        account: account.to_owned(),
        with: with.to_owned(),
        message: None,
    };
    let core = core.clone();
    glib::MainContext::default().spawn_local(async move {
        if let Err(e) = core.call(command).await {
            tracing::debug!(error = %e, "displayed marker not sent");
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_mark_until_an_event_and_read_wins_over_delivered() {
        clear();
        assert_eq!(note("m1"), None);
        MARKS.with(|m| m.borrow_mut().remember("m1", false));
        assert_eq!(note("m1"), Some(DELIVERED));
        MARKS.with(|m| m.borrow_mut().remember("m1", true));
        assert_eq!(note("m1"), Some(READ));
        assert_eq!(note("m2"), None);
        clear();
        assert_eq!(note("m1"), None);
    }
}
