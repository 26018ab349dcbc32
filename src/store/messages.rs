//! Messages, attachments, corrections and retractions.

use chrono::{DateTime, TimeZone, Utc};
use rusqlite::{Connection, OptionalExtension, Row, params};

use super::conversations::bad_text;
use super::error::{Result, StoreError};
use super::retention::RetentionPolicy;
use super::{AttachmentId, ConversationId, MessageId, Store};

/// Which way a message went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Received.
    Incoming,
    /// Sent by this account (from this or another of its devices).
    Outgoing,
}

impl Direction {
    fn as_str(self) -> &'static str {
        match self {
            Self::Incoming => "in",
            Self::Outgoing => "out",
        }
    }
}

/// How a message was protected on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageEncryption {
    /// Plaintext.
    None,
    /// Legacy OMEMO.
    OmemoLegacy,
    /// OMEMO 2.
    Omemo2,
    /// An outgoing message written in an encrypted conversation and not encrypted yet (queued,
    /// or held because keys are missing); it is never sent in plaintext.
    Pending,
}

impl MessageEncryption {
    fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::OmemoLegacy => "omemo_legacy",
            Self::Omemo2 => "omemo2",
            Self::Pending => "pending",
        }
    }
    fn parse(s: &str) -> rusqlite::Result<Self> {
        Ok(match s {
            "none" => Self::None,
            "omemo_legacy" => Self::OmemoLegacy,
            "omemo2" => Self::Omemo2,
            "pending" => Self::Pending,
            _ => return Err(bad_text(s)),
        })
    }
}

/// What the partner told about an own message (XEP-0184 receipt, XEP-0333 `displayed`),
/// ordered: a mark only ever goes up.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub enum Delivery {
    /// Nothing came (or the conversation does not share activity).
    #[default]
    None,
    /// A delivery receipt came.
    Delivered,
    /// A `displayed` marker came for it or a later own message.
    Read,
}

impl Delivery {
    fn as_int(self) -> i64 {
        match self {
            Self::None => 0,
            Self::Delivered => 1,
            Self::Read => 2,
        }
    }
    fn from_int(v: i64) -> Self {
        match v {
            1 => Self::Delivered,
            2 => Self::Read,
            _ => Self::None,
        }
    }
}

/// A file attached to a message, stored inside the encrypted database.
#[derive(Clone)]
pub struct NewAttachment {
    /// File name.
    pub name: String,
    /// MIME type.
    pub mime: String,
    /// Contents.
    pub data: Vec<u8>,
}

/// Attachment metadata returned with history (fetch bytes with [`Store::attachment_data`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttachmentInfo {
    /// Row id.
    pub id: AttachmentId,
    /// File name.
    pub name: String,
    /// MIME type.
    pub mime: String,
    /// Size in bytes.
    pub size: u64,
}

/// A message to store.
#[derive(Clone)]
pub struct NewMessage {
    /// Conversation it belongs to.
    pub conversation: ConversationId,
    /// XEP-0359 origin-id.
    pub origin_id: Option<String>,
    /// XEP-0359 stanza-id (only when trusted: from our own server or the room).
    pub stanza_id: Option<String>,
    /// The `by` of that stanza-id.
    pub stanza_id_by: Option<String>,
    /// Server-claimed time (delay / MAM).
    pub server_ts: Option<DateTime<Utc>>,
    /// Local receive/send time.
    pub local_ts: DateTime<Utc>,
    /// Incoming or outgoing.
    pub direction: Direction,
    /// Sender JID (full occupant JID in rooms).
    pub sender: String,
    /// XEP-0421 occupant-id in rooms.
    pub occupant_id: Option<String>,
    /// Wire protection.
    pub encryption: MessageEncryption,
    /// Text.
    pub body: Option<String>,
    /// Attached files.
    pub attachments: Vec<NewAttachment>,
    /// Whether the (plaintext) body is one file URL its sender also gave as XEP-0066
    /// out-of-band data: the message shares that file (`core::files`).
    pub file_link: bool,
}

