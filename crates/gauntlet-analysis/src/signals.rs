//! Per-second time series of the load side and the service side, the input
//! of [`crate::correlation`] and [`crate::bottleneck`].
//!
//! A run's timeline and its monitors give one value per second per series;
//! a second a monitor missed is a gap (`None`), never a made-up value. What a
//! series measures is a typed [`Signal`] (rules look series up by it, never
//! by a name); the free-text `label` only tells a reader which process,
//! target or pool it is.

use serde::{Deserialize, Serialize};

/// What a series measures, with its unit. Rules find their inputs by this.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Signal {
    /// 95th percentile of request duration over the second, milliseconds.
    LatencyP95,
    /// 99th percentile of request duration over the second, milliseconds.
    LatencyP99,
    /// Share of failed requests over the second, 0 to 1.
    ErrorRate,
    /// Completed requests per second.
    Throughput,
    /// Requests (iterations) the executor meant to start per second.
    OfferedRate,
    /// Requests in flight (or busy VUs) at the end of the second.
    InFlight,
    /// Iterations the executor could not start per second (no free VU).
    DroppedIterations,
    /// The generator process's CPU, cores (CPU-seconds per second).
    GeneratorCpu,
    /// This machine's CPU busy share over all cores, 0 to 1.
    HostCpu,
    /// A chosen process's CPU (the service by PID or name), cores.
    ProcessCpu,
    /// Memory in use on the machine, bytes.
    MemoryUsed,
    /// A chosen process's resident memory, bytes.
    ProcessRss,
    /// Swap in use, bytes.
    SwapUsed,
    /// Share of the second a disk was busy, 0 to 1.
    DiskBusy,
    /// Disk bytes read and written per second.
    DiskBytes,
    /// Network bytes received and sent per second.
    NetworkBytes,
    /// Network interface errors per second.
    NetworkErrors,
    /// TCP retransmitted segments per second.
    TcpRetransmits,
    /// Database pool connections in use.
    DbPoolActive,
    /// Database pool size (its most connections).
    DbPoolMax,
    /// Clients waiting for a database pool connection.
    DbPoolPending,
    /// Database server sessions (connections).
    DbConnections,
    /// The database server's connection limit (`max_connections`).
    DbMaxConnections,
    /// Database sessions waiting on a lock.
    DbLockWaits,
    /// Deadlocks detected per second.
    DbDeadlocks,
    /// Cache hits over hits and misses in the second, 0 to 1.
    CacheHitRatio,
    /// Cache keys evicted per second.
    CacheEvictions,
    /// Any other resource reading (a scraped metric): correlated, never judged by a rule.
    Other,
}

/// Which side of the run a signal is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// What users see: latency, errors, throughput. Correlated against resources.
    Outcome,
    /// What the generator asked for: offered rate, in-flight, dropped iterations.
    Demand,
    /// A resource of the service, the machine or the generator.
    Resource,
}

impl Signal {
    /// Which side it is on: outcomes are correlated against resources.
    pub fn role(self) -> Role {
        match self {
            Signal::LatencyP95 | Signal::LatencyP99 | Signal::ErrorRate | Signal::Throughput => {
                Role::Outcome
            }
            Signal::OfferedRate | Signal::InFlight | Signal::DroppedIterations => Role::Demand,
            _ => Role::Resource,
        }
    }

    /// The name used in findings and tables (the serialized name).
    pub fn name(self) -> &'static str {
        match self {
            Signal::LatencyP95 => "latency-p95",
            Signal::LatencyP99 => "latency-p99",
            Signal::ErrorRate => "error-rate",
            Signal::Throughput => "throughput",
            Signal::OfferedRate => "offered-rate",
            Signal::InFlight => "in-flight",
            Signal::DroppedIterations => "dropped-iterations",
            Signal::GeneratorCpu => "generator-cpu",
            Signal::HostCpu => "host-cpu",
            Signal::ProcessCpu => "process-cpu",
            Signal::MemoryUsed => "memory-used",
            Signal::ProcessRss => "process-rss",
            Signal::SwapUsed => "swap-used",
            Signal::DiskBusy => "disk-busy",
            Signal::DiskBytes => "disk-bytes",
            Signal::NetworkBytes => "network-bytes",
            Signal::NetworkErrors => "network-errors",
            Signal::TcpRetransmits => "tcp-retransmits",
            Signal::DbPoolActive => "db-pool-active",
            Signal::DbPoolMax => "db-pool-max",
            Signal::DbPoolPending => "db-pool-pending",
            Signal::DbConnections => "db-connections",
            Signal::DbMaxConnections => "db-max-connections",
            Signal::DbLockWaits => "db-lock-waits",
            Signal::DbDeadlocks => "db-deadlocks",
            Signal::CacheHitRatio => "cache-hit-ratio",
            Signal::CacheEvictions => "cache-evictions",
            Signal::Other => "other",
        }
    }
}

/// Which series a correlation or a finding speaks of.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SeriesRef {
    /// What it measures.
    pub signal: Signal,
    /// Which one, for a reader (`pid 4242`, `demo /metrics`, `postgres`); empty when there is one.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub label: String,
}

impl std::fmt::Display for SeriesRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.label.is_empty() {
            f.write_str(self.signal.name())
        } else {
            write!(f, "{} ({})", self.signal.name(), self.label)
        }
    }
}

/// One value per second, gaps as `None`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Series {
    /// What it measures.
    pub signal: Signal,
    /// Which one, for a reader.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub label: String,
    /// Second of the run (from its start) of `values[0]`.
    pub start: u32,
    /// The value of each second; `None` where no reading was made.
    pub values: Vec<Option<f64>>,
    /// The value at which the resource is full (cores available to a
    /// process, pool size, link bytes per second, memory bytes), when known.
    /// Rules that need it and find neither this nor a companion series
    /// report the data as missing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capacity: Option<f64>,
}

impl Series {
    /// A series starting at second 0 with no known capacity.
    pub fn new(signal: Signal, values: Vec<Option<f64>>) -> Series {
        Series {
            signal,
            label: String::new(),
            start: 0,
            values,
            capacity: None,
        }
    }

    /// The same with a label.
    pub fn labelled(mut self, label: impl Into<String>) -> Series {
        self.label = label.into();
        self
    }

    /// The same with a known capacity.
    pub fn with_capacity(mut self, capacity: f64) -> Series {
        self.capacity = Some(capacity);
        self
    }

    /// Which series this is.
    pub fn reference(&self) -> SeriesRef {
        SeriesRef {
            signal: self.signal,
            label: self.label.clone(),
        }
    }

    /// The value at run second `t`; `None` outside the series, in a gap, or
    /// when the reading is not a finite number.
    pub fn at(&self, t: u32) -> Option<f64> {
        let i = usize::try_from(t.checked_sub(self.start)?).ok()?;
        self.values
            .get(i)
            .copied()
            .flatten()
            .filter(|v| v.is_finite())
    }

    /// The run second after the last value.
    pub fn end(&self) -> u32 {
        self.start
            .saturating_add(u32::try_from(self.values.len()).unwrap_or(u32::MAX))
    }
}

/// The first series measuring `signal`, if any.
pub fn find(series: &[Series], signal: Signal) -> Option<&Series> {
    series.iter().find(|s| s.signal == signal)
}

/// Every series measuring `signal`.
pub fn find_all(series: &[Series], signal: Signal) -> impl Iterator<Item = &Series> {
    series.iter().filter(move |s| s.signal == signal)
}
