//! One Talpa process per profile (the profile lock, `talpa.lock`), through the real binary:
//! a second process on a profile in use is refused with a clear error and touches nothing; the
//! first keeps working; a killed process leaves no stale lock; wipe and re-creation still work
//! while the own process holds the lock; in one process, a second core on the profile refuses
//! every command.

mod support;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::{Value, json};
use support::headless::{Headless, error_kind};

/// Runs a second `talpa headless` on `profile`, feeding it `lines`, and waits for it to end.
fn second_process(profile: &Path, lines: &[Value]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_talpa"))
        .args(["headless", "--profile"])
        .arg(profile)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("talpa starts");
    let mut stdin = child.stdin.take().expect("stdin");
    for line in lines {
        // The process may already have ended (that is what we expect): a broken pipe is fine.
        let _ = writeln!(stdin, "{line}");
    }
    drop(stdin);
    child.wait_with_output().expect("talpa ends")
}

/// Asserts that `out` is the refusal: exit status 2, one `profile_in_use` error event on
/// stdout and nothing else, the same sentence on stderr.
fn assert_refused(out: &Output) {
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(2),
        "stdout {stdout:?} stderr {stderr:?}"
    );
    let lines: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    assert_eq!(
        lines,
        vec![json!({"event": "error", "kind": "profile_in_use",
                    "message": "this profile is open in another Talpa process"})],
        "no reply to any command, only the error"
    );
    assert!(
        stderr.contains("this profile is open in another Talpa process"),
        "{stderr}"
    );
}

