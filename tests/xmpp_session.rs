//! Sessions against the bed's Prosody: messaging, fingerprint policy as seen by another
//! client, carbons, MAM catch-up, roster, subscriptions, blocking, XEP-0198 acks.

mod support;
mod xmpp_common;

use support::bed;
use talpa::privacy::disco::{CAPS_NODE, FEATURES, caps_ver};
use talpa::xmpp::XmppError;
use talpa::xmpp::session::{CarbonDirection, PresenceKind, SessionEvent};
use talpa::xmpp::stanza::elem;
use tokio_xmpp::jid::{BareJid, Jid};
use tokio_xmpp::parsers::disco::DiscoInfoResult;
use xmpp_common::{connect, wait_for};

fn bare(j: &str) -> BareJid {
    j.parse().expect("jid")
}

#[tokio::test]
async fn two_sessions_exchange_a_message_with_random_id_and_origin_id() {
    let b = bed();
    let (a_jid, a_pw) = b.new_account("msga");
    let (b_jid, b_pw) = b.new_account("msgb");
    let (alice, _aev) = connect(&a_jid, &a_pw).await;
    let (bob, mut bev) = connect(&b_jid, &b_pw).await;
    bob.start(None).await.expect("bob start");

    let mut sent = alice
        .send_chat(Jid::from(bob.bound_jid()), "hello bob")
        .await
        .expect("send");
    assert_eq!(sent.id.len(), 32);
    assert!(sent.id.bytes().all(|c| c.is_ascii_hexdigit()));
    assert_eq!(sent.origin_id.as_deref(), Some(sent.id.as_str()));

    let m = wait_for(&mut bev, |e| match e {
        SessionEvent::Message(m) if m.body.is_some() => Some(m.clone()),
        _ => None,
    })
    .await;
    assert_eq!(m.body.as_deref(), Some("hello bob"));
    assert_eq!(m.origin_id.as_deref(), Some(sent.id.as_str()));
    assert_eq!(m.from.as_ref().map(Jid::to_bare), Some(bare(&a_jid)));
    // The server stamps a stanza-id by bob's own account: trusted.
    assert!(m.stanza_id.is_some(), "no trusted stanza-id");
    assert!(sent.acked().await, "message not acked through XEP-0198");
    alice.close().await;
    bob.close().await;
}

#[tokio::test]
async fn disco_info_reply_has_one_nameless_client_pc_identity_and_only_talpa_features() {
    let b = bed();
    let (a_jid, a_pw) = b.new_account("discoa");
    let (b_jid, b_pw) = b.new_account("discob");
    let (alice, _aev) = connect(&a_jid, &a_pw).await;
    let (bob, _bev) = connect(&b_jid, &b_pw).await;
    let reply = alice
        .iq(
            Some(Jid::from(bob.bound_jid())),
            false,
            elem("query", "http://jabber.org/protocol/disco#info", &[]),
        )
        .await
        .expect("disco#info")
        .expect("payload");
    let xml = String::from(&reply);
    assert!(!xml.contains("name="), "identity has a name: {xml}");
    assert!(!xml.contains("xml:lang"), "xml:lang leaked: {xml}");
    let info = DiscoInfoResult::try_from(reply).expect("parse");
    assert_eq!(info.identities.len(), 1);
    assert_eq!(info.identities[0].category, "client");
    assert_eq!(info.identities[0].type_, "pc");
    assert!(info.identities[0].name.is_none());
    let expected: std::collections::BTreeSet<String> =
        FEATURES.iter().map(|f| (*f).to_owned()).collect();
    assert_eq!(info.features, expected);
    alice.close().await;
    bob.close().await;
}

