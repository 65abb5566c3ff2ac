//! The plan's workload, compiled for running: templates compiled once, regular
//! expressions and JSON paths parsed once, header names validated once, the
//! weighted operation mix turned into a cumulative table. Nothing here is
//! parsed again per request.

use crate::step::{CompileContext, Content, Driver, Outcome, Reply};
use crate::template::{JsonBody, Scope, Templates, Text};
use gauntlet_plan as plan;
use http::header::HeaderName;
use minijinja::value::Value;
use rand::RngExt;
use serde_json_path::JsonPath;
use std::sync::Arc;
use std::time::Duration;

/// Why the workload could not be compiled (a plan that validated should not
/// fail here; this guards what validation cannot see, such as header syntax).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CompileError {
    /// A template did not compile.
    #[error("template `{source_text}`: {message}")]
    Template {
        /// The template.
        source_text: String,
        /// Why.
        message: String,
    },
    /// A regex, JSON path, header or method is invalid.
    #[error("{0}")]
    Invalid(String),
}

/// A check, parsed.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum CompiledCheck {
    /// Status in the set.
    Status(Vec<u16>),
    /// Body contains.
    BodyContains(Text),
    /// Body matches.
    BodyMatches(regex::Regex),
    /// JSON path exists or not.
    JsonPathExists(Arc<JsonPath>, bool),
    /// JSON path equals (strings in the expected value may be templates).
    JsonPathEquals(Arc<JsonPath>, JsonBody),
    /// Header exists or not.
    HeaderExists(HeaderName, bool),
    /// Header equals.
    HeaderEquals(HeaderName, Text),
    /// Header matches.
    HeaderMatches(HeaderName, regex::Regex),
    /// Duration below.
    DurationBelow(Duration),
}

/// A capture, parsed.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum CompiledCapture {
    /// JSON path.
    JsonPath(Arc<JsonPath>),
    /// Header.
    Header(HeaderName),
    /// Regex (first group, or whole match).
    Regex(regex::Regex),
    /// Status code.
    Status,
}

/// A value a step adds to one of the plan's own metrics, compiled.
#[derive(Debug, Clone)]
pub struct CompiledMetricAdd {
    /// Index in `Plan::custom_metrics` and [`crate::collect::Ids::plan_metrics`].
    pub metric: usize,
    /// The metric's kind: what the value must be.
    pub kind: gauntlet_metrics::MetricKind,
    /// A time trend: values are milliseconds, recorded in microseconds.
    pub time: bool,
    /// Where the value is read.
    pub source: CompiledMetricSource,
    /// Extra tags on the sample.
    pub tags: Vec<(String, String)>,
}

/// Where a step's metric value is read, parsed.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum CompiledMetricSource {
    /// A JSON path in the body.
    JsonPath(Arc<JsonPath>),
    /// A response header.
    Header(HeaderName),
    /// A timing of the request.
    Timing(plan::Timing),
    /// A template.
    Value(Text),
}

/// One sample for a plan metric, ready to record.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum MetricSample {
    /// Added to a counter.
    Counter(f64),
    /// A gauge's new value.
    Gauge(f64),
    /// A true or false sample of a rate.
    Rate(bool),
    /// A trend value in the metric's unit (microseconds for time trends).
    Trend(u64),
}

/// What step metric values read before they are fitted to the metric's type.
#[derive(Debug, Clone, Copy, PartialEq)]
enum RawValue {
    Number(f64),
    Bool(bool),
    /// A timing, exact (a time trend records it without a round trip through ms).
    Time(Duration),
}

/// Text as a number or a boolean: `true`/`false` in any case, since a
/// template renders a boolean as `True` (Jinja's spelling).
fn raw_of_text(s: &str) -> Option<RawValue> {
    let s = s.trim();
    if s.eq_ignore_ascii_case("true") {
        Some(RawValue::Bool(true))
    } else if s.eq_ignore_ascii_case("false") {
        Some(RawValue::Bool(false))
    } else {
        s.parse::<f64>().ok().map(RawValue::Number)
    }
}

