//! From the spanned YAML tree to a validated [`Plan`], collecting every error.
//!
//! The spanned [`Node`] tree is the raw, parse-level representation (every
//! value keeps its line and column); this module is the only place that turns
//! it into the typed [`Plan`]. It reads each mapping through [`Fields`], so
//! unknown keys are reported with a did-you-mean, and it never stops at the
//! first problem. Checks that need the whole plan (a threshold naming a
//! metric, `exec` naming an operation, a template naming a capture) run after
//! the parts they refer to have been read.

use crate::catalog::{self, MetricType, ValueUnit};
use crate::decode::{
    Cx, Fields, Sp, boolean, int, named_entries, number, seq, string, string_map, text,
};
use crate::diagnostic::{Diagnostic, Span, did_you_mean};
use crate::duration::parse_duration;
use crate::files::{self, FileProblem};
use crate::node::{Key, Node, NodeKind};
use crate::plan::*;
use crate::schedule::{EXECUTOR_NAMES, Executor, Stage};
use crate::threshold::{
    Aggregation, MetricSelector, TagAt, WrittenUnit, parse_expr, parse_selector_at,
};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

// ---- accepted keys of every object (also checked against schema/plan.v1.json) ----
pub(crate) const PLAN_KEYS: &[&str] = &[
    "version",
    "name",
    "description",
    "target",
    "sla",
    "thresholds",
    "data",
    "workload",
    "setup",
    "teardown",
    "scenarios",
    "options",
    "metrics",
];
pub(crate) const TARGET_KEYS: &[&str] = &[
    "url",
    "headers",
    "auth",
    "timeout",
    "connectTimeout",
    "tls",
    "http",
    "demo",
];
pub(crate) const TLS_KEYS: &[&str] = &["insecureSkipTLSVerify", "caCerts", "clientCert"];
pub(crate) const CLIENT_CERT_KEYS: &[&str] = &["cert", "key"];
pub(crate) const HTTP_KEYS: &[&str] = &["version", "maxRedirects", "cookies", "compression"];
pub(crate) const DEMO_KEYS: &[&str] = &[
    "latency",
    "errorRate",
    "poolSize",
    "cacheTtl",
    "jobDuration",
    "seedItems",
    "stall",
];
pub(crate) const STALL_KEYS: &[&str] = &["every", "duration"];
pub(crate) const SLA_KEYS: &[&str] = &[
    "name",
    "metric",
    "objective",
    "limit",
    "priority",
    "abortOnFail",
];
pub(crate) const THRESHOLD_KEYS: &[&str] = &["threshold", "abortOnFail", "delayAbortEval"];
pub(crate) const FEEDER_KEYS: &[&str] = &["file", "format", "mode", "onExhausted"];
pub(crate) const WORKLOAD_KEYS: &[&str] = &["thinkTime", "operations"];
pub(crate) const OPERATION_KEYS: &[&str] = &[
    "weight",
    "steps",
    "thinkTime",
    "pacing",
    "tags",
    "request",
    "poll",
    "checks",
    "capture",
    "metrics",
    "onCheckFailure",
];
pub(crate) const STEP_KEYS: &[&str] = &[
    "name",
    "request",
    "poll",
    "checks",
    "capture",
    "metrics",
    "thinkTime",
    "onCheckFailure",
];
pub(crate) const REQUEST_KEYS: &[&str] = &[
    "method",
    "url",
    "headers",
    "query",
    "json",
    "body",
    "form",
    "multipart",
    "timeout",
    "tags",
    "expectedStatuses",
    "auth",
];
pub(crate) const AUTH_KEYS: &[&str] = &["basic", "bearer"];
pub(crate) const BASIC_KEYS: &[&str] = &["username", "password"];
pub(crate) const METRIC_KEYS: &[&str] = &["type", "time"];
pub(crate) const METRIC_ADD_KEYS: &[&str] =
    &["metric", "jsonPath", "header", "timing", "value", "tags"];
pub(crate) const PART_KEYS: &[&str] = &["name", "value", "file", "contentType"];
pub(crate) const POLL_KEYS: &[&str] = &["request", "until", "interval", "timeout", "metric"];
pub(crate) const CHECK_KEYS: &[&str] = &[
    "name",
    "status",
    "bodyContains",
    "bodyMatches",
    "jsonPath",
    "header",
    "exists",
    "equals",
    "matches",
    "duration",
];
pub(crate) const CAPTURE_KEYS: &[&str] = &["jsonPath", "header", "regex", "status"];
/// Options that only some executors take (k6's names).
const EXECUTOR_OPTIONS: [&str; 12] = [
    "vus",
    "iterations",
    "maxDuration",
    "duration",
    "stages",
    "startVUs",
    "gracefulRampDown",
    "rate",
    "timeUnit",
    "preAllocatedVUs",
    "maxVUs",
    "startRate",
];
const COMMON_SCENARIO_KEYS: [&str; 9] = [
    "executor",
    "startTime",
    "gracefulStop",
    "exec",
    "operations",
    "tags",
    "env",
    "testType",
    "description",
];
pub(crate) const SCENARIO_KEYS: &[&str] =
    &concat_keys::<9, 12, 21>(COMMON_SCENARIO_KEYS, EXECUTOR_OPTIONS);

/// Two key lists as one (for `Fields`, which takes a single static list).
const fn concat_keys<const A: usize, const B: usize, const C: usize>(
    a: [&'static str; A],
    b: [&'static str; B],
) -> [&'static str; C] {
    let mut out = [""; C];
    let mut i = 0;
    while i < A {
        out[i] = a[i];
        i += 1;
    }
    while i < C {
        out[i] = b[i - A];
        i += 1;
    }
    out
}
pub(crate) const STAGE_KEYS: &[&str] = &["duration", "target"];
pub(crate) const OPTIONS_KEYS: &[&str] = &["summaryTrendStats", "seed"];

/// Every object type of the plan and its keys, by JSON Schema definition name.
pub(crate) const OBJECT_KEYS: &[(&str, &[&str])] = &[
    ("plan", PLAN_KEYS),
    ("target", TARGET_KEYS),
    ("tls", TLS_KEYS),
    ("clientCert", CLIENT_CERT_KEYS),
    ("http", HTTP_KEYS),
    ("demo", DEMO_KEYS),
    ("stall", STALL_KEYS),
    ("sla", SLA_KEYS),
    ("thresholdObject", THRESHOLD_KEYS),
    ("feeder", FEEDER_KEYS),
    ("workload", WORKLOAD_KEYS),
    ("operation", OPERATION_KEYS),
    ("step", STEP_KEYS),
    ("request", REQUEST_KEYS),
    ("auth", AUTH_KEYS),
    ("basicAuth", BASIC_KEYS),
    ("metric", METRIC_KEYS),
    ("metricAdd", METRIC_ADD_KEYS),
    ("part", PART_KEYS),
    ("poll", POLL_KEYS),
    ("check", CHECK_KEYS),
    ("capture", CAPTURE_KEYS),
    ("scenario", SCENARIO_KEYS),
    ("stage", STAGE_KEYS),
    ("options", OPTIONS_KEYS),
];

/// Names usable in every template besides captures and feeders.
pub(crate) const TEMPLATE_GLOBALS: &[&str] = &[
    // variables
    "vu",
    "iter",
    "scenario",
    "env",
    // functions (implemented by the engine's template environment)
    "uuid",
    "random_int",
    "random_string",
    "random_float",
    "choice",
    "now",
    "timestamp",
    "payload",
    "fake",
    // minijinja's built-in globals
    "range",
    "dict",
    "namespace",
    "debug",
];

const HTTP_METHODS: &[&str] = &["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"];

pub(crate) struct Validator<'s> {
    pub(crate) cx: Cx,
    source: &'s str,
    /// Directory the plan's relative file paths resolve against; `None`: the
    /// files are not opened.
    base: Option<PathBuf>,
    /// Metrics defined by the plan (`metrics:`, then polling steps).
    custom_metrics: Vec<CustomMetric>,
    feeder_names: Vec<String>,
    /// The columns of every feeder whose file could be read.
    feeder_columns: Vec<FeederColumns>,
    has_setup: bool,
    /// Templated target headers, checked once feeders and setup are known.
    header_templates: Vec<(String, Span)>,
    /// What threshold and SLA selectors may name, gathered while reading.
    tags: KnownTags,
}

/// A feeder's columns, read from its file at validation.
struct FeederColumns {
    name: String,
    file: String,
    columns: Vec<String>,
}

/// The scenarios that command-line flags replace (`--vus`, `--duration`, …):
/// a threshold written for one of them measures nothing in that run, which
/// is worth a warning but is no misspelling.
#[derive(Debug, Default)]
pub(crate) struct Replaced {
    names: Vec<String>,
    tag_keys: Vec<String>,
}

impl Replaced {
    /// The scenario names and scenario tag keys of the plan as written.
    pub(crate) fn from_plan(root: &Node) -> Replaced {
        fn entry<'n>(n: &'n Node, key: &str) -> Option<&'n [(Key, Node)]> {
            match &n.kind {
                NodeKind::Map(m) => {
                    m.iter()
                        .find(|(k, _)| k.name == key)
                        .and_then(|(_, v)| match &v.kind {
                            NodeKind::Map(inner) => Some(inner.as_slice()),
                            _ => None,
                        })
                }
                _ => None,
            }
        }
        let mut r = Replaced::default();
        for (name, scenario) in entry(root, "scenarios").unwrap_or_default() {
            r.names.push(name.name.clone());
            let tags = entry(scenario, "tags").unwrap_or_default();
            r.tag_keys.extend(tags.iter().map(|(k, _)| k.name.clone()));
        }
        r
    }
}

/// The tag keys and the closed sets of tag values a selector may name.
#[derive(Debug, Default)]
struct KnownTags {
    /// Pairs of the plan's own `tags:` maps (scenarios, operations, requests).
    user: Vec<(String, String)>,
    /// Step names: the `name` tag (setup, teardown and polling steps included).
    steps: Vec<String>,
    /// Operation names, `setup` and `teardown`: the `group` tag.
    groups: Vec<String>,
    /// Scenario names (and `setup` / `teardown`, the scenario of their steps).
    scenarios: Vec<String>,
    /// Whether the workload was read; without it, names are not checked.
    workload_read: bool,
    replaced: Replaced,
}

/// The system tags whose values the plan fixes, so a selector's value can be
/// checked for spelling. Other tags (`status`, `method`, `url`, user tags)
/// take values known only at run time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ClosedTag {
    Name,
    Group,
    Scenario,
    ErrorCode,
}

impl ClosedTag {
    fn of(key: &str) -> Option<ClosedTag> {
        match key {
            "name" => Some(ClosedTag::Name),
            "group" => Some(ClosedTag::Group),
            "scenario" => Some(ClosedTag::Scenario),
            "error_code" => Some(ClosedTag::ErrorCode),
            _ => None,
        }
    }

    fn key(self) -> &'static str {
        match self {
            ClosedTag::Name => "name",
            ClosedTag::Group => "group",
            ClosedTag::Scenario => "scenario",
            ClosedTag::ErrorCode => "error_code",
        }
    }
}

fn dur(node: &Node, cx: &mut Cx, what: &str) -> Option<Duration> {
    let t = match node.scalar_text() {
        Some(t) => t,
        None => {
            cx.type_error(node, what, "a duration such as `30s`");
            return None;
        }
    };
    match parse_duration(&t) {
        Ok(d) => Some(d),
        Err(e) => {
            let help = if t.trim().parse::<f64>().is_ok() {
                format!("add a unit: `{}s` or `{}ms`", t.trim(), t.trim())
            } else {
                "write durations like `30s`, `2m`, `1h30m`, `500ms`".to_owned()
            };
            cx.error_help(node.span, format!("`{what}`: {e}"), help);
            None
        }
    }
}

fn non_negative(v: Sp<i64>, cx: &mut Cx, what: &str) -> Option<u64> {
    if v.value < 0 {
        cx.error_help(
            v.span,
            format!("`{what}` is {}; it cannot be negative", v.value),
            "use 0 or more",
        );
        None
    } else {
        Some(v.value as u64)
    }
}

fn positive(v: Sp<i64>, cx: &mut Cx, what: &str) -> Option<u64> {
    if v.value <= 0 {
        cx.error_help(
            v.span,
            format!("`{what}` is {}; it must be at least 1", v.value),
            "use 1 or more",
        );
        None
    } else {
        Some(v.value as u64)
    }
}

/// Parse `1s`, `1s..3s`, `exp(2s)` into a think time.
fn think_time(node: &Node, cx: &mut Cx, what: &str) -> Option<ThinkTime> {
    let t = text(node, cx, what)?.value;
    let t = t.trim();
    let help =
        "write `1s` (constant), `1s..3s` (uniform range) or `exp(2s)` (exponential with that mean)";
    let parse = |s: &str| parse_duration(s);
    let result = if let Some((a, b)) = t.split_once("..") {
        match (parse(a), parse(b)) {
            (Ok(a), Ok(b)) if a <= b => Ok(ThinkTime::Uniform(a, b)),
            (Ok(_), Ok(_)) => Err("the range's lower bound is above its upper bound".to_owned()),
            (Err(e), _) | (_, Err(e)) => Err(e),
        }
    } else if let Some(inner) = t.strip_prefix("exp(").and_then(|r| r.strip_suffix(')')) {
        parse(inner).map(ThinkTime::Exponential)
    } else {
        parse(t).map(ThinkTime::Constant)
    };
    match result {
        Ok(v) => Some(v),
        Err(e) => {
            cx.error_help(node.span, format!("`{what}`: {e}"), help);
            None
        }
    }
}

/// A span inside a scalar: `offset`..`offset+len` of its text (skips an opening quote).
fn span_in(source: &str, outer: Span, offset: usize, len: usize) -> Span {
    let quote = matches!(
        source.as_bytes().get(outer.offset),
        Some(b'"') | Some(b'\'')
    );
    let start = outer.offset + usize::from(quote) + offset;
    // A value from a flag has no text in the file to point into.
    if outer.flag.is_some() || start > source.len() || outer.offset == 0 && outer.line > 1 {
        return outer;
    }
    Span::from_offset(source, start, len.max(1))
}

impl Validator<'_> {
    /// Tags `--tag` puts on every scenario: selectors may name them.
    pub(crate) fn add_command_line_tags(&mut self, tags: &[(String, String)]) {
        self.tags.user.extend(tags.iter().cloned());
    }
}

