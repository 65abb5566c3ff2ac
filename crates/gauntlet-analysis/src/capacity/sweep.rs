//! From a saved run to sweep points: one point per plateau of a stepped
//! ramping-VUs run (a breakpoint or stress sweep).
//!
//! A plateau is a run of consecutive timeline intervals over which the VU
//! count stayed the same (the `vus` gauge's min and max equal). The first
//! intervals of each plateau are its warm-up (connections opening, queues
//! filling) and are left out. Of the rest, merged exactly, a point takes:
//! throughput = completed requests (responses, `http_req_duration` samples)
//! per second; concurrency = the VU count, or the requests in flight by
//! Little's law, N = X·R with R the mean response time; the step's error
//! share and the latency statistic its SLA names.
//!
//! A step whose error share exceeds the allowed one ends the sweep: what
//! a failing system serves is not its capacity, and fitting past it would
//! flatter the model. The steps before it are kept and the cut is reported.

use super::usl::{MIN_POINTS, Point};
use gauntlet_metrics::{Latency, Registry, Snapshot, Stat, TagFilter, TagInterner, Timeline};
use serde::Serialize;

/// Which concurrency the points use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConcurrencyFrom {
    /// VUs when they are busy all the time, else requests in flight: VUs
    /// with think time (or a slow client) are not concurrent requests.
    Auto,
    /// The plateau's VU count.
    Vus,
    /// Requests in flight by Little's law, X·R.
    InFlight,
}

/// How a sweep is read.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SweepOptions {
    /// Seconds at the start of each plateau left out as warm-up.
    pub warmup_secs: f64,
    /// Concurrency source.
    pub concurrency: ConcurrencyFrom,
    /// The error share (0..1) above which a step ends the sweep.
    pub max_error_rate: f64,
    /// The latency percentile to report per step (the SLA's), if any.
    pub percentile: Option<f64>,
}

impl Default for SweepOptions {
    fn default() -> Self {
        SweepOptions {
            warmup_secs: 1.0,
            concurrency: ConcurrencyFrom::Auto,
            max_error_rate: 0.05,
            percentile: None,
        }
    }
}

/// In-flight requests below this share of the VUs mean the VUs were idle
/// part of the time (think time), so `Auto` uses in-flight requests.
pub const BUSY_SHARE: f64 = 0.9;

/// One plateau, measured.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Step {
    /// Seconds since the start of the run where the measured part begins.
    pub start_s: f64,
    /// Where it ends.
    pub end_s: f64,
    /// The VU count of the plateau.
    pub vus: f64,
    /// Requests in flight by Little's law (X·R).
    pub in_flight: f64,
    /// Completed requests per second.
    pub throughput: f64,
    /// Completed requests in the measured part.
    pub completed: f64,
    /// Mean response time, milliseconds.
    pub mean_ms: f64,
    /// The requested percentile of the response time, milliseconds.
    pub percentile_ms: Option<f64>,
    /// Share of requests that failed (`http_req_failed`), 0..1.
    pub error_rate: f64,
}

/// The points of a sweep and what was left out.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Sweep {
    /// Every plateau found, in run order, including any past the cut.
    pub steps: Vec<Step>,
    /// How many of `steps` are used for the fit (those before the cut).
    pub usable: usize,
    /// Whether concurrency is requests in flight (else VUs).
    pub in_flight: bool,
    /// Why the sweep was cut, when it was.
    pub cut: Option<String>,
    /// Notes on how it was read (concurrency choice, warm-up).
    pub notes: Vec<String>,
}

impl Sweep {
    /// The usable steps as fit points.
    pub fn points(&self) -> Vec<Point> {
        self.steps[..self.usable]
            .iter()
            .map(|s| Point {
                concurrency: if self.in_flight { s.in_flight } else { s.vus },
                throughput: s.throughput,
            })
            .collect()
    }
}

/// Why a result has no usable sweep.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum SweepError {
    /// No plateau of constant VUs long enough to measure after warm-up.
    #[error(
        "no plateau of constant VUs longer than the {warmup_secs}s warm-up was found: `gauntlet capacity` reads stepped ramping-vus sweeps (stages that jump, `duration: 0s`, then hold); for other runs fit your own points with `gauntlet capacity fit --points FILE.csv`"
    )]
    NoPlateaus {
        /// The warm-up that was left out of each.
        warmup_secs: f64,
    },
    /// Errors cut the sweep before enough steps were measured.
    #[error("{cut}; only {usable} step(s) before it, a fit needs {MIN_POINTS}")]
    CutShort {
        /// Why and where it was cut.
        cut: String,
        /// Steps before the cut.
        usable: usize,
    },
}

