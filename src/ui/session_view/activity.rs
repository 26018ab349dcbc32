//! The partner's activity in the open conversation (only where it shares activity, see
//! `core::activity`): "typing…" in the header while they compose (cleared on `paused`,
//! `active`, a message, or after 30 s without news), delivery and read marks on own messages
//! (`chat::activity_marks`), and the `displayed` marker for a message that arrives while the
//! conversation is on screen, the window focused and the list at its newest message.

use std::cell::RefCell;
use std::collections::HashSet;
use std::time::Duration;

use gtk4::glib;
use gtk4::prelude::*;
use gtk4::subclass::prelude::*;

use crate::core::Event;
use crate::core::events::StoredMessage;
use crate::ui::chat::activity_marks;

use super::SessionView;
use super::room_state::header_subtitle;

/// "typing…" goes away after this long without a new chat state (XEP-0085 §5.2).
const TYPING_SHOWN_AT_MOST: Duration = Duration::from_secs(30);

/// A burst of arrivals is marked displayed once, this long after its first message.
const MARK_AFTER: Duration = Duration::from_millis(500);

/// The header text while the partner types.
pub(super) const TYPING: &str = "typing…";

thread_local! {
    /// Conversations with a `displayed` marker scheduled.
    static MARK_PENDING: RefCell<HashSet<(String, String)>> = RefCell::new(HashSet::new());
    /// The conversation shown as typing and its 30 s clearing.
    static TYPING_IN: RefCell<Option<((String, String), glib::SourceId)>> =
        const { RefCell::new(None) };
}

/// Shows a `typing`, `delivered` or `displayed` event.
pub(super) fn handle(view: &SessionView, event: &Event) {
    match event {
        Event::Typing {
            account,
            with,
            state,
        } => {
            if state == "composing" {
                show_typing(view, account, with);
            } else {
                stop_typing(view, account, with);
            }
        }
        _ => activity_marks::handle(event, view.imp().conversation_view.get()),
    }
}

fn show_typing(view: &SessionView, account: &str, with: &str) {
    let imp = view.imp();
    if !imp
        .open
        .borrow()
        .as_ref()
        .is_some_and(|c| c.is(account, with))
    {
        return;
    }
    imp.content_title.set_subtitle(TYPING);
    let key = (account.to_owned(), with.to_owned());
    let weak = view.downgrade();
    let (a, w) = key.clone();
    let id = glib::timeout_add_local_once(TYPING_SHOWN_AT_MOST, move || {
        TYPING_IN.with(|t| t.borrow_mut().take());
        if let Some(view) = weak.upgrade() {
            restore_header(&view, &a, &w);
        }
    });
    if let Some((_, old)) = TYPING_IN.with(|t| t.borrow_mut().replace((key, id))) {
        old.remove();
    }
}

/// Ends "typing…" for (account, with), if it was shown.
pub(super) fn stop_typing(view: &SessionView, account: &str, with: &str) {
    let was = TYPING_IN.with(|t| {
        let mut t = t.borrow_mut();
        match t.as_ref() {
            Some(((a, w), _)) if a == account && w == with => t.take(),
            _ => None,
        }
    });
    if let Some((_, id)) = was {
        id.remove();
        restore_header(view, account, with);
    }
}

/// Forgets "typing…" (on lock, or when another conversation opens).
pub(super) fn clear() {
    if let Some((_, id)) = TYPING_IN.with(|t| t.borrow_mut().take()) {
        id.remove();
    }
}

/// Once `view` is in a window: when the window gets the focus back, the open 1:1
/// conversation's newest message from the partner is marked displayed (if the list shows its
/// newest end; the core sends it only where activity is shared, once per message).
pub(super) fn watch_focus(view: &SessionView) {
    // The view lives in one window: it is watched once, whatever the number of maps.
    let watched = std::rc::Rc::new(std::cell::Cell::new(false));
    view.connect_map(move |view| {
        let Some(window) = view.root().and_downcast::<gtk4::Window>() else {
            return;
        };
        if watched.replace(true) {
            return;
        }
        let weak = view.downgrade();
        window.connect_is_active_notify(move |w| {
            let Some(view) = weak.upgrade() else { return };
            if !w.is_active() {
                return;
            }
            let open = view.imp().open.borrow().clone();
            let (Some(c), Some(chat)) = (open, view.imp().conversation_view.get()) else {
                return;
            };
            let adj = chat.scroller().vadjustment();
            if !c.is_room() && adj.value() + adj.page_size() >= adj.upper() - adj.page_size() / 4.0
            {
                opened(&view, &c.account(), &c.peer());
            }
        });
    });
}

/// The conversation (account, with) was opened and its newest rows are on screen: the
/// partner's newest message is marked displayed if the window is focused.
pub(super) fn opened(view: &SessionView, account: &str, with: &str) {
    let focused = view
        .root()
        .and_downcast::<gtk4::Window>()
        .is_some_and(|w| w.is_active());
    if let (true, Some(core)) = (focused, view.imp().core.get()) {
        activity_marks::mark_displayed(core, account, with);
    }
}

fn restore_header(view: &SessionView, account: &str, with: &str) {
    let imp = view.imp();
    if let Some(c) = imp.open.borrow().as_ref().filter(|c| c.is(account, with))
        && imp.content_title.subtitle().as_str() == TYPING
    {
        imp.content_title.set_subtitle(&header_subtitle(c));
    }
}

/// A message arrived in (or was sent to) a conversation: it ends the partner's "typing…",
/// and a new incoming one shown at the newest end of a focused window is marked displayed.
pub(super) fn on_message(view: &SessionView, message: &StoredMessage, new: bool) {
    if message.direction != "in" {
        return;
    }
    stop_typing(view, &message.account, &message.with);
    let imp = view.imp();
    let (true, Some(chat), Some(core)) = (new, imp.conversation_view.get(), imp.core.get()) else {
        return;
    };
    if !chat.is_showing(&message.account, &message.with)
        || !view
            .root()
            .and_downcast::<gtk4::Window>()
            .is_some_and(|w| w.is_active())
    {
        return;
    }
    let adj = chat.scroller().vadjustment();
    let at_newest = adj.value() + adj.page_size() >= adj.upper() - adj.page_size() / 4.0;
    let is_room = view
        .conversation(&message.account, &message.with)
        .is_some_and(|(_, c)| c.is_room());
    if at_newest && !is_room {
        mark_soon(core, &message.account, &message.with);
    }
}

/// Marks the partner's newest message displayed after [`MARK_AFTER`], once for a burst.
fn mark_soon(core: &crate::core::CoreHandle, account: &str, with: &str) {
    let key = (account.to_owned(), with.to_owned());
    let scheduled = MARK_PENDING.with(|p| p.borrow_mut().insert(key.clone()));
    if !scheduled {
        return;
    }
    let core = core.clone();
    glib::timeout_add_local_once(MARK_AFTER, move || {
        MARK_PENDING.with(|p| p.borrow_mut().remove(&key));
        activity_marks::mark_displayed(&core, &key.0, &key.1);
    });
}
