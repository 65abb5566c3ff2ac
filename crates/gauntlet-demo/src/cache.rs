//! The read-through item cache: bounded, with a TTL, and safe against the
//! classic stale-fill race.
//!
//! # Design
//! A `Mutex<HashMap>` (critical sections are a hash lookup and a few pointer
//! moves, far cheaper than the SQLite call they save, and no extra crate to
//! compile). Entries hold the item's serialised JSON, so a hit answers
//! without serialising again. Eviction is FIFO by insertion: a queue of
//! `(id, stamp)` records insertion order; an entry is removed when its own
//! stamp reaches the front while the cache is over capacity. Expired entries
//! are dropped when touched and pushed out by the queue.
//!
//! # The stale-fill race
//! A read misses, queries the database and, meanwhile, a write changes the
//! row and invalidates the key; the read then fills the cache with the old
//! row, which would be served until the TTL ends. Writes therefore leave a
//! *tombstone* holding the lowest version a later fill may store (the new
//! version after an update, "nothing" after a delete), and fills never
//! replace a newer cached version. Tombstones live as long as the TTL.

use axum::body::Bytes;
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Debug)]
enum SlotKind {
    /// A cached item at `version`, serialised.
    Item { version: i64, body: Bytes },
    /// The key was written: fills below `min_version` are stale.
    Invalidated { min_version: i64 },
}

#[derive(Debug)]
struct Slot {
    stamp: u64,
    at: Instant,
    kind: SlotKind,
}

#[derive(Debug, Default)]
struct Inner {
    map: HashMap<i64, Slot>,
    order: VecDeque<(i64, u64)>,
    next_stamp: u64,
}

/// Bounded TTL cache of serialised items by id.
#[derive(Debug)]
pub(crate) struct ItemCache {
    inner: Mutex<Inner>,
    ttl: Duration,
    capacity: usize,
}

impl Inner {
    fn insert(&mut self, id: i64, kind: SlotKind, capacity: usize) {
        let stamp = self.next_stamp;
        self.next_stamp += 1;
        self.map.insert(
            id,
            Slot {
                stamp,
                at: Instant::now(),
                kind,
            },
        );
        self.order.push_back((id, stamp));
        while self.map.len() > capacity {
            let Some((old, s)) = self.order.pop_front() else {
                break;
            };
            if self.map.get(&old).is_some_and(|slot| slot.stamp == s) {
                self.map.remove(&old);
            }
        }
        // Re-filled keys leave stale queue records behind; rebuild rarely.
        if self.order.len() > 2 * capacity + 64 {
            let mut live: Vec<(i64, u64)> = self.map.iter().map(|(k, v)| (*k, v.stamp)).collect();
            live.sort_unstable_by_key(|&(_, s)| s);
            self.order = live.into();
        }
    }
}

impl ItemCache {
    /// A cache of at most `capacity` entries (0 disables it) living `ttl`.
    pub(crate) fn new(ttl: Duration, capacity: usize) -> ItemCache {
        ItemCache {
            inner: Mutex::new(Inner::default()),
            ttl,
            capacity,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The cached body of item `id`, if fresh.
    pub(crate) fn get(&self, id: i64) -> Option<Bytes> {
        if self.capacity == 0 {
            return None;
        }
        let mut inner = self.lock();
        let slot = inner.map.get(&id)?;
        if slot.at.elapsed() >= self.ttl {
            inner.map.remove(&id);
            return None;
        }
        match &slot.kind {
            SlotKind::Item { body, .. } => Some(body.clone()),
            SlotKind::Invalidated { .. } => None,
        }
    }

    /// Store item `id` at `version` as read from the database, unless a
    /// write since made that version stale or a newer one is cached.
    /// Returns whether it was stored.
    pub(crate) fn fill(&self, id: i64, version: i64, body: Bytes) -> bool {
        if self.capacity == 0 {
            return false;
        }
        let mut inner = self.lock();
        if let Some(slot) = inner.map.get(&id)
            && slot.at.elapsed() < self.ttl
        {
            let floor = match slot.kind {
                SlotKind::Item { version: v, .. } => v + 1,
                SlotKind::Invalidated { min_version } => min_version,
            };
            if version < floor {
                return false;
            }
        }
        inner.insert(id, SlotKind::Item { version, body }, self.capacity);
        true
    }

    /// Item `id` was written: drop it and refuse fills below `min_version`
    /// (the new version after an update, `i64::MAX` after a delete).
    pub(crate) fn invalidate(&self, id: i64, min_version: i64) {
        if self.capacity == 0 {
            return;
        }
        self.lock()
            .insert(id, SlotKind::Invalidated { min_version }, self.capacity);
    }

    /// Fresh cached items (not tombstones), for the entries gauge.
    pub(crate) fn len(&self) -> usize {
        let ttl = self.ttl;
        self.lock()
            .map
            .values()
            .filter(|s| matches!(s.kind, SlotKind::Item { .. }) && s.at.elapsed() < ttl)
            .count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(s: &'static str) -> Bytes {
        Bytes::from_static(s.as_bytes())
    }

    const LONG: Duration = Duration::from_secs(3600);

    #[test]
    fn read_through_and_invalidate() {
        let c = ItemCache::new(LONG, 10);
        assert_eq!(c.get(1), None);
        assert!(c.fill(1, 1, b("v1")));
        assert_eq!(c.get(1), Some(b("v1")));
        c.invalidate(1, 2);
        assert_eq!(c.get(1), None, "a write makes the next read miss");
        assert!(c.fill(1, 2, b("v2")));
        assert_eq!(c.get(1), Some(b("v2")));
        assert_eq!(c.len(), 1);
    }

    #[test]
    fn a_fill_that_raced_a_write_is_refused() {
        let c = ItemCache::new(LONG, 10);
        // A read got version 1 from the database, then an update to 2 landed.
        c.invalidate(7, 2);
        assert!(!c.fill(7, 1, b("old")));
        assert_eq!(c.get(7), None);
        // Same after a delete: nothing may come back.
        c.invalidate(8, i64::MAX);
        assert!(!c.fill(8, 5, b("ghost")));
        // And a newer cached version is never replaced by an older read.
        assert!(c.fill(9, 3, b("v3")));
        assert!(!c.fill(9, 2, b("v2")));
        assert_eq!(c.get(9), Some(b("v3")));
    }

    #[test]
    fn entries_expire() {
        let c = ItemCache::new(Duration::ZERO, 10);
        assert!(c.fill(1, 1, b("x")));
        assert_eq!(c.get(1), None);
        assert_eq!(c.len(), 0);
    }

    #[test]
    fn capacity_evicts_the_oldest_insert() {
        let c = ItemCache::new(LONG, 3);
        for id in 1..=3 {
            assert!(c.fill(id, 1, b("x")));
        }
        assert!(c.fill(4, 1, b("x")));
        assert_eq!(c.get(1), None, "oldest out");
        assert!((2..=4).all(|id| c.get(id).is_some()));
        // Refilling a key many times keeps the queue bounded.
        for v in 2..10_000 {
            c.fill(4, v, b("y"));
        }
        let inner = c.lock();
        assert!(inner.order.len() <= 2 * 3 + 64 + 1, "{}", inner.order.len());
        assert_eq!(inner.map.len(), 3);
    }

    #[test]
    fn capacity_zero_disables() {
        let c = ItemCache::new(LONG, 0);
        assert!(!c.fill(1, 1, b("x")));
        assert_eq!(c.get(1), None);
    }
}
