//! Text XML cannot carry (control characters, U+FFFE/U+FFFF) is refused at the core's door with
//! a clear error naming the character, before anything is stored or queued; ordinary text, tabs
//! and newlines go through. Over the real headless front end, no server needed.

mod support;

use serde_json::json;
use support::headless::{Headless, error_kind};

const ACCOUNT: &str = "mole@talpa.test";
const PEER: &str = "carol@talpa.test";

fn history_bodies(t: &mut Headless) -> Vec<String> {
    let (r, _) = t.call(json!({"cmd": "history", "account": ACCOUNT, "with": PEER}));
    assert_eq!(r["ok"], true, "{r}");
    r["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .map(|m| m["body"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[test]
fn text_xml_cannot_carry_is_refused_before_anything_is_stored_and_names_the_character() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut t = Headless::start(&dir.path().join("p"));
    let (r, _) = t.call(json!({"cmd": "create_profile", "passphrase": "input"}));
    assert_eq!(r["ok"], true, "{r}");
    // The account never connects (no such server): messages wait in the outbox.
    let (r, _) = t.call(json!({"cmd": "add_account", "jid": ACCOUNT, "password": "pw"}));
    assert_eq!(r["ok"], true, "{r}");

    for (bad, named) in [
        ("bell\u{7}", "U+0007"),
        ("nul\u{0}byte", "U+0000"),
        ("form\u{c}feed", "U+000C"),
        ("not a character \u{ffff}", "U+FFFF"),
    ] {
        let (r, _) = t.call(json!({"cmd": "send", "account": ACCOUNT, "to": PEER, "body": bad}));
        assert_eq!(error_kind(&r), "invalid_input", "{r}");
        let message = r["error"]["message"].as_str().unwrap_or_default();
        assert!(
            message.contains(named) && message.contains("message"),
            "the error does not name {named}: {r}"
        );
    }
    assert!(
        history_bodies(&mut t).is_empty(),
        "a refused message was stored"
    );

    let good = "tabs\tand\nnewlines, émoji 🦫 and U+FFFD \u{fffd} are fine";
    let (r, _) = t.call(json!({"cmd": "send", "account": ACCOUNT, "to": PEER, "body": good}));
    assert_eq!(r["ok"], true, "{r}");
    let origin = r["origin_id"].as_str().expect("origin_id").to_owned();
    assert_eq!(history_bodies(&mut t), vec![good.to_owned()]);

    // A correction, a subject, a nickname and a reason are checked the same way.
    let (r, _) = t.call(json!({
        "cmd": "correct", "account": ACCOUNT, "with": PEER, "message": origin,
        "body": "fixed\u{1b}[31m",
    }));
    assert_eq!(error_kind(&r), "invalid_input", "{r}");
    assert!(
        r["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("U+001B"),
        "{r}"
    );
    assert_eq!(
        history_bodies(&mut t),
        vec![good.to_owned()],
        "the refused correction applied"
    );
    for (cmd, extra) in [
        ("set_subject", json!({"subject": "plans\u{8}"})),
        ("join_room", json!({"nick": "bad\u{1}nick"})),
        ("kick", json!({"nick": "otter", "reason": "spam\u{0}"})),
        (
            "direct_invite",
            json!({"jid": PEER, "reason": "come\u{fffe}"}),
        ),
    ] {
        let mut c = json!({"cmd": cmd, "account": ACCOUNT, "room": "plans@rooms.talpa.test"});
        for (k, v) in extra.as_object().expect("object") {
            c[k] = v.clone();
        }
        let (r, _) = t.call(c);
        assert_eq!(error_kind(&r), "invalid_input", "{cmd}: {r}");
        assert!(
            r["error"]["message"]
                .as_str()
                .unwrap_or_default()
                .contains("cannot carry"),
            "{cmd}: {r}"
        );
    }
    t.quit();
}

#[test]
fn a_profile_path_that_is_a_file_is_named_at_start_and_the_file_is_untouched() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("notes.txt");
    std::fs::write(&file, "keep me").expect("write");
    for profile in [file.clone(), file.join("profile")] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_talpa"))
            .args(["headless", "--profile"])
            .arg(&profile)
            .stdin(std::process::Stdio::null())
            .output()
            .expect("run talpa");
        assert!(!out.status.success(), "a file as profile must stop talpa");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let event: serde_json::Value =
            serde_json::from_str(stdout.lines().next().unwrap_or_default()).expect("one event");
        assert_eq!(event["event"], "error", "{stdout}");
        assert_eq!(event["kind"], "invalid_input", "{stdout}");
        let message = event["message"].as_str().unwrap_or_default();
        assert!(
            message.contains(&profile.display().to_string())
                && message.contains("is not a directory"),
            "the error names the path: {stdout}"
        );
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("is not a directory"),
            "stderr says it too"
        );
    }
    assert_eq!(std::fs::read_to_string(&file).expect("read"), "keep me");
}

