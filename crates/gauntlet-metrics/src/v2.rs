//! HdrHistogram's V2 encoding: the one place that knows its bytes.
//!
//! The V2 format (shared by HdrHistogram's Java, C, Go and Rust
//! implementations) is a 40-byte big-endian header followed by the bucket
//! counts in index order, each a ZigZag "LEB128-64b9B" varint, where a
//! negative number `-n` stands for `n` empty buckets. V2+DEFLATE wraps that
//! in an 8-byte header (cookie, length) and a zlib stream.
//!
//! Serializing and parsing histograms themselves is left to the
//! `hdrhistogram` crate; this module adds what it does not offer:
//! * merging two V2 encodings bucket by bucket without decoding them into
//!   dense histograms (the timeline stores intervals as V2 bytes);
//! * DEFLATE with one reused compressor (the crate builds a new one, about
//!   100 µs, for every histogram);
//! * bounded decoding of untrusted input: lengths are checked against the
//!   bytes actually present and decompression stops at [`MAX_PLAIN_BYTES`],
//!   so a corrupt file cannot make us allocate gigabytes.

use crate::Histogram;
use flate2::{Compress, Compression, FlushCompress, Status};
use hdrhistogram::serialization::{Deserializer, Serializer, V2Serializer};
use std::io::Read;

/// Cookie of an uncompressed V2 encoding (base `0x1c849303`, 8-byte words).
pub(crate) const V2_COOKIE: u32 = 0x1c84_9313;
/// Cookie of a V2+DEFLATE encoding (base `0x1c849304`, 8-byte words).
pub(crate) const V2_COMPRESSED_COOKIE: u32 = 0x1c84_9314;
/// Bytes before the counts in a V2 encoding.
pub(crate) const HEADER_LEN: usize = 40;
/// Largest uncompressed V2 encoding accepted when decoding (64 MiB: the
/// widest histogram HdrHistogram can describe needs about 54 MiB).
pub(crate) const MAX_PLAIN_BYTES: usize = 64 << 20;

/// What is wrong with an encoded histogram.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum V2Error {
    /// Shorter than its header or its stated length.
    #[error("truncated histogram encoding")]
    Truncated,
    /// The first four bytes are not a V2 cookie.
    #[error("not an HdrHistogram V2 encoding (cookie {0:#010x})")]
    Cookie(u32),
    /// The zlib stream is corrupt.
    #[error("corrupt DEFLATE stream")]
    Deflate,
    /// Decompresses to more than 64 MiB.
    #[error("histogram encoding too large")]
    TooLarge,
    /// The header or counts are invalid (rejected by the V2 parser).
    #[error("invalid histogram encoding: {0}")]
    Invalid(String),
}

fn be_u32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn be_u64(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_be_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

/// Write a LEB128-64b9B varint: 7 bits a byte for 8 bytes, then one whole byte.
fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    for _ in 0..8 {
        if v < 0x80 {
            out.push(v as u8);
            return;
        }
        out.push((v as u8 & 0x7f) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn zigzag(n: i64) -> u64 {
    ((n << 1) ^ (n >> 63)) as u64
}

fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

/// Non-empty buckets of a V2 payload as `(index, count)`, in index order.
/// Stops at the end of the payload or at the first malformed varint.
pub(crate) struct Counts<'a> {
    payload: &'a [u8],
    pos: usize,
    index: u64,
}

impl Counts<'_> {
    fn varint(&mut self) -> Option<u64> {
        let mut v: u64 = 0;
        for i in 0..8 {
            let b = *self.payload.get(self.pos)?;
            self.pos += 1;
            v |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                return Some(v);
            }
        }
        let b = *self.payload.get(self.pos)?;
        self.pos += 1;
        Some(v | (u64::from(b) << 56))
    }
}

impl Iterator for Counts<'_> {
    type Item = (u64, u64);
    fn next(&mut self) -> Option<(u64, u64)> {
        loop {
            let n = unzigzag(self.varint()?);
            if n < 0 {
                self.index = self.index.checked_add(n.unsigned_abs())?;
            } else {
                let at = self.index;
                self.index = self.index.checked_add(1)?;
                if n > 0 {
                    return Some((at, n as u64));
                }
            }
        }
    }
}

