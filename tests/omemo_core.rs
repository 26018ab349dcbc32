//! Crypto-core behaviour: X3DH + Double Ratchet round trips in both versions, out-of-order and
#![allow(clippy::unwrap_used, reason = "test assertions")]
#![allow(
    clippy::many_single_char_names,
    reason = "a/b are the two parties, v the version"
)]
//! skipped delivery, MAX_SKIP, replay, low-order points and bad signatures.

use talpa::omemo::keys::{CurvePublic, CurveSecret, IdentityKeyPair};
use talpa::omemo::ratchet::{DoubleRatchet, MAX_SKIP};
use talpa::omemo::x3dh::{self, IdentityKey, PreKeyBundle};
use talpa::omemo::{OmemoError, OmemoVersion};

const VERSIONS: [OmemoVersion; 2] = [OmemoVersion::Legacy, OmemoVersion::V2];

struct Responder {
    identity: IdentityKeyPair,
    spk: CurveSecret,
    pk: CurveSecret,
}

fn responder_bundle(v: OmemoVersion) -> (Responder, PreKeyBundle) {
    let mut rng = rand::thread_rng();
    let identity = IdentityKeyPair::generate(&mut rng);
    let spk = CurveSecret::generate(&mut rng);
    let pk = CurveSecret::generate(&mut rng);
    let bundle = PreKeyBundle {
        identity: IdentityKey::own(&identity, v),
        signed_prekey_id: 1,
        signed_prekey: spk.public(),
        signed_prekey_signature: x3dh::sign_signed_prekey(&identity, v, &spk.public()),
        prekeys: vec![(7, pk.public())],
    };
    (Responder { identity, spk, pk }, bundle)
}

/// AD as each side passes it: legacy MACs sender ‖ receiver, OMEMO 2 initiator ‖ responder.
fn ad_for(v: OmemoVersion, ad: &[u8], from_initiator: bool) -> Vec<u8> {
    if v == OmemoVersion::Legacy && !from_initiator {
        let half = ad.len() / 2;
        [&ad[half..], &ad[..half]].concat()
    } else {
        ad.to_vec()
    }
}

fn pair(v: OmemoVersion) -> (DoubleRatchet, DoubleRatchet, Vec<u8>) {
    let mut rng = rand::thread_rng();
    let alice = IdentityKeyPair::generate(&mut rng);
    let (bob, bundle) = responder_bundle(v);
    let (secret, header) = x3dh::initiate(v, &alice, &bundle, &mut rng).unwrap();
    let mut a = DoubleRatchet::initiate(v, &secret.secret, bundle.signed_prekey, &mut rng).unwrap();
    let first = a.encrypt(b"first", &ad_for(v, &secret.associated_data, true));
    let bsecret = x3dh::respond(
        v,
        &bob.identity,
        &bob.spk,
        &bob.pk,
        &header.identity,
        &header.ephemeral,
    )
    .unwrap();
    assert_eq!(bsecret.associated_data, secret.associated_data);
    let (b, pt) = DoubleRatchet::respond(
        v,
        &bsecret.secret,
        &bob.spk,
        &first,
        &ad_for(v, &bsecret.associated_data, true),
        &mut rng,
    )
    .unwrap();
    assert_eq!(&pt[..], b"first");
    (a, b, secret.associated_data)
}

#[test]
fn round_trip_both_directions_in_both_versions() {
    let mut rng = rand::thread_rng();
    for v in VERSIONS {
        let (mut a, mut b, ad) = pair(v);
        for i in 0..5u8 {
            let m = b.encrypt(&[i], &ad_for(v, &ad, false));
            assert_eq!(
                &a.decrypt(&m, &ad_for(v, &ad, false), &mut rng).unwrap()[..],
                &[i]
            );
            let m = a.encrypt(&[i, i], &ad_for(v, &ad, true));
            assert_eq!(
                &b.decrypt(&m, &ad_for(v, &ad, true), &mut rng).unwrap()[..],
                &[i, i]
            );
        }
    }
}

