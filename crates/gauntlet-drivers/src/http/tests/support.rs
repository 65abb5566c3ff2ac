//! In-process servers on 127.0.0.1 for the driver tests: a hyper server
//! (HTTP/1.1 + h2c, or TLS with chosen ALPN and optional client
//! certificates), raw TCP servers for misbehaviour, and a test PKI.
//! Every server socket sets `TCP_NODELAY` (delayed-ACK stalls otherwise).

use crate::http::decode::testing::{brotli_stored, gzip, zlib};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use std::convert::Infallible;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

pub(crate) type Resp = hyper::Response<Full<Bytes>>;

/// The text the compression routes encode.
pub(crate) fn plain_text() -> Vec<u8> {
    b"compressed ".repeat(100)
}

fn header(req: &hyper::Request<Incoming>, name: &str) -> String {
    req.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned()
}

/// The routes every hyper test server serves.
pub(crate) async fn handle(req: hyper::Request<Incoming>) -> Result<Resp, Infallible> {
    let path = req.uri().path().to_owned();
    let host = req
        .headers()
        .get("host")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .or_else(|| req.uri().authority().map(|a| a.to_string()))
        .unwrap_or_default();
    let mut b = hyper::Response::builder()
        .header("x-method", req.method().as_str())
        .header("x-seen-host", host)
        .header("x-seen-ua", header(&req, "user-agent"))
        .header("x-seen-ae", header(&req, "accept-encoding"))
        .header("x-seen-cookie", header(&req, "cookie"))
        .header("x-seen-ct", header(&req, "content-type"))
        .header("x-seen-auth", header(&req, "authorization"));
    let redirect = |b: hyper::http::response::Builder, code: u16, to: &str| {
        b.status(code).header("location", to)
    };
    let body = match path.as_str() {
        "/hello" => Bytes::from_static(b"hello"),
        "/echo" => req
            .into_body()
            .collect()
            .await
            .map(|c| c.to_bytes())
            .unwrap_or_default(),
        "/slow" => {
            tokio::time::sleep(Duration::from_millis(50)).await;
            Bytes::from_static(b"slow")
        }
        "/redirect" => {
            b = redirect(b, 302, "/hello");
            Bytes::from_static(b"moved")
        }
        "/dir/r302" => {
            b = redirect(b, 302, "../echo");
            Bytes::new()
        }
        "/r303" => {
            b = redirect(b, 303, "/echo");
            Bytes::new()
        }
        "/r307" => {
            b = redirect(b, 307, "/echo");
            Bytes::new()
        }
        "/r308" => {
            b = redirect(b, 308, "/echo");
            Bytes::new()
        }
        "/loop" => {
            b = redirect(b, 302, "/loop");
            Bytes::new()
        }
        "/bad-location" => {
            b = redirect(b, 302, "http://[not-a-host/");
            Bytes::new()
        }
        "/login" => {
            b = redirect(b, 302, "/cookie/get").header("set-cookie", "sid=abc123; Path=/");
            Bytes::new()
        }
        "/cookie/set" => {
            b = b.header("set-cookie", "sid=abc123; Path=/");
            Bytes::new()
        }
        "/cookie/get" => Bytes::from(header(&req, "cookie")),
        "/gzip" => {
            b = b.header("content-encoding", "gzip");
            Bytes::from(gzip(&plain_text()))
        }
        "/deflate" => {
            b = b.header("content-encoding", "deflate");
            Bytes::from(zlib(&plain_text()))
        }
        "/br" => {
            b = b.header("content-encoding", "br");
            Bytes::from(brotli_stored(&plain_text()))
        }
        "/bad-gzip" => {
            b = b.header("content-encoding", "gzip");
            Bytes::from_static(b"this is not gzip")
        }
        "/big" => Bytes::from(vec![b'x'; 2 * 1024 * 1024]),
        "/close" => {
            b = b.header("connection", "close");
            Bytes::from_static(b"bye")
        }
        _ => {
            b = b.status(404);
            Bytes::new()
        }
    };
    Ok(b.body(Full::new(body))
        .unwrap_or_else(|_| hyper::Response::new(Full::new(Bytes::from_static(b"bad response")))))
}

/// A listening server: its port and how many connections it accepted.
pub(crate) struct Server {
    pub(crate) port: u16,
    pub(crate) accepted: Arc<AtomicUsize>,
}

impl Server {
    pub(crate) fn url(&self, scheme: &str, host: &str, path: &str) -> String {
        format!("{scheme}://{host}:{}{path}", self.port)
    }

    pub(crate) fn connections(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
}

async fn listen() -> (TcpListener, u16, Arc<AtomicUsize>) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    (l, port, Arc::new(AtomicUsize::new(0)))
}

