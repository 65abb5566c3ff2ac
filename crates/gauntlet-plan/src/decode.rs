//! Small combinators that turn spanned nodes into typed raw values while
//! collecting every error (instead of serde's stop-at-first behaviour).
//!
//! Each object type of the plan lists its accepted keys in a `&'static [&str]`;
//! [`Fields::finish`] reports the keys nobody asked for, with a did-you-mean.
//! The same lists are checked against the committed JSON Schema by a test, so
//! the schema cannot drift from the code.

use crate::diagnostic::{Diagnostic, Span, did_you_mean};
use crate::node::{Key, Node, NodeKind};

/// A value with the span it was read from.
#[derive(Debug, Clone, PartialEq)]
pub struct Located<T> {
    /// The value.
    pub value: T,
    /// Where it was written.
    pub span: Span,
}

impl<T> Located<T> {
    /// Wrap a value with its span.
    pub fn new(value: T, span: Span) -> Located<T> {
        Located { value, span }
    }
}

/// Collects diagnostics during decoding and validation.
#[derive(Debug, Default)]
pub(crate) struct Diagnostics {
    pub(crate) errors: Vec<Diagnostic>,
}

impl Diagnostics {
    pub(crate) fn push(&mut self, d: Diagnostic) {
        self.errors.push(d);
    }

    pub(crate) fn error(&mut self, span: Span, msg: impl Into<String>) {
        self.errors.push(Diagnostic::error(span, msg));
    }

    pub(crate) fn error_help(
        &mut self,
        span: Span,
        msg: impl Into<String>,
        help: impl Into<String>,
    ) {
        self.errors
            .push(Diagnostic::error(span, msg).with_help(help));
    }

    pub(crate) fn type_error(&mut self, node: &Node, what: &str, expected: &str) {
        self.errors.push(Diagnostic::error(
            node.span,
            format!("`{what}` must be {expected}, found {}", node.type_name()),
        ));
    }
}

/// Reads the keys of one mapping node, remembering which were consumed.
pub(crate) struct Fields<'n> {
    entries: &'n [(Key, Node)],
    used: Vec<bool>,
    known: &'static [&'static str],
    what: &'static str,
    /// Span of the whole mapping.
    pub(crate) span: Span,
}

impl<'n> Fields<'n> {
    /// Start reading `node` as a mapping describing a `what` (e.g. "scenario").
    pub(crate) fn new(
        node: &'n Node,
        diags: &mut Diagnostics,
        what: &'static str,
        known: &'static [&'static str],
    ) -> Option<Fields<'n>> {
        match &node.kind {
            NodeKind::Map(entries) => Some(Fields {
                entries,
                used: vec![false; entries.len()],
                known,
                what,
                span: node.span,
            }),
            _ => {
                diags.push(
                    Diagnostic::error(
                        node.span,
                        format!(
                            "a {what} must be a mapping of keys to values, found {}",
                            node.type_name()
                        ),
                    )
                    .with_help(format!("accepted keys: {}", known.join(", "))),
                );
                None
            }
        }
    }

    /// The node under `key`, if present; marks it used. `null` counts as absent.
    pub(crate) fn get(&mut self, key: &str) -> Option<&'n Node> {
        debug_assert!(
            self.known.contains(&key),
            "{key} missing from the known list of {}",
            self.what
        );
        let i = self.entries.iter().position(|(k, _)| k.name == key)?;
        self.used[i] = true;
        let n = &self.entries[i].1;
        if n.kind == NodeKind::Null {
            None
        } else {
            Some(n)
        }
    }

    /// Like [`Fields::get`] but reports a missing key.
    pub(crate) fn require(
        &mut self,
        key: &str,
        diags: &mut Diagnostics,
        help: &str,
    ) -> Option<&'n Node> {
        let n = self.get(key);
        if n.is_none() {
            diags.error_help(
                self.span,
                format!("{} is missing required key `{key}`", self.what),
                help,
            );
        }
        n
    }

    /// Whether `key` is present (without consuming it).
    pub(crate) fn has(&self, key: &str) -> bool {
        self.entries
            .iter()
            .any(|(k, n)| k.name == key && n.kind != NodeKind::Null)
    }

    /// The span of `key` itself, if present.
    pub(crate) fn key_span(&self, key: &str) -> Option<Span> {
        self.entries
            .iter()
            .find(|(k, _)| k.name == key)
            .map(|(k, _)| k.span)
    }

    /// Mark `keys` as read without reading them: their meaning depends on
    /// something that is already reported as wrong (an unknown executor),
    /// so they get no error of their own.
    pub(crate) fn skip(&mut self, keys: &[&str]) {
        for (i, (k, _)) in self.entries.iter().enumerate() {
            if keys.contains(&k.name.as_str()) {
                self.used[i] = true;
            }
        }
    }

    /// Report every key that was never read.
    pub(crate) fn finish(self, diags: &mut Diagnostics) {
        for (i, (k, _)) in self.entries.iter().enumerate() {
            if self.used[i] {
                continue;
            }
            // A key of this object that nothing read applies only in
            // another setting: say so, never "did you mean" the key itself.
            if self.known.contains(&k.name.as_str()) {
                diags.error(
                    k.span,
                    format!("`{}` does not apply to this {}", k.name, self.what),
                );
                continue;
            }
            let help = match did_you_mean(&k.name, self.known.iter().copied()) {
                Some(s) => format!("did you mean `{s}`?"),
                None => format!("accepted keys here: {}", self.known.join(", ")),
            };
            diags.error_help(
                k.span,
                format!("unknown key `{}` in {}", k.name, self.what),
                help,
            );
        }
    }
}

