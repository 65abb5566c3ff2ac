//! `gauntlet capacity` end to end: the real binary sweeps a loopback target
//! whose scalability is known, the fit recovers it, and the manifests it
//! writes validate against the Kubernetes API schema.
//!
//! The target: every request's service time is R₁ × (1 + σ(n−1) + κn(n−1)),
//! n the requests in flight when it arrives (itself included). σ is the
//! share of R₁ a request waits for each other request in flight, what a
//! shared lock held for σR₁ costs; κ the cost per pair of requests in flight
//! (crosstalk). With N VUs and no think time n ≈ N, so the throughput the
//! sweep measures follows X(N) = λN / (1 + σ(N−1) + κN(N−1)) with λ = 1/R₁.
//!
//! The schema check needs, once per machine (CI runs the same):
//! `pip install -r crates/gauntlet-cli/tests/support/k8s/requirements.txt`
//! (`kubernetes-validate`, which ships the Kubernetes API's JSON schemas).
//! Without it the test fails and says so; it never skips.

mod support;

use serde_json::Value;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

const SIGMA: f64 = 0.05;
const KAPPA: f64 = 0.002;
/// R₁, seconds: λ = 100/s.
const R1: f64 = 0.010;
/// The sweep's VU levels: 1, then steps of 4.
const LEVELS: [u64; 10] = [1, 4, 8, 12, 16, 20, 24, 28, 32, 36];
const STEP: u64 = 4;

/// How the target behaves.
#[derive(Clone, Copy)]
enum Behaviour {
    /// The USL service time above.
    Usl,
    /// Answer 500 whenever this many requests or more are in flight.
    FailFrom(usize),
}

/// Start the target on 127.0.0.1; it runs until the test process ends.
fn serve(behaviour: Behaviour) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let in_flight = Arc::new(AtomicUsize::new(0));
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(conn) = conn else { continue };
            let in_flight = Arc::clone(&in_flight);
            std::thread::spawn(move || connection(conn, &in_flight, behaviour));
        }
    });
    port
}

fn connection(mut conn: TcpStream, in_flight: &AtomicUsize, behaviour: Behaviour) {
    let _ = conn.set_nodelay(true);
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    loop {
        // One request head (GET, no body) at a time.
        let end = loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            match conn.read(&mut chunk) {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        };
        buf.drain(..end);
        let n = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        let status = match behaviour {
            Behaviour::Usl => {
                let nf = n as f64;
                let d = R1 * (1.0 + SIGMA * (nf - 1.0) + KAPPA * nf * (nf - 1.0));
                std::thread::sleep(Duration::from_secs_f64(d));
                "200 OK"
            }
            Behaviour::FailFrom(limit) => {
                std::thread::sleep(Duration::from_millis(5));
                if n >= limit {
                    "500 Internal Server Error"
                } else {
                    "200 OK"
                }
            }
        };
        in_flight.fetch_sub(1, Ordering::SeqCst);
        let reply = format!("HTTP/1.1 {status}\r\nContent-Length: 2\r\n\r\nok");
        if conn.write_all(reply.as_bytes()).is_err() {
            return;
        }
    }
}

/// A stepped ramping-vus plan: each level held `hold`, jumps in between.
fn sweep_plan(port: u16, levels: &[u64], hold: &str) -> String {
    let mut stages = String::new();
    for (i, l) in levels.iter().enumerate() {
        if i > 0 {
            stages.push_str(&format!("      - {{duration: 0s, target: {l}}}\n"));
        }
        stages.push_str(&format!("      - {{duration: {hold}, target: {l}}}\n"));
    }
    format!(
        "version: 1\nname: usl target\ntarget: http://127.0.0.1:{port}\n\
         sla:\n  - name: p95 under 40 ms\n    metric: http_req_duration\n    objective: p(95) < 40ms\n\
         workload:\n  operations:\n    work:\n      request: GET /work\n\
         scenarios:\n  sweep:\n    executor: ramping-vus\n    testType: breakpoint\n    startVUs: {}\n    gracefulRampDown: 0s\n    stages:\n{stages}",
        levels[0]
    )
}

