//! Tor-test helpers on top of the shared bed (`support::bed()`): the ORPorts of the private
//! network and an XMPP stream-header exchange with Prosody.

#![allow(dead_code, clippy::expect_used, clippy::missing_panics_doc)]

use std::time::Duration;

use super::support::Bed;

/// Every ORPort of the bed's private Tor network (authorities and relays).
pub fn or_ports(bed: &Bed) -> Vec<u16> {
    let mut ports: Vec<u16> = bed
        .tor
        .relays
        .iter()
        .map(|r| r.or_port)
        .chain(bed.tor.authorities.iter().map(|a| a.or_port))
        .collect();
    ports.sort_unstable();
    ports.dedup();
    ports
}

/// The XMPP stream header every test sends to Prosody.
pub const STREAM_HEADER: &str = "<?xml version='1.0'?><stream:stream to='talpa.test' \
    xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>";

/// Send the stream header over `stream`; return Prosody's answer up to its `<stream:stream`.
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
        let n = tokio::time::timeout(Duration::from_mins(1), stream.read(&mut buf))
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
