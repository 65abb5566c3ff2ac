//! Executor tests in virtual time (`tokio::time::pause`): exact, instant, no
//! flakes. Those of the arrival pacer's microsecond timer run in real time, as
//! it reads the real clock; they assert bounds that lateness cannot break.

use super::*;
use gauntlet_plan::{Stage, TestType};
use std::sync::Mutex;

#[derive(Default)]
struct Log {
    /// (vu id, intended start offset, actual start offset) per started iteration.
    starts: Mutex<Vec<(u64, Duration, Duration)>>,
}

struct FakeVu {
    id: u64,
    work: Duration,
    log: Arc<Log>,
    t0: Instant,
}

impl VirtualUser for FakeVu {
    async fn iterate(&mut self, it: Iteration) -> IterationEnd {
        let now = Instant::now();
        self.log
            .starts
            .lock()
            .unwrap()
            .push((self.id, it.intended_start - self.t0, now - self.t0));
        tokio::time::sleep(self.work).await;
        IterationEnd::Completed
    }
}

struct Factory {
    work: Duration,
    log: Arc<Log>,
    t0: Instant,
}

impl VuFactory for Factory {
    type Vu = FakeVu;
    fn create(&self, id: u64, _scenario: usize) -> FakeVu {
        FakeVu {
            id,
            work: self.work,
            log: self.log.clone(),
            t0: self.t0,
        }
    }
}

