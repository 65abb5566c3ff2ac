//! A small per-session cookie jar with the RFC 6265 basics load tests of
//! session-based apps need: host-only vs domain cookies, path matching,
//! `Max-Age`/`Expires` (including deletion), and `Secure`.
//!
//! Not implemented (documented limits): the public-suffix list (a server may
//! set a cookie for a parent domain it shares with others), `SameSite`
//! (no cross-site notion in a load generator), and size/count limits.

use super::headers::ResponseHeaders;
use std::fmt::Write as _;
use std::time::{Duration, SystemTime};
use url::Url;

#[derive(Debug, Clone)]
struct Entry {
    /// Lower-case host or domain (without a leading dot).
    domain: String,
    /// Sent only to exactly `domain` (no `Domain` attribute was given).
    host_only: bool,
    path: String,
    name: String,
    value: String,
    secure: bool,
    /// `None` for session cookies (kept until the jar is cleared).
    expires: Option<SystemTime>,
}

/// Cookies of one session.
#[derive(Debug, Default, Clone)]
pub(crate) struct Jar {
    entries: Vec<Entry>,
}

/// RFC 6265 §5.1.3 domain-match: equal, or a suffix after a dot (never for
/// IP addresses).
fn domain_match(host: &str, domain: &str) -> bool {
    if host == domain {
        return true;
    }
    host.len() > domain.len()
        && host.ends_with(domain)
        && host.as_bytes()[host.len() - domain.len() - 1] == b'.'
        && host.parse::<std::net::IpAddr>().is_err()
}

/// RFC 6265 §5.1.4 path-match.
fn path_match(req: &str, cookie: &str) -> bool {
    req == cookie
        || (req.starts_with(cookie)
            && (cookie.ends_with('/') || req.as_bytes().get(cookie.len()) == Some(&b'/')))
}

/// RFC 6265 §5.1.4 default-path: the directory of the request path.
fn default_path(url: &Url) -> String {
    let p = url.path();
    match p.rfind('/') {
        Some(0) | None => "/".to_owned(),
        Some(i) => p[..i].to_owned(),
    }
}

impl Jar {
    /// Whether the jar holds no cookie (the common case: no work per request).
    pub(crate) fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Forget every cookie.
    pub(crate) fn clear(&mut self) {
        self.entries.clear();
    }

    /// Remember the `Set-Cookie` headers of a response to `url`.
    pub(crate) fn store(&mut self, url: &Url, headers: &ResponseHeaders) {
        // Most responses set none: no clock read for them.
        if headers.first_of(&http::header::SET_COOKIE).is_some() {
            self.store_at(url, headers, SystemTime::now());
        }
    }

    fn store_at(&mut self, url: &Url, headers: &ResponseHeaders, now: SystemTime) {
        let mut values = headers.values_of(&http::header::SET_COOKIE).peekable();
        if values.peek().is_none() {
            return;
        }
        let host = url.host_str().unwrap_or_default().to_ascii_lowercase();
        for v in values {
            let Ok(text) = std::str::from_utf8(v) else {
                continue;
            };
            let Ok(c) = cookie::Cookie::parse(text) else {
                continue;
            };
            let (domain, host_only) = match c.domain().filter(|d| !d.is_empty()) {
                Some(d) => {
                    let d = d.trim_start_matches('.').to_ascii_lowercase();
                    if !domain_match(&host, &d) {
                        continue; // a server may not set cookies for other domains
                    }
                    (d, false)
                }
                None => (host.clone(), true),
            };
            let path = c
                .path()
                .filter(|p| p.starts_with('/'))
                .map(str::to_owned)
                .unwrap_or_else(|| default_path(url));
            // Max-Age wins over Expires (RFC 6265 §5.3 step 3).
            let expires = match c.max_age() {
                Some(age) if age.whole_seconds() <= 0 => Some(SystemTime::UNIX_EPOCH),
                Some(age) => {
                    now.checked_add(Duration::from_secs(age.whole_seconds().unsigned_abs()))
                }
                None => c.expires_datetime().map(|t| {
                    let secs = t.unix_timestamp();
                    if secs <= 0 {
                        SystemTime::UNIX_EPOCH
                    } else {
                        SystemTime::UNIX_EPOCH + Duration::from_secs(secs.unsigned_abs())
                    }
                }),
            };
            self.entries
                .retain(|e| !(e.name == c.name() && e.domain == domain && e.path == path));
            if expires.is_some_and(|t| t <= now) {
                continue; // an expiry in the past deletes the cookie
            }
            self.entries.push(Entry {
                domain,
                host_only,
                path,
                name: c.name().to_owned(),
                value: c.value().to_owned(),
                secure: c.secure().unwrap_or(false),
                expires,
            });
        }
    }

