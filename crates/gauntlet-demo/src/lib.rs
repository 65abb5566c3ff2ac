//! # gauntlet-demo: the embedded demo service
//!
//! A realistic little items API that a new user can load-test with no setup
//! (`target: demo`), and that tests use to create known conditions:
//!
//! - `POST/GET /api/items`, `GET/PUT/DELETE /api/items/{id}`: items stored in
//!   SQLite through a connection pool of configurable size (pool wait and
//!   in-use are exported, so pool saturation is visible);
//! - a read-through cache with TTL on `GET /api/items/{id}`, invalidated on
//!   write, answering `X-Cache: HIT|MISS`;
//! - async jobs (`POST /api/jobs` → 202, `GET /api/jobs/{id}` → pending,
//!   running, done) for long-job SLAs;
//! - `/metrics` in Prometheus text format, `/health`;
//! - fault injection on `/api/*`: added latency (fixed, uniform or
//!   log-normal), an error rate, and periodic full stalls (the classic
//!   coordinated-omission test).
//!
//! Every error is JSON `{"error": {"code", "message"}}`; no input panics.

mod api;
mod faults;
mod metrics;
mod store;

pub use faults::{LatencyModel, Stall};

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Conditions the service runs with.
#[derive(Debug, Clone)]
pub struct DemoConfig {
    /// SQLite connection pool size.
    pub pool_size: usize,
    /// Longest wait for a pooled connection before answering 503.
    pub pool_timeout: Duration,
    /// Read-through cache TTL.
    pub cache_ttl: Duration,
    /// Most cached items.
    pub cache_capacity: usize,
    /// Time from job creation to done.
    pub job_duration: Duration,
    /// Latency added to each `/api` request.
    pub latency: LatencyModel,
    /// Share of `/api` requests answered 500.
    pub error_rate: f64,
    /// Periodic stall of every `/api` response.
    pub stall: Option<Stall>,
    /// Items inserted at start.
    pub seed_items: usize,
    /// Database file; `None` uses a temporary file removed on shutdown.
    pub db_path: Option<PathBuf>,
    /// Larger request bodies get 413.
    pub max_body_bytes: usize,
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
        }
    }
}

/// Why the service could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DemoError {
    /// Binding the port failed.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// Address.
        addr: SocketAddr,
        /// Cause.
        source: std::io::Error,
    },
    /// The database could not be opened or prepared.
    #[error("database: {0}")]
    Database(String),
}

/// A running demo service.
#[derive(Debug)]
pub struct DemoServer {
    addr: SocketAddr,
    stop: CancellationToken,
    task: tokio::task::JoinHandle<()>,
    _tmp: Option<tempfile::TempDir>,
}

impl DemoServer {
    /// Start on `bind` (use port 0 for a free port).
    pub async fn start(config: DemoConfig, bind: SocketAddr) -> Result<DemoServer, DemoError> {
        let (path, tmp) = match &config.db_path {
            Some(p) => (p.clone(), None),
            None => {
                let dir = tempfile::tempdir().map_err(|e| DemoError::Database(e.to_string()))?;
                (dir.path().join("demo.sqlite"), Some(dir))
            }
        };
        let pool = store::Pool::open(&path, config.pool_size.max(1), config.pool_timeout)
            .map_err(DemoError::Database)?;
        if config.seed_items > 0 {
            pool.seed(config.seed_items)
                .await
                .map_err(DemoError::Database)?;
        }
        let state = Arc::new(api::AppState::new(config, pool));
        let listener = tokio::net::TcpListener::bind(bind)
            .await
            .map_err(|source| DemoError::Bind { addr: bind, source })?;
        let addr = listener
            .local_addr()
            .map_err(|source| DemoError::Bind { addr: bind, source })?;
        let stop = CancellationToken::new();
        let app = api::router(state);
        let s2 = stop.clone();
        let task = tokio::spawn(async move {
            use axum::serve::ListenerExt;
            let listener = listener.tap_io(|s| {
                let _ = s.set_nodelay(true);
            });
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async move { s2.cancelled().await })
                .await;
        });
        Ok(DemoServer {
            addr,
            stop,
            task,
            _tmp: tmp,
        })
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stop accepting, finish in-flight requests, remove the temporary database.
    pub async fn shutdown(self) {
        self.stop.cancel();
        let _ = tokio::time::timeout(Duration::from_secs(5), self.task).await;
    }
}
