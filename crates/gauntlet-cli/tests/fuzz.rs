//! No panic from any plan that `validate` accepts (issue 22, item 2).
//!
//! A property-based fuzz target over the real binary: proptest generates
//! varied plans (names long, unicode, empty-ish; every executor with small
//! bounded durations, VUs and rates; steps with checks, captures, polls and
//! templates; thresholds and SLAs; feeders with small data files; LF, CRLF
//! and bare-CR line endings; block and flow YAML). Each plan goes through
//! `gauntlet validate`; the ones it accepts run end to end (`gauntlet run`)
//! against a loopback target: the embedded demo (`target: demo`) or a
//! gauntlet-testkit `FaultServer` that breaks on purpose. For every plan:
//!
//! * neither command panics (no `panicked at` on stderr, no signal death)
//!   and neither hangs (a watchdog kills it);
//! * `validate` exits 0 or 104; a rejected plan gets an `error:` message;
//! * a run of an accepted plan exits with a code of docs/exit-codes.md that
//!   such a run may get (0, 99, 107, 110: never 1, 104 or 111, which would
//!   mean `validate` and `run` disagree or a bug);
//! * when the run wrote results, each parses: the JSON result against
//!   `schema/result.v2.json`, the k6 summary as JSON, JUnit, Markdown, CSV
//!   and HTML by their shape.
//!
//! Bounded for CI: `GAUNTLET_FUZZ_CASES` plans (default 200, about 15 s on
//! two cores); `GAUNTLET_FUZZ_SECONDS=N` generates plans for N seconds
//! instead. The sequence is fixed (seed 22) unless `GAUNTLET_FUZZ_SEED`
//! picks another. A failing plan is printed whole and saved under
//! `target/fuzz-failures/`, to become a named regression test.

mod support;

use gauntlet_testkit::{Fault, FaultServer};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use serde_json::{Map, Value, json};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Kill a command after this long: the longest generated run is about 4 s.
const WATCHDOG: Duration = Duration::from_secs(60);

/// Exit codes a run of an accepted plan may end with (docs/exit-codes.md):
/// ok, thresholds failed, setup failed, not measured.
const RUN_CODES: &[i32] = &[0, 99, 107, 110];

// ---------------------------------------------------------------------------
// What is generated.
// ---------------------------------------------------------------------------

/// One generated plan and everything it needs beside it.
#[derive(Debug, Clone)]
struct Case {
    /// The plan, with `"@FAULT"` where the fault target's URL goes.
    plan: Value,
    /// The fault the target has, when it is not the demo.
    fault: Option<FaultKind>,
    /// Data files written next to the plan.
    files: Vec<(String, String)>,
    /// How the YAML is written.
    style: Style,
    /// Extra `run` flags.
    flags: Vec<String>,
}

/// A `FaultServer` behaviour, picked by the generator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FaultKind {
    NeverAnswer,
    ResetMidResponse,
    Garbage,
    HalfFail,
    SlowBody,
    Redirects,
}

impl FaultKind {
    fn fault(self) -> Fault {
        match self {
            FaultKind::NeverAnswer => Fault::NeverAnswer,
            FaultKind::ResetMidResponse => Fault::ResetMidResponse,
            FaultKind::Garbage => Fault::Garbage,
            FaultKind::HalfFail => Fault::HalfFail {
                latency: Duration::from_millis(2),
            },
            FaultKind::SlowBody => Fault::SlowBody {
                chunk: 10,
                every: Duration::from_millis(30),
                chunks: 5,
            },
            FaultKind::Redirects => Fault::Redirects(3),
        }
    }
}

/// How the plan text is laid out.
#[derive(Debug, Clone, Copy)]
struct Style {
    /// One JSON-style flow document instead of block YAML.
    flow: bool,
    /// `\n`, `\r\n` or `\r`.
    newline: &'static str,
    /// A UTF-8 byte-order mark first.
    bom: bool,
}

fn dur_ms(range: std::ops::Range<u64>) -> impl Strategy<Value = String> {
    range.prop_map(|ms| format!("{ms}ms"))
}

/// One of `valid` most of the time, one of `invalid` (which `validate`
/// must refuse with a message, never a panic) now and then.
fn mostly(
    valid: Vec<&'static str>,
    invalid: Vec<&'static str>,
) -> impl Strategy<Value = String> + Clone {
    prop_oneof![
        30 => prop::sample::select(valid).prop_map(str::to_owned),
        1 => prop::sample::select(invalid).prop_map(str::to_owned),
    ]
}

/// Operation and scenario names: identifiers, now and then not.
fn ident() -> impl Strategy<Value = String> {
    prop_oneof![
        40 => "[a-z_][a-z0-9_]{0,10}",
        1 => name(),
    ]
}

/// Names of steps, SLAs, tag values: free text, long, unicode, empty-ish.
fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        8 => "[a-z_][a-z0-9_]{0,10}",
        1 => Just(String::new()),
        1 => Just(" ".to_owned()),
        2 => prop::sample::select(vec![
            "名前", "ünïcødé", "😀 emoji", "\u{202e}rtl", "e\u{301}", "tab\tname",
            "new\nline", "nul\u{0}byte", "quote\"s'", "{{ vu }}", "a{b}c", "x,y:z",
            "-dash", "Upper-Case", "9starts_with_digit", "semi;colon", "back\\slash",
        ]).prop_map(str::to_owned),
        1 => prop::sample::select(vec![64usize, 255, 1000, 4096, 65_536, 70_000])
            .prop_map(|n| "n".repeat(n)),
        1 => (prop::sample::select(vec!["é", "😀", "名", "\u{301}"]), 1usize..3000)
            .prop_map(|(c, n)| c.repeat(n)),
    ]
}

