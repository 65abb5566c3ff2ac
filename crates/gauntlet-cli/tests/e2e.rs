//! The `gauntlet` binary end to end, against the embedded demo service on
//! 127.0.0.1: exit codes, hostile inputs, the summary and result files,
//! every executor, interruption, and the coordinated-omission stall test.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_gauntlet"));
    c.env("NO_COLOR", "1");
    c
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn run(args: &[&str]) -> Output {
    bin().args(args).output().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn write(dir: &Path, name: &str, content: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, content).unwrap();
    p
}

fn json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

#[test]
fn every_example_validates() {
    let mut examples: Vec<PathBuf> = std::fs::read_dir(repo().join("examples"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    examples.sort();
    assert!(examples.len() >= 5);
    for e in examples {
        let o = run(&["validate", e.to_str().unwrap()]);
        let e = e.display();
        assert_eq!(o.status.code(), Some(0), "{e}: {}", text(&o.stderr));
        assert!(text(&o.stdout).contains(": ok"));
    }
}

#[test]
fn five_mistakes_exit_104_with_five_located_errors() {
    let p = repo().join("crates/gauntlet-plan/tests/fixtures/five-mistakes.yaml");
    let o = run(&["validate", p.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(104));
    let err = text(&o.stderr);
    let located: Vec<&str> = err
        .lines()
        .filter(|l| l.starts_with("error: ") && l.contains("five-mistakes.yaml:"))
        .collect();
    assert_eq!(located.len(), 5, "{err}");
    for pos in [":11:38:", ":25:13:", ":29:33:", ":30:5:", ":32:3:"] {
        assert!(
            located.iter().any(|l| l.contains(pos)),
            "missing {pos} in {err}"
        );
    }
    assert!(err.contains("5 error(s)"));
}

#[test]
fn hostile_files_get_clear_errors_and_no_panic() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let cases: Vec<(PathBuf, &str)> = vec![
        (
            write(
                d,
                "malformed.yaml",
                "workload:\n  operations: [a, b\n  x: 1\n",
            ),
            "invalid YAML",
        ),
        (write(d, "empty.yaml", ""), "plan is empty"),
        (
            {
                let p = d.join("binary.yaml");
                std::fs::write(&p, [0x7fu8, b'E', b'L', b'F', 2, 1, 1, 0, 0, 0]).unwrap();
                p
            },
            "binary",
        ),
        (
            write(
                d,
                "deep.yaml",
                &format!("workload: {}{}\n", "[".repeat(50_000), "]".repeat(50_000)),
            ),
            "invalid YAML",
        ),
        (
            write(d, "bomb.yaml", &{
                let mut s = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
                for i in 1..14 {
                    let p = i - 1;
                    s.push_str(&format!("a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"));
                }
                s
            }),
            "invalid YAML",
        ),
        (
            {
                let p = d.join("big.yaml");
                let f = std::fs::File::create(&p).unwrap();
                f.set_len(50 * 1024 * 1024).unwrap();
                p
            },
            "a plan may be at most",
        ),
        (d.join("missing.yaml"), "cannot open plan"),
        (
            {
                // Opening a FIFO blocks until a writer comes: refused unopened.
                let p = d.join("fifo.yaml");
                let made = Command::new("mkfifo").arg(&p).status().unwrap();
                assert!(made.success());
                p
            },
            "not a regular file",
        ),
    ];
    for (path, expect) in cases {
        let o = run(&["validate", path.to_str().unwrap()]);
        let err = text(&o.stderr);
        assert_eq!(o.status.code(), Some(104), "{}: {err}", path.display());
        assert!(
            err.contains(expect),
            "{}: expected `{expect}` in {err}",
            path.display()
        );
        assert!(!err.contains("panicked"), "{err}");
    }
}

#[test]
fn plan_shows_each_scenario_timeline() {
    let o = run(&[
        "plan",
        repo().join("examples/items-crud.yaml").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let out = text(&o.stdout);
    assert!(
        out.contains("scenario baseline  [ramping-vus, baseline test]"),
        "{out}"
    );
    assert!(
        out.contains("scenario steady_load  [constant-arrival-rate, load test]"),
        "{out}"
    );
    assert!(out.contains("VUs    10.0 ┤"), "{out}");
    assert!(out.contains("iters/s    50.0 ┤"), "{out}");
    assert!(out.contains("VU pool   60 at peak"), "{out}");
    assert!(out.contains("≈1500 in total"), "{out}");
}

#[test]
fn schema_command_prints_the_committed_schema() {
    let o = run(&["schema"]);
    let committed = std::fs::read_to_string(repo().join("schema/plan.v1.json")).unwrap();
    assert_eq!(text(&o.stdout), committed);
}

const SHORT: &str = r#"
version: 1
name: short
target:
  url: demo
workload:
  operations:
    create_then_read:
      weight: 1
      steps:
        - name: create_item
          request: {method: POST, url: /api/items, json: {name: "i {{ vu }}-{{ iter }}", data: "{{ payload('small') }}"}}
          checks: [{status: 201}]
          capture: {item_id: $.id}
        - name: read_item
          request: GET /api/items/{{ item_id }}
          checks: [{status: 200}, {jsonPath: $.id, equals: "{{ item_id }}"}]
    list_items:
      weight: 1
      request: GET /api/items?per_page=5
scenarios:
  closed: {executor: constant-vus, vus: 3, duration: 2s}
sla:
  - {name: reads are fast, metric: "http_req_duration{name:read_item}", objective: p(95) < 2s}
thresholds:
  checks: ["rate == 1"]
  http_req_failed: ["rate < 1%"]
"#;

#[test]
fn a_short_run_writes_k6_summary_and_a_schema_valid_result() {
    let dir = tempfile::tempdir().unwrap();
    let plan = write(dir.path(), "short.yaml", SHORT);
    let (sum, res) = (
        dir.path().join("summary.json"),
        dir.path().join("result.json"),
    );
    let o = run(&[
        "run",
        plan.to_str().unwrap(),
        "-q",
        "--summary-export",
        sum.to_str().unwrap(),
        "--out",
        &format!("json={}", res.display()),
    ]);
    let out = text(&o.stdout);
    assert_eq!(o.status.code(), Some(0), "{out}\n{}", text(&o.stderr));
    assert!(
        out.contains("█ THRESHOLDS") && out.contains("✓ 'rate == 1'"),
        "{out}"
    );
    assert!(out.contains("█ SLA") && out.contains("PASS"), "{out}");
    assert!(out.contains("█ VERDICT: GO"), "{out}");
    // k6 summary shape.
    let s = json(&sum);
    let d = &s["metrics"]["http_req_duration"];
    assert_eq!(d["type"], "trend");
    assert_eq!(d["contains"], "time");
    for k in ["avg", "min", "med", "max", "p(90)", "p(95)"] {
        assert!(d["values"][k].is_number(), "{k}");
    }
    assert_eq!(
        s["metrics"]["checks"]["thresholds"]["rate == 1"]["ok"],
        true
    );
    assert!(
        s["metrics"]["http_reqs"]["values"]["count"]
            .as_f64()
            .unwrap()
            > 10.0
    );
    assert!(s["state"]["testRunDurationMs"].as_f64().unwrap() >= 2000.0);
    let group = s["root_group"]["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["name"] == "create_then_read")
        .unwrap();
    assert!(
        group["checks"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["fails"] == 0)
    );
    // Every read used a captured id: reads equal creates, and all succeeded.
    let r = json(&res);
    let schema: Value = serde_json::from_str(
        &std::fs::read_to_string(repo().join("schema/result.v2.json")).unwrap(),
    )
    .unwrap();
    let v = jsonschema::validator_for(&schema).unwrap();
    let errs: Vec<String> = v
        .iter_errors(&r)
        .take(5)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    assert!(errs.is_empty(), "{errs:#?}");
    let ops = r["summary"]["operations"].as_array().unwrap();
    let count = |n: &str| {
        ops.iter()
            .find(|o| o["name"] == n)
            .map(|o| o["requests"].as_u64().unwrap())
            .unwrap_or(0)
    };
    assert!(count("create_item") > 0);
    assert_eq!(count("create_item"), count("read_item"));
    assert!(r["timeline"]["intervals"].as_array().unwrap().len() >= 2);
}

#[test]
fn a_threshold_that_cannot_hold_exits_99() {
    let dir = tempfile::tempdir().unwrap();
    let plan = write(
        dir.path(),
        "fail.yaml",
        "target: demo\nworkload: {operations: {list: GET /api/items}}\nscenarios: {s: {executor: shared-iterations, vus: 2, iterations: 10}}\nthresholds:\n  http_req_duration: [\"p(95) < 1us\"]\n",
    );
    let o = run(&["run", plan.to_str().unwrap(), "-q"]);
    assert_eq!(o.status.code(), Some(99), "{}", text(&o.stderr));
    assert!(text(&o.stdout).contains("✗ 'p(95) < 1us'"));
    assert!(text(&o.stdout).contains("NO-GO"));
    // The reason carries the observed value's unit, as the threshold line does.
    let out = text(&o.stdout);
    let reason = out
        .lines()
        .find_map(|l| {
            l.trim()
                .strip_prefix("- threshold http_req_duration p(95) < 1us failed (observed ")
        })
        .unwrap_or_else(|| panic!("no reason line in {out}"));
    assert!(
        ["µs)", "ms)", "s)"].iter().any(|u| reason.ends_with(u)),
        "observed value without a unit: {reason}"
    );
}

#[test]
fn abort_on_fail_stops_the_run_early() {
    let dir = tempfile::tempdir().unwrap();
    let plan = write(
        dir.path(),
        "abort.yaml",
        "target: {url: demo, demo: {errorRate: 1.0}}\nworkload: {operations: {list: GET /api/items}}\nscenarios: {s: {executor: constant-vus, vus: 2, duration: 60s}}\nthresholds:\n  http_req_failed: [{threshold: rate < 10%, abortOnFail: true, delayAbortEval: 1s}]\n",
    );
    let t = Instant::now();
    let o = run(&["run", plan.to_str().unwrap(), "-q"]);
    assert_eq!(o.status.code(), Some(99));
    assert!(t.elapsed() < Duration::from_secs(20), "aborted early");
    assert!(
        text(&o.stdout).contains("run interrupted: threshold with abortOnFail failed"),
        "{}",
        text(&o.stdout)
    );
    assert!(
        text(&o.stdout).contains("http_500"),
        "errors by kind are shown"
    );
}

#[test]
fn every_executor_against_the_demo() {
    let dir = tempfile::tempdir().unwrap();
    let plan = write(
        dir.path(),
        "all.yaml",
        r#"
target: demo
workload: {operations: {health: GET /health}}
scenarios:
  shared: {executor: shared-iterations, vus: 4, iterations: 20}
  per_vu: {executor: per-vu-iterations, vus: 3, iterations: 5}
  constant: {executor: constant-vus, vus: 2, duration: 2s}
  ramping: {executor: ramping-vus, startVUs: 0, stages: [{duration: 1s, target: 3}, {duration: 1s, target: 3}], gracefulRampDown: 1s}
  rate: {executor: constant-arrival-rate, rate: 50, duration: 2s, preAllocatedVUs: 5, maxVUs: 20}
  ramp_rate: {executor: ramping-arrival-rate, startRate: 0, stages: [{duration: 2s, target: 100}], preAllocatedVUs: 5, maxVUs: 50}
"#,
    );
    let sum = dir.path().join("s.json");
    let o = run(&[
        "run",
        plan.to_str().unwrap(),
        "-q",
        "--out",
        &format!("json={}", sum.display()),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let r = json(&sum);
    let sc = |n: &str| {
        r["summary"]["scenarios"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == n)
            .unwrap()
            .clone()
    };
    assert_eq!(sc("shared")["iterations"], 20);
    assert_eq!(sc("per_vu")["iterations"], 15);
    let rate = sc("rate")["iterations"].as_u64().unwrap() + sc("rate")["dropped"].as_u64().unwrap();
    assert!((99..=101).contains(&rate), "{rate}");
    let ramp = sc("ramp_rate")["iterations"].as_u64().unwrap()
        + sc("ramp_rate")["dropped"].as_u64().unwrap();
    assert!((99..=101).contains(&ramp), "{ramp}");
    assert!(sc("constant")["iterations"].as_u64().unwrap() > 10);
    assert_eq!(sc("ramping")["vusMax"], 3);
}

fn interrupt(pid: u32) {
    let _ = Command::new("kill")
        .args(["-INT", &pid.to_string()])
        .status();
}

#[test]
fn graceful_and_hard_interruption_still_write_results() {
    let dir = tempfile::tempdir().unwrap();
    // Graceful: one SIGINT; short iterations finish, files are written, exit 105.
    let plan = write(
        dir.path(),
        "long.yaml",
        "target: demo\nworkload: {operations: {list: GET /api/items}}\nscenarios: {s: {executor: constant-vus, vus: 2, duration: 60s}}\n",
    );
    let (sum, res) = (dir.path().join("g-sum.json"), dir.path().join("g-res.json"));
    let child = bin()
        .args([
            "run",
            plan.to_str().unwrap(),
            "-q",
            "--summary-export",
            sum.to_str().unwrap(),
            "--out",
            &format!("json={}", res.display()),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(3));
    interrupt(child.id());
    let t = Instant::now();
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(105), "{}", text(&o.stderr));
    assert!(t.elapsed() < Duration::from_secs(15));
    assert!(text(&o.stdout).contains("run interrupted: stopped by signal"));
    assert!(
        json(&sum)["metrics"]["http_reqs"]["values"]["count"]
            .as_f64()
            .unwrap()
            > 0.0
    );
    assert_eq!(json(&res)["schemaVersion"], 2);
    // Hard: iterations that take 20 s would get 30 s of gracefulStop; the
    // second SIGINT interrupts them at once.
    let plan = write(
        dir.path(),
        "stuck.yaml",
        "target: {url: demo, demo: {latency: 20s}}\nworkload: {operations: {list: GET /api/items}}\nscenarios: {s: {executor: constant-vus, vus: 2, duration: 60s}}\n",
    );
    let res = dir.path().join("h-res.json");
    let child = bin()
        .args([
            "run",
            plan.to_str().unwrap(),
            "-q",
            "--out",
            &format!("json={}", res.display()),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(2));
    interrupt(child.id());
    std::thread::sleep(Duration::from_millis(500));
    interrupt(child.id());
    let t = Instant::now();
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(105), "{}", text(&o.stderr));
    assert!(
        t.elapsed() < Duration::from_secs(10),
        "the second signal does not wait for gracefulStop"
    );
    let r = json(&res);
    let s = r["summary"]["scenarios"][0].clone();
    assert_eq!(s["interrupted"], 2, "{s}");
}

#[test]
fn coordinated_omission_stall_is_measured_from_the_intended_start() {
    // Open model at 200/s for 10 s against a service frozen 1 s every 5 s:
    // 20% of requests wait U(0, 1 s): corrected p90 ≈ 500 ms, p99 ≈ 950 ms.
    let dir = tempfile::tempdir().unwrap();
    let plan = write(
        dir.path(),
        "stall.yaml",
        "target: {url: demo, demo: {stall: {every: 5s, duration: 1s}}}\nworkload: {operations: {list: GET /api/items?per_page=1}}\nscenarios: {s: {executor: constant-arrival-rate, rate: 200, duration: 10s, preAllocatedVUs: 250, maxVUs: 400}}\n",
    );
    let res = dir.path().join("r.json");
    let o = run(&[
        "run",
        plan.to_str().unwrap(),
        "-q",
        "--out",
        &format!("json={}", res.display()),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let r = json(&res);
    let row = r["summary"]["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == "http_req_duration" && m["tags"].as_array().unwrap().is_empty())
        .unwrap()
        .clone();
    let p = |q: f64| {
        row["values"]["stats"]["percentiles"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| (x[0].as_f64().unwrap() - q).abs() < 1e-9)
            .unwrap()[1]
            .as_f64()
            .unwrap()
    };
    assert!((p(90.0) - 500.0).abs() < 80.0, "p90 {}", p(90.0));
    assert!((p(99.0) - 950.0).abs() < 80.0, "p99 {}", p(99.0));
    assert_eq!(r["summary"]["scenarios"][0]["dropped"], 0);
}

#[test]
fn login_feeder_example_uses_each_csv_row_once_for_signups() {
    let dir = tempfile::tempdir().unwrap();
    let res = dir.path().join("r.json");
    let o = run(&[
        "run",
        repo().join("examples/login-feeder.yaml").to_str().unwrap(),
        "-q",
        "--out",
        &format!("json={}", res.display()),
    ]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}\n{}",
        text(&o.stdout),
        text(&o.stderr)
    );
    let r = json(&res);
    let ops = r["summary"]["operations"].as_array().unwrap();
    let count = |n: &str| {
        ops.iter()
            .find(|o| o["name"] == n)
            .map(|o| o["requests"].as_u64().unwrap())
            .unwrap_or(0)
    };
    assert_eq!(count("signup_once"), 8, "one signup per CSV row");
    assert_eq!(count("service_is_up"), 1, "setup runs once");
    assert!(count("login") > 10 && count("login") == count("me"));
    let checks = r["summary"]["checks"].as_array().unwrap();
    assert!(checks.iter().all(|c| c["fails"] == 0), "{checks:#?}");
    assert!(
        checks
            .iter()
            .any(|c| c["name"].as_str().unwrap().contains("$.username ==")),
        "the profile matched the CSV user"
    );
}

#[test]
fn a_unique_feeder_that_runs_out_stops_its_vus() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("three.csv"), "name\na\nb\nc\n").unwrap();
    let plan = write(
        dir.path(),
        "unique.yaml",
        "target: demo\ndata:\n  rows: {file: three.csv, mode: unique}\nworkload: {operations: {create: {request: {method: POST, url: /api/items, json: {name: '{{ rows.name }}'}}}}}\nscenarios: {s: {executor: constant-vus, vus: 2, duration: 30s}}\n",
    );
    let res = dir.path().join("r.json");
    let t = Instant::now();
    let o = run(&[
        "run",
        plan.to_str().unwrap(),
        "-q",
        "--out",
        &format!("json={}", res.display()),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    assert!(
        t.elapsed() < Duration::from_secs(20),
        "both VUs stopped when the rows ran out"
    );
    let r = json(&res);
    let metric = |name: &str| {
        r["summary"]["metrics"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["name"] == name)
            .unwrap()["values"]["count"]
            .as_f64()
            .unwrap()
    };
    assert_eq!(metric("http_reqs"), 3.0);
    // Three rows used; each VU's last draw found none and ran no iteration:
    // the scenario line and the `iterations` counter agree on three.
    assert_eq!(r["summary"]["scenarios"][0]["iterations"], 3);
    assert_eq!(metric("iterations"), 3.0);
    let summary = text(&o.stdout);
    assert!(summary.contains("— 3 iterations"), "{summary}");
}

#[test]
fn async_jobs_are_measured_end_to_end() {
    let dir = tempfile::tempdir().unwrap();
    let res = dir.path().join("r.json");
    let o = run(&[
        "run",
        repo().join("examples/async-jobs.yaml").to_str().unwrap(),
        "-q",
        "--out",
        &format!("json={}", res.display()),
    ]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}\n{}",
        text(&o.stdout),
        text(&o.stderr)
    );
    let r = json(&res);
    let job = r["summary"]["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == "job_duration")
        .unwrap()
        .clone();
    let med = job["values"]["stats"]["med"].as_f64().unwrap();
    assert!(
        (1400.0..3000.0).contains(&med),
        "a 1.5 s job polled every 250 ms: {med}"
    );
    let sla = &r["summary"]["verdict"]["slas"][0];
    assert_eq!(sla["status"], "pass");
    assert_eq!(sla["metric"], "job_duration");
}

#[test]
fn setup_failure_stops_before_any_scenario() {
    let dir = tempfile::tempdir().unwrap();
    let plan = write(
        dir.path(),
        "setup.yaml",
        "target: demo\nsetup:\n  - name: login\n    request: {method: POST, url: /api/login, json: {username: ann, password: wrong}}\n    checks: [{status: 200}]\nworkload: {operations: {list: GET /api/items}}\nscenarios: {s: {executor: constant-vus, vus: 1, duration: 30s}}\n",
    );
    let o = run(&["run", plan.to_str().unwrap(), "-q"]);
    assert_eq!(o.status.code(), Some(107), "{}", text(&o.stderr));
    assert!(
        text(&o.stderr).contains("setup failed: step `login`"),
        "{}",
        text(&o.stderr)
    );
}

#[test]
fn junit_and_markdown_outputs_show_failures_with_values() {
    let dir = tempfile::tempdir().unwrap();
    let plan = write(
        dir.path(),
        "mixed.yaml",
        "target: demo\nsla:\n  - {name: 'fast | reads', metric: http_req_duration, objective: p(95) < 1us, limit: p(95) < 10s}\nworkload: {operations: {list: GET /api/items}}\nscenarios: {s: {executor: shared-iterations, vus: 1, iterations: 5}}\nthresholds:\n  http_req_duration: [\"p(95) < 1us\"]\n  http_req_failed: [\"rate < 1%\"]\n",
    );
    let (junit, md, csv) = (
        dir.path().join("j.xml"),
        dir.path().join("s.md"),
        dir.path().join("t.csv"),
    );
    let o = run(&[
        "run",
        plan.to_str().unwrap(),
        "-q",
        "--out",
        &format!("junit={}", junit.display()),
        "--out",
        &format!("md={}", md.display()),
        "--out",
        &format!("csv={}", csv.display()),
    ]);
    assert_eq!(o.status.code(), Some(99));
    let x = std::fs::read_to_string(&junit).unwrap();
    assert!(x.starts_with("<?xml"), "{x}");
    assert!(
        x.contains(r#"<testsuite name="thresholds" tests="2""#) && x.contains(r#"failures="1""#),
        "{x}"
    );
    assert!(
        x.contains("http_req_duration p(95) &lt; 1us failed: observed"),
        "{x}"
    );
    assert!(
        x.contains("objective p(95) &lt; 1us missed, limit held"),
        "{x}"
    );
    let t = std::fs::read_to_string(&csv).unwrap();
    assert!(
        t.starts_with("start_s,end_s,metric,count,rate,avg,min,med,p90,p95,p99,max,value\n"),
        "{t}"
    );
    let reqs: f64 = t
        .lines()
        .filter(|l| l.split(',').nth(2) == Some("http_reqs"))
        .map(|l| l.split(',').nth(3).unwrap().parse::<f64>().unwrap())
        .sum();
    assert_eq!(
        reqs, 5.0,
        "the per-second rows add up to the run's requests"
    );
    let m = std::fs::read_to_string(&md).unwrap();
    assert!(m.starts_with("## gauntlet: mixed — ❌ NO-GO"), "{m}");
    assert!(
        m.contains("| ⚠️ | fast \\| reads |"),
        "a `|` in user text is escaped: {m}"
    );
    assert!(
        m.contains("| ❌ | `http_req_duration` | `p(95) < 1us` |"),
        "{m}"
    );
}

#[test]
fn report_renders_a_saved_result_again() {
    let dir = tempfile::tempdir().unwrap();
    let plan = write(dir.path(), "short.yaml", SHORT);
    let (res, md, junit, csv) = (
        dir.path().join("r.json"),
        dir.path().join("s.md"),
        dir.path().join("j.xml"),
        dir.path().join("t.csv"),
    );
    let o = run(&[
        "run",
        plan.to_str().unwrap(),
        "-q",
        "--out",
        &format!("json={}", res.display()),
        "--out",
        &format!("md={}", md.display()),
        "--out",
        &format!("junit={}", junit.display()),
        "--out",
        &format!("csv={}", csv.display()),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    for (fmt, file) in [("md", &md), ("junit", &junit)] {
        let again = run(&["report", res.to_str().unwrap(), "--format", fmt]);
        assert_eq!(again.status.code(), Some(0), "{}", text(&again.stderr));
        assert_eq!(
            text(&again.stdout),
            std::fs::read_to_string(file).unwrap(),
            "{fmt} rendered again equals the live one"
        );
    }
    let summary = run(&["report", res.to_str().unwrap()]);
    assert!(text(&summary.stdout).contains("█ VERDICT: GO"));
    let again = run(&["report", res.to_str().unwrap(), "-f", "csv"]);
    let sum = |t: &str| -> f64 {
        t.lines()
            .filter(|l| l.split(',').nth(2) == Some("http_reqs"))
            .map(|l| l.split(',').nth(3).unwrap().parse::<f64>().unwrap())
            .sum()
    };
    assert_eq!(
        sum(&text(&again.stdout)),
        sum(&std::fs::read_to_string(&csv).unwrap())
    );
    // Not a result file.
    let bad = run(&["report", plan.to_str().unwrap()]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(
        text(&bad.stderr).contains("is not JSON"),
        "{}",
        text(&bad.stderr)
    );
}
