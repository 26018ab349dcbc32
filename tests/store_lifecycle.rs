//! Profile lifecycle: create, unlock, lock, typed failures that leave files untouched,
//! passphrase change, duress passphrase and wipe.

mod store_util;

use std::fs::OpenOptions;
use std::io::{Seek, SeekFrom, Write};
use std::os::unix::fs::PermissionsExt;

use store_util::{add_account, new_profile, pass, snapshot};
use talpa::store::{Profile, StoreError, Unlocked};

fn unlock_err(dir: &std::path::Path, p: &str) -> StoreError {
    match Profile::unlock(dir, &pass(p)) {
        Ok(u) => panic!("unlock unexpectedly succeeded: {u:?}"),
        Err(e) => e,
    }
}

#[test]
fn created_profile_is_private_and_reopens_with_its_data() {
    let (_tmp, dir, mut store) = new_profile("correct horse");
    let mode = std::fs::metadata(&dir).expect("dir").permissions().mode() & 0o777;
    assert_eq!(mode, 0o700);
    let files: Vec<_> = snapshot(&dir).into_keys().collect();
    assert_eq!(
        files,
        ["talpa.db", "talpa.db-shm", "talpa.db-wal", "talpa.hdr"],
        "the write-ahead log exists only while the store is open"
    );
    let db = std::fs::read(dir.join("talpa.db")).expect("db");
    assert!(db.len() >= 4096, "schema written");
    assert_ne!(
        &db[..16],
        b"SQLite format 3\0",
        "never a plaintext database"
    );
    add_account(&mut store, "alice@talpa.test");
    store.lock().expect("lock");
    let files: Vec<_> = snapshot(&dir).into_keys().collect();
    assert_eq!(
        files,
        ["talpa.db", "talpa.hdr"],
        "lock folds the WAL into the database and removes it"
    );

    let store = Profile::unlock(&dir, &pass("correct horse"))
        .expect("unlock")
        .into_store();
    let accounts = store.list_accounts().expect("accounts");
    assert_eq!(accounts.len(), 1);
    assert_eq!(accounts[0].jid, "alice@talpa.test");
    assert_eq!(accounts[0].password.as_str(), "secret-password");
}

#[test]
fn create_refuses_an_existing_profile_and_leaves_it_intact() {
    let (_tmp, dir, store) = new_profile("one");
    store.lock().expect("lock");
    let before = snapshot(&dir);
    assert!(matches!(
        Profile::create(&dir, &pass("two")),
        Err(StoreError::AlreadyExists)
    ));
    assert_eq!(snapshot(&dir), before);
    Profile::unlock(&dir, &pass("one")).expect("original still opens");
}

#[test]
fn wrong_passphrase_is_reported_and_changes_no_file() {
    let (_tmp, dir, store) = new_profile("right");
    store.lock().expect("lock");
    let before = snapshot(&dir);
    assert!(matches!(
        unlock_err(&dir, "wrong"),
        StoreError::WrongPassphrase
    ));
    assert_eq!(snapshot(&dir), before);
}

#[test]
fn missing_directory_or_database_is_not_a_profile() {
    let tmp = tempfile::tempdir().expect("tempdir");
    assert!(matches!(
        unlock_err(&tmp.path().join("nope"), "x"),
        StoreError::NotAProfile
    ));
    assert!(matches!(
        unlock_err(tmp.path(), "x"),
        StoreError::NotAProfile
    ));
    assert!(
        std::fs::read_dir(tmp.path()).expect("dir").next().is_none(),
        "unlock must not create anything"
    );
}

#[test]
fn missing_salt_is_reported_and_changes_no_file() {
    let (_tmp, dir, store) = new_profile("pw");
    store.lock().expect("lock");
    std::fs::remove_file(dir.join("talpa.hdr")).expect("remove salt");
    let before = snapshot(&dir);
    assert!(matches!(unlock_err(&dir, "pw"), StoreError::MissingSalt));
    assert_eq!(snapshot(&dir), before);
}

#[test]
fn truncated_database_is_corrupt_and_changes_no_file() {
    let (_tmp, dir, mut store) = new_profile("pw");
    add_account(&mut store, "a@talpa.test");
    store.lock().expect("lock");
    let db = dir.join("talpa.db");
    let len = std::fs::metadata(&db).expect("db").len();
    OpenOptions::new()
        .write(true)
        .open(&db)
        .expect("open")
        .set_len(len - 100)
        .expect("truncate");
    let before = snapshot(&dir);
    assert!(matches!(unlock_err(&dir, "pw"), StoreError::Corrupt));
    assert_eq!(snapshot(&dir), before);
}

