//! The byte stream handed to the xmpp layer: Arti's data stream or a SOCKS'd TCP stream.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// A connection through Tor: `AsyncRead + AsyncWrite + Unpin + Send + 'static`.
pub struct TorStream {
    inner: Inner,
}

enum Inner {
    Arti(Box<arti_client::DataStream>),
    Socks(TcpStream),
}

impl TorStream {
    pub(crate) fn arti(stream: arti_client::DataStream) -> Self {
        Self {
            inner: Inner::Arti(Box::new(stream)),
        }
    }

    pub(crate) fn socks(stream: TcpStream) -> Self {
        Self {
            inner: Inner::Socks(stream),
        }
    }
}

impl std::fmt::Debug for TorStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match self.inner {
            Inner::Arti(_) => "arti",
            Inner::Socks(_) => "system-socks",
        };
        f.debug_struct("TorStream").field("via", &kind).finish()
    }
}

impl AsyncRead for TorStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match &mut self.get_mut().inner {
            Inner::Arti(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
            Inner::Socks(s) => Pin::new(s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for TorStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match &mut self.get_mut().inner {
            Inner::Arti(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
            Inner::Socks(s) => Pin::new(s).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().inner {
            Inner::Arti(s) => Pin::new(s.as_mut()).poll_flush(cx),
            Inner::Socks(s) => Pin::new(s).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().inner {
            Inner::Arti(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
            Inner::Socks(s) => Pin::new(s).poll_shutdown(cx),
        }
    }
}
