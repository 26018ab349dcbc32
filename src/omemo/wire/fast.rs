//! A borrowing fast path for the OMEMO 2 ratchet message, tried before prost.
//!
//! Every `OMEMOAuthenticatedMessage` a conforming sender writes has one layout: field 1 (the
//! MAC), field 2 (the serialized `OMEMOMessage`), each once, in that order; and the
//! `OMEMOMessage` inside it field 1 (`n`), 2 (`pn`), 3 (`dh_pub`) and optionally 4 (the
//! ciphertext), likewise. [`parse`] reads exactly that layout, returning slices of the input
//! (prost's decoding copies each field into its own vector), and gives up (`None`) on anything
//! else: another field, order or wire type, a field twice, a varint longer than five bytes or
//! above `u32::MAX`, a length past the end, bytes after the last field. The caller then decodes
//! the same bytes with prost, which alone decides what is malformed. So this never rejects:
//! what it accepts, prost accepts with the same values (proven by the unit tests below, the
//! differential test in `tests/omemo_core.rs` and the `omemo_v2_message` fuzz target, all
//! against [`parse_prost`]).

/// The fields of an `OMEMOAuthenticatedMessage` and the `OMEMOMessage` inside it, borrowed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct V2MessageParts<'a> {
    /// `OMEMOAuthenticatedMessage.mac`.
    pub mac: &'a [u8],
    /// `OMEMOAuthenticatedMessage.message`: the bytes the MAC covers.
    pub message: &'a [u8],
    /// `OMEMOMessage.n`.
    pub n: u32,
    /// `OMEMOMessage.pn`.
    pub pn: u32,
    /// `OMEMOMessage.dh_pub`.
    pub dh_pub: &'a [u8],
    /// `OMEMOMessage.ciphertext` (empty when absent).
    pub ciphertext: &'a [u8],
}

/// Field keys (field number << 3 | wire type) of the one layout read here.
const AUTH_MAC: u8 = 1 << 3 | 2;
const AUTH_MESSAGE: u8 = 2 << 3 | 2;
const MSG_N: u8 = 1 << 3;
const MSG_PN: u8 = 2 << 3;
const MSG_DH_PUB: u8 = 3 << 3 | 2;
const MSG_CIPHERTEXT: u8 = 4 << 3 | 2;

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    /// The next byte, if it is `key`.
    fn key(&mut self, key: u8) -> Option<()> {
        let (&first, rest) = self.0.split_first()?;
        if first != key {
            return None;
        }
        self.0 = rest;
        Some(())
    }

    /// A varint of at most five bytes whose value fits in a `u32` (prost reads longer ones and
    /// truncates them to 32 bits: those are left to it).
    fn varint32(&mut self) -> Option<u32> {
        let mut value = 0u64;
        for (i, &byte) in self.0.iter().take(5).enumerate() {
            value |= u64::from(byte & 0x7f) << (7 * i);
            if byte < 0x80 {
                self.0 = &self.0[i + 1..];
                return u32::try_from(value).ok();
            }
        }
        None
    }

    /// A length-delimited field's bytes.
    fn bytes(&mut self) -> Option<&'a [u8]> {
        let len = usize::try_from(self.varint32()?).ok()?;
        if len > self.0.len() {
            return None;
        }
        let (field, rest) = self.0.split_at(len);
        self.0 = rest;
        Some(field)
    }
}

/// Reads `bytes` if it has the one layout; `None` hands it to prost.
pub fn parse(bytes: &[u8]) -> Option<V2MessageParts<'_>> {
    let mut a = Reader(bytes);
    a.key(AUTH_MAC)?;
    let mac = a.bytes()?;
    a.key(AUTH_MESSAGE)?;
    let message = a.bytes()?;
    if !a.0.is_empty() {
        return None;
    }
    let mut m = Reader(message);
    m.key(MSG_N)?;
    let n = m.varint32()?;
    m.key(MSG_PN)?;
    let pn = m.varint32()?;
    m.key(MSG_DH_PUB)?;
    let dh_pub = m.bytes()?;
    let ciphertext = if m.0.is_empty() {
        &[][..]
    } else {
        m.key(MSG_CIPHERTEXT)?;
        let c = m.bytes()?;
        if !m.0.is_empty() {
            return None;
        }
        c
    };
    Some(V2MessageParts {
        mac,
        message,
        n,
        pn,
        dh_pub,
        ciphertext,
    })
}

