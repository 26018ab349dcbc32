//! The headless front end over a real encrypted profile: the JSON-lines contract end to end,
//! through the real `talpa` binary.

mod support;

use serde_json::{Value, json};
use support::headless::{Headless, error_kind};

#[test]
fn malformed_lines_get_error_replies_and_the_process_keeps_running() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut t = Headless::start(&dir.path().join("p"));
    t.raw("this is not json");
    let (r, _) = t.reply_to(&Value::Null);
    assert_eq!(error_kind(&r), "invalid_input");
    t.raw(r#"{"id":"x","cmd":"teleport"}"#);
    let (r, _) = t.reply_to(&json!("x"));
    assert_eq!(error_kind(&r), "invalid_input");
    t.raw(&format!(
        r#"{{"id":"big","cmd":"send","body":"{}"}}"#,
        "a".repeat(2 << 20)
    ));
    let (r, _) = t.reply_to(&Value::Null);
    assert_eq!(error_kind(&r), "invalid_input");
    let (r, _) = t.call(json!({"cmd": "list_accounts"}));
    assert_eq!(error_kind(&r), "locked");
    t.quit();
}

#[test]
fn profile_lifecycle_create_lock_wrong_passphrase_unlock() {
    let dir = tempfile::tempdir().expect("tempdir");
    let profile = dir.path().join("p");
    let mut t = Headless::start(&profile);
    let (r, _) = t.call(json!({"cmd": "unlock", "passphrase": "nothing here"}));
    assert_eq!(error_kind(&r), "no_profile");
    let (r, _) = t.call(json!({"cmd": "create_profile", "passphrase": "tall mole digs"}));
    assert_eq!(r["ok"], true, "{r}");
    t.wait_event(|e| e["event"] == "unlocked");
    let (r, _) = t.call(json!({"cmd": "create_profile", "passphrase": "again"}));
    assert_eq!(error_kind(&r), "profile_exists");

    let (r, _) = t.call(json!({"cmd": "lock"}));
    assert_eq!(r["ok"], true);
    let (r, _) = t.call(json!({"cmd": "list_accounts"}));
    assert_eq!(error_kind(&r), "locked");
    t.wait_event(|e| e["event"] == "locked");

    let (r, _) = t.call(json!({"cmd": "unlock", "passphrase": "tall mole digz"}));
    assert_eq!(error_kind(&r), "wrong_passphrase");
    let (r, _) = t.call(json!({"cmd": "unlock", "passphrase": "tall mole digs"}));
    assert_eq!(r["ok"], true, "{r}");
    assert_eq!(r["accounts"], json!([]));
    t.quit();

    // A second process opens the same profile: it was really persisted, encrypted.
    let mut t = Headless::start(&profile);
    let (r, _) = t.call(json!({"cmd": "unlock", "passphrase": "tall mole digs"}));
    assert_eq!(r["ok"], true, "{r}");
    t.quit();
}

#[test]
fn accounts_are_validated_and_messages_queue_with_history() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut t = Headless::start(&dir.path().join("p"));
    t.call(json!({"cmd": "create_profile", "passphrase": "pw"}));
    let (r, _) = t.call(json!({"cmd": "add_account", "jid": "not a jid", "password": "x"}));
    assert_eq!(error_kind(&r), "invalid_input");
    let (r, _) = t.call(json!({"cmd": "add_account", "jid": "a@talpa.test", "password": ""}));
    assert_eq!(error_kind(&r), "invalid_input");
    let (r, _) = t.call(
        json!({"cmd": "add_account", "jid": "a@talpa.test", "password": "x",
                               "retention": "fortnight"}),
    );
    assert_eq!(error_kind(&r), "invalid_input");
    let (r, _) = t.call(
        json!({"cmd": "add_account", "jid": "a@talpa.test", "password": "x",
                               "host": "127.0.0.1", "port": 5222}),
    );
    assert_eq!(r["ok"], true, "{r}");
    assert_eq!(r["accounts"][0]["jid"], "a@talpa.test");
    assert_eq!(r["accounts"][0]["retention"], "1w");
    let (r, _) = t.call(json!({"cmd": "add_account", "jid": "a@talpa.test", "password": "y"}));
    assert_eq!(
        error_kind(&r),
        "invalid_input",
        "a duplicate account is refused"
    );
    let (r, _) = t.call(
        json!({"cmd": "set_account_enabled", "account": "a@talpa.test",
                               "enabled": false}),
    );
    assert_eq!(r["ok"], true, "{r}");

    let (r, _) = t.call(json!({"cmd": "send", "account": "a@talpa.test",
                               "to": "b@talpa.test", "body": "first"}));
    assert_eq!(r["ok"], true, "{r}");
    let origin = r["origin_id"].as_str().expect("origin id").to_owned();
    assert_eq!(origin.len(), 32);
    t.wait_event(|e| e["event"] == "message" && e["body"] == "first");
    let (r, _) = t.call(
        json!({"cmd": "send", "account": "a@talpa.test", "to": "b@talpa.test",
                               "body": "   "}),
    );
    assert_eq!(error_kind(&r), "invalid_input");
    let (r, _) = t.call(json!({"cmd": "send", "account": "nobody@talpa.test",
                               "to": "b@talpa.test", "body": "x"}));
    assert_eq!(error_kind(&r), "not_found");

    let (r, _) =
        t.call(json!({"cmd": "history", "account": "a@talpa.test", "with": "b@talpa.test"}));
    let msgs = r["messages"].as_array().expect("messages");
    assert_eq!(msgs.len(), 1);
    assert_eq!(msgs[0]["body"], "first");
    assert_eq!(msgs[0]["direction"], "out");

    let (r, _) = t.call(json!({"cmd": "clear_history", "account": "a@talpa.test"}));
    assert_eq!(r["erased"], 1, "{r}");
    let (r, _) =
        t.call(json!({"cmd": "history", "account": "a@talpa.test", "with": "b@talpa.test"}));
    assert_eq!(r["messages"], json!([]));

    let (r, _) = t.call(json!({"cmd": "remove_account", "account": "a@talpa.test"}));
    assert_eq!(r["ok"], true, "{r}");
    let (r, _) = t.call(json!({"cmd": "list_accounts"}));
    assert_eq!(r["accounts"], json!([]));
    t.quit();
}

