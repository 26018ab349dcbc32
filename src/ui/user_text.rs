//! User-facing text made at the UI edge from the core's error kinds and state names.
//! The core's own English strings are never shown raw except as a detail of a clear sentence.

use crate::core::CoreError;
use crate::core::events::{HeldCause, Unreachable};
use crate::core::tor_settings::NetworkFileError;

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
        CoreError::ProfileTooNew(_) => "This profile was written by a newer version of Talpa, \
                                         which this one cannot read. Open it with that version \
                                         again; nothing in it was changed."
            .to_owned(),
        CoreError::InvalidInput(what) => format!("Please check what you entered: {what}."),
        CoreError::NotFound(what) => format!("Not found: {what}."),
        // SQLite's SQLITE_FULL and the kernel's ENOSPC: the one store failure the user can fix.
        CoreError::Store(detail)
            if detail.contains("disk is full") || detail.contains("No space left") =>
        {
            "The disk is full: the encrypted store could not be written. Free some space and \
             try again."
                .to_owned()
        }
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
        CoreError::WalKept(_) => "Locked. The disk is full, so the database's write-ahead log \
                                  could not be folded in: it stays on disk, encrypted, until \
                                  the next unlock. Free some space."
            .to_owned(),
        CoreError::Transfer(detail) => format!("The file could not be shared: {detail}."),
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
        "login_refused" => "Login refused",
        "input_refused" => "Stopped: server sends unreadable data",
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
        "pending" => (
            "Waiting to be encrypted",
            "badge-pending",
            "Not sent yet: it will be sent end-to-end encrypted, never in plaintext",
        ),
        _ => (
            "NOT ENCRYPTED",
            "badge-unencrypted",
            "Not end-to-end encrypted: the server can read this message",
        ),
    }
}

/// Why an outgoing message waits in the outbox, for its row: `with` is the conversation and
/// `cause` the core's cause from its `message_held` event.
pub fn held_text(with: &str, cause: HeldCause) -> String {
    let why = match cause {
        HeldCause::NoKeys => format!("{with} has no OMEMO keys yet"),
        HeldCause::NoRoomMembers => {
            "no member of this room is known yet (join the room)".to_owned()
        }
        HeldCause::EncryptionFailed => "encrypting it failed".to_owned(),
        HeldCause::OccupantMessage => "it could not be encrypted yet".to_owned(),
    };
    format!("Held: {why}. It will be sent encrypted when keys appear, never in plaintext.")
}

