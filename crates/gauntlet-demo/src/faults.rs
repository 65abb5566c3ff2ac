//! Known bad conditions on demand: added latency, an error rate, periodic
//! full stalls, and an overload that outlasts the load that caused it. They
//! apply to `/api/*` only, so `/health` and `/metrics` stay truthful while
//! the API misbehaves.
//!
//! Each `/api` request goes through [`Faults::before`] (stall, then the
//! overload's latency while it lasts, then latency, then maybe an injected
//! error) and [`Faults::after`] (hold the response if
//! a stall began while it was being handled). Every wait ends early when the
//! server shuts down, so a 1-hour stall cannot hold up `shutdown`.

use rand::RngExt;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// Extra latency added to each `/api` request, to give a load test a
/// realistic (or deliberately bad) latency profile to measure.
///
/// # Text form ([`FromStr`] / [`Display`](fmt::Display))
/// | text | model |
/// |---|---|
/// | `none` (or `0`, or empty) | [`LatencyModel::None`] |
/// | `10ms` | [`LatencyModel::Fixed`] |
/// | `5ms..20ms` | [`LatencyModel::Uniform`] between the bounds |
/// | `lognormal:20ms:200ms` | [`LatencyModel::LogNormal`] with that median and p99 |
///
/// Durations are a non-negative decimal number and a unit: `us` (or `µs`),
/// `ms` or `s`, e.g. `250us`, `1.5ms`, `2s`.
#[derive(Debug, Clone, PartialEq, Default)]
#[non_exhaustive]
pub enum LatencyModel {
    /// No added latency.
    #[default]
    None,
    /// The same delay every time: easy to assert on.
    Fixed(Duration),
    /// Uniform between two bounds: jitter without a tail.
    Uniform {
        /// Lower bound (inclusive).
        min: Duration,
        /// Upper bound (exclusive; `min` when equal).
        max: Duration,
    },
    /// Log-normal with this median and 99th percentile: the long right tail
    /// that real services have.
    LogNormal {
        /// The 50th percentile (> 0).
        median: Duration,
        /// The 99th percentile (>= `median`).
        p99: Duration,
    },
}

/// Why a [`LatencyModel`] text did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LatencyParseError {
    /// A duration lacks a unit.
    #[error("`{0}` needs a unit: us, ms or s (e.g. 10ms)")]
    MissingUnit(String),
    /// A duration's number is not a non-negative decimal.
    #[error("`{0}` is not a duration (e.g. 10ms, 1.5s)")]
    BadNumber(String),
    /// `lognormal:` is not followed by `MEDIAN:P99`.
    #[error("write lognormal:MEDIAN:P99, e.g. lognormal:20ms:200ms")]
    LogNormalSyntax,
    /// The log-normal parameters are out of order or zero.
    #[error("lognormal needs 0 < median <= p99")]
    LogNormalOrder,
    /// A range's lower bound is above its upper bound.
    #[error("the range's lower bound is above its upper bound")]
    RangeOrder,
}

/// Parse `<number><unit>` with unit `us`/`µs`/`ms`/`s`.
fn parse_dur(s: &str) -> Result<Duration, LatencyParseError> {
    let s = s.trim();
    let (num, scale) = if let Some(n) = s.strip_suffix("ms") {
        (n, 1e-3)
    } else if let Some(n) = s.strip_suffix("us").or_else(|| s.strip_suffix("µs")) {
        (n, 1e-6)
    } else if let Some(n) = s.strip_suffix('s') {
        (n, 1.0)
    } else {
        return Err(LatencyParseError::MissingUnit(s.to_owned()));
    };
    let bad = || LatencyParseError::BadNumber(s.to_owned());
    let v: f64 = num.trim().parse().map_err(|_| bad())?;
    if !(v.is_finite() && v >= 0.0) {
        return Err(bad());
    }
    Duration::try_from_secs_f64(v * scale).map_err(|_| bad())
}

/// Shortest text form that [`parse_dur`] reads back exactly.
fn fmt_dur(d: Duration, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    let ns = d.as_nanos();
    if ns.is_multiple_of(1_000_000_000) {
        write!(f, "{}s", ns / 1_000_000_000)
    } else if ns.is_multiple_of(1_000_000) {
        write!(f, "{}ms", ns / 1_000_000)
    } else if ns.is_multiple_of(1_000) {
        write!(f, "{}us", ns / 1_000)
    } else {
        write!(f, "{}us", ns as f64 / 1_000.0)
    }
}

