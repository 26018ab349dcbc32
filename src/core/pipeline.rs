//! The inbound pipeline after the xmpp layer's origin checks: classify → dedupe → (decrypt) →
//! store → notify. The classification is pure and tested here; dedupe and storage happen in
//! one store transaction, so a crash cannot leave half a message. 1:1 messages already queued
//! behind one another (a burst) are decrypted one by one, in order, then stored together in one
//! transaction of up to 256 (`Store::batch`); each is announced to the front ends only after
//! that transaction committed (core/accounts.rs, `ingest_batch`).

use std::collections::HashSet;
use std::hash::BuildHasher;

use chrono::{DateTime, Utc};
use xmpp_parsers::jid::{BareJid, Jid};
use xmpp_parsers::message::MessageType;

use crate::store::MessageEncryption;
use crate::xmpp::stanza::InboundMessage;

/// Where an inbound message came from, which decides its direction and conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// Live from the server.
    Live,
    /// A carbon of a message another of our clients received.
    CarbonReceived,
    /// A carbon of a message another of our clients sent.
    CarbonSent,
    /// From the own archive (MAM).
    Archive,
}

/// What to do with one inbound message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// A new chat message to store and show.
    Store(Classified),
    /// A correction (XEP-0308) of the message with this id.
    Correct {
        /// The message.
        message: Classified,
        /// The corrected message's id (origin-id or stanza id).
        target: String,
    },
    /// A retraction (XEP-0424) of the message with this id.
    Retract {
        /// The conversation and sender.
        message: Classified,
        /// The retracted message's id.
        target: String,
    },
    /// Nothing to keep (no body, errors, headlines, chat states …).
    Ignore,
}

/// A message reduced to what the store keeps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Classified {
    /// The conversation's peer (bare JID).
    pub peer: String,
    /// Whether we sent it.
    pub outgoing: bool,
    /// The sender's bare JID.
    pub sender: String,
    /// Its text.
    pub body: Option<String>,
    /// XEP-0359 origin-id (or the stanza id when absent, for dedupe of resends).
    pub origin_id: Option<String>,
    /// Trusted stanza-id (by the own account).
    pub stanza_id: Option<String>,
    /// Server time claimed by a delay (clamped by the xmpp layer).
    pub server_ts: Option<DateTime<Utc>>,
    /// Whether the conversation is a room (the stanza-id was stamped by the room).
    pub room: bool,
    /// XEP-0421 occupant-id stamped by the room: corrections and retractions in a room are
    /// accepted only from the same occupant-id as the original.
    pub occupant_id: Option<String>,
    /// How it travelled (set after decryption; `None` for plaintext).
    pub encryption: MessageEncryption,
    /// The URL of its XEP-0066 out-of-band data, for a plaintext message only (beside an
    /// encrypted body it is unauthenticated, so [`Action::with_encryption`] drops it).
    pub oob_url: Option<String>,
}

/// Whether `jid` is on the block list: the bare JID itself, or its whole domain.
pub fn is_blocked<S: BuildHasher>(jid: &BareJid, blocked: &HashSet<BareJid, S>) -> bool {
    blocked.contains(jid)
        || blocked
            .iter()
            .any(|b| b.node().is_none() && b.domain() == jid.domain())
}

/// The block stage: a message whose sender is blocked (XEP-0191) is dropped even when the
/// server let it through (an archive from before the block, a server without blocking).
pub fn from_blocked<S: BuildHasher>(msg: &InboundMessage, blocked: &HashSet<BareJid, S>) -> bool {
    !blocked.is_empty()
        && msg
            .from
            .as_ref()
            .is_some_and(|f| is_blocked(&f.to_bare(), blocked))
}

/// Where an archived message goes in its conversation's order (`ts`, then arrival).
///
/// Archive stamps often have whole-second precision while messages seen live carry the local
/// clock in milliseconds, so a message the archive holds *after* one already stored can carry
/// an earlier stamp within the same second and would sort before it. Catch-up runs in archive
/// order after everything already stored, so an archived message with a whole-second `stamp`
/// is never put before a stored message of that same second: it takes the latest stored time
/// of that second (`stored_ms`, in ms), and the tie is broken by arrival — archive order.
pub fn archive_order_ts(stamp: DateTime<Utc>, stored_ms: &[i64]) -> DateTime<Utc> {
    if stamp.timestamp_subsec_millis() != 0 {
        return stamp;
    }
    let second = stamp.timestamp_millis()..stamp.timestamp_millis() + 1000;
    stored_ms
        .iter()
        .copied()
        .filter(|t| second.contains(t))
        .max()
        .and_then(DateTime::from_timestamp_millis)
        .unwrap_or(stamp)
}

