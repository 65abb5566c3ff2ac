//! The per-worker recorder: the only code that runs per sample.
//!
//! One [`Recorder`] per worker thread (or per shard), used through
//! `&mut self`: no locks, no atomics, no channel. Recording a sample is one
//! hash lookup of its tag set (a fast non-cryptographic hash of a 4-byte
//! key; a [`Row`] shares it between the samples of one request), an array
//! index by metric id and, for a counter or rate, an add; a trend sample
//! is appended to a short list and goes into its histogram bucket when
//! the list is full or the interval is taken (see [`Pending`]); nothing is
//! allocated once the series exists
//! (a histogram grows only when a value exceeds every earlier one, which is
//! bounded by the one-hour clamp). Once an interval, the engine calls
//! [`Recorder::take_interval`] and merges the workers' snapshots.
//!
//! # Memory per series per worker
//! Counters, gauges and rates: a few dozen bytes. Trends: one HDR histogram
//! (3 significant digits, auto-resizing): 16 KiB while every value is below
//! 2,048 µs, 88 KiB up to 1 s, 136 KiB up to 60 s, and 184 KiB at most (one
//! hour), plus as much again for the raw histogram once an open-model run
//! measures a raw latency that differs from the corrected one. It does not
//! grow with the number of samples.

use crate::interner::TagSetId;
use crate::registry::{MetricId, MetricKind, Registry};
use crate::snapshot::{SeriesData, SeriesKey, Snapshot, TrendData};
use crate::{Histogram, MAX_VALUE, new_histogram};
use rustc_hash::FxHashMap;
use std::sync::Arc;

/// A trend series as the recorder keeps it.
#[derive(Debug)]
struct TrendSlot {
    corrected: Histogram,
    /// Allocated on the first sample whose raw value differs from the
    /// corrected one, then kept (reset) for reuse.
    raw: Option<Histogram>,
    /// Whether `raw` holds this interval's samples; while false, raw equals
    /// corrected and `raw` is neither read nor written.
    raw_live: bool,
    clamped: u64,
}

#[derive(Debug)]
enum Slot {
    Counter { sum: f64, touched: bool },
    Gauge { last: f64, min: f64, max: f64 },
    Rate { passes: u64, total: u64 },
    Trend(TrendSlot),
}

impl Slot {
    fn new(kind: MetricKind) -> Slot {
        match kind {
            MetricKind::Counter => Slot::Counter {
                sum: 0.0,
                touched: false,
            },
            MetricKind::Gauge => Slot::Gauge {
                last: 0.0,
                min: f64::INFINITY,
                max: f64::NEG_INFINITY,
            },
            MetricKind::Rate => Slot::Rate {
                passes: 0,
                total: 0,
            },
            MetricKind::Trend => Slot::Trend(TrendSlot {
                corrected: new_histogram(),
                raw: None,
                raw_live: false,
                clamped: 0,
            }),
        }
    }
}

/// Record `v` (already clamped). With auto-resize on, `record` only fails if
/// the counts array would not fit in `usize`; fall back to clamping then.
fn put(h: &mut Histogram, v: u64) {
    if h.record(v).is_err() {
        h.saturating_record(v);
    }
}

/// [`put`] `n` times.
fn put_n(h: &mut Histogram, v: u64, n: u64) {
    if h.record_n(v, n).is_err() {
        h.saturating_record_n(v, n);
    }
}

/// A fresh histogram with the same range as `h`, so the next interval does
/// not pay for growing again (the allocation is zeroed memory, no copy).
fn fresh_like(h: &Histogram) -> Histogram {
    let mut n = Histogram::new_from(h);
    n.auto(true);
    n
}

