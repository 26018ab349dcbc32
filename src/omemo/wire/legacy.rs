//! Legacy OMEMO (`eu.siacs.conversations.axolotl`) XML: `<encrypted/>`, device list, bundle.

use minidom::Element;

use super::xml::{b64_el, b64_text, bool_attr, child, el, name, sig64, u32_attr};
use super::{EncryptedElement, EncryptedKey};
use crate::omemo::OmemoError;
use crate::omemo::keys::CurvePublic;
use crate::omemo::x3dh::{IdentityKey, PreKeyBundle};

/// The legacy namespace.
pub const NS: &str = "eu.siacs.conversations.axolotl";
/// PEP node of the device list.
pub const DEVICELIST_NODE: &str = "eu.siacs.conversations.axolotl.devicelist";

/// PEP node of a device's bundle.
pub fn bundle_node(device_id: u32) -> String {
    format!("eu.siacs.conversations.axolotl.bundles:{device_id}")
}

/// Builds `<encrypted xmlns='eu.siacs.conversations.axolotl'>`.
pub fn build_encrypted(msg: &EncryptedElement) -> Element {
    let mut header = el("header", NS).attr(name("sid"), msg.sid.to_string());
    for k in &msg.keys {
        let mut key = b64_el("key", NS, &k.data).attr(name("rid"), k.rid.to_string());
        if k.key_exchange {
            key = key.attr(name("prekey"), "true");
        }
        header = header.append(key.build());
    }
    header = header.append(b64_el("iv", NS, &msg.iv).build());
    let mut enc = el("encrypted", NS).append(header.build());
    if let Some(p) = &msg.payload {
        enc = enc.append(b64_el("payload", NS, p).build());
    }
    enc.build()
}

/// Parses `<encrypted xmlns='eu.siacs.conversations.axolotl'>`.
pub fn parse_encrypted(e: &Element) -> Result<EncryptedElement, OmemoError> {
    if !e.is("encrypted", NS) {
        return Err(OmemoError::MalformedXml("encrypted"));
    }
    let header = child(e, "header", NS, "header")?;
    let sid = u32_attr(header, "sid", "header sid")?;
    let iv = b64_text(child(header, "iv", NS, "iv")?, "iv")?;
    let keys = header
        .children()
        .filter(|c| c.is("key", NS))
        .map(|k| {
            Ok(EncryptedKey {
                jid: None,
                rid: u32_attr(k, "rid", "key rid")?,
                key_exchange: bool_attr(k, "prekey"),
                data: b64_text(k, "key")?,
            })
        })
        .collect::<Result<Vec<_>, OmemoError>>()?;
    let payload = e
        .get_child("payload", NS)
        .map(|p| b64_text(p, "payload"))
        .transpose()?;
    Ok(EncryptedElement {
        sid,
        keys,
        iv,
        payload,
    })
}

/// Builds the device list `<list><device id/>…</list>`.
pub fn build_device_list(ids: &[u32]) -> Element {
    el("list", NS)
        .append_all(
            ids.iter()
                .map(|id| el("device", NS).attr(name("id"), id.to_string()).build()),
        )
        .build()
}

/// Parses the device list; entries without a valid id are skipped.
pub fn parse_device_list(e: &Element) -> Result<Vec<u32>, OmemoError> {
    if !e.is("list", NS) {
        return Err(OmemoError::MalformedXml("list"));
    }
    Ok(e.children()
        .filter(|c| c.is("device", NS))
        .filter_map(|d| u32_attr(d, "id", "device id").ok())
        .collect())
}

/// Builds `<bundle/>`.
pub fn build_bundle(b: &PreKeyBundle) -> Result<Element, OmemoError> {
    let ik = b.identity.curve()?;
    Ok(el("bundle", NS)
        .append(
            b64_el("signedPreKeyPublic", NS, &b.signed_prekey.to_djb())
                .attr(name("signedPreKeyId"), b.signed_prekey_id.to_string())
                .build(),
        )
        .append(b64_el("signedPreKeySignature", NS, &b.signed_prekey_signature).build())
        .append(b64_el("identityKey", NS, &ik.to_djb()).build())
        .append(
            el("prekeys", NS)
                .append_all(b.prekeys.iter().map(|(id, pk)| {
                    b64_el("preKeyPublic", NS, &pk.to_djb())
                        .attr(name("preKeyId"), id.to_string())
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
    let spk = child(e, "signedPreKeyPublic", NS, "signedPreKeyPublic")?;
    let prekeys = child(e, "prekeys", NS, "prekeys")?
        .children()
        .filter(|c| c.is("preKeyPublic", NS))
        .filter_map(|p| {
            Some((
                u32_attr(p, "preKeyId", "preKeyId").ok()?,
                CurvePublic::from_djb(&b64_text(p, "preKeyPublic").ok()?).ok()?,
            ))
        })
        .collect();
    Ok(PreKeyBundle {
        identity: IdentityKey::Curve(CurvePublic::from_djb(&b64_text(
            child(e, "identityKey", NS, "identityKey")?,
            "identityKey",
        )?)?),
        signed_prekey_id: u32_attr(spk, "signedPreKeyId", "signedPreKeyId")?,
        signed_prekey: CurvePublic::from_djb(&b64_text(spk, "signedPreKeyPublic")?)?,
        signed_prekey_signature: sig64(
            child(e, "signedPreKeySignature", NS, "signedPreKeySignature")?,
            "signedPreKeySignature",
        )?,
        prekeys,
    })
}
