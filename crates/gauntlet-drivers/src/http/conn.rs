//! Connections: resolve, connect, TLS, hyper handshake, and the IO wrapper
//! that timestamps the last byte written and the first byte read.

use super::{ErrorKind, HttpConfig, HttpConfigError, HttpError, HttpVersionPref, Timings};
use bytes::Bytes;
use http::{HeaderMap, Method, Request, Version, header};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::Instant;
use url::Url;

/// How host names become addresses.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub enum Resolver {
    /// The system resolver (getaddrinfo); `localhost` and IP literals never query.
    #[default]
    System,
    /// Fixed answers; names not listed fail (for tests: no real DNS traffic).
    Static(HashMap<String, Vec<IpAddr>>),
}

impl Resolver {
    async fn resolve(&self, host: &str, port: u16) -> Result<Vec<SocketAddr>, HttpError> {
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if let Ok(ip) = host.parse::<IpAddr>() {
            return Ok(vec![SocketAddr::new(ip, port)]);
        }
        if host.eq_ignore_ascii_case("localhost") {
            // IPv4 first: most local servers listen on 127.0.0.1 only.
            return Ok(vec![
                SocketAddr::new(IpAddr::from([127, 0, 0, 1]), port),
                SocketAddr::new(IpAddr::from([0u16, 0, 0, 0, 0, 0, 0, 1]), port),
            ]);
        }
        match self {
            Resolver::Static(map) => map
                .get(host)
                .map(|ips| ips.iter().map(|ip| SocketAddr::new(*ip, port)).collect())
                .ok_or_else(|| {
                    HttpError::new(ErrorKind::DnsFailure, format!("`{host}` does not resolve"))
                }),
            Resolver::System => {
                let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host, port))
                    .await
                    .map_err(|e| HttpError::new(ErrorKind::DnsFailure, format!("`{host}`: {e}")))?
                    .collect();
                if addrs.is_empty() {
                    return Err(HttpError::new(
                        ErrorKind::DnsFailure,
                        format!("`{host}` has no address"),
                    ));
                }
                Ok(addrs)
            }
        }
    }
}

/// Scheme, host and port: what a connection is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Origin {
    tls: bool,
    host: String,
    port: u16,
}

impl Origin {
    pub(crate) fn of(url: &Url) -> Option<Origin> {
        let tls = match url.scheme() {
            "https" => true,
            "http" => false,
            _ => return None,
        };
        Some(Origin {
            tls,
            host: url.host_str()?.to_owned(),
            port: url.port_or_known_default()?,
        })
    }
}

/// Configuration built once per run.
pub(crate) struct Shared {
    pub(crate) cfg: HttpConfig,
    tls: Option<tokio_rustls::TlsConnector>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared").field("cfg", &self.cfg).finish()
    }
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

fn read_pem(path: &std::path::Path) -> Result<Vec<u8>, HttpConfigError> {
    std::fs::read(path).map_err(|e| HttpConfigError::Pem {
        path: path.to_owned(),
        message: e.to_string(),
    })
}

impl Shared {
    pub(crate) fn new(cfg: HttpConfig) -> Result<Shared, HttpConfigError> {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};
        let mut roots = rustls::RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        for p in &cfg.ca_certs {
            let pem = read_pem(p)?;
            let mut any = false;
            for c in CertificateDer::pem_slice_iter(&pem) {
                let c = c.map_err(|e| HttpConfigError::Pem {
                    path: p.clone(),
                    message: e.to_string(),
                })?;
                roots.add(c).map_err(|e| HttpConfigError::Pem {
                    path: p.clone(),
                    message: e.to_string(),
                })?;
                any = true;
            }
            if !any {
                return Err(HttpConfigError::Pem {
                    path: p.clone(),
                    message: "no certificate in file".into(),
                });
            }
        }
        let builder = rustls::ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| HttpConfigError::Tls(e.to_string()))?
            .with_root_certificates(roots);
        let mut config = match &cfg.client_cert {
            Some(cc) => {
                let certs = CertificateDer::pem_slice_iter(&read_pem(&cc.cert)?)
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| HttpConfigError::Pem {
                        path: cc.cert.clone(),
                        message: e.to_string(),
                    })?;
                let key = PrivateKeyDer::from_pem_slice(&read_pem(&cc.key)?).map_err(|e| {
                    HttpConfigError::Pem {
                        path: cc.key.clone(),
                        message: e.to_string(),
                    }
                })?;
                builder
                    .with_client_auth_cert(certs, key)
                    .map_err(|e| HttpConfigError::Tls(e.to_string()))?
            }
            None => builder.with_no_client_auth(),
        };
        if cfg.insecure_skip_tls_verify {
            config
                .dangerous()
                .set_certificate_verifier(Arc::new(AcceptAll(provider())));
        }
        config.alpn_protocols = match cfg.version {
            HttpVersionPref::Http1 => vec![b"http/1.1".to_vec()],
            HttpVersionPref::Http2 => vec![b"h2".to_vec()],
            _ => vec![b"h2".to_vec(), b"http/1.1".to_vec()],
        };
        Ok(Shared {
            tls: Some(tokio_rustls::TlsConnector::from(Arc::new(config))),
            cfg,
        })
    }
}

