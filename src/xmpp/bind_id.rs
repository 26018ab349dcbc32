//! A random id for the resource-binding request.
//!
//! tokio-xmpp's `StanzaStream` binds the resource itself, always with the iq id
//! `resource-binding`: a constant that marks every tokio-xmpp client in a server's logs. Its
//! negotiation cannot be replaced from outside (a stream that was bound beforehand is refused),
//! so this adapter sits between TLS and the XML stream and, once per connection, rewrites that
//! id on the way out to a fresh 128-bit random id and the server's answer on the way back, so
//! tokio-xmpp still recognises it.
//!
//! It only looks at the start of a connection (the bind request is among the first stanzas;
//! [`ARMED_BYTES`]) and at most once per direction, so later traffic — message bodies
//! included — is never touched. Attribute values are written by rxml inside `'…'`, and a
//! quote inside an attribute value is escaped, so the outgoing pattern ` id='resource-binding'`
//! can only be the attribute itself, or text a user typed — which cannot come before the bind.
//!
//! It also mends one answer on the way in: xmpp-parsers 0.23 requires the `h` attribute on
//! XEP-0198 `<failed/>`, which the XEP makes optional and Prosody omits when it refuses to
//! resume a session it no longer has. tokio-xmpp then drops the connection and tries to resume
//! again, forever. The first `<failed xmlns='urn:xmpp:sm:3'>` (or `…/>`) of a connection
//! without attributes gets `h='0'`, which tokio-xmpp only uses as an optional hint (a counter
//! that went backwards is ignored); it then binds a new session, as the XEP intends.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::privacy::ids::random_id;

/// tokio-xmpp's fixed bind id.
const FIXED: &str = "resource-binding";
/// A stream-management refusal without the `h` attribute (both forms), and its mended form.
const SM_FAILED: [(&str, &str); 2] = [
    (
        "<failed xmlns='urn:xmpp:sm:3'>",
        "<failed xmlns='urn:xmpp:sm:3' h='0'>",
    ),
    (
        "<failed xmlns='urn:xmpp:sm:3'/>",
        "<failed xmlns='urn:xmpp:sm:3' h='0'/>",
    ),
];
/// How many bytes from the start of the connection are inspected in each direction.
pub const ARMED_BYTES: usize = 16 * 1024;

/// Replaces the first occurrence of one byte pattern within the first [`ARMED_BYTES`].
#[derive(Debug)]
struct Rewriter {
    from: Vec<u8>,
    to: Vec<u8>,
    /// Bytes held back because they could be the start of `from`.
    partial: Vec<u8>,
    seen: usize,
    armed: bool,
}

impl Rewriter {
    fn new(from: Vec<u8>, to: Vec<u8>) -> Self {
        Rewriter {
            from,
            to,
            partial: Vec::new(),
            seen: 0,
            armed: true,
        }
    }

    /// Feeds `data`; appends whatever may be passed on to `out`.
    fn feed(&mut self, data: &[u8], out: &mut Vec<u8>) {
        if !self.armed {
            out.extend_from_slice(data);
            return;
        }
        self.seen = self.seen.saturating_add(data.len());
        let mut buf = std::mem::take(&mut self.partial);
        buf.extend_from_slice(data);
        if let Some(i) = buf.windows(self.from.len()).position(|w| w == self.from) {
            out.extend_from_slice(&buf[..i]);
            out.extend_from_slice(&self.to);
            out.extend_from_slice(&buf[i + self.from.len()..]);
            self.armed = false;
            return;
        }
        if self.seen > ARMED_BYTES {
            out.extend_from_slice(&buf);
            self.armed = false;
            return;
        }
        let keep = (1..self.from.len())
            .rev()
            .find(|k| buf.len() >= *k && buf.ends_with(&self.from[..*k]))
            .unwrap_or(0);
        out.extend_from_slice(&buf[..buf.len() - keep]);
        self.partial = buf[buf.len() - keep..].to_vec();
    }

    /// Lets held-back bytes go (a flush, or the end of the stream).
    fn release(&mut self, out: &mut Vec<u8>) {
        out.append(&mut self.partial);
    }

    fn idle(&self) -> bool {
        !self.armed && self.partial.is_empty()
    }
}

/// Rewriters applied one after the other.
#[derive(Debug)]
struct Chain(Vec<Rewriter>);

impl Chain {
    fn feed(&mut self, data: &[u8], out: &mut Vec<u8>) {
        let mut cur = data.to_vec();
        for r in &mut self.0 {
            let mut next = Vec::with_capacity(cur.len());
            r.feed(&cur, &mut next);
            cur = next;
        }
        out.append(&mut cur);
    }

