//! The virtual user: picks an operation by weight, runs its steps
//! (execute through its driver → check → capture → think), and records every
//! measurement into its worker's recorder under one lock per step.
//!
//! The VU is generic over its [`Driver`]: each request is a direct call the
//! compiler can inline, and the driver's future lives inside the VU's task.
//! A boxed driver (`Box<dyn ...>`) was rejected: its future would be boxed
//! too, an allocation, a copy and a free per request (docs/performance.md
//! has the cost), for no gain a run could see: a run speaks the protocols
//! its plan names, fixed before it starts. Several protocols in one build go
//! in one enum that implements [`Driver`].
//!
//! Latency correction: in open-model scenarios the first request of an
//! iteration is also measured from the iteration's intended start (the
//! pacer's schedule), so time spent waiting for the generator — a late
//! wake-up, a VU being created — counts against the service, as it would for
//! a real user. Later steps start when the previous one ends, so for them
//! corrected and raw are the same.

use crate::collect::{Collector, Ids};
use crate::data::Draw;
use crate::executor::{Iteration, IterationEnd, VirtualUser, VuFactory};
use crate::flow::{
    self, CompiledAction, CompiledCheck, CompiledStep, LazyJson, MetricSample, Workload,
};
use crate::step::{
    BuildError, Driver, ExecContext, Outcome, Place, Redact, Site, StepErrorCode, TagMemo,
};
use crate::template::Scope;
use gauntlet_metrics::{Recorder, SeriesKey, TagInterner, TagKey, TagSet, TagSetId};
use gauntlet_plan::Plan;
use minijinja::value::Value;
use rand::SeedableRng;
use rand::rngs::SmallRng;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

/// What every VU of a run shares: the plan, the compiled workload, the
/// driver, the recorders.
#[derive(Debug)]
pub struct RunContext<D: Driver> {
    /// The plan.
    pub plan: Arc<Plan>,
    /// The compiled workload.
    pub workload: Arc<Workload<D::Step>>,
    /// The protocol driver.
    pub driver: D,
    /// Metric ids.
    pub ids: Arc<Ids>,
    /// Tag sets.
    pub interner: TagInterner,
    /// Recorder shards.
    pub shards: Vec<Arc<Mutex<Recorder>>>,
    /// Values captured by `setup`, visible as `setup.<name>` (set once, before any scenario VU exists).
    pub setup: std::sync::OnceLock<Value>,
    /// Process environment, visible as `env.<NAME>`.
    pub env: Value,
    /// The process environment with `-e NAME=VALUE` on top, as text: what
    /// `env` and the secrets are made from.
    env_map: std::collections::BTreeMap<String, String>,
    /// A transport failure or a step that cannot be built ends its
    /// iteration (`--throw`).
    pub throw: bool,
    /// The first message of each step that could not be built, for the
    /// summary (the counts are in `step_errors`). Locked once per VU and
    /// step, never on a request that was sent.
    pub step_errors: Mutex<Vec<StepErrorNote>>,
    /// The values of the environment variables the plan's templates read:
    /// secrets (tokens, passwords), never shown in a message. Longest first,
    /// so a value containing another is replaced whole.
    secrets: Vec<String>,
}

/// Why a step of an operation could not be sent, as the summary shows it
/// once: the count is the `step_errors` metric.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepErrorNote {
    /// The operation (`group` tag), or `setup` / `teardown`.
    pub group: Arc<str>,
    /// The step (`name` tag).
    pub step: Arc<str>,
    /// The `error_code` tag.
    pub code: StepErrorCode,
    /// The first message seen.
    pub message: String,
}

impl<D: Driver> RunContext<D> {
    /// Build from a collector (which registered the driver's metrics); the
    /// driver resolves its metric ids here.
    pub fn new(
        plan: Arc<Plan>,
        workload: Arc<Workload<D::Step>>,
        mut driver: D,
        collector: &Collector,
        shards: usize,
    ) -> RunContext<D> {
        driver.bind(&collector.registry);
        let env: std::collections::BTreeMap<String, String> = std::env::vars().collect();
        let secrets = secrets_of(&workload, &env);
        RunContext {
            secrets,
            env_map: env.clone(),
            throw: false,
            plan,
            workload,
            driver,
            ids: collector.ids.clone(),
            interner: collector.interner.clone(),
            shards: (0..shards.max(1) as u64)
                .map(|i| collector.shard(i))
                .collect(),
            setup: std::sync::OnceLock::new(),
            env: env_value(env),
            step_errors: Mutex::new(Vec::new()),
        }
    }
}

