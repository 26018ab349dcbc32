//! Profile directory, key derivation, unlock, passphrase change, duress and wipe.
//!
//! Files of a profile directory (mode 0700):
//! - `talpa.hdr`: 129 bytes, no magic (looks random): `flags(1) | salt(16) | key_check(32) |
//!   pending_check(32) | duress_verifier(32) | reserved(16)`. It holds the Argon2id salt and
//!   verifiers; it is kept outside the database because it must be read *before* the database
//!   can be keyed. Unused verifier slots hold random bytes, so the file does not reveal whether
//!   a duress passphrase is set.
//! - `talpa.db` (+ `talpa.db-wal` / `talpa.db-shm` while open, `talpa.db-journal` during a
//!   passphrase change): the SQLCipher 4 database. The WAL is checkpointed with TRUNCATE
//!   after every deletion of messages and removed when the store locks.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use argon2::{Algorithm, Argon2, Block, Params, Version};
use hmac::{Hmac, Mac};
use rand::RngCore;
use rusqlite::{Connection, OpenFlags};
use sha2::Sha256;
use unicode_normalization::UnicodeNormalization;
use zeroize::Zeroizing;

use super::error::{Result, StoreError};
use super::{Store, migrations};

/// Database file name inside a profile directory.
pub const DB_FILE: &str = "talpa.db";
/// Salt/verifier header file name inside a profile directory.
pub const HEADER_FILE: &str = "talpa.hdr";
/// Every file name the store may create in a profile directory (all are wiped).
pub const PROFILE_FILES: &[&str] = &[
    "talpa.hdr",
    "talpa.hdr.tmp",
    "talpa.db",
    "talpa.db-journal",
    "talpa.db-wal",
    "talpa.db-shm",
];

/// Argon2id memory cost in KiB (64 MiB).
pub const ARGON2_M_KIB: u32 = 64 * 1024;
/// Argon2id iterations.
pub const ARGON2_T: u32 = 3;
/// Argon2id lanes.
pub const ARGON2_P: u32 = 4;
/// SQLCipher page size (SQLCipher 4 default, kept explicit for the length check).
pub const PAGE_SIZE: u64 = 4096;

const SALT_LEN: usize = 16;
const CHECK_LEN: usize = 32;
const HEADER_LEN: usize = 1 + SALT_LEN + 3 * CHECK_LEN + 16;
const FLAG_PENDING: u8 = 0x01;
const KEY_CHECK_LABEL: &[u8] = b"talpa/store/key-check/v1";
const DURESS_LABEL: &[u8] = b"talpa/store/duress/v1";
const SQLITE_MAGIC: &[u8] = b"SQLite format 3\0";

/// A passphrase held in a zeroizing buffer; its `Debug` output is redacted.
#[derive(Clone)]
pub struct Passphrase(Zeroizing<String>);

impl Passphrase {
    /// Wraps a passphrase (the `String` is moved, not copied).
    pub fn new(s: String) -> Self {
        Self(Zeroizing::new(s))
    }
    fn bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }

    /// The passphrase in Unicode normalisation form C, so that "é" typed as one code point
    /// or as "e" + combining accent (another keyboard layout or input method) is the same
    /// passphrase. The copy is zeroizing too, and sized up front (NFC is at most three times
    /// longer in UTF-8, UAX #15) so that no reallocation leaves a copy behind.
    fn nfc(&self) -> Passphrase {
        let mut s = Zeroizing::new(String::with_capacity(self.0.len().saturating_mul(3)));
        for c in self.0.nfc() {
            s.push(c);
        }
        Passphrase(s)
    }
}

impl From<String> for Passphrase {
    fn from(s: String) -> Self {
        Self::new(s)
    }
}

impl From<&str> for Passphrase {
    fn from(s: &str) -> Self {
        Self::new(s.to_owned())
    }
}

impl std::fmt::Debug for Passphrase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Passphrase(<redacted>)")
    }
}

/// The 32-byte database key derived with Argon2id. Zeroized on drop.
pub(crate) struct DbKey(Zeroizing<[u8; 32]>);

