//! The driver end to end against in-process servers on 127.0.0.1: HTTP/1.1,
//! h2c, TLS with ALPN (h2 and http/1.1), mutual TLS, redirects, cookies,
//! compression, phase timings, and every error kind that loopback can
//! produce. No test resolves a real name: names go through `Resolver::fixed`
//! or are `localhost`/IP literals, which never query.

mod support;

use super::*;
use std::net::IpAddr;
use support::*;

fn req(method: Method, url: &str) -> HttpRequest {
    HttpRequest {
        method,
        url: Url::parse(url).unwrap(),
        headers: HeaderMap::new(),
        body: Bytes::new(),
        timeout: None,
    }
}

fn get(url: &str) -> HttpRequest {
    req(Method::GET, url)
}

fn post(url: &str, body: &'static [u8]) -> HttpRequest {
    let mut r = req(Method::POST, url);
    r.body = Bytes::from_static(body);
    r.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

/// A config whose resolver answers nothing: a test that resolved a real
/// name would fail instead of querying a nameserver.
fn cfg() -> HttpConfig {
    HttpConfig {
        resolver: Resolver::fixed(Vec::<(String, Vec<IpAddr>)>::new()),
        ..HttpConfig::default()
    }
}

fn session(cfg: HttpConfig) -> HttpSession {
    HttpClient::new(cfg).unwrap().session()
}

fn kind(r: &HttpResponse) -> Option<ErrorKind> {
    r.error.as_ref().map(|e| e.kind)
}

fn seen<'a>(r: &'a HttpResponse, name: &str) -> &'a str {
    r.headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("<none>")
}

/// The identities every response must satisfy, whatever happened.
fn assert_phase_identities(r: &HttpResponse) {
    let t = &r.timings;
    assert_eq!(t.duration(), t.sending + t.waiting + t.receiving);
    assert_eq!(t.total(), t.blocked + t.duration());
    assert!(
        t.blocked >= t.dns + t.connecting + t.tls_handshaking,
        "setup phases are inside blocked: {t:?}"
    );
}

#[test]
fn session_and_its_futures_are_send() {
    fn is_send<T: Send>(_: &T) {}
    let client = HttpClient::new(cfg()).unwrap();
    let mut s = client.session();
    is_send(&s);
    is_send(&client);
    let fut = s.send(get("http://127.0.0.1:9/"));
    is_send(&fut);
    // The engine awaits this future inside each VU's task, so its size is
    // in every VU's memory, thinking or not (the engine boxed it per
    // request before: an allocation, a copy and a free). Connecting and
    // HTTP/2 are boxed, so they are not in it (inline they made it 9.9 KB;
    // 2.6 KB without them, 2.1 KB with the response's header map boxed too,
    // 1.6 KB without the copy of its arguments an `async fn` keeps).
    let size = std::mem::size_of_val(&fut);
    assert!(size <= 1664, "HttpSession::send's future is {size} bytes");
    // All VUs of a run connect at once, so the boxed connect future, times
    // the VUs, is the run's peak memory: TLS and the HTTP/2 handshake are
    // boxed inside it (8.2 KB with them inline, 0.9 KB without).
    let shared = client.inner.clone();
    let mut hop = super::conn::Hop::default();
    let url = url::Url::parse("http://127.0.0.1:9/").unwrap();
    let origin = super::conn::Origin::of(&url).unwrap();
    let connect = super::conn::connect(&shared, origin, &mut hop);
    let size = std::mem::size_of_val(&connect);
    assert!(size <= 1024, "conn::connect's future is {size} bytes");
}

#[tokio::test]
async fn http1_get_post_and_keep_alive() {
    let srv = plain_server().await;
    let mut s = session(cfg());
    let r1 = s.send(get(&srv.url("http", "127.0.0.1", "/hello"))).await;
    assert_eq!(
        (r1.status, &r1.body[..], r1.version),
        (200, &b"hello"[..], Version::HTTP_11),
        "{:?}",
        r1.error
    );
    assert!(r1.timings.connecting > Duration::ZERO);
    assert_eq!(r1.timings.tls_handshaking, Duration::ZERO);
    assert_eq!(
        r1.timings.dns,
        Duration::ZERO,
        "IP literals are not resolved"
    );
    assert!(r1.bytes_sent > 0 && r1.bytes_received > r1.body.len() as u64);
    assert_eq!(r1.body_size, 5);
    assert_phase_identities(&r1);

    let r2 = s
        .send(post(&srv.url("http", "127.0.0.1", "/echo"), b"{\"a\":1}"))
        .await;
    assert_eq!((r2.status, &r2.body[..]), (200, &b"{\"a\":1}"[..]));
    assert_eq!(seen(&r2, "x-method"), "POST");
    assert_eq!(seen(&r2, "x-seen-ct"), "application/json");
    assert_eq!(r2.timings.connecting, Duration::ZERO, "keep-alive reuse");
    assert_eq!(r2.timings.dns, Duration::ZERO);
    assert!(r2.bytes_sent > 7, "the body is counted");
    assert_phase_identities(&r2);
    assert_eq!(srv.connections(), 1);
    assert_eq!(s.open_connections(), 1);
}

