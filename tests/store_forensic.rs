//! Forensic proof that expiry really erases: after canary messages expire, the canary is in
//! no file of the profile (database, write-ahead log, shared memory) nor the temp dir, and in
//! no page of the database decrypted independently of SQLCipher (AES-256-CBC + HMAC-SHA512
//! per page, SQLCipher 4 layout) — checked both while the store is still open (the expiry's
//! TRUNCATE checkpoint has emptied the WAL) and after lock; positive controls show the same
//! decryption finds the canary before expiry, in the database and in the WAL's frames. The
//! Debian `sqlcipher` CLI without a key sees no database at all.

mod store_util;

use std::path::Path;
use std::process::Command;

use cbc::cipher::{BlockDecryptMut, KeyIvInit, block_padding::NoPadding};
use chrono::Duration;
use hmac::{Hmac, Mac};
use sha2::Sha512;
use store_util::{add_account, chat, contains, new_profile, pass, t0};
use talpa::store::{
    Direction, InsertOutcome, NewAttachment, NewMessage, Profile, RetentionPolicy, profile,
};

const PAGE: usize = 4096;
/// SQLCipher 4 reserve: IV (16) + HMAC-SHA512 (64), already a multiple of the AES block.
const RESERVE: usize = 80;
const IV_LEN: usize = 16;
const SQLITE_MAGIC: &[u8] = b"SQLite format 3\0";

/// The HMAC key of a SQLCipher 4 database: PBKDF2-HMAC-SHA512(key, salt XOR 0x3a, 2
/// iterations, 32 bytes), the salt being the first 16 bytes of the database file.
fn hmac_key(db: &[u8], key: &[u8; 32]) -> [u8; 32] {
    let hmac_salt: Vec<u8> = db[..16].iter().map(|b| b ^ 0x3a).collect();
    let mut hmac_key = [0u8; 32];
    pbkdf2::pbkdf2_hmac::<Sha512>(key, &hmac_salt, 2, &mut hmac_key);
    hmac_key
}

/// Decrypts one page (as stored in the database file or in a WAL frame), verifying its HMAC.
/// Layout (sqlcipher `sqlite3Codec` / `sqlcipher_page_cipher`): page 1 starts with the 16-byte
/// KDF salt, ciphertext follows; each page ends with IV(16) then
/// HMAC-SHA512(ciphertext || IV || pgno as u32 LE).
fn decrypt_page(page: &[u8], pgno: u32, key: &[u8; 32], hmac_key: &[u8; 32]) -> Vec<u8> {
    let start = if pgno == 1 { 16 } else { 0 };
    let data_end = PAGE - RESERVE;
    let iv = &page[data_end..data_end + IV_LEN];
    let mac_stored = &page[data_end + IV_LEN..];
    let mut mac = <Hmac<Sha512> as Mac>::new_from_slice(hmac_key).expect("hmac key");
    mac.update(&page[start..data_end + IV_LEN]);
    mac.update(&pgno.to_le_bytes());
    mac.verify_slice(mac_stored)
        .unwrap_or_else(|_| panic!("HMAC of page {pgno} does not verify"));

    let mut plain = page[start..data_end].to_vec();
    cbc::Decryptor::<aes::Aes256>::new_from_slices(key, iv)
        .expect("key/iv sizes")
        .decrypt_padded_mut::<NoPadding>(&mut plain)
        .expect("whole blocks");
    let mut out = Vec::with_capacity(PAGE);
    if pgno == 1 {
        out.extend_from_slice(SQLITE_MAGIC);
    }
    out.extend_from_slice(&plain);
    out
}

/// Decrypts every page of a SQLCipher 4 database keyed with a raw 32-byte key.
fn decrypt_database(db: &[u8], key: &[u8; 32]) -> Vec<Vec<u8>> {
    assert!(
        !db.is_empty() && db.len().is_multiple_of(PAGE),
        "whole pages"
    );
    let hmac_key = hmac_key(db, key);
    db.chunks(PAGE)
        .enumerate()
        .map(|(i, page)| {
            let pgno = u32::try_from(i + 1).expect("page number");
            decrypt_page(page, pgno, key, &hmac_key)
        })
        .collect()
}

