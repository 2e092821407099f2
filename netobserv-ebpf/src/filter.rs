//! Flow filter rules in upstream's `FLOW_FILTER_RULES` JSON, and their kernel form.
//!
//! The JSON is an array of rules with upstream's snake_case keys:
//!
//! ```json
//! [{"ip_cidr": "10.0.0.0/8", "action": "Accept", "protocol": "TCP", "destination_port_range": "80-100"},
//!  {"ip_cidr": "0.0.0.0/0", "action": "Reject", "peer_ip": "10.1.2.3", "direction": "Egress"}]
//! ```
//!
//! As in upstream's agent, each rule's CIDR is a key of a longest-prefix-match table looked up
//! with the packet's source address, then its destination; once any rule exists, a packet that no
//! rule matches is not recorded. Where upstream is silently lenient this build says what is
//! wrong instead: a malformed port string, an unknown protocol, direction, action or TCP flag,
//! two rules with the same CIDR (upstream keeps the last) and more than
//! [`MAX_FILTER_RULES`] rules are errors. `icmp_type` / `icmp_code` are applied (upstream parses
//! and then ignores them); an absent `action` means `Accept`, as upstream's documentation says.
//! An unknown key is ignored, as upstream does, with a warning.

use std::net::IpAddr;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::types::{FilterKey, FilterRule, MAX_FILTER_RULES};

/// One rule as written in `FLOW_FILTER_RULES`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
pub struct FlowFilterRule {
    /// The CIDR matched against the source, then the destination address (default `0.0.0.0/0`,
    /// which matches every address, IPv6 too).
    #[serde(default)]
    pub ip_cidr: Option<String>,
    /// `Accept` (default) or `Reject`.
    #[serde(default)]
    pub action: Option<String>,
    /// `Ingress` or `Egress`; absent: both.
    #[serde(default)]
    pub direction: Option<String>,
    /// `TCP`, `UDP`, `SCTP`, `ICMP` or `ICMPv6`; absent: any.
    #[serde(default)]
    pub protocol: Option<String>,
    /// One source port.
    #[serde(default)]
    pub source_port: Option<u16>,
    /// One destination port.
    #[serde(default)]
    pub destination_port: Option<u16>,
    /// One port, source or destination.
    #[serde(default)]
    pub port: Option<u16>,
    /// `start-end` source ports.
    #[serde(default)]
    pub source_port_range: Option<String>,
    /// `a,b`: either source port.
    #[serde(default)]
    pub source_ports: Option<String>,
    /// `start-end` destination ports.
    #[serde(default)]
    pub destination_port_range: Option<String>,
    /// `a,b`: either destination port.
    #[serde(default)]
    pub destination_ports: Option<String>,
    /// `start-end`, source or destination.
    #[serde(default)]
    pub port_range: Option<String>,
    /// `a,b`, source or destination.
    #[serde(default)]
    pub ports: Option<String>,
    /// ICMP type (with `protocol` ICMP or ICMPv6).
    #[serde(default)]
    pub icmp_type: Option<u8>,
    /// ICMP code (with `icmp_type`).
    #[serde(default)]
    pub icmp_code: Option<u8>,
    /// The other address must be this one.
    #[serde(default)]
    pub peer_ip: Option<String>,
    /// The other address must be in this CIDR (wins over `peer_ip`).
    #[serde(default)]
    pub peer_cidr: Option<String>,
    /// `SYN`, `SYN-ACK`, `ACK`, `FIN`, `FIN-ACK`, `RST`, `RST-ACK`, `PUSH` (or `PSH`), `URG`, `ECE`,
    /// `CWR`: the packet's TCP flag must be exactly this one.
    #[serde(default)]
    pub tcp_flags: Option<String>,
    /// Only packet drops match (the drops feature).
    #[serde(default)]
    pub drops: Option<bool>,
    /// Sampling rate of what this rule matches (overrides `SAMPLING`).
    #[serde(default)]
    pub sample: Option<u32>,
    /// Keys this build does not know: upstream ignores them, so they are accepted and
    /// [`compile`] warns about each once.
    #[serde(flatten, default, skip_serializing_if = "BTreeMap::is_empty")]
    pub unknown: BTreeMap<String, serde_json::Value>,
}

/// A rule that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("FLOW_FILTER_RULES{}: {message}", match .rule { Some(i) => format!("[{i}]"), None => String::new() })]
pub struct FilterError {
    /// Which rule (from 0), when one is at fault.
    pub rule: Option<usize>,
    /// What is wrong.
    pub message: String,
}

