//! Devices, trust and room audits in the window, against the real bed with an OMEMO peer
//! (slixmpp-omemo): writing to the peer shows a banner about its new device in the
//! conversation (and a changed identity key, as the core reports it, another); the devices window (from the conversation's header) lists the peer's device
//! with its fingerprint and our own device marked, and verify / distrust reach the core's trust
//! records; the account's devices window sets strict trust and key access in the core; the room
//! audit from the room panel explains a weak room (the peer's instant room) in plain words,
//! and says Talpa's own private room has no weakness.

mod gui_bed_support;
mod gui_support;
mod support;

use std::time::Duration;

use gtk4::prelude::*;
use libadwaita as adw;
use libadwaita::prelude::*;
use serde_json::json;
use talpa::core::events::DeviceInfo;
use talpa::core::{Command, CoreHandle, Event, Reply};
use talpa::ui::chat::room_audit_window::RoomAuditWindow;
use talpa::ui::devices_window::DevicesWindow;
use talpa::ui::session_view::SessionView;
use talpa::ui::window::Window;

use gui_bed_support::{bed_options, call};
use gui_support::{find_widget, pump, pump_until, visible_texts};
use support::{Peer, bed};

const LONG: Duration = Duration::from_secs(120);

#[test]
fn devices_trust_and_room_audits_are_shown_and_decided_in_the_window() {
    if gui_support::is_gui_child() {
        gui_support::run_app_checks_with(bed_options, checks);
        return;
    }
    let _ = bed();
    gui_support::run_as_gui_child(
        "devices_trust_and_room_audits_are_shown_and_decided_in_the_window",
    );
}

fn devices(core: &CoreHandle, account: &str, jid: Option<&str>) -> Vec<DeviceInfo> {
    match call(
        core,
        Command::Devices {
            account: account.to_owned(),
            jid: jid.map(str::to_owned),
        },
    ) {
        Reply::Devices { devices } => devices,
        other => panic!("devices answered {other:?}"),
    }
}

fn find_window<T: IsA<gtk4::Window>>(app: &adw::Application, what: &str) -> T {
    pump_until(what, || app.windows().into_iter().any(|w| w.is::<T>()));
    app.windows()
        .into_iter()
        .find_map(|w| w.downcast::<T>().ok())
        .unwrap_or_else(|| panic!("{what}"))
}

/// The devices window's button `label` on the row of device `device`.
fn row_button(window: &DevicesWindow, device: u32, label: &str) -> gtk4::Button {
    let subtitle = format!("Device {device} ·");
    let row = find_widget::<adw::ActionRow>(window.upcast_ref(), &|r| {
        r.subtitle().is_some_and(|s| s.starts_with(&subtitle))
    })
    .unwrap_or_else(|| panic!("the row of device {device}"));
    find_widget::<gtk4::Button>(row.upcast_ref(), &|b| b.label().as_deref() == Some(label))
        .unwrap_or_else(|| panic!("{label} on device {device}"))
}

