//! Whether we are still in a room, and its subject, as the window shows them: the room's row
//! in the sidebar says why we are no longer there (kicked, banned, membership revoked, a
//! refused join …) and offers *Rejoin* where that can work; the open room's header shows the
//! subject (or the reason) and its composer is disabled while we are not in the room. A join
//! the room refuses is also told in a toast. A destroyed room says so with its owner's reason
//! (also after a restart: the core keeps it with the conversation) and offers the room they
//! suggest instead in a bar above the conversation ([`RoomMovedBanner`]); *Rejoin* of a
//! password-protected room uses the stored password (the core's), and asks for it when the
//! room refuses that.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};

use gtk4::prelude::*;
use gtk4::subclass::prelude::*;
use gtk4::{gio, glib};

use super::SessionView;
use crate::core::Command;
use crate::core::commands::{ConversationSummary, Secret};
use crate::ui::chat::room_moved_banner::RoomMovedBanner;
use crate::ui::models::ConversationObject;
use crate::ui::{room_password_dialog, toast, user_text};

/// The reason a room gives for refusing a wrong (or missing) password.
const WRONG_PASSWORD: &str = "join_refused: not-authorized";

thread_local! {
    /// Rooms (account, room) the window is joining again, and whether with a password typed
    /// into the password question: a refusal for the password then asks (again).
    static REJOINING: RefCell<HashMap<(String, String), bool>> = RefCell::default();
    /// Rooms whose last refusal was for the password: *Rejoin* asks for it first.
    static NEED_PASSWORD: RefCell<HashSet<(String, String)>> = RefCell::default();
    /// Destroyed rooms whose suggested alternate is offered (not joined, not dismissed): what
    /// the room told ("This room was destroyed: …") and the alternate's JID.
    static ALTERNATES: RefCell<HashMap<(String, String), (String, String)>> = RefCell::default();
}

/// Forgets the rooms being joined again and the offered alternates (on lock).
pub(super) fn clear() {
    REJOINING.with_borrow_mut(HashMap::clear);
    NEED_PASSWORD.with_borrow_mut(HashSet::clear);
    ALTERNATES.with_borrow_mut(HashMap::clear);
}

fn key(account: &str, room: &str) -> (String, String) {
    (account.to_owned(), room.to_owned())
}

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
    let pair = <(String, String)>::static_variant_type();
    let join_alternate = gio::SimpleAction::new("join-alternate", Some(&pair));
    join_alternate.connect_activate(glib::clone!(
        #[weak]
        view,
        move |_, target| {
            if let Some((account, room)) = target.and_then(<(String, String)>::from_variant) {
                join_alternate_of(&view, &account, &room);
            }
        }
    ));
    group.add_action(&join_alternate);
    let dismiss = gio::SimpleAction::new("dismiss-alternate", Some(&pair));
    dismiss.connect_activate(glib::clone!(
        #[weak]
        view,
        move |_, target| {
            if let Some((account, room)) = target.and_then(<(String, String)>::from_variant) {
                ALTERNATES.with_borrow_mut(|a| a.remove(&key(&account, &room)));
                refresh_banner(&view);
            }
        }
    ));
    group.add_action(&dismiss);
    view.insert_action_group("rooms", Some(&group));
}

/// Joins a room we were removed from again, with the nickname we had: with the stored
/// password (the core uses it when none is given), or asking for it when the room refused
/// the password last time.
fn rejoin_room(view: &SessionView, account: &str, room: &str) {
    if NEED_PASSWORD.with_borrow(|n| n.contains(&key(account, room))) {
        ask_password(view, account, room, false);
        return;
    }
    join_again(view, account, room, None);
}