impl FromStr for LatencyModel {
    type Err = LatencyParseError;

    /// See the table in the type's docs.
    fn from_str(s: &str) -> Result<Self, LatencyParseError> {
        let s = s.trim();
        if s.is_empty() || s.eq_ignore_ascii_case("none") || s == "0" {
            return Ok(LatencyModel::None);
        }
        if let Some(rest) = s.strip_prefix("lognormal:") {
            let (m, p) = rest
                .split_once(':')
                .ok_or(LatencyParseError::LogNormalSyntax)?;
            let (median, p99) = (parse_dur(m)?, parse_dur(p)?);
            if median.is_zero() || p99 < median {
                return Err(LatencyParseError::LogNormalOrder);
            }
            return Ok(LatencyModel::LogNormal { median, p99 });
        }
        if let Some((a, b)) = s.split_once("..") {
            let (min, max) = (parse_dur(a)?, parse_dur(b)?);
            if max < min {
                return Err(LatencyParseError::RangeOrder);
            }
            return Ok(LatencyModel::Uniform { min, max });
        }
        Ok(LatencyModel::Fixed(parse_dur(s)?))
    }
}

impl fmt::Display for LatencyModel {
    /// The text form [`FromStr`] reads back.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LatencyModel::None => f.write_str("none"),
            LatencyModel::Fixed(d) => fmt_dur(*d, f),
            LatencyModel::Uniform { min, max } => {
                fmt_dur(*min, f)?;
                f.write_str("..")?;
                fmt_dur(*max, f)
            }
            LatencyModel::LogNormal { median, p99 } => {
                f.write_str("lognormal:")?;
                fmt_dur(*median, f)?;
                f.write_str(":")?;
                fmt_dur(*p99, f)
            }
        }
    }
}

/// z-score of the 99th percentile of the standard normal distribution.
const Z99: f64 = 2.326_347_874;

/// Longest single injected delay, whatever the model draws.
const MAX_DELAY: Duration = Duration::from_secs(600);

impl LatencyModel {
    /// Why the parameters cannot be sampled, if they cannot.
    pub(crate) fn check(&self) -> Result<(), &'static str> {
        match self {
            LatencyModel::Uniform { min, max } if max < min => {
                Err("uniform latency needs min <= max")
            }
            LatencyModel::LogNormal { median, p99 } if median.is_zero() || p99 < median => {
                Err("log-normal latency needs 0 < median <= p99")
            }
            _ => Ok(()),
        }
    }

    /// Draw one delay.
    pub(crate) fn sample(&self) -> Duration {
        let d = match self {
            LatencyModel::None => Duration::ZERO,
            LatencyModel::Fixed(d) => *d,
            LatencyModel::Uniform { min, max } => {
                if max <= min {
                    *min
                } else {
                    rand::rng().random_range(*min..*max)
                }
            }
            LatencyModel::LogNormal { median, p99 } => {
                // ln X ~ N(mu, sigma): median = e^mu, p99 = e^(mu + Z99 sigma).
                let mu = median.as_secs_f64().ln();
                let sigma = ((p99.as_secs_f64().ln() - mu) / Z99).max(0.0);
                let mut r = rand::rng();
                // Box-Muller; u1 in (0, 1] keeps ln finite.
                let u1: f64 = 1.0 - r.random_range(0.0..1.0);
                let u2: f64 = r.random_range(0.0..1.0);
                let z = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
                Duration::try_from_secs_f64((mu + sigma * z).exp()).unwrap_or(MAX_DELAY)
            }
        };
        d.min(MAX_DELAY)
    }
}

/// A periodic full stall: every `every`, all `/api` responses are held for
/// `duration`. This is the classic coordinated-omission test: a closed-loop
/// load generator sees one slow request per stalled connection, an honest
/// one sees every request that was due during the stall.
///
/// Stalls are phased from server start: the windows are
/// `[k·every, k·every + duration)` for k = 0, 1, 2…, so the first stall
/// begins as the server starts (a run started with the server sees
/// `duration/every` of its time stalled from the first second).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stall {
    /// Period between stall starts (> 0).
    pub every: Duration,
    /// Length of each stall (< `every`).
    pub duration: Duration,
}

