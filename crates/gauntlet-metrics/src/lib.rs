//! # gauntlet-metrics: the measurement core
//!
//! Numbers a team can trust: every latency goes into an HDR histogram
//! (microsecond resolution, 3 significant digits), never into a list, so
//! memory does not grow with the number of requests; histograms merge exactly,
//! so per-worker recorders, per-second intervals and runs from several
//! machines combine without approximation; and latency is kept twice where it
//! matters: *corrected* (measured from the intended start of an open-model
//! iteration, which survives coordinated omission) and *raw* (from the actual
//! send), side by side.
//!
//! The crate knows no protocol and no clock: metric names are registered by
//! whoever records them ([`Registry`]), tag sets are interned to small ids
//! ([`TagInterner`]), and time is passed in as plain offsets.
//!
//! Data flow: each worker owns a [`Recorder`] (`&mut self`, no locks, no
//! allocation per sample once a series exists); once a second the engine
//! takes an interval [`Snapshot`] out of each recorder and merges them; the
//! [`Timeline`] keeps per-interval snapshots within a bounded count and a
//! running total.

mod interner;
mod recorder;
mod registry;
mod serial;
mod snapshot;
mod timeline;

pub use interner::{TagInterner, TagKey, TagSet, TagSetId};
pub use recorder::Recorder;
pub use registry::{MetricDef, MetricId, MetricKind, Registry, RegistryError, Unit};
pub use serial::{
    SerialSeries, SerialSnapshot, SerialTimeline, SerialValues, decode_histogram, encode_histogram,
};
pub use snapshot::{Latency, SeriesData, SeriesKey, Snapshot, Stat, TagFilter, TrendData};
pub use timeline::Timeline;

/// The histogram type used everywhere: values in the metric's unit
/// (microseconds for durations), 3 significant digits, auto-resizing so an
/// idle series costs little.
pub type Histogram = hdrhistogram::Histogram<u64>;

/// Largest value recorded (one hour in microseconds); larger ones are clamped
/// so a runaway value cannot blow the histogram up.
pub const MAX_VALUE: u64 = 3_600_000_000;

/// A new, empty histogram with gauntlet's settings.
pub fn new_histogram() -> Histogram {
    // 3 significant digits cannot fail to construct.
    let mut h = Histogram::new(3)
        .unwrap_or_else(|_| Histogram::new_with_bounds(1, MAX_VALUE, 2).expect("valid bounds"));
    h.auto(true);
    h
}
