//! The cost of recording one HTTP request's metrics into a [`Recorder`], the
//! way `HttpVu::send` (crates/gauntlet-engine/src/vu.rs) does it: one lock of
//! the worker's recorder, then `http_reqs`, the two corrected/raw latencies,
//! `http_req_failed`, the seven timing trends and the two byte counters, all
//! under the request's interned tag set.
//!
//! Latencies come from a fixed, seeded table with a realistic spread (mostly
//! 100 µs – 5 ms, a tail to ~2 s, an occasional new connection), so the
//! histograms are exercised over many buckets rather than one hot cell.
//!
//! `cargo bench -p gauntlet-metrics --bench record` (docs/performance.md).

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use gauntlet_metrics::{
    MetricId, MetricKind, Recorder, Registry, SeriesKey, TagInterner, TagKey, TagSet, TagSetId,
    Unit,
};
use std::hint::black_box;
use std::sync::{Arc, Mutex};

/// The metric ids `send` records into (the engine's `collect::Ids`).
struct Ids {
    http_reqs: MetricId,
    http_req_duration: MetricId,
    http_req_total: MetricId,
    http_req_failed: MetricId,
    http_req_blocked: MetricId,
    http_req_dns: MetricId,
    http_req_connecting: MetricId,
    http_req_tls_handshaking: MetricId,
    http_req_sending: MetricId,
    http_req_waiting: MetricId,
    http_req_receiving: MetricId,
    data_sent: MetricId,
    data_received: MetricId,
}

const TREND: MetricKind = MetricKind::Trend;
const US: Unit = Unit::Microseconds;

fn registry() -> (Arc<Registry>, Ids) {
    let mut r = Registry::new();
    // A few metrics registered before the HTTP ones, as in the engine's built-in list.
    for (n, k, u) in [
        ("checks", MetricKind::Rate, Unit::None),
        ("iterations", MetricKind::Counter, Unit::Count),
        ("iteration_duration", MetricKind::Trend, Unit::Microseconds),
        ("vus", MetricKind::Gauge, Unit::Count),
    ] {
        r.register(n, k, u).unwrap();
    }
    let mut reg = |n: &str, k: MetricKind, u: Unit| r.register(n, k, u).unwrap();
    let ids = Ids {
        http_reqs: reg("http_reqs", MetricKind::Counter, Unit::Count),
        http_req_duration: reg("http_req_duration", TREND, US),
        http_req_total: reg("http_req_total", TREND, US),
        http_req_failed: reg("http_req_failed", MetricKind::Rate, Unit::None),
        http_req_blocked: reg("http_req_blocked", TREND, US),
        http_req_dns: reg("http_req_dns", TREND, US),
        http_req_connecting: reg("http_req_connecting", TREND, US),
        http_req_tls_handshaking: reg("http_req_tls_handshaking", TREND, US),
        http_req_sending: reg("http_req_sending", TREND, US),
        http_req_waiting: reg("http_req_waiting", TREND, US),
        http_req_receiving: reg("http_req_receiving", TREND, US),
        data_sent: reg("data_sent", MetricKind::Counter, Unit::Bytes),
        data_received: reg("data_received", MetricKind::Counter, Unit::Bytes),
    };
    (Arc::new(r), ids)
}

/// The tag set the engine builds for a GET with a tag (scenario, group, name,
/// method, status, expected_response, proto, the request's own tag).
fn request_tags(interner: &TagInterner) -> TagSetId {
    let s = |v: &str| Arc::<str>::from(v);
    interner.intern(TagSet::new([
        (TagKey::Scenario, s("default")),
        (TagKey::Group, s("get")),
        (TagKey::Name, s("get")),
        (TagKey::Method, s("GET")),
        (TagKey::Status, s("200")),
        (TagKey::ExpectedResponse, s("true")),
        (TagKey::Proto, s("HTTP/1.1")),
        (TagKey::parse("bench"), s("get")),
    ]))
}

/// One request's timings in µs, as `send` converts them.
#[derive(Clone, Copy)]
struct Sample {
    lag: u64,
    blocked: u64,
    dns: u64,
    connecting: u64,
    tls: u64,
    sending: u64,
    waiting: u64,
    receiving: u64,
    bytes_sent: u64,
    bytes_received: u64,
    expected: bool,
}

