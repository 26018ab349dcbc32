//! Multi-user chat (XEP-0045) for private rooms: join without server-side history (history
//! comes from the room's MAM archive), leave, groupchat messages, the private-room
//! configuration (members-only, non-anonymous, not public, persistent, archived, optional
//! password), affiliations and roles (membership, kick, ban), nick and subject changes,
//! mediated and direct (XEP-0249) invitations, room information (disco#info, for the room
//! audit), occupant-ids (XEP-0421) and self-ping (XEP-0410). Parsing is pure and tested.

use tokio_xmpp::jid::{BareJid, Jid};
use tokio_xmpp::minidom::Element;
use tokio_xmpp::parsers::message::{Message, MessageType};
use tokio_xmpp::parsers::presence::{Presence, Type as PresenceType};

use super::error::XmppError;
use super::session::{SentStanza, Session, build_chat};
use super::stanza::{elem, text_elem};

/// XEP-0045 namespaces.
pub const NS_MUC: &str = "http://jabber.org/protocol/muc";
/// muc#user.
pub const NS_MUC_USER: &str = "http://jabber.org/protocol/muc#user";
/// muc#admin.
pub const NS_MUC_ADMIN: &str = "http://jabber.org/protocol/muc#admin";
/// muc#owner.
pub const NS_MUC_OWNER: &str = "http://jabber.org/protocol/muc#owner";
/// XEP-0004 data forms.
pub const NS_DATA: &str = "jabber:x:data";
/// XEP-0249 direct invitations.
pub const NS_CONFERENCE: &str = "jabber:x:conference";
/// XEP-0421 occupant identifiers.
pub const NS_OCCUPANT_ID: &str = "urn:xmpp:occupant-id:0";
/// Data form type of the room information in disco#info.
pub const FORM_ROOMINFO: &str = "http://jabber.org/protocol/muc#roominfo";

/// A room affiliation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Affiliation {
    /// Owner.
    Owner,
    /// Admin.
    Admin,
    /// Member (may enter a members-only room).
    Member,
    /// None (removes membership).
    None,
    /// Banned.
    Outcast,
}

impl Affiliation {
    /// The protocol name (`owner`, `admin`, `member`, `none`, `outcast`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Owner => "owner",
            Self::Admin => "admin",
            Self::Member => "member",
            Self::None => "none",
            Self::Outcast => "outcast",
        }
    }

    /// Parses a protocol name.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "owner" => Self::Owner,
            "admin" => Self::Admin,
            "member" => Self::Member,
            "none" => Self::None,
            "outcast" => Self::Outcast,
            _ => return None,
        })
    }
}

/// An occupant presence from a room.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MucPresence {
    /// The room.
    pub room: BareJid,
    /// The occupant's nickname.
    pub nick: String,
    /// True for our own presence (status 110).
    pub is_self: bool,
    /// True when the room was just created by us (status 201).
    pub created: bool,
    /// True when the occupant left.
    pub unavailable: bool,
    /// Affiliation, if stated.
    pub affiliation: Option<Affiliation>,
    /// Role text (moderator, participant, visitor, none), if stated.
    pub role: Option<String>,
    /// The occupant's real JID (non-anonymous rooms).
    pub real_jid: Option<Jid>,
    /// All status codes.
    pub codes: Vec<u16>,
    /// XEP-0421 occupant-id (stamped by the room, which strips forged ones).
    pub occupant_id: Option<String>,
    /// The new nickname when the occupant is changing nick (status 303).
    pub new_nick: Option<String>,
    /// Set when the room was destroyed (XEP-0045 `<destroy>` in the unavailable presence).
    pub destroyed: Option<RoomDestroyed>,
    /// Who removed the occupant and why, as a kick (307) or ban (301) presence says
    /// (`<item><actor/><reason/></item>`, XEP-0045 §9.1, §9.2); `None` otherwise.
    pub removal: Option<RoomRemoval>,
}

/// Who removed an occupant from a room and why (both untrusted, both optional).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RoomRemoval {
    /// The moderator's or admin's nick (`<actor nick=…/>`, else its `jid`), made one line of
    /// at most [`ACTOR_MAX_CHARS`] characters as [`one_line_bounded`] does.
    pub actor: Option<String>,
    /// The reason given, made one line of at most [`DESTROY_REASON_MAX_CHARS`] characters
    /// as a destroy reason is.
    pub reason: Option<String>,
}

/// The longest actor name kept from a kick or ban.
pub const ACTOR_MAX_CHARS: usize = 64;

/// Reads who kicked or banned an occupant, and why, from the `<item>` of a 307/301 presence.
fn parse_removal(item: Option<&Element>, codes: &[u16]) -> Option<RoomRemoval> {
    if !codes.contains(&307) && !codes.contains(&301) {
        return None;
    }
    let item = item?;
    let actor = item
        .get_child("actor", NS_MUC_USER)
        .and_then(|a| a.attr("nick").or_else(|| a.attr("jid")))
        .map(|a| one_line_bounded(a, ACTOR_MAX_CHARS))
        .filter(|a| !a.is_empty());
    let reason = item
        .get_child("reason", NS_MUC_USER)
        .map(|r| one_line_bounded(&r.text(), DESTROY_REASON_MAX_CHARS))
        .filter(|r| !r.is_empty());
    (actor.is_some() || reason.is_some()).then_some(RoomRemoval { actor, reason })
}