/// Classifies a 1:1 message. Groupchat is handled by the room pipeline.
pub fn classify(
    own: &BareJid,
    msg: &InboundMessage,
    source: Source,
    archive_ts: Option<DateTime<Utc>>,
) -> Action {
    if !matches!(msg.kind, MessageType::Chat | MessageType::Normal) {
        return Action::Ignore;
    }
    let from = msg.from.as_ref().map(Jid::to_bare);
    let to = msg.to.as_ref().map(Jid::to_bare);
    let outgoing = match source {
        Source::CarbonSent => true,
        Source::CarbonReceived | Source::Live => false,
        Source::Archive => from.as_ref().is_none_or(|f| f == own),
    };
    let peer = if outgoing { to } else { from.clone() };
    let Some(peer) = peer else {
        return Action::Ignore;
    };
    if !outgoing && peer == *own && source == Source::Live {
        // A message from ourselves to ourselves arrives as a carbon or a reflection; the live
        // copy carries nothing new.
        return Action::Ignore;
    }
    let sender = if outgoing {
        own.to_string()
    } else {
        peer.to_string()
    };
    let classified = Classified {
        peer: peer.to_string(),
        outgoing,
        sender,
        body: msg.body.clone(),
        origin_id: msg.origin_id.clone().or_else(|| msg.id.clone()),
        stanza_id: msg.stanza_id.clone(),
        server_ts: archive_ts.or_else(|| msg.delay.as_ref().map(|d| d.stamp)),
        room: false,
        occupant_id: None,
        encryption: MessageEncryption::None,
        oob_url: msg.oob_url.clone(),
    };
    finish(classified, msg)
}

/// Classifies a groupchat message from `room` (already checked to be a room we joined), where
/// our own nickname is `own_nick`. The sender is the occupant's nickname.
pub fn classify_groupchat(msg: &InboundMessage, own_nick: &str) -> Action {
    classify_groupchat_from(msg, own_nick, None)
}

/// Like [`classify_groupchat`], knowing our own occupant-id (XEP-0421) in the room: where the
/// room stamps occupant-ids, a message is ours only when it carries our occupant-id, so
/// someone who takes our old nick after we left (or while we were away, as the archive shows)
/// is not shown as us.
pub fn classify_groupchat_from(
    msg: &InboundMessage,
    own_nick: &str,
    own_occupant_id: Option<&str>,
) -> Action {
    if msg.kind != MessageType::Groupchat {
        return Action::Ignore;
    }
    let Some(from) = msg.from.as_ref() else {
        return Action::Ignore;
    };
    let Ok(full) = from.clone().try_into_full() else {
        // A message from the room itself (subject, status) is not chat history.
        return Action::Ignore;
    };
    let nick = full.resource().as_str().to_owned();
    let occupant_id = crate::xmpp::muc::occupant_id_of(&msg.raw.payloads);
    let outgoing = match (own_occupant_id, occupant_id.as_deref()) {
        (Some(mine), Some(theirs)) => mine == theirs,
        _ => nick == own_nick,
    };
    let classified = Classified {
        peer: full.to_bare().to_string(),
        outgoing,
        sender: nick,
        body: msg.body.clone(),
        origin_id: msg.origin_id.clone().or_else(|| msg.id.clone()),
        stanza_id: msg.stanza_id.clone(),
        server_ts: msg.delay.as_ref().map(|d| d.stamp),
        room: true,
        occupant_id,
        encryption: MessageEncryption::None,
        oob_url: msg.oob_url.clone(),
    };
    finish(classified, msg)
}

/// Classifies a private message from a room occupant (`room@service/nick`, a room we are in).
/// It lives in a conversation of its own whose peer is the occupant JID — never the
/// occupant's real JID, which the room may not even show, and never a look-alike of a
/// contact's conversation.
pub fn classify_muc_pm(msg: &InboundMessage) -> Action {
    if !matches!(msg.kind, MessageType::Chat | MessageType::Normal) {
        return Action::Ignore;
    }
    let Some(Ok(full)) = msg.from.clone().map(Jid::try_into_full) else {
        return Action::Ignore;
    };
    let classified = Classified {
        peer: full.to_string(),
        outgoing: false,
        sender: full.resource().as_str().to_owned(),
        body: msg.body.clone(),
        origin_id: msg.origin_id.clone().or_else(|| msg.id.clone()),
        stanza_id: None,
        server_ts: msg.delay.as_ref().map(|d| d.stamp),
        room: false,
        occupant_id: crate::xmpp::muc::occupant_id_of(&msg.raw.payloads),
        encryption: MessageEncryption::None,
        oob_url: msg.oob_url.clone(),
    };
    finish(classified, msg)
}