fn gauntlet() -> Command {
    Command::new(env!("CARGO_BIN_EXE_gauntlet"))
}

/// Run `cmd` with a watchdog; (exit code, stdout, stderr).
fn run(cmd: &mut Command, limit: Duration) -> (Option<i32>, String, String) {
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (status, out, err) = support::wait_with_watchdog(child, limit);
    (status.and_then(|s| s.code()), out, err)
}

/// Sweep `levels` against a fresh target; the result file.
fn sweep(dir: &Path, behaviour: Behaviour, levels: &[u64], hold: &str) -> PathBuf {
    let port = serve(behaviour);
    let plan = dir.join("sweep.yaml");
    std::fs::write(&plan, sweep_plan(port, levels, hold)).unwrap();
    let result = dir.join("result.json");
    let (code, out, err) = run(
        gauntlet()
            .arg("run")
            .arg(&plan)
            .arg("--quiet")
            .arg("--out")
            .arg(format!("json={}", result.display())),
        Duration::from_secs(90),
    );
    assert!(
        matches!(code, Some(0 | 99)),
        "the sweep run failed ({code:?}):\n{out}\n{err}"
    );
    result
}

/// The USL sweep, run once for the tests that read it.
fn usl_sweep() -> &'static (tempfile::TempDir, PathBuf) {
    static SWEEP: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    SWEEP.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let result = sweep(dir.path(), Behaviour::Usl, &LEVELS, "3s");
        (dir, result)
    })
}

fn capacity_json(args: &[&str]) -> (Option<i32>, Value, String) {
    let (code, out, err) = run(
        gauntlet().arg("capacity").args(args),
        Duration::from_secs(30),
    );
    let v = serde_json::from_str(&out).unwrap_or_else(|e| panic!("not JSON ({e}):\n{out}\n{err}"));
    (code, v, err)
}

#[test]
fn the_fit_recovers_the_targets_contention_and_coherency() {
    let (_, result) = usl_sweep();
    let (code, v, err) = capacity_json(&[result.to_str().unwrap(), "--json"]);
    assert_eq!(code, Some(0), "{v:#}\n{err}");
    let points = v["sweep"]["steps"].as_array().unwrap();
    assert_eq!(points.len(), LEVELS.len(), "one point per plateau: {v:#}");
    let sigma = v["sigma"].as_f64().unwrap();
    let kappa = v["kappa"].as_f64().unwrap();
    let within = |want: f64, got: f64| ((got - want) / want).abs() <= 0.15;
    assert!(
        within(SIGMA, sigma),
        "σ = {sigma}, want {SIGMA} ± 15 %\n{v:#}"
    );
    assert!(
        within(KAPPA, kappa),
        "κ = {kappa}, want {KAPPA} ± 15 %\n{v:#}"
    );
    // ⌊√((1 − σ)/κ)⌋ = 21 for the target.
    let want_peak = ((1.0 - SIGMA) / KAPPA).sqrt().floor();
    let peak = v["peakConcurrency"].as_f64().unwrap();
    assert!(
        (peak - want_peak).abs() <= STEP as f64,
        "peak at N = {peak}, want {want_peak} within one step ({STEP})"
    );
    assert_eq!(v["quality"]["good"], true, "{v:#}");
    // The SLA (p95 < 40 ms) is crossed inside the sweep.
    assert_eq!(v["sla"]["fromSweep"]["kind"], "crossed", "{:#}", v["sla"]);
    assert!(v["sla"]["fromModel"].is_array(), "{:#}", v["sla"]);
}

