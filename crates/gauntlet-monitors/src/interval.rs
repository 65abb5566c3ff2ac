//! From two scrapes of a target to one interval's readings: counters become
//! rates, gauges stay values, histograms become quantiles of the interval.
//!
//! A scrape is cumulative; what a run's timeline needs is what happened in
//! each interval, so every reading here is a difference of two scrapes
//! divided by the time between them. The rules are Prometheus's own, so a
//! dashboard over the same target reads the same numbers: a counter that went
//! down was reset (the new value is the whole increase, as `rate()` counts
//! it), and a histogram quantile interpolates linearly inside its bucket (as
//! `histogram_quantile()` does).

use crate::exposition::{Family, FamilyKind, Sample};

/// Which series of a scrape to read: a family name and label equalities.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selector {
    /// The family (`node_cpu_seconds`, or with OpenMetrics' suffix written).
    pub name: String,
    /// Labels the series must have, with these values.
    pub labels: Vec<(String, String)>,
}

impl Selector {
    fn matches(&self, s: &Sample) -> bool {
        self.labels
            .iter()
            .all(|(k, v)| s.label(k) == Some(v.as_str()))
    }
}

/// What to read from the selected series over an interval.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum Reading {
    /// Counters: increase per second (every matching series summed).
    Rate,
    /// Gauges: the value at the end of the interval (matching series summed).
    Value,
    /// Histograms: the q-quantile (0..=1) of the observations made in the
    /// interval, matching series' buckets added.
    Quantile(f64),
    /// Histograms and summaries: the mean of the interval's observations.
    Mean,
}

/// Why a reading could not be made. A monitor shows this, never a number.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ReadError {
    /// No family of that name in the scrape.
    #[error("the target exposes no metric `{0}`")]
    NoSuchMetric(String),
    /// The family exists but no series has the labels asked for.
    #[error("no series of `{0}` has the labels asked for")]
    NoSuchSeries(String),
    /// The reading does not fit the family's type.
    #[error("`{name}` is a {kind}: {hint}")]
    WrongKind {
        /// The family.
        name: String,
        /// Its type.
        kind: FamilyKind,
        /// What fits instead.
        hint: &'static str,
    },
    /// Nothing was observed in the interval (a quantile or mean of nothing).
    #[error("no observation of `{0}` in the interval")]
    NoObservations(String),
    /// The two scrapes are not apart in time.
    #[error("the two scrapes are not apart in time")]
    NoInterval,
}

/// One scrape: its families and when it was taken (seconds on any clock
/// both scrapes share).
#[derive(Debug, Clone)]
pub struct Scrape {
    /// The parsed exposition.
    pub families: Vec<Family>,
    /// When the scrape's response arrived.
    pub at_seconds: f64,
}

impl Scrape {
    fn family(&self, name: &str) -> Result<&Family, ReadError> {
        self.families
            .iter()
            .find(|f| f.name == name)
            .or_else(|| {
                // `x_total` asked for an OpenMetrics counter named `x`.
                let base = name.strip_suffix("_total")?;
                self.families
                    .iter()
                    .find(|f| f.name == base && f.kind == FamilyKind::Counter)
            })
            .ok_or_else(|| ReadError::NoSuchMetric(name.to_owned()))
    }
}

/// Read `what` of the series `sel` over the interval between two scrapes.
pub fn read(
    before: &Scrape,
    after: &Scrape,
    sel: &Selector,
    what: Reading,
) -> Result<f64, ReadError> {
    let dt = after.at_seconds - before.at_seconds;
    let fam = after.family(&sel.name)?;
    let prev = before.family(&sel.name).ok();
    match what {
        Reading::Value => {
            if matches!(fam.kind, FamilyKind::Histogram | FamilyKind::Summary) {
                return Err(wrong(
                    fam,
                    "read a quantile, the mean or the rate of `_count`",
                ));
            }
            sum_of(fam, sel, |s| !s.name.ends_with("_created"))
        }
        Reading::Rate => {
            if dt <= 0.0 {
                return Err(ReadError::NoInterval);
            }
            let pick = |s: &Sample| match fam.kind {
                FamilyKind::Histogram | FamilyKind::Summary => s.name.ends_with("_count"),
                FamilyKind::Counter => !s.name.ends_with("_created"),
                _ => true,
            };
            if fam.kind == FamilyKind::Gauge {
                return Err(wrong(fam, "a gauge has a value, not a rate"));
            }
            let now = series(fam, sel, pick)?;
            let then = prev.map(|p| series(p, sel, pick).unwrap_or_default());
            let increase: f64 = now
                .iter()
                .map(|(key, v)| {
                    let old = then
                        .as_ref()
                        .and_then(|t| t.iter().find(|(k, _)| k == key))
                        .map(|(_, v)| *v);
                    increase(old, *v)
                })
                .sum();
            Ok(increase / dt)
        }
        Reading::Quantile(q) => {
            if fam.kind != FamilyKind::Histogram {
                return Err(wrong(fam, "quantiles of an interval need a histogram"));
            }
            let now = buckets(fam, sel)?;
            let then = prev.and_then(|p| buckets(p, sel).ok()).unwrap_or_default();
            let delta: Vec<(f64, f64)> = now
                .iter()
                .map(|&(le, c)| {
                    let old = then.iter().find(|(l, _)| *l == le).map(|(_, c)| *c);
                    (le, increase(old, c))
                })
                .collect();
            quantile(q, &delta).ok_or_else(|| ReadError::NoObservations(fam.name.clone()))
        }
        Reading::Mean => {
            if !matches!(fam.kind, FamilyKind::Histogram | FamilyKind::Summary) {
                return Err(wrong(fam, "a mean needs `_sum` and `_count`"));
            }
            let part = |scrape: Option<&Family>, suffix: &str| -> f64 {
                scrape
                    .and_then(|f| sum_of(f, sel, |s| s.name.ends_with(suffix)).ok())
                    .unwrap_or(0.0)
            };
            let (sum, count) = (part(Some(fam), "_sum"), part(Some(fam), "_count"));
            let (sum0, count0) = (part(prev, "_sum"), part(prev, "_count"));
            let (ds, dc) = if count < count0 {
                (sum, count)
            } else {
                (sum - sum0, count - count0)
            };
            if dc <= 0.0 {
                return Err(ReadError::NoObservations(fam.name.clone()));
            }
            Ok(ds / dc)
        }
    }
}

