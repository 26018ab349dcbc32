//! .onion servers (issue #3): the bed publishes Prosody as a v3 onion service on the private
//! Tor network (hosted by its C tor client); embedded Arti reaches it through a rendezvous
//! circuit — no exit involved — and a Talpa account whose host is the .onion logs in over it,
//! the certificate still checked against the JID's domain.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;
mod tor_bed;

use std::time::Duration;

use serde_json::json;
use support::headless::Headless;
use talpa::tor::{AccountIsolation, PrivateNetwork, TorClient, TorConfig};

fn onion(bed: &support::Bed) -> &str {
    assert!(
        bed.onion.len() == 62 && bed.onion.to_ascii_lowercase().ends_with(".onion"),
        "the bed in {} has no onion service (started by an older bed.py: stop it and rerun)",
        bed.dir.display()
    );
    &bed.onion
}

#[test]
fn embedded_arti_reaches_an_onion_service_on_the_private_network() {
    let bed = support::bed();
    let host = onion(bed).to_owned();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let profile = tempfile::tempdir().unwrap();
        let mut config = TorConfig::new(profile.path());
        config.network = Some(PrivateNetwork::from_file(&bed.tor.network_file).unwrap());
        let client = TorClient::launch(config).unwrap();
        let account = AccountIsolation::new();
        // The descriptor may still be on its way to the HSDirs on a fresh bed: retry a while.
        let mut last = String::new();
        for _ in 0..12 {
            match client
                .connect_within(&account, &host, 5222, Duration::from_secs(60))
                .await
            {
                Ok(mut stream) => {
                    let reply = tor_bed::xmpp_hello(&mut stream).await;
                    assert!(reply.contains("from='talpa.test'"), "{reply}");
                    return;
                }
                Err(e) => last = e.to_string(),
            }
            tokio::time::sleep(Duration::from_secs(5)).await;
        }
        panic!("the onion service was never reached: {last}");
    });
}

#[test]
fn an_account_on_an_onion_server_logs_in_and_messages() {
    let bed = support::bed();
    let host = onion(bed).to_owned();
    let (a, apw) = bed.new_account("onion");
    let (b, bpw) = bed.new_account("onionpeer");
    let mut peer = support::Peer::spawn(bed, &b, &bpw);
    let dir = tempfile::tempdir().unwrap();
    let network = bed.tor.network_file.to_string_lossy().into_owned();
    let mut t = Headless::start_with(
        dir.path(),
        &["--tor-network", &network, "--startup-jitter", "1"],
    );
    let (r, _) = t.call(json!({"cmd": "create_profile", "passphrase": "onion"}));
    assert_eq!(r["ok"], true, "{r}");
    let ca = std::fs::read_to_string(&bed.ca_cert).unwrap();
    let (r, _) = t.call(json!({
        "cmd": "add_account", "jid": a, "password": apw, "host": host, "port": 5222,
        "trust_anchor_pem": ca,
    }));
    assert_eq!(r["ok"], true, "{r}");
    t.wait_event_for(
        |e| e["event"] == "account_state" && e["account"] == a && e["state"] == "online",
        Duration::from_mins(5),
    );
    std::thread::sleep(Duration::from_secs(2));
    // This peer has no OMEMO keys: encryption (on by default) is turned off explicitly.
    t.call(json!({"cmd": "set_encryption", "account": a, "conversation": b, "enabled": false}));
    let (r, _) = t.call(json!({"cmd": "send", "account": a, "to": b, "body": "out via onion"}));
    assert_eq!(r["ok"], true, "{r}");
    peer.wait_message("out via onion", Duration::from_mins(2));
    peer.send_message(&a, "in via onion");
    t.wait_event_for(
        |e| e["event"] == "message" && e["body"] == "in via onion",
        Duration::from_mins(2),
    );
    t.quit();
}