/// A validated uncompressed V2 encoding.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Plain<'a>(&'a [u8]);

impl<'a> Plain<'a> {
    /// Check the cookie and that the stated payload length is present.
    pub(crate) fn parse(b: &'a [u8]) -> Result<Plain<'a>, V2Error> {
        let cookie = be_u32(b, 0).ok_or(V2Error::Truncated)?;
        if cookie != V2_COOKIE {
            return Err(V2Error::Cookie(cookie));
        }
        let len = be_u32(b, 4).ok_or(V2Error::Truncated)? as usize;
        if b.len() < HEADER_LEN || b.len() - HEADER_LEN < len {
            return Err(V2Error::Truncated);
        }
        Ok(Plain(&b[..HEADER_LEN + len]))
    }

    /// `(significant digits, lowest discernible value)`: what fixes bucket boundaries.
    fn layout(self) -> (u32, u64) {
        (
            be_u32(self.0, 12).unwrap_or(0),
            be_u64(self.0, 16).unwrap_or(0),
        )
    }

    fn highest(self) -> u64 {
        be_u64(self.0, 24).unwrap_or(0)
    }

    pub(crate) fn counts(self) -> Counts<'a> {
        Counts {
            payload: &self.0[HEADER_LEN..],
            pos: 0,
            index: 0,
        }
    }

    /// Parse into a histogram (auto-resizing).
    pub(crate) fn decode(self) -> Result<Histogram, V2Error> {
        let mut h: Histogram = Deserializer::new()
            .deserialize(&mut &self.0[..])
            .map_err(|e| V2Error::Invalid(format!("{e:?}")))?;
        h.auto(true);
        Ok(h)
    }
}

/// The uncompressed V2 encoding of a histogram.
pub(crate) fn encode_plain(h: &Histogram) -> Vec<u8> {
    let mut out = Vec::new();
    // Fails only for a bucket count above i64::MAX (9.2e18 samples in one
    // bucket), which no run records; the histogram then encodes as empty.
    if V2Serializer::new().serialize(h, &mut out).is_err() {
        out.clear();
        let _ = V2Serializer::new().serialize(&crate::new_histogram(), &mut out);
    }
    out
}

/// Bucket-wise sum of two uncompressed V2 encodings of histograms with the
/// same layout (significant digits and lowest value); `None` otherwise.
pub(crate) fn merge_plain(a: Plain<'_>, b: Plain<'_>) -> Option<Vec<u8>> {
    if a.layout() != b.layout() {
        return None;
    }
    // The wider histogram's header covers both index ranges.
    let header = if a.highest() >= b.highest() { a } else { b };
    let mut out = Vec::with_capacity(a.0.len().max(b.0.len()) + 16);
    out.extend_from_slice(&header.0[..HEADER_LEN]);
    let mut next: u64 = 0;
    let mut put = |out: &mut Vec<u8>, index: u64, count: u64| {
        match index - next {
            0 => {}
            1 => put_varint(out, 0),
            gap => put_varint(out, zigzag(-(gap.min(i64::MAX as u64) as i64))),
        }
        put_varint(out, zigzag(count.min(i64::MAX as u64) as i64));
        next = index + 1;
    };
    let (mut x, mut y) = (a.counts(), b.counts());
    let (mut cx, mut cy) = (x.next(), y.next());
    loop {
        match (cx, cy) {
            (Some((ia, na)), Some((ib, nb))) if ia == ib => {
                put(&mut out, ia, na.saturating_add(nb));
                (cx, cy) = (x.next(), y.next());
            }
            (Some((ia, na)), Some((ib, _))) if ia < ib => {
                put(&mut out, ia, na);
                cx = x.next();
            }
            (_, Some((ib, nb))) => {
                put(&mut out, ib, nb);
                cy = y.next();
            }
            (Some((ia, na)), None) => {
                put(&mut out, ia, na);
                cx = x.next();
            }
            (None, None) => break,
        }
    }
    if next == 0 {
        // Both empty: V2 writes the single (empty) bucket 0.
        put_varint(&mut out, 0);
    }
    let payload = u32::try_from(out.len() - HEADER_LEN).ok()?;
    out[4..8].copy_from_slice(&payload.to_be_bytes());
    Some(out)
}

