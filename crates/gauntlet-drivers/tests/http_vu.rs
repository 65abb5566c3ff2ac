//! One HTTP VU against an in-process server on 127.0.0.1 that records what it
//! receives: multipart uploads, forms, request tags.

use gauntlet_drivers::http::{HttpClient, HttpConfig, HttpDriver};
use gauntlet_engine::collect::Collector;
use gauntlet_engine::executor::{Iteration, VirtualUser, VuFactory};
use gauntlet_engine::flow::Workload;
use gauntlet_engine::step::Driver as _;
use gauntlet_engine::vu::{DriverVuFactory, RunContext};

type HttpVuFactory = DriverVuFactory<HttpDriver>;
type Shared = RunContext<HttpDriver>;
use gauntlet_metrics::{TagFilter, TagKey};
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::sync::{Arc, Mutex};

type Seen = Arc<Mutex<Vec<(String, String, Vec<u8>)>>>;

async fn recording_server() -> (String, Seen) {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", l.local_addr().unwrap());
    let seen: Seen = Arc::default();
    let s2 = seen.clone();
    tokio::spawn(async move {
        while let Ok((sock, _)) = l.accept().await {
            let seen = s2.clone();
            tokio::spawn(async move {
                let svc = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    let seen = seen.clone();
                    async move {
                        let ct = req
                            .headers()
                            .get("content-type")
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or("")
                            .to_owned();
                        let path = req
                            .uri()
                            .path_and_query()
                            .map_or_else(String::new, |p| p.as_str().to_owned());
                        let body = req
                            .into_body()
                            .collect()
                            .await
                            .map(|c| c.to_bytes().to_vec())
                            .unwrap_or_default();
                        seen.lock().unwrap().push((path, ct, body));
                        Ok::<_, std::convert::Infallible>(hyper::Response::new(Full::new(
                            bytes::Bytes::from_static(b"{}"),
                        )))
                    }
                });
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(sock), svc)
                    .await;
            });
        }
    });
    (base, seen)
}

/// One VU (id 1, seed 1) of the plan `src`, against `base`, with the
/// collector it records into; files named in the plan are under `dir`.
fn one_vu(
    src: &str,
    base: String,
    dir: &std::path::Path,
) -> (<HttpVuFactory as VuFactory>::Vu, Collector) {
    let plan = Arc::new(
        gauntlet_plan::parse_plan("p", src.as_bytes(), "p", &Default::default())
            .unwrap()
            .plan,
    );
    let driver = HttpDriver::new(
        HttpClient::new(HttpConfig::default()).unwrap(),
        base.clone(),
    );
    let workload = Arc::new(Workload::compile(&plan, dir, &driver).unwrap());
    let collector = Collector::with_metrics(&plan, 1, driver.metrics());
    let shared = Arc::new(Shared::new(plan.clone(), workload, driver, &collector, 1));
    let vu = HttpVuFactory {
        shared,
        seed: Some(1),
    }
    .create(1, 0);
    (vu, collector)
}

