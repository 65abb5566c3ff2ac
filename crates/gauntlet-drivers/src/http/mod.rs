//! HTTP/1.1, HTTP/2 (ALPN), h2c and TLS on `hyper::client::conn` + rustls,
//! with k6's per-phase timings.
//!
//! We own the connections (one keep-alive connection per origin per VU
//! session) instead of using a pooled client, because only then can every
//! phase be timed and attributed to the request that caused it:
//!
//! | phase | measured from → to |
//! |---|---|
//! | `blocked` | asking for a connection → having one (includes dns, connecting, tls_handshaking for a new connection; ~0 on reuse) |
//! | `dns` | name resolution (0 for IP literals and reused connections) |
//! | `connecting` | TCP connect |
//! | `tls_handshaking` | TLS handshake |
//! | `sending` | request handed to the connection → last request byte written |
//! | `waiting` | last request byte written → first response byte read (TTFB) |
//! | `receiving` | first response byte → body complete |
//!
//! `duration = sending + waiting + receiving` (k6's definition: excludes
//! connection setup); `total` adds `blocked`. With HTTP/2 the connection
//! task writes frames, so "last byte written" is the last write the task
//! made for this request: exact for one request at a time per connection.
//!
//! # Error codes (spec)
//! Errors are data: each failed request carries an [`ErrorKind`] whose
//! `as_str()` is the `error_code` tag and whose `code()` is stable:
//!
//! | code | `error_code` | meaning |
//! |---:|---|---|
//! | 1000 | `io_error` | another I/O error |
//! | 1020 | `invalid_url` | the URL cannot be requested (no host, bad scheme) |
//! | 1050 | `request_timeout` | no complete response within the request timeout |
//! | 1100 | `dns_failure` | the name did not resolve |
//! | 1210 | `connect_timeout` | TCP connect + TLS did not finish within the connect timeout |
//! | 1211 | `connection_refused` | nothing listens on the port |
//! | 1220 | `connection_reset` | the peer closed or reset the connection mid-request |
//! | 1300 | `tls_handshake` | the TLS handshake failed (protocol, ALPN, client cert refused) |
//! | 1310 | `tls_certificate` | the server certificate is not trusted or does not match |
//! | 1400 | `malformed_response` | the response is not valid HTTP |
//! | 1410 | `http2_protocol` | an HTTP/2 protocol error (stream reset, GOAWAY) |
//! | 1500 | `body_too_large` | the body is larger than the configured maximum |
//! | 1510 | `too_many_redirects` | more redirects than allowed |

mod conn;
mod cookies;

use bytes::Bytes;
pub use conn::Resolver;
use http::{HeaderMap, HeaderValue, Method, Version, header};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;
use url::Url;

/// Which HTTP version to speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum HttpVersionPref {
    /// HTTP/2 when TLS ALPN agrees, else HTTP/1.1.
    #[default]
    Auto,
    /// HTTP/1.1 only.
    Http1,
    /// HTTP/2 over TLS only.
    Http2,
    /// Cleartext HTTP/2 with prior knowledge.
    H2c,
}

/// A client certificate for mutual TLS (PEM files).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientCert {
    /// Certificate chain.
    pub cert: PathBuf,
    /// Private key.
    pub key: PathBuf,
}

/// Client settings shared by every session of a run.
#[derive(Debug, Clone)]
pub struct HttpConfig {
    /// DNS + connect + TLS timeout.
    pub connect_timeout: Duration,
    /// Whole-request timeout (k6 default 60s).
    pub request_timeout: Duration,
    /// Accept any server certificate (k6 `insecureSkipTLSVerify`).
    pub insecure_skip_tls_verify: bool,
    /// Extra trusted CA certificates (PEM).
    pub ca_certs: Vec<PathBuf>,
    /// Client certificate for mutual TLS.
    pub client_cert: Option<ClientCert>,
    /// HTTP version preference.
    pub version: HttpVersionPref,
    /// Redirects followed; 0 returns the 3xx itself.
    pub max_redirects: u32,
    /// Per-session cookie jar.
    pub cookies: bool,
    /// Ask for and decode gzip/deflate responses.
    pub decompress: bool,
    /// Larger bodies fail with `body_too_large`.
    pub max_body_bytes: usize,
    /// `User-Agent` when a request has none.
    pub user_agent: Option<String>,
    /// How names are resolved (tests inject a resolver; never real DNS in tests).
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
            user_agent: Some(concat!("gauntlet/", env!("CARGO_PKG_VERSION")).to_owned()),
            resolver: Resolver::System,
        }
    }
}