/// The entries of a mapping node whose keys are user-chosen names
/// (scenario names, operation names, header names).
pub(crate) fn named_entries<'n>(
    node: &'n Node,
    diags: &mut Diagnostics,
    what: &str,
) -> &'n [(Key, Node)] {
    match &node.kind {
        NodeKind::Map(m) => m,
        _ => {
            diags.type_error(node, what, "a mapping of names to values");
            &[]
        }
    }
}

/// The items of a sequence node.
pub(crate) fn seq<'n>(node: &'n Node, diags: &mut Diagnostics, what: &str) -> &'n [Node] {
    match &node.kind {
        NodeKind::Seq(v) => v,
        _ => {
            diags.type_error(node, what, "a list");
            &[]
        }
    }
}

pub(crate) fn string(node: &Node, diags: &mut Diagnostics, what: &str) -> Option<Located<String>> {
    match &node.kind {
        NodeKind::Str(s) => Some(Located::new(s.clone(), node.span)),
        _ => {
            diags.type_error(node, what, "a string");
            None
        }
    }
}

/// Strings, numbers and booleans as text (header values, tag values).
pub(crate) fn text(node: &Node, diags: &mut Diagnostics, what: &str) -> Option<Located<String>> {
    match node.scalar_text() {
        Some(s) => Some(Located::new(s, node.span)),
        None => {
            diags.type_error(node, what, "a string");
            None
        }
    }
}

pub(crate) fn boolean(node: &Node, diags: &mut Diagnostics, what: &str) -> Option<Located<bool>> {
    match &node.kind {
        NodeKind::Bool(b) => Some(Located::new(*b, node.span)),
        _ => {
            diags.type_error(node, what, "true or false");
            None
        }
    }
}

/// A signed integer (negative values are read so validation can say why
/// they are wrong, e.g. a stage with a negative target).
pub(crate) fn int(node: &Node, diags: &mut Diagnostics, what: &str) -> Option<Located<i64>> {
    match &node.kind {
        NodeKind::Int(i) => Some(Located::new(*i, node.span)),
        NodeKind::Float(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => {
            Some(Located::new(*f as i64, node.span))
        }
        NodeKind::Str(s) if s.trim().parse::<i64>().is_ok() => Some(Located::new(
            s.trim().parse::<i64>().unwrap_or_default(),
            node.span,
        )),
        _ => {
            diags.type_error(node, what, "a whole number");
            None
        }
    }
}

pub(crate) fn number(node: &Node, diags: &mut Diagnostics, what: &str) -> Option<Located<f64>> {
    match &node.kind {
        NodeKind::Int(i) => Some(Located::new(*i as f64, node.span)),
        NodeKind::Float(f) => Some(Located::new(*f, node.span)),
        _ => {
            diags.type_error(node, what, "a number");
            None
        }
    }
}

/// A mapping of user-chosen names to text values (headers, tags, env).
pub(crate) fn string_map(
    node: &Node,
    diags: &mut Diagnostics,
    what: &str,
) -> Vec<(Located<String>, Located<String>)> {
    named_entries(node, diags, what)
        .iter()
        .filter_map(|(k, v)| {
            let value = text(v, diags, &format!("{what}.{}", k.name))?;
            Some((Located::new(k.name.clone(), k.span), value))
        })
        .collect()
}
