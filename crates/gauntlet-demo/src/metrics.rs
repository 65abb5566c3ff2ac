//! The demo's own Prometheus metrics.
//!
//! An explicit [`Registry`] per server (no global), so several demo servers
//! in one process (tests) never mix counts. Names follow Prometheus
//! conventions: base units in the name (`_seconds`), `_total` on counters
//! (added by the OpenMetrics encoder; the registered name omits it).
//!
//! Labels are typed: [`Route`] is the route *template*, a closed set, and
//! [`Method`] folds unknown methods into `OTHER`, so no client can grow the
//! number of series. The item route is exported as `/api/items/:id` rather
//! than `/api/items/{id}`: some exposition parsers (e.g. `prometheus-parse`)
//! cut label sets at the first `}` even inside a quoted value. gauntlet's own
//! (`gauntlet-monitors`) does not, but the tools a team points at the demo may.

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::fmt::Write as _;

use crate::jobs::JobStatus;

/// Which route answered: the label that keeps request metrics bounded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Route {
    /// `/api/items`
    Items,
    /// `/api/items/{id}`
    Item,
    /// `/api/jobs`
    Jobs,
    /// `/api/jobs/{id}`
    Job,
    /// `/api/login`
    Login,
    /// `/api/me`
    Me,
    /// `/api/compute`
    Compute,
    /// `/api/work`
    Work,
    /// `/`: what the service serves, so a quick test of the bare URL gets 200.
    Index,
    /// `/health`
    Health,
    /// `/metrics`
    Metrics,
    /// No route matched (404).
    Unmatched,
}

impl Route {
    /// Every routed template, in the form the router registers.
    pub(crate) const ROUTED: [Route; 11] = [
        Route::Items,
        Route::Item,
        Route::Jobs,
        Route::Job,
        Route::Login,
        Route::Me,
        Route::Compute,
        Route::Work,
        Route::Index,
        Route::Health,
        Route::Metrics,
    ];

    /// The router's path template.
    pub(crate) fn template(self) -> &'static str {
        match self {
            Route::Items => "/api/items",
            Route::Item => "/api/items/{id}",
            Route::Jobs => "/api/jobs",
            Route::Job => "/api/jobs/{id}",
            Route::Login => "/api/login",
            Route::Me => "/api/me",
            Route::Compute => "/api/compute",
            Route::Work => "/api/work",
            Route::Index => "/",
            Route::Health => "/health",
            Route::Metrics => "/metrics",
            Route::Unmatched => "unmatched",
        }
    }

    /// The exported label value (see the module docs for `:id`).
    pub(crate) fn label(self) -> &'static str {
        match self {
            Route::Item => "/api/items/:id",
            Route::Job => "/api/jobs/:id",
            other => other.template(),
        }
    }

    /// The route whose template axum matched.
    pub(crate) fn from_template(t: Option<&str>) -> Route {
        t.and_then(|t| Route::ROUTED.into_iter().find(|r| r.template() == t))
            .unwrap_or(Route::Unmatched)
    }
}

impl EncodeLabelValue for Route {
    fn encode(&self, encoder: &mut LabelValueEncoder<'_>) -> Result<(), std::fmt::Error> {
        encoder.write_str(self.label())
    }
}

/// Request method, with everything unusual folded into `OTHER`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Method {
    Get,
    Head,
    Post,
    Put,
    Delete,
    Patch,
    Options,
    Other,
}

impl Method {
    pub(crate) fn of(m: &axum::http::Method) -> Method {
        use axum::http::Method as M;
        match *m {
            M::GET => Method::Get,
            M::HEAD => Method::Head,
            M::POST => Method::Post,
            M::PUT => Method::Put,
            M::DELETE => Method::Delete,
            M::PATCH => Method::Patch,
            M::OPTIONS => Method::Options,
            _ => Method::Other,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Head => "HEAD",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Delete => "DELETE",
            Method::Patch => "PATCH",
            Method::Options => "OPTIONS",
            Method::Other => "OTHER",
        }
    }
}

impl EncodeLabelValue for Method {
    fn encode(&self, encoder: &mut LabelValueEncoder<'_>) -> Result<(), std::fmt::Error> {
        encoder.write_str(self.as_str())
    }
}

/// Labels of `gauntlet_demo_http_requests_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct ReqLabels {
    pub(crate) route: Route,
    pub(crate) method: Method,
    pub(crate) status: u16,
}

/// Labels of `gauntlet_demo_http_request_duration_seconds`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct RouteLabels {
    pub(crate) route: Route,
    pub(crate) method: Method,
}

/// Labels of `gauntlet_demo_jobs`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct JobLabels {
    pub(crate) status: JobStatus,
}

