//! Snapshot tests of the human-facing summaries (terminal, with and without
//! colour, and Markdown) and of the JUnit document, rendered from fixed,
//! hand-built [`Summary`] values: no run, no clock, so every byte is
//! deterministic. Accepted snapshots live in `tests/snapshots/`; review a
//! change with `cargo insta review` (or `INSTA_UPDATE=always`, then `git diff`).

use gauntlet_analysis::{
    Decision, SlaResult, SlaStatus, ThresholdResult, ThresholdStatus, Verdict,
};
use gauntlet_metrics::{MetricKind, Unit};
use gauntlet_report::model::{
    CheckRow, ErrorRow, MetricRow, OperationRow, ScenarioRow, StepErrorRow, Summary, TrendStats,
    Values,
};
use gauntlet_report::terminal::Style;
use gauntlet_report::{junit, markdown, terminal};

/// Statistics from `[min, med, avg, p90, p95, p99, max]`.
fn trend(count: u64, [min, med, avg, p90, p95, p99, max]: [f64; 7]) -> TrendStats {
    TrendStats {
        count,
        avg,
        min,
        med,
        max,
        percentiles: vec![
            (90.0, p90),
            (95.0, p95),
            (99.0, p99),
            (99.9, max * 0.98),
            (50.0, med),
        ],
    }
}

fn row(name: &str, kind: MetricKind, unit: Unit, values: Values) -> MetricRow {
    MetricRow {
        name: name.into(),
        tags: vec![],
        kind,
        unit,
        values,
    }
}

fn threshold(
    metric: &str,
    expression: &str,
    observed: Option<f64>,
    passed: bool,
) -> ThresholdResult {
    ThresholdResult {
        metric: metric.into(),
        expression: expression.into(),
        observed,
        status: match (passed, observed) {
            (true, _) => ThresholdStatus::Pass,
            (false, None) => ThresholdStatus::NotEvaluated,
            (false, Some(_)) => ThresholdStatus::Fail,
        },
        abort_on_fail: false,
        sla: None,
        window: None,
    }
}

fn sla(
    name: &str,
    metric: &str,
    objective: &str,
    limit: Option<&str>,
    observed: Option<f64>,
    status: SlaStatus,
    priority: &str,
) -> SlaResult {
    SlaResult {
        name: name.into(),
        metric: metric.into(),
        objective: objective.into(),
        limit: limit.map(Into::into),
        observed,
        status,
        priority: priority.into(),
        window: None,
    }
}

