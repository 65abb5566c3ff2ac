//! HTTP behind the engine's step contract ([`gauntlet_engine::step::Driver`]):
//! a plan request compiled once, rendered and sent per execution, its
//! `http_*` metrics recorded under the VU's one recorder lock, its response
//! shown to checks and captures as a [`Reply`].

use super::{
    ErrorKind, HttpClient, HttpRequest, HttpResponse, HttpSession, ResponseHeaders, SendOptions,
    Timings,
};
use gauntlet_engine::flow::{self, CompileError};
use gauntlet_engine::step::{
    BuildError, CompileContext, Content, Driver, ExecContext, Headers, MetricDecl, Outcome, Redact,
    Reply, Site, StepErrorCode, StepKey, TagMemo,
};
use gauntlet_engine::template::{JsonBody, Scope, Templates, Text};
use gauntlet_metrics::{MetricId, MetricKind, Recorder, Registry, TagKey, Unit};
use gauntlet_plan as plan;
use http::header::{HeaderName, HeaderValue};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

/// What `--http-debug` prints of each exchange.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpDebug {
    /// Request and response heads.
    Headers,
    /// Heads and bodies.
    Full,
}

const REQUEST_TAGS: &[TagKey] = &[
    TagKey::Scenario,
    TagKey::Group,
    TagKey::Name,
    TagKey::Method,
    TagKey::Status,
    TagKey::ExpectedResponse,
    TagKey::Proto,
    TagKey::ErrorCode,
];

/// The metrics the HTTP driver records, in [`HttpIds`] order.
pub const HTTP_METRICS: &[MetricDecl] = &[
    decl("http_reqs", MetricKind::Counter, Unit::Count),
    decl("http_req_duration", MetricKind::Trend, Unit::Microseconds),
    decl("http_req_total", MetricKind::Trend, Unit::Microseconds),
    decl("http_req_failed", MetricKind::Rate, Unit::Count),
    decl("http_req_blocked", MetricKind::Trend, Unit::Microseconds),
    decl("http_req_dns", MetricKind::Trend, Unit::Microseconds),
    decl("http_req_connecting", MetricKind::Trend, Unit::Microseconds),
    decl(
        "http_req_tls_handshaking",
        MetricKind::Trend,
        Unit::Microseconds,
    ),
    decl("http_req_sending", MetricKind::Trend, Unit::Microseconds),
    decl("http_req_waiting", MetricKind::Trend, Unit::Microseconds),
    decl("http_req_receiving", MetricKind::Trend, Unit::Microseconds),
    decl(
        "http_req_failure_duration",
        MetricKind::Trend,
        Unit::Microseconds,
    ),
    decl("http_redirects", MetricKind::Counter, Unit::Count),
    decl("data_sent", MetricKind::Counter, Unit::Bytes),
    decl("data_received", MetricKind::Counter, Unit::Bytes),
];

const fn decl(name: &'static str, kind: MetricKind, unit: Unit) -> MetricDecl {
    MetricDecl {
        name,
        kind,
        unit,
        tags: REQUEST_TAGS,
    }
}

/// The ids of [`HTTP_METRICS`] in a run's registry.
#[derive(Debug, Clone)]
#[allow(missing_docs)]
pub struct HttpIds {
    pub reqs: MetricId,
    pub duration: MetricId,
    pub total: MetricId,
    pub failed: MetricId,
    pub blocked: MetricId,
    pub dns: MetricId,
    pub connecting: MetricId,
    pub tls_handshaking: MetricId,
    pub sending: MetricId,
    pub waiting: MetricId,
    pub receiving: MetricId,
    pub failure_duration: MetricId,
    pub redirects: MetricId,
    pub data_sent: MetricId,
    pub data_received: MetricId,
}

impl HttpIds {
    fn resolve(registry: &Registry) -> HttpIds {
        let v = gauntlet_engine::step::resolve(registry, HTTP_METRICS);
        HttpIds {
            reqs: v[0],
            duration: v[1],
            total: v[2],
            failed: v[3],
            blocked: v[4],
            dns: v[5],
            connecting: v[6],
            tls_handshaking: v[7],
            sending: v[8],
            waiting: v[9],
            receiving: v[10],
            failure_duration: v[11],
            redirects: v[12],
            data_sent: v[13],
            data_received: v[14],
        }
    }
}

