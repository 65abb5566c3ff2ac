//! The demo's own Prometheus metrics (explicit registry, no globals), named by
//! Prometheus conventions: units in names, `_total` on counters.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct ReqLabels {
    pub(crate) route: String,
    pub(crate) method: String,
    pub(crate) status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct RouteLabels {
    pub(crate) route: String,
    pub(crate) method: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct StatusLabels {
    pub(crate) status: String,
}

/// Every metric the demo exports.
#[derive(Debug)]
pub(crate) struct Metrics {
    pub(crate) registry: Registry,
    pub(crate) requests: Family<ReqLabels, Counter>,
    pub(crate) duration: Family<RouteLabels, Histogram>,
    pub(crate) cache_hits: Counter,
    pub(crate) cache_misses: Counter,
    pub(crate) cache_entries: Gauge,
    pub(crate) pool_size: Gauge,
    pub(crate) pool_in_use: Gauge,
    pub(crate) pool_wait: Histogram,
    pub(crate) pool_timeouts: Counter,
    pub(crate) jobs: Family<StatusLabels, Gauge>,
    pub(crate) injected_errors: Counter,
}

impl Metrics {
    pub(crate) fn new() -> Metrics {
        let mut registry = Registry::default();
        let requests = Family::<ReqLabels, Counter>::default();
        registry.register(
            "gauntlet_demo_http_requests",
            "HTTP requests by route template, method and status",
            requests.clone(),
        );
        let duration = Family::<RouteLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.0001, 2.0, 18))
        });
        registry.register(
            "gauntlet_demo_http_request_duration_seconds",
            "Time to answer, by route template and method",
            duration.clone(),
        );
        let cache_hits = Counter::default();
        registry.register(
            "gauntlet_demo_cache_hits",
            "Item reads answered from the cache",
            cache_hits.clone(),
        );
        let cache_misses = Counter::default();
        registry.register(
            "gauntlet_demo_cache_misses",
            "Item reads that went to the database",
            cache_misses.clone(),
        );
        let cache_entries = Gauge::default();
        registry.register(
            "gauntlet_demo_cache_entries",
            "Items in the cache",
            cache_entries.clone(),
        );
        let pool_size = Gauge::default();
        registry.register(
            "gauntlet_demo_db_pool_size",
            "Database connection pool size",
            pool_size.clone(),
        );
        let pool_in_use = Gauge::default();
        registry.register(
            "gauntlet_demo_db_pool_in_use",
            "Pooled connections in use",
            pool_in_use.clone(),
        );
        let pool_wait = Histogram::new(exponential_buckets(0.00001, 2.0, 20));
        registry.register(
            "gauntlet_demo_db_pool_wait_seconds",
            "Time waiting for a pooled connection",
            pool_wait.clone(),
        );
        let pool_timeouts = Counter::default();
        registry.register(
            "gauntlet_demo_db_pool_timeouts",
            "Requests that found no free connection in time (503)",
            pool_timeouts.clone(),
        );
        let jobs = Family::<StatusLabels, Gauge>::default();
        registry.register("gauntlet_demo_jobs", "Async jobs by status", jobs.clone());
        let injected_errors = Counter::default();
        registry.register(
            "gauntlet_demo_injected_errors",
            "Errors injected by --error-rate",
            injected_errors.clone(),
        );
        Metrics {
            registry,
            requests,
            duration,
            cache_hits,
            cache_misses,
            cache_entries,
            pool_size,
            pool_in_use,
            pool_wait,
            pool_timeouts,
            jobs,
            injected_errors,
        }
    }

    pub(crate) fn encode(&self) -> String {
        let mut s = String::new();
        let _ = prometheus_client::encoding::text::encode(&mut s, &self.registry);
        s
    }
}
