//! Stanza Content Encryption (XEP-0420) envelopes, as OMEMO 2 encrypts them.
//!
//! Everything that would otherwise travel in clear goes inside `<content/>`: the body,
//! corrections, replies, reactions and out-of-band links. The affix elements bind the envelope
//! to its stanza: on receipt, `from`/`to` that do not match the stanza are rejected.

use minidom::Element;
use rand::{CryptoRng, RngCore};

use super::OmemoError;
use super::wire::xml::{el, name};

mod fast;

/// The SCE namespace.
pub const NS: &str = "urn:xmpp:sce:1";
const NS_CLIENT: &str = "jabber:client";
const NS_CORRECT: &str = "urn:xmpp:message-correct:0";
const NS_REPLY: &str = "urn:xmpp:reply:0";
const NS_REACTIONS: &str = "urn:xmpp:reactions:0";
const NS_OOB: &str = "jabber:x:oob";
const NS_RETRACT: &str = "urn:xmpp:message-retract:1";

/// Longest random padding, in characters.
pub const MAX_RPAD: usize = 200;

/// The message content carried inside an envelope (never in clear).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MessageContent {
    /// `<body/>`.
    pub body: Option<String>,
    /// Id of the message this one corrects (XEP-0308).
    pub replace_id: Option<String>,
    /// The message replied to: (author JID, message id) (XEP-0461).
    pub reply_to: Option<(String, String)>,
    /// Reactions: (message id, emojis) (XEP-0444).
    pub reactions: Option<(String, Vec<String>)>,
    /// Out-of-band link, e.g. an encrypted upload (XEP-0066).
    pub oob_url: Option<String>,
    /// Id of the message this one retracts (XEP-0424).
    pub retract_id: Option<String>,
}

impl MessageContent {
    /// The content elements.
    pub fn to_elements(&self) -> Vec<Element> {
        let mut out = Vec::new();
        if let Some(b) = &self.body {
            out.push(el("body", NS_CLIENT).append(b.as_str()).build());
        }
        if let Some(id) = &self.replace_id {
            out.push(
                el("replace", NS_CORRECT)
                    .attr(name("id"), id.as_str())
                    .build(),
            );
        }
        if let Some((to, id)) = &self.reply_to {
            out.push(
                el("reply", NS_REPLY)
                    .attr(name("to"), to.as_str())
                    .attr(name("id"), id.as_str())
                    .build(),
            );
        }
        if let Some((id, emojis)) = &self.reactions {
            out.push(
                el("reactions", NS_REACTIONS)
                    .attr(name("id"), id.as_str())
                    .append_all(
                        emojis
                            .iter()
                            .map(|r| el("reaction", NS_REACTIONS).append(r.as_str()).build()),
                    )
                    .build(),
            );
        }
        if let Some(id) = &self.retract_id {
            out.push(
                el("retract", NS_RETRACT)
                    .attr(name("id"), id.as_str())
                    .build(),
            );
        }
        if let Some(url) = &self.oob_url {
            out.push(
                el("x", NS_OOB)
                    .append(el("url", NS_OOB).append(url.as_str()).build())
                    .build(),
            );
        }
        out
    }

    /// Reads the known content elements (unknown ones are ignored).
    pub fn from_elements<'a>(elements: impl IntoIterator<Item = &'a Element>) -> Self {
        let mut c = Self::default();
        for e in elements {
            if e.is("body", NS_CLIENT) {
                c.body = Some(e.text());
            } else if e.is("replace", NS_CORRECT) {
                c.replace_id = e.attr("id").map(str::to_owned);
            } else if e.is("reply", NS_REPLY) {
                if let Some(id) = e.attr("id") {
                    c.reply_to = Some((e.attr("to").unwrap_or_default().to_owned(), id.to_owned()));
                }
            } else if e.is("reactions", NS_REACTIONS) {
                if let Some(id) = e.attr("id") {
                    let r = e
                        .children()
                        .filter(|r| r.is("reaction", NS_REACTIONS))
                        .map(Element::text)
                        .collect();
                    c.reactions = Some((id.to_owned(), r));
                }
            } else if e.is("retract", NS_RETRACT) {
                c.retract_id = e.attr("id").map(str::to_owned);
            } else if e.is("x", NS_OOB) {
                c.oob_url = e.get_child("url", NS_OOB).map(Element::text);
            }
        }
        c
    }
}

