//! XEP-0333 chat markers: the `<markable/>` put on outgoing messages, the `<displayed/>`
//! marker, and reading it from inbound messages. Only `displayed` is used (Talpa sends
//! neither `received` nor `acknowledged`; XEP-0184 receipts say "delivered").
//!
//! Not advertised in disco#info (fixed caps hash); whether a conversation uses markers is
//! the core's decision (off by default, `core::activity`).

use tokio_xmpp::jid::Jid;
use tokio_xmpp::minidom::Element;
use tokio_xmpp::parsers::message::{Message, MessageType};

use super::stanza::elem;

/// XEP-0333 namespace.
pub const NS_MARKERS: &str = "urn:xmpp:chat-markers:0";

/// The `<markable/>` an outgoing message carries so the peer may mark it displayed.
pub fn markable() -> Element {
    elem("markable", NS_MARKERS, &[])
}

/// The id a `<displayed/>` marker in `payloads` points at, if any.
pub fn displayed_id(payloads: &[Element]) -> Option<&str> {
    payloads
        .iter()
        .find(|p| p.is("displayed", NS_MARKERS))
        .and_then(|p| p.attr("id"))
        .filter(|id| !id.is_empty())
}

/// The `displayed` marker for the message `id` (and, by XEP-0333's rule, every one before
/// it) of the conversation with `to`.
pub fn displayed(to: Jid, id: &str) -> Message {
    let mut m = Message::new_with_type(MessageType::Chat, Some(to));
    m.payloads
        .push(elem("displayed", NS_MARKERS, &[("id", id)]));
    m
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]
mod tests {
    use super::*;

    #[test]
    fn a_displayed_marker_round_trips_and_other_markers_are_not_displayed() {
        let m = displayed(Jid::new("bob@talpa.test").unwrap(), "m7");
        assert!(m.bodies.is_empty());
        assert_eq!(displayed_id(&m.payloads), Some("m7"));
        let other = vec![elem("received", NS_MARKERS, &[("id", "m7")])];
        assert_eq!(displayed_id(&other), None);
        let foreign = vec![elem("displayed", "urn:other", &[("id", "m7")])];
        assert_eq!(displayed_id(&foreign), None);
    }
}
