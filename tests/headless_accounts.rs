//! Editing an account (issue #8 item 5) and the stored start-up delay (issue #3 item 4) through
//! the headless protocol, against the shared bed: an edited account reconnects with its new
//! settings; a bad value is refused and nothing changes; the start-up delay kept in the Tor
//! settings is what accounts wait when no `--startup-jitter` is given.

mod support;

use std::time::Duration;

use serde_json::{Value, json};
use support::headless::{Headless, error_kind};

const LONG: Duration = Duration::from_mins(3);

fn account_settings(t: &mut Headless, jid: &str) -> Value {
    let (mut r, _) = t.call(json!({"cmd": "account_settings", "account": jid}));
    assert_eq!(r["ok"], true, "{r}");
    r.as_object_mut().expect("object").remove("id");
    r
}

#[test]
fn an_edited_account_logs_in_again_with_its_new_password_and_bad_values_change_nothing() {
    let bed = support::bed();
    let (jid, password) = bed.new_account("edit");
    let dir = tempfile::tempdir().expect("tempdir");
    let network = bed.tor.network_file.to_string_lossy().into_owned();
    let mut t = Headless::start_with(
        dir.path(),
        &["--tor-network", &network, "--startup-jitter", "1"],
    );
    let (r, _) = t.call(json!({"cmd": "create_profile", "passphrase": "e2e"}));
    assert_eq!(r["ok"], true, "{r}");
    let ca = std::fs::read_to_string(&bed.ca_cert).expect("bed CA");
    // Added with a wrong password and no server override: it cannot log in.
    let (r, _) = t.call(json!({
        "cmd": "add_account", "jid": jid, "password": "not-the-password",
        "host": bed.prosody.host, "port": bed.prosody.c2s_port,
    }));
    assert_eq!(r["ok"], true, "{r}");
    t.wait_event_for(
        |e| e["event"] == "account_state" && e["account"] == jid && e["state"] == "error",
        LONG,
    );

    // The password and the trust anchor are fixed; only this account reconnects.
    let (r, _) = t.call(json!({
        "cmd": "update_account", "account": jid, "password": password,
        "trust_anchor_pem": ca, "dot_resolver": "127.0.0.1:853#dot.talpa.test",
    }));
    assert_eq!(r["ok"], true, "{r}");
    t.wait_event_for(
        |e| e["event"] == "account_state" && e["account"] == jid && e["state"] == "online",
        LONG,
    );
    let before = account_settings(&mut t, &jid);
    assert_eq!(before["host"], bed.prosody.host, "{before}");
    assert_eq!(before["port"], bed.prosody.c2s_port, "{before}");
    assert_eq!(before["trust_anchor_pem"], ca.as_str());
    assert_eq!(before["dot_resolver"], "127.0.0.1:853#dot.talpa.test");
    assert!(
        before.get("password").is_none(),
        "the password is never reported"
    );

    for bad in [
        json!({"port": 0}),
        json!({"host": "two words"}),
        json!({"password": ""}),
        json!({"trust_anchor_pem": "-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n"}),
        json!({"dot_resolver": "not a resolver"}),
        json!({"password": "fine", "port": 0}),
    ] {
        let mut cmd = json!({"cmd": "update_account", "account": jid});
        cmd.as_object_mut()
            .expect("object")
            .extend(bad.as_object().expect("object").clone());
        let (r, _) = t.call(cmd);
        assert_eq!(r["ok"], false, "{bad} must be refused: {r}");
        assert_eq!(error_kind(&r), "invalid_input", "{r}");
    }
    let (r, _) =
        t.call(json!({"cmd": "update_account", "account": "nobody@talpa.test", "port": 5222}));
    assert_eq!(error_kind(&r), "not_found", "{r}");
    assert_eq!(
        account_settings(&mut t, &jid),
        before,
        "nothing was changed"
    );

    // `null` clears an override.
    let (r, _) = t.call(json!({"cmd": "update_account", "account": jid, "dot_resolver": null}));
    assert_eq!(r["ok"], true, "{r}");
    assert_eq!(account_settings(&mut t, &jid)["dot_resolver"], Value::Null);
    t.wait_event_for(
        |e| e["event"] == "account_state" && e["account"] == jid && e["state"] == "online",
        LONG,
    );
    t.quit();
}