#[test]
fn out_of_order_and_skipped_messages_decrypt_once() {
    let mut rng = rand::thread_rng();
    for v in VERSIONS {
        let (mut a, mut b, ad) = pair(v);
        let ad_a = ad_for(v, &ad, true);
        let msgs: Vec<_> = (0..6u8).map(|i| a.encrypt(&[i], &ad_a)).collect();
        for &i in &[5usize, 1, 3, 0, 4, 2] {
            assert_eq!(
                &b.decrypt(&msgs[i], &ad_a, &mut rng).unwrap()[..],
                &[i as u8]
            );
        }
        assert_eq!(b.skipped_keys(), 0);
        // Messages of an older chain still decrypt after a DH ratchet step.
        let late = a.encrypt(b"late", &ad_a);
        let reply = b.encrypt(b"r", &ad_for(v, &ad, false));
        a.decrypt(&reply, &ad_for(v, &ad, false), &mut rng).unwrap();
        let newer = a.encrypt(b"new", &ad_a);
        assert_eq!(&b.decrypt(&newer, &ad_a, &mut rng).unwrap()[..], b"new");
        assert_eq!(&b.decrypt(&late, &ad_a, &mut rng).unwrap()[..], b"late");
    }
}

#[test]
fn replayed_message_is_rejected_without_damaging_state() {
    let mut rng = rand::thread_rng();
    for v in VERSIONS {
        let (mut a, mut b, ad) = pair(v);
        let ad_a = ad_for(v, &ad, true);
        let m = a.encrypt(b"once", &ad_a);
        b.decrypt(&m, &ad_a, &mut rng).unwrap();
        let before = b.to_bytes().unwrap();
        assert_eq!(
            b.decrypt(&m, &ad_a, &mut rng).err(),
            Some(OmemoError::Duplicate)
        );
        assert_eq!(b.to_bytes().unwrap(), before);
        let m2 = a.encrypt(b"twice", &ad_a);
        assert_eq!(&b.decrypt(&m2, &ad_a, &mut rng).unwrap()[..], b"twice");
    }
}

#[test]
fn tampered_message_fails_authentication_and_leaves_state_unchanged() {
    let mut rng = rand::thread_rng();
    for v in VERSIONS {
        let (mut a, mut b, ad) = pair(v);
        let ad_a = ad_for(v, &ad, true);
        let mut m = a.encrypt(b"x", &ad_a);
        let len = m.len();
        m[len - 1] ^= 1;
        let before = b.to_bytes().unwrap();
        assert!(b.decrypt(&m, &ad_a, &mut rng).is_err());
        assert_eq!(b.to_bytes().unwrap(), before);
        // Wrong associated data (e.g. another identity) fails too.
        let m = a.encrypt(b"y", &ad_a);
        assert_eq!(
            b.decrypt(&m, &[0u8; 10], &mut rng).err(),
            Some(OmemoError::AuthenticationFailed)
        );
        assert_eq!(&b.decrypt(&m, &ad_a, &mut rng).unwrap()[..], b"y");
    }
}

#[test]
fn skipping_more_than_max_skip_is_rejected() {
    let mut rng = rand::thread_rng();
    for v in VERSIONS {
        let (mut a, mut b, ad) = pair(v);
        let ad_a = ad_for(v, &ad, true);
        for _ in 0..=MAX_SKIP {
            a.encrypt(b"lost", &ad_a);
        }
        let far = a.encrypt(b"far", &ad_a);
        assert!(matches!(
            b.decrypt(&far, &ad_a, &mut rng),
            Err(OmemoError::TooManySkipped(_))
        ));
        assert_eq!(b.skipped_keys(), 0);
    }
}

#[test]
fn exactly_max_skip_skipped_messages_are_accepted() {
    let mut rng = rand::thread_rng();
    let v = OmemoVersion::V2;
    let (mut a, mut b, ad) = pair(v);
    for _ in 0..MAX_SKIP - 1 {
        a.encrypt(b"lost", &ad);
    }
    let m = a.encrypt(b"ok", &ad);
    assert_eq!(&b.decrypt(&m, &ad, &mut rng).unwrap()[..], b"ok");
    assert_eq!(b.skipped_keys(), (MAX_SKIP - 1) as usize);
}

