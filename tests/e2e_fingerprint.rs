//! What the server sees of Talpa: a scripted session (login through Tor, a message, the
//! questions another client may ask, a reconnection, another message), read back from
//! Prosody's stanza log — everything Talpa sent, as the server parsed it; and Talpa's own bytes,
//! recorded in clear by a TLS relay, for what a parser would hide (xml:lang).

mod support;

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use serde_json::json;
use support::headless::talpa_online;
use support::{Peer, bed};

const LONG: Duration = Duration::from_secs(120);

/// `(session id, stanza)` for every stanza the server received on a connection that bound a
/// resource of `jid`, plus the bound resources in order.
fn talpa_traffic(log: &str, jid: &str) -> (Vec<(String, String)>, Vec<String>) {
    let mut resources = Vec::new();
    let mut sessions = HashSet::new();
    let needle = format!("<jid>{jid}/");
    for line in log.lines() {
        let mut fields = line.splitn(3, '\t');
        let (Some(head), Some(_level), Some(text)) = (fields.next(), fields.next(), fields.next())
        else {
            continue;
        };
        let Some(session) = head.rsplit(' ').next() else {
            continue;
        };
        if let (true, Some(rest)) = (text.starts_with("SEND:"), text.split(&needle).nth(1))
            && let Some(resource) = rest.split("</jid>").next()
        {
            resources.push(resource.to_owned());
            sessions.insert(session.to_owned());
        }
    }
    let received = log
        .lines()
        .filter_map(|line| {
            let mut fields = line.splitn(3, '\t');
            let session = fields.next()?.rsplit(' ').next()?.to_owned();
            let text = fields.nth(1)?;
            let stanza = text.strip_prefix("RECV: ")?;
            sessions
                .contains(&session)
                .then(|| (session, stanza.to_owned()))
        })
        .collect();
    (received, resources)
}

/// Every `name='value'` attribute of a serialised stanza.
fn attrs<'a>(stanza: &'a str, name: &str) -> Vec<&'a str> {
    stanza
        .split(&format!(" {name}='"))
        .skip(1)
        .filter_map(|r| r.split('\'').next())
        .collect()
}

/// The stanza without what OMEMO (XEP-0384) prescribes to carry protocol ids: device ids as
/// PEP item ids, prekey and signed-prekey ids in bundles, key `rid`s in `<encrypted>`. Those
/// are the protocol's, the same in every client, not ids Talpa chooses.
fn without_omemo_ids(stanza: &str) -> String {
    let mut s = stanza.to_owned();
    for (open, close) in [
        ("<bundle", "</bundle>"),
        ("<encrypted", "</encrypted>"),
        ("<list", "</list>"),
        ("<devices", "</devices>"),
    ] {
        while let Some(a) = s.find(open) {
            let Some(b) = s[a..].find(close) else { break };
            s.replace_range(a..a + b + close.len(), "");
        }
    }
    if s.contains("omemo") || s.contains("axolotl") {
        while let Some(a) = s.find("<item id='") {
            let Some(b) = s[a + 10..].find('\'') else {
                break;
            };
            s.replace_range(a..=(a + 10 + b), "<item");
        }
    }
    s
}

fn is_random_id(id: &str) -> bool {
    id.len() == 32
        && id
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
}