/// Rules ready for the kernel: the LPM entries and the peer set.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KernelFilter {
    /// One entry per rule.
    pub rules: Vec<(FilterKey, FilterRule)>,
    /// Every rule's peer CIDR.
    pub peers: Vec<FilterKey>,
}

impl KernelFilter {
    /// Whether a rule sets its own sampling rate.
    pub fn has_sampling(&self) -> bool {
        self.rules.iter().any(|(_, r)| r.sample != 0)
    }
}

/// Parses upstream's JSON (an empty or blank string is no rules).
pub fn parse_rules(json: &str) -> Result<Vec<FlowFilterRule>, FilterError> {
    if json.trim().is_empty() {
        return Ok(Vec::new());
    }
    serde_json::from_str(json).map_err(|e| FilterError {
        rule: None,
        message: format!("invalid JSON: {e}"),
    })
}

/// Checks the rules and turns them into kernel entries.
pub fn compile(rules: &[FlowFilterRule]) -> Result<KernelFilter, FilterError> {
    if rules.len() > MAX_FILTER_RULES {
        return Err(FilterError {
            rule: None,
            message: format!(
                "{} rules, at most {MAX_FILTER_RULES} are supported",
                rules.len()
            ),
        });
    }
    let mut out = KernelFilter::default();
    for (i, r) in rules.iter().enumerate() {
        let err = |message: String| FilterError {
            rule: Some(i),
            message,
        };
        for k in r.unknown.keys() {
            tracing::warn!(
                rule = i,
                key = %k,
                "FLOW_FILTER_RULES[{i}]: unknown key {k:?} ignored (as upstream does)"
            );
        }
        let (key, rule) = compile_rule(r).map_err(err)?;
        if let Some(j) = out.rules.iter().position(|(k, _)| *k == key) {
            return Err(err(format!(
                "ip_cidr {:?} is also rule {j}'s: one rule per CIDR",
                r.ip_cidr.as_deref().unwrap_or("0.0.0.0/0")
            )));
        }
        let peer = match (&r.peer_cidr, &r.peer_ip) {
            (Some(c), _) => Some(cidr_key(c).map_err(err)?),
            (None, Some(ip)) => {
                let addr: IpAddr = ip
                    .trim()
                    .parse()
                    .map_err(|_| err(format!("peer_ip {ip:?} is not an IP address")))?;
                Some(key_of(addr, if addr.is_ipv4() { 32 } else { 128 }))
            }
            (None, None) => None,
        };
        if let Some(peer) = peer.filter(|p| !out.peers.contains(p)) {
            out.peers.push(peer);
        }
        out.rules.push((key, rule));
    }
    Ok(out)
}

fn compile_rule(r: &FlowFilterRule) -> Result<(FilterKey, FilterRule), String> {
    let key = cidr_key(r.ip_cidr.as_deref().unwrap_or("0.0.0.0/0"))?;
    let mut k = FilterRule {
        action: match r.action.as_deref() {
            None | Some("") | Some("Accept") => 0,
            Some("Reject") => 1,
            Some(other) => return Err(format!("action {other:?}: expected Accept or Reject")),
        },
        direction: match r.direction.as_deref() {
            None | Some("") => 2,
            Some("Ingress") => 0,
            Some("Egress") => 1,
            Some(other) => return Err(format!("direction {other:?}: expected Ingress or Egress")),
        },
        proto: match r.protocol.as_deref() {
            None | Some("") => 0,
            Some("TCP") => 6,
            Some("UDP") => 17,
            Some("SCTP") => 132,
            Some("ICMP") => 1,
            Some("ICMPv6") => 58,
            Some(other) => {
                return Err(format!(
                    "protocol {other:?}: expected TCP, UDP, SCTP, ICMP or ICMPv6"
                ));
            }
        },
        drops_only: u8::from(r.drops == Some(true)),
        sample: r.sample.unwrap_or(0),
        peer_cidr: u8::from(r.peer_cidr.is_some() || r.peer_ip.is_some()),
        ..FilterRule::default()
    };
    if let Some(f) = r.tcp_flags.as_deref().filter(|f| !f.is_empty()) {
        k.tcp_flags = match f {
            "FIN" => 0x01,
            "SYN" => 0x02,
            "RST" => 0x04,
            "PUSH" | "PSH" => 0x08,
            "ACK" => 0x10,
            "URG" => 0x20,
            "ECE" => 0x40,
            "CWR" => 0x80,
            "SYN-ACK" => 0x100,
            "FIN-ACK" => 0x200,
            "RST-ACK" => 0x400,
            other => {
                return Err(format!(
                    "tcp_flags {other:?}: expected one of SYN, SYN-ACK, ACK, FIN, FIN-ACK, RST, RST-ACK, PUSH, URG, ECE, CWR"
                ));
            }
        };
    }
    if let Some(t) = r.icmp_type {
        k.icmp_type = t;
        k.icmp_code = r.icmp_code.unwrap_or(0);
    } else if r.icmp_code.is_some() {
        return Err("icmp_code needs icmp_type".into());
    }
    let (s, e, a, b) = ports(
        "source",
        r.source_port,
        r.source_port_range.as_deref(),
        r.source_ports.as_deref(),
    )?;
    (k.src_port_start, k.src_port_end, k.src_port1, k.src_port2) = (s, e, a, b);
    let (s, e, a, b) = ports(
        "destination",
        r.destination_port,
        r.destination_port_range.as_deref(),
        r.destination_ports.as_deref(),
    )?;
    (k.dst_port_start, k.dst_port_end, k.dst_port1, k.dst_port2) = (s, e, a, b);
    let (s, e, a, b) = ports("", r.port, r.port_range.as_deref(), r.ports.as_deref())?;
    (k.port_start, k.port_end, k.port1, k.port2) = (s, e, a, b);
    Ok((key, k))
}

