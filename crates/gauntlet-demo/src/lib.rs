//! # gauntlet-demo: the embedded demo service
//!
//! A small but realistic items API, served by `gauntlet demo` and started
//! in-process for plans with `target: demo`, so a new user can load-test
//! something with no setup. It is also the fixture of gauntlet's own tests,
//! so it can be told to misbehave in known ways: added latency, an error
//! rate, periodic full stalls ([`DemoConfig`]).
//!
//! It has the parts whose behaviour under load is worth seeing: a SQLite
//! database behind a bounded connection pool (pool waits and 503s appear when
//! concurrency exceeds it; [`DemoConfig::query_time`] makes queries slow), a
//! read-through cache with a TTL, async jobs, a CPU-heavy endpoint, a fixed
//! worker pool of known capacity, an overload with a known recovery time,
//! and its own Prometheus metrics, so each bottleneck rule of
//! `gauntlet-analysis` can be shown against it.
//!
//! ```no_run
//! # async fn demo() -> Result<(), gauntlet_demo::DemoError> {
//! use gauntlet_demo::{DemoConfig, DemoServer, LatencyModel};
//! let config = DemoConfig {
//!     latency: "lognormal:5ms:50ms".parse().unwrap_or(LatencyModel::None),
//!     seed_items: 1000,
//!     ..DemoConfig::default()
//! };
//! let server = DemoServer::start(config, "127.0.0.1:0".parse().unwrap()).await?;
//! println!("load-test {}", server.base_url());
//! server.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! # Wire contract
//! HTTP/1.1 and HTTP/2 over cleartext (h2c with prior knowledge) on the same
//! port, `TCP_NODELAY` on every connection. Bodies are JSON
//! (`Content-Type: application/json`) unless stated.
//!
//! ## Items
//! An item is
//! `{"id": int, "name": string, "data": any JSON, "tags": [string], "version": int, "created_at": RFC3339, "updated_at": RFC3339}`;
//! timestamps are UTC with milliseconds (`2025-01-31T12:00:00.123Z`).
//!
//! | request | success | notes |
//! |---|---|---|
//! | `POST /api/items` | 201 item, `Location: /api/items/{id}` | version 1 |
//! | `GET /api/items/{id}` | 200 item, `X-Cache: HIT` or `MISS` | 404 if missing |
//! | `PUT /api/items/{id}` | 200 item | replaces all fields, version + 1; 404 if missing |
//! | `DELETE /api/items/{id}` | 204, no body | 404 if missing |
//! | `GET /api/items?page=1&per_page=20&q=text` | 200 `{"items": [...], "page", "per_page", "total"}` | id order |
//!
//! The write body (POST and PUT) is `{"name": string, "data": any, "tags": [string]}`:
//! `name` is required, 1 to 200 characters, not only whitespace; `data`
//! defaults to `null` and `tags` to `[]`; other fields are ignored. It must be
//! sent with `Content-Type: application/json`.
//!
//! Listing: `page` is a whole number >= 1 (default 1), `per_page` 1 to 100
//! (default 20); anything else, including `per_page=500`, is a 400. `q`
//! keeps items whose name contains it (case-insensitive for ASCII; `%` and
//! `_` are literal). `total` counts all matching items.
//!
//! Cache: `GET /api/items/{id}` reads through a cache of up to
//! `cache_capacity` items living `cache_ttl`. The first read after a create
//! or an update is a `MISS` (writes invalidate, they do not fill), the next
//! read a `HIT`. Deletes invalidate too. Every answer after the lookup
//! carries `X-Cache` (a 404 or 503 after a miss says `MISS`), so the
//! headers a client counts equal `gauntlet_demo_cache_hits_total` and
//! `gauntlet_demo_cache_misses_total`.
//!
//! ## Jobs
//! | request | success | notes |
//! |---|---|---|
//! | `POST /api/jobs`, optional body `{"duration_ms": int}` | 202 job, `Location: /api/jobs/{id}` | 0 to 600000 ms; default `job_duration`; status `pending` |
//! | `GET /api/jobs/{id}` | 200 job | 404 if unknown or forgotten |
//!
//! A job is `{"id": int, "status": "pending"|"running"|"done", "created_at": RFC3339, "completed_at": null|RFC3339, "result": null|{"duration_ms": int, "checksum": int}}`.
//! It is pending for the first 10% of its duration, running until its
//! duration has passed, then done. Done jobs are forgotten 10 minutes after
//! they finished, and at most 100 000 jobs are kept (oldest dropped first).
//! The jobs body needs no `Content-Type`.
//!
//! ## Sessions
//! | request | success | failure |
//! |---|---|---|
//! | `POST /api/login` `{"username", "password"}` | 200 `{"token": "tok-<username>", "username"}` | 422 bad user name, 401 `invalid_credentials` |
//! | `GET /api/me`, `Authorization: Bearer <token>` | 200 `{"username"}` | 401 `unauthorized` |
//!
//! Every user exists and its password is `pw-<username>`, so a CSV of test
//! users is easy to write; user names are 1 to 100 ASCII letters, digits,
//! `_`, `.` or `-`. Tokens never expire. 401 answers carry
//! `WWW-Authenticate: Bearer`.
//!
//! ## Load shapes
//! | request | success | failure |
//! |---|---|---|
//! | `GET /api/compute?rounds=N` | 200 `{"rounds": int, "checksum": string}` after N rounds of CPU work (default `compute_rounds`) | 400 `invalid_query` if N is not 0 to 1 000 000 000 |
//! | `GET /api/work` | 200 `{"worker": int, "queued_ms": number, "service_ms": number}` after `service_time` on one of `workers` | 503 `queue_full` when `work_queue` requests already wait |
//!
//! `/api/compute` runs on a blocking thread: the CPU saturates while
//! `/metrics` still answers. The checksum is a decimal string (a 64-bit
//! value JSON numbers cannot hold exactly). `/api/work`'s capacity is
//! exactly `workers / service_time` requests per second: each worker paces
//! its requests on its own clock, so a late timer does not lower it.
//!
//! ## Operations
//! - `GET /` → 200 with the list of endpoints (so a quick test of the bare URL gets 200).
//! - `GET /health` → 200 `{"status": "ok"}`.
//! - `GET /metrics` → OpenMetrics text
//!   (`application/openmetrics-text; version=1.0.0`):
//!   `gauntlet_demo_http_requests_total{route,method,status}`,
//!   `gauntlet_demo_http_request_duration_seconds{route,method}` (histogram),
//!   `gauntlet_demo_cache_hits_total`, `gauntlet_demo_cache_misses_total`,
//!   `gauntlet_demo_cache_entries`; the pool with HikariCP's names:
//!   `gauntlet_demo_db_pool_connections_max`, `_active`, `_idle`, `_pending`
//!   (gauges; pending are requests waiting for a connection),
//!   `gauntlet_demo_db_pool_connections_acquire_seconds` and `_usage_seconds`
//!   (histograms), `gauntlet_demo_db_pool_connections_timeout_total`;
//!   `gauntlet_demo_compute_rounds_total`; `gauntlet_demo_workers`,
//!   `gauntlet_demo_workers_busy`, `gauntlet_demo_workers_queued`,
//!   `gauntlet_demo_workers_rejected_total`; `gauntlet_demo_overloaded` (0 or
//!   1), `gauntlet_demo_overload_slowed_total`;
//!   `gauntlet_demo_jobs{status}`, `gauntlet_demo_injected_errors_total`.
//!   `route` is the route template with `:id` for the id
//!   (`/api/items/:id`), or `unmatched`; `method` is `GET`, `HEAD`, `POST`,
//!   `PUT`, `DELETE`, `PATCH`, `OPTIONS` or `OTHER`.
//!
//! Faults ([`DemoConfig::latency`], [`DemoConfig::error_rate`],
//! [`DemoConfig::stall`], [`DemoConfig::overload`]) apply to `/api` and `/api/*` only, never to
//! `/health` or `/metrics`.
//!
//! ## Errors
//! Every 4xx and 5xx answer from the service is
//! `{"error": {"code": "snake_case_code", "message": "human text"}}`:
//!
//! | status | code | when |
//! |---|---|---|
//! | 400 | `malformed_json` | the body is not JSON |
//! | 400 | `invalid_id` | a path id is not a 64-bit integer |
//! | 400 | `invalid_query` | a bad `page`/`per_page` or query string |
//! | 400 | `bad_body` | the body could not be read |
//! | 401 | `invalid_credentials` | wrong password at `/api/login` |
//! | 401 | `unauthorized` | missing or invalid bearer token at `/api/me` |
//! | 404 | `not_found` | unknown route, item or job |
//! | 405 | `method_not_allowed` | known route, wrong method |
//! | 413 | `payload_too_large` | body above `max_body_bytes` |
//! | 415 | `unsupported_media_type` | item body without `Content-Type: application/json` |
//! | 422 | `validation_failed` | JSON of the wrong shape: missing or invalid field |
//! | 500 | `injected_error` | picked by `error_rate` |
//! | 500 | `database_error` | SQLite failed |
//! | 500 | `internal_error` | a worker thread failed |
//! | 503 | `pool_exhausted` | no database connection free within `pool_timeout` |
//! | 503 | `queue_full` | `/api/work` with `work_queue` requests already waiting |
//!
//! Requests that are not HTTP at all (a broken request line, bad headers)
//! are refused by the HTTP layer before the service sees them, with its own
//! plain answer.

