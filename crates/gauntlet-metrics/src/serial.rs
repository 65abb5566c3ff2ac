//! Snapshots and timelines as plain, self-describing data for result files,
//! and back into mergeable snapshots.
//!
//! Ids ([`crate::MetricId`], [`crate::TagSetId`]) are process-local, so the
//! serialized form names everything: metric name, kind and unit on every
//! series, tags as a map. Loading registers the names into a fresh (or
//! shared) [`Registry`] and [`TagInterner`], so files from several machines
//! or runs load into one registry and merge exactly.
//!
//! # Format (spec)
//! A snapshot (JSON, camelCase keys):
//! ```text
//! { "startMs": 0,                 // window start, ms since the run's start
//!   "endMs": 1000,                // window end
//!   "series": [                   // series with at least one sample, in no guaranteed order
//!     { "metric": "http_req_duration",
//!       "kind": "trend",          // "counter" | "gauge" | "rate" | "trend"
//!       "unit": "microseconds",   // "microseconds" | "bytes" | "count" | "none"
//!       "tags": { "name": "read_item", "status": "200" },   // string -> string
//!       "values": { "trend": { "count": 812, "corrected": "<base64>", "raw": "<base64>" | null,
//!                              "clamped": 3 } } },        // "clamped" only when > 0
//!     { "metric": "http_reqs", "kind": "counter", "unit": "count", "tags": {},
//!       "values": { "counter": { "sum": 812.0 } } } ] }
//! ```
//! `values` holds exactly one of:
//! * `counter: {sum}`: sum of the added values;
//! * `gauge: {last, min, max}`: last, smallest and largest value set;
//! * `rate: {passes, total}`: true samples and all samples;
//! * `trend: {count, corrected, raw, clamped?}`: `count` is the number of
//!   samples (informative; checked on load). `corrected` is the histogram of
//!   every sample, measured from the intended start; `raw` the one measured
//!   from the actual send, `null` when identical to `corrected` (closed
//!   model). Values are in the series' unit (microseconds for durations).
//!   `clamped` counts samples above one hour recorded as one hour.
//!
//! Histograms are HdrHistogram's standard interchange encoding, V2 with
//! DEFLATE (cookie `0x1c849314`), base64 (standard alphabet, padded): the
//! same bytes `HdrHistogram`'s Java, C, Go and Rust implementations read and
//! write, lossless (every bucket count is kept).
//!
//! A timeline is `{ "intervals": [<snapshot>, ...], "total": <snapshot> }`,
//! intervals oldest first and contiguous; `total` is their merge.

