//! Leak check: the embedded client, bootstrapping and opening streams, talks to nothing but the
//! private network's ORPorts — no DNS, no UDP, no resolver configuration read.
//!
//! The test re-runs its own binary under `strace -f` with `TALPA_LEAK_CHILD` set; in that role
//! it bootstraps Arti, reaches Prosody by IP literal and tries a hostname (which only the exit
//! may resolve), then exits. The parent checks every traced syscall.
//!
//! Name-service lookups are leaks too: `/etc/nsswitch.conf`, `/etc/passwd`, `/etc/group` and
//! the nscd socket are forbidden like the resolver files, because on a managed machine NSS may
//! ask an LDAP/SSSD server. (Arti's builder used to build its default file-permission policy,
//! and with it a self-named-group lookup, before Talpa's configuration replaced it; the vendored
//! arti-client builds that default only when it is used — vendor/arti-client/PATCHED.md.)

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;
mod tor_bed;

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use serde_json::json;
use support::Peer;
use support::dot::DotServer;
use support::headless::Headless;
use talpa::tor::{AccountIsolation, PrivateNetwork, TorClient, TorConfig};

const TEST_NAME: &str = "embedded_arti_connects_only_to_tor_relays_and_never_resolves_locally";
const CHILD: &str = "TALPA_LEAK_CHILD";