#[tokio::test]
async fn multipart_form_and_request_tags_reach_the_wire_and_the_metrics() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("report.csv"), "a,b\n1,2\n").unwrap();
    let (base, seen) = recording_server().await;
    let src = format!(
        "target: {base}\nworkload:\n  operations:\n    upload:\n      steps:\n        - name: upload\n          request:\n            method: POST\n            url: /upload\n            tags: {{kind: file}}\n            multipart:\n              - {{name: title, value: 'report {{{{ vu }}}}'}}\n              - {{name: file, file: report.csv, contentType: text/csv}}\n        - name: form\n          request: {{method: POST, url: /form, form: {{user: 'u{{{{ vu }}}}', n: '1'}}}}\n"
    );
    let plan = Arc::new(
        gauntlet_plan::parse_plan("p", src.as_bytes(), "p", &Default::default())
            .unwrap()
            .plan,
    );
    let driver = HttpDriver::new(
        HttpClient::new(HttpConfig::default()).unwrap(),
        base.clone(),
    );
    let workload = Arc::new(Workload::compile(&plan, dir.path(), &driver).unwrap());
    let collector = Collector::with_metrics(&plan, 1, driver.metrics());
    let shared = Arc::new(Shared::new(plan.clone(), workload, driver, &collector, 1));
    let factory = HttpVuFactory {
        shared,
        seed: Some(1),
    };
    let mut vu = factory.create(7, 0);
    vu.iterate(Iteration {
        scenario: 0,
        intended_start: tokio::time::Instant::now(),
        open_model: false,
    })
    .await;
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 2);
    let (path, ct, body) = &seen[0];
    assert_eq!(path, "/upload");
    let boundary = ct.strip_prefix("multipart/form-data; boundary=").expect(ct);
    let body = String::from_utf8_lossy(body);
    assert!(
        body.contains("Content-Disposition: form-data; name=\"title\"\r\n\r\nreport 7\r\n"),
        "{body}"
    );
    assert!(
        body.contains(
            "name=\"file\"; filename=\"report.csv\"\r\nContent-Type: text/csv\r\n\r\na,b\n1,2\n\r\n"
        ),
        "{body}"
    );
    assert!(
        body.trim_end().ends_with(&format!("--{boundary}--")),
        "{body}"
    );
    assert_eq!(seen[1].1, "application/x-www-form-urlencoded");
    assert_eq!(String::from_utf8_lossy(&seen[1].2), "user=u7&n=1");
    // The request's own tag is on its metrics.
    let mut c = collector;
    let snap = c.tick(std::time::Duration::from_secs(1), &[]).clone();
    let reqs = c.registry.get("http_reqs").unwrap();
    let tagged = TagFilter(vec![(TagKey::parse("kind"), "file".into())]);
    assert_eq!(
        snap.query(
            &c.registry,
            &c.interner,
            reqs,
            &tagged,
            gauntlet_metrics::Stat::Count,
            gauntlet_metrics::Latency::Corrected
        ),
        Some(1.0)
    );
}

#[tokio::test]
async fn a_missing_capture_skips_only_the_steps_that_need_it() {
    let (base, seen) = recording_server().await;
    let src = format!(
        "target: {base}\nworkload:\n  operations:\n    flow:\n      steps:\n        - name: first\n          request: GET /first\n          capture: {{id: $.id}}\n        - name: second\n          request: GET /items/{{{{ id }}}}\n        - name: third\n          request: GET /third\n"
    );
    let (mut vu, collector) = one_vu(&src, base, std::path::Path::new("."));
    vu.iterate(Iteration {
        scenario: 0,
        intended_start: tokio::time::Instant::now(),
        open_model: false,
    })
    .await;
    let paths: Vec<String> = seen.lock().unwrap().iter().map(|s| s.0.clone()).collect();
    assert_eq!(paths, ["/first", "/third"]);
    let mut c = collector;
    let snap = c.tick(std::time::Duration::from_secs(1), &[]).clone();
    let fails = c.registry.get("capture_failures").unwrap();
    let group = TagFilter(vec![(TagKey::Group, "flow".into())]);
    // Once when `$.id` found nothing, once when `second` could not render.
    assert_eq!(
        snap.query(
            &c.registry,
            &c.interner,
            fails,
            &group,
            gauntlet_metrics::Stat::Count,
            gauntlet_metrics::Latency::Corrected
        ),
        Some(2.0)
    );
    let checks = c.registry.get("checks").unwrap();
    let captured = TagFilter(vec![(TagKey::Check, "captured id".into())]);
    assert_eq!(
        snap.query(
            &c.registry,
            &c.interner,
            checks,
            &captured,
            gauntlet_metrics::Stat::Rate,
            gauntlet_metrics::Latency::Corrected
        ),
        Some(0.0)
    );
}

/// A VU reuses the URL of a static step from its last response: every
/// step, in every iteration, must still reach its own path and query.
#[tokio::test]
async fn each_step_of_every_iteration_reaches_its_own_url() {
    let (base, seen) = recording_server().await;
    let src = format!(
        "target: {base}\nworkload:\n  operations:\n    flow:\n      steps:\n        - name: a\n          request: GET /a\n        - name: b\n          request: GET /b?x=1\n        - name: c\n          request:\n            method: GET\n            url: /c\n            query: {{n: \"{{{{ iter }}}}\"}}\n        - name: again\n          request: GET /a\n"
    );
    let (mut vu, _) = one_vu(&src, base, std::path::Path::new("."));
    for _ in 0..3 {
        vu.iterate(Iteration {
            scenario: 0,
            intended_start: tokio::time::Instant::now(),
            open_model: false,
        })
        .await;
    }
    let paths: Vec<String> = seen.lock().unwrap().iter().map(|s| s.0.clone()).collect();
    let want: Vec<String> = (0..3)
        .flat_map(|i| {
            [
                "/a".to_owned(),
                "/b?x=1".to_owned(),
                format!("/c?n={i}"),
                "/a".to_owned(),
            ]
        })
        .collect();
    assert_eq!(paths, want);
}

