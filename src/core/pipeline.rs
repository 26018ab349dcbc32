//! The inbound pipeline after the xmpp layer's origin checks: classify → dedupe → (decrypt) →
//! store → notify. The classification is pure and tested here; dedupe and storage happen in
//! one store transaction (per message, or per batch of live messages queued together, see
//! `accounts::ingest_batch`) so a crash cannot leave half a message.

use chrono::{DateTime, Utc};
use xmpp_parsers::jid::{BareJid, Jid};
use xmpp_parsers::message::MessageType;

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
    };
    finish(classified, msg)
}

/// Classifies a groupchat message from `room` (already checked to be a room we joined), where
/// our own nickname is `own_nick`. The sender is the occupant's nickname.
pub fn classify_groupchat(msg: &InboundMessage, own_nick: &str) -> Action {
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
    let classified = Classified {
        peer: full.to_bare().to_string(),
        outgoing: nick == own_nick,
        sender: nick,
        body: msg.body.clone(),
        origin_id: msg.origin_id.clone(),
        stanza_id: msg.stanza_id.clone(),
        server_ts: msg.delay.as_ref().map(|d| d.stamp),
        room: true,
    };
    finish(classified, msg)
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
            raw: Message::new(Some(to)),
        }
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
        let mut subject = inbound("room@rooms.talpa.test", "me@talpa.test/r", Some("topic"));
        subject.kind = MessageType::Groupchat;
        assert_eq!(classify_groupchat(&subject, "me"), Action::Ignore);
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
