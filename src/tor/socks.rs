//! A small SOCKS5 client (RFC 1928 + RFC 1929 username/password) for system-Tor mode.
//! Target hostnames travel to Tor as SOCKS domain names and are never resolved here.

use std::net::{IpAddr, SocketAddr};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

use super::TorError;

const VERSION: u8 = 5;
const METHOD_USERPASS: u8 = 2;
const CMD_CONNECT: u8 = 1;
const ATYP_V4: u8 = 1;
const ATYP_DOMAIN: u8 = 3;
const ATYP_V6: u8 = 4;

/// Open a stream to `host:port` through the SOCKS5 proxy at `proxy`, authenticating with
/// `username`/`password` (Tor's `IsolateSOCKSAuth` keys circuits on them).
pub(crate) async fn connect(
    proxy: SocketAddr,
    username: &str,
    password: &str,
    host: &str,
    port: u16,
) -> Result<TcpStream, TorError> {
    let mut stream = TcpStream::connect(proxy).await.map_err(TorError::Io)?;
    handshake(&mut stream, username, password, host, port).await?;
    Ok(stream)
}

/// The SOCKS5 exchange over an already-open stream.
pub(crate) async fn handshake<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    username: &str,
    password: &str,
    host: &str,
    port: u16,
) -> Result<(), TorError> {
    let request = connect_request(host, port)?;
    let auth = auth_request(username, password)?;

    stream
        .write_all(&[VERSION, 1, METHOD_USERPASS])
        .await
        .map_err(TorError::Io)?;
    let mut reply = [0u8; 2];
    stream.read_exact(&mut reply).await.map_err(TorError::Io)?;
    if reply != [VERSION, METHOD_USERPASS] {
        return Err(TorError::Socks(format!(
            "proxy refused username/password authentication (reply {reply:?})"
        )));
    }

    stream.write_all(&auth).await.map_err(TorError::Io)?;
    stream.read_exact(&mut reply).await.map_err(TorError::Io)?;
    if reply[1] != 0 {
        return Err(TorError::Socks("proxy rejected the credentials".into()));
    }

    stream.write_all(&request).await.map_err(TorError::Io)?;
    let mut head = [0u8; 4];
    stream.read_exact(&mut head).await.map_err(TorError::Io)?;
    if head[0] != VERSION {
        return Err(TorError::Socks(
            "proxy answered with a wrong version".into(),
        ));
    }
    if head[1] != 0 {
        return Err(match super::Unreachable::of_socks_reply(head[1]) {
            Some(cause) => TorError::Unreachable(cause),
            None => TorError::Socks(reply_text(head[1]).into()),
        });
    }
    let bound_len = match head[3] {
        ATYP_V4 => 4,
        ATYP_V6 => 16,
        ATYP_DOMAIN => {
            let mut len = [0u8; 1];
            stream.read_exact(&mut len).await.map_err(TorError::Io)?;
            usize::from(len[0])
        }
        other => {
            return Err(TorError::Socks(format!(
                "proxy answered with unknown address type {other}"
            )));
        }
    };
    let mut rest = vec![0u8; bound_len + 2];
    stream.read_exact(&mut rest).await.map_err(TorError::Io)?;
    Ok(())
}

/// RFC 1929 sub-negotiation message.
fn auth_request(username: &str, password: &str) -> Result<Vec<u8>, TorError> {
    let user = u8::try_from(username.len())
        .map_err(|_| TorError::Socks("SOCKS username too long".into()))?;
    let pass = u8::try_from(password.len())
        .map_err(|_| TorError::Socks("SOCKS password too long".into()))?;
    if user == 0 || pass == 0 {
        return Err(TorError::Socks("empty SOCKS credentials".into()));
    }
    let mut msg = vec![1, user];
    msg.extend_from_slice(username.as_bytes());
    msg.push(pass);
    msg.extend_from_slice(password.as_bytes());
    Ok(msg)
}

