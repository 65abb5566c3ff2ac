//! Response headers, kept as received until something reads them.
//!
//! Why not a `HeaderMap` straight away: most requests of a load test are
//! never asked about their headers (no check or capture reads them), and
//! building a map costs a hash, an insert and a copy of each value on every
//! response, about a sixth of what one HTTP/1 request costs the generator
//! (`bench/callgrind.sh`). An HTTP/1 head is kept as one copy of its bytes
//! and the position of each field; the map is built the first time a caller
//! asks for it, once. The driver's own lookups (`Content-Encoding`,
//! `Location`, `Set-Cookie`) read the raw fields and build nothing.

use bytes::Bytes;
use http::header::{AsHeaderName, GetAll};
use http::{HeaderMap, HeaderName, HeaderValue};
use std::sync::OnceLock;

/// Where one field of a raw head lies in its bytes.
#[derive(Debug, Clone, Copy)]
struct Field {
    name: (u32, u32),
    value: (u32, u32),
}

/// Bytes of one [`Field`] in the table after a raw head.
const FIELD: usize = 16;

impl Field {
    fn put(self, out: &mut Vec<u8>) {
        for n in [self.name.0, self.name.1, self.value.0, self.value.1] {
            out.extend_from_slice(&n.to_le_bytes());
        }
    }

    fn get(b: &[u8]) -> Field {
        // One length check; the loads below are then of constant offsets.
        let b: &[u8; FIELD] = b.try_into().expect("a whole field");
        let n = |i: usize| u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        Field {
            name: (n(0), n(4)),
            value: (n(8), n(12)),
        }
    }
}

/// The headers of a response (HTTP/1 fields as received, or HTTP/2's map).
///
/// Reading them the `HeaderMap` way ([`ResponseHeaders::get`],
/// [`ResponseHeaders::map`], ...) builds the map on first use; the order and
/// repetition of fields is kept as received.
#[derive(Clone, Default)]
pub struct ResponseHeaders {
    /// The head's field lines (HTTP/1) followed by the table of their
    /// [`Field`]s: one allocation for both (a second one, and its free,
    /// were ~180 instructions a request, `bench/callgrind.sh`). Empty when
    /// built from a map.
    raw: Bytes,
    /// Where the field table starts in `raw`.
    table: u32,
    /// Boxed: built for few responses, and a `HeaderMap` inline would add
    /// ~90 bytes to every response moved through the engine.
    map: OnceLock<Box<HeaderMap>>,
}

impl ResponseHeaders {
    /// Headers from a raw HTTP/1 head: `head` holds the field lines, each
    /// of the `count` `(name, value)` a byte range in it. The names and
    /// values must be valid (as `httparse` checks them).
    pub(crate) fn from_raw(
        head: &[u8],
        count: usize,
        ranges: impl Iterator<Item = ((u32, u32), (u32, u32))>,
    ) -> Self {
        let mut raw = Vec::with_capacity(head.len() + count * FIELD);
        raw.extend_from_slice(head);
        for (name, value) in ranges {
            Field { name, value }.put(&mut raw);
        }
        ResponseHeaders {
            table: head.len() as u32,
            raw: Bytes::from(raw),
            map: OnceLock::new(),
        }
    }

