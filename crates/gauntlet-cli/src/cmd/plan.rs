//! `gauntlet plan`: the execution plan, computed from the configuration alone
//! (k6's execution-requirements idea): per scenario its executor, start
//! offset and VUs or arrival rate over time as a small text chart, then the
//! total duration and the VU pool the run needs. Nothing is sent.

use crate::exit::Exit;
use anyhow::Context as _;
use gauntlet_plan::duration::format_duration;
use gauntlet_plan::schedule::Load;
use gauntlet_plan::{Executor, Overrides, Plan, TargetBase, load_file};
use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

const WIDTH: usize = 60;
const LEVELS: [char; 9] = [' ', '▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];

pub(crate) fn show(path: &Path, overrides: &Overrides, color: bool) -> anyhow::Result<Exit> {
    match load_file(path, overrides) {
        Ok(loaded) => {
            crate::stdout::print(&describe(&loaded.plan, &path.display().to_string()))
                .context("cannot write to stdout")?;
            Ok(Exit::Ok)
        }
        Err(e) => {
            eprint!("{}", e.render(color));
            Ok(Exit::InvalidPlan)
        }
    }
}

/// The whole text of `gauntlet plan` (a pure function, snapshot-tested).
pub(crate) fn describe(plan: &Plan, file: &str) -> String {
    let mut o = String::new();
    let total = plan.max_duration().max(Duration::from_secs(1));
    let _ = writeln!(o, "plan      {} ({file})", plan.name);
    let target = match &plan.target.base {
        TargetBase::Url(u) => u.clone(),
        TargetBase::Demo(_) => {
            "demo (embedded demo service, started on a free 127.0.0.1 port)".into()
        }
        _ => "?".into(),
    };
    let _ = writeln!(o, "target    {target}");
    let _ = writeln!(
        o,
        "duration  {} planned, {} at most (with graceful stops)",
        format_duration(plan.planned_duration()),
        format_duration(plan.max_duration())
    );
    let _ = writeln!(
        o,
        "VU pool   {} at peak across concurrent scenarios",
        plan.peak_vus()
    );
    let _ = writeln!(o);
    for s in &plan.scenarios {
        let e = &s.executor;
        let _ = writeln!(
            o,
            "scenario {}  [{}{}]",
            s.name,
            e.name(),
            s.test_type
                .map(|t| format!(", {} test", t.as_str()))
                .unwrap_or_default()
        );
        let _ = writeln!(
            o,
            "  starts at {}, runs {}, gracefulStop {}",
            format_duration(s.start_time),
            format_duration(e.planned_duration()),
            format_duration(s.graceful_stop)
        );
        let _ = writeln!(o, "  {}", executor_detail(e));
        let mix: Vec<String> = {
            let total_w: u32 = s.mix.iter().map(|m| m.1).sum::<u32>().max(1);
            s.mix
                .iter()
                .map(|(i, w)| {
                    format!(
                        "{} {:.0}%",
                        plan.workload.operations[*i].name,
                        *w as f64 * 100.0 / total_w as f64
                    )
                })
                .collect()
        };
        let _ = writeln!(o, "  runs      {}", mix.join(", "));
        // Chart on the run's global time axis, so start offsets show.
        let samples: Vec<Option<Load>> = (0..WIDTH)
            .map(|i| {
                let t = total.mul_f64((i as f64 + 0.5) / WIDTH as f64);
                t.checked_sub(s.start_time).and_then(|rel| e.load_at(rel))
            })
            .collect();
        let peak = samples
            .iter()
            .flatten()
            .map(|l| match l {
                Load::Vus(v) | Load::Rate(v) => *v,
            })
            .fold(0.0f64, f64::max);
        let unit = if e.is_open_model() { "iters/s" } else { "VUs" };
        let line: String = samples
            .iter()
            .map(|l| match l {
                None => ' ',
                Some(Load::Vus(v)) | Some(Load::Rate(v)) => {
                    if peak <= 0.0 {
                        '_'
                    } else {
                        let lvl = ((v / peak) * 8.0).round() as usize;
                        if lvl == 0 { '_' } else { LEVELS[lvl.min(8)] }
                    }
                }
            })
            .collect();
        let _ = writeln!(o, "  {:>9} {:>7.1} ┤{line}│", unit, peak);
        let _ = writeln!(o, "  {:>17} └{}┘", "", "─".repeat(WIDTH));
        let end = format_duration(total);
        let _ = writeln!(o, "  {:>18}0s{:>width$}", "", end, width = WIDTH - 2);
        let _ = writeln!(o);
    }
    let ops = &plan.workload.operations;
    let total_w: u32 = ops.iter().map(|o| o.weight).sum::<u32>().max(1);
    let _ = writeln!(o, "workload  {} operation(s)", ops.len());
    for op in ops {
        let steps: Vec<&str> = op.steps.iter().map(|s| s.name.as_str()).collect();
        let _ = writeln!(
            o,
            "  {:<22} weight {:>3} ({:>3.0}%)  {}",
            op.name,
            op.weight,
            op.weight as f64 * 100.0 / total_w as f64,
            steps.join(" → ")
        );
    }
    if !plan.thresholds.is_empty() {
        let _ = writeln!(o, "\nthresholds ({})", plan.thresholds.len());
        for t in &plan.thresholds {
            let _ = writeln!(o, "  {} {}", t.metric, t.condition.text);
        }
    }
    o
}

fn executor_detail(e: &Executor) -> String {
    match e {
        Executor::SharedIterations {
            vus,
            iterations,
            max_duration,
        } => {
            format!(
                "{vus} VUs share {iterations} iterations (maxDuration {})",
                format_duration(*max_duration)
            )
        }
        Executor::PerVuIterations {
            vus,
            iterations,
            max_duration,
        } => {
            format!(
                "{vus} VUs × {iterations} iterations each (maxDuration {})",
                format_duration(*max_duration)
            )
        }
        Executor::ConstantVus { vus, .. } => format!("{vus} VUs looping"),
        Executor::RampingVus {
            start_vus,
            stages,
            graceful_ramp_down,
        } => format!(
            "from {start_vus} VUs through {} stage(s): {} (gracefulRampDown {})",
            stages.len(),
            stages
                .iter()
                .map(|s| format!("{}→{}", format_duration(s.duration), s.target))
                .collect::<Vec<_>>()
                .join(", "),
            format_duration(*graceful_ramp_down)
        ),
        Executor::ConstantArrivalRate {
            rate,
            time_unit,
            pre_allocated_vus,
            max_vus,
            ..
        } => format!(
            "{rate} iterations per {} (≈{} in total), VUs {pre_allocated_vus} pre-allocated, {max_vus} at most",
            format_duration(*time_unit),
            e.expected_iterations().unwrap_or(0.0).round()
        ),
        Executor::RampingArrivalRate {
            start_rate,
            time_unit,
            stages,
            pre_allocated_vus,
            max_vus,
        } => format!(
            "rate from {start_rate} per {} through {}: {} (≈{} iterations), VUs {pre_allocated_vus} pre-allocated, {max_vus} at most",
            format_duration(*time_unit),
            if stages.len() == 1 {
                "1 stage".to_string()
            } else {
                format!("{} stages", stages.len())
            },
            stages
                .iter()
                .map(|s| format!("{}→{}", format_duration(s.duration), s.target))
                .collect::<Vec<_>>()
                .join(", "),
            e.expected_iterations().unwrap_or(0.0).round()
        ),
    }
}
