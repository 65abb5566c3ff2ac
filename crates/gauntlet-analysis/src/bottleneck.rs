//! Bottleneck findings: which resource saturated, when, at what load, with
//! the evidence and a recommendation built from the measured numbers.
//!
//! Each rule reads typed series ([`Signal`]) and compares one measure per
//! second with an *alert* and a *critical* threshold (seed 002's two
//! levels). A rule fires when its measure stays past a threshold for `hold`
//! seconds in a row (a gap neither counts nor breaks the run of seconds):
//! past `critical` it is a [`Severity::Critical`] finding, past `alert`
//! only a [`Severity::Warning`]. Findings are ordered by severity, then by
//! the second the resource crossed its threshold: as load rises, the first
//! resource to saturate is the bottleneck, the later ones are often its
//! consequences. The rules, their measures and defaults are documented in
//! `docs/analysis.md`; [`RulesOverride`] changes any of them.
//!
//! A rule whose series are absent, or whose series lacks the capacity its
//! measure needs, produces no finding and is listed in
//! [`BottleneckReport::not_evaluated`] with the data it missed: never a
//! plausible number.
//!
//! The generator is judged like any resource, by its own CPU against the
//! cores it may use: an idle generator never gets a finding, one at
//! saturation does, and then [`BottleneckReport::generator_limited`] tells
//! the reader that what followed measured the generator, not the service.

use crate::correlation::{Correlation, CorrelationOptions, correlate, correlation_table};
use crate::signals::{Series, SeriesRef, Signal, find, find_all};
use serde::{Deserialize, Serialize};

/// What saturated: the `kind` of a finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum FindingKind {
    /// The machine's or the service process's CPU.
    Cpu,
    /// Memory of the machine or the service process.
    Memory,
    /// A disk's busy time or bandwidth.
    Disk,
    /// Network bandwidth, interface errors or TCP retransmits.
    Network,
    /// The application's database connection pool.
    DbPool,
    /// Database sessions waiting on locks, deadlocks.
    DbLocks,
    /// Database server connections against `max_connections`.
    DbConnections,
    /// A cache whose hit ratio is too low.
    Cache,
    /// The load generator itself (its CPU, or iterations it could not start).
    Generator,
    /// Completed requests stopped following offered load.
    ThroughputLimit,
    /// Too many failed requests.
    ErrorRate,
}

impl FindingKind {
    /// Every kind, in the order rules run.
    pub const ALL: [FindingKind; 11] = [
        FindingKind::Generator,
        FindingKind::Cpu,
        FindingKind::Memory,
        FindingKind::Disk,
        FindingKind::Network,
        FindingKind::DbPool,
        FindingKind::DbLocks,
        FindingKind::DbConnections,
        FindingKind::Cache,
        FindingKind::ThroughputLimit,
        FindingKind::ErrorRate,
    ];
}

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Past the alert threshold: close to saturation.
    Warning,
    /// Past the critical threshold: saturated.
    Critical,
}

/// What a rule compared with its thresholds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Measure {
    /// The reading over its capacity, 0 to 1 (higher is worse).
    Utilization,
    /// Connections in use plus clients waiting, over the pool size (higher is worse; above 1 means waiting).
    PoolDemand,
    /// The reading itself, in its signal's unit (higher is worse).
    Level,
    /// Cache hits over lookups, 0 to 1 (lower is worse).
    HitRatio,
    /// Completed over offered requests per second, 0 to 1 (lower is worse).
    CompletedShare,
    /// Throughput growth over in-flight growth across the trailing window (lower is worse).
    ThroughputPerInFlight,
}

impl Measure {
    fn lower_is_worse(self) -> bool {
        matches!(
            self,
            Measure::HitRatio | Measure::CompletedShare | Measure::ThroughputPerInFlight
        )
    }
}

/// Run seconds `[start, end)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Window {
    /// First second (from the run's start).
    pub start: u32,
    /// The second after the last one.
    pub end: u32,
}

/// One series a rule read: its value at the onset and its worst in the window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Reading {
    /// Which series.
    pub series: SeriesRef,
    /// Its value at the onset second (`None`: a gap there).
    pub at_onset: Option<f64>,
    /// Its highest value in the window (`None`: no value in it).
    pub peak: Option<f64>,
    /// Its capacity, when the series carries one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capacity: Option<f64>,
}

/// Why a finding was made.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Evidence {
    /// The seconds from the onset to the last second past the threshold.
    pub window: Window,
    /// What was compared.
    pub measure: Measure,
    /// The threshold crossed (the critical one for a critical finding).
    pub threshold: f64,
    /// The measure at the onset.
    pub at_onset: f64,
    /// The worst measure in the window (highest, or lowest when lower is worse).
    pub worst: f64,
    /// The series read, first the one judged.
    pub readings: Vec<Reading>,
    /// Completed requests per second at the onset (offered, without throughput data).
    pub load_at_onset: Option<f64>,
    /// Median p95 latency (ms) over the ten seconds before the onset.
    pub latency_before_ms: Option<f64>,
    /// Highest p95 latency (ms) in the window.
    pub latency_peak_ms: Option<f64>,
    /// The judged series against p95 latency (`None`: no latency series, or the finding is about an outcome).
    pub correlation: Option<Correlation>,
}