#[test]
fn the_text_report_explains_the_model_and_says_what_was_not_measured() {
    let (_, result) = usl_sweep();
    let (code, out, err) = run(
        gauntlet()
            .arg("capacity")
            .arg(result)
            .args(["--target-rate", "1500"]),
        Duration::from_secs(30),
    );
    assert_eq!(code, Some(0), "{out}\n{err}");
    for want in [
        "█ USL MODEL",
        "(contention,",
        "(coherency)",
        "█ CAPACITY AT THE SLA  p(95) < 40 ms (SLA \"p95 under 40 ms\")",
        "cpu        ",
        "not computed: cpu was not measured",
        "VPA: not computed: no monitored usage",
        "CPU was not monitored: the HPA scales on the per-pod request rate",
    ] {
        assert!(out.contains(want), "missing `{want}` in:\n{out}");
    }
}

/// Validate `files` with the Python checker; its JSON report.
fn validate(files: &[PathBuf]) -> Value {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/support/k8s/validate.py");
    let out = Command::new("python3")
        .arg(&script)
        .args(files)
        .output()
        .unwrap_or_else(|e| panic!("cannot run python3 ({e}): install Python 3, then `pip install -r crates/gauntlet-cli/tests/support/k8s/requirements.txt`"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the manifests do not validate (exit {:?}):\n{stderr}\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {stderr}"))
}

/// A monitored CPU and memory series for the sweep: per step, CPU =
/// 0.05 + 0.001 × the step's throughput, memory 300 MiB + 10 KiB per req/s.
fn usage_csv(v: &Value, path: &Path) {
    let mut csv = String::from("t_s,cpu_cores,memory_bytes\n");
    for s in v["sweep"]["steps"].as_array().unwrap() {
        let (a, b) = (s["startS"].as_f64().unwrap(), s["endS"].as_f64().unwrap());
        let x = s["throughput"].as_f64().unwrap();
        let mut t = a;
        while t <= b {
            csv.push_str(&format!(
                "{t},{},{}\n",
                0.05 + 0.001 * x,
                300.0 * 1048576.0 + 10240.0 * x
            ));
            t += 0.25;
        }
    }
    std::fs::write(path, csv).unwrap();
}

#[test]
fn manifests_validate_against_the_kubernetes_schema_and_carry_the_measured_numbers() {
    let (dir, result) = usl_sweep();
    let r = result.to_str().unwrap();

    // Without monitors: an HPA on requests per pod, no VPA.
    let k8s = dir.path().join("k8s-rps");
    let (code, v, err) = capacity_json(&[
        r,
        "--json",
        "--target-rate",
        "1500",
        "--peak-rate",
        "4000",
        "--out",
        &format!("k8s={}", k8s.display()),
    ]);
    assert_eq!(code, Some(0), "{err}");
    assert!(
        !k8s.join("vpa.yaml").exists(),
        "no VPA without monitored usage"
    );
    assert!(
        v["vpa"]["notComputed"]
            .as_str()
            .unwrap()
            .contains("no monitored usage")
    );
    let c = v["capacityPerInstance"].as_f64().unwrap();
    let rep = validate(&[k8s.join("hpa.yaml")]);
    let hpa = &rep["hpa.yaml"]["object"];
    // Recompute: per-pod target = min(C × 0.7, C / 1.1); replicas from it.
    let per_pod = (c * 0.7).min(c / 1.1);
    assert_eq!(
        hpa["spec"]["minReplicas"].as_f64().unwrap(),
        (1500.0 / per_pod).ceil()
    );
    assert_eq!(
        hpa["spec"]["maxReplicas"].as_f64().unwrap(),
        (4000.0 / per_pod).ceil()
    );
    let metric = &hpa["spec"]["metrics"][0];
    assert_eq!(metric["type"], "Pods");
    let avg = quantity(metric["pods"]["target"]["averageValue"].as_str().unwrap());
    assert!(
        (avg - per_pod).abs() < 0.001,
        "averageValue {avg} vs {per_pod}"
    );
    let up = &hpa["spec"]["behavior"]["scaleUp"]["policies"];
    assert_eq!(up[0]["value"], 100);
    assert_eq!(up[1]["value"], 4);

    // With monitored usage: an HPA on CPU and a VPA.
    let usage = dir.path().join("usage.csv");
    usage_csv(&v, &usage);
    let k8s = dir.path().join("k8s-cpu");
    let (code, v, err) = capacity_json(&[
        r,
        "--json",
        "--target-rate",
        "1500",
        "--usage",
        usage.to_str().unwrap(),
        "--cpu-cores",
        "1",
        "--cpu-request",
        "0.5",
        "--out",
        &format!("k8s={}", k8s.display()),
    ]);
    assert_eq!(code, Some(0), "{err}");
    let rep = validate(&[k8s.join("hpa.yaml"), k8s.join("vpa.yaml")]);
    let hpa = &rep["hpa.yaml"]["object"];
    let util = hpa["spec"]["metrics"][0]["resource"]["target"]["averageUtilization"]
        .as_f64()
        .unwrap();
    assert_eq!(util, ((0.05 + 0.001 * per_pod) / 0.5 * 100.0).floor());
    // Sizing: CPU needs ⌈0.001 × 1500 / (0.7 × 1 − 0.05)⌉ = 3 instances.
    let cpu_row = &v["sizing"]["rows"][1];
    assert_eq!(cpu_row["resource"], "cpu");
    assert_eq!(cpu_row["instances"], 3);
    // VPA: target = end of the p90 bucket of the CPU samples, + 15 %.
    let vpa = &rep["vpa.yaml"]["object"];
    let min_cpu = vpa["spec"]["resourcePolicy"]["containerPolicies"][0]["minAllowed"]["cpu"]
        .as_str()
        .unwrap();
    let want = v["vpa"]["cpu"]["target"].as_f64().unwrap();
    assert_eq!(quantity(min_cpu), (want * 1000.0).ceil() / 1000.0);
    // The same arithmetic in another order: equal up to rounding.
    let expected = vpa_target(&usage);
    assert!(
        (want - expected).abs() <= 1e-12 * expected.abs(),
        "{want} vs {expected}"
    );
    assert!(
        rep["vpa.yaml"]["checked"].as_array().unwrap().len() >= 3,
        "{rep:#}"
    );
}

/// A Kubernetes quantity (`140`, `181818m`, `251m`) as a number.
fn quantity(q: &str) -> f64 {
    match q.strip_suffix('m') {
        Some(m) => m.parse::<f64>().unwrap() / 1000.0,
        None => q.parse().unwrap(),
    }
}

/// The VPA recommender's CPU target from the usage file, recomputed here:
/// exponential buckets (0.01 core, ×1.05), p90 by weight, the bucket's end,
/// plus 15 %, at least 25 millicores.
fn vpa_target(usage: &Path) -> f64 {
    let text = std::fs::read_to_string(usage).unwrap();
    let rows: Vec<(f64, f64)> = text
        .lines()
        .skip(1)
        .map(|l| {
            let c: Vec<&str> = l.split(',').collect();
            (c[0].parse().unwrap(), c[1].parse().unwrap())
        })
        .collect();
    let t0 = rows[0].0;
    let bucket = |v: f64| ((v * 0.05 / 0.01 + 1.0_f64).ln() / 1.05_f64.ln()).floor() as i32;
    let start = |b: i32| 0.01 * (1.05_f64.powi(b) - 1.0) / 0.05;
    let mut weights = std::collections::BTreeMap::<i32, f64>::new();
    for &(t, c) in &rows {
        // The request (0.5 core) weighs each sample; the 24 h half-life decays them.
        *weights.entry(bucket(c)).or_default() += 0.5 * ((t - t0) / 86_400.0).exp2();
    }
    let total: f64 = weights.values().sum();
    let mut sum = 0.0;
    for (b, w) in &weights {
        sum += w;
        if sum >= 0.9 * total {
            return (start(b + 1) * 1.15).max(0.025);
        }
    }
    unreachable!()
}

#[test]
fn a_sweep_cut_short_by_errors_is_refused_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    // From 3 requests in flight everything fails: steps 3 and 4 are errors.
    // Each step holds well past the warm-up, so that a loaded machine's late
    // ticks still leave a plateau of constant VUs in every step.
    let result = sweep(dir.path(), Behaviour::FailFrom(3), &[1, 2, 6, 8], "4s");
    let (code, v, err) = capacity_json(&[result.to_str().unwrap(), "--json"]);
    assert_eq!(code, Some(110), "{v:#}\n{err}");
    assert_eq!(v["fitted"], false);
    let msg = v["error"].as_str().unwrap();
    assert!(msg.contains("cut short by errors at step 3"), "{msg}");
    assert!(err.contains("cannot fit the USL"), "{err}");
}

#[test]
fn fit_points_prints_the_published_model_of_schwartzs_benchmark() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("points.csv");
    std::fs::write(&csv, SCHWARTZ_CSV).unwrap();
    let (code, v, err) = capacity_json(&["fit", "--points", csv.to_str().unwrap(), "--json"]);
    assert_eq!(code, Some(0), "{err}");
    let close = |k: &str, want: f64| {
        let got = v[k].as_f64().unwrap();
        assert!(
            ((got - want) / want).abs() <= 0.005,
            "{k} = {got}, want {want}"
        );
    };
    close("sigma", 0.02671591);
    close("kappa", 7.690945e-4);
    close("lambda", 995.6486);
    close("peakConcurrency", 35.0);
    close("peakThroughput", 12341.7454);
}