use crate::interner::{TagInterner, TagKey, TagSet};
use crate::packed::{PackedData, PackedHist, PackedSnapshot};
use crate::registry::{MetricKind, Registry, RegistryError, Unit};
use crate::snapshot::{SeriesData, SeriesKey, Snapshot, TrendData, add};
use crate::timeline::Timeline;
use crate::v2::{self, Deflater, Plain, V2Error};
use crate::{Histogram, SIGNIFICANT_DIGITS, new_histogram};
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Reading serialized metrics failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SerialError {
    /// A histogram string is not valid base64.
    #[error("histogram is not valid base64: {0}")]
    Base64(#[from] base64::DecodeError),
    /// The bytes are not a valid V2 (optionally DEFLATE) histogram.
    #[error(transparent)]
    Histogram(#[from] V2Error),
    /// A trend's `count` does not match its histogram.
    #[error("metric `{metric}`: count {count} but the histogram holds {histogram} samples")]
    CountMismatch {
        /// Metric name.
        metric: String,
        /// The `count` field.
        count: u64,
        /// Samples in the histogram.
        histogram: u64,
    },
    /// A series' values are of another kind than its metric.
    #[error("metric `{metric}` is a {expected:?} but the series holds {found:?} values")]
    KindMismatch {
        /// Metric name.
        metric: String,
        /// The kind the metric is registered with.
        expected: MetricKind,
        /// The kind of the values.
        found: MetricKind,
    },
    /// A metric could not be registered (bad name, too many metrics).
    #[error(transparent)]
    Registry(#[from] RegistryError),
}

/// Turns histograms into base64 V2+DEFLATE strings, reusing one compressor
/// across a whole snapshot or timeline.
struct Encoder {
    deflater: Deflater,
}

impl Encoder {
    fn new() -> Encoder {
        Encoder {
            deflater: Deflater::new(),
        }
    }

    fn plain(&mut self, plain: &[u8]) -> String {
        base64::engine::general_purpose::STANDARD.encode(self.deflater.deflate(plain))
    }

    fn dense(&mut self, h: &Histogram) -> String {
        self.plain(&v2::encode_plain(h))
    }
}

/// Encode a histogram as base64 of HdrHistogram V2+DEFLATE.
pub fn encode_histogram(h: &Histogram) -> String {
    Encoder::new().dense(h)
}

/// Decode a histogram from base64 of an HdrHistogram V2 encoding (with or
/// without DEFLATE), as written by any HdrHistogram implementation, into a
/// histogram with this crate's settings. Corrupt or hostile input is an
/// error, never a panic, and cannot make this allocate more than 64 MiB.
pub fn decode_histogram(s: &str) -> Result<Histogram, SerialError> {
    let bytes = base64::engine::general_purpose::STANDARD.decode(s.trim())?;
    let plain = v2::inflate(&bytes)?;
    let h = Plain::parse(&plain)?.decode()?;
    if h.sigfig() == SIGNIFICANT_DIGITS && h.low() == 1 {
        return Ok(h);
    }
    // Another precision: re-record into ours so merges stay bucket-exact.
    let mut out = new_histogram();
    add(&mut out, &h);
    Ok(out)
}

/// Values of one serialized series; see the module docs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum SerialValues {
    /// Counter.
    Counter {
        /// Sum.
        sum: f64,
    },
    /// Gauge.
    Gauge {
        /// Last value set.
        last: f64,
        /// Smallest value set.
        min: f64,
        /// Largest value set.
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
    Trend {
        /// Samples (informative; checked on load).
        count: u64,
        /// Corrected histogram, base64 V2+DEFLATE.
        corrected: String,
        /// Raw histogram when it differs from the corrected one.
        raw: Option<String>,
        /// Samples clamped to one hour.
        #[serde(default, skip_serializing_if = "is_zero")]
        clamped: u64,
    },
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// One serialized series; see the module docs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SerialSeries {
    /// Metric name.
    pub metric: String,
    /// Metric kind.
    pub kind: MetricKind,
    /// Metric unit.
    pub unit: Unit,
    /// Tags, name to value.
    pub tags: BTreeMap<String, String>,
    /// Values.
    pub values: SerialValues,
}

/// A serialized snapshot; see the module docs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SerialSnapshot {
    /// Window start, ms since the run's start.
    pub start_ms: u64,
    /// Window end.
    pub end_ms: u64,
    /// Series.
    pub series: Vec<SerialSeries>,
}

/// A serialized timeline; see the module docs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SerialTimeline {
    /// Intervals, oldest first.
    pub intervals: Vec<SerialSnapshot>,
    /// The whole run.
    pub total: SerialSnapshot,
}

fn is_blank(v: &SeriesData) -> bool {
    match v {
        SeriesData::Gauge { min, max, .. } => min > max,
        SeriesData::Rate { total, .. } => *total == 0,
        SeriesData::Trend(t) => t.is_empty(),
        SeriesData::Counter { .. } => false,
    }
}

fn small_values(v: &SeriesData) -> Option<SerialValues> {
    Some(match v {
        SeriesData::Counter { sum } => SerialValues::Counter { sum: *sum },
        SeriesData::Gauge { last, min, max } => SerialValues::Gauge {
            last: *last,
            min: *min,
            max: *max,
        },
        SeriesData::Rate { passes, total } => SerialValues::Rate {
            passes: *passes,
            total: *total,
        },
        SeriesData::Trend(_) => return None,
    })
}

/// Names and tags of a series, or `None` for a metric `registry` does not know.
fn named(
    registry: &Registry,
    interner: &TagInterner,
    k: &SeriesKey,
    values: SerialValues,
) -> Option<SerialSeries> {
    let def = registry.get_def(k.metric)?;
    let tags = interner
        .resolve(k.tags)
        .iter()
        .map(|(k, v)| (k.as_str().to_owned(), v.to_owned()))
        .collect();
    Some(SerialSeries {
        metric: def.name.clone(),
        kind: def.kind,
        unit: def.unit,
        tags,
        values,
    })
}

fn serial_dense(
    s: &Snapshot,
    registry: &Registry,
    interner: &TagInterner,
    enc: &mut Encoder,
) -> SerialSnapshot {
    let series = s
        .series
        .iter()
        .filter(|(_, v)| !is_blank(v))
        .filter_map(|(k, v)| {
            let values = match v {
                SeriesData::Trend(t) => SerialValues::Trend {
                    count: t.corrected.len(),
                    corrected: enc.dense(&t.corrected),
                    raw: t.raw.as_ref().map(|r| enc.dense(r)),
                    clamped: t.clamped,
                },
                other => small_values(other)?,
            };
            named(registry, interner, k, values)
        })
        .collect();
    SerialSnapshot {
        start_ms: s.start_ms,
        end_ms: s.end_ms,
        series,
    }
}

fn serial_packed(
    s: &PackedSnapshot,
    registry: &Registry,
    interner: &TagInterner,
    enc: &mut Encoder,
) -> SerialSnapshot {
    let series = s
        .series
        .iter()
        .filter_map(|(k, d)| {
            let values = match d {
                PackedData::Small(v) if is_blank(v) => return None,
                PackedData::Small(v) => small_values(v)?,
                PackedData::Trend {
                    corrected,
                    raw,
                    clamped,
                } => {
                    let count = corrected.len();
                    if count == 0 {
                        return None;
                    }
                    SerialValues::Trend {
                        count,
                        corrected: enc.plain(corrected.plain()),
                        raw: raw.as_ref().map(|r: &PackedHist| enc.plain(r.plain())),
                        clamped: *clamped,
                    }
                }
            };
            named(registry, interner, k, values)
        })
        .collect();
    SerialSnapshot {
        start_ms: s.start_ms,
        end_ms: s.end_ms,
        series,
    }
}

impl Snapshot {
    /// The serializable form, with metric names and tags resolved through
    /// the registry and interner that issued this snapshot's ids. Series of
    /// metrics unknown to `registry`, and series that hold no sample, are
    /// left out.
    pub fn to_serial(&self, registry: &Registry, interner: &TagInterner) -> SerialSnapshot {
        serial_dense(self, registry, interner, &mut Encoder::new())
    }
}

impl SerialSnapshot {
    /// Rebuild a mergeable snapshot. Metric names missing from `registry` are
    /// registered with the kind and unit the file gives; a name registered
    /// with another kind is an error. Tag sets are interned into `interner`.
    /// Query the result with this registry and interner.
    pub fn into_snapshot(
        &self,
        registry: &mut Registry,
        interner: &TagInterner,
    ) -> Result<Snapshot, SerialError> {
        let mut snap = Snapshot::new(self.start_ms, self.end_ms);
        for s in &self.series {
            let metric = match registry.get(&s.metric) {
                Some(id) => id,
                None => registry.register(&s.metric, s.kind, s.unit)?,
            };
            let data = match &s.values {
                SerialValues::Counter { sum } => SeriesData::Counter { sum: *sum },
                SerialValues::Gauge { last, min, max } => SeriesData::Gauge {
                    last: *last,
                    min: *min,
                    max: *max,
                },
                SerialValues::Rate { passes, total } => SeriesData::Rate {
                    passes: *passes,
                    total: *total,
                },
                SerialValues::Trend {
                    count,
                    corrected,
                    raw,
                    clamped,
                } => {
                    let corrected = decode_histogram(corrected)?;
                    let raw = raw.as_deref().map(decode_histogram).transpose()?;
                    for h in std::iter::once(&corrected).chain(raw.as_ref()) {
                        if h.len() != *count {
                            return Err(SerialError::CountMismatch {
                                metric: s.metric.clone(),
                                count: *count,
                                histogram: h.len(),
                            });
                        }
                    }
                    SeriesData::Trend(TrendData {
                        corrected,
                        raw,
                        clamped: *clamped,
                    })
                }
            };
            let expected = registry.def(metric).kind;
            if data.kind() != expected {
                return Err(SerialError::KindMismatch {
                    metric: s.metric.clone(),
                    expected,
                    found: data.kind(),
                });
            }
            let tags = interner.intern(TagSet::new(
                s.tags
                    .iter()
                    .map(|(k, v)| (TagKey::parse(k), Arc::<str>::from(v.as_str()))),
            ));
            let key = SeriesKey { metric, tags };
            match snap.series.get_mut(&key) {
                Some(existing) => existing.merge(&data),
                None => {
                    snap.series.insert(key, data);
                }
            }
        }
        Ok(snap)
    }
}

impl Timeline {
    /// The serializable form of every interval and the total; see
    /// [`Snapshot::to_serial`]. Stored intervals are written straight from
    /// their packed form, without being unpacked.
    pub fn to_serial(&self, registry: &Registry, interner: &TagInterner) -> SerialTimeline {
        let mut enc = Encoder::new();
        let (closed, open) = self.parts();
        let mut intervals: Vec<SerialSnapshot> = closed
            .iter()
            .map(|p| serial_packed(p, registry, interner, &mut enc))
            .collect();
        intervals.extend(open.map(|s| serial_dense(s, registry, interner, &mut enc)));
        SerialTimeline {
            intervals,
            total: serial_dense(self.total(), registry, interner, &mut enc),
        }
    }
}

impl SerialTimeline {
    /// Rebuild a timeline (see [`SerialSnapshot::into_snapshot`] for
    /// `registry` and `interner`). Each serialized interval becomes one
    /// interval (span 1) and the total is recomputed from them, exactly;
    /// intervals are unpacked one at a time, so memory stays bounded.
    pub fn into_timeline(
        &self,
        registry: &mut Registry,
        interner: &TagInterner,
    ) -> Result<Timeline, SerialError> {
        // Room for every interval: no coarsening on load.
        let mut tl = Timeline::new(self.intervals.len() + 1);
        for s in &self.intervals {
            tl.push(s.into_snapshot(registry, interner)?);
        }
        Ok(tl)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_histograms_are_errors_not_panics() {
        assert!(matches!(
            decode_histogram("not base64!"),
            Err(SerialError::Base64(_))
        ));
        assert!(matches!(
            decode_histogram("AAAAAAAAAAAAAAAA"),
            Err(SerialError::Histogram(V2Error::Cookie(0)))
        ));
        let mut h = new_histogram();
        h.record(1234).unwrap();
        let s = encode_histogram(&h);
        // Truncated input.
        assert!(decode_histogram(&s[..s.len() / 2]).is_err());
        let back = decode_histogram(&s).unwrap();
        assert_eq!((back.len(), back.max()), (1, h.max()));
    }

    #[test]
    fn other_precisions_are_accepted() {
        let mut h = Histogram::new_with_bounds(1, 10_000_000, 2).unwrap();
        h.record(123_456).unwrap();
        let back = decode_histogram(&encode_histogram(&h)).unwrap();
        assert_eq!(back.sigfig(), SIGNIFICANT_DIGITS);
        assert_eq!(back.len(), 1);
        // Within the precision the file was written with.
        assert!(h.equivalent(back.max(), 123_456), "{}", back.max());
    }

    #[test]
    fn encoding_is_standard_v2_deflate() {
        let mut h = new_histogram();
        h.record(42).unwrap();
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(encode_histogram(&h))
            .unwrap();
        // The V2 compressed cookie, big-endian.
        assert_eq!(&bytes[..4], &[0x1c, 0x84, 0x93, 0x14]);
    }
}
