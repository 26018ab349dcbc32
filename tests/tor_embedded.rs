//! Embedded Arti on the bed's private Tor network: bootstrap, reach Prosody, isolate accounts.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod tor_bed;

use std::time::Duration;

use talpa::tor::{AccountIsolation, PrivateNetwork, TorClient, TorConfig, TorState};

fn private_config(profile: &std::path::Path) -> TorConfig {
    let bed = tor_bed::bed();
    let mut config = TorConfig::new(profile);
    config.network = Some(PrivateNetwork::from_file(&bed.network_file).expect("network file"));
    config
}

const READY_WITHIN: Duration = Duration::from_mins(3);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn arti_bootstraps_on_the_private_network_and_reports_ready() {
    let profile = tempfile::tempdir().unwrap();
    let client = TorClient::launch(private_config(profile.path())).expect("launch");
    let mut status = client.status();
    let mut seen = Vec::new();
    let reached = tokio::time::timeout(READY_WITHIN, async {
        loop {
            let now = status.borrow_and_update().clone();
            seen.push(now.state.clone());
            if now.state == TorState::Ready {
                return;
            }
            status.changed().await.expect("status channel open");
        }
    })
    .await;
    assert!(reached.is_ok(), "never Ready; states seen: {seen:?}");
    assert!(profile.path().join("tor/state").is_dir());
    assert!(profile.path().join("tor/cache").is_dir());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_through_arti_reaches_prosody() {
    let bed = tor_bed::bed();
    let profile = tempfile::tempdir().unwrap();
    let client = TorClient::launch(private_config(profile.path())).expect("launch");
    let account = AccountIsolation::new();
    // connect waits for readiness itself.
    let mut stream = client
        .connect_within(&account, &bed.prosody_host, bed.c2s_port, READY_WITHIN)
        .await
        .expect("stream through tor");
    let reply = tor_bed::xmpp_hello(&mut stream).await;
    assert!(reply.contains("<stream:stream"), "{reply}");
}
