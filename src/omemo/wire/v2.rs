//! OMEMO 2 (`urn:xmpp:omemo:2`) XML: `<encrypted/>` grouped per JID, devices, bundles.

use std::collections::HashMap;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use minidom::Element;

use super::xml::{b64_el, b64_text, bool_attr, child, el, name, push_escaped, sig64, u32_attr};
use super::{EncryptedElement, EncryptedKey};
use crate::omemo::OmemoError;
use crate::omemo::keys::{CurvePublic, EdPublic};
use crate::omemo::x3dh::{IdentityKey, PreKeyBundle};

/// The OMEMO 2 namespace.
pub const NS: &str = "urn:xmpp:omemo:2";
/// PEP node of the device list.
pub const DEVICES_NODE: &str = "urn:xmpp:omemo:2:devices";
/// PEP node of the bundles (one item per device id).
pub const BUNDLES_NODE: &str = "urn:xmpp:omemo:2:bundles";

/// The keys grouped by JID (legacy-style keys without one under `""`), groups in order of
/// their first appearance. One pass with an index, not a scan of all keys per JID.
fn key_groups(msg: &EncryptedElement) -> Vec<(&str, Vec<&EncryptedKey>)> {
    let mut groups: Vec<(&str, Vec<&EncryptedKey>)> = Vec::new();
    let mut index: HashMap<&str, usize> = HashMap::new();
    for k in &msg.keys {
        let j = k.jid.as_deref().unwrap_or("");
        let i = *index.entry(j).or_insert_with(|| {
            groups.push((j, Vec::new()));
            groups.len() - 1
        });
        groups[i].1.push(k);
    }
    groups
}

/// Builds `<encrypted xmlns='urn:xmpp:omemo:2'>`, grouping keys by JID in order of appearance.
pub fn build_encrypted(msg: &EncryptedElement) -> Element {
    let mut header = el("header", NS).attr(name("sid"), msg.sid.to_string());
    for (j, keys) in key_groups(msg) {
        let keys = keys.into_iter().map(|k| {
            let mut key = b64_el("key", NS, &k.data).attr(name("rid"), k.rid.to_string());
            if k.key_exchange {
                key = key.attr(name("kex"), "true");
            }
            key.build()
        });
        header = header.append(el("keys", NS).attr(name("jid"), j).append_all(keys).build());
    }
    let mut enc = el("encrypted", NS).append(header.build());
    if let Some(p) = &msg.payload {
        enc = enc.append(b64_el("payload", NS, p).build());
    }
    enc.build()
}

/// The element [`build_encrypted`] builds, written straight to XML text: no element tree and
/// no second serialization, which for a message to a hundred devices costs more than the
/// encryption itself. Parses to the same element.
pub fn encrypted_xml(msg: &EncryptedElement) -> String {
    use std::fmt::Write as _;
    let key_bytes: usize = msg.keys.iter().map(|k| k.data.len() * 4 / 3 + 40).sum();
    let payload_bytes = msg.payload.as_ref().map_or(0, |p| p.len() * 4 / 3 + 40);
    let mut out = String::with_capacity(128 + key_bytes + payload_bytes);
    // Writing to a String cannot fail.
    let _ = write!(out, "<encrypted xmlns='{NS}'><header sid='{}'>", msg.sid);
    for (j, keys) in key_groups(msg) {
        out.push_str("<keys jid='");
        push_escaped(&mut out, j);
        out.push_str("'>");
        for k in keys {
            let _ = write!(out, "<key rid='{}'", k.rid);
            if k.key_exchange {
                out.push_str(" kex='true'");
            }
            out.push('>');
            STANDARD.encode_string(&k.data, &mut out);
            out.push_str("</key>");
        }
        out.push_str("</keys>");
    }
    out.push_str("</header>");
    if let Some(p) = &msg.payload {
        out.push_str("<payload>");
        STANDARD.encode_string(p, &mut out);
        out.push_str("</payload>");
    }
    out.push_str("</encrypted>");
    out
}

/// Parses `<encrypted xmlns='urn:xmpp:omemo:2'>`.
pub fn parse_encrypted(e: &Element) -> Result<EncryptedElement, OmemoError> {
    if !e.is("encrypted", NS) {
        return Err(OmemoError::MalformedXml("encrypted"));
    }
    let header = child(e, "header", NS, "header")?;
    let sid = u32_attr(header, "sid", "header sid")?;
    let mut keys = Vec::new();
    for group in header.children().filter(|c| c.is("keys", NS)) {
        let jid = group
            .attr("jid")
            .ok_or(OmemoError::MalformedXml("keys jid"))?;
        for k in group.children().filter(|c| c.is("key", NS)) {
            keys.push(EncryptedKey {
                jid: Some(jid.to_owned()),
                rid: u32_attr(k, "rid", "key rid")?,
                key_exchange: bool_attr(k, "kex"),
                data: b64_text(k, "key")?,
            });
        }
    }
    let payload = e
        .get_child("payload", NS)
        .map(|p| b64_text(p, "payload"))
        .transpose()?;
    Ok(EncryptedElement {
        sid,
        keys,
        iv: Vec::new(),
        payload,
    })
}