/// Template strings, from plain text to ones that fail at run time.
fn template() -> impl Strategy<Value = String> {
    mostly(
        vec![
            "plain",
            "item {{ vu }}-{{ iter }}",
            "{{ uuid() }}",
            "{{ random_int(1, 5) }}",
            "{{ random_string(8) }}",
            "{{ fake('name') }}",
            "{{ now() }}",
            "{{ timestamp() }}",
            "{{ choice(['a', 'b']) }}",
            "{{ scenario }}",
            "{{ env.HOME }}",
            "{{ vu ~ 'x' * 3 }}",
            "{% for i in range(3) %}{{ i }}{% endfor %}",
            "😀 {{ vu }}",
            "",
        ],
        vec![
            "item {{ vu }}-{{ iter }}",
            "{{ uuid() }}",
            "{{ random_int(1, 5) }}",
            "{{ random_string(8) }}",
            "{{ fake('name') }}",
            "{{ now() }}",
            "{{ timestamp() }}",
            "{{ choice(['a', 'b']) }}",
            "{{ scenario }}",
            "{{ item_id }}",
            "{{ token }}",
            "{{ users.email }}",
            "{{ setup.token }}",
            "{{ env.HOME }}",
            "{{ nope }}",
            "{{ 1 / 0 }}",
            "{{ vu ~ 'x' * 3 }}",
            "{{",
        ],
    )
}

fn url() -> impl Strategy<Value = String> {
    mostly(
        vec![
            "/api/items",
            "/api/items?page={{ iter }}",
            "/api/items/{{ uuid() }}",
            "/api/items/999999",
            "/api/me",
            "/health",
            "/metrics",
            "/",
            "/nope",
            "/redirect/3",
            "/{{ random_string(3) }}",
            "http://127.0.0.1:1/refused",
            "{{ '/api/items' }}",
            "/api/items?q=😀",
        ],
        vec![
            "/api/items?page={{ iter }}",
            "/api/items/{{ item_id }}",
            "/api/items/{{ uuid() }}",
            "/api/items/999999",
            "/api/jobs/{{ job_id }}",
            "/api/me",
            "/health",
            "/metrics",
            "/",
            "/nope",
            "/redirect/3",
            "/{{ random_string(3) }}",
            "http://127.0.0.1:1/refused",
            "{{ '/api/items' }}",
            "api/items",
        ],
    )
}

fn request() -> impl Strategy<Value = Value> {
    let method = mostly(
        vec![
            "GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "get",
        ],
        vec!["TRACE", ""],
    );
    let body = prop_oneof![
        3 => Just(None),
        1 => template().prop_map(|t| Some(("json", json!({"name": t, "n": 1, "nested": {"a": [1, "{{ vu }}"]}})))),
        1 => prop::sample::select(vec!["small", "medium", "large"])
            .prop_map(|s| Some(("json", json!(format!("{{{{ payload('{s}') }}}}"))))),
        1 => template().prop_map(|t| Some(("body", json!(t)))),
        1 => template().prop_map(|t| Some(("form", json!({"a": t})))),
        1 => Just(Some(("multipart", json!([{"name": "f", "file": "upload.txt", "contentType": "text/plain"}, {"name": "v", "value": "x"}])))),
    ];
    prop_oneof![
        // Shorthand.
        2 => (method.clone(), url()).prop_map(|(m, u)| json!(format!("{m} {u}"))),
        1 => url().prop_map(|u| json!(u)),
        // Full form.
        4 => (
            method,
            url(),
            body,
            prop::option::of(template()),
            prop::option::of(dur_ms(1..400)),
            prop::option::of(prop::sample::select(vec![json!(200), json!([200, 404]), json!(["200-299", 404]), json!(201)])),
            prop::option::of(name()),
        )
            .prop_map(|(m, u, body, header, timeout, expected, tag)| {
                let mut r = Map::new();
                r.insert("method".into(), json!(m));
                r.insert("url".into(), json!(u));
                if let Some((k, v)) = body {
                    r.insert(k.into(), v);
                }
                if let Some(h) = header {
                    r.insert("headers".into(), json!({"X-Fuzz": h, "Accept": "application/json"}));
                }
                if let Some(t) = timeout {
                    r.insert("timeout".into(), json!(t));
                }
                if let Some(e) = expected {
                    r.insert("expectedStatuses".into(), e);
                }
                if let Some(t) = tag {
                    r.insert("tags".into(), json!({"kind": t}));
                }
                Value::Object(r)
            }),
    ]
}

fn check() -> impl Strategy<Value = Value> {
    prop_oneof![
        prop_oneof![20 => prop::sample::select(vec![200i64, 201, 202, 404, 500]), 1 => prop::sample::select(vec![0i64, 999])].prop_map(|s| json!({"status": s})),
        Just(json!({"status": [200, 201, 204]})),
        template().prop_map(|t| json!({"bodyContains": t})),
        mostly(vec!["id=\\d+", "\"id\"", "ok|done", "^$"], vec!["("]).prop_map(|r| json!({"bodyMatches": r})),
        Just(json!({"jsonPath": "$.id"})),
        Just(json!({"jsonPath": "$.items[0].id", "exists": false})),
        template().prop_map(|t| json!({"jsonPath": "$.status", "equals": t})),
        Just(json!({"header": "Content-Type", "matches": "json"})),
        Just(json!({"header": "X-Cache", "equals": "HIT"})),
        mostly(vec!["< 500ms", "< 1s", "<= 2ms"], vec!["> 0s", "< 0s", "soon"]).prop_map(|d| json!({"duration": d})),
        (name(), template()).prop_map(|(n, t)| json!({"name": n, "bodyContains": t})),
    ]
}

