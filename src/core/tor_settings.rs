//! Tor settings and the tor layer's lifecycle in the core.
//!
//! The settings (embedded Arti or the system's Tor, the SOCKS address, bridge lines) live in
//! the encrypted profile: bridge lines are secrets for people behind censorship. So Tor starts
//! only once the profile is unlocked and its settings are known — a censored user's first
//! packet already goes to their bridge, never to the public directory — and it keeps running
//! across lock and unlock. A change of settings is applied at once: bridges and networks by
//! reconfiguring the running Arti client, a mode switch by handing the accounts a new client
//! (the accounts reconnect).

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

use crate::core::actor::tor_info;
use crate::core::error::CoreError;
use crate::core::events::{Event, TorStatusInfo};
use crate::core::shared::{SharedRef, lock};
use crate::store::{Store, keys};
use crate::tor::{PrivateNetwork, TorClient, TorConfig, TorMode};

/// How Talpa reaches Tor, as kept in the profile and shown in preferences.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct TorSettings {
    /// `embedded` (Arti inside Talpa, the default) or `system_socks` (a Tor the operating
    /// system already runs and forces, as on Tails or Whonix).
    #[serde(default = "embedded")]
    pub mode: String,
    /// The system Tor's SOCKS5 listener (`127.0.0.1:9050`), for `system_socks`.
    #[serde(default)]
    pub socks_addr: Option<String>,
    /// Whether the bridge lines are used (embedded mode).
    #[serde(default)]
    pub use_bridges: bool,
    /// Bridge lines (`[obfs4] addr:port fingerprint [k=v …]`), kept even while unused.
    #[serde(default)]
    pub bridges: Vec<String>,
    /// Upper bound, in seconds, of the random delay before each account connects (so several
    /// pseudonyms never log in together); none for the default (120). The `--startup-jitter`
    /// option overrides it.
    #[serde(default)]
    pub startup_jitter_secs: Option<u64>,
    /// A private Tor network for test networks: the JSON of a `tor-network.json` file
    /// (authorities and fallback relays); none for the public Tor network. The
    /// `--tor-network` option overrides it.
    #[serde(default)]
    pub private_network: Option<String>,
}

/// The largest start-up delay bound accepted (one hour).
pub const MAX_STARTUP_JITTER_SECS: u64 = 3600;

fn embedded() -> String {
    "embedded".into()
}

