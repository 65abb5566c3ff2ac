//! A VU's plan metrics (values from JSON, headers, timings and templates),
//! its authentication (`auth:`, URL credentials) and `{{ env.X }}` in every
//! place a plan can read it, against an in-process server on 127.0.0.1
//! that records the headers it receives.

use gauntlet_drivers::http::{HttpClient, HttpConfig, HttpDriver};
use gauntlet_engine::collect::Collector;
use gauntlet_engine::executor::{Iteration, VirtualUser, VuFactory};
use gauntlet_engine::flow::Workload;
use gauntlet_engine::step::Driver as _;
use gauntlet_engine::vu::{DriverVuFactory, RunContext};

type HttpVuFactory = DriverVuFactory<HttpDriver>;
type Shared = RunContext<HttpDriver>;
use gauntlet_metrics::{Latency, Stat, TagFilter, TagKey};
use http_body_util::Full;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::sync::{Arc, Mutex};

/// What the server saw of one request: path and query, `Host`,
/// `Authorization` and `X-Env`.
#[derive(Debug, Clone, Default)]
struct Seen {
    path: String,
    host: String,
    authorization: String,
    x_env: String,
}

type Log = Arc<Mutex<Vec<Seen>>>;

/// Answers every request with a JSON body (`count`, `name`, `ok`, `size`)
/// and the headers `X-Queue: 7` and `X-Bad: many`.
async fn server() -> (String, Log) {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", l.local_addr().unwrap());
    let log: Log = Arc::default();
    let log2 = log.clone();
    tokio::spawn(async move {
        while let Ok((sock, _)) = l.accept().await {
            let log = log2.clone();
            tokio::spawn(async move {
                let svc = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    let log = log.clone();
                    async move {
                        let h = |name: &str| {
                            req.headers()
                                .get(name)
                                .and_then(|v| v.to_str().ok())
                                .unwrap_or("")
                                .to_owned()
                        };
                        log.lock().unwrap().push(Seen {
                            path: req
                                .uri()
                                .path_and_query()
                                .map_or_else(String::new, |p| p.as_str().to_owned()),
                            host: h("host"),
                            authorization: h("authorization"),
                            x_env: h("x-env"),
                        });
                        let mut resp = hyper::Response::new(Full::new(bytes::Bytes::from_static(
                            br#"{"count": 3, "name": "x", "ok": true, "size": 1.6}"#,
                        )));
                        resp.headers_mut()
                            .insert("x-queue", hyper::header::HeaderValue::from_static("7"));
                        resp.headers_mut()
                            .insert("x-bad", hyper::header::HeaderValue::from_static("many"));
                        Ok::<_, std::convert::Infallible>(resp)
                    }
                });
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(sock), svc)
                    .await;
            });
        }
    });
    (base, log)
}

/// The run state of plan `src` against `base`, with `env` as `-e` variables.
fn shared(src: &str, base: String, env: &[(&str, &str)]) -> (Arc<Shared>, Collector) {
    let plan = Arc::new(
        gauntlet_plan::parse_plan("p", src.as_bytes(), "p", &Default::default())
            .unwrap_or_else(|e| panic!("{}", e.render(false)))
            .plan,
    );
    let driver = HttpDriver::new(
        HttpClient::new(HttpConfig::default()).unwrap(),
        base.clone(),
    );
    let workload = Arc::new(Workload::compile(&plan, std::path::Path::new("."), &driver).unwrap());
    let collector = Collector::with_metrics(&plan, 1, driver.metrics());
    let env: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    let shared = Shared::new(plan.clone(), workload, driver, &collector, 1).with_env(&env);
    (Arc::new(shared), collector)
}

fn vu(shared: &Arc<Shared>, id: u64) -> <HttpVuFactory as VuFactory>::Vu {
    HttpVuFactory {
        shared: shared.clone(),
        seed: Some(1),
    }
    .create(id, 0)
}

fn closed() -> Iteration {
    Iteration {
        scenario: 0,
        intended_start: tokio::time::Instant::now(),
        open_model: false,
    }
}

