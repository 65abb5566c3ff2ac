//! The validated plan: typed, complete, free of spans and of strings where a
//! type can say it. Everything downstream (engine, analysis, reports) works
//! from these types; if a `Plan` exists, it can run.

use crate::threshold::{Cmp, MetricSelector};
use gauntlet_metrics::{MetricKind, Percentile, Stat, Unit};
use std::time::Duration;

pub use crate::schedule::{Executor, Stage};

/// A complete, validated test plan.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// Plan name (file stem when not given); labels reports and Prometheus series.
    pub name: String,
    /// Free text for reports.
    pub description: Option<String>,
    /// What is tested.
    pub target: Target,
    /// Named objectives, each a threshold and a row of the final report.
    pub slas: Vec<Sla>,
    /// Every threshold to evaluate: those under `thresholds:` and one per SLA.
    pub thresholds: Vec<Threshold>,
    /// Data feeders.
    pub data: Vec<Feeder>,
    /// What users do.
    pub workload: Workload,
    /// Run once before any scenario; captures become `setup.<name>` in templates.
    pub setup: Option<Vec<Step>>,
    /// Run once after all scenarios.
    pub teardown: Option<Vec<Step>>,
    /// How hard to push, k6-style.
    pub scenarios: Vec<Scenario>,
    /// Metrics the plan defines itself: those declared under `metrics:`
    /// (in file order), then polling steps' wait metrics.
    pub custom_metrics: Vec<CustomMetric>,
    /// Run-wide options.
    pub options: RunOptions,
}

/// Run-wide options.
#[derive(Debug, Clone, PartialEq)]
pub struct RunOptions {
    /// Trend statistics shown in the summary (k6 `summaryTrendStats`).
    pub summary_trend_stats: Vec<Stat>,
    /// Seed of every random choice (weights, think times, feeders) for reproducible runs.
    pub seed: Option<u64>,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            summary_trend_stats: vec![
                Stat::Avg,
                Stat::Min,
                Stat::Med,
                Stat::Max,
                Stat::Percentile(Percentile::P90),
                Stat::Percentile(Percentile::P95),
            ],
            seed: None,
        }
    }
}

/// A metric defined by the plan.
#[derive(Debug, Clone, PartialEq)]
pub struct CustomMetric {
    /// Its name (`job_duration`).
    pub name: String,
    /// Its type (trends for polling waits).
    pub kind: MetricKind,
    /// Its unit: [`Unit::Microseconds`] for time trends (written and read
    /// in milliseconds, recorded in microseconds), [`Unit::Count`] for plain
    /// values.
    pub unit: Unit,
}

/// A value a step adds to one of the plan's `metrics:` after each response
/// (k6's `counter.add(value, tags)`), so a test can measure what the
/// built-in metrics cannot see: a field of the body, a server timing header.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricAdd {
    /// The declared metric (a name under `metrics:`).
    pub metric: String,
    /// Where the value comes from.
    pub source: ValueSource,
    /// Extra tags on the sample.
    pub tags: Vec<(String, String)>,
}

/// Where a step's metric value is read.
///
/// Exhaustive: the engine compiles every source, so a new one must fail to
/// compile there rather than be skipped.
#[derive(Debug, Clone, PartialEq)]
pub enum ValueSource {
    /// A JSON path in the body (the syntax captures use).
    JsonPath(String),
    /// A response header.
    Header(String),
    /// One of the request's timings, in milliseconds.
    Timing(Timing),
    /// A template, rendered after the step's captures.
    Value(Template),
}

/// A timing of the request a step sent, as the `http_req_*` trends measure it.
///
/// Exhaustive, like [`ValueSource`]: the engine reads every timing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timing {
    /// `http_req_duration`: sending + waiting + receiving.
    Duration,
    /// `http_req_total`: the whole request with connection setup.
    Total,
    /// `http_req_blocked`.
    Blocked,
    /// `http_req_dns`.
    Dns,
    /// `http_req_connecting`.
    Connecting,
    /// `http_req_tls_handshaking`.
    TlsHandshaking,
    /// `http_req_sending`.
    Sending,
    /// `http_req_waiting`: time to first byte.
    Waiting,
    /// `http_req_receiving`.
    Receiving,
}