/// A room's destruction as its occupants are told (XEP-0045 §10.9): the owner's reason and
/// an alternate venue, both optional and both untrusted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoomDestroyed {
    /// The reason, made one line of at most [`DESTROY_REASON_MAX_CHARS`] characters with
    /// control and bidi-override characters removed; `None` when empty.
    pub reason: Option<String>,
    /// The room suggested instead, when it is a valid bare JID.
    pub alternate: Option<BareJid>,
}

/// The longest destroy reason kept (longer ones are cut and end in `…`).
pub const DESTROY_REASON_MAX_CHARS: usize = 300;

/// Reads the `<destroy>` of a muc#user payload.
fn parse_destroy(x: &Element) -> Option<RoomDestroyed> {
    let d = x.get_child("destroy", NS_MUC_USER)?;
    let reason = d
        .get_child("reason", NS_MUC_USER)
        .map(|r| one_line_bounded(&r.text(), DESTROY_REASON_MAX_CHARS))
        .filter(|r| !r.is_empty());
    let alternate = d
        .attr("jid")
        .and_then(|j| BareJid::new(j).ok())
        .filter(|j| j.node().is_some());
    Some(RoomDestroyed { reason, alternate })
}

/// Untrusted text a room sends, made safe to show on one line: characters XML cannot carry
/// (see [`super::xml_text`]), controls (C0, DEL, C1) and bidi marks, overrides and isolates
/// are dropped, runs of whitespace (line breaks included) become one space; cut to `max`
/// characters, the last being `…`.
pub fn one_line_bounded(text: &str, max: usize) -> String {
    let hidden = |c: char| {
        c.is_control()
            || !super::xml_text::is_xml_char(c)
            || matches!(c, '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
    };
    let words: Vec<String> = text
        .split(char::is_whitespace)
        .map(|w| w.chars().filter(|&c| !hidden(c)).collect::<String>())
        .filter(|w| !w.is_empty())
        .collect();
    let line = words.join(" ");
    if line.chars().count() <= max {
        return line;
    }
    let mut cut: String = line.chars().take(max.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

impl MucPresence {
    /// Why an unavailable presence ended the occupant's stay, in one word: `kicked` (307),
    /// `banned` (301), `membership_revoked` (321, 322), `shutdown` (332), `destroyed` (a
    /// `<destroy>` element), `nick_change` (303) or `left`.
    pub fn leave_reason(&self) -> &'static str {
        let has = |c: u16| self.codes.contains(&c);
        if has(303) {
            "nick_change"
        } else if has(301) {
            "banned"
        } else if has(307) {
            "kicked"
        } else if has(321) || has(322) {
            "membership_revoked"
        } else if has(332) {
            "shutdown"
        } else if self.destroyed.is_some() {
            "destroyed"
        } else {
            "left"
        }
    }
}

/// A room refused a presence of ours (join with a wrong password, not a member, banned,
/// nick taken...).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MucPresenceError {
    /// The room.
    pub room: BareJid,
    /// The defined condition (`not-authorized`, `registration-required`, `forbidden`,
    /// `conflict`, ...).
    pub condition: String,
}

/// Parses a presence error from a room occupant JID (Prosody's join errors carry no muc#user
/// payload, so any error from `room/nick` is one).
pub fn parse_muc_presence_error(p: &Presence) -> Option<MucPresenceError> {
    if p.type_ != PresenceType::Error {
        return None;
    }
    let from = p.from.as_ref()?;
    let room = from.to_bare();
    let err = p
        .payloads
        .iter()
        .find(|e| e.name() == "error")
        .and_then(|e| {
            e.children()
                .find(|c| c.ns() == "urn:ietf:params:xml:ns:xmpp-stanzas" && c.name() != "text")
                .map(|c| c.name().to_owned())
        })
        .unwrap_or_else(|| "undefined-condition".to_owned());
    Some(MucPresenceError {
        room,
        condition: err,
    })
}

/// Parses a room presence; `None` when it is not a MUC occupant presence.
pub fn parse_muc_presence(p: &Presence) -> Option<MucPresence> {
    let from = p.from.as_ref()?;
    let full = from.try_as_full().ok()?;
    let x = p.payloads.iter().find(|e| e.is("x", NS_MUC_USER))?;
    let item = x.get_child("item", NS_MUC_USER);
    let codes: Vec<u16> = x
        .children()
        .filter(|c| c.is("status", NS_MUC_USER))
        .filter_map(|c| c.attr("code").and_then(|v| v.parse().ok()))
        .collect();
    Some(MucPresence {
        room: full.to_bare(),
        nick: full.resource().as_str().to_owned(),
        is_self: codes.contains(&110),
        created: codes.contains(&201),
        unavailable: p.type_ == PresenceType::Unavailable,
        affiliation: item
            .and_then(|i| i.attr("affiliation"))
            .and_then(Affiliation::parse),
        role: item.and_then(|i| i.attr("role")).map(str::to_owned),
        real_jid: item
            .and_then(|i| i.attr("jid"))
            .and_then(|j| Jid::new(j).ok()),
        new_nick: item
            .and_then(|i| i.attr("nick"))
            .filter(|_| codes.contains(&303))
            .map(str::to_owned),
        removal: parse_removal(item, &codes),
        codes,
        occupant_id: occupant_id_of(&p.payloads),
        destroyed: parse_destroy(x),
    })
}

/// The XEP-0421 occupant-id among a stanza's payloads.
pub fn occupant_id_of(payloads: &[Element]) -> Option<String> {
    payloads
        .iter()
        .find(|e| e.is("occupant-id", NS_OCCUPANT_ID))
        .and_then(|e| e.attr("id"))
        .filter(|id| !id.is_empty())
        .map(str::to_owned)
}

/// The real JID a room put on a (typically archived) message of a non-anonymous room:
/// `<x xmlns='http://jabber.org/protocol/muc#user'><item jid='…'/></x>`, as a bare JID.
/// Only used to pick the OMEMO session to decrypt with: a forged one makes decryption fail,
/// it never changes who a message is shown from.
pub fn item_jid_of(payloads: &[Element]) -> Option<String> {
    payloads
        .iter()
        .filter(|e| e.name() == "x" && e.ns() == "http://jabber.org/protocol/muc#user")
        .flat_map(Element::children)
        .filter(|i| i.name() == "item")
        .find_map(|i| i.attr("jid"))
        .and_then(|j| xmpp_parsers::jid::Jid::new(j).ok())
        .map(|j| j.to_bare().to_string())
}

/// What a room says about itself in disco#info: its `muc_*` features and the
/// `muc#roominfo` form fields.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RoomInfo {
    /// Every feature var.
    pub features: Vec<String>,
    /// The roominfo form: field var → values.
    pub fields: Vec<(String, Vec<String>)>,
}

