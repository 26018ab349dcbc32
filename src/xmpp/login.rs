//! Strict SASL login.
//!
//! Order of preference: SCRAM-SHA-256-PLUS > SCRAM-SHA-1-PLUS (both with tls-exporter channel
//! binding) > SCRAM-SHA-256 > SCRAM-SHA-1. PLAIN, ANONYMOUS and everything else are never used,
//! whatever the server offers. The server's SCRAM signature is verified on success (tokio-xmpp's
//! built-in login neither verifies it nor refuses PLAIN, hence this module).
//!
//! When the server offered a usable -PLUS mechanism on an earlier login, the core remembers it
//! and passes `require_channel_binding = true`; a later login without it fails with
//! [`XmppError::Downgrade`] before any credential is sent.

use std::collections::BTreeSet;

use futures::{SinkExt, StreamExt};
use sasl::client::Mechanism as _;
use sasl::client::mechanisms::Scram;
use sasl::common::scram::{Sha1, Sha256};
use sasl::common::{ChannelBinding, Credentials};
use tokio_xmpp::jid::BareJid;
use tokio_xmpp::parsers::ns;
use tokio_xmpp::parsers::sasl::{Auth, Mechanism, Nonza, Response};
use tokio_xmpp::parsers::sasl_cb;
use tokio_xmpp::parsers::stream_features::StreamFeatures;
use tokio_xmpp::xmlstream::{ReadError, StreamHeader, Timeouts, XmppStream, XmppStreamElement};
use zeroize::Zeroizing;

use super::connector::{SecureStream, TalpaConnector};
use super::error::XmppError;

/// A SASL mechanism Talpa is willing to use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScramMechanism {
    /// SCRAM-SHA-256-PLUS (tls-exporter).
    ScramSha256Plus,
    /// SCRAM-SHA-1-PLUS (tls-exporter).
    ScramSha1Plus,
    /// SCRAM-SHA-256.
    ScramSha256,
    /// SCRAM-SHA-1.
    ScramSha1,
}

impl ScramMechanism {
    /// The IANA name of the mechanism.
    pub fn name(self) -> &'static str {
        match self {
            Self::ScramSha256Plus => "SCRAM-SHA-256-PLUS",
            Self::ScramSha1Plus => "SCRAM-SHA-1-PLUS",
            Self::ScramSha256 => "SCRAM-SHA-256",
            Self::ScramSha1 => "SCRAM-SHA-1",
        }
    }

    /// Whether the mechanism binds the TLS channel.
    pub fn is_plus(self) -> bool {
        matches!(self, Self::ScramSha256Plus | Self::ScramSha1Plus)
    }

    fn wire(self) -> Mechanism {
        match self {
            Self::ScramSha256Plus => Mechanism::ScramSha256Plus,
            Self::ScramSha1Plus => Mechanism::ScramSha1Plus,
            Self::ScramSha256 => Mechanism::ScramSha256,
            Self::ScramSha1 => Mechanism::ScramSha1,
        }
    }
}

/// What the gs2 header says about channel binding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BindingFlag {
    /// `p=tls-exporter`: bound to the TLS channel.
    Bound,
    /// `y`: the client could bind but the server did not offer it (lets a binding-capable
    /// server detect that -PLUS was stripped).
    ClientOnly,
    /// `n`: no channel binding.
    None,
}

/// The mechanism chosen for one login.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MechanismChoice {
    /// The mechanism.
    pub mechanism: ScramMechanism,
    /// The channel-binding flag to send.
    pub binding: BindingFlag,
}

/// Chooses the strongest acceptable mechanism among `offered`.
///
/// `cb_types` is the server's XEP-0440 list of channel-binding types, if it sent one;
/// `have_exporter` says whether the TLS layer produced tls-exporter data (TLS 1.3).
pub fn choose_mechanism(
    offered: &BTreeSet<String>,
    cb_types: Option<&[sasl_cb::Type]>,
    have_exporter: bool,
) -> Result<MechanismChoice, XmppError> {
    let exporter_ok =
        have_exporter && cb_types.is_none_or(|types| types.contains(&sasl_cb::Type::TlsExporter));
    let plus_offered = offered.iter().any(|m| m.ends_with("-PLUS"));
    if exporter_ok {
        for m in [
            ScramMechanism::ScramSha256Plus,
            ScramMechanism::ScramSha1Plus,
        ] {
            if offered.contains(m.name()) {
                return Ok(MechanismChoice {
                    mechanism: m,
                    binding: BindingFlag::Bound,
                });
            }
        }
    }
    let binding = if have_exporter && !plus_offered {
        BindingFlag::ClientOnly
    } else {
        BindingFlag::None
    };
    for m in [ScramMechanism::ScramSha256, ScramMechanism::ScramSha1] {
        if offered.contains(m.name()) {
            return Ok(MechanismChoice {
                mechanism: m,
                binding,
            });
        }
    }
    Err(XmppError::NoAcceptableMechanism {
        offered: offered.iter().cloned().collect::<Vec<_>>().join(","),
    })
}

