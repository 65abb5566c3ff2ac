//! Properties the numbers rest on: exact and associative merges, corrected
//! vs raw latency, k6 query semantics, lossless serialization, bounded
//! timelines.

use gauntlet_metrics::*;
use proptest::prelude::*;
use std::sync::Arc;

struct Fixture {
    reg: Arc<Registry>,
    interner: TagInterner,
    dur: MetricId,
    reqs: MetricId,
    failed: MetricId,
    vus: MetricId,
}

fn fixture() -> Fixture {
    let mut r = Registry::new();
    let dur = r
        .register("req_duration", MetricKind::Trend, Unit::Microseconds)
        .unwrap();
    let reqs = r
        .register("reqs", MetricKind::Counter, Unit::Count)
        .unwrap();
    let failed = r
        .register("req_failed", MetricKind::Rate, Unit::None)
        .unwrap();
    let vus = r.register("vus", MetricKind::Gauge, Unit::Count).unwrap();
    Fixture {
        reg: Arc::new(r),
        interner: TagInterner::new(),
        dur,
        reqs,
        failed,
        vus,
    }
}

impl Fixture {
    fn tags(&self, name: &str, status: &str) -> TagSetId {
        self.interner.intern(TagSet::new([
            (TagKey::Name, Arc::<str>::from(name)),
            (TagKey::Status, Arc::<str>::from(status)),
        ]))
    }

    fn q(&self, s: &Snapshot, m: MetricId, filter: &TagFilter, stat: Stat) -> Option<f64> {
        s.query(
            &self.reg,
            &self.interner,
            m,
            filter,
            stat,
            Latency::Corrected,
        )
    }

    fn recorder(&self) -> Recorder {
        Recorder::new(self.reg.clone())
    }
}

fn p(v: f64) -> Stat {
    Stat::percentile(v).unwrap()
}

/// Every statistic of every metric, both latencies, for whole-snapshot comparisons.
fn all_stats(f: &Fixture, s: &Snapshot) -> Vec<Option<f64>> {
    let filters = [
        TagFilter::new(),
        TagFilter::new().with(TagKey::Name, "a"),
        TagFilter::new().with(TagKey::Status, "500"),
    ];
    let stats = [
        Stat::Count,
        Stat::Sum,
        Stat::Rate,
        Stat::Fails,
        Stat::Value,
        Stat::Avg,
        Stat::Min,
        Stat::Med,
        Stat::Max,
        p(90.0),
        p(99.0),
        p(99.99),
    ];
    let mut out = Vec::new();
    for m in [f.dur, f.reqs, f.failed, f.vus] {
        for filter in &filters {
            for stat in stats {
                for which in [Latency::Corrected, Latency::Raw] {
                    out.push(s.query(&f.reg, &f.interner, m, filter, stat, which));
                }
            }
        }
    }
    out
}

/// A snapshot's content in comparable form: every series with its exact
/// bucket counts (raw normalised to "same as corrected" when absent).
fn canon(s: &Snapshot) -> Vec<(SeriesKey, String)> {
    let buckets = |h: &Histogram| -> Vec<(u64, u64)> {
        h.iter_recorded()
            .map(|v| (v.value_iterated_to(), v.count_at_value()))
            .collect()
    };
    s.series
        .iter()
        .map(|(k, v)| {
            let text = match v {
                SeriesData::Trend(t) => format!(
                    "trend {:?} raw {:?} clamped {} min {} max {}",
                    buckets(&t.corrected),
                    buckets(t.raw_or_corrected()),
                    t.clamped,
                    t.corrected.min(),
                    t.corrected.max()
                ),
                other => format!("{other:?}"),
            };
            (*k, text)
        })
        .collect()
}

