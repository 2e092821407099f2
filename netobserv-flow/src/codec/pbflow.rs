//! The eBPF agent's protobuf format, wire-compatible with upstream netobserv-ebpf-agent's
//! `proto/flow.proto` (package `pbflow`): the same messages, field numbers and types, written as
//! prost structs so that no `protoc` is needed to build.
//!
//! [`to_flow`] maps a [`Record`] to a [`Flow`] the way upstream's `pbflow.RecordToMap` does: which
//! keys appear and when (for example `Bytes` only when non-zero, ports only for TCP/UDP/SCTP, DNS
//! fields only with a DNS id), and the names it gives to DNS response codes, TCP states and kernel
//! drop causes.
//!
//! Field numbers 1–28 are those of `flow.proto` as published; `sampling` (29) and the IPsec fields
//! (30, 31) follow the newer agent releases.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use prost::Message;

use crate::flow::{Flow, MacAddr, NetworkEvent, TcpFlags};

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

impl Duration {
    fn as_nanos(&self) -> i64 {
        self.seconds
            .saturating_mul(1_000_000_000)
            .saturating_add(i64::from(self.nanos))
    }
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
    /// Translated ICMP id.
    #[prost(uint32, tag = "7")]
    pub icmp_id: u32,
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
    /// Whether IPsec processing happened.
    #[prost(bool, tag = "30")]
    pub ipsec_encrypted: bool,
    /// IPsec kernel return code.
    #[prost(int32, tag = "31")]
    pub ipsec_encrypted_ret: i32,
}

/// Decodes a `pbflow.Records` message into flows; `received_secs` fills `TimeReceived`.
pub fn decode_records(bytes: &[u8], received_secs: i64) -> Result<Vec<Flow>, prost::DecodeError> {
    let recs = Records::decode(bytes)?;
    Ok(recs
        .entries
        .iter()
        .map(|r| to_flow(r, received_secs))
        .collect())
}

/// Decodes one `pbflow.Record` message into a flow.
pub fn decode_record(bytes: &[u8], received_secs: i64) -> Result<Flow, prost::DecodeError> {
    Ok(to_flow(&Record::decode(bytes)?, received_secs))
}

fn millis(ts: Option<&Timestamp>) -> i64 {
    ts.map(|t| {
        t.seconds
            .saturating_mul(1000)
            .saturating_add(i64::from(t.nanos) / 1_000_000)
    })
    .unwrap_or(0)
}

fn small<T: TryFrom<u32> + Default>(v: u32) -> T {
    T::try_from(v).unwrap_or_default()
}

const UNSPECIFIED: IpAddr = IpAddr::V4(Ipv4Addr::UNSPECIFIED);

fn ip_or_unspecified(ip: Option<&Ip>) -> IpAddr {
    // Go's `net.IP(nil).String()` is "<nil>"; the agent always fills addresses, so an absent one
    // is written as the unspecified address rather than an unparsable string.
    ip.and_then(Ip::to_ip).unwrap_or(UNSPECIFIED)
}