/// Decrypts every frame of a write-ahead log (32-byte WAL header, then frames of a 24-byte
/// header, whose first 4 bytes are the page number big-endian, and one encrypted page).
fn decrypt_wal(wal: &[u8], db: &[u8], key: &[u8; 32]) -> Vec<Vec<u8>> {
    const WAL_HEADER: usize = 32;
    const FRAME_HEADER: usize = 24;
    assert!(
        wal.len() > WAL_HEADER && (wal.len() - WAL_HEADER).is_multiple_of(FRAME_HEADER + PAGE),
        "whole frames"
    );
    let hmac_key = hmac_key(db, key);
    wal[WAL_HEADER..]
        .chunks(FRAME_HEADER + PAGE)
        .map(|frame| {
            let pgno = u32::from_be_bytes(frame[..4].try_into().expect("4 bytes"));
            decrypt_page(&frame[FRAME_HEADER..], pgno, key, &hmac_key)
        })
        .collect()
}

/// Every regular file under `dir` (a few levels deep), unreadable ones skipped.
fn files_under(dir: &Path, depth: usize, out: &mut Vec<std::path::PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let Ok(ft) = e.file_type() else { continue };
        if ft.is_dir() && depth > 0 {
            files_under(&e.path(), depth - 1, out);
        } else if ft.is_file() {
            out.push(e.path());
        }
    }
}

fn files_containing(dir: &Path, depth: usize, needle: &[u8]) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    files_under(dir, depth, &mut files);
    files
        .into_iter()
        .filter(|p| {
            std::fs::metadata(p).is_ok_and(|m| m.len() < 64 * 1024 * 1024)
                && std::fs::read(p).is_ok_and(|b| contains(&b, needle))
        })
        .collect()
}

