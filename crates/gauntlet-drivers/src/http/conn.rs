//! Connections: resolve → TCP connect → TLS → hyper handshake, the I/O tap
//! that counts wire bytes and timestamps writes and reads, and one request
//! exchange with its phase record ([`Hop`]).
//!
//! The tap sits twice on a TLS connection: under TLS it only counts bytes
//! (so handshake and record overhead are included, like k6's
//! `data_sent`/`data_received`); above TLS it only timestamps (so TLS
//! session tickets or alerts read by rustls are not mistaken for the first
//! response byte). On cleartext one tap does both.

use super::defaults::Defaults;
use super::error::{
    ErrorKind, HttpError, certificate_hint, hyper_kind, io_kind, tls_handshake_kind,
};
use super::h1::{self, H1, Io, ReadBuffers};
use super::headers::ResponseHeaders;
use super::{ClientShared, HttpVersionPref, Resolver, Timings};
use bytes::{Bytes, BytesMut};
use http::uri::{Authority, Scheme};
use http::{HeaderMap, HeaderValue, Request, Version};
use http_body_util::BodyExt;
use hyper::body::{Body, Frame, SizeHint};
use hyper::client::conn::http2;
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::convert::Infallible;
use std::fmt;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::Instant;
use url::Url;

/// With several addresses, each gets at least this much of the connect
/// timeout (unless less remains), so one black-holed address cannot starve
/// the others — and at most its fair share, so it cannot eat all of it.
const MIN_PER_ADDRESS: Duration = Duration::from_secs(2);

/// Scheme, host and port: what a connection can serve.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Origin {
    tls: bool,
    /// As in the URL (IPv6 literals in brackets, domains lower-case).
    host: String,
    port: u16,
}

impl Origin {
    pub(crate) fn of(url: &Url) -> Result<Origin, HttpError> {
        let tls = match url.scheme() {
            "https" => true,
            "http" => false,
            other => {
                return Err(HttpError::new(
                    ErrorKind::InvalidUrl,
                    format!("unsupported scheme `{other}` in `{url}`"),
                ));
            }
        };
        let host = url
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| HttpError::new(ErrorKind::InvalidUrl, format!("no host in `{url}`")))?;
        let port = url
            .port_or_known_default()
            .ok_or_else(|| HttpError::new(ErrorKind::InvalidUrl, format!("no port for `{url}`")))?;
        Ok(Origin {
            tls,
            host: host.to_owned(),
            port,
        })
    }

    /// Whether `url` can be sent on a connection to this origin (no allocation).
    pub(crate) fn matches(&self, url: &Url) -> bool {
        let tls = match url.scheme() {
            "https" => true,
            "http" => false,
            _ => return false,
        };
        tls == self.tls
            && url.port_or_known_default() == Some(self.port)
            && url.host_str() == Some(self.host.as_str())
    }

    fn default_port(&self) -> bool {
        self.port == if self.tls { 443 } else { 80 }
    }

    fn bare_host(&self) -> &str {
        self.host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(&self.host)
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = if self.tls { "https" } else { "http" };
        write!(f, "{scheme}://{}:{}", self.host, self.port)
    }
}

/// A byte counter with one writer (the tap of one stream, which one task
/// polls at a time) and any number of readers. A load and a store, not a
/// `fetch_add`: with no second writer to race with, a locked
/// read-modify-write on every read and write call buys nothing.
#[derive(Debug, Default)]
pub(crate) struct Count(AtomicU64);

impl Count {
    fn add(&self, n: usize) {
        self.0
            .store(self.0.load(Relaxed).wrapping_add(n as u64), Relaxed);
    }

    fn get(&self) -> u64 {
        self.0.load(Relaxed)
    }
}

/// Counters and instants shared between the session and the connection task
/// (which may run on another worker thread, hence atomics). Instants are
/// nanoseconds since `base` plus one, so 0 means "not yet".
#[derive(Debug)]
pub(crate) struct IoStats {
    base: Instant,
    /// Wire bytes (below TLS).
    written: Count,
    read: Count,
    /// Last completed write/flush since [`IoStats::restart`].
    last_write: AtomicU64,
    /// First byte read since [`IoStats::restart`].
    first_read: AtomicU64,
    /// When the request body was fully handed to hyper (at submission for
    /// bodiless requests).
    handed: AtomicU64,
    /// First write completion after `handed`: the request is on the wire.
    sent: AtomicU64,
}

