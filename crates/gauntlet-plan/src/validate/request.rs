//! A step's `request:` (and a poll's): method, URL, headers, query and body, and
//! the header checks the HTTP client would make when the run starts.

use super::auth::add_auth;
use super::checks::parse_status_range;
use super::metrics::kind_phrase;
use super::{Validator, check_file, read_duration, span_in};
use crate::catalog;
use crate::decode::{Diagnostics, Fields, Located, seq, string, string_map, text};
use crate::diagnostic::Span;
use crate::files::{self};
use crate::node::{Node, NodeKind};
use crate::plan::*;
use gauntlet_metrics::{MetricKind, Unit};
use std::time::Duration;

pub(crate) const REQUEST_KEYS: &[&str] = &[
    "method",
    "url",
    "headers",
    "query",
    "json",
    "body",
    "form",
    "multipart",
    "timeout",
    "tags",
    "expectedStatuses",
    "auth",
];

pub(crate) const PART_KEYS: &[&str] = &["name", "value", "file", "contentType"];

pub(crate) const POLL_KEYS: &[&str] = &["request", "until", "interval", "timeout", "metric"];

const HTTP_METHODS: &[&str] = &["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"];

impl Validator<'_> {
    pub(super) fn request_shorthand(&mut self, s: Located<String>) -> Option<Request> {
        let trimmed = s.value.trim();
        let (method, url, url_off) = match trimmed.split_once(char::is_whitespace) {
            Some((m, rest)) if HTTP_METHODS.contains(&m.to_ascii_uppercase().as_str()) => {
                let off = s.value.find(rest.trim_start()).unwrap_or(0);
                (m.to_ascii_uppercase(), rest.trim().to_owned(), off)
            }
            Some((m, _)) if m.chars().all(|c| c.is_ascii_alphabetic()) => {
                self.diags.error_help(
                    s.span,
                    format!("unknown HTTP method `{m}`"),
                    format!("use one of {}", HTTP_METHODS.join(", ")),
                );
                return None;
            }
            _ => (
                "GET".to_owned(),
                trimmed.to_owned(),
                s.value.find(trimmed).unwrap_or(0),
            ),
        };
        let url_span = self.inner_span(s.span, url_off, url.len());
        self.check_url(&url, url_span);
        Some(Request {
            method,
            url: Template::new(url),
            headers: Vec::new(),
            query: Vec::new(),
            body: Body::Empty,
            timeout: None,
            tags: Vec::new(),
            expected_statuses: None,
        })
    }

    fn check_url(&mut self, url: &str, span: Span) {
        if url.is_empty() {
            self.diags.error(span, "empty URL");
        } else if !(url.starts_with('/')
            || url.starts_with("http://")
            || url.starts_with("https://")
            || url.starts_with("{{"))
        {
            self.diags.error_help(
                span,
                format!("URL `{url}` is neither absolute nor a path"),
                "paths start with `/` and are relative to the target URL",
            );
        }
    }

    pub(super) fn request(&mut self, node: &Node) -> Option<Request> {
        if let NodeKind::Str(s) = &node.kind {
            return self.request_shorthand(Located::new(s.clone(), node.span));
        }
        let (source, base) = (self.source, self.base.as_deref());
        let diags = &mut self.diags;
        let mut f = Fields::new(node, diags, "request", REQUEST_KEYS)?;
        let method = match f.get("method").and_then(|n| string(n, diags, "method")) {
            Some(m) => {
                let up = m.value.to_ascii_uppercase();
                if !HTTP_METHODS.contains(&up.as_str()) {
                    diags.error_help(
                        m.span,
                        format!("unknown HTTP method `{}`", m.value),
                        format!("use one of {}", HTTP_METHODS.join(", ")),
                    );
                }
                up
            }
            None => "GET".into(),
        };
        let url = f
            .require("url", diags, "e.g. `url: /api/items`")
            .and_then(|n| string(n, diags, "url"));
        let mut headers = f
            .get("headers")
            .map(|n| string_map(n, diags, "headers"))
            .unwrap_or_default();
        check_headers(diags, source, &headers);
        if let Some(n) = f.get("auth") {
            add_auth(diags, n, &mut headers);
        }
        let query = f
            .get("query")
            .map(|n| string_map(n, diags, "query"))
            .unwrap_or_default();
        let mut bodies = Vec::new();
        if let Some(n) = f.get("json") {
            bodies.push(("json", Body::Json(n.to_json())));
        }
        if let Some(n) = f.get("body").and_then(|n| text(n, diags, "body")) {
            bodies.push(("body", Body::Raw(Template::new(n.value))));
        }
        if let Some(n) = f.get("form") {
            bodies.push((
                "form",
                Body::Form(
                    string_map(n, diags, "form")
                        .into_iter()
                        .map(|(k, v)| (k.value, Template::new(v.value)))
                        .collect(),
                ),
            ));
        }
        if let Some(n) = f.get("multipart") {
            let mut parts = Vec::new();
            for p in seq(n, diags, "multipart") {
                let Some(mut pf) = Fields::new(p, diags, "multipart part", PART_KEYS) else {
                    continue;
                };
                let name = pf
                    .require("name", diags, "the form field name")
                    .and_then(|n| string(n, diags, "name"));
                let value = pf.get("value").and_then(|n| text(n, diags, "value"));
                let file = pf.get("file").and_then(|n| string(n, diags, "file"));
                if let Some(file) = &file {
                    check_file(diags, base, file, files::check_upload);
                }
                let content_type = pf
                    .get("contentType")
                    .and_then(|n| string(n, diags, "contentType"))
                    .map(|s| s.value);
                if value.is_some() == file.is_some() {
                    diags.error_help(
                        pf.span,
                        "a multipart part has exactly one of `value` or `file`",
                        "`value: text` for a field, `file: path` for an upload",
                    );
                }
                pf.finish(diags);
                if let Some(name) = name {
                    parts.push(Part {
                        name: name.value,
                        value: value.map(|v| Template::new(v.value)),
                        file: file.map(|f| f.value),
                        content_type,
                    });
                }
            }
            bodies.push(("multipart", Body::Multipart(parts)));
        }
        if bodies.len() > 1 {
            let names: Vec<_> = bodies.iter().map(|b| b.0).collect();
            diags.error_help(
                f.span,
                format!("a request has one body, found {}", names.join(" and ")),
                "keep one of json, body, form, multipart",
            );
        }
        let timeout = f
            .get("timeout")
            .and_then(|n| read_duration(n, diags, "timeout"));
        let tags = f
            .get("tags")
            .map(|n| string_map(n, diags, "tags"))
            .unwrap_or_default();
        self.tags
            .user
            .extend(tags.iter().map(|(k, v)| (k.value.clone(), v.value.clone())));
        let expected = f.get("expectedStatuses").map(|n| {
            let mut ranges = Vec::new();
            let items: Vec<&Node> = match &n.kind {
                NodeKind::Seq(v) => v.iter().collect(),
                _ => vec![n],
            };
            for item in items {
                let Some(t) = text(item, diags, "expectedStatuses") else {
                    continue;
                };
                match parse_status_range(&t.value) {
                    Some(r) => ranges.push(r),
                    None => diags.error_help(
                        t.span,
                        format!("`{}` is not a status or range", t.value),
                        "write `201` or `200-299`",
                    ),
                }
            }
            ranges
        });
        f.finish(diags);
        let url = url?;
        let url_span = self.inner_span(url.span, 0, url.value.len());
        self.check_url(&url.value, url_span);
        Some(Request {
            method,
            url: Template::new(url.value),
            headers: headers
                .into_iter()
                .map(|(k, v)| (k.value, Template::new(v.value)))
                .collect(),
            query: query
                .into_iter()
                .map(|(k, v)| (k.value, Template::new(v.value)))
                .collect(),
            body: bodies.pop().map(|b| b.1).unwrap_or(Body::Empty),
            timeout,
            tags: tags.into_iter().map(|(k, v)| (k.value, v.value)).collect(),
            expected_statuses: expected,
        })
    }

    pub(super) fn poll(&mut self, node: &Node, step_name: &str) -> Option<Poll> {
        let mut f = Fields::new(node, &mut self.diags, "poll", POLL_KEYS)?;
        let request = f.require(
            "request",
            &mut self.diags,
            "the request to repeat, e.g. `request: GET /api/jobs/{{ job_id }}`",
        );
        let request = request.and_then(|n| self.request(n));
        let until = match f.require(
            "until",
            &mut self.diags,
            "checks that say the work is done, e.g. `until: [{jsonPath: $.status, equals: done}]`",
        ) {
            Some(n) => self.checks(n),
            None => Vec::new(),
        };
        let interval = f
            .get("interval")
            .and_then(|n| read_duration(n, &mut self.diags, "interval"))
            .unwrap_or(Duration::from_secs(1));
        let timeout = f
            .get("timeout")
            .and_then(|n| read_duration(n, &mut self.diags, "timeout"))
            .unwrap_or(Duration::from_secs(300));
        if interval.is_zero() {
            self.diags
                .error(f.span, "poll `interval` must be more than 0");
        }
        let metric = match f
            .get("metric")
            .and_then(|n| string(n, &mut self.diags, "metric"))
        {
            Some(m) => {
                if !m
                    .value
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_')
                    || m.value.is_empty()
                {
                    self.diags.error_help(
                        m.span,
                        format!("`{}` is not a metric name", m.value),
                        "use letters, digits and `_`, e.g. `job_duration`",
                    );
                } else if catalog::builtin(&m.value).is_some() {
                    self.diags.error_help(
                        m.span,
                        format!("`{}` is a built-in metric", m.value),
                        "choose another name, e.g. `job_duration`",
                    );
                }
                m.value
            }
            None => {
                let name = format!("{}_duration", sanitize_metric(step_name));
                if catalog::builtin(&name).is_some() {
                    self.diags.error_help(
                        f.span,
                        format!("this poll's default metric `{name}` is a built-in metric"),
                        "name its metric, e.g. `metric: job_duration`",
                    );
                }
                name
            }
        };
        let poll_span = f.span;
        f.finish(&mut self.diags);
        if let Some(c) = self.custom_metrics.iter().find(|c| c.name == metric)
            && (c.kind, c.unit) != (MetricKind::Trend, Unit::Microseconds)
        {
            self.diags.error_help(
                poll_span,
                format!(
                    "this poll records its wait in `{metric}`, which `metrics:` declares as {}",
                    kind_phrase(c.kind, c.unit)
                ),
                "a poll's metric is a time trend: declare it `{type: trend, time: true}` or name another `metric:`",
            );
        }
        if !self.custom_metrics.iter().any(|c| c.name == metric) {
            self.custom_metrics.push(CustomMetric {
                name: metric.clone(),
                kind: MetricKind::Trend,
                unit: Unit::Microseconds,
            });
        }
        Some(Poll {
            request: request?,
            until,
            interval,
            timeout,
            metric,
        })
    }
}

