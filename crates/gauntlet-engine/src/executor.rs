//! k6's six executors at run time: pacing × stop condition × VU pool.
//!
//! Each executor is one async function over a [`VuFactory`]; they share the
//! stop machinery (k6's two nested deadlines):
//! - the *regular* end (`duration`, last stage, iterations used up, or a
//!   graceful stop request): no new iteration starts after it;
//! - the *hard* end (regular end + `gracefulStop`, `maxDuration`, or a hard
//!   stop request): running iterations are interrupted and not counted.
//!
//! Everything reads time through `tokio::time`, so tests run under
//! `tokio::time::pause()` in virtual time, exactly and instantly; the one
//! exception is the arrival pacer, which sleeps on a real-time microsecond
//! timer (`executor/microtimer.rs`) unless tokio's clock is paused.

use crate::pacer::{ArrivalPacer, vu_changes};
use gauntlet_plan::{Executor, Scenario};
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::task::{Poll, Waker};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::{Instant, sleep_until};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// One iteration handed to a VU.
#[derive(Debug, Clone, Copy)]
pub struct Iteration {
    /// Index of the scenario in the plan.
    pub scenario: usize,
    /// When the iteration was due. For open-model executors this is the
    /// pacer's schedule (latency is corrected from it); for closed models it
    /// is the moment the VU started it.
    pub intended_start: Instant,
    /// Whether `intended_start` comes from an arrival schedule.
    pub open_model: bool,
}

/// How an iteration ended, from the VU's point of view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum IterationEnd {
    /// Ran to the end (checks may have failed; that is data, not control).
    Completed,
    /// This VU cannot go on (e.g. its unique data ran out).
    StopVu,
    /// The whole test must stop (e.g. data ran out with `onExhausted: stop-test`).
    StopTest,
}

/// What an executor needs of a virtual user.
pub trait VirtualUser: Send + 'static {
    /// Run one iteration. The future may be dropped at any await point when
    /// the hard deadline passes; the VU must stay usable afterwards (see
    /// [`VirtualUser::interrupted`]).
    fn iterate(&mut self, it: Iteration) -> impl Future<Output = IterationEnd> + Send;

    /// Called after an iteration was interrupted, before the VU is reused:
    /// drop half-used connections and per-iteration state.
    fn interrupted(&mut self) {}

    /// When the last iteration ended, if the VU read the clock then (taken:
    /// `None` until the next iteration ends). A closed-model executor
    /// starts the next iteration from it instead of reading the clock
    /// again, so consecutive iterations also leave no gap between them.
    fn take_end(&mut self) -> Option<Instant> {
        None
    }
}

/// Creates VUs; one per scenario run.
pub trait VuFactory: Send + Sync + 'static {
    /// The VU type.
    type Vu: VirtualUser;
    /// Create VU number `id` (1-based, unique in the run) for `scenario`.
    fn create(&self, id: u64, scenario: usize) -> Self::Vu;
}

/// Live counters of one scenario, read by the once-a-second ticker for the
/// `vus`, `vus_max` and `dropped_iterations` metrics and progress display.
#[derive(Debug, Default)]
pub struct ScenarioState {
    /// VUs running an iteration (open model) or looping (closed model) now.
    pub active_vus: AtomicU64,
    /// VUs created so far (k6 `vus_max`).
    pub allocated_vus: AtomicU64,
    /// Open-model iterations that found no free VU and no room for a new one.
    pub dropped: AtomicU64,
    /// Iterations completed (not those that ended in a stop outcome before
    /// running: they count nowhere, as in the `iterations` counter).
    pub completed: AtomicU64,
    /// Iterations interrupted at a hard deadline.
    pub interrupted: AtomicU64,
    /// Set once the scenario has started.
    pub started: AtomicBool,
    /// Set once the scenario has fully ended.
    pub finished: AtomicBool,
}

/// Stop requests that apply to the whole run.
#[derive(Debug, Clone, Default)]
pub struct StopControl {
    /// Stop starting iterations; running ones get their gracefulStop.
    pub graceful: CancellationToken,
    /// Interrupt everything now.
    pub hard: CancellationToken,
}

