//! HKDF / HMAC / AES-CBC helpers shared by the ratchet and the payload encryption.

use aes::cipher::{BlockDecryptMut, BlockEncryptMut, KeyIvInit, block_padding::Pkcs7};
use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use zeroize::Zeroizing;

use super::OmemoError;

type HmacSha256 = Hmac<Sha256>;

/// HKDF-SHA-256 with the given salt (32 zero bytes when `None`).
pub(crate) fn hkdf<const N: usize>(
    salt: Option<&[u8]>,
    ikm: &[u8],
    info: &[u8],
) -> Zeroizing<[u8; N]> {
    let zero = [0u8; 32];
    let hk = Hkdf::<Sha256>::new(Some(salt.unwrap_or(&zero)), ikm);
    let mut out = Zeroizing::new([0u8; N]);
    // N is at most 255 * 32 for every call site (64 or 80 bytes).
    hk.expand(info, out.as_mut())
        .expect("HKDF output length is a small constant");
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
