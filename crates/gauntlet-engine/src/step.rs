//! The step-driver contract: what a protocol gives the engine so that its
//! steps run inside the engine's virtual users, executors, checks,
//! captures, thresholds and summary.
//!
//! A [`Driver`] compiles a step's protocol part once from the plan, gives
//! each VU a session (its connections, or a handle on a pool), executes a
//! compiled step into an outcome, records the metrics it declared, and shows
//! checks and captures a [`Reply`]. Everything a driver needs from the
//! engine is named here, and every type a check reads lives here, so the
//! drivers crate depends on the engine and never the reverse.
//!
//! Dispatch is static: the VU is generic over its driver (see `vu.rs` for
//! why not a boxed driver), and a build with several protocols puts them
//! in one enum that implements [`Driver`].

use crate::flow::CompileError;
use crate::template::{Scope, Templates};
use gauntlet_metrics::{MetricId, MetricKind, Recorder, Registry, TagInterner, TagKey, TagSetId};
use gauntlet_plan as plan;
use http::HeaderName;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

/// One metric a driver records: registered by the collector before the run,
/// so thresholds, the timeline and the summary know it without the engine
/// naming it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetricDecl {
    /// The metric's name (`http_req_duration`, `sql_query_duration`).
    pub name: &'static str,
    /// Counter, gauge, rate or trend.
    pub kind: MetricKind,
    /// Unit of its values.
    pub unit: gauntlet_metrics::Unit,
    /// The tags its samples carry besides the group's (documentation and
    /// the reference of the metric's series).
    pub tags: &'static [TagKey],
}

/// Resolve a driver's declared metrics to their ids in `registry` (the
/// collector registered them), in declaration order; a name the registry
/// lacks resolves to `MetricId(0)`, as the engine's own ids do.
pub fn resolve(registry: &Registry, decls: &[MetricDecl]) -> Vec<MetricId> {
    decls
        .iter()
        .map(|d| registry.get(d.name).unwrap_or(MetricId(0)))
        .collect()
}

/// Headers of a reply, looked up by name: the HTTP driver's are read as
/// received (no map built per response); a protocol without headers uses
/// [`NoHeaders`].
pub trait Headers {
    /// The first value of `name`, if present.
    fn first(&self, name: &HeaderName) -> Option<&[u8]>;
}

/// The headers of a protocol that has none.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoHeaders;

impl Headers for NoHeaders {
    fn first(&self, _: &HeaderName) -> Option<&[u8]> {
        None
    }
}

impl Headers for http::HeaderMap {
    fn first(&self, name: &HeaderName) -> Option<&[u8]> {
        self.get(name).map(|v| v.as_bytes())
    }
}

/// A result table (SQL): column names and rows of JSON values.
#[derive(Debug, Clone, Copy)]
pub struct Rows<'a> {
    /// Column names, in order.
    pub columns: &'a [Arc<str>],
    /// Rows, each as many values as there are columns.
    pub rows: &'a [Vec<serde_json::Value>],
}

