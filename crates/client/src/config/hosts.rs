//! Host matching for plain-HTTP registries: splitting `host[:port]`, Docker's loopback default,
//! and `insecure_registries` entries (`host[:port]` or CIDR).

use std::net::IpAddr;

use super::checked_registry;

/// Split `host[:port]` (IPv6 in brackets) into the bare host and port.
pub(super) fn split_host_port(reg: &str) -> (&str, Option<u16>) {
    if let Some(rest) = reg.strip_prefix('[')
        && let Some((host, after)) = rest.split_once(']')
    {
        return (host, after.strip_prefix(':').and_then(|p| p.parse().ok()));
    }
    match reg.split_once(':') {
        // A single colon followed by digits is a port; more colons is a bare IPv6 address.
        Some((host, port)) if !port.contains(':') => match port.parse() {
            Ok(p) => (host, Some(p)),
            Err(_) => (reg, None),
        },
        _ => (reg, None),
    }
}

/// Docker treats loopback registries as insecure by default.
pub(super) fn is_loopback_host(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// One `insecure_registries` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum HostPattern {
    /// `host[:port]`; no port means any port.
    Host { host: String, port: Option<u16> },
    /// An address range such as `10.0.0.0/8`.
    Cidr { net: IpAddr, prefix: u8 },
}

impl HostPattern {
    pub(super) fn parse(entry: &str) -> std::result::Result<HostPattern, String> {
        let e = entry.trim();
        if let Some((addr, prefix)) = e.split_once('/')
            && let Ok(net) = addr.parse::<IpAddr>()
        {
            let max = if net.is_ipv4() { 32 } else { 128 };
            return match prefix.parse::<u8>() {
                Ok(prefix) if prefix <= max => Ok(HostPattern::Cidr { net, prefix }),
                _ => Err(format!("invalid CIDR {entry:?}")),
            };
        }
        let n = checked_registry(e)?;
        let (host, port) = split_host_port(&n);
        Ok(HostPattern::Host {
            host: host.to_string(),
            port,
        })
    }

    pub(super) fn matches(&self, host: &str, port: Option<u16>) -> bool {
        match self {
            HostPattern::Host { host: h, port: p } => {
                let same = match (h.parse::<IpAddr>(), host.parse::<IpAddr>()) {
                    (Ok(a), Ok(b)) => a == b,
                    _ => h.eq_ignore_ascii_case(host),
                };
                same && (p.is_none() || *p == port)
            }
            HostPattern::Cidr { net, prefix } => match (net, host.parse::<IpAddr>()) {
                (IpAddr::V4(n), Ok(IpAddr::V4(a))) => {
                    let mask = u32::MAX.checked_shl(32 - u32::from(*prefix)).unwrap_or(0);
                    u32::from(*n) & mask == u32::from(a) & mask
                }
                (IpAddr::V6(n), Ok(IpAddr::V6(a))) => {
                    let mask = u128::MAX.checked_shl(128 - u32::from(*prefix)).unwrap_or(0);
                    u128::from(*n) & mask == u128::from(a) & mask
                }
                _ => false,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_and_port() {
        assert_eq!(split_host_port("[::1]:5000"), ("::1", Some(5000)));
        assert_eq!(split_host_port("[::1]"), ("::1", None));
        assert_eq!(split_host_port("::1"), ("::1", None));
        assert_eq!(split_host_port("localhost:1234"), ("localhost", Some(1234)));
        assert_eq!(split_host_port("host:x"), ("host:x", None));
    }

    #[test]
    fn patterns() {
        let p = |s: &str| HostPattern::parse(s).unwrap();
        assert!(p("10.0.0.0/8").matches("10.9.8.7", Some(1)));
        assert!(!p("10.0.0.0/8").matches("11.0.0.1", None));
        assert!(p("127.0.0.1/32").matches("127.0.0.1", None));
        assert!(!p("10.0.0.0/8").matches("ten.example", None));
        assert!(p("fd00::/8").matches("fd00::1", None) && !p("fd00::/8").matches("10.0.0.1", None));
        assert!(p("reg.lan").matches("REG.LAN", Some(443)));
        assert!(!p("reg.lan:5000").matches("reg.lan", None));
        assert!(p("[::1]:5000").matches("0:0::1", Some(5000)));
        for bad in ["10.0.0.0/33", "fd00::/129", "10.0.0.0/x", "", "a b"] {
            assert!(HostPattern::parse(bad).is_err(), "{bad}");
        }
    }
}
