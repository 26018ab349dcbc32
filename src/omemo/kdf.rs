//! HKDF / HMAC / AES-CBC helpers shared by the ratchet and the payload encryption.

use std::sync::OnceLock;

use aes::cipher::{BlockDecryptMut, BlockEncryptMut, KeyIvInit, block_padding::Pkcs7};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use zeroize::Zeroizing;

use super::OmemoError;

type HmacSha256 = Hmac<Sha256>;

/// HMAC-SHA-256 keyed with 32 zero bytes: the HKDF extract step of every per-message key
/// derivation (OMEMO's message keys and payload keys use no salt). The key is public, so its
/// keyed state is computed once and cloned, saving two SHA-256 compressions per derivation.
fn zero_salt_hmac() -> &'static HmacSha256 {
    static ZERO: OnceLock<HmacSha256> = OnceLock::new();
    ZERO.get_or_init(|| {
        <HmacSha256 as Mac>::new_from_slice(&[0u8; 32]).expect("HMAC accepts any key length")
    })
}

/// HKDF-SHA-256 (RFC 5869) with the given salt (32 zero bytes when `None`), written out on
/// HMAC so the zero-salt extract can start from a precomputed state. `N` ≤ 255 × 32.
pub(crate) fn hkdf<const N: usize>(
    salt: Option<&[u8]>,
    ikm: &[u8],
    info: &[u8],
) -> Zeroizing<[u8; N]> {
    let mut extract = match salt {
        None => zero_salt_hmac().clone(),
        Some(s) => <HmacSha256 as Mac>::new_from_slice(s).expect("HMAC accepts any key length"),
    };
    extract.update(ikm);
    let prk = Zeroizing::new(<[u8; 32]>::from(extract.finalize().into_bytes()));
    let keyed = <HmacSha256 as Mac>::new_from_slice(&prk[..]).expect("HMAC accepts any key length");
    let mut out = Zeroizing::new([0u8; N]);
    let mut previous = Zeroizing::new([0u8; 32]);
    for (i, block) in out.chunks_mut(32).enumerate() {
        let mut mac = keyed.clone();
        if i > 0 {
            mac.update(&previous[..]);
        }
        mac.update(info);
        // T(i) counts from 1; N ≤ 255 × 32 keeps it in a byte.
        mac.update(&[u8::try_from(i + 1).expect("HKDF output length is a small constant")]);
        previous.copy_from_slice(&mac.finalize().into_bytes());
        block.copy_from_slice(&previous[..block.len()]);
    }
    out
}

/// HMAC-SHA-256 over the concatenation of `parts`.
pub(crate) fn hmac(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let mut mac = <HmacSha256 as Mac>::new_from_slice(key).expect("HMAC accepts any key length");
    for p in parts {
        mac.update(p);
    }
    mac.finalize().into_bytes().into()
}

/// HMAC-SHA-256 of two messages under one key, keying the MAC once (the chain step of the
/// Double Ratchet derives the message key and the next chain key from the same key).
pub(crate) fn hmac_pair(key: &[u8], a: &[u8], b: &[u8]) -> ([u8; 32], [u8; 32]) {
    let keyed = <HmacSha256 as Mac>::new_from_slice(key).expect("HMAC accepts any key length");
    let mut first = keyed.clone();
    first.update(a);
    let mut second = keyed;
    second.update(b);
    (
        first.finalize().into_bytes().into(),
        second.finalize().into_bytes().into(),
    )
}

/// Constant-time comparison of a received truncated MAC.
pub(crate) fn mac_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Splits 80 bytes of HKDF output into (encryption key, authentication key, IV).
pub(crate) struct CbcHmacKeys {
    pub enc: Zeroizing<[u8; 32]>,
    pub auth: Zeroizing<[u8; 32]>,
    pub iv: [u8; 16],
}

pub(crate) fn cbc_hmac_keys(ikm: &[u8], info: &[u8]) -> CbcHmacKeys {
    let okm = hkdf::<80>(None, ikm, info);
    let mut enc = Zeroizing::new([0u8; 32]);
    let mut auth = Zeroizing::new([0u8; 32]);
    let mut iv = [0u8; 16];
    enc.copy_from_slice(&okm[..32]);
    auth.copy_from_slice(&okm[32..64]);
    iv.copy_from_slice(&okm[64..]);
    CbcHmacKeys { enc, auth, iv }
}

/// AES-256-CBC with PKCS#7 padding.
pub(crate) fn aes256_cbc_encrypt(key: &[u8; 32], iv: &[u8; 16], plaintext: &[u8]) -> Vec<u8> {
    cbc::Encryptor::<aes::Aes256>::new(key.into(), iv.into())
        .encrypt_padded_vec_mut::<Pkcs7>(plaintext)
}

/// AES-256-CBC with PKCS#7 padding; bad padding is a decryption failure.
pub(crate) fn aes256_cbc_decrypt(
    key: &[u8; 32],
    iv: &[u8; 16],
    ciphertext: &[u8],
) -> Result<Zeroizing<Vec<u8>>, OmemoError> {
    cbc::Decryptor::<aes::Aes256>::new(key.into(), iv.into())
        .decrypt_padded_vec_mut::<Pkcs7>(ciphertext)
        .map(Zeroizing::new)
        .map_err(|_| OmemoError::DecryptionFailed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hkdf_matches_rfc_5869_and_the_hkdf_crate() {
        // RFC 5869, test case 1 (SHA-256).
        let ikm = [0x0bu8; 22];
        let salt: Vec<u8> = (0x00..=0x0c).collect();
        let info: Vec<u8> = (0xf0..=0xf9).collect();
        let okm = hkdf::<42>(Some(&salt), &ikm, &info);
        let expected: Vec<u8> =
            "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865"
                .as_bytes()
                .chunks(2)
                .map(|h| u8::from_str_radix(std::str::from_utf8(h).expect("hex"), 16).expect("hex"))
                .collect();
        assert_eq!(okm[..], expected[..]);
        // The zero-salt path (precomputed state) against the hkdf crate, for every length used.
        for info in [
            &b"OMEMO Payload"[..],
            b"OMEMO Message Key Material",
            b"WhisperRatchet",
        ] {
            let ikm = [0x42u8; 32];
            let reference = hkdf::Hkdf::<Sha256>::new(Some(&[0u8; 32]), &ikm);
            let mut expected = [0u8; 80];
            reference
                .expand(info, &mut expected)
                .expect("80 bytes is a valid HKDF length");
            assert_eq!(hkdf::<80>(None, &ikm, info)[..], expected[..]);
            assert_eq!(hkdf::<64>(None, &ikm, info)[..], expected[..64]);
        }
    }
}