mod api;
mod cache;
mod compute;
mod error;
mod faults;
mod jobs;
mod metrics;
mod store;
mod workers;

pub use faults::{LatencyModel, LatencyParseError, Overload, OverloadParseError, Stall};

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How long [`DemoServer::shutdown`] lets in-flight requests finish.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Longest query time, service time or overload latency.
const MAX_HOLD: Duration = Duration::from_secs(60);

/// The conditions the service runs with. The defaults are a healthy,
/// fault-free service; tests and plans change only what they need.
#[derive(Debug, Clone)]
pub struct DemoConfig {
    /// SQLite connections in the pool (>= 1), i.e. how many database calls
    /// run at once. Default 8.
    pub pool_size: usize,
    /// Longest wait for a pooled connection before answering 503
    /// `pool_exhausted`. Default 5 s.
    pub pool_timeout: Duration,
    /// How long `GET /api/items/{id}` may answer from the cache. Default 30 s.
    pub cache_ttl: Duration,
    /// Most cached items (0 disables the cache). Default 10 000.
    pub cache_capacity: usize,
    /// Time from job creation to `done` when the request names none.
    /// Default 2 s.
    pub job_duration: Duration,
    /// Latency added to each `/api` request. Default none.
    pub latency: LatencyModel,
    /// Fraction (0 to 1) of `/api` requests answered 500 `injected_error`.
    /// Default 0.
    pub error_rate: f64,
    /// Periodic full stall of `/api` responses. Default none.
    pub stall: Option<Stall>,
    /// Items inserted at start (`seed item N`, tags `seed` and a colour).
    /// Default 0.
    pub seed_items: usize,
    /// Database file (created if missing, reused if present). `None` uses a
    /// fresh file in a temporary directory removed on shutdown. Default
    /// `None`.
    pub db_path: Option<PathBuf>,
    /// Larger request bodies get 413 `payload_too_large`. Default 1 MiB.
    pub max_body_bytes: usize,
    /// Extra time every database call holds its connection (a slow query),
    /// so a pool of `pool_size` saturates at `pool_size / query_time` calls
    /// per second. At most 60 s. Default 0.
    pub query_time: Duration,
    /// Rounds of CPU work per `GET /api/compute` when the request names
    /// none (`?rounds=N`); about a millisecond of one core per million.
    /// Default 1 000 000.
    pub compute_rounds: u64,
    /// Workers serving `GET /api/work` (>= 1). Default 4.
    pub workers: usize,
    /// Time each `GET /api/work` takes on its worker, so the capacity is
    /// `workers / service_time` requests per second. At most 60 s.
    /// Default 10 ms (400 req/s with 4 workers).
    pub service_time: Duration,
    /// Most `GET /api/work` requests waiting for a worker; more get 503
    /// `queue_full` at once. Default 10 000.
    pub work_queue: usize,
    /// Slow every `/api` request for a while after the arrival rate passed
    /// a limit, with a known recovery time. Default none.
    pub overload: Option<Overload>,
}

