//! The xmpp layer over a Tor stream: log in to the bed's Prosody through the bed's private Tor
//! network (the C tor client's SOCKS port, exit on 127.0.0.1), exchange a message with a
//! directly connected session. The stream is opaque to the xmpp layer, exactly as with Arti.

mod support;
mod xmpp_common;

use support::bed;
use talpa::xmpp::TrustAnchor;
use talpa::xmpp::connector::{StreamOpener, TlsMode, opener};
use talpa::xmpp::session::{Session, SessionEvent};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_xmpp::jid::Jid;
use xmpp_common::{ca_pem, config, connect, wait_for};

/// SOCKS5 CONNECT with the host name passed unresolved (as Talpa always does).
async fn socks5(proxy: String, host: String, port: u16) -> std::io::Result<TcpStream> {
    let mut s = TcpStream::connect(proxy).await?;
    s.write_all(&[5, 1, 0]).await?;
    let mut hello = [0u8; 2];
    s.read_exact(&mut hello).await?;
    if hello != [5, 0] {
        return Err(std::io::Error::other("SOCKS5 greeting refused"));
    }
    let mut req = vec![
        5,
        1,
        0,
        3,
        u8::try_from(host.len()).map_err(std::io::Error::other)?,
    ];
    req.extend_from_slice(host.as_bytes());
    req.extend_from_slice(&port.to_be_bytes());
    s.write_all(&req).await?;
    let mut head = [0u8; 4];
    s.read_exact(&mut head).await?;
    if head[1] != 0 {
        return Err(std::io::Error::other(format!(
            "SOCKS5 CONNECT failed: {}",
            head[1]
        )));
    }
    let rest = match head[3] {
        1 => 4 + 2,
        4 => 16 + 2,
        3 => {
            let mut l = [0u8; 1];
            s.read_exact(&mut l).await?;
            usize::from(l[0]) + 2
        }
        _ => return Err(std::io::Error::other("bad SOCKS5 reply")),
    };
    let mut skip = vec![0u8; rest];
    s.read_exact(&mut skip).await?;
    Ok(s)
}

fn tor_opener(proxy: String, host: String, port: u16) -> StreamOpener {
    opener(move || socks5(proxy.clone(), host.clone(), port))
}

#[tokio::test]
async fn login_and_message_through_the_private_tor_network() {
    let b = bed();
    let (a_jid, a_pw) = b.new_account("tora");
    let (b_jid, b_pw) = b.new_account("torb");
    let open = tor_opener(b.socks_addr(), b.prosody.host.clone(), b.prosody.c2s_port);
    let (alice, _aev, _) = Session::connect(
        config(
            &a_jid,
            &a_pw,
            TlsMode::StartTls,
            TrustAnchor::ExtraCaPem(ca_pem()),
        ),
        open,
    )
    .await
    .unwrap_or_else(|e| panic!("login over Tor failed: {e}\n{}", b.prosody_log_tail(30)));
    let (bob, mut bev) = connect(&b_jid, &b_pw).await;
    bob.start(None).await.expect("bob start");
    alice
        .send_chat(Jid::from(bob.bound_jid()), "through tor")
        .await
        .expect("send");
    wait_for(&mut bev, |e| match e {
        SessionEvent::Message(m) if m.body.as_deref() == Some("through tor") => Some(()),
        _ => None,
    })
    .await;
    alice.close().await;
    bob.close().await;
}
