//! Command-line shortcuts, normalised into the plan before validation.
//!
//! As in k6, `--vus/--duration/--iterations/--stage/--rate` given on the
//! command line replace the plan's `scenarios` with one `default` scenario
//! (flags beat the file), and `--url` replaces the target. The result is an
//! ordinary plan that goes through the same validation as a hand-written one,
//! so there is one code path for both.
//!
//! Every value put in the plan this way remembers its flag ([`Flag`]), so
//! a problem with it is shown as the flag and its value (`--vus 0: ...`),
//! not as a position in a file the user never wrote.

use crate::diagnostic::{Flag, Span};
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
    /// `--tag NAME=VALUE`, repeatable: a tag on every scenario's metrics,
    /// so threshold selectors may name it.
    pub tags: Vec<(String, String)>,
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

    /// How a problem with a value of `flag` names it: the flag and its value.
    pub fn describe(&self, flag: Flag) -> String {
        let stage = |(d, t): &(String, u64)| format!("--stage {d}:{t}");
        match flag {
            Flag::Url => format!("--url {}", self.url.as_deref().unwrap_or_default()),
            Flag::Vus => format!("--vus {}", self.vus.unwrap_or_default()),
            Flag::Duration => format!(
                "--duration {}",
                self.duration.as_deref().unwrap_or_default()
            ),
            Flag::Iterations => format!("--iterations {}", self.iterations.unwrap_or_default()),
            Flag::Rate => format!("--rate {}", self.rate.unwrap_or_default()),
            Flag::Stage(i) => self
                .stages
                .get(usize::from(i))
                .map(stage)
                .unwrap_or_else(|| "--stage".into()),
            _ => {
                let mut parts = Vec::new();
                for (flag, set) in [
                    (Flag::Vus, self.vus.is_some()),
                    (Flag::Duration, self.duration.is_some()),
                    (Flag::Iterations, self.iterations.is_some()),
                    (Flag::Rate, self.rate.is_some()),
                ] {
                    if set {
                        parts.push(self.describe(flag));
                    }
                }
                parts.extend(self.stages.iter().map(stage));
                if parts.is_empty() {
                    "the command line".into()
                } else {
                    parts.join(" ")
                }
            }
        }
    }

    /// The one scenario the flags describe, as YAML-equivalent entries,
    /// each with the flag it comes from.
    fn scenario(&self) -> Vec<(&'static str, NodeKind, Flag)> {
        let int = |v: u64| NodeKind::Int(v.min(i64::MAX as u64) as i64);
        let s = |v: &str| NodeKind::Str(v.to_owned());
        let vus_flag = |fallback: Flag| {
            if self.vus.is_some() {
                Flag::Vus
            } else {
                fallback
            }
        };
        let mut out = Vec::new();
        if let Some(rate) = self.rate {
            let vus = self.vus.unwrap_or_else(|| (rate / 10).clamp(1, 1000));
            out.push(("executor", s("constant-arrival-rate"), Flag::Rate));
            out.push(("rate", int(rate), Flag::Rate));
            out.push(("timeUnit", s("1s"), Flag::Rate));
            match &self.duration {
                Some(d) => out.push(("duration", s(d), Flag::Duration)),
                None => out.push(("duration", s("30s"), Flag::Rate)),
            }
            out.push(("preAllocatedVUs", int(vus), vus_flag(Flag::Rate)));
            out.push((
                "maxVUs",
                int(vus.max(rate.saturating_mul(2)).min(10_000).max(vus)),
                Flag::Shortcut,
            ));
        } else if !self.stages.is_empty() {
            out.push(("executor", s("ramping-vus"), Flag::Shortcut));
            out.push((
                "startVUs",
                int(self.vus.unwrap_or(0)),
                vus_flag(Flag::Shortcut),
            ));
            let stages = self
                .stages
                .iter()
                .enumerate()
                .map(|(i, (d, t))| {
                    let flag = Flag::Stage(u16::try_from(i).unwrap_or(u16::MAX));
                    node(
                        NodeKind::Map(vec![
                            (key("duration", flag), node(s(d), flag)),
                            (key("target", flag), node(int(*t), flag)),
                        ]),
                        flag,
                    )
                })
                .collect();
            out.push(("stages", NodeKind::Seq(stages), Flag::Shortcut));
        } else if let Some(iterations) = self.iterations {
            out.push(("executor", s("shared-iterations"), Flag::Iterations));
            out.push((
                "vus",
                int(self.vus.unwrap_or(1)),
                vus_flag(Flag::Iterations),
            ));
            out.push(("iterations", int(iterations), Flag::Iterations));
            if let Some(d) = &self.duration {
                out.push(("maxDuration", s(d), Flag::Duration));
            }
        } else if let Some(d) = &self.duration {
            out.push(("executor", s("constant-vus"), Flag::Duration));
            out.push(("vus", int(self.vus.unwrap_or(1)), vus_flag(Flag::Duration)));
            out.push(("duration", s(d), Flag::Duration));
        } else if let Some(vus) = self.vus {
            out.push(("executor", s("per-vu-iterations"), Flag::Vus));
            out.push(("vus", int(vus), Flag::Vus));
            out.push(("iterations", int(1), Flag::Vus));
        }
        out
    }

    /// Put the `--tag` pairs on every scenario, replacing a tag of the same
    /// name the plan sets (a flag beats the file).
    pub(crate) fn tag_scenarios(&self, plan: &mut crate::Plan) {
        for s in &mut plan.scenarios {
            for (k, v) in &self.tags {
                s.tags.retain(|(ek, _)| ek != k);
                s.tags.push((k.clone(), v.clone()));
            }
        }
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
                        te.insert(
                            0,
                            (
                                key("url", Flag::Url),
                                node(NodeKind::Str(url.clone()), Flag::Url),
                            ),
                        );
                    }
                    _ => *t = node(NodeKind::Str(url.clone()), Flag::Url),
                },
                None => entries.push((
                    key("target", Flag::Url),
                    node(NodeKind::Str(url.clone()), Flag::Url),
                )),
            }
        }
        if self.changes_scenarios() {
            let scenario = node(
                NodeKind::Map(
                    self.scenario()
                        .into_iter()
                        .map(|(k, v, flag)| (key(k, flag), node(v, flag)))
                        .collect(),
                ),
                Flag::Shortcut,
            );
            let scenarios = node(
                NodeKind::Map(vec![(key("default", Flag::Shortcut), scenario)]),
                Flag::Shortcut,
            );
            match entries.iter_mut().find(|(k, _)| k.name == "scenarios") {
                Some((_, s)) => *s = scenarios,
                None => entries.push((key("scenarios", Flag::Shortcut), scenarios)),
            }
        }
    }
}

/// Nodes made from flags have no place in the file: their span names the flag.
fn node(kind: NodeKind, flag: Flag) -> Node {
    Node {
        span: Span::from_flag(flag),
        kind,
    }
}

fn key(name: &str, flag: Flag) -> Key {
    Key {
        name: name.to_owned(),
        span: Span::from_flag(flag),
    }
}
