//! The OMEMO fuzz targets, shared by the cargo-fuzz binaries (`fuzz/fuzz_targets/*.rs`, nightly,
//! libFuzzer) and the deterministic mutation test on stable (`tests/fuzz_omemo.rs`), so CI runs
//! the very same code on every input of the checked-in corpus plus seeded mutations.
//!
//! Each target takes arbitrary bytes and drives one parser from the network edge as deep as it
//! goes: XML → `<encrypted/>` → key exchange / ratchet message → Double Ratchet → payload → SCE
//! envelope, against fixed sessions built from a seeded RNG (so corpus messages stay valid from
//! run to run). Every failure must be an `OmemoError`; a panic is a bug.

use std::sync::OnceLock;

use minidom::Element;
use rand::SeedableRng;
use rand::rngs::StdRng;
use talpa::omemo::sce::{self, MessageContent};
use talpa::omemo::session::{DeviceAddress, SessionManager};
use talpa::omemo::trust::TrustPolicy;
use talpa::omemo::wire::{self, EncryptedElement, EncryptedKey};
use talpa::omemo::{OmemoError, OmemoVersion};

/// The sender's bare JID in every fixture message.
pub const SENDER: &str = "alice@talpa.test";
/// The receiver's bare JID.
pub const RECEIVER: &str = "bob@talpa.test";
const STAMP: &str = "2026-11-29T00:00:00Z";

/// Two devices of one version: `fresh` has never heard from the sender (key exchanges go deep),
/// `established` has a confirmed session (ordinary ratchet messages go deep).
pub struct Fixture {
    /// The sender, with a session to the receiver.
    pub sender: SessionManager,
    /// The receiver before the first message.
    pub fresh: SessionManager,
    /// The receiver after the first message and a reply.
    pub established: SessionManager,
    /// Valid `<encrypted/>` elements: a key exchange, then two ordinary messages.
    pub messages: Vec<Element>,
}

fn build_encrypted(version: OmemoVersion, e: &EncryptedElement) -> Element {
    match version {
        OmemoVersion::Legacy => wire::legacy::build_encrypted(e),
        OmemoVersion::V2 => wire::v2::build_encrypted(e),
    }
}

fn build_fixture(version: OmemoVersion) -> Fixture {
    let seed = match version {
        OmemoVersion::Legacy => 0x6c65_6761_6379,
        OmemoVersion::V2 => 0x6f6d_656d_6f32,
    };
    let mut rng = StdRng::seed_from_u64(seed);
    let policy = TrustPolicy::BlindTrustBeforeVerification;
    let mut sender = SessionManager::generate(policy, &mut rng);
    let fresh = SessionManager::generate(policy, &mut rng);
    let mut established = fresh.clone();
    sender
        .start_session(
            version,
            RECEIVER,
            fresh.device_id(),
            &fresh.bundle(version),
            &mut rng,
        )
        .expect("fixture bundle is valid");
    let to = [DeviceAddress {
        jid: RECEIVER.to_owned(),
        device_id: fresh.device_id(),
    }];
    let back = DeviceAddress {
        jid: SENDER.to_owned(),
        device_id: sender.device_id(),
    };
    let encrypt = |sender: &mut SessionManager, text: &str, rng: &mut StdRng| {
        let content = MessageContent {
            body: Some(text.to_owned()),
            ..MessageContent::default()
        };
        sender
            .encrypt_message(version, &content, SENDER, RECEIVER, STAMP, &to, rng)
            .expect("fixture encrypts")
            .element
    };
    let first = encrypt(&mut sender, "first, with the key exchange", &mut rng);
    established
        .decrypt_message(
            version, SENDER, SENDER, RECEIVER, RECEIVER, &first, &mut rng,
        )
        .expect("fixture key exchange decrypts");
    let reply = established
        .heartbeat(version, &back, &mut rng)
        .expect("fixture heartbeat");
    sender
        .decrypt(version, RECEIVER, SENDER, &reply, &mut rng)
        .expect("fixture heartbeat decrypts");
    let second = encrypt(&mut sender, "second, an ordinary message", &mut rng);
    let third = encrypt(&mut sender, "third", &mut rng);
    Fixture {
        messages: [&first, &second, &third]
            .into_iter()
            .map(|e| build_encrypted(version, e))
            .collect(),
        sender,
        fresh,
        established,
    }
}

/// The fixture of `version` (built once per process).
pub fn fixture(version: OmemoVersion) -> &'static Fixture {
    static LEGACY: OnceLock<Fixture> = OnceLock::new();
    static V2: OnceLock<Fixture> = OnceLock::new();
    match version {
        OmemoVersion::Legacy => LEGACY.get_or_init(|| build_fixture(version)),
        OmemoVersion::V2 => V2.get_or_init(|| build_fixture(version)),
    }
}

fn parse_xml(data: &[u8]) -> Option<Element> {
    std::str::from_utf8(data).ok()?.parse().ok()
}