#[allow(clippy::needless_pass_by_value)] // the signature run_app_checks_with expects
#[allow(clippy::too_many_lines)] // one scripted session, step by step
fn checks(app: &adw::Application, core: CoreHandle) {
    let display = std::env::var("DISPLAY").expect("DISPLAY set by the parent");
    let bed = bed();
    let (me, my_password) = bed.new_account("guitrust");
    let (peer_jid, peer_password) = bed.new_account("guitrustpeer");
    let window = Window::new(app, core.clone());
    window.set_default_size(1100, 700);
    window.present();
    let session = gui_bed_support::unlock_with_bed_account(
        &window,
        &core,
        "gui trust passphrase",
        &me,
        &my_password,
    );
    let mut peer = Peer::spawn_with(
        bed,
        &peer_jid,
        &peer_password,
        &support::PeerOptions {
            omemo: true,
            ..support::PeerOptions::default()
        },
    );
    peer.send_cmd(&json!({"cmd": "omemo_info"}));
    let info = peer.wait_event(|e| e["event"] == "ack" && e["cmd"] == "omemo_info", LONG);
    let peer_device = u32::try_from(
        info["info"]["device"]["id"]
            .as_u64()
            .expect("peer device id"),
    )
    .expect("device ids are 31-bit");
    gui_bed_support::wait_until_online(&session, &me);
    pump(Duration::from_secs(2));

    // Writing to the peer fetches its devices: a banner tells about the new one.
    session.open_conversation(&me, &peer_jid);
    call(
        &core,
        Command::Send {
            account: me.clone(),
            to: peer_jid.clone(),
            body: "hello, encrypted".into(),
        },
    );
    let security = || session.security_banner();
    pump_until("the new-device banner", || {
        security().is_some_and(|t| t.contains(&peer_jid) && t.contains("new device"))
    });
    peer.wait_message("hello, encrypted", LONG);
    pump(Duration::from_millis(500));
    gui_support::screenshot(&display, "trust_1_new_device_banner");

    // The conversation's devices: the peer's device with its fingerprint, ours marked.
    WidgetExt::activate_action(&session, "session.contact-devices", None)
        .expect("session.contact-devices");
    let devices_window = find_window::<DevicesWindow>(app, "the devices window");
    pump_until("the peer's device with its fingerprint", || {
        devices_window
            .devices()
            .iter()
            .any(|d| d.device == peer_device && d.fingerprint.is_some())
    });
    let shown = devices_window.devices();
    let theirs = shown
        .iter()
        .find(|d| d.device == peer_device)
        .expect("peer device");
    assert_eq!(theirs.jid, peer_jid);
    assert_eq!(theirs.trust, "blind", "blind trust before verification");
    assert!(
        shown.iter().any(|d| d.this_device && d.jid == me),
        "our own device is listed and marked: {shown:?}"
    );
    let text = visible_texts(devices_window.upcast_ref());
    assert!(
        text.contains(theirs.fingerprint.as_deref().unwrap_or("?")),
        "the fingerprint is shown:\n{text}"
    );
    assert!(
        text.contains("This device"),
        "our device is marked:\n{text}"
    );
    gui_support::screenshot(&display, "trust_2_contact_devices");

    row_button(&devices_window, peer_device, "Verify…").emit_clicked();
    let confirm = find_window::<adw::MessageDialog>(app, "the fingerprint comparison");
    assert!(
        confirm
            .body()
            .contains(theirs.fingerprint.as_deref().unwrap_or("?")),
        "the dialog shows the fingerprint to compare"
    );
    confirm.response("verify");
    let trust_of = |level: &str| {
        devices(&core, &me, Some(&peer_jid))
            .iter()
            .any(|d| d.device == peer_device && d.trust == level)
    };
    pump_until("the device verified in the core", || trust_of("verified"));
    pump_until("the row to say verified", || {
        visible_texts(devices_window.upcast_ref()).contains("Verified by you")
    });
    row_button(&devices_window, peer_device, "Distrust").emit_clicked();
    pump_until("the device distrusted in the core", || {
        trust_of("untrusted")
    });
    pump(Duration::from_millis(500));
    gui_support::screenshot(&display, "trust_3_distrusted");
    devices_window.close();
    pump(Duration::from_millis(300));

    // A changed identity key (as the core reports it) is announced in the open conversation.
    window.on_event(&Event::IdentityChanged {
        account: me.clone(),
        jid: peer_jid.clone(),
        device: peer_device,
        old_fingerprint: theirs.fingerprint.clone().unwrap_or_default(),
        new_fingerprint: "00000000 11111111 22222222 33333333 44444444 55555555 66666666 77777777"
            .into(),
        old_was_verified: true,
    });
    pump_until("the changed-key banner", || {
        security().is_some_and(|t| t.contains("CHANGED (you had verified the old one)"))
    });
    pump(Duration::from_millis(300));
    gui_support::screenshot(&display, "trust_3b_changed_key_banner");

    // The account's own view: strict trust and key access.
    WidgetExt::activate_action(&session, "session.account-devices", Some(&me.to_variant()))
        .expect("session.account-devices");
    let account_window = find_window::<DevicesWindow>(app, "the account's devices window");
    pump_until("our own device listed", || {
        account_window.devices().iter().any(|d| d.this_device)
    });
    account_window.strict_switch().set_active(true);
    account_window.access_row().set_selected(1);
    let settings = || match call(
        &core,
        Command::OmemoSettings {
            account: me.clone(),
        },
    ) {
        Reply::OmemoSettings { strict, key_access } => (strict, key_access),
        other => panic!("omemo_settings answered {other:?}"),
    };
    pump_until("strict trust and contacts-only keys in the core", || {
        settings() == (true, "contacts".to_owned())
    });
    pump(Duration::from_millis(500));
    gui_support::screenshot(&display, "trust_4_account_policy");
    account_window.close();
    pump(Duration::from_millis(300));
    WidgetExt::activate_action(&session, "session.account-devices", Some(&me.to_variant()))
        .expect("session.account-devices");
    let account_window = find_window::<DevicesWindow>(app, "the account's devices window again");
    pump_until("the stored policy shown", || {
        account_window.strict_switch().is_active() && account_window.access_row().selected() == 1
    });
    // Back to the defaults, so the rooms below encrypt as usual.
    account_window.strict_switch().set_active(false);
    account_window.access_row().set_selected(0);
    pump_until("the defaults back in the core", || {
        settings() == (false, "open".to_owned())
    });
    account_window.close();
    pump(Duration::from_millis(300));

    rooms(app, &core, &session, &me, &mut peer, &display);
}

