//! Live progress while `gauntlet run` drives load.
//!
//! Three ways to show it, chosen once per run ([`Mode::detect`]):
//! - **bars** when stderr is a terminal: one line with the run's throughput,
//!   p95, error rate and failing thresholds, then one bar per scenario,
//!   redrawn in place about once a second (indicatif's `MultiProgress`);
//! - **lines** when stderr is not a terminal (CI logs, pipes): one plain status
//!   line every [`LINE_EVERY`], no escape codes;
//! - **quiet** (`--quiet`): nothing.
//!
//! The split keeps the terminal at the edges: [`Frame`] is a plain struct of
//! numbers taken from the run every tick, [`live_line`], [`scenario_line`] and
//! [`status_line`] turn it into text (pure, unit-tested), and only
//! [`LiveView`] draws. While bars are shown the cursor is hidden and the
//! terminal does not echo typed keys (an echoed `^C` would shift the bars and
//! leave copies behind); [`TerminalGuard`] puts both back when the view is
//! finished or dropped, so every exit path, a panic included, leaves the
//! terminal as it was found. Messages that must stay readable (the "stopping"
//! notice of Ctrl-C, a threshold abort) go through [`Printer`], which prints
//! them above the bars instead of under them.

use gauntlet_analysis::{MetricSource, SnapshotSource, evaluate};
use gauntlet_engine::collect::Collector;
use gauntlet_engine::executor::ScenarioState;
use gauntlet_metrics::Stat;
use gauntlet_plan::schedule::{Executor, Load};
use gauntlet_plan::threshold::MetricSelector;
use gauntlet_plan::{Plan, Scenario};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// How often the non-terminal status line is printed.
pub(crate) const LINE_EVERY: Duration = Duration::from_secs(5);

/// Widest terminal line we fill; wider terminals get the same layout.
const MAX_WIDTH: usize = 160;

/// How the live progress is shown, decided once at the start of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// `--quiet`: print nothing while running.
    Quiet,
    /// stderr is not a terminal: a plain status line every [`LINE_EVERY`].
    Lines,
    /// stderr is a terminal: bars redrawn in place.
    Bars {
        /// Paint with ANSI colours (off with `--no-color`/`NO_COLOR`).
        color: bool,
    },
}

impl Mode {
    /// The mode for this process: bars on a terminal (unless `TERM=dumb`),
    /// lines otherwise, nothing with `quiet`.
    pub(crate) fn detect(quiet: bool, color: bool) -> Mode {
        let dumb = std::env::var_os("TERM").is_none_or(|t| t == "dumb");
        if quiet {
            Mode::Quiet
        } else if std::io::stderr().is_terminal() && !dumb {
            Mode::Bars { color }
        } else {
            Mode::Lines
        }
    }
}

/// Where a scenario is in its life, as the bars show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Before its `startTime`.
    Waiting,
    /// Inside its planned window.
    Running,
    /// Past its planned window, iterations finishing (gracefulStop / ramp-down).
    Stopping,
    /// Ended.
    Done,
    /// The run was stopped before the scenario's `startTime`.
    Skipped,
}

/// How far a scenario has come, in the unit its executor is bounded by.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Progress {
    /// Time-bound executors: time since the scenario's start over its planned
    /// duration (stages summed; gracefulStop not included).
    Time {
        /// Time since the scenario started (zero before).
        elapsed: Duration,
        /// Planned duration.
        planned: Duration,
    },
    /// Iteration-bound executors (shared-/per-vu-iterations): iterations done
    /// over the total they must run.
    Iterations {
        /// Iterations completed.
        done: u64,
        /// Iterations planned in total.
        total: u64,
    },
}

/// One scenario at one tick, as plain numbers.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ScenarioView {
    /// Scenario name.
    pub(crate) name: String,
    /// k6 executor name.
    pub(crate) executor: &'static str,
    /// `startTime` offset from the run's start.
    pub(crate) start: Duration,
    /// Where it is.
    pub(crate) phase: Phase,
    /// How far it is.
    pub(crate) progress: Progress,
    /// VUs busy now.
    pub(crate) vus: u64,
    /// VUs created so far (the pool of arrival-rate executors).
    pub(crate) vus_allocated: u64,
    /// Planned arrival rate now, iterations per second (arrival-rate
    /// executors only).
    pub(crate) rate: Option<f64>,
    /// Iterations completed.
    pub(crate) iterations: u64,
    /// Iterations dropped for want of a free VU.
    pub(crate) dropped: u64,
}

