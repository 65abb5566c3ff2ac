//! `gauntlet run`: load the plan (flags override it), start the target,
//! drive the load, watch thresholds live, and end with the summary, the
//! result files and an exit code.
//!
//! Interruption: the first SIGINT/SIGTERM stops starting iterations and lets
//! running ones finish within their gracefulStop; a second one interrupts
//! them at once. Either way the summary and every result file are written
//! with what was measured, and the exit code is 105.

use crate::args::RunArgs;
use crate::exit::Exit;
use crate::output::{Format, OutFile, check_writable, parse_outs, write_atomic};
use anyhow::Context as _;
use gauntlet_analysis::{evaluate, should_abort};
use gauntlet_demo::{DemoConfig, DemoServer, LatencyModel, Stall};
use gauntlet_drivers::http::{
    ClientCert, HttpClient, HttpConfig, HttpDebug, HttpDriver, HttpVersionPref,
};
use gauntlet_engine::collect::Collector;
use gauntlet_engine::executor::{ScenarioState, StopControl};
use gauntlet_engine::flow::Workload;
use gauntlet_engine::run::{AbortReason, Control, Monitor, run_plan};
use gauntlet_engine::step::Driver as _;
use gauntlet_engine::vu::{DriverVuFactory, RunContext};
use gauntlet_plan::{HttpVersion, Overrides, Plan, TargetBase};
use gauntlet_report::build::{RunInfo, summarize};
use gauntlet_report::model::ScenarioRow;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// What k6's run flags change in the plan: TLS verification, the
/// summary's trend statistics, thresholds dropped (`--tag` is an override,
/// applied when the plan loads, so selectors may name its tags).
fn apply_k6_flags(plan: &mut Plan, k6: &crate::args::K6Args) -> Result<(), String> {
    if k6.insecure_skip_tls_verify {
        plan.target.tls.insecure_skip_verify = true;
    }
    if let Some(list) = &k6.summary_trend_stats {
        let mut stats = Vec::new();
        for s in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            match gauntlet_plan::threshold::parse_expr(&format!("{s} > 0")) {
                Ok(e)
                    if !matches!(
                        e.aggregation,
                        gauntlet_metrics::Stat::Rate | gauntlet_metrics::Stat::Value
                    ) =>
                {
                    stats.push(e.aggregation)
                }
                _ => {
                    return Err(format!(
                        "--summary-trend-stats: `{s}` is not a trend statistic (use avg, min, med, max, count or p(N))"
                    ));
                }
            }
        }
        if stats.is_empty() {
            return Err("--summary-trend-stats: no statistic given".into());
        }
        plan.options.summary_trend_stats = stats;
    }
    if k6.no_thresholds {
        plan.thresholds.clear();
    }
    Ok(())
}

/// Move the credentials of the target URL (`http://user:pass@host`) into
/// an `Authorization: Basic` header of every request, as curl and k6 send
/// them, unless the plan sets one; the URL kept has none, so no output can
/// show them. Returns how to show the target (`http://user:***@host`) when
/// it had credentials.
fn take_credentials(plan: &mut Plan) -> Option<String> {
    let TargetBase::Url(u) = &mut plan.target.base else {
        return None;
    };
    let mut url = url::Url::parse(u).ok()?;
    let shown = {
        let mut s = url.clone();
        if s.password().is_some() {
            let _ = s.set_password(Some("***"));
        }
        s.as_str().trim_end_matches('/').to_owned()
    };
    let value = gauntlet_engine::flow::url_credentials(&mut url)?;
    *u = url.as_str().trim_end_matches('/').to_owned();
    let has_auth = plan
        .target
        .headers
        .iter()
        .any(|(k, _)| k.eq_ignore_ascii_case("authorization"));
    if !has_auth {
        plan.target.headers.push((
            "Authorization".to_owned(),
            gauntlet_plan::Template::new(value),
        ));
    }
    Some(shown)
}