impl RoomInfo {
    /// Whether the room announces `feature`.
    pub fn has(&self, feature: &str) -> bool {
        self.features.iter().any(|f| f == feature)
    }

    /// The first value of the roominfo field `var`.
    pub fn field(&self, var: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(v, _)| v == var)
            .and_then(|(_, values)| values.first())
            .map(String::as_str)
    }
}

/// Parses a disco#info `<query/>` answer of a room.
pub fn parse_room_info(query: &Element) -> RoomInfo {
    let features = query
        .children()
        .filter(|c| c.name() == "feature")
        .filter_map(|c| c.attr("var"))
        .map(str::to_owned)
        .collect();
    let fields = query
        .children()
        .filter(|c| c.is("x", NS_DATA))
        .find(|x| {
            x.children().any(|f| {
                f.attr("var") == Some("FORM_TYPE")
                    && f.children().any(|v| v.text() == FORM_ROOMINFO)
            })
        })
        .map(|x| {
            x.children()
                .filter(|f| f.is("field", NS_DATA))
                .filter_map(|f| {
                    let var = f.attr("var")?;
                    let values = f
                        .children()
                        .filter(|v| v.is("value", NS_DATA))
                        .map(Element::text)
                        .collect();
                    Some((var.to_owned(), values))
                })
                .collect()
        })
        .unwrap_or_default();
    RoomInfo { features, fields }
}

/// An invitation to a room.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Invitation {
    /// The room.
    pub room: BareJid,
    /// Who invites (bare JID as stated by the room or the sender).
    pub from: Option<BareJid>,
    /// The reason given, made one line of at most [`INVITE_REASON_MAX_CHARS`] characters as
    /// [`one_line_bounded`] does (the inviter is anybody who knows the account's JID).
    pub reason: Option<String>,
    /// The room password, if the invitation carries one.
    pub password: Option<String>,
    /// XEP-0249 direct invitation (true) or mediated through the room (false).
    pub direct: bool,
}

/// Recognises a mediated invitation (from the room, `<x xmlns=muc#user><invite from=…>`) or a
/// direct one (XEP-0249, `<x xmlns='jabber:x:conference' jid=…>` from the inviter).
///
/// A mediated invitation names its inviter itself, so it is believed only from a bare JID: a
/// room sends from its bare JID, while a person's client always sends from a full JID (the
/// server stamps it), so nobody can forge a "mediated" invitation in someone else's name.
pub fn parse_invitation(msg: &Message) -> Option<Invitation> {
    let from = msg.from.as_ref()?;
    for x in &msg.payloads {
        if x.is("x", NS_MUC_USER)
            && from.resource().is_none()
            && from.node().is_some()
            && let Some(inv) = x.get_child("invite", NS_MUC_USER)
        {
            return Some(Invitation {
                room: from.to_bare(),
                from: inv
                    .attr("from")
                    .and_then(|j| Jid::new(j).ok())
                    .map(|j| j.to_bare()),
                reason: inv
                    .get_child("reason", NS_MUC_USER)
                    .map(|r| one_line_bounded(&r.text(), INVITE_REASON_MAX_CHARS))
                    .filter(|r| !r.is_empty()),
                password: x
                    .get_child("password", NS_MUC_USER)
                    .map(Element::text)
                    .filter(|p| !p.is_empty()),
                direct: false,
            });
        }
        if x.is("x", NS_CONFERENCE) {
            let room = BareJid::new(x.attr("jid")?).ok()?;
            room.node()?;
            return Some(Invitation {
                room,
                from: Some(from.to_bare()),
                reason: x
                    .attr("reason")
                    .map(|r| one_line_bounded(r, INVITE_REASON_MAX_CHARS))
                    .filter(|r| !r.is_empty()),
                password: x
                    .attr("password")
                    .filter(|p| !p.is_empty())
                    .map(str::to_owned),
                direct: true,
            });
        }
    }
    None
}