/// Maps a record to a flow the way upstream's `RecordToMap` does.
pub fn to_flow(r: &Record, received_secs: i64) -> Flow {
    let dl = r.data_link.unwrap_or_default();
    let mut f = Flow {
        src_mac: Some(MacAddr::from_u64(dl.src_mac)),
        dst_mac: Some(MacAddr::from_u64(dl.dst_mac)),
        etype: Some(small(r.eth_protocol)),
        time_flow_start_ms: Some(millis(r.time_flow_start.as_ref())),
        time_flow_end_ms: Some(millis(r.time_flow_end.as_ref())),
        time_received: Some(received_secs),
        agent_ip: Some(ip_or_unspecified(r.agent_ip.as_ref())),
        ..Flow::default()
    };
    if r.dup_list.is_empty() {
        f.interfaces = Some(vec![Arc::from(r.interface.as_str())]);
        f.if_directions = Some(vec![small(r.direction as u32)]);
        f.udns = Some(vec![Arc::from("")]);
    } else {
        f.interfaces = Some(
            r.dup_list
                .iter()
                .map(|d| Arc::from(d.interface.as_str()))
                .collect(),
        );
        f.if_directions = Some(
            r.dup_list
                .iter()
                .map(|d| small(d.direction as u32))
                .collect(),
        );
        f.udns = Some(
            r.dup_list
                .iter()
                .map(|d| Arc::from(d.udn.as_str()))
                .collect(),
        );
    }
    if r.bytes != 0 {
        f.bytes = Some(r.bytes);
    }
    if r.packets != 0 {
        f.packets = Some(r.packets);
    }
    if r.sampling != 0 {
        f.sampling = Some(r.sampling);
    }
    if r.eth_protocol == 0x0800 || r.eth_protocol == 0x86DD {
        let net = r.network.clone().unwrap_or_default();
        let tr = r.transport.unwrap_or_default();
        f.src_addr = Some(ip_or_unspecified(net.src_addr.as_ref()));
        f.dst_addr = Some(ip_or_unspecified(net.dst_addr.as_ref()));
        f.proto = Some(small(tr.protocol));
        f.dscp = Some(small(net.dscp));
        match tr.protocol {
            1 | 58 => {
                f.icmp_type = Some(small(r.icmp_type));
                f.icmp_code = Some(small(r.icmp_code));
            }
            6 | 17 | 132 => {
                f.src_port = Some(small(tr.src_port));
                f.dst_port = Some(small(tr.dst_port));
                if tr.protocol == 6 {
                    f.flags = Some(TcpFlags::raw(small(r.flags)));
                }
            }
            _ => {}
        }
    }
    if r.dns_errno != 0 {
        f.dns_errno = Some(r.dns_errno);
    }
    if r.dns_id != 0 {
        f.dns_id = Some(small(r.dns_id));
        f.dns_flags = Some(small(r.dns_flags));
        f.dns_flags_response_code = Some(Arc::from(dns_rcode_name(r.dns_flags & 0xF)));
        f.dns_latency_ms = Some(r.dns_latency.map(|d| d.as_nanos() / 1_000_000).unwrap_or(0));
    }
    if r.pkt_drop_latest_drop_cause != 0 || r.pkt_drop_packets != 0 {
        f.pkt_drop_bytes = Some(r.pkt_drop_bytes);
        f.pkt_drop_packets = Some(r.pkt_drop_packets);
        f.pkt_drop_latest_flags = Some(small(r.pkt_drop_latest_flags));
        f.pkt_drop_latest_state = Some(Arc::from(tcp_state_name(r.pkt_drop_latest_state)));
        f.pkt_drop_latest_drop_cause =
            Some(Arc::from(drop_cause_name(r.pkt_drop_latest_drop_cause)));
    }
    if let Some(x) = &r.xlat {
        let src = x.src_addr.as_ref().and_then(Ip::to_ip);
        let dst = x.dst_addr.as_ref().and_then(Ip::to_ip);
        if let (Some(src), Some(dst)) = (src, dst)
            && !src.is_unspecified()
            && !dst.is_unspecified()
        {
            f.zone_id = Some(small(x.zone_id));
            f.xlat_src_port = Some(small(x.src_port));
            f.xlat_dst_port = Some(small(x.dst_port));
            f.xlat_src_addr = Some(src);
            f.xlat_dst_addr = Some(dst);
            f.xlat_icmp_id = Some(small(x.icmp_id));
        }
    }
    if let Some(rtt) = r.time_flow_rtt {
        let ns = rtt.as_nanos();
        if ns != 0 {
            f.time_flow_rtt_ns = Some(ns);
        }
    }
    if !r.network_events_metadata.is_empty() {
        f.network_events = Some(
            r.network_events_metadata
                .iter()
                .map(|e| {
                    NetworkEvent(
                        e.events
                            .iter()
                            .map(|(k, v)| (Arc::from(k.as_str()), Arc::from(v.as_str())))
                            .collect(),
                    )
                })
                .collect(),
        );
    }
    if r.ipsec_encrypted {
        f.ipsec_ret_code = Some(r.ipsec_encrypted_ret);
        f.ipsec_status = Some(Arc::from(if r.ipsec_encrypted_ret == 0 {
            "success"
        } else {
            "failure"
        }));
    }
    f
}

