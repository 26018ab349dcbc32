//! Odd local situations, through the real binary: a profile written by a newer Talpa (a
//! downgrade) is named as such — not as damage or tampering — and left untouched; an idle lock
//! outside what Preferences allow is refused at start with its bound.

mod support;

use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::Path;

use serde_json::json;
use support::headless::{Headless, error_kind};
use talpa::store::{Passphrase, profile};

const PASSPHRASE: &str = "newer schema, same passphrase";

fn snapshot(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .expect("profile dir")
        .flatten()
        .filter(|e| e.path().is_file() && e.file_name() != "talpa.lock")
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).expect("read profile file"),
            )
        })
        .collect()
}

#[test]
fn a_profile_written_by_a_newer_talpa_is_named_as_such_and_left_untouched() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path().join("profile");
    let mut t = Headless::start(&dir);
    let (r, _) = t.call(json!({"cmd": "create_profile", "passphrase": PASSPHRASE}));
    assert_eq!(r["ok"], true, "{r}");
    t.quit();

    // What a later Talpa would leave: the same database with a newer schema version.
    let key = profile::derive_raw_key(&dir, &Passphrase::from(PASSPHRASE)).expect("raw key");
    let hex = key.iter().fold(String::new(), |mut hex, b| {
        let _ = write!(hex, "{b:02x}");
        hex
    });
    let conn = rusqlite::Connection::open(dir.join("talpa.db")).expect("open database");
    conn.execute_batch(&format!(
        "PRAGMA key = \"x'{hex}'\"; PRAGMA user_version = 999;"
    ))
    .expect("newer schema version");
    drop(conn);
    let before = snapshot(&dir);

    let mut t = Headless::start(&dir);
    let (r, _) = t.call(json!({"cmd": "unlock", "passphrase": PASSPHRASE}));
    assert_eq!(error_kind(&r), "profile_too_new", "{r}");
    let message = r["error"]["message"].as_str().expect("message");
    assert!(
        message.contains("newer version of Talpa") && message.contains("999"),
        "the message does not say what happened: {message}"
    );
    // A wrong passphrase is still only that.
    let (r, _) = t.call(json!({"cmd": "unlock", "passphrase": "not it"}));
    assert_eq!(error_kind(&r), "wrong_passphrase", "{r}");
    t.quit();
    assert_eq!(snapshot(&dir), before, "a file of the profile changed");
}

#[test]
fn an_idle_lock_outside_one_second_to_a_day_is_refused_at_start_naming_the_bound() {
    // Preferences allow 1 minute to a day; the command line said "0 is not in
    // 1..18446744073709551615" and took 2^64 - 1 s (never locking).
    let dir = tempfile::tempdir().expect("tempdir");
    for value in ["0", "86401", "18446744073709551615"] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_talpa"))
            .args(["headless", "--profile"])
            .arg(dir.path().join("p"))
            .args(["--idle-lock", value])
            .stdin(std::process::Stdio::null())
            .output()
            .expect("run talpa");
        assert!(!out.status.success(), "--idle-lock {value} must stop talpa");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("--idle-lock") && stderr.contains("1..=86400"),
            "the error names the option and its bound: {stderr}"
        );
        assert!(!dir.path().join("p").exists(), "no profile was created");
    }
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_talpa"))
        .args(["headless", "--profile"])
        .arg(dir.path().join("p"))
        .args(["--idle-lock", "86400"])
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run talpa");
    assert!(out.status.success(), "a day is allowed: {out:?}");
}
