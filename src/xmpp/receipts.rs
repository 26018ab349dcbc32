//! XEP-0184 message delivery receipts: the `<request/>` put on outgoing messages, the
//! `<received/>` answer, and reading both from inbound messages.
//!
//! Talpa never advertises `urn:xmpp:receipts` in disco#info (the caps hash is the same for
//! every install, see `privacy::disco`); XEP-0184 §5 lets a client request receipts from a
//! peer whose support it does not know. Whether a conversation uses receipts at all is the
//! core's decision (off by default, `core::activity`).

use tokio_xmpp::jid::Jid;
use tokio_xmpp::minidom::Element;
use tokio_xmpp::parsers::message::{Message, MessageType};

use super::stanza::elem;

/// XEP-0184 namespace.
pub const NS_RECEIPTS: &str = "urn:xmpp:receipts";

/// The `<request/>` an outgoing message carries to ask for a receipt.
pub fn request() -> Element {
    elem("request", NS_RECEIPTS, &[])
}

/// Whether `payloads` ask for a receipt.
pub fn requested(payloads: &[Element]) -> bool {
    payloads.iter().any(|p| p.is("request", NS_RECEIPTS))
}

/// The id a `<received/>` in `payloads` confirms, if any (an empty id confirms nothing).
pub fn received_id(payloads: &[Element]) -> Option<&str> {
    payloads
        .iter()
        .find(|p| p.is("received", NS_RECEIPTS))
        .and_then(|p| p.attr("id"))
        .filter(|id| !id.is_empty())
}

/// The receipt for the message `id` received from `to` (the sender's full JID, so only the
/// device that asked hears of it). A bodyless `chat` message, as XEP-0184 §5 shows it.
pub fn answer(to: Jid, id: &str) -> Message {
    let mut m = Message::new_with_type(MessageType::Chat, Some(to));
    m.payloads
        .push(elem("received", NS_RECEIPTS, &[("id", id)]));
    m
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]
mod tests {
    use super::*;

    fn payloads(xml: &str) -> Vec<Element> {
        let m = Message::try_from(xml.parse::<Element>().unwrap()).unwrap();
        m.payloads
    }

    #[test]
    fn a_request_and_a_receipt_are_read_from_their_namespace_only() {
        let p = payloads(
            "<message xmlns='jabber:client' type='chat'><body>x</body>\
             <request xmlns='urn:xmpp:receipts'/></message>",
        );
        assert!(requested(&p));
        let p = payloads(
            "<message xmlns='jabber:client' type='chat'><request xmlns='urn:other'/>\
             <received xmlns='urn:other' id='a'/></message>",
        );
        assert!(!requested(&p));
        assert_eq!(received_id(&p), None);
        let p = payloads(
            "<message xmlns='jabber:client' type='chat'>\
             <received xmlns='urn:xmpp:receipts' id='m1'/></message>",
        );
        assert_eq!(received_id(&p), Some("m1"));
        let p = payloads(
            "<message xmlns='jabber:client' type='chat'>\
             <received xmlns='urn:xmpp:receipts' id=''/></message>",
        );
        assert_eq!(received_id(&p), None, "an empty id confirms nothing");
    }

    #[test]
    fn receipts_markers_and_chat_states_are_not_advertised_so_the_caps_hash_is_unchanged() {
        for ns in [
            NS_RECEIPTS,
            crate::xmpp::chat_markers::NS_MARKERS,
            crate::xmpp::chat_states::NS_CHATSTATES,
        ] {
            assert!(!crate::privacy::disco::FEATURES.contains(&ns), "{ns}");
        }
    }

    #[test]
    fn the_answer_is_a_bodyless_chat_message_to_the_asking_device() {
        let to = Jid::new("bob@talpa.test/phone").unwrap();
        let m = answer(to.clone(), "m1");
        assert_eq!(m.to, Some(to));
        assert_eq!(m.type_, MessageType::Chat);
        assert!(m.bodies.is_empty());
        assert_eq!(received_id(&m.payloads), Some("m1"));
    }
}
