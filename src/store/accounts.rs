//! Accounts (the only place credentials live), contacts and room bookmarks.

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, Row, params};
use zeroize::Zeroizing;

use super::error::{Result, StoreError};
use super::retention::{RetentionPolicy, parse_policy};
use super::{AccountId, Store, is_unique_violation};

/// Everything needed to add an account.
#[derive(Clone)]
pub struct NewAccount {
    /// Bare JID.
    pub jid: String,
    /// XMPP password.
    pub password: Zeroizing<String>,
    /// Connect-host override (e.g. an .onion or 127.0.0.1 in tests).
    pub host: Option<String>,
    /// Connect-port override.
    pub port: Option<u16>,
    /// Extra trust anchor (PEM) for this account's server certificate.
    pub trust_anchor_pem: Option<String>,
    /// Whether the account connects.
    pub enabled: bool,
    /// Default retention for this account's conversations.
    pub retention: RetentionPolicy,
    /// Free-form options (JSON object).
    pub options: serde_json::Value,
}

impl NewAccount {
    /// An enabled account with no overrides, one-week retention and empty options.
    pub fn new(jid: impl Into<String>, password: Zeroizing<String>) -> Self {
        Self {
            jid: jid.into(),
            password,
            host: None,
            port: None,
            trust_anchor_pem: None,
            enabled: true,
            retention: RetentionPolicy::default(),
            options: serde_json::Value::Object(serde_json::Map::new()),
        }
    }
}

/// A stored account.
#[derive(Clone)]
pub struct Account {
    /// Row id.
    pub id: AccountId,
    /// Bare JID.
    pub jid: String,
    /// XMPP password.
    pub password: Zeroizing<String>,
    /// Connect-host override.
    pub host: Option<String>,
    /// Connect-port override.
    pub port: Option<u16>,
    /// Extra trust anchor (PEM).
    pub trust_anchor_pem: Option<String>,
    /// Whether the account connects.
    pub enabled: bool,
    /// Default retention of its conversations (change with [`Store::set_account_retention`]).
    pub retention: RetentionPolicy,
    /// Free-form options (JSON object).
    pub options: serde_json::Value,
    /// The server once offered SCRAM-*-PLUS: refuse a later login without it (downgrade).
    pub sasl_plus_seen: bool,
}

macro_rules! redacted_debug {
    ($t:ty, $($f:ident),*) => {
        impl std::fmt::Debug for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct(stringify!($t))
                    $(.field(stringify!($f), &self.$f))*
                    .field("password", &"<redacted>")
                    .finish_non_exhaustive()
            }
        }
    };
}
redacted_debug!(NewAccount, jid, host, port, enabled, retention);
redacted_debug!(
    Account,
    id,
    jid,
    host,
    port,
    enabled,
    retention,
    sasl_plus_seen
);

/// A roster entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contact {
    /// Bare JID.
    pub jid: String,
    /// Roster name.
    pub name: Option<String>,
    /// Subscription state as in the roster (`none`, `to`, `from`, `both`).
    pub subscription: String,
    /// Roster groups.
    pub groups: Vec<String>,
}

/// A room bookmark (XEP-0402).
#[derive(Clone, PartialEq, Eq)]
pub struct RoomBookmark {
    /// Room JID.
    pub jid: String,
    /// Display name.
    pub name: Option<String>,
    /// Nickname to join with.
    pub nick: Option<String>,
    /// Room password (zeroized on drop, left out of `Debug`).
    pub password: Option<Zeroizing<String>>,
    /// Join at login.
    pub autojoin: bool,
}

impl std::fmt::Debug for RoomBookmark {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RoomBookmark")
            .field("jid", &self.jid)
            .field("name", &self.name)
            .field("nick", &self.nick)
            .field("autojoin", &self.autojoin)
            .finish_non_exhaustive()
    }
}

const ACCOUNT_COLS: &str = "id, jid, password, host, port, trust_anchor_pem, enabled, retention, \
                            options, sasl_plus_seen";

fn account_from_row(r: &Row<'_>) -> rusqlite::Result<Account> {
    let options: String = r.get(8)?;
    Ok(Account {
        id: AccountId(r.get(0)?),
        jid: r.get(1)?,
        password: Zeroizing::new(r.get(2)?),
        host: r.get(3)?,
        port: r.get(4)?,
        trust_anchor_pem: r.get(5)?,
        enabled: r.get(6)?,
        retention: parse_policy(&r.get::<_, String>(7)?)?,
        options: serde_json::from_str(&options).map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(8, rusqlite::types::Type::Text, Box::new(e))
        })?,
        sasl_plus_seen: r.get(9)?,
    })
}

fn json(v: &serde_json::Value) -> Result<String> {
    serde_json::to_string(v).map_err(|e| StoreError::Invalid(e.to_string()))
}

