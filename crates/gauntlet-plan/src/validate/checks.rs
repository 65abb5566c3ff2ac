//! A step's `checks:` and `captures:`.

use super::request::check_header_name;
use super::{Validator, check_identifier};
use crate::decode::{Diagnostics, Fields, Located, boolean, int, named_entries, string, text};
use crate::duration::parse_duration;
use crate::node::{Node, NodeKind};
use crate::plan::*;

pub(crate) const CHECK_KEYS: &[&str] = &[
    "name",
    "status",
    "bodyContains",
    "bodyMatches",
    "jsonPath",
    "header",
    "exists",
    "equals",
    "matches",
    "duration",
];

pub(crate) const CAPTURE_KEYS: &[&str] = &["jsonPath", "header", "regex", "status"];

impl Validator<'_> {
    pub(super) fn checks(&mut self, node: &Node) -> Vec<Check> {
        let mut out = Vec::new();
        let items: Vec<&Node> = match &node.kind {
            NodeKind::Seq(v) => v.iter().collect(),
            NodeKind::Map(_) => vec![node],
            _ => {
                self.diags.type_error(node, "checks", "a list of checks");
                return out;
            }
        };
        for n in items {
            if let Some(c) = self.check(n) {
                out.push(c);
            }
        }
        out
    }

    fn check(&mut self, node: &Node) -> Option<Check> {
        let source = self.source;
        let diags = &mut self.diags;
        let mut f = Fields::new(node, diags, "check", CHECK_KEYS)?;
        let name = f
            .get("name")
            .and_then(|n| string(n, diags, "name"))
            .map(|s| s.value);
        let kinds: Vec<&str> = [
            "status",
            "bodyContains",
            "bodyMatches",
            "jsonPath",
            "header",
            "duration",
        ]
        .into_iter()
        .filter(|k| f.has(k))
        .collect();
        if kinds.len() != 1 {
            let msg = if kinds.is_empty() {
                "a check needs one of status, bodyContains, bodyMatches, jsonPath, header, duration"
                    .to_owned()
            } else {
                format!("a check tests one thing, found {}", kinds.join(" and "))
            };
            diags.error_help(f.span, msg, "e.g. `- status: 201` or `- jsonPath: $.id` (split several into separate list items)");
            f.finish(diags);
            return None;
        }
        let exists = f
            .get("exists")
            .and_then(|n| boolean(n, diags, "exists"))
            .map(|b| b.value);
        let equals = f.get("equals");
        let matches = f.get("matches").and_then(|n| string(n, diags, "matches"));
        let kind = match kinds[0] {
            "status" => {
                let n = f.get("status")?;
                let items: Vec<&Node> = match &n.kind {
                    NodeKind::Seq(v) => v.iter().collect(),
                    _ => vec![n],
                };
                let mut codes = Vec::new();
                for i in items {
                    if let Some(v) = int(i, diags, "status") {
                        if (100..=599).contains(&v.value) {
                            codes.push(v.value as u16)
                        } else {
                            diags.error_help(
                                v.span,
                                format!("{} is not an HTTP status", v.value),
                                "statuses are 100 to 599",
                            )
                        }
                    }
                }
                CheckKind::Status(codes)
            }
            "bodyContains" => CheckKind::BodyContains(Template::new(
                text(f.get("bodyContains")?, diags, "bodyContains")?.value,
            )),
            "bodyMatches" => {
                let s = string(f.get("bodyMatches")?, diags, "bodyMatches")?;
                check_regex(diags, &s);
                CheckKind::BodyMatches(s.value)
            }
            "jsonPath" => {
                let p = string(f.get("jsonPath")?, diags, "jsonPath")?;
                check_json_path(diags, &p);
                match (equals, exists) {
                    (Some(e), None) => CheckKind::JsonPathEquals(p.value, e.to_json()),
                    (None, e) => CheckKind::JsonPathExists(p.value, e.unwrap_or(true)),
                    (Some(_), Some(_)) => {
                        diags.error(f.span, "use `equals` or `exists`, not both");
                        return None;
                    }
                }
            }
            "header" => {
                let h = string(f.get("header")?, diags, "header")?;
                check_header_name(diags, source, &h);
                if let Some(m) = &matches {
                    check_regex(diags, m);
                }
                match (equals, matches, exists) {
                    (Some(e), None, None) => CheckKind::HeaderEquals(
                        h.value,
                        Template::new(e.scalar_text().unwrap_or_default()),
                    ),
                    (None, Some(m), None) => CheckKind::HeaderMatches(h.value, m.value),
                    (None, None, e) => CheckKind::HeaderExists(h.value, e.unwrap_or(true)),
                    _ => {
                        diags.error(
                            f.span,
                            "use one of `equals`, `matches` or `exists` with `header`",
                        );
                        return None;
                    }
                }
            }
            _ => {
                let n = f.get("duration")?;
                let t = text(n, diags, "duration")?;
                let v = t.value.trim();
                let bound = v
                    .strip_prefix("<=")
                    .or_else(|| v.strip_prefix('<'))
                    .unwrap_or(v)
                    .trim();
                match parse_duration(bound) {
                    Ok(d) => CheckKind::DurationBelow(d),
                    Err(e) => {
                        diags.error_help(
                            t.span,
                            format!("`duration`: {e}"),
                            "write `duration: < 500ms`",
                        );
                        return None;
                    }
                }
            }
        };
        f.finish(diags);
        let name = name.unwrap_or_else(|| default_check_name(&kind));
        Some(Check { name, kind })
    }

    pub(super) fn captures(&mut self, node: &Node) -> Vec<Capture> {
        let mut out = Vec::new();
        let source = self.source;
        for (k, n) in named_entries(node, &mut self.diags, "capture") {
            let diags = &mut self.diags;
            check_identifier(diags, &k.name, k.span, "capture");
            let source = match &n.kind {
                NodeKind::Str(s) if s.starts_with('$') => {
                    check_json_path(diags, &Located::new(s.clone(), n.span));
                    Some(CaptureSource::JsonPath(s.clone()))
                }
                NodeKind::Str(s) => {
                    diags.error_help(n.span, format!("capture `{}`: `{s}` is not a JSON path", k.name), "write `$.id` for a JSON path, or `{header: Location}`, `{regex: 'id=(\\d+)'}`, `{status: true}`");
                    None
                }
                _ => {
                    let Some(mut f) = Fields::new(n, diags, "capture", CAPTURE_KEYS) else {
                        continue;
                    };
                    let present: Vec<&str> = CAPTURE_KEYS
                        .iter()
                        .copied()
                        .filter(|key| f.has(key))
                        .collect();
                    let src = if present.len() != 1 {
                        diags.error_help(
                            f.span,
                            format!(
                                "capture `{}` needs exactly one of jsonPath, header, regex, status",
                                k.name
                            ),
                            "e.g. `id: {jsonPath: $.id}`",
                        );
                        None
                    } else {
                        match present[0] {
                            "jsonPath" => f
                                .get("jsonPath")
                                .and_then(|n| string(n, diags, "jsonPath"))
                                .map(|p| {
                                    check_json_path(diags, &p);
                                    CaptureSource::JsonPath(p.value)
                                }),
                            "header" => f
                                .get("header")
                                .and_then(|n| string(n, diags, "header"))
                                .map(|h| {
                                    check_header_name(diags, source, &h);
                                    CaptureSource::Header(h.value)
                                }),
                            "regex" => {
                                f.get("regex")
                                    .and_then(|n| string(n, diags, "regex"))
                                    .map(|r| {
                                        check_regex(diags, &r);
                                        CaptureSource::Regex(r.value)
                                    })
                            }
                            _ => {
                                let _ = f.get("status");
                                Some(CaptureSource::Status)
                            }
                        }
                    };
                    f.finish(diags);
                    src
                }
            };
            if let Some(source) = source {
                out.push(Capture {
                    name: k.name.clone(),
                    source,
                });
            }
        }
        out
    }
}

