//! CIDRs as Go's `net.ParseCIDR` reads them, and the matcher of `subnetLabels`.
//!
//! Hand-written rather than from a crate: besides parsing (a few lines), what is needed is the
//! comparison of masked 128-bit integers in the per-flow loop and Go's text form of a network.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

/// A network: an address with its host bits cleared and a prefix length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// Parses `a.b.c.d/n` or `x::y/n` as Go's `net.ParseCIDR` does: the prefix is required and
    /// within the family's bits; host bits may be set and are cleared.
    pub fn parse(s: &str) -> Result<Cidr, String> {
        let (ip, prefix) = s
            .split_once('/')
            .ok_or_else(|| format!("invalid CIDR address {s:?}: no `/prefix`"))?;
        let ip: IpAddr = ip
            .parse()
            .map_err(|_| format!("invalid CIDR address {s:?}: {ip:?} is not an IP address"))?;
        // Go takes decimal digits only, no sign, no leading `+`.
        let prefix: u8 = prefix
            .bytes()
            .all(|b| b.is_ascii_digit())
            .then(|| prefix.parse().ok())
            .flatten()
            .ok_or_else(|| format!("invalid CIDR address {s:?}: bad prefix length"))?;
        Cidr::new(ip, prefix).ok_or_else(|| {
            format!("invalid CIDR address {s:?}: prefix length above the address's bits")
        })
    }

    /// The network of `ip` with `prefix` bits; `None` when `prefix` exceeds the family's bits.
    pub fn new(ip: IpAddr, prefix: u8) -> Option<Cidr> {
        let addr = match ip {
            IpAddr::V4(a) if prefix <= 32 => {
                IpAddr::V4(Ipv4Addr::from_bits(a.to_bits() & mask32(prefix)))
            }
            IpAddr::V6(a) if prefix <= 128 => {
                IpAddr::V6(Ipv6Addr::from_bits(a.to_bits() & mask128(prefix)))
            }
            _ => return None,
        };
        Some(Cidr { addr, prefix })
    }

    /// The network address.
    pub fn addr(&self) -> IpAddr {
        self.addr
    }

    /// The prefix length.
    pub fn prefix(&self) -> u8 {
        self.prefix
    }

    /// Whether the network holds `ip`. As Go: an IPv4-mapped IPv6 address (`::ffff:a.b.c.d`)
    /// is the IPv4 address.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip.to_canonical()) {
            (IpAddr::V4(n), IpAddr::V4(a)) => a.to_bits() & mask32(self.prefix) == n.to_bits(),
            (IpAddr::V6(n), IpAddr::V6(a)) => a.to_bits() & mask128(self.prefix) == n.to_bits(),
            _ => false,
        }
    }
}

/// Go's `IPNet.String()`: `10.0.0.0/16`, `2001:db8::/32`.
impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

fn mask32(prefix: u8) -> u32 {
    u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0)
}

fn mask128(prefix: u8) -> u128 {
    u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0)
}

/// The `subnetLabels` of a stage: the first label, in configuration order, with a CIDR that
/// holds the address.
#[derive(Debug, Clone, Default)]
pub struct SubnetLabels {
    // Flattened in configuration order, each CIDR with its label.
    v4: Vec<(u32, u32, Arc<str>)>,
    v6: Vec<(u128, u128, Arc<str>)>,
}

impl SubnetLabels {
    /// Labels from `(name, cidrs)` pairs, in order.
    pub fn new<'a>(labels: impl IntoIterator<Item = (&'a str, Vec<Cidr>)>) -> Self {
        let mut out = SubnetLabels::default();
        for (name, cidrs) in labels {
            let name: Arc<str> = Arc::from(name);
            for c in cidrs {
                match c.addr {
                    IpAddr::V4(a) => out.v4.push((a.to_bits(), mask32(c.prefix), name.clone())),
                    IpAddr::V6(a) => out.v6.push((a.to_bits(), mask128(c.prefix), name.clone())),
                }
            }
        }
        out
    }

    /// The label of `ip`, if any.
    pub fn label(&self, ip: IpAddr) -> Option<&Arc<str>> {
        match ip.to_canonical() {
            IpAddr::V4(a) => {
                let a = a.to_bits();
                self.v4
                    .iter()
                    .find(|(net, mask, _)| a & mask == *net)
                    .map(|(_, _, l)| l)
            }
            IpAddr::V6(a) => {
                let a = a.to_bits();
                self.v6
                    .iter()
                    .find(|(net, mask, _)| a & mask == *net)
                    .map(|(_, _, l)| l)
            }
        }
    }

    /// Whether no label has a CIDR.
    pub fn is_empty(&self) -> bool {
        self.v4.is_empty() && self.v6.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn cidrs_parse_as_go_does() {
        let c = Cidr::parse("10.1.2.3/16").unwrap();
        assert_eq!(c.to_string(), "10.1.0.0/16");
        assert_eq!(Cidr::parse("0.0.0.0/0").unwrap().to_string(), "0.0.0.0/0");
        assert_eq!(
            Cidr::parse("2001:db8:aa::1/40").unwrap().to_string(),
            "2001:db8::/40"
        );
        assert_eq!(
            Cidr::parse("fd00::1/128").unwrap().to_string(),
            "fd00::1/128"
        );
        for bad in [
            "10.0.0.1",
            "10.0.0.1/33",
            "::1/129",
            "10.0.0/8",
            "x/8",
            "10.0.0.0/+8",
            "10.0.0.0/",
        ] {
            let e = Cidr::parse(bad).unwrap_err();
            assert!(e.contains(bad), "{bad}: {e}");
        }
    }

    #[test]
    fn contains_treats_mapped_addresses_as_ipv4() {
        let c = Cidr::parse("10.0.0.0/8").unwrap();
        assert!(c.contains(ip("10.200.0.1")));
        assert!(c.contains(ip("::ffff:10.200.0.1")));
        assert!(!c.contains(ip("11.0.0.1")));
        assert!(!c.contains(ip("fd00::1")));
        let c6 = Cidr::parse("fd00::/8").unwrap();
        assert!(c6.contains(ip("fd12::1")));
        assert!(!c6.contains(ip("10.0.0.1")));
    }

    #[test]
    fn first_label_in_order_wins() {
        let l = SubnetLabels::new([
            (
                "DB",
                vec![
                    Cidr::parse("10.0.5.0/24").unwrap(),
                    Cidr::parse("fd00:5::/32").unwrap(),
                ],
            ),
            ("Pods", vec![Cidr::parse("10.0.0.0/16").unwrap()]),
            ("World", vec![Cidr::parse("0.0.0.0/0").unwrap()]),
        ]);
        assert_eq!(l.label(ip("10.0.5.7")).map(|s| &**s), Some("DB"));
        assert_eq!(l.label(ip("10.0.6.7")).map(|s| &**s), Some("Pods"));
        assert_eq!(l.label(ip("8.8.8.8")).map(|s| &**s), Some("World"));
        assert_eq!(l.label(ip("fd00:5::9")).map(|s| &**s), Some("DB"));
        assert_eq!(l.label(ip("fd00:6::9")), None);
    }
}
