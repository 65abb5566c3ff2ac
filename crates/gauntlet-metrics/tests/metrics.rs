//! Properties the numbers rest on: exact merges, corrected vs raw latency,
//! k6 query semantics, lossless serialization, bounded timelines.

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
        .register("http_req_duration", MetricKind::Trend, Unit::Microseconds)
        .unwrap();
    let reqs = r
        .register("http_reqs", MetricKind::Counter, Unit::Count)
        .unwrap();
    let failed = r
        .register("http_req_failed", MetricKind::Rate, Unit::Count)
        .unwrap();
    let vus = r.register("vus", MetricKind::Gauge, Unit::Count).unwrap();
    assert!(r.register("vus", MetricKind::Gauge, Unit::Count).is_err());
    Fixture {
        reg: Arc::new(r),
        interner: TagInterner::new(),
        dur,
        reqs,
        failed,
        vus,
    }
}

fn tags(f: &Fixture, name: &str) -> TagSetId {
    f.interner.intern(TagSet::new([
        (TagKey::Name, Arc::<str>::from(name)),
        (TagKey::Method, Arc::<str>::from("GET")),
    ]))
}

fn q(f: &Fixture, s: &Snapshot, m: MetricId, filter: &TagFilter, stat: Stat) -> Option<f64> {
    s.query(&f.reg, &f.interner, m, filter, stat, Latency::Corrected)
}

proptest! {
    #[test]
    fn merging_worker_snapshots_equals_one_recorder(values in proptest::collection::vec(1u64..50_000_000, 1..400), split in 0usize..400) {
        let f = fixture();
        let key = SeriesKey { metric: f.dur, tags: tags(&f, "a") };
        let mut one = Recorder::new(f.reg.clone());
        let (mut a, mut b, mut c) = (Recorder::new(f.reg.clone()), Recorder::new(f.reg.clone()), Recorder::new(f.reg.clone()));
        for (i, v) in values.iter().enumerate() {
            one.record_trend(key, *v);
            match (i * 7 + split) % 3 { 0 => a.record_trend(key, *v), 1 => b.record_trend(key, *v), _ => c.record_trend(key, *v) }
        }
        let whole = one.take_interval(0, 1000);
        let (sa, sb, sc) = (a.take_interval(0, 1000), b.take_interval(0, 1000), c.take_interval(0, 1000));
        // (a + b) + c == a + (b + c) == one recorder
        let mut left = sa.clone(); left.merge(&sb); left.merge(&sc);
        let mut bc = sb.clone(); bc.merge(&sc);
        let mut right = sa.clone(); right.merge(&bc);
        let none = TagFilter::default();
        for stat in [Stat::Count, Stat::Min, Stat::Max, Stat::Med, Stat::Percentile(99.0), Stat::Percentile(99.99), Stat::Avg] {
            let w = q(&f, &whole, f.dur, &none, stat);
            prop_assert_eq!(q(&f, &left, f.dur, &none, stat), w);
            prop_assert_eq!(q(&f, &right, f.dur, &none, stat), w);
        }
    }
}

#[test]
fn corrected_and_raw_latency_side_by_side() {
    // A server frozen 1 s out of every 5 s at 1,000 req/s for 20 s: 20% of requests
    // wait U(0, 1 s) from their intended start; raw (from the actual late send) sees ~1 ms.
    let f = fixture();
    let key = SeriesKey {
        metric: f.dur,
        tags: tags(&f, "a"),
    };
    let mut r = Recorder::new(f.reg.clone());
    for i in 0..20_000u64 {
        let in_cycle = i % 5_000; // ms within the 5 s cycle
        if in_cycle < 1_000 {
            let wait = (1_000 - in_cycle) * 1_000; // µs until the stall ends
            r.record_latency(key, wait + 1_000, 1_000);
        } else {
            r.record_latency(key, 1_000, 1_000);
        }
    }
    let s = r.take_interval(0, 20_000);
    let none = TagFilter::default();
    let c = |st| {
        s.query(&f.reg, &f.interner, f.dur, &none, st, Latency::Corrected)
            .unwrap()
            / 1000.0
    };
    let raw = |st| {
        s.query(&f.reg, &f.interner, f.dur, &none, st, Latency::Raw)
            .unwrap()
            / 1000.0
    };
    assert!(
        (c(Stat::Percentile(90.0)) - 501.0).abs() < 3.0,
        "{}",
        c(Stat::Percentile(90.0))
    );
    assert!(
        (c(Stat::Percentile(99.0)) - 951.0).abs() < 3.0,
        "{}",
        c(Stat::Percentile(99.0))
    );
    assert!((c(Stat::Med) - 1.0).abs() < 0.01);
    assert!((raw(Stat::Percentile(99.0)) - 1.0).abs() < 0.01);
}