/// The status codes of a message from the room itself (104: configuration changed; 170–174:
/// logging or anonymity changed).
pub fn room_status_codes(msg: &Message) -> Vec<u16> {
    msg.payloads
        .iter()
        .filter(|x| x.is("x", NS_MUC_USER))
        .flat_map(|x| x.children().filter(|c| c.is("status", NS_MUC_USER)))
        .filter_map(|c| c.attr("code").and_then(|v| v.parse().ok()))
        .collect()
}

/// The longest room subject kept (longer ones are cut and end in `…`).
pub const SUBJECT_MAX_CHARS: usize = 1000;

/// The longest invitation reason kept (longer ones are cut and end in `…`).
pub const INVITE_REASON_MAX_CHARS: usize = 300;

/// The subject a room message sets, if it sets one (`Some("")` clears it): any occupant the
/// room lets change it writes it, so it is made one line of at most [`SUBJECT_MAX_CHARS`]
/// characters as [`one_line_bounded`] does.
pub fn subject_of(msg: &Message) -> Option<String> {
    if msg.type_ != MessageType::Groupchat {
        return None;
    }
    if msg.subjects.is_empty() {
        return None;
    }
    let subject = msg.subjects.values().next().cloned().unwrap_or_default();
    Some(one_line_bounded(&subject, SUBJECT_MAX_CHARS))
}

/// Whether a self-ping (XEP-0410) answer means we are still in the room.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SelfPing {
    /// Still joined (a result, or the own client refusing pings).
    Joined,
    /// The room no longer knows us: join again.
    NotJoined,
    /// No verdict (timeout, server unreachable): try again later.
    Unknown,
}

/// Interprets a self-ping outcome as XEP-0410 §3 says.
pub fn self_ping_verdict(outcome: &Result<Option<Element>, XmppError>) -> SelfPing {
    match outcome {
        Ok(_) => SelfPing::Joined,
        Err(XmppError::IqError(c)) => match c.as_str() {
            "ServiceUnavailable" | "FeatureNotImplemented" => SelfPing::Joined,
            "RemoteServerTimeout" | "RemoteServerNotFound" => SelfPing::Unknown,
            _ => SelfPing::NotJoined,
        },
        Err(_) => SelfPing::Unknown,
    }
}

fn form_field(var: &str, value: &str) -> Element {
    let mut f = elem("field", NS_DATA, &[("var", var)]);
    f.append_child(text_elem("value", NS_DATA, value));
    f
}

/// The configuration form for a private group: members-only, non-anonymous (OMEMO needs real
/// JIDs), hidden, persistent, archived for members' MAM catch-up, invitations by members, and
/// a password when one is given.
pub fn private_room_config(password: Option<&str>) -> Element {
    let mut x = elem("x", NS_DATA, &[("type", "submit")]);
    let protected = if password.is_some() { "1" } else { "0" };
    x.append_child(form_field(
        "muc#roomconfig_passwordprotectedroom",
        protected,
    ));
    x.append_child(form_field(
        "muc#roomconfig_roomsecret",
        password.unwrap_or(""),
    ));
    for (var, value) in [
        ("FORM_TYPE", "http://jabber.org/protocol/muc#roomconfig"),
        ("muc#roomconfig_membersonly", "1"),
        ("muc#roomconfig_whois", "anyone"),
        ("muc#roomconfig_publicroom", "0"),
        ("muc#roomconfig_persistentroom", "1"),
        ("muc#roomconfig_enablearchiving", "1"),
        ("muc#roomconfig_allowinvites", "1"),
        ("muc#roomconfig_historylength", "0"),
    ] {
        x.append_child(form_field(var, value));
    }
    let mut q = elem("query", NS_MUC_OWNER, &[]);
    q.append_child(x);
    q
}

impl Session {
    /// Joins `room` as `nick`, asking for no server-side history (catch up with
    /// [`Session::mam_catch_up`] on the room instead). The self-presence arrives as a
    /// [`super::session::SessionEvent::Presence`]; see [`parse_muc_presence`].
    pub async fn muc_join(
        &self,
        room: &BareJid,
        nick: &str,
        password: Option<&str>,
    ) -> Result<SentStanza, XmppError> {
        let to = room
            .with_resource_str(nick)
            .map_err(|e| XmppError::InvalidJid(e.to_string()))?;
        let mut x = elem("x", NS_MUC, &[]);
        x.append_child(elem("history", NS_MUC, &[("maxstanzas", "0")]));
        if let Some(pw) = password {
            x.append_child(text_elem("password", NS_MUC, pw));
        }
        self.send_presence_to(Jid::from(to), vec![x]).await
    }

    /// Leaves `room`.
    pub async fn muc_leave(&self, room: &BareJid, nick: &str) -> Result<SentStanza, XmppError> {
        let to = room
            .with_resource_str(nick)
            .map_err(|e| XmppError::InvalidJid(e.to_string()))?;
        self.send_unavailable(Some(Jid::from(to))).await
    }

    /// Sends a groupchat message (random id and origin-id).
    pub async fn send_groupchat(
        &self,
        room: &BareJid,
        body: &str,
    ) -> Result<SentStanza, XmppError> {
        self.send_message(build_chat(
            Jid::from(room.clone()),
            body,
            MessageType::Groupchat,
            Vec::new(),
        ))
        .await
    }

