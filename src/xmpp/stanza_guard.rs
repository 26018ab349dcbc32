//! Bounds on what the server may make Talpa parse: nesting depth and stanza size.
//!
//! tokio-xmpp reads a whole stanza into a tree before Talpa sees it, without any bound: a
//! stanza of a few hundred kilobytes nesting 20,000 elements overflowed the stack of the tokio
//! worker that dropped it (the process aborted: any contact could end every Talpa it wrote
//! to with one headline message, which Prosody relays as is), and an endless stanza would fill
//! the memory. This adapter sits under the XML stream, above TLS, and scans the bytes the
//! server sends with a small state machine (tags, attribute values, CDATA, comments,
//! processing instructions). Each element directly under the stream — a stanza, or a nonza
//! such as `<stream:features/>` — is held back until it ends and then handed over whole.
//! One nested deeper than [`MAX_DEPTH`] or longer than [`MAX_ELEMENT_BYTES`] is never handed
//! over: its bytes are skipped as they arrive (only the depth counter is kept, no tree) and a
//! `<message/>` without anything in it takes its place, so XEP-0198's stanza count stays
//! the server's (an empty message is ignored by the session). An `<iq type='get'/'set'>`
//! whose start tag could be read is replaced by the same request around one empty
//! [`NS_DROPPED`] child instead, which the session answers like any request it does not
//! serve (`service-unavailable`): RFC 6120 §8.2.3 wants every request answered, and the sender
//! does not wait for a timeout (nor learn that this client has bounds another has not). An oversized nonza, which has no
//! harmless stand-in, ends the connection with an error instead.
//!
//! The scanner only needs to agree with rxml on well-formed XML: anything malformed is refused
//! by rxml after it, whatever the scanner made of it.
//!
//! A server that sends such a nonza once will likely send it again after every reconnect
//! (a stored element it replays, or a hostile server): [`GuardTrips`], shared by every
//! connection of an account, counts these refusals so that the reconnect logic backs off and,
//! after [`MAX_CONSECUTIVE_TRIPS`] in a row, stops instead of looping for ever.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, ready};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// The deepest element accepted, counting `<stream:stream>` as depth 1 (a stanza is at 2).
/// Real stanzas stay under 15 (an archived OMEMO key is at 9).
pub const MAX_DEPTH: usize = 64;
/// The longest element directly under the stream, in bytes as sent (messages over 256 KiB are
/// dropped later anyway, `origin::MAX_STANZA_BYTES`; a large roster may be longer).
pub const MAX_ELEMENT_BYTES: usize = 1024 * 1024;
/// What replaces a dropped stanza (counted by stream management, ignored by the session).
const PLACEHOLDER: &[u8] = b"<message xmlns='jabber:client'/>";
/// The namespace of the child a dropped request is replaced around (answered
/// `service-unavailable`, like every request the session does not serve).
pub const NS_DROPPED: &str = "urn:talpa:stanza-guard:dropped";
/// Start tags longer than this are not read for a dropped request's id and sender.
const START_TAG_CAP: usize = 4096;
/// Tag names longer than this are not kept (only `stream`, `message`, `iq`, `presence` matter).
const NAME_CAP: usize = 32;
/// After this many refusals in a row the server is taken to send the element again after
/// every reconnect: the account stops reconnecting.
pub const MAX_CONSECUTIVE_TRIPS: u32 = 3;
/// Refusals further apart than this are not "in a row" (backoff between reconnects stays far
/// below it).
pub const TRIP_RUN_WINDOW: Duration = Duration::from_secs(10 * 60);

/// Why the guard ended a connection: the server sent an element that is not a stanza, nested
/// deeper than [`MAX_DEPTH`] or longer than [`MAX_ELEMENT_BYTES`]. Carried inside the
/// `io::Error` (kind `InvalidData`) the stream fails with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "the server sent an element nested too deeply or too long (not a stanza); the connection \
     was closed"
)]
pub struct GuardViolation;

