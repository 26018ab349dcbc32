//! A small HTTP/1.1 client for XEP-0363 uploads and downloads, over any byte stream (the core
//! hands it a Tor stream with the account's isolation; this module never opens a socket).
//!
//! One request per connection (`Connection: close`), no redirects, no cookies of its own, no
//! `User-Agent`. Everything is bounded: the response head (16 KiB), the body (the caller's
//! limit, checked against `Content-Length` before reading), and each read (an idle timeout).
//! HTTPS uses Talpa's rustls configuration with the account's trust anchor ([`super::tls`]).

use std::sync::Arc;
use std::time::Duration;

use rustls::ClientConfig;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio_rustls::TlsConnector;
use zeroize::Zeroizing;

/// The largest response head accepted.
pub const MAX_HEAD: usize = 16 * 1024;
/// How long one read or write may wait for the peer.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(90);
/// Bytes written or read between two progress reports.
const CHUNK: usize = 32 * 1024;

/// Why a transfer failed.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// The URL cannot be fetched (scheme, host).
    #[error("unusable URL: {0}")]
    Url(String),
    /// The connection failed or closed early.
    #[error("connection: {0}")]
    Io(#[from] std::io::Error),
    /// The TLS handshake failed (untrusted certificate, wrong name).
    #[error("TLS: {0}")]
    Tls(String),
    /// The server answered something that is not HTTP/1.x, or a head too big.
    #[error("the server's answer is not usable HTTP: {0}")]
    Malformed(String),
    /// The server answered with an error status (or a redirect, which is not followed).
    #[error("the server answered HTTP {0}")]
    Status(u16),
    /// The body is bigger than allowed.
    #[error("the file is bigger than allowed ({limit} bytes)")]
    TooBig {
        /// The limit.
        limit: u64,
    },
    /// The peer went silent.
    #[error("the server stopped answering")]
    Timeout,
}

/// Where a request goes, taken apart from an `http(s)://` URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpTarget {
    /// Whether TLS is used (`https`).
    pub tls: bool,
    /// The host as Tor is asked to reach it (no IPv6 brackets).
    pub host: String,
    /// The port.
    pub port: u16,
    /// The `Host` header's value.
    pub host_header: String,
    /// The path and query, as sent in the request line.
    pub path: String,
}

impl HttpTarget {
    /// Takes `url` apart; only `http` and `https` without user info.
    ///
    /// # Errors
    /// [`HttpError::Url`].
    pub fn from_url(url: &url::Url) -> Result<Self, HttpError> {
        let tls = match url.scheme() {
            "https" => true,
            "http" => false,
            other => return Err(HttpError::Url(format!("scheme {other}"))),
        };
        if !url.username().is_empty() || url.password().is_some() {
            return Err(HttpError::Url("user info".into()));
        }
        let host_str = url
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| HttpError::Url("no host".into()))?;
        let port = url
            .port_or_known_default()
            .ok_or_else(|| HttpError::Url("no port".into()))?;
        let host = host_str
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let host_header = match url.port() {
            Some(p) => format!("{host_str}:{p}"),
            None => host_str.to_owned(),
        };
        let mut path = url.path().to_owned();
        if let Some(q) = url.query() {
            path.push('?');
            path.push_str(q);
        }
        Ok(HttpTarget {
            tls,
            host,
            port,
            host_header,
            path,
        })
    }
}

/// A byte stream a request can run over.
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

async fn wrap<S: Io + 'static>(
    stream: S,
    target: &HttpTarget,
    tls: Option<Arc<ClientConfig>>,
) -> Result<Box<dyn Io>, HttpError> {
    if !target.tls {
        return Ok(Box::new(stream));
    }
    let config = tls.ok_or_else(|| HttpError::Tls("no TLS configuration".into()))?;
    let name = ServerName::try_from(target.host.clone())
        .map_err(|e| HttpError::Tls(format!("server name {}: {e}", target.host)))?;
    let tls = tokio::time::timeout(
        IDLE_TIMEOUT,
        TlsConnector::from(config).connect(name, stream),
    )
    .await
    .map_err(|_| HttpError::Timeout)?
    .map_err(|e| HttpError::Tls(e.to_string()))?;
    Ok(Box::new(tls))
}