#[test]
fn dont_store_conversations_keep_messages_in_memory_only() {
    let dir = tempfile::tempdir().expect("tempdir");
    let profile = dir.path().join("p");
    let mut t = Headless::start(&profile);
    t.call(json!({"cmd": "create_profile", "passphrase": "pw"}));
    t.call(json!({"cmd": "add_account", "jid": "a@talpa.test", "password": "x"}));
    t.call(json!({"cmd": "set_account_enabled", "account": "a@talpa.test", "enabled": false}));
    let (r, _) = t.call(json!({"cmd": "set_retention", "account": "a@talpa.test",
                               "with": "b@talpa.test", "policy": "dont_store"}));
    assert_eq!(r["ok"], true, "{r}");
    t.call(
        json!({"cmd": "send", "account": "a@talpa.test", "to": "b@talpa.test",
                  "body": "ephemeral canary"}),
    );
    let (r, _) =
        t.call(json!({"cmd": "history", "account": "a@talpa.test", "with": "b@talpa.test"}));
    assert_eq!(r["messages"][0]["body"], "ephemeral canary", "{r}");
    t.call(json!({"cmd": "lock"}));
    t.call(json!({"cmd": "unlock", "passphrase": "pw"}));
    let (r, _) =
        t.call(json!({"cmd": "history", "account": "a@talpa.test", "with": "b@talpa.test"}));
    assert_eq!(
        r["messages"],
        json!([]),
        "memory-only messages are gone after lock"
    );
    t.quit();
}

#[test]
fn wipe_leaves_nothing_and_the_old_passphrase_opens_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let profile = dir.path().join("p");
    let mut t = Headless::start(&profile);
    t.call(json!({"cmd": "create_profile", "passphrase": "pw"}));
    let (r, _) = t.call(json!({"cmd": "wipe"}));
    assert_eq!(r["ok"], true, "{r}");
    let left: Vec<_> = std::fs::read_dir(&profile)
        .map(|d| d.filter_map(Result::ok).map(|e| e.file_name()).collect())
        .unwrap_or_default();
    // Only the (empty) profile lock stays while this process runs (tests/headless_profile_lock.rs).
    assert_eq!(left, ["talpa.lock"], "files left after wipe: {left:?}");
    let (r, _) = t.call(json!({"cmd": "unlock", "passphrase": "pw"}));
    assert_eq!(error_kind(&r), "no_profile");
    t.quit();
    assert!(!profile.exists(), "nothing is left once Talpa ends");
}

#[test]
fn idle_lock_fires_and_forgets_the_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut t = Headless::start_with(&dir.path().join("p"), &["--idle-lock", "2"]);
    let (r, _) = t.call(json!({"cmd": "create_profile", "passphrase": "pw"}));
    assert_eq!(r["ok"], true, "{r}");
    t.wait_event_for(
        |e| e["event"] == "locked",
        std::time::Duration::from_secs(30),
    );
    let (r, _) = t.call(json!({"cmd": "list_accounts"}));
    assert_eq!(error_kind(&r), "locked");
    let (r, _) = t.call(json!({"cmd": "unlock", "passphrase": "pw"}));
    assert_eq!(r["ok"], true, "{r}");
    t.quit();
}

