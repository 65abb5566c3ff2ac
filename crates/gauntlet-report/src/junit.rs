//! `--out junit=FILE`: thresholds and SLAs as JUnit test cases, so any CI
//! system shows a failed threshold as a failed test with the measured value.
//!
//! # Format (spec)
//! The document validates against the Jenkins xUnit plugin's `junit-10.xsd`
//! (checked by `crates/gauntlet-cli/tests/junit_consumers.rs`). Layout:
//!
//! ```text
//! <testsuites name="gauntlet" tests=.. failures=.. errors="0" time="<run s>">
//!   <testsuite name="thresholds" tests=.. failures=.. errors="0" skipped=.. time="<run s>">
//!     <properties>  gauntlet.plan, gauntlet.target, gauntlet.decision,
//!                   gauntlet.duration_ms, gauntlet.interrupted (only when cut short)
//!     <testcase name="<metric> <expression>" classname="<plan>.thresholds">
//!       <failure message=".." type="threshold|not_evaluated">..</failure>   (when it did not pass)
//!       <system-out>observed <agg>=<value></system-out>
//!   <testsuite name="slas" ...>    same, one test case per SLA, named after it,
//!                                  classname "<plan>.slas"
//! ```
//!
//! * A threshold is one test case; thresholds that an SLA generated are not
//!   repeated there (the SLA is its own test case).
//! * A failed threshold, or an SLA with status `fail`, has a `<failure>`
//!   whose `message` is `<metric> <expression> failed: observed <agg>=<value>`
//!   (SLA: `SLA '<name>': <metric> <objective> (limit <limit>) failed: ...`).
//!   The value is in a fixed unit per kind, three decimals: `12.345ms`,
//!   `0.5%` (rates), `3.2/s` (counter rates), plain numbers otherwise.
//!   `type` is `threshold` or `sla`; the element's text repeats the facts one
//!   per line.
//! * An SLA that missed its objective but held its limit (`warn`) passes; its
//!   `system-out` says `objective <objective> missed, limit held: observed ..`.
//! * A threshold or SLA without samples was not evaluated, and that is a
//!   failure (`type="not_evaluated"`, message `... not evaluated: no
//!   samples`), never a skip or a pass: a CI system must not show
//!   green for a run that measured nothing. `skipped` is always 0.
//! * `time` is the run's wall-clock length in seconds with three decimals on
//!   `testsuites` and each `testsuite`; test cases carry none (a threshold is
//!   judged over the whole run). There is no `timestamp`: the result does not
//!   record the wall-clock start, and `gauntlet report` must render the same
//!   bytes as the live run.
//! * `errors` is always 0: gauntlet's own failures end the run with an exit
//!   code instead of a report.

use crate::model::Summary;
use crate::terminal::{aggregation, fmt_measure_precise, measure};
use gauntlet_analysis::{Decision, SlaStatus, ThresholdStatus};
use quick_xml::Writer;
use quick_xml::events::{BytesDecl, BytesEnd, BytesStart, BytesText, Event};
use std::io;

/// One test case, before it is written.
struct Case {
    name: String,
    classname: String,
    outcome: Outcome,
    out: String,
}

enum Outcome {
    Pass,
    Fail {
        message: String,
        kind: &'static str,
        detail: String,
    },
}

/// XML 1.0 cannot carry most control characters, even escaped: replace them.
fn xml_safe(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '\t' | '\n' | '\r' => c,
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => '\u{FFFD}',
            c => c,
        })
        .collect()
}

/// `p(95)=12.345ms`, or `no samples`.
fn observed(s: &Summary, selector: &str, expression: &str, v: Option<f64>) -> String {
    let agg = aggregation(expression);
    match v {
        None => "no samples".into(),
        Some(v) => format!(
            "{agg}={}",
            fmt_measure_precise(v, measure(s, selector, agg))
        ),
    }
}

fn threshold_cases(s: &Summary) -> Vec<Case> {
    s.verdict
        .thresholds
        .iter()
        .filter(|t| t.sla.is_none())
        .map(|t| {
            let obs = observed(s, &t.metric, &t.expression, t.observed);
            let outcome = match t.status {
                ThresholdStatus::Pass => Outcome::Pass,
                // Not evaluated is a failure: a CI system must not show green
                // for a run that measured nothing.
                ThresholdStatus::NotEvaluated => Outcome::Fail {
                    message: format!("{} {} not evaluated: no samples", t.metric, t.expression),
                    kind: "not_evaluated",
                    detail: format!(
                        "metric: {}\nthreshold: {}\nobserved: no samples\nabortOnFail: {}",
                        t.metric, t.expression, t.abort_on_fail
                    ),
                },
                _ => Outcome::Fail {
                    message: format!("{} {} failed: observed {obs}", t.metric, t.expression),
                    kind: "threshold",
                    detail: format!(
                        "metric: {}\nthreshold: {}\nobserved: {obs}\nabortOnFail: {}",
                        t.metric, t.expression, t.abort_on_fail
                    ),
                },
            };
            Case {
                name: format!("{} {}", t.metric, t.expression),
                classname: format!("{}.thresholds", s.plan),
                outcome,
                out: format!("observed {obs}"),
            }
        })
        .collect()
}

