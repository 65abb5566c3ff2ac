//! The run's history: per-interval snapshots in bounded memory, plus a total.

use crate::snapshot::Snapshot;

/// Per-interval snapshots (one per second as pushed by the engine) and the
/// running total of the whole run.
///
/// Memory is bounded for any test length: when more than `max_intervals`
/// intervals are held, adjacent pairs are merged, halving the resolution
/// (1 s → 2 s → 4 s …) while keeping every count exact. A one-hour run at the
/// default 3,600 keeps 1 s resolution; a 24-hour run ends at 32 s.
#[derive(Debug, Clone)]
pub struct Timeline {
    intervals: Vec<Snapshot>,
    total: Snapshot,
    max_intervals: usize,
}

impl Timeline {
    /// A timeline keeping at most `max_intervals` intervals (at least 2).
    pub fn new(max_intervals: usize) -> Timeline {
        Timeline {
            intervals: Vec::new(),
            total: Snapshot::default(),
            max_intervals: max_intervals.max(2),
        }
    }

    /// Append the next interval.
    pub fn push(&mut self, snap: Snapshot) {
        self.total.merge(&snap);
        // Once coarsened, the newest interval absorbs new ones until it is as
        // wide as the others.
        let n = self.intervals.len();
        let absorb = n >= 2 && width(&self.intervals[n - 1]) < width(&self.intervals[0]);
        match self.intervals.last_mut() {
            Some(last) if absorb => last.merge(&snap),
            _ => self.intervals.push(snap),
        }
        if self.intervals.len() > self.max_intervals {
            let old = std::mem::take(&mut self.intervals);
            let mut it = old.into_iter();
            while let Some(mut a) = it.next() {
                if let Some(b) = it.next() {
                    a.merge(&b);
                }
                self.intervals.push(a);
            }
        }
    }

    /// The intervals, oldest first.
    pub fn intervals(&self) -> &[Snapshot] {
        &self.intervals
    }

    /// Everything recorded so far, merged.
    pub fn total(&self) -> &Snapshot {
        &self.total
    }
}

fn width(s: &Snapshot) -> u64 {
    s.end_ms.saturating_sub(s.start_ms)
}