impl TorSettings {
    /// Reads the settings from the unlocked store (defaults where unset).
    pub(crate) fn load(store: &Store) -> Result<Self, CoreError> {
        let mode = store.setting(keys::TOR_MODE)?.unwrap_or_else(embedded);
        let socks_addr = store.setting(keys::TOR_SOCKS_ADDR)?;
        let use_bridges = store.setting(keys::TOR_USE_BRIDGES)?.as_deref() == Some("true");
        let bridges = store
            .setting(keys::TOR_BRIDGES)?
            .map(|b| {
                b.lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        let startup_jitter_secs = store
            .setting(keys::TOR_STARTUP_JITTER)?
            .and_then(|s| s.parse().ok());
        let private_network = store.setting(keys::TOR_PRIVATE_NETWORK)?;
        Ok(Self {
            mode,
            socks_addr,
            use_bridges,
            bridges,
            startup_jitter_secs,
            private_network,
        })
    }

    /// Writes the settings into the store.
    pub(crate) fn save(&self, store: &mut Store) -> Result<(), CoreError> {
        store.set_setting(keys::TOR_MODE, Some(&self.mode))?;
        store.set_setting(keys::TOR_SOCKS_ADDR, self.socks_addr.as_deref())?;
        store.set_setting(
            keys::TOR_USE_BRIDGES,
            Some(if self.use_bridges { "true" } else { "false" }),
        )?;
        let bridges = self.bridges.join("\n");
        store.set_setting(
            keys::TOR_BRIDGES,
            (!bridges.is_empty()).then_some(bridges.as_str()),
        )?;
        let jitter = self.startup_jitter_secs.map(|s| s.to_string());
        store.set_setting(keys::TOR_STARTUP_JITTER, jitter.as_deref())?;
        store.set_setting(keys::TOR_PRIVATE_NETWORK, self.private_network.as_deref())?;
        Ok(())
    }

    /// Normalises and checks the settings, and builds the tor layer's configuration from them
    /// (the `--tor-network` file, if given, in place of the stored private network). Nothing
    /// is started.
    pub(crate) fn normalize_into_config(
        &mut self,
        profile_dir: &std::path::Path,
        network: Option<&std::path::Path>,
    ) -> Result<TorConfig, CoreError> {
        let bad = |m: String| CoreError::InvalidInput(m);
        if let Some(s) = self.startup_jitter_secs
            && s > MAX_STARTUP_JITTER_SECS
        {
            return Err(bad(format!(
                "a start-up delay of {s} s is more than the {MAX_STARTUP_JITTER_SECS} s allowed"
            )));
        }
        self.bridges = self
            .bridges
            .iter()
            .flat_map(|b| b.lines())
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(str::to_owned)
            .collect();
        self.socks_addr = self
            .socks_addr
            .take()
            .map(|a| a.trim().to_owned())
            .filter(|a| !a.is_empty());
        let mut config = TorConfig::new(profile_dir);
        config.mode = match self.mode.as_str() {
            "embedded" => TorMode::Embedded,
            "system_socks" => {
                let addr = self.socks_addr.as_deref().ok_or_else(|| {
                    bad("system Tor mode needs the SOCKS address, e.g. 127.0.0.1:9050".into())
                })?;
                let addr: SocketAddr = addr.parse().map_err(|_| {
                    bad(format!(
                        "{addr:?} is not a SOCKS address (IP:port, e.g. 127.0.0.1:9050)"
                    ))
                })?;
                TorMode::SystemSocks { addr }
            }
            other => {
                return Err(bad(format!(
                    "unknown Tor mode {other:?} (embedded or system_socks)"
                )));
            }
        };
        if self.use_bridges && self.bridges.is_empty() {
            return Err(bad(
                "bridges are switched on but no bridge line is given".into()
            ));
        }
        if self.use_bridges && config.mode != TorMode::Embedded {
            return Err(bad(
                "bridges apply to the embedded Tor; the system Tor has its own".into(),
            ));
        }
        self.private_network = self
            .private_network
            .take()
            .map(|n| n.trim().to_owned())
            .filter(|n| !n.is_empty());
        let stored = match &self.private_network {
            Some(json) => Some(
                PrivateNetwork::from_json(json)
                    .map_err(|e| bad(format!("the private Tor network: {e}")))?,
            ),
            None => None,
        };
        if let Some(path) = network {
            config.network = Some(
                PrivateNetwork::from_file(path)
                    .map_err(|e| CoreError::Tor(format!("the --tor-network file: {e}")))?,
            );
        } else {
            config.network = stored;
        }
        // Bridge lines are checked even while unused, so a typo surfaces when it is typed.
        let mut check = config.clone();
        check.mode = TorMode::Embedded;
        check.bridges.clone_from(&self.bridges);
        check
            .validate()
            .map_err(|e| bad(format!("bridge lines: {e}")))?;
        if self.use_bridges {
            config.bridges.clone_from(&self.bridges);
        }
        Ok(config)
    }
}

/// The running tor layer: the client the accounts use now, and the embedded client kept for
/// reuse when the mode switches back.
#[derive(Default)]
pub(crate) struct TorRunner {
    applied: Option<TorSettings>,
    embedded: Option<TorClient>,
}

impl TorRunner {
    /// Brings the tor layer in line with `settings`. Returns the client to hand the accounts
    /// and whether it replaced another one (the accounts must then reconnect), or `None`
    /// when nothing changed.
    pub(crate) fn apply(
        &mut self,
        mut settings: TorSettings,
        profile_dir: &std::path::Path,
        network: Option<&std::path::Path>,
        shared: &SharedRef,
    ) -> Result<Option<TorClient>, CoreError> {
        let config = settings.normalize_into_config(profile_dir, network)?;
        // The start-up delay is the accounts' business; changing it alone leaves Tor be.
        settings.startup_jitter_secs = None;
        if self.applied.as_ref() == Some(&settings) {
            return Ok(None);
        }
        let client = match (&config.mode, &self.embedded) {
            (TorMode::Embedded, Some(running)) if running.network() == config.network.as_ref() => {
                running
                    .reconfigure(&config)
                    .map_err(|e| CoreError::Tor(e.to_string()))?;
                running.clone()
            }
            (TorMode::Embedded, _) => {
                // First start, or another network: a client of its own (its state lives in
                // the network's own directory, so the old one's lock is no obstacle).
                let client =
                    TorClient::launch(config).map_err(|e| CoreError::Tor(e.to_string()))?;
                self.embedded = Some(client.clone());
                forward_status(&client, shared);
                client
            }
            (TorMode::SystemSocks { .. }, _) => {
                let client =
                    TorClient::launch(config).map_err(|e| CoreError::Tor(e.to_string()))?;
                forward_status(&client, shared);
                client
            }
        };
        *lock(&shared.tor) = Some(client.clone());
        let _ = shared
            .events
            .send(Event::TorStatus(tor_info(&client.status().borrow())));
        self.applied = Some(settings);
        Ok(Some(client))
    }

    /// Forgets everything (after a wipe): the next `apply` starts from scratch.
    pub(crate) fn reset(&mut self) {
        self.applied = None;
        self.embedded = None;
    }
}

/// Forwards `client`'s status changes as `tor_status` events while it is alive and the one
/// the accounts use.
fn forward_status(client: &TorClient, shared: &SharedRef) {
    let mut status = client.status();
    let shared = shared.clone();
    let client = client.clone();
    tokio::spawn(async move {
        let mut last: Option<(String, u8)> = None;
        loop {
            let info = tor_info(&status.borrow_and_update());
            // Directory refreshes change the text every few seconds; front ends only need to
            // hear about changes of state or progress.
            let key = (info.state.clone(), info.percent);
            if last.as_ref() != Some(&key) && shared.is_current_tor(&client) {
                last = Some(key);
                let _ = shared.events.send(Event::TorStatus(info));
            }
            if status.changed().await.is_err() {
                break;
            }
        }
    });
}

/// What `tor_status` says while no client runs.
pub(crate) fn not_running(unlocked: bool) -> TorStatusInfo {
    if unlocked {
        TorStatusInfo {
            state: "failed".into(),
            percent: 0,
            text: "Tor could not start with the current settings; Talpa will not connect".into(),
        }
    } else {
        TorStatusInfo {
            state: "not_started".into(),
            percent: 0,
            text: "Tor starts when the profile is unlocked (its settings are encrypted)".into(),
        }
    }
}

/// What is wrong with one bridge line, in the tor layer's words; `None` for a usable line (or
/// an empty line or `#` comment, which are ignored). Nothing is started or stored: front ends
/// use it to point at the line a refused `set_tor_settings` tripped over.
pub fn bridge_line_problem(line: &str) -> Option<String> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    // The profile directory only names Arti's state and cache; checking touches neither.
    let mut config = TorConfig::new(std::path::Path::new("/nonexistent"));
    config.bridges = vec![line.to_owned()];
    config.validate().err().map(|e| e.to_string())
}

/// What a usable private Tor network file (`--tor-network`'s JSON) describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NetworkFileSummary {
    /// How many directory authorities it names.
    pub authorities: usize,
    /// How many fallback relays it names.
    pub fallbacks: usize,
}