/// A failing run that has every section: thresholds that pass, fail and saw
/// no data; an SLA of each status; failed checks; errors of several kinds;
/// requests by name; corrected and raw latency; bytes; a custom metric.
fn no_go() -> Summary {
    let corrected = trend(1840, [1.204, 38.5, 61.377, 140.36, 212.9, 1480.0, 2350.0]);
    let raw = trend(1840, [1.204, 31.25, 44.018, 98.7, 131.044, 402.5, 2350.0]);
    let metrics = vec![
        row(
            "cart_value",
            MetricKind::Trend,
            Unit::Count,
            Values::Trend {
                stats: trend(412, [3.0, 42.0, 57.31, 120.0, 150.0, 199.0, 250.0]),
                raw: None,
            },
        ),
        row(
            "checks",
            MetricKind::Rate,
            Unit::Count,
            Values::Rate {
                rate: 0.9592,
                passes: 3530,
                fails: 150,
            },
        ),
        row(
            "http_req_duration",
            MetricKind::Trend,
            Unit::Microseconds,
            Values::Trend {
                stats: corrected,
                raw: Some(raw),
            },
        ),
        MetricRow {
            name: "http_req_duration".into(),
            tags: vec![("expected_response".into(), "true".into())],
            kind: MetricKind::Trend,
            unit: Unit::Microseconds,
            values: Values::Trend {
                stats: trend(1690, [1.204, 36.0, 55.9, 130.0, 190.25, 1100.0, 2350.0]),
                raw: None,
            },
        },
        row(
            "http_req_failed",
            MetricKind::Rate,
            Unit::Count,
            Values::Rate {
                rate: 0.08152,
                passes: 150,
                fails: 1690,
            },
        ),
        row(
            "http_reqs",
            MetricKind::Counter,
            Unit::Count,
            Values::Counter {
                count: 1840.0,
                rate: 30.6667,
            },
        ),
        row(
            "iteration_duration",
            MetricKind::Trend,
            Unit::Microseconds,
            Values::Trend {
                stats: trend(
                    920,
                    [802.5, 1204.0, 1398.77, 2010.0, 2380.5, 3950.0, 61_250.0],
                ),
                raw: None,
            },
        ),
        row(
            "iterations",
            MetricKind::Counter,
            Unit::Count,
            Values::Counter {
                count: 920.0,
                rate: 15.3333,
            },
        ),
        row(
            "vus",
            MetricKind::Gauge,
            Unit::Count,
            Values::Gauge {
                value: 12.0,
                min: 1.0,
                max: 50.0,
            },
        ),
        row(
            "data_received",
            MetricKind::Counter,
            Unit::Bytes,
            Values::Counter {
                count: 2_412_345.0,
                rate: 40_205.75,
            },
        ),
        row(
            "data_sent",
            MetricKind::Counter,
            Unit::Bytes,
            Values::Counter {
                count: 312_000.0,
                rate: 5_200.0,
            },
        ),
    ];
    let thresholds = vec![
        threshold("http_req_duration", "p(95) < 200", Some(212.9), false),
        threshold("http_req_duration", "avg < 500ms", Some(61.377), true),
        threshold("http_req_failed", "rate < 1%", Some(0.08152), false),
        threshold("http_reqs", "rate > 10", Some(30.6667), true),
        threshold("checks", "rate > 0.95", Some(0.9592), true),
        threshold(
            "http_req_duration{name:checkout}",
            "p(99) < 1s",
            None,
            false,
        ),
        threshold("cart_value", "avg > 10", Some(57.31), true),
        // SLA-derived: shown in the SLA section, not among thresholds.
        ThresholdResult {
            sla: Some(0),
            ..threshold(
                "http_req_duration{name:list_items}",
                "p(95) < 100ms",
                Some(42.1),
                true,
            )
        },
    ];
    let slas = vec![
        sla(
            "List items p95 under 100 ms",
            "http_req_duration{name:list_items}",
            "p(95) < 100ms",
            None,
            Some(42.1),
            SlaStatus::Pass,
            "high",
        ),
        sla(
            "Create item p95 under 150 ms | write path",
            "http_req_duration{name:create_item}",
            "p(95) < 150ms",
            Some("p(95) < 400ms"),
            Some(212.9),
            SlaStatus::Warn,
            "medium",
        ),
        sla(
            "Error rate under 1%",
            "http_req_failed",
            "rate < 1%",
            Some("rate < 5%"),
            Some(0.08152),
            SlaStatus::Fail,
            "high",
        ),
        sla(
            "Checkout p99 under 1 s",
            "http_req_duration{name:checkout}",
            "p(99) < 1s",
            None,
            None,
            SlaStatus::NotEvaluated,
            "low",
        ),
    ];
    Summary {
        plan: "items-crud".into(),
        target: "http://127.0.0.1:8080".into(),
        duration_ms: 60_012,
        interrupted: None,
        metrics,
        checks: vec![
            CheckRow {
                name: "status is 201".into(),
                group: "create_then_read".into(),
                step: "create_item".into(),
                passes: 1380,
                fails: 0,
            },
            CheckRow {
                name: "status is 200".into(),
                group: "create_then_read".into(),
                step: "read_item".into(),
                passes: 1230,
                fails: 150,
            },
            // The same check on a second step stays its own line.
            CheckRow {
                name: "status is 200".into(),
                group: "create_then_read".into(),
                step: "list_items".into(),
                passes: 920,
                fails: 0,
            },
            CheckRow {
                name: "has items".into(),
                group: String::new(),
                step: "list_items".into(),
                passes: 920,
                fails: 0,
            },
        ],
        operations: vec![
            OperationRow {
                name: "create_item".into(),
                requests: 460,
                failed_rate: 0.0,
                duration: trend(460, [2.5, 48.0, 70.2, 160.0, 212.9, 1480.0, 2350.0]),
            },
            OperationRow {
                name: "list_items".into(),
                requests: 920,
                failed_rate: 0.0,
                duration: trend(920, [1.204, 20.0, 25.0, 36.0, 42.1, 90.0, 300.0]),
            },
            OperationRow {
                name: "read_item".into(),
                requests: 460,
                failed_rate: 150.0 / 460.0,
                duration: trend(460, [0.45, 0.82, 1.1, 1.9, 2.4, 7.5, 19.0]),
            },
        ],
        errors: vec![
            ErrorRow {
                code: "http_500".into(),
                count: 120,
            },
            ErrorRow {
                code: "connection_refused".into(),
                count: 25,
            },
            ErrorRow {
                code: "request_timeout".into(),
                count: 5,
            },
            ErrorRow {
                code: "template_error".into(),
                count: 3,
            },
        ],
        step_errors: vec![StepErrorRow {
            group: "create_then_read".into(),
            step: "read_item".into(),
            code: "template_error".into(),
            count: 3,
            message: "url: undefined value `item.id` (the capture found nothing)".into(),
        }],
        scenarios: vec![
            ScenarioRow {
                name: "load".into(),
                executor: "ramping-arrival-rate".into(),
                iterations: 900,
                interrupted: 0,
                dropped: 14,
                vus_max: 50,
            },
            ScenarioRow {
                name: "smoke".into(),
                executor: "shared-iterations".into(),
                iterations: 20,
                interrupted: 2,
                dropped: 0,
                vus_max: 2,
            },
        ],
        verdict: Verdict {
            thresholds,
            slas,
            decision: Decision::NoGo,
            measured: false,
            // Worded as gauntlet_analysis::evaluate words them.
            reasons: vec![
                "threshold http_req_duration p(95) < 200 failed (observed 212.9ms)".into(),
                "SLA \"Error rate under 1%\" failed: http_req_failed rate < 5% (observed 8.15%)"
                    .into(),
            ],
        },
        trend_stats: ["avg", "min", "med", "max", "p(90)", "p(95)"]
            .map(String::from)
            .to_vec(),
    }
}