impl<'s> Validator<'s> {
    pub(crate) fn new(source: &'s str, base: Option<&Path>, replaced: Replaced) -> Validator<'s> {
        Validator {
            cx: Cx::default(),
            source,
            base: base.map(Path::to_path_buf),
            custom_metrics: Vec::new(),
            feeder_names: Vec::new(),
            feeder_columns: Vec::new(),
            has_setup: false,
            header_templates: Vec::new(),
            tags: KnownTags {
                replaced,
                ..KnownTags::default()
            },
        }
    }

    /// A span inside a scalar: `offset`..`offset+len` of its text (skips an opening quote).
    fn inner_span(&self, outer: Span, offset: usize, len: usize) -> Span {
        span_in(self.source, outer, offset, len)
    }

    pub(crate) fn plan(&mut self, root: &Node, default_name: &str) -> Option<Plan> {
        let mut f = Fields::new(root, &mut self.cx, "plan", PLAN_KEYS)?;
        if let Some(v) = f.get("version")
            && let Some(v) = int(v, &mut self.cx, "version")
            && v.value != 1
        {
            self.cx.error_help(
                v.span,
                format!("plan format version {} is not supported", v.value),
                "this gauntlet reads `version: 1`",
            );
        }
        let name = f
            .get("name")
            .and_then(|n| string(n, &mut self.cx, "name"))
            .map(|s| s.value)
            .unwrap_or_else(|| default_name.to_owned());
        let description = f
            .get("description")
            .and_then(|n| string(n, &mut self.cx, "description"))
            .map(|s| s.value);
        let target = match f.get("target") {
            Some(n) => self.target(n),
            None => Some(Target {
                base: TargetBase::Demo(DemoOptions::default()),
                headers: Vec::new(),
                timeout: Duration::from_secs(60),
                connect_timeout: Duration::from_secs(10),
                tls: TlsOptions::default(),
                http: HttpOptions::default(),
            }),
        };
        let data = f.get("data").map(|n| self.feeders(n)).unwrap_or_default();
        self.feeder_names = data.iter().map(|d| d.name.clone()).collect();
        let options = f
            .get("options")
            .map(|n| self.options(n))
            .unwrap_or_default();
        // Read before any step: steps add to these metrics.
        if let Some(n) = f.get("metrics") {
            self.metrics_section(n);
        }
        let setup = f.get("setup").map(|n| {
            let steps = self.steps_field(n, "setup");
            self.check_step_templates(&steps, "setup", false);
            steps
        });
        self.has_setup = setup.is_some();
        let teardown = f.get("teardown").map(|n| {
            let steps = self.steps_field(n, "teardown");
            self.check_step_templates(&steps, "teardown", true);
            steps
        });
        // Setup and teardown steps are tagged with these as group and scenario.
        for (place, present) in [("setup", setup.is_some()), ("teardown", teardown.is_some())] {
            if present {
                self.tags.groups.push(place.to_owned());
                self.tags.scenarios.push(place.to_owned());
            }
        }
        for (text, span) in std::mem::take(&mut self.header_templates) {
            self.check_template(&text, span, &[], &[], "target headers", true);
        }
        let workload = match f.get("workload") {
            Some(n) => self.workload(n),
            None => {
                self.cx.error_help(
                    f.span,
                    "plan has no `workload`: nothing for virtual users to do",
                    "add `workload:` with at least one operation, e.g.\nworkload:\n  operations:\n    home:\n      request: GET /",
                );
                None
            }
        };
        self.tags.workload_read = workload.is_some();
        if workload.is_some() && !f.has("scenarios") {
            self.tags.scenarios.push("default".to_owned());
        }
        let scenarios = match (f.get("scenarios"), &workload) {
            (Some(n), Some(w)) => self.scenarios(n, w),
            (Some(_), None) => Vec::new(),
            (None, Some(w)) => vec![Scenario {
                name: "default".into(),
                executor: Executor::PerVuIterations {
                    vus: 1,
                    iterations: 1,
                    max_duration: Duration::from_secs(600),
                },
                start_time: Duration::ZERO,
                graceful_stop: Duration::from_secs(30),
                mix: w
                    .operations
                    .iter()
                    .enumerate()
                    .map(|(i, o)| (i, o.weight))
                    .collect(),
                tags: Vec::new(),
                env: Vec::new(),
                test_type: Some(TestType::Smoke),
            }],
            (None, None) => Vec::new(),
        };
        let slas = f.get("sla").map(|n| self.slas(n)).unwrap_or_default();
        let mut thresholds = f
            .get("thresholds")
            .map(|n| self.thresholds(n))
            .unwrap_or_default();
        for (i, sla) in slas.iter().enumerate() {
            let (condition, abort) = match &sla.0.limit {
                Some(limit) => (limit.clone(), sla.1),
                None => (sla.0.objective.clone(), sla.1),
            };
            thresholds.push(Threshold {
                metric: sla.0.metric.clone(),
                condition,
                abort_on_fail: abort,
                delay_abort_eval: Duration::ZERO,
                origin: ThresholdOrigin::Sla(i),
            });
        }
        f.finish(&mut self.cx);
        let (target, workload) = (target?, workload?);
        Some(Plan {
            name,
            description,
            target,
            slas: slas.into_iter().map(|s| s.0).collect(),
            thresholds,
            data,
            workload,
            setup: setup.map(|s| s.into_iter().map(|x| x.1).collect()),
            teardown: teardown.map(|s| s.into_iter().map(|x| x.1).collect()),
            scenarios,
            custom_metrics: std::mem::take(&mut self.custom_metrics),
            options,
        })
    }

    // ---------------------------------------------------------------- target
    fn target(&mut self, node: &Node) -> Option<Target> {
        let mut t = Target {
            base: TargetBase::Demo(DemoOptions::default()),
            headers: Vec::new(),
            timeout: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(10),
            tls: TlsOptions::default(),
            http: HttpOptions::default(),
        };
        if let NodeKind::Str(s) = &node.kind {
            t.base = self.target_base(Sp::new(s.clone(), node.span), None)?;
            return Some(t);
        }
        let (source, base) = (self.source, self.base.as_deref());
        let cx = &mut self.cx;
        let mut f = Fields::new(node, cx, "target", TARGET_KEYS)?;
        let url = f.require("url", cx, "set `url: demo` for the embedded demo service, or a base URL such as `http://127.0.0.1:8080`");
        let url = url.and_then(|n| string(n, cx, "target.url"));
        if let Some(h) = f.get("headers") {
            let pairs = string_map(h, cx, "headers");
            check_headers(cx, source, &pairs);
            self.header_templates.extend(
                pairs
                    .iter()
                    .filter(|(_, v)| v.value.contains("{{") || v.value.contains("{%"))
                    .map(|(_, v)| (v.value.clone(), v.span)),
            );
            t.headers = pairs
                .into_iter()
                .map(|(k, v)| (k.value, Template::new(v.value)))
                .collect();
        }
        if let Some(n) = f.get("auth") {
            let mut pairs = Vec::new();
            add_auth(cx, n, &mut pairs);
            if let Some((k, v)) = pairs.pop() {
                if t.headers
                    .iter()
                    .any(|(h, _)| h.eq_ignore_ascii_case("authorization"))
                {
                    cx.error_help(
                        k.span,
                        "`target.auth` and an `Authorization` header in `target.headers` both set the same header",
                        "keep one of them",
                    );
                }
                if v.value.contains("{{") || v.value.contains("{%") {
                    self.header_templates.push((v.value.clone(), v.span));
                }
                t.headers.push((k.value, Template::new(v.value)));
            }
        }
        if let Some(n) = f.get("timeout") {
            t.timeout = dur(n, cx, "timeout").unwrap_or(t.timeout);
        }
        if let Some(n) = f.get("connectTimeout") {
            t.connect_timeout = dur(n, cx, "connectTimeout").unwrap_or(t.connect_timeout);
        }
        if let Some(n) = f.get("tls")
            && let Some(mut tf) = Fields::new(n, cx, "tls section", TLS_KEYS)
        {
            if let Some(b) = tf
                .get("insecureSkipTLSVerify")
                .and_then(|n| boolean(n, cx, "insecureSkipTLSVerify"))
            {
                t.tls.insecure_skip_verify = b.value;
            }
            if let Some(l) = tf.get("caCerts") {
                let paths: Vec<Sp<String>> = seq(l, cx, "caCerts")
                    .iter()
                    .filter_map(|n| string(n, cx, "caCerts[]"))
                    .collect();
                for p in &paths {
                    check_file(cx, base, p, |path| {
                        files::check_certificates(path, "CA certificate file")
                    });
                }
                t.tls.ca_certs = paths.into_iter().map(|s| s.value).collect();
            }
            if let Some(c) = tf.get("clientCert")
                && let Some(mut cf) = Fields::new(c, cx, "clientCert", CLIENT_CERT_KEYS)
            {
                let cert = cf
                    .require("cert", cx, "path of the PEM certificate")
                    .and_then(|n| string(n, cx, "cert"));
                let key = cf
                    .require("key", cx, "path of the PEM private key")
                    .and_then(|n| string(n, cx, "key"));
                if let Some(c) = &cert {
                    check_file(cx, base, c, |path| {
                        files::check_certificates(path, "client certificate file")
                    });
                }
                if let Some(k) = &key {
                    check_file(cx, base, k, files::check_private_key);
                }
                if let (Some(c), Some(k)) = (cert, key) {
                    t.tls.client_cert = Some((c.value, k.value));
                }
                cf.finish(cx);
            }
            tf.finish(cx);
        }
        if let Some(n) = f.get("http")
            && let Some(mut hf) = Fields::new(n, cx, "http section", HTTP_KEYS)
        {
            if let Some(v) = hf.get("version").and_then(|n| text(n, cx, "version")) {
                t.http.version = match v.value.as_str() {
                    "auto" => HttpVersion::Auto,
                    "http1" | "1.1" | "http/1.1" => HttpVersion::Http1,
                    "http2" | "2" | "h2" => HttpVersion::Http2,
                    "h2c" => HttpVersion::H2c,
                    other => {
                        cx.error_help(
                            v.span,
                            format!("unknown HTTP version `{other}`"),
                            "use auto, http1, http2 or h2c",
                        );
                        HttpVersion::Auto
                    }
                };
            }
            if let Some(v) = hf
                .get("maxRedirects")
                .and_then(|n| int(n, cx, "maxRedirects"))
            {
                t.http.max_redirects = non_negative(v, cx, "maxRedirects").unwrap_or(10) as u32;
            }
            if let Some(v) = hf.get("cookies").and_then(|n| boolean(n, cx, "cookies")) {
                t.http.cookies = v.value;
            }
            if let Some(v) = hf
                .get("compression")
                .and_then(|n| boolean(n, cx, "compression"))
            {
                t.http.compression = v.value;
            }
            hf.finish(cx);
        }
        let demo = f.get("demo");
        let demo_span = f.key_span("demo");
        f.finish(cx);
        let url = url?;
        let is_demo = url.value == "demo";
        if let (Some(span), false) = (demo_span, is_demo) {
            self.cx.error_help(
                span,
                "`demo` options only apply when `url: demo`",
                "remove `demo:` or set `url: demo`",
            );
        }
        t.base = self.target_base(url, demo)?;
        Some(t)
    }

    fn target_base(&mut self, url: Sp<String>, demo: Option<&Node>) -> Option<TargetBase> {
        if url.value == "demo" {
            let opts = match demo {
                Some(n) => self.demo(n),
                None => DemoOptions::default(),
            };
            return Some(TargetBase::Demo(opts));
        }
        let u = url.value.trim();
        if !(u.starts_with("http://") || u.starts_with("https://")) || u.len() <= "https://".len() {
            self.cx.error_help(
                url.span,
                format!("target `{u}` is not an http(s) URL"),
                "write `http://host:port` or `https://host`, or `demo` for the embedded demo service",
            );
            return None;
        }
        Some(TargetBase::Url(u.trim_end_matches('/').to_owned()))
    }

    fn demo(&mut self, node: &Node) -> DemoOptions {
        let cx = &mut self.cx;
        let mut d = DemoOptions::default();
        let Some(mut f) = Fields::new(node, cx, "demo section", DEMO_KEYS) else {
            return d;
        };
        d.latency = f
            .get("latency")
            .and_then(|n| text(n, cx, "latency"))
            .and_then(|s| match check_latency(&s.value) {
                Ok(()) => Some(s.value),
                Err(e) => {
                    cx.error_help(
                        s.span,
                        format!("`latency`: {e}"),
                        "write `5ms`, `2ms..8ms` (uniform) or `lognormal:20ms:200ms` (median:p99)",
                    );
                    None
                }
            });
        if let Some(v) = f.get("errorRate").and_then(|n| number(n, cx, "errorRate")) {
            if !(0.0..=1.0).contains(&v.value) {
                cx.error_help(
                    v.span,
                    "`errorRate` must be between 0 and 1",
                    "0.01 means 1% of requests fail",
                );
            } else {
                d.error_rate = Some(v.value);
            }
        }
        d.pool_size = f
            .get("poolSize")
            .and_then(|n| int(n, cx, "poolSize"))
            .and_then(|v| positive(v, cx, "poolSize"))
            .map(|v| v as u32);
        d.cache_ttl = f.get("cacheTtl").and_then(|n| dur(n, cx, "cacheTtl"));
        d.job_duration = f.get("jobDuration").and_then(|n| dur(n, cx, "jobDuration"));
        d.seed_items = f
            .get("seedItems")
            .and_then(|n| int(n, cx, "seedItems"))
            .and_then(|v| non_negative(v, cx, "seedItems"))
            .map(|v| v as u32);
        if let Some(n) = f.get("stall")
            && let Some(mut sf) = Fields::new(n, cx, "stall", STALL_KEYS)
        {
            let every = sf
                .require("every", cx, "e.g. `every: 5s`")
                .and_then(|n| dur(n, cx, "every"));
            let duration = sf
                .require("duration", cx, "e.g. `duration: 1s`")
                .and_then(|n| dur(n, cx, "duration"));
            if let (Some(e), Some(d2)) = (every, duration) {
                if d2 >= e {
                    cx.error(sf.span, "stall `duration` must be shorter than `every`");
                } else {
                    d.stall = Some((e, d2));
                }
            }
            sf.finish(cx);
        }
        f.finish(cx);
        d
    }

    // ---------------------------------------------------------------- options
    fn options(&mut self, node: &Node) -> RunOptions {
        let cx = &mut self.cx;
        let mut o = RunOptions::default();
        let Some(mut f) = Fields::new(node, cx, "options", OPTIONS_KEYS) else {
            return o;
        };
        if let Some(l) = f.get("summaryTrendStats") {
            let mut stats = Vec::new();
            for n in seq(l, cx, "summaryTrendStats") {
                let Some(s) = text(n, cx, "summaryTrendStats[]") else {
                    continue;
                };
                match parse_expr(&format!("{} > 0", s.value)) {
                    Ok(e) if !matches!(e.aggregation, Aggregation::Rate | Aggregation::Value) => {
                        stats.push(e.aggregation)
                    }
                    _ => cx.error_help(
                        s.span,
                        format!("`{}` is not a trend statistic", s.value),
                        "use avg, min, med, max, count or p(N)",
                    ),
                }
            }
            if !stats.is_empty() {
                o.summary_trend_stats = stats;
            }
        }
        if let Some(v) = f.get("seed").and_then(|n| int(n, cx, "seed")) {
            o.seed = non_negative(v, cx, "seed");
        }
        f.finish(cx);
        o
    }

    // ---------------------------------------------------------------- data
    fn feeders(&mut self, node: &Node) -> Vec<Feeder> {
        let mut out = Vec::new();
        for (k, n) in named_entries(node, &mut self.cx, "data") {
            let base = self.base.as_deref();
            let cx = &mut self.cx;
            let Some(mut f) = Fields::new(n, cx, "data feeder", FEEDER_KEYS) else {
                continue;
            };
            check_identifier(cx, &k.name, k.span, "data feeder");
            let file = f
                .require(
                    "file",
                    cx,
                    "path of a CSV or JSON file, relative to the plan",
                )
                .and_then(|n| string(n, cx, "file"));
            let format = match f.get("format").and_then(|n| string(n, cx, "format")) {
                Some(s) => match s.value.as_str() {
                    "csv" => Some(DataFormat::Csv),
                    "json" => Some(DataFormat::Json),
                    other => {
                        cx.error_help(
                            s.span,
                            format!("unknown data format `{other}`"),
                            "use csv or json",
                        );
                        None
                    }
                },
                None => file.as_ref().map(|f| {
                    if f.value.to_ascii_lowercase().ends_with(".json") {
                        DataFormat::Json
                    } else {
                        DataFormat::Csv
                    }
                }),
            };
            let mode = match f.get("mode").and_then(|n| string(n, cx, "mode")) {
                Some(s) => match s.value.as_str() {
                    "sequential" => FeedMode::Sequential,
                    "per-vu" => FeedMode::PerVu,
                    "random" => FeedMode::Random,
                    "unique" => FeedMode::Unique,
                    "circular" => FeedMode::Circular,
                    other => {
                        let h = did_you_mean(
                            other,
                            ["sequential", "per-vu", "random", "unique", "circular"],
                        );
                        cx.error_help(
                            s.span,
                            format!("unknown feeder mode `{other}`"),
                            match h {
                                Some(h) => format!("did you mean `{h}`?"),
                                None => "use sequential, per-vu, random, unique or circular".into(),
                            },
                        );
                        FeedMode::Sequential
                    }
                },
                None => FeedMode::Sequential,
            };
            let on_exhausted = match f
                .get("onExhausted")
                .and_then(|n| string(n, cx, "onExhausted"))
            {
                Some(s) => match s.value.as_str() {
                    "recycle" => OnExhausted::Recycle,
                    "stop-vu" => OnExhausted::StopVu,
                    "stop-test" => OnExhausted::StopTest,
                    other => {
                        cx.error_help(
                            s.span,
                            format!("unknown onExhausted `{other}`"),
                            "use recycle, stop-vu or stop-test",
                        );
                        OnExhausted::Recycle
                    }
                },
                None if mode == FeedMode::Unique => OnExhausted::StopVu,
                None => OnExhausted::Recycle,
            };
            f.finish(cx);
            if let (Some(file), Some(format), Some(base)) = (&file, format, base) {
                // Read now what the run reads when it starts: a missing file,
                // an empty one, and the columns templates may use.
                match files::data_columns(&base.join(&file.value), format) {
                    Ok(columns) => self.feeder_columns.push(FeederColumns {
                        name: k.name.clone(),
                        file: file.value.clone(),
                        columns,
                    }),
                    Err(p) => cx.error_help(file.span, p.message, p.help),
                }
            }
            if let (Some(file), Some(format)) = (file, format) {
                out.push(Feeder {
                    name: k.name.clone(),
                    file: file.value,
                    format,
                    mode,
                    on_exhausted,
                });
            }
        }
        out
    }

    // ---------------------------------------------------------------- workload
    fn workload(&mut self, node: &Node) -> Option<Workload> {
        let mut f = Fields::new(node, &mut self.cx, "workload", WORKLOAD_KEYS)?;
        let think = f
            .get("thinkTime")
            .and_then(|n| think_time(n, &mut self.cx, "thinkTime"));
        let ops_node = f.require(
            "operations",
            &mut self.cx,
            "list what users do under `operations:`, each a request or a sequence of steps",
        );
        f.finish(&mut self.cx);
        let ops_node = ops_node?;
        let mut operations = Vec::new();
        let entries = named_entries(ops_node, &mut self.cx, "operations");
        if entries.is_empty() && matches!(ops_node.kind, NodeKind::Map(_)) {
            self.cx.error(
                ops_node.span,
                "`operations` is empty: add at least one operation",
            );
        }
        for (k, n) in entries {
            check_identifier(&mut self.cx, &k.name, k.span, "operation");
            self.tags.groups.push(k.name.clone());
            if let Some(op) = self.operation(&k.name, n) {
                operations.push(op);
            }
        }
        Some(Workload {
            operations,
            think_time: think,
        })
    }

    fn operation(&mut self, name: &str, node: &Node) -> Option<Operation> {
        if let NodeKind::Str(s) = &node.kind {
            // `home: GET /` shorthand.
            self.tags.steps.push(name.to_owned());
            let req = self.request_shorthand(Sp::new(s.clone(), node.span))?;
            let step = Step {
                name: name.to_owned(),
                action: Action::Request(req),
                checks: Vec::new(),
                captures: Vec::new(),
                metrics: Vec::new(),
                think_time: None,
                on_check_failure: OnCheckFailure::Continue,
            };
            self.check_step_templates(&[(node.span, step.clone())], name, true);
            return Some(Operation {
                name: name.to_owned(),
                weight: 1,
                steps: vec![step],
                think_time: None,
                pacing: None,
                tags: Vec::new(),
            });
        }
        let mut f = Fields::new(node, &mut self.cx, "operation", OPERATION_KEYS)?;
        let weight = match f.get("weight").and_then(|n| int(n, &mut self.cx, "weight")) {
            Some(w) if w.value < 0 => {
                self.cx.error_help(
                    w.span,
                    format!("weight {} is negative", w.value),
                    "weights are relative shares: 0 disables an operation",
                );
                0
            }
            Some(w) => w.value as u32,
            None => 1,
        };
        let think = f
            .get("thinkTime")
            .and_then(|n| think_time(n, &mut self.cx, "thinkTime"));
        let pacing = f.get("pacing").and_then(|n| dur(n, &mut self.cx, "pacing"));
        let tags = f
            .get("tags")
            .map(|n| string_map(n, &mut self.cx, "tags"))
            .unwrap_or_default();
        self.tags
            .user
            .extend(tags.iter().map(|(k, v)| (k.value.clone(), v.value.clone())));
        let single = f.has("request") || f.has("poll");
        let steps = if let Some(steps_node) = f.get("steps") {
            if single {
                self.cx.error_help(
                    f.key_span("steps").unwrap_or(f.span),
                    "an operation has either `steps:` or a single `request:`/`poll:`, not both",
                    "move the request into the step list",
                );
            }
            for key in ["checks", "capture", "onCheckFailure"] {
                if let Some(span) = f.key_span(key) {
                    let _ = f.get(key);
                    self.cx.error_help(
                        span,
                        format!("`{key}` belongs to a step: this operation has `steps:`"),
                        format!("move `{key}` into the step it applies to"),
                    );
                }
            }
            self.steps_field(steps_node, name)
        } else if single {
            // The operation is itself one step named after it.
            self.tags.steps.push(name.to_owned());
            match self.step_body(&mut f, name.to_owned()) {
                Some(s) => vec![(f.span, s)],
                None => Vec::new(),
            }
        } else {
            self.cx.error_help(
                f.span,
                format!("operation `{name}` does nothing"),
                "give it `request: GET /path` or a list of `steps:`",
            );
            Vec::new()
        };
        f.finish(&mut self.cx);
        self.check_step_templates(&steps, name, true);
        Some(Operation {
            name: name.to_owned(),
            weight,
            steps: steps.into_iter().map(|s| s.1).collect(),
            think_time: think,
            pacing,
            tags: tags.into_iter().map(|(k, v)| (k.value, v.value)).collect(),
        })
    }

    /// Steps with their spans and, per step, the spans of template strings
    /// (filled by `check_step_templates`).
    fn steps_field(&mut self, node: &Node, owner: &str) -> Vec<(Span, Step)> {
        let mut out = Vec::new();
        let items = seq(node, &mut self.cx, "steps");
        let mut names = BTreeSet::new();
        for (i, n) in items.iter().enumerate() {
            let Some(mut f) = Fields::new(n, &mut self.cx, "step", STEP_KEYS) else {
                continue;
            };
            let name = match f.get("name").and_then(|n| string(n, &mut self.cx, "name")) {
                Some(s) => {
                    if !names.insert(s.value.clone()) {
                        self.cx.error_help(
                            s.span,
                            format!("step name `{}` is used twice in `{owner}`", s.value),
                            "step names tag metrics; make them unique",
                        );
                    }
                    s.value
                }
                None => format!("{owner}#{}", i + 1),
            };
            self.tags.steps.push(name.clone());
            if let Some(step) = self.step_body(&mut f, name) {
                out.push((n.span, step));
            }
            f.finish(&mut self.cx);
        }
        if items.is_empty() && matches!(node.kind, NodeKind::Seq(_)) {
            self.cx
                .error(node.span, format!("`{owner}` has an empty step list"));
        }
        out
    }

    /// The action, checks and captures of a step (shared by steps and
    /// single-request operations).
    fn step_body(&mut self, f: &mut Fields<'_>, name: String) -> Option<Step> {
        let request = f.get("request");
        let poll = f.get("poll");
        let action = match (request, poll) {
            (Some(r), None) => Action::Request(self.request(r)?),
            (None, Some(p)) => Action::Poll(self.poll(p, &name)?),
            (Some(_), Some(_)) => {
                self.cx.error_help(
                    f.span,
                    "a step has either `request:` or `poll:`, not both",
                    "split it into two steps",
                );
                return None;
            }
            (None, None) => {
                self.cx.error_help(
                    f.span,
                    format!("step `{name}` has no `request:` or `poll:`"),
                    "e.g. `request: GET /api/items`",
                );
                return None;
            }
        };
        let checks = f.get("checks").map(|n| self.checks(n)).unwrap_or_default();
        let captures = f
            .get("capture")
            .map(|n| self.captures(n))
            .unwrap_or_default();
        let metrics = f
            .get("metrics")
            .map(|n| self.metric_adds(n))
            .unwrap_or_default();
        let think = f
            .get("thinkTime")
            .and_then(|n| think_time(n, &mut self.cx, "thinkTime"));
        let on_check_failure = match f
            .get("onCheckFailure")
            .and_then(|n| string(n, &mut self.cx, "onCheckFailure"))
        {
            Some(s) => match s.value.as_str() {
                "continue" => OnCheckFailure::Continue,
                "end-iteration" => OnCheckFailure::EndIteration,
                other => {
                    self.cx.error_help(
                        s.span,
                        format!("unknown onCheckFailure `{other}`"),
                        "use continue or end-iteration",
                    );
                    OnCheckFailure::Continue
                }
            },
            None => OnCheckFailure::Continue,
        };
        Some(Step {
            name,
            action,
            checks,
            captures,
            metrics,
            think_time: think,
            on_check_failure,
        })
    }

    fn request_shorthand(&mut self, s: Sp<String>) -> Option<Request> {
        let trimmed = s.value.trim();
        let (method, url, url_off) = match trimmed.split_once(char::is_whitespace) {
            Some((m, rest)) if HTTP_METHODS.contains(&m.to_ascii_uppercase().as_str()) => {
                let off = s.value.find(rest.trim_start()).unwrap_or(0);
                (m.to_ascii_uppercase(), rest.trim().to_owned(), off)
            }
            Some((m, _)) if m.chars().all(|c| c.is_ascii_alphabetic()) => {
                self.cx.error_help(
                    s.span,
                    format!("unknown HTTP method `{m}`"),
                    format!("use one of {}", HTTP_METHODS.join(", ")),
                );
                return None;
            }
            _ => (
                "GET".to_owned(),
                trimmed.to_owned(),
                s.value.find(trimmed).unwrap_or(0),
            ),
        };
        let url_span = self.inner_span(s.span, url_off, url.len());
        self.check_url(&url, url_span);
        Some(Request {
            method,
            url: Template::new(url),
            headers: Vec::new(),
            query: Vec::new(),
            body: Body::Empty,
            timeout: None,
            tags: Vec::new(),
            expected_statuses: None,
        })
    }

    fn check_url(&mut self, url: &str, span: Span) {
        if url.is_empty() {
            self.cx.error(span, "empty URL");
        } else if !(url.starts_with('/')
            || url.starts_with("http://")
            || url.starts_with("https://")
            || url.starts_with("{{"))
        {
            self.cx.error_help(
                span,
                format!("URL `{url}` is neither absolute nor a path"),
                "paths start with `/` and are relative to the target URL",
            );
        }
    }

    fn request(&mut self, node: &Node) -> Option<Request> {
        if let NodeKind::Str(s) = &node.kind {
            return self.request_shorthand(Sp::new(s.clone(), node.span));
        }
        let (source, base) = (self.source, self.base.as_deref());
        let cx = &mut self.cx;
        let mut f = Fields::new(node, cx, "request", REQUEST_KEYS)?;
        let method = match f.get("method").and_then(|n| string(n, cx, "method")) {
            Some(m) => {
                let up = m.value.to_ascii_uppercase();
                if !HTTP_METHODS.contains(&up.as_str()) {
                    cx.error_help(
                        m.span,
                        format!("unknown HTTP method `{}`", m.value),
                        format!("use one of {}", HTTP_METHODS.join(", ")),
                    );
                }
                up
            }
            None => "GET".into(),
        };
        let url = f
            .require("url", cx, "e.g. `url: /api/items`")
            .and_then(|n| string(n, cx, "url"));
        let mut headers = f
            .get("headers")
            .map(|n| string_map(n, cx, "headers"))
            .unwrap_or_default();
        check_headers(cx, source, &headers);
        if let Some(n) = f.get("auth") {
            add_auth(cx, n, &mut headers);
        }
        let query = f
            .get("query")
            .map(|n| string_map(n, cx, "query"))
            .unwrap_or_default();
        let mut bodies = Vec::new();
        if let Some(n) = f.get("json") {
            bodies.push(("json", Body::Json(n.to_json())));
        }
        if let Some(n) = f.get("body").and_then(|n| text(n, cx, "body")) {
            bodies.push(("body", Body::Raw(Template::new(n.value))));
        }
        if let Some(n) = f.get("form") {
            bodies.push((
                "form",
                Body::Form(
                    string_map(n, cx, "form")
                        .into_iter()
                        .map(|(k, v)| (k.value, Template::new(v.value)))
                        .collect(),
                ),
            ));
        }
        if let Some(n) = f.get("multipart") {
            let mut parts = Vec::new();
            for p in seq(n, cx, "multipart") {
                let Some(mut pf) = Fields::new(p, cx, "multipart part", PART_KEYS) else {
                    continue;
                };
                let name = pf
                    .require("name", cx, "the form field name")
                    .and_then(|n| string(n, cx, "name"));
                let value = pf.get("value").and_then(|n| text(n, cx, "value"));
                let file = pf.get("file").and_then(|n| string(n, cx, "file"));
                if let Some(file) = &file {
                    check_file(cx, base, file, files::check_upload);
                }
                let content_type = pf
                    .get("contentType")
                    .and_then(|n| string(n, cx, "contentType"))
                    .map(|s| s.value);
                if value.is_some() == file.is_some() {
                    cx.error_help(
                        pf.span,
                        "a multipart part has exactly one of `value` or `file`",
                        "`value: text` for a field, `file: path` for an upload",
                    );
                }
                pf.finish(cx);
                if let Some(name) = name {
                    parts.push(Part {
                        name: name.value,
                        value: value.map(|v| Template::new(v.value)),
                        file: file.map(|f| f.value),
                        content_type,
                    });
                }
            }
            bodies.push(("multipart", Body::Multipart(parts)));
        }
        if bodies.len() > 1 {
            let names: Vec<_> = bodies.iter().map(|b| b.0).collect();
            cx.error_help(
                f.span,
                format!("a request has one body, found {}", names.join(" and ")),
                "keep one of json, body, form, multipart",
            );
        }
        let timeout = f.get("timeout").and_then(|n| dur(n, cx, "timeout"));
        let tags = f
            .get("tags")
            .map(|n| string_map(n, cx, "tags"))
            .unwrap_or_default();
        self.tags
            .user
            .extend(tags.iter().map(|(k, v)| (k.value.clone(), v.value.clone())));
        let expected = f.get("expectedStatuses").map(|n| {
            let mut ranges = Vec::new();
            let items: Vec<&Node> = match &n.kind {
                NodeKind::Seq(v) => v.iter().collect(),
                _ => vec![n],
            };
            for item in items {
                let Some(t) = text(item, cx, "expectedStatuses") else {
                    continue;
                };
                match parse_status_range(&t.value) {
                    Some(r) => ranges.push(r),
                    None => cx.error_help(
                        t.span,
                        format!("`{}` is not a status or range", t.value),
                        "write `201` or `200-299`",
                    ),
                }
            }
            ranges
        });
        f.finish(cx);
        let url = url?;
        let url_span = self.inner_span(url.span, 0, url.value.len());
        self.check_url(&url.value, url_span);
        Some(Request {
            method,
            url: Template::new(url.value),
            headers: headers
                .into_iter()
                .map(|(k, v)| (k.value, Template::new(v.value)))
                .collect(),
            query: query
                .into_iter()
                .map(|(k, v)| (k.value, Template::new(v.value)))
                .collect(),
            body: bodies.pop().map(|b| b.1).unwrap_or(Body::Empty),
            timeout,
            tags: tags.into_iter().map(|(k, v)| (k.value, v.value)).collect(),
            expected_statuses: expected,
        })
    }

    fn poll(&mut self, node: &Node, step_name: &str) -> Option<Poll> {
        let mut f = Fields::new(node, &mut self.cx, "poll", POLL_KEYS)?;
        let request = f.require(
            "request",
            &mut self.cx,
            "the request to repeat, e.g. `request: GET /api/jobs/{{ job_id }}`",
        );
        let request = request.and_then(|n| self.request(n));
        let until = match f.require(
            "until",
            &mut self.cx,
            "checks that say the work is done, e.g. `until: [{jsonPath: $.status, equals: done}]`",
        ) {
            Some(n) => self.checks(n),
            None => Vec::new(),
        };
        let interval = f
            .get("interval")
            .and_then(|n| dur(n, &mut self.cx, "interval"))
            .unwrap_or(Duration::from_secs(1));
        let timeout = f
            .get("timeout")
            .and_then(|n| dur(n, &mut self.cx, "timeout"))
            .unwrap_or(Duration::from_secs(300));
        if interval.is_zero() {
            self.cx.error(f.span, "poll `interval` must be more than 0");
        }
        let metric = match f
            .get("metric")
            .and_then(|n| string(n, &mut self.cx, "metric"))
        {
            Some(m) => {
                if !m
                    .value
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_')
                    || m.value.is_empty()
                {
                    self.cx.error_help(
                        m.span,
                        format!("`{}` is not a metric name", m.value),
                        "use letters, digits and `_`, e.g. `job_duration`",
                    );
                } else if catalog::builtin(&m.value).is_some() {
                    self.cx.error_help(
                        m.span,
                        format!("`{}` is a built-in metric", m.value),
                        "choose another name, e.g. `job_duration`",
                    );
                }
                m.value
            }
            None => {
                let name = format!("{}_duration", sanitize_metric(step_name));
                if catalog::builtin(&name).is_some() {
                    self.cx.error_help(
                        f.span,
                        format!("this poll's default metric `{name}` is a built-in metric"),
                        "name its metric, e.g. `metric: job_duration`",
                    );
                }
                name
            }
        };
        let poll_span = f.span;
        f.finish(&mut self.cx);
        if let Some(c) = self.custom_metrics.iter().find(|c| c.name == metric)
            && (c.kind, c.unit) != (MetricType::Trend, ValueUnit::Time)
        {
            self.cx.error_help(
                poll_span,
                format!(
                    "this poll records its wait in `{metric}`, which `metrics:` declares as {}",
                    kind_phrase(c.kind, c.unit)
                ),
                "a poll's metric is a time trend: declare it `{type: trend, time: true}` or name another `metric:`",
            );
        }
        if !self.custom_metrics.iter().any(|c| c.name == metric) {
            self.custom_metrics.push(CustomMetric {
                name: metric.clone(),
                kind: MetricType::Trend,
                unit: ValueUnit::Time,
            });
        }
        Some(Poll {
            request: request?,
            until,
            interval,
            timeout,
            metric,
        })
    }

    fn checks(&mut self, node: &Node) -> Vec<Check> {
        let mut out = Vec::new();
        let items: Vec<&Node> = match &node.kind {
            NodeKind::Seq(v) => v.iter().collect(),
            NodeKind::Map(_) => vec![node],
            _ => {
                self.cx.type_error(node, "checks", "a list of checks");
                return out;
            }
        };
        for n in items {
            if let Some(c) = self.check(n) {
                out.push(c);
            }
        }
        out
    }

    fn check(&mut self, node: &Node) -> Option<Check> {
        let source = self.source;
        let cx = &mut self.cx;
        let mut f = Fields::new(node, cx, "check", CHECK_KEYS)?;
        let name = f
            .get("name")
            .and_then(|n| string(n, cx, "name"))
            .map(|s| s.value);
        let kinds: Vec<&str> = [
            "status",
            "bodyContains",
            "bodyMatches",
            "jsonPath",
            "header",
            "duration",
        ]
        .into_iter()
        .filter(|k| f.has(k))
        .collect();
        if kinds.len() != 1 {
            let msg = if kinds.is_empty() {
                "a check needs one of status, bodyContains, bodyMatches, jsonPath, header, duration"
                    .to_owned()
            } else {
                format!("a check tests one thing, found {}", kinds.join(" and "))
            };
            cx.error_help(f.span, msg, "e.g. `- status: 201` or `- jsonPath: $.id` (split several into separate list items)");
            f.finish(cx);
            return None;
        }
        let exists = f
            .get("exists")
            .and_then(|n| boolean(n, cx, "exists"))
            .map(|b| b.value);
        let equals = f.get("equals");
        let matches = f.get("matches").and_then(|n| string(n, cx, "matches"));
        let kind = match kinds[0] {
            "status" => {
                let n = f.get("status")?;
                let items: Vec<&Node> = match &n.kind {
                    NodeKind::Seq(v) => v.iter().collect(),
                    _ => vec![n],
                };
                let mut codes = Vec::new();
                for i in items {
                    if let Some(v) = int(i, cx, "status") {
                        if (100..=599).contains(&v.value) {
                            codes.push(v.value as u16)
                        } else {
                            cx.error_help(
                                v.span,
                                format!("{} is not an HTTP status", v.value),
                                "statuses are 100 to 599",
                            )
                        }
                    }
                }
                CheckKind::Status(codes)
            }
            "bodyContains" => CheckKind::BodyContains(Template::new(
                text(f.get("bodyContains")?, cx, "bodyContains")?.value,
            )),
            "bodyMatches" => {
                let s = string(f.get("bodyMatches")?, cx, "bodyMatches")?;
                check_regex(cx, &s);
                CheckKind::BodyMatches(s.value)
            }
            "jsonPath" => {
                let p = string(f.get("jsonPath")?, cx, "jsonPath")?;
                check_json_path(cx, &p);
                match (equals, exists) {
                    (Some(e), None) => CheckKind::JsonPathEquals(p.value, e.to_json()),
                    (None, e) => CheckKind::JsonPathExists(p.value, e.unwrap_or(true)),
                    (Some(_), Some(_)) => {
                        cx.error(f.span, "use `equals` or `exists`, not both");
                        return None;
                    }
                }
            }
            "header" => {
                let h = string(f.get("header")?, cx, "header")?;
                check_header_name(cx, source, &h);
                if let Some(m) = &matches {
                    check_regex(cx, m);
                }
                match (equals, matches, exists) {
                    (Some(e), None, None) => CheckKind::HeaderEquals(
                        h.value,
                        Template::new(e.scalar_text().unwrap_or_default()),
                    ),
                    (None, Some(m), None) => CheckKind::HeaderMatches(h.value, m.value),
                    (None, None, e) => CheckKind::HeaderExists(h.value, e.unwrap_or(true)),
                    _ => {
                        cx.error(
                            f.span,
                            "use one of `equals`, `matches` or `exists` with `header`",
                        );
                        return None;
                    }
                }
            }
            _ => {
                let n = f.get("duration")?;
                let t = text(n, cx, "duration")?;
                let v = t.value.trim();
                let bound = v
                    .strip_prefix("<=")
                    .or_else(|| v.strip_prefix('<'))
                    .unwrap_or(v)
                    .trim();
                match parse_duration(bound) {
                    Ok(d) => CheckKind::DurationBelow(d),
                    Err(e) => {
                        cx.error_help(
                            t.span,
                            format!("`duration`: {e}"),
                            "write `duration: < 500ms`",
                        );
                        return None;
                    }
                }
            }
        };
        f.finish(cx);
        let name = name.unwrap_or_else(|| default_check_name(&kind));
        Some(Check { name, kind })
    }

    fn captures(&mut self, node: &Node) -> Vec<Capture> {
        let mut out = Vec::new();
        let source = self.source;
        for (k, n) in named_entries(node, &mut self.cx, "capture") {
            let cx = &mut self.cx;
            check_identifier(cx, &k.name, k.span, "capture");
            let source = match &n.kind {
                NodeKind::Str(s) if s.starts_with('$') => {
                    check_json_path(cx, &Sp::new(s.clone(), n.span));
                    Some(CaptureSource::JsonPath(s.clone()))
                }
                NodeKind::Str(s) => {
                    cx.error_help(n.span, format!("capture `{}`: `{s}` is not a JSON path", k.name), "write `$.id` for a JSON path, or `{header: Location}`, `{regex: 'id=(\\d+)'}`, `{status: true}`");
                    None
                }
                _ => {
                    let Some(mut f) = Fields::new(n, cx, "capture", CAPTURE_KEYS) else {
                        continue;
                    };
                    let present: Vec<&str> = CAPTURE_KEYS
                        .iter()
                        .copied()
                        .filter(|key| f.has(key))
                        .collect();
                    let src = if present.len() != 1 {
                        cx.error_help(
                            f.span,
                            format!(
                                "capture `{}` needs exactly one of jsonPath, header, regex, status",
                                k.name
                            ),
                            "e.g. `id: {jsonPath: $.id}`",
                        );
                        None
                    } else {
                        match present[0] {
                            "jsonPath" => f
                                .get("jsonPath")
                                .and_then(|n| string(n, cx, "jsonPath"))
                                .map(|p| {
                                    check_json_path(cx, &p);
                                    CaptureSource::JsonPath(p.value)
                                }),
                            "header" => {
                                f.get("header")
                                    .and_then(|n| string(n, cx, "header"))
                                    .map(|h| {
                                        check_header_name(cx, source, &h);
                                        CaptureSource::Header(h.value)
                                    })
                            }
                            "regex" => {
                                f.get("regex")
                                    .and_then(|n| string(n, cx, "regex"))
                                    .map(|r| {
                                        check_regex(cx, &r);
                                        CaptureSource::Regex(r.value)
                                    })
                            }
                            _ => {
                                let _ = f.get("status");
                                Some(CaptureSource::Status)
                            }
                        }
                    };
                    f.finish(cx);
                    src
                }
            };
            if let Some(source) = source {
                out.push(Capture {
                    name: k.name.clone(),
                    source,
                });
            }
        }
        out
    }

    // ---------------------------------------------------------------- templates
    /// Check every template of a sequence of steps: syntax, and that every
    /// variable is defined at that point (captures of earlier steps only).
    fn check_step_templates(&mut self, steps: &[(Span, Step)], owner: &str, allow_setup: bool) {
        let mut defined: Vec<String> = Vec::new();
        for (i, (span, step)) in steps.iter().enumerate() {
            let later: Vec<(&str, &str)> = steps[i..]
                .iter()
                .flat_map(|(_, s)| {
                    s.captures
                        .iter()
                        .map(move |c| (c.name.as_str(), s.name.as_str()))
                })
                .collect();
            let mut texts: Vec<&str> = Vec::new();
            let req = match &step.action {
                Action::Request(r) => r,
                Action::Poll(p) => &p.request,
            };
            collect_request_templates(req, &mut texts);
            let mut check_texts = Vec::new();
            for c in &step.checks {
                collect_check_templates(c, &mut check_texts);
            }
            if let Action::Poll(p) = &step.action {
                for c in &p.until {
                    collect_check_templates(c, &mut check_texts);
                }
            }
            let mut json_strings = Vec::new();
            if let Body::Json(v) = &req.body {
                collect_json_strings(v, &mut json_strings);
            }
            for t in texts
                .iter()
                .copied()
                .chain(check_texts.iter().map(|s| s.as_str()))
                .chain(json_strings.iter().map(|s| s.as_str()))
            {
                if !(t.contains("{{") || t.contains("{%")) {
                    continue;
                }
                self.check_template(t, *span, &defined, &later, owner, allow_setup);
            }
            defined.extend(step.captures.iter().map(|c| c.name.clone()));
            // A step's metric values are rendered after its own captures.
            for add in &step.metrics {
                if let ValueSource::Value(t) = &add.source
                    && !t.is_static
                {
                    self.check_template(&t.source, *span, &defined, &later, owner, allow_setup);
                }
            }
        }
    }

    fn check_template(
        &mut self,
        text: &str,
        step_span: Span,
        defined: &[String],
        later: &[(&str, &str)],
        owner: &str,
        allow_setup: bool,
    ) {
        // Locate the text in the source to point inside it; fall back to the step.
        let base = self.find_in_step(text, step_span);
        let env = minijinja::Environment::new();
        let tmpl = match env.template_from_str(text) {
            Ok(t) => t,
            Err(e) => {
                let span = match (base, e.range()) {
                    (Some(b), Some(r)) => {
                        Span::from_offset(self.source, b + r.start, r.len().max(1))
                    }
                    (Some(b), None) => Span::from_offset(self.source, b, text.len()),
                    _ => step_span,
                };
                self.cx.push(
                    Diagnostic::error(
                        span,
                        format!(
                            "template error: {}",
                            e.detail().unwrap_or("invalid template syntax")
                        ),
                    )
                    .with_help("templates use Jinja syntax: `{{ variable }}`, `{{ uuid() }}`"),
                );
                return;
            }
        };
        let mut vars: Vec<String> = tmpl.undeclared_variables(false).into_iter().collect();
        vars.sort();
        for var in vars {
            let known = TEMPLATE_GLOBALS.contains(&var.as_str())
                || defined.contains(&var)
                || self.feeder_names.contains(&var)
                || (var == "setup" && self.has_setup && allow_setup);
            if known {
                continue;
            }
            let span = base
                .and_then(|b| {
                    find_var(
                        &self.source[b..b + text.len().min(self.source.len() - b)],
                        &var,
                    )
                    .map(|o| Span::from_offset(self.source, b + o, var.len()))
                })
                .unwrap_or(step_span);
            if let Some((_, step)) = later.iter().find(|(c, _)| *c == var) {
                self.cx.push(Diagnostic::error(span, format!("`{var}` is used before it is captured")).with_help(format!(
                    "step `{step}` captures `{var}` later in `{owner}`; move this use after that step, or capture it earlier"
                )));
            } else if var == "setup" && !allow_setup {
                self.cx.error_help(
                    span,
                    "`setup` is not available here",
                    "setup results are visible to scenarios and teardown, not to setup itself",
                );
            } else if var == "setup" {
                self.cx.error_help(
                    span,
                    "`setup` is used but the plan has no `setup:` section",
                    "add a `setup:` with steps that capture values",
                );
            } else {
                let mut candidates: Vec<&str> = TEMPLATE_GLOBALS.to_vec();
                candidates.extend(defined.iter().map(String::as_str));
                candidates.extend(self.feeder_names.iter().map(String::as_str));
                let help = match did_you_mean(&var, candidates) {
                    Some(c) => format!("did you mean `{c}`?"),
                    None => {
                        let mut avail: Vec<String> = defined.to_vec();
                        avail.extend(self.feeder_names.iter().cloned());
                        if avail.is_empty() {
                            "define it with `capture:` on an earlier step, or a `data:` feeder"
                                .to_owned()
                        } else {
                            format!(
                                "defined here: {}, plus vu, iter, scenario, env",
                                avail.join(", ")
                            )
                        }
                    }
                };
                self.cx
                    .error_help(span, format!("`{var}` is not defined"), help);
            }
        }
        self.check_columns(text, base.unwrap_or(step_span.offset), step_span);
    }

    /// Every `feeder.column` and `feeder['column']` in `text` must name a
    /// column of the feeder's file (else the run would send an empty value).
    fn check_columns(&mut self, text: &str, from: usize, fallback: Span) {
        let mut found = Vec::new();
        let mut seen = BTreeSet::new();
        for f in &self.feeder_columns {
            for r in column_refs(text, &f.name) {
                if f.columns.contains(&r.column)
                    || !seen.insert((f.name.as_str(), r.column.clone()))
                {
                    continue;
                }
                // Point at the column as written in the source, else at the step.
                let written = &text[r.start..r.column_at + r.column.len()];
                let from = from.min(self.source.len());
                let span = self.source[from..]
                    .find(written)
                    .map(|o| {
                        Span::from_offset(
                            self.source,
                            from + o + (r.column_at - r.start),
                            r.column.len(),
                        )
                    })
                    .unwrap_or(fallback);
                let help = match did_you_mean(&r.column, f.columns.iter().map(String::as_str)) {
                    Some(c) => format!("did you mean `{c}`?"),
                    None => format!("columns of {}: {}", f.file, f.columns.join(", ")),
                };
                found.push(
                    Diagnostic::error(
                        span,
                        format!("data `{}` has no column `{}`", f.name, r.column),
                    )
                    .with_help(help),
                );
            }
        }
        for d in found {
            self.cx.push(d);
        }
    }

    /// Byte offset of `text` inside the source, searched from the step's start.
    fn find_in_step(&self, text: &str, step_span: Span) -> Option<usize> {
        let from = step_span.offset.min(self.source.len());
        let first_line = text.lines().next().unwrap_or(text);
        self.source[from..].find(first_line).map(|o| from + o)
    }

    // ---------------------------------------------------------------- scenarios
    fn scenarios(&mut self, node: &Node, workload: &Workload) -> Vec<Scenario> {
        let mut out = Vec::new();
        let entries = named_entries(node, &mut self.cx, "scenarios");
        if entries.is_empty() && matches!(node.kind, NodeKind::Map(_)) {
            self.cx.error_help(
                node.span,
                "`scenarios` is empty",
                "add one, e.g. `smoke: {executor: constant-vus, vus: 1, duration: 10s}`",
            );
        }
        for (k, n) in entries {
            check_identifier(&mut self.cx, &k.name, k.span, "scenario");
            self.tags.scenarios.push(k.name.clone());
            if let Some(s) = self.scenario(&k.name, n, workload) {
                out.push(s);
            }
        }
        out
    }

    fn scenario(&mut self, name: &str, node: &Node, workload: &Workload) -> Option<Scenario> {
        let cx = &mut self.cx;
        let mut f = Fields::new(node, cx, "scenario", SCENARIO_KEYS)?;
        let executor_name = f
            .require(
                "executor",
                cx,
                &format!("one of: {}", EXECUTOR_NAMES.join(", ")),
            )
            .and_then(|n| string(n, cx, "executor"));
        let start_time = f
            .get("startTime")
            .and_then(|n| dur(n, cx, "startTime"))
            .unwrap_or_default();
        let graceful_stop = f
            .get("gracefulStop")
            .and_then(|n| dur(n, cx, "gracefulStop"))
            .unwrap_or(Duration::from_secs(30));
        let tags = f
            .get("tags")
            .map(|n| string_map(n, cx, "tags"))
            .unwrap_or_default();
        self.tags
            .user
            .extend(tags.iter().map(|(k, v)| (k.value.clone(), v.value.clone())));
        let env = f
            .get("env")
            .map(|n| string_map(n, cx, "env"))
            .unwrap_or_default();
        let _ = f
            .get("description")
            .and_then(|n| string(n, cx, "description"));
        let test_type = f
            .get("testType")
            .and_then(|n| string(n, cx, "testType"))
            .and_then(
                |s| match TestType::ALL.iter().find(|(_, n)| *n == s.value) {
                    Some((t, _)) => Some(*t),
                    None => {
                        let names: Vec<&str> = TestType::ALL.iter().map(|(_, n)| *n).collect();
                        let help = match did_you_mean(&s.value, names.iter().copied()) {
                            Some(h) => format!("did you mean `{h}`?"),
                            None => format!("use one of {}", names.join(", ")),
                        };
                        cx.error_help(s.span, format!("unknown test type `{}`", s.value), help);
                        None
                    }
                },
            );
        // Which operations this scenario runs.
        let op_names: Vec<&str> = workload
            .operations
            .iter()
            .map(|o| o.name.as_str())
            .collect();
        let mut mix: Vec<(usize, u32)> = Vec::new();
        let lookup = |cx: &mut Cx, n: &str, span: Span| -> Option<usize> {
            match op_names.iter().position(|o| *o == n) {
                Some(i) => Some(i),
                None => {
                    let help = match did_you_mean(n, op_names.iter().copied()) {
                        Some(h) => format!("did you mean `{h}`?"),
                        None => format!("operations: {}", op_names.join(", ")),
                    };
                    cx.error_help(
                        span,
                        format!("scenario `{name}` runs unknown operation `{n}`"),
                        help,
                    );
                    None
                }
            }
        };
        if let Some(e) = f.get("exec").and_then(|n| string(n, cx, "exec"))
            && let Some(i) = lookup(cx, &e.value, e.span)
        {
            mix.push((i, 1));
        }
        if let Some(n) = f.get("operations") {
            if !mix.is_empty() {
                cx.error_help(n.span, "use `exec` or `operations`, not both", "`exec: name` runs one operation; `operations: {a: 3, b: 1}` runs a weighted mix");
            }
            for (k, v) in named_entries(n, cx, "operations") {
                let w = int(v, cx, "operations weight").and_then(|w| non_negative(w, cx, "weight"));
                if let (Some(i), Some(w)) = (lookup(cx, &k.name, k.span), w) {
                    mix.push((i, w as u32));
                }
            }
        }
        if mix.is_empty() {
            mix = workload
                .operations
                .iter()
                .enumerate()
                .map(|(i, o)| (i, o.weight))
                .collect();
        }
        if !mix.is_empty() && mix.iter().all(|(_, w)| *w == 0) {
            cx.error_help(
                f.span,
                format!("every operation of scenario `{name}` has weight 0"),
                "give at least one operation a positive weight",
            );
        }
        let executor = match executor_name {
            Some(e) => self.executor(&mut f, e),
            None => {
                // Which options apply depends on the executor, already reported.
                f.skip(&EXECUTOR_OPTIONS);
                None
            }
        };
        f.finish(&mut self.cx);
        Some(Scenario {
            name: name.to_owned(),
            executor: executor?,
            start_time,
            graceful_stop,
            mix,
            tags: tags.into_iter().map(|(k, v)| (k.value, v.value)).collect(),
            env: env.into_iter().map(|(k, v)| (k.value, v.value)).collect(),
            test_type,
        })
    }

    fn executor(&mut self, f: &mut Fields<'_>, name: Sp<String>) -> Option<Executor> {
        let cx = &mut self.cx;
        // Options each executor accepts (beyond the common ones).
        let allowed: &[&str] = match name.value.as_str() {
            "shared-iterations" | "per-vu-iterations" => &["vus", "iterations", "maxDuration"],
            "constant-vus" => &["vus", "duration"],
            "ramping-vus" => &["startVUs", "stages", "gracefulRampDown"],
            "constant-arrival-rate" => {
                &["rate", "timeUnit", "duration", "preAllocatedVUs", "maxVUs"]
            }
            "ramping-arrival-rate" => &[
                "startRate",
                "timeUnit",
                "stages",
                "preAllocatedVUs",
                "maxVUs",
            ],
            "externally-controlled" => {
                cx.error_help(
                    name.span,
                    "`externally-controlled` was removed in k6 v2 and is not supported",
                    "use constant-vus (takes vus, duration) or ramping-vus (takes startVUs, stages, gracefulRampDown); \
                     for an open model, ramping-arrival-rate (takes startRate, timeUnit, stages, preAllocatedVUs, maxVUs)",
                );
                // Its options are not errors of their own: the executor is.
                f.skip(&EXECUTOR_OPTIONS);
                return None;
            }
            other => {
                let help = match did_you_mean(other, EXECUTOR_NAMES.iter().copied()) {
                    Some(h) => format!("did you mean `{h}`?"),
                    None => format!("executors: {}", EXECUTOR_NAMES.join(", ")),
                };
                cx.error_help(name.span, format!("unknown executor `{other}`"), help);
                f.skip(&EXECUTOR_OPTIONS);
                return None;
            }
        };
        for opt in EXECUTOR_OPTIONS {
            if f.has(opt) && !allowed.contains(&opt) {
                let span = f.key_span(opt).unwrap_or(f.span);
                let _ = f.get(opt);
                cx.error_help(
                    span,
                    format!("`{opt}` does not apply to executor `{}`", name.value),
                    format!("{} takes: {}", name.value, allowed.join(", ")),
                );
            }
        }
        let count = |f: &mut Fields<'_>,
                     cx: &mut Cx,
                     key: &str,
                     default: Option<u64>,
                     min1: bool|
         -> Option<u64> {
            match f.get(key).and_then(|n| int(n, cx, key)) {
                Some(v) if min1 => positive(v, cx, key),
                Some(v) => non_negative(v, cx, key),
                None => {
                    if default.is_none() {
                        cx.error_help(
                            f.span,
                            format!("executor `{}` needs `{key}`", name.value),
                            format!("{} takes: {}", name.value, allowed.join(", ")),
                        );
                    }
                    default
                }
            }
        };
        let need_dur = |f: &mut Fields<'_>,
                        cx: &mut Cx,
                        key: &str,
                        default: Option<Duration>|
         -> Option<Duration> {
            match f.get(key) {
                Some(n) => {
                    let d = dur(n, cx, key)?;
                    // Every executor duration must be positive (timeUnit too).
                    if d.is_zero() {
                        cx.error_help(
                            n.span,
                            format!("`{key}` must be longer than 0"),
                            "e.g. `30s`",
                        );
                        return None;
                    }
                    Some(d)
                }
                None => {
                    if default.is_none() {
                        cx.error_help(
                            f.span,
                            format!("executor `{}` needs `{key}`", name.value),
                            "e.g. `duration: 30s`",
                        );
                    }
                    default
                }
            }
        };
        let ten_min = Some(Duration::from_secs(600));
        let one_sec = Some(Duration::from_secs(1));
        let exec = match name.value.as_str() {
            "shared-iterations" => {
                let vus = count(f, cx, "vus", Some(1), true);
                let iterations = count(f, cx, "iterations", Some(1), true);
                let max_duration = need_dur(f, cx, "maxDuration", ten_min);
                Executor::SharedIterations {
                    vus: vus?,
                    iterations: iterations?,
                    max_duration: max_duration?,
                }
            }
            "per-vu-iterations" => {
                let vus = count(f, cx, "vus", Some(1), true);
                let iterations = count(f, cx, "iterations", Some(1), true);
                let max_duration = need_dur(f, cx, "maxDuration", ten_min);
                Executor::PerVuIterations {
                    vus: vus?,
                    iterations: iterations?,
                    max_duration: max_duration?,
                }
            }
            "constant-vus" => {
                let vus = count(f, cx, "vus", Some(1), true);
                let duration = need_dur(f, cx, "duration", None);
                Executor::ConstantVus {
                    vus: vus?,
                    duration: duration?,
                }
            }
            "ramping-vus" => {
                let start_vus = count(f, cx, "startVUs", Some(1), false);
                let stages = self.stages(f);
                let cx = &mut self.cx;
                let graceful_ramp_down = f
                    .get("gracefulRampDown")
                    .and_then(|n| dur(n, cx, "gracefulRampDown"))
                    .unwrap_or(Duration::from_secs(30));
                Executor::RampingVus {
                    start_vus: start_vus?,
                    stages: stages?,
                    graceful_ramp_down,
                }
            }
            "constant-arrival-rate" => {
                let rate = count(f, cx, "rate", None, true);
                let time_unit = need_dur(f, cx, "timeUnit", one_sec);
                let duration = need_dur(f, cx, "duration", None);
                let (pre, max) = self.vu_pool(f);
                Executor::ConstantArrivalRate {
                    rate: rate?,
                    time_unit: time_unit?,
                    duration: duration?,
                    pre_allocated_vus: pre?,
                    max_vus: max?,
                }
            }
            _ => {
                let start_rate = count(f, cx, "startRate", Some(0), false);
                let time_unit = need_dur(f, cx, "timeUnit", one_sec);
                let stages = self.stages(f);
                let (pre, max) = self.vu_pool(f);
                Executor::RampingArrivalRate {
                    start_rate: start_rate?,
                    time_unit: time_unit?,
                    stages: stages?,
                    pre_allocated_vus: pre?,
                    max_vus: max?,
                }
            }
        };
        if let Some(tu) = f.key_span("timeUnit")
            && matches!(&exec, Executor::ConstantArrivalRate { time_unit, .. } | Executor::RampingArrivalRate { time_unit, .. } if time_unit.is_zero())
        {
            self.cx.error(tu, "`timeUnit` must be longer than 0");
        }
        Some(exec)
    }

    fn vu_pool(&mut self, f: &mut Fields<'_>) -> (Option<u64>, Option<u64>) {
        let cx = &mut self.cx;
        let pre = match f
            .get("preAllocatedVUs")
            .and_then(|n| int(n, cx, "preAllocatedVUs"))
        {
            Some(v) => non_negative(v.clone(), cx, "preAllocatedVUs").map(|p| (p, v.span)),
            None => {
                cx.error_help(
                    f.span,
                    "arrival-rate executors need `preAllocatedVUs`",
                    "the VUs created up front, e.g. `preAllocatedVUs: 10` (k6 requires it too)",
                );
                None
            }
        };
        let max = f
            .get("maxVUs")
            .and_then(|n| int(n, cx, "maxVUs"))
            .and_then(|v| non_negative(v.clone(), cx, "maxVUs").map(|m| (m, v.span)));
        match (pre, max) {
            (Some((p, _)), Some((m, mspan))) if m < p => {
                cx.error_help(
                    mspan,
                    format!("maxVUs ({m}) is less than preAllocatedVUs ({p})"),
                    "raise maxVUs or lower preAllocatedVUs",
                );
                (Some(p), None)
            }
            (Some((p, _)), Some((m, _))) => (Some(p), Some(m)),
            (Some((p, _)), None) => (Some(p), Some(p)),
            (None, m) => (None, m.map(|x| x.0)),
        }
    }

    fn stages(&mut self, f: &mut Fields<'_>) -> Option<Vec<Stage>> {
        let cx = &mut self.cx;
        let Some(n) = f.get("stages") else {
            cx.error_help(
                f.span,
                "this executor needs `stages`",
                "e.g. `stages: [{duration: 30s, target: 10}]`",
            );
            return None;
        };
        let mut out = Vec::new();
        let mut ok = true;
        let items = seq(n, cx, "stages");
        if items.is_empty() && matches!(n.kind, NodeKind::Seq(_)) {
            cx.error_help(
                n.span,
                "`stages` is empty",
                "add at least one `{duration: 30s, target: 10}`",
            );
            return None;
        }
        for s in items {
            let Some(mut sf) = Fields::new(s, cx, "stage", STAGE_KEYS) else {
                ok = false;
                continue;
            };
            let d = sf
                .require("duration", cx, "e.g. `duration: 30s`")
                .and_then(|n| dur(n, cx, "duration"));
            let t = sf
                .require("target", cx, "the VUs (or rate) at the end of the stage")
                .and_then(|n| int(n, cx, "target"));
            let t = t.and_then(|t| {
                if t.value < 0 {
                    cx.error_help(
                        t.span,
                        format!("stage target is {}; it cannot be negative", t.value),
                        "targets are VU counts or rates: 0 or more",
                    );
                    None
                } else {
                    Some(t.value as u64)
                }
            });
            sf.finish(cx);
            match (d, t) {
                (Some(duration), Some(target)) => out.push(Stage { duration, target }),
                _ => ok = false,
            }
        }
        if ok && out.iter().all(|s| s.duration.is_zero()) {
            cx.error(n.span, "all stages last 0s; the scenario would do nothing");
            ok = false;
        }
        ok.then_some(out)
    }

    // ---------------------------------------------------------------- SLAs and thresholds
    fn condition_for(
        &mut self,
        metric_kind: Option<(MetricType, ValueUnit)>,
        expr: &Sp<String>,
        metric_name: &str,
    ) -> Option<Condition> {
        let parsed = match parse_expr(&expr.value) {
            Ok(p) => p,
            Err(e) => {
                let span = self.inner_span(expr.span, e.offset, 1);
                self.cx.error_help(span, e.message, e.help);
                return None;
            }
        };
        if let Some((kind, unit)) = metric_kind {
            let allowed: &[&str] = match kind {
                MetricType::Counter => &["count", "rate"],
                MetricType::Gauge => &["value"],
                MetricType::Rate => &["rate", "count"],
                MetricType::Trend => &["avg", "min", "med", "max", "p(N)", "count"],
            };
            let ok = match (kind, parsed.aggregation) {
                (MetricType::Counter, Aggregation::Count | Aggregation::Rate) => true,
                (MetricType::Gauge, Aggregation::Value) => true,
                (MetricType::Rate, Aggregation::Rate | Aggregation::Count) => true,
                (MetricType::Trend, Aggregation::Rate | Aggregation::Value) => false,
                (MetricType::Trend, _) => true,
                _ => false,
            };
            if !ok {
                self.cx.error_help(
                    expr.span,
                    format!(
                        "`{}` does not apply to {metric_name}, a {kind:?} metric",
                        parsed.aggregation
                    )
                    .to_lowercase(),
                    format!("{metric_name} takes: {}", allowed.join(", ")),
                );
                return None;
            }
            let unit_ok = match parsed.unit {
                WrittenUnit::None => true,
                WrittenUnit::Duration => {
                    unit == ValueUnit::Time && parsed.aggregation != Aggregation::Count
                }
                WrittenUnit::Percent => {
                    kind == MetricType::Rate && parsed.aggregation == Aggregation::Rate
                }
                WrittenUnit::PerTime => {
                    kind == MetricType::Counter && parsed.aggregation == Aggregation::Rate
                }
                WrittenUnit::Bytes => unit == ValueUnit::Bytes,
            };
            if !unit_ok {
                self.cx.error_help(expr.span, format!("the unit in `{}` does not fit {metric_name}", expr.value), "durations (ms, s) go with time trends, % with rate metrics, /s with counter rates, KB/MB with byte counters");
                return None;
            }
            if kind == MetricType::Rate
                && parsed.aggregation == Aggregation::Rate
                && parsed.unit == WrittenUnit::None
                && parsed.value > 1.0
            {
                self.cx.push(Diagnostic::warning(expr.span, format!("rate of {metric_name} is a ratio from 0 to 1; `{}` can never fail or never pass", expr.value)).with_help(format!("write `{}%` or a value from 0 to 1", parsed.value)));
            }
        }
        Some(Condition {
            aggregation: parsed.aggregation,
            cmp: parsed.cmp,
            value: parsed.value,
            text: expr.value.trim().to_owned(),
        })
    }

    /// Resolve a metric selector: known metric, its kind, tag sanity.
    fn selector(
        &mut self,
        key: &Sp<String>,
    ) -> Option<(
        crate::threshold::MetricSelector,
        Option<(MetricType, ValueUnit)>,
    )> {
        let (sel, at) = match parse_selector_at(&key.value) {
            Ok(s) => s,
            Err(e) => {
                let span = self.inner_span(key.span, e.offset, 1);
                self.cx.error_help(span, e.message, e.help);
                return None;
            }
        };
        self.check_selector_tags(key, &sel, &at);
        let kind = catalog::builtin(&sel.metric)
            .map(|m| (m.kind, m.unit))
            .or_else(|| {
                self.custom_metrics
                    .iter()
                    .find(|c| c.name == sel.metric)
                    .map(|c| (c.kind, c.unit))
            });
        if kind.is_none() {
            let mut names: Vec<&str> = catalog::BUILTIN_METRICS.iter().map(|m| m.name).collect();
            names.extend(self.custom_metrics.iter().map(|c| c.name.as_str()));
            let help = match did_you_mean(&sel.metric, names.iter().copied()) {
                Some(h) => format!("did you mean `{h}`?"),
                None => "metrics: http_req_duration, http_req_failed, http_reqs, checks, iterations, iteration_duration, ... (see docs/metrics.md); polling steps define their own".to_owned(),
            };
            let span = self.inner_span(key.span, 0, sel.metric.len());
            self.cx
                .error_help(span, format!("unknown metric `{}`", sel.metric), help);
            return None;
        }
        Some((sel, kind))
    }

    /// Tag keys a selector names must be system tags or tags the plan sets;
    /// values of `name`, `group`, `scenario` and `error_code` must be ones
    /// the plan (or the engine) produces. Otherwise the threshold would only
    /// ever see "no data", which hides a misspelling.
    fn check_selector_tags(&mut self, key: &Sp<String>, sel: &MetricSelector, at: &[TagAt]) {
        let user_keys: BTreeSet<&str> = self.tags.user.iter().map(|(k, _)| k.as_str()).collect();
        let mut found = Vec::new();
        for ((k, v), at) in sel.tags.iter().zip(at) {
            let key_span = self.inner_span(key.span, at.key, k.len());
            let value_span = self.inner_span(key.span, at.value, v.len());
            if !catalog::SYSTEM_TAGS.contains(&k.as_str()) && !user_keys.contains(k.as_str()) {
                if self.tags.replaced.tag_keys.contains(k) {
                    found.push(
                        Diagnostic::warning(
                            key_span,
                            format!(
                                "tag `{k}` is set only by scenarios the command-line flags replace"
                            ),
                        )
                        .with_help("this threshold will have no data in this run"),
                    );
                    continue;
                }
                let mut candidates: Vec<&str> = catalog::SYSTEM_TAGS.to_vec();
                candidates.extend(user_keys.iter().copied());
                let help = match did_you_mean(k, candidates) {
                    Some(h) => format!("did you mean `{h}`?"),
                    None if user_keys.is_empty() => format!(
                        "system tags: {}; a plan adds its own with `tags:` on a scenario, operation or request",
                        catalog::SYSTEM_TAGS.join(", ")
                    ),
                    None => format!(
                        "system tags: {}; this plan's own: {}",
                        catalog::SYSTEM_TAGS.join(", "),
                        user_keys.iter().copied().collect::<Vec<_>>().join(", ")
                    ),
                };
                found.push(
                    Diagnostic::error(key_span, format!("unknown tag `{k}`")).with_help(help),
                );
                continue;
            }
            let Some(tag) = ClosedTag::of(k) else {
                continue;
            };
            if tag != ClosedTag::ErrorCode && !self.tags.workload_read {
                continue;
            }
            let mut known: Vec<&str> = match tag {
                ClosedTag::Name => self.tags.steps.iter().map(String::as_str).collect(),
                ClosedTag::Group => self.tags.groups.iter().map(String::as_str).collect(),
                ClosedTag::Scenario => self.tags.scenarios.iter().map(String::as_str).collect(),
                ClosedTag::ErrorCode => catalog::ERROR_CODES.to_vec(),
            };
            // A plan's own `tags:` may set a system tag (k6 scripts often set `name`).
            known.extend(
                self.tags
                    .user
                    .iter()
                    .filter(|(uk, _)| uk == tag.key())
                    .map(|(_, uv)| uv.as_str()),
            );
            if known.contains(&v.as_str()) {
                continue;
            }
            if tag == ClosedTag::Scenario && self.tags.replaced.names.contains(v) {
                found.push(
                    Diagnostic::warning(
                        value_span,
                        format!("scenario `{v}` is replaced by the command-line flags"),
                    )
                    .with_help("the flags run one scenario named `default`: this threshold will have no data in this run"),
                );
                continue;
            }
            let (message, listed) = match tag {
                ClosedTag::Name => (format!("no step is named `{v}`"), "step names"),
                ClosedTag::Group => (format!("no operation is named `{v}`"), "operations"),
                ClosedTag::Scenario => (format!("no scenario is named `{v}`"), "scenarios"),
                ClosedTag::ErrorCode => (format!("unknown error code `{v}`"), "error codes"),
            };
            let k6_group = v
                .strip_prefix("::")
                .filter(|g| tag == ClosedTag::Group && known.contains(g));
            let help = if let Some(g) = k6_group {
                format!(
                    "gauntlet's `group` tag is the operation name without k6's `::`: write `group:{g}`"
                )
            } else if let Some(h) = did_you_mean(v, known.iter().copied()) {
                format!("did you mean `{h}`?")
            } else if tag == ClosedTag::ErrorCode && v.parse::<u32>().is_ok() {
                "error codes are names, not k6's numbers: e.g. `request_timeout` (see docs/metrics.md#tags)".to_owned()
            } else {
                let mut listed_once = BTreeSet::new();
                let mut names: Vec<&str> = known.clone();
                names.retain(|n| listed_once.insert(*n));
                let more = names.len() > 12;
                names.truncate(12);
                format!(
                    "{listed}: {}{}",
                    names.join(", "),
                    if more { ", …" } else { "" }
                )
            };
            found.push(Diagnostic::error(value_span, message).with_help(help));
        }
        for d in found {
            self.cx.push(d);
        }
    }

    fn slas(&mut self, node: &Node) -> Vec<(Sla, bool)> {
        let mut out = Vec::new();
        for n in seq(node, &mut self.cx, "sla") {
            let Some(mut f) = Fields::new(n, &mut self.cx, "SLA", SLA_KEYS) else {
                continue;
            };
            let cx = &mut self.cx;
            let name = f
                .require(
                    "name",
                    cx,
                    "a name for reports, e.g. `name: Create item p95 under 200ms`",
                )
                .and_then(|n| string(n, cx, "name"));
            let metric = f
                .require(
                    "metric",
                    cx,
                    "e.g. `metric: http_req_duration{name:create_item}`",
                )
                .and_then(|n| string(n, cx, "metric"));
            let objective = f
                .require("objective", cx, "e.g. `objective: p(95) < 200ms`")
                .and_then(|n| string(n, cx, "objective"));
            let limit = f.get("limit").and_then(|n| string(n, cx, "limit"));
            let priority = match f.get("priority").and_then(|n| string(n, cx, "priority")) {
                Some(p) => match p.value.as_str() {
                    "high" => Priority::High,
                    "medium" => Priority::Medium,
                    "low" => Priority::Low,
                    other => {
                        cx.error_help(
                            p.span,
                            format!("unknown priority `{other}`"),
                            "use high, medium or low",
                        );
                        Priority::High
                    }
                },
                None => Priority::High,
            };
            let abort = f
                .get("abortOnFail")
                .and_then(|n| boolean(n, cx, "abortOnFail"))
                .map(|b| b.value)
                .unwrap_or(false);
            f.finish(cx);
            let Some(metric) = metric else { continue };
            let Some((sel, kind)) = self.selector(&metric) else {
                continue;
            };
            let objective = objective.and_then(|o| self.condition_for(kind, &o, &sel.metric));
            let limit_c = limit
                .as_ref()
                .and_then(|l| self.condition_for(kind, l, &sel.metric));
            if let (Some(o), Some(l), Some(ls)) = (&objective, &limit_c, &limit)
                && (o.aggregation != l.aggregation || o.cmp != l.cmp)
            {
                self.cx.error_help(
                    ls.span,
                    "`limit` must use the same aggregation and operator as `objective`",
                    format!(
                        "e.g. objective `{}` with limit `{} {} <looser value>`",
                        o.text,
                        o.aggregation,
                        o.cmp.as_str()
                    ),
                );
            }
            if let (Some(name), Some(objective)) = (name, objective) {
                out.push((
                    Sla {
                        name: name.value,
                        metric: sel,
                        objective,
                        limit: limit_c,
                        priority,
                    },
                    abort,
                ));
            }
        }
        out
    }

    fn thresholds(&mut self, node: &Node) -> Vec<Threshold> {
        let mut out = Vec::new();
        let entries = named_entries(node, &mut self.cx, "thresholds");
        for (k, v) in entries {
            let key = Sp::new(k.name.clone(), k.span);
            let Some((sel, kind)) = self.selector(&key) else {
                continue;
            };
            let items: Vec<&Node> = match &v.kind {
                NodeKind::Seq(items) => items.iter().collect(),
                _ => vec![v],
            };
            for item in items {
                let (expr, abort, delay) = match &item.kind {
                    NodeKind::Str(s) => (Sp::new(s.clone(), item.span), false, Duration::ZERO),
                    NodeKind::Map(_) => {
                        let Some(mut f) =
                            Fields::new(item, &mut self.cx, "threshold", THRESHOLD_KEYS)
                        else {
                            continue;
                        };
                        let cx = &mut self.cx;
                        let e = f
                            .require("threshold", cx, "e.g. `threshold: p(95) < 200ms`")
                            .and_then(|n| string(n, cx, "threshold"));
                        let abort = f
                            .get("abortOnFail")
                            .and_then(|n| boolean(n, cx, "abortOnFail"))
                            .map(|b| b.value)
                            .unwrap_or(false);
                        let delay = f
                            .get("delayAbortEval")
                            .and_then(|n| dur(n, cx, "delayAbortEval"))
                            .unwrap_or_default();
                        f.finish(cx);
                        let Some(e) = e else { continue };
                        (e, abort, delay)
                    }
                    _ => {
                        self.cx.type_error(
                            item,
                            &k.name,
                            "a threshold string like `p(95) < 200ms` or a list of them",
                        );
                        continue;
                    }
                };
                if let Some(condition) = self.condition_for(kind, &expr, &sel.metric) {
                    out.push(Threshold {
                        metric: sel.clone(),
                        condition,
                        abort_on_fail: abort,
                        delay_abort_eval: delay,
                        origin: ThresholdOrigin::Thresholds,
                    });
                }
            }
        }
        out
    }
}

fn collect_request_templates<'a>(r: &'a Request, out: &mut Vec<&'a str>) {
    out.push(&r.url.source);
    out.extend(r.headers.iter().map(|h| h.1.source.as_str()));
    out.extend(r.query.iter().map(|h| h.1.source.as_str()));
    match &r.body {
        Body::Raw(t) => out.push(&t.source),
        Body::Form(f) => out.extend(f.iter().map(|h| h.1.source.as_str())),
        Body::Multipart(p) => out.extend(
            p.iter()
                .filter_map(|p| p.value.as_ref().map(|v| v.source.as_str())),
        ),
        _ => {}
    }
}