/// Shared VU id allocator (ids are unique across scenarios, like k6's `__VU`).
#[derive(Debug, Default)]
pub struct VuIds(AtomicU64);

impl VuIds {
    fn next(&self) -> u64 {
        self.0.fetch_add(1, Ordering::Relaxed) + 1
    }
}

struct Ctx<F: VuFactory> {
    factory: Arc<F>,
    ids: Arc<VuIds>,
    index: usize,
    state: Arc<ScenarioState>,
    stop: StopControl,
    halt: Arc<Halt>,
}

/// The scenario's stops as its VU tasks read them on every iteration and
/// every poll: two flags, set from the scenario's tokens by
/// [`run_scenario`]. A `CancellationToken` answers `is_cancelled` under a
/// mutex and waits by joining a waiter list (locked again on every poll),
/// a lock all workers' VUs took in turn (its cost: docs/performance.md,
/// "Figures behind the engine's comments"). A flag is one load; a VU task
/// registers its waker here once, when it starts.
#[derive(Debug, Default)]
struct Halt {
    /// The regular end has passed: no new iteration (the soft token).
    ending: AtomicBool,
    /// Running iterations are interrupted (the hard token).
    fired: AtomicBool,
    /// The VU tasks to wake when `fired` is set.
    wakers: std::sync::Mutex<Vec<Waker>>,
}

impl Halt {
    fn fire(&self) {
        self.fired.store(true, Ordering::Release);
        let wakers = std::mem::take(&mut *self.wakers.lock().unwrap_or_else(|p| p.into_inner()));
        for w in wakers {
            w.wake();
        }
    }

    /// Register the calling task to be woken when the stop fires. A task's
    /// waker stays valid for its whole life, so once per task is enough.
    async fn enlist(&self) {
        let waker = std::future::poll_fn(|cx| Poll::Ready(cx.waker().clone())).await;
        let mut wakers = self.wakers.lock().unwrap_or_else(|p| p.into_inner());
        // `fire` sets the flag before it takes the list: a task enlisting
        // after that sees the flag instead.
        if !self.fired.load(Ordering::Acquire) {
            wakers.push(waker);
        }
    }

    /// Ready once the stop has fired (the task must have enlisted).
    fn fired(&self) -> impl Future<Output = ()> + '_ {
        std::future::poll_fn(|_| {
            if self.fired.load(Ordering::Acquire) {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        })
    }

    /// Set the flags from the tokens as they are cancelled; never returns.
    async fn follow(&self, soft: &CancellationToken, hard: &CancellationToken) {
        tokio::join!(
            async {
                soft.cancelled().await;
                self.ending.store(true, Ordering::Release);
            },
            async {
                hard.cancelled().await;
                self.fire();
            },
        );
        std::future::pending::<()>().await;
    }
}

impl<F: VuFactory> Ctx<F> {
    fn new_vu(&self) -> F::Vu {
        self.state.allocated_vus.fetch_add(1, Ordering::Relaxed);
        self.factory.create(self.ids.next(), self.index)
    }
}

/// Run one scenario: wait for its start time, run its executor, return when
/// every iteration has finished or been interrupted.
pub async fn run_scenario<F: VuFactory>(
    scenario: &Scenario,
    index: usize,
    run_start: Instant,
    factory: Arc<F>,
    ids: Arc<VuIds>,
    state: Arc<ScenarioState>,
    stop: StopControl,
) {
    let ctx = Ctx {
        factory,
        ids,
        index,
        state: state.clone(),
        stop: stop.clone(),
        halt: Arc::default(),
    };
    let start = run_start + scenario.start_time;
    tokio::select! {
        _ = sleep_until(start) => {}
        _ = stop.graceful.cancelled() => { state.finished.store(true, Ordering::Relaxed); return; }
        _ = stop.hard.cancelled() => { state.finished.store(true, Ordering::Relaxed); return; }
    }
    state.started.store(true, Ordering::Relaxed);
    // Scenario-level tokens, children of the run's: a run stop stops the
    // scenario, the scenario's own deadlines stop only it.
    let soft = stop.graceful.child_token();
    let hard = stop.hard.child_token();
    let grace = scenario.graceful_stop;
    let executor = run_executor(scenario, &ctx, start, grace, &soft, &hard);
    tokio::select! {
        _ = executor => {}
        _ = ctx.halt.follow(&soft, &hard) => {}
    }
    state.active_vus.store(0, Ordering::Relaxed);
    state.finished.store(true, Ordering::Relaxed);
}

