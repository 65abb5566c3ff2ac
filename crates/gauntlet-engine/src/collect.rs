//! Per-worker recorders and the once-a-second merge into the timeline.
//!
//! VUs record into one of a few shards (`Mutex<Recorder>`), chosen by VU id,
//! so a lock is almost never contended and nothing is sent per sample; the
//! tick takes each shard's interval and merges them. The metric ids every VU
//! needs are resolved once here ([`Ids`]); a driver resolves its own.

use crate::executor::ScenarioState;
use crate::step::MetricDecl;
use gauntlet_metrics::{
    MetricId, Recorder, Registry, SeriesKey, Snapshot, TagInterner, TagKey, TagSet, Timeline,
};
use gauntlet_plan::Plan;
use gauntlet_plan::catalog::BUILTIN_METRICS;
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Ids of the built-in metrics, resolved once.
#[derive(Debug, Clone)]
#[allow(missing_docs)]
pub struct Ids {
    pub checks: MetricId,
    pub dropped_iterations: MetricId,
    pub iteration_duration: MetricId,
    pub iterations: MetricId,
    pub vus: MetricId,
    pub vus_max: MetricId,
    pub group_duration: MetricId,
    pub capture_failures: MetricId,
    pub step_errors: MetricId,
    pub iterations_interrupted: MetricId,
    pub iteration_start_lateness: MetricId,
    pub metric_errors: MetricId,
    /// Plan-defined metrics by name (polling waits look theirs up here).
    pub custom: HashMap<String, MetricId>,
    /// Plan-defined metrics by their index in `Plan::custom_metrics`: what
    /// a step's compiled metric values record into, with no name lookup.
    pub plan_metrics: Vec<MetricId>,
}

/// Build the registry of a plan's run: every built-in metric, those the
/// run's drivers declare, and the plan's own.
pub fn registry_for(plan: &Plan, declared: &[MetricDecl]) -> (Arc<Registry>, Ids) {
    let mut r = Registry::new();
    for m in BUILTIN_METRICS {
        let _ = r.register(m.name, m.kind, m.unit);
    }
    // A driver's metric the catalog already lists keeps its place (the
    // summary's order); one it does not is added after.
    for d in declared {
        if r.get(d.name).is_none() {
            let _ = r.register(d.name, d.kind, d.unit);
        }
    }
    let mut custom = HashMap::new();
    let mut plan_metrics = Vec::with_capacity(plan.custom_metrics.len());
    for c in &plan.custom_metrics {
        // Validation keeps the names unique and apart from the built-ins.
        let id = r
            .register(&c.name, c.kind, c.unit)
            .ok()
            .or_else(|| r.get(&c.name))
            .unwrap_or(MetricId(0));
        custom.insert(c.name.clone(), id);
        plan_metrics.push(id);
    }
    let g = |n: &str| r.get(n).unwrap_or(MetricId(0));
    let ids = Ids {
        checks: g("checks"),
        dropped_iterations: g("dropped_iterations"),
        iteration_duration: g("iteration_duration"),
        iterations: g("iterations"),
        vus: g("vus"),
        vus_max: g("vus_max"),
        group_duration: g("group_duration"),
        capture_failures: g("capture_failures"),
        step_errors: g("step_errors"),
        iterations_interrupted: g("iterations_interrupted"),
        iteration_start_lateness: g("iteration_start_lateness"),
        metric_errors: g("metric_errors"),
        custom,
        plan_metrics,
    };
    (Arc::new(r), ids)
}

/// The recorders of a run and its timeline.
#[derive(Debug)]
pub struct Collector {
    /// Metric definitions.
    pub registry: Arc<Registry>,
    /// Tag sets.
    pub interner: TagInterner,
    /// Built-in ids.
    pub ids: Arc<Ids>,
    shards: Vec<Arc<Mutex<Recorder>>>,
    /// Per-second history and the total.
    pub timeline: Timeline,
    last_ms: u64,
    dropped_seen: Vec<u64>,
    interrupted_seen: Vec<u64>,
    scenario_tags: Vec<gauntlet_metrics::TagSetId>,
}

