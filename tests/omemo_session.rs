//! Session manager, trust and SCE behaviour, end to end through the XML of both versions.
#![allow(clippy::unwrap_used, reason = "test assertions")]
#![allow(
    clippy::many_single_char_names,
    reason = "a/b/c are the conversation parties"
)]

use minidom::Element;
use rand::rngs::ThreadRng;
use talpa::omemo::session::{DeviceAddress, PREKEY_COUNT, STALENESS_LIMIT, SessionManager};
use talpa::omemo::trust::{IdentityEvent, TrustLevel, TrustPolicy};
use talpa::omemo::wire::{EncryptedElement, legacy, v2};
use talpa::omemo::{OmemoError, OmemoVersion, sce};

const VERSIONS: [OmemoVersion; 2] = [OmemoVersion::Legacy, OmemoVersion::V2];
const ALICE: &str = "alice@talpa.test";
const BOB: &str = "bob@talpa.test";

fn addr(jid: &str, m: &SessionManager) -> DeviceAddress {
    DeviceAddress {
        jid: jid.to_owned(),
        device_id: m.device_id(),
    }
}

/// Serializes to XML text and parses back, as the network would.
fn over_the_wire(version: OmemoVersion, e: &EncryptedElement) -> EncryptedElement {
    let el = match version {
        OmemoVersion::Legacy => legacy::build_encrypted(e),
        OmemoVersion::V2 => v2::build_encrypted(e),
    };
    let mut buf = Vec::new();
    el.write_to(&mut buf).unwrap();
    let parsed: Element = std::str::from_utf8(&buf).unwrap().parse().unwrap();
    match version {
        OmemoVersion::Legacy => legacy::parse_encrypted(&parsed).unwrap(),
        OmemoVersion::V2 => v2::parse_encrypted(&parsed).unwrap(),
    }
}

fn bundle_over_the_wire(
    version: OmemoVersion,
    m: &SessionManager,
) -> talpa::omemo::x3dh::PreKeyBundle {
    let b = m.bundle(version);
    match version {
        OmemoVersion::Legacy => legacy::parse_bundle(&legacy::build_bundle(&b).unwrap()).unwrap(),
        OmemoVersion::V2 => v2::parse_bundle(&v2::build_bundle(&b).unwrap()).unwrap(),
    }
}

fn setup(version: OmemoVersion, rng: &mut ThreadRng) -> (SessionManager, SessionManager) {
    let mut a = SessionManager::generate(TrustPolicy::BlindTrustBeforeVerification, rng);
    let b = SessionManager::generate(TrustPolicy::BlindTrustBeforeVerification, rng);
    let event = a
        .start_session(
            version,
            BOB,
            b.device_id(),
            &bundle_over_the_wire(version, &b),
            rng,
        )
        .unwrap();
    assert!(matches!(event, IdentityEvent::New { .. }));
    (a, b)
}

fn send(
    version: OmemoVersion,
    from: &mut SessionManager,
    to_jid: &str,
    to: &SessionManager,
    text: &str,
    rng: &mut ThreadRng,
) -> EncryptedElement {
    let enc = from
        .encrypt(version, text.as_bytes(), &[addr(to_jid, to)], rng)
        .unwrap();
    assert!(enc.skipped.is_empty());
    over_the_wire(version, &enc.element)
}

fn recv(
    version: OmemoVersion,
    me: &mut SessionManager,
    me_jid: &str,
    from_jid: &str,
    e: &EncryptedElement,
    rng: &mut ThreadRng,
) -> Result<String, OmemoError> {
    let d = me.decrypt(version, from_jid, me_jid, e, rng)?;
    Ok(String::from_utf8(d.plaintext.unwrap().to_vec()).unwrap())
}

