//! HKDF / HMAC / AES-CBC helpers shared by the ratchet and the payload encryption.

use std::slice;
use std::sync::OnceLock;

use aes::cipher::{BlockDecryptMut, BlockEncryptMut, KeyIvInit, block_padding::Pkcs7};
use sha2::{Digest, Sha256};
use sha256_compress::block_api::compress256;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use super::OmemoError;

/// SHA-256's initial state (FIPS 180-4, 5.3.3).
const SHA256_IV: [u32; 8] = [
    0x6a09_e667,
    0xbb67_ae85,
    0x3c6e_f372,
    0xa54f_f53a,
    0x510e_527f,
    0x9b05_688c,
    0x1f83_d9ab,
    0x5be0_cd19,
];

/// Writes a SHA-256 state out as its big-endian digest.
fn digest_bytes(state: &[u32; 8], out: &mut [u8]) {
    for (chunk, word) in out.chunks_exact_mut(4).zip(state) {
        chunk.copy_from_slice(&word.to_be_bytes());
    }
}

/// A secret byte buffer wiped on drop through `zeroize`'s slice path (one fill, then one
/// optimisation barrier). `Zeroizing<[u8; N]>` wipes an array with one volatile write per
/// byte: in the buffers every MAC uses (a block and a digest, about twelve MACs per decrypted
/// message) that was a tenth of a decryption's time.
struct Wiped<const N: usize>([u8; N]);

impl<const N: usize> Drop for Wiped<N> {
    fn drop(&mut self) {
        self.0.as_mut_slice().zeroize();
    }
}

/// HMAC-SHA-256 (RFC 2104) keyed once: the SHA-256 states after the inner (`ipad`) and outer
/// (`opad`) key blocks. Each [`HmacKey::mac`] starts from copies of them, so a key used for
/// several MACs (a chain key's two outputs, an HKDF key's expand blocks) is absorbed once.
///
/// Written on SHA-256's compression function (`sha2`'s `compress256`) rather than the `hmac`
/// crate: per message a decryption keys five MACs, and the generic `hmac`/`digest` wrappers
/// cost about as much again as the compressions of a 32-byte key. The result is the same
/// function (the tests below compare it with the `hmac` crate over random keys and messages of
/// every length class). Both states are secret and zeroized on drop.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub(crate) struct HmacKey {
    inner: [u32; 8],
    outer: [u32; 8],
}

impl HmacKey {
    /// Keys HMAC-SHA-256 with `key` (a key longer than a block is hashed first, as RFC 2104 says).
    pub(crate) fn new(key: &[u8]) -> Self {
        let hashed: Zeroizing<[u8; 32]>;
        let key = if key.len() > 64 {
            hashed = Zeroizing::new(Sha256::digest(key).into());
            &hashed[..]
        } else {
            key
        };
        // The key, zero-padded to a block, ⊕ ipad; then ⊕ (ipad ⊕ opad) turns it into the
        // outer block. One buffer, zeroized on drop.
        let mut pad = Wiped([0x36u8; 64]);
        for (p, k) in pad.0.iter_mut().zip(key) {
            *p ^= k;
        }
        let mut inner = SHA256_IV;
        compress256(&mut inner, slice::from_ref(&pad.0));
        for p in &mut pad.0 {
            *p ^= 0x36 ^ 0x5c;
        }
        let mut outer = SHA256_IV;
        compress256(&mut outer, slice::from_ref(&pad.0));
        Self { inner, outer }
    }

    /// The MAC of the concatenation of `parts`.
    pub(crate) fn mac(&self, parts: &[&[u8]]) -> [u8; 32] {
        let mut out = [0u8; 32];
        self.mac_into(parts, &mut out);
        out
    }

