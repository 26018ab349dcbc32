//! What the tor tests need from the shared test bed (`tests/harness/bed.py`): Prosody's c2s
//! port, the private network file, the C tor client's SOCKS port and the relays' ORPorts.
//! Starts the bed through the harness when it is not up; fails loudly if that is impossible.

#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::missing_panics_doc
)]

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

/// The parts of `bed.json` the tor tests use.
#[derive(Debug, Clone)]
pub struct TorBed {
    pub dir: PathBuf,
    pub prosody_host: String,
    pub c2s_port: u16,
    pub network_file: PathBuf,
    pub socks_port: u16,
    pub or_ports: Vec<u16>,
}

fn bed_dir() -> PathBuf {
    std::env::var_os("TALPA_BED_DIR")
        .map_or_else(|| PathBuf::from("/root/.cache/talpa/bed"), PathBuf::from)
}

/// The running bed, started on first use.
pub fn bed() -> &'static TorBed {
    static BED: OnceLock<TorBed> = OnceLock::new();
    BED.get_or_init(|| {
        let dir = bed_dir();
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
        let path = dir.join("bed.json");
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("no test bed at {}: {e}", path.display()));
        let json: serde_json::Value = serde_json::from_str(&text).expect("bed.json is JSON");
        let tor = &json["tor"];
        let port = |v: &serde_json::Value| u16::try_from(v.as_u64().expect("port")).expect("port");
        let mut or_ports: Vec<u16> = tor["relays"]
            .as_array()
            .expect("relays")
            .iter()
            .chain(tor["authorities"].as_array().expect("authorities"))
            .map(|r| port(&r["or_port"]))
            .collect();
        or_ports.sort_unstable();
        or_ports.dedup();
        TorBed {
            dir: PathBuf::from(json["dir"].as_str().expect("dir")),
            prosody_host: json["prosody"]["host"].as_str().expect("host").to_owned(),
            c2s_port: port(&json["prosody"]["c2s_port"]),
            network_file: PathBuf::from(tor["network_file"].as_str().expect("network_file")),
            socks_port: port(&tor["socks_port"]),
            or_ports,
        }
    })
}

/// The XMPP stream header every test sends to Prosody.
pub const STREAM_HEADER: &str = "<?xml version='1.0'?><stream:stream to='talpa.test' \
    xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>";

/// Send the stream header over `stream` and return what Prosody answered (up to its
/// `<stream:stream` reply).
pub async fn xmpp_hello<S>(stream: &mut S) -> String
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    stream
        .write_all(STREAM_HEADER.as_bytes())
        .await
        .expect("send header");
    stream.flush().await.expect("flush");
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&got).contains("<stream:stream") {
        let n = tokio::time::timeout(std::time::Duration::from_mins(1), stream.read(&mut buf))
            .await
            .expect("prosody answers within a minute")
            .expect("read");
        assert!(
            n > 0,
            "stream closed; got so far: {}",
            String::from_utf8_lossy(&got)
        );
        got.extend_from_slice(&buf[..n]);
    }
    String::from_utf8_lossy(&got).into_owned()
}
