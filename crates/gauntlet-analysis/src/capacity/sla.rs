//! Capacity at the SLA: the throughput at which the SLA's latency is reached.
//!
//! Two readings, side by side. From the sweep: the steps' measured latency
//! statistic (the SLA's percentile) against the limit, interpolated between
//! the last step that held and the first that broke. Through Little's law
//! and the model: the USL predicts the mean response time R(N) = N/X(N); the
//! limit on the percentile is turned into a limit on the mean with the
//! percentile-to-mean ratio measured at the step nearest the crossing, and
//! the model gives the concurrency and throughput where the mean reaches it.

use super::sweep::Step;
use super::usl::Fit;
use serde::Serialize;

/// A latency SLA: percentile and limit.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LatencySla {
    /// The percentile, 0..100 (`p(95)` is 95; the mean is not a percentile
    /// and is given as `None`).
    pub percentile: Option<f64>,
    /// The limit, milliseconds.
    pub limit_ms: f64,
}

/// What the sweep says about the SLA.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase", tag = "kind")]
#[non_exhaustive]
pub enum FromSweep {
    /// Held at every measured step: capacity is at least the best throughput.
    HeldThroughout {
        /// The best throughput measured while it held.
        at_least: f64,
    },
    /// Broken between two steps: linear interpolation of throughput on latency.
    Crossed {
        /// Interpolated throughput at the limit.
        throughput: f64,
        /// Interpolated concurrency at the limit.
        concurrency: f64,
        /// 1-based step that last held.
        held_step: usize,
        /// 1-based step that first broke.
        broken_step: usize,
    },
    /// Broken from the first step: the SLA does not hold at any measured load.
    NeverHeld {
        /// The latency statistic at the first step, ms.
        first_ms: f64,
    },
    /// The steps carry no value of the SLA's statistic.
    NotMeasured,
}

/// Capacity at the SLA, both ways.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SlaCapacity {
    /// The SLA.
    pub sla: LatencySla,
    /// From the measured steps.
    pub from_sweep: FromSweep,
    /// Through Little's law on the fitted model: `(concurrency, throughput)`
    /// where the model's mean response time reaches the mean-equivalent
    /// limit, or `None` when it cannot be computed.
    pub from_model: Option<(f64, f64)>,
    /// The mean response time the limit corresponds to, ms (the limit times
    /// the measured mean/percentile ratio).
    pub mean_limit_ms: Option<f64>,
    /// How each figure was computed, one line each.
    pub arithmetic: Vec<String>,
    /// Warnings (a model estimate beyond the measured range).
    pub warnings: Vec<String>,
}

impl SlaCapacity {
    /// The per-instance capacity to plan with: the sweep's crossing, else
    /// the best throughput that held (a lower bound), else `None`.
    pub fn planning_capacity(&self) -> Option<f64> {
        match self.from_sweep {
            FromSweep::Crossed { throughput, .. } => Some(throughput),
            FromSweep::HeldThroughout { at_least } => Some(at_least),
            _ => None,
        }
    }
}

/// The statistic an SLA compares, for one step.
fn stat_ms(step: &Step, sla: &LatencySla) -> Option<f64> {
    match sla.percentile {
        Some(_) => step.percentile_ms,
        None => Some(step.mean_ms),
    }
}

