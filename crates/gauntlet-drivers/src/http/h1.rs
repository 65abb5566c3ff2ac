//! HTTP/1.1 on one client connection: the request head (and a small body)
//! written from one reused buffer (and sent again as it is when the next
//! request is the same plain one), the response head parsed in place with
//! `httparse`, the body framed by `Content-Length`, chunked encoding or the
//! end of the connection (RFC 9112 section 6.3).
//!
//! Why not hyper's client here: for a load generator hyper is the limit, by
//! measurement (`bench/floor.sh`, loopback nginx, one core): the cheapest
//! hyper HTTP/1 loop makes 0.77x wrk's requests per CPU-second where an
//! `httparse` loop makes 1.02x, and an idle hyper connection holds ~27 KB
//! (two 8 KiB buffers, a connection task and a channel) against ~5 KB. The
//! connection needs no task of its own: the virtual user that owns it drives
//! every read and write. HTTP/2 stays on hyper.

use super::budget::Reservation;
use super::decode::ACCEPT_ENCODING;
use super::defaults::Defaults;
use super::error::{ErrorKind, HttpError, io_kind};
use super::headers::ResponseHeaders;
use bytes::{Buf, Bytes, BytesMut};
use http::header::{CONTENT_LENGTH, COOKIE, HOST, TRANSFER_ENCODING};
use http::{HeaderMap, HeaderValue, Method, Version};
use std::mem::MaybeUninit;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};

/// A byte stream a connection runs over (TCP, or TLS over TCP).
pub(crate) trait Io: AsyncRead + AsyncWrite + Unpin + Send + Sync {
    /// Ready when a read may find bytes (or the end of the stream). A
    /// connection waiting for its response takes a read buffer only then:
    /// with thousands of virtual users waiting at once (all connect and send
    /// together when a run starts), a buffer each would be most of the run's
    /// memory. A stream that cannot tell (TLS may hold decrypted bytes
    /// already) is always ready.
    fn poll_read_ready(&self, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    /// Whether an idle connection is still open, answered without
    /// registering a waker: `Some(false)` when the stream has ended, failed
    /// or holds bytes nobody asked for. `None` where the stream cannot tell
    /// this way (TLS), and [`H1::is_open`] polls a read instead.
    fn probe_idle(&mut self) -> Option<bool> {
        None
    }
}

#[cfg(test)]
impl Io for tokio::io::DuplexStream {}

/// Read buffers lent to connections while a response comes in, shared by
/// the client's sessions (one lock per take and per return). A connection
/// holds no buffer between exchanges, so thousands of idle keep-alive
/// connections cost no pages; taking a used buffer back from here instead
/// of the allocator saves a 4 KiB allocation, its growth and its free on
/// every response (about 600 instructions of ~15,500 per request,
/// `bench/callgrind.sh`). At most [`ReadBuffers::KEEP`] are kept.
#[derive(Debug, Clone, Default)]
pub(crate) struct ReadBuffers(std::sync::Arc<std::sync::Mutex<Vec<BytesMut>>>);

impl ReadBuffers {
    /// Buffers kept for reuse: more than one worker's connections have in
    /// flight at once on the machines this runs on, a few hundred KiB at most.
    const KEEP: usize = 64;

    fn take(&self) -> BytesMut {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .pop()
            .unwrap_or_default()
    }

    fn give(&self, mut buf: BytesMut) {
        if buf.capacity() == 0 {
            return;
        }
        buf.clear();
        let mut kept = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if kept.len() < Self::KEEP {
            kept.push(buf);
        }
    }
}

/// Header fields accepted in one response head (hyper's default too).
const MAX_HEADERS: usize = 100;
/// Header fields a head is first parsed for (see [`parse_head`]).
const FEW_HEADERS: usize = 24;
/// Largest response head accepted (hyper's default buffer limit).
const MAX_HEAD: usize = 8192 + 4096 * 100;
/// Read size while a head or a small body is expected.
const READ_CHUNK: usize = 4096;
/// Read size while a large body streams in.
const BIG_READ: usize = 64 * 1024;
/// Bodies up to this size go out in the same write as the head.
const INLINE_BODY: usize = 16 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Between exchanges, in sync.
    Idle,
    /// An exchange started and has not finished (if its future was dropped,
    /// the stream is out of sync for good).
    Busy,
    /// The server ends the connection, or it failed.
    Closed,
}