/// `stat` of `metric` over the run's samples tagged `tags`.
fn stat(
    c: &mut Collector,
    metric: &str,
    tags: &[(TagKey, &str)],
    stat: gauntlet_metrics::Stat,
) -> Option<f64> {
    // Merge what was recorded since the last call; query the whole run.
    c.tick(std::time::Duration::from_secs(1), &[]);
    let id = c.registry.get(metric).unwrap();
    let filter = TagFilter(tags.iter().map(|(k, v)| (k.clone(), (*v).into())).collect());
    c.timeline.total().query(
        &c.registry,
        &c.interner,
        id,
        &filter,
        stat,
        gauntlet_metrics::Latency::Corrected,
    )
}

fn closed() -> Iteration {
    Iteration {
        scenario: 0,
        intended_start: tokio::time::Instant::now(),
        open_model: false,
    }
}

/// A port with nothing listening on it.
fn refused_base() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", l.local_addr().unwrap());
    drop(l);
    base
}

#[tokio::test]
async fn a_request_without_a_response_adds_no_response_time() {
    let base = refused_base();
    let src = format!("target: {base}\nworkload:\n  operations:\n    get: GET /x\n");
    let (mut vu, mut c) = one_vu(&src, base, std::path::Path::new("."));
    vu.iterate(closed()).await;
    use gauntlet_metrics::Stat;
    assert_eq!(stat(&mut c, "http_reqs", &[], Stat::Count), Some(1.0));
    assert_eq!(stat(&mut c, "http_req_failed", &[], Stat::Rate), Some(1.0));
    let refused = [(TagKey::ErrorCode, "connection_refused")];
    assert_eq!(
        stat(&mut c, "http_req_failure_duration", &refused, Stat::Count),
        Some(1.0)
    );
    // No 0 ms sample: a refused connection is not a fast response.
    assert_eq!(
        stat(&mut c, "http_req_duration", &[], Stat::Count).unwrap_or(0.0),
        0.0
    );
    assert_eq!(
        stat(&mut c, "http_req_waiting", &[], Stat::Count).unwrap_or(0.0),
        0.0
    );
}

#[tokio::test(start_paused = true)]
async fn a_step_whose_template_fails_is_counted_with_its_message_and_backs_off() {
    let (base, seen) = recording_server().await;
    let src = format!(
        "target: {base}\nworkload:\n  operations:\n    broken:\n      steps:\n        - name: pick\n          request: GET /x/{{{{ random_int(5, 1) }}}}\n"
    );
    let plan = Arc::new(
        gauntlet_plan::parse_plan("p", src.as_bytes(), "p", &Default::default())
            .unwrap()
            .plan,
    );
    let driver = HttpDriver::new(
        HttpClient::new(HttpConfig::default()).unwrap(),
        base.clone(),
    );
    let workload = Arc::new(Workload::compile(&plan, std::path::Path::new("."), &driver).unwrap());
    let mut c = Collector::with_metrics(&plan, 1, driver.metrics());
    let shared = Arc::new(Shared::new(plan.clone(), workload, driver, &c, 1));
    let mut vu = HttpVuFactory {
        shared: shared.clone(),
        seed: Some(1),
    }
    .create(1, 0);
    let start = tokio::time::Instant::now();
    for _ in 0..3 {
        vu.iterate(closed()).await;
    }
    // Virtual time: each iteration that sent nothing waited before the next.
    assert!(start.elapsed() >= std::time::Duration::from_secs(3));
    assert!(seen.lock().unwrap().is_empty(), "nothing was sent");
    use gauntlet_metrics::Stat;
    let tags = [
        (TagKey::Name, "pick"),
        (TagKey::ErrorCode, "template_error"),
    ];
    assert_eq!(stat(&mut c, "step_errors", &tags, Stat::Count), Some(3.0));
    let notes = shared.step_errors.lock().unwrap().clone();
    assert_eq!(notes.len(), 1, "one note per step: {notes:?}");
    assert_eq!(&*notes[0].step, "pick");
    assert_eq!(&*notes[0].group, "broken");
    assert!(
        notes[0].message.contains("random_int(a, b) needs a <= b"),
        "{}",
        notes[0].message
    );
}

