//! Errors of the xmpp layer.

use std::io;

/// Everything that can go wrong while connecting, logging in or running a session.
#[derive(Debug, thiserror::Error)]
pub enum XmppError {
    /// The server did not offer STARTTLS; nothing (least of all credentials) was sent.
    #[error("server does not offer STARTTLS")]
    NoStartTls,
    /// The server refused STARTTLS after offering it.
    #[error("server refused STARTTLS")]
    StartTlsRefused,
    /// The TLS handshake failed (untrusted certificate, wrong name, pin mismatch, ...).
    #[error("TLS handshake failed: {0}")]
    Tls(#[source] io::Error),
    /// The TLS configuration (trust anchor, pin, server name) is unusable.
    #[error("TLS configuration error: {0}")]
    TlsConfig(String),
    /// The server offers no SASL mechanism Talpa accepts (only SCRAM is accepted).
    #[error("no acceptable SASL mechanism offered (offered: {offered})")]
    NoAcceptableMechanism {
        /// The mechanisms the server offered, comma separated.
        offered: String,
    },
    /// The server rejected the credentials, or its SCRAM proof was wrong.
    #[error("authentication failed: {0}")]
    AuthFailed(String),
    /// The server offered channel binding (-PLUS) on an earlier login but not now: a possible
    /// man in the middle stripping it.
    #[error("channel binding was offered before but not now: possible downgrade attack")]
    Downgrade,
    /// The JID has no local part or is otherwise unusable for login.
    #[error("invalid account JID: {0}")]
    InvalidJid(String),
    /// The server violated the protocol.
    #[error("protocol violation: {0}")]
    Protocol(String),
    /// The stream failed (I/O error, closed connection).
    #[error("stream error: {0}")]
    Io(#[from] io::Error),
    /// The session is gone (stream closed for good).
    #[error("disconnected")]
    Disconnected,
    /// An IQ request was answered with an error.
    #[error("request failed: {0}")]
    IqError(String),
    /// A request was not answered in time.
    #[error("request timed out")]
    Timeout,
    /// Opening the underlying byte stream failed (the opener is the tor layer).
    #[error("could not open stream: {0}")]
    Open(String),
    /// The server sent an element the stanza guard refuses (not a stanza, nested too deeply
    /// or too long) on `times` connections in a row: reconnecting would fetch it again.
    #[error(
        "the server sent an element nested too deeply or too long (not a stanza) {times} times \
         in a row; Talpa stopped reconnecting"
    )]
    ServerInputRefused {
        /// How many connections in a row ended that way.
        times: u32,
    },
}

impl XmppError {
    /// The stanza guard's refusal, when that is what ended the stream.
    pub fn guard_violation(&self) -> Option<super::stanza_guard::GuardViolation> {
        match self {
            XmppError::Io(e) | XmppError::Tls(e) => super::stanza_guard::violation_in(e),
            _ => None,
        }
    }
}

impl From<tokio_xmpp::Error> for XmppError {
    fn from(e: tokio_xmpp::Error) -> Self {
        match e {
            tokio_xmpp::Error::Io(io) => XmppError::Io(io),
            tokio_xmpp::Error::Disconnected => XmppError::Disconnected,
            other => XmppError::Protocol(other.to_string()),
        }
    }
}

impl From<tokio_xmpp::xmlstream::RecvFeaturesError> for XmppError {
    fn from(e: tokio_xmpp::xmlstream::RecvFeaturesError) -> Self {
        match e {
            tokio_xmpp::xmlstream::RecvFeaturesError::Io(io) => XmppError::Io(io),
            tokio_xmpp::xmlstream::RecvFeaturesError::StreamError(s) => {
                XmppError::Protocol(format!("stream error: {s}"))
            }
        }
    }
}

/// Wrapper making [`XmppError`] usable as a tokio-xmpp `ServerConnectorError`.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct ConnectorError(pub XmppError);

impl tokio_xmpp::connect::ServerConnectorError for ConnectorError {}
