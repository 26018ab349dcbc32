//! Connector and strict login against the bed's Prosody, and against tiny fake servers that
//! offer only PLAIN or no STARTTLS.

mod support;
mod xmpp_common;

use std::sync::Arc;

use support::bed;
use talpa::xmpp::connector::TlsMode;
use talpa::xmpp::login::ScramMechanism;
use talpa::xmpp::session::Session;
use talpa::xmpp::{TrustAnchor, XmppError};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use xmpp_common::{ca_pem, config, tcp_opener};

fn resource_is_adjective_noun(r: &str) -> bool {
    let Some((a, n)) = r.split_once('_') else {
        return false;
    };
    !a.is_empty()
        && !n.is_empty()
        && a.bytes().all(|b| b.is_ascii_lowercase())
        && n.bytes().all(|b| b.is_ascii_lowercase())
}

#[tokio::test]
async fn scram_login_over_starttls_trusting_bed_ca_binds_random_resource() {
    let b = bed();
    let (jid, pw) = b.new_account("login");
    let (s1, _ev1, report) = Session::connect(
        config(
            &jid,
            &pw,
            TlsMode::StartTls,
            TrustAnchor::ExtraCaPem(ca_pem()),
        ),
        tcp_opener(&b.prosody.host, b.prosody.c2s_port),
    )
    .await
    .expect("login");
    assert!(matches!(
        report.mechanism,
        ScramMechanism::ScramSha256 | ScramMechanism::ScramSha256Plus
    ));
    let r1 = s1.bound_jid().resource().as_str().to_owned();
    assert!(resource_is_adjective_noun(&r1), "resource {r1}");
    assert_eq!(s1.bound_jid().to_bare().as_str(), jid);

    let (s2, _ev2, _) = Session::connect(
        config(
            &jid,
            &pw,
            TlsMode::StartTls,
            TrustAnchor::ExtraCaPem(ca_pem()),
        ),
        tcp_opener(&b.prosody.host, b.prosody.c2s_port),
    )
    .await
    .expect("second login");
    let r2 = s2.bound_jid().resource().as_str().to_owned();
    assert!(resource_is_adjective_noun(&r2), "resource {r2}");
    assert_ne!(r1, r2, "resource must differ across connections");
    s1.close().await;
    s2.close().await;
}

#[tokio::test]
async fn direct_tls_login_works() {
    let b = bed();
    assert_ne!(
        b.prosody.c2s_direct_tls_port, 0,
        "bed has no direct TLS port"
    );
    let (jid, pw) = b.new_account("dtls");
    let (s, _ev, _) = Session::connect(
        config(
            &jid,
            &pw,
            TlsMode::DirectTls,
            TrustAnchor::ExtraCaPem(ca_pem()),
        ),
        tcp_opener(&b.prosody.host, b.prosody.c2s_direct_tls_port),
    )
    .await
    .expect("direct TLS login");
    assert_eq!(s.bound_jid().to_bare().as_str(), jid);
    s.close().await;
}

#[tokio::test]
async fn login_over_an_already_opened_stream() {
    let b = bed();
    let (jid, pw) = b.new_account("over");
    let tcp = tokio::net::TcpStream::connect((b.prosody.host.as_str(), b.prosody.c2s_port))
        .await
        .expect("tcp");
    let (s, _ev, _) = Session::connect_over(
        config(
            &jid,
            &pw,
            TlsMode::StartTls,
            TrustAnchor::ExtraCaPem(ca_pem()),
        ),
        tcp,
    )
    .await
    .expect("login over a given stream");
    assert_eq!(s.bound_jid().to_bare().as_str(), jid);
    s.close().await;
}

#[tokio::test]
async fn wrong_ca_is_a_tls_error() {
    let b = bed();
    let (jid, pw) = b.new_account("wrongca");
    // The web PKI alone does not trust the bed's private CA.
    let err = Session::connect(
        config(&jid, &pw, TlsMode::StartTls, TrustAnchor::WebPki),
        tcp_opener(&b.prosody.host, b.prosody.c2s_port),
    )
    .await
    .err()
    .expect("must fail");
    assert!(matches!(err, XmppError::Tls(_)), "{err:?}");
}

