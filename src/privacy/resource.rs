//! Random XMPP resources: a fresh lowercase `adjective_noun` per connection.
//!
//! The resource is visible to every contact; it must not name the client, the OS or the device,
//! and must not stay the same across connections (that would link sessions).

use rand::rngs::OsRng;
use rand::seq::SliceRandom;

fn plain(word: &str) -> bool {
    !word.is_empty() && word.bytes().all(|b| b.is_ascii_lowercase())
}

/// Returns a fresh random resource such as `brave_otter` (matches `^[a-z]+_[a-z]+$`).
pub fn random_resource() -> String {
    let mut rng = OsRng;
    loop {
        let (Some(adj), Some(noun)) = (
            names::ADJECTIVES.choose(&mut rng),
            names::NOUNS.choose(&mut rng),
        ) else {
            // The word lists are compiled in and never empty; keep a sane fallback anyway.
            return "quiet_mole".to_owned();
        };
        if plain(adj) && plain(noun) && *adj != "talpa" && *noun != "talpa" {
            return format!("{adj}_{noun}");
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]
mod tests {
    use super::*;

    #[test]
    fn resource_is_lowercase_adjective_underscore_noun() {
        for _ in 0..200 {
            let r = random_resource();
            let (a, n) = r.split_once('_').expect("underscore");
            assert!(plain(a) && plain(n), "{r}");
            assert!(!r.contains("talpa"));
        }
    }

    #[test]
    fn resources_differ_between_connections() {
        let set: std::collections::HashSet<String> = (0..50).map(|_| random_resource()).collect();
        assert!(set.len() > 40);
    }
}
