//! What the user (or a test) tells the tor layer: where to keep state, which network to join,
//! which bridges to use, and whether to embed Arti or use the system's Tor.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use arti_client::config::{BridgeConfigBuilder, TorClientConfigBuilder};
use serde::Deserialize;
use serde_json::json;

use super::TorError;

/// The largest `--tor-network` file read (real ones are a few hundred bytes per relay).
pub const MAX_NETWORK_FILE: u64 = 1 << 20;

/// Where `obfs4` bridges find their pluggable-transport binary unless told otherwise.
pub const DEFAULT_OBFS4PROXY: &str = "/usr/bin/obfs4proxy";

/// How Talpa reaches Tor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TorMode {
    /// Embedded Arti client (the default and the only choice on an ordinary desktop).
    Embedded,
    /// A Tor SOCKS port the operating system already runs and forces (Tails, Whonix).
    /// Each account gets its own SOCKS credentials so `IsolateSOCKSAuth` keeps them apart.
    SystemSocks {
        /// The SOCKS5 listener, e.g. `127.0.0.1:9050`.
        addr: SocketAddr,
    },
}

/// Configuration of the tor layer for one profile.
#[derive(Debug, Clone)]
pub struct TorConfig {
    /// The profile directory; Arti keeps its state and cache under `<profile>/tor` in it
    /// ([`TorConfig::network_dir`]).
    pub profile_dir: PathBuf,
    /// Embedded Arti or the system's Tor.
    pub mode: TorMode,
    /// A private Tor network to join instead of the public one (`--tor-network FILE`).
    pub network: Option<PrivateNetwork>,
    /// Bridge lines (`[transport] addr:port fingerprint [k=v ...]`); empty for none.
    pub bridges: Vec<String>,
    /// Pluggable-transport binary used for `obfs4` bridge lines.
    pub obfs4proxy: PathBuf,
}

impl TorConfig {
    /// An embedded Arti client on the public Tor network, its state under `profile_dir`.
    pub fn new(profile_dir: impl Into<PathBuf>) -> Self {
        Self {
            profile_dir: profile_dir.into(),
            mode: TorMode::Embedded,
            network: None,
            bridges: Vec::new(),
            obfs4proxy: PathBuf::from(DEFAULT_OBFS4PROXY),
        }
    }

    /// Checks the configuration (bridge lines, transports, network) without starting anything.
    ///
    /// # Errors
    /// `Config` naming what is wrong, e.g. an unparsable bridge line.
    pub fn validate(&self) -> Result<(), TorError> {
        if let TorMode::SystemSocks { .. } = self.mode {
            return Ok(());
        }
        self.arti_builder()?
            .build()
            .map(|_| ())
            .map_err(|e| TorError::Config(e.to_string()))
    }

    /// Arti's persistent state (guards and such): `<profile>/tor/state`, or under the private
    /// network's own directory ([`TorConfig::network_dir`]).
    pub fn state_dir(&self) -> PathBuf {
        self.network_dir().join("state")
    }

    /// Arti's directory cache: `<profile>/tor/cache`, or under the private network's own
    /// directory ([`TorConfig::network_dir`]).
    pub fn cache_dir(&self) -> PathBuf {
        self.network_dir().join("cache")
    }

    /// `<profile>/tor` for the public network; `<profile>/tor/net-<id>` for a private one, so
    /// a test network's consensus and guards never mix with the public network's and a client
    /// for another network can start while the old one still holds its state lock.
    pub fn network_dir(&self) -> PathBuf {
        let tor = self.profile_dir.join("tor");
        match &self.network {
            None => tor,
            Some(network) => tor.join(format!("net-{}", network.id())),
        }
    }

    /// Translate into Arti's configuration builder (directories must already exist).
    pub(crate) fn arti_builder(&self) -> Result<TorClientConfigBuilder, TorError> {
        let mut builder =
            TorClientConfigBuilder::from_directories(self.state_dir(), self.cache_dir());
        // Trusting the user's self-named group would make Arti look the user and group up
        // through NSS (nsswitch.conf, nscd) — name-service traffic we want none of. Our
        // directories are 0700, so trusting no group costs nothing.
        builder.storage().permissions().trust_no_group_id();
        if let Some(network) = &self.network {
            network.apply(&mut builder)?;
        }
        self.apply_bridges(&mut builder)?;
        Ok(builder)
    }

