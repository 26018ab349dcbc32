//! Which characters XML 1.0 (and so XMPP) can carry in text and attribute values.
//!
//! Every Unicode scalar value is allowed except the C0 controls other than tab, newline and
//! carriage return, and the non-characters U+FFFE and U+FFFF. Text typed or pasted by the user
//! is checked before it goes into a stanza (a clear error, the text kept in the composer), and
//! text that reached Talpa outside XML (a legacy OMEMO payload is raw bytes) is made safe
//! before anything serialises it again.

use std::borrow::Cow;

/// Whether XML 1.0 allows `c` in text and attribute values.
pub fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

/// The first character of `text` XML cannot carry, if any.
pub fn first_invalid(text: &str) -> Option<char> {
    text.chars().find(|&c| !is_xml_char(c))
}

/// `text` with every character XML cannot carry replaced by U+FFFD (borrowed when there is
/// none, the common case).
pub fn replace_invalid(text: &str) -> Cow<'_, str> {
    if first_invalid(text).is_none() {
        return Cow::Borrowed(text);
    }
    Cow::Owned(
        text.chars()
            .map(|c| if is_xml_char(c) { c } else { '\u{FFFD}' })
            .collect(),
    )
}

/// A user-facing description of `c`, e.g. `U+0007`.
pub fn describe(c: char) -> String {
    format!("U+{:04X}", u32::from(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tab_newline_return_and_ordinary_text_are_allowed() {
        for text in [
            "plain",
            "tab\there",
            "two\nlines",
            "cr\r\n",
            "emoji 🦫",
            "\u{FFFD}",
        ] {
            assert_eq!(first_invalid(text), None, "{text:?}");
            assert!(matches!(replace_invalid(text), Cow::Borrowed(_)));
        }
    }

    #[test]
    fn controls_and_the_two_non_characters_are_refused() {
        for c in [
            '\0', '\u{7}', '\u{B}', '\u{C}', '\u{1B}', '\u{1F}', '\u{FFFE}', '\u{FFFF}',
        ] {
            let text = format!("a{c}b");
            assert_eq!(first_invalid(&text), Some(c));
            assert_eq!(replace_invalid(&text), "a\u{FFFD}b");
        }
        assert_eq!(describe('\u{7}'), "U+0007");
        assert_eq!(describe('\u{FFFE}'), "U+FFFE");
    }

    #[test]
    fn every_allowed_character_serialises_through_minidom() {
        // The rule must agree with the XML writer the stanzas go through: an allowed character
        // never makes it fail, whichever plane it is in.
        for c in [
            '\t',
            '\n',
            ' ',
            '~',
            '\u{7F}',
            '\u{85}',
            '\u{D7FF}',
            '\u{E000}',
            '\u{FFFD}',
            '\u{10000}',
            '\u{10FFFF}',
        ] {
            assert!(is_xml_char(c));
            let el = minidom::Element::builder("body", "jabber:client")
                .append(format!("x{c}y"))
                .build();
            let mut out = Vec::new();
            el.write_to(&mut out).expect("allowed characters serialise");
            let text = std::str::from_utf8(&out).expect("the writer writes UTF-8");
            let back: minidom::Element = text.parse().expect("what was written parses back");
            assert_eq!(back.text(), format!("x{c}y"), "{c:?}");
        }
    }
}