fn collect_check_templates(c: &Check, out: &mut Vec<String>) {
    match &c.kind {
        CheckKind::BodyContains(t) | CheckKind::HeaderEquals(_, t) => out.push(t.source.clone()),
        CheckKind::JsonPathEquals(_, v) => collect_json_strings(v, out),
        _ => {}
    }
}

fn collect_json_strings(v: &serde_json::Value, out: &mut Vec<String>) {
    match v {
        serde_json::Value::String(s) => out.push(s.clone()),
        serde_json::Value::Array(a) => a.iter().for_each(|x| collect_json_strings(x, out)),
        serde_json::Value::Object(o) => o.values().for_each(|x| collect_json_strings(x, out)),
        _ => {}
    }
}

/// A file the plan names must pass `check`, when the plan has a directory to
/// find it in; the error points at the path.
fn check_file(
    cx: &mut Cx,
    base: Option<&Path>,
    path: &Sp<String>,
    check: impl FnOnce(&Path) -> Result<(), FileProblem>,
) {
    if let Some(base) = base
        && let Err(p) = check(&base.join(&path.value))
    {
        cx.error_help(path.span, p.message, p.help);
    }
}

/// Header names and values the HTTP client would refuse when the run starts.
fn check_headers(cx: &mut Cx, source: &str, headers: &[(Sp<String>, Sp<String>)]) {
    for (name, value) in headers {
        check_header_name(cx, source, name);
        check_header_value(cx, &name.value, value);
    }
}