/// One port group: a range wins over a pair, which wins over a single port (upstream's order).
fn ports(
    what: &str,
    single: Option<u16>,
    range: Option<&str>,
    pair: Option<&str>,
) -> Result<(u16, u16, u16, u16), String> {
    let name = |suffix: &str| {
        if what.is_empty() {
            suffix.trim_start_matches('_').to_string()
        } else {
            format!("{what}{suffix}")
        }
    };
    if let Some(range) = range.filter(|s| !s.is_empty()) {
        let (a, b) = two_ports(range, '-').ok_or_else(|| {
            format!(
                "{} {range:?}: expected start-end with 0 < start < end <= 65535",
                name("_port_range")
            )
        })?;
        if a >= b {
            return Err(format!(
                "{} {range:?}: the start must be below the end",
                name("_port_range")
            ));
        }
        return Ok((a, b, 0, 0));
    }
    if let Some(pair) = pair.filter(|s| !s.is_empty()) {
        let (a, b) = two_ports(pair, ',').ok_or_else(|| {
            format!(
                "{} {pair:?}: expected two ports a,b (1-65535)",
                name("_ports")
            )
        })?;
        if a == b {
            return Err(format!(
                "{} {pair:?}: the two ports are equal",
                name("_ports")
            ));
        }
        return Ok((0, 0, a, b));
    }
    Ok((single.unwrap_or(0), 0, 0, 0))
}

fn two_ports(s: &str, sep: char) -> Option<(u16, u16)> {
    let (a, b) = s.split_once(sep)?;
    let a: u16 = a.trim().parse().ok()?;
    let b: u16 = b.trim().parse().ok()?;
    (a != 0 && b != 0).then_some((a, b))
}

/// The LPM key of a CIDR: IPv4 as IPv4-mapped with 96 + n bits (so it never matches IPv6); a
/// zero-length prefix of either family matches everything.
fn cidr_key(cidr: &str) -> Result<FilterKey, String> {
    let c = cidr.trim();
    let (addr, len) = c
        .split_once('/')
        .ok_or_else(|| format!("CIDR {cidr:?}: expected address/length"))?;
    let addr: IpAddr = addr
        .parse()
        .map_err(|_| format!("CIDR {cidr:?}: {addr:?} is not an IP address"))?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let len: u32 = len
        .parse()
        .ok()
        .filter(|l| *l <= max)
        .ok_or_else(|| format!("CIDR {cidr:?}: the prefix length must be 0 to {max}"))?;
    Ok(key_of(addr, len))
}