    fn release(&mut self, out: &mut Vec<u8>) {
        let mut cur = Vec::new();
        for r in &mut self.0 {
            let mut next = Vec::new();
            r.feed(&cur, &mut next);
            r.release(&mut next);
            cur = next;
        }
        out.append(&mut cur);
    }

    fn disarm(&mut self) {
        for r in &mut self.0 {
            r.armed = false;
        }
    }

    fn idle(&self) -> bool {
        self.0.iter().all(Rewriter::idle)
    }
}

/// The adapter (see the module documentation).
#[derive(Debug)]
pub struct BindIdRewrite<S> {
    inner: S,
    outgoing: Rewriter,
    incoming: Chain,
    /// Rewritten bytes not yet written to `inner`.
    to_write: Vec<u8>,
    /// Rewritten bytes not yet handed to the reader, from `read_pos` on.
    to_read: Vec<u8>,
    read_pos: usize,
}

impl<S> BindIdRewrite<S> {
    /// Wraps a fresh connection; every connection gets its own random id.
    pub fn new(inner: S) -> Self {
        let id = random_id();
        BindIdRewrite {
            inner,
            outgoing: Rewriter::new(
                format!(" id='{FIXED}'").into_bytes(),
                format!(" id='{id}'").into_bytes(),
            ),
            incoming: Chain(
                std::iter::once(Rewriter::new(
                    format!("'{id}'").into_bytes(),
                    format!("'{FIXED}'").into_bytes(),
                ))
                .chain(SM_FAILED.iter().map(|(from, to)| {
                    Rewriter::new(from.as_bytes().to_vec(), to.as_bytes().to_vec())
                }))
                .collect(),
            ),
            to_write: Vec::new(),
            to_read: Vec::new(),
            read_pos: 0,
        }
    }

    /// The wrapped stream.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }
}

impl<S: AsyncWrite + Unpin> BindIdRewrite<S> {
    /// Writes out `to_write`; `Pending` while the inner stream is not ready.
    fn drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while !self.to_write.is_empty() {
            let n = ready!(Pin::new(&mut self.inner).poll_write(cx, &self.to_write))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.to_write.drain(..n);
        }
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for BindIdRewrite<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.outgoing.idle() && this.to_write.is_empty() {
            return Pin::new(&mut this.inner).poll_write(cx, buf);
        }
        ready!(this.drain(cx))?;
        this.outgoing.feed(buf, &mut this.to_write);
        // Accepted; whatever the inner stream does not take now goes at the next write or
        // flush (its waker is registered by the attempt).
        if let Poll::Ready(Err(e)) = this.drain(cx) {
            return Poll::Ready(Err(e));
        }
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let mut held = Vec::new();
        this.outgoing.release(&mut held);
        this.to_write.append(&mut held);
        ready!(this.drain(cx))?;
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let mut held = Vec::new();
        this.outgoing.release(&mut held);
        this.to_write.append(&mut held);
        ready!(this.drain(cx))?;
        Pin::new(&mut this.inner).poll_shutdown(cx)
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for BindIdRewrite<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            if this.read_pos < this.to_read.len() {
                let n = buf.remaining().min(this.to_read.len() - this.read_pos);
                buf.put_slice(&this.to_read[this.read_pos..this.read_pos + n]);
                this.read_pos += n;
                if this.read_pos == this.to_read.len() {
                    this.to_read.clear();
                    this.read_pos = 0;
                }
                return Poll::Ready(Ok(()));
            }
            if this.incoming.idle() {
                return Pin::new(&mut this.inner).poll_read(cx, buf);
            }
            let mut chunk = [0u8; 4096];
            let mut rb = ReadBuf::new(&mut chunk);
            ready!(Pin::new(&mut this.inner).poll_read(cx, &mut rb))?;
            let filled = rb.filled();
            if filled.is_empty() {
                // End of stream: hand over what was held back, then report the end.
                this.incoming.release(&mut this.to_read);
                this.incoming.disarm();
                if this.to_read.is_empty() {
                    return Poll::Ready(Ok(()));
                }
                continue;
            }
            this.incoming.feed(filled, &mut this.to_read);
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn the_bind_id_goes_out_random_and_comes_back_fixed() {
        let (client, mut server) = tokio::io::duplex(1 << 16);
        let mut w = BindIdRewrite::new(client);
        let bind = b"<iq type='set' id='resource-binding'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>";
        // Split inside the pattern, as a buffered writer may do.
        w.write_all(&bind[..25]).await.unwrap();
        w.write_all(&bind[25..]).await.unwrap();
        w.flush().await.unwrap();
        let mut got = vec![0u8; 200];
        let n = server.read(&mut got).await.unwrap();
        let sent = String::from_utf8(got[..n].to_vec()).unwrap();
        assert!(!sent.contains("resource-binding"), "{sent}");
        let id = sent
            .split("id='")
            .nth(1)
            .and_then(|r| r.split('\'').next())
            .unwrap()
            .to_owned();
        assert_eq!(id.len(), 32, "128-bit hex id: {sent}");

        let answer = format!("<iq type='result' id='{id}'><bind/></iq>");
        server.write_all(&answer.as_bytes()[..20]).await.unwrap();
        server.write_all(&answer.as_bytes()[20..]).await.unwrap();
        server.flush().await.unwrap();
        let mut back = vec![0u8; answer.len()];
        let mut read = 0;
        while !String::from_utf8_lossy(&back[..read]).ends_with("</iq>") {
            read += w.read(&mut back[read..]).await.unwrap();
        }
        assert_eq!(
            String::from_utf8_lossy(&back[..read]),
            "<iq type='result' id='resource-binding'><bind/></iq>"
        );
    }