#[tokio::test]
async fn version_time_and_last_activity_queries_get_bare_service_unavailable() {
    let b = bed();
    let (a_jid, a_pw) = b.new_account("vera");
    let (b_jid, b_pw) = b.new_account("verb");
    let (alice, _aev) = connect(&a_jid, &a_pw).await;
    let (bob, _bev) = connect(&b_jid, &b_pw).await;
    for (name, ns) in [
        ("query", "jabber:iq:version"),
        ("time", "urn:xmpp:time"),
        ("query", "jabber:iq:last"),
    ] {
        let err = alice
            .iq(Some(Jid::from(bob.bound_jid())), false, elem(name, ns, &[]))
            .await
            .err()
            .unwrap_or_else(|| panic!("{ns} was answered"));
        match err {
            XmppError::IqError(c) => assert_eq!(c, "ServiceUnavailable", "{ns}"),
            other => panic!("{ns}: unexpected {other:?}"),
        }
    }
    // Pings are answered.
    let pong = alice
        .iq(
            Some(Jid::from(bob.bound_jid())),
            false,
            elem("ping", "urn:xmpp:ping", &[]),
        )
        .await
        .expect("ping answered");
    assert!(pong.is_none());
    alice.close().await;
    bob.close().await;
}

#[tokio::test]
async fn carbons_copy_sent_and_received_messages_to_the_other_session() {
    let b = bed();
    let (a_jid, a_pw) = b.new_account("carba");
    let (b_jid, b_pw) = b.new_account("carbb");
    let (alice1, _a1ev) = connect(&a_jid, &a_pw).await;
    let (alice2, mut a2ev) = connect(&a_jid, &a_pw).await;
    let (bob, _bev) = connect(&b_jid, &b_pw).await;
    alice1.start(None).await.expect("alice1 start");
    alice2.start(None).await.expect("alice2 start");
    bob.start(None).await.expect("bob start");

    alice1
        .send_chat(Jid::from(bare(&b_jid)), "sent from alice1")
        .await
        .expect("send");
    let sent = wait_for(&mut a2ev, |e| match e {
        SessionEvent::Carbon {
            direction: CarbonDirection::Sent,
            message,
        } => Some(message.clone()),
        _ => None,
    })
    .await;
    assert_eq!(sent.body.as_deref(), Some("sent from alice1"));

    bob.send_chat(Jid::from(alice1.bound_jid()), "to alice1 only")
        .await
        .expect("send");
    let recv = wait_for(&mut a2ev, |e| match e {
        SessionEvent::Carbon {
            direction: CarbonDirection::Received,
            message,
        } => Some(message.clone()),
        _ => None,
    })
    .await;
    assert_eq!(recv.body.as_deref(), Some("to alice1 only"));
    alice1.close().await;
    alice2.close().await;
    bob.close().await;
}

#[tokio::test]
async fn mam_catch_up_returns_exactly_the_messages_sent_while_offline() {
    let b = bed();
    let (a_jid, a_pw) = b.new_account("mama");
    let (b_jid, b_pw) = b.new_account("mamb");
    let (bob, _bev) = connect(&b_jid, &b_pw).await;
    bob.start(None).await.expect("bob start");

    bob.send_chat(Jid::from(bare(&a_jid)), "before")
        .await
        .expect("send");
    // Alice comes online once and remembers the last archive id.
    let (alice, _aev) = connect(&a_jid, &a_pw).await;
    let first = alice.start(None).await.expect("alice start");
    let last = first.archived.last().expect("archived 'before'");
    assert_eq!(last.message.body.as_deref(), Some("before"));
    let last_id = last.archive_id.clone();
    alice.close().await;

    for i in 0..3 {
        let mut s = bob
            .send_chat(Jid::from(bare(&a_jid)), &format!("offline {i}"))
            .await
            .expect("send");
        assert!(s.acked().await);
    }
    let (alice, _aev) = connect(&a_jid, &a_pw).await;
    let caught = alice.start(Some(last_id)).await.expect("catch up").archived;
    let bodies: Vec<_> = caught
        .iter()
        .filter_map(|m| m.message.body.clone())
        .collect();
    assert_eq!(bodies, vec!["offline 0", "offline 1", "offline 2"]);
    for m in &caught {
        assert_eq!(
            m.message.from.as_ref().map(Jid::to_bare),
            Some(bare(&b_jid))
        );
        assert!(m.delay.as_ref().is_some_and(|d| !d.clamped));
    }
    alice.close().await;
    bob.close().await;
}