/// How many times in a row the guard ended one account's connections (see the module
/// documentation). Clones share the count; refusals more than [`TRIP_RUN_WINDOW`] apart start
/// a new run.
#[derive(Clone, Debug, Default)]
pub struct GuardTrips(Arc<Mutex<TripRun>>);

#[derive(Debug, Default)]
struct TripRun {
    consecutive: u32,
    last: Option<Instant>,
}

impl GuardTrips {
    /// Records a refusal at `now`.
    pub fn trip_at(&self, now: Instant) {
        let mut run = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let in_run = run
            .last
            .is_some_and(|last| now.saturating_duration_since(last) <= TRIP_RUN_WINDOW);
        run.consecutive = if in_run {
            run.consecutive.saturating_add(1)
        } else {
            1
        };
        run.last = Some(now);
    }

    /// Refusals in the current run (0 when the last one is older than [`TRIP_RUN_WINDOW`]).
    pub fn consecutive_at(&self, now: Instant) -> u32 {
        let run = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        match run.last {
            Some(last) if now.saturating_duration_since(last) <= TRIP_RUN_WINDOW => run.consecutive,
            _ => 0,
        }
    }

    /// Refusals in the current run, now.
    pub fn consecutive(&self) -> u32 {
        self.consecutive_at(Instant::now())
    }

    /// Whether the server keeps sending what the guard refuses: [`MAX_CONSECUTIVE_TRIPS`] in
    /// a row. Reconnecting would only fetch the same element again.
    pub fn persistent(&self) -> bool {
        self.consecutive() >= MAX_CONSECUTIVE_TRIPS
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Text,
    /// Just after `<`.
    Lt,
    /// In a start tag's name.
    Name,
    /// In a start tag after its name; `slash` when the last byte was `/`.
    Tag {
        slash: bool,
    },
    /// In an attribute value delimited by this quote.
    Quote(u8),
    /// In an end tag.
    EndTag,
    /// In a processing instruction; `question` when the last byte was `?`.
    Pi {
        question: bool,
    },
    /// After `<!`, this many bytes read (to tell `[CDATA[` and `--` apart).
    Bang(u8),
    /// In a CDATA section; how many `]` were just seen.
    Cdata(u8),
    /// In a comment; how many `-` were just seen.
    Comment(u8),
    /// In another `<!…>` declaration (rxml refuses those).
    Decl,
}

/// What the scanner holds of the element directly under the stream that is arriving.
#[derive(Debug, PartialEq, Eq)]
enum Top {
    /// Between elements: bytes go straight to the reader.
    None,
    /// Held back until the element ends.
    Held,
    /// Over a bound: skipped until the element ends.
    Skipping,
}

/// The byte scanner (see the module documentation).
#[derive(Debug)]
struct Scanner {
    state: State,
    depth: usize,
    top: Top,
    /// The element held back.
    held: Vec<u8>,
    /// The current start tag's name (up to [`NAME_CAP`] bytes).
    name: Vec<u8>,
    /// The name of the element directly under the stream that is arriving.
    top_name: Vec<u8>,
    /// What replaces the element being skipped, when it is a request (see [`iq_stand_in`]).
    stand_in: Option<Vec<u8>>,
    /// How many bytes the arriving top element has had.
    top_len: usize,
    /// How many elements were dropped (for the log).
    dropped: u64,
}

/// The error a refused connection fails with.
fn refused() -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, GuardViolation)
}

/// The guard's refusal inside an I/O error, if that is what `e` is.
pub fn violation_in(e: &io::Error) -> Option<GuardViolation> {
    e.get_ref()
        .and_then(|inner| inner.downcast_ref::<GuardViolation>())
        .copied()
}

impl Scanner {
    fn new() -> Self {
        Scanner {
            state: State::Text,
            depth: 0,
            top: Top::None,
            held: Vec::new(),
            name: Vec::new(),
            top_name: Vec::new(),
            stand_in: None,
            top_len: 0,
            dropped: 0,
        }
    }

