//! Executors as pure configuration: k6's six, with what each needs over time.
//!
//! An [`Executor`] knows its VU or arrival-rate timeline without running
//! anything (k6's `ExecutorConfig` idea): `gauntlet plan` prints it, the
//! engine sizes its VU pool from it, and validation checks it.

use std::time::Duration;

/// One ramp stage: move linearly to `target` over `duration`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stage {
    /// Length of the stage.
    pub duration: Duration,
    /// VUs (ramping-vus) or iterations per time unit (ramping-arrival-rate) at its end.
    pub target: u64,
}

/// k6's executors with k6's option names and semantics.
///
/// Deliberately exhaustive: every `match` over it must name a new executor
/// (a wildcard arm once made an unhandled kind silently run nothing).
#[derive(Debug, Clone, PartialEq)]
pub enum Executor {
    /// `shared-iterations`: `vus` share `iterations` in total.
    SharedIterations {
        /// VUs.
        vus: u64,
        /// Total iterations.
        iterations: u64,
        /// Hard stop.
        max_duration: Duration,
    },
    /// `per-vu-iterations`: each of `vus` runs `iterations`.
    PerVuIterations {
        /// VUs.
        vus: u64,
        /// Iterations per VU.
        iterations: u64,
        /// Hard stop.
        max_duration: Duration,
    },
    /// `constant-vus`: `vus` loop for `duration`.
    ConstantVus {
        /// VUs.
        vus: u64,
        /// Length.
        duration: Duration,
    },
    /// `ramping-vus`: VU count follows `stages` from `start_vus`.
    RampingVus {
        /// VUs at the start.
        start_vus: u64,
        /// Stages.
        stages: Vec<Stage>,
        /// Time a VU being ramped down gets to finish its iteration.
        graceful_ramp_down: Duration,
    },
    /// `constant-arrival-rate`: start `rate` iterations per `time_unit`.
    ConstantArrivalRate {
        /// Iterations per time unit.
        rate: u64,
        /// Time unit.
        time_unit: Duration,
        /// Length.
        duration: Duration,
        /// VUs created up front.
        pre_allocated_vus: u64,
        /// VUs allowed at most.
        max_vus: u64,
    },
    /// `ramping-arrival-rate`: the rate follows `stages` from `start_rate`.
    RampingArrivalRate {
        /// Rate at the start.
        start_rate: u64,
        /// Time unit of every rate.
        time_unit: Duration,
        /// Stages (targets are rates).
        stages: Vec<Stage>,
        /// VUs created up front.
        pre_allocated_vus: u64,
        /// VUs allowed at most.
        max_vus: u64,
    },
}

/// The executor names as k6 spells them.
pub const EXECUTOR_NAMES: &[&str] = &[
    "shared-iterations",
    "per-vu-iterations",
    "constant-vus",
    "ramping-vus",
    "constant-arrival-rate",
    "ramping-arrival-rate",
];

/// What a scenario's load looks like at one moment.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Load {
    /// Closed model: this many VUs.
    Vus(f64),
    /// Open model: this many iterations per second.
    Rate(f64),
}