impl IoStats {
    fn new() -> Arc<IoStats> {
        Arc::new(IoStats {
            base: Instant::now(),
            written: Count::default(),
            read: Count::default(),
            last_write: AtomicU64::new(0),
            first_read: AtomicU64::new(0),
            handed: AtomicU64::new(0),
            sent: AtomicU64::new(0),
        })
    }

    fn stamp(&self) -> u64 {
        self.stamp_of(Instant::now())
    }

    /// [`IoStats::stamp`] of an instant already read.
    fn stamp_of(&self, at: Instant) -> u64 {
        nanos_between(self.base, at).min(u64::MAX - 1) + 1
    }

    /// Start of a request: forget the previous request's instants;
    /// `handed` is when its body was handed over, if it was already (an
    /// HTTP/2 request without a body; HTTP/1 does not use it).
    fn restart(&self, handed: Option<Instant>) {
        self.last_write.store(0, Relaxed);
        self.first_read.store(0, Relaxed);
        self.sent.store(0, Relaxed);
        let handed = handed.map_or(0, |at| self.stamp_of(at));
        self.handed.store(handed, Relaxed);
    }

    fn counts(&self) -> (u64, u64) {
        (self.written.get(), self.read.get())
    }

    fn wrote(&self) -> bool {
        let now = self.stamp();
        self.last_write.store(now, Relaxed);
        let sent_now = self.handed.load(Relaxed) != 0 && self.sent.load(Relaxed) == 0;
        if sent_now {
            self.sent.store(now, Relaxed);
        }
        sent_now
    }
}

/// The I/O tap: counts bytes (`count`) and/or timestamps (`time`).
struct Tap<T> {
    inner: T,
    stats: Arc<IoStats>,
    count: bool,
    time: bool,
    /// The inner stream buffers writes (TLS): bytes reach the socket at
    /// flush, so a flush after writes is stamped again. A plain socket's
    /// flush does nothing, and one clock read per write is enough.
    buffered: bool,
    /// Written since the last flush (timestamps move to the flush).
    dirty: bool,
    /// The write that set `sent` has not been flushed yet.
    sent_unflushed: bool,
}

impl<T> Tap<T> {
    fn new(inner: T, stats: Arc<IoStats>, count: bool, time: bool, buffered: bool) -> Tap<T> {
        Tap {
            inner,
            stats,
            count,
            time,
            buffered,
            dirty: false,
            sent_unflushed: false,
        }
    }

    fn on_written(&mut self, n: usize) {
        if n == 0 {
            return;
        }
        if self.count {
            self.stats.written.add(n);
        }
        if self.time {
            self.dirty = self.buffered;
            if self.stats.wrote() && self.buffered {
                self.sent_unflushed = true;
            }
        }
    }
}

impl Io for Tap<TcpStream> {
    fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.inner.poll_read_ready(cx)
    }

    /// A read attempt that tokio answers from the socket's readiness: with
    /// nothing readable (the usual case) it returns at once, without a
    /// system call and without the waker registration (a lock) that
    /// polling a read costs.
    fn probe_idle(&mut self) -> Option<bool> {
        let mut byte = [0u8; 1];
        match self.inner.try_read(&mut byte) {
            Err(e) => Some(e.kind() == io::ErrorKind::WouldBlock),
            Ok(n) => {
                if self.count {
                    self.stats.read.add(n);
                }
                Some(false)
            }
        }
    }
}

impl Io for Tap<tokio_rustls::client::TlsStream<Tap<TcpStream>>> {}

impl<T: AsyncRead + Unpin> AsyncRead for Tap<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let r = Pin::new(&mut this.inner).poll_read(cx, buf);
        let n = buf.filled().len().saturating_sub(before);
        if n > 0 {
            if this.count {
                this.stats.read.add(n);
            }
            if this.time && this.stats.first_read.load(Relaxed) == 0 {
                let now = this.stats.stamp();
                this.stats.first_read.store(now, Relaxed);
            }
        }
        r
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Tap<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = &r {
            this.on_written(*n);
        }
        r
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        if let Poll::Ready(Ok(n)) = &r {
            this.on_written(*n);
        }
        r
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.inner).poll_flush(cx);
        if let Poll::Ready(Ok(())) = &r
            && this.dirty
        {
            // Buffered layers (TLS) put bytes on the socket at flush time.
            this.dirty = false;
            let now = this.stats.stamp();
            this.stats.last_write.store(now, Relaxed);
            if std::mem::take(&mut this.sent_unflushed) {
                this.stats.sent.store(now, Relaxed);
            }
        }
        r
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