/// A character as an error message names it.
fn describe_char(c: char) -> String {
    match c {
        ' ' => "a space".to_owned(),
        '\t' => "a tab".to_owned(),
        '\n' | '\r' => "a line break".to_owned(),
        c if c.is_control() => format!("the control character U+{:04X}", c as u32),
        c => format!("`{c}`"),
    }
}

/// A header name is an RFC 9110 token: letters, digits and ``!#$%&'*+-.^_`|~``.
fn check_header_name(cx: &mut Cx, source: &str, name: &Sp<String>) {
    let tchar = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
    let help = "header names are letters, digits and ! # $ % & ' * + - . ^ _ ` | ~ (an RFC 9110 token), e.g. `X-Request-Id`";
    if name.value.is_empty() {
        cx.error_help(name.span, "empty header name", help);
    } else if let Some((i, c)) = name.value.char_indices().find(|(_, c)| !tchar(*c)) {
        cx.error_help(
            span_in(source, name.span, i, c.len_utf8()),
            format!("header name `{}` contains {}", name.value, describe_char(c)),
            help,
        );
    }
}

/// A header value holds no control characters but tab (what the HTTP client accepts).
fn check_header_value(cx: &mut Cx, name: &str, value: &Sp<String>) {
    if let Some(c) = value
        .value
        .chars()
        .find(|c| c.is_ascii_control() && *c != '\t')
    {
        cx.error_help(
            value.span,
            format!("the value of header `{name}` contains {}", describe_char(c)),
            "a header value is one line without control characters; a YAML `|` or `>` block ends with a line break, a plain or quoted string does not",
        );
    }
}

