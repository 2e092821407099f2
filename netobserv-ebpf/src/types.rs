//! Rust mirrors of the structs in `bpf/flow.h`.
// aya reads and writes map keys and values as plain bytes; that needs `unsafe impl Pod`.
#![allow(unsafe_code)]

/// Direction of a packet as the kernel program saw it (`DIRECTION_*` in `flow.h`), the values of
/// NetObserv's `FlowDirection` / `IfDirections`.
pub const DIRECTION_INGRESS: u8 = 0;
/// See [`DIRECTION_INGRESS`].
pub const DIRECTION_EGRESS: u8 = 1;
/// An interface that saw the flow both ways (upstream's `OBSERVED_DIRECTION_BOTH`).
pub const DIRECTION_BOTH: u8 = 3;
/// Interfaces a flow remembers besides the first one (`MAX_OBSERVED`).
pub const MAX_OBSERVED: usize = 6;
/// The longest DNS name the kernel copies (`DNS_NAME_CAP`), in wire bytes.
pub const DNS_NAME_CAP: usize = 64;
/// How many filter rules the kernel holds (`MAX_FILTER_RULES`, upstream's `MAX_FILTER_ENTRIES`).
pub const MAX_FILTER_RULES: usize = 16;

/// The map key, `struct flow_key`: addresses are 16 bytes, IPv4 stored IPv4-mapped; ports in host
/// order (zero for ICMP, which sets `icmp_type` / `icmp_code`). No interface or direction: a flow
/// crossing several interfaces is one entry.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct FlowKey {
    /// Source address (IPv4-mapped for IPv4).
    pub src_ip: [u8; 16],
    /// Destination address (IPv4-mapped for IPv4).
    pub dst_ip: [u8; 16],
    /// EtherType after at most one VLAN tag.
    pub eth_protocol: u16,
    /// Transport source port (TCP, UDP, SCTP).
    pub src_port: u16,
    /// Transport destination port (TCP, UDP, SCTP).
    pub dst_port: u16,
    /// IP protocol number.
    pub proto: u8,
    /// ICMP / ICMPv6 type.
    pub icmp_type: u8,
    /// ICMP / ICMPv6 code.
    pub icmp_code: u8,
    /// Padding, always zero.
    pub pad: [u8; 3],
}

/// The map value, `struct flow_value`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FlowValue {
    /// First packet, `bpf_ktime_get_ns()` (CLOCK_MONOTONIC).
    pub start_ns: u64,
    /// Last packet on any interface, `bpf_ktime_get_ns()`.
    pub end_ns: u64,
    /// Sum of `skb->len` (Ethernet frame without FCS) on the first interface.
    pub bytes: u64,
    /// Packets on the first interface.
    pub packets: u32,
    /// OR of the per-packet TCP flag (NetObserv's encoding with 0x100/0x200/0x400 pseudo flags).
    pub flags: u16,
    /// DSCP of the last packet.
    pub dscp: u8,
    /// Direction on the first interface.
    pub direction: u8,
    /// Source MAC of the first packet.
    pub src_mac: [u8; 6],
    /// Destination MAC of the first packet.
    pub dst_mac: [u8; 6],
    /// The first interface that saw the flow (`skb->ifindex`).
    pub if_index: u32,
    /// The sampling rate of the last packet counted (0: none).
    pub sampling: u32,
    /// `struct bpf_spin_lock`, owned by the kernel.
    pub lock: u32,
    /// How many of `observed_*` are set.
    pub nb_observed: u8,
    /// The errno of the failed insert, on ring-buffer records.
    pub errno: u8,
    /// Directions of the other interfaces.
    pub observed_direction: [u8; MAX_OBSERVED],
    /// The other interfaces that saw the flow.
    pub observed_if_index: [u32; MAX_OBSERVED],
}

/// A flow sent through the ring buffer when the map refused the insert, `struct flow_record`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FlowRecord {
    /// The key.
    pub key: FlowKey,
    /// Padding.
    pub pad: u32,
    /// A one-packet value.
    pub value: FlowValue,
}

/// DNS tracking's record of a flow, `struct dns_record`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DnsRecord {
    /// Response time after the query, nanoseconds (0: the query was not seen).
    pub latency_ns: u64,
    /// DNS id.
    pub id: u16,
    /// DNS flags (QR, opcode, AA, TC, RD, RA, rcode).
    pub flags: u16,
    /// Errno of a failed map update.
    pub errno: u8,
    /// Padding.
    pub pad: [u8; 3],
    /// The first question's name as on the wire (length-prefixed labels), zero-padded.
    pub name: [u8; DNS_NAME_CAP],
}

impl Default for DnsRecord {
    fn default() -> Self {
        DnsRecord {
            latency_ns: 0,
            id: 0,
            flags: 0,
            errno: 0,
            pad: [0; 3],
            name: [0; DNS_NAME_CAP],
        }
    }
}

/// Drops of a flow, `struct drop_record`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DropRecord {
    /// Bytes dropped (`skb->len`).
    pub bytes: u64,
    /// Packets dropped.
    pub packets: u32,
    /// The kernel's `enum skb_drop_reason` of the latest drop.
    pub latest_cause: u32,
    /// TCP flag of the latest dropped packet.
    pub latest_flags: u16,
    /// TCP state of the socket of the latest drop.
    pub latest_state: u8,
    /// Padding.
    pub pad: [u8; 5],
}

/// RTT of a flow, `struct rtt_record`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RttRecord {
    /// The largest smoothed RTT seen, nanoseconds.
    pub rtt_ns: u64,
}

/// A filter rule's LPM key, `struct filter_key`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FilterKey {
    /// Prefix length in bits over `ip` (IPv4 rules: 96 + n over the IPv4-mapped address).
    pub prefix_len: u32,
    /// The address.
    pub ip: [u8; 16],
}

