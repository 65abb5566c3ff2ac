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
