//! The end-of-test summary on the terminal, in k6's layout so k6 users read it
//! at a glance: `█ THRESHOLDS` (✓/✗ with the observed value), our `█ SLA`
//! table and verdict, then `█ TOTAL RESULTS` with checks and metrics grouped
//! HTTP / EXECUTION / NETWORK / CUSTOM. Where latency corrected for
//! coordinated omission differs from the raw one, both lines are printed.

use crate::model::{MetricRow, Summary, TrendStats, Values};
use gauntlet_analysis::{Decision, SlaStatus, ThresholdStatus};
use gauntlet_metrics::{MetricKind, Unit};
use std::fmt::Write as _;

/// Colour on or off.
#[derive(Debug, Clone, Copy)]
pub struct Style {
    /// ANSI colours.
    pub color: bool,
}

impl Style {
    fn paint(&self, code: &str, s: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_owned()
        }
    }
    fn ok(&self, s: &str) -> String {
        self.paint("32", s)
    }
    fn bad(&self, s: &str) -> String {
        self.paint("31", s)
    }
    fn warn(&self, s: &str) -> String {
        self.paint("33", s)
    }
    fn dim(&self, s: &str) -> String {
        self.paint("2", s)
    }
}

/// k6-style numbers for people (`140.36ms`, `750µs`, `2.4 MB`), shared with
/// the verdict's reasons so a value reads the same everywhere.
pub use gauntlet_analysis::format::{fmt_bytes, fmt_ms};
use gauntlet_analysis::format::{fmt_pct, trim};

fn fmt_value(v: f64, unit: Unit) -> String {
    match unit {
        Unit::Microseconds => fmt_ms(v),
        Unit::Bytes => fmt_bytes(v),
        Unit::Count | Unit::None => trim(format!("{v:.2}")),
    }
}

fn stat_name(p: f64) -> String {
    format!("p({})", trim(format!("{p:.3}")))
}

fn trend_line(stats: &TrendStats, unit: Unit, wanted: &[String]) -> String {
    let mut parts = Vec::new();
    for w in wanted {
        let v = match w.as_str() {
            "avg" => Some(stats.avg),
            "min" => Some(stats.min),
            "med" => Some(stats.med),
            "max" => Some(stats.max),
            "count" => {
                parts.push(format!("count={}", stats.count));
                continue;
            }
            other => stats
                .percentiles
                .iter()
                .find(|(p, _)| stat_name(*p) == other)
                .map(|(_, v)| *v),
        };
        if let Some(v) = v {
            parts.push(format!("{w}={}", fmt_value(v, unit)));
        }
    }
    parts.join(" ")
}

const LABEL_WIDTH: usize = 36;

fn label(name: &str, indent: usize) -> String {
    let dots = LABEL_WIDTH
        .saturating_sub(name.chars().count() + indent)
        .max(3);
    format!("{}{}{}:", " ".repeat(indent), name, ".".repeat(dots))
}

fn metric_value(m: &MetricRow, summary: &Summary, style: Style) -> Vec<String> {
    match &m.values {
        Values::Counter { count, rate } => {
            let (c, r) = match m.unit {
                Unit::Bytes => (fmt_bytes(*count), format!("{}/s", fmt_bytes(*rate))),
                Unit::Microseconds | Unit::Count | Unit::None => (
                    trim(format!("{count:.0}")),
                    format!("{}/s", trim(format!("{rate:.2}"))),
                ),
            };
            vec![format!("{c:<8} {r}")]
        }
        Values::Gauge { value, min, max } => vec![format!(
            "{:<8} min={} max={}",
            trim(format!("{value:.0}")),
            trim(format!("{min:.0}")),
            trim(format!("{max:.0}"))
        )],
        Values::Rate {
            rate,
            passes,
            fails,
        } => {
            let total = passes + fails;
            // For http_req_failed, "passes" are failures: print as k6 does.
            vec![format!("{:<8} {} out of {}", fmt_pct(*rate), passes, total)]
        }
        Values::Trend { stats, raw } => {
            let mut v = vec![trend_line(stats, m.unit, &summary.trend_stats)];
            if let Some(raw) = raw {
                v.push(style.dim(&format!(
                    "(raw, from actual send) {}",
                    trend_line(raw, m.unit, &summary.trend_stats)
                )));
            }
            v
        }
    }
}