/// Wraps uncompressed V2 encodings in V2+DEFLATE, reusing one compressor.
pub(crate) struct Deflater {
    compress: Compress,
    out: Vec<u8>,
}

impl Deflater {
    pub(crate) fn new() -> Deflater {
        Deflater {
            compress: Compress::new(Compression::default(), true),
            out: Vec::new(),
        }
    }

    /// V2+DEFLATE bytes of an uncompressed V2 encoding.
    pub(crate) fn deflate(&mut self, plain: &[u8]) -> &[u8] {
        self.out.clear();
        self.out
            .extend_from_slice(&V2_COMPRESSED_COOKIE.to_be_bytes());
        self.out.extend_from_slice(&[0; 4]);
        self.compress.reset();
        let base = self.compress.total_in();
        loop {
            let done = usize::try_from(self.compress.total_in() - base).unwrap_or(plain.len());
            self.out.reserve(plain.len().saturating_sub(done) + 64);
            match self.compress.compress_vec(
                plain.get(done..).unwrap_or_default(),
                &mut self.out,
                FlushCompress::Finish,
            ) {
                Ok(Status::StreamEnd) => break,
                Ok(_) => {}
                // In-memory compression of a complete input cannot fail;
                // fall back to a fresh compressor if it ever does.
                Err(_) => {
                    self.compress = Compress::new(Compression::default(), true);
                    return self.deflate_fresh(plain);
                }
            }
        }
        let len = (self.out.len() - 8) as u32;
        self.out[4..8].copy_from_slice(&len.to_be_bytes());
        &self.out
    }

    fn deflate_fresh(&mut self, plain: &[u8]) -> &[u8] {
        use std::io::Write;
        self.out.clear();
        self.out
            .extend_from_slice(&V2_COMPRESSED_COOKIE.to_be_bytes());
        self.out.extend_from_slice(&[0; 4]);
        let mut enc = flate2::write::ZlibEncoder::new(&mut self.out, Compression::default());
        let _ = enc.write_all(plain);
        let _ = enc.finish();
        let len = (self.out.len() - 8) as u32;
        self.out[4..8].copy_from_slice(&len.to_be_bytes());
        &self.out
    }
}