fn decrypt_with(
    version: OmemoVersion,
    receiver: &SessionManager,
    element: &EncryptedElement,
) -> Result<(), OmemoError> {
    let mut rng = StdRng::seed_from_u64(7);
    let mut r = receiver.clone();
    let m = r.decrypt_message(
        version, SENDER, SENDER, RECEIVER, RECEIVER, element, &mut rng,
    )?;
    if let Some(content) = m.content {
        // What the core does next with the content: it must not panic either.
        let _ = content.to_elements();
    }
    Ok(())
}

/// Outcome of one target run: which stages failed (typed) — for the test's coverage counts.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Inputs that parsed as the target's XML element.
    pub parsed: usize,
    /// Inputs that went all the way (decrypted, or a bundle that started a session).
    pub accepted: usize,
    /// Typed errors seen.
    pub errors: Vec<OmemoError>,
}

impl Outcome {
    fn record<T>(&mut self, r: Result<T, OmemoError>) -> Option<T> {
        match r {
            Ok(v) => {
                self.accepted += 1;
                Some(v)
            }
            Err(e) => {
                self.errors.push(e);
                None
            }
        }
    }
}

/// One message target (`omemo_legacy_message` / `omemo_v2_message`): `data` as an `<encrypted/>`
/// element decrypted by both receivers, and as the raw key data of one `<key/>` (first byte's
/// low bit: key exchange or not) with the fixture's payload.
pub fn message(version: OmemoVersion, data: &[u8]) -> Outcome {
    let f = fixture(version);
    let mut out = Outcome::default();
    if let Some(xml) = parse_xml(data) {
        let parsed = match version {
            OmemoVersion::Legacy => wire::legacy::parse_encrypted(&xml),
            OmemoVersion::V2 => wire::v2::parse_encrypted(&xml),
        };
        if let Ok(e) = parsed {
            out.parsed += 1;
            out.record(decrypt_with(version, &f.fresh, &e));
            out.record(decrypt_with(version, &f.established, &e));
        } else {
            out.record(parsed);
        }
    }
    if let Some((&flags, key)) = data.split_first() {
        let template = match version {
            OmemoVersion::Legacy => wire::legacy::parse_encrypted(&f.messages[1]),
            OmemoVersion::V2 => wire::v2::parse_encrypted(&f.messages[1]),
        };
        let Ok(mut e) = template else {
            unreachable!("the fixture's own message parses")
        };
        e.keys = vec![EncryptedKey {
            jid: (version == OmemoVersion::V2).then(|| RECEIVER.to_owned()),
            rid: f.fresh.device_id(),
            key_exchange: flags & 1 == 1,
            data: key.to_vec(),
        }];
        if flags & 2 == 2 {
            e.payload = None;
        }
        out.record(wire::decode_key_exchange(version, key));
        out.record(decrypt_with(version, &f.fresh, &e));
        out.record(decrypt_with(version, &f.established, &e));
    }
    out
}

/// `omemo_bundle`: `data` as a bundle or device list of either version; a parsed bundle is used
/// to start a session (signature and key checks).
pub fn bundle(data: &[u8]) -> Outcome {
    let mut out = Outcome::default();
    let Some(xml) = parse_xml(data) else {
        return out;
    };
    out.parsed += 1;
    out.record(wire::legacy::parse_device_list(&xml));
    out.record(wire::v2::parse_device_list(&xml));
    let mut rng = StdRng::seed_from_u64(11);
    for version in [OmemoVersion::Legacy, OmemoVersion::V2] {
        let parsed = match version {
            OmemoVersion::Legacy => wire::legacy::parse_bundle(&xml),
            OmemoVersion::V2 => wire::v2::parse_bundle(&xml),
        };
        if let Some(b) = out.record(parsed) {
            let mut s = fixture(version).sender.clone();
            out.record(s.start_session(version, "carol@talpa.test", 5, &b, &mut rng));
        }
    }
    out
}

/// `omemo_sce`: `data` as a decrypted SCE envelope, checked against the stanza's addresses.
pub fn sce_envelope(data: &[u8]) -> Outcome {
    let mut out = Outcome::default();
    if let Some(env) = out.record(sce::parse(data)) {
        out.parsed += 1;
        out.record(sce::check_affixes(&env, SENDER, RECEIVER));
        let _ = env.message_content().to_elements();
    }
    out
}

/// `omemo_sce_fast`: `data` through the envelope fast path and through minidom. Whenever the
/// fast path accepts, minidom must accept too with the same envelope (content elements equal
/// and serialised alike); [`sce::parse`] must always answer as minidom does. A difference
/// panics: it is a bug in the fast path.
pub fn sce_fast_differential(data: &[u8]) -> Outcome {
    let mut out = Outcome::default();
    let slow = sce::parse_minidom(data);
    if let Some(fast) = sce::parse_fast(data) {
        out.parsed += 1;
        let Ok(slow) = &slow else {
            panic!("fast path accepted what minidom refuses: {slow:?}")
        };
        assert_eq!(&fast, slow, "fast path and minidom disagree");
        let ser = |e: &sce::Envelope| e.content.iter().map(String::from).collect::<Vec<_>>();
        assert_eq!(ser(&fast), ser(slow), "content serialised differently");
    }
    assert_eq!(sce::parse(data), slow, "parse differs from minidom");
    out.record(slow);
    out
}

