//! `gauntlet validate`: check plans without sending anything.

use crate::exit::Exit;
use anyhow::Context as _;
use gauntlet_plan::{Overrides, load_file};
use std::path::PathBuf;

/// Validate each plan (with the `--tag` pairs `run` would add); print
/// every problem; 104 if any plan is invalid.
pub(crate) fn validate(
    plans: &[PathBuf],
    tags: &[(String, String)],
    color: bool,
) -> anyhow::Result<Exit> {
    let mut ok = true;
    let overrides = Overrides {
        tags: tags.to_vec(),
        ..Overrides::default()
    };
    for path in plans {
        match load_file(path, &overrides) {
            Ok(loaded) => {
                if !loaded.warnings.diagnostics.is_empty() {
                    eprint!("{}", loaded.warnings.render(color));
                }
                let p = &loaded.plan;
                crate::stdout::print(&format!(
                    "{}: ok — {} scenario(s), {} operation(s), {} threshold(s), {} SLA(s)\n",
                    path.display(),
                    p.scenarios.len(),
                    p.workload.operations.len(),
                    p.thresholds.len(),
                    p.slas.len()
                ))
                .context("cannot write to stdout")?;
            }
            Err(errors) => {
                ok = false;
                eprint!("{}", errors.render(color));
                eprintln!(
                    "{}: {} error(s)",
                    path.display(),
                    errors.error_count().max(1)
                );
            }
        }
    }
    Ok(if ok { Exit::Ok } else { Exit::InvalidPlan })
}
