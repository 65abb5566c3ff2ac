//! Response body decompression (`Content-Encoding`: gzip, deflate, br).
//!
//! Decoding runs after the body has been received, so its CPU time is not
//! part of any phase timing: the phases measure the network and the server,
//! not the load generator. The decoded size is bounded by the same
//! `max_body_bytes` as the wire size, which defuses decompression bombs.

use super::error::{ErrorKind, HttpError};
use super::headers::ResponseHeaders;
use bytes::Bytes;
use std::io::Read;

/// What the client advertises when decompression is on and the request has
/// no `Accept-Encoding` of its own.
pub(crate) const ACCEPT_ENCODING: &str = "gzip, deflate, br";

/// Decode `body` per the `Content-Encoding` header (codings applied in
/// order, so they are undone in reverse). Unknown codings leave the body
/// untouched: the check that reads it will show what arrived.
pub(crate) fn decode(
    headers: &ResponseHeaders,
    body: Bytes,
    max: usize,
) -> Result<Bytes, HttpError> {
    let Some(enc) = headers
        .first_of(&http::header::CONTENT_ENCODING)
        .and_then(|v| std::str::from_utf8(v).ok())
    else {
        return Ok(body);
    };
    let mut body = body;
    for coding in enc.rsplit(',') {
        let coding = coding.trim();
        body = if coding.eq_ignore_ascii_case("gzip") || coding.eq_ignore_ascii_case("x-gzip") {
            read_all(flate2::read::MultiGzDecoder::new(&body[..]), coding, max)?
        } else if coding.eq_ignore_ascii_case("deflate") {
            // "deflate" is zlib-wrapped per the RFC, but some servers send raw
            // deflate; the first two bytes of a zlib stream tell them apart.
            if is_zlib(&body) {
                read_all(flate2::read::ZlibDecoder::new(&body[..]), coding, max)?
            } else {
                read_all(flate2::read::DeflateDecoder::new(&body[..]), coding, max)?
            }
        } else if coding.eq_ignore_ascii_case("br") {
            read_all(
                brotli_decompressor::Decompressor::new(&body[..], 8 * 1024),
                coding,
                max,
            )?
        } else {
            // identity, or a coding we do not know: keep the bytes as they are.
            return Ok(body);
        };
    }
    Ok(body)
}

fn is_zlib(b: &[u8]) -> bool {
    b.len() >= 2 && b[0] & 0x0f == 8 && (u16::from(b[0]) << 8 | u16::from(b[1])) % 31 == 0
}

fn read_all(r: impl Read, coding: &str, max: usize) -> Result<Bytes, HttpError> {
    let mut out = Vec::new();
    let limit = u64::try_from(max).unwrap_or(u64::MAX).saturating_add(1);
    r.take(limit).read_to_end(&mut out).map_err(|e| {
        HttpError::new(
            ErrorKind::BodyDecode,
            format!("cannot decode {coding} body: {e}"),
        )
    })?;
    if out.len() > max {
        return Err(HttpError::new(
            ErrorKind::BodyTooLarge,
            format!("decoded {coding} body larger than {max} bytes"),
        ));
    }
    Ok(Bytes::from(out))
}

/// Test helpers shared with the driver tests.
#[cfg(test)]
pub(crate) mod testing {
    use std::io::Write;

    pub(crate) fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    pub(crate) fn zlib(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    pub(crate) fn raw_deflate(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    /// A valid brotli stream made of one uncompressed meta-block (RFC 7932
    /// §9.2): enough to test decoding without a brotli encoder dependency.
    pub(crate) fn brotli_stored(data: &[u8]) -> Vec<u8> {
        assert!(!data.is_empty() && data.len() <= 1 << 16);
        // Bits, LSB first: WBITS=16 ('0'), ISLAST=0, MNIBBLES=4 ('00'),
        // MLEN-1 (16 bits), ISUNCOMPRESSED=1; then pad to a byte boundary.
        let header: u32 = (((data.len() - 1) as u32) << 4) | (1 << 20);
        let mut out = header.to_le_bytes()[..3].to_vec();
        out.extend_from_slice(data);
        // Final empty meta-block: ISLAST=1, ISLASTEMPTY=1.
        out.push(0b11);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::testing::*;
    use super::*;
    use http::{HeaderMap, HeaderValue};

    fn with(enc: &'static str) -> ResponseHeaders {
        let mut h = HeaderMap::new();
        h.insert(
            http::header::CONTENT_ENCODING,
            HeaderValue::from_static(enc),
        );
        h.into()
    }

    const TEXT: &[u8] = b"the quick brown fox jumps over the lazy dog, again and again";

    #[test]
    fn decodes_each_coding() {
        let cases: [(&'static str, Vec<u8>); 5] = [
            ("gzip", gzip(TEXT)),
            ("x-gzip", gzip(TEXT)),
            ("deflate", zlib(TEXT)),
            ("deflate", raw_deflate(TEXT)),
            ("br", brotli_stored(TEXT)),
        ];
        for (enc, wire) in cases {
            let out = decode(&with(enc), Bytes::from(wire), 1 << 20).unwrap();
            assert_eq!(&out[..], TEXT, "{enc}");
        }
    }

    #[test]
    fn stacked_codings_are_undone_in_reverse() {
        let wire = gzip(&zlib(TEXT));
        let out = decode(&with("deflate, gzip"), Bytes::from(wire), 1 << 20).unwrap();
        assert_eq!(&out[..], TEXT);
    }

    #[test]
    fn identity_unknown_and_missing_pass_through() {
        for h in [with("identity"), with("zstd"), HeaderMap::new().into()] {
            let out = decode(&h, Bytes::from_static(TEXT), 1 << 20).unwrap();
            assert_eq!(&out[..], TEXT);
        }
    }

    #[test]
    fn corrupt_body_is_a_decode_error() {
        let e = decode(&with("gzip"), Bytes::from_static(b"not gzip at all"), 1024).unwrap_err();
        assert_eq!(e.kind, ErrorKind::BodyDecode);
        let e = decode(&with("br"), Bytes::from_static(&[0xff; 8]), 1024).unwrap_err();
        assert_eq!(e.kind, ErrorKind::BodyDecode);
    }

    #[test]
    fn decoded_size_is_bounded() {
        let bomb = gzip(&vec![0u8; 1 << 20]);
        assert!(bomb.len() < 4096);
        let e = decode(&with("gzip"), Bytes::from(bomb.clone()), 64 * 1024).unwrap_err();
        assert_eq!(e.kind, ErrorKind::BodyTooLarge);
        let ok = decode(&with("gzip"), Bytes::from(bomb), 1 << 20).unwrap();
        assert_eq!(ok.len(), 1 << 20, "exactly the limit is allowed");
    }
}
