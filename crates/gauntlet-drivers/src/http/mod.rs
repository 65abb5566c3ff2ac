//! The HTTP driver: HTTP/1.1 (our own, `h1`), HTTP/2 and h2c
//! (`hyper::client::conn::http2`), TLS/mTLS (rustls), with k6's per-phase
//! timings.
//!
//! # Design
//!
//! A pooled client (reqwest, hyper-util's legacy `Client`) hides when a
//! connection is opened, so its cost cannot be attributed to the request that
//! paid it. This driver owns its connections instead:
//!
//! * [`HttpClient`] is built once per run and shared (an `Arc` inside): the
//!   configuration, the rustls config (roots parsed once), precomputed
//!   header values.
//! * [`HttpSession`] is one virtual user: at most one keep-alive connection
//!   per origin (scheme, host, port) and a cookie jar. It is `Send` and is
//!   used by one task at a time (`&mut self`), so no locks are taken per
//!   request.
//! * [`HttpSession::send`] never fails and never panics: failures are data
//!   ([`HttpResponse::error`], with a typed [`ErrorKind`]).
//!
//! A request goes: resolve (`dns`) → `TcpStream::connect` with `TCP_NODELAY`
//! (`connecting`) → TLS handshake with ALPN (`tls_handshaking`) → for
//! HTTP/2, hyper's handshake with its connection task spawned on the current
//! runtime; for HTTP/1.1 nothing more (the session drives the connection
//! itself, no task, no channel) → request.
//! A reused connection skips the first four. A connection the server closed
//! while idle is noticed before use (when its end of stream has reached the
//! runtime) and replaced transparently; if the server closes it at the very
//! moment the request goes out, the request is retried once on a new
//! connection when that is safe (hyper handed an HTTP/2 request back unsent,
//! or the method is idempotent and nothing of a response arrived). Either
//! way the reconnect shows in that request's `blocked` and `connecting`.
//!
//! HTTP/1.1 is not hyper's client because, measured, hyper is the limit of a
//! load generator: `bench/floor.sh` (loopback nginx, one core) has the
//! cheapest hyper loop at 0.77x wrk's requests per CPU-second against 1.02x
//! for an `httparse` loop, and ~27 KB per idle connection against ~5 KB.
//!
//! # Phase timings (spec)
//!
//! All phases are [`Duration`]s of the **last hop** in [`HttpResponse::timings`]
//! (after redirects, the hops before it count in the wire bytes and in the
//! request's deadline, not in its phases; each followed hop's own status and
//! timings are in [`HttpResponse::earlier`], so the engine records every hop
//! as a request of its own).
//!
//! | phase | from → to |
//! |---|---|
//! | `blocked` | asking for a connection → a usable connection (k6's GetConn → GotConn). Includes `dns`, `connecting`, `tls_handshaking` and the HTTP handshake for a new connection; ≈ 0 on reuse |
//! | `dns` | name resolution (0 for IP literals, `localhost`, and reused connections) |
//! | `connecting` | TCP connect, all addresses tried (0 on reuse) |
//! | `tls_handshaking` | TLS handshake (0 for cleartext and reuse) |
//! | `sending` | request submitted to the connection → request on the wire (see below) |
//! | `waiting` | request on the wire → first response byte (HTTP/1) or response head (HTTP/2): TTFB |
//! | `receiving` | end of `waiting` → last body byte |
//!
//! * [`Timings::duration`] = `sending + waiting + receiving`, k6's
//!   `http_req_duration` (excludes connection setup).
//! * [`Timings::total`] = `blocked + duration`: everything, connection setup
//!   included (`blocked` already contains `dns`, `connecting` and
//!   `tls_handshaking`, so they are not added twice).
//! * **HTTP/1**: an I/O tap records the last completed write (or flush, for
//!   TLS which buffers) and the first byte read after the request was
//!   submitted: `sending` ends at the last write before the first response
//!   byte and `waiting` at that first byte. The request counts as submitted
//!   when the connection is ready, so serializing it is part of `sending`;
//!   a head that arrives in the first read ends `waiting` at that read, and
//!   a response that arrives whole in it has `receiving` 0 (the driver
//!   reads the clock only when a phase ends on a separate event).
//! * **HTTP/2** multiplexes and exchanges control frames at any time, so a
//!   first read is not necessarily the response: `sending` ends at the first
//!   write after the request body was handed to the stream (for a bodiless
//!   request: the first write after submission, i.e. the HEADERS frame),
//!   `waiting` ends when the response head is decoded, `receiving` is the
//!   body.
//! * Decompression runs after `receiving` ends and is in no phase.
//! * On a request timeout the phases are closed at the timeout: time after
//!   the request went out is `waiting` (or `receiving` once the head
//!   arrived), so a timed-out request has a duration close to the timeout.
//!
//! # Bytes
//!
//! [`HttpResponse::bytes_sent`] and [`HttpResponse::bytes_received`] are wire
//! bytes summed over all hops, counted under TLS: headers, bodies as sent
//! (compressed), TLS handshake and record overhead, HTTP/2 framing. The
//! handshake bytes go to the first request on the connection; control
//! frames exchanged between two requests go to the second. k6's
//! `data_sent`/`data_received`.
//!
//! # Versions
//!
//! | [`HttpVersionPref`] | `https://` | `http://` |
//! |---|---|---|
//! | `Auto` | ALPN `h2`, `http/1.1`: the server chooses | HTTP/1.1 |
//! | `Http1` | ALPN `http/1.1` | HTTP/1.1 |
//! | `Http2` | ALPN `h2` only; anything else is `tls_alpn` | HTTP/2 prior knowledge (h2c) |
//! | `H2c` | as `Auto` | HTTP/2 prior knowledge (h2c) |
//!
//! # Redirects, cookies, compression
//!
//! * Up to `max_redirects` redirects (301, 302, 303, 307, 308 with a
//!   `Location`) are followed; `Location` is resolved against the current
//!   URL. 301/302/303 turn any method but `HEAD` into `GET` and drop the body
//!   and its headers (`Content-Type`, `Content-Length`, `Content-Encoding`);
//!   307/308 repeat the method and body. `Authorization` and a caller's
//!   `Cookie` header are dropped when the host changes. One more redirect
//!   than allowed returns that 3xx with `too_many_redirects`; with
//!   `max_redirects = 0` the 3xx is returned as a normal response. The
//!   request timeout covers all hops.
//! * The cookie jar (when `cookies`) stores `Set-Cookie` of every hop and
//!   sends matching cookies on every hop (domain, path, expiry, `Secure`;
//!   no public-suffix list). A `Cookie` header set by the caller is kept and
//!   the jar's cookies are appended to it.
//! * With `decompress`, `Accept-Encoding: gzip, deflate, br` is sent unless
//!   the request has its own, and gzip/deflate/br bodies are decoded (headers
//!   are left as received, `Content-Encoding` included). The decoded size is
//!   bounded by `max_body_bytes` too.
//! * Kept bodies of every session of a client together are bounded by
//!   `body_budget_bytes` (bytes are taken as they arrive and given back when
//!   the body's last `Bytes` is dropped); a body that would exceed it fails
//!   with `body_too_large`.
//!
//! # Error codes (spec)
//!
//! Errors are data: a failed request carries an [`ErrorKind`] whose
//! [`as_str`](ErrorKind::as_str) is the `error_code` tag and whose
//! [`code`](ErrorKind::code) is a stable number. Groups: 10xx generic,
//! 11xx DNS, 12xx TCP, 13xx TLS, 14xx HTTP protocol, 15xx body. Numbers and
//! names never change meaning; new kinds get new numbers.
//!
//! | code | `error_code` | meaning | typical cause |
//! |---:|---|---|---|
//! | 1000 | `io_error` | an I/O error that fits no other kind | local resource exhaustion (file descriptors, ports) |
//! | 1001 | `invalid_url` | the URL cannot be requested | scheme not http/https, no host, a bad redirect `Location` |
//! | 1002 | `invalid_request` | hyper refused the request before sending | a header not allowed by the protocol |
//! | 1050 | `request_timeout` | no complete response within the request timeout | overloaded server, a server that never answers |
//! | 1051 | `request_interrupted` | still in flight when a hard stop cut it (recorded by the engine, never returned here) | a server slower than `gracefulStop`, a second Ctrl-C |
//! | 1100 | `dns_failure` | the host name has no address | typo in the host, resolver down |
//! | 1200 | `connect_timeout` | dns + connect + TLS exceeded the connect timeout | SYN dropped by a firewall, listen backlog full, TLS never answered |
//! | 1201 | `connection_refused` | nothing listens on the port | server down or restarting, wrong port |
//! | 1202 | `network_unreachable` | no route to the host or network | IPv6 address without IPv6 connectivity |
//! | 1210 | `connection_reset` | the peer closed or reset the connection before the response was complete | server crash, proxy idle timeout, server-side connection limit |
//! | 1300 | `tls_handshake` | the TLS handshake failed | no common protocol/cipher, client certificate refused, not a TLS port |
//! | 1301 | `tls_certificate` | the server certificate was rejected | self-signed or unknown CA, expired, wrong host name |
//! | 1302 | `tls_alpn` | HTTP/2 was required but ALPN chose another protocol | server or proxy without HTTP/2 |
//! | 1400 | `malformed_response` | the response is not valid HTTP/1 | not an HTTP server, a broken proxy, a head too large |
//! | 1401 | `http2_protocol` | an HTTP/2 protocol error | stream reset, GOAWAY, h2c sent to an HTTP/1-only server |
//! | 1410 | `too_many_redirects` | more redirects than `max_redirects` | a redirect loop |
//! | 1500 | `body_too_large` | the body (wire or decoded) exceeds `max_body_bytes` | an unexpectedly large download, a decompression bomb |
//! | 1501 | `body_decode` | the body cannot be decoded per its `Content-Encoding` | corrupt or mislabelled compressed body |
//!
//! An HTTP status (404, 500…) is not an error here: it is data in
//! [`HttpResponse::status`], for checks and expected-status rules to judge.
//!
//! # Hot path
//!
//! Per request on HTTP/1.1 the driver allocates one block: a copy of the
//! response head with the table of its fields (a `HeaderMap` is built only
//! when a caller asks for one), plus the body when it is kept. The request
//! is serialized into a buffer the connection keeps, the response head is
//! parsed in place, an idle connection holds no read buffer.
//! HTTP/2 allocates what hyper needs. Default header values are built once per
//! client, a one-frame body is passed on without copying, the cookie jar
//! costs nothing while empty, and connections are looked up without
//! allocating. Build [`HttpRequest`]s by moving a `Url`, `HeaderMap` and
//! `Bytes` in; pass [`SendOptions::discard_body`] when nothing reads the
//! body. The session must run inside a tokio runtime with timers enabled
//! (HTTP/2 connection tasks are `tokio::spawn`ed).
//!
//! # Limits
//!
//! No proxies, no HTTP/3, no credentials taken from the URL's userinfo, no
//! happy-eyeballs (addresses are tried one after the other, each with a
//! share of the connect timeout), no TLS session resumption (like k6: every
//! new connection pays a full handshake), no public-suffix list in the jar.

