//! Self-test of the shared test bed: Prosody, the private Tor network, the C tor client and
//! the Python peers all work, so other tests can rely on them.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use base64::Engine as _;
use serde_json::{Value, json};
use support::{Peer, PeerOptions, bed};

#[test]
fn prosody_is_up_and_two_peers_exchange_a_message() {
    let bed = bed();
    let (alice_jid, alice_pw) = bed.new_account("alice");
    let (bob_jid, bob_pw) = bed.new_account("bob");
    let mut alice = Peer::spawn(bed, &alice_jid, &alice_pw);
    let mut bob = Peer::spawn(bed, &bob_jid, &bob_pw);
    assert!(
        alice.full_jid.starts_with(&format!("{alice_jid}/")),
        "{}",
        alice.full_jid
    );

    let body = format!("hello bob {}", support::random_hex(4));
    alice.send_message(&bob_jid, &body);
    let got = bob.wait_message(&body, Duration::from_secs(30));
    assert_eq!(got["type"], "chat");
    assert!(
        got["from"]
            .as_str()
            .unwrap_or_default()
            .starts_with(&alice_jid),
        "{got}"
    );
    assert_eq!(got["encrypted"], Value::Null);

    // Echo mode: bob answers with the same body.
    bob.send_cmd(&json!({"cmd": "echo", "on": true, "id": "e1"}));
    bob.wait_event(
        |e| e["event"] == "ack" && e["id"] == "e1",
        Duration::from_secs(10),
    );
    let body2 = format!("echo this {}", support::random_hex(4));
    alice.send_message(&bob_jid, &body2);
    let echoed = alice.wait_message(&body2, Duration::from_secs(30));
    assert!(
        echoed["from"]
            .as_str()
            .unwrap_or_default()
            .starts_with(&bob_jid),
        "{echoed}"
    );
}

#[test]
fn peer_connects_with_direct_tls_and_wrong_password_fails_fast() {
    let bed = bed();
    let (jid, pw) = bed.new_account("directtls");
    let p = Peer::spawn_with(
        bed,
        &jid,
        &pw,
        &PeerOptions {
            direct_tls: true,
            ..PeerOptions::default()
        },
    );
    assert!(p.full_jid.starts_with(&jid), "{}", p.full_jid);
    let wrong = std::panic::catch_unwind(|| Peer::spawn(bed, &jid, "not-the-password"));
    let msg = wrong
        .err()
        .and_then(|e| e.downcast::<String>().ok())
        .expect("spawn must panic");
    assert!(msg.contains("authentication failed"), "{msg}");
}

#[test]
fn peers_chat_in_a_muc_room() {
    let bed = bed();
    let (a_jid, a_pw) = bed.new_account("mucowner");
    let (b_jid, b_pw) = bed.new_account("mucmember");
    let mut a = Peer::spawn(bed, &a_jid, &a_pw);
    let mut b = Peer::spawn(bed, &b_jid, &b_pw);
    let room = bed.new_room("selftest");
    a.send_cmd(&json!({"cmd": "join", "room": room, "nick": "owner"}));
    a.wait_event(|e| e["event"] == "joined", Duration::from_secs(30));
    b.send_cmd(&json!({"cmd": "join", "room": room, "nick": "member"}));
    b.wait_event(|e| e["event"] == "joined", Duration::from_secs(30));
    let body = format!("to the room {}", support::random_hex(4));
    a.send_cmd(&json!({"cmd": "groupchat", "room": room, "body": body}));
    let got = b.wait_event(
        |e| e["event"] == "message" && e["type"] == "groupchat" && e["body"] == body.as_str(),
        Duration::from_secs(30),
    );
    assert_eq!(got["from"], format!("{room}/owner"));
}

/// Reads from `s` until `needle` appears or the stream ends; returns what was read.
fn read_until(s: &mut TcpStream, needle: &str) -> String {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = s.read(&mut chunk).expect("read from tor stream");
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
        if String::from_utf8_lossy(&buf).contains(needle) {
            break;
        }
    }
    String::from_utf8_lossy(&buf).into_owned()
}

