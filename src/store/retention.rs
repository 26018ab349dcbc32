//! Retention policies and expiry.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use rusqlite::params;

use super::error::{Result, StoreError};
use super::{HistoryScope, Store, profile};

/// How long messages are kept on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum RetentionPolicy {
    /// Never written to disk.
    DontStore,
    /// One hour.
    OneHour,
    /// One day.
    OneDay,
    /// One week (the default).
    #[default]
    OneWeek,
    /// Thirty days.
    OneMonth,
    /// 365 days.
    OneYear,
    /// Until cleared by hand.
    Forever,
}

impl RetentionPolicy {
    /// Every policy, shortest first.
    pub const ALL: [RetentionPolicy; 7] = [
        Self::DontStore,
        Self::OneHour,
        Self::OneDay,
        Self::OneWeek,
        Self::OneMonth,
        Self::OneYear,
        Self::Forever,
    ];

    /// Canonical short form, as stored and serialized: `dont_store`, `1h`, `1d`, `1w`, `1m`,
    /// `1y`, `forever`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::DontStore => "dont_store",
            Self::OneHour => "1h",
            Self::OneDay => "1d",
            Self::OneWeek => "1w",
            Self::OneMonth => "1m",
            Self::OneYear => "1y",
            Self::Forever => "forever",
        }
    }

    /// How long a message is kept; `None` for `Forever`, zero for `DontStore`.
    pub fn duration(self) -> Option<chrono::Duration> {
        match self {
            Self::DontStore => Some(chrono::Duration::zero()),
            Self::OneHour => Some(chrono::Duration::hours(1)),
            Self::OneDay => Some(chrono::Duration::days(1)),
            Self::OneWeek => Some(chrono::Duration::weeks(1)),
            Self::OneMonth => Some(chrono::Duration::days(30)),
            Self::OneYear => Some(chrono::Duration::days(365)),
            Self::Forever => None,
        }
    }

    /// Messages with a timestamp (ms) strictly below this are expired at `now`;
    /// `None` means nothing expires.
    pub(crate) fn cutoff_ms(self, now: DateTime<Utc>) -> Option<i64> {
        match self {
            Self::DontStore => Some(i64::MAX),
            other => other
                .duration()
                .map(|d| now.timestamp_millis().saturating_sub(d.num_milliseconds())),
        }
    }
}

impl fmt::Display for RetentionPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for RetentionPolicy {
    type Err = StoreError;
    /// Accepts the short forms plus spelled-out aliases (`one_week`, `week`, `none`, ...),
    /// case-insensitively.
    fn from_str(s: &str) -> Result<Self> {
        let norm = s.trim().to_ascii_lowercase().replace(['-', ' '], "_");
        Ok(match norm.as_str() {
            "dont_store" | "dontstore" | "don't_store" | "none" | "never" | "0" => Self::DontStore,
            "1h" | "hour" | "one_hour" | "onehour" => Self::OneHour,
            "1d" | "day" | "one_day" | "oneday" => Self::OneDay,
            "1w" | "week" | "one_week" | "oneweek" => Self::OneWeek,
            "1m" | "30d" | "month" | "one_month" | "onemonth" => Self::OneMonth,
            "1y" | "365d" | "year" | "one_year" | "oneyear" => Self::OneYear,
            "forever" | "always" | "keep" => Self::Forever,
            _ => return Err(StoreError::Invalid(format!("retention policy {s:?}"))),
        })
    }
}

impl serde::Serialize for RetentionPolicy {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for RetentionPolicy {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

pub(crate) fn parse_policy(s: &str) -> rusqlite::Result<RetentionPolicy> {
    s.parse().map_err(|e: StoreError| {
        rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(e))
    })
}

impl Store {
    /// Deletes every message whose retention has run out at `now`, with everything derived
    /// from it (attachments and correction rows cascade). Returns the number of message rows
    /// removed. Run it at unlock, every minute, and after a policy shortens (the
    /// `set_*_retention` methods do so themselves).
    ///
    /// A message's age is `min(server time, local receive time)`, so a server claiming a
    /// future time cannot extend how long a message stays.
    pub fn expire(&mut self, now: DateTime<Utc>) -> Result<usize> {
        self.conn
            .pragma_update(None, "cache_size", -profile::EXPIRY_CACHE_KIB)?;
        let removed = self.expire_rows(now);
        self.conn
            .pragma_update(None, "cache_size", -profile::DEFAULT_CACHE_KIB)?;
        let removed = removed?;
        // Queued stanzas carry message bodies too: they follow the same schedule.
        self.outbox_expire(now)?;
        self.checkpoint()?;
        Ok(removed)
    }