/// A filter rule, `struct filter_rule` (ports: a single port is `*_start` with `*_end` 0, a pair
/// is `*1`/`*2`, a range is `*_start..=*_end`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[allow(missing_docs)]
pub struct FilterRule {
    pub src_port_start: u16,
    pub src_port_end: u16,
    pub src_port1: u16,
    pub src_port2: u16,
    pub dst_port_start: u16,
    pub dst_port_end: u16,
    pub dst_port1: u16,
    pub dst_port2: u16,
    pub port_start: u16,
    pub port_end: u16,
    pub port1: u16,
    pub port2: u16,
    /// A TCP flag value the packet must carry exactly (0: any).
    pub tcp_flags: u16,
    /// IP protocol (0: any).
    pub proto: u8,
    pub icmp_type: u8,
    pub icmp_code: u8,
    /// 0 ingress, 1 egress, 2 any.
    pub direction: u8,
    /// 0 accept, 1 reject, 2 none.
    pub action: u8,
    /// Only packet drops match.
    pub drops_only: u8,
    /// The other address must be in the peer set.
    pub peer_cidr: u8,
    pub pad: [u8; 3],
    /// Sampling rate for what the rule matches (0: the global rate).
    pub sample: u32,
}

// SAFETY: each type below is `repr(C)` with only integer (and integer array) fields, padding
// made explicit so there are no implicit padding bytes (checked by the layout tests), and every
// bit pattern is a valid value.
unsafe impl aya::Pod for FlowKey {}
// SAFETY: as above.
unsafe impl aya::Pod for FlowValue {}
// SAFETY: as above.
unsafe impl aya::Pod for FlowRecord {}
// SAFETY: as above.
unsafe impl aya::Pod for DnsRecord {}
// SAFETY: as above.
unsafe impl aya::Pod for DropRecord {}
// SAFETY: as above.
unsafe impl aya::Pod for RttRecord {}
// SAFETY: as above.
unsafe impl aya::Pod for FilterKey {}
// SAFETY: as above.
unsafe impl aya::Pod for FilterRule {}

#[cfg(test)]
mod tests {
    use super::*;
    use std::mem::{offset_of, size_of};

    #[test]
    fn flow_key_layout_matches_flow_h() {
        assert_eq!(size_of::<FlowKey>(), 44);
        assert_eq!(offset_of!(FlowKey, src_ip), 0);
        assert_eq!(offset_of!(FlowKey, dst_ip), 16);
        assert_eq!(offset_of!(FlowKey, eth_protocol), 32);
        assert_eq!(offset_of!(FlowKey, src_port), 34);
        assert_eq!(offset_of!(FlowKey, dst_port), 36);
        assert_eq!(offset_of!(FlowKey, proto), 38);
        assert_eq!(offset_of!(FlowKey, icmp_type), 39);
        assert_eq!(offset_of!(FlowKey, icmp_code), 40);
        assert_eq!(offset_of!(FlowKey, pad), 41);
    }

    #[test]
    fn flow_value_layout_matches_flow_h() {
        assert_eq!(size_of::<FlowValue>(), 88);
        assert_eq!(offset_of!(FlowValue, start_ns), 0);
        assert_eq!(offset_of!(FlowValue, end_ns), 8);
        assert_eq!(offset_of!(FlowValue, bytes), 16);
        assert_eq!(offset_of!(FlowValue, packets), 24);
        assert_eq!(offset_of!(FlowValue, flags), 28);
        assert_eq!(offset_of!(FlowValue, dscp), 30);
        assert_eq!(offset_of!(FlowValue, direction), 31);
        assert_eq!(offset_of!(FlowValue, src_mac), 32);
        assert_eq!(offset_of!(FlowValue, dst_mac), 38);
        assert_eq!(offset_of!(FlowValue, if_index), 44);
        assert_eq!(offset_of!(FlowValue, sampling), 48);
        assert_eq!(offset_of!(FlowValue, lock), 52);
        assert_eq!(offset_of!(FlowValue, nb_observed), 56);
        assert_eq!(offset_of!(FlowValue, errno), 57);
        assert_eq!(offset_of!(FlowValue, observed_direction), 58);
        assert_eq!(offset_of!(FlowValue, observed_if_index), 64);
        assert_eq!(size_of::<FlowRecord>(), 136);
        assert_eq!(offset_of!(FlowRecord, value), 48);
    }

    #[test]
    fn feature_records_match_flow_h() {
        assert_eq!(size_of::<DnsRecord>(), 80);
        assert_eq!(offset_of!(DnsRecord, id), 8);
        assert_eq!(offset_of!(DnsRecord, flags), 10);
        assert_eq!(offset_of!(DnsRecord, errno), 12);
        assert_eq!(offset_of!(DnsRecord, name), 16);
        assert_eq!(size_of::<DropRecord>(), 24);
        assert_eq!(offset_of!(DropRecord, latest_cause), 12);
        assert_eq!(offset_of!(DropRecord, latest_flags), 16);
        assert_eq!(offset_of!(DropRecord, latest_state), 18);
        assert_eq!(size_of::<FilterKey>(), 20);
        assert_eq!(size_of::<FilterRule>(), 40);
        assert_eq!(offset_of!(FilterRule, tcp_flags), 24);
        assert_eq!(offset_of!(FilterRule, proto), 26);
        assert_eq!(offset_of!(FilterRule, direction), 29);
        assert_eq!(offset_of!(FilterRule, action), 30);
        assert_eq!(offset_of!(FilterRule, peer_cidr), 32);
        assert_eq!(offset_of!(FilterRule, sample), 36);
    }
}
