//! Result files: named on the command line, checked before the run starts,
//! written atomically after it.
//!
//! A run can take hours; a result file it cannot write must be found before
//! the first request, not after the last. And a file is never written in
//! place: a kill during the write would leave it empty and the previous
//! result gone. Each file is written to a temporary file in the same
//! directory, flushed to disk, then renamed over the destination, so a
//! reader sees the old file or the new one, never a part.

use std::io::Write as _;
use std::path::{Path, PathBuf};

/// What `--out FORMAT=FILE` (and `--summary-export FILE`) can write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    /// The full result document (`--out json=`).
    Json,
    /// JUnit XML of thresholds and SLAs.
    Junit,
    /// The Markdown summary (a pull-request comment).
    Markdown,
    /// The per-second timeline.
    Csv,
    /// The self-contained HTML report.
    Html,
    /// The k6-shaped end-of-test summary (`--summary-export`).
    K6Summary,
}

/// One result file to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct OutFile {
    /// What goes into it.
    pub(crate) format: Format,
    /// Where.
    pub(crate) path: PathBuf,
}

impl OutFile {
    /// The flag as the user wrote it, for messages (`--out json=r.json`).
    pub(crate) fn flag(&self) -> String {
        let kind = match self.format {
            Format::K6Summary => return format!("--summary-export {}", self.path.display()),
            Format::Json => "json",
            Format::Junit => "junit",
            Format::Markdown => "md",
            Format::Csv => "csv",
            Format::Html => "html",
        };
        format!("--out {kind}={}", self.path.display())
    }
}

/// Parse every `--out FORMAT=FILE`; `Err` is a usage error to print as is.
pub(crate) fn parse_outs(outs: &[String]) -> Result<Vec<OutFile>, String> {
    outs.iter()
        .map(|o| {
            let (kind, path) = o.split_once('=').ok_or_else(|| {
                format!("--out `{o}`: write FORMAT=FILE, e.g. --out json=result.json")
            })?;
            let format = match kind {
                "json" => Format::Json,
                "junit" => Format::Junit,
                "md" | "markdown" => Format::Markdown,
                "csv" => Format::Csv,
                "html" => Format::Html,
                other => {
                    return Err(format!(
                        "--out `{other}={path}`: unknown format `{other}` (supported: json, junit, md, csv, html)"
                    ));
                }
            };
            if path.is_empty() {
                return Err(format!("--out `{o}`: the file name is missing after `=`"));
            }
            Ok(OutFile {
                format,
                path: PathBuf::from(path),
            })
        })
        .collect()
}

/// Why a result file cannot be written there: checked before the run, so
/// nothing is measured for a file that would be lost.
pub(crate) fn check_writable(path: &Path) -> Result<(), String> {
    if path.is_dir() {
        return Err(format!(
            "{} is a directory; give a file name",
            path.display()
        ));
    }
    let dir = parent_of(path);
    match std::fs::metadata(dir) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => return Err(format!("{} is not a directory", dir.display())),
        Err(e) => {
            return Err(format!(
                "directory {} does not exist ({e}); create it first (mkdir -p {})",
                dir.display(),
                dir.display()
            ));
        }
    }
    // The real test: the temporary file the write will use.
    tempfile::NamedTempFile::new_in(dir)
        .map(drop)
        .map_err(|e| format!("cannot create files in {}: {e}", dir.display()))
}

fn parent_of(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// Write `bytes` to `path` atomically: a temporary file in the same
/// directory, synced, then renamed over `path`. An existing file keeps its
/// permissions; a new one gets 0644 (the temporary file is created 0600).
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    let mut tmp = tempfile::NamedTempFile::new_in(parent_of(path))?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    let mode = std::fs::metadata(path)
        .map(|m| m.permissions().mode())
        .unwrap_or(0o644);
    tmp.as_file()
        .set_permissions(std::fs::Permissions::from_mode(mode))?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_atomic_write_replaces_the_file_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("r.json");
        std::fs::write(&p, "old").unwrap();
        write_atomic(&p, b"new").unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "new");
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 1, "only the result is left: {names:?}");
    }

    #[test]
    fn a_new_result_file_is_readable_by_others() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("r.md");
        write_atomic(&p, b"x").unwrap();
        let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o644);
    }

    #[test]
    fn a_missing_directory_is_found_before_the_run() {
        let dir = tempfile::tempdir().unwrap();
        let e = check_writable(&dir.path().join("nope/r.json")).unwrap_err();
        assert!(e.contains("does not exist"), "{e}");
        let e = check_writable(dir.path()).unwrap_err();
        assert!(e.contains("is a directory"), "{e}");
        check_writable(&dir.path().join("r.json")).unwrap();
    }

    #[test]
    fn an_unknown_out_format_names_the_supported_ones() {
        let e = parse_outs(&["xml=r.xml".into()]).unwrap_err();
        assert!(e.contains("unknown format `xml`"), "{e}");
        assert!(e.contains("json, junit, md, csv, html"), "{e}");
        assert!(parse_outs(&["json".into()]).is_err());
        assert!(parse_outs(&["json=".into()]).is_err());
        assert_eq!(
            parse_outs(&["md=a.md".into()]).unwrap(),
            [OutFile {
                format: Format::Markdown,
                path: "a.md".into()
            }]
        );
    }
}