/// The sample a step's metric value gives for this response, or `None`
/// when the value is missing or not a number (a rate also takes booleans):
/// the caller counts that in `metric_errors`.
pub fn metric_sample(
    add: &CompiledMetricAdd,
    r: &Reply<'_>,
    outcome: &impl Outcome,
    json: &mut LazyJson,
    t: &Templates,
    scope: &Scope,
) -> Option<MetricSample> {
    let raw = match &add.source {
        CompiledMetricSource::JsonPath(p) => match p.query(json.get(&r.content)?).first()? {
            serde_json::Value::Number(n) => RawValue::Number(n.as_f64()?),
            serde_json::Value::Bool(b) => RawValue::Bool(*b),
            serde_json::Value::String(s) => raw_of_text(s)?,
            _ => return None,
        },
        CompiledMetricSource::Header(h) => {
            raw_of_text(std::str::from_utf8(r.headers.first(h)?).ok()?)?
        }
        CompiledMetricSource::Timing(which) => RawValue::Time(outcome.timing(*which)?),
        CompiledMetricSource::Value(text) => raw_of_text(&t.render(text, scope).ok()?)?,
    };
    use gauntlet_metrics::MetricKind as K;
    let number = |raw: RawValue| match raw {
        RawValue::Number(v) if v.is_finite() => Some(v),
        RawValue::Time(d) => Some(d.as_secs_f64() * 1000.0),
        _ => None,
    };
    Some(match add.kind {
        K::Counter => MetricSample::Counter(number(raw)?),
        K::Gauge => MetricSample::Gauge(number(raw)?),
        K::Rate => MetricSample::Rate(match raw {
            RawValue::Bool(b) => b,
            other => number(other)? != 0.0,
        }),
        K::Trend => {
            let v = match (raw, add.time) {
                (RawValue::Time(d), true) => {
                    return Some(MetricSample::Trend(d.as_micros() as u64));
                }
                (other, true) => number(other)? * 1000.0,
                (other, false) => number(other)?,
            };
            if v < 0.0 {
                return None;
            }
            MetricSample::Trend(v.round() as u64)
        }
    })
}

/// What a step does.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum CompiledAction<S> {
    /// One request.
    Request(S),
    /// A polling loop.
    Poll {
        /// The request.
        request: S,
        /// Done when all pass.
        until: Vec<(String, CompiledCheck)>,
        /// Pause between attempts.
        interval: Duration,
        /// Give up after.
        timeout: Duration,
        /// Index of the wait metric in the plan's custom metrics.
        metric: String,
    },
}

/// A step, compiled.
#[derive(Debug, Clone)]
pub struct CompiledStep<S> {
    /// Name (the `name` tag).
    pub name: Arc<str>,
    /// What it does.
    pub action: CompiledAction<S>,
    /// Named checks.
    pub checks: Vec<(Arc<str>, CompiledCheck)>,
    /// Named captures.
    pub captures: Vec<(Arc<str>, CompiledCapture)>,
    /// Values added to the plan's metrics after each response.
    pub metrics: Vec<CompiledMetricAdd>,
    /// Pause after.
    pub think_time: Option<plan::ThinkTime>,
    /// Skip the rest of the iteration on a failed check.
    pub end_on_check_failure: bool,
    /// Whether any check or capture reads the body (else it may be discarded).
    pub needs_body: bool,
}

/// An operation, compiled.
#[derive(Debug, Clone)]
pub struct CompiledOp<S> {
    /// Name (the `group` tag).
    pub name: Arc<str>,
    /// Steps.
    pub steps: Vec<CompiledStep<S>>,
    /// Pause after the operation.
    pub think_time: Option<plan::ThinkTime>,
    /// Iteration pacing.
    pub pacing: Option<Duration>,
    /// Indexes (into [`Workload::data`]) of the feeders this operation reads;
    /// one row of each is drawn per iteration.
    pub feeds: Vec<usize>,
}

/// Weighted choice among operations: cumulative weights, one random draw.
#[derive(Debug, Clone)]
pub struct Mix {
    cumulative: Vec<(u64, usize)>,
}