impl NewMessage {
    /// A message with only the required fields set.
    pub fn new(
        conversation: ConversationId,
        direction: Direction,
        sender: impl Into<String>,
        body: Option<String>,
        local_ts: DateTime<Utc>,
    ) -> Self {
        Self {
            conversation,
            origin_id: None,
            stanza_id: None,
            stanza_id_by: None,
            server_ts: None,
            local_ts,
            direction,
            sender: sender.into(),
            occupant_id: None,
            encryption: MessageEncryption::None,
            body,
            attachments: Vec::new(),
            file_link: false,
        }
    }

    /// `min(server_ts, local_ts)` in ms: ordering and expiry time.
    fn ts_ms(&self) -> i64 {
        let local = self.local_ts.timestamp_millis();
        self.server_ts
            .map_or(local, |s| s.timestamp_millis().min(local))
    }
}

/// A stored message as history returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredMessage {
    /// Local id.
    pub id: MessageId,
    /// Conversation.
    pub conversation: ConversationId,
    /// XEP-0359 origin-id.
    pub origin_id: Option<String>,
    /// XEP-0359 stanza-id.
    pub stanza_id: Option<String>,
    /// Its `by`.
    pub stanza_id_by: Option<String>,
    /// Server-claimed time.
    pub server_ts: Option<DateTime<Utc>>,
    /// Local time.
    pub local_ts: DateTime<Utc>,
    /// Incoming or outgoing.
    pub direction: Direction,
    /// Sender.
    pub sender: String,
    /// Occupant-id.
    pub occupant_id: Option<String>,
    /// Wire protection.
    pub encryption: MessageEncryption,
    /// Current text (after corrections; `None` once retracted).
    pub body: Option<String>,
    /// Whether a correction replaced the original text.
    pub edited: bool,
    /// Whether the message was retracted.
    pub retracted: bool,
    /// Attachments (metadata).
    pub attachments: Vec<AttachmentInfo>,
    /// Why an outgoing message is held (the core's cause name), until it is sent.
    pub held_cause: Option<String>,
    /// In a room: the members who had no OMEMO keys when it was encrypted.
    pub unreadable_by: Vec<String>,
    /// What the partner told about an own message (receipt, read marker).
    pub delivery: Delivery,
    /// Whether its body was stored as a shared file's URL ([`NewMessage::file_link`]); a
    /// correction clears it.
    pub file_link: bool,
}

/// What `insert_message` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InsertOutcome {
    /// A new row.
    Stored(MessageId),
    /// Already stored (same origin-id, or same stanza-id by the same entity): nothing written.
    Duplicate(MessageId),
    /// Not written to disk: the conversation's policy is "don't store", or the message is
    /// already older than its retention. The caller keeps it in memory only.
    NotStored,
}

/// Who retracts a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Retractor {
    /// The sender (must match the original's sender and direction).
    Sender {
        /// Sender JID.
        sender: String,
        /// Occupant-id (rooms), checked when the original has one.
        occupant_id: Option<String>,
    },
    /// A room moderator (XEP-0425); the caller has checked the moderation right.
    Moderator,
}

fn ms(t: Option<i64>) -> Option<DateTime<Utc>> {
    t.and_then(|t| Utc.timestamp_millis_opt(t).single())
}

const MSG_COLS: &str = "id, conversation_id, origin_id, stanza_id, stanza_id_by, server_ts, \
                        local_ts, direction, sender, occupant_id, encryption, body, edited, \
                        retracted, held_cause, unreadable_by, delivery, file_link";

fn message_from_row(r: &Row<'_>) -> rusqlite::Result<StoredMessage> {
    let direction: String = r.get(7)?;
    Ok(StoredMessage {
        id: MessageId(r.get(0)?),
        conversation: ConversationId(r.get(1)?),
        origin_id: r.get(2)?,
        stanza_id: r.get(3)?,
        stanza_id_by: r.get(4)?,
        server_ts: ms(r.get(5)?),
        local_ts: ms(Some(r.get(6)?)).unwrap_or_default(),
        direction: match direction.as_str() {
            "in" => Direction::Incoming,
            "out" => Direction::Outgoing,
            other => return Err(bad_text(other)),
        },
        sender: r.get(8)?,
        occupant_id: r.get(9)?,
        encryption: MessageEncryption::parse(&r.get::<_, String>(10)?)?,
        body: r.get(11)?,
        edited: r.get(12)?,
        retracted: r.get(13)?,
        attachments: Vec::new(),
        held_cause: r.get(14)?,
        unreadable_by: match r.get::<_, Option<String>>(15)? {
            // Written only by `record_sent`; an unreadable value is shown as nobody.
            Some(json) => serde_json::from_str(&json).unwrap_or_default(),
            None => Vec::new(),
        },
        delivery: Delivery::from_int(r.get(16)?),
        file_link: r.get(17)?,
    })
}