/// A parsed envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    /// The children of `<content/>`.
    pub content: Vec<Element>,
    /// `<time stamp/>`, if present.
    pub time: Option<String>,
    /// `<to jid/>`, if present.
    pub to: Option<String>,
    /// `<from jid/>`, if present.
    pub from: Option<String>,
}

impl Envelope {
    /// The known message content.
    pub fn message_content(&self) -> MessageContent {
        MessageContent::from_elements(&self.content)
    }
}

/// Builds an envelope with random padding and the `time`, `to` and `from` affixes.
pub fn build<R: RngCore + CryptoRng>(
    content: &[Element],
    from: &str,
    to: &str,
    stamp: &str,
    rng: &mut R,
) -> Element {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    // One draw from the RNG for the whole padding (an OS RNG costs a system call per draw).
    // Length and characters are uniform: rejection sampling on whole bytes.
    let mut pool = [0u8; 2 * (MAX_RPAD + 1)];
    let mut used = pool.len();
    let mut byte = |rng: &mut R, below: usize| loop {
        if used == pool.len() {
            rng.fill_bytes(&mut pool);
            used = 0;
        }
        let b = usize::from(pool[used]);
        used += 1;
        // Largest multiple of `below` that fits in a byte: above it the modulo would be biased.
        if b < 256 - 256 % below {
            return b % below;
        }
    };
    let len = {
        // MAX_RPAD + 1 = 201 lengths; two bytes give 65,536 values, rejected above 65,325.
        let bound = (MAX_RPAD + 1) * (65_536 / (MAX_RPAD + 1));
        loop {
            let hi = byte(rng, 256);
            let lo = byte(rng, 256);
            let v = hi * 256 + lo;
            if v < bound {
                break v % (MAX_RPAD + 1);
            }
        }
    };
    let rpad: String = (0..len)
        .map(|_| char::from(ALPHABET[byte(rng, ALPHABET.len())]))
        .collect();
    el("envelope", NS)
        .append(
            el("content", NS)
                .append_all(content.iter().cloned())
                .build(),
        )
        .append(el("rpad", NS).append(rpad).build())
        .append(el("time", NS).attr(name("stamp"), stamp).build())
        .append(el("to", NS).attr(name("jid"), to).build())
        .append(el("from", NS).attr(name("jid"), from).build())
        .build()
}

/// Serializes an envelope to the bytes OMEMO encrypts.
pub fn to_bytes(envelope: &Element) -> Result<Vec<u8>, OmemoError> {
    let mut out = Vec::new();
    envelope
        .write_to(&mut out)
        .map_err(|_| OmemoError::MalformedXml("envelope"))?;
    Ok(out)
}

/// Parses decrypted bytes as an envelope: the common shape by a strict hand-written parser
/// (see [`parse_fast`]), anything else by minidom ([`parse_minidom`]). Same result either way.
pub fn parse(bytes: &[u8]) -> Result<Envelope, OmemoError> {
    let text = std::str::from_utf8(bytes).map_err(|_| OmemoError::MalformedXml("envelope"))?;
    match fast::parse(text) {
        Some(envelope) => Ok(envelope),
        None => parse_text(text),
    }
}