/// The same run, cut short by Ctrl-C.
fn interrupted() -> Summary {
    Summary {
        duration_ms: 12_345,
        interrupted: Some("interrupted by the user (SIGINT)".into()),
        ..no_go()
    }
}

/// A small passing run: no SLA, no checks, no errors, no raw line.
fn go() -> Summary {
    let stats = trend(150, [0.612, 1.35, 1.523, 2.1, 2.76, 4.9, 8.003]);
    Summary {
        plan: "quickstart".into(),
        target: "demo (embedded)".into(),
        duration_ms: 15_004,
        interrupted: None,
        metrics: vec![
            row(
                "http_req_duration",
                MetricKind::Trend,
                Unit::Microseconds,
                Values::Trend {
                    stats: stats.clone(),
                    raw: None,
                },
            ),
            row(
                "http_req_failed",
                MetricKind::Rate,
                Unit::Count,
                Values::Rate {
                    rate: 0.0,
                    passes: 0,
                    fails: 150,
                },
            ),
            row(
                "http_reqs",
                MetricKind::Counter,
                Unit::Count,
                Values::Counter {
                    count: 150.0,
                    rate: 9.9973,
                },
            ),
        ],
        checks: vec![],
        operations: vec![OperationRow {
            name: "list_items".into(),
            requests: 150,
            failed_rate: 0.0,
            duration: stats,
        }],
        errors: vec![],
        step_errors: vec![],
        scenarios: vec![ScenarioRow {
            name: "default".into(),
            executor: "constant-vus".into(),
            iterations: 150,
            interrupted: 0,
            dropped: 0,
            vus_max: 2,
        }],
        verdict: Verdict {
            thresholds: vec![
                threshold("http_req_failed", "rate < 1%", Some(0.0), true),
                threshold("http_req_duration", "p(95) < 200ms", Some(2.76), true),
            ],
            slas: vec![],
            decision: Decision::Go,
            measured: true,
            reasons: vec!["every threshold held".into()],
        },
        trend_stats: [
            "avg", "min", "med", "max", "p(90)", "p(95)", "p(99)", "count",
        ]
        .map(String::from)
        .to_vec(),
    }
}

/// ANSI escapes made visible so the colour snapshot can be read and reviewed.
fn visible(s: &str) -> String {
    s.replace('\x1b', "\\e")
}

#[test]
fn terminal_no_go_plain() {
    let out = terminal::render(&no_go(), Style { color: false });
    assert!(!out.contains('\x1b'), "no colour asked, none given");
    insta::assert_snapshot!("terminal_no_go_plain", out);
}

#[test]
fn terminal_no_go_color() {
    let out = terminal::render(&no_go(), Style { color: true });
    assert!(out.contains("\x1b[31m✗\x1b[0m"), "failures are red");
    insta::assert_snapshot!("terminal_no_go_color", visible(&out));
}

#[test]
fn terminal_interrupted() {
    let out = terminal::render(&interrupted(), Style { color: false });
    insta::assert_snapshot!("terminal_interrupted", out);
}