/// The request body: one `Bytes` chunk, which records when hyper took it
/// (the HTTP/2 "sending" end is the first write after that).
pub(crate) struct ReqBody {
    data: Option<Bytes>,
    stats: Arc<IoStats>,
}

impl Body for ReqBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let this = self.get_mut();
        match this.data.take() {
            Some(d) => {
                let now = this.stats.stamp();
                this.stats.handed.store(now, Relaxed);
                Poll::Ready(Some(Ok(Frame::data(d))))
            }
            None => Poll::Ready(None),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.data.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.data.as_ref().map_or(0, |d| d.len() as u64))
    }
}

enum Sender {
    /// Our own HTTP/1.1 (see [`h1`] for why not hyper's).
    H1(H1),
    H2(http2::SendRequest<ReqBody>),
}

/// A request ready for its connection.
pub(crate) enum Prepared {
    /// Serialized into the connection's buffer.
    H1,
    H2(Box<Request<ReqBody>>),
}

/// An open connection of one session.
pub(crate) struct Conn {
    pub(crate) origin: Origin,
    sender: Sender,
    stats: Arc<IoStats>,
    /// `Host` for HTTP/1 requests (port only when not the default).
    host: HeaderValue,
    /// Authority for HTTP/2 absolute URIs.
    authority: Authority,
    /// Wire bytes already attributed to requests.
    accounted: (u64, u64),
}

impl fmt::Debug for Conn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Conn")
            .field("origin", &self.origin)
            .field("h2", &self.is_h2())
            .finish()
    }
}

/// The record of one hop (one request/response exchange), owned by the
/// caller so that it survives a timeout that drops the hop's future.
///
/// Its instants are nanoseconds since [`Hop::begin`] (a [`Mark`]), and the
/// connection's stamps are turned into them with one offset per hop: the
/// phases are then integer differences. As `Instant`s, closing a record
/// took four `Instant` subtractions and two additions, about 300
/// instructions a request (`bench/callgrind.sh`).
#[derive(Debug, Default)]
pub(crate) struct Hop {
    pub(crate) t: Timings,
    begin: Option<Instant>,
    ready_at: Mark,
    submitted: Mark,
    head_at: Mark,
    done_at: Mark,
    h2: bool,
    /// Timestamps and byte counters of the connection in use.
    stats: Option<Arc<IoStats>>,
    /// `stats`' base minus `begin`, in nanoseconds: adds an `IoStats`
    /// stamp to get a [`Mark`].
    offset: i64,
    /// The base of `stats`' byte counters not yet attributed to this hop.
    unsettled: Option<(u64, u64)>,
    /// Bytes already attributed to this hop.
    bytes: (u64, u64),
    /// Response head, when one arrived.
    pub(crate) status: u16,
    pub(crate) version: Version,
    pub(crate) headers: ResponseHeaders,
    /// `headers` has a `Set-Cookie` field (for the cookie jar).
    pub(crate) sets_cookie: bool,
    /// Body bytes received (before decoding), kept or not.
    pub(crate) body_size: u64,
}

/// An instant of a hop: nanoseconds since its begin, `None` until it
/// happened.
type Mark = Option<u64>;

/// Nanoseconds from `from` to `to`, 0 when `to` is earlier.
fn nanos_between(from: Instant, to: Instant) -> u64 {
    u64::try_from(to.saturating_duration_since(from).as_nanos()).unwrap_or(u64::MAX)
}

impl Hop {
    /// The caller started asking for a connection at `at`.
    pub(crate) fn begin(&mut self, at: Instant) {
        self.begin = Some(at);
    }

    /// `at` as a mark of this hop (one clock subtraction).
    fn mark(&self, at: Instant) -> u64 {
        self.begin.map_or(0, |b| nanos_between(b, at))
    }

    /// Now, as a mark of this hop.
    fn now(&self) -> u64 {
        self.mark(Instant::now())
    }

    /// A stamp of the connection's `stats` (0: never) as a mark.
    fn stamp_mark(&self, stamp: u64) -> Mark {
        (stamp != 0).then(|| (stamp as i64 - 1).saturating_add(self.offset).max(0) as u64)
    }

