//! Per-interval series for charts, computed from the run's timeline.
//!
//! The HTML report charts what happened over time; this module turns the
//! timeline's interval snapshots (lossless histograms, counters, gauges)
//! into plain numbers per interval, so the page's script only draws and
//! computes nothing. Everything here is read from the saved result's
//! timeline, so a report rendered again from `result.json` shows the same
//! series as the one written at the end of the run.
//!
//! # Series (spec)
//! `t` holds each interval's end in seconds since the run's start (one
//! interval a second, coarser for very long runs); every line has one value
//! per entry of `t`, `None` (JSON `null`, a gap) where the statistic has no
//! samples. Per-second figures divide by the interval's own length.
//!
//! | group | lines |
//! |---|---|
//! | `throughput` | `requests/s` (`http_reqs`), `failed/s` (true samples of `http_req_failed`) |
//! | `latency` | `p50`, `p90`, `p95`, `p99` of `http_req_duration` in ms, corrected; the same with ` raw` appended when any interval's raw histogram differs |
//! | `errors` | one line per error kind: `http_reqs` counted by `error_code` tag, or `http_<status>` for a status ≥ 400 without one; the ten most frequent kinds, the rest as `other` |
//! | `load` | `VUs` (`vus`), `VUs allocated` (`vus_max`), `iterations/s` (`iterations`), `dropped/s` (`dropped_iterations`) |
//! | `phases` | mean ms per request phase: `blocked`, `dns`, `connecting`, `tls`, `sending`, `waiting`, `receiving` |

use gauntlet_metrics::{
    Latency, MetricId, Registry, SeriesData, Snapshot, Stat, TagFilter, TagInterner, TagKey,
    TagSet, Timeline,
};
use serde::Serialize;
use std::collections::BTreeMap;

/// One line of a chart: a label and a value per interval.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Line {
    /// What the line shows (`p95`, `http_500`, `VUs`).
    pub label: String,
    /// One value per interval; `None` where there were no samples.
    pub values: Vec<Option<f64>>,
}

/// Every chart's data, one entry per interval.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct TimeSeries {
    /// Interval ends, seconds since the run's start.
    pub t: Vec<f64>,
    /// Requests and failed requests per second.
    pub throughput: Vec<Line>,
    /// Latency percentiles (ms), corrected and, where it differs, raw.
    pub latency: Vec<Line>,
    /// Errors per interval by kind (counts, not rates).
    pub errors: Vec<Line>,
    /// Active and allocated VUs, iterations and dropped iterations per second.
    pub load: Vec<Line>,
    /// Mean time per request phase (ms).
    pub phases: Vec<Line>,
}

/// Most error kinds charted as their own line; the rest are summed as `other`.
const MAX_ERROR_LINES: usize = 10;

/// Request phases: (metric, label).
const PHASES: [(&str, &str); 7] = [
    ("http_req_blocked", "blocked"),
    ("http_req_dns", "dns"),
    ("http_req_connecting", "connecting"),
    ("http_req_tls_handshaking", "tls"),
    ("http_req_sending", "sending"),
    ("http_req_waiting", "waiting"),
    ("http_req_receiving", "receiving"),
];

const PERCENTILES: [f64; 4] = [50.0, 90.0, 95.0, 99.0];

/// The kind of error a request series counts as, or `None` for a success:
/// its `error_code` tag, else `http_<status>` for a status of 400 or more.
pub fn error_kind(tags: &TagSet) -> Option<String> {
    match (tags.get(&TagKey::ErrorCode), tags.get(&TagKey::Status)) {
        (Some(e), _) => Some(e.to_owned()),
        (None, Some(s)) if s.parse::<u16>().is_ok_and(|s| s >= 400) => Some(format!("http_{s}")),
        _ => None,
    }
}

struct Query<'a> {
    registry: &'a Registry,
    interner: &'a TagInterner,
    none: TagFilter,
}

impl Query<'_> {
    fn stat(
        &self,
        snap: &Snapshot,
        id: Option<MetricId>,
        stat: Stat,
        which: Latency,
    ) -> Option<f64> {
        snap.query(self.registry, self.interner, id?, &self.none, stat, which)
    }

    /// Per second of the interval; a counter that did not count is 0.
    fn per_sec(&self, snap: &Snapshot, id: Option<MetricId>) -> Option<f64> {
        let secs = snap.window_secs();
        if secs <= 0.0 {
            return None;
        }
        Some(
            self.stat(snap, id, Stat::Count, Latency::Corrected)
                .unwrap_or(0.0)
                / secs,
        )
    }
}

