//! The store layer's error type.

/// Everything that can go wrong in the store layer.
///
/// Messages never contain passphrases, keys or message content.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The passphrase does not open this profile.
    #[error("wrong passphrase")]
    WrongPassphrase,
    /// There is no profile at the given location (directory or database missing).
    #[error("no profile at this location")]
    NotAProfile,
    /// The database or header file is structurally damaged: a length that is not a whole
    /// number of pages (truncated mid-page), or a header of the wrong size.
    #[error("the profile is corrupt (truncated or malformed)")]
    Corrupt,
    /// The passphrase is right but SQLCipher's per-page authentication or its page-count
    /// check failed: a page was modified or whole pages are missing (tampering or damage).
    #[error("the profile failed its integrity check (tampered or damaged)")]
    Tampered,
    /// The database exists but its salt/header file (`talpa.hdr`) does not.
    #[error("the profile's salt file is missing")]
    MissingSalt,
    /// `create` was asked to make a profile where one (or part of one) already exists.
    #[error("a profile already exists at this location")]
    AlreadyExists,
    /// A duress passphrase must differ from the profile passphrase (and vice versa).
    #[error("the duress passphrase must differ from the profile passphrase")]
    DuressConflict,
    /// The operation is not allowed (e.g. correcting someone else's message).
    #[error("not permitted: {0}")]
    NotPermitted(&'static str),
    /// A uniqueness constraint would be violated.
    #[error("duplicate: {0}")]
    Duplicate(&'static str),
    /// The referenced row does not exist.
    #[error("not found: {0}")]
    NotFound(&'static str),
    /// A stored or supplied value could not be interpreted.
    #[error("invalid value: {0}")]
    Invalid(String),
    /// The database was written by a newer Talpa.
    #[error("schema version {found} is newer than the supported {supported}")]
    SchemaTooNew {
        /// Version found in the database.
        found: i64,
        /// Highest version this build knows.
        supported: i64,
    },
    /// `wal_checkpoint(TRUNCATE)` reported that another reader blocked it: deleted content
    /// may still be in `talpa.db-wal` until the next checkpoint.
    #[error("the write-ahead log could not be emptied into the database")]
    CheckpointBlocked,
    /// The store was closed (its key copies wiped: the profile is locked), but its write-ahead
    /// log could not be folded into the database first (typically a full disk): `talpa.db-wal`
    /// stays on disk, encrypted, with the page versions it holds, until the next unlock folds it.
    #[error(
        "the profile is locked, but its write-ahead log (talpa.db-wal, encrypted) could not be \
         folded into the database ({0}); it stays on disk until the next unlock folds it"
    )]
    LockedWalKept(String),
    /// Argon2id failed (only on impossible parameters or allocation failure).
    #[error("key derivation failed")]
    Kdf,
    /// Another process holds the profile's lock (see [`crate::store::lock`]).
    #[error("this profile is open in another Talpa process")]
    ProfileInUse,
    /// File-system error.
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// SQLite/SQLCipher error on an unlocked store.
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
}

/// Result alias for the store layer.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;