impl Mix {
    /// Build from (operation index, weight) pairs; zero weights are skipped.
    pub fn new(pairs: &[(usize, u32)]) -> Mix {
        let mut acc = 0u64;
        let cumulative = pairs
            .iter()
            .filter(|(_, w)| *w > 0)
            .map(|(i, w)| {
                acc += *w as u64;
                (acc, *i)
            })
            .collect();
        Mix { cumulative }
    }

    /// Draw an operation index.
    pub fn pick(&self, rng: &mut impl rand::Rng) -> usize {
        let total = self.cumulative.last().map(|c| c.0).unwrap_or(0);
        if total == 0 {
            return 0;
        }
        let r = rng.random_range(0..total);
        let i = self.cumulative.partition_point(|c| c.0 <= r);
        self.cumulative[i.min(self.cumulative.len() - 1)].1
    }
}

/// The whole workload, compiled; `S` is the driver's compiled step.
#[derive(Debug)]
pub struct Workload<S> {
    /// Templates.
    pub templates: Templates,
    /// Operations.
    pub ops: Vec<CompiledOp<S>>,
    /// Setup steps.
    pub setup: Vec<CompiledStep<S>>,
    /// Teardown steps.
    pub teardown: Vec<CompiledStep<S>>,
    /// Per-scenario mix.
    pub mixes: Vec<Mix>,
    /// Default think time.
    pub think_time: Option<plan::ThinkTime>,
    /// Loaded data feeders.
    pub data: Vec<crate::data::DataSet>,
    /// Feeders read by setup and teardown steps.
    pub setup_feeds: Vec<usize>,
    /// Whether any template reads `env` (else it is left out of the scope).
    pub uses_env: bool,
    /// The environment variables templates read (`env.NAME`, `env['NAME']`):
    /// their values are secrets, redacted from every message.
    pub env_names: Vec<String>,
    /// The passwords written in the plan's URLs (`http://user:PW@host`),
    /// as written and percent-decoded: secrets too.
    pub url_passwords: Vec<String>,
}

fn tmpl_err(source: &str, e: minijinja::Error) -> CompileError {
    CompileError::Template {
        source_text: source.to_owned(),
        message: e.to_string(),
    }
}

struct Compiler<'a, D> {
    t: Templates,
    plan: &'a plan::Plan,
    base: &'a std::path::Path,
    metrics: &'a [plan::CustomMetric],
    driver: &'a D,
}

