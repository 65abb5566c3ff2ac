//! Scraping real targets: the embedded demo's `/metrics` (OpenMetrics, from
//! prometheus-client) and Debian's `prometheus-node-exporter` (text 0.0.4).
//! Each reading is held to a truth that does not come from our parser: the
//! requests the test itself sent, the kernel's own `/proc/meminfo`, and the
//! Prometheus project's Python parser over the very same page.

use gauntlet_demo::{DemoConfig, DemoServer};
use gauntlet_monitors::exposition::{self, FamilyKind};
use gauntlet_monitors::interval::{Reading, Selector, read};
use gauntlet_monitors::scrape::{ScrapeError, fetch};
use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use tokio::time::Instant;

const LIMIT: Duration = Duration::from_secs(5);

fn sel(name: &str, labels: &[(&str, &str)]) -> Selector {
    Selector {
        name: name.into(),
        labels: labels
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect(),
    }
}

#[tokio::test]
async fn the_demos_request_counter_reads_exactly_the_requests_sent_between_two_scrapes() {
    let demo = DemoServer::start(DemoConfig::default(), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let url = format!("{}/metrics", demo.base_url());
    let origin = Instant::now();
    let before = fetch(&url, LIMIT)
        .await
        .unwrap()
        .parse(&url, origin)
        .unwrap();
    for _ in 0..25 {
        fetch(&format!("{}/health", demo.base_url()), LIMIT)
            .await
            .unwrap();
    }
    let after = fetch(&url, LIMIT)
        .await
        .unwrap()
        .parse(&url, origin)
        .unwrap();
    let dt = after.at_seconds - before.at_seconds;

    let health = sel("gauntlet_demo_http_requests_total", &[("route", "/health")]);
    let rate = read(&before, &after, &health, Reading::Rate).unwrap();
    assert!(
        (rate * dt - 25.0).abs() < 1e-6,
        "increase {} over {dt} s",
        rate * dt
    );
    // The histogram of the same requests: 25 observations, all in its bounds.
    let hist = sel(
        "gauntlet_demo_http_request_duration_seconds",
        &[("route", "/health")],
    );
    let count_rate = read(&before, &after, &hist, Reading::Rate).unwrap();
    assert!((count_rate * dt - 25.0).abs() < 1e-6);
    let p99 = read(&before, &after, &hist, Reading::Quantile(0.99)).unwrap();
    let mean = read(&before, &after, &hist, Reading::Mean).unwrap();
    assert!(p99 > 0.0 && p99 < 13.2, "{p99}");
    assert!(mean > 0.0 && mean < p99 * 10.0, "{mean}");
    // The route label with a colon, and the counter read as an OpenMetrics counter.
    let fam = after
        .families
        .iter()
        .find(|f| f.name == "gauntlet_demo_http_requests")
        .unwrap();
    assert_eq!(fam.kind, FamilyKind::Counter);
    demo.shutdown().await;
}

/// A node_exporter on a port of its own, stopped on drop.
struct NodeExporter {
    child: Child,
    url: String,
}

impl Drop for NodeExporter {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn node_exporter() -> NodeExporter {
    let bin = "/usr/bin/prometheus-node-exporter";
    assert!(
        std::path::Path::new(bin).exists(),
        "{bin} is missing: apt-get install prometheus-node-exporter (.ci/run does)"
    );
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(bin)
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let ne = NodeExporter {
        child,
        url: format!("http://127.0.0.1:{port}/metrics"),
    };
    for _ in 0..100 {
        match fetch(&ne.url, LIMIT).await {
            Ok(_) => return ne,
            Err(ScrapeError::Io { .. }) => tokio::time::sleep(Duration::from_millis(50)).await,
            Err(e) => panic!("{e}"),
        }
    }
    panic!("node_exporter did not listen on {}", ne.url);
}

#[tokio::test]
async fn node_exporters_page_reads_as_the_prometheus_reference_parser_reads_it() {
    let ne = node_exporter().await;
    let page = fetch(&ne.url, LIMIT).await.unwrap();
    let ours = exposition::parse(&page.text).unwrap();

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("page.txt");
    std::fs::write(&path, &page.text).unwrap();
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/support/reference_parse.py"
    );
    let out = Command::new("python3")
        .arg(script)
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "the reference parser failed (pip install -r crates/gauntlet-monitors/tests/support/requirements.txt): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let fmt = |v: f64| {
        if v.is_nan() {
            "NaN".to_owned()
        } else if v == f64::INFINITY {
            "+Inf".to_owned()
        } else if v == f64::NEG_INFINITY {
            "-Inf".to_owned()
        } else {
            v.to_string()
        }
    };
    type Row = (String, BTreeMap<String, String>);
    let mut theirs: BTreeMap<Row, String> = BTreeMap::new();
    for line in String::from_utf8(out.stdout).unwrap().lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let labels = v["labels"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
            .collect();
        let value: f64 = match v["value"].as_str().unwrap() {
            "NaN" => f64::NAN,
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            x => x.parse().unwrap(),
        };
        theirs.insert((v["name"].as_str().unwrap().to_owned(), labels), fmt(value));
    }
    let mut mine: BTreeMap<Row, String> = BTreeMap::new();
    for s in ours.iter().flat_map(|f| &f.samples) {
        let labels = s.labels.iter().cloned().collect();
        mine.insert((s.name.clone(), labels), fmt(s.value));
    }
    assert!(
        mine.len() > 100,
        "node_exporter gave {} samples",
        mine.len()
    );
    assert_eq!(mine, theirs);

    // And one value against the kernel itself.
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap();
    let kib: f64 = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .unwrap()
        .trim()
        .trim_end_matches(" kB")
        .trim()
        .parse()
        .unwrap();
    let scraped = ours
        .iter()
        .find(|f| f.name == "node_memory_MemTotal_bytes")
        .unwrap();
    assert_eq!(scraped.kind, FamilyKind::Gauge);
    assert_eq!(scraped.samples[0].value, kib * 1024.0);
}

