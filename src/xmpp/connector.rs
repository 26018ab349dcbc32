//! Talpa's `ServerConnector`: TLS over a byte stream somebody else opened.
//!
//! The xmpp layer never opens sockets. It takes any `AsyncRead + AsyncWrite` stream (in the
//! product a Tor stream, in tests a plain TCP stream) either once, already opened, or through a
//! boxed "open stream" closure that is called for every (re)connection.
//!
//! Two ways to secure the stream:
//! - STARTTLS: the stream header and features are exchanged in clear; if the server does not
//!   offer `<starttls/>` the connection is abandoned before anything else is sent.
//! - direct TLS (XEP-0368): TLS first, with ALPN `xmpp-client`.
//!
//! The certificate is checked against the JID's domain with Talpa's own rustls configuration
//! (see [`super::tls`]).

use std::borrow::Cow;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use futures::{SinkExt, StreamExt};
use rustls::ClientConfig;
use sasl::common::ChannelBinding;
use tokio::io::{AsyncRead, AsyncWrite, BufStream};
use tokio_rustls::client::TlsStream;
use tokio_xmpp::connect::ServerConnector;
use tokio_xmpp::jid::Jid;
use tokio_xmpp::parsers::starttls;
use tokio_xmpp::xmlstream::{
    PendingFeaturesRecv, ReadError, StreamHeader, Timeouts, XmppStream, XmppStreamElement,
    initiate_stream,
};

use super::bind_id::BindIdRewrite;
use super::error::{ConnectorError, XmppError};
use super::stanza_guard::{GuardTrips, StanzaGuard};
use super::tls::{TrustAnchor, client_config, handshake};

/// Any byte stream the xmpp layer can run over.
pub trait ByteStream: AsyncRead + AsyncWrite + Unpin + Send + 'static {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + 'static> ByteStream for T {}

/// A boxed byte stream.
pub type BoxedStream = Box<dyn ByteStream>;

/// The future an [`StreamOpener`] returns.
pub type OpenFuture = Pin<Box<dyn Future<Output = Result<BoxedStream, XmppError>> + Send>>;

/// Opens a fresh byte stream to the account's server (the core wraps `TorClient::connect`).
pub type StreamOpener = Arc<dyn Fn() -> OpenFuture + Send + Sync>;

/// Wraps an async "open a stream" function (e.g. `TorClient::connect` for one account's
/// isolation, host and port) into a [`StreamOpener`].
pub fn opener<F, Fut, S, E>(open: F) -> StreamOpener
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<S, E>> + Send + 'static,
    S: ByteStream,
    E: fmt::Display,
{
    Arc::new(move || {
        let fut = open();
        Box::pin(async move {
            fut.await
                .map(|s| Box::new(s) as BoxedStream)
                .map_err(|e| XmppError::Open(e.to_string()))
        })
    })
}

/// The TLS-secured transport below the XML stream (with the bind-id rewrite of `bind_id` and
/// the depth and size bounds of `stanza_guard`).
pub type SecureStream = BufStream<BindIdRewrite<StanzaGuard<TlsStream<BoxedStream>>>>;

/// How TLS is started on the stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum TlsMode {
    /// RFC 6120 STARTTLS (refused if the server does not offer it).
    #[default]
    StartTls,
    /// XEP-0368 direct TLS (ALPN `xmpp-client`).
    DirectTls,
}

#[derive(Clone)]
enum StreamSource {
    Opener(StreamOpener),
    Once(Arc<Mutex<Option<BoxedStream>>>),
}

/// Connector that secures streams from a [`StreamOpener`] (or one already opened stream).
#[derive(Clone)]
pub struct TalpaConnector {
    source: StreamSource,
    mode: TlsMode,
    tls: Arc<ClientConfig>,
    trips: GuardTrips,
}

impl fmt::Debug for TalpaConnector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TalpaConnector")
            .field("mode", &self.mode)
            .finish_non_exhaustive()
    }
}

impl TalpaConnector {
    /// A connector opening a new stream through `opener` on every connection attempt.
    pub fn with_opener(
        opener: StreamOpener,
        mode: TlsMode,
        trust: &TrustAnchor,
    ) -> Result<Self, XmppError> {
        Ok(Self {
            source: StreamSource::Opener(opener),
            mode,
            tls: client_config(trust, mode == TlsMode::DirectTls)?,
            trips: GuardTrips::default(),
        })
    }

    /// A connector for one already opened stream; a second connection attempt fails.
    pub fn with_stream<S: ByteStream>(
        stream: S,
        mode: TlsMode,
        trust: &TrustAnchor,
    ) -> Result<Self, XmppError> {
        Ok(Self {
            source: StreamSource::Once(Arc::new(Mutex::new(Some(Box::new(stream))))),
            mode,
            tls: client_config(trust, mode == TlsMode::DirectTls)?,
            trips: GuardTrips::default(),
        })
    }