/// The HTTP driver of a run: the client (TLS settings, resolver), the
/// target's base URL, and the ids of its metrics.
#[derive(Debug)]
pub struct HttpDriver {
    client: HttpClient,
    /// Target base URL (no trailing slash).
    base_url: String,
    /// Print each exchange to stderr (`--http-debug`).
    pub debug: Option<HttpDebug>,
    ids: HttpIds,
}

impl HttpDriver {
    /// A driver sending through `client` to paths under `base_url`.
    pub fn new(client: HttpClient, base_url: String) -> HttpDriver {
        HttpDriver {
            client,
            base_url,
            debug: None,
            // Resolved by `bind` once the run's registry exists.
            ids: HttpIds::resolve(&Registry::new()),
        }
    }
}

/// A VU's HTTP session: its connections and cookies, the tag sets of its
/// requests, and the URL of its last request kept for the next.
#[derive(Debug)]
pub struct HttpStepSession {
    http: HttpSession,
    tags: TagMemo<RequestTagKey>,
    /// The URL of the last request sent, back from its response, and the
    /// step it belongs to: when that step is sent again, its static URL is
    /// this one and needs no clone (an allocation, a copy and a free per
    /// request, docs/performance.md).
    spare_url: Option<(StepKey, url::Url)>,
    /// The request as `--http-debug` prints it, until its response is in.
    debug: Option<String>,
}

/// A request rendered from its step, and how to send it.
#[derive(Debug)]
pub struct PreparedRequest {
    request: HttpRequest,
    options: SendOptions,
}

/// What a request's tag set depends on beyond its step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct RequestTagKey {
    step: StepKey,
    status: u16,
    error: Option<&'static str>,
    expected: bool,
    http2: bool,
}

impl Headers for ResponseHeaders {
    fn first(&self, name: &HeaderName) -> Option<&[u8]> {
        self.first_of(name)
    }
}

impl Outcome for HttpResponse {
    fn reply(&self) -> Reply<'_> {
        Reply {
            status: self.status,
            headers: &self.headers,
            content: Content::Bytes(&self.body),
            duration: self.timings.duration(),
        }
    }

    fn error_message(&self) -> Option<&str> {
        self.error.as_ref().map(|e| e.message.as_str())
    }

    fn timing(&self, which: plan::Timing) -> Option<Duration> {
        use plan::Timing as T;
        let t = &self.timings;
        Some(match which {
            T::Duration => t.duration(),
            T::Total => t.total(),
            T::Blocked => t.blocked,
            T::Dns => t.dns,
            T::Connecting => t.connecting,
            T::TlsHandshaking => t.tls_handshaking,
            T::Sending => t.sending,
            T::Waiting => t.waiting,
            T::Receiving => t.receiving,
        })
    }
}

fn header_name(name: &str) -> Result<HeaderName, CompileError> {
    HeaderName::from_bytes(name.as_bytes())
        .map_err(|_| CompileError::Invalid(format!("`{name}` is not a valid header name")))
}

fn request_tags(
    site: &Site<'_>,
    req: &CompiledRequest,
    k: RequestTagKey,
) -> gauntlet_metrics::TagSetId {
    let mut tags = vec![
        (TagKey::Method, Arc::<str>::from(req.method.as_str())),
        (TagKey::Status, Arc::from(k.status.to_string().as_str())),
        (
            TagKey::ExpectedResponse,
            Arc::from(if k.expected { "true" } else { "false" }),
        ),
        (
            TagKey::Proto,
            Arc::from(if k.http2 { "HTTP/2.0" } else { "HTTP/1.1" }),
        ),
    ];
    if let Some(e) = k.error {
        tags.push((TagKey::ErrorCode, Arc::from(e)));
    }
    tags.extend(
        req.tags
            .iter()
            .map(|(k, v)| (TagKey::parse(k), Arc::<str>::from(v.as_str()))),
    );
    site.intern(tags)
}

