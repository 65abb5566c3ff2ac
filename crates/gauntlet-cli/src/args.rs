//! Command-line interface definition (clap derive). The help texts here are
//! the first documentation most users read: each says what a flag does and
//! gives an example.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

/// Performance test plans as code: k6-style scenarios and thresholds in one YAML
/// file, exact HDR latency (coordinated-omission corrected), and a verdict.
#[derive(Debug, Parser)]
#[command(name = "gauntlet", version, about, long_about = None, after_help = "\
Start here:
  gauntlet run examples/quickstart.yaml     run a plan against the embedded demo service
  gauntlet validate PLAN                    check a plan (exit 104 when invalid)
  gauntlet plan PLAN                        show VUs / arrival rate over time, send nothing
  gauntlet run --url http://127.0.0.1:8080/ --vus 10 --duration 30s

Exit codes: 0 ok, 99 thresholds failed, 104 invalid plan, 105 interrupted (docs/exit-codes.md).")]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
    /// Disable colours (also when NO_COLOR is set or output is not a terminal).
    #[arg(long, global = true)]
    pub(crate) no_color: bool,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Run a plan (or a quick test from flags) and print the summary.
    Run(RunArgs),
    /// Check a plan and print every problem with file:line:column; sends nothing.
    #[command(
        after_help = "Example: gauntlet validate examples/*.yaml   (exit 0 when all are valid, 104 otherwise)\n         gauntlet validate plan.yaml --tag team=checkout   (the tags `run --tag` would add)"
    )]
    Validate {
        /// Plan files to check.
        #[arg(required = true)]
        plans: Vec<PathBuf>,
        #[command(flatten)]
        tags: TagArgs,
    },
    /// Print the execution plan: scenarios, VUs or arrival rate over time, VU pool.
    #[command(
        after_help = "Example: gauntlet plan examples/story-100-users.yaml --vus 50   (flags override the plan, as in run)"
    )]
    Plan {
        /// The plan file.
        plan: PathBuf,
        #[command(flatten)]
        overrides: OverrideArgs,
    },
    /// Print the JSON Schema of the plan format (for editors' YAML language servers).
    #[command(
        after_help = "Example: gauntlet schema > plan.schema.json, then in VS Code's settings.json:\n  \"yaml.schemas\": {\"./plan.schema.json\": \"*.gauntlet.yaml\"}"
    )]
    Schema,
    /// Serve the demo items API on 127.0.0.1 until Ctrl-C.
    #[command(
        after_help = "Example: gauntlet demo --port 8080 --latency 5ms..20ms --error-rate 0.01\n  then: gauntlet run --url http://127.0.0.1:8080/api/items --vus 10 --duration 30s"
    )]
    Demo(DemoArgs),
    /// Capacity planning: fit the USL to a sweep, size for a load, derive HPA/VPA (docs/capacity.md).
    Capacity(CapacityArgs),
    /// Render a saved result (`run --out json=FILE`) again, without re-running.
    Report {
        /// The result file written by `gauntlet run --out json=FILE`.
        result: PathBuf,
        /// Output format: md (pull-request summary), junit (CI test cases), csv (per-second timeline),
        /// html (self-contained page with charts, works offline), summary (the terminal summary).
        /// Example: gauntlet report result.json -f html -o report.html
        #[arg(long, short = 'f', default_value = "summary", value_parser = ["summary", "md", "junit", "csv", "html"])]
        format: String,
        /// Write to this file instead of standard output.
        #[arg(long, short = 'o', value_name = "FILE")]
        output: Option<PathBuf>,
    },
}