/// Builds the record a flow came from (the inverse of [`to_flow`] for agent fields).
pub fn from_flow(f: &Flow) -> Record {
    let ts = |ms: Option<i64>| {
        ms.map(|ms| Timestamp {
            seconds: ms.div_euclid(1000),
            nanos: (ms.rem_euclid(1000) * 1_000_000) as i32,
        })
    };
    let dur = |ns: i64| Duration {
        seconds: ns / 1_000_000_000,
        nanos: (ns % 1_000_000_000) as i32,
    };
    let ifaces = f.interfaces.clone().unwrap_or_default();
    let dirs = f.if_directions.clone().unwrap_or_default();
    let udns = f.udns.clone().unwrap_or_default();
    Record {
        eth_protocol: f.etype.map(u32::from).unwrap_or(0),
        direction: dirs.first().copied().map(i32::from).unwrap_or(0),
        time_flow_start: ts(f.time_flow_start_ms),
        time_flow_end: ts(f.time_flow_end_ms),
        data_link: Some(DataLink {
            src_mac: f.src_mac.map(MacAddr::to_u64).unwrap_or(0),
            dst_mac: f.dst_mac.map(MacAddr::to_u64).unwrap_or(0),
        }),
        network: Some(Network {
            src_addr: f.src_addr.map(Ip::from_ip),
            dst_addr: f.dst_addr.map(Ip::from_ip),
            dscp: f.dscp.map(u32::from).unwrap_or(0),
        }),
        transport: Some(Transport {
            src_port: f.src_port.map(u32::from).unwrap_or(0),
            dst_port: f.dst_port.map(u32::from).unwrap_or(0),
            protocol: f.proto.map(u32::from).unwrap_or(0),
        }),
        bytes: f.bytes.unwrap_or(0),
        packets: f.packets.unwrap_or(0),
        interface: ifaces.first().map(|s| s.to_string()).unwrap_or_default(),
        duplicate: f.duplicate.unwrap_or(false),
        agent_ip: f.agent_ip.map(Ip::from_ip),
        flags: f.flags.map(|fl| u32::from(fl.bits)).unwrap_or(0),
        icmp_type: f.icmp_type.map(u32::from).unwrap_or(0),
        icmp_code: f.icmp_code.map(u32::from).unwrap_or(0),
        pkt_drop_bytes: f.pkt_drop_bytes.unwrap_or(0),
        pkt_drop_packets: f.pkt_drop_packets.unwrap_or(0),
        pkt_drop_latest_flags: f.pkt_drop_latest_flags.map(u32::from).unwrap_or(0),
        pkt_drop_latest_state: f
            .pkt_drop_latest_state
            .as_deref()
            .and_then(tcp_state_value)
            .unwrap_or(0),
        pkt_drop_latest_drop_cause: f
            .pkt_drop_latest_drop_cause
            .as_deref()
            .and_then(drop_cause_value)
            .unwrap_or(0),
        dns_id: f.dns_id.map(u32::from).unwrap_or(0),
        dns_flags: f.dns_flags.map(u32::from).unwrap_or(0),
        dns_latency: f.dns_latency_ms.map(|ms| dur(ms.saturating_mul(1_000_000))),
        time_flow_rtt: f.time_flow_rtt_ns.map(dur),
        dns_errno: f.dns_errno.unwrap_or(0),
        dup_list: ifaces
            .iter()
            .enumerate()
            .map(|(i, name)| DupMapEntry {
                interface: name.to_string(),
                direction: dirs.get(i).copied().map(i32::from).unwrap_or(0),
                udn: udns.get(i).map(|s| s.to_string()).unwrap_or_default(),
            })
            .collect(),
        network_events_metadata: f
            .network_events
            .iter()
            .flatten()
            .map(|e| PbNetworkEvent {
                events: e
                    .0
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            })
            .collect(),
        xlat: f.xlat_src_addr.map(|src| Xlat {
            src_addr: Some(Ip::from_ip(src)),
            dst_addr: f.xlat_dst_addr.map(Ip::from_ip),
            src_port: f.xlat_src_port.map(u32::from).unwrap_or(0),
            dst_port: f.xlat_dst_port.map(u32::from).unwrap_or(0),
            zone_id: f.zone_id.map(u32::from).unwrap_or(0),
            icmp_id: f.xlat_icmp_id.map(u32::from).unwrap_or(0),
        }),
        sampling: f.sampling.unwrap_or(0),
        ipsec_encrypted: f.ipsec_status.is_some(),
        ipsec_encrypted_ret: f.ipsec_ret_code.unwrap_or(0),
    }
}

/// Encodes flows as a `pbflow.Records` message.
pub fn encode_records(flows: &[Flow]) -> Vec<u8> {
    Records {
        entries: flows.iter().map(from_flow).collect(),
    }
    .encode_to_vec()
}