/// The same fields, owned: what prost decodes, for comparing the two paths.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct V2MessageFields {
    /// `OMEMOAuthenticatedMessage.mac`.
    pub mac: Vec<u8>,
    /// `OMEMOAuthenticatedMessage.message`.
    pub message: Vec<u8>,
    /// `OMEMOMessage.n`.
    pub n: u32,
    /// `OMEMOMessage.pn`.
    pub pn: u32,
    /// `OMEMOMessage.dh_pub`.
    pub dh_pub: Vec<u8>,
    /// `OMEMOMessage.ciphertext` (empty when absent).
    pub ciphertext: Vec<u8>,
}

impl From<V2MessageParts<'_>> for V2MessageFields {
    fn from(p: V2MessageParts<'_>) -> Self {
        Self {
            mac: p.mac.to_vec(),
            message: p.message.to_vec(),
            n: p.n,
            pn: p.pn,
            dh_pub: p.dh_pub.to_vec(),
            ciphertext: p.ciphertext.to_vec(),
        }
    }
}

/// The general path alone: both messages decoded by prost (`None` where prost refuses).
/// Public for the differential tests and the fuzz target.
pub fn parse_prost(bytes: &[u8]) -> Option<V2MessageFields> {
    use prost::Message;
    let a = super::proto::OmemoAuthenticatedMessage::decode(bytes).ok()?;
    let m = super::proto::OmemoMessage::decode(a.message.as_slice()).ok()?;
    Some(V2MessageFields {
        mac: a.mac,
        message: a.message,
        n: m.n,
        pn: m.pn,
        dh_pub: m.dh_pub,
        ciphertext: m.ciphertext.unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    use prost::Message;

    use super::*;
    use crate::omemo::wire::proto::{OmemoAuthenticatedMessage, OmemoMessage};

    fn framed(n: u32, pn: u32, ciphertext: Option<Vec<u8>>) -> Vec<u8> {
        OmemoAuthenticatedMessage {
            mac: vec![0xaa; 16],
            message: OmemoMessage {
                n,
                pn,
                dh_pub: vec![7; 32],
                ciphertext,
            }
            .encode_to_vec(),
        }
        .encode_to_vec()
    }

    #[test]
    fn prost_encoded_messages_are_read_with_prost_values() {
        for (n, pn, ct) in [
            (0, 0, Some(vec![1; 48])),
            (1, 0, None),
            (300, 127, Some(Vec::new())),
            (u32::MAX, u32::MAX, Some(vec![9; 200])),
        ] {
            let bytes = framed(n, pn, ct);
            let p = parse(&bytes).expect("the layout prost writes");
            assert_eq!(Some(V2MessageFields::from(p)), parse_prost(&bytes));
        }
    }

    #[test]
    fn other_layouts_fall_back() {
        let good = framed(5, 2, Some(vec![3; 16]));
        let msg = OmemoAuthenticatedMessage::decode(good.as_slice())
            .expect("prost")
            .message;
        let auth = |message: &[u8]| {
            OmemoAuthenticatedMessage {
                mac: vec![0xaa; 16],
                message: message.to_vec(),
            }
            .encode_to_vec()
        };
        let mut cases: Vec<Vec<u8>> = vec![
            Vec::new(),
            good[..good.len() - 1].to_vec(),
            [&good[..], &[0]].concat(),
            // Fields swapped, repeated, unknown.
            [&good[18..], &good[..18]].concat(),
            [&good[..18], &good[..]].concat(),
            [&[0x18, 1][..], &good[..]].concat(),
            // Non-canonical: n as a six-byte varint, n above u32::MAX.
            auth(&[&[0x08, 0x85, 0x80, 0x80, 0x80, 0x80, 0x00][..], &msg[2..]].concat()),
            auth(&[&[0x08, 0xff, 0xff, 0xff, 0xff, 0x1f][..], &msg[2..]].concat()),
            // Inner message: trailing byte, missing dh_pub, ciphertext twice.
            auth(&[&msg[..], &[0]].concat()),
            auth(&msg[..4]),
            auth(&[&msg[..], &msg[msg.len() - 18..]].concat()),
        ];
        // A length past the end.
        let mut long = good.clone();
        long[1] = 200;
        cases.push(long);
        for c in cases {
            assert_eq!(parse(&c), None, "{c:02x?}");
        }
        // A five-byte varint within u32 is read as prost reads it.
        let five = auth(&[&[0x08, 0x85, 0x80, 0x80, 0x80, 0x00][..], &msg[2..]].concat());
        assert_eq!(parse(&five).map(|p| p.n), Some(5));
        assert_eq!(parse(&five).map(V2MessageFields::from), parse_prost(&five));
    }
}
