//! `metrics:` (the plan's own metrics) and the values steps add to them.

use super::Validator;
use super::checks::check_json_path;
use super::request::check_header_name;
use crate::catalog;
use crate::decode::{Fields, Located, boolean, named_entries, string, string_map, text};
use crate::diagnostic::did_you_mean;
use crate::node::{Node, NodeKind};
use crate::plan::*;
use gauntlet_metrics::{MetricKind, Unit};

pub(crate) const METRIC_KEYS: &[&str] = &["type", "time"];

pub(crate) const METRIC_ADD_KEYS: &[&str] =
    &["metric", "jsonPath", "header", "timing", "value", "tags"];

/// How a diagnostic names a metric's kind: `a counter`, `a time trend`.
pub(super) fn kind_phrase(kind: MetricKind, unit: Unit) -> &'static str {
    match (kind, unit) {
        (MetricKind::Counter, _) => "a counter",
        (MetricKind::Gauge, _) => "a gauge",
        (MetricKind::Rate, _) => "a rate",
        (MetricKind::Trend, Unit::Microseconds) => "a time trend",
        (MetricKind::Trend, Unit::Bytes | Unit::Count | Unit::None) => "a trend",
    }
}

const METRIC_TYPES: [&str; 4] = ["counter", "gauge", "rate", "trend"];