/// DNS response code names (RFC 6895 registry), as upstream's `DNSRcodeToStr`.
pub fn dns_rcode_name(rcode: u32) -> &'static str {
    match rcode {
        0 => "NoError",
        1 => "FormErr",
        2 => "ServFail",
        3 => "NXDomain",
        4 => "NotImp",
        5 => "Refused",
        6 => "YXDomain",
        7 => "YXRRSet",
        8 => "NXRRSet",
        9 => "NotAuth",
        10 => "NotZone",
        16 => "BADVERS",
        17 => "BADKEY",
        18 => "BADTIME",
        19 => "BADMODE",
        20 => "BADNAME",
        21 => "BADALG",
        _ => "UnDefined",
    }
}

const TCP_STATES: [&str; 12] = [
    "TCP_INVALID_STATE",
    "TCP_ESTABLISHED",
    "TCP_SYN_SENT",
    "TCP_SYN_RECV",
    "TCP_FIN_WAIT1",
    "TCP_FIN_WAIT2",
    "TCP_TIME_WAIT",
    "TCP_CLOSE",
    "TCP_CLOSE_WAIT",
    "TCP_LAST_ACK",
    "TCP_LISTEN",
    "TCP_CLOSING",
];

/// Kernel TCP state names (`include/net/tcp_states.h`); 12 is `TCP_NEW_SYN_RECV`.
pub fn tcp_state_name(state: u32) -> &'static str {
    match state {
        1..=11 => TCP_STATES[state as usize],
        12 => "TCP_NEW_SYN_RECV",
        _ => "TCP_INVALID_STATE",
    }
}

fn tcp_state_value(name: &str) -> Option<u32> {
    if name == "TCP_NEW_SYN_RECV" {
        return Some(12);
    }
    TCP_STATES.iter().position(|s| *s == name).map(|p| p as u32)
}

