//! Rust mirrors of the structs in `bpf/flow.h`.
// aya reads and writes map keys and values as plain bytes; that needs `unsafe impl Pod`.
#![allow(unsafe_code)]

/// Direction of a packet as the kernel program saw it (`DIRECTION_*` in `flow.h`), the values of
/// NetObserv's `FlowDirection` / `IfDirections`.
pub const DIRECTION_INGRESS: u8 = 0;
/// See [`DIRECTION_INGRESS`].
pub const DIRECTION_EGRESS: u8 = 1;

/// The map key, `struct flow_key`: addresses are 16 bytes, IPv4 stored IPv4-mapped; ports in host
/// order (zero for ICMP, which sets `icmp_type` / `icmp_code`).
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
    /// [`DIRECTION_INGRESS`] or [`DIRECTION_EGRESS`].
    pub direction: u8,
    /// Padding, always zero.
    pub pad: [u8; 2],
    /// The interface index (`skb->ifindex`).
    pub if_index: u32,
}

/// The map value, `struct flow_value`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FlowValue {
    /// First packet, `bpf_ktime_get_ns()` (CLOCK_MONOTONIC).
    pub start_ns: u64,
    /// Last packet, `bpf_ktime_get_ns()`.
    pub end_ns: u64,
    /// Sum of `skb->len` (Ethernet frame without FCS).
    pub bytes: u64,
    /// Packet count.
    pub packets: u32,
    /// OR of the per-packet TCP flag (NetObserv's encoding with 0x100/0x200/0x400 pseudo flags).
    pub flags: u16,
    /// DSCP of the last packet.
    pub dscp: u8,
    /// Padding.
    pub pad0: u8,
    /// Source MAC of the first packet.
    pub src_mac: [u8; 6],
    /// Destination MAC of the first packet.
    pub dst_mac: [u8; 6],
    /// `struct bpf_spin_lock`, owned by the kernel.
    pub lock: u32,
}

// SAFETY: `FlowKey` is `repr(C)`, has only integer fields with explicit padding (no implicit
// padding bytes, checked by the layout tests), and every bit pattern is a valid value.
unsafe impl aya::Pod for FlowKey {}
// SAFETY: as for `FlowKey`: `repr(C)`, integer fields only, no implicit padding, any bits valid.
unsafe impl aya::Pod for FlowValue {}

#[cfg(test)]
mod tests {
    use super::*;
    use std::mem::{offset_of, size_of};

    #[test]
    fn flow_key_layout_matches_flow_h() {
        assert_eq!(size_of::<FlowKey>(), 48);
        assert_eq!(offset_of!(FlowKey, src_ip), 0);
        assert_eq!(offset_of!(FlowKey, dst_ip), 16);
        assert_eq!(offset_of!(FlowKey, eth_protocol), 32);
        assert_eq!(offset_of!(FlowKey, src_port), 34);
        assert_eq!(offset_of!(FlowKey, dst_port), 36);
        assert_eq!(offset_of!(FlowKey, proto), 38);
        assert_eq!(offset_of!(FlowKey, icmp_type), 39);
        assert_eq!(offset_of!(FlowKey, icmp_code), 40);
        assert_eq!(offset_of!(FlowKey, direction), 41);
        assert_eq!(offset_of!(FlowKey, pad), 42);
        assert_eq!(offset_of!(FlowKey, if_index), 44);
    }

    #[test]
    fn flow_value_layout_matches_flow_h() {
        assert_eq!(size_of::<FlowValue>(), 48);
        assert_eq!(offset_of!(FlowValue, start_ns), 0);
        assert_eq!(offset_of!(FlowValue, end_ns), 8);
        assert_eq!(offset_of!(FlowValue, bytes), 16);
        assert_eq!(offset_of!(FlowValue, packets), 24);
        assert_eq!(offset_of!(FlowValue, flags), 28);
        assert_eq!(offset_of!(FlowValue, dscp), 30);
        assert_eq!(offset_of!(FlowValue, pad0), 31);
        assert_eq!(offset_of!(FlowValue, src_mac), 32);
        assert_eq!(offset_of!(FlowValue, dst_mac), 38);
        assert_eq!(offset_of!(FlowValue, lock), 44);
    }
}
