//! Events the core pushes to every front end.

/// Why a server did not answer through Tor (see [`Event::AccountState`]).
pub use crate::tor::Unreachable;
use serde::Serialize;

/// Why a queued message is held rather than sent (the `cause` of `message_held`).
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum HeldCause {
    /// Nobody in the conversation has usable OMEMO keys.
    NoKeys,
    /// No member of the room is known yet (not joined).
    NoRoomMembers,
    /// A private message to a room occupant, which cannot be end-to-end encrypted.
    OccupantMessage,
    /// Encrypting failed.
    EncryptionFailed,
}

impl HeldCause {
    /// Its name, as serialized and stored.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NoKeys => "no_keys",
            Self::NoRoomMembers => "no_room_members",
            Self::OccupantMessage => "occupant_message",
            Self::EncryptionFailed => "encryption_failed",
        }
    }

    /// The cause named `name` (as [`Self::as_str`] wrote it).
    pub fn parse(name: &str) -> Option<Self> {
        [
            Self::NoKeys,
            Self::NoRoomMembers,
            Self::OccupantMessage,
            Self::EncryptionFailed,
        ]
        .into_iter()
        .find(|c| c.as_str() == name)
    }
}

/// What Tor is doing, as shown in the header bar and the headless `tor_status` event.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct TorStatusInfo {
    /// `starting`, `bootstrapping`, `ready`, `blocked` or `failed`.
    pub state: String,
    /// Bootstrap progress, 0–100.
    pub percent: u8,
    /// Human-readable description.
    pub text: String,
}

/// One relay of a circuit, as front ends show it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct RelaySummary {
    /// RSA identity fingerprint (40 upper-case hex digits), when known.
    pub rsa_identity: Option<String>,
    /// The relay's ORPort addresses (`ip:port`).
    pub addrs: Vec<String>,
}

/// The Tor circuit an account's connection runs on: guard first, exit last.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct CircuitSummary {
    /// Arti's process-local circuit id (tells circuits apart; means nothing outside).
    pub id: String,
    /// The relays in path order.
    pub hops: Vec<RelaySummary>,
}

/// One account as listed to front ends (never includes the password).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct AccountSummary {
    /// The account's bare JID (also its id).
    pub jid: String,
    /// Whether the account is enabled.
    pub enabled: bool,
    /// Current connection state (see [`Event::AccountState`]).
    pub state: String,
    /// The account's default retention policy.
    pub retention: String,
}

/// A stored (or in-memory, for "don't store") message as shown to front ends.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct StoredMessage {
    /// Local id, unique within the profile.
    pub id: i64,
    /// The account's bare JID.
    pub account: String,
    /// The conversation's peer (contact bare JID or room JID).
    pub with: String,
    /// `in` or `out`.
    pub direction: String,
    /// The sender (bare JID, or the occupant nick in a room).
    pub from: String,
    /// The text.
    pub body: String,
    /// Unix time in milliseconds (server time when known).
    pub timestamp_ms: i64,
    /// `omemo2`, `omemo` (legacy) or `none`.
    pub encryption: String,
    /// Whether the message was corrected.
    pub corrected: bool,
    /// Whether the message was retracted.
    pub retracted: bool,
    /// The XEP-0359 origin-id of an outgoing message (what `correct` and `retract` take);
    /// absent for incoming and memory-only messages.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub origin_id: Option<String>,
    /// What the core knows about who cannot read an outgoing message (`held`,
    /// `not_readable_by`), kept with it in the store.
    #[serde(flatten)]
    pub notes: MessageNotes,
}

/// A file shared by a message (`core::files`).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct FileAttachment {
    /// The name to show (from the URL, cleaned; or the sender's own file name).
    pub name: String,
    /// Its size in bytes, once kept.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// Its type, once kept (guessed from the name).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mime: Option<String>,
    /// Whether it is end-to-end encrypted (an `aesgcm://` link; `false` for a plaintext link,
    /// which has no key and which the server could read).
    pub encrypted: bool,
    /// Whether its bytes are in the store (`save_attachment` works).
    pub downloaded: bool,
}

