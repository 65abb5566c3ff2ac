//! Typed statistics: what a query asks of a metric, never a `"p(95)"` string.

use std::fmt;
use std::hash::{Hash, Hasher};

/// A percentile in `0..=100`, validated once when built so every query can
/// trust it (`p(99.99)` works; NaN and `101` do not get in).
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
pub struct Percentile(f64);

/// A percentile was outside `0..=100` or not a number.
#[derive(Debug, Clone, Copy, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum PercentileError {
    /// Outside `0..=100`.
    #[error("percentile {0} is not between 0 and 100")]
    OutOfRange(f64),
    /// NaN.
    #[error("percentile is not a number")]
    NotANumber,
}

impl Percentile {
    /// The median, `p(50)`.
    pub const MEDIAN: Percentile = Percentile(50.0);
    /// `p(90)`, one of k6's default summary statistics.
    pub const P90: Percentile = Percentile(90.0);
    /// `p(95)`, one of k6's default summary statistics.
    pub const P95: Percentile = Percentile(95.0);

    /// A percentile from a number in `0..=100`.
    pub fn new(p: f64) -> Result<Percentile, PercentileError> {
        if p.is_nan() {
            Err(PercentileError::NotANumber)
        } else if !(0.0..=100.0).contains(&p) {
            Err(PercentileError::OutOfRange(p))
        } else {
            // Normalise -0.0 so equal percentiles hash equal.
            Ok(Percentile(p + 0.0))
        }
    }

    /// The percentile, `0..=100`.
    pub fn value(self) -> f64 {
        self.0
    }

    /// The same as a quantile, `0..=1` (what HDR histograms take).
    pub fn quantile(self) -> f64 {
        self.0 / 100.0
    }
}

impl TryFrom<f64> for Percentile {
    type Error = PercentileError;
    fn try_from(p: f64) -> Result<Percentile, PercentileError> {
        Percentile::new(p)
    }
}

// Never NaN (checked in `new`), so equality is reflexive.
impl Eq for Percentile {}

impl Hash for Percentile {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.0.to_bits().hash(state);
    }
}

impl fmt::Display for Percentile {
    /// k6 notation: `p(95)`, `p(99.9)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "p({})", self.0)
    }
}

/// A statistic of a metric, with k6's meaning per kind. A statistic that
/// does not apply to a metric's kind yields `None` from a query.
///
/// | stat | counter | gauge | rate | trend |
/// |---|---|---|---|---|
/// | `Count` | sum | – | true samples | samples |
/// | `Sum` | sum | – | – | – |
/// | `Rate` | sum per second of the window | – | true / all | – |
/// | `Fails` | – | – | false samples | – |
/// | `Value` | – | last | – | – |
/// | `Min`, `Max` | – | min, max | – | min, max |
/// | `Avg`, `Med`, `Percentile` | – | – | – | from the histogram |
///
/// The one vocabulary of statistics: a plan's thresholds and
/// `summaryTrendStats` parse into it, analysis and the reports query with
/// it. Exhaustive, so a new statistic fails to compile where one is matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stat {
    /// Counter sum, trend sample count, rate true count.
    Count,
    /// Counter sum.
    Sum,
    /// Counter sum per second of the snapshot's window; share of true rate samples.
    Rate,
    /// Rate false count.
    Fails,
    /// Gauge last value.
    Value,
    /// Trend mean.
    Avg,
    /// Trend or gauge minimum.
    Min,
    /// Trend median.
    Med,
    /// Trend or gauge maximum.
    Max,
    /// Trend percentile.
    Percentile(Percentile),
}

impl Stat {
    /// `Stat::Percentile` from a plain number, validated.
    pub fn percentile(p: f64) -> Result<Stat, PercentileError> {
        Percentile::new(p).map(Stat::Percentile)
    }
}

impl fmt::Display for Stat {
    /// k6 notation, as thresholds write it: `avg`, `count`, `p(95)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Stat::Count => f.write_str("count"),
            Stat::Sum => f.write_str("sum"),
            Stat::Rate => f.write_str("rate"),
            Stat::Fails => f.write_str("fails"),
            Stat::Value => f.write_str("value"),
            Stat::Avg => f.write_str("avg"),
            Stat::Min => f.write_str("min"),
            Stat::Med => f.write_str("med"),
            Stat::Max => f.write_str("max"),
            Stat::Percentile(p) => p.fmt(f),
        }
    }
}

/// Which latency measurement a query reads from a trend.
///
/// Open-model (arrival-rate) runs measure each request twice: from its
/// *intended* start, which counts the time a request waited because the
/// system (or the load generator) was stalled, and from the *actual* send.
/// The first survives coordinated omission; the second is what a naive tool
/// reports. Both are kept so reports can show them side by side.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Latency {
    /// From the intended start (coordinated-omission corrected).
    #[default]
    Corrected,
    /// From the actual send.
    Raw,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_validated() {
        assert_eq!(Percentile::new(99.99).map(|p| p.value()), Ok(99.99));
        assert_eq!(Percentile::new(0.0).map(|p| p.quantile()), Ok(0.0));
        assert_eq!(Percentile::new(100.0).map(|p| p.quantile()), Ok(1.0));
        assert_eq!(
            Percentile::new(100.5),
            Err(PercentileError::OutOfRange(100.5))
        );
        assert_eq!(
            Percentile::new(-1.0),
            Err(PercentileError::OutOfRange(-1.0))
        );
        assert_eq!(Percentile::new(f64::NAN), Err(PercentileError::NotANumber));
        assert_eq!(Percentile::new(-0.0), Percentile::new(0.0));
        assert_eq!(Percentile::new(99.9).unwrap().to_string(), "p(99.9)");
        assert_eq!(Stat::percentile(95.0).unwrap().to_string(), "p(95)");
        assert_eq!(Stat::Med.to_string(), "med");
        assert_eq!(
            Stat::percentile(95.0),
            Ok(Stat::Percentile(Percentile::new(95.0).unwrap()))
        );
    }
}
