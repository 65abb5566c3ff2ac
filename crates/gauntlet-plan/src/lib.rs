//! # gauntlet-plan: the plan format
//!
//! A gauntlet plan is one YAML file that says what users do (a weighted
//! workload), how hard to push (k6's executors, with k6's option names) and
//! what is acceptable (SLAs and k6-syntax thresholds). This crate turns the
//! file's bytes into a validated [`Plan`], or into [`PlanErrors`] listing
//! *every* problem with `file:line:column`, a caret snippet and a hint.
//!
//! Pipeline: bytes → [`node`] (a spanned YAML tree; parse-level, keeps every
//! position) → [`validate`] (typed [`Plan`], all errors collected). Nothing in
//! this crate touches the network or a clock: `gauntlet validate` and
//! `gauntlet plan` use it to check and describe a plan without sending traffic.
//! It does read the files a plan names (data feeders, certificates, uploads;
//! see [`parse_plan_in`]), so that a plan that validates can start.
//!
//! The format is specified in `docs/plan-format.md` and by the JSON Schema in
//! `schema/plan.v1.json` (printed by `gauntlet schema`).

pub mod catalog;
mod decode;
pub mod diagnostic;
pub mod duration;
mod files;
mod node;
pub mod plan;
pub mod schedule;
pub mod shortcuts;
pub mod threshold;
mod validate;

pub use decode::Located;
pub use diagnostic::{Diagnostic, Flag, PlanErrors, Severity, Span};
pub use node::{MAX_DEPTH, MAX_PLAN_BYTES};
pub use plan::*;
pub use shortcuts::Overrides;

use std::path::Path;

/// The JSON Schema of the plan format (draft 2020-12), for editors and CI.
pub const PLAN_SCHEMA: &str = include_str!("../../../schema/plan.v1.json");

/// A successfully loaded plan plus any warnings found on the way.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The validated plan.
    pub plan: Plan,
    /// Warnings (the plan still runs); render with [`PlanErrors::render`].
    pub warnings: PlanErrors,
}

/// Read and validate a plan file, and the files it names (relative to the
/// plan file's directory, as `gauntlet run` reads them).
pub fn load_file(path: &Path, overrides: &Overrides) -> Result<Loaded, PlanErrors> {
    let display = path.display().to_string();
    let bytes = match read_bounded(path) {
        Ok(b) => b,
        Err(msg) => {
            return Err(PlanErrors {
                file: display,
                source: String::new(),
                diagnostics: vec![Diagnostic::file_error(msg)],
            });
        }
    };
    let default_name = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "plan".into());
    let base = path.parent().unwrap_or(Path::new(""));
    parse_plan_in(&display, &bytes, &default_name, overrides, base)
}

/// Read at most [`node::MAX_PLAN_BYTES`] + 1 bytes, so a huge file costs no memory.
fn read_bounded(path: &Path) -> Result<Vec<u8>, String> {
    use std::io::Read;
    // Looked at before opening: opening a FIFO blocks until a writer comes.
    let meta = std::fs::metadata(path).map_err(|e| format!("cannot open plan: {e}"))?;
    if meta.is_dir() {
        return Err("is a directory, not a plan file".into());
    }
    if !meta.is_file() {
        return Err(
            "is not a regular file (a FIFO, socket or device); save the plan to a file".into(),
        );
    }
    let file = std::fs::File::open(path).map_err(|e| format!("cannot open plan: {e}"))?;
    let mut buf = Vec::new();
    file.take(node::MAX_PLAN_BYTES as u64 + 1)
        .read_to_end(&mut buf)
        .map_err(|e| format!("cannot read plan: {e}"))?;
    Ok(buf)
}

/// Validate plan text. `file` is used in messages, `default_name` when the
/// plan has no `name:`. Command-line overrides are applied before validation
/// (k6's rule: flags beat the file).
///
/// The files the plan names are not opened (there is no directory to find
/// them in): use [`parse_plan_in`] or [`load_file`] to check them too.
pub fn parse_plan(
    file: &str,
    bytes: &[u8],
    default_name: &str,
    overrides: &Overrides,
) -> Result<Loaded, PlanErrors> {
    parse(file, bytes, default_name, overrides, None)
}