#[tokio::test]
async fn a_target_that_refuses_or_never_answers_is_an_error_within_the_timeout() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let refused = fetch(&format!("http://127.0.0.1:{port}/metrics"), LIMIT).await;
    assert!(
        matches!(refused, Err(ScrapeError::Io { .. })),
        "{refused:?}"
    );

    // Accepts, never answers.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = silent.local_addr().unwrap();
    let _hold = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = silent.accept().await {
            held.push(s);
        }
    });
    let stalled = fetch(
        &format!("http://{addr}/metrics"),
        Duration::from_millis(300),
    )
    .await;
    assert!(
        matches!(stalled, Err(ScrapeError::Timeout { .. })),
        "{stalled:?}"
    );
    let https = fetch("https://127.0.0.1/metrics", LIMIT).await;
    assert!(matches!(https, Err(ScrapeError::Url { .. })), "{https:?}");
}

#[tokio::test]
async fn redis_monitor_counts_the_commands_and_hits_redis_benchmark_sent() {
    use gauntlet_monitors::redis::{RedisProbe, RedisReading};
    let mut probe = RedisProbe::connect("redis://127.0.0.1:6379", LIMIT)
        .await
        .expect("Redis on 127.0.0.1:6379 (.ci/run starts it)");
    let before = probe.sample().await.unwrap();
    let mut samples = vec![before.clone()];
    let mut bench = tokio::process::Command::new("redis-benchmark")
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            "6379",
            "-n",
            "20000",
            "-c",
            "4",
            "-q",
        ])
        .args(["-t", "set,get", "--csv"])
        .arg("-r")
        .arg("1")
        .stdout(Stdio::piped())
        .spawn()
        .expect("redis-benchmark is installed with redis-tools");
    loop {
        tokio::select! {
            status = bench.wait() => { assert!(status.unwrap().success()); break; }
            _ = tokio::time::sleep(Duration::from_millis(200)) => samples.push(probe.sample().await.unwrap()),
        }
    }
    samples.push(probe.sample().await.unwrap());
    // The readings of every interval, added back up, give the counts.
    let total = |r: RedisReading| -> f64 {
        samples
            .windows(2)
            .map(|w| r.read(&w[0], &w[1]).unwrap() * (w[1].at - w[0].at).as_secs_f64())
            .sum()
    };
    let ops = total(RedisReading::OpsPerSecond);
    let hits = total(RedisReading::HitsPerSecond);
    // 40,000 commands, plus redis-benchmark's own few (CONFIG GET) and our INFOs.
    assert!((40_000.0..=42_000.0).contains(&ops), "{ops} commands");
    // Every GET hits: the SETs before them wrote the one key (`-r 1`).
    assert!((19_000.0..=20_100.0).contains(&hits), "{hits} hits");
    eprintln!(
        "redis monitor: {ops} commands and {hits} hits over {} samples",
        samples.len()
    );
    let last = samples.last().unwrap();
    assert!(RedisReading::ConnectedClients.read(&before, last).unwrap() >= 1.0);
    assert!(RedisReading::UsedMemoryBytes.read(&before, last).unwrap() > 0.0);
}

