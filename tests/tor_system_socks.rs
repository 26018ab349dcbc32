//! System-Tor mode (Tails/Whonix): streams go through an existing Tor SOCKS port, one set of
//! SOCKS credentials per account, hostnames never resolved locally.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;
mod tor_bed;

use std::net::SocketAddr;
use std::time::Duration;

use talpa::tor::{AccountIsolation, TorClient, TorConfig, TorMode};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn system_socks_mode_reaches_prosody_for_two_accounts() {
    let bed = support::bed();
    let profile = tempfile::tempdir().unwrap();
    let mut config = TorConfig::new(profile.path());
    config.mode = TorMode::SystemSocks {
        addr: SocketAddr::from(([127, 0, 0, 1], bed.tor.socks_port)),
    };
    let client = TorClient::launch(config).expect("launch");
    assert!(client.status().borrow().is_ready());
    // System mode keeps no Arti state in the profile.
    assert!(!profile.path().join("tor").exists());

    for _ in 0..2 {
        let account = AccountIsolation::new();
        let mut stream = client
            .connect_within(
                &account,
                &bed.prosody.host,
                bed.prosody.c2s_port,
                Duration::from_mins(2),
            )
            .await
            .expect("stream through the system Tor");
        let reply = tor_bed::xmpp_hello(&mut stream).await;
        assert!(reply.contains("<stream:stream"), "{reply}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn system_socks_mode_reports_an_unreachable_proxy_as_an_error() {
    let profile = tempfile::tempdir().unwrap();
    let mut config = TorConfig::new(profile.path());
    // Port 9 on loopback: nothing listens, and nothing else is ever tried.
    config.mode = TorMode::SystemSocks {
        addr: SocketAddr::from(([127, 0, 0, 1], 9)),
    };
    let client = TorClient::launch(config).expect("launch");
    let err = client
        .connect(&AccountIsolation::new(), "talpa.test", 5222)
        .await
        .expect_err("no proxy, no connection");
    assert!(matches!(err, talpa::tor::TorError::Io(_)), "{err}");
}

/// A C tor client of its own on the bed's private network, with a control port so the test
/// can ask which circuit carries which stream (the shared bed's client has none). Stopped on
/// drop.
struct ControlledTor {
    child: std::process::Child,
    _dir: tempfile::TempDir,
    socks_port: u16,
    control_port: u16,
}

impl Drop for ControlledTor {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl ControlledTor {
    fn start(bed: &support::Bed) -> Self {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        std::fs::create_dir(&data).unwrap();
        std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o700)).unwrap();
        let relay_torrc =
            std::fs::read_to_string(bed.tor.relays[0].data_dir.join("torrc")).expect("relay torrc");
        let authorities: String = relay_torrc
            .lines()
            .filter(|l| l.starts_with("DirAuthority "))
            .flat_map(|l| [l, "\n"])
            .collect();
        assert!(
            !authorities.is_empty(),
            "no DirAuthority lines in {relay_torrc}"
        );
        let (socks_port, control_port) = (free_port(), free_port());
        let log = data.join("notice.log");
        let torrc = format!(
            "TestingTorNetwork 1\n{authorities}DataDirectory {data}\nRunAsDaemon 0\n\
             Log notice file {log}\nAddress 127.0.0.1\nClientOnly 1\nClientUseIPv6 0\n\
             PathsNeededToBuildCircuits 0.25\nGeoIPFile \"\"\nGeoIPv6File \"\"\n\
             SocksPort 127.0.0.1:{socks_port}\nSafeSocks 0\n\
             ControlPort 127.0.0.1:{control_port}\nCookieAuthentication 0\n",
            data = data.display(),
            log = log.display(),
        );
        let torrc_path = dir.path().join("torrc");
        std::fs::write(&torrc_path, torrc).unwrap();
        let child = std::process::Command::new("tor")
            .arg("-f")
            .arg(&torrc_path)
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("start tor");
        let mut tor = ControlledTor {
            child,
            _dir: dir,
            socks_port,
            control_port,
        };
        let deadline = std::time::Instant::now() + Duration::from_mins(2);
        loop {
            let notice = std::fs::read_to_string(&log).unwrap_or_default();
            if notice.contains("Bootstrapped 100%") {
                return tor;
            }
            if let Ok(Some(status)) = tor.child.try_wait() {
                panic!("tor client exited ({status}):\n{notice}");
            }
            assert!(
                std::time::Instant::now() < deadline,
                "tor client not bootstrapped in time:\n{notice}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// `GETINFO key` over the control port: the value's lines.
    fn getinfo(&self, key: &str) -> Vec<String> {
        use std::io::{BufRead, BufReader, Write};
        let mut conn = std::net::TcpStream::connect(("127.0.0.1", self.control_port)).unwrap();
        conn.set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        write!(conn, "AUTHENTICATE \"\"\r\nGETINFO {key}\r\nQUIT\r\n").unwrap();
        let mut lines = Vec::new();
        for line in BufReader::new(conn).lines() {
            let line = line.unwrap();
            let line = line.trim_end().to_owned();
            let code = line.get(..3).unwrap_or_default();
            assert!(
                !(code.starts_with('5') && code.bytes().all(|b| b.is_ascii_digit())),
                "control port refused: {line}"
            );
            if line.starts_with("250 closing") {
                break;
            }
            lines.push(line);
        }
        // "250 OK", "250+key=", the data lines, ".", "250 OK": keep the data lines, and the
        // one-line form "250-key=value".
        let mut out = Vec::new();
        let mut in_data = false;
        for line in lines {
            if let Some(value) = line.strip_prefix(&format!("250-{key}=")) {
                if !value.is_empty() {
                    out.push(value.to_owned());
                }
            } else if line.starts_with(&format!("250+{key}=")) {
                in_data = true;
            } else if in_data && line == "." {
                in_data = false;
            } else if in_data {
                out.push(line);
            }
        }
        out
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn system_socks_mode_puts_two_accounts_on_different_circuits() {
    let bed = support::bed();
    let tor = ControlledTor::start(bed);
    let profile = tempfile::tempdir().unwrap();
    let mut config = TorConfig::new(profile.path());
    config.mode = TorMode::SystemSocks {
        addr: SocketAddr::from(([127, 0, 0, 1], tor.socks_port)),
    };
    let client = TorClient::launch(config).expect("launch");
    let (alice, bob) = (AccountIsolation::new(), AccountIsolation::new());
    let mut streams = Vec::new();
    for account in [&alice, &bob, &alice] {
        let mut stream = client
            .connect_within(
                account,
                &bed.prosody.host,
                bed.prosody.c2s_port,
                Duration::from_mins(2),
            )
            .await
            .expect("stream through the system Tor");
        let reply = tor_bed::xmpp_hello(&mut stream).await;
        assert!(reply.contains("<stream:stream"), "{reply}");
        streams.push(stream);
    }
    // "StreamID SUCCEEDED CircuitID Target" for every open stream, in opening order.
    let target = format!("{}:{}", bed.prosody.host, bed.prosody.c2s_port);
    let mut open: Vec<(u64, String)> = tor
        .getinfo("stream-status")
        .iter()
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            (f.len() >= 4 && f[1] == "SUCCEEDED" && f[3] == target)
                .then(|| (f[0].parse().unwrap(), f[2].to_owned()))
        })
        .collect();
    open.sort();
    assert_eq!(open.len(), 3, "three open streams expected: {open:?}");
    let (a1, b1, a2) = (&open[0].1, &open[1].1, &open[2].1);
    assert_ne!(a1, b1, "alice and bob share circuit {a1}");
    assert_eq!(a1, a2, "one account's streams should share its circuit");
    // The circuits are keyed on distinct SOCKS credentials (IsolateSOCKSAuth).
    let circuits = tor.getinfo("circuit-status");
    let username_of = |id: &str| {
        circuits
            .iter()
            .find(|l| l.split_whitespace().next() == Some(id))
            .and_then(|l| l.split("SOCKS_USERNAME=\"").nth(1))
            .and_then(|rest| rest.split('"').next())
            .map_or_else(
                || panic!("circuit {id} without SOCKS username: {circuits:?}"),
                str::to_owned,
            )
    };
    assert_ne!(username_of(a1), username_of(b1));
    drop(streams);
}
