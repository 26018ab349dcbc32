//! The encrypted SQLCipher profile store: unlock, migrations, messages, retention, wipe.
//!
//! # Profile and key
//! A profile is a directory (mode 0700) holding `talpa.db` (SQLCipher 4, page 4096,
//! HMAC-SHA512) and `talpa.hdr` (Argon2id salt + verifiers, see [`profile`]). The database key
//! is Argon2id(passphrase, salt) with m = 64 MiB, t = 3, p = 4 → 32 bytes, handed to SQLCipher
//! as a raw key (`PRAGMA key = "x'…'"`). Pragmas: `cipher_memory_security = ON` (before the
//! key), `secure_delete = ON`, `temp_store = MEMORY`, `foreign_keys = ON`,
//! `journal_mode = WAL` (and a 32 MiB page cache during expiry runs only), checkpointed with
//! TRUNCATE after every expiry, history clearing, retraction and account removal (so no old
//! page version outlives a deletion in `talpa.db-wal`) and removed at lock; a passphrase
//! change re-keys under a rollback journal, as SQLCipher requires. Passphrases ([`Passphrase`])
//! and keys live only in zeroizing buffers; the store does not keep the key after opening.
//!
//! # Lifecycle
//! - [`ProfileLock::acquire`]`(dir)` — one process per profile (`talpa.lock`, `flock`), taken
//!   by the core before anything else; `ProfileInUse` when another process holds it.
//! - [`Profile::create`]`(dir, &pass) -> Store` — refuses an existing profile.
//! - [`Profile::unlock`]`(dir, &pass) -> Unlocked` — [`Unlocked::Opened`] or, for the duress
//!   passphrase, [`Unlocked::Duress`] (old profile wiped, fresh empty one open). A failed
//!   unlock never modifies a file. Errors: `WrongPassphrase` (header key check fails),
//!   `NotAProfile`, `MissingSalt`, `Corrupt` (truncated/malformed), `Tampered` (key check OK
//!   but SQLCipher's page HMACs fail: `cipher_integrity_check` runs at every unlock).
//! - [`Store::security_report`] reads the pragmas back.
//! - [`Store::lock`] closes; [`Store::change_passphrase`] re-keys (crash-safe);
//!   [`Store::set_duress_passphrase`]; [`Profile::wipe`] / [`Store::wipe`] crypto-erase then
//!   overwrite and remove every profile file, without the passphrase.
//!
//! # Data (all methods on [`Store`]; time arguments are `chrono::DateTime<Utc>`)
//! - Accounts (credentials live only here): `add_account`, `list_accounts`, `account`,
//!   `update_account`, `remove_account`, `set_sasl_plus_seen`, `set_account_retention`;
//!   contacts `upsert_contact`/`list_contacts`/`remove_contact`; bookmarks
//!   `upsert_room`/`list_rooms`/`remove_room`.
//! - Conversations: `upsert_conversation`, `conversation`, `list_conversations`,
//!   `set_conversation_encryption`, `set_conversation_signals`, `set_conversation_retention`,
//!   `effective_retention`, `set_room_destroyed` (a destroyed room's reason and alternate,
//!   erased with the conversation's history).
//! - Messages: `insert_message` / `insert_messages` (dedupe on origin-id and on
//!   (stanza-id, by); [`InsertOutcome::NotStored`] under "don't store"), `history(conv,
//!   before, limit)` (oldest first), `message`, `find_by_origin_id`, `find_by_stanza_id`,
//!   `attachment_data`, `apply_correction`, `apply_retraction` (both check the author),
//!   `mark_delivery` (an own message's receipt or read marker, kept with it).
//! - Retention: [`RetentionPolicy`], `expire(now)`, `clear_history(HistoryScope)`.
//! - Search: `search(SearchScope, &SearchQuery, before, limit, now)` — a local scan of the
//!   decrypted bodies, no index (see [`search`]).
//! - Outbox: `outbox_enqueue`, `outbox_list`, `outbox_remove`.
//! - Settings: `setting`, `set_setting` (keys in [`keys`], Tor settings included).
//! - OMEMO: `omemo_get`/`omemo_set`/`omemo_remove` (blobs per account),
//!   `omemo_set_identity`/`omemo_identities` (trust).
//!
//! The store is synchronous; `Store` is `Send`, so the core owns it on a blocking thread.

mod accounts;
mod attachments;
mod contact_names;
mod conversations;
mod error;
mod kv;
pub mod lock;
mod messages;
pub mod migrations;
mod outbox;
pub mod profile;
mod retention;
pub mod search;
mod wal_check;

use std::path::PathBuf;

pub use accounts::{Account, Contact, NewAccount, RoomBookmark};
pub use conversations::{
    Conversation, ConversationKind, EncryptionChoice, RoomDestroyedNote, SignalOptIns,
};
pub use error::{Result, StoreError};
pub use kv::{OmemoIdentity, TrustLevel, keys};
pub use lock::ProfileLock;
pub use messages::{
    AttachmentInfo, Delivery, Direction, InsertOutcome, MessageEncryption, NewAttachment,
    NewMessage, Retractor, StoredMessage,
};
pub use outbox::OutboxEntry;
pub use profile::{Passphrase, Profile, SecurityReport, Unlocked};
pub use retention::RetentionPolicy;
pub use search::{SearchHit, SearchPage, SearchQuery, SearchQueryError, SearchScope};

macro_rules! id_type {
    ($(#[$m:meta])* $name:ident) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(pub i64);
    };
}
id_type!(
    /// Local id of an account.
    AccountId
);
id_type!(
    /// Local id of a conversation.
    ConversationId
);
id_type!(
    /// Local id of a message.
    MessageId
);
id_type!(
    /// Local id of an attachment.
    AttachmentId
);
id_type!(
    /// Local id of an outbox entry.
    OutboxId
);

/// What `clear_history` deletes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HistoryScope {
    /// One conversation's messages.
    Conversation(ConversationId),
    /// Every message of one account.
    Account(AccountId),
    /// Every message of the profile.
    All,
}

/// An unlocked profile: the open, keyed SQLCipher connection.
pub struct Store {
    conn: rusqlite::Connection,
    dir: PathBuf,
    header: profile::Header,
    /// A WAL checkpoint was asked for inside [`Store::batch`]; it runs after the commit.
    checkpoint_due: bool,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

fn is_unique_violation(e: &rusqlite::Error) -> bool {
    matches!(
        e,
        rusqlite::Error::SqliteFailure(f, _)
            if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                || f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
    )
}

#[cfg(test)]
mod tests {
    fn assert_send<T: Send>() {}

    #[test]
    fn store_is_send() {
        assert_send::<super::Store>();
    }
}
