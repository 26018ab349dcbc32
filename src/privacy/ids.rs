//! Identifiers that say nothing: every stanza id and origin-id is 128 random bits.

use rand::RngCore;

/// A fresh 128-bit random identifier, hex-encoded (32 characters). Never a counter, never a
/// timestamp, never the client's name.
pub fn random_id() -> String {
    let mut bytes = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    hex::encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_128_bit_hex_and_do_not_repeat() {
        let a = random_id();
        let b = random_id();
        assert_eq!(a.len(), 32);
        assert!(a.chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
    }
}
