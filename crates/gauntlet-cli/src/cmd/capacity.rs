//! `gauntlet capacity`: capacity planning from measured data. The numbers
//! come from `gauntlet_analysis::capacity`; this module reads the files,
//! resolves the SLA and target load, prints, and writes the manifests.

use crate::args::{CapacityArgs, CapacityCommand, CapacityOptions, ConcurrencyArg};
use crate::exit::Exit;
use anyhow::{Context as _, bail};
use gauntlet_analysis::capacity::autoscale::{self, HpaInput, Manifest};
use gauntlet_analysis::capacity::sizing::{self, SizingInput, UsageSample};
use gauntlet_analysis::capacity::sla::{self, LatencySla};
use gauntlet_analysis::capacity::sweep::{self, ConcurrencyFrom, SweepOptions};
use gauntlet_analysis::capacity::usl::{self, Fit, Point};
use gauntlet_metrics::{Registry, SerialTimeline, Stat, TagInterner};
use gauntlet_plan::threshold::{Cmp, WrittenUnit, parse_expr};
use gauntlet_report::model::Summary;
use serde_json::{Value, json};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

pub(crate) fn capacity(args: CapacityArgs) -> anyhow::Result<Exit> {
    match (args.command, args.result) {
        (Some(CapacityCommand::Fit { points, json }), _) => fit_points(&points, json),
        (None, Some(result)) => from_result(&result, &args.opts),
        (None, None) => bail!(
            "give a result file (`gauntlet capacity RESULT.json`) or points (`gauntlet capacity fit --points FILE.csv`)"
        ),
    }
}

/// `capacity fit --points FILE.csv`.
fn fit_points(path: &Path, as_json: bool) -> anyhow::Result<Exit> {
    let points = read_points(path)?;
    match usl::fit(&points) {
        Ok(fit) => {
            let exit = if fit.quality.good {
                Exit::Ok
            } else {
                Exit::NotMeasured
            };
            if as_json {
                print(&serde_json::to_string_pretty(&fit_json(&fit))?)?;
            } else {
                let mut out = String::new();
                model_text(&mut out, &fit);
                print(&out)?;
            }
            Ok(exit)
        }
        Err(e) => refuse(&e.to_string(), as_json),
    }
}

/// A fit that cannot be made: said clearly, exit 110, never a model.
fn refuse(message: &str, as_json: bool) -> anyhow::Result<Exit> {
    if as_json {
        print(&serde_json::to_string_pretty(
            &json!({"fitted": false, "error": message}),
        )?)?;
    }
    eprintln!("error: cannot fit the USL: {message}");
    Ok(Exit::NotMeasured)
}

fn print(text: &str) -> anyhow::Result<()> {
    let mut t = text.to_owned();
    if !t.ends_with('\n') {
        t.push('\n');
    }
    crate::stdout::print(&t).context("cannot write to stdout")
}

/// The points CSV: a header naming `concurrency` and `throughput` (any
/// order, other columns ignored), then one number pair per line.
fn read_points(path: &Path) -> anyhow::Result<Vec<Point>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut lines = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty());
    let Some((_, header)) = lines.next() else {
        bail!(
            "{}: empty; write a header `concurrency,throughput` and one line per step",
            path.display()
        );
    };
    let cols: Vec<String> = header
        .split(',')
        .map(|c| c.trim().to_ascii_lowercase())
        .collect();
    let find = |name: &str| {
        cols.iter().position(|c| c == name).with_context(|| {
            format!(
                "{}:1: no `{name}` column (header: `{header}`); the header must name `concurrency` and `throughput`",
                path.display()
            )
        })
    };
    let (nc, xc) = (find("concurrency")?, find("throughput")?);
    let mut points = Vec::new();
    for (i, line) in lines {
        let cells: Vec<&str> = line.split(',').map(str::trim).collect();
        let num = |c: usize, name: &str| -> anyhow::Result<f64> {
            let cell = cells.get(c).copied().unwrap_or("");
            cell.parse::<f64>().with_context(|| {
                format!(
                    "{}:{}: {name} `{cell}` is not a number",
                    path.display(),
                    i + 1
                )
            })
        };
        points.push(Point {
            concurrency: num(nc, "concurrency")?,
            throughput: num(xc, "throughput")?,
        });
    }
    Ok(points)
}