/// The values of the variables `workload` reads from `env`, and the
/// passwords written in its URLs, longest first.
fn secrets_of<S>(
    workload: &Workload<S>,
    env: &std::collections::BTreeMap<String, String>,
) -> Vec<String> {
    let mut secrets: Vec<String> = workload
        .env_names
        .iter()
        .filter_map(|n| env.get(n))
        .filter(|v| !v.is_empty())
        .cloned()
        .chain(workload.url_passwords.iter().cloned())
        .collect();
    secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
    secrets
}

impl<D: Driver> RunContext<D> {
    /// Add `-e NAME=VALUE` variables: visible as `env.NAME` above the
    /// process environment's, and secret like them.
    pub fn with_env(mut self, extra: &[(String, String)]) -> RunContext<D> {
        if extra.is_empty() {
            return self;
        }
        self.env_map.extend(extra.iter().cloned());
        self.secrets = secrets_of(&self.workload, &self.env_map);
        self.env = env_value(self.env_map.clone());
        self
    }

    /// `text` with every value the plan read from the environment replaced
    /// by `***`: messages may quote a rendered URL or header.
    pub fn redact(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for s in &self.secrets {
            if out.contains(s.as_str()) {
                out = out.replace(s.as_str(), "***");
            }
        }
        out
    }
}

impl<D: Driver> Redact for RunContext<D> {
    fn redact(&self, text: &str) -> String {
        RunContext::redact(self, text)
    }
}

/// The environment as a template map (`env.NAME`). Built as a map
/// explicitly: collected from pairs, it became a list of pairs and every
/// `env.NAME` was undefined.
fn env_value(m: std::collections::BTreeMap<String, String>) -> Value {
    Value::from(m)
}

/// Creates the [`Vu`]s of a run.
#[derive(Debug)]
pub struct DriverVuFactory<D: Driver> {
    /// Shared run state.
    pub shared: Arc<RunContext<D>>,
    /// Seed for reproducible choices (plan `options.seed`).
    pub seed: Option<u64>,
}

impl<D: Driver> Clone for DriverVuFactory<D> {
    fn clone(&self) -> Self {
        DriverVuFactory {
            shared: self.shared.clone(),
            seed: self.seed,
        }
    }
}

impl<D: Driver> VuFactory for DriverVuFactory<D> {
    type Vu = Vu<D>;
    fn create(&self, id: u64, scenario: usize) -> Vu<D> {
        Vu::new(self.shared.clone(), id, scenario, self.seed)
    }
}

/// An executed step as the steps see it once [`VuState::send`] recorded
/// and checked it.
struct StepResult {
    /// Every check passed (a request that failed fails all its checks;
    /// with no checks this is true, whatever happened).
    ok: bool,
    /// A poll step's `until` checks all passed (true for a plain request).
    until_met: bool,
    /// The reply's status (0 when none arrived).
    status: u16,
    /// Why the step failed, if it did.
    error: Option<String>,
}

/// A virtual user, speaking its driver's protocol.
///
/// What it shares with the run (`shared`, its recorder shard) is kept apart
/// from its own state (`state`): [`VuState`]'s methods borrow the shared
/// part as a [`SharedRef`] instead of cloning an `Arc` to get around the
/// borrow of `self` (each clone and drop is a locked instruction).
#[derive(Debug)]
pub struct Vu<D: Driver> {
    shared: Arc<RunContext<D>>,
    recorder: Arc<Mutex<Recorder>>,
    state: VuState<D>,
}

/// A virtual user's own state: the driver session, variables, random
/// numbers, tag caches.
#[derive(Debug)]
struct VuState<D: Driver> {
    id: u64,
    scenario: usize,
    session: D::Session,
    rng: SmallRng,
    iterations: u64,
    scope: Scope,
    tags: TagCache,
    /// When the last iteration ended ([`VirtualUser::take_end`]).
    ended: Option<Instant>,
    /// The step whose request is in flight: what a hard stop cut when it
    /// drops the iteration ([`VirtualUser::interrupted`]).
    in_flight: Option<(Place, usize)>,
    /// Whether this iteration sent a request (an iteration that could send
    /// none because its steps failed to build backs off, instead of
    /// looping at full speed).
    sent_this_iteration: bool,
    /// A step of this iteration could not be built.
    step_failed: bool,
    /// Steps whose build failure this VU has already noted in
    /// [`RunContext::step_errors`] (one lock per VU and step, not per failure).
    noted: Vec<(u16, usize, StepErrorCode)>,
}

