//! MAM catch-up in parallel time ranges against the bed's Prosody (which answers extended
//! MAM's `<metadata/>` for accounts; its room archives do not, and tell their newest
//! timestamp through their last result instead): every archived message arrives exactly once
//! and in order — also when many messages share the timestamps at the ranges' boundaries —
//! for an account and for a room. The planner's own cases (sequential fallback when the server
//! tells no newest timestamp, one-page gaps, boundary arithmetic) are unit tests in
//! `src/xmpp/mam.rs`.

mod support;
mod xmpp_common;

use std::time::Duration;

use support::bed;
use talpa::xmpp::Session;
use talpa::xmpp::session::{ArchivedMessage, SessionEvent};
use tokio_xmpp::jid::{BareJid, Jid};
use xmpp_common::{connect, self_presence, wait_for};

/// Bursts of messages one and a bit seconds apart: the archive spans several seconds and each
/// second holds many messages, so range boundaries fall between messages of one timestamp.
const BURSTS: usize = 4;
const PER_BURST: usize = 60;

fn bodies(archived: &[ArchivedMessage]) -> Vec<String> {
    archived
        .iter()
        .filter_map(|m| m.message.body.clone())
        .collect()
}

fn expected() -> Vec<String> {
    (0..BURSTS * PER_BURST)
        .map(|i| format!("m-{i:04}"))
        .collect()
}

fn assert_unique_ids(archived: &[ArchivedMessage]) {
    let mut ids: Vec<&str> = archived.iter().map(|m| m.archive_id.as_str()).collect();
    ids.sort_unstable();
    let n = ids.len();
    ids.dedup();
    assert_eq!(ids.len(), n, "an archive id was delivered twice");
}

/// Sends the bursts through `send` and waits until the server acknowledged the last one.
async fn send_bursts(session: &Session, to: &Jid) {
    let mut last = None;
    for burst in 0..BURSTS {
        if burst > 0 {
            tokio::time::sleep(Duration::from_millis(1200)).await;
        }
        for i in 0..PER_BURST {
            let body = format!("m-{:04}", burst * PER_BURST + i);
            let sent = if to.node().is_some() && to.domain().as_str().starts_with("rooms.") {
                session
                    .send_groupchat(&to.to_bare(), &body)
                    .await
                    .expect("send groupchat")
            } else {
                session.send_chat(to.clone(), &body).await.expect("send")
            };
            last = Some(sent);
        }
    }
    assert!(
        last.expect("sent").acked().await,
        "the last message was not acknowledged"
    );
}

#[tokio::test]
async fn parallel_catch_up_delivers_every_archived_message_once_across_range_boundaries() {
    let b = bed();
    let (a_jid, a_pw) = b.new_account("mampa");
    let (b_jid, b_pw) = b.new_account("mampb");
    let (bob, _bev) = connect(&b_jid, &b_pw).await;
    bob.start(None).await.expect("bob start");
    let alice_bare: BareJid = a_jid.parse().expect("jid");
    let alice_jid = Jid::from(alice_bare.clone());

    let mut anchor = bob
        .send_chat(alice_jid.clone(), "anchor")
        .await
        .expect("send");
    assert!(anchor.acked().await);
    let (alice, _aev) = connect(&a_jid, &a_pw).await;
    let (before, _) = alice
        .mam_catch_up_report(None, None)
        .await
        .expect("first catch-up");
    assert_eq!(bodies(&before), vec!["anchor"]);
    let anchor_id = before[0].archive_id.clone();

    send_bursts(&bob, &alice_jid).await;

    // After the anchor: exactly the bursts, in order, through parallel ranges.
    let (caught, report) = alice
        .mam_catch_up_report(None, Some(anchor_id))
        .await
        .expect("catch up after the anchor");
    assert_eq!(bodies(&caught), expected(), "{report:?}");
    assert_unique_ids(&caught);
    assert!(
        report.ranges >= 2,
        "the server answers <metadata/>, so ranges run in parallel: {report:?}"
    );
    for m in &caught {
        assert_eq!(
            m.message.from.as_ref().map(Jid::to_bare),
            Some(b_jid.parse::<BareJid>().expect("jid"))
        );
    }

    // The whole archive: the anchor, then the bursts.
    let (all, report) = alice
        .mam_catch_up_report(None, None)
        .await
        .expect("whole archive");
    let mut want = vec!["anchor".to_owned()];
    want.extend(expected());
    assert_eq!(bodies(&all), want, "{report:?}");
    assert_unique_ids(&all);
    assert!(report.ranges >= 2, "{report:?}");
    alice.close().await;
    bob.close().await;
}

#[tokio::test]
async fn room_catch_up_runs_in_parallel_ranges_and_delivers_every_message_once() {
    let b = bed();
    let (a_jid, a_pw) = b.new_account("mampr");
    let room: BareJid = b.new_room("mampar").parse().expect("room");
    let (alice, mut aev) = connect(&a_jid, &a_pw).await;
    alice.start(None).await.expect("alice start");
    alice.muc_join(&room, "alice", None).await.expect("join");
    self_presence(&mut aev, &room).await;
    alice
        .muc_configure_private(&room, None)
        .await
        .expect("configure");

    send_bursts(&alice, &Jid::from(room.clone())).await;
    // The room echoes the last message once it has archived it.
    let last = expected().pop().expect("bodies");
    wait_for(&mut aev, |e| match e {
        SessionEvent::Message(m) if m.body.as_deref() == Some(last.as_str()) => Some(()),
        _ => None,
    })
    .await;

    let (caught, report) = alice
        .mam_catch_up_report(Some(room.clone()), None)
        .await
        .expect("room catch-up");
    assert_eq!(bodies(&caught), expected(), "{report:?}");
    assert_unique_ids(&caught);
    // Prosody 0.12's room archives do not answer <metadata/>; their last result tells the
    // newest timestamp.
    assert!(report.ranges >= 2, "{report:?}");
    alice.close().await;
}