/// Refuses a login without channel binding when the account had it before.
///
/// `remembered_plus` is the flag the core stored after an earlier login
/// ([`LoginOutcome::channel_binding`]); `choice` is this login's choice.
pub fn check_channel_binding_policy(
    remembered_plus: bool,
    choice: &MechanismChoice,
) -> Result<(), XmppError> {
    if remembered_plus && !choice.mechanism.is_plus() {
        Err(XmppError::Downgrade)
    } else {
        Ok(())
    }
}

/// Credentials and policy for one login.
pub struct LoginParams<'a> {
    /// The account's bare JID (must have a local part).
    pub jid: &'a BareJid,
    /// The password.
    pub password: &'a Zeroizing<String>,
    /// True when an earlier login of this account used -PLUS.
    pub require_channel_binding: bool,
    /// Stream timeouts.
    pub timeouts: Timeouts,
}

/// An authenticated stream, restarted and ready for resource binding.
pub struct LoginOutcome {
    /// The authenticated XML stream (features already received).
    pub stream: XmppStream<SecureStream>,
    /// The post-authentication stream features.
    pub features: StreamFeatures,
    /// The mechanism used.
    pub mechanism: ScramMechanism,
    /// True when the login was bound to the TLS channel (-PLUS); the core remembers it.
    pub channel_binding: bool,
}