#[tokio::test]
async fn pinned_wrong_certificate_is_a_tls_error() {
    let b = bed();
    let (jid, pw) = b.new_account("pin");
    // Pin the CA certificate instead of the server's: not the end-entity cert, must fail.
    let err = Session::connect(
        config(
            &jid,
            &pw,
            TlsMode::StartTls,
            TrustAnchor::PinnedCertPem(ca_pem()),
        ),
        tcp_opener(&b.prosody.host, b.prosody.c2s_port),
    )
    .await
    .err()
    .expect("must fail");
    assert!(matches!(err, XmppError::Tls(_)), "{err:?}");
}

#[tokio::test]
async fn wrong_password_is_auth_failed() {
    let b = bed();
    let (jid, _) = b.new_account("badpw");
    let err = Session::connect(
        config(
            &jid,
            "not-the-password",
            TlsMode::StartTls,
            TrustAnchor::ExtraCaPem(ca_pem()),
        ),
        tcp_opener(&b.prosody.host, b.prosody.c2s_port),
    )
    .await
    .err()
    .expect("must fail");
    assert!(matches!(err, XmppError::AuthFailed(_)), "{err:?}");
}

/// A fake server that answers the stream header with `features` and records what it received.
async fn fake_server(features: &'static str) -> (u16, Arc<tokio::sync::Mutex<String>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let seen = Arc::new(tokio::sync::Mutex::new(String::new()));
    let seen2 = seen.clone();
    tokio::spawn(async move {
        let Ok((mut sock, _)) = listener.accept().await else {
            return;
        };
        let mut buf = vec![0u8; 4096];
        let mut sent_features = false;
        loop {
            let n = match sock.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            seen2
                .lock()
                .await
                .push_str(&String::from_utf8_lossy(&buf[..n]));
            if !sent_features {
                sent_features = true;
                let reply = format!(
                    "<?xml version='1.0'?><stream:stream xmlns='jabber:client' \
                     xmlns:stream='http://etherx.jabber.org/streams' from='talpa.test' \
                     id='fake' version='1.0'>{features}"
                );
                if sock.write_all(reply.as_bytes()).await.is_err() {
                    break;
                }
            }
        }
    });
    (port, seen)
}

#[tokio::test]
async fn server_without_starttls_is_refused_before_auth() {
    let (port, seen) = fake_server(
        "<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>\
         <mechanism>PLAIN</mechanism><mechanism>SCRAM-SHA-256</mechanism></mechanisms>\
         </stream:features>",
    )
    .await;
    let err = Session::connect(
        config(
            "eve@talpa.test",
            "secret-password",
            TlsMode::StartTls,
            TrustAnchor::WebPki,
        ),
        tcp_opener("127.0.0.1", port),
    )
    .await
    .err()
    .expect("must fail");
    assert!(matches!(err, XmppError::NoStartTls), "{err:?}");
    let seen = seen.lock().await.clone();
    assert!(!seen.contains("<auth"), "client sent auth: {seen}");
    assert!(!seen.contains("secret"), "client leaked secret: {seen}");
    assert!(!seen.contains("eve"), "client leaked the user name: {seen}");
}

#[tokio::test]
async fn server_offering_only_plain_is_refused() {
    let fake = tls_fake_server(
        "<mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>\
         <mechanism>PLAIN</mechanism></mechanisms>",
    )
    .await;
    let err = Session::connect(
        config(
            "eve@talpa.test",
            "secret-password",
            TlsMode::DirectTls,
            TrustAnchor::ExtraCaPem(fake.ca_pem.clone()),
        ),
        tcp_opener("127.0.0.1", fake.port),
    )
    .await
    .err()
    .expect("must fail");
    assert!(
        matches!(err, XmppError::NoAcceptableMechanism { .. }),
        "{err:?}"
    );
    let seen = fake.seen.lock().await.clone();
    assert!(!seen.contains("<auth"), "client sent auth: {seen}");
    assert!(!seen.contains("secret"), "client leaked secret: {seen}");
}