/// `insecureSkipTLSVerify`: accept any certificate, still check signatures.
#[derive(Debug)]
struct AcceptAll(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AcceptAll {
    fn verify_server_cert(
        &self,
        _: &rustls::pki_types::CertificateDer<'_>,
        _: &[rustls::pki_types::CertificateDer<'_>],
        _: &rustls::pki_types::ServerName<'_>,
        _: &[u8],
        _: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        m: &[u8],
        c: &rustls::pki_types::CertificateDer<'_>,
        d: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(m, c, d, &self.0.signature_verification_algorithms)
    }
    fn verify_tls13_signature(
        &self,
        m: &[u8],
        c: &rustls::pki_types::CertificateDer<'_>,
        d: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(m, c, d, &self.0.signature_verification_algorithms)
    }
    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// Byte counts and the two instants the phase split needs, as nanoseconds
/// since the connection's creation (atomics: the h2 connection task writes
/// them from another task).
#[derive(Debug)]
pub(crate) struct IoStats {
    base: Instant,
    written: AtomicU64,
    read: AtomicU64,
    last_write_ns: AtomicU64,
    first_read_ns: AtomicU64,
}

impl IoStats {
    fn now_ns(&self) -> u64 {
        self.base.elapsed().as_nanos() as u64 + 1
    }
    fn mark(&self) {
        self.last_write_ns.store(0, Ordering::Relaxed);
        self.first_read_ns.store(0, Ordering::Relaxed);
    }
    fn at(&self, ns: u64) -> Option<Instant> {
        (ns > 0).then(|| self.base + std::time::Duration::from_nanos(ns - 1))
    }
}

/// Counts bytes and timestamps writes and the first read after a request.
pub(crate) struct TimedIo<T> {
    inner: T,
    stats: Arc<IoStats>,
}

impl<T: AsyncRead + Unpin> AsyncRead for TimedIo<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        let n = buf.filled().len() - before;
        if n > 0 {
            self.stats.read.fetch_add(n as u64, Ordering::Relaxed);
            if self.stats.first_read_ns.load(Ordering::Relaxed) == 0 {
                let now = self.stats.now_ns();
                self.stats.first_read_ns.store(now, Ordering::Relaxed);
            }
        }
        r
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for TimedIo<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = &r
            && *n > 0
        {
            self.stats.written.fetch_add(*n as u64, Ordering::Relaxed);
            let now = self.stats.now_ns();
            self.stats.last_write_ns.store(now, Ordering::Relaxed);
        }
        r
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if let Poll::Ready(Ok(n)) = &r
            && *n > 0
        {
            self.stats.written.fetch_add(*n as u64, Ordering::Relaxed);
            let now = self.stats.now_ns();
            self.stats.last_write_ns.store(now, Ordering::Relaxed);
        }
        r
    }
    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

enum Sender {
    H1(http1::SendRequest<Full<Bytes>>),
    H2(http2::SendRequest<Full<Bytes>>),
}

/// An open connection.
pub(crate) struct Conn {
    sender: Sender,
    stats: Arc<IoStats>,
    host_header: http::HeaderValue,
}

impl std::fmt::Debug for Conn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Conn")
            .field("h2", &matches!(self.sender, Sender::H2(_)))
            .finish()
    }
}

fn io_kind(e: &io::Error) -> ErrorKind {
    match e.kind() {
        io::ErrorKind::ConnectionRefused => ErrorKind::ConnectionRefused,
        io::ErrorKind::ConnectionReset
        | io::ErrorKind::ConnectionAborted
        | io::ErrorKind::BrokenPipe
        | io::ErrorKind::UnexpectedEof => ErrorKind::ConnectionReset,
        io::ErrorKind::TimedOut => ErrorKind::ConnectTimeout,
        io::ErrorKind::InvalidData => {
            let cert = e
                .get_ref()
                .and_then(|i| i.downcast_ref::<rustls::Error>())
                .is_some_and(|r| matches!(r, rustls::Error::InvalidCertificate(_)));
            if cert {
                ErrorKind::TlsCertificate
            } else {
                ErrorKind::TlsHandshake
            }
        }
        _ => ErrorKind::Io,
    }
}