#[test]
fn a_missing_or_malformed_tor_network_file_is_named_at_start_and_no_profile_is_created() {
    let dir = tempfile::tempdir().expect("tempdir");
    let malformed = dir.path().join("malformed.json");
    std::fs::write(&malformed, "{\"authorities\": []").expect("write");
    let missing = dir.path().join("missing.json");
    for (i, file) in [missing, malformed].iter().enumerate() {
        let profile = dir.path().join(format!("p{i}"));
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_talpa"))
            .args(["headless", "--profile"])
            .arg(&profile)
            .arg("--tor-network")
            .arg(file)
            .stdin(std::process::Stdio::null())
            .output()
            .expect("run talpa");
        assert!(!out.status.success(), "a bad network file must stop talpa");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let event: serde_json::Value =
            serde_json::from_str(stdout.lines().next().unwrap_or_default()).expect("one event");
        assert_eq!(event["event"], "error", "{stdout}");
        assert_eq!(event["kind"], "invalid_input", "{stdout}");
        let named = file.display().to_string();
        assert!(
            event["message"]
                .as_str()
                .unwrap_or_default()
                .contains(&named),
            "the error names the file: {stdout}"
        );
        assert!(
            String::from_utf8_lossy(&out.stderr).contains(&named),
            "stderr names the file too"
        );
        assert!(
            !profile.join("talpa.db").exists(),
            "no profile may be created with a bad network file"
        );
    }
}

#[test]
fn a_message_too_long_for_other_clients_is_refused_and_one_that_fits_is_queued() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut t = Headless::start_with(&dir.path().join("p"), &["--startup-jitter", "3600"]);
    let (r, _) = t.call(json!({"cmd": "create_profile", "passphrase": "input"}));
    assert_eq!(r["ok"], true, "{r}");
    let (r, _) = t.call(json!({"cmd": "add_account", "jid": ACCOUNT, "password": "pw"}));
    assert_eq!(r["ok"], true, "{r}");

    // 64 KiB fit (a multi-byte character counts by its UTF-8 bytes); one byte more does not.
    let fits = "é".repeat(32 * 1024);
    let too_long = format!("{fits}!");
    let (r, _) = t.call(json!({"cmd": "send", "account": ACCOUNT, "to": PEER, "body": too_long}));
    assert_eq!(error_kind(&r), "invalid_input", "{r}");
    assert!(
        r["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("too long"),
        "{r}"
    );
    assert!(
        history_bodies(&mut t).is_empty(),
        "a refused message was stored"
    );
    let (r, _) = t.call(json!({"cmd": "send", "account": ACCOUNT, "to": PEER, "body": fits}));
    assert_eq!(r["ok"], true, "{r}");
    assert_eq!(history_bodies(&mut t), vec![fits]);
    t.quit();
}

#[test]
fn hostile_account_input_is_refused_and_nothing_is_reported_about_unknown_accounts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut t = Headless::start(&dir.path().join("p"));
    let (r, _) = t.call(json!({"cmd": "create_profile", "passphrase": "input"}));
    assert_eq!(r["ok"], true, "{r}");
    // A host with a control character could never be connected to (and would be shown to the
    // user as is): refused like one with a space, nothing stored.
    for host in ["h\u{0}st", "ho\u{7}st", "host\u{1b}[31m"] {
        let (r, _) = t.call(
            json!({"cmd": "add_account", "jid": ACCOUNT, "password": "pw",
                                   "host": host}),
        );
        assert_eq!(
            error_kind(&r),
            "invalid_input",
            "add_account host {host:?}: {r}"
        );
    }
    let (r, _) = t.call(json!({"cmd": "list_accounts"}));
    assert_eq!(r["accounts"], json!([]), "{r}");
    let (r, _) = t.call(
        json!({"cmd": "add_account", "jid": ACCOUNT, "password": "pw",
                               "host": "127.0.0.1", "port": 1}),
    );
    assert_eq!(r["ok"], true, "{r}");
    for host in ["h\u{0}st", "ho\u{7}st"] {
        let (r, _) = t.call(json!({"cmd": "update_account", "account": ACCOUNT, "host": host}));
        assert_eq!(
            error_kind(&r),
            "invalid_input",
            "update_account host {host:?}: {r}"
        );
    }
    let (r, _) = t.call(json!({"cmd": "account_settings", "account": ACCOUNT}));
    assert_eq!(r["host"], "127.0.0.1", "unchanged: {r}");

    // Removing an account that does not exist answers not_found, and no event speaks of it.
    let (r, _) = t.call(json!({"cmd": "remove_account", "account": "ghost@talpa.test"}));
    assert_eq!(error_kind(&r), "not_found", "{r}");
    let (r, _) = t.call(json!({"cmd": "list_accounts"}));
    assert_eq!(r["accounts"].as_array().map(Vec::len), Some(1), "{r}");
    let ghost: Vec<_> = t
        .events
        .iter()
        .filter(|e| e["account"] == "ghost@talpa.test")
        .collect();
    assert!(
        ghost.is_empty(),
        "events about an unknown account: {ghost:?}"
    );
    t.quit();
}