/// [`parse_plan`], plus the checks `gauntlet run` would otherwise make only
/// when it starts: data files exist, parse and have rows (and every
/// `{{ feeder.column }}` names a column), certificate files hold PEM,
/// upload files are readable. Relative paths are resolved against `base`:
/// the plan file's directory, or the current directory (`Path::new("")`) for
/// a plan that has no file.
pub fn parse_plan_in(
    file: &str,
    bytes: &[u8],
    default_name: &str,
    overrides: &Overrides,
    base: &Path,
) -> Result<Loaded, PlanErrors> {
    parse(file, bytes, default_name, overrides, Some(base))
}

fn parse(
    file: &str,
    bytes: &[u8],
    default_name: &str,
    overrides: &Overrides,
    base: Option<&Path>,
) -> Result<Loaded, PlanErrors> {
    // A k6 script passed as a plan is refused as such, not as bad YAML.
    let script_name = [".js", ".mjs", ".cjs", ".ts", ".jsx", ".tsx"]
        .iter()
        .any(|ext| file.to_ascii_lowercase().ends_with(ext));
    let k6_script = |source: String| PlanErrors {
        file: file.to_owned(),
        source,
        diagnostics: vec![node::javascript_refusal()],
    };
    let (source, mut root, mut diagnostics) = match node::parse(bytes).map_err(|e| *e) {
        Ok((source, root, _))
            if !matches!(root.kind, node::NodeKind::Map(_))
                && (script_name || node::looks_like_javascript(&source)) =>
        {
            return Err(k6_script(source));
        }
        Ok(x) => x,
        Err((source, _)) if script_name || node::looks_like_javascript(&source) => {
            return Err(k6_script(source));
        }
        Err((source, d)) => {
            return Err(PlanErrors {
                file: file.to_owned(),
                source,
                diagnostics: vec![d],
            });
        }
    };
    // Scenarios the flags replace: selectors naming them get a warning, not an error.
    let replaced = if overrides.changes_scenarios() {
        validate::Replaced::from_plan(&root)
    } else {
        validate::Replaced::default()
    };
    overrides.apply(&mut root);
    let mut v = validate::Validator::new(&source, base, replaced);
    v.add_command_line_tags(&overrides.tags);
    let mut plan = v.plan(&root, default_name);
    diagnostics.append(&mut v.diags.errors);
    // A value from a flag is shown as the flag and its value, not as a position.
    for d in &mut diagnostics {
        if let Some(flag) = d.span.and_then(|s| s.flag) {
            *d = d.clone().on_command_line(overrides.describe(flag));
        }
    }
    diagnostics.sort_by_key(|d| d.span.map(|s| (s.line, s.column)).unwrap_or((0, 0)));
    if let Some(plan) = &mut plan {
        overrides.tag_scenarios(plan);
    }
    let has_errors = diagnostics.iter().any(|d| d.severity == Severity::Error);
    let errors = PlanErrors {
        file: file.to_owned(),
        source,
        diagnostics,
    };
    match plan {
        Some(plan) if !has_errors => Ok(Loaded {
            plan,
            warnings: errors,
        }),
        _ => Err(errors),
    }
}

/// The plan as JSON (YAML converted, unvalidated), for checking examples
/// against [`PLAN_SCHEMA`] in tests and tools; text that is not YAML gives
/// the parse's diagnostic.
pub fn plan_as_json(bytes: &[u8]) -> Result<serde_json::Value, Box<Diagnostic>> {
    node::parse(bytes)
        .map(|(_, n, _)| n.to_json())
        .map_err(|e| Box::new(e.1))
}

/// The accepted keys of every object type, keyed by their JSON Schema
/// definition name; a test checks the committed schema against this.
pub fn object_keys() -> &'static [(&'static str, &'static [&'static str])] {
    validate::OBJECT_KEYS
}

#[cfg(test)]
mod tests;