/// Names, sizes and modification times of every file under `dir`.
fn snapshot(dir: &Path) -> Vec<(PathBuf, u64, std::time::SystemTime)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).expect("read_dir").flatten() {
            let meta = entry.metadata().expect("metadata");
            if meta.is_dir() {
                stack.push(entry.path());
            } else {
                out.push((entry.path(), meta.len(), meta.modified().expect("mtime")));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn second_process_on_a_profile_in_use_is_refused_and_the_first_keeps_working() {
    let dir = tempfile::tempdir().expect("tempdir");
    let profile = dir.path().join("p");
    let mut first = Headless::start(&profile);
    // The lock is taken before any profile exists: a second process cannot create one.
    let (r, _) = first.call(json!({"cmd": "list_accounts"}));
    assert_eq!(error_kind(&r), "locked", "{r}");
    let out = second_process(
        &profile,
        &[json!({"id": 1, "cmd": "create_profile", "passphrase": "second"})],
    );
    assert_refused(&out);
    let names: Vec<_> = std::fs::read_dir(&profile)
        .expect("profile dir")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, vec!["talpa.lock"], "the second process made nothing");
    assert_eq!(
        std::fs::read(profile.join("talpa.lock")).expect("lock file"),
        b"",
        "the lock file holds nothing"
    );

    let (r, _) = first.call(json!({"cmd": "create_profile", "passphrase": "first one"}));
    assert_eq!(r["ok"], true, "{r}");
    let (r, _) = first.call(json!({"cmd": "add_account", "jid": "mole@talpa.test",
                                    "password": "x"}));
    assert_eq!(r["ok"], true, "{r}");
    first.call(
        json!({"cmd": "set_account_enabled", "account": "mole@talpa.test",
                      "enabled": false}),
    );
    let (r, _) = first.call(json!({"cmd": "lock"}));
    assert_eq!(r["ok"], true, "{r}");

    // The store is closed now; the second process still may not read or write any of it.
    let store_files = |p: &Path| {
        snapshot(p)
            .into_iter()
            .filter(|(f, _, _)| !f.starts_with(p.join("tor")))
            .collect::<Vec<_>>()
    };
    let before = store_files(&profile);
    let out = second_process(
        &profile,
        &[
            json!({"id": 1, "cmd": "unlock", "passphrase": "first one"}),
            json!({"id": 2, "cmd": "wipe"}),
        ],
    );
    assert_refused(&out);
    assert_eq!(
        store_files(&profile),
        before,
        "the second process wrote nothing"
    );

    let (r, _) = first.call(json!({"cmd": "unlock", "passphrase": "first one"}));
    assert_eq!(r["ok"], true, "the first process keeps its profile: {r}");
    assert_eq!(r["accounts"][0]["jid"], "mole@talpa.test", "{r}");
    first.quit();

    // Once the first process has ended, the profile opens in another one.
    let mut next = Headless::start(&profile);
    let (r, _) = next.call(json!({"cmd": "unlock", "passphrase": "first one"}));
    assert_eq!(r["ok"], true, "{r}");
    next.quit();
}

#[test]
fn killed_process_leaves_no_stale_lock() {
    let dir = tempfile::tempdir().expect("tempdir");
    let profile = dir.path().join("p");
    let mut first = Headless::start(&profile);
    let (r, _) = first.call(json!({"cmd": "create_profile", "passphrase": "pw"}));
    assert_eq!(r["ok"], true, "{r}");
    assert_refused(&second_process(&profile, &[]));
    // SIGKILL: no destructor runs; the kernel drops the lock with the process.
    first.kill();
    assert!(profile.join("talpa.lock").exists());
    let mut next = Headless::start(&profile);
    let (r, _) = next.call(json!({"cmd": "unlock", "passphrase": "pw"}));
    assert_eq!(r["ok"], true, "a new process opens the profile: {r}");
    assert_refused(&second_process(&profile, &[]));
    next.quit();
}

#[test]
fn wipe_and_a_new_profile_work_under_the_own_lock_and_nothing_is_left_at_exit() {
    let dir = tempfile::tempdir().expect("tempdir");
    let profile = dir.path().join("p");
    let mut t = Headless::start(&profile);
    let (r, _) = t.call(json!({"cmd": "create_profile", "passphrase": "old"}));
    assert_eq!(r["ok"], true, "{r}");
    let (r, _) = t.call(json!({"cmd": "wipe"}));
    assert_eq!(r["ok"], true, "{r}");
    // Still held (and still refusing others) while the process runs.
    assert_refused(&second_process(&profile, &[]));
    let (r, _) = t.call(json!({"cmd": "create_profile", "passphrase": "new"}));
    assert_eq!(
        r["ok"], true,
        "a profile is created again after the wipe: {r}"
    );
    let (r, _) = t.call(json!({"cmd": "wipe"}));
    assert_eq!(r["ok"], true, "{r}");
    t.quit();
    assert!(
        !profile.exists(),
        "after a wipe, the lock file and the empty directory go when Talpa ends: {:?}",
        std::fs::read_dir(&profile).map(|d| d.flatten().map(|e| e.file_name()).collect::<Vec<_>>())
    );
}

#[test]
fn a_second_core_on_one_profile_refuses_every_command_and_the_first_is_unaffected() {
    use talpa::core::commands::Secret;
    use talpa::core::{Command, CoreError, CoreHandle, CoreOptions};
    let dir = tempfile::tempdir().expect("tempdir");
    let profile = dir.path().join("p");
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let first = CoreHandle::try_spawn(CoreOptions::new(profile.clone())).expect("first");
        assert!(matches!(
            CoreHandle::try_spawn(CoreOptions::new(profile.clone())),
            Err(CoreError::ProfileInUse)
        ));
        // The infallible constructor gives a core that answers every command with the error.
        let second = CoreHandle::spawn(CoreOptions::new(profile.clone()));
        let refused = second
            .call(Command::CreateProfile {
                passphrase: Secret::new("second"),
            })
            .await;
        assert!(
            matches!(refused, Err(CoreError::ProfileInUse)),
            "{refused:?}"
        );
        assert!(
            !profile.join("talpa.hdr").exists(),
            "the refused core made no profile"
        );
        let created = first
            .call(Command::CreateProfile {
                passphrase: Secret::new("first"),
            })
            .await;
        assert!(created.is_ok(), "{created:?}");
        assert!(matches!(
            second.call(Command::Quit).await,
            Err(CoreError::ProfileInUse)
        ));
        let _ = first.call(Command::Quit).await;
    });
}