/// A few queries, to exercise the query path on merged data.
fn some_stats(f: &Fixture, s: &Snapshot) -> Vec<Option<f64>> {
    let mut out = Vec::new();
    for filter in [TagFilter::new(), TagFilter::new().with(TagKey::Name, "a")] {
        for which in [Latency::Corrected, Latency::Raw] {
            for stat in [Stat::Count, Stat::Avg, Stat::Max, p(99.0)] {
                out.push(s.query(&f.reg, &f.interner, f.dur, &filter, stat, which));
            }
        }
        for (m, stat) in [
            (f.reqs, Stat::Count),
            (f.failed, Stat::Rate),
            (f.vus, Stat::Value),
        ] {
            out.push(f.q(s, m, &filter, stat));
        }
    }
    out
}

/// One recorded operation.
#[derive(Debug, Clone)]
enum Op {
    Latency(u8, u64, u64),
    Count(u8, u32),
    Rate(u8, bool),
    Gauge(u8, i32),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0u8..4, 0u64..5_000_000_000, 0u64..2_000_000).prop_map(|(t, c, r)| Op::Latency(t, c, r.min(c))),
        2 => (0u8..4, 0u64..2_000_000).prop_map(|(t, v)| Op::Latency(t, v, v)),
        1 => (0u8..4, 0u32..1000).prop_map(|(t, n)| Op::Count(t, n)),
        1 => (0u8..4, any::<bool>()).prop_map(|(t, b)| Op::Rate(t, b)),
    ]
}