/// Asks for the password of `room` and joins it with what is typed.
fn ask_password(view: &SessionView, account: &str, room: &str, wrong: bool) {
    let Some(parent) = view.root().and_downcast::<gtk4::Window>() else {
        return;
    };
    let weak = view.downgrade();
    let (account, room_jid) = (account.to_owned(), room.to_owned());
    room_password_dialog::ask_password(&parent, room, wrong, move |password| {
        if let Some(view) = weak.upgrade() {
            join_again(&view, &account, &room_jid, Some(password));
        }
    });
}

/// Sends the join of a room the window had, remembering that the window asked for it.
fn join_again(view: &SessionView, account: &str, room: &str, password: Option<Secret>) {
    let Some(conversation) = known(view, account, room) else {
        return;
    };
    let Some(core) = view.imp().core.get().cloned() else {
        return;
    };
    REJOINING.with_borrow_mut(|r| r.insert(key(account, room), password.is_some()));
    let command = Command::JoinRoom {
        account: account.to_owned(),
        room: room.to_owned(),
        nick: conversation.nick(),
        password,
        force: false,
    };
    let view = view.downgrade();
    let asked = key(account, room);
    glib::MainContext::default().spawn_local(async move {
        let result = core.call(command).await;
        if let Err(e) = result {
            // Refused before reaching the room: no refusal from it will follow.
            REJOINING.with_borrow_mut(|r| r.remove(&asked));
            if let Some(view) = view.upgrade() {
                toast(
                    &view,
                    &format!("Could not rejoin. {}", user_text::error_text(&e)),
                );
            }
        }
    });
}

/// `RoomJoined`: we are in the room (again).
pub(super) fn joined(view: &SessionView, account: &str, room: &str, nick: &str) {
    REJOINING.with_borrow_mut(|r| r.remove(&key(account, room)));
    NEED_PASSWORD.with_borrow_mut(|n| n.remove(&key(account, room)));
    ALTERNATES.with_borrow_mut(|a| a.remove(&key(account, room)));
    if let Some(c) = known(view, account, room) {
        c.set_nick(nick);
        c.set_left_reason("");
        c.set_rejoinable(false);
        refresh_open(view, &c);
    }
}

/// What a room told with `RoomLeft`, besides the reason code.
#[derive(Clone, Copy)]
pub(super) struct Told<'a> {
    /// The room's own words: a destroyed room's reason, why we were kicked or banned.
    pub detail: Option<&'a str>,
    /// Who kicked or banned us.
    pub actor: Option<&'a str>,
    /// The room a destroyed room's owner suggests.
    pub alternate: Option<&'a str>,
}

/// `RoomLeft`: we are no longer in the room, and why (see [`Told`]).
pub(super) fn left(view: &SessionView, account: &str, room: &str, reason: &str, told: Told<'_>) {
    let Told {
        detail,
        actor,
        alternate,
    } = told;
    let text = user_text::room_left_detail_text(reason, detail, actor);
    if reason.starts_with("join_refused") {
        toast(view, &format!("Could not join {room}: {text}."));
    } else if reason != "left" {
        toast(view, &format!("{room}: {text}."));
    }
    let asked = REJOINING.with_borrow_mut(|r| r.remove(&key(account, room)));
    if reason == WRONG_PASSWORD {
        NEED_PASSWORD.with_borrow_mut(|n| n.insert(key(account, room)));
        if let Some(typed) = asked {
            ask_password(view, account, room, typed);
        }
    }
    let Some(c) = known(view, account, room) else {
        return;
    };
    // One sentence for the row and the header: the reason already says we are out, and a
    // refused join says so first ("Could not join: Wrong password").
    if reason.starts_with("join_refused") {
        c.set_left_reason(format!("Could not join: {text}").as_str());
    } else {
        c.set_left_reason(text.as_str());
    }
    c.set_rejoinable(
        (user_text::room_rejoinable(reason) || reason == WRONG_PASSWORD) && !c.nick().is_empty(),
    );
    if let Some(alternate) = alternate {
        ALTERNATES.with_borrow_mut(|a| {
            a.insert(key(account, room), (text.clone(), alternate.to_owned()))
        });
    }
    refresh_open(view, &c);
}