/// One interval's VU gauge: its width and whether the count held.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Reading {
    /// Interval start, seconds.
    pub start_s: f64,
    /// Interval end, seconds.
    pub end_s: f64,
    /// Lowest VU count in the interval.
    pub vus_min: f64,
    /// Highest VU count in the interval.
    pub vus_max: f64,
}

/// Index ranges of `readings` that form plateaus, warm-up removed.
pub fn plateaus(readings: &[Reading], warmup_secs: f64) -> Vec<std::ops::Range<usize>> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < readings.len() {
        let r = readings[i];
        if r.vus_min != r.vus_max || r.vus_max <= 0.0 {
            i += 1;
            continue;
        }
        let mut j = i + 1;
        while j < readings.len()
            && readings[j].vus_min == r.vus_max
            && readings[j].vus_max == r.vus_max
        {
            j += 1;
        }
        // Drop whole intervals until the warm-up is covered.
        let mut k = i;
        while k < j && readings[k].start_s < r.start_s + warmup_secs - 1e-9 {
            k += 1;
        }
        if k < j {
            out.push(k..j);
        }
        i = j;
    }
    out
}

/// Read the sweep of a run's timeline.
pub fn from_timeline(
    timeline: &Timeline,
    registry: &Registry,
    interner: &TagInterner,
    opts: &SweepOptions,
) -> Result<Sweep, SweepError> {
    let none = TagFilter::default();
    let intervals: Vec<Snapshot> = timeline
        .intervals()
        .iter()
        .map(|s| s.into_owned())
        .collect();
    let vus = registry.get("vus");
    let readings: Vec<Reading> = intervals
        .iter()
        .map(|s| {
            let q = |stat| {
                vus.and_then(|id| s.query(registry, interner, id, &none, stat, Latency::Corrected))
            };
            Reading {
                start_s: s.start_ms as f64 / 1000.0,
                end_s: s.end_ms as f64 / 1000.0,
                vus_min: q(Stat::Min).unwrap_or(0.0),
                vus_max: q(Stat::Max).unwrap_or(0.0),
            }
        })
        .collect();
    let mut steps = Vec::new();
    for range in plateaus(&readings, opts.warmup_secs) {
        let mut merged = intervals[range.start].clone();
        for s in &intervals[range.start + 1..range.end] {
            merged.merge(s);
        }
        if let Some(step) = measure(
            &merged,
            readings[range.start].vus_max,
            registry,
            interner,
            opts,
        ) {
            steps.push(step);
        }
    }
    assemble(steps, opts)
}

/// The plateau's figures, or `None` when nothing completed in it.
fn measure(
    snap: &Snapshot,
    vus: f64,
    registry: &Registry,
    interner: &TagInterner,
    opts: &SweepOptions,
) -> Option<Step> {
    let none = TagFilter::default();
    let q = |name: &str, stat: Stat| {
        let id = registry.get(name)?;
        snap.query(registry, interner, id, &none, stat, Latency::Corrected)
    };
    let secs = snap.window_secs();
    let completed = q("http_req_duration", Stat::Count)?;
    if completed <= 0.0 || secs <= 0.0 {
        return None;
    }
    let mean_ms = q("http_req_duration", Stat::Avg)? / 1000.0;
    let throughput = completed / secs;
    let percentile_ms = opts
        .percentile
        .and_then(|p| Stat::percentile(p).ok())
        .and_then(|stat| q("http_req_duration", stat))
        .map(|us| us / 1000.0);
    Some(Step {
        start_s: snap.start_ms as f64 / 1000.0,
        end_s: snap.end_ms as f64 / 1000.0,
        vus,
        in_flight: throughput * mean_ms / 1000.0,
        throughput,
        completed,
        mean_ms,
        percentile_ms,
        error_rate: q("http_req_failed", Stat::Rate).unwrap_or(0.0),
    })
}

