//! What an account's supervisor does about rooms on its live session: joining (with server
//! bookmarks kept in sync), following presences (occupants, affiliations, occupant-ids, nick
//! changes, kicks and bans), auditing the room on join and on every configuration change,
//! catching up the room's archive (MAM) on join, invitations, private messages from
//! occupants, and self-pings that notice a silently lost membership.

use std::collections::HashMap;

use chrono::Utc;
use xmpp_parsers::jid::{BareJid, Jid};
use xmpp_parsers::presence::Presence;

use zeroize::Zeroizing;

use crate::core::accounts::{ingest, ingest_with};
use crate::core::commands::Secret;
use crate::core::error::CoreError;
use crate::core::events::{Event, Occupant};
use crate::core::pipeline;
use crate::core::rooms::{PendingInvite, RoomMembers, audit_room, flag_lookalikes};
use crate::core::shared::SharedRef;
use crate::store::{self, AccountId};
use crate::xmpp::muc::{self, Affiliation, SelfPing};
use crate::xmpp::pep::Bookmark;
use crate::xmpp::session::ArchivedMessage;
use crate::xmpp::stanza::InboundMessage;
use crate::xmpp::{Session, XmppError};

/// What a supervisor knows of a room it joined on this stream.
pub(crate) struct Room {
    /// Our nickname.
    pub(crate) nick: String,
    password: Option<Secret>,
    create: bool,
    joined: bool,
    /// Occupants in order of arrival (the first of two look-alike nicks is the original).
    occupants: Vec<Occupant>,
    /// Our own occupant-id, from our self-presence.
    own_occupant_id: Option<String>,
    affiliated: HashMap<String, String>,
    /// Occupants changed since they were last published (see [`Ctx::publish_changed`]).
    unpublished: bool,
    /// Members who arrived since then, whose keys are to be looked up: (bare JID, client).
    arrivals: Vec<(String, Option<String>)>,
}

impl Room {
    /// The real bare JID of the occupant with this nick, when the room shows it to us.
    pub(crate) fn real_jid_of(&self, nick: Option<&str>) -> Option<String> {
        let nick = nick?;
        self.occupants
            .iter()
            .find(|o| o.nick == nick)
            .and_then(|o| o.jid.clone())
    }
}

/// The rooms of one session.
pub(crate) type Rooms = HashMap<BareJid, Room>;

/// The session, shared state and account a room operation works with.
pub(crate) struct Ctx<'a> {
    pub(crate) session: &'a Session,
    pub(crate) shared: &'a SharedRef,
    pub(crate) account: &'a store::Account,
    /// The account's OMEMO state (room messages are decrypted with it).
    pub(crate) st: &'a crate::core::omemo::OmemoRef,
}

#[allow(
    clippy::needless_pass_by_value,
    reason = "used as map_err(xmpp), which hands over the error"
)]
fn xmpp(e: XmppError) -> CoreError {
    CoreError::Xmpp(e.to_string())
}

fn room_anchor_key(account: AccountId, room: &BareJid) -> String {
    format!("mam.room.{}.{}", account.0, room)
}