#[test]
fn database_truncated_at_a_page_boundary_is_tampering_and_changes_no_file() {
    let (_tmp, dir, mut store) = new_profile("pw");
    add_account(&mut store, "a@talpa.test");
    store.lock().expect("lock");
    let db = dir.join("talpa.db");
    let len = std::fs::metadata(&db).expect("db").len();
    assert!(len >= 3 * 4096, "schema spans several pages");
    OpenOptions::new()
        .write(true)
        .open(&db)
        .expect("open")
        .set_len(len - 4096)
        .expect("truncate");
    let before = snapshot(&dir);
    let err = unlock_err(&dir, "pw");
    // Whole pages missing: the length looks plausible, SQLCipher's integrity check
    // (page count against the header) catches it.
    assert!(matches!(err, StoreError::Tampered), "got {err:?}");
    assert_eq!(snapshot(&dir), before);
}

fn flip_byte(path: &std::path::Path, offset: u64) {
    let mut bytes = std::fs::read(path).expect("read");
    bytes[offset as usize] ^= 0x01;
    let mut f = OpenOptions::new().write(true).open(path).expect("open");
    f.seek(SeekFrom::Start(0)).expect("seek");
    f.write_all(&bytes).expect("write");
}

#[test]
fn flipped_byte_in_first_page_is_tampering_and_changes_no_file() {
    let (_tmp, dir, store) = new_profile("pw");
    store.lock().expect("lock");
    flip_byte(&dir.join("talpa.db"), 200);
    let before = snapshot(&dir);
    assert!(matches!(unlock_err(&dir, "pw"), StoreError::Tampered));
    assert_eq!(snapshot(&dir), before);
}

#[test]
fn flipped_byte_in_a_later_page_is_tampering_and_changes_no_file() {
    let (_tmp, dir, mut store) = new_profile("pw");
    add_account(&mut store, "a@talpa.test");
    store.lock().expect("lock");
    let len = std::fs::metadata(dir.join("talpa.db")).expect("db").len();
    // A byte in the last page, far from page 1: only a full HMAC check finds it.
    flip_byte(&dir.join("talpa.db"), len - 4096 + 1000);
    let before = snapshot(&dir);
    assert!(matches!(unlock_err(&dir, "pw"), StoreError::Tampered));
    assert_eq!(snapshot(&dir), before);
}

#[test]
fn flipped_byte_in_salt_file_is_wrong_passphrase_and_changes_no_file() {
    let (_tmp, dir, store) = new_profile("pw");
    store.lock().expect("lock");
    flip_byte(&dir.join("talpa.hdr"), 5);
    let before = snapshot(&dir);
    assert!(matches!(
        unlock_err(&dir, "pw"),
        StoreError::WrongPassphrase
    ));
    assert_eq!(snapshot(&dir), before);
}

#[test]
fn changed_passphrase_opens_and_old_one_does_not() {
    let (_tmp, dir, mut store) = new_profile("old");
    add_account(&mut store, "a@talpa.test");
    assert!(matches!(
        store.change_passphrase(&pass("not-old"), &pass("new")),
        Err(StoreError::WrongPassphrase)
    ));
    store
        .change_passphrase(&pass("old"), &pass("new"))
        .expect("change");
    store.lock().expect("lock");
    assert!(matches!(
        unlock_err(&dir, "old"),
        StoreError::WrongPassphrase
    ));
    let store = Profile::unlock(&dir, &pass("new"))
        .expect("new opens")
        .into_store();
    assert_eq!(store.list_accounts().expect("accounts").len(), 1);
}

/// "café" with a precomposed "é" (NFC), as most keyboard layouts type it.
const CAFE_NFC: &str = "caf\u{e9} au lait";
/// "café" with "e" + a combining acute accent (NFD), as some input methods type it.
const CAFE_NFD: &str = "cafe\u{301} au lait";

#[test]
fn passphrase_typed_decomposed_or_composed_opens_the_same_profile() {
    assert_ne!(CAFE_NFC.as_bytes(), CAFE_NFD.as_bytes());
    let (_tmp, dir, mut store) = new_profile(CAFE_NFD);
    add_account(&mut store, "a@talpa.test");
    store.check_passphrase(&pass(CAFE_NFC)).expect("NFC checks");
    store.lock().expect("lock");
    let store = Profile::unlock(&dir, &pass(CAFE_NFC))
        .expect("the composed form opens a profile made with the decomposed one")
        .into_store();
    assert_eq!(store.list_accounts().expect("accounts").len(), 1);
    store.lock().expect("lock");

    let (_tmp2, dir2, store2) = new_profile(CAFE_NFC);
    store2.lock().expect("lock");
    Profile::unlock(&dir2, &pass(CAFE_NFD))
        .expect("the decomposed form opens a profile made with the composed one");
    assert!(matches!(
        unlock_err(&dir2, "cafe au lait"),
        StoreError::WrongPassphrase
    ));
}

