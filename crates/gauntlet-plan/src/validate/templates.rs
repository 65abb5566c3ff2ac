//! Templates of every step: their syntax, and that each name they use is
//! defined where it is used (captures of earlier steps, feeders, setup).

use super::Validator;
use crate::diagnostic::{Diagnostic, Span, did_you_mean};
use crate::plan::*;
use std::collections::BTreeSet;

/// Names usable in every template besides captures and feeders.
pub(crate) const TEMPLATE_GLOBALS: &[&str] = &[
    // variables
    "vu",
    "iter",
    "scenario",
    "env",
    // functions (implemented by the engine's template environment)
    "uuid",
    "random_int",
    "random_string",
    "random_float",
    "choice",
    "now",
    "timestamp",
    "payload",
    "fake",
    // minijinja's built-in globals
    "range",
    "dict",
    "namespace",
    "debug",
];

impl Validator<'_> {
    /// Check every template of a sequence of steps: syntax, and that every
    /// variable is defined at that point (captures of earlier steps only).
    pub(super) fn check_step_templates(
        &mut self,
        steps: &[(Span, Step)],
        owner: &str,
        allow_setup: bool,
    ) {
        let mut defined: Vec<String> = Vec::new();
        for (i, (span, step)) in steps.iter().enumerate() {
            let later: Vec<(&str, &str)> = steps[i..]
                .iter()
                .flat_map(|(_, s)| {
                    s.captures
                        .iter()
                        .map(move |c| (c.name.as_str(), s.name.as_str()))
                })
                .collect();
            let mut texts: Vec<&str> = Vec::new();
            let req = match &step.action {
                Action::Request(r) => r,
                Action::Poll(p) => &p.request,
            };
            collect_request_templates(req, &mut texts);
            let mut check_texts = Vec::new();
            for c in &step.checks {
                collect_check_templates(c, &mut check_texts);
            }
            if let Action::Poll(p) = &step.action {
                for c in &p.until {
                    collect_check_templates(c, &mut check_texts);
                }
            }
            let mut json_strings = Vec::new();
            if let Body::Json(v) = &req.body {
                collect_json_strings(v, &mut json_strings);
            }
            for t in texts
                .iter()
                .copied()
                .chain(check_texts.iter().map(|s| s.as_str()))
                .chain(json_strings.iter().map(|s| s.as_str()))
            {
                if !(t.contains("{{") || t.contains("{%")) {
                    continue;
                }
                self.check_template(t, *span, &defined, &later, owner, allow_setup);
            }
            defined.extend(step.captures.iter().map(|c| c.name.clone()));
            // A step's metric values are rendered after its own captures.
            for add in &step.metrics {
                if let ValueSource::Value(t) = &add.source
                    && !t.is_static
                {
                    self.check_template(&t.source, *span, &defined, &later, owner, allow_setup);
                }
            }
        }
    }

    pub(super) fn check_template(
        &mut self,
        text: &str,
        step_span: Span,
        defined: &[String],
        later: &[(&str, &str)],
        owner: &str,
        allow_setup: bool,
    ) {
        // Locate the text in the source to point inside it; fall back to the step.
        let base = self.find_in_step(text, step_span);
        let env = minijinja::Environment::new();
        let tmpl = match env.template_from_str(text) {
            Ok(t) => t,
            Err(e) => {
                let span = match (base, e.range()) {
                    (Some(b), Some(r)) => {
                        Span::from_offset(self.source, b + r.start, r.len().max(1))
                    }
                    (Some(b), None) => Span::from_offset(self.source, b, text.len()),
                    _ => step_span,
                };
                self.diags.push(
                    Diagnostic::error(
                        span,
                        format!(
                            "template error: {}",
                            e.detail().unwrap_or("invalid template syntax")
                        ),
                    )
                    .with_help("templates use Jinja syntax: `{{ variable }}`, `{{ uuid() }}`"),
                );
                return;
            }
        };
        let mut vars: Vec<String> = tmpl.undeclared_variables(false).into_iter().collect();
        vars.sort();
        for var in vars {
            let known = TEMPLATE_GLOBALS.contains(&var.as_str())
                || defined.contains(&var)
                || self.feeder_names.contains(&var)
                || (var == "setup" && self.has_setup && allow_setup);
            if known {
                continue;
            }
            let span = base
                .and_then(|b| {
                    find_var(
                        &self.source[b..b + text.len().min(self.source.len() - b)],
                        &var,
                    )
                    .map(|o| Span::from_offset(self.source, b + o, var.len()))
                })
                .unwrap_or(step_span);
            if let Some((_, step)) = later.iter().find(|(c, _)| *c == var) {
                self.diags.push(Diagnostic::error(span, format!("`{var}` is used before it is captured")).with_help(format!(
                    "step `{step}` captures `{var}` later in `{owner}`; move this use after that step, or capture it earlier"
                )));
            } else if var == "setup" && !allow_setup {
                self.diags.error_help(
                    span,
                    "`setup` is not available here",
                    "setup results are visible to scenarios and teardown, not to setup itself",
                );
            } else if var == "setup" {
                self.diags.error_help(
                    span,
                    "`setup` is used but the plan has no `setup:` section",
                    "add a `setup:` with steps that capture values",
                );
            } else {
                let mut candidates: Vec<&str> = TEMPLATE_GLOBALS.to_vec();
                candidates.extend(defined.iter().map(String::as_str));
                candidates.extend(self.feeder_names.iter().map(String::as_str));
                let help = match did_you_mean(&var, candidates) {
                    Some(c) => format!("did you mean `{c}`?"),
                    None => {
                        let mut avail: Vec<String> = defined.to_vec();
                        avail.extend(self.feeder_names.iter().cloned());
                        if avail.is_empty() {
                            "define it with `capture:` on an earlier step, or a `data:` feeder"
                                .to_owned()
                        } else {
                            format!(
                                "defined here: {}, plus vu, iter, scenario, env",
                                avail.join(", ")
                            )
                        }
                    }
                };
                self.diags
                    .error_help(span, format!("`{var}` is not defined"), help);
            }
        }
        self.check_columns(text, base.unwrap_or(step_span.offset), step_span);
    }

    /// Every `feeder.column` and `feeder['column']` in `text` must name a
    /// column of the feeder's file (else the run would send an empty value).
    fn check_columns(&mut self, text: &str, from: usize, fallback: Span) {
        let mut found = Vec::new();
        let mut seen = BTreeSet::new();
        for f in &self.feeder_columns {
            for r in column_refs(text, &f.name) {
                if f.columns.contains(&r.column)
                    || !seen.insert((f.name.as_str(), r.column.clone()))
                {
                    continue;
                }
                // Point at the column as written in the source, else at the step.
                let written = &text[r.start..r.column_at + r.column.len()];
                let from = from.min(self.source.len());
                let span = self.source[from..]
                    .find(written)
                    .map(|o| {
                        Span::from_offset(
                            self.source,
                            from + o + (r.column_at - r.start),
                            r.column.len(),
                        )
                    })
                    .unwrap_or(fallback);
                let help = match did_you_mean(&r.column, f.columns.iter().map(String::as_str)) {
                    Some(c) => format!("did you mean `{c}`?"),
                    None => format!("columns of {}: {}", f.file, f.columns.join(", ")),
                };
                found.push(
                    Diagnostic::error(
                        span,
                        format!("data `{}` has no column `{}`", f.name, r.column),
                    )
                    .with_help(help),
                );
            }
        }
        for d in found {
            self.diags.push(d);
        }
    }

    /// Byte offset of `text` inside the source, searched from the step's start.
    fn find_in_step(&self, text: &str, step_span: Span) -> Option<usize> {
        let from = step_span.offset.min(self.source.len());
        let first_line = text.lines().next().unwrap_or(text);
        self.source[from..].find(first_line).map(|o| from + o)
    }
}

