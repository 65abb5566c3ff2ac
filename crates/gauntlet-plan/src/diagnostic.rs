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
    /// Set when the value came from a command-line flag, not from the file:
    /// such a problem is shown as the flag and its value, with no position.
    pub flag: Option<Flag>,
}

/// The command-line flag a value came from (see [`crate::Overrides`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Flag {
    /// `--url`.
    Url,
    /// `--vus`.
    Vus,
    /// `--duration`.
    Duration,
    /// `--iterations`.
    Iterations,
    /// `--rate`.
    Rate,
    /// The n-th `--stage` (0-based).
    Stage(u16),
    /// Values the shortcut flags imply together (the scenario they make).
    Shortcut,
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
            flag: None,
        }
    }

    /// A span at 1-based `line` and `column` (in characters) of `source`,
    /// `len` bytes long; the offset is found from the position, so a snippet
    /// shows the line the position names. Past the end, the last line.
    pub fn at_line_column(source: &str, line: u32, column: u32, len: usize) -> Span {
        let mut start = 0;
        for _ in 1..line.max(1) {
            match source[start..].find('\n') {
                Some(i) => start += i + 1,
                None => break,
            }
        }
        let line_text = &source[start..];
        let line_text = &line_text[..line_text.find('\n').unwrap_or(line_text.len())];
        let col = line_text
            .char_indices()
            .nth(column.saturating_sub(1) as usize)
            .map(|(i, _)| i)
            .unwrap_or(line_text.len());
        let mut span = Span::from_offset(source, start + col, len);
        // Keep the position as given (it may point past the end of a line).
        span.line = line.max(1);
        span.column = column.max(1);
        span
    }

    /// A span for a value given by `flag` on the command line.
    pub fn from_flag(flag: Flag) -> Span {
        Span {
            flag: Some(flag),
            ..Span::default()
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
    /// The command-line flag and value the problem is in (`--vus 0`), for a
    /// problem that is not in the file; shown instead of a file position.
    pub origin: Option<String>,
}

impl Diagnostic {
    /// An error at `span`.
    pub fn error(span: Span, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            severity: Severity::Error,
            span: Some(span),
            message: message.into(),
            help: None,
            origin: None,
        }
    }

    /// An error about the whole file.
    pub fn file_error(message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            severity: Severity::Error,
            span: None,
            message: message.into(),
            help: None,
            origin: None,
        }
    }

    /// A warning at `span`.
    pub fn warning(span: Span, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            severity: Severity::Warning,
            span: Some(span),
            message: message.into(),
            help: None,
            origin: None,
        }
    }

    /// Attach a hint.
    pub fn with_help(mut self, help: impl Into<String>) -> Diagnostic {
        self.help = Some(help.into());
        self
    }

    /// The same problem, attributed to a command-line flag and its value
    /// (`--vus 0`) instead of a place in the file.
    pub fn on_command_line(mut self, origin: impl Into<String>) -> Diagnostic {
        self.origin = Some(origin.into());
        self.span = None;
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

    /// The same problems, each attributed to `origin` (a flag and its value,
    /// `--url http://x/{{ y }}`): for a plan the command line made up, whose
    /// text the user never saw, so no position in it is shown.
    pub fn on_command_line(mut self, origin: &str) -> PlanErrors {
        // A problem already put on another flag stays there; one on the
        // same flag gets the value as the user wrote it.
        let flag = origin.split(' ').next().unwrap_or_default();
        for d in &mut self.diagnostics {
            let same_flag = d
                .origin
                .as_deref()
                .is_none_or(|o| o.split(' ').next() == Some(flag));
            if same_flag {
                *d = d.clone().on_command_line(origin);
            }
        }
        self.source.clear();
        self
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
        let text = match (&d.origin, d.span) {
            (Some(origin), _) => format!("{origin}: {}", d.message),
            (None, Some(s)) => format!("{}:{}:{}: {}", file, s.line, s.column, d.message),
            (None, None) => format!("{file}: {}", d.message),
        };
        let mut report = Vec::new();
        match d.span {
            Some(s) if !source.is_empty() && d.origin.is_none() && s.flag.is_none() => {
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
/// Never `word` itself: a name that is a candidate is not a typo, and
/// suggesting it back would hide what is really wrong.
pub fn did_you_mean<'a, I>(word: &str, candidates: I) -> Option<&'a str>
where
    I: IntoIterator<Item = &'a str>,
{
    let lower = word.to_ascii_lowercase();
    candidates
        .into_iter()
        .filter(|c| *c != word)
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

    #[test]
    fn did_you_mean_never_suggests_the_word_itself() {
        assert_eq!(did_you_mean("vus", ["vus", "maxVUs"]), None);
        // A different spelling of a candidate is still a typo.
        assert_eq!(did_you_mean("VUS", ["vus"]), Some("vus"));
    }

    #[test]
    fn the_snippet_shows_the_line_the_position_names() {
        let src = "version: 1\nname: x\nworkload:\n  a: [b\n";
        let s = Span::at_line_column(src, 4, 3, 1);
        assert_eq!((s.line, s.column), (4, 3));
        assert_eq!(&src[s.offset..s.offset + 1], "a");
        let out = render_all("p.yaml", src, &[Diagnostic::error(s, "bad")], false);
        assert!(out.contains("p.yaml:4:3: bad"), "{out}");
        assert!(out.contains("4 |   a: [b"), "{out}");
        assert!(!out.contains("1 | version"), "{out}");
        // Past the end: the last line, the position kept.
        let s = Span::at_line_column(src, 9, 2, 1);
        assert_eq!(s.line, 9);
        assert!(s.offset <= src.len());
    }

    #[test]
    fn a_command_line_problem_names_the_flag_and_has_no_snippet() {
        let src = "version: 1\n";
        let d = Diagnostic::error(Span::from_flag(Flag::Vus), "`vus` must be at least 1")
            .on_command_line("--vus 0");
        let out = render_all("plan.yaml", src, &[d], false);
        assert!(
            out.contains("error: --vus 0: `vus` must be at least 1"),
            "{out}"
        );
        assert!(!out.contains("plan.yaml"), "{out}");
        assert!(!out.contains("version: 1"), "{out}");
        assert!(!out.contains(":0:0"), "{out}");
    }
}