fn scenario(executor: Executor, graceful_stop: Duration) -> Scenario {
    Scenario {
        name: "s".into(),
        executor,
        start_time: Duration::ZERO,
        graceful_stop,
        mix: vec![(0, 1)],
        tags: vec![],
        env: vec![],
        test_type: Some(TestType::Load),
    }
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

struct Outcome {
    log: Arc<Log>,
    state: Arc<ScenarioState>,
    elapsed: Duration,
}

async fn run(executor: Executor, work: Duration, graceful: Duration, stop: StopControl) -> Outcome {
    let t0 = Instant::now();
    let log = Arc::new(Log::default());
    let factory = Arc::new(Factory {
        work,
        log: log.clone(),
        t0,
    });
    let state = Arc::new(ScenarioState::default());
    let s = scenario(executor, graceful);
    run_scenario(
        &s,
        0,
        t0,
        factory,
        Arc::new(VuIds::default()),
        state.clone(),
        stop,
    )
    .await;
    Outcome {
        log,
        state,
        elapsed: Instant::now() - t0,
    }
}

fn completed(o: &Outcome) -> u64 {
    o.state.completed.load(Ordering::Relaxed)
}

#[tokio::test(start_paused = true)]
async fn constant_arrival_rate_50_per_second_for_5s_starts_250() {
    let o = run(
        Executor::ConstantArrivalRate {
            rate: 50,
            time_unit: secs(1),
            duration: secs(5),
            pre_allocated_vus: 5,
            max_vus: 20,
        },
        Duration::from_millis(30),
        secs(30),
        StopControl::default(),
    )
    .await;
    let starts = o.log.starts.lock().unwrap();
    assert!((249..=251).contains(&starts.len()), "{}", starts.len());
    assert_eq!(o.state.dropped.load(Ordering::Relaxed), 0);
    // Spaced 20 ms apart, started on time (on the timer tick before their
    // instant, never after it), intended start travelling with them.
    for (i, (_, intended, actual)) in starts.iter().enumerate() {
        assert_eq!(*intended, Duration::from_millis(20 * i as u64));
        assert!(*actual <= *intended, "late: {actual:?} for {intended:?}");
        assert!(*intended - *actual <= Duration::from_millis(1));
    }
    // 30 ms iterations at 50/s need 2 VUs at a time: the pool never grew past what was needed.
    assert!(o.state.allocated_vus.load(Ordering::Relaxed) <= 5);
}

#[tokio::test(start_paused = true)]
async fn an_arrival_waits_for_a_vu_that_comes_back_within_a_millisecond() {
    // Due at 0 and 100 ms. The pacer reaches the second at 99 ms (the tick
    // before), when the one VU is still busy: its 99.5 ms iteration ends on
    // the 100 ms tick. The arrival waits for it instead of opening a second
    // VU (or, at maxVUs, being dropped), and starts on time.
    let o = run(
        Executor::ConstantArrivalRate {
            rate: 10,
            time_unit: secs(1),
            duration: Duration::from_millis(200),
            pre_allocated_vus: 1,
            max_vus: 2,
        },
        Duration::from_micros(99_500),
        secs(5),
        StopControl::default(),
    )
    .await;
    let starts = o.log.starts.lock().unwrap();
    assert_eq!(o.state.dropped.load(Ordering::Relaxed), 0);
    assert_eq!(o.state.allocated_vus.load(Ordering::Relaxed), 1);
    assert_eq!(starts.len(), 2);
    let (vu, intended, actual) = starts[1];
    assert_eq!((vu, intended), (starts[0].0, Duration::from_millis(100)));
    assert_eq!(actual, Duration::from_millis(100));
}

/// Where 8 arrivals come within 2 ms (above 4,000 a second) the pacer
/// sleeps on the microsecond timer (`executor/microtimer.rs`) and starts an
/// iteration at most 8 arrivals' span before it is due: at 20,000/s that is
/// tighter than tokio's tick (which started up to a whole millisecond of
/// arrivals at once), at 5,000/s a little looser (1.6 ms, for fewer
/// wake-ups). Real time (a timerfd does not follow virtual time); the bound
/// checked holds however late the machine runs the pacer, as lateness only
/// makes starts later. Runs `rate` for 0.3 s.
async fn starts_at_most_eight_arrivals_early(rate: u64) {
    let o = run(
        Executor::ConstantArrivalRate {
            rate,
            time_unit: secs(1),
            duration: Duration::from_millis(300),
            pre_allocated_vus: 50,
            max_vus: 50,
        },
        Duration::ZERO,
        secs(5),
        StopControl::default(),
    )
    .await;
    let starts = o.log.starts.lock().unwrap();
    let dropped = o.state.dropped.load(Ordering::Relaxed);
    let due = rate * 3 / 10;
    assert_eq!(starts.len() as u64 + dropped, due);
    assert!(
        starts.len() as u64 > due * 5 / 6,
        "{} started",
        starts.len()
    );
    // 8 arrivals' span, plus a microsecond for the schedule's rounding.
    let ahead = Duration::from_micros(8_000_000 / rate + 1);
    let earliest = starts
        .iter()
        .map(|(_, intended, actual)| intended.saturating_sub(*actual))
        .max()
        .unwrap_or_default();
    assert!(earliest <= ahead, "an iteration started {earliest:?} early");
}

#[tokio::test]
async fn a_high_arrival_rate_starts_no_iteration_more_than_eight_arrivals_early() {
    starts_at_most_eight_arrivals_early(20_000).await;
}

#[tokio::test]
async fn five_thousand_a_second_starts_no_iteration_more_than_eight_arrivals_early() {
    starts_at_most_eight_arrivals_early(5_000).await;
}

#[tokio::test]
async fn a_low_arrival_rate_starts_no_iteration_more_than_the_early_wake_early() {
    // At 100/s each arrival gets a wake-up of its own on the microsecond
    // timer, at most `MAX_EARLY` before its instant; tokio's tick started
    // them up to a whole millisecond early (arrivals 10 ms apart share no
    // wake-up). Real time; lateness only makes starts later, so the bound
    // holds on a loaded machine.
    let o = run(
        Executor::ConstantArrivalRate {
            rate: 100,
            time_unit: secs(1),
            duration: Duration::from_millis(300),
            pre_allocated_vus: 5,
            max_vus: 5,
        },
        Duration::ZERO,
        secs(5),
        StopControl::default(),
    )
    .await;
    let starts = o.log.starts.lock().unwrap();
    assert_eq!(starts.len(), 30);
    let earliest = starts
        .iter()
        .map(|(_, intended, actual)| intended.saturating_sub(*actual))
        .max()
        .unwrap_or_default();
    assert!(
        earliest <= MAX_EARLY + Duration::from_micros(1),
        "an iteration started {earliest:?} early"
    );
}

#[test]
fn the_early_wake_follows_the_timer_s_delays_up_to_its_bound() {
    let mut e = Early::default();
    for _ in 0..100 {
        e.learn(Duration::from_micros(40));
    }
    let settled = e.get();
    assert!(
        (Duration::from_micros(35)..=Duration::from_micros(40)).contains(&settled),
        "{settled:?}"
    );
    // A rare slow wake-up moves it up a little, never past the bound.
    e.learn(Duration::from_millis(5));
    assert!(e.get() > settled && e.get() <= MAX_EARLY, "{:?}", e.get());
    for _ in 0..100 {
        e.learn(Duration::from_secs(1));
    }
    assert_eq!(e.get(), MAX_EARLY);
}

#[tokio::test(start_paused = true)]
async fn arrival_rate_drops_iterations_when_no_vu_is_free() {
    // 10/s for 5 s = 50 arrivals; 1 s iterations on at most 5 VUs serve 5/s.
    let o = run(
        Executor::ConstantArrivalRate {
            rate: 10,
            time_unit: secs(1),
            duration: secs(5),
            pre_allocated_vus: 2,
            max_vus: 5,
        },
        secs(1),
        secs(30),
        StopControl::default(),
    )
    .await;
    let started = o.log.starts.lock().unwrap().len() as u64;
    let dropped = o.state.dropped.load(Ordering::Relaxed);
    assert_eq!(started + dropped, 50);
    assert_eq!(started, 25, "5 VUs × 5 s / 1 s");
    assert_eq!(o.state.allocated_vus.load(Ordering::Relaxed), 5);
}

#[tokio::test(start_paused = true)]
async fn ramping_arrival_rate_follows_the_integral() {
    let o = run(
        Executor::RampingArrivalRate {
            start_rate: 0,
            time_unit: secs(1),
            stages: vec![
                Stage {
                    duration: secs(10),
                    target: 100,
                },
                Stage {
                    duration: secs(5),
                    target: 100,
                },
            ],
            pre_allocated_vus: 10,
            max_vus: 100,
        },
        Duration::from_millis(10),
        secs(30),
        StopControl::default(),
    )
    .await;
    let starts = o.log.starts.lock().unwrap();
    // 500 during the ramp + 500 during the hold.
    assert!((999..=1001).contains(&starts.len()), "{}", starts.len());
    let first_half = starts.iter().filter(|s| s.1 < secs(5)).count();
    assert!((124..=126).contains(&first_half), "{first_half}");
}

#[tokio::test(start_paused = true)]
async fn constant_vus_loop_for_the_duration() {
    let o = run(
        Executor::ConstantVus {
            vus: 5,
            duration: secs(10),
        },
        secs(1),
        secs(30),
        StopControl::default(),
    )
    .await;
    assert_eq!(completed(&o), 50);
    assert_eq!(o.state.allocated_vus.load(Ordering::Relaxed), 5);
    assert_eq!(o.elapsed, secs(10));
}

#[tokio::test(start_paused = true)]
async fn shared_iterations_are_shared() {
    let o = run(
        Executor::SharedIterations {
            vus: 3,
            iterations: 10,
            max_duration: secs(600),
        },
        secs(1),
        secs(30),
        StopControl::default(),
    )
    .await;
    assert_eq!(completed(&o), 10);
    assert_eq!(
        o.elapsed,
        secs(4),
        "3 VUs, 10 one-second iterations: 4 rounds"
    );
}

#[tokio::test(start_paused = true)]
async fn per_vu_iterations_each() {
    let o = run(
        Executor::PerVuIterations {
            vus: 3,
            iterations: 4,
            max_duration: secs(600),
        },
        secs(1),
        secs(30),
        StopControl::default(),
    )
    .await;
    assert_eq!(completed(&o), 12);
    let per_vu = |id| {
        o.log
            .starts
            .lock()
            .unwrap()
            .iter()
            .filter(|s| s.0 == id)
            .count()
    };
    assert_eq!((per_vu(1), per_vu(2), per_vu(3)), (4, 4, 4));
}

#[tokio::test(start_paused = true)]
async fn ramping_vus_follows_the_stages() {
    let state = Arc::new(ScenarioState::default());
    let t0 = Instant::now();
    let log = Arc::new(Log::default());
    let factory = Arc::new(Factory {
        work: Duration::from_millis(100),
        log: log.clone(),
        t0,
    });
    let s = scenario(
        Executor::RampingVus {
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
            graceful_ramp_down: secs(1),
        },
        secs(30),
    );
    let st = state.clone();
    let sampler = tokio::spawn(async move {
        let mut samples = Vec::new();
        for t in [
            Duration::from_millis(5500),
            Duration::from_millis(15_500),
            Duration::from_millis(25_500),
        ] {
            tokio::time::sleep_until(t0 + t).await;
            samples.push(st.active_vus.load(Ordering::Relaxed));
        }
        samples
    });
    run_scenario(
        &s,
        0,
        t0,
        factory,
        Arc::new(VuIds::default()),
        state.clone(),
        StopControl::default(),
    )
    .await;
    let samples = sampler.await.unwrap();
    assert_eq!(samples, vec![5, 10, 5]);
    assert_eq!(
        state.allocated_vus.load(Ordering::Relaxed),
        10,
        "VUs are reused, not recreated"
    );
    // Ends with the last 100 ms iteration, not after the 1 s ramp-down grace.
    assert!(Instant::now() - t0 <= secs(30) + Duration::from_millis(100));
}

fn ramp(start_vus: u64, stages: &[(u64, u64)], graceful_ramp_down: Duration) -> Executor {
    Executor::RampingVus {
        start_vus,
        stages: stages
            .iter()
            .map(|&(d, target)| Stage {
                duration: secs(d),
                target,
            })
            .collect(),
        graceful_ramp_down,
    }
}

#[tokio::test(start_paused = true)]
async fn a_ramping_vus_scenario_ends_when_its_stages_end() {
    // 3 s of stages, an 8 s gracefulRampDown, 100 ms iterations: the
    // scenario waits only for the last iteration running at 3 s, not for
    // the ramp-down grace (it used to take 11 s).
    let work = Duration::from_millis(100);
    let o = run(
        ramp(0, &[(1, 2), (1, 2), (1, 0)], secs(8)),
        work,
        secs(30),
        StopControl::default(),
    )
    .await;
    assert!(o.elapsed <= secs(3) + work, "took {:?}", o.elapsed);
    assert!(
        o.elapsed >= secs(3),
        "ended before its stages: {:?}",
        o.elapsed
    );
    assert_eq!(o.state.interrupted.load(Ordering::Relaxed), 0);
    assert!(completed(&o) > 0);
}

#[tokio::test(start_paused = true)]
async fn a_vu_ramped_down_is_interrupted_when_its_graceful_ramp_down_ends() {
    // Two VUs ramped down at 0.5 s and 1 s, with 10 s iterations and a 2 s
    // gracefulRampDown: cut at 2.5 s and 3 s, well before the stages' end
    // plus gracefulStop (31 s).
    let o = run(
        ramp(2, &[(1, 0)], secs(2)),
        secs(10),
        secs(30),
        StopControl::default(),
    )
    .await;
    assert_eq!(o.state.interrupted.load(Ordering::Relaxed), 2);
    assert_eq!(completed(&o), 0);
    assert_eq!(o.elapsed, secs(3));
}

#[tokio::test(start_paused = true)]
async fn iterations_running_when_the_stages_end_get_the_graceful_stop() {
    // Stages end at 1 s while one VU is still held (no ramp-down): its 10 s
    // iteration is cut at the end plus the 2 s gracefulStop.
    let o = run(
        ramp(1, &[(1, 1)], secs(30)),
        secs(10),
        secs(2),
        StopControl::default(),
    )
    .await;
    assert_eq!(o.state.interrupted.load(Ordering::Relaxed), 1);
    assert_eq!(o.elapsed, secs(3));
}

#[tokio::test(start_paused = true)]
async fn graceful_stop_then_interrupt() {
    // 1 s scenario, 5 s iteration, 2 s graceful stop: interrupted at 3 s.
    let o = run(
        Executor::ConstantVus {
            vus: 1,
            duration: secs(1),
        },
        secs(5),
        secs(2),
        StopControl::default(),
    )
    .await;
    assert_eq!(completed(&o), 0);
    assert_eq!(o.state.interrupted.load(Ordering::Relaxed), 1);
    assert_eq!(o.elapsed, secs(3));
}

/// A stop request `at` into the run: graceful, and hard too when `hard`.
fn stop_at(at: Duration, hard: bool) -> StopControl {
    let stop = StopControl::default();
    let s2 = stop.clone();
    tokio::spawn(async move {
        tokio::time::sleep(at).await;
        s2.graceful.cancel();
        if hard {
            s2.hard.cancel();
        }
    });
    stop
}

#[tokio::test(start_paused = true)]
async fn a_graceful_stop_request_ends_the_scenario_early() {
    let stop = stop_at(Duration::from_millis(2500), false);
    let o = run(
        Executor::ConstantVus {
            vus: 2,
            duration: secs(60),
        },
        secs(1),
        secs(30),
        stop,
    )
    .await;
    // Iterations started before 2.5 s finish (at 3 s); none start after.
    assert_eq!(completed(&o), 6);
    assert_eq!(o.elapsed, secs(3));
}

#[tokio::test(start_paused = true)]
async fn a_hard_stop_interrupts_at_once() {
    let stop = stop_at(Duration::from_millis(2500), true);
    let o = run(
        Executor::ConstantVus {
            vus: 2,
            duration: secs(60),
        },
        secs(1),
        secs(30),
        stop,
    )
    .await;
    assert_eq!(completed(&o), 4);
    assert_eq!(o.state.interrupted.load(Ordering::Relaxed), 2);
    assert_eq!(o.elapsed, Duration::from_millis(2500));
}

#[tokio::test(start_paused = true)]
async fn arrival_rate_iterations_past_the_grace_are_interrupted() {
    // 2 arrivals a second for 2 s (at 0, 0.5, 1, 1.5 s), each taking 10 s:
    // none ends by the hard end (2 s + 1 s grace), so all four are
    // interrupted there, and the run ends then.
    let o = run(
        Executor::ConstantArrivalRate {
            rate: 2,
            time_unit: secs(1),
            duration: secs(2),
            pre_allocated_vus: 4,
            max_vus: 4,
        },
        secs(10),
        secs(1),
        StopControl::default(),
    )
    .await;
    assert_eq!(o.log.starts.lock().unwrap().len(), 4);
    assert_eq!(completed(&o), 0);
    assert_eq!(o.state.interrupted.load(Ordering::Relaxed), 4);
    assert_eq!(o.elapsed, secs(3));
}

#[tokio::test(start_paused = true)]
async fn a_hard_stop_interrupts_arrival_rate_iterations_at_once() {
    let stop = stop_at(Duration::from_millis(1200), true);
    let o = run(
        Executor::ConstantArrivalRate {
            rate: 2,
            time_unit: secs(1),
            duration: secs(60),
            pre_allocated_vus: 10,
            max_vus: 10,
        },
        secs(10),
        secs(30),
        stop,
    )
    .await;
    // Arrivals at 0, 0.5 and 1 s, all still running at 1.2 s.
    assert_eq!(o.log.starts.lock().unwrap().len(), 3);
    assert_eq!(o.state.interrupted.load(Ordering::Relaxed), 3);
    assert_eq!(o.elapsed, Duration::from_millis(1200));
}