#[tokio::test]
async fn a_request_cut_by_a_hard_stop_is_counted_as_interrupted() {
    // Accepts, reads, never answers.
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", l.local_addr().unwrap());
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((sock, _)) = l.accept().await {
            held.push(sock);
        }
    });
    let src = format!("target: {base}\nworkload:\n  operations:\n    get: GET /never\n");
    let (mut vu, mut c) = one_vu(&src, base, std::path::Path::new("."));
    tokio::select! {
        _ = vu.iterate(closed()) => panic!("the target never answers"),
        _ = tokio::time::sleep(std::time::Duration::from_millis(200)) => {}
    }
    vu.interrupted();
    use gauntlet_metrics::Stat;
    let cut = [(TagKey::ErrorCode, "request_interrupted")];
    assert_eq!(stat(&mut c, "http_reqs", &cut, Stat::Count), Some(1.0));
    assert_eq!(stat(&mut c, "http_req_failed", &[], Stat::Rate), Some(1.0));
    let waited = stat(&mut c, "http_req_failure_duration", &cut, Stat::Max).unwrap();
    assert!(waited >= 200_000.0, "time until the stop, in µs: {waited}");
    // A second interruption with nothing in flight counts nothing more.
    vu.interrupted();
    assert_eq!(stat(&mut c, "http_reqs", &[], Stat::Count), Some(1.0));
}

#[tokio::test]
async fn each_redirect_hop_is_a_request_of_its_own() {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", l.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((sock, _)) = l.accept().await {
            tokio::spawn(async move {
                let svc = service_fn(|req: hyper::Request<hyper::body::Incoming>| async move {
                    let n: u32 = req
                        .uri()
                        .path()
                        .trim_start_matches("/r/")
                        .parse()
                        .unwrap_or(0);
                    let resp = if n == 0 {
                        hyper::Response::new(Full::new(bytes::Bytes::from_static(b"done")))
                    } else {
                        hyper::Response::builder()
                            .status(302)
                            .header("location", format!("/r/{}", n - 1))
                            .body(Full::new(bytes::Bytes::new()))
                            .unwrap()
                    };
                    Ok::<_, std::convert::Infallible>(resp)
                });
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(sock), svc)
                    .await;
            });
        }
    });
    let src = format!("target: {base}\nworkload:\n  operations:\n    hop: GET /r/3\n");
    let (mut vu, mut c) = one_vu(&src, base, std::path::Path::new("."));
    vu.iterate(closed()).await;
    use gauntlet_metrics::Stat;
    assert_eq!(stat(&mut c, "http_reqs", &[], Stat::Count), Some(4.0));
    let found = [(TagKey::Status, "302")];
    assert_eq!(stat(&mut c, "http_reqs", &found, Stat::Count), Some(3.0));
    let ok = [(TagKey::Status, "200")];
    assert_eq!(stat(&mut c, "http_reqs", &ok, Stat::Count), Some(1.0));
    assert_eq!(stat(&mut c, "http_redirects", &[], Stat::Count), Some(3.0));
    assert_eq!(
        stat(&mut c, "http_req_duration", &[], Stat::Count),
        Some(4.0)
    );
    assert_eq!(stat(&mut c, "http_req_failed", &[], Stat::Rate), Some(0.0));
}

#[tokio::test]
async fn an_open_model_iteration_records_how_late_it_started() {
    let (base, _seen) = recording_server().await;
    let src = format!("target: {base}\nworkload:\n  operations:\n    get: GET /a\n");
    let (mut vu, mut c) = one_vu(&src, base, std::path::Path::new("."));
    let due = tokio::time::Instant::now();
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    vu.iterate(Iteration {
        scenario: 0,
        intended_start: due,
        open_model: true,
    })
    .await;
    use gauntlet_metrics::Stat;
    let late = stat(&mut c, "iteration_start_lateness", &[], Stat::Max).unwrap();
    assert!(late >= 5_000.0, "started at least 5 ms late, in µs: {late}");
    // A closed-model iteration has no schedule to be late for.
    vu.iterate(closed()).await;
    assert_eq!(
        stat(&mut c, "iteration_start_lateness", &[], Stat::Count),
        Some(1.0)
    );
}

