//! Group-chat state the core shares between an account's supervisor (which sees the room's
//! presences and configuration) and everything else (the actor's commands, the OMEMO sending
//! path): who is in each room and who may read it, the last room audit, pending invitations.
//! Also the pure parts of the room rules: the audit wording and the look-alike nick check.

use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;

use crate::core::commands::Secret;
use crate::core::events::{AuditFinding, Occupant, RoomAudit};
use crate::core::shared::lock;
use crate::xmpp::muc::RoomInfo;

/// Who is in one room and who belongs to it, as the account's supervisor last saw it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RoomMembers {
    /// Bare JIDs with an affiliation (owner, admin, member), from the room's affiliation lists
    /// and occupants' presences; each with its affiliation.
    pub affiliated: Vec<(String, String)>,
    /// Everyone present now.
    pub occupants: Vec<Occupant>,
}

impl RoomMembers {
    /// Everybody who can read the room (affiliated JIDs and occupants' real JIDs), except
    /// `own`: the recipients of an encrypted group message.
    pub fn recipients(&self, own: &str) -> Vec<String> {
        let mut all: BTreeSet<String> = self
            .affiliated
            .iter()
            .filter(|(_, a)| matches!(a.as_str(), "owner" | "admin" | "member"))
            .map(|(j, _)| j.clone())
            .collect();
        all.extend(self.occupants.iter().filter_map(|o| o.jid.clone()));
        all.remove(own);
        all.into_iter().collect()
    }
}

/// An invitation waiting for `accept_invite` or `decline_invite`.
#[derive(Clone, PartialEq, Eq)]
pub struct PendingInvite {
    /// Who invited.
    pub from: Option<String>,
    /// The room password it carried (zeroized on drop, never in `Debug`).
    pub password: Option<Secret>,
    /// Direct (XEP-0249) or mediated.
    pub direct: bool,
}

impl std::fmt::Debug for PendingInvite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingInvite")
            .field("from", &self.from)
            .field("direct", &self.direct)
            .finish_non_exhaustive()
    }
}

#[derive(Default)]
struct Inner {
    members: HashMap<(String, String), RoomMembers>,
    audits: HashMap<(String, String), RoomAudit>,
    keys_missing: HashMap<(String, String), Vec<String>>,
    invites: HashMap<(String, String), PendingInvite>,
}

/// The profile's room state, keyed by (account bare JID, room bare JID). Forgotten at lock.
#[derive(Default)]
pub struct RoomRegistry {
    inner: Mutex<Inner>,
}

fn key(account: &str, room: &str) -> (String, String) {
    (account.to_owned(), room.to_owned())
}

impl RoomRegistry {
    /// Who is in `room` and who belongs to it (for OMEMO: encrypt to every device of
    /// [`RoomMembers::recipients`]); `None` when the account is not in the room.
    pub fn members(&self, account: &str, room: &str) -> Option<RoomMembers> {
        lock(&self.inner).members.get(&key(account, room)).cloned()
    }

    /// The recipients of an encrypted message to `room`: every member's and occupant's bare
    /// JID except the account's own.
    pub fn recipients(&self, account: &str, room: &str) -> Vec<String> {
        self.members(account, room)
            .map(|m| m.recipients(account))
            .unwrap_or_default()
    }

    /// Rooms the account is in now.
    pub fn joined_rooms(&self, account: &str) -> Vec<String> {
        lock(&self.inner)
            .members
            .keys()
            .filter(|(a, _)| a == account)
            .map(|(_, r)| r.clone())
            .collect()
    }

    /// The OMEMO side reports which members have no usable key; the room's audit is updated
    /// and returned (to be emitted again) when there is one.
    pub fn set_keys_missing(
        &self,
        account: &str,
        room: &str,
        mut jids: Vec<String>,
    ) -> Option<RoomAudit> {
        jids.sort();
        jids.dedup();
        let mut inner = lock(&self.inner);
        let k = key(account, room);
        inner.keys_missing.insert(k.clone(), jids.clone());
        let audit = inner.audits.get_mut(&k)?;
        *audit = with_keys_missing(audit.clone(), jids);
        Some(audit.clone())
    }