impl Driver for HttpDriver {
    type Session = HttpStepSession;
    type Step = CompiledRequest;
    type Request = PreparedRequest;
    type Outcome = HttpResponse;

    fn metrics(&self) -> &'static [MetricDecl] {
        HTTP_METRICS
    }

    fn bind(&mut self, registry: &Registry) {
        self.ids = HttpIds::resolve(registry);
    }

    fn compile(
        &self,
        request: &plan::Request,
        cx: &mut CompileContext<'_>,
    ) -> Result<CompiledRequest, CompileError> {
        compile_request(request, cx)
    }

    fn session(&self) -> HttpStepSession {
        HttpStepSession {
            http: self.client.session(),
            tags: TagMemo::default(),
            spare_url: None,
            debug: None,
        }
    }

    fn prepare(
        &self,
        session: &mut HttpStepSession,
        req: &CompiledRequest,
        cx: &ExecContext<'_>,
    ) -> Result<PreparedRequest, BuildError> {
        let spare = match session.spare_url.take() {
            Some((k, u)) if k == cx.site.key() => Some(u),
            _ => None,
        };
        let request = self.build(req, cx.templates, cx.scope, spare)?;
        session.debug = self
            .debug
            .map(|d| debug_request(cx.site.redact, cx.site.step_name, &request, d));
        Ok(PreparedRequest {
            request,
            // Bodies nobody reads are counted but not kept or decoded.
            options: SendOptions {
                discard_body: !cx.needs_content,
            },
        })
    }

    fn execute<'s>(
        &'s self,
        session: &'s mut HttpStepSession,
        prepared: PreparedRequest,
    ) -> impl Future<Output = HttpResponse> + Send + 's {
        session.http.send_with(prepared.request, prepared.options)
    }

    fn record(
        &self,
        session: &mut HttpStepSession,
        req: &CompiledRequest,
        resp: &HttpResponse,
        site: &Site<'_>,
        lag: Duration,
        rec: &mut Recorder,
    ) {
        if let (Some(request), Some(d)) = (session.debug.take(), self.debug) {
            print_exchange(site.redact, request, resp, d);
        }
        let ids = &self.ids;
        let expected = resp.error.is_none()
            && req
                .expected
                .iter()
                .any(|(a, b)| (*a..=*b).contains(&resp.status));
        // Each redirect followed is a request of its own (k6 records every
        // hop); the schedule's lag belongs to the first.
        let mut lag = lag;
        for hop in &resp.earlier {
            let expected = req
                .expected
                .iter()
                .any(|(a, b)| (*a..=*b).contains(&hop.status));
            let key = RequestTagKey {
                step: site.key(),
                status: hop.status,
                error: None,
                expected,
                http2: hop.version == http::Version::HTTP_2,
            };
            let tags = session.tags.get_or(key, || request_tags(site, req, key));
            let mut r = rec.row(tags);
            r.add_counter(ids.reqs, 1.0);
            r.add_counter(ids.redirects, 1.0);
            r.add_rate(ids.failed, !expected);
            record_timings(&mut r, ids, &hop.timings, lag);
            lag = Duration::ZERO;
        }
        let key = RequestTagKey {
            step: site.key(),
            status: resp.status,
            error: resp.error.as_ref().map(|e| e.kind.as_str()),
            expected,
            http2: resp.version == http::Version::HTTP_2,
        };
        let tags = session.tags.get_or(key, || request_tags(site, req, key));
        let t = &resp.timings;
        let mut r = rec.row(tags);
        r.add_counter(ids.reqs, 1.0);
        r.add_rate(ids.failed, !expected);
        if resp.error.as_ref().is_none_or(|e| e.kind.has_response()) {
            record_timings(&mut r, ids, t, lag);
        } else {
            // No complete response, so no response time: a refused
            // connection is not a 0 ms response (k6 records it as one).
            r.record_trend(ids.failure_duration, us(t.total()));
        }
        r.add_counter(ids.data_sent, resp.bytes_sent as f64);
        r.add_counter(ids.data_received, resp.bytes_received as f64);
    }

    fn reclaim(
        &self,
        session: &mut HttpStepSession,
        req: &CompiledRequest,
        site: &Site<'_>,
        resp: HttpResponse,
    ) {
        // A URL built from its template each time is not kept.
        let keep_url = matches!(req.url, Text::Static(_)) && req.query.is_empty();
        if keep_url && resp.redirects == 0 {
            session.spare_url = Some((site.key(), resp.url));
        }
    }

    /// Count the request a hard stop cut, if one was in flight: a request
    /// of its own, failed with `request_interrupted`, its time until the
    /// stop in `http_req_failure_duration`.
    fn interrupted(
        &self,
        session: &mut HttpStepSession,
        req: &CompiledRequest,
        site: &Site<'_>,
        rec: &mut Recorder,
    ) {
        let Some(since) = session.http.in_flight_since() else {
            return;
        };
        let key = RequestTagKey {
            step: site.key(),
            status: 0,
            error: Some(ErrorKind::RequestInterrupted.as_str()),
            expected: false,
            http2: false,
        };
        let tags = session.tags.get_or(key, || request_tags(site, req, key));
        let ids = &self.ids;
        let mut r = rec.row(tags);
        r.add_counter(ids.reqs, 1.0);
        r.add_rate(ids.failed, true);
        r.record_trend(ids.failure_duration, us(since.elapsed()));
    }

    fn reset(&self, session: &mut HttpStepSession) {
        session.debug = None;
        session.http.reset();
    }
}

