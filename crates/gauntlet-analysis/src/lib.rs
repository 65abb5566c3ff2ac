//! # gauntlet-analysis: from measurements to a verdict
//!
//! Pure functions that decide pass/fail: thresholds (k6 semantics), SLA
//! compliance (objective and limit, seed 002's "target" and "maximum
//! acceptable"), and the go/no-go decision with its reasons. Kept apart from
//! rendering so that reports only display what was decided here, and so that
//! the same evaluation runs live (every second, for `abortOnFail`) and at the
//! end.
//!
//! Measurements are read through [`MetricSource`], so this crate does not care
//! whether they come from a live run, a saved result file or several merged.

pub mod bottleneck;
pub mod capacity;
pub mod correlation;
pub mod format;
pub mod signals;
pub mod window;

pub use window::{TimelineSource, WindowJudgement};

use gauntlet_metrics::{MetricKind, Stat, Unit};
use gauntlet_plan::threshold::MetricSelector;
use gauntlet_plan::{Condition, Plan, Priority, ThresholdOrigin};
use std::time::Duration;

/// Read access to aggregated measurements, in the units thresholds use:
/// milliseconds for time trends, a 0..1 ratio for rate metrics' `rate`,
/// per second for counters' `rate`, plain values otherwise.
pub trait MetricSource {
    /// The aggregated value of a metric (sub-metric when the selector has
    /// tags), or `None` when it has no samples.
    fn value(&self, selector: &MetricSelector, aggregation: Stat) -> Option<f64>;

    /// Judge a condition whose window is not the whole run (see
    /// [`window`]): the worst value seen and the judgement. `None` when the
    /// source holds only a total (the condition is then not evaluated) or
    /// the metric is unknown.
    fn windowed(
        &self,
        _selector: &MetricSelector,
        _kind: MetricKind,
        _condition: &Condition,
    ) -> Option<(Option<f64>, WindowJudgement)> {
        None
    }
}

/// What became of one threshold. Three states, not a bool, because a
/// threshold that had nothing to compare neither held nor failed, and
/// reading it as a pass (k6 does) turns a run that measured nothing into GO.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ThresholdStatus {
    /// The observed value met the condition.
    Pass,
    /// The observed value broke the condition (exit code 99).
    Fail,
    /// The metric had no samples: nothing was compared (exit code 110).
    NotEvaluated,
}

/// The outcome of one threshold.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ThresholdResult {
    /// Selector as written (`http_req_duration{name:create}`).
    pub metric: String,
    /// Expression as written (`p(95) < 200ms`).
    pub expression: String,
    /// Observed value in the threshold's units (`None`: no samples). A
    /// counter without samples reads 0, so `count > 0` can fail.
    pub observed: Option<f64>,
    /// Pass, fail or not evaluated.
    pub status: ThresholdStatus,
    /// Stops the run when failing (after `delay_abort_eval`).
    pub abort_on_fail: bool,
    /// Index of the SLA it comes from, if any.
    pub sla: Option<usize>,
    /// How its window fared, when it has one (`over`, `for`, `warmup`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<WindowJudgement>,
}

impl ThresholdResult {
    /// Whether it held (a threshold that was not evaluated did not).
    pub fn passed(&self) -> bool {
        self.status == ThresholdStatus::Pass
    }
}

/// SLA status, seed 002's compliance column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum SlaStatus {
    /// The objective held.
    Pass,
    /// The objective was missed but the limit held.
    Warn,
    /// The limit (or, without a limit, the objective) was broken.
    Fail,
    /// Nothing was measured for this SLA: not evaluated, never a pass.
    NotEvaluated,
}

/// The outcome of one SLA.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SlaResult {
    /// SLA name.
    pub name: String,
    /// Selector.
    pub metric: String,
    /// Objective as written.
    pub objective: String,
    /// Limit as written.
    pub limit: Option<String>,
    /// Observed value (units of the objective).
    pub observed: Option<f64>,
    /// Status.
    pub status: SlaStatus,
    /// Priority.
    pub priority: String,
    /// How the objective's window fared, when it has one; its compliance is
    /// the share of windows that met the objective.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<WindowJudgement>,
}