impl Timing {
    /// Every timing with its plan spelling.
    pub const ALL: &'static [(Timing, &'static str)] = &[
        (Timing::Duration, "duration"),
        (Timing::Total, "total"),
        (Timing::Blocked, "blocked"),
        (Timing::Dns, "dns"),
        (Timing::Connecting, "connecting"),
        (Timing::TlsHandshaking, "tls_handshaking"),
        (Timing::Sending, "sending"),
        (Timing::Waiting, "waiting"),
        (Timing::Receiving, "receiving"),
    ];
}

/// The system under test.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    /// Where requests go.
    pub base: TargetBase,
    /// Headers sent with every request (a request's own headers win).
    pub headers: Vec<(String, Template)>,
    /// Whole-request timeout (k6 default 60s).
    pub timeout: Duration,
    /// DNS + connect + TLS timeout.
    pub connect_timeout: Duration,
    /// TLS options.
    pub tls: TlsOptions,
    /// HTTP protocol options.
    pub http: HttpOptions,
}

/// Where the target lives.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum TargetBase {
    /// A real service: base URL such as `http://127.0.0.1:8080`.
    Url(String),
    /// The embedded demo service, started in-process on an ephemeral port.
    Demo(DemoOptions),
}

/// Conditions the embedded demo service is started with.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct DemoOptions {
    /// Injected latency, as written (`5ms`, `2ms..8ms`, `lognormal:20ms:200ms`).
    pub latency: Option<String>,
    /// Share of `/api` requests answered 500.
    pub error_rate: Option<f64>,
    /// SQLite connection pool size.
    pub pool_size: Option<u32>,
    /// Read-through cache TTL.
    pub cache_ttl: Option<Duration>,
    /// Time an async job takes.
    pub job_duration: Option<Duration>,
    /// Items inserted before the run.
    pub seed_items: Option<u32>,
    /// Periodic stall: every `.0`, hold responses for `.1`.
    pub stall: Option<(Duration, Duration)>,
}

/// TLS options (k6 names).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TlsOptions {
    /// Accept any server certificate (k6 `insecureSkipTLSVerify`).
    pub insecure_skip_verify: bool,
    /// Extra CA certificates (PEM files).
    pub ca_certs: Vec<String>,
    /// Client certificate and key (PEM files) for mutual TLS.
    pub client_cert: Option<(String, String)>,
}

/// HTTP protocol options.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpOptions {
    /// Which HTTP version to speak.
    pub version: HttpVersion,
    /// Redirects followed (0 = none; k6 default 10).
    pub max_redirects: u32,
    /// Keep a cookie jar per VU.
    pub cookies: bool,
    /// Ask for and decode compressed responses.
    pub compression: bool,
}

impl Default for HttpOptions {
    fn default() -> Self {
        HttpOptions {
            version: HttpVersion::Auto,
            max_redirects: 10,
            cookies: true,
            compression: true,
        }
    }
}

/// HTTP version preference.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum HttpVersion {
    /// HTTP/2 when TLS ALPN offers it, else HTTP/1.1.
    Auto,
    /// HTTP/1.1 only.
    Http1,
    /// HTTP/2 over TLS (ALPN) only.
    Http2,
    /// Cleartext HTTP/2 with prior knowledge.
    H2c,
}

/// How important an SLA is. Every SLA is a threshold (a broken limit, or a
/// missed objective without a limit, fails the run with exit code 99 and a
/// no-go); priority orders and labels the SLA rows and the reasons of the
/// verdict, as seed 002's tables do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Priority {
    /// Must hold for a release.
    High,
    /// Should hold.
    Medium,
    /// Nice to hold.
    Low,
}

/// A named service-level objective (seed 002's SLA tables).
#[derive(Debug, Clone, PartialEq)]
pub struct Sla {
    /// Shown in reports ("Create item p95 < 200ms").
    pub name: String,
    /// The measured metric.
    pub metric: MetricSelector,
    /// The target (002's "Target" column).
    pub objective: Condition,
    /// The hard limit (002's "Maximum acceptable"); when set, only breaking it
    /// fails the run, missing the objective alone is a warning.
    pub limit: Option<Condition>,
    /// Importance for go/no-go.
    pub priority: Priority,
}

/// A typed comparison: `aggregation cmp value` in the metric's own unit
/// (milliseconds for time, 0..1 for rates, per second for counter rates).
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    /// How the metric is reduced.
    pub aggregation: Stat,
    /// The operator.
    pub cmp: Cmp,
    /// The bound.
    pub value: f64,
    /// The expression as the user wrote it, for display.
    pub text: String,
    /// Over which stretch of the run it is judged: the whole run (k6), or
    /// every window, or a sustained violation; and the warm-up left out.
    pub window: Window,
}

