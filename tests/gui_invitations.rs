//! Incoming room invitations in the window (issue #8; XEP-0249 direct and mediated ones reach
//! the window as `RoomInvite`): a Python peer on the real bed sends a direct invitation with a
//! reason; the window asks (who, which room, the reason), with every control labelled and
//! *Join* disabled until a nickname is typed; *Join* joins the room through Tor (the peer sees
//! the new occupant and the room is listed under Rooms). Screenshot kept.

mod gui_bed_support;
mod gui_support;
mod support;

use std::time::Duration;

use gtk4::prelude::*;
use libadwaita as adw;
use libadwaita::prelude::*;
use talpa::core::CoreHandle;
use talpa::ui::window::Window;

use gui_bed_support::{LONG, bed_options, pump_until_peer};
use gui_support::{find_widget, pump, pump_until, unlabelled};
use support::{Peer, bed};

#[test]
fn a_direct_invitation_is_shown_and_joining_it_enters_the_room() {
    if gui_support::is_gui_child() {
        gui_support::run_app_checks_with(bed_options, checks);
        return;
    }
    let _ = bed();
    gui_support::run_as_gui_child("a_direct_invitation_is_shown_and_joining_it_enters_the_room");
}

#[allow(clippy::needless_pass_by_value)] // run_app_checks_with's signature
fn checks(app: &adw::Application, core: CoreHandle) {
    let display = std::env::var("DISPLAY").expect("DISPLAY set by the parent");
    let bed = bed();
    let (me, my_password) = bed.new_account("guiinv");
    let (host_jid, host_password) = bed.new_account("guiinvhost");
    let room = bed.new_room("guiinvroom");
    let window = Window::new(app, core.clone());
    window.set_default_size(1100, 700);
    window.present();
    let session = gui_bed_support::unlock_with_bed_account(
        &window,
        &core,
        "gui invitations passphrase",
        &me,
        &my_password,
    );
    let mut host = Peer::spawn(bed, &host_jid, &host_password);
    host.send_cmd(&serde_json::json!({"cmd": "join", "room": room, "nick": "badger"}));
    host.wait_event(|e| e["event"] == "joined", LONG);
    gui_bed_support::wait_until_online(&session, &me);

    // A direct (XEP-0249) invitation from the peer.
    host.send_cmd(&serde_json::json!({
        "cmd": "raw",
        "xml": format!(
            "<message to='{me}' id='inv1'><x xmlns='jabber:x:conference' jid='{room}' \
             reason='the plans for friday'/></message>"
        ),
    }));
    let found = || {
        gtk4::Window::list_toplevels()
            .into_iter()
            .filter_map(|w| w.downcast::<adw::MessageDialog>().ok())
            .find(|d| d.is_visible() && d.heading().as_deref() == Some("Room invitation"))
    };
    pump_until("the invitation in the window", || found().is_some());
    let dialog = found().expect("just seen");
    pump(Duration::from_millis(500));
    gui_support::screenshot(&display, "invitation_1_asked");
    let body = dialog.body().to_string();
    for expected in [
        host_jid.as_str(),
        room.as_str(),
        "the plans for friday",
        "directly",
    ] {
        assert!(
            body.contains(expected),
            "the invitation does not say {expected:?}: {body}"
        );
    }
    let missing = unlabelled(dialog.upcast_ref());
    assert!(
        missing.is_empty(),
        "unlabelled in the invitation: {missing:#?}"
    );
    assert!(
        !dialog.is_response_enabled("join"),
        "Join needs a nickname first (none is suggested)"
    );
    let nick =
        find_widget::<gtk4::Entry>(dialog.upcast_ref(), &|_| true).expect("the nickname entry");
    nick.set_text("mole");
    assert!(
        dialog.is_response_enabled("join"),
        "a nickname enables Join"
    );
    dialog.response("join");

    pump_until_peer(&mut host, "Talpa entering the room", |e| {
        e["event"] == "occupant" && e["room"] == room.as_str() && e["nick"] == "mole"
    });
    pump_until("the room under Rooms", || session.lists_as_room(&me, &room));
    assert!(found().is_none(), "the invitation was closed after joining");
    gui_support::screenshot(&display, "invitation_2_joined");
}
