//! Shared integration-test support: the real test bed (Prosody + a private Tor network + a C
//! tor client, started by `tests/harness/bed.py`) and Python peers (`tests/harness/peer.py`).
//!
//! Use with `mod support;` in an integration test. Every helper panics with the relevant logs
//! when a component cannot start, so a test that needs the bed fails loudly, never silently.
#![allow(dead_code)] // Each test binary uses a subset of these helpers.
#![allow(clippy::missing_panics_doc)]

pub mod dot;
pub mod headless;

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::OnceLock;
use std::sync::mpsc::{Receiver, RecvTimeoutError, TryRecvError, channel};
use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::Value;

/// Directory of the harness scripts.
pub fn harness_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("harness")
}

/// The bed's directory: `$TALPA_BED_DIR` or `/root/.cache/talpa/bed`.
pub fn bed_dir() -> PathBuf {
    std::env::var_os("TALPA_BED_DIR")
        .map_or_else(|| PathBuf::from("/root/.cache/talpa/bed"), PathBuf::from)
}

/// Prosody's part of `bed.json`.
#[derive(Debug, Clone, Deserialize)]
pub struct Prosody {
    /// Address Prosody listens on (127.0.0.1).
    pub host: String,
    /// Client-to-server port (STARTTLS).
    pub c2s_port: u16,
    /// Client-to-server port with direct TLS (XEP-0368).
    pub c2s_direct_tls_port: u16,
    /// HTTP port (XEP-0363 uploads at `upload.talpa.test`).
    pub http_port: u16,
    /// Generated Prosody config file.
    pub config: PathBuf,
    /// Prosody's info log.
    pub log: PathBuf,
    /// Prosody's debug log: every stanza sent and received, in clear.
    #[serde(default)]
    pub stanza_log: Option<PathBuf>,
    /// Prosody's pid.
    pub pid: u32,
}

/// One relay of the private Tor network.
#[derive(Debug, Clone, Deserialize)]
pub struct Relay {
    /// Nickname (`relay1`, ...).
    pub nickname: String,
    /// ORPort on 127.0.0.1.
    pub or_port: u16,
    /// Process id.
    pub pid: u32,
    /// Whether it is an exit (accepting 127.0.0.1).
    pub exit: bool,
    /// Its DataDirectory.
    pub data_dir: PathBuf,
    /// RSA identity, 40 hex digits.
    #[serde(default)]
    pub rsa_identity: String,
    /// Ed25519 identity, base64 as tor writes it.
    #[serde(default)]
    pub ed_identity: String,
}

/// One directory authority of the private Tor network.
#[derive(Debug, Clone, Deserialize)]
pub struct Authority {
    /// Nickname (`auth0`, ...).
    pub nickname: String,
    /// ORPort on 127.0.0.1.
    pub or_port: u16,
    /// DirPort on 127.0.0.1.
    pub dir_port: u16,
    /// Process id.
    pub pid: u32,
    /// v3 identity (authority certificate fingerprint), 40 hex digits.
    #[serde(default)]
    pub v3ident: String,
    /// RSA identity, 40 hex digits.
    #[serde(default)]
    pub rsa_identity: String,
}

/// The Tor part of `bed.json`.
#[derive(Debug, Clone, Deserialize)]
pub struct Tor {
    /// The `--tor-network` file describing the private network (for Arti).
    pub network_file: PathBuf,
    /// SocksPort of the bed's C tor client (127.0.0.1).
    pub socks_port: u16,
    /// Relays (not authorities).
    pub relays: Vec<Relay>,
    /// Directory authorities.
    pub authorities: Vec<Authority>,
}

