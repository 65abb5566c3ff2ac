//! `--out html=FILE` and `gauntlet report RESULT.json --format html`: one
//! self-contained page a team can open offline, share and print.
//!
//! The page is rendered from the saved result document (the `--out json`
//! format, [`crate::json`]), never from live state, so the page written at
//! the end of a run and the one rendered again from its `result.json` are
//! the same bytes.
//!
//! # Format (spec)
//! * One HTML5 file, no external resource: the chart library (uPlot, from
//!   the npm registry at build time, see `build.rs`), its stylesheet, the
//!   page's own script and style are inlined. A `Content-Security-Policy`
//!   meta tag (`default-src 'none'`, inline script and style only, images
//!   from `data:` only) forbids any network access.
//! * Rendered by minijinja with HTML auto-escaping, so plan names, check
//!   names and error kinds cannot inject markup. The chart data
//!   ([`crate::series::TimeSeries`]) is embedded as JSON in
//!   `<script type="application/json" id="series-data">` through the
//!   `tojson` filter, which escapes `<`, `>`, `&` and `'`, so a `</script>`
//!   inside a user string cannot end the element.
//! * Sections, in order: verdict (GO / GO WITH CONDITIONS / NO-GO and its
//!   reasons), key figures, run metadata and scenarios, SLAs, thresholds,
//!   charts (throughput, latency percentiles, errors by kind, VUs and
//!   iterations, request phases), requests per name, checks, errors, and
//!   every metric of the summary.
//! * Stable hooks for tools and tests: the verdict is `#verdict`
//!   (`data-decision` = `go` | `go_with_conditions` | `no_go`); key figures
//!   are `#fig-<name>`; threshold rows carry `data-threshold="<index>"` and
//!   `data-passed`, their measured value is `.observed`; chart containers are
//!   `.chart` with `data-chart="<group>"`.
//! * Light and dark colours follow `prefers-color-scheme`; `@media print`
//!   drops interactive parts and keeps sections whole on a page.

use crate::model::{MetricRow, Summary, TrendStats, Values};
use crate::series::{self, TimeSeries};
use crate::terminal::{fmt_bytes, fmt_ms};
use gauntlet_analysis::{Decision, SlaStatus, ThresholdStatus};
use gauntlet_metrics::{MetricKind, Unit};
use gauntlet_metrics::{Registry, SerialTimeline, TagInterner, Timeline};
use serde::Serialize;
use serde_json::Value;

const TEMPLATE: &str = include_str!("../web/report.html");
const REPORT_JS: &str = include_str!("../web/report.js");
const REPORT_CSS: &str = include_str!("../web/report.css");
const UPLOT_JS: &str = include_str!(concat!(
    env!("OUT_DIR"),
    "/node_modules/uplot/dist/uPlot.iife.min.js"
));
const UPLOT_CSS: &str = include_str!(concat!(
    env!("OUT_DIR"),
    "/node_modules/uplot/dist/uPlot.min.css"
));
const UPLOT_LICENSE: &str = include_str!(concat!(env!("OUT_DIR"), "/node_modules/uplot/LICENSE"));