    /// The members without keys last reported by the OMEMO side.
    pub fn keys_missing(&self, account: &str, room: &str) -> Vec<String> {
        lock(&self.inner)
            .keys_missing
            .get(&key(account, room))
            .cloned()
            .unwrap_or_default()
    }

    /// The last audit of a room.
    pub fn audit(&self, account: &str, room: &str) -> Option<RoomAudit> {
        lock(&self.inner).audits.get(&key(account, room)).cloned()
    }

    pub(crate) fn set_members(&self, account: &str, room: &str, members: RoomMembers) {
        lock(&self.inner)
            .members
            .insert(key(account, room), members);
    }

    pub(crate) fn set_audit(&self, audit: RoomAudit) {
        let k = key(&audit.account, &audit.room);
        lock(&self.inner).audits.insert(k, audit);
    }

    /// The account left the room (or lost the connection): forget who was there.
    pub(crate) fn left(&self, account: &str, room: &str) {
        let mut inner = lock(&self.inner);
        let k = key(account, room);
        inner.members.remove(&k);
    }

    /// The account went offline: forget its presence everywhere.
    pub(crate) fn offline(&self, account: &str) {
        lock(&self.inner).members.retain(|(a, _), _| a != account);
    }

    pub(crate) fn add_invite(&self, account: &str, room: &str, invite: PendingInvite) {
        lock(&self.inner).invites.insert(key(account, room), invite);
    }

    pub(crate) fn take_invite(&self, account: &str, room: &str) -> Option<PendingInvite> {
        lock(&self.inner).invites.remove(&key(account, room))
    }

    /// Forgets everything (lock).
    pub(crate) fn clear(&self) {
        *lock(&self.inner) = Inner::default();
    }
}

fn finding(item: &str, level: &str, text: &str) -> AuditFinding {
    AuditFinding {
        item: item.into(),
        level: level.into(),
        text: text.into(),
    }
}

fn with_keys_missing(mut audit: RoomAudit, jids: Vec<String>) -> RoomAudit {
    audit.findings.retain(|f| f.item != "keys");
    audit.findings.push(keys_finding(&jids));
    audit.members_without_keys = jids;
    audit.clean = audit.findings.iter().all(|f| f.level != "warning");
    audit
}

fn keys_finding(missing: &[String]) -> AuditFinding {
    if missing.is_empty() {
        finding("keys", "ok", "No member is known to lack encryption keys.")
    } else {
        finding(
            "keys",
            "warning",
            &format!(
                "{} cannot read encrypted messages (no OMEMO keys): they see nothing you send, \
                 and anything sent unencrypted for them could be read by a seized server.",
                missing.join(", ")
            ),
        )
    }
}