impl DbKey {
    fn mac(&self, label: &[u8]) -> [u8; CHECK_LEN] {
        // HMAC accepts any key length; the error branch is unreachable.
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.0[..])
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        mac.update(label);
        mac.finalize().into_bytes().into()
    }
    fn key_check(&self) -> [u8; CHECK_LEN] {
        self.mac(KEY_CHECK_LABEL)
    }
    fn duress_check(&self) -> [u8; CHECK_LEN] {
        self.mac(DURESS_LABEL)
    }
    /// `PRAGMA key`/`rekey` statement text in a zeroizing buffer sized up front (no realloc
    /// leaves copies behind).
    fn pragma(&self, name: &str) -> Zeroizing<String> {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut s = Zeroizing::new(String::with_capacity(name.len() + 100));
        s.push_str("PRAGMA ");
        s.push_str(name);
        s.push_str(" = \"x'");
        for b in self.0.iter() {
            s.push(char::from(HEX[usize::from(b >> 4)]));
            s.push(char::from(HEX[usize::from(b & 0xf)]));
        }
        s.push_str("'\";");
        s
    }
}

/// Derives the database key: Argon2id(passphrase, salt), m = 64 MiB, t = 3, p = 4, 32 bytes.
pub(crate) fn derive_key(pass: &Passphrase, salt: &[u8; SALT_LEN]) -> Result<DbKey> {
    let params =
        Params::new(ARGON2_M_KIB, ARGON2_T, ARGON2_P, Some(32)).map_err(|_| StoreError::Kdf)?;
    let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
    let mut blocks = Zeroizing::new(vec![Block::default(); argon.params().block_count()]);
    let mut out = Zeroizing::new([0u8; 32]);
    argon
        .hash_password_into_with_memory(pass.bytes(), salt, &mut out[..], &mut blocks[..])
        .map_err(|_| StoreError::Kdf)?;
    Ok(DbKey(out))
}

/// The keys of `pass`'s NFC form and, when it differs, of its raw form.
fn derive_both_forms(pass: &Passphrase, salt: &[u8; SALT_LEN]) -> Result<(DbKey, Option<DbKey>)> {
    let nfc = pass.nfc();
    let key = derive_key(&nfc, salt)?;
    let raw = if nfc.bytes() == pass.bytes() {
        None
    } else {
        Some(derive_key(pass, salt)?)
    };
    Ok((key, raw))
}

/// Derives the key of `pass` as typed today: from its NFC form, then — only if that key is
/// not accepted and the raw form differs — from the raw form, which keyed profiles made before
/// passphrases were normalised. Returns the first key `accept` takes.
fn derive_accepted(
    pass: &Passphrase,
    salt: &[u8; SALT_LEN],
    accept: impl Fn(&DbKey) -> bool,
) -> Result<Option<DbKey>> {
    let nfc = pass.nfc();
    let key = derive_key(&nfc, salt)?;
    if accept(&key) {
        return Ok(Some(key));
    }
    if nfc.bytes() == pass.bytes() {
        return Ok(None);
    }
    drop((key, nfc));
    let key = derive_key(pass, salt)?;
    Ok(accept(&key).then_some(key))
}

/// Raw key bytes for tools that need them (the forensic test decrypts pages itself).
///
/// Derives the key of the profile at `dir` from its header and `pass` without opening the
/// database. Verifies the passphrase against the header's key check.
pub fn derive_raw_key(dir: &Path, pass: &Passphrase) -> Result<Zeroizing<[u8; 32]>> {
    let header = Header::read(&dir.join(HEADER_FILE))?;
    derive_accepted(pass, &header.salt, |k| {
        ct_eq(&k.key_check(), &header.key_check)
    })?
    .map(|k| k.0)
    .ok_or(StoreError::WrongPassphrase)
}

fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn random<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    rand::rngs::OsRng.fill_bytes(&mut b);
    b
}

/// The header file: salt and verifiers, no secrets.
#[derive(Clone)]
pub(crate) struct Header {
    flags: u8,
    salt: [u8; SALT_LEN],
    key_check: [u8; CHECK_LEN],
    pending_check: [u8; CHECK_LEN],
    duress: [u8; CHECK_LEN],
    reserved: [u8; 16],
}

impl Header {
    fn fresh(key_salt: [u8; SALT_LEN]) -> Self {
        Self {
            flags: 0,
            salt: key_salt,
            key_check: random(),
            pending_check: random(),
            duress: random(),
            reserved: random(),
        }
    }

