//! `scenarios:`: k6's executors with k6's option names, and their stages.

use super::{Validator, check_identifier, non_negative, positive, read_duration};
use crate::decode::{Diagnostics, Fields, Located, int, named_entries, seq, string, string_map};
use crate::diagnostic::{Span, did_you_mean};
use crate::node::{Node, NodeKind};
use crate::plan::*;
use crate::schedule::{EXECUTOR_NAMES, Executor, Stage};
use std::time::Duration;

/// Options that only some executors take (k6's names).
const EXECUTOR_OPTIONS: [&str; 12] = [
    "vus",
    "iterations",
    "maxDuration",
    "duration",
    "stages",
    "startVUs",
    "gracefulRampDown",
    "rate",
    "timeUnit",
    "preAllocatedVUs",
    "maxVUs",
    "startRate",
];
const COMMON_SCENARIO_KEYS: [&str; 9] = [
    "executor",
    "startTime",
    "gracefulStop",
    "exec",
    "operations",
    "tags",
    "env",
    "testType",
    "description",
];
pub(crate) const SCENARIO_KEYS: &[&str] =
    &concat_keys::<9, 12, 21>(COMMON_SCENARIO_KEYS, EXECUTOR_OPTIONS);

/// Two key lists as one (for `Fields`, which takes a single static list).
const fn concat_keys<const A: usize, const B: usize, const C: usize>(
    a: [&'static str; A],
    b: [&'static str; B],
) -> [&'static str; C] {
    let mut out = [""; C];
    let mut i = 0;
    while i < A {
        out[i] = a[i];
        i += 1;
    }
    while i < C {
        out[i] = b[i - A];
        i += 1;
    }
    out
}

pub(crate) const STAGE_KEYS: &[&str] = &["duration", "target"];

impl Validator<'_> {
    pub(super) fn scenarios(&mut self, node: &Node, workload: &Workload) -> Vec<Scenario> {
        let mut out = Vec::new();
        let entries = named_entries(node, &mut self.diags, "scenarios");
        if entries.is_empty() && matches!(node.kind, NodeKind::Map(_)) {
            self.diags.error_help(
                node.span,
                "`scenarios` is empty",
                "add one, e.g. `smoke: {executor: constant-vus, vus: 1, duration: 10s}`",
            );
        }
        for (k, n) in entries {
            check_identifier(&mut self.diags, &k.name, k.span, "scenario");
            self.tags.scenarios.push(k.name.clone());
            if let Some(s) = self.scenario(&k.name, n, workload) {
                out.push(s);
            }
        }
        out
    }

    fn scenario(&mut self, name: &str, node: &Node, workload: &Workload) -> Option<Scenario> {
        let diags = &mut self.diags;
        let mut f = Fields::new(node, diags, "scenario", SCENARIO_KEYS)?;
        let executor_name = f
            .require(
                "executor",
                diags,
                &format!("one of: {}", EXECUTOR_NAMES.join(", ")),
            )
            .and_then(|n| string(n, diags, "executor"));
        let start_time = f
            .get("startTime")
            .and_then(|n| read_duration(n, diags, "startTime"))
            .unwrap_or_default();
        let graceful_stop = f
            .get("gracefulStop")
            .and_then(|n| read_duration(n, diags, "gracefulStop"))
            .unwrap_or(Duration::from_secs(30));
        let tags = f
            .get("tags")
            .map(|n| string_map(n, diags, "tags"))
            .unwrap_or_default();
        self.tags
            .user
            .extend(tags.iter().map(|(k, v)| (k.value.clone(), v.value.clone())));
        let env = f
            .get("env")
            .map(|n| string_map(n, diags, "env"))
            .unwrap_or_default();
        let _ = f
            .get("description")
            .and_then(|n| string(n, diags, "description"));
        let test_type = f
            .get("testType")
            .and_then(|n| string(n, diags, "testType"))
            .and_then(
                |s| match TestType::ALL.iter().find(|(_, n)| *n == s.value) {
                    Some((t, _)) => Some(*t),
                    None => {
                        let names: Vec<&str> = TestType::ALL.iter().map(|(_, n)| *n).collect();
                        let help = match did_you_mean(&s.value, names.iter().copied()) {
                            Some(h) => format!("did you mean `{h}`?"),
                            None => format!("use one of {}", names.join(", ")),
                        };
                        diags.error_help(s.span, format!("unknown test type `{}`", s.value), help);
                        None
                    }
                },
            );
        // Which operations this scenario runs.
        let op_names: Vec<&str> = workload
            .operations
            .iter()
            .map(|o| o.name.as_str())
            .collect();
        let mut mix: Vec<(usize, u32)> = Vec::new();
        let lookup = |diags: &mut Diagnostics, n: &str, span: Span| -> Option<usize> {
            match op_names.iter().position(|o| *o == n) {
                Some(i) => Some(i),
                None => {
                    let help = match did_you_mean(n, op_names.iter().copied()) {
                        Some(h) => format!("did you mean `{h}`?"),
                        None => format!("operations: {}", op_names.join(", ")),
                    };
                    diags.error_help(
                        span,
                        format!("scenario `{name}` runs unknown operation `{n}`"),
                        help,
                    );
                    None
                }
            }
        };
        if let Some(e) = f.get("exec").and_then(|n| string(n, diags, "exec"))
            && let Some(i) = lookup(diags, &e.value, e.span)
        {
            mix.push((i, 1));
        }
        if let Some(n) = f.get("operations") {
            if !mix.is_empty() {
                diags.error_help(n.span, "use `exec` or `operations`, not both", "`exec: name` runs one operation; `operations: {a: 3, b: 1}` runs a weighted mix");
            }
            for (k, v) in named_entries(n, diags, "operations") {
                let w = int(v, diags, "operations weight")
                    .and_then(|w| non_negative(w, diags, "weight"));
                if let (Some(i), Some(w)) = (lookup(diags, &k.name, k.span), w) {
                    mix.push((i, w as u32));
                }
            }
        }
        if mix.is_empty() {
            mix = workload
                .operations
                .iter()
                .enumerate()
                .map(|(i, o)| (i, o.weight))
                .collect();
        }
        if !mix.is_empty() && mix.iter().all(|(_, w)| *w == 0) {
            diags.error_help(
                f.span,
                format!("every operation of scenario `{name}` has weight 0"),
                "give at least one operation a positive weight",
            );
        }
        let executor = match executor_name {
            Some(e) => self.executor(&mut f, e),
            None => {
                // Which options apply depends on the executor, already reported.
                f.skip(&EXECUTOR_OPTIONS);
                None
            }
        };
        f.finish(&mut self.diags);
        Some(Scenario {
            name: name.to_owned(),
            executor: executor?,
            start_time,
            graceful_stop,
            mix,
            tags: tags.into_iter().map(|(k, v)| (k.value, v.value)).collect(),
            env: env.into_iter().map(|(k, v)| (k.value, v.value)).collect(),
            test_type,
        })
    }

    fn executor(&mut self, f: &mut Fields<'_>, name: Located<String>) -> Option<Executor> {
        let diags = &mut self.diags;
        // Options each executor accepts (beyond the common ones).
        let allowed: &[&str] = match name.value.as_str() {
            "shared-iterations" | "per-vu-iterations" => &["vus", "iterations", "maxDuration"],
            "constant-vus" => &["vus", "duration"],
            "ramping-vus" => &["startVUs", "stages", "gracefulRampDown"],
            "constant-arrival-rate" => {
                &["rate", "timeUnit", "duration", "preAllocatedVUs", "maxVUs"]
            }
            "ramping-arrival-rate" => &[
                "startRate",
                "timeUnit",
                "stages",
                "preAllocatedVUs",
                "maxVUs",
            ],
            "externally-controlled" => {
                diags.error_help(
                    name.span,
                    "`externally-controlled` was removed in k6 v2 and is not supported",
                    "use constant-vus (takes vus, duration) or ramping-vus (takes startVUs, stages, gracefulRampDown); \
                     for an open model, ramping-arrival-rate (takes startRate, timeUnit, stages, preAllocatedVUs, maxVUs)",
                );
                // Its options are not errors of their own: the executor is.
                f.skip(&EXECUTOR_OPTIONS);
                return None;
            }
            other => {
                let help = match did_you_mean(other, EXECUTOR_NAMES.iter().copied()) {
                    Some(h) => format!("did you mean `{h}`?"),
                    None => format!("executors: {}", EXECUTOR_NAMES.join(", ")),
                };
                diags.error_help(name.span, format!("unknown executor `{other}`"), help);
                f.skip(&EXECUTOR_OPTIONS);
                return None;
            }
        };
        for opt in EXECUTOR_OPTIONS {
            if f.has(opt) && !allowed.contains(&opt) {
                let span = f.key_span(opt).unwrap_or(f.span);
                let _ = f.get(opt);
                diags.error_help(
                    span,
                    format!("`{opt}` does not apply to executor `{}`", name.value),
                    format!("{} takes: {}", name.value, allowed.join(", ")),
                );
            }
        }
        let count = |f: &mut Fields<'_>,
                     diags: &mut Diagnostics,
                     key: &str,
                     default: Option<u64>,
                     min1: bool|
         -> Option<u64> {
            match f.get(key).and_then(|n| int(n, diags, key)) {
                Some(v) if min1 => positive(v, diags, key),
                Some(v) => non_negative(v, diags, key),
                None => {
                    if default.is_none() {
                        diags.error_help(
                            f.span,
                            format!("executor `{}` needs `{key}`", name.value),
                            format!("{} takes: {}", name.value, allowed.join(", ")),
                        );
                    }
                    default
                }
            }
        };
        let need_dur = |f: &mut Fields<'_>,
                        diags: &mut Diagnostics,
                        key: &str,
                        default: Option<Duration>|
         -> Option<Duration> {
            match f.get(key) {
                Some(n) => {
                    let d = read_duration(n, diags, key)?;
                    // Every executor duration must be positive (timeUnit too).
                    if d.is_zero() {
                        diags.error_help(
                            n.span,
                            format!("`{key}` must be longer than 0"),
                            "e.g. `30s`",
                        );
                        return None;
                    }
                    Some(d)
                }
                None => {
                    if default.is_none() {
                        diags.error_help(
                            f.span,
                            format!("executor `{}` needs `{key}`", name.value),
                            "e.g. `duration: 30s`",
                        );
                    }
                    default
                }
            }
        };
        let ten_min = Some(Duration::from_secs(600));
        let one_sec = Some(Duration::from_secs(1));
        let exec = match name.value.as_str() {
            "shared-iterations" => {
                let vus = count(f, diags, "vus", Some(1), true);
                let iterations = count(f, diags, "iterations", Some(1), true);
                let max_duration = need_dur(f, diags, "maxDuration", ten_min);
                Executor::SharedIterations {
                    vus: vus?,
                    iterations: iterations?,
                    max_duration: max_duration?,
                }
            }
            "per-vu-iterations" => {
                let vus = count(f, diags, "vus", Some(1), true);
                let iterations = count(f, diags, "iterations", Some(1), true);
                let max_duration = need_dur(f, diags, "maxDuration", ten_min);
                Executor::PerVuIterations {
                    vus: vus?,
                    iterations: iterations?,
                    max_duration: max_duration?,
                }
            }
            "constant-vus" => {
                let vus = count(f, diags, "vus", Some(1), true);
                let duration = need_dur(f, diags, "duration", None);
                Executor::ConstantVus {
                    vus: vus?,
                    duration: duration?,
                }
            }
            "ramping-vus" => {
                let start_vus = count(f, diags, "startVUs", Some(1), false);
                let stages = self.stages(f);
                let diags = &mut self.diags;
                let graceful_ramp_down = f
                    .get("gracefulRampDown")
                    .and_then(|n| read_duration(n, diags, "gracefulRampDown"))
                    .unwrap_or(Duration::from_secs(30));
                Executor::RampingVus {
                    start_vus: start_vus?,
                    stages: stages?,
                    graceful_ramp_down,
                }
            }
            "constant-arrival-rate" => {
                let rate = count(f, diags, "rate", None, true);
                let time_unit = need_dur(f, diags, "timeUnit", one_sec);
                let duration = need_dur(f, diags, "duration", None);
                let (pre, max) = self.vu_pool(f);
                Executor::ConstantArrivalRate {
                    rate: rate?,
                    time_unit: time_unit?,
                    duration: duration?,
                    pre_allocated_vus: pre?,
                    max_vus: max?,
                }
            }
            _ => {
                let start_rate = count(f, diags, "startRate", Some(0), false);
                let time_unit = need_dur(f, diags, "timeUnit", one_sec);
                let stages = self.stages(f);
                let (pre, max) = self.vu_pool(f);
                Executor::RampingArrivalRate {
                    start_rate: start_rate?,
                    time_unit: time_unit?,
                    stages: stages?,
                    pre_allocated_vus: pre?,
                    max_vus: max?,
                }
            }
        };
        if let Some(tu) = f.key_span("timeUnit")
            && matches!(&exec, Executor::ConstantArrivalRate { time_unit, .. } | Executor::RampingArrivalRate { time_unit, .. } if time_unit.is_zero())
        {
            self.diags.error(tu, "`timeUnit` must be longer than 0");
        }
        Some(exec)
    }

    fn vu_pool(&mut self, f: &mut Fields<'_>) -> (Option<u64>, Option<u64>) {
        let diags = &mut self.diags;
        let pre = match f
            .get("preAllocatedVUs")
            .and_then(|n| int(n, diags, "preAllocatedVUs"))
        {
            Some(v) => non_negative(v.clone(), diags, "preAllocatedVUs").map(|p| (p, v.span)),
            None => {
                diags.error_help(
                    f.span,
                    "arrival-rate executors need `preAllocatedVUs`",
                    "the VUs created up front, e.g. `preAllocatedVUs: 10` (k6 requires it too)",
                );
                None
            }
        };
        let max = f
            .get("maxVUs")
            .and_then(|n| int(n, diags, "maxVUs"))
            .and_then(|v| non_negative(v.clone(), diags, "maxVUs").map(|m| (m, v.span)));
        match (pre, max) {
            (Some((p, _)), Some((m, mspan))) if m < p => {
                diags.error_help(
                    mspan,
                    format!("maxVUs ({m}) is less than preAllocatedVUs ({p})"),
                    "raise maxVUs or lower preAllocatedVUs",
                );
                (Some(p), None)
            }
            (Some((p, _)), Some((m, _))) => (Some(p), Some(m)),
            (Some((p, _)), None) => (Some(p), Some(p)),
            (None, m) => (None, m.map(|x| x.0)),
        }
    }

    fn stages(&mut self, f: &mut Fields<'_>) -> Option<Vec<Stage>> {
        let diags = &mut self.diags;
        let Some(n) = f.get("stages") else {
            diags.error_help(
                f.span,
                "this executor needs `stages`",
                "e.g. `stages: [{duration: 30s, target: 10}]`",
            );
            return None;
        };
        let mut out = Vec::new();
        let mut ok = true;
        let items = seq(n, diags, "stages");
        if items.is_empty() && matches!(n.kind, NodeKind::Seq(_)) {
            diags.error_help(
                n.span,
                "`stages` is empty",
                "add at least one `{duration: 30s, target: 10}`",
            );
            return None;
        }
        for s in items {
            let Some(mut sf) = Fields::new(s, diags, "stage", STAGE_KEYS) else {
                ok = false;
                continue;
            };
            let d = sf
                .require("duration", diags, "e.g. `duration: 30s`")
                .and_then(|n| read_duration(n, diags, "duration"));
            let t = sf
                .require("target", diags, "the VUs (or rate) at the end of the stage")
                .and_then(|n| int(n, diags, "target"));
            let t = t.and_then(|t| {
                if t.value < 0 {
                    diags.error_help(
                        t.span,
                        format!("stage target is {}; it cannot be negative", t.value),
                        "targets are VU counts or rates: 0 or more",
                    );
                    None
                } else {
                    Some(t.value as u64)
                }
            });
            sf.finish(diags);
            match (d, t) {
                (Some(duration), Some(target)) => out.push(Stage { duration, target }),
                _ => ok = false,
            }
        }
        if ok && out.iter().all(|s| s.duration.is_zero()) {
            diags.error(n.span, "all stages last 0s; the scenario would do nothing");
            ok = false;
        }
        ok.then_some(out)
    }
}