/// A plan for `gauntlet run --url URL` without a plan file: every VU GETs the URL.
fn url_only_plan(url: &str) -> anyhow::Result<(String, String)> {
    let parsed = url::Url::parse(url).with_context(|| format!("--url `{url}` is not a URL"))?;
    let host = parsed.host_str().context("--url needs a host")?;
    // Credentials stay on the base URL: `take_credentials` turns them into
    // basic authentication.
    let userinfo = match (parsed.username(), parsed.password()) {
        ("", None) => String::new(),
        (user, None) => format!("{user}@"),
        (user, Some(pass)) => format!("{user}:{pass}@"),
    };
    let base = format!("{}://{userinfo}{host}", parsed.scheme());
    let base = match parsed.port() {
        Some(p) => format!("{base}:{p}"),
        None => base,
    };
    let mut path = parsed.path().to_owned();
    if let Some(q) = parsed.query() {
        path.push('?');
        path.push_str(q);
    }
    let plan = format!(
        "version: 1\nname: quick\ntarget: {base}\nworkload:\n  operations:\n    get:\n      request: {}\n",
        serde_json::to_string(&format!("GET {path}"))?
    );
    Ok((plan, base))
}

/// The run's monitor: merges measurements every tick, feeds the live view and
/// stops the run when an `abortOnFail` threshold fails.
struct CliMonitor {
    collector: Collector,
    plan: Arc<Plan>,
    live: crate::live::LiveView,
    stop: StopControl,
    aborting: bool,
}

impl Monitor for CliMonitor {
    fn tick(&mut self, elapsed: Duration, scenarios: &[Arc<ScenarioState>], last: bool) -> Control {
        self.collector.tick(elapsed, scenarios);
        if last {
            // Bars go before anything else is printed (teardown, summary).
            self.live.finish();
        } else {
            let stopping = if self.aborting {
                Some(crate::live::Stopping::Aborted)
            } else if self.stop.hard.is_cancelled() {
                Some(crate::live::Stopping::Hard)
            } else if self.stop.graceful.is_cancelled() {
                Some(crate::live::Stopping::Graceful)
            } else {
                None
            };
            let frame =
                crate::live::frame(&self.plan, &self.collector, elapsed, scenarios, stopping);
            self.live.update(&frame);
        }
        let source = gauntlet_analysis::TimelineSource {
            timeline: &self.collector.timeline,
            registry: &self.collector.registry,
            interner: &self.collector.interner,
            newest_only: true,
        };
        let failing = should_abort(&self.plan, &source, elapsed);
        if failing.is_empty() {
            Control::Continue
        } else {
            let why = AbortReason::Thresholds { failing };
            if !self.aborting && !last {
                self.aborting = true;
                self.live.printer().message(&format!("aborting: {why}"));
            }
            Control::Abort(why)
        }
    }
}

fn http_config(plan: &Plan, base: &std::path::Path) -> HttpConfig {
    let t = &plan.target;
    HttpConfig {
        connect_timeout: t.connect_timeout,
        request_timeout: t.timeout,
        insecure_skip_tls_verify: t.tls.insecure_skip_verify,
        ca_certs: t.tls.ca_certs.iter().map(|c| base.join(c)).collect(),
        client_cert: t.tls.client_cert.as_ref().map(|(c, k)| ClientCert {
            cert: base.join(c),
            key: base.join(k),
        }),
        version: match t.http.version {
            HttpVersion::Http1 => HttpVersionPref::Http1,
            HttpVersion::Http2 => HttpVersionPref::Http2,
            HttpVersion::H2c => HttpVersionPref::H2c,
            _ => HttpVersionPref::Auto,
        },
        max_redirects: t.http.max_redirects,
        cookies: t.http.cookies,
        decompress: t.http.compression,
        ..HttpConfig::default()
    }
}

fn demo_config(o: &gauntlet_plan::DemoOptions) -> anyhow::Result<DemoConfig> {
    let mut c = DemoConfig::default();
    if let Some(l) = &o.latency {
        c.latency = l
            .parse::<LatencyModel>()
            .map_err(|e| anyhow::anyhow!("target.demo.latency: {e}"))?;
    }
    if let Some(e) = o.error_rate {
        c.error_rate = e;
    }
    if let Some(p) = o.pool_size {
        c.pool_size = p as usize;
    }
    if let Some(t) = o.cache_ttl {
        c.cache_ttl = t;
    }
    if let Some(j) = o.job_duration {
        c.job_duration = j;
    }
    if let Some(s) = o.seed_items {
        c.seed_items = s as usize;
    }
    if let Some((every, duration)) = o.stall {
        c.stall = Some(Stall { every, duration });
    }
    Ok(c)
}