/// How a condition is judged over time. k6 judges the whole run, so 100 %
/// errors in the last seconds read as a few percent; a window judges each
/// stretch alone, exactly, from the per-second timeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Window {
    /// The judging rule.
    pub kind: WindowKind,
    /// The run's first stretch left out of the judgement (`warmup: 30s`).
    pub warmup: Duration,
}

impl Window {
    /// Whether this is k6's rule: the whole run, nothing left out.
    pub fn is_whole_run(&self) -> bool {
        self.kind == WindowKind::WholeRun && self.warmup.is_zero()
    }
}

/// The judging rule of a [`Window`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum WindowKind {
    /// Once, over the run after the warm-up (k6's rule when there is none).
    #[default]
    WholeRun,
    /// `over 30s`: every window of this length, sliding by one interval,
    /// must hold; compliance is the share of windows that held.
    Every(Duration),
    /// `for 10s`: fails when the condition is broken this long without a
    /// break, interval by interval.
    Sustained(Duration),
}

/// A threshold: a condition on a metric that fails the run (exit 99) when broken.
#[derive(Debug, Clone, PartialEq)]
pub struct Threshold {
    /// Which metric and sub-metric.
    pub metric: MetricSelector,
    /// The condition.
    pub condition: Condition,
    /// Stop the test as soon as this fails (k6 `abortOnFail`).
    pub abort_on_fail: bool,
    /// Do not abort before this much time has passed (k6 `delayAbortEval`).
    pub delay_abort_eval: Duration,
    /// Where it came from.
    pub origin: ThresholdOrigin,
}

/// Where a threshold was declared.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ThresholdOrigin {
    /// Under `thresholds:`.
    Thresholds,
    /// From the SLA with this index in [`Plan::slas`].
    Sla(usize),
}

/// A data file read once and shared by all VUs.
#[derive(Debug, Clone, PartialEq)]
pub struct Feeder {
    /// Name used in templates: `{{ users.email }}`.
    pub name: String,
    /// Path of the CSV or JSON file, relative to the plan file.
    pub file: String,
    /// File format.
    pub format: DataFormat,
    /// How rows are handed out.
    pub mode: FeedMode,
    /// What happens when a `unique` or `sequential` feeder runs out.
    pub on_exhausted: OnExhausted,
}

/// Data file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DataFormat {
    /// Comma-separated with a header row.
    Csv,
    /// A JSON array of objects.
    Json,
}

/// How a feeder hands out rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum FeedMode {
    /// One shared cursor in file order across all VUs; `onExhausted` at the end.
    Sequential,
    /// Each VU walks the rows in order from its own cursor.
    PerVu,
    /// A random row each time.
    Random,
    /// Each row used at most once in the whole run; `onExhausted` at the end.
    Unique,
    /// One shared cursor that wraps around forever.
    Circular,
}

/// What a VU does when its feeder has no rows left.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum OnExhausted {
    /// Start again from the first row.
    Recycle,
    /// That VU stops; others go on.
    StopVu,
    /// The whole test stops (results are kept).
    StopTest,
}

/// What users do: a weighted mix of operations.
#[derive(Debug, Clone, PartialEq)]
pub struct Workload {
    /// Operations in file order.
    pub operations: Vec<Operation>,
    /// Pause after each iteration unless an operation overrides it.
    pub think_time: Option<ThinkTime>,
}

/// One thing a user does: a request or a sequence of steps. One iteration of
/// a VU runs one operation picked by weight.
#[derive(Debug, Clone, PartialEq)]
pub struct Operation {
    /// Name; the `group` tag of its metrics and the key of per-operation tables.
    pub name: String,
    /// Relative weight in the mix (002's "operations mix" percentages).
    pub weight: u32,
    /// Steps in order.
    pub steps: Vec<Step>,
    /// Pause after the operation (overrides the workload's).
    pub think_time: Option<ThinkTime>,
    /// Start iterations of this operation every `pacing` regardless of their duration.
    pub pacing: Option<Duration>,
    /// Extra tags on every metric of this operation.
    pub tags: Vec<(String, String)>,
}

