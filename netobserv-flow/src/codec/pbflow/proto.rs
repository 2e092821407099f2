//! The `pbflow` messages as prost structs (no `protoc` needed to build).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use prost::Message;

/// `google.protobuf.Timestamp`.
#[derive(Clone, Copy, PartialEq, Eq, Message)]
pub struct Timestamp {
    /// Seconds since the Unix epoch.
    #[prost(int64, tag = "1")]
    pub seconds: i64,
    /// Nanoseconds within the second.
    #[prost(int32, tag = "2")]
    pub nanos: i32,
}

/// `google.protobuf.Duration`.
#[derive(Clone, Copy, PartialEq, Eq, Message)]
pub struct Duration {
    /// Seconds.
    #[prost(int64, tag = "1")]
    pub seconds: i64,
    /// Nanoseconds.
    #[prost(int32, tag = "2")]
    pub nanos: i32,
}

/// `pbflow.Records`: a batch of records, as the agent sends them.
#[derive(Clone, PartialEq, Message)]
pub struct Records {
    /// The records.
    #[prost(message, repeated, tag = "1")]
    pub entries: Vec<Record>,
}

/// `pbflow.DataLink`.
#[derive(Clone, Copy, PartialEq, Eq, Message)]
pub struct DataLink {
    /// Source MAC, low 48 bits.
    #[prost(uint64, tag = "1")]
    pub src_mac: u64,
    /// Destination MAC, low 48 bits.
    #[prost(uint64, tag = "2")]
    pub dst_mac: u64,
}

/// `pbflow.IP`: a oneof of IPv4 (fixed32, host order of the address bytes) and IPv6 (16 bytes).
#[derive(Clone, PartialEq, Eq, Message)]
pub struct Ip {
    /// The address.
    #[prost(oneof = "IpAddrKind", tags = "1, 2")]
    pub ip_family: Option<IpAddrKind>,
}

/// The `ip_family` oneof of `pbflow.IP`.
#[derive(Clone, PartialEq, Eq, prost::Oneof)]
pub enum IpAddrKind {
    /// IPv4 as a big-endian number (`10.0.0.1` is `0x0A000001`).
    #[prost(fixed32, tag = "1")]
    Ipv4(u32),
    /// IPv6, 16 bytes.
    #[prost(bytes = "vec", tag = "2")]
    Ipv6(Vec<u8>),
}

impl Ip {
    /// The address; IPv4-mapped IPv6 becomes IPv4, as Go's `net.IP.String` prints it.
    pub fn to_ip(&self) -> Option<IpAddr> {
        match &self.ip_family {
            Some(IpAddrKind::Ipv4(v)) => Some(IpAddr::V4(Ipv4Addr::from(*v))),
            Some(IpAddrKind::Ipv6(b)) => {
                let arr: [u8; 16] = b.as_slice().try_into().ok()?;
                Some(IpAddr::V6(Ipv6Addr::from(arr)).to_canonical())
            }
            None => None,
        }
    }

    /// Encodes an address.
    pub fn from_ip(ip: IpAddr) -> Ip {
        // The agent always writes 16-byte addresses (IPv4 mapped into IPv6).
        let v6 = match ip {
            IpAddr::V4(v4) => v4.to_ipv6_mapped(),
            IpAddr::V6(v6) => v6,
        };
        Ip {
            ip_family: Some(IpAddrKind::Ipv6(v6.octets().to_vec())),
        }
    }
}

/// `pbflow.Network`.
#[derive(Clone, PartialEq, Eq, Message)]
pub struct Network {
    /// Source address.
    #[prost(message, optional, tag = "1")]
    pub src_addr: Option<Ip>,
    /// Destination address.
    #[prost(message, optional, tag = "2")]
    pub dst_addr: Option<Ip>,
    /// DSCP.
    #[prost(uint32, tag = "3")]
    pub dscp: u32,
}

/// `pbflow.Transport`.
#[derive(Clone, Copy, PartialEq, Eq, Message)]
pub struct Transport {
    /// Source port.
    #[prost(uint32, tag = "1")]
    pub src_port: u32,
    /// Destination port.
    #[prost(uint32, tag = "2")]
    pub dst_port: u32,
    /// IP protocol.
    #[prost(uint32, tag = "3")]
    pub protocol: u32,
}

/// `pbflow.DupMapEntry`: one interface the flow was seen on.
#[derive(Clone, PartialEq, Eq, Message)]
pub struct DupMapEntry {
    /// Interface name.
    #[prost(string, tag = "1")]
    pub interface: String,
    /// Direction on that interface (0 ingress, 1 egress).
    #[prost(int32, tag = "2")]
    pub direction: i32,
    /// User-defined network of the interface.
    #[prost(string, tag = "3")]
    pub udn: String,
}

/// `pbflow.NetworkEvent`.
#[derive(Clone, PartialEq, Eq, Message)]
pub struct PbNetworkEvent {
    /// Event key/values.
    #[prost(btree_map = "string, string", tag = "1")]
    pub events: std::collections::BTreeMap<String, String>,
}

/// `pbflow.Xlat`: the NAT translation of the flow.
#[derive(Clone, PartialEq, Eq, Message)]
pub struct Xlat {
    /// Translated source.
    #[prost(message, optional, tag = "1")]
    pub src_addr: Option<Ip>,
    /// Translated destination.
    #[prost(message, optional, tag = "2")]
    pub dst_addr: Option<Ip>,
    /// Translated source port.
    #[prost(uint32, tag = "3")]
    pub src_port: u32,
    /// Translated destination port.
    #[prost(uint32, tag = "4")]
    pub dst_port: u32,
    /// Conntrack zone.
    #[prost(uint32, tag = "5")]
    pub zone_id: u32,
    // Tag 7 (`icmp_id`) was removed upstream (agent 63dcf7c3); a record that has it still
    // decodes, the field is skipped.
}