#[test]
fn c_tor_client_reaches_prosody_through_the_private_network() {
    let bed = bed();
    let mut s = TcpStream::connect(bed.socks_addr()).expect("connect to tor SocksPort");
    s.set_read_timeout(Some(Duration::from_mins(1)))
        .expect("set timeout");
    // SOCKS5 greeting: version 5, one method, "no authentication".
    s.write_all(&[5, 1, 0]).expect("socks greeting");
    let mut reply = [0u8; 2];
    s.read_exact(&mut reply).expect("socks method reply");
    assert_eq!(reply, [5, 0], "tor refused the no-auth method");
    // CONNECT 127.0.0.1:c2s_port.
    let port = bed.prosody.c2s_port.to_be_bytes();
    s.write_all(&[5, 1, 0, 1, 127, 0, 0, 1, port[0], port[1]])
        .expect("socks connect");
    let mut head = [0u8; 10];
    s.read_exact(&mut head).expect("socks connect reply");
    assert_eq!(
        head[1],
        0,
        "SOCKS CONNECT failed with code {}; tor client log:\n{}",
        head[1],
        support::tail(&bed.dir.join("tor/client/notice.log"), 30)
    );
    s.write_all(
        format!(
            "<?xml version='1.0'?><stream:stream to='{}' xmlns='jabber:client' \
             xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>",
            bed.domain
        )
        .as_bytes(),
    )
    .expect("send stream header");
    let got = read_until(&mut s, "</stream:features>");
    assert!(
        got.contains("<stream:stream"),
        "no stream header from Prosody: {got}"
    );
    assert!(got.contains(&format!("from='{}'", bed.domain)), "{got}");
    assert!(
        got.contains("urn:ietf:params:xml:ns:xmpp-tls"),
        "STARTTLS not offered: {got}"
    );
}

#[test]
fn tor_network_file_lists_every_relay() {
    let bed = bed();
    let text = std::fs::read_to_string(&bed.tor.network_file).expect("read tor-network.json");
    let net: Value = serde_json::from_str(&text).expect("tor-network.json is JSON");
    assert_eq!(net["local_network"], true);

    let auths = net["authorities"].as_array().expect("authorities array");
    assert_eq!(auths.len(), bed.tor.authorities.len());
    assert!(auths.len() >= 3);
    for (a, b) in auths.iter().zip(&bed.tor.authorities) {
        let v3 = a["v3ident"].as_str().expect("v3ident");
        assert_eq!(v3.len(), 40);
        assert!(
            v3.chars()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_lowercase()),
            "{v3}"
        );
        assert_eq!(a["name"], b.nickname.as_str());
        assert_eq!(v3, b.v3ident);
    }

    let fallbacks = net["fallbacks"].as_array().expect("fallbacks array");
    assert!(bed.tor.relays.len() >= 5);
    assert!(bed.tor.relays.iter().filter(|r| r.exit).count() >= 2);
    for relay in &bed.tor.relays {
        let fb = fallbacks
            .iter()
            .find(|f| f["rsa_identity"] == relay.rsa_identity.as_str())
            .unwrap_or_else(|| panic!("{} missing from fallbacks", relay.nickname));
        assert_eq!(
            fb["orports"],
            json!([format!("127.0.0.1:{}", relay.or_port)])
        );
        let ed = fb["ed_identity"].as_str().expect("ed_identity");
        let raw = base64::engine::general_purpose::STANDARD_NO_PAD
            .decode(ed.trim_end_matches('='))
            .expect("ed_identity is base64");
        assert_eq!(
            raw.len(),
            32,
            "ed25519 identity of {} is not 32 bytes",
            relay.nickname
        );
    }
    let endpoints = bed.tor_endpoints();
    for fb in fallbacks {
        assert_eq!(fb["rsa_identity"].as_str().map(str::len), Some(40), "{fb}");
        let orport: std::net::SocketAddr = fb["orports"][0]
            .as_str()
            .expect("orport")
            .parse()
            .expect("orport parses");
        assert!(
            endpoints.contains(&orport),
            "{orport} not among the bed's tor endpoints"
        );
    }
}