/// A reference to a feeder's column in a template: where the reference
/// starts, where the column name starts, and the column.
struct ColumnRef {
    start: usize,
    column_at: usize,
    column: String,
}

/// Every `feeder.column` and `feeder['column']` inside the `{{ }}` and
/// `{% %}` of `text` (string literals skipped; `feeder.method(...)` calls are not columns).
fn column_refs(text: &str, feeder: &str) -> Vec<ColumnRef> {
    let mut out = Vec::new();
    let b = text.as_bytes();
    let mut i = 0;
    while let Some(o) = text[i..].find('{') {
        let open = i + o;
        let close = match b.get(open + 1) {
            Some(b'{') => "}}",
            Some(b'%') => "%}",
            _ => {
                i = open + 1;
                continue;
            }
        };
        let start = open + 2;
        let end = text[start..].find(close).map_or(b.len(), |e| start + e);
        column_refs_in(text, start, end, feeder, &mut out);
        i = end;
    }
    out
}

/// [`column_refs`] within one expression, `text[start..end]`.
fn column_refs_in(text: &str, start: usize, end: usize, feeder: &str, out: &mut Vec<ColumnRef>) {
    let b = text.as_bytes();
    let ident_end = |mut k: usize| {
        while k < end && (b[k].is_ascii_alphanumeric() || b[k] == b'_') {
            k += 1;
        }
        k
    };
    let skip_ws = |mut k: usize| {
        while k < end && b[k].is_ascii_whitespace() {
            k += 1;
        }
        k
    };
    let mut j = start;
    // The last byte before `j` that is not white space: `x.users` is not the feeder.
    let mut prev = b' ';
    while j < end {
        let c = b[j];
        if c == b'\'' || c == b'"' {
            let mut k = j + 1;
            while k < end && b[k] != c {
                k += if b[k] == b'\\' { 2 } else { 1 };
            }
            j = k + 1;
            prev = c;
            continue;
        }
        if c.is_ascii_digit() {
            j = ident_end(j);
            prev = b'0';
            continue;
        }
        if c.is_ascii_alphabetic() || c == b'_' {
            let e = ident_end(j);
            if &text[j..e] == feeder && prev != b'.' {
                let k = skip_ws(e);
                if k < end && b[k] == b'.' {
                    let cs = skip_ws(k + 1);
                    let ce = ident_end(cs);
                    let call = skip_ws(ce) < end && b[skip_ws(ce)] == b'(';
                    if ce > cs && !call {
                        out.push(ColumnRef {
                            start: j,
                            column_at: cs,
                            column: text[cs..ce].to_owned(),
                        });
                    }
                } else if k < end && b[k] == b'[' {
                    let q = skip_ws(k + 1);
                    if q < end && (b[q] == b'\'' || b[q] == b'"') {
                        let quote = b[q] as char;
                        if let Some(len) = text[q + 1..end].find(quote) {
                            let (cs, ce) = (q + 1, q + 1 + len);
                            let closing = skip_ws(ce + 1);
                            if closing < end && b[closing] == b']' {
                                out.push(ColumnRef {
                                    start: j,
                                    column_at: cs,
                                    column: text[cs..ce].to_owned(),
                                });
                            }
                        }
                    }
                }
            }
            prev = b[e - 1];
            j = e;
            continue;
        }
        if !c.is_ascii_whitespace() {
            prev = c;
        }
        j += 1;
    }
}