/// The scenario's executor, from its start to its last iteration's end.
async fn run_executor<F: VuFactory>(
    scenario: &Scenario,
    ctx: &Ctx<F>,
    start: Instant,
    grace: Duration,
    soft: &CancellationToken,
    hard: &CancellationToken,
) {
    match &scenario.executor {
        Executor::ConstantVus { vus, duration } => {
            closed_fixed(
                ctx,
                *vus,
                start + *duration,
                start + *duration + grace,
                None,
                soft,
                hard,
            )
            .await
        }
        Executor::SharedIterations {
            vus,
            iterations,
            max_duration,
        } => {
            let budget = Arc::new(AtomicU64::new(*iterations));
            let n = (*vus).min(*iterations);
            closed_fixed(
                ctx,
                n,
                start + *max_duration,
                start + *max_duration + grace,
                Some(Budget::Shared(budget)),
                soft,
                hard,
            )
            .await
        }
        Executor::PerVuIterations {
            vus,
            iterations,
            max_duration,
        } => {
            closed_fixed(
                ctx,
                *vus,
                start + *max_duration,
                start + *max_duration + grace,
                Some(Budget::PerVu(*iterations)),
                soft,
                hard,
            )
            .await
        }
        Executor::RampingVus {
            start_vus,
            stages,
            graceful_ramp_down,
        } => {
            ramping_vus(
                ctx,
                start,
                *start_vus,
                stages,
                *graceful_ramp_down,
                grace,
                soft,
                hard,
            )
            .await
        }
        Executor::ConstantArrivalRate {
            rate,
            time_unit,
            duration,
            pre_allocated_vus,
            max_vus,
        } => {
            let pacer = ArrivalPacer::constant(*rate, *time_unit, *duration);
            arrival(
                ctx,
                start,
                pacer,
                *pre_allocated_vus,
                *max_vus,
                grace,
                soft,
                hard,
            )
            .await
        }
        Executor::RampingArrivalRate {
            start_rate,
            time_unit,
            stages,
            pre_allocated_vus,
            max_vus,
        } => {
            let pacer = ArrivalPacer::ramping(*start_rate, *time_unit, stages);
            arrival(
                ctx,
                start,
                pacer,
                *pre_allocated_vus,
                *max_vus,
                grace,
                soft,
                hard,
            )
            .await
        }
    }
}

enum Budget {
    Shared(Arc<AtomicU64>),
    PerVu(u64),
}

/// Take one iteration from a shared budget.
fn take(budget: &AtomicU64) -> bool {
    budget
        .fetch_update(Ordering::AcqRel, Ordering::Acquire, |b| b.checked_sub(1))
        .is_ok()
}

/// Run one iteration until it ends or `interrupt` is ready; `None` when
/// interrupted.
async fn one<V: VirtualUser>(
    vu: &mut V,
    it: Iteration,
    interrupt: impl Future<Output = ()>,
    state: &ScenarioState,
    stop: &StopControl,
) -> Option<IterationEnd> {
    tokio::select! {
        biased;
        _ = interrupt => {
            state.interrupted.fetch_add(1, Ordering::Relaxed);
            vu.interrupted();
            None
        }
        end = vu.iterate(it) => {
            // A stop outcome (its data ran out) ran no iteration: counted
            // here it would disagree with the `iterations` counter.
            match end {
                IterationEnd::Completed => {
                    state.completed.fetch_add(1, Ordering::Relaxed);
                }
                IterationEnd::StopTest => stop.graceful.cancel(),
                IterationEnd::StopVu => {}
            }
            Some(end)
        }
    }
}

/// Hard-cancel `hard` at `deadline` unless `done` finishes first.
async fn with_deadline(
    done: impl Future<Output = ()>,
    deadline: Instant,
    hard: &CancellationToken,
) {
    tokio::pin!(done);
    tokio::select! {
        _ = &mut done => {}
        _ = sleep_until(deadline) => { hard.cancel(); done.await; }
    }
}

