//! `options:`: run-wide settings (`summaryTrendStats`, `seed`).

use super::{Validator, non_negative};
use crate::decode::{Fields, int, seq, text};
use crate::node::Node;
use crate::plan::*;
use crate::threshold::parse_expr;
use gauntlet_metrics::Stat;

pub(crate) const OPTIONS_KEYS: &[&str] = &["summaryTrendStats", "seed"];

impl Validator<'_> {
    pub(super) fn options(&mut self, node: &Node) -> RunOptions {
        let diags = &mut self.diags;
        let mut o = RunOptions::default();
        let Some(mut f) = Fields::new(node, diags, "options", OPTIONS_KEYS) else {
            return o;
        };
        if let Some(l) = f.get("summaryTrendStats") {
            let mut stats = Vec::new();
            for n in seq(l, diags, "summaryTrendStats") {
                let Some(s) = text(n, diags, "summaryTrendStats[]") else {
                    continue;
                };
                match parse_expr(&format!("{} > 0", s.value)) {
                    Ok(e) if !matches!(e.aggregation, Stat::Rate | Stat::Value) => {
                        stats.push(e.aggregation)
                    }
                    _ => diags.error_help(
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
        if let Some(v) = f.get("seed").and_then(|n| int(n, diags, "seed")) {
            o.seed = non_negative(v, diags, "seed");
        }
        f.finish(diags);
        o
    }
}