/// Offset of `var` used as a whole word inside an expression in `text`.
fn find_var(text: &str, var: &str) -> Option<usize> {
    let bytes = text.as_bytes();
    let mut from = 0;
    while let Some(i) = text[from..].find(var) {
        let at = from + i;
        let before_ok = at == 0
            || !(bytes[at - 1].is_ascii_alphanumeric()
                || bytes[at - 1] == b'_'
                || bytes[at - 1] == b'.');
        let end = at + var.len();
        let after_ok =
            end >= bytes.len() || !(bytes[end].is_ascii_alphanumeric() || bytes[end] == b'_');
        let inside_expr = text[..at]
            .rfind("{{")
            .is_some_and(|o| text[..at].rfind("}}").is_none_or(|c| c < o))
            || text[..at]
                .rfind("{%")
                .is_some_and(|o| text[..at].rfind("%}").is_none_or(|c| c < o));
        if before_ok && after_ok && inside_expr {
            return Some(at);
        }
        from = end;
    }
    None
}

/// The demo's latency forms: `none`, `5ms`, `2ms..8ms`, `lognormal:MEDIAN:P99`.
fn check_latency(s: &str) -> Result<(), String> {
    let s = s.trim();
    if s == "none" || s == "0" {
        return Ok(());
    }
    if let Some(rest) = s.strip_prefix("lognormal:") {
        let (m, p) = rest.split_once(':').ok_or("lognormal needs MEDIAN:P99")?;
        let (m, p) = (parse_duration(m)?, parse_duration(p)?);
        return if m.is_zero() || p < m {
            Err("lognormal needs 0 < median <= p99".into())
        } else {
            Ok(())
        };
    }
    if let Some((a, b)) = s.split_once("..") {
        return if parse_duration(a)? <= parse_duration(b)? {
            Ok(())
        } else {
            Err("the range's lower bound is above its upper bound".into())
        };
    }
    parse_duration(s).map(|_| ())
}

