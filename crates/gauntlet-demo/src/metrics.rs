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
    pub(crate) const ROUTED: [Route; 9] = [
        Route::Items,
        Route::Item,
        Route::Jobs,
        Route::Job,
        Route::Login,
        Route::Me,
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
#[derive(Debug)]
pub(crate) struct Metrics {
    registry: Registry,
    pub(crate) requests: Family<ReqLabels, Counter>,
    pub(crate) duration: Family<RouteLabels, Histogram>,
    pub(crate) cache_hits: Counter,
    pub(crate) cache_misses: Counter,
    pub(crate) cache_entries: Gauge,
    pub(crate) pool_size: Gauge,
    pub(crate) pool_in_use: Gauge,
    pub(crate) pool_wait: Histogram,
    pub(crate) pool_timeouts: Counter,
    pub(crate) jobs: Family<JobLabels, Gauge>,
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
        // 100 µs .. ~13 s.
        let duration = Family::<RouteLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.0001, 2.0, 18))
        });
        registry.register(
            "gauntlet_demo_http_request_duration_seconds",
            "Time from request to response head, injected faults included",
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
            "Fresh items in the cache",
            cache_entries.clone(),
        );
        let pool_size = Gauge::default();
        registry.register(
            "gauntlet_demo_db_pool_size",
            "Database connections in the pool",
            pool_size.clone(),
        );
        let pool_in_use = Gauge::default();
        registry.register(
            "gauntlet_demo_db_pool_in_use",
            "Database connections checked out",
            pool_in_use.clone(),
        );
        // 10 µs .. ~5 s.
        let pool_wait = Histogram::new(exponential_buckets(0.00001, 2.0, 20));
        registry.register(
            "gauntlet_demo_db_pool_wait_seconds",
            "Time waiting for a pooled database connection",
            pool_wait.clone(),
        );
        let pool_timeouts = Counter::default();
        registry.register(
            "gauntlet_demo_db_pool_timeouts",
            "Requests that got no database connection in time (503)",
            pool_timeouts.clone(),
        );
        let jobs = Family::<JobLabels, Gauge>::default();
        registry.register("gauntlet_demo_jobs", "Async jobs by status", jobs.clone());
        let injected_errors = Counter::default();
        registry.register(
            "gauntlet_demo_injected_errors",
            "500 answers injected by the configured error rate",
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
