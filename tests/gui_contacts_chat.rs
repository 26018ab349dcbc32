//! The window's contact and message-editing controls against the real bed (Prosody through the
//! private Tor network, Python peers):
//! - a peer's subscription request shows in the sidebar and Approve answers it (the peer is
//!   told "subscribed"); a second peer's request is refused with Deny ("unsubscribed");
//! - the account window adds a contact (the peer is asked), blocks and unblocks it (the
//!   server's block list follows), removes it, and changes the server's archiving preference
//!   (the server reports the new value);
//! - an own message is corrected with Up in the empty composer and retracted from its context
//!   menu after the confirmation: the peer receives the XEP-0308 correction and the XEP-0424
//!   retraction, and the window shows the new text marked "edited", then the tombstone;
//! - a room's side panel invites a contact picked from the account's contacts: the contact
//!   receives the room's (mediated) invitation.

mod gui_bed_support;
mod gui_support;
mod support;

use std::time::Duration;

use gtk4::glib;
use gtk4::glib::translate::IntoGlib;
use gtk4::prelude::*;
use libadwaita as adw;
use libadwaita::prelude::{ComboRowExt, PreferencesRowExt};
use serde_json::Value;
use talpa::core::{Command, CoreHandle, Reply};
use talpa::ui::account_window::AccountWindow;
use talpa::ui::chat::MessageRow;

use gui_bed_support::{bed_options, call, pump_until_peer};
use gui_support::{find_widget, pump, pump_until, visible_texts};
use support::{Peer, bed};

const ORIGINAL: &str = "meet at the bakery at noon";
const CORRECTED: &str = "meet at the library at noon";
const ROOM_ORIGINAL: &str = "cell meeting moved to thursday";
const ROOM_CORRECTED: &str = "cell meeting moved to friday";
const SECRET_ORIGINAL: &str = "the key is under the red pot";
const SECRET_CORRECTED: &str = "the key is under the blue pot";

#[test]
fn contact_requests_blocking_archiving_and_own_message_edits_work_from_the_window() {
    if gui_support::is_gui_child() {
        gui_support::run_app_checks_with(bed_options, checks);
        return;
    }
    let _ = bed();
    gui_support::run_as_gui_child(
        "contact_requests_blocking_archiving_and_own_message_edits_work_from_the_window",
    );
}