fn scaled(v: Option<f64>) -> Option<f64> {
    v.map(|us| us / 1000.0)
}

/// Whether any interval kept a raw latency histogram for `id`.
fn has_raw(snap: &Snapshot, id: MetricId) -> bool {
    snap.series_of(id)
        .any(|(_, d)| matches!(d, SeriesData::Trend(t) if t.raw.is_some()))
}

/// Compute every chart series of a timeline.
pub fn compute(timeline: &Timeline, registry: &Registry, interner: &TagInterner) -> TimeSeries {
    let q = Query {
        registry,
        interner,
        none: TagFilter::default(),
    };
    let id = |name: &str| registry.get(name);
    let (reqs, failed, dur) = (
        id("http_reqs"),
        id("http_req_failed"),
        id("http_req_duration"),
    );
    let (vus, vus_max, iters, dropped) = (
        id("vus"),
        id("vus_max"),
        id("iterations"),
        id("dropped_iterations"),
    );
    let phase_ids: Vec<Option<MetricId>> = PHASES.iter().map(|(m, _)| id(m)).collect();
    let raw = dur.is_some_and(|d| has_raw(timeline.total(), d));
    let n = timeline.len();
    let mut out = TimeSeries {
        t: Vec::with_capacity(n),
        ..TimeSeries::default()
    };
    let line = |label: &str| Line {
        label: label.to_owned(),
        values: Vec::with_capacity(n),
    };
    let mut throughput = vec![line("requests/s"), line("failed/s")];
    let mut latency: Vec<Line> = PERCENTILES.iter().map(|p| line(&format!("p{p}"))).collect();
    if raw {
        latency.extend(PERCENTILES.iter().map(|p| line(&format!("p{p} raw"))));
    }
    let mut load = vec![
        line("VUs"),
        line("VUs allocated"),
        line("iterations/s"),
        line("dropped/s"),
    ];
    let mut phases: Vec<Line> = PHASES.iter().map(|(_, l)| line(l)).collect();
    let mut errors: BTreeMap<String, Vec<Option<f64>>> = BTreeMap::new();
    for (i, snap) in timeline.intervals().iter().enumerate() {
        out.t.push(snap.end_ms as f64 / 1000.0);
        throughput[0].values.push(q.per_sec(&snap, reqs));
        let failures = q.stat(&snap, failed, Stat::Count, Latency::Corrected);
        let secs = snap.window_secs();
        throughput[1]
            .values
            .push((secs > 0.0).then(|| failures.unwrap_or(0.0) / secs));
        for (j, p) in PERCENTILES.iter().enumerate() {
            let stat = Stat::percentile(*p).unwrap_or(Stat::Med);
            latency[j]
                .values
                .push(scaled(q.stat(&snap, dur, stat, Latency::Corrected)));
            if raw {
                latency[j + PERCENTILES.len()].values.push(scaled(q.stat(
                    &snap,
                    dur,
                    stat,
                    Latency::Raw,
                )));
            }
        }
        load[0]
            .values
            .push(q.stat(&snap, vus, Stat::Value, Latency::Corrected));
        load[1]
            .values
            .push(q.stat(&snap, vus_max, Stat::Value, Latency::Corrected));
        load[2].values.push(q.per_sec(&snap, iters));
        load[3].values.push(q.per_sec(&snap, dropped));
        for (line, pid) in phases.iter_mut().zip(&phase_ids) {
            line.values
                .push(scaled(q.stat(&snap, *pid, Stat::Avg, Latency::Corrected)));
        }
        if let Some(reqs) = reqs {
            for (k, d) in snap.series_of(reqs) {
                let (Some(kind), SeriesData::Counter { sum }) =
                    (error_kind(&interner.resolve(k.tags)), d)
                else {
                    continue;
                };
                let v = errors.entry(kind).or_insert_with(|| vec![Some(0.0); i]);
                v.resize(i + 1, Some(0.0));
                v[i] = Some(v[i].unwrap_or(0.0) + sum);
            }
        }
        for v in errors.values_mut() {
            v.resize(i + 1, Some(0.0));
        }
    }
    let mut kinds: Vec<(String, Vec<Option<f64>>)> = errors.into_iter().collect();
    let total = |v: &[Option<f64>]| v.iter().flatten().sum::<f64>();
    kinds.sort_by(|a, b| total(&b.1).total_cmp(&total(&a.1)).then(a.0.cmp(&b.0)));
    if kinds.len() > MAX_ERROR_LINES {
        let rest = kinds.split_off(MAX_ERROR_LINES - 1);
        let mut other = vec![Some(0.0); n];
        for (_, v) in rest {
            for (o, x) in other.iter_mut().zip(v) {
                *o = Some(o.unwrap_or(0.0) + x.unwrap_or(0.0));
            }
        }
        kinds.push(("other".to_owned(), other));
    }
    out.errors = kinds
        .into_iter()
        .map(|(label, values)| Line { label, values })
        .collect();
    out.throughput = throughput;
    out.latency = latency;
    out.load = load;
    out.phases = phases;
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use gauntlet_metrics::{MetricKind, Recorder, SeriesKey, Unit};
    use std::sync::Arc;

    fn setup() -> (Arc<Registry>, TagInterner) {
        let mut r = Registry::new();
        r.register("http_reqs", MetricKind::Counter, Unit::Count)
            .unwrap();
        r.register("http_req_duration", MetricKind::Trend, Unit::Microseconds)
            .unwrap();
        r.register("vus", MetricKind::Gauge, Unit::Count).unwrap();
        (Arc::new(r), TagInterner::new())
    }

    #[test]
    fn per_interval_rates_percentiles_and_error_kinds() {
        let (reg, interner) = setup();
        let reqs = reg.get("http_reqs").unwrap();
        let dur = reg.get("http_req_duration").unwrap();
        let vus = reg.get("vus").unwrap();
        let tags = |pairs: &[(TagKey, &str)]| {
            interner.intern(TagSet::new(
                pairs.iter().map(|(k, v)| (k.clone(), Arc::<str>::from(*v))),
            ))
        };
        let ok = tags(&[(TagKey::Status, "200")]);
        let e500 = tags(&[(TagKey::Status, "500")]);
        let refused = tags(&[(TagKey::ErrorCode, "connection_refused")]);
        let mut tl = Timeline::new(100);
        let mut rec = Recorder::new(reg.clone());
        // Second 1: 10 ok requests at 1..=10 ms, 2 VUs.
        for ms in 1..=10u64 {
            rec.add_counter(SeriesKey::new(reqs, ok), 1.0);
            rec.record_trend(SeriesKey::new(dur, ok), ms * 1000);
        }
        rec.set_gauge(SeriesKey::new(vus, tags(&[])), 2.0);
        tl.push(rec.take_interval(0, 1000));
        // Second 2 (half a second long): 3 × 500 and 1 refused, 4 VUs.
        rec.add_counter(SeriesKey::new(reqs, e500), 3.0);
        rec.add_counter(SeriesKey::new(reqs, refused), 1.0);
        rec.set_gauge(SeriesKey::new(vus, tags(&[])), 4.0);
        tl.push(rec.take_interval(1000, 1500));
        let s = compute(&tl, &reg, &interner);
        assert_eq!(s.t, vec![1.0, 1.5]);
        assert_eq!(s.throughput[0].values, vec![Some(10.0), Some(8.0)]);
        let p50 = &s.latency[0];
        assert_eq!(p50.label, "p50");
        assert_eq!(p50.values[1], None, "no latency samples in second 2");
        assert!((p50.values[0].unwrap() - 5.0).abs() < 0.01);
        assert_eq!(s.latency.len(), 4, "closed model: no raw lines");
        assert_eq!(s.load[0].values, vec![Some(2.0), Some(4.0)]);
        let labels: Vec<&str> = s.errors.iter().map(|l| l.label.as_str()).collect();
        assert_eq!(labels, vec!["http_500", "connection_refused"]);
        assert_eq!(s.errors[0].values, vec![Some(0.0), Some(3.0)]);
        assert_eq!(s.errors[1].values, vec![Some(0.0), Some(1.0)]);
    }
}
