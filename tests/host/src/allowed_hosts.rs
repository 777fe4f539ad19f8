//! Spin's `allowed_outbound_hosts` grammar and check, as in Spin's
//! `crates/outbound-networking-config/src/allowed_hosts.rs`.
//!
//! An entry is `<scheme>://<host>[:<port>]`: scheme `*` or a name; host `*`, `*.domain`, `self`
//! (or `self.alt`), an IP or CIDR, or a name (`<id>.spin.internal` for service chaining); port
//! `*`, a number or a range `a..b` (end exclusive), defaulting to the scheme's well-known port.
//! Entries may hold `{{ variable }}` templates, resolved before parsing.

use std::net::IpAddr;

use anyhow::{Context as _, bail, ensure};

/// The domain whose hosts name components for service chaining.
pub(crate) const SERVICE_CHAINING_SUFFIX: &str = ".spin.internal";

/// One parsed entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct AllowedHost {
    scheme: Option<String>,
    host: HostPattern,
    port: PortPattern,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum HostPattern {
    Any,
    AnySubdomain(String),
    ToSelf,
    Exact(String),
    Cidr(IpAddr, u8),
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum PortPattern {
    Any,
    Port(u16),
    Range(u16, u16),
}

impl AllowedHost {
    /// Parses one (already template-resolved) entry, with Spin's error messages.
    pub(crate) fn parse(entry: &str) -> anyhow::Result<Self> {
        let url = entry.trim();
        let Some((scheme, rest)) = url.split_once("://") else {
            match url {
                "*" | ":" | "" | "?" => bail!(
                    "{url:?} is not an allowed outbound host format.\nHosts must be in the form <scheme>://<host>[:<port>], with '*' wildcards allowed for each.\nIf you intended to allow all outbound networking, you can use '*://*:*' - this will obviate all network sandboxing."
                ),
                _ => bail!("{url:?} does not contain a scheme (e.g., 'http://' or '*://')"),
            }
        };
        let (host, rest) = rest.rsplit_once(':').unwrap_or((rest, ""));
        let port = match rest.split_once('/') {
            Some((port, path)) => {
                ensure!(path.is_empty(), "{url:?} has a path but is not allowed to");
                port
            }
            None => rest,
        };
        Ok(Self {
            scheme: parse_scheme(scheme)?,
            host: parse_host(host)?,
            port: parse_port(port, scheme)?,
        })
    }

    fn allows(&self, scheme: &str, host: &str, port: Option<u16>) -> bool {
        self.scheme.as_deref().is_none_or(|s| s == scheme)
            && self.host.allows(host)
            && self.port.allows(port.or_else(|| well_known_port(scheme)))
    }

    fn allows_relative(&self, schemes: &[&str]) -> bool {
        schemes
            .iter()
            .any(|s| self.scheme.as_deref().is_none_or(|x| x == *s))
            && matches!(self.host, HostPattern::Any | HostPattern::ToSelf)
    }
}

/// A component's whole list.
#[derive(Clone, Debug, Default)]
pub(crate) struct AllowedHosts(Vec<AllowedHost>);

impl AllowedHosts {
    pub(crate) fn parse(entries: &[String]) -> anyhow::Result<Self> {
        if entries.len() == 1 && entries[0] == "insecure:allow-all" {
            bail!(
                "'insecure:allow-all' is not allowed - use '*://*:*' instead if you really want to allow all outbound traffic'"
            );
        }
        entries
            .iter()
            .map(|e| AllowedHost::parse(e).with_context(|| format!("invalid allowed host {e:?}")))
            .collect::<anyhow::Result<_>>()
            .map(Self)
    }

    /// Whether an absolute URL (scheme, host, optional port) may be requested.
    pub(crate) fn allows(&self, scheme: &str, host: &str, port: Option<u16>) -> bool {
        self.0.iter().any(|h| h.allows(scheme, host, port))
    }

    /// Whether a self request (relative URL, or host `self.alt`) may be made.
    pub(crate) fn allows_self(&self) -> bool {
        self.0.iter().any(|h| h.allows_relative(&["http", "https"]))
    }
}

/// The component id a `<id>.spin.internal[:port]` host names, if it is a chaining host.
pub(crate) fn chaining_target(host: &str) -> Option<&str> {
    let host = host.rsplit_once(':').map_or(host, |(h, _)| h);
    let (first, rest) = host.split_once('.')?;
    (format!(".{rest}") == SERVICE_CHAINING_SUFFIX).then_some(first)
}

fn parse_scheme(scheme: &str) -> anyhow::Result<Option<String>> {
    if scheme == "*" {
        return Ok(None);
    }
    ensure!(
        !scheme.starts_with('{'),
        "scheme lists are not yet supported"
    );
    ensure!(
        scheme.chars().all(char::is_alphabetic),
        " scheme {scheme:?} contains non alphabetic character"
    );
    Ok(Some(scheme.to_owned()))
}

fn parse_host(host: &str) -> anyhow::Result<HostPattern> {
    let host = host.trim();
    if host == "*" {
        return Ok(HostPattern::Any);
    }
    if host == "self" || host == "self.alt" {
        return Ok(HostPattern::ToSelf);
    }
    if host.starts_with('{') {
        bail!("host lists are not yet supported")
    }
    if let Some(cidr) = parse_cidr(host) {
        return Ok(cidr);
    }
    if matches!(host.split('/').nth(1), Some(path) if !path.is_empty()) {
        bail!("hosts must not contain paths");
    }
    if let Some(domain) = host.strip_prefix("*.") {
        ensure!(
            !domain.contains('*'),
            "Invalid allowed host {host}: wildcards are allowed only as prefixes"
        );
        return Ok(HostPattern::AnySubdomain(format!(".{domain}")));
    }
    ensure!(
        !host.contains('*'),
        "Invalid allowed host {host}: wildcards are allowed only as subdomains"
    );
    Ok(HostPattern::Exact(host.trim_end_matches('/').to_owned()))
}

fn parse_cidr(host: &str) -> Option<HostPattern> {
    let (ip, prefix) = match host.split_once('/') {
        Some((ip, prefix)) => (ip, Some(prefix)),
        None => (host, None),
    };
    let ip: IpAddr = ip.trim_matches(['[', ']']).parse().ok()?;
    let max = if ip.is_ipv4() { 32 } else { 128 };
    let prefix = match prefix {
        Some(p) => p.parse::<u8>().ok().filter(|p| *p <= max)?,
        None => max,
    };
    Some(HostPattern::Cidr(ip, prefix))
}

impl HostPattern {
    fn allows(&self, host: &str) -> bool {
        match self {
            Self::Any => true,
            Self::AnySubdomain(suffix) => host.ends_with(suffix.as_str()),
            Self::Exact(h) => h == host,
            Self::ToSelf => false,
            Self::Cidr(net, prefix) => host
                .trim_matches(['[', ']'])
                .parse::<IpAddr>()
                .is_ok_and(|ip| in_network(*net, *prefix, ip)),
        }
    }
}

fn in_network(net: IpAddr, prefix: u8, ip: IpAddr) -> bool {
    let (net, ip, bits) = match (net, ip) {
        (IpAddr::V4(n), IpAddr::V4(i)) => (u32::from(n) as u128, u32::from(i) as u128, 32),
        (IpAddr::V6(n), IpAddr::V6(i)) => (u128::from(n), u128::from(i), 128),
        _ => return false,
    };
    let shift = bits - u32::from(prefix);
    shift >= bits || (net >> shift) == (ip >> shift)
}

fn parse_port(port: &str, scheme: &str) -> anyhow::Result<PortPattern> {
    if port.is_empty() {
        return well_known_port(scheme).map(PortPattern::Port).with_context(|| {
            format!(
                "no port was provided and the scheme {scheme:?} does not have a known default port number"
            )
        });
    }
    if port == "*" {
        return Ok(PortPattern::Any);
    }
    ensure!(!port.starts_with('{'), "port lists are not yet supported");
    if let Some((start, end)) = port.split_once("..") {
        let parse = |p: &str| {
            p.parse::<u16>()
                .with_context(|| format!("port range {port:?} contains non-number"))
        };
        return Ok(PortPattern::Range(parse(start)?, parse(end)?));
    }
    port.parse()
        .map(PortPattern::Port)
        .with_context(|| format!("port {port:?} is not a number"))
}

impl PortPattern {
    fn allows(&self, port: Option<u16>) -> bool {
        match (self, port) {
            (Self::Any, _) => true,
            (_, None) => false,
            (Self::Port(p), Some(port)) => *p == port,
            (Self::Range(start, end), Some(port)) => (*start..*end).contains(&port),
        }
    }
}

fn well_known_port(scheme: &str) -> Option<u16> {
    match scheme {
        "postgres" => Some(5432),
        "mysql" => Some(3306),
        "redis" => Some(6379),
        "mqtt" => Some(1883),
        "http" => Some(80),
        "https" => Some(443),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hosts(entries: &[&str]) -> AllowedHosts {
        AllowedHosts::parse(&entries.iter().map(|e| e.to_string()).collect::<Vec<_>>()).unwrap()
    }

    #[test]
    fn scheme_host_and_default_port() {
        let h = hosts(&["https://api.example.com"]);
        assert!(h.allows("https", "api.example.com", None));
        assert!(h.allows("https", "api.example.com", Some(443)));
        assert!(!h.allows("https", "api.example.com", Some(8443)));
        assert!(!h.allows("http", "api.example.com", None));
        assert!(!h.allows("https", "other.example.com", None));
    }

    #[test]
    fn wildcards_ranges_and_cidr() {
        let h = hosts(&[
            "*://*.example.com:*",
            "http://127.0.0.1:8000..8100",
            "http://10.0.0.0/8:*",
        ]);
        assert!(h.allows("ftp", "a.example.com", Some(21)));
        assert!(!h.allows("http", "example.com", None));
        assert!(h.allows("http", "127.0.0.1", Some(8099)));
        assert!(!h.allows("http", "127.0.0.1", Some(8100)));
        assert!(h.allows("http", "10.2.3.4", Some(1)));
        assert!(!h.allows("http", "11.2.3.4", Some(1)));
    }

    #[test]
    fn chaining_hosts() {
        let h = hosts(&["http://triage.spin.internal"]);
        assert!(h.allows("http", "triage.spin.internal", None));
        assert!(!h.allows("http", "dispatch.spin.internal", None));
        let any = hosts(&["http://*.spin.internal"]);
        assert!(any.allows("http", "dispatch.spin.internal", None));
        assert_eq!(chaining_target("triage.spin.internal"), Some("triage"));
        assert_eq!(chaining_target("triage.spin.internal:80"), Some("triage"));
        assert_eq!(chaining_target("example.com"), None);
    }

    #[test]
    fn self_only_allows_relative() {
        let h = hosts(&["http://self"]);
        assert!(h.allows_self());
        assert!(!h.allows("http", "self", None));
        assert!(!hosts(&["https://example.com"]).allows_self());
    }

    #[test]
    fn malformed_entries_are_rejected() {
        for bad in [
            "example.com",
            "*",
            "http://a.*.com",
            "http://example.com/path",
            "http://x:abc",
        ] {
            assert!(AllowedHost::parse(bad).is_err(), "{bad}");
        }
        assert!(AllowedHosts::parse(&["insecure:allow-all".into()]).is_err());
    }
}
