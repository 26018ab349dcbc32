//! Typed key material and the explicit conversions between the Edwards (Ed25519) and Montgomery
//! (X25519) forms of Curve25519 keys.
//!
//! An identity is a 32-byte Ed25519 seed, as in python-omemo: the Ed25519 key signs (OMEMO 2),
//! the X25519 private key `clamp(SHA-512(seed)[..32])` does Diffie-Hellman, and its Montgomery
//! public key is the legacy (Curve25519) identity key.

use curve25519_dalek::edwards::CompressedEdwardsY;
use curve25519_dalek::montgomery::MontgomeryPoint;
use ed25519_dalek::{Signer, SigningKey};
use rand::{CryptoRng, RngCore};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha512};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use super::OmemoError;

/// The libsignal type byte prefixed to serialized Curve25519 public keys (legacy wire format).
pub const DJB_TYPE: u8 = 0x05;

/// A Curve25519 public key in Montgomery (X25519) form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct CurvePublic(pub [u8; 32]);

/// An Ed25519 public key (compressed Edwards point).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct EdPublic(pub [u8; 32]);

impl CurvePublic {
    /// The libsignal encoding: `0x05 ‖ key` (33 bytes).
    pub fn to_djb(&self) -> [u8; 33] {
        let mut out = [0u8; 33];
        out[0] = DJB_TYPE;
        out[1..].copy_from_slice(&self.0);
        out
    }

    /// Parses the libsignal encoding `0x05 ‖ key`.
    pub fn from_djb(bytes: &[u8]) -> Result<Self, OmemoError> {
        match bytes {
            [DJB_TYPE, rest @ ..] if rest.len() == 32 => Self::from_slice(rest),
            _ => Err(OmemoError::InvalidPublicKey),
        }
    }

    /// Parses a raw 32-byte key.
    pub fn from_slice(bytes: &[u8]) -> Result<Self, OmemoError> {
        <[u8; 32]>::try_from(bytes)
            .map(Self)
            .map_err(|_| OmemoError::InvalidPublicKey)
    }

    /// Birational map to the Edwards form; `sign_bit` selects which of the two points is meant
    /// (the Montgomery form does not carry it).
    pub fn to_ed(&self, sign_bit: bool) -> Result<EdPublic, OmemoError> {
        MontgomeryPoint(self.0)
            .to_edwards(u8::from(sign_bit))
            .map(|p| EdPublic(p.compress().to_bytes()))
            .ok_or(OmemoError::InvalidPublicKey)
    }
}

impl EdPublic {
    /// Parses a raw 32-byte key (checked to be a valid point).
    pub fn from_slice(bytes: &[u8]) -> Result<Self, OmemoError> {
        let key = <[u8; 32]>::try_from(bytes)
            .map(Self)
            .map_err(|_| OmemoError::InvalidPublicKey)?;
        key.to_curve()?;
        Ok(key)
    }

    /// Birational map to the Montgomery form (`u = (1 + y) / (1 − y)`).
    pub fn to_curve(&self) -> Result<CurvePublic, OmemoError> {
        CompressedEdwardsY(self.0)
            .decompress()
            .map(|p| CurvePublic(p.to_montgomery().to_bytes()))
            .ok_or(OmemoError::InvalidPublicKey)
    }

    /// The sign bit of the Edwards x coordinate, as stored in the top bit of the last byte.
    pub fn sign_bit(&self) -> bool {
        self.0[31] & 0x80 != 0
    }

    /// Verifies a plain Ed25519 signature (strict: canonical encodings, no small-order key).
    pub fn verify(&self, message: &[u8], signature: &[u8; 64]) -> Result<(), OmemoError> {
        let key = ed25519_dalek::VerifyingKey::from_bytes(&self.0)
            .map_err(|_| OmemoError::InvalidPublicKey)?;
        let sig = ed25519_dalek::Signature::from_bytes(signature);
        key.verify_strict(message, &sig)
            .map_err(|_| OmemoError::BadSignature)
    }
}

/// An X25519 private key (clamped on use). Zeroized on drop; never printed.
#[derive(Clone, Zeroize, ZeroizeOnDrop, Serialize, Deserialize)]
pub struct CurveSecret([u8; 32]);