/// Opens decrypted bytes as a message: [`parse`], [`check_affixes`] against the stanza, the
/// known content read — the same answer as those three steps, with the common envelope shape
/// read straight into the content (no element built, the body moved, not copied).
pub fn open(
    bytes: &[u8],
    stanza_from: &str,
    stanza_to: &str,
) -> Result<MessageContent, OmemoError> {
    let text = std::str::from_utf8(bytes).map_err(|_| OmemoError::MalformedXml("envelope"))?;
    if let Some(parts) = fast::parse_parts(text) {
        check_affix_values(
            parts.from.as_deref(),
            parts.to.as_deref(),
            stanza_from,
            stanza_to,
        )?;
        Ok(MessageContent {
            body: parts.body,
            ..MessageContent::default()
        })
    } else {
        let envelope = parse_text(text)?;
        check_affixes(&envelope, stanza_from, stanza_to)?;
        Ok(envelope.message_content())
    }
}

/// The fast path alone: `Some` only for the common envelope shape (one body, the affixes,
/// plain XML), with exactly the result [`parse_minidom`] gives; `None` for everything else —
/// it never rejects. Public for the differential tests and the fuzz target.
pub fn parse_fast(bytes: &[u8]) -> Option<Envelope> {
    fast::parse(std::str::from_utf8(bytes).ok()?)
}

/// The general path alone: the envelope parsed by minidom. Public for the differential tests
/// and the fuzz target.
pub fn parse_minidom(bytes: &[u8]) -> Result<Envelope, OmemoError> {
    let text = std::str::from_utf8(bytes).map_err(|_| OmemoError::MalformedXml("envelope"))?;
    parse_text(text)
}

/// The deepest envelope minidom is given (counting the `<envelope>` itself as 1; a real one
/// nests 3 or 4 deep). minidom builds and drops its tree recursively: a peer's envelope
/// nesting 20,000 elements (140 KB, within a message) overflowed the stack.
pub const MAX_ENVELOPE_DEPTH: usize = 32;

/// Whether well-formed XML `text` nests elements deeper than `limit`. Tags, attribute values,
/// CDATA sections, comments and processing instructions are told apart, so well-formed XML is
/// never counted shallower than it is (malformed XML is minidom's to refuse).
pub fn nests_deeper_than(text: &str, limit: usize) -> bool {
    let bytes = text.as_bytes();
    let mut depth = 0usize;
    let mut pos = 0;
    let skip_to = |from: usize, end: &[u8]| {
        bytes[from..]
            .windows(end.len())
            .position(|w| w == end)
            .map_or(bytes.len(), |p| from + p + end.len())
    };
    while pos < bytes.len() {
        if bytes[pos] != b'<' {
            pos += 1;
            continue;
        }
        let rest = &bytes[pos..];
        if rest.starts_with(b"<![CDATA[") {
            pos = skip_to(pos + 9, b"]]>");
        } else if rest.starts_with(b"<!--") {
            pos = skip_to(pos + 4, b"-->");
        } else if rest.starts_with(b"<?") {
            pos = skip_to(pos + 2, b"?>");
        } else if rest.starts_with(b"</") {
            depth = depth.saturating_sub(1);
            pos = skip_to(pos + 2, b">");
        } else {
            // A start tag: to its `>`, past quoted attribute values.
            let mut end = pos + 1;
            let mut quote = None;
            let mut empty = false;
            while end < bytes.len() {
                let byte = bytes[end];
                match quote {
                    Some(q) if byte == q => quote = None,
                    None if byte == b'\'' || byte == b'"' => quote = Some(byte),
                    None if byte == b'>' => {
                        empty = bytes[end - 1] == b'/';
                        break;
                    }
                    _ => {}
                }
                end += 1;
            }
            if !empty {
                depth += 1;
                if depth > limit {
                    return true;
                }
            }
            pos = end + 1;
        }
    }
    false
}