    fn fields(&self) -> impl Iterator<Item = Field> + '_ {
        self.raw[self.table as usize..]
            .chunks_exact(FIELD)
            .map(Field::get)
    }

    fn field_count(&self) -> usize {
        (self.raw.len() - self.table as usize) / FIELD
    }

    fn bytes(&self, (at, len): (u32, u32)) -> &[u8] {
        &self.raw[at as usize..(at + len) as usize]
    }

    /// The values of `name` as bytes, in order, without building the map.
    pub fn values_of<'a, 'n>(
        &'a self,
        name: &'n HeaderName,
    ) -> impl Iterator<Item = &'a [u8]> + use<'a, 'n> {
        let raw = self.map.get().is_none();
        // The name once, and a field's bytes only when its length matches.
        let want = name.as_str().as_bytes();
        let from_raw = self
            .fields()
            .filter(move |f| {
                raw && f.name.1 as usize == want.len()
                    && self.bytes(f.name).eq_ignore_ascii_case(want)
            })
            .map(|f| self.bytes(f.value));
        let from_map = self
            .map
            .get()
            .into_iter()
            .flat_map(move |m| m.get_all(name).iter().map(HeaderValue::as_bytes));
        from_raw.chain(from_map)
    }

    /// The first value of `name` as bytes, without building the map.
    pub fn first_of(&self, name: &HeaderName) -> Option<&[u8]> {
        self.values_of(name).next()
    }

    /// The headers as a map (built on the first call).
    pub fn map(&self) -> &HeaderMap {
        self.map.get_or_init(|| {
            let mut m = HeaderMap::with_capacity(self.field_count());
            for f in self.fields() {
                // Both parse: httparse accepts the same bytes as `http`.
                let (Ok(k), Ok(v)) = (
                    HeaderName::from_bytes(self.bytes(f.name)),
                    HeaderValue::from_maybe_shared(
                        self.raw
                            .slice(f.value.0 as usize..(f.value.0 + f.value.1) as usize),
                    ),
                ) else {
                    continue;
                };
                m.append(k, v);
            }
            Box::new(m)
        })
    }

    /// The map, taken out.
    pub fn into_map(self) -> HeaderMap {
        self.map();
        self.map.into_inner().map(|m| *m).unwrap_or_default()
    }

    /// The first value of `key` (`HeaderMap::get`).
    pub fn get<K: AsHeaderName>(&self, key: K) -> Option<&HeaderValue> {
        self.map().get(key)
    }

    /// All values of `key` (`HeaderMap::get_all`).
    pub fn get_all<K: AsHeaderName>(&self, key: K) -> GetAll<'_, HeaderValue> {
        self.map().get_all(key)
    }

    /// Whether `key` is present (`HeaderMap::contains_key`).
    pub fn contains_key<K: AsHeaderName>(&self, key: K) -> bool {
        self.map().contains_key(key)
    }

    /// Every `(name, value)`, in order (`HeaderMap::iter`).
    pub fn iter(&self) -> http::header::Iter<'_, HeaderValue> {
        self.map().iter()
    }

    /// How many field lines (`HeaderMap::len`).
    pub fn len(&self) -> usize {
        match self.map.get() {
            Some(m) => m.len(),
            None => self.field_count(),
        }
    }

    /// No field at all.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl From<HeaderMap> for ResponseHeaders {
    fn from(map: HeaderMap) -> Self {
        ResponseHeaders {
            raw: Bytes::new(),
            table: 0,
            map: OnceLock::from(Box::new(map)),
        }
    }
}

impl<'a> IntoIterator for &'a ResponseHeaders {
    type Item = (&'a HeaderName, &'a HeaderValue);
    type IntoIter = http::header::Iter<'a, HeaderValue>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

impl std::fmt::Debug for ResponseHeaders {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.map().fmt(f)
    }
}

impl PartialEq for ResponseHeaders {
    fn eq(&self, other: &Self) -> bool {
        self.map() == other.map()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::header::{CONTENT_TYPE, SET_COOKIE};

    fn sample() -> ResponseHeaders {
        let head = b"Set-Cookie: a=1\r\nContent-Type: text/plain\r\nset-cookie: b=2\r\n";
        // (name, value) ranges of the three lines above.
        let ranges = [
            ((0, 10), (12, 3)),
            ((17, 12), (31, 10)),
            ((43, 10), (55, 3)),
        ];
        ResponseHeaders::from_raw(head, ranges.len(), ranges.into_iter())
    }

    #[test]
    fn raw_lookups_match_the_map() {
        let h = sample();
        let raw: Vec<&[u8]> = h.values_of(&SET_COOKIE).collect();
        assert_eq!(raw, [&b"a=1"[..], b"b=2"]);
        assert_eq!(h.first_of(&CONTENT_TYPE), Some(&b"text/plain"[..]));
        assert_eq!(h.len(), 3);
        assert!(h.map.get().is_none(), "raw lookups build no map");
        assert_eq!(h.get(CONTENT_TYPE).unwrap(), "text/plain");
        let all: Vec<_> = h.get_all(SET_COOKIE).iter().collect();
        assert_eq!(all, ["a=1", "b=2"]);
        // Once built, lookups go through the map and agree.
        let again: Vec<&[u8]> = h.values_of(&SET_COOKIE).collect();
        assert_eq!(again, [&b"a=1"[..], b"b=2"]);
        assert_eq!(h.len(), 3);
        let m = h.into_map();
        assert_eq!(m.len(), 3);
        assert_eq!(ResponseHeaders::from(m.clone()).map(), &m);
    }
}
