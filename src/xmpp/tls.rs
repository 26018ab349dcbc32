//! Talpa's own rustls configuration: webpki roots plus a per-account extra trust anchor, or an
//! exactly pinned certificate (self-signed servers, .onion services).
//!
//! The certificate is always checked against the JID's domain, never against the connection
//! host (which may be an IP address, a Tor exit or a .onion name).

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use sasl::common::ChannelBinding;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use super::error::XmppError;

/// ALPN protocol id for direct TLS (XEP-0368).
pub const ALPN_XMPP_CLIENT: &[u8] = b"xmpp-client";

/// How the server certificate of one account is trusted.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum TrustAnchor {
    /// The public web PKI roots (webpki-roots) only.
    #[default]
    WebPki,
    /// The web PKI roots plus one extra CA (PEM, may hold several certificates).
    ExtraCaPem(String),
    /// Exactly this server certificate (PEM) and nothing else; the chain and the name are not
    /// checked because the pin already names the one acceptable certificate.
    PinnedCertPem(String),
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn parse_pem_certs(pem: &str) -> Result<Vec<CertificateDer<'static>>, XmppError> {
    use rustls::pki_types::pem::PemObject;
    let certs: Result<Vec<_>, _> = CertificateDer::pem_slice_iter(pem.as_bytes()).collect();
    let certs = certs.map_err(|e| XmppError::TlsConfig(format!("bad PEM certificate: {e}")))?;
    if certs.is_empty() {
        return Err(XmppError::TlsConfig("no certificate in PEM".into()));
    }
    Ok(certs)
}

/// Builds the rustls client configuration for one account.
///
/// `direct_tls` sets the ALPN protocol `xmpp-client` (XEP-0368).
pub fn client_config(
    trust: &TrustAnchor,
    direct_tls: bool,
) -> Result<Arc<ClientConfig>, XmppError> {
    let builder = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| XmppError::TlsConfig(e.to_string()))?;
    let mut config = match trust {
        TrustAnchor::WebPki | TrustAnchor::ExtraCaPem(_) => {
            let mut roots = RootCertStore::empty();
            roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
            if let TrustAnchor::ExtraCaPem(pem) = trust {
                for cert in parse_pem_certs(pem)? {
                    roots
                        .add(cert)
                        .map_err(|e| XmppError::TlsConfig(format!("bad CA certificate: {e}")))?;
                }
            }
            builder.with_root_certificates(roots).with_no_client_auth()
        }
        TrustAnchor::PinnedCertPem(pem) => {
            let mut certs = parse_pem_certs(pem)?;
            let pinned = certs.swap_remove(0);
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(PinnedCertVerifier {
                    pinned,
                    algorithms: provider().signature_verification_algorithms,
                }))
                .with_no_client_auth()
        }
    };
    if direct_tls {
        config.alpn_protocols = vec![ALPN_XMPP_CLIENT.to_vec()];
    }
    Ok(Arc::new(config))
}

/// Accepts exactly one end-entity certificate (byte for byte); handshake signatures are still
/// verified, so the server must hold the pinned certificate's key.
#[derive(Debug)]
struct PinnedCertVerifier {
    pinned: CertificateDer<'static>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for PinnedCertVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if end_entity.as_ref() == self.pinned.as_ref() {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::ApplicationVerificationFailure,
            ))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// Runs the TLS handshake over `stream`, checking the certificate against `domain` (the JID's
/// domain), and extracts the tls-exporter channel binding (TLS 1.3 only).
pub async fn handshake<S>(
    stream: S,
    domain: &str,
    config: Arc<ClientConfig>,
) -> Result<(TlsStream<S>, ChannelBinding), XmppError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let name = ServerName::try_from(domain.to_owned())
        .map_err(|e| XmppError::TlsConfig(format!("invalid server name {domain}: {e}")))?;
    let tls = TlsConnector::from(config)
        .connect(name, stream)
        .await
        .map_err(XmppError::Tls)?;
    let (_, conn) = tls.get_ref();
    let binding = match conn.protocol_version() {
        Some(rustls::ProtocolVersion::TLSv1_3) => {
            let data = conn
                .export_keying_material(vec![0u8; 32], b"EXPORTER-Channel-Binding", None)
                .map_err(|e| XmppError::TlsConfig(e.to_string()))?;
            ChannelBinding::TlsExporter(data)
        }
        // tls-exporter is only safe on TLS 1.2 with extended master secret; do not bind then.
        _ => ChannelBinding::None,
    };
    Ok((tls, binding))
}