/// The uncompressed V2 bytes of a V2 or V2+DEFLATE encoding, bounded.
pub(crate) fn inflate(bytes: &[u8]) -> Result<std::borrow::Cow<'_, [u8]>, V2Error> {
    let cookie = be_u32(bytes, 0).ok_or(V2Error::Truncated)?;
    match cookie {
        V2_COOKIE => Ok(std::borrow::Cow::Borrowed(bytes)),
        V2_COMPRESSED_COOKIE => {
            let len = be_u32(bytes, 4).ok_or(V2Error::Truncated)? as usize;
            let body = bytes.get(8..8 + len).ok_or(V2Error::Truncated)?;
            let mut out = Vec::new();
            flate2::read::ZlibDecoder::new(body)
                .take(MAX_PLAIN_BYTES as u64 + 1)
                .read_to_end(&mut out)
                .map_err(|_| V2Error::Deflate)?;
            if out.len() > MAX_PLAIN_BYTES {
                return Err(V2Error::TooLarge);
            }
            Ok(std::borrow::Cow::Owned(out))
        }
        other => Err(V2Error::Cookie(other)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::new_histogram;

    fn hist(values: &[u64]) -> Histogram {
        let mut h = new_histogram();
        for v in values {
            h.record(*v).unwrap();
        }
        h
    }

    fn same(a: &Histogram, b: &Histogram) {
        assert_eq!(a.len(), b.len());
        assert_eq!(a.min(), b.min());
        assert_eq!(a.max(), b.max());
        assert_eq!(a.mean(), b.mean());
        for q in [0.0, 0.1, 0.5, 0.9, 0.99, 0.999, 0.9999, 1.0] {
            assert_eq!(a.value_at_quantile(q), b.value_at_quantile(q), "q={q}");
        }
    }

    #[test]
    fn varints_match_the_reference_layout() {
        for v in [
            0,
            1,
            127,
            128,
            300,
            1 << 35,
            (1 << 56) - 1,
            1 << 56,
            u64::MAX,
        ] {
            let mut b = Vec::new();
            put_varint(&mut b, v);
            assert!(b.len() <= 9);
            let mut c = Counts {
                payload: &b,
                pos: 0,
                index: 0,
            };
            assert_eq!(c.varint(), Some(v), "{v}");
        }
        for n in [0i64, 1, -1, 5, -5, i64::MAX, i64::MIN] {
            assert_eq!(unzigzag(zigzag(n)), n);
        }
    }

    #[test]
    fn merging_encodings_equals_merging_histograms() {
        let a = hist(&[0, 1, 2047, 2048, 2049, 5000, 1_000_000, 3_600_000_000]);
        let b = hist(&[0, 3, 2049, 77_777, 1_000_000]);
        let mut ab = a.clone();
        ab.add(&b).unwrap();
        let (ea, eb) = (encode_plain(&a), encode_plain(&b));
        let (pa, pb) = (Plain::parse(&ea).unwrap(), Plain::parse(&eb).unwrap());
        same(&pa.decode().unwrap(), &a);
        for m in [merge_plain(pa, pb).unwrap(), merge_plain(pb, pa).unwrap()] {
            same(&Plain::parse(&m).unwrap().decode().unwrap(), &ab);
        }
        let e = encode_plain(&new_histogram());
        let pe = Plain::parse(&e).unwrap();
        let m = merge_plain(pe, pe).unwrap();
        assert_eq!(m, e, "empty + empty is the library's own empty encoding");
        same(
            &Plain::parse(&merge_plain(pe, pa).unwrap())
                .unwrap()
                .decode()
                .unwrap(),
            &a,
        );
        // Another layout is refused (callers fall back to dense merging).
        let mut other = Histogram::new(2).unwrap();
        other.record(5).unwrap();
        let eo = encode_plain(&other);
        assert!(merge_plain(pa, Plain::parse(&eo).unwrap()).is_none());
    }

    #[test]
    fn merged_encoding_equals_the_library_encoding() {
        let a = hist(&[5, 5, 9000, 12_345_678]);
        let b = hist(&[6, 9000, 40_000]);
        let mut ab = a.clone();
        ab.add(&b).unwrap();
        let merged = merge_plain(
            Plain::parse(&encode_plain(&a)).unwrap(),
            Plain::parse(&encode_plain(&b)).unwrap(),
        )
        .unwrap();
        assert_eq!(merged, encode_plain(&ab));
    }

    #[test]
    fn deflate_round_trips_through_the_library_parser() {
        let h = hist(&[1, 10, 100, 1000, 10_000, 100_000]);
        let plain = encode_plain(&h);
        let mut d = Deflater::new();
        for _ in 0..3 {
            let z = d.deflate(&plain).to_vec();
            let back: Histogram = Deserializer::new().deserialize(&mut &z[..]).unwrap();
            same(&back, &h);
            assert_eq!(&*inflate(&z).unwrap(), &plain[..]);
        }
    }

    #[test]
    fn bad_input_is_refused_without_big_allocations() {
        assert_eq!(inflate(&[1, 2]).unwrap_err(), V2Error::Truncated);
        assert_eq!(
            inflate(&[0, 0, 0, 1, 0, 0, 0, 0]).unwrap_err(),
            V2Error::Cookie(1)
        );
        // A stated length far beyond the bytes present.
        let mut b = V2_COOKIE.to_be_bytes().to_vec();
        b.extend_from_slice(&u32::MAX.to_be_bytes());
        b.extend_from_slice(&[0; 40]);
        assert_eq!(Plain::parse(&b).unwrap_err(), V2Error::Truncated);
        let mut z = V2_COMPRESSED_COOKIE.to_be_bytes().to_vec();
        z.extend_from_slice(&4u32.to_be_bytes());
        z.extend_from_slice(&[1, 2, 3, 4]);
        assert_eq!(inflate(&z).unwrap_err(), V2Error::Deflate);
    }
}
