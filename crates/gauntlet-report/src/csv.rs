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
            let row: [String; 10] = match def.kind {
                MetricKind::Counter => {
                    let c = q(Stat::Count);
                    if c.is_none() {
                        continue;
                    }
                    [
                        f(c, 1.0),
                        f(q(Stat::Rate), 1.0),
                        String::new(),
                        String::new(),
                        String::new(),
                        String::new(),
                        String::new(),
                        String::new(),
                        String::new(),
                        String::new(),
                    ]
                }
                MetricKind::Rate => {
                    let r = q(Stat::Rate);
                    if r.is_none() {
                        continue;
                    }
                    [
                        f(q(Stat::Count), 1.0),
                        f(r, 1.0),
                        String::new(),
                        String::new(),
                        String::new(),
                        String::new(),
                        String::new(),
                        String::new(),
                        String::new(),
                        String::new(),
                    ]
                }
                MetricKind::Gauge => {
                    let v = q(Stat::Value);
                    if v.is_none() {
                        continue;
                    }
                    [
                        String::new(),
                        String::new(),
                        String::new(),
                        f(q(Stat::Min), 1.0),
                        String::new(),
                        String::new(),
                        String::new(),
                        String::new(),
                        f(q(Stat::Max), 1.0),
                        f(v, 1.0),
                    ]
                }
                _ => {
                    let c = q(Stat::Count);
                    if c.is_none() {
                        continue;
                    }
                    [
                        f(c, 1.0),
                        String::new(),
                        f(q(Stat::Avg), scale),
                        f(q(Stat::Min), scale),
                        f(q(Stat::Med), scale),
                        f(q(pct(90.0)), scale),
                        f(q(pct(95.0)), scale),
                        f(q(pct(99.0)), scale),
                        f(q(Stat::Max), scale),
                        String::new(),
                    ]
                }
            };
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
