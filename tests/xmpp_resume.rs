//! XEP-0198: when the connection under a session is cut, the session logs in again through its
//! opener, resumes the stream without loss, and stanzas sent in both directions meanwhile
//! arrive.

mod support;
mod xmpp_common;

use support::bed;
use talpa::xmpp::TrustAnchor;
use talpa::xmpp::connector::TlsMode;
use talpa::xmpp::session::{Session, SessionEvent};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio_xmpp::jid::Jid;
use xmpp_common::{ca_pem, config, connect, tcp_opener, wait_for};

/// A TCP proxy whose current connections can all be cut at once.
async fn cuttable_proxy(upstream: String) -> (u16, watch::Sender<u32>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let (cut_tx, cut_rx) = watch::channel(0u32);
    tokio::spawn(async move {
        while let Ok((mut client, _)) = listener.accept().await {
            let upstream = upstream.clone();
            let mut cut = cut_rx.clone();
            let generation = *cut.borrow_and_update();
            tokio::spawn(async move {
                let Ok(mut server) = TcpStream::connect(&upstream).await else {
                    return;
                };
                tokio::select! {
                    _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                    _ = cut.wait_for(|g| *g != generation) => {}
                }
            });
        }
    });
    (port, cut_tx)
}

#[tokio::test]
async fn cut_connection_is_resumed_without_losing_stanzas() {
    let b = bed();
    let (a_jid, a_pw) = b.new_account("resa");
    let (b_jid, b_pw) = b.new_account("resb");
    let (port, cut) = cuttable_proxy(format!("{}:{}", b.prosody.host, b.prosody.c2s_port)).await;
    let (alice, mut aev, _) = Session::connect(
        config(
            &a_jid,
            &a_pw,
            TlsMode::StartTls,
            TrustAnchor::ExtraCaPem(ca_pem()),
        ),
        tcp_opener("127.0.0.1", port),
    )
    .await
    .expect("alice login");
    alice.start(None).await.expect("alice start");
    let (bob, mut bev) = connect(&b_jid, &b_pw).await;
    bob.start(None).await.expect("bob start");
    let alice_full = alice.bound_jid();

    cut.send_modify(|g| *g += 1);
    wait_for(&mut aev, |e| {
        matches!(e, SessionEvent::Suspended).then_some(())
    })
    .await;

    // Both directions while alice is away.
    bob.send_chat(Jid::from(alice_full.clone()), "while you were away")
        .await
        .expect("bob send");
    let mut sent = alice
        .send_chat(Jid::from(bob.bound_jid()), "queued during the cut")
        .await
        .expect("alice send");

    let mut resumed = false;
    let mut got = false;
    wait_for(&mut aev, |e| {
        match e {
            SessionEvent::Online {
                resumed: r,
                bound_jid,
            } => {
                assert!(*r, "stream was not resumed but reset");
                assert_eq!(*bound_jid, alice_full);
                resumed = true;
            }
            SessionEvent::Message(m) if m.body.as_deref() == Some("while you were away") => {
                got = true;
            }
            SessionEvent::Disconnected { reason } => panic!("session ended: {reason}"),
            _ => {}
        }
        (resumed && got).then_some(())
    })
    .await;
    assert!(
        sent.acked().await,
        "queued stanza not acked after resumption"
    );
    wait_for(&mut bev, |e| match e {
        SessionEvent::Message(m) if m.body.as_deref() == Some("queued during the cut") => Some(()),
        _ => None,
    })
    .await;
    alice.close().await;
    bob.close().await;
}