/// Rendering the HTML report failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HtmlError {
    /// A part of the result document is missing or malformed.
    #[error("the result's `{part}` is malformed: {source}")]
    Malformed {
        /// Which part (`summary`, `timeline`).
        part: &'static str,
        /// What serde said.
        source: serde_json::Error,
    },
    /// The timeline's histograms could not be read.
    #[error("the result's timeline: {0}")]
    Timeline(#[from] gauntlet_metrics::SerialError),
    /// The template failed (a bug: the template is compiled in).
    #[error("HTML template: {0}")]
    Template(#[from] minijinja::Error),
}

/// Render the report from a result document (what `--out json` writes).
pub fn render_result(doc: &Value) -> Result<String, HtmlError> {
    let summary: Summary =
        serde_json::from_value(doc["summary"].clone()).map_err(|source| HtmlError::Malformed {
            part: "summary",
            source,
        })?;
    let serial: SerialTimeline =
        serde_json::from_value(doc["timeline"].clone()).map_err(|source| HtmlError::Malformed {
            part: "timeline",
            source,
        })?;
    let mut registry = Registry::new();
    let interner = TagInterner::new();
    let timeline = serial.into_timeline(&mut registry, &interner)?;
    let meta = Meta {
        tool_version: doc["tool"]["version"].as_str().unwrap_or("").to_owned(),
        description: doc["plan"]["description"].as_str().map(str::to_owned),
        schema_version: doc["schemaVersion"].as_u64().unwrap_or(0),
    };
    render(&summary, &timeline, &registry, &interner, &meta)
}

/// What the page shows about the run besides the summary.
#[derive(Debug, Clone, Default)]
struct Meta {
    tool_version: String,
    description: Option<String>,
    schema_version: u64,
}

#[derive(Serialize)]
struct Figure {
    id: &'static str,
    label: &'static str,
    value: String,
    note: Option<String>,
}

#[derive(Serialize)]
struct ThresholdView {
    metric: String,
    expression: String,
    observed: String,
    passed: bool,
    /// `PASS`, `FAIL`, `NOT EVALUATED`.
    status: &'static str,
    /// Badge class: `pass`, `fail`, `notevaluated`.
    class: &'static str,
    abort_on_fail: bool,
    sla: bool,
}

#[derive(Serialize)]
struct SlaView {
    name: String,
    metric: String,
    objective: String,
    limit: Option<String>,
    observed: String,
    status: &'static str,
    class: &'static str,
    priority: String,
}

#[derive(Serialize)]
struct OperationView {
    name: String,
    requests: u64,
    failed: String,
    avg: String,
    med: String,
    p90: String,
    p95: String,
    p99: String,
    max: String,
}

#[derive(Serialize)]
struct CheckView {
    group: String,
    /// The check, after its step when another step of the operation has a
    /// check of the same name.
    name: String,
    passes: u64,
    fails: u64,
    rate: String,
}

#[derive(Serialize)]
struct StepErrorView {
    group: String,
    step: String,
    code: String,
    count: u64,
    message: String,
}

#[derive(Serialize)]
struct ErrorView {
    code: String,
    count: u64,
    share: String,
}

#[derive(Serialize)]
struct MetricView {
    name: String,
    kind: &'static str,
    value: String,
    raw: Option<String>,
}

#[derive(Serialize)]
struct ChartView {
    group: &'static str,
    title: &'static str,
    what: &'static str,
    empty: &'static str,
    has_data: bool,
}

#[derive(Serialize)]
struct Page {
    plan: String,
    description: Option<String>,
    target: String,
    duration: String,
    interrupted: Option<String>,
    tool_version: String,
    schema_version: u64,
    intervals: usize,
    decision: &'static str,
    decision_class: &'static str,
    reasons: Vec<String>,
    figures: Vec<Figure>,
    scenarios: Vec<crate::model::ScenarioRow>,
    slas: Vec<SlaView>,
    thresholds: Vec<ThresholdView>,
    charts: Vec<ChartView>,
    operations: Vec<OperationView>,
    checks: Vec<CheckView>,
    errors: Vec<ErrorView>,
    step_errors: Vec<StepErrorView>,
    metrics: Vec<MetricView>,
    series: TimeSeries,
    uplot_js: &'static str,
    uplot_css: &'static str,
    uplot_license: &'static str,
    report_js: &'static str,
    report_css: &'static str,
}

fn trim(s: String) -> String {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        s
    }
}

/// A plain number, two decimals at most (`12.5`, `3`).
fn num(v: f64) -> String {
    trim(format!("{v:.2}"))
}

/// A 0..1 share as a percentage with two decimals (`0.42%`).
fn pct(r: f64) -> String {
    format!("{:.2}%", r * 100.0)
}

fn value_text(v: f64, unit: Unit) -> String {
    match unit {
        Unit::Microseconds => fmt_ms(v),
        Unit::Bytes => fmt_bytes(v),
        Unit::Count | Unit::None => num(v),
    }
}

/// A threshold's or SLA's measured value in its own terms: `rate` of a rate
/// metric as a percentage, `rate` of a counter per second, `count` as a
/// number, anything else in the metric's unit.
fn observed_text(s: &Summary, selector: &str, expression: &str, observed: Option<f64>) -> String {
    let Some(v) = observed else {
        return "no samples".to_owned();
    };
    let agg = expression
        .split(['<', '>', '=', '!'])
        .next()
        .unwrap_or("")
        .trim();
    let name = selector.split('{').next().unwrap_or(selector);
    let row = s.metric(name);
    match (agg, row.map(|r| r.kind)) {
        ("rate", Some(MetricKind::Rate)) => pct(v),
        ("rate", _) => format!("{}/s", num(v)),
        ("count", _) => num(v),
        _ => value_text(v, row.map_or(Unit::Count, |r| r.unit)),
    }
}

