//! A strict fast path for the common SCE envelope shape, tried before minidom.
//!
//! Parsing the envelope with minidom/rxml cost about 9 µs per message, more than the whole
//! cryptography of a decryption. Nearly every envelope has one shape:
//!
//! ```text
//! <envelope xmlns='urn:xmpp:sce:1'><content><body xmlns='jabber:client'>…</body></content>
//!   <rpad>…</rpad><time stamp='…'/><to jid='…'/><from jid='…'/></envelope>
//! ```
//!
//! [`parse`] reads exactly that shape — the affixes and `<content/>` in any order, each at most
//! once, the body and rpad optional, `'` or `"` quoting, the predefined entity and character
//! references, whitespace between elements and inside tags, a redundant
//! `xmlns='urn:xmpp:sce:1'` on the SCE children — and gives up (`None`) on anything else:
//! any other element, attribute, prefix or namespace, comments, CDATA, processing
//! instructions, DOCTYPE, an XML declaration, carriage returns, control characters,
//! non-characters, `]]>`, unknown entities, long references or values, text where only
//! whitespace may be, anything after the root. The caller then parses the same bytes with
//! minidom, which alone decides what is malformed. So this module never rejects and never
//! guesses: what it accepts is a strict subset of well-formed XML, and for it the result is
//! the one minidom gives (proven by the unit tests below, the differential test
//! `tests/omemo_sce_fast.rs` and the `omemo_sce_fast` fuzz target).

use minidom::Element;

use super::{Envelope, NS, NS_CLIENT};

/// Longest attribute value or text taken here (rxml's token limit is 8192 bytes; far below).
const MAX_VALUE: usize = 4096;

/// Parses `text` if it has the common envelope shape; `None` hands it to minidom.
pub(super) fn parse(text: &str) -> Option<Envelope> {
    let mut p = Parser {
        b: text.as_bytes(),
        s: text,
        pos: 0,
    };
    p.envelope()
}

/// The attributes an element may carry here.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Attr {
    /// `xmlns`, with the namespace it must declare.
    Xmlns(&'static str),
    Stamp,
    Jid,
}

struct Parser<'a> {
    b: &'a [u8],
    s: &'a str,
    pos: usize,
}

fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | b'\r')
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.pos).copied()
    }

    fn eat(&mut self, lit: &[u8]) -> bool {
        if self.b[self.pos..].starts_with(lit) {
            self.pos += lit.len();
            true
        } else {
            false
        }
    }

    fn skip_space(&mut self) -> bool {
        let start = self.pos;
        while self.peek().is_some_and(is_space) {
            self.pos += 1;
        }
        self.pos > start
    }

    /// An element or attribute name: up to whitespace, `/`, `>` or `=`.
    fn name(&mut self) -> &[u8] {
        let start = self.pos;
        while self
            .peek()
            .is_some_and(|c| !is_space(c) && !matches!(c, b'/' | b'>' | b'=' | b'<'))
        {
            self.pos += 1;
        }
        &self.b[start..self.pos]
    }

    fn envelope(&mut self) -> Option<Envelope> {
        if !self.eat(b"<envelope") {
            return None;
        }
        let mut xmlns = [None];
        let empty = self.attributes_into(&[("xmlns", Attr::Xmlns(NS))], &mut xmlns)?;
        // The root must declare the SCE namespace itself (nothing above it does), and have
        // `<content/>`.
        if empty || xmlns[0].is_none() {
            return None;
        }
        let mut content = None;
        let (mut time, mut to, mut from, mut rpad) = (None, None, None, false);
        loop {
            self.skip_space();
            if self.eat(b"</") {
                if self.name() != b"envelope" {
                    return None;
                }
                self.skip_space();
                if !self.eat(b">") {
                    return None;
                }
                break;
            }
            if !self.eat(b"<") {
                return None;
            }
            match self.name() {
                b"content" if content.is_none() => content = Some(self.content()?),
                b"rpad" if !rpad => {
                    rpad = true;
                    self.text_element(b"rpad")?;
                }
                b"time" if time.is_none() => time = Some(self.affix(b"time", "stamp")?),
                b"to" if to.is_none() => to = Some(self.affix(b"to", "jid")?),
                b"from" if from.is_none() => from = Some(self.affix(b"from", "jid")?),
                _ => return None,
            }
        }
        // minidom stops at the end of the root; anything after it is left to minidom.
        self.skip_space();
        if self.pos != self.b.len() {
            return None;
        }
        Some(Envelope {
            content: content?,
            time,
            to,
            from,
        })
    }

    /// After `<content`: its children (at most one `<body/>`) up to `</content>`.
    fn content(&mut self) -> Option<Vec<Element>> {
        if self.attributes(&[("xmlns", Attr::Xmlns(NS))])? {
            return Some(Vec::new());
        }
        let mut body = None;
        loop {
            self.skip_space();
            if self.eat(b"</") {
                if self.name() != b"content" {
                    return None;
                }
                self.skip_space();
                if !self.eat(b">") {
                    return None;
                }
                return Some(body.into_iter().collect());
            }
            if body.is_some() || !self.eat(b"<body") || !self.at_name_end() {
                return None;
            }
            let mut attrs = [None];
            let empty = self.attributes_into(&[("xmlns", Attr::Xmlns(NS_CLIENT))], &mut attrs)?;
            // The body must sit in jabber:client, declared on itself.
            attrs[0].as_ref()?;
            let text = if empty {
                String::new()
            } else {
                self.text_until_end(b"body", true)?
            };
            let mut e = Element::bare("body", NS_CLIENT);
            // As minidom records it: the declaration made on the element.
            e.prefixes = String::from(NS_CLIENT).into();
            if !text.is_empty() {
                e.append_text_node(text);
            }
            body = Some(e);
        }
    }

    fn at_name_end(&self) -> bool {
        self.peek()
            .is_some_and(|c| is_space(c) || c == b'/' || c == b'>')
    }

    /// After `<rpad` (or another text-only SCE element): its text, checked and dropped.
    fn text_element(&mut self, name: &[u8]) -> Option<()> {
        if !self.attributes(&[("xmlns", Attr::Xmlns(NS))])? {
            self.text_until_end(name, false)?;
        }
        Some(())
    }

    /// After `<time`/`<to`/`<from`: the one attribute's value; the element must be empty.
    fn affix(&mut self, name: &[u8], attr: &'static str) -> Option<String> {
        let kind = if attr == "stamp" {
            Attr::Stamp
        } else {
            Attr::Jid
        };
        let mut values = [None, None];
        let empty =
            self.attributes_into(&[(attr, kind), ("xmlns", Attr::Xmlns(NS))], &mut values)?;
        if !empty {
            // Only `></name>`: no text, not even whitespace.
            if !self.eat(b"</") || self.name() != name {
                return None;
            }
            self.skip_space();
            if !self.eat(b">") {
                return None;
            }
        }
        let [value, _] = values;
        value
    }

    /// Attributes of an open tag, all of them in `allowed`; returns whether the tag was
    /// self-closing (`/>`) or not (`>`).
    fn attributes(&mut self, allowed: &[(&'static str, Attr)]) -> Option<bool> {
        let mut sink = [None, None, None];
        self.attributes_into(allowed, &mut sink[..allowed.len()])
    }

    /// Like [`Self::attributes`], each value stored at its index in `allowed`. An attribute
    /// twice, one not allowed, or an `xmlns` of another namespace: `None`.
    fn attributes_into(
        &mut self,
        allowed: &[(&'static str, Attr)],
        values: &mut [Option<String>],
    ) -> Option<bool> {
        loop {
            let spaced = self.skip_space();
            if self.eat(b"/>") {
                return Some(true);
            }
            if self.eat(b">") {
                return Some(false);
            }
            if !spaced {
                return None;
            }
            let name = self.name();
            let i = allowed.iter().position(|(n, _)| n.as_bytes() == name)?;
            self.skip_space();
            if !self.eat(b"=") {
                return None;
            }
            self.skip_space();
            let value = self.attribute_value()?;
            if values[i].is_some() {
                return None;
            }
            if let Attr::Xmlns(ns) = allowed[i].1
                && value != ns
            {
                return None;
            }
            values[i] = Some(value);
        }
    }

    /// A quoted attribute value, references resolved. Literal whitespace other than a space
    /// would be normalised by XML; it is left to minidom, as is `<`.
    fn attribute_value(&mut self) -> Option<String> {
        let quote = self.peek().filter(|&q| q == b'\'' || q == b'"')?;
        self.pos += 1;
        let start = self.pos;
        let mut out = String::new();
        let mut plain = self.pos;
        loop {
            let c = self.peek()?;
            if self.pos - start > MAX_VALUE {
                return None;
            }
            match c {
                _ if c == quote => {
                    out.push_str(&self.s[plain..self.pos]);
                    self.pos += 1;
                    return Some(out);
                }
                b'&' => {
                    out.push_str(&self.s[plain..self.pos]);
                    out.push(self.reference()?);
                    plain = self.pos;
                }
                b'<' | b'\t' | b'\n' | b'\r' => return None,
                _ => self.char_ok()?,
            }
        }
    }

    /// Text up to `</name>` (consumed), references resolved; only checked unless `keep`.
    fn text_until_end(&mut self, name: &[u8], keep: bool) -> Option<String> {
        let start = self.pos;
        let mut out = String::new();
        let mut plain = self.pos;
        loop {
            let c = self.peek()?;
            if self.pos - start > MAX_VALUE {
                return None;
            }
            match c {
                b'<' => {
                    if keep {
                        out.push_str(&self.s[plain..self.pos]);
                    }
                    if !self.eat(b"</") || self.name() != name {
                        return None;
                    }
                    self.skip_space();
                    if !self.eat(b">") {
                        return None;
                    }
                    return Some(out);
                }
                b'&' => {
                    let amp = self.pos;
                    let c = self.reference()?;
                    if keep {
                        out.push_str(&self.s[plain..amp]);
                        out.push(c);
                    }
                    plain = self.pos;
                }
                // `]]>` is forbidden in text; a lone `]` is not.
                b']' if self.b[self.pos..].starts_with(b"]]>") => return None,
                b'\r' => return None,
                _ => self.char_ok()?,
            }
        }
    }

    /// Steps over one character of text or attribute value if XML allows it as is: no
    /// control character but tab and newline, no U+FFFE/U+FFFF.
    fn char_ok(&mut self) -> Option<()> {
        let c = self.b[self.pos];
        if c < 0x20 && c != b'\t' && c != b'\n' {
            return None;
        }
        if c == 0xef
            && matches!(
                self.b.get(self.pos + 1..self.pos + 3),
                Some([0xbf, 0xbe | 0xbf])
            )
        {
            return None;
        }
        self.pos += 1;
        Some(())
    }

    /// After `&`: a predefined entity or a short character reference of an allowed character.
    fn reference(&mut self) -> Option<char> {
        self.pos += 1;
        let end = self.b[self.pos..]
            .iter()
            .take(10)
            .position(|&c| c == b';')?
            + self.pos;
        let r = &self.s[self.pos..end];
        self.pos = end + 1;
        let c = match r {
            "lt" => '<',
            "gt" => '>',
            "amp" => '&',
            "quot" => '"',
            "apos" => '\'',
            _ => {
                let (digits, radix) = match r.strip_prefix("#x") {
                    Some(hex) => (hex, 16),
                    None => (r.strip_prefix('#')?, 10),
                };
                let valid = !digits.is_empty()
                    && digits.len() <= 6
                    && digits.bytes().all(|d| match radix {
                        16 => d.is_ascii_hexdigit(),
                        _ => d.is_ascii_digit(),
                    });
                if !valid {
                    return None;
                }
                let c = char::from_u32(u32::from_str_radix(digits, radix).ok()?)?;
                // A character reference may name tab and newline, not other controls (nor CR:
                // left to minidom) and not the non-characters.
                if (c < ' ' && c != '\t' && c != '\n') || matches!(c, '\u{fffe}' | '\u{ffff}') {
                    return None;
                }
                c
            }
        };
        Some(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BODY: &str = "<body xmlns='jabber:client'>hi</body>";

    fn env(inner: &str) -> String {
        format!("<envelope xmlns='urn:xmpp:sce:1'>{inner}</envelope>")
    }

    fn common(body: &str) -> String {
        env(&format!(
            "<content>{body}</content><rpad>abc</rpad><time stamp='2026-11-29T00:00:00Z'/>\
             <to jid='bob@talpa.test'/><from jid='alice@talpa.test'/>"
        ))
    }

    /// The fast path accepts `text` and gives minidom's result, prefixes and all.
    fn same(text: &str) -> Envelope {
        let fast = parse(text).unwrap_or_else(|| panic!("fast path accepts {text}"));
        let slow = super::super::parse_minidom(text.as_bytes())
            .unwrap_or_else(|e| panic!("minidom accepts {text}: {e:?}"));
        assert_eq!(fast, slow, "{text}");
        let ser = |e: &Envelope| e.content.iter().map(String::from).collect::<Vec<_>>();
        assert_eq!(ser(&fast), ser(&slow), "{text}");
        fast
    }

    /// The fast path hands `text` to minidom.
    fn falls_back(text: &str) {
        assert!(parse(text).is_none(), "fast path must fall back on {text}");
    }

    #[test]
    fn common_envelope_is_read_as_minidom_reads_it() {
        let e = same(&common(BODY));
        assert_eq!(e.message_content().body.as_deref(), Some("hi"));
        assert_eq!(e.from.as_deref(), Some("alice@talpa.test"));
        assert_eq!(e.to.as_deref(), Some("bob@talpa.test"));
        assert_eq!(e.time.as_deref(), Some("2026-11-29T00:00:00Z"));
    }

    #[test]
    fn affixes_in_any_order_quoting_and_whitespace_are_accepted() {
        same(&env(&format!(
            "\n  <from jid=\"alice@talpa.test\" />\n  <rpad/>\t<to  jid = 'bob@talpa.test'></to >\
             <content >{BODY}</content >\n<time stamp=\"x\"/>\n"
        )));
        same("<envelope\n xmlns=\"urn:xmpp:sce:1\"\r\n><content/></envelope >\n");
        same(&env(
            "<content xmlns='urn:xmpp:sce:1'/><rpad xmlns='urn:xmpp:sce:1'>x</rpad>",
        ));
        same(&env(&format!(
            "<content>{BODY}</content><time xmlns='urn:xmpp:sce:1' stamp='s'/>"
        )));
    }

    #[test]
    fn optional_parts_may_be_missing_or_empty() {
        let e = same(&env("<content></content>"));
        assert!(e.content.is_empty() && e.from.is_none() && e.to.is_none());
        same(&env("<content><body xmlns='jabber:client'/></content>"));
        same(&env(
            "<content><body xmlns='jabber:client'></body></content>",
        ));
        same(&env(
            "<content>\n <body xmlns='jabber:client'> spaced </body>\n</content><rpad></rpad>",
        ));
    }

    #[test]
    fn references_are_resolved_in_text_and_attributes() {
        let e = same(&common(
            "<body xmlns='jabber:client'>a &lt;b&gt; &amp; &quot;c&apos; &#65;&#x42;&#x1F600;&#9;&#10;]</body>",
        ));
        assert_eq!(
            e.message_content().body.as_deref(),
            Some("a <b> & \"c' AB😀\t\n]")
        );
        let e = same(&env(
            "<content/><from jid='a&amp;b&#64;c&apos;\"'/><to jid=\"&quot;'\"/>",
        ));
        assert_eq!(e.from.as_deref(), Some("a&b@c'\""));
        assert_eq!(e.to.as_deref(), Some("\"'"));
    }

    #[test]
    fn unicode_and_markup_characters_in_text_are_kept() {
        same(&common(
            "<body xmlns='jabber:client'>Grüße — 你好 🦔 > ' \" \u{7f}\u{85}\u{fffd}</body>",
        ));
    }

    #[test]
    fn other_content_children_fall_back() {
        for child in [
            "<replace xmlns='urn:xmpp:message-correct:0' id='x'/>",
            "<reply xmlns='urn:xmpp:reply:0' to='a@b' id='x'/>",
            "<reactions xmlns='urn:xmpp:reactions:0' id='x'><reaction>👍</reaction></reactions>",
            "<x xmlns='jabber:x:oob'><url>https://a</url></x>",
            "<retract xmlns='urn:xmpp:message-retract:1' id='x'/>",
            "<body xmlns='jabber:client'>one</body><body xmlns='jabber:client'>two</body>",
            "<body xmlns='jabber:client' xml:lang='en'>x</body>",
            "<body>no namespace</body>",
            "<body xmlns='urn:other'>x</body>",
            "<c:body xmlns:c='jabber:client'>x</c:body>",
            "<bodyx xmlns='jabber:client'>x</bodyx>",
            "text",
        ] {
            falls_back(&common(child));
        }
    }

    #[test]
    fn unusual_xml_falls_back() {
        for text in [
            format!("<?xml version='1.0'?>{}", common(BODY)),
            format!("\u{feff}{}", common(BODY)),
            format!(" {}", common(BODY)),
            format!("<!DOCTYPE envelope>{}", common(BODY)),
            format!("{}<!-- after -->", common(BODY)),
            format!("{}trailing", common(BODY)),
            common("<!-- c --><body xmlns='jabber:client'>x</body>"),
            common("<body xmlns='jabber:client'><![CDATA[x]]></body>"),
            common("<body xmlns='jabber:client'><?pi x?></body>"),
            common("<body xmlns='jabber:client'>a\r\nb</body>"),
            common("<body xmlns='jabber:client'>a]]>b</body>"),
            common("<body xmlns='jabber:client'>&nbsp;</body>"),
            common("<body xmlns='jabber:client'>&#0;</body>"),
            common("<body xmlns='jabber:client'>&#13;</body>"),
            common("<body xmlns='jabber:client'>&#xFFFE;</body>"),
            common("<body xmlns='jabber:client'>&#x0000041;</body>"),
            common("<body xmlns='jabber:client'>&#xD800;</body>"),
            common("<body xmlns='jabber:client'>a\u{1}b</body>"),
            common("<body xmlns='jabber:client'>\u{ffff}</body>"),
            common("<body xmlns='jabber:client'>a<b/></body>"),
            common("<body xmlns='jabber:client'>unclosed"),
            env("<content/><from jid='a\nb'/>"),
            env("<content/><from jid='a\tb'/>"),
            env("<content/><from jid='a<b'/>"),
            env("<content/><from jid=a/>"),
            env("<content/><from jid='a' jid='b'/>"),
            env("<content/><from jid='a' extra='b'/>"),
            env("<content/><from jid='a'>text</from>"),
            env("<content/><from jid='a'> </from>"),
            env("<content/><from jid='a'/><from jid='b'/>"),
            env("<content/><content/>"),
            env("<content/><rpad/><rpad/>"),
            env("<content/><unknown/>"),
            env("<content/>text"),
            env("<content xmlns='urn:other'/>"),
            env("<rpad/>"),
            "<envelope xmlns='urn:other'><content/></envelope>".to_owned(),
            "<envelope><content/></envelope>".to_owned(),
            "<envelope xmlns='urn:xmpp:sce:1'/>".to_owned(),
            "<envelope xmlns='urn:xmpp:sce:1' xmlns:x='y'><content/></envelope>".to_owned(),
            "<envelope xmlns='urn:xmpp:sce:1'><content/></envelope><x/>".to_owned(),
            "<envelope xmlns='urn:xmpp:sce:1'><content/></other>".to_owned(),
            "<envelope xmlns='urn:xmpp:sce:1'><content/>".to_owned(),
            "<envelopex xmlns='urn:xmpp:sce:1'><content/></envelopex>".to_owned(),
            String::new(),
        ] {
            falls_back(&text);
        }
    }

    #[test]
    fn long_values_fall_back() {
        let long = "a".repeat(MAX_VALUE + 2);
        falls_back(&env(&format!("<content/><from jid='{long}'/>")));
        falls_back(&common(&format!(
            "<body xmlns='jabber:client'>{long}</body>"
        )));
    }
}
