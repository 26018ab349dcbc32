//! Connector and strict login against the bed's Prosody, and against tiny fake servers that
//! offer only PLAIN or no STARTTLS.

mod xmpp_bed;

use std::sync::Arc;

use talpa::xmpp::connector::TlsMode;
use talpa::xmpp::login::ScramMechanism;
use talpa::xmpp::session::Session;
use talpa::xmpp::{TrustAnchor, XmppError};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use xmpp_bed::{bed, config, tcp_opener};

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
            TrustAnchor::ExtraCaPem(b.ca_pem()),
        ),
        tcp_opener(&b.host, b.c2s_port),
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
            TrustAnchor::ExtraCaPem(b.ca_pem()),
        ),
        tcp_opener(&b.host, b.c2s_port),
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
    assert_ne!(b.c2s_direct_tls_port, 0, "bed has no direct TLS port");
    let (jid, pw) = b.new_account("dtls");
    let (s, _ev, _) = Session::connect(
        config(
            &jid,
            &pw,
            TlsMode::DirectTls,
            TrustAnchor::ExtraCaPem(b.ca_pem()),
        ),
        tcp_opener(&b.host, b.c2s_direct_tls_port),
    )
    .await
    .expect("direct TLS login");
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
        tcp_opener(&b.host, b.c2s_port),
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
            TrustAnchor::PinnedCertPem(b.ca_pem()),
        ),
        tcp_opener(&b.host, b.c2s_port),
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
            TrustAnchor::ExtraCaPem(b.ca_pem()),
        ),
        tcp_opener(&b.host, b.c2s_port),
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
    plain_only_tls_fake_is_refused().await;
}

/// Direct-TLS fake server with a certificate from a throwaway CA generated by openssl, offering
/// only PLAIN: the login must fail with `NoAcceptableMechanism` and never send `<auth`.
async fn plain_only_tls_fake_is_refused() {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let run = |args: &[&str]| {
        let out = std::process::Command::new("openssl")
            .args(args)
            .current_dir(d)
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
    let ca = std::fs::read_to_string(d.join("ca.pem")).expect("ca");
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
                let reply = "<?xml version='1.0'?><stream:stream xmlns='jabber:client' \
                     xmlns:stream='http://etherx.jabber.org/streams' from='talpa.test' \
                     id='fake' version='1.0'><stream:features>\
                     <mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>\
                     <mechanism>PLAIN</mechanism></mechanisms></stream:features>";
                if tls.write_all(reply.as_bytes()).await.is_err() {
                    break;
                }
            }
        }
    });
    let err = Session::connect(
        config(
            "eve@talpa.test",
            "secret-password",
            TlsMode::DirectTls,
            TrustAnchor::ExtraCaPem(ca),
        ),
        tcp_opener("127.0.0.1", port),
    )
    .await
    .err()
    .expect("must fail");
    assert!(
        matches!(err, XmppError::NoAcceptableMechanism { .. }),
        "{err:?}"
    );
    let seen = seen.lock().await.clone();
    assert!(!seen.contains("<auth"), "client sent auth: {seen}");
    assert!(!seen.contains("secret"), "client leaked secret: {seen}");
}
