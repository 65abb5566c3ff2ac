//! The demo API end to end over real HTTP on 127.0.0.1.

use bytes::Bytes;
use gauntlet_demo::{DemoConfig, DemoServer, LatencyModel, Stall};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

struct Api {
    server: DemoServer,
    client: Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>,
}

struct Resp {
    status: u16,
    headers: http::HeaderMap,
    body: Bytes,
}

impl Resp {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
    fn error_code(&self) -> String {
        self.json()["error"]["code"]
            .as_str()
            .unwrap_or("")
            .to_owned()
    }
}

impl Api {
    async fn start(cfg: DemoConfig) -> Api {
        let server = DemoServer::start(cfg, "127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        Api {
            server,
            client: Client::builder(TokioExecutor::new()).build_http(),
        }
    }

    async fn call(&self, method: &str, path: &str, body: Option<&str>) -> Resp {
        let mut b = http::Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.server.base_url()));
        if body.is_some() {
            b = b.header("content-type", "application/json");
        }
        let req = b
            .body(Full::new(Bytes::from(body.unwrap_or("").to_owned())))
            .unwrap();
        let resp = self.client.request(req).await.unwrap();
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        Resp {
            status,
            headers,
            body,
        }
    }
}

#[tokio::test]
async fn the_whole_items_api_with_cache() {
    let api = Api::start(DemoConfig::default()).await;
    let r = api
        .call(
            "POST",
            "/api/items",
            Some(r#"{"name": "first", "data": {"size": 3}, "tags": ["a"]}"#),
        )
        .await;
    assert_eq!(r.status, 201);
    let id = r.json()["id"].as_i64().unwrap();
    assert_eq!(r.headers["location"], format!("/api/items/{id}").as_str());
    assert_eq!(r.json()["version"], 1);
    let r = api.call("GET", &format!("/api/items/{id}"), None).await;
    assert_eq!(
        (r.status, r.headers["x-cache"].to_str().unwrap()),
        (200, "MISS")
    );
    assert_eq!(r.json()["data"], json!({"size": 3}));
    let r = api.call("GET", &format!("/api/items/{id}"), None).await;
    assert_eq!(
        r.headers["x-cache"], "HIT",
        "second read comes from the cache"
    );
    let r = api
        .call(
            "PUT",
            &format!("/api/items/{id}"),
            Some(r#"{"name": "renamed"}"#),
        )
        .await;
    assert_eq!((r.status, r.json()["version"].as_i64()), (200, Some(2)));
    let r = api.call("GET", &format!("/api/items/{id}"), None).await;
    assert_eq!(
        (
            r.headers["x-cache"].to_str().unwrap(),
            r.json()["name"].as_str()
        ),
        ("MISS", Some("renamed")),
        "writes invalidate"
    );
    for i in 0..25 {
        api.call(
            "POST",
            "/api/items",
            Some(&format!(r#"{{"name": "bulk {i}"}}"#)),
        )
        .await;
    }
    let r = api.call("GET", "/api/items?page=2&per_page=10", None).await;
    assert_eq!(
        (
            r.json()["total"].as_i64(),
            r.json()["items"].as_array().unwrap().len()
        ),
        (Some(26), 10)
    );
    let r = api.call("GET", "/api/items?q=bulk%201", None).await;
    assert_eq!(r.json()["total"], 11, "bulk 1 and bulk 10..19");
    assert_eq!(
        api.call("DELETE", &format!("/api/items/{id}"), None)
            .await
            .status,
        204
    );
    assert_eq!(
        api.call("GET", &format!("/api/items/{id}"), None)
            .await
            .status,
        404
    );
    assert_eq!(
        api.call("DELETE", &format!("/api/items/{id}"), None)
            .await
            .status,
        404
    );
    api.server.shutdown().await;
}

#[tokio::test]
async fn jobs_go_from_pending_to_done() {
    let api = Api::start(DemoConfig::default()).await;
    let r = api
        .call("POST", "/api/jobs", Some(r#"{"duration_ms": 300}"#))
        .await;
    assert_eq!(r.status, 202);
    assert_eq!(r.json()["status"], "pending");
    let id = r.json()["id"].as_u64().unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let r = api.call("GET", &format!("/api/jobs/{id}"), None).await;
        if r.json()["status"] == "done" {
            assert!(r.json()["completed_at"].is_string());
            assert!(r.json()["result"].is_object());
            break;
        }
        assert!(Instant::now() < deadline, "job never finished");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(api.call("GET", "/api/jobs/999999", None).await.status, 404);
    let r = api.call("POST", "/api/jobs", None).await;
    assert_eq!(r.status, 202, "a body is optional");
}

#[tokio::test]
async fn metrics_parse_with_a_prometheus_parser() {
    let api = Api::start(DemoConfig::default()).await;
    let r = api
        .call("POST", "/api/items", Some(r#"{"name": "m"}"#))
        .await;
    let id = r.json()["id"].as_i64().unwrap();
    for _ in 0..3 {
        api.call("GET", &format!("/api/items/{id}"), None).await;
    }
    let text = api.call("GET", "/metrics", None).await;
    let body = String::from_utf8(text.body.to_vec()).unwrap();
    let lines = body.lines().map(|l| Ok(l.to_owned()));
    let scrape = prometheus_parse::Scrape::parse(lines).unwrap();
    let value = |name: &str, label: Option<(&str, &str)>| -> f64 {
        scrape
            .samples
            .iter()
            .filter(|s| s.metric == name && label.is_none_or(|(k, v)| s.labels.get(k) == Some(v)))
            .map(|s| match s.value {
                prometheus_parse::Value::Counter(v)
                | prometheus_parse::Value::Gauge(v)
                | prometheus_parse::Value::Untyped(v) => v,
                _ => 0.0,
            })
            .sum()
    };
    assert_eq!(value("gauntlet_demo_cache_misses_total", None), 1.0);
    assert_eq!(value("gauntlet_demo_cache_hits_total", None), 2.0);
    assert_eq!(
        value(
            "gauntlet_demo_http_requests_total",
            Some(("route", "/api/items/:id"))
        ),
        3.0
    );
    assert_eq!(
        value("gauntlet_demo_http_requests_total", Some(("status", "201"))),
        1.0
    );
    assert_eq!(value("gauntlet_demo_db_pool_size", None), 8.0);
    assert!(scrape.samples.iter().any(|s| {
        s.metric
            .starts_with("gauntlet_demo_http_request_duration_seconds")
    }));
    assert!(
        scrape
            .samples
            .iter()
            .any(|s| s.metric.starts_with("gauntlet_demo_db_pool_wait_seconds"))
    );
}

#[tokio::test]
async fn bad_requests_get_json_errors() {
    let api = Api::start(DemoConfig {
        max_body_bytes: 1024,
        ..Default::default()
    })
    .await;
    let r = api.call("POST", "/api/items", Some("{not json")).await;
    assert_eq!((r.status, r.error_code().as_str()), (400, "malformed_json"));
    let r = api.call("POST", "/api/items", Some(r#"{"data": 1}"#)).await;
    assert_eq!(
        (r.status, r.error_code().as_str()),
        (422, "validation_failed")
    );
    let big = format!(r#"{{"name": "{}"}}"#, "x".repeat(4096));
    let r = api.call("POST", "/api/items", Some(&big)).await;
    assert_eq!(
        (r.status, r.error_code().as_str()),
        (413, "payload_too_large")
    );
    let r = api.call("GET", "/nope", None).await;
    assert_eq!((r.status, r.error_code().as_str()), (404, "not_found"));
    let r = api.call("GET", "/api/items/abc", None).await;
    assert_eq!((r.status, r.error_code().as_str()), (400, "invalid_id"));
    let r = api.call("GET", "/api/items?page=0", None).await;
    assert_eq!((r.status, r.error_code().as_str()), (400, "invalid_query"));
    let r = api.call("PATCH", "/api/items", None).await;
    assert_eq!(
        (r.status, r.error_code().as_str()),
        (405, "method_not_allowed")
    );
}

#[tokio::test]
async fn injected_faults() {
    let api = Api::start(DemoConfig {
        error_rate: 1.0,
        ..Default::default()
    })
    .await;
    let r = api.call("GET", "/api/items", None).await;
    assert_eq!((r.status, r.error_code().as_str()), (500, "injected_error"));
    assert_eq!(
        api.call("GET", "/health", None).await.status,
        200,
        "faults only apply to /api"
    );
    let api = Api::start(DemoConfig {
        latency: LatencyModel::Fixed(Duration::from_millis(50)),
        ..Default::default()
    })
    .await;
    let t = Instant::now();
    assert_eq!(api.call("GET", "/api/items", None).await.status, 200);
    assert!(t.elapsed() >= Duration::from_millis(50));
    let api = Api::start(DemoConfig {
        stall: Some(Stall {
            every: Duration::from_secs(60),
            duration: Duration::from_millis(300),
        }),
        ..Default::default()
    })
    .await;
    let t = Instant::now();
    assert_eq!(api.call("GET", "/api/items", None).await.status, 200);
    assert!(
        t.elapsed() >= Duration::from_millis(250),
        "the first request lands in the stall"
    );
}

#[tokio::test]
async fn login_and_me() {
    let api = Api::start(DemoConfig::default()).await;
    let r = api
        .call(
            "POST",
            "/api/login",
            Some(r#"{"username": "ann", "password": "pw-ann"}"#),
        )
        .await;
    assert_eq!(
        (r.status, r.json()["token"].as_str()),
        (200, Some("tok-ann"))
    );
    let r = api
        .call(
            "POST",
            "/api/login",
            Some(r#"{"username": "ann", "password": "nope"}"#),
        )
        .await;
    assert_eq!(
        (r.status, r.error_code().as_str()),
        (401, "invalid_credentials")
    );
    let req = http::Request::builder()
        .uri(format!("{}/api/me", api.server.base_url()))
        .header("authorization", "Bearer tok-ann")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let resp = api.client.request(req).await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(api.call("GET", "/api/me", None).await.status, 401);
}