/// The usage CSV: `t_s` and any of `cpu_cores`, `memory_bytes`; empty cells
/// are "not measured".
fn read_usage(path: &Path) -> anyhow::Result<Vec<UsageSample>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut lines = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty());
    let Some((_, header)) = lines.next() else {
        bail!(
            "{}: empty; header `t_s,cpu_cores,memory_bytes`",
            path.display()
        );
    };
    let cols: Vec<String> = header
        .split(',')
        .map(|c| c.trim().to_ascii_lowercase())
        .collect();
    let pos = |n: &str| cols.iter().position(|c| c == n);
    let Some(tc) = pos("t_s") else {
        bail!(
            "{}:1: no `t_s` column; the header is `t_s,cpu_cores,memory_bytes` (seconds since the run started)",
            path.display()
        );
    };
    let (cc, mc) = (pos("cpu_cores"), pos("memory_bytes"));
    let mut out = Vec::new();
    for (i, line) in lines {
        let cells: Vec<&str> = line.split(',').map(str::trim).collect();
        let num = |c: Option<usize>| -> anyhow::Result<Option<f64>> {
            match c.and_then(|c| cells.get(c)).copied() {
                None | Some("") => Ok(None),
                Some(v) => v.parse::<f64>().map(Some).with_context(|| {
                    format!("{}:{}: `{v}` is not a number", path.display(), i + 1)
                }),
            }
        };
        let Some(t_s) = num(Some(tc))? else {
            bail!("{}:{}: t_s is empty", path.display(), i + 1);
        };
        out.push(UsageSample {
            t_s,
            cpu_cores: num(cc)?,
            memory_bytes: num(mc)?,
        });
    }
    Ok(out)
}

fn fit_json(fit: &Fit) -> Value {
    let m = &fit.model;
    json!({
        "fitted": true,
        "sigma": m.sigma,
        "kappa": m.kappa,
        "lambda": m.lambda,
        "peakConcurrency": m.peak_concurrency(),
        "peakThroughput": m.peak_throughput(),
        "limit": m.limit(),
        "quality": fit.quality,
        "heldAtZero": fit.held_at_zero,
        "points": fit.points,
        "maxMeasuredConcurrency": fit.max_measured(),
        "explanation": usl::explain(fit),
        "warnings": fit.extrapolation_warnings(),
    })
}

fn model_text(out: &mut String, fit: &Fit) {
    let m = &fit.model;
    let q = &fit.quality;
    let _ = writeln!(out, "█ USL MODEL  X(N) = λN / (1 + σ(N−1) + κN(N−1))\n");
    let _ = writeln!(
        out,
        "  σ = {:.8}   κ = {:.6e}   λ = {:.4}/s",
        m.sigma, m.kappa, m.lambda
    );
    if let Some(se) = q.std_errors {
        let _ = writeln!(
            out,
            "  standard errors: σ ±{:.2e}, κ ±{:.2e}, λ ±{:.3}",
            se[0], se[1], se[2]
        );
    }
    for h in &fit.held_at_zero {
        let _ = writeln!(
            out,
            "  {h} was held at 0: the unconstrained fit drove it negative"
        );
    }
    let _ = writeln!(
        out,
        "  fit: R² = {:.4}, RMSE = {:.3}/s, largest error {:.2} %, {} points — {}",
        q.r_squared,
        q.rmse,
        q.max_relative_error * 100.0,
        fit.points.len(),
        if q.good {
            "GOOD"
        } else {
            "POOR: do not plan with it"
        }
    );
    for p in &q.problems {
        let _ = writeln!(out, "    ✗ {p}");
    }
    match (m.peak_concurrency(), m.peak_throughput()) {
        (Some(n), Some(x)) => {
            let _ = writeln!(
                out,
                "  peak: {x:.2}/s at N = {n:.0} (measured up to N = {:.0})",
                fit.max_measured()
            );
        }
        (None, Some(x)) => {
            let _ = writeln!(out, "  no peak: throughput approaches λ/σ = {x:.2}/s");
        }
        _ => {
            let _ = writeln!(out, "  no peak and no ceiling within what was measured");
        }
    }
    let _ = writeln!(out);
    for line in usl::explain(fit) {
        let _ = writeln!(out, "  · {line}");
    }
    for w in fit.extrapolation_warnings() {
        let _ = writeln!(out, "  ! {w}");
    }
}