    /// The MAC of the concatenation of `parts`, written into `out` (no copy to zeroize).
    pub(crate) fn mac_into(&self, parts: &[&[u8]], out: &mut [u8; 32]) {
        let mut state = Zeroizing::new(self.inner);
        // Bytes waiting for a full block; may hold secrets (HKDF's previous output block).
        let mut buf = Wiped([0u8; 64]);
        let mut fill = 0usize;
        // The key block counts: the inner hash covers (key ⊕ ipad) ‖ message.
        let mut total = 64u64;
        for part in parts {
            let mut part: &[u8] = part;
            total += part.len() as u64;
            if fill > 0 {
                let n = (64 - fill).min(part.len());
                buf.0[fill..fill + n].copy_from_slice(&part[..n]);
                fill += n;
                part = &part[n..];
                if fill < 64 {
                    continue;
                }
                compress256(&mut state, slice::from_ref(&buf.0));
            }
            let (blocks, rest) = part.as_chunks::<64>();
            if !blocks.is_empty() {
                compress256(&mut state, blocks);
            }
            buf.0[..rest.len()].copy_from_slice(rest);
            fill = rest.len();
        }
        // SHA-256 padding: 0x80, zeros, the length in bits (big-endian) in the last 8 bytes.
        buf.0[fill] = 0x80;
        buf.0[fill + 1..].fill(0);
        if fill + 1 > 56 {
            compress256(&mut state, slice::from_ref(&buf.0));
            buf.0.fill(0);
        }
        buf.0[56..].copy_from_slice(&(total * 8).to_be_bytes());
        compress256(&mut state, slice::from_ref(&buf.0));
        // Outer hash: (key ⊕ opad) ‖ inner digest, one block: 96 bytes = 768 bits in all.
        buf.0.fill(0);
        digest_bytes(&state, &mut buf.0[..32]);
        buf.0[32] = 0x80;
        buf.0[56..].copy_from_slice(&768u64.to_be_bytes());
        *state = self.outer;
        compress256(&mut state, slice::from_ref(&buf.0));
        digest_bytes(&state, out);
    }
}

/// HMAC-SHA-256 keyed with 32 zero bytes: the HKDF extract step of every per-message key
/// derivation (OMEMO's message keys and payload keys use no salt). The key is public, so its
/// keyed state is computed once, saving two SHA-256 compressions per derivation.
fn zero_salt_hmac() -> &'static HmacKey {
    static ZERO: OnceLock<HmacKey> = OnceLock::new();
    ZERO.get_or_init(|| HmacKey::new(&[0u8; 32]))
}

/// HKDF-SHA-256 (RFC 5869) with the given salt (32 zero bytes when `None`), written out on
/// [`HmacKey`]: the zero-salt extract starts from a precomputed state, and the pseudorandom key
/// is absorbed once for all expand blocks. `N` ≤ 255 × 32.
pub(crate) fn hkdf<const N: usize>(
    salt: Option<&[u8]>,
    ikm: &[u8],
    info: &[u8],
) -> Zeroizing<[u8; N]> {
    // The pseudorandom key first, then T(1), T(2)… in turn: one 32-byte secret buffer.
    let mut t = Wiped([0u8; 32]);
    match salt {
        None => zero_salt_hmac().mac_into(&[ikm], &mut t.0),
        Some(s) => HmacKey::new(s).mac_into(&[ikm], &mut t.0),
    }
    let keyed = HmacKey::new(&t.0);
    let mut out = Zeroizing::new([0u8; N]);
    for i in 0..N.div_ceil(32) {
        // T(i) counts from 1; N ≤ 255 × 32 keeps it in a byte.
        let counter = [u8::try_from(i + 1).expect("HKDF output length is a small constant")];
        // T(i − 1) is the previous, whole block of the output (only the last may be short).
        let (done, rest) = out.split_at_mut(32 * i);
        let previous = done
            .get(done.len().saturating_sub(32)..)
            .unwrap_or_default();
        keyed.mac_into(&[previous, info, &counter], &mut t.0);
        let len = rest.len().min(32);
        rest[..len].copy_from_slice(&t.0[..len]);
    }
    out
}

/// HMAC-SHA-256 over the concatenation of `parts`.
pub(crate) fn hmac(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    HmacKey::new(key).mac(parts)
}

