//! Known bad conditions on demand: added latency, an error rate, and
//! periodic full stalls. They apply to `/api/*` only, so `/health` and
//! `/metrics` stay truthful while the API misbehaves.
//!
//! Each `/api` request goes through [`Faults::before`] (stall, then latency,
//! then maybe an injected error) and [`Faults::after`] (hold the response if
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

/// The faults a server runs with, bound to its start time and shutdown.
#[derive(Debug)]
pub(crate) struct Faults {
    latency: LatencyModel,
    error_rate: f64,
    stall: Option<Stall>,
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
            started: Instant::now(),
            stop,
        }
    }

    /// Whether any fault is configured (lets the hot path skip all of this).
    pub(crate) fn any(&self) -> bool {
        self.latency != LatencyModel::None || self.error_rate > 0.0 || self.stall.is_some()
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