/// Flags that override the plan, as in k6 (flags beat the file).
#[derive(Debug, Args, Default, Clone)]
pub(crate) struct OverrideArgs {
    /// Target base URL, or `demo` for the embedded demo service.
    #[arg(long, visible_alias = "target", value_name = "URL")]
    pub(crate) url: Option<String>,
    /// Virtual users (with --duration: constant-vus; alone: one iteration each).
    #[arg(long, short = 'u', value_name = "N")]
    pub(crate) vus: Option<u64>,
    /// Test duration, e.g. 30s, 2m, 1h30m.
    #[arg(long, short = 'd', value_name = "DURATION")]
    pub(crate) duration: Option<String>,
    /// Total iterations shared by all VUs (shared-iterations).
    #[arg(long, short = 'i', value_name = "N")]
    pub(crate) iterations: Option<u64>,
    /// Open model: start this many iterations per second (constant-arrival-rate).
    #[arg(long, value_name = "PER_SECOND")]
    pub(crate) rate: Option<u64>,
    /// A ramping-vus stage DURATION:TARGET, repeatable: --stage 30s:100 --stage 1m:100.
    #[arg(long = "stage", short = 's', value_name = "DURATION:TARGET", value_parser = parse_stage)]
    pub(crate) stages: Vec<(String, u64)>,
    #[command(flatten)]
    pub(crate) tags: TagArgs,
}

/// `--tag`, shared by `run`, `plan` and `validate` so a selector naming a
/// command-line tag validates the same way everywhere.
#[derive(Debug, Args, Default, Clone)]
pub(crate) struct TagArgs {
    /// A tag added to every metric of the run, repeatable. Example: --tag team=checkout
    /// --tag build=1234 (select it in thresholds: `http_req_duration{team:checkout}`).
    #[arg(long = "tag", value_name = "NAME=VALUE", value_parser = parse_pair)]
    pub(crate) tags: Vec<(String, String)>,
}

fn parse_stage(s: &str) -> Result<(String, u64), String> {
    let (d, t) = s
        .split_once(':')
        .ok_or("write DURATION:TARGET, e.g. 30s:100")?;
    gauntlet_plan::duration::parse_duration(d).map_err(|e| format!("stage duration: {e}"))?;
    let t: u64 = t
        .trim()
        .parse()
        .map_err(|_| format!("stage target `{t}` is not a whole number"))?;
    Ok((d.trim().to_owned(), t))
}

#[derive(Debug, Args)]
#[command(after_help = "\
Environment (a flag wins over GAUNTLET_*, which wins over K6_*, which wins over the plan):
  GAUNTLET_VUS / K6_VUS, GAUNTLET_DURATION / K6_DURATION, GAUNTLET_ITERATIONS / K6_ITERATIONS,
  GAUNTLET_RATE, GAUNTLET_URL, GAUNTLET_WORKERS, GAUNTLET_SUMMARY_EXPORT / K6_SUMMARY_EXPORT,
  GAUNTLET_SUMMARY_TREND_STATS / K6_SUMMARY_TREND_STATS, GAUNTLET_NO_THRESHOLDS / K6_NO_THRESHOLDS,
  GAUNTLET_INSECURE_SKIP_TLS_VERIFY / K6_INSECURE_SKIP_TLS_VERIFY, GAUNTLET_HTTP_DEBUG / K6_HTTP_DEBUG,
  GAUNTLET_THROW / K6_THROW, GAUNTLET_QUIET / K6_QUIET, GAUNTLET_OUT / K6_OUT (comma-separated).