    /// The `Cookie` header value for a request to `url`, if any cookie applies.
    pub(crate) fn header_for(&mut self, url: &Url) -> Option<String> {
        self.header_for_at(url, SystemTime::now())
    }

    fn header_for_at(&mut self, url: &Url, now: SystemTime) -> Option<String> {
        if self.entries.is_empty() {
            return None;
        }
        self.entries.retain(|e| e.expires.is_none_or(|t| t > now));
        let host = url.host_str().unwrap_or_default();
        let secure = url.scheme() == "https";
        let path = url.path();
        let mut out = String::new();
        for e in &self.entries {
            let host_ok = if e.host_only {
                host.eq_ignore_ascii_case(&e.domain)
            } else {
                domain_match(&host.to_ascii_lowercase(), &e.domain)
            };
            if host_ok && path_match(path, &e.path) && (secure || !e.secure) {
                if !out.is_empty() {
                    out.push_str("; ");
                }
                let _ = write!(out, "{}={}", e.name, e.value);
            }
        }
        (!out.is_empty()).then_some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::{HeaderMap, HeaderValue};

    fn set(cookies: &[&'static str]) -> ResponseHeaders {
        let mut h = HeaderMap::new();
        for c in cookies {
            h.append(http::header::SET_COOKIE, HeaderValue::from_static(c));
        }
        h.into()
    }

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    #[test]
    fn host_only_and_domain_cookies() {
        let mut j = Jar::default();
        j.store(
            &url("http://api.example.test/login"),
            &set(&["a=1", "b=2; Domain=example.test", "c=3; Domain=other.test"]),
        );
        assert_eq!(
            j.header_for(&url("http://api.example.test/x")).as_deref(),
            Some("a=1; b=2")
        );
        assert_eq!(
            j.header_for(&url("http://www.example.test/")).as_deref(),
            Some("b=2"),
            "host-only cookie stays on its host"
        );
        assert_eq!(j.header_for(&url("http://badexample.test/")), None);
        assert_eq!(j.header_for(&url("http://other.test/")), None);
    }

    #[test]
    fn paths_match_by_segment_and_default_to_the_directory() {
        let mut j = Jar::default();
        j.store(
            &url("http://h.test/app/login"),
            &set(&["d=1", "p=2; Path=/api"]),
        );
        let get = |j: &mut Jar, u: &str| j.header_for(&url(u));
        assert_eq!(get(&mut j, "http://h.test/app").as_deref(), Some("d=1"));
        assert_eq!(get(&mut j, "http://h.test/app/x").as_deref(), Some("d=1"));
        assert_eq!(get(&mut j, "http://h.test/apple"), None);
        assert_eq!(get(&mut j, "http://h.test/api/v1").as_deref(), Some("p=2"));
        assert_eq!(get(&mut j, "http://h.test/apis"), None);
    }

    #[test]
    fn expiry_replacement_deletion_and_secure() {
        let mut j = Jar::default();
        let u = url("https://h.test/");
        let now = SystemTime::now();
        j.store_at(
            &u,
            &set(&[
                "s=1; Max-Age=10",
                "old=1; Expires=Wed, 21 Oct 2015 07:28:00 GMT",
                "sec=1; Secure",
            ]),
            now,
        );
        assert_eq!(j.header_for_at(&u, now).as_deref(), Some("s=1; sec=1"));
        assert_eq!(
            j.header_for_at(&url("http://h.test/"), now).as_deref(),
            Some("s=1"),
            "Secure cookies are not sent in clear text"
        );
        assert_eq!(
            j.header_for_at(&u, now + Duration::from_secs(11))
                .as_deref(),
            Some("sec=1"),
            "expired after Max-Age"
        );
        j.store_at(&u, &set(&["sec=2; Secure"]), now);
        assert_eq!(j.header_for_at(&u, now).as_deref(), Some("sec=2"));
        j.store_at(&u, &set(&["sec=; Max-Age=0"]), now);
        assert_eq!(j.header_for_at(&u, now), None);
        assert!(j.is_empty());
    }
}