impl<D: Driver> Compiler<'_, D> {
    fn request(&mut self, r: &plan::Request) -> Result<D::Step, CompileError> {
        self.driver.compile(
            r,
            &mut CompileContext {
                templates: &mut self.t,
                plan: self.plan,
                base: self.base,
            },
        )
    }

    fn text(&mut self, t: &plan::Template) -> Result<Text, CompileError> {
        self.t.text(&t.source).map_err(|e| tmpl_err(&t.source, e))
    }

    fn header(name: &str) -> Result<HeaderName, CompileError> {
        HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| CompileError::Invalid(format!("`{name}` is not a valid header name")))
    }

    fn path(p: &str) -> Result<Arc<JsonPath>, CompileError> {
        JsonPath::parse(p)
            .map(Arc::new)
            .map_err(|e| CompileError::Invalid(format!("JSON path `{p}`: {e}")))
    }

    fn regex(r: &str) -> Result<regex::Regex, CompileError> {
        regex::Regex::new(r).map_err(|e| CompileError::Invalid(format!("regex `{r}`: {e}")))
    }

    fn check(&mut self, c: &plan::Check) -> Result<(Arc<str>, CompiledCheck), CompileError> {
        use plan::CheckKind as K;
        let k = match &c.kind {
            K::Status(s) => CompiledCheck::Status(s.clone()),
            K::BodyContains(t) => CompiledCheck::BodyContains(self.text(t)?),
            K::BodyMatches(r) => CompiledCheck::BodyMatches(Self::regex(r)?),
            K::JsonPathExists(p, e) => CompiledCheck::JsonPathExists(Self::path(p)?, *e),
            K::JsonPathEquals(p, v) => CompiledCheck::JsonPathEquals(
                Self::path(p)?,
                self.t.json(v).map_err(|e| tmpl_err(&v.to_string(), e))?,
            ),
            K::HeaderExists(h, e) => CompiledCheck::HeaderExists(Self::header(h)?, *e),
            K::HeaderEquals(h, v) => CompiledCheck::HeaderEquals(Self::header(h)?, self.text(v)?),
            K::HeaderMatches(h, r) => {
                CompiledCheck::HeaderMatches(Self::header(h)?, Self::regex(r)?)
            }
            K::DurationBelow(d) => CompiledCheck::DurationBelow(*d),
            _ => {
                return Err(CompileError::Invalid(format!(
                    "check `{}` is not supported",
                    c.name
                )));
            }
        };
        Ok((Arc::from(c.name.as_str()), k))
    }

    fn step(&mut self, s: &plan::Step) -> Result<CompiledStep<D::Step>, CompileError> {
        let action = match &s.action {
            plan::Action::Request(r) => CompiledAction::Request(self.request(r)?),
            plan::Action::Poll(p) => CompiledAction::Poll {
                request: self.request(&p.request)?,
                until: p
                    .until
                    .iter()
                    .map(|c| self.check(c).map(|(n, c)| (n.to_string(), c)))
                    .collect::<Result<_, _>>()?,
                interval: p.interval,
                timeout: p.timeout,
                metric: p.metric.clone(),
            },
            _ => {
                return Err(CompileError::Invalid(format!(
                    "step `{}`: unsupported action",
                    s.name
                )));
            }
        };
        let checks: Vec<_> = s
            .checks
            .iter()
            .map(|c| self.check(c))
            .collect::<Result<_, _>>()?;
        let captures: Vec<_> = s
            .captures
            .iter()
            .map(|c| {
                let k = match &c.source {
                    plan::CaptureSource::JsonPath(p) => CompiledCapture::JsonPath(Self::path(p)?),
                    plan::CaptureSource::Header(h) => CompiledCapture::Header(Self::header(h)?),
                    plan::CaptureSource::Regex(r) => CompiledCapture::Regex(Self::regex(r)?),
                    _ => CompiledCapture::Status,
                };
                Ok((Arc::from(c.name.as_str()), k))
            })
            .collect::<Result<_, CompileError>>()?;
        let metrics: Vec<CompiledMetricAdd> = s
            .metrics
            .iter()
            .map(|m| {
                let declared = self.metrics;
                let (metric, def) = declared
                    .iter()
                    .enumerate()
                    .find(|(_, c)| c.name == m.metric)
                    .ok_or_else(|| {
                        CompileError::Invalid(format!("metric `{}` is not declared", m.metric))
                    })?;
                let source = match &m.source {
                    plan::ValueSource::JsonPath(p) => {
                        CompiledMetricSource::JsonPath(Self::path(p)?)
                    }
                    plan::ValueSource::Header(h) => CompiledMetricSource::Header(Self::header(h)?),
                    plan::ValueSource::Timing(t) => CompiledMetricSource::Timing(*t),
                    plan::ValueSource::Value(v) => CompiledMetricSource::Value(self.text(v)?),
                };
                Ok(CompiledMetricAdd {
                    metric,
                    kind: def.kind,
                    time: def.unit == gauntlet_metrics::Unit::Microseconds,
                    source,
                    tags: m.tags.clone(),
                })
            })
            .collect::<Result<_, CompileError>>()?;
        let reads_body = |c: &CompiledCheck| {
            matches!(
                c,
                CompiledCheck::BodyContains(_)
                    | CompiledCheck::BodyMatches(_)
                    | CompiledCheck::JsonPathExists(..)
                    | CompiledCheck::JsonPathEquals(..)
            )
        };
        let needs_body = checks.iter().any(|(_, c)| reads_body(c))
            || captures.iter().any(|(_, c)| {
                matches!(c, CompiledCapture::JsonPath(_) | CompiledCapture::Regex(_))
            })
            || metrics
                .iter()
                .any(|m| matches!(m.source, CompiledMetricSource::JsonPath(_)))
            || matches!(&action, CompiledAction::Poll { until, .. } if until.iter().any(|(_, c)| reads_body(c)));
        Ok(CompiledStep {
            name: Arc::from(s.name.as_str()),
            action,
            checks,
            captures,
            metrics,
            think_time: s.think_time,
            end_on_check_failure: s.on_check_failure == plan::OnCheckFailure::EndIteration,
            needs_body,
        })
    }
}

