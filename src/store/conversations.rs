//! Conversations: one per (account, peer), with retention override, encryption choice and
//! signal opt-ins.

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, Row, params};

use super::error::{Result, StoreError};
use super::retention::{RetentionPolicy, parse_policy};
use super::{AccountId, ConversationId, Store};

/// One-to-one chat or group chat.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConversationKind {
    /// `type='chat'`.
    Chat,
    /// `type='groupchat'` (MUC).
    GroupChat,
}

impl ConversationKind {
    fn as_str(self) -> &'static str {
        match self {
            Self::Chat => "chat",
            Self::GroupChat => "groupchat",
        }
    }
    fn parse(s: &str) -> rusqlite::Result<Self> {
        match s {
            "chat" => Ok(Self::Chat),
            "groupchat" => Ok(Self::GroupChat),
            _ => Err(bad_text(s)),
        }
    }
}

/// What the user chose to encrypt a conversation with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EncryptionChoice {
    /// OMEMO, version chosen by what the peers support (the default).
    #[default]
    Omemo,
    /// Legacy OMEMO (`eu.siacs.conversations.axolotl`) only.
    OmemoLegacy,
    /// OMEMO 2 (`urn:xmpp:omemo:2`) only.
    Omemo2,
    /// No end-to-end encryption (explicit user choice).
    Plaintext,
}

impl EncryptionChoice {
    fn as_str(self) -> &'static str {
        match self {
            Self::Omemo => "omemo",
            Self::OmemoLegacy => "omemo_legacy",
            Self::Omemo2 => "omemo2",
            Self::Plaintext => "plaintext",
        }
    }
    fn parse(s: &str) -> rusqlite::Result<Self> {
        Ok(match s {
            "omemo" => Self::Omemo,
            "omemo_legacy" => Self::OmemoLegacy,
            "omemo2" => Self::Omemo2,
            "plaintext" => Self::Plaintext,
            _ => return Err(bad_text(s)),
        })
    }
}

/// Metadata signals the user opted into for a conversation (all off by default).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SignalOptIns {
    /// Send chat states (XEP-0085).
    pub chat_states: bool,
    /// Send delivery receipts (XEP-0184).
    pub receipts: bool,
    /// Send read markers (XEP-0333).
    pub markers: bool,
}

/// A stored conversation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conversation {
    /// Row id.
    pub id: ConversationId,
    /// Owning account.
    pub account: AccountId,
    /// Peer bare JID (contact or room).
    pub peer_jid: String,
    /// Chat or group chat.
    pub kind: ConversationKind,
    /// Retention override; `None` follows the account's default.
    pub retention: Option<RetentionPolicy>,
    /// Encryption choice.
    pub encryption: EncryptionChoice,
    /// Signal opt-ins.
    pub signals: SignalOptIns,
    /// For a room destroyed by its owner: what it told (kept until it is joined again, its
    /// history is cleared or its account removed).
    pub destroyed: Option<RoomDestroyedNote>,
}

/// What a destroyed room's owner told (XEP-0045 §10.9), as the conversation keeps it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RoomDestroyedNote {
    /// The owner's reason (one line, bounded by the xmpp layer).
    pub reason: Option<String>,
    /// The room the owner suggests instead (a bare JID).
    pub alternate: Option<String>,
    /// Our nickname in the destroyed room (to join the alternate with).
    pub nick: Option<String>,
}

pub(crate) fn bad_text(s: &str) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(
        0,
        rusqlite::types::Type::Text,
        Box::new(StoreError::Invalid(format!("unexpected value {s:?}"))),
    )
}

const CONV_COLS: &str = "id, account_id, peer_jid, kind, retention, encryption, \
                         send_chat_states, send_receipts, send_markers, room_destroyed, \
                         destroyed_reason, destroyed_alternate, destroyed_nick";

fn conversation_from_row(r: &Row<'_>) -> rusqlite::Result<Conversation> {
    let retention: Option<String> = r.get(4)?;
    Ok(Conversation {
        id: ConversationId(r.get(0)?),
        account: AccountId(r.get(1)?),
        peer_jid: r.get(2)?,
        kind: ConversationKind::parse(&r.get::<_, String>(3)?)?,
        retention: retention.as_deref().map(parse_policy).transpose()?,
        encryption: EncryptionChoice::parse(&r.get::<_, String>(5)?)?,
        signals: SignalOptIns {
            chat_states: r.get(6)?,
            receipts: r.get(7)?,
            markers: r.get(8)?,
        },
        destroyed: if r.get(9)? {
            Some(RoomDestroyedNote {
                reason: r.get(10)?,
                alternate: r.get(11)?,
                nick: r.get(12)?,
            })
        } else {
            None
        },
    })
}

