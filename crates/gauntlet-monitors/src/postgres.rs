//! PostgreSQL's own statistics (`pg_stat_database`, `pg_stat_activity`,
//! `max_connections`), turned into interval readings.
//!
//! The counters of `pg_stat_database` are cumulative per database, so the
//! readings are differences over the time between two samples, summed over
//! the databases asked for (all when none is named). `pg_stat_activity` is a
//! picture of now: connections by state, and those waiting by wait event.
//! Note that PostgreSQL's statistics are flushed by each backend about once a
//! second and when it goes idle, so an interval shorter than that reads in
//! steps.

use std::collections::BTreeMap;
use std::time::Duration;
use tokio::time::{Instant, timeout};

/// Why a Postgres sample could not be taken.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PostgresError {
    /// Connecting or a query failed.
    #[error("postgres monitor: {0}")]
    Query(#[from] tokio_postgres::Error),
    /// No answer within the timeout.
    #[error("postgres monitor: no answer within {0:?}")]
    Timeout(Duration),
}

/// One sample of the server's statistics.
#[derive(Debug, Clone)]
pub struct PgSample {
    /// Summed `pg_stat_database` counters, by column name.
    pub counters: BTreeMap<&'static str, f64>,
    /// Connections by `state` (`active`, `idle`, `idle in transaction`, …).
    pub by_state: BTreeMap<String, u64>,
    /// Connections waiting, by `wait_event_type:wait_event` (client reads excluded).
    pub waiting: BTreeMap<String, u64>,
    /// All client connections.
    pub connections: u64,
    /// The server's `max_connections`.
    pub max_connections: u64,
    /// When the answer arrived.
    pub at: Instant,
}

/// The `pg_stat_database` columns a sample keeps.
const COUNTERS: [&str; 7] = [
    "xact_commit",
    "xact_rollback",
    "blks_read",
    "blks_hit",
    "deadlocks",
    "temp_files",
    "temp_bytes",
];

/// What a Postgres monitor records each interval.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum PgReading {
    /// Transactions (commits and rollbacks) per second.
    TransactionsPerSecond,
    /// Rollbacks per second.
    RollbacksPerSecond,
    /// Buffer hits ÷ (hits + reads) of the interval; none without block access.
    BufferHitRatio,
    /// Deadlocks per second.
    DeadlocksPerSecond,
    /// Temporary files written per second (queries spilling to disk).
    TempFilesPerSecond,
    /// Connections in state `active`.
    ActiveConnections,
    /// Connections in state `idle in transaction` (held, doing nothing).
    IdleInTransaction,
    /// Connections waiting on a lock.
    WaitingOnLocks,
    /// Client connections ÷ `max_connections`.
    ConnectionsUsedRatio,
}

impl PgReading {
    /// The reading between two samples, or `None` when it cannot be computed.
    pub fn read(self, before: &PgSample, after: &PgSample) -> Option<f64> {
        let dt = after.at.checked_duration_since(before.at)?.as_secs_f64();
        let delta = |c: &str| -> Option<f64> {
            let (old, new) = (*before.counters.get(c)?, *after.counters.get(c)?);
            Some(if new >= old { new - old } else { new })
        };
        let per_second = |c: &str| (dt > 0.0).then(|| delta(c).map(|d| d / dt)).flatten();
        match self {
            PgReading::TransactionsPerSecond => {
                (dt > 0.0).then_some((delta("xact_commit")? + delta("xact_rollback")?) / dt)
            }
            PgReading::RollbacksPerSecond => per_second("xact_rollback"),
            PgReading::DeadlocksPerSecond => per_second("deadlocks"),
            PgReading::TempFilesPerSecond => per_second("temp_files"),
            PgReading::BufferHitRatio => {
                let (hit, read) = (delta("blks_hit")?, delta("blks_read")?);
                (hit + read > 0.0).then(|| hit / (hit + read))
            }
            PgReading::ActiveConnections => {
                Some(after.by_state.get("active").copied().unwrap_or(0) as f64)
            }
            PgReading::IdleInTransaction => Some(
                after
                    .by_state
                    .get("idle in transaction")
                    .copied()
                    .unwrap_or(0) as f64,
            ),
            PgReading::WaitingOnLocks => Some(
                after
                    .waiting
                    .iter()
                    .filter(|(k, _)| k.starts_with("Lock:"))
                    .map(|(_, n)| *n)
                    .sum::<u64>() as f64,
            ),
            PgReading::ConnectionsUsedRatio => (after.max_connections > 0)
                .then(|| after.connections as f64 / after.max_connections as f64),
        }
    }
}

