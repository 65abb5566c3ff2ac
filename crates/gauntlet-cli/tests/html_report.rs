//! Issue 6: the HTML report of a real run, opened in headless Chromium.
//!
//! A short run against the embedded demo (with injected errors, one failing
//! and two passing thresholds, an SLA and checks) writes `--out json=` and
//! `--out html=`; the page is then loaded from disk in `/usr/bin/chromium`,
//! driven over the DevTools protocol, and must show:
//! 1. no console error, warning or uncaught exception;
//! 2. no network request but the `file://` document itself;
//! 3. drawn pixels in every chart, in the colours of its lines, in light and
//!    in dark mode (pixels counted here, with `getImageData`, not by the page);
//! 4. the same numbers as the JSON result: verdict, key figures, thresholds,
//!    SLAs, requests by name, checks and errors.
//!
//! It also checks that `gauntlet report result.json -f html` renders the
//! very same bytes. Chromium is required: install it with
//! `apt-get install -y chromium`.

use headless_chrome::protocol::cdp::types::Event;
use headless_chrome::protocol::cdp::{Emulation, Log, Network, Runtime};
use headless_chrome::{Browser, LaunchOptions, Tab};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};

const CHROMIUM: &str = "/usr/bin/chromium";

const PLAN: &str = r#"version: 1
name: html-report-test
description: "A short run with </script> in user text"
target:
  url: demo
  demo:
    errorRate: 0.1
workload:
  thinkTime: 20ms..40ms
  operations:
    list_items:
      weight: 3
      request: GET /api/items?page=1&per_page=10
      checks:
        - status: 200
    create_item:
      weight: 1
      request:
        method: POST
        url: /api/items
        json: {name: "item {{ vu }}-{{ iter }}"}
      checks:
        - status: 201
sla:
  - name: "List p95 <b>under</b> a minute"
    metric: http_req_duration{name:list_items}
    objective: p(95) < 60s
scenarios:
  steady:
    executor: constant-vus
    vus: 4
    duration: 3s
thresholds:
  http_req_failed: ["rate < 0.001"]
  http_reqs: ["count > 0"]
  http_req_duration: ["p(95) < 60000"]
"#;

fn chromium() -> PathBuf {
    let path = PathBuf::from(CHROMIUM);
    assert!(
        path.is_file(),
        "this test opens the HTML report in headless Chromium at {CHROMIUM}, which is missing: \
         install it with `apt-get install -y chromium`"
    );
    path
}

fn gauntlet(dir: &Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_gauntlet"))
        .env("NO_COLOR", "1")
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap()
}

/// A number as the page shows it, in the JSON's unit (ms for durations, a
/// 0..1 share for percentages), and how far the shown digits may be from
/// the exact value (half of the last digit shown: pages show two decimals).
fn shown(text: &str) -> (f64, f64) {
    let t = text.trim().trim_end_matches("/s");
    let (digits, scale) = if let Some(n) = t.strip_suffix('%') {
        (n, 0.01)
    } else if let Some(n) = t.strip_suffix("µs") {
        (n, 0.001)
    } else if let Some(n) = t.strip_suffix("ms") {
        (n, 1.0)
    } else if let Some(n) = t.strip_suffix('s') {
        (n, 1000.0)
    } else {
        (t, 1.0)
    };
    let v: f64 = digits
        .parse()
        .unwrap_or_else(|_| panic!("`{text}` on the page is not a number"));
    (v * scale, 0.005 * scale + 1e-9)
}

fn assert_shows(what: &str, text: &str, expected: f64) {
    let (v, tol) = shown(text);
    assert!(
        (v - expected).abs() <= tol,
        "{what}: the page shows `{text}` but the result says {expected}"
    );
}

fn eval_json(tab: &Tab, js: &str) -> Value {
    let out = tab.evaluate(js, true).unwrap();
    let Some(Value::String(s)) = out.value else {
        panic!("evaluation returned no string: {out:?}");
    };
    serde_json::from_str(&s).unwrap()
}

