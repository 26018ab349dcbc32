//! Settings (key/value) and OMEMO state.

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, params};
use zeroize::Zeroizing;

use super::conversations::bad_text;
use super::error::Result;
use super::{AccountId, Store};

/// Well-known setting keys. Tor settings live here too.
pub mod keys {
    /// Tor mode: `embedded` (default) or `system_socks`.
    pub const TOR_MODE: &str = "tor.mode";
    /// Tor bridges, one bridge line per line.
    pub const TOR_BRIDGES: &str = "tor.bridges";
    /// Whether bridges are used (`true`/`false`).
    pub const TOR_USE_BRIDGES: &str = "tor.use_bridges";
    /// System Tor SOCKS address (`host:port`) for `system_socks` mode.
    pub const TOR_SOCKS_ADDR: &str = "tor.socks_addr";
    /// Upper bound, in seconds, of the random delay before each account connects.
    pub const TOR_STARTUP_JITTER: &str = "tor.startup_jitter_secs";
    /// A private Tor network (the JSON of a `tor-network.json` file), for test networks.
    pub const TOR_PRIVATE_NETWORK: &str = "tor.private_network";
    /// Idle minutes before the profile locks.
    pub const LOCK_IDLE_MINUTES: &str = "lock.idle_minutes";
}

/// Trust in an OMEMO device identity key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrustLevel {
    /// Trusted without verification (blind trust before verification).
    BlindTrust,
    /// Fingerprint verified by the user.
    Verified,
    /// Explicitly distrusted.
    Distrusted,
    /// Not decided yet.
    Undecided,
}

impl TrustLevel {
    fn as_str(self) -> &'static str {
        match self {
            Self::BlindTrust => "blind",
            Self::Verified => "verified",
            Self::Distrusted => "distrusted",
            Self::Undecided => "undecided",
        }
    }
    fn parse(s: &str) -> rusqlite::Result<Self> {
        Ok(match s {
            "blind" => Self::BlindTrust,
            "verified" => Self::Verified,
            "distrusted" => Self::Distrusted,
            "undecided" => Self::Undecided,
            _ => return Err(bad_text(s)),
        })
    }
}

/// A peer (or own) device's identity key and our trust in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OmemoIdentity {
    /// Bare JID of the device's owner.
    pub jid: String,
    /// OMEMO device id.
    pub device_id: u32,
    /// Public identity key bytes.
    pub identity_key: Vec<u8>,
    /// Trust.
    pub trust: TrustLevel,
}

impl Store {
    /// A setting's value.
    pub fn setting(&self, key: &str) -> Result<Option<String>> {
        Ok(self
            .conn
            .query_row("SELECT value FROM settings WHERE key = ?1", [key], |r| {
                r.get(0)
            })
            .optional()?)
    }

    /// Every setting whose key starts with `prefix`, by key.
    pub fn settings_with_prefix(
        &self,
        prefix: &str,
    ) -> Result<std::collections::BTreeMap<String, String>> {
        let mut stmt = self
            .conn
            .prepare("SELECT key, value FROM settings WHERE substr(key, 1, length(?1)) = ?1")?;
        let rows = stmt.query_map([prefix], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Sets (or with `None` deletes) a setting.
    pub fn set_setting(&mut self, key: &str, value: Option<&str>) -> Result<()> {
        match value {
            Some(v) => self.conn.execute(
                "INSERT INTO settings (key, value) VALUES (?1, ?2)
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                params![key, v],
            )?,
            None => self
                .conn
                .execute("DELETE FROM settings WHERE key = ?1", [key])?,
        };
        Ok(())
    }

    /// An OMEMO state blob of an account (zeroized when dropped).
    pub fn omemo_get(&self, account: AccountId, key: &str) -> Result<Option<Zeroizing<Vec<u8>>>> {
        Ok(self
            .conn
            .query_row(
                "SELECT value FROM omemo_state WHERE account_id = ?1 AND key = ?2",
                params![account.0, key],
                |r| r.get::<_, Vec<u8>>(0),
            )
            .optional()?
            .map(Zeroizing::new))
    }

    /// Sets an OMEMO state blob.
    pub fn omemo_set(&mut self, account: AccountId, key: &str, value: &[u8]) -> Result<()> {
        self.conn.execute(
            "INSERT INTO omemo_state (account_id, key, value) VALUES (?1, ?2, ?3)
             ON CONFLICT (account_id, key) DO UPDATE SET value = excluded.value",
            params![account.0, key, value],
        )?;
        Ok(())
    }

    /// Deletes an OMEMO state blob.
    pub fn omemo_remove(&mut self, account: AccountId, key: &str) -> Result<bool> {
        Ok(self.conn.execute(
            "DELETE FROM omemo_state WHERE account_id = ?1 AND key = ?2",
            params![account.0, key],
        )? > 0)
    }

    /// Records a device identity (first seen at `now`) or updates its key and trust.
    pub fn omemo_set_identity(
        &mut self,
        account: AccountId,
        identity: &OmemoIdentity,
        now: DateTime<Utc>,
    ) -> Result<()> {
        self.conn.execute(
            "INSERT INTO omemo_identities (account_id, jid, device_id, identity_key, trust,
                 first_seen) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT (account_id, jid, device_id) DO UPDATE SET
                 identity_key = excluded.identity_key, trust = excluded.trust",
            params![
                account.0,
                identity.jid,
                identity.device_id,
                identity.identity_key,
                identity.trust.as_str(),
                now.timestamp_millis()
            ],
        )?;
        Ok(())
    }

    /// Known device identities of `jid` for an account, by device id.
    pub fn omemo_identities(&self, account: AccountId, jid: &str) -> Result<Vec<OmemoIdentity>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT jid, device_id, identity_key, trust FROM omemo_identities
             WHERE account_id = ?1 AND jid = ?2 ORDER BY device_id",
        )?;
        let rows = stmt.query_map(params![account.0, jid], |r| {
            Ok(OmemoIdentity {
                jid: r.get(0)?,
                device_id: r.get(1)?,
                identity_key: r.get(2)?,
                trust: TrustLevel::parse(&r.get::<_, String>(3)?)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }
}