/// The go/no-go decision of seed 002's report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Decision {
    /// Every SLA met, every threshold held.
    Go,
    /// Thresholds held, but some SLA objective was missed within its limit,
    /// a lower-priority SLA failed, some requests failed unguarded, or a
    /// step could not be built some of the time.
    GoWithConditions,
    /// A threshold failed, a high-priority SLA broke its limit, or the run
    /// did not measure what it had to (a threshold or SLA without data, no
    /// request completed, a step that never sent).
    NoGo,
}

/// Everything decided about a run.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Verdict {
    /// Every threshold, in plan order (SLA-derived ones last).
    pub thresholds: Vec<ThresholdResult>,
    /// Every SLA, in plan order.
    pub slas: Vec<SlaResult>,
    /// Go / no-go.
    pub decision: Decision,
    /// Whether the run measured what its verdict needs: every threshold and
    /// SLA had data, some request completed, and every step sent at least
    /// once. False is exit code 110 unless a threshold failed (99).
    pub measured: bool,
    /// Why, one sentence each, most important first.
    pub reasons: Vec<String>,
}

impl Verdict {
    /// Whether any threshold failed (exit code 99).
    pub fn thresholds_failed(&self) -> bool {
        self.thresholds
            .iter()
            .any(|t| t.status == ThresholdStatus::Fail)
    }

    /// Whether the run did not measure what its verdict needs (exit code
    /// 110 when no threshold failed).
    pub fn not_measured(&self) -> bool {
        !self.measured
    }
}

/// A step that could not be built from the plan at some point of the run
/// (a template that failed, a URL or header that did not parse), as the
/// engine noted it. The verdict weighs it against what the step sent: a
/// step that never sent is NO-GO, one that sometimes failed is a condition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepFailure {
    /// The operation (`group` tag), or `setup` / `teardown`.
    pub group: String,
    /// The step (`name` tag).
    pub step: String,
    /// The `error_code` of `step_errors` (`template_error`, …).
    pub code: String,
}

/// What the run knows besides its metrics that the verdict must weigh.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunFacts {
    /// Steps that could not be built, one per (group, step, code).
    pub step_failures: Vec<StepFailure>,
}

fn holds(c: &Condition, observed: f64) -> bool {
    c.cmp.holds(observed, c.value)
}

/// The kind of a metric: the plan's own metrics, else the catalog; `None`
/// for a name neither knows.
fn kind_of(plan: &Plan, name: &str) -> Option<(MetricKind, Unit)> {
    match plan.custom_metrics.iter().find(|m| m.name == name) {
        Some(m) => Some((m.kind, m.unit)),
        None => gauntlet_plan::catalog::builtin(name).map(|m| (m.kind, m.unit)),
    }
}

/// The observed value of `selector`: what the source has, and for a counter
/// without samples 0 (a count of nothing is zero, and `count > 0` must be
/// able to fail). Every other kind without samples is `None`.
fn observe(
    plan: &Plan,
    source: &dyn MetricSource,
    selector: &MetricSelector,
    aggregation: Stat,
) -> Option<f64> {
    source.value(selector, aggregation).or_else(|| {
        let counter = matches!(
            kind_of(plan, &selector.metric),
            Some((MetricKind::Counter, _))
        );
        (counter && matches!(aggregation, Stat::Count | Stat::Rate)).then_some(0.0)
    })
}

fn selector(metric: &str, tags: &[(&str, &str)]) -> MetricSelector {
    MetricSelector {
        metric: metric.into(),
        tags: tags
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
    }
}

/// A condition judged: the value shown, whether it held, and its window's
/// judgement when it has one.
struct Judged {
    observed: Option<f64>,
    held: bool,
    window: Option<WindowJudgement>,
}

/// Judge `c` on `selector`: over the whole run (k6), or window by window.
fn judge(
    plan: &Plan,
    source: &dyn MetricSource,
    selector: &MetricSelector,
    c: &Condition,
) -> Judged {
    if c.window.is_whole_run() {
        let observed = observe(plan, source, selector, c.aggregation);
        return Judged {
            observed,
            held: observed.is_some_and(|v| holds(c, v)),
            window: None,
        };
    }
    let kind = kind_of(plan, &selector.metric).map_or(MetricKind::Trend, |(k, _)| k);
    match source.windowed(selector, kind, c) {
        Some((observed, w)) => Judged {
            observed,
            held: !w.failed,
            window: Some(w),
        },
        None => Judged {
            observed: None,
            held: false,
            window: None,
        },
    }
}