#[test]
fn embedded_arti_connects_only_to_tor_relays_and_never_resolves_locally() {
    if std::env::var_os(CHILD).is_some() {
        child_role();
        return;
    }
    let bed = support::bed();
    let trace_dir = tempfile::tempdir().unwrap();
    let trace = trace_dir.path().join("strace.txt");
    let out = Command::new("strace")
        .args(["-f", "-qq", "-e", "trace=network,openat", "-o"])
        .arg(&trace)
        .arg(std::env::current_exe().unwrap())
        .args(["--exact", TEST_NAME, "--nocapture", "--test-threads=1"])
        .env(CHILD, "1")
        .env("TALPA_LEAK_NETWORK_FILE", &bed.tor.network_file)
        .env("TALPA_LEAK_HOST", &bed.prosody.host)
        .env("TALPA_LEAK_PORT", bed.prosody.c2s_port.to_string())
        .output()
        .expect("run strace (is it installed?)");
    assert!(
        out.status.success(),
        "child role failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&trace).expect("strace output");
    let verdict = check_trace(&text, &tor_bed::or_ports(bed));
    assert!(
        verdict.violations.is_empty(),
        "leaks:\n{}",
        verdict.violations.join("\n")
    );
    assert!(
        verdict.relay_connects > 0,
        "no connection to any ORPort was traced; trace:\n{text}"
    );
}

/// The whole client, not just the tor layer: the real `talpa headless` binary under strace
/// bootstraps, finds its server by SRV (DNS over TLS through Tor), logs in, exchanges messages
/// both ways with a peer, reconnects, and quits — and in all of that connects only to the
/// private network's ORPorts, opens no UDP socket and reads no resolver configuration.
#[test]
fn a_whole_talpa_session_connects_only_to_tor_relays() {
    let bed = support::bed();
    let (a, apw) = bed.new_account("leak");
    let (b, bpw) = bed.new_account("leakpeer");
    let dot = DotServer::start(
        bed,
        &[format!(
            "_xmpp-client._tcp.{}=0:0:{}:127.0.0.1",
            bed.domain, bed.prosody.c2s_port
        )],
    );
    let mut peer = Peer::spawn(bed, &b, &bpw);
    let dir = tempfile::tempdir().unwrap();
    let trace = dir.path().join("strace.txt");
    let mut cmd = Command::new("strace");
    cmd.args(["-f", "-qq", "-e", "trace=network,openat", "-o"])
        .arg(&trace)
        .arg(env!("CARGO_BIN_EXE_talpa"))
        .args(["headless", "--profile"])
        .arg(dir.path().join("profile"))
        .arg("--tor-network")
        .arg(&bed.tor.network_file)
        .args(["--startup-jitter", "1"]);
    let mut talpa = Headless::from_command(cmd);
    let (r, _) = talpa.call(json!({"cmd": "create_profile", "passphrase": "leak"}));
    assert_eq!(r["ok"], true, "{r}");
    let ca = std::fs::read_to_string(&bed.ca_cert).unwrap();
    let (r, _) = talpa.call(json!({
        "cmd": "add_account", "jid": a, "password": apw, "trust_anchor_pem": ca,
        "dot_resolver": format!("127.0.0.1:{}#localhost", dot.port),
    }));
    assert_eq!(r["ok"], true, "{r}");
    let online = |e: &serde_json::Value| {
        e["event"] == "account_state" && e["account"] == a && e["state"] == "online"
    };
    talpa.wait_event_for(online, Duration::from_mins(3));
    std::thread::sleep(Duration::from_secs(2));

    // This peer has no OMEMO keys: encryption (on by default) is turned off explicitly.
    talpa.call(json!({"cmd": "set_encryption", "account": a, "conversation": b, "enabled": false}));
    let (r, _) =
        talpa.call(json!({"cmd": "send", "account": a, "to": b, "body": "out through tor"}));
    assert_eq!(r["ok"], true, "{r}");
    peer.wait_message("out through tor", Duration::from_mins(2));
    peer.send_message(&a, "in through tor");
    talpa.wait_event_for(
        |e| e["event"] == "message" && e["body"] == "in through tor",
        Duration::from_mins(2),
    );

    // Reconnect: a fresh SRV lookup and login on new streams.
    let (r, _) = talpa.call(json!({"cmd": "set_account_enabled", "account": a, "enabled": false}));
    assert_eq!(r["ok"], true, "{r}");
    talpa.events.clear();
    let (r, _) = talpa.call(json!({"cmd": "set_account_enabled", "account": a, "enabled": true}));
    assert_eq!(r["ok"], true, "{r}");
    talpa.wait_event_for(online, Duration::from_mins(3));
    talpa.quit();

    assert!(
        dot.queries().len() >= 4,
        "two SRV lookups (two queries each) went through Tor: {:?}",
        dot.queries()
    );
    let text = std::fs::read_to_string(&trace).expect("strace output");
    let verdict = check_trace(&text, &tor_bed::or_ports(bed));
    assert!(
        verdict.violations.is_empty(),
        "leaks:\n{}",
        verdict.violations.join("\n")
    );
    assert!(verdict.relay_connects > 0, "no ORPort connection traced");
}

/// What the child does under strace.
fn child_role() {
    let network_file = PathBuf::from(std::env::var_os("TALPA_LEAK_NETWORK_FILE").unwrap());
    let host = std::env::var("TALPA_LEAK_HOST").unwrap();
    let port: u16 = std::env::var("TALPA_LEAK_PORT").unwrap().parse().unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let profile = tempfile::tempdir().unwrap();
        let mut config = TorConfig::new(profile.path());
        config.network = Some(PrivateNetwork::from_file(&network_file).unwrap());
        let client = TorClient::launch(config).unwrap();
        let account = AccountIsolation::new();
        let mut stream = client
            .connect_within(&account, &host, port, Duration::from_mins(3))
            .await
            .expect("stream to prosody through tor");
        let reply = tor_bed::xmpp_hello(&mut stream).await;
        assert!(reply.contains("<stream:stream"), "{reply}");
        // A name only the exit could resolve: whatever the outcome, nothing local may try.
        let _ = client
            .connect_within(&account, "talpa.test", port, Duration::from_secs(30))
            .await;
    });
}

struct Verdict {
    violations: Vec<String>,
    relay_connects: usize,
}

