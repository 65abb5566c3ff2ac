//! Correlation of what users saw (latency, errors, throughput) with each
//! resource, seed 002's correlation table.
//!
//! Both Spearman's rank correlation (ties take the mean of their ranks) and
//! Pearson's linear one are given: a resource that saturates makes latency
//! rise steeply, not linearly, and rank correlation sees that; Pearson shows
//! whether the relation is also proportional. A resource often acts on
//! latency a second or two after it moves (queues fill, samples are taken
//! at different instants), so each pair is tried at lags from `-max_lag` to
//! `+max_lag` seconds and the lag with the strongest rank correlation is
//! reported. Lag `k` pairs the outcome at second `t` with the resource at
//! `t - k`: a positive lag means the resource moved first.
//!
//! Significance is the two-sided p-value of the rank correlation under the
//! null of no association, from Student's t with `n - 2` degrees of freedom
//! (`t = r √((n-2)/(1-r²))`), multiplied by the number of lags tried
//! (Bonferroni), since picking the best of several lags would otherwise
//! look more significant than it is. Below double precision it reads 0.

use crate::signals::{Role, Series, SeriesRef};
use serde::{Deserialize, Serialize};

/// How correlations are computed.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct CorrelationOptions {
    /// Largest lag tried, seconds, both ways. Default 3.
    pub max_lag: u32,
    /// Fewest paired seconds for a coefficient; fewer give none. Default 10.
    pub min_points: usize,
}

impl Default for CorrelationOptions {
    fn default() -> Self {
        CorrelationOptions {
            max_lag: 3,
            min_points: 10,
        }
    }
}

/// One row of the correlation table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Correlation {
    /// The outcome series (latency, error rate or throughput).
    pub outcome: SeriesRef,
    /// The resource series.
    pub resource: SeriesRef,
    /// Spearman's rank correlation at the best lag; `None` when it cannot
    /// be computed (too few points, or a series constant over them).
    pub spearman: Option<f64>,
    /// Pearson's correlation at the same lag; `None` likewise.
    pub pearson: Option<f64>,
    /// The lag, seconds, with the strongest rank correlation (positive: the resource moved first).
    pub lag: i32,
    /// Seconds where both series had a value, at that lag.
    pub points: usize,
    /// Two-sided p-value of `spearman`, Bonferroni-corrected for the lags tried.
    pub p_value: Option<f64>,
}

impl Correlation {
    /// Whether the rank correlation is at least `strength` in size and its
    /// p-value at most `alpha`: what a finding may cite as support.
    pub fn supports(&self, strength: f64, alpha: f64) -> bool {
        matches!((self.spearman, self.p_value), (Some(r), Some(p)) if r.abs() >= strength && p <= alpha)
    }
}

/// Ranks from 1, ties taking the mean of the ranks they span.
pub fn ranks(values: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&a, &b| values[a].total_cmp(&values[b]));
    let mut out = vec![0.0; values.len()];
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && values[order[j + 1]] == values[order[i]] {
            j += 1;
        }
        // Positions i..=j (0-based) share ranks i+1..=j+1.
        let mean = (i + j) as f64 / 2.0 + 1.0;
        for &k in &order[i..=j] {
            out[k] = mean;
        }
        i = j + 1;
    }
    out
}

/// Pearson's correlation of two equally long samples; `None` when shorter
/// than 2 or either is constant.
pub fn pearson(x: &[f64], y: &[f64]) -> Option<f64> {
    let n = x.len();
    if n < 2 || n != y.len() {
        return None;
    }
    let mx = x.iter().sum::<f64>() / n as f64;
    let my = y.iter().sum::<f64>() / n as f64;
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (a, b) in x.iter().zip(y) {
        let (dx, dy) = (a - mx, b - my);
        sxy += dx * dy;
        sxx += dx * dx;
        syy += dy * dy;
    }
    if sxx <= 0.0 || syy <= 0.0 {
        return None;
    }
    Some((sxy / (sxx * syy).sqrt()).clamp(-1.0, 1.0))
}

