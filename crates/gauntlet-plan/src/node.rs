//! A YAML document as a tree of nodes that remember where they came from.
//!
//! serde-saphyr parses (it is panic-free, enforces budgets against YAML bombs
//! and reports syntax errors with line and column); we deserialize into this
//! small spanned tree instead of straight into structs, so that decoding can
//! report *every* problem (unknown keys, wrong types, duplicate keys) instead
//! of stopping at the first, and every later semantic check can point at a
//! line and column.

use crate::diagnostic::{Diagnostic, Span};
use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::Spanned;
use std::fmt;

/// Largest plan file accepted. Plans are hand-written; anything bigger is a
/// mistake (a data file passed as a plan), and refusing it keeps memory bounded.
pub const MAX_PLAN_BYTES: usize = 4 * 1024 * 1024;

/// Deepest nesting accepted, against "YAML bomb" style inputs.
pub const MAX_DEPTH: usize = 48;

/// A node of the YAML tree with its source span.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Node {
    pub(crate) span: Span,
    pub(crate) kind: NodeKind,
}

/// The value of a node.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum NodeKind {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    Map(Vec<(Key, Node)>),
}

/// A mapping key with its own span (so "unknown key" points at the key).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Key {
    pub(crate) name: String,
    pub(crate) span: Span,
}

impl Node {
    /// A short human name of the node's type, for "expected X, found Y".
    pub(crate) fn type_name(&self) -> &'static str {
        match self.kind {
            NodeKind::Null => "null",
            NodeKind::Bool(_) => "a boolean",
            NodeKind::Int(_) => "an integer",
            NodeKind::Float(_) => "a number",
            NodeKind::Str(_) => "a string",
            NodeKind::Seq(_) => "a list",
            NodeKind::Map(_) => "a mapping",
        }
    }

    /// The scalar as text (strings, numbers and booleans), for fields that
    /// accept `30s` as well as `30`.
    pub(crate) fn scalar_text(&self) -> Option<String> {
        match &self.kind {
            NodeKind::Str(s) => Some(s.clone()),
            NodeKind::Int(i) => Some(i.to_string()),
            NodeKind::Float(f) => Some(f.to_string()),
            NodeKind::Bool(b) => Some(b.to_string()),
            _ => None,
        }
    }

    /// Convert to JSON (for JSON request bodies and for schema validation).
    pub(crate) fn to_json(&self) -> serde_json::Value {
        use serde_json::Value;
        match &self.kind {
            NodeKind::Null => Value::Null,
            NodeKind::Bool(b) => Value::Bool(*b),
            NodeKind::Int(i) => Value::from(*i),
            NodeKind::Float(f) => serde_json::Number::from_f64(*f)
                .map(Value::Number)
                .unwrap_or(Value::Null),
            NodeKind::Str(s) => Value::String(s.clone()),
            NodeKind::Seq(items) => Value::Array(items.iter().map(Node::to_json).collect()),
            NodeKind::Map(entries) => Value::Object(
                entries
                    .iter()
                    .map(|(k, v)| (k.name.clone(), v.to_json()))
                    .collect(),
            ),
        }
    }
}

/// What serde-saphyr hands us; converted to [`Node`] right after parsing.
enum RawNode {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Seq(Vec<Spanned<RawNode>>),
    Map(Vec<(Spanned<RawNode>, Spanned<RawNode>)>),
}

