//! The driver against in-process servers on 127.0.0.1: HTTP/1.1, h2c, TLS
//! with ALPN (h2 and http/1.1), mutual TLS, and every error kind we can make
//! on loopback. No test resolves a real name.

use super::*;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

type Resp = hyper::Response<Full<Bytes>>;

async fn handle(req: hyper::Request<Incoming>) -> Result<Resp, std::convert::Infallible> {
    let path = req.uri().path().to_owned();
    let cookie = req
        .headers()
        .get("cookie")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let mut b = hyper::Response::builder();
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
            b = b.status(302).header("location", "/hello");
            Bytes::new()
        }
        "/loop" => {
            b = b.status(302).header("location", "/loop");
            Bytes::new()
        }
        "/cookie/set" => {
            b = b.header("set-cookie", "sid=abc123; Path=/");
            Bytes::new()
        }
        "/cookie/get" => Bytes::from(cookie),
        "/gzip" => {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            e.write_all(&b"compressed ".repeat(100)).unwrap();
            b = b.header("content-encoding", "gzip");
            Bytes::from(e.finish().unwrap())
        }
        "/big" => Bytes::from(vec![b'x'; 2 * 1024 * 1024]),
        _ => {
            b = b.status(404);
            Bytes::new()
        }
    };
    Ok(b.body(Full::new(body)).unwrap())
}

/// A plain server speaking HTTP/1.1 and h2c; counts accepted connections.
async fn plain_server() -> (u16, Arc<AtomicUsize>) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    let accepted = Arc::new(AtomicUsize::new(0));
    let a = accepted.clone();
    tokio::spawn(async move {
        while let Ok((s, _)) = l.accept().await {
            let _ = s.set_nodelay(true);
            a.fetch_add(1, Ordering::Relaxed);
            tokio::spawn(async move {
                let _ = auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(s), service_fn(handle))
                    .await;
            });
        }
    });
    (port, accepted)
}

struct Pki {
    ca_pem: String,
    server_cert: rustls::pki_types::CertificateDer<'static>,
    server_key: Vec<u8>,
    client_cert_pem: String,
    client_key_pem: String,
    ca_der: rustls::pki_types::CertificateDer<'static>,
}

fn pki() -> Pki {
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

/// A TLS server with ALPN h2 + http/1.1; with `require_client` it demands a
/// client certificate signed by the test CA.
async fn tls_server(p: &Pki, require_client: bool) -> u16 {
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
    cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(cfg));
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((s, _)) = l.accept().await {
            let _ = s.set_nodelay(true);
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
    port
}

/// A raw TCP server whose behaviour per connection is `f`.
async fn raw_server<F, Fut>(f: F) -> u16
where
    F: Fn(tokio::net::TcpStream) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    let f = Arc::new(f);
    tokio::spawn(async move {
        while let Ok((s, _)) = l.accept().await {
            let f = f.clone();
            tokio::spawn(async move { f(s).await });
        }
    });
    port
}

fn get(url: &str) -> HttpRequest {
    HttpRequest {
        method: Method::GET,
        url: Url::parse(url).unwrap(),
        headers: HeaderMap::new(),
        body: Bytes::new(),
        timeout: None,
    }
}

fn client(cfg: HttpConfig) -> HttpSession {
    HttpClient::new(cfg).unwrap().session()
}

fn kind(r: &HttpResponse) -> Option<ErrorKind> {
    r.error.as_ref().map(|e| e.kind)
}

#[tokio::test]
async fn http1_get_post_and_keep_alive() {
    let (port, accepted) = plain_server().await;
    let mut s = client(HttpConfig::default());
    let r1 = s.send(get(&format!("http://127.0.0.1:{port}/hello"))).await;
    assert_eq!(
        (r1.status, &r1.body[..], r1.version),
        (200, &b"hello"[..], Version::HTTP_11),
        "{:?}",
        r1.error
    );
    assert!(r1.timings.connecting > Duration::ZERO);
    assert!(r1.bytes_sent > 0 && r1.bytes_received > 0);
    let mut post = get(&format!("http://127.0.0.1:{port}/echo"));
    post.method = Method::POST;
    post.body = Bytes::from_static(b"{\"a\":1}");
    let r2 = s.send(post).await;
    assert_eq!(&r2.body[..], b"{\"a\":1}");
    assert_eq!(
        r2.timings.connecting,
        Duration::ZERO,
        "keep-alive reuses the connection"
    );
    assert_eq!(r2.timings.dns, Duration::ZERO);
    assert_eq!(accepted.load(Ordering::Relaxed), 1);
    assert_eq!(
        r2.timings.duration(),
        r2.timings.sending + r2.timings.waiting + r2.timings.receiving
    );
}