mod budget;
mod conn;
mod cookies;
mod decode;
mod defaults;
mod driver;
mod error;
mod h1;
mod headers;
mod resolve;
mod tls;

pub use driver::{
    CompiledBody, CompiledRequest, HTTP_METRICS, HttpDebug, HttpDriver, HttpIds, HttpStepSession,
    MultipartPart, PreparedRequest,
};
pub use error::{ErrorKind, HttpConfigError, HttpError};
pub use headers::ResponseHeaders;
pub use resolve::Resolver;

use bytes::Bytes;
use conn::{BodyPolicy, Conn, Hop};
use http::{HeaderMap, HeaderValue, Method, Version, header};
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;
use tokio::time::Instant;
use url::Url;

/// At most this many open connections per session; the oldest is closed
/// first. Bounds memory and sockets when a virtual user visits many origins.
const MAX_CONNS_PER_SESSION: usize = 16;

/// Which HTTP version to speak (see the version table in the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum HttpVersionPref {
    /// HTTP/2 when TLS ALPN agrees, HTTP/1.1 otherwise (and on cleartext).
    #[default]
    Auto,
    /// HTTP/1.1 only.
    Http1,
    /// HTTP/2 only: ALPN must select `h2`; cleartext uses prior knowledge.
    Http2,
    /// Cleartext HTTP/2 with prior knowledge; TLS origins behave as `Auto`.
    H2c,
}