async fn write_all(io: &mut Box<dyn Io>, bytes: &[u8]) -> Result<(), HttpError> {
    tokio::time::timeout(IDLE_TIMEOUT, io.write_all(bytes))
        .await
        .map_err(|_| HttpError::Timeout)??;
    Ok(())
}

async fn read_some(io: &mut Box<dyn Io>, buf: &mut [u8]) -> Result<usize, HttpError> {
    Ok(tokio::time::timeout(IDLE_TIMEOUT, io.read(buf))
        .await
        .map_err(|_| HttpError::Timeout)??)
}

/// A response head: status, `Content-Length`, and the body bytes that came with the head.
struct Head {
    status: u16,
    content_length: Option<u64>,
    chunked: bool,
    rest: Vec<u8>,
}

async fn read_head(io: &mut Box<dyn Io>) -> Result<Head, HttpError> {
    let mut buf = Vec::with_capacity(1024);
    let mut tmp = [0u8; 1024];
    loop {
        let n = read_some(io, &mut tmp).await?;
        if n == 0 {
            return Err(HttpError::Malformed("closed before the head ended".into()));
        }
        buf.extend_from_slice(&tmp[..n]);
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut resp = httparse::Response::new(&mut headers);
        match resp.parse(&buf) {
            Ok(httparse::Status::Complete(len)) => {
                let status = resp.code.unwrap_or(0);
                let mut content_length = None;
                let mut chunked = false;
                for h in resp.headers.iter() {
                    if h.name.eq_ignore_ascii_case("content-length") {
                        let v = std::str::from_utf8(h.value)
                            .ok()
                            .and_then(|v| v.trim().parse::<u64>().ok())
                            .ok_or_else(|| HttpError::Malformed("bad Content-Length".into()))?;
                        if content_length.is_some_and(|c| c != v) {
                            return Err(HttpError::Malformed("two Content-Lengths".into()));
                        }
                        content_length = Some(v);
                    } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
                        chunked = true;
                    }
                }
                return Ok(Head {
                    status,
                    content_length,
                    chunked,
                    rest: buf[len..].to_vec(),
                });
            }
            Ok(httparse::Status::Partial) if buf.len() <= MAX_HEAD => {}
            Ok(httparse::Status::Partial) => {
                return Err(HttpError::Malformed("response head too big".into()));
            }
            Err(e) => return Err(HttpError::Malformed(e.to_string())),
        }
    }
}

/// `PUT`s `body` to `target` with `headers` (already checked: XEP-0363's three) and
/// `Content-Type`, reporting `(sent, total)` as it goes. Succeeds on `200` or `201`.
///
/// # Errors
/// [`HttpError`]; an answer other than 200/201 is [`HttpError::Status`].
pub async fn put<S: Io + 'static>(
    stream: S,
    target: &HttpTarget,
    tls: Option<Arc<ClientConfig>>,
    headers: &[(String, String)],
    content_type: &str,
    body: &[u8],
    progress: &mut (dyn FnMut(u64, u64) + Send),
) -> Result<(), HttpError> {
    let mut io = wrap(stream, target, tls).await?;
    let mut head = format!(
        "PUT {} HTTP/1.1\r\nHost: {}\r\nContent-Length: {}\r\nContent-Type: {}\r\n",
        target.path,
        target.host_header,
        body.len(),
        content_type
    );
    for (name, value) in headers {
        head.push_str(name);
        head.push_str(": ");
        head.push_str(value);
        head.push_str("\r\n");
    }
    head.push_str("Connection: close\r\n\r\n");
    write_all(&mut io, head.as_bytes()).await?;
    let total = body.len() as u64;
    let mut sent = 0u64;
    for chunk in body.chunks(CHUNK) {
        write_all(&mut io, chunk).await?;
        sent += chunk.len() as u64;
        progress(sent, total);
    }
    tokio::time::timeout(IDLE_TIMEOUT, io.flush())
        .await
        .map_err(|_| HttpError::Timeout)??;
    let head = read_head(&mut io).await?;
    match head.status {
        200 | 201 => Ok(()),
        other => Err(HttpError::Status(other)),
    }
}

