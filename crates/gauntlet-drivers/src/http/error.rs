//! Error kinds (the `error_code` tag), request errors and configuration
//! errors, plus the classification of I/O, TLS and hyper errors into kinds.
//!
//! Classification lives here, in one place, so that every phase maps the same
//! underlying failure to the same kind; callers never branch on messages.

use std::fmt;
use std::io;
use std::path::PathBuf;

/// Why a request failed, counted by kind in the results.
///
/// A closed set with stable names ([`ErrorKind::as_str`], the `error_code`
/// tag) and stable numbers ([`ErrorKind::code`]); the table in the
/// [module documentation](super) is the specification.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum ErrorKind {
    /// An I/O error that fits no other kind.
    Io,
    /// The URL cannot be requested (scheme not http/https, no host, or not
    /// representable as a request target).
    InvalidUrl,
    /// The request itself was refused before sending (for example a
    /// connection-specific header on HTTP/2).
    InvalidRequest,
    /// No complete response within the request timeout.
    RequestTimeout,
    /// The request was still in flight when a hard stop (the end of
    /// `gracefulStop` or `gracefulRampDown`, a second Ctrl-C) cut it. The
    /// driver never returns it: the engine records it for the request it
    /// dropped, so a stop leaves no request uncounted.
    RequestInterrupted,
    /// The host name did not resolve to any address.
    DnsFailure,
    /// Resolution + TCP connect + TLS handshake exceeded the connect timeout.
    ConnectTimeout,
    /// Nothing listens on the port (TCP RST to the SYN).
    ConnectionRefused,
    /// No route to the host or network.
    NetworkUnreachable,
    /// The peer closed or reset the connection before the response was complete.
    ConnectionReset,
    /// The TLS handshake failed (protocol mismatch, alert, client certificate refused).
    TlsHandshake,
    /// The server certificate is not trusted, expired or not valid for the name.
    TlsCertificate,
    /// HTTP/2 was required but TLS ALPN selected another protocol.
    TlsAlpn,
    /// The response is not valid HTTP/1 (bad status line, bad headers, too large head).
    MalformedResponse,
    /// An HTTP/2 protocol error (bad frame, stream reset, GOAWAY).
    Http2Protocol,
    /// More redirects than `max_redirects`.
    TooManyRedirects,
    /// The response body is larger than `max_body_bytes`.
    BodyTooLarge,
    /// The body could not be decompressed per its `Content-Encoding`.
    BodyDecode,
}

/// Every kind, in code order.
const ALL: &[ErrorKind] = &[
    ErrorKind::Io,
    ErrorKind::InvalidUrl,
    ErrorKind::InvalidRequest,
    ErrorKind::RequestTimeout,
    ErrorKind::RequestInterrupted,
    ErrorKind::DnsFailure,
    ErrorKind::ConnectTimeout,
    ErrorKind::ConnectionRefused,
    ErrorKind::NetworkUnreachable,
    ErrorKind::ConnectionReset,
    ErrorKind::TlsHandshake,
    ErrorKind::TlsCertificate,
    ErrorKind::TlsAlpn,
    ErrorKind::MalformedResponse,
    ErrorKind::Http2Protocol,
    ErrorKind::TooManyRedirects,
    ErrorKind::BodyTooLarge,
    ErrorKind::BodyDecode,
];

impl ErrorKind {
    /// Every kind in code order, so reports and docs can enumerate them.
    pub fn all() -> &'static [ErrorKind] {
        ALL
    }

    /// The specification row: (code, name). An exhaustive match, so a new
    /// kind cannot be added without its code and name.
    fn row(self) -> (u16, &'static str) {
        use ErrorKind::*;
        match self {
            Io => (1000, "io_error"),
            InvalidUrl => (1001, "invalid_url"),
            InvalidRequest => (1002, "invalid_request"),
            RequestTimeout => (1050, "request_timeout"),
            RequestInterrupted => (1051, "request_interrupted"),
            DnsFailure => (1100, "dns_failure"),
            ConnectTimeout => (1200, "connect_timeout"),
            ConnectionRefused => (1201, "connection_refused"),
            NetworkUnreachable => (1202, "network_unreachable"),
            ConnectionReset => (1210, "connection_reset"),
            TlsHandshake => (1300, "tls_handshake"),
            TlsCertificate => (1301, "tls_certificate"),
            TlsAlpn => (1302, "tls_alpn"),
            MalformedResponse => (1400, "malformed_response"),
            Http2Protocol => (1401, "http2_protocol"),
            TooManyRedirects => (1410, "too_many_redirects"),
            BodyTooLarge => (1500, "body_too_large"),
            BodyDecode => (1501, "body_decode"),
        }
    }

    /// Stable numeric code (see the module table): what machine consumers
    /// and exported results key on.
    pub fn code(self) -> u16 {
        self.row().0
    }

    /// Stable snake_case name: the value of the `error_code` tag.
    pub fn as_str(self) -> &'static str {
        self.row().1
    }

    /// Whether a request that failed with this kind still got its whole
    /// response (a redirect not followed, a body that did not decode): its
    /// time is a response time. Every other kind means no complete response
    /// arrived, and the time until the failure is not a latency.
    pub fn has_response(self) -> bool {
        matches!(self, ErrorKind::TooManyRedirects | ErrorKind::BodyDecode)
    }

    /// The kind with this numeric code, for reading exported results back.
    pub fn from_code(code: u16) -> Option<ErrorKind> {
        ALL.iter().copied().find(|k| k.code() == code)
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A failed request: the kind that is counted plus a human detail for logs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind}: {message}")]
pub struct HttpError {
    /// What went wrong, as a closed set.
    pub kind: ErrorKind,
    /// Detail for humans (never parsed).
    pub message: String,
}

