//! The outbox: stanzas waiting for the server's acknowledgement.
//!
//! Queued stanzas follow their conversation's retention like the messages they carry: for a
//! "don't store" conversation they live in a TEMP table (`temp_store = MEMORY`: never written to
//! disk, gone at lock or exit — the price is that they are not resent after a crash), and
//! [`Store::expire`] drops entries older than the conversation's retention, unsent or not.

use chrono::{DateTime, TimeZone, Utc};
use rusqlite::{OptionalExtension, params};

use super::error::{Result, StoreError};
use super::retention::RetentionPolicy;
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
        let volatile = self.conversation_is_dont_store(conversation)?;
        if self.outbox_has(origin_id)? {
            return Err(StoreError::Duplicate("outbox origin-id"));
        }
        let table = if volatile {
            self.ensure_volatile_outbox()?;
            "temp.outbox_volatile"
        } else {
            "main.outbox"
        };
        self.conn
            .execute(
                &format!(
                    "INSERT INTO {table} (account_id, conversation_id, origin_id, payload, created)
                     VALUES (?1, ?2, ?3, ?4, ?5)"
                ),
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
        let row = self.conn.last_insert_rowid();
        // Volatile entries get negative ids so the two tables never share one.
        Ok(OutboxId(if volatile { -row } else { row }))
    }

    fn conversation_is_dont_store(&self, conversation: ConversationId) -> Result<bool> {
        let policy: Option<String> = self
            .conn
            .prepare_cached(
                "SELECT COALESCE(c.retention, a.retention) FROM conversations c
                 JOIN accounts a ON a.id = c.account_id WHERE c.id = ?1",
            )?
            .query_row([conversation.0], |r| r.get(0))
            .optional()?;
        Ok(policy.as_deref() == Some(RetentionPolicy::DontStore.as_str()))
    }

    fn outbox_has(&self, origin_id: &str) -> Result<bool> {
        let persistent: bool = self.conn.query_row(
            "SELECT EXISTS (SELECT 1 FROM main.outbox WHERE origin_id = ?1)",
            [origin_id],
            |r| r.get(0),
        )?;
        if persistent || !self.volatile_outbox_exists()? {
            return Ok(persistent);
        }
        Ok(self.conn.query_row(
            "SELECT EXISTS (SELECT 1 FROM temp.outbox_volatile WHERE origin_id = ?1)",
            [origin_id],
            |r| r.get(0),
        )?)
    }

    fn volatile_outbox_exists(&self) -> Result<bool> {
        Ok(self.conn.query_row(
            "SELECT EXISTS (SELECT 1 FROM temp.sqlite_master WHERE name = 'outbox_volatile')",
            [],
            |r| r.get(0),
        )?)
    }

    fn ensure_volatile_outbox(&self) -> Result<()> {
        self.conn.execute_batch(
            "CREATE TEMP TABLE IF NOT EXISTS outbox_volatile (
                 id              INTEGER PRIMARY KEY,
                 account_id      INTEGER NOT NULL,
                 conversation_id INTEGER NOT NULL,
                 origin_id       TEXT NOT NULL UNIQUE,
                 payload         BLOB NOT NULL,
                 created         INTEGER NOT NULL
             );",
        )?;
        Ok(())
    }

    /// Drops queued entries whose conversation's retention has run out at `now` (called by
    /// [`Store::expire`]). Returns how many were dropped.
    pub(crate) fn outbox_expire(&mut self, now: DateTime<Utc>) -> Result<usize> {
        // A conversation switched to "don't store": its queued stanzas move to memory.
        let dont_store = "SELECT c.id FROM conversations c JOIN accounts a ON a.id = c.account_id
                          WHERE COALESCE(c.retention, a.retention) = 'dont_store'";
        let moving: bool = self.conn.query_row(
            &format!(
                "SELECT EXISTS (SELECT 1 FROM main.outbox WHERE conversation_id IN ({dont_store}))"
            ),
            [],
            |r| r.get(0),
        )?;
        if moving {
            self.ensure_volatile_outbox()?;
            let tx = self.conn.transaction()?;
            tx.execute(
                &format!(
                    "INSERT INTO temp.outbox_volatile
                         (account_id, conversation_id, origin_id, payload, created)
                     SELECT account_id, conversation_id, origin_id, payload, created
                     FROM main.outbox WHERE conversation_id IN ({dont_store})"
                ),
                [],
            )?;
            tx.execute(
                &format!("DELETE FROM main.outbox WHERE conversation_id IN ({dont_store})"),
                [],
            )?;
            tx.commit()?;
        }
        let mut removed = 0;
        for policy in RetentionPolicy::ALL {
            let Some(cutoff) = policy.cutoff_ms(now) else {
                continue;
            };
            if policy == RetentionPolicy::DontStore {
                continue;
            }
            removed += self.conn.execute(
                "DELETE FROM main.outbox WHERE created < ?1 AND conversation_id IN (
                     SELECT c.id FROM conversations c JOIN accounts a ON a.id = c.account_id
                     WHERE COALESCE(c.retention, a.retention) = ?2)",
                params![cutoff, policy.as_str()],
            )?;
        }
        Ok(removed)
    }

    /// Queued stanzas of one account (or all), oldest first.
    pub fn outbox_list(&self, account: Option<AccountId>) -> Result<Vec<OutboxEntry>> {
        let sql = if self.volatile_outbox_exists()? {
            "SELECT * FROM (
                 SELECT id, account_id, conversation_id, origin_id, payload, created
                 FROM main.outbox WHERE ?1 IS NULL OR account_id = ?1
                 UNION ALL
                 SELECT -id, account_id, conversation_id, origin_id, payload, created
                 FROM temp.outbox_volatile
                 WHERE (?1 IS NULL OR account_id = ?1)
                   AND conversation_id IN (SELECT id FROM main.conversations))
             ORDER BY created, abs(id)"
        } else {
            "SELECT id, account_id, conversation_id, origin_id, payload, created FROM main.outbox
             WHERE ?1 IS NULL OR account_id = ?1 ORDER BY created, id"
        };
        let mut stmt = self.conn.prepare_cached(sql)?;
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
        let mut n = self
            .conn
            .execute("DELETE FROM main.outbox WHERE origin_id = ?1", [origin_id])?;
        if self.volatile_outbox_exists()? {
            n += self.conn.execute(
                "DELETE FROM temp.outbox_volatile WHERE origin_id = ?1",
                [origin_id],
            )?;
        }
        Ok(n > 0)
    }
}