/// Core kernel drop reasons (`enum skb_drop_reason`), index = value.
const CORE_DROP_CAUSES: &[&str] = &[
    "SKB_NOT_DROPPED_YET",
    "SKB_CONSUMED",
    "SKB_DROP_REASON_NOT_SPECIFIED",
    "SKB_DROP_REASON_NO_SOCKET",
    "SKB_DROP_REASON_PKT_TOO_SMALL",
    "SKB_DROP_REASON_TCP_CSUM",
    "SKB_DROP_REASON_SOCKET_FILTER",
    "SKB_DROP_REASON_UDP_CSUM",
    "SKB_DROP_REASON_NETFILTER_DROP",
    "SKB_DROP_REASON_OTHERHOST",
    "SKB_DROP_REASON_IP_CSUM",
    "SKB_DROP_REASON_IP_INHDR",
    "SKB_DROP_REASON_IP_RPFILTER",
    "SKB_DROP_REASON_UNICAST_IN_L2_MULTICAST",
    "SKB_DROP_REASON_XFRM_POLICY",
    "SKB_DROP_REASON_IP_NOPROTO",
    "SKB_DROP_REASON_SOCKET_RCVBUFF",
    "SKB_DROP_REASON_PROTO_MEM",
    "SKB_DROP_REASON_TCP_MD5NOTFOUND",
    "SKB_DROP_REASON_TCP_MD5UNEXPECTED",
    "SKB_DROP_REASON_TCP_MD5FAILURE",
    "SKB_DROP_REASON_SOCKET_BACKLOG",
    "SKB_DROP_REASON_TCP_FLAGS",
    "SKB_DROP_REASON_TCP_ZEROWINDOW",
    "SKB_DROP_REASON_TCP_OLD_DATA",
    "SKB_DROP_REASON_TCP_OVERWINDOW",
    "SKB_DROP_REASON_TCP_OFOMERGE",
    "SKB_DROP_REASON_TCP_RFC7323_PAWS",
    "SKB_DROP_REASON_TCP_INVALID_SEQUENCE",
    "SKB_DROP_REASON_TCP_RESET",
    "SKB_DROP_REASON_TCP_INVALID_SYN",
    "SKB_DROP_REASON_TCP_CLOSE",
    "SKB_DROP_REASON_TCP_FASTOPEN",
    "SKB_DROP_REASON_TCP_OLD_ACK",
    "SKB_DROP_REASON_TCP_TOO_OLD_ACK",
    "SKB_DROP_REASON_TCP_ACK_UNSENT_DATA",
    "SKB_DROP_REASON_TCP_OFO_QUEUE_PRUNE",
    "SKB_DROP_REASON_TCP_OFO_DROP",
    "SKB_DROP_REASON_IP_OUTNOROUTES",
    "SKB_DROP_REASON_BPF_CGROUP_EGRESS",
    "SKB_DROP_REASON_IPV6DISABLED",
    "SKB_DROP_REASON_NEIGH_CREATEFAIL",
    "SKB_DROP_REASON_NEIGH_FAILED",
    "SKB_DROP_REASON_NEIGH_QUEUEFULL",
    "SKB_DROP_REASON_NEIGH_DEAD",
    "SKB_DROP_REASON_TC_EGRESS",
    "SKB_DROP_REASON_QDISC_DROP",
    "SKB_DROP_REASON_CPU_BACKLOG",
    "SKB_DROP_REASON_XDP",
    "SKB_DROP_REASON_TC_INGRESS",
    "SKB_DROP_REASON_UNHANDLED_PROTO",
    "SKB_DROP_REASON_SKB_CSUM",
    "SKB_DROP_REASON_SKB_GSO_SEG",
    "SKB_DROP_REASON_SKB_UCOPY_FAULT",
    "SKB_DROP_REASON_DEV_HDR",
    "SKB_DROP_REASON_DEV_READY",
    "SKB_DROP_REASON_FULL_RING",
    "SKB_DROP_REASON_NOMEM",
    "SKB_DROP_REASON_HDR_TRUNC",
    "SKB_DROP_REASON_TAP_FILTER",
    "SKB_DROP_REASON_TAP_TXFILTER",
    "SKB_DROP_REASON_ICMP_CSUM",
    "SKB_DROP_REASON_INVALID_PROTO",
    "SKB_DROP_REASON_IP_INADDRERRORS",
    "SKB_DROP_REASON_IP_INNOROUTES",
    "SKB_DROP_REASON_PKT_TOO_BIG",
    "SKB_DROP_REASON_DUP_FRAG",
    "SKB_DROP_REASON_FRAG_REASM_TIMEOUT",
    "SKB_DROP_REASON_FRAG_TOO_FAR",
    "SKB_DROP_REASON_TCP_MINTTL",
    "SKB_DROP_REASON_IPV6_BAD_EXTHDR",
    "SKB_DROP_REASON_IPV6_NDISC_FRAG",
    "SKB_DROP_REASON_IPV6_NDISC_HOP_LIMIT",
    "SKB_DROP_REASON_IPV6_NDISC_BAD_CODE",
    "SKB_DROP_REASON_IPV6_NDISC_BAD_OPTIONS",
    "SKB_DROP_REASON_IPV6_NDISC_NS_OTHERHOST",
    "SKB_DROP_REASON_QUEUE_PURGE",
    "SKB_DROP_REASON_TC_COOKIE_ERROR",
    "SKB_DROP_REASON_PACKET_SOCK_ERROR",
    "SKB_DROP_REASON_TC_CHAIN_NOTFOUND",
    "SKB_DROP_REASON_TC_RECLASSIFY_LOOP",
];

/// OVS drop reasons (`SKB_DROP_REASON_SUBSYS_OPENVSWITCH`, 3 << 16), index = value - base - 1.
const OVS_DROP_CAUSES: &[&str] = &[
    "OVS_DROP_LAST_ACTION",
    "OVS_DROP_ACTION_ERROR",
    "OVS_DROP_EXPLICIT",
    "OVS_DROP_EXPLICIT_WITH_ERROR",
    "OVS_DROP_METER",
    "OVS_DROP_RECURSION_LIMIT",
    "OVS_DROP_DEFERRED_LIMIT",
    "OVS_DROP_FRAG_L2_TOO_LONG",
    "OVS_DROP_FRAG_INVALID_PROTO",
    "OVS_DROP_CONNTRACK",
    "OVS_DROP_IP_TTL",
];

const OVS_BASE: u32 = 3 << 16;

/// Kernel drop cause names, core and OVS subsystems; anything else is `SKB_DROP_UNKNOWN_CAUSE`.
pub fn drop_cause_name(cause: u32) -> &'static str {
    if (2..CORE_DROP_CAUSES.len() as u32).contains(&cause) {
        CORE_DROP_CAUSES[cause as usize]
    } else if cause > OVS_BASE && cause <= OVS_BASE + OVS_DROP_CAUSES.len() as u32 {
        OVS_DROP_CAUSES[(cause - OVS_BASE - 1) as usize]
    } else {
        "SKB_DROP_UNKNOWN_CAUSE"
    }
}

