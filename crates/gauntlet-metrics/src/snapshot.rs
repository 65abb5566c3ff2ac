//! Mergeable snapshots of what was recorded over a window, and typed queries.
//!
//! A [`Snapshot`] is the unit everything else trades in: a recorder hands
//! one out per interval, the engine merges the workers' snapshots of the
//! same interval, the timeline merges consecutive intervals, and result files
//! from several machines merge into one. Merging is exact (histogram buckets
//! add up; nothing is averaged), associative, and commutative except for a
//! gauge's last value (see [`Snapshot::merge`]).

use crate::interner::{TagFilter, TagInterner, TagSetId};
use crate::registry::{MetricId, MetricKind, Registry};
use crate::stat::{Latency, Stat};
use crate::{Histogram, new_histogram};
use std::collections::BTreeMap;

/// A series: one metric with one tag set. Two integers, cheap to hash; the
/// engine builds these once per step and status and reuses them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SeriesKey {
    /// The metric.
    pub metric: MetricId,
    /// Its tags.
    pub tags: TagSetId,
}

impl SeriesKey {
    /// A series key.
    pub fn new(metric: MetricId, tags: TagSetId) -> SeriesKey {
        SeriesKey { metric, tags }
    }
}

/// A trend's distributions: the corrected one always, the raw one only where
/// it differs.
#[derive(Debug, Clone, PartialEq)]
pub struct TrendData {
    /// Every sample, measured from the intended start (open model) or the
    /// actual start (closed model, where there is no difference).
    pub corrected: Histogram,
    /// Measured from the actual send; `None` while it equals `corrected`
    /// (every closed-model run), so it costs nothing there.
    pub raw: Option<Histogram>,
    /// Samples above [`crate::MAX_VALUE`] that were recorded as that maximum
    /// instead: counted so an out-of-range value is never lost silently.
    pub clamped: u64,
}

impl Default for TrendData {
    fn default() -> TrendData {
        TrendData::new()
    }
}

impl TrendData {
    /// No samples.
    pub fn new() -> TrendData {
        TrendData {
            corrected: new_histogram(),
            raw: None,
            clamped: 0,
        }
    }

    /// The raw histogram (the corrected one when both are the same).
    pub fn raw_or_corrected(&self) -> &Histogram {
        self.raw.as_ref().unwrap_or(&self.corrected)
    }

    /// The histogram a query for `which` reads.
    pub fn histogram(&self, which: Latency) -> &Histogram {
        match which {
            Latency::Raw => self.raw_or_corrected(),
            Latency::Corrected => &self.corrected,
        }
    }

    /// Number of samples.
    pub fn len(&self) -> u64 {
        self.corrected.len()
    }

    /// Whether there are no samples.
    pub fn is_empty(&self) -> bool {
        self.corrected.is_empty()
    }

    /// Add another trend's samples (exact: bucket counts add up).
    pub fn merge(&mut self, other: &TrendData) {
        match (&mut self.raw, &other.raw) {
            (None, None) => {}
            (Some(r), None) => add(r, &other.corrected),
            (None, Some(o)) => {
                // Our raw samples so far equal our corrected ones.
                let mut r = self.corrected.clone();
                add(&mut r, o);
                self.raw = Some(r);
            }
            (Some(r), Some(o)) => add(r, o),
        }
        add(&mut self.corrected, &other.corrected);
        self.clamped = self.clamped.saturating_add(other.clamped);
    }
}

/// Add `from` into `into`, growing `into` as needed. Cannot lose samples:
/// with auto-resize on, adding fails only if the counts array would not fit
/// in `usize`, which values clamped to one hour never reach.
pub(crate) fn add(into: &mut Histogram, from: &Histogram) {
    into.auto(true);
    let _ = into.add(from);
}

