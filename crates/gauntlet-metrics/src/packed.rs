//! Compact, exact storage for the intervals a timeline keeps.
//!
//! A dense HDR histogram costs 16–184 KiB however few samples it holds, so a
//! timeline of thousands of per-second intervals cannot keep them dense. A
//! [`PackedHist`] is the histogram's uncompressed HdrHistogram V2 encoding:
//! the counts in bucket order with runs of empty buckets collapsed, about
//! 1–2 bytes per non-empty bucket plus a 40-byte header. It is exact: two
//! packed histograms merge bucket by bucket without being decoded (see
//! [`crate::v2`]), unpacking restores every count, and writing a result file
//! only has to DEFLATE the stored bytes.

use crate::Histogram;
use crate::snapshot::{SeriesData, SeriesKey, Snapshot, TrendData, add};
use crate::v2::{self, Plain};

/// A histogram as its uncompressed V2 encoding (see the module docs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PackedHist {
    plain: Box<[u8]>,
}

impl PackedHist {
    pub(crate) fn pack(h: &Histogram) -> PackedHist {
        PackedHist {
            plain: v2::encode_plain(h).into_boxed_slice(),
        }
    }

    /// The uncompressed V2 bytes.
    pub(crate) fn plain(&self) -> &[u8] {
        &self.plain
    }

    pub(crate) fn unpack(&self) -> Histogram {
        // These bytes were written by `pack` or `merge`; they always parse.
        Plain::parse(&self.plain)
            .and_then(Plain::decode)
            .unwrap_or_else(|_| crate::new_histogram())
    }

    /// Exact sum of two packed histograms, bucket by bucket.
    pub(crate) fn merge(&self, other: &PackedHist) -> PackedHist {
        let merged = match (Plain::parse(&self.plain), Plain::parse(&other.plain)) {
            (Ok(a), Ok(b)) => v2::merge_plain(a, b),
            _ => None,
        };
        match merged {
            Some(plain) => PackedHist {
                plain: plain.into_boxed_slice(),
            },
            // Different layouts (a histogram built elsewhere): merge densely.
            None => {
                let mut h = self.unpack();
                add(&mut h, &other.unpack());
                PackedHist::pack(&h)
            }
        }
    }

    pub(crate) fn heap_bytes(&self) -> usize {
        self.plain.len()
    }

    /// Number of samples.
    pub(crate) fn len(&self) -> u64 {
        Plain::parse(&self.plain)
            .map(|p| p.counts().map(|(_, n)| n).fold(0u64, u64::saturating_add))
            .unwrap_or(0)
    }
}

/// One series of a packed snapshot.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum PackedData {
    /// Counters, gauges and rates are small already.
    Small(SeriesData),
    Trend {
        corrected: PackedHist,
        raw: Option<PackedHist>,
        clamped: u64,
    },
}

/// A snapshot with packed histograms, as the timeline stores closed intervals.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct PackedSnapshot {
    pub(crate) start_ms: u64,
    pub(crate) end_ms: u64,
    /// Sorted by key.
    pub(crate) series: Vec<(SeriesKey, PackedData)>,
}

impl PackedSnapshot {
    pub(crate) fn pack(s: &Snapshot) -> PackedSnapshot {
        let series = s
            .series
            .iter()
            .map(|(k, v)| {
                let d = match v {
                    SeriesData::Trend(t) => PackedData::Trend {
                        corrected: PackedHist::pack(&t.corrected),
                        raw: t.raw.as_ref().map(PackedHist::pack),
                        clamped: t.clamped,
                    },
                    other => PackedData::Small(other.clone()),
                };
                (*k, d)
            })
            .collect();
        PackedSnapshot {
            start_ms: s.start_ms,
            end_ms: s.end_ms,
            series,
        }
    }

    pub(crate) fn unpack(&self) -> Snapshot {
        let mut out = Snapshot::new(self.start_ms, self.end_ms);
        for (k, d) in &self.series {
            let v = match d {
                PackedData::Small(v) => v.clone(),
                PackedData::Trend {
                    corrected,
                    raw,
                    clamped,
                } => SeriesData::Trend(TrendData {
                    corrected: corrected.unpack(),
                    raw: raw.as_ref().map(PackedHist::unpack),
                    clamped: *clamped,
                }),
            };
            out.series.insert(*k, v);
        }
        out
    }

