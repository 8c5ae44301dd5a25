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
///
/// A range written in an IPv6 form that carries an IPv4 address (see [`DestinationPolicy`]) and
/// whose prefix reaches into the IPv4 part stands for that IPv4 range too: `::ffff:a9fe:0/112`
/// matches `169.254.1.2` in every spelling, as `169.254.0.0/16` does.
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

    /// Whether `ip` is in the range, in either spelling: as written, or as the IPv4 address it
    /// carries matched against the IPv4 range this range stands for. So `::ffff:169.254.169.254`,
    /// `64:ff9b::a9fe:a9fe` and `2002:a9fe:a9fe::` are all in `169.254.0.0/16`, and
    /// `169.254.169.254` is in `::ffff:a9fe:0/112`.
    pub fn contains(&self, ip: IpAddr) -> bool {
        self.contains_as_written(ip) || self.contains_carried(ip)
    }

    /// Whether the IPv4 address `ip` carries (or `ip` itself when it carries none) is in the
    /// IPv4 range this range stands for (or in this range, when it stands for none).
    fn contains_carried(&self, ip: IpAddr) -> bool {
        self.carried().contains_as_written(canonical(ip))
    }

    fn contains_as_written(&self, ip: IpAddr) -> bool {
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

    /// The IPv4 range an IPv6 range stands for: the range's address is in one of the forms that
    /// carry an IPv4 address and its prefix fixes at least one bit of that address. Bits of the
    /// form outside the IPv4 part (a Teredo server, a 6to4 subnet) are not kept. Any other range
    /// stands for itself.
    fn carried(&self) -> IpRange {
        let IpAddr::V6(v6) = self.addr else {
            return *self;
        };
        match carried_ipv4(v6) {
            Some((v4, form)) if self.prefix > form.start => {
                let prefix = (self.prefix - form.start).min(32);
                // Bits past the prefix are cleared, so the range shows as it is matched.
                let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
                IpRange {
                    addr: IpAddr::V4(Ipv4Addr::from(u32::from(v4) & mask)),
                    prefix,
                }
            }
            _ => *self,
        }
    }
}

/// An IPv6 form that carries an IPv4 address; `start` is the bit where the IPv4 address begins.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Form {
    start: u8,
}

const LAST_32: Form = Form { start: 96 };
const SIX_TO_FOUR: Form = Form { start: 16 };

/// The IPv4 address `v6` carries, with the form it is carried in:
///
/// * IPv4-mapped `::ffff:a.b.c.d` (`::ffff:0:0/96`),
/// * SIIT IPv4-translated `::ffff:0:a.b.c.d` (`::ffff:0:0:0/96`),
/// * IPv4-compatible `::a.b.c.d` (`::/96`, except `::` and `::1`, which are the unspecified
///   and the loopback address),
/// * NAT64 `64:ff9b::a.b.c.d` (`64:ff9b::/96`) and the local-use NAT64 prefix
///   `64:ff9b:1::/48`, with the IPv4 address in the last 32 bits (the RFC 6052 `/96` layout),
/// * 6to4 `2002:aabb:ccdd::/48` (`2002::/16`, the IPv4 address in bits 16 to 47),
/// * Teredo `2001::/32`, whose client address is the last 32 bits inverted.
fn carried_ipv4(v6: Ipv6Addr) -> Option<(Ipv4Addr, Form)> {
    let bits = u128::from(v6);
    // The casts keep the low 32 bits on purpose: that is where the address is.
    let last = (bits & 0xffff_ffff) as u32;
    let head = bits >> 32;
    let mapped_or_translated = head == 0xffff || head == 0xffff_0000;
    let compatible = head == 0 && last > 1;
    let nat64 = head == 0x0064_ff9b_0000_0000_0000_0000 || bits >> 80 == 0x0064_ff9b_0001;
    let found = if mapped_or_translated || compatible || nat64 {
        (last, LAST_32)
    } else if bits >> 112 == 0x2002 {
        (((bits >> 80) & 0xffff_ffff) as u32, SIX_TO_FOUR)
    } else if bits >> 96 == 0x2001_0000 {
        (!last, LAST_32)
    } else {
        return None;
    };
    Some((Ipv4Addr::from(found.0), found.1))
}