fn capture() -> impl Strategy<Value = Value> {
    let one = prop_oneof![
        Just(json!("$.id")),
        Just(json!("$.token")),
        Just(json!({"jsonPath": "$.items[0].id"})),
        Just(json!({"header": "Content-Type"})),
        Just(json!({"regex": "\"id\":(\\d+)"})),
        Just(json!({"status": true})),
    ];
    let bad = prop_oneof![Just(json!({"regex": "("})), Just(json!({"jsonPath": "id"}))];
    (
        mostly(
            vec!["item_id", "token", "job_id", "c", "code"],
            vec!["bad-name", "vu"],
        ),
        prop_oneof![20 => one, 1 => bad],
    )
        .prop_map(|(k, v)| json!({ k: v }))
}

fn step() -> impl Strategy<Value = Value> {
    let poll = (
        url(),
        dur_ms(1..60),
        dur_ms(0..300),
        prop::option::of("[a-z_]{1,8}"),
    )
        .prop_map(|(u, interval, timeout, metric)| {
            let mut p = json!({
                "request": format!("GET {u}"),
                "until": [{"jsonPath": "$.status", "equals": "done"}],
                "interval": interval,
                "timeout": timeout,
            });
            if let Some(m) = metric {
                p["metric"] = json!(format!("{m}_wait"));
            }
            p
        });
    let action = prop_oneof![
        6 => request().prop_map(|r| ("request", r)),
        1 => poll.prop_map(|p| ("poll", p)),
        // The demo's known flows, so that captures have something to find.
        1 => Just(("request", json!({"method": "POST", "url": "/api/items", "json": {"name": "x {{ vu }}"}}))),
        1 => Just(("request", json!({"method": "POST", "url": "/api/jobs", "json": {"kind": "analysis"}}))),
        1 => Just(("request", json!({"method": "POST", "url": "/api/login", "json": {"username": "u{{ vu }}", "password": "pw-u{{ vu }}"}}))),
    ];
    (
        prop::option::of(name()),
        action,
        prop::collection::vec(check(), 0..3),
        prop::option::of(capture()),
        prop::option::of(prop::sample::select(vec![
            "0s", "1ms", "2ms..5ms", "exp(1ms)",
        ])),
        prop::option::of(mostly(vec!["continue", "end-iteration"], vec!["stop"])),
    )
        .prop_map(|(name, (k, v), checks, capture, think, on_fail)| {
            let mut s = Map::new();
            if let Some(n) = name {
                s.insert("name".into(), json!(n));
            }
            s.insert(k.into(), v);
            if !checks.is_empty() {
                s.insert("checks".into(), json!(checks));
            }
            if let Some(c) = capture {
                s.insert("capture".into(), c);
            }
            if let Some(t) = think {
                s.insert("thinkTime".into(), json!(t));
            }
            if let Some(o) = on_fail {
                s.insert("onCheckFailure".into(), json!(o));
            }
            Value::Object(s)
        })
}

/// The demo's flows, whose later steps use what earlier ones captured.
fn flow() -> impl Strategy<Value = Value> {
    (
        prop::collection::vec(name(), 6),
        prop::collection::vec(prop::collection::vec(check(), 0..2), 6),
        1usize..7,
        dur_ms(1..50),
    )
        .prop_map(|(names, checks, len, interval)| {
            let steps = [
                json!({"request": {"method": "POST", "url": "/api/items", "json": {"name": "x {{ vu }}"}}, "capture": {"item_id": "$.id"}}),
                json!({"request": "GET /api/items/{{ item_id }}"}),
                json!({"request": {"method": "POST", "url": "/api/login", "json": {"username": "u{{ vu }}", "password": "pw-u{{ vu }}"}}, "capture": {"token": "$.token"}}),
                json!({"request": {"url": "/api/me", "headers": {"Authorization": "Bearer {{ token }}"}}}),
                json!({"request": {"method": "POST", "url": "/api/jobs", "json": {"kind": "analysis", "input": "{{ payload('small') }}"}}, "capture": {"job_id": "$.id"}}),
                json!({"poll": {"request": "GET /api/jobs/{{ job_id }}", "until": [{"jsonPath": "$.status", "equals": "done"}], "interval": interval, "timeout": "300ms"}}),
            ];
            let steps: Vec<Value> = steps
                .into_iter()
                .zip(names)
                .zip(checks)
                .take(len)
                .map(|((mut s, n), c)| {
                    s["name"] = json!(n);
                    if !c.is_empty() {
                        s["checks"] = json!(c);
                    }
                    s
                })
                .collect();
            json!({"steps": steps})
        })
}

