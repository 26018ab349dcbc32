//! System-Tor mode (Tails/Whonix): streams go through an existing Tor SOCKS port, one set of
//! SOCKS credentials per account, hostnames never resolved locally.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;
mod tor_bed;

use std::net::SocketAddr;
use std::time::Duration;

use talpa::tor::{AccountIsolation, TorClient, TorConfig, TorMode};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn system_socks_mode_reaches_prosody_for_two_accounts() {
    let bed = support::bed();
    let profile = tempfile::tempdir().unwrap();
    let mut config = TorConfig::new(profile.path());
    config.mode = TorMode::SystemSocks {
        addr: SocketAddr::from(([127, 0, 0, 1], bed.tor.socks_port)),
    };
    let client = TorClient::launch(config).expect("launch");
    assert!(client.status().borrow().is_ready());
    // System mode keeps no Arti state in the profile.
    assert!(!profile.path().join("tor").exists());

    for _ in 0..2 {
        let account = AccountIsolation::new();
        let mut stream = client
            .connect_within(
                &account,
                &bed.prosody.host,
                bed.prosody.c2s_port,
                Duration::from_mins(2),
            )
            .await
            .expect("stream through the system Tor");
        let reply = tor_bed::xmpp_hello(&mut stream).await;
        assert!(reply.contains("<stream:stream"), "{reply}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn system_socks_mode_reports_an_unreachable_proxy_as_an_error() {
    let profile = tempfile::tempdir().unwrap();
    let mut config = TorConfig::new(profile.path());
    // Port 9 on loopback: nothing listens, and nothing else is ever tried.
    config.mode = TorMode::SystemSocks {
        addr: SocketAddr::from(([127, 0, 0, 1], 9)),
    };
    let client = TorClient::launch(config).expect("launch");
    let err = client
        .connect(&AccountIsolation::new(), "talpa.test", 5222)
        .await
        .expect_err("no proxy, no connection");
    assert!(matches!(err, talpa::tor::TorError::Io(_)), "{err}");
}
