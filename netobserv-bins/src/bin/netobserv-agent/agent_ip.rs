//! The agent's own address (`AgentIP` on every flow), found as upstream's `fetchAgentIP` does,
//! with a fallback for namespaces that have no route to the internet.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};

use netobserv_ebpf::interfaces::InterfaceFilter;

use crate::env::{AgentIpIface, AgentIpType};

/// Why no address could be found.
#[derive(Debug, thiserror::Error)]
pub enum AgentIpError {
    /// The interfaces' addresses could not be listed.
    #[error("cannot list the interfaces' addresses: {0}")]
    List(#[source] std::io::Error),
    /// No address matched.
    #[error(
        "no {family} address found {place} (loopback and link-local addresses do not count); set AGENT_IP, or AGENT_IP_IFACE to local or name:<iface>"
    )]
    NotFound {
        /// `IPv4 or IPv6`, `IPv4`, `IPv6`.
        family: &'static str,
        /// Where it was looked for.
        place: String,
    },
}

/// An address of an interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IfaceAddr {
    /// The interface.
    pub interface: String,
    /// Its address.
    pub ip: IpAddr,
}

/// Every address of every interface of the calling thread's network namespace, in the order
/// `getifaddrs(3)` gives them.
pub fn addresses() -> std::io::Result<Vec<IfaceAddr>> {
    let list = nix::ifaddrs::getifaddrs().map_err(std::io::Error::from)?;
    Ok(list
        .filter_map(|a| {
            let s = a.address?;
            let ip = if let Some(v4) = s.as_sockaddr_in() {
                IpAddr::V4(v4.ip())
            } else {
                IpAddr::V6(s.as_sockaddr_in6()?.ip())
            };
            Some(IfaceAddr {
                interface: a.interface_name,
                ip,
            })
        })
        .collect())
}

/// Upstream skips loopback and link-local unicast addresses (and an unspecified one is no use).
fn suitable(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => !(v4.is_loopback() || v4.is_link_local() || v4.is_unspecified()),
        IpAddr::V6(v6) => {
            !(v6.is_loopback() || v6.is_unicast_link_local() || v6.is_unspecified())
                && v6.to_ipv4_mapped().is_none()
        }
    }
}

/// The first suitable address of `ty` among `addrs` whose interface `keep` accepts; for `any`,
/// IPv4 before IPv6, as upstream's `getIP`.
pub fn first(addrs: &[IfaceAddr], ty: AgentIpType, keep: impl Fn(&str) -> bool) -> Option<IpAddr> {
    let pick = |v4: bool| {
        addrs
            .iter()
            .filter(|a| keep(&a.interface) && suitable(a.ip) && a.ip.is_ipv4() == v4)
            .map(|a| a.ip)
            .next()
    };
    match ty {
        AgentIpType::Ipv4 => pick(true),
        AgentIpType::Ipv6 => pick(false),
        AgentIpType::Any => pick(true).or_else(|| pick(false)),
    }
}

/// The local address the kernel would send from to reach `target`: connecting a UDP socket sends
/// nothing. `None` when there is no route (ENETUNREACH in a namespace without a default route).
fn route_source(target: IpAddr) -> Option<IpAddr> {
    let bind: SocketAddr = match target {
        IpAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
        IpAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    let socket = UdpSocket::bind(bind).ok()?;
    match socket.connect((target, 80)) {
        Ok(()) => socket
            .local_addr()
            .ok()
            .map(|a| a.ip())
            .filter(|ip| suitable(*ip)),
        Err(error) => {
            tracing::debug!(%target, %error, "no route to find the external address");
            None
        }
    }
}

fn family(ty: AgentIpType) -> &'static str {
    match ty {
        AgentIpType::Any => "IPv4 or IPv6",
        AgentIpType::Ipv4 => "IPv4",
        AgentIpType::Ipv6 => "IPv6",
    }
}

/// The agent's address by `AGENT_IP_IFACE` and `AGENT_IP_TYPE`. For `external` without a route
/// (a network namespace with no default route), it is the first address of an interface the
/// agent watches (`filter`), else of any interface.
pub fn discover(
    iface: &AgentIpIface,
    ty: AgentIpType,
    filter: &InterfaceFilter,
) -> Result<IpAddr, AgentIpError> {
    let not_found = |place: String| AgentIpError::NotFound {
        family: family(ty),
        place,
    };
    match iface {
        AgentIpIface::Local => {
            let addrs = addresses().map_err(AgentIpError::List)?;
            first(&addrs, ty, |_| true).ok_or_else(|| not_found("on any interface".into()))
        }
        AgentIpIface::Name(name) => {
            let addrs = addresses().map_err(AgentIpError::List)?;
            first(&addrs, ty, |i| i == name)
                .ok_or_else(|| not_found(format!("on interface {name:?}")))
        }
        AgentIpIface::External => {
            let v4 = || route_source(IpAddr::V4(Ipv4Addr::new(8, 8, 8, 8)));
            let v6 = || {
                route_source(IpAddr::V6(Ipv6Addr::new(
                    0x2001, 0x4860, 0x4860, 0, 0, 0, 0, 0x8888,
                )))
            };
            let routed = match ty {
                AgentIpType::Ipv4 => v4(),
                AgentIpType::Ipv6 => v6(),
                AgentIpType::Any => v4().or_else(v6),
            };
            if let Some(ip) = routed {
                return Ok(ip);
            }
            let addrs = addresses().map_err(AgentIpError::List)?;
            let ip = first(&addrs, ty, |i| filter.allows(i))
                .or_else(|| first(&addrs, ty, |_| true))
                .ok_or_else(|| {
                    not_found(
                        "on a route to the internet (8.8.8.8, 2001:4860:4860::8888) or on any interface"
                            .into(),
                    )
                })?;
            tracing::info!(%ip, "no route to the internet: the agent IP is a local interface's address");
            Ok(ip)
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn a(interface: &str, ip: &str) -> IfaceAddr {
        IfaceAddr {
            interface: interface.into(),
            ip: ip.parse().unwrap(),
        }
    }

    #[test]
    fn loopback_and_link_local_are_skipped_and_ipv4_comes_first() {
        let addrs = [
            a("lo", "127.0.0.1"),
            a("lo", "::1"),
            a("eth0", "fe80::1"),
            a("eth0", "169.254.3.4"),
            a("eth0", "fd00::5"),
            a("eth1", "10.0.0.7"),
        ];
        let ip = |ty, keep: &dyn Fn(&str) -> bool| first(&addrs, ty, keep).map(|i| i.to_string());
        assert_eq!(ip(AgentIpType::Any, &|_| true).as_deref(), Some("10.0.0.7"));
        assert_eq!(ip(AgentIpType::Ipv6, &|_| true).as_deref(), Some("fd00::5"));
        assert_eq!(
            ip(AgentIpType::Any, &|i| i == "eth0").as_deref(),
            Some("fd00::5")
        );
        assert_eq!(ip(AgentIpType::Ipv4, &|i| i == "eth0"), None);
        assert_eq!(ip(AgentIpType::Any, &|i| i == "lo"), None);
    }

    #[test]
    fn this_machine_has_a_loopback_address() {
        let addrs = addresses().unwrap();
        assert!(
            addrs.iter().any(|a| a.ip.is_loopback()),
            "getifaddrs lists lo: {addrs:?}"
        );
    }
}