/// Evaluate every threshold and SLA of `plan` against `source`, and weigh
/// what `facts` adds.
pub fn evaluate(plan: &Plan, source: &dyn MetricSource, facts: &RunFacts) -> Verdict {
    let thresholds: Vec<ThresholdResult> = plan
        .thresholds
        .iter()
        .map(|t| {
            let judged = judge(plan, source, &t.metric, &t.condition);
            ThresholdResult {
                metric: t.metric.to_string(),
                expression: t.condition.text.clone(),
                observed: judged.observed,
                status: match (judged.observed, judged.held) {
                    (None, _) => ThresholdStatus::NotEvaluated,
                    (Some(_), true) => ThresholdStatus::Pass,
                    (Some(_), false) => ThresholdStatus::Fail,
                },
                window: judged.window,
                abort_on_fail: t.abort_on_fail,
                sla: match t.origin {
                    ThresholdOrigin::Sla(i) => Some(i),
                    _ => None,
                },
            }
        })
        .collect();
    let slas: Vec<SlaResult> = plan
        .slas
        .iter()
        .map(|s| {
            let objective = judge(plan, source, &s.metric, &s.objective);
            let observed = objective.observed;
            let status = match (observed, objective.held) {
                (None, _) => SlaStatus::NotEvaluated,
                (Some(_), true) => SlaStatus::Pass,
                (Some(_), false) => match &s.limit {
                    Some(l) if judge(plan, source, &s.metric, l).held => SlaStatus::Warn,
                    _ => SlaStatus::Fail,
                },
            };
            SlaResult {
                name: s.name.clone(),
                metric: s.metric.to_string(),
                objective: s.objective.text.clone(),
                limit: s.limit.as_ref().map(|l| l.text.clone()),
                observed,
                status,
                priority: String::from(match s.priority {
                    Priority::High => "high",
                    Priority::Medium => "medium",
                    _ => "low",
                }),
                window: objective.window,
            }
        })
        .collect();
    let mut reasons = Vec::new();
    let mut no_go = false;
    let mut conditions = false;
    let mut measured = true;
    for (t, pt) in thresholds
        .iter()
        .zip(&plan.thresholds)
        .filter(|(t, _)| t.sla.is_none())
    {
        match t.status {
            ThresholdStatus::Fail => {
                no_go = true;
                reasons.push(format!(
                    "threshold {} {} failed (observed {})",
                    t.metric,
                    t.expression,
                    fmt_obs(plan, &pt.metric, pt.condition.aggregation, t.observed)
                ));
            }
            ThresholdStatus::NotEvaluated => {
                no_go = true;
                measured = false;
                reasons.push(format!(
                    "threshold {} {} was not evaluated: {} had no samples",
                    t.metric, t.expression, t.metric
                ));
            }
            _ => {}
        }
    }
    for (s, ps) in slas.iter().zip(&plan.slas) {
        let observed = fmt_obs(plan, &ps.metric, ps.objective.aggregation, s.observed);
        match (s.status, s.priority.as_str()) {
            (SlaStatus::Fail, "high") => {
                no_go = true;
                reasons.push(format!(
                    "SLA \"{}\" failed: {} {} (observed {})",
                    s.name,
                    s.metric,
                    s.limit.as_deref().unwrap_or(&s.objective),
                    observed
                ));
            }
            (SlaStatus::Fail, p) => {
                conditions = true;
                reasons.push(format!(
                    "{p}-priority SLA \"{}\" failed (observed {observed})",
                    s.name,
                ));
            }
            (SlaStatus::Warn, _) => {
                conditions = true;
                reasons.push(format!(
                    "SLA \"{}\" missed its objective {} but held its limit (observed {})",
                    s.name, s.objective, observed
                ));
            }
            (SlaStatus::NotEvaluated, _) => {
                no_go = true;
                measured = false;
                reasons.push(format!(
                    "SLA \"{}\" was not evaluated: {} had no samples",
                    s.name, s.metric
                ));
            }
            _ => {}
        }
    }
    // A run in which no request got a response measured nothing, whatever
    // its thresholds say.
    let sent = |tags: &[(&str, &str)]| {
        source
            .value(&selector("http_reqs", tags), Stat::Count)
            .unwrap_or(0.0)
    };
    let completed = source
        .value(&selector("http_req_duration", &[]), Stat::Count)
        .unwrap_or(0.0);
    if completed == 0.0 {
        no_go = true;
        measured = false;
        let requests = sent(&[]);
        reasons.insert(
            0,
            if requests > 0.0 {
                format!(
                    "no request completed: all {requests:.0} failed without a response (see errors)"
                )
            } else {
                "no request was sent: nothing was measured (see errors)".to_owned()
            },
        );
    }
    // Steps that could not be built: one that never sent is a hole in the
    // measurements; one that failed some of the time is a condition.
    for f in &facts.step_failures {
        let count = source
            .value(
                &selector(
                    "step_errors",
                    &[
                        ("group", &f.group),
                        ("name", &f.step),
                        ("error_code", &f.code),
                    ],
                ),
                Stat::Count,
            )
            .unwrap_or(0.0);
        let reqs = sent(&[("group", &f.group), ("name", &f.step)]);
        if reqs == 0.0 {
            no_go = true;
            measured = false;
            reasons.push(format!(
                "step {}/{} never sent a request: {count:.0} {} (see errors)",
                f.group, f.step, f.code
            ));
        } else {
            conditions = true;
            reasons.push(format!(
                "step {}/{} could not be built {count:.0} times ({}), {reqs:.0} requests sent (see errors)",
                f.group, f.step, f.code
            ));
        }
    }
    // Failed requests that nothing guards are still worth a condition: a run
    // where every request was refused must not read as a clean GO.
    let failed_sel = selector("http_req_failed", &[]);
    if let Some(f) = source.value(&failed_sel, Stat::Rate)
        && f > 0.0
        && !plan
            .thresholds
            .iter()
            .any(|t| t.metric.metric == "http_req_failed")
    {
        conditions = true;
        reasons.push(format!(
            "{:.2}% of requests failed and no threshold or SLA covers http_req_failed",
            f * 100.0
        ));
    }
    // Dropped arrivals were never measured: the latency figures leave them out.
    let dropped_sel = selector("dropped_iterations", &[]);
    if let Some(d) = source.value(&dropped_sel, Stat::Count)
        && d > 0.0
        && !plan
            .thresholds
            .iter()
            .any(|t| t.metric.metric == "dropped_iterations")
    {
        conditions = true;
        reasons.push(format!(
            "{d:.0} iterations were dropped because no VU was free: they are not in the latency figures; raise maxVUs (or add a threshold on dropped_iterations)"
        ));
    }
    // SLA-derived thresholds that failed are also threshold failures (exit 99).
    if thresholds
        .iter()
        .any(|t| t.status != ThresholdStatus::Pass && t.sla.is_some())
    {
        no_go = true;
    }
    let decision = if no_go {
        Decision::NoGo
    } else if conditions {
        Decision::GoWithConditions
    } else {
        reasons.push(if slas.is_empty() && thresholds.is_empty() {
            "no thresholds or SLAs were set: nothing could fail".to_owned()
        } else {
            "every threshold and SLA held".to_owned()
        });
        Decision::Go
    };
    Verdict {
        thresholds,
        slas,
        decision,
        measured,
        reasons,
    }
}