/// Spearman's rank correlation (Pearson over mid-ranks, so ties are exact).
pub fn spearman(x: &[f64], y: &[f64]) -> Option<f64> {
    if x.len() != y.len() {
        return None;
    }
    pearson(&ranks(x), &ranks(y))
}

/// Two-sided p-value of a correlation `r` over `n` points (Student's t,
/// `n - 2` degrees of freedom); `None` below 3 points.
///
/// Uses the exact finite series for integer degrees of freedom
/// (`θ = atan(|t|/√ν)`; A(t|ν) = P(|T| < t)), so no gamma function is needed.
pub fn correlation_p_value(r: f64, n: usize) -> Option<f64> {
    if n < 3 || !r.is_finite() {
        return None;
    }
    let df = n - 2;
    let r = r.abs().min(1.0);
    if r >= 1.0 {
        return Some(0.0);
    }
    let t = r * ((df as f64) / (1.0 - r * r)).sqrt();
    Some(student_t_two_sided(t, df))
}

/// P(|T| >= t) for Student's t with `df` degrees of freedom.
fn student_t_two_sided(t: f64, df: usize) -> f64 {
    let theta = (t.abs() / (df as f64).sqrt()).atan();
    let (s, c) = theta.sin_cos();
    let c2 = c * c;
    let inside = if df % 2 == 1 {
        // (2/π)(θ + sinθ (cosθ + 2/3 cos³θ + … + (2·4…(ν-3))/(1·3…(ν-2)) cos^(ν-2)θ))
        let mut sum = 0.0;
        if df > 1 {
            let mut term = c;
            sum = term;
            let mut k = 2;
            while k + 1 < df {
                term *= c2 * k as f64 / (k + 1) as f64;
                sum += term;
                k += 2;
            }
        }
        2.0 / std::f64::consts::PI * (theta + s * sum)
    } else {
        // sinθ (1 + 1/2 cos²θ + (1·3)/(2·4) cos⁴θ + … + (1·3…(ν-3))/(2·4…(ν-2)) cos^(ν-2)θ)
        let mut term = 1.0;
        let mut sum = 1.0;
        let mut k = 1;
        while k + 1 < df {
            term *= c2 * k as f64 / (k + 1) as f64;
            sum += term;
            k += 2;
        }
        s * sum
    };
    (1.0 - inside).clamp(0.0, 1.0)
}

/// The finite pairs `(outcome[t], resource[t - lag])` over the seconds both cover.
fn pairs(outcome: &Series, resource: &Series, lag: i32) -> (Vec<f64>, Vec<f64>) {
    let (mut xs, mut ys) = (Vec::new(), Vec::new());
    for t in outcome.start..outcome.end() {
        let Some(rt) = i64::from(t).checked_sub(i64::from(lag)) else {
            continue;
        };
        let Ok(rt) = u32::try_from(rt) else { continue };
        if let (Some(x), Some(y)) = (outcome.at(t), resource.at(rt)) {
            xs.push(x);
            ys.push(y);
        }
    }
    (xs, ys)
}