impl std::fmt::Debug for CurveSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CurveSecret(…)")
    }
}

impl CurveSecret {
    /// Generates a fresh private key.
    pub fn generate<R: RngCore + CryptoRng>(rng: &mut R) -> Self {
        let mut b = [0u8; 32];
        rng.fill_bytes(&mut b);
        Self(b)
    }

    /// Wraps existing private key bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The private key bytes (as stored; X25519 clamps them on use).
    pub fn to_bytes(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(self.0)
    }

    /// The matching public key.
    pub fn public(&self) -> CurvePublic {
        let s = x25519_dalek::StaticSecret::from(self.0);
        CurvePublic(x25519_dalek::PublicKey::from(&s).to_bytes())
    }

    /// X25519; an all-zero result (low-order peer key) is rejected.
    pub fn diffie_hellman(&self, peer: &CurvePublic) -> Result<Zeroizing<[u8; 32]>, OmemoError> {
        let s = x25519_dalek::StaticSecret::from(self.0);
        let shared = s.diffie_hellman(&x25519_dalek::PublicKey::from(peer.0));
        if !shared.was_contributory() {
            return Err(OmemoError::LowOrderPoint);
        }
        Ok(Zeroizing::new(*shared.as_bytes()))
    }

    /// The clamped scalar bytes (the X25519 private key proper).
    pub(crate) fn clamped(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(curve25519_dalek::scalar::clamp_integer(self.0))
    }
}

/// A device identity: an Ed25519 seed from which both forms are derived.
#[derive(Clone, Zeroize, ZeroizeOnDrop, Serialize, Deserialize)]
pub struct IdentityKeyPair {
    seed: [u8; 32],
}

impl std::fmt::Debug for IdentityKeyPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdentityKeyPair")
            .field("public", &self.ed_public())
            .finish_non_exhaustive()
    }
}

impl IdentityKeyPair {
    /// Generates a fresh identity.
    pub fn generate<R: RngCore + CryptoRng>(rng: &mut R) -> Self {
        let mut seed = [0u8; 32];
        rng.fill_bytes(&mut seed);
        Self { seed }
    }

    /// Restores an identity from its seed.
    pub fn from_seed(seed: [u8; 32]) -> Self {
        Self { seed }
    }

    /// The seed (to persist in the encrypted store).
    pub fn seed(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(self.seed)
    }

    fn signing_key(&self) -> SigningKey {
        SigningKey::from_bytes(&self.seed)
    }

    /// The Ed25519 public key (OMEMO 2 identity key).
    pub fn ed_public(&self) -> EdPublic {
        EdPublic(self.signing_key().verifying_key().to_bytes())
    }

    /// The Curve25519 public key (legacy identity key).
    pub fn curve_public(&self) -> CurvePublic {
        self.curve_secret().public()
    }

    /// The X25519 private key: `clamp(SHA-512(seed)[..32])`, as Ed25519 and libxeddsa derive it.
    pub fn curve_secret(&self) -> CurveSecret {
        let mut h = Sha512::digest(self.seed);
        let mut k = [0u8; 32];
        k.copy_from_slice(&h[..32]);
        h.as_mut_slice().zeroize();
        let s = CurveSecret(curve25519_dalek::scalar::clamp_integer(k));
        k.zeroize();
        s
    }

    /// A plain Ed25519 signature (OMEMO 2 signed prekeys).
    pub fn sign_ed25519(&self, message: &[u8]) -> [u8; 64] {
        self.signing_key().sign(message).to_bytes()
    }

    /// A signature verifiable against the Curve25519 identity key (legacy signed prekeys).
    ///
    /// Like libsignal and python-oldmemo: an Ed25519 signature by the seed's key, with the Ed25519
    /// public key's sign bit carried in the top bit of the last signature byte (always zero in a
    /// valid `s`), so the verifier can pick the right Edwards point.
    pub fn sign_legacy(&self, message: &[u8]) -> [u8; 64] {
        let mut sig = self.sign_ed25519(message);
        sig[63] |= self.ed_public().0[31] & 0x80;
        sig
    }
}
