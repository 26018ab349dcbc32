//! Preferences through the core, end to end over the headless protocol: the idle lock and the
//! front ends' `ui.*` preferences are kept in the encrypted store across restarts, other keys are
//! refused, a conversation's retention override can be read back, and an account that never
//! connected has no circuit.

mod support;

use serde_json::json;
use support::headless::{Headless, error_kind};

#[test]
fn idle_lock_and_ui_preferences_survive_a_restart_and_other_keys_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let profile = dir.path().join("p");
    let mut t = Headless::start(&profile);
    let (r, _) = t.call(json!({"cmd": "create_profile", "passphrase": "prefs"}));
    assert_eq!(r["ok"], true, "{r}");
    let (r, _) = t.call(json!({"cmd": "preferences"}));
    assert_eq!(r["preferences"]["lock.idle_minutes"], "15", "{r}");

    let (r, _) = t.call(json!({"cmd": "set_idle_lock", "minutes": 5}));
    assert_eq!(r["ok"], true, "{r}");
    let (r, _) = t.call(json!({"cmd": "set_idle_lock", "minutes": 0}));
    assert_eq!(error_kind(&r), "invalid_input");
    let (r, _) =
        t.call(json!({"cmd": "set_preference", "key": "ui.notify.show_sender", "value": "true"}));
    assert_eq!(r["ok"], true, "{r}");
    let (r, _) =
        t.call(json!({"cmd": "set_preference", "key": "tor.mode", "value": "system_socks"}));
    assert_eq!(error_kind(&r), "invalid_input", "a non-ui key was accepted");

    let (r, _) = t.call(json!({
        "cmd": "add_account", "jid": "mole@talpa.test", "password": "pw",
        "retention": "1w",
    }));
    assert_eq!(r["ok"], true, "{r}");
    let (r, _) = t.call(json!({
        "cmd": "set_retention", "account": "mole@talpa.test", "with": "carol@talpa.test",
        "policy": "1h",
    }));
    assert_eq!(r["ok"], true, "{r}");
    let (r, _) = t.call(json!({
        "cmd": "conversation_retention", "account": "mole@talpa.test", "with": "carol@talpa.test",
    }));
    assert_eq!(r["retention_override"], "1h", "{r}");
    assert_eq!(r["effective"], "1h", "{r}");
    let (r, _) = t.call(json!({
        "cmd": "conversation_retention", "account": "mole@talpa.test", "with": "dave@talpa.test",
    }));
    assert!(r["retention_override"].is_null(), "{r}");
    assert_eq!(r["effective"], "1w", "{r}");

    let (r, _) = t.call(json!({"cmd": "circuit", "account": "mole@talpa.test"}));
    assert_eq!(r["ok"], true, "{r}");
    assert!(
        r["circuit"].is_null(),
        "an unconnected account has a circuit: {r}"
    );
    t.quit();

    let mut t = Headless::start(&profile);
    let (r, _) = t.call(json!({"cmd": "preferences"}));
    assert_eq!(
        error_kind(&r),
        "locked",
        "preferences readable while locked"
    );
    let (r, _) = t.call(json!({"cmd": "unlock", "passphrase": "prefs"}));
    assert_eq!(r["ok"], true, "{r}");
    let (r, _) = t.call(json!({"cmd": "preferences"}));
    assert_eq!(r["preferences"]["lock.idle_minutes"], "5", "{r}");
    assert_eq!(r["preferences"]["ui.notify.show_sender"], "true", "{r}");
    t.quit();
}