    async fn read_back(w: &mut BindIdRewrite<tokio::io::DuplexStream>, end: &str) -> String {
        let mut back = vec![0u8; 4096];
        let mut read = 0;
        while !String::from_utf8_lossy(&back[..read]).ends_with(end) {
            read += w.read(&mut back[read..]).await.unwrap();
        }
        String::from_utf8_lossy(&back[..read]).into_owned()
    }

    #[tokio::test]
    async fn a_refused_resumption_without_h_gets_one_so_tokio_xmpp_binds_anew() {
        use tokio_xmpp::parsers::sm::Failed;
        let (client, mut server) = tokio::io::duplex(1 << 16);
        let mut w = BindIdRewrite::new(client);
        let prosody = "<failed xmlns='urn:xmpp:sm:3'><item-not-found \
                       xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></failed>";
        // Split inside the pattern.
        server.write_all(&prosody.as_bytes()[..12]).await.unwrap();
        server.write_all(&prosody.as_bytes()[12..]).await.unwrap();
        let got = read_back(&mut w, "</failed>").await;
        let el: xmpp_parsers::minidom::Element = got.parse().unwrap();
        let failed = Failed::try_from(el).unwrap();
        assert_eq!(failed.h, Some(0), "{got}");
        // The original does not parse (the reason for the rewrite).
        let el: xmpp_parsers::minidom::Element = prosody.parse().unwrap();
        assert!(
            Failed::try_from(el).is_err(),
            "xmpp-parsers was fixed: drop the rewrite"
        );

        // A server that sends h is left alone, and so is the self-closing form with h.
        let (client, mut server) = tokio::io::duplex(1 << 16);
        let mut w = BindIdRewrite::new(client);
        let with_h = "<failed xmlns='urn:xmpp:sm:3' h='7'/><r/>";
        server.write_all(with_h.as_bytes()).await.unwrap();
        assert_eq!(read_back(&mut w, "<r/>").await, with_h);

        let (client, mut server) = tokio::io::duplex(1 << 16);
        let mut w = BindIdRewrite::new(client);
        server
            .write_all(b"<failed xmlns='urn:xmpp:sm:3'/><r/>")
            .await
            .unwrap();
        assert_eq!(
            read_back(&mut w, "<r/>").await,
            "<failed xmlns='urn:xmpp:sm:3' h='0'/><r/>"
        );
    }

    #[tokio::test]
    async fn every_connection_gets_its_own_id_and_later_text_is_untouched() {
        let ids: Vec<Vec<u8>> = (0..2)
            .map(|_| BindIdRewrite::new(tokio::io::empty()).outgoing.to)
            .collect();
        assert_ne!(ids[0], ids[1]);

        let mut r = Rewriter::new(b" id='resource-binding'".to_vec(), b" id='x'".to_vec());
        let mut out = Vec::new();
        r.feed(b"<iq id='resource-binding'/>", &mut out);
        r.feed(b"<body> id='resource-binding'</body>", &mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "<iq id='x'/><body> id='resource-binding'</body>",
            "only the first occurrence"
        );

        let mut r = Rewriter::new(b" id='resource-binding'".to_vec(), b" id='x'".to_vec());
        let mut out = Vec::new();
        r.feed(&vec![b'a'; ARMED_BYTES + 1], &mut out);
        r.feed(b"<body> id='resource-binding'</body>", &mut out);
        assert!(
            String::from_utf8(out)
                .unwrap()
                .ends_with("<body> id='resource-binding'</body>"),
            "disarmed after the start of the connection"
        );
    }
}