fn trend_text(t: &TrendStats, unit: Unit) -> String {
    let mut parts = vec![
        format!("avg={}", value_text(t.avg, unit)),
        format!("min={}", value_text(t.min, unit)),
        format!("med={}", value_text(t.med, unit)),
    ];
    for p in [90.0, 95.0, 99.0] {
        if let Some(v) = t.percentile(p) {
            parts.push(format!("p({p})={}", value_text(v, unit)));
        }
    }
    parts.push(format!("max={}", value_text(t.max, unit)));
    parts.push(format!("count={}", t.count));
    parts.join("  ")
}

fn metric_view(m: &MetricRow) -> MetricView {
    let name = if m.tags.is_empty() {
        m.name.clone()
    } else {
        let tags: Vec<String> = m.tags.iter().map(|(k, v)| format!("{k}:{v}")).collect();
        format!("{}{{{}}}", m.name, tags.join(","))
    };
    let (kind, value, raw) = match &m.values {
        Values::Counter { count, rate } => (
            "counter",
            format!(
                "{}  ({}/s)",
                value_text(*count, m.unit),
                value_text(*rate, m.unit)
            ),
            None,
        ),
        Values::Gauge { value, min, max } => (
            "gauge",
            format!("{}  min={}  max={}", num(*value), num(*min), num(*max)),
            None,
        ),
        Values::Rate {
            rate,
            passes,
            fails,
        } => (
            "rate",
            format!("{}  ({passes} of {})", pct(*rate), passes + fails),
            None,
        ),
        Values::Trend { stats, raw } => (
            "trend",
            trend_text(stats, m.unit),
            raw.as_ref().map(|r| trend_text(r, m.unit)),
        ),
    };
    MetricView {
        name,
        kind,
        value,
        raw,
    }
}

fn figures(s: &Summary) -> Vec<Figure> {
    let mut out = Vec::new();
    let mut fig = |id, label, value: String, note: Option<String>| {
        out.push(Figure {
            id,
            label,
            value,
            note,
        })
    };
    if let Some(Values::Counter { count, rate }) = s.metric("http_reqs").map(|m| &m.values) {
        fig(
            "requests",
            "requests",
            format!("{count:.0}"),
            Some(format!("{}/s", num(*rate))),
        );
    }
    if let Some(Values::Rate { rate, passes, .. }) = s.metric("http_req_failed").map(|m| &m.values)
    {
        fig(
            "failed",
            "failed requests",
            pct(*rate),
            Some(format!("{passes} requests")),
        );
    }
    if let Some(Values::Trend { stats, raw }) = s.metric("http_req_duration").map(|m| &m.values) {
        for (id, label, p) in [
            ("p50", "latency p50", 50.0),
            ("p90", "latency p90", 90.0),
            ("p95", "latency p95", 95.0),
            ("p99", "latency p99", 99.0),
        ] {
            if let Some(v) = stats.percentile(p) {
                let note = raw
                    .as_ref()
                    .and_then(|r| r.percentile(p))
                    .map(|r| format!("raw {}", fmt_ms(r)));
                fig(id, label, fmt_ms(v), note);
            }
        }
    }
    if let Some(Values::Counter { count, rate }) = s.metric("iterations").map(|m| &m.values) {
        fig(
            "iterations",
            "iterations",
            format!("{count:.0}"),
            Some(format!("{}/s", num(*rate))),
        );
    }
    if let Some(Values::Gauge { max, .. }) = s.metric("vus_max").map(|m| &m.values) {
        fig("vus", "VUs (most allocated)", format!("{max:.0}"), None);
    }
    if let Some(Values::Rate {
        rate,
        passes,
        fails,
    }) = s.metric("checks").map(|m| &m.values)
    {
        fig(
            "checks",
            "checks passed",
            pct(*rate),
            Some(format!("{passes} of {}", passes + fails)),
        );
    }
    out
}

