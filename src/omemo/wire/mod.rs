//! Wire encodings: the protobuf framing of ratchet messages and key exchanges, and the XML
//! elements (`<encrypted/>`, device lists, bundles) of each version.

pub mod fast;
pub mod legacy;
pub mod proto;
pub mod v2;
pub(crate) mod xml;

use std::borrow::Cow;

use prost::Message;

use super::keys::CurvePublic;
use super::{OmemoError, OmemoVersion};

/// The legacy (libsignal) message version byte: version 3, minimum version 3.
pub const LEGACY_VERSION_BYTE: u8 = 0x33;

/// The unencrypted header of a Double Ratchet message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RatchetHeader {
    /// The sender's current ratchet public key.
    pub ratchet: CurvePublic,
    /// Message number in the sending chain.
    pub n: u32,
    /// Length of the sender's previous sending chain.
    pub pn: u32,
}

/// A parsed, not yet authenticated, ratchet message (borrowing from the input where it can).
pub(crate) struct ParsedRatchetMessage<'a> {
    pub header: RatchetHeader,
    pub ciphertext: Cow<'a, [u8]>,
    /// The bytes the MAC covers (after the associated data).
    pub authenticated_bytes: Cow<'a, [u8]>,
    pub mac: Cow<'a, [u8]>,
}

/// Serializes header + ciphertext as the version's message structure (legacy: with version byte).
pub(crate) fn encode_ratchet_message(
    version: OmemoVersion,
    header: &RatchetHeader,
    ciphertext: &[u8],
) -> Vec<u8> {
    match version {
        OmemoVersion::Legacy => {
            let m = proto::LegacyMessage {
                ratchet_key: header.ratchet.to_djb().to_vec(),
                counter: header.n,
                previous_counter: header.pn,
                ciphertext: Some(ciphertext.to_vec()),
            };
            let mut out = vec![LEGACY_VERSION_BYTE];
            out.extend(m.encode_to_vec());
            out
        }
        OmemoVersion::V2 => proto::OmemoMessage {
            n: header.n,
            pn: header.pn,
            dh_pub: header.ratchet.0.to_vec(),
            ciphertext: Some(ciphertext.to_vec()),
        }
        .encode_to_vec(),
    }
}

/// Adds the MAC: legacy appends it, OMEMO 2 wraps both in `OMEMOAuthenticatedMessage`.
pub(crate) fn frame_authenticated(version: OmemoVersion, message: Vec<u8>, mac: &[u8]) -> Vec<u8> {
    match version {
        OmemoVersion::Legacy => {
            let mut out = message;
            out.extend_from_slice(mac);
            out
        }
        OmemoVersion::V2 => proto::OmemoAuthenticatedMessage {
            mac: mac.to_vec(),
            message,
        }
        .encode_to_vec(),
    }
}

/// Splits a framed ratchet message into header, ciphertext and MAC.
pub(crate) fn parse_ratchet_message(
    version: OmemoVersion,
    bytes: &[u8],
) -> Result<ParsedRatchetMessage<'_>, OmemoError> {
    match version {
        OmemoVersion::Legacy => {
            let mac_len = version.mac_len();
            if bytes.len() < 1 + mac_len || bytes[0] != LEGACY_VERSION_BYTE {
                return Err(OmemoError::Malformed("legacy message version"));
            }
            let (message, mac) = bytes.split_at(bytes.len() - mac_len);
            let m = proto::LegacyMessage::decode(&message[1..])
                .map_err(|_| OmemoError::Malformed("WhisperMessage"))?;
            Ok(ParsedRatchetMessage {
                header: RatchetHeader {
                    ratchet: CurvePublic::from_djb(&m.ratchet_key)?,
                    n: m.counter,
                    pn: m.previous_counter,
                },
                ciphertext: Cow::Owned(m.ciphertext.unwrap_or_default()),
                authenticated_bytes: Cow::Borrowed(message),
                mac: Cow::Borrowed(mac),
            })
        }
        OmemoVersion::V2 => {
            // The layout every sender writes, read in place; anything else through prost.
            if let Some(p) = fast::parse(bytes) {
                return Ok(ParsedRatchetMessage {
                    header: RatchetHeader {
                        ratchet: CurvePublic::from_slice(p.dh_pub)?,
                        n: p.n,
                        pn: p.pn,
                    },
                    ciphertext: Cow::Borrowed(p.ciphertext),
                    authenticated_bytes: Cow::Borrowed(p.message),
                    mac: Cow::Borrowed(p.mac),
                });
            }
            let a = proto::OmemoAuthenticatedMessage::decode(bytes)
                .map_err(|_| OmemoError::Malformed("OMEMOAuthenticatedMessage"))?;
            let m = proto::OmemoMessage::decode(a.message.as_slice())
                .map_err(|_| OmemoError::Malformed("OMEMOMessage"))?;
            Ok(ParsedRatchetMessage {
                header: RatchetHeader {
                    ratchet: CurvePublic::from_slice(&m.dh_pub)?,
                    n: m.n,
                    pn: m.pn,
                },
                ciphertext: Cow::Owned(m.ciphertext.unwrap_or_default()),
                authenticated_bytes: Cow::Owned(a.message),
                mac: Cow::Owned(a.mac),
            })
        }
    }
}