    fn encode(&self) -> [u8; HEADER_LEN] {
        let mut b = [0u8; HEADER_LEN];
        b[0] = self.flags;
        let mut o = 1;
        for part in [
            &self.salt[..],
            &self.key_check[..],
            &self.pending_check[..],
            &self.duress[..],
            &self.reserved[..],
        ] {
            b[o..o + part.len()].copy_from_slice(part);
            o += part.len();
        }
        b
    }

    fn read(path: &Path) -> Result<Self> {
        let bytes = match fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(StoreError::MissingSalt);
            }
            Err(e) => return Err(e.into()),
        };
        if bytes.len() != HEADER_LEN {
            return Err(StoreError::Corrupt);
        }
        let take = |o: usize, n: usize| &bytes[o..o + n];
        let arr32 = |o| -> [u8; 32] { take(o, 32).try_into().unwrap_or([0; 32]) };
        Ok(Self {
            flags: bytes[0],
            salt: take(1, SALT_LEN).try_into().unwrap_or([0; SALT_LEN]),
            key_check: arr32(17),
            pending_check: arr32(49),
            duress: arr32(81),
            reserved: take(113, 16).try_into().unwrap_or([0; 16]),
        })
    }

    /// Writes the header atomically: temp file, fsync, rename, fsync directory.
    fn write(&self, dir: &Path) -> Result<()> {
        let tmp = dir.join("talpa.hdr.tmp");
        {
            let mut f = OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(&tmp)?;
            f.write_all(&self.encode())?;
            f.sync_all()?;
        }
        fs::rename(&tmp, dir.join(HEADER_FILE))?;
        File::open(dir)?.sync_all()?;
        Ok(())
    }

    fn create_new(&self, dir: &Path) -> Result<()> {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(dir.join(HEADER_FILE))
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::AlreadyExists => StoreError::AlreadyExists,
                _ => StoreError::Io(e),
            })?;
        f.write_all(&self.encode())?;
        f.sync_all()?;
        File::open(dir)?.sync_all()?;
        Ok(())
    }
}

/// What `Profile::unlock` found.
pub enum Unlocked {
    /// The profile passphrase was entered: the profile is open.
    Opened(Store),
    /// The duress passphrase was entered: the old profile has been wiped and a fresh, empty
    /// profile keyed with the duress passphrase is open in its place.
    Duress(Store),
}

impl Unlocked {
    /// The open store, whichever passphrase opened it.
    pub fn into_store(self) -> Store {
        match self {
            Self::Opened(s) | Self::Duress(s) => s,
        }
    }
    /// Whether the duress passphrase was entered.
    pub fn is_duress(&self) -> bool {
        matches!(self, Self::Duress(_))
    }
}

impl std::fmt::Debug for Unlocked {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.is_duress() {
            "Unlocked::Duress"
        } else {
            "Unlocked::Opened"
        })
    }
}

/// Namespace for operations on a profile directory that has no open store.
pub struct Profile;

impl Profile {
    /// Whether `dir` looks like a profile (database or header present).
    pub fn exists(dir: &Path) -> bool {
        dir.join(DB_FILE).exists() || dir.join(HEADER_FILE).exists()
    }

    /// Creates a new profile in `dir` (created with mode 0700 if absent) keyed from
    /// `passphrase` in its NFC form, and opens it. Refuses if any profile file already exists
    /// there.
    pub fn create(dir: &Path, passphrase: &Passphrase) -> Result<Store> {
        Profile::create_keyed_from(dir, &passphrase.nfc())
    }

