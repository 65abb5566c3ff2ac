//! Fetching a target's metrics page over HTTP/1.1.
//!
//! One short-lived connection per scrape, bounded by a timeout, so a slow or
//! dead target costs a gap in the series, never a stalled monitor. Plain
//! `http://` only for now: exporters and `/metrics` endpoints are scraped on
//! the service's own network, and TLS comes with the monitor configuration.

use crate::exposition::{self, ParseError};
use crate::interval::Scrape;
use http_body_util::{BodyExt, Empty, Limited};
use hyper::body::Bytes;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::time::{Instant, timeout};

/// The largest metrics page read (node_exporter's is about 100 KiB).
pub const MAX_PAGE_BYTES: usize = 16 << 20;

/// Why a scrape got no readings.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ScrapeError {
    /// The URL is not an `http://host:port/path` this scraper can fetch.
    #[error("cannot scrape `{url}`: {why}")]
    Url {
        /// The URL.
        url: String,
        /// What is wrong with it.
        why: &'static str,
    },
    /// Connecting or exchanging failed.
    #[error("scraping {url}: {source}")]
    Io {
        /// The URL.
        url: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The HTTP exchange failed.
    #[error("scraping {url}: {source}")]
    Http {
        /// The URL.
        url: String,
        /// The cause.
        #[source]
        source: hyper::Error,
    },
    /// The target did not answer within the timeout.
    #[error("scraping {url}: no answer within {timeout:?}")]
    Timeout {
        /// The URL.
        url: String,
        /// The bound.
        timeout: Duration,
    },
    /// The target answered with a status other than 200.
    #[error("scraping {url}: status {status}")]
    Status {
        /// The URL.
        url: String,
        /// The status.
        status: u16,
    },
    /// The page is larger than [`MAX_PAGE_BYTES`] or not UTF-8.
    #[error("scraping {url}: the page is {why}")]
    Body {
        /// The URL.
        url: String,
        /// What is wrong with it.
        why: &'static str,
    },
    /// The page is not in the Prometheus or OpenMetrics text format.
    #[error("scraping {url}: {source}")]
    Parse {
        /// The URL.
        url: String,
        /// Where and why.
        #[source]
        source: ParseError,
    },
}

/// A page as fetched: its text and when the response ended.
#[derive(Debug, Clone)]
pub struct Page {
    /// The exposition text.
    pub text: String,
    /// When its last byte arrived.
    pub at: Instant,
}

/// Fetch `url` (`http://host:port/path`) within `limit`.
pub async fn fetch(url: &str, limit: Duration) -> Result<Page, ScrapeError> {
    let bad = |why| ScrapeError::Url {
        url: url.to_owned(),
        why,
    };
    let uri: hyper::Uri = url.parse().map_err(|_| bad("not a URL"))?;
    if uri.scheme_str() != Some("http") {
        return Err(bad("only http:// is scraped"));
    }
    let host = uri.host().ok_or_else(|| bad("no host"))?.to_owned();
    let port = uri.port_u16().unwrap_or(80);
    let path = uri
        .path_and_query()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "/".into());
    let exchange = async {
        let io_err = |source| ScrapeError::Io {
            url: url.to_owned(),
            source,
        };
        let http_err = |source| ScrapeError::Http {
            url: url.to_owned(),
            source,
        };
        let tcp = TcpStream::connect((host.as_str(), port))
            .await
            .map_err(io_err)?;
        let (mut send, conn) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tcp))
                .await
                .map_err(http_err)?;
        let driver = tokio::spawn(conn);
        let req = hyper::Request::get(path)
            .header(hyper::header::HOST, format!("{host}:{port}"))
            // Prometheus's own preference: OpenMetrics first, then text 0.0.4.
            .header(
                hyper::header::ACCEPT,
                "application/openmetrics-text;version=1.0.0;q=0.9,text/plain;version=0.0.4;q=0.5,*/*;q=0.1",
            )
            .body(Empty::<Bytes>::new())
            .expect("a GET with two headers is a valid request");
        let resp = send.send_request(req).await.map_err(http_err)?;
        let status = resp.status().as_u16();
        if status != 200 {
            driver.abort();
            return Err(ScrapeError::Status {
                url: url.to_owned(),
                status,
            });
        }
        let body = Limited::new(resp.into_body(), MAX_PAGE_BYTES)
            .collect()
            .await
            .map_err(|_| ScrapeError::Body {
                url: url.to_owned(),
                why: "larger than 16 MiB, or cut short",
            })?
            .to_bytes();
        let at = Instant::now();
        driver.abort();
        let text = String::from_utf8(body.to_vec()).map_err(|_| ScrapeError::Body {
            url: url.to_owned(),
            why: "not UTF-8",
        })?;
        Ok(Page { text, at })
    };
    timeout(limit, exchange)
        .await
        .map_err(|_| ScrapeError::Timeout {
            url: url.to_owned(),
            timeout: limit,
        })?
}

impl Page {
    /// Parse the page into a [`Scrape`] timed from `origin`.
    pub fn parse(&self, url: &str, origin: Instant) -> Result<Scrape, ScrapeError> {
        let families = exposition::parse(&self.text).map_err(|source| ScrapeError::Parse {
            url: url.to_owned(),
            source,
        })?;
        Ok(Scrape {
            families,
            at_seconds: self.at.saturating_duration_since(origin).as_secs_f64(),
        })
    }
}
