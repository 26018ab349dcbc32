//! A server Tor cannot reach is told as the server's silence, not as a Tor failure: an account
//! pointed (through the bed's private Tor network) at a closed port on 127.0.0.1 goes to
//! `error` with `unreachable: "refused"` — the exit relay reached the host, which refused — and a
//! host name no exit can resolve gives `host_not_found`; the detail says "the server did not
//! answer through Tor", never a Tor protocol error.

mod support;

use std::time::Duration;

use serde_json::{Value, json};
use support::bed;
use support::headless::Headless;

const LONG: Duration = Duration::from_secs(120);

/// Adds `jid` pointed at `host:port`, and returns its first `error` state.
fn first_error(t: &mut Headless, jid: &str, host: &str, port: u16) -> Value {
    let bed = bed();
    let ca = std::fs::read_to_string(&bed.ca_cert).expect("CA");
    let (r, _) = t.call(json!({
        "cmd": "add_account", "jid": jid, "password": "unused",
        "host": host, "port": port, "trust_anchor_pem": ca,
    }));
    assert_eq!(r["ok"], true, "{r}");
    // The account tries again after an error. An attempt on which Tor itself could not build a
    // circuit to an exit (the private network's relays, a moment after the bed started, can
    // leave Arti without a usable exit path) says nothing about the server: a later one is taken.
    t.wait_event_for(
        |e| {
            let no_path = e["unreachable"].is_null()
                && e["detail"]
                    .as_str()
                    .is_some_and(|d| d.contains("could not construct a path"));
            e["event"] == "account_state"
                && e["account"] == jid
                && e["state"] == "error"
                && !no_path
        },
        LONG,
    )
}

fn assert_plain(state: &Value, cause: &str) {
    assert_eq!(state["unreachable"], cause, "{state}");
    let detail = state["detail"].as_str().expect("a detail");
    assert!(
        detail.starts_with("the server did not answer through Tor ("),
        "{state}"
    );
    assert!(
        !detail.to_lowercase().contains("protocol"),
        "told as a protocol error: {state}"
    );
}

#[test]
fn a_closed_port_or_unknown_host_is_told_as_the_servers_silence_not_a_tor_error() {
    let bed = bed();
    let dir = tempfile::tempdir().expect("tempdir");
    let network = bed.tor.network_file.to_string_lossy().into_owned();
    let mut t = Headless::start_with(
        &dir.path().join("p"),
        &["--tor-network", &network, "--startup-jitter", "0"],
    );
    let (r, _) = t.call(json!({"cmd": "create_profile", "passphrase": "pw"}));
    assert_eq!(r["ok"], true, "{r}");

    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = closed.local_addr().expect("addr").port();
    drop(closed);
    let (refused, _) = bed.new_account("closedport");
    let state = first_error(&mut t, &refused, "127.0.0.1", port);
    assert_plain(&state, "refused");
    assert!(
        state["detail"]
            .as_str()
            .is_some_and(|d| d.contains("connection refused")),
        "{state}"
    );

    let (nowhere, _) = bed.new_account("nohost");
    let state = first_error(&mut t, &nowhere, "no-such-host.invalid", 5222);
    assert_plain(&state, "host_not_found");
    t.quit();
}
