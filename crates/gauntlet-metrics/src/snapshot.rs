//! Mergeable snapshots of what was recorded over an interval, and typed queries.

use crate::interner::{TagInterner, TagKey, TagSetId};
use crate::registry::{MetricId, MetricKind, Registry};
use crate::{Histogram, new_histogram};
use std::collections::BTreeMap;

/// A series: one metric with one tag set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SeriesKey {
    /// The metric.
    pub metric: MetricId,
    /// Its tags.
    pub tags: TagSetId,
}

/// A trend's distributions.
#[derive(Debug, Clone, PartialEq)]
pub struct TrendData {
    /// Every sample, measured from the intended start (open model) or the
    /// actual start (closed model).
    pub corrected: Histogram,
    /// Measured from the actual send; `None` while it equals `corrected`
    /// (closed model), so it costs nothing there.
    pub raw: Option<Histogram>,
}

impl TrendData {
    pub(crate) fn new() -> TrendData {
        TrendData {
            corrected: new_histogram(),
            raw: None,
        }
    }

    /// The raw histogram (the corrected one when both are the same).
    pub fn raw_or_corrected(&self) -> &Histogram {
        self.raw.as_ref().unwrap_or(&self.corrected)
    }

    fn merge(&mut self, other: &TrendData) {
        match (&mut self.raw, &other.raw) {
            (None, None) => {}
            (Some(r), None) => add(r, &other.corrected),
            (None, Some(o)) => {
                let mut r = self.corrected.clone();
                add(&mut r, o);
                self.raw = Some(r);
            }
            (Some(r), Some(o)) => add(r, o),
        }
        add(&mut self.corrected, &other.corrected);
    }
}

fn add(into: &mut Histogram, from: &Histogram) {
    // Auto-resizing histograms with the same precision always merge.
    let _ = into.add(from);
}

/// What one series holds.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum SeriesData {
    /// Counter.
    Counter {
        /// Sum.
        sum: f64,
    },
    /// Gauge.
    Gauge {
        /// Last value.
        last: f64,
        /// Minimum.
        min: f64,
        /// Maximum.
        max: f64,
    },
    /// Rate.
    Rate {
        /// True samples.
        passes: u64,
        /// All samples.
        total: u64,
    },
    /// Trend.
    Trend(TrendData),
}

impl SeriesData {
    pub(crate) fn empty(kind: MetricKind) -> SeriesData {
        match kind {
            MetricKind::Counter => SeriesData::Counter { sum: 0.0 },
            MetricKind::Gauge => SeriesData::Gauge {
                last: 0.0,
                min: f64::INFINITY,
                max: f64::NEG_INFINITY,
            },
            MetricKind::Rate => SeriesData::Rate {
                passes: 0,
                total: 0,
            },
            _ => SeriesData::Trend(TrendData::new()),
        }
    }

    /// Merge `other` (a later or parallel interval) into `self`.
    pub fn merge(&mut self, other: &SeriesData) {
        match (self, other) {
            (SeriesData::Counter { sum }, SeriesData::Counter { sum: o }) => *sum += o,
            (
                SeriesData::Gauge { last, min, max },
                SeriesData::Gauge {
                    last: l,
                    min: mi,
                    max: ma,
                },
            ) => {
                *last = *l;
                *min = min.min(*mi);
                *max = max.max(*ma);
            }
            (
                SeriesData::Rate { passes, total },
                SeriesData::Rate {
                    passes: p,
                    total: t,
                },
            ) => {
                *passes += p;
                *total += t;
            }
            (SeriesData::Trend(a), SeriesData::Trend(b)) => a.merge(b),
            _ => {}
        }
    }
}

/// Everything recorded during one interval (or a whole run).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Snapshot {
    /// Interval start, ms since the run's start.
    pub start_ms: u64,
    /// Interval end, ms since the run's start.
    pub end_ms: u64,
    /// Series.
    pub series: BTreeMap<SeriesKey, SeriesData>,
}

/// Which latency measurement a query reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Latency {
    /// From the intended start (coordinated-omission corrected).
    Corrected,
    /// From the actual send.
    Raw,
}

/// A statistic over a metric (typed, never `"p(95)"` strings).
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum Stat {
    /// Counter sum, trend sample count, rate true count.
    Count,
    /// Counter per second of the snapshot window, rate share of true samples.
    Rate,
    /// Gauge last value.
    Value,
    /// Gauge minimum.
    GaugeMin,
    /// Gauge maximum.
    GaugeMax,
    /// Rate false count.
    Fails,
    /// Trend mean.
    Avg,
    /// Trend minimum.
    Min,
    /// Trend median.
    Med,
    /// Trend maximum.
    Max,
    /// Trend percentile, 0..=100.
    Percentile(f64),
}