/// Why a private Tor network file cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NetworkFileError {
    /// The text is not a network description, or one of its identities or addresses is
    /// wrong (the tor layer's words).
    #[error("{0}")]
    Unusable(String),
}

/// Checks the text of a private Tor network file the way Tor will read it (nothing is
/// started or stored), so front ends can say what a chosen file describes before applying it.
pub fn check_network_file(text: &str) -> Result<NetworkFileSummary, NetworkFileError> {
    PrivateNetwork::from_json(text)
        .map(|n| NetworkFileSummary {
            authorities: n.authorities.len(),
            fallbacks: n.fallbacks.len(),
        })
        .map_err(|e| NetworkFileError::Unusable(e.to_string()))
}

#[cfg(test)]
mod bridge_line_tests {
    use super::bridge_line_problem;

    #[test]
    fn bad_bridge_lines_are_named_and_good_ones_pass() {
        assert!(bridge_line_problem("this is not a bridge line").is_some());
        assert!(
            bridge_line_problem("127.0.0.1:9 0123456789ABCDEF0123456789ABCDEF01234567").is_none()
        );
        assert!(bridge_line_problem("# a comment").is_none());
        assert!(bridge_line_problem("   ").is_none());
    }
}

#[cfg(test)]
mod network_file_tests {
    use super::{NetworkFileError, check_network_file};

    #[test]
    fn a_network_file_is_summarised_or_refused_with_a_reason() {
        let Err(NetworkFileError::Unusable(why)) = check_network_file("{not json") else {
            panic!("broken JSON accepted");
        };
        assert!(!why.is_empty());
        assert!(check_network_file(r#"{"authorities": [], "fallbacks": []}"#).is_err());
    }
}