/// One message by local id, on any connection with the store's schema.
pub(super) fn message_by_id(conn: &Connection, id: MessageId) -> Result<Option<StoredMessage>> {
    let Some(mut m) = conn
        .query_row(
            &format!("SELECT {MSG_COLS} FROM messages WHERE id = ?1"),
            [id.0],
            message_from_row,
        )
        .optional()?
    else {
        return Ok(None);
    };
    m.attachments = super::attachments::of_message(conn, id)?;
    Ok(Some(m))
}

fn find_duplicate(conn: &Connection, m: &NewMessage) -> Result<Option<MessageId>> {
    if let Some(origin) = &m.origin_id {
        let hit = conn
            .prepare_cached(
                "SELECT id FROM messages WHERE conversation_id = ?1 AND origin_id = ?2",
            )?
            .query_row(params![m.conversation.0, origin], |r| r.get(0))
            .optional()?;
        if let Some(id) = hit {
            return Ok(Some(MessageId(id)));
        }
    }
    if let Some(sid) = &m.stanza_id {
        let hit = conn
            .prepare_cached(
                "SELECT id FROM messages WHERE conversation_id = ?1 AND stanza_id = ?2
                 AND stanza_id_by IS ?3",
            )?
            .query_row(params![m.conversation.0, sid, m.stanza_id_by], |r| r.get(0))
            .optional()?;
        if let Some(id) = hit {
            return Ok(Some(MessageId(id)));
        }
    }
    Ok(None)
}

fn retention_of(conn: &Connection, c: ConversationId) -> Result<RetentionPolicy> {
    let s: String = conn
        .prepare_cached(
            "SELECT COALESCE(c.retention, a.retention) FROM conversations c
             JOIN accounts a ON a.id = c.account_id WHERE c.id = ?1",
        )?
        .query_row([c.0], |r| r.get(0))
        .optional()?
        .ok_or(StoreError::NotFound("conversation"))?;
    s.parse()
}

fn insert_row(
    conn: &Connection,
    m: &NewMessage,
    corrects: Option<MessageId>,
    now: DateTime<Utc>,
) -> Result<InsertOutcome> {
    let policy = retention_of(conn, m.conversation)?;
    if let Some(cutoff) = policy.cutoff_ms(now)
        && m.ts_ms() < cutoff
    {
        return Ok(InsertOutcome::NotStored);
    }
    if let Some(id) = find_duplicate(conn, m)? {
        return Ok(InsertOutcome::Duplicate(id));
    }
    conn.prepare_cached(
        "INSERT INTO messages (conversation_id, origin_id, stanza_id, stanza_id_by, server_ts,
             local_ts, ts, direction, sender, occupant_id, encryption, body, corrects, file_link)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
    )?
    .execute(params![
        m.conversation.0,
        m.origin_id,
        m.stanza_id,
        m.stanza_id_by,
        m.server_ts.map(|t| t.timestamp_millis()),
        m.local_ts.timestamp_millis(),
        m.ts_ms(),
        m.direction.as_str(),
        m.sender,
        m.occupant_id,
        m.encryption.as_str(),
        m.body,
        corrects.map(|c| c.0),
        m.file_link,
    ])?;
    let id = MessageId(conn.last_insert_rowid());
    for a in &m.attachments {
        conn.prepare_cached(
            "INSERT INTO attachments (message_id, name, mime, data) VALUES (?1, ?2, ?3, ?4)",
        )?
        .execute(params![id.0, a.name, a.mime, a.data])?;
    }
    Ok(InsertOutcome::Stored(id))
}

struct Original {
    id: MessageId,
    conversation: ConversationId,
    direction: String,
    sender: String,
    occupant_id: Option<String>,
    retracted: bool,
}