/// How long a closed-model VU waits after an iteration that sent nothing
/// because its steps could not be built.
const STEP_ERROR_BACKOFF: Duration = Duration::from_secs(1);

/// Where a VU's work happens, borrowed from the VU for a sequence of
/// steps: the run's shared state, the VU's recorder shard and scenario, and
/// the place of the steps running.
struct SharedRef<'a, D: Driver> {
    sh: &'a RunContext<D>,
    recorder: &'a Mutex<Recorder>,
    scenario: usize,
    place: Place,
    /// The place's name (the `group` tag).
    group: Arc<str>,
}

impl<D: Driver> SharedRef<'_, D> {
    fn lock(&self) -> std::sync::MutexGuard<'_, Recorder> {
        self.recorder.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn group_name(&self) -> Arc<str> {
        self.group.clone()
    }

    /// The step `step` of this place as the driver sees it.
    fn site<'s>(&'s self, step: usize, step_name: &'s Arc<str>) -> Site<'s> {
        Site {
            plan: &self.sh.plan,
            scenario: self.scenario,
            place: self.place,
            group: &self.group,
            step,
            step_name,
            interner: &self.sh.interner,
            redact: self.sh,
        }
    }

    fn base_tags(&self) -> Vec<(TagKey, Arc<str>)> {
        let name = Arc::from("");
        self.site(0, &name).base_tags()
    }
}

/// The name of a place (the `group` tag).
fn group_of<S>(workload: &Workload<S>, place: Place) -> Arc<str> {
    match place {
        Place::Op(i) => workload.ops[i].name.clone(),
        Place::Setup => Arc::from("setup"),
        Place::Teardown => Arc::from("teardown"),
    }
}

/// The tag sets a VU has interned (each built and interned once per VU and
/// key, then looked up).
#[derive(Debug, Default)]
struct TagCache {
    checks: TagMemo<(u16, u16, u16)>,
    groups: TagMemo<u16>,
    step_errors: TagMemo<(u16, u16, StepErrorCode)>,
    /// Plan metric samples and their `metric_errors`, by (place, step, index).
    metrics: TagMemo<(u16, u16, u16)>,
    metric_errors: TagMemo<(u16, u16, u16)>,
}

impl TagCache {
    fn group<D: Driver>(&mut self, at: &SharedRef<'_, D>) -> TagSetId {
        self.groups.get_or(at.place.key(), || {
            at.sh.interner.intern(TagSet::new(at.base_tags()))
        })
    }

    fn step_error<D: Driver>(
        &mut self,
        at: &SharedRef<'_, D>,
        step: usize,
        name: &str,
        code: StepErrorCode,
    ) -> TagSetId {
        self.step_errors
            .get_or((at.place.key(), step as u16, code), || {
                let mut tags = at.base_tags();
                tags.push((TagKey::Name, Arc::from(name)));
                tags.push((TagKey::ErrorCode, Arc::from(code.as_str())));
                at.sh.interner.intern(TagSet::new(tags))
            })
    }

    /// The tags of a step's plan-metric sample: the group's, the step's
    /// name and the sample's own tags (k6 tags custom metrics with the VU's
    /// tags and those given to `add`).
    fn metric<D: Driver>(
        &mut self,
        at: &SharedRef<'_, D>,
        step: usize,
        add: usize,
        name: &str,
        extra: &[(String, String)],
    ) -> TagSetId {
        self.metrics
            .get_or((at.place.key(), step as u16, add as u16), || {
                let mut tags = at.base_tags();
                tags.push((TagKey::Name, Arc::from(name)));
                tags.extend(
                    extra
                        .iter()
                        .map(|(k, v)| (TagKey::parse(k), Arc::<str>::from(v.as_str()))),
                );
                at.sh.interner.intern(TagSet::new(tags))
            })
    }

    /// The tags of a value that could not be added: the step and the metric.
    fn metric_error<D: Driver>(
        &mut self,
        at: &SharedRef<'_, D>,
        step: usize,
        add: usize,
        name: &str,
        metric: &str,
    ) -> TagSetId {
        self.metric_errors
            .get_or((at.place.key(), step as u16, add as u16), || {
                let mut tags = at.base_tags();
                tags.push((TagKey::Name, Arc::from(name)));
                tags.push((TagKey::Custom(Arc::from("metric")), Arc::from(metric)));
                at.sh.interner.intern(TagSet::new(tags))
            })
    }