impl Store {
    /// Returns the conversation of `account` with `peer_jid`, creating it if absent (an
    /// existing conversation keeps its kind and settings).
    pub fn upsert_conversation(
        &mut self,
        account: AccountId,
        peer_jid: &str,
        kind: ConversationKind,
        now: DateTime<Utc>,
    ) -> Result<ConversationId> {
        self.conn.execute(
            "INSERT INTO conversations (account_id, peer_jid, kind, created)
             VALUES (?1, ?2, ?3, ?4) ON CONFLICT (account_id, peer_jid) DO NOTHING",
            params![account.0, peer_jid, kind.as_str(), now.timestamp_millis()],
        )?;
        let id = self.conn.query_row(
            "SELECT id FROM conversations WHERE account_id = ?1 AND peer_jid = ?2",
            params![account.0, peer_jid],
            |r| r.get(0),
        )?;
        Ok(ConversationId(id))
    }

    /// One conversation.
    pub fn conversation(&self, id: ConversationId) -> Result<Option<Conversation>> {
        Ok(self
            .conn
            .query_row(
                &format!("SELECT {CONV_COLS} FROM conversations WHERE id = ?1"),
                [id.0],
                conversation_from_row,
            )
            .optional()?)
    }

    /// The conversations of an account, in creation order.
    pub fn list_conversations(&self, account: AccountId) -> Result<Vec<Conversation>> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {CONV_COLS} FROM conversations WHERE account_id = ?1 ORDER BY id"
        ))?;
        let rows = stmt.query_map([account.0], conversation_from_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Keeps what a destroyed room told with `account`'s conversation with `room` (`None`
    /// forgets it: the room was joined again). The owner's words are a message of sorts: under
    /// "don't store" only that the room was destroyed (and where it went) is kept, not its
    /// reason, which otherwise expires like a message received `now` ([`Store::expire`]).
    /// Returns whether there was such a conversation (none is created).
    pub fn set_room_destroyed(
        &mut self,
        account: AccountId,
        room: &str,
        note: Option<&RoomDestroyedNote>,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let n = match note {
            Some(note) => self.conn.execute(
                "UPDATE conversations SET room_destroyed = 1,
                     destroyed_reason = CASE WHEN COALESCE(retention,
                         (SELECT a.retention FROM accounts a WHERE a.id = account_id)) = ?6
                         THEN NULL ELSE ?3 END,
                     destroyed_alternate = ?4, destroyed_nick = ?5, destroyed_ts = ?7
                 WHERE account_id = ?1 AND peer_jid = ?2",
                params![
                    account.0,
                    room,
                    note.reason,
                    note.alternate,
                    note.nick,
                    RetentionPolicy::DontStore.as_str(),
                    now.timestamp_millis()
                ],
            )?,
            None => self.conn.execute(
                "UPDATE conversations SET room_destroyed = 0, destroyed_reason = NULL,
                     destroyed_alternate = NULL, destroyed_nick = NULL, destroyed_ts = NULL
                 WHERE account_id = ?1 AND peer_jid = ?2 AND room_destroyed = 1",
                params![account.0, room],
            )?,
        };
        Ok(n > 0)
    }

    /// Sets a conversation's encryption choice.
    pub fn set_conversation_encryption(
        &mut self,
        id: ConversationId,
        choice: EncryptionChoice,
    ) -> Result<()> {
        self.update_conv(
            "UPDATE conversations SET encryption = ?2 WHERE id = ?1",
            params![id.0, choice.as_str()],
        )
    }

    /// Sets a conversation's signal opt-ins.
    pub fn set_conversation_signals(
        &mut self,
        id: ConversationId,
        signals: SignalOptIns,
    ) -> Result<()> {
        self.update_conv(
            "UPDATE conversations SET send_chat_states = ?2, send_receipts = ?3,
                 send_markers = ?4 WHERE id = ?1",
            params![id.0, signals.chat_states, signals.receipts, signals.markers],
        )
    }

    /// Sets (or with `None` removes) a conversation's retention override and expires at
    /// once. Returns the number of messages expired.
    pub fn set_conversation_retention(
        &mut self,
        id: ConversationId,
        policy: Option<RetentionPolicy>,
        now: DateTime<Utc>,
    ) -> Result<usize> {
        self.update_conv(
            "UPDATE conversations SET retention = ?2 WHERE id = ?1",
            params![id.0, policy.map(RetentionPolicy::as_str)],
        )?;
        self.expire(now)
    }

    /// The policy in force for a conversation (its override, else its account's default).
    pub fn effective_retention(&self, id: ConversationId) -> Result<RetentionPolicy> {
        let s: String = self
            .conn
            .query_row(
                "SELECT COALESCE(c.retention, a.retention) FROM conversations c
                 JOIN accounts a ON a.id = c.account_id WHERE c.id = ?1",
                [id.0],
                |r| r.get(0),
            )
            .optional()?
            .ok_or(StoreError::NotFound("conversation"))?;
        s.parse()
    }

    fn update_conv(&mut self, sql: &str, p: impl rusqlite::Params) -> Result<()> {
        if self.conn.execute(sql, p)? == 0 {
            return Err(StoreError::NotFound("conversation"));
        }
        Ok(())
    }
}