/// `capacity RESULT.json`.
fn from_result(path: &Path, opts: &CapacityOptions) -> anyhow::Result<Exit> {
    let text = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let doc: Value =
        serde_json::from_slice(&text).with_context(|| format!("{} is not JSON", path.display()))?;
    match doc.get("schemaVersion").and_then(Value::as_u64) {
        Some(v) if v == u64::from(gauntlet_report::json::SCHEMA_VERSION) => {}
        _ => bail!(
            "{}: not a gauntlet result of schema version {}; write one with `gauntlet run PLAN --out json=FILE`",
            path.display(),
            gauntlet_report::json::SCHEMA_VERSION
        ),
    }
    let summary: Summary = serde_json::from_value(doc["summary"].clone())
        .with_context(|| format!("{}: malformed summary", path.display()))?;
    let tl: SerialTimeline = serde_json::from_value(doc["timeline"].clone())
        .with_context(|| format!("{}: malformed timeline", path.display()))?;
    let mut registry = Registry::new();
    let interner = TagInterner::new();
    let timeline = tl
        .into_timeline(&mut registry, &interner)
        .map_err(|e| anyhow::anyhow!("{}: timeline: {e}", path.display()))?;

    let sla_origin = resolve_sla(opts, &summary)?;
    let latency_sla = sla_origin.as_ref().map(|(s, _)| *s);
    let sweep_opts = SweepOptions {
        warmup_secs: opts.warmup.as_secs_f64(),
        concurrency: match opts.concurrency {
            ConcurrencyArg::Auto => ConcurrencyFrom::Auto,
            ConcurrencyArg::Vus => ConcurrencyFrom::Vus,
            ConcurrencyArg::Inflight => ConcurrencyFrom::InFlight,
        },
        max_error_rate: opts.max_error_rate,
        percentile: latency_sla.and_then(|s| s.percentile),
    };
    let mut out = String::new();
    let _ = writeln!(out, "█ CAPACITY  {} ({})\n", summary.plan, path.display());
    if let Some(why) = &summary.interrupted {
        let _ = writeln!(
            out,
            "  ! the run was interrupted ({why}): the sweep covers what ran"
        );
    }
    let sweep = match sweep::from_timeline(&timeline, &registry, &interner, &sweep_opts) {
        Ok(s) => s,
        Err(e) => return refuse(&e.to_string(), opts.json),
    };
    steps_text(&mut out, &sweep, latency_sla);
    let fit = match usl::fit(&sweep.points()) {
        Ok(f) => f,
        Err(e) => {
            if !opts.json {
                print(&out)?;
            }
            let msg = match &sweep.cut {
                Some(cut) => format!("{e} ({cut})"),
                None => e.to_string(),
            };
            return refuse(&msg, opts.json);
        }
    };
    model_text(&mut out, &fit);

    // Capacity at the SLA.
    let usable = &sweep.steps[..sweep.usable];
    let sla_cap = latency_sla.map(|s| sla::capacity_at_sla(usable, sweep.in_flight, Some(&fit), s));
    let _ = writeln!(out);
    let capacity = match (&sla_cap, &sla_origin) {
        (Some(c), Some((s, origin))) => {
            let _ = writeln!(
                out,
                "█ CAPACITY AT THE SLA  {} < {} ms ({origin})\n",
                s.percentile
                    .map_or_else(|| "avg".to_owned(), |p| format!("p({p})")),
                s.limit_ms
            );
            for a in &c.arithmetic {
                let _ = writeln!(out, "  {a}");
            }
            for w in &c.warnings {
                let _ = writeln!(out, "  ! {w}");
            }
            match c.planning_capacity() {
                Some(x) => {
                    let _ = writeln!(out, "  → per-instance capacity at the SLA: {x:.2}/s");
                }
                None => {
                    let _ = writeln!(
                        out,
                        "  → not computed: the SLA did not hold at any measured step"
                    );
                }
            }
            c.planning_capacity()
        }
        _ => {
            let best = usable.iter().map(|s| s.throughput).fold(0.0, f64::max);
            let _ = writeln!(
                out,
                "█ CAPACITY AT THE SLA\n\n  not computed: no latency SLA (give --sla 'p(95) < 200ms', or an SLA on http_req_duration in the plan); sizing uses the best measured throughput, {best:.2}/s"
            );
            Some(best)
        }
    };

    // Usage (monitors) and sizing.
    let usage = match &opts.usage {
        Some(p) => read_usage(p)?,
        None => Vec::new(),
    };
    let cpu_line = sizing::usage_line(&sizing::per_step(usable, &usage, |u| u.cpu_cores));
    let mem_line = sizing::usage_line(&sizing::per_step(usable, &usage, |u| u.memory_bytes));
    let target_rate = resolve_target(opts, &summary);
    let _ = writeln!(out);
    let mut sizing_json = Value::Null;
    match &target_rate {
        Some((t, origin)) => {
            let t = *t;
            let s = sizing::size(&SizingInput {
                target_rate: t,
                capacity,
                headroom: opts.headroom,
                cpu: cpu_line,
                cpu_cores: opts.cpu_cores,
                cpu_ceiling: opts.cpu_ceiling,
                memory: mem_line,
                memory_bytes: opts.memory.map(|m| m as f64),
            });
            let _ = writeln!(
                out,
                "█ SIZING  {t:.2}/s ({origin}), headroom {:.0} %, CPU ≤ {:.0} %\n",
                opts.headroom * 100.0,
                opts.cpu_ceiling * 100.0
            );
            for r in &s.rows {
                let _ = writeln!(
                    out,
                    "  {:<10} {:>9}   {}",
                    r.resource.as_str(),
                    r.instances
                        .map_or_else(|| "—".to_owned(), |n| format!("{n} inst.")),
                    r.how
                );
            }
            match (s.instances, s.runs_out_first) {
                (Some(n), Some(r)) => {
                    let _ = writeln!(out, "  → {n} instance(s); {} runs out first", r.as_str());
                }
                _ => {
                    let _ = writeln!(out, "  → not computed");
                }
            }
            sizing_json = serde_json::to_value(&s)?;
        }
        None => {
            let _ = writeln!(
                out,
                "█ SIZING\n\n  not computed: no target load (give --target-rate, or an SLA on http_reqs `rate > N` in the plan)"
            );
        }
    }

    // Autoscaling.
    let name = opts.name.clone().unwrap_or_else(|| dns_name(&summary.plan));
    let vpa = autoscale::vpa_recommend(&usage, opts.cpu_request);
    let cpu_request = opts
        .cpu_request
        .or_else(|| vpa.as_ref().ok().and_then(|v| v.cpu).map(|c| c.target));
    let hpa = match (capacity, &target_rate) {
        (Some(c), Some((t, _))) if c > 0.0 => Some(autoscale::hpa(&HpaInput {
            name: name.clone(),
            capacity_rps: c,
            target_rate: *t,
            peak_rate: opts.peak_rate.unwrap_or(*t),
            headroom: opts.headroom,
            cpu: cpu_line.zip(cpu_request),
            rps_metric: opts.rps_metric.clone(),
            pod_startup_s: opts.pod_startup.map(|d| d.as_secs_f64()),
            scale_within_s: opts.scale_within.as_secs_f64(),
        })),
        _ => None,
    };
    let _ = writeln!(out, "\n█ AUTOSCALING\n");
    match &hpa {
        Some(h) => {
            let _ = writeln!(
                out,
                "  HPA {name}: minReplicas {}, maxReplicas {}, {}",
                h.min_replicas,
                h.max_replicas,
                match &h.metric {
                    autoscale::HpaMetric::Cpu { utilization } =>
                        format!("CPU averageUtilization {utilization} %"),
                    autoscale::HpaMetric::RequestsPerPod {
                        metric,
                        average_value,
                    } => format!("{metric} averageValue {average_value:.2} per pod"),
                    _ => String::new(),
                }
            );
            for a in &h.arithmetic {
                let _ = writeln!(out, "    {a}");
            }
            for w in &h.warnings {
                let _ = writeln!(out, "    ! {w}");
            }
        }
        None => {
            let _ = writeln!(
                out,
                "  HPA: not computed: it needs the per-instance capacity and a target load"
            );
        }
    }
    match &vpa {
        Ok(v) => {
            let _ = writeln!(out, "  VPA (recommender's method):");
            for a in &v.arithmetic {
                let _ = writeln!(out, "    {a}");
            }
        }
        Err(e) => {
            let _ = writeln!(out, "  VPA: {e}");
        }
    }

    // Manifests.
    if let Some(dir) = &opts.k8s_dir {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("--out k8s={}: cannot create the directory", dir.display()))?;
        let mut written = Vec::new();
        if let Some(h) = &hpa {
            written.push(write_manifest(
                dir,
                "hpa.yaml",
                &autoscale::hpa_manifest(h),
            )?);
        }
        if let Ok(v) = &vpa {
            written.push(write_manifest(
                dir,
                "vpa.yaml",
                &autoscale::vpa_manifest(&name, v),
            )?);
        }
        if written.is_empty() {
            let _ = writeln!(
                out,
                "\n  --out k8s: nothing to write (no HPA or VPA computed)"
            );
        }
        for w in written {
            let _ = writeln!(out, "\n  wrote {}", w.display());
        }
    }

    let good = fit.quality.good;
    if opts.json {
        let mut j = fit_json(&fit);
        j["sweep"] = serde_json::to_value(&sweep)?;
        j["sla"] = serde_json::to_value(&sla_cap)?;
        j["capacityPerInstance"] = json!(capacity);
        j["sizing"] = sizing_json;
        j["hpa"] = serde_json::to_value(&hpa)?;
        j["vpa"] = match &vpa {
            Ok(v) => serde_json::to_value(v)?,
            Err(e) => json!({"notComputed": e.to_string()}),
        };
        print(&serde_json::to_string_pretty(&j)?)?;
    } else {
        print(&out)?;
    }
    Ok(if good { Exit::Ok } else { Exit::NotMeasured })
}

