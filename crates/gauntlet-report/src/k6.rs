//! `--summary-export FILE`: the end-of-test summary in the shape of k6's
//! summary JSON (the `data` object k6 hands to `handleSummary`), so tools
//! that read k6 summaries read ours.
//!
//! # Format (spec)
//! ```text
//! {
//!   "root_group": { "name": "", "path": "", "id": "", "groups": [ {name, path, id, groups: [], checks: [...]} ], "checks": [] },
//!   "options": { "summaryTrendStats": ["avg","min","med","max","p(90)","p(95)"], "summaryTimeUnit": "", "noColor": false },
//!   "state": { "isStdOutTTY": false, "isStdErrTTY": false, "testRunDurationMs": 15012.3 },
//!   "metrics": {
//!     "<name>" | "<name>{tag:value}": {
//!       "type": "counter" | "gauge" | "rate" | "trend",
//!       "contains": "time" | "data" | "default",
//!       "values": { ... },               // counter: count, rate; gauge: value, min, max;
//!                                        // rate: rate, passes, fails; trend: avg, min, med, max, p(N)...
//!       "thresholds": { "<expression>": { "ok": true } }   // only on metrics with thresholds
//!     }
//!   }
//! }
//! ```
//! Trend values are milliseconds for time metrics, as in k6. Each check
//! appears under the group (operation) it ran in: `{name, path, id, passes, fails}`;
//! `id` is the hex MD5 of `path`, as k6 computes it (root group: path `""`,
//! a group `::<operation>`, a check `<group path>::<check>`). The same check
//! on two steps of one operation is two entries, named `<check> [<step>]`.
//! A threshold's sub-metric without samples still appears with its own type
//! (a rate is a rate): counters and rates read zero, trends and gauges have
//! no values; its threshold is `"ok": false` (not evaluated is not a pass).
//! Additions beyond k6 live under `"gauntlet"` (verdict, SLAs, raw latency when
//! it differs from the corrected one) and are safe for k6 readers to ignore.

use crate::model::{Summary, TrendStats, Values};
use gauntlet_metrics::{MetricKind, Unit};
use md5::{Digest, Md5};
use serde_json::{Map, Value, json};

/// k6's id of a group or check: the hex MD5 of its path.
fn k6_id(path: &str) -> String {
    Md5::digest(path.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn contains(unit: Unit) -> &'static str {
    match unit {
        Unit::Microseconds => "time",
        Unit::Bytes => "data",
        Unit::Count | Unit::None => "default",
    }
}

fn trend_values(t: &TrendStats) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("avg".into(), json!(t.avg));
    m.insert("min".into(), json!(t.min));
    m.insert("med".into(), json!(t.med));
    m.insert("max".into(), json!(t.max));
    for (p, v) in &t.percentiles {
        let name = format!("p({})", format!("{p}").trim_end_matches(".0"));
        m.insert(name, json!(v));
    }
    m
}

/// Build the k6-shaped summary document.
pub fn summary_json(s: &Summary, stdout_tty: bool) -> Value {
    let mut metrics = Map::new();
    for row in &s.metrics {
        let key = if row.tags.is_empty() {
            row.name.clone()
        } else {
            format!(
                "{}{{{}}}",
                row.name,
                row.tags
                    .iter()
                    .map(|(k, v)| format!("{k}:{v}"))
                    .collect::<Vec<_>>()
                    .join(",")
            )
        };
        let (kind, values) = match &row.values {
            Values::Counter { count, rate } => ("counter", json!({"count": count, "rate": rate})),
            Values::Gauge { value, min, max } => {
                ("gauge", json!({"value": value, "min": min, "max": max}))
            }
            Values::Rate {
                rate,
                passes,
                fails,
            } => (
                "rate",
                json!({"rate": rate, "passes": passes, "fails": fails}),
            ),
            Values::Trend { stats, .. } => ("trend", Value::Object(trend_values(stats))),
        };
        let mut entry = Map::new();
        entry.insert("type".into(), json!(kind));
        entry.insert("contains".into(), json!(contains(row.unit)));
        entry.insert("values".into(), values);
        let ths: Map<String, Value> = s
            .verdict
            .thresholds
            .iter()
            .filter(|t| t.metric == key)
            .map(|t| (t.expression.clone(), json!({"ok": t.passed()})))
            .collect();
        if !ths.is_empty() {
            entry.insert("thresholds".into(), Value::Object(ths));
        }
        metrics.insert(key, Value::Object(entry));
    }
    // Thresholds on metrics without samples still appear, typed as their
    // metric is, so k6 readers can parse them.
    for t in &s.verdict.thresholds {
        let e = metrics.entry(t.metric.clone()).or_insert_with(|| {
            let (kind, unit) = crate::terminal::metric_kind(s, &t.metric);
            let (kind, values) = match kind {
                MetricKind::Counter => ("counter", json!({"count": 0, "rate": 0})),
                MetricKind::Rate => ("rate", json!({"rate": 0, "passes": 0, "fails": 0})),
                MetricKind::Gauge => ("gauge", json!({})),
                MetricKind::Trend => ("trend", json!({})),
            };
            json!({"type": kind, "contains": contains(unit), "values": values})
        });
        if let Some(obj) = e.as_object_mut() {
            let ths = obj.entry("thresholds").or_insert_with(|| json!({}));
            if let Some(m) = ths.as_object_mut() {
                m.entry(t.expression.clone())
                    .or_insert_with(|| json!({"ok": t.passed()}));
            }
        }
    }
    let mut groups: Vec<Value> = Vec::new();
    let mut names: Vec<&str> = Vec::new();
    for c in &s.checks {
        if !names.contains(&c.group.as_str()) {
            names.push(&c.group);
        }
    }
    for g in names {
        let path = format!("::{g}");
        let in_group: Vec<_> = s.checks.iter().filter(|c| c.group == g).collect();
        let checks: Vec<Value> = in_group
            .iter()
            .map(|c| {
                let shared = in_group
                    .iter()
                    .any(|o| o.name == c.name && o.step != c.step);
                let name = if shared {
                    format!("{} [{}]", c.name, c.step)
                } else {
                    c.name.clone()
                };
                let check_path = format!("{path}::{name}");
                json!({"name": name, "id": k6_id(&check_path), "path": check_path, "passes": c.passes, "fails": c.fails})
            })
            .collect();
        groups.push(
            json!({"name": g, "id": k6_id(&path), "path": path, "groups": [], "checks": checks}),
        );
    }
    let raw: Map<String, Value> = s
        .metrics
        .iter()
        .filter_map(|m| match &m.values {
            Values::Trend { raw: Some(r), .. } => {
                Some((m.name.clone(), Value::Object(trend_values(r))))
            }
            _ => None,
        })
        .collect();
    json!({
        "root_group": {"name": "", "path": "", "id": k6_id(""), "groups": groups, "checks": []},
        "options": {"summaryTrendStats": s.trend_stats, "summaryTimeUnit": "", "noColor": false},
        "state": {"isStdOutTTY": stdout_tty, "isStdErrTTY": false, "testRunDurationMs": s.duration_ms as f64},
        "metrics": metrics,
        "gauntlet": {
            "plan": s.plan,
            "verdict": s.verdict,
            "rawLatency": raw,
            "interrupted": s.interrupted,
        }
    })
}