fn parse_status_range(s: &str) -> Option<(u16, u16)> {
    let s = s.trim();
    let (a, b) = match s.split_once('-') {
        Some((a, b)) => (a.trim().parse().ok()?, b.trim().parse().ok()?),
        None => {
            let v: u16 = s.parse().ok()?;
            (v, v)
        }
    };
    ((100..=599).contains(&a) && (100..=599).contains(&b) && a <= b).then_some((a, b))
}

fn check_identifier(cx: &mut Cx, name: &str, span: Span, what: &str) {
    let ok = !name.is_empty()
        && name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if !ok {
        cx.error_help(
            span,
            format!("{what} name `{name}` is not a valid identifier"),
            "use letters, digits, `_` and `-`, starting with a letter",
        );
    } else if what == "capture" || what == "data feeder" {
        if name.contains('-') {
            cx.error_help(
                span,
                format!("{what} name `{name}` contains `-`"),
                "templates read `-` as minus: use `_` instead",
            );
        }
        if TEMPLATE_GLOBALS.contains(&name) {
            cx.error_help(
                span,
                format!("{what} name `{name}` shadows a built-in template name"),
                "choose another name",
            );
        }
    }
}

fn check_regex(cx: &mut Cx, s: &Sp<String>) {
    if let Err(e) = regex_syntax::Parser::new().parse(&s.value) {
        cx.error_help(
            s.span,
            format!(
                "invalid regular expression: {}",
                e.to_string()
                    .lines()
                    .last()
                    .unwrap_or("syntax error")
                    .trim()
            ),
            "regular expressions use Rust `regex` syntax",
        );
    }
}

