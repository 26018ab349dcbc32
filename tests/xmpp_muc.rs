//! Private group chat on the bed's MUC service: create and configure a members-only room,
//! admit a member, exchange a groupchat message (room stanza-id trusted), catch up from the
//! room's archive, and keep non-members out.

mod support;
mod xmpp_common;

use support::bed;
use talpa::xmpp::muc::{Affiliation, parse_muc_presence};
use talpa::xmpp::session::{PresenceKind, SessionEvent};
use tokio_xmpp::jid::{BareJid, Jid};
use tokio_xmpp::parsers::message::MessageType;
use xmpp_common::{connect, self_presence, wait_for};

#[tokio::test]
async fn members_only_room_message_archive_and_exclusion() {
    let b = bed();
    let (a_jid, a_pw) = b.new_account("muca");
    let (b_jid, b_pw) = b.new_account("mucb");
    let (c_jid, c_pw) = b.new_account("mucc");
    let room: BareJid = b.new_room("private").parse().expect("room");

    let (alice, mut aev) = connect(&a_jid, &a_pw).await;
    alice.start(None).await.expect("alice start");
    alice.muc_join(&room, "alice", None).await.expect("join");
    let me = self_presence(&mut aev, &room).await;
    assert!(me.created, "room was not freshly created");
    assert_eq!(me.affiliation, Some(Affiliation::Owner));
    alice
        .muc_configure_private(&room, None)
        .await
        .expect("configure");
    let bob_bare: BareJid = b_jid.parse().expect("jid");
    alice
        .muc_set_affiliation(&room, &bob_bare, Affiliation::Member)
        .await
        .expect("add member");
    let members = alice
        .muc_affiliations(&room, Affiliation::Member)
        .await
        .expect("members");
    assert_eq!(members, vec![bob_bare.clone()]);

    let (bob, mut bev) = connect(&b_jid, &b_pw).await;
    bob.start(None).await.expect("bob start");
    bob.muc_join(&room, "bob", None).await.expect("bob join");
    let bob_me = self_presence(&mut bev, &room).await;
    assert_eq!(bob_me.affiliation, Some(Affiliation::Member));

    alice
        .send_groupchat(&room, "hello room")
        .await
        .expect("groupchat");
    let got = wait_for(&mut bev, |e| match e {
        SessionEvent::Message(m) if m.body.as_deref() == Some("hello room") => Some(m.clone()),
        _ => None,
    })
    .await;
    assert_eq!(got.kind, MessageType::Groupchat);
    assert!(got.stanza_id.is_some(), "room stanza-id not trusted");
    // Groupchat messages come from the room (occupant JID room/nick).
    assert_eq!(got.from.as_ref().map(Jid::to_bare), Some(room.clone()));

    let archived = bob
        .mam_catch_up(Some(room.clone()), None)
        .await
        .expect("room MAM");
    assert!(
        archived
            .iter()
            .any(|m| m.message.body.as_deref() == Some("hello room")),
        "message not in the room archive"
    );

    // Carol is not a member: the members-only room refuses her.
    let (carol, mut cev) = connect(&c_jid, &c_pw).await;
    carol.start(None).await.expect("carol start");
    carol
        .muc_join(&room, "carol", None)
        .await
        .expect("send join");
    let room_jid = Jid::from(room.clone());
    wait_for(&mut cev, |e| match e {
        SessionEvent::Presence {
            kind: PresenceKind::Error,
            from,
            ..
        } if from.as_ref().map(Jid::to_bare) == Some(room_jid.to_bare()) => Some(()),
        SessionEvent::Presence { raw, .. }
            if parse_muc_presence(raw).is_some_and(|m| m.is_self) =>
        {
            panic!("non-member entered the members-only room")
        }
        _ => None,
    })
    .await;

    alice.muc_leave(&room, "alice").await.expect("leave");
    alice.close().await;
    bob.close().await;
    carol.close().await;
}