impl<'de> Deserialize<'de> for RawNode {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct RawNodeVisitor;
        impl<'de> Visitor<'de> for RawNodeVisitor {
            type Value = RawNode;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any YAML value")
            }
            fn visit_unit<E>(self) -> Result<RawNode, E> {
                Ok(RawNode::Null)
            }
            fn visit_none<E>(self) -> Result<RawNode, E> {
                Ok(RawNode::Null)
            }
            fn visit_some<D2: Deserializer<'de>>(self, d: D2) -> Result<RawNode, D2::Error> {
                RawNode::deserialize(d)
            }
            fn visit_bool<E>(self, v: bool) -> Result<RawNode, E> {
                Ok(RawNode::Bool(v))
            }
            fn visit_i64<E>(self, v: i64) -> Result<RawNode, E> {
                Ok(RawNode::Int(v))
            }
            fn visit_u64<E>(self, v: u64) -> Result<RawNode, E> {
                Ok(i64::try_from(v)
                    .map(RawNode::Int)
                    .unwrap_or(RawNode::Float(v as f64)))
            }
            fn visit_i128<E>(self, v: i128) -> Result<RawNode, E> {
                Ok(i64::try_from(v)
                    .map(RawNode::Int)
                    .unwrap_or(RawNode::Float(v as f64)))
            }
            fn visit_u128<E>(self, v: u128) -> Result<RawNode, E> {
                Ok(i64::try_from(v)
                    .map(RawNode::Int)
                    .unwrap_or(RawNode::Float(v as f64)))
            }
            fn visit_f64<E>(self, v: f64) -> Result<RawNode, E> {
                Ok(RawNode::Float(v))
            }
            fn visit_str<E>(self, v: &str) -> Result<RawNode, E> {
                Ok(RawNode::Str(v.to_owned()))
            }
            fn visit_string<E>(self, v: String) -> Result<RawNode, E> {
                Ok(RawNode::Str(v))
            }
            fn visit_bytes<E>(self, v: &[u8]) -> Result<RawNode, E> {
                Ok(RawNode::Str(String::from_utf8_lossy(v).into_owned()))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<RawNode, A::Error> {
                let mut v = Vec::new();
                while let Some(x) = a.next_element::<Spanned<RawNode>>()? {
                    v.push(x);
                }
                Ok(RawNode::Seq(v))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<RawNode, A::Error> {
                let mut v = Vec::new();
                while let Some((k, x)) = a.next_entry::<Spanned<RawNode>, Spanned<RawNode>>()? {
                    v.push((k, x));
                }
                Ok(RawNode::Map(v))
            }
        }
        d.deserialize_any(RawNodeVisitor)
    }
}

/// The span of a parser location. The byte offset is used when it agrees
/// with the parser's line; otherwise (a syntax error's location often has
/// no offset, or offset 0) the offset is found from the line and column, so
/// the snippet always shows the line the header names.
fn span_of(loc: &serde_saphyr::Location, source: &str) -> Span {
    let s = loc.span();
    let len = s.byte_len().unwrap_or(1) as usize;
    let (line, column) = (loc.line() as u32, loc.column() as u32);
    if let Some(off) = s.byte_offset() {
        let mut sp = Span::from_offset(source, off as usize, len);
        if line == 0 {
            return sp;
        }
        if sp.line == line {
            // Trust the parser's own column when the line agrees.
            sp.column = column.max(1);
            return sp;
        }
    }
    if line == 0 {
        return Span {
            line: 1,
            column: 1,
            offset: 0,
            len: 1,
            flag: None,
        };
    }
    Span::at_line_column(source, line, column, len)
}

fn convert(raw: Spanned<RawNode>, source: &str, errors: &mut Vec<Diagnostic>) -> Node {
    let span = span_of(&raw.referenced, source);
    let kind = match raw.value {
        RawNode::Null => NodeKind::Null,
        RawNode::Bool(b) => NodeKind::Bool(b),
        RawNode::Int(i) => NodeKind::Int(i),
        RawNode::Float(f) => NodeKind::Float(f),
        RawNode::Str(s) => NodeKind::Str(s),
        RawNode::Seq(items) => NodeKind::Seq(
            items
                .into_iter()
                .map(|n| convert(n, source, errors))
                .collect(),
        ),
        RawNode::Map(entries) => {
            let mut out: Vec<(Key, Node)> = Vec::with_capacity(entries.len());
            for (k, v) in entries {
                let key_node = convert(k, source, errors);
                let value = convert(v, source, errors);
                let Some(name) = key_node.scalar_text() else {
                    errors.push(
                        Diagnostic::error(key_node.span, "mapping keys must be plain text")
                            .with_help("use a string key such as `name:`"),
                    );
                    continue;
                };
                if let Some((first, _)) = out.iter().find(|(k, _)| k.name == name) {
                    errors.push(
                        Diagnostic::error(key_node.span, format!("duplicate key `{name}`"))
                            .with_help(format!(
                                "`{name}` is already set at line {}; YAML keeps only one of them, so remove or rename one",
                                first.span.line
                            )),
                    );
                    continue;
                }
                out.push((
                    Key {
                        name,
                        span: key_node.span,
                    },
                    value,
                ));
            }
            NodeKind::Map(out)
        }
    };
    Node { span, kind }
}