/// Why the run is ending early, shown on the live line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stopping {
    /// First Ctrl-C: running iterations get their gracefulStop.
    Graceful,
    /// Second Ctrl-C: everything is interrupted.
    Hard,
    /// A threshold with `abortOnFail` failed.
    Aborted,
}

/// How a threshold's observed value reads best.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Unit {
    /// Milliseconds of a time trend (`27.31ms`).
    Millis,
    /// A 0..1 share (`5.3%`).
    Share,
    /// Anything else, as a plain number.
    Plain,
}

/// A failing threshold, for the live line.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Failing {
    /// Selector as written (`http_req_failed`).
    pub(crate) metric: String,
    /// Expression as written (`rate < 0.01`).
    pub(crate) expression: String,
    /// Value now, in the threshold's units.
    pub(crate) observed: Option<f64>,
    /// How to print `observed`.
    pub(crate) unit: Unit,
}

/// Everything the live view shows at one tick: plain numbers, no terminal.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Frame {
    /// Time since the run started.
    pub(crate) elapsed: Duration,
    /// Planned end of the last scenario (gracefulStop not included).
    pub(crate) planned: Duration,
    /// Requests per second over the last second.
    pub(crate) rps: Option<f64>,
    /// p95 of `http_req_duration` so far, in milliseconds.
    pub(crate) p95_ms: Option<f64>,
    /// Share of failed requests so far (`http_req_failed` rate, 0..1).
    pub(crate) error_rate: Option<f64>,
    /// Thresholds failing now, evaluated as at the end of the run.
    pub(crate) failing: Vec<Failing>,
    /// Thresholds in the plan (to tell "all pass" from "none").
    pub(crate) thresholds: usize,
    /// Set once the run is stopping early.
    pub(crate) stopping: Option<Stopping>,
    /// Every scenario, in plan order.
    pub(crate) scenarios: Vec<ScenarioView>,
}

/// Take a [`Frame`] from the live run: counters from the scenario states,
/// measurements and threshold verdicts from the collector's latest merge.
pub(crate) fn frame(
    plan: &Plan,
    collector: &Collector,
    elapsed: Duration,
    states: &[Arc<ScenarioState>],
    stopping: Option<Stopping>,
) -> Frame {
    let source = SnapshotSource {
        snapshot: collector.timeline.total(),
        registry: &collector.registry,
        interner: &collector.interner,
    };
    let rps = collector.timeline.intervals().last().and_then(|s| {
        let id = collector.registry.get("http_reqs")?;
        s.query(
            &collector.registry,
            &collector.interner,
            id,
            &Default::default(),
            gauntlet_metrics::Stat::Rate,
            gauntlet_metrics::Latency::Corrected,
        )
    });
    let selector = |metric: &str| MetricSelector {
        metric: metric.into(),
        tags: vec![],
    };
    let p95_ms = source.value(
        &selector("http_req_duration"),
        Stat::Percentile(gauntlet_metrics::Percentile::P95),
    );
    let error_rate = source.value(&selector("http_req_failed"), Stat::Rate);
    // `evaluate` returns the plan's thresholds in plan order.
    let failing = evaluate(plan, &source, &gauntlet_analysis::RunFacts::default())
        .thresholds
        .into_iter()
        .zip(&plan.thresholds)
        .filter(|(t, _)| t.status == gauntlet_analysis::ThresholdStatus::Fail)
        .map(|(t, def)| Failing {
            metric: t.metric,
            expression: t.expression,
            observed: t.observed,
            unit: unit_of(collector, &def.metric.metric, def.condition.aggregation),
        })
        .collect();
    let scenarios = plan
        .scenarios
        .iter()
        .zip(states)
        .map(|(s, st)| scenario_view(s, st, elapsed, stopping.is_some()))
        .collect();
    Frame {
        elapsed,
        planned: plan.planned_duration(),
        rps,
        p95_ms,
        error_rate,
        failing,
        thresholds: plan.thresholds.len(),
        stopping,
        scenarios,
    }
}