/// Audits a room from its disco#info, whether the account's server is an .onion, and which
/// members lack keys. Each finding says what a seized server or a fellow member learns.
pub fn audit_room(
    account: &str,
    room: &str,
    info: &RoomInfo,
    onion: bool,
    keys_missing: Vec<String>,
) -> RoomAudit {
    let members_only = info.has("muc_membersonly");
    let real_jids = if info.has("muc_nonanonymous") {
        "everyone"
    } else if info.has("muc_semianonymous") {
        "moderators"
    } else {
        "unknown"
    };
    let public = info.has("muc_public");
    let archived = info.has("urn:xmpp:mam:2");
    let logs = info
        .field("muc#roominfo_logs")
        .filter(|l| !l.trim().is_empty());
    let password = info.has("muc_passwordprotected");
    let mut findings = Vec::new();
    findings.push(if members_only {
        finding(
            "members_only",
            "ok",
            "Only members can enter. Who is a member is known to the server and to the room's \
             owners and admins.",
        )
    } else {
        finding(
            "members_only",
            "warning",
            "Anyone who finds the room's address can walk in, read new messages and see who \
             is there.",
        )
    });
    findings.push(match real_jids {
        "everyone" if members_only => finding(
            "real_jids",
            "ok",
            "Every occupant sees every other occupant's account address (needed for \
             encryption); only members can enter. The server always knows them.",
        ),
        "everyone" => finding(
            "real_jids",
            "warning",
            "Every occupant — and the room is open to anyone — sees your account address.",
        ),
        "moderators" => finding(
            "real_jids",
            "warning",
            "Semi-anonymous: only moderators see account addresses, so members cannot \
             encrypt to each other (OMEMO needs them); moderators and the server still see \
             them.",
        ),
        _ => finding(
            "real_jids",
            "notice",
            "The room does not say who sees account addresses; assume moderators and the \
             server do.",
        ),
    });
    findings.push(if public {
        finding(
            "public",
            "warning",
            "Listed in the server's public room directory: anyone can see that the room exists, \
             its name and how many people are in it.",
        )
    } else {
        finding(
            "public",
            "ok",
            "Hidden from the room directory; only people given the address know it exists.",
        )
    });
    findings.push(match (archived, members_only) {
        (true, true) => finding(
            "archive",
            "notice",
            "The server keeps an archive of the room's messages so members can catch up. A \
             seized server yields who said what and when; the text too unless messages are \
             end-to-end encrypted.",
        ),
        (true, false) => finding(
            "archive",
            "warning",
            "The server archives the room's messages and anyone who joins can read the whole \
             history.",
        ),
        (false, _) => finding(
            "archive",
            "ok",
            "The server keeps no archive of the room (members who were away miss messages).",
        ),
    });
    findings.push(match logs {
        Some(_) => finding(
            "public_logs",
            "warning",
            "The room publishes its logs on the web: anyone can read what is said.",
        ),
        None => finding("public_logs", "ok", "No public logs are announced."),
    });
    findings.push(if password {
        finding(
            "password",
            "notice",
            "A password protects entry; the server knows it, and so does everyone it was given to.",
        )
    } else {
        finding(
            "password",
            "ok",
            "No password (membership is what keeps others out).",
        )
    });
    findings.push(if onion {
        finding(
            "onion",
            "ok",
            "Your server is reached at an .onion address: no Tor exit sees the connection.",
        )
    } else {
        finding(
            "onion",
            "notice",
            "Your server is reached through a Tor exit: the exit sees that someone connects to \
             this server (not who, not what).",
        )
    });
    let audit = RoomAudit {
        account: account.to_owned(),
        room: room.to_owned(),
        clean: true,
        members_only,
        real_jids_visible_to: real_jids.to_owned(),
        public,
        archived,
        public_logs: logs.is_some(),
        password_protected: password,
        onion,
        members_without_keys: Vec::new(),
        findings,
    };
    with_keys_missing(audit, keys_missing)
}

/// Whether `c` is dropped from a nick's skeleton as invisible (zero-width, format, bidi and
/// variation characters, non-ASCII spaces) rather than only as a separator.
fn invisible_in_nick(c: char) -> bool {
    let code = u32::from(c);
    matches!(code,
        0x00AD | 0x034F | 0x061C | 0x115F | 0x1160 | 0x17B4 | 0x17B5 | 0x180E
        | 0x200B..=0x200F | 0x202A..=0x202E | 0x2060..=0x206F | 0xFE00..=0xFE0F | 0xFEFF)
        || (c.is_whitespace() && !c.is_ascii())
}

/// Whether `c` is a combining mark (dropped from the skeleton: it only decorates a letter).
fn combining_in_nick(c: char) -> bool {
    (0x0300..=0x036F).contains(&u32::from(c))
}

/// Whether `c` is an ASCII separator the skeleton ignores (`alice_` reads as `alice`).
fn separator_in_nick(c: char) -> bool {
    c.is_ascii_whitespace() || c == '_' || c == '-' || c == '.'
}

