//! From a run's total snapshot to the [`Summary`] every renderer shows.

use crate::model::*;
use gauntlet_analysis::Verdict;
use gauntlet_metrics::{
    MetricKind, Registry, SeriesData, Snapshot, Stat, TagFilter, TagInterner, TagKey, Unit,
};
use gauntlet_plan::Plan;
use std::collections::BTreeMap;

/// Percentiles every summary carries (the terminal shows what `summaryTrendStats` asks).
const PERCENTILES: [f64; 5] = [90.0, 95.0, 99.0, 99.9, 50.0];

fn trend_stats(h: &gauntlet_metrics::Histogram, scale: f64, extra: &[f64]) -> TrendStats {
    let mut ps: Vec<f64> = PERCENTILES.to_vec();
    for p in extra {
        if !ps.iter().any(|x| (x - p).abs() < 1e-9) {
            ps.push(*p);
        }
    }
    TrendStats {
        count: h.len(),
        avg: h.mean() / scale,
        min: h.min() as f64 / scale,
        med: h.value_at_quantile(0.5) as f64 / scale,
        max: h.max() as f64 / scale,
        percentiles: ps
            .iter()
            .map(|p| (*p, h.value_at_quantile(p / 100.0) as f64 / scale))
            .collect(),
    }
}

fn values(data: &SeriesData, unit: Unit, window_secs: f64, extra: &[f64]) -> Option<Values> {
    let scale = if unit == Unit::Microseconds {
        1000.0
    } else {
        1.0
    };
    Some(match data {
        SeriesData::Counter { sum } => Values::Counter {
            count: *sum,
            rate: sum / window_secs,
        },
        SeriesData::Gauge { last, min, max } => Values::Gauge {
            value: *last,
            min: *min,
            max: *max,
        },
        SeriesData::Rate { passes, total } => Values::Rate {
            rate: if *total > 0 {
                *passes as f64 / *total as f64
            } else {
                0.0
            },
            passes: *passes,
            fails: total - passes,
        },
        SeriesData::Trend(t) => {
            if t.corrected.is_empty() {
                return None;
            }
            Values::Trend {
                stats: trend_stats(&t.corrected, scale, extra),
                raw: t.raw.as_ref().map(|r| trend_stats(r, scale, extra)),
            }
        }
        _ => return None,
    })
}

/// Inputs besides the snapshot.
#[derive(Debug)]
pub struct RunInfo {
    /// Target description.
    pub target: String,
    /// Run length (ms).
    pub duration_ms: u64,
    /// Why the run was cut short, if it was.
    pub interrupted: Option<String>,
    /// Scenario rows.
    pub scenarios: Vec<ScenarioRow>,
    /// Steps that could not be built, with their first message; the counts
    /// are filled in from the snapshot.
    pub step_errors: Vec<StepErrorRow>,
}