pub(super) fn parse_status_range(s: &str) -> Option<(u16, u16)> {
    let s = s.trim();
    let (a, b) = match s.split_once('-') {
        Some((a, b)) => (a.trim().parse().ok()?, b.trim().parse().ok()?),
        None => {
            let v: u16 = s.parse().ok()?;
            (v, v)
        }
    };
    ((100..=599).contains(&a) && (100..=599).contains(&b) && a <= b).then_some((a, b))
}

fn check_regex(diags: &mut Diagnostics, s: &Located<String>) {
    if let Err(e) = regex_syntax::Parser::new().parse(&s.value) {
        diags.error_help(
            s.span,
            format!(
                "invalid regular expression: {}",
                e.to_string()
                    .lines()
                    .last()
                    .unwrap_or("syntax error")
                    .trim()
            ),
            "regular expressions use Rust `regex` syntax",
        );
    }
}

pub(super) fn check_json_path(diags: &mut Diagnostics, p: &Located<String>) {
    if !p.value.starts_with('$') {
        diags.error_help(
            p.span,
            format!("JSON path `{}` must start with `$`", p.value),
            "e.g. `$.id` or `$.items[0].id`",
        );
    }
}

fn default_check_name(kind: &CheckKind) -> String {
    match kind {
        CheckKind::Status(s) if s.len() == 1 => format!("status is {}", s[0]),
        CheckKind::Status(s) => format!(
            "status in {}",
            s.iter()
                .map(|c| c.to_string())
                .collect::<Vec<_>>()
                .join("|")
        ),
        CheckKind::BodyContains(t) => format!("body contains {}", t.source),
        CheckKind::BodyMatches(r) => format!("body matches /{r}/"),
        CheckKind::JsonPathExists(p, true) => format!("{p} exists"),
        CheckKind::JsonPathExists(p, false) => format!("{p} absent"),
        CheckKind::JsonPathEquals(p, v) => format!(
            "{p} == {}",
            match v {
                serde_json::Value::String(s) => s.clone(),
                o => o.to_string(),
            }
        ),
        CheckKind::HeaderExists(h, true) => format!("header {h} present"),
        CheckKind::HeaderExists(h, false) => format!("header {h} absent"),
        CheckKind::HeaderEquals(h, v) => format!("header {h} == {}", v.source),
        CheckKind::HeaderMatches(h, r) => format!("header {h} matches /{r}/"),
        CheckKind::DurationBelow(d) => {
            format!("duration < {}", crate::duration::format_duration(*d))
        }
    }
}