/// Per chart: canvas size, pixels drawn, and pixels in the colours of the
/// chart's lines (read from the legend markers uPlot draws).
const PIXELS_JS: &str = r#"
(async () => {
  await new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)));
  const rgb = s => (s.match(/\d+(\.\d+)?/g) || []).map(Number);
  return JSON.stringify(Array.from(document.querySelectorAll('.chart[data-chart]')).map(el => {
    const canvas = el.querySelector('canvas');
    // Skip the first legend entry: it is the x axis (time), not a line.
    const colors = Array.from(el.querySelectorAll('.u-legend .u-series')).slice(1)
      .map(s => s.querySelector('.u-marker'))
      .filter(m => m)
      .map(m => rgb(getComputedStyle(m).borderTopColor))
      .filter(c => c.length >= 3 && (c.length < 4 || c[3] > 0));
    const out = { chart: el.dataset.chart, width: 0, height: 0, drawn: 0, lines: 0, colors: colors.length };
    if (!canvas) return out;
    out.width = canvas.width; out.height = canvas.height;
    const px = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
    for (let i = 0; i < px.length; i += 4) {
      if (px[i + 3] === 0) continue;
      out.drawn++;
      if (px[i + 3] < 128) continue;
      for (const c of colors) {
        if (Math.abs(px[i] - c[0]) + Math.abs(px[i + 1] - c[1]) + Math.abs(px[i + 2] - c[2]) < 40) {
          out.lines++;
          break;
        }
      }
    }
    return out;
  }));
})()
"#;

/// Everything the page shows that the result also holds, read as text.
const NUMBERS_JS: &str = r#"
(async () => {
  const text = (el, sel) => { const x = sel ? el.querySelector(sel) : el; return x ? x.textContent.trim() : null; };
  const rows = sel => Array.from(document.querySelectorAll(sel));
  return JSON.stringify({
    decision: document.getElementById('verdict').dataset.decision,
    decisionText: text(document, '#verdict .decision'),
    title: document.title,
    figures: Object.fromEntries(rows('.figure').map(f => [f.id, text(f, '.value')])),
    thresholds: rows('tr[data-threshold]').map(r => ({
      passed: r.dataset.passed, metric: text(r.cells[1]), expression: text(r.cells[2]), observed: text(r, '.observed') })),
    slas: rows('tr[data-sla]').map(r => ({ status: r.dataset.status, name: text(r.cells[1]), observed: text(r, '.observed') })),
    operations: rows('tr[data-operation]').map(r => ({ name: text(r.cells[0]), requests: text(r, '.requests'), p95: text(r, '.p95') })),
    checks: rows('tr[data-check]').map(r => ({ group: text(r.cells[0]), name: text(r.cells[1]), passes: text(r, '.passes'), fails: text(r, '.fails') })),
    errors: rows('tr[data-error]').map(r => ({ code: text(r, '.code'), count: text(r, '.count') })),
    background: getComputedStyle(document.body).backgroundColor,
  });
})()
"#;

fn metric<'a>(summary: &'a Value, name: &str) -> &'a Value {
    summary["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == name && m["tags"].as_array().is_some_and(|t| t.is_empty()))
        .unwrap_or_else(|| panic!("no {name} in the result"))
}

fn percentile(stats: &Value, p: f64) -> f64 {
    stats["percentiles"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x[0].as_f64() == Some(p))
        .and_then(|x| x[1].as_f64())
        .unwrap_or_else(|| panic!("no p({p}) in {stats}"))
}