/// The running test bed, as described by `DIR/bed.json`.
#[derive(Debug, Clone, Deserialize)]
pub struct Bed {
    /// The bed's directory.
    pub dir: PathBuf,
    /// XMPP domain (`talpa.test`).
    pub domain: String,
    /// MUC service domain (`rooms.talpa.test`).
    pub muc_domain: String,
    /// Prosody.
    pub prosody: Prosody,
    /// The CA that signed Prosody's certificate.
    pub ca_cert: PathBuf,
    /// The private Tor network and the C tor client.
    pub tor: Tor,
    /// Python of the peers' venv.
    pub venv_python: PathBuf,
    /// Prosody as a v3 onion service on the private network (`….onion`, ports 5222 and 5223);
    /// empty for a bed started by an older `bed.py`.
    #[serde(default)]
    pub onion: String,
}

static BED: OnceLock<Bed> = OnceLock::new();

/// The shared test bed, started on first use (or reused if one is already live).
///
/// Panics with the failing component's log if anything cannot start.
pub fn bed() -> &'static Bed {
    BED.get_or_init(|| ensure_bed(&bed_dir(), &[]))
}

/// Runs `bed.py ensure --dir DIR` (after the venv setup) and reads its `bed.json`.
fn ensure_bed(dir: &Path, extra: &[&str]) -> Bed {
    let venv = Command::new("sh")
        .arg(harness_dir().join("setup-venv.sh"))
        .output()
        .expect("cannot run setup-venv.sh");
    assert!(
        venv.status.success(),
        "setup-venv.sh failed ({}):\n{}\n{}",
        venv.status,
        String::from_utf8_lossy(&venv.stdout),
        String::from_utf8_lossy(&venv.stderr)
    );
    let out = Command::new("python3")
        .arg(harness_dir().join("bed.py"))
        .arg("ensure")
        .arg("--dir")
        .arg(dir)
        .args(extra)
        .output()
        .expect("cannot run bed.py");
    assert!(
        out.status.success(),
        "bed.py ensure failed ({}):\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(dir.join("bed.json")).expect("bed.json missing");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("bad bed.json: {e}\n{text}"))
}

/// A bed of one's own, for a test that kills relays or restarts the server (never do that to
/// the shared one): started in a fresh directory under `/root/.cache/talpa/beds`, stopped and
/// removed when dropped — also when the test panics.
pub struct OwnBed {
    bed: Bed,
}

impl OwnBed {
    /// Starts a new bed in `/root/.cache/talpa/beds/<tag>-<random>` (panics with the failing
    /// component's log if it cannot).
    pub fn start(tag: &str) -> OwnBed {
        Self::start_with(tag, &[])
    }

    /// Like [`OwnBed::start`] with extra `bed.py ensure` arguments (`--relays N`, `--exits N`).
    pub fn start_with(tag: &str, args: &[&str]) -> OwnBed {
        let dir = PathBuf::from("/root/.cache/talpa/beds").join(format!("{tag}-{}", random_hex(4)));
        std::fs::create_dir_all(&dir).expect("cannot create the bed directory");
        // Stop whatever did start if `ensure` fails half-way.
        let guard = StopOnDrop(dir.clone());
        let bed = ensure_bed(&dir, args);
        std::mem::forget(guard);
        OwnBed { bed }
    }
}

impl std::ops::Deref for OwnBed {
    type Target = Bed;
    fn deref(&self) -> &Bed {
        &self.bed
    }
}

impl Drop for OwnBed {
    fn drop(&mut self) {
        drop(StopOnDrop(self.bed.dir.clone()));
    }
}

struct StopOnDrop(PathBuf);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        let _ = Command::new("python3")
            .arg(harness_dir().join("bed.py"))
            .arg("stop")
            .arg("--dir")
            .arg(&self.0)
            .output();
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A random lowercase hex string of `n` bytes.
pub fn random_hex(n: usize) -> String {
    hex::encode((0..n).map(|_| rand::random::<u8>()).collect::<Vec<u8>>())
}

/// A unique message text, so a search of the logs for it cannot hit anything else.
pub fn secret(label: &str) -> String {
    format!("{label} {}", random_hex(12))
}

/// A Python peer with OMEMO (python-omemo, both versions) for `jid`.
pub fn omemo_peer(bed: &Bed, jid: &str, password: &str) -> Peer {
    Peer::spawn_with(
        bed,
        jid,
        password,
        &PeerOptions {
            omemo: true,
            ..PeerOptions::default()
        },
    )
}

impl Bed {
    /// Everything Prosody's stanza log holds so far (every stanza it received or sent).
    pub fn stanza_log_text(&self) -> String {
        let path = self
            .prosody
            .stanza_log
            .as_ref()
            .expect("the bed logs every stanza (stanza_log in bed.json)");
        std::fs::read_to_string(path).expect("read Prosody's stanza log")
    }

    /// Registers a new account `prefix-<random>@talpa.test`; returns `(bare jid, password)`.
    pub fn new_account(&self, prefix: &str) -> (String, String) {
        let user = format!("{}-{}", prefix.to_lowercase(), random_hex(6));
        let password = random_hex(12);
        self.adduser(&user, &password);
        (format!("{user}@{}", self.domain), password)
    }

    /// Every address the private Tor network listens on (relay and authority ORPorts,
    /// authority DirPorts): the only places a Tor client may connect to (for leak checks).
    pub fn tor_endpoints(&self) -> Vec<std::net::SocketAddr> {
        let ip = std::net::Ipv4Addr::LOCALHOST;
        let mut out: Vec<std::net::SocketAddr> = self
            .tor
            .relays
            .iter()
            .map(|r| (ip, r.or_port).into())
            .collect();
        for a in &self.tor.authorities {
            out.push((ip, a.or_port).into());
            out.push((ip, a.dir_port).into());
        }
        out
    }

    /// Registers `user@talpa.test` with `password` (panics on failure).
    pub fn adduser(&self, user: &str, password: &str) {
        let out = Command::new("python3")
            .arg(harness_dir().join("bed.py"))
            .arg("adduser")
            .arg("--dir")
            .arg(&self.dir)
            .arg(user)
            .arg(password)
            .output()
            .expect("cannot run bed.py adduser");
        assert!(
            out.status.success(),
            "bed.py adduser {user} failed ({}):\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// A fresh MUC room JID `prefix-<random>@rooms.talpa.test`.
    pub fn new_room(&self, prefix: &str) -> String {
        format!(
            "{}-{}@{}",
            prefix.to_lowercase(),
            random_hex(6),
            self.muc_domain
        )
    }

    /// `host:port` of the C tor client's SocksPort.
    pub fn socks_addr(&self) -> String {
        format!("127.0.0.1:{}", self.tor.socks_port)
    }

    /// The relay whose process holds a TCP connection to Prosody's client port: the exit of
    /// the circuit carrying a session through Tor (read from /proc; `None` when none does).
    pub fn exit_relay_connected_to_prosody(&self) -> Option<&Relay> {
        let port = format!("{:04X}", self.prosody.c2s_port);
        let mut inodes = std::collections::HashSet::new();
        for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
            let Ok(text) = std::fs::read_to_string(table) else {
                continue;
            };
            for line in text.lines().skip(1) {
                let f: Vec<&str> = line.split_whitespace().collect();
                // local, remote, state (01 = established), …, inode
                if f.len() > 9 && f[2].ends_with(&format!(":{port}")) && f[3] == "01" {
                    inodes.insert(format!("socket:[{}]", f[9]));
                }
            }
        }
        self.tor.relays.iter().find(|r| {
            std::fs::read_dir(format!("/proc/{}/fd", r.pid)).is_ok_and(|fds| {
                fds.filter_map(Result::ok).any(|fd| {
                    std::fs::read_link(fd.path())
                        .is_ok_and(|l| inodes.contains(&l.to_string_lossy().into_owned()))
                })
            })
        })
    }

    /// The last `lines` lines of Prosody's log (for panic messages).
    pub fn prosody_log_tail(&self, lines: usize) -> String {
        tail(&self.prosody.log, lines)
    }
}

/// The last `lines` lines of a text file, or a note why it cannot be read.
pub fn tail(path: &Path, lines: usize) -> String {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let all: Vec<&str> = text.lines().collect();
            all[all.len().saturating_sub(lines)..].join("\n")
        }
        Err(e) => format!("(cannot read {}: {e})", path.display()),
    }
}

