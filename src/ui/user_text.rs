//! User-facing text made at the UI edge from the core's error kinds and state names.
//! The core's own English strings are never shown raw except as a detail of a clear sentence.

use crate::core::CoreError;

/// A sentence the user can act on, for a failed command.
pub fn error_text(e: &CoreError) -> String {
    match e {
        CoreError::Locked => "The profile is locked. Unlock it first.".to_owned(),
        CoreError::NoProfile => {
            "There is no profile here yet. Create one with a new passphrase.".to_owned()
        }
        CoreError::ProfileExists => {
            "A profile already exists here. Unlock it with its passphrase.".to_owned()
        }
        CoreError::WrongPassphrase => "That passphrase does not open this profile.".to_owned(),
        CoreError::Corrupt(_) => {
            "The profile's files are damaged or were tampered with.".to_owned()
        }
        CoreError::InvalidInput(what) => format!("Please check what you entered: {what}."),
        CoreError::NotFound(what) => format!("Not found: {what}."),
        CoreError::Store(_) => "The encrypted store could not be read or written.".to_owned(),
        CoreError::Tor(_) => {
            "Tor is not usable right now. Talpa never connects without it.".to_owned()
        }
        CoreError::Xmpp(detail) => format!("The server refused or failed: {detail}."),
        CoreError::WouldLinkAccounts(detail) => format!("Not joined: {detail}"),
        CoreError::Stopped => "Talpa's core has stopped. Please restart Talpa.".to_owned(),
        CoreError::Omemo(detail) => format!("End-to-end encryption failed: {detail}."),
        CoreError::ProfileInUse => "This profile is open in another Talpa process. Switch to \
                                    that window, or quit Talpa there first."
            .to_owned(),
    }
}

/// A short label for an account connection state.
pub fn account_state_text(state: &str) -> &'static str {
    match state {
        "disabled" => "Disabled",
        "waiting_for_jitter" => "Waiting (random delay)",
        "waiting_for_tor" => "Waiting for Tor",
        "connecting" => "Connecting through Tor",
        "online" => "Online",
        "reconnecting" => "Reconnecting",
        "error" => "Error",
        _ => "Unknown",
    }
}

/// How loudly the UI shows a message's encryption: (label, css class, tooltip).
pub fn encryption_badge(encryption: &str) -> (&'static str, &'static str, &'static str) {
    match encryption {
        "omemo2" => (
            "OMEMO 2",
            "badge-omemo2",
            "End-to-end encrypted with OMEMO 2; the whole content is encrypted",
        ),
        "omemo" => (
            "OMEMO (legacy)",
            "badge-omemo-legacy",
            "End-to-end encrypted with legacy OMEMO; only the text is encrypted",
        ),
        _ => (
            "NOT ENCRYPTED",
            "badge-unencrypted",
            "Not end-to-end encrypted: the server can read this message",
        ),
    }
}

/// How strong a new passphrase looks, from 0 (too short) to 3 (strong).
pub fn passphrase_strength(passphrase: &str) -> u8 {
    let len = passphrase.chars().count();
    if len < 8 {
        return 0;
    }
    let classes = [
        passphrase.chars().any(char::is_lowercase),
        passphrase.chars().any(char::is_uppercase),
        passphrase.chars().any(|c| c.is_ascii_digit()),
        passphrase.chars().any(|c| !c.is_alphanumeric()),
    ]
    .iter()
    .filter(|b| **b)
    .count();
    let words = passphrase.split_whitespace().count();
    if len >= 20 || (len >= 14 && classes >= 3) || words >= 5 {
        3
    } else if len >= 12 || classes >= 3 {
        2
    } else {
        1
    }
}

/// The hint shown under a new passphrase for a strength from [`passphrase_strength`].
pub fn strength_hint(strength: u8) -> &'static str {
    match strength {
        0 => "Too short: use at least 8 characters (a few random words are best)",
        1 => "Weak: someone with your laptop could guess this",
        2 => "Fair: longer is better, e.g. five random words",
        _ => "Strong",
    }
}

#[cfg(test)]
mod tests {
    #[allow(clippy::wildcard_imports)]
    // gtk-rs subclass idiom: imp shares its wrapper's imports
    use super::*;

    #[test]
    fn short_passphrase_is_rejected_and_long_words_are_strong() {
        assert_eq!(passphrase_strength("abc"), 0);
        assert_eq!(passphrase_strength("abcdefgh"), 1);
        assert_eq!(passphrase_strength("correct horse battery staple mole"), 3);
    }

    #[test]
    fn unencrypted_badge_is_loud() {
        assert_eq!(encryption_badge("none").0, "NOT ENCRYPTED");
        assert_eq!(encryption_badge("something-new").1, "badge-unencrypted");
        assert_eq!(encryption_badge("omemo2").0, "OMEMO 2");
    }

    #[test]
    fn wrong_passphrase_text_does_not_leak_core_wording() {
        let t = error_text(&CoreError::WrongPassphrase);
        assert!(t.contains("passphrase"));
        assert!(!t.contains("wrong passphrase"));
    }
}