/// One bottleneck finding.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Finding {
    /// What saturated.
    pub kind: FindingKind,
    /// How badly.
    pub severity: Severity,
    /// The numbers behind it.
    pub evidence: Evidence,
    /// What to do, with the measured numbers in it.
    pub recommendation: String,
}

/// A datum a rule needed and did not get.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "type")]
#[non_exhaustive]
pub enum MissingInput {
    /// No series of this signal (any one of the listed alternatives would do).
    Series {
        /// The signal.
        signal: Signal,
    },
    /// The series exists but its capacity is unknown.
    Capacity {
        /// The series.
        series: SeriesRef,
    },
}

/// A rule that could not be evaluated, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NotEvaluated {
    /// The rule's kind.
    pub kind: FindingKind,
    /// What it missed: for alternatives (host or process CPU), each is listed.
    pub missing: Vec<MissingInput>,
}

/// Everything the rules concluded.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BottleneckReport {
    /// Findings, critical first, each group in the order its resources crossed their thresholds.
    pub findings: Vec<Finding>,
    /// Rules that had their data (whether or not they found something).
    pub evaluated: Vec<FindingKind>,
    /// Rules that did not, with what was missing.
    pub not_evaluated: Vec<NotEvaluated>,
    /// The generator saturated: from its onset, the load measured the generator, not the service.
    pub generator_limited: bool,
}

/// The service-side part of a result: `findings[]` and `correlations[]`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceAnalysis {
    /// Bottleneck findings (see [`BottleneckReport::findings`]).
    pub findings: Vec<Finding>,
    /// Every outcome series against every resource series.
    pub correlations: Vec<Correlation>,
    /// Rules that had their data.
    pub evaluated: Vec<FindingKind>,
    /// Rules that did not, with what was missing.
    pub not_evaluated: Vec<NotEvaluated>,
    /// See [`BottleneckReport::generator_limited`].
    pub generator_limited: bool,
}

/// The two thresholds of one rule, and whether it runs.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Thresholds {
    /// Whether the rule runs.
    pub enabled: bool,
    /// Past this: a warning.
    pub alert: f64,
    /// Past this: critical.
    pub critical: f64,
}

const fn th(alert: f64, critical: f64) -> Thresholds {
    Thresholds {
        enabled: true,
        alert,
        critical,
    }
}

/// Every rule's thresholds. The defaults are documented in `docs/analysis.md`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Rules {
    /// Seconds in a row a measure must stay past a threshold. Default 3.
    pub hold: u32,
    /// Seconds at the start not judged for the cache (it fills first). Default 10.
    pub cache_warmup: u32,
    /// Trailing window of the in-flight rule, seconds. Default 10.
    pub inflight_window: u32,
    /// Correlation options for the table and the evidence.
    pub correlation: CorrelationOptions,
    /// Generator CPU utilization (of the cores it may use). Default 0.8 / 0.9.
    pub generator: Thresholds,
    /// Iterations per second the executor could not start (a warning only; `critical` unused). Default 1.
    pub dropped_iterations: Thresholds,
    /// CPU utilization (host share, or process cores over its cores). Default 0.7 / 0.9.
    pub cpu: Thresholds,
    /// Memory utilization. Default 0.8 / 0.9.
    pub memory: Thresholds,
    /// Disk busy share or bandwidth utilization. Default 0.7 / 0.9.
    pub disk: Thresholds,
    /// Network bandwidth utilization. Default 0.7 / 0.9.
    pub network: Thresholds,
    /// Network errors plus TCP retransmits per second. Default 1 / 50.
    pub network_errors: Thresholds,
    /// Pool demand: (in use + waiting) / size. Default 0.8 / 1.0.
    pub db_pool: Thresholds,
    /// Sessions waiting on locks. Default 1 / 5.
    pub db_locks: Thresholds,
    /// Deadlocks per second (critical at any). Default 0.001 / 0.001.
    pub db_deadlocks: Thresholds,
    /// Server connections over `max_connections`. Default 0.8 / 0.95.
    pub db_connections: Thresholds,
    /// Cache hit ratio, lower is worse. Default 0.8 / 0.5.
    pub cache: Thresholds,
    /// Completed over offered requests, lower is worse. Default 0.95 / 0.9.
    pub throughput_limit: Thresholds,
    /// Throughput growth over in-flight growth, lower is worse. Default 0.8 / 0.6.
    pub inflight: Thresholds,
    /// Failed request share. Default 0.01 / 0.05.
    pub error_rate: Thresholds,
}

impl Default for Rules {
    fn default() -> Self {
        Rules {
            hold: 3,
            cache_warmup: 10,
            inflight_window: 10,
            correlation: CorrelationOptions::default(),
            generator: th(0.8, 0.9),
            dropped_iterations: th(1.0, f64::INFINITY),
            cpu: th(0.7, 0.9),
            memory: th(0.8, 0.9),
            disk: th(0.7, 0.9),
            network: th(0.7, 0.9),
            network_errors: th(1.0, 50.0),
            db_pool: th(0.8, 1.0),
            db_locks: th(1.0, 5.0),
            db_deadlocks: th(0.001, 0.001),
            db_connections: th(0.8, 0.95),
            cache: th(0.8, 0.5),
            throughput_limit: th(0.95, 0.9),
            inflight: th(0.8, 0.6),
            error_rate: th(0.01, 0.05),
        }
    }
}