#[test]
fn omemo_peers_exchange_legacy_omemo_and_omemo2_messages() {
    let bed = bed();
    let omemo = PeerOptions {
        omemo: true,
        ..PeerOptions::default()
    };
    let (a_jid, a_pw) = bed.new_account("omemoa");
    let (b_jid, b_pw) = bed.new_account("omemob");
    let mut a = Peer::spawn_with(bed, &a_jid, &a_pw, &omemo);
    let mut b = Peer::spawn_with(bed, &b_jid, &b_pw, &omemo);

    // b's devices are visible to a (non-contact) with both namespaces.
    a.send_cmd(&json!({"cmd": "omemo_devices", "jid": b_jid, "id": "d1"}));
    let ack = a.wait_event(
        |e| e["event"] == "ack" && e["id"] == "d1",
        Duration::from_secs(30),
    );
    let devices = ack["devices"].as_array().expect("devices");
    assert_eq!(devices.len(), 1, "{ack}");

    for kind in ["oldmemo", "twomemo"] {
        let body = format!("secret {kind} {}", support::random_hex(4));
        a.send_cmd(&json!({"cmd": "send", "to": b_jid, "body": body, "encrypt": kind}));
        let got = b.wait_message(&body, Duration::from_secs(30));
        assert_eq!(got["encrypted"], kind, "{got}");
        if kind == "twomemo" {
            assert_eq!(got["sce_from"], a_jid.as_str(), "{got}");
        }
        // The stanza on the wire is not the plaintext.
        let stanzas = std::fs::read_to_string(bed.prosody.stanza_log.as_ref().expect("stanza log"))
            .expect("read stanza log");
        assert!(!stanzas.contains(&body), "{kind} body leaked to the server");
    }

    // And back, echoing in the same encryption.
    b.send_cmd(&json!({"cmd": "echo", "on": true, "id": "e"}));
    b.wait_event(
        |e| e["event"] == "ack" && e["id"] == "e",
        Duration::from_secs(10),
    );
    let body = format!("echo me {}", support::random_hex(4));
    a.send_cmd(&json!({"cmd": "send", "to": b_jid, "body": body, "encrypt": "twomemo"}));
    let got = a.wait_message(&body, Duration::from_secs(30));
    assert_eq!(got["encrypted"], "twomemo", "{got}");
}

#[test]
fn peers_subscribe_to_each_other() {
    let bed = bed();
    let (a_jid, a_pw) = bed.new_account("rostera");
    let (b_jid, b_pw) = bed.new_account("rosterb");
    let mut a = Peer::spawn(bed, &a_jid, &a_pw);
    let mut b = Peer::spawn(bed, &b_jid, &b_pw);
    a.send_cmd(&json!({"cmd": "roster_add", "jid": b_jid, "name": "Bob"}));
    let req = b.wait_event(|e| e["event"] == "subscribe", Duration::from_secs(30));
    assert_eq!(req["from"], a_jid.as_str());
    b.send_cmd(&json!({"cmd": "roster_approve", "jid": a_jid}));
    let ok = a.wait_event(|e| e["event"] == "subscribed", Duration::from_secs(30));
    assert_eq!(ok["from"], b_jid.as_str());
    // b subscribed back as part of approving.
    let back = a.wait_event(|e| e["event"] == "subscribe", Duration::from_secs(30));
    assert_eq!(back["from"], b_jid.as_str());
}

