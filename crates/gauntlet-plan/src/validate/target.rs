//! `target:`: where requests go (a URL or the embedded demo), its headers,
//! timeouts, TLS and HTTP options.

use super::auth::add_auth;
use super::request::check_headers;
use super::{DurationFormError, Validator, check_file, non_negative, positive, read_duration};
use crate::decode::{Fields, Located, boolean, int, number, seq, string, string_map, text};
use crate::duration::parse_duration;
use crate::files::{self};
use crate::node::{Node, NodeKind};
use crate::plan::*;
use std::time::Duration;

pub(crate) const TARGET_KEYS: &[&str] = &[
    "url",
    "headers",
    "auth",
    "timeout",
    "connectTimeout",
    "tls",
    "http",
    "demo",
];

pub(crate) const TLS_KEYS: &[&str] = &["insecureSkipTLSVerify", "caCerts", "clientCert"];

pub(crate) const CLIENT_CERT_KEYS: &[&str] = &["cert", "key"];

pub(crate) const HTTP_KEYS: &[&str] = &["version", "maxRedirects", "cookies", "compression"];

pub(crate) const DEMO_KEYS: &[&str] = &[
    "latency",
    "errorRate",
    "poolSize",
    "cacheTtl",
    "jobDuration",
    "seedItems",
    "stall",
];

pub(crate) const STALL_KEYS: &[&str] = &["every", "duration"];

