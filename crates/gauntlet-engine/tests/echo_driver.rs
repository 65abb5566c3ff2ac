//! A toy protocol plugged in through the step contract alone: an in-process
//! echo driver, defined here, runs a plan through the executors, checks,
//! captures, thresholds and the summary, with no engine code naming it.

use gauntlet_analysis::{RunFacts, SnapshotSource, ThresholdStatus, evaluate};
use gauntlet_engine::collect::Collector;
use gauntlet_engine::executor::StopControl;
use gauntlet_engine::flow::{CompileError, Workload};
use gauntlet_engine::run::{Control, Monitor, run_plan};
use gauntlet_engine::step::{
    BuildError, CompileContext, Content, Driver, ExecContext, MetricDecl, NoHeaders, Outcome,
    Reply, Site, StepKey, TagMemo, resolve,
};
use gauntlet_engine::template::Text;
use gauntlet_engine::vu::{DriverVuFactory, RunContext};
use gauntlet_metrics::{
    Latency, MetricId, MetricKind, Recorder, Registry, SeriesKey, Stat, TagFilter, TagKey, Unit,
};
use gauntlet_plan as plan;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// The echo driver's own metrics: the engine knows them only from here.
const ECHO_METRICS: &[MetricDecl] = &[
    MetricDecl {
        name: "echo_requests",
        kind: MetricKind::Counter,
        unit: Unit::Count,
        tags: &[TagKey::Scenario, TagKey::Group, TagKey::Name],
    },
    MetricDecl {
        name: "echo_duration",
        kind: MetricKind::Trend,
        unit: Unit::Microseconds,
        tags: &[TagKey::Scenario, TagKey::Group, TagKey::Name],
    },
];

/// Answers every step with `{"path": "<the rendered url>"}`.
#[derive(Debug, Default)]
struct Echo {
    ids: Vec<MetricId>,
    executed: AtomicU64,
}

#[derive(Debug)]
struct EchoStep {
    url: Text,
}

#[derive(Debug, Default)]
struct EchoSession {
    tags: TagMemo<StepKey>,
}

struct Echoed {
    body: Vec<u8>,
    took: Duration,
}

impl Outcome for Echoed {
    fn reply(&self) -> Reply<'_> {
        Reply {
            status: 200,
            headers: &NoHeaders,
            content: Content::Bytes(&self.body),
            duration: self.took,
        }
    }

    fn error_message(&self) -> Option<&str> {
        None
    }

    fn timing(&self, which: plan::Timing) -> Option<Duration> {
        (which == plan::Timing::Duration).then_some(self.took)
    }
}

impl Driver for Echo {
    type Session = EchoSession;
    type Step = EchoStep;
    type Request = String;
    type Outcome = Echoed;

    fn metrics(&self) -> &'static [MetricDecl] {
        ECHO_METRICS
    }

    fn bind(&mut self, registry: &Registry) {
        self.ids = resolve(registry, ECHO_METRICS);
    }

    fn compile(
        &self,
        request: &plan::Request,
        cx: &mut CompileContext<'_>,
    ) -> Result<EchoStep, CompileError> {
        Ok(EchoStep {
            url: cx.text(&request.url)?,
        })
    }

    fn session(&self) -> EchoSession {
        EchoSession::default()
    }

    fn prepare(
        &self,
        _session: &mut EchoSession,
        step: &EchoStep,
        cx: &ExecContext<'_>,
    ) -> Result<String, BuildError> {
        cx.templates
            .render(&step.url, cx.scope)
            .map(|p| p.to_string())
            .map_err(|e| BuildError::template("url", e))
    }

    async fn execute(&self, _session: &mut EchoSession, path: String) -> Echoed {
        self.executed.fetch_add(1, Ordering::Relaxed);
        Echoed {
            body: serde_json::to_vec(&serde_json::json!({ "path": path })).unwrap(),
            took: Duration::from_micros(250),
        }
    }

    fn record(
        &self,
        session: &mut EchoSession,
        _step: &EchoStep,
        outcome: &Echoed,
        site: &Site<'_>,
        _lag: Duration,
        rec: &mut Recorder,
    ) {
        let tags = session.tags.get_or(site.key(), || site.intern([]));
        rec.add_counter(
            SeriesKey {
                metric: self.ids[0],
                tags,
            },
            1.0,
        );
        rec.record_trend(
            SeriesKey {
                metric: self.ids[1],
                tags,
            },
            outcome.took.as_micros() as u64,
        );
    }

    fn interrupted(
        &self,
        _session: &mut EchoSession,
        _step: &EchoStep,
        _site: &Site<'_>,
        _rec: &mut Recorder,
    ) {
    }

    fn reset(&self, _session: &mut EchoSession) {}
}

