//! The two OMEMO versions Talpa speaks and their protocol constants.

use serde::{Deserialize, Serialize};

/// An OMEMO protocol version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum OmemoVersion {
    /// `eu.siacs.conversations.axolotl` (libsignal wire format, XEP-0384 0.3).
    Legacy,
    /// `urn:xmpp:omemo:2` (XEP-0384 ≥ 0.8).
    V2,
}

impl OmemoVersion {
    /// The XML namespace of the `<encrypted/>` element.
    pub fn namespace(self) -> &'static str {
        match self {
            Self::Legacy => "eu.siacs.conversations.axolotl",
            Self::V2 => "urn:xmpp:omemo:2",
        }
    }

    /// HKDF info of the X3DH shared secret.
    pub(crate) fn x3dh_info(self) -> &'static [u8] {
        match self {
            Self::Legacy => b"WhisperText",
            Self::V2 => b"OMEMO X3DH",
        }
    }

    /// HKDF info of the root chain.
    pub(crate) fn root_info(self) -> &'static [u8] {
        match self {
            Self::Legacy => b"WhisperRatchet",
            Self::V2 => b"OMEMO Root Chain",
        }
    }

    /// HKDF info deriving the per-message keys (encryption, authentication, IV).
    pub(crate) fn message_key_info(self) -> &'static [u8] {
        match self {
            Self::Legacy => b"WhisperMessageKeys",
            Self::V2 => b"OMEMO Message Key Material",
        }
    }

    /// Length of the truncated ratchet-message MAC.
    pub(crate) fn mac_len(self) -> usize {
        match self {
            Self::Legacy => 8,
            Self::V2 => 16,
        }
    }
}