    /// Creates a profile keyed from exactly the bytes of `passphrase` (no normalisation).
    fn create_keyed_from(dir: &Path, passphrase: &Passphrase) -> Result<Store> {
        if PROFILE_FILES.iter().any(|f| dir.join(f).exists()) {
            return Err(StoreError::AlreadyExists);
        }
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700))?;

        let salt: [u8; SALT_LEN] = random();
        let key = derive_key(passphrase, &salt)?;
        let mut header = Header::fresh(salt);
        header.key_check = key.key_check();
        header.create_new(dir)?;
        match create_db(dir, &key, header.clone()) {
            Ok(store) => Ok(store),
            Err(e) => {
                // Leave nothing half-made behind (the header file is ours: we just created it).
                let _ = wipe_files(dir);
                Err(e)
            }
        }
    }

    /// Opens the profile in `dir`. Files are never modified when this fails.
    ///
    /// With the duress passphrase, the profile is wiped and replaced by a fresh empty one keyed
    /// with the duress passphrase, returned as [`Unlocked::Duress`].
    pub fn unlock(dir: &Path, passphrase: &Passphrase) -> Result<Unlocked> {
        let db_path = dir.join(DB_FILE);
        let hdr_path = dir.join(HEADER_FILE);
        if !db_path.exists() {
            return Err(StoreError::NotAProfile);
        }
        let header = match Header::read(&hdr_path) {
            Err(StoreError::MissingSalt) => return Err(StoreError::MissingSalt),
            other => other?,
        };
        let len = fs::metadata(&db_path)?.len();
        if len < PAGE_SIZE || !len.is_multiple_of(PAGE_SIZE) {
            return Err(StoreError::Corrupt);
        }

        let has_pending = header.flags & FLAG_PENDING != 0;
        let key = derive_accepted(passphrase, &header.salt, |k| {
            let check = k.key_check();
            ct_eq(&k.duress_check(), &header.duress)
                || ct_eq(&check, &header.key_check)
                || (has_pending && ct_eq(&check, &header.pending_check))
        })?
        .ok_or(StoreError::WrongPassphrase)?;
        if ct_eq(&key.duress_check(), &header.duress) {
            drop(key);
            Profile::wipe(dir)?;
            return Profile::create(dir, passphrase).map(Unlocked::Duress);
        }
        let check = key.key_check();
        let pending = header.flags & FLAG_PENDING != 0 && ct_eq(&check, &header.pending_check);
        if !pending && !ct_eq(&check, &header.key_check) {
            return Err(StoreError::WrongPassphrase);
        }

        // Before SQLite replays (and later folds away) a log a crash left behind.
        super::wal_check::check(&dir.join("talpa.db-wal"))?;
        let conn = match open_keyed(&db_path, &key, false) {
            Ok(c) => c,
            // The key check matched but SQLCipher cannot read page 1: a damaged or altered
            // file — unless a passphrase change was interrupted, in which case the database
            // is keyed with the other passphrase.
            Err(StoreError::Tampered) if header.flags & FLAG_PENDING != 0 => {
                return Err(StoreError::WrongPassphrase);
            }
            Err(e) => return Err(e),
        };
        integrity_check(&conn)?;

        // Settle an interrupted passphrase change either way: the passphrase that opened
        // the database is the current one.
        let mut header = header;
        if header.flags & FLAG_PENDING != 0 {
            header.key_check = check;
            header.pending_check = random();
            header.flags &= !FLAG_PENDING;
            header.write(dir)?;
        }
        finish_open(conn, dir, header).map(Unlocked::Opened)
    }

    /// Destroys the profile in `dir` without needing its passphrase.
    ///
    /// Key material goes first: the header (Argon2id salt and verifiers) and the database's
    /// first page (SQLCipher salt) are overwritten with random bytes and fsynced, so the
    /// database is undecryptable even if a later step is interrupted. Then every profile file
    /// is overwritten, fsynced and removed, and the directory is removed if it is empty.
    /// Only the store's own file names are touched; other entries in `dir` are left alone.
    ///
    /// Overwriting is best effort on SSDs and copy-on-write file systems; the guarantee
    /// comes from destroying the salt (crypto-erase).
    pub fn wipe(dir: &Path) -> Result<()> {
        if !Profile::exists(dir) {
            return Err(StoreError::NotAProfile);
        }
        wipe_files(dir)
    }
}

fn overwrite_random(path: &Path, limit: Option<u64>) -> Result<()> {
    let mut f = match OpenOptions::new().read(true).write(true).open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    let len = f.metadata()?.len();
    let len = limit.map_or(len, |l| l.min(len));
    f.seek(SeekFrom::Start(0))?;
    let mut buf = vec![0u8; 64 * 1024];
    let mut left = len;
    while left > 0 {
        let n = left.min(buf.len() as u64) as usize;
        rand::rngs::OsRng.fill_bytes(&mut buf[..n]);
        f.write_all(&buf[..n])?;
        left -= n as u64;
    }
    f.sync_all()?;
    Ok(())
}

