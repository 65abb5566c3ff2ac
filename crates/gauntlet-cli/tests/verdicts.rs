//! The verdicts users must get from the `gauntlet` binary against targets
//! that break (gauntlet-testkit's `FaultServer`, one per test on its own
//! port): a target that never answers, stalls, resets, answers garbage,
//! half fails, trickles, floods or redirects, and a plan whose template
//! fails at run time. Each test pins the exit code, the decision and the
//! counts in the result (`--out json=`) and the k6 summary
//! (`--summary-export`).
//!
//! The rules pinned here: a request that got no complete response counts in
//! `http_reqs` and `http_req_failed` but adds no `http_req_duration` sample
//! (it goes to `http_req_failure_duration`); a request cut by the end of the
//! run is recorded as `request_interrupted`; a threshold without samples is
//! not evaluated, and a run where that happens (or where no request
//! completed) is `no_go` with exit 110, never GO.
//!
//! Every run is short (1 s of load or a handful of iterations, `gracefulStop:
//! 1s`) and bounded by a watchdog that kills the binary, so a hang fails the
//! test instead of stalling the suite.

mod support;

use gauntlet_testkit::{Fault, FaultServer};
use serde_json::Value;
use std::fmt::Debug;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

// ---------------------------------------------------------------------------
// The verdict and summary as the result document holds them.
// ---------------------------------------------------------------------------

/// The verdict's decision: `go`, `go_with_conditions` or `no_go`.
fn decision(result: &Value) -> String {
    result["summary"]["verdict"]["decision"]
        .as_str()
        .unwrap_or("<none>")
        .to_owned()
}

/// What became of one threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Passed,
    Failed,
    /// No samples: neither passed nor failed (exit 110, not 0).
    NotEvaluated,
    /// The threshold is not in the verdict at all.
    Missing,
}

/// The outcome of the threshold `expression` on `metric`: the `status` of
/// its `summary.verdict.thresholds[]` entry (`pass`, `fail`, `not_evaluated`).
fn threshold(result: &Value, metric: &str, expression: &str) -> Outcome {
    let Some(t) = result["summary"]["verdict"]["thresholds"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|t| t["metric"] == metric && t["expression"] == expression)
    else {
        return Outcome::Missing;
    };
    match t["status"].as_str() {
        Some("pass") => Outcome::Passed,
        Some("fail") => Outcome::Failed,
        Some("not_evaluated") => Outcome::NotEvaluated,
        other => panic!("unknown threshold status {other:?}"),
    }
}

/// The summary's `errors` list, `code` → `count` (`summary.errors[]`).
fn error_count(result: &Value, code: &str) -> u64 {
    result["summary"]["errors"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["code"] == code)
        .filter_map(|e| e["count"].as_u64())
        .sum()
}

// ---------------------------------------------------------------------------
// Stable shapes: the lossless timeline (gauntlet_metrics::serial) and the
// k6 summary (gauntlet_report::k6).
// ---------------------------------------------------------------------------

/// Samples of `metric` in the run's total, over the series carrying all of
/// `tags`: a counter's sum, a rate's samples, a trend's sample count.
fn total(result: &Value, metric: &str, tags: &[(&str, &str)]) -> f64 {
    series(result, metric, tags)
        .map(|v| {
            let v = &v["values"];
            v["counter"]["sum"]
                .as_f64()
                .or_else(|| v["rate"]["total"].as_f64())
                .or_else(|| v["trend"]["count"].as_f64())
                .unwrap_or(0.0)
        })
        .sum::<f64>()
        + 0.0 // an empty sum is -0.0
}

/// True samples of the rate `metric` over the series carrying all of `tags`.
fn passes(result: &Value, metric: &str, tags: &[(&str, &str)]) -> f64 {
    series(result, metric, tags)
        .filter_map(|v| v["values"]["rate"]["passes"].as_f64())
        .sum::<f64>()
        + 0.0
}

fn series<'a>(
    result: &'a Value,
    metric: &'a str,
    tags: &'a [(&str, &str)],
) -> impl Iterator<Item = &'a Value> + 'a {
    result["timeline"]["total"]["series"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(move |s| s["metric"] == metric && tags.iter().all(|(k, v)| s["tags"][*k] == *v))
}

/// A value of the k6 summary: `metrics.<metric>.values.<stat>`.
fn k6(summary: &Value, metric: &str, stat: &str) -> Option<f64> {
    summary["metrics"][metric]["values"][stat].as_f64()
}

// ---------------------------------------------------------------------------
// Running the binary.
// ---------------------------------------------------------------------------

/// Kill the binary after this long: the longest run here lasts ~2 s, the
/// default request timeout (the hang these tests guard against) is 60 s.
const WATCHDOG: Duration = Duration::from_secs(30);

/// A finished run.
struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
    /// `--out json=` (Null if not written).
    result: Value,
    /// `--summary-export` (Null if not written).
    summary: Value,
}