/// A client certificate for mutual TLS, as PEM files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientCert {
    /// Certificate chain, leaf first.
    pub cert: PathBuf,
    /// Private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
}

/// Client settings shared by every session of a run.
#[derive(Debug, Clone)]
pub struct HttpConfig {
    /// Bound on dns + TCP connect + TLS handshake of a new connection.
    pub connect_timeout: Duration,
    /// Bound on a whole request, connection setup, body and redirects
    /// included (k6's default: 60 s). [`HttpRequest::timeout`] overrides it.
    pub request_timeout: Duration,
    /// Accept any server certificate (k6 `insecureSkipTLSVerify`); handshake
    /// signatures are still verified.
    pub insecure_skip_tls_verify: bool,
    /// Extra trusted CA certificates (PEM files), added to the webpki roots.
    pub ca_certs: Vec<PathBuf>,
    /// Client certificate for mutual TLS.
    pub client_cert: Option<ClientCert>,
    /// HTTP version preference.
    pub version: HttpVersionPref,
    /// Redirects followed per request (k6 default 10); 0 returns the 3xx.
    pub max_redirects: u32,
    /// Keep a cookie jar per session.
    pub cookies: bool,
    /// Advertise and decode gzip, deflate and br.
    pub decompress: bool,
    /// Kept bodies (wire or decoded) larger than this fail with
    /// `body_too_large`; discarded bodies are only counted.
    pub max_body_bytes: usize,
    /// Kept bodies of all sessions together may hold at most this many bytes
    /// at once; a body that would exceed it fails with `body_too_large`.
    pub body_budget_bytes: usize,
    /// Count response bodies but do not keep them (no memory, no
    /// decompression): for runs where no check or capture reads bodies.
    /// [`SendOptions::discard_body`] does the same per request.
    pub discard_body: bool,
    /// `User-Agent` sent when a request has none; `None` sends none.
    pub user_agent: Option<String>,
    /// How host names are resolved (tests inject fixed answers).
    pub resolver: Resolver,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(60),
            insecure_skip_tls_verify: false,
            ca_certs: Vec::new(),
            client_cert: None,
            version: HttpVersionPref::Auto,
            max_redirects: 10,
            cookies: true,
            decompress: true,
            max_body_bytes: 64 * 1024 * 1024,
            body_budget_bytes: 256 * 1024 * 1024,
            discard_body: false,
            user_agent: Some(concat!("gauntlet/", env!("CARGO_PKG_VERSION")).to_owned()),
            resolver: Resolver::System,
        }
    }
}