/// What a reply carries: bytes (an HTTP body), a table (SQL rows and
/// columns) or one value (a Redis reply). JSON paths read all three.
#[derive(Debug, Clone, Copy)]
pub enum Content<'a> {
    /// A body (decompressed; empty when discarded or when none came).
    Bytes(&'a [u8]),
    /// A table.
    Rows(Rows<'a>),
    /// One value.
    Value(&'a serde_json::Value),
}

impl<'a> Content<'a> {
    /// The bytes body checks and regex captures read (a table or value has
    /// none: it is read through JSON paths).
    pub fn bytes(&self) -> &'a [u8] {
        match *self {
            Content::Bytes(b) => b,
            Content::Rows(_) | Content::Value(_) => &[],
        }
    }

    /// As JSON: a body parsed; a table as an array of objects by column; a
    /// value as itself. `None` when a body is not JSON.
    pub fn to_json(&self) -> Option<serde_json::Value> {
        match *self {
            Content::Bytes(b) => serde_json::from_slice(b).ok(),
            Content::Rows(t) => Some(serde_json::Value::Array(
                t.rows
                    .iter()
                    .map(|r| {
                        serde_json::Value::Object(
                            t.columns
                                .iter()
                                .zip(r)
                                .map(|(c, v)| (c.to_string(), v.clone()))
                                .collect(),
                        )
                    })
                    .collect(),
            )),
            Content::Value(v) => Some(v.clone()),
        }
    }
}

/// What checks, captures and step metric values read of an outcome.
pub struct Reply<'a> {
    /// The protocol's status (HTTP status; 0 when no reply arrived).
    pub status: u16,
    /// Headers (none for most protocols).
    pub headers: &'a dyn Headers,
    /// What came back.
    pub content: Content<'a>,
    /// The step's response time (`DurationBelow` checks read it).
    pub duration: Duration,
}

impl std::fmt::Debug for Reply<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reply")
            .field("status", &self.status)
            .field("content", &self.content)
            .field("duration", &self.duration)
            .finish_non_exhaustive()
    }
}

/// What a driver's execution gives back, as the engine reads it.
pub trait Outcome {
    /// What checks and captures read.
    fn reply(&self) -> Reply<'_>;
    /// Why the step failed, if it did (the message the summary and
    /// `--throw` show).
    fn error_message(&self) -> Option<&str>;
    /// A named timing of this outcome (a step metric `timing:` source);
    /// `None` for one the protocol does not measure.
    fn timing(&self, which: plan::Timing) -> Option<Duration>;
}

/// Why a step could not be turned into a request: the `error_code` of
/// `step_errors`. A closed set, so reports and verdicts match on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum StepErrorCode {
    /// A template failed to render (a function refused its arguments, a
    /// value it reads is undefined, e.g. a capture that found nothing).
    Template,
    /// The rendered URL is not a URL.
    InvalidUrl,
    /// A rendered header value is not a valid header value.
    InvalidHeader,
}

impl StepErrorCode {
    /// The `error_code` tag value.
    pub fn as_str(self) -> &'static str {
        match self {
            StepErrorCode::Template => "template_error",
            StepErrorCode::InvalidUrl => "invalid_url",
            StepErrorCode::InvalidHeader => "invalid_header",
        }
    }
}

/// A step that could not be built into a request: counted in
/// `step_errors`, not sent.
#[derive(Debug)]
pub struct BuildError {
    /// The `error_code` tag.
    pub code: StepErrorCode,
    /// What went wrong (redacted before it is shown).
    pub message: String,
    /// A value the template reads is undefined: also a capture failure.
    pub undefined: bool,
}

impl BuildError {
    /// A template that failed to render; `what` names the part.
    pub fn template(what: &str, e: minijinja::Error) -> BuildError {
        let message = match e.detail() {
            Some(d) => format!("{what}: {}: {d}", e.kind()),
            None => format!("{what}: {}", e.kind()),
        };
        BuildError {
            code: StepErrorCode::Template,
            undefined: e.kind() == minijinja::ErrorKind::UndefinedError,
            message,
        }
    }
}

/// What a driver's `compile` may use: the run's templates (a step's text
/// is compiled into them once), the plan (target defaults) and the plan's
/// directory (files a step reads).
#[derive(Debug)]
pub struct CompileContext<'a> {
    /// The templates of the run.
    pub templates: &'a mut Templates,
    /// The plan.
    pub plan: &'a plan::Plan,
    /// The directory relative paths in the plan start from.
    pub base: &'a std::path::Path,
}

impl CompileContext<'_> {
    /// Compile a template of the plan.
    pub fn text(&mut self, t: &plan::Template) -> Result<crate::template::Text, CompileError> {
        self.templates
            .text(&t.source)
            .map_err(|e| CompileError::Template {
                source_text: t.source.clone(),
                message: e.to_string(),
            })
    }
}

