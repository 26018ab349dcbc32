//! Inbound origin checks: pure functions deciding whether a stanza may claim what it claims.
//!
//! Every check is a small function with its own test, used by the session's dispatcher (and
//! reusable by the core's inbound pipeline). A failed check yields a [`Rejection`]; the stanza is
//! then dropped (never crashing, never overwriting data).

use chrono::{DateTime, Duration, TimeZone, Utc};
use tokio_xmpp::jid::{BareJid, Jid};

/// Largest stanza (serialized bytes) Talpa processes; larger ones are dropped.
pub const MAX_STANZA_BYTES: usize = 256 * 1024;

/// Why an inbound stanza (or part of it) was rejected.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    /// A carbon copy whose outer `from` is not the own bare JID (forged carbon).
    #[error("carbon not from own account")]
    ForgedCarbon,
    /// A MAM result from someone other than the queried archive.
    #[error("MAM result from an unexpected sender")]
    ForeignMamResult,
    /// A MAM result carrying a queryid Talpa did not issue.
    #[error("MAM result with unknown queryid")]
    UnknownMamQuery,
    /// A roster push not from the own account.
    #[error("roster push not from own account")]
    ForeignRosterPush,
    /// A PEP/bookmark event for the own account sent by somebody else.
    #[error("PEP event for own account from someone else")]
    ForeignPepEvent,
    /// An IQ response from someone other than the request's addressee.
    #[error("IQ response from an unexpected sender")]
    SpoofedIqResponse,
    /// A JID that does not parse.
    #[error("invalid JID")]
    InvalidJid,
    /// A stanza larger than [`MAX_STANZA_BYTES`].
    #[error("stanza too large")]
    TooLarge,
}

fn is_bare_of(jid: &Jid, bare: &BareJid) -> bool {
    jid.try_as_full().err().is_some_and(|b| b == bare)
}

/// A carbon (XEP-0280) is only genuine when the outer `from` is the own bare JID.
pub fn check_carbon(outer_from: Option<&Jid>, own: &BareJid) -> Result<(), Rejection> {
    match outer_from {
        Some(j) if is_bare_of(j, own) => Ok(()),
        _ => Err(Rejection::ForgedCarbon),
    }
}

/// A MAM (XEP-0313) result must come from the queried archive (own account: absent `from` or
/// the own bare JID; a room: the room's bare JID) and carry a queryid Talpa issued.
pub fn check_mam_result(
    from: Option<&Jid>,
    own: &BareJid,
    queried_archive: Option<&BareJid>,
    queryid_known: bool,
) -> Result<(), Rejection> {
    if !queryid_known {
        return Err(Rejection::UnknownMamQuery);
    }
    let expected = queried_archive.unwrap_or(own);
    match from {
        None if queried_archive.is_none() => Ok(()),
        Some(j) if is_bare_of(j, expected) => Ok(()),
        _ => Err(Rejection::ForeignMamResult),
    }
}

/// A roster push (RFC 6121 §2.1.6) is only accepted from the own account (no `from`, or the
/// own bare JID).
pub fn check_roster_push(from: Option<&Jid>, own: &BareJid) -> Result<(), Rejection> {
    match from {
        None => Ok(()),
        Some(j) if is_bare_of(j, own) => Ok(()),
        _ => Err(Rejection::ForeignRosterPush),
    }
}

/// A PEP event about the own account's nodes (bookmarks, own device list) is only accepted
/// from the own bare JID.
pub fn check_own_pep_event(from: Option<&Jid>, own: &BareJid) -> Result<(), Rejection> {
    match from {
        Some(j) if is_bare_of(j, own) => Ok(()),
        _ => Err(Rejection::ForeignPepEvent),
    }
}

/// A stanza-id (XEP-0359) is trusted (used for dedup and MAM paging) only when `by` is the own
/// account (1:1 messages) or the room the message came from (groupchat).
pub fn stanza_id_trusted(by: &Jid, own: &BareJid, room: Option<&BareJid>) -> bool {
    is_bare_of(by, own) || room.is_some_and(|r| is_bare_of(by, r))
}

