//! What a report shows: the end-of-run numbers, already aggregated, plus the
//! verdict. Renderers only format this; they compute nothing.

use gauntlet_analysis::Verdict;
use gauntlet_metrics::{MetricKind, Unit};
use serde::Serialize;

/// Statistics of a trend (values in milliseconds for time trends).
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TrendStats {
    /// Samples.
    pub count: u64,
    /// Mean.
    pub avg: f64,
    /// Minimum.
    pub min: f64,
    /// Median.
    pub med: f64,
    /// Maximum.
    pub max: f64,
    /// Percentiles as (p, value), e.g. (90.0, 12.3).
    pub percentiles: Vec<(f64, f64)>,
}

impl TrendStats {
    /// The value of percentile `p` if the summary carries it.
    pub fn percentile(&self, p: f64) -> Option<f64> {
        self.percentiles
            .iter()
            .find(|(x, _)| (*x - p).abs() < 1e-9)
            .map(|(_, v)| *v)
    }
}

/// The aggregated value of one metric or sub-metric.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
#[non_exhaustive]
pub enum Values {
    /// Counter: total and per second.
    Counter {
        /// Total.
        count: f64,
        /// Per second over the run.
        rate: f64,
    },
    /// Gauge: last, min, max.
    Gauge {
        /// Last value.
        value: f64,
        /// Minimum.
        min: f64,
        /// Maximum.
        max: f64,
    },
    /// Rate: share of true samples.
    Rate {
        /// passes / (passes + fails).
        rate: f64,
        /// True samples.
        passes: u64,
        /// False samples.
        fails: u64,
    },
    /// Trend: the distribution. `raw` is set when latency measured from the
    /// actual send differs from latency measured from the intended start
    /// (coordinated omission); `stats` is then the corrected one.
    Trend {
        /// Corrected (or only) distribution.
        stats: TrendStats,
        /// Raw distribution when it differs.
        raw: Option<TrendStats>,
    },
}

/// One metric line of the summary.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MetricRow {
    /// Metric name.
    pub name: String,
    /// Tag filter for a sub-metric (`{expected_response:true}`), empty for the whole metric.
    pub tags: Vec<(String, String)>,
    /// k6 type.
    pub kind: MetricKind,
    /// Unit, written as the summary's values are in: `time` (milliseconds),
    /// `bytes` or `count`.
    #[serde(with = "summary_unit")]
    pub unit: Unit,
    /// Values.
    pub values: Values,
}

/// One check's totals. Keyed by operation, step and name, so the same
/// check (`status: 200`) on two steps stays two lines.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CheckRow {
    /// Check name.
    pub name: String,
    /// Operation (group) it belongs to.
    pub group: String,
    /// Step (the `name` tag) it ran on.
    pub step: String,
    /// Passes.
    pub passes: u64,
    /// Failures.
    pub fails: u64,
}

/// Per-operation (group) request figures, seed 002's per-operation SLA view.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OperationRow {
    /// Request name (step).
    pub name: String,
    /// Requests.
    pub requests: u64,
    /// Share failed.
    pub failed_rate: f64,
    /// Duration statistics (ms).
    pub duration: TrendStats,
}

/// Errors by kind.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorRow {
    /// `error_code` tag value (`connection_refused`, `http_500`, …).
    pub code: String,
    /// How many.
    pub count: u64,
}

/// A step that could not be built (a template that failed, a URL or header
/// that did not parse), once, with the first message: what a user needs to
/// fix the plan, where a per-failure log would repeat it thousands of times.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StepErrorRow {
    /// Operation (group), or `setup` / `teardown`.
    pub group: String,
    /// Step name.
    pub step: String,
    /// `error_code` (`template_error`, `invalid_url`, `invalid_header`).
    pub code: String,
    /// How many times (the `step_errors` count).
    pub count: u64,
    /// The first message (secrets redacted).
    pub message: String,
}

/// Per-scenario execution figures.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScenarioRow {
    /// Name.
    pub name: String,
    /// Executor.
    pub executor: String,
    /// Iterations completed.
    pub iterations: u64,
    /// Iterations interrupted at a hard deadline.
    pub interrupted: u64,
    /// Open-model iterations dropped for lack of a VU.
    pub dropped: u64,
    /// Most VUs allocated.
    pub vus_max: u64,
}

/// Everything the end-of-run summary shows.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    /// Plan name.
    pub plan: String,
    /// Target description.
    pub target: String,
    /// Wall-clock length of the run (ms).
    pub duration_ms: u64,
    /// Whether the run was cut short, and why.
    pub interrupted: Option<String>,
    /// Metric rows, in display order.
    pub metrics: Vec<MetricRow>,
    /// Checks.
    pub checks: Vec<CheckRow>,
    /// Requests per name.
    pub operations: Vec<OperationRow>,
    /// Errors by kind: requests (`error_code`, `http_NNN`) and steps that
    /// could not be built.
    pub errors: Vec<ErrorRow>,
    /// Steps that could not be built, each with its first message.
    pub step_errors: Vec<StepErrorRow>,
    /// Scenarios.
    pub scenarios: Vec<ScenarioRow>,
    /// Thresholds, SLAs, decision.
    pub verdict: Verdict,
    /// Trend statistics to show (k6 `summaryTrendStats`), as written (`p(95)`).
    pub trend_stats: Vec<String>,
}

impl Summary {
    /// How reports name a check: operation, then the step when another
    /// step of the operation has a check of the same name, then the check.
    pub fn check_path<'a>(&self, c: &'a CheckRow) -> Vec<&'a str> {
        let shared = self
            .checks
            .iter()
            .any(|o| o.group == c.group && o.name == c.name && o.step != c.step);
        let mut parts = Vec::with_capacity(3);
        if !c.group.is_empty() {
            parts.push(c.group.as_str());
        }
        if shared {
            parts.push(c.step.as_str());
        }
        parts.push(c.name.as_str());
        parts
    }

    /// The whole-metric row of `name`.
    pub fn metric(&self, name: &str) -> Option<&MetricRow> {
        self.metrics
            .iter()
            .find(|m| m.name == name && m.tags.is_empty())
    }
}

/// A summary row's unit as the result file spells it. Summaries hold
/// durations in milliseconds, so they name the dimension (`time`) where the
/// recorded series name their storage unit (`microseconds`); plain numbers
/// and counts both read `count`.
mod summary_unit {
    use gauntlet_metrics::Unit;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(unit: &Unit, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(match unit {
            Unit::Microseconds => "time",
            Unit::Bytes => "bytes",
            Unit::Count | Unit::None => "count",
        })
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Unit, D::Error> {
        match String::deserialize(d)?.as_str() {
            "time" => Ok(Unit::Microseconds),
            "bytes" => Ok(Unit::Bytes),
            "count" => Ok(Unit::Count),
            other => Err(serde::de::Error::unknown_variant(
                other,
                &["time", "bytes", "count"],
            )),
        }
    }
}