/// `stat` of `metric` over the run's samples tagged `tags`.
fn stat(c: &mut Collector, metric: &str, tags: &[(TagKey, &str)], stat: Stat) -> Option<f64> {
    c.tick(std::time::Duration::from_secs(1), &[]);
    let id = c.registry.get(metric).unwrap();
    let filter = TagFilter(tags.iter().map(|(k, v)| (k.clone(), (*v).into())).collect());
    c.timeline.total().query(
        &c.registry,
        &c.interner,
        id,
        &filter,
        stat,
        Latency::Corrected,
    )
}

#[tokio::test]
async fn plan_metrics_record_values_from_json_headers_timings_and_templates() {
    let (base, _log) = server().await;
    let src = format!(
        "metrics:
  items_returned: counter
  queue_depth: gauge
  all_ok: rate
  item_size: trend
  server_wait: {{type: trend, time: true}}
  answer: trend
  three: rate
target: {base}
workload:
  operations:
    list:
      request: GET /api/items
      capture: {{n: $.count}}
      metrics:
        - {{metric: items_returned, jsonPath: $.count, tags: {{kind: list}}}}
        - {{metric: queue_depth, header: X-Queue}}
        - {{metric: all_ok, jsonPath: $.ok}}
        - {{metric: item_size, jsonPath: $.size}}
        - {{metric: server_wait, timing: duration}}
        - {{metric: answer, value: '{{{{ n * 14 }}}}'}}
        - {{metric: three, value: '{{{{ n == 3 }}}}'}}
"
    );
    let (sh, mut c) = shared(&src, base, &[]);
    let mut v = vu(&sh, 1);
    v.iterate(closed()).await;
    v.iterate(closed()).await;
    let m = |c: &mut Collector, name: &str, s: Stat| stat(c, name, &[], s);
    assert_eq!(m(&mut c, "items_returned", Stat::Sum), Some(6.0));
    assert_eq!(
        stat(
            &mut c,
            "items_returned",
            &[
                (TagKey::Custom("kind".into()), "list"),
                (TagKey::Name, "list"),
                (TagKey::Group, "list"),
            ],
            Stat::Sum
        ),
        Some(6.0),
        "the sample carries its own tags and the step's"
    );
    assert_eq!(m(&mut c, "queue_depth", Stat::Value), Some(7.0));
    assert_eq!(m(&mut c, "all_ok", Stat::Rate), Some(1.0));
    // A plain trend keeps whole numbers: 1.6 is 2.
    assert_eq!(m(&mut c, "item_size", Stat::Max), Some(2.0));
    assert_eq!(m(&mut c, "answer", Stat::Med), Some(42.0));
    assert_eq!(
        m(&mut c, "three", Stat::Rate),
        Some(1.0),
        "a template's boolean renders as `True`"
    );
    assert_eq!(m(&mut c, "server_wait", Stat::Count), Some(2.0));
    assert!(
        m(&mut c, "server_wait", Stat::Max).unwrap() > 0.0,
        "a loopback request takes some microseconds"
    );
    assert_eq!(m(&mut c, "metric_errors", Stat::Sum), None);
}

#[tokio::test]
async fn a_value_that_is_not_a_number_counts_in_metric_errors_and_is_not_recorded() {
    let (base, _log) = server().await;
    let src = format!(
        "metrics:
  items: counter
  level: gauge
target: {base}
workload:
  operations:
    list:
      request: GET /
      metrics:
        - {{metric: items, jsonPath: $.name}}
        - {{metric: items, jsonPath: $.missing}}
        - {{metric: level, header: X-Bad}}
        - {{metric: level, header: X-Absent}}
        - {{metric: items, value: 'many'}}
"
    );
    let (sh, mut c) = shared(&src, base, &[]);
    let mut v = vu(&sh, 1);
    v.iterate(closed()).await;
    v.iterate(closed()).await;
    assert_eq!(stat(&mut c, "metric_errors", &[], Stat::Sum), Some(10.0));
    assert_eq!(
        stat(
            &mut c,
            "metric_errors",
            &[(TagKey::Custom("metric".into()), "level")],
            Stat::Sum
        ),
        Some(4.0),
        "tagged with the metric that missed its value"
    );
    assert_eq!(stat(&mut c, "items", &[], Stat::Sum), None);
    assert_eq!(stat(&mut c, "level", &[], Stat::Value), None);
}

