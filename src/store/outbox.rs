//! The persistent outbox: stanzas waiting for the server's acknowledgement.

use chrono::{DateTime, TimeZone, Utc};
use rusqlite::params;

use super::error::{Result, StoreError};
use super::{AccountId, ConversationId, OutboxId, Store, is_unique_violation};

/// A queued outgoing stanza.
#[derive(Clone, PartialEq, Eq)]
pub struct OutboxEntry {
    /// Row id.
    pub id: OutboxId,
    /// Sending account.
    pub account: AccountId,
    /// Conversation.
    pub conversation: ConversationId,
    /// The message's origin-id (unique).
    pub origin_id: String,
    /// Serialized stanza or whatever the core needs to resend.
    pub payload: Vec<u8>,
    /// When it was queued.
    pub created: DateTime<Utc>,
}

impl std::fmt::Debug for OutboxEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutboxEntry")
            .field("id", &self.id)
            .field("account", &self.account)
            .field("conversation", &self.conversation)
            .field("origin_id", &self.origin_id)
            .field("payload_len", &self.payload.len())
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Queues a stanza; `Duplicate` if its origin-id is already queued.
    pub fn outbox_enqueue(
        &mut self,
        account: AccountId,
        conversation: ConversationId,
        origin_id: &str,
        payload: &[u8],
        created: DateTime<Utc>,
    ) -> Result<OutboxId> {
        self.conn
            .execute(
                "INSERT INTO outbox (account_id, conversation_id, origin_id, payload, created)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    account.0,
                    conversation.0,
                    origin_id,
                    payload,
                    created.timestamp_millis()
                ],
            )
            .map_err(|e| {
                if is_unique_violation(&e) {
                    StoreError::Duplicate("outbox origin-id")
                } else {
                    e.into()
                }
            })?;
        Ok(OutboxId(self.conn.last_insert_rowid()))
    }

    /// Queued stanzas of one account (or all), oldest first.
    pub fn outbox_list(&self, account: Option<AccountId>) -> Result<Vec<OutboxEntry>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT id, account_id, conversation_id, origin_id, payload, created FROM outbox
             WHERE ?1 IS NULL OR account_id = ?1 ORDER BY created, id",
        )?;
        let rows = stmt.query_map([account.map(|a| a.0)], |r| {
            Ok(OutboxEntry {
                id: OutboxId(r.get(0)?),
                account: AccountId(r.get(1)?),
                conversation: ConversationId(r.get(2)?),
                origin_id: r.get(3)?,
                payload: r.get(4)?,
                created: Utc
                    .timestamp_millis_opt(r.get(5)?)
                    .single()
                    .unwrap_or_default(),
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Removes the entry with this origin-id (acknowledged). Returns whether one existed.
    pub fn outbox_remove(&mut self, origin_id: &str) -> Result<bool> {
        Ok(self
            .conn
            .execute("DELETE FROM outbox WHERE origin_id = ?1", [origin_id])?
            > 0)
    }
}