Example: K6_VUS=20 K6_DURATION=1m gauntlet run plan.yaml -e TOKEN=$TOKEN --tag team=checkout")]
pub(crate) struct RunArgs {
    /// The plan file. Optional with --url: then every VU sends GET to that URL.
    pub(crate) plan: Option<PathBuf>,
    #[command(flatten)]
    pub(crate) overrides: OverrideArgs,
    #[command(flatten)]
    pub(crate) k6: K6Args,
    /// Write the end-of-test summary in k6's summary JSON shape.
    #[arg(long, value_name = "FILE")]
    pub(crate) summary_export: Option<PathBuf>,
    /// Write results, repeatable: json=FILE (full result: timeline and lossless histograms),
    /// junit=FILE (thresholds and SLAs as test cases for CI), md=FILE (pull-request summary),
    /// csv=FILE (per-second timeline, one row per metric), html=FILE (self-contained report
    /// page with charts, works offline; see docs/html-report.md).
    #[arg(long = "out", short = 'o', value_name = "FORMAT=FILE")]
    pub(crate) out: Vec<String>,
    /// Print nothing while running (the summary still prints at the end).
    /// Without it, progress goes to stderr: on a terminal, a live line (req/s over the
    /// last second, p95, error rate, thresholds failing now) and one bar per scenario
    /// (elapsed/planned or iterations done/total, VUs or arrival rate, iterations,
    /// dropped), redrawn every second; otherwise one plain status line every 5 s.
    /// Example: gauntlet run plan.yaml -q > summary.txt
    #[arg(long, short = 'q')]
    pub(crate) quiet: bool,
    /// Worker threads generating load (default: the CPUs this process may run on,
    /// so `taskset -c 1 gauntlet run ...` uses one). With 1, everything runs on one
    /// thread (cheapest per request); more spread VUs over a work-stealing pool.
    /// At most 4 per CPU.
    #[arg(long, value_name = "N")]
    pub(crate) workers: Option<usize>,
    /// Start even when the plan's peak VUs are estimated not to fit in the memory
    /// available (about 8 KiB per VU; without it such a run is refused with exit 104).
    #[arg(long)]
    pub(crate) force: bool,
}

/// k6's run flags, under k6's names, so a k6 user's command line works.
#[derive(Debug, Args, Default, Clone)]
pub(crate) struct K6Args {
    /// A variable for the plan's templates (`{{ env.NAME }}`), repeatable; wins over the
    /// process environment, and its value is redacted from every output like the
    /// environment's. Example: -e TOKEN=abc -e BASE_ID=7 (k6: --env).
    #[arg(long = "env", short = 'e', value_name = "NAME=VALUE", value_parser = parse_pair)]
    pub(crate) env: Vec<(String, String)>,
    /// Print every request and response head to stderr as it happens; `--http-debug=full`
    /// adds the bodies. Authorization, cookies and environment values are shown as ***.
    #[arg(long, value_name = "full", num_args = 0..=1, default_missing_value = "headers",
          require_equals = true, value_parser = ["headers", "full"])]
    pub(crate) http_debug: Option<String>,
    /// Accept any TLS certificate (self-signed, expired, wrong name): the plan's
    /// `target.tls.insecureSkipVerify: true`.
    #[arg(long)]
    pub(crate) insecure_skip_tls_verify: bool,
    /// Trend statistics of the summary, comma-separated. Example:
    /// --summary-trend-stats "avg,min,med,max,p(90),p(95),p(99.9)".
    #[arg(long, value_name = "STATS")]
    pub(crate) summary_trend_stats: Option<String>,
    /// Do not evaluate thresholds: the exit code ignores them, and an SLA's verdict is
    /// still shown but does not change the exit code either (k6: --no-thresholds).
    #[arg(long)]
    pub(crate) no_thresholds: bool,
    /// A request that fails at transport level (refused, reset, timeout) or a step
    /// that cannot be built ends its iteration at once, as an exception in k6 --throw.
    #[arg(long, short = 'w')]
    pub(crate) throw: bool,
}

fn parse_pair(s: &str) -> Result<(String, String), String> {
    let (k, v) = s
        .split_once('=')
        .ok_or_else(|| format!("`{s}`: write NAME=VALUE"))?;
    if k.is_empty() {
        return Err(format!("`{s}`: the name before `=` is empty"));
    }
    Ok((k.to_owned(), v.to_owned()))
}