/// Why a client could not be built (bad TLS files).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HttpConfigError {
    /// A certificate or key file could not be read or parsed.
    #[error("{path}: {message}")]
    Pem {
        /// File.
        path: PathBuf,
        /// Why.
        message: String,
    },
    /// rustls refused the configuration.
    #[error("TLS configuration: {0}")]
    Tls(String),
}

/// Kinds of request failure, counted by kind and shown in the summary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// Another I/O error.
    Io,
    /// The URL cannot be requested.
    InvalidUrl,
    /// No complete response within the request timeout.
    RequestTimeout,
    /// The name did not resolve.
    DnsFailure,
    /// Connect + TLS too slow.
    ConnectTimeout,
    /// Nothing listens.
    ConnectionRefused,
    /// Closed or reset mid-request.
    ConnectionReset,
    /// TLS handshake failed.
    TlsHandshake,
    /// Certificate not trusted.
    TlsCertificate,
    /// Not valid HTTP.
    MalformedResponse,
    /// HTTP/2 protocol error.
    Http2Protocol,
    /// Body over the limit.
    BodyTooLarge,
    /// Too many redirects.
    TooManyRedirects,
}

impl ErrorKind {
    /// Every kind, for documentation and tests.
    pub fn all() -> &'static [ErrorKind] {
        use ErrorKind::*;
        &[
            Io,
            InvalidUrl,
            RequestTimeout,
            DnsFailure,
            ConnectTimeout,
            ConnectionRefused,
            ConnectionReset,
            TlsHandshake,
            TlsCertificate,
            MalformedResponse,
            Http2Protocol,
            BodyTooLarge,
            TooManyRedirects,
        ]
    }

    /// Stable numeric code.
    pub fn code(self) -> u16 {
        use ErrorKind::*;
        match self {
            Io => 1000,
            InvalidUrl => 1020,
            RequestTimeout => 1050,
            DnsFailure => 1100,
            ConnectTimeout => 1210,
            ConnectionRefused => 1211,
            ConnectionReset => 1220,
            TlsHandshake => 1300,
            TlsCertificate => 1310,
            MalformedResponse => 1400,
            Http2Protocol => 1410,
            BodyTooLarge => 1500,
            TooManyRedirects => 1510,
        }
    }

    /// Stable name: the `error_code` tag value.
    pub fn as_str(self) -> &'static str {
        use ErrorKind::*;
        match self {
            Io => "io_error",
            InvalidUrl => "invalid_url",
            RequestTimeout => "request_timeout",
            DnsFailure => "dns_failure",
            ConnectTimeout => "connect_timeout",
            ConnectionRefused => "connection_refused",
            ConnectionReset => "connection_reset",
            TlsHandshake => "tls_handshake",
            TlsCertificate => "tls_certificate",
            MalformedResponse => "malformed_response",
            Http2Protocol => "http2_protocol",
            BodyTooLarge => "body_too_large",
            TooManyRedirects => "too_many_redirects",
        }
    }
}

/// A failed request: kind plus detail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpError {
    /// Kind.
    pub kind: ErrorKind,
    /// Detail for logs.
    pub message: String,
}

impl HttpError {
    pub(crate) fn new(kind: ErrorKind, message: impl Into<String>) -> HttpError {
        HttpError {
            kind,
            message: message.into(),
        }
    }
}

/// A request to send.
#[derive(Debug, Clone)]
pub struct HttpRequest {
    /// Method.
    pub method: Method,
    /// Absolute URL.
    pub url: Url,
    /// Headers.
    pub headers: HeaderMap,
    /// Body.
    pub body: Bytes,
    /// Timeout override.
    pub timeout: Option<Duration>,
}