/// HMAC-SHA-256 of two messages under one key, keying the MAC once (the chain step of the
/// Double Ratchet derives the message key and the next chain key from the same key).
pub(crate) fn hmac_pair(key: &[u8], a: &[u8], b: &[u8]) -> ([u8; 32], [u8; 32]) {
    let keyed = HmacKey::new(key);
    (keyed.mac(&[a]), keyed.mac(&[b]))
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

/// AES-256-CBC with PKCS#7 padding (the encryption key schedule only).
pub(crate) fn aes256_cbc_encrypt(key: &[u8; 32], iv: &[u8; 16], plaintext: &[u8]) -> Vec<u8> {
    cbc::Encryptor::<aes::Aes256Enc>::new(key.into(), iv.into())
        .encrypt_padded_vec_mut::<Pkcs7>(plaintext)
}

/// AES-256-CBC with PKCS#7 padding (the decryption key schedule only); bad padding is a
/// decryption failure.
pub(crate) fn aes256_cbc_decrypt(
    key: &[u8; 32],
    iv: &[u8; 16],
    ciphertext: &[u8],
) -> Result<Zeroizing<Vec<u8>>, OmemoError> {
    // Decrypted in place in a copy (no zero-filled buffer first), zeroized however it ends.
    let mut buf = Zeroizing::new(ciphertext.to_vec());
    let len = cbc::Decryptor::<aes::Aes256Dec>::new(key.into(), iv.into())
        .decrypt_padded_mut::<Pkcs7>(&mut buf)
        .map_err(|_| OmemoError::DecryptionFailed)?
        .len();
    buf.truncate(len);
    Ok(buf)
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

    /// xorshift64*: deterministic test inputs.
    fn next(x: &mut u64) -> u64 {
        *x ^= *x >> 12;
        *x ^= *x << 25;
        *x ^= *x >> 27;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    #[test]
    fn own_hmac_matches_the_hmac_crate_for_random_keys_and_messages() {
        use hmac::{Hmac, Mac};
        let mut x = 0x9e37_79b9_7f4a_7c15_u64;
        let bytes = |n: usize, x: &mut u64| -> Vec<u8> {
            (0..n).map(|_| next(x).to_le_bytes()[0]).collect()
        };
        // Every key length up to past a block (longer keys are hashed), every message length
        // around the padding boundaries (55/56/64 bytes after the key block) and beyond,
        // split into up to four parts at random points (empty parts included).
        for key_len in (0..=70).chain([100, 129, 200]) {
            for msg_len in (0..=200).chain([255, 256, 257, 511, 512, 1000]) {
                let key = bytes(key_len, &mut x);
                let msg = bytes(msg_len, &mut x);
                let mut reference = <Hmac<Sha256> as Mac>::new_from_slice(&key).expect("any key");
                reference.update(&msg);
                let expected: [u8; 32] = reference.finalize().into_bytes().into();
                let mut cuts: Vec<usize> = (0..usize::try_from(next(&mut x) % 4).expect("small"))
                    .map(|_| usize::try_from(next(&mut x)).expect("u64 fits") % (msg_len + 1))
                    .collect();
                cuts.sort_unstable();
                let mut parts = Vec::new();
                let mut at = 0;
                for c in cuts {
                    parts.push(&msg[at..c]);
                    at = c;
                }
                parts.push(&msg[at..]);
                let keyed = HmacKey::new(&key);
                assert_eq!(
                    keyed.mac(&parts),
                    expected,
                    "key {key_len} B, message {msg_len} B"
                );
                // The keyed state is reusable: a second MAC from it is the same.
                assert_eq!(keyed.mac(&[&msg]), expected, "key {key_len} B, reused");
            }
        }
    }

    #[test]
    fn hmac_matches_rfc_4231() {
        // RFC 4231 test cases 1, 2 and 6 (key longer than a block), HMAC-SHA-256.
        let hex = |h: &str| hex::decode(h).expect("hex");
        let cases = [
            (
                vec![0x0b; 20],
                b"Hi There".to_vec(),
                "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7",
            ),
            (
                b"Jefe".to_vec(),
                b"what do ya want for nothing?".to_vec(),
                "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
            ),
            (
                vec![0xaa; 131],
                b"Test Using Larger Than Block-Size Key - Hash Key First".to_vec(),
                "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
            ),
        ];
        for (key, msg, mac) in cases {
            assert_eq!(hmac(&key, &[&msg])[..], hex(mac)[..]);
        }
    }
}