pub(crate) fn run(mut args: RunArgs, color: bool) -> anyhow::Result<Exit> {
    if let Err(e) = crate::config::apply_env(&mut args, &|k| std::env::var(k).ok()) {
        eprintln!("error: {e}");
        return Ok(Exit::InvalidPlan);
    }
    let mut outs = match parse_outs(&args.out) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(Exit::InvalidPlan);
        }
    };
    let cpus = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2);
    let workers = match crate::limits::workers(args.workers, cpus) {
        Ok(w) => w,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(Exit::InvalidPlan);
        }
    };
    if let Some(p) = &args.summary_export {
        outs.insert(
            0,
            OutFile {
                format: Format::K6Summary,
                path: p.clone(),
            },
        );
    }
    // Before anything runs: a file that cannot be written would be lost
    // after the whole run.
    let unwritable: Vec<String> = outs
        .iter()
        .filter_map(|o| {
            check_writable(&o.path)
                .err()
                .map(|e| format!("{}: {e}", o.flag()))
        })
        .collect();
    if !unwritable.is_empty() {
        for e in &unwritable {
            eprintln!("error: {e}");
        }
        eprintln!("  nothing was run: fix the output paths and run again");
        return Ok(Exit::OutputFailed);
    }
    let overrides: Overrides = args.overrides.clone().into();
    let loaded = match &args.plan {
        Some(path) => gauntlet_plan::load_file(path, &overrides),
        None => {
            let Some(url) = &args.overrides.url else {
                eprintln!(
                    "error: give a plan file, or --url for a quick test\n  gauntlet run examples/quickstart.yaml\n  gauntlet run --url http://127.0.0.1:8080/ --vus 10 --duration 30s"
                );
                return Ok(Exit::Usage);
            };
            let (text, base) = if url == "demo" {
                ("version: 1\nname: quick\ntarget: demo\nworkload:\n  operations:\n    get: GET /api/items\n".to_owned(), "demo".to_owned())
            } else {
                match url_only_plan(url) {
                    Ok(p) => p,
                    Err(e) => {
                        eprintln!(
                            "error: {e:#}\n  hint: give a full URL, e.g. --url http://127.0.0.1:8080/api/items (or --url demo)"
                        );
                        return Ok(Exit::InvalidPlan);
                    }
                }
            };
            let o = Overrides {
                url: Some(base),
                ..overrides.clone()
            };
            // Every problem of this made-up plan is one of `--url`.
            let origin = format!("--url {url}");
            gauntlet_plan::parse_plan("--url", text.as_bytes(), "quick", &o)
                .map(|mut l| {
                    l.warnings = l.warnings.on_command_line(&origin);
                    l
                })
                .map_err(|e| e.on_command_line(&origin))
        }
    };
    let loaded = match loaded {
        Ok(l) => l,
        Err(e) => {
            eprint!("{}", e.render(color));
            return Ok(Exit::InvalidPlan);
        }
    };
    if !loaded.warnings.diagnostics.is_empty() {
        eprint!("{}", loaded.warnings.render(color));
    }
    let mut plan = loaded.plan;
    if let Err(e) = apply_k6_flags(&mut plan, &args.k6) {
        eprintln!("error: {e}");
        return Ok(Exit::InvalidPlan);
    }
    let target_shown = take_credentials(&mut plan);
    let plan = Arc::new(plan);
    use crate::limits::{MemoryVerdict, available_memory, check_memory};
    match check_memory(plan.peak_vus(), available_memory()) {
        MemoryVerdict::TooLarge(why) if !args.force => {
            eprintln!("error: {why}");
            return Ok(Exit::InvalidPlan);
        }
        MemoryVerdict::TooLarge(why) | MemoryVerdict::Tight(why) => {
            eprintln!("warning: {why}");
        }
        MemoryVerdict::Fits => {}
    }
    // One worker: a current-thread runtime. Everything (VUs, their
    // connections, the tick, the embedded demo) then runs on the calling
    // thread, with no cross-thread wakeups, work-stealing queues or atomics
    // on the task path: 11 % fewer instructions than a one-worker
    // multi-thread runtime for the same 20,000 requests (callgrind).
    let rt = if workers == 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(workers)
            .enable_all()
            .build()
    }
    .context("cannot start the async runtime")?;
    rt.block_on(run_async(plan, target_shown, args, outs, workers, color))
}