    /// Scans `input`, appending what may go to the reader to `out`.
    fn feed(&mut self, input: &[u8], out: &mut Vec<u8>) -> io::Result<()> {
        for &b in input {
            // Route the byte first, so the byte that ends an element is part of it.
            if self.top == Top::None && self.depth == 1 && self.state == State::Text && b == b'<' {
                self.top = Top::Held;
                self.held.clear();
                self.top_name.clear();
                self.top_len = 0;
            }
            match self.top {
                Top::None => out.push(b),
                Top::Held => {
                    self.top_len += 1;
                    self.held.push(b);
                    if self.top_len > MAX_ELEMENT_BYTES {
                        self.skip();
                    }
                }
                Top::Skipping => self.top_len = self.top_len.saturating_add(1),
            }
            self.step(b, out)?;
        }
        Ok(())
    }

    /// Drops the held element; the rest of it is skipped. A request's id and sender are read
    /// from its start tag first, to answer it.
    fn skip(&mut self) {
        self.stand_in = if self.top_name == b"iq" {
            iq_stand_in(&self.held[..self.held.len().min(START_TAG_CAP)])
        } else {
            None
        };
        self.top = Top::Skipping;
        self.held = Vec::new();
    }

    /// Hands the held bytes over and stops holding (the `<` at depth 1 was not a child).
    fn release(&mut self, out: &mut Vec<u8>) {
        if self.top == Top::Held {
            out.append(&mut self.held);
        }
        self.top = Top::None;
    }

    /// The element directly under the stream ended.
    fn top_done(&mut self, out: &mut Vec<u8>) -> io::Result<()> {
        match self.top {
            Top::None => {}
            Top::Held => out.append(&mut self.held),
            Top::Skipping => {
                self.dropped += 1;
                let stanza = matches!(self.top_name.as_slice(), b"message" | b"iq" | b"presence");
                tracing::warn!(
                    bytes = self.top_len,
                    stanza,
                    "dropped an element nested deeper than {MAX_DEPTH} or longer than \
                     {MAX_ELEMENT_BYTES} bytes"
                );
                if !stanza {
                    return Err(refused());
                }
                match self.stand_in.take() {
                    Some(request) => out.extend_from_slice(&request),
                    None => out.extend_from_slice(PLACEHOLDER),
                }
            }
        }
        self.top = Top::None;
        self.held = Vec::new();
        Ok(())
    }

    fn open(&mut self, out: &mut Vec<u8>) {
        let local = self.name.rsplit(|&c| c == b':').next().unwrap_or_default();
        if local == b"stream" {
            // A stream header (again after SASL): the new stream starts at depth 1.
            self.release(out);
            self.depth = 1;
            return;
        }
        self.depth += 1;
        if self.depth > MAX_DEPTH && self.top == Top::Held {
            self.skip();
        }
    }

