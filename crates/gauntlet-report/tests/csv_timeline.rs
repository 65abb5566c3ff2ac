//! The CSV timeline read back with a real CSV parser: the header, one row
//! per second per metric that recorded something, and each cell against what
//! was recorded into the metrics (no live run: a recorder fed known samples).

use gauntlet_metrics::{
    MetricKind, Recorder, Registry, SeriesKey, TagInterner, TagKey, TagSet, Timeline, Unit,
};
use std::collections::HashMap;
use std::sync::Arc;

const HEADER: [&str; 13] = [
    "start_s", "end_s", "metric", "count", "rate", "avg", "min", "med", "p90", "p95", "p99", "max",
    "value",
];

type Row = HashMap<String, String>;

fn rows(csv_text: &str) -> Vec<Row> {
    let mut r = csv::Reader::from_reader(csv_text.as_bytes());
    let header: Vec<String> = r.headers().unwrap().iter().map(String::from).collect();
    assert_eq!(header, HEADER, "the documented header, in order");
    r.records()
        .map(|rec| {
            let rec = rec.unwrap();
            assert_eq!(rec.len(), HEADER.len(), "every row has every column");
            header
                .iter()
                .cloned()
                .zip(rec.iter().map(String::from))
                .collect()
        })
        .collect()
}

fn num(row: &Row, col: &str) -> f64 {
    row[col]
        .parse()
        .unwrap_or_else(|e| panic!("{col}={:?} in {row:?}: {e}", row[col]))
}

fn close(a: f64, b: f64) -> bool {
    // HdrHistogram keeps three significant digits.
    (a - b).abs() <= b.abs() * 1e-3 + 1e-9
}

#[test]
fn one_row_per_second_per_metric_with_the_recorded_values() {
    let mut reg = Registry::new();
    let reqs = reg
        .register("http_reqs", MetricKind::Counter, Unit::Count)
        .unwrap();
    let dur = reg
        .register("http_req_duration", MetricKind::Trend, Unit::Microseconds)
        .unwrap();
    let failed = reg
        .register("http_req_failed", MetricKind::Rate, Unit::None)
        .unwrap();
    let vus = reg.register("vus", MetricKind::Gauge, Unit::Count).unwrap();
    let reg = Arc::new(reg);
    let interner = TagInterner::new();
    let tags = interner.intern(TagSet::new([(TagKey::Name, Arc::<str>::from("list"))]));
    let other = interner.intern(TagSet::new([(TagKey::Name, Arc::<str>::from("create"))]));
    let key = |m, t| SeriesKey::new(m, t);
    let mut rec = Recorder::new(reg.clone());
    let mut timeline = Timeline::default();

    // Second 0: three requests of 10, 20, 30 ms on two series, none failed; VUs 5 then 7.
    for (ms, t) in [(10, tags), (20, tags), (30, other)] {
        rec.add_counter(key(reqs, t), 1.0);
        rec.record_latency(key(dur, t), ms * 1000, ms * 1000);
        rec.add_rate(key(failed, t), false);
    }
    rec.set_gauge(key(vus, tags), 5.0);
    rec.set_gauge(key(vus, tags), 7.0);
    timeline.push(rec.take_interval(0, 1000));
    // Second 1: two requests of 40 and 60 ms, one failed.
    for (ms, fail) in [(40, true), (60, false)] {
        rec.add_counter(key(reqs, tags), 1.0);
        rec.record_latency(key(dur, tags), ms * 1000, ms * 1000);
        rec.add_rate(key(failed, tags), fail);
    }
    timeline.push(rec.take_interval(1000, 2000));
    // Second 2: only the gauge moved.
    rec.set_gauge(key(vus, tags), 4.0);
    timeline.push(rec.take_interval(2000, 3000));

    let text = gauntlet_report::csv::render(&timeline, &reg, &interner);
    let rows = rows(&text);
    let at = |second: f64, metric: &str| -> Vec<&Row> {
        rows.iter()
            .filter(|r| num(r, "start_s") == second && r["metric"] == metric)
            .collect()
    };
    // One row per second per metric with data; tags merged into the metric.
    let mut keys: Vec<(String, String)> = rows
        .iter()
        .map(|r| (r["start_s"].clone(), r["metric"].clone()))
        .collect();
    let n = keys.len();
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), n, "no (second, metric) twice: {text}");
    // Second 1 has no gauge row: the gauge did not move.
    assert_eq!(n, 4 + 3 + 1, "{text}");
    for r in &rows {
        assert_eq!(num(r, "end_s") - num(r, "start_s"), 1.0, "one-second rows");
    }

    // Counter: count and per-second rate, nothing else.
    let r = at(0.0, "http_reqs")[0];
    assert_eq!((num(r, "count"), num(r, "rate")), (3.0, 3.0));
    for col in ["avg", "min", "med", "p90", "p95", "p99", "max", "value"] {
        assert_eq!(r[col], "", "{col} does not apply to a counter");
    }
    let total: f64 = rows
        .iter()
        .filter(|r| r["metric"] == "http_reqs")
        .map(|r| num(r, "count"))
        .sum();
    assert_eq!(total, 5.0, "the rows add up to what was recorded");

    // Trend: statistics in milliseconds across both series.
    let r = at(0.0, "http_req_duration")[0];
    assert_eq!(num(r, "count"), 3.0);
    assert!(close(num(r, "avg"), 20.0), "{r:?}");
    assert!(close(num(r, "min"), 10.0), "{r:?}");
    assert!(close(num(r, "med"), 20.0), "{r:?}");
    assert!(close(num(r, "max"), 30.0), "{r:?}");
    assert!(close(num(r, "p99"), 30.0), "{r:?}");
    assert_eq!((r["rate"].as_str(), r["value"].as_str()), ("", ""));
    let r = at(1.0, "http_req_duration")[0];
    assert_eq!(num(r, "count"), 2.0);
    assert!(
        close(num(r, "avg"), 50.0) && close(num(r, "max"), 60.0),
        "{r:?}"
    );

    // Rate: true samples and their share.
    let r = at(0.0, "http_req_failed")[0];
    assert_eq!((num(r, "count"), num(r, "rate")), (0.0, 0.0));
    let r = at(1.0, "http_req_failed")[0];
    assert_eq!((num(r, "count"), num(r, "rate")), (1.0, 0.5));

    // Gauge: last value, min and max within the second.
    let r = at(0.0, "vus")[0];
    assert_eq!(
        (num(r, "value"), num(r, "min"), num(r, "max")),
        (7.0, 5.0, 7.0)
    );
    assert_eq!(r["count"], "");
    let r = at(2.0, "vus")[0];
    assert_eq!(num(r, "value"), 4.0);
    assert!(
        at(2.0, "http_reqs").is_empty(),
        "no row for a silent metric"
    );
}