/// Capacity at `sla` for the usable `steps` (run order) and their `fit`.
pub fn capacity_at_sla(
    steps: &[Step],
    in_flight: bool,
    fit: Option<&Fit>,
    sla: LatencySla,
) -> SlaCapacity {
    let conc = |s: &Step| if in_flight { s.in_flight } else { s.vus };
    let mut arithmetic = Vec::new();
    let mut warnings = Vec::new();
    let stats: Vec<Option<f64>> = steps.iter().map(|s| stat_ms(s, &sla)).collect();
    let name = match sla.percentile {
        Some(p) => format!("p({p})"),
        None => "avg".to_owned(),
    };
    let from_sweep = if stats.iter().all(Option::is_none) {
        FromSweep::NotMeasured
    } else {
        match stats
            .iter()
            .position(|v| v.is_some_and(|v| v >= sla.limit_ms))
        {
            None => {
                let at_least = steps.iter().map(|s| s.throughput).fold(0.0, f64::max);
                arithmetic.push(format!(
                    "sweep: {name} stayed under {} ms at every step; capacity ≥ the best measured {at_least:.2}/s",
                    sla.limit_ms
                ));
                FromSweep::HeldThroughout { at_least }
            }
            Some(0) => {
                let first_ms = stats[0].unwrap_or(f64::NAN);
                arithmetic.push(format!(
                    "sweep: {name} = {first_ms:.2} ms ≥ {} ms already at the first step",
                    sla.limit_ms
                ));
                FromSweep::NeverHeld { first_ms }
            }
            Some(b) => {
                let a = b - 1;
                let (la, lb) = (stats[a].unwrap_or(0.0), stats[b].unwrap_or(0.0));
                let t = if lb > la {
                    (sla.limit_ms - la) / (lb - la)
                } else {
                    0.0
                };
                let x = steps[a].throughput + t * (steps[b].throughput - steps[a].throughput);
                let n = conc(&steps[a]) + t * (conc(&steps[b]) - conc(&steps[a]));
                arithmetic.push(format!(
                    "sweep: {name} {la:.2} ms at step {} ({:.2}/s) → {lb:.2} ms at step {} ({:.2}/s); {} ms is {t:.3} of the way: X = {:.2} + {t:.3} × ({:.2} − {:.2}) = {x:.2}/s",
                    a + 1,
                    steps[a].throughput,
                    b + 1,
                    steps[b].throughput,
                    sla.limit_ms,
                    steps[a].throughput,
                    steps[b].throughput,
                    steps[a].throughput
                ));
                FromSweep::Crossed {
                    throughput: x,
                    concurrency: n,
                    held_step: a + 1,
                    broken_step: b + 1,
                }
            }
        }
    };

    // Mean-equivalent limit: the ratio mean/statistic at the step nearest the limit.
    let nearest = steps
        .iter()
        .zip(&stats)
        .filter_map(|(s, v)| v.map(|v| (s, v)))
        .min_by(|(_, a), (_, b)| {
            (a - sla.limit_ms)
                .abs()
                .total_cmp(&(b - sla.limit_ms).abs())
        });
    let mean_limit_ms = nearest.and_then(|(s, v)| {
        (v > 0.0).then(|| {
            let m = sla.limit_ms * s.mean_ms / v;
            if sla.percentile.is_some() {
                arithmetic.push(format!(
                    "mean-equivalent limit: {} ms × (mean {:.2} ms / {name} {v:.2} ms at {:.0} VUs) = {m:.2} ms",
                    sla.limit_ms, s.mean_ms, s.vus
                ));
            }
            m
        })
    });
    let from_model = match (fit, mean_limit_ms) {
        (Some(f), Some(r_ms)) if f.quality.good => {
            let r = r_ms / 1000.0;
            f.model.concurrency_at_latency(r).map(|n| {
                let x = f.model.throughput_at(n);
                arithmetic.push(format!(
                    "model: R(N) = (1 + σ(N−1) + κN(N−1))/λ = {r:.6} s at N = {n:.2}; Little's law X = N/R = {n:.2} / {r:.6} = {x:.2}/s"
                ));
                let max = f.max_measured();
                if n > max * super::usl::EXTRAPOLATION_FACTOR {
                    warnings.push(format!(
                        "the model's SLA point N={n:.1} is beyond the measured range (N ≤ {max:.0}): an extrapolation"
                    ));
                }
                (n, x)
            })
        }
        (Some(_), Some(_)) => {
            arithmetic.push("model: not computed, the fit is not good".to_owned());
            None
        }
        _ => None,
    };
    SlaCapacity {
        sla,
        from_sweep,
        from_model,
        mean_limit_ms,
        arithmetic,
        warnings,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(vus: f64, x: f64, p95: f64) -> Step {
        Step {
            start_s: 0.0,
            end_s: 1.0,
            vus,
            in_flight: vus,
            throughput: x,
            completed: x,
            mean_ms: p95 / 2.0,
            percentile_ms: Some(p95),
            error_rate: 0.0,
        }
    }

    const SLA: LatencySla = LatencySla {
        percentile: Some(95.0),
        limit_ms: 200.0,
    };

    #[test]
    fn the_crossing_is_interpolated_between_the_steps_around_the_limit() {
        let steps = [
            step(1.0, 10.0, 100.0),
            step(2.0, 18.0, 150.0),
            step(4.0, 30.0, 250.0),
        ];
        let c = capacity_at_sla(&steps, false, None, SLA);
        match c.from_sweep {
            FromSweep::Crossed {
                throughput,
                concurrency,
                held_step,
                broken_step,
            } => {
                assert!((throughput - 24.0).abs() < 1e-9, "{throughput}");
                assert!((concurrency - 3.0).abs() < 1e-9);
                assert_eq!((held_step, broken_step), (2, 3));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(c.planning_capacity(), Some(24.0));
        assert_eq!(c.mean_limit_ms, Some(100.0));
    }

    #[test]
    fn an_sla_held_throughout_is_a_lower_bound_and_one_never_held_gives_no_capacity() {
        let held = capacity_at_sla(
            &[step(1.0, 10.0, 50.0), step(2.0, 19.0, 60.0)],
            false,
            None,
            SLA,
        );
        assert_eq!(
            held.from_sweep,
            FromSweep::HeldThroughout { at_least: 19.0 }
        );
        let never = capacity_at_sla(&[step(1.0, 10.0, 500.0)], false, None, SLA);
        assert!(matches!(never.from_sweep, FromSweep::NeverHeld { .. }));
        assert_eq!(never.planning_capacity(), None);
    }
}