/// `GET`s `target`, accepting at most `limit` body bytes, reporting `(received, total)`.
///
/// # Errors
/// [`HttpError`]; a status other than 200 is [`HttpError::Status`] (redirects are not
/// followed); a body over `limit` is [`HttpError::TooBig`] (refused from `Content-Length`
/// before it is read when the server announces it).
pub async fn get<S: Io + 'static>(
    stream: S,
    target: &HttpTarget,
    tls: Option<Arc<ClientConfig>>,
    limit: u64,
    progress: &mut (dyn FnMut(u64, u64) + Send),
) -> Result<Zeroizing<Vec<u8>>, HttpError> {
    let mut io = wrap(stream, target, tls).await?;
    let head = format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\nAccept-Encoding: identity\r\nConnection: close\r\n\r\n",
        target.path, target.host_header
    );
    write_all(&mut io, head.as_bytes()).await?;
    // Tor streams buffer writes until flushed.
    tokio::time::timeout(IDLE_TIMEOUT, io.flush())
        .await
        .map_err(|_| HttpError::Timeout)??;
    let head = read_head(&mut io).await?;
    if head.status != 200 {
        return Err(HttpError::Status(head.status));
    }
    if head.chunked {
        return Err(HttpError::Malformed(
            "chunked transfer encoding is not supported".into(),
        ));
    }
    if head.content_length.is_some_and(|l| l > limit) {
        return Err(HttpError::TooBig { limit });
    }
    let total = head.content_length.unwrap_or(0);
    let cap = usize::try_from(head.content_length.unwrap_or(0).min(limit)).unwrap_or(0);
    let mut body = Zeroizing::new(Vec::with_capacity(cap));
    body.extend_from_slice(&head.rest);
    let mut buf = Zeroizing::new(vec![0u8; CHUNK]);
    let mut last_report = 0u64;
    loop {
        if body.len() as u64 > limit {
            return Err(HttpError::TooBig { limit });
        }
        if head.content_length.is_some_and(|l| body.len() as u64 >= l) {
            break;
        }
        let n = read_some(&mut io, &mut buf).await?;
        if n == 0 {
            break;
        }
        body.extend_from_slice(&buf[..n]);
        if body.len() as u64 - last_report >= CHUNK as u64 {
            last_report = body.len() as u64;
            progress(last_report, total);
        }
    }
    if let Some(l) = head.content_length {
        if (body.len() as u64) < l {
            return Err(HttpError::Malformed("the body ended early".into()));
        }
        body.truncate(usize::try_from(l).unwrap_or(usize::MAX));
    }
    progress(body.len() as u64, body.len() as u64);
    Ok(body)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]
mod tests {
    use super::*;

    fn target(url: &str) -> HttpTarget {
        HttpTarget::from_url(&url::Url::parse(url).unwrap()).unwrap()
    }