fn unit_of(collector: &Collector, metric: &str, aggregation: Stat) -> Unit {
    use gauntlet_metrics::{MetricKind, Unit as MetricUnit};
    let Some(def) = collector
        .registry
        .get(metric)
        .and_then(|id| collector.registry.get_def(id))
    else {
        return Unit::Plain;
    };
    match (def.kind, def.unit, aggregation) {
        (MetricKind::Rate, _, Stat::Rate) => Unit::Share,
        (
            MetricKind::Trend,
            MetricUnit::Microseconds,
            Stat::Avg | Stat::Min | Stat::Med | Stat::Max | Stat::Percentile(_),
        ) => Unit::Millis,
        _ => Unit::Plain,
    }
}

/// One scenario's view from its plan entry and live counters.
pub(crate) fn scenario_view(
    s: &Scenario,
    st: &ScenarioState,
    elapsed: Duration,
    stopping: bool,
) -> ScenarioView {
    let started = st.started.load(Ordering::Relaxed);
    let finished = st.finished.load(Ordering::Relaxed);
    let since = elapsed.saturating_sub(s.start_time);
    let planned = s.executor.planned_duration();
    let iterations = st.completed.load(Ordering::Relaxed);
    let phase = if finished {
        Phase::Done
    } else if !started && stopping {
        Phase::Skipped
    } else if !started || elapsed < s.start_time {
        Phase::Waiting
    } else if since >= planned || stopping {
        Phase::Stopping
    } else {
        Phase::Running
    };
    let progress = match &s.executor {
        Executor::SharedIterations { iterations: n, .. } => Progress::Iterations {
            done: iterations,
            total: *n,
        },
        Executor::PerVuIterations {
            vus, iterations: n, ..
        } => Progress::Iterations {
            done: iterations,
            total: vus * n,
        },
        _ => Progress::Time {
            elapsed: if started {
                since.min(planned)
            } else {
                Duration::ZERO
            },
            planned,
        },
    };
    let rate = match s.executor.load_at(since) {
        Some(Load::Rate(r)) if phase == Phase::Running => Some(r),
        _ if s.executor.is_open_model() => Some(0.0),
        _ => None,
    };
    ScenarioView {
        name: s.name.clone(),
        executor: s.executor.name(),
        start: s.start_time,
        phase,
        progress,
        vus: st.active_vus.load(Ordering::Relaxed),
        vus_allocated: st.allocated_vus.load(Ordering::Relaxed),
        rate,
        iterations,
        dropped: st.dropped.load(Ordering::Relaxed),
    }
}

/// Whole seconds, the way plans write durations (`5s`, `1m30s`).
fn secs(d: Duration) -> String {
    gauntlet_plan::duration::format_duration(Duration::from_secs(d.as_secs()))
}

fn fmt_observed(v: Option<f64>, unit: Unit) -> String {
    match v {
        None => "no data".into(),
        Some(v) if unit == Unit::Millis => gauntlet_report::terminal::fmt_ms(v),
        Some(v) if unit == Unit::Share => format!("{:.2}%", v * 100.0),
        Some(v) if v.abs() >= 100.0 => format!("{v:.0}"),
        Some(v) => {
            let s = format!("{v:.4}");
            s.trim_end_matches('0').trim_end_matches('.').to_owned()
        }
    }
}

fn paint(color: bool, style: console::Style, text: &str) -> String {
    style.force_styling(color).apply_to(text).to_string()
}

/// Fit `line` into `width` columns (ANSI codes do not count).
fn fit(line: String, width: usize) -> String {
    if console::measure_text_width(&line) <= width {
        line
    } else {
        console::truncate_str(&line, width, "…").into_owned()
    }
}

/// The run's live line: elapsed over planned, last second's throughput, p95,
/// error rate, and the thresholds failing now.
pub(crate) fn live_line(f: &Frame, width: usize, color: bool) -> String {
    let state = match f.stopping {
        None => paint(color, console::Style::new().cyan(), "running"),
        Some(Stopping::Graceful) => paint(color, console::Style::new().yellow(), "stopping"),
        Some(Stopping::Hard) => paint(color, console::Style::new().yellow(), "stopping now"),
        Some(Stopping::Aborted) => paint(color, console::Style::new().red(), "aborting"),
    };
    let mut line = format!(
        "{state} {}/{}  {}  {}",
        secs(f.elapsed),
        secs(f.planned),
        measures(f),
        thresholds(f, color)
    );
    line.insert_str(0, "  ");
    fit(line, width)
}