/// A request to send. Cheap to build: `Bytes` and `HeaderMap` move in, and
/// the driver adds `Host`, `User-Agent`, `Accept-Encoding` and `Cookie`
/// itself.
#[derive(Debug, Clone)]
pub struct HttpRequest {
    /// Method.
    pub method: Method,
    /// Absolute `http://` or `https://` URL (the fragment is not sent).
    pub url: Url,
    /// Headers set by the caller; they win over the driver's defaults.
    pub headers: HeaderMap,
    /// Body (empty for none); resent on 307/308 redirects and retries.
    pub body: Bytes,
    /// Overrides [`HttpConfig::request_timeout`] for this request.
    pub timeout: Option<Duration>,
}

/// Per-call options of [`HttpSession::send_with`]: what the engine knows
/// about one request that the configuration cannot.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SendOptions {
    /// Count the response body but do not keep it (no check or capture
    /// reads it). Also on when [`HttpConfig::discard_body`] is.
    pub discard_body: bool,
}

/// Phase timings of a request (see the phase table in the module docs).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Timings {
    /// Waiting for a usable connection, new-connection setup included.
    pub blocked: Duration,
    /// Name resolution.
    pub dns: Duration,
    /// TCP connect.
    pub connecting: Duration,
    /// TLS handshake.
    pub tls_handshaking: Duration,
    /// Writing the request.
    pub sending: Duration,
    /// Time to first byte after the request was sent.
    pub waiting: Duration,
    /// Reading the response after its first byte.
    pub receiving: Duration,
}