/// Where a step runs: enough for a driver to build its tag sets (on first
/// use; it keeps them) and to key what it keeps per step.
#[derive(Debug, Clone, Copy)]
pub struct Site<'a> {
    /// The plan.
    pub plan: &'a plan::Plan,
    /// The VU's scenario.
    pub scenario: usize,
    /// The operation, or setup/teardown.
    pub place: Place,
    /// The operation's name (the `group` tag).
    pub group: &'a Arc<str>,
    /// The step's index in its operation.
    pub step: usize,
    /// The step's name (the `name` tag).
    pub step_name: &'a Arc<str>,
    /// The run's tag sets.
    pub interner: &'a TagInterner,
    /// Hides secrets in what a driver prints (`--http-debug`).
    pub redact: &'a dyn Redact,
}

impl Site<'_> {
    /// A small key of this step, unique in the run (for per-step caches).
    pub fn key(&self) -> StepKey {
        StepKey {
            place: self.place.key(),
            step: self.step as u16,
        }
    }

    /// The tags every sample of this step carries: scenario, scenario tags,
    /// group and the operation's tags.
    pub fn base_tags(&self) -> Vec<(TagKey, Arc<str>)> {
        let sc = &self.plan.scenarios[self.scenario];
        let mut v = match self.place {
            Place::Op(_) => {
                let mut v = vec![(TagKey::Scenario, Arc::<str>::from(sc.name.as_str()))];
                v.extend(
                    sc.tags
                        .iter()
                        .map(|(k, val)| (TagKey::parse(k), Arc::<str>::from(val.as_str()))),
                );
                v
            }
            Place::Setup | Place::Teardown => vec![(TagKey::Scenario, self.group.clone())],
        };
        v.push((TagKey::Group, self.group.clone()));
        if let Place::Op(i) = self.place {
            v.extend(
                self.plan.workload.operations[i]
                    .tags
                    .iter()
                    .map(|(k, val)| (TagKey::parse(k), Arc::<str>::from(val.as_str()))),
            );
        }
        v
    }

    /// Intern the base tags, the step's name and `extra`.
    pub fn intern(&self, extra: impl IntoIterator<Item = (TagKey, Arc<str>)>) -> TagSetId {
        let mut tags = self.base_tags();
        tags.push((TagKey::Name, self.step_name.clone()));
        tags.extend(extra);
        self.interner.intern(gauntlet_metrics::TagSet::new(tags))
    }
}

/// Where a step lives: an operation, or the run's setup/teardown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Place {
    /// The operation at this index.
    Op(usize),
    /// The run's setup.
    Setup,
    /// The run's teardown.
    Teardown,
}

impl Place {
    /// A small key, unique per place.
    pub fn key(self) -> u16 {
        match self {
            Place::Op(i) => i as u16,
            Place::Setup => u16::MAX - 1,
            Place::Teardown => u16::MAX - 2,
        }
    }
}

/// A step of the run, as a small key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct StepKey {
    /// [`Place::key`].
    pub place: u16,
    /// The step's index.
    pub step: u16,
}

/// Tag set ids by a small key, with the last hit kept beside the map: a VU
/// mostly repeats the same request, and comparing a key it holds costs less
/// than probing a table the kernel's work between two requests has evicted
/// from the cache.
#[derive(Debug)]
pub struct TagMemo<K> {
    map: rustc_hash::FxHashMap<K, TagSetId>,
    last: Option<(K, TagSetId)>,
}

impl<K> Default for TagMemo<K> {
    fn default() -> Self {
        TagMemo {
            map: rustc_hash::FxHashMap::default(),
            last: None,
        }
    }
}