fn wipe_files(dir: &Path) -> Result<()> {
    // 1. Key material.
    overwrite_random(&dir.join(HEADER_FILE), None)?;
    overwrite_random(&dir.join("talpa.hdr.tmp"), None)?;
    overwrite_random(&dir.join(DB_FILE), Some(PAGE_SIZE))?;
    // 2. Everything else, then unlink.
    for name in PROFILE_FILES {
        let p = dir.join(name);
        overwrite_random(&p, None)?;
        match fs::remove_file(&p) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e.into()),
        }
    }
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    // Other components may keep their own data next to ours; only remove an empty directory.
    let _ = fs::remove_dir(dir);
    Ok(())
}

/// Opens the database and keys it, then proves the key by reading `sqlite_master`.
fn open_keyed(path: &Path, key: &DbKey, create: bool) -> Result<Connection> {
    let mut flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    if create {
        flags |= OpenFlags::SQLITE_OPEN_CREATE;
    }
    let conn = Connection::open_with_flags(path, flags).map_err(|_| StoreError::Corrupt)?;
    // Before the key: SQLCipher then wipes every buffer it frees, including the key pragma's
    // SQL text and its own key copies. Its stderr log is silenced: failures reach the caller
    // as typed errors instead.
    conn.execute_batch("PRAGMA cipher_memory_security = ON; PRAGMA cipher_log_level = NONE;")
        .map_err(|_| StoreError::Corrupt)?;
    // Error text of this statement could quote the key: never propagate it.
    conn.execute_batch(&key.pragma("key"))
        .map_err(|_| StoreError::Corrupt)?;
    conn.query_row("SELECT count(*) FROM sqlite_master", [], |r| {
        r.get::<_, i64>(0)
    })
    .map_err(|_| StoreError::Tampered)?;
    Ok(conn)
}

/// SQLCipher's HMAC check of every page: any reported row means an altered page.
fn integrity_check(conn: &Connection) -> Result<()> {
    let mut stmt = conn
        .prepare("PRAGMA cipher_integrity_check")
        .map_err(|_| StoreError::Tampered)?;
    let mut rows = stmt.query([]).map_err(|_| StoreError::Tampered)?;
    match rows.next() {
        Ok(None) => Ok(()),
        _ => Err(StoreError::Tampered),
    }
}

/// Page cache size (KiB) for the duration of an expiry run: a large deletion walks every index
/// of `messages` in its own order, and with the default 2 MiB cache it decrypts (and, for the
/// plain benchmark peer, merely re-reads) the same pages again and again. Pages are allocated
/// only as they are read, and the cache goes back to the default size (freeing them) after
/// the run, so an idle client does not hold them.
pub const EXPIRY_CACHE_KIB: i64 = 32 * 1024;
/// SQLite's default page cache size (KiB), kept outside expiry runs.
pub const DEFAULT_CACHE_KIB: i64 = 2000;

/// Applies the store's connection settings to an open (and, for the store, keyed) connection.
///
/// Public so that the store benchmark can give a plain-SQLite connection exactly the same
/// settings. `secure_delete` zeroes deleted content in place; the WAL journal writes each
/// changed page once (a rollback journal writes, and SQLCipher encrypts, every changed page
/// twice), and [`Store::expire`] checkpoints it with TRUNCATE after every run, so no old page
/// version outlives an expiry in `talpa.db-wal`. The page cache keeps SQLite's default size
/// (about 2 MiB) except during an expiry (see [`EXPIRY_CACHE_KIB`]). `synchronous = FULL`
/// (SQLite's default, stated because the crash check of `wal_check` relies on it) syncs the
/// WAL at every commit.
pub fn apply_pragmas(conn: &Connection) -> Result<()> {
    conn.execute_batch(
        "PRAGMA secure_delete = ON;
         PRAGMA temp_store = MEMORY;
         PRAGMA foreign_keys = ON;
         PRAGMA journal_mode = WAL;
         PRAGMA synchronous = FULL;",
    )?;
    Ok(())
}

fn finish_open(mut conn: Connection, dir: &Path, header: Header) -> Result<Store> {
    apply_pragmas(&conn)?;
    migrations::migrate(&mut conn)?;
    Ok(Store {
        conn,
        dir: dir.to_path_buf(),
        header,
        checkpoint_due: false,
    })
}