    /// Use this connection's counters from `base` on.
    fn track(&mut self, stats: &Arc<IoStats>, base: (u64, u64), h2: bool) {
        self.settle();
        // One reference for both (each clone is a locked increment).
        self.unsettled = Some(base);
        self.offset = match self.begin {
            Some(b) if stats.base >= b => nanos_between(b, stats.base) as i64,
            Some(b) => -(nanos_between(stats.base, b) as i64),
            None => 0,
        };
        self.stats = Some(stats.clone());
        self.h2 = h2;
    }

    /// Attribute the bytes counted so far to this hop.
    fn settle(&mut self) -> (u64, u64) {
        if let Some((bw, br)) = self.unsettled.take()
            && let Some(stats) = &self.stats
        {
            let (w, r) = stats.counts();
            self.bytes.0 += w.saturating_sub(bw);
            self.bytes.1 += r.saturating_sub(br);
            return (w, r);
        }
        (0, 0)
    }

    /// The connection is usable (end of `blocked`); `at_once` when it was
    /// a kept-alive HTTP/1 connection, usable without waiting: then
    /// `blocked` is 0 and the clock is not read.
    pub(crate) fn ready(&mut self, at_once: bool) {
        self.ready_at = Some(if at_once { 0 } else { self.now() });
    }

    /// Close the record (at the response's end, or now after a failure or
    /// the timeout): fill `blocked`, `sending`, `waiting`, `receiving`;
    /// return the wire bytes (sent, received) and the end instant.
    pub(crate) fn finish(&mut self) -> (u64, u64, Instant) {
        self.settle();
        let now = (self.done_at.is_none() || self.begin.is_none()).then(Instant::now);
        let done = match now {
            Some(n) => self.mark(n),
            None => self.done_at.unwrap_or(0),
        };
        let ns = Duration::from_nanos;
        if self.begin.is_some() {
            self.t.blocked = ns(self.ready_at.unwrap_or(done));
        }
        if let Some(start) = self.submitted {
            let head = self.head_at.unwrap_or(done).max(start);
            let stamp = |pick: fn(&IoStats) -> &AtomicU64| {
                self.stats
                    .as_deref()
                    .and_then(|s| self.stamp_mark(pick(s).load(Relaxed)))
            };
            let (sent, first) = if self.h2 {
                let sent = stamp(|s| &s.sent).unwrap_or(start);
                (sent.max(start).min(head), head)
            } else {
                let first = stamp(|s| &s.first_read);
                let upper = first.unwrap_or(head).max(start).min(head);
                let sent = stamp(|s| &s.last_write).unwrap_or(start);
                (sent.max(start).min(upper), upper)
            };
            self.t.sending = ns(sent - start);
            self.t.waiting = ns(first - sent);
            self.t.receiving = ns(done.saturating_sub(first));
        }
        let end = match (now, self.begin) {
            (Some(n), _) => n,
            (None, Some(b)) => b + ns(done),
            (None, None) => Instant::now(),
        };
        (self.bytes.0, self.bytes.1, end)
    }
}

/// How to treat the response body of one hop.
#[derive(Debug, Clone)]
pub(crate) struct BodyPolicy {
    /// Keep the bytes (else count and drop them).
    pub(crate) keep: bool,
    /// Redirects will be followed: a redirect's body is never kept.
    pub(crate) follow_redirects: bool,
    /// Larger kept bodies fail with `body_too_large`.
    pub(crate) max: usize,
    /// What kept bodies count against (set when `keep`).
    pub(crate) budget: Option<Arc<super::budget::BodyBudget>>,
}

/// A failed exchange, with what a retry decision needs.
#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) error: HttpError,
    /// hyper handed the request back: it never reached the connection.
    pub(crate) unsent: bool,
    /// Nothing of a response arrived.
    pub(crate) before_response: bool,
}

/// A hyper error with its causes, for the human detail.
pub(crate) fn describe(e: &(dyn std::error::Error + 'static)) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(c) = src {
        let m = c.to_string();
        if !s.contains(&m) {
            s.push_str(": ");
            s.push_str(&m);
        }
        src = c.source();
    }
    s
}