/// constant-vus, shared-iterations, per-vu-iterations: a fixed set of looping VUs.
async fn closed_fixed<F: VuFactory>(
    ctx: &Ctx<F>,
    vus: u64,
    regular_end: Instant,
    hard_end: Instant,
    budget: Option<Budget>,
    soft: &CancellationToken,
    hard: &CancellationToken,
) {
    let tracker = TaskTracker::new();
    let budget = budget.map(Arc::new);
    for _ in 0..vus {
        let mut vu = ctx.new_vu();
        let (halt, state, stop, budget, index) = (
            ctx.halt.clone(),
            ctx.state.clone(),
            ctx.stop.clone(),
            budget.clone(),
            ctx.index,
        );
        state.active_vus.fetch_add(1, Ordering::Relaxed);
        tracker.spawn(async move {
            halt.enlist().await;
            let mut taken = 0u64;
            loop {
                // One instant for the end check and the iteration's start:
                // the previous iteration's end, or the clock.
                let now = vu.take_end().unwrap_or_else(Instant::now);
                if halt.ending.load(Ordering::Acquire) || now >= regular_end {
                    break;
                }
                // Every budget named: a new kind must say here when it runs out.
                let exhausted = match budget.as_deref() {
                    Some(Budget::Shared(b)) => !take(b),
                    Some(Budget::PerVu(n)) => taken >= *n,
                    None => false,
                };
                if exhausted {
                    break;
                }
                taken += 1;
                let it = Iteration {
                    scenario: index,
                    intended_start: now,
                    open_model: false,
                };
                match one(&mut vu, it, halt.fired(), &state, &stop).await {
                    Some(IterationEnd::Completed) => {}
                    _ => break,
                }
            }
            state.active_vus.fetch_sub(1, Ordering::Relaxed);
        });
    }
    tracker.close();
    let grace = hard_end.saturating_duration_since(regular_end);
    let all_done = tracker.wait();
    tokio::pin!(all_done);
    // Until the regular end: VUs loop. Then no new iterations; the running
    // ones get the graceful stop before they are interrupted.
    let deadline = tokio::select! {
        _ = &mut all_done => return,
        _ = sleep_until(regular_end) => hard_end,
        _ = soft.cancelled() => Instant::now() + grace,
        _ = hard.cancelled() => Instant::now(),
    };
    soft.cancel();
    with_deadline(all_done, deadline, hard).await;
}

/// ramping-vus: VUs are started and stopped at the moments the target count changes.
#[allow(clippy::too_many_arguments)]
async fn ramping_vus<F: VuFactory>(
    ctx: &Ctx<F>,
    start: Instant,
    start_vus: u64,
    stages: &[gauntlet_plan::Stage],
    graceful_ramp_down: Duration,
    graceful_stop: Duration,
    soft: &CancellationToken,
    hard: &CancellationToken,
) {
    let changes = vu_changes(start_vus, stages);
    let end = start + stages.iter().map(|s| s.duration).sum::<Duration>();
    let tracker = TaskTracker::new();
    let (back_tx, mut back_rx) = mpsc::unbounded_channel::<F::Vu>();
    let mut idle: Vec<F::Vu> = Vec::new();
    // Active VU slots: (soft token, hard token) per running VU task.
    let mut slots: Vec<(CancellationToken, CancellationToken)> = Vec::new();
    for (offset, target) in changes {
        tokio::select! {
            _ = sleep_until(start + offset) => {}
            _ = soft.cancelled() => break,
        }
        while let Ok(vu) = back_rx.try_recv() {
            idle.push(vu);
        }
        let target = target as usize;
        while slots.len() < target {
            let mut vu = idle.pop().unwrap_or_else(|| ctx.new_vu());
            let vs = soft.child_token();
            let vh = hard.child_token();
            slots.push((vs.clone(), vh.clone()));
            let (state, stop, back, index) = (
                ctx.state.clone(),
                ctx.stop.clone(),
                back_tx.clone(),
                ctx.index,
            );
            state.active_vus.fetch_add(1, Ordering::Relaxed);
            tracker.spawn(async move {
                // The VU's end ends its ramp-down timer: a scenario waits for
                // running iterations, not for the whole gracefulRampDown.
                let _done = vh.clone().drop_guard();
                while !vs.is_cancelled() {
                    let it = Iteration {
                        scenario: index,
                        intended_start: vu.take_end().unwrap_or_else(Instant::now),
                        open_model: false,
                    };
                    match one(&mut vu, it, vh.cancelled(), &state, &stop).await {
                        Some(IterationEnd::Completed) => {}
                        _ => break,
                    }
                }
                state.active_vus.fetch_sub(1, Ordering::Relaxed);
                // Its last end is stale by the time the VU is started again.
                let _ = vu.take_end();
                let _ = back.send(vu);
            });
        }
        while slots.len() > target {
            if let Some((vs, vh)) = slots.pop() {
                vs.cancel();
                // Ramp-down grace: interrupt this VU if it does not finish in time.
                tracker.spawn(async move {
                    tokio::select! {
                        _ = tokio::time::sleep(graceful_ramp_down) => vh.cancel(),
                        _ = vh.cancelled() => {}
                    }
                });
            }
        }
    }
    tokio::select! {
        _ = sleep_until(end) => {}
        _ = soft.cancelled() => {}
    }
    soft.cancel();
    for (vs, _) in &slots {
        vs.cancel();
    }
    tracker.close();
    let hard_end = if Instant::now() >= end {
        Instant::now().max(end) + graceful_stop
    } else {
        Instant::now() + graceful_stop
    };
    // The ramp-down timers above end with their VUs; cap everything at the hard end.
    with_deadline(tracker.wait(), hard_end, hard).await;
}