impl Stall {
    /// How long a request arriving `since_start` after server start waits.
    pub(crate) fn wait(&self, since_start: Duration) -> Duration {
        if self.every.is_zero() || self.duration.is_zero() {
            return Duration::ZERO;
        }
        let pos = since_start.as_nanos() % self.every.as_nanos();
        let stall = self.duration.as_nanos();
        if pos < stall {
            // `stall - pos` < `duration`, which fits a Duration.
            Duration::from_nanos(u64::try_from(stall - pos).unwrap_or(u64::MAX))
        } else {
            Duration::ZERO
        }
    }
}

/// Width of the buckets [`Overload`] counts arrivals in: short, so the
/// service notices within 100 ms that the load dropped.
pub(crate) const OVERLOAD_BUCKET: Duration = Duration::from_millis(100);

/// An overload with a known recovery time, the truth for spike tests.
///
/// The service counts `/api` arrivals in 100 ms buckets (phased from server
/// start). Every request that arrives in a bucket whose count has already
/// passed `above` req/s (more than `above × 0.1` arrivals) marks the service
/// overloaded until `recovery` after that arrival; while it is, every `/api`
/// request waits `latency` more. So once the load drops below `above`, the
/// service answers normally again `recovery` later (to within one bucket,
/// 100 ms); a request that arrived just before that still takes `latency`.
///
/// # Text form ([`FromStr`] / [`Display`](fmt::Display))
/// `ABOVE:LATENCY:RECOVERY`, e.g. `200:300ms:5s`: above 200 req/s, 300 ms
/// more per request, until 5 s after the rate fell back.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Overload {
    /// Arrival rate (requests per second, > 0) above which the service is overloaded.
    pub above: f64,
    /// Latency added to each `/api` request while overloaded.
    pub latency: Duration,
    /// How long the overload lasts after the last arrival above the rate.
    pub recovery: Duration,
}

/// Why an [`Overload`] text did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OverloadParseError {
    /// Not three `:`-separated parts.
    #[error("write ABOVE:LATENCY:RECOVERY, e.g. 200:300ms:5s")]
    Syntax,
    /// The rate is not a positive number.
    #[error("`{0}` is not a rate above 0 (requests per second, e.g. 200)")]
    Rate(String),
    /// A duration did not parse.
    #[error(transparent)]
    Duration(#[from] LatencyParseError),
}

impl FromStr for Overload {
    type Err = OverloadParseError;

    fn from_str(s: &str) -> Result<Self, OverloadParseError> {
        let mut parts = s.trim().split(':');
        let (Some(a), Some(l), Some(r), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(OverloadParseError::Syntax);
        };
        let above: f64 = a
            .trim()
            .parse()
            .ok()
            .filter(|v: &f64| v.is_finite() && *v > 0.0)
            .ok_or_else(|| OverloadParseError::Rate(a.trim().to_owned()))?;
        Ok(Overload {
            above,
            latency: parse_dur(l)?,
            recovery: parse_dur(r)?,
        })
    }
}

impl fmt::Display for Overload {
    /// The text form [`FromStr`] reads back.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:", self.above)?;
        fmt_dur(self.latency, f)?;
        f.write_str(":")?;
        fmt_dur(self.recovery, f)
    }
}

/// The arrival counter behind [`Overload`].
#[derive(Debug, Default)]
struct OverloadState {
    /// Index of the current bucket since server start.
    bucket: u128,
    /// Arrivals in it so far.
    count: u64,
    /// Overloaded until then.
    until: Option<Instant>,
}

impl OverloadState {
    /// Count an arrival at `now` (`since_start` after server start) and say
    /// whether the service is overloaded for it.
    fn arrive(&mut self, o: &Overload, now: Instant, since_start: Duration) -> bool {
        let bucket = since_start.as_nanos() / OVERLOAD_BUCKET.as_nanos();
        if bucket != self.bucket {
            self.bucket = bucket;
            self.count = 0;
        }
        self.count += 1;
        // `count` arrivals in 0.1 s is a rate of `count / 0.1` per second.
        if self.count as f64 > o.above * OVERLOAD_BUCKET.as_secs_f64() {
            self.until = Some(now + o.recovery);
        }
        self.overloaded(now)
    }

