//! Windowed thresholds against the embedded demo, end to end: a run that is
//! healthy for 50 s and fails every request in its last 10 s. k6's whole-run
//! threshold passes it (10 s of 60 is a sixth of the requests); a threshold
//! judged over every 10 s window fails it, and says where.
//!
//! One run of 60 s at 20 requests per second, bounded by a watchdog.

mod support;

use serde_json::Value;
use std::process::{Command, Stdio};
use std::time::Duration;

const PLAN: &str = "\
version: 1
name: healthy-then-broken
target:
  url: demo
workload:
  operations:
    healthy: GET /api/items
    broken: GET /no-such-page
scenarios:
  healthy:
    executor: constant-arrival-rate
    rate: 20
    duration: 50s
    preAllocatedVUs: 5
    exec: healthy
  broken:
    executor: constant-arrival-rate
    rate: 20
    duration: 10s
    startTime: 50s
    preAllocatedVUs: 5
    exec: broken
thresholds:
  http_req_failed:
    - rate < 20%
    - rate < 20% over 10s
    - rate < 50% for 5s
";

fn status<'a>(result: &'a Value, expression: &str) -> &'a Value {
    result["summary"]["verdict"]["thresholds"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["expression"] == expression)
        .unwrap_or_else(|| panic!("no threshold `{expression}` in {result:#}"))
}

#[test]
fn a_ten_second_window_fails_a_run_whose_last_ten_seconds_fail_while_the_whole_run_passes() {
    let dir = tempfile::tempdir().unwrap();
    let plan = dir.path().join("plan.yaml");
    std::fs::write(&plan, PLAN).unwrap();
    let result = dir.path().join("result.json");
    let child = Command::new(env!("CARGO_BIN_EXE_gauntlet"))
        .arg("run")
        .arg(&plan)
        .arg("--quiet")
        .arg("--out")
        .arg(format!("json={}", result.display()))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (code, out, err) = support::wait_with_watchdog(child, Duration::from_secs(150));
    assert_eq!(code.and_then(|c| c.code()), Some(99), "{out}\n{err}");
    let v: Value = serde_json::from_slice(&std::fs::read(&result).unwrap()).unwrap();

    let whole = status(&v, "rate < 20%");
    assert_eq!(whole["status"], "pass", "{whole:#}");
    let observed = whole["observed"].as_f64().unwrap();
    assert!(
        observed > 0.1 && observed < 0.2,
        "a sixth failed: {observed}"
    );
    assert!(whole.get("window").is_none(), "{whole:#}");

    let over = status(&v, "rate < 20% over 10s");
    assert_eq!(over["status"], "fail", "{over:#}");
    let w = &over["window"];
    assert_eq!(w["rule"], "over 10s");
    // The first window that breaks starts within the healthy part: from
    // 42 s on, a 10 s window holds more than 2 s of failures.
    let first = w["firstFailureSecs"].as_f64().unwrap();
    assert!((40.0..=50.0).contains(&first), "{w:#}");
    assert_eq!(
        over["observed"].as_f64(),
        Some(1.0),
        "the worst window failed all"
    );
    let compliance = w["compliance"].as_f64().unwrap();
    assert!(compliance > 0.7 && compliance < 1.0, "{w:#}");

    let sustained = status(&v, "rate < 50% for 5s");
    assert_eq!(sustained["status"], "fail", "{sustained:#}");
    let broken = sustained["window"]["longestBrokenSecs"].as_f64().unwrap();
    assert!((8.0..=11.0).contains(&broken), "{sustained:#}");
}