use super::keys::EdPublic;
use super::x3dh::{IdentityKey, KeyExchangeHeader};

/// Serializes a key exchange (X3DH header + first ratchet message) in the version's format.
pub fn encode_key_exchange(
    version: OmemoVersion,
    header: &KeyExchangeHeader,
    ratchet_message: Vec<u8>,
) -> Result<Vec<u8>, OmemoError> {
    match version {
        OmemoVersion::Legacy => {
            let ik = header.identity.curve()?;
            let m = proto::LegacyKeyExchange {
                pre_key_id: header.prekey_id,
                base_key: header.ephemeral.to_djb().to_vec(),
                identity_key: ik.to_djb().to_vec(),
                message: ratchet_message,
                registration_id: None,
                signed_pre_key_id: header.signed_prekey_id,
            };
            let mut out = vec![LEGACY_VERSION_BYTE];
            out.extend(m.encode_to_vec());
            Ok(out)
        }
        OmemoVersion::V2 => {
            let IdentityKey::Ed(ik) = header.identity else {
                return Err(OmemoError::InvalidPublicKey);
            };
            let message = proto::OmemoAuthenticatedMessage::decode(ratchet_message.as_slice())
                .map_err(|_| OmemoError::Malformed("OMEMOAuthenticatedMessage"))?;
            Ok(proto::OmemoKeyExchange {
                pk_id: header.prekey_id,
                spk_id: header.signed_prekey_id,
                ik: ik.0.to_vec(),
                ek: header.ephemeral.0.to_vec(),
                message,
            }
            .encode_to_vec())
        }
    }
}

/// Parses a key exchange into its X3DH header and the framed first ratchet message.
pub fn decode_key_exchange(
    version: OmemoVersion,
    bytes: &[u8],
) -> Result<(KeyExchangeHeader, Vec<u8>), OmemoError> {
    match version {
        OmemoVersion::Legacy => {
            match bytes.first() {
                Some(&LEGACY_VERSION_BYTE) => {}
                _ => return Err(OmemoError::Malformed("legacy key exchange version")),
            }
            let m = proto::LegacyKeyExchange::decode(&bytes[1..])
                .map_err(|_| OmemoError::Malformed("PreKeyWhisperMessage"))?;
            Ok((
                KeyExchangeHeader {
                    identity: IdentityKey::Curve(CurvePublic::from_djb(&m.identity_key)?),
                    ephemeral: CurvePublic::from_djb(&m.base_key)?,
                    prekey_id: m.pre_key_id,
                    signed_prekey_id: m.signed_pre_key_id,
                },
                m.message,
            ))
        }
        OmemoVersion::V2 => {
            let m = proto::OmemoKeyExchange::decode(bytes)
                .map_err(|_| OmemoError::Malformed("OMEMOKeyExchange"))?;
            Ok((
                KeyExchangeHeader {
                    identity: IdentityKey::Ed(EdPublic::from_slice(&m.ik)?),
                    ephemeral: CurvePublic::from_slice(&m.ek)?,
                    prekey_id: m.pk_id,
                    signed_prekey_id: m.spk_id,
                },
                m.message.encode_to_vec(),
            ))
        }
    }
}

/// One `<key/>` of an `<encrypted/>` element.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncryptedKey {
    /// OMEMO 2: the bare JID of the `<keys/>` group; legacy: `None`.
    pub jid: Option<String>,
    /// Recipient device id.
    pub rid: u32,
    /// Whether `data` is a key exchange (legacy `prekey`, OMEMO 2 `kex`).
    pub key_exchange: bool,
    /// The ratchet message or key exchange.
    pub data: Vec<u8>,
}

/// An `<encrypted/>` element of either version, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncryptedElement {
    /// Sender device id.
    pub sid: u32,
    /// Per-device encrypted key material.
    pub keys: Vec<EncryptedKey>,
    /// Legacy only: the payload IV.
    pub iv: Vec<u8>,
    /// The payload; `None` for key-transport / empty messages.
    pub payload: Option<Vec<u8>>,
}

impl EncryptedElement {
    /// The keys addressed to device `rid` (of `jid`, for OMEMO 2).
    pub fn key_for(&self, jid: Option<&str>, rid: u32) -> Option<&EncryptedKey> {
        self.keys
            .iter()
            .find(|k| k.rid == rid && (k.jid.is_none() || jid.is_none() || k.jid.as_deref() == jid))
    }
}