fn operation() -> impl Strategy<Value = Value> {
    prop_oneof![
        3 => flow(),
        1 => (url(), prop::sample::select(vec!["GET", "POST", "DELETE"])).prop_map(|(u, m)| json!(format!("{m} {u}"))),
        2 => (step(), prop::option::of(0i64..4)).prop_map(|(mut s, w)| {
            // The single-request form: a step without a name.
            if let Some(o) = s.as_object_mut() {
                o.remove("name");
                if let Some(w) = w {
                    o.insert("weight".into(), json!(w));
                }
            }
            s
        }),
        3 => (
            prop::collection::vec(step(), 1..5),
            prop::option::of(0i64..4),
            prop::option::of(prop::sample::select(vec!["0s", "1ms..3ms", "exp(2ms)"])),
            prop::option::of(dur_ms(0..50)),
            prop::option::of(name()),
        )
            .prop_map(|(steps, w, think, pacing, tag)| {
                let mut o = json!({"steps": steps});
                if let Some(w) = w {
                    o["weight"] = json!(w);
                }
                if let Some(t) = think {
                    o["thinkTime"] = json!(t);
                }
                if let Some(p) = pacing {
                    o["pacing"] = json!(p);
                }
                if let Some(t) = tag {
                    o["tags"] = json!({"flow": t});
                }
                o
            }),
    ]
}

fn stages(max_target: u64) -> impl Strategy<Value = Value> {
    prop::collection::vec((dur_ms(0..400), 0..=max_target), 1..4).prop_map(|v| {
        json!(
            v.into_iter()
                .map(|(d, t)| json!({"duration": d, "target": t}))
                .collect::<Vec<_>>()
        )
    })
}

fn executor() -> impl Strategy<Value = Value> {
    let time_unit = mostly(vec!["1s", "100ms", "500ms"], vec!["0s"]);
    prop_oneof![
        10 => prop_oneof![
        (1u64..4, 1u64..7, dur_ms(200..2000)).prop_map(|(v, i, m)| json!({"executor": "shared-iterations", "vus": v, "iterations": i, "maxDuration": m})),
        (1u64..4, 1u64..4, dur_ms(200..2000)).prop_map(|(v, i, m)| json!({"executor": "per-vu-iterations", "vus": v, "iterations": i, "maxDuration": m})),
        (1u64..4, dur_ms(50..800)).prop_map(|(v, d)| json!({"executor": "constant-vus", "vus": v, "duration": d})),
        (0u64..3, stages(3), dur_ms(0..200)).prop_map(|(s, st, g)| json!({"executor": "ramping-vus", "startVUs": s, "stages": st, "gracefulRampDown": g})),
        (1u64..30, time_unit.clone(), dur_ms(50..800), 0u64..4, 0u64..6).prop_map(|(r, tu, d, p, m)| json!({"executor": "constant-arrival-rate", "rate": r, "timeUnit": tu, "duration": d, "preAllocatedVUs": p, "maxVUs": m})),
        (0u64..10, time_unit, stages(20), 0u64..4, 0u64..6).prop_map(|(r, tu, st, p, m)| json!({"executor": "ramping-arrival-rate", "startRate": r, "timeUnit": tu, "stages": st, "preAllocatedVUs": p, "maxVUs": m})),
        ],
        1 => prop_oneof![
        Just(json!({"executor": "constant-vus", "vus": 0, "duration": "0s"})),
        Just(json!({"executor": "externally-controlled", "vus": 1, "maxVUs": 2, "duration": "1s"})),
        Just(json!({"executor": "constant-vus", "vus": 1, "duration": "200ms", "rate": 5})),
        ],
    ]
}

fn scenario(op_names: Vec<String>) -> impl Strategy<Value = Value> {
    (
        executor(),
        prop::option::of(dur_ms(0..300)),
        prop::option::of(dur_ms(0..500)),
        prop::option::of(prop::sample::select(op_names)),
        prop::option::of(name()),
        prop::option::of(mostly(
            vec!["smoke", "load", "spike", "soak"],
            vec!["average-load"],
        )),
    )
        .prop_map(|(mut e, start, stop, exec, tag, tt)| {
            if let Some(s) = start {
                e["startTime"] = json!(s);
            }
            // Bounded: the default gracefulStop is 30 s.
            e["gracefulStop"] = json!(stop.unwrap_or_else(|| "200ms".into()));
            if let Some(x) = exec {
                e["exec"] = json!(x);
            }
            if let Some(t) = tag {
                e["tags"] = json!({"team": t});
                e["env"] = json!({"FUZZ": t});
            }
            if let Some(t) = tt {
                e["testType"] = json!(t);
            }
            e
        })
}

