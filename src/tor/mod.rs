//! The only way Talpa reaches the network: an embedded Arti client with per-account isolation.
//!
//! There is exactly one door out, [`TorClient::connect`]. Hostnames are handed to Tor
//! unresolved; nothing here performs a local DNS lookup, and there is no direct-connection path.
//! In system-Tor mode (Tails, Whonix) the door is the system's SOCKS port instead of Arti.

mod circuit;
mod config;
mod isolation;
mod socks;
mod status;
mod stream;
mod unreachable;

use std::collections::HashMap;
use std::fs::DirBuilder;
use std::net::SocketAddr;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arti_client::StreamPrefs;
use arti_client::config::BoolOrAuto;
use tokio::sync::watch;
use tor_rtcompat::PreferredRuntime;
use tracing::{debug, info, warn};

pub use circuit::{CircuitInfo, RelayHop};
pub use config::{Authority, DEFAULT_OBFS4PROXY, Fallback, PrivateNetwork, TorConfig, TorMode};
pub use isolation::AccountIsolation;
pub use status::{TorState, TorStatus};
pub use stream::TorStream;
pub use unreachable::Unreachable;

/// Errors of the tor layer.
#[derive(Debug, thiserror::Error)]
pub enum TorError {
    /// The configuration (network file, bridge line, directories) is unusable.
    #[error("tor configuration: {0}")]
    Config(String),
    /// `launch` was called outside a tokio runtime.
    #[error("the tor layer needs a running tokio runtime")]
    NoRuntime,
    /// Arti reported an error (its text already starts with "tor: ").
    #[error("{0}")]
    Arti(#[from] arti_client::Error),
    /// Tor works, but the server did not answer through it: the exit relay told why (refused,
    /// host not found, exit policy …) or no answer came in time.
    #[error("the server did not answer through Tor ({0})")]
    Unreachable(Unreachable),
    /// Tor did not become ready within the caller's deadline.
    #[error("tor is not ready: {0}")]
    NotReady(String),
    /// The tor layer was shut down.
    #[error("the tor client has stopped")]
    Stopped,
    /// The system Tor's SOCKS proxy refused or failed.
    #[error("{0}")]
    Socks(String),
    /// The target host name is not something Tor can connect to.
    #[error("invalid connection target `{0}`")]
    InvalidTarget(String),
    /// Local I/O (state directories, the SOCKS socket).
    #[error("i/o: {0}")]
    Io(#[source] std::io::Error),
}

/// How long a failed bootstrap waits before the next attempt.
const BOOTSTRAP_RETRY: Duration = Duration::from_secs(15);

/// Talpa's handle on Tor. Cheap to clone; every clone is the same client.
#[derive(Clone)]
pub struct TorClient {
    inner: Arc<Inner>,
}

struct Inner {
    backend: Backend,
    status: watch::Receiver<TorStatus>,
    /// The circuit of each account's most recent stream, by `AccountIsolation::id`.
    circuits: Mutex<HashMap<u64, CircuitInfo>>,
    /// The private network the embedded client was built for (none: the public network).
    network: Option<PrivateNetwork>,
}

enum Backend {
    Embedded(Arc<arti_client::TorClient<PreferredRuntime>>),
    SystemSocks(SocketAddr),
}

impl std::fmt::Debug for TorClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mode = match &self.inner.backend {
            Backend::Embedded(_) => "embedded",
            Backend::SystemSocks(_) => "system-socks",
        };
        f.debug_struct("TorClient").field("mode", &mode).finish()
    }
}