fn measures(f: &Frame) -> String {
    format!(
        "{:.1} req/s  p95 {}  errors {:.2}%",
        f.rps.unwrap_or(0.0),
        f.p95_ms
            .map(gauntlet_report::terminal::fmt_ms)
            .unwrap_or_else(|| "-".into()),
        f.error_rate.unwrap_or(0.0) * 100.0
    )
}

fn thresholds(f: &Frame, color: bool) -> String {
    if f.thresholds == 0 {
        return "no thresholds".into();
    }
    if f.failing.is_empty() {
        return paint(
            color,
            console::Style::new().green(),
            &format!("thresholds ok ({})", f.thresholds),
        );
    }
    let list: Vec<String> = f
        .failing
        .iter()
        .map(|t| {
            format!(
                "{} '{}' = {}",
                t.metric,
                t.expression,
                fmt_observed(t.observed, t.unit)
            )
        })
        .collect();
    paint(
        color,
        console::Style::new().red(),
        &format!(
            "failing {}/{}: {}",
            f.failing.len(),
            f.thresholds,
            list.join("; ")
        ),
    )
}

/// Column widths shared by every scenario line of a frame, so the bars line up.
struct Columns {
    name: usize,
    executor: usize,
    progress: usize,
    load: usize,
}

fn columns(f: &Frame) -> Columns {
    let widest = |text: &dyn Fn(&ScenarioView) -> String| {
        f.scenarios
            .iter()
            .map(|s| console::measure_text_width(&text(s)))
            .max()
            .unwrap_or(0)
    };
    Columns {
        name: widest(&|s| s.name.clone()).clamp(6, 20),
        executor: widest(&|s| s.executor.to_owned()),
        progress: widest(&progress_text).max(12),
        load: widest(&load_text).max(6),
    }
}

fn progress_text(s: &ScenarioView) -> String {
    let offset = if s.start.is_zero() {
        String::new()
    } else {
        format!(" (at +{})", secs(s.start))
    };
    match (s.phase, s.progress) {
        (Phase::Waiting, _) => format!("starts at +{}", secs(s.start)),
        (Phase::Skipped, _) => "not started".into(),
        (phase, Progress::Time { elapsed, planned }) => {
            let tail = match phase {
                Phase::Done => " done",
                Phase::Stopping => " stopping",
                _ => "",
            };
            format!("{}/{}{offset}{tail}", secs(elapsed), secs(planned))
        }
        (phase, Progress::Iterations { done, total }) => {
            let tail = match phase {
                Phase::Done => " done",
                Phase::Stopping => " stopping",
                _ => "",
            };
            format!("{done}/{total} it{offset}{tail}")
        }
    }
}

fn fraction(s: &ScenarioView) -> f64 {
    let f = match s.progress {
        Progress::Time { elapsed, planned } if !planned.is_zero() => {
            elapsed.as_secs_f64() / planned.as_secs_f64()
        }
        Progress::Iterations { done, total } if total > 0 => done as f64 / total as f64,
        _ => 0.0,
    };
    if s.phase == Phase::Done {
        1.0
    } else {
        f.clamp(0.0, 1.0)
    }
}

/// A bar of `width` cells, eighth-cell resolution.
fn bar(fraction: f64, width: usize, color: bool) -> String {
    const PARTS: [char; 8] = [' ', '▏', '▎', '▍', '▌', '▋', '▊', '▉'];
    let eighths = (fraction * (width * 8) as f64).round() as usize;
    let full = (eighths / 8).min(width);
    let mut filled = "█".repeat(full);
    if full < width && !eighths.is_multiple_of(8) {
        filled.push(PARTS[eighths % 8]);
    }
    let rest = width - console::measure_text_width(&filled);
    format!(
        "▕{}{}▏",
        paint(color, console::Style::new().cyan(), &filled),
        "·".repeat(rest)
    )
}