/// Open a connection to `origin`, filling dns/connecting/tls_handshaking.
pub(crate) async fn connect(
    shared: &ClientShared,
    origin: Origin,
    hop: &mut Hop,
) -> Result<Conn, HttpError> {
    let limit = shared.cfg.connect_timeout;
    let deadline = Instant::now() + limit;
    match tokio::time::timeout_at(deadline, connect_inner(shared, &origin, hop, deadline)).await {
        Ok(Ok((sender, stats, host, authority))) => Ok(Conn {
            origin,
            sender,
            stats,
            host,
            authority,
            accounted: (0, 0),
        }),
        Ok(Err(e)) => Err(e),
        Err(_) => Err(HttpError::new(
            ErrorKind::ConnectTimeout,
            format!("no connection to {origin} within {limit:?} (dns + connect + tls)"),
        )),
    }
}

type Parts = (Sender, Arc<IoStats>, HeaderValue, Authority);

async fn connect_inner(
    shared: &ClientShared,
    origin: &Origin,
    hop: &mut Hop,
    deadline: Instant,
) -> Result<Parts, HttpError> {
    let cfg = &shared.cfg;
    let addrs;
    let t1 = match Resolver::literal(&origin.host, origin.port) {
        Some(a) => {
            addrs = a;
            Instant::now()
        }
        None => {
            let t0 = Instant::now();
            addrs = cfg.resolver.resolve(&origin.host, origin.port).await?;
            let t1 = Instant::now();
            hop.t.dns = t1 - t0;
            t1
        }
    };
    let stream = tcp_connect(&addrs, deadline).await?;
    // Small requests must not wait for Nagle's algorithm.
    let _ = stream.set_nodelay(true);
    let t2 = Instant::now();
    hop.t.connecting = t2 - t1;
    let stats = IoStats::new();
    hop.track(&stats, (0, 0), false);
    let authority = Authority::try_from(if origin.default_port() {
        origin.host.clone()
    } else {
        format!("{}:{}", origin.host, origin.port)
    })
    .map_err(|e| {
        HttpError::new(
            ErrorKind::InvalidUrl,
            format!("host `{}`: {e}", origin.host),
        )
    })?;
    let host = HeaderValue::from_str(authority.as_str()).map_err(|e| {
        HttpError::new(
            ErrorKind::InvalidUrl,
            format!("host `{}`: {e}", origin.host),
        )
    })?;
    let sender = if origin.tls {
        // Boxed: TLS state is kilobytes, and without it a cleartext
        // connect's future stays small (all VUs of a run connect at once:
        // this is the run's peak memory).
        Box::pin(tls_connect(shared, origin, hop, stream, &stats, t2)).await?
    } else {
        let h2 = matches!(cfg.version, HttpVersionPref::H2c | HttpVersionPref::Http2);
        handshake(
            Tap::new(stream, stats.clone(), true, true, false),
            h2,
            shared.buffers.clone(),
        )
        .await?
    };
    hop.h2 = matches!(sender, Sender::H2(_));
    Ok((sender, stats, host, authority))
}

/// The TLS handshake over a connected `stream`, then HTTP/1 or HTTP/2 as
/// ALPN agreed.
async fn tls_connect(
    shared: &ClientShared,
    origin: &Origin,
    hop: &mut Hop,
    stream: TcpStream,
    stats: &Arc<IoStats>,
    t2: Instant,
) -> Result<Sender, HttpError> {
    let name = match origin.bare_host().parse::<IpAddr>() {
        Ok(ip) => rustls::pki_types::ServerName::IpAddress(ip.into()),
        Err(_) => {
            rustls::pki_types::ServerName::try_from(origin.bare_host().to_owned()).map_err(|e| {
                HttpError::new(
                    ErrorKind::InvalidUrl,
                    format!("host `{}`: {e}", origin.host),
                )
            })?
        }
    };
    let tls = shared
        .tls
        .connect(name, Tap::new(stream, stats.clone(), true, false, false))
        .await
        .map_err(|e| {
            let hint = certificate_hint(&e)
                .map(|h| format!("; hint: {h}"))
                .unwrap_or_default();
            HttpError::new(
                tls_handshake_kind(&e),
                format!("TLS with {origin}: {e}{hint}"),
            )
        })?;
    hop.t.tls_handshaking = t2.elapsed();
    let h2 = tls.get_ref().1.alpn_protocol() == Some(b"h2");
    if shared.cfg.version == HttpVersionPref::Http2 && !h2 {
        return Err(HttpError::new(
            ErrorKind::TlsAlpn,
            format!("{origin} did not agree to HTTP/2 in ALPN"),
        ));
    }
    handshake(
        Tap::new(tls, stats.clone(), false, true, true),
        h2,
        shared.buffers.clone(),
    )
    .await
}

