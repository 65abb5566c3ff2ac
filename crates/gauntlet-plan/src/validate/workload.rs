//! `workload:`: the operations virtual users pick by weight, and their steps.

use super::{Validator, check_identifier, read_duration, think_time};
use crate::decode::{Fields, Located, int, named_entries, seq, string, string_map};
use crate::diagnostic::Span;
use crate::node::{Node, NodeKind};
use crate::plan::*;
use std::collections::BTreeSet;

pub(crate) const WORKLOAD_KEYS: &[&str] = &["thinkTime", "operations"];

pub(crate) const OPERATION_KEYS: &[&str] = &[
    "weight",
    "steps",
    "thinkTime",
    "pacing",
    "tags",
    "request",
    "poll",
    "checks",
    "capture",
    "metrics",
    "onCheckFailure",
];

pub(crate) const STEP_KEYS: &[&str] = &[
    "name",
    "request",
    "poll",
    "checks",
    "capture",
    "metrics",
    "thinkTime",
    "onCheckFailure",
];

impl Validator<'_> {
    pub(super) fn workload(&mut self, node: &Node) -> Option<Workload> {
        let mut f = Fields::new(node, &mut self.diags, "workload", WORKLOAD_KEYS)?;
        let think = f
            .get("thinkTime")
            .and_then(|n| think_time(n, &mut self.diags, "thinkTime"));
        let ops_node = f.require(
            "operations",
            &mut self.diags,
            "list what users do under `operations:`, each a request or a sequence of steps",
        );
        f.finish(&mut self.diags);
        let ops_node = ops_node?;
        let mut operations = Vec::new();
        let entries = named_entries(ops_node, &mut self.diags, "operations");
        if entries.is_empty() && matches!(ops_node.kind, NodeKind::Map(_)) {
            self.diags.error(
                ops_node.span,
                "`operations` is empty: add at least one operation",
            );
        }
        for (k, n) in entries {
            check_identifier(&mut self.diags, &k.name, k.span, "operation");
            self.tags.groups.push(k.name.clone());
            if let Some(op) = self.operation(&k.name, n) {
                operations.push(op);
            }
        }
        Some(Workload {
            operations,
            think_time: think,
        })
    }

    fn operation(&mut self, name: &str, node: &Node) -> Option<Operation> {
        if let NodeKind::Str(s) = &node.kind {
            // `home: GET /` shorthand.
            self.tags.steps.push(name.to_owned());
            let req = self.request_shorthand(Located::new(s.clone(), node.span))?;
            let step = Step {
                name: name.to_owned(),
                action: Action::Request(req),
                checks: Vec::new(),
                captures: Vec::new(),
                metrics: Vec::new(),
                think_time: None,
                on_check_failure: OnCheckFailure::Continue,
            };
            self.check_step_templates(&[(node.span, step.clone())], name, true);
            return Some(Operation {
                name: name.to_owned(),
                weight: 1,
                steps: vec![step],
                think_time: None,
                pacing: None,
                tags: Vec::new(),
            });
        }
        let mut f = Fields::new(node, &mut self.diags, "operation", OPERATION_KEYS)?;
        let weight = match f
            .get("weight")
            .and_then(|n| int(n, &mut self.diags, "weight"))
        {
            Some(w) if w.value < 0 => {
                self.diags.error_help(
                    w.span,
                    format!("weight {} is negative", w.value),
                    "weights are relative shares: 0 disables an operation",
                );
                0
            }
            Some(w) => w.value as u32,
            None => 1,
        };
        let think = f
            .get("thinkTime")
            .and_then(|n| think_time(n, &mut self.diags, "thinkTime"));
        let pacing = f
            .get("pacing")
            .and_then(|n| read_duration(n, &mut self.diags, "pacing"));
        let tags = f
            .get("tags")
            .map(|n| string_map(n, &mut self.diags, "tags"))
            .unwrap_or_default();
        self.tags
            .user
            .extend(tags.iter().map(|(k, v)| (k.value.clone(), v.value.clone())));
        let single = f.has("request") || f.has("poll");
        let steps = if let Some(steps_node) = f.get("steps") {
            if single {
                self.diags.error_help(
                    f.key_span("steps").unwrap_or(f.span),
                    "an operation has either `steps:` or a single `request:`/`poll:`, not both",
                    "move the request into the step list",
                );
            }
            for key in ["checks", "capture", "onCheckFailure"] {
                if let Some(span) = f.key_span(key) {
                    let _ = f.get(key);
                    self.diags.error_help(
                        span,
                        format!("`{key}` belongs to a step: this operation has `steps:`"),
                        format!("move `{key}` into the step it applies to"),
                    );
                }
            }
            self.steps_field(steps_node, name)
        } else if single {
            // The operation is itself one step named after it.
            self.tags.steps.push(name.to_owned());
            match self.step_body(&mut f, name.to_owned()) {
                Some(s) => vec![(f.span, s)],
                None => Vec::new(),
            }
        } else {
            self.diags.error_help(
                f.span,
                format!("operation `{name}` does nothing"),
                "give it `request: GET /path` or a list of `steps:`",
            );
            Vec::new()
        };
        f.finish(&mut self.diags);
        self.check_step_templates(&steps, name, true);
        Some(Operation {
            name: name.to_owned(),
            weight,
            steps: steps.into_iter().map(|s| s.1).collect(),
            think_time: think,
            pacing,
            tags: tags.into_iter().map(|(k, v)| (k.value, v.value)).collect(),
        })
    }

    /// Steps with their spans and, per step, the spans of template strings
    /// (filled by `check_step_templates`).
    pub(super) fn steps_field(&mut self, node: &Node, owner: &str) -> Vec<(Span, Step)> {
        let mut out = Vec::new();
        let items = seq(node, &mut self.diags, "steps");
        let mut names = BTreeSet::new();
        for (i, n) in items.iter().enumerate() {
            let Some(mut f) = Fields::new(n, &mut self.diags, "step", STEP_KEYS) else {
                continue;
            };
            let name = match f
                .get("name")
                .and_then(|n| string(n, &mut self.diags, "name"))
            {
                Some(s) => {
                    if !names.insert(s.value.clone()) {
                        self.diags.error_help(
                            s.span,
                            format!("step name `{}` is used twice in `{owner}`", s.value),
                            "step names tag metrics; make them unique",
                        );
                    }
                    s.value
                }
                None => format!("{owner}#{}", i + 1),
            };
            self.tags.steps.push(name.clone());
            if let Some(step) = self.step_body(&mut f, name) {
                out.push((n.span, step));
            }
            f.finish(&mut self.diags);
        }
        if items.is_empty() && matches!(node.kind, NodeKind::Seq(_)) {
            self.diags
                .error(node.span, format!("`{owner}` has an empty step list"));
        }
        out
    }

    /// The action, checks and captures of a step (shared by steps and
    /// single-request operations).
    fn step_body(&mut self, f: &mut Fields<'_>, name: String) -> Option<Step> {
        let request = f.get("request");
        let poll = f.get("poll");
        let action = match (request, poll) {
            (Some(r), None) => Action::Request(self.request(r)?),
            (None, Some(p)) => Action::Poll(self.poll(p, &name)?),
            (Some(_), Some(_)) => {
                self.diags.error_help(
                    f.span,
                    "a step has either `request:` or `poll:`, not both",
                    "split it into two steps",
                );
                return None;
            }
            (None, None) => {
                self.diags.error_help(
                    f.span,
                    format!("step `{name}` has no `request:` or `poll:`"),
                    "e.g. `request: GET /api/items`",
                );
                return None;
            }
        };
        let checks = f.get("checks").map(|n| self.checks(n)).unwrap_or_default();
        let captures = f
            .get("capture")
            .map(|n| self.captures(n))
            .unwrap_or_default();
        let metrics = f
            .get("metrics")
            .map(|n| self.metric_adds(n))
            .unwrap_or_default();
        let think = f
            .get("thinkTime")
            .and_then(|n| think_time(n, &mut self.diags, "thinkTime"));
        let on_check_failure = match f
            .get("onCheckFailure")
            .and_then(|n| string(n, &mut self.diags, "onCheckFailure"))
        {
            Some(s) => match s.value.as_str() {
                "continue" => OnCheckFailure::Continue,
                "end-iteration" => OnCheckFailure::EndIteration,
                other => {
                    self.diags.error_help(
                        s.span,
                        format!("unknown onCheckFailure `{other}`"),
                        "use continue or end-iteration",
                    );
                    OnCheckFailure::Continue
                }
            },
            None => OnCheckFailure::Continue,
        };
        Some(Step {
            name,
            action,
            checks,
            captures,
            metrics,
            think_time: think,
            on_check_failure,
        })
    }
}