#[tokio::test]
async fn each_origin_keeps_its_own_connection() {
    // Requests alternate between two servers on one session: each goes on
    // its own origin's connection, however its URL is spelt.
    let (a, b) = (plain_server().await, plain_server().await);
    let mut s = session(cfg());
    let urls = [
        a.url("http", "127.0.0.1", "/hello"),
        b.url("http", "127.0.0.1", "/hello"),
        a.url("http", "127.0.0.1", "/hello?x=1"),
        a.url("http", "user:pw@127.0.0.1", "/hello"),
        b.url("HTTP", "127.0.0.1", "/hello"),
    ];
    for round in 0..2 {
        for (i, u) in urls.iter().enumerate() {
            let r = s.send(get(u)).await;
            assert_eq!(
                (r.status, &r.body[..]),
                (200, &b"hello"[..]),
                "{u}: {:?}",
                r.error
            );
            let fresh = round == 0 && i < 2;
            assert_eq!(
                r.timings.connecting > Duration::ZERO,
                fresh,
                "{u}, round {round}"
            );
        }
    }
    assert_eq!((a.connections(), b.connections()), (1, 1));
    assert_eq!(s.open_connections(), 2);
}

#[tokio::test]
async fn default_headers_host_and_resolver() {
    let srv = plain_server().await;
    let mut s = session(HttpConfig {
        resolver: Resolver::fixed([("app.test", vec![IpAddr::from([127, 0, 0, 1])])]),
        ..HttpConfig::default()
    });
    let r = s.send(get(&srv.url("http", "app.test", "/hello"))).await;
    assert_eq!(r.status, 200, "{:?}", r.error);
    assert_eq!(seen(&r, "x-seen-host"), format!("app.test:{}", srv.port));
    assert_eq!(
        seen(&r, "x-seen-ua"),
        concat!("gauntlet/", env!("CARGO_PKG_VERSION"))
    );
    assert_eq!(seen(&r, "x-seen-ae"), "gzip, deflate, br");
    // The caller's headers win.
    let mut own = get(&srv.url("http", "app.test", "/hello"));
    own.headers
        .insert(header::USER_AGENT, HeaderValue::from_static("k6-like"));
    own.headers.insert(
        header::ACCEPT_ENCODING,
        HeaderValue::from_static("identity"),
    );
    let r = s.send(own).await;
    assert_eq!(seen(&r, "x-seen-ua"), "k6-like");
    assert_eq!(seen(&r, "x-seen-ae"), "identity");
}

#[tokio::test]
async fn addresses_are_tried_in_order() {
    let srv = plain_server().await;
    // 127.0.0.2 is loopback too, but nothing listens there on this port.
    let mut s = session(HttpConfig {
        resolver: Resolver::fixed([(
            "multi.test",
            vec![IpAddr::from([127, 0, 0, 2]), IpAddr::from([127, 0, 0, 1])],
        )]),
        ..HttpConfig::default()
    });
    let r = s.send(get(&srv.url("http", "multi.test", "/hello"))).await;
    assert_eq!(r.status, 200, "{:?}", r.error);
    assert_eq!(srv.connections(), 1);
    // `localhost` tries 127.0.0.1 first: this server listens on IPv4 only.
    let r = s.send(get(&srv.url("http", "localhost", "/hello"))).await;
    assert_eq!(r.status, 200, "{:?}", r.error);
}

#[tokio::test]
async fn waiting_holds_the_server_think_time() {
    let srv = plain_server().await;
    for version in [HttpVersionPref::Http1, HttpVersionPref::H2c] {
        let mut s = session(HttpConfig { version, ..cfg() });
        let r = s.send(get(&srv.url("http", "127.0.0.1", "/slow"))).await;
        assert_eq!(r.status, 200, "{version:?}: {:?}", r.error);
        assert!(
            r.timings.waiting >= Duration::from_millis(50),
            "{version:?}: {:?}",
            r.timings
        );
        assert_phase_identities(&r);
    }
}

#[tokio::test]
async fn receiving_holds_a_slow_body() {
    let srv = raw_server(|mut c| async move {
        while read_head(&mut c).await {
            write(&mut c, b"HTTP/1.1 200 OK\r\ncontent-length: 8\r\n\r\nfirst").await;
            tokio::time::sleep(Duration::from_millis(50)).await;
            write(&mut c, b"end").await;
        }
    })
    .await;
    let mut s = session(cfg());
    let r = s.send(get(&srv.url("http", "127.0.0.1", "/"))).await;
    assert_eq!(
        (r.status, &r.body[..]),
        (200, &b"firstend"[..]),
        "{:?}",
        r.error
    );
    assert!(
        r.timings.receiving >= Duration::from_millis(50),
        "{:?}",
        r.timings
    );
    assert_phase_identities(&r);
}