/// A pause between actions.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum ThinkTime {
    /// Always the same.
    Constant(Duration),
    /// Uniformly random between the two.
    Uniform(Duration, Duration),
    /// Exponentially distributed with this mean (Poisson arrivals within a VU).
    Exponential(Duration),
}

/// One step of an operation.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    /// Name; the `name` tag of its metrics.
    pub name: String,
    /// What it does.
    pub action: Action,
    /// Checks on the response.
    pub checks: Vec<Check>,
    /// Values extracted from the response for later steps.
    pub captures: Vec<Capture>,
    /// Values added to the plan's own metrics after each response.
    pub metrics: Vec<MetricAdd>,
    /// Pause after this step.
    pub think_time: Option<ThinkTime>,
    /// What a failed check does.
    pub on_check_failure: OnCheckFailure,
}

/// What a step does.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Action {
    /// Send one request.
    Request(Request),
    /// Repeat a request until its checks pass or time runs out.
    Poll(Poll),
}

/// What a failed check does to the VU.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum OnCheckFailure {
    /// Record it and go on (k6 behaviour).
    Continue,
    /// Skip the rest of this iteration.
    EndIteration,
}

/// A request template.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    /// Method, upper case.
    pub method: String,
    /// URL, absolute or relative to the target.
    pub url: Template,
    /// Headers.
    pub headers: Vec<(String, Template)>,
    /// Query parameters appended to the URL.
    pub query: Vec<(String, Template)>,
    /// Body.
    pub body: Body,
    /// Per-request timeout (overrides the target's).
    pub timeout: Option<Duration>,
    /// Extra tags.
    pub tags: Vec<(String, String)>,
    /// Statuses that count as expected for `http_req_failed` (default 200-399).
    pub expected_statuses: Option<Vec<(u16, u16)>>,
}

/// A request body.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Body {
    /// None.
    Empty,
    /// JSON; every string inside may be a template.
    Json(serde_json::Value),
    /// Raw text.
    Raw(Template),
    /// URL-encoded form.
    Form(Vec<(String, Template)>),
    /// Multipart form with files.
    Multipart(Vec<Part>),
}

/// One part of a multipart body.
#[derive(Debug, Clone, PartialEq)]
pub struct Part {
    /// Field name.
    pub name: String,
    /// Text value, or `None` for a file part.
    pub value: Option<Template>,
    /// File to upload, relative to the plan.
    pub file: Option<String>,
    /// Content type of the part.
    pub content_type: Option<String>,
}

/// Repeat a request until it says the work is done.
#[derive(Debug, Clone, PartialEq)]
pub struct Poll {
    /// The request.
    pub request: Request,
    /// All must pass for the wait to end.
    pub until: Vec<Check>,
    /// Pause between attempts.
    pub interval: Duration,
    /// Give up after this long (the wait is then recorded as failed).
    pub timeout: Duration,
    /// Trend metric recording the whole wait (e.g. `job_duration`).
    pub metric: String,
}

/// A text that may contain `{{ ... }}` expressions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    /// The text as written.
    pub source: String,
    /// No expressions: sent as is, serialized once.
    pub is_static: bool,
}

impl Template {
    /// Wrap a text, noting whether it has expressions.
    pub fn new(source: impl Into<String>) -> Template {
        let source = source.into();
        let is_static = !(source.contains("{{") || source.contains("{%"));
        Template { source, is_static }
    }
}

/// A check on a response; its pass rate is the `checks` metric.
#[derive(Debug, Clone, PartialEq)]
pub struct Check {
    /// Name shown in the summary (generated when not given: `status is 201`).
    pub name: String,
    /// What is checked.
    pub kind: CheckKind,
}

/// What a check looks at.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum CheckKind {
    /// Status is one of these.
    Status(Vec<u16>),
    /// Body contains this text.
    BodyContains(Template),
    /// Body matches this regular expression.
    BodyMatches(String),
    /// A JSON path exists (or not).
    JsonPathExists(String, bool),
    /// A JSON path equals a value (strings may be templates).
    JsonPathEquals(String, serde_json::Value),
    /// A header exists (or not).
    HeaderExists(String, bool),
    /// A header equals a value.
    HeaderEquals(String, Template),
    /// A header matches a regular expression.
    HeaderMatches(String, String),
    /// The request's duration (`http_req_duration`) is below this bound.
    DurationBelow(Duration),
}

