//! Minimal local stand-in for the shared `tests/support` bed API, used by the xmpp tests
//! until the harness branch lands: reads `$TALPA_BED_DIR/bed.json` (default
//! `/root/.cache/talpa/bed`), starting the bed with `tests/harness/bed.py ensure` when that
//! script exists. Fails loudly when no bed can be had.
#![allow(dead_code, reason = "each test binary uses a different subset")]

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};

/// The running test bed.
pub struct Bed {
    pub dir: PathBuf,
    pub domain: String,
    pub host: String,
    pub c2s_port: u16,
    pub c2s_direct_tls_port: u16,
    pub ca_cert: PathBuf,
    pub prosody_config: PathBuf,
    pub prosody_log: PathBuf,
}

static BED: OnceLock<Bed> = OnceLock::new();
static COUNTER: AtomicU32 = AtomicU32::new(0);

fn bed_dir() -> PathBuf {
    std::env::var_os("TALPA_BED_DIR")
        .map_or_else(|| PathBuf::from("/root/.cache/talpa/bed"), PathBuf::from)
}

/// Returns the bed, starting it if needed; panics (failing the test) when impossible.
pub fn bed() -> &'static Bed {
    BED.get_or_init(|| {
        let dir = bed_dir();
        let file = dir.join("bed.json");
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/harness/bed.py");
        if script.exists() {
            let out = Command::new("python3")
                .arg(&script)
                .args(["ensure", "--dir"])
                .arg(&dir)
                .output()
                .expect("run bed.py");
            assert!(
                out.status.success(),
                "bed.py ensure failed:\n{}\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let text = std::fs::read_to_string(&file)
            .unwrap_or_else(|e| panic!("no test bed at {}: {e}", file.display()));
        let v: serde_json::Value = serde_json::from_str(&text).expect("bed.json");
        let p = &v["prosody"];
        Bed {
            dir: dir.clone(),
            domain: v["domain"].as_str().expect("domain").to_owned(),
            host: p["host"].as_str().unwrap_or("127.0.0.1").to_owned(),
            c2s_port: p["c2s_port"].as_u64().expect("c2s_port") as u16,
            c2s_direct_tls_port: p["c2s_direct_tls_port"].as_u64().unwrap_or(0) as u16,
            ca_cert: PathBuf::from(v["ca_cert"].as_str().expect("ca_cert")),
            prosody_config: PathBuf::from(p["config"].as_str().expect("config")),
            prosody_log: PathBuf::from(p["log"].as_str().unwrap_or("")),
        }
    })
}

impl Bed {
    /// Registers a fresh account; returns `(jid, password)`.
    pub fn new_account(&self, prefix: &str) -> (String, String) {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let user = format!("{prefix}{}x{n}", std::process::id());
        let password = format!("pw-{user}-{}", uuid::Uuid::new_v4());
        let out = Command::new("prosodyctl")
            .arg("--config")
            .arg(&self.prosody_config)
            .args(["register", &user, &self.domain, &password])
            .output()
            .expect("run prosodyctl");
        assert!(
            out.status.success(),
            "prosodyctl register failed:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (format!("{user}@{}", self.domain), password)
    }

    /// The bed CA as PEM.
    pub fn ca_pem(&self) -> String {
        std::fs::read_to_string(&self.ca_cert).expect("read ca.pem")
    }
}

use talpa::xmpp::connector::{BoxedStream, StreamOpener, TlsMode};
use talpa::xmpp::session::{Session, SessionConfig, SessionEvent};
use talpa::xmpp::{TrustAnchor, XmppError};
use tokio::sync::mpsc::UnboundedReceiver;

/// An opener connecting plain TCP to `host:port` (tests only; the product uses Tor).
pub fn tcp_opener(host: &str, port: u16) -> StreamOpener {
    let addr = format!("{host}:{port}");
    std::sync::Arc::new(move || {
        let addr = addr.clone();
        Box::pin(async move {
            let s = tokio::net::TcpStream::connect(&addr)
                .await
                .map_err(|e| XmppError::Open(e.to_string()))?;
            Ok(Box::new(s) as BoxedStream)
        })
    })
}

/// A session configuration trusting the bed CA.
pub fn config(jid: &str, password: &str, mode: TlsMode, trust: TrustAnchor) -> SessionConfig {
    SessionConfig {
        jid: jid.parse().expect("jid"),
        password: zeroize::Zeroizing::new(password.to_owned()),
        tls_mode: mode,
        trust,
        require_channel_binding: false,
        timeouts: tokio_xmpp::xmlstream::Timeouts::tight(),
    }
}

/// Logs `jid` in over STARTTLS to the bed's Prosody.
pub async fn connect(jid: &str, password: &str) -> (Session, UnboundedReceiver<SessionEvent>) {
    let b = bed();
    let (s, ev, _) = Session::connect(
        config(
            jid,
            password,
            TlsMode::StartTls,
            TrustAnchor::ExtraCaPem(b.ca_pem()),
        ),
        tcp_opener(&b.host, b.c2s_port),
    )
    .await
    .unwrap_or_else(|e| {
        panic!(
            "login of {jid} failed: {e} (prosody log: {})",
            b.prosody_log.display()
        )
    });
    (s, ev)
}

/// Waits (up to 20 s) for the first event matching `f`.
pub async fn wait_for<T>(
    ev: &mut UnboundedReceiver<SessionEvent>,
    mut f: impl FnMut(&SessionEvent) -> Option<T>,
) -> T {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let e = tokio::time::timeout_at(deadline, ev.recv())
            .await
            .expect("timed out waiting for event")
            .expect("event channel closed");
        if let Some(t) = f(&e) {
            return t;
        }
    }
}