/// Open a connection to `origin`, filling dns/connecting/tls timings.
pub(crate) async fn connect(
    shared: &Shared,
    origin: &Origin,
    t: &mut Timings,
) -> Result<Conn, HttpError> {
    let cfg = &shared.cfg;
    let work = async {
        let t0 = Instant::now();
        let addrs = cfg.resolver.resolve(&origin.host, origin.port).await?;
        let t1 = Instant::now();
        t.dns = t1 - t0;
        let mut last = HttpError::new(ErrorKind::ConnectionRefused, "no address to connect to");
        let mut stream = None;
        for a in addrs {
            match TcpStream::connect(a).await {
                Ok(s) => {
                    stream = Some(s);
                    break;
                }
                Err(e) => last = HttpError::new(io_kind(&e), format!("{a}: {e}")),
            }
        }
        let stream = stream.ok_or(last)?;
        let _ = stream.set_nodelay(true);
        let t2 = Instant::now();
        t.connecting = t2 - t1;
        let stats = Arc::new(IoStats {
            base: Instant::now(),
            written: AtomicU64::new(0),
            read: AtomicU64::new(0),
            last_write_ns: AtomicU64::new(0),
            first_read_ns: AtomicU64::new(0),
        });
        let host_header = http::HeaderValue::from_str(&if matches!(
            (origin.tls, origin.port),
            (true, 443) | (false, 80)
        ) {
            origin.host.clone()
        } else {
            format!("{}:{}", origin.host, origin.port)
        })
        .map_err(|_| HttpError::new(ErrorKind::InvalidUrl, "bad host"))?;
        let sender = if origin.tls {
            let connector = shared
                .tls
                .as_ref()
                .ok_or_else(|| HttpError::new(ErrorKind::TlsHandshake, "TLS unavailable"))?;
            let name = rustls::pki_types::ServerName::try_from(origin.host.clone())
                .map_err(|e| HttpError::new(ErrorKind::InvalidUrl, e.to_string()))?;
            let tls = connector
                .connect(name, stream)
                .await
                .map_err(|e| HttpError::new(io_kind(&e), e.to_string()))?;
            t.tls_handshaking = t2.elapsed();
            let h2 = tls.get_ref().1.alpn_protocol() == Some(b"h2");
            if cfg.version == HttpVersionPref::Http2 && !h2 {
                return Err(HttpError::new(
                    ErrorKind::TlsHandshake,
                    "the server did not agree to HTTP/2 (ALPN)",
                ));
            }
            handshake(
                TimedIo {
                    inner: tls,
                    stats: stats.clone(),
                },
                h2,
            )
            .await?
        } else {
            handshake(
                TimedIo {
                    inner: stream,
                    stats: stats.clone(),
                },
                cfg.version == HttpVersionPref::H2c,
            )
            .await?
        };
        Ok(Conn {
            sender,
            stats,
            host_header,
        })
    };
    match tokio::time::timeout(cfg.connect_timeout, work).await {
        Ok(r) => r,
        Err(_) => Err(HttpError::new(
            ErrorKind::ConnectTimeout,
            "connection not established within the connect timeout",
        )),
    }
}

async fn handshake<T: AsyncRead + AsyncWrite + Unpin + Send + 'static>(
    io: T,
    h2: bool,
) -> Result<Sender, HttpError> {
    let io = TokioIo::new(io);
    if h2 {
        let (s, c) = http2::handshake(TokioExecutor::new(), io)
            .await
            .map_err(|e| HttpError::new(ErrorKind::Http2Protocol, e.to_string()))?;
        tokio::spawn(async move {
            let _ = c.await;
        });
        Ok(Sender::H2(s))
    } else {
        let (s, c) = http1::handshake(io)
            .await
            .map_err(|e| HttpError::new(ErrorKind::Io, e.to_string()))?;
        tokio::spawn(async move {
            let _ = c.await;
        });
        Ok(Sender::H1(s))
    }
}

fn hyper_kind(e: &hyper::Error) -> ErrorKind {
    if e.is_parse() || e.is_parse_status() {
        return ErrorKind::MalformedResponse;
    }
    if e.is_incomplete_message() || e.is_closed() || e.is_canceled() {
        return ErrorKind::ConnectionReset;
    }
    let mut src: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(e);
    while let Some(s) = src {
        if let Some(io) = s.downcast_ref::<io::Error>() {
            return io_kind(io);
        }
        src = s.source();
    }
    ErrorKind::Io
}

