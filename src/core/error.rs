//! The core's error type: what a front end may be told when a command fails.

use serde::Serialize;

/// Why a command failed. Front ends turn these into user text at their edge; the `kind` string
/// (see [`CoreError::kind`]) is stable and part of the headless contract.
#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    /// The command needs an unlocked profile and none is unlocked.
    #[error("the profile is locked")]
    Locked,
    /// No profile exists in the profile directory.
    #[error("no profile exists in this directory")]
    NoProfile,
    /// A profile already exists where one was to be created.
    #[error("a profile already exists in this directory")]
    ProfileExists,
    /// The passphrase does not open the profile.
    #[error("wrong passphrase")]
    WrongPassphrase,
    /// The profile's files are damaged or were tampered with.
    #[error("the profile is damaged: {0}")]
    Corrupt(String),
    /// A command argument is malformed (bad JID, unknown option, empty field …).
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// The named account, conversation or room does not exist.
    #[error("not found: {0}")]
    NotFound(String),
    /// The encrypted store failed.
    #[error("storage error: {0}")]
    Store(String),
    /// Tor is not usable (never followed by a direct connection).
    #[error("tor: {0}")]
    Tor(String),
    /// An XMPP operation failed.
    #[error("xmpp: {0}")]
    Xmpp(String),
    /// Joining would put two of the user's own accounts in the same room, which lets the
    /// server and the room's members link them; repeat with `force` to join anyway.
    #[error("{0}")]
    WouldLinkAccounts(String),
    /// The core has stopped and can take no more commands.
    #[error("the core has stopped")]
    Stopped,
    /// OMEMO state or encryption failed.
    #[error("omemo: {0}")]
    Omemo(String),
    /// Another Talpa process has this profile open (it holds the profile lock); this core
    /// touches nothing in the profile.
    #[error("this profile is open in another Talpa process")]
    ProfileInUse,

    /// The profile is locked (keys wiped), but its write-ahead log could not be folded into the
    /// database and stays on disk, encrypted, until the next unlock (a full disk, typically).
    #[error("{0}")]
    WalKept(String),
    /// A file upload or download failed (no upload service, file too big, refused slot or
    /// URL, HTTP error, a download that does not decrypt).
    #[error("file transfer: {0}")]
    Transfer(String),
}

impl CoreError {
    /// The stable machine-readable kind of this error, as the headless protocol reports it.
    pub fn kind(&self) -> &'static str {
        match self {
            CoreError::Locked => "locked",
            CoreError::NoProfile => "no_profile",
            CoreError::ProfileExists => "profile_exists",
            CoreError::WrongPassphrase => "wrong_passphrase",
            CoreError::Corrupt(_) => "corrupt",
            CoreError::InvalidInput(_) => "invalid_input",
            CoreError::NotFound(_) => "not_found",
            CoreError::Store(_) => "store",
            CoreError::Tor(_) => "tor",
            CoreError::Xmpp(_) => "xmpp",
            CoreError::WouldLinkAccounts(_) => "would_link_accounts",
            CoreError::Stopped => "stopped",
            CoreError::Omemo(_) => "omemo",
            CoreError::ProfileInUse => "profile_in_use",
            CoreError::WalKept(_) => "wal_kept",
            CoreError::Transfer(_) => "transfer",
        }
    }
}

/// The serialisable form of a [`CoreError`]: `{"kind": "...", "message": "..."}`.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ErrorBody {
    /// Stable kind (see [`CoreError::kind`]).
    pub kind: String,
    /// Human-readable English text.
    pub message: String,
}

impl From<&CoreError> for ErrorBody {
    fn from(e: &CoreError) -> Self {
        ErrorBody {
            kind: e.kind().to_owned(),
            message: e.to_string(),
        }
    }
}

impl From<crate::store::StoreError> for CoreError {
    fn from(e: crate::store::StoreError) -> Self {
        use crate::store::StoreError as S;
        match e {
            S::WrongPassphrase => CoreError::WrongPassphrase,
            S::NotAProfile => CoreError::NoProfile,
            S::AlreadyExists => CoreError::ProfileExists,
            S::Corrupt | S::Tampered | S::MissingSalt | S::SchemaTooNew { .. } => {
                CoreError::Corrupt(e.to_string())
            }
            S::DuressConflict | S::Invalid(_) | S::NotPermitted(_) | S::Duplicate(_) => {
                CoreError::InvalidInput(e.to_string())
            }
            S::ProfileInUse => CoreError::ProfileInUse,
            S::LockedWalKept(_) => CoreError::WalKept(e.to_string()),
            S::NotFound(what) => CoreError::NotFound(what.to_owned()),
            S::Kdf | S::Io(_) | S::Sqlite(_) | S::CheckpointBlocked => {
                CoreError::Store(e.to_string())
            }
        }
    }
}