/// How the pacer hands an iteration to one idle VU of an arrival-rate
/// scenario. Each VU is a task of its own for the whole scenario, waiting
/// here between iterations: an arrival costs a wake-up, not a task spawn,
/// and the VU's state is not moved (measured: docs/performance.md).
#[derive(Debug, Default)]
struct IterationHandoff {
    /// The intended start of the iteration handed over, taken by the VU.
    next: std::sync::Mutex<Option<Instant>>,
    bell: tokio::sync::Notify,
    /// The scenario's regular end: no more iterations.
    closed: AtomicBool,
}

impl IterationHandoff {
    fn give(&self, intended: Instant) {
        *self.next.lock().unwrap_or_else(|p| p.into_inner()) = Some(intended);
        self.bell.notify_one();
    }

    fn close(&self) {
        self.closed.store(true, Ordering::Release);
        self.bell.notify_one();
    }

    /// The next iteration's intended start, or `None` once closed.
    async fn take(&self) -> Option<Instant> {
        loop {
            if let Some(t) = self.next.lock().unwrap_or_else(|p| p.into_inner()).take() {
                return Some(t);
            }
            if self.closed.load(Ordering::Acquire) {
                return None;
            }
            // A `notify_one` before this wait leaves a permit: none is lost.
            self.bell.notified().await;
        }
    }
}

/// The idle VUs of an arrival-rate scenario, by index, and the bell a VU
/// rings when it comes back while the pacer waits for one.
#[derive(Debug, Default)]
struct Idle {
    vus: std::sync::Mutex<Vec<usize>>,
    /// Set by the pacer while it waits for a VU; the VU that clears it rings.
    wanted: AtomicBool,
    bell: tokio::sync::Notify,
}

impl Idle {
    fn pop(&self) -> Option<usize> {
        self.vus.lock().unwrap_or_else(|p| p.into_inner()).pop()
    }

    fn push(&self, i: usize) {
        self.vus.lock().unwrap_or_else(|p| p.into_inner()).push(i);
        if self.wanted.load(Ordering::Relaxed) && self.wanted.swap(false, Ordering::AcqRel) {
            self.bell.notify_one();
        }
    }

    /// An idle VU, waiting for one until `limit` at the latest.
    async fn pop_by(&self, limit: Instant) -> Option<usize> {
        loop {
            if let Some(i) = self.pop() {
                return Some(i);
            }
            if Instant::now() >= limit {
                return None;
            }
            // Set before looking again, so a VU that comes back between the
            // look and the wait rings (a ring with nobody waiting is kept).
            self.wanted.store(true, Ordering::Release);
            if let Some(i) = self.pop() {
                return Some(i);
            }
            tokio::select! {
                _ = self.bell.notified() => {}
                _ = sleep_until(limit) => {}
            }
        }
    }
}