/// Header names and values the HTTP client would refuse when the run starts.
pub(super) fn check_headers(
    diags: &mut Diagnostics,
    source: &str,
    headers: &[(Located<String>, Located<String>)],
) {
    for (name, value) in headers {
        check_header_name(diags, source, name);
        check_header_value(diags, &name.value, value);
    }
}

/// A character as an error message names it.
fn describe_char(c: char) -> String {
    match c {
        ' ' => "a space".to_owned(),
        '\t' => "a tab".to_owned(),
        '\n' | '\r' => "a line break".to_owned(),
        c if c.is_control() => format!("the control character U+{:04X}", c as u32),
        c => format!("`{c}`"),
    }
}

/// A header name is an RFC 9110 token: letters, digits and ``!#$%&'*+-.^_`|~``.
pub(super) fn check_header_name(diags: &mut Diagnostics, source: &str, name: &Located<String>) {
    let tchar = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
    let help = "header names are letters, digits and ! # $ % & ' * + - . ^ _ ` | ~ (an RFC 9110 token), e.g. `X-Request-Id`";
    if name.value.is_empty() {
        diags.error_help(name.span, "empty header name", help);
    } else if let Some((i, c)) = name.value.char_indices().find(|(_, c)| !tchar(*c)) {
        diags.error_help(
            span_in(source, name.span, i, c.len_utf8()),
            format!("header name `{}` contains {}", name.value, describe_char(c)),
            help,
        );
    }
}

/// A header value holds no control characters but tab (what the HTTP client accepts).
fn check_header_value(diags: &mut Diagnostics, name: &str, value: &Located<String>) {
    if let Some(c) = value
        .value
        .chars()
        .find(|c| c.is_ascii_control() && *c != '\t')
    {
        diags.error_help(
            value.span,
            format!("the value of header `{name}` contains {}", describe_char(c)),
            "a header value is one line without control characters; a YAML `|` or `>` block ends with a line break, a plain or quoted string does not",
        );
    }
}

fn sanitize_metric(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect()
}
