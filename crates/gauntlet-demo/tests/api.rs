//! The demo service end to end: real HTTP/1.1 and h2c clients against a
//! server on 127.0.0.1 with an ephemeral port.

use bytes::Bytes;
use gauntlet_demo::{DemoConfig, DemoError, DemoServer, LatencyModel, Stall};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

type HttpClient = Client<HttpConnector, Full<Bytes>>;

struct Api {
    server: DemoServer,
    client: HttpClient,
}

#[derive(Debug)]
struct Resp {
    status: u16,
    version: http::Version,
    headers: http::HeaderMap,
    body: Bytes,
}

impl Resp {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    /// The error code, after checking the whole error shape.
    fn error_code(&self) -> String {
        assert_eq!(self.header("content-type"), "application/json", "{self:?}");
        let v = self.json();
        let e = &v["error"];
        assert!(
            e["message"].as_str().is_some_and(|m| !m.is_empty()),
            "error shape: {v}"
        );
        assert_eq!(v.as_object().map(|o| o.len()), Some(1), "only `error`: {v}");
        e["code"].as_str().unwrap_or("").to_owned()
    }
}

fn localhost() -> std::net::SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

async fn send(
    client: &HttpClient,
    base: &str,
    method: &str,
    path: &str,
    body: Option<&[u8]>,
    content_type: Option<&str>,
) -> Resp {
    let mut b = http::Request::builder()
        .method(http::Method::from_bytes(method.as_bytes()).unwrap())
        .uri(format!("{base}{path}"));
    if let Some(ct) = content_type {
        b = b.header("content-type", ct);
    }
    let req = b
        .body(Full::new(Bytes::copy_from_slice(body.unwrap_or(b""))))
        .unwrap();
    let resp = client.request(req).await.unwrap();
    let (parts, body) = resp.into_parts();
    Resp {
        status: parts.status.as_u16(),
        version: parts.version,
        headers: parts.headers,
        body: body.collect().await.unwrap().to_bytes(),
    }
}

impl Api {
    async fn start(cfg: DemoConfig) -> Api {
        let server = DemoServer::start(cfg, localhost()).await.unwrap();
        Api {
            server,
            client: Client::builder(TokioExecutor::new()).build_http(),
        }
    }

    /// A request with an optional JSON body.
    async fn call(&self, method: &str, path: &str, body: Option<&str>) -> Resp {
        let ct = body.map(|_| "application/json");
        self.raw(method, path, body.map(str::as_bytes), ct).await
    }

    async fn raw(
        &self,
        method: &str,
        path: &str,
        body: Option<&[u8]>,
        content_type: Option<&str>,
    ) -> Resp {
        send(
            &self.client,
            &self.server.base_url(),
            method,
            path,
            body,
            content_type,
        )
        .await
    }

    async fn create(&self, name: &str) -> i64 {
        let r = self
            .call(
                "POST",
                "/api/items",
                Some(&json!({"name": name}).to_string()),
            )
            .await;
        assert_eq!(r.status, 201, "{r:?}");
        r.json()["id"].as_i64().unwrap()
    }

    async fn scrape(&self) -> prometheus_parse::Scrape {
        let r = self.call("GET", "/metrics", None).await;
        assert_eq!(r.status, 200);
        assert!(
            r.header("content-type")
                .starts_with("application/openmetrics-text"),
            "{r:?}"
        );
        let text = String::from_utf8(r.body.to_vec()).unwrap();
        prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).unwrap()
    }
}

/// Sum of the samples of `name` whose labels include all of `labels`.
/// Counters parse as `Untyped` (OpenMetrics `_total`), so all scalar kinds count.
fn value(scrape: &prometheus_parse::Scrape, name: &str, labels: &[(&str, &str)]) -> f64 {
    scrape
        .samples
        .iter()
        .filter(|s| s.metric == name)
        .filter(|s| labels.iter().all(|(k, v)| s.labels.get(k) == Some(v)))
        .map(|s| match &s.value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => *v,
            prometheus_parse::Value::Histogram(buckets) => {
                buckets.iter().map(|b| b.count).fold(0.0, f64::max)
            }
            _ => 0.0,
        })
        .sum()
}