/// Try each address in order until one accepts.
async fn tcp_connect(addrs: &[SocketAddr], deadline: Instant) -> Result<TcpStream, HttpError> {
    let mut last = HttpError::new(ErrorKind::ConnectionRefused, "no address to connect to");
    for (i, addr) in addrs.iter().enumerate() {
        let remaining = deadline.saturating_duration_since(Instant::now());
        let left = u32::try_from(addrs.len() - i).unwrap_or(u32::MAX);
        let budget = if left > 1 {
            (remaining / left).max(MIN_PER_ADDRESS.min(remaining))
        } else {
            remaining
        };
        match tokio::time::timeout(budget, TcpStream::connect(addr)).await {
            Ok(Ok(s)) => return Ok(s),
            Ok(Err(e)) => last = HttpError::new(io_kind(&e), format!("connect {addr}: {e}")),
            Err(_) => {
                last = HttpError::new(
                    ErrorKind::ConnectTimeout,
                    format!("connect {addr}: no answer within {budget:?}"),
                )
            }
        }
    }
    Err(last)
}

async fn handshake<I>(io: I, h2: bool, buffers: ReadBuffers) -> Result<Sender, HttpError>
where
    I: Io + 'static,
{
    if h2 {
        let (sender, conn) =
            Box::pin(http2::Builder::new(TokioExecutor::new()).handshake(TokioIo::new(io)))
                .await
                .map_err(|e| HttpError::new(hyper_kind(&e, true), describe(&e)))?;
        tokio::spawn(async move {
            // Errors reach the request that observes them.
            let _ = conn.await;
        });
        Ok(Sender::H2(sender))
    } else {
        Ok(Sender::H1(H1::new(Box::new(io), buffers)))
    }
}

/// Collects body frames without copying when the body is one frame.
#[derive(Default)]
struct Collect {
    first: Option<Bytes>,
    rest: Option<BytesMut>,
}

impl Collect {
    fn push(&mut self, data: Bytes, hint: usize) {
        if let Some(rest) = &mut self.rest {
            rest.extend_from_slice(&data);
        } else if let Some(first) = self.first.take() {
            let mut rest = BytesMut::with_capacity(hint.max(first.len() + data.len()));
            rest.extend_from_slice(&first);
            rest.extend_from_slice(&data);
            self.rest = Some(rest);
        } else {
            self.first = Some(data);
        }
    }

    fn finish(self) -> Bytes {
        match (self.first, self.rest) {
            (_, Some(rest)) => rest.freeze(),
            (Some(first), None) => first,
            (None, None) => Bytes::new(),
        }
    }
}

impl Conn {
    pub(crate) fn is_h2(&self) -> bool {
        matches!(self.sender, Sender::H2(_))
    }

    /// Wait until the connection can take a request; `false` when it closed
    /// (the server ended keep-alive, or the connection failed).
    pub(crate) async fn ready(&mut self, hop: &mut Hop) -> bool {
        let ok = match &mut self.sender {
            Sender::H1(c) => c.is_open(),
            Sender::H2(s) => !s.is_closed() && s.ready().await.is_ok(),
        };
        if ok {
            hop.track(&self.stats, self.accounted, self.is_h2());
        }
        ok
    }