#[test]
fn the_server_log_of_a_talpa_session_shows_no_fingerprint() {
    let bed = bed();
    let stanza_log = bed
        .prosody
        .stanza_log
        .clone()
        .expect("the bed logs stanzas (bed.json prosody.stanza_log)");
    let (a, apw) = bed.new_account("plain");
    let (b, bpw) = bed.new_account("curious");
    let dir = tempfile::tempdir().expect("tempdir");
    let mut talpa = talpa_online(bed, &dir.path().join("p"), &a, &apw);
    let mut peer = Peer::spawn(bed, &b, &bpw);

    // This peer has no OMEMO keys: encryption (on by default) is turned off explicitly.
    talpa.call(json!({"cmd": "set_encryption", "account": a, "conversation": b, "enabled": false}));
    talpa.call(json!({"cmd": "send", "account": a, "to": b, "body": "first"}));
    peer.wait_message("first", LONG);
    let online = talpa.wait_event(|e| e["event"] == "account_state" && e["state"] == "online");
    let full = online["detail"].as_str().expect("bound JID").to_owned();

    // What any client may ask another: features, software version, time, idle time.
    let mut answers = BTreeMap::new();
    for (n, ns) in [
        (
            "disco",
            "<query xmlns='http://jabber.org/protocol/disco#info'/>",
        ),
        ("version", "<query xmlns='jabber:iq:version'/>"),
        ("time", "<time xmlns='urn:xmpp:time'/>"),
        ("last", "<query xmlns='jabber:iq:last'/>"),
    ] {
        let xml = format!("<iq type='get' to='{full}'>{ns}</iq>");
        peer.send_cmd(&json!({"cmd": "iq", "xml": xml, "id": n}));
        let ack = peer.wait_event(|e| e["event"] == "ack" && e["id"] == n, LONG);
        answers.insert(n, ack);
    }
    assert_eq!(answers["disco"]["type"], "result", "{answers:?}");
    for refused in ["version", "time", "last"] {
        assert_eq!(
            answers[refused]["condition"], "service-unavailable",
            "{refused}: {answers:?}"
        );
    }

    // Reconnect: a new stream, a new resource.
    talpa.call(json!({"cmd": "set_account_enabled", "account": a, "enabled": false}));
    talpa.events.clear();
    talpa.call(json!({"cmd": "set_account_enabled", "account": a, "enabled": true}));
    talpa.wait_event_for(
        |e| e["event"] == "account_state" && e["state"] == "online",
        LONG,
    );
    talpa.call(json!({"cmd": "send", "account": a, "to": b, "body": "second"}));
    peer.wait_message("second", LONG);
    talpa.quit();

    let log = std::fs::read_to_string(&stanza_log).expect("stanza log");
    let (received, resources) = talpa_traffic(&log, &a);
    assert_eq!(resources.len(), 2, "two logins: {resources:?}");
    for r in &resources {
        let (adj, noun) = r.split_once('_').unwrap_or_default();
        assert!(
            !adj.is_empty()
                && !noun.is_empty()
                && r.bytes().all(|c| c.is_ascii_lowercase() || c == b'_')
                && r.matches('_').count() == 1,
            "resource {r:?} is not ^[a-z]+_[a-z]+$"
        );
    }
    assert_ne!(resources[0], resources[1], "a new resource per connection");

    assert!(
        received.len() > 10,
        "too little traffic found: {received:?}"
    );
    let all: Vec<&str> = received.iter().map(|(_, s)| s.as_str()).collect();
    let report = all.join("\n");
    for forbidden in [
        "resource-binding", // tokio-xmpp's fixed bind id
        "jabber:iq:version'><name",
        "<os>",
        "<tzo>",
        "<utc>",
        "seconds='",
        "Talpa",
        "tokio",
        "xmpp-rs",
    ] {
        assert!(
            !report.contains(forbidden),
            "Talpa sent {forbidden:?}:\n{report}"
        );
    }
    // Prosody's parser stamps its default `en` on every stanza that carries no xml:lang of
    // its own; any other value would be the client's.
    for stanza in &all {
        for lang in attrs(stanza, "xml:lang") {
            assert_eq!(lang, "en", "Talpa chose a language: {stanza}");
        }
    }
    let disco = all
        .iter()
        .find(|s| s.contains("http://jabber.org/protocol/disco#info") && s.contains("<identity"))
        .expect("the disco#info answer is in the log");
    assert!(
        !disco.contains(" name='"),
        "disco#info names the client: {disco}"
    );
    assert!(
        disco.contains("category='client'") && disco.contains("type='pc'"),
        "{disco}"
    );

    // Every id Talpa chose is 128-bit random and never reused; answers to others' requests
    // carry the requester's id and are left out.
    let mut seen = HashSet::new();
    for stanza in &all {
        let answer = stanza.starts_with("<iq")
            && (attrs(stanza, "type").first() == Some(&"result")
                || attrs(stanza, "type").first() == Some(&"error"));
        if answer {
            continue;
        }
        let mut own = HashSet::new();
        let stripped = without_omemo_ids(stanza);
        for id in attrs(&stripped, "id")
            .into_iter()
            .chain(attrs(&stripped, "queryid"))
        {
            assert!(
                is_random_id(id),
                "counter-like or fixed id {id:?} in {stanza}"
            );
            own.insert(id);
        }
        for id in own {
            // The message id and its origin-id are one value, on purpose.
            assert!(seen.insert(id.to_owned()), "id {id} reused in {stanza}");
        }
    }
}

