//! # gauntlet-report: rendering only
//!
//! Every renderer takes the already-decided [`model::Summary`] (numbers and
//! verdict) and formats it; nothing here computes a statistic or decides
//! pass/fail. Formats: the terminal summary ([`terminal`], k6's layout) and
//! the k6-shaped summary JSON ([`k6`], for `--summary-export`).

pub mod build;
pub mod csv;
pub mod json;
pub mod junit;
pub mod k6;
pub mod markdown;
pub mod model;
pub mod terminal;
