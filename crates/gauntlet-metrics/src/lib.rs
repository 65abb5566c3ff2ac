//! # gauntlet-metrics: the measurement core
//!
//! Numbers a team can trust:
//!
//! * every distribution goes into an HDR histogram (microsecond resolution,
//!   3 significant digits, up to one hour), never into a list of samples, so
//!   memory does not grow with the number of requests and nothing is rounded
//!   to milliseconds;
//! * histograms merge exactly, so per-worker recorders, per-second
//!   intervals and result files from several machines combine without
//!   approximation;
//! * latency is kept twice where it matters: *corrected*, measured from the
//!   intended start of an open-model request (which survives coordinated
//!   omission), and *raw*, from the actual send, side by side; a closed
//!   model, where they are equal, pays for one histogram only.
//!
//! The crate knows no protocol and no clock: metric names are registered by
//! whoever records them ([`Registry`]), tag sets are interned to small ids
//! ([`TagInterner`]), and time is passed in as milliseconds since the run's
//! start. It has no global state.
//!
//! ## Data flow
//! 1. Before the run: register metrics into a [`Registry`] and share it
//!    (`Arc<Registry>`); make one [`TagInterner`] (a shared handle).
//! 2. Each worker owns a [`Recorder`] (`&mut self`, no locks, no allocation
//!    per sample once a series exists) and records into [`SeriesKey`]s it
//!    built once (`MetricId` + interned `TagSetId`).
//! 3. Once a second the engine calls [`Recorder::take_interval`] on every
//!    worker, merges the [`Snapshot`]s and pushes the result into a
//!    [`Timeline`], which keeps bounded history and a running total.
//! 4. Thresholds and reports ask typed questions: [`Snapshot::query`] with a
//!    [`Stat`] and a [`TagFilter`] (k6 sub-metrics).
//! 5. Result files carry [`SerialSnapshot`]/[`SerialTimeline`] (names
//!    resolved, histograms in HdrHistogram's V2+DEFLATE interchange format)
//!    and load back into mergeable snapshots.
//!
//! ## Memory bound
//! * Per series per worker: a few dozen bytes for counters, gauges and
//!   rates; for trends one dense histogram of 16 KiB (values below 2 ms) to
//!   184 KiB (values up to the one-hour clamp), twice that when open-model
//!   raw latency differs. Auto-resizing was chosen over fixed bounds
//!   `1..=3.6e9`, which cost 184 KiB per histogram whatever the values.
//! * Per timeline interval: ~64 bytes per series, plus per trend its exact
//!   HdrHistogram V2 encoding (40 bytes and about 1–2 bytes per bucket hit in
//!   the interval); at most `max_intervals` intervals (default 3,600),
//!   coarsened by merging pairs.
//! * Per distinct tag combination: one interned [`TagSet`] for the run.

mod interner;
mod packed;
mod recorder;
mod registry;
mod serial;
mod snapshot;
mod stat;
mod timeline;
mod v2;

pub use interner::{TagFilter, TagInterner, TagKey, TagSet, TagSetId};
pub use recorder::{Recorder, Row};
pub use registry::{MetricDef, MetricId, MetricKind, Registry, RegistryError, Unit};
pub use serial::{
    SerialError, SerialSeries, SerialSnapshot, SerialTimeline, SerialValues, decode_histogram,
    encode_histogram,
};
pub use snapshot::{SeriesData, SeriesKey, Snapshot, TrendData};
pub use stat::{Latency, Percentile, PercentileError, Stat};
pub use timeline::{DEFAULT_MAX_INTERVALS, IntervalIter, Intervals, Timeline};
pub use v2::V2Error;

/// The histogram type used everywhere: counts per bucket of values in the
/// metric's unit (microseconds for durations).
pub type Histogram = hdrhistogram::Histogram<u64>;

/// Largest value recorded: one hour in microseconds. Larger values are
/// recorded as this and counted ([`TrendData::clamped`]), so one runaway
/// value can neither panic nor grow a histogram without bound.
pub const MAX_VALUE: u64 = 3_600_000_000;

/// Precision of every histogram: values are kept to 3 significant decimal
/// digits (1 µs up to 2 ms, 1 ms around 1 s), the HdrHistogram default.
pub const SIGNIFICANT_DIGITS: u8 = 3;

/// A new, empty histogram with gauntlet's settings: lowest value 1, 3
/// significant digits, auto-resizing (it grows to the largest value seen, so
/// a series of small values stays small).
pub fn new_histogram() -> Histogram {
    // `new` only fails for more than 5 significant digits.
    let mut h = Histogram::new(SIGNIFICANT_DIGITS).expect("3 significant digits are valid");
    h.auto(true);
    h
}