/// Correlate one outcome series with one resource series, trying every lag
/// within `options.max_lag` and keeping the strongest rank correlation
/// (the smaller lag on a tie, lag 0 when none can be computed).
pub fn correlate(outcome: &Series, resource: &Series, options: &CorrelationOptions) -> Correlation {
    let max = i32::try_from(options.max_lag).unwrap_or(i32::MAX / 2);
    let mut best: Option<(i32, f64, Vec<f64>, Vec<f64>)> = None;
    let mut zero_points = 0;
    // Lags in order of size, so a tie keeps the smallest.
    let lags = std::iter::once(0).chain((1..=max).flat_map(|k| [k, -k]));
    for lag in lags {
        let (xs, ys) = pairs(outcome, resource, lag);
        if lag == 0 {
            zero_points = xs.len();
        }
        if xs.len() < options.min_points.max(3) {
            continue;
        }
        let Some(r) = spearman(&xs, &ys) else {
            continue;
        };
        if best.as_ref().is_none_or(|(_, b, _, _)| r.abs() > b.abs()) {
            best = Some((lag, r, xs, ys));
        }
    }
    let tried = 2 * usize::try_from(options.max_lag).unwrap_or(0) + 1;
    match best {
        Some((lag, r, xs, ys)) => Correlation {
            outcome: outcome.reference(),
            resource: resource.reference(),
            spearman: Some(r),
            pearson: pearson(&xs, &ys),
            lag,
            points: xs.len(),
            p_value: correlation_p_value(r, xs.len()).map(|p| (p * tried as f64).min(1.0)),
        },
        None => Correlation {
            outcome: outcome.reference(),
            resource: resource.reference(),
            spearman: None,
            pearson: None,
            lag: 0,
            points: zero_points,
            p_value: None,
        },
    }
}

