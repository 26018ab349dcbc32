//! Small minidom helpers shared by both versions' XML codecs.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use minidom::rxml::NcName;
use minidom::{Element, ElementBuilder};

use crate::omemo::OmemoError;

/// An attribute name from a static, valid XML name.
pub(crate) fn name(n: &'static str) -> NcName {
    NcName::try_from(n).expect("static XML names are valid NCNames")
}

/// Builder for `<name xmlns=ns/>`.
pub(crate) fn el(n: &str, ns: &str) -> ElementBuilder {
    Element::builder(n, ns)
}

/// `<name xmlns=ns>base64(data)</name>`.
pub(crate) fn b64_el(n: &str, ns: &str, data: &[u8]) -> ElementBuilder {
    Element::builder(n, ns).append(STANDARD.encode(data))
}

/// The base64-decoded text of an element (whitespace tolerated).
pub(crate) fn b64_text(e: &Element, what: &'static str) -> Result<Vec<u8>, OmemoError> {
    let t: String = e
        .text()
        .chars()
        .filter(|c| !c.is_ascii_whitespace())
        .collect();
    STANDARD
        .decode(t)
        .map_err(|_| OmemoError::MalformedXml(what))
}

/// A required child element.
pub(crate) fn child<'a>(
    e: &'a Element,
    n: &str,
    ns: &str,
    what: &'static str,
) -> Result<&'a Element, OmemoError> {
    e.get_child(n, ns).ok_or(OmemoError::MalformedXml(what))
}

/// A required unsigned-int attribute.
pub(crate) fn u32_attr(e: &Element, n: &str, what: &'static str) -> Result<u32, OmemoError> {
    e.attr(n)
        .and_then(|v| v.trim().parse().ok())
        .ok_or(OmemoError::MalformedXml(what))
}

/// An `xs:boolean` attribute (absent = false).
pub(crate) fn bool_attr(e: &Element, n: &str) -> bool {
    matches!(e.attr(n), Some("true" | "1"))
}

/// A 64-byte signature from base64 text.
pub(crate) fn sig64(e: &Element, what: &'static str) -> Result<[u8; 64], OmemoError> {
    <[u8; 64]>::try_from(b64_text(e, what)?.as_slice()).map_err(|_| OmemoError::MalformedXml(what))
}

/// Appends `text` escaped for XML character data or a quoted attribute value.
pub(crate) fn push_escaped(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\'' => out.push_str("&apos;"),
            '"' => out.push_str("&quot;"),
            c => out.push(c),
        }
    }
}