impl Sample {
    fn duration(&self) -> u64 {
        self.sending + self.waiting + self.receiving
    }
    fn total(&self) -> u64 {
        self.blocked + self.dns + self.connecting + self.tls + self.duration()
    }
}

/// xorshift64*: a fixed, dependency-free sequence.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    /// Log-uniform between `lo` and `hi`.
    fn log_between(&mut self, lo: f64, hi: f64) -> u64 {
        (lo * (hi / lo).powf(self.unit())) as u64
    }
}

/// 4096 requests: waiting mostly 100 µs – 5 ms, 1 % up to 2 s; 1 in 256 on a
/// new connection; 1 % unexpected status. `open` adds a schedule lag (0 –
/// 2 ms, sometimes 50 ms) so the raw histogram is kept apart.
fn samples(open: bool) -> Vec<Sample> {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    (0..4096)
        .map(|_| {
            let fresh = rng.next().is_multiple_of(256);
            let waiting = if rng.next().is_multiple_of(100) {
                rng.log_between(5_000.0, 2_000_000.0)
            } else {
                rng.log_between(100.0, 5_000.0)
            };
            let lag = match (open, rng.next() % 50) {
                (false, _) => 0,
                (true, 0) => rng.log_between(2_000.0, 50_000.0),
                (true, _) => rng.next() % 2_000,
            };
            Sample {
                lag,
                blocked: if fresh { rng.next() % 50 } else { 0 },
                dns: 0,
                connecting: if fresh { 50 + rng.next() % 200 } else { 0 },
                tls: 0,
                sending: 5 + rng.next() % 30,
                waiting,
                receiving: 5 + rng.next() % 60,
                bytes_sent: 60 + rng.next() % 20,
                bytes_received: 150 + rng.next() % 50,
                expected: !rng.next().is_multiple_of(100),
            }
        })
        .collect()
}

/// Exactly the recording block of `HttpVu::send`.
#[inline(never)]
fn record(recorder: &Mutex<Recorder>, ids: &Ids, tags: TagSetId, s: &Sample) {
    let mut r = recorder.lock().unwrap_or_else(|p| p.into_inner());
    let k = |metric| SeriesKey { metric, tags };
    let (duration, total) = (s.duration(), s.total());
    r.add_counter(k(ids.http_reqs), 1.0);
    r.record_latency(k(ids.http_req_duration), duration + s.lag, duration);
    r.record_latency(k(ids.http_req_total), total + s.lag, total);
    r.add_rate(k(ids.http_req_failed), !s.expected);
    r.record_trend(k(ids.http_req_blocked), s.blocked);
    r.record_trend(k(ids.http_req_dns), s.dns);
    r.record_trend(k(ids.http_req_connecting), s.connecting);
    r.record_trend(k(ids.http_req_tls_handshaking), s.tls);
    r.record_trend(k(ids.http_req_sending), s.sending);
    r.record_trend(k(ids.http_req_waiting), s.waiting);
    r.record_trend(k(ids.http_req_receiving), s.receiving);
    r.add_counter(k(ids.data_sent), s.bytes_sent as f64);
    r.add_counter(k(ids.data_received), s.bytes_received as f64);
}

fn bench_record(c: &mut Criterion) {
    let mut g = c.benchmark_group("record");
    g.throughput(Throughput::Elements(1));
    for (name, open) in [("request_closed", false), ("request_open", true)] {
        let (registry, ids) = registry();
        let interner = TagInterner::new();
        let tags = request_tags(&interner);
        let recorder = Mutex::new(Recorder::new(registry));
        let samples = samples(open);
        // Create the series and grow the histograms to the table's range first,
        // as a run's first second does.
        for s in &samples {
            record(&recorder, &ids, tags, s);
        }
        let mut i = 0;
        g.bench_function(name, |b| {
            b.iter(|| {
                let s = &samples[i & 4095];
                i = i.wrapping_add(1);
                record(black_box(&recorder), &ids, black_box(tags), black_box(s));
            })
        });
        assert_eq!(recorder.lock().unwrap().rejected(), 0);
    }
    g.finish();
}

criterion_group!(benches, bench_record);
criterion_main!(benches);
