//! The HTTP virtual user: picks an operation by weight, runs its steps
//! (render → send → check → capture → think), and records every measurement
//! into its worker's recorder under one lock per request.
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
    self, CompiledAction, CompiledBody, CompiledCheck, CompiledRequest, CompiledStep, LazyJson,
    MetricSample, ResponseView, Workload,
};
use crate::template::{Scope, Text};
use gauntlet_drivers::http::{HttpClient, HttpRequest, HttpResponse, HttpSession, SendOptions};
use gauntlet_metrics::{Recorder, SeriesKey, TagInterner, TagKey, TagSet, TagSetId};
use gauntlet_plan::Plan;
use minijinja::value::Value;
use rand::SeedableRng;
use rand::rngs::SmallRng;
// Tiny per-VU caches looked up several times per request with small
// integer keys: FxHash, not SipHash (~4 % of a request's instructions).
use rustc_hash::FxHashMap as HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

/// What every VU of a run shares.
#[derive(Debug)]
pub struct Shared {
    /// The plan.
    pub plan: Arc<Plan>,
    /// The compiled workload.
    pub workload: Arc<Workload>,
    /// The HTTP client (TLS config, resolver).
    pub http: HttpClient,
    /// Target base URL (no trailing slash).
    pub base_url: String,
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
    /// Print each exchange to stderr (`--http-debug`).
    pub http_debug: Option<HttpDebug>,
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

/// What `--http-debug` prints of each exchange.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpDebug {
    /// Request and response heads.
    Headers,
    /// Heads and bodies.
    Full,
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

/// Why a request could not be built from its step: the `error_code` of
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

/// A request that could not be built.
#[derive(Debug)]
struct BuildError {
    code: StepErrorCode,
    message: String,
    /// A value the template reads is undefined: also a capture failure.
    undefined: bool,
}

impl BuildError {
    fn template(what: &str, e: minijinja::Error) -> BuildError {
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

impl Shared {
    /// Build from a collector.
    pub fn new(
        plan: Arc<Plan>,
        workload: Arc<Workload>,
        http: HttpClient,
        base_url: String,
        collector: &Collector,
        shards: usize,
    ) -> Shared {
        let env: std::collections::BTreeMap<String, String> = std::env::vars().collect();
        let secrets = secrets_of(&workload, &env);
        Shared {
            secrets,
            env_map: env.clone(),
            http_debug: None,
            throw: false,
            plan,
            workload,
            http,
            base_url,
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
fn secrets_of(
    workload: &Workload,
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

impl Shared {
    /// Add `-e NAME=VALUE` variables: visible as `env.NAME` above the
    /// process environment's, and secret like them.
    pub fn with_env(mut self, extra: &[(String, String)]) -> Shared {
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

/// The environment as a template map (`env.NAME`). Built as a map
/// explicitly: collected from pairs, it became a list of pairs and every
/// `env.NAME` was undefined.
fn env_value(m: std::collections::BTreeMap<String, String>) -> Value {
    Value::from(m)
}

/// Creates [`HttpVu`]s.
#[derive(Debug, Clone)]
pub struct HttpVuFactory {
    /// Shared run state.
    pub shared: Arc<Shared>,
    /// Seed for reproducible choices (plan `options.seed`).
    pub seed: Option<u64>,
}

impl VuFactory for HttpVuFactory {
    type Vu = HttpVu;
    fn create(&self, id: u64, scenario: usize) -> HttpVu {
        HttpVu::new(self.shared.clone(), id, scenario, self.seed)
    }
}

/// What checks and captures read of a response.
fn view_of(resp: &HttpResponse) -> ResponseView<'_> {
    ResponseView {
        status: resp.status,
        headers: &resp.headers,
        body: &resp.body,
        duration: resp.timings.duration(),
    }
}

/// A sent request as the steps see it once [`Own::send`] recorded and
/// checked it.
struct Sent {
    /// Every check passed (a request that failed fails all its checks;
    /// with no checks this is true, whatever happened).
    ok: bool,
    /// A poll step's `until` checks all passed (true for a plain request).
    until_met: bool,
    /// The response status (0 when none arrived).
    status: u16,
    /// Why the request failed, if it did.
    error: Option<gauntlet_drivers::http::HttpError>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct ReqTagKey {
    op: u16,
    step: u16,
    status: u16,
    error: Option<&'static str>,
    expected: bool,
    http2: bool,
}

/// A virtual user speaking HTTP.
///
/// What it shares with the run (`shared`, its recorder shard) is kept apart
/// from its own state (`own`): [`Own`]'s methods borrow the shared part as
/// an [`At`] instead of cloning an `Arc` to get around the borrow of
/// `self` (each clone and drop is a locked instruction; a request made
/// sixteen of them).
#[derive(Debug)]
pub struct HttpVu {
    shared: Arc<Shared>,
    recorder: Arc<Mutex<Recorder>>,
    own: Own,
}

/// A virtual user's own state: connections, variables, random numbers,
/// tag caches.
#[derive(Debug)]
struct Own {
    id: u64,
    scenario: usize,
    session: HttpSession,
    rng: SmallRng,
    iterations: u64,
    scope: Scope,
    tags: TagCache,
    /// When the last iteration ended ([`VirtualUser::take_end`]).
    ended: Option<Instant>,
    /// The URL of the last request sent, back from its response, and the
    /// step it belongs to: when that step is sent again, its static URL is
    /// this one and needs no clone (an allocation, a copy and a free a
    /// request, ~150 instructions, `bench/callgrind.sh`).
    spare_url: Option<(StepKey, url::Url)>,
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
    /// [`Shared::step_errors`] (one lock per VU and step, not per failure).
    noted: Vec<(u16, usize, StepErrorCode)>,
}

/// How long a closed-model VU waits after an iteration that sent nothing
/// because its steps could not be built.
const STEP_ERROR_BACKOFF: Duration = Duration::from_secs(1);

/// A request step of a VU: its place and its index there.
type StepKey = (u16, usize);

/// Where a VU's work happens: the run's shared state, the VU's recorder
/// shard and scenario, and the place of the steps running.
#[derive(Clone, Copy)]
struct At<'a> {
    sh: &'a Shared,
    recorder: &'a Mutex<Recorder>,
    scenario: usize,
    place: Place,
}

impl At<'_> {
    fn lock(&self) -> std::sync::MutexGuard<'_, Recorder> {
        self.recorder.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn group_name(&self) -> Arc<str> {
        match self.place {
            Place::Op(i) => self.sh.workload.ops[i].name.clone(),
            Place::Setup => Arc::from("setup"),
            Place::Teardown => Arc::from("teardown"),
        }
    }

    fn base_tags(&self) -> Vec<(TagKey, Arc<str>)> {
        let sc = &self.sh.plan.scenarios[self.scenario];
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
            _ => vec![(TagKey::Scenario, self.group_name())],
        };
        v.push((TagKey::Group, self.group_name()));
        if let Place::Op(i) = self.place {
            v.extend(
                self.sh.plan.workload.operations[i]
                    .tags
                    .iter()
                    .map(|(k, val)| (TagKey::parse(k), Arc::<str>::from(val.as_str()))),
            );
        }
        v
    }
}

/// Tag set ids by a small key, with the last hit kept beside the map: a VU
/// mostly repeats the same request, and comparing a key it holds costs less
/// than probing a table in memory of its own, which the kernel's work
/// between two requests has evicted.
#[derive(Debug)]
struct Memo<K> {
    map: HashMap<K, TagSetId>,
    last: Option<(K, TagSetId)>,
}

impl<K> Default for Memo<K> {
    fn default() -> Self {
        Memo {
            map: HashMap::default(),
            last: None,
        }
    }
}

impl<K: Copy + Eq + std::hash::Hash> Memo<K> {
    /// The id of `key`, made by `make` the first time.
    fn get_or(&mut self, key: K, make: impl FnOnce() -> TagSetId) -> TagSetId {
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

/// The tag sets a VU has interned (each built and interned once per VU and
/// key, then looked up).
#[derive(Debug, Default)]
struct TagCache {
    requests: Memo<ReqTagKey>,
    checks: Memo<(u16, u16, u16)>,
    groups: Memo<u16>,
    step_errors: Memo<(u16, u16, StepErrorCode)>,
    /// Plan metric samples and their `metric_errors`, by (place, step, index).
    metrics: Memo<(u16, u16, u16)>,
    metric_errors: Memo<(u16, u16, u16)>,
}

impl TagCache {
    fn group(&mut self, at: At<'_>) -> TagSetId {
        self.groups.get_or(at.place.key(), || {
            at.sh.interner.intern(TagSet::new(at.base_tags()))
        })
    }

    fn request(
        &mut self,
        at: At<'_>,
        step: &CompiledStep,
        req: &CompiledRequest,
        method: &http::Method,
        k: ReqTagKey,
    ) -> TagSetId {
        self.requests.get_or(k, || {
            let mut tags = at.base_tags();
            tags.push((TagKey::Name, Arc::from(&*step.name)));
            tags.push((TagKey::Method, Arc::from(method.as_str())));
            tags.push((TagKey::Status, Arc::from(k.status.to_string().as_str())));
            tags.push((
                TagKey::ExpectedResponse,
                Arc::from(if k.expected { "true" } else { "false" }),
            ));
            tags.push((
                TagKey::Proto,
                Arc::from(if k.http2 { "HTTP/2.0" } else { "HTTP/1.1" }),
            ));
            if let Some(e) = k.error {
                tags.push((TagKey::ErrorCode, Arc::from(e)));
            }
            tags.extend(
                req.tags
                    .iter()
                    .map(|(k, v)| (TagKey::parse(k), Arc::<str>::from(v.as_str()))),
            );
            at.sh.interner.intern(TagSet::new(tags))
        })
    }

    fn step_error(&mut self, at: At<'_>, step: usize, name: &str, code: StepErrorCode) -> TagSetId {
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
    fn metric(
        &mut self,
        at: At<'_>,
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
    fn metric_error(
        &mut self,
        at: At<'_>,
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

    fn check(
        &mut self,
        at: At<'_>,
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

/// The request as `--http-debug` prints it, with secrets shown as `***`.
fn debug_request(sh: &Shared, step: &str, r: &HttpRequest, d: HttpDebug) -> String {
    use std::fmt::Write as _;
    let mut out = format!("--- request [{step}]\n{} {}\n", r.method, r.url);
    for (k, v) in &r.headers {
        let _ = writeln!(out, "{k}: {}", shown_header(sh, k.as_str(), v.as_bytes()));
    }
    if d == HttpDebug::Full && !r.body.is_empty() {
        let _ = writeln!(out, "\n{}", String::from_utf8_lossy(&r.body));
    }
    sh.redact(&out)
}

/// A header value as `--http-debug` shows it: credentials never.
fn shown_header(sh: &Shared, name: &str, value: &[u8]) -> String {
    const HIDDEN: &[&str] = &[
        "authorization",
        "proxy-authorization",
        "cookie",
        "set-cookie",
    ];
    if HIDDEN.iter().any(|h| name.eq_ignore_ascii_case(h)) {
        "***".to_owned()
    } else {
        sh.redact(&String::from_utf8_lossy(value))
    }
}

/// Print one exchange to stderr in one write, so VUs do not interleave.
fn print_exchange(sh: &Shared, request: String, resp: &HttpResponse, d: HttpDebug) {
    use std::fmt::Write as _;
    let mut out = request;
    let _ = write!(out, "--- response: ");
    match &resp.error {
        Some(e) if resp.status == 0 => {
            let _ = writeln!(out, "no response ({}: {})", e.kind.as_str(), e.message);
        }
        _ => {
            let _ = writeln!(out, "{:?} {}", resp.version, resp.status);
            for (k, v) in resp.headers.iter() {
                let _ = writeln!(out, "{k}: {}", shown_header(sh, k.as_str(), v.as_bytes()));
            }
            if d == HttpDebug::Full && !resp.body.is_empty() {
                let _ = writeln!(out, "\n{}", sh.redact(&String::from_utf8_lossy(&resp.body)));
            }
            if let Some(e) = &resp.error {
                let _ = writeln!(out, "(failed: {}: {})", e.kind.as_str(), e.message);
            }
        }
    }
    use std::io::Write as _;
    let _ = std::io::stderr().lock().write_all(out.as_bytes());
}

/// The response-time metrics of a request that got its response: the
/// duration and total corrected by `lag`, and every phase.
fn record_timings(
    r: &mut gauntlet_metrics::Row<'_>,
    ids: &crate::collect::Ids,
    t: &gauntlet_drivers::http::Timings,
    lag: Duration,
) {
    let duration = t.duration();
    r.record_latency(ids.http_req_duration, us(duration + lag), us(duration));
    r.record_latency(ids.http_req_total, us(t.total() + lag), us(t.total()));
    r.record_trend(ids.http_req_blocked, us(t.blocked));
    r.record_trend(ids.http_req_dns, us(t.dns));
    r.record_trend(ids.http_req_connecting, us(t.connecting));
    r.record_trend(ids.http_req_tls_handshaking, us(t.tls_handshaking));
    r.record_trend(ids.http_req_sending, us(t.sending));
    r.record_trend(ids.http_req_waiting, us(t.waiting));
    r.record_trend(ids.http_req_receiving, us(t.receiving));
}

/// Where a step lives: an operation, or the run's setup/teardown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    Op(usize),
    Setup,
    Teardown,
}

impl Place {
    fn key(self) -> u16 {
        match self {
            Place::Op(i) => i as u16,
            Place::Setup => u16::MAX - 1,
            Place::Teardown => u16::MAX - 2,
        }
    }
}

/// Why the run's setup failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetupError(pub String);

impl std::fmt::Display for SetupError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl HttpVu {
    fn new(shared: Arc<Shared>, id: u64, scenario: usize, seed: Option<u64>) -> HttpVu {
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
        HttpVu {
            own: Own {
                id,
                scenario,
                session: shared.http.session(),
                rng,
                iterations: 0,
                scope,
                tags: TagCache::default(),
                ended: None,
                spare_url: None,
                in_flight: None,
                sent_this_iteration: false,
                step_failed: false,
                noted: Vec::new(),
            },
            shared,
            recorder,
        }
    }

    /// The shared part as an [`At`] for `place`, and the VU's own state.
    fn split(&mut self, place: Place) -> (At<'_>, &mut Own) {
        let at = At {
            sh: &self.shared,
            recorder: &self.recorder,
            scenario: self.own.scenario,
            place,
        };
        (at, &mut self.own)
    }

    /// Run the plan's `setup` steps once; their captures become `setup.<name>`.
    pub async fn run_setup(&mut self) -> Result<Value, SetupError> {
        let (at, own) = self.split(Place::Setup);
        own.feed(at.sh, &at.sh.workload.setup_feeds)
            .map_err(|_| SetupError("a data feeder had no row for setup".into()))?;
        let before: Vec<String> = own.scope.keys().cloned().collect();
        own.run_steps(at, &at.sh.workload.setup, Duration::ZERO, true)
            .await
            .map_err(|e| SetupError(at.sh.redact(&e)))?;
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
        own.run_steps(at, &at.sh.workload.teardown, Duration::ZERO, false)
            .await
            .map_err(|e| SetupError(at.sh.redact(&e)))
    }
}

impl Own {
    /// Render a request template into a driver request.
    /// `spare` is this request's static URL when the caller has it already.
    fn build(
        &self,
        sh: &Shared,
        r: &CompiledRequest,
        spare: Option<url::Url>,
    ) -> Result<HttpRequest, BuildError> {
        let t = &sh.workload.templates;
        let parse = |path: &str| {
            if path.starts_with("http://") || path.starts_with("https://") {
                url::Url::parse(path)
            } else {
                url::Url::parse(&format!("{}{}", sh.base_url, path))
            }
            .map_err(|e| BuildError {
                code: StepErrorCode::InvalidUrl,
                message: format!("URL `{path}`: {e}"),
                undefined: false,
            })
        };
        let mut url = match &r.url {
            Text::Static(_) if let Some(u) = spare => u,
            Text::Static(path) => match r.parsed_url.get() {
                Some((base, u)) if *base == sh.base_url => u.clone(),
                _ => {
                    let u = parse(path)?;
                    let _ = r.parsed_url.set((sh.base_url.clone(), u.clone()));
                    u
                }
            },
            dynamic => parse(
                &t.render(dynamic, &self.scope)
                    .map_err(|e| BuildError::template("url", e))?,
            )?,
        };
        // Credentials in a templated URL go as basic authentication (as
        // curl and k6 send them), never in the URL; a static URL had them
        // taken out when it was compiled.
        let credentials = match &r.url {
            Text::Static(_) => None,
            _ => flow::url_credentials(&mut url),
        };
        if !r.query.is_empty() {
            let mut q = url.query_pairs_mut();
            for (k, v) in &r.query {
                let v = t
                    .render(v, &self.scope)
                    .map_err(|e| BuildError::template(&format!("query `{k}`"), e))?;
                q.append_pair(k, &v);
            }
        }
        let mut headers = http::HeaderMap::with_capacity(r.headers.len());
        for (k, v) in &r.headers {
            let val = t
                .render(v, &self.scope)
                .map_err(|e| BuildError::template(&format!("header `{k}`"), e))?;
            headers.append(
                k.clone(),
                http::HeaderValue::from_str(&val).map_err(|_| BuildError {
                    code: StepErrorCode::InvalidHeader,
                    message: format!(
                        "header `{k}`: the rendered value is not a valid header value"
                    ),
                    undefined: false,
                })?,
            );
        }
        if let Some(value) = credentials
            && r.url_credentials_win
            && let Ok(value) = http::HeaderValue::from_str(&value)
        {
            headers.insert(http::header::AUTHORIZATION, value);
        }
        let body = match &r.body {
            CompiledBody::Empty => bytes::Bytes::new(),
            CompiledBody::Json(j) => t
                .render_json(j, &self.scope)
                .map_err(|e| BuildError::template("json body", e))?,
            CompiledBody::Raw(x) => bytes::Bytes::from(
                t.render(x, &self.scope)
                    .map_err(|e| BuildError::template("body", e))?
                    .as_bytes()
                    .to_vec(),
            ),
            CompiledBody::Form(f) => {
                let mut ser = url::form_urlencoded::Serializer::new(String::new());
                for (k, v) in f {
                    let v = t
                        .render(v, &self.scope)
                        .map_err(|e| BuildError::template(&format!("form field `{k}`"), e))?;
                    ser.append_pair(k, &v);
                }
                bytes::Bytes::from(ser.finish())
            }
            CompiledBody::Multipart(boundary, parts) => {
                let mut b = Vec::new();
                for p in parts {
                    b.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
                    match (&p.value, &p.file) {
                        (_, Some((fname, content))) => {
                            b.extend_from_slice(format!("Content-Disposition: form-data; name=\"{}\"; filename=\"{fname}\"\r\n", p.name).as_bytes());
                            b.extend_from_slice(
                                format!(
                                    "Content-Type: {}\r\n\r\n",
                                    p.content_type
                                        .as_deref()
                                        .unwrap_or("application/octet-stream")
                                )
                                .as_bytes(),
                            );
                            b.extend_from_slice(content);
                        }
                        (Some(v), None) => {
                            b.extend_from_slice(
                                format!("Content-Disposition: form-data; name=\"{}\"\r\n", p.name)
                                    .as_bytes(),
                            );
                            if let Some(ct) = &p.content_type {
                                b.extend_from_slice(format!("Content-Type: {ct}\r\n").as_bytes());
                            }
                            b.extend_from_slice(b"\r\n");
                            b.extend_from_slice(
                                t.render(v, &self.scope)
                                    .map_err(|e| {
                                        BuildError::template(&format!("part `{}`", p.name), e)
                                    })?
                                    .as_bytes(),
                            );
                        }
                        (None, None) => {}
                    }
                    b.extend_from_slice(b"\r\n");
                }
                b.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
                bytes::Bytes::from(b)
            }
        };
        Ok(HttpRequest {
            method: r.method.clone(),
            url,
            headers,
            body,
            timeout: r.timeout,
        })
    }

    /// Send one request, record everything about it and run its checks
    /// (for a poll step, only once its `until` checks pass), all under one
    /// lock of the recorder. `None` when the request could not be rendered
    /// (a missing capture): counted, not sent. The response stays here:
    /// returned through the steps' futures, it was copied three more times
    /// per request (~450 bytes each).
    async fn send(
        &mut self,
        at: At<'_>,
        si: usize,
        step: &CompiledStep,
        req: &CompiledRequest,
        lag: Duration,
        until: Option<&[(String, CompiledCheck)]>,
    ) -> Option<Sent> {
        let ids = &*at.sh.ids;
        let step_key = (at.place.key(), si);
        let spare = match self.spare_url.take() {
            Some((k, u)) if k == step_key => Some(u),
            _ => None,
        };
        // A URL built from its template each time is not kept.
        let keep_url = matches!(req.url, Text::Static(_)) && req.query.is_empty();
        let request = match self.build(at.sh, req, spare) {
            Ok(r) => r,
            Err(e) => {
                self.step_error(at, si, step, e);
                return None;
            }
        };
        self.sent_this_iteration = true;
        let method = request.method.clone();
        // Bodies nobody reads are counted but not kept or decoded.
        // Not boxed: the driver's future (~1.5 KB) is part of every VU's
        // task, +1.1 KB of peak RSS per VU (75 -> 86 MB at 10,000 VUs,
        // `bench/plans/think.yaml`), against an allocation, a 1.5 KB copy
        // and a free per request (575 of 12,714 instructions a request,
        // `bench/callgrind.sh`).
        let debug = at
            .sh
            .http_debug
            .map(|d| debug_request(at.sh, &step.name, &request, d));
        // Read by `interrupted` if a hard stop drops this future.
        self.in_flight = Some((at.place, si));
        let resp = self
            .session
            .send_with(
                request,
                SendOptions {
                    discard_body: !step.needs_body,
                },
            )
            .await;
        self.in_flight = None;
        if let (Some(req), Some(d)) = (debug, at.sh.http_debug) {
            print_exchange(at.sh, req, &resp, d);
        }
        let expected = resp.error.is_none()
            && req
                .expected
                .iter()
                .any(|(a, b)| (*a..=*b).contains(&resp.status));
        let key = ReqTagKey {
            op: at.place.key(),
            step: si as u16,
            status: resp.status,
            error: resp.error.as_ref().map(|e| e.kind.as_str()),
            expected,
            http2: resp.version == http::Version::HTTP_2,
        };
        // Each redirect followed is a request of its own (k6 records every
        // hop); the schedule's lag belongs to the first.
        let mut lag = lag;
        if !resp.earlier.is_empty() {
            self.record_hops(at, si, step, req, &method, &resp, lag);
            lag = Duration::ZERO;
        }
        let tags = self.tags.request(at, step, req, &method, key);
        let t = &resp.timings;
        let mut rec = at.lock();
        let mut r = rec.row(tags);
        r.add_counter(ids.http_reqs, 1.0);
        r.add_rate(ids.http_req_failed, !expected);
        if resp.error.as_ref().is_none_or(|e| e.kind.has_response()) {
            record_timings(&mut r, ids, t, lag);
        } else {
            // No complete response, so no response time: a refused
            // connection is not a 0 ms response (k6 records it as one).
            r.record_trend(ids.http_req_failure_duration, us(t.total()));
        }
        r.add_counter(ids.data_sent, resp.bytes_sent as f64);
        r.add_counter(ids.data_received, resp.bytes_received as f64);
        if let Some(until) = until {
            let view = view_of(&resp);
            let mut json = LazyJson::default();
            let met = resp.error.is_none()
                && until.iter().all(|(_, c)| {
                    flow::check(c, &view, &mut json, &at.sh.workload.templates, &self.scope)
                });
            if !met {
                if keep_url && resp.redirects == 0 {
                    self.spare_url = Some((step_key, resp.url));
                }
                return Some(Sent {
                    ok: false,
                    until_met: false,
                    status: resp.status,
                    error: resp.error,
                });
            }
        }
        let (checks_ok, _all_captured) = self.inspect(at, si, step, &resp, &mut rec);
        if keep_url && resp.redirects == 0 {
            self.spare_url = Some((step_key, resp.url));
        }
        Some(Sent {
            ok: checks_ok,
            until_met: true,
            status: resp.status,
            error: resp.error,
        })
    }

    /// Count a step that could not be built (`step_errors`, and
    /// `capture_failures` when it read a value that is not there), and note
    /// its first message for the summary.
    fn step_error(&mut self, at: At<'_>, si: usize, step: &CompiledStep, e: BuildError) {
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

    /// Record the redirects a response followed, each as a request of its
    /// own tagged with its 3xx status; `lag` goes to the first.
    #[allow(clippy::too_many_arguments)]
    fn record_hops(
        &mut self,
        at: At<'_>,
        si: usize,
        step: &CompiledStep,
        req: &CompiledRequest,
        method: &http::Method,
        resp: &HttpResponse,
        lag: Duration,
    ) {
        let ids = &*at.sh.ids;
        let mut lag = lag;
        for hop in &resp.earlier {
            let expected = req
                .expected
                .iter()
                .any(|(a, b)| (*a..=*b).contains(&hop.status));
            let key = ReqTagKey {
                op: at.place.key(),
                step: si as u16,
                status: hop.status,
                error: None,
                expected,
                http2: hop.version == http::Version::HTTP_2,
            };
            let tags = self.tags.request(at, step, req, method, key);
            let mut rec = at.lock();
            let mut r = rec.row(tags);
            r.add_counter(ids.http_reqs, 1.0);
            r.add_counter(ids.http_redirects, 1.0);
            r.add_rate(ids.http_req_failed, !expected);
            record_timings(&mut r, ids, &hop.timings, lag);
            lag = Duration::ZERO;
        }
    }

    /// Count the request a hard stop cut, if one was in flight: a request
    /// of its own, failed with `request_interrupted`, its time until the
    /// stop in `http_req_failure_duration`.
    fn record_interrupted(&mut self, sh: &Shared, recorder: &Mutex<Recorder>) {
        let (Some((place, si)), Some(since)) =
            (self.in_flight.take(), self.session.in_flight_since())
        else {
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
        let at = At {
            sh,
            recorder,
            scenario: self.scenario,
            place,
        };
        let key = ReqTagKey {
            op: place.key(),
            step: si as u16,
            status: 0,
            error: Some(gauntlet_drivers::http::ErrorKind::RequestInterrupted.as_str()),
            expected: false,
            http2: false,
        };
        let tags = self.tags.request(at, step, req, &req.method, key);
        let ids = &*sh.ids;
        let mut rec = at.lock();
        let mut r = rec.row(tags);
        r.add_counter(ids.http_reqs, 1.0);
        r.add_rate(ids.http_req_failed, true);
        r.record_trend(ids.http_req_failure_duration, us(since.elapsed()));
    }

    /// Run checks and captures, their results recorded into `r` as they
    /// come (no list of them per request); returns (all checks passed,
    /// every capture found). A new tag set locks the interner while `r`'s
    /// lock is held: safe, as nothing locks a recorder while it holds the
    /// interner.
    fn inspect(
        &mut self,
        at: At<'_>,
        si: usize,
        step: &CompiledStep,
        resp: &HttpResponse,
        r: &mut Recorder,
    ) -> (bool, bool) {
        let ids = &*at.sh.ids;
        let view = view_of(resp);
        let mut json = LazyJson::default();
        let mut all_ok = true;
        for (i, (name, c)) in step.checks.iter().enumerate() {
            let ok = resp.error.is_none()
                && flow::check(c, &view, &mut json, &at.sh.workload.templates, &self.scope);
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
        if resp.status != 0 {
            for (ai, add) in step.metrics.iter().enumerate() {
                let sample = flow::metric_sample(
                    add,
                    &view,
                    &resp.timings,
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
    async fn poll(&mut self, at: At<'_>, si: usize, step: &CompiledStep, lag: Duration) -> bool {
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
        at: At<'_>,
        steps: &[CompiledStep],
        mut lag: Duration,
        strict: bool,
    ) -> Result<(), String> {
        let mut first_failure = None;
        for (si, step) in steps.iter().enumerate() {
            let ok = match &step.action {
                CompiledAction::Request(req) => {
                    match self.send(at, si, step, req, lag, None).await {
                        Some(sent) => {
                            if at.sh.throw
                                && let Some(e) = &sent.error
                            {
                                return Err(format!("step `{}`: {}", step.name, e.message));
                            }
                            if strict && (sent.error.is_some() || !sent.ok) {
                                let why = sent.error.map(|e| e.message).unwrap_or_else(|| {
                                    format!("a check failed (status {})", sent.status)
                                });
                                return Err(format!("step `{}`: {why}", step.name));
                            }
                            // A missing capture does not end the iteration by itself: the
                            // steps that need it are skipped when they fail to render.
                            sent.ok || !step.end_on_check_failure
                        }
                        None if at.sh.throw => {
                            return Err(format!("step `{}` could not be built", step.name));
                        }
                        None => {
                            // A template needs a capture that found nothing: skip this
                            // step (counted) and go on with those that do not need it.
                            first_failure.get_or_insert_with(|| {
                                format!("step `{}` needs a value that was not captured", step.name)
                            });
                            true
                        }
                    }
                }
                CompiledAction::Poll { .. } => self.poll(at, si, step, lag).await,
            };
            lag = Duration::ZERO;
            if !ok {
                return Err(first_failure.unwrap_or_else(|| format!("step `{}` failed", step.name)));
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
    fn feed(&mut self, sh: &Shared, feeds: &[usize]) -> Result<(), IterationEnd> {
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
        sh: &Shared,
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
        let at = At {
            sh,
            recorder,
            scenario: self.scenario,
            place: Place::Op(op),
        };
        let _ = self.run_steps(at, &op_def.steps, lag, false).await;
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
        let gtag = self.tags.group(at);
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

impl VirtualUser for HttpVu {
    async fn iterate(&mut self, it: Iteration) -> IterationEnd {
        let HttpVu {
            shared,
            recorder,
            own,
        } = self;
        own.iterate(shared, recorder, it).await
    }

    fn interrupted(&mut self) {
        let HttpVu {
            shared,
            recorder,
            own,
        } = self;
        own.record_interrupted(shared, recorder);
        own.session.reset();
    }

    fn take_end(&mut self) -> Option<Instant> {
        self.own.ended.take()
    }
}