impl Store {
    /// Adds an account; `Duplicate` if the JID is already present.
    pub fn add_account(&mut self, account: &NewAccount, now: DateTime<Utc>) -> Result<AccountId> {
        let options = json(&account.options)?;
        self.conn
            .execute(
                "INSERT INTO accounts (jid, password, host, port, trust_anchor_pem, enabled,
                     retention, options, created) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                params![
                    account.jid,
                    account.password.as_str(),
                    account.host,
                    account.port,
                    account.trust_anchor_pem,
                    account.enabled,
                    account.retention.as_str(),
                    options,
                    now.timestamp_millis(),
                ],
            )
            .map_err(|e| {
                if is_unique_violation(&e) {
                    StoreError::Duplicate("account jid")
                } else {
                    e.into()
                }
            })?;
        Ok(AccountId(self.conn.last_insert_rowid()))
    }

    /// All accounts, in creation order.
    pub fn list_accounts(&self) -> Result<Vec<Account>> {
        let mut stmt = self
            .conn
            .prepare_cached(&format!("SELECT {ACCOUNT_COLS} FROM accounts ORDER BY id"))?;
        let rows = stmt.query_map([], account_from_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// One account.
    pub fn account(&self, id: AccountId) -> Result<Option<Account>> {
        Ok(self
            .conn
            .query_row(
                &format!("SELECT {ACCOUNT_COLS} FROM accounts WHERE id = ?1"),
                [id.0],
                account_from_row,
            )
            .optional()?)
    }

    /// Writes every field of `account` except `retention` (use
    /// [`Store::set_account_retention`], which also expires at once).
    pub fn update_account(&mut self, account: &Account) -> Result<()> {
        let options = json(&account.options)?;
        let n = self.conn.execute(
            "UPDATE accounts SET jid = ?2, password = ?3, host = ?4, port = ?5,
                 trust_anchor_pem = ?6, enabled = ?7, options = ?8, sasl_plus_seen = ?9
             WHERE id = ?1",
            params![
                account.id.0,
                account.jid,
                account.password.as_str(),
                account.host,
                account.port,
                account.trust_anchor_pem,
                account.enabled,
                options,
                account.sasl_plus_seen,
            ],
        )?;
        if n == 0 {
            return Err(StoreError::NotFound("account"));
        }
        Ok(())
    }

    /// Records that the server offered channel binding (SCRAM-*-PLUS).
    pub fn set_sasl_plus_seen(&mut self, id: AccountId) -> Result<()> {
        self.conn.execute(
            "UPDATE accounts SET sasl_plus_seen = 1 WHERE id = ?1",
            [id.0],
        )?;
        Ok(())
    }

    /// Sets an account's default retention and expires at once. Returns the number of
    /// messages expired.
    pub fn set_account_retention(
        &mut self,
        id: AccountId,
        policy: RetentionPolicy,
        now: DateTime<Utc>,
    ) -> Result<usize> {
        let n = self.conn.execute(
            "UPDATE accounts SET retention = ?2 WHERE id = ?1",
            params![id.0, policy.as_str()],
        )?;
        if n == 0 {
            return Err(StoreError::NotFound("account"));
        }
        self.expire(now)
    }

    /// Removes an account and everything of it (conversations, messages, OMEMO state,
    /// outbox, contacts, bookmarks).
    pub fn remove_account(&mut self, id: AccountId) -> Result<bool> {
        let removed = self
            .conn
            .execute("DELETE FROM accounts WHERE id = ?1", [id.0])?
            > 0;
        self.checkpoint()?;
        Ok(removed)
    }

    /// Inserts or replaces a roster entry.
    pub fn upsert_contact(&mut self, account: AccountId, contact: &Contact) -> Result<()> {
        let groups = serde_json::to_string(&contact.groups)
            .map_err(|e| StoreError::Invalid(e.to_string()))?;
        self.conn.execute(
            "INSERT INTO contacts (account_id, jid, name, subscription, groups)
             VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (account_id, jid) DO UPDATE SET
                 name = excluded.name, subscription = excluded.subscription,
                 groups = excluded.groups",
            params![
                account.0,
                contact.jid,
                contact.name,
                contact.subscription,
                groups
            ],
        )?;
        Ok(())
    }

    /// The roster of an account, by JID.
    pub fn list_contacts(&self, account: AccountId) -> Result<Vec<Contact>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT jid, name, subscription, groups FROM contacts WHERE account_id = ?1
             ORDER BY jid",
        )?;
        let rows = stmt.query_map([account.0], |r| {
            let groups: String = r.get(3)?;
            Ok(Contact {
                jid: r.get(0)?,
                name: r.get(1)?,
                subscription: r.get(2)?,
                groups: serde_json::from_str(&groups).unwrap_or_default(),
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Removes a roster entry.
    pub fn remove_contact(&mut self, account: AccountId, jid: &str) -> Result<bool> {
        Ok(self.conn.execute(
            "DELETE FROM contacts WHERE account_id = ?1 AND jid = ?2",
            params![account.0, jid],
        )? > 0)
    }

    /// Inserts or replaces a room bookmark.
    pub fn upsert_room(&mut self, account: AccountId, room: &RoomBookmark) -> Result<()> {
        self.conn.execute(
            "INSERT INTO rooms (account_id, jid, name, nick, password, autojoin)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT (account_id, jid) DO UPDATE SET
                 name = excluded.name, nick = excluded.nick, password = excluded.password,
                 autojoin = excluded.autojoin",
            params![
                account.0,
                room.jid,
                room.name,
                room.nick,
                room.password.as_ref().map(|p| p.as_str()),
                room.autojoin
            ],
        )?;
        Ok(())
    }

    /// The room bookmarks of an account, by JID.
    pub fn list_rooms(&self, account: AccountId) -> Result<Vec<RoomBookmark>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT jid, name, nick, password, autojoin FROM rooms WHERE account_id = ?1
             ORDER BY jid",
        )?;
        let rows = stmt.query_map([account.0], |r| {
            Ok(RoomBookmark {
                jid: r.get(0)?,
                name: r.get(1)?,
                nick: r.get(2)?,
                password: r.get::<_, Option<String>>(3)?.map(Zeroizing::new),
                autojoin: r.get(4)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Removes a room bookmark.
    pub fn remove_room(&mut self, account: AccountId, jid: &str) -> Result<bool> {
        Ok(self.conn.execute(
            "DELETE FROM rooms WHERE account_id = ?1 AND jid = ?2",
            params![account.0, jid],
        )? > 0)
    }
}