#[test]
fn a_startup_jitter_over_the_stored_settings_bound_is_refused_at_start() {
    // set_tor_settings refuses more than 3600 s; the command line took any number (a typo of
    // 36000 kept every account offline for up to ten hours, 2^64 s for ever).
    let dir = tempfile::tempdir().expect("tempdir");
    for jitter in ["3601", "18446744073709551615"] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_talpa"))
            .args(["headless", "--profile"])
            .arg(dir.path().join("p"))
            .args(["--startup-jitter", jitter])
            .stdin(std::process::Stdio::null())
            .output()
            .expect("run talpa");
        assert!(
            !out.status.success(),
            "--startup-jitter {jitter} must stop talpa"
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("--startup-jitter") && stderr.contains("3600"),
            "the error names the option and its bound: {stderr}"
        );
        assert!(!dir.path().join("p").exists(), "no profile was created");
    }
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_talpa"))
        .args(["headless", "--profile"])
        .arg(dir.path().join("p"))
        .args(["--startup-jitter", "3600"])
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run talpa");
    assert!(out.status.success(), "3600 s is allowed: {out:?}");
}

#[test]
fn a_profile_directory_that_cannot_be_made_is_named_at_start() {
    // The store only said "I/O error: No such file or directory": which file, the user could
    // not tell. (/proc refuses new directories even to root, which the tests run as.)
    let profile = std::path::Path::new("/proc/self/talpa-profile");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_talpa"))
        .args(["headless", "--profile"])
        .arg(profile)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run talpa");
    assert!(
        !out.status.success(),
        "an unusable profile directory must stop talpa"
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let event: serde_json::Value =
        serde_json::from_str(stdout.lines().next().unwrap_or_default()).expect("one event");
    assert_eq!(event["event"], "error", "{stdout}");
    let message = event["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("--profile /proc/self/talpa-profile"),
        "the error names the path: {stdout}"
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--profile /proc/self/talpa-profile"),
        "stderr says it too"
    );
}

#[test]
fn history_with_limit_zero_answers_no_messages() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut t = Headless::start(&dir.path().join("p"));
    let (r, _) = t.call(json!({"cmd": "create_profile", "passphrase": "input"}));
    assert_eq!(r["ok"], true, "{r}");
    let (r, _) = t.call(json!({"cmd": "add_account", "jid": ACCOUNT, "password": "pw"}));
    assert_eq!(r["ok"], true, "{r}");
    for body in ["one", "two"] {
        let (r, _) = t.call(json!({"cmd": "send", "account": ACCOUNT, "to": PEER, "body": body}));
        assert_eq!(r["ok"], true, "{r}");
    }
    let (r, _) = t.call(json!({"cmd": "history", "account": ACCOUNT, "with": PEER, "limit": 0}));
    assert_eq!(r["ok"], true, "{r}");
    assert_eq!(r["messages"], json!([]), "limit 0 answered messages: {r}");
    let (r, _) = t.call(json!({"cmd": "history", "account": ACCOUNT, "with": PEER, "limit": 1}));
    assert_eq!(r["messages"].as_array().map(Vec::len), Some(1), "{r}");
    t.quit();
}

#[test]
fn preference_keys_without_a_name_and_control_characters_are_refused_and_nothing_is_kept() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut t = Headless::start(&dir.path().join("p"));
    let (r, _) = t.call(json!({"cmd": "create_profile", "passphrase": "input"}));
    assert_eq!(r["ok"], true, "{r}");
    for (key, value, named) in [
        ("ui.", json!("x"), "name"),
        ("ui", json!("x"), "name"),
        ("ui.bell\u{7}", json!("x"), "U+0007"),
        ("ui.theme", json!("dark\u{1b}[31m"), "U+001B"),
        ("ui.theme", json!("two\nlines"), "U+000A"),
        ("ui.theme", json!("nul\u{0}"), "U+0000"),
        ("ui.theme", json!("not a character \u{ffff}"), "U+FFFF"),
    ] {
        let (r, _) = t.call(json!({"cmd": "set_preference", "key": key, "value": value}));
        assert_eq!(error_kind(&r), "invalid_input", "{key:?} {value}: {r}");
        let message = r["error"]["message"].as_str().unwrap_or_default();
        assert!(
            message.contains(named),
            "the error does not say {named}: {r}"
        );
    }
    let (r, _) = t.call(json!({"cmd": "preferences"}));
    let keys: Vec<&String> = r["preferences"]
        .as_object()
        .expect("preferences")
        .keys()
        .collect();
    assert_eq!(
        keys,
        vec!["lock.idle_minutes"],
        "a refused preference was kept: {r}"
    );
    let (r, _) = t.call(json!({"cmd": "set_preference", "key": "ui.theme", "value": "dark"}));
    assert_eq!(r["ok"], true, "{r}");
    t.quit();
}