fn collect_request_templates<'a>(r: &'a Request, out: &mut Vec<&'a str>) {
    out.push(&r.url.source);
    out.extend(r.headers.iter().map(|h| h.1.source.as_str()));
    out.extend(r.query.iter().map(|h| h.1.source.as_str()));
    match &r.body {
        Body::Raw(t) => out.push(&t.source),
        Body::Form(f) => out.extend(f.iter().map(|h| h.1.source.as_str())),
        Body::Multipart(p) => out.extend(
            p.iter()
                .filter_map(|p| p.value.as_ref().map(|v| v.source.as_str())),
        ),
        _ => {}
    }
}

fn collect_check_templates(c: &Check, out: &mut Vec<String>) {
    match &c.kind {
        CheckKind::BodyContains(t) | CheckKind::HeaderEquals(_, t) => out.push(t.source.clone()),
        CheckKind::JsonPathEquals(_, v) => collect_json_strings(v, out),
        _ => {}
    }
}

fn collect_json_strings(v: &serde_json::Value, out: &mut Vec<String>) {
    match v {
        serde_json::Value::String(s) => out.push(s.clone()),
        serde_json::Value::Array(a) => a.iter().for_each(|x| collect_json_strings(x, out)),
        serde_json::Value::Object(o) => o.values().for_each(|x| collect_json_strings(x, out)),
        _ => {}
    }
}

/// A reference to a feeder's column in a template: where the reference
/// starts, where the column name starts, and the column.
struct ColumnRef {
    start: usize,
    column_at: usize,
    column: String,
}

