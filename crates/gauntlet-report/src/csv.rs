//! `--out csv=FILE`: the timeline as CSV, one row per interval per metric,
//! for spreadsheets and quick plots.
//!
//! # Format (spec)
//! Header: `start_s,end_s,metric,count,rate,avg,min,med,p90,p95,p99,max,value`.
//! One row per interval (1 s; coarser for very long runs) per metric with
//! data, tags merged (the whole metric). Counters fill `count` and `rate`
//! (per second of the interval); rates fill `count` (true samples), `rate`
//! (share) ; gauges fill `value`, `min`, `max`; trends fill `count` and the
//! statistics, in milliseconds for time metrics (corrected latency). Empty
//! cells mean "does not apply".

use gauntlet_metrics::{
    Latency, MetricKind, Registry, Stat, TagFilter, TagInterner, Timeline, Unit,
};

/// Render the timeline CSV.
pub fn render(timeline: &Timeline, registry: &Registry, interner: &TagInterner) -> String {
    let mut out =
        String::from("start_s,end_s,metric,count,rate,avg,min,med,p90,p95,p99,max,value\n");
    let none = TagFilter::default();
    let pct = |p: f64| Stat::percentile(p).unwrap_or(Stat::Med);
    for snap in timeline.intervals().iter() {
        for (id, def) in registry.iter() {
            let q =
                |stat: Stat| snap.query(registry, interner, id, &none, stat, Latency::Corrected);
            let scale = if def.unit == Unit::Microseconds {
                1000.0
            } else {
                1.0
            };
            let f = |v: Option<f64>, s: f64| {
                v.map(|v| format!("{}", (v / s * 1000.0).round() / 1000.0))
                    .unwrap_or_default()
            };
            // Columns after `metric`: count rate avg min med p90 p95 p99 max value.
            let mut row: [String; 10] = Default::default();
            let mut set = |col: usize, v: Option<f64>, scale: f64| row[col] = f(v, scale);
            match def.kind {
                MetricKind::Counter | MetricKind::Rate => {
                    // A counter is present when it counted; a rate when it has a share.
                    let present = if def.kind == MetricKind::Counter {
                        Stat::Count
                    } else {
                        Stat::Rate
                    };
                    if q(present).is_none() {
                        continue;
                    }
                    set(0, q(Stat::Count), 1.0);
                    set(1, q(Stat::Rate), 1.0);
                }
                MetricKind::Gauge => {
                    let v = q(Stat::Value);
                    if v.is_none() {
                        continue;
                    }
                    set(3, q(Stat::Min), 1.0);
                    set(8, q(Stat::Max), 1.0);
                    set(9, v, 1.0);
                }
                _ => {
                    let c = q(Stat::Count);
                    if c.is_none() {
                        continue;
                    }
                    set(0, c, 1.0);
                    for (col, stat) in [
                        (2, Stat::Avg),
                        (3, Stat::Min),
                        (4, Stat::Med),
                        (5, pct(90.0)),
                        (6, pct(95.0)),
                        (7, pct(99.0)),
                        (8, Stat::Max),
                    ] {
                        set(col, q(stat), scale);
                    }
                }
            }
            out.push_str(&format!(
                "{},{},{},{}\n",
                snap.start_ms as f64 / 1000.0,
                snap.end_ms as f64 / 1000.0,
                def.name,
                row.join(",")
            ));
        }
    }
    out
}