/// The correlation table: every outcome series (latency, error rate,
/// throughput) against every resource series, in input order.
pub fn correlation_table(series: &[Series], options: &CorrelationOptions) -> Vec<Correlation> {
    let outcomes = series.iter().filter(|s| s.signal.role() == Role::Outcome);
    outcomes
        .flat_map(|o| {
            series
                .iter()
                .filter(|s| s.signal.role() == Role::Resource)
                .map(move |r| correlate(o, r, options))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signals::Signal;

    fn series(signal: Signal, v: &[f64]) -> Series {
        Series::new(signal, v.iter().map(|&x| Some(x)).collect())
    }

    #[test]
    fn ties_share_their_mean_rank() {
        assert_eq!(ranks(&[10.0, 20.0, 10.0, 30.0]), vec![1.5, 3.0, 1.5, 4.0]);
        assert_eq!(ranks(&[5.0, 5.0, 5.0]), vec![2.0, 2.0, 2.0]);
    }

    #[test]
    fn spearman_with_ties_matches_the_hand_computed_value() {
        // x ranks 1.5,1.5,3,4,5; y ranks 1,2,3,5,4 → Pearson over ranks.
        let x = [1.0, 1.0, 2.0, 3.0, 4.0];
        let y = [10.0, 20.0, 30.0, 50.0, 40.0];
        let r = spearman(&x, &y).unwrap();
        let expected = pearson(&[1.5, 1.5, 3.0, 4.0, 5.0], &[1.0, 2.0, 3.0, 5.0, 4.0]).unwrap();
        assert!((r - expected).abs() < 1e-12);
        assert!((r - 0.872_081_9).abs() < 1e-6, "{r}");
    }

    #[test]
    fn a_monotone_but_steep_relation_is_perfect_by_rank_not_by_line() {
        let x: Vec<f64> = (1..=20).map(f64::from).collect();
        let y: Vec<f64> = x.iter().map(|v| v.powi(6)).collect();
        assert_eq!(spearman(&x, &y), Some(1.0));
        assert!(pearson(&x, &y).unwrap() < 0.9);
    }

    #[test]
    fn a_constant_series_has_no_correlation() {
        assert_eq!(pearson(&[1.0, 2.0, 3.0], &[4.0, 4.0, 4.0]), None);
        assert_eq!(spearman(&[1.0, 2.0, 3.0], &[4.0, 4.0, 4.0]), None);
    }

    #[test]
    fn p_values_match_the_t_distribution() {
        // r = 0.5, n = 12: t = 1.8257, df = 10, two-sided p = 0.0979.
        let p = correlation_p_value(0.5, 12).unwrap();
        assert!((p - 0.0979).abs() < 5e-4, "{p}");
        // Odd df: r = 0.6, n = 7 (df 5): t = 1.6771, p = 0.1544.
        let p = correlation_p_value(0.6, 7).unwrap();
        assert!((p - 0.1544).abs() < 5e-4, "{p}");
        // df 1 is the Cauchy distribution: t = 1 → p = 0.5.
        let p = student_t_two_sided(1.0, 1);
        assert!((p - 0.5).abs() < 1e-12, "{p}");
        assert_eq!(correlation_p_value(0.9, 2), None);
        assert!(correlation_p_value(0.0, 50).unwrap() > 0.999);
    }

    #[test]
    fn the_best_lag_is_found_when_the_resource_moves_first() {
        // Latency follows CPU two seconds later.
        let cpu: Vec<f64> = (0..40).map(|t| ((t * 7) % 11) as f64).collect();
        let mut lat = vec![0.0, 0.0];
        lat.extend(cpu.iter().take(38).map(|c| 5.0 + 3.0 * c));
        let c = correlate(
            &series(Signal::LatencyP95, &lat),
            &series(Signal::HostCpu, &cpu),
            &CorrelationOptions::default(),
        );
        assert_eq!(c.lag, 2);
        assert!((c.spearman.unwrap() - 1.0).abs() < 1e-12);
        assert!((c.pearson.unwrap() - 1.0).abs() < 1e-12);
        assert_eq!(c.points, 38);
        assert!(c.p_value.unwrap() < 1e-6);
    }

    #[test]
    fn gaps_are_skipped_and_counted_out() {
        let mut lat: Vec<Option<f64>> = (0..30).map(|t| Some(f64::from(t))).collect();
        lat[5] = None;
        lat[6] = Some(f64::NAN);
        let cpu: Vec<Option<f64>> = (0..30)
            .map(|t| {
                if t == 10 {
                    None
                } else {
                    Some(f64::from(t) * 2.0)
                }
            })
            .collect();
        let c = correlate(
            &Series::new(Signal::LatencyP95, lat),
            &Series::new(Signal::HostCpu, cpu),
            &CorrelationOptions {
                max_lag: 0,
                min_points: 10,
            },
        );
        assert_eq!(c.points, 27);
        assert_eq!(c.spearman, Some(1.0));
    }

    #[test]
    fn too_few_points_give_no_coefficient_but_say_how_many() {
        let c = correlate(
            &series(Signal::LatencyP95, &[1.0, 2.0, 3.0, 4.0]),
            &series(Signal::HostCpu, &[1.0, 2.0, 3.0, 4.0]),
            &CorrelationOptions::default(),
        );
        assert_eq!((c.spearman, c.pearson, c.p_value), (None, None, None));
        assert_eq!(c.points, 4);
    }

    #[test]
    fn the_table_pairs_each_outcome_with_each_resource_only() {
        let v: Vec<f64> = (0..20).map(f64::from).collect();
        let all = [
            series(Signal::LatencyP95, &v),
            series(Signal::ErrorRate, &v),
            series(Signal::OfferedRate, &v),
            series(Signal::HostCpu, &v),
            series(Signal::DbPoolPending, &v),
            series(Signal::Throughput, &v),
        ];
        let t = correlation_table(&all, &CorrelationOptions::default());
        let pairs: Vec<(Signal, Signal)> = t
            .iter()
            .map(|c| (c.outcome.signal, c.resource.signal))
            .collect();
        assert_eq!(
            pairs,
            vec![
                (Signal::LatencyP95, Signal::HostCpu),
                (Signal::LatencyP95, Signal::DbPoolPending),
                (Signal::ErrorRate, Signal::HostCpu),
                (Signal::ErrorRate, Signal::DbPoolPending),
                (Signal::Throughput, Signal::HostCpu),
                (Signal::Throughput, Signal::DbPoolPending),
            ]
        );
        let json = serde_json::to_value(&t[0]).unwrap();
        assert_eq!(json["outcome"]["signal"], "latency-p95");
        assert_eq!(json["resource"]["signal"], "host-cpu");
        assert!(json["pValue"].is_number());
    }
}