#[test]
fn bad_signed_prekey_signature_is_rejected() {
    let mut rng = rand::thread_rng();
    for v in VERSIONS {
        let alice = IdentityKeyPair::generate(&mut rng);
        let (_bob, mut bundle) = responder_bundle(v);
        bundle.signed_prekey_signature[5] ^= 0x10;
        assert_eq!(
            x3dh::initiate(v, &alice, &bundle, &mut rng).err(),
            Some(OmemoError::BadSignature)
        );
        // A valid signature over a different key is rejected too.
        let (_bob, mut bundle) = responder_bundle(v);
        bundle.signed_prekey = CurveSecret::generate(&mut rng).public();
        assert_eq!(
            x3dh::initiate(v, &alice, &bundle, &mut rng).err(),
            Some(OmemoError::BadSignature)
        );
    }
}

#[test]
fn low_order_points_are_rejected() {
    let mut rng = rand::thread_rng();
    let sk = CurveSecret::generate(&mut rng);
    // u = 0 and u = 1 are low-order points on Curve25519.
    for u in [[0u8; 32], {
        let mut one = [0u8; 32];
        one[0] = 1;
        one
    }] {
        assert_eq!(
            sk.diffie_hellman(&CurvePublic(u)).err(),
            Some(OmemoError::LowOrderPoint)
        );
    }
    // In the key agreement: a bundle whose one-time prekey is a low-order point.
    let v = OmemoVersion::V2;
    let alice = IdentityKeyPair::generate(&mut rng);
    let (_bob, mut bundle) = responder_bundle(v);
    bundle.prekeys = vec![(1, CurvePublic([0u8; 32]))];
    assert_eq!(
        x3dh::initiate(v, &alice, &bundle, &mut rng).err(),
        Some(OmemoError::LowOrderPoint)
    );
    // In the ratchet: a message whose ratchet key is low order.
    let (_a, mut b, ad) = pair(v);
    let mut bad = DoubleRatchet::initiate(
        v,
        &[1u8; 32],
        CurveSecret::generate(&mut rng).public(),
        &mut rng,
    )
    .unwrap();
    let m = bad.encrypt(b"x", &ad);
    let mut parsed: talpa::omemo::wire::proto::OmemoAuthenticatedMessage =
        prost::Message::decode(m.as_slice()).unwrap();
    let mut inner: talpa::omemo::wire::proto::OmemoMessage =
        prost::Message::decode(parsed.message.as_slice()).unwrap();
    inner.dh_pub = vec![0u8; 32];
    parsed.message = prost::Message::encode_to_vec(&inner);
    let forged = prost::Message::encode_to_vec(&parsed);
    assert_eq!(
        b.decrypt(&forged, &ad, &mut rng).err(),
        Some(OmemoError::LowOrderPoint)
    );
}

#[test]
fn session_state_survives_serialization() {
    let mut rng = rand::thread_rng();
    for v in VERSIONS {
        let (mut a, b, ad) = pair(v);
        let bytes = b.to_bytes().unwrap();
        drop(b);
        let mut b = DoubleRatchet::from_bytes(&bytes).unwrap();
        let ad_a = ad_for(v, &ad, true);
        let m = a.encrypt(b"after restore", &ad_a);
        assert_eq!(
            &b.decrypt(&m, &ad_a, &mut rng).unwrap()[..],
            b"after restore"
        );
        assert_eq!(
            DoubleRatchet::from_bytes(b"garbage").err(),
            Some(OmemoError::State)
        );
    }
}