impl Timings {
    /// `sending + waiting + receiving`: k6's `http_req_duration`.
    pub fn duration(&self) -> Duration {
        self.sending + self.waiting + self.receiving
    }

    /// `blocked + duration`: the whole request, connection setup included.
    pub fn total(&self) -> Duration {
        self.blocked + self.duration()
    }
}

/// What came back. Never an `Err`: failures are in [`HttpResponse::error`].
#[derive(Debug, Clone)]
pub struct HttpResponse {
    /// Status code; 0 when no response head arrived.
    pub status: u16,
    /// Protocol version of the response (HTTP/1.1 when none arrived).
    pub version: Version,
    /// Response headers as received (empty when none arrived).
    pub headers: ResponseHeaders,
    /// Body, decompressed; empty when discarded, on error, or for a
    /// redirect that was followed.
    pub body: Bytes,
    /// Body bytes received on the last hop before decoding, also when the
    /// body was discarded.
    pub body_size: u64,
    /// Phase timings of the last hop.
    pub timings: Timings,
    /// Wire bytes sent, all hops.
    pub bytes_sent: u64,
    /// Wire bytes received, all hops.
    pub bytes_received: u64,
    /// Why the request failed, if it did. A response with an error may still
    /// carry the status and headers that arrived before the failure.
    pub error: Option<HttpError>,
    /// Redirects followed.
    pub redirects: u32,
    /// Final URL (after redirects).
    pub url: Url,
    /// The redirects followed, in order: each hop is a request of its own
    /// in the results (k6 records every hop). Empty, and not allocated,
    /// when there was no redirect.
    pub earlier: Vec<RedirectHop>,
}

/// A redirect response that was followed: what the engine records for that
/// hop. Its bytes are in the response's `bytes_sent`/`bytes_received`.
#[derive(Debug, Clone, Copy)]
pub struct RedirectHop {
    /// The 3xx status.
    pub status: u16,
    /// Protocol version of that response.
    pub version: Version,
    /// Phase timings of the hop.
    pub timings: Timings,
}

/// Settings derived once from [`HttpConfig`] and shared by every session.
pub(crate) struct ClientShared {
    pub(crate) cfg: HttpConfig,
    pub(crate) tls: tokio_rustls::TlsConnector,
    user_agent: Option<HeaderValue>,
    /// HTTP/1 connections' read buffers between responses.
    pub(crate) buffers: h1::ReadBuffers,
    /// What every kept body counts against.
    pub(crate) body_budget: Arc<budget::BodyBudget>,
}

impl std::fmt::Debug for ClientShared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientShared")
            .field("cfg", &self.cfg)
            .finish()
    }
}

/// Shared by every session: configuration, TLS settings and resolver, built
/// once. Cloning is cheap (an `Arc`).
#[derive(Debug, Clone)]
pub struct HttpClient {
    inner: Arc<ClientShared>,
}

impl HttpClient {
    /// Build a client. TLS files are read and checked now, so a bad path or
    /// key fails before the run instead of on every request. Needs no runtime.
    pub fn new(cfg: HttpConfig) -> Result<HttpClient, HttpConfigError> {
        let tls = tokio_rustls::TlsConnector::from(tls::client_config(&cfg)?);
        let user_agent = match &cfg.user_agent {
            Some(ua) => Some(
                HeaderValue::from_str(ua).map_err(|_| HttpConfigError::UserAgent(ua.clone()))?,
            ),
            None => None,
        };
        let body_budget = Arc::new(budget::BodyBudget::new(cfg.body_budget_bytes));
        Ok(HttpClient {
            inner: Arc::new(ClientShared {
                body_budget,
                cfg,
                tls,
                user_agent,
                buffers: h1::ReadBuffers::default(),
            }),
        })
    }

    /// The configuration this client was built from.
    pub fn config(&self) -> &HttpConfig {
        &self.inner.cfg
    }

