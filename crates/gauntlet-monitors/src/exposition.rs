//! The Prometheus text exposition format (0.0.4) and OpenMetrics 1.0 text,
//! parsed into metric families.
//!
//! Written here because no crate fits: `prometheus-parse` cuts a label value
//! at the first `}` (the demo's own `route="/items/{id}"` label broke it) and
//! reads OpenMetrics counters as untyped; `openmetrics-parser` is LGPL, which
//! a static binary cannot take. The grammar is small, and the tests below pin
//! every corner a real target was seen to use.
//!
//! What is kept: every sample with its labels (in the order written), its
//! value and timestamp, grouped into families by `# TYPE` and the sample-name
//! suffixes each type allows. Exemplars and `# UNIT` are read and dropped.

use std::fmt;

/// What a family's `# TYPE` line says; `Untyped` when it has none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum FamilyKind {
    /// Only goes up (resets to 0 on a restart): read as a rate.
    Counter,
    /// A value that goes up and down: read as it is.
    Gauge,
    /// Cumulative `_bucket{le}` counts plus `_sum` and `_count`.
    Histogram,
    /// OpenMetrics' gauge histogram (`_gcount`, `_gsum`).
    GaugeHistogram,
    /// Client-side quantiles plus `_sum` and `_count`.
    Summary,
    /// OpenMetrics' `info` (`_info` samples of value 1).
    Info,
    /// OpenMetrics' state set (one sample per state, 0 or 1).
    StateSet,
    /// No type given (`untyped`, `unknown`, or no `# TYPE` line).
    Untyped,
}

impl FamilyKind {
    fn parse(word: &str) -> Option<FamilyKind> {
        Some(match word {
            "counter" => FamilyKind::Counter,
            "gauge" => FamilyKind::Gauge,
            "histogram" => FamilyKind::Histogram,
            "gaugehistogram" => FamilyKind::GaugeHistogram,
            "summary" => FamilyKind::Summary,
            "info" => FamilyKind::Info,
            "stateset" => FamilyKind::StateSet,
            "untyped" | "unknown" => FamilyKind::Untyped,
            _ => return None,
        })
    }

    /// The sample-name suffixes a family of this kind may use.
    fn suffixes(self) -> &'static [&'static str] {
        match self {
            FamilyKind::Counter => &["_total", "_created"],
            FamilyKind::Histogram => &["_bucket", "_sum", "_count", "_created"],
            FamilyKind::GaugeHistogram => &["_bucket", "_gsum", "_gcount"],
            FamilyKind::Summary => &["_sum", "_count", "_created"],
            FamilyKind::Info => &["_info"],
            FamilyKind::Gauge | FamilyKind::StateSet | FamilyKind::Untyped => &[],
        }
    }
}

/// One sample line.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// The sample's own name (`http_requests_total`, `latency_bucket`).
    pub name: String,
    /// Label pairs in the order written.
    pub labels: Vec<(String, String)>,
    /// The value (`+Inf`, `-Inf` and `NaN` included).
    pub value: f64,
    /// The timestamp as written, if any (milliseconds in the Prometheus
    /// format, seconds in OpenMetrics).
    pub timestamp: Option<f64>,
}