    fn step(&mut self, b: u8, out: &mut Vec<u8>) -> io::Result<()> {
        self.state = match self.state {
            State::Text => {
                if b == b'<' {
                    State::Lt
                } else {
                    State::Text
                }
            }
            State::Lt => match b {
                b'/' => {
                    if self.depth <= 1 {
                        // The stream's footer, not a child.
                        self.release(out);
                    }
                    State::EndTag
                }
                b'?' => {
                    if self.depth <= 1 {
                        self.release(out);
                    }
                    State::Pi { question: false }
                }
                b'!' => {
                    if self.depth <= 1 {
                        self.release(out);
                    }
                    State::Bang(0)
                }
                _ => {
                    self.name.clear();
                    self.name.push(b);
                    State::Name
                }
            },
            State::Name => match b {
                b'>' => {
                    self.name_done();
                    self.open(out);
                    State::Text
                }
                b'/' => {
                    self.name_done();
                    State::Tag { slash: true }
                }
                b' ' | b'\t' | b'\r' | b'\n' => {
                    self.name_done();
                    State::Tag { slash: false }
                }
                _ => {
                    if self.name.len() < NAME_CAP {
                        self.name.push(b);
                    }
                    State::Name
                }
            },
            State::Tag { slash } => match b {
                b'\'' | b'"' => State::Quote(b),
                b'/' => State::Tag { slash: true },
                b'>' if slash => {
                    // An empty element: no deeper. One directly under the stream ends here.
                    if self.depth <= 1 {
                        self.top_done(out)?;
                    }
                    State::Text
                }
                b'>' => {
                    self.open(out);
                    State::Text
                }
                _ => State::Tag { slash: false },
            },
            State::Quote(q) => {
                if b == q {
                    State::Tag { slash: false }
                } else {
                    State::Quote(q)
                }
            }
            State::EndTag => {
                if b == b'>' {
                    self.depth = self.depth.saturating_sub(1);
                    if self.depth == 1 {
                        self.top_done(out)?;
                    }
                    State::Text
                } else {
                    State::EndTag
                }
            }
            State::Pi { question } => match b {
                b'>' if question => State::Text,
                b'?' => State::Pi { question: true },
                _ => State::Pi { question: false },
            },
            State::Bang(n) => {
                const CDATA: &[u8] = b"[CDATA[";
                let n = usize::from(n);
                if n < CDATA.len() && b == CDATA[n] {
                    if n + 1 == CDATA.len() {
                        State::Cdata(0)
                    } else {
                        State::Bang(u8::try_from(n + 1).unwrap_or(u8::MAX))
                    }
                } else if n == 0 && b == b'-' {
                    State::Bang(100)
                } else if n == 100 && b == b'-' {
                    State::Comment(0)
                } else if b == b'>' {
                    State::Text
                } else {
                    State::Decl
                }
            }
            State::Cdata(brackets) => match b {
                b']' => State::Cdata((brackets + 1).min(2)),
                b'>' if brackets == 2 => State::Text,
                _ => State::Cdata(0),
            },
            State::Comment(dashes) => match b {
                b'-' => State::Comment((dashes + 1).min(2)),
                b'>' if dashes == 2 => State::Text,
                _ => State::Comment(0),
            },
            State::Decl => {
                if b == b'>' {
                    State::Text
                } else {
                    State::Decl
                }
            }
        };
        Ok(())
    }

    /// A start tag's name is complete: remember the top element's.
    fn name_done(&mut self) {
        if self.depth == 1 && self.top_name.is_empty() {
            self.top_name.clone_from(&self.name);
        }
    }
}

/// What replaces a dropped `<iq>` whose start tag (the first bytes of `start`) is complete and
/// says `type='get'` or `'set'` with an `id`: the same request, with its `id`, `from` and
/// `to`, around one empty [`NS_DROPPED`] child. `None` (the element becomes an empty message)
/// when the tag is cut short, is no request, has no id, or a kept value holds anything but
/// plain characters (no markup, no entity, no character XML forbids), so the stand-in is
/// always well-formed.
fn iq_stand_in(start: &[u8]) -> Option<Vec<u8>> {
    let is_space = |c: &u8| matches!(c, b' ' | b'\t' | b'\r' | b'\n');
    let mut rest = start.strip_prefix(b"<")?;
    let name_end = rest
        .iter()
        .position(|c| is_space(c) || *c == b'>' || *c == b'/')?;
    rest = &rest[name_end..];
    let (mut id, mut ty, mut kept) = (None, None, Vec::new());
    loop {
        let skip = rest.iter().position(|c| !is_space(c))?;
        rest = &rest[skip..];
        if matches!(rest.first(), Some(b'>' | b'/')) {
            break;
        }
        let eq = rest.iter().position(|&c| c == b'=')?;
        let name = rest[..eq].trim_ascii();
        rest = rest[eq + 1..].trim_ascii_start();
        let quote = *rest.first()?;
        if quote != b'\'' && quote != b'"' {
            return None;
        }
        let len = rest[1..].iter().position(|&c| c == quote)?;
        let value = &rest[1..=len];
        rest = &rest[len + 2..];
        match name {
            b"type" => ty = Some(value),
            b"id" | b"from" | b"to" => {
                let text = std::str::from_utf8(value).ok()?;
                if text.contains(['<', '&']) || super::xml_text::first_invalid(text).is_some() {
                    return None;
                }
                if name == b"id" {
                    id = Some(());
                }
                kept.push((name, quote, value));
            }
            _ => {}
        }
    }
    let ty = ty.filter(|t| *t == b"get" || *t == b"set")?;
    id?;
    let mut out = b"<iq xmlns='jabber:client' type='".to_vec();
    out.extend_from_slice(ty);
    out.push(b'\'');
    for (name, quote, value) in kept {
        out.push(b' ');
        out.extend_from_slice(name);
        out.push(b'=');
        out.push(quote);
        out.extend_from_slice(value);
        out.push(quote);
    }
    out.extend_from_slice(b"><dropped xmlns='");
    out.extend_from_slice(NS_DROPPED.as_bytes());
    out.extend_from_slice(b"'/></iq>");
    Some(out)
}

