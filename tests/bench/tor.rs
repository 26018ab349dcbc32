//! Tor start-up benchmark on the bed's private network: embedded Arti (cold: empty profile;
//! warm: the same profile again) versus a C tor client (cold and warm data directory).
//! Reports time to "ready" and, for Arti, time to the first stream answered by Prosody.
//!
//! Run with `cargo bench --profile dev --bench tor` (the dev profile reuses the built
//! dependencies). Prints a table; asserts nothing about timing.

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

#[path = "../support/mod.rs"]
mod support;

use std::fmt::Write as _;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use talpa::tor::{AccountIsolation, PrivateNetwork, TorClient, TorConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const ROUNDS: usize = 3;
const HEADER: &str = "<?xml version='1.0'?><stream:stream to='talpa.test' \
    xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>";

/// (time to Ready, time to first Prosody answer), both from launch.
async fn arti_once(bed: &support::Bed, profile: &Path) -> (Duration, Duration) {
    let mut config = TorConfig::new(profile);
    config.network = Some(PrivateNetwork::from_file(&bed.tor.network_file).unwrap());
    let start = Instant::now();
    let client = TorClient::launch(config).unwrap();
    tokio::time::timeout(Duration::from_mins(3), client.wait_ready())
        .await
        .expect("arti ready in time")
        .unwrap();
    let ready = start.elapsed();
    let mut stream = client
        .connect(
            &AccountIsolation::new(),
            &bed.prosody.host,
            bed.prosody.c2s_port,
        )
        .await
        .unwrap();
    stream.write_all(HEADER.as_bytes()).await.unwrap();
    stream.flush().await.unwrap();
    let mut buf = [0u8; 1024];
    let n = stream.read(&mut buf).await.unwrap();
    assert!(n > 0);
    (ready, start.elapsed())
}

struct Killed(Child);
impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Time until a C tor client with `data_dir` logs "Bootstrapped 100%".
fn ctor_once(bed: &support::Bed, data_dir: &Path) -> Duration {
    let relay_torrc = std::fs::read_to_string(bed.tor.relays[0].data_dir.join("torrc")).unwrap();
    let mut torrc = String::from("TestingTorNetwork 1\nSocksPort 0\nClientUseIPv6 0\n");
    for line in relay_torrc
        .lines()
        .filter(|l| l.starts_with("DirAuthority "))
    {
        torrc.push_str(line);
        torrc.push('\n');
    }
    let log = data_dir.join("notice.log");
    let _ = std::fs::remove_file(&log);
    let _ = writeln!(torrc, "DataDirectory {}", data_dir.display());
    let _ = writeln!(torrc, "Log notice file {}", log.display());
    let torrc_path = data_dir.join("torrc");
    std::fs::write(&torrc_path, torrc).unwrap();
    let start = Instant::now();
    let _tor = Killed(
        Command::new("tor")
            .arg("-f")
            .arg(&torrc_path)
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    loop {
        if std::fs::read_to_string(&log)
            .unwrap_or_default()
            .contains("Bootstrapped 100%")
        {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < Duration::from_mins(3),
            "C tor never bootstrapped"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn stats(samples: &[Duration]) -> String {
    let mut ms: Vec<f64> = samples.iter().map(|d| d.as_secs_f64() * 1000.0).collect();
    ms.sort_by(f64::total_cmp);
    format!(
        "median {:7.0} ms  min {:7.0} ms  max {:7.0} ms",
        ms[ms.len() / 2],
        ms[0],
        ms[ms.len() - 1]
    )
}

fn main() {
    let bed = support::bed();
    eprintln!("bed up");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (mut a_cold, mut a_cold_stream, mut a_warm, mut a_warm_stream) =
        (vec![], vec![], vec![], vec![]);
    let (mut c_cold, mut c_warm) = (vec![], vec![]);
    for _ in 0..ROUNDS {
        let profile = tempfile::tempdir().unwrap();
        let (r, s) = runtime.block_on(arti_once(bed, profile.path()));
        eprintln!("arti cold: ready {r:?}, stream {s:?}");
        a_cold.push(r);
        a_cold_stream.push(s);
        let (r, s) = runtime.block_on(arti_once(bed, profile.path()));
        eprintln!("arti warm: ready {r:?}, stream {s:?}");
        a_warm.push(r);
        a_warm_stream.push(s);

        let data = tempfile::tempdir().unwrap();
        std::fs::set_permissions(
            data.path(),
            std::os::unix::fs::PermissionsExt::from_mode(0o700),
        )
        .unwrap();
        c_cold.push(ctor_once(bed, data.path()));
        eprintln!("C tor cold: {:?}", c_cold.last());
        c_warm.push(ctor_once(bed, data.path()));
        eprintln!("C tor warm: {:?}", c_warm.last());
    }
    println!("tor start-up on the private bed network, {ROUNDS} rounds");
    println!("arti cold  ready        {}", stats(&a_cold));
    println!("arti cold  first stream {}", stats(&a_cold_stream));
    println!("arti warm  ready        {}", stats(&a_warm));
    println!("arti warm  first stream {}", stats(&a_warm_stream));
    println!("C tor cold bootstrapped {}", stats(&c_cold));
    println!("C tor warm bootstrapped {}", stats(&c_warm));
}