/// A partial change of one rule's thresholds.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct ThresholdsOverride {
    /// Turn the rule on or off.
    pub enabled: Option<bool>,
    /// A new alert threshold.
    pub alert: Option<f64>,
    /// A new critical threshold.
    pub critical: Option<f64>,
}

/// Changes to [`Rules::default`], as a plan or a config file writes them:
/// only what is named changes.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
#[allow(missing_docs)]
pub struct RulesOverride {
    pub hold: Option<u32>,
    pub cache_warmup: Option<u32>,
    pub inflight_window: Option<u32>,
    pub max_lag: Option<u32>,
    pub generator: ThresholdsOverride,
    pub dropped_iterations: ThresholdsOverride,
    pub cpu: ThresholdsOverride,
    pub memory: ThresholdsOverride,
    pub disk: ThresholdsOverride,
    pub network: ThresholdsOverride,
    pub network_errors: ThresholdsOverride,
    pub db_pool: ThresholdsOverride,
    pub db_locks: ThresholdsOverride,
    pub db_deadlocks: ThresholdsOverride,
    pub db_connections: ThresholdsOverride,
    pub cache: ThresholdsOverride,
    pub throughput_limit: ThresholdsOverride,
    pub inflight: ThresholdsOverride,
    pub error_rate: ThresholdsOverride,
}

/// Why overridden rules cannot be used.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum RulesError {
    /// A threshold is not a number.
    #[error("rule `{rule}`: thresholds must be finite numbers (hint: write e.g. `alert: 0.7`)")]
    NotFinite {
        /// The rule's key.
        rule: &'static str,
    },
    /// The alert threshold is past the critical one.
    #[error(
        "rule `{rule}`: the alert threshold {alert} is past the critical one {critical} (hint: alert comes first as the measure worsens)"
    )]
    Order {
        /// The rule's key.
        rule: &'static str,
        /// Its alert threshold.
        alert: f64,
        /// Its critical threshold.
        critical: f64,
    },
    /// `hold` is zero.
    #[error("`hold` must be at least 1 second")]
    ZeroHold,
}

impl Thresholds {
    fn apply(&mut self, o: &ThresholdsOverride) {
        if let Some(e) = o.enabled {
            self.enabled = e;
        }
        if let Some(a) = o.alert {
            self.alert = a;
        }
        if let Some(c) = o.critical {
            self.critical = c;
        }
    }
}

impl Rules {
    /// The defaults with `o`'s changes, checked.
    pub fn with_overrides(o: &RulesOverride) -> Result<Rules, RulesError> {
        let mut r = Rules::default();
        if let Some(h) = o.hold {
            r.hold = h;
        }
        if let Some(w) = o.cache_warmup {
            r.cache_warmup = w;
        }
        if let Some(w) = o.inflight_window {
            r.inflight_window = w;
        }
        if let Some(l) = o.max_lag {
            r.correlation.max_lag = l;
        }
        for (t, ov) in [
            (&mut r.generator, &o.generator),
            (&mut r.dropped_iterations, &o.dropped_iterations),
            (&mut r.cpu, &o.cpu),
            (&mut r.memory, &o.memory),
            (&mut r.disk, &o.disk),
            (&mut r.network, &o.network),
            (&mut r.network_errors, &o.network_errors),
            (&mut r.db_pool, &o.db_pool),
            (&mut r.db_locks, &o.db_locks),
            (&mut r.db_deadlocks, &o.db_deadlocks),
            (&mut r.db_connections, &o.db_connections),
            (&mut r.cache, &o.cache),
            (&mut r.throughput_limit, &o.throughput_limit),
            (&mut r.inflight, &o.inflight),
            (&mut r.error_rate, &o.error_rate),
        ] {
            t.apply(ov);
        }
        r.validate()?;
        Ok(r)
    }

    /// Check that thresholds are numbers in the right order.
    pub fn validate(&self) -> Result<(), RulesError> {
        if self.hold == 0 {
            return Err(RulesError::ZeroHold);
        }
        let higher = [
            ("generator", self.generator),
            ("cpu", self.cpu),
            ("memory", self.memory),
            ("disk", self.disk),
            ("network", self.network),
            ("networkErrors", self.network_errors),
            ("dbPool", self.db_pool),
            ("dbLocks", self.db_locks),
            ("dbDeadlocks", self.db_deadlocks),
            ("dbConnections", self.db_connections),
            ("errorRate", self.error_rate),
        ];
        let lower = [
            ("cache", self.cache),
            ("throughputLimit", self.throughput_limit),
            ("inflight", self.inflight),
        ];
        for (rule, t, lower_is_worse) in higher
            .iter()
            .map(|(n, t)| (*n, *t, false))
            .chain(lower.iter().map(|(n, t)| (*n, *t, true)))
        {
            if !t.alert.is_finite() || !t.critical.is_finite() {
                return Err(RulesError::NotFinite { rule });
            }
            let wrong = if lower_is_worse {
                t.alert < t.critical
            } else {
                t.alert > t.critical
            };
            if wrong {
                return Err(RulesError::Order {
                    rule,
                    alert: t.alert,
                    critical: t.critical,
                });
            }
        }
        if !self.dropped_iterations.alert.is_finite() {
            return Err(RulesError::NotFinite {
                rule: "droppedIterations",
            });
        }
        Ok(())
    }
}

