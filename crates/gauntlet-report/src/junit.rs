//! `--out junit=FILE`: thresholds and SLAs as JUnit test cases, so any CI
//! system shows a failed threshold as a failed test with the measured value.
//!
//! # Format (spec)
//! One `<testsuites name="gauntlet">` with two suites: `thresholds` (one
//! test case per threshold, named `<metric> <expression>`) and `slas` (one
//! per SLA, named after it). A failed threshold, or an SLA with status
//! `fail`, is a `<failure>` whose message carries the observed value; an SLA
//! that missed its objective within its limit passes with a `system-out`
//! note; an SLA with no data is `<skipped>`. Suite `time` is the run length.

use crate::model::Summary;
use gauntlet_analysis::SlaStatus;
use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};
use std::time::Duration;

fn observed(v: Option<f64>) -> String {
    match v {
        None => "no data".into(),
        Some(v) => format!("{v:.3}")
            .trim_end_matches('0')
            .trim_end_matches('.')
            .to_owned(),
    }
}

/// Render the JUnit XML document.
pub fn render(s: &Summary) -> String {
    let time = Duration::from_millis(s.duration_ms);
    let mut report = Report::new("gauntlet");
    report.set_time(time);
    let mut thresholds = TestSuite::new("thresholds");
    thresholds.set_time(time);
    for t in s.verdict.thresholds.iter().filter(|t| t.sla.is_none()) {
        let status = if t.passed {
            TestCaseStatus::success()
        } else {
            let mut st = TestCaseStatus::non_success(NonSuccessKind::Failure);
            st.set_message(format!(
                "{} {} failed: observed {}",
                t.metric,
                t.expression,
                observed(t.observed)
            ));
            st.set_type("threshold");
            st
        };
        let mut case = TestCase::new(format!("{} {}", t.metric, t.expression), status);
        case.set_classname(format!("{}.thresholds", s.plan));
        thresholds.add_test_case(case);
    }
    let mut slas = TestSuite::new("slas");
    slas.set_time(time);
    for sla in &s.verdict.slas {
        let goal = match &sla.limit {
            Some(l) => format!("{} (limit {l})", sla.objective),
            None => sla.objective.clone(),
        };
        let mut note = None;
        let status = match sla.status {
            SlaStatus::Fail => {
                let mut st = TestCaseStatus::non_success(NonSuccessKind::Failure);
                st.set_message(format!(
                    "{} {goal} failed: observed {}",
                    sla.metric,
                    observed(sla.observed)
                ));
                st.set_type(format!("sla, {} priority", sla.priority));
                st
            }
            SlaStatus::NoData => {
                let mut st = TestCaseStatus::skipped();
                st.set_message(format!("nothing measured for {}", sla.metric));
                st
            }
            SlaStatus::Warn => {
                note = Some(format!(
                    "objective {} missed, limit held: observed {}",
                    sla.objective,
                    observed(sla.observed)
                ));
                TestCaseStatus::success()
            }
            _ => TestCaseStatus::success(),
        };
        let mut case = TestCase::new(sla.name.clone(), status);
        case.set_classname(format!("{}.slas", s.plan));
        if let Some(n) = note {
            case.set_system_out(n);
        }
        slas.add_test_case(case);
    }
    report.add_test_suite(thresholds);
    report.add_test_suite(slas);
    report.to_string().unwrap_or_default()
}