/// Cut at the first failing step, choose the concurrency, check the count.
pub fn assemble(steps: Vec<Step>, opts: &SweepOptions) -> Result<Sweep, SweepError> {
    if steps.is_empty() {
        return Err(SweepError::NoPlateaus {
            warmup_secs: opts.warmup_secs,
        });
    }
    let mut usable = steps.len();
    let mut cut = None;
    if let Some((i, s)) = steps
        .iter()
        .enumerate()
        .find(|(_, s)| s.error_rate > opts.max_error_rate)
    {
        usable = i;
        cut = Some(format!(
            "the sweep was cut short by errors at step {} ({} VUs): {:.2} % of requests failed, above the {:.2} % allowed",
            i + 1,
            s.vus,
            s.error_rate * 100.0,
            opts.max_error_rate * 100.0
        ));
    }
    let mut notes = vec![format!(
        "{} plateau(s); the first {}s of each left out as warm-up",
        steps.len(),
        opts.warmup_secs
    )];
    let busy = steps[..usable]
        .iter()
        .map(|s| s.in_flight / s.vus)
        .fold(f64::INFINITY, f64::min);
    let in_flight = match opts.concurrency {
        ConcurrencyFrom::Vus => false,
        ConcurrencyFrom::InFlight => true,
        ConcurrencyFrom::Auto => busy < BUSY_SHARE,
    };
    if usable > 0 {
        notes.push(if in_flight {
            format!(
                "concurrency = requests in flight by Little's law (X·R): at some step only {:.0} % of the VUs had a request in flight (think time or client overhead)",
                busy * 100.0
            )
        } else {
            format!(
                "concurrency = VUs (requests in flight by Little's law were at least {:.0} % of them at every step)",
                busy.min(9.99) * 100.0
            )
        });
    }
    if usable < MIN_POINTS
        && let Some(cut) = cut
    {
        return Err(SweepError::CutShort { cut, usable });
    }
    Ok(Sweep {
        steps,
        usable,
        in_flight,
        cut,
        notes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reading(start: f64, min: f64, max: f64) -> Reading {
        Reading {
            start_s: start,
            end_s: start + 1.0,
            vus_min: min,
            vus_max: max,
        }
    }

    #[test]
    fn plateaus_are_constant_vus_runs_without_their_warm_up() {
        let r = [
            reading(0.0, 1.0, 1.0),
            reading(1.0, 1.0, 1.0),
            reading(2.0, 1.0, 1.0),
            reading(3.0, 1.0, 4.0), // the jump
            reading(4.0, 4.0, 4.0),
            reading(5.0, 4.0, 4.0),
            reading(6.0, 4.0, 8.0),
            reading(7.0, 8.0, 8.0), // too short once warm-up is dropped
        ];
        assert_eq!(plateaus(&r, 1.0), vec![1..3, 5..6]);
        assert_eq!(plateaus(&r, 0.0), vec![0..3, 4..6, 7..8]);
    }

    fn step(vus: f64, x: f64, err: f64) -> Step {
        Step {
            start_s: 0.0,
            end_s: 1.0,
            vus,
            in_flight: vus * 0.99,
            throughput: x,
            completed: x,
            mean_ms: 1000.0 * vus * 0.99 / x,
            percentile_ms: None,
            error_rate: err,
        }
    }

    #[test]
    fn a_failing_step_ends_the_sweep_and_is_reported() {
        let steps = vec![
            step(1.0, 10.0, 0.0),
            step(2.0, 19.0, 0.0),
            step(3.0, 27.0, 0.0),
            step(4.0, 34.0, 0.0),
            step(5.0, 20.0, 0.4),
            step(6.0, 40.0, 0.0),
        ];
        let s = assemble(steps, &SweepOptions::default()).unwrap();
        assert_eq!(s.usable, 4);
        assert_eq!(s.points().len(), 4);
        assert!(
            s.cut
                .as_deref()
                .unwrap()
                .contains("cut short by errors at step 5")
        );
    }

    #[test]
    fn a_sweep_cut_before_enough_steps_is_an_error() {
        let steps = vec![
            step(1.0, 10.0, 0.0),
            step(2.0, 19.0, 0.0),
            step(4.0, 5.0, 0.9),
            step(8.0, 5.0, 0.9),
        ];
        let e = assemble(steps, &SweepOptions::default()).unwrap_err();
        assert!(matches!(e, SweepError::CutShort { usable: 2, .. }), "{e:?}");
        assert!(
            e.to_string().contains("cut short by errors at step 3"),
            "{e}"
        );
    }

    #[test]
    fn idle_vus_switch_concurrency_to_requests_in_flight() {
        let mut steps = vec![step(10.0, 10.0, 0.0), step(20.0, 19.0, 0.0)];
        steps[1].in_flight = 5.0;
        let s = assemble(steps.clone(), &SweepOptions::default()).unwrap();
        assert!(s.in_flight);
        assert_eq!(s.points()[1].concurrency, 5.0);
        let opts = SweepOptions {
            concurrency: ConcurrencyFrom::Vus,
            ..SweepOptions::default()
        };
        assert!(!assemble(steps, &opts).unwrap().in_flight);
    }
}
