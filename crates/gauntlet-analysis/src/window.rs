//! Windowed conditions: `over 30s`, `for 10s` and `warmup`, judged exactly
//! from the run's per-second timeline.
//!
//! k6 judges a threshold once, over the whole run, so a service that fails
//! every request in the last 10 s of a minute reads as a few percent of
//! errors. A window judges each stretch alone. Every window is the exact
//! merge of the timeline's intervals it covers (HDR histograms merge without
//! loss), so a windowed p95 is the p95 of those requests, not an average of
//! per-second p95s.
//!
//! - `over L`: every window of `L`, sliding by one interval, must hold; the
//!   compliance is the share of windows that held. A run (after its warm-up)
//!   shorter than `L` is judged as one window.
//! - `for L`: each interval is judged alone; the condition fails when it is
//!   broken for `L` without a break. An interval without samples ends a
//!   broken stretch: nothing in it broke the condition.
//! - `warmup: W` leaves out every interval that starts before `W`; without a
//!   window it judges the rest of the run once.
//!
//! A counter with no samples in a window counts 0 there, as it does over the
//! whole run; any other kind without samples has no window to judge, and a
//! condition with no judged window is *not evaluated*.

use crate::MetricSource;
use gauntlet_metrics::{
    Latency, MetricKind, Registry, SeriesData, Stat, TagInterner, Timeline, Unit,
};
use gauntlet_plan::threshold::MetricSelector;
use gauntlet_plan::{Condition, WindowKind};

/// How a windowed condition fared, for reports and the JSON result.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WindowJudgement {
    /// The rule as written: `over 30s`, `for 10s`, or `after warm-up`.
    pub rule: String,
    /// Warm-up left out, in seconds.
    pub warmup_secs: f64,
    /// Windows judged (`for`: intervals judged).
    pub windows: u64,
    /// Windows that held.
    pub held: u64,
    /// Share of judged windows that held, 0..1 (seed 002's compliance %).
    pub compliance: f64,
    /// Start of the first window that broke the condition, seconds since
    /// the run's start (`for`: start of the first stretch long enough to fail).
    pub first_failure_secs: Option<f64>,
    /// The longest stretch the condition was broken without a break, seconds.
    pub longest_broken_secs: f64,
    /// Whether the rule failed.
    pub failed: bool,
}

/// One interval's data for the selected series: when it starts and ends
/// (ms since the run's start) and what it holds.
#[derive(Debug, Clone)]
struct Slice {
    start_ms: u64,
    end_ms: u64,
    data: Option<SeriesData>,
}

/// A run's timeline in threshold units: judges windowed conditions and, for
/// the others, reads the total like [`crate::SnapshotSource`].
#[derive(Debug)]
pub struct TimelineSource<'a> {
    /// The run's per-interval snapshots and total.
    pub timeline: &'a Timeline,
    /// Metric definitions.
    pub registry: &'a Registry,
    /// Tag sets.
    pub interner: &'a TagInterner,
    /// Judge only the windows that end at the newest interval: what a live
    /// `abortOnFail` watcher needs each tick (it judged the older ones at
    /// earlier ticks), at a cost that does not grow with the run.
    pub newest_only: bool,
}

impl TimelineSource<'_> {
    fn total(&self) -> crate::SnapshotSource<'_> {
        crate::SnapshotSource {
            snapshot: self.timeline.total(),
            registry: self.registry,
            interner: self.interner,
        }
    }

    /// The selected series, interval by interval, from `warmup_ms` on.
    fn slices(&self, selector: &MetricSelector, warmup_ms: u64) -> Option<(Vec<Slice>, Unit)> {
        let id = self.registry.get(&selector.metric)?;
        let def = self.registry.def(id);
        let filter = crate::tag_filter(selector);
        let slices = self
            .timeline
            .intervals()
            .iter()
            .filter(|snap| snap.start_ms >= warmup_ms)
            .map(|snap| Slice {
                start_ms: snap.start_ms,
                end_ms: snap.end_ms,
                data: snap
                    .select(id, &filter, self.interner)
                    .filter(|d| d.kind() == def.kind),
            })
            .collect();
        Some((slices, def.unit))
    }
}

