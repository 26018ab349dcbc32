//! PEP (XEP-0163) publishing and fetching, and XEP-0402 bookmarks on top of it.
//!
//! OMEMO device lists and bundles are published with an `open` access model (so non-contacts
//! in private rooms can fetch them); bookmarks with `whitelist` (only the owner).

use tokio_xmpp::jid::{BareJid, Jid};
use tokio_xmpp::minidom::Element;

use super::error::XmppError;
use super::muc::NS_DATA;
use super::session::Session;
use super::stanza::{NODE_BOOKMARKS, elem, text_elem};

/// XEP-0060 pubsub.
pub const NS_PUBSUB: &str = "http://jabber.org/protocol/pubsub";
/// XEP-0060 pubsub owner use cases (node configuration).
pub const NS_PUBSUB_OWNER: &str = "http://jabber.org/protocol/pubsub#owner";

/// Who may read a PEP node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AccessModel {
    /// Anybody (OMEMO device lists and bundles).
    Open,
    /// Contacts with a presence subscription.
    Presence,
    /// Only the owner (bookmarks).
    Whitelist,
}

impl AccessModel {
    fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Presence => "presence",
            Self::Whitelist => "whitelist",
        }
    }
}

fn publish_options(access: AccessModel, max_items: Option<&str>) -> Element {
    let mut x = elem("x", NS_DATA, &[("type", "submit")]);
    let mut fields = vec![
        (
            "FORM_TYPE",
            "http://jabber.org/protocol/pubsub#publish-options",
        ),
        ("pubsub#access_model", access.as_str()),
        ("pubsub#persist_items", "true"),
    ];
    if let Some(m) = max_items {
        fields.push(("pubsub#max_items", m));
    }
    for (var, value) in fields {
        let mut f = elem("field", NS_DATA, &[("var", var)]);
        f.append_child(text_elem("value", NS_DATA, value));
        x.append_child(f);
    }
    let mut po = elem("publish-options", NS_PUBSUB, &[]);
    po.append_child(x);
    po
}

/// Builds the pubsub publish request (pure; used by [`Session::pep_publish`]).
pub fn publish_request(
    node: &str,
    item_id: Option<&str>,
    payload: Element,
    access: AccessModel,
    max_items: Option<&str>,
) -> Element {
    let mut item = match item_id {
        Some(id) => elem("item", NS_PUBSUB, &[("id", id)]),
        None => elem("item", NS_PUBSUB, &[]),
    };
    item.append_child(payload);
    let mut publish = elem("publish", NS_PUBSUB, &[("node", node)]);
    publish.append_child(item);
    let mut ps = elem("pubsub", NS_PUBSUB, &[]);
    ps.append_child(publish);
    ps.append_child(publish_options(access, max_items));
    ps
}

/// A XEP-0402 bookmark.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bookmark {
    /// The room.
    pub room: BareJid,
    /// Display name.
    pub name: Option<String>,
    /// Join on connect.
    pub autojoin: bool,
    /// Preferred nickname.
    pub nick: Option<String>,
}

/// Parses a bookmarks item (`<item id=room><conference .../></item>`).
pub fn parse_bookmark_item(item: &Element) -> Option<Bookmark> {
    let room = BareJid::new(item.attr("id")?).ok()?;
    let conf = item.get_child("conference", NODE_BOOKMARKS)?;
    Some(Bookmark {
        room,
        name: conf.attr("name").map(str::to_owned),
        autojoin: matches!(conf.attr("autojoin"), Some("true" | "1")),
        nick: conf
            .get_child("nick", NODE_BOOKMARKS)
            .map(Element::text)
            .filter(|n| !n.is_empty()),
    })
}

impl Session {
    /// Publishes `payload` to the own PEP `node` with the given access model.
    pub async fn pep_publish(
        &self,
        node: &str,
        item_id: Option<&str>,
        payload: Element,
        access: AccessModel,
        max_items: Option<&str>,
    ) -> Result<(), XmppError> {
        self.iq(
            None,
            true,
            publish_request(node, item_id, payload, access, max_items),
        )
        .await
        .map(|_| ())
    }