/// An IQ response must come from the JID the request was sent to; a request to the own server
/// (no `to`) may be answered without `from`, or from the own bare/full JID or domain.
pub fn check_iq_response(
    request_to: Option<&Jid>,
    response_from: Option<&Jid>,
    own: &BareJid,
) -> Result<(), Rejection> {
    let ok = match (request_to, response_from) {
        (Some(to), Some(from)) => to == from,
        (Some(to), None) => to.to_bare() == *own,
        (None, None) => true,
        (None, Some(from)) => from.to_bare() == *own || from.as_str() == own.domain().as_str(),
    };
    if ok {
        Ok(())
    } else {
        Err(Rejection::SpoofedIqResponse)
    }
}

/// Parses a JID attribute, rejecting invalid ones.
pub fn parse_jid(s: &str) -> Result<Jid, Rejection> {
    Jid::new(s).map_err(|_| Rejection::InvalidJid)
}

/// Drops stanzas over [`MAX_STANZA_BYTES`].
pub fn check_size(serialized_len: usize) -> Result<(), Rejection> {
    if serialized_len > MAX_STANZA_BYTES {
        Err(Rejection::TooLarge)
    } else {
        Ok(())
    }
}

/// A corrected (XEP-0308) or retracted (XEP-0424) message may only be replaced by its sender.
pub fn correction_allowed(original_sender: &BareJid, correction_sender: &BareJid) -> bool {
    original_sender == correction_sender
}

/// A delay stamp after [`clamp_delay`]: the time to use and whether it was suspicious.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DelayStamp {
    /// The stamp to use (the received one, or `now` when it was absurd).
    pub stamp: DateTime<Utc>,
    /// True when the received stamp was unparsable, in the future or absurdly old.
    pub clamped: bool,
}