fn apply(f: &Fixture, r: &mut Recorder, op: &Op) {
    let tags = |t: u8| {
        f.tags(
            ["a", "b"][usize::from(t % 2)],
            ["200", "500"][usize::from(t / 2)],
        )
    };
    match *op {
        Op::Latency(t, c, raw) => r.record_latency(SeriesKey::new(f.dur, tags(t)), c, raw),
        Op::Count(t, n) => r.add_counter(SeriesKey::new(f.reqs, tags(t)), f64::from(n)),
        Op::Rate(t, b) => r.add_rate(SeriesKey::new(f.failed, tags(t)), b),
        Op::Gauge(t, v) => r.set_gauge(SeriesKey::new(f.vus, tags(t)), f64::from(v)),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Three workers' snapshots of one interval, merged in any grouping,
    /// answer every query exactly like one recorder that saw every sample.
    #[test]
    fn merging_workers_equals_one_recorder_and_is_associative(
        ops in proptest::collection::vec(op(), 1..300),
        seed in 0usize..3,
    ) {
        let f = fixture();
        let mut one = f.recorder();
        let mut w = [f.recorder(), f.recorder(), f.recorder()];
        for (i, o) in ops.iter().enumerate() {
            apply(&f, &mut one, o);
            apply(&f, &mut w[(i * 7 + seed) % 3], o);
        }
        let whole = one.take_interval(0, 1000);
        let [a, b, c] = w.map(|mut r| r.take_interval(0, 1000));
        let mut left = a.clone();
        left.merge(&b);
        left.merge(&c);
        let mut bc = b.clone();
        bc.merge(&c);
        let mut right = a.clone();
        right.merge(&bc);
        let mut reversed = c.clone();
        reversed.merge(&b);
        reversed.merge(&a);
        // Taking the snapshots (what the collector does) merges the same.
        let mut owned = Snapshot::new(0, 1000);
        owned.merge_owned(a.clone());
        owned.merge_owned(b.clone());
        owned.merge_owned(c.clone());
        let expected = canon(&whole);
        prop_assert_eq!(&canon(&left), &expected);
        prop_assert_eq!(&canon(&right), &expected);
        prop_assert_eq!(&canon(&reversed), &expected);
        prop_assert_eq!(&canon(&owned), &expected);
        prop_assert_eq!(some_stats(&f, &left), some_stats(&f, &whole));
    }

    /// Consecutive intervals (with gauges) merge associatively, and the
    /// merge of all intervals equals one long interval.
    #[test]
    fn merging_intervals_is_associative_and_exact(
        ops in proptest::collection::vec(prop_oneof![op(), (0u8..4, -50i32..50).prop_map(|(t, v)| Op::Gauge(t, v))], 1..300),
        cuts in proptest::collection::vec(0usize..300, 2),
    ) {
        let f = fixture();
        let mut one = f.recorder();
        let mut r = f.recorder();
        let (c1, c2) = (cuts[0].min(cuts[1]).min(ops.len()), cuts[0].max(cuts[1]).min(ops.len()));
        let mut parts = Vec::new();
        for (i, o) in ops.iter().enumerate() {
            if i == c1 || i == c2 {
                parts.push(r.take_interval(parts.len() as u64 * 1000, (parts.len() as u64 + 1) * 1000));
            }
            apply(&f, &mut one, o);
            apply(&f, &mut r, o);
        }
        while parts.len() < 3 {
            parts.push(r.take_interval(parts.len() as u64 * 1000, (parts.len() as u64 + 1) * 1000));
        }
        let whole = one.take_interval(0, 3000);
        let mut left = parts[0].clone();
        left.merge(&parts[1]);
        left.merge(&parts[2]);
        let mut bc = parts[1].clone();
        bc.merge(&parts[2]);
        let mut right = parts[0].clone();
        right.merge(&bc);
        let mut owned = parts[0].clone();
        owned.merge_owned(parts[1].clone());
        owned.merge_owned(parts[2].clone());
        let expected = canon(&whole);
        prop_assert_eq!(&canon(&left), &expected);
        prop_assert_eq!(&canon(&right), &expected);
        prop_assert_eq!(&canon(&owned), &expected);
        prop_assert_eq!((owned.start_ms, owned.end_ms), (0, 3000));
        prop_assert_eq!(some_stats(&f, &right), some_stats(&f, &whole));
        prop_assert_eq!((left.start_ms, left.end_ms), (0, 3000));
    }
}

#[test]
fn corrected_and_raw_latency_under_a_stall() {
    // 100,000 requests: 80% answered in 1 ms; 20% hit a stall, so measured
    // from their intended start they took 1 ms plus a wait spread uniformly
    // over 0..1000 ms, while measured from the (late) actual send they still
    // took 1 ms.
    let f = fixture();
    let key = SeriesKey::new(f.dur, f.tags("a", "200"));
    let mut r = f.recorder();
    let mut corrected = Vec::new();
    let stalled = 20_000u64;
    for i in 0..100_000u64 {
        let c = if i % 5 == 0 {
            let k = i / 5; // 0..stalled
            1_000 + k * 1_000_000 / stalled
        } else {
            1_000
        };
        r.record_latency(key, c, 1_000);
        corrected.push(c);
    }
    corrected.sort_unstable();
    let s = r.take_interval(0, 100_000);
    let none = TagFilter::new();
    let exact = |q: f64| corrected[((q * corrected.len() as f64).ceil() as usize).max(1) - 1];
    for (stat, q, about_ms) in [(p(90.0), 0.9, 501.0), (p(99.0), 0.99, 951.0)] {
        let got = s
            .query(&f.reg, &f.interner, f.dur, &none, stat, Latency::Corrected)
            .unwrap() as u64;
        let want = exact(q);
        // HDR with 3 significant digits reports the bucket's highest value:
        // never below the exact sample, at most 1/1024 above it.
        assert!(
            want <= got && got <= want + want / 1024,
            "{stat:?}: {got} vs {want}"
        );
        assert!((got as f64 / 1000.0 - about_ms).abs() < 1.0, "{got}");
    }
    let raw = |stat| {
        s.query(&f.reg, &f.interner, f.dur, &none, stat, Latency::Raw)
            .unwrap()
    };
    assert_eq!(raw(p(99.0)), 1000.0);
    assert_eq!(raw(Stat::Max), 1000.0);
    assert_eq!(raw(Stat::Count), 100_000.0);
    assert_eq!(f.q(&s, f.dur, &none, Stat::Med), Some(1000.0));
}

#[test]
fn closed_model_keeps_one_histogram_and_raw_reads_it() {
    let f = fixture();
    let key = SeriesKey::new(f.dur, f.tags("a", "200"));
    let mut r = f.recorder();
    r.record_latency(key, 500, 500);
    r.record_trend(key, 700);
    let s = r.take_interval(0, 1000);
    let SeriesData::Trend(t) = &s.series[&key] else {
        panic!("not a trend")
    };
    assert!(t.raw.is_none());
    let none = TagFilter::new();
    for stat in [Stat::Count, Stat::Max, p(50.0)] {
        assert_eq!(
            s.query(&f.reg, &f.interner, f.dur, &none, stat, Latency::Raw),
            f.q(&s, f.dur, &none, stat)
        );
    }
    // Merging an open-model interval in starts raw as a copy of corrected.
    let mut r2 = f.recorder();
    r2.record_latency(key, 9_000, 100);
    let mut merged = s.clone();
    merged.merge(&r2.take_interval(1000, 2000));
    let raw_max = merged.query(&f.reg, &f.interner, f.dur, &none, Stat::Max, Latency::Raw);
    assert_eq!(raw_max, Some(700.0));
    assert_eq!(f.q(&merged, f.dur, &none, Stat::Max), Some(9007.0)); // bucket [9000, 9007]
}

#[test]
fn k6_query_semantics_per_kind_and_sub_metrics() {
    let f = fixture();
    let (a, b) = (f.tags("a", "200"), f.tags("b", "500"));
    let mut r = f.recorder();
    for _ in 0..30 {
        r.add_counter(SeriesKey::new(f.reqs, a), 1.0);
        r.add_rate(SeriesKey::new(f.failed, a), false);
    }
    for _ in 0..10 {
        r.add_counter(SeriesKey::new(f.reqs, b), 1.0);
        r.add_rate(SeriesKey::new(f.failed, b), true);
    }
    for v in [1_000, 2_000, 3_000, 4_000] {
        r.record_trend(SeriesKey::new(f.dur, a), v);
    }
    r.record_trend(SeriesKey::new(f.dur, b), 100_000);
    for v in [5.0, 9.0, 3.0] {
        r.set_gauge(SeriesKey::new(f.vus, a), v);
    }
    let s = r.take_interval(0, 10_000);
    let all = TagFilter::new();
    let only_b = TagFilter::new().with(TagKey::Name, "b");
    let a_200 = TagFilter::new()
        .with(TagKey::Name, "a")
        .with(TagKey::Status, "200");
    let a_500 = TagFilter::new()
        .with(TagKey::Name, "a")
        .with(TagKey::Status, "500");
    let q = |m, filter: &TagFilter, stat| f.q(&s, m, filter, stat);
    // Counter: count = sum, rate = per second of the 10 s window.
    assert_eq!(q(f.reqs, &all, Stat::Count), Some(40.0));
    assert_eq!(q(f.reqs, &all, Stat::Sum), Some(40.0));
    assert_eq!(q(f.reqs, &all, Stat::Rate), Some(4.0));
    assert_eq!(q(f.reqs, &only_b, Stat::Count), Some(10.0));
    assert_eq!(q(f.reqs, &all, Stat::Avg), None);
    // Rate: share of true samples; count = trues.
    assert_eq!(q(f.failed, &all, Stat::Rate), Some(0.25));
    assert_eq!(q(f.failed, &all, Stat::Count), Some(10.0));
    assert_eq!(q(f.failed, &all, Stat::Fails), Some(30.0));
    assert_eq!(q(f.failed, &only_b, Stat::Rate), Some(1.0));
    assert_eq!(q(f.failed, &a_200, Stat::Rate), Some(0.0));
    // Gauge: last value, min, max.
    assert_eq!(q(f.vus, &all, Stat::Value), Some(3.0));
    assert_eq!(q(f.vus, &all, Stat::Min), Some(3.0));
    assert_eq!(q(f.vus, &all, Stat::Max), Some(9.0));
    assert_eq!(q(f.vus, &all, Stat::Count), None);
    // Trend: sample statistics, per sub-metric.
    assert_eq!(q(f.dur, &all, Stat::Count), Some(5.0));
    assert_eq!(q(f.dur, &a_200, Stat::Count), Some(4.0));
    assert_eq!(q(f.dur, &a_200, Stat::Avg), Some(2_500.5)); // bucket midpoints
    assert_eq!(q(f.dur, &a_200, Stat::Min), Some(1_000.0));
    assert_eq!(q(f.dur, &a_200, Stat::Max), Some(4_001.0)); // bucket [4000, 4001]
    assert_eq!(q(f.dur, &a_200, Stat::Med), Some(2_000.0)); // exact below 2048
    assert_eq!(q(f.dur, &a_200, p(100.0)), Some(4_001.0));
    assert_eq!(q(f.dur, &a_200, p(0.0)), Some(1_000.0));
    assert_eq!(q(f.dur, &only_b, p(99.99)), Some(100_031.0));
    assert_eq!(q(f.dur, &all, Stat::Rate), None);
    // Nothing matches: no value (not zero).
    assert_eq!(q(f.dur, &a_500, Stat::Count), None);
    assert_eq!(
        q(
            f.reqs,
            &TagFilter::new().with(TagKey::Method, "GET"),
            Stat::Count
        ),
        None
    );
    // An id from another registry, and a rate over an empty window.
    assert_eq!(q(MetricId(77), &all, Stat::Count), None);
    let mut zero = s.clone();
    zero.end_ms = zero.start_ms;
    assert_eq!(f.q(&zero, f.reqs, &all, Stat::Rate), None);
    assert_eq!(f.q(&zero, f.reqs, &all, Stat::Count), Some(40.0));
}

#[test]
fn gauges_take_the_later_window() {
    let f = fixture();
    let key = SeriesKey::new(f.vus, f.tags("a", "200"));
    let mut r = f.recorder();
    r.set_gauge(key, 10.0);
    let first = r.take_interval(0, 1000);
    r.set_gauge(key, 4.0);
    let second = r.take_interval(1000, 2000);
    let none = TagFilter::new();
    for (x, y) in [(&first, &second), (&second, &first)] {
        let mut m = x.clone();
        m.merge(y);
        assert_eq!(f.q(&m, f.vus, &none, Stat::Value), Some(4.0));
        assert_eq!(f.q(&m, f.vus, &none, Stat::Max), Some(10.0));
        assert_eq!((m.start_ms, m.end_ms), (0, 2000));
    }
    // Not set in an interval: not reported for it.
    assert!(r.take_interval(2000, 3000).is_empty());
}

/// A snapshot with every kind, an open-model trend and a clamped value.
fn rich_snapshot(f: &Fixture, scale: u64) -> Snapshot {
    let mut r = f.recorder();
    let (a, b) = (f.tags("a", "200"), f.tags("b", "500"));
    for v in 1..3000u64 {
        r.record_latency(SeriesKey::new(f.dur, a), v * 37 * scale, v * 11);
        r.record_trend(SeriesKey::new(f.dur, b), v * v);
    }
    r.record_trend(SeriesKey::new(f.dur, b), u64::MAX);
    r.add_counter(SeriesKey::new(f.reqs, a), 2999.0);
    r.add_rate(SeriesKey::new(f.failed, b), true);
    r.add_rate(SeriesKey::new(f.failed, b), false);
    r.set_gauge(SeriesKey::new(f.vus, a), 7.0);
    r.take_interval(0, 1000)
}

#[test]
fn serialization_round_trip_is_lossless() {
    let f = fixture();
    let s = rich_snapshot(&f, 1);
    let json = serde_json::to_string(&s.to_serial(&f.reg, &f.interner)).unwrap();
    let back: SerialSnapshot = serde_json::from_str(&json).unwrap();
    // Load into a registry that already has other metrics: ids differ.
    let mut reg2 = Registry::new();
    reg2.register("other", MetricKind::Counter, Unit::Count)
        .unwrap();
    let int2 = TagInterner::new();
    int2.intern(TagSet::default());
    let s2 = back.into_snapshot(&mut reg2, &int2).unwrap();
    let f2 = Fixture {
        dur: reg2.get("req_duration").unwrap(),
        reqs: reg2.get("reqs").unwrap(),
        failed: reg2.get("req_failed").unwrap(),
        vus: reg2.get("vus").unwrap(),
        reg: Arc::new(reg2),
        interner: int2,
    };
    assert_ne!(f2.dur, f.dur);
    assert_eq!(all_stats(&f, &s), all_stats(&f2, &s2));
    assert_eq!(s2.series.len(), s.series.len());
    let clamped: u64 = s2
        .series
        .values()
        .map(|v| match v {
            SeriesData::Trend(t) => t.clamped,
            _ => 0,
        })
        .sum();
    assert_eq!(clamped, 1);
    // The JSON names things; no ids leak.
    assert!(json.contains("\"metric\":\"req_duration\""));
    assert!(json.contains("\"status\":\"500\""));
    assert!(json.contains("\"raw\":null"));
}

#[test]
fn results_from_two_machines_merge_exactly() {
    let f = fixture();
    let (m1, m2) = (rich_snapshot(&f, 1), rich_snapshot(&f, 3));
    let mut expected = m1.clone();
    expected.merge(&m2);
    let files: Vec<String> = [&m1, &m2]
        .iter()
        .map(|s| serde_json::to_string(&s.to_serial(&f.reg, &f.interner)).unwrap())
        .collect();
    let mut reg = Registry::new();
    let int = TagInterner::new();
    let mut merged = Snapshot::default();
    for file in files.iter().rev() {
        let s: SerialSnapshot = serde_json::from_str(file).unwrap();
        merged.merge(&s.into_snapshot(&mut reg, &int).unwrap());
    }
    let f2 = Fixture {
        dur: reg.get("req_duration").unwrap(),
        reqs: reg.get("reqs").unwrap(),
        failed: reg.get("req_failed").unwrap(),
        vus: reg.get("vus").unwrap(),
        reg: Arc::new(reg),
        interner: int,
    };
    assert_eq!(all_stats(&f, &expected), all_stats(&f2, &merged));
}

#[test]
fn loading_rejects_inconsistent_files() {
    let f = fixture();
    let s = rich_snapshot(&f, 1).to_serial(&f.reg, &f.interner);
    let mut bad = s.clone();
    for series in &mut bad.series {
        if let SerialValues::Trend { count, .. } = &mut series.values {
            *count += 1;
        }
    }
    assert!(matches!(
        bad.into_snapshot(&mut Registry::new(), &TagInterner::new()),
        Err(SerialError::CountMismatch { .. })
    ));
    let mut reg = Registry::new();
    reg.register("reqs", MetricKind::Trend, Unit::Count)
        .unwrap();
    assert!(matches!(
        s.into_snapshot(&mut reg, &TagInterner::new()),
        Err(SerialError::KindMismatch { .. })
    ));
    let mut bad = s.clone();
    bad.series[0].metric = "no spaces allowed".into();
    assert!(matches!(
        bad.into_snapshot(&mut Registry::new(), &TagInterner::new()),
        Err(SerialError::Registry(RegistryError::InvalidName(_)))
    ));
}

#[test]
fn timeline_is_bounded_contiguous_and_exact() {
    let f = fixture();
    let key = |name| SeriesKey::new(f.reqs, f.tags(name, "200"));
    let dur = SeriesKey::new(f.dur, f.tags("a", "200"));
    let vus = SeriesKey::new(f.vus, f.tags("a", "200"));
    let mut r = f.recorder();
    let mut one = f.recorder();
    let mut t = Timeline::new(100);
    for sec in 0..1000u64 {
        for rec in [&mut r, &mut one] {
            rec.add_counter(key("a"), 2.0);
            if sec % 3 == 0 {
                rec.add_counter(key("b"), 1.0);
            }
            rec.record_latency(dur, 1_000 + sec * 977 % 50_000, 1_000);
            rec.set_gauge(vus, sec as f64);
        }
        t.push(r.take_interval(sec * 1000, (sec + 1) * 1000));
        assert!(t.len() <= 100, "{} intervals after {sec} s", t.len());
    }
    let ivs: Vec<Snapshot> = t.intervals().iter().map(|c| c.into_owned()).collect();
    assert_eq!(ivs.len(), t.len());
    assert_eq!(ivs[0].start_ms, 0);
    assert_eq!(ivs.last().unwrap().end_ms, 1_000_000);
    for w in ivs.windows(2) {
        assert_eq!(w[0].end_ms, w[1].start_ms);
    }
    // Closed intervals cover a power-of-two number of seconds, at most one span.
    for s in &ivs[..ivs.len() - 1] {
        let secs = (s.end_ms - s.start_ms) / 1000;
        assert!(secs.is_power_of_two() && secs <= t.span(), "{secs}");
    }
    // The intervals add up to the total, which equals one recorder.
    let mut sum = Snapshot::default();
    for s in &ivs {
        sum.merge(s);
    }
    let whole = one.take_interval(0, 1_000_000);
    assert_eq!(all_stats(&f, t.total()), all_stats(&f, &whole));
    assert_eq!(all_stats(&f, &sum), all_stats(&f, &whole));
    assert_eq!(
        f.q(t.total(), f.vus, &TagFilter::new(), Stat::Value),
        Some(999.0)
    );
    // The newest interval is lent without a copy and is the last one.
    let last = t.intervals().last().unwrap();
    assert_eq!(last.end_ms, 1_000_000);
    assert_eq!(Some(last), t.intervals().iter().next_back().as_deref());
}

#[test]
fn timeline_round_trips_through_json() {
    let f = fixture();
    let mut r = f.recorder();
    let mut t = Timeline::new(8);
    let key = SeriesKey::new(f.dur, f.tags("a", "200"));
    for sec in 0..20u64 {
        r.record_latency(key, 1000 + sec * 10_000, 1000);
        t.push(r.take_interval(sec * 1000, (sec + 1) * 1000));
    }
    let json = serde_json::to_string(&t.to_serial(&f.reg, &f.interner)).unwrap();
    let back: SerialTimeline = serde_json::from_str(&json).unwrap();
    assert_eq!(back.intervals.len(), t.len());
    let mut reg = Registry::new();
    let int = TagInterner::new();
    let t2 = back.into_timeline(&mut reg, &int).unwrap();
    assert_eq!(t2.len(), t.len());
    let m = reg.get("req_duration").unwrap();
    let none = TagFilter::new();
    for stat in [Stat::Count, Stat::Max, p(50.0), p(99.9)] {
        for which in [Latency::Corrected, Latency::Raw] {
            assert_eq!(
                t2.total().query(&reg, &int, m, &none, stat, which),
                t.total()
                    .query(&f.reg, &f.interner, f.dur, &none, stat, which)
            );
        }
    }
}

#[test]
fn timeline_memory_stops_growing() {
    // 50 series, each with 40 samples a second spread over 1..100 ms.
    let f = fixture();
    let keys: Vec<SeriesKey> = (0..50)
        .map(|i| SeriesKey::new(f.dur, f.tags(&format!("op{i}"), "200")))
        .collect();
    let mut r = f.recorder();
    let mut t = Timeline::new(16);
    let mut at = Vec::new();
    for sec in 0..128u64 {
        for (i, k) in keys.iter().enumerate() {
            for j in 0..40u64 {
                r.record_trend(
                    *k,
                    1_000 + (sec * 7919 + i as u64 * 104_729 + j * 997) % 99_000,
                );
            }
        }
        t.push(r.take_interval(sec * 1000, (sec + 1) * 1000));
        if sec == 63 || sec == 127 {
            at.push(t.heap_bytes());
        }
    }
    // Dense, 16 intervals × 50 series would take 16 × 50 × 64 KiB = 50 MiB.
    // Packed, an interval of 8 s holds 320 samples per series: at most
    // 3 bytes each plus about 128 bytes per series; the newest interval and
    // the total stay dense (2 × 50 × 64 KiB).
    let bound = 16 * 50 * (320 * 3 + 128) + 2 * 50 * (64 << 10);
    eprintln!("timeline heap: {at:?} bytes (bound {bound})");
    assert!(at[1] < bound, "{at:?}");
    // Doubling the run length does not double memory.
    assert!(at[1] < at[0] * 3 / 2, "{at:?}");
}