/// Envelopes in the forms the fast path reads, and some it hands to minidom.
fn sce_fast_seeds(built: &[u8]) -> Vec<(String, Vec<u8>)> {
    let forms = [
        (
            "quoting-order-whitespace.xml",
            "<envelope xmlns=\"urn:xmpp:sce:1\">\n <from jid=\"alice@talpa.test\"/>\n              <rpad>Zx9</rpad><to  jid = 'bob@talpa.test' ></to><time stamp='2026-11-29T00:00:00Z'/>\n              <content>\n  <body xmlns=\"jabber:client\">hi</body>\n </content>\n</envelope>\n",
        ),
        (
            "references.xml",
            "<envelope xmlns='urn:xmpp:sce:1'><content><body xmlns='jabber:client'>a &lt;b&gt;              &amp; &quot;c&apos; &#65;&#x1F994; ] &gt;</body></content><rpad/>             <from jid='alice@talpa.test'/><to jid='bob@talpa.test'/></envelope>",
        ),
        (
            "reply-falls-back.xml",
            "<envelope xmlns='urn:xmpp:sce:1'><content><body xmlns='jabber:client'>yes</body>             <reply xmlns='urn:xmpp:reply:0' to='bob@talpa.test' id='m1'/></content>             <from jid='alice@talpa.test'/></envelope>",
        ),
        (
            "cdata-falls-back.xml",
            "<envelope xmlns='urn:xmpp:sce:1'><content><body xmlns='jabber:client'>             <![CDATA[<x>]]></body></content><from jid='alice@talpa.test'/></envelope>",
        ),
    ];
    let mut seeds = vec![("envelope.xml".to_owned(), built.to_vec())];
    seeds.extend(
        forms
            .iter()
            .map(|(name, text)| ((*name).to_owned(), text.as_bytes().to_vec())),
    );
    seeds
}

/// The corpus seeds of each target, as (target, file name, bytes).
pub fn seeds() -> Vec<(&'static str, String, Vec<u8>)> {
    let mut seeds = Vec::new();
    for (target, version) in [
        ("omemo_legacy_message", OmemoVersion::Legacy),
        ("omemo_v2_message", OmemoVersion::V2),
    ] {
        let f = fixture(version);
        for (i, m) in f.messages.iter().enumerate() {
            seeds.push((
                target,
                format!("message-{i}.xml"),
                String::from(m).into_bytes(),
            ));
            let parsed = match version {
                OmemoVersion::Legacy => wire::legacy::parse_encrypted(m),
                OmemoVersion::V2 => wire::v2::parse_encrypted(m),
            };
            if let Some(k) = parsed.ok().and_then(|e| e.keys.into_iter().next()) {
                let mut raw = vec![u8::from(k.key_exchange)];
                raw.extend(k.data);
                seeds.push((target, format!("key-{i}.bin"), raw));
            }
        }
    }
    for version in [OmemoVersion::Legacy, OmemoVersion::V2] {
        let f = fixture(version);
        let mut b = f.fresh.bundle(version);
        b.prekeys.truncate(3);
        let (bundle, list) = match version {
            OmemoVersion::Legacy => (
                wire::legacy::build_bundle(&b),
                wire::legacy::build_device_list(&[1, f.fresh.device_id()]),
            ),
            OmemoVersion::V2 => (
                wire::v2::build_bundle(&b),
                wire::v2::build_device_list(&[1, f.fresh.device_id()]),
            ),
        };
        let name = match version {
            OmemoVersion::Legacy => "legacy",
            OmemoVersion::V2 => "v2",
        };
        if let Ok(bundle) = bundle {
            seeds.push((
                "omemo_bundle",
                format!("bundle-{name}.xml"),
                String::from(&bundle).into_bytes(),
            ));
        }
        seeds.push((
            "omemo_bundle",
            format!("devices-{name}.xml"),
            String::from(&list).into_bytes(),
        ));
    }
    let mut rng = StdRng::seed_from_u64(13);
    let content = MessageContent {
        body: Some("hello <b>&amp; there".to_owned()),
        ..MessageContent::default()
    };
    let env = sce::build(&content.to_elements(), SENDER, RECEIVER, STAMP, &mut rng);
    if let Ok(bytes) = sce::to_bytes(&env) {
        for (name, data) in sce_fast_seeds(&bytes) {
            seeds.push(("omemo_sce_fast", name, data));
        }
        seeds.push(("omemo_sce", "envelope.xml".to_owned(), bytes));
    }
    seeds
}