fn drop_cause_value(name: &str) -> Option<u32> {
    if let Some(p) = CORE_DROP_CAUSES.iter().position(|s| *s == name) {
        return Some(p as u32);
    }
    OVS_DROP_CAUSES
        .iter()
        .position(|s| *s == name)
        .map(|p| OVS_BASE + 1 + p as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Record {
        Record {
            eth_protocol: 0x0800,
            direction: 1,
            time_flow_start: Some(Timestamp {
                seconds: 1_700_000_000,
                nanos: 123_000_000,
            }),
            time_flow_end: Some(Timestamp {
                seconds: 1_700_000_001,
                nanos: 456_999_999,
            }),
            data_link: Some(DataLink {
                src_mac: 0x0A580A800001,
                dst_mac: 0x0A580A800002,
            }),
            network: Some(Network {
                src_addr: Some(Ip::from_ip("10.128.0.1".parse().unwrap())),
                dst_addr: Some(Ip {
                    ip_family: Some(IpAddrKind::Ipv4(0x0A800002)),
                }),
                dscp: 0,
            }),
            transport: Some(Transport {
                src_port: 43210,
                dst_port: 8080,
                protocol: 6,
            }),
            bytes: 1500,
            packets: 3,
            flags: 0x112,
            interface: "eth0".into(),
            agent_ip: Some(Ip::from_ip("192.168.0.10".parse().unwrap())),
            dns_id: 7,
            dns_flags: 0x8183,
            dns_latency: Some(Duration {
                seconds: 0,
                nanos: 5_000_000,
            }),
            time_flow_rtt: Some(Duration {
                seconds: 0,
                nanos: 250_000,
            }),
            pkt_drop_packets: 1,
            pkt_drop_bytes: 66,
            pkt_drop_latest_state: 1,
            pkt_drop_latest_drop_cause: OVS_BASE + 3,
            ..Record::default()
        }
    }

    #[test]
    fn record_to_flow_follows_record_to_map() {
        let f = to_flow(&sample(), 1_700_000_002);
        assert_eq!(f.src_addr.unwrap().to_string(), "10.128.0.1");
        assert_eq!(f.dst_addr.unwrap().to_string(), "10.128.0.2");
        assert_eq!(f.src_mac.unwrap().to_string(), "0A:58:0A:80:00:01");
        assert_eq!(f.time_flow_start_ms, Some(1_700_000_000_123));
        assert_eq!(f.time_flow_end_ms, Some(1_700_000_001_456));
        assert_eq!(f.interfaces.as_deref().unwrap()[0].as_ref(), "eth0");
        assert_eq!(f.if_directions, Some(vec![1]));
        assert_eq!(f.flags.unwrap().bits, 0x112);
        assert_eq!(f.icmp_type, None);
        assert_eq!(f.dns_flags_response_code.as_deref(), Some("NXDomain"));
        assert_eq!(f.dns_latency_ms, Some(5));
        assert_eq!(f.time_flow_rtt_ns, Some(250_000));
        assert_eq!(f.pkt_drop_latest_state.as_deref(), Some("TCP_ESTABLISHED"));
        assert_eq!(
            f.pkt_drop_latest_drop_cause.as_deref(),
            Some("OVS_DROP_EXPLICIT")
        );
        assert_eq!(f.sampling, None);
        assert_eq!(f.xlat_src_addr, None);
    }

    #[test]
    fn encode_decode_round_trip() {
        let f = to_flow(&sample(), 5);
        let bytes = encode_records(std::slice::from_ref(&f));
        let back = decode_records(&bytes, 5).unwrap();
        assert_eq!(back, vec![f]);
    }

    #[test]
    fn truncated_input_is_an_error() {
        let bytes = Records {
            entries: vec![sample()],
        }
        .encode_to_vec();
        for cut in [1, bytes.len() / 2, bytes.len() - 1] {
            assert!(decode_records(&bytes[..cut], 0).is_err(), "cut at {cut}");
        }
    }

    #[test]
    fn name_tables() {
        assert_eq!(drop_cause_name(2), "SKB_DROP_REASON_NOT_SPECIFIED");
        assert_eq!(drop_cause_name(999), "SKB_DROP_UNKNOWN_CAUSE");
        assert_eq!(drop_cause_value("SKB_DROP_REASON_NO_SOCKET"), Some(3));
        assert_eq!(tcp_state_name(0), "TCP_INVALID_STATE");
        assert_eq!(dns_rcode_name(11), "UnDefined");
    }
}
