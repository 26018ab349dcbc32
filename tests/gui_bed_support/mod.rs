//! What the GUI tests that run against the real bed share: the core's options for the bed's
//! private Tor network, a blocking core call, and waiting for a Python peer's event while the
//! GTK main loop keeps running. A test includes it next to `gui_support` and `support`.
#![allow(dead_code)] // each test binary uses only some of these

use std::time::Duration;

use serde_json::Value;
use talpa::core::{Command, CoreHandle, CoreOptions, Reply};

use crate::gui_support::pump;
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