    /// Applies [`private_room_config`] to `room` (owner only; unlocks a freshly created room).
    pub async fn muc_configure_private(
        &self,
        room: &BareJid,
        password: Option<&str>,
    ) -> Result<(), XmppError> {
        self.iq(
            Some(Jid::from(room.clone())),
            true,
            private_room_config(password),
        )
        .await
        .map(|_| ())
    }

    /// Asks the room what it is (disco#info).
    pub async fn muc_room_info(&self, room: &BareJid) -> Result<RoomInfo, XmppError> {
        let r = self
            .iq(
                Some(Jid::from(room.clone())),
                false,
                elem("query", super::stanza::NS_DISCO_INFO, &[]),
            )
            .await?;
        Ok(r.as_ref().map(parse_room_info).unwrap_or_default())
    }

    /// Changes our nickname in `room` (the room answers with status 303 and 110).
    pub async fn muc_change_nick(
        &self,
        room: &BareJid,
        new_nick: &str,
    ) -> Result<SentStanza, XmppError> {
        let to = room
            .with_resource_str(new_nick)
            .map_err(|e| XmppError::InvalidJid(e.to_string()))?;
        self.send_presence_to(Jid::from(to), Vec::new()).await
    }

    /// Sets the room's subject.
    pub async fn muc_set_subject(
        &self,
        room: &BareJid,
        subject: &str,
    ) -> Result<SentStanza, XmppError> {
        let mut m = tokio_xmpp::parsers::message::Message::new_with_type(
            MessageType::Groupchat,
            Some(Jid::from(room.clone())),
        );
        m.subjects.insert(
            tokio_xmpp::parsers::message::Lang::new(),
            subject.to_owned(),
        );
        self.send_message(m).await
    }

    /// Sets the role of the occupant `nick` (`none` kicks them out; moderators only).
    pub async fn muc_set_role(
        &self,
        room: &BareJid,
        nick: &str,
        role: &str,
        reason: Option<&str>,
    ) -> Result<(), XmppError> {
        let mut q = elem("query", NS_MUC_ADMIN, &[]);
        let mut item = elem("item", NS_MUC_ADMIN, &[("nick", nick), ("role", role)]);
        if let Some(r) = reason {
            item.append_child(text_elem("reason", NS_MUC_ADMIN, r));
        }
        q.append_child(item);
        self.iq(Some(Jid::from(room.clone())), true, q)
            .await
            .map(|_| ())
    }

    /// Declines a mediated invitation (the room tells `inviter`).
    pub async fn muc_decline(
        &self,
        room: &BareJid,
        inviter: &BareJid,
    ) -> Result<SentStanza, XmppError> {
        let mut x = elem("x", NS_MUC_USER, &[]);
        x.append_child(elem("decline", NS_MUC_USER, &[("to", inviter.as_str())]));
        let mut m = tokio_xmpp::parsers::message::Message::new_with_type(
            MessageType::Normal,
            Some(Jid::from(room.clone())),
        );
        m.payloads.push(x);
        self.send_message(m).await
    }

    /// Sends a XEP-0249 direct invitation to `invitee`.
    pub async fn muc_direct_invite(
        &self,
        room: &BareJid,
        invitee: &BareJid,
        password: Option<&str>,
        reason: Option<&str>,
    ) -> Result<SentStanza, XmppError> {
        let mut attrs = vec![("jid", room.as_str())];
        if let Some(pw) = password {
            attrs.push(("password", pw));
        }
        if let Some(r) = reason {
            attrs.push(("reason", r));
        }
        let mut m = tokio_xmpp::parsers::message::Message::new_with_type(
            MessageType::Normal,
            Some(Jid::from(invitee.clone())),
        );
        m.payloads.push(elem("x", NS_CONFERENCE, &attrs));
        self.send_message(m).await
    }

    /// Self-ping (XEP-0410): pings our own occupant JID; see [`self_ping_verdict`].
    pub async fn muc_self_ping(&self, room: &BareJid, nick: &str) -> SelfPing {
        let Ok(to) = room.with_resource_str(nick) else {
            return SelfPing::Unknown;
        };
        let outcome = self
            .iq(
                Some(Jid::from(to)),
                false,
                elem("ping", super::stanza::NS_PING, &[]),
            )
            .await;
        self_ping_verdict(&outcome)
    }

    /// Corrects (`Some(body)`) or retracts (`None`) one of our groupchat messages.
    pub async fn muc_edit(
        &self,
        room: &BareJid,
        original_id: &str,
        body: Option<&str>,
    ) -> Result<SentStanza, XmppError> {
        use super::stanza::{NS_CORRECT, NS_FALLBACK, NS_HINTS, NS_RETRACT};
        let (text, extra) = match body {
            Some(b) => (b, vec![elem("replace", NS_CORRECT, &[("id", original_id)])]),
            None => (
                "This person attempted to retract a previous message, but it's unsupported by your client.",
                vec![
                    elem("retract", NS_RETRACT, &[("id", original_id)]),
                    elem("fallback", NS_FALLBACK, &[("for", NS_RETRACT)]),
                    elem("store", NS_HINTS, &[]),
                ],
            ),
        };
        self.send_message(build_chat(
            Jid::from(room.clone()),
            text,
            MessageType::Groupchat,
            extra,
        ))
        .await
    }