fn chart_views(series: &TimeSeries) -> Vec<ChartView> {
    let any = |lines: &[series::Line]| {
        !series.t.is_empty() && lines.iter().any(|l| l.values.iter().any(Option::is_some))
    };
    vec![
        ChartView {
            group: "throughput",
            title: "Throughput",
            what: "Requests per second, and failed requests per second, per interval.",
            empty: "No requests were made.",
            has_data: any(&series.throughput),
        },
        ChartView {
            group: "latency",
            title: "Latency percentiles",
            what: "http_req_duration p50, p90, p95 and p99 per interval (ms), coordinated-omission corrected; dashed lines are the raw figures, measured from the actual send, shown when they differ.",
            empty: "No request completed.",
            has_data: any(&series.latency),
        },
        ChartView {
            group: "errors",
            title: "Errors by kind",
            what: "Failed requests per interval, by error kind (transport error code, or HTTP status of 400 and above).",
            empty: "No errors.",
            has_data: !series.errors.is_empty(),
        },
        ChartView {
            group: "load",
            title: "VUs and arrival rate",
            what: "Active and allocated virtual users (left axis); iterations completed and arrival-rate iterations dropped per second (right axis).",
            empty: "No execution data.",
            has_data: any(&series.load),
        },
        ChartView {
            group: "phases",
            title: "Request phases",
            what: "Mean time per request phase per interval (ms): blocked (waiting for a connection), dns, connecting, tls, sending, waiting (time to first byte), receiving.",
            empty: "No request completed.",
            has_data: any(&series.phases),
        },
    ]
}