/// A threshold key (metric and selector) with an expression that suits
/// the metric's kind most of the time.
fn threshold(names: Vec<String>) -> impl Strategy<Value = (String, String)> {
    let trend = vec![
        "p(95) < 200ms",
        "p(99.9) < 1s",
        "avg < 100",
        "med > 0",
        "max < 1m",
        "min >= 0",
        "count > 0",
    ];
    let rate = vec![
        "rate < 1%",
        "rate > 0.99",
        "rate < 5",
        "count < 1",
        "rate == 1",
    ];
    let counter = vec!["count > 0", "count < 1", "rate > 10/s", "rate < 1/m"];
    let bytes = vec!["rate < 50MB", "count > 1kB", "count < 1GB"];
    let gauge = vec!["value > 0", "value < 100"];
    let invalid = vec!["p(101) < 1", "avg <", "", "rate < 5%%", "p(95) < 1 parsec"];
    let metric = prop::sample::select(vec![
        ("http_req_duration", trend.clone()),
        ("iteration_duration", trend.clone()),
        ("http_req_waiting", trend),
        ("http_req_failed", rate.clone()),
        ("checks", rate),
        ("http_reqs", counter.clone()),
        ("iterations", counter.clone()),
        ("dropped_iterations", counter.clone()),
        ("capture_failures", counter),
        ("data_received", bytes),
        ("vus", gauge),
    ]);
    let tag = prop_oneof![
        6 => Just(String::new()),
        2 => prop::sample::select(names),
        1 => Just("{scenario:default}".to_owned()),
        1 => Just("{status:200}".to_owned()),
        1 => Just("{expected_response:true}".to_owned()),
        1 => Just("{error_code:request_timeout}".to_owned()),
        1 => Just("{team:checkout}".to_owned()),
        1 => Just("{".to_owned()),
    ];
    (
        metric,
        tag,
        prop::bool::weighted(0.05),
        prop::bool::weighted(0.03),
    )
        .prop_flat_map(move |((m, exprs), t, bad_expr, bad_metric)| {
            let m = if bad_metric { "no_such_metric" } else { m };
            let exprs = if bad_expr { invalid.clone() } else { exprs };
            prop::sample::select(exprs).prop_map(move |e| (format!("{m}{t}"), e.to_owned()))
        })
}

fn thresholds(names: Vec<String>) -> impl Strategy<Value = Value> {
    prop::collection::vec(
        (
            prop::collection::vec(threshold(names), 1..3),
            prop::bool::weighted(0.2),
        ),
        0..4,
    )
    .prop_map(|v| {
        let mut m = Map::new();
        for (pairs, abort) in v {
            let k = pairs[0].0.clone();
            // Expressions of the same key only: each suits its own metric.
            let exprs: Vec<String> = pairs
                .into_iter()
                .filter(|(pk, _)| *pk == k)
                .map(|(_, e)| e)
                .collect();
            let list: Vec<Value> = if abort {
                exprs
                    .into_iter()
                    .map(
                        |e| json!({"threshold": e, "abortOnFail": true, "delayAbortEval": "100ms"}),
                    )
                    .collect()
            } else {
                exprs.into_iter().map(Value::from).collect()
            };
            m.insert(k, json!(list));
        }
        Value::Object(m)
    })
}

fn slas(names: Vec<String>) -> impl Strategy<Value = Value> {
    prop::collection::vec(
        (
            name(),
            threshold(names),
            prop::option::weighted(
                0.1,
                prop::sample::select(vec!["p(95) < 1s", "rate < 5%", "count < 10"]),
            ),
            prop::option::of(mostly(vec!["high", "medium", "low"], vec!["urgent"])),
        ),
        0..3,
    )
    .prop_map(|v| {
        json!(
            v.into_iter()
                .map(|(n, (metric, objective), limit, priority)| {
                    let mut s = json!({"name": n, "metric": metric, "objective": objective});
                    if let Some(l) = limit {
                        s["limit"] = json!(l);
                    }
                    if let Some(p) = priority {
                        s["priority"] = json!(p);
                    }
                    s
                })
                .collect::<Vec<_>>()
        )
    })
}

/// A CSV feeder `users` (0..6 rows) and maybe a JSON feeder `items`.
fn feeders() -> impl Strategy<Value = (Option<Value>, Vec<(String, String)>)> {
    (
        prop::option::of((
            prop_oneof![10 => 1usize..6, 1 => Just(0usize)],
            prop::sample::select(vec!["sequential", "per-vu", "random", "unique", "circular"]),
            prop::option::of(prop::sample::select(vec![
                "recycle",
                "stop-vu",
                "stop-test",
            ])),
            any::<bool>(),
        )),
        any::<bool>(),
    )
        .prop_map(|(csv, json_feeder)| {
            let mut data = Map::new();
            let mut files = Vec::new();
            if let Some((rows, mode, exhausted, unicode)) = csv {
                let mut text = String::from("email,username,password\n");
                for i in 0..rows {
                    let who = if unicode {
                        format!("ü{i}😀")
                    } else {
                        format!("u{i}")
                    };
                    text.push_str(&format!("{who}@example.test,{who},pw-{who}\n"));
                }
                files.push(("users.csv".to_owned(), text));
                let mut f = json!({"file": "users.csv", "mode": mode});
                if let Some(e) = exhausted {
                    f["onExhausted"] = json!(e);
                }
                data.insert("users".into(), f);
            }
            if json_feeder {
                files.push((
                    "items.json".to_owned(),
                    r#"[{"id": 1, "name": "a"}, {"id": 2, "name": "名"}]"#.to_owned(),
                ));
                data.insert(
                    "items".into(),
                    json!({"file": "items.json", "mode": "random"}),
                );
            }
            let data = (!data.is_empty()).then_some(Value::Object(data));
            (data, files)
        })
}