impl MetricSource for TimelineSource<'_> {
    fn value(&self, selector: &MetricSelector, aggregation: Stat) -> Option<f64> {
        self.total().value(selector, aggregation)
    }

    fn windowed(
        &self,
        selector: &MetricSelector,
        kind: MetricKind,
        condition: &Condition,
    ) -> Option<(Option<f64>, WindowJudgement)> {
        let warmup_ms = condition.window.warmup.as_millis() as u64;
        let (mut slices, unit) = self.slices(selector, warmup_ms)?;
        if self.newest_only
            && let WindowKind::Every(l) | WindowKind::Sustained(l) = condition.window.kind
        {
            // The newest window, and for `for` the stretch that reaches it.
            let keep = (l.as_secs() as usize).max(1);
            let drop = slices.len().saturating_sub(keep);
            slices.drain(..drop);
        }
        Some(judge(&slices, kind, unit, condition))
    }
}

/// The value of merged data in threshold units (ms for durations).
fn value_of(
    data: Option<&SeriesData>,
    kind: MetricKind,
    unit: Unit,
    c: &Condition,
    secs: f64,
) -> Option<f64> {
    let v = match data {
        Some(d) => d.stat(c.aggregation, Latency::Corrected, secs)?,
        // A count of nothing is zero, so `count > 0` and `rate > N/s` can fail.
        None if kind == MetricKind::Counter
            && matches!(c.aggregation, Stat::Count | Stat::Rate) =>
        {
            0.0
        }
        None => return None,
    };
    Some(
        if unit == Unit::Microseconds && !matches!(c.aggregation, Stat::Count) {
            v / 1000.0
        } else {
            v
        },
    )
}

/// Merge consecutive slices into one stretch: its data, start and end (ms).
fn merge(slices: &[Slice]) -> (Option<SeriesData>, u64, u64) {
    let mut data: Option<SeriesData> = None;
    for s in slices {
        if let Some(d) = &s.data {
            match &mut data {
                Some(m) => m.merge(d),
                None => data = Some(d.clone()),
            }
        }
    }
    let start = slices.first().map_or(0, |s| s.start_ms);
    let end = slices.last().map_or(0, |s| s.end_ms);
    (data, start, end)
}

/// Which of two observed values is worse for the condition (the one that
/// breaks it more).
fn worse(c: &Condition, a: f64, b: f64) -> f64 {
    use gauntlet_plan::threshold::Cmp;
    match c.cmp {
        Cmp::Lt | Cmp::Le => a.max(b),
        Cmp::Gt | Cmp::Ge => a.min(b),
        // No order: keep the one that breaks, else the first.
        _ => {
            if c.cmp.holds(a, c.value) {
                b
            } else {
                a
            }
        }
    }
}

/// Counts judged windows and follows the stretches in which they broke.
#[derive(Debug, Default)]
struct Tally {
    /// Start (ms) of the broken stretch the last window extended.
    broken_since: Option<u64>,
}

impl Tally {
    /// Count one judged window `[start, end)` into `j`; when it broke, the
    /// start of the broken stretch it extends (and `j`'s longest is updated).
    fn count(&mut self, j: &mut WindowJudgement, held: bool, start: u64, end: u64) -> Option<u64> {
        j.windows += 1;
        if held {
            j.held += 1;
            self.broken_since = None;
            return None;
        }
        let since = *self.broken_since.get_or_insert(start);
        j.longest_broken_secs = j
            .longest_broken_secs
            .max(end.saturating_sub(since) as f64 / 1000.0);
        Some(since)
    }
}