/// A weak room (the peer's instant room) and Talpa's own private room, audited from the panel.
fn rooms(
    app: &adw::Application,
    core: &CoreHandle,
    session: &SessionView,
    me: &str,
    peer: &mut Peer,
    display: &str,
) {
    let weak = bed().new_room("guiweak");
    peer.send_cmd(&json!({"cmd": "join", "room": weak, "nick": "host"}));
    let joined = peer.wait_event(|e| e["event"] == "joined" || e["event"] == "error", LONG);
    assert_eq!(joined["event"], "joined", "{joined}");
    call(
        core,
        Command::JoinRoom {
            account: me.to_owned(),
            room: weak.clone(),
            nick: "mole".into(),
            password: None,
            force: false,
        },
    );
    pump_until("the weak room under Rooms", || {
        session.lists_as_room(me, &weak)
    });
    session.open_conversation(me, &weak);
    pump_until("the weak room's banner", || {
        session
            .security_banner()
            .is_some_and(|t| t.contains("weakness"))
    });
    let panel = session.room_panel().expect("room panel").clone();
    find_widget::<gtk4::Button>(panel.upcast_ref(), &|b| {
        b.label().is_some_and(|l| l.starts_with("Room Audit"))
    })
    .expect("the Room Audit button")
    .emit_clicked();
    let audit = find_window::<RoomAuditWindow>(app, "the weak room's audit");
    pump(Duration::from_millis(500));
    let text = visible_texts(audit.upcast_ref());
    for expected in ["weakness", "Who can enter", "Anyone who finds the room"] {
        assert!(text.contains(expected), "{expected:?} missing:\n{text}");
    }
    gui_support::screenshot(display, "audit_1_weak_room");
    audit.close();
    pump(Duration::from_millis(300));

    let private = bed().new_room("guiprivate");
    call(
        core,
        Command::CreateRoom {
            account: me.to_owned(),
            room: private.clone(),
            nick: "mole".into(),
            password: None,
            force: false,
        },
    );
    pump_until("the private room's audit", || {
        session.room_audit(me, &private).is_some()
    });
    session.open_conversation(me, &private);
    assert!(
        session.security_banner().is_none(),
        "no weakness banner for a private room: {:?}",
        session.security_banner()
    );
    WidgetExt::activate_action(session, "session.room-audit", None).expect("session.room-audit");
    let audit = find_window::<RoomAuditWindow>(app, "the private room's audit");
    pump(Duration::from_millis(500));
    let text = visible_texts(audit.upcast_ref());
    assert!(
        text.contains("No weakness found") && text.contains("Only members can enter"),
        "the private room is not shown as clean:\n{text}"
    );
    gui_support::screenshot(display, "audit_2_private_room");
    audit.close();
}