fn check_pixels(tab: &Tab, mode: &str) {
    let charts = eval_json(tab, PIXELS_JS);
    eprintln!("{mode}: {charts}");
    let charts = charts.as_array().unwrap();
    let names: Vec<&str> = charts
        .iter()
        .map(|c| c["chart"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["throughput", "latency", "errors", "load", "phases"],
        "{mode}: every chart is on the page"
    );
    for c in charts {
        let name = &c["chart"];
        assert!(
            c["width"].as_u64() > Some(100) && c["height"].as_u64() > Some(100),
            "{mode}: chart {name} has a canvas: {c}"
        );
        assert!(
            c["colors"].as_u64() > Some(0),
            "{mode}: chart {name} has lines: {c}"
        );
        assert!(
            c["drawn"].as_u64() > Some(1000),
            "{mode}: chart {name} drew pixels: {c}"
        );
        assert!(
            c["lines"].as_u64() > Some(100),
            "{mode}: chart {name} drew its lines in their colours: {c}"
        );
    }
}

#[test]
fn html_report_of_a_real_run_renders_offline_in_chromium_with_the_results_numbers() {
    let chromium = chromium();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("plan.yaml"), PLAN).unwrap();
    let run = gauntlet(
        dir.path(),
        &[
            "run",
            "plan.yaml",
            "--quiet",
            "--out",
            "json=result.json",
            "--out",
            "html=report.html",
        ],
    );
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(99), "a threshold fails: {stderr}");
    let html_path = dir.path().join("report.html");
    let html = std::fs::read(&html_path).unwrap();
    let result: Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("result.json")).unwrap()).unwrap();
    let summary = &result["summary"];

    // Rendering the saved result again gives the same page.
    let again = gauntlet(
        dir.path(),
        &[
            "report",
            "result.json",
            "--format",
            "html",
            "-o",
            "again.html",
        ],
    );
    assert_eq!(
        again.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    assert!(
        std::fs::read(dir.path().join("again.html")).unwrap() == html,
        "`gauntlet report -f html` renders the same page as `run --out html=`"
    );

    // The run is what the test needs: a failing and a passing threshold, errors.
    let thresholds = summary["verdict"]["thresholds"].as_array().unwrap();
    assert!(thresholds.iter().any(|t| t["status"] == "fail"));
    assert!(thresholds.iter().any(|t| t["status"] == "pass"));
    assert!(
        !summary["errors"].as_array().unwrap().is_empty(),
        "errors were injected"
    );

    let browser = Browser::new(
        LaunchOptions::default_builder()
            .path(Some(chromium))
            .sandbox(false)
            .window_size(Some((1280, 2400)))
            .build()
            .unwrap(),
    )
    .unwrap();
    let tab = browser.new_tab().unwrap();
    let problems: Arc<Mutex<Vec<String>>> = Arc::default();
    let requests: Arc<Mutex<Vec<String>>> = Arc::default();
    let (p, r) = (problems.clone(), requests.clone());
    tab.add_event_listener(Arc::new(move |event: &Event| match event {
        Event::RuntimeExceptionThrown(e) => p.lock().unwrap().push(format!(
            "exception: {} {:?}",
            e.params.exception_details.text,
            e.params
                .exception_details
                .exception
                .as_ref()
                .and_then(|x| x.description.clone())
        )),
        Event::RuntimeConsoleAPICalled(e)
            if matches!(
                e.params.Type,
                Runtime::ConsoleAPICalledEventTypeOption::Error
                    | Runtime::ConsoleAPICalledEventTypeOption::Warning
                    | Runtime::ConsoleAPICalledEventTypeOption::Assert
            ) =>
        {
            p.lock().unwrap().push(format!(
                "console {:?}: {:?}",
                e.params.Type,
                e.params.args.iter().map(|a| &a.value).collect::<Vec<_>>()
            ))
        }
        Event::LogEntryAdded(e)
            if matches!(
                e.params.entry.level,
                Log::LogEntryLevel::Error | Log::LogEntryLevel::Warning
            ) =>
        {
            p.lock().unwrap().push(format!(
                "log {:?}: {}",
                e.params.entry.level, e.params.entry.text
            ))
        }
        Event::NetworkRequestWillBeSent(e) => r.lock().unwrap().push(e.params.request.url.clone()),
        _ => {}
    }))
    .unwrap();
    tab.enable_runtime().unwrap();
    tab.enable_log().unwrap();
    tab.call_method(Network::Enable {
        max_total_buffer_size: None,
        max_resource_buffer_size: None,
        max_post_data_size: None,
        report_direct_socket_traffic: None,
        enable_durable_messages: None,
    })
    .unwrap();
    let url = format!("file://{}", html_path.canonicalize().unwrap().display());
    tab.navigate_to(&url).unwrap();
    tab.wait_until_navigated().unwrap();
    tab.wait_for_element(".chart canvas").unwrap();

    // (3) Every chart drew its lines, light mode.
    check_pixels(&tab, "light");

    // (4) The numbers on the page are the result's.
    let page = eval_json(&tab, NUMBERS_JS);
    let decision = summary["verdict"]["decision"].as_str().unwrap();
    assert_eq!(page["decision"], decision);
    assert_eq!(page["decisionText"], "NO-GO");
    assert_eq!(decision, "no_go");
    assert!(page["title"].as_str().unwrap().contains("html-report-test"));
    let figures = &page["figures"];
    let reqs = &metric(summary, "http_reqs")["values"];
    assert_shows(
        "total requests",
        figures["fig-requests"].as_str().unwrap(),
        reqs["count"].as_f64().unwrap(),
    );
    let failed = &metric(summary, "http_req_failed")["values"];
    assert_shows(
        "failed requests",
        figures["fig-failed"].as_str().unwrap(),
        failed["rate"].as_f64().unwrap(),
    );
    let duration = &metric(summary, "http_req_duration")["values"]["stats"];
    for p in [50.0, 90.0, 95.0, 99.0] {
        assert_shows(
            &format!("latency p{p}"),
            figures[format!("fig-p{p}")].as_str().unwrap(),
            percentile(duration, p),
        );
    }
    assert_shows(
        "iterations",
        figures["fig-iterations"].as_str().unwrap(),
        metric(summary, "iterations")["values"]["count"]
            .as_f64()
            .unwrap(),
    );
    let shown_thresholds = page["thresholds"].as_array().unwrap();
    assert_eq!(shown_thresholds.len(), thresholds.len());
    for (s, t) in shown_thresholds.iter().zip(thresholds) {
        let what = format!("threshold {} {}", t["metric"], t["expression"]);
        assert_eq!(s["metric"], t["metric"], "{what}");
        assert_eq!(s["expression"], t["expression"], "{what}");
        assert_eq!(s["passed"], (t["status"] == "pass").to_string(), "{what}");
        assert_shows(
            &what,
            s["observed"].as_str().unwrap(),
            t["observed"].as_f64().unwrap(),
        );
    }
    let slas = summary["verdict"]["slas"].as_array().unwrap();
    let shown_slas = page["slas"].as_array().unwrap();
    assert_eq!(shown_slas.len(), slas.len());
    assert_eq!(slas.len(), 1);
    for (s, x) in shown_slas.iter().zip(slas) {
        assert_eq!(s["name"], x["name"], "user text shows as text, not markup");
        assert_eq!(s["status"], x["status"]);
        assert_shows(
            "SLA",
            s["observed"].as_str().unwrap(),
            x["observed"].as_f64().unwrap(),
        );
    }
    let ops = summary["operations"].as_array().unwrap();
    let shown_ops = page["operations"].as_array().unwrap();
    assert_eq!(shown_ops.len(), ops.len());
    assert!(!ops.is_empty());
    for (s, o) in shown_ops.iter().zip(ops) {
        assert_eq!(s["name"], o["name"]);
        assert_eq!(s["requests"], o["requests"].to_string());
        assert_shows(
            &format!("p95 of {}", o["name"]),
            s["p95"].as_str().unwrap(),
            percentile(&o["duration"], 95.0),
        );
    }
    let checks = summary["checks"].as_array().unwrap();
    let shown_checks = page["checks"].as_array().unwrap();
    assert_eq!(shown_checks.len(), checks.len());
    assert!(!checks.is_empty());
    for (s, c) in shown_checks.iter().zip(checks) {
        assert_eq!(s["group"], c["group"]);
        assert_eq!(s["name"], c["name"]);
        assert_eq!(s["passes"], c["passes"].to_string());
        assert_eq!(s["fails"], c["fails"].to_string());
    }
    let errors = summary["errors"].as_array().unwrap();
    let shown_errors = page["errors"].as_array().unwrap();
    assert_eq!(shown_errors.len(), errors.len());
    for (s, e) in shown_errors.iter().zip(errors) {
        assert_eq!(s["code"], e["code"]);
        assert_eq!(s["count"], e["count"].to_string());
    }
    let light_background = page["background"].clone();

    // (3) again in dark mode: the page switches colours and redraws.
    tab.call_method(Emulation::SetEmulatedMedia {
        media: None,
        features: Some(vec![Emulation::MediaFeature {
            name: "prefers-color-scheme".into(),
            value: "dark".into(),
        }]),
    })
    .unwrap();
    check_pixels(&tab, "dark");
    let dark = eval_json(&tab, NUMBERS_JS);
    assert_ne!(
        dark["background"], light_background,
        "the page follows prefers-color-scheme"
    );

    // (1) No console error or exception; (2) nothing but the file was requested.
    let problems = problems.lock().unwrap().clone();
    assert!(problems.is_empty(), "console errors: {problems:#?}");
    let requests = requests.lock().unwrap().clone();
    assert!(!requests.is_empty(), "the document load itself is seen");
    assert!(
        requests.iter().all(|u| *u == url),
        "only {url} may be requested, saw {requests:#?}"
    );
}