#[tokio::test]
async fn h2c_prior_knowledge() {
    let srv = plain_server().await;
    let mut s = session(HttpConfig {
        version: HttpVersionPref::H2c,
        ..cfg()
    });
    let r = s.send(get(&srv.url("http", "127.0.0.1", "/hello"))).await;
    assert_eq!(
        (r.status, r.version),
        (200, Version::HTTP_2),
        "{:?}",
        r.error
    );
    assert_eq!(seen(&r, "x-seen-host"), format!("127.0.0.1:{}", srv.port));
    let r2 = s
        .send(post(&srv.url("http", "127.0.0.1", "/echo"), b"over h2"))
        .await;
    assert_eq!((r2.status, &r2.body[..]), (200, &b"over h2"[..]));
    assert_eq!(r2.timings.connecting, Duration::ZERO);
    assert_phase_identities(&r2);
    assert_eq!(srv.connections(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_alpn_h2_trusted_through_ca_certs() {
    let p = pki();
    let srv = tls_server(&p, &[b"h2", b"http/1.1"], false).await;
    let dir = tempfile::tempdir().unwrap();
    let (ca, _, _) = p.files(dir.path());
    let mut s = session(HttpConfig {
        ca_certs: vec![ca],
        ..cfg()
    });
    let url = srv.url("https", "localhost", "/hello");
    let r1 = s.send(get(&url)).await;
    assert_eq!(
        (r1.status, r1.version, &r1.body[..]),
        (200, Version::HTTP_2, &b"hello"[..]),
        "{:?}",
        r1.error
    );
    assert!(r1.timings.tls_handshaking > Duration::ZERO);
    assert_phase_identities(&r1);
    let r2 = s.send(get(&url)).await;
    assert_eq!(r2.status, 200, "{:?}", r2.error);
    assert_eq!(r2.timings.tls_handshaking, Duration::ZERO, "handshake once");
    assert_eq!(r2.timings.connecting, Duration::ZERO);
    assert!(
        r1.bytes_received > r2.bytes_received,
        "the certificate chain is counted on the first request: {} vs {}",
        r1.bytes_received,
        r2.bytes_received
    );
    assert_eq!(srv.connections(), 1);
}

#[tokio::test]
async fn tls_insecure_skip_verify_and_http1() {
    let p = pki();
    let srv = tls_server(&p, &[b"h2", b"http/1.1"], false).await;
    for (version, expect) in [
        (HttpVersionPref::Auto, Version::HTTP_2),
        (HttpVersionPref::Http2, Version::HTTP_2),
        (HttpVersionPref::Http1, Version::HTTP_11),
    ] {
        let mut s = session(HttpConfig {
            insecure_skip_tls_verify: true,
            version,
            ..cfg()
        });
        // An IP literal: the certificate names `localhost`, which only
        // insecure mode accepts.
        let url = srv.url("https", "127.0.0.1", "/hello");
        let r = s.send(get(&url)).await;
        assert_eq!(
            (r.status, r.version),
            (200, expect),
            "{version:?}: {:?}",
            r.error
        );
        assert!(r.timings.tls_handshaking > Duration::ZERO);
        let r = s.send(get(&url)).await;
        assert_eq!(r.timings.tls_handshaking, Duration::ZERO);
    }
}

#[tokio::test]
async fn tls_server_without_h2() {
    let p = pki();
    let srv = tls_server(&p, &[b"http/1.1"], false).await;
    let insecure = HttpConfig {
        insecure_skip_tls_verify: true,
        ..cfg()
    };
    let url = srv.url("https", "localhost", "/hello");
    let r = session(insecure.clone()).send(get(&url)).await;
    assert_eq!(
        (r.status, r.version),
        (200, Version::HTTP_11),
        "{:?}",
        r.error
    );
    let r = session(HttpConfig {
        version: HttpVersionPref::Http2,
        ..insecure
    })
    .send(get(&url))
    .await;
    assert_eq!(kind(&r), Some(ErrorKind::TlsAlpn), "{:?}", r.error);
    assert_eq!(r.status, 0);
}

#[tokio::test]
async fn tls_failures() {
    let p = pki();
    let srv = tls_server(&p, &[b"h2", b"http/1.1"], false).await;
    // Not trusted: webpki roots only.
    let r = session(cfg())
        .send(get(&srv.url("https", "localhost", "/hello")))
        .await;
    assert_eq!(kind(&r), Some(ErrorKind::TlsCertificate), "{:?}", r.error);
    assert!(r.timings.blocked > Duration::ZERO, "the attempt is timed");
    assert!(r.bytes_received > 0, "the server's handshake was received");
    // Trusted CA, but the certificate is not valid for 127.0.0.1.
    let dir = tempfile::tempdir().unwrap();
    let (ca, _, _) = p.files(dir.path());
    let r = session(HttpConfig {
        ca_certs: vec![ca],
        ..cfg()
    })
    .send(get(&srv.url("https", "127.0.0.1", "/hello")))
    .await;
    assert_eq!(kind(&r), Some(ErrorKind::TlsCertificate), "{:?}", r.error);
    // TLS to a cleartext HTTP server.
    let plain = plain_server().await;
    let r = session(cfg())
        .send(get(&plain.url("https", "127.0.0.1", "/hello")))
        .await;
    assert_eq!(kind(&r), Some(ErrorKind::TlsHandshake), "{:?}", r.error);
}

#[tokio::test]
async fn a_self_signed_server_certificate_is_refused_with_the_reason_and_a_hint() {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
    // One self-signed certificate, CA flag set, used by the server and
    // trusted through caCerts: WebPKI refuses a CA as the server's own.
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let cert = params.self_signed(&key).unwrap();
    let p = Pki {
        ca_pem: cert.pem(),
        ca_der: cert.der().clone(),
        server_cert: cert.der().clone(),
        server_key: key.serialize_der(),
        client_cert_pem: String::new(),
        client_key_pem: String::new(),
    };
    let srv = tls_server(&p, &[b"http/1.1"], false).await;
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("self.pem");
    std::fs::write(&ca, &p.ca_pem).unwrap();
    let r = session(HttpConfig {
        ca_certs: vec![ca],
        ..cfg()
    })
    .send(get(&srv.url("https", "localhost", "/hello")))
    .await;
    let e = r.error.expect("refused");
    assert_eq!(e.kind, ErrorKind::TlsCertificate);
    assert!(
        e.message.contains("CaUsedAsEndEntity"),
        "the verifier's reason: {}",
        e.message
    );
    assert!(e.message.contains("hint:"), "{}", e.message);
}

#[tokio::test]
async fn mutual_tls() {
    let p = pki();
    let srv = tls_server(&p, &[b"h2", b"http/1.1"], true).await;
    let dir = tempfile::tempdir().unwrap();
    let (ca, cert, key) = p.files(dir.path());
    let url = srv.url("https", "localhost", "/hello");
    for version in [HttpVersionPref::Http1, HttpVersionPref::Auto] {
        let r = session(HttpConfig {
            ca_certs: vec![ca.clone()],
            version,
            ..cfg()
        })
        .send(get(&url))
        .await;
        // TLS 1.3 reports the refusal after the client's Finished, so it
        // may surface while sending the request: still a TLS error.
        assert_eq!(
            kind(&r),
            Some(ErrorKind::TlsHandshake),
            "{version:?}: {:?}",
            r.error
        );
        let r = session(HttpConfig {
            ca_certs: vec![ca.clone()],
            client_cert: Some(ClientCert {
                cert: cert.clone(),
                key: key.clone(),
            }),
            version,
            ..cfg()
        })
        .send(get(&url))
        .await;
        assert_eq!(
            (r.status, &r.body[..]),
            (200, &b"hello"[..]),
            "{:?}",
            r.error
        );
    }
}

#[test]
fn bad_configuration_fails_early() {
    let e = HttpClient::new(HttpConfig {
        ca_certs: vec!["/nonexistent/ca.pem".into()],
        ..cfg()
    })
    .unwrap_err();
    assert!(matches!(e, HttpConfigError::Pem { .. }), "{e}");
    assert!(e.to_string().contains("/nonexistent/ca.pem"), "{e}");
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty.pem");
    std::fs::write(&empty, "not a certificate").unwrap();
    let e = HttpClient::new(HttpConfig {
        ca_certs: vec![empty.clone()],
        ..cfg()
    })
    .unwrap_err();
    assert!(matches!(e, HttpConfigError::Pem { .. }), "{e}");
    // A client certificate whose key file holds no key.
    let p = pki();
    let (_, cert, _) = p.files(dir.path());
    let e = HttpClient::new(HttpConfig {
        client_cert: Some(ClientCert { cert, key: empty }),
        ..cfg()
    })
    .unwrap_err();
    assert!(matches!(e, HttpConfigError::Pem { .. }), "{e}");
    let e = HttpClient::new(HttpConfig {
        user_agent: Some("bad\nagent".into()),
        ..cfg()
    })
    .unwrap_err();
    assert!(matches!(e, HttpConfigError::UserAgent(_)), "{e}");
}

#[tokio::test]
async fn redirects_follow_rewrite_and_stop() {
    let srv = plain_server().await;
    let u = |p: &str| srv.url("http", "127.0.0.1", p);
    let mut s = session(cfg());
    let r = s.send(get(&u("/redirect"))).await;
    assert_eq!(
        (r.status, r.redirects, r.url.path(), &r.body[..]),
        (200, 1, "/hello", &b"hello"[..]),
        "{:?}",
        r.error
    );
    assert_phase_identities(&r);
    // 302 (relative Location "../echo") and 303: POST becomes GET without body.
    for path in ["/dir/r302", "/r303"] {
        let r = s.send(post(&u(path), b"payload")).await;
        assert_eq!((r.status, r.url.path()), (200, "/echo"), "{path}");
        assert_eq!(seen(&r, "x-method"), "GET", "{path}");
        assert!(r.body.is_empty(), "{path}");
        assert_eq!(seen(&r, "x-seen-ct"), "", "{path}: body headers dropped");
    }
    // 307/308 keep method and body.
    for path in ["/r307", "/r308"] {
        let r = s.send(post(&u(path), b"payload")).await;
        assert_eq!((r.status, r.redirects), (200, 1), "{path}");
        assert_eq!(seen(&r, "x-method"), "POST", "{path}");
        assert_eq!(&r.body[..], b"payload", "{path}");
    }
    // A loop stops after max_redirects with the last 3xx.
    let mut few = session(HttpConfig {
        max_redirects: 3,
        ..cfg()
    });
    let r = few.send(get(&u("/loop"))).await;
    assert_eq!(kind(&r), Some(ErrorKind::TooManyRedirects));
    assert_eq!((r.status, r.redirects), (302, 3));
    assert!(r.bytes_received > 0);
    let r = few.send(get(&u("/bad-location"))).await;
    assert_eq!(kind(&r), Some(ErrorKind::InvalidUrl), "{:?}", r.error);
    // max_redirects = 0: the 3xx is the response, body included.
    let mut none = session(HttpConfig {
        max_redirects: 0,
        ..cfg()
    });
    let r = none.send(get(&u("/redirect"))).await;
    assert_eq!(
        (r.status, r.redirects, &r.body[..]),
        (302, 0, &b"moved"[..])
    );
    assert!(r.error.is_none());
}

#[tokio::test]
async fn cross_host_redirect_drops_credentials() {
    let a = plain_server().await;
    let b = plain_server().await;
    // Two names for two servers: the redirect changes host.
    let mut s = session(HttpConfig {
        resolver: Resolver::fixed([
            ("a.test", vec![IpAddr::from([127, 0, 0, 1])]),
            ("b.test", vec![IpAddr::from([127, 0, 0, 1])]),
        ]),
        ..HttpConfig::default()
    });
    // A raw server redirects to an absolute URL on the other name.
    let target = b.url("http", "b.test", "/hello");
    let redirector = raw_server(move |mut c| {
        let target = target.clone();
        async move {
            while read_head(&mut c).await {
                let head = format!(
                    "HTTP/1.1 302 Found\r\nlocation: {target}\r\ncontent-length: 0\r\n\r\n"
                );
                write(&mut c, head.as_bytes()).await;
            }
        }
    })
    .await;
    let mut r = get(&redirector.url("http", "a.test", "/"));
    r.headers.insert(
        header::AUTHORIZATION,
        HeaderValue::from_static("Bearer secret"),
    );
    let r = s.send(r).await;
    assert_eq!(
        (r.status, r.url.host_str()),
        (200, Some("b.test")),
        "{:?}",
        r.error
    );
    assert_eq!(seen(&r, "x-seen-auth"), "");
    // Same host: kept.
    let mut r = get(&a.url("http", "a.test", "/r307"));
    r.headers.insert(
        header::AUTHORIZATION,
        HeaderValue::from_static("Bearer secret"),
    );
    let r = s.send(r).await;
    assert_eq!(seen(&r, "x-seen-auth"), "Bearer secret");
}

#[tokio::test]
async fn cookies_round_trip_and_apply_per_hop() {
    let srv = plain_server().await;
    let u = |p: &str| srv.url("http", "127.0.0.1", p);
    let mut s = session(cfg());
    let r = s.send(get(&u("/cookie/get"))).await;
    assert!(r.body.is_empty());
    s.send(get(&u("/cookie/set"))).await;
    let r = s.send(get(&u("/cookie/get"))).await;
    assert_eq!(&r.body[..], b"sid=abc123");
    // The caller's Cookie header is kept; the jar's cookies are appended.
    let mut own = get(&u("/cookie/get"));
    own.headers
        .insert(header::COOKIE, HeaderValue::from_static("theme=dark"));
    assert_eq!(&s.send(own).await.body[..], b"theme=dark; sid=abc123");
    s.clear_cookies();
    assert!(s.send(get(&u("/cookie/get"))).await.body.is_empty());
    assert_eq!(
        s.open_connections(),
        1,
        "clearing cookies keeps connections"
    );
    // Set on the redirect response, sent on the next hop.
    let r = s.send(get(&u("/login"))).await;
    assert_eq!((r.redirects, &r.body[..]), (1, &b"sid=abc123"[..]));
    // Without a jar nothing is stored.
    let mut off = session(HttpConfig {
        cookies: false,
        ..cfg()
    });
    off.send(get(&u("/cookie/set"))).await;
    assert!(off.send(get(&u("/cookie/get"))).await.body.is_empty());
}

#[tokio::test]
async fn compressed_bodies_are_decoded() {
    let srv = plain_server().await;
    let mut s = session(cfg());
    for path in ["/gzip", "/deflate", "/br"] {
        let r = s.send(get(&srv.url("http", "127.0.0.1", path))).await;
        assert_eq!(&r.body[..], &plain_text()[..], "{path}: {:?}", r.error);
        if path == "/gzip" {
            assert!(
                r.bytes_received < r.body.len() as u64,
                "wire bytes are the compressed size"
            );
            assert!(r.body_size < r.body.len() as u64);
        }
    }
    let r = s
        .send(get(&srv.url("http", "127.0.0.1", "/bad-gzip")))
        .await;
    assert_eq!((r.status, kind(&r)), (200, Some(ErrorKind::BodyDecode)));
    // decompress = false: no Accept-Encoding, raw bytes.
    let mut raw = session(HttpConfig {
        decompress: false,
        ..cfg()
    });
    let r = raw.send(get(&srv.url("http", "127.0.0.1", "/gzip"))).await;
    assert_eq!(seen(&r, "x-seen-ae"), "");
    assert_eq!(&r.body[..2], &[0x1f, 0x8b], "gzip magic");
}

#[tokio::test]
async fn body_limits_and_discarding() {
    let srv = plain_server().await;
    let big = srv.url("http", "127.0.0.1", "/big");
    let limited = HttpConfig {
        max_body_bytes: 1024 * 1024,
        ..cfg()
    };
    let mut s = session(limited.clone());
    let r = s.send(get(&big)).await;
    assert_eq!(kind(&r), Some(ErrorKind::BodyTooLarge));
    assert_eq!(r.status, 200, "the head that arrived is reported");
    assert!(r.body.is_empty());
    // Discarded bodies are counted, not kept, and not limited.
    let r = s
        .send_with(get(&big), SendOptions { discard_body: true })
        .await;
    assert!(r.error.is_none(), "{:?}", r.error);
    assert!(r.body.is_empty());
    assert_eq!(r.body_size, 2 * 1024 * 1024);
    assert!(r.bytes_received > 2 * 1024 * 1024);
    let mut d = session(HttpConfig {
        discard_body: true,
        ..limited
    });
    let r = d.send(get(&big)).await;
    assert_eq!(
        (r.status, r.body.len(), r.body_size),
        (200, 0, 2 * 1024 * 1024)
    );
}

#[tokio::test]
async fn kept_bodies_of_all_sessions_stay_within_one_budget() {
    let srv = plain_server().await;
    let big = srv.url("http", "127.0.0.1", "/big"); // 2 MiB
    let client = HttpClient::new(HttpConfig {
        body_budget_bytes: 3 * 1024 * 1024,
        ..cfg()
    })
    .unwrap();
    let (mut a, mut b) = (client.session(), client.session());
    let first = a.send(get(&big)).await;
    assert!(first.error.is_none(), "{:?}", first.error);
    assert_eq!(first.body.len(), 2 * 1024 * 1024);
    // While the first body is held, a second does not fit beside it.
    let second = b.send(get(&big)).await;
    assert_eq!(kind(&second), Some(ErrorKind::BodyTooLarge));
    let why = &second.error.as_ref().unwrap().message;
    assert!(why.contains("body budget of 3 MiB"), "{why}");
    // Discarded bodies take nothing from it.
    let counted = b
        .send_with(get(&big), SendOptions { discard_body: true })
        .await;
    assert!(counted.error.is_none(), "{:?}", counted.error);
    drop(first);
    let again = b.send(get(&big)).await;
    assert!(
        again.error.is_none(),
        "given back on drop: {:?}",
        again.error
    );
}

#[tokio::test]
async fn server_closing_keep_alive_is_transparent() {
    let srv = plain_server().await;
    let mut s = session(cfg());
    let r = s.send(get(&srv.url("http", "127.0.0.1", "/close"))).await;
    assert_eq!(&r.body[..], b"bye");
    let r = s.send(get(&srv.url("http", "127.0.0.1", "/hello"))).await;
    assert_eq!(r.status, 200, "{:?}", r.error);
    assert!(
        r.timings.connecting > Duration::ZERO,
        "a new connection was made"
    );
    assert_eq!(srv.connections(), 2);
    // A server that silently closes after every response (no
    // `Connection: close`): each request finds a dead connection and either
    // notices it before sending or retries once on a fresh one.
    let rude = raw_server(|mut c| async move {
        if read_head(&mut c).await {
            write(&mut c, b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok").await;
        }
    })
    .await;
    for i in 0..5 {
        let r = s.send(get(&rude.url("http", "127.0.0.1", "/"))).await;
        assert_eq!(
            (r.status, &r.body[..]),
            (200, &b"ok"[..]),
            "request {i}: {:?}",
            r.error
        );
    }
    assert_eq!(rude.connections(), 5);
}

#[tokio::test]
async fn reset_drops_connections_and_cookies() {
    let srv = plain_server().await;
    let mut s = session(cfg());
    s.send(get(&srv.url("http", "127.0.0.1", "/cookie/set")))
        .await;
    assert_eq!(s.open_connections(), 1);
    s.reset();
    assert_eq!(s.open_connections(), 0);
    let r = s
        .send(get(&srv.url("http", "127.0.0.1", "/cookie/get")))
        .await;
    assert!(r.body.is_empty());
    assert!(r.timings.connecting > Duration::ZERO);
    assert_eq!(srv.connections(), 2);
}

#[tokio::test]
async fn refused_dns_and_invalid_url() {
    let mut s = session(cfg());
    let port = free_port().await;
    let r = s.send(get(&format!("http://127.0.0.1:{port}/"))).await;
    assert_eq!(
        kind(&r),
        Some(ErrorKind::ConnectionRefused),
        "{:?}",
        r.error
    );
    assert_eq!(r.status, 0);
    assert_phase_identities(&r);
    // DNS failure through the injected resolver (no real DNS query).
    let r = s.send(get("http://service.invalid/")).await;
    assert_eq!(kind(&r), Some(ErrorKind::DnsFailure));
    let r = s.send(get("ftp://127.0.0.1/")).await;
    assert_eq!(kind(&r), Some(ErrorKind::InvalidUrl));
}

#[tokio::test]
async fn reset_and_malformed_responses() {
    let mut s = session(cfg());
    // The server reads the request and closes without answering.
    let closer = raw_server(|mut c| async move {
        read_head(&mut c).await;
    })
    .await;
    let r = s.send(get(&closer.url("http", "127.0.0.1", "/"))).await;
    assert_eq!(kind(&r), Some(ErrorKind::ConnectionReset), "{:?}", r.error);
    // The server answers half a body, then resets (RST, SO_LINGER 0).
    let rst = raw_server(|mut c| async move {
        if read_head(&mut c).await {
            write(
                &mut c,
                b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\npartial",
            )
            .await;
            let _ = c.set_zero_linger();
        }
    })
    .await;
    let r = s.send(get(&rst.url("http", "127.0.0.1", "/"))).await;
    assert_eq!(kind(&r), Some(ErrorKind::ConnectionReset), "{:?}", r.error);
    assert_eq!(r.status, 200, "the head arrived before the reset");
    // Garbage instead of HTTP.
    let garbage = raw_server(|mut c| async move {
        if read_head(&mut c).await {
            write(&mut c, b"SMTP ready, not HTTP\r\n\r\n").await;
        }
    })
    .await;
    let r = s.send(get(&garbage.url("http", "127.0.0.1", "/"))).await;
    assert_eq!(
        kind(&r),
        Some(ErrorKind::MalformedResponse),
        "{:?}",
        r.error
    );
    // h2c prior knowledge against an HTTP/1-only server.
    let h1 = raw_server(|mut c| async move {
        let mut buf = [0u8; 256];
        let _ = tokio::io::AsyncReadExt::read(&mut c, &mut buf).await;
        write(
            &mut c,
            b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n",
        )
        .await;
    })
    .await;
    let r = session(HttpConfig {
        version: HttpVersionPref::H2c,
        ..cfg()
    })
    .send(get(&h1.url("http", "127.0.0.1", "/")))
    .await;
    assert_eq!(kind(&r), Some(ErrorKind::Http2Protocol), "{:?}", r.error);
}

/// Accepts connections and never answers (for 10 s).
async fn silent_server() -> Server {
    raw_server(|c| async move {
        tokio::time::sleep(Duration::from_secs(10)).await;
        drop(c);
    })
    .await
}

/// A session keeps one timer for all its requests (moved, not re-created):
/// a nearer deadline, a later one, and one whose earlier deadline passed
/// while the session was idle must each hold exactly for their request.
#[tokio::test]
async fn one_timer_serves_every_request_of_a_session() {
    let silent = silent_server().await;
    let srv = plain_server().await;
    let mut s = session(cfg());
    let with = |url: String, ms: u64| {
        let mut r = get(&url);
        r.timeout = Some(Duration::from_millis(ms));
        r
    };
    // The default (long) deadline first, then a nearer one: it must fire.
    let ok = s.send(get(&srv.url("http", "127.0.0.1", "/hello"))).await;
    assert_eq!(ok.status, 200, "{:?}", ok.error);
    let r = tokio::time::timeout(
        Duration::from_secs(10),
        s.send(with(silent.url("http", "127.0.0.1", "/"), 200)),
    )
    .await
    .expect("the nearer deadline fired");
    assert_eq!(kind(&r), Some(ErrorKind::RequestTimeout), "{:?}", r.error);
    // A short deadline met, left to pass while idle, then a later one that a
    // 50 ms answer meets: no stale expiry.
    let fast = s
        .send(with(srv.url("http", "127.0.0.1", "/hello"), 100))
        .await;
    assert_eq!(fast.status, 200, "{:?}", fast.error);
    tokio::time::sleep(Duration::from_millis(250)).await;
    for _ in 0..3 {
        let slow = s
            .send(with(srv.url("http", "127.0.0.1", "/slow"), 5_000))
            .await;
        assert_eq!(slow.status, 200, "{:?}", slow.error);
        assert_eq!(&slow.body[..], b"slow");
    }
}

#[tokio::test]
async fn timeouts() {
    // Accepts and never answers: request timeout, and the time is recorded.
    let silent = silent_server().await;
    let mut s = session(cfg());
    let mut r = get(&silent.url("http", "127.0.0.1", "/"));
    let limit = Duration::from_millis(200);
    r.timeout = Some(limit);
    let r = s.send(r).await;
    assert_eq!(kind(&r), Some(ErrorKind::RequestTimeout), "{:?}", r.error);
    assert!(r.timings.connecting > Duration::ZERO);
    assert!(
        r.timings.total() >= limit / 2,
        "a timed-out request is not recorded as instant: {:?}",
        r.timings
    );
    assert!(r.bytes_sent > 0, "the request went out");
    assert_phase_identities(&r);
    assert_eq!(s.open_connections(), 0, "the stuck connection is dropped");
    // The session is still usable.
    let srv = plain_server().await;
    let ok = s.send(get(&srv.url("http", "127.0.0.1", "/hello"))).await;
    assert_eq!(ok.status, 200, "{:?}", ok.error);
    // A TCP listener that never speaks TLS: the connect timeout covers the
    // handshake.
    let mute = raw_server(|c| async move {
        tokio::time::sleep(Duration::from_secs(10)).await;
        drop(c);
    })
    .await;
    let mut s = session(HttpConfig {
        connect_timeout: Duration::from_millis(200),
        ..cfg()
    });
    let r = s.send(get(&mute.url("https", "127.0.0.1", "/"))).await;
    assert_eq!(kind(&r), Some(ErrorKind::ConnectTimeout), "{:?}", r.error);
    assert!(
        r.timings.blocked >= Duration::from_millis(100),
        "{:?}",
        r.timings
    );
    assert_eq!(r.timings.duration(), Duration::ZERO, "nothing was sent");
}

#[tokio::test]
async fn stale_connection_is_retried_only_when_safe() {
    // Each connection answers its first request, then reads the second one
    // and closes without a word: the client cannot notice before sending.
    let srv = raw_server(|mut c| async move {
        if read_head(&mut c).await {
            write(&mut c, b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok").await;
            read_head(&mut c).await;
        }
    })
    .await;
    let url = srv.url("http", "127.0.0.1", "/");
    let mut s = session(cfg());
    assert_eq!(s.send(get(&url)).await.status, 200);
    // GET is idempotent: retried once on a new connection.
    let r = s.send(get(&url)).await;
    assert_eq!((r.status, &r.body[..]), (200, &b"ok"[..]), "{:?}", r.error);
    assert!(
        r.timings.connecting > Duration::ZERO,
        "the retry reconnected"
    );
    assert_eq!(srv.connections(), 2);
    // POST is not: the failure is reported.
    let mut p = req(Method::POST, &url);
    p.body = Bytes::from_static(b"once");
    let r = s.send(p).await;
    assert_eq!(kind(&r), Some(ErrorKind::ConnectionReset), "{:?}", r.error);
    assert_eq!(srv.connections(), 2, "no second attempt");
}

#[tokio::test]
async fn an_idle_connection_the_server_closed_is_not_used() {
    // Each connection answers one request and closes. Once its FIN has
    // arrived, the client must notice before it sends: a POST, which is
    // never retried, would fail on the dead connection.
    let srv = raw_server(|mut c| async move {
        if read_head(&mut c).await {
            write(&mut c, b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok").await;
        }
    })
    .await;
    let url = srv.url("http", "127.0.0.1", "/");
    let mut s = session(cfg());
    for i in 0..3 {
        // Parked on epoll meanwhile, the runtime sees the FIN.
        tokio::time::sleep(Duration::from_millis(50)).await;
        let mut p = req(Method::POST, &url);
        p.body = Bytes::from_static(b"once");
        let r = s.send(p).await;
        assert_eq!(
            (r.status, &r.body[..]),
            (200, &b"ok"[..]),
            "POST {i}: {:?}",
            r.error
        );
    }
    assert_eq!(srv.connections(), 3);
}

#[tokio::test]
async fn head_requests_have_no_body() {
    let srv = plain_server().await;
    for version in [HttpVersionPref::Http1, HttpVersionPref::H2c] {
        let mut s = session(HttpConfig { version, ..cfg() });
        let r = s
            .send(req(Method::HEAD, &srv.url("http", "127.0.0.1", "/hello")))
            .await;
        assert_eq!(
            (r.status, r.body.len()),
            (200, 0),
            "{version:?}: {:?}",
            r.error
        );
        assert_eq!(seen(&r, "x-method"), "HEAD");
        let r = s.send(get(&srv.url("http", "127.0.0.1", "/hello"))).await;
        assert_eq!(
            &r.body[..],
            b"hello",
            "{version:?}: the connection is still in sync"
        );
    }
}