/// Correlation table and bottleneck findings in one go.
pub fn analyze(series: &[Series], rules: &Rules) -> ServiceAnalysis {
    let report = find_bottlenecks(series, rules);
    ServiceAnalysis {
        findings: report.findings,
        correlations: correlation_table(series, &rules.correlation),
        evaluated: report.evaluated,
        not_evaluated: report.not_evaluated,
        generator_limited: report.generator_limited,
    }
}

/// A finding before its context (load, latency, correlation, text) is added.
struct Hit<'a> {
    kind: FindingKind,
    severity: Severity,
    measure: Measure,
    threshold: f64,
    onset: u32,
    window: Window,
    at_onset: f64,
    worst: f64,
    judged: &'a Series,
    also: Vec<&'a Series>,
}

/// The first run of `hold` seconds (gaps skipped) where `bad` holds, and the
/// last bad second after it: `(onset, end)`.
fn episode(
    value: &dyn Fn(u32) -> Option<f64>,
    span: (u32, u32),
    bad: &dyn Fn(f64) -> bool,
    hold: u32,
) -> Option<(u32, u32)> {
    let (mut run_start, mut run_len) = (None, 0u32);
    let mut onset = None;
    let mut last_bad = 0;
    for t in span.0..span.1 {
        let Some(v) = value(t) else { continue };
        if bad(v) {
            last_bad = t;
            if onset.is_none() {
                if run_len == 0 {
                    run_start = Some(t);
                }
                run_len += 1;
                if run_len >= hold {
                    onset = run_start;
                }
            }
        } else if onset.is_none() {
            run_len = 0;
        }
    }
    onset.map(|o| (o, last_bad + 1))
}

/// Judge one measure against a rule's thresholds.
#[allow(clippy::too_many_arguments)]
fn judge<'a>(
    kind: FindingKind,
    measure: Measure,
    t: &Thresholds,
    hold: u32,
    span: (u32, u32),
    value: &dyn Fn(u32) -> Option<f64>,
    judged: &'a Series,
    also: Vec<&'a Series>,
) -> Option<Hit<'a>> {
    let lower = measure.lower_is_worse();
    let past = |limit: f64| move |v: f64| if lower { v <= limit } else { v >= limit };
    let (severity, threshold, (onset, end)) = if t.critical.is_finite()
        && let Some(e) = episode(value, span, &past(t.critical), hold)
    {
        (Severity::Critical, t.critical, e)
    } else {
        let e = episode(value, span, &past(t.alert), hold)?;
        (Severity::Warning, t.alert, e)
    };
    let mut worst: Option<f64> = None;
    for s in onset..end {
        if let Some(v) = value(s) {
            worst = Some(match worst {
                None => v,
                Some(w) if lower => w.min(v),
                Some(w) => w.max(v),
            });
        }
    }
    Some(Hit {
        kind,
        severity,
        measure,
        threshold,
        onset,
        window: Window { start: onset, end },
        at_onset: value(onset).unwrap_or(f64::NAN),
        worst: worst.unwrap_or(f64::NAN),
        judged,
        also,
    })
}

/// The seconds covered by any of `series`.
fn span_of(series: &[&Series]) -> (u32, u32) {
    let start = series.iter().map(|s| s.start).min().unwrap_or(0);
    let end = series.iter().map(|s| s.end()).max().unwrap_or(0);
    (start, end)
}

/// What one rule found, or that it could not run.
enum Outcome<'a> {
    Hits(Vec<Hit<'a>>),
    Missing(Vec<MissingInput>),
}

fn missing(signals: &[Signal]) -> Outcome<'static> {
    Outcome::Missing(
        signals
            .iter()
            .map(|&signal| MissingInput::Series { signal })
            .collect(),
    )
}

/// A utilization rule over every series of `signals`; `implied` is the
/// capacity of series whose unit is already a share (host CPU, disk busy).
fn utilization_rule<'a>(
    kind: FindingKind,
    t: &Thresholds,
    rules: &Rules,
    all: &'a [Series],
    signals: &[(Signal, Option<f64>)],
) -> Outcome<'a> {
    let mut hits = Vec::new();
    let mut lacking = Vec::new();
    let mut any = false;
    for &(signal, implied) in signals {
        for s in find_all(all, signal) {
            any = true;
            let Some(cap) = s.capacity.or(implied).filter(|c| *c > 0.0) else {
                lacking.push(MissingInput::Capacity {
                    series: s.reference(),
                });
                continue;
            };
            let value = |sec: u32| s.at(sec).map(|v| v / cap);
            hits.extend(judge(
                kind,
                Measure::Utilization,
                t,
                rules.hold,
                span_of(&[s]),
                &value,
                s,
                Vec::new(),
            ));
        }
    }
    if !any {
        return missing(&signals.iter().map(|(s, _)| *s).collect::<Vec<_>>());
    }
    if hits.is_empty() && !lacking.is_empty() && lacking.len() == count(all, signals) {
        return Outcome::Missing(lacking);
    }
    Outcome::Hits(hits)
}