/// What one series holds for a window.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum SeriesData {
    /// Counter.
    Counter {
        /// Sum of the added values.
        sum: f64,
    },
    /// Gauge.
    Gauge {
        /// The last value set.
        last: f64,
        /// The smallest value set.
        min: f64,
        /// The largest value set.
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
    /// Nothing recorded yet, for a metric of `kind`.
    pub fn empty(kind: MetricKind) -> SeriesData {
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
            MetricKind::Trend => SeriesData::Trend(TrendData::new()),
        }
    }

    /// The kind of metric this data belongs to.
    pub fn kind(&self) -> MetricKind {
        match self {
            SeriesData::Counter { .. } => MetricKind::Counter,
            SeriesData::Gauge { .. } => MetricKind::Gauge,
            SeriesData::Rate { .. } => MetricKind::Rate,
            SeriesData::Trend(_) => MetricKind::Trend,
        }
    }

    /// A statistic of this data in the metric's unit (µs for durations),
    /// with `window_secs` turning counters into rates: how windowed
    /// conditions read a stretch of the timeline merged series by series.
    pub fn stat(&self, stat: Stat, which: Latency, window_secs: f64) -> Option<f64> {
        stat_of(self, stat, which, window_secs)
    }

    /// Merge `other` in, taking it as the later (or a concurrent) window: a
    /// gauge's last value becomes `other`'s. Data of another kind is ignored
    /// (it cannot come from one registry).
    pub fn merge(&mut self, other: &SeriesData) {
        self.merge_ordered(other, true);
    }

    /// Merge, with `other_is_later` deciding whose gauge `last` survives.
    pub(crate) fn merge_ordered(&mut self, other: &SeriesData, other_is_later: bool) {
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
                if other_is_later {
                    *last = *l;
                }
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
                *passes = passes.saturating_add(*p);
                *total = total.saturating_add(*t);
            }
            (SeriesData::Trend(a), SeriesData::Trend(b)) => a.merge(b),
            _ => {}
        }
    }
}

/// Everything recorded during one window: an interval, or a whole run.
///
/// `start_ms` and `end_ms` are milliseconds since the run's start; the
/// window length turns counters into per-second rates.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Snapshot {
    /// Window start, ms since the run's start.
    pub start_ms: u64,
    /// Window end, ms since the run's start.
    pub end_ms: u64,
    /// Every series that recorded something in the window.
    pub series: BTreeMap<SeriesKey, SeriesData>,
}

impl Snapshot {
    /// An empty snapshot of a window.
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

    /// Empty with a zero-length window, like `Snapshot::default()`: the
    /// identity of [`Snapshot::merge`].
    fn is_blank(&self) -> bool {
        self.series.is_empty() && self.start_ms == self.end_ms
    }

    /// The window's length in seconds.
    pub fn window_secs(&self) -> f64 {
        self.end_ms.saturating_sub(self.start_ms) as f64 / 1000.0
    }

    /// Merge another snapshot in: series add up and the window becomes the
    /// span of both. A blank snapshot (empty, zero-length window, like
    /// `Snapshot::default()`) is the identity: merging into one takes the
    /// other's window, merging one in changes nothing.
    ///
    /// Counters, rates, trends and gauge min/max merge associatively and
    /// commutatively. A gauge's `last` is taken from the snapshot whose
    /// window ends later; on a tie (workers' snapshots of the same interval)
    /// from `other`. That is associative for snapshots of the same window
    /// and for snapshots merged in time order, which is how the engine and
    /// [`crate::Timeline`] merge.
    pub fn merge(&mut self, other: &Snapshot) {
        if other.is_blank() {
            return;
        }
        let other_is_later = self.widen(other);
        for (k, v) in &other.series {
            match self.series.get_mut(k) {
                Some(mine) => mine.merge_ordered(v, other_is_later),
                None => {
                    self.series.insert(*k, v.clone());
                }
            }
        }
    }

    /// [`Snapshot::merge`], taking `other`: its series that are new here
    /// move in instead of being copied, since the collector merges every
    /// worker's interval once a second (see `docs/performance.md`).
    pub fn merge_owned(&mut self, other: Snapshot) {
        if other.is_blank() {
            return;
        }
        let other_is_later = self.widen(&other);
        for (k, v) in other.series {
            match self.series.entry(k) {
                std::collections::btree_map::Entry::Occupied(mut mine) => {
                    mine.get_mut().merge_ordered(&v, other_is_later)
                }
                std::collections::btree_map::Entry::Vacant(e) => {
                    e.insert(v);
                }
            }
        }
    }

    /// Cover `other`'s window too; whether `other` is the later one.
    fn widen(&mut self, other: &Snapshot) -> bool {
        let other_is_later = other.end_ms >= self.end_ms;
        if self.is_blank() {
            self.start_ms = other.start_ms;
            self.end_ms = other.end_ms;
        } else {
            self.start_ms = self.start_ms.min(other.start_ms);
            self.end_ms = self.end_ms.max(other.end_ms);
        }
        other_is_later
    }

