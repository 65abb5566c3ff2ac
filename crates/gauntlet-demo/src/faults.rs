//! Known conditions on demand: latency, errors, stalls.

use rand::RngExt;
use std::str::FromStr;
use std::time::Duration;

/// Latency added to each `/api` request.
#[derive(Debug, Clone, PartialEq, Default)]
#[non_exhaustive]
pub enum LatencyModel {
    /// None.
    #[default]
    None,
    /// Always the same.
    Fixed(Duration),
    /// Uniform between two bounds.
    Uniform {
        /// Lower bound.
        min: Duration,
        /// Upper bound.
        max: Duration,
    },
    /// Log-normal with this median and 99th percentile (a realistic long tail).
    LogNormal {
        /// Median.
        median: Duration,
        /// 99th percentile.
        p99: Duration,
    },
}

fn dur(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (num, mul) = if let Some(n) = s.strip_suffix("ms") {
        (n, 1e-3)
    } else if let Some(n) = s.strip_suffix("us") {
        (n, 1e-6)
    } else if let Some(n) = s.strip_suffix('s') {
        (n, 1.0)
    } else {
        return Err(format!("`{s}` needs a unit (ms or s)"));
    };
    let v: f64 = num
        .trim()
        .parse()
        .map_err(|_| format!("`{s}` is not a duration"))?;
    if !(v.is_finite() && v >= 0.0) {
        return Err(format!("`{s}` is not a duration"));
    }
    Ok(Duration::from_secs_f64(v * mul))
}

impl FromStr for LatencyModel {
    type Err = String;
    /// `none`, `10ms`, `5ms..20ms` (uniform), `lognormal:20ms:200ms` (median:p99).
    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.trim();
        if s.is_empty() || s == "none" || s == "0" {
            return Ok(LatencyModel::None);
        }
        if let Some(rest) = s.strip_prefix("lognormal:") {
            let (m, p) = rest
                .split_once(':')
                .ok_or("write lognormal:MEDIAN:P99, e.g. lognormal:20ms:200ms")?;
            let (median, p99) = (dur(m)?, dur(p)?);
            if p99 < median || median.is_zero() {
                return Err("lognormal needs 0 < median <= p99".into());
            }
            return Ok(LatencyModel::LogNormal { median, p99 });
        }
        if let Some((a, b)) = s.split_once("..") {
            let (min, max) = (dur(a)?, dur(b)?);
            if max < min {
                return Err("the range's lower bound is above its upper bound".into());
            }
            return Ok(LatencyModel::Uniform { min, max });
        }
        Ok(LatencyModel::Fixed(dur(s)?))
    }
}

impl LatencyModel {
    /// Draw one delay.
    pub(crate) fn sample(&self) -> Duration {
        let mut r = rand::rng();
        match self {
            LatencyModel::None => Duration::ZERO,
            LatencyModel::Fixed(d) => *d,
            LatencyModel::Uniform { min, max } => {
                if max <= min {
                    *min
                } else {
                    Duration::from_secs_f64(r.random_range(min.as_secs_f64()..max.as_secs_f64()))
                }
            }
            LatencyModel::LogNormal { median, p99 } => {
                // ln X ~ N(mu, sigma): median = e^mu, p99 = e^(mu + 2.326 sigma).
                let mu = median.as_secs_f64().ln();
                let sigma = (p99.as_secs_f64().ln() - mu) / 2.326_348;
                // Box-Muller.
                let u1: f64 = r.random_range(f64::EPSILON..1.0);
                let u2: f64 = r.random_range(0.0..1.0);
                let z = (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos();
                Duration::from_secs_f64((mu + sigma * z).exp().min(600.0))
            }
        }
    }
}

/// Every `every`, hold all `/api` responses for `duration`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stall {
    /// Period.
    pub every: Duration,
    /// Length of each stall.
    pub duration: Duration,
}

impl Stall {
    /// How long a request arriving `since_start` into the run must wait.
    pub(crate) fn wait(&self, since_start: Duration) -> Duration {
        if self.every.is_zero() {
            return Duration::ZERO;
        }
        let period = self.every.as_nanos();
        let pos = since_start.as_nanos() % period;
        let stall = self.duration.as_nanos();
        if pos < stall {
            Duration::from_nanos((stall - pos) as u64)
        } else {
            Duration::ZERO
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_latency_forms() {
        assert_eq!("none".parse::<LatencyModel>().unwrap(), LatencyModel::None);
        assert_eq!(
            "10ms".parse::<LatencyModel>().unwrap(),
            LatencyModel::Fixed(Duration::from_millis(10))
        );
        assert!(matches!(
            "5ms..20ms".parse::<LatencyModel>().unwrap(),
            LatencyModel::Uniform { .. }
        ));
        assert!(matches!(
            "lognormal:20ms:200ms".parse::<LatencyModel>().unwrap(),
            LatencyModel::LogNormal { .. }
        ));
        assert!("20ms..5ms".parse::<LatencyModel>().is_err());
        assert!("fast".parse::<LatencyModel>().is_err());
    }

    #[test]
    fn lognormal_has_its_median() {
        let m = LatencyModel::LogNormal {
            median: Duration::from_millis(20),
            p99: Duration::from_millis(200),
        };
        let mut v: Vec<f64> = (0..20_000)
            .map(|_| m.sample().as_secs_f64() * 1000.0)
            .collect();
        v.sort_by(f64::total_cmp);
        assert!((v[10_000] - 20.0).abs() < 2.0, "{}", v[10_000]);
        assert!((v[19_800] - 200.0).abs() < 40.0, "{}", v[19_800]);
    }

    #[test]
    fn stall_waits_until_the_stall_ends() {
        let s = Stall {
            every: Duration::from_secs(5),
            duration: Duration::from_secs(1),
        };
        assert_eq!(
            s.wait(Duration::from_millis(200)),
            Duration::from_millis(800)
        );
        assert_eq!(s.wait(Duration::from_millis(1500)), Duration::ZERO);
        assert_eq!(
            s.wait(Duration::from_millis(5300)),
            Duration::from_millis(700)
        );
    }
}