impl<K: Copy + Eq + std::hash::Hash> TagMemo<K> {
    /// The id of `key`, made by `make` the first time.
    pub fn get_or(&mut self, key: K, make: impl FnOnce() -> TagSetId) -> TagSetId {
        if let Some((last, id)) = self.last
            && last == key
        {
            return id;
        }
        let id = *self.map.entry(key).or_insert_with(make);
        self.last = Some((key, id));
        id
    }
}

/// Secrets to hide from messages a driver prints (`--http-debug`).
pub trait Redact: Sync + std::fmt::Debug {
    /// `text` with every secret replaced by `***`.
    fn redact(&self, text: &str) -> String;
}

/// What a driver's `execute` reads besides its session and step.
pub struct ExecContext<'a> {
    /// Where the step runs.
    pub site: Site<'a>,
    /// The run's templates.
    pub templates: &'a Templates,
    /// The VU's variables.
    pub scope: &'a Scope,
    /// Whether any check, capture or metric reads the content (else the
    /// driver may count it and drop it).
    pub needs_content: bool,
}

/// A protocol's driver. One value per run, shared by every VU (`&self`);
/// its per-VU state is its [`Driver::Session`].
pub trait Driver: Send + Sync + std::fmt::Debug + 'static {
    /// A VU's own connections (or its handle on a pool), cookies, caches.
    type Session: Send + std::fmt::Debug + 'static;
    /// A step's protocol part, compiled once from the plan.
    type Step: Send + Sync + std::fmt::Debug + 'static;
    /// A step rendered for one execution (for HTTP the request and how to
    /// send it).
    type Request: Send + 'static;
    /// What one execution gives back.
    type Outcome: Outcome + Send + 'static;

    /// The metrics this driver records: the collector registers them.
    fn metrics(&self) -> &'static [MetricDecl];

    /// Resolve the ids of [`Driver::metrics`] in the run's registry (once,
    /// before any VU exists).
    fn bind(&mut self, registry: &Registry);

    /// Compile a plan request into this driver's step.
    fn compile(
        &self,
        request: &plan::Request,
        cx: &mut CompileContext<'_>,
    ) -> Result<Self::Step, CompileError>;

    /// A new VU's session.
    fn session(&self) -> Self::Session;

    /// Render `step` from the VU's variables. `Err` when it cannot be built
    /// (nothing is sent): counted in `step_errors`.
    fn prepare(
        &self,
        session: &mut Self::Session,
        step: &Self::Step,
        cx: &ExecContext<'_>,
    ) -> Result<Self::Request, BuildError>;

    /// Execute a rendered step. Rendering is apart so that this can hand
    /// back the protocol's own future, not one wrapped around it: the VU
    /// awaits it in place, and a wrapper would be one more copy of it per
    /// request (docs/performance.md).
    fn execute<'s>(
        &'s self,
        session: &'s mut Self::Session,
        request: Self::Request,
    ) -> impl Future<Output = Self::Outcome> + Send + 's;

    /// Record the outcome's own metrics into `rec` (the VU holds its
    /// recorder's lock: one lock per step), `lag` added to its corrected
    /// latency.
    fn record(
        &self,
        session: &mut Self::Session,
        step: &Self::Step,
        outcome: &Self::Outcome,
        site: &Site<'_>,
        lag: Duration,
        rec: &mut Recorder,
    );

    /// The engine is done with `outcome`: the driver may keep parts of it
    /// for the next execution of the same step.
    fn reclaim(
        &self,
        session: &mut Self::Session,
        step: &Self::Step,
        site: &Site<'_>,
        outcome: Self::Outcome,
    ) {
        let _ = (session, step, site, outcome);
    }

    /// A hard stop dropped the execution of `step` in flight: record it as
    /// interrupted (if one was really in flight) and make the session
    /// usable again.
    fn interrupted(
        &self,
        session: &mut Self::Session,
        step: &Self::Step,
        site: &Site<'_>,
        rec: &mut Recorder,
    );

    /// Forget connections a dropped execution left half used.
    fn reset(&self, session: &mut Self::Session);
}
