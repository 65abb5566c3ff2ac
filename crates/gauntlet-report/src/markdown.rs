//! `--out md=FILE`: a Markdown summary sized for a pull-request comment:
//! verdict first, then SLAs and thresholds (✅/❌ with the measured value),
//! latency, key request figures, checks and errors.
//!
//! # Format (spec, GitHub-flavoured Markdown)
//! `## gauntlet: <plan> — <VERDICT>` (`✅ GO`, `⚠️ GO WITH CONDITIONS`,
//! `❌ NO-GO`), a line with the target and run length, a quoted note when
//! the run was interrupted, the reasons as a list, then these sections, each
//! only when it has rows:
//! * `SLA`: status (✅ pass, ⚠️ objective missed within the limit, ❌ fail,
//!   ➖ no data), name, metric, objective, limit, observed, priority;
//! * `Thresholds`: ✅/❌, metric, threshold, observed;
//! * `Latency`: `http_req_duration` avg, min, med, p90, p95, p99, max, corrected
//!   for coordinated omission, plus the raw (from actual send) row when it
//!   differs;
//! * `Requests`: per request name: count, failed share, median, p95, p99;
//! * `Checks`: ✅/❌, check (`group › name`), passes, fails, success share;
//! * `Errors`: error kind (`error_code`), count.
//!
//! Observed values carry the aggregation and unit of the threshold
//! (`p(95)=12.35ms`, `rate=0.50%`, `rate=30.67/s`). Metric names and
//! expressions are code spans; user text is escaped (Markdown punctuation
//! with `\`, `<`, `>` and `&` as entities, `|` as `\|`) so it can neither break
//! a table nor inject HTML.

use crate::model::{Summary, TrendStats, Values};
use crate::terminal::{aggregation, fmt_measure, fmt_ms, measure};
use gauntlet_analysis::{Decision, SlaStatus, ThresholdStatus};
use std::fmt::Write as _;

/// Plain text in a table cell or list item.
fn cell(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '\n' | '\r' => o.push(' '),
            '\\' | '|' | '*' | '_' | '[' | ']' | '`' | '~' | '#' => {
                o.push('\\');
                o.push(c);
            }
            c => o.push(c),
        }
    }
    o
}

/// A code span (metric names, expressions). Entities are not decoded inside
/// code spans, so `<` stays as is; only the table's `|` is escaped.
fn code(s: &str) -> String {
    let inner = s
        .replace('`', "'")
        .replace(['\n', '\r'], " ")
        .replace('|', "\\|");
    format!("`{inner}`")
}

/// The observed value with its aggregation and unit (`p(95)=12.35ms`).
fn observed(s: &Summary, selector: &str, expression: &str, v: Option<f64>) -> String {
    let agg = aggregation(expression);
    match v {
        None => "no samples".into(),
        Some(v) => format!("{agg}={}", fmt_measure(v, measure(s, selector, agg))),
    }
}

