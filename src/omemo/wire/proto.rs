//! Hand-written protobuf structures of both versions (proto2, required fields always encoded).

/// Legacy `WhisperMessage` (python-oldmemo's `OMEMOMessage`), after the version byte.
#[derive(Clone, PartialEq, prost::Message)]
pub struct LegacyMessage {
    /// Sender ratchet key, `0x05`-prefixed.
    #[prost(bytes = "vec", required, tag = "1")]
    pub ratchet_key: Vec<u8>,
    /// Message number `n`.
    #[prost(uint32, required, tag = "2")]
    pub counter: u32,
    /// Previous chain length `pn`.
    #[prost(uint32, required, tag = "3")]
    pub previous_counter: u32,
    /// AES-256-CBC ciphertext.
    #[prost(bytes = "vec", optional, tag = "4")]
    pub ciphertext: Option<Vec<u8>>,
}

/// Legacy `PreKeyWhisperMessage` (python-oldmemo's `OMEMOKeyExchange`), after the version byte.
#[derive(Clone, PartialEq, prost::Message)]
pub struct LegacyKeyExchange {
    /// One-time prekey id.
    #[prost(uint32, required, tag = "1")]
    pub pre_key_id: u32,
    /// Initiator's ephemeral (base) key, `0x05`-prefixed.
    #[prost(bytes = "vec", required, tag = "2")]
    pub base_key: Vec<u8>,
    /// Initiator's identity key, `0x05`-prefixed Curve25519.
    #[prost(bytes = "vec", required, tag = "3")]
    pub identity_key: Vec<u8>,
    /// The framed `WhisperMessage` (version byte, protobuf, 8-byte MAC).
    #[prost(bytes = "vec", required, tag = "4")]
    pub message: Vec<u8>,
    /// libsignal registration id (unused by OMEMO).
    #[prost(uint32, optional, tag = "5")]
    pub registration_id: Option<u32>,
    /// Signed prekey id.
    #[prost(uint32, required, tag = "6")]
    pub signed_pre_key_id: u32,
}

/// OMEMO 2 `OMEMOMessage`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct OmemoMessage {
    /// Message number.
    #[prost(uint32, required, tag = "1")]
    pub n: u32,
    /// Previous chain length.
    #[prost(uint32, required, tag = "2")]
    pub pn: u32,
    /// Sender ratchet key (raw X25519).
    #[prost(bytes = "vec", required, tag = "3")]
    pub dh_pub: Vec<u8>,
    /// AES-256-CBC ciphertext.
    #[prost(bytes = "vec", optional, tag = "4")]
    pub ciphertext: Option<Vec<u8>>,
}

/// OMEMO 2 `OMEMOAuthenticatedMessage`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct OmemoAuthenticatedMessage {
    /// HMAC-SHA-256 truncated to 16 bytes.
    #[prost(bytes = "vec", required, tag = "1")]
    pub mac: Vec<u8>,
    /// Serialized `OMEMOMessage`.
    #[prost(bytes = "vec", required, tag = "2")]
    pub message: Vec<u8>,
}

/// OMEMO 2 `OMEMOKeyExchange`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct OmemoKeyExchange {
    /// One-time prekey id.
    #[prost(uint32, required, tag = "1")]
    pub pk_id: u32,
    /// Signed prekey id.
    #[prost(uint32, required, tag = "2")]
    pub spk_id: u32,
    /// Initiator's Ed25519 identity key.
    #[prost(bytes = "vec", required, tag = "3")]
    pub ik: Vec<u8>,
    /// Initiator's ephemeral key.
    #[prost(bytes = "vec", required, tag = "4")]
    pub ek: Vec<u8>,
    /// The first ratchet message.
    #[prost(message, required, tag = "5")]
    pub message: OmemoAuthenticatedMessage,
}