fn target() -> impl Strategy<Value = (Value, Option<FaultKind>)> {
    let demo = (
        prop::option::of(prop::sample::select(vec![
            "1ms",
            "1ms..3ms",
            "lognormal:1ms:5ms",
            "none",
        ])),
        prop::option::of(prop::sample::select(vec![0.0, 0.1, 0.5, 1.0])),
        prop::option::of(prop::sample::select(vec!["20ms", "100ms"])),
        prop::option::of(0u64..5),
        any::<bool>(),
    )
        .prop_map(|(latency, error_rate, job, seed, stall)| {
            let mut d = Map::new();
            if let Some(l) = latency {
                d.insert("latency".into(), json!(l));
            }
            if let Some(e) = error_rate {
                d.insert("errorRate".into(), json!(e));
            }
            d.insert("jobDuration".into(), json!(job.unwrap_or("20ms")));
            if let Some(s) = seed {
                d.insert("seedItems".into(), json!(s));
            }
            if stall {
                d.insert(
                    "stall".into(),
                    json!({"every": "100ms", "duration": "20ms"}),
                );
            }
            (json!({"url": "demo", "demo": d, "timeout": "1s"}), None)
        });
    let fault = prop::sample::select(vec![
        FaultKind::NeverAnswer,
        FaultKind::ResetMidResponse,
        FaultKind::Garbage,
        FaultKind::HalfFail,
        FaultKind::SlowBody,
        FaultKind::Redirects,
    ])
    .prop_map(|f| {
        (
            json!({"url": "@FAULT", "timeout": "300ms", "connectTimeout": "300ms", "headers": {"X-Target": "{{ vu }}"}}),
            Some(f),
        )
    });
    prop_oneof![
        3 => Just((json!("demo"), None)),
        3 => demo,
        2 => fault,
    ]
}

fn case() -> impl Strategy<Value = Case> {
    let ops = prop::collection::vec((ident(), operation()), 1..4);
    (
        ops,
        target(),
        feeders(),
        prop::option::of(name()),
        prop::option::of(prop::collection::vec(step(), 1..3)),
        prop::option::of(prop::collection::vec(step(), 1..2)),
        (
            any::<bool>(),
            prop::sample::select(vec!["\n", "\n", "\n", "\r\n", "\r"]),
            prop::bool::weighted(0.1),
        ),
        prop::collection::vec(
            prop::sample::select(vec![
                "--workers=1",
                "--workers=2",
                "--tag=team=checkout",
                "--throw",
                "--no-thresholds",
            ]),
            0..2,
        ),
    )
        .prop_flat_map(
            |(
                ops,
                target,
                (data, files),
                plan_name,
                setup,
                teardown,
                (flow, newline, bom),
                flags,
            )| {
                let op_names: Vec<String> = ops.iter().map(|(n, _)| n.clone()).collect();
                // Selectors of names the plan has: operations (`group`) and steps (`name`).
                let mut names: Vec<String> =
                    op_names.iter().map(|n| format!("{{group:{n}}}")).collect();
                for (_, o) in &ops {
                    for s in o["steps"].as_array().into_iter().flatten() {
                        if let Some(n) = s["name"].as_str() {
                            names.push(format!("{{name:{n}}}"));
                        }
                    }
                }
                (
                    prop::option::of(prop::collection::vec((ident(), scenario(op_names)), 1..3)),
                    thresholds(names.clone()),
                    slas(names),
                    prop::option::of(prop::option::of(prop::sample::select(vec![
                        vec!["avg", "p(99)"],
                        vec!["med"],
                        vec!["count", "p(99.99)"],
                        vec!["bogus"],
                    ]))),
                    prop::option::of(0u64..1000),
                )
                    .prop_map(move |(scenarios, thresholds, slas, trend, seed)| {
                        let mut plan = Map::new();
                        plan.insert("version".into(), json!(1));
                        if let Some(n) = &plan_name {
                            plan.insert("name".into(), json!(n));
                        }
                        plan.insert("target".into(), target.0.clone());
                        let mut operations = Map::new();
                        for (n, o) in &ops {
                            operations.insert(n.clone(), o.clone());
                        }
                        plan.insert(
                            "workload".into(),
                            json!({"thinkTime": "1ms", "operations": operations}),
                        );
                        if let Some(d) = &data {
                            plan.insert("data".into(), d.clone());
                        }
                        if let Some(s) = &setup {
                            plan.insert("setup".into(), json!(s));
                        }
                        if let Some(t) = &teardown {
                            plan.insert("teardown".into(), json!(t));
                        }
                        if let Some(sc) = scenarios {
                            let mut m = Map::new();
                            for (n, s) in sc {
                                m.insert(n, s);
                            }
                            plan.insert("scenarios".into(), Value::Object(m));
                        }
                        if thresholds.as_object().is_some_and(|m| !m.is_empty()) {
                            plan.insert("thresholds".into(), thresholds);
                        }
                        if slas.as_array().is_some_and(|a| !a.is_empty()) {
                            plan.insert("sla".into(), slas);
                        }
                        let mut options = Map::new();
                        if let Some(Some(t)) = &trend {
                            options.insert("summaryTrendStats".into(), json!(t));
                        }
                        if let Some(s) = seed {
                            options.insert("seed".into(), json!(s));
                        }
                        if !options.is_empty() {
                            plan.insert("options".into(), Value::Object(options));
                        }
                        let mut files = files.clone();
                        files.push(("upload.txt".to_owned(), "uploaded\n".to_owned()));
                        Case {
                            plan: Value::Object(plan),
                            fault: target.1,
                            files,
                            style: Style { flow, newline, bom },
                            flags: flags.iter().map(|f| (*f).to_owned()).collect(),
                        }
                    })
            },
        )
}

// ---------------------------------------------------------------------------
// Writing the plan.
// ---------------------------------------------------------------------------

/// A scalar or key as YAML: a JSON string is a valid double-quoted YAML
/// scalar, so every string stays a string (`on`, `10`) whatever it holds.
fn scalar(v: &Value) -> String {
    v.to_string()
}

