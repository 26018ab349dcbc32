//! Commands a front end sends to the core, and the replies it gets back.
//!
//! The serde shape *is* the headless protocol (docs/HEADLESS.md): a command is a JSON object
//! whose `cmd` field names the variant in snake_case, with the variant's fields beside it.

use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::core::events::{AccountSummary, CircuitSummary, StoredMessage, TorStatusInfo};

/// A secret typed by the user (a passphrase or an account password). Zeroized on drop, never
/// printed by `Debug`, never serialised back out.
#[derive(Clone, Default, Deserialize, Zeroize, ZeroizeOnDrop, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret string.
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }
    /// The secret's text; callers must not copy it into unzeroized buffers that outlive them.
    pub fn expose(&self) -> &str {
        &self.0
    }
    /// Whether the secret is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// Options given when an account is added. `account` ids are the account's bare JID.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct NewAccount {
    /// The account's bare JID (`name@server`).
    pub jid: String,
    /// The account's password, kept only inside the encrypted store.
    pub password: Secret,
    /// Connect to this host instead of looking up the JID's domain (an IP, a name or a .onion).
    #[serde(default)]
    pub host: Option<String>,
    /// Connect to this port instead of the default.
    #[serde(default)]
    pub port: Option<u16>,
    /// Use direct TLS (XEP-0368) instead of STARTTLS on the given port.
    #[serde(default)]
    pub direct_tls: bool,
    /// An extra trust anchor (PEM CA certificate) or pinned certificate for this account only,
    /// for .onion and self-signed servers.
    #[serde(default)]
    pub trust_anchor_pem: Option<String>,
    /// Keep contacts only in the encrypted store, never in the server roster.
    #[serde(default)]
    pub local_only_contacts: bool,
    /// The account's default retention (`dont_store`, `1h`, `1d`, `1w`, `1m`, `1y`, `forever`).
    #[serde(default)]
    pub retention: Option<String>,
}

/// Everything a front end can ask of the core.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "cmd", rename_all = "snake_case")]
pub enum Command {
    /// Create a new encrypted profile in the profile directory and unlock it.
    CreateProfile {
        /// The passphrase the profile key is derived from.
        passphrase: Secret,
    },
    /// Unlock the existing profile.
    Unlock {
        /// The profile passphrase (or the duress passphrase, which wipes).
        passphrase: Secret,
    },
    /// Lock the profile: disconnect, close the database, forget the key.
    Lock,
    /// Change the profile passphrase (re-keys the database).
    ChangePassphrase {
        /// The current passphrase.
        old: Secret,
        /// The new passphrase.
        new: Secret,
    },
    /// Set (or clear, with `null`) the duress passphrase that wipes the profile when entered.
    SetDuressPassphrase {
        /// The duress passphrase, or none to remove it.
        passphrase: Option<Secret>,
    },
    /// Add an account.
    AddAccount(NewAccount),
    /// Remove an account and all of its data.
    RemoveAccount {
        /// The account's bare JID.
        account: String,
    },
    /// Enable (connect) or disable (disconnect) an account.
    SetAccountEnabled {
        /// The account's bare JID.
        account: String,
        /// Whether the account should be connected.
        enabled: bool,
    },
    /// List the profile's accounts.
    ListAccounts,
    /// Send a 1:1 chat message (queued in the encrypted outbox first).
    Send {
        /// The sending account's bare JID.
        account: String,
        /// The recipient's bare JID.
        to: String,
        /// The message text.
        body: String,
    },
    /// Read stored history of one conversation, newest last.
    History {
        /// The account's bare JID.
        account: String,
        /// The peer's bare JID (contact or room).
        with: String,
        /// Only messages older than this local message id.
        #[serde(default)]
        before: Option<i64>,
        /// At most this many messages (default 50).
        #[serde(default)]
        limit: Option<u32>,
    },
    /// Set the retention of an account (no `with`) or of one conversation.
    SetRetention {
        /// The account's bare JID.
        account: String,
        /// The conversation's peer; absent for the account default.
        #[serde(default)]
        with: Option<String>,
        /// The policy (`dont_store`, `1h`, `1d`, `1w`, `1m`, `1y`, `forever`).
        policy: String,
    },
    /// Erase stored history: of one conversation, of one account, or everything.
    ClearHistory {
        /// The account; absent for every account.
        #[serde(default)]
        account: Option<String>,
        /// The conversation; absent for the whole account.
        #[serde(default)]
        with: Option<String>,
    },
    /// Join a group chat (and remember it, with autojoin, in the encrypted store).
    JoinRoom {
        /// The account's bare JID.
        account: String,
        /// The room's bare JID.
        room: String,
        /// The nickname to use in the room.
        nick: String,
        /// The room password, if it has one.
        #[serde(default)]
        password: Option<Secret>,
    },
    /// Create a private room (members-only, non-anonymous, persistent, hidden, no public
    /// logging) and join it as its owner.
    CreateRoom {
        /// The account's bare JID.
        account: String,
        /// The new room's bare JID.
        room: String,
        /// The nickname to use in the room.
        nick: String,
    },
    /// Leave a group chat and stop joining it automatically.
    LeaveRoom {
        /// The account's bare JID.
        account: String,
        /// The room's bare JID.
        room: String,
    },
    /// Invite someone to a room (mediated invitation through the room).
    Invite {
        /// The account's bare JID.
        account: String,
        /// The room's bare JID.
        room: String,
        /// The invitee's bare JID.
        jid: String,
    },
    /// Add a contact to the server roster and ask to see their presence.
    AddContact {
        /// The account's bare JID.
        account: String,
        /// The contact's bare JID.
        jid: String,
    },
    /// Remove a contact from the server roster.
    RemoveContact {
        /// The account's bare JID.
        account: String,
        /// The contact's bare JID.
        jid: String,
    },
    /// Let a contact who asked see our presence.
    ApproveContact {
        /// The account's bare JID.
        account: String,
        /// The contact's bare JID.
        jid: String,
    },
    /// Correct one of our own messages (XEP-0308); `message` is the origin-id `send` returned.
    Correct {
        /// The account's bare JID.
        account: String,
        /// The conversation's peer.
        with: String,
        /// The origin-id of the message to correct.
        message: String,
        /// The new text.
        body: String,
    },
    /// Retract one of our own messages (XEP-0424); `message` is the origin-id `send` returned.
    Retract {
        /// The account's bare JID.
        account: String,
        /// The conversation's peer.
        with: String,
        /// The origin-id of the message to retract.
        message: String,
    },
    /// Report Tor's current state (also pushed as `tor_status` events).
    TorStatus,
    /// Report the Tor circuit an account's connection runs on (none before it connected).
    Circuit {
        /// The account's bare JID.
        account: String,
    },
    /// Lock the profile after this many idle minutes (kept in the encrypted store).
    SetIdleLock {
        /// Minutes without a command before the profile locks (1–1440).
        minutes: u32,
    },
    /// Set (or with `null` remove) a front-end preference. Keys start with `ui.`; they are kept
    /// in the encrypted store, never in plaintext configuration.
    SetPreference {
        /// The preference's key, e.g. `ui.notify.show_sender`.
        key: String,
        /// Its value, or none to remove it.
        #[serde(default)]
        value: Option<String>,
    },
    /// Report the stored preferences: the `ui.*` keys and `lock.idle_minutes`.
    Preferences,
    /// Report one conversation's retention override (none: the account default applies).
    ConversationRetention {
        /// The account's bare JID.
        account: String,
        /// The conversation's peer.
        with: String,
    },
    /// Destroy the profile: key material first, then every file. Works while locked.
    Wipe,
    /// Stop the core (disconnects, locks) and end the front end.
    Quit,
}