impl TorClient {
    /// Start the tor layer. Returns at once; bootstrapping continues in the background and is
    /// reported through [`TorClient::status`]. Must be called inside a tokio runtime.
    #[allow(
        clippy::needless_pass_by_value,
        reason = "the shared tor-layer contract takes the configuration by value"
    )]
    pub fn launch(config: TorConfig) -> Result<TorClient, TorError> {
        install_crypto_provider();
        let handle = tokio::runtime::Handle::try_current().map_err(|_| TorError::NoRuntime)?;
        match config.mode {
            TorMode::SystemSocks { addr } => {
                let (_tx, rx) = watch::channel(TorStatus {
                    state: TorState::Ready,
                    text: format!("Using the system Tor at {addr}"),
                });
                info!(%addr, "tor: system SOCKS mode");
                Ok(TorClient {
                    inner: Arc::new(Inner {
                        backend: Backend::SystemSocks(addr),
                        status: rx,
                        circuits: Mutex::default(),
                        network: None,
                    }),
                })
            }
            TorMode::Embedded => {
                make_private_dir(&config.profile_dir.join("tor"))?;
                make_private_dir(&config.network_dir())?;
                make_private_dir(&config.state_dir())?;
                make_private_dir(&config.cache_dir())?;
                let arti_config = config
                    .arti_builder()?
                    .build()
                    .map_err(|e| TorError::Config(e.to_string()))?;
                let runtime = PreferredRuntime::current().map_err(|_| TorError::NoRuntime)?;
                let arti = arti_client::TorClient::with_runtime(runtime)
                    .config(arti_config)
                    .create_unbootstrapped()?;
                let (tx, rx) = watch::channel(TorStatus::starting());
                let tx = Arc::new(tx);
                handle.spawn(publish_status(arti.bootstrap_events(), Arc::clone(&tx)));
                handle.spawn(bootstrap_until_done(Arc::downgrade(&arti), tx));
                Ok(TorClient {
                    inner: Arc::new(Inner {
                        backend: Backend::Embedded(arti),
                        status: rx,
                        circuits: Mutex::default(),
                        network: config.network.clone(),
                    }),
                })
            }
        }
    }

    /// Applies a changed configuration (bridges, private network) to a running embedded client
    /// without restarting it; Arti keeps its state and rebuilds circuits as needed. A mode
    /// change (embedded ↔ system Tor) needs a new client instead.
    ///
    /// # Errors
    /// `Config` if the configuration is unusable or the mode differs from this client's.
    pub fn reconfigure(&self, config: &TorConfig) -> Result<(), TorError> {
        match (&self.inner.backend, &config.mode) {
            (Backend::Embedded(arti), TorMode::Embedded) => {
                let arti_config = config
                    .arti_builder()?
                    .build()
                    .map_err(|e| TorError::Config(e.to_string()))?;
                arti.reconfigure(&arti_config, arti_client::config::Reconfigure::AllOrNothing)
                    .map_err(|e| TorError::Config(e.to_string()))
            }
            (Backend::SystemSocks(addr), TorMode::SystemSocks { addr: new }) if addr == new => {
                Ok(())
            }
            _ => Err(TorError::Config(
                "a different Tor mode needs a new client".into(),
            )),
        }
    }

    /// Whether `other` is a handle on this very client.
    pub fn is_same(&self, other: &TorClient) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }

    /// The private network this (embedded) client was built for; none for the public network
    /// or the system's Tor.
    pub fn network(&self) -> Option<&PrivateNetwork> {
        self.inner.network.as_ref()
    }

    /// Whether this client uses the system's Tor (SOCKS) rather than the embedded one.
    pub fn is_system_socks(&self) -> bool {
        matches!(self.inner.backend, Backend::SystemSocks(_))
    }

    /// Tor's current state and every change to it.
    pub fn status(&self) -> watch::Receiver<TorStatus> {
        self.inner.status.clone()
    }

    /// Wait until Tor can carry traffic. Cancel by dropping the future.
    pub async fn wait_ready(&self) -> Result<(), TorError> {
        let mut rx = self.inner.status.clone();
        rx.wait_for(TorStatus::is_ready)
            .await
            .map(|_| ())
            .map_err(|_| TorError::Stopped)
    }

    /// Open a stream to `host:port` through Tor on `iso`'s circuits, waiting for Tor to be
    /// ready first (cancel by dropping the future, or use [`TorClient::connect_within`]).
    /// `host` goes to Tor as written — a name, an IP literal or a `.onion` address — and is
    /// never resolved locally.
    pub async fn connect(
        &self,
        iso: &AccountIsolation,
        host: &str,
        port: u16,
    ) -> Result<TorStream, TorError> {
        check_target(host)?;
        self.wait_ready().await?;
        match &self.inner.backend {
            Backend::Embedded(arti) => {
                let mut prefs = StreamPrefs::new();
                prefs
                    .set_isolation(iso.token())
                    .connect_to_onion_services(BoolOrAuto::Explicit(true));
                let stream = arti
                    .connect_with_prefs((host, port), &prefs)
                    .await
                    .map_err(|e| match Unreachable::of_arti(&e) {
                        Some(cause) => {
                            debug!(account = iso.id(), error = %e, "tor: the exit could not reach the server");
                            TorError::Unreachable(cause)
                        }
                        None => TorError::Arti(e),
                    })?;
                let circuit = circuit::of_stream(&stream);
                if let Some(info) = &circuit
                    && let Ok(mut map) = self.inner.circuits.lock()
                {
                    map.insert(iso.id(), info.clone());
                }
                debug!(account = iso.id(), circuit = ?circuit.as_ref().map(|c| &c.id), "tor: stream opened");
                Ok(TorStream::arti(stream))
            }
            Backend::SystemSocks(addr) => {
                let (user, pass) = iso.socks_credentials();
                let stream = socks::connect(*addr, user, pass, host, port).await?;
                debug!(account = iso.id(), "tor: stream opened via system Tor");
                Ok(TorStream::socks(stream))
            }
        }
    }

    /// The circuit of the most recent stream `iso` opened (embedded Arti only; `None` in
    /// system-Tor mode or before the account's first stream).
    pub fn circuit_of(&self, iso: &AccountIsolation) -> Option<CircuitInfo> {
        self.inner.circuits.lock().ok()?.get(&iso.id()).cloned()
    }

    /// [`TorClient::connect`], giving up with [`TorError::NotReady`] if Tor is not ready and
    /// the stream not open within `timeout`.
    pub async fn connect_within(
        &self,
        iso: &AccountIsolation,
        host: &str,
        port: u16,
        timeout: Duration,
    ) -> Result<TorStream, TorError> {
        match tokio::time::timeout(timeout, self.connect(iso, host, port)).await {
            Ok(result) => result,
            Err(_) => Err(TorError::NotReady(self.inner.status.borrow().text.clone())),
        }
    }
}

