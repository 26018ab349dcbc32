//! Payload encryption: the per-message symmetric encryption whose key material is then sent to
//! each device through its Double Ratchet.
//!
//! - Legacy: AES-128-GCM, 16-byte key, 12-byte IV; key material = key ‖ 16-byte tag (32 bytes).
//! - OMEMO 2: a random 32-byte key → HKDF-SHA-256(zero salt, "OMEMO Payload", 80) = encryption
//!   key ‖ authentication key ‖ IV; AES-256-CBC; HMAC-SHA-256 over the ciphertext truncated to
//!   16; key material = key ‖ tag (48 bytes).

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes128Gcm, Nonce};
use rand::{CryptoRng, RngCore};
use zeroize::Zeroizing;

use super::{OmemoError, OmemoVersion, kdf};

/// An encrypted payload and the key material the recipients need to open it.
pub struct SealedPayload {
    /// The ciphertext (`<payload/>`).
    pub ciphertext: Vec<u8>,
    /// Legacy only: the GCM IV (`<iv/>`); empty for OMEMO 2.
    pub iv: Vec<u8>,
    /// Key material to encrypt per device.
    pub key_material: Zeroizing<Vec<u8>>,
}

const PAYLOAD_INFO: &[u8] = b"OMEMO Payload";

/// Encrypts `plaintext` with a fresh key.
pub fn seal<R: RngCore + CryptoRng>(
    version: OmemoVersion,
    plaintext: &[u8],
    rng: &mut R,
) -> SealedPayload {
    match version {
        OmemoVersion::Legacy => {
            let mut key = Zeroizing::new([0u8; 16]);
            let mut iv = [0u8; 12];
            rng.fill_bytes(key.as_mut());
            rng.fill_bytes(&mut iv);
            let cipher = Aes128Gcm::new(key.as_ref().into());
            // AES-GCM encryption of an in-memory buffer cannot fail below 64 GiB.
            let mut ct = cipher
                .encrypt(Nonce::from_slice(&iv), plaintext)
                .expect("AES-GCM encrypt");
            let tag = ct.split_off(ct.len() - 16);
            let mut km = Zeroizing::new(key.to_vec());
            km.extend_from_slice(&tag);
            SealedPayload {
                ciphertext: ct,
                iv: iv.to_vec(),
                key_material: km,
            }
        }
        OmemoVersion::V2 => {
            let mut key = Zeroizing::new([0u8; 32]);
            rng.fill_bytes(key.as_mut());
            let keys = kdf::cbc_hmac_keys(key.as_ref(), PAYLOAD_INFO);
            let ct = kdf::aes256_cbc_encrypt(&keys.enc, &keys.iv, plaintext);
            let tag = kdf::hmac(&keys.auth[..], &[&ct]);
            let mut km = Zeroizing::new(key.to_vec());
            km.extend_from_slice(&tag[..16]);
            SealedPayload {
                ciphertext: ct,
                iv: Vec::new(),
                key_material: km,
            }
        }
    }
}

/// Decrypts a payload with the key material obtained from the ratchet.
///
/// Legacy also accepts the old Conversations layout: a 16-byte key with the GCM tag at the end
/// of the payload.
pub fn open(
    version: OmemoVersion,
    key_material: &[u8],
    iv: &[u8],
    ciphertext: &[u8],
) -> Result<Zeroizing<Vec<u8>>, OmemoError> {
    match version {
        OmemoVersion::Legacy => {
            if iv.len() != 12 {
                return Err(OmemoError::Malformed("GCM IV length"));
            }
            let (key, ct_and_tag) = match key_material.len() {
                32 => {
                    let mut v = ciphertext.to_vec();
                    v.extend_from_slice(&key_material[16..]);
                    (&key_material[..16], v)
                }
                16 if ciphertext.len() >= 16 => (key_material, ciphertext.to_vec()),
                _ => return Err(OmemoError::Malformed("key material length")),
            };
            let cipher =
                Aes128Gcm::new_from_slice(key).map_err(|_| OmemoError::Malformed("key"))?;
            cipher
                .decrypt(Nonce::from_slice(iv), ct_and_tag.as_slice())
                .map(Zeroizing::new)
                .map_err(|_| OmemoError::DecryptionFailed)
        }
        OmemoVersion::V2 => {
            if key_material.len() != 48 {
                return Err(OmemoError::Malformed("key material length"));
            }
            let keys = kdf::cbc_hmac_keys(&key_material[..32], PAYLOAD_INFO);
            let tag = kdf::hmac(&keys.auth[..], &[ciphertext]);
            if !kdf::mac_eq(&tag[..16], &key_material[32..]) {
                return Err(OmemoError::AuthenticationFailed);
            }
            kdf::aes256_cbc_decrypt(&keys.enc, &keys.iv, ciphertext)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_round_trips_and_detects_tampering_in_both_versions() {
        let mut rng = rand::thread_rng();
        for v in [OmemoVersion::Legacy, OmemoVersion::V2] {
            let s = seal(v, b"secret text", &mut rng);
            assert_eq!(
                open(v, &s.key_material, &s.iv, &s.ciphertext)
                    .as_deref()
                    .map(Vec::as_slice),
                Ok(&b"secret text"[..])
            );
            let mut bad = s.ciphertext.clone();
            bad[0] ^= 1;
            assert!(open(v, &s.key_material, &s.iv, &bad).is_err());
        }
    }

    #[test]
    fn legacy_payload_with_tag_appended_to_ciphertext_is_accepted() {
        // Older Conversations: 16-byte key transported, GCM tag at the end of <payload/>.
        let mut rng = rand::thread_rng();
        let s = seal(OmemoVersion::Legacy, b"old layout", &mut rng);
        let mut payload = s.ciphertext.clone();
        payload.extend_from_slice(&s.key_material[16..]);
        let got = open(OmemoVersion::Legacy, &s.key_material[..16], &s.iv, &payload);
        assert_eq!(got.as_deref().map(Vec::as_slice), Ok(&b"old layout"[..]));
        assert_eq!(
            open(OmemoVersion::Legacy, &s.key_material[..8], &s.iv, &payload).err(),
            Some(OmemoError::Malformed("key material length"))
        );
    }
}