fn is_rfc3339_utc(v: &Value) -> bool {
    v.as_str()
        .is_some_and(|s| s.len() == 24 && s.ends_with('Z') && s.as_bytes()[10] == b'T')
}

#[tokio::test]
async fn the_whole_items_api_with_cache() {
    let api = Api::start(DemoConfig::default()).await;
    let r = api
        .call(
            "POST",
            "/api/items",
            Some(r#"{"name": "first", "data": {"size": 3}, "tags": ["a", "b"]}"#),
        )
        .await;
    assert_eq!(r.status, 201);
    assert_eq!(r.header("content-type"), "application/json");
    let created = r.json();
    let id = created["id"].as_i64().unwrap();
    assert_eq!(r.header("location"), format!("/api/items/{id}"));
    assert_eq!(created["name"], "first");
    assert_eq!(created["data"], json!({"size": 3}));
    assert_eq!(created["tags"], json!(["a", "b"]));
    assert_eq!(created["version"], 1);
    assert!(is_rfc3339_utc(&created["created_at"]), "{created}");
    assert_eq!(created["created_at"], created["updated_at"]);

    let item = format!("/api/items/{id}");
    let r = api.call("GET", &item, None).await;
    assert_eq!((r.status, r.header("x-cache")), (200, "MISS"));
    assert_eq!(r.json(), created);
    let r = api.call("GET", &item, None).await;
    assert_eq!((r.status, r.header("x-cache")), (200, "HIT"));
    assert_eq!(r.json(), created, "a hit answers the same item");

    let r = api
        .call("PUT", &item, Some(r#"{"name": "renamed", "tags": ["c"]}"#))
        .await;
    assert_eq!(r.status, 200);
    let updated = r.json();
    assert_eq!(updated["version"], 2);
    assert_eq!(updated["name"], "renamed");
    assert_eq!(updated["data"], Value::Null, "PUT replaces every field");
    assert_eq!(updated["created_at"], created["created_at"]);
    let r = api.call("GET", &item, None).await;
    assert_eq!(
        (r.header("x-cache"), r.json()),
        ("MISS", updated.clone()),
        "a write invalidates"
    );
    assert_eq!(api.call("GET", &item, None).await.header("x-cache"), "HIT");

    for i in 0..25 {
        api.create(&format!("bulk {i}")).await;
    }
    let r = api.call("GET", "/api/items?page=2&per_page=10", None).await;
    assert_eq!(r.status, 200);
    let page = r.json();
    assert_eq!(
        (&page["page"], &page["per_page"], &page["total"]),
        (&json!(2), &json!(10), &json!(26))
    );
    let names: Vec<&str> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 10);
    assert_eq!((names[0], names[9]), ("bulk 9", "bulk 18"), "id order");
    let r = api.call("GET", "/api/items?page=3&per_page=10", None).await;
    assert_eq!(r.json()["items"].as_array().unwrap().len(), 6);
    let r = api.call("GET", "/api/items?page=9", None).await;
    assert_eq!(
        (
            r.json()["items"].as_array().unwrap().len(),
            &r.json()["total"]
        ),
        (0, &json!(26))
    );
    let r = api.call("GET", "/api/items", None).await;
    assert_eq!(r.json()["per_page"], 20, "default page size");
    let r = api.call("GET", "/api/items?q=bulk%201", None).await;
    assert_eq!(r.json()["total"], 11, "bulk 1 and bulk 10..19");
    let r = api.call("GET", "/api/items?q=RENAMED", None).await;
    assert_eq!(r.json()["items"][0]["id"], id);
    let r = api.call("GET", "/api/items?q=%25", None).await;
    assert_eq!(r.json()["total"], 0, "% is literal");

    let r = api.call("DELETE", &item, None).await;
    assert_eq!((r.status, r.body.len()), (204, 0));
    let r = api.call("GET", &item, None).await;
    assert_eq!((r.status, r.error_code().as_str()), (404, "not_found"));
    assert_eq!(api.call("DELETE", &item, None).await.status, 404);
    let r = api.call("PUT", &item, Some(r#"{"name": "x"}"#)).await;
    assert_eq!((r.status, r.error_code().as_str()), (404, "not_found"));
    api.server.shutdown().await;
}

#[tokio::test]
async fn jobs_go_from_pending_to_done() {
    let api = Api::start(DemoConfig::default()).await;
    let r = api
        .call("POST", "/api/jobs", Some(r#"{"duration_ms": 200}"#))
        .await;
    assert_eq!(r.status, 202);
    let job = r.json();
    assert_eq!(job["status"], "pending");
    assert_eq!(job["completed_at"], Value::Null);
    assert_eq!(job["result"], Value::Null);
    assert!(is_rfc3339_utc(&job["created_at"]));
    let id = job["id"].as_u64().unwrap();
    assert_eq!(r.header("location"), format!("/api/jobs/{id}"));

    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    let done = loop {
        let r = api.call("GET", &format!("/api/jobs/{id}"), None).await;
        assert_eq!(r.status, 200);
        let v = r.json();
        let status = v["status"].as_str().unwrap().to_owned();
        if seen.last() != Some(&status) {
            seen.push(status.clone());
        }
        if status == "done" {
            break v;
        }
        assert!(Instant::now() < deadline, "never done: {seen:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    assert!(is_rfc3339_utc(&done["completed_at"]), "{done}");
    assert_eq!(done["result"]["duration_ms"], 200);
    assert_eq!(done["created_at"], job["created_at"]);
    // Polled every 10 ms, a 200 ms job is seen in order, never backwards.
    let order = ["pending", "running", "done"];
    let ranks: Vec<usize> = seen
        .iter()
        .map(|s| order.iter().position(|o| o == s).unwrap())
        .collect();
    assert!(ranks.windows(2).all(|w| w[0] < w[1]), "{seen:?}");

    let r = api.call("GET", "/api/jobs/999999", None).await;
    assert_eq!((r.status, r.error_code().as_str()), (404, "not_found"));
    let r = api.raw("POST", "/api/jobs", None, None).await;
    assert_eq!(r.status, 202, "the body is optional");
    let r = api
        .call("POST", "/api/jobs", Some(r#"{"duration_ms": 600001}"#))
        .await;
    assert_eq!(
        (r.status, r.error_code().as_str()),
        (422, "validation_failed")
    );
    api.server.shutdown().await;
}

#[tokio::test]
async fn metrics_count_a_known_sequence() {
    let api = Api::start(DemoConfig::default()).await;
    let id = api.create("m").await;
    for _ in 0..3 {
        api.call("GET", &format!("/api/items/{id}"), None).await;
    }
    api.call("GET", "/api/items/424242", None).await;
    api.call("GET", "/nowhere/1", None).await;
    api.call("GET", "/nowhere/2", None).await;
    api.call("BREW", "/api/items", None).await;
    api.call("POST", "/api/jobs", Some(r#"{"duration_ms": 600000}"#))
        .await;

    let s = api.scrape().await;
    assert_eq!(value(&s, "gauntlet_demo_cache_misses_total", &[]), 2.0);
    assert_eq!(value(&s, "gauntlet_demo_cache_hits_total", &[]), 2.0);
    assert_eq!(value(&s, "gauntlet_demo_cache_entries", &[]), 1.0);
    let item_get = [("route", "/api/items/:id"), ("method", "GET")];
    let req = "gauntlet_demo_http_requests_total";
    assert_eq!(value(&s, req, &item_get), 4.0);
    assert_eq!(
        value(&s, req, &[item_get[0], item_get[1], ("status", "200")]),
        3.0
    );
    assert_eq!(value(&s, req, &[item_get[0], ("status", "404")]), 1.0);
    assert_eq!(
        value(
            &s,
            req,
            &[
                ("route", "/api/items"),
                ("method", "POST"),
                ("status", "201")
            ]
        ),
        1.0
    );
    assert_eq!(
        value(&s, req, &[("route", "unmatched"), ("status", "404")]),
        2.0,
        "raw paths never become labels"
    );
    assert_eq!(
        value(
            &s,
            req,
            &[
                ("route", "/api/items"),
                ("method", "OTHER"),
                ("status", "405")
            ]
        ),
        1.0
    );
    assert_eq!(
        value(&s, req, &[]),
        9.0,
        "the scrape itself is not counted yet"
    );
    assert_eq!(
        value(&s, "gauntlet_demo_http_request_duration_seconds", &item_get),
        4.0,
        "+Inf bucket"
    );
    assert_eq!(
        value(
            &s,
            "gauntlet_demo_http_request_duration_seconds_count",
            &item_get
        ),
        4.0
    );
    // One create and two misses reached the pool.
    assert_eq!(
        value(
            &s,
            "gauntlet_demo_db_pool_connections_acquire_seconds_count",
            &[]
        ),
        3.0
    );
    assert_eq!(value(&s, "gauntlet_demo_db_pool_connections_max", &[]), 8.0);
    assert_eq!(
        value(&s, "gauntlet_demo_db_pool_connections_active", &[]),
        0.0
    );
    assert_eq!(
        value(&s, "gauntlet_demo_db_pool_connections_timeout_total", &[]),
        0.0
    );
    assert_eq!(
        value(&s, "gauntlet_demo_jobs", &[("status", "pending")]),
        1.0
    );
    assert_eq!(value(&s, "gauntlet_demo_jobs", &[("status", "done")]), 0.0);
    assert_eq!(value(&s, "gauntlet_demo_injected_errors_total", &[]), 0.0);

    let s = api.scrape().await;
    assert_eq!(
        value(&s, req, &[("route", "/metrics"), ("status", "200")]),
        1.0,
        "the previous scrape"
    );
    api.server.shutdown().await;
}

/// method, path, body, content type, expected status, expected error code.
type Case<'a> = (
    &'a str,
    &'a str,
    Option<&'a [u8]>,
    Option<&'a str>,
    u16,
    &'a str,
);

#[tokio::test]
async fn bad_requests_get_json_errors() {
    let api = Api::start(DemoConfig {
        max_body_bytes: 1024,
        ..DemoConfig::default()
    })
    .await;
    let id = api.create("target").await;
    let item = format!("/api/items/{id}");
    let big = format!(r#"{{"name": "{}"}}"#, "x".repeat(4096));
    let json = Some("application/json");
    let cases: Vec<Case<'_>> = vec![
        (
            "POST",
            "/api/items",
            Some(b"{not json"),
            json,
            400,
            "malformed_json",
        ),
        ("POST", "/api/items", Some(b""), json, 400, "malformed_json"),
        ("PUT", &item, Some(b"[1,"), json, 400, "malformed_json"),
        (
            "POST",
            "/api/items",
            Some(br#"{"data": 1}"#),
            json,
            422,
            "validation_failed",
        ),
        (
            "POST",
            "/api/items",
            Some(br#"{"name": 7}"#),
            json,
            422,
            "validation_failed",
        ),
        (
            "POST",
            "/api/items",
            Some(br#"{"name": ""}"#),
            json,
            422,
            "validation_failed",
        ),
        (
            "POST",
            "/api/items",
            Some(br#"["name"]"#),
            json,
            422,
            "validation_failed",
        ),
        (
            "POST",
            "/api/items",
            Some(br#"{"name": "a", "tags": [1]}"#),
            json,
            422,
            "validation_failed",
        ),
        (
            "PUT",
            &item,
            Some(br#"{"tags": []}"#),
            json,
            422,
            "validation_failed",
        ),
        (
            "POST",
            "/api/items",
            Some(big.as_bytes()),
            json,
            413,
            "payload_too_large",
        ),
        (
            "POST",
            "/api/jobs",
            Some(big.as_bytes()),
            json,
            413,
            "payload_too_large",
        ),
        (
            "POST",
            "/api/items",
            Some(br#"{"name": "a"}"#),
            None,
            415,
            "unsupported_media_type",
        ),
        (
            "POST",
            "/api/items",
            Some(br#"{"name": "a"}"#),
            Some("text/plain"),
            415,
            "unsupported_media_type",
        ),
        ("POST", "/api/jobs", Some(b"{"), None, 400, "malformed_json"),
        (
            "POST",
            "/api/jobs",
            Some(br#"{"duration_ms": "soon"}"#),
            None,
            422,
            "validation_failed",
        ),
        ("GET", "/nope", None, None, 404, "not_found"),
        ("GET", "/api/nope", None, None, 404, "not_found"),
        ("GET", "/index.html", None, None, 404, "not_found"),
        ("GET", "/api/items/abc", None, None, 400, "invalid_id"),
        ("GET", "/api/items/1.5", None, None, 400, "invalid_id"),
        (
            "GET",
            "/api/items/99999999999999999999",
            None,
            None,
            400,
            "invalid_id",
        ),
        ("DELETE", "/api/items/x", None, None, 400, "invalid_id"),
        ("GET", "/api/jobs/-1", None, None, 400, "invalid_id"),
        ("GET", "/api/items/-1", None, None, 404, "not_found"),
        ("GET", "/api/items?page=0", None, None, 400, "invalid_query"),
        (
            "GET",
            "/api/items?page=abc",
            None,
            None,
            400,
            "invalid_query",
        ),
        (
            "GET",
            "/api/items?per_page=101",
            None,
            None,
            400,
            "invalid_query",
        ),
        (
            "GET",
            "/api/items?per_page=-5",
            None,
            None,
            400,
            "invalid_query",
        ),
        ("PATCH", "/api/items", None, None, 405, "method_not_allowed"),
        (
            "DELETE",
            "/api/items",
            None,
            None,
            405,
            "method_not_allowed",
        ),
        (
            "POST",
            &item,
            Some(br#"{"name": "a"}"#),
            json,
            405,
            "method_not_allowed",
        ),
        ("GET", "/api/jobs", None, None, 405, "method_not_allowed"),
        ("POST", "/health", None, None, 405, "method_not_allowed"),
        ("BREW", "/api/items", None, None, 405, "method_not_allowed"),
    ];
    for (method, path, body, ct, status, code) in cases {
        let r = api.raw(method, path, body, ct).await;
        assert_eq!(
            (r.status, r.error_code().as_str()),
            (status, code),
            "{method} {path} {:?}",
            body.map(String::from_utf8_lossy)
        );
    }
    // None of that changed the item.
    let r = api.call("GET", &item, None).await;
    assert_eq!((r.status, &r.json()["version"]), (200, &json!(1)));
    api.server.shutdown().await;
}

#[tokio::test]
async fn hostile_inputs_never_break_the_service() {
    let api = Api::start(DemoConfig::default()).await;
    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let deep_name = format!(r#"{{"name": "deep", "data": {deep}}}"#);
    let bodies: Vec<&[u8]> = vec![
        b"\xff\xfe\x00",
        b"null",
        b"\"just a string\"",
        br#"{"name": "\ud800"}"#,
        deep_name.as_bytes(),
        deep.as_bytes(),
    ];
    for body in bodies {
        for (method, path) in [
            ("POST", "/api/items"),
            ("PUT", "/api/items/1"),
            ("POST", "/api/jobs"),
        ] {
            let r = api
                .raw(method, path, Some(body), Some("application/json"))
                .await;
            assert!(r.status < 500, "{method} {path}: {}", r.status);
            if r.status >= 400 {
                r.error_code();
            }
        }
    }
    for path in [
        "/api/items?page=%ZZ",
        "/api/items?page=1&page=2",
        "/api/items?q=%00%27%22;--",
        "/api/items/%00",
        "/api/jobs/18446744073709551616",
        "/api/items/1/extra",
        "//api//items",
    ] {
        let r = api.call("GET", path, None).await;
        assert!(
            r.status == 200 || (400..500).contains(&r.status),
            "{path}: {r:?}"
        );
        if r.status != 200 {
            r.error_code();
        }
    }
    let r = api.call("GET", "/health", None).await;
    assert_eq!((r.status, r.json()), (200, json!({"status": "ok"})));
    api.server.shutdown().await;
}

#[tokio::test]
async fn login_then_me_with_the_token() {
    let api = Api::start(DemoConfig::default()).await;
    let r = api
        .call(
            "POST",
            "/api/login",
            Some(r#"{"username": "ann", "password": "pw-ann"}"#),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json(), json!({"token": "tok-ann", "username": "ann"}));
    let me = |auth: Option<&'static str>| {
        let (client, base) = (api.client.clone(), api.server.base_url());
        async move {
            let mut b = http::Request::builder().uri(format!("{base}/api/me"));
            if let Some(a) = auth {
                b = b.header("authorization", a);
            }
            let resp = client
                .request(b.body(Full::new(Bytes::new())).unwrap())
                .await
                .unwrap();
            let (parts, body) = resp.into_parts();
            Resp {
                status: parts.status.as_u16(),
                version: parts.version,
                headers: parts.headers,
                body: body.collect().await.unwrap().to_bytes(),
            }
        }
    };
    let r = me(Some("Bearer tok-ann")).await;
    assert_eq!((r.status, r.json()), (200, json!({"username": "ann"})));
    for bad in [
        None,
        Some("Bearer nope"),
        Some("Basic YW5uOnB3"),
        Some("Bearer tok-"),
    ] {
        let r = me(bad).await;
        assert_eq!(
            (r.status, r.error_code().as_str()),
            (401, "unauthorized"),
            "{bad:?}"
        );
        assert_eq!(r.header("www-authenticate"), "Bearer");
    }
    for (body, status, code) in [
        (
            r#"{"username": "ann", "password": "nope"}"#,
            401,
            "invalid_credentials",
        ),
        (r#"{"username": "ann"}"#, 401, "invalid_credentials"),
        (
            r#"{"username": "a n", "password": "pw-a n"}"#,
            422,
            "validation_failed",
        ),
        (r#"{"password": "pw-"}"#, 422, "validation_failed"),
        (r#"{"username": "#, 400, "malformed_json"),
    ] {
        let r = api.call("POST", "/api/login", Some(body)).await;
        assert_eq!(
            (r.status, r.error_code().as_str()),
            (status, code),
            "{body}"
        );
    }
    let s = api.scrape().await;
    assert_eq!(
        value(
            &s,
            "gauntlet_demo_http_requests_total",
            &[("route", "/api/me"), ("status", "401")]
        ),
        4.0
    );
    api.server.shutdown().await;
}

#[tokio::test]
async fn h2c_and_http1_share_the_port() {
    let api = Api::start(DemoConfig::default()).await;
    let h2: HttpClient = Client::builder(TokioExecutor::new())
        .http2_only(true)
        .build_http();
    let base = api.server.base_url();
    let r = send(&h2, &base, "GET", "/health", None, None).await;
    assert_eq!((r.status, r.version), (200, http::Version::HTTP_2));
    let r = send(
        &h2,
        &base,
        "POST",
        "/api/items",
        Some(br#"{"name": "over h2"}"#),
        Some("application/json"),
    )
    .await;
    assert_eq!((r.status, r.version), (201, http::Version::HTTP_2));
    let r = api.call("GET", r.header("location"), None).await;
    assert_eq!((r.status, r.version), (200, http::Version::HTTP_11));
    assert_eq!(r.json()["name"], "over h2");
    api.server.shutdown().await;
}

#[tokio::test]
async fn concurrent_writes_through_a_small_pool() {
    let api = std::sync::Arc::new(
        Api::start(DemoConfig {
            pool_size: 2,
            ..DemoConfig::default()
        })
        .await,
    );
    let tasks: Vec<_> = (0..64)
        .map(|i| {
            let api = api.clone();
            tokio::spawn(async move { api.create(&format!("c{i}")).await })
        })
        .collect();
    let mut ids = Vec::new();
    for t in tasks {
        ids.push(t.await.unwrap());
    }
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 64, "every create got its own id");
    let r = api.call("GET", "/api/items?per_page=1", None).await;
    assert_eq!(r.json()["total"], 64);
    let s = api.scrape().await;
    assert_eq!(value(&s, "gauntlet_demo_db_pool_connections_max", &[]), 2.0);
    assert_eq!(
        value(&s, "gauntlet_demo_db_pool_connections_active", &[]),
        0.0
    );
    assert_eq!(
        value(
            &s,
            "gauntlet_demo_db_pool_connections_acquire_seconds_count",
            &[]
        ),
        65.0
    );
}

#[tokio::test]
async fn seeded_items_are_there_from_the_start() {
    let api = Api::start(DemoConfig {
        seed_items: 120,
        ..DemoConfig::default()
    })
    .await;
    let r = api.call("GET", "/api/items?per_page=100", None).await;
    assert_eq!(r.json()["total"], 120);
    assert_eq!(r.json()["items"].as_array().unwrap().len(), 100);
    let r = api.call("GET", "/api/items?q=seed%20item%2011", None).await;
    assert_eq!(r.json()["total"], 11, "11 and 110..119");
    let r = api.call("GET", "/api/items/1", None).await;
    assert_eq!(
        (&r.json()["name"], &r.json()["data"]),
        (&json!("seed item 0"), &json!({"n": 0}))
    );
    api.server.shutdown().await;
}

#[tokio::test]
async fn error_rate_one_fails_all_api_requests_only() {
    let api = Api::start(DemoConfig {
        error_rate: 1.0,
        ..DemoConfig::default()
    })
    .await;
    for (method, path, body) in [
        ("GET", "/api/items", None),
        ("POST", "/api/items", Some(r#"{"name": "x"}"#)),
        ("GET", "/api/items/1", None),
        ("POST", "/api/jobs", None),
        ("GET", "/api/nope", None),
    ] {
        let r = api.call(method, path, body).await;
        assert_eq!(
            (r.status, r.error_code().as_str()),
            (500, "injected_error"),
            "{method} {path}"
        );
    }
    let r = api.call("GET", "/health", None).await;
    assert_eq!(r.status, 200, "faults only apply to /api");
    let s = api.scrape().await;
    assert_eq!(value(&s, "gauntlet_demo_injected_errors_total", &[]), 5.0);
    assert_eq!(
        value(
            &s,
            "gauntlet_demo_http_requests_total",
            &[("status", "500")]
        ),
        5.0
    );
    api.server.shutdown().await;
}

#[tokio::test]
async fn fixed_latency_delays_api_requests() {
    let api = Api::start(DemoConfig {
        latency: LatencyModel::Fixed(Duration::from_millis(50)),
        ..DemoConfig::default()
    })
    .await;
    for path in ["/api/items", "/api/items/1"] {
        let t = Instant::now();
        api.call("GET", path, None).await;
        assert!(t.elapsed() >= Duration::from_millis(50), "{path}");
    }
    let s = api.scrape().await;
    let slow = s
        .samples
        .iter()
        .find(|x| {
            x.metric == "gauntlet_demo_http_request_duration_seconds"
                && x.labels.get("route") == Some("/api/items")
        })
        .unwrap();
    let prometheus_parse::Value::Histogram(buckets) = &slow.value else {
        panic!("histogram expected");
    };
    let below_50ms: f64 = buckets
        .iter()
        .filter(|b| b.less_than < 0.05)
        .map(|b| b.count)
        .fold(0.0, f64::max);
    assert_eq!(below_50ms, 0.0, "the server measured the delay too");
    api.server.shutdown().await;
}

#[tokio::test]
async fn a_stall_holds_api_responses_but_not_health() {
    let stall = Duration::from_secs(2);
    let t0 = Instant::now();
    let api = std::sync::Arc::new(
        Api::start(DemoConfig {
            stall: Some(Stall {
                every: Duration::from_secs(3600),
                duration: stall,
            }),
            ..DemoConfig::default()
        })
        .await,
    );
    // The first stall starts with the server.
    let held = tokio::spawn({
        let api = api.clone();
        async move { api.call("GET", "/api/items", None).await.status }
    });
    let r = api.call("GET", "/health", None).await;
    assert_eq!(r.status, 200);
    assert!(!held.is_finished(), "/api is held while /health answers");
    assert_eq!(held.await.unwrap(), 200);
    assert!(t0.elapsed() >= stall, "held until the stall ended");
}

#[tokio::test]
async fn shutdown_cuts_stalls_short_and_removes_the_database() {
    let api = Api::start(DemoConfig {
        stall: Some(Stall {
            every: Duration::from_secs(7200),
            duration: Duration::from_secs(3600),
        }),
        ..DemoConfig::default()
    })
    .await;
    let db = api.server.db_path().to_owned();
    assert!(db.exists());
    let addr = api.server.local_addr();
    let held = tokio::spawn({
        let (client, base) = (api.client.clone(), api.server.base_url());
        async move {
            send(&client, &base, "GET", "/api/items", None, None)
                .await
                .status
        }
    });
    // Nothing observable says "the request is parked in the stall"; give it
    // time to arrive. (If it came too late it would fail to connect below.)
    tokio::time::sleep(Duration::from_millis(300)).await;
    let done = tokio::time::timeout(Duration::from_secs(30), async move {
        api.server.shutdown().await;
        held.await.unwrap()
    })
    .await;
    assert_eq!(done.ok(), Some(200), "the held request was answered");
    assert!(!db.exists(), "temporary database removed");
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "no longer listening"
    );
}

#[tokio::test]
async fn a_database_file_outlives_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = DemoConfig {
        db_path: Some(dir.path().join("keep.sqlite")),
        ..DemoConfig::default()
    };
    let api = Api::start(cfg.clone()).await;
    let id = api.create("persistent").await;
    api.server.shutdown().await;
    let api = Api::start(cfg).await;
    let r = api.call("GET", &format!("/api/items/{id}"), None).await;
    assert_eq!((r.status, &r.json()["name"]), (200, &json!("persistent")));
    api.server.shutdown().await;
}

#[tokio::test]
async fn start_rejects_bad_settings_and_busy_ports() {
    let bad = [
        DemoConfig {
            error_rate: f64::NAN,
            ..DemoConfig::default()
        },
        DemoConfig {
            error_rate: 1.5,
            ..DemoConfig::default()
        },
        DemoConfig {
            pool_size: 0,
            ..DemoConfig::default()
        },
        DemoConfig {
            stall: Some(Stall {
                every: Duration::from_secs(1),
                duration: Duration::from_secs(1),
            }),
            ..DemoConfig::default()
        },
        DemoConfig {
            latency: LatencyModel::LogNormal {
                median: Duration::ZERO,
                p99: Duration::from_millis(5),
            },
            ..DemoConfig::default()
        },
    ];
    for cfg in bad {
        let e = DemoServer::start(cfg.clone(), localhost())
            .await
            .unwrap_err();
        assert!(matches!(e, DemoError::InvalidConfig { .. }), "{cfg:?}: {e}");
    }
    let api = Api::start(DemoConfig::default()).await;
    let e = DemoServer::start(DemoConfig::default(), api.server.local_addr())
        .await
        .unwrap_err();
    assert!(matches!(e, DemoError::Bind { .. }), "{e}");
    let e = DemoServer::start(
        DemoConfig {
            db_path: Some("/nonexistent-dir/x/demo.sqlite".into()),
            ..DemoConfig::default()
        },
        localhost(),
    )
    .await
    .unwrap_err();
    assert!(matches!(e, DemoError::Database { .. }), "{e}");
    api.server.shutdown().await;
}

#[tokio::test]
async fn the_bare_url_answers_with_the_endpoints() {
    let api = Api::start(DemoConfig::default()).await;
    let r = api.call("GET", "/", None).await;
    assert_eq!(r.status, 200);
    let endpoints = r.json()["endpoints"].clone();
    assert!(
        endpoints
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e == "/api/items"),
        "{endpoints}"
    );
}