    /// Fetches the items of `owner`'s PEP `node` (own account when `None`): `(id, payload)`.
    pub async fn pep_items(
        &self,
        owner: Option<&BareJid>,
        node: &str,
    ) -> Result<Vec<(Option<String>, Element)>, XmppError> {
        let mut ps = elem("pubsub", NS_PUBSUB, &[]);
        ps.append_child(elem("items", NS_PUBSUB, &[("node", node)]));
        let r = self
            .iq(owner.map(|o| Jid::from(o.clone())), false, ps)
            .await?;
        Ok(r.and_then(|ps| ps.get_child("items", NS_PUBSUB).cloned())
            .map(|items| {
                items
                    .children()
                    .filter(|i| i.is("item", NS_PUBSUB))
                    .filter_map(|i| {
                        i.children()
                            .next()
                            .map(|p| (i.attr("id").map(str::to_owned), p.clone()))
                    })
                    .collect()
            })
            .unwrap_or_default())
    }

    /// Publishes like [`Session::pep_publish`]; when the node exists with another configuration
    /// (`precondition-not-met`, a `conflict` error), reconfigures the node's access model and
    /// publishes again (XEP-0060 §7.1.5, XEP-0384 §5.3.2).
    pub async fn pep_publish_configured(
        &self,
        node: &str,
        item_id: Option<&str>,
        payload: Element,
        access: AccessModel,
        max_items: Option<&str>,
    ) -> Result<(), XmppError> {
        match self
            .pep_publish(node, item_id, payload.clone(), access, max_items)
            .await
        {
            Err(XmppError::IqError(c)) if c == "Conflict" || c.contains("Precondition") => {
                self.pep_configure(node, access, max_items).await?;
                self.pep_publish(node, item_id, payload, access, max_items)
                    .await
            }
            other => other,
        }
    }

    /// Sets the access model (and optionally `max_items`) of the own PEP `node`.
    pub async fn pep_configure(
        &self,
        node: &str,
        access: AccessModel,
        max_items: Option<&str>,
    ) -> Result<(), XmppError> {
        let mut x = elem("x", NS_DATA, &[("type", "submit")]);
        let mut fields = vec![
            ("FORM_TYPE", "http://jabber.org/protocol/pubsub#node_config"),
            ("pubsub#access_model", access.as_str()),
        ];
        if let Some(m) = max_items {
            fields.push(("pubsub#max_items", m));
        }
        for (var, value) in fields {
            let mut f = elem("field", NS_DATA, &[("var", var)]);
            f.append_child(text_elem("value", NS_DATA, value));
            x.append_child(f);
        }
        let mut configure = elem("configure", NS_PUBSUB_OWNER, &[("node", node)]);
        configure.append_child(x);
        let mut ps = elem("pubsub", NS_PUBSUB_OWNER, &[]);
        ps.append_child(configure);
        self.iq(None, true, ps).await.map(|_| ())
    }

    /// Fetches the payload of item `id` of `owner`'s PEP `node`; `None` when the node or item
    /// does not exist.
    pub async fn pep_item(
        &self,
        owner: Option<&BareJid>,
        node: &str,
        id: &str,
    ) -> Result<Option<Element>, XmppError> {
        let mut items = elem("items", NS_PUBSUB, &[("node", node)]);
        items.append_child(elem("item", NS_PUBSUB, &[("id", id)]));
        let mut ps = elem("pubsub", NS_PUBSUB, &[]);
        ps.append_child(items);
        let r = match self
            .iq(owner.map(|o| Jid::from(o.clone())), false, ps)
            .await
        {
            Ok(r) => r,
            Err(XmppError::IqError(c)) if c == "ItemNotFound" => return Ok(None),
            Err(e) => return Err(e),
        };
        Ok(r.and_then(|ps| ps.get_child("items", NS_PUBSUB).cloned())
            .and_then(|items| {
                items
                    .children()
                    .filter(|i| i.is("item", NS_PUBSUB))
                    .find(|i| i.attr("id").is_none_or(|i| i == id))
                    .and_then(|i| i.children().next().cloned())
            }))
    }

