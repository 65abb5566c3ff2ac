//! The metric names a plan may reference in thresholds and SLAs.
//!
//! These are k6's built-in names (so k6 thresholds carry over verbatim) plus
//! the ones k6 lacks (`http_req_dns`, `http_req_total`). The plan crate owns
//! this list because the names are part of the plan language: validation needs
//! them to reject `http_req_duraton` with a did-you-mean before anything runs.
//! Plans add their own metrics: those declared under `metrics:` (any of the
//! four types) and polling steps' wait trends (e.g. `job_duration`).

use gauntlet_metrics::{MetricKind, Unit};

/// One metric a plan may reference.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetricInfo {
    /// The k6-compatible name.
    pub name: &'static str,
    /// Its kind; decides which statistics a threshold may use.
    pub kind: MetricKind,
    /// Its unit; decides which threshold units make sense.
    pub unit: Unit,
    /// One line for `--help`-style listings and reports.
    pub description: &'static str,
}

const fn m(
    name: &'static str,
    kind: MetricKind,
    unit: Unit,
    description: &'static str,
) -> MetricInfo {
    MetricInfo {
        name,
        kind,
        unit,
        description,
    }
}

use MetricKind::{Counter, Gauge, Rate, Trend};
use Unit::{Bytes, Count, Microseconds};

/// Every built-in metric, in the order the summary groups them.
pub const BUILTIN_METRICS: &[MetricInfo] = &[
    m("checks", Rate, Count, "share of checks that passed"),
    m("data_received", Counter, Bytes, "bytes received"),
    m("data_sent", Counter, Bytes, "bytes sent"),
    m(
        "dropped_iterations",
        Counter,
        Count,
        "arrival-rate iterations not started because no VU was free",
    ),
    m(
        "iteration_duration",
        Trend,
        Microseconds,
        "time of one complete iteration",
    ),
    m("iterations", Counter, Count, "completed iterations"),
    m("vus", Gauge, Count, "active virtual users"),
    m("vus_max", Gauge, Count, "allocated virtual users"),
    m(
        "group_duration",
        Trend,
        Microseconds,
        "time of one operation (group) run",
    ),
    m("http_reqs", Counter, Count, "HTTP requests sent"),
    m(
        "http_req_duration",
        Trend,
        Microseconds,
        "sending + waiting + receiving (k6 definition; excludes connection setup)",
    ),
    m(
        "http_req_total",
        Trend,
        Microseconds,
        "whole request time including blocked, DNS, connect and TLS",
    ),
    m(
        "http_req_failed",
        Rate,
        Count,
        "share of requests whose status was not expected",
    ),
    m(
        "http_req_blocked",
        Trend,
        Microseconds,
        "waiting for a connection (includes DNS, connect and TLS for new ones)",
    ),
    m("http_req_dns", Trend, Microseconds, "DNS resolution"),
    m("http_req_connecting", Trend, Microseconds, "TCP connect"),
    m(
        "http_req_tls_handshaking",
        Trend,
        Microseconds,
        "TLS handshake",
    ),
    m(
        "http_req_sending",
        Trend,
        Microseconds,
        "writing the request",
    ),
    m(
        "http_req_waiting",
        Trend,
        Microseconds,
        "time to first byte after sending",
    ),
    m(
        "http_req_receiving",
        Trend,
        Microseconds,
        "reading the response body",
    ),
    m(
        "capture_failures",
        Counter,
        Count,
        "captures that found nothing",
    ),
    m(
        "http_req_failure_duration",
        Trend,
        Microseconds,
        "time until a request that got no complete response failed (not in http_req_duration)",
    ),
    m(
        "http_redirects",
        Counter,
        Count,
        "redirects followed (each hop is also an http_reqs sample of its own)",
    ),
    m(
        "step_errors",
        Counter,
        Count,
        "steps not sent because their request could not be built (tags: name, error_code)",
    ),
    m(
        "metric_errors",
        Counter,
        Count,
        "values a step could not add to a plan metric (not a number; tags: name, metric)",
    ),
    m(
        "iterations_interrupted",
        Counter,
        Count,
        "iterations cut by a hard stop (gracefulStop, gracefulRampDown, a second Ctrl-C)",
    ),
    m(
        "iteration_start_lateness",
        Trend,
        Microseconds,
        "open-model iterations: how late the generator started them after their scheduled time",
    ),
];

/// Look a built-in metric up by name.
pub fn builtin(name: &str) -> Option<&'static MetricInfo> {
    BUILTIN_METRICS.iter().find(|m| m.name == name)
}

/// The system tags a `metric{tag:value}` selector may use without warning.
pub const SYSTEM_TAGS: &[&str] = &[
    "scenario",
    "name",
    "method",
    "status",
    "expected_response",
    "error_code",
    "check",
    "group",
    "proto",
    "url",
];

/// Every value the `error_code` tag takes, so a selector such as
/// `http_reqs{error_code:request_timeout}` is checked for spelling: the
/// HTTP driver's error kinds (gauntlet-drivers `ErrorKind::as_str`, which this
/// crate cannot depend on; gauntlet-cli's e2e tests compare the two lists) and
/// the engine's own `request_interrupted` (a request cut by a hard stop) and
/// `template_error` (a step whose request could not be built).
pub const ERROR_CODES: &[&str] = &[
    "io_error",
    "invalid_url",
    "invalid_request",
    "request_timeout",
    "dns_failure",
    "connect_timeout",
    "connection_refused",
    "network_unreachable",
    "connection_reset",
    "tls_handshake",
    "tls_certificate",
    "tls_alpn",
    "malformed_response",
    "http2_protocol",
    "too_many_redirects",
    "body_too_large",
    "body_decode",
    "request_interrupted",
    "template_error",
];