impl Ctx<'_> {
    fn acc(&self) -> String {
        self.account.jid.clone()
    }

    fn error(&self, message: String) {
        self.shared.emit(Event::Error {
            kind: "xmpp".into(),
            message,
            account: Some(self.acc()),
        });
    }

    /// Sends the join presence and starts following the room; with `bookmark`, the room is
    /// also bookmarked on the server (XEP-0402, autojoin) so other clients and a new profile
    /// find it.
    pub(crate) async fn join(
        &self,
        rooms: &mut Rooms,
        room: BareJid,
        nick: String,
        password: Option<Secret>,
        create: bool,
        bookmark: bool,
    ) -> Result<(), CoreError> {
        self.session
            .muc_join(&room, &nick, password.as_ref().map(Secret::expose))
            .await
            .map_err(xmpp)?;
        if bookmark {
            let b = Bookmark {
                room: room.clone(),
                name: None,
                autojoin: true,
                nick: Some(nick.clone()),
            };
            if let Err(e) = self.session.bookmark_set(&b).await {
                self.error(format!("could not bookmark {room} on the server: {e}"));
            }
        }
        rooms.insert(
            room,
            Room {
                nick,
                password,
                create,
                joined: false,
                occupants: Vec::new(),
                own_occupant_id: None,
                affiliated: HashMap::new(),
                unpublished: false,
                arrivals: Vec::new(),
            },
        );
        Ok(())
    }

    /// Leaves the room (if in it) and removes its server bookmark.
    pub(crate) async fn leave(&self, rooms: &mut Rooms, room: &BareJid) -> Result<(), CoreError> {
        if let Some(r) = rooms.remove(room) {
            self.session.muc_leave(room, &r.nick).await.map_err(xmpp)?;
        }
        if let Err(e) = self.session.bookmark_remove(room).await {
            tracing::debug!(error = %e, "no bookmark to remove");
        }
        self.gone(room, "left");
        Ok(())
    }

    fn gone(&self, room: &BareJid, reason: &str) {
        self.gone_because(room, reason, None, None);
    }

    /// Tells that we are out of `room`, with the room's words: a destroyed room's reason and
    /// alternate, or who kicked or banned us and why.
    fn gone_because(
        &self,
        room: &BareJid,
        reason: &str,
        destroyed: Option<&muc::RoomDestroyed>,
        removal: Option<&muc::RoomRemoval>,
    ) {
        self.shared.rooms.left(&self.account.jid, room.as_str());
        self.shared.emit(Event::RoomLeft {
            account: self.acc(),
            room: room.to_string(),
            reason: reason.to_owned(),
            detail: destroyed
                .and_then(|d| d.reason.clone())
                .or_else(|| removal.and_then(|r| r.reason.clone())),
            actor: removal.and_then(|r| r.actor.clone()),
            alternate: destroyed.and_then(|d| d.alternate.as_ref().map(ToString::to_string)),
        });
    }

    /// The room was destroyed: it is no longer joined on login (store and server bookmark),
    /// the conversation stays and keeps the owner's reason and alternate venue (so they are
    /// listed again after a restart), and both are told.
    async fn destroyed(&self, rooms: &mut Rooms, room: &BareJid, how: &muc::RoomDestroyed) {
        let nick = rooms.remove(room).map(|r| r.nick);
        let (id, rj) = (self.account.id, room.to_string());
        let note = store::RoomDestroyedNote {
            reason: how.reason.clone(),
            alternate: how.alternate.as_ref().map(ToString::to_string),
            nick,
        };
        if let Err(e) = self
            .shared
            .store
            .with(move |s| {
                s.set_room_destroyed(id, &rj, Some(&note), Utc::now())?;
                Ok(s.remove_room(id, &rj)?)
            })
            .await
        {
            tracing::debug!(error = %e, "could not forget a destroyed room");
        }
        if let Err(e) = self.session.bookmark_remove(room).await {
            tracing::debug!(error = %e, "no bookmark to remove");
        }
        self.gone_because(room, "destroyed", Some(how), None);
    }

    /// After login: the rooms remembered in the encrypted store and the server's bookmarks
    /// are merged (each side gets what it lacks) and every autojoin room is joined.
    pub(crate) async fn autojoin(&self, rooms: &mut Rooms) {
        let id = self.account.id;
        let saved = self
            .shared
            .store
            .with(move |s| Ok(s.list_rooms(id)?))
            .await
            .unwrap_or_default();
        let server = match self.session.bookmarks().await {
            Ok(b) => Some(b),
            Err(e) => {
                self.error(format!("could not read the server bookmarks: {e}"));
                None
            }
        };
        let mut wanted: Vec<(BareJid, String, Option<Secret>)> = Vec::new();
        for r in saved.iter().filter(|r| r.autojoin) {
            let (Ok(room), Some(nick)) = (BareJid::new(&r.jid), r.nick.clone()) else {
                continue;
            };
            if let Some(server) = &server
                && !server.iter().any(|b| b.room == room)
            {
                let b = Bookmark {
                    room: room.clone(),
                    name: r.name.clone(),
                    autojoin: true,
                    nick: Some(nick.clone()),
                };
                if let Err(e) = self.session.bookmark_set(&b).await {
                    tracing::debug!(error = %e, "could not publish a bookmark");
                }
            }
            wanted.push((
                room,
                nick,
                r.password.as_ref().map(|p| Secret::new(p.as_str())),
            ));
        }
        for b in server
            .unwrap_or_default()
            .into_iter()
            .filter(|b| b.autojoin)
        {
            if wanted.iter().any(|(r, _, _)| *r == b.room) {
                continue;
            }
            let nick = b.nick.clone().unwrap_or_else(|| self.default_nick());
            self.remember(&b.room, &nick, None, b.name.clone()).await;
            wanted.push((b.room, nick, None));
        }
        for (room, nick, password) in wanted {
            if let Err(e) = self.join(rooms, room, nick, password, false, false).await {
                self.error(e.to_string());
            }
        }
    }

    fn default_nick(&self) -> String {
        self.account
            .jid
            .split('@')
            .next()
            .unwrap_or("talpa")
            .to_owned()
    }

    /// Whether the encrypted store remembers the room for this account (`if_unreadable` when
    /// the store cannot say).
    async fn remembered(&self, room: &BareJid, if_unreadable: bool) -> bool {
        let (id, r) = (self.account.id, room.to_string());
        self.shared
            .store
            .with(move |s| Ok(s.list_rooms(id)?.iter().any(|x| x.jid == r)))
            .await
            .unwrap_or(if_unreadable)
    }

    /// Keeps a room in the encrypted store with autojoin (and its conversation).
    async fn remember(
        &self,
        room: &BareJid,
        nick: &str,
        password: Option<Secret>,
        name: Option<String>,
    ) {
        let (id, r, n) = (self.account.id, room.to_string(), nick.to_owned());
        let _ = self
            .shared
            .store
            .with(move |s| {
                s.upsert_conversation(id, &r, store::ConversationKind::GroupChat, Utc::now())?;
                s.upsert_room(
                    id,
                    &store::RoomBookmark {
                        jid: r,
                        name,
                        nick: Some(n),
                        password: password.map(|p| Zeroizing::new(p.expose().to_owned())),
                        autojoin: true,
                    },
                )?;
                Ok(())
            })
            .await;
    }

    /// A PEP event: only the own account's bookmark changes count (the xmpp layer already
    /// dropped bookmark events from anyone else; this is checked again here). A new autojoin
    /// bookmark joins the room; a retracted one leaves it.
    pub(crate) async fn pubsub_event(
        &self,
        rooms: &mut Rooms,
        from: Option<&Jid>,
        event: &xmpp_parsers::minidom::Element,
    ) {
        let own = self.session.own_jid();
        if from.is_none_or(|f| f.to_bare() != *own) {
            return;
        }
        let ns = crate::xmpp::stanza::NS_PUBSUB_EVENT;
        let Some(items) = event.children().find(|c| {
            c.is("items", ns) && c.attr("node") == Some(crate::xmpp::stanza::NODE_BOOKMARKS)
        }) else {
            return;
        };
        for item in items.children() {
            if item.is("item", ns) {
                let Some(b) = crate::xmpp::pep::parse_bookmark_item(item) else {
                    continue;
                };
                // Our own joins publish bookmarks too; only rooms this profile does not know
                // yet (added by another client of the account) are joined from here.
                if !b.autojoin
                    || rooms.contains_key(&b.room)
                    || self.remembered(&b.room, true).await
                {
                    continue;
                }
                let nick = b.nick.clone().unwrap_or_else(|| self.default_nick());
                self.remember(&b.room, &nick, None, b.name.clone()).await;
                if let Err(e) = self.join(rooms, b.room, nick, None, false, false).await {
                    self.error(e.to_string());
                }
            } else if item.is("retract", ns) {
                let Some(Ok(room)) = item.attr("id").map(BareJid::new) else {
                    continue;
                };
                if let Some(r) = rooms.remove(&room) {
                    let _ = self.session.muc_leave(&room, &r.nick).await;
                    let (id, rj) = (self.account.id, room.to_string());
                    let _ = self
                        .shared
                        .store
                        .with(move |s| Ok(s.remove_room(id, &rj)?))
                        .await;
                    self.gone(&room, "left");
                }
            }
        }
    }

    /// Follows a room presence: occupants, our own arrival (finishing a room we created),
    /// nick changes, and our own departure (kicked, banned, membership revoked).
    ///
    /// The occupant list is published once the room is joined — the self-presence comes after
    /// every other occupant's — and afterwards by [`Ctx::publish_changed`], which the caller
    /// runs once per burst of presences: a room of N occupants costs one list, not N lists of
    /// up to N occupants each.
    pub(crate) async fn presence(&self, rooms: &mut Rooms, raw: &Presence) {
        if let Some(err) = muc::parse_muc_presence_error(raw) {
            let Some(r) = rooms.get(&err.room) else {
                return;
            };
            if r.joined {
                self.error(format!("{} refused: {}", err.room, err.condition));
            } else {
                rooms.remove(&err.room);
                self.gone(&err.room, &format!("join_refused: {}", err.condition));
            }
            return;
        }
        let Some(p) = muc::parse_muc_presence(raw) else {
            return;
        };
        if !rooms.contains_key(&p.room) {
            return;
        }
        // A destroy ends everyone's stay, so any occupant's presence carrying it counts.
        if p.unavailable
            && let Some(how) = &p.destroyed
        {
            self.destroyed(rooms, &p.room, how).await;
            return;
        }
        if p.unavailable && p.is_self && p.leave_reason() != "nick_change" {
            rooms.remove(&p.room);
            self.gone_because(&p.room, p.leave_reason(), None, p.removal.as_ref());
            return;
        }
        let Some(room) = rooms.get_mut(&p.room) else {
            return;
        };
        // A member arriving (perhaps with a new OMEMO client) gets its keys looked up again,
        // with its client (resource) when the room shows it (see `omemo::without_keys`).
        let arrived = match (&p.real_jid, p.unavailable || p.is_self || !room.joined) {
            (Some(full), false) => {
                let jid = full.to_bare().to_string();
                let known = room
                    .occupants
                    .iter()
                    .any(|o| o.nick == p.nick && o.jid.as_deref() == Some(jid.as_str()));
                let client = full.resource().map(|r| r.as_str().to_owned());
                (!known).then_some((jid, client))
            }
            _ => None,
        };
        if p.unavailable {
            room.occupants.retain(|o| o.nick != p.nick);
        } else {
            let occupant = Occupant {
                nick: p.nick.clone(),
                role: p.role.clone(),
                affiliation: p.affiliation.map(|a| a.as_str().to_owned()),
                jid: p.real_jid.as_ref().map(|j| j.to_bare().to_string()),
                occupant_id: p.occupant_id.clone(),
                lookalike_of: None,
            };
            match room.occupants.iter_mut().find(|o| o.nick == p.nick) {
                Some(o) => *o = occupant,
                None => room.occupants.push(occupant),
            }
        }
        if let (Some(jid), Some(a)) = (&p.real_jid, p.affiliation) {
            let jid = jid.to_bare().to_string();
            match a {
                Affiliation::None => room.affiliated.remove(&jid),
                other => room.affiliated.insert(jid, other.as_str().to_owned()),
            };
        }
        let mut first_join = false;
        if p.is_self && !p.unavailable {
            if p.occupant_id.is_some() {
                room.own_occupant_id.clone_from(&p.occupant_id);
            }
            if room.nick != p.nick {
                room.nick.clone_from(&p.nick);
                if room.joined {
                    self.shared.emit(Event::RoomJoined {
                        account: self.acc(),
                        room: p.room.to_string(),
                        nick: room.nick.clone(),
                        created: false,
                    });
                }
            }
            if !room.joined {
                room.joined = true;
                first_join = true;
                if p.created
                    && room.create
                    && let Err(e) = self
                        .session
                        .muc_configure_private(&p.room, room.password.as_ref().map(Secret::expose))
                        .await
                {
                    self.error(format!(
                        "the room was created but could not be made private: {e}"
                    ));
                }
                if room.create && !p.created {
                    self.error(format!(
                        "{} already existed: it was joined, not created, and its configuration \
                         is its owner's (see its audit)",
                        p.room
                    ));
                }
                self.shared.emit(Event::RoomJoined {
                    account: self.acc(),
                    room: p.room.to_string(),
                    nick: room.nick.clone(),
                    created: p.created,
                });
            }
        }
        room.unpublished = true;
        room.arrivals.extend(arrived);
        if first_join {
            self.publish_room(rooms, &p.room).await;
            self.after_join(rooms, &p.room).await;
        }
    }

    /// Publishes the occupants of every joined room whose presences changed them, and looks up
    /// the keys of the members who arrived meanwhile (the end of a burst of presences).
    pub(crate) async fn publish_changed(&self, rooms: &mut Rooms) {
        let changed: Vec<BareJid> = rooms
            .iter()
            .filter(|(_, r)| r.joined && r.unpublished)
            .map(|(j, _)| j.clone())
            .collect();
        for room in changed {
            self.publish_room(rooms, &room).await;
        }
    }

    /// Publishes one room's occupants now, then looks up the keys of its new arrivals.
    async fn publish_room(&self, rooms: &mut Rooms, room_jid: &BareJid) {
        let Some(room) = rooms.get_mut(room_jid) else {
            return;
        };
        room.unpublished = false;
        self.publish(room_jid, room);
        let arrivals = std::mem::take(&mut room.arrivals);
        if !arrivals.is_empty() {
            self.check_keys(room_jid, &arrivals).await;
        }
    }

    /// Announces the occupants (look-alike nicks flagged) and shares who is in the room.
    fn publish(&self, room_jid: &BareJid, room: &Room) {
        let mut occupants = room.occupants.clone();
        flag_lookalikes(&mut occupants);
        let mut affiliated: Vec<(String, String)> = room
            .affiliated
            .iter()
            .map(|(j, a)| (j.clone(), a.clone()))
            .collect();
        affiliated.sort();
        self.shared.rooms.set_members(
            &self.account.jid,
            room_jid.as_str(),
            RoomMembers {
                affiliated,
                occupants: occupants.clone(),
            },
        );
        occupants.sort_by(|a, b| a.nick.cmp(&b.nick));
        self.shared.emit(Event::Occupants {
            account: self.acc(),
            room: room_jid.to_string(),
            occupants,
        });
    }

    /// Once in: learn the room's affiliation lists, audit it, catch up its archive.
    async fn after_join(&self, rooms: &mut Rooms, room_jid: &BareJid) {
        // A room of that name destroyed earlier exists again: its old note no longer holds.
        let (id, r) = (self.account.id, room_jid.to_string());
        if let Err(e) = self
            .shared
            .store
            .with(move |s| Ok(s.set_room_destroyed(id, &r, None, Utc::now())?))
            .await
        {
            tracing::debug!(error = %e, "could not forget a destroyed room's note");
        }
        for aff in [Affiliation::Owner, Affiliation::Admin, Affiliation::Member] {
            // Owners and admins may read these lists, and so may members of members-only
            // non-anonymous rooms (Prosody); elsewhere the room refuses and occupants' presences
            // are all we know.
            let Ok(jids) = self.session.muc_affiliations(room_jid, aff).await else {
                continue;
            };
            if let Some(room) = rooms.get_mut(room_jid) {
                for j in jids {
                    room.affiliated
                        .insert(j.to_string(), aff.as_str().to_owned());
                }
            }
        }
        if let Some(room) = rooms.get(room_jid) {
            self.publish(room_jid, room);
        }
        // The audit comes once the member list is known (front ends and the OMEMO side may
        // read it on `room_audit`); it is emitted again if members turn out to lack keys.
        let archived = self.audit(room_jid).await;
        self.check_keys(room_jid, &[]).await;
        if archived {
            self.catch_up(rooms, room_jid).await;
        }
    }

    /// Audits the room from its disco#info and emits `room_audit`; true when the room keeps
    /// an archive.
    pub(crate) async fn audit(&self, room_jid: &BareJid) -> bool {
        let info = match self.session.muc_room_info(room_jid).await {
            Ok(i) => i,
            Err(e) => {
                self.error(format!("could not read {room_jid}'s configuration: {e}"));
                return false;
            }
        };
        let host = self
            .account
            .host
            .clone()
            .unwrap_or_else(|| self.account.jid.rsplit('@').next().unwrap_or("").to_owned());
        let onion = host
            .trim_end_matches('.')
            .to_ascii_lowercase()
            .ends_with(".onion");
        let missing = self
            .shared
            .rooms
            .keys_missing(&self.account.jid, room_jid.as_str());
        let audit = audit_room(&self.account.jid, room_jid.as_str(), &info, onion, missing);
        let archived = audit.archived;
        self.shared.rooms.set_audit(audit.clone());
        self.shared.emit(Event::RoomAudit(audit));
        archived
    }

    /// Looks up which of the room's members have no OMEMO device (those of `arrived`, each
    /// with the client that arrived, asked again per `omemo::without_keys`) and updates the
    /// audit, emitted again when that changed. Only in members-only rooms (where messages are
    /// encrypted to the members): a big public room's occupants are not all asked for their
    /// keys.
    pub(crate) async fn check_keys(
        &self,
        room_jid: &BareJid,
        arrived: &[(String, Option<String>)],
    ) {
        let (acc, room) = (&self.account.jid, room_jid.as_str());
        if !self
            .shared
            .rooms
            .audit(acc, room)
            .is_some_and(|a| a.members_only)
        {
            return;
        }
        let recipients = self.shared.rooms.recipients(acc, room);
        let arrived: Vec<(String, Option<String>)> = arrived
            .iter()
            .filter(|(j, _)| recipients.contains(j))
            .cloned()
            .collect();
        let missing =
            crate::core::omemo::without_keys(self.session, self.st, &recipients, &arrived).await;
        let before = self.shared.rooms.keys_missing(acc, room);
        if let Some(audit) = self.shared.rooms.set_keys_missing(acc, room, missing)
            && audit.members_without_keys != before
        {
            self.shared.emit(Event::RoomAudit(audit));
        }
    }

    /// A device list of `jid` changed (PEP): the audits of the joined rooms it belongs to are
    /// brought up to date.
    pub(crate) async fn keys_changed(&self, rooms: &Rooms, jid: &str) {
        for (room_jid, room) in rooms {
            if room.joined
                && self
                    .shared
                    .rooms
                    .recipients(&self.account.jid, room_jid.as_str())
                    .iter()
                    .any(|j| j == jid)
            {
                self.check_keys(room_jid, &[]).await;
            }
        }
    }

    /// Pages through the room's archive after the last stanza-id seen in this room; each
    /// message goes through the same pipeline (and dedupe) as live ones.
    async fn catch_up(&self, rooms: &Rooms, room_jid: &BareJid) {
        let Some(room) = rooms.get(room_jid) else {
            return;
        };
        let (nick, own_id) = (room.nick.clone(), room.own_occupant_id.clone());
        let k = room_anchor_key(self.account.id, room_jid);
        let anchor = self
            .shared
            .store
            .with(move |s| Ok(s.setting(&k)?))
            .await
            .ok()
            .flatten();
        let had_anchor = anchor.is_some();
        let archived = match self
            .session
            .mam_catch_up(Some(room_jid.clone()), anchor)
            .await
        {
            Err(XmppError::IqError(c)) if had_anchor && c == "ItemNotFound" => {
                self.session
                    .mam_catch_up(Some(room_jid.clone()), None)
                    .await
            }
            other => other,
        };
        let archived = match archived {
            Ok(a) => a,
            Err(e) => {
                self.error(format!("could not catch up {room_jid}'s history: {e}"));
                return;
            }
        };
        for ArchivedMessage {
            archive_id,
            mut message,
            delay,
        } in archived
        {
            if message.delay.is_none() {
                message.delay = delay;
            }
            if message.from.as_ref().map(Jid::to_bare).as_ref() != Some(room_jid) {
                continue;
            }
            // The sender's real JID: from the archived stanza's MUC item (non-anonymous rooms),
            // else from who is present under that nick now.
            let sender = crate::xmpp::muc::item_jid_of(&message.raw.payloads).or_else(|| {
                room.real_jid_of(
                    message
                        .from
                        .as_ref()
                        .and_then(|f| f.resource())
                        .map(xmpp_parsers::jid::ResourceRef::as_str),
                )
            });
            self.groupchat_message(&message, &nick, own_id.as_deref(), Some(archive_id), sender)
                .await;
        }
    }

    async fn groupchat_message(
        &self,
        m: &InboundMessage,
        nick: &str,
        own_occupant_id: Option<&str>,
        archive_id: Option<String>,
        sender_jid: Option<String>,
    ) {
        let action = crate::core::accounts::group_action(
            self.session,
            self.shared,
            self.account,
            self.st,
            m,
            nick,
            own_occupant_id,
            sender_jid,
        )
        .await;
        // Room stamps have whole-second precision: keep arrival (archive) order within a
        // second, after our own messages of that second (stored with milliseconds).
        ingest_with(self.shared, self.account, action, None, true).await;
        let anchor = archive_id.or_else(|| m.stanza_id.clone());
        if let (Some(a), Some(room)) = (anchor, m.from.as_ref().map(Jid::to_bare)) {
            let key = room_anchor_key(self.account.id, &room);
            let _ = self
                .shared
                .store
                .with(move |s| Ok(s.set_setting(&key, Some(&a))?))
                .await;
        }
    }

    /// A live groupchat message: chat history, a subject, or the room telling us its
    /// configuration changed (status 104, 170–174), which triggers a new audit.
    pub(crate) async fn groupchat(&self, rooms: &Rooms, m: &InboundMessage) {
        let Some(from) = m.from.as_ref() else {
            return;
        };
        let room_jid = from.to_bare();
        let Some(room) = rooms.get(&room_jid) else {
            return;
        };
        if let Some(subject) = muc::subject_of(&m.raw)
            && m.body.is_none()
        {
            self.shared.emit(Event::RoomSubject {
                account: self.acc(),
                room: room_jid.to_string(),
                subject,
                by: from.resource().map(|r| r.as_str().to_owned()),
            });
            return;
        }
        if from.resource().is_none() {
            let codes = muc::room_status_codes(&m.raw);
            if codes.iter().any(|c| *c == 104 || (170..=174).contains(c)) {
                self.audit(&room_jid).await;
            }
            return;
        }
        let nick = room.nick.clone();
        let own_id = room.own_occupant_id.clone();
        let sender = room.real_jid_of(from.resource().map(xmpp_parsers::jid::ResourceRef::as_str));
        self.groupchat_message(m, &nick, own_id.as_deref(), None, sender)
            .await;
    }

    /// A 1:1-type message: an invitation (mediated or direct) or a private message from a room
    /// occupant. Returns true when it was one of those.
    pub(crate) async fn direct_message(&self, rooms: &Rooms, m: &InboundMessage) -> bool {
        if let Some(inv) = muc::parse_invitation(&m.raw) {
            let room = inv.room.to_string();
            let from = inv.from.as_ref().map(ToString::to_string);
            self.shared.emit(Event::RoomInvite {
                account: self.acc(),
                room: room.clone(),
                from: from.clone(),
                reason: inv.reason.clone(),
                direct: inv.direct,
                has_password: inv.password.is_some(),
            });
            self.shared.rooms.add_invite(
                &self.account.jid,
                &room,
                PendingInvite {
                    from,
                    password: inv.password.map(Secret::new),
                    direct: inv.direct,
                },
            );
            return true;
        }
        let Some(from) = m.from.as_ref().filter(|f| f.resource().is_some()) else {
            return false;
        };
        // An occupant of a room we are in, or of a room we remember (a private message that
        // arrives while we are not joined must not land in a chat with the room's JID).
        let room = from.to_bare();
        if rooms.contains_key(&room) || self.remembered(&room, false).await {
            let action = pipeline::classify_muc_pm(m);
            ingest(self.shared, self.account, action, None).await;
            return true;
        }
        false
    }

    /// Self-ping (XEP-0410) every joined room; a room that no longer knows us is joined again.
    pub(crate) async fn self_ping(&self, rooms: &mut Rooms) {
        let joined: Vec<(BareJid, String)> = rooms
            .iter()
            .filter(|(_, r)| r.joined)
            .map(|(j, r)| (j.clone(), r.nick.clone()))
            .collect();
        for (room, nick) in joined {
            if self.session.muc_self_ping(&room, &nick).await != SelfPing::NotJoined {
                continue;
            }
            tracing::info!(account = %self.account.jid, "a room forgot us; joining again");
            self.rejoin(rooms, room, nick).await;
        }
    }

    /// Joins every room again (after a reconnection that could not resume the old stream: the
    /// rooms dropped the old resource silently).
    pub(crate) async fn rejoin_all(&self, rooms: &mut Rooms) {
        let all: Vec<(BareJid, String)> = rooms
            .iter()
            .map(|(j, r)| (j.clone(), r.nick.clone()))
            .collect();
        for (room, nick) in all {
            self.rejoin(rooms, room, nick).await;
        }
    }

    async fn rejoin(&self, rooms: &mut Rooms, room: BareJid, nick: String) {
        self.shared.rooms.left(&self.account.jid, room.as_str());
        let password = rooms.get(&room).and_then(|r| r.password.clone());
        if let Err(e) = self.join(rooms, room, nick, password, false, false).await {
            self.error(e.to_string());
        }
    }

    /// Sends a direct invitation (XEP-0249) to a room we are in, with its password; membership
    /// is granted first where we may (private rooms are members-only).
    pub(crate) async fn direct_invite(
        &self,
        rooms: &mut Rooms,
        room_jid: &BareJid,
        jid: &BareJid,
        reason: Option<&str>,
    ) -> Result<(), CoreError> {
        let Some(room) = rooms.get(room_jid) else {
            return Err(CoreError::InvalidInput(format!(
                "not in {room_jid}: join it before inviting"
            )));
        };
        let password = room.password.clone();
        // Only owners and admins may; the room refuses anyone else (as for `invite`).
        match self
            .session
            .muc_set_affiliation(room_jid, jid, Affiliation::Member)
            .await
        {
            Ok(()) => self.note_affiliation(rooms, room_jid, jid, Affiliation::Member),
            Err(e) => tracing::debug!(error = %e, "could not grant membership before inviting"),
        }
        self.session
            .muc_direct_invite(room_jid, jid, password.as_ref().map(Secret::expose), reason)
            .await
            .map_err(xmpp)?;
        Ok(())
    }

    /// Records an affiliation we set (the room tells only those present).
    pub(crate) fn note_affiliation(
        &self,
        rooms: &mut Rooms,
        room_jid: &BareJid,
        jid: &BareJid,
        affiliation: Affiliation,
    ) {
        let Some(room) = rooms.get_mut(room_jid) else {
            return;
        };
        match affiliation {
            Affiliation::None => room.affiliated.remove(jid.as_str()),
            other => room
                .affiliated
                .insert(jid.to_string(), other.as_str().to_owned()),
        };
        self.publish(room_jid, room);
    }

    /// Whether the account is in `room` on this stream.
    pub(crate) fn nick_in(rooms: &Rooms, room: &BareJid) -> Option<String> {
        rooms.get(room).map(|r| r.nick.clone())
    }
}
