//! # gauntlet-monitors: the service side of a run
//!
//! A load test that only times requests cannot say why the service slowed
//! down. This crate reads the service's side while the load runs: what a
//! target's Prometheus endpoint exposes, turned into per-interval readings
//! (rates, values, quantiles) that sit on the same timeline as the load.
//!
//! It depends on nothing of the engine: a monitor must never delay the load,
//! and a reading that cannot be made is an error that says why, never a
//! plausible number.
//!
//! * [`exposition`]: the Prometheus and OpenMetrics text formats, parsed.
//! * [`interval`]: two scrapes to one interval's reading, with Prometheus's
//!   own rules for resets and histogram quantiles.
//! * [`scrape`]: fetching a metrics page within a timeout.
//! * [`redis`]: Redis's `INFO` counters as interval readings.
//! * [`host`] (Linux): this machine and chosen processes, the generator's own always.
//! * [`postgres`]: `pg_stat_database` and `pg_stat_activity` as interval readings.

pub mod exposition;
#[cfg(target_os = "linux")]
pub mod host;
pub mod interval;
pub mod postgres;
pub mod redis;
pub mod scrape;
