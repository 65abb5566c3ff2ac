//! # gauntlet-report: rendering only
//!
//! Every renderer takes the already-decided [`model::Summary`] (numbers and
//! verdict) and formats it; nothing here computes a statistic or decides
//! pass/fail. Formats: the terminal summary ([`terminal`], k6's layout) and
//! the k6-shaped summary JSON ([`k6`], for `--summary-export`); the
//! self-contained HTML page ([`html`]) draws per-interval series read from
//! the timeline ([`series`]).

pub mod build;
pub mod csv;
pub mod html;
pub mod json;
pub mod junit;
pub mod k6;
pub mod markdown;
pub mod model;
pub mod series;
pub mod terminal;