#[test]
fn conversation_round_trips_through_xml_in_both_versions() {
    let mut rng = rand::thread_rng();
    for v in VERSIONS {
        let (mut a, mut b) = setup(v, &mut rng);
        let m1 = send(v, &mut a, BOB, &b, "hi bob", &mut rng);
        assert!(m1.keys[0].key_exchange);
        assert_eq!(
            recv(v, &mut b, BOB, ALICE, &m1, &mut rng).unwrap(),
            "hi bob"
        );
        // Until Bob answers, Alice keeps sending the key exchange.
        let m2 = send(v, &mut a, BOB, &b, "still there?", &mut rng);
        assert!(m2.keys[0].key_exchange);
        assert_eq!(
            recv(v, &mut b, BOB, ALICE, &m2, &mut rng).unwrap(),
            "still there?"
        );
        let r = send(v, &mut b, ALICE, &a, "hi alice", &mut rng);
        assert!(!r.keys[0].key_exchange);
        assert_eq!(
            recv(v, &mut a, ALICE, BOB, &r, &mut rng).unwrap(),
            "hi alice"
        );
        let m3 = send(v, &mut a, BOB, &b, "answered", &mut rng);
        assert!(!m3.keys[0].key_exchange);
        assert_eq!(
            recv(v, &mut b, BOB, ALICE, &m3, &mut rng).unwrap(),
            "answered"
        );
    }
}

#[test]
fn key_exchange_received_twice_is_rejected_without_breaking_the_session() {
    let mut rng = rand::thread_rng();
    for v in VERSIONS {
        let (mut a, mut b) = setup(v, &mut rng);
        let m1 = send(v, &mut a, BOB, &b, "once", &mut rng);
        recv(v, &mut b, BOB, ALICE, &m1, &mut rng).unwrap();
        let before = b.to_bytes().unwrap();
        assert!(recv(v, &mut b, BOB, ALICE, &m1, &mut rng).is_err());
        assert_eq!(b.to_bytes().unwrap(), before);
        let m2 = send(v, &mut a, BOB, &b, "twice", &mut rng);
        assert_eq!(recv(v, &mut b, BOB, ALICE, &m2, &mut rng).unwrap(), "twice");
    }
}

#[test]
fn used_prekey_is_deleted_and_replenished() {
    let mut rng = rand::thread_rng();
    for v in VERSIONS {
        let (mut a, mut b) = setup(v, &mut rng);
        let before: Vec<u32> = b.bundle(v).prekeys.iter().map(|p| p.0).collect();
        assert_eq!(before.len(), PREKEY_COUNT);
        let m1 = send(v, &mut a, BOB, &b, "x", &mut rng);
        let d = b.decrypt(v, ALICE, BOB, &m1, &mut rng).unwrap();
        assert!(d.bundle_changed);
        let after: Vec<u32> = b.bundle(v).prekeys.iter().map(|p| p.0).collect();
        assert_eq!(after.len(), PREKEY_COUNT);
        let used: Vec<_> = before.iter().filter(|id| !after.contains(id)).collect();
        assert_eq!(used.len(), 1);
        // After the catch-up the used prekey is deleted: a fresh key exchange using it is refused.
        b.delete_used_prekeys();
        let mut c = SessionManager::generate(TrustPolicy::BlindTrustBeforeVerification, &mut rng);
        let mut stale = bundle_over_the_wire(v, &b);
        stale.prekeys = vec![(*used[0], stale.prekeys[0].1)];
        stale.prekeys[0].1 = b.bundle(v).prekeys[0].1;
        c.start_session(v, BOB, b.device_id(), &stale, &mut rng)
            .unwrap();
        let m = send(v, &mut c, BOB, &b, "stale", &mut rng);
        assert_eq!(
            b.decrypt(v, "carol@talpa.test", BOB, &m, &mut rng).err(),
            Some(OmemoError::UnknownPreKey(*used[0]))
        );
    }
}

#[test]
fn encrypting_to_a_device_set_reports_devices_left_out() {
    let mut rng = rand::thread_rng();
    let v = OmemoVersion::V2;
    let (mut a, mut b) = setup(v, &mut rng);
    let nobody = DeviceAddress {
        jid: "carol@talpa.test".into(),
        device_id: 42,
    };
    let enc = a
        .encrypt(v, b"group text", &[addr(BOB, &b), nobody.clone()], &mut rng)
        .unwrap();
    assert_eq!(enc.skipped, vec![(nobody, OmemoError::NoSession(42))]);
    assert_eq!(enc.element.keys.len(), 1);
    let e = over_the_wire(v, &enc.element);
    assert_eq!(
        recv(v, &mut b, BOB, ALICE, &e, &mut rng).unwrap(),
        "group text"
    );
}