/// The Latin letter `c` (lower case) is read as, when it is a look-alike of one; else `c`.
fn lookalike_letter(c: char) -> char {
    match c {
        'а' | 'α' | '@' => 'a',
        'в' | 'β' => 'b',
        'с' | 'ϲ' => 'c',
        'ԁ' => 'd',
        'е' | 'ε' | 'ё' | '3' => 'e',
        'һ' => 'h',
        'і' | 'ι' | 'ӏ' | '1' | '!' | '|' | 'ı' | 'i' => 'l',
        'ј' => 'j',
        'к' | 'κ' => 'k',
        'м' => 'm',
        'п' | 'η' => 'n',
        'о' | 'ο' | '0' | 'σ' => 'o',
        'р' | 'ρ' => 'p',
        'ԛ' => 'q',
        'ѕ' | '5' | '$' => 's',
        'т' | 'τ' | '7' => 't',
        'υ' | 'ս' => 'u',
        'ν' | 'ѵ' => 'v',
        'ԝ' | 'ω' => 'w',
        'х' | 'χ' => 'x',
        'у' | 'γ' => 'y',
        'ᴢ' | '2' => 'z',
        other => other,
    }
}

/// Folds a nick to what it looks like: lower case, invisible and combining characters
/// removed, common look-alike letters and digits mapped to one Latin letter.
pub fn nick_skeleton(nick: &str) -> String {
    let mut out = String::new();
    for c in nick.chars().flat_map(char::to_lowercase) {
        if invisible_in_nick(c) || combining_in_nick(c) || separator_in_nick(c) {
            continue;
        }
        out.push(lookalike_letter(c));
    }
    // "rn" reads as "m", "vv" as "w".
    out.replace("rn", "m").replace("vv", "w")
}

/// The script a letter belongs to, as far as telling look-alikes apart needs.
#[derive(Clone, Copy, PartialEq, Eq)]
enum NickScript {
    Latin,
    Cyrillic,
    Greek,
    Other,
}

fn nick_script(c: char) -> Option<NickScript> {
    if !c.is_alphabetic() {
        return None;
    }
    Some(match u32::from(c) {
        0x0000..=0x024F | 0x1D00..=0x1DBF | 0x1E00..=0x1EFF => NickScript::Latin,
        0x0370..=0x03FF | 0x1F00..=0x1FFF => NickScript::Greek,
        0x0400..=0x052F | 0x1C80..=0x1C8F | 0x2DE0..=0x2DFF | 0xA640..=0xA69F => {
            NickScript::Cyrillic
        }
        _ => NickScript::Other,
    })
}

/// How much a nick looks made to imitate another: invisible characters (8), letters of more
/// than one script (4), non-ASCII look-alike or combining characters (2), ASCII digits,
/// symbols or separators read as letters or ignored (1). Plain letters score 0.
fn imitation_score(nick: &str) -> u8 {
    let (mut invisible, mut non_ascii, mut ascii_sub) = (false, false, false);
    let mut script: Option<NickScript> = None;
    let mut mixed = false;
    for c in nick.chars() {
        if invisible_in_nick(c) {
            invisible = true;
            continue;
        }
        if combining_in_nick(c) {
            non_ascii = true;
            continue;
        }
        if separator_in_nick(c) {
            ascii_sub = true;
            continue;
        }
        let lower = c.to_lowercase().next().unwrap_or(c);
        if lookalike_letter(lower) != lower {
            if !c.is_ascii() {
                non_ascii = true;
            } else if !c.is_ascii_alphabetic() {
                ascii_sub = true;
            }
        }
        if let Some(s) = nick_script(c) {
            match script {
                None => script = Some(s),
                Some(seen) if seen != s => mixed = true,
                Some(_) => {}
            }
        }
    }
    u8::from(invisible) * 8 + u8::from(mixed) * 4 + u8::from(non_ascii) * 2 + u8::from(ascii_sub)
}