    /// The request for `url` on this connection: origin-form + `Host` on
    /// HTTP/1, absolute URI on HTTP/2; `headers` are the caller's, and
    /// `defaults` what the driver adds to them.
    pub(crate) fn request(
        &mut self,
        method: &http::Method,
        url: &Url,
        headers: &HeaderMap,
        defaults: &Defaults<'_>,
        body: &Bytes,
    ) -> Result<Prepared, HttpError> {
        let pq = &url[url::Position::BeforePath..url::Position::AfterQuery];
        let pq = if pq.is_empty() { "/" } else { pq };
        let bad = |e: http::Error| HttpError::new(ErrorKind::InvalidUrl, format!("`{url}`: {e}"));
        if let Sender::H1(c) = &mut self.sender {
            // `url` keeps spaces and controls percent-encoded; check anyway,
            // as a request line is only as good as its target.
            if let Some(b) = pq.bytes().find(|b| *b <= b' ' || *b == 0x7f) {
                return Err(HttpError::new(
                    ErrorKind::InvalidUrl,
                    format!("`{url}`: byte {b:#04x} in the request target"),
                ));
            }
            c.prepare(method, pq, &self.host, headers, defaults, body);
            return Ok(Prepared::H1);
        }
        let scheme = if self.origin.tls {
            Scheme::HTTPS
        } else {
            Scheme::HTTP
        };
        let uri = http::Uri::builder()
            .scheme(scheme)
            .authority(self.authority.clone())
            .path_and_query(pq)
            .build()
            .map_err(bad)?;
        let mut req = Request::new(ReqBody {
            data: (!body.is_empty()).then(|| body.clone()),
            stats: self.stats.clone(),
        });
        *req.method_mut() = method.clone();
        *req.uri_mut() = uri;
        *req.version_mut() = Version::HTTP_2;
        let mut headers = headers.clone();
        defaults.add_to(&mut headers);
        *req.headers_mut() = headers;
        Ok(Prepared::H2(Box::new(req)))
    }

    /// Send `req` and read the whole response into `hop`; the body is returned.
    pub(crate) async fn exchange(
        &mut self,
        req: Prepared,
        hop: &mut Hop,
        policy: BodyPolicy,
    ) -> Result<Bytes, Failure> {
        match req {
            Prepared::H1 => self.exchange_h1(hop, policy).await,
            // Boxed so that hyper's larger state is not part of every
            // HTTP/1 virtual user's task.
            Prepared::H2(r) => Box::pin(self.exchange_h2(*r, hop, policy)).await,
        }
    }

    async fn exchange_h2(
        &mut self,
        req: Request<ReqBody>,
        hop: &mut Hop,
        policy: BodyPolicy,
    ) -> Result<Bytes, Failure> {
        let now = Instant::now();
        self.stats
            .restart(req.body().is_end_stream().then_some(now));
        hop.submitted = Some(hop.mark(now));
        let sent = match &mut self.sender {
            Sender::H2(s) => s.try_send_request(req).await,
            Sender::H1(_) => unreachable!("an HTTP/2 request on an HTTP/1 connection"),
        };
        let resp = match sent {
            Ok(r) => r,
            Err(mut e) => {
                let unsent = e.take_message().is_some();
                let err = e.into_error();
                return Err(Failure {
                    error: HttpError::new(hyper_kind(&err, true), describe(&err)),
                    unsent,
                    before_response: true, // no response head for this stream
                });
            }
        };
        hop.head_at = Some(hop.now());
        let (parts, mut body) = resp.into_parts();
        hop.status = parts.status.as_u16();
        hop.version = parts.version;
        hop.headers = parts.headers.into();
        hop.sets_cookie = hop.headers.first_of(&http::header::SET_COOKIE).is_some();
        let redirect = policy.follow_redirects
            && super::is_redirect(hop.status)
            && hop.headers.first_of(&http::header::LOCATION).is_some();
        let keep = policy.keep && !redirect;
        let hint = hop
            .headers
            .get(http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok())
            .unwrap_or(0)
            .min(policy.max);
        let mut out = Collect::default();
        let mut held = match (&policy.budget, keep) {
            (Some(b), true) => Some(super::budget::Reservation::new(b.clone())),
            _ => None,
        };
        let fail = |error: HttpError| Failure {
            error,
            unsent: false,
            before_response: false,
        };
        while let Some(frame) = body.frame().await {
            let frame =
                frame.map_err(|e| fail(HttpError::new(hyper_kind(&e, true), describe(&e))))?;
            let Ok(data) = frame.into_data() else {
                continue; // trailers
            };
            hop.body_size += data.len() as u64;
            if keep {
                if hop.body_size > policy.max as u64 {
                    return Err(fail(HttpError::new(
                        ErrorKind::BodyTooLarge,
                        format!("response body larger than {} bytes", policy.max),
                    )));
                }
                if let Some(r) = &mut held {
                    r.grow(data.len()).map_err(fail)?;
                }
                out.push(data, hint);
            }
        }
        hop.done_at = Some(hop.now());
        self.accounted = hop.settle();
        let body = out.finish();
        Ok(match held {
            Some(r) => r.into_body(body),
            None => body,
        })
    }