fn count(all: &[Series], signals: &[(Signal, Option<f64>)]) -> usize {
    signals.iter().map(|(s, _)| find_all(all, *s).count()).sum()
}

/// A level rule (the reading itself against the thresholds).
fn level_rule<'a>(
    kind: FindingKind,
    t: &Thresholds,
    rules: &Rules,
    all: &'a [Series],
    signal: Signal,
) -> Outcome<'a> {
    let mut hits = Vec::new();
    let mut any = false;
    for s in find_all(all, signal) {
        any = true;
        let value = |sec: u32| s.at(sec);
        hits.extend(judge(
            kind,
            Measure::Level,
            t,
            rules.hold,
            span_of(&[s]),
            &value,
            s,
            Vec::new(),
        ));
    }
    if any {
        Outcome::Hits(hits)
    } else {
        missing(&[signal])
    }
}

fn generator_rule<'a>(rules: &Rules, all: &'a [Series]) -> Outcome<'a> {
    let cpu = rules.generator.enabled.then(|| {
        utilization_rule(
            FindingKind::Generator,
            &rules.generator,
            rules,
            all,
            &[(Signal::GeneratorCpu, None)],
        )
    });
    let dropped = rules.dropped_iterations.enabled.then(|| {
        let t = Thresholds {
            critical: f64::INFINITY,
            ..rules.dropped_iterations
        };
        level_rule(
            FindingKind::Generator,
            &t,
            rules,
            all,
            Signal::DroppedIterations,
        )
    });
    merge(cpu, dropped)
}

/// The parts of a rule that are enabled (`None`: disabled): their hits if
/// any part had its data, else everything the parts missed.
fn merge<'a>(a: Option<Outcome<'a>>, b: Option<Outcome<'a>>) -> Outcome<'a> {
    let mut hits: Option<Vec<Hit<'a>>> = None;
    let mut lacking = Vec::new();
    for part in [a, b].into_iter().flatten() {
        match part {
            Outcome::Hits(h) => hits.get_or_insert_with(Vec::new).extend(h),
            Outcome::Missing(m) => lacking.extend(m),
        }
    }
    match hits {
        Some(h) => Outcome::Hits(h),
        None => Outcome::Missing(lacking),
    }
}

fn pool_rule<'a>(rules: &Rules, all: &'a [Series]) -> Outcome<'a> {
    let active = find(all, Signal::DbPoolActive);
    let pending = find(all, Signal::DbPoolPending);
    let max = find(all, Signal::DbPoolMax);
    let Some(active) = active else {
        let Some(p) = pending else {
            return missing(&[Signal::DbPoolActive, Signal::DbPoolPending]);
        };
        // Only waiting clients known: judge their number (any sustained wait
        // means every connection was in use).
        let t = Thresholds {
            alert: rules.db_pool.alert.min(1.0),
            critical: 1.0,
            ..rules.db_pool
        };
        let value = |sec: u32| p.at(sec);
        let hit = judge(
            FindingKind::DbPool,
            Measure::Level,
            &t,
            rules.hold,
            span_of(&[p]),
            &value,
            p,
            max.into_iter().collect(),
        );
        return Outcome::Hits(hit.into_iter().collect());
    };
    if max.is_none() && active.capacity.is_none() {
        return Outcome::Missing(vec![MissingInput::Series {
            signal: Signal::DbPoolMax,
        }]);
    }
    let value = |sec: u32| {
        let c = max
            .and_then(|m| m.at(sec))
            .or(active.capacity)
            .filter(|c| *c > 0.0)?;
        let waiting = pending.and_then(|p| p.at(sec)).unwrap_or(0.0);
        Some((active.at(sec)? + waiting) / c)
    };
    let also: Vec<&Series> = [pending, max].into_iter().flatten().collect();
    Outcome::Hits(
        judge(
            FindingKind::DbPool,
            Measure::PoolDemand,
            &rules.db_pool,
            rules.hold,
            span_of(&[active]),
            &value,
            active,
            also,
        )
        .into_iter()
        .collect(),
    )
}

fn ratio_rule<'a>(
    kind: FindingKind,
    t: &Thresholds,
    rules: &Rules,
    all: &'a [Series],
    num: Signal,
    den: Signal,
) -> Outcome<'a> {
    let Some(n) = find(all, num) else {
        return missing(&[num]);
    };
    let d = find(all, den);
    if d.is_none() && n.capacity.is_none() {
        return missing(&[den]);
    }
    let value = |sec: u32| {
        let c = d
            .and_then(|d| d.at(sec))
            .or(n.capacity)
            .filter(|c| *c > 0.0)?;
        n.at(sec).map(|v| v / c)
    };
    Outcome::Hits(
        judge(
            kind,
            Measure::Utilization,
            t,
            rules.hold,
            span_of(&[n]),
            &value,
            n,
            d.into_iter().collect(),
        )
        .into_iter()
        .collect(),
    )
}