#[test]
fn strict_mode_and_verification_control_who_is_encrypted_to() {
    let mut rng = rand::thread_rng();
    let v = OmemoVersion::V2;
    let (mut a, b) = setup(v, &mut rng);
    a.trust_mut().set_policy(TrustPolicy::Strict);
    let enc = a.encrypt(v, b"x", &[addr(BOB, &b)], &mut rng).unwrap();
    assert_eq!(enc.skipped[0].1, OmemoError::Untrusted(b.device_id()));
    let fp = a.trust().fingerprint(BOB, b.device_id()).unwrap();
    assert_eq!(fp, b.own_fingerprint());
    assert!(
        !a.trust_mut()
            .set_level(BOB, b.device_id(), "00000000 wrong", TrustLevel::Verified)
    );
    assert!(
        a.trust_mut()
            .set_level(BOB, b.device_id(), &fp, TrustLevel::Verified)
    );
    let enc = a.encrypt(v, b"x", &[addr(BOB, &b)], &mut rng).unwrap();
    assert!(enc.skipped.is_empty());
}

#[test]
fn blind_trust_ends_for_a_contact_once_one_device_is_verified() {
    let mut rng = rand::thread_rng();
    let v = OmemoVersion::Legacy;
    let (mut a, b) = setup(v, &mut rng);
    let fp = a.trust().fingerprint(BOB, b.device_id()).unwrap();
    a.trust_mut()
        .set_level(BOB, b.device_id(), &fp, TrustLevel::Verified);
    let b2 = SessionManager::generate(TrustPolicy::BlindTrustBeforeVerification, &mut rng);
    a.start_session(
        v,
        BOB,
        b2.device_id(),
        &bundle_over_the_wire(v, &b2),
        &mut rng,
    )
    .unwrap();
    assert!(!a.trust().is_trusted(BOB, b2.device_id()));
    assert!(a.trust().is_trusted(BOB, b.device_id()));
}

#[test]
fn changed_identity_under_a_verified_device_id_is_flagged_and_not_trusted() {
    let mut rng = rand::thread_rng();
    let v = OmemoVersion::V2;
    let (mut a, b) = setup(v, &mut rng);
    let fp = a.trust().fingerprint(BOB, b.device_id()).unwrap();
    a.trust_mut()
        .set_level(BOB, b.device_id(), &fp, TrustLevel::Verified);
    // An attacker (e.g. a seized server) publishes another identity under Bob's device id.
    let evil = SessionManager::generate(TrustPolicy::BlindTrustBeforeVerification, &mut rng);
    let event = a
        .start_session(
            v,
            BOB,
            b.device_id(),
            &bundle_over_the_wire(v, &evil),
            &mut rng,
        )
        .unwrap();
    assert_eq!(
        event,
        IdentityEvent::Changed {
            old_fingerprint: fp,
            new_fingerprint: evil.own_fingerprint(),
            old_was_verified: true
        }
    );
    assert_eq!(
        a.trust().level(BOB, b.device_id()),
        Some(TrustLevel::Changed)
    );
    let enc = a.encrypt(v, b"secret", &[addr(BOB, &b)], &mut rng).unwrap();
    assert_eq!(enc.skipped[0].1, OmemoError::Untrusted(b.device_id()));
    assert!(enc.element.keys.is_empty());
}

#[test]
fn session_manager_state_survives_serialization() {
    let mut rng = rand::thread_rng();
    for v in VERSIONS {
        let (mut a, b) = setup(v, &mut rng);
        let mut b = SessionManager::from_bytes(&b.to_bytes().unwrap()).unwrap();
        let m = send(v, &mut a, BOB, &b, "persisted", &mut rng);
        let mut a = SessionManager::from_bytes(&a.to_bytes().unwrap()).unwrap();
        assert_eq!(
            recv(v, &mut b, BOB, ALICE, &m, &mut rng).unwrap(),
            "persisted"
        );
        let r = send(v, &mut b, ALICE, &a, "back", &mut rng);
        assert_eq!(recv(v, &mut a, ALICE, BOB, &r, &mut rng).unwrap(), "back");
    }
}

#[test]
fn message_for_another_device_is_refused() {
    let mut rng = rand::thread_rng();
    let v = OmemoVersion::V2;
    let (mut a, b) = setup(v, &mut rng);
    let mut other = SessionManager::generate(TrustPolicy::BlindTrustBeforeVerification, &mut rng);
    let m = send(v, &mut a, BOB, &b, "not for you", &mut rng);
    assert_eq!(
        other.decrypt(v, ALICE, BOB, &m, &mut rng).err(),
        Some(OmemoError::NotForThisDevice)
    );
}