impl HttpDriver {
    /// Render a request template into a driver request.
    /// `spare` is this request's static URL when the caller has it already.
    fn build(
        &self,
        r: &CompiledRequest,
        t: &Templates,
        scope: &Scope,
        spare: Option<url::Url>,
    ) -> Result<HttpRequest, BuildError> {
        let base_url = &self.base_url;
        let parse = |path: &str| {
            if path.starts_with("http://") || path.starts_with("https://") {
                url::Url::parse(path)
            } else {
                url::Url::parse(&format!("{base_url}{path}"))
            }
            .map_err(|e| BuildError {
                code: StepErrorCode::InvalidUrl,
                message: format!("URL `{path}`: {e}"),
                undefined: false,
            })
        };
        let mut url = match &r.url {
            Text::Static(_) if let Some(u) = spare => u,
            Text::Static(path) => match r.parsed_url.get() {
                Some((base, u)) if base == base_url => u.clone(),
                _ => {
                    let u = parse(path)?;
                    let _ = r.parsed_url.set((base_url.clone(), u.clone()));
                    u
                }
            },
            dynamic => parse(
                &t.render(dynamic, scope)
                    .map_err(|e| BuildError::template("url", e))?,
            )?,
        };
        // Credentials in a templated URL go as basic authentication (as
        // curl and k6 send them), never in the URL; a static URL had them
        // taken out when it was compiled.
        let credentials = match &r.url {
            Text::Static(_) => None,
            _ => flow::url_credentials(&mut url),
        };
        if !r.query.is_empty() {
            let mut q = url.query_pairs_mut();
            for (k, v) in &r.query {
                let v = t
                    .render(v, scope)
                    .map_err(|e| BuildError::template(&format!("query `{k}`"), e))?;
                q.append_pair(k, &v);
            }
        }
        let mut headers = http::HeaderMap::with_capacity(r.headers.len());
        for (k, v) in &r.headers {
            let val = t
                .render(v, scope)
                .map_err(|e| BuildError::template(&format!("header `{k}`"), e))?;
            headers.append(
                k.clone(),
                http::HeaderValue::from_str(&val).map_err(|_| BuildError {
                    code: StepErrorCode::InvalidHeader,
                    message: format!(
                        "header `{k}`: the rendered value is not a valid header value"
                    ),
                    undefined: false,
                })?,
            );
        }
        if let Some(value) = credentials
            && r.url_credentials_win
            && let Ok(value) = http::HeaderValue::from_str(&value)
        {
            headers.insert(http::header::AUTHORIZATION, value);
        }
        let body = match &r.body {
            CompiledBody::Empty => bytes::Bytes::new(),
            CompiledBody::Json(j) => t
                .render_json(j, scope)
                .map_err(|e| BuildError::template("json body", e))?,
            CompiledBody::Raw(x) => bytes::Bytes::from(
                t.render(x, scope)
                    .map_err(|e| BuildError::template("body", e))?
                    .as_bytes()
                    .to_vec(),
            ),
            CompiledBody::Form(f) => {
                let mut ser = url::form_urlencoded::Serializer::new(String::new());
                for (k, v) in f {
                    let v = t
                        .render(v, scope)
                        .map_err(|e| BuildError::template(&format!("form field `{k}`"), e))?;
                    ser.append_pair(k, &v);
                }
                bytes::Bytes::from(ser.finish())
            }
            CompiledBody::Multipart(boundary, parts) => {
                let mut b = Vec::new();
                for p in parts {
                    b.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
                    match (&p.value, &p.file) {
                        (_, Some((fname, content))) => {
                            b.extend_from_slice(format!("Content-Disposition: form-data; name=\"{}\"; filename=\"{fname}\"\r\n", p.name).as_bytes());
                            b.extend_from_slice(
                                format!(
                                    "Content-Type: {}\r\n\r\n",
                                    p.content_type
                                        .as_deref()
                                        .unwrap_or("application/octet-stream")
                                )
                                .as_bytes(),
                            );
                            b.extend_from_slice(content);
                        }
                        (Some(v), None) => {
                            b.extend_from_slice(
                                format!("Content-Disposition: form-data; name=\"{}\"\r\n", p.name)
                                    .as_bytes(),
                            );
                            if let Some(ct) = &p.content_type {
                                b.extend_from_slice(format!("Content-Type: {ct}\r\n").as_bytes());
                            }
                            b.extend_from_slice(b"\r\n");
                            b.extend_from_slice(
                                t.render(v, scope)
                                    .map_err(|e| {
                                        BuildError::template(&format!("part `{}`", p.name), e)
                                    })?
                                    .as_bytes(),
                            );
                        }
                        (None, None) => {}
                    }
                    b.extend_from_slice(b"\r\n");
                }
                b.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
                bytes::Bytes::from(b)
            }
        };
        Ok(HttpRequest {
            method: r.method.clone(),
            url,
            headers,
            body,
            timeout: r.timeout,
        })
    }
}

