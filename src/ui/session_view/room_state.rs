//! Whether we are still in a room, and its subject, as the window shows them: the room's row
//! in the sidebar says why we are no longer there (kicked, banned, membership revoked, a
//! refused join …) and offers *Rejoin* where that can work; the open room's header shows the
//! subject (or the reason) and its composer is disabled while we are not in the room. A join
//! the room refuses is also told in a toast.

use gtk4::prelude::*;
use gtk4::subclass::prelude::*;
use gtk4::{gio, glib};

use super::SessionView;
use crate::core::Command;
use crate::ui::models::ConversationObject;
use crate::ui::{toast, user_text};

/// The conversation of `account` with `room` if the sidebar has it (never adds one).
fn known(view: &SessionView, account: &str, room: &str) -> Option<ConversationObject> {
    view.imp()
        .conversations
        .get()?
        .iter::<ConversationObject>()
        .flatten()
        .find(|c| c.is(account, room))
}

/// The `rooms.rejoin` action (target: account and room) the sidebar's *Rejoin* buttons use.
pub(super) fn install(view: &SessionView) {
    let group = gio::SimpleActionGroup::new();
    let rejoin = gio::SimpleAction::new("rejoin", Some(&<(String, String)>::static_variant_type()));
    rejoin.connect_activate(glib::clone!(
        #[weak]
        view,
        move |_, target| {
            if let Some((account, room)) = target.and_then(<(String, String)>::from_variant) {
                rejoin_room(&view, &account, &room);
            }
        }
    ));
    group.add_action(&rejoin);
    view.insert_action_group("rooms", Some(&group));
}

/// Joins a room we were removed from again, with the nickname we had.
fn rejoin_room(view: &SessionView, account: &str, room: &str) {
    let Some(conversation) = known(view, account, room) else {
        return;
    };
    let Some(core) = view.imp().core.get().cloned() else {
        return;
    };
    let command = Command::JoinRoom {
        account: account.to_owned(),
        room: room.to_owned(),
        nick: conversation.nick(),
        password: None,
        force: false,
    };
    let view = view.downgrade();
    glib::MainContext::default().spawn_local(async move {
        let result = core.call(command).await;
        if let (Err(e), Some(view)) = (result, view.upgrade()) {
            toast(
                &view,
                &format!("Could not rejoin. {}", user_text::error_text(&e)),
            );
        }
    });
}

/// `RoomJoined`: we are in the room (again).
pub(super) fn joined(view: &SessionView, account: &str, room: &str, nick: &str) {
    if let Some(c) = known(view, account, room) {
        c.set_nick(nick);
        c.set_left_reason("");
        c.set_rejoinable(false);
        refresh_open(view, &c);
    }
}

/// `RoomLeft`: we are no longer in the room, and why.
pub(super) fn left(view: &SessionView, account: &str, room: &str, reason: &str) {
    let text = user_text::room_left_text(reason);
    if reason.starts_with("join_refused") {
        toast(view, &format!("Could not join {room}: {text}."));
    } else if reason != "left" {
        toast(view, &format!("{room}: {text}."));
    }
    let Some(c) = known(view, account, room) else {
        return;
    };
    c.set_left_reason(text);
    c.set_rejoinable(user_text::room_rejoinable(reason) && !c.nick().is_empty());
    refresh_open(view, &c);
}

/// `RoomSubject`: the room's subject changed (empty when cleared).
pub(super) fn subject(view: &SessionView, account: &str, room: &str, subject: &str) {
    if let Some(c) = known(view, account, room) {
        c.set_subject(subject.trim());
        refresh_open(view, &c);
    }
}

/// What the conversation header says under the title: for a room, why we are not in it or
/// its subject; otherwise the account.
pub(super) fn header_subtitle(c: &ConversationObject) -> String {
    let reason = c.left_reason();
    if !reason.is_empty() {
        return format!("Not in this room: {reason}");
    }
    let subject = c.subject();
    if c.is_room() && !subject.is_empty() {
        // One line: the header ellipsizes it.
        return subject.split_whitespace().collect::<Vec<_>>().join(" ");
    }
    c.account()
}

/// Updates the header and the composer if `c` is the conversation on screen.
pub(super) fn refresh_open(view: &SessionView, c: &ConversationObject) {
    let imp = view.imp();
    if imp.open.borrow().as_ref() != Some(c) {
        return;
    }
    imp.content_title.set_subtitle(&header_subtitle(c));
    if let Some(chat) = imp.conversation_view.get() {
        let reason = c.left_reason();
        chat.set_can_send((!reason.is_empty()).then_some(reason.as_str()));
    }
}

/// The sidebar row's parts for a room: the subtitle says why we are not in it, and a
/// *Rejoin* button shows where joining again can work.
pub(super) fn decorate_row(row: &libadwaita::ActionRow, c: &ConversationObject) {
    let account = c.account();
    c.bind_property("left-reason", row, "subtitle")
        .transform_to(move |_, reason: String| {
            Some(if reason.is_empty() {
                account.clone()
            } else {
                format!("{reason} · {account}")
            })
        })
        .sync_create()
        .build();
    let rejoin = gtk4::Button::builder()
        .label("Rejoin")
        .valign(gtk4::Align::Center)
        .tooltip_text(format!("Join {} again", c.peer()))
        .action_name("rooms.rejoin")
        .action_target(&(c.account(), c.peer()).to_variant())
        .build();
    c.bind_property("rejoinable", &rejoin, "visible")
        .sync_create()
        .build();
    libadwaita::prelude::ActionRowExt::add_suffix(row, &rejoin);
}