/// Every `feeder.column` and `feeder['column']` inside the `{{ }}` and
/// `{% %}` of `text` (string literals skipped; `feeder.method(...)` calls are not columns).
fn column_refs(text: &str, feeder: &str) -> Vec<ColumnRef> {
    let mut out = Vec::new();
    let b = text.as_bytes();
    let mut i = 0;
    while let Some(o) = text[i..].find('{') {
        let open = i + o;
        let close = match b.get(open + 1) {
            Some(b'{') => "}}",
            Some(b'%') => "%}",
            _ => {
                i = open + 1;
                continue;
            }
        };
        let start = open + 2;
        let end = text[start..].find(close).map_or(b.len(), |e| start + e);
        column_refs_in(text, start, end, feeder, &mut out);
        i = end;
    }
    out
}

/// [`column_refs`] within one expression, `text[start..end]`.
fn column_refs_in(text: &str, start: usize, end: usize, feeder: &str, out: &mut Vec<ColumnRef>) {
    let b = text.as_bytes();
    let ident_end = |mut k: usize| {
        while k < end && (b[k].is_ascii_alphanumeric() || b[k] == b'_') {
            k += 1;
        }
        k
    };
    let skip_ws = |mut k: usize| {
        while k < end && b[k].is_ascii_whitespace() {
            k += 1;
        }
        k
    };
    let mut j = start;
    // The last byte before `j` that is not white space: `x.users` is not the feeder.
    let mut prev = b' ';
    while j < end {
        let c = b[j];
        if c == b'\'' || c == b'"' {
            let mut k = j + 1;
            while k < end && b[k] != c {
                k += if b[k] == b'\\' { 2 } else { 1 };
            }
            j = k + 1;
            prev = c;
            continue;
        }
        if c.is_ascii_digit() {
            j = ident_end(j);
            prev = b'0';
            continue;
        }
        if c.is_ascii_alphabetic() || c == b'_' {
            let e = ident_end(j);
            if &text[j..e] == feeder && prev != b'.' {
                let k = skip_ws(e);
                if k < end && b[k] == b'.' {
                    let cs = skip_ws(k + 1);
                    let ce = ident_end(cs);
                    let call = skip_ws(ce) < end && b[skip_ws(ce)] == b'(';
                    if ce > cs && !call {
                        out.push(ColumnRef {
                            start: j,
                            column_at: cs,
                            column: text[cs..ce].to_owned(),
                        });
                    }
                } else if k < end && b[k] == b'[' {
                    let q = skip_ws(k + 1);
                    if q < end && (b[q] == b'\'' || b[q] == b'"') {
                        let quote = b[q] as char;
                        if let Some(len) = text[q + 1..end].find(quote) {
                            let (cs, ce) = (q + 1, q + 1 + len);
                            let closing = skip_ws(ce + 1);
                            if closing < end && b[closing] == b']' {
                                out.push(ColumnRef {
                                    start: j,
                                    column_at: cs,
                                    column: text[cs..ce].to_owned(),
                                });
                            }
                        }
                    }
                }
            }
            prev = b[e - 1];
            j = e;
            continue;
        }
        if !c.is_ascii_whitespace() {
            prev = c;
        }
        j += 1;
    }
}

/// Offset of `var` used as a whole word inside an expression in `text`.
fn find_var(text: &str, var: &str) -> Option<usize> {
    let bytes = text.as_bytes();
    let mut from = 0;
    while let Some(i) = text[from..].find(var) {
        let at = from + i;
        let before_ok = at == 0
            || !(bytes[at - 1].is_ascii_alphanumeric()
                || bytes[at - 1] == b'_'
                || bytes[at - 1] == b'.');
        let end = at + var.len();
        let after_ok =
            end >= bytes.len() || !(bytes[end].is_ascii_alphanumeric() || bytes[end] == b'_');
        let inside_expr = text[..at]
            .rfind("{{")
            .is_some_and(|o| text[..at].rfind("}}").is_none_or(|c| c < o))
            || text[..at]
                .rfind("{%")
                .is_some_and(|o| text[..at].rfind("%}").is_none_or(|c| c < o));
        if before_ok && after_ok && inside_expr {
            return Some(at);
        }
        from = end;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::column_refs;

    fn columns(text: &str) -> Vec<String> {
        column_refs(text, "users")
            .into_iter()
            .map(|r| r.column)
            .collect()
    }

    #[test]
    fn column_references_are_found_in_expressions_only() {
        assert_eq!(
            columns("users.a {{ users.b }} {{ users [ 'c' ] ~ users[\"d\"] | upper }}"),
            ["b", "c", "d"]
        );
        assert_eq!(
            columns("{% if users.e %}{{ users . f }}{% endif %}"),
            ["e", "f"]
        );
        // Strings, other objects' attributes and method calls are not columns.
        assert!(columns("{{ 'users.x' ~ setup.users.y ~ users.get('z') ~ myusers.w }}").is_empty());
    }
}