/// A stored conversation listed again (after unlock or a resync): a room destroyed while we
/// were in it says so again, and its alternate is offered again.
pub(super) fn restore(view: &SessionView, account: &str, listed: &ConversationSummary) {
    let Some(destroyed) = &listed.destroyed else {
        return;
    };
    let Some(c) = known(view, account, &listed.with) else {
        return;
    };
    let text = user_text::room_left_detail_text("destroyed", destroyed.reason.as_deref(), None);
    c.set_left_reason(text.as_str());
    c.set_rejoinable(false);
    if c.nick().is_empty()
        && let Some(nick) = &destroyed.nick
    {
        c.set_nick(nick.as_str());
    }
    if let Some(alternate) = &destroyed.alternate {
        ALTERNATES.with_borrow_mut(|a| {
            a.entry(key(account, &listed.with))
                .or_insert_with(|| (text.clone(), alternate.clone()));
        });
    }
    refresh_open(view, &c);
}

/// Joins the room `room`'s owner suggested with our nickname there, and withdraws the offer
/// once the join is sent. Without a nickname (never suggested for the user) the room dialog
/// is not guessed at: the offer says to join from the menu.
fn join_alternate_of(view: &SessionView, account: &str, room: &str) {
    let Some(alternate) = ALTERNATES.with_borrow(|a| a.get(&key(account, room)).cloned()) else {
        return;
    };
    let Some(core) = view.imp().core.get().cloned() else {
        return;
    };
    let Some(nick) = known(view, account, room)
        .map(|c| c.nick())
        .filter(|n| !n.is_empty())
    else {
        toast(
            view,
            &format!(
                "Your nickname in {room} is not known: join {} with Join Room… in the menu.",
                alternate.1
            ),
        );
        return;
    };
    let command = Command::JoinRoom {
        account: account.to_owned(),
        room: alternate.1,
        nick,
        password: None,
        force: false,
    };
    let (weak, asked) = (view.downgrade(), key(account, room));
    glib::MainContext::default().spawn_local(async move {
        let result = core.call(command).await;
        let Some(view) = weak.upgrade() else {
            return;
        };
        match result {
            Ok(_) => {
                ALTERNATES.with_borrow_mut(|a| a.remove(&asked));
                refresh_banner(&view);
            }
            Err(e) => toast(
                &view,
                &format!("Could not join. {}", user_text::error_text(&e)),
            ),
        }
    });
}

/// Shows the open conversation's alternate offer, or hides the bar.
fn refresh_banner(view: &SessionView) {
    let imp = view.imp();
    let Some(banner) = imp.room_moved_banner.get() else {
        return;
    };
    let open = imp.open.borrow().clone();
    let offer = open.as_ref().and_then(|c| {
        ALTERNATES.with_borrow(|a| {
            a.get(&key(&c.account(), &c.peer()))
                .map(|(text, alt)| (c.account(), c.peer(), text.clone(), alt.clone()))
        })
    });
    // Already there (joined now or before a restart): nothing to offer.
    let offer = offer.filter(|(account, room, _, alternate)| {
        let joined = known(view, account, alternate).is_some_and(|c| c.is_room());
        if joined {
            ALTERNATES.with_borrow_mut(|a| a.remove(&key(account, room)));
        }
        !joined
    });
    match offer {
        Some((account, room, text, alternate)) => banner.offer(&account, &room, &text, &alternate),
        None => banner.withdraw(),
    }
}

/// The bar offering a destroyed room's alternate, hidden, for the session view to place.
pub(super) fn new_banner() -> RoomMovedBanner {
    RoomMovedBanner::new()
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
        return reason;
    }
    let subject = c.subject();
    if c.is_room() && !subject.is_empty() {
        // One line: the header ellipsizes it.
        return subject.split_whitespace().collect::<Vec<_>>().join(" ");
    }
    super::contact_names::subtitle(c)
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
    refresh_banner(view);
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
