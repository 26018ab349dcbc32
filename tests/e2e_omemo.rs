//! OMEMO end to end: the real `talpa` binary, logged in to Prosody through the private Tor
//! network, talks encrypted with the independent python-omemo peer (legacy OMEMO and OMEMO 2)
//! and with another Talpa; a contact without keys never gets a plaintext copy. Prosody's
//! stanza log (every stanza it routed, in clear) must never contain a test message's text.

mod support;

use std::time::Duration;

use serde_json::{Value, json};
use support::headless::{Headless, bodies, send, talpa_online};
use support::{Bed, Peer, PeerOptions, bed, omemo_peer, random_hex, secret};

const LONG: Duration = Duration::from_secs(90);

/// Prosody's stanza log shows the stanza with `origin_id` (so the log does record our traffic)
/// and none of `texts`.
fn assert_never_in_clear(bed: &Bed, origin_id: &str, texts: &[&str]) {
    let log = bed.stanza_log_text();
    assert!(
        log.contains(origin_id),
        "the stanza log does not show the message {origin_id}: the check below would prove nothing"
    );
    for t in texts {
        assert!(
            !log.contains(t),
            "Prosody saw {t:?} in clear (stanza log {:?})",
            bed.prosody.stanza_log
        );
    }
}

fn is_message(e: &Value, body: &str) -> bool {
    e["event"] == "message" && e["body"] == body
}

