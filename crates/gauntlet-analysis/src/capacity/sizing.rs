//! Sizing: how many instances a target load needs, and which resource runs
//! out first.
//!
//! Each resource gives its own instance count: throughput (the measured
//! per-instance capacity at the SLA, kept below 1 − headroom), CPU and memory
//! (their use per instance as a straight line in the instance's load, fitted
//! over the sweep's steps from monitored usage, kept below their ceiling:
//! seed 004's ≤ 70 % CPU). The largest count wins and names the resource
//! that runs out first. A resource that was not monitored is listed as not
//! measured, never sized from a guess.

use super::sweep::Step;
use serde::Serialize;

/// One monitored reading of an instance's resources.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UsageSample {
    /// Seconds since the start of the run.
    pub t_s: f64,
    /// CPU in use, cores (1.0 = one core busy), if measured.
    pub cpu_cores: Option<f64>,
    /// Memory in use (working set), bytes, if measured.
    pub memory_bytes: Option<f64>,
}

/// A resource that can limit an instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Resource {
    /// Requests per second at the SLA.
    Throughput,
    /// CPU cores.
    Cpu,
    /// Memory bytes.
    Memory,
}

impl Resource {
    /// Lower-case name for tables.
    pub fn as_str(self) -> &'static str {
        match self {
            Resource::Throughput => "throughput",
            Resource::Cpu => "cpu",
            Resource::Memory => "memory",
        }
    }
}

/// Use = base + per_rps × load, fitted over the steps.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UsageLine {
    /// Use at no load (intercept).
    pub base: f64,
    /// Use per request per second (slope).
    pub per_rps: f64,
    /// Steps it was fitted over.
    pub steps: usize,
}

impl UsageLine {
    /// Use at `rps` per instance.
    pub fn at(&self, rps: f64) -> f64 {
        self.base + self.per_rps * rps
    }
}

/// The mean of a resource over each step's window, paired with the step's throughput.
pub fn per_step(
    steps: &[Step],
    usage: &[UsageSample],
    pick: impl Fn(&UsageSample) -> Option<f64>,
) -> Vec<(f64, f64)> {
    steps
        .iter()
        .filter_map(|s| {
            let vals: Vec<f64> = usage
                .iter()
                .filter(|u| u.t_s >= s.start_s && u.t_s <= s.end_s)
                .filter_map(&pick)
                .collect();
            (!vals.is_empty()).then(|| (s.throughput, vals.iter().sum::<f64>() / vals.len() as f64))
        })
        .collect()
}

/// Least-squares line through `(load, use)` pairs; `None` with fewer than
/// two distinct loads.
pub fn usage_line(pairs: &[(f64, f64)]) -> Option<UsageLine> {
    let n = pairs.len() as f64;
    if pairs.len() < 2 {
        return None;
    }
    let mx = pairs.iter().map(|p| p.0).sum::<f64>() / n;
    let my = pairs.iter().map(|p| p.1).sum::<f64>() / n;
    let sxx: f64 = pairs.iter().map(|p| (p.0 - mx).powi(2)).sum();
    if sxx <= 0.0 {
        return None;
    }
    let sxy: f64 = pairs.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    let per_rps = (sxy / sxx).max(0.0);
    Some(UsageLine {
        base: my - per_rps * mx,
        per_rps,
        steps: pairs.len(),
    })
}

/// What sizing starts from.
#[derive(Debug, Clone, PartialEq)]
pub struct SizingInput {
    /// The load to serve, requests per second.
    pub target_rate: f64,
    /// Per-instance capacity at the SLA, requests per second (`None` when
    /// the sweep could not give one).
    pub capacity: Option<f64>,
    /// Share of capacity kept free (0.3 = run at most at 70 %).
    pub headroom: f64,
    /// CPU use per instance against load, if monitored.
    pub cpu: Option<UsageLine>,
    /// Cores one instance has (its limit), if known.
    pub cpu_cores: Option<f64>,
    /// The highest CPU share to plan for (seed 004: 0.7).
    pub cpu_ceiling: f64,
    /// Memory use per instance against load, if monitored.
    pub memory: Option<UsageLine>,
    /// Bytes one instance has (its limit), if known.
    pub memory_bytes: Option<f64>,
}

/// One resource's row of the sizing table.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SizingRow {
    /// The resource.
    pub resource: Resource,
    /// Instances it needs, or `None` when not computed.
    pub instances: Option<u64>,
    /// The arithmetic, or why it was not computed.
    pub how: String,
}

/// The sizing table and its answer.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Sizing {
    /// Target load, requests per second.
    pub target_rate: f64,
    /// One row per resource.
    pub rows: Vec<SizingRow>,
    /// The instance count: the largest of the computed rows.
    pub instances: Option<u64>,
    /// The resource that needs the most instances.
    pub runs_out_first: Option<Resource>,
}

