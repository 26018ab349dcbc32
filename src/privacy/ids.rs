//! Unpredictable stanza ids: 128 random bits, hex encoded.
//!
//! Every stanza Talpa sends carries one (tokio-xmpp would otherwise fill in counters, which
//! fingerprint the library and leak how many stanzas a session sent).

use rand::RngCore;
use rand::rngs::OsRng;

/// Returns a fresh 128-bit random id (32 lowercase hex digits).
pub fn random_id() -> String {
    let mut bytes = [0u8; 16];
    OsRng.fill_bytes(&mut bytes);
    hex::encode(bytes)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]
mod tests {
    use super::*;

    #[test]
    fn ids_are_128_bit_hex_and_unique() {
        let a = random_id();
        let b = random_id();
        assert_eq!(a.len(), 32);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
    }
}