fn compile_request(
    r: &plan::Request,
    cx: &mut CompileContext<'_>,
) -> Result<CompiledRequest, CompileError> {
    let method = http::Method::from_bytes(r.method.as_bytes())
        .map_err(|_| CompileError::Invalid(format!("bad method {}", r.method)))?;
    let mut headers = Vec::new();
    for (k, v) in cx
        .plan
        .target
        .headers
        .iter()
        .filter(|(k, _)| !r.headers.iter().any(|(rk, _)| rk.eq_ignore_ascii_case(k)))
    {
        headers.push((header_name(k)?, cx.text(v)?));
    }
    for (k, v) in &r.headers {
        headers.push((header_name(k)?, cx.text(v)?));
    }
    let query = r
        .query
        .iter()
        .map(|(k, v)| Ok((k.clone(), cx.text(v)?)))
        .collect::<Result<_, CompileError>>()?;
    let body = match &r.body {
        plan::Body::Empty => CompiledBody::Empty,
        plan::Body::Json(v) => {
            if !headers.iter().any(|(h, _)| h == http::header::CONTENT_TYPE) {
                headers.push((
                    http::header::CONTENT_TYPE,
                    Text::Static(Arc::from("application/json")),
                ));
            }
            CompiledBody::Json(cx.templates.json(v).map_err(|e| CompileError::Template {
                source_text: v.to_string(),
                message: e.to_string(),
            })?)
        }
        plan::Body::Raw(t) => CompiledBody::Raw(cx.text(t)?),
        plan::Body::Form(f) => {
            if !headers.iter().any(|(h, _)| h == http::header::CONTENT_TYPE) {
                headers.push((
                    http::header::CONTENT_TYPE,
                    Text::Static(Arc::from("application/x-www-form-urlencoded")),
                ));
            }
            CompiledBody::Form(
                f.iter()
                    .map(|(k, v)| Ok((k.clone(), cx.text(v)?)))
                    .collect::<Result<_, CompileError>>()?,
            )
        }
        plan::Body::Multipart(parts) => {
            let boundary: Arc<str> =
                Arc::from(format!("gauntlet-{}", uuid::Uuid::new_v4().simple()).as_str());
            let mut out = Vec::new();
            for p in parts {
                let file = match &p.file {
                    Some(f) => {
                        let path = cx.base.join(f);
                        let bytes = std::fs::read(&path).map_err(|e| {
                            CompileError::Invalid(format!("multipart file {}: {e}", path.display()))
                        })?;
                        let fname = path
                            .file_name()
                            .map(|n| n.to_string_lossy().into_owned())
                            .unwrap_or_else(|| f.clone());
                        Some((fname, bytes::Bytes::from(bytes)))
                    }
                    None => None,
                };
                let value = match &p.value {
                    Some(v) => Some(cx.text(v)?),
                    None => None,
                };
                out.push(MultipartPart {
                    name: p.name.clone(),
                    value,
                    file,
                    content_type: p.content_type.clone(),
                });
            }
            headers.retain(|(h, _)| h != http::header::CONTENT_TYPE);
            headers.push((
                http::header::CONTENT_TYPE,
                Text::Static(Arc::from(
                    format!("multipart/form-data; boundary={boundary}").as_str(),
                )),
            ));
            CompiledBody::Multipart(boundary, out)
        }
        _ => return Err(CompileError::Invalid("unsupported body".into())),
    };
    // A static URL's credentials become basic authentication once, here
    // (a request's own `Authorization` header wins over them).
    let url_credentials_win = !r
        .headers
        .iter()
        .any(|(k, _)| k.eq_ignore_ascii_case("authorization"));
    let mut url_source = r.url.clone();
    if r.url.is_static
        && let Ok(mut u) = url::Url::parse(&r.url.source)
        && let Some(value) = flow::url_credentials(&mut u)
    {
        url_source = plan::Template::new(u.as_str());
        if url_credentials_win {
            headers.retain(|(h, _)| h != http::header::AUTHORIZATION);
            headers.push((
                http::header::AUTHORIZATION,
                Text::Static(Arc::from(value.as_str())),
            ));
        }
    }
    for (h, v) in &headers {
        if let Text::Static(s) = v {
            HeaderValue::from_str(s)
                .map_err(|_| CompileError::Invalid(format!("header {h}: invalid value `{s}`")))?;
        }
    }
    Ok(CompiledRequest {
        method,
        url: cx.text(&url_source)?,
        headers,
        query,
        body,
        timeout: r.timeout,
        expected: r
            .expected_statuses
            .clone()
            .unwrap_or_else(|| vec![(200, 399)]),
        tags: r.tags.clone(),
        url_credentials_win,
        parsed_url: std::sync::OnceLock::new(),
    })
}