    /// Sets `jid`'s affiliation in `room` (e.g. [`Affiliation::Member`] to let them in).
    pub async fn muc_set_affiliation(
        &self,
        room: &BareJid,
        jid: &BareJid,
        affiliation: Affiliation,
    ) -> Result<(), XmppError> {
        let mut q = elem("query", NS_MUC_ADMIN, &[]);
        q.append_child(elem(
            "item",
            NS_MUC_ADMIN,
            &[("jid", jid.as_str()), ("affiliation", affiliation.as_str())],
        ));
        self.iq(Some(Jid::from(room.clone())), true, q)
            .await
            .map(|_| ())
    }

    /// Lists the JIDs with `affiliation` in `room`.
    pub async fn muc_affiliations(
        &self,
        room: &BareJid,
        affiliation: Affiliation,
    ) -> Result<Vec<BareJid>, XmppError> {
        let mut q = elem("query", NS_MUC_ADMIN, &[]);
        q.append_child(elem(
            "item",
            NS_MUC_ADMIN,
            &[("affiliation", affiliation.as_str())],
        ));
        let r = self.iq(Some(Jid::from(room.clone())), false, q).await?;
        Ok(r.map(|el| {
            el.children()
                .filter(|c| c.is("item", NS_MUC_ADMIN))
                .filter_map(|c| c.attr("jid").and_then(|j| BareJid::new(j).ok()))
                .collect()
        })
        .unwrap_or_default())
    }

    /// Sends a mediated invitation (through the room, which may add membership).
    pub async fn muc_invite(
        &self,
        room: &BareJid,
        invitee: &BareJid,
    ) -> Result<SentStanza, XmppError> {
        let mut x = elem("x", NS_MUC_USER, &[]);
        x.append_child(elem("invite", NS_MUC_USER, &[("to", invitee.as_str())]));
        let mut m = tokio_xmpp::parsers::message::Message::new_with_type(
            MessageType::Normal,
            Some(Jid::from(room.clone())),
        );
        m.payloads.push(x);
        self.send_message(m).await
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]
mod tests {
    use super::*;

    #[test]
    fn self_presence_with_created_status_is_recognised() {
        let p = Presence::try_from(
            "<presence xmlns='jabber:client' from='room@rooms.talpa.test/alice'>\
             <x xmlns='http://jabber.org/protocol/muc#user'>\
             <item affiliation='owner' role='moderator' jid='alice@talpa.test/brave_otter'/>\
             <status code='110'/><status code='201'/></x></presence>"
                .parse::<Element>()
                .unwrap(),
        )
        .unwrap();
        let m = parse_muc_presence(&p).unwrap();
        assert!(m.is_self && m.created && !m.unavailable);
        assert_eq!(m.nick, "alice");
        assert_eq!(m.affiliation, Some(Affiliation::Owner));
        assert_eq!(m.room.as_str(), "room@rooms.talpa.test");
    }

    #[test]
    fn ordinary_presence_is_not_a_muc_presence() {
        let p = Presence::try_from(
            "<presence xmlns='jabber:client' from='bob@talpa.test/x'/>"
                .parse::<Element>()
                .unwrap(),
        )
        .unwrap();
        assert!(parse_muc_presence(&p).is_none());
    }

    #[test]
    fn private_room_config_is_members_only_non_anonymous_hidden() {
        let xml = String::from(&private_room_config(None));
        assert!(xml.contains("muc#roomconfig_membersonly"));
        assert!(xml.contains("anyone"));
        assert!(xml.contains("muc#roomconfig_publicroom"));
        let xml = String::from(&private_room_config(Some("s3cret")));
        assert!(xml.contains("s3cret"));
    }

    fn presence(xml: &str) -> Presence {
        Presence::try_from(xml.parse::<Element>().unwrap()).unwrap()
    }

    fn message(xml: &str) -> Message {
        Message::try_from(xml.parse::<Element>().unwrap()).unwrap()
    }

    #[test]
    fn a_destroyed_room_gives_its_reason_and_alternate_venue() {
        let p = presence(
            "<presence xmlns='jabber:client' type='unavailable' from='r@rooms.talpa.test/mole'>\
             <x xmlns='http://jabber.org/protocol/muc#user'><item affiliation='none' role='none'/>\
             <destroy jid='new@rooms.talpa.test'><reason>Moved on</reason></destroy>\
             <status code='110'/></x></presence>",
        );
        let m = parse_muc_presence(&p).unwrap();
        assert_eq!(m.leave_reason(), "destroyed");
        let d = m.destroyed.unwrap();
        assert_eq!(d.reason.as_deref(), Some("Moved on"));
        assert_eq!(d.alternate.unwrap().as_str(), "new@rooms.talpa.test");
        let bare = parse_muc_presence(&presence(
            "<presence xmlns='jabber:client' type='unavailable' from='r@rooms.talpa.test/mole'>\
             <x xmlns='http://jabber.org/protocol/muc#user'><destroy/><status code='110'/></x>\
             </presence>",
        ))
        .unwrap();
        assert_eq!(bare.leave_reason(), "destroyed");
        assert_eq!(
            bare.destroyed,
            Some(RoomDestroyed {
                reason: None,
                alternate: None
            })
        );
    }

