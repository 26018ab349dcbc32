//! Hostile input from another account reaches a real session through Prosody and is rejected:
//! forged carbons, injected MAM results, roster pushes and bookmark events from a contact, and
//! requests nested too deeply (answered with an error, not left to time out).

mod support;
mod xmpp_common;

use support::bed;
use talpa::xmpp::XmppError;
use talpa::xmpp::origin::Rejection;
use talpa::xmpp::session::{Session, SessionEvent};
use talpa::xmpp::stanza::elem;
use tokio::sync::mpsc::UnboundedReceiver;
use tokio_xmpp::jid::Jid;
use tokio_xmpp::minidom::Element;
use tokio_xmpp::parsers::message::Message;
use xmpp_common::{connect, wait_for};

async fn pair() -> (Session, UnboundedReceiver<SessionEvent>, Session, String) {
    let b = bed();
    let (a_jid, a_pw) = b.new_account("vict");
    let (m_jid, m_pw) = b.new_account("mall");
    let (alice, mut aev) = connect(&a_jid, &a_pw).await;
    alice.start(None).await.expect("alice start");
    while aev.try_recv().is_ok() {}
    let (mallory, _mev) = connect(&m_jid, &m_pw).await;
    (alice, aev, mallory, a_jid)
}

fn message(xml: &str) -> Message {
    Message::try_from(xml.parse::<Element>().expect("xml")).expect("message")
}

/// Sends `hostile`, then a harmless marker message; asserts `alice` reports `expected` and
/// that nothing before the marker was accepted as a message, carbon or event.
async fn assert_rejected(
    alice: &Session,
    aev: &mut UnboundedReceiver<SessionEvent>,
    mallory: &Session,
    hostile: Message,
    expected: Rejection,
) {
    mallory.send_message(hostile).await.expect("send hostile");
    mallory
        .send_chat(Jid::from(alice.bound_jid()), "marker")
        .await
        .expect("send marker");
    let mut rejected = false;
    wait_for(aev, |e| match e {
        SessionEvent::Rejected(r) => {
            assert_eq!(*r, expected);
            rejected = true;
            None
        }
        SessionEvent::Message(m) if m.body.as_deref() == Some("marker") => Some(()),
        SessionEvent::Message(_)
        | SessionEvent::Carbon { .. }
        | SessionEvent::PubSubEvent { .. } => {
            panic!("hostile stanza accepted: {e:?}")
        }
        _ => None,
    })
    .await;
    assert!(rejected, "no rejection reported");
}

#[tokio::test]
async fn forged_carbon_from_contact_is_dropped() {
    let (alice, mut aev, mallory, a_jid) = pair().await;
    let hostile = message(&format!(
        "<message xmlns='jabber:client' to='{}' type='chat'>\
         <received xmlns='urn:xmpp:carbons:2'><forwarded xmlns='urn:xmpp:forward:0'>\
         <message xmlns='jabber:client' from='boss@talpa.test/x' to='{a_jid}' type='chat'>\
         <body>forged order</body></message></forwarded></received></message>",
        alice.bound_jid()
    ));
    assert_rejected(&alice, &mut aev, &mallory, hostile, Rejection::ForgedCarbon).await;
}

#[tokio::test]
async fn injected_mam_result_is_dropped() {
    let (alice, mut aev, mallory, a_jid) = pair().await;
    let hostile = message(&format!(
        "<message xmlns='jabber:client' to='{}'>\
         <result xmlns='urn:xmpp:mam:2' queryid='guess' id='x1'>\
         <forwarded xmlns='urn:xmpp:forward:0'>\
         <delay xmlns='urn:xmpp:delay' stamp='2020-01-01T00:00:00Z'/>\
         <message xmlns='jabber:client' from='boss@talpa.test/x' to='{a_jid}' type='chat'>\
         <body>old forged</body></message></forwarded></result></message>",
        alice.bound_jid()
    ));
    assert_rejected(
        &alice,
        &mut aev,
        &mallory,
        hostile,
        Rejection::UnknownMamQuery,
    )
    .await;
}

#[tokio::test]
async fn bookmark_event_from_contact_is_dropped() {
    let (alice, mut aev, mallory, _) = pair().await;
    let hostile = message(&format!(
        "<message xmlns='jabber:client' to='{}'>\
         <event xmlns='http://jabber.org/protocol/pubsub#event'>\
         <items node='urn:xmpp:bookmarks:1'><item id='trap@rooms.talpa.test'>\
         <conference xmlns='urn:xmpp:bookmarks:1' autojoin='true'/></item></items>\
         </event></message>",
        alice.bound_jid()
    ));
    assert_rejected(
        &alice,
        &mut aev,
        &mallory,
        hostile,
        Rejection::ForeignPepEvent,
    )
    .await;
}

#[tokio::test]
async fn roster_push_from_contact_is_refused() {
    let (alice, mut aev, mallory, _) = pair().await;
    let mut q = elem("query", "jabber:iq:roster", &[]);
    q.append_child(elem(
        "item",
        "jabber:iq:roster",
        &[("jid", "evil@talpa.test")],
    ));
    let err = mallory
        .iq(Some(Jid::from(alice.bound_jid())), true, q)
        .await
        .expect_err("push must be refused");
    assert!(
        matches!(&err, XmppError::IqError(c) if c == "ServiceUnavailable"),
        "{err:?}"
    );
    let r = wait_for(&mut aev, |e| match e {
        SessionEvent::Rejected(r) => Some(r.clone()),
        SessionEvent::RosterPush(_) => panic!("foreign roster push accepted"),
        _ => None,
    })
    .await;
    assert_eq!(r, Rejection::ForeignRosterPush);
    let roster = alice.roster_get().await.expect("roster");
    assert!(roster.is_empty());
}

#[tokio::test]
async fn a_request_nested_too_deeply_is_answered_with_an_error_not_left_to_time_out() {
    let (alice, mut aev, mallory, _) = pair().await;
    let mut payload = Element::builder("leaf", "urn:example:deep").build();
    for _ in 0..100 {
        payload = Element::builder("a", "urn:example:deep")
            .append(payload)
            .build();
    }
    let asked = std::time::Instant::now();
    let answer = mallory
        .iq(Some(Jid::from(alice.bound_jid())), false, payload)
        .await;
    assert!(
        matches!(&answer, Err(XmppError::IqError(c)) if c == "ServiceUnavailable"),
        "{answer:?}"
    );
    assert!(
        asked.elapsed() < std::time::Duration::from_secs(10),
        "answered only after {:?}",
        asked.elapsed()
    );
    // Alice's session goes on: a message after the request arrives.
    mallory
        .send_chat(Jid::from(alice.bound_jid()), "after the deep request")
        .await
        .expect("send marker");
    wait_for(&mut aev, |e| match e {
        SessionEvent::Message(m) if m.body.as_deref() == Some("after the deep request") => Some(()),
        _ => None,
    })
    .await;
}
