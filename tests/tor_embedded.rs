//! Embedded Arti on the bed's private Tor network: bootstrap, reach Prosody, isolate accounts.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;
mod tor_bed;

use std::time::Duration;

use talpa::tor::{AccountIsolation, PrivateNetwork, TorClient, TorConfig, TorState};

fn private_config(profile: &std::path::Path) -> TorConfig {
    let bed = support::bed();
    let mut config = TorConfig::new(profile);
    config.network = Some(PrivateNetwork::from_file(&bed.tor.network_file).expect("network file"));
    config
}

const READY_WITHIN: Duration = Duration::from_mins(3);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn arti_bootstraps_on_the_private_network_and_reports_ready() {
    let profile = tempfile::tempdir().unwrap();
    let config = private_config(profile.path());
    let client = TorClient::launch(config.clone()).expect("launch");
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
    // A private network's state and cache live in its own directory inside the profile.
    let net = config.network_dir();
    assert!(net.starts_with(profile.path().join("tor")) && net != profile.path().join("tor"));
    assert!(config.state_dir().starts_with(&net) && config.state_dir().is_dir());
    assert!(config.cache_dir().starts_with(&net) && config.cache_dir().is_dir());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_through_arti_reaches_prosody() {
    let bed = support::bed();
    let profile = tempfile::tempdir().unwrap();
    let client = TorClient::launch(private_config(profile.path())).expect("launch");
    let account = AccountIsolation::new();
    // connect waits for readiness itself.
    let mut stream = client
        .connect_within(
            &account,
            &bed.prosody.host,
            bed.prosody.c2s_port,
            READY_WITHIN,
        )
        .await
        .expect("stream through tor");
    let reply = tor_bed::xmpp_hello(&mut stream).await;
    assert!(reply.contains("<stream:stream"), "{reply}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_accounts_never_share_a_circuit_and_one_account_reuses_its_own() {
    let bed = support::bed();
    let profile = tempfile::tempdir().unwrap();
    let client = TorClient::launch(private_config(profile.path())).expect("launch");
    let alice = AccountIsolation::new();
    let bob = AccountIsolation::new();

    let mut a1 = client
        .connect_within(
            &alice,
            &bed.prosody.host,
            bed.prosody.c2s_port,
            READY_WITHIN,
        )
        .await
        .expect("alice's first stream");
    let mut b1 = client
        .connect_within(&bob, &bed.prosody.host, bed.prosody.c2s_port, READY_WITHIN)
        .await
        .expect("bob's stream");
    let mut a2 = client
        .connect_within(
            &alice,
            &bed.prosody.host,
            bed.prosody.c2s_port,
            READY_WITHIN,
        )
        .await
        .expect("alice's second stream");
    for s in [&mut a1, &mut b1, &mut a2] {
        let reply = tor_bed::xmpp_hello(s).await;
        assert!(reply.contains("<stream:stream"), "{reply}");
    }

    let ca1 = a1.circuit().expect("alice's circuit");
    let cb1 = b1.circuit().expect("bob's circuit");
    let ca2 = a2.circuit().expect("alice's second circuit");
    assert_ne!(ca1.id, cb1.id, "alice and bob share a circuit");
    assert_eq!(
        ca1.id, ca2.id,
        "one account's streams should share its circuit"
    );
    assert_eq!(ca1.hops.len(), 3, "{ca1:?}");
    let bed_ports = tor_bed::or_ports(bed);
    for hop in ca1.hops.iter().chain(&cb1.hops) {
        assert!(
            hop.rsa_identity.as_ref().is_some_and(|id| id.len() == 40),
            "{hop:?}"
        );
        assert!(
            hop.addrs.iter().any(|a| bed_ports.contains(&a.port())),
            "{hop:?}"
        );
    }
    assert_eq!(client.circuit_of(&alice), Some(ca1));
    assert_eq!(client.circuit_of(&bob), Some(cb1));
    assert_eq!(client.circuit_of(&AccountIsolation::new()), None);
}