    #[test]
    fn a_hostile_destroy_reason_is_one_bounded_line_and_a_bad_venue_is_dropped() {
        let huge = format!(
            "evil\u{202E}txt.exe\n\n\u{7F}\u{85}\u{9B}line\ttwo {}",
            "x".repeat(200_000)
        );
        let xml = format!(
            "<presence xmlns='jabber:client' type='unavailable' from='r@rooms.talpa.test/mole'>\
             <x xmlns='http://jabber.org/protocol/muc#user'><destroy jid='not a jid@@'>\
             <reason>{huge}</reason></destroy><status code='110'/></x></presence>"
        );
        let d = parse_muc_presence(&presence(&xml))
            .unwrap()
            .destroyed
            .unwrap();
        let reason = d.reason.unwrap();
        assert_eq!(reason.chars().count(), DESTROY_REASON_MAX_CHARS);
        assert!(reason.starts_with("eviltxt.exe line two xxx"), "{reason}");
        assert!(reason.ends_with('…'));
        assert!(d.alternate.is_none());
        assert_eq!(one_line_bounded(" \u{7}\u{2066} ", 10), "");
        assert_eq!(one_line_bounded("short", 10), "short");
        assert_eq!(one_line_bounded("exactly10!", 10), "exactly10!");
        assert_eq!(one_line_bounded("eleven 11!!", 10), "eleven 11…");
    }

    #[test]
    fn occupant_id_and_kick_reason_are_read_from_presence() {
        let p = presence(
            "<presence xmlns='jabber:client' type='unavailable' from='r@rooms.talpa.test/bob'>\
             <x xmlns='http://jabber.org/protocol/muc#user'><item affiliation='none' role='none'/>\
             <status code='307'/></x><occupant-id xmlns='urn:xmpp:occupant-id:0' id='oc1'/>\
             </presence>",
        );
        let m = parse_muc_presence(&p).unwrap();
        assert_eq!(m.occupant_id.as_deref(), Some("oc1"));
        assert_eq!(m.leave_reason(), "kicked");
        assert_eq!(m.removal, None);
        let p = presence(
            "<presence xmlns='jabber:client' type='unavailable' from='r@rooms.talpa.test/bob'>\
             <x xmlns='http://jabber.org/protocol/muc#user'><item affiliation='none' role='none'>\
             <actor nick='owner'/><reason>Spam</reason></item>\
             <status code='307'/><status code='110'/></x></presence>",
        );
        let m = parse_muc_presence(&p).unwrap();
        assert_eq!(
            m.removal,
            Some(RoomRemoval {
                actor: Some("owner".into()),
                reason: Some("Spam".into())
            })
        );
    }

    #[test]
    fn a_hostile_kick_or_ban_reason_and_actor_are_one_bounded_line() {
        let huge = format!(
            "evil\u{202E}txt.exe\nline\t\u{7F}two\u{9B}{}",
            " x".repeat(10_000)
        );
        let p = presence(&format!(
            "<presence xmlns='jabber:client' type='unavailable' from='r@rooms.talpa.test/me'>\
             <x xmlns='http://jabber.org/protocol/muc#user'><item affiliation='outcast' role='none'>\
             <actor nick='ad&#x202E;min&#10;{}'/><reason>{huge}</reason></item>\
             <status code='301'/><status code='110'/></x></presence>",
            "m".repeat(500)
        ));
        let m = parse_muc_presence(&p).unwrap();
        assert_eq!(m.leave_reason(), "banned");
        let removal = m.removal.unwrap();
        let reason = removal.reason.unwrap();
        assert_eq!(reason.chars().count(), DESTROY_REASON_MAX_CHARS);
        assert!(reason.starts_with("eviltxt.exe line two x"), "{reason}");
        assert!(reason.ends_with('…'));
        let actor = removal.actor.unwrap();
        assert_eq!(actor.chars().count(), ACTOR_MAX_CHARS);
        assert!(actor.starts_with("admin mmm"), "{actor}");
        assert!(
            !reason
                .chars()
                .chain(actor.chars())
                .any(|c| c.is_control() || ('\u{202A}'..='\u{202E}').contains(&c)),
            "{reason} {actor}"
        );
        // A reason on an ordinary leave is not a removal.
        let p = presence(
            "<presence xmlns='jabber:client' type='unavailable' from='r@rooms.talpa.test/me'>\
             <x xmlns='http://jabber.org/protocol/muc#user'><item role='none'>\
             <reason>bye</reason></item><status code='110'/></x></presence>",
        );
        assert_eq!(parse_muc_presence(&p).unwrap().removal, None);
    }

    #[test]
    fn join_error_from_a_room_is_recognised() {
        let p = presence(
            "<presence xmlns='jabber:client' type='error' from='r@rooms.talpa.test/me'>\
             <error type='auth'><not-authorized xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>\
             </error></presence>",
        );
        let e = parse_muc_presence_error(&p).unwrap();
        assert_eq!(e.condition, "not-authorized");
        assert_eq!(e.room.as_str(), "r@rooms.talpa.test");
    }

    #[test]
    fn room_info_features_and_form_are_parsed() {
        let q: Element = "<query xmlns='http://jabber.org/protocol/disco#info'>\
             <feature var='muc_public'/><feature var='muc_semianonymous'/>\
             <x xmlns='jabber:x:data' type='result'>\
             <field var='FORM_TYPE' type='hidden'><value>http://jabber.org/protocol/muc#roominfo</value></field>\
             <field var='muc#roominfo_logs'><value>https://logs.example/r</value></field>\
             </x></query>"
            .parse()
            .unwrap();
        let info = parse_room_info(&q);
        assert!(info.has("muc_public") && info.has("muc_semianonymous"));
        assert_eq!(
            info.field("muc#roominfo_logs"),
            Some("https://logs.example/r")
        );
    }

