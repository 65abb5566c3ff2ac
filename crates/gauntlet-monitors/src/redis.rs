//! Redis's own counters, read with `INFO` and turned into interval readings.
//!
//! `INFO` is what Redis knows of itself: commands processed, keyspace hits
//! and misses, clients, memory, evictions. Like a scrape, it is cumulative,
//! so each reading here is the difference of two samples over the time
//! between them. A restart (counters going down) counts the new values as
//! the interval's whole increase, as Prometheus's `rate()` does.

use std::collections::BTreeMap;
use std::time::Duration;
use tokio::time::{Instant, timeout};

/// Why a Redis sample could not be taken.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RedisError {
    /// The URL is not a `redis://` URL the client takes.
    #[error("redis monitor `{url}`: {source}")]
    Url {
        /// The URL as given (password redacted by the caller).
        url: String,
        /// Why.
        #[source]
        source: ::redis::RedisError,
    },
    /// Connecting or `INFO` failed.
    #[error("redis monitor `{url}`: {source}")]
    Command {
        /// The URL.
        url: String,
        /// Why.
        #[source]
        source: ::redis::RedisError,
    },
    /// No answer within the timeout.
    #[error("redis monitor `{url}`: no answer within {timeout:?}")]
    Timeout {
        /// The URL.
        url: String,
        /// The bound.
        timeout: Duration,
    },
}

/// One `INFO` answer: every `field:value` line, and when it arrived.
#[derive(Debug, Clone)]
pub struct InfoSample {
    /// Fields by name (`total_commands_processed`, `keyspace_hits`, …).
    pub fields: BTreeMap<String, String>,
    /// When the answer arrived.
    pub at: Instant,
}

impl InfoSample {
    /// Parse the text of an `INFO` answer (sections, `#` headers, CRLF).
    pub fn parse(text: &str, at: Instant) -> InfoSample {
        let fields = text
            .lines()
            .map(|l| l.trim_end_matches('\r'))
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        InfoSample { fields, at }
    }

    /// A numeric field, if present.
    pub fn number(&self, field: &str) -> Option<f64> {
        self.fields.get(field)?.parse().ok()
    }
}

/// What a Redis monitor records each interval.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum RedisReading {
    /// Commands processed per second (`total_commands_processed`).
    OpsPerSecond,
    /// Keyspace hits ÷ (hits + misses) of the interval; none without lookups.
    HitRatio,
    /// Keyspace hits per second.
    HitsPerSecond,
    /// Keyspace misses per second.
    MissesPerSecond,
    /// Keys evicted per second (`evicted_keys`).
    EvictionsPerSecond,
    /// Connected clients at the end of the interval.
    ConnectedClients,
    /// Clients blocked on a list, stream or module command.
    BlockedClients,
    /// Memory in use, bytes (`used_memory`).
    UsedMemoryBytes,
}

impl RedisReading {
    /// The reading between two samples, or `None` when it cannot be computed
    /// (a missing field, no time between them, no lookups for a ratio).
    pub fn read(self, before: &InfoSample, after: &InfoSample) -> Option<f64> {
        let dt = after.at.checked_duration_since(before.at)?.as_secs_f64();
        let per_second = |field: &str| -> Option<f64> {
            if dt <= 0.0 {
                return None;
            }
            Some(increase(before.number(field)?, after.number(field)?) / dt)
        };
        match self {
            RedisReading::OpsPerSecond => per_second("total_commands_processed"),
            RedisReading::HitsPerSecond => per_second("keyspace_hits"),
            RedisReading::MissesPerSecond => per_second("keyspace_misses"),
            RedisReading::EvictionsPerSecond => per_second("evicted_keys"),
            RedisReading::HitRatio => {
                let hits = increase(
                    before.number("keyspace_hits")?,
                    after.number("keyspace_hits")?,
                );
                let misses = increase(
                    before.number("keyspace_misses")?,
                    after.number("keyspace_misses")?,
                );
                (hits + misses > 0.0).then(|| hits / (hits + misses))
            }
            RedisReading::ConnectedClients => after.number("connected_clients"),
            RedisReading::BlockedClients => after.number("blocked_clients"),
            RedisReading::UsedMemoryBytes => after.number("used_memory"),
        }
    }
}

fn increase(old: f64, new: f64) -> f64 {
    if new >= old { new - old } else { new }
}

/// A connection to one Redis server, kept across samples.
#[derive(Debug)]
pub struct RedisProbe {
    url: String,
    conn: ::redis::aio::MultiplexedConnection,
    limit: Duration,
}

impl RedisProbe {
    /// Connect to `url` (`redis://[:password@]host:port[/db]`) within `limit`.
    pub async fn connect(url: &str, limit: Duration) -> Result<RedisProbe, RedisError> {
        let client = ::redis::Client::open(url).map_err(|source| RedisError::Url {
            url: url.to_owned(),
            source,
        })?;
        let conn = timeout(limit, client.get_multiplexed_async_connection())
            .await
            .map_err(|_| RedisError::Timeout {
                url: url.to_owned(),
                timeout: limit,
            })?
            .map_err(|source| RedisError::Command {
                url: url.to_owned(),
                source,
            })?;
        Ok(RedisProbe {
            url: url.to_owned(),
            conn,
            limit,
        })
    }

    /// Take one `INFO` sample.
    pub async fn sample(&mut self) -> Result<InfoSample, RedisError> {
        let cmd = ::redis::cmd("INFO");
        let text: String = timeout(self.limit, cmd.query_async(&mut self.conn))
            .await
            .map_err(|_| RedisError::Timeout {
                url: self.url.clone(),
                timeout: self.limit,
            })?
            .map_err(|source| RedisError::Command {
                url: self.url.clone(),
                source,
            })?;
        Ok(InfoSample::parse(&text, Instant::now()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn info_readings_are_increases_per_second_and_a_ratio_of_the_interval() {
        let t0 = Instant::now();
        let a = InfoSample::parse(
            "# Stats\r\ntotal_commands_processed:1000\r\nkeyspace_hits:90\r\nkeyspace_misses:10\r\nconnected_clients:3\r\n",
            t0,
        );
        let b = InfoSample::parse(
            "# Stats\r\ntotal_commands_processed:3000\r\nkeyspace_hits:120\r\nkeyspace_misses:40\r\nconnected_clients:5\r\n",
            t0 + Duration::from_secs(2),
        );
        assert_eq!(RedisReading::OpsPerSecond.read(&a, &b), Some(1000.0));
        assert_eq!(RedisReading::HitRatio.read(&a, &b), Some(0.5));
        assert_eq!(RedisReading::ConnectedClients.read(&a, &b), Some(5.0));
        assert_eq!(RedisReading::UsedMemoryBytes.read(&a, &b), None);
        // No lookups in the interval: no ratio, not 0 and not 1.
        assert_eq!(RedisReading::HitRatio.read(&b, &b), None);
    }
}
