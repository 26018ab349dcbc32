//! Locking on a full disk: the lock happens (keys wiped, `locked` event), but the write-ahead
//! log cannot be folded into the database, and the caller is told so (`wal_kept`) instead of a
//! plain ok; once space is free, the next unlock folds it and nothing was lost
//! (docs/THREAT_MODEL.md, docs/HEADLESS.md `lock`). The profile lives on a small tmpfs of its
//! own (the tests run as root).

mod support;

use std::io::Write;
use std::path::{Path, PathBuf};

use serde_json::json;
use support::headless::{Headless, error_kind};

const ACCOUNT: &str = "mole@talpa.test";
const PEER: &str = "carol@talpa.test";
const MESSAGES: usize = 20;

/// A tmpfs mounted for this test, unmounted on drop.
struct SmallDisk(PathBuf);

impl SmallDisk {
    fn mount(at: &Path, size: &str) -> SmallDisk {
        std::fs::create_dir_all(at).expect("mount point");
        let status = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(at)
            .status()
            .expect("run mount");
        assert!(
            status.success(),
            "mounting a {size} tmpfs at {} failed ({status}): this test needs root",
            at.display()
        );
        SmallDisk(at.to_path_buf())
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.0)
            .status();
    }
}

/// Fills the file system holding `path` until writes fail with "no space".
fn fill(path: &Path) {
    let mut file = std::fs::File::create(path).expect("filler");
    for chunk in [1 << 20, 4096, 1] {
        let block = vec![0u8; chunk];
        loop {
            match file.write(&block) {
                Ok(n) if n == chunk => {}
                Ok(_) => break,
                Err(e) if e.raw_os_error() == Some(28) => break,
                Err(e) => panic!("filling the disk: {e}"),
            }
        }
    }
    let _ = file.sync_all();
}

#[test]
fn locking_on_a_full_disk_locks_but_says_the_write_ahead_log_was_kept_and_unlock_folds_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let disk = SmallDisk::mount(&dir.path().join("disk"), "24m");
    let profile = disk.0.join("p");
    let wal = profile.join("talpa.db-wal");

    let mut t = Headless::start(&profile);
    let (r, _) = t.call(json!({"cmd": "create_profile", "passphrase": "full"}));
    assert_eq!(r["ok"], true, "{r}");
    let (r, _) = t.call(json!({"cmd": "add_account", "jid": ACCOUNT, "password": "pw"}));
    assert_eq!(r["ok"], true, "{r}");
    // New pages in the write-ahead log that the database file must grow to take.
    for i in 0..MESSAGES {
        let body = format!("{i} {}", "y".repeat(50_000));
        let (r, _) = t.call(json!({"cmd": "send", "account": ACCOUNT, "to": PEER, "body": body}));
        assert_eq!(r["ok"], true, "{r}");
    }
    assert!(
        std::fs::metadata(&wal).is_ok_and(|m| m.len() > 0),
        "the sends left no write-ahead log to fold"
    );

    let filler = disk.0.join("filler");
    fill(&filler);
    let (r, events) = t.call(json!({"cmd": "lock"}));
    assert_eq!(
        error_kind(&r),
        "wal_kept",
        "a lock on a full disk answered {r}"
    );
    let message = r["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("locked") && message.contains("talpa.db-wal"),
        "{r}"
    );
    let locked = events.iter().any(|e| e["event"] == "locked")
        || t.wait_event(|e| e["event"] == "locked")["event"] == "locked";
    assert!(locked);
    let (r, _) = t.call(json!({"cmd": "preferences"}));
    assert_eq!(error_kind(&r), "locked", "the profile stayed open: {r}");
    assert!(
        wal.exists(),
        "the write-ahead log is gone although it could not be folded"
    );

    std::fs::remove_file(&filler).expect("free the disk");
    let (r, _) = t.call(json!({"cmd": "unlock", "passphrase": "full"}));
    assert_eq!(r["ok"], true, "{r}");
    let (r, _) = t.call(json!({"cmd": "history", "account": ACCOUNT, "with": PEER, "limit": 100}));
    assert_eq!(
        r["messages"].as_array().map(Vec::len),
        Some(MESSAGES),
        "messages were lost: {}",
        r["messages"].as_array().map_or(0, Vec::len)
    );
    let (r, _) = t.call(json!({"cmd": "lock"}));
    assert_eq!(r["ok"], true, "{r}");
    assert!(
        !wal.exists(),
        "a lock with room on the disk left the write-ahead log"
    );
    t.quit();
    drop(disk);
}