impl Sample {
    /// The value of a label, if the sample has it.
    pub fn label(&self, name: &str) -> Option<&str> {
        self.labels
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A metric family: a name, its type and help, and its samples.
#[derive(Debug, Clone, PartialEq)]
pub struct Family {
    /// The family's name (`# TYPE` name, or the sample name when untyped).
    pub name: String,
    /// Its type.
    pub kind: FamilyKind,
    /// Its `# HELP` text, unescaped.
    pub help: Option<String>,
    /// Its samples, in the order written.
    pub samples: Vec<Sample>,
}

/// Why a scrape's text could not be read: the line (1-based) and the cause.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct ParseError {
    /// The line that could not be read.
    pub line: usize,
    /// What is wrong with it.
    pub message: String,
}

/// Parse a whole exposition into its families, in the order they appear.
pub fn parse(text: &str) -> Result<Vec<Family>, ParseError> {
    let mut families: Vec<Family> = Vec::new();
    for (i, raw) in text.split('\n').enumerate() {
        let line_no = i + 1;
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        let err = |message: String| ParseError {
            line: line_no,
            message,
        };
        if line.trim().is_empty() {
            continue;
        }
        if let Some(rest) = line.strip_prefix('#') {
            let rest = rest.trim_start();
            if rest == "EOF" {
                break;
            }
            let (word, rest) = split_word(rest);
            match word {
                "HELP" | "TYPE" | "UNIT" => {
                    let (name, rest) = split_word(rest);
                    if !is_metric_name(name) {
                        return Err(err(format!("`# {word}` names no valid metric: `{name}`")));
                    }
                    if word == "UNIT" {
                        continue;
                    }
                    let family = family_named(&mut families, name);
                    if word == "HELP" {
                        family.help = Some(unescape_help(rest));
                    } else {
                        let kind = FamilyKind::parse(rest.trim()).ok_or_else(|| {
                            err(format!(
                                "unknown metric type `{}` for `{name}`",
                                rest.trim()
                            ))
                        })?;
                        family.kind = kind;
                    }
                }
                _ => {} // a plain comment
            }
            continue;
        }
        let sample = parse_sample(line).map_err(err)?;
        let at = owner(&families, &sample.name);
        match at {
            Some(i) => families[i].samples.push(sample),
            None => families.push(Family {
                name: sample.name.clone(),
                kind: FamilyKind::Untyped,
                help: None,
                samples: vec![sample],
            }),
        }
    }
    Ok(families)
}

/// The family a `# HELP`/`# TYPE` line describes: the last one of that name
/// that has no samples yet, else a new one.
fn family_named<'a>(families: &'a mut Vec<Family>, name: &str) -> &'a mut Family {
    let reuse = families
        .last()
        .is_some_and(|f| f.name == name && f.samples.is_empty());
    if !reuse {
        families.push(Family {
            name: name.to_owned(),
            kind: FamilyKind::Untyped,
            help: None,
            samples: Vec::new(),
        });
    }
    families.last_mut().expect("just pushed")
}

/// The family a sample belongs to: the latest one whose name is the
/// sample's, or the sample's minus a suffix that family's type allows.
fn owner(families: &[Family], sample: &str) -> Option<usize> {
    families.iter().rposition(|f| {
        sample == f.name
            || f.kind.suffixes().iter().any(|s| {
                sample
                    .strip_prefix(f.name.as_str())
                    .is_some_and(|rest| rest == *s)
            })
    })
}

fn split_word(s: &str) -> (&str, &str) {
    let s = s.trim_start_matches([' ', '\t']);
    match s.find([' ', '\t']) {
        Some(i) => (&s[..i], s[i..].trim_start_matches([' ', '\t'])),
        None => (s, ""),
    }
}

fn is_metric_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

fn is_label_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn unescape_help(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some('n') => out.push('\n'),
                Some('\\') => out.push('\\'),
                Some(other) => {
                    out.push('\\');
                    out.push(other);
                }
                None => out.push('\\'),
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// A cursor over one sample line.
struct Cursor<'a> {
    s: &'a str,
    at: usize,
}

impl<'a> Cursor<'a> {
    fn peek(&self) -> Option<char> {
        self.s[self.at..].chars().next()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.at += c.len_utf8();
        Some(c)
    }

    fn skip_blanks(&mut self) {
        while matches!(self.peek(), Some(' ' | '\t')) {
            self.at += 1;
        }
    }

    fn take_while(&mut self, f: impl Fn(char) -> bool) -> &'a str {
        let start = self.at;
        while self.peek().is_some_and(&f) {
            self.bump();
        }
        &self.s[start..self.at]
    }

    /// A double-quoted string with `\\`, `\"` and `\n` escapes; the cursor
    /// is on the opening quote.
    fn quoted(&mut self) -> Result<String, String> {
        self.bump();
        let mut out = String::new();
        loop {
            match self.bump() {
                None => return Err("a quoted string is not closed".into()),
                Some('"') => return Ok(out),
                Some('\\') => match self.bump() {
                    Some('n') => out.push('\n'),
                    Some('\\') => out.push('\\'),
                    Some('"') => out.push('"'),
                    Some(c) => return Err(format!("unknown escape `\\{c}` in a label value")),
                    None => return Err("a quoted string is not closed".into()),
                },
                Some(c) => out.push(c),
            }
        }
    }
}

