//! The run's history: per-interval snapshots in bounded memory, plus a total.
//!
//! # Coarsening policy
//! The engine pushes one snapshot per tick (once a second). The timeline
//! keeps at most `max_intervals` intervals (rounded down to an even number,
//! at least 2). Each interval covers the same number of pushes, the *span*
//! (1, 2, 4, ... pushes), except the newest, which is still filling up:
//!
//! * a push is merged into the newest interval while that one covers fewer
//!   than `span` pushes, else it closes it and starts a new one;
//! * when closing would make `max_intervals + 1` intervals, the span doubles
//!   and a *halving* starts: adjacent pairs of the older intervals are
//!   merged, oldest first, **one pair per push** (the first one at once), so
//!   no single push pays for rewriting the whole history. The count never
//!   exceeds the bound: each push merges one pair and closes at most one
//!   interval, and the halving ends long before the bound is reached again.
//!
//! So resolution halves each time the run outgrows the bound: with the
//! default 3,600 intervals a one-hour run keeps 1 s resolution, a two-hour
//! run 2 s, a 24-hour run 32 s. While a halving is in progress the older
//! intervals are part at the new span, part at the old one. Merging is
//! exact, so every interval holds exact counts and histograms, and the
//! intervals always add up to [`Timeline::total`], which is kept as a
//! running sum (O(1) to read).
//!
//! # Memory
//! Older intervals keep their histograms *packed*: their exact, uncompressed
//! HdrHistogram V2 encoding, 40 bytes plus about 1–2 bytes per bucket hit in
//! that interval (at most one per sample, at most 23,552 below one hour).
//! Per interval that is about 64 bytes per series plus that per trend. The
//! newest interval and the total are dense (16–184 KiB per trend series, see
//! [`crate::Recorder`]). So the bound is
//! `max_intervals × series × (64 B + 40 B + 2 B × buckets hit)` plus two
//! dense snapshots, whatever the run's length: nothing grows per request.
//! [`Timeline::heap_bytes`] reports the current figure.

use crate::packed::{PackedSnapshot, snapshot_heap_bytes};
use crate::snapshot::Snapshot;
use std::borrow::Cow;

/// The default bound: one hour at one interval per second.
pub const DEFAULT_MAX_INTERVALS: usize = 3600;

/// Per-interval snapshots of a run in bounded memory, and the run's total.
#[derive(Debug, Clone)]
pub struct Timeline {
    /// Older intervals, oldest first, stored packed.
    closed: Vec<PackedSnapshot>,
    /// A halving in progress: the index of the next pair to merge and how
    /// many old-span intervals from there are still to be paired.
    halving: Option<(usize, usize)>,
    /// The newest interval, dense, covering `open_pushes` pushes.
    open: Option<Snapshot>,
    open_pushes: u64,
    span: u64,
    total: Snapshot,
    max_intervals: usize,
}

impl Default for Timeline {
    fn default() -> Timeline {
        Timeline::new(DEFAULT_MAX_INTERVALS)
    }
}

impl Timeline {
    /// A timeline keeping at most `max_intervals` intervals (rounded down to
    /// an even number, at least 2).
    pub fn new(max_intervals: usize) -> Timeline {
        Timeline {
            closed: Vec::new(),
            halving: None,
            open: None,
            open_pushes: 0,
            span: 1,
            total: Snapshot::default(),
            max_intervals: (max_intervals & !1).max(2),
        }
    }

    /// The bound on the number of intervals.
    pub fn max_intervals(&self) -> usize {
        self.max_intervals
    }

    /// How many pushes an interval closed from now on covers: the current
    /// resolution in ticks (1, 2, 4, ...).
    pub fn span(&self) -> u64 {
        self.span
    }

    /// Append the next interval (windows are expected in time order).
    pub fn push(&mut self, snap: Snapshot) {
        self.total.merge(&snap);
        match self.open.take() {
            Some(mut open) if self.open_pushes < self.span => {
                open.merge(&snap);
                self.open = Some(open);
                self.open_pushes += 1;
            }
            Some(open) => {
                self.closed.push(PackedSnapshot::pack(&open));
                self.open = Some(snap);
                self.open_pushes = 1;
            }
            None => {
                self.open = Some(snap);
                self.open_pushes = 1;
            }
        }
        if self.halving.is_none() && self.len() > self.max_intervals {
            self.span *= 2;
            self.halving = Some((0, self.closed.len()));
        }
        self.halve_step();
        // Unreachable by the argument in the module docs; a cheap guarantee.
        while self.len() > self.max_intervals && self.halving.is_some() {
            self.halve_step();
        }
    }