#[test]
fn omemo_peers_chat_encrypted_in_a_members_only_room() {
    let bed = bed();
    let omemo = PeerOptions {
        omemo: true,
        ..PeerOptions::default()
    };
    let (a_jid, a_pw) = bed.new_account("mucomemoa");
    let (b_jid, b_pw) = bed.new_account("mucomemob");
    let mut a = Peer::spawn_with(bed, &a_jid, &a_pw, &omemo);
    let mut b = Peer::spawn_with(bed, &b_jid, &b_pw, &omemo);
    let room = bed.new_room("private");
    let config = json!({
        "muc#roomconfig_membersonly": true,
        "muc#roomconfig_whois": "anyone",
        "muc#roomconfig_persistentroom": true,
    });
    a.send_cmd(&json!({"cmd": "join", "room": room, "nick": "alice", "config": config}));
    a.wait_event(|e| e["event"] == "joined", Duration::from_secs(30));
    a.send_cmd(&json!({"cmd": "affiliation", "room": room, "jid": b_jid,
                       "affiliation": "member", "id": "aff"}));
    a.wait_event(
        |e| e["event"] == "ack" && e["id"] == "aff",
        Duration::from_secs(30),
    );
    b.send_cmd(&json!({"cmd": "join", "room": room, "nick": "bob"}));
    b.wait_event(|e| e["event"] == "joined", Duration::from_secs(30));
    let seen = a.wait_event(
        |e| e["event"] == "occupant" && e["nick"] == "bob" && e["available"] == true,
        Duration::from_secs(30),
    );
    assert!(
        seen["real_jid"]
            .as_str()
            .unwrap_or_default()
            .starts_with(&b_jid),
        "{seen}"
    );
    assert_eq!(seen["affiliation"], "member");

    for kind in ["oldmemo", "twomemo"] {
        let body = format!("group secret {kind} {}", support::random_hex(4));
        a.send_cmd(
            &json!({"cmd": "groupchat", "room": room, "body": body, "encrypt": kind,
                           "id": kind}),
        );
        let ack = a.wait_event(|e| e["id"] == kind, Duration::from_secs(30));
        assert_eq!(ack["event"], "ack", "{ack}");
        assert_eq!(ack["recipients"], json!([b_jid]));
        let got = b.wait_message(&body, Duration::from_secs(30));
        assert_eq!(got["type"], "groupchat");
        assert_eq!(got["encrypted"], kind, "{got}");
        assert_eq!(got["from"], format!("{room}/alice"));
    }
    // A non-member cannot join the members-only room.
    let (c_jid, c_pw) = bed.new_account("outsider");
    let mut c = Peer::spawn(bed, &c_jid, &c_pw);
    c.send_cmd(&json!({"cmd": "join", "room": room, "nick": "eve", "id": "j"}));
    let err = c.wait_event(|e| e["id"] == "j", Duration::from_secs(30));
    assert_eq!(err["event"], "error", "{err}");
    assert!(
        err["error"]
            .as_str()
            .unwrap_or_default()
            .contains("registration-required"),
        "{err}"
    );
}