    /// Retracts item `id` from the own PEP `node` (with notification).
    pub async fn pep_retract(&self, node: &str, id: &str) -> Result<(), XmppError> {
        let mut retract = elem("retract", NS_PUBSUB, &[("node", node), ("notify", "true")]);
        retract.append_child(elem("item", NS_PUBSUB, &[("id", id)]));
        let mut ps = elem("pubsub", NS_PUBSUB, &[]);
        ps.append_child(retract);
        self.iq(None, true, ps).await.map(|_| ())
    }

    /// All bookmarks (XEP-0402). A missing node means no bookmarks.
    pub async fn bookmarks(&self) -> Result<Vec<Bookmark>, XmppError> {
        let mut ps = elem("pubsub", NS_PUBSUB, &[]);
        ps.append_child(elem("items", NS_PUBSUB, &[("node", NODE_BOOKMARKS)]));
        let r = match self.iq(None, false, ps).await {
            Ok(r) => r,
            Err(XmppError::IqError(c)) if c == "ItemNotFound" => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        Ok(r.and_then(|ps| ps.get_child("items", NS_PUBSUB).cloned())
            .map(|items| {
                items
                    .children()
                    .filter(|i| i.is("item", NS_PUBSUB))
                    .filter_map(parse_bookmark_item)
                    .collect()
            })
            .unwrap_or_default())
    }

    /// Adds or replaces a bookmark (node readable by the owner only).
    pub async fn bookmark_set(&self, b: &Bookmark) -> Result<(), XmppError> {
        let autojoin = if b.autojoin { "true" } else { "false" };
        let mut attrs = vec![("autojoin", autojoin)];
        if let Some(n) = &b.name {
            attrs.push(("name", n.as_str()));
        }
        let mut conf = elem("conference", NODE_BOOKMARKS, &attrs);
        if let Some(nick) = &b.nick {
            conf.append_child(text_elem("nick", NODE_BOOKMARKS, nick));
        }
        self.pep_publish(
            NODE_BOOKMARKS,
            Some(b.room.as_str()),
            conf,
            AccessModel::Whitelist,
            Some("max"),
        )
        .await
    }

    /// Removes the bookmark of `room`.
    pub async fn bookmark_remove(&self, room: &BareJid) -> Result<(), XmppError> {
        self.pep_retract(NODE_BOOKMARKS, room.as_str()).await
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]
mod tests {
    use super::*;

    #[test]
    fn bookmark_item_is_parsed() {
        let item: Element =
            "<item xmlns='http://jabber.org/protocol/pubsub' id='r@rooms.talpa.test'>\
             <conference xmlns='urn:xmpp:bookmarks:1' name='Cell' autojoin='true'>\
             <nick>mole</nick></conference></item>"
                .parse()
                .unwrap();
        let b = parse_bookmark_item(&item).unwrap();
        assert_eq!(b.room.as_str(), "r@rooms.talpa.test");
        assert!(b.autojoin);
        assert_eq!(b.name.as_deref(), Some("Cell"));
        assert_eq!(b.nick.as_deref(), Some("mole"));
    }

    #[test]
    fn publish_request_carries_the_access_model() {
        let xml = String::from(&publish_request(
            "urn:xmpp:omemo:2:devices",
            Some("current"),
            elem("devices", "urn:xmpp:omemo:2", &[]),
            AccessModel::Open,
            None,
        ));
        assert!(xml.contains("pubsub#access_model"));
        assert!(xml.contains(">open<"));
    }
}
