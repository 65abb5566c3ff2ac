//! Running every scenario of a plan at its start offset, with a once-a-second
//! tick for live aggregation, threshold checks and progress.
//!
//! The tick is where per-worker measurements are merged into a snapshot (never
//! one message per sample), and where a failing `abortOnFail` threshold stops
//! the run: [`Monitor::tick`] returns [`Control::Abort`].

use crate::executor::{ScenarioState, StopControl, VuFactory, VuIds, run_scenario};
use gauntlet_plan::Plan;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::{Instant, MissedTickBehavior};

/// What the tick decides.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Control {
    /// Keep going.
    Continue,
    /// Stop now; the reason is reported.
    Abort(AbortReason),
}

/// Why a monitor stopped the run.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AbortReason {
    /// Thresholds with `abortOnFail` failed.
    Thresholds {
        /// Each failing threshold, as the verdict names it.
        failing: Vec<String>,
    },
}

impl std::fmt::Display for AbortReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AbortReason::Thresholds { failing } => write!(
                f,
                "threshold with abortOnFail failed: {}",
                failing.join("; ")
            ),
        }
    }
}

/// Called once per tick with the run's live state.
pub trait Monitor {
    /// Called every tick (and once more at the end with `last = true`).
    fn tick(&mut self, elapsed: Duration, scenarios: &[Arc<ScenarioState>], last: bool) -> Control;
}

/// How a run ended.
#[derive(Debug, Clone)]
pub struct RunOutcome {
    /// Wall-clock time from start to the last iteration's end.
    pub elapsed: Duration,
    /// Per-scenario final counters.
    pub scenarios: Vec<Arc<ScenarioState>>,
    /// Set when a monitor aborted the run.
    pub aborted: Option<AbortReason>,
    /// Set when a stop was requested from outside (signal).
    pub stopped: bool,
}

/// Run every scenario of `plan` and tick `monitor` every `tick`.
pub async fn run_plan<F: VuFactory, M: Monitor>(
    plan: Arc<Plan>,
    factory: Arc<F>,
    stop: StopControl,
    monitor: &mut M,
    tick: Duration,
) -> RunOutcome {
    let t0 = Instant::now();
    let ids = Arc::new(VuIds::default());
    let states: Vec<Arc<ScenarioState>> = plan
        .scenarios
        .iter()
        .map(|_| Arc::new(ScenarioState::default()))
        .collect();
    // Stops caused by the run itself (abort) must not look like an outside request.
    let inner = StopControl {
        graceful: stop.graceful.child_token(),
        hard: stop.hard.child_token(),
    };
    let mut tasks = tokio::task::JoinSet::new();
    for (i, state) in states.iter().enumerate() {
        let (plan, factory, ids, state, stop) = (
            plan.clone(),
            factory.clone(),
            ids.clone(),
            state.clone(),
            inner.clone(),
        );
        tasks.spawn(async move {
            let scenario = &plan.scenarios[i];
            run_scenario(scenario, i, t0, factory, ids, state, stop).await;
        });
    }
    let mut ticker = tokio::time::interval_at(t0 + tick, tick);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut aborted = None;
    loop {
        tokio::select! {
            done = tasks.join_next() => {
                if done.is_none() { break; }
            }
            _ = ticker.tick() => {
                if let Control::Abort(why) = monitor.tick(t0.elapsed(), &states, false)
                    && aborted.is_none()
                {
                    aborted = Some(why);
                    inner.graceful.cancel();
                    inner.hard.cancel();
                }
            }
        }
    }
    let elapsed = t0.elapsed();
    let _ = monitor.tick(elapsed, &states, true);
    RunOutcome {
        elapsed,
        scenarios: states,
        aborted,
        stopped: stop.graceful.is_cancelled() || stop.hard.is_cancelled(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::executor::{Iteration, IterationEnd, VirtualUser};
    use gauntlet_plan::{Overrides, parse_plan};
    use std::sync::atomic::Ordering;

    struct Vu;
    impl VirtualUser for Vu {
        async fn iterate(&mut self, _it: Iteration) -> IterationEnd {
            tokio::time::sleep(Duration::from_millis(100)).await;
            IterationEnd::Completed
        }
    }
    struct F;
    impl VuFactory for F {
        type Vu = Vu;
        fn create(&self, _id: u64, _s: usize) -> Vu {
            Vu
        }
    }

    struct Count(u32, Option<u32>);
    impl Monitor for Count {
        fn tick(&mut self, _e: Duration, _s: &[Arc<ScenarioState>], last: bool) -> Control {
            if !last {
                self.0 += 1;
            }
            match self.1 {
                Some(n) if self.0 >= n => Control::Abort(AbortReason::Thresholds {
                    failing: vec!["enough".into()],
                }),
                _ => Control::Continue,
            }
        }
    }

    fn plan() -> Arc<Plan> {
        let src = "workload: {operations: {a: GET /}}\nscenarios:\n  first: {executor: constant-vus, vus: 2, duration: 5s}\n  second: {executor: constant-arrival-rate, rate: 10, duration: 3s, preAllocatedVUs: 2, startTime: 5s}\n";
        Arc::new(
            parse_plan("p", src.as_bytes(), "p", &Overrides::default())
                .unwrap()
                .plan,
        )
    }

    #[tokio::test(start_paused = true)]
    async fn scenarios_run_at_their_offsets_and_ticks_happen() {
        let mut m = Count(0, None);
        let out = run_plan(
            plan(),
            Arc::new(F),
            StopControl::default(),
            &mut m,
            Duration::from_secs(1),
        )
        .await;
        assert_eq!(out.scenarios[0].completed.load(Ordering::Relaxed), 100);
        assert_eq!(out.scenarios[1].completed.load(Ordering::Relaxed), 30);
        // The last arrival (due at 7.9 s, 100 ms long) starts on the timer
        // tick before its instant: the run ends just before the 8th tick.
        assert_eq!(out.elapsed, Duration::from_millis(7999));
        assert_eq!(m.0, 7);
        assert!(out.aborted.is_none() && !out.stopped);
    }

    #[tokio::test(start_paused = true)]
    async fn a_monitor_abort_stops_everything() {
        let mut m = Count(0, Some(2));
        let out = run_plan(
            plan(),
            Arc::new(F),
            StopControl::default(),
            &mut m,
            Duration::from_secs(1),
        )
        .await;
        assert_eq!(
            out.aborted,
            Some(AbortReason::Thresholds {
                failing: vec!["enough".into()]
            })
        );
        assert_eq!(out.elapsed, Duration::from_secs(2));
        assert!(!out.scenarios[1].started.load(Ordering::Relaxed));
        assert!(!out.stopped);
    }
}