    fn check<D: Driver>(
        &mut self,
        at: &SharedRef<'_, D>,
        step: usize,
        check: usize,
        name: &str,
        check_name: &str,
    ) -> TagSetId {
        let key = (at.place.key(), step as u16, check as u16);
        self.checks.get_or(key, || {
            let mut tags = at.base_tags();
            tags.push((TagKey::Name, Arc::from(name)));
            tags.push((TagKey::Check, Arc::from(check_name)));
            at.sh.interner.intern(TagSet::new(tags))
        })
    }
}

fn us(d: Duration) -> u64 {
    d.as_micros().min(u64::MAX as u128) as u64
}

/// Why a step ended its sequence: what setup and teardown report, and
/// what `--throw` ends an iteration with.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum StepFailure {
    /// The driver reported a failure (a transport error, a timeout).
    Failed {
        /// The step.
        step: Arc<str>,
        /// The driver's message.
        message: String,
    },
    /// A check failed (setup and teardown stop on it).
    CheckFailed {
        /// The step.
        step: Arc<str>,
        /// The reply's status.
        status: u16,
    },
    /// The step could not be built (`--throw`).
    NotBuilt {
        /// The step.
        step: Arc<str>,
    },
    /// The step reads a value no capture found.
    MissingCapture {
        /// The step.
        step: Arc<str>,
    },
    /// A check with `onCheckFailure: endIteration`, or a poll that never
    /// met its condition, ended the sequence.
    Ended {
        /// The step.
        step: Arc<str>,
    },
}

impl std::fmt::Display for StepFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StepFailure::Failed { step, message } => write!(f, "step `{step}`: {message}"),
            StepFailure::CheckFailed { step, status } => {
                write!(f, "step `{step}`: a check failed (status {status})")
            }
            StepFailure::NotBuilt { step } => write!(f, "step `{step}` could not be built"),
            StepFailure::MissingCapture { step } => {
                write!(f, "step `{step}` needs a value that was not captured")
            }
            StepFailure::Ended { step } => write!(f, "step `{step}` failed"),
        }
    }
}

impl StepFailure {
    /// The same failure with secrets hidden from its message.
    fn redacted(self, r: &dyn Redact) -> StepFailure {
        match self {
            StepFailure::Failed { step, message } => StepFailure::Failed {
                step,
                message: r.redact(&message),
            },
            other => other,
        }
    }
}

/// Why the run's setup or teardown failed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SetupError {
    /// A data feeder the setup reads had no row to give.
    NoFeederRow,
    /// A step failed.
    Step(StepFailure),
}

impl std::fmt::Display for SetupError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SetupError::NoFeederRow => f.write_str("a data feeder had no row for setup"),
            SetupError::Step(s) => s.fmt(f),
        }
    }
}

impl std::error::Error for SetupError {}

impl<D: Driver> Vu<D> {
    fn new(shared: Arc<RunContext<D>>, id: u64, scenario: usize, seed: Option<u64>) -> Vu<D> {
        let mut scope = Scope::new();
        scope.insert("vu".into(), Value::from(id));
        let sc = &shared.plan.scenarios[scenario];
        scope.insert("scenario".into(), Value::from(sc.name.as_str()));
        // The environment is only put in scope when a template reads it: every
        // render hands the whole scope to the template engine.
        if shared.workload.uses_env {
            let env = if sc.env.is_empty() {
                shared.env.clone()
            } else {
                let mut m = shared.env_map.clone();
                m.extend(sc.env.iter().cloned());
                env_value(m)
            };
            scope.insert("env".into(), env);
        }
        if let Some(setup) = shared.setup.get() {
            scope.insert("setup".into(), setup.clone());
        }
        let rng = match seed {
            Some(s) => SmallRng::seed_from_u64(s ^ id.wrapping_mul(0x9E37_79B9_7F4A_7C15)),
            None => SmallRng::from_rng(&mut rand::rng()),
        };
        let recorder = shared.shards[(id as usize) % shared.shards.len()].clone();
        Vu {
            state: VuState {
                id,
                scenario,
                session: shared.driver.session(),
                rng,
                iterations: 0,
                scope,
                tags: TagCache::default(),
                ended: None,
                in_flight: None,
                sent_this_iteration: false,
                step_failed: false,
                noted: Vec::new(),
            },
            shared,
            recorder,
        }
    }