/// Block-style YAML; lists of mappings and nested lists in flow style.
fn block(v: &Value, indent: usize, out: &mut String) {
    let pad = " ".repeat(indent);
    match v {
        Value::Object(m) => {
            for (k, v) in m {
                let key = scalar(&Value::String(k.clone()));
                if key.len() > 1000 {
                    // YAML limits an implicit key to 1024 characters.
                    out.push_str(&format!("{pad}? {key}\n{pad}:"));
                } else {
                    out.push_str(&format!("{pad}{key}:"));
                }
                match v {
                    Value::Object(inner) if !inner.is_empty() => {
                        out.push('\n');
                        block(v, indent + 2, out);
                    }
                    Value::Array(items) if !items.is_empty() => {
                        out.push('\n');
                        for item in items {
                            out.push_str(&format!("{pad}  - {item}\n"));
                        }
                    }
                    other => out.push_str(&format!(" {}\n", scalar(other))),
                }
            }
        }
        other => out.push_str(&format!("{pad}{other}\n")),
    }
}

fn plan_text(case: &Case, fault_url: Option<&str>) -> String {
    let mut plan = case.plan.clone();
    if let Some(u) = fault_url {
        plan["target"]["url"] = json!(u);
    }
    fn long_key(v: &Value) -> bool {
        match v {
            Value::Object(m) => m.iter().any(|(k, v)| k.len() > 1000 || long_key(v)),
            Value::Array(a) => a.iter().any(long_key),
            _ => false,
        }
    }
    // A flow mapping's keys are implicit: at most 1024 characters.
    let text = if case.style.flow && !long_key(&plan) {
        format!("{plan}\n")
    } else {
        let mut s = String::from("# generated by crates/gauntlet-cli/tests/fuzz.rs\n");
        block(&plan, 0, &mut s);
        s
    };
    let text = text.replace('\n', case.style.newline);
    if case.style.bom {
        format!("\u{feff}{text}")
    } else {
        text
    }
}

// ---------------------------------------------------------------------------
// Running the binary.
// ---------------------------------------------------------------------------