/// The adapter (see the module documentation). Writes pass through untouched.
#[derive(Debug)]
pub struct StanzaGuard<S> {
    inner: S,
    scanner: Scanner,
    trips: GuardTrips,
    /// Scanned bytes not yet handed to the reader, from `read_pos` on.
    to_read: Vec<u8>,
    read_pos: usize,
}

impl<S> StanzaGuard<S> {
    /// Wraps a fresh (TLS-secured) connection.
    pub fn new(inner: S) -> Self {
        Self::counting(inner, GuardTrips::default())
    }

    /// Wraps a fresh connection; a refusal is recorded in `trips`.
    pub fn counting(inner: S, trips: GuardTrips) -> Self {
        StanzaGuard {
            inner,
            scanner: Scanner::new(),
            trips,
            to_read: Vec::new(),
            read_pos: 0,
        }
    }

    /// The wrapped stream.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for StanzaGuard<S> {
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
            let mut chunk = [0u8; 8192];
            let mut rb = ReadBuf::new(&mut chunk);
            ready!(Pin::new(&mut this.inner).poll_read(cx, &mut rb))?;
            let filled = rb.filled();
            if filled.is_empty() {
                // End of stream (an element cut short is rxml's to refuse: nothing is held
                // back beyond it).
                return Poll::Ready(Ok(()));
            }
            if let Err(e) = this.scanner.feed(filled, &mut this.to_read) {
                this.trips.trip_at(Instant::now());
                return Poll::Ready(Err(e));
            }
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for StanzaGuard<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]
mod tests {
    use super::*;

    const HEADER: &str = "<?xml version='1.0'?><stream:stream xmlns='jabber:client' \
                          xmlns:stream='http://etherx.jabber.org/streams' id='x' from='s'>";

    /// Everything `input` lets through, fed whole and byte by byte (both must agree).
    fn scan(input: &str) -> io::Result<String> {
        let mut whole = Vec::new();
        Scanner::new().feed(input.as_bytes(), &mut whole)?;
        let mut bytewise = Vec::new();
        let mut s = Scanner::new();
        for b in input.as_bytes() {
            s.feed(std::slice::from_ref(b), &mut bytewise)?;
        }
        assert_eq!(whole, bytewise, "chunking changed the output");
        Ok(String::from_utf8(whole).unwrap())
    }