/// Connects through `connector` and authenticates with the strict SASL policy.
pub async fn login(
    connector: &TalpaConnector,
    params: &LoginParams<'_>,
) -> Result<LoginOutcome, XmppError> {
    let username = params
        .jid
        .node()
        .ok_or_else(|| XmppError::InvalidJid("no local part".into()))?
        .as_str()
        .to_owned();
    let domain = params.jid.domain().as_str().to_owned();
    let (pending, binding) = connector
        .establish(&domain, ns::JABBER_CLIENT, params.timeouts)
        .await?;
    let (features, mut stream): (StreamFeatures, XmppStream<SecureStream>) =
        pending.recv_features().await?;

    let have_exporter = matches!(binding, ChannelBinding::TlsExporter(_));
    let choice = choose_mechanism(
        &features.sasl_mechanisms,
        features.sasl_cb.as_ref().map(|c| c.types.as_slice()),
        have_exporter,
    )?;
    check_channel_binding_policy(params.require_channel_binding, &choice)?;

    let cb = match choice.binding {
        BindingFlag::Bound => binding,
        BindingFlag::ClientOnly => ChannelBinding::Unsupported,
        BindingFlag::None => ChannelBinding::None,
    };
    let creds = Credentials::default()
        .with_username(username)
        .with_password(params.password.as_str())
        .with_channel_binding(cb);
    let mut mech: Box<dyn sasl::client::Mechanism + Send> = match choice.mechanism {
        ScramMechanism::ScramSha256Plus | ScramMechanism::ScramSha256 => Box::new(
            Scram::<Sha256>::from_credentials(creds)
                .map_err(|e| XmppError::AuthFailed(format!("{e:?}")))?,
        ),
        ScramMechanism::ScramSha1Plus | ScramMechanism::ScramSha1 => Box::new(
            Scram::<Sha1>::from_credentials(creds)
                .map_err(|e| XmppError::AuthFailed(format!("{e:?}")))?,
        ),
    };
    tracing::debug!(mechanism = choice.mechanism.name(), "authenticating");
    let initial = mech.initial();
    stream
        .send(&XmppStreamElement::Sasl(Nonza::Auth(Auth {
            mechanism: choice.mechanism.wire(),
            data: initial,
        })))
        .await?;
    loop {
        match stream
            .next()
            .await
            .map(|v| v.and_then(tokio_xmpp::xmlstream::FallibleStreamElement::into_read_error))
        {
            Some(Ok(XmppStreamElement::Sasl(Nonza::Challenge(ch)))) => {
                let resp = mech
                    .response(&ch.data)
                    .map_err(|e| XmppError::AuthFailed(format!("{e:?}")))?;
                stream
                    .send(&XmppStreamElement::Sasl(Nonza::Response(Response {
                        data: resp,
                    })))
                    .await?;
            }
            Some(Ok(XmppStreamElement::Sasl(Nonza::Success(s)))) => {
                mech.success(&s.data)
                    .map_err(|e| XmppError::AuthFailed(format!("server proof rejected: {e:?}")))?;
                break;
            }
            Some(Ok(XmppStreamElement::Sasl(Nonza::Failure(f)))) => {
                return Err(XmppError::AuthFailed(format!("{:?}", f.defined_condition)));
            }
            Some(Ok(_)) => {
                return Err(XmppError::Protocol(
                    "unexpected element during SASL negotiation".into(),
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
    let pending = stream
        .initiate_reset()
        .send_header(StreamHeader {
            to: Some(domain.as_str().into()),
            from: None,
            id: None,
        })
        .await?;
    let (features, stream) = pending.recv_features().await?;
    Ok(LoginOutcome {
        stream,
        features,
        mechanism: choice.mechanism,
        channel_binding: choice.mechanism.is_plus(),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]
mod tests {
    use super::*;

    fn set(items: &[&str]) -> BTreeSet<String> {
        items.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn plus_is_preferred_when_exporter_available() {
        let c = choose_mechanism(
            &set(&[
                "PLAIN",
                "SCRAM-SHA-1",
                "SCRAM-SHA-256",
                "SCRAM-SHA-256-PLUS",
            ]),
            None,
            true,
        )
        .unwrap();
        assert_eq!(c.mechanism, ScramMechanism::ScramSha256Plus);
        assert_eq!(c.binding, BindingFlag::Bound);
    }

    #[test]
    fn plain_only_server_is_refused() {
        let e = choose_mechanism(&set(&["PLAIN"]), None, true).unwrap_err();
        assert!(matches!(e, XmppError::NoAcceptableMechanism { .. }));
    }

    #[test]
    fn anonymous_and_plain_are_never_chosen() {
        let e =
            choose_mechanism(&set(&["ANONYMOUS", "PLAIN", "X-OAUTH2"]), None, false).unwrap_err();
        assert!(matches!(e, XmppError::NoAcceptableMechanism { .. }));
    }

    #[test]
    fn sha256_beats_sha1_without_plus() {
        let c = choose_mechanism(&set(&["SCRAM-SHA-1", "SCRAM-SHA-256"]), None, false).unwrap();
        assert_eq!(c.mechanism, ScramMechanism::ScramSha256);
        assert_eq!(c.binding, BindingFlag::None);
    }

    #[test]
    fn capable_client_says_y_when_server_offers_no_plus() {
        let c = choose_mechanism(&set(&["SCRAM-SHA-1"]), None, true).unwrap();
        assert_eq!(c.mechanism, ScramMechanism::ScramSha1);
        assert_eq!(c.binding, BindingFlag::ClientOnly);
    }

    #[test]
    fn plus_with_other_binding_type_falls_back_to_n() {
        let c = choose_mechanism(
            &set(&["SCRAM-SHA-256", "SCRAM-SHA-256-PLUS"]),
            Some(&[sasl_cb::Type::TlsUnique]),
            true,
        )
        .unwrap();
        assert_eq!(c.mechanism, ScramMechanism::ScramSha256);
        assert_eq!(c.binding, BindingFlag::None);
    }

    #[test]
    fn remembered_plus_refuses_login_without_it() {
        let c = choose_mechanism(&set(&["SCRAM-SHA-256"]), None, true).unwrap();
        assert!(matches!(
            check_channel_binding_policy(true, &c),
            Err(XmppError::Downgrade)
        ));
        assert!(check_channel_binding_policy(false, &c).is_ok());
        let p = choose_mechanism(&set(&["SCRAM-SHA-256-PLUS"]), None, true).unwrap();
        assert!(check_channel_binding_policy(true, &p).is_ok());
    }
}
