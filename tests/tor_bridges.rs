//! Bridges: a plain bridge line and an obfs4 bridge (obfs4proxy on both sides) become the
//! first hop of every account's circuit on the bed's private network, and two accounts still
//! get circuits of their own.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;
mod tor_bed;

use std::path::Path;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use talpa::tor::{AccountIsolation, PrivateNetwork, TorClient, TorConfig};

const READY_WITHIN: Duration = Duration::from_mins(3);

fn config_with_bridges(profile: &Path, bridges: Vec<String>) -> TorConfig {
    let bed = support::bed();
    let mut config = TorConfig::new(profile);
    config.network = Some(PrivateNetwork::from_file(&bed.tor.network_file).expect("network"));
    config.bridges = bridges;
    config
}

/// Connect to Prosody through `config`'s bridges for two accounts; return each circuit's
/// first-hop identity, after checking the two accounts got different circuits.
async fn first_hops_via(config: TorConfig) -> Vec<String> {
    let bed = support::bed();
    let client = TorClient::launch(config).expect("launch");
    let mut circuits = Vec::new();
    let mut streams = Vec::new();
    for _ in 0..2 {
        let account = AccountIsolation::new();
        let mut stream = client
            .connect_within(
                &account,
                &bed.prosody.host,
                bed.prosody.c2s_port,
                READY_WITHIN,
            )
            .await
            .expect("stream through the bridge");
        let reply = tor_bed::xmpp_hello(&mut stream).await;
        assert!(reply.contains("<stream:stream"), "{reply}");
        circuits.push(stream.circuit().expect("circuit info"));
        streams.push(stream);
    }
    assert_ne!(
        circuits[0].id, circuits[1].id,
        "two accounts share a circuit through the bridge"
    );
    circuits
        .into_iter()
        .map(|c| {
            c.hops[0]
                .rsa_identity
                .clone()
                .expect("first hop has an RSA identity")
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_bridge_line_becomes_the_first_hop() {
    let bed = support::bed();
    let relay = &bed.tor.relays[0];
    let profile = tempfile::tempdir().unwrap();
    let line = format!("127.0.0.1:{} {}", relay.or_port, relay.rsa_identity);
    for first in first_hops_via(config_with_bridges(profile.path(), vec![line])).await {
        assert_eq!(first, relay.rsa_identity.to_uppercase());
    }
}

/// A C tor obfs4 bridge joined to the bed's private network, stopped on drop.
struct Obfs4Bridge {
    child: Child,
    _dir: tempfile::TempDir,
    fingerprint: String,
    line: String,
}

impl Drop for Obfs4Bridge {
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

impl Obfs4Bridge {
    fn start(bed: &support::Bed) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        std::fs::create_dir(&data).unwrap();
        std::fs::set_permissions(&data, std::os::unix::fs::PermissionsExt::from_mode(0o700))
            .unwrap();
        let relay_torrc =
            std::fs::read_to_string(bed.tor.relays[0].data_dir.join("torrc")).expect("relay torrc");
        let mut authorities = String::new();
        for line in relay_torrc
            .lines()
            .filter(|l| l.starts_with("DirAuthority "))
        {
            authorities.push_str(line);
            authorities.push('\n');
        }
        assert!(
            !authorities.is_empty(),
            "no DirAuthority lines in the relay's torrc"
        );
        let (or_port, obfs_port) = (free_port(), free_port());
        let log = data.join("notice.log");
        let torrc = format!(
            "TestingTorNetwork 1\n{authorities}DataDirectory {data}\nRunAsDaemon 0\n\
             Log notice file {log}\nNickname obfsbridge\nAddress 127.0.0.1\nAssumeReachable 1\n\
             ORPort 127.0.0.1:{or_port}\nBridgeRelay 1\nPublishServerDescriptor 0\n\
             ServerTransportPlugin obfs4 exec /usr/bin/obfs4proxy\n\
             ServerTransportListenAddr obfs4 127.0.0.1:{obfs_port}\nExtORPort auto\n\
             SocksPort 0\nExitRelay 0\nExitPolicy reject *:*\nClientUseIPv6 0\n\
             GeoIPFile \"\"\nGeoIPv6File \"\"\n",
            data = data.display(),
            log = log.display(),
        );
        let torrc_path = dir.path().join("torrc");
        std::fs::write(&torrc_path, torrc).unwrap();
        let child = Command::new("tor")
            .arg("-f")
            .arg(&torrc_path)
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("start tor bridge");
        let mut bridge = Obfs4Bridge {
            child,
            _dir: dir,
            fingerprint: String::new(),
            line: String::new(),
        };
        let deadline = Instant::now() + Duration::from_mins(2);
        loop {
            let notice = std::fs::read_to_string(&log).unwrap_or_default();
            let bridgeline = std::fs::read_to_string(data.join("pt_state/obfs4_bridgeline.txt"))
                .unwrap_or_default();
            let fingerprint = std::fs::read_to_string(data.join("fingerprint")).unwrap_or_default();
            let cert = bridgeline
                .lines()
                .find(|l| l.starts_with("Bridge obfs4"))
                .and_then(|l| l.split_whitespace().find(|w| w.starts_with("cert=")));
            if notice.contains("Bootstrapped 100%")
                && let (Some(cert), Some(fp)) = (cert, fingerprint.split_whitespace().nth(1))
            {
                fp.clone_into(&mut bridge.fingerprint);
                bridge.line = format!("obfs4 127.0.0.1:{obfs_port} {fp} {cert} iat-mode=0");
                return bridge;
            }
            if let Ok(Some(status)) = bridge.child.try_wait() {
                panic!("tor bridge exited ({status}):\n{notice}");
            }
            assert!(
                Instant::now() < deadline,
                "obfs4 bridge not ready in time:\n{notice}\n{bridgeline}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn obfs4_bridge_line_runs_obfs4proxy_and_becomes_the_first_hop() {
    let bed = support::bed();
    let bridge = Obfs4Bridge::start(bed);
    let profile = tempfile::tempdir().unwrap();
    let config = config_with_bridges(profile.path(), vec![bridge.line.clone()]);
    for first in first_hops_via(config).await {
        assert_eq!(first, bridge.fingerprint.to_uppercase());
    }
}
