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
    for fb in fallbacks {
        assert_eq!(fb["rsa_identity"].as_str().map(str::len), Some(40), "{fb}");
    }
}

#[test]
fn omemo_peers_exchange_legacy_omemo_and_omemo2_messages() {
    let bed = bed();
    let omemo = PeerOptions { omemo: true };
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