fn cache_rule<'a>(rules: &Rules, all: &'a [Series]) -> Outcome<'a> {
    let Some(s) = find(all, Signal::CacheHitRatio) else {
        return missing(&[Signal::CacheHitRatio]);
    };
    let (start, end) = span_of(&[s]);
    let value = |sec: u32| s.at(sec);
    let also = find(all, Signal::CacheEvictions).into_iter().collect();
    Outcome::Hits(
        judge(
            FindingKind::Cache,
            Measure::HitRatio,
            &rules.cache,
            rules.hold,
            (start.saturating_add(rules.cache_warmup), end),
            &value,
            s,
            also,
        )
        .into_iter()
        .collect(),
    )
}

fn throughput_rule<'a>(rules: &Rules, all: &'a [Series]) -> Outcome<'a> {
    let Some(thr) = find(all, Signal::Throughput) else {
        return missing(&[Signal::Throughput]);
    };
    if let Some(off) = find(all, Signal::OfferedRate) {
        let value = |sec: u32| {
            let o = off.at(sec).filter(|o| *o >= 1.0)?;
            thr.at(sec).map(|c| (c / o).min(1.0))
        };
        return Outcome::Hits(
            judge(
                FindingKind::ThroughputLimit,
                Measure::CompletedShare,
                &rules.throughput_limit,
                rules.hold,
                span_of(&[thr]),
                &value,
                thr,
                vec![off],
            )
            .into_iter()
            .collect(),
        );
    }
    let Some(inf) = find(all, Signal::InFlight) else {
        return missing(&[Signal::OfferedRate, Signal::InFlight]);
    };
    let w = rules.inflight_window.max(1);
    // Only where in-flight grew by half or more over the window.
    let value = |sec: u32| {
        let past = sec.checked_sub(w)?;
        let (i0, i1) = (inf.at(past)?, inf.at(sec)?);
        let (c0, c1) = (thr.at(past)?, thr.at(sec)?);
        if i0 <= 0.0 || c0 <= 0.0 || i1 < 1.5 * i0 {
            return None;
        }
        Some((c1 / c0) / (i1 / i0))
    };
    Outcome::Hits(
        judge(
            FindingKind::ThroughputLimit,
            Measure::ThroughputPerInFlight,
            &rules.inflight,
            rules.hold,
            span_of(&[thr]),
            &value,
            thr,
            vec![inf],
        )
        .into_iter()
        .collect(),
    )
}

fn rule<'a>(kind: FindingKind, rules: &Rules, all: &'a [Series]) -> Option<Outcome<'a>> {
    use FindingKind as K;
    let enabled = match kind {
        K::Generator => rules.generator.enabled || rules.dropped_iterations.enabled,
        K::Cpu => rules.cpu.enabled,
        K::Memory => rules.memory.enabled,
        K::Disk => rules.disk.enabled,
        K::Network => rules.network.enabled || rules.network_errors.enabled,
        K::DbPool => rules.db_pool.enabled,
        K::DbLocks => rules.db_locks.enabled || rules.db_deadlocks.enabled,
        K::DbConnections => rules.db_connections.enabled,
        K::Cache => rules.cache.enabled,
        K::ThroughputLimit => rules.throughput_limit.enabled || rules.inflight.enabled,
        K::ErrorRate => rules.error_rate.enabled,
    };
    if !enabled {
        return None;
    }
    Some(match kind {
        K::Generator => generator_rule(rules, all),
        K::Cpu => utilization_rule(
            kind,
            &rules.cpu,
            rules,
            all,
            &[(Signal::HostCpu, Some(1.0)), (Signal::ProcessCpu, None)],
        ),
        K::Memory => utilization_rule(
            kind,
            &rules.memory,
            rules,
            all,
            &[(Signal::MemoryUsed, None), (Signal::ProcessRss, None)],
        ),
        K::Disk => utilization_rule(
            kind,
            &rules.disk,
            rules,
            all,
            &[(Signal::DiskBusy, Some(1.0)), (Signal::DiskBytes, None)],
        ),
        K::Network => {
            let bw = rules.network.enabled.then(|| {
                utilization_rule(
                    kind,
                    &rules.network,
                    rules,
                    all,
                    &[(Signal::NetworkBytes, None)],
                )
            });
            let errs = rules.network_errors.enabled.then(|| {
                merge(
                    Some(level_rule(
                        kind,
                        &rules.network_errors,
                        rules,
                        all,
                        Signal::TcpRetransmits,
                    )),
                    Some(level_rule(
                        kind,
                        &rules.network_errors,
                        rules,
                        all,
                        Signal::NetworkErrors,
                    )),
                )
            });
            merge(bw, errs)
        }
        K::DbPool => pool_rule(rules, all),
        K::DbLocks => {
            let waits = rules
                .db_locks
                .enabled
                .then(|| level_rule(kind, &rules.db_locks, rules, all, Signal::DbLockWaits));
            let deadlocks = rules.db_deadlocks.enabled.then(|| {
                let once = Rules {
                    hold: 1,
                    ..rules.clone()
                };
                level_rule(kind, &rules.db_deadlocks, &once, all, Signal::DbDeadlocks)
            });
            merge(waits, deadlocks)
        }
        K::DbConnections => ratio_rule(
            kind,
            &rules.db_connections,
            rules,
            all,
            Signal::DbConnections,
            Signal::DbMaxConnections,
        ),
        K::Cache => cache_rule(rules, all),
        K::ThroughputLimit => throughput_rule(rules, all),
        K::ErrorRate => level_rule(kind, &rules.error_rate, rules, all, Signal::ErrorRate),
    })
}

