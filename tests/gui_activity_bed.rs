//! The window against the real bed, in a conversation that shares activity: typing in the
//! composer sends `composing` once for the burst and `paused` after 5 s without a keystroke;
//! the sent message asks for a receipt, and the partner's receipt shows *Delivered* under it;
//! the partner's `composing` shows "typing…" in the header; their message is marked displayed
//! when it arrives in the focused window, or when the window gets the focus back. What the peer
//! received is read from its raw stanzas.

mod gui_bed_support;
mod gui_support;
mod support;

use std::time::Duration;

use gtk4::prelude::*;
use libadwaita as adw;
use serde_json::json;
use talpa::core::{Command, CoreHandle};
use talpa::ui::chat::MessageRow;
use talpa::ui::window::Window;

use gui_bed_support::{bed_options, call, pump_until_peer};
use gui_support::{find_widget, pump, pump_until, visible_texts};
use support::{Peer, bed, secret};

#[test]
fn typing_is_told_once_per_burst_and_the_partners_receipt_and_typing_show_in_the_window() {
    if gui_support::is_gui_child() {
        gui_support::run_app_checks_with(bed_options, checks);
        return;
    }
    let _ = bed();
    gui_support::run_as_gui_child(
        "typing_is_told_once_per_burst_and_the_partners_receipt_and_typing_show_in_the_window",
    );
}

fn is_state(e: &serde_json::Value, state: &str) -> bool {
    e["event"] == "stanza"
        && e["xml"].as_str().is_some_and(|x| {
            x.contains(&format!("<{state} "))
                && x.contains("http://jabber.org/protocol/chatstates")
                && !x.contains("<body")
        })
}

#[allow(clippy::needless_pass_by_value)] // the signature run_app_checks_with expects
fn checks(app: &adw::Application, core: CoreHandle) {
    let display = std::env::var("DISPLAY").expect("DISPLAY set by the parent");
    let bed = bed();
    let (me, my_password) = bed.new_account("guiact");
    let (peer_jid, peer_password) = bed.new_account("guiactpeer");
    let window = Window::new(app, core.clone());
    window.set_default_size(1000, 700);
    window.present();
    pump(Duration::from_millis(300));
    let session = gui_bed_support::unlock_with_bed_account(
        &window,
        &core,
        "gui activity passphrase",
        &me,
        &my_password,
    );
    let mut peer = Peer::spawn(bed, &peer_jid, &peer_password);
    peer.send_cmd(&json!({"cmd": "raw_events", "on": true}));
    gui_bed_support::wait_until_online(&session, &me);
    pump(Duration::from_secs(2));
    call(
        &core,
        Command::SetEncryption {
            account: me.clone(),
            conversation: peer_jid.clone(),
            enabled: false,
            version: None,
        },
    );
    call(
        &core,
        Command::SetConversationPrivacy {
            account: me.clone(),
            with: Some(peer_jid.clone()),
            share_activity: true,
        },
    );
    session.open_conversation(&me, &peer_jid);
    pump(Duration::from_millis(500));
    let view = session.conversation_view().expect("conversation view");
    let composer = find_widget::<gtk4::Entry>(view.upcast_ref(), &|e| {
        e.placeholder_text().is_some_and(|p| p.contains(&peer_jid))
    })
    .expect("the composer");

    // One burst of typing: one `composing`; then `paused` once the keys rest.
    let text = secret("typed with the partner told");
    for n in 1..=text.len().min(12) {
        composer.set_text(&text[..n]);
        pump(Duration::from_millis(20));
    }
    pump_until_peer(&mut peer, "composing", |e| is_state(e, "composing"));
    pump_until_peer(&mut peer, "paused after the keys rested", |e| {
        is_state(e, "paused")
    });
    let composing = peer
        .take_pending()
        .iter()
        .filter(|e| is_state(e, "composing"))
        .count();
    assert_eq!(
        composing, 0,
        "composing was sent more than once for one burst"
    );

    composer.set_text(&text);
    composer.emit_activate();
    let got = pump_until_peer(&mut peer, "our message", |e| {
        e["event"] == "message" && e["body"] == text.as_str()
    });
    let id = got["id"].as_str().expect("the message's id").to_owned();
    peer.send_cmd(&json!({"cmd": "raw", "xml": format!(
        "<message to='{me}' type='chat'><received xmlns='urn:xmpp:receipts' id='{id}'/>\
         <composing xmlns='http://jabber.org/protocol/chatstates'/></message>"
    )}));
    pump_until("the delivered mark", || {
        find_widget::<MessageRow>(view.upcast_ref(), &|r| {
            r.message().is_some_and(|m| m.origin_id() == id)
        })
        .is_some_and(|r| visible_texts(r.upcast_ref()).contains("Delivered"))
    });
    pump_until("typing… in the header", || {
        find_widget::<adw::WindowTitle>(session.upcast_ref(), &|t| t.title() == peer_jid.as_str())
            .is_some_and(|t| t.subtitle() == "typing…")
    });
    pump(Duration::from_millis(300));
    gui_support::screenshot(&display, "activity_delivered_and_typing");

    // Their markable message arrives while the conversation is on screen in the focused
    // window, at its newest end: marked displayed, once.
    assert!(window.is_active(), "the window has the focus under Xvfb");
    let theirs = support::random_hex(8);
    peer.send_cmd(&json!({"cmd": "raw", "xml": format!(
        "<message to='{me}' type='chat' id='{theirs}'><body>{}</body>\
         <markable xmlns='urn:xmpp:chat-markers:0'/><active xmlns='http://jabber.org/protocol/chatstates'/></message>",
        secret("read on screen")
    )}));
    pump_until("typing… ends with their message", || {
        find_widget::<adw::WindowTitle>(session.upcast_ref(), &|t| t.title() == peer_jid.as_str())
            .is_some_and(|t| t.subtitle() != "typing…")
    });
    pump_until_peer(&mut peer, "the displayed marker", |e| {
        e["event"] == "stanza"
            && e["xml"]
                .as_str()
                .is_some_and(|x| x.contains("<displayed") && x.contains(&theirs))
    });

    // One arriving while the window is not focused is marked when the focus comes back.
    let other = gtk4::Window::builder().title("Another program").build();
    other.present();
    pump_until("the window to be inactive", || !window.is_active());
    let unseen = support::random_hex(8);
    let unseen_text = secret("arrived while away");
    peer.send_cmd(&json!({"cmd": "raw", "xml": format!(
        "<message to='{me}' type='chat' id='{unseen}'><body>{unseen_text}</body>\
         <markable xmlns='urn:xmpp:chat-markers:0'/></message>"
    )}));
    pump_until("their message in the conversation", || {
        visible_texts(view.upcast_ref()).contains(&unseen_text)
    });
    pump(Duration::from_secs(1));
    assert!(
        !peer.pending_events().iter().any(|e| e["event"] == "stanza"
            && e["xml"]
                .as_str()
                .is_some_and(|x| x.contains("<displayed") && x.contains(&unseen))),
        "marked displayed while the window was not focused"
    );
    other.close();
    window.present();
    pump_until("the window to be active", || window.is_active());
    pump_until_peer(
        &mut peer,
        "the displayed marker after the focus came back",
        |e| {
            e["event"] == "stanza"
                && e["xml"]
                    .as_str()
                    .is_some_and(|x| x.contains("<displayed") && x.contains(&unseen))
        },
    );
}