/// Phase timings of a request (see the module table).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[allow(missing_docs)]
pub struct Timings {
    pub blocked: Duration,
    pub dns: Duration,
    pub connecting: Duration,
    pub tls_handshaking: Duration,
    pub sending: Duration,
    pub waiting: Duration,
    pub receiving: Duration,
}

impl Timings {
    /// `sending + waiting + receiving` (k6's `http_req_duration`).
    pub fn duration(&self) -> Duration {
        self.sending + self.waiting + self.receiving
    }

    /// Everything, connection setup included (`http_req_total`).
    pub fn total(&self) -> Duration {
        self.blocked + self.duration()
    }
}

/// What came back. Never an `Err`: failures are in `error`.
#[derive(Debug, Clone)]
pub struct HttpResponse {
    /// Status (0 without a response).
    pub status: u16,
    /// Protocol version.
    pub version: Version,
    /// Headers.
    pub headers: HeaderMap,
    /// Body, decompressed.
    pub body: Bytes,
    /// Timings of the last hop.
    pub timings: Timings,
    /// Wire bytes sent, all hops.
    pub bytes_sent: u64,
    /// Wire bytes received, all hops.
    pub bytes_received: u64,
    /// Failure, if any.
    pub error: Option<HttpError>,
    /// Redirects followed.
    pub redirects: u32,
    /// Final URL.
    pub url: Url,
}

impl HttpResponse {
    fn failed(url: Url, timings: Timings, error: HttpError) -> HttpResponse {
        HttpResponse {
            status: 0,
            version: Version::HTTP_11,
            headers: HeaderMap::new(),
            body: Bytes::new(),
            timings,
            bytes_sent: 0,
            bytes_received: 0,
            error: Some(error),
            redirects: 0,
            url,
        }
    }
}

/// Shared by every session: configuration and TLS settings, built once.
#[derive(Debug, Clone)]
pub struct HttpClient {
    inner: Arc<conn::Shared>,
}

impl HttpClient {
    /// Build a client (reads TLS files now, so errors surface before the run).
    pub fn new(cfg: HttpConfig) -> Result<HttpClient, HttpConfigError> {
        Ok(HttpClient {
            inner: Arc::new(conn::Shared::new(cfg)?),
        })
    }

    /// A new session: its own connections and cookie jar (one per VU).
    pub fn session(&self) -> HttpSession {
        HttpSession {
            shared: self.inner.clone(),
            conns: Vec::new(),
            jar: cookies::Jar::default(),
        }
    }
}

/// One VU's connections and cookies. `Send`, not shared.
#[derive(Debug)]
pub struct HttpSession {
    shared: Arc<conn::Shared>,
    conns: Vec<(conn::Origin, conn::Conn)>,
    jar: cookies::Jar,
}

impl HttpSession {
    /// Drop connections and cookies (after an interrupted request).
    pub fn reset(&mut self) {
        self.conns.clear();
        self.jar = cookies::Jar::default();
    }

    /// Send a request, following redirects. Never panics; errors are data.
    pub async fn send(&mut self, req: HttpRequest) -> HttpResponse {
        let (request_timeout, max_redirects) = (
            self.shared.cfg.request_timeout,
            self.shared.cfg.max_redirects,
        );
        let deadline = Instant::now() + req.timeout.unwrap_or(request_timeout);
        let mut method = req.method;
        let mut url = req.url;
        let mut body = req.body;
        let mut headers = req.headers;
        let (mut sent, mut received) = (0u64, 0u64);
        let mut redirects = 0u32;
        loop {
            let one =
                tokio::time::timeout_at(deadline, self.once(&method, &url, &headers, &body)).await;
            let mut resp = match one {
                Ok(r) => r,
                Err(_) => {
                    // The connection is in an unknown state: drop it.
                    let origin = conn::Origin::of(&url);
                    self.conns.retain(|(o, _)| Some(o) != origin.as_ref());
                    HttpResponse::failed(
                        url.clone(),
                        Timings::default(),
                        HttpError::new(
                            ErrorKind::RequestTimeout,
                            "no complete response within the request timeout",
                        ),
                    )
                }
            };
            sent += resp.bytes_sent;
            received += resp.bytes_received;
            resp.bytes_sent = sent;
            resp.bytes_received = received;
            resp.redirects = redirects;
            let is_redirect =
                matches!(resp.status, 301 | 302 | 303 | 307 | 308) && resp.error.is_none();
            if !is_redirect || max_redirects == 0 {
                return resp;
            }
            let Some(next) = resp
                .headers
                .get(header::LOCATION)
                .and_then(|l| l.to_str().ok())
                .and_then(|l| url.join(l).ok())
            else {
                return resp;
            };
            if redirects >= max_redirects {
                resp.error = Some(HttpError::new(
                    ErrorKind::TooManyRedirects,
                    format!("more than {max_redirects} redirects"),
                ));
                return resp;
            }
            redirects += 1;
            if matches!(resp.status, 301..=303) && method != Method::HEAD {
                method = Method::GET;
                body = Bytes::new();
                headers.remove(header::CONTENT_TYPE);
                headers.remove(header::CONTENT_LENGTH);
            }
            if next.host_str() != url.host_str() {
                headers.remove(header::AUTHORIZATION);
            }
            url = next;
        }
    }