#[test]
fn changed_passphrase_is_normalised_too() {
    let (_tmp, dir, mut store) = new_profile("old");
    store
        .change_passphrase(&pass("old"), &pass(CAFE_NFD))
        .expect("change");
    store.lock().expect("lock");
    Profile::unlock(&dir, &pass(CAFE_NFC)).expect("the composed form opens");
}

#[test]
fn duress_passphrase_in_another_normal_form_of_the_real_one_is_refused() {
    let (_tmp, _dir, mut store) = new_profile(CAFE_NFC);
    assert!(matches!(
        store.set_duress_passphrase(Some(&pass(CAFE_NFD))),
        Err(StoreError::DuressConflict)
    ));
}

#[test]
fn wipe_removes_every_file_without_the_passphrase() {
    let (tmp, dir, mut store) = new_profile("pw");
    add_account(&mut store, "a@talpa.test");
    store.lock().expect("lock");
    let old_db = std::fs::read(dir.join("talpa.db")).expect("db");
    Profile::wipe(&dir).expect("wipe");
    assert!(!dir.exists(), "profile directory removed");
    assert!(
        std::fs::read_dir(tmp.path()).expect("tmp").next().is_none(),
        "nothing left next to it"
    );
    assert!(matches!(unlock_err(&dir, "pw"), StoreError::NotAProfile));
    // Even a copy of the old database file is useless without the destroyed salt.
    std::fs::create_dir(&dir).expect("mkdir");
    std::fs::write(dir.join("talpa.db"), &old_db).expect("restore old db");
    assert!(matches!(unlock_err(&dir, "pw"), StoreError::MissingSalt));
}

#[test]
fn wipe_refuses_a_directory_that_is_not_a_profile() {
    let tmp = tempfile::tempdir().expect("tempdir");
    std::fs::write(tmp.path().join("keep.txt"), b"user data").expect("write");
    assert!(matches!(
        Profile::wipe(tmp.path()),
        Err(StoreError::NotAProfile)
    ));
    assert!(tmp.path().join("keep.txt").exists());
}

#[test]
fn duress_passphrase_wipes_and_opens_an_empty_profile() {
    let (_tmp, dir, mut store) = new_profile("real");
    add_account(&mut store, "activist@talpa.test");
    assert!(matches!(
        store.set_duress_passphrase(Some(&pass("real"))),
        Err(StoreError::DuressConflict)
    ));
    store
        .set_duress_passphrase(Some(&pass("duress")))
        .expect("set duress");
    store.lock().expect("lock");
    let old_hdr = std::fs::read(dir.join("talpa.hdr")).expect("hdr");
    let old_db = std::fs::read(dir.join("talpa.db")).expect("db");

    let unlocked = Profile::unlock(&dir, &pass("duress")).expect("duress unlock");
    assert!(matches!(unlocked, Unlocked::Duress(_)));
    let store = unlocked.into_store();
    assert!(store.list_accounts().expect("accounts").is_empty());
    store.lock().expect("lock");

    // Nothing of the old profile remains: neither salt nor database bytes.
    let new_hdr = std::fs::read(dir.join("talpa.hdr")).expect("hdr");
    let new_db = std::fs::read(dir.join("talpa.db")).expect("db");
    assert_ne!(new_hdr, old_hdr);
    assert_ne!(new_hdr[1..17], old_hdr[1..17], "fresh salt");
    assert_ne!(new_db[..16], old_db[..16], "fresh SQLCipher salt");
    // The old passphrase opens nothing; the duress passphrase now opens the (empty) profile.
    assert!(matches!(
        unlock_err(&dir, "real"),
        StoreError::WrongPassphrase
    ));
    let again = Profile::unlock(&dir, &pass("duress")).expect("reopen");
    assert!(matches!(again, Unlocked::Opened(_)));
}

#[test]
fn cleared_duress_passphrase_no_longer_wipes() {
    let (_tmp, dir, mut store) = new_profile("real");
    store
        .set_duress_passphrase(Some(&pass("duress")))
        .expect("set");
    store.set_duress_passphrase(None).expect("clear");
    store.lock().expect("lock");
    let before = snapshot(&dir);
    assert!(matches!(
        unlock_err(&dir, "duress"),
        StoreError::WrongPassphrase
    ));
    assert_eq!(snapshot(&dir), before);
}