fn parse_text(text: &str) -> Result<Envelope, OmemoError> {
    if nests_deeper_than(text, MAX_ENVELOPE_DEPTH) {
        return Err(OmemoError::MalformedXml("envelope nested too deeply"));
    }
    let mut e: Element = text
        .parse()
        .map_err(|_| OmemoError::MalformedXml("envelope"))?;
    if !e.is("envelope", NS) {
        return Err(OmemoError::MalformedXml("envelope"));
    }
    let jid_of = |n: &str| {
        e.get_child(n, NS)
            .and_then(|c| c.attr("jid"))
            .map(str::to_owned)
    };
    let (to, from) = (jid_of("to"), jid_of("from"));
    let time = e
        .get_child("time", NS)
        .and_then(|t| t.attr("stamp"))
        .map(str::to_owned);
    // Moved out of the parsed tree, not copied.
    let content = e
        .remove_child("content", NS)
        .ok_or(OmemoError::MalformedXml("content"))?
        .take_contents_as_children()
        .collect();
    Ok(Envelope {
        content,
        time,
        to,
        from,
    })
}

fn bare(jid: &str) -> String {
    jid.split('/').next().unwrap_or(jid).to_ascii_lowercase()
}

fn matches(affix: &str, stanza: &str) -> bool {
    affix.eq_ignore_ascii_case(stanza) || (!affix.contains('/') && bare(affix) == bare(stanza))
}

/// Checks the affixes against the stanza. `stanza_from` is the sender's JID (for a group chat,
/// the occupant's real JID); `stanza_to` is the JID the sender addressed (our own JID in a
/// one-to-one chat, the room's bare JID in a group chat). `from` must be present and match (bare
/// or full); `to`, when present, must match.
pub fn check_affixes(
    envelope: &Envelope,
    stanza_from: &str,
    stanza_to: &str,
) -> Result<(), OmemoError> {
    check_affix_values(
        envelope.from.as_deref(),
        envelope.to.as_deref(),
        stanza_from,
        stanza_to,
    )
}

fn check_affix_values(
    from: Option<&str>,
    to: Option<&str>,
    stanza_from: &str,
    stanza_to: &str,
) -> Result<(), OmemoError> {
    match from {
        Some(f) if matches(f, stanza_from) => {}
        _ => return Err(OmemoError::EnvelopeMismatch("from")),
    }
    match to {
        Some(t) if !matches(t, stanza_to) => Err(OmemoError::EnvelopeMismatch("to")),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod depth_tests {
    use super::*;

    #[test]
    fn an_envelope_nested_twenty_thousand_deep_is_refused_without_building_it() {
        let n = 20_000;
        let deep = format!(
            "<envelope xmlns='{NS}'><content><x xmlns='urn:example'>{}{}</x></content>\
             <from jid='a@b'/></envelope>",
            "<a>".repeat(n),
            "</a>".repeat(n)
        );
        // Before the bound, minidom's recursive drop overflowed this thread's stack.
        assert!(matches!(
            parse(deep.as_bytes()),
            Err(OmemoError::MalformedXml(_))
        ));
        assert!(open(deep.as_bytes(), "a@b/c", "d@e").is_err());
    }

    #[test]
    fn depth_is_never_counted_short_of_the_real_one() {
        // Markup-looking text in attribute values, CDATA, comments and PIs counts for nothing…
        let tricky = format!(
            "<envelope a='/>' b=\"</x>\"><!-- </a></a> --><![CDATA[</a></a>]]><?p </a>?>{}{}\
             </envelope>",
            "<a>".repeat(40),
            "</a>".repeat(40)
        );
        assert!(nests_deeper_than(&tricky, 40));
        assert!(!nests_deeper_than(&tricky, 41));
        // …and empty elements add no depth.
        assert!(!nests_deeper_than(&"<a/>".repeat(1000), 1));
        // A real envelope of another client's shape passes and parses.
        let real = format!(
            "<envelope xmlns='{NS}'><content><body xmlns='jabber:client'>hi &lt;3</body>\
             <reply xmlns='urn:xmpp:reply:0' id='x'/></content><rpad>abc</rpad>\
             <from jid='a@b'/></envelope>"
        );
        assert!(!nests_deeper_than(&real, MAX_ENVELOPE_DEPTH));
        assert!(parse(real.as_bytes()).is_ok());
    }
}
