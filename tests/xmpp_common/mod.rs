//! Helpers shared by the xmpp integration tests, on top of the shared bed (`tests/support`).
#![allow(dead_code, reason = "each test binary uses a different subset")]

use crate::support::bed;

/// The bed CA as PEM.
pub fn ca_pem() -> String {
    std::fs::read_to_string(&bed().ca_cert).expect("read the bed's ca.pem")
}

use talpa::xmpp::TrustAnchor;
use talpa::xmpp::connector::{StreamOpener, TlsMode, opener};
use talpa::xmpp::muc::{MucPresence, parse_muc_presence};
use talpa::xmpp::session::{PresenceKind, Session, SessionConfig, SessionEvent};
use tokio::sync::mpsc::UnboundedReceiver;
use tokio_xmpp::jid::BareJid;

/// An opener connecting plain TCP to `host:port` (tests only; the product uses Tor).
pub fn tcp_opener(host: &str, port: u16) -> StreamOpener {
    let addr = format!("{host}:{port}");
    opener(move || tokio::net::TcpStream::connect(addr.clone()))
}

/// A session configuration trusting the bed CA.
pub fn config(jid: &str, password: &str, mode: TlsMode, trust: TrustAnchor) -> SessionConfig {
    SessionConfig {
        jid: jid.parse().expect("jid"),
        password: zeroize::Zeroizing::new(password.to_owned()),
        tls_mode: mode,
        trust,
        require_channel_binding: false,
        timeouts: tokio_xmpp::xmlstream::Timeouts::tight(),
        guard_trips: talpa::xmpp::stanza_guard::GuardTrips::default(),
    }
}

/// Logs `jid` in over STARTTLS to the bed's Prosody.
pub async fn connect(jid: &str, password: &str) -> (Session, UnboundedReceiver<SessionEvent>) {
    let b = bed();
    let (s, ev, _) = Session::connect(
        config(
            jid,
            password,
            TlsMode::StartTls,
            TrustAnchor::ExtraCaPem(ca_pem()),
        ),
        tcp_opener(&b.prosody.host, b.prosody.c2s_port),
    )
    .await
    .unwrap_or_else(|e| panic!("login of {jid} failed: {e}\n{}", b.prosody_log_tail(40)));
    (s, ev)
}

/// Waits (up to 20 s) for the first event matching `f`.
pub async fn wait_for<T>(
    ev: &mut UnboundedReceiver<SessionEvent>,
    mut f: impl FnMut(&SessionEvent) -> Option<T>,
) -> T {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let e = tokio::time::timeout_at(deadline, ev.recv())
            .await
            .expect("timed out waiting for event")
            .expect("event channel closed");
        if let Some(t) = f(&e) {
            return t;
        }
    }
}

/// Waits for the own (self) presence from `room`: the join went through. Panics on an error presence.
pub async fn self_presence(
    ev: &mut UnboundedReceiver<SessionEvent>,
    room: &BareJid,
) -> MucPresence {
    wait_for(ev, |e| match e {
        SessionEvent::Presence { raw, kind, .. } => {
            assert_ne!(*kind, PresenceKind::Error, "join failed: {raw:?}");
            parse_muc_presence(raw).filter(|m| m.is_self && &m.room == room)
        }
        _ => None,
    })
    .await
}