fn load_text(s: &ScenarioView) -> String {
    match s.rate {
        Some(r) => format!("{r:.1}/s VUs {}/{}", s.vus, s.vus_allocated),
        None => format!("VUs {}", s.vus),
    }
}

/// One scenario's bar line: name, executor, bar, elapsed/planned (or
/// iterations done/total), VUs (and the arrival rate), iterations, dropped.
pub(crate) fn scenario_line(f: &Frame, i: usize, width: usize, color: bool) -> String {
    let s = &f.scenarios[i];
    let c = columns(f);
    let name = console::pad_str(&s.name, c.name, console::Alignment::Left, Some("…"));
    let counts = format!("{:>6} iterations {:>3} dropped", s.iterations, s.dropped);
    // Two spaces in front, one between each of the six columns, two bar ends.
    let fixed = 2 + c.name + c.executor + c.progress + c.load + counts.len() + 5 + 2;
    let bar_width = width.saturating_sub(fixed).clamp(10, 30);
    let line = format!(
        "  {name} {:<ew$} {} {:<pw$} {:<lw$} {counts}",
        s.executor,
        bar(fraction(s), bar_width, color),
        progress_text(s),
        load_text(s),
        ew = c.executor,
        pw = c.progress,
        lw = c.load,
    );
    fit(line, width)
}

/// The single status line printed every [`LINE_EVERY`] when stderr is not a
/// terminal: the same fields as the bars, no escape codes.
pub(crate) fn status_line(f: &Frame) -> String {
    let state = match f.stopping {
        None => "running",
        Some(Stopping::Graceful) => "stopping",
        Some(Stopping::Hard) => "stopping now",
        Some(Stopping::Aborted) => "aborting",
    };
    let mut line = format!(
        "{state} {}/{} | {} | {}",
        secs(f.elapsed),
        secs(f.planned),
        measures(f),
        thresholds(f, false)
    );
    for s in &f.scenarios {
        line.push_str(&format!(
            " | {} {} {} {} {} iterations {} dropped",
            s.name,
            s.executor,
            progress_text(s),
            load_text(s),
            s.iterations,
            s.dropped
        ));
    }
    line
}

/// Hides the cursor and turns off input echo while bars are drawn, and puts
/// both back on drop: at the end, on an early return, and while unwinding
/// from a panic.
pub(crate) struct TerminalGuard<W: Write> {
    out: W,
    /// Terminal settings to restore (`None`: echo was not changed).
    saved: Option<rustix::termios::Termios>,
}

impl<W: Write> TerminalGuard<W> {
    /// Hide the cursor on `out`; with `tty`, also stop the terminal echoing
    /// typed keys (so `^C` does not land between the bars).
    pub(crate) fn new(mut out: W, tty: Option<std::io::Stderr>) -> Self {
        let saved = tty.and_then(|fd| {
            let saved = rustix::termios::tcgetattr(&fd).ok()?;
            let mut quiet = saved.clone();
            quiet.local_modes -= rustix::termios::LocalModes::ECHO;
            rustix::termios::tcsetattr(&fd, rustix::termios::OptionalActions::Now, &quiet).ok()?;
            Some(saved)
        });
        let _ = out.write_all(b"\x1b[?25l");
        let _ = out.flush();
        TerminalGuard { out, saved }
    }
}

impl<W: Write> Drop for TerminalGuard<W> {
    fn drop(&mut self) {
        let _ = self.out.write_all(b"\x1b[?25h");
        let _ = self.out.flush();
        if let Some(saved) = &self.saved {
            let _ = rustix::termios::tcsetattr(
                std::io::stderr(),
                rustix::termios::OptionalActions::Now,
                saved,
            );
        }
    }
}

/// The bars on screen.
struct Bars {
    live: ProgressBar,
    rows: Vec<ProgressBar>,
}

/// Prints messages that must stay readable while the live view runs (Ctrl-C,
/// aborts): above the bars on a terminal, as plain lines otherwise. Cheap to
/// clone into a signal task.
#[derive(Clone)]
pub(crate) struct Printer {
    multi: MultiProgress,
    /// Start on a fresh line: the terminal may have echoed `^C` at the cursor.
    newline_first: bool,
}