    #[test]
    fn a_hostile_invitation_reason_and_room_subject_are_one_bounded_clean_line() {
        let huge = "x ".repeat(2_000);
        let m = message(&format!(
            "<message xmlns='jabber:client' from='bob@talpa.test/x' to='me@talpa.test'>\
             <x xmlns='jabber:x:conference' jid='r@rooms.talpa.test' \
             reason='pay at \u{202E}moc.evil&#10;now {huge}'/></message>"
        ));
        let reason = parse_invitation(&m).unwrap().reason.unwrap();
        assert!(reason.starts_with("pay at moc.evil now x x"), "{reason}");
        assert_eq!(reason.chars().count(), INVITE_REASON_MAX_CHARS);
        let m = message(&format!(
            "<message xmlns='jabber:client' from='r@rooms.talpa.test' to='me@talpa.test'>\
             <x xmlns='http://jabber.org/protocol/muc#user'><invite from='bob@talpa.test/x'>\
             <reason>a\u{2067}b&#10;c{huge}</reason></invite></x></message>"
        ));
        let reason = parse_invitation(&m).unwrap().reason.unwrap();
        assert!(reason.starts_with("ab cx x"), "{reason}");
        assert_eq!(reason.chars().count(), INVITE_REASON_MAX_CHARS);
        let m = message(&format!(
            "<message xmlns='jabber:client' from='r@rooms.talpa.test/eve' to='me@talpa.test' \
             type='groupchat'><subject>Welcome\u{202E}gpj.exe&#10;&#10;{huge}</subject></message>"
        ));
        let subject = subject_of(&m).unwrap();
        assert!(subject.starts_with("Welcomegpj.exe x x"), "{subject}");
        assert_eq!(subject.chars().count(), SUBJECT_MAX_CHARS);
        let m = message(
            "<message xmlns='jabber:client' from='r@rooms.talpa.test' type='groupchat'>\
             <subject></subject></message>",
        );
        assert_eq!(
            subject_of(&m).as_deref(),
            Some(""),
            "an empty subject still clears it"
        );
    }

    #[test]
    fn mediated_and_direct_invitations_are_recognised() {
        let m = message(
            "<message xmlns='jabber:client' from='r@rooms.talpa.test' to='me@talpa.test'>\
             <x xmlns='http://jabber.org/protocol/muc#user'><invite from='bob@talpa.test/x'>\
             <reason>come</reason></invite><password>pw</password></x></message>",
        );
        let i = parse_invitation(&m).unwrap();
        assert_eq!(i.room.as_str(), "r@rooms.talpa.test");
        assert_eq!(i.from.unwrap().as_str(), "bob@talpa.test");
        assert_eq!(i.password.as_deref(), Some("pw"));
        assert!(!i.direct);
        let m = message(
            "<message xmlns='jabber:client' from='bob@talpa.test/x' to='me@talpa.test'>\
             <x xmlns='jabber:x:conference' jid='r@rooms.talpa.test' reason='hi'/></message>",
        );
        let i = parse_invitation(&m).unwrap();
        assert!(i.direct);
        assert_eq!(i.from.unwrap().as_str(), "bob@talpa.test");
        let m = message(
            "<message xmlns='jabber:client' from='bob@talpa.test/x'>\
             <x xmlns='jabber:x:conference' jid='rooms.talpa.test'/></message>",
        );
        assert!(parse_invitation(&m).is_none(), "a room JID needs a node");
        let m = message(
            "<message xmlns='jabber:client' from='eve@talpa.test/x' to='me@talpa.test'>\
             <x xmlns='http://jabber.org/protocol/muc#user'><invite from='boss@talpa.test'/>\
             </x></message>",
        );
        assert!(
            parse_invitation(&m).is_none(),
            "a person cannot pose as a room inviting on someone else's behalf"
        );
    }

    #[test]
    fn self_ping_answers_follow_xep_0410() {
        assert_eq!(self_ping_verdict(&Ok(None)), SelfPing::Joined);
        let err = |c: &str| Err(XmppError::IqError(c.into()));
        assert_eq!(
            self_ping_verdict(&err("NotAcceptable")),
            SelfPing::NotJoined
        );
        assert_eq!(
            self_ping_verdict(&err("ServiceUnavailable")),
            SelfPing::Joined
        );
        assert_eq!(
            self_ping_verdict(&err("RemoteServerTimeout")),
            SelfPing::Unknown
        );
        assert_eq!(
            self_ping_verdict(&Err(XmppError::Timeout)),
            SelfPing::Unknown
        );
    }

    #[test]
    fn config_change_status_and_subject_are_read() {
        let m = message(
            "<message xmlns='jabber:client' type='groupchat' from='r@rooms.talpa.test'>\
             <x xmlns='http://jabber.org/protocol/muc#user'><status code='104'/></x></message>",
        );
        assert_eq!(room_status_codes(&m), vec![104]);
        let m = message(
            "<message xmlns='jabber:client' type='groupchat' from='r@rooms.talpa.test/a'>\
             <subject>plans</subject></message>",
        );
        assert_eq!(subject_of(&m).as_deref(), Some("plans"));
    }
}
