//! Pure pacing: when is the n-th thing due?
//!
//! Open-model executors start iterations on a clock, not when a VU is free.
//! The clock is a pure function of the plan ([`ArrivalPacer::due`]): the n-th
//! iteration is due when the integral of the rate reaches n. Nothing here
//! sleeps or reads a clock, so it is unit-tested exactly, and the intended
//! start it computes travels with every result (coordinated-omission
//! correction measures latency from it).
//!
//! Closed-model ramps get the same treatment: [`vu_changes`] lists the exact
//! moments the VU count changes.

use gauntlet_plan::Stage;
use std::time::Duration;

/// Iterations per second over time, piecewise linear.
#[derive(Debug, Clone)]
pub struct ArrivalPacer {
    /// Segments: (start offset in seconds, length in seconds, rate at start, rate at end) in iterations/s.
    segments: Vec<(f64, f64, f64, f64)>,
    /// Cumulative iterations at the start of each segment.
    cumulative: Vec<f64>,
    /// Whole iterations the schedule starts ([`ArrivalPacer::total`]),
    /// computed once: [`ArrivalPacer::due`] runs for every arrival.
    count: u64,
    end: f64,
}

impl ArrivalPacer {
    /// A constant rate of `rate` per `time_unit` for `duration`.
    pub fn constant(rate: u64, time_unit: Duration, duration: Duration) -> ArrivalPacer {
        let r = rate as f64 / time_unit.as_secs_f64().max(1e-9);
        ArrivalPacer::from_segments(vec![(0.0, duration.as_secs_f64(), r, r)])
    }

    /// k6's ramping-arrival-rate: linear ramps between stage targets, from `start_rate`.
    pub fn ramping(start_rate: u64, time_unit: Duration, stages: &[Stage]) -> ArrivalPacer {
        let unit = time_unit.as_secs_f64().max(1e-9);
        let mut from = start_rate as f64 / unit;
        let mut t = 0.0;
        let mut segs = Vec::with_capacity(stages.len());
        for s in stages {
            let to = s.target as f64 / unit;
            let len = s.duration.as_secs_f64();
            segs.push((t, len, from, to));
            t += len;
            from = to;
        }
        ArrivalPacer::from_segments(segs)
    }

    fn from_segments(segments: Vec<(f64, f64, f64, f64)>) -> ArrivalPacer {
        let mut cumulative = Vec::with_capacity(segments.len());
        let mut total = 0.0;
        for &(_, len, a, b) in &segments {
            cumulative.push(total);
            total += (a + b) / 2.0 * len;
        }
        let end = segments.last().map(|s| s.0 + s.1).unwrap_or(0.0);
        ArrivalPacer {
            segments,
            cumulative,
            // Guard float noise: 250.0000000001 -> 250.
            count: (total + 1e-9).floor() as u64,
            end,
        }
    }

    /// Total iterations the schedule starts (rounded down, as whole iterations).
    pub fn total(&self) -> u64 {
        self.count
    }

    /// Length of the schedule.
    pub fn duration(&self) -> Duration {
        Duration::from_secs_f64(self.end)
    }

    /// Offset from the scenario start at which iteration `n` (0-based) is due,
    /// or `None` when the schedule has fewer iterations. Iteration `n` is due
    /// when the integral of the rate reaches `n` (so the first starts at 0,
    /// like k6, and a 10/s rate spaces them 100 ms apart).
    pub fn due(&self, n: u64) -> Option<Duration> {
        let target = n as f64;
        if n >= self.count {
            return None;
        }
        // Find the segment whose cumulative range contains target (a
        // constant-arrival-rate schedule has one: no search).
        let idx = if self.segments.len() == 1 {
            0
        } else {
            self.segment_of(target)
        };
        let (start, len, a, b) = self.segments[idx];
        let need = target - self.cumulative[idx];
        // Solve a*t + (b-a)/(2 len) * t^2 = need for t in [0, len].
        let k = if len > 0.0 {
            (b - a) / (2.0 * len)
        } else {
            0.0
        };
        let t = if k.abs() < 1e-12 {
            if a <= 0.0 { return None } else { need / a }
        } else {
            let disc = a * a + 4.0 * k * need;
            (-a + disc.max(0.0).sqrt()) / (2.0 * k)
        };
        Some(Duration::from_secs_f64(
            (start + t.clamp(0.0, len)).max(0.0),
        ))
    }

    /// The segment whose cumulative range contains `target`.
    fn segment_of(&self, target: f64) -> usize {
        match self.cumulative.binary_search_by(|c| c.total_cmp(&target)) {
            Ok(i) => {
                // Several segments may start at the same cumulative count (rate 0 stretches); take the last one with positive rate.
                let mut j = i;
                while j + 1 < self.cumulative.len() && self.cumulative[j + 1] <= target {
                    j += 1;
                }
                j
            }
            Err(i) => i.saturating_sub(1),
        }
    }
}