/// How long an arrival that finds no idle VU waits for one to come back
/// before the pacer opens another VU for it (or, at `maxVUs`, drops it);
/// counted from its due time, or from when the pacer reaches it if later.
/// The wait counts in the iteration's corrected latency. Without it a
/// response a millisecond slow left no VU free, and each such moment opened
/// connections whose cost made the next one slower, until every VU was open
/// and arrivals were dropped all the same (docs/performance.md).
const VU_WAIT: Duration = Duration::from_millis(1);

/// The runtime's timer resolution: how early the pacer may start an
/// arrival-rate iteration where it has no microsecond timer (tests'
/// virtual time, or a kernel that refuses a timerfd).
const TICK: Duration = Duration::from_millis(1);

/// The most the pacer wakes before an arrival on the microsecond timer on
/// a sparse schedule, to make up for how late a wake-up lands (learned,
/// [`Early`]): so the arrival starts at its instant, not the wake-up's
/// delay after it.
const MAX_EARLY: Duration = Duration::from_micros(100);

/// How many arrivals one wake-up of the pacer starts together on the
/// microsecond timer (`executor/microtimer.rs`): the largest burst whose
/// median latency against nginx stayed the server's own on every host
/// measured (docs/performance.md, "Figures behind the engine's comments").
const BATCH: u64 = 8;

/// On the microsecond timer the pacer starts [`BATCH`] arrivals a wake-up
/// when they come within this span, above 4,000 a second; below it, every
/// arrival gets a wake-up of its own. Between 4,000 and 8,000 a second this
/// means fewer wake-ups than tokio's tick, each starting 8 arrivals instead
/// of 4 to 8: at 5,000/s one every 1.6 ms instead of every millisecond,
/// since a wake-up is the dearest part of an arrival at such rates.
const BATCH_SPAN: Duration = Duration::from_millis(2);

/// The shortest the pacer sleeps on the microsecond timer: at any rate a
/// wake-up starts at least this much of the schedule.
const MIN_AHEAD: Duration = Duration::from_micros(50);

/// The pacer's microsecond timer, made on the first wake-up; under a paused
/// clock (virtual time) or after a failure the pacer keeps tokio's timer.
#[derive(Debug, Default)]
enum PacerTimer {
    #[default]
    Unmade,
    #[cfg(target_os = "linux")]
    Ready(microtimer::MicroTimer),
    Failed,
}

impl PacerTimer {
    /// Whether the microsecond timer can be used; made on the first ask.
    fn available(&mut self) -> bool {
        #[cfg(target_os = "linux")]
        if matches!(self, PacerTimer::Unmade) {
            *self = if clock_paused() {
                PacerTimer::Failed
            } else {
                microtimer::MicroTimer::new().map_or(PacerTimer::Failed, PacerTimer::Ready)
            };
        }
        !matches!(self, PacerTimer::Unmade | PacerTimer::Failed)
    }

    /// Sleep until `at` on the microsecond timer (tokio's where there is
    /// none). After an error the pacer keeps tokio's timer.
    async fn sleep_until(&mut self, at: Instant) {
        match self {
            #[cfg(target_os = "linux")]
            PacerTimer::Ready(t) => {
                if t.sleep_until(at).await.is_err() {
                    *self = PacerTimer::Failed;
                }
            }
            _ => sleep_until(at).await,
        }
    }
}

/// Whether tokio's clock is paused (virtual time, in tests): it then stands
/// still while real time passes. A timerfd follows the real clock only, so
/// the pacer keeps tokio's timers, which virtual time drives. Asked once a
/// scenario; spins for a microsecond.
#[cfg(target_os = "linux")]
fn clock_paused() -> bool {
    let before = Instant::now();
    let real = std::time::Instant::now();
    while real.elapsed() < Duration::from_micros(1) {
        std::hint::spin_loop();
    }
    Instant::now() == before
}