    /// Every series of one metric.
    pub fn series_of(
        &self,
        metric: MetricId,
    ) -> impl DoubleEndedIterator<Item = (&SeriesKey, &SeriesData)> {
        self.series.range(
            SeriesKey {
                metric,
                tags: TagSetId(0),
            }..=SeriesKey {
                metric,
                tags: TagSetId(u32::MAX),
            },
        )
    }

    /// Every series of `metric` whose tags match `filter` (k6 sub-metric),
    /// merged into one; `None` when no series matches.
    pub fn select(
        &self,
        metric: MetricId,
        filter: &TagFilter,
        interner: &TagInterner,
    ) -> Option<SeriesData> {
        let mut matching = self.matching(metric, filter, interner).into_iter();
        let mut out = matching.next()?.clone();
        for v in matching {
            out.merge(v);
        }
        Some(out)
    }

    /// The data of every series of `metric` whose tags match `filter`.
    fn matching(
        &self,
        metric: MetricId,
        filter: &TagFilter,
        interner: &TagInterner,
    ) -> Vec<&SeriesData> {
        if filter.is_empty() {
            return self.series_of(metric).map(|(_, v)| v).collect();
        }
        interner.with_sets(|sets| {
            self.series_of(metric)
                .filter(|(k, _)| {
                    // An id the interner did not issue has no tags.
                    sets.get(k.tags.0 as usize)
                        .is_some_and(|tags| tags.matches(filter))
                })
                .map(|(_, v)| v)
                .collect()
        })
    }

    /// A statistic of a metric, or of a sub-metric when `filter` is not
    /// empty, in the metric's unit (µs for durations: the caller converts).
    ///
    /// `registry` must be the one that issued `metric` and `interner` the
    /// one that issued the snapshot's tag ids (after loading a result file,
    /// the fresh ones it was loaded with). `None` when the metric is unknown
    /// to `registry`, nothing matches, the statistic does not apply to the
    /// metric's kind (see [`Stat`]), or a rate is asked of a zero-length
    /// window.
    pub fn query(
        &self,
        registry: &Registry,
        interner: &TagInterner,
        metric: MetricId,
        filter: &TagFilter,
        stat: Stat,
        which: Latency,
    ) -> Option<f64> {
        let def = registry.get_def(metric)?;
        let matching = self.matching(metric, filter, interner);
        let merged;
        let data = match matching.as_slice() {
            [] => return None,
            // The common case (one series) reads in place, without a copy.
            [one] => *one,
            [first, rest @ ..] => {
                let mut m = (*first).clone();
                for v in rest {
                    m.merge(v);
                }
                merged = m;
                &merged
            }
        };
        if data.kind() != def.kind {
            return None;
        }
        stat_of(data, stat, which, self.window_secs())
    }
}

/// A statistic of one series' data; `window_secs` turns counters into rates.
pub(crate) fn stat_of(
    data: &SeriesData,
    stat: Stat,
    which: Latency,
    window_secs: f64,
) -> Option<f64> {
    // Every statistic is named in every kind, so a new one must be placed.
    use Stat::*;
    match data {
        SeriesData::Counter { sum } => match stat {
            Count | Sum => Some(*sum),
            Rate => (window_secs > 0.0).then(|| sum / window_secs),
            Fails | Value | Avg | Min | Med | Max | Stat::Percentile(_) => None,
        },
        SeriesData::Gauge { last, min, max } => match stat {
            Value => Some(*last),
            Min => Some(*min),
            Max => Some(*max),
            Count | Sum | Rate | Fails | Avg | Med | Stat::Percentile(_) => None,
        },
        SeriesData::Rate { passes, total } => match stat {
            Rate => (*total > 0).then(|| *passes as f64 / *total as f64),
            Count => Some(*passes as f64),
            Fails => Some(total.saturating_sub(*passes) as f64),
            Sum | Value | Avg | Min | Med | Max | Stat::Percentile(_) => None,
        },
        SeriesData::Trend(t) => {
            let h = t.histogram(which);
            if h.is_empty() {
                return None;
            }
            match stat {
                Count => Some(h.len() as f64),
                Avg => Some(h.mean()),
                Min => Some(h.min() as f64),
                Max => Some(h.max() as f64),
                Med => Some(h.value_at_quantile(0.5) as f64),
                Stat::Percentile(p) => Some(h.value_at_quantile(p.quantile()) as f64),
                Sum | Rate | Fails | Value => None,
            }
        }
    }
}