fn parse_sample(line: &str) -> Result<Sample, String> {
    let mut c = Cursor { s: line, at: 0 };
    c.skip_blanks();
    let mut name = c
        .take_while(|ch| ch.is_ascii_alphanumeric() || ch == '_' || ch == ':')
        .to_owned();
    let mut labels = Vec::new();
    if c.peek() == Some('{') {
        c.bump();
        loop {
            c.skip_blanks();
            match c.peek() {
                Some('}') => {
                    c.bump();
                    break;
                }
                Some('"') => {
                    // OpenMetrics 2 / Prometheus 3: a quoted name, or a
                    // quoted label name before `=`.
                    let text = c.quoted()?;
                    c.skip_blanks();
                    if c.peek() == Some('=') {
                        c.bump();
                        c.skip_blanks();
                        if c.peek() != Some('"') {
                            return Err(format!("label `{text}` has no quoted value"));
                        }
                        labels.push((text, c.quoted()?));
                    } else if name.is_empty() {
                        name = text;
                    } else {
                        return Err(format!("a second metric name `{text}` in the braces"));
                    }
                }
                Some(_) => {
                    let key = c
                        .take_while(|ch| ch.is_ascii_alphanumeric() || ch == '_')
                        .to_owned();
                    if !is_label_name(&key) {
                        return Err(format!(
                            "expected a label name at column {}, found `{}`",
                            c.at + 1,
                            c.peek().map(String::from).unwrap_or_default()
                        ));
                    }
                    c.skip_blanks();
                    if c.bump() != Some('=') {
                        return Err(format!("label `{key}` has no `=`"));
                    }
                    c.skip_blanks();
                    if c.peek() != Some('"') {
                        return Err(format!("label `{key}` has no quoted value"));
                    }
                    labels.push((key, c.quoted()?));
                }
                None => return Err("the label set is not closed with `}`".into()),
            }
            c.skip_blanks();
            match c.peek() {
                Some(',') => {
                    c.bump();
                }
                Some('}') => {}
                _ => return Err("expected `,` or `}` after a label".into()),
            }
        }
    }
    let quoted_name = line.trim_start().starts_with('{');
    if name.is_empty() || (!quoted_name && !is_metric_name(&name)) {
        return Err(format!("expected a metric name, found `{}`", line.trim()));
    }
    c.skip_blanks();
    let value_text = c.take_while(|ch| ch != ' ' && ch != '\t');
    let value = parse_value(value_text)
        .ok_or_else(|| format!("`{value_text}` is not a sample value (of `{name}`)"))?;
    c.skip_blanks();
    let timestamp = match c.peek() {
        None | Some('#') => None,
        Some(_) => {
            let t = c.take_while(|ch| ch != ' ' && ch != '\t');
            Some(
                t.parse::<f64>()
                    .map_err(|_| format!("`{t}` is not a timestamp (of `{name}`)"))?,
            )
        }
    };
    c.skip_blanks();
    // What may follow is an OpenMetrics exemplar (`# {…} value [ts]`).
    if let Some(ch) = c.peek()
        && ch != '#'
    {
        return Err(format!(
            "unexpected `{}` after the sample of `{name}`",
            &line[c.at..]
        ));
    }
    Ok(Sample {
        name,
        labels,
        value,
        timestamp,
    })
}

fn parse_value(s: &str) -> Option<f64> {
    match s {
        "+Inf" | "Inf" | "+inf" | "inf" => Some(f64::INFINITY),
        "-Inf" | "-inf" => Some(f64::NEG_INFINITY),
        "NaN" | "nan" => Some(f64::NAN),
        _ => {
            let v: f64 = s.parse().ok()?;
            Some(v)
        }
    }
}