/// A value taken from a response.
#[derive(Debug, Clone, PartialEq)]
pub struct Capture {
    /// Variable name in later templates.
    pub name: String,
    /// Where it comes from.
    pub source: CaptureSource,
}

/// Where a capture looks.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum CaptureSource {
    /// A JSON path in the body (`$.id`, `$.items[0].id`).
    JsonPath(String),
    /// A response header.
    Header(String),
    /// First capture group (or whole match) of a regex over the body.
    Regex(String),
    /// The status code.
    Status,
}

/// A k6 scenario: an executor plus what it runs.
#[derive(Debug, Clone, PartialEq)]
pub struct Scenario {
    /// Name (the `scenario` tag).
    pub name: String,
    /// How load is applied.
    pub executor: Executor,
    /// Offset from the test start.
    pub start_time: Duration,
    /// Time iterations get to finish after the scenario ends (k6 `gracefulStop`).
    pub graceful_stop: Duration,
    /// Operations and weights this scenario runs (default: the whole workload).
    pub mix: Vec<(usize, u32)>,
    /// Extra tags on every metric of this scenario.
    pub tags: Vec<(String, String)>,
    /// Extra environment variables for templates.
    pub env: Vec<(String, String)>,
    /// Which test type this scenario plays (labels the report).
    pub test_type: Option<TestType>,
}

/// The test types of seeds 001/002 and k6's guides; they label scenarios in
/// reports and decide which analyses are emphasised.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TestType {
    /// Minimal load, to check the script works (k6).
    Smoke,
    /// Normal conditions, the reference for comparisons (002).
    Baseline,
    /// Expected production load (k6 "average-load").
    Load,
    /// Above normal, until degradation (002, k6).
    Stress,
    /// Sudden bursts (002, k6).
    Spike,
    /// Long duration, for leaks and drift (k6 soak, 002 endurance).
    Soak,
    /// Large data volumes (002).
    Volume,
    /// Ramp until something breaks (k6).
    Breakpoint,
}

impl TestType {
    /// Every test type with its plan spelling.
    pub const ALL: &'static [(TestType, &'static str)] = &[
        (TestType::Smoke, "smoke"),
        (TestType::Baseline, "baseline"),
        (TestType::Load, "load"),
        (TestType::Stress, "stress"),
        (TestType::Spike, "spike"),
        (TestType::Soak, "soak"),
        (TestType::Volume, "volume"),
        (TestType::Breakpoint, "breakpoint"),
    ];

    /// Plan spelling.
    pub fn as_str(self) -> &'static str {
        TestType::ALL
            .iter()
            .find(|(t, _)| *t == self)
            .map(|(_, s)| *s)
            .unwrap_or("load")
    }
}

impl Plan {
    /// End of the last scenario including its graceful stop: the longest the
    /// run can take (setup and teardown excluded).
    pub fn max_duration(&self) -> Duration {
        self.scenarios
            .iter()
            .map(|s| s.start_time + s.executor.max_duration() + s.graceful_stop)
            .max()
            .unwrap_or_default()
    }

    /// Planned end of the last scenario, without graceful stops.
    pub fn planned_duration(&self) -> Duration {
        self.scenarios
            .iter()
            .map(|s| s.start_time + s.executor.planned_duration())
            .max()
            .unwrap_or_default()
    }

    /// VUs the whole run needs at most: the peak of concurrently running
    /// scenarios' VU needs (sampled at every scenario boundary).
    pub fn peak_vus(&self) -> u64 {
        let mut points: Vec<Duration> = Vec::new();
        for s in &self.scenarios {
            points.push(s.start_time);
            let mut t = s.start_time;
            for st in s.executor.stages_for_timeline() {
                t += st;
                points.push(t);
            }
        }
        points
            .into_iter()
            .map(|t| {
                self.scenarios
                    .iter()
                    .filter(|s| {
                        t >= s.start_time
                            && t < s.start_time
                                + s.executor.max_duration().max(Duration::from_millis(1))
                    })
                    .map(|s| s.executor.max_vus())
                    .sum::<u64>()
            })
            .max()
            .unwrap_or(0)
    }

    /// Find an operation by name.
    pub fn operation(&self, name: &str) -> Option<(usize, &Operation)> {
        self.workload
            .operations
            .iter()
            .enumerate()
            .find(|(_, o)| o.name == name)
    }
}
