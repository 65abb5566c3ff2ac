//! From the spanned YAML tree to a validated [`Plan`], collecting every error.
//!
//! The spanned [`Node`] tree is the raw, parse-level representation (every
//! value keeps its line and column); this module is the only place that turns
//! it into the typed [`Plan`]. It reads each mapping through [`Fields`], so
//! unknown keys are reported with a did-you-mean, and it never stops at the
//! first problem. Checks that need the whole plan (a threshold naming a
//! metric, `exec` naming an operation, a template naming a capture) run after
//! the parts they refer to have been read.
//!
//! Each section of the plan has a file of its own, an `impl Validator` block
//! with that section's accepted keys beside it (`target`, `data`, `workload`,
//! `request`, `checks`, `templates`, `scenarios`, `thresholds`, `metrics`,
//! `auth`, `options`). This file holds the validator's state, the plan's top
//! level, [`OBJECT_KEYS`] and the small readers every section shares.

mod auth;
mod checks;
mod data;
mod metrics;
mod options;
mod request;
mod scenarios;
mod target;
mod templates;
mod thresholds;
mod workload;

use crate::decode::{Diagnostics, Fields, Located, int, string, text};
use crate::diagnostic::Span;
use crate::duration::{DurationError, parse_duration};
use crate::files::FileProblem;
use crate::node::Node;
use crate::plan::*;
use crate::schedule::Executor;
use auth::{AUTH_KEYS, BASIC_KEYS};
use checks::{CAPTURE_KEYS, CHECK_KEYS};
use data::{FEEDER_KEYS, FeederColumns};
use metrics::{METRIC_ADD_KEYS, METRIC_KEYS};
use options::OPTIONS_KEYS;
use request::{PART_KEYS, POLL_KEYS, REQUEST_KEYS};
use scenarios::{SCENARIO_KEYS, STAGE_KEYS};
use std::path::{Path, PathBuf};
use std::time::Duration;
use target::{CLIENT_CERT_KEYS, DEMO_KEYS, HTTP_KEYS, STALL_KEYS, TARGET_KEYS, TLS_KEYS};
use templates::TEMPLATE_GLOBALS;
pub(crate) use thresholds::Replaced;
use thresholds::{KnownTags, SLA_KEYS, THRESHOLD_KEYS};
use workload::{OPERATION_KEYS, STEP_KEYS, WORKLOAD_KEYS};

/// The keys of the plan's top level.
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

/// Every object type of the plan and its keys, by JSON Schema definition name
/// (a test checks them against `schema/plan.v1.json`).
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

/// Reads one plan's node tree into a [`Plan`], collecting every problem in
/// [`Diagnostics`]; each section's reading is in the file named after it.
pub(crate) struct Validator<'s> {
    pub(crate) diags: Diagnostics,
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

/// A duration as plans write it (`30s`); a bare number gets a hint to add a unit.
fn read_duration(node: &Node, diags: &mut Diagnostics, what: &str) -> Option<Duration> {
    let t = match node.scalar_text() {
        Some(t) => t,
        None => {
            diags.type_error(node, what, "a duration such as `30s`");
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
            diags.error_help(node.span, format!("`{what}`: {e}"), help);
            None
        }
    }
}

fn non_negative(v: Located<i64>, diags: &mut Diagnostics, what: &str) -> Option<u64> {
    if v.value < 0 {
        diags.error_help(
            v.span,
            format!("`{what}` is {}; it cannot be negative", v.value),
            "use 0 or more",
        );
        None
    } else {
        Some(v.value as u64)
    }
}

fn positive(v: Located<i64>, diags: &mut Diagnostics, what: &str) -> Option<u64> {
    if v.value <= 0 {
        diags.error_help(
            v.span,
            format!("`{what}` is {}; it must be at least 1", v.value),
            "use 1 or more",
        );
        None
    } else {
        Some(v.value as u64)
    }
}

/// Why a form built of durations (a think time, a demo latency) is refused.
#[derive(Debug, thiserror::Error)]
enum DurationFormError {
    /// One of its durations.
    #[error(transparent)]
    Duration(#[from] DurationError),
    /// `a..b` with `a > b`.
    #[error("the range's lower bound is above its upper bound")]
    ReversedRange,
    /// `lognormal:` without two durations.
    #[error("lognormal needs MEDIAN:P99")]
    LognormalParts,
    /// `lognormal:MEDIAN:P99` with a zero median or `p99 < median`.
    #[error("lognormal needs 0 < median <= p99")]
    LognormalOrder,
}

/// Parse `1s`, `1s..3s`, `exp(2s)` into a think time.
fn think_time(node: &Node, diags: &mut Diagnostics, what: &str) -> Option<ThinkTime> {
    let t = text(node, diags, what)?.value;
    let t = t.trim();
    let help =
        "write `1s` (constant), `1s..3s` (uniform range) or `exp(2s)` (exponential with that mean)";
    let parse = |s: &str| parse_duration(s).map_err(DurationFormError::from);
    let result = if let Some((a, b)) = t.split_once("..") {
        match (parse(a), parse(b)) {
            (Ok(a), Ok(b)) if a <= b => Ok(ThinkTime::Uniform(a, b)),
            (Ok(_), Ok(_)) => Err(DurationFormError::ReversedRange),
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
            diags.error_help(node.span, format!("`{what}`: {e}"), help);
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
            diags: Diagnostics::default(),
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
    pub(super) fn inner_span(&self, outer: Span, offset: usize, len: usize) -> Span {
        span_in(self.source, outer, offset, len)
    }

    pub(crate) fn plan(&mut self, root: &Node, default_name: &str) -> Option<Plan> {
        let mut f = Fields::new(root, &mut self.diags, "plan", PLAN_KEYS)?;
        if let Some(v) = f.get("version")
            && let Some(v) = int(v, &mut self.diags, "version")
            && v.value != 1
        {
            self.diags.error_help(
                v.span,
                format!("plan format version {} is not supported", v.value),
                "this gauntlet reads `version: 1`",
            );
        }
        let name = f
            .get("name")
            .and_then(|n| string(n, &mut self.diags, "name"))
            .map(|s| s.value)
            .unwrap_or_else(|| default_name.to_owned());
        let description = f
            .get("description")
            .and_then(|n| string(n, &mut self.diags, "description"))
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
                self.diags.error_help(
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
        f.finish(&mut self.diags);
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
}

/// A file the plan names must pass `check`, when the plan has a directory to
/// find it in; the error points at the path.
fn check_file(
    diags: &mut Diagnostics,
    base: Option<&Path>,
    path: &Located<String>,
    check: impl FnOnce(&Path) -> Result<(), FileProblem>,
) {
    if let Some(base) = base
        && let Err(p) = check(&base.join(&path.value))
    {
        diags.error_help(path.span, p.message, p.help);
    }
}

fn check_identifier(diags: &mut Diagnostics, name: &str, span: Span, what: &str) {
    let ok = !name.is_empty()
        && name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if !ok {
        diags.error_help(
            span,
            format!("{what} name `{name}` is not a valid identifier"),
            "use letters, digits, `_` and `-`, starting with a letter",
        );
    } else if what == "capture" || what == "data feeder" {
        if name.contains('-') {
            diags.error_help(
                span,
                format!("{what} name `{name}` contains `-`"),
                "templates read `-` as minus: use `_` instead",
            );
        }
        if TEMPLATE_GLOBALS.contains(&name) {
            diags.error_help(
                span,
                format!("{what} name `{name}` shadows a built-in template name"),
                "choose another name",
            );
        }
    }
}