impl Validator<'_> {
    /// `metrics:`: the plan's own metrics (k6's `k6/metrics`), each a name
    /// and a type (`counter`, `gauge`, `rate`, `trend`) or `{type: trend,
    /// time: true}` for a trend of milliseconds.
    pub(super) fn metrics_section(&mut self, node: &Node) {
        for (k, n) in named_entries(node, &mut self.diags, "metrics") {
            let diags = &mut self.diags;
            if k.name.is_empty()
                || !k
                    .name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_')
            {
                diags.error_help(
                    k.span,
                    format!("`{}` is not a metric name", k.name),
                    "use letters, digits and `_`, e.g. `items_returned`",
                );
                continue;
            }
            if catalog::builtin(&k.name).is_some() {
                diags.error_help(
                    k.span,
                    format!("`{}` is a built-in metric", k.name),
                    "choose another name for the plan's own metric",
                );
                continue;
            }
            let (ty, time) = match &n.kind {
                NodeKind::Str(s) => (Some(Located::new(s.clone(), n.span)), None),
                NodeKind::Map(_) => {
                    let Some(mut f) = Fields::new(n, diags, "metric", METRIC_KEYS) else {
                        continue;
                    };
                    let ty = f
                        .require("type", diags, "one of counter, gauge, rate, trend")
                        .and_then(|n| string(n, diags, "type"));
                    let time = f.get("time").and_then(|n| boolean(n, diags, "time"));
                    f.finish(diags);
                    (ty, time)
                }
                _ => {
                    diags.type_error(
                        n,
                        &format!("metrics.{}", k.name),
                        "a type (`counter`, `gauge`, `rate`, `trend`) or `{type: trend, time: true}`",
                    );
                    continue;
                }
            };
            let Some(ty) = ty else { continue };
            let kind = match ty.value.as_str() {
                "counter" => MetricKind::Counter,
                "gauge" => MetricKind::Gauge,
                "rate" => MetricKind::Rate,
                "trend" => MetricKind::Trend,
                other => {
                    let help = match did_you_mean(other, METRIC_TYPES) {
                        Some(h) => format!("did you mean `{h}`?"),
                        None => "use counter, gauge, rate or trend".to_owned(),
                    };
                    diags.error_help(ty.span, format!("unknown metric type `{other}`"), help);
                    continue;
                }
            };
            let time = match time {
                Some(t) if t.value && kind != MetricKind::Trend => {
                    diags.error_help(
                        t.span,
                        "`time` applies to trends only",
                        "write `{type: trend, time: true}` for a trend of milliseconds",
                    );
                    false
                }
                Some(t) => t.value,
                None => false,
            };
            if self.custom_metrics.iter().any(|c| c.name == k.name) {
                continue; // a duplicate key, already reported by the parser
            }
            self.custom_metrics.push(CustomMetric {
                name: k.name.clone(),
                kind,
                unit: if time {
                    Unit::Microseconds
                } else {
                    Unit::Count
                },
            });
            // `metric_errors{metric:<name>}` is a selector worth checking.
            self.tags.user.push(("metric".to_owned(), k.name.clone()));
        }
    }

    /// A step's `metrics:`: a list of `{metric: name, <source>, tags}`,
    /// where the source is one of `jsonPath`, `header`, `timing` or `value`.
    pub(super) fn metric_adds(&mut self, node: &Node) -> Vec<MetricAdd> {
        let mut out = Vec::new();
        let items: Vec<&Node> = match &node.kind {
            NodeKind::Seq(v) => v.iter().collect(),
            NodeKind::Map(_) => vec![node],
            _ => {
                self.diags
                    .type_error(node, "metrics", "a list of `{metric: name, jsonPath: $.x}`");
                return out;
            }
        };
        for n in items {
            let source_text = self.source;
            let diags = &mut self.diags;
            let Some(mut f) = Fields::new(n, diags, "step metric", METRIC_ADD_KEYS) else {
                continue;
            };
            let metric = f
                .require(
                    "metric",
                    diags,
                    "the name of a metric declared under the plan's `metrics:`",
                )
                .and_then(|n| string(n, diags, "metric"));
            let present: Vec<&str> = ["jsonPath", "header", "timing", "value"]
                .into_iter()
                .filter(|k| f.has(k))
                .collect();
            let source = if present.len() != 1 {
                diags.error_help(
                    f.span,
                    if present.is_empty() {
                        "a step metric needs one of jsonPath, header, timing, value".to_owned()
                    } else {
                        format!(
                            "a step metric takes one value, found {}",
                            present.join(" and ")
                        )
                    },
                    "e.g. `- {metric: items_returned, jsonPath: $.count}`",
                );
                None
            } else {
                match present[0] {
                    "jsonPath" => f
                        .get("jsonPath")
                        .and_then(|n| string(n, diags, "jsonPath"))
                        .map(|p| {
                            check_json_path(diags, &p);
                            ValueSource::JsonPath(p.value)
                        }),
                    "header" => f
                        .get("header")
                        .and_then(|n| string(n, diags, "header"))
                        .map(|h| {
                            check_header_name(diags, source_text, &h);
                            ValueSource::Header(h.value)
                        }),
                    "timing" => f
                        .get("timing")
                        .and_then(|n| string(n, diags, "timing"))
                        .and_then(|t| match Timing::ALL.iter().find(|(_, s)| *s == t.value) {
                            Some((timing, _)) => Some(ValueSource::Timing(*timing)),
                            None => {
                                let names = Timing::ALL.iter().map(|(_, s)| *s);
                                let help = match did_you_mean(&t.value, names.clone()) {
                                    Some(h) => format!("did you mean `{h}`?"),
                                    None => format!(
                                        "use one of {}",
                                        names.collect::<Vec<_>>().join(", ")
                                    ),
                                };
                                diags.error_help(
                                    t.span,
                                    format!("unknown timing `{}`", t.value),
                                    help,
                                );
                                None
                            }
                        }),
                    _ => f
                        .get("value")
                        .and_then(|n| text(n, diags, "value"))
                        .map(|v| ValueSource::Value(Template::new(v.value))),
                }
            };
            let tags = f
                .get("tags")
                .map(|n| string_map(n, diags, "tags"))
                .unwrap_or_default();
            f.finish(diags);
            let Some(metric) = metric else { continue };
            if !self.custom_metrics.iter().any(|c| c.name == metric.value) {
                let declared: Vec<&str> = self
                    .custom_metrics
                    .iter()
                    .map(|c| c.name.as_str())
                    .collect();
                let help = if catalog::builtin(&metric.value).is_some() {
                    format!(
                        "`{}` is a built-in metric, which only gauntlet records; declare a metric of your own under `metrics:`",
                        metric.value
                    )
                } else {
                    match did_you_mean(&metric.value, declared.iter().copied()) {
                        Some(h) => format!("did you mean `{h}`?"),
                        None if declared.is_empty() => format!(
                            "declare it at the top of the plan: `metrics: {{{}: counter}}` (or gauge, rate, trend)",
                            metric.value
                        ),
                        None => format!("declared metrics: {}", declared.join(", ")),
                    }
                };
                self.diags.error_help(
                    metric.span,
                    format!("metric `{}` is not declared under `metrics:`", metric.value),
                    help,
                );
                continue;
            }
            self.tags
                .user
                .extend(tags.iter().map(|(k, v)| (k.value.clone(), v.value.clone())));
            if let Some(source) = source {
                out.push(MetricAdd {
                    metric: metric.value,
                    source,
                    tags: tags.into_iter().map(|(k, v)| (k.value, v.value)).collect(),
                });
            }
        }
        out
    }
}
