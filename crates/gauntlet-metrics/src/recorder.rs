//! The per-worker recorder: the only thing touched per sample.

use crate::MAX_VALUE;
use crate::registry::{MetricKind, Registry};
use crate::snapshot::{SeriesData, SeriesKey, Snapshot, TrendData};
use std::collections::HashMap;
use std::sync::Arc;

/// One per worker. Methods take `&mut self`: no locks, no channel, and no
/// allocation per sample once a series exists (a hash lookup and an HDR
/// bucket increment). [`Recorder::take_interval`] moves what was recorded
/// into a [`Snapshot`] and starts over.
#[derive(Debug)]
pub struct Recorder {
    registry: Arc<Registry>,
    series: HashMap<SeriesKey, SeriesData>,
}

impl Recorder {
    /// A recorder for the metrics of `registry`.
    pub fn new(registry: Arc<Registry>) -> Recorder {
        Recorder {
            registry,
            series: HashMap::new(),
        }
    }

    fn slot(&mut self, key: SeriesKey) -> &mut SeriesData {
        let kind = self.registry.def(key.metric).kind;
        self.series
            .entry(key)
            .or_insert_with(|| SeriesData::empty(kind))
    }

    /// Add to a counter.
    pub fn add_counter(&mut self, key: SeriesKey, value: f64) {
        if let SeriesData::Counter { sum } = self.slot(key) {
            *sum += value;
        }
    }

    /// Set a gauge.
    pub fn set_gauge(&mut self, key: SeriesKey, value: f64) {
        if let SeriesData::Gauge { last, min, max } = self.slot(key) {
            *last = value;
            *min = min.min(value);
            *max = max.max(value);
        }
    }

    /// Add a sample to a rate.
    pub fn add_rate(&mut self, key: SeriesKey, pass: bool) {
        if let SeriesData::Rate { passes, total } = self.slot(key) {
            *passes += u64::from(pass);
            *total += 1;
        }
    }

    /// Add a sample to a trend (closed model: one measurement).
    pub fn record_trend(&mut self, key: SeriesKey, value: u64) {
        if let SeriesData::Trend(t) = self.slot(key) {
            let v = value.min(MAX_VALUE);
            let _ = t.corrected.record(v);
            if let Some(r) = &mut t.raw {
                let _ = r.record(v);
            }
        }
    }

    /// Add a latency measured two ways: from the intended start (`corrected`)
    /// and from the actual send (`raw`). The raw histogram is created on the
    /// first sample where they differ (as a copy of the corrected one so far),
    /// so closed-model runs never pay for it.
    pub fn record_latency(&mut self, key: SeriesKey, corrected: u64, raw: u64) {
        if let SeriesData::Trend(t) = self.slot(key) {
            let (c, r) = (corrected.min(MAX_VALUE), raw.min(MAX_VALUE));
            if t.raw.is_none() && c != r {
                t.raw = Some(t.corrected.clone());
            }
            let _ = t.corrected.record(c);
            if let Some(h) = &mut t.raw {
                let _ = h.record(r);
            }
        }
    }

    /// Move everything recorded since the last call into a snapshot of the
    /// interval `start_ms..end_ms`, keeping allocated series for reuse.
    pub fn take_interval(&mut self, start_ms: u64, end_ms: u64) -> Snapshot {
        let mut snap = Snapshot::new(start_ms, end_ms);
        for (k, v) in self.series.iter_mut() {
            let empty = match v {
                SeriesData::Counter { sum } => *sum == 0.0,
                SeriesData::Gauge { min, .. } => min.is_infinite(),
                SeriesData::Rate { total, .. } => *total == 0,
                SeriesData::Trend(t) => t.corrected.is_empty(),
            };
            if empty {
                continue;
            }
            let kind = self.registry.def(k.metric).kind;
            let taken = match v {
                SeriesData::Trend(t) => {
                    let out = SeriesData::Trend(TrendData {
                        corrected: t.corrected.clone(),
                        raw: t.raw.clone(),
                    });
                    t.corrected.reset();
                    t.raw = None;
                    out
                }
                other => std::mem::replace(other, SeriesData::empty(kind)),
            };
            snap.series.insert(*k, taken);
        }
        // Gauges keep their last value across intervals.
        for (k, v) in &snap.series {
            if let SeriesData::Gauge { last, .. } = v
                && let Some(SeriesData::Gauge { last: l, .. }) = self.series.get_mut(k)
            {
                *l = *last;
            }
        }
        let _ = MetricKind::Counter;
        snap
    }
}