async fn run_async(
    plan: Arc<Plan>,
    target_shown: Option<String>,
    args: RunArgs,
    outs: Vec<OutFile>,
    workers: usize,
    color: bool,
) -> anyhow::Result<Exit> {
    // Target.
    let (base_url, demo, target_desc) = match &plan.target.base {
        TargetBase::Demo(o) => {
            let cfg = match demo_config(o) {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("error: {e:#}");
                    return Ok(Exit::InvalidPlan);
                }
            };
            match DemoServer::start(cfg, "127.0.0.1:0".parse()?).await {
                Ok(d) => {
                    let url = d.base_url();
                    (url.clone(), Some(d), format!("demo service at {url}"))
                }
                Err(e) => {
                    eprintln!("error: the embedded demo service did not start: {e}");
                    return Ok(Exit::TargetUnavailable);
                }
            }
        }
        TargetBase::Url(u) => (u.clone(), None, target_shown.unwrap_or_else(|| u.clone())),
        _ => anyhow::bail!("unsupported target"),
    };
    // Files named in the plan (TLS certificates, data, uploads) are relative to the plan.
    let base_dir = args
        .plan
        .as_ref()
        .and_then(|p| p.parent().map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from("."));
    let http = match HttpClient::new(http_config(&plan, &base_dir)) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: target TLS settings: {e}");
            return Ok(Exit::TargetUnavailable);
        }
    };
    let mut driver = HttpDriver::new(http, base_url);
    driver.debug = match args.k6.http_debug.as_deref() {
        Some("full") => Some(HttpDebug::Full),
        Some(_) => Some(HttpDebug::Headers),
        None => None,
    };
    let workload = match Workload::compile(&plan, &base_dir, &driver) {
        Ok(w) => Arc::new(w),
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(Exit::InvalidPlan);
        }
    };
    let shards = workers * 4;
    let collector = Collector::with_metrics(&plan, shards, driver.metrics());
    let mut shared =
        RunContext::new(plan.clone(), workload, driver, &collector, shards).with_env(&args.k6.env);
    shared.throw = args.k6.throw;
    let shared = Arc::new(shared);
    let factory = Arc::new(DriverVuFactory {
        shared: shared.clone(),
        seed: plan.options.seed,
    });
    // Setup runs once, before any scenario; what it captures is `setup.<name>` for everyone.
    if plan.setup.is_some() {
        let mut vu = gauntlet_engine::executor::VuFactory::create(&*factory, 0, 0);
        match vu.run_setup().await {
            Ok(values) => {
                let _ = shared.setup.set(values);
            }
            Err(e) => {
                eprintln!("error: setup failed: {e}");
                if let Some(d) = demo {
                    d.shutdown().await;
                }
                return Ok(Exit::SetupFailed);
            }
        }
    }
    // Signals: first graceful, second hard. Their notices go through the live
    // view so they print above the bars rather than under them.
    let live = crate::live::LiveView::new(crate::live::Mode::detect(args.quiet, color));
    let printer = live.printer();
    let stop = StopControl::default();
    let sig = stop.clone();
    let signals = tokio::spawn(async move {
        let mut term =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
        let mut count = 0;
        loop {
            let got = match term.as_mut() {
                Some(t) => {
                    tokio::select! { r = tokio::signal::ctrl_c() => r.is_ok(), r = t.recv() => r.is_some() }
                }
                None => tokio::signal::ctrl_c().await.is_ok(),
            };
            if !got {
                break;
            }
            count += 1;
            if count == 1 {
                printer.message(
                    "stopping: no new iterations; running ones get their gracefulStop (press Ctrl-C again to stop at once)",
                );
                sig.graceful.cancel();
            } else {
                printer.message("stopping now: running iterations are interrupted");
                sig.hard.cancel();
                break;
            }
        }
    });
    if !args.quiet {
        eprintln!(
            "gauntlet: {} — {} scenario(s), up to {} VUs, {} at most, target {target_desc}",
            plan.name,
            plan.scenarios.len(),
            plan.peak_vus(),
            gauntlet_plan::duration::format_duration(plan.max_duration())
        );
    }
    let mut monitor = CliMonitor {
        collector,
        plan: plan.clone(),
        live,
        stop: stop.clone(),
        aborting: false,
    };
    let outcome = run_plan(
        plan.clone(),
        factory.clone(),
        stop.clone(),
        &mut monitor,
        Duration::from_secs(1),
    )
    .await;
    signals.abort();
    if plan.teardown.is_some() {
        let mut vu = gauntlet_engine::executor::VuFactory::create(&*factory, 0, 0);
        if let Err(e) = vu.run_teardown().await {
            eprintln!("warning: teardown: {e}");
        }
    }
    if let Some(d) = demo {
        d.shutdown().await;
    }
    // Verdict and summary.
    let c = &monitor.collector;
    // The timeline, not only the total: windowed conditions judge each stretch.
    let source = gauntlet_analysis::TimelineSource {
        timeline: &c.timeline,
        registry: &c.registry,
        interner: &c.interner,
        newest_only: false,
    };
    // Steps that could not be built, once each with their first message: the
    // verdict weighs them, the summary shows them.
    let notes = shared
        .step_errors
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    let facts = gauntlet_analysis::RunFacts {
        step_failures: notes
            .iter()
            .map(|n| gauntlet_analysis::StepFailure {
                group: n.group.to_string(),
                step: n.step.to_string(),
                code: n.code.as_str().to_owned(),
            })
            .collect(),
    };
    let verdict = evaluate(&plan, &source, &facts);
    let interrupted = match (&outcome.aborted, outcome.stopped) {
        (Some(why), _) => Some(why.to_string()),
        (None, true) => Some("stopped by signal".to_owned()),
        _ => None,
    };
    let scenarios = plan
        .scenarios
        .iter()
        .zip(&outcome.scenarios)
        .map(|(s, st)| ScenarioRow {
            name: s.name.clone(),
            executor: s.executor.name().to_owned(),
            iterations: st.completed.load(Ordering::Relaxed),
            interrupted: st.interrupted.load(Ordering::Relaxed),
            dropped: st.dropped.load(Ordering::Relaxed),
            vus_max: st.allocated_vus.load(Ordering::Relaxed),
        })
        .collect();
    let info = RunInfo {
        target: target_desc,
        duration_ms: outcome.elapsed.as_millis() as u64,
        interrupted,
        scenarios,
        step_errors: notes
            .into_iter()
            .map(|n| gauntlet_report::model::StepErrorRow {
                group: n.group.to_string(),
                step: n.step.to_string(),
                code: n.code.as_str().to_owned(),
                count: 0,
                message: n.message,
            })
            .collect(),
    };
    let summary = summarize(
        &plan,
        c.timeline.total(),
        &c.registry,
        &c.interner,
        verdict,
        info,
    );
    let stdout_tty = std::io::stdout().is_terminal();
    let (mut write_failed, mut stdout_failed) = (false, false);
    // A closed stdout (`| head`) drops the summary; the files below are still written.
    if let Err(e) = crate::stdout::print(&gauntlet_report::terminal::render(
        &summary,
        gauntlet_report::terminal::Style {
            color: color && stdout_tty,
        },
    )) {
        eprintln!("error: cannot print the summary: {e}");
        stdout_failed = true;
    }
    // The full result document, built once for `json` and `html` alike.
    let result_doc = std::cell::OnceCell::new();
    let result_doc = || {
        result_doc.get_or_init(|| {
            gauntlet_report::json::result_json(
                &plan,
                &summary,
                &c.timeline,
                &c.registry,
                &c.interner,
            )
        })
    };
    for o in &outs {
        let bytes = match o.format {
            Format::K6Summary => Ok(json_text(&gauntlet_report::k6::summary_json(
                &summary, stdout_tty,
            ))),
            Format::Json => Ok(json_text(result_doc())),
            Format::Junit => Ok(gauntlet_report::junit::render(&summary)),
            Format::Markdown => Ok(gauntlet_report::markdown::render(&summary)),
            Format::Csv => Ok(gauntlet_report::csv::render(
                &c.timeline,
                &c.registry,
                &c.interner,
            )),
            // Rendered from the result document, as `gauntlet report -f html`
            // does, so both give the same page.
            Format::Html => gauntlet_report::html::render_result(result_doc()),
        };
        let written = bytes
            .map_err(std::io::Error::other)
            .and_then(|b| write_atomic(&o.path, b.as_bytes()));
        if let Err(e) = written {
            eprintln!("error: {}: {e}", o.flag());
            write_failed = true;
        }
    }
    // A lost result file is said first: the other codes assume the files exist.
    Ok(if write_failed {
        Exit::OutputFailed
    } else if outcome.stopped && outcome.aborted.is_none() {
        Exit::Interrupted
    } else if args.k6.no_thresholds {
        Exit::Ok
    } else if summary.verdict.thresholds_failed() {
        Exit::ThresholdsFailed
    } else if summary.verdict.not_measured() {
        Exit::NotMeasured
    } else if stdout_failed {
        Exit::Failure
    } else {
        Exit::Ok
    })
}

fn json_text(doc: &serde_json::Value) -> String {
    // Serializing a `Value` cannot fail.
    serde_json::to_string_pretty(doc).unwrap_or_default() + "\n"
}