/// Run every enabled rule over `series`.
pub fn find_bottlenecks(series: &[Series], rules: &Rules) -> BottleneckReport {
    let mut report = BottleneckReport::default();
    let mut hits = Vec::new();
    for kind in FindingKind::ALL {
        match rule(kind, rules, series) {
            None => {}
            Some(Outcome::Hits(h)) => {
                report.evaluated.push(kind);
                hits.extend(h);
            }
            Some(Outcome::Missing(m)) => {
                report.not_evaluated.push(NotEvaluated { kind, missing: m })
            }
        }
    }
    // Critical first; within a severity, the first to cross comes first.
    hits.sort_by_key(|h| (std::cmp::Reverse(h.severity), h.onset));
    let latency = find(series, Signal::LatencyP95).or_else(|| find(series, Signal::LatencyP99));
    let load = find(series, Signal::Throughput).or_else(|| find(series, Signal::OfferedRate));
    report.generator_limited = hits.iter().any(|h| {
        h.kind == FindingKind::Generator
            && h.severity == Severity::Critical
            && h.judged.signal == Signal::GeneratorCpu
    });
    report.findings = hits
        .into_iter()
        .map(|h| finish(h, latency, load, rules))
        .collect();
    report
}

fn reading(s: &Series, w: Window) -> Reading {
    let peak = (w.start..w.end)
        .filter_map(|t| s.at(t))
        .fold(None, |m: Option<f64>, v| Some(m.map_or(v, |m| m.max(v))));
    Reading {
        series: s.reference(),
        at_onset: s.at(w.start),
        peak,
        capacity: s.capacity,
    }
}

fn median(mut v: Vec<f64>) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    })
}

fn finish(h: Hit<'_>, latency: Option<&Series>, load: Option<&Series>, rules: &Rules) -> Finding {
    let w = h.window;
    let latency_before_ms = latency.and_then(|l| {
        median(
            (h.onset.saturating_sub(10)..h.onset)
                .filter_map(|t| l.at(t))
                .collect(),
        )
    });
    let latency_peak_ms = latency.and_then(|l| reading(l, w).peak);
    let load_at_onset = load.and_then(|l| l.at(h.onset));
    let correlation = latency
        .filter(|_| h.judged.signal.role() == crate::signals::Role::Resource)
        .map(|l| correlate(l, h.judged, &rules.correlation));
    let mut readings = vec![reading(h.judged, w)];
    readings.extend(h.also.iter().map(|s| reading(s, w)));
    let evidence = Evidence {
        window: w,
        measure: h.measure,
        threshold: h.threshold,
        at_onset: h.at_onset,
        worst: h.worst,
        readings,
        load_at_onset,
        latency_before_ms,
        latency_peak_ms,
        correlation,
    };
    let recommendation = recommend(h.kind, h.severity, h.judged, &h.also, &evidence);
    Finding {
        kind: h.kind,
        severity: h.severity,
        evidence,
        recommendation,
    }
}

/// `123 req/s`, `4.5 req/s`.
fn rate(v: f64) -> String {
    if v >= 10.0 {
        format!("{v:.0} req/s")
    } else {
        format!("{v:.1} req/s")
    }
}

fn pct(v: f64) -> String {
    format!("{:.0} %", v * 100.0)
}