#[tokio::test]
async fn environment_values_render_in_urls_and_bodies() {
    let (base, seen) = recording_server().await;
    let path = std::env::var("PATH").unwrap();
    let src = format!(
        "target: {base}\nworkload:\n  operations:\n    get:\n      request:\n        method: POST\n        url: /x?n={{{{ env.PATH | length }}}}\n        json: {{p: '{{{{ env.PATH }}}}'}}\n"
    );
    let (mut vu, _) = one_vu(&src, base, std::path::Path::new("."));
    vu.iterate(closed()).await;
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 1, "the request was sent");
    assert_eq!(seen[0].0, format!("/x?n={}", path.len()));
    let body: serde_json::Value = serde_json::from_slice(&seen[0].2).unwrap();
    assert_eq!(body["p"], path.as_str());
}

#[tokio::test]
async fn environment_values_are_redacted_from_step_messages() {
    let (base, _seen) = recording_server().await;
    // Inside brackets PATH is no IPv6 address: the URL does not parse, and
    // its message quotes it.
    let src = format!(
        "target: {base}\nworkload:\n  operations:\n    leak:\n      steps:\n        - name: leak\n          request: GET http://[{{{{ env.PATH }}}}]/\n"
    );
    let plan = Arc::new(
        gauntlet_plan::parse_plan("p", src.as_bytes(), "p", &Default::default())
            .unwrap()
            .plan,
    );
    let driver = HttpDriver::new(
        HttpClient::new(HttpConfig::default()).unwrap(),
        base.clone(),
    );
    let workload = Arc::new(Workload::compile(&plan, std::path::Path::new("."), &driver).unwrap());
    let c = Collector::with_metrics(&plan, 1, driver.metrics());
    let shared = Arc::new(Shared::new(plan.clone(), workload, driver, &c, 1));
    let mut vu = HttpVuFactory {
        shared: shared.clone(),
        seed: Some(1),
    }
    .create(1, 0);
    vu.iterate(closed()).await;
    let notes = shared.step_errors.lock().unwrap().clone();
    assert_eq!(notes.len(), 1, "{notes:?}");
    let path = std::env::var("PATH").unwrap();
    assert!(!notes[0].message.contains(&path), "{}", notes[0].message);
    assert!(notes[0].message.contains("***"), "{}", notes[0].message);
}

/// Counts nothing; a run needs a monitor.
struct Quiet;
impl gauntlet_engine::run::Monitor for Quiet {
    fn tick(
        &mut self,
        _elapsed: std::time::Duration,
        _scenarios: &[Arc<gauntlet_engine::executor::ScenarioState>],
        _last: bool,
    ) -> gauntlet_engine::run::Control {
        gauntlet_engine::run::Control::Continue
    }
}

#[tokio::test]
async fn an_exhausted_unique_feeder_counts_the_same_iterations_in_the_scenario_and_the_counter() {
    let (base, seen) = recording_server().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("users.csv"), "name\nann\nbob\ncid\n").unwrap();
    // Three rows for ten iterations: two VUs each end on an exhausted feeder.
    let src = format!(
        "target: {base}\ndata:\n  users: {{file: users.csv, mode: unique}}\nworkload:\n  operations:\n    get: GET /u/{{{{ users.name }}}}\nscenarios:\n  s: {{executor: shared-iterations, vus: 2, iterations: 10}}\n"
    );
    let plan = Arc::new(
        gauntlet_plan::parse_plan("p", src.as_bytes(), "p", &Default::default())
            .unwrap()
            .plan,
    );
    let driver = HttpDriver::new(
        HttpClient::new(HttpConfig::default()).unwrap(),
        base.clone(),
    );
    let workload = Arc::new(Workload::compile(&plan, dir.path(), &driver).unwrap());
    let mut c = Collector::with_metrics(&plan, 1, driver.metrics());
    let shared = Arc::new(Shared::new(plan.clone(), workload, driver, &c, 1));
    let factory = Arc::new(HttpVuFactory {
        shared,
        seed: Some(1),
    });
    let out = gauntlet_engine::run::run_plan(
        plan,
        factory,
        Default::default(),
        &mut Quiet,
        std::time::Duration::from_secs(1),
    )
    .await;
    assert_eq!(seen.lock().unwrap().len(), 3, "one request per row");
    let scenario = out.scenarios[0]
        .completed
        .load(std::sync::atomic::Ordering::Relaxed);
    use gauntlet_metrics::Stat;
    let counter = stat(&mut c, "iterations", &[], Stat::Count);
    assert_eq!(scenario, 3);
    assert_eq!(counter, Some(scenario as f64));
}