/// HTTP/1.1 and h2c (prior knowledge), chosen per connection.
pub(crate) async fn plain_server() -> Server {
    let (l, port, accepted) = listen().await;
    let a = accepted.clone();
    tokio::spawn(async move {
        while let Ok((s, _)) = l.accept().await {
            let _ = s.set_nodelay(true);
            a.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let _ = auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(s), service_fn(handle))
                    .await;
            });
        }
    });
    Server { port, accepted }
}

/// Certificates for the TLS tests: a CA, a server certificate for
/// `localhost` signed by it, and a client certificate signed by it.
pub(crate) struct Pki {
    pub(crate) ca_pem: String,
    pub(crate) ca_der: rustls::pki_types::CertificateDer<'static>,
    pub(crate) server_cert: rustls::pki_types::CertificateDer<'static>,
    pub(crate) server_key: Vec<u8>,
    pub(crate) client_cert_pem: String,
    pub(crate) client_key_pem: String,
}

pub(crate) fn pki() -> Pki {
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let server_key = KeyPair::generate().unwrap();
    let server = CertificateParams::new(vec!["localhost".to_owned()])
        .unwrap()
        .signed_by(&server_key, &ca)
        .unwrap();
    let client_key = KeyPair::generate().unwrap();
    let client = CertificateParams::new(vec!["client".to_owned()])
        .unwrap()
        .signed_by(&client_key, &ca)
        .unwrap();
    Pki {
        ca_pem: ca.pem(),
        ca_der: ca.der().clone(),
        server_cert: server.der().clone(),
        server_key: server_key.serialize_der(),
        client_cert_pem: client.pem(),
        client_key_pem: client_key.serialize_pem(),
    }
}

impl Pki {
    /// Write the CA (and client cert and key) as PEM files in `dir`.
    pub(crate) fn files(&self, dir: &std::path::Path) -> (PathBuf, PathBuf, PathBuf) {
        let (ca, cert, key) = (dir.join("ca.pem"), dir.join("c.pem"), dir.join("k.pem"));
        std::fs::write(&ca, &self.ca_pem).unwrap();
        std::fs::write(&cert, &self.client_cert_pem).unwrap();
        std::fs::write(&key, &self.client_key_pem).unwrap();
        (ca, cert, key)
    }
}

/// A TLS server offering `alpn`; with `require_client` it demands a client
/// certificate signed by the test CA.
pub(crate) async fn tls_server(p: &Pki, alpn: &[&[u8]], require_client: bool) -> Server {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .unwrap();
    let builder = if require_client {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(p.ca_der.clone()).unwrap();
        builder.with_client_cert_verifier(
            rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .unwrap(),
        )
    } else {
        builder.with_no_client_auth()
    };
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(p.server_key.clone().into());
    let mut cfg = builder
        .with_single_cert(vec![p.server_cert.clone()], key)
        .unwrap();
    cfg.alpn_protocols = alpn.iter().map(|a| a.to_vec()).collect();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(cfg));
    let (l, port, accepted) = listen().await;
    let a = accepted.clone();
    tokio::spawn(async move {
        while let Ok((s, _)) = l.accept().await {
            let _ = s.set_nodelay(true);
            a.fetch_add(1, Ordering::SeqCst);
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                if let Ok(tls) = acceptor.accept(s).await {
                    let _ = auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(tls), service_fn(handle))
                        .await;
                }
            });
        }
    });
    Server { port, accepted }
}

/// A raw TCP server whose behaviour per connection is `f`.
pub(crate) async fn raw_server<F, Fut>(f: F) -> Server
where
    F: Fn(TcpStream) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let (l, port, accepted) = listen().await;
    let a = accepted.clone();
    let f = Arc::new(f);
    tokio::spawn(async move {
        while let Ok((s, _)) = l.accept().await {
            let _ = s.set_nodelay(true);
            a.fetch_add(1, Ordering::SeqCst);
            let f = f.clone();
            tokio::spawn(async move { f(s).await });
        }
    });
    Server { port, accepted }
}

/// Read one request head (up to the blank line) from a raw connection;
/// `false` when the peer closed first.
pub(crate) async fn read_head(s: &mut TcpStream) -> bool {
    let mut seen = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        match s.read(&mut buf).await {
            Ok(0) | Err(_) => return false,
            Ok(n) => {
                seen.extend_from_slice(&buf[..n]);
                if seen.windows(4).any(|w| w == b"\r\n\r\n") {
                    return true;
                }
            }
        }
    }
}

/// Write all of `bytes` (errors ignored: the client may be gone).
pub(crate) async fn write(s: &mut TcpStream, bytes: &[u8]) {
    let _ = s.write_all(bytes).await;
    let _ = s.flush().await;
}

/// A port on 127.0.0.1 where nothing listens (bound, then released).
pub(crate) async fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