/// For a ramping-vus executor: every moment the target VU count changes,
/// as (offset, new count), starting with (0, start_vus). Within a linear
/// ramp, the count steps each time the line reaches a whole number, so
/// 0→10 VUs over 10 s adds one VU per second and 10→0 over 10 s removes one
/// per second, the last at the stage's end.
pub fn vu_changes(start_vus: u64, stages: &[Stage]) -> Vec<(Duration, u64)> {
    let mut out = vec![(Duration::ZERO, start_vus)];
    let mut from = start_vus;
    let mut t0 = Duration::ZERO;
    for s in stages {
        let to = s.target;
        if s.duration.is_zero() {
            if to != from {
                out.push((t0, to));
            }
        } else if to > from {
            for v in from + 1..=to {
                let frac = (v - from) as f64 / (to - from) as f64;
                out.push((t0 + s.duration.mul_f64(frac), v));
            }
        } else if to < from {
            // Going down, the count is the line rounded up: it reaches v when
            // the line does, so the last VU leaves exactly at the stage's end.
            for v in (to..from).rev() {
                let frac = (from - v) as f64 / (from - to) as f64;
                out.push((t0 + s.duration.mul_f64(frac), v));
            }
        }
        t0 += s.duration;
        from = to;
    }
    // Collapse changes at the same instant to the last value.
    let mut collapsed: Vec<(Duration, u64)> = Vec::with_capacity(out.len());
    for (t, v) in out {
        match collapsed.last_mut() {
            Some(last) if last.0 == t => last.1 = v,
            _ => collapsed.push((t, v)),
        }
    }
    collapsed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn constant_50_per_second_for_5s_is_250() {
        let p = ArrivalPacer::constant(50, secs(1), secs(5));
        assert_eq!(p.total(), 250);
        assert_eq!(p.due(0), Some(Duration::ZERO));
        assert_eq!(p.due(1), Some(Duration::from_millis(20)));
        assert!(p.due(249).unwrap() < secs(5));
        assert_eq!(p.due(250), None);
    }

    #[test]
    fn time_unit_scales_the_rate() {
        let p = ArrivalPacer::constant(30, secs(60), secs(120));
        assert_eq!(p.total(), 60);
        assert_eq!(p.due(1), Some(secs(2)));
    }

    #[test]
    fn ramp_from_zero_follows_the_integral() {
        // 0 → 100/s over 10 s: 500 iterations; n-th at t = sqrt(2n/10).
        let p = ArrivalPacer::ramping(
            0,
            secs(1),
            &[Stage {
                duration: secs(10),
                target: 100,
            }],
        );
        assert_eq!(p.total(), 500);
        let t = p.due(125).unwrap().as_secs_f64();
        assert!((t - 5.0).abs() < 1e-6, "{t}");
        // Monotonic.
        let mut last = Duration::ZERO;
        for n in 0..500 {
            let d = p.due(n).unwrap();
            assert!(d >= last);
            last = d;
        }
    }

    #[test]
    fn ramp_with_hold_and_zero_stretch() {
        let p = ArrivalPacer::ramping(
            10,
            secs(1),
            &[
                Stage {
                    duration: secs(2),
                    target: 10,
                },
                Stage {
                    duration: secs(2),
                    target: 0,
                },
                Stage {
                    duration: secs(2),
                    target: 0,
                },
                Stage {
                    duration: secs(2),
                    target: 20,
                },
            ],
        );
        // 20 + 10 + 0 + 20 = 50
        assert_eq!(p.total(), 50);
        // The 31st iteration (n=30) comes in the last ramp, after the idle stretch.
        assert!(p.due(30).unwrap() >= secs(6), "{:?}", p.due(30));
    }

    #[test]
    fn vu_steps_up_and_down() {
        let ch = vu_changes(
            0,
            &[
                Stage {
                    duration: secs(10),
                    target: 10,
                },
                Stage {
                    duration: secs(5),
                    target: 10,
                },
                Stage {
                    duration: secs(10),
                    target: 0,
                },
            ],
        );
        assert_eq!(ch[0], (Duration::ZERO, 0));
        assert_eq!(ch[1], (secs(1), 1));
        assert_eq!(ch[10], (secs(10), 10));
        // Ramp down: one VU leaves per second, the last at 25 s.
        assert_eq!(ch[11], (secs(16), 9));
        assert_eq!(ch.last().copied(), Some((secs(25), 0)));
    }
}