/// A request, ready to render.
#[derive(Debug, Clone)]
pub struct CompiledRequest {
    /// Method.
    pub method: http::Method,
    /// URL (absolute or path).
    pub url: Text,
    /// Headers (target defaults first, request's own after).
    pub headers: Vec<(HeaderName, Text)>,
    /// Query parameters.
    pub query: Vec<(String, Text)>,
    /// Body.
    pub body: CompiledBody,
    /// Timeout override.
    pub timeout: Option<Duration>,
    /// Expected status ranges for `http_req_failed`.
    pub expected: Vec<(u16, u16)>,
    /// Extra tags on this request's metrics.
    pub tags: Vec<(String, String)>,
    /// The request sets no `Authorization` header of its own, so a
    /// templated URL's credentials replace the target's (a static URL's
    /// were taken out at compile time).
    pub url_credentials_win: bool,
    /// The absolute URL of a static `url` and the base URL it was joined to,
    /// parsed by the first request: parsing and IDNA mapping per request
    /// cost more than the rest of building it.
    pub(crate) parsed_url: std::sync::OnceLock<(String, url::Url)>,
}

/// A body ready to render.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum CompiledBody {
    /// None.
    Empty,
    /// JSON.
    Json(JsonBody),
    /// Raw text.
    Raw(Text),
    /// URL-encoded form.
    Form(Vec<(String, Text)>),
    /// Multipart form: the boundary and the parts (files read once at compile time).
    Multipart(Arc<str>, Vec<MultipartPart>),
}