/// One per worker: records samples into series and hands them out as
/// interval snapshots.
///
/// Samples for a metric the registry does not know, or of the wrong kind
/// (a counter value for a trend), or non-finite numbers, are not recorded
/// and are counted in [`Recorder::rejected`]: a caller bug made visible
/// without a panic on the hot path.
#[derive(Debug)]
pub struct Recorder {
    registry: Arc<Registry>,
    /// Per tag set, the index in `slots` of each metric's series, indexed by
    /// [`MetricId`] (`NONE` where that metric has no series with these tags
    /// yet). Samples come in groups that share tags (one HTTP request
    /// records 13 metrics with the same tag set), so one hash lookup per
    /// group, then array indexing, instead of one lookup per sample.
    rows: FxHashMap<TagSetId, Vec<u32>>,
    slots: Vec<(SeriesKey, Slot)>,
    /// Trend samples not yet in `slots` (at most [`PENDING`]).
    pending: Vec<Pending>,
    /// Per slot, trend samples of 0 (corrected and raw) not in the
    /// histograms yet: a request on a kept-alive connection has several
    /// phases of 0 µs (blocked, dns, connecting, TLS, often receiving),
    /// and a count beside the slot index costs less than a sample. Added
    /// with one `record_n` when the interval is taken.
    zeros: Vec<u64>,
    /// Each metric's kind by id, a byte each: checked per sample without
    /// reading the registry's larger definitions.
    kinds: Vec<MetricKind>,
    rejected: u64,
}

/// The index of a metric with no series in a row.
const NONE: u32 = u32::MAX;

/// A trend sample not yet in its histograms: the series' index in `slots`
/// and its values, clamped to `MAX_VALUE + 1` (which marks a clamped
/// sample) so that they fit in 32 bits.
///
/// Why samples wait: each of a request's seven trends has its own counts
/// array, and between two requests the kernel's network work evicts them
/// from the cache; appended here (12 bytes, to lines that stay hot) and
/// added in a batch, each array is brought in once per batch instead of
/// once per sample (the measurement is in `docs/performance.md`).
#[derive(Debug, Clone, Copy)]
struct Pending {
    slot: u32,
    corrected: u32,
    raw: u32,
}

/// Trend samples held before they are added (12 KiB per recorder).
const PENDING: usize = 1024;

/// `v` for a [`Pending`]: `MAX_VALUE + 1` stands for anything larger.
fn narrow(v: u64) -> u32 {
    // MAX_VALUE + 1 < u32::MAX (checked below).
    v.min(MAX_VALUE + 1) as u32
}

const _: () = assert!(MAX_VALUE < u32::MAX as u64);

/// Add one sample to a trend series (what [`Row::record_latency`] did at
/// once before samples waited in [`Pending`]).
fn apply(t: &mut TrendSlot, corrected: u32, raw: u32) {
    let (corrected, raw) = (u64::from(corrected), u64::from(raw));
    if corrected > MAX_VALUE || raw > MAX_VALUE {
        t.clamped += 1;
    }
    let (c, r) = (corrected.min(MAX_VALUE), raw.min(MAX_VALUE));
    if !t.raw_live && c != r {
        let raw = t.raw.get_or_insert_with(|| fresh_like(&t.corrected));
        raw.reset();
        crate::snapshot::add(raw, &t.corrected);
        t.raw_live = true;
    }
    put(&mut t.corrected, c);
    if t.raw_live
        && let Some(raw) = &mut t.raw
    {
        put(raw, r);
    }
}

/// Add every pending sample to its series, in the order recorded.
fn flush(pending: &mut Vec<Pending>, slots: &mut [(SeriesKey, Slot)]) {
    for p in pending.drain(..) {
        if let Some((_, Slot::Trend(t))) = slots.get_mut(p.slot as usize) {
            apply(t, p.corrected, p.raw);
        }
    }
}

/// The series of one tag set, from [`Recorder::row`]: records several
/// metrics that share tags for the price of one lookup. Same rules as the
/// recorder's own methods.
#[derive(Debug)]
pub struct Row<'a> {
    tags: TagSetId,
    index: &'a mut Vec<u32>,
    slots: &'a mut Vec<(SeriesKey, Slot)>,
    pending: &'a mut Vec<Pending>,
    zeros: &'a mut Vec<u64>,
    kinds: &'a [MetricKind],
    registry: &'a Registry,
    rejected: &'a mut u64,
}

