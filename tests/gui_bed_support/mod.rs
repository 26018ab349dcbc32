//! What the GUI tests that run against the real bed share: the core's options for the bed's
//! private Tor network, a blocking core call, a window unlocked with one bed account, and waiting for a Python peer's event while the
//! GTK main loop keeps running. A test includes it next to `gui_support` and `support`.
#![allow(dead_code)] // each test binary uses only some of these

use std::time::Duration;

use gtk4::prelude::*;

use serde_json::Value;
use talpa::core::commands::{NewAccount, Secret};
use talpa::core::{Command, CoreHandle, CoreOptions, Reply};
use talpa::ui::session_view::SessionView;
use talpa::ui::window::Window;

use crate::gui_support::{pump, pump_until};
use crate::support::{Peer, bed};

/// How long a bed round trip (login, peer event) may take on a loaded machine.
pub const LONG: Duration = Duration::from_secs(120);

/// Core options for a profile at `profile` that reaches the bed's private Tor network.
pub fn bed_options(profile: std::path::PathBuf) -> CoreOptions {
    let mut options = CoreOptions::new(profile);
    options.tor_network = Some(bed().tor.network_file.clone());
    options.startup_jitter = Duration::from_secs(2);
    options
}

/// Runs `command` on the core from the GTK thread and returns its reply; panics on an error.
pub fn call(core: &CoreHandle, command: Command) -> Reply {
    let name = command.name();
    gtk4::glib::MainContext::default()
        .block_on(core.call(command))
        .unwrap_or_else(|e| panic!("{name} failed: {e}"))
}

/// Pumps the GTK main loop until the peer reports a matching event.
pub fn pump_until_peer(peer: &mut Peer, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
    let deadline = std::time::Instant::now() + LONG;
    while !peer.pending_events().iter().any(&pred) {
        assert!(
            std::time::Instant::now() < deadline,
            "the peer never saw {what}\n{}",
            peer.diagnostics()
        );
        pump(Duration::from_millis(50));
    }
    peer.wait_event(pred, Duration::from_secs(1))
}

/// Creates the profile (with `passphrase`) and adds `jid` as an account on the bed's Prosody
/// (its host and port, the bed's CA as the trust anchor); waits for the window to unlock and
/// lists the account. Returns the window's session view.
pub fn unlock_with_bed_account(
    window: &Window,
    core: &CoreHandle,
    passphrase: &str,
    jid: &str,
    password: &str,
) -> SessionView {
    let bed = bed();
    call(
        core,
        Command::CreateProfile {
            passphrase: Secret::new(passphrase),
        },
    );
    let ca = std::fs::read_to_string(&bed.ca_cert).expect("the bed's CA");
    call(
        core,
        Command::AddAccount(NewAccount {
            jid: jid.to_owned(),
            password: Secret::new(password),
            host: Some(bed.prosody.host.clone()),
            port: Some(bed.prosody.c2s_port),
            direct_tls: false,
            trust_anchor_pem: Some(ca),
            local_only_contacts: false,
            dot_resolver: None,
            retention: None,
        }),
    );
    pump_until("the session view", || window.is_unlocked());
    let session = window.session().expect("session view");
    window.reload_accounts();
    session
}

/// A main window of `app` (1100×700, shown) unlocked as [`unlock_with_bed_account`] does, and
/// its session view.
pub fn window_on_bed(
    app: &libadwaita::Application,
    core: &CoreHandle,
    passphrase: &str,
    jid: &str,
    password: &str,
) -> (Window, SessionView) {
    let window = Window::new(app, core.clone());
    window.set_default_size(1100, 700);
    window.present();
    pump(Duration::from_millis(300));
    let session = unlock_with_bed_account(&window, core, passphrase, jid, password);
    (window, session)
}

/// Pumps the GTK main loop until the window shows `jid` online (its login went through the
/// bed's Tor network); fails with Prosody's log if it does not within [`LONG`].
pub fn wait_until_online(session: &SessionView, jid: &str) {
    let bed = bed();
    let deadline = std::time::Instant::now() + LONG;
    while session.account_state(jid).as_deref() != Some("online") {
        assert!(
            std::time::Instant::now() < deadline,
            "the account did not go online through Tor (state {:?})\n{}",
            session.account_state(jid),
            bed.prosody_log_tail(40)
        );
        pump(Duration::from_millis(100));
    }
}
