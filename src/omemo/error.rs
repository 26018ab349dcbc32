//! The omemo layer's error type.

use thiserror::Error;

/// Everything that can go wrong in the omemo layer. Messages never contain key material.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum OmemoError {
    /// A public key was malformed (wrong length/prefix, not a curve point).
    #[error("malformed public key")]
    InvalidPublicKey,
    /// A Diffie-Hellman output was all zero: the peer sent a low-order point.
    #[error("low-order public key rejected")]
    LowOrderPoint,
    /// A signature did not verify.
    #[error("bad signature")]
    BadSignature,
    /// The peer bundle offers no one-time prekey.
    #[error("bundle has no one-time prekey")]
    NoPreKey,
    /// A key exchange referenced a prekey or signed prekey we do not (or no longer) have.
    #[error("unknown prekey or signed prekey id {0}")]
    UnknownPreKey(u32),
    /// A protobuf or binary structure could not be decoded.
    #[error("malformed message: {0}")]
    Malformed(&'static str),
    /// The message authentication code did not match.
    #[error("message authentication failed")]
    AuthenticationFailed,
    /// The message was already decrypted (or its key was evicted): a replay or duplicate.
    #[error("duplicate or replayed message")]
    Duplicate,
    /// The message skips more message keys than allowed.
    #[error("too many skipped messages ({0})")]
    TooManySkipped(u32),
    /// Decryption with the derived key failed (padding / tag).
    #[error("decryption failed")]
    DecryptionFailed,
    /// No session exists with that device.
    #[error("no session with device {0}")]
    NoSession(u32),
    /// The message has no key element for this device.
    #[error("message not encrypted for this device")]
    NotForThisDevice,
    /// An XML element was missing or malformed.
    #[error("malformed element: {0}")]
    MalformedXml(&'static str),
    /// Serialized state could not be read or written.
    #[error("state serialization failed")]
    State,
    /// An SCE envelope did not match the stanza it arrived in.
    #[error("SCE envelope {0} does not match the stanza")]
    EnvelopeMismatch(&'static str),
    /// Legacy OMEMO can only encrypt a body; other content would travel in clear.
    #[error("legacy OMEMO can only encrypt a message body")]
    LegacyBodyOnly,
    /// The device's identity is not trusted under the current trust policy.
    #[error("device {0} is not trusted")]
    Untrusted(u32),
}