#[test]
fn omemo2_and_legacy_messages_flow_both_ways_with_python_omemo_and_never_in_clear() {
    let bed = bed();
    let (a, apw) = bed.new_account("talpa");
    let (b, bpw) = bed.new_account("omemopeer");
    let dir = tempfile::tempdir().expect("tempdir");
    let mut talpa = talpa_online(bed, &dir.path().join("p"), &a, &apw);
    let mut peer = omemo_peer(bed, &b, &bpw);
    peer.send_cmd(&json!({"cmd": "raw_events", "on": true}));

    // The peer publishes both versions: Talpa picks OMEMO 2 with an SCE envelope.
    let one = secret("to the peer over omemo 2");
    let oid = send(&mut talpa, &a, &b, &one);
    let got = peer.wait_message(&one, LONG);
    assert_eq!(got["encrypted"], "twomemo", "{got}");
    assert_eq!(got["sce_from"], a.as_str(), "{got}");
    assert_eq!(got["sce_to"], b.as_str(), "{got}");
    assert_eq!(got["id"], oid.as_str());
    let raw = peer.wait_event(
        |e| e["event"] == "stanza" && e["xml"].as_str().is_some_and(|x| x.contains(&oid)),
        LONG,
    );
    let xml = raw["xml"].as_str().unwrap_or_default();
    assert!(
        !xml.contains(&one),
        "the peer received the text in clear: {xml}"
    );
    assert!(
        xml.contains("urn:xmpp:eme:0") && xml.contains("urn:xmpp:hints"),
        "{xml}"
    );
    let updated = talpa.wait_event_for(
        |e| e["event"] == "message_updated" && e["body"] == one.as_str(),
        LONG,
    );
    assert_eq!(updated["encryption"], "omemo2");

    // OMEMO 2 from the peer.
    let two = secret("from the peer over omemo 2");
    peer.send_cmd(&json!({"cmd": "send", "to": a, "body": two, "encrypt": "twomemo"}));
    let m = talpa.wait_event_for(|e| is_message(e, &two), LONG);
    assert_eq!(m["encryption"], "omemo2", "{m}");
    assert_eq!(m["direction"], "in");

    // Legacy OMEMO from the peer.
    let three = secret("from the peer over legacy omemo");
    peer.send_cmd(&json!({"cmd": "send", "to": a, "body": three, "encrypt": "oldmemo"}));
    let m = talpa.wait_event_for(|e| is_message(e, &three), LONG);
    assert_eq!(m["encryption"], "omemo", "{m}");

    // Legacy OMEMO to the peer (pinned for this conversation).
    let (r, _) = talpa.call(
        json!({"cmd": "set_encryption", "account": a, "conversation": b,
                                   "enabled": true, "version": "omemo"}),
    );
    assert_eq!(r["ok"], true, "{r}");
    let four = secret("to the peer over legacy omemo");
    let oid4 = send(&mut talpa, &a, &b, &four);
    let got = peer.wait_message(&four, LONG);
    assert_eq!(got["encrypted"], "oldmemo", "{got}");

    let (r, _) = talpa.call(json!({"cmd": "history", "account": a, "with": b}));
    assert_eq!(
        bodies(&r),
        [one.as_str(), two.as_str(), three.as_str(), four.as_str()]
    );
    let encs: Vec<&str> = r["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .map(|m| m["encryption"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(encs, ["omemo2", "omemo2", "omemo", "omemo"]);

    // The peer's device shows up with its fingerprint.
    let (r, _) = talpa.call(json!({"cmd": "devices", "account": a, "jid": b}));
    assert_eq!(r["ok"], true, "{r}");
    let devices = r["devices"].as_array().expect("devices");
    assert!(!devices.is_empty(), "{r}");
    assert!(
        devices
            .iter()
            .all(|d| d["fingerprint"].as_str().is_some_and(|f| f.len() == 71)),
        "{r}"
    );
    assert!(devices.iter().all(|d| d["trust"] == "blind"), "{r}");

    assert_never_in_clear(bed, &oid, &[&one, &two, &three, &four]);
    assert_never_in_clear(bed, &oid4, &[&four]);
    talpa.quit();
}

#[test]
fn two_talpas_talk_encrypted_and_verify_each_other() {
    let bed = bed();
    let (a, apw) = bed.new_account("alice");
    let (b, bpw) = bed.new_account("bob");
    let dirs = tempfile::tempdir().expect("tempdir");
    let mut alice = talpa_online(bed, &dirs.path().join("a"), &a, &apw);
    let mut bob = talpa_online(bed, &dirs.path().join("b"), &b, &bpw);

    let one = secret("alice to bob");
    let oid = send(&mut alice, &a, &b, &one);
    let m = bob.wait_event_for(|e| is_message(e, &one), LONG);
    assert_eq!(m["encryption"], "omemo2", "{m}");
    let two = secret("bob to alice");
    send(&mut bob, &b, &a, &two);
    let m = alice.wait_event_for(|e| is_message(e, &two), LONG);
    assert_eq!(m["encryption"], "omemo2", "{m}");

    // A correction travels inside the envelope (text and what it corrects).
    let fixed = secret("alice to bob, corrected");
    let (r, _) = alice.call(
        json!({"cmd": "correct", "account": a, "with": b, "message": oid,
                                   "body": fixed}),
    );
    assert_eq!(r["ok"], true, "{r}");
    let m = bob.wait_event_for(
        |e| e["event"] == "message_updated" && e["body"] == fixed.as_str(),
        LONG,
    );
    assert_eq!(m["corrected"], true, "{m}");
    // So does a retraction (OMEMO 2 only: legacy cannot carry one).
    let (r, _) = alice.call(json!({"cmd": "retract", "account": a, "with": b, "message": oid}));
    assert_eq!(r["ok"], true, "{r}");
    let m = bob.wait_event_for(
        |e| e["event"] == "message_updated" && e["retracted"] == true,
        LONG,
    );
    assert_eq!(m["body"], "", "{m}");

    // Bob's own device as Alice sees it matches what Bob's Talpa says about itself.
    let (own, _) = bob.call(json!({"cmd": "devices", "account": b}));
    let own = own["devices"]
        .as_array()
        .and_then(|d| d.iter().find(|d| d["this_device"] == true))
        .cloned()
        .expect("own device");
    let (seen, _) = alice.call(json!({"cmd": "devices", "account": a, "jid": b}));
    let seen = seen["devices"]
        .as_array()
        .and_then(|d| d.iter().find(|d| d["device"] == own["device"]))
        .cloned()
        .expect("bob's device at alice");
    assert_eq!(seen["fingerprint"], own["fingerprint"]);

    // Strict mode: Bob's unverified device gets nothing; the message waits.
    let (r, _) = alice.call(json!({"cmd": "set_trust_policy", "account": a, "strict": true}));
    assert_eq!(r["ok"], true, "{r}");
    let waiting = secret("alice to unverified bob");
    let held_id = send(&mut alice, &a, &b, &waiting);
    alice.wait_event_for(
        |e| e["event"] == "message_held" && e["origin_id"] == held_id.as_str(),
        LONG,
    );
    let (r, _) = alice.call(
        json!({"cmd": "trust", "account": a, "jid": b, "device": seen["device"],
                                   "level": "verified", "fingerprint": "00000000"}),
    );
    assert_eq!(support::headless::error_kind(&r), "invalid_input", "{r}");
    let (r, _) = alice.call(json!({"cmd": "trust", "account": a, "jid": b,
        "device": seen["device"], "level": "verified", "fingerprint": own["fingerprint"]}));
    assert_eq!(r["ok"], true, "{r}");
    let (r, _) = alice.call(json!({"cmd": "devices", "account": a, "jid": b}));
    assert!(
        r["devices"]
            .as_array()
            .is_some_and(|d| d.iter().any(|d| d["trust"] == "verified")),
        "{r}"
    );
    // Verified: the held message and a new one go out.
    let three = secret("alice to verified bob");
    send(&mut alice, &a, &b, &three);
    bob.wait_event_for(|e| is_message(e, &waiting), LONG);
    bob.wait_event_for(|e| is_message(e, &three), LONG);

    // Bob distrusts Alice's device: her next message is shown with a warning.
    let (r, _) = bob.call(json!({"cmd": "devices", "account": b, "jid": a}));
    let alice_device = r["devices"][0]["device"].clone();
    let (r, _) = bob.call(json!({"cmd": "trust", "account": b, "jid": a,
                                 "device": alice_device, "level": "untrusted"}));
    assert_eq!(r["ok"], true, "{r}");
    let four = secret("alice to a distrustful bob");
    send(&mut alice, &a, &b, &four);
    bob.wait_event_for(|e| is_message(e, &four), LONG);
    bob.wait_event_for(
        |e| e["event"] == "error" && e["kind"] == "omemo_untrusted_sender",
        LONG,
    );

    assert_never_in_clear(bed, &oid, &[&one, &two, &three, &waiting, &fixed]);
    alice.quit();
    bob.quit();
}

#[test]
fn a_contact_without_keys_never_gets_plaintext_and_the_message_stays_queued() {
    let bed = bed();
    let (a, apw) = bed.new_account("talpa");
    let (b, bpw) = bed.new_account("nokeys");
    let dir = tempfile::tempdir().expect("tempdir");
    let mut talpa = talpa_online(bed, &dir.path().join("p"), &a, &apw);
    let mut peer = Peer::spawn(bed, &b, &bpw);

    let text = secret("for a contact without keys");
    let oid = send(&mut talpa, &a, &b, &text);
    let held = talpa.wait_event_for(
        |e| e["event"] == "message_held" && e["origin_id"] == oid.as_str(),
        LONG,
    );
    assert_eq!(held["with"], b.as_str());
    assert!(
        held["reason"].as_str().is_some_and(|r| r.contains("OMEMO")),
        "{held}"
    );
    // Stored as waiting for encryption, never as plaintext.
    let (r, _) = talpa.call(json!({"cmd": "history", "account": a, "with": b}));
    let queued = r["messages"]
        .as_array()
        .and_then(|m| m.iter().find(|m| m["origin_id"] == oid.as_str()))
        .unwrap_or_else(|| panic!("the held message in history: {r}"));
    assert_eq!(queued["encryption"], "pending", "{queued}");

    // Turning encryption off affects new messages only: the held one stays encrypted-only.
    let (r, _) = talpa.call(
        json!({"cmd": "set_encryption", "account": a, "conversation": b,
                                   "enabled": false}),
    );
    assert_eq!(r["ok"], true, "{r}");
    assert!(
        r["warning"].as_str().is_some_and(|w| w.contains("OFF")),
        "{r}"
    );
    let plain = secret("plaintext by choice");
    send(&mut talpa, &a, &b, &plain);
    peer.wait_message(&plain, LONG);
    let events = peer.pending_events();
    assert!(
        !events.iter().any(|e| e.to_string().contains(&text)),
        "the held message reached the peer: {events:?}"
    );
    assert!(
        !bed.stanza_log_text().contains(&text),
        "the held message's text went over the wire"
    );
    talpa.quit();
}

#[test]
fn a_private_room_gets_omemo_for_members_with_keys_and_keys_missing_names_the_others() {
    let bed = bed();
    let (owner, apw) = bed.new_account("roomowner");
    let (member, bpw) = bed.new_account("keyed");
    let (other, cpw) = bed.new_account("keyless");
    let room = bed.new_room("omemo");
    let dir = tempfile::tempdir().expect("tempdir");
    let mut talpa = talpa_online(bed, &dir.path().join("p"), &owner, &apw);
    let (r, _) = talpa.call(json!({"cmd": "create_room", "account": owner, "room": room,
                                   "nick": "mole"}));
    assert_eq!(r["ok"], true, "{r}");
    talpa.wait_event_for(|e| e["event"] == "room_joined" && e["room"] == room, LONG);
    std::thread::sleep(Duration::from_secs(2));
    let mut keyed = omemo_peer(bed, &member, &bpw);
    let mut keyless = Peer::spawn(bed, &other, &cpw);
    keyless.send_cmd(&json!({"cmd": "raw_events", "on": true}));
    for (peer, jid, nick) in [
        (&mut keyed, &member, "badger"),
        (&mut keyless, &other, "vole"),
    ] {
        let (r, _) =
            talpa.call(json!({"cmd": "invite", "account": owner, "room": room, "jid": jid}));
        assert_eq!(r["ok"], true, "{r}");
        peer.send_cmd(&json!({"cmd": "join", "room": room, "nick": nick}));
        peer.wait_event(|e| e["event"] == "joined", LONG);
    }
    talpa.wait_event_for(
        |e| e["event"] == "occupants" && e["occupants"].as_array().is_some_and(|o| o.len() == 3),
        LONG,
    );

    let text = secret("to the room");
    let oid = send(&mut talpa, &owner, &room, &text);
    let missing = talpa.wait_event_for(|e| e["event"] == "keys_missing", LONG);
    assert_eq!(missing["room"], room.as_str());
    assert_eq!(missing["jids"], json!([other]), "{missing}");
    assert_eq!(missing["origin_id"], oid.as_str(), "{missing}");
    let got = keyed.wait_event(
        |e| e["event"] == "message" && e["type"] == "groupchat" && e["body"] == text.as_str(),
        LONG,
    );
    assert_eq!(got["encrypted"], "twomemo", "{got}");

    // The keyed member writes OMEMO 2 to the room; Talpa decrypts it with the member's session.
    let reply = secret("from a member");
    keyed.send_cmd(&json!({"cmd": "groupchat", "room": room, "body": reply,
                           "encrypt": "twomemo", "recipients": [owner]}));
    let m = talpa.wait_event_for(|e| is_message(e, &reply), LONG);
    assert_eq!(m["encryption"], "omemo2", "{m}");
    assert_eq!(m["from"], "badger");

    // Legacy OMEMO in the same room, both ways.
    let old_in = secret("legacy from a member");
    keyed.send_cmd(&json!({"cmd": "groupchat", "room": room, "body": old_in,
                           "encrypt": "oldmemo", "recipients": [owner]}));
    let m = talpa.wait_event_for(|e| is_message(e, &old_in), LONG);
    assert_eq!(m["encryption"], "omemo", "{m}");
    let (r, _) = talpa.call(json!({"cmd": "set_encryption", "account": owner,
        "conversation": room, "enabled": true, "version": "omemo"}));
    assert_eq!(r["ok"], true, "{r}");
    let old_out = secret("legacy to the room");
    send(&mut talpa, &owner, &room, &old_out);
    let got = keyed.wait_event(
        |e| e["event"] == "message" && e["type"] == "groupchat" && e["body"] == old_out.as_str(),
        LONG,
    );
    assert_eq!(got["encrypted"], "oldmemo", "{got}");

    // The member without keys saw the stanza but not the text.
    let raw = keyless.wait_event(
        |e| e["event"] == "stanza" && e["xml"].as_str().is_some_and(|x| x.contains(&oid)),
        LONG,
    );
    assert!(
        !raw["xml"].as_str().unwrap_or_default().contains(&text),
        "{raw}"
    );
    assert_never_in_clear(bed, &oid, &[&text, &reply, &old_in, &old_out]);
    talpa.quit();
}

#[test]
fn a_legacy_only_contact_gets_legacy_omemo_automatically_both_ways() {
    let bed = bed();
    let (a, apw) = bed.new_account("talpa");
    let (b, bpw) = bed.new_account("legacypeer");
    let dir = tempfile::tempdir().expect("tempdir");
    let mut talpa = talpa_online(bed, &dir.path().join("p"), &a, &apw);
    let mut peer = Peer::spawn_with(
        bed,
        &b,
        &bpw,
        &PeerOptions {
            omemo: true,
            omemo_legacy_only: true,
            ..PeerOptions::default()
        },
    );
    let text = secret("to a legacy-only contact");
    let oid = send(&mut talpa, &a, &b, &text);
    let got = peer.wait_message(&text, LONG);
    assert_eq!(got["encrypted"], "oldmemo", "{got}");
    let reply = secret("from a legacy-only contact");
    peer.send_cmd(&json!({"cmd": "send", "to": a, "body": reply, "encrypt": "oldmemo"}));
    let sent = peer.wait_event(
        |e| (e["event"] == "ack" && e["cmd"] == "send") || e["event"] == "error",
        LONG,
    );
    assert_eq!(sent["event"], "ack", "{sent}");
    let m = talpa.wait_event_for(|e| is_message(e, &reply), LONG);
    assert_eq!(m["encryption"], "omemo", "{m}");
    let (r, _) = talpa.call(json!({"cmd": "devices", "account": a, "jid": b}));
    assert!(
        r["devices"]
            .as_array()
            .is_some_and(|d| !d.is_empty() && d.iter().all(|d| d["versions"] == json!(["omemo"]))),
        "{r}"
    );
    assert_never_in_clear(bed, &oid, &[&text, &reply]);
    talpa.quit();
}

#[test]
fn two_talpa_devices_on_one_account_read_each_others_sent_messages_via_carbons() {
    let bed = bed();
    let (a, apw) = bed.new_account("twodev");
    let (b, bpw) = bed.new_account("omemopeer");
    let dirs = tempfile::tempdir().expect("tempdir");
    let mut first = talpa_online(bed, &dirs.path().join("one"), &a, &apw);
    let mut second = talpa_online(bed, &dirs.path().join("two"), &a, &apw);
    let mut peer = omemo_peer(bed, &b, &bpw);
    // The first device learns of the second from the PEP notification of the own device list.
    let (own, _) = second.call(json!({"cmd": "devices", "account": a}));
    let second_id = own["devices"]
        .as_array()
        .and_then(|d| d.iter().find(|d| d["this_device"] == true))
        .map(|d| d["device"].clone())
        .expect("own device");
    let deadline = std::time::Instant::now() + LONG;
    loop {
        let (r, _) = first.call(json!({"cmd": "devices", "account": a}));
        if r["devices"]
            .as_array()
            .is_some_and(|d| d.iter().any(|d| d["device"] == second_id))
        {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "second device never listed: {r}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }

    let text = secret("sent from the first device");
    send(&mut first, &a, &b, &text);
    let got = peer.wait_message(&text, LONG);
    assert_eq!(got["encrypted"], "twomemo", "{got}");
    let copy = second.wait_event_for(|e| is_message(e, &text), LONG);
    assert_eq!(copy["direction"], "out", "{copy}");
    assert_eq!(copy["with"], b.as_str());
    assert_eq!(copy["encryption"], "omemo2", "{copy}");

    let reply = secret("to both devices");
    peer.send_cmd(&json!({"cmd": "send", "to": a, "body": reply, "encrypt": "twomemo"}));
    for t in [&mut first, &mut second] {
        let m = t.wait_event_for(|e| is_message(e, &reply), LONG);
        assert_eq!(m["encryption"], "omemo2", "{m}");
        assert_eq!(m["direction"], "in");
    }
    first.quit();
    second.quit();
}

/// The `<message>` forwarded inside a carbon's XML, as sent.
fn forwarded_message(carbon_xml: &str) -> String {
    let fwd = carbon_xml.find("<forwarded").expect("a forwarded element");
    let start = fwd
        + carbon_xml[fwd..]
            .find("<message")
            .expect("an inner message");
    let end = carbon_xml[start..]
        .find("</message>")
        .map(|e| start + e + "</message>".len())
        .expect("the inner message ends");
    carbon_xml[start..end].to_owned()
}

#[test]
fn a_replayed_omemo_message_under_a_new_id_shows_nothing_and_the_session_goes_on() {
    let bed = bed();
    let (a, apw) = bed.new_account("talpa");
    let (b, bpw) = bed.new_account("replayer");
    let dir = tempfile::tempdir().expect("tempdir");
    let mut talpa = talpa_online(bed, &dir.path().join("p"), &a, &apw);
    let mut peer = omemo_peer(bed, &b, &bpw);
    // A second, plain client of the peer's account sees the encrypted stanza as a carbon.
    let mut spy = Peer::spawn(bed, &b, &bpw);
    spy.send_cmd(&json!({"cmd": "carbons", "on": true, "id": "c"}));
    spy.wait_event(|e| e["event"] == "ack" && e["id"] == "c", LONG);
    spy.send_cmd(&json!({"cmd": "raw_events", "on": true}));

    let first = secret("said once");
    peer.send_cmd(
        &json!({"cmd": "send", "to": a, "body": first, "encrypt": "twomemo",
                          "msg_id": "replayed-original"}),
    );
    talpa.wait_event_for(|e| is_message(e, &first), LONG);
    let carbon = spy.wait_event(
        |e| {
            e["event"] == "stanza"
                && e["xml"]
                    .as_str()
                    .is_some_and(|x| x.contains("replayed-original") && x.contains("<sent"))
        },
        LONG,
    );
    let original = forwarded_message(carbon["xml"].as_str().unwrap_or_default());
    assert!(original.contains("urn:xmpp:omemo:2"), "{original}");
    // Replay the same ciphertext under fresh ids, so only OMEMO can tell it is a replay (the
    // server stamps the spy's own full JID as sender: same account).
    let replay = original.replace("replayed-original", "replayed-copy");
    spy.send_cmd(&json!({"cmd": "raw", "xml": replay}));
    spy.send_cmd(&json!({"cmd": "raw", "xml": replay}));

    let second = secret("said after the replay");
    peer.send_cmd(&json!({"cmd": "send", "to": a, "body": second, "encrypt": "twomemo"}));
    talpa.wait_event_for(|e| is_message(e, &second), LONG);
    let (r, _) = talpa.call(json!({"cmd": "history", "account": a, "with": b}));
    assert_eq!(
        bodies(&r),
        [first.as_str(), second.as_str()],
        "one message each, no notice for the replays: {r:#}"
    );
    let delivered = bed
        .stanza_log_text()
        .lines()
        .filter(|l| l.contains("SEND: <message") && l.contains("id='replayed-copy'"))
        .filter(|l| l.contains(&format!("to='{a}")))
        .count();
    assert!(
        delivered >= 2,
        "the replays never reached Talpa ({delivered})"
    );
    talpa.quit();
}

#[test]
fn an_omemo2_envelope_addressed_to_someone_else_becomes_a_notice_not_a_message() {
    let bed = bed();
    let (a, apw) = bed.new_account("talpa");
    let (b, bpw) = bed.new_account("forger");
    let dir = tempfile::tempdir().expect("tempdir");
    let mut talpa = talpa_online(bed, &dir.path().join("p"), &a, &apw);
    let mut peer = omemo_peer(bed, &b, &bpw);
    let forged = secret("meant for somebody else");
    peer.send_cmd(
        &json!({"cmd": "send", "to": a, "body": forged, "encrypt": "twomemo",
                          "sce_to": "victim@talpa.test"}),
    );
    let notice = talpa.wait_event_for(|e| e["event"] == "message" && e["with"] == b.as_str(), LONG);
    let body = notice["body"].as_str().unwrap_or_default();
    assert!(
        !body.contains(&forged),
        "the forged content was shown: {notice}"
    );
    assert!(body.contains("could not be decrypted"), "{notice}");
    assert_eq!(notice["encryption"], "omemo2");
    // The session is intact: a correct message from the same peer is read.
    let fine = secret("properly addressed");
    peer.send_cmd(&json!({"cmd": "send", "to": a, "body": fine, "encrypt": "twomemo"}));
    talpa.wait_event_for(|e| is_message(e, &fine), LONG);
    talpa.quit();
}

#[test]
fn keys_published_for_contacts_only_cannot_be_fetched_by_a_stranger() {
    let bed = bed();
    let (a, apw) = bed.new_account("private");
    let (b, bpw) = bed.new_account("stranger");
    let dir = tempfile::tempdir().expect("tempdir");
    let mut talpa = talpa_online(bed, &dir.path().join("p"), &a, &apw);
    let (r, _) = talpa.call(json!({"cmd": "set_key_access", "account": a, "access": "contacts"}));
    assert_eq!(r["ok"], true, "{r}");
    let mut peer = omemo_peer(bed, &b, &bpw);
    let devices = |peer: &mut Peer, id: &str| {
        peer.send_cmd(&json!({"cmd": "omemo_devices", "jid": a, "id": id}));
        let ack = peer.wait_event(|e| e["event"] == "ack" && e["id"] == id, LONG);
        ack["devices"].as_array().map_or(0, Vec::len)
    };
    assert_eq!(
        devices(&mut peer, "hidden"),
        0,
        "a stranger read the device list"
    );
    let (r, _) = talpa.call(json!({"cmd": "set_key_access", "account": a, "access": "open"}));
    assert_eq!(r["ok"], true, "{r}");
    assert!(
        devices(&mut peer, "open") > 0,
        "the open device list is not readable"
    );
    let (r, _) = talpa.call(json!({"cmd": "set_key_access", "account": a, "access": "everyone"}));
    assert_eq!(support::headless::error_kind(&r), "invalid_input", "{r}");
    talpa.quit();
}

/// Prosody's stanza log lines that mention `id` (the original's origin-id) carry no correction
/// or retraction marker: an edit of it travelled only inside OMEMO 2.
fn assert_edits_of_never_in_clear(bed: &Bed, id: &str) {
    for line in bed.stanza_log_text().lines().filter(|l| l.contains(id)) {
        assert!(
            !line.contains("urn:xmpp:message-correct")
                && !line.contains("urn:xmpp:message-retract"),
            "an edit of {id} went through Prosody in clear: {line}"
        );
    }
}

#[test]
fn corrections_and_retractions_in_an_encrypted_room_travel_inside_omemo() {
    let bed = bed();
    let (owner, apw) = bed.new_account("editor");
    let (member, bpw) = bed.new_account("reader");
    let room = bed.new_room("edits");
    let dirs = tempfile::tempdir().expect("tempdir");
    let mut alice = talpa_online(bed, &dirs.path().join("a"), &owner, &apw);
    let mut bob = talpa_online(bed, &dirs.path().join("b"), &member, &bpw);
    let (r, _) = alice.call(json!({"cmd": "create_room", "account": owner, "room": room,
                                   "nick": "editor"}));
    assert_eq!(r["ok"], true, "{r}");
    alice.wait_event_for(|e| e["event"] == "room_joined" && e["room"] == room, LONG);
    let (r, _) = alice.call(json!({"cmd": "invite", "account": owner, "room": room,
                                   "jid": member}));
    assert_eq!(r["ok"], true, "{r}");
    let (r, _) = bob.call(json!({"cmd": "join_room", "account": member, "room": room,
                                 "nick": "reader"}));
    assert_eq!(r["ok"], true, "{r}");
    bob.wait_event_for(|e| e["event"] == "room_joined" && e["room"] == room, LONG);
    alice.wait_event_for(
        |e| e["event"] == "occupants" && e["occupants"].as_array().is_some_and(|o| o.len() == 2),
        LONG,
    );

    let text = secret("to the room, with a tpyo");
    let oid = send(&mut alice, &owner, &room, &text);
    let m = bob.wait_event_for(|e| is_message(e, &text), LONG);
    assert_eq!(m["encryption"], "omemo2", "{m}");

    let fixed = secret("to the room, corrected");
    let (r, _) = alice.call(json!({"cmd": "correct", "account": owner, "with": room,
                                   "message": oid, "body": fixed}));
    assert_eq!(r["ok"], true, "{r}");
    let m = bob.wait_event_for(
        |e| e["event"] == "message_updated" && e["body"] == fixed.as_str(),
        LONG,
    );
    assert_eq!(m["corrected"], true, "{m}");
    assert_eq!(m["encryption"], "omemo2", "{m}");

    let (r, _) = alice.call(json!({"cmd": "retract", "account": owner, "with": room,
                                   "message": oid}));
    assert_eq!(r["ok"], true, "{r}");
    let m = bob.wait_event_for(
        |e| e["event"] == "message_updated" && e["retracted"] == true,
        LONG,
    );
    assert_eq!(m["body"], "", "{m}");
    let (r, _) = bob.call(json!({"cmd": "history", "account": member, "with": room}));
    assert_eq!(bodies(&r), [""], "one message, retracted: {r}");

    assert_never_in_clear(bed, &oid, &[&text, &fixed]);
    assert_edits_of_never_in_clear(bed, &oid);
    alice.quit();
    bob.quit();
}

#[test]
fn a_key_exchange_read_from_the_archive_is_answered_with_a_heartbeat_after_the_catch_up() {
    let bed = bed();
    let (a, apw) = bed.new_account("offline");
    let (b, bpw) = bed.new_account("writer");
    let dir = tempfile::tempdir().expect("tempdir");
    let profile = dir.path().join("p");
    // Talpa publishes its keys, then goes offline.
    let talpa = talpa_online(bed, &profile, &a, &apw);
    talpa.quit();

    // The peer starts a session while Talpa is away: its key exchange waits in the archive.
    let mut peer = omemo_peer(bed, &b, &bpw);
    peer.send_cmd(&json!({"cmd": "raw_events", "on": true}));
    let one = secret("while you were away");
    peer.send_cmd(&json!({"cmd": "send", "to": a, "body": one, "encrypt": "twomemo"}));
    peer.wait_event(|e| e["event"] == "ack" && e["cmd"] == "send", LONG);

    let network = bed.tor.network_file.to_string_lossy().into_owned();
    let mut talpa = Headless::start_with(
        &profile,
        &["--tor-network", &network, "--startup-jitter", "1"],
    );
    let (r, _) = talpa.call(json!({"cmd": "unlock", "passphrase": "e2e"}));
    assert_eq!(r["ok"], true, "{r}");
    let m = talpa.wait_event_for(|e| is_message(e, &one), LONG);
    assert_eq!(m["encryption"], "omemo2", "{m}");

    // After the catch-up Talpa sends an empty OMEMO 2 message (no payload) to the peer.
    let hb = peer.wait_event(
        |e| {
            e["event"] == "stanza"
                && e["xml"].as_str().is_some_and(|x| {
                    x.contains(a.as_str())
                        && x.contains("<encrypted")
                        && x.contains("urn:xmpp:omemo:2")
                        && !x.contains("<payload")
                })
        },
        LONG,
    );
    assert!(
        !hb["xml"].as_str().unwrap_or_default().contains("<body"),
        "{hb}"
    );
    // python-omemo reads it (an empty message: no body)...
    let read = peer.wait_event(
        |e| {
            (e["event"] == "message" || e["event"] == "error")
                && e["from"]
                    .as_str()
                    .is_some_and(|f| f.starts_with(a.as_str()))
        },
        LONG,
    );
    assert_eq!(read["event"], "message", "{read}");
    assert_eq!(read["encrypted"], "twomemo", "{read}");
    assert!(read["body"].is_null(), "{read}");
    // ...so its session is complete: its next message carries no key exchange.
    let two = secret("now that we have a session");
    let id = format!("after-heartbeat-{}", random_hex(6));
    peer.send_cmd(
        &json!({"cmd": "send", "to": a, "body": two, "encrypt": "twomemo",
                          "msg_id": id}),
    );
    talpa.wait_event_for(|e| is_message(e, &two), LONG);
    let line = bed
        .stanza_log_text()
        .lines()
        .find(|l| l.contains(&id))
        .map(str::to_owned)
        .expect("the peer's second message is in the stanza log");
    assert!(
        !line.contains("kex='true'") && !line.contains("kex=\"true\""),
        "the peer still sends key exchanges: {line}"
    );
    talpa.quit();
}
