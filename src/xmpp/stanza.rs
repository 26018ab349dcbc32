//! Stanza building blocks: namespaces, small element builders, and parsing of inbound messages
//! into [`InboundMessage`] (pure, testable without a network).

use chrono::{DateTime, Utc};
use tokio_xmpp::jid::{BareJid, Jid};
use tokio_xmpp::minidom::Element;
use tokio_xmpp::minidom::rxml::NcName;
use tokio_xmpp::parsers::message::{Message, MessageType};

use super::origin::{DelayStamp, clamp_delay, stanza_id_trusted};

/// XEP-0280 carbons.
pub const NS_CARBONS: &str = "urn:xmpp:carbons:2";
/// XEP-0297 forwarding.
pub const NS_FORWARD: &str = "urn:xmpp:forward:0";
/// XEP-0313 MAM.
pub const NS_MAM: &str = "urn:xmpp:mam:2";
/// XEP-0059 result set management.
pub const NS_RSM: &str = "http://jabber.org/protocol/rsm";
/// XEP-0359 stanza and origin ids.
pub const NS_SID: &str = "urn:xmpp:sid:0";
/// XEP-0203 delayed delivery.
pub const NS_DELAY: &str = "urn:xmpp:delay";
/// XEP-0308 last message correction.
pub const NS_CORRECT: &str = "urn:xmpp:message-correct:0";
/// XEP-0424 message retraction.
pub const NS_RETRACT: &str = "urn:xmpp:message-retract:1";
/// XEP-0428 fallback indication.
pub const NS_FALLBACK: &str = "urn:xmpp:fallback:0";
/// XEP-0334 processing hints.
pub const NS_HINTS: &str = "urn:xmpp:hints";
/// RFC 6121 roster.
pub const NS_ROSTER: &str = "jabber:iq:roster";
/// XEP-0191 blocking.
pub const NS_BLOCKING: &str = "urn:xmpp:blocking";
/// XEP-0199 ping.
pub const NS_PING: &str = "urn:xmpp:ping";
/// XEP-0030 disco#info.
pub const NS_DISCO_INFO: &str = "http://jabber.org/protocol/disco#info";
/// XEP-0060 pubsub events.
pub const NS_PUBSUB_EVENT: &str = "http://jabber.org/protocol/pubsub#event";
/// The default stanza namespace.
pub const NS_CLIENT: &str = "jabber:client";
/// XEP-0402 bookmarks node.
pub const NODE_BOOKMARKS: &str = "urn:xmpp:bookmarks:1";

/// Builds `<name xmlns=ns attr=value.../>`.
pub fn elem(name: &str, ns: &str, attrs: &[(&str, &str)]) -> Element {
    let mut b = Element::builder(name, ns);
    for (k, v) in attrs {
        if let Ok(n) = NcName::try_from(*k) {
            b = b.attr(n, (*v).to_owned());
        }
    }
    b.build()
}

/// XEP-0066 out-of-band data.
pub const NS_OOB: &str = "jabber:x:oob";

/// `<x xmlns='jabber:x:oob'><url>url</url></x>` (XEP-0066), sent with a shared file's URL.
pub fn oob_element(url: &str) -> Element {
    Element::builder("x", NS_OOB)
        .append(text_elem("url", NS_OOB, url))
        .build()
}

/// The URL of a message's XEP-0066 out-of-band data: the text of the `<url/>` of its one
/// `<x xmlns='jabber:x:oob'/>`. `None` when there is none, or when several `<x/>` or several
/// `<url/>` leave it unclear which URL is meant.
pub fn oob_url_of(payloads: &[Element]) -> Option<String> {
    /// The one item of `items`; `None` when there is none or more than one.
    fn only<T>(mut items: impl Iterator<Item = T>) -> Option<T> {
        let first = items.next()?;
        items.next().is_none().then_some(first)
    }
    let x = only(payloads.iter().filter(|p| p.is("x", NS_OOB)))?;
    only(x.children().filter(|c| c.is("url", NS_OOB))).map(Element::text)
}

/// Builds `<name xmlns=ns>text</name>`.
pub fn text_elem(name: &str, ns: &str, text: &str) -> Element {
    Element::builder(name, ns).append(text.to_owned()).build()
}