impl Default for DemoConfig {
    fn default() -> Self {
        DemoConfig {
            pool_size: 8,
            pool_timeout: Duration::from_secs(5),
            cache_ttl: Duration::from_secs(30),
            cache_capacity: 10_000,
            job_duration: Duration::from_secs(2),
            latency: LatencyModel::None,
            error_rate: 0.0,
            stall: None,
            seed_items: 0,
            db_path: None,
            max_body_bytes: 1024 * 1024,
            query_time: Duration::ZERO,
            compute_rounds: 1_000_000,
            workers: 4,
            service_time: Duration::from_millis(10),
            work_queue: 10_000,
            overload: None,
        }
    }
}

impl DemoConfig {
    /// Check the settings that would make the service misbehave in ways
    /// nobody asked for; [`DemoServer::start`] calls it, callers may call it
    /// earlier to report errors before starting anything.
    pub fn validate(&self) -> Result<(), DemoError> {
        let invalid = |field: &'static str, reason: &'static str| {
            Err(DemoError::InvalidConfig { field, reason })
        };
        if self.pool_size == 0 {
            return invalid("pool_size", "the pool needs at least one connection");
        }
        if !(0.0..=1.0).contains(&self.error_rate) {
            return invalid("error_rate", "must be between 0 and 1");
        }
        if self.job_duration > jobs::MAX_DURATION {
            return invalid("job_duration", "must be at most 10 minutes");
        }
        if let Err(reason) = self.latency.check() {
            return invalid("latency", reason);
        }
        if self.query_time > MAX_HOLD {
            return invalid("query_time", "must be at most 60 s");
        }
        if self.compute_rounds > compute::MAX_ROUNDS {
            return invalid("compute_rounds", "must be at most 1 000 000 000");
        }
        if self.workers == 0 {
            return invalid("workers", "the worker pool needs at least one worker");
        }
        if self.service_time > MAX_HOLD {
            return invalid("service_time", "must be at most 60 s");
        }
        if let Some(o) = self.overload {
            if !(o.above.is_finite() && o.above > 0.0) {
                return invalid("overload", "the rate must be above 0 requests per second");
            }
            if o.latency > MAX_HOLD || o.recovery > Duration::from_secs(3600) {
                return invalid(
                    "overload",
                    "the latency must be at most 60 s and the recovery at most 1 hour",
                );
            }
        }
        if let Some(s) = self.stall {
            if s.every.is_zero() {
                return invalid("stall", "`every` must be above zero");
            }
            if s.duration >= s.every {
                return invalid("stall", "`duration` must be shorter than `every`");
            }
        }
        Ok(())
    }
}