type Answer = (u16, Version, HeaderMap, Bytes, u64, u64);

impl Conn {
    /// Whether the connection can take a request now.
    pub(crate) fn is_ready(&self) -> bool {
        match &self.sender {
            Sender::H1(s) => s.is_ready(),
            Sender::H2(s) => s.is_ready(),
        }
    }

    /// Send one request and read the whole response, filling the
    /// sending/waiting/receiving timings.
    pub(crate) async fn request(
        &mut self,
        method: &Method,
        url: &Url,
        mut headers: HeaderMap,
        body: Bytes,
        max_body: usize,
        t: &mut Timings,
    ) -> Result<Answer, HttpError> {
        let h2 = matches!(self.sender, Sender::H2(_));
        let uri: http::Uri = if h2 {
            url.as_str().parse()
        } else {
            let pq = match url.query() {
                Some(q) => format!("{}?{q}", url.path()),
                None => url.path().to_owned(),
            };
            pq.parse()
        }
        .map_err(|_| HttpError::new(ErrorKind::InvalidUrl, format!("bad URL `{url}`")))?;
        if !h2 && !headers.contains_key(header::HOST) {
            headers.insert(header::HOST, self.host_header.clone());
        }
        let mut req = Request::builder()
            .method(method.clone())
            .uri(uri)
            .version(if h2 {
                Version::HTTP_2
            } else {
                Version::HTTP_11
            })
            .body(Full::new(body))
            .map_err(|e| HttpError::new(ErrorKind::InvalidUrl, e.to_string()))?;
        *req.headers_mut() = headers;
        let (w0, r0) = (
            self.stats.written.load(Ordering::Relaxed),
            self.stats.read.load(Ordering::Relaxed),
        );
        self.stats.mark();
        let start = Instant::now();
        let resp = match &mut self.sender {
            Sender::H1(s) => s.send_request(req).await,
            Sender::H2(s) => s.send_request(req).await,
        }
        .map_err(|e| {
            let k = hyper_kind(&e);
            // On HTTP/2, errors that are not I/O are protocol errors (stream reset, GOAWAY).
            let k = if h2 && k == ErrorKind::Io {
                ErrorKind::Http2Protocol
            } else {
                k
            };
            HttpError::new(k, e.to_string())
        })?;
        let headers_at = Instant::now();
        let status = resp.status().as_u16();
        let version = resp.version();
        let (parts, mut body) = resp.into_parts();
        let mut buf = bytes::BytesMut::new();
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| HttpError::new(hyper_kind(&e), e.to_string()))?;
            if let Ok(data) = frame.into_data() {
                if buf.len() + data.len() > max_body {
                    return Err(HttpError::new(
                        ErrorKind::BodyTooLarge,
                        format!("body larger than {max_body} bytes"),
                    ));
                }
                buf.extend_from_slice(&data);
            }
        }
        let done = Instant::now();
        let written = self
            .stats
            .at(self.stats.last_write_ns.load(Ordering::Relaxed))
            .unwrap_or(start)
            .clamp(start, headers_at);
        let first = self
            .stats
            .at(self.stats.first_read_ns.load(Ordering::Relaxed))
            .unwrap_or(headers_at)
            .clamp(written, headers_at);
        t.sending = written - start;
        t.waiting = first - written;
        t.receiving = done - first;
        let sent = self.stats.written.load(Ordering::Relaxed) - w0;
        let received = self.stats.read.load(Ordering::Relaxed) - r0;
        Ok((status, version, parts.headers, buf.freeze(), sent, received))
    }
}

/// Decode a gzip/deflate body.
pub(crate) fn decode_body(headers: &HeaderMap, body: Bytes) -> Result<Bytes, HttpError> {
    use std::io::Read;
    let enc = headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let mut out = Vec::new();
    let r = match enc.as_str() {
        "gzip" | "x-gzip" => flate2::read::MultiGzDecoder::new(&body[..]).read_to_end(&mut out),
        "deflate" => {
            // Servers send either zlib-wrapped or raw deflate; try zlib first.
            match flate2::read::ZlibDecoder::new(&body[..]).read_to_end(&mut out) {
                Ok(n) => Ok(n),
                Err(_) => {
                    out.clear();
                    flate2::read::DeflateDecoder::new(&body[..]).read_to_end(&mut out)
                }
            }
        }
        _ => return Ok(body),
    };
    r.map(|_| Bytes::from(out)).map_err(|e| {
        HttpError::new(
            ErrorKind::MalformedResponse,
            format!("cannot decode {enc} body: {e}"),
        )
    })
}