#[test]
fn the_stored_start_up_delay_applies_when_the_command_line_gives_none() {
    let bed = support::bed();
    let (jid, password) = bed.new_account("jitter");
    let dir = tempfile::tempdir().expect("tempdir");
    let network = bed.tor.network_file.to_string_lossy().into_owned();
    // No --startup-jitter: the profile's setting rules (the default would be up to 120 s).
    let mut t = Headless::start_with(dir.path(), &["--tor-network", &network]);
    let (r, _) = t.call(json!({"cmd": "create_profile", "passphrase": "e2e"}));
    assert_eq!(r["ok"], true, "{r}");
    let (r, _) = t.call(json!({"cmd": "tor_settings"}));
    assert_eq!(r["startup_jitter_secs"], Value::Null, "{r}");

    let (r, _) =
        t.call(json!({"cmd": "set_tor_settings", "mode": "embedded", "startup_jitter_secs": 4000}));
    assert_eq!(error_kind(&r), "invalid_input", "{r}");
    let (r, _) = t.call(json!({"cmd": "tor_settings"}));
    assert_eq!(r["startup_jitter_secs"], Value::Null, "nothing stored: {r}");

    let (r, _) =
        t.call(json!({"cmd": "set_tor_settings", "mode": "embedded", "startup_jitter_secs": 0}));
    assert_eq!(r["ok"], true, "{r}");
    assert_eq!(r["startup_jitter_secs"], 0, "{r}");

    let ca = std::fs::read_to_string(&bed.ca_cert).expect("bed CA");
    let (r, _) = t.call(json!({
        "cmd": "add_account", "jid": jid, "password": password,
        "host": bed.prosody.host, "port": bed.prosody.c2s_port, "trust_anchor_pem": ca,
    }));
    assert_eq!(r["ok"], true, "{r}");
    let waiting = t.wait_event_for(
        |e| {
            e["event"] == "account_state"
                && e["account"] == jid
                && e["state"] == "waiting_for_jitter"
        },
        LONG,
    );
    assert_eq!(waiting["detail"], "connecting in 0 s", "{waiting}");
    t.wait_event_for(
        |e| e["event"] == "account_state" && e["account"] == jid && e["state"] == "online",
        LONG,
    );
    t.quit();

    // It survives a restart: unlocked again, the stored value is still there.
    let mut t = Headless::start_with(dir.path(), &["--tor-network", &network]);
    let (r, _) = t.call(json!({"cmd": "unlock", "passphrase": "e2e"}));
    assert_eq!(r["ok"], true, "{r}");
    let (r, _) = t.call(json!({"cmd": "tor_settings"}));
    assert_eq!(r["startup_jitter_secs"], 0, "{r}");
    let waiting = t.wait_event_for(
        |e| {
            e["event"] == "account_state"
                && e["account"] == jid
                && e["state"] == "waiting_for_jitter"
        },
        LONG,
    );
    assert_eq!(waiting["detail"], "connecting in 0 s", "{waiting}");
    t.quit();
}

#[test]
fn adding_an_account_refuses_bad_values_as_editing_does_and_stores_nothing() {
    // No server needed: each refused account must leave the profile without accounts.
    let dir = tempfile::tempdir().expect("tempdir");
    let mut t = Headless::start_with(&dir.path().join("p"), &["--startup-jitter", "3600"]);
    let (r, _) = t.call(json!({"cmd": "create_profile", "passphrase": "add"}));
    assert_eq!(r["ok"], true, "{r}");
    for bad in [
        json!({"trust_anchor_pem": "junk"}),
        json!({"trust_anchor_pem": "-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n"}),
        json!({"port": 0}),
        json!({"host": "two words"}),
        json!({"dot_resolver": "not a resolver"}),
        json!({"password": ""}),
    ] {
        let mut cmd = json!({"cmd": "add_account", "jid": "mole@talpa.test", "password": "pw"});
        cmd.as_object_mut()
            .expect("object")
            .extend(bad.as_object().expect("object").clone());
        let (r, _) = t.call(cmd);
        assert_eq!(
            error_kind(&r),
            "invalid_input",
            "{bad} must be refused: {r}"
        );
        if bad.get("trust_anchor_pem").is_some() {
            let message = r["error"]["message"].as_str().unwrap_or_default();
            assert!(
                message.contains("trust anchor"),
                "the error names the field: {r}"
            );
        }
    }
    let (r, _) = t.call(json!({"cmd": "list_accounts"}));
    assert_eq!(
        r["accounts"],
        json!([]),
        "a refused account was stored: {r}"
    );
    t.quit();
}