impl fmt::Display for FamilyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FamilyKind::Counter => "counter",
            FamilyKind::Gauge => "gauge",
            FamilyKind::Histogram => "histogram",
            FamilyKind::GaugeHistogram => "gaugehistogram",
            FamilyKind::Summary => "summary",
            FamilyKind::Info => "info",
            FamilyKind::StateSet => "stateset",
            FamilyKind::Untyped => "untyped",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(text: &str) -> Sample {
        let fams = parse(text).unwrap();
        assert_eq!(fams.len(), 1, "{fams:?}");
        assert_eq!(fams[0].samples.len(), 1);
        fams[0].samples[0].clone()
    }

    #[test]
    fn a_closing_brace_inside_a_label_value_is_part_of_the_value() {
        let s = one(r#"http_requests_total{route="/items/{id}",method="GET"} 12"#);
        assert_eq!(s.label("route"), Some("/items/{id}"));
        assert_eq!(s.label("method"), Some("GET"));
        assert_eq!(s.value, 12.0);
    }

    #[test]
    fn label_values_unescape_quotes_backslashes_and_newlines() {
        let s = one(r#"m{a="x\"y",b="c:\\d",c="l1\nl2"} 1"#);
        assert_eq!(s.label("a"), Some("x\"y"));
        assert_eq!(s.label("b"), Some("c:\\d"));
        assert_eq!(s.label("c"), Some("l1\nl2"));
    }

    #[test]
    fn special_values_timestamps_and_a_trailing_comma_are_read() {
        let fams = parse("a{x=\"1\",} +Inf 1700000000000\nb -Inf\nc NaN\nd 1.5e-3\n").unwrap();
        let v: Vec<&Sample> = fams.iter().flat_map(|f| &f.samples).collect();
        assert_eq!(v[0].value, f64::INFINITY);
        assert_eq!(v[0].timestamp, Some(1.7e12));
        assert_eq!(v[1].value, f64::NEG_INFINITY);
        assert!(v[2].value.is_nan());
        assert_eq!(v[3].value, 0.0015);
    }

    #[test]
    fn samples_join_the_family_their_type_names_by_suffix() {
        let text = "# HELP req_seconds Time per request.\n\
                    # TYPE req_seconds histogram\n\
                    req_seconds_bucket{le=\"0.1\"} 3\n\
                    req_seconds_bucket{le=\"+Inf\"} 5\n\
                    req_seconds_sum 0.9\n\
                    req_seconds_count 5\n\
                    # TYPE jobs counter\n\
                    jobs_total 7\n\
                    jobs_created 1.7e9\n\
                    # TYPE up gauge\n\
                    up 1\n\
                    stray_metric 4\n";
        let fams = parse(text).unwrap();
        let names: Vec<(&str, FamilyKind, usize)> = fams
            .iter()
            .map(|f| (f.name.as_str(), f.kind, f.samples.len()))
            .collect();
        assert_eq!(
            names,
            vec![
                ("req_seconds", FamilyKind::Histogram, 4),
                ("jobs", FamilyKind::Counter, 2),
                ("up", FamilyKind::Gauge, 1),
                ("stray_metric", FamilyKind::Untyped, 1),
            ]
        );
        assert_eq!(fams[0].help.as_deref(), Some("Time per request."));
    }

    #[test]
    fn openmetrics_exemplars_units_and_eof_are_read_and_dropped() {
        let text = "# TYPE foo counter\n# UNIT foo seconds\n\
                    foo_total 17.0 1520879607.789 # {trace_id=\"KOO5S4vxi0o\"} 0.67\n\
                    # EOF\nafter_eof 1\n";
        let fams = parse(text).unwrap();
        assert_eq!(fams.len(), 1);
        assert_eq!(fams[0].kind, FamilyKind::Counter);
        assert_eq!(fams[0].samples[0].value, 17.0);
        assert_eq!(fams[0].samples[0].timestamp, Some(1520879607.789));
    }

    #[test]
    fn a_quoted_metric_name_inside_the_braces_is_the_name() {
        let s = one(r#"{"my.dotted.metric", "le.v"="1", b="2"} 3"#);
        assert_eq!(s.name, "my.dotted.metric");
        assert_eq!(s.label("le.v"), Some("1"));
        assert_eq!(s.value, 3.0);
    }

    #[test]
    fn help_text_unescapes_backslash_and_newline() {
        let fams = parse("# HELP m a\\\\b\\nc\n# TYPE m gauge\nm 1\n").unwrap();
        assert_eq!(fams[0].help.as_deref(), Some("a\\b\nc"));
        assert_eq!(fams[0].kind, FamilyKind::Gauge);
    }

    #[test]
    fn a_broken_line_is_an_error_naming_its_line() {
        for (text, line, needle) in [
            ("ok 1\nbad{a=\"x} 1\n", 2, "not closed"),
            ("ok 1\n\nm{a=x} 1\n", 3, "quoted value"),
            ("m one\n", 1, "not a sample value"),
            ("# TYPE m countr\n", 1, "unknown metric type"),
            ("m 1 2 3\n", 1, "unexpected"),
        ] {
            let e = parse(text).unwrap_err();
            assert_eq!(e.line, line, "{text:?}: {e}");
            assert!(e.message.contains(needle), "{text:?}: {e}");
        }
    }

    #[test]
    fn crlf_line_endings_and_comments_are_accepted() {
        let fams = parse("# a comment\r\nm{a=\"b\"} 2\r\n").unwrap();
        assert_eq!(fams[0].samples[0].value, 2.0);
        assert_eq!(fams[0].samples[0].label("a"), Some("b"));
    }
}