#[test]
fn fingerprint_is_eight_groups_of_eight_hex_digits_and_same_in_both_versions() {
    let id = IdentityKeyPair::generate(&mut rand::thread_rng());
    let f1 = IdentityKey::own(&id, OmemoVersion::Legacy)
        .fingerprint()
        .unwrap();
    let f2 = IdentityKey::own(&id, OmemoVersion::V2)
        .fingerprint()
        .unwrap();
    assert_eq!(f1, f2);
    let groups: Vec<_> = f1.split(' ').collect();
    assert_eq!(groups.len(), 8);
    assert!(
        groups
            .iter()
            .all(|g| g.len() == 8 && g.chars().all(|c| c.is_ascii_hexdigit()))
    );
}

/// Property-style: random interleavings of sending, reordering, dropping and replaying between
/// two parties. Every delivered message decrypts to what was sent, exactly once.
#[test]
fn random_delivery_schedules_decrypt_every_message_exactly_once() {
    use rand::{Rng, SeedableRng};
    for seed in 0..40u64 {
        let mut sched = rand::rngs::StdRng::seed_from_u64(seed);
        let mut rng = rand::thread_rng();
        let v = if seed % 2 == 0 {
            OmemoVersion::Legacy
        } else {
            OmemoVersion::V2
        };
        let (mut a, mut b, ad) = pair(v);
        // In flight: (to_b, bytes, plaintext)
        let mut in_flight: Vec<(bool, Vec<u8>, Vec<u8>)> = Vec::new();
        let mut delivered: Vec<(bool, Vec<u8>)> = Vec::new();
        for step in 0..120u32 {
            match sched.gen_range(0..10) {
                0..=2 => {
                    let pt = format!("a{seed}-{step}").into_bytes();
                    in_flight.push((true, a.encrypt(&pt, &ad_for(v, &ad, true)), pt));
                }
                3..=5 => {
                    let pt = format!("b{seed}-{step}").into_bytes();
                    in_flight.push((false, b.encrypt(&pt, &ad_for(v, &ad, false)), pt));
                }
                6..=8 if !in_flight.is_empty() => {
                    let (to_b, bytes, pt) = in_flight.remove(sched.gen_range(0..in_flight.len()));
                    let (r, ad_r) = if to_b {
                        (&mut b, ad_for(v, &ad, true))
                    } else {
                        (&mut a, ad_for(v, &ad, false))
                    };
                    assert_eq!(
                        &r.decrypt(&bytes, &ad_r, &mut rng).unwrap()[..],
                        &pt[..],
                        "seed {seed}"
                    );
                    delivered.push((to_b, bytes));
                }
                9 if !in_flight.is_empty() && sched.gen_bool(0.3) => {
                    in_flight.remove(sched.gen_range(0..in_flight.len())); // lost
                }
                _ if !delivered.is_empty() => {
                    let (to_b, bytes) = delivered[sched.gen_range(0..delivered.len())].clone();
                    let (r, ad_r) = if to_b {
                        (&mut b, ad_for(v, &ad, true))
                    } else {
                        (&mut a, ad_for(v, &ad, false))
                    };
                    let before = r.to_bytes().unwrap();
                    assert!(
                        r.decrypt(&bytes, &ad_r, &mut rng).is_err(),
                        "replay accepted, seed {seed}"
                    );
                    assert_eq!(
                        r.to_bytes().unwrap(),
                        before,
                        "replay changed state, seed {seed}"
                    );
                }
                _ => {}
            }
        }
    }
}