#[derive(Debug, Args)]
pub(crate) struct DemoArgs {
    /// Port on 127.0.0.1 (0 picks a free one).
    #[arg(long, short = 'p', default_value_t = 8080)]
    pub(crate) port: u16,
    /// Injected latency per /api request: 5ms, 2ms..8ms (uniform) or lognormal:20ms:200ms.
    #[arg(long, value_name = "LATENCY")]
    pub(crate) latency: Option<String>,
    /// Share of /api requests answered 500, from 0 to 1.
    #[arg(long, value_name = "RATIO")]
    pub(crate) error_rate: Option<f64>,
    /// SQLite connection pool size.
    #[arg(long, value_name = "N")]
    pub(crate) pool_size: Option<usize>,
    /// Read-through cache TTL, e.g. 30s.
    #[arg(long, value_name = "DURATION")]
    pub(crate) cache_ttl: Option<String>,
    /// Time an async job takes, e.g. 2s.
    #[arg(long, value_name = "DURATION")]
    pub(crate) job_duration: Option<String>,
    /// Freeze all /api responses periodically: EVERY:FOR, e.g. 5s:1s.
    #[arg(long, value_name = "EVERY:FOR")]
    pub(crate) stall: Option<String>,
    /// Items inserted at start.
    #[arg(long, value_name = "N")]
    pub(crate) seed_items: Option<usize>,
    /// Extra time each database call holds its connection (slow queries), e.g. 50ms.
    #[arg(long, value_name = "DURATION")]
    pub(crate) query_time: Option<String>,
    /// Rounds of CPU work per GET /api/compute (about 1 ms of a core per million).
    #[arg(long, value_name = "N")]
    pub(crate) compute_rounds: Option<u64>,
    /// Workers serving GET /api/work (capacity = workers / service time).
    #[arg(long, value_name = "N")]
    pub(crate) workers: Option<usize>,
    /// Time each GET /api/work takes on its worker, e.g. 10ms.
    #[arg(long, value_name = "DURATION")]
    pub(crate) service_time: Option<String>,
    /// Most GET /api/work requests waiting for a worker (more get 503).
    #[arg(long, value_name = "N")]
    pub(crate) work_queue: Option<usize>,
    /// Slow /api requests while arrivals exceed a rate, until a recovery time after: ABOVE:LATENCY:RECOVERY, e.g. 200:300ms:5s.
    #[arg(long, value_name = "ABOVE:LATENCY:RECOVERY")]
    pub(crate) overload: Option<String>,
}

/// `gauntlet capacity`: from a saved sweep (or given points) to a model,
/// a sizing and autoscaler settings.
#[derive(Debug, Args)]
#[command(
    args_conflicts_with_subcommands = true,
    after_help = "Examples:\n  gauntlet run examples/capacity-sweep.yaml --out json=sweep.json\n  gauntlet capacity sweep.json --sla 'p(95) < 200ms' --target-rate 1500 --out k8s=deploy/\n  gauntlet capacity fit --points points.csv --json     (columns concurrency,throughput)\n\nExit codes: 0 a good fit, 110 no fit or a poor one (the message says why), 111 a manifest could not be written."
)]
pub(crate) struct CapacityArgs {
    #[command(subcommand)]
    pub(crate) command: Option<CapacityCommand>,
    /// A result of a stepped ramping-vus sweep, written by `gauntlet run PLAN --out json=FILE`.
    pub(crate) result: Option<PathBuf>,
    #[command(flatten)]
    pub(crate) opts: CapacityOptions,
}

/// `gauntlet capacity fit`.
#[derive(Debug, Subcommand)]
pub(crate) enum CapacityCommand {
    /// Fit the USL to measured points and print the model.
    #[command(
        after_help = "Example: gauntlet capacity fit --points points.csv --json\n  points.csv: a header `concurrency,throughput`, then one line per step"
    )]
    Fit {
        /// CSV with a header naming `concurrency` and `throughput`.
        #[arg(long, value_name = "FILE.csv")]
        points: PathBuf,
        /// Print a JSON object (sigma, kappa, lambda, peakConcurrency, peakThroughput, quality, …).
        #[arg(long)]
        json: bool,
    },
}

/// Where a sweep's concurrency comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum ConcurrencyArg {
    /// VUs, unless they were idle part of the time (think time): then in-flight requests.
    Auto,
    /// The plateau's VU count.
    Vus,
    /// Requests in flight by Little's law (throughput × mean response time).
    Inflight,
}

