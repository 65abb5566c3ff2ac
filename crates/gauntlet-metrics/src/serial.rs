//! Snapshots and timelines as plain, self-describing data for result files.
//!
//! # Format (spec)
//! A serialized snapshot names its metrics and tags (no process-local ids):
//! ```text
//! { "startMs": 0, "endMs": 1000,
//!   "series": [ { "metric": "http_req_duration", "kind": "trend", "unit": "microseconds",
//!                 "tags": {"name": "read_item", "status": "200", ...},
//!                 "values": { "trend": { "count": 812, "corrected": "<base64>", "raw": "<base64>" | null } } },
//!               { "metric": "http_reqs", "kind": "counter", "unit": "count", "tags": {...},
//!                 "values": { "counter": { "sum": 812.0 } } } ] }
//! ```
//! `values` is one of `counter {sum}`, `gauge {last, min, max}`, `rate {passes, total}`,
//! `trend {count, corrected, raw}`. Histograms are HdrHistogram V2 with DEFLATE,
//! base64-encoded: the standard interchange format, readable by HdrHistogram
//! tooling in any language, and lossless, so results from several machines
//! merge exactly ([`SerialSnapshot::into_snapshot`]).

use crate::interner::{TagInterner, TagKey, TagSet};
use crate::registry::{MetricKind, Registry, Unit};
use crate::snapshot::{SeriesData, SeriesKey, Snapshot, TrendData};
use crate::{Histogram, new_histogram};
use base64::Engine as _;
use hdrhistogram::serialization::{Deserializer, Serializer, V2DeflateSerializer};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Encode a histogram as base64 of HdrHistogram V2+DEFLATE.
pub fn encode_histogram(h: &Histogram) -> String {
    let mut buf = Vec::new();
    let _ = V2DeflateSerializer::new().serialize(h, &mut buf);
    base64::engine::general_purpose::STANDARD.encode(buf)
}

/// Decode a histogram written by [`encode_histogram`] (or any V2 encoder).
pub fn decode_histogram(s: &str) -> Result<Histogram, String> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(s)
        .map_err(|e| e.to_string())?;
    let h: Histogram = Deserializer::new()
        .deserialize(&mut &bytes[..])
        .map_err(|e| format!("{e:?}"))?;
    let mut out = new_histogram();
    out.add(&h).map_err(|e| format!("{e:?}"))?;
    Ok(out)
}

/// Values of one serialized series.
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
        /// Last.
        last: f64,
        /// Min.
        min: f64,
        /// Max.
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
        /// Samples.
        count: u64,
        /// Corrected histogram (base64 V2+DEFLATE).
        corrected: String,
        /// Raw histogram when it differs.
        raw: Option<String>,
    },
}

/// One serialized series.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SerialSeries {
    /// Metric name.
    pub metric: String,
    /// Kind.
    pub kind: MetricKind,
    /// Unit.
    pub unit: Unit,
    /// Tags.
    pub tags: BTreeMap<String, String>,
    /// Values.
    pub values: SerialValues,
}

/// A serialized snapshot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SerialSnapshot {
    /// Interval start (ms since run start).
    pub start_ms: u64,
    /// Interval end.
    pub end_ms: u64,
    /// Series.
    pub series: Vec<SerialSeries>,
}

/// A serialized timeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SerialTimeline {
    /// Intervals, oldest first.
    pub intervals: Vec<SerialSnapshot>,
    /// The whole run.
    pub total: SerialSnapshot,
}

impl Snapshot {
    /// Serialize with names resolved.
    pub fn to_serial(&self, registry: &Registry, interner: &TagInterner) -> SerialSnapshot {
        let series = self
            .series
            .iter()
            .map(|(k, v)| {
                let def = registry.def(k.metric);
                let tags = interner
                    .resolve(k.tags)
                    .pairs()
                    .iter()
                    .map(|(k, v)| (k.as_str().to_owned(), v.to_string()))
                    .collect();
                let values = match v {
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
                    SeriesData::Trend(t) => SerialValues::Trend {
                        count: t.corrected.len(),
                        corrected: encode_histogram(&t.corrected),
                        raw: t.raw.as_ref().map(encode_histogram),
                    },
                };
                SerialSeries {
                    metric: def.name.clone(),
                    kind: def.kind,
                    unit: def.unit,
                    tags,
                    values,
                }
            })
            .collect();
        SerialSnapshot {
            start_ms: self.start_ms,
            end_ms: self.end_ms,
            series,
        }
    }
}

impl SerialSnapshot {
    /// Rebuild a mergeable snapshot, registering unknown metrics and tags.
    pub fn into_snapshot(
        &self,
        registry: &mut Registry,
        interner: &TagInterner,
    ) -> Result<Snapshot, String> {
        let mut snap = Snapshot::new(self.start_ms, self.end_ms);
        for s in &self.series {
            let metric = match registry.get(&s.metric) {
                Some(id) => id,
                None => registry
                    .register(&s.metric, s.kind, s.unit)
                    .map_err(|e| e.to_string())?,
            };
            let tags = interner.intern(TagSet::new(
                s.tags
                    .iter()
                    .map(|(k, v)| (TagKey::parse(k), Arc::<str>::from(v.as_str()))),
            ));
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
                SerialValues::Trend { corrected, raw, .. } => SeriesData::Trend(TrendData {
                    corrected: decode_histogram(corrected)?,
                    raw: raw.as_deref().map(decode_histogram).transpose()?,
                }),
            };
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
