//! Commands a front end sends to the core, and the replies it gets back.
//!
//! The serde shape *is* the headless protocol (docs/HEADLESS.md): a command is a JSON object
//! whose `cmd` field names the variant in snake_case, with the variant's fields beside it.

use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::core::events::{
    AccountSummary, CircuitSummary, DeviceInfo, StoredMessage, TorStatusInfo,
};
use crate::core::tor_settings::TorSettings;

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
    /// The DNS-over-TLS resolver for this account's SRV lookups, `host:port#tls-name`
    /// (reached through Tor; default Quad9). Unused when `host` is set.
    #[serde(default)]
    pub dot_resolver: Option<String>,
    /// The account's default retention (`dont_store`, `1h`, `1d`, `1w`, `1m`, `1y`, `forever`).
    #[serde(default)]
    pub retention: Option<String>,
}

/// Changes to an existing account (`update_account`). An absent field stays as it is; `null`
/// clears an override (`host`, `port`, `trust_anchor_pem`, `dot_resolver`).
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[allow(clippy::option_option)] // absent (unchanged), `null` (cleared) and a value differ
pub struct AccountChanges {
    /// The account's bare JID (it cannot change: a new address is a new account).
    pub account: String,
    /// A new password.
    #[serde(default)]
    pub password: Option<Secret>,
    /// A new connect-host override, or `null` to look the domain up again.
    #[serde(default, deserialize_with = "present")]
    pub host: Option<Option<String>>,
    /// A new connect-port override, or `null` for the default.
    #[serde(default, deserialize_with = "present")]
    pub port: Option<Option<u16>>,
    /// Direct TLS (XEP-0368) instead of STARTTLS.
    #[serde(default)]
    pub direct_tls: Option<bool>,
    /// A new extra trust anchor or pinned certificate (PEM), or `null` to trust only the
    /// public CAs.
    #[serde(default, deserialize_with = "present")]
    pub trust_anchor_pem: Option<Option<String>>,
    /// A new DNS-over-TLS resolver (`host:port#tls-name`), or `null` for the default.
    #[serde(default, deserialize_with = "present")]
    pub dot_resolver: Option<Option<String>>,
}