fn steps_text(out: &mut String, sweep: &sweep::Sweep, sla: Option<LatencySla>) {
    for n in &sweep.notes {
        let _ = writeln!(out, "  {n}");
    }
    let pname = sla
        .and_then(|s| s.percentile)
        .map(|p| format!("p({p})"))
        .unwrap_or_default();
    let _ = writeln!(
        out,
        "\n  step   VUs  in flight   throughput      mean  {pname:>9}  errors"
    );
    for (i, s) in sweep.steps.iter().enumerate() {
        let _ = writeln!(
            out,
            "  {:>4} {:>5} {:>10.2} {:>10.2}/s {:>7.2}ms  {:>9}  {:>5.2} %{}",
            i + 1,
            s.vus,
            s.in_flight,
            s.throughput,
            s.mean_ms,
            s.percentile_ms
                .map_or_else(String::new, |v| format!("{v:.2}ms")),
            s.error_rate * 100.0,
            if i >= sweep.usable { "  (cut)" } else { "" }
        );
    }
    if let Some(c) = &sweep.cut {
        let _ = writeln!(out, "  ! {c}; the steps from there are not fitted");
    }
    let _ = writeln!(out);
}

/// The latency SLA: `--sla`, else the first SLA on `http_req_duration`
/// whose objective is an upper bound on a percentile or the mean.
fn resolve_sla(
    opts: &CapacityOptions,
    summary: &Summary,
) -> anyhow::Result<Option<(LatencySla, String)>> {
    if let Some(text) = &opts.sla {
        return match latency_of(text) {
            Some(s) => Ok(Some((s, "--sla".to_owned()))),
            None => bail!(
                "--sla `{text}`: write a latency bound such as `p(95) < 200ms` or `avg < 150ms`"
            ),
        };
    }
    Ok(summary.verdict.slas.iter().find_map(|s| {
        (s.metric == "http_req_duration" || s.metric.starts_with("http_req_duration{"))
            .then(|| latency_of(&s.objective))
            .flatten()
            .map(|l| (l, format!("SLA \"{}\"", s.name)))
    }))
}