/// One multipart part, ready to render.
#[derive(Debug, Clone)]
pub struct MultipartPart {
    /// Field name.
    pub name: String,
    /// Text value (templated) for a field part.
    pub value: Option<Text>,
    /// File name and content for a file part.
    pub file: Option<(String, bytes::Bytes)>,
    /// Content type.
    pub content_type: Option<String>,
}

fn us(d: Duration) -> u64 {
    d.as_micros().min(u64::MAX as u128) as u64
}

/// The request as `--http-debug` prints it, with secrets shown as `***`.
fn debug_request(sh: &dyn Redact, step: &str, r: &HttpRequest, d: HttpDebug) -> String {
    use std::fmt::Write as _;
    let mut out = format!("--- request [{step}]\n{} {}\n", r.method, r.url);
    for (k, v) in &r.headers {
        let _ = writeln!(out, "{k}: {}", shown_header(sh, k.as_str(), v.as_bytes()));
    }
    if d == HttpDebug::Full && !r.body.is_empty() {
        let _ = writeln!(out, "\n{}", String::from_utf8_lossy(&r.body));
    }
    sh.redact(&out)
}

/// A header value as `--http-debug` shows it: credentials never.
fn shown_header(sh: &dyn Redact, name: &str, value: &[u8]) -> String {
    const HIDDEN: &[&str] = &[
        "authorization",
        "proxy-authorization",
        "cookie",
        "set-cookie",
    ];
    if HIDDEN.iter().any(|h| name.eq_ignore_ascii_case(h)) {
        "***".to_owned()
    } else {
        sh.redact(&String::from_utf8_lossy(value))
    }
}

/// Print one exchange to stderr in one write, so VUs do not interleave.
fn print_exchange(sh: &dyn Redact, request: String, resp: &HttpResponse, d: HttpDebug) {
    use std::fmt::Write as _;
    let mut out = request;
    let _ = write!(out, "--- response: ");
    match &resp.error {
        Some(e) if resp.status == 0 => {
            let _ = writeln!(out, "no response ({}: {})", e.kind.as_str(), e.message);
        }
        _ => {
            let _ = writeln!(out, "{:?} {}", resp.version, resp.status);
            for (k, v) in resp.headers.iter() {
                let _ = writeln!(out, "{k}: {}", shown_header(sh, k.as_str(), v.as_bytes()));
            }
            if d == HttpDebug::Full && !resp.body.is_empty() {
                let _ = writeln!(out, "\n{}", sh.redact(&String::from_utf8_lossy(&resp.body)));
            }
            if let Some(e) = &resp.error {
                let _ = writeln!(out, "(failed: {}: {})", e.kind.as_str(), e.message);
            }
        }
    }
    use std::io::Write as _;
    let _ = std::io::stderr().lock().write_all(out.as_bytes());
}

/// The response-time metrics of a request that got its response: the
/// duration and total corrected by `lag`, and every phase.
fn record_timings(r: &mut gauntlet_metrics::Row<'_>, ids: &HttpIds, t: &Timings, lag: Duration) {
    let duration = t.duration();
    r.record_latency(ids.duration, us(duration + lag), us(duration));
    r.record_latency(ids.total, us(t.total() + lag), us(t.total()));
    r.record_trend(ids.blocked, us(t.blocked));
    r.record_trend(ids.dns, us(t.dns));
    r.record_trend(ids.connecting, us(t.connecting));
    r.record_trend(ids.tls_handshaking, us(t.tls_handshaking));
    r.record_trend(ids.sending, us(t.sending));
    r.record_trend(ids.waiting, us(t.waiting));
    r.record_trend(ids.receiving, us(t.receiving));
}
