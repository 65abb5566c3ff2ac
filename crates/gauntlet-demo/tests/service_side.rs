//! What the demo exposes for the bottleneck rules and the campaign, over
//! real HTTP on 127.0.0.1: the pool's waiting clients, the cache's header
//! against its counters, CPU work, the worker pool of known capacity and the
//! overload with a known recovery. Every count is checked against the
//! requests the test made.

use bytes::Bytes;
use gauntlet_demo::{DemoConfig, DemoServer, Overload};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;

type HttpClient = Client<HttpConnector, Full<Bytes>>;

struct Demo {
    server: DemoServer,
    client: HttpClient,
}

struct Resp {
    status: u16,
    x_cache: Option<String>,
    body: Bytes,
}

impl Resp {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
}

impl Demo {
    async fn start(cfg: DemoConfig) -> Arc<Demo> {
        let server = DemoServer::start(cfg, "127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        Arc::new(Demo {
            server,
            client: Client::builder(TokioExecutor::new()).build_http(),
        })
    }

    async fn call(&self, method: &str, path: &str, json: Option<&str>) -> Resp {
        let mut b = http::Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.server.base_url()));
        if json.is_some() {
            b = b.header("content-type", "application/json");
        }
        let req = b
            .body(Full::new(Bytes::copy_from_slice(
                json.unwrap_or("").as_bytes(),
            )))
            .unwrap();
        let resp = self.client.request(req).await.unwrap();
        let (parts, body) = resp.into_parts();
        Resp {
            status: parts.status.as_u16(),
            x_cache: parts
                .headers
                .get("x-cache")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
            body: body.collect().await.unwrap().to_bytes(),
        }
    }

    async fn get(&self, path: &str) -> Resp {
        self.call("GET", path, None).await
    }

    async fn create(&self, name: &str) -> i64 {
        let r = self
            .call(
                "POST",
                "/api/items",
                Some(&format!(r#"{{"name": "{name}"}}"#)),
            )
            .await;
        assert_eq!(r.status, 201);
        r.json()["id"].as_i64().unwrap()
    }

    async fn scrape(&self) -> prometheus_parse::Scrape {
        let r = self.get("/metrics").await;
        assert_eq!(r.status, 200);
        let text = String::from_utf8(r.body.to_vec()).unwrap();
        prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).unwrap()
    }

    /// Sum of the samples of `name` whose labels include `labels`.
    async fn metric(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        value(&self.scrape().await, name, labels)
    }
}

fn value(s: &prometheus_parse::Scrape, name: &str, labels: &[(&str, &str)]) -> f64 {
    s.samples
        .iter()
        .filter(|x| x.metric == name)
        .filter(|x| labels.iter().all(|(k, v)| x.labels.get(k) == Some(v)))
        .map(|x| match &x.value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => *v,
            _ => 0.0,
        })
        .sum()
}