#[test]
fn fit_points_refuses_too_few_points_and_throughput_that_never_rises() {
    let dir = tempfile::tempdir().unwrap();
    let few = dir.path().join("few.csv");
    std::fs::write(
        &few,
        "concurrency,throughput\n1,955.16\n2,1878.91\n3,2688.01\n",
    )
    .unwrap();
    let (code, out, err) = run(
        gauntlet().args(["capacity", "fit", "--points"]).arg(&few),
        Duration::from_secs(10),
    );
    assert_eq!(code, Some(110), "{out}{err}");
    assert!(out.is_empty(), "no model is printed: {out}");
    assert!(
        err.contains("a USL fit of σ, κ and λ needs at least 4"),
        "{err}"
    );

    let flat = dir.path().join("flat.csv");
    std::fs::write(
        &flat,
        "throughput,concurrency\n500,1\n499,2\n490,4\n470,8\n420,16\n",
    )
    .unwrap();
    let (code, v, _) = capacity_json(&["fit", "--points", flat.to_str().unwrap(), "--json"]);
    assert_eq!(code, Some(110));
    assert_eq!(v["fitted"], false);
    assert!(
        v["error"].as_str().unwrap().contains("never rises"),
        "{v:#}"
    );

    let bad = dir.path().join("bad.csv");
    std::fs::write(&bad, "n,x\n1,2\n").unwrap();
    let (code, _, err) = run(
        gauntlet().args(["capacity", "fit", "--points"]).arg(&bad),
        Duration::from_secs(10),
    );
    assert_eq!(code, Some(1));
    assert!(err.contains("no `concurrency` column"), "{err}");
}

const SCHWARTZ_CSV: &str = "concurrency,throughput
1,955.16
2,1878.91
3,2688.01
4,3548.68
5,4315.54
6,5130.43
7,5931.37
8,6531.08
9,7219.8
10,7867.61
11,8278.71
12,8646.7
13,9047.84
14,9426.55
15,9645.37
16,9897.24
17,10097.6
18,10240.5
19,10532.39
20,10798.52
21,11151.43
22,11518.63
23,11806
24,12089.37
25,12075.41
26,12177.29
27,12211.41
28,12158.93
29,12155.27
30,12118.04
31,12140.4
32,12074.39
";