/// Arti panics without a process-wide rustls provider; install ring's once.
fn install_crypto_provider() {
    // An error only means some provider is already installed, which is what we need.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Create `dir` (and parents) with mode 0700, tightening it if it already exists.
fn make_private_dir(dir: &Path) -> Result<(), TorError> {
    DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(TorError::Io)?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(TorError::Io)
}

/// Reject targets Tor cannot use before anything leaves the process.
fn check_target(host: &str) -> Result<(), TorError> {
    let ok = !host.is_empty()
        && host.len() <= 255
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ':' | '[' | ']'));
    if ok {
        Ok(())
    } else {
        Err(TorError::InvalidTarget(host.to_owned()))
    }
}

/// Forward Arti's bootstrap reports to the watch channel until nobody listens.
async fn publish_status(
    mut events: arti_client::status::BootstrapEvents,
    tx: Arc<watch::Sender<TorStatus>>,
) {
    use futures::StreamExt as _;
    loop {
        tokio::select! {
            event = events.next() => match event {
                Some(status) => {
                    let status = TorStatus::from_arti(&status);
                    tx.send_if_modified(|current| {
                        let changed = *current != status;
                        *current = status;
                        changed
                    });
                }
                None => break,
            },
            () = tx.closed() => break,
        }
    }
}

/// Bootstrap, retrying after failures, while the client exists.
async fn bootstrap_until_done(
    arti: std::sync::Weak<arti_client::TorClient<PreferredRuntime>>,
    tx: Arc<watch::Sender<TorStatus>>,
) {
    loop {
        let Some(client) = arti.upgrade() else { return };
        match client.bootstrap().await {
            Ok(()) => {
                info!("tor: bootstrapped");
                let status = TorStatus::from_arti(&client.bootstrap_status());
                tx.send_replace(status);
                return;
            }
            Err(e) => {
                warn!(error = %e, "tor: bootstrap failed; retrying");
                tx.send_replace(TorStatus {
                    state: TorState::Failed {
                        reason: e.to_string(),
                    },
                    text: format!("Tor bootstrap failed: {e}"),
                });
            }
        }
        drop(client);
        tokio::time::sleep(BOOTSTRAP_RETRY).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn target_check_accepts_names_ips_and_onions() {
        for ok in [
            "talpa.test",
            "127.0.0.1",
            "[::1]",
            "abc.onion",
            "a-b_c.example",
        ] {
            assert!(check_target(ok).is_ok(), "{ok}");
        }
        for bad in ["", "a b", "x\0y", "ex/ample"] {
            assert!(check_target(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn launch_outside_a_runtime_is_an_error_not_a_panic() {
        let dir = tempfile::tempdir().expect("tempdir");
        let err = TorClient::launch(TorConfig::new(dir.path())).expect_err("no runtime");
        assert!(matches!(err, TorError::NoRuntime));
    }

    #[tokio::test]
    async fn launch_creates_private_state_and_cache_dirs() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut config = TorConfig::new(dir.path());
        // A network nobody runs: launch must still succeed and bootstrap in the background.
        config.network = Some(PrivateNetwork::from_json(config::tests::NETWORK).expect("network"));
        let client = TorClient::launch(config.clone()).expect("launch");
        for d in [
            config.state_dir(),
            config.cache_dir(),
            dir.path().join("tor"),
        ] {
            let mode = std::fs::metadata(&d)
                .expect("dir exists")
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o700, "{}", d.display());
        }
        assert!(!client.status().borrow().is_ready());
    }

    #[tokio::test]
    async fn connect_waits_for_readiness_and_gives_up_at_the_callers_deadline() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut config = TorConfig::new(dir.path());
        config.network = Some(PrivateNetwork::from_json(config::tests::NETWORK).expect("network"));
        let client = TorClient::launch(config).expect("launch");
        let err = client
            .connect_within(
                &AccountIsolation::new(),
                "talpa.test",
                5222,
                Duration::from_millis(300),
            )
            .await
            .expect_err("a network nobody runs never becomes ready");
        assert!(matches!(err, TorError::NotReady(_)), "{err}");
    }
}