/// `pbflow.Quic`: what the agent's QUIC tracker saw.
#[derive(Clone, Copy, PartialEq, Eq, Message)]
pub struct Quic {
    /// QUIC version from a long header (0 when none was seen).
    #[prost(uint32, tag = "1")]
    pub version: u32,
    /// 1 when a long header was seen.
    #[prost(uint32, tag = "2")]
    pub seen_long_hdr: u32,
    /// 1 when a short header was seen.
    #[prost(uint32, tag = "3")]
    pub seen_short_hdr: u32,
}

/// `pbflow.Record`: one flow as the agent exports it.
#[derive(Clone, PartialEq, Message)]
pub struct Record {
    /// Ethernet protocol.
    #[prost(uint32, tag = "1")]
    pub eth_protocol: u32,
    /// Direction (0 ingress, 1 egress).
    #[prost(int32, tag = "2")]
    pub direction: i32,
    /// Flow start.
    #[prost(message, optional, tag = "3")]
    pub time_flow_start: Option<Timestamp>,
    /// Flow end.
    #[prost(message, optional, tag = "4")]
    pub time_flow_end: Option<Timestamp>,
    /// MAC addresses.
    #[prost(message, optional, tag = "5")]
    pub data_link: Option<DataLink>,
    /// IP addresses and DSCP.
    #[prost(message, optional, tag = "6")]
    pub network: Option<Network>,
    /// Ports and protocol.
    #[prost(message, optional, tag = "7")]
    pub transport: Option<Transport>,
    /// Bytes.
    #[prost(uint64, tag = "8")]
    pub bytes: u64,
    /// Packets.
    #[prost(uint64, tag = "9")]
    pub packets: u64,
    /// Interface (when `dup_list` is empty).
    #[prost(string, tag = "10")]
    pub interface: String,
    /// Seen on another interface too (older agents).
    #[prost(bool, tag = "11")]
    pub duplicate: bool,
    /// The agent's IP.
    #[prost(message, optional, tag = "12")]
    pub agent_ip: Option<Ip>,
    /// TCP flags.
    #[prost(uint32, tag = "13")]
    pub flags: u32,
    /// ICMP type.
    #[prost(uint32, tag = "14")]
    pub icmp_type: u32,
    /// ICMP code.
    #[prost(uint32, tag = "15")]
    pub icmp_code: u32,
    /// Dropped bytes.
    #[prost(uint64, tag = "16")]
    pub pkt_drop_bytes: u64,
    /// Dropped packets.
    #[prost(uint64, tag = "17")]
    pub pkt_drop_packets: u64,
    /// TCP flags of the latest drop.
    #[prost(uint32, tag = "18")]
    pub pkt_drop_latest_flags: u32,
    /// TCP state of the latest drop.
    #[prost(uint32, tag = "19")]
    pub pkt_drop_latest_state: u32,
    /// Kernel drop reason of the latest drop.
    #[prost(uint32, tag = "20")]
    pub pkt_drop_latest_drop_cause: u32,
    /// DNS id.
    #[prost(uint32, tag = "21")]
    pub dns_id: u32,
    /// DNS flags.
    #[prost(uint32, tag = "22")]
    pub dns_flags: u32,
    /// DNS latency.
    #[prost(message, optional, tag = "23")]
    pub dns_latency: Option<Duration>,
    /// Smoothed RTT.
    #[prost(message, optional, tag = "24")]
    pub time_flow_rtt: Option<Duration>,
    /// DNS tracker errno.
    #[prost(uint32, tag = "25")]
    pub dns_errno: u32,
    /// Interfaces the flow was seen on.
    #[prost(message, repeated, tag = "26")]
    pub dup_list: Vec<DupMapEntry>,
    /// Network events.
    #[prost(message, repeated, tag = "27")]
    pub network_events_metadata: Vec<PbNetworkEvent>,
    /// NAT translation.
    #[prost(message, optional, tag = "28")]
    pub xlat: Option<Xlat>,
    /// Sampling rate.
    #[prost(uint32, tag = "29")]
    pub sampling: u32,
    /// Whether IPsec processing happened (0 or 1; a `uint32` in `flow.proto`).
    #[prost(uint32, tag = "30")]
    pub ipsec_encrypted: u32,
    /// IPsec kernel return code.
    #[prost(int32, tag = "31")]
    pub ipsec_encrypted_ret: i32,
    /// DNS query name.
    #[prost(string, tag = "32")]
    pub dns_name: String,
    /// TLS (or SSL) version, as on the wire (`0x0303` is TLS 1.2).
    #[prost(uint32, tag = "33")]
    pub ssl_version: u32,
    /// Whether the agent saw different TLS versions on the flow.
    #[prost(bool, tag = "34")]
    pub ssl_mismatch: bool,
    /// TLS record types seen, one bit each (`ClientHello` is bit 0).
    #[prost(uint32, tag = "35")]
    pub tls_types: u32,
    /// TLS cipher suite id.
    #[prost(uint32, tag = "36")]
    pub tls_cipher_suite: u32,
    /// TLS key share group id (`CurveID`).
    #[prost(uint32, tag = "37")]
    pub tls_key_share: u32,
    /// QUIC tracking; absent when the agent did not track QUIC on the flow.
    #[prost(message, optional, tag = "38")]
    pub quic: Option<Quic>,
}