    fn overloaded(&self, now: Instant) -> bool {
        self.until.is_some_and(|u| now < u)
    }
}

/// The faults a server runs with, bound to its start time and shutdown.
#[derive(Debug)]
pub(crate) struct Faults {
    latency: LatencyModel,
    error_rate: f64,
    stall: Option<Stall>,
    overload: Option<(Overload, std::sync::Mutex<OverloadState>)>,
    /// Requests slowed by the overload (exported as a counter).
    slowed: prometheus_client::metrics::counter::Counter,
    started: Instant,
    stop: CancellationToken,
}

/// What to do with a request after [`Faults::before`].
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Handle it.
    Proceed,
    /// Answer with an injected 500.
    InjectError,
}

impl Faults {
    pub(crate) fn new(
        latency: LatencyModel,
        error_rate: f64,
        stall: Option<Stall>,
        stop: CancellationToken,
    ) -> Faults {
        Faults {
            latency,
            error_rate,
            stall,
            overload: None,
            slowed: Default::default(),
            started: Instant::now(),
            stop,
        }
    }

    /// The same with an overload, counting the requests it slows in `slowed`.
    pub(crate) fn with_overload(
        mut self,
        overload: Option<Overload>,
        slowed: prometheus_client::metrics::counter::Counter,
    ) -> Faults {
        self.overload = overload.map(|o| (o, std::sync::Mutex::new(OverloadState::default())));
        self.slowed = slowed;
        self
    }

    /// Whether any fault is configured (lets the hot path skip all of this).
    pub(crate) fn any(&self) -> bool {
        self.latency != LatencyModel::None
            || self.error_rate > 0.0
            || self.stall.is_some()
            || self.overload.is_some()
    }

    /// Whether the overload is on right now (for the gauge).
    pub(crate) fn overloaded(&self) -> bool {
        self.overload.as_ref().is_some_and(|(_, st)| {
            st.lock()
                .unwrap_or_else(|p| p.into_inner())
                .overloaded(Instant::now())
        })
    }

    /// Count the arrival; wait the overload's latency if it is on.
    async fn hold_for_overload(&self) {
        let Some((o, st)) = &self.overload else {
            return;
        };
        let now = Instant::now();
        let on = st
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .arrive(o, now, now - self.started);
        if on {
            self.slowed.inc();
            self.pause(o.latency).await;
        }
    }

    /// Sleep `d`, or less if the server is shutting down.
    async fn pause(&self, d: Duration) {
        if d.is_zero() {
            return;
        }
        tokio::select! {
            _ = tokio::time::sleep(d) => {}
            _ = self.stop.cancelled() => {}
        }
    }

    async fn hold_for_stall(&self) {
        if let Some(stall) = self.stall {
            self.pause(stall.wait(self.started.elapsed())).await;
        }
    }

    /// Stall, delay, and decide whether to inject an error.
    pub(crate) async fn before(&self) -> Verdict {
        self.hold_for_stall().await;
        self.hold_for_overload().await;
        self.pause(self.latency.sample()).await;
        let inject = if self.error_rate >= 1.0 {
            true
        } else if self.error_rate > 0.0 {
            rand::rng().random_bool(self.error_rate)
        } else {
            false
        };
        if inject {
            Verdict::InjectError
        } else {
            Verdict::Proceed
        }
    }