/// Tells "absent" (the serde default, `None`) from `null` (`Some(None)`).
#[allow(clippy::option_option)] // absent, `null` and a value are three different requests
fn present<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
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
    /// Whether the profile directory holds a profile (locked or not): the unlock page offers to
    /// create one only when it does not.
    ProfileExists,
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
    /// List an account's stored conversations (1:1 and rooms), oldest first.
    Conversations {
        /// The account's bare JID.
        account: String,
    },
    /// Change an account's password, server override, trust anchor or resolver; the account
    /// reconnects with them (only it). Invalid values are refused and nothing changes.
    UpdateAccount(AccountChanges),
    /// Report an account's connection settings (never its password).
    AccountSettings {
        /// The account's bare JID.
        account: String,
    },
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
    /// Name a contact on this device only (kept in the encrypted store, never in the server
    /// roster), or with no `name` (or a blank one) forget its name. The name is made one
    /// line without control or bidi-formatting characters, at most
    /// `core::contact_names::MAX_CHARS` characters.
    SetContactName {
        /// The account's bare JID.
        account: String,
        /// The contact's bare JID.
        jid: String,
        /// The name; none or blank forgets it.
        #[serde(default)]
        name: Option<String>,
    },
    /// The names given to the account's contacts on this device.
    ContactNames {
        /// The account's bare JID.
        account: String,
    },
    /// Search the account's stored history (all conversations, or the one `with`), on this
    /// device only: never asked of the server.
    Search {
        /// The account's bare JID.
        account: String,
        /// The words to find (every one, case-insensitive, anywhere in the text).
        query: String,
        /// Only this conversation's peer.
        #[serde(default)]
        with: Option<String>,
        /// Only hits older than this local message id (the last hit of the previous page).
        #[serde(default)]
        before: Option<i64>,
        /// At most this many hits (default 50, at most 500).
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
        /// Join even if another own account is in the room (which links the two).
        #[serde(default)]
        force: bool,
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
        /// An optional room password.
        #[serde(default)]
        password: Option<Secret>,
        /// Create even if another own account is in the room (which links the two).
        #[serde(default)]
        force: bool,
    },
    /// Change our nickname in a room.
    SetNick {
        /// The account's bare JID.
        account: String,
        /// The room's bare JID.
        room: String,
        /// The new nickname.
        nick: String,
    },
    /// Set a room's subject.
    SetSubject {
        /// The account's bare JID.
        account: String,
        /// The room's bare JID.
        room: String,
        /// The subject.
        subject: String,
    },
    /// Grant or revoke an affiliation: `member` (grant membership), `none` (revoke), `admin`,
    /// `owner`, `outcast` (ban). Owners and admins only.
    SetAffiliation {
        /// The account's bare JID.
        account: String,
        /// The room's bare JID.
        room: String,
        /// Whose affiliation.
        jid: String,
        /// The new affiliation.
        affiliation: String,
    },
    /// Kick an occupant out of a room (moderators only).
    Kick {
        /// The account's bare JID.
        account: String,
        /// The room's bare JID.
        room: String,
        /// The occupant's nickname.
        nick: String,
        /// Why (shown to the room).
        #[serde(default)]
        reason: Option<String>,
    },
    /// Ban someone from a room (affiliation outcast; owners and admins only).
    Ban {
        /// The account's bare JID.
        account: String,
        /// The room's bare JID.
        room: String,
        /// Whom to ban.
        jid: String,
    },
    /// Accept a received invitation (`room_invite`): join with the password it carried.
    AcceptInvite {
        /// The account's bare JID.
        account: String,
        /// The room's bare JID.
        room: String,
        /// The nickname to use.
        nick: String,
        /// Join even if another own account is in the room.
        #[serde(default)]
        force: bool,
    },
    /// Decline a received invitation (a mediated one is declined through the room).
    DeclineInvite {
        /// The account's bare JID.
        account: String,
        /// The room's bare JID.
        room: String,
    },
    /// Who belongs to a room the account is in: the recipients an encrypted message goes to
    /// (members from the affiliation lists and occupants' real JIDs), affiliations, occupants.
    RoomMembers {
        /// The account's bare JID.
        account: String,
        /// The room's bare JID.
        room: String,
    },
    /// Self-ping every joined room now (XEP-0410) and rejoin those that forgot us (also done
    /// every 15 minutes).
    CheckRooms {
        /// The account's bare JID.
        account: String,
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
    /// Send a direct invitation (XEP-0249) to a room the account is in: a message from the
    /// account to the invitee, with the room's password if it has one (owners and admins grant
    /// membership first). Inviting another account of this profile is refused unless `force`:
    /// it would link the two accounts.
    DirectInvite {
        /// The account's bare JID.
        account: String,
        /// The room's bare JID.
        room: String,
        /// The invitee's bare JID.
        jid: String,
        /// A short text for the invitee.
        #[serde(default)]
        reason: Option<String>,
        /// Invite even another own account.
        #[serde(default)]
        force: bool,
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
    /// Refuse a contact's request to see our presence (an `unsubscribed` answer).
    DenyContact {
        /// The account's bare JID.
        account: String,
        /// The contact's bare JID.
        jid: String,
    },
    /// Block a JID (XEP-0191): the server drops its messages and presence, and so does Talpa.
    Block {
        /// The account's bare JID.
        account: String,
        /// The bare JID (or domain) to block.
        jid: String,
    },
    /// Unblock a JID (XEP-0191).
    Unblock {
        /// The account's bare JID.
        account: String,
        /// The bare JID (or domain) to unblock.
        jid: String,
    },
    /// Read the server's archiving preference (XEP-0441).
    Archiving {
        /// The account's bare JID.
        account: String,
    },
    /// Set the server's archiving preference (XEP-0441): `always`, `roster` or `never`; the
    /// reply carries what the server reports afterwards.
    SetArchiving {
        /// The account's bare JID.
        account: String,
        /// `always`, `roster` or `never`.
        default: String,
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
    /// OMEMO devices of a contact (or, without `jid`, of our own account) with fingerprints
    /// and trust; fetched fresh when the account is online.
    Devices {
        /// The account.
        account: String,
        /// The contact; our own devices when absent.
        #[serde(default)]
        jid: Option<String>,
    },
    /// Looks again, now, for the OMEMO keys of `jids` (default: the conversation's peer, or in
    /// a room every known member): forgets any cached "no device list" answer, fetches their
    /// device lists and bundles, then retries the account's held messages, which go out
    /// encrypted if keys appeared (never in plaintext). Needs the account online.
    CheckKeys {
        /// The account.
        account: String,
        /// The conversation (contact or room).
        with: String,
        /// Whose keys to look for; empty: the conversation's peer or the room's members.
        #[serde(default)]
        jids: Vec<String>,
    },
    /// The user's trust decision for one device: `verified`, `untrusted` or `blind`.
    Trust {
        /// The account.
        account: String,
        /// The device's owner.
        jid: String,
        /// The device id.
        device: u32,
        /// `verified`, `untrusted` or `blind`.
        level: String,
        /// When given, must equal the fingerprint on record (what the user compared).
        #[serde(default)]
        fingerprint: Option<String>,
    },
    /// Turns end-to-end encryption of one conversation on (default) or off. Off sends
    /// plaintext (inside TLS and Tor only) and is answered with a warning.
    SetEncryption {
        /// The account.
        account: String,
        /// The contact or room.
        conversation: String,
        /// On or off.
        enabled: bool,
        /// Pin a version while on: `omemo2` or `omemo` (legacy); automatic when absent.
        #[serde(default)]
        version: Option<String>,
    },
    /// Who may fetch the account's OMEMO keys: `open` (default; needed for private rooms with
    /// non-contacts) or `contacts` (presence subscribers only). Republished at once when online.
    SetKeyAccess {
        /// The account.
        account: String,
        /// `open` or `contacts`.
        access: String,
    },
    /// The account's OMEMO trust policy and key access, as `set_trust_policy` and
    /// `set_key_access` left them.
    OmemoSettings {
        /// The account.
        account: String,
    },
    /// Strict mode: encrypt only to verified devices (off: blind trust before verification).
    SetTrustPolicy {
        /// The account.
        account: String,
        /// Strict or not.
        strict: bool,
    },
    /// Report Tor's current state (also pushed as `tor_status` events).
    TorStatus,
    /// The Tor settings kept in the profile (mode, system SOCKS address, bridges).
    TorSettings,
    /// Check, store and apply new Tor settings (accounts reconnect when the client changes).
    SetTorSettings(TorSettings),
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
    /// Share delivery receipts, read markers and typing notifications with one 1:1
    /// conversation (`with`), or set the account default (no `with`; off unless changed, and
    /// for roster contacts only). Rooms are refused: they never share activity. See
    /// docs/HEADLESS.md "Activity sharing".
    SetConversationPrivacy {
        /// The account's bare JID.
        account: String,
        /// The conversation's peer; absent for the account default.
        #[serde(default)]
        with: Option<String>,
        /// Share (true) or not (false, the default).
        share_activity: bool,
    },
    /// Whether a conversation shares activity now, and the account default (without `with`:
    /// `share_activity` is the account default).
    ConversationPrivacy {
        /// The account's bare JID.
        account: String,
        /// The conversation's peer; absent for the account default.
        #[serde(default)]
        with: Option<String>,
    },
    /// Tell a conversation's partner our chat state (`active`, `composing`, `paused`,
    /// `inactive`, `gone`) — only if the conversation shares activity, and only when it
    /// differs from the last one sent; otherwise nothing is sent.
    ChatState {
        /// The account's bare JID.
        account: String,
        /// The conversation's peer.
        with: String,
        /// The state.
        state: String,
    },
    /// Tell a conversation's partner that their messages up to `message` (the id of their
    /// message), or without it up to the newest markable message they sent, were displayed —
    /// only if the conversation shares activity, and once per message.
    MarkDisplayed {
        /// The account's bare JID.
        account: String,
        /// The conversation's peer.
        with: String,
        /// The peer's message id; absent for their newest markable message.
        #[serde(default)]
        message: Option<String>,
    },
    /// Share a file (XEP-0363 upload through Tor; encrypted with XEP-0454 unless the
    /// conversation is plaintext). Answered with the transfer's id; `transfer_done` names the
    /// message that shares it.
    SendFile {
        /// The account's bare JID.
        account: String,
        /// The contact or room (bare JID).
        to: String,
        /// The file to read (bounded by the server's limit and 100 MiB).
        path: String,
    },
    /// Fetch the file a message shares (through Tor, the account's isolation) and keep it in
    /// the encrypted store with the message. Never done automatically.
    DownloadAttachment {
        /// The message's local id.
        message: i64,
    },
    /// Write a downloaded (or sent) file to a path the user chose.
    SaveAttachment {
        /// The message's local id.
        message: i64,
        /// Where to write (created or replaced, owner-only permissions).
        path: String,
    },
    /// Destroy the profile: key material first, then every file. Works while locked.
    Wipe,
    /// Stop the core (disconnects, locks) and end the front end.
    Quit,
}

/// The longest free text (a message body, a subject…) a command may carry, in UTF-8 bytes.
/// Receivers drop larger stanzas: Talpa itself above 256 KiB (`xmpp::origin::MAX_STANZA_BYTES`),
/// Prosody's default c2s limit is the same; OMEMO's base64 and envelope grow 64 KiB of text to
/// about 90 KiB, well within.
pub const MAX_TEXT_BYTES: usize = 64 * 1024;

impl Command {
    /// The command's free text that goes into stanzas, named for an error message: message
    /// bodies, a subject, nicknames, reasons and a room password. (JIDs are checked when parsed.)
    pub fn stanza_texts(&self) -> Vec<(&'static str, &str)> {
        match self {
            Command::Send { body, .. } | Command::Correct { body, .. } => vec![("message", body)],
            Command::SetSubject { subject, .. } => vec![("subject", subject)],
            Command::MarkDisplayed {
                message: Some(message),
                ..
            } => vec![("message id", message)],
            Command::JoinRoom {
                nick, password: p, ..
            }
            | Command::CreateRoom {
                nick, password: p, ..
            } => {
                let mut texts = vec![("nickname", nick.as_str())];
                texts.extend(p.as_ref().map(|p| ("room password", p.expose())));
                texts
            }
            Command::SetNick { nick, .. } | Command::AcceptInvite { nick, .. } => {
                vec![("nickname", nick)]
            }
            Command::Kick { nick, reason, .. } => {
                let mut texts = vec![("nickname", nick.as_str())];
                texts.extend(reason.as_deref().map(|r| ("reason", r)));
                texts
            }
            Command::DirectInvite { reason, .. } => reason
                .as_deref()
                .map(|r| ("reason", r))
                .into_iter()
                .collect(),
            _ => Vec::new(),
        }
    }

    /// The command's name as used on the wire (for logs that must not contain arguments).
    pub fn name(&self) -> &'static str {
        match self {
            Command::CreateProfile { .. } => "create_profile",
            Command::ProfileExists => "profile_exists",
            Command::Unlock { .. } => "unlock",
            Command::Lock => "lock",
            Command::ChangePassphrase { .. } => "change_passphrase",
            Command::SetDuressPassphrase { .. } => "set_duress_passphrase",
            Command::AddAccount(_) => "add_account",
            Command::RemoveAccount { .. } => "remove_account",
            Command::SetAccountEnabled { .. } => "set_account_enabled",
            Command::ListAccounts => "list_accounts",
            Command::Conversations { .. } => "conversations",
            Command::UpdateAccount(_) => "update_account",
            Command::AccountSettings { .. } => "account_settings",
            Command::Send { .. } => "send",
            Command::History { .. } => "history",
            Command::Search { .. } => "search",
            Command::SetContactName { .. } => "set_contact_name",
            Command::ContactNames { .. } => "contact_names",
            Command::SetRetention { .. } => "set_retention",
            Command::ClearHistory { .. } => "clear_history",
            Command::JoinRoom { .. } => "join_room",
            Command::CreateRoom { .. } => "create_room",
            Command::LeaveRoom { .. } => "leave_room",
            Command::Invite { .. } => "invite",
            Command::DirectInvite { .. } => "direct_invite",
            Command::SetNick { .. } => "set_nick",
            Command::SetSubject { .. } => "set_subject",
            Command::SetAffiliation { .. } => "set_affiliation",
            Command::Kick { .. } => "kick",
            Command::Ban { .. } => "ban",
            Command::AcceptInvite { .. } => "accept_invite",
            Command::DeclineInvite { .. } => "decline_invite",
            Command::CheckRooms { .. } => "check_rooms",
            Command::RoomMembers { .. } => "room_members",
            Command::AddContact { .. } => "add_contact",
            Command::RemoveContact { .. } => "remove_contact",
            Command::ApproveContact { .. } => "approve_contact",
            Command::DenyContact { .. } => "deny_contact",
            Command::Block { .. } => "block",
            Command::Unblock { .. } => "unblock",
            Command::Archiving { .. } => "archiving",
            Command::SetArchiving { .. } => "set_archiving",
            Command::Correct { .. } => "correct",
            Command::Retract { .. } => "retract",
            Command::Devices { .. } => "devices",
            Command::CheckKeys { .. } => "check_keys",
            Command::Trust { .. } => "trust",
            Command::SetEncryption { .. } => "set_encryption",
            Command::OmemoSettings { .. } => "omemo_settings",
            Command::SetTrustPolicy { .. } => "set_trust_policy",
            Command::SetKeyAccess { .. } => "set_key_access",
            Command::TorStatus => "tor_status",
            Command::TorSettings => "tor_settings",
            Command::SetTorSettings(_) => "set_tor_settings",
            Command::Circuit { .. } => "circuit",
            Command::SetIdleLock { .. } => "set_idle_lock",
            Command::SetPreference { .. } => "set_preference",
            Command::Preferences => "preferences",
            Command::ConversationRetention { .. } => "conversation_retention",
            Command::SetConversationPrivacy { .. } => "set_conversation_privacy",
            Command::ConversationPrivacy { .. } => "conversation_privacy",
            Command::ChatState { .. } => "chat_state",
            Command::MarkDisplayed { .. } => "mark_displayed",
            Command::SendFile { .. } => "send_file",
            Command::DownloadAttachment { .. } => "download_attachment",
            Command::SaveAttachment { .. } => "save_attachment",
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
    /// Whether a profile exists (`profile_exists`).
    ProfileExists {
        /// True when the profile directory holds a profile, locked or open.
        exists: bool,
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
    /// A file transfer started; its events carry this id.
    Transfer {
        /// The transfer's id.
        transfer: String,
    },
    /// Stored messages, oldest first.
    History {
        /// The messages.
        messages: Vec<StoredMessage>,
    },
    /// The names given to an account's contacts on this device, by contact bare JID.
    ContactNames {
        /// Name by contact.
        names: std::collections::BTreeMap<String, String>,
        /// Names other clients wrote into the server roster (cleaned), while online.
        roster_names: std::collections::BTreeMap<String, String>,
    },
    /// Stored messages found by `search`, newest first.
    SearchResults {
        /// The hits.
        hits: Vec<crate::core::search::SearchHit>,
        /// Whether older hits exist (ask again with `before` = the last hit's id).
        more: bool,
    },
    /// How many messages were erased.
    Erased {
        /// Count of erased messages.
        erased: u64,
    },
    /// The server's archiving preference (XEP-0441), as the server reports it.
    Archiving {
        /// `always`, `roster` or `never`.
        archiving: String,
    },
    /// Tor's state.
    Tor(TorStatusInfo),
    /// The Tor settings.
    TorSettings(TorSettings),
    /// Who belongs to a room.
    RoomMembers {
        /// Everyone an encrypted message to the room is for (bare JIDs, ourselves excluded).
        recipients: Vec<String>,
        /// `[jid, affiliation]` pairs known from the affiliation lists and presences.
        affiliations: Vec<(String, String)>,
        /// Everyone present.
        occupants: Vec<crate::core::events::Occupant>,
    },
    /// An account's connection settings (`account_settings`; never the password).
    AccountSettings {
        /// The account's bare JID.
        account: String,
        /// Whether it connects.
        enabled: bool,
        /// The connect-host override.
        host: Option<String>,
        /// The connect-port override.
        port: Option<u16>,
        /// Direct TLS (XEP-0368) instead of STARTTLS.
        direct_tls: bool,
        /// The extra trust anchor or pinned certificate (PEM).
        trust_anchor_pem: Option<String>,
        /// The DNS-over-TLS resolver, when not the default.
        dot_resolver: Option<String>,
        /// Contacts kept only in the encrypted store.
        local_only_contacts: bool,
        /// The default retention of its conversations.
        retention: String,
    },
    /// An account's OMEMO trust policy and key access (`omemo_settings`).
    OmemoSettings {
        /// Strict: encrypt only to verified devices (else blind trust before verification).
        strict: bool,
        /// Who may fetch the keys: `open` or `contacts`.
        key_access: String,
    },
    /// OMEMO devices (`devices`).
    Devices {
        /// The devices.
        devices: Vec<DeviceInfo>,
    },
    /// What `check_keys` found: who has published OMEMO keys, who still has none.
    KeysChecked {
        /// Those with at least one device.
        with_keys: Vec<String>,
        /// Those without any.
        without_keys: Vec<String>,
    },
    /// Done, with something the user must know (e.g. encryption turned off).
    Warning {
        /// What to tell the user.
        warning: String,
    },
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
    /// An account's stored conversations, oldest first.
    Conversations {
        /// The conversations.
        conversations: Vec<ConversationSummary>,
    },
    /// A conversation's retention override.
    ConversationRetention {
        /// The override policy, or none when the account default applies.
        retention_override: Option<String>,
        /// The policy in force.
        effective: String,
    },
    /// Whether a conversation shares activity (`conversation_privacy`).
    ConversationPrivacy {
        /// Receipts, read markers and typing are shared with this conversation now.
        share_activity: bool,
        /// The account default (for roster contacts without a choice of their own).
        account_default: bool,
    },
}

/// One stored conversation of an account, as `Command::Conversations` lists it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ConversationSummary {
    /// The peer's bare JID (a contact or a room).
    pub with: String,
    /// Whether the peer is a room.
    pub is_room: bool,
    /// For a room its owner destroyed (until it is joined again): what it told.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub destroyed: Option<RoomDestroyedSummary>,
}

/// What a destroyed room told, as [`ConversationSummary`] lists it (the same words as the
/// `RoomLeft` event's `detail` and `alternate`).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct RoomDestroyedSummary {
    /// The owner's reason.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The room the owner suggests instead (a bare JID).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alternate: Option<String>,
    /// Our nickname in the destroyed room (to join the alternate with).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nick: Option<String>,
}