fn key_of(addr: IpAddr, len: u32) -> FilterKey {
    match addr {
        _ if len == 0 => FilterKey::default(),
        IpAddr::V4(v4) => FilterKey {
            prefix_len: 96 + len,
            ip: v4.to_ipv6_mapped().octets(),
        },
        IpAddr::V6(v6) => FilterKey {
            prefix_len: len,
            ip: v6.octets(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(json: &str) -> Result<(FilterKey, FilterRule), FilterError> {
        let rules = parse_rules(json)?;
        let k = compile(&rules)?;
        Ok(k.rules[0])
    }

    #[test]
    fn upstream_example_compiles() {
        let (key, rule) = one(
            r#"[{"ip_cidr":"10.0.0.0/8","action":"Accept","protocol":"TCP","destination_port_range":"80-100"}]"#,
        )
        .unwrap();
        assert_eq!(key.prefix_len, 104);
        assert_eq!(&key.ip[10..13], &[0xff, 0xff, 10]);
        assert_eq!((rule.proto, rule.action, rule.direction), (6, 0, 2));
        assert_eq!((rule.dst_port_start, rule.dst_port_end), (80, 100));
        assert_eq!(
            (rule.dst_port1, rule.src_port_start, rule.port_start),
            (0, 0, 0)
        );
    }

    #[test]
    fn every_field_lands_where_the_kernel_reads_it() {
        let k = compile(
            &parse_rules(
                r#"[{"ip_cidr":"fd00::/16","action":"Reject","direction":"Egress","protocol":"ICMPv6",
                    "icmp_type":128,"icmp_code":0,"peer_cidr":"fd01::/64","sample":10,"drops":true},
                   {"ip_cidr":"0.0.0.0/0","source_ports":"53,5353","port":8080,"tcp_flags":"SYN-ACK","peer_ip":"192.0.2.1"}]"#,
            )
            .unwrap(),
        )
        .unwrap();
        let (k0, r0) = k.rules[0];
        assert_eq!((k0.prefix_len, k0.ip[0], k0.ip[1]), (16, 0xfd, 0));
        assert_eq!((r0.action, r0.direction, r0.proto), (1, 1, 58));
        assert_eq!(
            (r0.icmp_type, r0.icmp_code, r0.sample, r0.drops_only),
            (128, 0, 10, 1)
        );
        assert_eq!(r0.peer_cidr, 1);
        let (k1, r1) = k.rules[1];
        assert_eq!(k1, FilterKey::default(), "0.0.0.0/0 matches everything");
        assert_eq!(
            (r1.src_port1, r1.src_port2, r1.port_start),
            (53, 5353, 8080)
        );
        assert_eq!(r1.tcp_flags, 0x100);
        assert_eq!(k.peers.len(), 2);
        assert_eq!(k.peers[1].prefix_len, 128);
        assert_eq!(&k.peers[1].ip[12..], &[192, 0, 2, 1]);
        assert!(k.has_sampling());
    }

    #[test]
    fn bad_rules_say_what_is_wrong() {
        let msg = |json: &str| one(json).unwrap_err().to_string();
        assert_eq!(
            msg(r#"[{"destination_port_range":"100-80"}]"#),
            "FLOW_FILTER_RULES[0]: destination_port_range \"100-80\": the start must be below the end"
        );
        assert!(msg(r#"[{"ports":"80"}]"#).contains("ports \"80\": expected two ports"));
        assert!(msg(r#"[{"action":"Drop"}]"#).contains("expected Accept or Reject"));
        assert!(msg(r#"[{"ip_cidr":"10.0.0.0/33"}]"#).contains("prefix length must be 0 to 32"));
        let unknown = parse_rules(r#"[{"ipcidr":"10.0.0.0/8","action":"Reject"}]"#).unwrap();
        assert_eq!(unknown[0].unknown.keys().collect::<Vec<_>>(), ["ipcidr"]);
        let (key, rule) = compile(&unknown).unwrap().rules[0];
        assert_eq!(
            (key.prefix_len, rule.action),
            (0, 1),
            "ignored as upstream does"
        );
        assert!(msg(r#"[{"tcp_flags":"SYNACK"}]"#).contains("tcp_flags \"SYNACK\""));
        assert!(
            msg(r#"[{"ip_cidr":"10.0.0.0/8"},{"ip_cidr":"10.0.0.0/8","action":"Reject"}]"#)
                .starts_with("FLOW_FILTER_RULES[1]: ip_cidr \"10.0.0.0/8\" is also rule 0's")
        );
        let many = format!("[{}]", vec![r#"{"port":1}"#; 17].join(","));
        assert!(msg(&many).contains("17 rules, at most 16"));
        assert!(parse_rules("  ").unwrap().is_empty());
    }
}
