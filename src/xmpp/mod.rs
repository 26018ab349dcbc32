//! XMPP sessions over Tor streams: connector, login, and one module per XEP area.
//!
//! This layer never opens a socket: it runs over any byte stream handed to it (see
//! [`connector::StreamOpener`]).

pub mod connector;
pub mod error;
pub mod login;
pub mod origin;
pub mod session;
pub mod stanza;
pub mod tls;

pub use connector::{BoxedStream, StreamOpener, TalpaConnector, TlsMode};
pub use error::XmppError;
pub use session::{Session, SessionConfig, SessionEvent};
pub use tls::TrustAnchor;