impl Printer {
    /// Print `text` as its own line on stderr without disturbing the bars.
    pub(crate) fn message(&self, text: &str) {
        let lead = if self.newline_first { "\n" } else { "" };
        self.multi.suspend(|| eprintln!("{lead}{text}"));
    }
}

/// Draws the live progress in the chosen [`Mode`]; [`CliMonitor`] feeds it a
/// [`Frame`] every tick.
///
/// [`CliMonitor`]: crate::cmd::run
pub(crate) struct LiveView {
    mode: Mode,
    multi: MultiProgress,
    bars: Option<Bars>,
    guard: Option<TerminalGuard<std::io::Stderr>>,
    last_line: Duration,
    finished: bool,
}

impl LiveView {
    /// A view that draws nothing until the first [`LiveView::update`]. In
    /// [`Mode::Bars`] the cursor is hidden and echo turned off from here on,
    /// so that a Ctrl-C before the first frame does not print `^C` either.
    pub(crate) fn new(mode: Mode) -> LiveView {
        let (multi, guard) = match mode {
            Mode::Bars { .. } => (
                MultiProgress::with_draw_target(ProgressDrawTarget::stderr()),
                Some(TerminalGuard::new(
                    std::io::stderr(),
                    Some(std::io::stderr()),
                )),
            ),
            _ => (
                MultiProgress::with_draw_target(ProgressDrawTarget::hidden()),
                None,
            ),
        };
        // Overwrite lines in place rather than clearing them first: no flicker.
        multi.set_move_cursor(true);
        LiveView {
            mode,
            multi,
            bars: None,
            guard,
            last_line: Duration::ZERO,
            finished: false,
        }
    }

    /// A handle for messages from other tasks (the signal handler).
    pub(crate) fn printer(&self) -> Printer {
        Printer {
            multi: self.multi.clone(),
            newline_first: self.mode == Mode::Quiet && std::io::stderr().is_terminal(),
        }
    }

    /// Show `frame`.
    pub(crate) fn update(&mut self, frame: &Frame) {
        if self.finished {
            return;
        }
        match self.mode {
            Mode::Quiet => {}
            Mode::Lines => {
                if frame.elapsed >= self.last_line + LINE_EVERY {
                    self.last_line = frame.elapsed;
                    self.multi.suspend(|| eprintln!("{}", status_line(frame)));
                }
            }
            Mode::Bars { color } => {
                let width = (console::Term::stderr().size().1 as usize)
                    .saturating_sub(1)
                    .min(MAX_WIDTH);
                let multi = &self.multi;
                let bars = self.bars.get_or_insert_with(|| {
                    let style = ProgressStyle::with_template("{msg}").expect("static template");
                    let add = || multi.add(ProgressBar::no_length().with_style(style.clone()));
                    Bars {
                        live: add(),
                        rows: frame.scenarios.iter().map(|_| add()).collect(),
                    }
                });
                bars.live.set_message(live_line(frame, width, color));
                for (i, row) in bars.rows.iter().enumerate() {
                    row.set_message(scenario_line(frame, i, width, color));
                }
            }
        }
    }

    /// Remove the bars and restore the terminal; idempotent. Called before the
    /// summary is printed, and by `Drop` on every other way out.
    pub(crate) fn finish(&mut self) {
        if self.finished {
            return;
        }
        self.finished = true;
        if let Some(bars) = self.bars.take() {
            // Drawing fewer lines in place would leave the old ones below:
            // clear for real from here on.
            self.multi.set_move_cursor(false);
            bars.live.finish_and_clear();
            for row in &bars.rows {
                row.finish_and_clear();
            }
            let _ = self.multi.clear();
        }
        // Later messages print as plain lines.
        self.multi.set_draw_target(ProgressDrawTarget::hidden());
        self.guard = None;
    }
}