/// Every metric the demo exports.
///
/// The pool's names follow HikariCP's (`hikaricp_connections_{active,idle,
/// pending,max}`, `_timeout_total`, `_acquire_seconds`, `_usage_seconds`),
/// the convention dashboards and alert rules already know: `pending > 0`
/// means clients wait for a connection.
#[derive(Debug)]
pub(crate) struct Metrics {
    registry: Registry,
    pub(crate) requests: Family<ReqLabels, Counter>,
    pub(crate) duration: Family<RouteLabels, Histogram>,
    pub(crate) cache_hits: Counter,
    pub(crate) cache_misses: Counter,
    pub(crate) cache_entries: Gauge,
    pub(crate) pool_max: Gauge,
    pub(crate) pool_active: Gauge,
    pub(crate) pool_idle: Gauge,
    pub(crate) pool_pending: Gauge,
    pub(crate) pool_acquire: Histogram,
    pub(crate) pool_usage: Histogram,
    pub(crate) pool_timeouts: Counter,
    pub(crate) jobs: Family<JobLabels, Gauge>,
    pub(crate) injected_errors: Counter,
    pub(crate) compute_rounds: Counter,
    pub(crate) workers: Gauge,
    pub(crate) workers_busy: Gauge,
    pub(crate) workers_queued: Gauge,
    pub(crate) workers_rejected: Counter,
    pub(crate) overloaded: Gauge,
    pub(crate) overload_slowed: Counter,
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
        // 100 µs .. ~13 s.
        let duration = Family::<RouteLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.0001, 2.0, 18))
        });
        registry.register(
            "gauntlet_demo_http_request_duration_seconds",
            "Time from request to response head, injected faults included",
            duration.clone(),
        );
        let mut counter = |name: &str, help: &str| {
            let c = Counter::default();
            registry.register(name, help, c.clone());
            c
        };
        let cache_hits = counter(
            "gauntlet_demo_cache_hits",
            "Item reads answered from the cache",
        );
        let cache_misses = counter(
            "gauntlet_demo_cache_misses",
            "Item reads that went to the database",
        );
        let pool_timeouts = counter(
            "gauntlet_demo_db_pool_connections_timeout",
            "Requests that got no database connection within the pool timeout (503)",
        );
        let injected_errors = counter(
            "gauntlet_demo_injected_errors",
            "500 answers injected by the configured error rate",
        );
        let compute_rounds = counter(
            "gauntlet_demo_compute_rounds",
            "Rounds of CPU work done by /api/compute",
        );
        let workers_rejected = counter(
            "gauntlet_demo_workers_rejected",
            "/api/work requests refused because the queue was full (503)",
        );
        let overload_slowed = counter(
            "gauntlet_demo_overload_slowed",
            "/api requests slowed by the configured overload",
        );
        let mut gauge = |name: &str, help: &str| {
            let g = Gauge::default();
            registry.register(name, help, g.clone());
            g
        };
        let cache_entries = gauge("gauntlet_demo_cache_entries", "Fresh items in the cache");
        let pool_max = gauge(
            "gauntlet_demo_db_pool_connections_max",
            "Database connections in the pool",
        );
        let pool_active = gauge(
            "gauntlet_demo_db_pool_connections_active",
            "Database connections checked out",
        );
        let pool_idle = gauge(
            "gauntlet_demo_db_pool_connections_idle",
            "Database connections free",
        );
        let pool_pending = gauge(
            "gauntlet_demo_db_pool_connections_pending",
            "Requests waiting for a database connection",
        );
        let workers = gauge("gauntlet_demo_workers", "Workers serving /api/work");
        let workers_busy = gauge("gauntlet_demo_workers_busy", "Workers serving a request");
        let workers_queued = gauge(
            "gauntlet_demo_workers_queued",
            "/api/work requests waiting for a worker",
        );
        let overloaded = gauge(
            "gauntlet_demo_overloaded",
            "1 while the configured overload slows /api requests",
        );
        // 10 µs .. ~5 s.
        let pool_acquire = Histogram::new(exponential_buckets(0.00001, 2.0, 20));
        registry.register(
            "gauntlet_demo_db_pool_connections_acquire_seconds",
            "Time waiting for a pooled database connection",
            pool_acquire.clone(),
        );
        let pool_usage = Histogram::new(exponential_buckets(0.00001, 2.0, 20));
        registry.register(
            "gauntlet_demo_db_pool_connections_usage_seconds",
            "Time a database connection was held (query time included)",
            pool_usage.clone(),
        );
        let jobs = Family::<JobLabels, Gauge>::default();
        registry.register("gauntlet_demo_jobs", "Async jobs by status", jobs.clone());
        Metrics {
            registry,
            requests,
            duration,
            cache_hits,
            cache_misses,
            cache_entries,
            pool_max,
            pool_active,
            pool_idle,
            pool_pending,
            pool_acquire,
            pool_usage,
            pool_timeouts,
            jobs,
            injected_errors,
            compute_rounds,
            workers,
            workers_busy,
            workers_queued,
            workers_rejected,
            overloaded,
            overload_slowed,
        }
    }

    /// OpenMetrics text exposition of the registry.
    pub(crate) fn encode(&self) -> String {
        let mut s = String::with_capacity(16 * 1024);
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut s, &self.registry);
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_map_from_templates() {
        for r in Route::ROUTED {
            assert_eq!(Route::from_template(Some(r.template())), r);
        }
        assert_eq!(Route::from_template(Some("/x")), Route::Unmatched);
        assert_eq!(Route::from_template(None), Route::Unmatched);
        assert!(Route::ROUTED.iter().all(|r| !r.label().contains('{')));
    }

    #[test]
    fn unusual_methods_fold() {
        let brew = axum::http::Method::from_bytes(b"BREW").unwrap();
        assert_eq!(Method::of(&brew), Method::Other);
        assert_eq!(Method::of(&axum::http::Method::PUT), Method::Put);
    }
}