#[tokio::test]
async fn login_without_remembered_channel_binding_is_a_downgrade() {
    let fake = tls_fake_server(
        "<mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>\
         <mechanism>SCRAM-SHA-256</mechanism></mechanisms>",
    )
    .await;
    let mut cfg = config(
        "eve@talpa.test",
        "secret-password",
        TlsMode::DirectTls,
        TrustAnchor::ExtraCaPem(fake.ca_pem.clone()),
    );
    cfg.require_channel_binding = true;
    let err = Session::connect(cfg, tcp_opener("127.0.0.1", fake.port))
        .await
        .err()
        .expect("must fail");
    assert!(matches!(err, XmppError::Downgrade), "{err:?}");
    let seen = fake.seen.lock().await.clone();
    assert!(!seen.contains("<auth"), "client sent auth: {seen}");
}

#[tokio::test]
async fn server_claiming_success_without_scram_proof_is_refused() {
    // A server that does not know the password (or a MITM holding a trusted certificate)
    // answers <auth/> with <success/> straight away: the missing server signature must fail
    // the login instead of proceeding.
    let fake = tls_fake_server_with(
        "<mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>\
         <mechanism>SCRAM-SHA-256</mechanism></mechanisms>",
        Some("<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>"),
    )
    .await;
    let err = Session::connect(
        config(
            "eve@talpa.test",
            "secret-password",
            TlsMode::DirectTls,
            TrustAnchor::ExtraCaPem(fake.ca_pem.clone()),
        ),
        tcp_opener("127.0.0.1", fake.port),
    )
    .await
    .err()
    .expect("must fail");
    assert!(matches!(err, XmppError::AuthFailed(_)), "{err:?}");
}

#[tokio::test]
async fn cleartext_part_of_starttls_says_nothing_about_the_account_or_client() {
    // The fake offers STARTTLS and then stops answering: we only look at what the client sent
    // in clear (stream header and the starttls request).
    let (port, seen) = fake_server(
        "<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/>\
         </starttls></stream:features>",
    )
    .await;
    let opener = tcp_opener("127.0.0.1", port);
    let connect = Session::connect(
        config(
            "eve@talpa.test",
            "secret-password",
            TlsMode::StartTls,
            TrustAnchor::WebPki,
        ),
        opener,
    );
    // The client waits for <proceed/> forever; give it a moment, then inspect.
    let _ = tokio::time::timeout(std::time::Duration::from_secs(2), connect).await;
    let seen = seen.lock().await.clone();
    assert!(seen.contains("<starttls"), "no starttls request: {seen}");
    assert!(
        seen.contains("to=\"talpa.test\"") || seen.contains("to='talpa.test'"),
        "{seen}"
    );
    for leak in [
        "eve", "from=", "xml:lang", "secret", "talpa/", "xmpp-rs", "tokio",
    ] {
        assert!(!seen.contains(leak), "cleartext contains {leak:?}: {seen}");
    }
}