/// Builds an Arti config for the bed's private network from `tor-network.json`, the way Talpa's
/// `--tor-network` option is specified (local addresses, /33 and /129 family prefixes,
/// guard-min-filtered-sample-size=3).
fn arti_config_for(bed: &support::Bed, dir: &std::path::Path) -> arti_client::TorClientConfig {
    let text = std::fs::read_to_string(&bed.tor.network_file).expect("read tor-network.json");
    let net: Value = serde_json::from_str(&text).expect("tor-network.json is JSON");
    let v3idents: Vec<Value> = net["authorities"]
        .as_array()
        .expect("authorities")
        .iter()
        .map(|a| a["v3ident"].clone())
        .collect();
    let cfg = json!({
        "tor_network": {
            "authorities": {"v3idents": v3idents},
            "fallback_caches": net["fallbacks"],
        },
        "address_filter": {"allow_local_addrs": true},
        "path_rules": {"ipv4_subnet_family_prefix": 33, "ipv6_subnet_family_prefix": 129},
        "override_net_params": {"guard-min-filtered-sample-size": 3},
        "storage": {
            "cache_dir": dir.join("cache").to_str().expect("utf-8 path"),
            "state_dir": dir.join("state").to_str().expect("utf-8 path"),
            "permissions": {"dangerously_trust_everyone": true},
        },
    });
    let builder: arti_client::config::TorClientConfigBuilder =
        serde_json::from_value(cfg).expect("arti config deserializes");
    builder.build().expect("arti config builds")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn arti_bootstraps_from_the_network_file_and_reaches_prosody() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let bed = bed();
    let dir = tempfile::tempdir().expect("tempdir");
    let config = arti_config_for(bed, dir.path());
    let client = tokio::time::timeout(
        Duration::from_mins(3),
        arti_client::TorClient::create_bootstrapped(config),
    )
    .await
    .expect("Arti did not bootstrap on the private network within 180 s")
    .expect("Arti failed to bootstrap on the private network");
    let mut stream = tokio::time::timeout(
        Duration::from_mins(2),
        client.connect(("127.0.0.1", bed.prosody.c2s_port)),
    )
    .await
    .expect("Arti connect timed out")
    .expect("Arti could not open a stream to Prosody through the private network");
    stream
        .write_all(
            format!(
                "<?xml version='1.0'?><stream:stream to='{}' xmlns='jabber:client' \
                 xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>",
                bed.domain
            )
            .as_bytes(),
        )
        .await
        .expect("write stream header");
    stream.flush().await.expect("flush");
    let mut got = Vec::new();
    let mut chunk = [0u8; 4096];
    while !String::from_utf8_lossy(&got).contains("</stream:features>") {
        let n = tokio::time::timeout(Duration::from_mins(1), stream.read(&mut chunk))
            .await
            .expect("read timed out")
            .expect("read from Arti stream");
        if n == 0 {
            break;
        }
        got.extend_from_slice(&chunk[..n]);
    }
    let got = String::from_utf8_lossy(&got);
    assert!(got.contains(&format!("from='{}'", bed.domain)), "{got}");
    assert!(got.contains("urn:ietf:params:xml:ns:xmpp-tls"), "{got}");
}

#[test]
fn peer_uploads_a_file_that_is_downloadable_through_tor() {
    let bed = bed();
    let (jid, pw) = bed.new_account("uploader");
    let mut p = Peer::spawn(bed, &jid, &pw);
    let text = format!("attachment {}", support::random_hex(8));
    p.send_cmd(&json!({"cmd": "upload", "text": text, "filename": "a.txt",
                       "content_type": "text/plain", "id": "u"}));
    let ack = p.wait_event(|e| e["id"] == "u", Duration::from_secs(30));
    assert_eq!(ack["event"], "ack", "{ack}");
    let url = ack["get_url"].as_str().expect("get_url");
    let prefix = format!("http://127.0.0.1:{}/", bed.prosody.http_port);
    let path = url
        .strip_prefix(&prefix)
        .unwrap_or_else(|| panic!("unexpected URL {url}"));

    // GET it through the C tor client, as a Tor-only client would.
    let mut s = TcpStream::connect(bed.socks_addr()).expect("connect to tor SocksPort");
    s.set_read_timeout(Some(Duration::from_mins(1)))
        .expect("set timeout");
    s.write_all(&[5, 1, 0]).expect("socks greeting");
    let mut reply = [0u8; 2];
    s.read_exact(&mut reply).expect("socks method reply");
    let port = bed.prosody.http_port.to_be_bytes();
    s.write_all(&[5, 1, 0, 1, 127, 0, 0, 1, port[0], port[1]])
        .expect("socks connect");
    let mut head = [0u8; 10];
    s.read_exact(&mut head).expect("socks connect reply");
    assert_eq!(head[1], 0, "SOCKS CONNECT to the HTTP port failed");
    s.write_all(format!("GET /{path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").as_bytes())
        .expect("send GET");
    let mut resp = String::new();
    s.read_to_string(&mut resp).expect("read response");
    assert!(
        resp.lines().next().unwrap_or_default().contains(" 200 "),
        "{resp}"
    );
    assert!(resp.ends_with(&text), "{resp}");
}