    /// The deletion of [`Store::expire`], in one transaction.
    fn expire_rows(&mut self, now: DateTime<Utc>) -> Result<usize> {
        let tx = self.conn.transaction()?;
        let mut removed = 0;
        {
            let mut stmt = tx.prepare_cached(
                "DELETE FROM messages WHERE ts < ?1 AND conversation_id IN (
                     SELECT c.id FROM conversations c JOIN accounts a ON a.id = c.account_id
                     WHERE COALESCE(c.retention, a.retention) = ?2)",
            )?;
            // A destroyed room's reason (its owner's words) expires like a message.
            let mut reasons = tx.prepare_cached(
                "UPDATE conversations SET destroyed_reason = NULL
                 WHERE destroyed_reason IS NOT NULL AND destroyed_ts < ?1
                     AND COALESCE(retention, (SELECT a.retention FROM accounts a
                                              WHERE a.id = account_id)) = ?2",
            )?;
            for policy in RetentionPolicy::ALL {
                if let Some(cutoff) = policy.cutoff_ms(now) {
                    removed += stmt.execute(params![cutoff, policy.as_str()])?;
                    reasons.execute(params![cutoff, policy.as_str()])?;
                }
            }
        }
        tx.commit()?;
        Ok(removed)
    }

    /// Copies the write-ahead log into the database file and truncates it to zero bytes, so
    /// that no page version holding deleted content outlives the deletion in `talpa.db-wal`
    /// (`secure_delete` has already zeroed it in the current page versions). Runs after every
    /// expiry, history clearing, retraction and account removal; closing the store (lock)
    /// checkpoints and deletes the WAL too.
    pub(crate) fn checkpoint(&mut self) -> Result<()> {
        if !self.conn.is_autocommit() {
            // Inside `Store::batch`: a checkpoint cannot run in a transaction; it runs after
            // the batch commits.
            self.checkpoint_due = true;
            return Ok(());
        }
        self.checkpoint_due = false;
        let busy: i64 = self
            .conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| r.get(0))?;
        if busy == 0 {
            Ok(())
        } else {
            Err(StoreError::CheckpointBlocked)
        }
    }

    /// Runs `f` as one transaction: everything it writes is committed together (one disk
    /// sync for a burst of messages instead of one per message), or, when it fails, nothing
    /// is. The store's own multi-statement methods nest inside it as savepoints.
    ///
    /// # Errors
    /// `f`'s error (after a rollback), or the store's when the transaction cannot begin or
    /// commit.
    pub fn batch<T, E: From<StoreError>>(
        &mut self,
        f: impl FnOnce(&mut Self) -> std::result::Result<T, E>,
    ) -> std::result::Result<T, E> {
        self.conn
            .execute_batch("BEGIN IMMEDIATE")
            .map_err(StoreError::from)?;
        match f(self) {
            Ok(value) => {
                if let Err(e) = self.conn.execute_batch("COMMIT") {
                    let _ = self.conn.execute_batch("ROLLBACK");
                    return Err(StoreError::from(e).into());
                }
                if self.checkpoint_due {
                    self.checkpoint()?;
                }
                Ok(value)
            }
            Err(e) => {
                let _ = self.conn.execute_batch("ROLLBACK");
                self.checkpoint_due = false;
                Err(e)
            }
        }
    }

    /// Deletes the stored messages of one conversation, one account, or all of them.
    /// Returns the number of message rows removed.
    pub fn clear_history(&mut self, scope: HistoryScope) -> Result<usize> {
        let n = match scope {
            HistoryScope::Conversation(c) => self
                .conn
                .execute("DELETE FROM messages WHERE conversation_id = ?1", [c.0])?,
            HistoryScope::Account(a) => self.conn.execute(
                "DELETE FROM messages WHERE conversation_id IN
                     (SELECT id FROM conversations WHERE account_id = ?1)",
                [a.0],
            )?,
            HistoryScope::All => self.conn.execute("DELETE FROM messages", [])?,
        };
        // A destroyed room's note is part of what the room told: it goes with the history.
        let forget = "UPDATE conversations SET room_destroyed = 0, destroyed_reason = NULL,
                          destroyed_alternate = NULL, destroyed_nick = NULL,
                          destroyed_ts = NULL
                      WHERE room_destroyed = 1";
        match scope {
            HistoryScope::Conversation(c) => {
                self.conn.execute(&format!("{forget} AND id = ?1"), [c.0])?
            }
            HistoryScope::Account(a) => self
                .conn
                .execute(&format!("{forget} AND account_id = ?1"), [a.0])?,
            HistoryScope::All => self.conn.execute(forget, [])?,
        };
        self.checkpoint()?;
        Ok(n)
    }
}
