//! Tor settings from the front ends (issue #3): Tor starts only after unlock (its settings —
//! bridge lines above all — are inside the encrypted profile); bad settings are refused with a
//! clear error and nothing stored; switching to the system Tor (Tails/Whonix) and to bridges
//! at run time moves the accounts onto the new path, and the choice survives a restart.

mod support;

use std::time::Duration;

use serde_json::{Value, json};
use support::headless::{Headless, error_kind};

const LONG: Duration = Duration::from_mins(3);

fn start(bed: &support::Bed, dir: &std::path::Path) -> Headless {
    let network = bed.tor.network_file.to_string_lossy().into_owned();
    Headless::start_with(dir, &["--tor-network", &network, "--startup-jitter", "1"])
}

fn online(t: &mut Headless, jid: &str) {
    t.wait_event_for(
        |e| e["event"] == "account_state" && e["account"] == jid && e["state"] == "online",
        LONG,
    );
}

fn settings(t: &mut Headless) -> Value {
    let (mut r, _) = t.call(json!({"cmd": "tor_settings"}));
    assert_eq!(r["ok"], true, "{r}");
    r.as_object_mut().expect("object").remove("id");
    r
}

#[test]
fn tor_waits_for_unlock_and_bad_settings_are_refused_without_a_trace() {
    let bed = support::bed();
    let dir = tempfile::tempdir().expect("tempdir");
    let mut t = start(bed, dir.path());
    let (r, _) = t.call(json!({"cmd": "tor_status"}));
    assert_eq!(
        r["state"], "not_started",
        "no Tor traffic before unlock: {r}"
    );
    assert!(
        !dir.path().join("tor").exists(),
        "Arti has not even created its state before unlock"
    );
    let (r, _) = t.call(json!({"cmd": "create_profile", "passphrase": "tor"}));
    assert_eq!(r["ok"], true, "{r}");
    t.wait_event_for(
        |e| e["event"] == "tor_status" && e["state"] == "ready",
        LONG,
    );
    let before = settings(&mut t);
    assert_eq!(before["mode"], "embedded");
    assert_eq!(before["use_bridges"], false);

    for bad in [
        json!({"cmd": "set_tor_settings", "mode": "system_socks"}),
        json!({"cmd": "set_tor_settings", "mode": "system_socks", "socks_addr": "localhost"}),
        json!({"cmd": "set_tor_settings", "mode": "carrier-pigeon"}),
        json!({"cmd": "set_tor_settings", "mode": "embedded", "use_bridges": true}),
        json!({"cmd": "set_tor_settings", "mode": "embedded", "use_bridges": true,
               "bridges": ["this is not a bridge line"]}),
        json!({"cmd": "set_tor_settings", "mode": "embedded", "use_bridges": true,
               "bridges": ["meek 127.0.0.1:1 0123456789ABCDEF0123456789ABCDEF01234567 url=x"]}),
    ] {
        let (r, _) = t.call(bad.clone());
        assert_eq!(error_kind(&r), "invalid_input", "{bad} → {r}");
        assert!(
            r["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "{r}"
        );
    }
    assert_eq!(settings(&mut t), before, "nothing was stored");
    t.quit();
}

#[test]
fn switching_to_the_system_tor_and_to_bridges_moves_the_accounts_and_persists() {
    let bed = support::bed();
    let (jid, password) = bed.new_account("torset");
    let dir = tempfile::tempdir().expect("tempdir");
    let mut t = start(bed, dir.path());
    let (r, _) = t.call(json!({"cmd": "create_profile", "passphrase": "tor"}));
    assert_eq!(r["ok"], true, "{r}");
    let ca = std::fs::read_to_string(&bed.ca_cert).expect("bed CA");
    let (r, _) = t.call(json!({
        "cmd": "add_account", "jid": jid, "password": password,
        "host": bed.prosody.host, "port": bed.prosody.c2s_port, "trust_anchor_pem": ca,
    }));
    assert_eq!(r["ok"], true, "{r}");
    online(&mut t, &jid);

    // The system Tor (the bed's C tor client stands in for Tails' or Whonix's).
    t.events.clear();
    let (r, _) = t.call(json!({
        "cmd": "set_tor_settings", "mode": "system_socks",
        "socks_addr": format!("127.0.0.1:{}", bed.tor.socks_port),
    }));
    assert_eq!(r["ok"], true, "{r}");
    assert_eq!(r["mode"], "system_socks");
    let status = t.wait_event(|e| e["event"] == "tor_status");
    assert!(
        status["text"]
            .as_str()
            .is_some_and(|s| s.contains("system Tor")),
        "{status}"
    );
    online(&mut t, &jid);

    // Back to the embedded client, now entering the network through a bridge.
    let relay = &bed.tor.relays[0];
    let line = format!("127.0.0.1:{} {}", relay.or_port, relay.rsa_identity);
    t.events.clear();
    let (r, _) = t.call(json!({
        "cmd": "set_tor_settings", "mode": "embedded", "use_bridges": true,
        "bridges": [line.clone(), "# a comment line is ignored"],
    }));
    assert_eq!(r["ok"], true, "{r}");
    assert_eq!(r["bridges"], json!([line]));
    online(&mut t, &jid);
    t.quit();

    // The settings live in the encrypted profile and apply at the next unlock.
    let mut t = start(bed, dir.path());
    let (r, _) = t.call(json!({"cmd": "unlock", "passphrase": "tor"}));
    assert_eq!(r["ok"], true, "{r}");
    let s = settings(&mut t);
    assert_eq!(s["mode"], "embedded");
    assert_eq!(s["use_bridges"], true);
    assert_eq!(s["bridges"], json!([line]));
    online(&mut t, &jid);
    t.quit();
}

#[test]
fn a_private_network_kept_in_the_profile_replaces_the_command_line_option() {
    let bed = support::bed();
    let (jid, password) = bed.new_account("privnet");
    let dir = tempfile::tempdir().expect("tempdir");
    let network = std::fs::read_to_string(&bed.tor.network_file).expect("network file");
    // No --tor-network: after unlock Arti aims at the public network (unreachable here).
    let mut t = Headless::start_with(dir.path(), &["--startup-jitter", "1"]);
    let (r, _) = t.call(json!({"cmd": "create_profile", "passphrase": "net"}));
    assert_eq!(r["ok"], true, "{r}");
    let before = settings(&mut t);
    assert_eq!(before["private_network"], Value::Null);
    for bad in [
        "{\"authorities\": []}",
        "not json",
        "{\"authorities\": [{\"name\": \"a\"}]}",
    ] {
        let (r, _) = t.call(json!({"cmd": "set_tor_settings", "private_network": bad}));
        assert_eq!(error_kind(&r), "invalid_input", "{bad} → {r}");
    }
    assert_eq!(settings(&mut t), before, "nothing was stored");

    t.events.clear();
    let (r, _) = t.call(json!({"cmd": "set_tor_settings", "private_network": network}));
    assert_eq!(r["ok"], true, "{r}");
    t.wait_event_for(
        |e| e["event"] == "tor_status" && e["state"] == "ready",
        LONG,
    );
    let ca = std::fs::read_to_string(&bed.ca_cert).expect("bed CA");
    let (r, _) = t.call(json!({
        "cmd": "add_account", "jid": jid, "password": password,
        "host": bed.prosody.host, "port": bed.prosody.c2s_port, "trust_anchor_pem": ca,
    }));
    assert_eq!(r["ok"], true, "{r}");
    online(&mut t, &jid);
    t.quit();
    // The test network's Tor state is kept apart from the public network's.
    let nets: Vec<_> = std::fs::read_dir(dir.path().join("tor"))
        .expect("tor dir")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.starts_with("net-"))
        .collect();
    assert_eq!(nets.len(), 1, "{nets:?}");

    // Kept in the encrypted profile: the next start needs no option.
    let mut t = Headless::start_with(dir.path(), &["--startup-jitter", "1"]);
    let (r, _) = t.call(json!({"cmd": "unlock", "passphrase": "net"}));
    assert_eq!(r["ok"], true, "{r}");
    assert!(settings(&mut t)["private_network"].is_string());
    online(&mut t, &jid);
    t.quit();
}
