//! X3DH key agreement with each OMEMO version's info string and key encodings.
//!
//! KDF input is `0xFF × 32 ‖ DH1 ‖ DH2 ‖ DH3 ‖ DH4` with a zero salt (python-x3dh, libsignal);
//! the associated data is `encode(IK_initiator) ‖ encode(IK_responder)` where the encoding is
//! `0x05 ‖ Curve25519` (legacy) or the raw Ed25519 key (OMEMO 2).

use rand::seq::SliceRandom;
use rand::{CryptoRng, RngCore};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::keys::{CurvePublic, CurveSecret, EdPublic, IdentityKeyPair};
use super::{OmemoError, OmemoVersion, kdf, xeddsa};

/// A peer's identity key in the form its protocol version publishes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum IdentityKey {
    /// Legacy: Curve25519 (Montgomery) form.
    Curve(CurvePublic),
    /// OMEMO 2: Ed25519 form.
    Ed(EdPublic),
}

impl IdentityKey {
    /// Our own identity in the form `version` publishes.
    pub fn own(identity: &IdentityKeyPair, version: OmemoVersion) -> Self {
        match version {
            OmemoVersion::Legacy => Self::Curve(identity.curve_public()),
            OmemoVersion::V2 => Self::Ed(identity.ed_public()),
        }
    }

    /// The Montgomery form, used for Diffie-Hellman and for fingerprints.
    pub fn curve(&self) -> Result<CurvePublic, OmemoError> {
        match self {
            Self::Curve(c) => Ok(*c),
            Self::Ed(e) => e.to_curve(),
        }
    }

    /// The encoding used in associated data and on the wire.
    pub fn encode(&self) -> Vec<u8> {
        match self {
            Self::Curve(c) => c.to_djb().to_vec(),
            Self::Ed(e) => e.0.to_vec(),
        }
    }

    /// Verifies the signature on a signed prekey.
    pub fn verify_signed_prekey(
        &self,
        spk: &CurvePublic,
        signature: &[u8; 64],
    ) -> Result<(), OmemoError> {
        match self {
            Self::Curve(c) => xeddsa::verify(c, &spk.to_djb(), signature),
            Self::Ed(e) => e.verify(&spk.0, signature),
        }
    }

    /// The fingerprint in the conventional grouped hex form: the Curve25519 key as
    /// 8 groups of 8 lowercase hex digits (same for a device in both versions).
    pub fn fingerprint(&self) -> Result<String, OmemoError> {
        let hex = hex::encode(self.curve()?.0);
        Ok(hex
            .as_bytes()
            .chunks(8)
            .map(|c| String::from_utf8_lossy(c).into_owned())
            .collect::<Vec<_>>()
            .join(" "))
    }
}

/// Signs a signed prekey as `version` requires.
pub fn sign_signed_prekey(
    identity: &IdentityKeyPair,
    version: OmemoVersion,
    spk: &CurvePublic,
) -> [u8; 64] {
    match version {
        OmemoVersion::Legacy => identity.sign_legacy(&spk.to_djb()),
        OmemoVersion::V2 => identity.sign_ed25519(&spk.0),
    }
}

/// The public part of a peer device needed to start a session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreKeyBundle {
    /// The device's identity key.
    pub identity: IdentityKey,
    /// Id of the signed prekey.
    pub signed_prekey_id: u32,
    /// The signed prekey.
    pub signed_prekey: CurvePublic,
    /// Signature of the signed prekey by the identity key.
    pub signed_prekey_signature: [u8; 64],
    /// One-time prekeys with their ids.
    pub prekeys: Vec<(u32, CurvePublic)>,
}

/// Result of a key agreement: the root key and the associated data of the session.
pub struct SharedSecret {
    /// 32-byte secret seeding the Double Ratchet's root chain.
    pub secret: Zeroizing<[u8; 32]>,
    /// `encode(IK_initiator) ‖ encode(IK_responder)`.
    pub associated_data: Vec<u8>,
}

/// What the initiator sends the responder (inside the key exchange message).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyExchangeHeader {
    /// The initiator's identity key.
    pub identity: IdentityKey,
    /// The initiator's ephemeral (base) key.
    pub ephemeral: CurvePublic,
    /// Id of the responder's one-time prekey that was used.
    pub prekey_id: u32,
    /// Id of the responder's signed prekey that was used.
    pub signed_prekey_id: u32,
}

fn derive(version: OmemoVersion, dhs: &[&[u8; 32]]) -> Zeroizing<[u8; 32]> {
    let mut ikm = Zeroizing::new(vec![0xffu8; 32]);
    for dh in dhs {
        ikm.extend_from_slice(&dh[..]);
    }
    kdf::hkdf::<32>(None, &ikm, version.x3dh_info())
}

/// Active X3DH: verifies the bundle's signed prekey, picks a random one-time prekey, and derives
/// the shared secret. Returns the secret, the header to send, and the responder's signed prekey
/// (the Double Ratchet's first remote ratchet key).
pub fn initiate<R: RngCore + CryptoRng>(
    version: OmemoVersion,
    own: &IdentityKeyPair,
    bundle: &PreKeyBundle,
    rng: &mut R,
) -> Result<(SharedSecret, KeyExchangeHeader), OmemoError> {
    bundle
        .identity
        .verify_signed_prekey(&bundle.signed_prekey, &bundle.signed_prekey_signature)?;
    let &(prekey_id, prekey) = bundle.prekeys.choose(rng).ok_or(OmemoError::NoPreKey)?;
    let ephemeral = CurveSecret::generate(rng);
    let peer_ik = bundle.identity.curve()?;
    let dh1 = own.curve_secret().diffie_hellman(&bundle.signed_prekey)?;
    let dh2 = ephemeral.diffie_hellman(&peer_ik)?;
    let dh3 = ephemeral.diffie_hellman(&bundle.signed_prekey)?;
    let dh4 = ephemeral.diffie_hellman(&prekey)?;
    let own_ik = IdentityKey::own(own, version);
    let mut associated_data = own_ik.encode();
    associated_data.extend(bundle.identity.encode());
    Ok((
        SharedSecret {
            secret: derive(version, &[&dh1, &dh2, &dh3, &dh4]),
            associated_data,
        },
        KeyExchangeHeader {
            identity: own_ik,
            ephemeral: ephemeral.public(),
            prekey_id,
            signed_prekey_id: bundle.signed_prekey_id,
        },
    ))
}

/// Passive X3DH with our signed prekey and the one-time prekey the initiator used.
pub fn respond(
    version: OmemoVersion,
    own: &IdentityKeyPair,
    signed_prekey: &CurveSecret,
    prekey: &CurveSecret,
    peer_identity: &IdentityKey,
    peer_ephemeral: &CurvePublic,
) -> Result<SharedSecret, OmemoError> {
    let peer_ik = peer_identity.curve()?;
    let dh1 = signed_prekey.diffie_hellman(&peer_ik)?;
    let dh2 = own.curve_secret().diffie_hellman(peer_ephemeral)?;
    let dh3 = signed_prekey.diffie_hellman(peer_ephemeral)?;
    let dh4 = prekey.diffie_hellman(peer_ephemeral)?;
    let mut associated_data = peer_identity.encode();
    associated_data.extend(IdentityKey::own(own, version).encode());
    Ok(SharedSecret {
        secret: derive(version, &[&dh1, &dh2, &dh3, &dh4]),
        associated_data,
    })
}