/// A delay (XEP-0203) as received, after clamping.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DelayInfo {
    /// The (possibly clamped) stamp.
    pub stamp: DateTime<Utc>,
    /// True when the received stamp was absurd or unparsable and replaced by "now".
    pub clamped: bool,
}

impl From<DelayStamp> for DelayInfo {
    fn from(d: DelayStamp) -> Self {
        Self {
            stamp: d.stamp,
            clamped: d.clamped,
        }
    }
}

/// A message as the layers above see it. The raw [`Message`] stays available for OMEMO, MUC
/// and other payloads.
#[derive(Clone, Debug)]
pub struct InboundMessage {
    /// Sender.
    pub from: Option<Jid>,
    /// Recipient.
    pub to: Option<Jid>,
    /// The stanza id attribute.
    pub id: Option<String>,
    /// chat / groupchat / normal / headline / error.
    pub kind: MessageType,
    /// The body (language-neutral or first), if any.
    pub body: Option<String>,
    /// XEP-0359 origin-id set by the sender.
    pub origin_id: Option<String>,
    /// XEP-0359 stanza-id, only when `by` is the own account or the room (trusted for dedup).
    pub stanza_id: Option<String>,
    /// XEP-0203 delay, clamped.
    pub delay: Option<DelayInfo>,
    /// XEP-0308: id of the message this one corrects.
    pub replaces: Option<String>,
    /// XEP-0424: id of the message this one retracts.
    pub retracts: Option<String>,
    /// XEP-0066: the URL of its one out-of-band `<x/>` (see [`oob_url_of`]); unauthenticated
    /// beside an encrypted body.
    pub oob_url: Option<String>,
    /// The whole message.
    pub raw: Message,
}

/// Parses a delay child of `parent`, if any.
pub fn delay_of(parent: &[Element], now: DateTime<Utc>) -> Option<DelayInfo> {
    parent
        .iter()
        .find(|e| e.is("delay", NS_DELAY))
        .map(|d| clamp_delay(d.attr("stamp").unwrap_or(""), now).into())
}

/// Turns a received message into an [`InboundMessage`]; the stanza-id is kept only when it
/// was stamped by the own account (or, for groupchat, the sending room).
pub fn parse_inbound(msg: Message, own: &BareJid, now: DateTime<Utc>) -> InboundMessage {
    let room = if msg.type_ == MessageType::Groupchat {
        msg.from.as_ref().map(Jid::to_bare)
    } else {
        None
    };
    let mut origin_id = None;
    let mut stanza_id = None;
    let mut replaces = None;
    let mut retracts = None;
    for p in &msg.payloads {
        if p.is("origin-id", NS_SID) {
            origin_id = p.attr("id").map(str::to_owned);
        } else if p.is("stanza-id", NS_SID) {
            let by = p.attr("by").and_then(|b| Jid::new(b).ok());
            if by.is_some_and(|by| stanza_id_trusted(&by, own, room.as_ref())) {
                stanza_id = p.attr("id").map(str::to_owned);
            }
        } else if p.is("replace", NS_CORRECT) {
            replaces = p.attr("id").map(str::to_owned);
        } else if p.is("retract", NS_RETRACT) {
            retracts = p.attr("id").map(str::to_owned);
        }
    }
    let body = msg
        .bodies
        .get(&tokio_xmpp::parsers::message::Lang::new())
        .or_else(|| msg.bodies.values().next())
        .cloned();
    InboundMessage {
        from: msg.from.clone(),
        to: msg.to.clone(),
        id: msg.id.as_ref().map(|i| i.0.clone()),
        kind: msg.type_.clone(),
        body,
        origin_id,
        stanza_id,
        delay: delay_of(&msg.payloads, now),
        replaces,
        retracts,
        oob_url: oob_url_of(&msg.payloads),
        raw: msg,
    }
}