/// How the response body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Framing {
    /// No body (HEAD, 1xx, 204, 304).
    Empty,
    /// Exactly this many bytes.
    Length(u64),
    /// Chunked transfer coding.
    Chunked,
    /// Until the server closes the connection.
    UntilClose,
}

/// A parsed response head.
#[derive(Debug)]
pub(crate) struct Head {
    pub(crate) status: u16,
    pub(crate) version: Version,
    pub(crate) headers: ResponseHeaders,
    pub(crate) framing: Framing,
    /// The connection may carry another request after this response.
    pub(crate) keep_alive: bool,
    /// A `Set-Cookie` field is among the headers: the cookie jar reads
    /// them only then (looking for it afterwards in the raw fields was
    /// ~370 instructions a request, `bench/callgrind.sh`).
    pub(crate) sets_cookie: bool,
}

/// Where body bytes go: counted always, kept up to a limit when asked.
#[derive(Debug)]
pub(crate) struct Sink {
    keep: bool,
    max: usize,
    /// Body bytes received (before any content decoding).
    pub(crate) size: u64,
    out: BytesMut,
    /// The run's body budget, taken from as kept bytes arrive.
    held: Option<Reservation>,
}

impl Sink {
    pub(crate) fn new(keep: bool, max: usize, hint: usize, held: Option<Reservation>) -> Sink {
        let out = if keep {
            BytesMut::with_capacity(hint.min(max))
        } else {
            BytesMut::new()
        };
        Sink {
            keep,
            max,
            size: 0,
            out,
            held,
        }
    }

    fn push(&mut self, data: &[u8]) -> Result<(), HttpError> {
        self.size += data.len() as u64;
        if self.keep {
            if self.size > self.max as u64 {
                return Err(HttpError::new(
                    ErrorKind::BodyTooLarge,
                    format!("response body larger than {} bytes", self.max),
                ));
            }
            if let Some(r) = &mut self.held {
                r.grow(data.len())?;
            }
            self.out.extend_from_slice(data);
        }
        Ok(())
    }

    pub(crate) fn finish(self) -> Bytes {
        let body = self.out.freeze();
        match self.held {
            Some(r) => r.into_body(body),
            None => body,
        }
    }
}

/// One HTTP/1.1 client connection.
pub(crate) struct H1 {
    io: Box<dyn Io>,
    /// Bytes read and not consumed yet; capacity 0 (no buffer) between
    /// exchanges.
    buf: BytesMut,
    /// Where `buf` comes from and goes back to (unless it grew for a
    /// large body: `grown`).
    buffers: ReadBuffers,
    grown: bool,
    /// The request being sent: head, and the body when small.
    out: Vec<u8>,
    /// What `out` holds when it is a request without caller headers, body
    /// or cookie: the same request again is sent as it is.
    last: Option<Plain>,
    /// A large body, written after `out`.
    body: Option<Bytes>,
    /// The request is HEAD: its response has no body whatever it says.
    head_request: bool,
    state: State,
    /// Reads that returned bytes since the request was sent.
    reads: u32,
}

/// The inputs of a request that depends on nothing but them (no caller
/// headers, no body, no cookie), kept beside its serialized form. A load
/// test mostly repeats such a request on a connection; comparing these
/// (a method, a short target, a flag and the `User-Agent`) instead of
/// writing the head again field by field took `Conn::request` from 383 to
/// 148 instructions a request (`bench/callgrind.sh`).
#[derive(Debug)]
struct Plain {
    method: Method,
    target: String,
    user_agent: Option<HeaderValue>,
    accept_encoding: bool,
}

impl Plain {
    /// Whether this request is the one described.
    fn is(&self, method: &Method, target: &str, defaults: &Defaults<'_>) -> bool {
        self.method == *method
            && self.target == target
            && self.accept_encoding == defaults.accept_encoding
            && self.user_agent.as_ref() == defaults.user_agent
    }
}

fn malformed(msg: impl Into<String>) -> HttpError {
    HttpError::new(ErrorKind::MalformedResponse, msg)
}

fn closed(what: &str) -> HttpError {
    HttpError::new(
        ErrorKind::ConnectionReset,
        format!("connection closed by the server {what}"),
    )
}