#[test]
fn terminal_go() {
    insta::assert_snapshot!(
        "terminal_go",
        terminal::render(&go(), Style { color: false })
    );
}

#[test]
fn markdown_no_go() {
    insta::assert_snapshot!("markdown_no_go", markdown::render(&no_go()));
}

#[test]
fn markdown_interrupted() {
    insta::assert_snapshot!("markdown_interrupted", markdown::render(&interrupted()));
}

#[test]
fn markdown_go() {
    insta::assert_snapshot!("markdown_go", markdown::render(&go()));
}

#[test]
fn junit_no_go() {
    insta::assert_snapshot!("junit_no_go", junit::render(&interrupted()));
}

#[test]
fn junit_go() {
    insta::assert_snapshot!("junit_go", junit::render(&go()));
}

#[test]
fn a_summary_survives_its_json_round_trip() {
    // `gauntlet report` renders from the saved summary: same bytes as live.
    let s = no_go();
    let back: Summary = serde_json::from_str(&serde_json::to_string(&s).unwrap()).unwrap();
    assert_eq!(markdown::render(&back), markdown::render(&s));
    assert_eq!(
        terminal::render(&back, Style { color: false }),
        terminal::render(&s, Style { color: false })
    );
    assert_eq!(junit::render(&back), junit::render(&s));
}

/// A step name `validate` accepts, however long, renders: the name columns
/// stop growing at 60 characters and the name is cut with an ellipsis (a
/// 65,536-character name once panicked in the formatter).
#[test]
fn a_name_of_65536_characters_is_cut_not_a_panic() {
    let long = "n".repeat(65_536);
    let mut s = go();
    s.operations[0].name = long.clone();
    s.scenarios[0].name = long.clone();
    let out = terminal::render(&s, Style { color: false });
    assert!(!out.contains(&long));
    let widest = out.lines().map(|l| l.chars().count()).max().unwrap();
    assert!(widest < 200, "lines stay readable: {widest} characters");
    assert!(out.contains(&format!("{}…", "n".repeat(59))));
}

/// Every key of the summary (the `summary` of `--out json=`) is camelCase,
/// as the document around it (`durationMs`, `schemaVersion`) is.
#[test]
fn the_result_summary_keys_are_camel_case() {
    fn walk(v: &serde_json::Value, path: &str, bad: &mut Vec<String>) {
        match v {
            serde_json::Value::Object(m) => {
                for (k, v) in m {
                    if k.contains('_') {
                        bad.push(format!("{path}.{k}"));
                    }
                    walk(v, &format!("{path}.{k}"), bad);
                }
            }
            serde_json::Value::Array(a) => a.iter().for_each(|v| walk(v, path, bad)),
            _ => {}
        }
    }
    let mut bad = Vec::new();
    walk(&serde_json::to_value(no_go()).unwrap(), "summary", &mut bad);
    assert!(bad.is_empty(), "snake_case keys: {bad:?}");
}

/// The k6 summary names groups and checks with k6's ids (the MD5 of the
/// path), keeps the same check on two steps apart, and types a threshold's
/// sub-metric without samples as its metric is (a rate stays a rate).
#[test]
fn the_k6_summary_has_k6_ids_separate_checks_and_typed_empty_sub_metrics() {
    let mut s = no_go();
    s.verdict.thresholds.push(threshold(
        "http_req_failed{name:checkout}",
        "rate < 0.01",
        None,
        false,
    ));
    let k6 = gauntlet_report::k6::summary_json(&s, false);
    let root = &k6["root_group"];
    // md5("") and md5("::create_then_read").
    assert_eq!(root["id"], "d41d8cd98f00b204e9800998ecf8427e");
    let group = root["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["name"] == "create_then_read")
        .unwrap();
    assert_eq!(group["path"], "::create_then_read");
    assert_eq!(group["id"].as_str().unwrap().len(), 32);
    assert_ne!(group["id"], root["id"]);
    let names: Vec<&str> = group["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "status is 201",
            "status is 200 [read_item]",
            "status is 200 [list_items]"
        ]
    );
    let ids: std::collections::BTreeSet<&str> = group["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 3, "each check has its own id");
    let empty = &k6["metrics"]["http_req_failed{name:checkout}"];
    assert_eq!(empty["type"], "rate");
    assert_eq!(empty["values"]["passes"], 0);
    assert_eq!(empty["thresholds"]["rate < 0.01"]["ok"], false);
}