/// An observed value in a reason, with its unit (`212.9ms`, `8.15%`,
/// `30.67/s`, `1840`), the way the reports' threshold and SLA lines show it.
/// The metric's kind and unit come from the plan's own metrics, else the
/// catalog; an unknown metric reads as a plain number.
fn fmt_obs(plan: &Plan, selector: &MetricSelector, aggregation: Stat, v: Option<f64>) -> String {
    let Some(v) = v else {
        return "no data".into();
    };
    let (kind, unit) = kind_of(plan, &selector.metric).unwrap_or((MetricKind::Trend, Unit::Count));
    format::fmt_observed(v, kind, unit, aggregation)
}

/// Thresholds that should stop the run now: failing, `abortOnFail`, and past
/// their `delayAbortEval`.
pub fn should_abort(plan: &Plan, source: &dyn MetricSource, elapsed: Duration) -> Vec<String> {
    plan.thresholds
        .iter()
        .filter(|t| t.abort_on_fail && elapsed >= t.delay_abort_eval)
        .filter_map(|t| {
            let (v, held) = if t.condition.window.is_whole_run() {
                let v = source.value(&t.metric, t.condition.aggregation)?;
                (v, holds(&t.condition, v))
            } else {
                let j = judge(plan, source, &t.metric, &t.condition);
                (j.observed?, j.held)
            };
            (!held).then(|| {
                format!(
                    "{} {} (observed {})",
                    t.metric,
                    t.condition.text,
                    fmt_obs(plan, &t.metric, t.condition.aggregation, Some(v))
                )
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use gauntlet_plan::{Overrides, parse_plan};
    use std::collections::HashMap;

    struct Fixed(HashMap<String, f64>);
    impl MetricSource for Fixed {
        fn value(&self, s: &MetricSelector, a: Stat) -> Option<f64> {
            self.0.get(&format!("{s} {a}")).copied()
        }
    }

    fn plan(src: &str) -> Plan {
        parse_plan("p", src.as_bytes(), "p", &Overrides::default())
            .unwrap()
            .plan
    }

    const PLAN: &str = "workload: {operations: {a: GET /}}\n\
        sla:\n  - {name: fast, metric: http_req_duration, objective: p(95) < 200ms, limit: p(95) < 500ms}\n  - {name: errors, metric: http_req_failed, objective: rate < 1%, priority: medium}\n\
        thresholds:\n  checks: [rate > 0.99]\n";

    /// Requests that completed: without any, a run is not measured.
    const COMPLETED: (&str, f64) = ("http_req_duration count", 100.0);

    fn fixed<const N: usize>(pairs: [(&str, f64); N]) -> Fixed {
        Fixed(
            pairs
                .into_iter()
                .chain([COMPLETED])
                .map(|(k, v)| (k.to_owned(), v))
                .collect(),
        )
    }

    fn source(p95: f64, failed: f64, checks: f64) -> Fixed {
        Fixed(HashMap::from([
            (COMPLETED.0.to_owned(), COMPLETED.1),
            ("http_req_duration p(95)".to_owned(), p95),
            ("http_req_failed rate".to_owned(), failed),
            ("checks rate".to_owned(), checks),
        ]))
    }

    #[test]
    fn all_good_is_go() {
        let v = evaluate(
            &plan(PLAN),
            &source(150.0, 0.001, 1.0),
            &RunFacts::default(),
        );
        assert_eq!(v.decision, Decision::Go);
        assert!(!v.thresholds_failed());
        assert_eq!(v.slas[0].status, SlaStatus::Pass);
    }

    #[test]
    fn objective_missed_within_limit_is_a_warning() {
        let v = evaluate(
            &plan(PLAN),
            &source(300.0, 0.001, 1.0),
            &RunFacts::default(),
        );
        assert_eq!(v.slas[0].status, SlaStatus::Warn);
        assert_eq!(v.decision, Decision::GoWithConditions);
        assert!(!v.thresholds_failed(), "only the limit is a threshold");
    }

    #[test]
    fn limit_broken_is_no_go_and_fails_thresholds() {
        let v = evaluate(
            &plan(PLAN),
            &source(900.0, 0.001, 1.0),
            &RunFacts::default(),
        );
        assert_eq!(v.slas[0].status, SlaStatus::Fail);
        assert_eq!(v.decision, Decision::NoGo);
        assert!(v.thresholds_failed());
        assert!(v.reasons[0].contains("fast"), "{:?}", v.reasons);
    }

    #[test]
    fn failing_threshold_is_no_go() {
        let v = evaluate(&plan(PLAN), &source(100.0, 0.0, 0.5), &RunFacts::default());
        assert_eq!(v.decision, Decision::NoGo);
        assert_eq!(v.thresholds[0].observed, Some(0.5));
        assert_eq!(v.thresholds[0].status, ThresholdStatus::Fail);
    }

    #[test]
    fn reasons_give_observed_values_with_their_unit() {
        let p = plan(
            "workload: {operations: {a: GET /}}\n\
             sla:\n  - {name: fast, metric: http_req_duration, objective: p(95) < 200ms, limit: p(95) < 500ms}\n  - {name: errors, metric: http_req_failed, objective: rate < 1%, priority: medium}\n\
             thresholds:\n  http_req_duration: [p(95) < 200]\n  checks: [rate > 0.99]\n  http_reqs: [count > 100, rate > 50]\n",
        );
        let s = fixed([
            ("http_req_duration p(95)", 212.9),
            ("http_req_failed rate", 0.0815),
            ("checks rate", 0.5),
            ("http_reqs count", 12.0),
            ("http_reqs rate", 30.6667),
        ]);
        let v = evaluate(&p, &s, &RunFacts::default());
        for want in [
            "threshold http_req_duration p(95) < 200 failed (observed 212.9ms)",
            "threshold checks rate > 0.99 failed (observed 50.00%)",
            "threshold http_reqs count > 100 failed (observed 12)",
            "threshold http_reqs rate > 50 failed (observed 30.67/s)",
            "SLA \"fast\" missed its objective p(95) < 200ms but held its limit (observed 212.9ms)",
            "medium-priority SLA \"errors\" failed (observed 8.15%)",
        ] {
            assert!(
                v.reasons.iter().any(|r| r == want),
                "{want}\n{:#?}",
                v.reasons
            );
        }
    }

    #[test]
    fn abort_reason_gives_the_observed_unit() {
        let p = plan(
            "workload: {operations: {a: GET /}}\nthresholds:\n  http_req_duration: [{threshold: p(95) < 1us, abortOnFail: true}]\n",
        );
        let s = Fixed(HashMap::from([(
            "http_req_duration p(95)".to_owned(),
            3.4391,
        )]));
        assert_eq!(
            should_abort(&p, &s, Duration::from_secs(1)),
            ["http_req_duration p(95) < 1us (observed 3.44ms)"]
        );
    }

    #[test]
    fn any_sla_failure_fails_its_threshold() {
        let v = evaluate(&plan(PLAN), &source(100.0, 0.05, 1.0), &RunFacts::default());
        assert_eq!(v.slas[1].status, SlaStatus::Fail);
        // The SLA's own threshold failed, so the run exits 99 and is a no-go.
        assert!(v.thresholds_failed());
        assert_eq!(v.decision, Decision::NoGo);
    }

    #[test]
    fn a_threshold_or_sla_without_data_is_not_evaluated_and_no_go() {
        let v = evaluate(&plan(PLAN), &fixed([]), &RunFacts::default());
        assert!(!v.thresholds_failed(), "not evaluated is not failed (99)");
        assert!(v.not_measured(), "it is not measured (110)");
        assert_eq!(v.thresholds[0].status, ThresholdStatus::NotEvaluated);
        assert_eq!(v.slas[0].status, SlaStatus::NotEvaluated);
        assert_eq!(v.decision, Decision::NoGo);
        assert!(
            v.reasons
                .iter()
                .any(|r| r
                    == "threshold checks rate > 0.99 was not evaluated: checks had no samples"),
            "{:?}",
            v.reasons
        );
    }

    #[test]
    fn a_counter_without_samples_reads_zero_and_can_fail() {
        let p = plan(
            "workload: {operations: {a: GET /}}\nthresholds:\n  dropped_iterations: [count < 1]\n  http_reqs: [count > 0]\n",
        );
        let v = evaluate(&p, &fixed([]), &RunFacts::default());
        assert_eq!(v.thresholds[0].observed, Some(0.0));
        assert_eq!(v.thresholds[0].status, ThresholdStatus::Pass);
        assert_eq!(v.thresholds[1].status, ThresholdStatus::Fail);
        assert!(v.thresholds_failed());
    }

    #[test]
    fn a_run_where_no_request_completed_is_no_go_even_without_thresholds() {
        let p = plan("workload: {operations: {a: GET /}}\n");
        let s = Fixed(HashMap::from([
            ("http_reqs count".to_owned(), 6.0),
            ("http_req_failed rate".to_owned(), 1.0),
        ]));
        let v = evaluate(&p, &s, &RunFacts::default());
        assert_eq!(v.decision, Decision::NoGo);
        assert!(v.not_measured());
        assert!(!v.thresholds_failed());
        assert_eq!(
            v.reasons[0],
            "no request completed: all 6 failed without a response (see errors)"
        );
    }

    fn failing_step() -> RunFacts {
        RunFacts {
            step_failures: vec![StepFailure {
                group: "a".into(),
                step: "bad".into(),
                code: "template_error".into(),
            }],
        }
    }

    #[test]
    fn a_step_that_never_sent_is_no_go() {
        let p = plan("workload: {operations: {a: GET /}}\n");
        let s = fixed([(
            "step_errors{group:a,name:bad,error_code:template_error} count",
            7.0,
        )]);
        let v = evaluate(&p, &s, &failing_step());
        assert_eq!(v.decision, Decision::NoGo);
        assert!(v.not_measured());
        assert!(
            v.reasons
                .iter()
                .any(|r| r == "step a/bad never sent a request: 7 template_error (see errors)"),
            "{:?}",
            v.reasons
        );
    }

    #[test]
    fn a_step_that_sometimes_fails_to_build_is_a_condition() {
        let p = plan("workload: {operations: {a: GET /}}\n");
        let s = fixed([
            (
                "step_errors{group:a,name:bad,error_code:template_error} count",
                2.0,
            ),
            ("http_reqs{group:a,name:bad} count", 40.0),
        ]);
        let v = evaluate(&p, &s, &failing_step());
        assert_eq!(v.decision, Decision::GoWithConditions);
        assert!(!v.not_measured());
    }

    #[test]
    fn unguarded_failures_are_a_condition() {
        let p = plan("workload: {operations: {a: GET /}}\n");
        let s = fixed([("http_req_failed rate", 1.0)]);
        let v = evaluate(&p, &s, &RunFacts::default());
        assert_eq!(v.decision, Decision::GoWithConditions);
        assert!(
            v.reasons[0].contains("100.00% of requests failed"),
            "{:?}",
            v.reasons
        );
        assert!(
            !v.thresholds_failed(),
            "the exit code stays k6's: only thresholds fail a run"
        );
    }

    #[test]
    fn dropped_iterations_are_a_condition() {
        let p = plan("workload: {operations: {a: GET /}}\n");
        let s = fixed([("dropped_iterations count", 12.0)]);
        let v = evaluate(&p, &s, &RunFacts::default());
        assert_eq!(v.decision, Decision::GoWithConditions);
        assert!(
            v.reasons[0].starts_with("12 iterations were dropped"),
            "{:?}",
            v.reasons
        );
    }

    #[test]
    fn abort_respects_delay() {
        let p = plan(
            "workload: {operations: {a: GET /}}\nthresholds:\n  http_req_failed: [{threshold: rate < 1%, abortOnFail: true, delayAbortEval: 10s}]\n",
        );
        let s = Fixed(HashMap::from([("http_req_failed rate".to_owned(), 0.5)]));
        assert!(should_abort(&p, &s, Duration::from_secs(5)).is_empty());
        assert_eq!(should_abort(&p, &s, Duration::from_secs(10)).len(), 1);
    }
}

/// The metrics crate's filter for a selector's tags (k6 sub-metric).
pub(crate) fn tag_filter(selector: &MetricSelector) -> gauntlet_metrics::TagFilter {
    use gauntlet_metrics::{TagFilter, TagKey};
    TagFilter(
        selector
            .tags
            .iter()
            .map(|(k, v)| (TagKey::parse(k), v.clone()))
            .collect(),
    )
}

/// Reads a metrics snapshot in threshold units: the bridge between what the
/// engine measured and what thresholds compare.
#[derive(Debug)]
pub struct SnapshotSource<'a> {
    /// The snapshot (usually the run's total).
    pub snapshot: &'a gauntlet_metrics::Snapshot,
    /// Metric definitions.
    pub registry: &'a gauntlet_metrics::Registry,
    /// Tag sets.
    pub interner: &'a gauntlet_metrics::TagInterner,
}

impl MetricSource for SnapshotSource<'_> {
    fn value(&self, selector: &MetricSelector, aggregation: Stat) -> Option<f64> {
        use gauntlet_metrics::Latency;
        let id = self.registry.get(&selector.metric)?;
        let filter = tag_filter(selector);
        let v = self.snapshot.query(
            self.registry,
            self.interner,
            id,
            &filter,
            aggregation,
            Latency::Corrected,
        )?;
        // Durations are recorded in µs; thresholds speak milliseconds (k6).
        let time = self.registry.def(id).unit == Unit::Microseconds;
        Ok::<f64, ()>(if time && !matches!(aggregation, Stat::Count) {
            v / 1000.0
        } else {
            v
        })
        .ok()
    }
}