#[tokio::test]
async fn clients_beyond_the_pool_size_are_shown_waiting_on_metrics() {
    let demo = Demo::start(DemoConfig {
        pool_size: 2,
        query_time: Duration::from_millis(1000),
        ..DemoConfig::default()
    })
    .await;
    // Six slow list queries on two connections: four must wait.
    let tasks: Vec<_> = (0..6)
        .map(|_| {
            let d = demo.clone();
            tokio::spawn(async move { d.get("/api/items?per_page=1").await.status })
        })
        .collect();
    let mut most_waiting = 0.0f64;
    let mut active_then = 0.0;
    loop {
        let s = demo.scrape().await;
        let waiting = value(&s, "gauntlet_demo_db_pool_connections_pending", &[]);
        if waiting > most_waiting {
            most_waiting = waiting;
            active_then = value(&s, "gauntlet_demo_db_pool_connections_active", &[]);
        }
        if most_waiting >= 4.0 || tasks.iter().all(|t| t.is_finished()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!((most_waiting, active_then), (4.0, 2.0));
    for t in tasks {
        assert_eq!(t.await.unwrap(), 200);
    }
    let s = demo.scrape().await;
    assert_eq!(
        value(&s, "gauntlet_demo_db_pool_connections_pending", &[]),
        0.0
    );
    assert_eq!(
        value(&s, "gauntlet_demo_db_pool_connections_active", &[]),
        0.0
    );
    assert_eq!(
        value(&s, "gauntlet_demo_db_pool_connections_idle", &[]),
        2.0
    );
    assert_eq!(value(&s, "gauntlet_demo_db_pool_connections_max", &[]), 2.0);
    assert_eq!(
        value(
            &s,
            "gauntlet_demo_db_pool_connections_acquire_seconds_count",
            &[]
        ),
        6.0,
        "one acquisition per request"
    );
    assert_eq!(
        value(
            &s,
            "gauntlet_demo_db_pool_connections_usage_seconds_count",
            &[]
        ),
        6.0
    );
    assert_eq!(
        value(&s, "gauntlet_demo_db_pool_connections_timeout_total", &[]),
        0.0
    );
}

#[tokio::test]
async fn a_pool_timeout_is_a_503_and_counted() {
    let demo = Demo::start(DemoConfig {
        pool_size: 1,
        pool_timeout: Duration::from_millis(100),
        query_time: Duration::from_millis(1500),
        ..DemoConfig::default()
    })
    .await;
    let slow = tokio::spawn({
        let d = demo.clone();
        async move { d.get("/api/items").await.status }
    });
    while demo
        .metric("gauntlet_demo_db_pool_connections_active", &[])
        .await
        < 1.0
    {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let r = demo.get("/api/items").await;
    assert_eq!(
        (r.status, r.json()["error"]["code"].clone()),
        (503, "pool_exhausted".into())
    );
    assert_eq!(slow.await.unwrap(), 200);
    assert_eq!(
        demo.metric("gauntlet_demo_db_pool_connections_timeout_total", &[])
            .await,
        1.0
    );
}

#[tokio::test]
async fn x_cache_headers_add_up_to_the_cache_counters() {
    let demo = Demo::start(DemoConfig::default()).await;
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(demo.create(&format!("c{i}")).await);
    }
    let (mut hits, mut misses) = (0, 0);
    let mut count = |r: &Resp| match r.x_cache.as_deref() {
        Some("HIT") => hits += 1,
        Some("MISS") => misses += 1,
        other => panic!("every item read says HIT or MISS, got {other:?}"),
    };
    for round in 0..4 {
        for (k, id) in ids.iter().enumerate() {
            if (k + round) % 3 == 0 {
                count(&demo.get(&format!("/api/items/{id}")).await);
            }
        }
        // A write in between makes the next read a miss.
        let body = format!(r#"{{"name": "u{round}"}}"#);
        let r = demo
            .call("PUT", &format!("/api/items/{}", ids[round]), Some(&body))
            .await;
        assert_eq!(r.status, 200);
        // Unknown ids miss too, and say so.
        let r = demo.get("/api/items/99999").await;
        assert_eq!((r.status, r.x_cache.as_deref()), (404, Some("MISS")));
        count(&r);
    }
    // A bad id never reaches the cache: no header, not counted.
    let r = demo.get("/api/items/abc").await;
    assert_eq!((r.status, r.x_cache), (400, None));

    let s = demo.scrape().await;
    assert!(hits > 0 && misses > 0, "{hits} hits, {misses} misses");
    assert_eq!(
        value(&s, "gauntlet_demo_cache_hits_total", &[]),
        f64::from(hits)
    );
    assert_eq!(
        value(&s, "gauntlet_demo_cache_misses_total", &[]),
        f64::from(misses)
    );
}

#[tokio::test]
async fn the_compute_endpoint_does_the_rounds_it_is_asked_for() {
    let demo = Demo::start(DemoConfig {
        compute_rounds: 5000,
        ..DemoConfig::default()
    })
    .await;
    let a = demo.get("/api/compute?rounds=20000").await;
    let b = demo.get("/api/compute?rounds=20000").await;
    let c = demo.get("/api/compute").await;
    assert_eq!((a.status, b.status, c.status), (200, 200, 200));
    assert_eq!(a.json()["rounds"], 20000);
    assert_eq!(c.json()["rounds"], 5000);
    assert_eq!(a.json()["checksum"], b.json()["checksum"], "deterministic");
    assert_ne!(a.json()["checksum"], c.json()["checksum"]);
    for bad in ["rounds=-1", "rounds=x", "rounds=1000000001"] {
        let r = demo.get(&format!("/api/compute?{bad}")).await;
        assert_eq!(
            (r.status, r.json()["error"]["code"].clone()),
            (400, "invalid_query".into()),
            "{bad}"
        );
    }
    assert_eq!(
        demo.metric("gauntlet_demo_compute_rounds_total", &[]).await,
        45000.0
    );
    assert_eq!(
        demo.metric(
            "gauntlet_demo_http_requests_total",
            &[("route", "/api/compute"), ("status", "200")]
        )
        .await,
        3.0
    );
}

#[tokio::test]
async fn the_worker_pool_serves_its_workers_queues_the_next_and_refuses_the_rest() {
    let demo = Demo::start(DemoConfig {
        workers: 2,
        service_time: Duration::from_millis(1500),
        work_queue: 2,
        ..DemoConfig::default()
    })
    .await;
    let tasks: Vec<_> = (0..4)
        .map(|_| {
            let d = demo.clone();
            tokio::spawn(async move { d.get("/api/work").await })
        })
        .collect();
    // Two busy and two queued; the fifth and sixth are refused.
    loop {
        let s = demo.scrape().await;
        let (busy, queued) = (
            value(&s, "gauntlet_demo_workers_busy", &[]),
            value(&s, "gauntlet_demo_workers_queued", &[]),
        );
        if (busy, queued) == (2.0, 2.0) {
            break;
        }
        assert!(
            !tasks.iter().all(|t| t.is_finished()),
            "never saw 2 busy and 2 queued (last {busy}, {queued})"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    for _ in 0..2 {
        let r = demo.get("/api/work").await;
        assert_eq!(
            (r.status, r.json()["error"]["code"].clone()),
            (503, "queue_full".into())
        );
    }
    let mut workers = Vec::new();
    let mut waited = 0;
    for t in tasks {
        let r = t.await.unwrap();
        assert_eq!(r.status, 200);
        let v = r.json();
        assert_eq!(v["service_ms"], 1500.0);
        workers.push(v["worker"].as_u64().unwrap());
        if v["queued_ms"].as_f64().unwrap() > 0.0 {
            waited += 1;
        }
    }
    workers.sort_unstable();
    assert_eq!(workers, vec![0, 0, 1, 1], "each worker served two");
    assert_eq!(waited, 2);
    let s = demo.scrape().await;
    assert_eq!(value(&s, "gauntlet_demo_workers", &[]), 2.0);
    assert_eq!(value(&s, "gauntlet_demo_workers_rejected_total", &[]), 2.0);
    assert_eq!(value(&s, "gauntlet_demo_workers_busy", &[]), 0.0);
    let work = |status| [("route", "/api/work"), ("status", status)];
    assert_eq!(
        value(&s, "gauntlet_demo_http_requests_total", &work("200")),
        4.0
    );
    assert_eq!(
        value(&s, "gauntlet_demo_http_requests_total", &work("503")),
        2.0
    );
}

#[tokio::test]
async fn an_overload_slows_requests_then_ends_its_recovery_time_after_the_burst() {
    let demo = Demo::start(DemoConfig {
        // Above 50 req/s, i.e. more than 5 arrivals in a 100 ms bucket.
        overload: Some(Overload {
            above: 50.0,
            latency: Duration::from_millis(200),
            recovery: Duration::from_secs(3),
        }),
        ..DemoConfig::default()
    })
    .await;
    assert_eq!(demo.get("/api/work").await.status, 200);
    assert_eq!(
        demo.metric("gauntlet_demo_overload_slowed_total", &[])
            .await,
        0.0
    );
    assert_eq!(demo.metric("gauntlet_demo_overloaded", &[]).await, 0.0);
    // A burst of 40 at once.
    let burst: Vec<_> = (0..40)
        .map(|_| {
            let d = demo.clone();
            tokio::spawn(async move { d.get("/api/work").await.status })
        })
        .collect();
    for t in burst {
        assert_eq!(t.await.unwrap(), 200);
    }
    let slowed = demo
        .metric("gauntlet_demo_overload_slowed_total", &[])
        .await;
    assert!(
        (1.0..=40.0).contains(&slowed),
        "some of the burst was slowed: {slowed}"
    );
    assert_eq!(demo.metric("gauntlet_demo_overloaded", &[]).await, 1.0);
    // It ends by itself once no more load arrives.
    while demo.metric("gauntlet_demo_overloaded", &[]).await == 1.0 {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(demo.get("/api/work").await.status, 200);
    assert_eq!(
        demo.metric("gauntlet_demo_overload_slowed_total", &[])
            .await,
        slowed,
        "a request after the recovery is not slowed"
    );
}