    /// A new session (one per virtual user): its own connections and cookie
    /// jar. Cheap: nothing is allocated until the first request.
    pub fn session(&self) -> HttpSession {
        HttpSession {
            shared: self.inner.clone(),
            conns: Vec::new(),
            jar: cookies::Jar::default(),
            timer: None,
            in_flight: None,
        }
    }
}

/// One virtual user's connections and cookies. `Send`; used by one task at
/// a time. Dropping it closes its connections.
#[derive(Debug)]
pub struct HttpSession {
    shared: Arc<ClientShared>,
    conns: Vec<Conn>,
    jar: cookies::Jar,
    /// The request timeout, one timer for the session's life: a fresh timer
    /// per request is registered in the runtime's timer wheel and removed
    /// again (~500 instructions a request, `bench/callgrind.sh`). It is
    /// moved to a request's deadline only when that is sooner, or when it
    /// fires for an earlier request's. Made on the first request (it needs
    /// the runtime).
    timer: Option<Pin<Box<tokio::time::Sleep>>>,
    /// When the request being sent began; `None` between requests. Left set
    /// when a request's future is dropped mid-flight, so the engine can
    /// count the request a stop cut ([`HttpSession::in_flight_since`]).
    in_flight: Option<Instant>,
}

pub(crate) fn is_redirect(status: u16) -> bool {
    matches!(status, 301 | 302 | 303 | 307 | 308)
}

impl HttpSession {
    /// Drop connections and cookies: a fresh user (after an interrupted
    /// iteration, or when every iteration must start anew).
    pub fn reset(&mut self) {
        self.in_flight = None;
        self.close_connections();
        self.clear_cookies();
    }

    /// Forget every cookie but keep connections (k6 resets the jar at each
    /// iteration while reusing connections).
    pub fn clear_cookies(&mut self) {
        self.jar.clear();
    }

    /// Close every connection (the next request to each origin reconnects).
    pub fn close_connections(&mut self) {
        self.conns.clear();
    }

    /// When the request in flight began, if one is: a request whose future
    /// was dropped before it finished (a hard stop) is still in flight. Read
    /// it before [`reset`](Self::reset), which clears it.
    pub fn in_flight_since(&self) -> Option<Instant> {
        self.in_flight
    }

    /// Open connections, for diagnostics and tests.
    pub fn open_connections(&self) -> usize {
        self.conns.len()
    }