fn wrong(f: &Family, hint: &'static str) -> ReadError {
    ReadError::WrongKind {
        name: f.name.clone(),
        kind: f.kind,
        hint,
    }
}

/// A counter's increase from `old` to `new`; a drop is a reset, after which
/// the new value is all increase.
fn increase(old: Option<f64>, new: f64) -> f64 {
    match old {
        Some(o) if new >= o => new - o,
        Some(_) => new,
        // A series new in this scrape started from zero within the interval.
        None => new,
    }
}

type Key = Vec<(String, String)>;

/// Matching series by identity (sample name and labels but `le`).
fn series(
    f: &Family,
    sel: &Selector,
    pick: impl Fn(&Sample) -> bool,
) -> Result<Vec<(Key, f64)>, ReadError> {
    let out: Vec<(Key, f64)> = f
        .samples
        .iter()
        .filter(|s| pick(s) && sel.matches(s))
        .map(|s| {
            let mut key: Key = s.labels.clone();
            key.push(("__name__".into(), s.name.clone()));
            key.sort();
            (key, s.value)
        })
        .collect();
    if out.is_empty() {
        return Err(ReadError::NoSuchSeries(f.name.clone()));
    }
    Ok(out)
}

fn sum_of(f: &Family, sel: &Selector, pick: impl Fn(&Sample) -> bool) -> Result<f64, ReadError> {
    Ok(series(f, sel, pick)?.iter().map(|(_, v)| v).sum())
}

/// Cumulative buckets `(le, count)` of the matching series, added per `le`,
/// sorted by bound.
fn buckets(f: &Family, sel: &Selector) -> Result<Vec<(f64, f64)>, ReadError> {
    let mut out: Vec<(f64, f64)> = Vec::new();
    for s in f
        .samples
        .iter()
        .filter(|s| s.name.ends_with("_bucket") && sel.matches(s))
    {
        let Some(le) = s.label("le").and_then(|v| match v {
            "+Inf" => Some(f64::INFINITY),
            v => v.parse::<f64>().ok(),
        }) else {
            continue;
        };
        match out.iter_mut().find(|(l, _)| *l == le) {
            Some((_, c)) => *c += s.value,
            None => out.push((le, s.value)),
        }
    }
    if out.is_empty() {
        return Err(ReadError::NoSuchSeries(f.name.clone()));
    }
    out.sort_by(|a, b| a.0.total_cmp(&b.0));
    Ok(out)
}