/// Build the summary of a run.
pub fn summarize(
    plan: &Plan,
    total: &Snapshot,
    registry: &Registry,
    interner: &TagInterner,
    verdict: Verdict,
    info: RunInfo,
) -> Summary {
    let window = (info.duration_ms as f64 / 1000.0).max(1e-3);
    let extra: Vec<f64> = plan
        .options
        .summary_trend_stats
        .iter()
        .filter_map(|a| match a {
            Stat::Percentile(p) => Some(p.value()),
            Stat::Count
            | Stat::Sum
            | Stat::Rate
            | Stat::Fails
            | Stat::Value
            | Stat::Avg
            | Stat::Min
            | Stat::Med
            | Stat::Max => None,
        })
        .collect();
    let none = TagFilter::default();
    let mut metrics = Vec::new();
    for (id, def) in registry.iter() {
        let Some(data) = total.select(id, &none, interner) else {
            continue;
        };
        let Some(v) = values(&data, def.unit, window, &extra) else {
            continue;
        };
        metrics.push(MetricRow {
            name: def.name.clone(),
            tags: vec![],
            kind: def.kind,
            unit: def.unit,
            values: v,
        });
        // k6 shows the expected-response sub-metric of http_req_duration.
        if def.name == "http_req_duration" {
            let f = TagFilter(vec![(TagKey::ExpectedResponse, "true".into())]);
            if let Some(d) = total.select(id, &f, interner)
                && let Some(v) = values(&d, def.unit, window, &extra)
            {
                metrics.push(MetricRow {
                    name: def.name.clone(),
                    tags: vec![("expected_response".into(), "true".into())],
                    kind: MetricKind::Trend,
                    unit: Unit::Microseconds,
                    values: v,
                });
            }
        }
    }
    // Sub-metrics that thresholds or SLAs name.
    let mut selectors: Vec<&gauntlet_plan::threshold::MetricSelector> = plan
        .thresholds
        .iter()
        .map(|t| &t.metric)
        .filter(|m| !m.tags.is_empty())
        .collect();
    selectors.dedup();
    for sel in selectors {
        let Some(id) = registry.get(&sel.metric) else {
            continue;
        };
        if metrics
            .iter()
            .any(|m| m.name == sel.metric && m.tags == sel.tags)
        {
            continue;
        }
        let f = TagFilter(
            sel.tags
                .iter()
                .map(|(k, v)| (TagKey::parse(k), v.clone()))
                .collect(),
        );
        let def = registry.def(id);
        if let Some(d) = total.select(id, &f, interner)
            && let Some(v) = values(&d, def.unit, window, &extra)
        {
            let pos = metrics
                .iter()
                .rposition(|m| m.name == sel.metric)
                .map(|p| p + 1)
                .unwrap_or(metrics.len());
            metrics.insert(
                pos,
                MetricRow {
                    name: sel.metric.clone(),
                    tags: sel.tags.clone(),
                    kind: def.kind,
                    unit: def.unit,
                    values: v,
                },
            );
        }
    }
    // Checks, per (group, step, check), in first-seen order.
    let mut checks: Vec<CheckRow> = Vec::new();
    let mut ops: BTreeMap<String, (u64, u64, Option<gauntlet_metrics::Histogram>)> =
        BTreeMap::new();
    let mut errors: BTreeMap<String, u64> = BTreeMap::new();
    let mut step_errors = info.step_errors;
    let (checks_id, dur_id, reqs_id, step_errors_id) = (
        registry.get("checks"),
        registry.get("http_req_duration"),
        registry.get("http_reqs"),
        registry.get("step_errors"),
    );
    for (k, v) in &total.series {
        let tags = interner.resolve(k.tags);
        if Some(k.metric) == checks_id
            && let SeriesData::Rate { passes, total: t } = v
        {
            let name = tags.get(&TagKey::Check).unwrap_or("").to_owned();
            let group = tags.get(&TagKey::Group).unwrap_or("").to_owned();
            let step = tags.get(&TagKey::Name).unwrap_or("").to_owned();
            match checks
                .iter_mut()
                .find(|c| c.name == name && c.group == group && c.step == step)
            {
                Some(c) => {
                    c.passes += passes;
                    c.fails += t - passes;
                }
                None => checks.push(CheckRow {
                    name,
                    group,
                    step,
                    passes: *passes,
                    fails: t - passes,
                }),
            }
        }
        if Some(k.metric) == step_errors_id
            && let SeriesData::Counter { sum } = v
        {
            let code = tags.get(&TagKey::ErrorCode).unwrap_or("step_error");
            *errors.entry(code.to_owned()).or_default() += *sum as u64;
            let (group, step) = (
                tags.get(&TagKey::Group).unwrap_or(""),
                tags.get(&TagKey::Name).unwrap_or(""),
            );
            if let Some(row) = step_errors
                .iter_mut()
                .find(|r| r.group == group && r.step == step && r.code == code)
            {
                row.count += *sum as u64;
            }
        }
        if Some(k.metric) == dur_id
            && let SeriesData::Trend(t) = v
        {
            let name = tags.get(&TagKey::Name).unwrap_or("").to_owned();
            let failed = tags.get(&TagKey::ExpectedResponse) == Some("false");
            let e = ops.entry(name).or_insert((0, 0, None));
            e.0 += t.corrected.len();
            if failed {
                e.1 += t.corrected.len();
            }
            match &mut e.2 {
                Some(h) => {
                    let _ = h.add(&t.corrected);
                }
                None => e.2 = Some(t.corrected.clone()),
            }
        }
        if Some(k.metric) == reqs_id
            && let SeriesData::Counter { sum } = v
        {
            let code = match (tags.get(&TagKey::ErrorCode), tags.get(&TagKey::Status)) {
                (Some(e), _) => Some(e.to_owned()),
                (None, Some(s)) if s.parse::<u16>().is_ok_and(|s| s >= 400) => {
                    Some(format!("http_{s}"))
                }
                _ => None,
            };
            if let Some(c) = code {
                *errors.entry(c).or_default() += *sum as u64;
            }
        }
    }
    let operations = ops
        .into_iter()
        .filter_map(|(name, (n, failed, h))| {
            let h = h?;
            Some(OperationRow {
                name,
                requests: n,
                failed_rate: if n > 0 { failed as f64 / n as f64 } else { 0.0 },
                duration: trend_stats(&h, 1000.0, &[]),
            })
        })
        .collect();
    let mut errors: Vec<ErrorRow> = errors
        .into_iter()
        .map(|(code, count)| ErrorRow { code, count })
        .collect();
    errors.sort_by_key(|e| std::cmp::Reverse(e.count));
    let trend_stats = plan
        .options
        .summary_trend_stats
        .iter()
        .map(|a| a.to_string())
        .collect();
    Summary {
        plan: plan.name.clone(),
        target: info.target,
        duration_ms: info.duration_ms,
        interrupted: info.interrupted,
        metrics,
        checks,
        operations,
        errors,
        step_errors,
        scenarios: info.scenarios,
        verdict,
        trend_stats,
    }
}