struct Ran {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

fn gauntlet(args: &[String], dir: &Path) -> Ran {
    let child = Command::new(env!("CARGO_BIN_EXE_gauntlet"))
        .env("NO_COLOR", "1")
        .env("RUST_BACKTRACE", "1")
        .current_dir(dir)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start gauntlet");
    let (status, stdout, mut stderr) = support::wait_with_watchdog(child, WATCHDOG);
    if status.is_none() {
        stderr.push_str(&format!(
            "\n[fuzz] killed after {WATCHDOG:?}: the command hung\n"
        ));
    }
    Ran {
        code: status.and_then(|s| s.code()),
        stdout,
        stderr,
    }
}

/// Counts of one fuzzing session.
#[derive(Debug, Default)]
struct Tally {
    generated: usize,
    accepted: usize,
    ran: usize,
    /// Exit code of each run → how many.
    codes: std::collections::BTreeMap<i32, usize>,
    failures: Vec<String>,
}

fn result_schema() -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../schema/result.v2.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Check one generated case end to end; `Err` says what went wrong.
fn check_case(
    case: &Case,
    servers: &[(FaultKind, FaultServer)],
    schema: &jsonschema::Validator,
    tally: &mut Tally,
) -> Result<(), String> {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in &case.files {
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    let fault_url = case
        .fault
        .and_then(|f| servers.iter().find(|(k, _)| *k == f))
        .map(|(_, s)| s.base_url());
    let text = plan_text(case, fault_url.as_deref());
    std::fs::write(dir.path().join("plan.yaml"), &text).unwrap();
    let context = |what: &str, r: &Ran| {
        format!(
            "{what}\n--- plan.yaml ---\n{}\n--- exit code {:?} ---\n--- stdout ---\n{}\n--- stderr ---\n{}",
            text.replace('\r', "\n"),
            r.code,
            r.stdout,
            r.stderr
        )
    };
    let panicked = |r: &Ran| r.stderr.contains("panicked at") || r.code.is_none();

    let v = gauntlet(&["validate".into(), "plan.yaml".into()], dir.path());
    if panicked(&v) {
        return Err(context("`validate` panicked or hung", &v));
    }
    match v.code {
        Some(0) => {}
        Some(104) => {
            if std::env::var_os("GAUNTLET_FUZZ_VERBOSE").is_some() {
                let first = v
                    .stderr
                    .lines()
                    .find(|l| l.starts_with("error"))
                    .unwrap_or("");
                eprintln!("[fuzz] refused: {}", &first[..first.len().min(300)]);
            }
            if !v.stderr.contains("error") {
                return Err(context(
                    "`validate` refused the plan without an error message",
                    &v,
                ));
            }
            return Ok(());
        }
        _ => return Err(context("`validate` exited with an unexpected code", &v)),
    }
    tally.accepted += 1;

    let mut args: Vec<String> = vec![
        "run".into(),
        "plan.yaml".into(),
        "-q".into(),
        "--summary-export".into(),
        "k6.json".into(),
        "--out".into(),
        "json=result.json".into(),
        "--out".into(),
        "junit=junit.xml".into(),
        "--out".into(),
        "md=summary.md".into(),
        "--out".into(),
        "csv=timeline.csv".into(),
    ];
    if tally.accepted % 4 == 1 {
        args.extend(["--out".into(), "html=report.html".into()]);
    }
    args.extend(case.flags.iter().cloned());
    let r = gauntlet(&args, dir.path());
    tally.ran += 1;
    if let Some(c) = r.code {
        *tally.codes.entry(c).or_default() += 1;
    }
    if panicked(&r) {
        return Err(context("`run` panicked or hung", &r));
    }
    let code = r.code.unwrap_or(-1);
    if !RUN_CODES.contains(&code) {
        return Err(context(
            "`run` of a plan `validate` accepts exited with a code such a run must not get",
            &r,
        ));
    }
    if code == 107 {
        return Ok(()); // setup failed: no scenario ran, no result files
    }
    let file = |n: &str| std::fs::read_to_string(dir.path().join(n));
    let result: Value = match file("result.json").map(|t| serde_json::from_str(&t)) {
        Ok(Ok(v)) => v,
        other => {
            return Err(context(
                &format!("result.json does not parse: {other:?}"),
                &r,
            ));
        }
    };
    let errs: Vec<String> = schema
        .iter_errors(&result)
        .take(5)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    if !errs.is_empty() {
        return Err(context(
            &format!("result.json breaks its schema: {errs:#?}"),
            &r,
        ));
    }
    match file("k6.json").map(|t| serde_json::from_str::<Value>(&t)) {
        Ok(Ok(v)) if v.get("metrics").is_some() => {}
        other => return Err(context(&format!("k6.json does not parse: {other:?}"), &r)),
    }
    match file("junit.xml") {
        Ok(x) if x.starts_with("<?xml") && x.trim_end().ends_with("</testsuites>") => {}
        other => {
            return Err(context(
                &format!("junit.xml is not a JUnit document: {other:?}"),
                &r,
            ));
        }
    }
    match file("summary.md") {
        Ok(m) if m.starts_with('#') => {}
        other => {
            return Err(context(
                &format!("summary.md is not Markdown: {other:?}"),
                &r,
            ));
        }
    }
    match file("timeline.csv") {
        Ok(c) if c.lines().next().is_some_and(|h| h.contains(',')) => {}
        other => {
            return Err(context(
                &format!("timeline.csv has no header: {other:?}"),
                &r,
            ));
        }
    }
    if args.iter().any(|a| a == "html=report.html") {
        match file("report.html") {
            Ok(h) if h.starts_with("<!DOCTYPE html>") && h.trim_end().ends_with("</html>") => {}
            Ok(h) => {
                return Err(context(
                    &format!("report.html is not a page: {:?}", &h[..h.len().min(200)]),
                    &r,
                ));
            }
            Err(e) => return Err(context(&format!("report.html not written: {e}"), &r)),
        }
    }
    Ok(())
}

fn env_number(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.trim().parse().ok())
}

#[test]
fn no_plan_that_validate_accepts_makes_a_run_panic() {
    let seconds = env_number("GAUNTLET_FUZZ_SECONDS");
    let cases = env_number("GAUNTLET_FUZZ_CASES").unwrap_or(200);
    let seed = env_number("GAUNTLET_FUZZ_SEED").unwrap_or(22);
    let mut seed_bytes = [0u8; 32];
    seed_bytes[..8].copy_from_slice(&seed.to_le_bytes());
    let mut runner = TestRunner::new_with_rng(
        Config::default(),
        TestRng::from_seed(RngAlgorithm::ChaCha, &seed_bytes),
    );
    let servers: Vec<(FaultKind, FaultServer)> = [
        FaultKind::NeverAnswer,
        FaultKind::ResetMidResponse,
        FaultKind::Garbage,
        FaultKind::HalfFail,
        FaultKind::SlowBody,
        FaultKind::Redirects,
    ]
    .into_iter()
    .map(|k| (k, FaultServer::start(k.fault())))
    .collect();
    let schema = jsonschema::validator_for(&result_schema()).unwrap();
    let strategy = case();
    let started = Instant::now();
    let mut tally = Tally::default();
    loop {
        let more = match seconds {
            Some(s) => started.elapsed() < Duration::from_secs(s),
            None => (tally.generated as u64) < cases,
        };
        if !more {
            break;
        }
        let case = strategy.new_tree(&mut runner).unwrap().current();
        tally.generated += 1;
        if let Err(why) = check_case(&case, &servers, &schema, &mut tally) {
            let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/fuzz-failures");
            let _ = std::fs::create_dir_all(&dir);
            let _ = std::fs::write(
                dir.join(format!("seed{seed}-case{}.txt", tally.generated)),
                &why,
            );
            eprintln!(
                "[fuzz] case {} (seed {seed}) failed:\n{why}\n",
                tally.generated
            );
            tally.failures.push(why);
        }
    }
    let elapsed = started.elapsed();
    eprintln!(
        "[fuzz] seed {seed}: {} plans generated, {} accepted by validate, {} run end to end, \
         {} failures (panics, hangs or bad exits), exit codes {:?}, in {:.1} s",
        tally.generated,
        tally.accepted,
        tally.ran,
        tally.failures.len(),
        tally.codes,
        elapsed.as_secs_f64()
    );
    assert!(
        tally.ran > 0,
        "no generated plan was accepted: the generator is broken"
    );
    assert!(
        tally.failures.is_empty(),
        "{} of {} generated plans failed; the first:\n{}",
        tally.failures.len(),
        tally.generated,
        tally.failures[0]
    );
}