#[test]
fn unlocked_store_runs_with_the_hardening_pragmas() {
    let (_tmp, dir, store) = new_profile("pw");
    store.lock().expect("lock");
    let store = Profile::unlock(&dir, &pass("pw"))
        .expect("unlock")
        .into_store();
    let r = store.security_report().expect("report");
    assert!(r.cipher_memory_security, "{r:?}");
    assert!(r.secure_delete, "{r:?}");
    assert_eq!(r.temp_store, 2, "temp_store = MEMORY");
    assert!(r.foreign_keys, "{r:?}");
    assert_eq!(r.journal_mode, "wal");
    assert_eq!(r.cipher_page_size, 4096);
    assert!(r.cipher_version.starts_with('4'), "{r:?}");
}

#[test]
fn open_store_can_be_wiped_in_one_call() {
    let (_tmp, dir, mut store) = new_profile("pw");
    add_account(&mut store, "a@talpa.test");
    store.wipe().expect("panic wipe");
    assert!(!dir.exists());
    assert!(matches!(unlock_err(&dir, "pw"), StoreError::NotAProfile));
}

/// Builds the header a crash would leave between "pending check written" and "pending
/// check made current" (layout: flags | salt 16 | key_check 32 | pending 32 | duress 32 |
/// reserved 16).
fn interrupted_header(before: &[u8], after: &[u8]) -> Vec<u8> {
    let mut h = before.to_vec();
    h[0] |= 0x01;
    h[49..81].copy_from_slice(&after[17..49]);
    h
}

#[test]
fn passphrase_change_interrupted_after_rekey_opens_with_the_new_passphrase() {
    let (_tmp, dir, mut store) = new_profile("old");
    add_account(&mut store, "a@talpa.test");
    let hdr_before = std::fs::read(dir.join("talpa.hdr")).expect("hdr");
    store
        .change_passphrase(&pass("old"), &pass("new"))
        .expect("change");
    store.lock().expect("lock");
    let hdr_after = std::fs::read(dir.join("talpa.hdr")).expect("hdr");
    std::fs::write(
        dir.join("talpa.hdr"),
        interrupted_header(&hdr_before, &hdr_after),
    )
    .expect("simulate crash");

    let before = snapshot(&dir);
    assert!(matches!(
        unlock_err(&dir, "old"),
        StoreError::WrongPassphrase
    ));
    assert_eq!(snapshot(&dir), before);
    let store = Profile::unlock(&dir, &pass("new"))
        .expect("new opens")
        .into_store();
    assert_eq!(store.list_accounts().expect("accounts").len(), 1);
    store.lock().expect("lock");
    assert_eq!(
        std::fs::read(dir.join("talpa.hdr")).expect("hdr")[0] & 0x01,
        0,
        "change completed at unlock"
    );
    assert!(matches!(
        unlock_err(&dir, "old"),
        StoreError::WrongPassphrase
    ));
}

#[test]
fn passphrase_change_interrupted_before_rekey_still_opens_with_the_old_passphrase() {
    let (_tmp, dir, mut store) = new_profile("old");
    add_account(&mut store, "a@talpa.test");
    // Locked, the whole database is in talpa.db (the WAL is folded in and removed).
    store.lock().expect("lock");
    let hdr_before = std::fs::read(dir.join("talpa.hdr")).expect("hdr");
    let db_before = std::fs::read(dir.join("talpa.db")).expect("db");
    let mut store = Profile::unlock(&dir, &pass("old"))
        .expect("unlock")
        .into_store();
    store
        .change_passphrase(&pass("old"), &pass("new"))
        .expect("change");
    store.lock().expect("lock");
    let hdr_after = std::fs::read(dir.join("talpa.hdr")).expect("hdr");
    std::fs::write(
        dir.join("talpa.hdr"),
        interrupted_header(&hdr_before, &hdr_after),
    )
    .expect("simulate crash");
    std::fs::write(dir.join("talpa.db"), db_before).expect("database not yet re-keyed");

    let before = snapshot(&dir);
    assert!(matches!(
        unlock_err(&dir, "new"),
        StoreError::WrongPassphrase
    ));
    assert_eq!(snapshot(&dir), before);
    let store = Profile::unlock(&dir, &pass("old"))
        .expect("old opens")
        .into_store();
    assert_eq!(store.list_accounts().expect("accounts").len(), 1);
    store.lock().expect("lock");
    assert_eq!(
        std::fs::read(dir.join("talpa.hdr")).expect("hdr")[0] & 0x01,
        0,
        "abandoned change cleared at unlock"
    );
    assert!(matches!(
        unlock_err(&dir, "new"),
        StoreError::WrongPassphrase
    ));
}

