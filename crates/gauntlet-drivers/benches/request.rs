//! One full HTTP iteration of the engine's `HttpVu`: the per-request hot path
//! of a run (render the request templates, send it through the HTTP driver on
//! a keep-alive connection, run the check, record the metrics).
//!
//! The VU is built as `gauntlet run` builds it (plan → `Workload` →
//! `Collector` → `Shared` → `HttpVuFactory`) from a plan like
//! bench/plans/get.yaml, and talks to a minimal in-process HTTP/1.1 server on
//! 127.0.0.1 that answers `200 ok` to every request. Client and server share
//! one current-thread tokio runtime, so the figure is the cost of a request on
//! one core, both sides included; the server side is a few hundred
//! nanoseconds of parsing and two socket calls.
//!
//! `cargo bench -p gauntlet-engine --bench request` (docs/performance.md).

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use gauntlet_drivers::http::{HttpClient, HttpConfig, HttpDriver};
use gauntlet_engine::collect::Collector;
use gauntlet_engine::executor::{Iteration, IterationEnd, VirtualUser, VuFactory};
use gauntlet_engine::flow::Workload;
use gauntlet_engine::step::Driver as _;
use gauntlet_engine::vu::{DriverVuFactory, RunContext};

type HttpVuFactory = DriverVuFactory<HttpDriver>;
type Shared = RunContext<HttpDriver>;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const RESPONSE: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";

/// Answer every request on a keep-alive connection: read until the end of
/// the headers (the bench sends GETs without a body), write the response.
async fn serve(mut sock: TcpStream) {
    let _ = sock.set_nodelay(true);
    let mut buf = Vec::with_capacity(4096);
    let mut chunk = [0u8; 4096];
    loop {
        while let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            buf.drain(..end + 4);
            if sock.write_all(RESPONSE).await.is_err() {
                return;
            }
        }
        match sock.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

/// Start the server on 127.0.0.1, port 0; returns its base URL.
async fn start_server() -> String {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", l.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((sock, _)) = l.accept().await {
            tokio::spawn(serve(sock));
        }
    });
    base
}

/// bench/plans/get.yaml with the target filled in.
fn plan_yaml(base: &str) -> String {
    format!(
        "version: 1
name: bench-request
target: {base}
workload:
  operations:
    get:
      tags: {{bench: get}}
      request: GET /
      checks:
        - status: 200
"
    )
}

fn iteration() -> Iteration {
    Iteration {
        scenario: 0,
        intended_start: tokio::time::Instant::now(),
        open_model: false,
    }
}

fn bench_request(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let base = rt.block_on(start_server());
    let plan = Arc::new(
        gauntlet_plan::parse_plan(
            "bench",
            plan_yaml(&base).as_bytes(),
            "bench",
            &Default::default(),
        )
        .unwrap()
        .plan,
    );
    let driver = HttpDriver::new(
        HttpClient::new(HttpConfig::default()).unwrap(),
        base.clone(),
    );
    let workload = Arc::new(Workload::compile(&plan, std::path::Path::new("."), &driver).unwrap());
    // One worker, as `gauntlet run --workers 1` (4 recorder shards per worker).
    let mut collector = Collector::with_metrics(&plan, 4, driver.metrics());
    let shared = Arc::new(Shared::new(plan.clone(), workload, driver, &collector, 4));
    let factory = HttpVuFactory {
        shared,
        seed: Some(1),
    };
    let mut vu = factory.create(1, 0);
    // Connect, and create the series and the tag cache entries.
    rt.block_on(async {
        for _ in 0..1000 {
            assert!(matches!(
                vu.iterate(iteration()).await,
                IterationEnd::Completed
            ));
        }
    });

    let mut g = c.benchmark_group("request");
    g.throughput(Throughput::Elements(1));
    g.measurement_time(Duration::from_secs(10));
    g.bench_function("get_check_tag", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = std::time::Instant::now();
                for _ in 0..iters {
                    vu.iterate(iteration()).await;
                }
                start.elapsed()
            })
        })
    });
    g.finish();

    // Every request reached the server and passed its check.
    let snap = collector.tick(Duration::from_secs(1), &[]).clone();
    let failed = collector.registry.get("http_req_failed").unwrap();
    let rate = snap.query(
        &collector.registry,
        &collector.interner,
        failed,
        &gauntlet_metrics::TagFilter::new(),
        gauntlet_metrics::Stat::Rate,
        gauntlet_metrics::Latency::Corrected,
    );
    assert_eq!(rate, Some(0.0), "requests failed during the bench");
}

criterion_group!(benches, bench_request);
criterion_main!(benches);
