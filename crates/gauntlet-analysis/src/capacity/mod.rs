//! # Capacity planning from measured data
//!
//! Turns a sweep (a stepped ramping-VUs, breakpoint or stress run, or points a
//! user measured elsewhere) into the answers seeds 000, 001 and 004 ask for:
//! how far one instance scales and why it stops (the Universal Scalability
//! Law, [`usl`]), the capacity at the SLA ([`sla`]), how many instances a
//! target load needs and which resource runs out first ([`sizing`]), and the
//! Kubernetes autoscalers' settings that follow from those numbers
//! ([`autoscale`]).
//!
//! Everything here is a pure function of measurements: no clock, no I/O.
//! A figure that the measurements cannot give (CPU when no monitor ran, a
//! peak the sweep never approached) is reported as not computed, with the
//! reason, never estimated from nothing.

pub mod autoscale;
pub mod sizing;
pub mod sla;
pub mod sweep;
pub mod usl;