    #[test]
    fn ordinary_stanzas_pass_unchanged() {
        let input = format!(
            "{HEADER}<stream:features><mechanisms xmlns='m'><mechanism>SCRAM-SHA-1</mechanism>\
             </mechanisms></stream:features> \n<message from='a@b/c' to='d@e' type='chat'>\
             <body>1 &lt; 2 &amp; a > b, 'quoted' \"too\"/&gt;</body><x a='>' b=\"/>\" c='&apos;'/>\
             <![CDATA[ <not><a><tag> ]] ]]><!-- <a> --></message><r xmlns='urn:xmpp:sm:3'/>\
             <?xml version='1.0'?><stream:stream xmlns='jabber:client' \
             xmlns:stream='http://etherx.jabber.org/streams'><iq type='result' id='1'/>\
             </stream:stream>"
        );
        assert_eq!(scan(&input).unwrap(), input);
    }

    #[test]
    fn a_stanza_nested_too_deeply_becomes_an_empty_message_and_the_next_one_arrives() {
        let deep = format!(
            "<message type='headline' from='x@y'>{}{}</message>",
            "<a>".repeat(20_000),
            "</a>".repeat(20_000)
        );
        let next = "<message from='x@y'><body>after</body></message>";
        let out = scan(&format!("{HEADER}{deep}{next}")).unwrap();
        assert_eq!(
            out,
            format!("{HEADER}<message xmlns='jabber:client'/>{next}")
        );
        // At the bound itself it passes.
        let fits = format!(
            "<iq type='result' id='1'>{}{}</iq>",
            "<a>".repeat(MAX_DEPTH - 2),
            "</a>".repeat(MAX_DEPTH - 2)
        );
        assert_eq!(
            scan(&format!("{HEADER}{fits}")).unwrap(),
            format!("{HEADER}{fits}")
        );
    }

