//! Command-line shortcuts, normalised into the plan before validation.
//!
//! As in k6, `--vus/--duration/--iterations/--stage/--rate` given on the
//! command line replace the plan's `scenarios` with one `default` scenario
//! (flags beat the file), and `--url` replaces the target. The result is an
//! ordinary plan that goes through the same validation as a hand-written one,
//! so there is one code path for both.

use crate::diagnostic::Span;
use crate::node::{Key, Node, NodeKind};

/// Values given on the command line that override the plan.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Overrides {
    /// `--url` / `--target`: base URL or `demo`.
    pub url: Option<String>,
    /// `--vus`.
    pub vus: Option<u64>,
    /// `--duration` (as written, e.g. `30s`).
    pub duration: Option<String>,
    /// `--iterations` (shared across VUs, as k6).
    pub iterations: Option<u64>,
    /// `--rate`: iterations per second (constant-arrival-rate).
    pub rate: Option<u64>,
    /// `--stage 30s:100`, repeatable: ramping-vus stages (duration, target).
    pub stages: Vec<(String, u64)>,
}

impl Overrides {
    /// Whether any flag changes the scenarios.
    pub fn changes_scenarios(&self) -> bool {
        self.vus.is_some()
            || self.duration.is_some()
            || self.iterations.is_some()
            || self.rate.is_some()
            || !self.stages.is_empty()
    }

    /// The one scenario the flags describe, as YAML-equivalent entries.
    fn scenario(&self) -> Vec<(&'static str, NodeKind)> {
        let int = |v: u64| NodeKind::Int(v.min(i64::MAX as u64) as i64);
        let s = |v: &str| NodeKind::Str(v.to_owned());
        let mut out = Vec::new();
        if let Some(rate) = self.rate {
            let vus = self.vus.unwrap_or_else(|| (rate / 10).clamp(1, 1000));
            out.push(("executor", s("constant-arrival-rate")));
            out.push(("rate", int(rate)));
            out.push(("timeUnit", s("1s")));
            out.push(("duration", s(self.duration.as_deref().unwrap_or("30s"))));
            out.push(("preAllocatedVUs", int(vus)));
            out.push((
                "maxVUs",
                int(vus.max(rate.saturating_mul(2)).min(10_000).max(vus)),
            ));
        } else if !self.stages.is_empty() {
            out.push(("executor", s("ramping-vus")));
            out.push(("startVUs", int(self.vus.unwrap_or(0))));
            let stages = self
                .stages
                .iter()
                .map(|(d, t)| {
                    node(NodeKind::Map(vec![
                        (key("duration"), node(s(d))),
                        (key("target"), node(int(*t))),
                    ]))
                })
                .collect();
            out.push(("stages", NodeKind::Seq(stages)));
        } else if let Some(iterations) = self.iterations {
            out.push(("executor", s("shared-iterations")));
            out.push(("vus", int(self.vus.unwrap_or(1))));
            out.push(("iterations", int(iterations)));
            if let Some(d) = &self.duration {
                out.push(("maxDuration", s(d)));
            }
        } else if let Some(d) = &self.duration {
            out.push(("executor", s("constant-vus")));
            out.push(("vus", int(self.vus.unwrap_or(1))));
            out.push(("duration", s(d)));
        } else if let Some(vus) = self.vus {
            out.push(("executor", s("per-vu-iterations")));
            out.push(("vus", int(vus)));
            out.push(("iterations", int(1)));
        }
        out
    }

    /// Rewrite the plan tree in place.
    pub(crate) fn apply(&self, root: &mut Node) {
        let NodeKind::Map(entries) = &mut root.kind else {
            return;
        };
        if let Some(url) = &self.url {
            match entries.iter_mut().find(|(k, _)| k.name == "target") {
                Some((_, t)) => match &mut t.kind {
                    NodeKind::Map(te) => {
                        te.retain(|(k, _)| k.name != "url" && (k.name != "demo" || url == "demo"));
                        te.insert(0, (key("url"), node(NodeKind::Str(url.clone()))));
                    }
                    other => *other = NodeKind::Str(url.clone()),
                },
                None => entries.push((key("target"), node(NodeKind::Str(url.clone())))),
            }
        }
        if self.changes_scenarios() {
            let scenario = node(NodeKind::Map(
                self.scenario()
                    .into_iter()
                    .map(|(k, v)| (key(k), node(v)))
                    .collect(),
            ));
            let scenarios = node(NodeKind::Map(vec![(key("default"), scenario)]));
            match entries.iter_mut().find(|(k, _)| k.name == "scenarios") {
                Some((_, s)) => *s = scenarios,
                None => entries.push((key("scenarios"), scenarios)),
            }
        }
    }
}

/// Nodes made from flags have no place in the file; they point at line 0.
fn node(kind: NodeKind) -> Node {
    Node {
        span: Span::default(),
        kind,
    }
}

fn key(name: &str) -> Key {
    Key {
        name: name.to_owned(),
        span: Span::default(),
    }
}
