//! No fallback: when Tor cannot be reached, accounts wait visibly and messages stay in the
//! encrypted outbox — nothing goes out directly — and they are delivered once Tor is back.

mod support;

use std::time::Duration;

use serde_json::json;
use support::headless::Headless;
use support::{Peer, bed};

const LONG: Duration = Duration::from_secs(120);

/// The bed's network description with every directory address pointing at a closed port: the
/// same network, unreachable.
fn unreachable_network(dir: &std::path::Path) -> std::path::PathBuf {
    let bed = bed();
    let text = std::fs::read_to_string(&bed.tor.network_file).expect("network file");
    let mut net: serde_json::Value = serde_json::from_str(&text).expect("network json");
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = closed.local_addr().expect("addr").port();
    drop(closed);
    for fb in net["fallbacks"].as_array_mut().expect("fallbacks") {
        fb["orports"] = json!([format!("127.0.0.1:{port}")]);
    }
    let path = dir.join("unreachable-network.json");
    std::fs::write(&path, net.to_string()).expect("write");
    path
}

#[test]
fn without_tor_accounts_wait_and_messages_queue_until_tor_returns() {
    let bed = bed();
    let (a, apw) = bed.new_account("notor");
    let (b, bpw) = bed.new_account("waiter");
    let dir = tempfile::tempdir().expect("tempdir");
    let profile = dir.path().join("p");
    let bad = unreachable_network(dir.path());
    let bad = bad.to_string_lossy().into_owned();

    let mut t = Headless::start_with(&profile, &["--tor-network", &bad, "--startup-jitter", "0"]);
    t.call(json!({"cmd": "create_profile", "passphrase": "pw"}));
    let ca = std::fs::read_to_string(&bed.ca_cert).expect("CA");
    let (r, _) = t.call(json!({
        "cmd": "add_account", "jid": a, "password": apw,
        "host": bed.prosody.host, "port": bed.prosody.c2s_port, "trust_anchor_pem": ca,
    }));
    assert_eq!(r["ok"], true, "{r}");
    t.wait_event_for(
        |e| e["event"] == "account_state" && e["state"] == "waiting_for_tor",
        LONG,
    );
    // This peer has no OMEMO keys: encryption (on by default) is turned off explicitly.
    t.call(json!({"cmd": "set_encryption", "account": a, "conversation": b, "enabled": false}));
    let (r, _) = t.call(json!({"cmd": "send", "account": a, "to": b, "body": "held back"}));
    assert_eq!(r["ok"], true, "{r}");
    std::thread::sleep(Duration::from_secs(5));
    let (r, _) = t.call(json!({"cmd": "tor_status"}));
    assert_ne!(r["state"], "ready", "{r}");
    let (r, _) = t.call(json!({"cmd": "list_accounts"}));
    assert_eq!(r["accounts"][0]["state"], "waiting_for_tor", "{r}");
    assert!(
        !t.events.iter().any(|e| e["event"] == "account_state"
            && (e["state"] == "online" || e["state"] == "connecting")),
        "an account must never connect without Tor: {:?}",
        t.events
    );
    t.quit();

    // Tor "returns": the same profile started with a reachable network delivers the message.
    let mut peer = Peer::spawn(bed, &b, &bpw);
    let good = bed.tor.network_file.to_string_lossy().into_owned();
    let mut t = Headless::start_with(&profile, &["--tor-network", &good, "--startup-jitter", "0"]);
    t.call(json!({"cmd": "unlock", "passphrase": "pw"}));
    peer.wait_message("held back", LONG);
    t.quit();
}