/// Render the Markdown summary.
pub fn render(s: &Summary) -> String {
    let mut o = String::new();
    let verdict = match s.verdict.decision {
        Decision::Go => "✅ GO",
        Decision::GoWithConditions => "⚠️ GO WITH CONDITIONS",
        _ => "❌ NO-GO",
    };
    let _ = writeln!(o, "## gauntlet: {} — {verdict}\n", cell(&s.plan));
    let _ = writeln!(
        o,
        "Target {}, {} run.",
        cell(&s.target),
        fmt_ms(s.duration_ms as f64)
    );
    if let Some(i) = &s.interrupted {
        let _ = writeln!(
            o,
            "\n> Run interrupted: {}. The numbers cover what ran.",
            cell(i)
        );
    }
    let _ = writeln!(o);
    for r in &s.verdict.reasons {
        let _ = writeln!(o, "- {}", cell(r));
    }
    if !s.verdict.slas.is_empty() {
        let _ = writeln!(
            o,
            "\n### SLA\n\n| | SLA | metric | objective | limit | observed | priority |\n|---|---|---|---|---|---|---|"
        );
        for sla in &s.verdict.slas {
            let mark = match sla.status {
                SlaStatus::Pass => "✅",
                SlaStatus::Warn => "⚠️",
                SlaStatus::Fail => "❌",
                _ => "➖",
            };
            let _ = writeln!(
                o,
                "| {mark} | {} | {} | {} | {} | {} | {} |",
                cell(&sla.name),
                code(&sla.metric),
                code(&sla.objective),
                sla.limit.as_deref().map(code).unwrap_or_default(),
                observed(s, &sla.metric, &sla.objective, sla.observed),
                cell(&sla.priority)
            );
        }
    }
    let plain: Vec<_> = s
        .verdict
        .thresholds
        .iter()
        .filter(|t| t.sla.is_none())
        .collect();
    if !plain.is_empty() {
        let _ = writeln!(
            o,
            "\n### Thresholds\n\n| | metric | threshold | observed |\n|---|---|---|---|"
        );
        for t in plain {
            let _ = writeln!(
                o,
                "| {} | {} | {} | {} |",
                match t.status {
                    ThresholdStatus::Pass => "✅",
                    ThresholdStatus::Fail => "❌",
                    _ => "❔ not evaluated",
                },
                code(&t.metric),
                code(&t.expression),
                observed(s, &t.metric, &t.expression, t.observed)
            );
        }
    }
    if let Some(Values::Trend { stats, raw }) = s.metric("http_req_duration").map(|m| &m.values) {
        let _ = writeln!(
            o,
            "\n### Latency\n\n| `http_req_duration` | avg | min | med | p90 | p95 | p99 | max |\n|---|---:|---:|---:|---:|---:|---:|---:|"
        );
        let line = |label: &str, t: &TrendStats| {
            let p = |q: f64| t.percentile(q).map(fmt_ms).unwrap_or_default();
            format!(
                "| {label} | {} | {} | {} | {} | {} | {} | {} |",
                fmt_ms(t.avg),
                fmt_ms(t.min),
                fmt_ms(t.med),
                p(90.0),
                p(95.0),
                p(99.0),
                fmt_ms(t.max)
            )
        };
        let _ = writeln!(o, "{}", line("corrected (from intended start)", stats));
        if let Some(raw) = raw {
            let _ = writeln!(o, "{}", line("raw (from actual send)", raw));
        }
    }
    if !s.operations.is_empty() {
        let _ = writeln!(
            o,
            "\n### Requests\n\n| name | requests | failed | median | p95 | p99 |\n|---|---:|---:|---:|---:|---:|"
        );
        for r in &s.operations {
            let p = |q: f64| r.duration.percentile(q).map(fmt_ms).unwrap_or_default();
            let _ = writeln!(
                o,
                "| {} | {} | {:.2}% | {} | {} | {} |",
                cell(&r.name),
                r.requests,
                r.failed_rate * 100.0,
                fmt_ms(r.duration.med),
                p(95.0),
                p(99.0)
            );
        }
    }
    if !s.checks.is_empty() {
        let _ = writeln!(
            o,
            "\n### Checks\n\n| | check | passes | fails | success |\n|---|---|---:|---:|---:|"
        );
        for c in &s.checks {
            let name = s
                .check_path(c)
                .into_iter()
                .map(cell)
                .collect::<Vec<_>>()
                .join(" › ");
            let total = (c.passes + c.fails).max(1);
            let _ = writeln!(
                o,
                "| {} | {name} | {} | {} | {:.2}% |",
                if c.fails == 0 { "✅" } else { "❌" },
                c.passes,
                c.fails,
                c.passes as f64 * 100.0 / total as f64
            );
        }
    }
    if !s.errors.is_empty() {
        let _ = writeln!(o, "\n### Errors\n\n| error | count |\n|---|---:|");
        for e in &s.errors {
            let _ = writeln!(o, "| {} | {} |", code(&e.code), e.count);
        }
    }
    if !s.step_errors.is_empty() {
        let _ = writeln!(
            o,
            "\n### Steps that could not be built\n\n| operation › step | error | count | first message |\n|---|---|---:|---|"
        );
        for e in &s.step_errors {
            let _ = writeln!(
                o,
                "| {} › {} | {} | {} | {} |",
                cell(&e.group),
                cell(&e.step),
                code(&e.code),
                e.count,
                cell(&e.message)
            );
        }
    }
    o
}