/// Builds `<devices><device id/>…</devices>`.
pub fn build_device_list(ids: &[u32]) -> Element {
    el("devices", NS)
        .append_all(
            ids.iter()
                .map(|id| el("device", NS).attr(name("id"), id.to_string()).build()),
        )
        .build()
}

/// Parses `<devices/>`; entries without a valid id are skipped.
pub fn parse_device_list(e: &Element) -> Result<Vec<u32>, OmemoError> {
    if !e.is("devices", NS) {
        return Err(OmemoError::MalformedXml("devices"));
    }
    Ok(e.children()
        .filter(|c| c.is("device", NS))
        .filter_map(|d| u32_attr(d, "id", "device id").ok())
        .collect())
}

/// Builds `<bundle/>` (published as item `device id` of [`BUNDLES_NODE`]).
pub fn build_bundle(b: &PreKeyBundle) -> Result<Element, OmemoError> {
    let IdentityKey::Ed(ik) = b.identity else {
        return Err(OmemoError::InvalidPublicKey);
    };
    Ok(el("bundle", NS)
        .append(
            b64_el("spk", NS, &b.signed_prekey.0)
                .attr(name("id"), b.signed_prekey_id.to_string())
                .build(),
        )
        .append(b64_el("spks", NS, &b.signed_prekey_signature).build())
        .append(b64_el("ik", NS, &ik.0).build())
        .append(
            el("prekeys", NS)
                .append_all(b.prekeys.iter().map(|(id, pk)| {
                    b64_el("pk", NS, &pk.0)
                        .attr(name("id"), id.to_string())
                        .build()
                }))
                .build(),
        )
        .build())
}

/// Parses `<bundle/>` (the signature is verified when a session is started from it).
pub fn parse_bundle(e: &Element) -> Result<PreKeyBundle, OmemoError> {
    if !e.is("bundle", NS) {
        return Err(OmemoError::MalformedXml("bundle"));
    }
    let spk = child(e, "spk", NS, "spk")?;
    let prekeys = child(e, "prekeys", NS, "prekeys")?
        .children()
        .filter(|c| c.is("pk", NS))
        .filter_map(|p| {
            Some((
                u32_attr(p, "id", "pk id").ok()?,
                CurvePublic::from_slice(&b64_text(p, "pk").ok()?).ok()?,
            ))
        })
        .collect();
    Ok(PreKeyBundle {
        identity: IdentityKey::Ed(EdPublic::from_slice(&b64_text(
            child(e, "ik", NS, "ik")?,
            "ik",
        )?)?),
        signed_prekey_id: u32_attr(spk, "id", "spk id")?,
        signed_prekey: CurvePublic::from_slice(&b64_text(spk, "spk")?)?,
        signed_prekey_signature: sig64(child(e, "spks", NS, "spks")?, "spks")?,
        prekeys,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(jid: &str, rid: u32, kex: bool, data: &[u8]) -> EncryptedKey {
        EncryptedKey {
            jid: Some(jid.to_owned()),
            rid,
            key_exchange: kex,
            data: data.to_vec(),
        }
    }

    #[test]
    fn encrypted_xml_text_is_the_built_element_and_parses_back() {
        let msg = EncryptedElement {
            sid: 42,
            keys: vec![
                key("b@s", 1, false, b"one"),
                key("a'&<\"x>@s", 2, true, &[0xff; 70]),
                key("b@s", 3, false, b""),
            ],
            iv: Vec::new(),
            payload: Some(vec![7; 33]),
        };
        for m in [
            msg.clone(),
            EncryptedElement {
                payload: None,
                ..msg.clone()
            },
        ] {
            let parsed: Element = encrypted_xml(&m).parse().expect("well-formed XML");
            let built: Element = String::from(&build_encrypted(&m)).parse().expect("XML");
            assert_eq!(parsed, built);
            // Parsed back in group order.
            let mut grouped = m.clone();
            grouped.keys.swap(1, 2);
            assert_eq!(parse_encrypted(&parsed), Ok(grouped));
            // Keys grouped per JID, groups in order of first appearance.
            let header = parsed.get_child("header", NS).expect("header");
            let groups: Vec<_> = header.children().filter_map(|g| g.attr("jid")).collect();
            assert_eq!(groups, ["b@s", "a'&<\"x>@s"]);
        }
    }
}