/// Ticks the collector, as the CLI's monitor does.
struct Ticking(Collector);

impl Monitor for Ticking {
    fn tick(
        &mut self,
        elapsed: Duration,
        scenarios: &[Arc<gauntlet_engine::executor::ScenarioState>],
        _last: bool,
    ) -> Control {
        self.0.tick(elapsed, scenarios);
        Control::Continue
    }
}

const PLAN: &str = r#"
target: http://127.0.0.1:9
workload:
  operations:
    hello:
      steps:
        - name: first
          request: GET /echo/{{ vu }}
          checks:
            - status: 200
            - jsonPath: $.path
              exists: true
          capture:
            said: $.path
        - name: again
          request: GET /again{{ said }}
          checks:
            - status: 200
scenarios:
  s: {executor: shared-iterations, vus: 2, iterations: 20}
thresholds:
  checks: ["rate == 1"]
  iterations: ["count < 5"]
"#;

#[tokio::test]
async fn a_driver_defined_outside_the_engine_runs_through_executors_thresholds_and_summary() {
    let plan = Arc::new(
        plan::parse_plan(
            "echo.yaml",
            PLAN.as_bytes(),
            "echo.yaml",
            &Default::default(),
        )
        .unwrap_or_else(|e| panic!("{}", e.render(false)))
        .plan,
    );
    let driver = Echo::default();
    let workload = Arc::new(Workload::compile(&plan, std::path::Path::new("."), &driver).unwrap());
    let collector = Collector::with_metrics(&plan, 1, driver.metrics());
    let shared = Arc::new(RunContext::new(
        plan.clone(),
        workload,
        driver,
        &collector,
        1,
    ));
    let factory = Arc::new(DriverVuFactory {
        shared: shared.clone(),
        seed: Some(1),
    });
    let mut monitor = Ticking(collector);
    let out = run_plan(
        plan.clone(),
        factory,
        StopControl::default(),
        &mut monitor,
        Duration::from_secs(1),
    )
    .await;
    assert_eq!(out.scenarios[0].completed.load(Ordering::Relaxed), 20);
    assert_eq!(
        shared.driver.executed.load(Ordering::Relaxed),
        40,
        "two steps an iteration"
    );

    let c = &monitor.0;
    let total = c.timeline.total().clone();
    let query = |metric: &str, tags: &[(TagKey, &str)], stat: Stat| {
        let filter = TagFilter(tags.iter().map(|(k, v)| (k.clone(), (*v).into())).collect());
        total.query(
            &c.registry,
            &c.interner,
            c.registry.get(metric).unwrap(),
            &filter,
            stat,
            Latency::Corrected,
        )
    };
    // The driver's metrics, under the engine's tags.
    assert_eq!(query("echo_requests", &[], Stat::Count), Some(40.0));
    assert_eq!(
        query("echo_requests", &[(TagKey::Name, "again")], Stat::Count),
        Some(20.0)
    );
    // The capture fed the second step: its check passed every time.
    assert_eq!(query("checks", &[], Stat::Rate), Some(1.0));
    assert_eq!(
        query("capture_failures", &[], Stat::Count).unwrap_or(0.0),
        0.0
    );

    let source = SnapshotSource {
        snapshot: &total,
        registry: &c.registry,
        interner: &c.interner,
    };
    let verdict = evaluate(&plan, &source, &RunFacts::default());
    let statuses: Vec<_> = verdict.thresholds.iter().map(|t| t.status).collect();
    assert_eq!(
        statuses,
        [ThresholdStatus::Pass, ThresholdStatus::Fail],
        "checks pass, the iteration count fails"
    );
    assert!(verdict.thresholds_failed());

    let summary = gauntlet_report::build::summarize(
        &plan,
        &total,
        &c.registry,
        &c.interner,
        verdict,
        gauntlet_report::build::RunInfo {
            target: "echo".into(),
            duration_ms: out.elapsed.as_millis() as u64,
            interrupted: None,
            scenarios: Vec::new(),
            step_errors: Vec::new(),
        },
    );
    let text = gauntlet_report::terminal::render(
        &summary,
        gauntlet_report::terminal::Style { color: false },
    );
    assert!(text.contains("echo_requests"), "{text}");
    assert!(text.contains("echo_duration"), "{text}");
}