fn create_db(dir: &Path, key: &DbKey, header: Header) -> Result<Store> {
    let db_path = dir.join(DB_FILE);
    // An empty file is an empty database; create_new guarantees we never open an existing one.
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&db_path)
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::AlreadyExists => StoreError::AlreadyExists,
            _ => StoreError::Io(e),
        })?;
    let conn = open_keyed(&db_path, key, true)?;
    let store = finish_open(conn, dir, header)?;
    ensure_encrypted(&db_path)?;
    Ok(store)
}

/// Defence in depth: refuse a database file that starts with SQLite's plaintext magic.
fn ensure_encrypted(db_path: &Path) -> Result<()> {
    let mut f = File::open(db_path)?;
    let mut magic = [0u8; 16];
    if f.read_exact(&mut magic).is_err() || magic == SQLITE_MAGIC {
        return Err(StoreError::Corrupt);
    }
    Ok(())
}

/// The connection's security-relevant settings, as SQLite/SQLCipher report them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecurityReport {
    /// `PRAGMA cipher_memory_security` (SQLCipher wipes freed memory).
    pub cipher_memory_security: bool,
    /// `PRAGMA secure_delete`.
    pub secure_delete: bool,
    /// `PRAGMA temp_store` (2 = MEMORY).
    pub temp_store: i64,
    /// `PRAGMA foreign_keys`.
    pub foreign_keys: bool,
    /// `PRAGMA journal_mode`.
    pub journal_mode: String,
    /// `PRAGMA cipher_page_size`.
    pub cipher_page_size: i64,
    /// `PRAGMA cipher_version`.
    pub cipher_version: String,
}

impl Store {
    /// Reads back the settings the store relies on (for diagnostics and tests).
    pub fn security_report(&self) -> Result<SecurityReport> {
        let text = |p: &str| -> Result<String> {
            Ok(self
                .conn
                .query_row(&format!("PRAGMA {p}"), [], |r| {
                    r.get::<_, rusqlite::types::Value>(0)
                })
                .map(|v| match v {
                    rusqlite::types::Value::Integer(i) => i.to_string(),
                    rusqlite::types::Value::Text(t) => t,
                    _ => String::new(),
                })?)
        };
        let int = |p: &str| -> Result<i64> {
            text(p)?
                .parse()
                .map_err(|_| StoreError::Invalid(format!("PRAGMA {p}")))
        };
        Ok(SecurityReport {
            cipher_memory_security: int("cipher_memory_security")? == 1,
            secure_delete: int("secure_delete")? == 1,
            temp_store: int("temp_store")?,
            foreign_keys: int("foreign_keys")? == 1,
            journal_mode: text("journal_mode")?,
            cipher_page_size: int("cipher_page_size")?,
            cipher_version: text("cipher_version")?,
        })
    }

    /// The profile directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Checks `passphrase` against the open profile's (as at unlock: its NFC form, then its raw
    /// form if that differs): [`StoreError::WrongPassphrase`] when it is not the profile
    /// passphrase.
    pub fn check_passphrase(&self, passphrase: &Passphrase) -> Result<()> {
        derive_accepted(passphrase, &self.header.salt, |k| {
            ct_eq(&k.key_check(), &self.header.key_check)
        })?
        .map(drop)
        .ok_or(StoreError::WrongPassphrase)
    }

    /// Folds the write-ahead log into the database (`wal_checkpoint(TRUNCATE)`), then closes
    /// the database. SQLCipher wipes its key copies as the connection closes
    /// (`cipher_memory_security`); the store never keeps the key itself.
    ///
    /// # Errors
    /// [`StoreError::LockedWalKept`] when the checkpoint failed (a full disk, typically): the
    /// database is closed and its keys wiped all the same, but `talpa.db-wal` stays on disk
    /// (encrypted) until the next unlock folds it. [`StoreError::Sqlite`] when closing failed.
    pub fn lock(mut self) -> Result<()> {
        let folded = self.checkpoint();
        self.conn.close().map_err(|(_, e)| StoreError::Sqlite(e))?;
        folded.map_err(|e| StoreError::LockedWalKept(e.to_string()))
    }

    /// Locks and wipes the profile (panic button).
    pub fn wipe(self) -> Result<()> {
        let dir: PathBuf = self.dir.clone();
        drop(self.conn);
        Profile::wipe(&dir)
    }