impl Action {
    /// Marks the message as having travelled with `encryption`.
    #[must_use]
    pub fn with_encryption(mut self, encryption: MessageEncryption) -> Self {
        match &mut self {
            Action::Store(c)
            | Action::Correct { message: c, .. }
            | Action::Retract { message: c, .. } => {
                c.encryption = encryption;
                if encryption != MessageEncryption::None {
                    c.oob_url = None;
                }
            }
            Action::Ignore => {}
        }
        self
    }
}

fn finish(classified: Classified, msg: &InboundMessage) -> Action {
    if let Some(target) = &msg.retracts {
        return Action::Retract {
            message: classified,
            target: target.clone(),
        };
    }
    if classified.body.as_deref().is_none_or(str::is_empty) {
        return Action::Ignore;
    }
    if let Some(target) = &msg.replaces {
        return Action::Correct {
            message: classified,
            target: target.clone(),
        };
    }
    Action::Store(classified)
}

#[cfg(test)]
mod tests {
    use super::*;
    use xmpp_parsers::message::Message;

    fn own() -> BareJid {
        BareJid::new("me@talpa.test").expect("jid")
    }

    fn inbound(from: &str, to: &str, body: Option<&str>) -> InboundMessage {
        let from = Jid::new(from).expect("from");
        let to = Jid::new(to).expect("to");
        InboundMessage {
            from: Some(from.clone()),
            to: Some(to.clone()),
            id: Some("id1".into()),
            kind: MessageType::Chat,
            body: body.map(str::to_owned),
            origin_id: Some("o1".into()),
            stanza_id: None,
            delay: None,
            replaces: None,
            retracts: None,
            oob_url: None,
            raw: Message::new(Some(to)),
        }
    }

    #[test]
    fn out_of_band_url_is_kept_for_plaintext_and_dropped_beside_an_encrypted_body() {
        let mut m = inbound("bob@talpa.test/x", "me@talpa.test/y", Some("https://h/f"));
        m.oob_url = Some("https://h/f".into());
        let Action::Store(c) = classify(&own(), &m, Source::Live, None) else {
            panic!("stored");
        };
        assert_eq!(c.oob_url.as_deref(), Some("https://h/f"));
        let Action::Store(c) =
            classify(&own(), &m, Source::Live, None).with_encryption(MessageEncryption::Omemo2)
        else {
            panic!("stored");
        };
        assert_eq!(c.oob_url, None);
    }

    #[test]
    fn live_chat_from_a_contact_is_stored_in_the_contacts_conversation() {
        let m = inbound("bob@talpa.test/x", "me@talpa.test/y", Some("hi"));
        let Action::Store(c) = classify(&own(), &m, Source::Live, None) else {
            panic!("not stored")
        };
        assert_eq!(c.peer, "bob@talpa.test");
        assert!(!c.outgoing);
        assert_eq!(c.origin_id.as_deref(), Some("o1"));
    }

    #[test]
    fn sent_carbon_belongs_to_the_recipients_conversation_as_outgoing() {
        let m = inbound("me@talpa.test/other", "bob@talpa.test", Some("hi"));
        let Action::Store(c) = classify(&own(), &m, Source::CarbonSent, None) else {
            panic!("not stored")
        };
        assert_eq!(c.peer, "bob@talpa.test");
        assert!(c.outgoing);
        assert_eq!(c.sender, "me@talpa.test");
    }

    #[test]
    fn archived_own_message_is_outgoing() {
        let m = inbound("me@talpa.test/x", "bob@talpa.test", Some("hi"));
        let Action::Store(c) = classify(&own(), &m, Source::Archive, None) else {
            panic!("not stored")
        };
        assert!(c.outgoing);
        assert_eq!(c.peer, "bob@talpa.test");
    }

    #[test]
    fn bodyless_and_groupchat_messages_are_not_chat_history() {
        let m = inbound("bob@talpa.test/x", "me@talpa.test", None);
        assert_eq!(classify(&own(), &m, Source::Live, None), Action::Ignore);
        let mut g = inbound("room@rooms.talpa.test/nick", "me@talpa.test", Some("x"));
        g.kind = MessageType::Groupchat;
        assert_eq!(classify(&own(), &g, Source::Live, None), Action::Ignore);
    }