#[test]
fn peer_sends_raw_stanzas_and_queries_iqs() {
    let bed = bed();
    let (a_jid, a_pw) = bed.new_account("rawa");
    let (b_jid, b_pw) = bed.new_account("rawb");
    let mut a = Peer::spawn(bed, &a_jid, &a_pw);
    let mut b = Peer::spawn(bed, &b_jid, &b_pw);

    // disco#info of another client, answered by slixmpp.
    let q = format!(
        "<iq type='get' to='{}'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>",
        b.full_jid
    );
    a.send_cmd(&json!({"cmd": "iq", "xml": q, "id": "q"}));
    let ack = a.wait_event(|e| e["id"] == "q", Duration::from_secs(30));
    assert_eq!(ack["type"], "result", "{ack}");
    assert!(
        ack["response"]
            .as_str()
            .unwrap_or_default()
            .contains("<identity"),
        "{ack}"
    );

    // An IQ nobody handles comes back as an error with its condition.
    let bad = format!(
        "<iq type='get' to='{}'><nonsense xmlns='urn:example:nope'/></iq>",
        b.full_jid
    );
    a.send_cmd(&json!({"cmd": "iq", "xml": bad, "id": "bad"}));
    let ack = a.wait_event(|e| e["id"] == "bad", Duration::from_secs(30));
    assert_eq!(ack["type"], "error", "{ack}");
    assert_eq!(ack["condition"], "feature-not-implemented", "{ack}");

    // Raw XML goes out as-is; raw_events shows the stanza on the other side.
    b.send_cmd(&json!({"cmd": "raw_events", "on": true, "id": "r"}));
    b.wait_event(|e| e["id"] == "r", Duration::from_secs(10));
    let marker = support::random_hex(6);
    let raw = format!(
        "<message to='{b_jid}' type='chat'><body>raw {marker}</body>\
         <x xmlns='urn:example:marker'>{marker}</x></message>"
    );
    a.send_cmd(&json!({"cmd": "raw", "xml": raw}));
    let got = b.wait_event(
        |e| {
            e["event"] == "stanza"
                && e["xml"]
                    .as_str()
                    .is_some_and(|x| x.contains("urn:example:marker"))
        },
        Duration::from_secs(30),
    );
    assert!(
        got["from"].as_str().unwrap_or_default().starts_with(&a_jid),
        "{got}"
    );
}

#[test]
fn a_second_device_of_the_same_account_gets_carbons() {
    let bed = bed();
    let (a_jid, a_pw) = bed.new_account("carbona");
    let (b_jid, b_pw) = bed.new_account("carbonb");
    let mut a1 = Peer::spawn(bed, &a_jid, &a_pw);
    let mut a2 = Peer::spawn(bed, &a_jid, &a_pw);
    assert_ne!(a1.full_jid, a2.full_jid);
    let mut b = Peer::spawn(bed, &b_jid, &b_pw);
    a2.send_cmd(&json!({"cmd": "carbons", "on": true, "id": "c"}));
    let ack = a2.wait_event(|e| e["id"] == "c", Duration::from_secs(30));
    assert_eq!(ack["event"], "ack", "{ack}");

    let out = format!("from a1 {}", support::random_hex(4));
    a1.send_message(&b_jid, &out);
    let sent = a2.wait_event(
        |e| e["event"] == "carbon" && e["body"] == out.as_str(),
        Duration::from_secs(30),
    );
    assert_eq!(sent["direction"], "sent");
    b.wait_message(&out, Duration::from_secs(30));

    let back = format!("to a {}", support::random_hex(4));
    b.send_cmd(&json!({"cmd": "send", "to": a1.full_jid, "body": back}));
    a1.wait_message(&back, Duration::from_secs(30));
    let received = a2.wait_event(
        |e| e["event"] == "carbon" && e["body"] == back.as_str(),
        Duration::from_secs(30),
    );
    assert_eq!(received["direction"], "received");
}