    /// Re-keys the database with a key derived from `new` (same salt).
    ///
    /// Crash-safe: the header first records the new key's check as *pending*, then SQLCipher
    /// re-encrypts every page in one transaction, then the header makes the new check current.
    /// If interrupted, whichever passphrase matches the database opens it. The new key is
    /// derived from the NFC form of `new`.
    pub fn change_passphrase(&mut self, old: &Passphrase, new: &Passphrase) -> Result<()> {
        self.check_passphrase(old)?;
        // Either form of `new` would open the duress slot at unlock (a duress passphrase set
        // before normalisation is keyed from its raw form).
        let (new_key, raw_key) = derive_both_forms(new, &self.header.salt)?;
        if std::iter::once(&new_key)
            .chain(&raw_key)
            .any(|k| ct_eq(&k.duress_check(), &self.header.duress))
        {
            return Err(StoreError::DuressConflict);
        }
        drop(raw_key);
        let mut header = self.header.clone();
        header.pending_check = new_key.key_check();
        header.flags |= FLAG_PENDING;
        header.write(&self.dir)?;
        // SQLCipher re-keys only under a rollback journal: leave WAL for the re-key (this
        // checkpoints and removes the WAL file) and return to it afterwards.
        self.conn.execute_batch("PRAGMA journal_mode = DELETE;")?;
        self.conn
            .execute_batch(&new_key.pragma("rekey"))
            .map_err(|_| StoreError::Corrupt)?;
        header.key_check = header.pending_check;
        header.pending_check = random();
        header.flags &= !FLAG_PENDING;
        header.write(&self.dir)?;
        self.header = header;
        self.conn.execute_batch("PRAGMA journal_mode = WAL;")?;
        Ok(())
    }

    /// Sets (or with `None` clears) the duress passphrase.
    ///
    /// Only a verifier, HMAC(Argon2id(duress, salt)), is stored, in the header file: it must
    /// be checkable before the database can be opened. Trade-off: someone holding the header
    /// can test guesses against it offline, exactly as they can against the database itself,
    /// so it adds no weaker target; a cleared slot holds random bytes, so the header does not
    /// reveal whether a duress passphrase is set.
    pub fn set_duress_passphrase(&mut self, duress: Option<&Passphrase>) -> Result<()> {
        let mut header = self.header.clone();
        header.duress = match duress {
            Some(p) => {
                // Either form of `p` opening the profile would make unlocking wipe it.
                let (k, raw) = derive_both_forms(p, &header.salt)?;
                if std::iter::once(&k)
                    .chain(&raw)
                    .any(|k| ct_eq(&k.key_check(), &header.key_check))
                {
                    return Err(StoreError::DuressConflict);
                }
                k.duress_check()
            }
            None => random(),
        };
        header.write(&self.dir)?;
        self.header = header;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// "é" as "e" + a combining acute accent (NFD), and precomposed (NFC).
    const NFD: &str = "cafe\u{301}";
    const NFC: &str = "caf\u{e9}";

    #[test]
    fn profile_keyed_from_a_raw_non_nfc_passphrase_still_unlocks() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().join("profile");
        // What `Profile::create` did before passphrases were normalised.
        let store = Profile::create_keyed_from(&dir, &Passphrase::from(NFD)).expect("create");
        store
            .check_passphrase(&Passphrase::from(NFD))
            .expect("check");
        store.lock().expect("lock");
        let store = Profile::unlock(&dir, &Passphrase::from(NFD))
            .expect("the raw form still opens it")
            .into_store();
        let mut store = store;
        store
            .change_passphrase(&Passphrase::from(NFD), &Passphrase::from(NFD))
            .expect("the raw form is accepted as the old passphrase");
        store.lock().expect("lock");
        // Re-keyed from the NFC form: both forms open it now.
        Profile::unlock(&dir, &Passphrase::from(NFC)).expect("NFC opens after the change");
    }

    #[test]
    fn nfc_form_composes_and_never_outgrows_its_buffer() {
        assert_eq!(Passphrase::from(NFD).nfc().bytes(), NFC.as_bytes());
        assert_eq!(Passphrase::from(NFC).nfc().bytes(), NFC.as_bytes());
        // Devanagari QA decomposes under NFC (a composition exclusion): 3 bytes become 6,
        // within the capacity reserved up front.
        let p = Passphrase::from("\u{958}");
        let n = p.nfc();
        assert_eq!(n.bytes(), "\u{915}\u{93c}".as_bytes());
        assert_eq!(n.0.capacity(), 9, "no reallocation left a copy behind");
    }
}