/// k6 sub-metric selection: every listed tag must be present with that value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TagFilter(pub Vec<(TagKey, String)>);

impl Snapshot {
    /// An empty snapshot for an interval.
    pub fn new(start_ms: u64, end_ms: u64) -> Snapshot {
        Snapshot {
            start_ms,
            end_ms,
            series: BTreeMap::new(),
        }
    }

    /// Whether nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.series.is_empty()
    }

    /// Merge another snapshot in: series add up, the window widens.
    pub fn merge(&mut self, other: &Snapshot) {
        if self.series.is_empty() && self.start_ms == self.end_ms {
            self.start_ms = other.start_ms;
            self.end_ms = other.end_ms;
        } else {
            self.start_ms = self.start_ms.min(other.start_ms);
            self.end_ms = self.end_ms.max(other.end_ms);
        }
        for (k, v) in &other.series {
            match self.series.get_mut(k) {
                Some(mine) => mine.merge(v),
                None => {
                    self.series.insert(*k, v.clone());
                }
            }
        }
    }

    /// Every series of `metric` whose tags match `filter`, merged into one.
    pub fn select(
        &self,
        metric: MetricId,
        filter: &TagFilter,
        interner: &TagInterner,
    ) -> Option<SeriesData> {
        let mut out: Option<SeriesData> = None;
        for (k, v) in self.series.range(
            SeriesKey {
                metric,
                tags: TagSetId(0),
            }..=SeriesKey {
                metric,
                tags: TagSetId(u32::MAX),
            },
        ) {
            if !filter.0.is_empty() {
                let tags = interner.resolve(k.tags);
                if !filter
                    .0
                    .iter()
                    .all(|(fk, fv)| tags.get(fk) == Some(fv.as_str()))
                {
                    continue;
                }
            }
            match &mut out {
                Some(o) => o.merge(v),
                None => out = Some(v.clone()),
            }
        }
        out
    }

    /// A statistic of a metric (sub-metric when `filter` is not empty), in the
    /// metric's unit (µs for durations). `None` when nothing matches or the
    /// statistic does not apply to the metric's kind.
    pub fn query(
        &self,
        registry: &Registry,
        interner: &TagInterner,
        metric: MetricId,
        filter: &TagFilter,
        stat: Stat,
        latency: Latency,
    ) -> Option<f64> {
        let _ = registry;
        let data = self.select(metric, filter, interner)?;
        let secs = (self.end_ms.saturating_sub(self.start_ms) as f64 / 1000.0).max(1e-3);
        stat_of(&data, stat, latency, secs)
    }
}

/// Compute a statistic of one series' data; `window_secs` turns counters into rates.
pub(crate) fn stat_of(
    data: &SeriesData,
    stat: Stat,
    latency: Latency,
    window_secs: f64,
) -> Option<f64> {
    match (data, stat) {
        (SeriesData::Counter { sum }, Stat::Count) => Some(*sum),
        (SeriesData::Counter { sum }, Stat::Rate) => Some(sum / window_secs),
        (SeriesData::Gauge { last, .. }, Stat::Value) => Some(*last),
        (SeriesData::Gauge { min, .. }, Stat::GaugeMin) => Some(*min),
        (SeriesData::Gauge { max, .. }, Stat::GaugeMax) => Some(*max),
        (SeriesData::Rate { passes, total }, Stat::Rate) => {
            (*total > 0).then(|| *passes as f64 / *total as f64)
        }
        (SeriesData::Rate { passes, .. }, Stat::Count) => Some(*passes as f64),
        (SeriesData::Rate { passes, total }, Stat::Fails) => Some((total - passes) as f64),
        (SeriesData::Trend(t), s) => {
            let h = match latency {
                Latency::Corrected => &t.corrected,
                Latency::Raw => t.raw_or_corrected(),
            };
            if h.is_empty() {
                return None;
            }
            match s {
                Stat::Count => Some(h.len() as f64),
                Stat::Avg => Some(h.mean()),
                Stat::Min => Some(h.min() as f64),
                Stat::Max => Some(h.max() as f64),
                Stat::Med => Some(h.value_at_quantile(0.5) as f64),
                Stat::Percentile(p) => {
                    Some(h.value_at_quantile((p / 100.0).clamp(0.0, 1.0)) as f64)
                }
                _ => None,
            }
        }
        _ => None,
    }
}