impl Validator<'_> {
    pub(super) fn target(&mut self, node: &Node) -> Option<Target> {
        let mut t = Target {
            base: TargetBase::Demo(DemoOptions::default()),
            headers: Vec::new(),
            timeout: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(10),
            tls: TlsOptions::default(),
            http: HttpOptions::default(),
        };
        if let NodeKind::Str(s) = &node.kind {
            t.base = self.target_base(Located::new(s.clone(), node.span), None)?;
            return Some(t);
        }
        let (source, base) = (self.source, self.base.as_deref());
        let diags = &mut self.diags;
        let mut f = Fields::new(node, diags, "target", TARGET_KEYS)?;
        let url = f.require("url", diags, "set `url: demo` for the embedded demo service, or a base URL such as `http://127.0.0.1:8080`");
        let url = url.and_then(|n| string(n, diags, "target.url"));
        if let Some(h) = f.get("headers") {
            let pairs = string_map(h, diags, "headers");
            check_headers(diags, source, &pairs);
            self.header_templates.extend(
                pairs
                    .iter()
                    .filter(|(_, v)| v.value.contains("{{") || v.value.contains("{%"))
                    .map(|(_, v)| (v.value.clone(), v.span)),
            );
            t.headers = pairs
                .into_iter()
                .map(|(k, v)| (k.value, Template::new(v.value)))
                .collect();
        }
        if let Some(n) = f.get("auth") {
            let mut pairs = Vec::new();
            add_auth(diags, n, &mut pairs);
            if let Some((k, v)) = pairs.pop() {
                if t.headers
                    .iter()
                    .any(|(h, _)| h.eq_ignore_ascii_case("authorization"))
                {
                    diags.error_help(
                        k.span,
                        "`target.auth` and an `Authorization` header in `target.headers` both set the same header",
                        "keep one of them",
                    );
                }
                if v.value.contains("{{") || v.value.contains("{%") {
                    self.header_templates.push((v.value.clone(), v.span));
                }
                t.headers.push((k.value, Template::new(v.value)));
            }
        }
        if let Some(n) = f.get("timeout") {
            t.timeout = read_duration(n, diags, "timeout").unwrap_or(t.timeout);
        }
        if let Some(n) = f.get("connectTimeout") {
            t.connect_timeout =
                read_duration(n, diags, "connectTimeout").unwrap_or(t.connect_timeout);
        }
        if let Some(n) = f.get("tls")
            && let Some(mut tf) = Fields::new(n, diags, "tls section", TLS_KEYS)
        {
            if let Some(b) = tf
                .get("insecureSkipTLSVerify")
                .and_then(|n| boolean(n, diags, "insecureSkipTLSVerify"))
            {
                t.tls.insecure_skip_verify = b.value;
            }
            if let Some(l) = tf.get("caCerts") {
                let paths: Vec<Located<String>> = seq(l, diags, "caCerts")
                    .iter()
                    .filter_map(|n| string(n, diags, "caCerts[]"))
                    .collect();
                for p in &paths {
                    check_file(diags, base, p, |path| {
                        files::check_certificates(path, "CA certificate file")
                    });
                }
                t.tls.ca_certs = paths.into_iter().map(|s| s.value).collect();
            }
            if let Some(c) = tf.get("clientCert")
                && let Some(mut cf) = Fields::new(c, diags, "clientCert", CLIENT_CERT_KEYS)
            {
                let cert = cf
                    .require("cert", diags, "path of the PEM certificate")
                    .and_then(|n| string(n, diags, "cert"));
                let key = cf
                    .require("key", diags, "path of the PEM private key")
                    .and_then(|n| string(n, diags, "key"));
                if let Some(c) = &cert {
                    check_file(diags, base, c, |path| {
                        files::check_certificates(path, "client certificate file")
                    });
                }
                if let Some(k) = &key {
                    check_file(diags, base, k, files::check_private_key);
                }
                if let (Some(c), Some(k)) = (cert, key) {
                    t.tls.client_cert = Some((c.value, k.value));
                }
                cf.finish(diags);
            }
            tf.finish(diags);
        }
        if let Some(n) = f.get("http")
            && let Some(mut hf) = Fields::new(n, diags, "http section", HTTP_KEYS)
        {
            if let Some(v) = hf.get("version").and_then(|n| text(n, diags, "version")) {
                t.http.version = match v.value.as_str() {
                    "auto" => HttpVersion::Auto,
                    "http1" | "1.1" | "http/1.1" => HttpVersion::Http1,
                    "http2" | "2" | "h2" => HttpVersion::Http2,
                    "h2c" => HttpVersion::H2c,
                    other => {
                        diags.error_help(
                            v.span,
                            format!("unknown HTTP version `{other}`"),
                            "use auto, http1, http2 or h2c",
                        );
                        HttpVersion::Auto
                    }
                };
            }
            if let Some(v) = hf
                .get("maxRedirects")
                .and_then(|n| int(n, diags, "maxRedirects"))
            {
                t.http.max_redirects = non_negative(v, diags, "maxRedirects").unwrap_or(10) as u32;
            }
            if let Some(v) = hf.get("cookies").and_then(|n| boolean(n, diags, "cookies")) {
                t.http.cookies = v.value;
            }
            if let Some(v) = hf
                .get("compression")
                .and_then(|n| boolean(n, diags, "compression"))
            {
                t.http.compression = v.value;
            }
            hf.finish(diags);
        }
        let demo = f.get("demo");
        let demo_span = f.key_span("demo");
        f.finish(diags);
        let url = url?;
        let is_demo = url.value == "demo";
        if let (Some(span), false) = (demo_span, is_demo) {
            self.diags.error_help(
                span,
                "`demo` options only apply when `url: demo`",
                "remove `demo:` or set `url: demo`",
            );
        }
        t.base = self.target_base(url, demo)?;
        Some(t)
    }

    fn target_base(&mut self, url: Located<String>, demo: Option<&Node>) -> Option<TargetBase> {
        if url.value == "demo" {
            let opts = match demo {
                Some(n) => self.demo(n),
                None => DemoOptions::default(),
            };
            return Some(TargetBase::Demo(opts));
        }
        let u = url.value.trim();
        if !(u.starts_with("http://") || u.starts_with("https://")) || u.len() <= "https://".len() {
            self.diags.error_help(
                url.span,
                format!("target `{u}` is not an http(s) URL"),
                "write `http://host:port` or `https://host`, or `demo` for the embedded demo service",
            );
            return None;
        }
        Some(TargetBase::Url(u.trim_end_matches('/').to_owned()))
    }

    fn demo(&mut self, node: &Node) -> DemoOptions {
        let diags = &mut self.diags;
        let mut d = DemoOptions::default();
        let Some(mut f) = Fields::new(node, diags, "demo section", DEMO_KEYS) else {
            return d;
        };
        d.latency = f
            .get("latency")
            .and_then(|n| text(n, diags, "latency"))
            .and_then(|s| match check_latency(&s.value) {
                Ok(()) => Some(s.value),
                Err(e) => {
                    diags.error_help(
                        s.span,
                        format!("`latency`: {e}"),
                        "write `5ms`, `2ms..8ms` (uniform) or `lognormal:20ms:200ms` (median:p99)",
                    );
                    None
                }
            });
        if let Some(v) = f
            .get("errorRate")
            .and_then(|n| number(n, diags, "errorRate"))
        {
            if !(0.0..=1.0).contains(&v.value) {
                diags.error_help(
                    v.span,
                    "`errorRate` must be between 0 and 1",
                    "0.01 means 1% of requests fail",
                );
            } else {
                d.error_rate = Some(v.value);
            }
        }
        d.pool_size = f
            .get("poolSize")
            .and_then(|n| int(n, diags, "poolSize"))
            .and_then(|v| positive(v, diags, "poolSize"))
            .map(|v| v as u32);
        d.cache_ttl = f
            .get("cacheTtl")
            .and_then(|n| read_duration(n, diags, "cacheTtl"));
        d.job_duration = f
            .get("jobDuration")
            .and_then(|n| read_duration(n, diags, "jobDuration"));
        d.seed_items = f
            .get("seedItems")
            .and_then(|n| int(n, diags, "seedItems"))
            .and_then(|v| non_negative(v, diags, "seedItems"))
            .map(|v| v as u32);
        if let Some(n) = f.get("stall")
            && let Some(mut sf) = Fields::new(n, diags, "stall", STALL_KEYS)
        {
            let every = sf
                .require("every", diags, "e.g. `every: 5s`")
                .and_then(|n| read_duration(n, diags, "every"));
            let duration = sf
                .require("duration", diags, "e.g. `duration: 1s`")
                .and_then(|n| read_duration(n, diags, "duration"));
            if let (Some(e), Some(d2)) = (every, duration) {
                if d2 >= e {
                    diags.error(sf.span, "stall `duration` must be shorter than `every`");
                } else {
                    d.stall = Some((e, d2));
                }
            }
            sf.finish(diags);
        }
        f.finish(diags);
        d
    }
}

/// The demo's latency forms: `none`, `5ms`, `2ms..8ms`, `lognormal:MEDIAN:P99`.
fn check_latency(s: &str) -> Result<(), DurationFormError> {
    let s = s.trim();
    if s == "none" || s == "0" {
        return Ok(());
    }
    if let Some(rest) = s.strip_prefix("lognormal:") {
        let (m, p) = rest
            .split_once(':')
            .ok_or(DurationFormError::LognormalParts)?;
        let (m, p) = (parse_duration(m)?, parse_duration(p)?);
        return if m.is_zero() || p < m {
            Err(DurationFormError::LognormalOrder)
        } else {
            Ok(())
        };
    }
    if let Some((a, b)) = s.split_once("..") {
        return if parse_duration(a)? <= parse_duration(b)? {
            Ok(())
        } else {
            Err(DurationFormError::ReversedRange)
        };
    }
    parse_duration(s)?;
    Ok(())
}