/// A server whose stream features nest deeper than the stanza guard allows, on every
/// connection: each login fails with the guard's typed refusal, and after three in a row the
/// shared count says the refusal persists (the core then stops reconnecting the account).
#[tokio::test]
async fn a_server_sending_an_oversized_nonza_on_every_connection_is_a_persistent_refusal() {
    let deep: &'static str = format!("{}{}", "<a>".repeat(100), "</a>".repeat(100)).leak();
    let trips = talpa::xmpp::stanza_guard::GuardTrips::default();
    for round in 1..=talpa::xmpp::stanza_guard::MAX_CONSECUTIVE_TRIPS {
        assert!(
            !trips.persistent(),
            "persistent after {} refusals",
            round - 1
        );
        let fake = tls_fake_server(deep).await;
        let mut cfg = config(
            "eve@talpa.test",
            "secret-password",
            TlsMode::DirectTls,
            TrustAnchor::ExtraCaPem(fake.ca_pem.clone()),
        );
        cfg.guard_trips = trips.clone();
        let err = Session::connect(cfg, tcp_opener("127.0.0.1", fake.port))
            .await
            .err()
            .expect("must fail");
        assert!(
            err.guard_violation().is_some(),
            "not the guard's refusal: {err:?}"
        );
        assert_eq!(trips.consecutive(), round);
        let seen = fake.seen.lock().await.clone();
        assert!(!seen.contains("<auth"), "client sent auth: {seen}");
    }
    assert!(trips.persistent());
}

/// A direct-TLS fake server with a certificate from a throwaway CA (openssl), sending the
/// given SASL features after the stream header and recording what the client sent.
struct TlsFake {
    port: u16,
    ca_pem: String,
    seen: Arc<tokio::sync::Mutex<String>>,
    _dir: tempfile::TempDir,
}

async fn tls_fake_server(mechanisms: &'static str) -> TlsFake {
    tls_fake_server_with(mechanisms, None).await
}

/// Like [`tls_fake_server`]; additionally answers the client's `<auth` with `on_auth`.
async fn tls_fake_server_with(mechanisms: &'static str, on_auth: Option<&'static str>) -> TlsFake {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path().to_owned();
    let run = |args: &[&str]| {
        let out = std::process::Command::new("openssl")
            .args(args)
            .current_dir(&d)
            .output()
            .expect("openssl");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    run(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "1",
        "-subj",
        "/CN=Fake CA",
    ]);
    run(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "srv.key",
        "-out",
        "srv.csr",
        "-subj",
        "/CN=talpa.test",
    ]);
    std::fs::write(
        d.join("ext.cnf"),
        "subjectAltName=DNS:talpa.test\nbasicConstraints=CA:FALSE\n",
    )
    .expect("ext");
    run(&[
        "x509",
        "-req",
        "-in",
        "srv.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "srv.pem",
        "-days",
        "1",
        "-extfile",
        "ext.cnf",
    ]);
    let ca_pem = std::fs::read_to_string(d.join("ca.pem")).expect("ca");
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(d.join("srv.pem"))
        .expect("pem")
        .collect::<Result<_, _>>()
        .expect("certs");
    let key = PrivateKeyDer::from_pem_file(d.join("srv.key")).expect("key");
    let server_config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .expect("server config");
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(server_config));
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let seen = Arc::new(tokio::sync::Mutex::new(String::new()));
    let seen2 = seen.clone();
    tokio::spawn(async move {
        let Ok((sock, _)) = listener.accept().await else {
            return;
        };
        let Ok(mut tls) = acceptor.accept(sock).await else {
            return;
        };
        let mut buf = vec![0u8; 4096];
        let mut sent = false;
        let mut answered_auth = false;
        loop {
            let n = match tls.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            seen2
                .lock()
                .await
                .push_str(&String::from_utf8_lossy(&buf[..n]));
            if !sent {
                sent = true;
                let reply = format!(
                    "<?xml version='1.0'?><stream:stream xmlns='jabber:client' \
                     xmlns:stream='http://etherx.jabber.org/streams' from='talpa.test' \
                     id='fake' version='1.0'><stream:features>{mechanisms}</stream:features>"
                );
                if tls.write_all(reply.as_bytes()).await.is_err() {
                    break;
                }
            }
            if let Some(answer) = on_auth
                && !answered_auth
                && seen2.lock().await.contains("<auth")
            {
                answered_auth = true;
                if tls.write_all(answer.as_bytes()).await.is_err() {
                    break;
                }
            }
        }
    });
    TlsFake {
        port,
        ca_pem,
        seen,
        _dir: dir,
    }
}