impl Collector {
    /// A collector with `shards` recorders, knowing the built-in metrics
    /// and the plan's.
    pub fn new(plan: &Plan, shards: usize) -> Collector {
        Collector::with_metrics(plan, shards, &[])
    }

    /// A collector that also knows the metrics a run's drivers declare
    /// ([`crate::step::Driver::metrics`]).
    pub fn with_metrics(plan: &Plan, shards: usize, declared: &[MetricDecl]) -> Collector {
        let (registry, ids) = registry_for(plan, declared);
        let interner = TagInterner::new();
        let scenario_tags = plan
            .scenarios
            .iter()
            .map(|s| {
                interner.intern(TagSet::new([(
                    TagKey::Scenario,
                    Arc::<str>::from(s.name.as_str()),
                )]))
            })
            .collect();
        Collector {
            shards: (0..shards.max(1))
                .map(|_| Arc::new(Mutex::new(Recorder::new(registry.clone()))))
                .collect(),
            registry,
            interner,
            ids: Arc::new(ids),
            timeline: Timeline::new(3600),
            last_ms: 0,
            dropped_seen: vec![0; plan.scenarios.len()],
            interrupted_seen: vec![0; plan.scenarios.len()],
            scenario_tags,
        }
    }

    /// The recorder shard for a VU.
    pub fn shard(&self, vu_id: u64) -> Arc<Mutex<Recorder>> {
        self.shards[(vu_id as usize) % self.shards.len()].clone()
    }

    /// Take the interval since the last tick from every shard, add the
    /// execution gauges and counters (`vus`, `vus_max`,
    /// `dropped_iterations`, `iterations_interrupted`: the executors keep
    /// them as atomics, not samples), and append it to the timeline.
    pub fn tick(&mut self, elapsed: Duration, scenarios: &[Arc<ScenarioState>]) -> &Snapshot {
        let now_ms = elapsed.as_millis() as u64;
        let mut snap = Snapshot::new(self.last_ms, now_ms.max(self.last_ms));
        for s in &self.shards {
            let part = s
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .take_interval(self.last_ms, now_ms);
            snap.merge_owned(part);
        }
        snap.start_ms = self.last_ms;
        snap.end_ms = now_ms.max(self.last_ms);
        let mut rec = Recorder::new(self.registry.clone());
        let (mut vus, mut vus_max) = (0u64, 0u64);
        for (i, st) in scenarios.iter().enumerate() {
            vus += st.active_vus.load(Ordering::Relaxed);
            vus_max += st.allocated_vus.load(Ordering::Relaxed);
            let dropped = st.dropped.load(Ordering::Relaxed);
            let delta = dropped.saturating_sub(self.dropped_seen[i]);
            if delta > 0 {
                rec.add_counter(
                    SeriesKey {
                        metric: self.ids.dropped_iterations,
                        tags: self.scenario_tags[i],
                    },
                    delta as f64,
                );
                self.dropped_seen[i] = dropped;
            }
            let interrupted = st.interrupted.load(Ordering::Relaxed);
            let delta = interrupted.saturating_sub(self.interrupted_seen[i]);
            if delta > 0 {
                rec.add_counter(
                    SeriesKey {
                        metric: self.ids.iterations_interrupted,
                        tags: self.scenario_tags[i],
                    },
                    delta as f64,
                );
                self.interrupted_seen[i] = interrupted;
            }
        }
        let none = self.interner.intern(TagSet::default());
        rec.set_gauge(
            SeriesKey {
                metric: self.ids.vus,
                tags: none,
            },
            vus as f64,
        );
        rec.set_gauge(
            SeriesKey {
                metric: self.ids.vus_max,
                tags: none,
            },
            vus_max as f64,
        );
        snap.merge_owned(rec.take_interval(self.last_ms, now_ms));
        self.last_ms = now_ms;
        self.timeline.push(snap);
        self.timeline
            .intervals()
            .last()
            .unwrap_or(self.timeline.total())
    }
}