#[allow(clippy::needless_pass_by_value, clippy::too_many_lines)] // a scripted session
fn checks(app: &adw::Application, core: CoreHandle) {
    let display = std::env::var("DISPLAY").expect("DISPLAY set by the parent");
    let bed = bed();
    let (me, my_password) = bed.new_account("guic");
    let (friend_jid, friend_password) = bed.new_account("guifriend");
    let (stranger_jid, stranger_password) = bed.new_account("guistranger");
    let (window, session) =
        gui_bed_support::window_on_bed(app, &core, "gui contacts passphrase", &me, &my_password);
    let mut friend = Peer::spawn(bed, &friend_jid, &friend_password);
    let mut stranger = Peer::spawn(bed, &stranger_jid, &stranger_password);
    gui_bed_support::wait_until_online(&session, &me);
    pump(Duration::from_secs(2));
    let sidebar = session
        .contact_requests_view()
        .expect("contacts sidebar")
        .clone();

    // 1. Requests: approve the friend, deny the stranger, from the sidebar.
    friend.send_cmd(&serde_json::json!({"cmd": "roster_add", "jid": me}));
    stranger.send_cmd(&serde_json::json!({"cmd": "roster_add", "jid": me}));
    pump_until("both requests in the sidebar", || {
        let shown = visible_texts(sidebar.upcast_ref());
        shown.contains(&friend_jid) && shown.contains(&stranger_jid)
    });
    pump(Duration::from_millis(500));
    gui_support::screenshot(&display, "contacts_1_requests_in_sidebar");
    let answer = |who: &str, label: &str| {
        let row = find_widget::<gtk4::ListBoxRow>(sidebar.upcast_ref(), &|r| {
            visible_texts(r.upcast_ref()).lines().any(|l| l == who)
        })
        .unwrap_or_else(|| panic!("the request row of {who}"));
        find_widget::<gtk4::Button>(row.upcast_ref(), &|b| b.label().as_deref() == Some(label))
            .unwrap_or_else(|| panic!("the {label} button of {who}"))
            .emit_clicked();
    };
    answer(&friend_jid, "Approve");
    let approved = pump_until_peer(&mut friend, "the approval", |e| {
        e["event"] == "subscribed" && e["from"] == me.as_str()
    });
    assert_eq!(approved["from"], me.as_str());
    answer(&stranger_jid, "Deny");
    let denied = pump_until_peer(&mut stranger, "the refusal", |e| {
        e["event"] == "unsubscribed" && e["from"] == me.as_str()
    });
    assert_eq!(denied["from"], me.as_str());
    pump_until("the answered requests to leave the sidebar", || {
        sidebar.requests().is_empty() && !sidebar.is_visible()
    });

    // 2. The account window: add, block, unblock, remove; server archive.
    let button = find_widget::<gtk4::Button>(session.upcast_ref(), &|b| {
        b.action_name().as_deref() == Some("contacts.open")
    })
    .expect("the account row's contacts button");
    button.emit_clicked();
    pump_until("the account window", || {
        app.windows().into_iter().any(|w| w.is::<AccountWindow>())
    });
    let account_window = app
        .windows()
        .into_iter()
        .find_map(|w| w.downcast::<AccountWindow>().ok())
        .expect("the account window");
    assert_eq!(account_window.account(), me);
    pump_until("the server's archiving preference", || {
        account_window.archiving().is_some()
    });
    let archive_row = find_widget::<adw::ComboRow>(account_window.upcast_ref(), &|_| true)
        .expect("the server archive row");
    archive_row.set_selected(2);
    pump_until("the server to report never", || {
        account_window.archiving().as_deref() == Some("never")
    });
    let Reply::Archiving { archiving } = call(
        &core,
        Command::Archiving {
            account: me.clone(),
        },
    ) else {
        panic!("archiving: unexpected reply");
    };
    assert_eq!(
        archiving, "never",
        "the server did not keep the window's choice"
    );
    gui_support::screenshot(&display, "contacts_2_account_window");
    archive_row.set_selected(0);
    pump_until("the server to report always", || {
        account_window.archiving().as_deref() == Some("always")
    });

    let add_row = find_widget::<adw::EntryRow>(account_window.upcast_ref(), &|r| {
        PreferencesRowExt::title(r).starts_with("Address")
    })
    .expect("the add-contact row");
    add_row.set_text(&stranger_jid);
    add_row.emit_by_name::<()>("entry-activated", &[]);
    let asked = pump_until_peer(&mut stranger, "our subscription request", |e| {
        e["event"] == "subscribe" && e["from"] == me.as_str()
    });
    assert_eq!(asked["from"], me.as_str());
    let contact_button = |who: &str, label: &str| {
        pump_until(&format!("{who}'s {label} button"), || {
            find_widget::<adw::ActionRow>(account_window.upcast_ref(), &|r| {
                PreferencesRowExt::title(r) == who
                    && find_widget::<gtk4::Button>(r.upcast_ref(), &|b| {
                        b.label().as_deref() == Some(label) && b.is_sensitive()
                    })
                    .is_some()
            })
            .is_some()
        });
        let row = find_widget::<adw::ActionRow>(account_window.upcast_ref(), &|r| {
            PreferencesRowExt::title(r) == who
                && find_widget::<gtk4::Button>(r.upcast_ref(), &|b| {
                    b.label().as_deref() == Some(label)
                })
                .is_some()
        })
        .expect("the row");
        find_widget::<gtk4::Button>(row.upcast_ref(), &|b| b.label().as_deref() == Some(label))
            .expect("the button")
    };
    contact_button(&stranger_jid, "Block").emit_clicked();
    pump_until("the stranger on the block list", || {
        sidebar.contacts_of(&me).blocked.contains(&stranger_jid)
    });
    pump(Duration::from_millis(500));
    gui_support::screenshot(&display, "contacts_3_blocked");
    // Blocked: the server bounces the stranger's message and the window never shows it.
    stranger.send_message(&me, "let me in");
    let bounced = pump_until_peer(&mut stranger, "the bounce", |e| {
        e["event"] == "message_error"
    });
    assert!(bounced["condition"].is_string(), "{bounced}");
    contact_button(&stranger_jid, "Unblock").emit_clicked();
    pump_until("the stranger off the block list", || {
        !sidebar.contacts_of(&me).blocked.contains(&stranger_jid)
    });
    contact_button(&stranger_jid, "Remove").emit_clicked();
    pump_until("the stranger out of the contacts", || {
        !sidebar.contacts_of(&me).contacts.contains(&stranger_jid)
            && sidebar.contacts_of(&me).contacts.contains(&friend_jid)
    });
    GtkWindowExt::close(&account_window);
    assert!(
        !visible_texts(window.upcast_ref()).contains("let me in"),
        "a blocked sender's message is shown"
    );

    // 3. Editing own messages (plaintext here, so the peer's stanza log shows the markers;
    // encrypted edits take the same core commands).
    call(
        &core,
        Command::SetEncryption {
            account: me.clone(),
            conversation: friend_jid.clone(),
            enabled: false,
            version: None,
        },
    );
    friend.send_cmd(&serde_json::json!({"cmd": "raw_events", "on": true}));
    session.open_conversation(&me, &friend_jid);
    let view = session
        .conversation_view()
        .expect("conversation view")
        .clone();
    let composer = find_widget::<gtk4::Entry>(view.upcast_ref(), &|e| {
        e.placeholder_text()
            .is_some_and(|p| p.contains(&friend_jid))
    })
    .expect("the composer");
    composer.set_text(ORIGINAL);
    composer.emit_activate();
    pump_until_peer(&mut friend, "the original message", |e| {
        e["event"] == "message" && e["body"] == ORIGINAL
    });
    pump_until("our own message, stored with its origin-id", || {
        view.last_own_message().is_some()
    });
    let own = view.last_own_message().expect("own message");
    let origin_id = own.origin_id();

    // Up in the empty composer takes the last own message for correction.
    let keys = composer
        .observe_controllers()
        .iter::<glib::Object>()
        .flatten()
        .find_map(|c| c.downcast::<gtk4::EventControllerKey>().ok())
        .expect("the composer's key controller");
    let stopped = keys.emit_by_name::<bool>(
        "key-pressed",
        &[
            &gtk4::gdk::Key::Up.into_glib(),
            &0u32,
            &gtk4::gdk::ModifierType::empty(),
        ],
    );
    assert!(stopped, "Up in the empty composer was not taken");
    assert_eq!(
        composer.text(),
        ORIGINAL,
        "Up did not load the last message"
    );
    assert!(view.editing().is_some(), "not in correction mode");
    pump(Duration::from_millis(300));
    gui_support::screenshot(&display, "edit_1_correcting");
    composer.set_text(CORRECTED);
    composer.emit_activate();
    let correction = pump_until_peer(&mut friend, "the correction", |e| {
        e["event"] == "stanza"
            && e["xml"]
                .as_str()
                .is_some_and(|x| x.contains("urn:xmpp:message-correct:0") && x.contains(CORRECTED))
    });
    let xml = correction["xml"].as_str().unwrap_or_default();
    assert!(
        xml.contains(&format!("id=\"{origin_id}\"")) || xml.contains(&format!("id='{origin_id}'")),
        "the correction does not name the original ({origin_id}): {xml}"
    );
    pump_until("the corrected text, marked edited", || {
        let Some(row) = find_widget::<MessageRow>(view.upcast_ref(), &|r| {
            visible_texts(r.upcast_ref()).contains(CORRECTED)
        }) else {
            return false;
        };
        let text = visible_texts(row.upcast_ref());
        text.contains("edited") && !text.contains(ORIGINAL)
    });
    assert!(view.editing().is_none(), "still in correction mode");
    pump(Duration::from_millis(300));
    gui_support::screenshot(&display, "edit_2_corrected");

    // The context menu retracts it, after the confirmation.
    let row = find_widget::<MessageRow>(view.upcast_ref(), &|r| {
        visible_texts(r.upcast_ref()).contains(CORRECTED)
    })
    .expect("the corrected row");
    // From the keyboard: the Menu key on the focused message opens its menu.
    let item = row.parent().expect("the list item holding the row");
    assert!(
        item.grab_focus(),
        "the message cannot take the keyboard focus"
    );
    let list_keys = view
        .list_view()
        .observe_controllers()
        .iter::<glib::Object>()
        .flatten()
        .find_map(|c| c.downcast::<gtk4::EventControllerKey>().ok())
        .expect("the message list's key controller");
    let opened = list_keys.emit_by_name::<bool>(
        "key-pressed",
        &[
            &gtk4::gdk::Key::Menu.into_glib(),
            &0u32,
            &gtk4::gdk::ModifierType::empty(),
        ],
    );
    assert!(
        opened && view.menu_popover().is_visible(),
        "the Menu key opened no menu"
    );
    view.menu_popover().popdown();
    pump(Duration::from_millis(200));
    assert!(
        row.show_menu(20.0, 10.0),
        "no context menu on our own message"
    );
    let menu = view.menu_popover();
    assert!(menu.is_visible(), "the message's menu is not shown");
    pump(Duration::from_millis(300));
    gui_support::screenshot(&display, "edit_3_context_menu");
    // Choosing the item closes the menu, then runs its action.
    let id = row.message().expect("the row's message").id();
    menu.popdown();
    pump(Duration::from_millis(200));
    WidgetExt::activate_action(&row, "msg.retract", Some(&id.to_variant())).expect("msg.retract");
    pump_until("the confirmation", || {
        app.windows()
            .into_iter()
            .any(|w| w.is::<adw::MessageDialog>())
    });
    let confirm = app
        .windows()
        .into_iter()
        .find_map(|w| w.downcast::<adw::MessageDialog>().ok())
        .expect("the confirmation");
    pump(Duration::from_millis(200));
    find_widget::<gtk4::Button>(confirm.upcast_ref(), &|b| {
        b.label().as_deref() == Some("Delete")
    })
    .expect("the Delete button")
    .emit_clicked();
    pump_until("the confirmation to close", || {
        !app.windows()
            .into_iter()
            .any(|w| w.is::<adw::MessageDialog>())
    });
    let retraction = pump_until_peer(&mut friend, "the retraction", |e| {
        e["event"] == "stanza"
            && e["xml"]
                .as_str()
                .is_some_and(|x| x.contains("urn:xmpp:message-retract"))
    });
    let xml = retraction["xml"].as_str().unwrap_or_default();
    assert!(
        xml.contains(&origin_id),
        "the retraction does not name the original ({origin_id}): {xml}"
    );
    pump_until("the tombstone", || {
        let shown = visible_texts(view.upcast_ref());
        shown.contains("This message was deleted.") && !shown.contains(CORRECTED)
    });
    pump(Duration::from_millis(300));
    gui_support::screenshot(&display, "edit_4_retracted");

    // 3b. The same Up-arrow correction in an encrypted conversation (on by default) travels
    // encrypted: the OMEMO peer decrypts the new text, which never crosses the wire in clear.
    let (cipher_jid, cipher_password) = bed.new_account("guicipher");
    let mut cipher = Peer::spawn_with(
        bed,
        &cipher_jid,
        &cipher_password,
        &support::PeerOptions {
            omemo: true,
            ..support::PeerOptions::default()
        },
    );
    cipher.send_cmd(&serde_json::json!({"cmd": "raw_events", "on": true}));
    session.open_conversation(&me, &cipher_jid);
    let composer = find_widget::<gtk4::Entry>(view.upcast_ref(), &|e| {
        e.placeholder_text()
            .is_some_and(|p| p.contains(&cipher_jid))
    })
    .expect("the composer");
    composer.set_text(SECRET_ORIGINAL);
    composer.emit_activate();
    let first = pump_until_peer(&mut cipher, "the encrypted original", |e| {
        e["event"] == "message" && e["body"] == SECRET_ORIGINAL
    });
    assert!(first["encrypted"].is_string(), "not encrypted: {first}");
    pump_until("the encrypted message, stored with its origin-id", || {
        view.last_own_message()
            .is_some_and(|m| m.body() == SECRET_ORIGINAL)
    });
    let stopped = keys.emit_by_name::<bool>(
        "key-pressed",
        &[
            &gtk4::gdk::Key::Up.into_glib(),
            &0u32,
            &gtk4::gdk::ModifierType::empty(),
        ],
    );
    assert!(
        stopped && composer.text() == SECRET_ORIGINAL,
        "Up did not load the message"
    );
    composer.set_text(SECRET_CORRECTED);
    composer.emit_activate();
    let fixed = pump_until_peer(&mut cipher, "the encrypted correction", |e| {
        e["event"] == "message" && e["body"] == SECRET_CORRECTED
    });
    assert!(
        fixed["encrypted"].is_string(),
        "the correction was not encrypted: {fixed}"
    );
    let leaked: Vec<Value> = cipher
        .pending_events()
        .into_iter()
        .filter(|e| {
            e["event"] == "stanza"
                && e["xml"]
                    .as_str()
                    .is_some_and(|x| x.contains(SECRET_CORRECTED) || x.contains(SECRET_ORIGINAL))
        })
        .collect();
    assert!(
        leaked.is_empty(),
        "a text crossed the wire in clear: {leaked:?}"
    );
    pump_until("the encrypted correction shown, marked edited", || {
        find_widget::<MessageRow>(view.upcast_ref(), &|r| {
            let text = visible_texts(r.upcast_ref());
            text.contains(SECRET_CORRECTED) && text.contains("edited")
        })
        .is_some()
    });

    // 4. Inviting a contact into a room from the room panel's contact picker.
    let room = bed.new_room("guicinv");
    call(
        &core,
        Command::CreateRoom {
            account: me.clone(),
            room: room.clone(),
            nick: "mole".into(),
            password: None,
            force: false,
        },
    );
    pump_until("the new room under Rooms", || {
        session.lists_as_room(&me, &room)
    });
    session.open_conversation(&me, &room);
    let room_button = find_widget::<gtk4::ToggleButton>(window.upcast_ref(), &|t| {
        t.icon_name().as_deref() == Some("system-users-symbolic")
    })
    .expect("the room panel button");
    room_button.set_active(true);
    let panel = session.room_panel().expect("room panel").clone();
    let picker = find_widget::<gtk4::MenuButton>(panel.upcast_ref(), &|b| {
        b.tooltip_text().as_deref() == Some("Invite one of your contacts")
    })
    .expect("the invite-a-contact button");
    picker.popup();
    pump_until("the friend in the contact picker", || {
        picker.popover().is_some_and(|p| {
            find_widget::<gtk4::Button>(p.upcast_ref(), &|b| {
                b.label().as_deref() == Some(friend_jid.as_str())
            })
            .is_some()
        })
    });
    pump(Duration::from_millis(300));
    gui_support::screenshot(&display, "invite_1_contact_picker");
    let popover = picker.popover().expect("the picker's popover");
    find_widget::<gtk4::Button>(popover.upcast_ref(), &|b| {
        b.label().as_deref() == Some(friend_jid.as_str())
    })
    .expect("the friend's entry")
    .emit_clicked();
    let invitation = pump_until_peer(&mut friend, "the room invitation", |e| {
        e["event"] == "stanza"
            && e["xml"].as_str().is_some_and(|x| {
                x.contains("http://jabber.org/protocol/muc#user") && x.contains("<invite")
            })
    });
    assert_eq!(
        invitation["from"]
            .as_str()
            .map(|f| f.split('/').next().unwrap_or(f)),
        Some(room.as_str()),
        "the invitation did not come through the room: {invitation}"
    );

    // In the room, Up corrects the last own message too (plaintext room here, so the member's
    // stanza log shows the correction).
    friend.send_cmd(&serde_json::json!({"cmd": "join", "room": room, "nick": "badger"}));
    let joined = pump_until_peer(&mut friend, "the invited friend in the room", |e| {
        e["event"] == "joined" || (e["event"] == "error" && e["cmd"] == "join")
    });
    assert_eq!(
        joined["event"], "joined",
        "the invited friend was refused: {joined}"
    );
    call(
        &core,
        Command::SetEncryption {
            account: me.clone(),
            conversation: room.clone(),
            enabled: false,
            version: None,
        },
    );
    let composer = find_widget::<gtk4::Entry>(view.upcast_ref(), &|e| {
        e.placeholder_text().is_some_and(|p| p.contains(&room))
    })
    .expect("the room's composer");
    composer.set_text(ROOM_ORIGINAL);
    composer.emit_activate();
    pump_until_peer(&mut friend, "the room message", |e| {
        e["event"] == "message" && e["body"] == ROOM_ORIGINAL
    });
    pump_until("our room message, stored with its origin-id", || {
        view.last_own_message()
            .is_some_and(|m| m.body() == ROOM_ORIGINAL)
    });
    let keys = composer
        .observe_controllers()
        .iter::<glib::Object>()
        .flatten()
        .find_map(|c| c.downcast::<gtk4::EventControllerKey>().ok())
        .expect("the composer's key controller");
    let stopped = keys.emit_by_name::<bool>(
        "key-pressed",
        &[
            &gtk4::gdk::Key::Up.into_glib(),
            &0u32,
            &gtk4::gdk::ModifierType::empty(),
        ],
    );
    assert!(
        stopped && composer.text() == ROOM_ORIGINAL,
        "Up did not load the room message"
    );
    composer.set_text(ROOM_CORRECTED);
    composer.emit_activate();
    pump_until_peer(&mut friend, "the room correction", |e| {
        e["event"] == "stanza"
            && e["xml"].as_str().is_some_and(|x| {
                x.contains("urn:xmpp:message-correct:0") && x.contains(ROOM_CORRECTED)
            })
    });
    pump_until("the room correction shown, marked edited", || {
        find_widget::<MessageRow>(view.upcast_ref(), &|r| {
            let text = visible_texts(r.upcast_ref());
            text.contains(ROOM_CORRECTED) && text.contains("edited")
        })
        .is_some()
    });

    // Locking forgets the requests, the contact lists and the account windows.
    cipher.send_cmd(&serde_json::json!({"cmd": "roster_add", "jid": me}));
    pump_until("a request pending at lock time", || {
        sidebar
            .requests()
            .iter()
            .any(|(_, from)| *from == cipher_jid)
    });
    sidebar.open_account(&me).expect("the account window");
    pump_until("the account window", || {
        app.windows().into_iter().any(|w| w.is::<AccountWindow>())
    });
    drop(panel);
    drop(view);
    drop(sidebar);
    drop(session);
    window.lock();
    pump_until("the lock", || !window.is_unlocked());
    pump(Duration::from_secs(1));
    assert!(
        !app.windows().into_iter().any(|w| w.is::<AccountWindow>()),
        "an account window survived the lock"
    );
    let shown = visible_texts(window.upcast_ref());
    for text in [
        friend_jid.as_str(),
        stranger_jid.as_str(),
        cipher_jid.as_str(),
    ] {
        assert!(!shown.contains(text), "{text:?} is still shown after lock");
    }
}