/// Judge an `strace -f -e trace=network,openat` log.
fn check_trace(text: &str, or_ports: &[u16]) -> Verdict {
    const RESOLVER_FILES: [&str; 4] = [
        "/etc/resolv.conf",
        "/etc/hosts\"",
        "/etc/gai.conf",
        "/etc/host.conf",
    ];
    const NAME_SERVICE_FILES: [&str; 3] = ["/etc/nsswitch.conf", "/etc/passwd\"", "/etc/group\""];
    let mut violations = Vec::new();
    let mut relay_connects = 0;
    for line in text.lines() {
        if line.contains("openat(") {
            if RESOLVER_FILES.iter().any(|f| line.contains(f)) {
                violations.push(format!("resolver file opened: {line}"));
            } else if NAME_SERVICE_FILES.iter().any(|f| line.contains(f)) {
                violations.push(format!("name-service lookup: {line}"));
            }
        } else if line.contains("socket(") {
            let inet = line.contains("AF_INET") || line.contains("AF_INET6");
            if inet && line.contains("SOCK_DGRAM") {
                violations.push(format!("UDP socket: {line}"));
            }
        } else if line.contains("connect(") {
            if line.contains("sa_family=AF_INET,") {
                let port = between(line, "sin_port=htons(", ")").and_then(|p| p.parse().ok());
                let addr = between(line, "inet_addr(\"", "\")");
                match (addr, port) {
                    (Some("127.0.0.1"), Some(port)) if or_ports.contains(&port) => {
                        relay_connects += 1;
                    }
                    _ => violations.push(format!("connect to a non-relay: {line}")),
                }
            } else {
                violations.push(format!("non-IPv4 connect: {line}"));
            }
        } else if (line.contains("sendto(") || line.contains("sendmsg("))
            && line.contains("htons(53)")
        {
            violations.push(format!("DNS packet: {line}"));
        }
    }
    Verdict {
        violations,
        relay_connects,
    }
}

fn between<'a>(line: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let rest = &line[line.find(start)? + start.len()..];
    Some(&rest[..rest.find(end)?])
}

#[test]
fn leak_judge_flags_dns_udp_resolver_files_and_foreign_connects() {
    let ok = "1 connect(9, {sa_family=AF_INET, sin_port=htons(5100), sin_addr=inet_addr(\"127.0.0.1\")}, 16) = -1 EINPROGRESS";
    let verdict = check_trace(ok, &[5100]);
    assert!(verdict.violations.is_empty());
    assert_eq!(verdict.relay_connects, 1);
    for bad in [
        "1 connect(9, {sa_family=AF_INET, sin_port=htons(53), sin_addr=inet_addr(\"127.0.0.53\")}, 16) = 0",
        "1 connect(9, {sa_family=AF_INET, sin_port=htons(5222), sin_addr=inet_addr(\"127.0.0.1\")}, 16) = 0",
        "1 connect(9, {sa_family=AF_UNIX, sun_path=\"/var/run/nscd/socket\"}, 110) = 0",
        "1 connect(9, {sa_family=AF_UNIX, sun_path=\"/var/run/nscd/socket\"}, 110) = -1 ENOENT (No such file or directory)",
        "1 openat(AT_FDCWD, \"/etc/nsswitch.conf\", O_RDONLY|O_CLOEXEC) = 3",
        "1 openat(AT_FDCWD, \"/etc/passwd\", O_RDONLY|O_CLOEXEC) = 3",
        "1 openat(AT_FDCWD, \"/etc/group\", O_RDONLY|O_CLOEXEC) = 3",
        "1 connect(9, {sa_family=AF_INET6, sin6_port=htons(5100), sin6_addr=inet_pton(AF_INET6, \"::1\")}, 28) = 0",
        "1 socket(AF_INET6, SOCK_DGRAM, IPPROTO_IP) = 5",
        "1 socket(AF_INET, SOCK_DGRAM|SOCK_CLOEXEC|SOCK_NONBLOCK, IPPROTO_IP) = 5",
        "1 openat(AT_FDCWD, \"/etc/resolv.conf\", O_RDONLY|O_CLOEXEC) = 3",
        "1 openat(AT_FDCWD, \"/etc/hosts\", O_RDONLY|O_CLOEXEC) = 3",
        "1 openat(AT_FDCWD, \"/etc/gai.conf\", O_RDONLY|O_CLOEXEC) = 3",
    ] {
        assert_eq!(check_trace(bad, &[5100]).violations.len(), 1, "{bad}");
    }
}