/// Why a file is not a plan: its source (empty when it is not text) and
/// the diagnostic. Boxed: the `Ok` side is what is passed around.
pub(crate) type Refusal = Box<(String, Diagnostic)>;

/// Parse plan text into a spanned tree.
///
/// Refuses, with a clear file-level error and without parsing, inputs that
/// cannot be a plan: empty, binary (NUL bytes or invalid UTF-8), or larger than
/// [`MAX_PLAN_BYTES`]. Syntax errors, nesting deeper than [`MAX_DEPTH`] and
/// alias bombs are reported with their line and column. Duplicate keys are
/// collected with the rest.
pub(crate) fn parse(bytes: &[u8]) -> Result<(String, Node, Vec<Diagnostic>), Refusal> {
    if bytes.len() > MAX_PLAN_BYTES {
        return Err(Box::new((
            String::new(),
            Diagnostic::file_error(format!(
                "file is {} bytes; a plan may be at most {} bytes",
                bytes.len(),
                MAX_PLAN_BYTES
            ))
            .with_help(
                "is this a data file? Reference data files from the plan's `data:` section instead",
            ),
        )));
    }
    if bytes.contains(&0) {
        return Err(Box::new((
            String::new(),
            Diagnostic::file_error("file is binary (it contains NUL bytes), not a YAML plan")
                .with_help(
                    "pass the path of a YAML plan, e.g. examples/quickstart.yaml (docs/plan-format.md describes the format)",
                ),
        )));
    }
    let source = match std::str::from_utf8(bytes) {
        Ok(s) => normalize_line_breaks(s.strip_prefix('\u{feff}').unwrap_or(s)),
        Err(e) => {
            return Err(Box::new((
                String::new(),
                Diagnostic::file_error(format!(
                    "file is not valid UTF-8 text (invalid byte at offset {})",
                    e.valid_up_to()
                ))
                .with_help("save the plan as UTF-8"),
            )));
        }
    };
    if source
        .lines()
        .all(|l| l.trim().is_empty() || l.trim_start().starts_with('#'))
    {
        return Err(Box::new((
            source,
            Diagnostic::file_error("plan is empty").with_help(
                "a plan needs at least `workload:` (what users do); see examples/quickstart.yaml",
            ),
        )));
    }
    let mut options = serde_saphyr::Options::default();
    options.duplicate_keys = serde_saphyr::DuplicateKeyPolicy::PassThrough;
    options.strict_booleans = true;
    options.with_snippet = false;
    let mut budget = serde_saphyr::Budget::default();
    budget.max_depth = MAX_DEPTH;
    budget.max_nodes = 200_000;
    budget.max_aliases = 10_000;
    budget.max_documents = 1;
    budget.max_total_scalar_bytes = MAX_PLAN_BYTES * 2;
    options.budget = Some(budget);
    match serde_saphyr::from_str_with_options::<Spanned<RawNode>>(&source, options) {
        Ok(raw) => {
            let mut errors = Vec::new();
            let node = convert(raw, &source, &mut errors);
            Ok((source, node, errors))
        }
        Err(e) => {
            let msg = yaml_error_message(&e);
            let diag = match e.location() {
                Some(loc) => Diagnostic::error(span_of(&loc, &source), msg),
                None => Diagnostic::file_error(msg),
            }
            .with_help("fix the YAML syntax first; other checks run once the file parses");
            Err(Box::new((source, diag)))
        }
    }
}