#[test]
fn skipped_keys_are_capped_per_chain_and_per_session() {
    use talpa::omemo::ratchet::MAX_SKIPPED_KEYS;
    let mut rng = rand::thread_rng();
    let v = OmemoVersion::V2;
    let (mut a, mut b, ad) = pair(v);
    // One chain: two gaps of 600 → only the newest MAX_SKIP keys of the chain are kept.
    let mut first_gap = Vec::new();
    for round in 0..2 {
        let lost: Vec<_> = (0..600).map(|_| a.encrypt(b"lost", &ad)).collect();
        if round == 0 {
            first_gap = lost;
        }
        let m = a.encrypt(b"seen", &ad);
        b.decrypt(&m, &ad, &mut rng).unwrap();
    }
    assert_eq!(b.skipped_keys(), MAX_SKIP as usize);
    // The oldest skipped keys were forgotten; newer ones still work.
    assert_eq!(
        b.decrypt(&first_gap[0], &ad, &mut rng).err(),
        Some(OmemoError::Duplicate)
    );
    assert_eq!(
        &b.decrypt(&first_gap[599], &ad, &mut rng).unwrap()[..],
        b"lost"
    );
    // Across chains: never more than the session cap.
    for _ in 0..3 {
        let r = b.encrypt(b"reply", &ad);
        a.decrypt(&r, &ad, &mut rng).unwrap();
        for _ in 0..900 {
            a.encrypt(b"lost", &ad);
        }
        let m = a.encrypt(b"seen", &ad);
        b.decrypt(&m, &ad, &mut rng).unwrap();
        assert!(b.skipped_keys() <= MAX_SKIPPED_KEYS);
    }
    assert_eq!(b.skipped_keys(), MAX_SKIPPED_KEYS);
}

#[test]
fn v2_message_fast_path_reads_what_prost_reads_or_falls_back() {
    use talpa::omemo::wire::fast::{self, V2MessageFields};
    // xorshift64*: seeded mutations, so a failure reproduces.
    let mut x = 0x0e0e_2f00_d5ee_d001_u64;
    let mut next = move || {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    };
    let v = OmemoVersion::V2;
    let (mut a, _, ad) = pair(v);
    let mut messages: Vec<Vec<u8>> = [&b""[..], b"k", &[7; 48], &[9; 300]]
        .iter()
        .map(|p| a.encrypt(p, &ad))
        .collect();
    // Hand-made encodings: no ciphertext field, long and non-minimal varints, unknown fields.
    let dh = [5u8; 32];
    let frame = |msg: &[u8]| -> Vec<u8> {
        let mut out = vec![0x0a, 16];
        out.extend([0xaa; 16]);
        out.push(0x12);
        out.push(u8::try_from(msg.len()).unwrap());
        out.extend(msg);
        out
    };
    let tail = [&[0x1a, 32][..], &dh].concat();
    for head in [
        &[0x08, 0x01, 0x10, 0x00][..],
        &[0x08, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x10, 0x80, 0x00],
        &[0x08, 0x81, 0x80, 0x80, 0x80, 0x80, 0x00, 0x10, 0x00],
        &[0x08, 0xff, 0xff, 0xff, 0xff, 0x7f, 0x10, 0x00],
        &[0x10, 0x00, 0x08, 0x01],
        &[0x08, 0x01, 0x08, 0x02, 0x10, 0x00],
        &[0x08, 0x01, 0x10, 0x00, 0x28, 0x01],
    ] {
        messages.push(frame(&[head, &tail].concat()));
        messages.push(frame(&[head, &tail, &[0x22, 0x02, 1, 2][..]].concat()));
        messages.push(frame(
            &[head, &tail, &[0x22, 0x00, 0x22, 0x01, 3][..]].concat(),
        ));
    }
    let (mut accepted, mut fell_back) = (0, 0);
    for round in 0..40_000 {
        let mut m = messages[round % messages.len()].clone();
        // A few byte-level mutations on most inputs: flip, insert, delete, truncate.
        for _ in 0..(next() % 4) {
            let at = usize::try_from(next()).unwrap() % (m.len() + 1);
            let byte = next().to_le_bytes()[0];
            match next() % 4 {
                0 if at < m.len() => m[at] ^= 1 << (byte % 8),
                1 => m.insert(at, byte),
                2 if at < m.len() => {
                    m.remove(at);
                }
                _ => m.truncate(at),
            }
        }
        match fast::parse(&m) {
            Some(p) => {
                accepted += 1;
                assert_eq!(
                    Some(V2MessageFields::from(p)),
                    fast::parse_prost(&m),
                    "fast path and prost disagree on {m:02x?}"
                );
            }
            None => fell_back += 1,
        }
    }
    // Both outcomes in numbers, or the test proves little.
    assert!(accepted > 2_000, "fast path read only {accepted}");
    assert!(fell_back > 5_000, "only {fell_back} fell back");
}