    /// One hop.
    async fn once(
        &mut self,
        method: &Method,
        url: &Url,
        headers: &HeaderMap,
        body: &Bytes,
    ) -> HttpResponse {
        let Some(origin) = conn::Origin::of(url) else {
            return HttpResponse::failed(
                url.clone(),
                Timings::default(),
                HttpError::new(ErrorKind::InvalidUrl, format!("cannot request `{url}`")),
            );
        };
        let mut timings = Timings::default();
        let t0 = Instant::now();
        // Reuse the origin's connection if it is still usable.
        let idx = self.conns.iter().position(|(o, _)| *o == origin);
        let conn = match idx {
            Some(i) if self.conns[i].1.is_ready() => i,
            other => {
                if let Some(i) = other {
                    self.conns.swap_remove(i);
                }
                match conn::connect(&self.shared, &origin, &mut timings).await {
                    Ok(c) => {
                        self.conns.push((origin.clone(), c));
                        self.conns.len() - 1
                    }
                    Err(e) => {
                        timings.blocked = t0.elapsed();
                        return HttpResponse::failed(url.clone(), timings, e);
                    }
                }
            }
        };
        timings.blocked = t0.elapsed();
        let cfg = &self.shared.cfg;
        let mut h = headers.clone();
        if let Some(ua) = &cfg.user_agent
            && !h.contains_key(header::USER_AGENT)
            && let Ok(v) = HeaderValue::from_str(ua)
        {
            h.insert(header::USER_AGENT, v);
        }
        if cfg.decompress && !h.contains_key(header::ACCEPT_ENCODING) {
            h.insert(
                header::ACCEPT_ENCODING,
                HeaderValue::from_static("gzip, deflate"),
            );
        }
        if cfg.cookies
            && let Some(c) = self.jar.header_for(url)
            && let Ok(v) = HeaderValue::from_str(&c)
        {
            h.insert(header::COOKIE, v);
        }
        let c = &mut self.conns[conn].1;
        let result = c
            .request(
                method,
                url,
                h,
                body.clone(),
                cfg.max_body_bytes,
                &mut timings,
            )
            .await;
        match result {
            Ok((status, version, resp_headers, raw_body, sent, received)) => {
                if cfg.cookies {
                    self.jar.store(url, &resp_headers);
                }
                let body = if cfg.decompress {
                    conn::decode_body(&resp_headers, raw_body)
                } else {
                    Ok(raw_body)
                };
                let (body, error) = match body {
                    Ok(b) => (b, None),
                    Err(e) => (Bytes::new(), Some(e)),
                };
                HttpResponse {
                    status,
                    version,
                    headers: resp_headers,
                    body,
                    timings,
                    bytes_sent: sent,
                    bytes_received: received,
                    error,
                    redirects: 0,
                    url: url.clone(),
                }
            }
            Err(e) => {
                self.conns.swap_remove(conn);
                HttpResponse::failed(url.clone(), timings, e)
            }
        }
    }
}

#[cfg(test)]
mod tests;
