//! SRV without leaks (issue #3): an account without a host override finds its server through
//! `_xmpp-client._tcp` / `_xmpps-client._tcp` records looked up by DNS over TLS — through the
//! account's own Tor circuits — at a DoT resolver the test runs on 127.0.0.1, then logs in on
//! the target the records name (which the JID's domain alone would never reach: there is no
//! DNS for `talpa.test`).

mod support;

use serde_json::json;
use support::dot::DotServer;
use support::headless::{Headless, talpa_online_with};

/// Starts Talpa with an account that has no host override and uses `dot` as its resolver;
/// returns once the account is online (panics with the events otherwise).
fn online_via_srv(bed: &support::Bed, dot: &DotServer, dir: &std::path::Path) -> Headless {
    let (jid, password) = bed.new_account("srv");
    // No host override (null clears the bed's): the server is found by SRV only.
    talpa_online_with(
        bed,
        dir,
        &jid,
        &password,
        &json!({"host": null, "port": null,
                "dot_resolver": format!("127.0.0.1:{}#localhost", dot.port)}),
    )
}

#[test]
fn an_account_without_host_override_finds_its_server_by_srv_over_dns_over_tls() {
    let bed = support::bed();
    let dot = DotServer::start(
        bed,
        &[format!(
            "_xmpp-client._tcp.{}=5:0:{}:127.0.0.1",
            bed.domain, bed.prosody.c2s_port
        )],
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let t = online_via_srv(bed, &dot, dir.path());
    let queries = dot.queries();
    assert!(
        queries.contains(&format!("query _xmpp-client._tcp.{} 33", bed.domain)),
        "{queries:?}"
    );
    assert!(
        queries.contains(&format!("query _xmpps-client._tcp.{} 33", bed.domain)),
        "both XEP-0368 services are asked: {queries:?}"
    );
    t.quit();
}

#[test]
fn an_xmpps_client_record_makes_the_account_use_direct_tls() {
    let bed = support::bed();
    // Only a direct-TLS record, on Prosody's direct-TLS port: a STARTTLS attempt there fails,
    // so being online proves Talpa chose direct TLS from the record.
    let dot = DotServer::start(
        bed,
        &[format!(
            "_xmpps-client._tcp.{}=0:0:{}:127.0.0.1",
            bed.domain, bed.prosody.c2s_direct_tls_port
        )],
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let t = online_via_srv(bed, &dot, dir.path());
    t.quit();
}

#[test]
fn a_malformed_resolver_option_is_refused_with_a_clear_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut t = Headless::start(dir.path());
    let (r, _) = t.call(json!({"cmd": "create_profile", "passphrase": "srv"}));
    assert_eq!(r["ok"], true, "{r}");
    let (r, _) = t.call(json!({
        "cmd": "add_account", "jid": "a@example.org", "password": "pw",
        "dot_resolver": "dns.example:notaport",
    }));
    assert_eq!(r["ok"], false, "{r}");
    assert_eq!(support::headless::error_kind(&r), "invalid_input", "{r}");
    let (r, _) = t.call(json!({"cmd": "list_accounts"}));
    assert_eq!(r["accounts"].as_array().map(Vec::len), Some(0), "{r}");
    t.quit();
}
