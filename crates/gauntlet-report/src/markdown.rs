//! `--out md=FILE`: a Markdown summary sized for a pull-request comment:
//! verdict first, then SLAs and thresholds (✅/❌ with the measured value),
//! key request figures and errors.
//!
//! # Format (spec)
//! `## gauntlet: <plan> — <VERDICT>`, the reasons as a list, then the tables
//! `SLA`, `Thresholds`, `Requests` (per request name: count, failed, median,
//! p95, p99) and, when any, `Errors`. Table cells are escaped (`|`, `<`, `>`,
//! backticks) so user text cannot break the table or inject HTML.

use crate::model::Summary;
use crate::terminal::fmt_ms;
use gauntlet_analysis::{Decision, SlaStatus};
use std::fmt::Write as _;

fn cell(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('|', "\\|")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('`', "'")
        .replace('\n', " ")
}

fn num(v: Option<f64>) -> String {
    match v {
        None => "no data".into(),
        Some(v) if v.abs() >= 100.0 => format!("{v:.0}"),
        Some(v) => format!("{v:.3}")
            .trim_end_matches('0')
            .trim_end_matches('.')
            .to_owned(),
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
                "| {mark} | {} | `{}` | `{}` | {} | {} | {} |",
                cell(&sla.name),
                cell(&sla.metric),
                cell(&sla.objective),
                sla.limit
                    .as_deref()
                    .map(|l| format!("`{}`", cell(l)))
                    .unwrap_or_default(),
                num(sla.observed),
                sla.priority
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
                "| {} | `{}` | `{}` | {} |",
                if t.passed { "✅" } else { "❌" },
                cell(&t.metric),
                cell(&t.expression),
                num(t.observed)
            );
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
    if !s.errors.is_empty() {
        let _ = writeln!(o, "\n### Errors\n\n| error | count |\n|---|---:|");
        for e in &s.errors {
            let _ = writeln!(o, "| `{}` | {} |", cell(&e.code), e.count);
        }
    }
    o
}