/// A connection to one server, kept across samples; its own queries are
/// left out of the activity counts.
pub struct PgProbe {
    client: tokio_postgres::Client,
    databases: Vec<String>,
    limit: Duration,
    _driver: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for PgProbe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgProbe")
            .field("databases", &self.databases)
            .finish_non_exhaustive()
    }
}

impl PgProbe {
    /// Connect with a libpq connection string or URL
    /// (`host=127.0.0.1 user=postgres dbname=test`,
    /// `postgresql://user@host/db`); `databases` limits the counters to these
    /// (all when empty).
    pub async fn connect(
        conninfo: &str,
        databases: Vec<String>,
        limit: Duration,
    ) -> Result<PgProbe, PostgresError> {
        let (client, conn) = timeout(
            limit,
            tokio_postgres::connect(conninfo, tokio_postgres::NoTls),
        )
        .await
        .map_err(|_| PostgresError::Timeout(limit))??;
        let driver = tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(PgProbe {
            client,
            databases,
            limit,
            _driver: driver,
        })
    }

    /// Take one sample (three short queries on the kept connection).
    pub async fn sample(&mut self) -> Result<PgSample, PostgresError> {
        timeout(self.limit, self.query())
            .await
            .map_err(|_| PostgresError::Timeout(self.limit))?
    }

    async fn query(&self) -> Result<PgSample, PostgresError> {
        let cols = COUNTERS
            .iter()
            .map(|c| format!("coalesce(sum({c}), 0)::float8"))
            .collect::<Vec<_>>()
            .join(", ");
        let row = self
            .client
            .query_one(
                &format!(
                    "SELECT {cols} FROM pg_stat_database \
                     WHERE datname IS NOT NULL AND (cardinality($1::text[]) = 0 OR datname = ANY($1))"
                ),
                &[&self.databases],
            )
            .await?;
        let counters = COUNTERS
            .iter()
            .enumerate()
            .map(|(i, c)| (*c, row.get::<_, f64>(i)))
            .collect();
        let rows = self
            .client
            .query(
                "SELECT coalesce(state, ''), coalesce(wait_event_type || ':' || wait_event, ''), count(*) \
                 FROM pg_stat_activity \
                 WHERE backend_type = 'client backend' AND pid <> pg_backend_pid() \
                 GROUP BY 1, 2",
                &[],
            )
            .await?;
        let mut by_state = BTreeMap::new();
        let mut waiting = BTreeMap::new();
        let mut connections = 0;
        for r in rows {
            let (state, wait, n): (String, String, i64) = (r.get(0), r.get(1), r.get(2));
            let n = n as u64;
            connections += n;
            *by_state.entry(state).or_insert(0) += n;
            if !wait.is_empty() && !wait.starts_with("Client:") {
                *waiting.entry(wait).or_insert(0) += n;
            }
        }
        // Ours counts against max_connections too.
        connections += 1;
        let max: String = self
            .client
            .query_one("SHOW max_connections", &[])
            .await?
            .get(0);
        Ok(PgSample {
            counters,
            by_state,
            waiting,
            connections,
            max_connections: max.parse().unwrap_or(0),
            at: Instant::now(),
        })
    }
}