/// Prometheus's `histogram_quantile` over cumulative buckets: linear inside
/// the bucket the rank falls in (from 0 for the first bucket when its bound
/// is positive); a rank in the `+Inf` bucket reads the highest finite bound.
fn quantile(q: f64, buckets: &[(f64, f64)]) -> Option<f64> {
    let total = buckets.last()?.1;
    if total <= 0.0 || !(0.0..=1.0).contains(&q) {
        return None;
    }
    let rank = q * total;
    let mut lower_bound = 0.0;
    let mut lower_count = 0.0;
    for (i, &(le, count)) in buckets.iter().enumerate() {
        if count >= rank {
            if le.is_infinite() {
                return Some(if i == 0 { 0.0 } else { buckets[i - 1].0 });
            }
            if i == 0 && le <= 0.0 {
                return Some(le);
            }
            let in_bucket = count - lower_count;
            if in_bucket <= 0.0 {
                return Some(le);
            }
            return Some(lower_bound + (le - lower_bound) * (rank - lower_count) / in_bucket);
        }
        lower_bound = le;
        lower_count = count;
    }
    Some(lower_bound)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exposition::parse;

    fn scrape(text: &str, at: f64) -> Scrape {
        Scrape {
            families: parse(text).unwrap(),
            at_seconds: at,
        }
    }

    fn sel(name: &str, labels: &[(&str, &str)]) -> Selector {
        Selector {
            name: name.into(),
            labels: labels
                .iter()
                .map(|(k, v)| ((*k).into(), (*v).into()))
                .collect(),
        }
    }

    #[test]
    fn a_counter_reads_its_increase_per_second_summed_over_matching_series() {
        let a = scrape(
            "# TYPE r counter\nr_total{code=\"200\",m=\"GET\"} 100\nr_total{code=\"500\",m=\"GET\"} 10\n",
            10.0,
        );
        let b = scrape(
            "# TYPE r counter\nr_total{code=\"200\",m=\"GET\"} 300\nr_total{code=\"500\",m=\"GET\"} 30\n",
            12.0,
        );
        assert_eq!(read(&a, &b, &sel("r", &[]), Reading::Rate).unwrap(), 110.0);
        assert_eq!(
            read(&a, &b, &sel("r_total", &[("code", "500")]), Reading::Rate).unwrap(),
            10.0
        );
    }

    #[test]
    fn a_counter_that_went_down_was_reset_and_counts_its_new_value() {
        let a = scrape("# TYPE r counter\nr_total 500\n", 0.0);
        let b = scrape("# TYPE r counter\nr_total 40\n", 2.0);
        assert_eq!(read(&a, &b, &sel("r", &[]), Reading::Rate).unwrap(), 20.0);
    }

    #[test]
    fn a_histogram_quantile_is_of_the_intervals_observations_only() {
        // Before: 100 fast observations. In the interval: 10 more, all in (0.1, 0.5].
        let a = scrape(
            "# TYPE h histogram\nh_bucket{le=\"0.1\"} 100\nh_bucket{le=\"0.5\"} 100\nh_bucket{le=\"+Inf\"} 100\nh_sum 5\nh_count 100\n",
            0.0,
        );
        let b = scrape(
            "# TYPE h histogram\nh_bucket{le=\"0.1\"} 100\nh_bucket{le=\"0.5\"} 110\nh_bucket{le=\"+Inf\"} 110\nh_sum 8\nh_count 110\n",
            1.0,
        );
        let p50 = read(&a, &b, &sel("h", &[]), Reading::Quantile(0.5)).unwrap();
        assert!((p50 - 0.3).abs() < 1e-12, "{p50}");
        assert!((read(&a, &b, &sel("h", &[]), Reading::Mean).unwrap() - 0.3).abs() < 1e-12);
        assert_eq!(read(&a, &b, &sel("h", &[]), Reading::Rate).unwrap(), 10.0);
    }

    #[test]
    fn a_quantile_in_the_infinite_bucket_reads_the_highest_finite_bound() {
        assert_eq!(
            quantile(0.99, &[(0.1, 1.0), (1.0, 2.0), (f64::INFINITY, 10.0)]),
            Some(1.0)
        );
        assert_eq!(quantile(0.5, &[(f64::INFINITY, 0.0)]), None);
    }

    #[test]
    fn readings_that_cannot_be_made_say_why_instead_of_a_number() {
        let a = scrape(
            "# TYPE g gauge\ng{x=\"1\"} 3\n# TYPE h histogram\nh_bucket{le=\"+Inf\"} 4\nh_sum 1\nh_count 4\n",
            0.0,
        );
        let b = scrape(
            "# TYPE g gauge\ng{x=\"1\"} 5\n# TYPE h histogram\nh_bucket{le=\"+Inf\"} 4\nh_sum 1\nh_count 4\n",
            1.0,
        );
        assert_eq!(read(&a, &b, &sel("g", &[]), Reading::Value).unwrap(), 5.0);
        assert!(matches!(
            read(&a, &b, &sel("nope", &[]), Reading::Value),
            Err(ReadError::NoSuchMetric(_))
        ));
        assert!(matches!(
            read(&a, &b, &sel("g", &[("x", "2")]), Reading::Value),
            Err(ReadError::NoSuchSeries(_))
        ));
        assert!(matches!(
            read(&a, &b, &sel("g", &[]), Reading::Rate),
            Err(ReadError::WrongKind { .. })
        ));
        assert!(matches!(
            read(&a, &b, &sel("h", &[]), Reading::Quantile(0.9)),
            Err(ReadError::NoObservations(_))
        ));
        assert!(matches!(
            read(&a, &a, &sel("h", &[]), Reading::Rate),
            Err(ReadError::NoInterval)
        ));
    }
}