fn original(conn: &Connection, id: MessageId) -> Result<Original> {
    conn.query_row(
        "SELECT COALESCE(o.id, m.id), COALESCE(o.conversation_id, m.conversation_id),
                COALESCE(o.direction, m.direction), COALESCE(o.sender, m.sender),
                CASE WHEN o.id IS NULL THEN m.occupant_id ELSE o.occupant_id END,
                COALESCE(o.retracted, m.retracted)
         FROM messages m LEFT JOIN messages o ON o.id = m.corrects WHERE m.id = ?1",
        [id.0],
        |r| {
            Ok(Original {
                id: MessageId(r.get(0)?),
                conversation: ConversationId(r.get(1)?),
                direction: r.get(2)?,
                sender: r.get(3)?,
                occupant_id: r.get(4)?,
                retracted: r.get(5)?,
            })
        },
    )
    .optional()?
    .ok_or(StoreError::NotFound("message"))
}

fn same_author(o: &Original, sender: &str, occupant_id: Option<&String>, dir: &str) -> bool {
    o.direction == dir
        && o.sender == sender
        && match (&o.occupant_id, occupant_id) {
            (Some(a), Some(b)) => a == b,
            (Some(_), None) => false,
            (None, _) => true,
        }
}

impl Store {
    /// Stores a message unless it is a duplicate (same origin-id in the conversation, or
    /// same stanza-id from the same `by`) or its conversation's policy keeps it off disk.
    pub fn insert_message(&mut self, m: &NewMessage, now: DateTime<Utc>) -> Result<InsertOutcome> {
        let tx = self.conn.savepoint()?;
        let out = insert_row(&tx, m, None, now)?;
        tx.commit()?;
        Ok(out)
    }

    /// Stores many messages in one transaction (MAM catch-up); outcomes in input order.
    pub fn insert_messages(
        &mut self,
        ms: &[NewMessage],
        now: DateTime<Utc>,
    ) -> Result<Vec<InsertOutcome>> {
        let tx = self.conn.savepoint()?;
        let out = ms
            .iter()
            .map(|m| insert_row(&tx, m, None, now))
            .collect::<Result<Vec<_>>>()?;
        tx.commit()?;
        Ok(out)
    }