fn render(
    s: &Summary,
    timeline: &Timeline,
    registry: &Registry,
    interner: &TagInterner,
    meta: &Meta,
) -> Result<String, HtmlError> {
    let series = series::compute(timeline, registry, interner);
    let (decision, decision_class) = match s.verdict.decision {
        Decision::Go => ("GO", "go"),
        Decision::GoWithConditions => ("GO WITH CONDITIONS", "go_with_conditions"),
        _ => ("NO-GO", "no_go"),
    };
    let total_requests = match s.metric("http_reqs").map(|m| &m.values) {
        Some(Values::Counter { count, .. }) => *count,
        _ => 0.0,
    };
    let page = Page {
        plan: s.plan.clone(),
        description: meta.description.clone(),
        target: s.target.clone(),
        duration: fmt_ms(s.duration_ms as f64),
        interrupted: s.interrupted.clone(),
        tool_version: meta.tool_version.clone(),
        schema_version: meta.schema_version,
        intervals: timeline.len(),
        decision,
        decision_class,
        reasons: s.verdict.reasons.clone(),
        figures: figures(s),
        scenarios: s.scenarios.clone(),
        slas: s
            .verdict
            .slas
            .iter()
            .map(|x| {
                let (status, class) = match x.status {
                    SlaStatus::Pass => ("PASS", "pass"),
                    SlaStatus::Warn => ("WARN", "warn"),
                    SlaStatus::Fail => ("FAIL", "fail"),
                    _ => ("NOT EVALUATED", "notevaluated"),
                };
                SlaView {
                    name: x.name.clone(),
                    metric: x.metric.clone(),
                    objective: x.objective.clone(),
                    limit: x.limit.clone(),
                    observed: observed_text(s, &x.metric, &x.objective, x.observed),
                    status,
                    class,
                    priority: x.priority.clone(),
                }
            })
            .collect(),
        thresholds: s
            .verdict
            .thresholds
            .iter()
            .map(|t| ThresholdView {
                metric: t.metric.clone(),
                expression: t.expression.clone(),
                observed: observed_text(s, &t.metric, &t.expression, t.observed),
                passed: t.passed(),
                status: match t.status {
                    ThresholdStatus::Pass => "PASS",
                    ThresholdStatus::Fail => "FAIL",
                    _ => "NOT EVALUATED",
                },
                class: match t.status {
                    ThresholdStatus::Pass => "pass",
                    ThresholdStatus::Fail => "fail",
                    _ => "notevaluated",
                },
                abort_on_fail: t.abort_on_fail,
                sla: t.sla.is_some(),
            })
            .collect(),
        charts: chart_views(&series),
        operations: s
            .operations
            .iter()
            .map(|o| {
                let p = |q: f64| o.duration.percentile(q).map(fmt_ms).unwrap_or_default();
                OperationView {
                    name: o.name.clone(),
                    requests: o.requests,
                    failed: pct(o.failed_rate),
                    avg: fmt_ms(o.duration.avg),
                    med: fmt_ms(o.duration.med),
                    p90: p(90.0),
                    p95: p(95.0),
                    p99: p(99.0),
                    max: fmt_ms(o.duration.max),
                }
            })
            .collect(),
        checks: s
            .checks
            .iter()
            .map(|c| CheckView {
                group: c.group.clone(),
                name: {
                    let path = s.check_path(c);
                    let skip = usize::from(!c.group.is_empty());
                    path[skip..].join(" › ")
                },
                passes: c.passes,
                fails: c.fails,
                rate: pct(c.passes as f64 / ((c.passes + c.fails) as f64).max(1.0)),
            })
            .collect(),
        errors: s
            .errors
            .iter()
            .map(|e| ErrorView {
                code: e.code.clone(),
                count: e.count,
                share: if total_requests > 0.0 {
                    pct(e.count as f64 / total_requests)
                } else {
                    String::new()
                },
            })
            .collect(),
        step_errors: s
            .step_errors
            .iter()
            .map(|e| StepErrorView {
                group: e.group.clone(),
                step: e.step.clone(),
                code: e.code.clone(),
                count: e.count,
                message: e.message.clone(),
            })
            .collect(),
        metrics: s.metrics.iter().map(metric_view).collect(),
        series,
        uplot_js: UPLOT_JS,
        uplot_css: UPLOT_CSS,
        uplot_license: UPLOT_LICENSE,
        report_js: REPORT_JS,
        report_css: REPORT_CSS,
    };
    let mut env = minijinja::Environment::new();
    // The `.html` name turns HTML auto-escaping on.
    env.add_template("report.html", TEMPLATE)?;
    Ok(env
        .get_template("report.html")?
        .render(minijinja::value::Serde(&page))?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ErrorRow, OperationRow};
    use gauntlet_analysis::{ThresholdResult, ThresholdStatus, Verdict};

    fn summary() -> Summary {
        Summary {
            plan: "<script>alert(1)</script>".into(),
            target: "demo & co".into(),
            duration_ms: 3000,
            interrupted: None,
            metrics: vec![],
            checks: vec![],
            operations: vec![OperationRow {
                name: "</script><b>x".into(),
                requests: 1,
                failed_rate: 0.0,
                duration: TrendStats {
                    count: 1,
                    avg: 1.0,
                    min: 1.0,
                    med: 1.0,
                    max: 1.0,
                    percentiles: vec![(95.0, 1.0)],
                },
            }],
            errors: vec![ErrorRow {
                code: "http_500".into(),
                count: 2,
            }],
            step_errors: vec![],
            scenarios: vec![],
            verdict: Verdict {
                thresholds: vec![ThresholdResult {
                    metric: "http_req_duration".into(),
                    expression: "p(95) < 200".into(),
                    observed: None,
                    status: ThresholdStatus::NotEvaluated,
                    abort_on_fail: false,
                    sla: None,
                    window: None,
                }],
                slas: vec![],
                decision: Decision::NoGo,
                measured: false,
                reasons: vec!["a threshold failed".into()],
            },
            trend_stats: vec![],
        }
    }

    #[test]
    fn user_text_is_escaped_and_json_cannot_break_out() {
        let s = summary();
        let html = render(
            &s,
            &Timeline::default(),
            &Registry::new(),
            &TagInterner::new(),
            &Meta::default(),
        )
        .unwrap();
        assert!(!html.contains("<script>alert(1)"));
        assert!(html.contains("&lt;script&gt;alert(1)&lt;&#x2f;script&gt;"));
        assert!(html.contains("demo &amp; co"));
        assert!(!html.contains("</script><b>x"));
        assert!(html.contains(r#"data-decision="no_go""#));
        assert!(html.contains("Content-Security-Policy"));
        // Exactly the inlined scripts close: uPlot, the data block, ours.
        assert_eq!(html.matches("</script>").count(), 3);
    }

    #[test]
    fn observed_values_read_in_their_units() {
        let mut s = summary();
        s.metrics.push(MetricRow {
            name: "http_req_failed".into(),
            tags: vec![],
            kind: MetricKind::Rate,
            unit: Unit::Count,
            values: Values::Rate {
                rate: 0.1,
                passes: 1,
                fails: 9,
            },
        });
        s.metrics.push(MetricRow {
            name: "http_req_duration".into(),
            tags: vec![],
            kind: MetricKind::Trend,
            unit: Unit::Microseconds,
            values: Values::Trend {
                stats: s.operations[0].duration.clone(),
                raw: None,
            },
        });
        assert_eq!(
            observed_text(&s, "http_req_failed", "rate < 0.01", Some(0.1234)),
            "12.34%"
        );
        assert_eq!(
            observed_text(&s, "http_req_duration{name:x}", "p(95) < 200", Some(12.5)),
            "12.5ms"
        );
        assert_eq!(observed_text(&s, "http_reqs", "count > 10", Some(3.0)), "3");
        assert_eq!(
            observed_text(&s, "http_reqs", "count > 10", None),
            "no samples"
        );
    }
}
