//! A small per-session cookie jar: domain, path and expiry basics, which is
//! what load tests of session-based apps need (log in once, send the cookie).

use http::HeaderMap;
use url::Url;

#[derive(Debug, Clone)]
struct Entry {
    domain: String,
    host_only: bool,
    path: String,
    name: String,
    value: String,
}

/// Cookies of one session.
#[derive(Debug, Default, Clone)]
pub(crate) struct Jar {
    entries: Vec<Entry>,
}

impl Jar {
    /// Remember `Set-Cookie` headers of a response to `url`.
    pub(crate) fn store(&mut self, url: &Url, headers: &HeaderMap) {
        let host = url.host_str().unwrap_or_default().to_ascii_lowercase();
        for v in headers.get_all(http::header::SET_COOKIE) {
            let Ok(text) = v.to_str() else { continue };
            let Ok(c) = cookie::Cookie::parse(text.to_owned()) else {
                continue;
            };
            let (domain, host_only) = match c.domain() {
                Some(d) => {
                    let d = d.trim_start_matches('.').to_ascii_lowercase();
                    if host != d && !host.ends_with(&format!(".{d}")) {
                        continue; // a cookie for another domain is ignored
                    }
                    (d, false)
                }
                None => (host.clone(), true),
            };
            let path = c.path().map(str::to_owned).unwrap_or_else(|| {
                let p = url.path();
                p.rfind('/')
                    .map(|i| {
                        if i == 0 {
                            "/".to_owned()
                        } else {
                            p[..i].to_owned()
                        }
                    })
                    .unwrap_or_else(|| "/".into())
            });
            let expired = c.max_age().is_some_and(|a| a.whole_seconds() <= 0);
            self.entries
                .retain(|e| !(e.name == c.name() && e.domain == domain && e.path == path));
            if !expired {
                self.entries.push(Entry {
                    domain,
                    host_only,
                    path,
                    name: c.name().to_owned(),
                    value: c.value().to_owned(),
                });
            }
        }
    }

    /// The `Cookie` header for a request to `url`, if any cookie applies.
    pub(crate) fn header_for(&self, url: &Url) -> Option<String> {
        if self.entries.is_empty() {
            return None;
        }
        let host = url.host_str().unwrap_or_default().to_ascii_lowercase();
        let path = url.path();
        let parts: Vec<String> = self
            .entries
            .iter()
            .filter(|e| {
                if e.host_only {
                    host == e.domain
                } else {
                    host == e.domain || host.ends_with(&format!(".{}", e.domain))
                }
            })
            .filter(|e| path.starts_with(&e.path))
            .map(|e| format!("{}={}", e.name, e.value))
            .collect();
        (!parts.is_empty()).then(|| parts.join("; "))
    }
}