impl Drop for LiveView {
    fn drop(&mut self) {
        self.finish();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    fn s(secs: u64) -> Duration {
        Duration::from_secs(secs)
    }

    fn frame() -> Frame {
        Frame {
            elapsed: s(4),
            planned: s(6),
            rps: Some(1234.56),
            p95_ms: Some(3.217),
            error_rate: Some(0.0123),
            failing: vec![Failing {
                metric: "http_req_failed".into(),
                expression: "rate < 0.01".into(),
                observed: Some(0.0123),
                unit: Unit::Share,
            }],
            thresholds: 2,
            stopping: None,
            scenarios: vec![
                ScenarioView {
                    name: "browse".into(),
                    executor: "constant-vus",
                    start: Duration::ZERO,
                    phase: Phase::Running,
                    progress: Progress::Time {
                        elapsed: s(4),
                        planned: s(6),
                    },
                    vus: 2,
                    vus_allocated: 2,
                    rate: None,
                    iterations: 812,
                    dropped: 0,
                },
                ScenarioView {
                    name: "orders".into(),
                    executor: "constant-arrival-rate",
                    start: s(2),
                    phase: Phase::Running,
                    progress: Progress::Time {
                        elapsed: s(2),
                        planned: s(4),
                    },
                    vus: 3,
                    vus_allocated: 5,
                    rate: Some(20.0),
                    iterations: 40,
                    dropped: 7,
                },
                ScenarioView {
                    name: "import".into(),
                    executor: "shared-iterations",
                    start: s(10),
                    phase: Phase::Waiting,
                    progress: Progress::Iterations {
                        done: 0,
                        total: 500,
                    },
                    vus: 0,
                    vus_allocated: 0,
                    rate: None,
                    iterations: 0,
                    dropped: 0,
                },
            ],
        }
    }

    #[test]
    fn live_line_has_throughput_p95_errors_and_failing_thresholds() {
        let l = live_line(&frame(), 150, false);
        assert!(l.contains("running 4s/6s"), "{l}");
        assert!(l.contains("1234.6 req/s"), "{l}");
        assert!(l.contains("p95 3.22ms"), "{l}");
        assert!(l.contains("errors 1.23%"), "{l}");
        assert!(
            l.contains("failing 1/2: http_req_failed 'rate < 0.01' = 1.23%"),
            "{l}"
        );
        assert!(!l.contains('\x1b'), "no colour asked: {l:?}");
    }

    #[test]
    fn live_line_says_ok_and_shows_the_stop() {
        let mut f = frame();
        f.failing.clear();
        f.stopping = Some(Stopping::Graceful);
        let l = live_line(&f, 150, false);
        assert!(l.contains("stopping 4s/6s"), "{l}");
        assert!(l.contains("thresholds ok (2)"), "{l}");
        f.thresholds = 0;
        f.p95_ms = None;
        f.stopping = Some(Stopping::Aborted);
        let l = live_line(&f, 150, false);
        assert!(l.contains("aborting") && l.contains("no thresholds"), "{l}");
        assert!(l.contains("p95 -"), "{l}");
    }

    #[test]
    fn observed_values_read_in_their_unit() {
        let mut f = frame();
        f.failing = vec![Failing {
            metric: "http_req_duration".into(),
            expression: "p(95) < 1ms".into(),
            observed: Some(27.3111),
            unit: Unit::Millis,
        }];
        let l = live_line(&f, 150, false);
        assert!(
            l.contains("http_req_duration 'p(95) < 1ms' = 27.31ms"),
            "{l}"
        );
        f.failing[0].unit = Unit::Plain;
        f.failing[0].observed = None;
        assert!(live_line(&f, 150, false).contains("= no data"));
    }

    #[test]
    fn lines_fit_120_columns_with_every_field() {
        let mut f = frame();
        f.scenarios[2].phase = Phase::Done;
        f.scenarios[2].progress = Progress::Iterations {
            done: 300,
            total: 300,
        };
        for i in 0..3 {
            let l = scenario_line(&f, i, 119, false);
            assert!(l.ends_with(" dropped"), "cut: {l}");
        }
    }

    #[test]
    fn colour_only_when_asked() {
        let l = live_line(&frame(), 150, true);
        assert!(l.contains("\x1b[31m"), "failing thresholds in red: {l:?}");
        assert_eq!(
            console::strip_ansi_codes(&l),
            live_line(&frame(), 150, false)
        );
    }

    #[test]
    fn scenario_lines_show_time_vus_rate_iterations_dropped() {
        let f = frame();
        let a = scenario_line(&f, 0, 120, false);
        assert!(a.contains("browse"), "{a}");
        assert!(a.contains("constant-vus"), "{a}");
        assert!(a.contains("4s/6s"), "{a}");
        assert!(a.contains("VUs 2"), "{a}");
        assert!(a.contains("812 iterations"), "{a}");
        assert!(a.contains("0 dropped"), "{a}");
        let b = scenario_line(&f, 1, 120, false);
        assert!(b.contains("2s/4s (at +2s)"), "{b}");
        assert!(b.contains("20.0/s VUs 3/5"), "{b}");
        assert!(b.contains("7 dropped"), "{b}");
        let c = scenario_line(&f, 2, 120, false);
        assert!(c.contains("starts at +10s"), "{c}");
    }

    #[test]
    fn bars_fill_with_progress() {
        let f = frame();
        // 4 of 6 seconds over 20 cells: 13 full, a 3/8 cell, 6 empty.
        assert_eq!(
            bar(4.0 / 6.0, 20, false),
            format!("▕{}▍{}▏", "█".repeat(13), "·".repeat(6))
        );
        assert_eq!(bar(0.0, 10, false), format!("▕{}▏", "·".repeat(10)));
        assert_eq!(bar(1.0, 10, false), format!("▕{}▏", "█".repeat(10)));
        let a = scenario_line(&f, 0, 120, false);
        assert!(a.contains(&"█".repeat(13)), "{a}");
        let waiting = scenario_line(&f, 2, 120, false);
        assert_eq!(waiting.matches('█').count(), 0, "{waiting}");
        let mut done = f.clone();
        done.scenarios[0].phase = Phase::Done;
        let d = scenario_line(&done, 0, 120, false);
        assert_eq!(d.matches('·').count(), 0, "{d}");
        assert!(d.contains("done"), "{d}");
    }

    #[test]
    fn iteration_bound_scenarios_count_iterations() {
        let mut f = frame();
        f.scenarios[2].phase = Phase::Running;
        f.scenarios[2].start = Duration::ZERO;
        f.scenarios[2].progress = Progress::Iterations {
            done: 125,
            total: 500,
        };
        let l = scenario_line(&f, 2, 120, false);
        assert!(l.contains("125/500 it"), "{l}");
    }

    #[test]
    fn lines_fit_the_terminal() {
        let f = frame();
        for width in [40, 80, 120] {
            for i in 0..3 {
                let l = scenario_line(&f, i, width, true);
                assert!(console::measure_text_width(&l) <= width, "{width}: {l}");
            }
            let l = live_line(&f, width, true);
            assert!(console::measure_text_width(&l) <= width, "{width}: {l}");
        }
    }

    #[test]
    fn status_line_is_one_plain_line_with_the_same_fields() {
        let l = status_line(&frame());
        assert!(!l.contains('\n') && !l.contains('\x1b'), "{l:?}");
        for part in [
            "running 4s/6s",
            "1234.6 req/s",
            "p95 3.22ms",
            "errors 1.23%",
            "http_req_failed 'rate < 0.01'",
            "browse constant-vus 4s/6s VUs 2 812 iterations 0 dropped",
            "orders constant-arrival-rate 2s/4s (at +2s) 20.0/s VUs 3/5 40 iterations 7 dropped",
            "import shared-iterations starts at +10s",
        ] {
            assert!(l.contains(part), "missing {part:?} in {l}");
        }
    }

    /// A writer the test can read after the guard is gone.
    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);
    impl Write for Shared {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn the_cursor_comes_back_even_after_a_panic() {
        let out = Shared::default();
        let w = out.clone();
        let r = std::thread::spawn(move || {
            let _g = TerminalGuard::new(w, None);
            panic!("boom");
        })
        .join();
        assert!(r.is_err());
        let written = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
        assert_eq!(written, "\x1b[?25l\x1b[?25h");
    }

    #[test]
    fn quiet_and_lines_views_touch_no_terminal_state() {
        // Neither mode creates bars, so nothing is hidden or needs restoring.
        for mode in [Mode::Quiet, Mode::Lines] {
            let mut v = LiveView::new(mode);
            v.update(&frame());
            assert!(v.bars.is_none());
            assert!(v.multi.is_hidden());
            v.finish();
            assert!(v.finished);
        }
    }
}