#[tokio::test]
async fn roster_add_push_get_and_remove() {
    let b = bed();
    let (a_jid, a_pw) = b.new_account("rosa");
    let (b_jid, _) = b.new_account("rosb");
    let (alice, mut aev) = connect(&a_jid, &a_pw).await;
    // Requesting the roster makes this resource "interested" in roster pushes (RFC 6121).
    assert!(alice.start(None).await.expect("start").roster.is_empty());
    alice
        .roster_set(&bare(&b_jid), Some("Bob"))
        .await
        .expect("roster set");
    let pushed = wait_for(&mut aev, |e| match e {
        SessionEvent::RosterPush(items) => Some(items.clone()),
        _ => None,
    })
    .await;
    assert_eq!(pushed[0].jid, bare(&b_jid));
    let roster = alice.roster_get().await.expect("roster get");
    assert!(roster.iter().any(|i| i.jid == bare(&b_jid)));
    alice.roster_remove(&bare(&b_jid)).await.expect("remove");
    let roster = alice.roster_get().await.expect("roster get");
    assert!(!roster.iter().any(|i| i.jid == bare(&b_jid)));
    alice.close().await;
}

#[tokio::test]
async fn subscription_approval_then_presence_carries_only_the_fixed_caps() {
    let b = bed();
    let (a_jid, a_pw) = b.new_account("suba");
    let (b_jid, b_pw) = b.new_account("subb");
    let (alice, mut aev) = connect(&a_jid, &a_pw).await;
    let (bob, mut bev) = connect(&b_jid, &b_pw).await;
    alice.start(None).await.expect("start");
    bob.start(None).await.expect("start");
    alice.subscribe(&bare(&b_jid)).await.expect("subscribe");
    wait_for(&mut bev, |e| match e {
        SessionEvent::Presence {
            kind: PresenceKind::Subscribe,
            from,
            ..
        } if from.as_ref().map(Jid::to_bare) == Some(bare(&a_jid)) => Some(()),
        _ => None,
    })
    .await;
    bob.approve_subscription(&bare(&a_jid))
        .await
        .expect("approve");
    wait_for(&mut aev, |e| match e {
        SessionEvent::Presence {
            kind: PresenceKind::Subscribed,
            ..
        } => Some(()),
        _ => None,
    })
    .await;
    // Now subscribed, alice sees bob's presence: only the fixed caps, nothing else.
    let raw = wait_for(&mut aev, |e| match e {
        SessionEvent::Presence {
            kind: PresenceKind::Available,
            from,
            raw,
        } if from.as_ref().map(Jid::to_bare) == Some(bare(&b_jid)) => Some(raw.clone()),
        _ => None,
    })
    .await;
    assert!(raw.statuses.is_empty());
    assert!(raw.show.is_none());
    let caps: Vec<_> = raw
        .payloads
        .iter()
        .filter(|p| p.is("c", "http://jabber.org/protocol/caps"))
        .collect();
    assert_eq!(caps.len(), 1, "{:?}", raw.payloads);
    assert_eq!(caps[0].attr("ver"), Some(caps_ver().as_str()));
    assert_eq!(caps[0].attr("node"), Some(CAPS_NODE));
    let xml = String::from(&tokio_xmpp::minidom::Element::from(*raw));
    assert!(!xml.to_lowercase().contains("talpa/"), "{xml}");
    alice.close().await;
    bob.close().await;
}

