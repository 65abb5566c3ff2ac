//! Name resolution, kept behind a small enum so tests can inject answers
//! (or failures) and never send a DNS query to a real nameserver.

use super::error::{ErrorKind, HttpError};
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// How host names become addresses.
///
/// Whatever the variant, IP literals are never resolved (`dns` is then 0)
/// and `localhost` answers `127.0.0.1` then `::1` without a query: IPv4 first
/// because most local servers listen on IPv4 only, and the connector tries
/// every address in order anyway.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub enum Resolver {
    /// The operating system's resolver (`getaddrinfo` on tokio's blocking
    /// pool, so the `dns` phase includes any queueing there). Honours
    /// `/etc/hosts` and the system's address ordering.
    #[default]
    System,
    /// Fixed answers; a name that is not listed fails with `dns_failure`.
    /// For tests (no DNS traffic) and for pinning a host to an address,
    /// like curl's `--resolve`.
    Static(HashMap<String, Vec<IpAddr>>),
}

impl Resolver {
    /// A [`Resolver::Static`] from `(name, addresses)` pairs; names are
    /// matched case-insensitively.
    pub fn fixed<N: Into<String>>(entries: impl IntoIterator<Item = (N, Vec<IpAddr>)>) -> Resolver {
        Resolver::Static(
            entries
                .into_iter()
                .map(|(n, a)| (n.into().to_ascii_lowercase(), a))
                .collect(),
        )
    }

    /// The addresses to try, in order, when `host` needs no lookup (an IP
    /// literal, `localhost`). `host` is a URL host (IPv6 literals may keep
    /// their brackets).
    pub(crate) fn literal(host: &str, port: u16) -> Option<Vec<SocketAddr>> {
        let bare = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        if let Ok(ip) = bare.parse::<IpAddr>() {
            return Some(vec![SocketAddr::new(ip, port)]);
        }
        if bare.eq_ignore_ascii_case("localhost") {
            return Some(vec![
                SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port),
                SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), port),
            ]);
        }
        None
    }

    /// The addresses to try, in order. `host` is a URL host (IPv6 literals
    /// may keep their brackets).
    pub(crate) async fn resolve(
        &self,
        host: &str,
        port: u16,
    ) -> Result<Vec<SocketAddr>, HttpError> {
        if let Some(addrs) = Resolver::literal(host, port) {
            return Ok(addrs);
        }
        let bare = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        let addrs: Vec<SocketAddr> = match self {
            Resolver::Static(map) => {
                let ips = map.get(bare).or_else(|| {
                    map.iter()
                        .find(|(k, _)| k.eq_ignore_ascii_case(bare))
                        .map(|(_, v)| v)
                });
                ips.map(|ips| ips.iter().map(|ip| SocketAddr::new(*ip, port)).collect())
                    .unwrap_or_default()
            }
            Resolver::System => tokio::net::lookup_host((bare, port))
                .await
                .map_err(|e| HttpError::new(ErrorKind::DnsFailure, format!("`{bare}`: {e}")))?
                .collect(),
        };
        if addrs.is_empty() {
            return Err(HttpError::new(
                ErrorKind::DnsFailure,
                format!("`{bare}` has no address"),
            ));
        }
        Ok(addrs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn literals_and_localhost_never_query() {
        // An empty static resolver fails every name, so success proves no lookup.
        let r = Resolver::fixed(Vec::<(String, Vec<IpAddr>)>::new());
        let a = r.resolve("127.0.0.1", 80).await.unwrap();
        assert_eq!(a, vec!["127.0.0.1:80".parse().unwrap()]);
        let a = r.resolve("[::1]", 443).await.unwrap();
        assert_eq!(a, vec!["[::1]:443".parse().unwrap()]);
        let a = r.resolve("LocalHost", 8080).await.unwrap();
        assert_eq!(a[0], "127.0.0.1:8080".parse().unwrap(), "IPv4 first");
        assert_eq!(a.len(), 2);
        let e = r.resolve("service.invalid", 80).await.unwrap_err();
        assert_eq!(e.kind, ErrorKind::DnsFailure);
    }

    #[tokio::test]
    async fn static_answers_keep_their_order() {
        let r = Resolver::fixed([(
            "App.Test",
            vec![IpAddr::from([127, 0, 0, 2]), IpAddr::from([127, 0, 0, 1])],
        )]);
        let a = r.resolve("app.test", 9).await.unwrap();
        assert_eq!(
            a,
            vec![
                "127.0.0.2:9".parse().unwrap(),
                "127.0.0.1:9".parse().unwrap()
            ]
        );
    }
}