/// Options for [`Peer::spawn_with`].
#[derive(Debug, Clone, Default)]
pub struct PeerOptions {
    /// Enable OMEMO (legacy and OMEMO 2) with state kept in the bed's directory.
    pub omemo: bool,
    /// Connect with direct TLS to `c2s_direct_tls_port` instead of STARTTLS.
    pub direct_tls: bool,
    /// With `omemo`: publish and speak legacy OMEMO only (like clients without OMEMO 2).
    pub omemo_legacy_only: bool,
}

/// A Python slixmpp peer (`tests/harness/peer.py`), driven by JSON lines. Killed on drop.
pub struct Peer {
    /// The peer's bare JID.
    pub jid: String,
    /// The peer's full JID once online.
    pub full_jid: String,
    child: Child,
    stdin: ChildStdin,
    events: Receiver<Value>,
    backlog: VecDeque<Value>,
    stderr_path: PathBuf,
}

impl Peer {
    /// Starts a plaintext peer for `jid` and waits until it is online.
    pub fn spawn(bed: &Bed, jid: &str, password: &str) -> Peer {
        Self::spawn_with(bed, jid, password, &PeerOptions::default())
    }

    /// Starts a peer with `options` and waits until it is online.
    pub fn spawn_with(bed: &Bed, jid: &str, password: &str, options: &PeerOptions) -> Peer {
        let peers_dir = bed.dir.join("peers");
        std::fs::create_dir_all(&peers_dir).expect("cannot create peers dir");
        let tag = format!("{}-{}", jid.replace(['@', '/'], "_"), random_hex(4));
        let stderr_path = peers_dir.join(format!("{tag}.stderr"));
        let stderr = std::fs::File::create(&stderr_path).expect("cannot create peer stderr file");
        let mut cmd = Command::new(&bed.venv_python);
        cmd.arg(harness_dir().join("peer.py"))
            .arg("--jid")
            .arg(jid)
            .arg("--password")
            .arg(password)
            .arg("--host")
            .arg(&bed.prosody.host)
            .arg("--port")
            .arg(
                if options.direct_tls {
                    bed.prosody.c2s_direct_tls_port
                } else {
                    bed.prosody.c2s_port
                }
                .to_string(),
            )
            .arg("--ca")
            .arg(&bed.ca_cert);
        if options.direct_tls {
            cmd.arg("--direct-tls");
        }
        if options.omemo {
            cmd.arg("--omemo-storage")
                .arg(peers_dir.join(format!("{tag}.omemo.json")));
        }
        if options.omemo_legacy_only {
            cmd.arg("--omemo-legacy-only");
        }
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(stderr))
            .spawn()
            .expect("cannot start peer.py");
        let stdin = child.stdin.take().expect("peer stdin");
        let stdout = child.stdout.take().expect("peer stdout");
        let (tx, rx) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let value = serde_json::from_str(&line)
                    .unwrap_or_else(|_| serde_json::json!({"event": "garbage", "line": line}));
                if tx.send(value).is_err() {
                    break;
                }
            }
        });
        let mut peer = Peer {
            jid: jid.to_owned(),
            full_jid: String::new(),
            child,
            stdin,
            events: rx,
            backlog: VecDeque::new(),
            stderr_path,
        };
        // Fail fast when the peer reports a connection/authentication error before going online.
        let online = peer.wait_event(
            |e| e["event"] == "online" || (e["event"] == "error" && e.get("cmd").is_none()),
            Duration::from_mins(1),
        );
        if online["event"] != "online" {
            peer.fail(&format!("did not come online: {online}"));
        }
        online["jid"]
            .as_str()
            .unwrap_or_default()
            .clone_into(&mut peer.full_jid);
        peer
    }

    /// Sends one command (a JSON object) to the peer.
    pub fn send_cmd(&mut self, cmd: &Value) {
        let line = format!("{cmd}\n");
        if let Err(e) = self
            .stdin
            .write_all(line.as_bytes())
            .and_then(|()| self.stdin.flush())
        {
            self.fail(&format!("cannot write to the peer: {e}"));
        }
    }

    /// Sends a plaintext chat message.
    pub fn send_message(&mut self, to: &str, body: &str) {
        self.send_cmd(&serde_json::json!({"cmd": "send", "to": to, "body": body}));
    }

    /// Waits (blocking) for the first event matching `pred`; earlier non-matching events stay
    /// queued for later waits. Panics with the peer's stderr and events on timeout.
    pub fn wait_event(&mut self, pred: impl Fn(&Value) -> bool, timeout: Duration) -> Value {
        if let Some(e) = self.take_from_backlog(&pred) {
            return e;
        }
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.events.recv_timeout(left) {
                Ok(e) if pred(&e) => return e,
                Ok(e) => self.backlog.push_back(e),
                Err(RecvTimeoutError::Timeout) => {
                    self.fail(&format!("no matching event in {timeout:?}"))
                }
                Err(RecvTimeoutError::Disconnected) => self.fail("exited before a matching event"),
            }
        }
    }

    /// Async variant of [`Peer::wait_event`] for tokio tests: polls without blocking the runtime.
    pub async fn wait_event_async(
        &mut self,
        pred: impl Fn(&Value) -> bool,
        timeout: Duration,
    ) -> Value {
        if let Some(e) = self.take_from_backlog(&pred) {
            return e;
        }
        let deadline = Instant::now() + timeout;
        loop {
            match self.events.try_recv() {
                Ok(e) if pred(&e) => return e,
                Ok(e) => self.backlog.push_back(e),
                Err(TryRecvError::Empty) => {
                    if Instant::now() >= deadline {
                        self.fail(&format!("no matching event in {timeout:?}"));
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                Err(TryRecvError::Disconnected) => self.fail("exited before a matching event"),
            }
        }
    }

    /// Waits for a message event whose body equals `body`.
    pub fn wait_message(&mut self, body: &str, timeout: Duration) -> Value {
        self.wait_event(|e| e["event"] == "message" && e["body"] == body, timeout)
    }

    /// Events received but not yet consumed by a wait.
    pub fn pending_events(&mut self) -> Vec<Value> {
        while let Ok(e) = self.events.try_recv() {
            self.backlog.push_back(e);
        }
        self.backlog.iter().cloned().collect()
    }

    /// Takes every event received but not yet consumed (they will not be seen again).
    pub fn take_pending(&mut self) -> Vec<Value> {
        self.pending_events();
        self.backlog.drain(..).collect()
    }

    fn take_from_backlog(&mut self, pred: &impl Fn(&Value) -> bool) -> Option<Value> {
        while let Ok(e) = self.events.try_recv() {
            self.backlog.push_back(e);
        }
        let pos = self.backlog.iter().position(pred)?;
        self.backlog.remove(pos)
    }

    /// Panics with `what` and the peer's diagnostics.
    fn fail(&mut self, what: &str) -> ! {
        let diagnostics = self.diagnostics();
        panic!("peer {}: {what}\n{diagnostics}", self.jid)
    }

    /// Stderr and unconsumed events, for panic messages.
    pub fn diagnostics(&mut self) -> String {
        let events: Vec<String> = self.pending_events().iter().map(Value::to_string).collect();
        format!(
            "--- peer events not consumed:\n{}\n--- peer stderr ({}):\n{}",
            events.join("\n"),
            self.stderr_path.display(),
            tail(&self.stderr_path, 60)
        )
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