impl Run {
    /// What a failure message shows of the run.
    fn context(&self) -> String {
        format!(
            "exit code {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

fn read_json(path: &Path) -> Value {
    std::fs::read(path)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or(Value::Null)
}

/// Run `gauntlet run` on `plan` with both result files, within [`WATCHDOG`].
fn run(plan: &str) -> Run {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("plan.yaml");
    std::fs::write(&p, plan).unwrap();
    let (res, sum) = (dir.path().join("result.json"), dir.path().join("k6.json"));
    let child = Command::new(env!("CARGO_BIN_EXE_gauntlet"))
        .env("NO_COLOR", "1")
        .args(["run", p.to_str().unwrap(), "-q", "--summary-export"])
        .arg(&sum)
        .arg("--out")
        .arg(format!("json={}", res.display()))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (status, stdout, stderr) = support::wait_with_watchdog(child, WATCHDOG);
    assert!(
        status.is_some(),
        "gauntlet still running after {WATCHDOG:?}; killed\n{stdout}\n{stderr}\nplan:\n{plan}"
    );
    Run {
        code: status.and_then(|s| s.code()),
        stdout,
        stderr,
        result: read_json(&res),
        summary: read_json(&sum),
    }
}

/// A plan with one operation `op` (a YAML flow value), one scenario `s`, and
/// `thresholds` (a YAML flow mapping).
fn plan(server: &FaultServer, op: &str, scenario: &str, thresholds: &str) -> String {
    format!(
        "name: verdict\ntarget: {}\nworkload:\n  operations:\n    op: {op}\nscenarios:\n  s: {scenario}\nthresholds: {thresholds}\n",
        server.base_url()
    )
}

/// 2 VUs for 1 s, then 1 s to finish: the run ends after ~2 s.
const TWO_VUS_ONE_SECOND: &str = "{executor: constant-vus, vus: 2, duration: 1s, gracefulStop: 1s}";

/// 2 VUs × 3 iterations: six requests, whatever their outcome.
const TWO_VUS_THREE_ITERATIONS: &str =
    "{executor: per-vu-iterations, vus: 2, iterations: 3, gracefulStop: 1s}";

const DURATION_P95: &str = r#"{http_req_duration: ["p(95) < 500"]}"#;

/// Collects every unmet expectation of a test and reports them together, so
/// one run shows all that is missing, not only the first.
struct Expect<'r> {
    run: &'r Run,
    failed: Vec<String>,
}

impl<'r> Expect<'r> {
    fn on(run: &'r Run) -> Expect<'r> {
        Expect {
            run,
            failed: Vec::new(),
        }
    }

    fn eq<T: PartialEq + Debug>(&mut self, what: &str, got: T, want: T) -> &mut Self {
        if got != want {
            self.failed
                .push(format!("{what}: got {got:?}, want {want:?}"));
        }
        self
    }

    fn that(&mut self, what: &str, ok: bool, got: impl Debug) -> &mut Self {
        if !ok {
            self.failed.push(format!("{what}: got {got:?}"));
        }
        self
    }

    /// Panic with every unmet expectation and the run's output.
    fn check(&mut self) {
        assert!(
            self.failed.is_empty(),
            "{} unmet expectation(s):\n  - {}\n{}",
            self.failed.len(),
            self.failed.join("\n  - "),
            self.run.context()
        );
    }
}

// ---------------------------------------------------------------------------
// Targets that never complete a response: interrupted, not measured.
// ---------------------------------------------------------------------------

/// Against a target that never completes a response, with only a latency
/// threshold: both in-flight requests are recorded as interrupted, nothing
/// is measured, the threshold is not evaluated, and the verdict is NO-GO,
/// exit 110, after ~2 s rather than the 60 s request timeout.
fn stalled_requests_are_interrupted_and_not_measured(fault: Fault, op: &str) {
    let server = FaultServer::start(fault);
    let r = run(&plan(&server, op, TWO_VUS_ONE_SECOND, DURATION_P95));
    let res = &r.result;
    Expect::on(&r)
        .eq("exit code", r.code, Some(110))
        .eq("decision", decision(res), "no_go".into())
        .eq("requests the target saw", server.requests(), 2)
        .eq("http_reqs", total(res, "http_reqs", &[]), 2.0)
        .eq(
            "http_reqs{error_code:request_interrupted}",
            total(res, "http_reqs", &[("error_code", "request_interrupted")]),
            2.0,
        )
        .eq(
            "errors list: request_interrupted",
            error_count(res, "request_interrupted"),
            2,
        )
        .eq(
            "k6 http_req_failed rate",
            k6(&r.summary, "http_req_failed", "rate"),
            Some(1.0),
        )
        .eq(
            "iterations_interrupted",
            total(res, "iterations_interrupted", &[]),
            2.0,
        )
        .eq(
            "http_req_duration samples",
            total(res, "http_req_duration", &[]),
            0.0,
        )
        .eq(
            "threshold p(95) < 500",
            threshold(res, "http_req_duration", "p(95) < 500"),
            Outcome::NotEvaluated,
        )
        .that(
            "the run ends at duration + gracefulStop, not at the 60 s timeout",
            res["durationMs"].as_u64().is_some_and(|d| d < 10_000),
            &res["durationMs"],
        )
        .check();
}

#[test]
fn a_target_that_never_answers_is_no_go_not_measured() {
    stalled_requests_are_interrupted_and_not_measured(Fault::NeverAnswer, "GET /");
}

#[test]
fn a_target_that_stalls_after_its_headers_is_no_go_not_measured() {
    stalled_requests_are_interrupted_and_not_measured(Fault::HeadersThenStall, "GET /");
}

#[test]
fn a_target_that_stalls_after_100_continue_is_no_go_not_measured() {
    stalled_requests_are_interrupted_and_not_measured(
        Fault::ContinueThenStall,
        "{request: {method: POST, url: /upload, headers: {Expect: 100-continue}, body: hello}}",
    );
}

#[test]
fn an_error_rate_threshold_fails_against_a_target_that_never_answers() {
    let server = FaultServer::start(Fault::NeverAnswer);
    let r = run(&plan(
        &server,
        "GET /",
        TWO_VUS_ONE_SECOND,
        r#"{http_req_failed: ["rate < 0.01"]}"#,
    ));
    Expect::on(&r)
        .eq("exit code", r.code, Some(99))
        .eq("decision", decision(&r.result), "no_go".into())
        .eq(
            "threshold rate < 0.01",
            threshold(&r.result, "http_req_failed", "rate < 0.01"),
            Outcome::Failed,
        )
        .eq(
            "failed requests",
            passes(&r.result, "http_req_failed", &[]),
            2.0,
        )
        .check();
}

// ---------------------------------------------------------------------------
// Targets that break every response.
// ---------------------------------------------------------------------------

/// Six requests, each failing with `code`: counted, failed, timed in
/// `http_req_failure_duration` only; the latency threshold has no samples,
/// so the verdict is NO-GO, exit 110.
fn every_request_fails_with(fault: Fault, code: &str) {
    let server = FaultServer::start(fault);
    let r = run(&plan(
        &server,
        "GET /",
        TWO_VUS_THREE_ITERATIONS,
        DURATION_P95,
    ));
    let res = &r.result;
    Expect::on(&r)
        .eq("exit code", r.code, Some(110))
        .eq("decision", decision(res), "no_go".into())
        .eq("requests the target saw", server.requests(), 6)
        .eq("http_reqs", total(res, "http_reqs", &[]), 6.0)
        .eq(
            &format!("http_reqs{{error_code:{code}}}"),
            total(res, "http_reqs", &[("error_code", code)]),
            6.0,
        )
        .eq(&format!("errors list: {code}"), error_count(res, code), 6)
        .eq("failed requests", passes(res, "http_req_failed", &[]), 6.0)
        .eq(
            "http_req_duration samples",
            total(res, "http_req_duration", &[]),
            0.0,
        )
        .eq(
            "http_req_failure_duration samples",
            total(res, "http_req_failure_duration", &[]),
            6.0,
        )
        .eq(
            "threshold p(95) < 500",
            threshold(res, "http_req_duration", "p(95) < 500"),
            Outcome::NotEvaluated,
        )
        .check();
}

#[test]
fn a_reset_mid_response_is_connection_reset_and_no_go() {
    every_request_fails_with(Fault::ResetMidResponse, "connection_reset");
}

#[test]
fn garbage_instead_of_http_is_malformed_response_and_no_go() {
    every_request_fails_with(Fault::Garbage, "malformed_response");
}

/// Half the requests reset at once, half answer after 20 ms. The failures
/// add no 0 ms samples to `http_req_duration` (k6 would, and pass the
/// threshold), so its median is the successes' 20 ms and `p(50) < 10` fails.
#[test]
fn failed_requests_do_not_pull_the_latency_percentiles_down() {
    let server = FaultServer::start(Fault::HalfFail {
        latency: Duration::from_millis(20),
    });
    let r = run(&plan(
        &server,
        "GET /",
        "{executor: per-vu-iterations, vus: 2, iterations: 10, gracefulStop: 1s}",
        r#"{http_req_duration: ["p(50) < 10"]}"#,
    ));
    let res = &r.result;
    let ok = total(res, "http_reqs", &[("status", "200")]);
    let reset = total(res, "http_reqs", &[("error_code", "connection_reset")]);
    Expect::on(&r)
        .eq("exit code", r.code, Some(99))
        .eq("decision", decision(res), "no_go".into())
        .eq(
            "threshold p(50) < 10",
            threshold(res, "http_req_duration", "p(50) < 10"),
            Outcome::Failed,
        )
        .eq("http_reqs (both kinds)", total(res, "http_reqs", &[]), 20.0)
        .that("some requests succeeded", ok >= 1.0, ok)
        .that("some requests were reset", reset >= 1.0, reset)
        .eq("successes + resets", ok + reset, 20.0)
        .eq(
            "http_req_duration samples: the successes only",
            total(res, "http_req_duration", &[]),
            ok,
        )
        .eq(
            "http_req_failure_duration samples: the resets",
            total(res, "http_req_failure_duration", &[]),
            reset,
        )
        .that(
            "k6 http_req_duration med >= 20 ms",
            k6(&r.summary, "http_req_duration", "med").is_some_and(|m| m >= 20.0),
            k6(&r.summary, "http_req_duration", "med"),
        )
        .check();
}

// ---------------------------------------------------------------------------
// Targets that answer, oddly.
// ---------------------------------------------------------------------------

#[test]
fn an_interim_100_continue_is_skipped_and_the_200_is_the_response() {
    let server = FaultServer::start(Fault::ContinueThenOk);
    let r = run(&plan(
        &server,
        "{request: {method: POST, url: /upload, headers: {Expect: 100-continue}, body: hello}, checks: [{status: 200}]}",
        TWO_VUS_THREE_ITERATIONS,
        r#"{checks: ["rate == 1"]}"#,
    ));
    let checks = &r.result["summary"]["checks"];
    let sum = |k: &str| -> u64 {
        checks
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|c| c[k].as_u64())
            .sum()
    };
    Expect::on(&r)
        .eq("exit code", r.code, Some(0))
        .eq("decision", decision(&r.result), "go".into())
        .eq("requests the target saw", server.requests(), 6)
        .eq(
            "http_reqs{status:200}",
            total(&r.result, "http_reqs", &[("status", "200")]),
            6.0,
        )
        .eq("check passes", sum("passes"), 6)
        .eq("check fails", sum("fails"), 0)
        .check();
}

/// 65 MiB: just over the per-request body limit (`max_body_bytes`, 64 MiB).
const HUGE: u64 = 65 * 1024 * 1024;

const ONE_ITERATION: &str =
    "{executor: per-vu-iterations, vus: 1, iterations: 1, gracefulStop: 1s}";

#[test]
fn a_huge_body_a_check_reads_fails_with_body_too_large() {
    let server = FaultServer::start(Fault::HugeBody(HUGE));
    let r = run(&plan(
        &server,
        "{request: GET /, checks: [{bodyContains: never-there}]}",
        ONE_ITERATION,
        "{}",
    ));
    let res = &r.result;
    Expect::on(&r)
        .that("the run finished", r.code.is_some(), r.code)
        .eq("http_reqs", total(res, "http_reqs", &[]), 1.0)
        .eq(
            "http_reqs{error_code:body_too_large}",
            total(res, "http_reqs", &[("error_code", "body_too_large")]),
            1.0,
        )
        .eq("failed requests", passes(res, "http_req_failed", &[]), 1.0)
        .eq(
            "check fails",
            total(res, "checks", &[]) - passes(res, "checks", &[]),
            1.0,
        )
        .check();
}

#[test]
fn a_huge_body_nothing_reads_is_discarded_and_the_request_succeeds() {
    let server = FaultServer::start(Fault::HugeBody(HUGE));
    let r = run(&plan(
        &server,
        "{request: GET /, checks: [{status: 200}]}",
        ONE_ITERATION,
        r#"{http_req_failed: ["rate == 0"]}"#,
    ));
    let res = &r.result;
    let received = total(res, "data_received", &[]);
    Expect::on(&r)
        .eq("exit code", r.code, Some(0))
        .eq(
            "http_reqs{status:200}",
            total(res, "http_reqs", &[("status", "200")]),
            1.0,
        )
        .eq("failed requests", passes(res, "http_req_failed", &[]), 0.0)
        .that(
            "the whole body was received",
            received >= HUGE as f64,
            received,
        )
        .check();
}

#[test]
fn a_trickling_body_shows_in_http_req_receiving() {
    let (every, chunks) = (Duration::from_millis(100), 5);
    let server = FaultServer::start(Fault::SlowBody {
        chunk: 16,
        every,
        chunks,
    });
    let r = run(&plan(
        &server,
        "{request: GET /, checks: [{status: 200}]}",
        "{executor: per-vu-iterations, vus: 1, iterations: 2, gracefulStop: 1s}",
        "{}",
    ));
    // The body's last piece leaves chunks × every after the head; one
    // interval of slack for when the client reads the head.
    let floor = (every * (chunks as u32 - 1)).as_secs_f64() * 1000.0;
    let min = k6(&r.summary, "http_req_receiving", "min");
    Expect::on(&r)
        .eq("exit code", r.code, Some(0))
        .eq(
            "http_reqs{status:200}",
            total(&r.result, "http_reqs", &[("status", "200")]),
            2.0,
        )
        .that(
            &format!("k6 http_req_receiving min >= {floor} ms"),
            min.is_some_and(|m| m >= floor),
            min,
        )
        .check();
}

#[test]
fn each_redirect_hop_is_its_own_request() {
    let server = FaultServer::start(Fault::Redirects(3));
    let r = run(&plan(
        &server,
        "GET /redirect/3",
        "{executor: per-vu-iterations, vus: 1, iterations: 2, gracefulStop: 1s}",
        "{}",
    ));
    let res = &r.result;
    Expect::on(&r)
        .eq("exit code", r.code, Some(0))
        .eq("requests the target saw", server.requests(), 8)
        .eq(
            "http_reqs: 4 per iteration",
            total(res, "http_reqs", &[]),
            8.0,
        )
        .eq(
            "http_reqs{status:302}",
            total(res, "http_reqs", &[("status", "302")]),
            6.0,
        )
        .eq(
            "http_reqs{status:200}",
            total(res, "http_reqs", &[("status", "200")]),
            2.0,
        )
        .eq(
            "http_redirects: 3 per iteration",
            total(res, "http_redirects", &[]),
            6.0,
        )
        .check();
}

// ---------------------------------------------------------------------------
// A plan that fails before sending.
// ---------------------------------------------------------------------------

/// A request template that fails at every render: nothing is sent, each
/// failure is a `step_errors` sample, the VU backs off (a bounded count, not
/// thousands), the summary names the step and the message once, and the
/// verdict is NO-GO, exit 110.
#[test]
fn a_template_that_always_fails_sends_nothing_and_is_no_go() {
    // If anything were sent it would hang here and show as interrupted.
    let server = FaultServer::start(Fault::NeverAnswer);
    let r = run(&plan(
        &server,
        r#"{steps: [{name: bad_url, request: {url: "/x/{{ random_int(5, 1) }}"}}]}"#,
        TWO_VUS_ONE_SECOND,
        "{}",
    ));
    let res = &r.result;
    let errors = total(
        res,
        "step_errors",
        &[("error_code", "template_error"), ("name", "bad_url")],
    );
    Expect::on(&r)
        .eq("exit code", r.code, Some(110))
        .eq("decision", decision(res), "no_go".into())
        .eq("requests the target saw", server.requests(), 0)
        .eq("http_reqs", total(res, "http_reqs", &[]), 0.0)
        .that(
            "step_errors{error_code:template_error,name:bad_url} > 0",
            errors > 0.0,
            errors,
        )
        .that(
            "step_errors bounded by the back-off (< 20 for 2 VUs in 1 s)",
            errors < 20.0,
            errors,
        )
        .that(
            "the summary names the step",
            r.stdout.contains("bad_url"),
            "no `bad_url`",
        )
        .eq(
            "the template's message, once",
            r.stdout.matches("needs a <= b").count(),
            1,
        )
        .check();
}