/// Who cannot read a message sent in a room, for its row: the members `keys_missing` named.
pub fn not_readable_text(jids: &[String]) -> String {
    format!("Not readable by: {}", jids.join(", "))
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

/// Why we are no longer in a room, for the core's `RoomLeft` reason (`kicked`, `banned`,
/// `membership_revoked`, `shutdown`, `left` or `join_refused: <condition>`).
pub fn room_left_text(reason: &str) -> String {
    if let Some(condition) = reason.strip_prefix("join_refused:") {
        return match condition.trim() {
            "not-authorized" => "Wrong password".to_owned(),
            "registration-required" => "Members only: you are not a member".to_owned(),
            "forbidden" => "Banned: you may not enter this room".to_owned(),
            "item-not-found" => "The room does not exist or is locked".to_owned(),
            "conflict" => "That nickname is already taken in this room".to_owned(),
            "service-unavailable" => "The room is full".to_owned(),
            "not-allowed" => "This server does not let you create rooms".to_owned(),
            "not-acceptable" => "That nickname is not allowed in this room".to_owned(),
            other => format!("The room refused you ({other})"),
        };
    }
    match reason {
        "kicked" => "You were removed from this room by an admin".to_owned(),
        "banned" => "Banned: you were banned from this room".to_owned(),
        "membership_revoked" => "Your membership was revoked".to_owned(),
        "shutdown" => "The room's server shut down".to_owned(),
        "destroyed" => "This room was destroyed".to_owned(),
        _ => "You are not in this room".to_owned(),
    }
}

/// [`room_left_text`] with the room's own words (`detail`, e.g. a destroyed room's reason
/// or why we were kicked or banned) and, for a kick or ban, who did it (`actor`).
pub fn room_left_detail_text(reason: &str, detail: Option<&str>, actor: Option<&str>) -> String {
    let actor = actor.map(str::trim).filter(|a| !a.is_empty());
    let text = match (reason, actor) {
        ("kicked", Some(actor)) => format!("You were removed from this room by {actor}"),
        ("banned", Some(actor)) => format!("Banned: you were banned from this room by {actor}"),
        _ => room_left_text(reason),
    };
    match detail.map(str::trim).filter(|d| !d.is_empty()) {
        Some(detail) => format!("{text}: {detail}"),
        None => text,
    }
}

/// Whether joining again after `reason` (see [`room_left_text`]) can work as it is.
pub fn room_rejoinable(reason: &str) -> bool {
    matches!(reason, "kicked" | "shutdown" | "left")
}

/// Why a chosen private Tor network file is not used.
pub fn network_file_error_text(e: &NetworkFileError) -> String {
    match e {
        NetworkFileError::Unusable(detail) => {
            format!("Not a usable network description: {detail}")
        }
    }
}

/// The warning on a room nick that imitates another occupant's (`lookalike_of`).
pub fn lookalike_warning(imitated: &str) -> String {
    format!("Looks like {imitated}: may be someone else")
}

/// Why `account` could not connect, as the notice and the account row's tooltip say it: the
/// core's reason (wrong password, certificate, unreachable server…) as the detail.
pub fn connect_failure_text(account: &str, detail: &str) -> String {
    let detail = detail.trim().trim_end_matches('.');
    if detail.is_empty() {
        format!("{account} could not connect; Talpa will retry through Tor.")
    } else {
        format!("{account} could not connect ({detail}); Talpa will retry through Tor.")
    }
}

/// Why the server did not answer through Tor, for the account row (its tooltip) and the
/// notice: Tor itself works, the exit relay could not reach the server.
pub fn unreachable_text(cause: Unreachable) -> String {
    let why = match cause {
        Unreachable::Refused => {
            "connection refused by the exit: nothing answers at that address and port"
        }
        Unreachable::HostNotFound => "host not found: check the server's name",
        Unreachable::TimedOut => "timed out",
        Unreachable::ExitPolicy => "no Tor exit relay allows that port",
        Unreachable::NetworkFailed => "network failure at the exit relay",
    };
    format!("The server did not answer through Tor ({why}).")
}

/// The notice for [`unreachable_text`]: whose server, and that Talpa tries again.
pub fn unreachable_notice(account: &str, cause: Unreachable) -> String {
    format!(
        "{account}: {} Talpa will retry through Tor.",
        unreachable_text(cause)
    )
}

/// Why `account` stopped trying to log in (`login_refused`): the server refused its
/// credentials, or no longer offers what Talpa requires; Talpa waits for the user to fix it.
pub fn login_refused_text(account: &str, detail: &str) -> String {
    let detail = detail.trim().trim_end_matches('.');
    format!(
        "{account} could not log in ({detail}). Talpa will not try again until you change the \
         account's password or settings (Accounts)."
    )
}

/// Why `account` stopped reconnecting (`input_refused`): its server sent, on every connection,
/// an element Talpa refuses to read; Talpa waits for the user.
pub fn input_refused_text(account: &str, detail: &str) -> String {
    let detail = detail.trim().trim_end_matches('.');
    format!(
        "{account} stopped connecting: its server keeps sending data Talpa refuses to read \
         ({detail}). Talpa will not try again until you edit the account or disable and enable \
         it (Accounts)."
    )
}

#[cfg(test)]
mod tests {
    #[allow(clippy::wildcard_imports)]
    // gtk-rs subclass idiom: imp shares its wrapper's imports
    use super::*;

    #[test]
    fn a_failed_connection_says_why() {
        let text = connect_failure_text("mole@talpa.test", "authentication failed: not-authorized");
        assert!(text.contains("mole@talpa.test could not connect"), "{text}");
        assert!(
            text.contains("(authentication failed: not-authorized)"),
            "{text}"
        );
        assert_eq!(
            connect_failure_text("mole@talpa.test", ""),
            "mole@talpa.test could not connect; Talpa will retry through Tor."
        );
    }

    #[test]
    fn an_unreachable_server_is_said_plainly_not_as_a_tor_error() {
        assert_eq!(
            unreachable_text(Unreachable::Refused),
            "The server did not answer through Tor (connection refused by the exit: nothing \
             answers at that address and port)."
        );
        assert!(unreachable_text(Unreachable::HostNotFound).contains("(host not found"));
        assert!(unreachable_text(Unreachable::TimedOut).contains("(timed out)"));
        let notice = unreachable_notice("mole@talpa.test", Unreachable::TimedOut);
        assert!(
            notice.starts_with("mole@talpa.test: The server did not answer through Tor"),
            "{notice}"
        );
        assert!(!notice.to_lowercase().contains("protocol"), "{notice}");
    }

    #[test]
    fn a_refused_login_says_why_and_that_talpa_waits_for_the_user() {
        let text = login_refused_text("mole@talpa.test", "authentication failed: NotAuthorized");
        assert!(
            text.contains("(authentication failed: NotAuthorized)"),
            "{text}"
        );
        assert!(text.contains("will not try again"), "{text}");
        assert_eq!(account_state_text("login_refused"), "Login refused");
    }

    #[test]
    fn a_server_whose_data_is_refused_is_named_and_talpa_waits_for_the_user() {
        let text = input_refused_text("mole@talpa.test", "the server sent an element 3 times");
        assert!(
            text.contains("(the server sent an element 3 times)"),
            "{text}"
        );
        assert!(text.contains("will not try again"), "{text}");
        assert_eq!(
            account_state_text("input_refused"),
            "Stopped: server sends unreadable data"
        );
    }

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
    fn a_pending_message_never_shows_the_plaintext_badge() {
        let (label, class, tooltip) = encryption_badge("pending");
        assert!(label.contains("Waiting to be encrypted"));
        assert_eq!(class, "badge-pending");
        assert!(tooltip.contains("never in plaintext"));
        assert_ne!(label, encryption_badge("none").0);
    }

    #[test]
    fn held_text_names_the_contact_without_keys() {
        let t = held_text("alice@talpa.test", HeldCause::NoKeys);
        assert!(
            t.starts_with("Held: alice@talpa.test has no OMEMO keys yet."),
            "{t}"
        );
        assert!(t.contains("never in plaintext"));
    }

    #[test]
    fn held_text_explains_an_unknown_room_and_hides_raw_core_errors() {
        let room = held_text("r@rooms.talpa.test", HeldCause::NoRoomMembers);
        assert!(room.contains("join the room"), "{room}");
        let failed = held_text("a@talpa.test", HeldCause::EncryptionFailed);
        assert!(failed.contains("encrypting it failed"));
        assert!(!failed.contains("deadbeef"));
    }

    #[test]
    fn not_readable_text_lists_every_member() {
        let jids = [
            "badger@talpa.test".to_owned(),
            "otter@talpa.test".to_owned(),
        ];
        assert_eq!(
            not_readable_text(&jids),
            "Not readable by: badger@talpa.test, otter@talpa.test"
        );
    }

    #[test]
    fn a_full_disk_is_said_plainly() {
        for detail in [
            "storage error: database error: database or disk is full",
            "storage error: I/O error: No space left on device (os error 28)",
        ] {
            let t = error_text(&CoreError::Store(detail.into()));
            assert!(t.contains("The disk is full"), "{t}");
        }
        let other = error_text(&CoreError::Store("database error: locked".into()));
        assert!(!other.contains("disk is full"), "{other}");
    }

    #[test]
    fn wrong_passphrase_text_does_not_leak_core_wording() {
        let t = error_text(&CoreError::WrongPassphrase);
        assert!(t.contains("passphrase"));
        assert!(!t.contains("wrong passphrase"));
    }

    #[test]
    fn room_removals_are_said_plainly() {
        assert_eq!(
            room_left_text("kicked"),
            "You were removed from this room by an admin"
        );
        assert!(room_left_text("banned").starts_with("Banned"));
        assert_eq!(
            room_left_text("membership_revoked"),
            "Your membership was revoked"
        );
        assert_eq!(room_left_text("destroyed"), "This room was destroyed");
        assert_eq!(
            room_left_detail_text("destroyed", Some("Moved on"), None),
            "This room was destroyed: Moved on"
        );
        assert_eq!(
            room_left_detail_text("kicked", None, None),
            room_left_text("kicked")
        );
        assert!(room_left_text("shutdown").contains("shut down"));
    }

    #[test]
    fn a_kick_or_ban_names_who_did_it_and_why() {
        assert_eq!(
            room_left_detail_text("kicked", Some("Spam"), Some("owner")),
            "You were removed from this room by owner: Spam"
        );
        assert_eq!(
            room_left_detail_text("kicked", None, Some("owner")),
            "You were removed from this room by owner"
        );
        assert_eq!(
            room_left_detail_text("kicked", Some("Spam"), None),
            "You were removed from this room by an admin: Spam"
        );
        assert_eq!(
            room_left_detail_text("banned", Some("Spam"), Some("mod")),
            "Banned: you were banned from this room by mod: Spam"
        );
        assert_eq!(room_left_text("left"), "You are not in this room");
    }

    #[test]
    fn refused_joins_name_the_cause() {
        assert_eq!(
            room_left_text("join_refused: not-authorized"),
            "Wrong password"
        );
        assert_eq!(
            room_left_text("join_refused: registration-required"),
            "Members only: you are not a member"
        );
        assert!(room_left_text("join_refused: forbidden").starts_with("Banned"));
        assert!(room_left_text("join_refused: item-not-found").contains("does not exist"));
        assert!(room_left_text("join_refused: conflict").contains("nickname"));
        assert!(room_left_text("join_refused: service-unavailable").contains("full"));
        assert!(room_left_text("join_refused: gone").contains("(gone)"));
    }

    #[test]
    fn only_removals_that_can_be_undone_offer_rejoin() {
        assert!(room_rejoinable("kicked"));
        assert!(!room_rejoinable("banned"));
        assert!(!room_rejoinable("membership_revoked"));
        assert!(!room_rejoinable("join_refused: not-authorized"));
    }

    #[test]
    fn an_unusable_network_file_says_so() {
        let t = network_file_error_text(&NetworkFileError::Unusable("no authorities".into()));
        assert_eq!(t, "Not a usable network description: no authorities");
    }

    #[test]
    fn a_lookalike_nick_names_the_nick_it_imitates() {
        assert_eq!(
            lookalike_warning("badger"),
            "Looks like badger: may be someone else"
        );
    }
}
