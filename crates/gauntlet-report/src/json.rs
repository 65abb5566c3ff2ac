//! `--out json=FILE`: the full result of a run, for tools and for merging.
//!
//! # Format (spec, schema `schema/result.v2.json`)
//! ```text
//! {
//!   "schemaVersion": 2,
//!   "tool": {"name": "gauntlet", "version": "0.1.0"},
//!   "plan": {"name": "...", "description": "..." | null},
//!   "durationMs": 15012,
//!   "summary": { ... the end-of-run summary: metrics, checks, operations, errors, scenarios, verdict ... },
//!   "timeline": {
//!     "intervals": [ <snapshot>, ... ],   // one per second (coarser for very long runs)
//!     "total": <snapshot>
//!   }
//! }
//! ```
//! A `<snapshot>` is `{startMs, endMs, series: [{metric, kind, unit, tags, values}]}`
//! as specified in `gauntlet_metrics::serial`: trend histograms are lossless
//! HdrHistogram V2+DEFLATE (base64), so any interval or several runs can be
//! merged and re-queried exactly. Durations in `summary` are milliseconds;
//! in histograms they are microseconds (the unit is named on each series).

use crate::model::Summary;
use gauntlet_metrics::{Registry, SerialTimeline, TagInterner, Timeline};
use gauntlet_plan::Plan;
use serde_json::{Value, json};

/// The current result format version.
pub const SCHEMA_VERSION: u32 = 2;

/// Build the result document.
pub fn result_json(
    plan: &Plan,
    summary: &Summary,
    timeline: &Timeline,
    registry: &Registry,
    interner: &TagInterner,
) -> Value {
    let tl: SerialTimeline = timeline.to_serial(registry, interner);
    json!({
        "schemaVersion": SCHEMA_VERSION,
        "tool": {"name": "gauntlet", "version": env!("CARGO_PKG_VERSION")},
        "plan": {"name": plan.name, "description": plan.description},
        "durationMs": summary.duration_ms,
        "summary": summary,
        "timeline": tl,
    })
}