impl HttpError {
    pub(crate) fn new(kind: ErrorKind, message: impl Into<String>) -> HttpError {
        HttpError {
            kind,
            message: message.into(),
        }
    }
}

/// Why an [`HttpClient`](super::HttpClient) could not be built: reported
/// before the run starts instead of failing every request.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HttpConfigError {
    /// A certificate or key file could not be read or parsed.
    #[error("{}: {message}", path.display())]
    Pem {
        /// The offending file.
        path: PathBuf,
        /// Why it was rejected.
        message: String,
    },
    /// rustls refused the TLS configuration (for example a key that does not
    /// match the client certificate).
    #[error("TLS configuration: {0}")]
    Tls(String),
    /// The configured `User-Agent` is not a valid header value.
    #[error("user agent {0:?} is not a valid header value")]
    UserAgent(String),
}

/// The kind of a rustls error.
fn rustls_kind(e: &rustls::Error) -> ErrorKind {
    match e {
        rustls::Error::InvalidCertificate(_) | rustls::Error::NoCertificatesPresented => {
            ErrorKind::TlsCertificate
        }
        rustls::Error::NoApplicationProtocol
        | rustls::Error::AlertReceived(rustls::AlertDescription::NoApplicationProtocol) => {
            ErrorKind::TlsAlpn
        }
        _ => ErrorKind::TlsHandshake,
    }
}

/// The kind of an I/O error seen on an established connection or while
/// connecting (TLS errors arrive as `InvalidData` wrapping a rustls error).
pub(crate) fn io_kind(e: &io::Error) -> ErrorKind {
    if let Some(r) = e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
        return rustls_kind(r);
    }
    match e.kind() {
        io::ErrorKind::ConnectionRefused => ErrorKind::ConnectionRefused,
        io::ErrorKind::ConnectionReset
        | io::ErrorKind::ConnectionAborted
        | io::ErrorKind::BrokenPipe
        | io::ErrorKind::UnexpectedEof
        | io::ErrorKind::NotConnected => ErrorKind::ConnectionReset,
        io::ErrorKind::HostUnreachable | io::ErrorKind::NetworkUnreachable => {
            ErrorKind::NetworkUnreachable
        }
        io::ErrorKind::TimedOut => ErrorKind::ConnectTimeout,
        // Only the TLS layer reports invalid data on our connections; h2
        // rebuilds I/O errors from kind and text, losing the rustls error.
        io::ErrorKind::InvalidData => ErrorKind::TlsHandshake,
        _ => ErrorKind::Io,
    }
}

/// What to do about a certificate the verifier refused, from its reason;
/// `None` for other handshake errors.
pub(crate) fn certificate_hint(e: &io::Error) -> Option<&'static str> {
    use rustls::CertificateError as C;
    let r = e.get_ref()?.downcast_ref::<rustls::Error>()?;
    let rustls::Error::InvalidCertificate(c) = r else {
        return None;
    };
    Some(match c {
        C::UnknownIssuer => {
            "the server's certificate is not signed by a CA this client trusts: add the PEM of the CA that signed it to target.tls.caCerts (or, for a test system, --insecure-skip-tls-verify)"
        }
        C::NotValidForName | C::NotValidForNameContext { .. } => {
            "the certificate is not issued for the host in the URL: use the name it was issued for (its subject alternative names), or reissue it with this name"
        }
        C::Expired | C::ExpiredContext { .. } => {
            "the certificate has expired: renew it (or check this machine's clock)"
        }
        C::NotValidYet | C::NotValidYetContext { .. } => {
            "the certificate is not valid yet: check this machine's clock"
        }
        C::Other(o) if o.to_string().contains("CaUsedAsEndEntity") => {
            "the server presents a CA certificate (basicConstraints CA:TRUE) as its own: WebPKI refuses that even when it is in caCerts; give the server a certificate signed by that CA (not a CA itself), or use --insecure-skip-tls-verify for a test system"
        }
        _ => "check the server's certificate chain against target.tls.caCerts",
    })
}