fn num(v: f64) -> String {
    if (v - v.round()).abs() < 1e-9 {
        format!("{v:.0}")
    } else if v.abs() >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

fn bytes(v: f64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = v;
    let mut i = 0;
    while v >= 1024.0 && i + 1 < UNITS.len() {
        v /= 1024.0;
        i += 1;
    }
    format!("{v:.1} {}", UNITS[i])
}

/// "from 120 req/s (second 34)" or "from second 34".
fn onset_text(e: &Evidence) -> String {
    match e.load_at_onset {
        Some(l) => format!("from {} (second {})", rate(l), e.window.start),
        None => format!("from second {}", e.window.start),
    }
}

/// ", p95 rose from 12 ms to 480 ms" when both are known.
fn latency_text(e: &Evidence) -> String {
    match (e.latency_before_ms, e.latency_peak_ms) {
        (Some(a), Some(b)) => format!(", p95 rose from {} ms to {} ms", num(a), num(b)),
        (None, Some(b)) => format!(", p95 up to {} ms", num(b)),
        _ => String::new(),
    }
}

fn who(s: &Series) -> String {
    if s.label.is_empty() {
        String::new()
    } else {
        format!(" ({})", s.label)
    }
}

fn peak_of(e: &Evidence, signal: Signal) -> Option<f64> {
    e.readings
        .iter()
        .find(|r| r.series.signal == signal)
        .and_then(|r| r.peak)
}

fn recommend(
    kind: FindingKind,
    severity: Severity,
    judged: &Series,
    also: &[&Series],
    e: &Evidence,
) -> String {
    let state = match severity {
        Severity::Critical => "saturated",
        Severity::Warning => "near saturation",
    };
    let from = onset_text(e);
    let lat = latency_text(e);
    let cap = judged.capacity;
    match (kind, judged.signal) {
        (FindingKind::Generator, Signal::DroppedIterations) => format!(
            "the executor could not start up to {}/s iterations {from}: every VU was busy; raise preAllocatedVUs/maxVUs, or see the service findings for why requests took long",
            num(e.worst)
        ),
        (FindingKind::Generator, _) => format!(
            "generator CPU {state}: {} of {} cores {from}{lat}; results from second {} on measure the generator, not the service: give the generator more CPU or spread the load over more generators",
            pct(e.worst),
            num(cap.unwrap_or(f64::NAN)),
            e.window.start
        ),
        (FindingKind::Cpu, Signal::HostCpu) => format!(
            "host CPU {state} at up to {} {from}{lat}: profile the service's hot path, or add CPU or instances",
            pct(e.worst)
        ),
        (FindingKind::Cpu, _) => format!(
            "CPU{} {state} at up to {} of {} cores {from}{lat}: profile its hot path, or give it more cores or instances",
            who(judged),
            pct(e.worst),
            num(cap.unwrap_or(f64::NAN))
        ),
        (FindingKind::Memory, _) => format!(
            "memory{} {state} at up to {} of {} {from}{lat}: look for growth per request (leaks, unbounded caches) or raise the memory limit",
            who(judged),
            pct(e.worst),
            bytes(cap.unwrap_or(f64::NAN))
        ),
        (FindingKind::Disk, _) => format!(
            "disk{} {state} at up to {} {from}{lat}: cut synchronous writes and reads per request, or move to faster storage",
            who(judged),
            pct(e.worst)
        ),
        (FindingKind::Network, Signal::NetworkBytes) => format!(
            "network{} {state} at up to {} of {}/s {from}{lat}: compress or shrink responses, or add bandwidth",
            who(judged),
            pct(e.worst),
            bytes(cap.unwrap_or(f64::NAN))
        ),
        (FindingKind::Network, s) => format!(
            "{} up to {}/s {from}{lat}: check the network path (packet loss, full queues, a saturated link)",
            if s == Signal::TcpRetransmits {
                "TCP retransmits"
            } else {
                "network errors"
            },
            num(e.worst)
        ),
        (FindingKind::DbPool, _) => {
            let size = also
                .iter()
                .find(|s| s.signal == Signal::DbPoolMax)
                .and_then(|s| s.at(e.window.start))
                .or(judged.capacity);
            let waiting = peak_of(e, Signal::DbPoolPending);
            let size_text =
                size.map_or_else(|| "pool".to_owned(), |n| format!("pool of {}", num(n)));
            let wait_text = match waiting {
                Some(w) if w > 0.0 => format!(", up to {} clients waiting", num(w)),
                _ => String::new(),
            };
            format!(
                "{size_text}{} {state} {from}{wait_text}{lat}: raise the pool size or cut query time",
                who(judged)
            )
        }
        (FindingKind::DbLocks, Signal::DbDeadlocks) => format!(
            "deadlocks{} {from} (up to {}/s): take locks in one order and keep transactions short",
            who(judged),
            num(e.worst)
        ),
        (FindingKind::DbLocks, _) => format!(
            "up to {} sessions{} waiting on locks {from}{lat}: shorten transactions, avoid hot rows, or add indexes so updates lock less",
            num(e.worst),
            who(judged)
        ),
        (FindingKind::DbConnections, _) => {
            let limit = peak_of(e, Signal::DbMaxConnections).or(judged.capacity);
            format!(
                "database connections{} {state} at up to {} of max_connections {} {from}{lat}: pool connections in the application (or a pooler such as PgBouncer) or raise max_connections",
                who(judged),
                pct(e.worst),
                limit.map_or_else(|| "?".to_owned(), num)
            )
        }
        (FindingKind::Cache, _) => {
            let evictions = peak_of(e, Signal::CacheEvictions)
                .filter(|v| *v > 0.0)
                .map(|v| format!(", up to {}/s evictions", num(v)))
                .unwrap_or_default();
            format!(
                "cache hit ratio{} down to {} (below {}) {from}{evictions}{lat}: raise the cache's size or TTL, or warm it before the test",
                who(judged),
                pct(e.worst),
                pct(e.threshold)
            )
        }
        (FindingKind::ThroughputLimit, _) => {
            let plateau = e.readings.first().and_then(|r| r.peak);
            let other = e.readings.get(1).and_then(|r| r.peak);
            match (e.measure, plateau) {
                (Measure::CompletedShare, Some(p)) => format!(
                    "completed requests stopped following offered ones {from}: at most {} completed while up to {} were offered{lat}; the service's capacity is about {}: the first saturated resource above is why",
                    rate(p),
                    other.map_or_else(|| "?".to_owned(), rate),
                    rate(p)
                ),
                (_, Some(p)) => format!(
                    "requests in flight grew to {} while completed requests stayed near {} {from}{lat}: the service's capacity is about {}",
                    other.map_or_else(|| "?".to_owned(), num),
                    rate(p),
                    rate(p)
                ),
                _ => format!("throughput stopped growing with load {from}{lat}"),
            }
        }
        (FindingKind::ErrorRate, _) => format!(
            "errors reached {} of requests {from}{lat}: see the findings before this one for the cause, and the service's logs for the error kinds",
            pct(e.worst)
        ),
    }
}

#[cfg(test)]
mod tests;