/// How early the pacer wakes before an arrival on the microsecond timer:
/// learned from how late its wake-ups land (the timer's expiry, the
/// runtime's epoll wake-up and the task's turn), at most [`MAX_EARLY`].
/// It follows a high share of the delays (up fast, down slowly), so most
/// arrivals start at their instant or a little before, and few after: an
/// iteration started late adds its lateness to the corrected latency,
/// one started early adds nothing.
#[derive(Debug, Default)]
struct Early {
    /// The estimate, in nanoseconds.
    ns: u64,
}

impl Early {
    fn get(&self) -> Duration {
        Duration::from_nanos(self.ns).min(MAX_EARLY)
    }

    /// A wake-up landed `late` after the instant it was armed for.
    fn learn(&mut self, late: Duration) {
        let late = u64::try_from(late.as_nanos())
            .unwrap_or(u64::MAX)
            .min(2 * MAX_EARLY.as_nanos() as u64);
        if late > self.ns {
            self.ns += (late - self.ns) / 4;
        } else {
            self.ns -= (self.ns - late) / 32;
        }
    }
}

/// constant- and ramping-arrival-rate: start iterations on the pacer's clock.
#[allow(clippy::too_many_arguments)]
async fn arrival<F: VuFactory>(
    ctx: &Ctx<F>,
    start: Instant,
    pacer: ArrivalPacer,
    pre_allocated: u64,
    max_vus: u64,
    graceful_stop: Duration,
    soft: &CancellationToken,
    hard: &CancellationToken,
) {
    // Every VU's hand, and the indices of those idle now (a VU puts its own
    // back when its iteration ends; a retired VU does not).
    let mut hands: Vec<Arc<IterationHandoff>> = Vec::new();
    let idle: Arc<Idle> = Arc::default();
    let tracker = TaskTracker::new();
    let add_vu = |hands: &mut Vec<Arc<IterationHandoff>>| {
        let i = hands.len();
        let hand = Arc::new(IterationHandoff::default());
        hands.push(hand.clone());
        let mut vu = ctx.new_vu();
        let (state, stop, idle, halt, index) = (
            ctx.state.clone(),
            ctx.stop.clone(),
            idle.clone(),
            ctx.halt.clone(),
            ctx.index,
        );
        tracker.spawn(async move {
            halt.enlist().await;
            while let Some(intended) = hand.take().await {
                let it = Iteration {
                    scenario: index,
                    intended_start: intended,
                    open_model: true,
                };
                let end = one(&mut vu, it, halt.fired(), &state, &stop).await;
                state.active_vus.fetch_sub(1, Ordering::Relaxed);
                // A VU whose data ran out is retired; the others wait for more.
                if end == Some(IterationEnd::StopVu) {
                    break;
                }
                idle.push(i);
            }
        });
        i
    };
    for _ in 0..pre_allocated {
        let i = add_vu(&mut hands);
        idle.push(i);
    }
    let mut n = 0u64;
    let mut fine = PacerTimer::default();
    let mut early = Early::default();
    // A timer kept one tick after the pacer's next wake-up, never polled.
    // When the pacer's own timer fires, tokio's time driver takes the
    // earliest timer left as the time it promises to wake at; without this
    // one that is a request timeout seconds away, and arming the next tick
    // before it unparks the driver: a write to its eventfd and an extra
    // `epoll_wait`, once a tick (3,343 writes in 4 s at 5,000/s, `perf
    // stat`, when that rate was still on the tick). Moving it later is a
    // compare-and-swap; the wheel moves its
    // entry when the old slot comes due, a tick on which the pacer wakes
    // anyway. Used only while arrivals are less than a tick apart: with
    // sparser ones the pacer skips ticks, and the guard's own would wake
    // the driver for nothing.
    let guard = tokio::time::sleep_until(start + TICK);
    tokio::pin!(guard);
    'pace: while let Some(due) = pacer.due(n) {
        let at = start + due;
        // How early this wake-up may start an arrival. On the microsecond
        // timer: where the next [`BATCH`] arrivals (the last `BATCH` at the
        // schedule's end) come within [`BATCH_SPAN`], their span, not less
        // than [`MIN_AHEAD`]; else a tick's worth, as on tokio's timer. A
        // schedule of fewer than `BATCH` arrivals in all is not dense.
        // Without that timer, tokio's tick.
        let span = match pacer.due(n + BATCH) {
            Some(d) => d.saturating_sub(due),
            None => n
                .checked_sub(BATCH)
                .and_then(|m| pacer.due(m))
                .map_or(Duration::MAX, |d| due.saturating_sub(d)),
        }
        .max(MIN_AHEAD);
        let on_fine = fine.available();
        let dense = span < BATCH_SPAN;
        // Dense schedules wake at the arrival's own time: a wake-up starts
        // a batch there, and waking earlier cost CPU per request at 5,000/s
        // for no lateness a user could see (docs/performance.md).
        let lead = if dense { Duration::ZERO } else { early.get() };
        let ahead = match (on_fine, dense) {
            (true, true) => span,
            // The arrivals of the next millisecond go with this one: as
            // many wake-ups as tokio's tick had (a wake-up for each arrival
            // doubled the CPU per request at 3,000/s, docs/performance.md).
            (true, false) => TICK.max(lead),
            (false, _) => TICK,
        };
        if on_fine {
            // Wake the learned delay (sparse schedules) before the arrival.
            let wake = at.checked_sub(lead).unwrap_or(at);
            if wake > Instant::now() {
                tokio::select! {
                    _ = fine.sleep_until(wake) => if !dense { early.learn(Instant::now() - wake) },
                    _ = soft.cancelled() => break 'pace,
                }
            }
        } else if at > Instant::now() + TICK {
            // Wake on the timer tick before the arrival (tokio's timers end
            // on the first millisecond tick at or after their deadline).
            if pacer
                .due(n + 1)
                .is_some_and(|d| d.saturating_sub(due) < TICK)
            {
                guard.as_mut().reset(at);
            }
            tokio::select! {
                _ = sleep_until(at - TICK) => {}
                _ = soft.cancelled() => break 'pace,
            }
        }
        if soft.is_cancelled() {
            break;
        }
        // Start every iteration due before the next wake-up could: at most
        // `ahead` early, and late only when the generator itself is (then
        // the lateness counts in the corrected latency). Waking on the tick
        // after an arrival instead made every start up to 1 ms late: at
        // 5,000/s against a 0.15 ms service the corrected
        // http_req_duration read 0.84 ms on average.
        let horizon = Instant::now() + ahead;
        let (mut yielded, mut grow) = (false, false);
        while let Some(due) = pacer.due(n) {
            let intended = start + due;
            if intended > horizon {
                break;
            }
            n += 1;
            let mut free = idle.pop();
            if free.is_none() && !yielded {
                // Busy VUs may have their responses waiting unread (a
                // saturated generator is late for everything): give them
                // one turn, once per wake-up, before opening another VU
                // and connection, which would only make it later.
                yielded = true;
                tokio::task::yield_now().await;
                free = idle.pop();
            }
            if free.is_none() && !grow {
                // From when the pacer gets here: after a stall of the
                // generator itself every arrival is late, and the VUs with
                // responses waiting come back at once.
                let limit = intended.max(Instant::now()) + VU_WAIT;
                tokio::select! {
                    i = idle.pop_by(limit) => free = i,
                    _ = soft.cancelled() => break 'pace,
                }
                // No VU came back: the pool is too small for the service's
                // latency now, so the rest of this wake-up grows it at once.
                grow = free.is_none();
            }
            let i = match free {
                Some(i) => i,
                None if (hands.len() as u64) < max_vus => add_vu(&mut hands),
                None => {
                    ctx.state.dropped.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
            };
            ctx.state.active_vus.fetch_add(1, Ordering::Relaxed);
            hands[i].give(intended);
        }
    }
    // Idle VUs end now, busy ones after their iteration.
    for h in &hands {
        h.close();
    }
    tracker.close();
    let regular_end = (start + pacer.duration()).max(Instant::now());
    let hard_end = if soft.is_cancelled() {
        Instant::now() + graceful_stop
    } else {
        regular_end + graceful_stop
    };
    with_deadline(tracker.wait(), hard_end, hard).await;
}

#[cfg(test)]
mod tests;

#[cfg(target_os = "linux")]
mod microtimer;