fn sla_cases(s: &Summary) -> Vec<Case> {
    s.verdict
        .slas
        .iter()
        .map(|sla| {
            let goal = match &sla.limit {
                Some(l) => format!("{} (limit {l})", sla.objective),
                None => sla.objective.clone(),
            };
            let obs = observed(s, &sla.metric, &sla.objective, sla.observed);
            let mut out = format!("observed {obs}");
            let outcome = match sla.status {
                SlaStatus::Fail => Outcome::Fail {
                    message: format!(
                        "SLA '{}': {} {goal} failed: observed {obs}",
                        sla.name, sla.metric
                    ),
                    kind: "sla",
                    detail: format!(
                        "sla: {}\nmetric: {}\nobjective: {}\nlimit: {}\nobserved: {obs}\npriority: {}",
                        sla.name,
                        sla.metric,
                        sla.objective,
                        sla.limit.as_deref().unwrap_or("none"),
                        sla.priority
                    ),
                },
                SlaStatus::NotEvaluated => Outcome::Fail {
                    message: format!(
                        "SLA '{}': {} {goal} not evaluated: no samples",
                        sla.name, sla.metric
                    ),
                    kind: "not_evaluated",
                    detail: format!(
                        "sla: {}\nmetric: {}\nobjective: {}\nlimit: {}\nobserved: no samples\npriority: {}",
                        sla.name,
                        sla.metric,
                        sla.objective,
                        sla.limit.as_deref().unwrap_or("none"),
                        sla.priority
                    ),
                },
                SlaStatus::Warn => {
                    out = format!(
                        "objective {} missed, limit held: observed {obs}",
                        sla.objective
                    );
                    Outcome::Pass
                }
                _ => Outcome::Pass,
            };
            Case {
                name: sla.name.clone(),
                classname: format!("{}.slas", s.plan),
                outcome,
                out,
            }
        })
        .collect()
}

fn decision(d: Decision) -> &'static str {
    match d {
        Decision::Go => "go",
        Decision::GoWithConditions => "go_with_conditions",
        _ => "no_go",
    }
}

fn count(cases: &[Case], f: fn(&Outcome) -> bool) -> String {
    cases.iter().filter(|c| f(&c.outcome)).count().to_string()
}

fn is_fail(o: &Outcome) -> bool {
    matches!(o, Outcome::Fail { .. })
}

fn text_element<W: io::Write>(
    w: &mut Writer<W>,
    name: &str,
    attrs: &[(&str, &str)],
    text: &str,
) -> io::Result<()> {
    let mut start = BytesStart::new(name);
    for (k, v) in attrs {
        start.push_attribute((*k, xml_safe(v).as_str()));
    }
    if text.is_empty() {
        return w.write_event(Event::Empty(start));
    }
    w.write_event(Event::Start(start))?;
    w.write_event(Event::Text(BytesText::new(&xml_safe(text))))?;
    w.write_event(Event::End(BytesEnd::new(name)))
}

fn suite<W: io::Write>(
    w: &mut Writer<W>,
    name: &str,
    time: &str,
    props: &[(&str, String)],
    cases: &[Case],
) -> io::Result<()> {
    let mut start = BytesStart::new("testsuite");
    start.push_attribute(("name", name));
    start.push_attribute(("tests", cases.len().to_string().as_str()));
    start.push_attribute(("failures", count(cases, is_fail).as_str()));
    start.push_attribute(("errors", "0"));
    start.push_attribute(("skipped", "0"));
    start.push_attribute(("time", time));
    w.write_event(Event::Start(start))?;
    w.write_event(Event::Start(BytesStart::new("properties")))?;
    for (k, v) in props {
        text_element(w, "property", &[("name", k), ("value", v)], "")?;
    }
    w.write_event(Event::End(BytesEnd::new("properties")))?;
    for c in cases {
        let mut start = BytesStart::new("testcase");
        start.push_attribute(("name", xml_safe(&c.name).as_str()));
        start.push_attribute(("classname", xml_safe(&c.classname).as_str()));
        w.write_event(Event::Start(start))?;
        match &c.outcome {
            Outcome::Pass => {}
            Outcome::Fail {
                message,
                kind,
                detail,
            } => text_element(
                w,
                "failure",
                &[("message", message), ("type", kind)],
                detail,
            )?,
        }
        text_element(w, "system-out", &[], &c.out)?;
        w.write_event(Event::End(BytesEnd::new("testcase")))?;
    }
    w.write_event(Event::End(BytesEnd::new("testsuite")))
}

fn write<W: io::Write>(s: &Summary, w: &mut Writer<W>) -> io::Result<()> {
    let time = format!("{:.3}", s.duration_ms as f64 / 1000.0);
    let thresholds = threshold_cases(s);
    let slas = sla_cases(s);
    let mut props = vec![
        ("gauntlet.plan", s.plan.clone()),
        ("gauntlet.target", s.target.clone()),
        ("gauntlet.decision", decision(s.verdict.decision).to_owned()),
        ("gauntlet.duration_ms", s.duration_ms.to_string()),
    ];
    if let Some(why) = &s.interrupted {
        props.push(("gauntlet.interrupted", why.clone()));
    }
    w.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))?;
    let mut root = BytesStart::new("testsuites");
    let all = thresholds.len() + slas.len();
    let failures = thresholds
        .iter()
        .chain(&slas)
        .filter(|c| is_fail(&c.outcome));
    root.push_attribute(("name", "gauntlet"));
    root.push_attribute(("tests", all.to_string().as_str()));
    root.push_attribute(("failures", failures.count().to_string().as_str()));
    root.push_attribute(("errors", "0"));
    root.push_attribute(("time", time.as_str()));
    w.write_event(Event::Start(root))?;
    suite(w, "thresholds", &time, &props, &thresholds)?;
    suite(w, "slas", &time, &props, &slas)?;
    w.write_event(Event::End(BytesEnd::new("testsuites")))
}

/// Render the JUnit XML document (ends with a newline).
pub fn render(s: &Summary) -> String {
    let mut w = Writer::new_with_indent(Vec::new(), b' ', 2);
    // Writing to a Vec cannot fail.
    let _ = write(s, &mut w);
    let mut out = String::from_utf8(w.into_inner()).unwrap_or_default();
    out.push('\n');
    out
}