#[test]
fn sce_envelope_carries_all_content_and_round_trips_through_omemo_2() {
    let mut rng = rand::thread_rng();
    let v = OmemoVersion::V2;
    let (mut a, mut b) = setup(v, &mut rng);
    let content = sce::MessageContent {
        body: Some("corrected <text> & more".into()),
        replace_id: Some("msg-1".into()),
        reply_to: Some((BOB.into(), "msg-0".into())),
        reactions: Some(("msg-0".into(), vec!["👍".into()])),
        oob_url: Some("aesgcm://upload.talpa.test/x#key".into()),
        retract_id: Some("msg-2".into()),
    };
    let env = sce::build(
        &content.to_elements(),
        ALICE,
        BOB,
        "2026-11-28T19:00:00Z",
        &mut rng,
    );
    let bytes = sce::to_bytes(&env).unwrap();
    let enc = a.encrypt(v, &bytes, &[addr(BOB, &b)], &mut rng).unwrap();
    let e = over_the_wire(v, &enc.element);
    let d = b.decrypt(v, ALICE, BOB, &e, &mut rng).unwrap();
    let parsed = sce::parse(&d.plaintext.unwrap()).unwrap();
    assert_eq!(parsed.message_content(), content);
    assert_eq!(parsed.time.as_deref(), Some("2026-11-28T19:00:00Z"));
    assert_eq!(
        sce::check_affixes(&parsed, "alice@talpa.test/phone", BOB),
        Ok(())
    );
}

#[test]
fn sce_envelope_with_mismatched_affixes_is_rejected() {
    let mut rng = rand::thread_rng();
    let env = sce::build(&[], ALICE, BOB, "2026-11-28T19:00:00Z", &mut rng);
    let parsed = sce::parse(&sce::to_bytes(&env).unwrap()).unwrap();
    assert_eq!(
        sce::check_affixes(&parsed, "mallory@talpa.test/x", BOB),
        Err(OmemoError::EnvelopeMismatch("from"))
    );
    assert_eq!(
        sce::check_affixes(&parsed, ALICE, "carol@talpa.test"),
        Err(OmemoError::EnvelopeMismatch("to"))
    );
    let no_from = sce::parse(b"<envelope xmlns='urn:xmpp:sce:1'><content/></envelope>").unwrap();
    assert_eq!(
        sce::check_affixes(&no_from, ALICE, BOB),
        Err(OmemoError::EnvelopeMismatch("from"))
    );
}

#[test]
fn sce_padding_length_varies() {
    let mut rng = rand::thread_rng();
    let lens: std::collections::HashSet<usize> = (0..20)
        .map(|_| {
            sce::to_bytes(&sce::build(&[], ALICE, BOB, "t", &mut rng))
                .unwrap()
                .len()
        })
        .collect();
    assert!(lens.len() > 1);
}

#[test]
fn device_lists_round_trip_in_both_formats() {
    let ids = [1u32, 42, 2_147_483_647];
    assert_eq!(
        legacy::parse_device_list(&legacy::build_device_list(&ids)).unwrap(),
        ids
    );
    assert_eq!(
        v2::parse_device_list(&v2::build_device_list(&ids)).unwrap(),
        ids
    );
    let foreign: Element = "<devices xmlns='urn:xmpp:omemo:2'><device id='7' label='phone'/><device id='x'/></devices>".parse().unwrap();
    assert_eq!(v2::parse_device_list(&foreign).unwrap(), [7]);
    assert_eq!(
        legacy::bundle_node(7),
        "eu.siacs.conversations.axolotl.bundles:7"
    );
}

