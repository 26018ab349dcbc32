//! XMPP sessions over Tor streams: connector, login, and one module per XEP area.
//!
//! This layer never opens a socket: it runs over any byte stream handed to it through a
//! [`connector::StreamOpener`] (the core wraps `TorClient::connect` with
//! [`connector::opener`]).
//!
//! How the core uses it, per account:
//!
//! ```text
//! let open = connector::opener(move || tor.connect(&isolation, &host, port));
//! let config = SessionConfig { jid, password, tls_mode, trust, require_channel_binding, timeouts,
//!                              guard_trips };   // one GuardTrips per account, kept across sessions
//! let (session, mut events, report) = Session::connect(config, open).await?;
//! // persist report.channel_binding → next login's require_channel_binding
//! let startup = session.start(last_archive_id).await?;   // roster, carbons, MAM, presence
//! while let Some(ev) = events.recv().await { /* SessionEvent → inbound pipeline */ }
//! ```
//!
//! Modules:
//! - [`connector`], [`tls`]: STARTTLS / direct TLS with Talpa's own rustls configuration.
//! - [`login`]: strict SASL (SCRAM only, -PLUS preferred, downgrade check).
//! - [`session`]: the session actor (bind, XEP-0198, IQ tracking, carbons, MAM, roster,
//!   subscriptions, blocking, corrections, retractions, fingerprint-safe answers).
//! - [`mam`]: the MAM catch-up planner (parallel time ranges on servers with extended MAM).
//! - [`muc`], [`pep`]: group chats, PEP and bookmarks.
//! - [`http_upload`], [`http_transfer`]: XEP-0363 upload slots and the small HTTP/1.1 client
//!   that PUTs and GETs files over a stream the core opens through Tor.
//! - [`receipts`], [`chat_markers`], [`chat_states`]: delivery receipts, read markers and
//!   typing notifications (used only where the user opted in, see `core::activity`).
//! - [`origin`]: pure inbound origin checks; [`stanza`]: namespaces, builders, parsing;
//!   [`xml_text`]: which characters a stanza can carry.

pub mod bind_id;
pub mod chat_markers;
pub mod chat_states;
pub mod connector;
pub mod error;
pub mod http_transfer;
pub mod http_upload;
pub mod login;
pub mod mam;
pub mod muc;
pub mod origin;
pub mod pep;
pub mod receipts;
pub mod session;
pub mod srv;
pub mod stanza;
pub mod stanza_guard;
pub mod tls;
pub mod xml_text;

pub use connector::{BoxedStream, StreamOpener, TalpaConnector, TlsMode};
pub use error::XmppError;
pub use session::{Session, SessionConfig, SessionEvent};
pub use tls::TrustAnchor;