#[tokio::test]
async fn auth_and_url_credentials_arrive_as_authorization_headers() {
    let (base, log) = server().await;
    let host = base.trim_start_matches("http://").to_owned();
    let src = format!(
        "target:
  url: {base}
  auth: {{basic: {{username: admin, password: '{{{{ env.PW }}}}'}}}}
workload:
  operations:
    all:
      steps:
        - name: target_auth
          request: GET /basic
        - name: bearer
          request: {{url: /bearer, auth: {{bearer: '{{{{ env.TOKEN }}}}'}}}}
        - name: static_url
          request: GET http://u:p%40ss@{host}/static
        - name: templated_url
          request: GET http://u:{{{{ env.PW }}}}@{host}/templated
"
    );
    let (sh, _c) = shared(&src, base, &[("PW", "pw:1"), ("TOKEN", "tok-xyz")]);
    let mut v = vu(&sh, 1);
    // Twice: a static URL is reused from the last response on the second.
    v.iterate(closed()).await;
    v.iterate(closed()).await;
    let seen = log.lock().unwrap().clone();
    assert_eq!(seen.len(), 8, "{seen:?}");
    let of = |path: &str| -> Vec<String> {
        seen.iter()
            .filter(|s| s.path == path)
            .map(|s| s.authorization.clone())
            .collect()
    };
    // admin:pw:1
    assert_eq!(
        of("/basic"),
        ["Basic YWRtaW46cHc6MQ==", "Basic YWRtaW46cHc6MQ=="]
    );
    assert_eq!(of("/bearer"), ["Bearer tok-xyz", "Bearer tok-xyz"]);
    // u:p@ss, then u:pw:1 (the URL's own credentials win over target.auth).
    assert_eq!(of("/static"), ["Basic dTpwQHNz", "Basic dTpwQHNz"]);
    assert_eq!(of("/templated"), ["Basic dTpwdzox", "Basic dTpwdzox"]);
    for s in &seen {
        assert_eq!(s.host, host, "no credentials in the URL sent: {s:?}");
    }
}

#[tokio::test]
async fn env_renders_in_target_headers_request_headers_scenario_env_and_setup() {
    let (base, log) = server().await;
    let src = format!(
        "target:
  url: {base}
  headers: {{X-Env: 'target-{{{{ env.A }}}}'}}
setup:
  - name: prepare
    request: GET /setup/{{{{ env.A }}}}
    capture: {{n: $.count}}
workload:
  operations:
    one:
      request:
        url: /run/{{{{ env.B }}}}/{{{{ setup.n }}}}
        headers: {{X-Env: 'request-{{{{ env.A }}}}'}}
scenarios:
  main:
    executor: shared-iterations
    vus: 1
    iterations: 1
    env: {{B: from-scenario}}
"
    );
    let (sh, _c) = shared(&src, base, &[("A", "a1")]);
    let setup = vu(&sh, 0).run_setup().await.unwrap();
    sh.setup.set(setup).unwrap();
    vu(&sh, 1).iterate(closed()).await;
    let seen = log.lock().unwrap().clone();
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert_eq!(seen[0].path, "/setup/a1");
    assert_eq!(seen[0].x_env, "target-a1");
    assert_eq!(seen[1].path, "/run/from-scenario/3");
    assert_eq!(seen[1].x_env, "request-a1", "a request's header wins");
}

#[tokio::test]
async fn url_passwords_and_env_values_are_redacted_from_step_messages() {
    let (base, _log) = server().await;
    // The port is not a number: the URL does not parse, and its message
    // quotes it with the password and the token.
    let src = format!(
        "target: {base}
workload:
  operations:
    bad:
      steps:
        - name: bad
          request: GET http://admin:hunter2@127.0.0.1:x{{{{ env.TOKEN }}}}/
"
    );
    let (sh, _c) = shared(&src, base, &[("TOKEN", "tok-secret")]);
    vu(&sh, 1).iterate(closed()).await;
    let notes = sh.step_errors.lock().unwrap().clone();
    assert_eq!(notes.len(), 1, "{notes:?}");
    let m = &notes[0].message;
    assert!(m.contains("***"), "{m}");
    assert!(!m.contains("hunter2") && !m.contains("tok-secret"), "{m}");
}