#[test]
fn closed_model_keeps_one_histogram() {
    let f = fixture();
    let key = SeriesKey {
        metric: f.dur,
        tags: tags(&f, "a"),
    };
    let mut r = Recorder::new(f.reg.clone());
    r.record_latency(key, 500, 500);
    r.record_trend(key, 700);
    let s = r.take_interval(0, 1000);
    match s.series.values().next().unwrap() {
        SeriesData::Trend(t) => assert!(t.raw.is_none()),
        other => panic!("{other:?}"),
    }
}

#[test]
fn k6_query_semantics_and_sub_metrics() {
    let f = fixture();
    let (a, b) = (tags(&f, "a"), tags(&f, "b"));
    let mut r = Recorder::new(f.reg.clone());
    for _ in 0..30 {
        r.add_counter(
            SeriesKey {
                metric: f.reqs,
                tags: a,
            },
            1.0,
        );
        r.add_rate(
            SeriesKey {
                metric: f.failed,
                tags: a,
            },
            false,
        );
    }
    for _ in 0..10 {
        r.add_counter(
            SeriesKey {
                metric: f.reqs,
                tags: b,
            },
            1.0,
        );
        r.add_rate(
            SeriesKey {
                metric: f.failed,
                tags: b,
            },
            true,
        );
    }
    r.set_gauge(
        SeriesKey {
            metric: f.vus,
            tags: a,
        },
        5.0,
    );
    r.set_gauge(
        SeriesKey {
            metric: f.vus,
            tags: a,
        },
        3.0,
    );
    let s = r.take_interval(0, 10_000);
    let none = TagFilter::default();
    let only_b = TagFilter(vec![(TagKey::Name, "b".into())]);
    assert_eq!(q(&f, &s, f.reqs, &none, Stat::Count), Some(40.0));
    assert_eq!(q(&f, &s, f.reqs, &none, Stat::Rate), Some(4.0));
    assert_eq!(q(&f, &s, f.reqs, &only_b, Stat::Count), Some(10.0));
    assert_eq!(q(&f, &s, f.failed, &none, Stat::Rate), Some(0.25));
    assert_eq!(q(&f, &s, f.failed, &only_b, Stat::Rate), Some(1.0));
    assert_eq!(q(&f, &s, f.vus, &none, Stat::Value), Some(3.0));
    assert_eq!(q(&f, &s, f.vus, &none, Stat::GaugeMax), Some(5.0));
    assert_eq!(
        q(&f, &s, f.dur, &none, Stat::Avg),
        None,
        "no samples, no value"
    );
    assert_eq!(
        q(
            &f,
            &s,
            f.reqs,
            &TagFilter(vec![(TagKey::Name, "zzz".into())]),
            Stat::Count
        ),
        None
    );
}

#[test]
fn serialization_is_lossless() {
    let f = fixture();
    let key = SeriesKey {
        metric: f.dur,
        tags: tags(&f, "a"),
    };
    let mut r = Recorder::new(f.reg.clone());
    for v in 1..5000u64 {
        r.record_latency(key, v * 37, v * 11);
    }
    r.add_counter(
        SeriesKey {
            metric: f.reqs,
            tags: tags(&f, "a"),
        },
        4999.0,
    );
    let s = r.take_interval(0, 1000);
    let json = serde_json::to_string(&s.to_serial(&f.reg, &f.interner)).unwrap();
    let back: SerialSnapshot = serde_json::from_str(&json).unwrap();
    let mut reg2 = Registry::new();
    let int2 = TagInterner::new();
    let s2 = back.into_snapshot(&mut reg2, &int2).unwrap();
    let m2 = reg2.get("http_req_duration").unwrap();
    let none = TagFilter::default();
    for stat in [
        Stat::Count,
        Stat::Min,
        Stat::Max,
        Stat::Percentile(50.0),
        Stat::Percentile(99.9),
    ] {
        for lat in [Latency::Corrected, Latency::Raw] {
            assert_eq!(
                s.query(&f.reg, &f.interner, f.dur, &none, stat, lat),
                s2.query(&reg2, &int2, m2, &none, stat, lat),
                "{stat:?} {lat:?}"
            );
        }
    }
}

#[test]
fn timeline_is_bounded_and_totals_stay_exact() {
    let f = fixture();
    let key = SeriesKey {
        metric: f.reqs,
        tags: tags(&f, "a"),
    };
    let mut r = Recorder::new(f.reg.clone());
    let mut t = Timeline::new(100);
    for sec in 0..1000u64 {
        r.add_counter(key, 2.0);
        t.push(r.take_interval(sec * 1000, (sec + 1) * 1000));
    }
    assert!(t.intervals().len() <= 100, "{}", t.intervals().len());
    assert_eq!(
        q(&f, t.total(), f.reqs, &TagFilter::default(), Stat::Count),
        Some(2000.0)
    );
    let sum: f64 = t
        .intervals()
        .iter()
        .filter_map(|s| q(&f, s, f.reqs, &TagFilter::default(), Stat::Count))
        .sum();
    assert_eq!(sum, 2000.0);
    assert_eq!(t.intervals().first().unwrap().start_ms, 0);
    assert_eq!(t.intervals().last().unwrap().end_ms, 1_000_000);
}