    /// Up to `limit` messages of a conversation older than `before` (or the newest when
    /// `None`), oldest first. Correction rows are folded into their originals.
    pub fn history(
        &self,
        conversation: ConversationId,
        before: Option<MessageId>,
        limit: usize,
    ) -> Result<Vec<StoredMessage>> {
        let (bts, bid) = match before {
            Some(b) => {
                let ts: i64 = self
                    .conn
                    .query_row("SELECT ts FROM messages WHERE id = ?1", [b.0], |r| r.get(0))
                    .optional()?
                    .ok_or(StoreError::NotFound("message"))?;
                (ts, b.0)
            }
            None => (i64::MAX, i64::MAX),
        };
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {MSG_COLS} FROM messages
             WHERE conversation_id = ?1 AND corrects IS NULL AND (ts, id) < (?2, ?3)
             ORDER BY ts DESC, id DESC LIMIT ?4"
        ))?;
        let mut out = stmt
            .query_map(
                params![conversation.0, bts, bid, limit as i64],
                message_from_row,
            )?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        out.reverse();
        // The page's attachments in one query (not one per message), by the page's own
        // predicate; messages without any are the rule, so it usually returns nothing.
        if !out.is_empty() {
            let index: std::collections::HashMap<i64, usize> =
                out.iter().enumerate().map(|(i, m)| (m.id.0, i)).collect();
            let mut att = self.conn.prepare_cached(
                "SELECT message_id, id, name, mime, length(data) FROM attachments
                 WHERE message_id IN (
                   SELECT id FROM messages
                   WHERE conversation_id = ?1 AND corrects IS NULL AND (ts, id) < (?2, ?3)
                   ORDER BY ts DESC, id DESC LIMIT ?4)
                 ORDER BY message_id, id",
            )?;
            let rows = att.query_map(params![conversation.0, bts, bid, limit as i64], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    AttachmentInfo {
                        id: AttachmentId(r.get(1)?),
                        name: r.get(2)?,
                        mime: r.get(3)?,
                        size: r.get::<_, i64>(4)? as u64,
                    },
                ))
            })?;
            for row in rows {
                let (message, info) = row?;
                if let Some(&i) = index.get(&message) {
                    out[i].attachments.push(info);
                }
            }
        }
        Ok(out)
    }

    /// One message by local id (correction rows included).
    pub fn message(&self, id: MessageId) -> Result<Option<StoredMessage>> {
        message_by_id(&self.conn, id)
    }

    /// Records how an (outgoing) message was actually encrypted once it was sent.
    pub fn set_message_encryption(
        &mut self,
        id: MessageId,
        encryption: MessageEncryption,
    ) -> Result<()> {
        self.conn.execute(
            "UPDATE messages SET encryption = ?2 WHERE id = ?1",
            params![id.0, encryption.as_str()],
        )?;
        Ok(())
    }

    /// Records why an outgoing message is held (`None`: it is not).
    pub fn set_message_held(&mut self, id: MessageId, cause: Option<&str>) -> Result<()> {
        self.conn.execute(
            "UPDATE messages SET held_cause = ?2 WHERE id = ?1",
            params![id.0, cause],
        )?;
        Ok(())
    }

    /// Records that an outgoing message was sent with `encryption`, readable by everybody but
    /// `unreadable_by` (room members without keys): it is no longer held.
    pub fn record_sent(
        &mut self,
        id: MessageId,
        encryption: MessageEncryption,
        unreadable_by: &[String],
    ) -> Result<()> {
        let unreadable = if unreadable_by.is_empty() {
            None
        } else {
            Some(
                serde_json::to_string(unreadable_by)
                    .map_err(|e| StoreError::Invalid(e.to_string()))?,
            )
        };
        self.conn.execute(
            "UPDATE messages SET encryption = ?2, held_cause = NULL, unreadable_by = ?3
             WHERE id = ?1",
            params![id.0, encryption.as_str(), unreadable],
        )?;
        Ok(())
    }

    /// The local id of the message with this origin-id in a conversation.
    pub fn find_by_origin_id(
        &self,
        conversation: ConversationId,
        origin_id: &str,
    ) -> Result<Option<MessageId>> {
        Ok(self
            .conn
            .query_row(
                "SELECT id FROM messages WHERE conversation_id = ?1 AND origin_id = ?2",
                params![conversation.0, origin_id],
                |r| r.get(0).map(MessageId),
            )
            .optional()?)
    }

    /// The local id of the message with this stanza-id (assigned by `by`) in a conversation.
    pub fn find_by_stanza_id(
        &self,
        conversation: ConversationId,
        stanza_id: &str,
        by: &str,
    ) -> Result<Option<MessageId>> {
        Ok(self
            .conn
            .query_row(
                "SELECT id FROM messages WHERE conversation_id = ?1 AND stanza_id = ?2
                 AND stanza_id_by = ?3",
                params![conversation.0, stanza_id, by],
                |r| r.get(0).map(MessageId),
            )
            .optional()?)
    }

    /// Records a receipt (`Delivered`) or a `displayed` marker (`Read`) for the own message
    /// with `origin_id` in `account`'s 1:1 conversation with `peer` (both bare JIDs): the mark
    /// only goes up, and `Read` marks every earlier own message of the conversation read too
    /// (XEP-0333: displayed up to here). Whether that own message is stored (false: not
    /// ours, another conversation's, or not stored at all — nothing is written then). See
    /// [`Store::mark_delivery_of`] for an id that names a correction.
    pub fn mark_delivery(
        &mut self,
        account: &str,
        peer: &str,
        origin_id: &str,
        mark: Delivery,
    ) -> Result<bool> {
        Ok(self
            .mark_delivery_of(account, peer, origin_id, mark)?
            .is_some())
    }

    /// [`Store::mark_delivery`], answering the origin-id of the message marked: when
    /// `origin_id` names an own correction (XEP-0308), the mark goes to the message it
    /// corrected (the one the conversation shows), and a `Read` covers every own message up to
    /// the correction. `None` when nothing was marked.
    pub fn mark_delivery_of(
        &mut self,
        account: &str,
        peer: &str,
        origin_id: &str,
        mark: Delivery,
    ) -> Result<Option<String>> {
        let tx = self.conn.savepoint()?;
        // The row named (the original or a correction of it) and the original.
        let target: Option<(i64, i64, i64, i64, Option<String>)> = tx
            .prepare_cached(
                "SELECT o.id, o.conversation_id, m.ts, m.id, o.origin_id FROM messages m
                 JOIN messages o ON o.id = COALESCE(m.corrects, m.id)
                 JOIN conversations c ON c.id = m.conversation_id
                 JOIN accounts a ON a.id = c.account_id
                 WHERE a.jid = ?1 AND c.peer_jid = ?2 AND c.kind = 'chat'
                   AND m.origin_id = ?3 AND m.direction = 'out'
                   AND o.direction = 'out' AND o.corrects IS NULL
                   AND o.conversation_id = m.conversation_id",
            )?
            .query_row(params![account, peer, origin_id], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
            })
            .optional()?;
        let Some((id, conversation, ts, named, original_origin)) = target else {
            return Ok(None);
        };
        match mark {
            Delivery::None => {}
            Delivery::Delivered => {
                tx.execute(
                    "UPDATE messages SET delivery = ?2
                     WHERE id = ?1 AND delivery < ?2 AND retracted = 0",
                    params![id, mark.as_int()],
                )?;
            }
            Delivery::Read => {
                tx.execute(
                    "UPDATE messages SET delivery = ?4
                     WHERE conversation_id = ?1 AND direction = 'out' AND corrects IS NULL
                       AND ((ts, id) <= (?2, ?3) OR id = ?5) AND delivery < ?4
                       AND retracted = 0",
                    params![conversation, ts, named, mark.as_int(), id],
                )?;
            }
        }
        tx.commit()?;
        Ok(Some(
            original_origin.unwrap_or_else(|| origin_id.to_owned()),
        ))
    }

    /// The bytes of an attachment.
    pub fn attachment_data(&self, id: AttachmentId) -> Result<Option<Vec<u8>>> {
        Ok(self
            .conn
            .query_row("SELECT data FROM attachments WHERE id = ?1", [id.0], |r| {
                r.get(0)
            })
            .optional()?)
    }

    /// Applies a XEP-0308 correction of `target` (the original or an earlier correction):
    /// the correction is recorded as a body-less row linked to the original (for dedupe,
    /// deleted with it) and the original's text is replaced — earlier versions are not kept.
    ///
    /// `NotPermitted` unless the correction comes from the original's sender (same
    /// direction, sender and, in rooms, occupant-id), in the same conversation, and the
    /// original is not retracted.
    pub fn apply_correction(
        &mut self,
        target: MessageId,
        correction: &NewMessage,
        now: DateTime<Utc>,
    ) -> Result<InsertOutcome> {
        let tx = self.conn.savepoint()?;
        let orig = original(&tx, target)?;
        if orig.conversation != correction.conversation {
            return Err(StoreError::NotPermitted(
                "correction from another conversation",
            ));
        }
        if !same_author(
            &orig,
            &correction.sender,
            correction.occupant_id.as_ref(),
            correction.direction.as_str(),
        ) {
            return Err(StoreError::NotPermitted(
                "correction of another sender's message",
            ));
        }
        if orig.retracted {
            return Err(StoreError::NotPermitted(
                "correction of a retracted message",
            ));
        }
        let mut marker = correction.clone();
        marker.body = None;
        marker.attachments.clear();
        marker.file_link = false;
        let out = insert_row(&tx, &marker, Some(orig.id), now)?;
        if matches!(out, InsertOutcome::Stored(_)) {
            tx.execute(
                // The corrected text is no longer what the out-of-band data confirmed.
                "UPDATE messages SET body = ?2, edited = 1, file_link = 0 WHERE id = ?1",
                params![orig.id.0, correction.body],
            )?;
        }
        tx.commit()?;
        Ok(out)
    }

    /// Retracts a message (XEP-0424/0425): its text, attachments, corrections and delivery
    /// mark are deleted; a `retracted` tombstone row stays until it expires.
    pub fn apply_retraction(&mut self, target: MessageId, by: &Retractor) -> Result<()> {
        let tx = self.conn.savepoint()?;
        let orig = original(&tx, target)?;
        if let Retractor::Sender {
            sender,
            occupant_id,
        } = by
        {
            let dir = orig.direction.clone();
            if !same_author(&orig, sender, occupant_id.as_ref(), &dir) {
                return Err(StoreError::NotPermitted(
                    "retraction of another sender's message",
                ));
            }
        }
        tx.execute(
            "UPDATE messages SET body = NULL, retracted = 1, delivery = 0 WHERE id = ?1",
            [orig.id.0],
        )?;
        tx.execute("DELETE FROM attachments WHERE message_id = ?1", [orig.id.0])?;
        tx.execute(
            "UPDATE messages SET body = NULL WHERE corrects = ?1",
            [orig.id.0],
        )?;
        tx.commit()?;
        self.checkpoint()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{ConversationKind, NewAccount, Passphrase, Profile};

    fn pending_message() -> (tempfile::TempDir, Store, MessageId) {
        let tmp = tempfile::tempdir().expect("tempdir");
        let mut s =
            Profile::create(&tmp.path().join("p"), &Passphrase::from("notes")).expect("profile");
        let now = Utc::now();
        let acc = s
            .add_account(&NewAccount::new("me@s", "pw".to_owned().into()), now)
            .expect("account");
        let conv = s
            .upsert_conversation(acc, "room@rooms.s", ConversationKind::GroupChat, now)
            .expect("conversation");
        let mut m = NewMessage::new(conv, Direction::Outgoing, "me@s", Some("x".into()), now);
        m.origin_id = Some("oid".into());
        m.encryption = MessageEncryption::Pending;
        let InsertOutcome::Stored(id) = s.insert_message(&m, now).expect("insert") else {
            panic!("not stored")
        };
        (tmp, s, id)
    }

    #[test]
    fn a_held_message_keeps_its_cause_until_it_is_sent_with_who_could_not_read_it() {
        let (_tmp, mut s, id) = pending_message();
        s.set_message_held(id, Some("no_keys")).expect("held");
        let m = s.message(id).expect("get").expect("exists");
        assert_eq!(m.held_cause.as_deref(), Some("no_keys"));
        assert!(m.unreadable_by.is_empty());

        let missing = vec!["vole@s".to_owned(), "shrew@s".to_owned()];
        s.record_sent(id, MessageEncryption::Omemo2, &missing)
            .expect("sent");
        let m = s.message(id).expect("get").expect("exists");
        assert_eq!(m.held_cause, None, "sent: no longer held");
        assert_eq!(m.encryption, MessageEncryption::Omemo2);
        assert_eq!(m.unreadable_by, missing);
        let page = s.history(m.conversation, None, 10).expect("history");
        assert_eq!(page[0].unreadable_by, missing, "history carries it");
    }

    #[test]
    fn a_mark_naming_a_correction_goes_to_the_corrected_message_and_a_correction_keeps_marks() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let mut s =
            Profile::create(&tmp.path().join("p"), &Passphrase::from("marks")).expect("profile");
        let now = Utc::now();
        let acc = s
            .add_account(&NewAccount::new("me@s", "pw".to_owned().into()), now)
            .expect("account");
        let conv = s
            .upsert_conversation(acc, "bob@s", ConversationKind::Chat, now)
            .expect("conversation");
        let own = |oid: &str, at| {
            let mut m = NewMessage::new(conv, Direction::Outgoing, "me@s", Some("t".into()), at);
            m.origin_id = Some(oid.into());
            m
        };
        let InsertOutcome::Stored(first) = s.insert_message(&own("o1", now), now).expect("insert")
        else {
            panic!("not stored")
        };
        let later = now + chrono::Duration::seconds(1);
        let InsertOutcome::Stored(second) =
            s.insert_message(&own("o2", later), later).expect("insert")
        else {
            panic!("not stored")
        };
        assert_eq!(
            s.mark_delivery_of("me@s", "bob@s", "o1", Delivery::Delivered)
                .expect("mark"),
            Some("o1".to_owned())
        );
        let fix_at = now + chrono::Duration::seconds(2);
        let mut fix = own("c1", fix_at);
        fix.body = Some("fixed".into());
        s.apply_correction(first, &fix, fix_at).expect("correction");
        let mark = |s: &Store, id| s.message(id).expect("get").expect("row").delivery;
        assert_eq!(
            mark(&s, first),
            Delivery::Delivered,
            "a correction keeps the mark"
        );
        assert_eq!(
            s.mark_delivery_of("me@s", "bob@s", "c1", Delivery::Read)
                .expect("mark"),
            Some("o1".to_owned()),
            "the correction's id names the original"
        );
        assert_eq!(
            (mark(&s, first), mark(&s, second)),
            (Delivery::Read, Delivery::Read),
            "read up to the correction: what was sent before it too"
        );
        assert_eq!(
            s.mark_delivery_of("me@s", "mallory@s", "c1", Delivery::Read)
                .expect("mark"),
            None,
            "only from the peer it went to"
        );
    }

    #[test]
    fn a_delivery_mark_is_kept_only_goes_up_and_read_covers_earlier_own_messages() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let mut s =
            Profile::create(&tmp.path().join("p"), &Passphrase::from("marks")).expect("profile");
        let now = Utc::now();
        let acc = s
            .add_account(&NewAccount::new("me@s", "pw".to_owned().into()), now)
            .expect("account");
        let conv = s
            .upsert_conversation(acc, "bob@s", ConversationKind::Chat, now)
            .expect("conversation");
        let mut ids = Vec::new();
        for (i, (dir, oid)) in [
            (Direction::Outgoing, "o1"),
            (Direction::Incoming, "i1"),
            (Direction::Outgoing, "o2"),
            (Direction::Outgoing, "o3"),
        ]
        .into_iter()
        .enumerate()
        {
            let at = now + chrono::Duration::milliseconds(i as i64);
            let mut m = NewMessage::new(conv, dir, "x@s", Some("t".into()), at);
            m.origin_id = Some(oid.into());
            let InsertOutcome::Stored(id) = s.insert_message(&m, at).expect("insert") else {
                panic!("not stored")
            };
            ids.push(id);
        }
        let mark = |s: &Store, i: usize| s.message(ids[i]).expect("get").expect("row").delivery;
        assert_eq!(mark(&s, 0), Delivery::None, "nothing until a receipt");
        // Only the account's conversation with that peer, only own messages.
        assert!(
            !s.mark_delivery("me@s", "mallory@s", "o1", Delivery::Delivered)
                .expect("m")
        );
        assert!(
            !s.mark_delivery("other@s", "bob@s", "o1", Delivery::Delivered)
                .expect("m")
        );
        assert!(
            !s.mark_delivery("me@s", "bob@s", "i1", Delivery::Delivered)
                .expect("m")
        );
        assert!(
            !s.mark_delivery("me@s", "bob@s", "nope", Delivery::Read)
                .expect("m")
        );
        assert_eq!(mark(&s, 0), Delivery::None);
        assert!(
            s.mark_delivery("me@s", "bob@s", "o1", Delivery::Delivered)
                .expect("m")
        );
        assert!(
            s.mark_delivery("me@s", "bob@s", "o3", Delivery::Delivered)
                .expect("m")
        );
        assert_eq!(mark(&s, 0), Delivery::Delivered);
        assert!(
            s.mark_delivery("me@s", "bob@s", "o2", Delivery::Read)
                .expect("m")
        );
        assert_eq!(
            (mark(&s, 0), mark(&s, 1), mark(&s, 2), mark(&s, 3)),
            (
                Delivery::Read,
                Delivery::None,
                Delivery::Read,
                Delivery::Delivered
            ),
            "read up to o2: earlier own messages too, not the partner's, not later ones"
        );
        assert!(
            s.mark_delivery("me@s", "bob@s", "o2", Delivery::Delivered)
                .expect("m")
        );
        assert_eq!(
            mark(&s, 2),
            Delivery::Read,
            "a late receipt does not undo read"
        );
        let page = s.history(conv, None, 10).expect("history");
        assert_eq!(page[2].delivery, Delivery::Read, "history carries it");
        let by = Retractor::Sender {
            sender: "x@s".into(),
            occupant_id: None,
        };
        s.apply_retraction(ids[0], &by).expect("retract");
        assert_eq!(
            mark(&s, 0),
            Delivery::None,
            "erased with the retracted text"
        );
    }

    #[test]
    fn a_message_sent_to_everybody_has_nobody_who_cannot_read_it() {
        let (_tmp, mut s, id) = pending_message();
        s.record_sent(id, MessageEncryption::OmemoLegacy, &[])
            .expect("sent");
        let m = s.message(id).expect("get").expect("exists");
        assert!(m.unreadable_by.is_empty());
        assert_eq!(m.held_cause, None);
    }
}
