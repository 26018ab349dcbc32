//! GObject models that wrap core state for the widgets. They hold data, never protocol logic,
//! and never cross into tokio.

mod account_object;
mod conversation_object;
mod message_object;
mod occupant_object;

pub use account_object::AccountObject;
pub use conversation_object::ConversationObject;
pub use message_object::MessageObject;
pub use occupant_object::OccupantObject;

/// How many distinct account colour labels the stylesheet defines (`.account-color-N`).
pub const ACCOUNT_COLOURS: u32 = 6;

/// A stable colour label for an account, so the same account always wears the same colour.
/// Not a secret: it only helps the user tell pseudonyms apart at a glance.
pub fn account_colour_index(jid: &str) -> u32 {
    // FNV-1a: stable across runs and platforms, unlike the std hasher.
    let mut hash: u32 = 0x811c_9dc5;
    for byte in jid.bytes() {
        hash ^= u32::from(byte);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    hash % ACCOUNT_COLOURS
}

#[cfg(test)]
mod tests {
    #[allow(clippy::wildcard_imports)]
    // gtk-rs subclass idiom: imp shares its wrapper's imports
    use super::*;

    #[test]
    fn account_colour_is_stable_and_in_range() {
        let a = account_colour_index("alice@talpa.test");
        assert_eq!(a, account_colour_index("alice@talpa.test"));
        assert!(a < ACCOUNT_COLOURS);
        let spread: std::collections::HashSet<u32> = (0..50)
            .map(|i| account_colour_index(&format!("user{i}@talpa.test")))
            .collect();
        assert!(spread.len() > 1, "every account got the same colour");
    }
}