#[test]
fn heartbeat_confirms_the_session_so_key_exchanges_stop() {
    let mut rng = rand::thread_rng();
    for v in VERSIONS {
        let (mut a, mut b) = setup(v, &mut rng);
        let m1 = send(v, &mut a, BOB, &b, "hello", &mut rng);
        let d = b.decrypt(v, ALICE, BOB, &m1, &mut rng).unwrap();
        assert!(d.needs_heartbeat);
        let hb = b.heartbeat(v, &addr(ALICE, &a), &mut rng).unwrap();
        let hb = over_the_wire(v, &hb);
        assert!(hb.payload.is_none());
        let d = a.decrypt(v, BOB, ALICE, &hb, &mut rng).unwrap();
        assert!(d.plaintext.is_none());
        assert!(!d.needs_heartbeat);
        let m2 = send(v, &mut a, BOB, &b, "confirmed", &mut rng);
        assert!(!m2.keys[0].key_exchange);
        assert_eq!(
            recv(v, &mut b, BOB, ALICE, &m2, &mut rng).unwrap(),
            "confirmed"
        );
    }
}

#[test]
fn key_exchange_for_the_previous_signed_prekey_works_for_one_rotation_only() {
    let mut rng = rand::thread_rng();
    for v in VERSIONS {
        let mut b = SessionManager::generate(TrustPolicy::BlindTrustBeforeVerification, &mut rng);
        let old_bundle = bundle_over_the_wire(v, &b);
        let mut a = SessionManager::generate(TrustPolicy::BlindTrustBeforeVerification, &mut rng);
        a.start_session(v, BOB, b.device_id(), &old_bundle, &mut rng)
            .unwrap();
        let m = send(v, &mut a, BOB, &b, "in flight", &mut rng);
        b.rotate_signed_prekey(v, &mut rng);
        assert_ne!(b.bundle(v).signed_prekey_id, old_bundle.signed_prekey_id);
        // The rotated bundle is validly signed.
        let nb = bundle_over_the_wire(v, &b);
        assert_eq!(
            nb.identity
                .verify_signed_prekey(&nb.signed_prekey, &nb.signed_prekey_signature),
            Ok(())
        );
        let mut b_twice = b.clone();
        assert_eq!(
            recv(v, &mut b, BOB, ALICE, &m, &mut rng).unwrap(),
            "in flight"
        );
        b_twice.rotate_signed_prekey(v, &mut rng);
        assert_eq!(
            b_twice.decrypt(v, ALICE, BOB, &m, &mut rng).err(),
            Some(OmemoError::UnknownPreKey(old_bundle.signed_prekey_id))
        );
    }
}

#[test]
fn key_exchange_with_a_new_identity_under_a_known_device_id_is_flagged() {
    let mut rng = rand::thread_rng();
    let v = OmemoVersion::V2;
    let (mut a, mut b) = setup(v, &mut rng);
    let m1 = send(v, &mut a, BOB, &b, "hi", &mut rng);
    recv(v, &mut b, BOB, ALICE, &m1, &mut rng).unwrap();
    let fp = b.trust().fingerprint(ALICE, a.device_id()).unwrap();
    assert!(
        b.trust_mut()
            .set_level(ALICE, a.device_id(), &fp, TrustLevel::Verified)
    );
    // Someone else claims Alice's device id with another identity.
    let mut evil = SessionManager::generate(TrustPolicy::BlindTrustBeforeVerification, &mut rng);
    let mut evil_bytes = evil.to_bytes().unwrap().to_vec();
    let s = String::from_utf8(evil_bytes.clone()).unwrap();
    let s = s.replacen(
        &format!("\"device_id\":{}", evil.device_id()),
        &format!("\"device_id\":{}", a.device_id()),
        1,
    );
    evil_bytes = s.into_bytes();
    evil = SessionManager::from_bytes(&evil_bytes).unwrap();
    assert_eq!(evil.device_id(), a.device_id());
    evil.start_session(
        v,
        BOB,
        b.device_id(),
        &bundle_over_the_wire(v, &b),
        &mut rng,
    )
    .unwrap();
    let forged = send(v, &mut evil, BOB, &b, "trust me", &mut rng);
    let d = b.decrypt(v, ALICE, BOB, &forged, &mut rng).unwrap();
    assert!(matches!(
        d.identity_event,
        Some(IdentityEvent::Changed {
            old_was_verified: true,
            ..
        })
    ));
    assert!(!d.trusted);
    assert_eq!(
        b.trust().level(ALICE, a.device_id()),
        Some(TrustLevel::Changed)
    );
}

