//! What Talpa tells others about itself: one nameless `client/pc` identity, only the features
//! it needs, a fixed XEP-0115 caps hash (the same for every install and version), and refusals
//! for software version (XEP-0092), entity time (XEP-0202) and last activity (XEP-0012).

use std::collections::BTreeSet;

use xmpp_parsers::caps::{Caps, compute_disco, hash_caps};
use xmpp_parsers::disco::{DiscoInfoResult, Identity};
use xmpp_parsers::hashes::Algo;

/// The caps node: neutral, it does not name the client.
pub const CAPS_NODE: &str = "urn:xmpp:client";

/// The features Talpa advertises, and nothing else.
pub const FEATURES: &[&str] = &[
    "eu.siacs.conversations.axolotl.devicelist+notify",
    "http://jabber.org/protocol/caps",
    "http://jabber.org/protocol/disco#info",
    "http://jabber.org/protocol/muc",
    "jabber:x:conference",
    "urn:xmpp:bookmarks:1+notify",
    "urn:xmpp:message-correct:0",
    "urn:xmpp:message-retract:1",
    "urn:xmpp:omemo:2:devices+notify",
    "urn:xmpp:ping",
    "urn:xmpp:sid:0",
];

/// Namespaces whose queries are refused with a bare `service-unavailable`.
pub const REFUSED_NAMESPACES: &[&str] = &[
    "jabber:iq:version", // XEP-0092
    "urn:xmpp:time",     // XEP-0202
    "jabber:iq:last",    // XEP-0012
];

/// The disco#info result (without node; see [`disco_info_for_node`]).
pub fn disco_info() -> DiscoInfoResult {
    DiscoInfoResult {
        node: None,
        identities: vec![Identity {
            category: "client".to_owned(),
            type_: "pc".to_owned(),
            lang: None,
            name: None,
        }],
        features: FEATURES
            .iter()
            .map(|f| (*f).to_owned())
            .collect::<BTreeSet<_>>(),
        extensions: Vec::new(),
    }
}

/// The fixed caps verification string (base64 SHA-1 over [`disco_info`]).
pub fn caps_ver() -> String {
    caps_hash().map(|h| h.to_base64()).unwrap_or_default()
}

fn caps_hash() -> Option<xmpp_parsers::hashes::Hash> {
    hash_caps(&compute_disco(&disco_info()), Algo::Sha_1).ok()
}

/// The `<c/>` element for presence.
pub fn caps() -> Option<Caps> {
    caps_hash().map(|h| Caps::new(CAPS_NODE, h))
}

/// The answer to a disco#info query for `node`: `None` (unknown node → item-not-found) unless
/// the node is absent or `CAPS_NODE#ver`.
pub fn disco_info_for_node(node: Option<&str>) -> Option<DiscoInfoResult> {
    match node {
        None => Some(disco_info()),
        Some(n) if n == format!("{CAPS_NODE}#{}", caps_ver()) => {
            let mut d = disco_info();
            d.node = Some(n.to_owned());
            Some(d)
        }
        Some(_) => None,
    }
}

/// Whether an IQ request with this payload namespace is refused outright.
pub fn is_refused_namespace(ns: &str) -> bool {
    REFUSED_NAMESPACES.contains(&ns)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]
mod tests {
    use super::*;
    use base64::Engine;

    fn sha1(data: &[u8]) -> Vec<u8> {
        use xmpp_parsers::sha1::{Digest, Sha1};
        Sha1::digest(data).to_vec()
    }

    #[test]
    fn identity_is_nameless_client_pc() {
        let d = disco_info();
        assert_eq!(d.identities.len(), 1);
        assert_eq!(d.identities[0].category, "client");
        assert_eq!(d.identities[0].type_, "pc");
        assert!(d.identities[0].name.is_none());
        assert!(d.identities[0].lang.is_none());
    }

    #[test]
    fn caps_hash_matches_xep0115_computation_by_hand() {
        // XEP-0115 §5.1: identities "category/type/lang/name<", then sorted features "<".
        let mut s = String::from("client/pc//<");
        let mut f: Vec<&str> = FEATURES.to_vec();
        f.sort_unstable();
        for feat in f {
            s.push_str(feat);
            s.push('<');
        }
        let expected = base64::engine::general_purpose::STANDARD.encode(sha1(s.as_bytes()));
        assert_eq!(caps_ver(), expected);
    }

    #[test]
    fn caps_hash_is_fixed() {
        // The same value for every install and version; changing the feature list changes it
        // on purpose, and then this constant must be updated consciously.
        assert_eq!(caps_ver(), FIXED_CAPS_VER);
    }

    const FIXED_CAPS_VER: &str = "TKh1XuXp60iDXdyDe+NktkLHeN0=";

    #[test]
    fn version_time_and_last_activity_are_refused() {
        assert!(is_refused_namespace("jabber:iq:version"));
        assert!(is_refused_namespace("urn:xmpp:time"));
        assert!(is_refused_namespace("jabber:iq:last"));
        assert!(!is_refused_namespace("urn:xmpp:ping"));
    }

    #[test]
    fn unknown_disco_node_is_not_answered() {
        assert!(disco_info_for_node(Some("http://example.org#abc")).is_none());
        let n = format!("{CAPS_NODE}#{}", caps_ver());
        assert_eq!(
            disco_info_for_node(Some(&n)).unwrap().node.as_deref(),
            Some(n.as_str())
        );
    }
}