impl<S> Workload<S> {
    /// Compile a validated plan's workload, its requests by `driver`.
    pub fn compile<D: Driver<Step = S>>(
        p: &plan::Plan,
        base: &std::path::Path,
        driver: &D,
    ) -> Result<Workload<S>, CompileError> {
        let data = p
            .data
            .iter()
            .map(|f| {
                crate::data::DataSet::load(f, base)
                    .map_err(|e| CompileError::Invalid(e.to_string()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let names: Vec<&str> = data.iter().map(|d| d.name.as_str()).collect();
        let mut c = Compiler {
            t: Templates::new(),
            plan: p,
            base,
            metrics: &p.custom_metrics,
            driver,
        };
        let ops = p
            .workload
            .operations
            .iter()
            .map(|o| {
                Ok(CompiledOp {
                    name: Arc::from(o.name.as_str()),
                    steps: o
                        .steps
                        .iter()
                        .map(|s| c.step(s))
                        .collect::<Result<_, CompileError>>()?,
                    think_time: o.think_time,
                    pacing: o.pacing,
                    feeds: feeds_of(&names, o.steps.iter()),
                })
            })
            .collect::<Result<_, CompileError>>()?;
        let setup = p
            .setup
            .iter()
            .flatten()
            .map(|s| c.step(s))
            .collect::<Result<_, _>>()?;
        let teardown = p
            .teardown
            .iter()
            .flatten()
            .map(|s| c.step(s))
            .collect::<Result<_, _>>()?;
        Ok(Workload {
            templates: c.t,
            ops,
            setup,
            teardown,
            mixes: p.scenarios.iter().map(|s| Mix::new(&s.mix)).collect(),
            think_time: p.workload.think_time,
            uses_env: {
                let all = format!(
                    "{:?}{:?}{:?}{:?}",
                    p.workload, p.setup, p.teardown, p.target.headers
                );
                all.contains("env.") || all.contains("env[")
            },
            env_names: env_names(&format!(
                "{:?}{:?}{:?}{:?}",
                p.workload, p.setup, p.teardown, p.target.headers
            )),
            url_passwords: url_passwords(&format!(
                "{:?}{:?}{:?}{:?}",
                p.workload, p.setup, p.teardown, p.target.base
            )),
            setup_feeds: feeds_of(
                &names,
                p.setup.iter().flatten().chain(p.teardown.iter().flatten()),
            ),
            data,
        })
    }
}

/// The environment variables a plan's text reads: `env.NAME` and
/// `env['NAME']` / `env["NAME"]` (the text is a Debug rendering, so quotes
/// may come escaped).
fn env_names(text: &str) -> Vec<String> {
    let re =
        regex::Regex::new(r#"\benv(?:\.([A-Za-z_][A-Za-z0-9_]*)|\[\\?['"]([^'"\\]+)\\?['"]\])"#)
            .expect("a valid pattern");
    let mut names: Vec<String> = re
        .captures_iter(text)
        .filter_map(|c| c.get(1).or_else(|| c.get(2)))
        .map(|m| m.as_str().to_owned())
        .collect();
    names.sort();
    names.dedup();
    names
}

/// Take the user name and password out of `url`, as the value of the
/// `Authorization: Basic` header that carries them instead; `None` when it
/// has none. Public: the CLI does the same for the target URL.
pub fn url_credentials(url: &mut url::Url) -> Option<String> {
    if url.username().is_empty() && url.password().is_none() {
        return None;
    }
    use base64::Engine as _;
    let decode = |s: &str| {
        percent_encoding::percent_decode_str(s)
            .decode_utf8_lossy()
            .into_owned()
    };
    let pair = format!(
        "{}:{}",
        decode(url.username()),
        decode(url.password().unwrap_or(""))
    );
    let _ = url.set_username("");
    let _ = url.set_password(None);
    Some(format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(pair)
    ))
}

/// The passwords of the URLs in a plan's text (`scheme://user:PW@`), as
/// written and percent-decoded.
fn url_passwords(text: &str) -> Vec<String> {
    let re = regex::Regex::new(r#"[A-Za-z][A-Za-z0-9+.-]*://[^/@\s:"]*:([^@/\s"]+)@"#)
        .expect("a valid pattern");
    let mut out: Vec<String> = Vec::new();
    for c in re.captures_iter(text) {
        let pw = c[1].to_owned();
        let decoded = percent_encoding::percent_decode_str(&pw)
            .decode_utf8_lossy()
            .into_owned();
        out.push(decoded);
        out.push(pw);
    }
    out.retain(|p| !p.is_empty() && !p.contains("{{"));
    out.sort();
    out.dedup();
    out
}

/// Which feeders a sequence of steps reads (`{{ users.x }}` in any template).
fn feeds_of<'a>(names: &[&str], steps: impl Iterator<Item = &'a plan::Step>) -> Vec<usize> {
    let texts: Vec<String> = steps.map(|s| format!("{s:?}")).collect();
    names
        .iter()
        .enumerate()
        .filter(|(_, n)| {
            texts
                .iter()
                .any(|t| t.contains(&format!("{n}.")) || t.contains(&format!("{n}[")))
        })
        .map(|(i, _)| i)
        .collect()
}

/// A reply's content as JSON, made at most once per reply (a body is
/// parsed only when a check, capture or metric reads it).
#[derive(Debug, Default)]
pub struct LazyJson(Option<Option<serde_json::Value>>);

impl LazyJson {
    fn get(&mut self, content: &Content<'_>) -> Option<&serde_json::Value> {
        self.0.get_or_insert_with(|| content.to_json()).as_ref()
    }
}

/// Evaluate a check.
pub fn check(
    c: &CompiledCheck,
    r: &Reply<'_>,
    json: &mut LazyJson,
    t: &Templates,
    scope: &Scope,
) -> bool {
    match c {
        CompiledCheck::Status(s) => s.contains(&r.status),
        CompiledCheck::BodyContains(text) => match t.render(text, scope) {
            Ok(needle) => memchr_contains(r.content.bytes(), needle.as_bytes()),
            Err(_) => false,
        },
        CompiledCheck::BodyMatches(re) => std::str::from_utf8(r.content.bytes())
            .map(|b| re.is_match(b))
            .unwrap_or(false),
        CompiledCheck::JsonPathExists(p, want) => {
            let found = json.get(&r.content).is_some_and(|v| !p.query(v).is_empty());
            found == *want
        }
        CompiledCheck::JsonPathEquals(p, expected) => {
            let Some(v) = json.get(&r.content) else {
                return false;
            };
            let Ok(exp) = t.render_json(expected, scope) else {
                return false;
            };
            let Ok(exp) = serde_json::from_slice::<serde_json::Value>(&exp) else {
                return false;
            };
            p.query(v)
                .exactly_one()
                .map(|got| loosely_equal(got, &exp))
                .unwrap_or(false)
        }
        CompiledCheck::HeaderExists(h, want) => r.headers.first(h).is_some() == *want,
        CompiledCheck::HeaderEquals(h, v) => match (r.headers.first(h), t.render(v, scope)) {
            (Some(got), Ok(want)) => got == want.as_bytes(),
            _ => false,
        },
        CompiledCheck::HeaderMatches(h, re) => r
            .headers
            .first(h)
            .and_then(|v| std::str::from_utf8(v).ok())
            .is_some_and(|v| re.is_match(v)),
        CompiledCheck::DurationBelow(d) => r.duration < *d,
    }
}

/// `"42"` equals `42`: YAML authors rarely mean the type difference.
fn loosely_equal(a: &serde_json::Value, b: &serde_json::Value) -> bool {
    use serde_json::Value as V;
    match (a, b) {
        (V::String(s), V::Number(n)) | (V::Number(n), V::String(s)) => s.trim() == n.to_string(),
        _ => a == b,
    }
}

fn memchr_contains(hay: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || hay.windows(needle.len()).any(|w| w == needle)
}

/// Extract a captured value, or `None` when it finds nothing.
pub fn capture(c: &CompiledCapture, r: &Reply<'_>, json: &mut LazyJson) -> Option<Value> {
    match c {
        CompiledCapture::JsonPath(p) => {
            let v = json.get(&r.content)?;
            let got = p.query(v).first()?;
            Some(Value::from(minijinja::value::Serde(got.clone())))
        }
        CompiledCapture::Header(h) => r
            .headers
            .first(h)
            .and_then(|v| std::str::from_utf8(v).ok())
            .map(Value::from),
        CompiledCapture::Regex(re) => {
            let body = std::str::from_utf8(r.content.bytes()).ok()?;
            let caps = re.captures(body)?;
            caps.get(1)
                .or_else(|| caps.get(0))
                .map(|m| Value::from(m.as_str()))
        }
        CompiledCapture::Status => (r.status != 0).then(|| Value::from(r.status)),
    }
}

/// Draw a think time.
pub fn think(t: &plan::ThinkTime, rng: &mut impl rand::Rng) -> Duration {
    match *t {
        plan::ThinkTime::Constant(d) => d,
        plan::ThinkTime::Uniform(a, b) => {
            if b <= a {
                a
            } else {
                Duration::from_secs_f64(rng.random_range(a.as_secs_f64()..b.as_secs_f64()))
            }
        }
        plan::ThinkTime::Exponential(mean) => {
            let u: f64 = rng.random_range(f64::EPSILON..1.0);
            Duration::from_secs_f64((-u.ln() * mean.as_secs_f64()).min(mean.as_secs_f64() * 50.0))
        }
        _ => Duration::ZERO,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mix_respects_weights() {
        let mix = Mix::new(&[(0, 25), (1, 50), (2, 0), (3, 25)]);
        let mut rng = rand::rng();
        let mut counts = [0u32; 4];
        for _ in 0..40_000 {
            counts[mix.pick(&mut rng)] += 1;
        }
        assert_eq!(counts[2], 0);
        assert!(
            (counts[1] as f64 / 40_000.0 - 0.5).abs() < 0.02,
            "{counts:?}"
        );
        assert!(
            (counts[0] as f64 / 40_000.0 - 0.25).abs() < 0.02,
            "{counts:?}"
        );
    }

    #[test]
    fn checks_and_captures() {
        let mut t = Templates::new();
        let headers = {
            let mut h = http::HeaderMap::new();
            h.insert("x-cache", http::HeaderValue::from_static("HIT"));
            h.insert("location", http::HeaderValue::from_static("/api/items/7"));
            h
        };
        let body = br#"{"id": 7, "items": [{"id": 3}], "status": "done"}"#;
        let r = Reply {
            status: 201,
            headers: &headers,
            content: Content::Bytes(body),
            duration: Duration::from_millis(5),
        };
        let mut json = LazyJson::default();
        let scope = Scope::new();
        let path = |p| CompiledCheck::JsonPathExists(Arc::new(JsonPath::parse(p).unwrap()), true);
        assert!(check(
            &CompiledCheck::Status(vec![200, 201]),
            &r,
            &mut json,
            &t,
            &scope
        ));
        assert!(check(&path("$.items[0].id"), &r, &mut json, &t, &scope));
        assert!(!check(&path("$.nope"), &r, &mut json, &t, &scope));
        let eq = CompiledCheck::JsonPathEquals(
            Arc::new(JsonPath::parse("$.status").unwrap()),
            t.json(&serde_json::json!("done")).unwrap(),
        );
        assert!(check(&eq, &r, &mut json, &t, &scope));
        assert!(check(
            &CompiledCheck::HeaderEquals(
                HeaderName::from_static("x-cache"),
                t.text("HIT").unwrap()
            ),
            &r,
            &mut json,
            &t,
            &scope
        ));
        assert!(check(
            &CompiledCheck::DurationBelow(Duration::from_millis(10)),
            &r,
            &mut json,
            &t,
            &scope
        ));
        assert!(check(
            &CompiledCheck::BodyContains(t.text("done").unwrap()),
            &r,
            &mut json,
            &t,
            &scope
        ));
        let id = capture(
            &CompiledCapture::JsonPath(Arc::new(JsonPath::parse("$.id").unwrap())),
            &r,
            &mut json,
        )
        .unwrap();
        assert_eq!(id, Value::from(7));
        let loc = capture(
            &CompiledCapture::Header(HeaderName::from_static("location")),
            &r,
            &mut json,
        )
        .unwrap();
        assert_eq!(loc.as_str(), Some("/api/items/7"));
        let re = capture(
            &CompiledCapture::Regex(regex::Regex::new(r#""status": "(\w+)""#).unwrap()),
            &r,
            &mut json,
        )
        .unwrap();
        assert_eq!(re.as_str(), Some("done"));
        assert!(
            capture(
                &CompiledCapture::JsonPath(Arc::new(JsonPath::parse("$.missing").unwrap())),
                &r,
                &mut json
            )
            .is_none()
        );
        let status = capture(&CompiledCapture::Status, &r, &mut json).unwrap();
        assert_eq!(status, Value::from(201));
        let failed = Reply {
            status: 0,
            headers: &headers,
            content: Content::Bytes(b""),
            duration: Duration::ZERO,
        };
        assert!(
            capture(&CompiledCapture::Status, &failed, &mut LazyJson::default()).is_none(),
            "no response, no status"
        );
    }

    #[test]
    fn think_times_stay_in_range() {
        let mut rng = rand::rng();
        let u = plan::ThinkTime::Uniform(Duration::from_secs(1), Duration::from_secs(3));
        for _ in 0..1000 {
            let d = think(&u, &mut rng);
            assert!(d >= Duration::from_secs(1) && d < Duration::from_secs(3));
        }
        let e = plan::ThinkTime::Exponential(Duration::from_secs(2));
        let mean: f64 = (0..20_000)
            .map(|_| think(&e, &mut rng).as_secs_f64())
            .sum::<f64>()
            / 20_000.0;
        assert!((mean - 2.0).abs() < 0.1, "{mean}");
    }

    #[tokio::test(start_paused = true)]
    async fn think_times_pace_a_vu_in_virtual_time() {
        use rand::SeedableRng;
        let mut rng = rand::rngs::SmallRng::seed_from_u64(7);
        let start = tokio::time::Instant::now();
        for _ in 0..10 {
            tokio::time::sleep(think(
                &plan::ThinkTime::Constant(Duration::from_secs(1)),
                &mut rng,
            ))
            .await;
        }
        assert_eq!(start.elapsed(), Duration::from_secs(10), "constant: exact");
        let start = tokio::time::Instant::now();
        for _ in 0..100 {
            tokio::time::sleep(think(
                &plan::ThinkTime::Uniform(Duration::from_secs(1), Duration::from_secs(3)),
                &mut rng,
            ))
            .await;
        }
        let e = start.elapsed().as_secs_f64();
        assert!(
            (180.0..220.0).contains(&e),
            "uniform 1..3 s averages 2 s: {e}"
        );
        let start = tokio::time::Instant::now();
        for _ in 0..400 {
            tokio::time::sleep(think(
                &plan::ThinkTime::Exponential(Duration::from_millis(500)),
                &mut rng,
            ))
            .await;
        }
        let e = start.elapsed().as_secs_f64();
        assert!((170.0..230.0).contains(&e), "exponential mean 0.5 s: {e}");
    }
}
