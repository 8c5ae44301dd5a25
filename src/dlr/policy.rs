//! The destination policy: which addresses a caller-supplied `dlr-url` may reach.
//!
//! The `dlr-url` comes from whoever submitted the message, so without a policy it can point the
//! gateway at internal services (a cloud metadata endpoint, an admin port on loopback). The check
//! runs on the addresses a host name resolves to, inside the HTTP client's resolver, so a name
//! that resolves differently between a check and the connect cannot slip through.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::str::FromStr;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

/// An address range in CIDR form (`169.254.0.0/16`, `fe80::/10`, or one address).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IpRange {
    addr: IpAddr,
    prefix: u8,
}

impl IpRange {
    /// The range of addresses sharing the first `prefix` bits with `addr`; `None` when `prefix`
    /// is longer than the address.
    pub fn new(addr: IpAddr, prefix: u8) -> Option<Self> {
        let max = if addr.is_ipv4() { 32 } else { 128 };
        (prefix <= max).then_some(Self { addr, prefix })
    }

    /// Whether `ip` is in the range. An IPv4-mapped IPv6 address is matched as the IPv4 address
    /// it carries, so `::ffff:169.254.169.254` is in `169.254.0.0/16`.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                prefix_eq(&net.octets(), &ip.octets(), self.prefix)
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                prefix_eq(&net.octets(), &ip.octets(), self.prefix)
            }
            _ => false,
        }
    }
}

fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    }
}

fn prefix_eq(a: &[u8], b: &[u8], prefix: u8) -> bool {
    let full = usize::from(prefix / 8);
    let rest = prefix % 8;
    if a[..full] != b[..full] {
        return false;
    }
    if rest == 0 {
        return true;
    }
    let mask = 0xffu8 << (8 - rest);
    (a[full] & mask) == (b[full] & mask)
}

/// A string that is not an address range.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{input:?} is not an address range (`a.b.c.d/n`, `x::/n` or one address)")]
pub struct IpRangeError {
    input: String,
}

impl FromStr for IpRange {
    type Err = IpRangeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || IpRangeError {
            input: s.to_owned(),
        };
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (
                a.parse::<IpAddr>().map_err(|_| err())?,
                Some(p.parse::<u8>().map_err(|_| err())?),
            ),
            None => (s.parse::<IpAddr>().map_err(|_| err())?, None),
        };
        let prefix = prefix.unwrap_or(if addr.is_ipv4() { 32 } else { 128 });
        Self::new(addr, prefix).ok_or_else(err)
    }
}

impl fmt::Display for IpRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

impl Serialize for IpRange {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for IpRange {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

fn range(addr: IpAddr, prefix: u8) -> IpRange {
    IpRange { addr, prefix }
}

/// Which resolved addresses a `dlr-url` may connect to: an address is refused when it is in a
/// `deny` range and in no `allow` range (so `allow` carves exceptions out of `deny`).
///
/// The default refuses link-local addresses (`169.254.0.0/16`, `fe80::/10`), where cloud metadata
/// services live, and the IPv6 metadata address `fd00:ec2::254`.
/// [`DestinationPolicy::public_only`] also refuses loopback and private ranges.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DestinationPolicy {
    /// Ranges that are always permitted, even inside a `deny` range.
    pub allow: Vec<IpRange>,
    /// Ranges that are refused.
    pub deny: Vec<IpRange>,
}

impl Default for DestinationPolicy {
    fn default() -> Self {
        Self {
            allow: Vec::new(),
            deny: vec![
                range(IpAddr::V4(Ipv4Addr::new(169, 254, 0, 0)), 16),
                range(IpAddr::V6(Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0)), 10),
                range(
                    IpAddr::V6(Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254)),
                    128,
                ),
            ],
        }
    }
}

impl DestinationPolicy {
    /// A policy that permits every address (for tests and fully trusted callers).
    pub fn allow_all() -> Self {
        Self {
            allow: Vec::new(),
            deny: Vec::new(),
        }
    }

