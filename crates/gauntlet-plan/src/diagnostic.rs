//! Diagnostics: what went wrong in a plan, where, and what to do about it.
//!
//! Every problem found while loading a plan becomes a [`Diagnostic`] carrying a
//! [`Span`] (line, column and byte range in the plan file), a message and an
//! optional hint. Loading never stops at the first problem: all diagnostics are
//! collected and returned together as [`PlanErrors`], so a user fixes a plan in
//! one round trip instead of five.
//!
//! Rendering is pinned here (on `annotate-snippets`, the renderer rustc uses) so
//! that the YAML parser can be swapped without touching validation.

use std::fmt;

/// A location in the plan source: 1-based line and column plus a byte range.
///
/// Spans exist so that errors found long after parsing (a threshold naming an
/// unknown metric, `maxVUs` below `preAllocatedVUs`) still point at the exact
/// place in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Span {
    /// 1-based line number.
    pub line: u32,
    /// 1-based column number (in characters).
    pub column: u32,
    /// Byte offset of the start of the spanned text.
    pub offset: usize,
    /// Length of the spanned text in bytes (at least 1 when rendered).
    pub len: usize,
}

impl Span {
    /// A span covering `len` bytes starting at `offset` of `source`, with the
    /// line and column computed from the source text.
    pub fn from_offset(source: &str, offset: usize, len: usize) -> Span {
        let offset = offset.min(source.len());
        let before = &source[..floor_char_boundary(source, offset)];
        let line = before.matches('\n').count() as u32 + 1;
        let line_start = before.rfind('\n').map(|i| i + 1).unwrap_or(0);
        let column = before[line_start..].chars().count() as u32 + 1;
        Span {
            line,
            column,
            offset,
            len,
        }
    }
}

fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// How serious a diagnostic is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Severity {
    /// The plan cannot run.
    Error,
    /// The plan runs, but probably not as the author meant.
    Warning,
}

/// One problem in a plan, with where it is and a hint on how to fix it.
#[derive(Debug, Clone, PartialEq)]
pub struct Diagnostic {
    /// Error or warning.
    pub severity: Severity,
    /// Where in the file; `None` for problems about the file as a whole
    /// (unreadable, empty, binary).
    pub span: Option<Span>,
    /// What is wrong, in one sentence.
    pub message: String,
    /// What to do about it (did-you-mean, allowed values, an example).
    pub help: Option<String>,
}

impl Diagnostic {
    /// An error at `span`.
    pub fn error(span: Span, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            severity: Severity::Error,
            span: Some(span),
            message: message.into(),
            help: None,
        }
    }

    /// An error about the whole file.
    pub fn file_error(message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            severity: Severity::Error,
            span: None,
            message: message.into(),
            help: None,
        }
    }

    /// A warning at `span`.
    pub fn warning(span: Span, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            severity: Severity::Warning,
            span: Some(span),
            message: message.into(),
            help: None,
        }
    }

    /// Attach a hint.
    pub fn with_help(mut self, help: impl Into<String>) -> Diagnostic {
        self.help = Some(help.into());
        self
    }
}

/// All the problems found in one plan file, with the source needed to render them.
///
/// This is the error type of plan loading; `gauntlet validate` prints it and
/// exits with code 104 (k6's code for an invalid configuration).
#[derive(Debug, Clone)]
pub struct PlanErrors {
    /// Name shown in `file:line:column` (usually the path as the user typed it).
    pub file: String,
    /// The source text (empty when the file could not be read as text).
    pub source: String,
    /// Every diagnostic, in file order, errors and warnings.
    pub diagnostics: Vec<Diagnostic>,
}

impl PlanErrors {
    /// Number of errors (warnings excluded).
    pub fn error_count(&self) -> usize {
        self.diagnostics
            .iter()
            .filter(|d| d.severity == Severity::Error)
            .count()
    }

    /// Render every diagnostic as `file:line:column` plus a caret snippet and
    /// the hint; `color` adds ANSI colours for terminals.
    pub fn render(&self, color: bool) -> String {
        render_all(&self.file, &self.source, &self.diagnostics, color)
    }
}

impl fmt::Display for PlanErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render(false))
    }
}

impl std::error::Error for PlanErrors {}

/// Render diagnostics against their source; used for errors and warnings alike.
pub fn render_all(file: &str, source: &str, diagnostics: &[Diagnostic], color: bool) -> String {
    use annotate_snippets::{AnnotationKind, Group, Level, Renderer, Snippet};
    let renderer = if color {
        Renderer::styled()
    } else {
        Renderer::plain()
    };
    let mut out = String::new();
    for d in diagnostics {
        let level = match d.severity {
            Severity::Error => Level::ERROR,
            Severity::Warning => Level::WARNING,
        };
        let text = match d.span {
            Some(s) => format!("{}:{}:{}: {}", file, s.line, s.column, d.message),
            None => format!("{file}: {}", d.message),
        };
        let mut report = Vec::new();
        match d.span {
            Some(s) if !source.is_empty() => {
                let start = floor_char_boundary(source, s.offset.min(source.len()));
                let mut end = (s.offset + s.len.max(1)).min(source.len());
                while end < source.len() && !source.is_char_boundary(end) {
                    end += 1;
                }
                // Keep the caret on the first line of a multi-line value.
                if let Some(nl) = source[start..end].find('\n') {
                    end = start + nl.max(1).min(end - start);
                }
                let snippet = Snippet::source(source)
                    .path(file)
                    .annotation(AnnotationKind::Primary.span(start..end.max(start)));
                report.push(level.clone().primary_title(text).element(snippet));
            }
            _ => report.push(Group::with_title(level.clone().primary_title(text))),
        }
        if let Some(help) = &d.help {
            report.push(Group::with_title(
                Level::HELP.secondary_title(help.as_str()),
            ));
        }
        out.push_str(&renderer.render(&report));
        out.push_str("\n\n");
    }
    out
}

/// The closest of `candidates` to `word`, if it is close enough to be a typo.
///
/// Used for every "unknown name" error: keys, executors, metrics, operations.
pub fn did_you_mean<'a, I>(word: &str, candidates: I) -> Option<&'a str>
where
    I: IntoIterator<Item = &'a str>,
{
    let lower = word.to_ascii_lowercase();
    candidates
        .into_iter()
        .map(|c| (strsim::jaro_winkler(&lower, &c.to_ascii_lowercase()), c))
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn span_from_offset_counts_lines_and_columns() {
        let src = "a: 1\nbb: 2\n  ccc: 3\n";
        let s = Span::from_offset(src, src.find("ccc").unwrap(), 3);
        assert_eq!((s.line, s.column), (3, 3));
    }

    #[test]
    fn render_has_location_caret_and_help() {
        let src = "scenarios:\n  a:\n    executr: constant-vus\n";
        let d = Diagnostic::error(
            Span::from_offset(src, src.find("executr").unwrap(), 7),
            "unknown key `executr`",
        )
        .with_help("did you mean `executor`?");
        let out = render_all("plan.yaml", src, &[d], false);
        assert!(
            out.contains("plan.yaml:3:5: unknown key `executr`"),
            "{out}"
        );
        assert!(out.contains("^^^^^^^"), "{out}");
        assert!(out.contains("did you mean `executor`?"), "{out}");
    }

    #[test]
    fn did_you_mean_finds_typos_only() {
        let keys = ["executor", "vus", "duration"];
        assert_eq!(did_you_mean("executr", keys), Some("executor"));
        assert_eq!(did_you_mean("zzz", keys), None);
    }
}