/// The text with every line break as `\n`: CRLF (Windows) and a bare CR
/// (classic Mac OS, some generators) are line breaks too, as editors show
/// them, so lines and columns count as the user sees the file. Without
/// this, a file with bare CRs is one long line (a leading comment made it
/// read as empty).
fn normalize_line_breaks(s: &str) -> String {
    if !s.contains('\r') {
        return s.to_owned();
    }
    s.replace("\r\n", "\n").replace('\r', "\n")
}

/// Whether the text is JavaScript (a k6 script) rather than YAML: a line
/// that only a script has, such as `import http from 'k6/http'` or
/// `export default function () {`.
pub(crate) fn looks_like_javascript(source: &str) -> bool {
    source.lines().map(str::trim_start).any(|l| {
        (l.starts_with("import ")
            && (l.contains(" from ") || l.contains("'k6") || l.contains("\"k6")))
            || l.starts_with("export default ")
            || l.starts_with("export function ")
            || l.starts_with("export const options")
            || l.starts_with("export let options")
            || l.contains("require('k6")
            || l.contains("require(\"k6")
    })
}

/// The refusal of a k6 script passed as a plan.
pub(crate) fn javascript_refusal() -> Diagnostic {
    Diagnostic::file_error(
        "this is a JavaScript file (a k6 script?), not a gauntlet plan: gauntlet plans are YAML",
    )
    .with_help(
        "write the requests, scenarios and thresholds as a YAML plan: docs/plan-format.md describes the format \
         (its section \"From k6 options.scenarios\" maps a k6 script's options; executors and thresholds carry over as they are), \
         and examples/quickstart.yaml is a complete plan to start from",
    )
}