#[tokio::test]
async fn waiting_holds_the_server_think_time() {
    let (port, _) = plain_server().await;
    let mut s = client(HttpConfig::default());
    let r = s.send(get(&format!("http://localhost:{port}/slow"))).await;
    assert_eq!(r.status, 200, "{:?}", r.error);
    assert!(
        r.timings.waiting >= Duration::from_millis(50),
        "{:?}",
        r.timings
    );
    assert!(r.timings.total() >= r.timings.duration());
}

#[tokio::test]
async fn h2c_prior_knowledge() {
    let (port, _) = plain_server().await;
    let mut s = client(HttpConfig {
        version: HttpVersionPref::H2c,
        ..Default::default()
    });
    let r = s.send(get(&format!("http://127.0.0.1:{port}/hello"))).await;
    assert_eq!(
        (r.status, r.version),
        (200, Version::HTTP_2),
        "{:?}",
        r.error
    );
    let r2 = s.send(get(&format!("http://127.0.0.1:{port}/hello"))).await;
    assert_eq!(r2.timings.connecting, Duration::ZERO);
}

#[tokio::test]
async fn tls_with_alpn_h2_and_http1() {
    let p = pki();
    let port = tls_server(&p, false).await;
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, &p.ca_pem).unwrap();
    // Trusted through ca_certs: HTTP/2 by ALPN.
    let mut s = client(HttpConfig {
        ca_certs: vec![ca.clone()],
        ..Default::default()
    });
    let r = s
        .send(get(&format!("https://localhost:{port}/hello")))
        .await;
    assert_eq!(
        (r.status, r.version),
        (200, Version::HTTP_2),
        "{:?}",
        r.error
    );
    assert!(r.timings.tls_handshaking > Duration::ZERO);
    let r2 = s
        .send(get(&format!("https://localhost:{port}/hello")))
        .await;
    assert_eq!(
        r2.timings.tls_handshaking,
        Duration::ZERO,
        "handshake only once"
    );
    // insecureSkipTLSVerify, forced HTTP/1.1.
    let mut s = client(HttpConfig {
        insecure_skip_tls_verify: true,
        version: HttpVersionPref::Http1,
        ..Default::default()
    });
    let r = s
        .send(get(&format!("https://localhost:{port}/hello")))
        .await;
    assert_eq!(
        (r.status, r.version),
        (200, Version::HTTP_11),
        "{:?}",
        r.error
    );
    // Untrusted certificate.
    let mut s = client(HttpConfig::default());
    let r = s
        .send(get(&format!("https://localhost:{port}/hello")))
        .await;
    assert_eq!(kind(&r), Some(ErrorKind::TlsCertificate), "{:?}", r.error);
}

#[tokio::test]
async fn mutual_tls() {
    let p = pki();
    let port = tls_server(&p, true).await;
    let dir = tempfile::tempdir().unwrap();
    let (ca, cert, key) = (
        dir.path().join("ca.pem"),
        dir.path().join("c.pem"),
        dir.path().join("k.pem"),
    );
    std::fs::write(&ca, &p.ca_pem).unwrap();
    std::fs::write(&cert, &p.client_cert_pem).unwrap();
    std::fs::write(&key, &p.client_key_pem).unwrap();
    let mut without = client(HttpConfig {
        ca_certs: vec![ca.clone()],
        version: HttpVersionPref::Http1,
        ..Default::default()
    });
    let r = without
        .send(get(&format!("https://localhost:{port}/hello")))
        .await;
    assert!(
        matches!(
            kind(&r),
            Some(ErrorKind::TlsHandshake | ErrorKind::ConnectionReset)
        ),
        "{:?}",
        r.error
    );
    let mut with = client(HttpConfig {
        ca_certs: vec![ca],
        client_cert: Some(ClientCert { cert, key }),
        ..Default::default()
    });
    let r = with
        .send(get(&format!("https://localhost:{port}/hello")))
        .await;
    assert_eq!(r.status, 200, "{:?}", r.error);
}