    /// The default ranges plus loopback, "this network", RFC 1918 private, shared (CGNAT),
    /// multicast, broadcast and IPv6 unique-local: only public addresses are reachable.
    pub fn public_only() -> Self {
        let mut policy = Self::default();
        for r in [
            "0.0.0.0/8",
            "10.0.0.0/8",
            "100.64.0.0/10",
            "127.0.0.0/8",
            "172.16.0.0/12",
            "192.168.0.0/16",
            "224.0.0.0/4",
            "240.0.0.0/4",
            "::/128",
            "::1/128",
            "fc00::/7",
            "ff00::/8",
        ] {
            if let Ok(r) = r.parse() {
                policy.deny.push(r);
            }
        }
        policy
    }

    /// Whether a connection to `ip` is permitted.
    pub fn permits(&self, ip: IpAddr) -> bool {
        self.allow.iter().any(|r| r.contains(ip)) || !self.deny.iter().any(|r| r.contains(ip))
    }
}

/// A `dlr-url` refused by the [`DestinationPolicy`]; retrying cannot change it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("destination {host} refused by the destination policy (resolves only to {addrs})")]
pub struct DestinationRefused {
    /// The host name or address of the `dlr-url`.
    pub host: String,
    /// The addresses it resolved to, all refused.
    pub addrs: String,
}

/// The HTTP client's resolver: the system resolver, with every address checked against the
/// policy. Names whose addresses are all refused fail with [`DestinationRefused`].
pub(crate) struct PolicyResolver {
    pub(crate) policy: Arc<DestinationPolicy>,
}

impl reqwest::dns::Resolve for PolicyResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let policy = Arc::clone(&self.policy);
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let resolved: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let permitted: Vec<SocketAddr> = resolved
                .iter()
                .copied()
                .filter(|a| policy.permits(a.ip()))
                .collect();
            if permitted.is_empty() && !resolved.is_empty() {
                let addrs = resolved
                    .iter()
                    .map(|a| a.ip().to_string())
                    .collect::<Vec<_>>()
                    .join(", ");
                return Err(Box::new(DestinationRefused { host, addrs }) as _);
            }
            Ok(Box::new(permitted.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn default_refuses_link_local_only() {
        let p = DestinationPolicy::default();
        assert!(!p.permits(ip("169.254.169.254")));
        assert!(!p.permits(ip("::ffff:169.254.169.254")));
        assert!(!p.permits(ip("fe80::1")));
        assert!(!p.permits(ip("fd00:ec2::254")));
        assert!(p.permits(ip("127.0.0.1")));
        assert!(p.permits(ip("10.0.0.1")));
        assert!(p.permits(ip("93.184.216.34")));
    }

    #[test]
    fn public_only_and_allow_exceptions() {
        let mut p = DestinationPolicy::public_only();
        assert!(!p.permits(ip("127.0.0.1")));
        assert!(!p.permits(ip("172.31.255.255")));
        assert!(p.permits(ip("172.32.0.0")));
        assert!(!p.permits(ip("::1")));
        assert!(!p.permits(ip("fd12::1")));
        assert!(p.permits(ip("2001:db8::1")));
        p.allow.push("10.1.2.0/24".parse().unwrap());
        assert!(p.permits(ip("10.1.2.3")));
        assert!(!p.permits(ip("10.1.3.3")));
    }

    #[test]
    fn range_parsing() {
        assert_eq!(
            "10.0.0.0/8".parse::<IpRange>().unwrap().to_string(),
            "10.0.0.0/8"
        );
        assert_eq!("::1".parse::<IpRange>().unwrap().to_string(), "::1/128");
        for bad in ["10.0.0.0/33", "x/8", "10.0.0.0/", "::/129", ""] {
            assert!(bad.parse::<IpRange>().is_err(), "{bad}");
        }
        assert!(
            "0.0.0.0/0"
                .parse::<IpRange>()
                .unwrap()
                .contains(ip("8.8.8.8"))
        );
    }
}