/// Marks the occupants whose nicks look like another occupant's (different nicks, same
/// skeleton), whatever order they arrived in. In each group of look-alikes the plainest nick
/// (no invisible characters, one script, no look-alike substitutes — see `imitation_score`)
/// is left unmarked and every other names it in `lookalike_of`; when no nick is plainer than
/// the rest (`Alice` and `alice`, two mixed-script nicks), each of the plainest is marked
/// too, naming another of them. A genuine nick is never the only one marked.
pub fn flag_lookalikes(occupants: &mut [Occupant]) {
    use std::collections::{BTreeSet, HashMap};
    // Each nick's skeleton once, each group kept ordered (lowest score first, then by nick:
    // the same answer in any arrival order) and its plainest nicks found once, so a room is
    // linear in its occupants: a pairwise search took 0.4 s for 4,096 look-alike nicks (a
    // debug build), on every presence of a join flood.
    let skeletons: Vec<String> = occupants.iter().map(|o| nick_skeleton(&o.nick)).collect();
    let mut groups: HashMap<&str, BTreeSet<(u8, &str)>> = HashMap::new();
    for (o, skeleton) in occupants.iter().zip(&skeletons) {
        groups
            .entry(skeleton.as_str())
            .or_default()
            .insert((imitation_score(&o.nick), o.nick.as_str()));
    }
    // Per group with more than one nick: its plainest nicks (the lowest score), in order.
    let plainest: HashMap<&str, Vec<String>> = groups
        .iter()
        .filter(|(_, group)| group.len() > 1)
        .filter_map(|(skeleton, group)| {
            let lowest = group.first()?.0;
            let nicks = group
                .iter()
                .take_while(|(score, _)| *score == lowest)
                .map(|(_, n)| (*n).to_owned())
                .collect();
            Some((*skeleton, nicks))
        })
        .collect();
    for (o, skeleton) in occupants.iter_mut().zip(&skeletons) {
        o.lookalike_of = plainest.get(skeleton.as_str()).and_then(|plainest| {
            if plainest.len() == 1 && plainest[0] == o.nick {
                None
            } else {
                plainest.iter().find(|n| **n != o.nick).cloned()
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(features: &[&str]) -> RoomInfo {
        RoomInfo {
            features: features.iter().map(|f| (*f).to_owned()).collect(),
            fields: Vec::new(),
        }
    }

    #[test]
    fn four_thousand_look_alike_nicks_all_name_the_plain_one() {
        // Every mix of Latin `a` and Cyrillic `а` over 12 letters: one skeleton, 4,096 nicks.
        let mut occupants: Vec<Occupant> = (0..4096_u32)
            .map(|i| {
                let nick: String = (0..12)
                    .map(|b| if (i >> b) & 1 == 1 { 'а' } else { 'a' })
                    .collect();
                occupant(&nick)
            })
            .collect();
        occupants.reverse();
        flag_lookalikes(&mut occupants);
        let plain = "a".repeat(12);
        for o in &occupants {
            if o.nick == plain {
                assert_eq!(o.lookalike_of, None);
            } else {
                assert_eq!(
                    o.lookalike_of.as_deref(),
                    Some(plain.as_str()),
                    "{}",
                    o.nick
                );
            }
        }
    }

    fn occupant(nick: &str) -> Occupant {
        Occupant {
            nick: nick.into(),
            role: None,
            affiliation: None,
            jid: None,
            occupant_id: None,
            lookalike_of: None,
        }
    }

    #[test]
    fn a_private_room_audits_clean() {
        let a = audit_room(
            "me@s",
            "r@rooms.s",
            &info(&[
                "muc_membersonly",
                "muc_nonanonymous",
                "muc_hidden",
                "muc_unsecured",
                "urn:xmpp:mam:2",
            ]),
            false,
            Vec::new(),
        );
        assert!(a.clean, "{a:#?}");
        assert_eq!(a.real_jids_visible_to, "everyone");
        assert!(a.findings.iter().all(|f| !f.text.is_empty()));
    }

    #[test]
    fn each_weakness_of_an_open_room_is_a_warning() {
        let mut i = info(&[
            "muc_open",
            "muc_semianonymous",
            "muc_public",
            "urn:xmpp:mam:2",
        ]);
        i.fields
            .push(("muc#roominfo_logs".into(), vec!["https://l".into()]));
        let a = audit_room("me@s", "r@rooms.s", &i, false, vec!["x@s".into()]);
        assert!(!a.clean);
        let warned: Vec<&str> = a
            .findings
            .iter()
            .filter(|f| f.level == "warning")
            .map(|f| f.item.as_str())
            .collect();
        for item in [
            "members_only",
            "real_jids",
            "public",
            "archive",
            "public_logs",
            "keys",
        ] {
            assert!(warned.contains(&item), "{item} not warned: {warned:?}");
        }
    }

    #[test]
    fn recipients_are_members_and_occupants_but_not_oneself() {
        let mut o = occupant("a");
        o.jid = Some("ann@s".into());
        let m = RoomMembers {
            affiliated: vec![
                ("me@s".into(), "owner".into()),
                ("bob@s".into(), "member".into()),
                ("evil@s".into(), "outcast".into()),
            ],
            occupants: vec![o],
        };
        assert_eq!(m.recipients("me@s"), ["ann@s", "bob@s"]);
    }

    #[test]
    fn keys_reported_missing_by_omemo_turn_the_audit_into_a_warning() {
        let reg = RoomRegistry::default();
        assert_eq!(
            reg.set_keys_missing("me@s", "r@rooms.s", vec!["x@s".into()]),
            None
        );
        let clean = audit_room(
            "me@s",
            "r@rooms.s",
            &info(&["muc_membersonly", "muc_nonanonymous", "muc_hidden"]),
            true,
            Vec::new(),
        );
        assert!(clean.clean);
        reg.set_audit(clean);
        let updated = reg
            .set_keys_missing("me@s", "r@rooms.s", vec!["b@s".into(), "a@s".into()])
            .expect("an audit to update");
        assert!(!updated.clean);
        assert_eq!(updated.members_without_keys, ["a@s", "b@s"]);
        assert_eq!(reg.keys_missing("me@s", "r@rooms.s"), ["a@s", "b@s"]);
        let fixed = reg
            .set_keys_missing("me@s", "r@rooms.s", Vec::new())
            .expect("audit");
        assert!(fixed.clean);
    }

    fn flags(nicks: &[&str]) -> Vec<(String, Option<String>)> {
        let mut occ: Vec<Occupant> = nicks.iter().map(|n| occupant(n)).collect();
        flag_lookalikes(&mut occ);
        let mut out: Vec<_> = occ.into_iter().map(|o| (o.nick, o.lookalike_of)).collect();
        out.sort();
        out
    }

    fn flagged(nicks: &[&str], nick: &str) -> Option<String> {
        flags(nicks)
            .into_iter()
            .find(|(n, _)| n == nick)
            .and_then(|(_, l)| l)
    }

    #[test]
    fn lookalike_nicks_are_flagged_against_the_plain_nick() {
        let nicks = [
            "alice",
            "bob",
            "аlice", // Cyrillic а
            "Al\u{200B}ice",
            "b0b",
            "carol",
        ];
        assert_eq!(flagged(&nicks, "alice"), None);
        assert_eq!(flagged(&nicks, "аlice").as_deref(), Some("alice"));
        assert_eq!(flagged(&nicks, "Al\u{200B}ice").as_deref(), Some("alice"));
        assert_eq!(flagged(&nicks, "b0b").as_deref(), Some("bob"));
        assert_eq!(flagged(&nicks, "bob"), None);
        assert_eq!(flagged(&nicks, "carol"), None);
    }

    #[test]
    fn the_genuine_nick_is_not_flagged_when_the_imitator_is_listed_first() {
        // Occupants already present come in the server's order: the imitator may come first.
        for nicks in [["аlice", "alice"], ["alice", "аlice"]] {
            assert_eq!(flagged(&nicks, "alice"), None, "{nicks:?}");
            assert_eq!(
                flagged(&nicks, "аlice").as_deref(),
                Some("alice"),
                "{nicks:?}"
            );
        }
        for nicks in [["ali\u{200D}ce", "alice"], ["alice", "ali\u{200D}ce"]] {
            assert_eq!(flagged(&nicks, "alice"), None, "{nicks:?}");
            assert_eq!(
                flagged(&nicks, "ali\u{200D}ce").as_deref(),
                Some("alice"),
                "{nicks:?}"
            );
        }
        for nicks in [["b0b", "bob"], ["bob", "b0b"]] {
            assert_eq!(flagged(&nicks, "bob"), None, "{nicks:?}");
            assert_eq!(flagged(&nicks, "b0b").as_deref(), Some("bob"), "{nicks:?}");
        }
    }

    #[test]
    fn a_whole_cyrillic_nick_imitating_a_latin_one_is_the_one_flagged() {
        // "сор" is all Cyrillic (one script, but look-alike letters); "cop" is plain Latin.
        for nicks in [["сор", "cop"], ["cop", "сор"]] {
            assert_eq!(flagged(&nicks, "cop"), None, "{nicks:?}");
            assert_eq!(flagged(&nicks, "сор").as_deref(), Some("cop"), "{nicks:?}");
        }
    }

    #[test]
    fn an_invisible_character_is_more_suspect_than_a_mixed_script() {
        // Neither is plain, but the invisible character is the stronger sign.
        let nicks = ["аlice", "аli\u{200B}ce"];
        assert_eq!(flagged(&nicks, "аlice"), None);
        assert_eq!(flagged(&nicks, "аli\u{200B}ce").as_deref(), Some("аlice"));
    }

    #[test]
    fn when_neither_nick_is_plainer_both_are_flagged_naming_each_other() {
        for nicks in [["аlicе", "alicе"], ["alicе", "аlicе"]] {
            // Both mix Cyrillic into Latin.
            assert_eq!(
                flagged(&nicks, "аlicе").as_deref(),
                Some("alicе"),
                "{nicks:?}"
            );
            assert_eq!(
                flagged(&nicks, "alicе").as_deref(),
                Some("аlicе"),
                "{nicks:?}"
            );
        }
        for nicks in [["Alice", "alice"], ["alice", "Alice"]] {
            assert_eq!(
                flagged(&nicks, "Alice").as_deref(),
                Some("alice"),
                "{nicks:?}"
            );
            assert_eq!(
                flagged(&nicks, "alice").as_deref(),
                Some("Alice"),
                "{nicks:?}"
            );
        }
    }

    #[test]
    fn the_answer_does_not_depend_on_arrival_order() {
        let nicks = [
            "alice",
            "аlice",
            "Al\u{200B}ice",
            "аlicе",
            "bob",
            "b0b",
            "Bob",
        ];
        let expected = flags(&nicks);
        let mut reversed = nicks;
        reversed.reverse();
        assert_eq!(flags(&reversed), expected);
        let mut rotated = nicks;
        rotated.rotate_left(3);
        assert_eq!(flags(&rotated), expected);
        // One plain alice: every imitator names it.
        assert_eq!(flagged(&nicks, "alice"), None);
        assert_eq!(flagged(&nicks, "аlicе").as_deref(), Some("alice"));
        // bob and Bob are equally plain: both flagged; b0b names one of them.
        assert!(flagged(&nicks, "bob").is_some());
        assert!(flagged(&nicks, "Bob").is_some());
        assert!(flagged(&nicks, "b0b").is_some());
    }
}