    /// Merge `later`, the interval right after this one, into a new packed
    /// snapshot; same semantics as [`Snapshot::merge`].
    pub(crate) fn merge(&self, later: &PackedSnapshot) -> PackedSnapshot {
        let mut series = Vec::with_capacity(self.series.len().max(later.series.len()));
        let (mut a, mut b) = (
            self.series.iter().peekable(),
            later.series.iter().peekable(),
        );
        loop {
            let next = match (a.peek(), b.peek()) {
                (Some((ka, _)), Some((kb, _))) if ka < kb => a.next().cloned(),
                (Some((ka, _)), Some((kb, _))) if kb < ka => b.next().cloned(),
                (Some(_), Some(_)) => match (a.next(), b.next()) {
                    (Some((k, da)), Some((_, db))) => Some((*k, merge_data(da, db))),
                    _ => None,
                },
                (Some(_), None) => a.next().cloned(),
                (None, Some(_)) => b.next().cloned(),
                (None, None) => None,
            };
            match next {
                Some(entry) => series.push(entry),
                None => break,
            }
        }
        PackedSnapshot {
            start_ms: self.start_ms.min(later.start_ms),
            end_ms: self.end_ms.max(later.end_ms),
            series,
        }
    }

    pub(crate) fn heap_bytes(&self) -> usize {
        self.series
            .iter()
            .map(|(_, d)| {
                std::mem::size_of::<(SeriesKey, PackedData)>()
                    + match d {
                        PackedData::Small(_) => 0,
                        PackedData::Trend { corrected, raw, .. } => {
                            corrected.heap_bytes() + raw.as_ref().map_or(0, PackedHist::heap_bytes)
                        }
                    }
            })
            .sum()
    }
}

fn merge_data(a: &PackedData, later: &PackedData) -> PackedData {
    match (a, later) {
        (PackedData::Small(x), PackedData::Small(y)) => {
            let mut m = x.clone();
            m.merge_ordered(y, true);
            PackedData::Small(m)
        }
        (
            PackedData::Trend {
                corrected: ca,
                raw: ra,
                clamped: xa,
            },
            PackedData::Trend {
                corrected: cb,
                raw: rb,
                clamped: xb,
            },
        ) => {
            let raw = match (ra, rb) {
                (None, None) => None,
                (Some(r), None) => Some(r.merge(cb)),
                (None, Some(r)) => Some(ca.merge(r)),
                (Some(r), Some(s)) => Some(r.merge(s)),
            };
            PackedData::Trend {
                corrected: ca.merge(cb),
                raw,
                clamped: xa.saturating_add(*xb),
            }
        }
        // Kinds cannot differ within one registry; keep the earlier data.
        _ => a.clone(),
    }
}

/// Dense bytes of one histogram (what the recorder and the total pay).
pub(crate) fn dense_bytes(h: &Histogram) -> usize {
    h.distinct_values() * std::mem::size_of::<u64>()
}

/// Approximate heap bytes of a dense snapshot.
pub(crate) fn snapshot_heap_bytes(s: &Snapshot) -> usize {
    s.series
        .values()
        .map(|v| {
            64 + match v {
                SeriesData::Trend(t) => {
                    dense_bytes(&t.corrected) + t.raw.as_ref().map_or(0, dense_bytes)
                }
                _ => 0,
            }
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::new_histogram;

    #[test]
    fn packing_is_exact_and_small() {
        let mut a = new_histogram();
        let mut b = new_histogram();
        for v in [0, 1, 2047, 2048, 2049, 5000, 1_000_000, 3_600_000_000] {
            a.record(v).unwrap();
        }
        for v in [3, 2049, 77_777] {
            b.record(v).unwrap();
        }
        let (pa, pb) = (PackedHist::pack(&a), PackedHist::pack(&b));
        let back = pa.unpack();
        assert_eq!(
            (back.len(), back.max(), back.min()),
            (a.len(), a.max(), a.min())
        );
        let mut ab = a.clone();
        ab.add(&b).unwrap();
        let m = pa.merge(&pb).unpack();
        for q in [0.0, 0.3, 0.5, 0.99, 1.0] {
            assert_eq!(m.value_at_quantile(q), ab.value_at_quantile(q));
        }
        assert!(pa.heap_bytes() < 80, "{}", pa.heap_bytes());
        // A foreign layout still merges exactly (densely).
        let mut c = Histogram::new(2).unwrap();
        c.record(100).unwrap();
        let pc = PackedHist::pack(&c);
        assert_eq!(pa.merge(&pc).unpack().len(), a.len() + 1);
    }
}