/// The profile's files as a crash or a power cut leaves them, copied to `to`: the write-ahead
/// log still holds the committed transactions (no lock folded it into the database).
fn crashed_copy(dir: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir(to).expect("copy dir");
    for f in ["talpa.db", "talpa.db-wal", "talpa.hdr"] {
        std::fs::copy(dir.join(f), to.join(f)).expect("copy profile file");
    }
}

/// A profile with three accounts, each added in its own transaction, left "crashed" in a copy:
/// the WAL holds several committed transactions.
fn crashed_profile_with_three_accounts() -> (tempfile::TempDir, std::path::PathBuf) {
    let (tmp, dir, mut store) = new_profile("pw");
    for jid in ["a@talpa.test", "b@talpa.test", "c@talpa.test"] {
        add_account(&mut store, jid);
    }
    let copy = tmp.path().join("crashed");
    crashed_copy(&dir, &copy);
    drop(store);
    (tmp, copy)
}

/// The offset of WAL frame `n` (from 0): a 32-byte header, then frames of a 24-byte header
/// and one page each.
fn wal_frame_offset(wal: &[u8], n: usize) -> usize {
    let page = u32::from_be_bytes(wal[8..12].try_into().expect("4 bytes")) as usize;
    32 + n * (24 + page)
}

#[test]
fn a_crashed_profile_reopens_with_every_committed_write() {
    let (_tmp, copy) = crashed_profile_with_three_accounts();
    assert!(
        std::fs::metadata(copy.join("talpa.db-wal"))
            .expect("wal")
            .len()
            > 32,
        "the crash left committed frames in the WAL"
    );
    let store = Profile::unlock(&copy, &pass("pw"))
        .expect("unlock")
        .into_store();
    assert_eq!(store.list_accounts().expect("accounts").len(), 3);
}

#[test]
fn a_write_torn_by_a_crash_loses_only_that_write() {
    let (_tmp, copy) = crashed_profile_with_three_accounts();
    let wal_path = copy.join("talpa.db-wal");
    let len = std::fs::metadata(&wal_path).expect("wal").len();
    // Half of the last frame made it to disk: SQLite drops that transaction, as after any crash.
    OpenOptions::new()
        .write(true)
        .open(&wal_path)
        .expect("open")
        .set_len(len - 2000)
        .expect("truncate");
    let store = Profile::unlock(&copy, &pass("pw"))
        .expect("a torn last write is an ordinary crash, not damage")
        .into_store();
    let jids: Vec<_> = store
        .list_accounts()
        .expect("accounts")
        .into_iter()
        .map(|a| a.jid)
        .collect();
    assert_eq!(jids, ["a@talpa.test", "b@talpa.test"]);
}

#[test]
fn a_damaged_frame_before_committed_ones_in_the_wal_is_tampering_and_changes_no_file() {
    // SQLite stops reading a WAL at its first bad frame and silently opens the older state; at
    // lock the WAL (with every later transaction in it) would be folded away for good. A bad
    // frame followed by intact committed frames is damage, not a torn write: refuse it.
    for (what, at) in [("page data", 24 + 100), ("frame header", 2)] {
        let (_tmp, copy) = crashed_profile_with_three_accounts();
        let wal_path = copy.join("talpa.db-wal");
        let wal = std::fs::read(&wal_path).expect("wal");
        flip_byte(&wal_path, (wal_frame_offset(&wal, 0) + at) as u64);
        let before = snapshot(&copy);
        let err = unlock_err(&copy, "pw");
        assert!(
            matches!(err, StoreError::Tampered),
            "a flipped byte in the first frame's {what}: got {err:?}"
        );
        assert_eq!(snapshot(&copy), before, "{what}: no file changed");
    }
}

#[test]
fn a_damaged_wal_header_before_committed_frames_is_tampering_and_changes_no_file() {
    let (_tmp, copy) = crashed_profile_with_three_accounts();
    let wal_path = copy.join("talpa.db-wal");
    // The checkpoint sequence number: SQLite would ignore the whole log.
    flip_byte(&wal_path, 13);
    let before = snapshot(&copy);
    let err = unlock_err(&copy, "pw");
    assert!(matches!(err, StoreError::Tampered), "got {err:?}");
    assert_eq!(snapshot(&copy), before);
}