fn group_of(m: &MetricRow) -> &'static str {
    let builtin = gauntlet_plan::catalog::builtin(&m.name).is_some();
    if !builtin {
        "CUSTOM"
    } else if m.name.starts_with("http_") {
        "HTTP"
    } else if m.name.starts_with("data_") {
        "NETWORK"
    } else if m.name == "checks" {
        "CHECKS"
    } else {
        "EXECUTION"
    }
}

/// Render the summary.
pub fn render(s: &Summary, style: Style) -> String {
    let mut o = String::new();
    let _ = writeln!(o);
    if let Some(why) = &s.interrupted {
        let _ = writeln!(
            o,
            "  {}\n",
            style.warn(&format!(
                "run interrupted: {why}; the numbers cover what ran"
            ))
        );
    }
    // Thresholds, grouped by metric selector, in k6's layout.
    let plain: Vec<_> = s
        .verdict
        .thresholds
        .iter()
        .filter(|t| t.sla.is_none())
        .collect();
    if !plain.is_empty() {
        let _ = writeln!(o, "  █ THRESHOLDS\n");
        let mut seen: Vec<&str> = Vec::new();
        for t in &plain {
            if seen.contains(&t.metric.as_str()) {
                continue;
            }
            seen.push(&t.metric);
            let _ = writeln!(o, "    {}", t.metric);
            for t2 in plain.iter().filter(|x| x.metric == t.metric) {
                let mark = match t2.status {
                    ThresholdStatus::Pass => style.ok("✓"),
                    ThresholdStatus::Fail => style.bad("✗"),
                    _ => style.bad("?"),
                };
                let agg = aggregation(&t2.expression);
                let observed = match t2.observed {
                    None => style.bad("not evaluated: no samples"),
                    Some(v) => format!("{agg}={}", fmt_measure(v, measure(s, &t2.metric, agg))),
                };
                let _ = writeln!(o, "    {mark} '{}' {observed}", t2.expression);
            }
            let _ = writeln!(o);
        }
    }
    if !s.verdict.slas.is_empty() {
        let _ = writeln!(o, "  █ SLA\n");
        for sla in &s.verdict.slas {
            let (mark, word) = match sla.status {
                SlaStatus::Pass => (style.ok("✓"), style.ok("PASS   ")),
                SlaStatus::Warn => (style.warn("!"), style.warn("WARN   ")),
                SlaStatus::Fail => (style.bad("✗"), style.bad("FAIL   ")),
                _ => (style.bad("?"), style.bad("NOT EVALUATED")),
            };
            let agg = aggregation(&sla.objective);
            let observed = match sla.observed {
                None => "not evaluated: no samples".to_owned(),
                Some(v) => format!(
                    "observed {agg}={}",
                    fmt_measure(v, measure(s, &sla.metric, agg))
                ),
            };
            let limit = sla
                .limit
                .as_ref()
                .map(|l| format!(", limit {l}"))
                .unwrap_or_default();
            let _ = writeln!(o, "    {mark} {word} {} [{}]", sla.name, sla.priority);
            let _ = writeln!(
                o,
                "      {} {}{limit} → {observed}",
                sla.metric, sla.objective
            );
        }
        let _ = writeln!(o);
    }
    let _ = writeln!(o, "  █ TOTAL RESULTS\n");
    let total_checks: (u64, u64) = s
        .checks
        .iter()
        .fold((0, 0), |a, c| (a.0 + c.passes, a.1 + c.fails));
    if total_checks.0 + total_checks.1 > 0 {
        let n = total_checks.0 + total_checks.1;
        let secs = (s.duration_ms as f64 / 1000.0).max(1e-3);
        let _ = writeln!(
            o,
            "    {} {:<8} {}/s",
            label("checks_total", 0),
            n,
            trim(format!("{:.2}", n as f64 / secs))
        );
        let _ = writeln!(
            o,
            "    {} {:<8} {} out of {}",
            label("checks_succeeded", 0),
            fmt_pct(total_checks.0 as f64 / n as f64),
            total_checks.0,
            n
        );
        let _ = writeln!(
            o,
            "    {} {:<8} {} out of {}\n",
            label("checks_failed", 0),
            fmt_pct(total_checks.1 as f64 / n as f64),
            total_checks.1,
            n
        );
        for c in &s.checks {
            let name = s.check_path(c).join(" › ");
            if c.fails == 0 {
                let _ = writeln!(o, "    {} {name}", style.ok("✓"));
            } else {
                let _ = writeln!(o, "    {} {name}", style.bad("✗"));
                let _ = writeln!(
                    o,
                    "      {}",
                    style.dim(&format!(
                        "↳ {}% — ✓ {} / ✗ {}",
                        (c.passes * 100) / (c.passes + c.fails).max(1),
                        c.passes,
                        c.fails
                    ))
                );
            }
        }
        let _ = writeln!(o);
    }
    for group in ["CUSTOM", "HTTP", "EXECUTION", "NETWORK"] {
        let rows: Vec<&MetricRow> = s.metrics.iter().filter(|m| group_of(m) == group).collect();
        if rows.is_empty() {
            continue;
        }
        let _ = writeln!(o, "    {group}");
        for m in rows {
            let name = if m.tags.is_empty() {
                m.name.clone()
            } else {
                format!(
                    "{{ {} }}",
                    m.tags
                        .iter()
                        .map(|(k, v)| format!("{k}:{v}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            };
            let indent = if m.tags.is_empty() { 0 } else { 2 };
            let lines = metric_value(m, s, style);
            for (i, line) in lines.iter().enumerate() {
                if i == 0 {
                    let _ = writeln!(o, "    {} {line}", label(&name, indent));
                } else {
                    let _ = writeln!(o, "    {} {line}", " ".repeat(LABEL_WIDTH + 1));
                }
            }
        }
        let _ = writeln!(o);
    }
    // Name columns fit the longest name, at least 28 and at most
    // NAME_WIDTH wide; longer names are cut with an ellipsis.
    let width = s
        .operations
        .iter()
        .map(|r| r.name.chars().count())
        .chain(s.errors.iter().map(|e| e.code.chars().count()))
        .chain(s.scenarios.iter().map(|sc| sc.name.chars().count()))
        .fold(28, usize::max)
        .min(NAME_WIDTH);
    let fit = |name: &str| fit(name, width);
    if !s.operations.is_empty() {
        let _ = writeln!(o, "    REQUESTS BY NAME");
        let _ = writeln!(
            o,
            "    {:<width$} {:>8} {:>8} {:>10} {:>10} {:>10}",
            "name", "reqs", "failed", "med", "p(95)", "p(99)"
        );
        for r in &s.operations {
            let p = |q: f64| r.duration.percentile(q).map(fmt_ms).unwrap_or_default();
            let _ = writeln!(
                o,
                "    {:<width$} {:>8} {:>8} {:>10} {:>10} {:>10}",
                fit(&r.name),
                r.requests,
                fmt_pct(r.failed_rate),
                fmt_ms(r.duration.med),
                p(95.0),
                p(99.0)
            );
        }
        let _ = writeln!(o);
    }
    if !s.errors.is_empty() {
        let _ = writeln!(o, "    ERRORS");
        for e in &s.errors {
            let _ = writeln!(o, "    {:<width$} {:>8}", fit(&e.code), e.count);
        }
        let _ = writeln!(o);
    }
    if !s.step_errors.is_empty() {
        let _ = writeln!(
            o,
            "    STEP ERRORS (requests that could not be built, not sent)"
        );
        for e in &s.step_errors {
            let _ = writeln!(
                o,
                "    {} {} › {} — {} × {}",
                style.bad("✗"),
                fit(&e.group),
                fit(&e.step),
                e.count,
                e.code
            );
            let _ = writeln!(o, "      {}", style.dim(&format!("↳ {}", e.message)));
        }
        let _ = writeln!(o);
    }
    if !s.scenarios.is_empty() {
        let _ = writeln!(o, "    SCENARIOS");
        for sc in &s.scenarios {
            let mut extra = String::new();
            if sc.dropped > 0 {
                extra.push_str(&format!(", {} dropped (no free VU)", sc.dropped));
            }
            if sc.interrupted > 0 {
                extra.push_str(&format!(", {} interrupted", sc.interrupted));
            }
            let _ = writeln!(
                o,
                "    {:<width$} {} — {} iterations, {} VUs max{extra}",
                fit(&sc.name),
                sc.executor,
                sc.iterations,
                sc.vus_max
            );
        }
        let _ = writeln!(o);
    }
    let decision = match s.verdict.decision {
        Decision::Go => style.ok("GO"),
        Decision::GoWithConditions => style.warn("GO WITH CONDITIONS"),
        _ => style.bad("NO-GO"),
    };
    let _ = writeln!(
        o,
        "  █ VERDICT: {decision}  ({} in {})",
        s.plan,
        fmt_ms(s.duration_ms as f64)
    );
    for r in &s.verdict.reasons {
        let _ = writeln!(o, "    - {r}");
    }
    o
}

/// The widest a name column grows; also keeps format widths far below the
/// formatter's limit (a step name of 65,536 characters once panicked here).
const NAME_WIDTH: usize = 60;

/// `name` cut to `width` characters, the cut marked with `…`.
fn fit(name: &str, width: usize) -> String {
    if name.chars().count() <= width {
        name.to_owned()
    } else {
        let mut cut: String = name.chars().take(width.saturating_sub(1)).collect();
        cut.push('…');
        cut
    }
}

fn base_metric(selector: &str) -> &str {
    selector.split('{').next().unwrap_or(selector).trim()
}

/// How an observed threshold or SLA value reads: the aggregation's own unit.
/// Shared by the terminal, Markdown and JUnit renderers so that all three
/// say `p(95)=12.35ms` or `rate=0.50%` for the same number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Measure {
    /// Milliseconds (time trends).
    Time,
    /// A 0..1 share, shown as a percentage (`rate` of a rate metric).
    Percent,
    /// Per second (`rate` of a counter).
    PerSecond,
    /// Bytes.
    Bytes,
    /// A plain number (`count`, gauges, unitless trends).
    Plain,
}

/// The aggregation an expression starts with (`p(95)` in `p(95) < 200ms`).
pub(crate) fn aggregation(expression: &str) -> &str {
    expression
        .split(['<', '>', '=', '!'])
        .next()
        .unwrap_or("")
        .trim()
}

/// What unit the value of `aggregation` over `selector` is in. The metric's
/// kind and unit come from the summary (custom metrics), else the catalog.
pub(crate) fn measure(s: &Summary, selector: &str, aggregation: &str) -> Measure {
    let (kind, unit) = metric_kind(s, selector);
    match aggregation {
        "rate" if kind == MetricKind::Rate => Measure::Percent,
        "rate" => Measure::PerSecond,
        "count" => Measure::Plain,
        _ => match unit {
            Unit::Microseconds => Measure::Time,
            Unit::Bytes => Measure::Bytes,
            Unit::Count | Unit::None => Measure::Plain,
        },
    }
}

/// The kind and unit of the metric a selector names: the summary's row
/// (custom metrics), else the catalog; an unknown name is a plain trend.
pub(crate) fn metric_kind(s: &Summary, selector: &str) -> (MetricKind, Unit) {
    let base = base_metric(selector);
    match s.metric(base) {
        Some(m) => (m.kind, m.unit),
        None => gauntlet_plan::catalog::builtin(base)
            .map(|m| (m.kind, m.unit))
            .unwrap_or((MetricKind::Trend, Unit::Count)),
    }
}

/// `value` in `measure`, for people (k6's rounding: `12.35ms`, `0.50%`).
pub(crate) fn fmt_measure(value: f64, measure: Measure) -> String {
    match measure {
        Measure::Time => fmt_ms(value),
        Measure::Percent => fmt_pct(value),
        Measure::PerSecond => format!("{}/s", trim(format!("{value:.2}"))),
        Measure::Bytes => fmt_bytes(value),
        Measure::Plain => trim(format!("{value:.2}")),
    }
}

/// `value` in `measure` with three decimals and one fixed unit per kind
/// (milliseconds, percent, per second, bytes), for machine readers such as
/// the JUnit failure message.
pub(crate) fn fmt_measure_precise(value: f64, measure: Measure) -> String {
    let three = |v: f64| trim(format!("{v:.3}"));
    match measure {
        Measure::Time => three(value) + "ms",
        Measure::Percent => three(value * 100.0) + "%",
        Measure::PerSecond => three(value) + "/s",
        Measure::Bytes => format!("{value:.0} B"),
        Measure::Plain => three(value),
    }
}