#[test]
fn message_level_api_uses_sce_for_omemo_2_and_refuses_to_leak_content_in_legacy() {
    let mut rng = rand::thread_rng();
    let content = sce::MessageContent {
        body: Some("fixed typo".into()),
        replace_id: Some("m1".into()),
        ..Default::default()
    };
    let v = OmemoVersion::V2;
    let (mut a, mut b) = setup(v, &mut rng);
    let enc = a
        .encrypt_message(
            v,
            &content,
            ALICE,
            BOB,
            "2026-11-28T19:00:00Z",
            &[addr(BOB, &b)],
            &mut rng,
        )
        .unwrap();
    let e = over_the_wire(v, &enc.element);
    let mut b_spoofed = b.clone();
    let got = b
        .decrypt_message(v, ALICE, "alice@talpa.test/laptop", BOB, BOB, &e, &mut rng)
        .unwrap();
    assert_eq!(got.content, Some(content.clone()));
    // The same ciphertext presented as coming from someone else is rejected by the affixes.
    assert_eq!(
        b_spoofed
            .decrypt_message(v, ALICE, "mallory@talpa.test/x", BOB, BOB, &e, &mut rng)
            .err(),
        Some(OmemoError::EnvelopeMismatch("from"))
    );

    let v = OmemoVersion::Legacy;
    let (mut a, mut b) = setup(v, &mut rng);
    assert_eq!(
        a.encrypt_message(v, &content, ALICE, BOB, "t", &[addr(BOB, &b)], &mut rng)
            .err(),
        Some(OmemoError::LegacyBodyOnly)
    );
    let body_only = sce::MessageContent {
        body: Some("plain body".into()),
        ..Default::default()
    };
    let enc = a
        .encrypt_message(v, &body_only, ALICE, BOB, "t", &[addr(BOB, &b)], &mut rng)
        .unwrap();
    let e = over_the_wire(v, &enc.element);
    let got = b
        .decrypt_message(v, ALICE, ALICE, BOB, BOB, &e, &mut rng)
        .unwrap();
    assert_eq!(got.content, Some(body_only));
}

#[test]
fn recipients_include_own_other_devices_and_name_contacts_without_keys() {
    use talpa::omemo::devices::{DeviceRegistry, own_list_to_publish};
    let mut rng = rand::thread_rng();
    let me = SessionManager::generate(TrustPolicy::BlindTrustBeforeVerification, &mut rng);
    let v = OmemoVersion::V2;
    let mut reg = DeviceRegistry::default();
    reg.update(v, ALICE, vec![me.device_id(), 77, 77, 0]);
    reg.update(v, BOB, vec![5, 6]);
    let r = reg.recipients(v, ALICE, me.device_id(), &[BOB, "carol@talpa.test"]);
    let addrs: Vec<(String, u32)> = r
        .devices
        .iter()
        .map(|d| (d.jid.clone(), d.device_id))
        .collect();
    assert_eq!(
        addrs,
        vec![(BOB.into(), 5), (BOB.into(), 6), (ALICE.into(), 77)]
    );
    assert_eq!(r.unreachable, vec!["carol@talpa.test".to_owned()]);
    assert_eq!(reg.devices(OmemoVersion::Legacy, BOB), &[] as &[u32]);
    assert_eq!(
        own_list_to_publish(&[77], &me),
        Some(vec![77, me.device_id()])
    );
    assert_eq!(own_list_to_publish(&[77, me.device_id()], &me), None);
}