    /// Records the stanza guard's refusals on every connection of this connector in `trips`.
    #[must_use]
    pub fn counting_trips(mut self, trips: GuardTrips) -> Self {
        self.trips = trips;
        self
    }

    /// The TLS mode of this connector.
    pub fn mode(&self) -> TlsMode {
        self.mode
    }

    async fn open(&self) -> Result<BoxedStream, XmppError> {
        match &self.source {
            StreamSource::Opener(opener) => opener().await,
            StreamSource::Once(slot) => slot
                .lock()
                .map_err(|_| XmppError::Open("stream slot poisoned".into()))?
                .take()
                .ok_or_else(|| XmppError::Open("the one provided stream was already used".into())),
        }
    }

    /// Opens the stream, secures it and sends the (post-TLS) stream header for `domain`.
    ///
    /// Returns the stream awaiting the server's features and the channel binding data.
    pub async fn establish(
        &self,
        domain: &str,
        ns: &'static str,
        timeouts: Timeouts,
    ) -> Result<(PendingFeaturesRecv<SecureStream>, ChannelBinding), XmppError> {
        let raw = self.open().await?;
        let (tls, binding) = match self.mode {
            TlsMode::DirectTls => handshake(raw, domain, self.tls.clone()).await?,
            TlsMode::StartTls => {
                let raw = starttls(raw, domain, ns, timeouts).await?;
                handshake(raw, domain, self.tls.clone()).await?
            }
        };
        // The bind id rewrite and the stanza bounds live under the XML stream, above TLS (see
        // `bind_id`, `stanza_guard`).
        let pending = initiate_stream(
            BufStream::new(BindIdRewrite::new(StanzaGuard::counting(
                tls,
                self.trips.clone(),
            ))),
            ns,
            header(domain),
            timeouts,
        )
        .await?;
        Ok((pending, binding))
    }
}

fn header(domain: &str) -> StreamHeader<'_> {
    // No `from`: the account JID is not announced before authentication.
    StreamHeader {
        to: Some(Cow::Borrowed(domain)),
        from: None,
        id: None,
    }
}

/// Negotiates STARTTLS in clear and returns the raw stream positioned for the TLS handshake.
///
/// Any bytes the server sent after `<proceed/>` are discarded with the buffer (no STARTTLS
/// command injection).
async fn starttls(
    raw: BoxedStream,
    domain: &str,
    ns: &'static str,
    timeouts: Timeouts,
) -> Result<BoxedStream, XmppError> {
    let pending = initiate_stream(BufStream::new(raw), ns, header(domain), timeouts).await?;
    let (features, mut stream): (_, XmppStream<BufStream<BoxedStream>>) =
        pending.recv_features().await?;
    if !features.can_starttls() {
        return Err(XmppError::NoStartTls);
    }
    stream
        .send(&XmppStreamElement::Starttls(starttls::Nonza::Request(
            starttls::Request,
        )))
        .await?;
    loop {
        match stream
            .next()
            .await
            .map(|v| v.and_then(tokio_xmpp::xmlstream::FallibleStreamElement::into_read_error))
        {
            Some(Ok(XmppStreamElement::Starttls(starttls::Nonza::Proceed(_)))) => break,
            Some(Ok(XmppStreamElement::Starttls(starttls::Nonza::Failure(_)))) => {
                return Err(XmppError::StartTlsRefused);
            }
            Some(Ok(_)) => {
                return Err(XmppError::Protocol(
                    "unexpected element while waiting for STARTTLS proceed".into(),
                ));
            }
            Some(Err(ReadError::SoftTimeout)) => {}
            Some(Err(ReadError::HardError(e))) => return Err(XmppError::Io(e)),
            Some(Err(ReadError::ParseError(e))) => {
                return Err(XmppError::Protocol(format!("parse error: {e}")));
            }
            Some(Err(ReadError::StreamFooterReceived)) | None => {
                return Err(XmppError::Disconnected);
            }
        }
    }
    Ok(stream.into_inner().into_inner())
}

/// Lets tokio-xmpp's own machinery use Talpa's TLS policy. Note: tokio-xmpp's built-in login
/// may fall back to PLAIN; Talpa itself logs in through [`super::login::login`] only.
impl ServerConnector for TalpaConnector {
    type Stream = SecureStream;

    async fn connect(
        &self,
        jid: &Jid,
        ns: &'static str,
        timeouts: Timeouts,
    ) -> Result<(PendingFeaturesRecv<Self::Stream>, ChannelBinding), tokio_xmpp::Error> {
        self.establish(jid.domain().as_str(), ns, timeouts)
            .await
            .map_err(|e| tokio_xmpp::Error::Connection(Box::new(ConnectorError(e))))
    }
}