impl Row<'_> {
    /// The index in `slots` of `metric`'s series with these tags, made on
    /// first use; `None` for a metric the registry does not know.
    #[inline]
    fn index_of(&mut self, metric: MetricId) -> Option<u32> {
        let m = usize::from(metric.0);
        match self.index.get(m) {
            Some(&ix) if ix != NONE => Some(ix),
            _ => {
                let kind = self.registry.get_def(metric)?.kind;
                if self.index.len() <= m {
                    self.index.resize(m + 1, NONE);
                }
                let ix = u32::try_from(self.slots.len())
                    .ok()
                    .filter(|&i| i != NONE)?;
                self.index[m] = ix;
                self.slots
                    .push((SeriesKey::new(metric, self.tags), Slot::new(kind)));
                self.zeros.push(0);
                Some(ix)
            }
        }
    }

    #[inline]
    fn slot(&mut self, metric: MetricId) -> Option<&mut Slot> {
        let ix = self.index_of(metric)?;
        self.slots.get_mut(ix as usize).map(|(_, s)| s)
    }

    /// Add to a counter (`http_reqs`, bytes sent).
    pub fn add_counter(&mut self, metric: MetricId, value: f64) {
        if value.is_finite()
            && let Some(Slot::Counter { sum, touched }) = self.slot(metric)
        {
            *sum += value;
            *touched = true;
        } else {
            *self.rejected += 1;
        }
    }

    /// Set a gauge (`vus`): the last value wins, min and max are kept.
    pub fn set_gauge(&mut self, metric: MetricId, value: f64) {
        if value.is_finite()
            && let Some(Slot::Gauge { last, min, max }) = self.slot(metric)
        {
            *last = value;
            *min = min.min(value);
            *max = max.max(value);
        } else {
            *self.rejected += 1;
        }
    }

    /// Add a sample to a rate (`http_req_failed`, `checks`).
    pub fn add_rate(&mut self, metric: MetricId, pass: bool) {
        if let Some(Slot::Rate { passes, total }) = self.slot(metric) {
            *passes += u64::from(pass);
            *total += 1;
        } else {
            *self.rejected += 1;
        }
    }

    /// Add one value to a trend, in the metric's unit (µs for durations).
    #[inline]
    pub fn record_trend(&mut self, metric: MetricId, value: u64) {
        self.record_latency(metric, value, value);
    }

    /// Add a latency measured two ways; see [`Recorder::record_latency`].
    /// The sample waits in the recorder's [`Pending`] list, so the
    /// series is not touched now: its kind is checked in the kind table.
    #[inline]
    pub fn record_latency(&mut self, metric: MetricId, corrected_us: u64, raw_us: u64) {
        let is_trend = self.kinds.get(usize::from(metric.0)) == Some(&MetricKind::Trend);
        let Some(slot) = self.index_of(metric).filter(|_| is_trend) else {
            *self.rejected += 1;
            return;
        };
        if corrected_us == 0 && raw_us == 0 {
            if let Some(z) = self.zeros.get_mut(slot as usize) {
                *z += 1;
            }
            return;
        }
        if self.pending.len() >= PENDING {
            flush(self.pending, self.slots);
        }
        self.pending.push(Pending {
            slot,
            corrected: narrow(corrected_us),
            raw: narrow(raw_us),
        });
    }
}

impl Recorder {
    /// A recorder for the metrics of `registry`.
    pub fn new(registry: Arc<Registry>) -> Recorder {
        Recorder {
            kinds: registry.iter().map(|(_, d)| d.kind).collect(),
            registry,
            rows: FxHashMap::default(),
            slots: Vec::new(),
            pending: Vec::with_capacity(PENDING),
            zeros: Vec::new(),
            rejected: 0,
        }
    }

    /// The registry this recorder records for.
    pub fn registry(&self) -> &Arc<Registry> {
        &self.registry
    }