/// Parses an XEP-0203 stamp; unparsable stamps, stamps more than 5 minutes in the future and
/// stamps before 1999 (before XMPP existed) are replaced by `now` and flagged.
pub fn clamp_delay(stamp: &str, now: DateTime<Utc>) -> DelayStamp {
    let floor = Utc.with_ymd_and_hms(1999, 1, 1, 0, 0, 0).single();
    match DateTime::parse_from_rfc3339(stamp) {
        Ok(t) => {
            let t = t.with_timezone(&Utc);
            let too_new = t > now + Duration::minutes(5);
            let too_old = floor.is_some_and(|f| t < f);
            if too_new || too_old {
                DelayStamp {
                    stamp: now,
                    clamped: true,
                }
            } else {
                DelayStamp {
                    stamp: t,
                    clamped: false,
                }
            }
        }
        Err(_) => DelayStamp {
            stamp: now,
            clamped: true,
        },
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]
mod tests {
    use super::*;

    fn j(s: &str) -> Jid {
        Jid::new(s).unwrap()
    }
    fn own() -> BareJid {
        BareJid::new("alice@talpa.test").unwrap()
    }

    #[test]
    fn forged_carbon_from_contact_is_dropped() {
        assert_eq!(
            check_carbon(Some(&j("mallory@evil.test")), &own()),
            Err(Rejection::ForgedCarbon)
        );
        assert_eq!(
            check_carbon(Some(&j("alice@talpa.test/res")), &own()),
            Err(Rejection::ForgedCarbon)
        );
        assert_eq!(check_carbon(None, &own()), Err(Rejection::ForgedCarbon));
        assert!(check_carbon(Some(&j("alice@talpa.test")), &own()).is_ok());
    }

    #[test]
    fn mam_result_from_stranger_is_dropped() {
        assert_eq!(
            check_mam_result(Some(&j("mallory@evil.test")), &own(), None, true),
            Err(Rejection::ForeignMamResult)
        );
        assert!(check_mam_result(None, &own(), None, true).is_ok());
        assert!(check_mam_result(Some(&j("alice@talpa.test")), &own(), None, true).is_ok());
        let room = BareJid::new("room@rooms.talpa.test").unwrap();
        assert!(
            check_mam_result(Some(&j("room@rooms.talpa.test")), &own(), Some(&room), true).is_ok()
        );
        assert_eq!(
            check_mam_result(None, &own(), Some(&room), true),
            Err(Rejection::ForeignMamResult)
        );
    }

    #[test]
    fn mam_result_with_unknown_queryid_is_dropped() {
        assert_eq!(
            check_mam_result(None, &own(), None, false),
            Err(Rejection::UnknownMamQuery)
        );
    }

    #[test]
    fn roster_push_from_contact_is_dropped() {
        assert_eq!(
            check_roster_push(Some(&j("mallory@evil.test")), &own()),
            Err(Rejection::ForeignRosterPush)
        );
        assert!(check_roster_push(None, &own()).is_ok());
        assert!(check_roster_push(Some(&j("alice@talpa.test")), &own()).is_ok());
    }

    #[test]
    fn bookmark_event_from_contact_is_dropped() {
        assert_eq!(
            check_own_pep_event(Some(&j("mallory@talpa.test")), &own()),
            Err(Rejection::ForeignPepEvent)
        );
        assert!(check_own_pep_event(Some(&j("alice@talpa.test")), &own()).is_ok());
    }

    #[test]
    fn stanza_id_by_stranger_is_not_trusted() {
        let room = BareJid::new("room@rooms.talpa.test").unwrap();
        assert!(!stanza_id_trusted(&j("mallory@evil.test"), &own(), None));
        assert!(!stanza_id_trusted(
            &j("room@rooms.talpa.test"),
            &own(),
            None
        ));
        assert!(stanza_id_trusted(&j("alice@talpa.test"), &own(), None));
        assert!(stanza_id_trusted(
            &j("room@rooms.talpa.test"),
            &own(),
            Some(&room)
        ));
    }

    #[test]
    fn iq_response_from_wrong_sender_is_dropped() {
        let bob = j("bob@talpa.test/x");
        assert!(check_iq_response(Some(&bob), Some(&bob), &own()).is_ok());
        assert_eq!(
            check_iq_response(Some(&bob), Some(&j("mallory@evil.test")), &own()),
            Err(Rejection::SpoofedIqResponse)
        );
        assert!(check_iq_response(None, None, &own()).is_ok());
        assert!(check_iq_response(None, Some(&j("talpa.test")), &own()).is_ok());
        assert_eq!(
            check_iq_response(None, Some(&j("mallory@evil.test")), &own()),
            Err(Rejection::SpoofedIqResponse)
        );
    }

    #[test]
    fn invalid_jid_is_rejected() {
        assert_eq!(parse_jid("a@b@c"), Err(Rejection::InvalidJid));
        assert_eq!(parse_jid(""), Err(Rejection::InvalidJid));
        assert!(parse_jid("bob@talpa.test").is_ok());
    }

    #[test]
    fn oversized_stanza_is_dropped() {
        assert_eq!(check_size(MAX_STANZA_BYTES + 1), Err(Rejection::TooLarge));
        assert!(check_size(1000).is_ok());
    }

    #[test]
    fn correction_by_other_sender_is_refused() {
        let bob = BareJid::new("bob@talpa.test").unwrap();
        assert!(!correction_allowed(&own(), &bob));
        assert!(correction_allowed(&own(), &own()));
    }

    #[test]
    fn absurd_delay_stamps_are_clamped_and_flagged() {
        let now = Utc.with_ymd_and_hms(2026, 1, 1, 12, 0, 0).unwrap();
        let ok = clamp_delay("2025-12-31T10:00:00Z", now);
        assert!(!ok.clamped);
        assert_eq!(
            ok.stamp,
            Utc.with_ymd_and_hms(2025, 12, 31, 10, 0, 0).unwrap()
        );
        for bad in [
            "garbage",
            "2099-01-01T00:00:00Z",
            "1970-01-01T00:00:00Z",
            "",
        ] {
            let d = clamp_delay(bad, now);
            assert!(d.clamped, "{bad}");
            assert_eq!(d.stamp, now);
        }
    }
}
