//! `sla:` and `thresholds:`: the conditions, and the metric selectors they name
//! (with the tag keys and values a selector may use).

use super::{Validator, read_duration};
use crate::catalog;
use crate::decode::{Fields, Located, boolean, named_entries, seq, string};
use crate::diagnostic::{Diagnostic, did_you_mean};
use crate::node::{Key, Node, NodeKind};
use crate::plan::*;
use crate::threshold::{MetricSelector, TagAt, WrittenUnit, parse_expr, parse_selector_at};
use gauntlet_metrics::{MetricKind, Stat, Unit};
use std::collections::BTreeSet;
use std::time::Duration;

pub(crate) const SLA_KEYS: &[&str] = &[
    "name",
    "metric",
    "objective",
    "limit",
    "priority",
    "abortOnFail",
    "warmup",
];

pub(crate) const THRESHOLD_KEYS: &[&str] =
    &["threshold", "abortOnFail", "delayAbortEval", "warmup"];

/// The scenarios that command-line flags replace (`--vus`, `--duration`, …):
/// a threshold written for one of them measures nothing in that run, which
/// is worth a warning but is no misspelling.
#[derive(Debug, Default)]
pub(crate) struct Replaced {
    pub(super) names: Vec<String>,
    pub(super) tag_keys: Vec<String>,
}

impl Replaced {
    /// The scenario names and scenario tag keys of the plan as written.
    pub(crate) fn from_plan(root: &Node) -> Replaced {
        fn entry<'n>(n: &'n Node, key: &str) -> Option<&'n [(Key, Node)]> {
            match &n.kind {
                NodeKind::Map(m) => {
                    m.iter()
                        .find(|(k, _)| k.name == key)
                        .and_then(|(_, v)| match &v.kind {
                            NodeKind::Map(inner) => Some(inner.as_slice()),
                            _ => None,
                        })
                }
                _ => None,
            }
        }
        let mut r = Replaced::default();
        for (name, scenario) in entry(root, "scenarios").unwrap_or_default() {
            r.names.push(name.name.clone());
            let tags = entry(scenario, "tags").unwrap_or_default();
            r.tag_keys.extend(tags.iter().map(|(k, _)| k.name.clone()));
        }
        r
    }
}

/// The tag keys and the closed sets of tag values a selector may name.
#[derive(Debug, Default)]
pub(super) struct KnownTags {
    /// Pairs of the plan's own `tags:` maps (scenarios, operations, requests).
    pub(super) user: Vec<(String, String)>,
    /// Step names: the `name` tag (setup, teardown and polling steps included).
    pub(super) steps: Vec<String>,
    /// Operation names, `setup` and `teardown`: the `group` tag.
    pub(super) groups: Vec<String>,
    /// Scenario names (and `setup` / `teardown`, the scenario of their steps).
    pub(super) scenarios: Vec<String>,
    /// Whether the workload was read; without it, names are not checked.
    pub(super) workload_read: bool,
    pub(super) replaced: Replaced,
}

/// The system tags whose values the plan fixes, so a selector's value can be
/// checked for spelling. Other tags (`status`, `method`, `url`, user tags)
/// take values known only at run time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ClosedTag {
    Name,
    Group,
    Scenario,
    ErrorCode,
}

impl ClosedTag {
    fn of(key: &str) -> Option<ClosedTag> {
        match key {
            "name" => Some(ClosedTag::Name),
            "group" => Some(ClosedTag::Group),
            "scenario" => Some(ClosedTag::Scenario),
            "error_code" => Some(ClosedTag::ErrorCode),
            _ => None,
        }
    }

    fn key(self) -> &'static str {
        match self {
            ClosedTag::Name => "name",
            ClosedTag::Group => "group",
            ClosedTag::Scenario => "scenario",
            ClosedTag::ErrorCode => "error_code",
        }
    }
}