    /// The series of one tag set, to record several metrics with these
    /// tags after one lookup (what the engine does per request).
    #[inline]
    pub fn row(&mut self, tags: TagSetId) -> Row<'_> {
        Row {
            tags,
            index: self.rows.entry(tags).or_default(),
            slots: &mut self.slots,
            pending: &mut self.pending,
            zeros: &mut self.zeros,
            kinds: &self.kinds,
            registry: &self.registry,
            rejected: &mut self.rejected,
        }
    }

    /// Add to a counter (`http_reqs`, bytes sent).
    pub fn add_counter(&mut self, key: SeriesKey, value: f64) {
        self.row(key.tags).add_counter(key.metric, value);
    }

    /// Set a gauge (`vus`): the last value wins, min and max are kept.
    pub fn set_gauge(&mut self, key: SeriesKey, value: f64) {
        self.row(key.tags).set_gauge(key.metric, value);
    }

    /// Add a sample to a rate (`http_req_failed`, `checks`).
    pub fn add_rate(&mut self, key: SeriesKey, pass: bool) {
        self.row(key.tags).add_rate(key.metric, pass);
    }

    /// Add one value to a trend, in the metric's unit (µs for durations).
    /// For a latency that has a corrected and a raw measurement, use
    /// [`Recorder::record_latency`].
    #[inline]
    pub fn record_trend(&mut self, key: SeriesKey, value: u64) {
        self.record_latency(key, value, value);
    }

    /// Add a latency measured two ways, in µs: `corrected_us` from the
    /// intended start of the request (its slot in an open-model schedule)
    /// and `raw_us` from the actual send. In a closed model both are the
    /// same and only one histogram is kept: the raw one is started on the
    /// first sample of an interval where they differ, as a copy of the
    /// corrected samples so far (which were equal).
    ///
    /// Values above [`MAX_VALUE`] (one hour) are recorded as `MAX_VALUE` and
    /// counted in the series' `clamped`.
    #[inline]
    pub fn record_latency(&mut self, key: SeriesKey, corrected_us: u64, raw_us: u64) {
        self.row(key.tags)
            .record_latency(key.metric, corrected_us, raw_us);
    }

    /// Samples refused since this recorder was made (unknown metric, wrong
    /// kind, non-finite value).
    pub fn rejected(&self) -> u64 {
        self.rejected
    }

    /// How many series this recorder holds (its memory is proportional).
    pub fn series_count(&self) -> usize {
        self.slots.len()
    }

    /// Move everything recorded since the last call into a snapshot of the
    /// window `start_ms..end_ms` (ms since the run's start) and start over.
    /// Series that recorded nothing are left out. The recorder keeps its
    /// series and their histogram sizes, so the next interval records
    /// without allocating.
    pub fn take_interval(&mut self, start_ms: u64, end_ms: u64) -> Snapshot {
        flush(&mut self.pending, &mut self.slots);
        let mut snap = Snapshot::new(start_ms, end_ms);
        for ((k, slot), zeros) in self.slots.iter_mut().zip(self.zeros.iter_mut()) {
            let data = match slot {
                Slot::Counter { sum, touched } => {
                    if !*touched {
                        continue;
                    }
                    let d = SeriesData::Counter { sum: *sum };
                    (*sum, *touched) = (0.0, false);
                    d
                }
                Slot::Gauge { last, min, max } => {
                    if *min > *max {
                        continue;
                    }
                    let d = SeriesData::Gauge {
                        last: *last,
                        min: *min,
                        max: *max,
                    };
                    (*min, *max) = (f64::INFINITY, f64::NEG_INFINITY);
                    d
                }
                Slot::Rate { passes, total } => {
                    if *total == 0 {
                        continue;
                    }
                    let d = SeriesData::Rate {
                        passes: *passes,
                        total: *total,
                    };
                    (*passes, *total) = (0, 0);
                    d
                }
                Slot::Trend(t) => {
                    if *zeros > 0 {
                        // Equal in both: `raw`, when live, copied `corrected`
                        // without them.
                        let n = std::mem::take(zeros);
                        put_n(&mut t.corrected, 0, n);
                        if t.raw_live
                            && let Some(raw) = &mut t.raw
                        {
                            put_n(raw, 0, n);
                        }
                    }
                    if t.corrected.is_empty() {
                        continue;
                    }
                    let fresh = fresh_like(&t.corrected);
                    let corrected = std::mem::replace(&mut t.corrected, fresh);
                    let raw = match (&mut t.raw, t.raw_live) {
                        (Some(r), true) => {
                            let fresh = fresh_like(r);
                            Some(std::mem::replace(r, fresh))
                        }
                        _ => None,
                    };
                    t.raw_live = false;
                    let clamped = std::mem::take(&mut t.clamped);
                    SeriesData::Trend(TrendData {
                        corrected,
                        raw,
                        clamped,
                    })
                }
            };
            snap.series.insert(*k, data);
        }
        snap
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::Unit;

    fn trend(s: &Snapshot, k: SeriesKey) -> &TrendData {
        match &s.series[&k] {
            SeriesData::Trend(d) => d,
            other => panic!("not a trend: {other:?}"),
        }
    }

    fn setup() -> (Recorder, SeriesKey, SeriesKey) {
        let mut r = Registry::new();
        let t = r
            .register("t", MetricKind::Trend, Unit::Microseconds)
            .unwrap();
        let c = r.register("c", MetricKind::Counter, Unit::Count).unwrap();
        (
            Recorder::new(Arc::new(r)),
            SeriesKey::new(t, TagSetId(0)),
            SeriesKey::new(c, TagSetId(0)),
        )
    }

    #[test]
    fn a_row_records_what_single_keys_record() {
        let (mut by_key, t, c) = setup();
        let (mut by_row, _, _) = setup();
        for (tags, v) in [(TagSetId(3), 10), (TagSetId(0), 20), (TagSetId(3), 30)] {
            let (t, c) = (
                SeriesKey::new(t.metric, tags),
                SeriesKey::new(c.metric, tags),
            );
            by_key.record_latency(t, v + 5, v);
            by_key.add_counter(c, 1.0);
            by_key.add_rate(c, true); // wrong kind
            let mut row = by_row.row(tags);
            row.record_latency(t.metric, v + 5, v);
            row.add_counter(c.metric, 1.0);
            row.add_rate(c.metric, true);
            row.set_gauge(MetricId(42), 1.0); // unknown
        }
        assert_eq!((by_key.rejected(), by_row.rejected()), (3, 6));
        assert_eq!((by_key.series_count(), by_row.series_count()), (4, 4));
        let (a, b) = (by_key.take_interval(0, 1), by_row.take_interval(0, 1));
        assert_eq!(a, b);
        let d = trend(&b, SeriesKey::new(t.metric, TagSetId(3)));
        assert_eq!((d.corrected.len(), d.corrected.max()), (2, 35));
        assert_eq!(d.raw.as_ref().map(|r| r.max()), Some(30));
    }

    #[test]
    fn tag_set_ids_far_apart_keep_their_own_series() {
        let (mut rec, t, c) = setup();
        let ids = [0, 7, 1 << 16, 1 << 20, u32::MAX];
        for (n, id) in ids.into_iter().enumerate() {
            let mut row = rec.row(TagSetId(id));
            row.add_counter(c.metric, n as f64 + 1.0);
            row.record_trend(t.metric, 100 * (n as u64 + 1));
        }
        // A second sample for each, through the same rows.
        for id in ids {
            rec.row(TagSetId(id)).add_counter(c.metric, 10.0);
        }
        assert_eq!(rec.series_count(), 2 * ids.len());
        let s = rec.take_interval(0, 1);
        for (n, id) in ids.into_iter().enumerate() {
            let sum = n as f64 + 11.0;
            assert_eq!(
                s.series.get(&SeriesKey::new(c.metric, TagSetId(id))),
                Some(&SeriesData::Counter { sum }),
                "tag set {id}"
            );
            let d = trend(&s, SeriesKey::new(t.metric, TagSetId(id)));
            assert_eq!(d.corrected.max(), 100 * (n as u64 + 1), "tag set {id}");
        }
        assert_eq!(rec.rows.len(), ids.len(), "one row per tag set");
    }

    #[test]
    fn misuse_is_counted_not_recorded() {
        let (mut rec, t, c) = setup();
        rec.add_counter(t, 1.0); // wrong kind
        rec.record_trend(c, 5); // wrong kind
        rec.add_counter(c, f64::NAN);
        rec.set_gauge(SeriesKey::new(MetricId(99), TagSetId(0)), 1.0); // unknown
        rec.add_counter(c, 0.0); // legitimate zero
        assert_eq!(rec.rejected(), 4);
        let s = rec.take_interval(0, 1000);
        assert_eq!(s.series.len(), 1);
        assert_eq!(s.series.get(&c), Some(&SeriesData::Counter { sum: 0.0 }));
    }

    #[test]
    fn raw_starts_at_the_first_difference_and_resets_per_interval() {
        let (mut rec, t, _) = setup();
        rec.record_latency(t, 100, 100);
        rec.record_latency(t, 900, 100);
        rec.record_latency(t, 200, 200);
        let s = rec.take_interval(0, 1000);
        let d = trend(&s, t);
        let raw = d.raw.as_ref().expect("raw differs");
        assert_eq!((d.corrected.len(), raw.len()), (3, 3));
        assert_eq!((d.corrected.max(), raw.max()), (900, 200));
        // Next interval is closed-model again: no raw.
        rec.record_latency(t, 300, 300);
        let s = rec.take_interval(1000, 2000);
        let d = trend(&s, t);
        assert!(d.raw.is_none());
        assert_eq!(d.corrected.len(), 1);
        // Nothing recorded: nothing reported.
        assert!(rec.take_interval(2000, 3000).is_empty());
    }

    #[test]
    fn zeros_are_counted_into_both_histograms() {
        let (mut rec, t, _) = setup();
        rec.record_trend(t, 0);
        rec.record_latency(t, 0, 0);
        rec.record_latency(t, 500, 20); // raw starts here, without the zeros
        rec.record_trend(t, 0);
        let s = rec.take_interval(0, 1000);
        let d = trend(&s, t);
        let raw = d.raw.as_ref().expect("raw differs");
        assert_eq!((d.corrected.len(), raw.len()), (4, 4));
        assert_eq!((d.corrected.min(), raw.min()), (0, 0));
        assert_eq!(d.corrected.count_at(0), 3);
        assert_eq!(raw.count_at(0), 3);
        assert_eq!((d.corrected.max(), raw.max()), (500, 20));
        // An interval of zeros only is reported, and they are not carried over.
        rec.record_trend(t, 0);
        let s = rec.take_interval(1000, 2000);
        let d = trend(&s, t);
        assert_eq!((d.corrected.len(), d.corrected.max()), (1, 0));
        assert!(d.raw.is_none());
        assert!(rec.take_interval(2000, 3000).is_empty());
    }

    #[test]
    fn samples_past_a_full_pending_list_are_all_recorded_in_order() {
        let (mut rec, t, _) = setup();
        let n = 2 * PENDING as u64 + 7;
        for v in 1..=n {
            rec.record_trend(t, v);
        }
        // The list filled twice: those samples are in the histogram already.
        assert!(rec.pending.len() < PENDING);
        // The first difference comes after a flush: raw starts as a copy
        // of everything recorded before it, flushed or not.
        rec.record_latency(t, 5_000_000, 3);
        let s = rec.take_interval(0, 1000);
        let d = trend(&s, t);
        let raw = d.raw.as_ref().expect("raw differs");
        assert_eq!((d.corrected.len(), raw.len()), (n + 1, n + 1));
        assert_eq!(d.corrected.min(), 1);
        assert!(d.corrected.equivalent(d.corrected.max(), 5_000_000));
        assert_eq!(raw.max(), d.corrected.highest_equivalent(n));
        assert!(rec.pending.is_empty());
    }

    #[test]
    fn huge_values_clamp_and_are_counted() {
        let (mut rec, t, _) = setup();
        rec.record_trend(t, u64::MAX);
        rec.record_latency(t, MAX_VALUE + 1, 5);
        rec.record_trend(t, 7);
        let s = rec.take_interval(0, 1000);
        let d = trend(&s, t);
        assert_eq!(d.clamped, 2);
        assert_eq!(d.corrected.len(), 3);
        assert!(d.corrected.equivalent(d.corrected.max(), MAX_VALUE));
    }
}