/// The error's message without serde-saphyr's own location prefix and snippet
/// (we render both ourselves, uniformly with every other diagnostic).
fn yaml_error_message(e: &serde_saphyr::Error) -> String {
    let text = e.without_snippet().to_string();
    let first = text.lines().next().unwrap_or("invalid YAML").trim();
    let first = first.strip_prefix("error: ").unwrap_or(first);
    // Strip a leading "line N column M: ".
    let stripped = match first.find(": ") {
        Some(i) if first.starts_with("line ") => &first[i + 2..],
        _ => first,
    };
    // And a trailing " at line N, column M": the header already says where.
    let stripped = match stripped.rfind(" at line ") {
        Some(i) if stripped[i..].contains(", column ") => &stripped[..i],
        _ => stripped,
    };
    format!("invalid YAML: {stripped}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(src: &str) -> Node {
        parse(src.as_bytes())
            .map(|(_, n, e)| {
                assert!(e.is_empty(), "{e:?}");
                n
            })
            .unwrap_or_else(|e| panic!("{:?}", e.1))
    }

    #[test]
    fn spans_point_at_keys_and_values() {
        let n = ok("a:\n  bb: 10\n");
        let NodeKind::Map(m) = &n.kind else { panic!() };
        let NodeKind::Map(inner) = &m[0].1.kind else {
            panic!()
        };
        assert_eq!((inner[0].0.span.line, inner[0].0.span.column), (2, 3));
        assert_eq!((inner[0].1.span.line, inner[0].1.span.column), (2, 7));
        assert_eq!(inner[0].1.kind, NodeKind::Int(10));
    }

    #[test]
    fn yaml_1_1_booleans_stay_strings() {
        let n = ok("a: on\nb: true\n");
        let NodeKind::Map(m) = &n.kind else { panic!() };
        assert_eq!(m[0].1.kind, NodeKind::Str("on".into()));
        assert_eq!(m[1].1.kind, NodeKind::Bool(true));
    }

    #[test]
    fn duplicate_keys_are_collected_not_fatal() {
        let (_, _, errs) = parse(b"a: 1\nb: 2\na: 3\n").unwrap();
        assert_eq!(errs.len(), 1);
        assert_eq!(errs[0].span.unwrap().line, 3);
        assert!(errs[0].message.contains("duplicate key `a`"));
    }

    #[test]
    fn file_level_refusals() {
        assert!(parse(b"").unwrap_err().1.message.contains("empty"));
        assert!(
            parse(b"# only a comment\n")
                .unwrap_err()
                .1
                .message
                .contains("empty")
        );
        assert!(
            parse(b"\x00\x01\x02")
                .unwrap_err()
                .1
                .message
                .contains("binary")
        );
        assert!(
            parse(b"a: \xff\xfe")
                .unwrap_err()
                .1
                .message
                .contains("UTF-8")
        );
        let big = vec![b'a'; MAX_PLAN_BYTES + 1];
        assert!(parse(&big).unwrap_err().1.message.contains("at most"));
    }

    #[test]
    fn a_syntax_error_points_at_the_line_it_names() {
        let src = "version: 1\nname: x\nworkload:\n  a: [b\n  c: d\n";
        let (source, d) = *parse(src.as_bytes()).unwrap_err();
        let s = d.span.expect("a syntax error has a position");
        assert!(s.line > 1, "{d:?}");
        // The snippet is cut from the offset: it must be on the named line.
        assert_eq!(
            Span::from_offset(&source, s.offset, 1).line,
            s.line,
            "{d:?}"
        );
        let out = crate::diagnostic::render_all("p.yaml", &source, std::slice::from_ref(&d), false);
        let header = format!("p.yaml:{}:{}", s.line, s.column);
        assert!(out.contains(&header), "{out}");
        assert!(out.contains(&format!("{} |", s.line)), "{out}");
        assert!(!out.contains("1 | version"), "{out}");
    }

    #[test]
    fn bare_cr_line_endings_are_line_breaks() {
        let src = "# a plan saved with CR line endings\rversion: 1\rname: cr\r  bad: [\r";
        let (_, d) = *parse(src.as_bytes()).unwrap_err();
        assert!(!d.message.contains("empty"), "{d:?}");
        let n = ok("# comment\ra: 1\rb:\r  c: 2\r");
        let NodeKind::Map(m) = &n.kind else { panic!() };
        assert_eq!(m.len(), 2);
        assert_eq!(m[1].0.name, "b");
        assert_eq!((m[1].0.span.line, m[1].0.span.column), (3, 1));
        // CRLF keeps its line numbers too.
        let n = ok("a: 1\r\nb: 2\r\n");
        let NodeKind::Map(m) = &n.kind else { panic!() };
        assert_eq!(m[1].0.span.line, 2);
    }

    #[test]
    fn k6_scripts_are_recognised() {
        assert!(looks_like_javascript(
            "import http from 'k6/http';\nexport default function () {}\n"
        ));
        assert!(looks_like_javascript(
            "export const options = { vus: 1 };\n"
        ));
        assert!(!looks_like_javascript(
            "version: 1\nworkload:\n  operations:\n    get: GET /import\n"
        ));
    }

    #[test]
    fn syntax_error_has_location() {
        let (_, d) = *parse(b"a: [1, 2\nb: 3\n").unwrap_err();
        assert!(d.span.is_some(), "{d:?}");
        assert!(d.message.starts_with("invalid YAML"), "{d:?}");
    }

    #[test]
    fn deep_nesting_is_refused() {
        let deep = "[".repeat(10_000) + &"]".repeat(10_000);
        let (_, d) = *parse(deep.as_bytes()).unwrap_err();
        assert!(d.message.starts_with("invalid YAML"), "{d:?}");
    }

    #[test]
    fn alias_bomb_is_refused() {
        let mut s = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..12 {
            let p = i - 1;
            s.push_str(&format!(
                "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
            ));
        }
        let r = parse(s.as_bytes());
        assert!(r.is_err(), "an exponential alias expansion must be refused");
    }
}