    /// Hold a finished response while a stall is on.
    pub(crate) async fn after(&self) {
        self.hold_for_stall().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn parses_every_form() {
        assert_eq!("none".parse(), Ok(LatencyModel::None));
        assert_eq!("".parse(), Ok(LatencyModel::None));
        assert_eq!("10ms".parse(), Ok(LatencyModel::Fixed(ms(10))));
        assert_eq!(
            "250us".parse(),
            Ok(LatencyModel::Fixed(Duration::from_micros(250)))
        );
        assert_eq!("1.5s".parse(), Ok(LatencyModel::Fixed(ms(1500))));
        assert_eq!(
            " 5ms .. 20ms ".parse(),
            Ok(LatencyModel::Uniform {
                min: ms(5),
                max: ms(20)
            })
        );
        assert_eq!(
            "lognormal:20ms:200ms".parse(),
            Ok(LatencyModel::LogNormal {
                median: ms(20),
                p99: ms(200)
            })
        );
    }

    #[test]
    fn rejects_nonsense_with_a_reason() {
        let e = |s: &str| s.parse::<LatencyModel>().unwrap_err();
        assert_eq!(e("20ms..5ms"), LatencyParseError::RangeOrder);
        assert_eq!(e("fast"), LatencyParseError::MissingUnit("fast".into()));
        assert_eq!(e("-5ms"), LatencyParseError::BadNumber("-5ms".into()));
        assert_eq!(e("NaNms"), LatencyParseError::BadNumber("NaNms".into()));
        assert_eq!(e("1e300s"), LatencyParseError::BadNumber("1e300s".into()));
        assert_eq!(e("lognormal:20ms"), LatencyParseError::LogNormalSyntax);
        assert_eq!(e("lognormal:0ms:1ms"), LatencyParseError::LogNormalOrder);
        assert_eq!(e("lognormal:9ms:1ms"), LatencyParseError::LogNormalOrder);
    }

    #[test]
    fn display_round_trips() {
        for s in [
            "none",
            "10ms",
            "2s",
            "250us",
            "1ms..4ms",
            "lognormal:20ms:1s",
        ] {
            let m: LatencyModel = s.parse().unwrap();
            assert_eq!(m.to_string(), s);
        }
        let odd = LatencyModel::Fixed(Duration::from_nanos(1_500));
        assert_eq!(odd.to_string().parse::<LatencyModel>().unwrap(), odd);
    }

    #[test]
    fn lognormal_has_its_median_and_p99() {
        let m = LatencyModel::LogNormal {
            median: ms(20),
            p99: ms(200),
        };
        let mut v: Vec<f64> = (0..20_000)
            .map(|_| m.sample().as_secs_f64() * 1000.0)
            .collect();
        v.sort_by(f64::total_cmp);
        assert!((v[10_000] - 20.0).abs() < 2.0, "median {}", v[10_000]);
        assert!((v[19_800] - 200.0).abs() < 40.0, "p99 {}", v[19_800]);
    }

    #[test]
    fn uniform_stays_in_bounds() {
        let m = LatencyModel::Uniform {
            min: ms(5),
            max: ms(6),
        };
        assert!(
            (0..1000)
                .map(|_| m.sample())
                .all(|d| d >= ms(5) && d < ms(6))
        );
        let degenerate = LatencyModel::Uniform {
            min: ms(5),
            max: ms(5),
        };
        assert_eq!(degenerate.sample(), ms(5));
    }

    #[test]
    fn invalid_models_are_reported_not_sampled() {
        let bad = LatencyModel::LogNormal {
            median: Duration::ZERO,
            p99: ms(1),
        };
        assert!(bad.check().is_err());
        let bad = LatencyModel::Uniform {
            min: ms(2),
            max: ms(1),
        };
        assert!(bad.check().is_err());
        assert!(LatencyModel::Fixed(ms(1)).check().is_ok());
    }

    #[test]
    fn stall_windows_start_at_each_period() {
        let s = Stall {
            every: Duration::from_secs(5),
            duration: Duration::from_secs(1),
        };
        assert_eq!(s.wait(Duration::ZERO), ms(1000));
        assert_eq!(s.wait(ms(200)), ms(800));
        assert_eq!(s.wait(ms(1000)), Duration::ZERO);
        assert_eq!(s.wait(ms(4999)), Duration::ZERO);
        assert_eq!(s.wait(ms(5300)), ms(700));
        let off = Stall {
            every: Duration::ZERO,
            duration: ms(1),
        };
        assert_eq!(off.wait(ms(0)), Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn shutdown_cuts_a_stall_short() {
        let stop = CancellationToken::new();
        let f = Faults::new(
            LatencyModel::None,
            0.0,
            Some(Stall {
                every: Duration::from_secs(7200),
                duration: Duration::from_secs(3600),
            }),
            stop.clone(),
        );
        let t0 = Instant::now();
        let held = tokio::spawn(async move { f.before().await });
        tokio::time::sleep(Duration::from_secs(10)).await;
        assert!(!held.is_finished(), "held by the stall");
        stop.cancel();
        assert_eq!(held.await.unwrap(), Verdict::Proceed);
        assert!(t0.elapsed() < Duration::from_secs(3600));
    }

    #[test]
    fn overload_text_round_trips_and_bad_text_says_why() {
        let o: Overload = "200:300ms:5s".parse().unwrap();
        assert_eq!(
            o,
            Overload {
                above: 200.0,
                latency: ms(300),
                recovery: Duration::from_secs(5)
            }
        );
        assert_eq!(o.to_string(), "200:300ms:5s");
        assert_eq!(
            "2.5:1ms:1ms".parse::<Overload>().unwrap().to_string(),
            "2.5:1ms:1ms"
        );
        let e = |s: &str| s.parse::<Overload>().unwrap_err();
        assert_eq!(e("200:300ms"), OverloadParseError::Syntax);
        assert_eq!(e("0:1ms:1s"), OverloadParseError::Rate("0".into()));
        assert_eq!(e("fast:1ms:1s"), OverloadParseError::Rate("fast".into()));
        assert!(matches!(
            e("5:1:1s"),
            OverloadParseError::Duration(LatencyParseError::MissingUnit(_))
        ));
    }

    #[test]
    fn overload_ends_recovery_after_the_last_arrival_above_the_rate() {
        let o = Overload {
            above: 100.0,
            latency: ms(50),
            recovery: Duration::from_secs(2),
        };
        let t0 = Instant::now();
        let mut st = OverloadState::default();
        let at = |st: &mut OverloadState, after: Duration| st.arrive(&o, t0 + after, after);
        // 10 arrivals in a bucket is 100 req/s: not above.
        for i in 0..10 {
            assert!(!at(&mut st, ms(100 + i)), "arrival {i}");
        }
        // A spike at 300 req/s from 1 s to 2 s: the 11th arrival of a bucket tips it.
        let mut last_over = None;
        for i in 0..300u64 {
            let after = Duration::from_secs(1) + Duration::from_micros(i * 3_333);
            let on = at(&mut st, after);
            let in_bucket = (after.as_millis() % 100) as u64;
            if on && last_over.is_none() {
                assert!(
                    in_bucket >= 30,
                    "the first bucket needs 11 arrivals: {after:?}"
                );
            }
            if on {
                last_over = Some(after);
            }
        }
        let last = last_over.unwrap();
        assert!(
            last > ms(1990),
            "overloaded until the spike's last bucket: {last:?}"
        );
        // Back to 10 req/s: still overloaded until `recovery` after `last`.
        assert!(at(&mut st, ms(2500)));
        assert!(at(&mut st, last + ms(1999)));
        assert!(!at(&mut st, last + ms(2001)));
        assert!(!st.overloaded(t0 + last + ms(2001)));
    }

    #[tokio::test(start_paused = true)]
    async fn an_overloaded_service_adds_its_latency_and_counts_it() {
        let slowed = prometheus_client::metrics::counter::Counter::default();
        let f = Faults::new(LatencyModel::None, 0.0, None, CancellationToken::new()).with_overload(
            Some(Overload {
                above: 10.0,
                latency: Duration::from_secs(3),
                recovery: Duration::from_secs(60),
            }),
            slowed.clone(),
        );
        assert!(f.any());
        // One arrival per bucket is 10 req/s: never above.
        let t0 = Instant::now();
        f.before().await;
        assert_eq!((slowed.get(), t0.elapsed()), (0, Duration::ZERO));
        assert!(!f.overloaded());
        // The second arrival in the same bucket is above.
        f.before().await;
        assert_eq!(slowed.get(), 1);
        assert!(t0.elapsed() >= Duration::from_secs(3));
        assert!(f.overloaded());
    }

    #[tokio::test(start_paused = true)]
    async fn error_rate_extremes_are_exact() {
        let all = Faults::new(LatencyModel::None, 1.0, None, CancellationToken::new());
        let none = Faults::new(LatencyModel::None, 0.0, None, CancellationToken::new());
        for _ in 0..100 {
            assert_eq!(all.before().await, Verdict::InjectError);
            assert_eq!(none.before().await, Verdict::Proceed);
        }
        assert!(all.any() && !none.any());
    }
}