fn latency_of(text: &str) -> Option<LatencySla> {
    let e = parse_expr(text).ok()?;
    if !matches!(e.cmp, Cmp::Lt | Cmp::Le) || e.unit == WrittenUnit::Percent {
        return None;
    }
    let percentile = match e.aggregation {
        Stat::Percentile(p) => Some(p.value()),
        Stat::Avg => None,
        Stat::Med => Some(50.0),
        _ => return None,
    };
    Some(LatencySla {
        percentile,
        limit_ms: e.value,
    })
}

/// The target load: `--target-rate`, else an SLA `http_reqs` `rate > N`.
fn resolve_target(opts: &CapacityOptions, summary: &Summary) -> Option<(f64, String)> {
    if let Some(t) = opts.target_rate {
        return Some((t, "--target-rate".to_owned()));
    }
    summary.verdict.slas.iter().find_map(|s| {
        if s.metric != "http_reqs" {
            return None;
        }
        let e = parse_expr(&s.objective).ok()?;
        (matches!(e.aggregation, Stat::Rate) && matches!(e.cmp, Cmp::Gt | Cmp::Ge))
            .then(|| (e.value, format!("SLA \"{}\"", s.name)))
    })
}

/// A Kubernetes object name (DNS-1123 label) from the plan's name.
fn dns_name(plan: &str) -> String {
    let mut s: String = plan
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    s = s.trim_matches('-').to_owned();
    s.truncate(63);
    let s = s.trim_end_matches('-').to_owned();
    if s.is_empty() { "app".to_owned() } else { s }
}

fn write_manifest(dir: &Path, file: &str, m: &Manifest) -> anyhow::Result<PathBuf> {
    let mut text = String::from("# Generated by `gauntlet capacity` from measured data.\n");
    for c in &m.comments {
        text.push_str("# ");
        text.push_str(c);
        text.push('\n');
    }
    text.push_str(&serde_saphyr::to_string(&m.body).context("cannot render the manifest as YAML")?);
    let path = dir.join(file);
    crate::output::write_atomic(&path, text.as_bytes())
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(path)
}
