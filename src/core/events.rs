//! Events the core pushes to every front end.

use serde::Serialize;

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
        /// `reconnecting` or `error`.
        state: String,
        /// Extra detail (error text, seconds until the jittered attempt …).
        #[serde(skip_serializing_if = "Option::is_none")]
        detail: Option<String>,
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