/// The kind of an error returned by the TLS handshake: anything that is not
/// a certificate problem or a timeout is a handshake failure, including the
/// peer closing mid-handshake (a plaintext server, a refused client cert).
pub(crate) fn tls_handshake_kind(e: &io::Error) -> ErrorKind {
    match io_kind(e) {
        k @ (ErrorKind::TlsCertificate | ErrorKind::TlsAlpn | ErrorKind::ConnectTimeout) => k,
        _ => ErrorKind::TlsHandshake,
    }
}

/// The kind of a hyper error on a connection speaking HTTP/2 when `h2`.
pub(crate) fn hyper_kind(e: &hyper::Error, h2: bool) -> ErrorKind {
    if e.is_parse() || e.is_parse_status() || e.is_parse_too_large() {
        return ErrorKind::MalformedResponse;
    }
    if e.is_parse_version_h2() {
        // An HTTP/1 request answered with an HTTP/2 preface.
        return ErrorKind::MalformedResponse;
    }
    if e.is_user() {
        return ErrorKind::InvalidRequest;
    }
    let mut src: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(e);
    while let Some(s) = src {
        if let Some(io) = s.downcast_ref::<io::Error>() {
            let k = io_kind(io);
            if k != ErrorKind::Io || !h2 {
                return k;
            }
        }
        if let Some(r) = s.downcast_ref::<rustls::Error>() {
            return rustls_kind(r);
        }
        // h2 keeps its I/O error out of the `source` chain.
        if let Some(io) = s.downcast_ref::<h2::Error>().and_then(h2::Error::get_io) {
            let k = io_kind(io);
            if k != ErrorKind::Io {
                return k;
            }
        }
        src = s.source();
    }
    if h2 {
        // Stream resets, GOAWAY and frame errors all surface as h2 errors.
        return ErrorKind::Http2Protocol;
    }
    if e.is_incomplete_message() || e.is_closed() || e.is_canceled() {
        return ErrorKind::ConnectionReset;
    }
    ErrorKind::Io
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_names_are_unique_and_grouped() {
        let mut codes: Vec<u16> = ErrorKind::all().iter().map(|k| k.code()).collect();
        let mut names: Vec<&str> = ErrorKind::all().iter().map(|k| k.as_str()).collect();
        assert!(codes.is_sorted(), "all() is in code order");
        codes.dedup();
        names.sort_unstable();
        names.dedup();
        assert_eq!(codes.len(), ErrorKind::all().len());
        assert_eq!(names.len(), ErrorKind::all().len());
        for k in ErrorKind::all() {
            assert_eq!(ErrorKind::from_code(k.code()), Some(*k));
            assert!((1000..1600).contains(&k.code()), "{k}");
            assert!(
                k.as_str()
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b == b'_' || b.is_ascii_digit()),
                "{k}"
            );
        }
        assert_eq!(ErrorKind::from_code(1), None);
    }

    /// The rustdoc table is the spec: every kind has its row, with the same
    /// number and name as the code.
    #[test]
    fn module_doc_table_matches_the_code() {
        let doc = include_str!("mod.rs");
        for k in ErrorKind::all() {
            let row = format!("//! | {} | `{}` |", k.code(), k.as_str());
            assert!(doc.contains(&row), "missing doc row `{row}`");
        }
    }

    #[test]
    fn io_errors_map_to_kinds() {
        let k = |e: io::ErrorKind| io_kind(&io::Error::from(e));
        assert_eq!(
            k(io::ErrorKind::ConnectionRefused),
            ErrorKind::ConnectionRefused
        );
        assert_eq!(
            k(io::ErrorKind::ConnectionReset),
            ErrorKind::ConnectionReset
        );
        assert_eq!(k(io::ErrorKind::UnexpectedEof), ErrorKind::ConnectionReset);
        assert_eq!(
            k(io::ErrorKind::HostUnreachable),
            ErrorKind::NetworkUnreachable
        );
        assert_eq!(k(io::ErrorKind::Other), ErrorKind::Io);
        let cert = io::Error::new(
            io::ErrorKind::InvalidData,
            rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer),
        );
        assert_eq!(io_kind(&cert), ErrorKind::TlsCertificate);
        let eof = io::Error::from(io::ErrorKind::UnexpectedEof);
        assert_eq!(tls_handshake_kind(&eof), ErrorKind::TlsHandshake);
    }
}