/// The options of `gauntlet capacity RESULT.json`.
#[derive(Debug, Args)]
pub(crate) struct CapacityOptions {
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub(crate) json: bool,
    /// The latency SLA, e.g. 'p(95) < 200ms' (default: the plan's first SLA on http_req_duration).
    #[arg(long, value_name = "EXPR")]
    pub(crate) sla: Option<String>,
    /// Load to size for, requests per second (default: the plan's SLA `http_reqs` `rate > N`).
    #[arg(long, value_name = "RPS")]
    pub(crate) target_rate: Option<f64>,
    /// The spike the autoscaler must absorb, requests per second (default: the target rate).
    #[arg(long, value_name = "RPS")]
    pub(crate) peak_rate: Option<f64>,
    /// Share of capacity kept free: 30% or 0.3.
    #[arg(long, value_name = "SHARE", default_value = "30%", value_parser = parse_share)]
    pub(crate) headroom: f64,
    /// Highest CPU share to plan for (seed 004: 70 %).
    #[arg(long, value_name = "SHARE", default_value = "70%", value_parser = parse_share)]
    pub(crate) cpu_ceiling: f64,
    /// Concurrency of each point.
    #[arg(long, value_enum, default_value = "auto")]
    pub(crate) concurrency: ConcurrencyArg,
    /// Left out at the start of each plateau (connections, queues filling).
    #[arg(long, value_name = "DURATION", default_value = "1s", value_parser = parse_duration_arg)]
    pub(crate) warmup: std::time::Duration,
    /// A step with more failed requests than this ends the sweep: 5% or 0.05.
    #[arg(long, value_name = "SHARE", default_value = "5%", value_parser = parse_share)]
    pub(crate) max_error_rate: f64,
    /// The service's CPU and memory during the sweep, one instance: CSV `t_s,cpu_cores,memory_bytes`.
    #[arg(long, value_name = "FILE.csv")]
    pub(crate) usage: Option<PathBuf>,
    /// Cores one instance has (its CPU limit), for CPU sizing.
    #[arg(long, value_name = "CORES")]
    pub(crate) cpu_cores: Option<f64>,
    /// Bytes one instance has (its memory limit), for memory sizing.
    #[arg(long, value_name = "BYTES")]
    pub(crate) memory: Option<u64>,
    /// The pods' CPU request in cores, for the HPA's utilization (default: the VPA target).
    #[arg(long, value_name = "CORES")]
    pub(crate) cpu_request: Option<f64>,
    /// Time from pod creation to serving, added to the HPA's scale-up time.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration_arg)]
    pub(crate) pod_startup: Option<std::time::Duration>,
    /// The time a spike must be absorbed in (seed 001: scaling within 2 minutes).
    #[arg(long, value_name = "DURATION", default_value = "2m", value_parser = parse_duration_arg)]
    pub(crate) scale_within: std::time::Duration,
    /// The Deployment the manifests target (default: the plan's name).
    #[arg(long, value_name = "NAME")]
    pub(crate) name: Option<String>,
    /// The per-pod requests-per-second metric of a Pods HPA (when CPU was not monitored).
    #[arg(
        long,
        value_name = "METRIC",
        default_value = "http_requests_per_second"
    )]
    pub(crate) rps_metric: String,
    /// Write the manifests: --out k8s=DIR (hpa.yaml, vpa.yaml).
    #[arg(long = "out", value_name = "k8s=DIR", value_parser = parse_k8s_out)]
    pub(crate) k8s_dir: Option<PathBuf>,
}

fn parse_share(s: &str) -> Result<f64, String> {
    let v = match s.strip_suffix('%') {
        Some(p) => p.trim().parse::<f64>().map(|v| v / 100.0),
        None => s.trim().parse::<f64>(),
    }
    .map_err(|_| format!("`{s}` is not a share: write 30% or 0.3"))?;
    if (0.0..1.0).contains(&v) {
        Ok(v)
    } else {
        Err(format!("`{s}` must be at least 0 and below 100%"))
    }
}

fn parse_duration_arg(s: &str) -> Result<std::time::Duration, String> {
    gauntlet_plan::duration::parse_duration(s).map_err(|e| e.to_string())
}

fn parse_k8s_out(s: &str) -> Result<PathBuf, String> {
    match s.split_once('=') {
        Some(("k8s", dir)) if !dir.is_empty() => Ok(PathBuf::from(dir)),
        _ => Err(format!("`{s}`: write --out k8s=DIR")),
    }
}