/// Why an outgoing message is not (yet) readable by everybody in its conversation: kept with
/// the message (in the store, or in memory for "don't store"), so it outlives the
/// `message_held` and `keys_missing` events.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct MessageNotes {
    /// Why it waits in the outbox, while it is `pending`; cleared once it is sent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub held: Option<HeldCause>,
    /// In a room: the members who had no OMEMO keys when it was encrypted.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub not_readable_by: Vec<String>,
    /// In a 1:1 conversation that shares activity: `delivered` once the partner's receipt
    /// came, `read` once their `displayed` marker named it or a later own message (kept in
    /// the store; absent before, and for "don't store" conversations).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delivery: Option<DeliveryMark>,
    /// The file the message shares (its whole body is one `aesgcm://` link, one plaintext
    /// link its sender confirmed as XEP-0066 out-of-band data, or an own file shared in
    /// plaintext), if any (`core::files`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attachment: Option<FileAttachment>,
}

/// What the partner told about an own message, as `history` gives it.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryMark {
    /// Their device got it (XEP-0184).
    Delivered,
    /// They displayed it (XEP-0333).
    Read,
}

/// One OMEMO device as `devices` shows it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct DeviceInfo {
    /// The owner's bare JID.
    pub jid: String,
    /// The device id.
    pub device: u32,
    /// Fingerprint in grouped hex, once the identity key is known.
    pub fingerprint: Option<String>,
    /// `own` (this device), `verified`, `blind` (trusted before verification), `undecided`
    /// (not trusted: another device of the contact is verified, or strict mode), `untrusted`,
    /// `changed` (identity key changed under this id) or `unknown` (no key seen yet).
    pub trust: String,
    /// The OMEMO versions it publishes: `omemo` (legacy), `omemo2`.
    pub versions: Vec<String>,
    /// True for this Talpa's own device.
    pub this_device: bool,
}

/// One person present in a room.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Occupant {
    /// The nickname.
    pub nick: String,
    /// `moderator`, `participant`, `visitor` or `none`.
    pub role: Option<String>,
    /// `owner`, `admin`, `member`, `outcast` or `none`.
    pub affiliation: Option<String>,
    /// The real bare JID, when the room shows it to us.
    pub jid: Option<String>,
    /// The XEP-0421 occupant-id: stable for one account in one room, so a nick taken over by
    /// someone else after a leave shows a different id.
    pub occupant_id: Option<String>,
    /// Set when this nick looks like another occupant's nick (same letters after folding
    /// case, look-alike characters and invisible characters) and is not the plainer of the two:
    /// the nick it imitates. Both are marked, each naming the other, when neither is plainer.
    pub lookalike_of: Option<String>,
}

/// One finding of a room audit, in plain words for the UI.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct AuditFinding {
    /// What was checked: `members_only`, `real_jids`, `public`, `archive`, `public_logs`,
    /// `password`, `onion`, `keys`.
    pub item: String,
    /// `ok` (as a private group should be), `notice` (worth knowing) or `warning` (a weakness).
    pub level: String,
    /// What a seized server or a fellow member learns, in plain words.
    pub text: String,
}

/// What the room's configuration reveals, and to whom (the `room_audit` event).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct RoomAudit {
    /// The account's bare JID.
    pub account: String,
    /// The room's bare JID.
    pub room: String,
    /// True when no finding is a warning.
    pub clean: bool,
    /// Only members may enter.
    pub members_only: bool,
    /// Who sees occupants' real JIDs: `everyone` (non-anonymous), `moderators`
    /// (semi-anonymous) or `unknown`.
    pub real_jids_visible_to: String,
    /// Listed in the server's public room directory.
    pub public: bool,
    /// The server archives the room's messages (MAM).
    pub archived: bool,
    /// The room announces public logs (a `muc#roominfo_logs` address).
    pub public_logs: bool,
    /// The room is password protected.
    pub password_protected: bool,
    /// The account reaches its server over a .onion address.
    pub onion: bool,
    /// Members (bare JIDs) for whom no OMEMO key is known. Filled by the OMEMO side through
    /// `RoomRegistry::set_keys_missing`; empty until it has looked.
    pub members_without_keys: Vec<String>,
    /// Every check, in plain words.
    pub findings: Vec<AuditFinding>,
}

