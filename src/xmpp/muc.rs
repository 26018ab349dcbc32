//! Multi-user chat (XEP-0045) basics for private rooms: join without server-side history
//! (history comes from the room's MAM archive), leave, groupchat messages, the private-room
//! configuration (members-only, non-anonymous, not public, persistent, archived), affiliations
//! and mediated invitations. Presence parsing is pure and tested.

use tokio_xmpp::jid::{BareJid, Jid};
use tokio_xmpp::minidom::Element;
use tokio_xmpp::parsers::message::MessageType;
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
    fn as_str(self) -> &'static str {
        match self {
            Self::Owner => "owner",
            Self::Admin => "admin",
            Self::Member => "member",
            Self::None => "none",
            Self::Outcast => "outcast",
        }
    }

    fn parse(s: &str) -> Option<Self> {
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
        codes,
    })
}

fn form_field(var: &str, value: &str) -> Element {
    let mut f = elem("field", NS_DATA, &[("var", var)]);
    f.append_child(text_elem("value", NS_DATA, value));
    f
}

/// The configuration form for a private group: members-only, non-anonymous (OMEMO needs real
/// JIDs), hidden, persistent, archived for members' MAM catch-up, invitations by members.
pub fn private_room_config() -> Element {
    let mut x = elem("x", NS_DATA, &[("type", "submit")]);
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
    pub async fn muc_configure_private(&self, room: &BareJid) -> Result<(), XmppError> {
        self.iq(Some(Jid::from(room.clone())), true, private_room_config())
            .await
            .map(|_| ())
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
        let xml = String::from(&private_room_config());
        assert!(xml.contains("muc#roomconfig_membersonly"));
        assert!(xml.contains("anyone"));
        assert!(xml.contains("muc#roomconfig_publicroom"));
    }
}