    #[test]
    fn a_stanza_too_long_becomes_an_empty_message_and_nothing_of_it_is_kept() {
        let long = format!(
            "<presence from='x@y'><status>{}</status></presence>",
            "z".repeat(MAX_ELEMENT_BYTES)
        );
        let next = "<iq type='get' id='p' from='y'><ping xmlns='urn:xmpp:ping'/></iq>";
        let mut s = Scanner::new();
        let mut out = Vec::new();
        s.feed(HEADER.as_bytes(), &mut out).unwrap();
        for chunk in long.as_bytes().chunks(4096) {
            s.feed(chunk, &mut out).unwrap();
            assert!(s.held.len() <= MAX_ELEMENT_BYTES, "held without bound");
        }
        s.feed(next.as_bytes(), &mut out).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            format!("{HEADER}<message xmlns='jabber:client'/>{next}")
        );
        assert_eq!(s.dropped, 1);
    }

    #[test]
    fn a_dropped_request_becomes_an_empty_request_with_its_id_and_sender() {
        let deep = format!(
            "<iq type='get' id='q1' from=\"mallory@evil/x\" to='me@talpa.test/r'>\
             <query xmlns='jabber:iq:version'>{}{}</query></iq>",
            "<a>".repeat(100),
            "</a>".repeat(100)
        );
        let next = "<message from='x@y'><body>after</body></message>";
        assert_eq!(
            scan(&format!("{HEADER}{deep}{next}")).unwrap(),
            format!(
                "{HEADER}<iq xmlns='jabber:client' type='get' id='q1' from=\"mallory@evil/x\" \
                 to='me@talpa.test/r'><dropped xmlns='{NS_DROPPED}'/></iq>{next}"
            )
        );
        let long = format!(
            "<iq id='s' type='set'><x>{}</x></iq>",
            "z".repeat(MAX_ELEMENT_BYTES)
        );
        assert_eq!(
            scan(&format!("{HEADER}{long}")).unwrap(),
            format!(
                "{HEADER}<iq xmlns='jabber:client' type='set' id='s'>\
                 <dropped xmlns='{NS_DROPPED}'/></iq>"
            )
        );
    }

    #[test]
    fn a_dropped_answer_or_an_unreadable_request_becomes_an_empty_message() {
        let deep = |start: &str| format!("{start}{}{}</iq>", "<a>".repeat(100), "</a>".repeat(100));
        for start in [
            // Answers are not answered.
            "<iq type='result' id='r'>",
            "<iq type='error' id='r'>",
            // No id to answer to.
            "<iq type='get'>",
            // Values that could break the stand-in are not copied.
            "<iq type='get' id='a&amp;b'>",
            "<iq type='get' id='q' from='a\u{1}b'>",
        ] {
            assert_eq!(
                scan(&format!("{HEADER}{}", deep(start))).unwrap(),
                format!("{HEADER}<message xmlns='jabber:client'/>"),
                "{start}"
            );
        }
        // A start tag cut short by the length bound.
        let cut = format!(
            "<iq type='get' id='q' x='{}'/>",
            "z".repeat(MAX_ELEMENT_BYTES)
        );
        assert_eq!(
            scan(&format!("{HEADER}{cut}")).unwrap(),
            format!("{HEADER}<message xmlns='jabber:client'/>")
        );
    }

    #[test]
    fn an_oversized_element_that_is_not_a_stanza_ends_the_connection() {
        let features = format!(
            "<stream:features>{}{}</stream:features>",
            "<a>".repeat(100),
            "</a>".repeat(100)
        );
        let e = scan(&format!("{HEADER}{features}")).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidData);
        assert_eq!(violation_in(&e), Some(GuardViolation), "typed: {e}");
    }

    #[test]
    fn three_refusals_in_a_row_are_persistent_and_spaced_ones_are_not() {
        let t0 = Instant::now();
        let trips = GuardTrips::default();
        assert_eq!(trips.consecutive_at(t0), 0);
        trips.trip_at(t0);
        trips.clone().trip_at(t0 + Duration::from_secs(5));
        assert_eq!(trips.consecutive_at(t0 + Duration::from_secs(6)), 2);
        assert!(!trips.persistent(), "two are not yet a loop");
        trips.trip_at(t0 + Duration::from_secs(30));
        assert_eq!(
            trips.consecutive_at(t0 + Duration::from_secs(31)),
            MAX_CONSECUTIVE_TRIPS
        );
        // A run ends when the server behaved for longer than the window.
        let later = t0 + Duration::from_secs(30) + TRIP_RUN_WINDOW + Duration::from_secs(1);
        assert_eq!(trips.consecutive_at(later), 0);
        trips.trip_at(later);
        assert_eq!(trips.consecutive_at(later), 1);
    }

    #[tokio::test]
    async fn a_refused_connection_counts_a_trip() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let trips = GuardTrips::default();
        for round in 1..=MAX_CONSECUTIVE_TRIPS {
            let (client, mut server) = tokio::io::duplex(1 << 16);
            let mut guard = StanzaGuard::counting(client, trips.clone());
            let sent = format!(
                "{HEADER}<stream:features>{}{}</stream:features>",
                "<a>".repeat(70),
                "</a>".repeat(70)
            );
            server.write_all(sent.as_bytes()).await.unwrap();
            let mut got = String::new();
            let e = guard.read_to_string(&mut got).await.unwrap_err();
            assert_eq!(violation_in(&e), Some(GuardViolation));
            assert_eq!(trips.consecutive(), round);
        }
        assert!(trips.persistent());
    }

    #[tokio::test]
    async fn the_adapter_reads_through_the_scanner() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let (client, mut server) = tokio::io::duplex(1 << 16);
        let mut guard = StanzaGuard::new(client);
        let deep = format!(
            "<message>{}{}</message>",
            "<a>".repeat(70),
            "</a>".repeat(70)
        );
        let sent = format!("{HEADER}{deep}<message><body>ok</body></message></stream:stream>");
        let writer = tokio::spawn(async move {
            server.write_all(sent.as_bytes()).await.unwrap();
            server.shutdown().await.unwrap();
        });
        let mut got = String::new();
        guard.read_to_string(&mut got).await.unwrap();
        writer.await.unwrap();
        assert_eq!(
            got,
            format!(
                "{HEADER}<message xmlns='jabber:client'/><message><body>ok</body></message>\
                 </stream:stream>"
            )
        );
    }
}