/// Run a command to its end; its stdout.
fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[tokio::test]
async fn postgres_monitor_counts_the_transactions_pgbench_processed() {
    use gauntlet_monitors::postgres::{PgProbe, PgReading};
    let db = "gauntlet_monitor_test";
    // A database of its own; "already exists" is fine.
    let _ = Command::new("createdb")
        .args(["-h", "127.0.0.1", "-U", "postgres", db])
        .output();
    run(Command::new("pgbench").args([
        "-h",
        "127.0.0.1",
        "-U",
        "postgres",
        "-i",
        "-s",
        "1",
        "-q",
        db,
    ]));
    let mut probe = PgProbe::connect(
        &format!("host=127.0.0.1 user=postgres dbname={db}"),
        vec![db.to_owned()],
        LIMIT,
    )
    .await
    .expect("PostgreSQL on 127.0.0.1:5432 (.ci/run starts it)");
    let before = probe.sample().await.unwrap();
    let bench = tokio::process::Command::new("pgbench")
        .args([
            "-h",
            "127.0.0.1",
            "-U",
            "postgres",
            "-c",
            "4",
            "-t",
            "500",
            "-S",
            db,
        ])
        .output()
        .await
        .unwrap();
    assert!(bench.status.success());
    let report = String::from_utf8(bench.stdout).unwrap();
    let processed: f64 = report
        .lines()
        .find_map(|l| l.strip_prefix("number of transactions actually processed: "))
        .and_then(|v| v.split('/').next())
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(processed, 2000.0);
    // Backends flush their statistics when they end; wait until the count settles.
    let mut counted = 0.0;
    let mut last = before.clone();
    for _ in 0..50 {
        last = probe.sample().await.unwrap();
        let tps = PgReading::TransactionsPerSecond
            .read(&before, &last)
            .unwrap();
        counted = tps * (last.at - before.at).as_secs_f64();
        if counted >= processed {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // pgbench's transactions, plus its own few setup statements and our queries.
    assert!(
        counted >= processed && counted <= processed * 1.05,
        "monitor counted {counted}, pgbench processed {processed}"
    );
    let ratio = PgReading::BufferHitRatio.read(&before, &last).unwrap();
    assert!((0.0..=1.0).contains(&ratio), "{ratio}");
    let used = PgReading::ConnectionsUsedRatio
        .read(&before, &last)
        .unwrap();
    assert!(used > 0.0 && used <= 1.0, "{used}");
    eprintln!(
        "postgres monitor: {counted} transactions counted, pgbench processed {processed}; buffer hit ratio {ratio:.4}"
    );
}