#[test]
fn duress_passphrase_wipes_and_presents_a_fresh_empty_profile() {
    let dir = tempfile::tempdir().expect("tempdir");
    let profile = dir.path().join("p");
    let mut t = Headless::start(&profile);
    t.call(json!({"cmd": "create_profile", "passphrase": "real one"}));
    let (r, _) = t.call(json!({"cmd": "add_account", "jid": "secret@talpa.test", "password": "x"}));
    assert_eq!(r["ok"], true, "{r}");
    t.call(json!({"cmd": "set_account_enabled", "account": "secret@talpa.test", "enabled": false}));
    t.call(
        json!({"cmd": "send", "account": "secret@talpa.test", "to": "b@talpa.test",
                  "body": "duress canary"}),
    );
    let (r, _) = t.call(json!({"cmd": "set_duress_passphrase", "passphrase": "real one"}));
    assert_eq!(
        error_kind(&r),
        "invalid_input",
        "the duress passphrase must differ"
    );
    let (r, _) = t.call(json!({"cmd": "set_duress_passphrase", "passphrase": "under duress"}));
    assert_eq!(r["ok"], true, "{r}");
    t.call(json!({"cmd": "lock"}));
    let (r, _) = t.call(json!({"cmd": "unlock", "passphrase": "under duress"}));
    assert_eq!(r["ok"], true, "a duress unlock looks like any unlock: {r}");
    assert_eq!(r["accounts"], json!([]), "the fresh profile is empty");
    t.call(json!({"cmd": "lock"}));
    let (r, _) = t.call(json!({"cmd": "unlock", "passphrase": "real one"}));
    assert_eq!(
        error_kind(&r),
        "wrong_passphrase",
        "the old passphrase opens nothing"
    );
    t.quit();
    for entry in walk(&profile) {
        let bytes = std::fs::read(&entry).unwrap_or_default();
        assert!(
            !bytes.windows(13).any(|w| w == b"duress canary"),
            "canary found in {}",
            entry.display()
        );
    }
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}

#[test]
fn a_duress_unlock_also_erases_tors_state() {
    // Arti's state (its guards, sampled weeks ago) beside a profile created a second ago would
    // show that the profile is not the fresh one it pretends to be: the duress wipe erases it,
    // as the panic wipe does.
    let dir = tempfile::tempdir().expect("tempdir");
    let profile = dir.path().join("p");
    let mut t = Headless::start(&profile);
    let (r, _) = t.call(json!({"cmd": "create_profile", "passphrase": "real one"}));
    assert_eq!(r["ok"], true, "{r}");
    let (r, _) = t.call(json!({"cmd": "set_duress_passphrase", "passphrase": "under duress"}));
    assert_eq!(r["ok"], true, "{r}");
    t.quit();
    // What an earlier session's Arti left (written while Talpa is not running).
    let old_state = profile.join("tor").join("state").join("old-guards.json");
    std::fs::create_dir_all(old_state.parent().expect("parent")).expect("tor state dir");
    std::fs::write(&old_state, "guards sampled long ago").expect("old tor state");

    let mut t = Headless::start(&profile);
    let (r, _) = t.call(json!({"cmd": "unlock", "passphrase": "under duress"}));
    assert_eq!(r["ok"], true, "{r}");
    assert!(
        !old_state.exists(),
        "the old Tor state survived the duress wipe"
    );
    let (r, _) = t.call(json!({"cmd": "tor_status"}));
    assert_eq!(
        r["ok"], true,
        "Tor still answers after the duress wipe: {r}"
    );
    t.quit();
    for entry in walk(&profile) {
        let bytes = std::fs::read(&entry).unwrap_or_default();
        assert!(
            !bytes.windows(11).any(|w| w == b"sampled lon"),
            "old Tor state found in {}",
            entry.display()
        );
    }
}

#[test]
fn unlocking_an_unlocked_profile_still_checks_the_passphrase() {
    // A script checking a passphrase with `unlock` while the profile is open was told `ok`
    // whatever it typed.
    let dir = tempfile::tempdir().expect("tempdir");
    let mut t = Headless::start(&dir.path().join("p"));
    let (r, _) = t.call(json!({"cmd": "create_profile", "passphrase": "right one"}));
    assert_eq!(r["ok"], true, "{r}");
    let (r, _) = t.call(json!({"cmd": "unlock", "passphrase": "wrong one"}));
    assert_eq!(error_kind(&r), "wrong_passphrase", "{r}");
    let (r, _) = t.call(json!({"cmd": "list_accounts"}));
    assert_eq!(r["ok"], true, "still unlocked: {r}");
    let (r, events) = t.call(json!({"cmd": "unlock", "passphrase": "right one"}));
    assert_eq!(r["ok"], true, "{r}");
    assert_eq!(r["accounts"], json!([]), "{r}");
    assert!(
        !events.iter().any(|e| e["event"] == "unlocked"),
        "nothing was unlocked again: {events:?}"
    );
    t.quit();
}