    fn apply_bridges(&self, builder: &mut TorClientConfigBuilder) -> Result<(), TorError> {
        if self.bridges.is_empty() {
            return Ok(());
        }
        let mut transports = Vec::new();
        for line in &self.bridges {
            let bridge: BridgeConfigBuilder = line
                .trim()
                .trim_start_matches("Bridge ")
                .parse()
                .map_err(|e| TorError::Config(format!("bad bridge line: {e}")))?;
            if let Some(transport) = bridge.get_transport()
                && !transport.is_empty()
                && transport != "-"
                && !transports.iter().any(|t: &String| t == transport)
            {
                transports.push(transport.to_owned());
            }
            builder.bridges().bridges().push(bridge);
        }
        for transport in transports {
            if transport != "obfs4" {
                return Err(TorError::Config(format!(
                    "unsupported pluggable transport `{transport}` (only obfs4)"
                )));
            }
            let pt = serde_json::from_value(json!({
                "protocols": [transport],
                "path": self.obfs4proxy,
                "run_on_startup": false,
            }))
            .map_err(|e| TorError::Config(format!("pluggable transport: {e}")))?;
            builder.bridges().transports().push(pt);
        }
        Ok(())
    }
}

/// A private Tor network, as described by a `tor-network.json` file.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrivateNetwork {
    /// The directory authorities whose signatures make a consensus valid.
    pub authorities: Vec<Authority>,
    /// Directory caches to fetch the first consensus from.
    pub fallbacks: Vec<Fallback>,
    /// Relays run on local addresses (a test network): allow local addresses, don't treat
    /// relays on one address as one family, and accept a small guard sample.
    #[serde(default)]
    pub local_network: bool,
    /// Consensus parameters to override locally, as Arti names them (e.g. `hsdir_interval`:
    /// C tor on a `TestingTorNetwork` uses onion-service time periods as long as one
    /// shared-random run, 24 voting intervals, whatever the consensus says).
    #[serde(default)]
    pub net_params: std::collections::BTreeMap<String, i32>,
}

/// One directory authority of a private network.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Authority {
    /// The authority's nickname (informational).
    pub name: String,
    /// Its v3 identity: 40 hex digits.
    pub v3ident: String,
}

/// One fallback directory cache of a private network.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fallback {
    /// RSA identity fingerprint: 40 hex digits.
    pub rsa_identity: String,
    /// Ed25519 identity, base64 as tor writes it in `fingerprint-ed25519`.
    pub ed_identity: String,
    /// ORPorts, `ip:port`.
    pub orports: Vec<String>,
}

impl PrivateNetwork {
    /// A short stable name for this network (from its authorities' identities), used for its
    /// state directory.
    pub fn id(&self) -> String {
        use sha2::Digest as _;
        let mut hash = sha2::Sha256::new();
        for authority in &self.authorities {
            hash.update(authority.v3ident.to_ascii_uppercase().as_bytes());
            hash.update(b"\n");
        }
        hex::encode(&hash.finalize()[..8])
    }

    /// Read and check a `tor-network.json` file (at most [`MAX_NETWORK_FILE`] bytes: a
    /// mistaken path to a huge file, or `/dev/zero`, is refused instead of read into memory).
    pub fn from_file(path: &Path) -> Result<Self, TorError> {
        use std::io::Read as _;
        let unreadable = |e: std::io::Error| TorError::Config(format!("{}: {e}", path.display()));
        let mut text = String::new();
        std::fs::File::open(path)
            .map_err(unreadable)?
            .take(MAX_NETWORK_FILE + 1)
            .read_to_string(&mut text)
            .map_err(unreadable)?;
        if text.len() as u64 > MAX_NETWORK_FILE {
            return Err(TorError::Config(format!(
                "{}: too large for a network description (over {MAX_NETWORK_FILE} bytes)",
                path.display()
            )));
        }
        Self::from_json(&text)
    }

    /// Parse and check the JSON text of a network file.
    pub fn from_json(text: &str) -> Result<Self, TorError> {
        let network: Self = serde_json::from_str(text)
            .map_err(|e| TorError::Config(format!("tor network file: {e}")))?;
        if network.authorities.is_empty() || network.fallbacks.is_empty() {
            return Err(TorError::Config(
                "tor network file needs at least one authority and one fallback".into(),
            ));
        }
        // Build once so every identity and address is checked before launch.
        let mut scratch = TorClientConfigBuilder::default();
        network.apply(&mut scratch)?;
        Ok(network)
    }