    /// Send a request, following redirects. Never panics; errors are data.
    pub fn send(&mut self, req: HttpRequest) -> impl Future<Output = HttpResponse> + Send + '_ {
        self.send_with(req, SendOptions::default())
    }

    /// [`send`](Self::send) with per-request options.
    #[allow(clippy::manual_async_fn)] // on purpose: see the first comment
    pub fn send_with(
        &mut self,
        mut req: HttpRequest,
        opts: SendOptions,
    ) -> impl Future<Output = HttpResponse> + Send + '_ {
        // An `async` block, not an `async fn`: the latter's future holds its
        // arguments twice (as passed, and bound again for the body), 256
        // bytes more to move and box per request. The request's fields are
        // used in place for the same reason.
        async move {
            // The settings this needs, copied: `self.shared` cannot stay
            // borrowed across `self.hop`, and a clone of the `Arc` would be
            // two locked instructions per request.
            let cfg = &self.shared.cfg;
            let (max_redirects, decompress) = (cfg.max_redirects, cfg.decompress);
            let keep = !(cfg.discard_body || opts.discard_body);
            let policy = BodyPolicy {
                keep,
                follow_redirects: max_redirects > 0,
                max: cfg.max_body_bytes,
                budget: keep.then(|| self.shared.body_budget.clone()),
            };
            // The request's first instant: its deadline and its first hop's
            // start (one clock read).
            let mut begin = Instant::now();
            self.in_flight = Some(begin);
            let deadline = begin + req.timeout.unwrap_or(cfg.request_timeout);
            let (mut sent, mut received) = (0u64, 0u64);
            let mut redirects = 0u32;
            let mut earlier = Vec::new();
            // Out of `self` while `self.hop` runs; put back at the end.
            let mut timer = match self.timer.take() {
                Some(t) => t,
                None => Box::pin(tokio::time::sleep_until(deadline)),
            };
            // Moved only when it would fire after this deadline. A timer
            // left on an earlier request's (sooner) deadline is moved if and
            // when it fires: once per timeout period, not per request (~100
            // instructions a request, `bench/callgrind.sh`).
            if timer.deadline() > deadline {
                timer.as_mut().reset(deadline);
            }
            let mut resp = 'send: loop {
                let mut hop = Hop::default();
                hop.begin(begin);
                let outcome = {
                    let exchange = self.hop(
                        &req.method,
                        &req.url,
                        &req.headers,
                        &req.body,
                        policy.clone(),
                        &mut hop,
                    );
                    let mut exchange = std::pin::pin!(exchange);
                    std::future::poll_fn(|cx| match exchange.as_mut().poll(cx) {
                        Poll::Ready(r) => Poll::Ready(Some(r)),
                        Poll::Pending => loop {
                            std::task::ready!(timer.as_mut().poll(cx));
                            if timer.deadline() >= deadline {
                                return Poll::Ready(None);
                            }
                            // An earlier request's deadline: move to this one.
                            timer.as_mut().reset(deadline);
                        },
                    })
                    .await
                };
                // `None`: the request timeout passed first.
                let outcome = outcome.unwrap_or_else(|| {
                    // The connection is mid-request: unusable.
                    self.conns.retain(|c| !c.origin.matches(&req.url));
                    Err(HttpError::new(
                        ErrorKind::RequestTimeout,
                        "no complete response within the request timeout",
                    ))
                });
                let (s, r, done) = hop.finish();
                begin = done;
                sent += s;
                received += r;
                let mut resp = HttpResponse {
                    status: hop.status,
                    version: hop.version,
                    headers: std::mem::take(&mut hop.headers),
                    body: Bytes::new(),
                    body_size: hop.body_size,
                    timings: hop.t,
                    bytes_sent: sent,
                    bytes_received: received,
                    error: None,
                    redirects,
                    url: req.url,
                    earlier: Vec::new(),
                };
                match outcome {
                    Err(e) => {
                        resp.error = Some(e);
                        break 'send resp;
                    }
                    Ok(raw) => {
                        if policy.keep && decompress && !raw.is_empty() {
                            // The encoded body is given back when `raw` is
                            // dropped; a decoded one is counted anew (an
                            // identity body comes back as it is, counted).
                            let encoded = (raw.as_ptr(), raw.len());
                            let decoded =
                                decode::decode(&resp.headers, raw, policy.max).and_then(|b| {
                                    match &policy.budget {
                                        Some(budget) if (b.as_ptr(), b.len()) != encoded => {
                                            budget::hold(budget, b)
                                        }
                                        _ => Ok(b),
                                    }
                                });
                            match decoded {
                                Ok(b) => resp.body = b,
                                Err(e) => resp.error = Some(e),
                            }
                        } else {
                            resp.body = raw;
                        }
                    }
                }
                if resp.error.is_some() || !policy.follow_redirects || !is_redirect(resp.status) {
                    break 'send resp;
                }
                let Some(location) = resp.headers.first_of(&header::LOCATION) else {
                    break 'send resp;
                };
                if redirects >= max_redirects {
                    resp.error = Some(HttpError::new(
                        ErrorKind::TooManyRedirects,
                        format!("stopped after {redirects} redirects"),
                    ));
                    break 'send resp;
                }
                let next = std::str::from_utf8(location)
                    .ok()
                    .and_then(|l| resp.url.join(l).ok());
                let Some(next) = next else {
                    resp.error = Some(HttpError::new(
                        ErrorKind::InvalidUrl,
                        format!(
                            "redirect to an invalid Location {:?}",
                            String::from_utf8_lossy(location)
                        ),
                    ));
                    break 'send resp;
                };
                redirects += 1;
                earlier.push(RedirectHop {
                    status: resp.status,
                    version: resp.version,
                    timings: resp.timings,
                });
                if matches!(resp.status, 301..=303) {
                    if req.method != Method::HEAD {
                        req.method = Method::GET;
                    }
                    req.body = Bytes::new();
                    for h in [
                        header::CONTENT_TYPE,
                        header::CONTENT_LENGTH,
                        header::CONTENT_ENCODING,
                        header::TRANSFER_ENCODING,
                    ] {
                        req.headers.remove(h);
                    }
                }
                if next.host_str() != resp.url.host_str() {
                    req.headers.remove(header::AUTHORIZATION);
                    req.headers.remove(header::COOKIE);
                }
                req.url = next;
            };
            self.timer = Some(timer);
            self.in_flight = None;
            resp.earlier = earlier;
            resp
        }
    }

    /// One hop: a connection (reused or new), one exchange, at most one
    /// safe retry on a fresh connection. The caller has set `hop`'s begin.
    async fn hop(
        &mut self,
        method: &Method,
        url: &Url,
        headers: &HeaderMap,
        body: &Bytes,
        policy: BodyPolicy,
        hop: &mut Hop,
    ) -> Result<Bytes, HttpError> {
        let mut retried = false;
        loop {
            let (idx, reused) = self.acquire(url, hop).await?;
            hop.ready(reused && !self.conns[idx].is_h2());
            let defaults = defaults(&self.shared, &mut self.jar, url, headers);
            let req = self.conns[idx].request(method, url, headers, &defaults, body)?;
            let result = self.conns[idx].exchange(req, hop, policy.clone()).await;
            if self.shared.cfg.cookies && hop.sets_cookie {
                self.jar.store(url, &hop.headers);
            }
            match result {
                Ok(b) => return Ok(b),
                Err(f) => {
                    self.conns.swap_remove(idx);
                    let safe = f.unsent
                        || (f.before_response
                            && f.error.kind == ErrorKind::ConnectionReset
                            && is_idempotent(method));
                    if reused && !retried && safe {
                        retried = true;
                        continue;
                    }
                    return Err(f.error);
                }
            }
        }
    }

    /// The index of a ready connection for `url`'s origin and whether it was
    /// reused; opens one when needed.
    async fn acquire(&mut self, url: &Url, hop: &mut Hop) -> Result<(usize, bool), HttpError> {
        if let Some(i) = self.conns.iter().position(|c| c.origin.matches(url)) {
            if self.conns[i].ready(hop).await {
                return Ok((i, true));
            }
            self.conns.swap_remove(i);
        }
        let origin = conn::Origin::of(url)?;
        // Boxed: connecting (resolver, TLS handshake) is the largest state
        // of a request and is rare on keep-alive; inline, it would sit in
        // every virtual user's task all the time (~11 KB of 12).
        let conn = Box::pin(conn::connect(&self.shared, origin, hop)).await?;
        if self.conns.len() >= MAX_CONNS_PER_SESSION {
            self.conns.remove(0);
        }
        self.conns.push(conn);
        Ok((self.conns.len() - 1, false))
    }
}