#[test]
fn prekey_used_twice_during_catch_up_serves_both_senders_and_replays_are_refused() {
    let mut rng = rand::thread_rng();
    for v in VERSIONS {
        let mut b = SessionManager::generate(TrustPolicy::BlindTrustBeforeVerification, &mut rng);
        let mut bundle = bundle_over_the_wire(v, &b);
        bundle.prekeys.truncate(1);
        // Two senders fetched the same bundle and picked the same prekey.
        let mut a = SessionManager::generate(TrustPolicy::BlindTrustBeforeVerification, &mut rng);
        let mut c = SessionManager::generate(TrustPolicy::BlindTrustBeforeVerification, &mut rng);
        a.start_session(v, BOB, b.device_id(), &bundle, &mut rng)
            .unwrap();
        c.start_session(v, BOB, b.device_id(), &bundle, &mut rng)
            .unwrap();
        let from_a = send(v, &mut a, BOB, &b, "from a", &mut rng);
        let from_c = send(v, &mut c, BOB, &b, "from c", &mut rng);
        assert_eq!(
            recv(v, &mut b, BOB, ALICE, &from_a, &mut rng).unwrap(),
            "from a"
        );
        assert!(
            !b.bundle(v)
                .prekeys
                .iter()
                .any(|p| p.0 == bundle.prekeys[0].0)
        );
        assert_eq!(
            recv(v, &mut b, BOB, "carol@talpa.test", &from_c, &mut rng).unwrap(),
            "from c"
        );
        // A new key exchange from Alice replaces her session; replaying her first one is refused.
        let mut a2 = SessionManager::from_bytes(&a.to_bytes().unwrap()).unwrap();
        a2.start_session(
            v,
            BOB,
            b.device_id(),
            &bundle_over_the_wire(v, &b),
            &mut rng,
        )
        .unwrap();
        let again = send(v, &mut a2, BOB, &b, "new session", &mut rng);
        assert_eq!(
            recv(v, &mut b, BOB, ALICE, &again, &mut rng).unwrap(),
            "new session"
        );
        let before = b.to_bytes().unwrap();
        assert_eq!(
            b.decrypt(v, ALICE, BOB, &from_a, &mut rng).err(),
            Some(OmemoError::Duplicate)
        );
        assert_eq!(b.to_bytes().unwrap(), before);
        b.delete_used_prekeys();
        let mut d = SessionManager::generate(TrustPolicy::BlindTrustBeforeVerification, &mut rng);
        d.start_session(v, BOB, b.device_id(), &bundle, &mut rng)
            .unwrap();
        let late = send(v, &mut d, BOB, &b, "too late", &mut rng);
        assert_eq!(
            b.decrypt(v, "dave@talpa.test", BOB, &late, &mut rng).err(),
            Some(OmemoError::UnknownPreKey(bundle.prekeys[0].0))
        );
    }
}

#[test]
fn a_heartbeat_is_owed_after_a_key_exchange_or_a_long_unanswered_chain_until_we_send() {
    let mut rng = rand::thread_rng();
    for version in [OmemoVersion::Legacy, OmemoVersion::V2] {
        let (mut a, mut b) = setup(version, &mut rng);
        // Alice's key exchange, read by Bob later (e.g. from the archive): a heartbeat is owed.
        let kex = send(version, &mut a, BOB, &b, "hello", &mut rng);
        let d = b.decrypt(version, ALICE, BOB, &kex, &mut rng).unwrap();
        assert!(d.needs_heartbeat);
        let owed = b.due_heartbeats();
        assert_eq!(owed, vec![(version, addr(ALICE, &a))]);
        // Still owed across a restart of Bob's client.
        let mut b = SessionManager::from_bytes(&b.to_bytes().unwrap()).unwrap();
        assert_eq!(b.due_heartbeats(), owed);
        // The heartbeat pays it and completes Alice's session: no more key exchanges.
        let hb = b.heartbeat(version, &addr(ALICE, &a), &mut rng).unwrap();
        assert!(b.due_heartbeats().is_empty());
        assert!(hb.payload.is_none());
        let d = a.decrypt(version, BOB, ALICE, &over_the_wire(version, &hb), &mut rng);
        assert!(d.unwrap().plaintext.is_none());
        let next = send(version, &mut a, BOB, &b, "no key exchange now", &mut rng);
        assert!(next.keys.iter().all(|k| !k.key_exchange));
        // An ordinary message does not owe one...
        let d = b.decrypt(version, ALICE, BOB, &next, &mut rng).unwrap();
        assert!(!d.needs_heartbeat);
        assert!(b.due_heartbeats().is_empty());
        // ...but a long one-sided chain does (staleness), and our next message pays it.
        let mut owed_at = None;
        for i in 0..60 {
            let m = send(version, &mut a, BOB, &b, "monologue", &mut rng);
            if b.decrypt(version, ALICE, BOB, &m, &mut rng)
                .unwrap()
                .needs_heartbeat
            {
                owed_at.get_or_insert(i);
            }
        }
        // Chain length counts the message above: the 54th message of the chain is the first over.
        assert_eq!(owed_at, Some(STALENESS_LIMIT as usize - 1));
        assert_eq!(b.due_heartbeats().len(), 1);
        send(version, &mut b, ALICE, &a, "an answer", &mut rng);
        assert!(b.due_heartbeats().is_empty());
    }
}