/// Judge `c` over `slices`: the worst value seen and the judgement.
fn judge(
    slices: &[Slice],
    kind: MetricKind,
    unit: Unit,
    c: &Condition,
) -> (Option<f64>, WindowJudgement) {
    let warmup_secs = c.window.warmup.as_secs_f64();
    let mut j = WindowJudgement {
        rule: match c.window.kind {
            WindowKind::Every(l) => format!("over {}s", l.as_secs()),
            WindowKind::Sustained(l) => format!("for {}s", l.as_secs()),
            _ => "after warm-up".to_owned(),
        },
        warmup_secs,
        windows: 0,
        held: 0,
        compliance: 0.0,
        first_failure_secs: None,
        longest_broken_secs: 0.0,
        failed: false,
    };
    let mut worst: Option<f64> = None;
    let note = |value: f64, worst: &mut Option<f64>| {
        *worst = Some(worst.map_or(value, |w| worse(c, w, value)));
    };
    // Whether a stretch held: `None` when it had nothing to judge.
    let judge_stretch = |stretch: &[Slice]| -> Option<(f64, bool, u64, u64)> {
        let (data, start, end) = merge(stretch);
        let secs = end.saturating_sub(start) as f64 / 1000.0;
        let v = value_of(data.as_ref(), kind, unit, c, secs)?;
        Some((v, c.cmp.holds(v, c.value), start, end))
    };
    match c.window.kind {
        WindowKind::Sustained(length) => {
            let need_ms = length.as_millis() as u64;
            let mut tally = Tally::default();
            for s in slices {
                match judge_stretch(std::slice::from_ref(s)) {
                    Some((v, held, start, end)) => {
                        note(v, &mut worst);
                        if let Some(since) = tally.count(&mut j, held, start, end)
                            && end.saturating_sub(since) >= need_ms
                            && j.first_failure_secs.is_none()
                        {
                            j.first_failure_secs = Some(since as f64 / 1000.0);
                        }
                    }
                    None => tally.broken_since = None,
                }
            }
            j.failed = j.first_failure_secs.is_some();
        }
        WindowKind::Every(length) => {
            let len_ms = length.as_millis() as u64;
            // Windows cover whole intervals: as many as span `length` (one
            // when the timeline was coarsened past it).
            let interval_ms = slices
                .iter()
                .map(|s| s.end_ms.saturating_sub(s.start_ms))
                .max()
                .unwrap_or(1000)
                .max(1);
            let n = (len_ms.div_ceil(interval_ms) as usize).clamp(1, slices.len().max(1));
            let mut tally = Tally::default();
            for stretch in slices.windows(n) {
                let Some((v, held, start, end)) = judge_stretch(stretch) else {
                    continue;
                };
                note(v, &mut worst);
                if tally.count(&mut j, held, start, end).is_some() {
                    j.first_failure_secs.get_or_insert(start as f64 / 1000.0);
                }
            }
            j.failed = j.held < j.windows;
        }
        _ => {
            if let Some((v, held, start, end)) = judge_stretch(slices) {
                note(v, &mut worst);
                j.windows = 1;
                if held {
                    j.held = 1;
                } else {
                    j.first_failure_secs = Some(start as f64 / 1000.0);
                    j.longest_broken_secs = end.saturating_sub(start) as f64 / 1000.0;
                    j.failed = true;
                }
            }
        }
    }
    if j.windows > 0 {
        j.compliance = j.held as f64 / j.windows as f64;
    }
    (worst, j)
}

#[cfg(test)]
mod tests {
    use super::*;
    use gauntlet_metrics::{Recorder, SeriesKey, Snapshot};
    use gauntlet_plan::{Overrides, Plan, parse_plan};

    fn plan(thresholds: &str) -> Plan {
        let src = format!("workload: {{operations: {{a: GET /}}}}\nthresholds:\n{thresholds}");
        parse_plan("p", src.as_bytes(), "p", &Overrides::default())
            .unwrap()
            .plan
    }