impl Command {
    /// The command's name as used on the wire (for logs that must not contain arguments).
    pub fn name(&self) -> &'static str {
        match self {
            Command::CreateProfile { .. } => "create_profile",
            Command::Unlock { .. } => "unlock",
            Command::Lock => "lock",
            Command::ChangePassphrase { .. } => "change_passphrase",
            Command::SetDuressPassphrase { .. } => "set_duress_passphrase",
            Command::AddAccount(_) => "add_account",
            Command::RemoveAccount { .. } => "remove_account",
            Command::SetAccountEnabled { .. } => "set_account_enabled",
            Command::ListAccounts => "list_accounts",
            Command::Send { .. } => "send",
            Command::History { .. } => "history",
            Command::SetRetention { .. } => "set_retention",
            Command::ClearHistory { .. } => "clear_history",
            Command::JoinRoom { .. } => "join_room",
            Command::CreateRoom { .. } => "create_room",
            Command::LeaveRoom { .. } => "leave_room",
            Command::Invite { .. } => "invite",
            Command::AddContact { .. } => "add_contact",
            Command::RemoveContact { .. } => "remove_contact",
            Command::ApproveContact { .. } => "approve_contact",
            Command::Correct { .. } => "correct",
            Command::Retract { .. } => "retract",
            Command::TorStatus => "tor_status",
            Command::Circuit { .. } => "circuit",
            Command::SetIdleLock { .. } => "set_idle_lock",
            Command::SetPreference { .. } => "set_preference",
            Command::Preferences => "preferences",
            Command::ConversationRetention { .. } => "conversation_retention",
            Command::Wipe => "wipe",
            Command::Quit => "quit",
        }
    }
}

/// A successful command's answer.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(untagged)]
pub enum Reply {
    /// Nothing more to say than "done".
    Done {},
    /// The profile was unlocked; `duress` is never reported (a duress unlock looks like a fresh
    /// profile by design).
    Unlocked {
        /// The accounts of the profile.
        accounts: Vec<AccountSummary>,
    },
    /// The account list.
    Accounts {
        /// The accounts of the profile.
        accounts: Vec<AccountSummary>,
    },
    /// A message was queued in the outbox; `origin_id` identifies it from now on.
    Queued {
        /// The XEP-0359 origin-id given to the message.
        origin_id: String,
    },
    /// Stored messages, oldest first.
    History {
        /// The messages.
        messages: Vec<StoredMessage>,
    },
    /// How many messages were erased.
    Erased {
        /// Count of erased messages.
        erased: u64,
    },
    /// Tor's state.
    Tor(TorStatusInfo),
    /// An account's circuit.
    Circuit {
        /// The circuit, or none while the account has no open stream.
        circuit: Option<CircuitSummary>,
    },
    /// Stored preferences by key.
    Preferences {
        /// Key → value.
        preferences: std::collections::BTreeMap<String, String>,
    },
    /// A conversation's retention override.
    ConversationRetention {
        /// The override policy, or none when the account default applies.
        retention_override: Option<String>,
        /// The policy in force.
        effective: String,
    },
}
