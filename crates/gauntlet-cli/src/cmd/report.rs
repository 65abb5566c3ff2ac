//! `gauntlet report`: render a saved result again (summary, Markdown, JUnit,
//! CSV, HTML) without re-running the test, from the `--out json=FILE` document.

use crate::exit::Exit;
use anyhow::Context as _;
use gauntlet_metrics::{Registry, SerialTimeline, TagInterner};
use gauntlet_report::model::Summary;
use std::path::Path;

pub(crate) fn render(
    result: &Path,
    format: &str,
    output: Option<&Path>,
    color: bool,
) -> anyhow::Result<Exit> {
    let text =
        std::fs::read(result).with_context(|| format!("cannot read {}", result.display()))?;
    let doc: serde_json::Value = serde_json::from_slice(&text)
        .with_context(|| format!("{} is not JSON", result.display()))?;
    match doc.get("schemaVersion").and_then(|v| v.as_u64()) {
        Some(v) if v == u64::from(gauntlet_report::json::SCHEMA_VERSION) => {}
        Some(v) => anyhow::bail!(
            "{}: result schema version {v} is not supported (this gauntlet reads {})",
            result.display(),
            gauntlet_report::json::SCHEMA_VERSION
        ),
        None => anyhow::bail!(
            "{}: not a gauntlet result (no schemaVersion); write one with `gauntlet run PLAN --out json=FILE`",
            result.display()
        ),
    }
    let summary: Summary = serde_json::from_value(doc["summary"].clone())
        .with_context(|| format!("{}: malformed summary", result.display()))?;
    let out = match format {
        "md" => gauntlet_report::markdown::render(&summary),
        "junit" => gauntlet_report::junit::render(&summary),
        "html" => gauntlet_report::html::render_result(&doc)
            .map_err(|e| anyhow::anyhow!("{}: {e}", result.display()))?,
        "csv" => {
            let tl: SerialTimeline = serde_json::from_value(doc["timeline"].clone())
                .with_context(|| format!("{}: malformed timeline", result.display()))?;
            let mut registry = Registry::new();
            let interner = TagInterner::new();
            let timeline = tl
                .into_timeline(&mut registry, &interner)
                .map_err(|e| anyhow::anyhow!("{}: timeline: {e}", result.display()))?;
            gauntlet_report::csv::render(&timeline, &registry, &interner)
        }
        _ => gauntlet_report::terminal::render(
            &summary,
            gauntlet_report::terminal::Style {
                color: color && output.is_none(),
            },
        ),
    };
    match output {
        Some(p) => {
            if let Err(e) = crate::output::check_writable(p)
                .map_err(std::io::Error::other)
                .and_then(|()| crate::output::write_atomic(p, out.as_bytes()))
            {
                eprintln!("error: --output {}: {e}", p.display());
                return Ok(Exit::OutputFailed);
            }
        }
        None => crate::stdout::print(&out).context("cannot write to stdout")?,
    }
    Ok(Exit::Ok)
}
