//! XEP-0085 chat state notifications (`active`, `composing`, `paused`, `inactive`, `gone`).
//!
//! Not advertised in disco#info (fixed caps hash); whether a conversation sends them is the
//! core's decision (off by default, `core::activity`), and so is throttling.

use tokio_xmpp::jid::Jid;
use tokio_xmpp::minidom::Element;
use tokio_xmpp::parsers::message::{Message, MessageType};

use super::stanza::elem;

/// XEP-0085 namespace.
pub const NS_CHATSTATES: &str = "http://jabber.org/protocol/chatstates";

/// One chat state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ChatState {
    /// Paying attention to the conversation.
    Active,
    /// Typing.
    Composing,
    /// Stopped typing for a while.
    Paused,
    /// Not looking at the conversation.
    Inactive,
    /// Left the conversation.
    Gone,
}

impl ChatState {
    const ALL: [ChatState; 5] = [
        ChatState::Active,
        ChatState::Composing,
        ChatState::Paused,
        ChatState::Inactive,
        ChatState::Gone,
    ];

    /// The element name (and the name front ends use).
    pub fn name(self) -> &'static str {
        match self {
            ChatState::Active => "active",
            ChatState::Composing => "composing",
            ChatState::Paused => "paused",
            ChatState::Inactive => "inactive",
            ChatState::Gone => "gone",
        }
    }

    /// The state named `name`, if it is one.
    pub fn from_name(name: &str) -> Option<ChatState> {
        Self::ALL.into_iter().find(|s| s.name() == name)
    }

    /// The state element.
    pub fn element(self) -> Element {
        elem(self.name(), NS_CHATSTATES, &[])
    }
}

/// The chat state `payloads` carry, if any.
pub fn state_of(payloads: &[Element]) -> Option<ChatState> {
    payloads
        .iter()
        .filter(|p| p.ns() == NS_CHATSTATES)
        .find_map(|p| ChatState::from_name(p.name()))
}

/// A standalone chat state notification to `to` (bodyless `chat` message).
pub fn notification(to: Jid, state: ChatState) -> Message {
    let mut m = Message::new_with_type(MessageType::Chat, Some(to));
    m.payloads.push(state.element());
    m
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]
mod tests {
    use super::*;

    #[test]
    fn every_state_round_trips_and_unknown_names_are_none() {
        for s in ChatState::ALL {
            assert_eq!(ChatState::from_name(s.name()), Some(s));
            let m = notification(Jid::new("bob@talpa.test").unwrap(), s);
            assert_eq!(state_of(&m.payloads), Some(s));
        }
        assert_eq!(ChatState::from_name("typing"), None);
        assert_eq!(state_of(&[elem("composing", "urn:other", &[])]), None);
    }
}