    /// Write this network into Arti's configuration.
    pub(crate) fn apply(&self, builder: &mut TorClientConfigBuilder) -> Result<(), TorError> {
        let bad = |e: serde_json::Error| TorError::Config(format!("tor network file: {e}"));
        // Arti's builders deserialize from the same spelling the file uses; the upload,
        // download and vote lists are emptied so no public authority address is ever kept.
        let authorities = serde_json::from_value(json!({
            "v3idents": self.authorities.iter().map(|a| &a.v3ident).collect::<Vec<_>>(),
            "uploads": [],
            "downloads": [],
            "votes": [],
        }))
        .map_err(bad)?;
        *builder.tor_network().authorities() = authorities;
        let fallbacks = self
            .fallbacks
            .iter()
            .map(|f| {
                serde_json::from_value(json!({
                    "rsa_identity": f.rsa_identity,
                    "ed_identity": f.ed_identity,
                    "orports": f.orports,
                }))
                .map_err(bad)
            })
            .collect::<Result<Vec<_>, _>>()?;
        builder.tor_network().set_fallback_caches(fallbacks);
        if self.local_network {
            builder
                .path_rules()
                .ipv4_subnet_family_prefix(33)
                .ipv6_subnet_family_prefix(129);
            builder.address_filter().allow_local_addrs(true);
            builder
                .override_net_params()
                .insert("guard-min-filtered-sample-size".into(), 3);
        }
        for (name, value) in &self.net_params {
            builder.override_net_params().insert(name.clone(), *value);
        }
        builder
            .tor_network()
            .build()
            .map_err(|e| TorError::Config(format!("tor network: {e}")))?;
        Ok(())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A well-formed network file pointing at a port nothing listens on.
    pub(crate) const NETWORK: &str = r#"{
      "authorities": [{"name": "auth0", "v3ident": "E8B9448ED2414DF48878A70FD59E12780368F941"}],
      "fallbacks": [{"rsa_identity": "848A4D63B5391E50F190841D7CE1ED922B39ADC7",
                     "ed_identity": "gygkqY+cGHZ/OpFHvxCc+5VHMtpqW5ashcmB+liQai0",
                     "orports": ["127.0.0.1:9"]}],
      "local_network": true
    }"#;

    #[test]
    fn an_oversized_network_file_is_refused_without_reading_it_all() {
        let dir = tempfile::tempdir().expect("tempdir");
        let big = dir.path().join("tor-network.json");
        // Valid JSON (whitespace may follow), but no network file is a megabyte long.
        std::fs::write(&big, format!("{NETWORK}{}", " ".repeat(2 << 20))).expect("write");
        for path in [big.as_path(), Path::new("/dev/zero")] {
            let e = PrivateNetwork::from_file(path).expect_err("refused");
            assert!(e.to_string().contains("too large"), "{path:?}: {e}");
        }
        let fits = dir.path().join("fits.json");
        std::fs::write(&fits, NETWORK).expect("write");
        assert!(PrivateNetwork::from_file(&fits).is_ok());
    }

    #[test]
    fn network_file_is_parsed_and_builds_an_arti_config() {
        let network = PrivateNetwork::from_json(NETWORK).expect("valid");
        assert_eq!(network.authorities.len(), 1);
        assert!(network.local_network);
        let mut config = TorConfig::new("/nonexistent/profile");
        config.network = Some(network);
        config
            .arti_builder()
            .expect("builder")
            .build()
            .expect("arti config");
    }

    #[test]
    fn network_file_with_bad_identity_is_rejected() {
        let bad = NETWORK.replace("E8B9448ED2414DF48878A70FD59E12780368F941", "XYZ");
        assert!(matches!(
            PrivateNetwork::from_json(&bad),
            Err(TorError::Config(_))
        ));
        let bad = NETWORK.replace("127.0.0.1:9", "talpa.test:9");
        assert!(PrivateNetwork::from_json(&bad).is_err());
        assert!(PrivateNetwork::from_json(r#"{"authorities": [], "fallbacks": []}"#).is_err());
        assert!(PrivateNetwork::from_json("not json").is_err());
    }

    #[test]
    fn plain_and_obfs4_bridge_lines_build() {
        let mut config = TorConfig::new("/nonexistent/profile");
        config.bridges = vec![
            "192.0.2.1:443 848A4D63B5391E50F190841D7CE1ED922B39ADC7".into(),
            "Bridge obfs4 192.0.2.2:443 E7B7155212310DA2E9A7D1A5E06AAE463A7CED25 \
             cert=ssH+9rP8dG2NLDN2XuFw63hIO/9MNNinLmxQDpVa+7kTOa9/m+tGWT1SmSYpQ9uTBGa6Hw \
             iat-mode=0"
                .into(),
        ];
        config
            .arti_builder()
            .expect("builder")
            .build()
            .expect("arti config");
    }

    #[test]
    fn unknown_transport_and_garbage_bridge_lines_are_rejected() {
        let mut config = TorConfig::new("/nonexistent/profile");
        config.bridges =
            vec!["snowflake 192.0.2.3:80 2B280B23E1107BB62ABFC40DDCC8824814F80A72".into()];
        assert!(config.arti_builder().is_err());
        config.bridges = vec!["this is not a bridge".into()];
        assert!(config.arti_builder().is_err());
    }
}