#[tokio::test]
async fn block_unblock_and_block_list_push() {
    let b = bed();
    let (a_jid, a_pw) = b.new_account("blka");
    let (alice, mut aev) = connect(&a_jid, &a_pw).await;
    // Fetching the block list makes this resource receive block-list pushes.
    assert!(alice.blocklist().await.expect("blocklist").is_empty());
    let mallory = bare("mallory@talpa.test");
    alice
        .block(std::slice::from_ref(&mallory))
        .await
        .expect("block");
    let pushed = wait_for(&mut aev, |e| match e {
        SessionEvent::BlockListPush {
            blocked: true,
            jids,
        } => Some(jids.clone()),
        _ => None,
    })
    .await;
    assert_eq!(pushed, vec![Jid::from(mallory.clone())]);
    let list = alice.blocklist().await.expect("blocklist");
    assert!(list.iter().any(|j| j.to_bare() == mallory));
    alice
        .unblock(std::slice::from_ref(&mallory))
        .await
        .expect("unblock");
    let list = alice.blocklist().await.expect("blocklist");
    assert!(list.is_empty());
    alice.close().await;
}

#[tokio::test]
async fn corrections_and_retractions_reach_the_peer() {
    let b = bed();
    let (a_jid, a_pw) = b.new_account("cora");
    let (b_jid, b_pw) = b.new_account("corb");
    let (alice, _aev) = connect(&a_jid, &a_pw).await;
    let (bob, mut bev) = connect(&b_jid, &b_pw).await;
    bob.start(None).await.expect("start");
    let to = Jid::from(bob.bound_jid());
    let orig = alice.send_chat(to.clone(), "typo").await.expect("send");
    let orig_id = orig.origin_id.clone().expect("origin id");
    alice
        .send_correction(to.clone(), &orig_id, "fixed")
        .await
        .expect("correct");
    let c = wait_for(&mut bev, |e| match e {
        SessionEvent::Message(m) if m.replaces.is_some() => Some(m.clone()),
        _ => None,
    })
    .await;
    assert_eq!(c.replaces.as_deref(), Some(orig_id.as_str()));
    assert_eq!(c.body.as_deref(), Some("fixed"));
    alice.send_retraction(to, &orig_id).await.expect("retract");
    let r = wait_for(&mut bev, |e| match e {
        SessionEvent::Message(m) if m.retracts.is_some() => Some(m.clone()),
        _ => None,
    })
    .await;
    assert_eq!(r.retracts.as_deref(), Some(orig_id.as_str()));
    // XEP-0428: the fallback body is marked as one, for clients without XEP-0424; XEP-0334:
    // the server archives it all the same.
    let payload = |name: &str, ns: &str| r.raw.payloads.iter().find(|p| p.is(name, ns)).cloned();
    let fallback = payload("fallback", talpa::xmpp::stanza::NS_FALLBACK)
        .expect("the retraction carries a fallback indication");
    assert_eq!(fallback.attr("for"), Some(talpa::xmpp::stanza::NS_RETRACT));
    assert!(r.body.is_some(), "with the fallback body");
    assert!(
        payload("store", talpa::xmpp::stanza::NS_HINTS).is_some(),
        "and a store hint"
    );
    alice.close().await;
    bob.close().await;
}

#[tokio::test]
async fn catch_up_from_an_unknown_archive_id_falls_back_to_the_whole_archive() {
    let b = bed();
    let (a_jid, a_pw) = b.new_account("mamx");
    let (b_jid, b_pw) = b.new_account("mamy");
    let (bob, _bev) = connect(&b_jid, &b_pw).await;
    let mut s = bob
        .send_chat(Jid::from(bare(&a_jid)), "kept")
        .await
        .expect("send");
    assert!(s.acked().await);
    let (alice, _aev) = connect(&a_jid, &a_pw).await;
    let got = alice
        .start(Some("no-such-archive-id".to_owned()))
        .await
        .expect("start")
        .archived;
    assert!(
        got.iter()
            .any(|m| m.message.body.as_deref() == Some("kept"))
    );
    alice.close().await;
    bob.close().await;
}