#[test]
fn expired_canary_is_gone_from_disk_and_from_every_decrypted_page() {
    let (_tmp, dir, mut store) = new_profile("forensic passphrase");
    let canary = format!("CANARY-{}", uuid::Uuid::new_v4().simple());
    let acct = add_account(&mut store, "a@talpa.test");
    let kept = chat(&mut store, acct, "kept@talpa.test");
    let doomed = chat(&mut store, acct, "doomed@talpa.test");
    store
        .set_conversation_retention(kept, Some(RetentionPolicy::Forever), t0())
        .expect("forever");
    store
        .set_conversation_retention(doomed, Some(RetentionPolicy::OneHour), t0())
        .expect("one hour");

    for i in 0..40 {
        let keep = NewMessage::new(
            kept,
            Direction::Incoming,
            "kept@talpa.test",
            Some(format!("ordinary message {i}")),
            t0(),
        );
        store.insert_message(&keep, t0()).expect("insert");
        // Small bodies, bodies spilling into overflow pages, and attachment blobs.
        let body = if i % 4 == 0 {
            canary.repeat(300)
        } else {
            format!("{canary} #{i}")
        };
        let mut m = NewMessage::new(
            doomed,
            Direction::Incoming,
            "doomed@talpa.test",
            Some(body),
            t0(),
        );
        m.origin_id = Some(format!("{canary}-origin-{i}"));
        if i % 10 == 0 {
            m.attachments.push(NewAttachment {
                name: format!("{canary}.bin"),
                mime: "application/octet-stream".into(),
                data: canary.repeat(3000).into_bytes(),
            });
        }
        assert!(matches!(
            store.insert_message(&m, t0()).expect("insert"),
            InsertOutcome::Stored(_)
        ));
    }
    store.lock().expect("lock");
    let key = profile::derive_raw_key(&dir, &pass("forensic passphrase")).expect("raw key");

    // Positive control: encrypted on disk, yet our independent decryption finds the canary.
    assert!(
        files_containing(&dir, 0, canary.as_bytes()).is_empty(),
        "never plaintext on disk"
    );
    let pages = decrypt_database(&std::fs::read(dir.join("talpa.db")).expect("db"), &key);
    assert!(
        pages.iter().any(|p| contains(p, canary.as_bytes())),
        "the decryptor must see the canary before expiry, or the test proves nothing"
    );

    // One more canary while the store is open: it goes to the write-ahead log first.
    let mut store = Profile::unlock(&dir, &pass("forensic passphrase"))
        .expect("unlock")
        .into_store();
    let mut late = NewMessage::new(
        doomed,
        Direction::Incoming,
        "doomed@talpa.test",
        Some(format!("{canary} late")),
        t0(),
    );
    late.origin_id = Some(format!("{canary}-origin-late"));
    assert!(matches!(
        store.insert_message(&late, t0()).expect("insert"),
        InsertOutcome::Stored(_)
    ));
    let db_file = std::fs::read(dir.join("talpa.db")).expect("db");
    let wal = std::fs::read(dir.join("talpa.db-wal")).expect("the store runs with a WAL");
    assert!(
        decrypt_wal(&wal, &db_file, &key)
            .iter()
            .any(|p| contains(p, canary.as_bytes())),
        "the WAL decryptor must see the late canary before expiry, or the test proves nothing"
    );

    // Expire.
    assert_eq!(store.expire(t0() + Duration::hours(2)).expect("expire"), 41);
    assert_eq!(store.history(kept, None, 100).expect("kept").len(), 40);

    // Still open: the expiry's TRUNCATE checkpoint emptied the WAL into the database file, and
    // no file and no decrypted page holds the canary.
    assert_eq!(
        std::fs::metadata(dir.join("talpa.db-wal"))
            .expect("WAL while open")
            .len(),
        0,
        "WAL truncated after expiry"
    );
    assert_eq!(
        files_containing(&dir, 0, canary.as_bytes()),
        Vec::<std::path::PathBuf>::new()
    );
    let open_pages = decrypt_database(&std::fs::read(dir.join("talpa.db")).expect("db"), &key);
    assert!(
        open_pages.iter().all(|p| !contains(p, canary.as_bytes())),
        "canary left in a decrypted page while the store is open"
    );
    store.lock().expect("lock");

    // (a) Not in any file of the profile (db, journal, wal, shm) nor the temp dir.
    assert_eq!(
        files_containing(&dir, 0, canary.as_bytes()),
        Vec::<std::path::PathBuf>::new()
    );
    // SQLite's temp-file directories on Unix: $TMPDIR (std::env::temp_dir), /var/tmp, /tmp.
    for tmp in [std::env::temp_dir(), "/var/tmp".into(), "/tmp".into()] {
        assert_eq!(
            files_containing(&tmp, 3, canary.as_bytes()),
            Vec::<std::path::PathBuf>::new(),
            "canary in a temp file under {}",
            tmp.display()
        );
    }

    // (b) Not in any decrypted page; and decryption demonstrably yields SQLite content.
    let db = std::fs::read(dir.join("talpa.db")).expect("db");
    assert_ne!(&db[..16], SQLITE_MAGIC, "no plaintext header");
    let pages = decrypt_database(&db, &key);
    let page1 = &pages[0];
    assert_eq!(
        &page1[16..18],
        &[0x10, 0x00],
        "page size 4096 in the decrypted header"
    );
    assert_eq!(
        page1[20], RESERVE as u8,
        "reserved bytes per page in the decrypted header"
    );
    assert!(
        pages.iter().any(|p| contains(p, b"CREATE TABLE messages")),
        "the schema is readable in the decrypted pages"
    );
    assert!(
        pages.iter().any(|p| contains(p, b"ordinary message 39")),
        "kept messages are readable in the decrypted pages"
    );
    for (i, p) in pages.iter().enumerate() {
        assert!(
            !contains(p, canary.as_bytes()),
            "canary left in decrypted page {}",
            i + 1
        );
    }

    // (c) A stock sqlcipher/sqlite CLI without the key sees no database.
    let out = Command::new("sqlcipher")
        .arg(dir.join("talpa.db"))
        .arg("SELECT count(*) FROM sqlite_master;")
        .output()
        .expect("run the sqlcipher CLI (Debian package `sqlcipher`)");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "sqlcipher without a key must fail");
    assert!(
        stderr.contains("is not a database"),
        "sqlcipher said: {stderr}"
    );
}