fn put_header(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    out.extend_from_slice(name);
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

fn put_decimal(out: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
}

/// Comma-separated tokens of a header value, trimmed.
fn tokens(v: &[u8]) -> impl Iterator<Item = &[u8]> {
    v.split(|b| *b == b',').map(|t| t.trim_ascii())
}

fn is_chunked(v: &[u8]) -> bool {
    tokens(v)
        .last()
        .is_some_and(|t| t.eq_ignore_ascii_case(b"chunked"))
}

/// Whether `name`, a header name httparse accepted (token characters
/// only), is `lower` (lower-case letters and `-`) in any case. Setting bit
/// 0x20 turns an upper-case letter into its lower case and leaves `-`,
/// digits and lower-case letters as they are; the only other byte it maps
/// onto a letter or `-` is CR, which is no token character. Compared
/// without an early exit and without `eq_ignore_ascii_case`'s case mapping
/// of both sides: ~110 instructions fewer per response head
/// (`bench/callgrind.sh`).
fn name_is(name: &[u8], lower: &[u8]) -> bool {
    name.len() == lower.len()
        && name
            .iter()
            .zip(lower)
            .fold(0u8, |diff, (a, b)| diff | ((a | 0x20) ^ b))
            == 0
}

/// Parse a complete head at the start of `buf`: its length and the head,
/// `None` while incomplete.
fn parse_head(buf: &[u8], head_request: bool) -> Result<Option<(usize, Head)>, HttpError> {
    // Most heads have a handful of fields: the large table only when the
    // small one overflows. Neither is initialized before httparse fills
    // it (24 empty fields were 768 bytes written per response).
    let config = httparse::ParserConfig::default();
    let mut few = [const { MaybeUninit::uninit() }; FEW_HEADERS];
    let mut r = httparse::Response::new(&mut []);
    match config.parse_response_with_uninit_headers(&mut r, buf, &mut few) {
        Err(httparse::Error::TooManyHeaders) => {
            let mut many = [const { MaybeUninit::uninit() }; MAX_HEADERS];
            let mut r = httparse::Response::new(&mut []);
            let parsed = config.parse_response_with_uninit_headers(&mut r, buf, &mut many);
            read_head(buf, &r, parsed, head_request)
        }
        parsed => read_head(buf, &r, parsed, head_request),
    }
}

/// [`parse_head`] after httparse.
fn read_head(
    buf: &[u8],
    r: &httparse::Response<'_, '_>,
    parsed: httparse::Result<usize>,
    head_request: bool,
) -> Result<Option<(usize, Head)>, HttpError> {
    let len = match parsed {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => return Err(malformed(format!("invalid HTTP/1 response head: {e}"))),
    };
    let status = r.code.unwrap_or(0);
    if !(100..=999).contains(&status) {
        return Err(malformed(format!("invalid status code {status}")));
    }
    let version = if r.version == Some(0) {
        Version::HTTP_10
    } else {
        Version::HTTP_11
    };
    let (mut length, mut chunked, mut coded) = (None::<u64>, false, false);
    let (mut close, mut keep, mut sets_cookie) = (false, false, false);
    for h in r.headers.iter() {
        let name = h.name.as_bytes();
        if name_is(name, b"content-length") {
            let n = std::str::from_utf8(h.value.trim_ascii())
                .ok()
                .and_then(|s| s.parse::<u64>().ok())
                .ok_or_else(|| malformed("invalid content-length"))?;
            if length.is_some_and(|l| l != n) {
                return Err(malformed("conflicting content-length values"));
            }
            length = Some(n);
        } else if name_is(name, b"transfer-encoding") {
            coded = true;
            chunked = is_chunked(h.value);
        } else if name_is(name, b"connection") {
            for t in tokens(h.value) {
                close |= t.eq_ignore_ascii_case(b"close");
                keep |= t.eq_ignore_ascii_case(b"keep-alive");
            }
        } else if name_is(name, b"set-cookie") {
            sets_cookie = true;
        }
    }
    // One copy of the head; the fields are found in it by their offsets
    // (httparse has checked names and values as `http` would).
    let base = buf.as_ptr() as usize;
    let at = |b: &[u8]| ((b.as_ptr() as usize - base) as u32, b.len() as u32);
    let headers = ResponseHeaders::from_raw(
        &buf[..len],
        r.headers.len(),
        r.headers
            .iter()
            .map(|h| (at(h.name.as_bytes()), at(h.value))),
    );
    let mut keep_alive = if version == Version::HTTP_10 {
        keep && !close
    } else {
        !close
    };
    let framing = if head_request || (100..200).contains(&status) || status == 204 || status == 304
    {
        Framing::Empty
    } else if coded {
        if chunked {
            Framing::Chunked
        } else {
            Framing::UntilClose
        }
    } else if let Some(n) = length {
        Framing::Length(n)
    } else {
        Framing::UntilClose
    };
    if status == 101 || framing == Framing::UntilClose {
        keep_alive = false;
    }
    Ok(Some((
        len,
        Head {
            status,
            version,
            headers,
            framing,
            keep_alive,
            sets_cookie,
        },
    )))
}

impl H1 {
    pub(crate) fn new(io: Box<dyn Io>, buffers: ReadBuffers) -> H1 {
        H1 {
            io,
            buf: BytesMut::new(),
            buffers,
            grown: false,
            out: Vec::new(),
            last: None,
            body: None,
            head_request: false,
            state: State::Idle,
            reads: 0,
        }
    }

    /// Whether the connection can take a request now. A server that closed
    /// an idle connection is noticed here when its FIN has been seen: the
    /// stream is probed ([`Io::probe_idle`]), or where it cannot be, its
    /// read is polled once with a waker that does nothing, so this never
    /// waits (and costs no system call when the socket is not readable).
    /// The poll cost ~250 instructions a request (`bench/callgrind.sh`),
    /// most of them the waker's registration.
    pub(crate) fn is_open(&mut self) -> bool {
        if self.state != State::Idle || !self.buf.is_empty() {
            return false;
        }
        if let Some(open) = self.io.probe_idle() {
            if !open {
                self.state = State::Closed;
            }
            return open;
        }
        let mut cx = Context::from_waker(Waker::noop());
        let mut byte = [0u8; 1];
        let mut rb = ReadBuf::new(&mut byte);
        match Pin::new(&mut self.io).poll_read(&mut cx, &mut rb) {
            Poll::Pending => true,
            // End of stream, an error, or bytes nobody asked for.
            Poll::Ready(_) => {
                self.state = State::Closed;
                false
            }
        }
    }

    /// Forget the connection (after an error).
    pub(crate) fn close(&mut self) {
        self.state = State::Closed;
    }

    /// Serialize a request: `target` is the origin-form path and query;
    /// `host` is added unless `headers` has one, then the caller's
    /// `headers` and the driver's `defaults`; `Content-Length` is added for
    /// a body (and for an empty POST, PUT or PATCH) unless given.
    pub(crate) fn prepare(
        &mut self,
        method: &Method,
        target: &str,
        host: &HeaderValue,
        headers: &HeaderMap,
        defaults: &Defaults<'_>,
        body: &Bytes,
    ) {
        let plain = headers.is_empty() && body.is_empty() && defaults.cookie.is_none();
        if plain
            && let Some(last) = &self.last
            && last.is(method, target, defaults)
        {
            // `out` holds this very request (and `body` is `None`).
            return;
        }
        // Its target's buffer is used again if this one is kept too.
        let stale = self.last.take();
        let out = &mut self.out;
        out.clear();
        out.extend_from_slice(method.as_str().as_bytes());
        out.push(b' ');
        out.extend_from_slice(target.as_bytes());
        out.extend_from_slice(b" HTTP/1.1\r\n");
        // No caller headers (the usual case): nothing to look up.
        let own = !headers.is_empty();
        if !(own && headers.contains_key(HOST)) {
            put_header(out, b"host", host.as_bytes());
        }
        for (k, v) in headers {
            if k == COOKIE && defaults.cookie.is_some() {
                continue; // merged into the jar's
            }
            put_header(out, k.as_str().as_bytes(), v.as_bytes());
        }
        if let Some(ua) = &defaults.user_agent {
            put_header(out, b"user-agent", ua.as_bytes());
        }
        if defaults.accept_encoding {
            put_header(out, b"accept-encoding", ACCEPT_ENCODING.as_bytes());
        }
        if let Some(c) = &defaults.cookie {
            put_header(out, b"cookie", c.as_bytes());
        }
        let chunked = own
            && headers
                .get_all(TRANSFER_ENCODING)
                .iter()
                .any(|v| is_chunked(v.as_bytes()));
        let has_length = own && headers.contains_key(CONTENT_LENGTH);
        if !chunked
            && !has_length
            && (!body.is_empty() || matches!(*method, Method::POST | Method::PUT | Method::PATCH))
        {
            out.extend_from_slice(b"content-length: ");
            put_decimal(out, body.len() as u64);
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"\r\n");
        self.body = None;
        if chunked {
            if !body.is_empty() {
                out.extend_from_slice(format!("{:x}\r\n", body.len()).as_bytes());
                out.extend_from_slice(body);
                out.extend_from_slice(b"\r\n");
            }
            out.extend_from_slice(b"0\r\n\r\n");
        } else if body.len() <= INLINE_BODY {
            out.extend_from_slice(body);
        } else {
            self.body = Some(body.clone());
        }
        self.head_request = *method == Method::HEAD;
        if plain {
            let mut kept = stale.map(|p| p.target).unwrap_or_default();
            kept.clear();
            kept.push_str(target);
            self.last = Some(Plain {
                method: method.clone(),
                target: kept,
                user_agent: defaults.user_agent.cloned(),
                accept_encoding: defaults.accept_encoding,
            });
        }
    }

    /// Write the prepared request and flush it.
    pub(crate) async fn send(&mut self) -> std::io::Result<()> {
        self.state = State::Busy;
        self.reads = 0;
        self.io.write_all(&self.out).await?;
        if let Some(b) = self.body.take() {
            self.io.write_all(&b).await?;
        }
        self.io.flush().await?;
        if self.out.capacity() > READ_CHUNK {
            self.out = Vec::new();
            self.last = None;
        }
        Ok(())
    }

    /// Read into `buf`, at least `want` bytes of room; the count read (0 at
    /// the end of the stream).
    async fn fill(&mut self, want: usize) -> Result<usize, HttpError> {
        let err =
            |e: std::io::Error| HttpError::new(io_kind(&e), format!("reading the response: {e}"));
        if self.buf.capacity() == 0 {
            // No buffer held (see `Io::poll_read_ready`): take one when
            // there is something to read.
            let io = &self.io;
            std::future::poll_fn(|cx| io.poll_read_ready(cx))
                .await
                .map_err(err)?;
            self.buf = self.buffers.take();
            self.grown = false;
        }
        self.grown |= want > READ_CHUNK;
        self.buf.reserve(want);
        let n = self.io.read_buf(&mut self.buf).await.map_err(err)?;
        self.reads += u32::from(n > 0);
        Ok(n)
    }

    /// The response head just read came whole in the first read after the
    /// request (the usual case for a head that fits in one segment).
    pub(crate) fn head_in_first_read(&self) -> bool {
        self.reads == 1
    }

    /// Read the final response head (informational 1xx heads are skipped).
    pub(crate) async fn read_head(&mut self) -> Result<Head, HttpError> {
        loop {
            if !self.buf.is_empty()
                && let Some((len, head)) = parse_head(&self.buf, self.head_request)?
            {
                self.buf.advance(len);
                if (100..200).contains(&head.status) && head.status != 101 {
                    continue;
                }
                return Ok(head);
            }
            if self.buf.len() >= MAX_HEAD {
                return Err(malformed(format!(
                    "response head larger than {MAX_HEAD} bytes"
                )));
            }
            if self.fill(READ_CHUNK).await? == 0 {
                return Err(closed("before a complete response head"));
            }
        }
    }

    /// Read `n` body bytes into `sink`.
    async fn read_exact(&mut self, mut n: u64, sink: &mut Sink) -> Result<(), HttpError> {
        while n > 0 {
            if self.buf.is_empty() {
                let want = usize::try_from(n)
                    .unwrap_or(BIG_READ)
                    .clamp(READ_CHUNK, BIG_READ);
                if self.fill(want).await? == 0 {
                    return Err(closed("before the body was complete"));
                }
            }
            let take = self.buf.len().min(usize::try_from(n).unwrap_or(usize::MAX));
            sink.push(&self.buf[..take])?;
            self.buf.advance(take);
            n -= take as u64;
        }
        Ok(())
    }

    /// Make sure `buf` holds at least `n` bytes.
    async fn need(&mut self, n: usize, what: &str) -> Result<(), HttpError> {
        while self.buf.len() < n {
            if self.fill(READ_CHUNK).await? == 0 {
                return Err(closed(what));
            }
        }
        Ok(())
    }

    async fn read_chunked(&mut self, sink: &mut Sink) -> Result<(), HttpError> {
        loop {
            let size = loop {
                match httparse::parse_chunk_size(&self.buf) {
                    Ok(httparse::Status::Complete((used, size))) => {
                        self.buf.advance(used);
                        break size;
                    }
                    Ok(httparse::Status::Partial) => {
                        if self.buf.len() > READ_CHUNK {
                            return Err(malformed("chunk size line too long"));
                        }
                        let have = self.buf.len();
                        self.need(have + 1, "inside a chunked body").await?;
                    }
                    Err(_) => return Err(malformed("invalid chunk size")),
                }
            };
            if size == 0 {
                break;
            }
            self.read_exact(size, sink).await?;
            self.need(2, "inside a chunked body").await?;
            if &self.buf[..2] != b"\r\n" {
                return Err(malformed("chunk data not followed by CRLF"));
            }
            self.buf.advance(2);
        }
        // Trailer fields, then an empty line.
        loop {
            if let Some(i) = self.buf.windows(2).position(|w| w == b"\r\n") {
                self.buf.advance(i + 2);
                if i == 0 {
                    return Ok(());
                }
                continue;
            }
            if self.buf.len() >= MAX_HEAD {
                return Err(malformed("chunked trailer too large"));
            }
            let have = self.buf.len();
            self.need(have + 1, "inside the chunked trailer").await?;
        }
    }

    /// Read the body that `head` announces into `sink`; afterwards the
    /// connection is idle again, or closed when the response says so.
    pub(crate) async fn read_body(
        &mut self,
        framing: Framing,
        keep_alive: bool,
        sink: &mut Sink,
    ) -> Result<(), HttpError> {
        match framing {
            Framing::Empty => {}
            Framing::Length(n) => self.read_exact(n, sink).await?,
            Framing::Chunked => self.read_chunked(sink).await?,
            Framing::UntilClose => loop {
                if !self.buf.is_empty() {
                    sink.push(&self.buf)?;
                    self.buf.clear();
                }
                if self.fill(BIG_READ).await? == 0 {
                    break;
                }
            },
        }
        self.state = if keep_alive {
            State::Idle
        } else {
            State::Closed
        };
        // An idle connection keeps no read buffer: with thousands of virtual
        // users thinking between requests, a page each would be most of the
        // run's memory. It goes back to the client's spares.
        if self.buf.is_empty() {
            let buf = std::mem::take(&mut self.buf);
            if !self.grown {
                self.buffers.give(buf);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(raw: &[u8]) -> Head {
        parse_head(raw, false).unwrap().unwrap().1
    }

    #[test]
    fn header_names_match_in_any_case_and_nothing_else() {
        assert!(name_is(b"Content-Length", b"content-length"));
        assert!(name_is(b"CONTENT-LENGTH", b"content-length"));
        assert!(name_is(b"connection", b"connection"));
        assert!(!name_is(b"Content-Lengthx", b"content-length"));
        assert!(!name_is(b"Content_Length", b"content-length"));
        assert!(!name_is(b"Connectiom", b"connection"));
        let h = head(b"HTTP/1.1 200 OK\r\ncOnTeNt-LeNgTh: 3\r\nCONNECTION: close\r\n\r\n");
        assert_eq!((h.framing, h.keep_alive), (Framing::Length(3), false));
        assert!(!h.sets_cookie);
        // The cookie jar looks at a response's fields only when this is set.
        let h = head(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nSET-cookie: a=1\r\n\r\n");
        assert!(h.sets_cookie && h.keep_alive);
        assert_eq!(
            h.headers.first_of(&http::header::SET_COOKIE),
            Some(&b"a=1"[..])
        );
        assert!(!head(b"HTTP/1.1 200 OK\r\nSet-Cookies: a=1\r\n\r\n").sets_cookie);
    }

    #[test]
    fn framing_follows_rfc_9112() {
        let h = head(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello");
        assert_eq!((h.framing, h.keep_alive), (Framing::Length(5), true));
        let h = head(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\nContent-Length: 5\r\n\r\n",
        );
        assert_eq!(h.framing, Framing::Chunked, "chunked wins over a length");
        let h = head(b"HTTP/1.1 200 OK\r\n\r\n");
        assert_eq!((h.framing, h.keep_alive), (Framing::UntilClose, false));
        let h = head(b"HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n");
        assert_eq!(h.framing, Framing::Empty);
        let h =
            head(b"HTTP/1.1 200 OK\r\nConnection: keep-alive, close\r\nContent-Length: 0\r\n\r\n");
        assert!(!h.keep_alive);
        let h = head(b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n");
        assert_eq!((h.version, h.keep_alive), (Version::HTTP_10, false));
        let h = head(b"HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 0\r\n\r\n");
        assert!(h.keep_alive);
        let (_, h) = parse_head(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n", true)
            .unwrap()
            .unwrap();
        assert_eq!(h.framing, Framing::Empty, "a HEAD response has no body");
        assert!(
            parse_head(b"HTTP/1.1 200 OK\r\nContent-Len", false)
                .unwrap()
                .is_none()
        );
        for bad in [
            &b"SMTP ready\r\n\r\n"[..],
            b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
        ] {
            let e = parse_head(bad, false).unwrap_err();
            assert_eq!(e.kind, ErrorKind::MalformedResponse);
        }
    }

    #[test]
    fn requests_are_serialized_once_with_host_and_length() {
        let (a, _b) = tokio::io::duplex(64);
        let mut c = H1::new(Box::new(a), ReadBuffers::default());
        let host = HeaderValue::from_static("example.test:8080");
        let mut h = HeaderMap::new();
        h.insert("x-a", HeaderValue::from_static("1"));
        c.prepare(
            &Method::POST,
            "/p?q=1",
            &host,
            &h,
            &Defaults::default(),
            &Bytes::from_static(b"body"),
        );
        assert_eq!(
            String::from_utf8_lossy(&c.out),
            "POST /p?q=1 HTTP/1.1\r\nhost: example.test:8080\r\nx-a: 1\r\ncontent-length: 4\r\n\r\nbody"
        );
        let none = HeaderMap::new();
        c.prepare(
            &Method::GET,
            "/",
            &host,
            &none,
            &Defaults::default(),
            &Bytes::new(),
        );
        assert_eq!(
            String::from_utf8_lossy(&c.out),
            "GET / HTTP/1.1\r\nhost: example.test:8080\r\n\r\n"
        );
        // A plain request is kept and sent again as it is; any difference
        // (target, method, defaults) writes it anew.
        let plain = |c: &mut H1, m: &Method, target: &str, d: &Defaults<'_>| {
            c.prepare(m, target, &host, &none, d, &Bytes::new());
            String::from_utf8_lossy(&c.out).into_owned()
        };
        let empty = Defaults::default();
        // A mark left in `out` survives only if the request is not written again.
        c.out.push(b'!');
        assert_eq!(
            plain(&mut c, &Method::GET, "/", &empty),
            "GET / HTTP/1.1\r\nhost: example.test:8080\r\n\r\n!"
        );
        c.out.pop();
        assert_eq!(
            plain(&mut c, &Method::GET, "/x", &empty),
            "GET /x HTTP/1.1\r\nhost: example.test:8080\r\n\r\n"
        );
        assert_eq!(
            plain(&mut c, &Method::HEAD, "/x", &empty),
            "HEAD /x HTTP/1.1\r\nhost: example.test:8080\r\n\r\n"
        );
        assert!(c.head_request);
        let ua2 = HeaderValue::from_static("ua/2");
        let ua = Defaults {
            user_agent: Some(&ua2),
            ..Defaults::default()
        };
        assert_eq!(
            plain(&mut c, &Method::HEAD, "/x", &ua),
            "HEAD /x HTTP/1.1\r\nhost: example.test:8080\r\nuser-agent: ua/2\r\n\r\n"
        );
        c.prepare(
            &Method::PUT,
            "/x",
            &host,
            &none,
            &ua,
            &Bytes::from_static(b"b"),
        );
        assert!(c.last.is_none(), "a request with a body is not kept");
        assert_eq!(
            plain(&mut c, &Method::HEAD, "/x", &ua),
            "HEAD /x HTTP/1.1\r\nhost: example.test:8080\r\nuser-agent: ua/2\r\n\r\n"
        );
        // The driver's defaults follow the caller's headers; a jar cookie
        // (already merged with the caller's) replaces the caller's line.
        h.insert("cookie", HeaderValue::from_static("own=1"));
        let ua1 = HeaderValue::from_static("ua/1");
        let defaults = Defaults {
            user_agent: Some(&ua1),
            accept_encoding: true,
            cookie: Some(HeaderValue::from_static("own=1; jar=2")),
        };
        c.prepare(&Method::GET, "/", &host, &h, &defaults, &Bytes::new());
        assert_eq!(
            String::from_utf8_lossy(&c.out),
            format!(
                "GET / HTTP/1.1\r\nhost: example.test:8080\r\nx-a: 1\r\nuser-agent: ua/1\r\n\
                 accept-encoding: {ACCEPT_ENCODING}\r\ncookie: own=1; jar=2\r\n\r\n"
            )
        );
        let mut n = Vec::new();
        put_decimal(&mut n, 0);
        put_decimal(&mut n, 1234567890);
        assert_eq!(n, b"01234567890");
    }

    #[tokio::test]
    async fn chunked_bodies_with_extensions_and_trailers() {
        let (a, mut b) = tokio::io::duplex(1024);
        let mut c = H1::new(Box::new(a), ReadBuffers::default());
        b.write_all(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nx-trailer: 1\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n",
        )
        .await
        .unwrap();
        let h = c.read_head().await.unwrap();
        let mut sink = Sink::new(true, 1 << 20, 0, None);
        c.read_body(h.framing, h.keep_alive, &mut sink)
            .await
            .unwrap();
        assert_eq!(sink.size, 11);
        assert_eq!(&sink.finish()[..], b"hello world");
        // The stream is in sync: the next response parses.
        assert_eq!(c.read_head().await.unwrap().status, 204);
    }

    #[tokio::test]
    async fn read_buffers_are_lent_and_given_back_unless_grown() {
        let pool = ReadBuffers::default();
        let kept = |p: &ReadBuffers| p.0.lock().unwrap().len();
        let (a, mut b) = tokio::io::duplex(1 << 16);
        let mut c = H1::new(Box::new(a), pool.clone());
        let exchange = async |c: &mut H1| {
            let h = c.read_head().await.unwrap();
            let mut sink = Sink::new(true, 1 << 20, 0, None);
            c.read_body(h.framing, h.keep_alive, &mut sink)
                .await
                .unwrap();
            assert_eq!(c.buf.capacity(), 0, "an idle connection holds no buffer");
            sink.finish()
        };
        b.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            .await
            .unwrap();
        assert_eq!(&exchange(&mut c).await[..], b"ok");
        assert_eq!(kept(&pool), 1, "given back");
        let page = pool.0.lock().unwrap()[0].as_ptr();
        // The next response reads into the same page.
        b.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nyes")
            .await
            .unwrap();
        assert_eq!(&exchange(&mut c).await[..], b"yes");
        assert_eq!(kept(&pool), 1);
        let now = pool.0.lock().unwrap()[0].as_ptr();
        assert!(
            now.addr().abs_diff(page.addr()) < READ_CHUNK,
            "reused, not reallocated: {page:?} then {now:?}"
        );
        // A large body grows the buffer: dropped, not kept.
        let big = vec![b'x'; 3 * READ_CHUNK];
        let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", big.len());
        b.write_all(head.as_bytes()).await.unwrap();
        b.write_all(&big).await.unwrap();
        assert_eq!(exchange(&mut c).await.len(), big.len());
        assert_eq!(kept(&pool), 0, "a grown buffer is not kept");
    }

    #[tokio::test]
    async fn informational_heads_are_skipped_and_limits_hold() {
        let (a, mut b) = tokio::io::duplex(1024);
        let mut c = H1::new(Box::new(a), ReadBuffers::default());
        b.write_all(
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0123456789",
        )
        .await
        .unwrap();
        let h = c.read_head().await.unwrap();
        assert_eq!(h.status, 200);
        let mut sink = Sink::new(true, 4, 0, None);
        let e = c
            .read_body(h.framing, h.keep_alive, &mut sink)
            .await
            .unwrap_err();
        assert_eq!(e.kind, ErrorKind::BodyTooLarge);
        drop(b);
        let (a, b) = tokio::io::duplex(64);
        let mut c = H1::new(Box::new(a), ReadBuffers::default());
        drop(b);
        assert_eq!(
            c.read_head().await.unwrap_err().kind,
            ErrorKind::ConnectionReset
        );
    }
}
