//! PEP and XEP-0402 bookmarks on the bed: set, list, notification to the account's other
//! session (Prosody learns our `+notify` interest from the fixed caps via our disco#info),
//! removal, and an open-access node readable by a stranger (as OMEMO bundles must be).

mod support;
mod xmpp_common;

use support::bed;
use talpa::xmpp::pep::{AccessModel, Bookmark};
use talpa::xmpp::session::SessionEvent;
use talpa::xmpp::stanza::{elem, text_elem};
use tokio_xmpp::jid::{BareJid, Jid};
use xmpp_common::{connect, wait_for};

#[tokio::test]
async fn bookmark_set_notifies_own_other_session_and_can_be_removed() {
    let b = bed();
    let (a_jid, a_pw) = b.new_account("bma");
    let (alice1, _a1ev) = connect(&a_jid, &a_pw).await;
    let (alice2, mut a2ev) = connect(&a_jid, &a_pw).await;
    alice1.start(None).await.expect("start");
    alice2.start(None).await.expect("start");
    assert!(alice1.bookmarks().await.expect("bookmarks").is_empty());

    let room: BareJid = b.new_room("cell").parse().expect("room");
    let bm = Bookmark {
        room: room.clone(),
        name: Some("Cell".to_owned()),
        autojoin: true,
        nick: Some("mole".to_owned()),
    };
    alice1.bookmark_set(&bm).await.expect("set");
    assert_eq!(
        alice1.bookmarks().await.expect("bookmarks"),
        vec![bm.clone()]
    );

    let own = Jid::from(BareJid::new(&a_jid).expect("jid"));
    wait_for(&mut a2ev, |e| match e {
        SessionEvent::PubSubEvent { from, event } => {
            assert_eq!(from.as_ref(), Some(&own));
            String::from(event).contains(room.as_str()).then_some(())
        }
        _ => None,
    })
    .await;

    alice1.bookmark_remove(&room).await.expect("remove");
    assert!(alice1.bookmarks().await.expect("bookmarks").is_empty());
    alice1.close().await;
    alice2.close().await;
}

#[tokio::test]
async fn open_pep_node_is_readable_by_a_stranger() {
    let b = bed();
    let (a_jid, a_pw) = b.new_account("pepa");
    let (m_jid, m_pw) = b.new_account("pepm");
    let (alice, _aev) = connect(&a_jid, &a_pw).await;
    let (stranger, _sev) = connect(&m_jid, &m_pw).await;
    let mut list = elem("list", "eu.siacs.conversations.axolotl", &[]);
    let mut dev = elem(
        "device",
        "eu.siacs.conversations.axolotl",
        &[("id", "4242")],
    );
    dev.append_child(text_elem("label", "eu.siacs.conversations.axolotl", ""));
    list.append_child(dev);
    alice
        .pep_publish(
            "eu.siacs.conversations.axolotl.devicelist",
            Some("current"),
            list,
            AccessModel::Open,
            None,
        )
        .await
        .expect("publish");
    let owner = BareJid::new(&a_jid).expect("jid");
    let items = stranger
        .pep_items(Some(&owner), "eu.siacs.conversations.axolotl.devicelist")
        .await
        .expect("stranger reads open node");
    assert_eq!(items.len(), 1);
    assert!(String::from(&items[0].1).contains("4242"));
    alice.close().await;
    stranger.close().await;
}