    /// [`Conn::exchange`] on HTTP/1: the request was prepared in the
    /// connection's buffer by [`Conn::request`].
    async fn exchange_h1(&mut self, hop: &mut Hop, policy: BodyPolicy) -> Result<Bytes, Failure> {
        let Sender::H1(c) = &mut self.sender else {
            unreachable!("an HTTP/1 request on an HTTP/2 connection")
        };
        // Submitted when the connection was ready (for a kept-alive one,
        // when the request began): only the request's serialization lies
        // between, and it counts in `sending`. A clock read fewer.
        let now = hop.ready_at.unwrap_or_else(|| hop.now());
        self.stats.restart(None);
        hop.submitted = Some(now);
        let stats = &self.stats;
        let fail = |c: &mut H1, error: HttpError| {
            c.close();
            Failure {
                error,
                unsent: false,
                before_response: stats.first_read.load(Relaxed) == 0,
            }
        };
        if let Err(e) = c.send().await {
            let error = HttpError::new(io_kind(&e), format!("sending the request: {e}"));
            return Err(fail(c, error));
        }
        let head = match c.read_head().await {
            Ok(h) => h,
            Err(e) => return Err(fail(c, e)),
        };
        // A head that came whole in the response's first read was there
        // when that read returned: its stamp, not another clock read.
        hop.head_at = c
            .head_in_first_read()
            .then(|| hop.stamp_mark(stats.first_read.load(Relaxed)))
            .flatten()
            .or_else(|| Some(hop.now()));
        hop.status = head.status;
        hop.version = head.version;
        hop.headers = head.headers;
        hop.sets_cookie = head.sets_cookie;
        let redirect = policy.follow_redirects
            && super::is_redirect(hop.status)
            && hop.headers.first_of(&http::header::LOCATION).is_some();
        let hint = match head.framing {
            h1::Framing::Length(n) => usize::try_from(n).unwrap_or(usize::MAX),
            _ => 0,
        };
        let keep = policy.keep && !redirect;
        let held = match (policy.budget, keep) {
            (Some(b), true) => Some(super::budget::Reservation::new(b)),
            _ => None,
        };
        let mut sink = h1::Sink::new(keep, policy.max, hint, held);
        let read = stats.read.get();
        let r = c.read_body(head.framing, head.keep_alive, &mut sink).await;
        hop.body_size = sink.size;
        if let Err(e) = r {
            let mut f = fail(c, e);
            f.before_response = false;
            return Err(f);
        }
        // A body that came with its head (no read since) ended when the
        // head did: no second clock read.
        hop.done_at = if stats.read.get() == read {
            hop.head_at
        } else {
            Some(hop.now())
        };
        self.accounted = hop.settle();
        Ok(sink.finish())
    }
}

/// Nothing to test in isolation here that the driver tests do not cover
/// end to end, except the allocation-free body collection.
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collect_keeps_a_single_frame_and_joins_several() {
        let mut c = Collect::default();
        let one = Bytes::from_static(b"abc");
        c.push(one.clone(), 0);
        let out = c.finish();
        assert_eq!(out.as_ptr(), one.as_ptr(), "no copy for one frame");
        let mut c = Collect::default();
        for part in [&b"ab"[..], b"cd", b"e"] {
            c.push(Bytes::copy_from_slice(part), 5);
        }
        assert_eq!(&c.finish()[..], b"abcde");
        assert!(Collect::default().finish().is_empty());
    }

    #[test]
    fn origin_matching() {
        let o = Origin::of(&Url::parse("https://Example.test/a").unwrap()).unwrap();
        assert!(o.matches(&Url::parse("https://example.test:443/b?c").unwrap()));
        assert!(!o.matches(&Url::parse("http://example.test/").unwrap()));
        assert!(!o.matches(&Url::parse("https://example.test:8443/").unwrap()));
        assert!(!o.matches(&Url::parse("https://other.test/").unwrap()));
        let e = Origin::of(&Url::parse("ftp://example.test/").unwrap()).unwrap_err();
        assert_eq!(e.kind, ErrorKind::InvalidUrl);
        let v6 = Origin::of(&Url::parse("http://[::1]:8080/").unwrap()).unwrap();
        assert_eq!(v6.bare_host(), "::1");
        assert!(!v6.default_port());
    }
}
