//! The headers the driver adds to every request (user agent, accepted
//! codings, the cookie jar's cookies). A leaf module: both the connection
//! (`conn`, HTTP/2 requests as a map) and the HTTP/1 writer (`h1`, straight
//! into the request bytes) read it, and neither imports the other for it.

use super::decode::ACCEPT_ENCODING;
use http::{HeaderMap, HeaderValue};

/// Headers the driver adds to the caller's (who wins where both set one):
/// written straight into an HTTP/1 request, no map built per request.
#[derive(Debug, Default)]
pub(crate) struct Defaults<'a> {
    /// `User-Agent`, unless the caller set one.
    pub(crate) user_agent: Option<&'a HeaderValue>,
    /// `Accept-Encoding` of the codings the driver decodes, unless set.
    pub(crate) accept_encoding: bool,
    /// `Cookie` from the jar, merged with the caller's own (it replaces it).
    pub(crate) cookie: Option<HeaderValue>,
}

impl Defaults<'_> {
    /// Into a map (HTTP/2 requests are built as one).
    pub(crate) fn add_to(&self, h: &mut HeaderMap) {
        if let Some(ua) = self.user_agent {
            h.insert(http::header::USER_AGENT, ua.clone());
        }
        if self.accept_encoding {
            h.insert(
                http::header::ACCEPT_ENCODING,
                HeaderValue::from_static(ACCEPT_ENCODING),
            );
        }
        if let Some(c) = &self.cookie {
            h.insert(http::header::COOKIE, c.clone());
        }
    }
}