impl Validator<'_> {
    fn condition_for(
        &mut self,
        metric_kind: Option<(MetricKind, Unit)>,
        expr: &Located<String>,
        metric_name: &str,
        warmup: Duration,
    ) -> Option<Condition> {
        let parsed = match parse_expr(&expr.value) {
            Ok(p) => p,
            Err(e) => {
                let span = self.inner_span(expr.span, e.offset, 1);
                self.diags.error_help(span, e.message, e.help);
                return None;
            }
        };
        if let WindowKind::Every(length) | WindowKind::Sustained(length) = parsed.window
            && (length.subsec_nanos() != 0 || length.is_zero())
        {
            self.diags.error_help(
                expr.span,
                format!("the window in `{}` is not a whole number of seconds", expr.value.trim()),
                "the timeline holds one interval per second, so windows are whole seconds, e.g. `over 30s`",
            );
            return None;
        }
        if let Some((kind, unit)) = metric_kind {
            let allowed: &[&str] = match kind {
                MetricKind::Counter => &["count", "rate"],
                MetricKind::Gauge => &["value"],
                MetricKind::Rate => &["rate", "count"],
                MetricKind::Trend => &["avg", "min", "med", "max", "p(N)", "count"],
            };
            // k6's aggregations per kind; every statistic is named, so a new
            // one must be placed. The grammar never yields `sum` or `fails`.
            let ok = {
                use Stat::*;
                match kind {
                    MetricKind::Counter => match parsed.aggregation {
                        Count | Sum | Rate => true,
                        Fails | Value | Avg | Min | Med | Max | Percentile(_) => false,
                    },
                    MetricKind::Gauge => match parsed.aggregation {
                        Value => true,
                        Count | Sum | Rate | Fails | Avg | Min | Med | Max | Percentile(_) => false,
                    },
                    MetricKind::Rate => match parsed.aggregation {
                        Rate | Count | Fails => true,
                        Sum | Value | Avg | Min | Med | Max | Percentile(_) => false,
                    },
                    MetricKind::Trend => match parsed.aggregation {
                        Avg | Min | Med | Max | Percentile(_) | Count => true,
                        Sum | Rate | Fails | Value => false,
                    },
                }
            };
            if !ok {
                self.diags.error_help(
                    expr.span,
                    format!(
                        "`{}` does not apply to {metric_name}, a {kind:?} metric",
                        parsed.aggregation
                    )
                    .to_lowercase(),
                    format!("{metric_name} takes: {}", allowed.join(", ")),
                );
                return None;
            }
            let unit_ok = match parsed.unit {
                WrittenUnit::None => true,
                WrittenUnit::Duration => {
                    unit == Unit::Microseconds && parsed.aggregation != Stat::Count
                }
                WrittenUnit::Percent => {
                    kind == MetricKind::Rate && parsed.aggregation == Stat::Rate
                }
                WrittenUnit::PerTime => {
                    kind == MetricKind::Counter && parsed.aggregation == Stat::Rate
                }
                WrittenUnit::Bytes => unit == Unit::Bytes,
            };
            if !unit_ok {
                self.diags.error_help(expr.span, format!("the unit in `{}` does not fit {metric_name}", expr.value), "durations (ms, s) go with time trends, % with rate metrics, /s with counter rates, KB/MB with byte counters");
                return None;
            }
            if kind == MetricKind::Rate
                && parsed.aggregation == Stat::Rate
                && parsed.unit == WrittenUnit::None
                && parsed.value > 1.0
            {
                self.diags.push(Diagnostic::warning(expr.span, format!("rate of {metric_name} is a ratio from 0 to 1; `{}` can never fail or never pass", expr.value)).with_help(format!("write `{}%` or a value from 0 to 1", parsed.value)));
            }
        }
        Some(Condition {
            aggregation: parsed.aggregation,
            cmp: parsed.cmp,
            value: parsed.value,
            text: expr.value.trim().to_owned(),
            window: Window {
                kind: parsed.window,
                warmup,
            },
        })
    }

    /// Resolve a metric selector: known metric, its kind, tag sanity.
    fn selector(
        &mut self,
        key: &Located<String>,
    ) -> Option<(crate::threshold::MetricSelector, Option<(MetricKind, Unit)>)> {
        let (sel, at) = match parse_selector_at(&key.value) {
            Ok(s) => s,
            Err(e) => {
                let span = self.inner_span(key.span, e.offset, 1);
                self.diags.error_help(span, e.message, e.help);
                return None;
            }
        };
        self.check_selector_tags(key, &sel, &at);
        let kind = catalog::builtin(&sel.metric)
            .map(|m| (m.kind, m.unit))
            .or_else(|| {
                self.custom_metrics
                    .iter()
                    .find(|c| c.name == sel.metric)
                    .map(|c| (c.kind, c.unit))
            });
        if kind.is_none() {
            let mut names: Vec<&str> = catalog::BUILTIN_METRICS.iter().map(|m| m.name).collect();
            names.extend(self.custom_metrics.iter().map(|c| c.name.as_str()));
            let help = match did_you_mean(&sel.metric, names.iter().copied()) {
                Some(h) => format!("did you mean `{h}`?"),
                None => "metrics: http_req_duration, http_req_failed, http_reqs, checks, iterations, iteration_duration, ... (see docs/metrics.md); polling steps define their own".to_owned(),
            };
            let span = self.inner_span(key.span, 0, sel.metric.len());
            self.diags
                .error_help(span, format!("unknown metric `{}`", sel.metric), help);
            return None;
        }
        Some((sel, kind))
    }

    /// Tag keys a selector names must be system tags or tags the plan sets;
    /// values of `name`, `group`, `scenario` and `error_code` must be ones
    /// the plan (or the engine) produces. Otherwise the threshold would only
    /// ever see "no data", which hides a misspelling.
    fn check_selector_tags(&mut self, key: &Located<String>, sel: &MetricSelector, at: &[TagAt]) {
        let user_keys: BTreeSet<&str> = self.tags.user.iter().map(|(k, _)| k.as_str()).collect();
        let mut found = Vec::new();
        for ((k, v), at) in sel.tags.iter().zip(at) {
            let key_span = self.inner_span(key.span, at.key, k.len());
            let value_span = self.inner_span(key.span, at.value, v.len());
            if !catalog::SYSTEM_TAGS.contains(&k.as_str()) && !user_keys.contains(k.as_str()) {
                if self.tags.replaced.tag_keys.contains(k) {
                    found.push(
                        Diagnostic::warning(
                            key_span,
                            format!(
                                "tag `{k}` is set only by scenarios the command-line flags replace"
                            ),
                        )
                        .with_help("this threshold will have no data in this run"),
                    );
                    continue;
                }
                let mut candidates: Vec<&str> = catalog::SYSTEM_TAGS.to_vec();
                candidates.extend(user_keys.iter().copied());
                let help = match did_you_mean(k, candidates) {
                    Some(h) => format!("did you mean `{h}`?"),
                    None if user_keys.is_empty() => format!(
                        "system tags: {}; a plan adds its own with `tags:` on a scenario, operation or request",
                        catalog::SYSTEM_TAGS.join(", ")
                    ),
                    None => format!(
                        "system tags: {}; this plan's own: {}",
                        catalog::SYSTEM_TAGS.join(", "),
                        user_keys.iter().copied().collect::<Vec<_>>().join(", ")
                    ),
                };
                found.push(
                    Diagnostic::error(key_span, format!("unknown tag `{k}`")).with_help(help),
                );
                continue;
            }
            let Some(tag) = ClosedTag::of(k) else {
                continue;
            };
            if tag != ClosedTag::ErrorCode && !self.tags.workload_read {
                continue;
            }
            let mut known: Vec<&str> = match tag {
                ClosedTag::Name => self.tags.steps.iter().map(String::as_str).collect(),
                ClosedTag::Group => self.tags.groups.iter().map(String::as_str).collect(),
                ClosedTag::Scenario => self.tags.scenarios.iter().map(String::as_str).collect(),
                ClosedTag::ErrorCode => catalog::ERROR_CODES.to_vec(),
            };
            // A plan's own `tags:` may set a system tag (k6 scripts often set `name`).
            known.extend(
                self.tags
                    .user
                    .iter()
                    .filter(|(uk, _)| uk == tag.key())
                    .map(|(_, uv)| uv.as_str()),
            );
            if known.contains(&v.as_str()) {
                continue;
            }
            if tag == ClosedTag::Scenario && self.tags.replaced.names.contains(v) {
                found.push(
                    Diagnostic::warning(
                        value_span,
                        format!("scenario `{v}` is replaced by the command-line flags"),
                    )
                    .with_help("the flags run one scenario named `default`: this threshold will have no data in this run"),
                );
                continue;
            }
            let (message, listed) = match tag {
                ClosedTag::Name => (format!("no step is named `{v}`"), "step names"),
                ClosedTag::Group => (format!("no operation is named `{v}`"), "operations"),
                ClosedTag::Scenario => (format!("no scenario is named `{v}`"), "scenarios"),
                ClosedTag::ErrorCode => (format!("unknown error code `{v}`"), "error codes"),
            };
            let k6_group = v
                .strip_prefix("::")
                .filter(|g| tag == ClosedTag::Group && known.contains(g));
            let help = if let Some(g) = k6_group {
                format!(
                    "gauntlet's `group` tag is the operation name without k6's `::`: write `group:{g}`"
                )
            } else if let Some(h) = did_you_mean(v, known.iter().copied()) {
                format!("did you mean `{h}`?")
            } else if tag == ClosedTag::ErrorCode && v.parse::<u32>().is_ok() {
                "error codes are names, not k6's numbers: e.g. `request_timeout` (see docs/metrics.md#tags)".to_owned()
            } else {
                let mut listed_once = BTreeSet::new();
                let mut names: Vec<&str> = known.clone();
                names.retain(|n| listed_once.insert(*n));
                let more = names.len() > 12;
                names.truncate(12);
                format!(
                    "{listed}: {}{}",
                    names.join(", "),
                    if more { ", …" } else { "" }
                )
            };
            found.push(Diagnostic::error(value_span, message).with_help(help));
        }
        for d in found {
            self.diags.push(d);
        }
    }

    pub(super) fn slas(&mut self, node: &Node) -> Vec<(Sla, bool)> {
        let mut out = Vec::new();
        for n in seq(node, &mut self.diags, "sla") {
            let Some(mut f) = Fields::new(n, &mut self.diags, "SLA", SLA_KEYS) else {
                continue;
            };
            let diags = &mut self.diags;
            let name = f
                .require(
                    "name",
                    diags,
                    "a name for reports, e.g. `name: Create item p95 under 200ms`",
                )
                .and_then(|n| string(n, diags, "name"));
            let metric = f
                .require(
                    "metric",
                    diags,
                    "e.g. `metric: http_req_duration{name:create_item}`",
                )
                .and_then(|n| string(n, diags, "metric"));
            let objective = f
                .require("objective", diags, "e.g. `objective: p(95) < 200ms`")
                .and_then(|n| string(n, diags, "objective"));
            let limit = f.get("limit").and_then(|n| string(n, diags, "limit"));
            let priority = match f.get("priority").and_then(|n| string(n, diags, "priority")) {
                Some(p) => match p.value.as_str() {
                    "high" => Priority::High,
                    "medium" => Priority::Medium,
                    "low" => Priority::Low,
                    other => {
                        diags.error_help(
                            p.span,
                            format!("unknown priority `{other}`"),
                            "use high, medium or low",
                        );
                        Priority::High
                    }
                },
                None => Priority::High,
            };
            let abort = f
                .get("abortOnFail")
                .and_then(|n| boolean(n, diags, "abortOnFail"))
                .map(|b| b.value)
                .unwrap_or(false);
            let warmup = f
                .get("warmup")
                .and_then(|n| read_duration(n, diags, "warmup"))
                .unwrap_or_default();
            f.finish(diags);
            let Some(metric) = metric else { continue };
            let Some((sel, kind)) = self.selector(&metric) else {
                continue;
            };
            let objective =
                objective.and_then(|o| self.condition_for(kind, &o, &sel.metric, warmup));
            let limit_c = limit
                .as_ref()
                .and_then(|l| self.condition_for(kind, l, &sel.metric, warmup));
            if let (Some(o), Some(l), Some(ls)) = (&objective, &limit_c, &limit)
                && (o.aggregation != l.aggregation || o.cmp != l.cmp || o.window != l.window)
            {
                self.diags.error_help(
                    ls.span,
                    "`limit` must use the same aggregation, operator and window as `objective`",
                    format!(
                        "e.g. objective `{}` with limit `{} {} <looser value>`",
                        o.text,
                        o.aggregation,
                        o.cmp.as_str()
                    ),
                );
            }
            if let (Some(name), Some(objective)) = (name, objective) {
                out.push((
                    Sla {
                        name: name.value,
                        metric: sel,
                        objective,
                        limit: limit_c,
                        priority,
                    },
                    abort,
                ));
            }
        }
        out
    }

    pub(super) fn thresholds(&mut self, node: &Node) -> Vec<Threshold> {
        let mut out = Vec::new();
        let entries = named_entries(node, &mut self.diags, "thresholds");
        for (k, v) in entries {
            let key = Located::new(k.name.clone(), k.span);
            let Some((sel, kind)) = self.selector(&key) else {
                continue;
            };
            let items: Vec<&Node> = match &v.kind {
                NodeKind::Seq(items) => items.iter().collect(),
                _ => vec![v],
            };
            for item in items {
                let (expr, abort, delay, warmup) = match &item.kind {
                    NodeKind::Str(s) => (
                        Located::new(s.clone(), item.span),
                        false,
                        Duration::ZERO,
                        Duration::ZERO,
                    ),
                    NodeKind::Map(_) => {
                        let Some(mut f) =
                            Fields::new(item, &mut self.diags, "threshold", THRESHOLD_KEYS)
                        else {
                            continue;
                        };
                        let diags = &mut self.diags;
                        let e = f
                            .require("threshold", diags, "e.g. `threshold: p(95) < 200ms`")
                            .and_then(|n| string(n, diags, "threshold"));
                        let abort = f
                            .get("abortOnFail")
                            .and_then(|n| boolean(n, diags, "abortOnFail"))
                            .map(|b| b.value)
                            .unwrap_or(false);
                        let delay = f
                            .get("delayAbortEval")
                            .and_then(|n| read_duration(n, diags, "delayAbortEval"))
                            .unwrap_or_default();
                        let warmup = f
                            .get("warmup")
                            .and_then(|n| read_duration(n, diags, "warmup"))
                            .unwrap_or_default();
                        f.finish(diags);
                        let Some(e) = e else { continue };
                        (e, abort, delay, warmup)
                    }
                    _ => {
                        self.diags.type_error(
                            item,
                            &k.name,
                            "a threshold string like `p(95) < 200ms` or a list of them",
                        );
                        continue;
                    }
                };
                if let Some(condition) = self.condition_for(kind, &expr, &sel.metric, warmup) {
                    out.push(Threshold {
                        metric: sel.clone(),
                        condition,
                        abort_on_fail: abort,
                        delay_abort_eval: delay,
                        origin: ThresholdOrigin::Thresholds,
                    });
                }
            }
        }
        out
    }
}