    /// The shared part as a [`SharedRef`] for `place`, and the VU's own state.
    fn split(&mut self, place: Place) -> (SharedRef<'_, D>, &mut VuState<D>) {
        let at = SharedRef {
            sh: &self.shared,
            recorder: &self.recorder,
            scenario: self.state.scenario,
            place,
            group: group_of(&self.shared.workload, place),
        };
        (at, &mut self.state)
    }

    /// Run the plan's `setup` steps once; their captures become `setup.<name>`.
    pub async fn run_setup(&mut self) -> Result<Value, SetupError> {
        let (at, own) = self.split(Place::Setup);
        own.feed(at.sh, &at.sh.workload.setup_feeds)
            .map_err(|_| SetupError::NoFeederRow)?;
        let before: Vec<String> = own.scope.keys().cloned().collect();
        own.run_steps(&at, &at.sh.workload.setup, Duration::ZERO, true)
            .await
            .map_err(|e| SetupError::Step(e.redacted(at.sh)))?;
        let captured: std::collections::BTreeMap<String, Value> = own
            .scope
            .iter()
            .filter(|(k, _)| !before.contains(k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        Ok(Value::from(captured))
    }

    /// Run the plan's `teardown` steps once.
    pub async fn run_teardown(&mut self) -> Result<(), SetupError> {
        let (at, own) = self.split(Place::Teardown);
        own.run_steps(&at, &at.sh.workload.teardown, Duration::ZERO, false)
            .await
            .map_err(|e| SetupError::Step(e.redacted(at.sh)))
    }
}

impl<D: Driver> VuState<D> {
    /// Execute one step through the driver, record everything about it and
    /// run its checks (for a poll step, only once its `until` checks pass),
    /// all under one lock of the recorder. `None` when the step could not
    /// be built (a missing capture): counted, not sent. The outcome stays
    /// here, handed back to the driver at the end (docs/performance.md:
    /// returned through the steps' futures, it was copied three more times).
    async fn send(
        &mut self,
        at: &SharedRef<'_, D>,
        si: usize,
        step: &CompiledStep<D::Step>,
        req: &D::Step,
        lag: Duration,
        until: Option<&[(String, CompiledCheck)]>,
    ) -> Option<StepResult> {
        let sh = at.sh;
        let site = at.site(si, &step.name);
        let cx = ExecContext {
            site,
            templates: &sh.workload.templates,
            scope: &self.scope,
            needs_content: step.needs_body,
        };
        let request = match sh.driver.prepare(&mut self.session, req, &cx) {
            Ok(r) => r,
            Err(e) => {
                self.step_error(at, si, step, e);
                return None;
            }
        };
        self.sent_this_iteration = true;
        // Read by `interrupted` if a hard stop drops this future.
        self.in_flight = Some((at.place, si));
        let outcome = sh.driver.execute(&mut self.session, request).await;
        self.in_flight = None;
        let mut rec = at.lock();
        sh.driver
            .record(&mut self.session, req, &outcome, &site, lag, &mut rec);
        let failed = outcome.error_message().is_some();
        if let Some(until) = until {
            let view = outcome.reply();
            let mut json = LazyJson::default();
            let met = !failed
                && until.iter().all(|(_, c)| {
                    flow::check(c, &view, &mut json, &sh.workload.templates, &self.scope)
                });
            if !met {
                drop(rec);
                let result = StepResult {
                    ok: false,
                    until_met: false,
                    status: view.status,
                    error: outcome.error_message().map(str::to_owned),
                };
                sh.driver.reclaim(&mut self.session, req, &site, outcome);
                return Some(result);
            }
        }
        let (checks_ok, _all_captured) = self.inspect(at, si, step, &outcome, &mut rec);
        drop(rec);
        let result = StepResult {
            ok: checks_ok,
            until_met: true,
            status: outcome.reply().status,
            error: outcome.error_message().map(str::to_owned),
        };
        sh.driver.reclaim(&mut self.session, req, &site, outcome);
        Some(result)
    }

    /// Count a step that could not be built (`step_errors`, and
    /// `capture_failures` when it read a value that is not there), and note
    /// its first message for the summary.
    fn step_error(
        &mut self,
        at: &SharedRef<'_, D>,
        si: usize,
        step: &CompiledStep<D::Step>,
        e: BuildError,
    ) {
        let ids = &*at.sh.ids;
        self.step_failed = true;
        let tags = self.tags.step_error(at, si, &step.name, e.code);
        let group = e.undefined.then(|| self.tags.group(at));
        {
            let mut rec = at.lock();
            rec.add_counter(
                SeriesKey {
                    metric: ids.step_errors,
                    tags,
                },
                1.0,
            );
            if let Some(tags) = group {
                rec.add_counter(
                    SeriesKey {
                        metric: ids.capture_failures,
                        tags,
                    },
                    1.0,
                );
            }
        }
        let site = (at.place.key(), si, e.code);
        if !self.noted.contains(&site) {
            self.noted.push(site);
            let mut notes = at.sh.step_errors.lock().unwrap_or_else(|p| p.into_inner());
            let group = at.group_name();
            if !notes
                .iter()
                .any(|n| n.group == group && n.step == step.name && n.code == e.code)
            {
                notes.push(StepErrorNote {
                    group,
                    step: step.name.clone(),
                    code: e.code,
                    message: at.sh.redact(&e.message),
                });
            }
        }
    }

    /// Let the driver count the step a hard stop cut, if one was in flight.
    fn record_interrupted(&mut self, sh: &RunContext<D>, recorder: &Mutex<Recorder>) {
        let Some((place, si)) = self.in_flight.take() else {
            return;
        };
        let steps = match place {
            Place::Op(i) => &sh.workload.ops[i].steps,
            Place::Setup => &sh.workload.setup,
            Place::Teardown => &sh.workload.teardown,
        };
        let Some(step) = steps.get(si) else {
            return;
        };
        let req = match &step.action {
            CompiledAction::Request(r) => r,
            CompiledAction::Poll { request, .. } => request,
        };
        let at = SharedRef {
            sh,
            recorder,
            scenario: self.scenario,
            place,
            group: group_of(&sh.workload, place),
        };
        let site = at.site(si, &step.name);
        let mut rec = at.lock();
        sh.driver
            .interrupted(&mut self.session, req, &site, &mut rec);
    }

    /// Run checks and captures, their results recorded into `r` as they
    /// come (no list of them per request); returns (all checks passed,
    /// every capture found). A new tag set locks the interner while `r`'s
    /// lock is held: safe, as nothing locks a recorder while it holds the
    /// interner.
    fn inspect(
        &mut self,
        at: &SharedRef<'_, D>,
        si: usize,
        step: &CompiledStep<D::Step>,
        resp: &D::Outcome,
        r: &mut Recorder,
    ) -> (bool, bool) {
        let ids = &*at.sh.ids;
        let view = resp.reply();
        let failed = resp.error_message().is_some();
        let mut json = LazyJson::default();
        let mut all_ok = true;
        for (i, (name, c)) in step.checks.iter().enumerate() {
            let ok =
                !failed && flow::check(c, &view, &mut json, &at.sh.workload.templates, &self.scope);
            all_ok &= ok;
            let tags = self.tags.check(at, si, i, &step.name, name);
            r.add_rate(
                SeriesKey {
                    metric: ids.checks,
                    tags,
                },
                ok,
            );
        }
        let mut captured = true;
        for (ci, (name, c)) in step.captures.iter().enumerate() {
            match flow::capture(c, &view, &mut json) {
                Some(v) => {
                    self.scope.insert(name.to_string(), v);
                }
                None => {
                    // A capture that finds nothing fails a check named after it.
                    self.scope.remove(&**name);
                    captured = false;
                    let tags =
                        self.tags
                            .check(at, si, 1000 + ci, &step.name, &format!("captured {name}"));
                    r.add_rate(
                        SeriesKey {
                            metric: ids.checks,
                            tags,
                        },
                        false,
                    );
                }
            }
        }
        if !captured {
            let tags = self.tags.group(at);
            r.add_counter(
                SeriesKey {
                    metric: ids.capture_failures,
                    tags,
                },
                1.0,
            );
        }
        // The plan's own metrics, from a response that arrived (after the
        // captures, which a `value:` template may read).
        if view.status != 0 {
            for (ai, add) in step.metrics.iter().enumerate() {
                let sample = flow::metric_sample(
                    add,
                    &view,
                    resp,
                    &mut json,
                    &at.sh.workload.templates,
                    &self.scope,
                );
                let Some(sample) = sample else {
                    let name = &at.sh.plan.custom_metrics[add.metric].name;
                    let tags = self.tags.metric_error(at, si, ai, &step.name, name);
                    r.add_counter(
                        SeriesKey {
                            metric: ids.metric_errors,
                            tags,
                        },
                        1.0,
                    );
                    continue;
                };
                let key = SeriesKey {
                    metric: ids.plan_metrics[add.metric],
                    tags: self.tags.metric(at, si, ai, &step.name, &add.tags),
                };
                match sample {
                    MetricSample::Counter(v) => r.add_counter(key, v),
                    MetricSample::Gauge(v) => r.set_gauge(key, v),
                    MetricSample::Rate(b) => r.add_rate(key, b),
                    MetricSample::Trend(v) => r.record_trend(key, v),
                }
            }
        }
        (all_ok, captured)
    }

    /// Repeat a request until its `until` checks pass or the timeout passes;
    /// the wait goes to the poll's metric and a check `<step> completed`.
    async fn poll(
        &mut self,
        at: &SharedRef<'_, D>,
        si: usize,
        step: &CompiledStep<D::Step>,
        lag: Duration,
    ) -> bool {
        let CompiledAction::Poll {
            request,
            until,
            interval,
            timeout,
            metric,
        } = &step.action
        else {
            return false;
        };
        let start = Instant::now();
        let mut lag = lag;
        let done = loop {
            let Some(sent) = self.send(at, si, step, request, lag, Some(until)).await else {
                break false;
            };
            lag = Duration::ZERO;
            if sent.until_met {
                break true;
            }
            if start.elapsed() + *interval > *timeout {
                break false;
            }
            tokio::time::sleep(*interval).await;
        };
        let ids = &*at.sh.ids;
        let done_tag = self.tags.check(
            at,
            si,
            2000,
            &step.name,
            &format!("{} completed", step.name),
        );
        let gtag = self.tags.group(at);
        let mut r = at.lock();
        r.add_rate(
            SeriesKey {
                metric: ids.checks,
                tags: done_tag,
            },
            done,
        );
        if let Some(id) = ids.custom.get(metric).copied() {
            r.record_trend(
                SeriesKey {
                    metric: id,
                    tags: gtag,
                },
                us(start.elapsed()),
            );
        }
        done
    }

    /// Run a sequence of steps; `Err` names the first step that failed.
    async fn run_steps(
        &mut self,
        at: &SharedRef<'_, D>,
        steps: &[CompiledStep<D::Step>],
        mut lag: Duration,
        strict: bool,
    ) -> Result<(), StepFailure> {
        let mut first_failure = None;
        for (si, step) in steps.iter().enumerate() {
            let ok = match &step.action {
                CompiledAction::Request(req) => {
                    match self.send(at, si, step, req, lag, None).await {
                        Some(sent) => {
                            if at.sh.throw
                                && let Some(e) = &sent.error
                            {
                                return Err(StepFailure::Failed {
                                    step: step.name.clone(),
                                    message: e.clone(),
                                });
                            }
                            if strict && (sent.error.is_some() || !sent.ok) {
                                return Err(match sent.error {
                                    Some(message) => StepFailure::Failed {
                                        step: step.name.clone(),
                                        message,
                                    },
                                    None => StepFailure::CheckFailed {
                                        step: step.name.clone(),
                                        status: sent.status,
                                    },
                                });
                            }
                            // A missing capture does not end the iteration by itself: the
                            // steps that need it are skipped when they fail to render.
                            sent.ok || !step.end_on_check_failure
                        }
                        None if at.sh.throw => {
                            return Err(StepFailure::NotBuilt {
                                step: step.name.clone(),
                            });
                        }
                        None => {
                            // A template needs a capture that found nothing: skip this
                            // step (counted) and go on with those that do not need it.
                            first_failure.get_or_insert_with(|| StepFailure::MissingCapture {
                                step: step.name.clone(),
                            });
                            true
                        }
                    }
                }
                CompiledAction::Poll { .. } => self.poll(at, si, step, lag).await,
            };
            lag = Duration::ZERO;
            if !ok {
                return Err(first_failure.unwrap_or_else(|| StepFailure::Ended {
                    step: step.name.clone(),
                }));
            }
            if let Some(tt) = &step.think_time {
                tokio::time::sleep(flow::think(tt, &mut self.rng)).await;
            }
        }
        match (strict, first_failure) {
            (true, Some(f)) => Err(f),
            _ => Ok(()),
        }
    }

    /// Draw one row of each feeder the steps read.
    fn feed(&mut self, sh: &RunContext<D>, feeds: &[usize]) -> Result<(), IterationEnd> {
        for &i in feeds {
            let d = &sh.workload.data[i];
            match d.draw(self.id, &mut self.rng) {
                Draw::Row(v) => {
                    self.scope.insert(d.name.clone(), v);
                }
                Draw::StopVu => return Err(IterationEnd::StopVu),
                Draw::StopTest => return Err(IterationEnd::StopTest),
            }
        }
        Ok(())
    }

    /// One iteration: pick an operation, run its steps, think, record the
    /// iteration's metrics ([`VirtualUser::iterate`] with the shared part
    /// borrowed).
    async fn iterate(
        &mut self,
        sh: &RunContext<D>,
        recorder: &Mutex<Recorder>,
        it: Iteration,
    ) -> IterationEnd {
        // A closed-model iteration starts when the executor read the clock
        // to start it; an open-model one now, after its intended start.
        let started = if it.open_model {
            Instant::now()
        } else {
            it.intended_start
        };
        self.iterations += 1;
        let iter = Value::from(self.iterations - 1);
        match self.scope.get_mut("iter") {
            Some(v) => *v = iter,
            None => {
                self.scope.insert("iter".into(), iter);
            }
        }
        self.sent_this_iteration = false;
        self.step_failed = false;
        let workload = &*sh.workload;
        let op = workload.mixes[self.scenario].pick(&mut self.rng);
        let Some(op_def) = workload.ops.get(op) else {
            return IterationEnd::Completed;
        };
        if let Err(end) = self.feed(sh, &op_def.feeds) {
            return end;
        }
        let lag = if it.open_model {
            started.saturating_duration_since(it.intended_start)
        } else {
            Duration::ZERO
        };
        let at = SharedRef {
            sh,
            recorder,
            scenario: self.scenario,
            place: Place::Op(op),
            group: op_def.name.clone(),
        };
        let _ = self.run_steps(&at, &op_def.steps, lag, false).await;
        let mut end = Instant::now();
        let group_time = end.saturating_duration_since(started);
        let mut waited = false;
        // Think time after the operation (k6's sleep at the end of the default function).
        if let Some(tt) = op_def.think_time.as_ref().or(workload.think_time.as_ref()) {
            tokio::time::sleep(flow::think(tt, &mut self.rng)).await;
            waited = true;
        }
        if let Some(p) = op_def.pacing {
            tokio::time::sleep_until(started + p).await;
            waited = true;
        }
        // Steps that cannot be built fail at once: a closed-model VU would
        // otherwise start iterations as fast as the CPU allows (millions a
        // second) and send nothing. Open-model arrivals are paced already.
        if self.step_failed && !self.sent_this_iteration && !it.open_model {
            tokio::time::sleep(STEP_ERROR_BACKOFF).await;
        }
        // As in k6, the iteration's duration includes its closing think time.
        let iter_time = if waited {
            end = Instant::now();
            end.saturating_duration_since(started)
        } else {
            group_time
        };
        let ids = &*sh.ids;
        let gtag = self.tags.group(&at);
        let mut rec = at.lock();
        let mut r = rec.row(gtag);
        r.record_trend(ids.group_duration, us(group_time));
        r.record_latency(ids.iteration_duration, us(iter_time + lag), us(iter_time));
        r.add_counter(ids.iterations, 1.0);
        if it.open_model {
            r.record_trend(ids.iteration_start_lateness, us(lag));
        }
        // Only a closed-model loop starts its next iteration from here.
        self.ended = (!it.open_model).then_some(end);
        IterationEnd::Completed
    }
}

impl<D: Driver> VirtualUser for Vu<D> {
    async fn iterate(&mut self, it: Iteration) -> IterationEnd {
        let Vu {
            shared,
            recorder,
            state,
        } = self;
        state.iterate(shared, recorder, it).await
    }

    fn interrupted(&mut self) {
        let Vu {
            shared,
            recorder,
            state,
        } = self;
        state.record_interrupted(shared, recorder);
        shared.driver.reset(&mut state.session);
    }

    fn take_end(&mut self) -> Option<Instant> {
        self.state.ended.take()
    }
}