/// Extracts `(forwarded message, delay)` from a `<forwarded/>` element.
pub fn unwrap_forwarded(
    forwarded: &Element,
    now: DateTime<Utc>,
) -> Option<(Message, Option<DelayInfo>)> {
    let inner = forwarded.get_child("message", NS_CLIENT)?;
    let msg = Message::try_from(inner.clone()).ok()?;
    let children: Vec<Element> = forwarded.children().cloned().collect();
    Some((msg, delay_of(&children, now)))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]
mod tests {
    use super::*;

    fn parse(xml: &str) -> Message {
        Message::try_from(xml.parse::<Element>().unwrap()).unwrap()
    }

    #[test]
    fn stanza_id_from_own_server_is_kept_and_forged_one_dropped() {
        let own = BareJid::new("alice@talpa.test").unwrap();
        let m = parse(
            "<message xmlns='jabber:client' from='bob@talpa.test/x' type='chat'><body>hi</body>\
             <stanza-id xmlns='urn:xmpp:sid:0' id='good' by='alice@talpa.test'/>\
             <origin-id xmlns='urn:xmpp:sid:0' id='o1'/></message>",
        );
        let i = parse_inbound(m, &own, Utc::now());
        assert_eq!(i.stanza_id.as_deref(), Some("good"));
        assert_eq!(i.origin_id.as_deref(), Some("o1"));
        assert_eq!(i.body.as_deref(), Some("hi"));
        let m = parse(
            "<message xmlns='jabber:client' from='bob@talpa.test/x' type='chat'>\
             <stanza-id xmlns='urn:xmpp:sid:0' id='forged' by='bob@talpa.test'/></message>",
        );
        assert_eq!(parse_inbound(m, &own, Utc::now()).stanza_id, None);
    }

    #[test]
    fn groupchat_stanza_id_trusted_only_from_the_room() {
        let own = BareJid::new("alice@talpa.test").unwrap();
        let m = parse(
            "<message xmlns='jabber:client' from='room@rooms.talpa.test/bob' type='groupchat'>\
             <stanza-id xmlns='urn:xmpp:sid:0' id='r1' by='room@rooms.talpa.test'/></message>",
        );
        assert_eq!(
            parse_inbound(m, &own, Utc::now()).stanza_id.as_deref(),
            Some("r1")
        );
    }

    #[test]
    fn correction_and_retraction_ids_are_extracted() {
        let own = BareJid::new("alice@talpa.test").unwrap();
        let m = parse(
            "<message xmlns='jabber:client' from='bob@talpa.test/x' type='chat'><body>fixed</body>\
             <replace xmlns='urn:xmpp:message-correct:0' id='m1'/></message>",
        );
        assert_eq!(
            parse_inbound(m, &own, Utc::now()).replaces.as_deref(),
            Some("m1")
        );
        let m = parse(
            "<message xmlns='jabber:client' from='bob@talpa.test/x' type='chat'>\
             <retract xmlns='urn:xmpp:message-retract:1' id='m2'/></message>",
        );
        assert_eq!(
            parse_inbound(m, &own, Utc::now()).retracts.as_deref(),
            Some("m2")
        );
    }

    #[test]
    fn only_one_unambiguous_oob_url_is_taken() {
        let own = BareJid::new("alice@talpa.test").unwrap();
        let oob = |payload: &str| {
            let m = parse(&format!(
                "<message xmlns='jabber:client' from='bob@talpa.test/x' type='chat'>\
                 <body>https://h/f</body>{payload}</message>"
            ));
            parse_inbound(m, &own, Utc::now()).oob_url
        };
        assert_eq!(
            oob("<x xmlns='jabber:x:oob'><url>https://h/f</url></x>").as_deref(),
            Some("https://h/f")
        );
        assert_eq!(oob(""), None);
        assert_eq!(oob("<x xmlns='jabber:x:oob'/>"), None);
        assert_eq!(
            oob("<x xmlns='jabber:x:oob'><url>https://h/f</url></x>\
                 <x xmlns='jabber:x:oob'><url>https://h/g</url></x>"),
            None
        );
        assert_eq!(
            oob("<x xmlns='jabber:x:oob'><url>https://h/f</url><url>https://h/g</url></x>"),
            None
        );
        assert_eq!(oob("<x xmlns='other'><url>https://h/f</url></x>"), None);
    }
}