impl Executor {
    /// k6 name.
    pub fn name(&self) -> &'static str {
        match self {
            Executor::SharedIterations { .. } => "shared-iterations",
            Executor::PerVuIterations { .. } => "per-vu-iterations",
            Executor::ConstantVus { .. } => "constant-vus",
            Executor::RampingVus { .. } => "ramping-vus",
            Executor::ConstantArrivalRate { .. } => "constant-arrival-rate",
            Executor::RampingArrivalRate { .. } => "ramping-arrival-rate",
        }
    }

    /// Whether iterations arrive on a clock (open model) rather than when a
    /// VU is free (closed model). Open-model latency is measured from the
    /// intended start (coordinated-omission correct).
    pub fn is_open_model(&self) -> bool {
        matches!(
            self,
            Executor::ConstantArrivalRate { .. } | Executor::RampingArrivalRate { .. }
        )
    }

    /// Planned length before graceful stops. Iteration-bound executors report
    /// their `maxDuration` (they may finish sooner).
    pub fn planned_duration(&self) -> Duration {
        match self {
            Executor::SharedIterations { max_duration, .. }
            | Executor::PerVuIterations { max_duration, .. } => *max_duration,
            Executor::ConstantVus { duration, .. }
            | Executor::ConstantArrivalRate { duration, .. } => *duration,
            Executor::RampingVus { stages, .. } | Executor::RampingArrivalRate { stages, .. } => {
                stages.iter().map(|s| s.duration).sum()
            }
        }
    }

    /// Longest possible length, including ramp-down grace.
    pub fn max_duration(&self) -> Duration {
        match self {
            Executor::RampingVus {
                graceful_ramp_down, ..
            } => self.planned_duration() + *graceful_ramp_down,
            _ => self.planned_duration(),
        }
    }

    /// Stage boundaries (for timelines).
    pub(crate) fn stages_for_timeline(&self) -> Vec<Duration> {
        match self {
            Executor::RampingVus { stages, .. } | Executor::RampingArrivalRate { stages, .. } => {
                stages.iter().map(|s| s.duration).collect()
            }
            _ => vec![self.planned_duration()],
        }
    }

    /// Most VUs this executor can use at once: the VU pool it needs.
    pub fn max_vus(&self) -> u64 {
        match self {
            Executor::SharedIterations {
                vus, iterations, ..
            } => (*vus).min(*iterations),
            Executor::PerVuIterations { vus, .. } | Executor::ConstantVus { vus, .. } => *vus,
            Executor::RampingVus {
                start_vus, stages, ..
            } => stages
                .iter()
                .map(|s| s.target)
                .chain([*start_vus])
                .max()
                .unwrap_or(0),
            Executor::ConstantArrivalRate { max_vus, .. }
            | Executor::RampingArrivalRate { max_vus, .. } => *max_vus,
        }
    }

    /// VUs created before the scenario starts.
    pub fn initial_vus(&self) -> u64 {
        match self {
            Executor::ConstantArrivalRate {
                pre_allocated_vus, ..
            }
            | Executor::RampingArrivalRate {
                pre_allocated_vus, ..
            } => *pre_allocated_vus,
            other => other.max_vus(),
        }
    }

    /// Planned load `t` after the scenario's start (linear interpolation
    /// within stages, as k6 does), or `None` after it ends.
    pub fn load_at(&self, t: Duration) -> Option<Load> {
        let per_sec = |rate: f64, unit: Duration| rate / unit.as_secs_f64().max(1e-9);
        match self {
            Executor::SharedIterations {
                vus,
                iterations,
                max_duration,
            } => (t < *max_duration).then(|| Load::Vus((*vus).min(*iterations) as f64)),
            Executor::PerVuIterations {
                vus, max_duration, ..
            } => (t < *max_duration).then_some(Load::Vus(*vus as f64)),
            Executor::ConstantVus { vus, duration } => {
                (t < *duration).then_some(Load::Vus(*vus as f64))
            }
            Executor::ConstantArrivalRate {
                rate,
                time_unit,
                duration,
                ..
            } => (t < *duration).then(|| Load::Rate(per_sec(*rate as f64, *time_unit))),
            Executor::RampingVus {
                start_vus, stages, ..
            } => ramp(*start_vus, stages, t).map(Load::Vus),
            Executor::RampingArrivalRate {
                start_rate,
                time_unit,
                stages,
                ..
            } => ramp(*start_rate, stages, t).map(|r| Load::Rate(per_sec(r, *time_unit))),
        }
    }

    /// Total iterations the arrival-rate executors are expected to start
    /// (the integral of the rate), or the fixed count of iteration executors.
    pub fn expected_iterations(&self) -> Option<f64> {
        match self {
            Executor::SharedIterations { iterations, .. } => Some(*iterations as f64),
            Executor::PerVuIterations {
                vus, iterations, ..
            } => Some((*vus * *iterations) as f64),
            Executor::ConstantArrivalRate {
                rate,
                time_unit,
                duration,
                ..
            } => Some(*rate as f64 * duration.as_secs_f64() / time_unit.as_secs_f64()),
            Executor::RampingArrivalRate {
                start_rate,
                time_unit,
                stages,
                ..
            } => {
                let mut from = *start_rate as f64;
                let mut total = 0.0;
                for s in stages {
                    total += (from + s.target as f64) / 2.0 * s.duration.as_secs_f64();
                    from = s.target as f64;
                }
                Some(total / time_unit.as_secs_f64())
            }
            _ => None,
        }
    }
}

fn ramp(start: u64, stages: &[Stage], t: Duration) -> Option<f64> {
    let mut from = start as f64;
    let mut begin = Duration::ZERO;
    for s in stages {
        let end = begin + s.duration;
        if t < end {
            let frac = if s.duration.is_zero() {
                1.0
            } else {
                (t - begin).as_secs_f64() / s.duration.as_secs_f64()
            };
            return Some(from + (s.target as f64 - from) * frac);
        }
        from = s.target as f64;
        begin = end;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn ramping_vus_interpolates() {
        let e = Executor::RampingVus {
            start_vus: 0,
            stages: vec![
                Stage {
                    duration: secs(10),
                    target: 10,
                },
                Stage {
                    duration: secs(10),
                    target: 10,
                },
                Stage {
                    duration: secs(10),
                    target: 0,
                },
            ],
            graceful_ramp_down: secs(30),
        };
        assert_eq!(e.load_at(secs(5)), Some(Load::Vus(5.0)));
        assert_eq!(e.load_at(secs(15)), Some(Load::Vus(10.0)));
        assert_eq!(e.load_at(secs(25)), Some(Load::Vus(5.0)));
        assert_eq!(e.load_at(secs(30)), None);
        assert_eq!(e.max_vus(), 10);
        assert_eq!(e.planned_duration(), secs(30));
        assert_eq!(e.max_duration(), secs(60));
    }

    #[test]
    fn arrival_rate_in_per_second() {
        let e = Executor::ConstantArrivalRate {
            rate: 30,
            time_unit: secs(60),
            duration: secs(120),
            pre_allocated_vus: 2,
            max_vus: 5,
        };
        assert_eq!(e.load_at(secs(1)), Some(Load::Rate(0.5)));
        assert_eq!(e.expected_iterations(), Some(60.0));
        assert_eq!(e.initial_vus(), 2);
        assert!(e.is_open_model());
        let r = Executor::RampingArrivalRate {
            start_rate: 0,
            time_unit: secs(1),
            stages: vec![Stage {
                duration: secs(10),
                target: 100,
            }],
            pre_allocated_vus: 10,
            max_vus: 100,
        };
        assert_eq!(r.expected_iterations(), Some(500.0));
    }

    #[test]
    fn shared_iterations_needs_no_more_vus_than_iterations() {
        let e = Executor::SharedIterations {
            vus: 10,
            iterations: 3,
            max_duration: secs(600),
        };
        assert_eq!(e.max_vus(), 3);
    }
}