    #[test]
    fn groupchat_sender_is_the_nick_and_own_nick_is_outgoing() {
        let mut g = inbound(
            "room@rooms.talpa.test/ann",
            "me@talpa.test/r",
            Some("hi all"),
        );
        g.kind = MessageType::Groupchat;
        let Action::Store(c) = classify_groupchat(&g, "me") else {
            panic!("not stored")
        };
        assert_eq!(c.peer, "room@rooms.talpa.test");
        assert_eq!(c.sender, "ann");
        assert!(!c.outgoing && c.room);
        let Action::Store(c) = classify_groupchat(&g, "ann") else {
            panic!("not stored")
        };
        assert!(c.outgoing);
        // Our old nick, someone else's occupant-id: not ours.
        let mut taken = g.clone();
        taken.raw.payloads.push(
            "<occupant-id xmlns='urn:xmpp:occupant-id:0' id='theirs'/>"
                .parse()
                .expect("xml"),
        );
        let Action::Store(c) = classify_groupchat_from(&taken, "ann", Some("mine")) else {
            panic!("not stored")
        };
        assert!(!c.outgoing, "a nick is not an identity");
        assert_eq!(c.occupant_id.as_deref(), Some("theirs"));
        let Action::Store(c) = classify_groupchat_from(&taken, "other", Some("theirs")) else {
            panic!("not stored")
        };
        assert!(c.outgoing, "our occupant-id under another nick is us");
        let mut pm = inbound("room@rooms.talpa.test/ann", "me@talpa.test/r", Some("psst"));
        pm.kind = MessageType::Chat;
        let Action::Store(c) = classify_muc_pm(&pm) else {
            panic!("not stored")
        };
        assert_eq!(
            c.peer, "room@rooms.talpa.test/ann",
            "an occupant, not a real JID"
        );
        assert_eq!(c.sender, "ann");
        let mut subject = inbound("room@rooms.talpa.test", "me@talpa.test/r", Some("topic"));
        subject.kind = MessageType::Groupchat;
        assert_eq!(classify_groupchat(&subject, "me"), Action::Ignore);
    }

    #[test]
    fn an_archived_message_stamped_in_whole_seconds_never_sorts_before_a_stored_one_of_that_second()
    {
        let stamp = DateTime::from_timestamp(1_700_000_000, 0).expect("time");
        let ms = stamp.timestamp_millis();
        // A message sent live at .800 is already stored; the archive's answer came after it
        // but is stamped .000.
        let placed = archive_order_ts(stamp, &[ms - 5_000, ms + 800]);
        assert_eq!(
            placed.timestamp_millis(),
            ms + 800,
            "ties with it, arrival decides"
        );
        // Nothing stored in that second: the stamp stands.
        assert_eq!(archive_order_ts(stamp, &[ms - 1, ms + 1000]), stamp);
        // A stamp with sub-second precision is exact and kept.
        let precise = DateTime::from_timestamp(1_700_000_000, 250_000_000).expect("time");
        assert_eq!(archive_order_ts(precise, &[ms + 800]), precise);
    }

    #[test]
    fn messages_from_a_blocked_jid_or_domain_are_dropped() {
        let mut blocked = HashSet::new();
        let m = inbound("mallory@evil.test/x", "me@talpa.test/r", Some("hi"));
        assert!(!from_blocked(&m, &blocked), "nothing blocked yet");
        blocked.insert(BareJid::new("mallory@evil.test").expect("jid"));
        assert!(from_blocked(&m, &blocked));
        let other = inbound("eve@evil.test/x", "me@talpa.test/r", Some("hi"));
        assert!(!from_blocked(&other, &blocked), "only that JID");
        blocked.insert(BareJid::new("evil.test").expect("jid"));
        assert!(from_blocked(&other, &blocked), "the whole domain");
        let friend = inbound("bob@talpa.test/x", "me@talpa.test/r", Some("hi"));
        assert!(!from_blocked(&friend, &blocked));
    }

    #[test]
    fn corrections_and_retractions_are_recognised() {
        let mut m = inbound("bob@talpa.test/x", "me@talpa.test", Some("fixed"));
        m.replaces = Some("o0".into());
        assert!(matches!(
            classify(&own(), &m, Source::Live, None),
            Action::Correct { .. }
        ));
        let mut r = inbound("bob@talpa.test/x", "me@talpa.test", None);
        r.retracts = Some("o0".into());
        assert!(matches!(
            classify(&own(), &r, Source::Live, None),
            Action::Retract { .. }
        ));
    }
}