    /// Merge the next pair of a halving in progress.
    fn halve_step(&mut self) {
        let Some((next, left)) = self.halving else {
            return;
        };
        if left >= 2 && next + 1 < self.closed.len() {
            let later = self.closed.remove(next + 1);
            self.closed[next] = self.closed[next].merge(&later);
        }
        self.halving = (left > 3).then_some((next + 1, left - 2));
    }

    /// The stored parts: packed older intervals and the dense newest one.
    pub(crate) fn parts(&self) -> (&[PackedSnapshot], Option<&Snapshot>) {
        (&self.closed, self.open.as_ref())
    }

    /// The intervals, oldest first.
    pub fn intervals(&self) -> Intervals<'_> {
        Intervals { tl: self }
    }

    /// How many intervals are held.
    pub fn len(&self) -> usize {
        self.closed.len() + usize::from(self.open.is_some())
    }

    /// Whether nothing was pushed yet.
    pub fn is_empty(&self) -> bool {
        self.open.is_none()
    }

    /// Everything pushed so far, merged.
    pub fn total(&self) -> &Snapshot {
        &self.total
    }

    /// Approximate heap memory held, in bytes (see the module docs).
    pub fn heap_bytes(&self) -> usize {
        self.closed
            .iter()
            .map(PackedSnapshot::heap_bytes)
            .sum::<usize>()
            + self.open.as_ref().map_or(0, snapshot_heap_bytes)
            + snapshot_heap_bytes(&self.total)
    }
}

/// A view of a timeline's intervals, oldest first.
///
/// Older intervals are stored packed and unpacked on access (`Cow::Owned`,
/// which costs one dense histogram per trend series: read them one at a
/// time); the newest one is stored dense and lent ([`Intervals::last`]).
#[derive(Debug, Clone, Copy)]
pub struct Intervals<'a> {
    tl: &'a Timeline,
}

impl<'a> Intervals<'a> {
    /// How many intervals.
    pub fn len(&self) -> usize {
        self.tl.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.tl.is_empty()
    }

    /// The `i`-th interval, oldest first.
    pub fn get(&self, i: usize) -> Option<Cow<'a, Snapshot>> {
        let tl = self.tl;
        match tl.closed.get(i) {
            Some(p) => Some(Cow::Owned(p.unpack())),
            None if i == tl.closed.len() => tl.open.as_ref().map(Cow::Borrowed),
            None => None,
        }
    }

    /// The oldest interval.
    pub fn first(&self) -> Option<Cow<'a, Snapshot>> {
        self.get(0)
    }

    /// The newest interval (dense, no copy): what a live display shows.
    pub fn last(&self) -> Option<&'a Snapshot> {
        self.tl.open.as_ref()
    }

    /// Every interval, oldest first.
    pub fn iter(&self) -> IntervalIter<'a> {
        IntervalIter {
            tl: self.tl,
            front: 0,
            back: self.tl.len(),
        }
    }
}

impl<'a> IntoIterator for Intervals<'a> {
    type Item = Cow<'a, Snapshot>;
    type IntoIter = IntervalIter<'a>;
    fn into_iter(self) -> IntervalIter<'a> {
        self.iter()
    }
}

/// Iterator over a timeline's intervals; see [`Intervals`].
#[derive(Debug, Clone)]
pub struct IntervalIter<'a> {
    tl: &'a Timeline,
    front: usize,
    back: usize,
}

impl<'a> Iterator for IntervalIter<'a> {
    type Item = Cow<'a, Snapshot>;
    fn next(&mut self) -> Option<Cow<'a, Snapshot>> {
        if self.front >= self.back {
            return None;
        }
        self.front += 1;
        Intervals { tl: self.tl }.get(self.front - 1)
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.back.saturating_sub(self.front);
        (n, Some(n))
    }
}

impl DoubleEndedIterator for IntervalIter<'_> {
    fn next_back(&mut self) -> Option<Self::Item> {
        if self.front >= self.back {
            return None;
        }
        self.back -= 1;
        Intervals { tl: self.tl }.get(self.back)
    }
}

impl ExactSizeIterator for IntervalIter<'_> {}

impl std::iter::FusedIterator for IntervalIter<'_> {}