/// A TLS relay in front of Prosody's direct-TLS port that records, in clear, every byte the
/// client sends: what Talpa itself wrote, before Prosody's parser adds anything (it stamps
/// `xml:lang='en'` on every stanza that has none, so its log cannot show a missing xml:lang).
struct Recorder {
    port: u16,
    sent: std::sync::Arc<std::sync::Mutex<Vec<u8>>>,
    _rt: tokio::runtime::Runtime,
}

impl Recorder {
    fn start(bed: &support::Bed) -> Recorder {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
        use std::sync::{Arc, Mutex};
        use tokio::io::{AsyncReadExt, AsyncWriteExt};

        let tls = bed.dir.join("tls");
        let certs: Vec<CertificateDer<'static>> =
            CertificateDer::pem_file_iter(tls.join("server.crt"))
                .expect("server cert")
                .collect::<Result<_, _>>()
                .expect("server cert");
        let key = PrivateKeyDer::from_pem_file(tls.join("server.key")).expect("server key");
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut server = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .expect("tls versions")
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .expect("server config");
        server.alpn_protocols = vec![b"xmpp-client".to_vec()];
        let mut roots = rustls::RootCertStore::empty();
        for ca in CertificateDer::pem_file_iter(&bed.ca_cert).expect("ca") {
            roots.add(ca.expect("ca")).expect("ca");
        }
        let client = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("tls versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(server));
        let connector = tokio_rustls::TlsConnector::from(Arc::new(client));
        let upstream = (bed.prosody.host.clone(), bed.prosody.c2s_direct_tls_port);

        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime");
        let listener = rt
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let sent = Arc::new(Mutex::new(Vec::new()));
        let record = sent.clone();
        rt.spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    return;
                };
                let (acceptor, connector, upstream, record) = (
                    acceptor.clone(),
                    connector.clone(),
                    upstream.clone(),
                    record.clone(),
                );
                tokio::spawn(async move {
                    let Ok(inbound) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let Ok(up) = tokio::net::TcpStream::connect(upstream).await else {
                        return;
                    };
                    let name = ServerName::try_from("talpa.test").expect("name");
                    let Ok(outbound) = connector.connect(name, up).await else {
                        return;
                    };
                    let (mut ci, mut co) = tokio::io::split(inbound);
                    let (mut si, mut so) = tokio::io::split(outbound);
                    let to_server = async {
                        let mut buf = vec![0u8; 16 * 1024];
                        while let Ok(n) = ci.read(&mut buf).await {
                            if n == 0 || so.write_all(&buf[..n]).await.is_err() {
                                break;
                            }
                            record.lock().expect("record").extend_from_slice(&buf[..n]);
                        }
                        let _ = so.shutdown().await;
                    };
                    let to_client = async {
                        let _ = tokio::io::copy(&mut si, &mut co).await;
                        let _ = co.shutdown().await;
                    };
                    tokio::join!(to_server, to_client);
                });
            }
        });
        Recorder {
            port,
            sent,
            _rt: rt,
        }
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.sent.lock().expect("record")).into_owned()
    }
}

#[test]
fn talpa_writes_no_xml_lang_anywhere_read_from_its_own_bytes() {
    let bed = bed();
    let (a, apw) = bed.new_account("nolang");
    let (b, bpw) = bed.new_account("langpeer");
    let recorder = Recorder::start(bed);
    let dir = tempfile::tempdir().expect("tempdir");
    let mut talpa = support::headless::talpa_online_with(
        bed,
        &dir.path().join("p"),
        &a,
        &apw,
        &json!({"port": recorder.port, "direct_tls": true}),
    );
    let mut peer = Peer::spawn(bed, &b, &bpw);
    talpa.call(
        json!({"cmd": "set_encryption", "account": a, "conversation": b,
                      "enabled": false}),
    );
    let (r, _) = talpa.call(json!({"cmd": "send", "account": a, "to": b, "body": "no lang"}));
    assert_eq!(r["ok"], true, "{r}");
    peer.wait_message("no lang", LONG);
    peer.send_message(&a, "reply");
    talpa.wait_event_for(|e| e["event"] == "message" && e["body"] == "reply", LONG);
    talpa.quit();

    let sent = recorder.text();
    for must in [
        "<stream:stream",
        "<auth ",
        "<iq ",
        "<presence",
        "<message",
        "no lang",
    ] {
        assert!(
            sent.contains(must),
            "the relay did not see {must:?}: {sent}"
        );
    }
    assert!(
        !sent.contains("lang="),
        "Talpa wrote a language: {}",
        sent.split("lang=")
            .nth(1)
            .map(|r| r.chars().take(80).collect::<String>())
            .unwrap_or_default()
    );
}
