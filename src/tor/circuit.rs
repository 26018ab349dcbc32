//! Which relays carry an account's traffic, for the UI's per-account circuit display.

use std::net::SocketAddr;

use tor_linkspec::{HasAddrs, HasRelayIds};
use tor_proto::client::stream::ClientStreamCtrl;

/// One relay of a circuit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelayHop {
    /// RSA identity fingerprint, 40 upper-case hex digits (what relay search sites show).
    pub rsa_identity: Option<String>,
    /// Ed25519 identity, base64.
    pub ed_identity: Option<String>,
    /// The relay's advertised ORPort addresses.
    pub addrs: Vec<SocketAddr>,
}

/// The circuit a stream runs on: guard first, exit last.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CircuitInfo {
    /// Arti's process-local circuit id (distinguishes circuits; means nothing outside).
    pub id: String,
    /// The relays, in path order.
    pub hops: Vec<RelayHop>,
}

/// The circuit `stream` is attached to, while that circuit exists.
pub(crate) fn of_stream(stream: &arti_client::DataStream) -> Option<CircuitInfo> {
    let tunnel = stream.client_stream_ctrl()?.tunnel()?;
    let paths = tunnel.all_paths();
    let path = paths.first()?;
    let hops = path
        .iter()
        .filter_map(|entry| entry.as_chan_target())
        .map(|relay| RelayHop {
            rsa_identity: relay
                .rsa_identity()
                .map(|id| hex::encode_upper(id.as_bytes())),
            ed_identity: relay.ed_identity().map(ToString::to_string),
            addrs: relay.addrs().collect(),
        })
        .collect();
    Some(CircuitInfo {
        id: tunnel.unique_id().to_string(),
        hops,
    })
}