/// Why the service could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DemoError {
    /// A setting is out of range (see [`DemoConfig::validate`]).
    #[error("demo setting `{field}`: {reason}")]
    InvalidConfig {
        /// The [`DemoConfig`] field.
        field: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// Binding the port failed (in use, not permitted, bad address).
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
    /// The temporary directory for the database could not be created.
    #[error("cannot create a temporary directory for the database: {0}")]
    TempDir(#[source] std::io::Error),
    /// The runtime shut down while the database was being opened.
    #[error("the runtime shut down while the demo was starting")]
    Interrupted,
    /// The database could not be opened, configured or seeded.
    #[error("database {}: {source}", path.display())]
    Database {
        /// The database file.
        path: PathBuf,
        /// What SQLite said.
        source: rusqlite::Error,
    },
}

/// A running demo service. Stop it with [`DemoServer::shutdown`]; dropping
/// it also stops the server, without waiting.
#[derive(Debug)]
pub struct DemoServer {
    addr: SocketAddr,
    db_path: PathBuf,
    stop: CancellationToken,
    task: Option<tokio::task::JoinHandle<()>>,
    // Dropped (directory removed) after the server task ended.
    _tmp: Option<tempfile::TempDir>,
}

impl DemoServer {
    /// Open the database, seed it, bind `bind` (port 0 picks a free port)
    /// and serve in a background task on the current tokio runtime.
    ///
    /// Returns once the port is bound: requests can be sent at once.
    pub async fn start(config: DemoConfig, bind: SocketAddr) -> Result<DemoServer, DemoError> {
        config.validate()?;
        let (db_path, tmp) = match &config.db_path {
            Some(p) => (p.clone(), None),
            None => {
                let dir = tempfile::Builder::new()
                    .prefix("gauntlet-demo-")
                    .tempdir()
                    .map_err(DemoError::TempDir)?;
                (dir.path().join("demo.sqlite"), Some(dir))
            }
        };
        // Opening, migrating and seeding are blocking file I/O.
        let (path, size, timeout, seed, query_time) = (
            db_path.clone(),
            config.pool_size,
            config.pool_timeout,
            config.seed_items,
            config.query_time,
        );
        let opened = tokio::task::spawn_blocking(move || {
            let pool = store::Pool::open_slow(&path, size, timeout, query_time)?;
            pool.seed(seed)?;
            Ok(pool)
        })
        .await;
        let pool = match opened {
            Ok(r) => r.map_err(|source| DemoError::Database {
                path: db_path.clone(),
                source,
            })?,
            Err(e) => match e.try_into_panic() {
                Ok(panic) => std::panic::resume_unwind(panic),
                Err(_) => return Err(DemoError::Interrupted),
            },
        };
        let listener = tokio::net::TcpListener::bind(bind)
            .await
            .map_err(|source| DemoError::Bind { addr: bind, source })?;
        let addr = listener
            .local_addr()
            .map_err(|source| DemoError::Bind { addr: bind, source })?;

        let stop = CancellationToken::new();
        let metrics = metrics::Metrics::new();
        let slowed = metrics.overload_slowed.clone();
        let state = Arc::new(api::AppState {
            pool,
            cache: cache::ItemCache::new(config.cache_ttl, config.cache_capacity),
            jobs: jobs::Jobs::new(jobs::MAX_JOBS),
            metrics,
            // Stall phases count from here, when the service can answer.
            faults: faults::Faults::new(
                config.latency.clone(),
                config.error_rate,
                config.stall,
                stop.child_token(),
            )
            .with_overload(config.overload, slowed),
            job_duration: config.job_duration,
            workers: workers::Workers::new(config.workers, config.service_time, config.work_queue),
            compute_rounds: config.compute_rounds,
        });
        let app = api::router(state, config.max_body_bytes);
        let signal = stop.clone();
        let task = tokio::spawn(async move {
            use axum::serve::ListenerExt;
            let listener = listener.tap_io(|tcp| {
                // Best effort: a socket that refuses it still works.
                let _ = tcp.set_nodelay(true);
            });
            // `serve` only returns early on a listener error, which tokio's
            // listener does not produce (it retries accept errors).
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async move { signal.cancelled().await })
                .await;
        });
        Ok(DemoServer {
            addr,
            db_path,
            stop,
            task: Some(task),
            _tmp: tmp,
        })
    }

    /// The bound address (with the real port when 0 was asked for).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://IP:PORT`, the base URL for requests.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The database file in use (inside a temporary directory unless
    /// [`DemoConfig::db_path`] was set), for inspection with SQLite tools.
    pub fn db_path(&self) -> &Path {
        &self.db_path
    }

    /// Stop gracefully: stop accepting, cut injected delays and stalls short,
    /// let in-flight requests finish (at most 5 s, then the server task is
    /// aborted), and remove the temporary database.
    pub async fn shutdown(mut self) {
        self.stop.cancel();
        if let Some(mut task) = self.task.take()
            && tokio::time::timeout(SHUTDOWN_GRACE, &mut task)
                .await
                .is_err()
        {
            task.abort();
            let _ = task.await;
        }
        // `self` drops here: the temporary directory goes with it.
    }
}

impl Drop for DemoServer {
    fn drop(&mut self) {
        // A server dropped without `shutdown` still stops (gracefully, in
        // the background).
        self.stop.cancel();
    }
}