/// The address a destination is matched as: the IPv4 address an IPv6 address carries (see
/// [`carried_ipv4`]), otherwise the address itself.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => carried_ipv4(v6).map_or(ip, |(v4, _)| IpAddr::V4(v4)),
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
///
/// # IPv4 addresses written in IPv6
///
/// An IPv6 address that carries an IPv4 address reaches that IPv4 host (directly, or through a
/// NAT64 gateway, a 6to4 or Teredo relay), so it is judged as that IPv4 address. These forms are
/// recognised, for literal `dlr-url` hosts and for the addresses a name resolves to alike:
///
/// | form | range | carried address |
/// |---|---|---|
/// | IPv4-mapped | `::ffff:0:0/96` | last 32 bits |
/// | SIIT IPv4-translated | `::ffff:0:0:0/96` | last 32 bits |
/// | IPv4-compatible | `::/96` (not `::`, `::1`) | last 32 bits |
/// | NAT64 well-known prefix | `64:ff9b::/96` | last 32 bits |
/// | NAT64 local-use prefix | `64:ff9b:1::/48` | last 32 bits (the RFC 6052 `/96` layout) |
/// | 6to4 | `2002::/16` | bits 16 to 47 |
/// | Teredo | `2001::/32` | last 32 bits, inverted |
///
/// The rule: an address is refused when the address as written, or the IPv4 address it
/// carries, is in a `deny` range, unless the IPv4 address it carries (or the address itself,
/// when it carries none) is in an `allow` range. A range written in one of those forms whose
/// prefix reaches into the IPv4 part stands for that IPv4 range too (`::ffff:a9fe:0/112` is
/// `169.254.0.0/16`), so `deny` and `allow` ranges match in either spelling. A `deny` range
/// that covers a whole form (`2002::/16`, `64:ff9b::/96`) refuses every address written in that
/// form. An `allow` range is matched against the carried IPv4 address only, so an `allow`
/// written over an IPv6 form cannot reopen an IPv4 range that `deny` refuses.
///
/// The connection is made only to the addresses the policy approved: a name whose addresses
/// are partly refused connects to the approved ones only.
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

    /// Whether a connection to `ip` is permitted (see the type's documentation for how
    /// IPv4 addresses written in IPv6 are judged).
    pub fn permits(&self, ip: IpAddr) -> bool {
        self.allow.iter().any(|r| r.contains_carried(ip))
            || !self.deny.iter().any(|r| r.contains(ip))
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
    fn ipv4_written_in_ipv6_is_judged_as_ipv4() {
        for policy in [
            DestinationPolicy::default(),
            DestinationPolicy::public_only(),
        ] {
            for spelled in [
                "::169.254.169.254",
                "::ffff:169.254.169.254",
                "::ffff:0:169.254.169.254",
                "64:ff9b::a9fe:a9fe",
                "64:ff9b:1::a9fe:a9fe",
                "64:ff9b:1:ab:cd::a9fe:a9fe",
                "2002:a9fe:a9fe::",
                "2002:a9fe:a9fe:1:2:3:4:5",
                // Teredo: server 65.54.227.120, client 169.254.169.254 inverted.
                "2001:0:4136:e378:8000:63bf:5601:5601",
            ] {
                assert!(!policy.permits(ip(spelled)), "{spelled} in {policy:?}");
            }
        }
        let strict = DestinationPolicy::public_only();
        for spelled in [
            "::7f00:1",
            "64:ff9b::a00:5",
            "2002:c0a8:101::1",
            "::ffff:0:a00:1",
        ] {
            assert!(!strict.permits(ip(spelled)), "{spelled}");
        }
        // Public addresses in the same forms stay reachable.
        for spelled in [
            "::ffff:93.184.216.34",
            "64:ff9b::5db8:d822",
            "2002:5db8:d822::1",
        ] {
            assert!(strict.permits(ip(spelled)), "{spelled}");
        }
        // `::` and `::1` are not IPv4-compatible addresses: they keep their own meaning.
        assert_eq!(canonical(ip("::1")), ip("::1"));
        assert_eq!(canonical(ip("::")), ip("::"));
        assert_eq!(canonical(ip("::2")), ip("0.0.0.2"));
        // 2001:db8::/32 (documentation) is not Teredo.
        assert_eq!(canonical(ip("2001:db8::1")), ip("2001:db8::1"));
    }

    #[test]
    fn ranges_match_in_either_spelling() {
        let mapped: IpRange = "::ffff:a9fe:0/112".parse().unwrap();
        for spelled in [
            "169.254.0.1",
            "::ffff:169.254.0.1",
            "64:ff9b::a9fe:1",
            "2002:a9fe:1::",
        ] {
            assert!(mapped.contains(ip(spelled)), "{spelled}");
        }
        assert!(!mapped.contains(ip("169.255.0.1")));
        let operator = DestinationPolicy {
            allow: Vec::new(),
            deny: vec![mapped],
        };
        assert!(!operator.permits(ip("169.254.169.254")));
        assert!(operator.permits(ip("169.253.169.254")));

        let six_to_four: IpRange = "2002:a00::/24".parse().unwrap();
        assert_eq!(six_to_four.carried().to_string(), "10.0.0.0/8");
        assert!(six_to_four.contains(ip("10.9.8.7")));
        let teredo: IpRange = "2001:0:4136:e378:8000:63bf:f5ff:ff00/120".parse().unwrap();
        assert_eq!(teredo.carried().to_string(), "10.0.0.0/24");

        // A range over a whole form refuses that form only, not every IPv4 address.
        let deny_6to4 = DestinationPolicy {
            allow: Vec::new(),
            deny: vec!["2002::/16".parse().unwrap()],
        };
        assert!(!deny_6to4.permits(ip("2002:5db8:d822::1")));
        assert!(deny_6to4.permits(ip("93.184.216.34")));

        // An allow range written over an IPv6 form cannot reopen a refused IPv4 range.
        let mut reopened = DestinationPolicy::default();
        reopened.allow.push("2002::/16".parse().unwrap());
        assert!(!reopened.permits(ip("2002:a9fe:a9fe::")));
        // An allow range in IPv4-mapped spelling carves out of an IPv4 deny range.
        let mut exception = DestinationPolicy::default();
        exception
            .allow
            .push("::ffff:169.254.10.0/120".parse().unwrap());
        assert!(exception.permits(ip("169.254.10.7")));
        assert!(exception.permits(ip("64:ff9b::a9fe:a07")));
        assert!(!exception.permits(ip("169.254.11.7")));
    }

    /// Every IPv6 spelling of `v4` the policy recognises, with the other bits of each form
    /// taken from `noise`.
    fn spellings(v4: Ipv4Addr, noise: u128) -> Vec<Ipv6Addr> {
        let a = u128::from(u32::from(v4));
        let mut out = vec![
            Ipv6Addr::from(0xffff_0000_0000 | a),
            Ipv6Addr::from(0xffff_0000_0000_0000 | a),
            Ipv6Addr::from(0x0064_ff9b_0000_0000_0000_0000_0000_0000 | a),
            Ipv6Addr::from(
                (0x0064_ff9b_0001_u128 << 80) | (noise & 0xffff_ffff_ffff_0000_0000) | a,
            ),
            Ipv6Addr::from((0x2002_u128 << 112) | (a << 80) | (noise & ((1 << 80) - 1))),
            Ipv6Addr::from(
                (0x2001_0000_u128 << 96)
                    | (noise & 0xffff_ffff_ffff_ffff_0000_0000_0000_0000 >> 32)
                    | u128::from(!u32::from(v4)),
            ),
        ];
        if a > 1 {
            out.push(Ipv6Addr::from(a));
        }
        out
    }

    /// An IPv4 range, written as IPv4 or in one of the IPv6 forms that carry it.
    fn written(v4: u32, prefix: u8, how: u8) -> IpRange {
        let a = u128::from(v4);
        let (addr, extra) = match how % 4 {
            0 => return IpRange::new(IpAddr::V4(Ipv4Addr::from(v4)), prefix).unwrap(),
            1 => (0xffff_0000_0000 | a, 96),
            2 => (0x0064_ff9b_0000_0000_0000_0000_0000_0000 | a, 96),
            _ => ((0x2002_u128 << 112) | (a << 80), 16),
        };
        // Ranges that cover a whole form are not IPv4 ranges; keep at least one IPv4 bit.
        let prefix = prefix.max(1);
        IpRange::new(IpAddr::V6(Ipv6Addr::from(addr)), prefix + extra).unwrap()
    }

    proptest::proptest! {
        #[test]
        fn every_spelling_gets_the_ipv4_decision(v4: u32, noise: u128) {
            let v4 = Ipv4Addr::from(v4);
            for policy in [DestinationPolicy::default(), DestinationPolicy::public_only()] {
                let want = policy.permits(IpAddr::V4(v4));
                for v6 in spellings(v4, noise) {
                    proptest::prop_assert_eq!(policy.permits(IpAddr::V6(v6)), want, "{} as {}", v4, v6);
                }
            }
        }

        #[test]
        fn operator_ranges_in_any_spelling_get_the_ipv4_decision(
            v4: u32,
            noise: u128,
            deny in proptest::collection::vec((proptest::prelude::any::<u32>(), 0u8..=32, 0u8..4), 0..6),
            allow in proptest::collection::vec((proptest::prelude::any::<u32>(), 0u8..=32, 0u8..4), 0..3),
            near in proptest::prelude::any::<bool>(),
        ) {
            let mut policy = DestinationPolicy {
                allow: allow.iter().map(|&(a, p, h)| written(a, p, h)).collect(),
                deny: deny.iter().map(|&(a, p, h)| written(a, p, h)).collect(),
            };
            // Make some ranges hold the address, so both decisions are exercised.
            if near {
                policy.deny.push(written(v4, 24, (v4 % 4) as u8));
            }
            let v4 = Ipv4Addr::from(v4);
            let want = policy.permits(IpAddr::V4(v4));
            for v6 in spellings(v4, noise) {
                proptest::prop_assert_eq!(policy.permits(IpAddr::V6(v6)), want, "{} as {}", v4, v6);
            }
        }
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
