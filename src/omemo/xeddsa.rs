//! XEdDSA (Signal's specification): Ed25519-compatible signatures by X25519 key pairs.
//!
//! Legacy OMEMO identity keys are published in Curve25519 form, so signed-prekey signatures are
//! checked by mapping the key to Edwards form. The sign bit, which the Montgomery form loses, is
//! taken from the top bit of the signature's last byte (libsignal convention; zero for pure
//! XEdDSA signatures, which force it).

use curve25519_dalek::edwards::EdwardsPoint;
use curve25519_dalek::scalar::Scalar;
use rand::{CryptoRng, RngCore};
use sha2::{Digest, Sha512};
use zeroize::Zeroize;

use super::OmemoError;
use super::keys::{CurvePublic, CurveSecret};

/// Verifies `signature` over `message` by the Curve25519 public key `key`.
pub fn verify(key: &CurvePublic, message: &[u8], signature: &[u8; 64]) -> Result<(), OmemoError> {
    let mut sig = *signature;
    let sign_bit = sig[63] & 0x80 != 0;
    sig[63] &= 0x7f;
    key.to_ed(sign_bit)?.verify(message, &sig)
}

/// Signs `message` with an X25519 private key (XEdDSA, §2.5 of the specification): the Edwards
/// public key is forced to sign bit 0, and the nonce is derived from the key, the message and 64
/// random bytes.
#[allow(
    clippy::many_single_char_names,
    reason = "names follow the XEdDSA specification"
)]
pub fn sign<R: RngCore + CryptoRng>(secret: &CurveSecret, message: &[u8], rng: &mut R) -> [u8; 64] {
    let k = secret.clamped();
    let mut a = Scalar::from_bytes_mod_order(*k);
    let big_a = EdwardsPoint::mul_base(&a);
    let mut a_bytes = big_a.compress().to_bytes();
    if a_bytes[31] & 0x80 != 0 {
        a = -a;
        a_bytes = EdwardsPoint::mul_base(&a).compress().to_bytes();
    }
    let mut z = [0u8; 64];
    rng.fill_bytes(&mut z);
    // hash_1: SHA-512(2^256 − 1 − 1 ‖ a ‖ M ‖ Z)
    let mut prefix = [0xffu8; 32];
    prefix[0] = 0xfe;
    let mut h = Sha512::new();
    h.update(prefix);
    h.update(a.as_bytes());
    h.update(message);
    h.update(z);
    let mut r_wide: [u8; 64] = h.finalize().into();
    let r = Scalar::from_bytes_mod_order_wide(&r_wide);
    r_wide.zeroize();
    z.zeroize();
    let big_r = EdwardsPoint::mul_base(&r).compress().to_bytes();
    let mut h = Sha512::new();
    h.update(big_r);
    h.update(a_bytes);
    h.update(message);
    let hram: [u8; 64] = h.finalize().into();
    let hs = Scalar::from_bytes_mod_order_wide(&hram);
    let s = r + hs * a;
    a.zeroize();
    let mut sig = [0u8; 64];
    sig[..32].copy_from_slice(&big_r);
    sig[32..].copy_from_slice(s.as_bytes());
    sig
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::omemo::keys::IdentityKeyPair;

    #[test]
    fn xeddsa_signature_verifies_and_tampering_fails() {
        let mut rng = rand::thread_rng();
        for _ in 0..16 {
            let sk = CurveSecret::generate(&mut rng);
            let sig = sign(&sk, b"hello", &mut rng);
            assert_eq!(verify(&sk.public(), b"hello", &sig), Ok(()));
            assert_eq!(
                verify(&sk.public(), b"hellp", &sig),
                Err(OmemoError::BadSignature)
            );
        }
    }

    #[test]
    fn legacy_identity_signature_verifies_for_both_sign_bits() {
        let mut rng = rand::thread_rng();
        let mut seen = [false; 2];
        while !(seen[0] && seen[1]) {
            let id = IdentityKeyPair::generate(&mut rng);
            seen[usize::from(id.ed_public().sign_bit())] = true;
            let sig = id.sign_legacy(b"spk");
            assert_eq!(verify(&id.curve_public(), b"spk", &sig), Ok(()));
            // The Ed25519 form converts back to the same Montgomery form.
            assert_eq!(id.ed_public().to_curve(), Ok(id.curve_public()));
            assert_eq!(
                id.curve_public().to_ed(id.ed_public().sign_bit()),
                Ok(id.ed_public())
            );
        }
    }
}