    /// A timeline of `fails.len()` one-second intervals of `per_sec` requests
    /// each, where interval `i` fails `fails[i]` of them.
    fn timeline(per_sec: u64, fails: &[u64]) -> (Timeline, std::sync::Arc<Registry>, TagInterner) {
        let mut registry = Registry::new();
        let failed = registry
            .register("http_req_failed", MetricKind::Rate, Unit::Count)
            .unwrap();
        let registry = std::sync::Arc::new(registry);
        let interner = TagInterner::new();
        let none = interner.intern(gauntlet_metrics::TagSet::new([]));
        let mut rec = Recorder::new(registry.clone());
        let mut tl = Timeline::default();
        for (i, &f) in fails.iter().enumerate() {
            for k in 0..per_sec {
                rec.add_rate(SeriesKey::new(failed, none), k < f);
            }
            let i = i as u64;
            let snap: Snapshot = rec.take_interval(i * 1000, (i + 1) * 1000);
            tl.push(snap);
        }
        (tl, registry, interner)
    }

    fn judged(p: &Plan, fails: &[u64]) -> crate::Verdict {
        let (tl, registry, interner) = timeline(10, fails);
        let source = TimelineSource {
            timeline: &tl,
            registry: &registry,
            interner: &interner,
            newest_only: false,
        };
        crate::evaluate(p, &source, &crate::RunFacts::default())
    }

    #[test]
    fn a_failing_last_ten_seconds_fail_a_ten_second_window_but_not_the_whole_run() {
        let mut fails = vec![0; 50];
        fails.extend([10; 10]);
        let whole = judged(&plan("  http_req_failed: [rate < 20%]\n"), &fails);
        assert_eq!(whole.thresholds[0].status, crate::ThresholdStatus::Pass);
        let windowed = judged(&plan("  http_req_failed: [rate < 20% over 10s]\n"), &fails);
        let t = &windowed.thresholds[0];
        assert_eq!(t.status, crate::ThresholdStatus::Fail);
        let w = t.window.as_ref().unwrap();
        assert_eq!(w.windows, 51);
        // Windows starting at 0..=41 s hold (at most 1 failing second of 10 would be 10 %,
        // two 20 %): windows starting at 0..=41 have at most one failing second.
        assert_eq!(w.held, 42);
        assert_eq!(w.first_failure_secs, Some(42.0));
        assert_eq!(t.observed, Some(1.0));
    }

    #[test]
    fn for_fails_only_on_a_long_enough_broken_stretch() {
        // Broken 4 s, then 5 s: `for 5s` fails on the second stretch only.
        let mut fails = vec![0; 10];
        fails.extend([10; 4]);
        fails.extend([0; 3]);
        fails.extend([10; 5]);
        fails.extend([0; 3]);
        let v = judged(&plan("  http_req_failed: [rate < 50% for 5s]\n"), &fails);
        let w = v.thresholds[0].window.as_ref().unwrap();
        assert!(w.failed);
        assert_eq!(w.first_failure_secs, Some(17.0));
        assert_eq!(w.longest_broken_secs, 5.0);
        let v = judged(&plan("  http_req_failed: [rate < 50% for 6s]\n"), &fails);
        assert_eq!(v.thresholds[0].status, crate::ThresholdStatus::Pass);
    }

    #[test]
    fn warmup_leaves_the_first_seconds_out() {
        let mut fails = vec![10; 5];
        fails.extend([0; 20]);
        let p = plan("  http_req_failed: [{threshold: rate < 1%, warmup: 5s}]\n");
        let v = judged(&p, &fails);
        assert_eq!(v.thresholds[0].status, crate::ThresholdStatus::Pass);
        assert_eq!(v.thresholds[0].observed, Some(0.0));
        let v = judged(&plan("  http_req_failed: [rate < 1%]\n"), &fails);
        assert_eq!(v.thresholds[0].status, crate::ThresholdStatus::Fail);
    }

    #[test]
    fn a_window_without_a_timeline_is_not_evaluated() {
        struct TotalOnly;
        impl MetricSource for TotalOnly {
            fn value(&self, _: &MetricSelector, _: Stat) -> Option<f64> {
                Some(0.0)
            }
        }
        let p = plan("  http_req_failed: [rate < 1% over 10s]\n");
        let v = crate::evaluate(&p, &TotalOnly, &crate::RunFacts::default());
        assert_eq!(v.thresholds[0].status, crate::ThresholdStatus::NotEvaluated);
        assert_eq!(v.decision, crate::Decision::NoGo);
    }
}