/// Something happened. Serialises as `{"event": "<snake_case name>", ...fields}`.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// Tor's state changed.
    TorStatus(TorStatusInfo),
    /// An account's connection state changed.
    AccountState {
        /// The account's bare JID.
        account: String,
        /// `disabled`, `waiting_for_jitter`, `waiting_for_tor`, `connecting`, `online`,
        /// `reconnecting`, `error`, `login_refused` or `input_refused` (the server sent an
        /// element the stanza guard refuses on several connections in a row); the last two are
        /// not retried until the account is edited.
        state: String,
        /// Extra detail (error text, seconds until the jittered attempt …).
        #[serde(skip_serializing_if = "Option::is_none")]
        detail: Option<String>,
        /// With `error`: Tor works, but the server did not answer through it, and why
        /// (`refused`, `host_not_found`, `timed_out`, `exit_policy`, `network_failed`).
        #[serde(skip_serializing_if = "Option::is_none")]
        unreachable: Option<Unreachable>,
    },
    /// A message arrived, was sent, or was caught up from the archive.
    Message(StoredMessage),
    /// A message was corrected, retracted or acknowledged.
    MessageUpdated(StoredMessage),
    /// The roster of an account changed.
    Roster {
        /// The account's bare JID.
        account: String,
        /// The contacts' bare JIDs.
        contacts: Vec<String>,
    },
    /// The names given to an account's contacts on this device changed (all of them).
    ContactNames {
        /// The account's bare JID.
        account: String,
        /// Name by contact bare JID.
        names: std::collections::BTreeMap<String, String>,
        /// Names other clients wrote into the server roster (cleaned), by contact bare JID:
        /// for display where `names` has none.
        roster_names: std::collections::BTreeMap<String, String>,
    },
    /// Someone asks to see the account's presence (answer with `approve_contact` or
    /// `deny_contact`).
    SubscriptionRequest {
        /// The account's bare JID.
        account: String,
        /// Who asks (bare JID).
        from: String,
    },
    /// The account's block list (XEP-0191), complete, after login and after every change.
    Blocklist {
        /// The account's bare JID.
        account: String,
        /// The blocked JIDs, sorted.
        jids: Vec<String>,
    },
    /// The account is in a room (our own presence came back).
    RoomJoined {
        /// The account's bare JID.
        account: String,
        /// The room's bare JID.
        room: String,
        /// Our nickname there.
        nick: String,
        /// Whether the room was just created by us.
        created: bool,
    },
    /// The occupants of a room changed.
    Occupants {
        /// The account's bare JID.
        account: String,
        /// The room's bare JID.
        room: String,
        /// Everyone present.
        occupants: Vec<Occupant>,
    },
    /// What the room's configuration reveals (on join and on every configuration change).
    RoomAudit(RoomAudit),
    /// An invitation to a room arrived; answer with `accept_invite` or `decline_invite`.
    RoomInvite {
        /// The account's bare JID.
        account: String,
        /// The room's bare JID.
        room: String,
        /// Who invites (as the room or the inviter's server states it).
        from: Option<String>,
        /// The reason given.
        reason: Option<String>,
        /// XEP-0249 direct invitation (true) or mediated by the room (false).
        direct: bool,
        /// Whether the invitation carries the room password (never shown).
        has_password: bool,
    },
    /// We are no longer in a room.
    RoomLeft {
        /// The account's bare JID.
        account: String,
        /// The room's bare JID.
        room: String,
        /// `left`, `kicked`, `banned`, `membership_revoked`, `shutdown`, `destroyed` or
        /// `join_refused: <condition>` (wrong password, not a member ...).
        reason: String,
        /// The room's own words: the owner's reason for a destroyed room, the moderator's or
        /// admin's reason for a kick or ban (one line, at most 300 characters, controls
        /// removed).
        #[serde(skip_serializing_if = "Option::is_none")]
        detail: Option<String>,
        /// Who kicked or banned us, as the room names them (their nick in the room; one line,
        /// at most 64 characters, controls removed).
        #[serde(skip_serializing_if = "Option::is_none")]
        actor: Option<String>,
        /// The room a destroyed room's owner suggests instead (a bare JID).
        #[serde(skip_serializing_if = "Option::is_none")]
        alternate: Option<String>,
    },
    /// A room's subject was set.
    RoomSubject {
        /// The account's bare JID.
        account: String,
        /// The room's bare JID.
        room: String,
        /// The subject (empty when cleared).
        subject: String,
        /// The nick of who set it, when an occupant did.
        by: Option<String>,
    },
    /// A device of a contact (or of our own account) was seen for the first time. Under blind
    /// trust it is trusted until one of the contact's devices is verified.
    DeviceNew {
        /// Our account.
        account: String,
        /// The device's owner.
        jid: String,
        /// Its device id.
        device: u32,
        /// Its fingerprint (8 groups of 8 hex digits).
        fingerprint: String,
    },
    /// A known device id presented a different identity key. The new key is never trusted
    /// silently (its trust is `changed` until the user decides).
    IdentityChanged {
        /// Our account.
        account: String,
        /// The device's owner.
        jid: String,
        /// Its device id.
        device: u32,
        /// Fingerprint on record.
        old_fingerprint: String,
        /// Fingerprint now presented.
        new_fingerprint: String,
        /// Whether the previous identity had been verified.
        old_was_verified: bool,
    },
    /// A room message was encrypted for every member with keys; these members cannot read it.
    KeysMissing {
        /// Our account.
        account: String,
        /// The room.
        room: String,
        /// Members with no usable OMEMO device.
        jids: Vec<String>,
        /// The origin-id of the message concerned (absent for a correction or retraction).
        #[serde(skip_serializing_if = "Option::is_none")]
        origin_id: Option<String>,
    },
    /// A queued message could not be sent encrypted; it stays in the outbox (never sent in
    /// plaintext) and is retried at the next send or login.
    MessageHeld {
        /// Our account.
        account: String,
        /// The conversation.
        with: String,
        /// The message's origin-id.
        origin_id: String,
        /// Why, for a front end to act on.
        cause: HeldCause,
        /// Why, in words (for logs and headless users).
        reason: String,
    },
    /// The partner's device got our message (XEP-0184 receipt; only in conversations that
    /// share activity).
    Delivered {
        /// Our account.
        account: String,
        /// The conversation.
        with: String,
        /// Our message's origin-id.
        message: String,
    },
    /// The partner displayed our messages up to this one (XEP-0333; only in conversations
    /// that share activity).
    Displayed {
        /// Our account.
        account: String,
        /// The conversation.
        with: String,
        /// Our message's origin-id (the newest one read).
        message: String,
    },
    /// The partner's chat state (XEP-0085; only in conversations that share activity):
    /// `composing` shows "typing…" until `paused`, `active`, `inactive`, `gone`, a message, or
    /// 30 s without news.
    Typing {
        /// Our account.
        account: String,
        /// The conversation.
        with: String,
        /// `active`, `composing`, `paused`, `inactive` or `gone`.
        state: String,
    },
    /// A file upload or download progressed.
    TransferProgress {
        /// The transfer's id (from `send_file` / `download_attachment`).
        transfer: String,
        /// The account.
        account: String,
        /// `upload` or `download`.
        direction: String,
        /// Bytes done.
        done: u64,
        /// Bytes in all (0 when the server did not say).
        total: u64,
    },
    /// A file transfer finished: the upload's message was queued, or the download is kept.
    TransferDone {
        /// The transfer's id.
        transfer: String,
        /// The account.
        account: String,
        /// `upload` or `download`.
        direction: String,
        /// The message that shares the file (local id).
        message: i64,
    },
    /// A file transfer failed; nothing was sent or kept.
    TransferFailed {
        /// The transfer's id.
        transfer: String,
        /// The account.
        account: String,
        /// `upload` or `download`.
        direction: String,
        /// The message, for a download.
        #[serde(skip_serializing_if = "Option::is_none")]
        message: Option<i64>,
        /// The error's kind (`transfer`, `tor`, ...).
        kind: String,
        /// Why, in words.
        error: String,
    },
    /// The profile was unlocked.
    Unlocked,
    /// The profile was locked (by command or idle timer); front ends drop everything they show.
    Locked,
    /// Something failed in the background.
    Error {
        /// Stable error kind.
        kind: String,
        /// Human-readable text.
        message: String,
        /// The account concerned, if any.
        #[serde(skip_serializing_if = "Option::is_none")]
        account: Option<String>,
    },
}