    /// Serves `answer` to one request on an in-memory pipe; returns what the client sent.
    async fn exchange(
        answer: Vec<u8>,
        run: impl AsyncFnOnce(tokio::io::DuplexStream) -> (),
    ) -> Vec<u8> {
        let (client, mut server) = tokio::io::duplex(1 << 20);
        let serve = tokio::spawn(async move {
            let mut got = Vec::new();
            let mut buf = [0u8; 4096];
            // Read the request head, then answer and close.
            while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                let n = server.read(&mut buf).await.unwrap();
                if n == 0 {
                    break;
                }
                got.extend_from_slice(&buf[..n]);
            }
            server.write_all(&answer).await.unwrap();
            server.shutdown().await.unwrap();
            // Drain the rest (a PUT body).
            let _ = server.read_to_end(&mut got).await;
            got
        });
        run(client).await;
        serve.await.unwrap()
    }

    #[test]
    fn urls_become_targets_with_default_ports_and_query() {
        let t = target("https://up.example.org/a/b.jpg?v=1");
        assert!(t.tls);
        assert_eq!((t.host.as_str(), t.port), ("up.example.org", 443));
        assert_eq!(t.path, "/a/b.jpg?v=1");
        assert_eq!(t.host_header, "up.example.org");
        let t = target("http://127.0.0.1:5280/f");
        assert_eq!((t.tls, t.port), (false, 5280));
        assert_eq!(t.host_header, "127.0.0.1:5280");
        assert!(HttpTarget::from_url(&url::Url::parse("ftp://x/y").unwrap()).is_err());
    }

    #[tokio::test]
    async fn get_returns_exactly_the_announced_body_and_sends_no_user_agent() {
        let sent = exchange(
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello".to_vec(),
            async |s| {
                let body = get(s, &target("http://h/f"), None, 100, &mut |_, _| {})
                    .await
                    .unwrap();
                assert_eq!(&body[..], b"hello");
            },
        )
        .await;
        let sent = String::from_utf8(sent).unwrap();
        assert!(sent.starts_with("GET /f HTTP/1.1\r\nHost: h\r\n"), "{sent}");
        assert!(!sent.to_lowercase().contains("user-agent"));
    }

    #[tokio::test]
    async fn an_oversized_download_is_refused_before_reading_it() {
        exchange(
            b"HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\nxx".to_vec(),
            async |s| {
                let r = get(s, &target("http://h/f"), None, 1000, &mut |_, _| {}).await;
                assert!(matches!(r, Err(HttpError::TooBig { limit: 1000 })), "{r:?}");
            },
        )
        .await;
        // Without Content-Length the limit still holds while reading.
        exchange(
            [b"HTTP/1.1 200 OK\r\n\r\n".as_slice(), &[7u8; 5000]].concat(),
            async |s| {
                let r = get(s, &target("http://h/f"), None, 1000, &mut |_, _| {}).await;
                assert!(matches!(r, Err(HttpError::TooBig { .. })), "{r:?}");
            },
        )
        .await;
    }

    #[tokio::test]
    async fn redirects_errors_and_garbage_are_errors() {
        for (answer, status) in [
            (
                &b"HTTP/1.1 302 Found\r\nLocation: http://evil/\r\n\r\n"[..],
                302,
            ),
            (b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n", 404),
        ] {
            exchange(answer.to_vec(), async |s| {
                let r = get(s, &target("http://h/f"), None, 10, &mut |_, _| {}).await;
                assert!(
                    matches!(r, Err(HttpError::Status(c)) if c == status),
                    "{r:?}"
                );
            })
            .await;
        }
        exchange(vec![b'x'; MAX_HEAD + 2048], async |s| {
            let r = get(s, &target("http://h/f"), None, 10, &mut |_, _| {}).await;
            assert!(matches!(r, Err(HttpError::Malformed(_))), "{r:?}");
        })
        .await;
    }

    #[tokio::test]
    async fn put_sends_the_body_with_the_slot_headers() {
        let sent = exchange(b"HTTP/1.1 201 Created\r\n\r\n".to_vec(), async |s| {
            let headers = vec![("Authorization".to_owned(), "Bearer t".to_owned())];
            put(
                s,
                &target("http://h:81/up/x.bin"),
                None,
                &headers,
                "application/octet-stream",
                b"DATA",
                &mut |_, _| {},
            )
            .await
            .unwrap();
        })
        .await;
        let sent = String::from_utf8(sent).unwrap();
        assert!(sent.starts_with("PUT /up/x.bin HTTP/1.1\r\nHost: h:81\r\nContent-Length: 4\r\n"));
        assert!(sent.contains("Authorization: Bearer t\r\n"));
        assert!(sent.ends_with("\r\n\r\nDATA"));
    }
}