#[tokio::test]
async fn bad_tls_files_fail_early() {
    let e = HttpClient::new(HttpConfig {
        ca_certs: vec!["/nonexistent/ca.pem".into()],
        ..Default::default()
    })
    .unwrap_err();
    assert!(e.to_string().contains("/nonexistent/ca.pem"));
}

#[tokio::test]
async fn redirects_cookies_and_gzip() {
    let (port, _) = plain_server().await;
    let base = format!("http://127.0.0.1:{port}");
    let mut s = client(HttpConfig::default());
    let r = s.send(get(&format!("{base}/redirect"))).await;
    assert_eq!((r.status, r.redirects, r.url.path()), (200, 1, "/hello"));
    let r = s.send(get(&format!("{base}/loop"))).await;
    assert_eq!(kind(&r), Some(ErrorKind::TooManyRedirects));
    let mut no = client(HttpConfig {
        max_redirects: 0,
        ..Default::default()
    });
    assert_eq!(no.send(get(&format!("{base}/redirect"))).await.status, 302);
    s.send(get(&format!("{base}/cookie/set"))).await;
    let r = s.send(get(&format!("{base}/cookie/get"))).await;
    assert_eq!(&r.body[..], b"sid=abc123");
    let r = s.send(get(&format!("{base}/gzip"))).await;
    assert_eq!(r.body.len(), "compressed ".len() * 100);
    assert!(
        r.bytes_received < r.body.len() as u64,
        "wire bytes are the compressed size"
    );
}

#[tokio::test]
async fn body_too_large() {
    let (port, _) = plain_server().await;
    let mut s = client(HttpConfig {
        max_body_bytes: 1024 * 1024,
        ..Default::default()
    });
    let r = s.send(get(&format!("http://127.0.0.1:{port}/big"))).await;
    assert_eq!(kind(&r), Some(ErrorKind::BodyTooLarge));
}

#[tokio::test]
async fn refused_reset_garbage_timeout_dns() {
    let mut s = client(HttpConfig {
        resolver: Resolver::Static(Default::default()),
        request_timeout: Duration::from_millis(300),
        ..Default::default()
    });
    // Refused: a port nobody listens on.
    let free = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    assert_eq!(
        kind(&s.send(get(&format!("http://127.0.0.1:{free}/"))).await),
        Some(ErrorKind::ConnectionRefused)
    );
    // Reset: the server reads the request and closes without answering.
    let port = raw_server(|mut c| async move {
        let mut buf = [0u8; 1024];
        let _ = c.read(&mut buf).await;
        drop(c);
    })
    .await;
    assert_eq!(
        kind(&s.send(get(&format!("http://127.0.0.1:{port}/"))).await),
        Some(ErrorKind::ConnectionReset)
    );
    // Garbage instead of HTTP.
    let port = raw_server(|mut c| async move {
        let mut buf = [0u8; 1024];
        let _ = c.read(&mut buf).await;
        let _ = c.write_all(b"SMTP ready, not HTTP\r\n\r\n").await;
        tokio::time::sleep(Duration::from_millis(100)).await;
    })
    .await;
    assert_eq!(
        kind(&s.send(get(&format!("http://127.0.0.1:{port}/"))).await),
        Some(ErrorKind::MalformedResponse)
    );
    // Never answers: request timeout.
    let port = raw_server(|c| async move {
        tokio::time::sleep(Duration::from_secs(5)).await;
        drop(c);
    })
    .await;
    let r = s.send(get(&format!("http://127.0.0.1:{port}/"))).await;
    assert_eq!(kind(&r), Some(ErrorKind::RequestTimeout));
    // DNS failure through the injected resolver (no real DNS query).
    assert_eq!(
        kind(&s.send(get("http://service.invalid/")).await),
        Some(ErrorKind::DnsFailure)
    );
    // Not http(s).
    assert_eq!(
        kind(&s.send(get("ftp://127.0.0.1/")).await),
        Some(ErrorKind::InvalidUrl)
    );
}

#[test]
fn error_codes_are_unique_and_named() {
    let mut codes: Vec<u16> = ErrorKind::all().iter().map(|k| k.code()).collect();
    let mut names: Vec<&str> = ErrorKind::all().iter().map(|k| k.as_str()).collect();
    codes.sort();
    codes.dedup();
    names.sort();
    names.dedup();
    assert_eq!(codes.len(), ErrorKind::all().len());
    assert_eq!(names.len(), ErrorKind::all().len());
}