/// What the driver adds to the caller's headers for `url`. The
/// `User-Agent` is lent, not cloned: a clone is two locked instructions a
/// request.
fn defaults<'s>(
    shared: &'s ClientShared,
    jar: &mut cookies::Jar,
    url: &Url,
    headers: &HeaderMap,
) -> defaults::Defaults<'s> {
    let cfg = &shared.cfg;
    // No caller headers (the usual case): nothing to look up.
    let has = |h: header::HeaderName| !headers.is_empty() && headers.contains_key(h);
    let user_agent = shared
        .user_agent
        .as_ref()
        .filter(|_| !has(header::USER_AGENT));
    let accept_encoding = cfg.decompress && !has(header::ACCEPT_ENCODING);
    let mut cookie = None;
    if cfg.cookies
        && !jar.is_empty()
        && let Some(jar) = jar.header_for(url)
    {
        let value = match headers.get(header::COOKIE).and_then(|v| v.to_str().ok()) {
            Some(own) if !own.is_empty() => HeaderValue::from_str(&format!("{own}; {jar}")),
            _ => HeaderValue::from_str(&jar),
        };
        cookie = value.ok();
    }
    defaults::Defaults {
        user_agent,
        accept_encoding,
        cookie,
    }
}

fn is_idempotent(m: &Method) -> bool {
    matches!(
        *m,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE | Method::PUT | Method::DELETE
    )
}

#[cfg(test)]
mod tests;