/// Size for the target load.
pub fn size(input: &SizingInput) -> Sizing {
    let t = input.target_rate;
    let mut rows = Vec::new();
    let usable = 1.0 - input.headroom;
    rows.push(match input.capacity {
        Some(c) if c > 0.0 => {
            let per = c * usable;
            let n = (t / per).ceil().max(1.0) as u64;
            SizingRow {
                resource: Resource::Throughput,
                instances: Some(n),
                how: format!(
                    "⌈{t:.2} / ({c:.2} × (1 − {:.0} %))⌉ = ⌈{t:.2} / {per:.2}⌉ = {n}",
                    input.headroom * 100.0
                ),
            }
        }
        _ => SizingRow {
            resource: Resource::Throughput,
            instances: None,
            how: "not computed: no per-instance capacity at the SLA was measured".into(),
        },
    });
    rows.push(resource_row(
        Resource::Cpu,
        t,
        input.cpu,
        input.cpu_cores,
        input.cpu_ceiling,
        "cores",
        "--cpu-cores",
    ));
    rows.push(resource_row(
        Resource::Memory,
        t,
        input.memory,
        input.memory_bytes,
        usable,
        "bytes",
        "--memory",
    ));
    let best = rows
        .iter()
        .filter_map(|r| r.instances.map(|n| (n, r.resource)))
        .max_by_key(|(n, _)| *n);
    Sizing {
        target_rate: t,
        rows,
        instances: best.map(|b| b.0),
        runs_out_first: best.map(|b| b.1),
    }
}

/// Instances so that base + per_rps·(T/n) ≤ ceiling × size.
fn resource_row(
    resource: Resource,
    t: f64,
    line: Option<UsageLine>,
    size: Option<f64>,
    ceiling: f64,
    unit: &str,
    flag: &str,
) -> SizingRow {
    let name = resource.as_str();
    let (line, size) = match (line, size) {
        (None, _) => {
            return SizingRow {
                resource,
                instances: None,
                how: format!(
                    "not computed: {name} was not measured (no monitored usage in the result)"
                ),
            };
        }
        (Some(_), None) => {
            return SizingRow {
                resource,
                instances: None,
                how: format!("not computed: the instance's {name} size is not known ({flag})"),
            };
        }
        (Some(l), Some(s)) => (l, s),
    };
    let room = ceiling * size - line.base;
    if room <= 0.0 {
        return SizingRow {
            resource,
            instances: None,
            how: format!(
                "not computed: at no load an instance already uses {:.3} {unit}, above {:.0} % of {size} {unit}",
                line.base,
                ceiling * 100.0
            ),
        };
    }
    let n = if line.per_rps > 0.0 {
        (line.per_rps * t / room).ceil().max(1.0)
    } else {
        1.0
    } as u64;
    SizingRow {
        resource,
        instances: Some(n),
        how: format!(
            "use = {:.4} + {:.6} {unit} per req/s (fit over {} steps); ⌈{:.6} × {t:.2} / ({:.0} % × {size} − {:.4})⌉ = {n}",
            line.base,
            line.per_rps,
            line.steps,
            line.per_rps,
            ceiling * 100.0,
            line.base
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input() -> SizingInput {
        SizingInput {
            target_rate: 1000.0,
            capacity: Some(300.0),
            headroom: 0.3,
            cpu: None,
            cpu_cores: None,
            cpu_ceiling: 0.7,
            memory: None,
            memory_bytes: None,
        }
    }

    #[test]
    fn throughput_alone_sizes_with_headroom_and_says_cpu_was_not_measured() {
        let s = size(&input());
        // 1000 / (300 × 0.7) = 4.76 → 5
        assert_eq!(s.instances, Some(5));
        assert_eq!(s.runs_out_first, Some(Resource::Throughput));
        assert!(s.rows[1].instances.is_none());
        assert!(s.rows[1].how.contains("not measured"), "{}", s.rows[1].how);
    }

    #[test]
    fn cpu_runs_out_first_when_it_needs_more_instances() {
        let mut i = input();
        // 0.1 core idle + 0.004 core per req/s, 2 cores at ≤ 70 %:
        // n ≥ 0.004 × 1000 / (1.4 − 0.1) = 3.08 → 4 < 5; with 1 core: 4 / 0.6 = 6.67 → 7.
        i.cpu = Some(UsageLine {
            base: 0.1,
            per_rps: 0.004,
            steps: 5,
        });
        i.cpu_cores = Some(2.0);
        assert_eq!(size(&i).runs_out_first, Some(Resource::Throughput));
        i.cpu_cores = Some(1.0);
        let s = size(&i);
        assert_eq!(s.instances, Some(7));
        assert_eq!(s.runs_out_first, Some(Resource::Cpu));
    }

    #[test]
    fn usage_is_averaged_per_step_and_fitted_as_a_line() {
        let steps: Vec<Step> = [(0.0, 100.0), (10.0, 200.0), (20.0, 300.0)]
            .iter()
            .map(|&(start, x)| Step {
                start_s: start,
                end_s: start + 5.0,
                vus: 1.0,
                in_flight: 1.0,
                throughput: x,
                completed: x,
                mean_ms: 1.0,
                percentile_ms: None,
                error_rate: 0.0,
            })
            .collect();
        let usage: Vec<UsageSample> = (0..30)
            .map(|t| UsageSample {
                t_s: t as f64,
                cpu_cores: Some(0.2 + 0.001 * [100.0, 200.0, 300.0][(t / 10) as usize]),
                memory_bytes: None,
            })
            .collect();
        let pairs = per_step(&steps, &usage, |u| u.cpu_cores);
        assert_eq!(pairs.len(), 3);
        let l = usage_line(&pairs).unwrap();
        assert!(
            (l.base - 0.2).abs() < 1e-9 && (l.per_rps - 0.001).abs() < 1e-12,
            "{l:?}"
        );
        assert!(per_step(&steps, &usage, |u| u.memory_bytes).is_empty());
    }
}