fn check_json_path(cx: &mut Cx, p: &Sp<String>) {
    if !p.value.starts_with('$') {
        cx.error_help(
            p.span,
            format!("JSON path `{}` must start with `$`", p.value),
            "e.g. `$.id` or `$.items[0].id`",
        );
    }
}

fn sanitize_metric(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect()
}

fn default_check_name(kind: &CheckKind) -> String {
    match kind {
        CheckKind::Status(s) if s.len() == 1 => format!("status is {}", s[0]),
        CheckKind::Status(s) => format!(
            "status in {}",
            s.iter()
                .map(|c| c.to_string())
                .collect::<Vec<_>>()
                .join("|")
        ),
        CheckKind::BodyContains(t) => format!("body contains {}", t.source),
        CheckKind::BodyMatches(r) => format!("body matches /{r}/"),
        CheckKind::JsonPathExists(p, true) => format!("{p} exists"),
        CheckKind::JsonPathExists(p, false) => format!("{p} absent"),
        CheckKind::JsonPathEquals(p, v) => format!(
            "{p} == {}",
            match v {
                serde_json::Value::String(s) => s.clone(),
                o => o.to_string(),
            }
        ),
        CheckKind::HeaderExists(h, true) => format!("header {h} present"),
        CheckKind::HeaderExists(h, false) => format!("header {h} absent"),
        CheckKind::HeaderEquals(h, v) => format!("header {h} == {}", v.source),
        CheckKind::HeaderMatches(h, r) => format!("header {h} matches /{r}/"),
        CheckKind::DurationBelow(d) => {
            format!("duration < {}", crate::duration::format_duration(*d))
        }
    }
}

// ---------------------------------------------------------------- custom metrics and auth
/// How a diagnostic names a metric's kind: `a counter`, `a time trend`.
fn kind_phrase(kind: MetricType, unit: ValueUnit) -> &'static str {
    match (kind, unit) {
        (MetricType::Counter, _) => "a counter",
        (MetricType::Gauge, _) => "a gauge",
        (MetricType::Rate, _) => "a rate",
        (MetricType::Trend, ValueUnit::Time) => "a time trend",
        _ => "a trend",
    }
}

const METRIC_TYPES: [&str; 4] = ["counter", "gauge", "rate", "trend"];

impl Validator<'_> {
    /// `metrics:`: the plan's own metrics (k6's `k6/metrics`), each a name
    /// and a type (`counter`, `gauge`, `rate`, `trend`) or `{type: trend,
    /// time: true}` for a trend of milliseconds.
    fn metrics_section(&mut self, node: &Node) {
        for (k, n) in named_entries(node, &mut self.cx, "metrics") {
            let cx = &mut self.cx;
            if k.name.is_empty()
                || !k
                    .name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_')
            {
                cx.error_help(
                    k.span,
                    format!("`{}` is not a metric name", k.name),
                    "use letters, digits and `_`, e.g. `items_returned`",
                );
                continue;
            }
            if catalog::builtin(&k.name).is_some() {
                cx.error_help(
                    k.span,
                    format!("`{}` is a built-in metric", k.name),
                    "choose another name for the plan's own metric",
                );
                continue;
            }
            let (ty, time) = match &n.kind {
                NodeKind::Str(s) => (Some(Sp::new(s.clone(), n.span)), None),
                NodeKind::Map(_) => {
                    let Some(mut f) = Fields::new(n, cx, "metric", METRIC_KEYS) else {
                        continue;
                    };
                    let ty = f
                        .require("type", cx, "one of counter, gauge, rate, trend")
                        .and_then(|n| string(n, cx, "type"));
                    let time = f.get("time").and_then(|n| boolean(n, cx, "time"));
                    f.finish(cx);
                    (ty, time)
                }
                _ => {
                    cx.type_error(
                        n,
                        &format!("metrics.{}", k.name),
                        "a type (`counter`, `gauge`, `rate`, `trend`) or `{type: trend, time: true}`",
                    );
                    continue;
                }
            };
            let Some(ty) = ty else { continue };
            let kind = match ty.value.as_str() {
                "counter" => MetricType::Counter,
                "gauge" => MetricType::Gauge,
                "rate" => MetricType::Rate,
                "trend" => MetricType::Trend,
                other => {
                    let help = match did_you_mean(other, METRIC_TYPES) {
                        Some(h) => format!("did you mean `{h}`?"),
                        None => "use counter, gauge, rate or trend".to_owned(),
                    };
                    cx.error_help(ty.span, format!("unknown metric type `{other}`"), help);
                    continue;
                }
            };
            let time = match time {
                Some(t) if t.value && kind != MetricType::Trend => {
                    cx.error_help(
                        t.span,
                        "`time` applies to trends only",
                        "write `{type: trend, time: true}` for a trend of milliseconds",
                    );
                    false
                }
                Some(t) => t.value,
                None => false,
            };
            if self.custom_metrics.iter().any(|c| c.name == k.name) {
                continue; // a duplicate key, already reported by the parser
            }
            self.custom_metrics.push(CustomMetric {
                name: k.name.clone(),
                kind,
                unit: if time {
                    ValueUnit::Time
                } else {
                    ValueUnit::Count
                },
            });
            // `metric_errors{metric:<name>}` is a selector worth checking.
            self.tags.user.push(("metric".to_owned(), k.name.clone()));
        }
    }

    /// A step's `metrics:`: a list of `{metric: name, <source>, tags}`,
    /// where the source is one of `jsonPath`, `header`, `timing` or `value`.
    fn metric_adds(&mut self, node: &Node) -> Vec<MetricAdd> {
        let mut out = Vec::new();
        let items: Vec<&Node> = match &node.kind {
            NodeKind::Seq(v) => v.iter().collect(),
            NodeKind::Map(_) => vec![node],
            _ => {
                self.cx
                    .type_error(node, "metrics", "a list of `{metric: name, jsonPath: $.x}`");
                return out;
            }
        };
        for n in items {
            let source_text = self.source;
            let cx = &mut self.cx;
            let Some(mut f) = Fields::new(n, cx, "step metric", METRIC_ADD_KEYS) else {
                continue;
            };
            let metric = f
                .require(
                    "metric",
                    cx,
                    "the name of a metric declared under the plan's `metrics:`",
                )
                .and_then(|n| string(n, cx, "metric"));
            let present: Vec<&str> = ["jsonPath", "header", "timing", "value"]
                .into_iter()
                .filter(|k| f.has(k))
                .collect();
            let source = if present.len() != 1 {
                cx.error_help(
                    f.span,
                    if present.is_empty() {
                        "a step metric needs one of jsonPath, header, timing, value".to_owned()
                    } else {
                        format!(
                            "a step metric takes one value, found {}",
                            present.join(" and ")
                        )
                    },
                    "e.g. `- {metric: items_returned, jsonPath: $.count}`",
                );
                None
            } else {
                match present[0] {
                    "jsonPath" => f
                        .get("jsonPath")
                        .and_then(|n| string(n, cx, "jsonPath"))
                        .map(|p| {
                            check_json_path(cx, &p);
                            ValueSource::JsonPath(p.value)
                        }),
                    "header" => f
                        .get("header")
                        .and_then(|n| string(n, cx, "header"))
                        .map(|h| {
                            check_header_name(cx, source_text, &h);
                            ValueSource::Header(h.value)
                        }),
                    "timing" => f
                        .get("timing")
                        .and_then(|n| string(n, cx, "timing"))
                        .and_then(|t| match Timing::ALL.iter().find(|(_, s)| *s == t.value) {
                            Some((timing, _)) => Some(ValueSource::Timing(*timing)),
                            None => {
                                let names = Timing::ALL.iter().map(|(_, s)| *s);
                                let help = match did_you_mean(&t.value, names.clone()) {
                                    Some(h) => format!("did you mean `{h}`?"),
                                    None => format!(
                                        "use one of {}",
                                        names.collect::<Vec<_>>().join(", ")
                                    ),
                                };
                                cx.error_help(
                                    t.span,
                                    format!("unknown timing `{}`", t.value),
                                    help,
                                );
                                None
                            }
                        }),
                    _ => f
                        .get("value")
                        .and_then(|n| text(n, cx, "value"))
                        .map(|v| ValueSource::Value(Template::new(v.value))),
                }
            };
            let tags = f
                .get("tags")
                .map(|n| string_map(n, cx, "tags"))
                .unwrap_or_default();
            f.finish(cx);
            let Some(metric) = metric else { continue };
            if !self.custom_metrics.iter().any(|c| c.name == metric.value) {
                let declared: Vec<&str> = self
                    .custom_metrics
                    .iter()
                    .map(|c| c.name.as_str())
                    .collect();
                let help = if catalog::builtin(&metric.value).is_some() {
                    format!(
                        "`{}` is a built-in metric, which only gauntlet records; declare a metric of your own under `metrics:`",
                        metric.value
                    )
                } else {
                    match did_you_mean(&metric.value, declared.iter().copied()) {
                        Some(h) => format!("did you mean `{h}`?"),
                        None if declared.is_empty() => format!(
                            "declare it at the top of the plan: `metrics: {{{}: counter}}` (or gauge, rate, trend)",
                            metric.value
                        ),
                        None => format!("declared metrics: {}", declared.join(", ")),
                    }
                };
                self.cx.error_help(
                    metric.span,
                    format!("metric `{}` is not declared under `metrics:`", metric.value),
                    help,
                );
                continue;
            }
            self.tags
                .user
                .extend(tags.iter().map(|(k, v)| (k.value.clone(), v.value.clone())));
            if let Some(source) = source {
                out.push(MetricAdd {
                    metric: metric.value,
                    source,
                    tags: tags.into_iter().map(|(k, v)| (k.value, v.value)).collect(),
                });
            }
        }
        out
    }
}

/// `auth:` of a target or a request, as the `Authorization` header it
/// sends: `{bearer: token}` or `{basic: {username, password}}`; values may
/// be templates (`{{ env.TOKEN }}`). A static basic pair is encoded once
/// here; a templated one is encoded per request by the engine's
/// `b64encode` filter.
fn add_auth(cx: &mut Cx, node: &Node, headers: &mut Vec<(Sp<String>, Sp<String>)>) {
    let Some(mut f) = Fields::new(node, cx, "auth", AUTH_KEYS) else {
        return;
    };
    let value = match (f.get("basic"), f.get("bearer")) {
        (Some(b), None) => {
            let Some(mut bf) = Fields::new(b, cx, "basic auth", BASIC_KEYS) else {
                f.finish(cx);
                return;
            };
            let user = bf
                .require("username", cx, "e.g. `username: admin`")
                .and_then(|n| text(n, cx, "username"));
            let pass = bf
                .require("password", cx, "e.g. `password: \"{{ env.PASSWORD }}\"`")
                .and_then(|n| text(n, cx, "password"));
            bf.finish(cx);
            let (Some(user), Some(pass)) = (user, pass) else {
                f.finish(cx);
                return;
            };
            if user.value.contains(':') && !user.value.contains("{{") {
                cx.error_help(
                    user.span,
                    "a basic-auth user name cannot contain `:`",
                    "the `:` separates the user name from the password (RFC 7617)",
                );
            }
            let templated = |s: &str| s.contains("{{") || s.contains("{%");
            let v = if templated(&user.value) || templated(&pass.value) {
                format!(
                    "Basic {{% filter b64encode %}}{}:{}{{% endfilter %}}",
                    user.value, pass.value
                )
            } else {
                use base64::Engine as _;
                format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD
                        .encode(format!("{}:{}", user.value, pass.value))
                )
            };
            Some(v)
        }
        (None, Some(t)) => text(t, cx, "bearer").map(|t| format!("Bearer {}", t.value)),
        (Some(_), Some(_)) => {
            cx.error_help(
                f.span,
                "`auth` is either `basic` or `bearer`, not both",
                "keep one of them",
            );
            None
        }
        (None, None) => {
            cx.error_help(
                f.span,
                "`auth` needs `basic` or `bearer`",
                "e.g. `auth: {bearer: \"{{ env.TOKEN }}\"}` or `auth: {basic: {username: admin, password: \"{{ env.PASSWORD }}\"}}`",
            );
            None
        }
    };
    f.finish(cx);
    let Some(value) = value else { return };
    if headers
        .iter()
        .any(|(k, _)| k.value.eq_ignore_ascii_case("authorization"))
    {
        cx.error_help(
            node.span,
            "`auth` and an `Authorization` header both set the same header",
            "keep one of them",
        );
        return;
    }
    headers.push((
        Sp::new("Authorization".to_owned(), node.span),
        Sp::new(value, node.span),
    ));
}

#[cfg(test)]
mod tests {
    use super::column_refs;

    fn columns(text: &str) -> Vec<String> {
        column_refs(text, "users")
            .into_iter()
            .map(|r| r.column)
            .collect()
    }

    #[test]
    fn column_references_are_found_in_expressions_only() {
        assert_eq!(
            columns("users.a {{ users.b }} {{ users [ 'c' ] ~ users[\"d\"] | upper }}"),
            ["b", "c", "d"]
        );
        assert_eq!(
            columns("{% if users.e %}{{ users . f }}{% endif %}"),
            ["e", "f"]
        );
        // Strings, other objects' attributes and method calls are not columns.
        assert!(columns("{{ 'users.x' ~ setup.users.y ~ users.get('z') ~ myusers.w }}").is_empty());
    }
}