/// CONNECT request: IP literals as addresses, everything else as a domain name (ATYP 3).
pub(crate) fn connect_request(host: &str, port: u16) -> Result<Vec<u8>, TorError> {
    let mut msg = vec![VERSION, CMD_CONNECT, 0];
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    match bare.parse::<IpAddr>() {
        Ok(IpAddr::V4(ip)) => {
            msg.push(ATYP_V4);
            msg.extend_from_slice(&ip.octets());
        }
        Ok(IpAddr::V6(ip)) => {
            msg.push(ATYP_V6);
            msg.extend_from_slice(&ip.octets());
        }
        Err(_) => {
            let len = u8::try_from(host.len())
                .ok()
                .filter(|l| *l > 0)
                .ok_or_else(|| TorError::InvalidTarget(host.to_owned()))?;
            msg.push(ATYP_DOMAIN);
            msg.push(len);
            msg.extend_from_slice(host.as_bytes());
        }
    }
    msg.extend_from_slice(&port.to_be_bytes());
    Ok(msg)
}

fn reply_text(code: u8) -> &'static str {
    match code {
        1 => "SOCKS: general failure",
        2 => "SOCKS: connection not allowed by ruleset",
        3 => "SOCKS: network unreachable",
        4 => "SOCKS: host unreachable",
        5 => "SOCKS: connection refused",
        6 => "SOCKS: TTL expired",
        7 => "SOCKS: command not supported",
        8 => "SOCKS: address type not supported",
        _ => "SOCKS: unknown failure",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostname_goes_out_as_a_domain_name() {
        let msg = connect_request("talpa.test", 5222).expect("valid");
        assert_eq!(&msg[..5], &[5, 1, 0, ATYP_DOMAIN, 10]);
        assert_eq!(&msg[5..15], b"talpa.test");
        assert_eq!(&msg[15..], &5222u16.to_be_bytes());
    }

    #[test]
    fn ip_literals_go_out_as_addresses() {
        let v4 = connect_request("127.0.0.1", 80).expect("valid");
        assert_eq!(v4, vec![5, 1, 0, ATYP_V4, 127, 0, 0, 1, 0, 80]);
        let v6 = connect_request("[::1]", 80).expect("valid");
        assert_eq!(v6[3], ATYP_V6);
        assert_eq!(v6.len(), 4 + 16 + 2);
    }

    #[test]
    fn overlong_hostname_is_refused() {
        assert!(connect_request(&"a".repeat(256), 1).is_err());
        assert!(connect_request("", 1).is_err());
    }

    #[tokio::test]
    async fn handshake_sends_credentials_and_domain_and_accepts_success() {
        let (mut client, mut server) = tokio::io::duplex(1024);
        let srv = tokio::spawn(async move {
            let mut greet = [0u8; 3];
            server.read_exact(&mut greet).await.expect("greet");
            assert_eq!(greet, [5, 1, 2]);
            server.write_all(&[5, 2]).await.expect("w");
            let mut auth = [0u8; 2 + 4 + 1 + 4];
            server.read_exact(&mut auth).await.expect("auth");
            assert_eq!(&auth, b"\x01\x04user\x04pass");
            server.write_all(&[1, 0]).await.expect("w");
            let mut req = vec![0u8; 5 + 9 + 2];
            server.read_exact(&mut req).await.expect("req");
            assert_eq!(&req[3..5], &[ATYP_DOMAIN, 9]);
            assert_eq!(&req[5..14], b"host.test");
            server
                .write_all(&[5, 0, 0, ATYP_V4, 0, 0, 0, 0, 0, 0])
                .await
                .expect("w");
        });
        handshake(&mut client, "user", "pass", "host.test", 5222)
            .await
            .expect("handshake succeeds");
        srv.await.expect("server side");
    }

    #[tokio::test]
    async fn a_refused_connect_is_the_servers_refusal_not_a_socks_failure() {
        let (mut client, mut server) = tokio::io::duplex(1024);
        tokio::spawn(async move {
            let mut buf = [0u8; 64];
            let _ = server.read(&mut buf).await;
            let _ = server.write_all(&[5, 2]).await;
            let _ = server.read(&mut buf).await;
            let _ = server.write_all(&[1, 0]).await;
            let _ = server.read(&mut buf).await;
            let _ = server
                .write_all(&[5, 5, 0, ATYP_V4, 0, 0, 0, 0, 0, 0])
                .await;
        });
        let err = handshake(&mut client, "u", "p", "x.test", 1)
            .await
            .expect_err("refused");
        assert!(
            matches!(
                err,
                TorError::Unreachable(super::super::Unreachable::Refused)
            ),
            "{err:?}"
        );
    }
}
