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
///
/// This reads the wire format directly into flows (no intermediate message structs, strings
/// borrowed and interned); it accepts and rejects exactly what prost decoding of [`Records`]
/// followed by [`to_flow`] does, which a property test checks.
pub fn decode_records(bytes: &[u8], received_secs: i64) -> Result<Vec<Flow>, DecodeError> {
    let mut out = Vec::new();
    decode_records_into(bytes, received_secs, &mut out)?;
    Ok(out)
}

/// Like [`decode_records`], appending to `out`; on error `out` is left as it was.
pub fn decode_records_into(
    bytes: &[u8],
    received_secs: i64,
    out: &mut Vec<Flow>,
) -> Result<(), DecodeError> {
    let start = out.len();
    let mut r = Wire::new(bytes);
    let mut view = RecordView::default();
    let mut recent = Recent::default();
    while !r.is_empty() {
        let res = (|| {
            let (field, wire) = r.key()?;
            if field == 1 {
                let body = r.bytes(wire)?;
                view.clear();
                view.parse(body)?;
                if out.len() == out.capacity() {
                    // Records are of similar sizes: guess how many remain from this one.
                    let remaining = r.buf.len() / (body.len() + 3) + 1;
                    out.reserve(remaining.min(1 << 20));
                }
                out.push(Flow::default());
                if let Some(slot) = out.last_mut() {
                    fill_flow(slot, &view, received_secs, &mut recent);
                }
                Ok(())
            } else {
                r.skip(wire)
            }
        })();
        if let Err(e) = res {
            out.truncate(start);
            return Err(e);
        }
    }
    Ok(())
}

/// Decodes one `pbflow.Record` message into a flow.
pub fn decode_record(bytes: &[u8], received_secs: i64) -> Result<Flow, DecodeError> {
    let mut view = RecordView::default();
    view.parse(bytes)?;
    Ok(flow_from_view(&view, received_secs))
}

/// A malformed protobuf message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid pbflow message: {0}")]
pub struct DecodeError(&'static str);

impl From<prost::DecodeError> for DecodeError {
    fn from(_: prost::DecodeError) -> Self {
        DecodeError("protobuf decoding failed")
    }
}

/// A protobuf wire reader over a byte slice.
struct Wire<'a> {
    buf: &'a [u8],
}

impl<'a> Wire<'a> {
    fn new(buf: &'a [u8]) -> Self {
        Wire { buf }
    }

    fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    #[inline]
    fn varint(&mut self) -> Result<u64, DecodeError> {
        // Most varints in a flow record (keys, small numbers) are one byte.
        if let Some((&b, rest)) = self.buf.split_first()
            && b < 0x80
        {
            self.buf = rest;
            return Ok(u64::from(b));
        }
        self.varint_slow()
    }

    #[inline(never)]
    fn varint_slow(&mut self) -> Result<u64, DecodeError> {
        // Up to eight bytes (56 bits: timestamps, counters) from one little-endian word: the first
        // byte without its high bit ends the varint, the 7-bit groups are packed without a loop.
        if let Some(chunk) = self.buf.get(..8) {
            let mut a = [0u8; 8];
            a.copy_from_slice(chunk);
            let w = u64::from_le_bytes(a);
            let ends = !w & 0x8080_8080_8080_8080;
            if ends != 0 {
                let len = (ends.trailing_zeros() / 8 + 1) as usize;
                let x = if len == 8 {
                    w
                } else {
                    w & ((1u64 << (8 * len)) - 1)
                };
                let mut v = 0u64;
                for k in 0..8 {
                    // Byte k's low seven bits, at bit 8k of x, belong at bit 7k.
                    v |= (x >> k) & (0x7f << (7 * k));
                }
                self.buf = &self.buf[len..];
                return Ok(v);
            }
        }
        // Nine or ten bytes (large or negative numbers), or the end of the buffer.
        let mut v = 0u64;
        for i in 0..10 {
            let Some((&b, rest)) = self.buf.split_first() else {
                return Err(DecodeError("truncated varint"));
            };
            self.buf = rest;
            if i == 9 && b > 1 {
                return Err(DecodeError("varint overflows 64 bits"));
            }
            v |= u64::from(b & 0x7f) << (7 * i);
            if b < 0x80 {
                return Ok(v);
            }
        }
        Err(DecodeError("varint overflows 64 bits"))
    }

    fn key(&mut self) -> Result<(u32, u8), DecodeError> {
        let k = self.varint()?;
        if k > u64::from(u32::MAX) {
            return Err(DecodeError("invalid key"));
        }
        let (field, wire) = ((k >> 3) as u32, (k & 7) as u8);
        if field == 0 {
            return Err(DecodeError("invalid field number 0"));
        }
        Ok((field, wire))
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if n > self.buf.len() {
            return Err(DecodeError("truncated field"));
        }
        let (head, rest) = self.buf.split_at(n);
        self.buf = rest;
        Ok(head)
    }

    fn bytes(&mut self, wire: u8) -> Result<&'a [u8], DecodeError> {
        if wire != 2 {
            return Err(DecodeError("wrong wire type for a length-delimited field"));
        }
        let n = self.varint()?;
        self.take(usize::try_from(n).map_err(|_| DecodeError("length overflow"))?)
    }

    fn str(&mut self, wire: u8) -> Result<&'a str, DecodeError> {
        std::str::from_utf8(self.bytes(wire)?).map_err(|_| DecodeError("string is not UTF-8"))
    }

    fn uint(&mut self, wire: u8) -> Result<u64, DecodeError> {
        if wire != 0 {
            return Err(DecodeError("wrong wire type for a varint field"));
        }
        self.varint()
    }

    fn skip(&mut self, wire: u8) -> Result<(), DecodeError> {
        match wire {
            0 => self.varint().map(|_| ()),
            1 => self.take(8).map(|_| ()),
            2 => self.bytes(2).map(|_| ()),
            5 => self.take(4).map(|_| ()),
            3 | 4 => Err(DecodeError("groups are not supported")),
            _ => Err(DecodeError("invalid wire type")),
        }
    }
}

/// Everything of a record that the flow mapping reads, borrowed from the message bytes.
#[derive(Default, Debug, Clone, PartialEq)]
struct RecordView<'a> {
    eth_protocol: u32,
    direction: i32,
    start: (i64, i32),
    end: (i64, i32),
    src_mac: u64,
    dst_mac: u64,
    src_addr: Option<IpAddr>,
    dst_addr: Option<IpAddr>,
    dscp: u32,
    src_port: u32,
    dst_port: u32,
    protocol: u32,
    bytes: u64,
    packets: u64,
    interface: &'a str,
    agent_ip: Option<IpAddr>,
    flags: u32,
    icmp_type: u32,
    icmp_code: u32,
    pkt_drop_bytes: u64,
    pkt_drop_packets: u64,
    pkt_drop_latest_flags: u32,
    pkt_drop_latest_state: u32,
    pkt_drop_latest_drop_cause: u32,
    dns_id: u32,
    dns_flags: u32,
    dns_latency: (i64, i32),
    rtt: (i64, i32),
    dns_errno: u32,
    dup_list: Vec<(&'a str, i32, &'a str)>,
    events: Vec<Vec<(&'a str, &'a str)>>,
    xlat: Option<XlatView>,
    sampling: u32,
    ipsec_encrypted: bool,
    ipsec_ret: i32,
}

#[derive(Default, Debug, Clone, Copy, PartialEq)]
struct XlatView {
    src: Option<IpAddr>,
    dst: Option<IpAddr>,
    src_port: u32,
    dst_port: u32,
    zone_id: u32,
    icmp_id: u32,
}

/// Merges an `IP` message into `ip` (protobuf merge: fields present in `body` win).
fn parse_ip(body: &[u8], ip: &mut Option<IpAddr>) -> Result<(), DecodeError> {
    let mut r = Wire::new(body);
    while !r.is_empty() {
        let (field, wire) = r.key()?;
        match (field, wire) {
            (1, 5) => {
                let b = r.take(4)?;
                *ip = Some(IpAddr::V4(Ipv4Addr::from(u32::from_le_bytes([
                    b[0], b[1], b[2], b[3],
                ]))));
            }
            (1, _) => return Err(DecodeError("wrong wire type for ipv4")),
            (2, _) => {
                let b = r.bytes(wire)?;
                *ip = <[u8; 16]>::try_from(b)
                    .ok()
                    .map(|a| IpAddr::V6(Ipv6Addr::from(a)).to_canonical());
            }
            _ => r.skip(wire)?,
        }
    }
    Ok(())
}

/// Merges a `Timestamp` or `Duration` message into `t`.
fn parse_time(body: &[u8], t: &mut (i64, i32)) -> Result<(), DecodeError> {
    let mut r = Wire::new(body);
    while !r.is_empty() {
        let (field, wire) = r.key()?;
        match field {
            1 => t.0 = r.uint(wire)? as i64,
            2 => t.1 = r.uint(wire)? as i32,
            _ => r.skip(wire)?,
        }
    }
    Ok(())
}

fn nanos((s, n): (i64, i32)) -> i64 {
    s.saturating_mul(1_000_000_000).saturating_add(i64::from(n))
}

impl<'a> RecordView<'a> {
    fn clear(&mut self) {
        let mut dup = std::mem::take(&mut self.dup_list);
        dup.clear();
        *self = RecordView {
            dup_list: dup,
            ..RecordView::default()
        };
    }

    fn parse(&mut self, body: &'a [u8]) -> Result<(), DecodeError> {
        let mut r = Wire::new(body);
        while !r.is_empty() {
            let (field, wire) = r.key()?;
            match field {
                1 => self.eth_protocol = r.uint(wire)? as u32,
                2 => self.direction = r.uint(wire)? as i32,
                3 => parse_time(r.bytes(wire)?, &mut self.start)?,
                4 => parse_time(r.bytes(wire)?, &mut self.end)?,
                5 => {
                    let mut m = Wire::new(r.bytes(wire)?);
                    while !m.is_empty() {
                        let (f, w) = m.key()?;
                        match f {
                            1 => self.src_mac = m.uint(w)?,
                            2 => self.dst_mac = m.uint(w)?,
                            _ => m.skip(w)?,
                        }
                    }
                }
                6 => {
                    let mut m = Wire::new(r.bytes(wire)?);
                    while !m.is_empty() {
                        let (f, w) = m.key()?;
                        match f {
                            1 => parse_ip(m.bytes(w)?, &mut self.src_addr)?,
                            2 => parse_ip(m.bytes(w)?, &mut self.dst_addr)?,
                            3 => self.dscp = m.uint(w)? as u32,
                            _ => m.skip(w)?,
                        }
                    }
                }
                7 => {
                    let mut m = Wire::new(r.bytes(wire)?);
                    while !m.is_empty() {
                        let (f, w) = m.key()?;
                        match f {
                            1 => self.src_port = m.uint(w)? as u32,
                            2 => self.dst_port = m.uint(w)? as u32,
                            3 => self.protocol = m.uint(w)? as u32,
                            _ => m.skip(w)?,
                        }
                    }
                }
                8 => self.bytes = r.uint(wire)?,
                9 => self.packets = r.uint(wire)?,
                10 => self.interface = r.str(wire)?,
                11 => {
                    r.uint(wire)?;
                }
                12 => parse_ip(r.bytes(wire)?, &mut self.agent_ip)?,
                13 => self.flags = r.uint(wire)? as u32,
                14 => self.icmp_type = r.uint(wire)? as u32,
                15 => self.icmp_code = r.uint(wire)? as u32,
                16 => self.pkt_drop_bytes = r.uint(wire)?,
                17 => self.pkt_drop_packets = r.uint(wire)?,
                18 => self.pkt_drop_latest_flags = r.uint(wire)? as u32,
                19 => self.pkt_drop_latest_state = r.uint(wire)? as u32,
                20 => self.pkt_drop_latest_drop_cause = r.uint(wire)? as u32,
                21 => self.dns_id = r.uint(wire)? as u32,
                22 => self.dns_flags = r.uint(wire)? as u32,
                23 => parse_time(r.bytes(wire)?, &mut self.dns_latency)?,
                24 => parse_time(r.bytes(wire)?, &mut self.rtt)?,
                25 => self.dns_errno = r.uint(wire)? as u32,
                26 => {
                    let mut m = Wire::new(r.bytes(wire)?);
                    let mut e = ("", 0i32, "");
                    while !m.is_empty() {
                        let (f, w) = m.key()?;
                        match f {
                            1 => e.0 = m.str(w)?,
                            2 => e.1 = m.uint(w)? as i32,
                            3 => e.2 = m.str(w)?,
                            _ => m.skip(w)?,
                        }
                    }
                    self.dup_list.push(e);
                }
                27 => {
                    let mut m = Wire::new(r.bytes(wire)?);
                    let mut ev: Vec<(&str, &str)> = Vec::new();
                    while !m.is_empty() {
                        let (f, w) = m.key()?;
                        if f != 1 {
                            m.skip(w)?;
                            continue;
                        }
                        let mut kv = Wire::new(m.bytes(w)?);
                        let (mut k, mut v) = ("", "");
                        while !kv.is_empty() {
                            let (f2, w2) = kv.key()?;
                            match f2 {
                                1 => k = kv.str(w2)?,
                                2 => v = kv.str(w2)?,
                                _ => kv.skip(w2)?,
                            }
                        }
                        // A map keeps the last value of a repeated key.
                        match ev.iter_mut().find(|(ek, _)| *ek == k) {
                            Some(slot) => slot.1 = v,
                            None => ev.push((k, v)),
                        }
                    }
                    ev.sort_by(|a, b| a.0.cmp(b.0));
                    self.events.push(ev);
                }
                28 => {
                    let mut m = Wire::new(r.bytes(wire)?);
                    let x = self.xlat.get_or_insert_with(XlatView::default);
                    while !m.is_empty() {
                        let (f, w) = m.key()?;
                        match f {
                            1 => parse_ip(m.bytes(w)?, &mut x.src)?,
                            2 => parse_ip(m.bytes(w)?, &mut x.dst)?,
                            3 => x.src_port = m.uint(w)? as u32,
                            4 => x.dst_port = m.uint(w)? as u32,
                            5 => x.zone_id = m.uint(w)? as u32,
                            7 => x.icmp_id = m.uint(w)? as u32,
                            _ => m.skip(w)?,
                        }
                    }
                }
                29 => self.sampling = r.uint(wire)? as u32,
                30 => self.ipsec_encrypted = r.uint(wire)? != 0,
                31 => self.ipsec_ret = r.uint(wire)? as i32,
                _ => r.skip(wire)?,
            }
        }
        Ok(())
    }

    fn of(r: &'a Record) -> RecordView<'a> {
        let dl = r.data_link.unwrap_or_default();
        let net = r.network.as_ref();
        let tr = r.transport.unwrap_or_default();
        let t = |ts: Option<Timestamp>| ts.map(|t| (t.seconds, t.nanos)).unwrap_or_default();
        let d = |du: Option<Duration>| du.map(|d| (d.seconds, d.nanos)).unwrap_or_default();
        RecordView {
            eth_protocol: r.eth_protocol,
            direction: r.direction,
            start: t(r.time_flow_start),
            end: t(r.time_flow_end),
            src_mac: dl.src_mac,
            dst_mac: dl.dst_mac,
            src_addr: net.and_then(|n| n.src_addr.as_ref()).and_then(Ip::to_ip),
            dst_addr: net.and_then(|n| n.dst_addr.as_ref()).and_then(Ip::to_ip),
            dscp: net.map(|n| n.dscp).unwrap_or(0),
            src_port: tr.src_port,
            dst_port: tr.dst_port,
            protocol: tr.protocol,
            bytes: r.bytes,
            packets: r.packets,
            interface: &r.interface,
            agent_ip: r.agent_ip.as_ref().and_then(Ip::to_ip),
            flags: r.flags,
            icmp_type: r.icmp_type,
            icmp_code: r.icmp_code,
            pkt_drop_bytes: r.pkt_drop_bytes,
            pkt_drop_packets: r.pkt_drop_packets,
            pkt_drop_latest_flags: r.pkt_drop_latest_flags,
            pkt_drop_latest_state: r.pkt_drop_latest_state,
            pkt_drop_latest_drop_cause: r.pkt_drop_latest_drop_cause,
            dns_id: r.dns_id,
            dns_flags: r.dns_flags,
            dns_latency: d(r.dns_latency),
            rtt: d(r.time_flow_rtt),
            dns_errno: r.dns_errno,
            dup_list: r
                .dup_list
                .iter()
                .map(|e| (e.interface.as_str(), e.direction, e.udn.as_str()))
                .collect(),
            events: r
                .network_events_metadata
                .iter()
                .map(|e| {
                    e.events
                        .iter()
                        .map(|(k, v)| (k.as_str(), v.as_str()))
                        .collect()
                })
                .collect(),
            xlat: r.xlat.as_ref().map(|x| XlatView {
                src: x.src_addr.as_ref().and_then(Ip::to_ip),
                dst: x.dst_addr.as_ref().and_then(Ip::to_ip),
                src_port: x.src_port,
                dst_port: x.dst_port,
                zone_id: x.zone_id,
                icmp_id: x.icmp_id,
            }),
            sampling: r.sampling,
            ipsec_encrypted: r.ipsec_encrypted,
            ipsec_ret: r.ipsec_encrypted_ret,
        }
    }
}

fn millis((s, n): (i64, i32)) -> i64 {
    s.saturating_mul(1000)
        .saturating_add(i64::from(n) / 1_000_000)
}

fn small<T: TryFrom<u32> + Default>(v: u32) -> T {
    T::try_from(v).unwrap_or_default()
}

// Go's `net.IP(nil).String()` is "<nil>"; the agent always fills addresses, so an absent one is
// written as the unspecified address rather than an unparsable string.
const UNSPECIFIED: IpAddr = IpAddr::V4(Ipv4Addr::UNSPECIFIED);

/// Maps a record to a flow the way upstream's `RecordToMap` does.
pub fn to_flow(r: &Record, received_secs: i64) -> Flow {
    flow_from_view(&RecordView::of(r), received_secs)
}

thread_local! {
    static EMPTY: Arc<str> = Arc::from("");
}

/// A few recently seen strings (interface names, UDNs): a linear scan of short strings beats the
/// thread-local table of [`crate::flow::intern`] for the handful of values a record stream
/// repeats.
#[derive(Default)]
struct Recent(Vec<(Arc<str>, u32)>, u32);

impl Recent {
    fn get(&mut self, v: &str) -> Arc<str> {
        if v.is_empty() {
            // The UDN of most records.
            return EMPTY.with(Arc::clone);
        }
        self.1 = self.1.wrapping_add(1);
        if let Some(e) = self.0.iter_mut().find(|e| *e.0 == *v) {
            e.1 = self.1;
            return e.0.clone();
        }
        let a = crate::flow::intern(v);
        if self.0.len() < 8 {
            self.0.push((a.clone(), self.1));
        } else if let Some(oldest) = self.0.iter_mut().min_by_key(|e| e.1) {
            *oldest = (a.clone(), self.1);
        }
        a
    }
}

fn flow_from_view(r: &RecordView<'_>, received_secs: i64) -> Flow {
    let mut f = Flow::default();
    fill_flow(&mut f, r, received_secs, &mut Recent::default());
    f
}

/// Sets the fields of `f` (empty on entry) from a record: filling a flow already in place (the
/// last slot of the output) saves moving a whole [`Flow`] per record.
fn fill_flow(f: &mut Flow, r: &RecordView<'_>, received_secs: i64, recent: &mut Recent) {
    use crate::flow::intern;
    f.src_mac = Some(MacAddr::from_u64(r.src_mac));
    f.dst_mac = Some(MacAddr::from_u64(r.dst_mac));
    f.etype = Some(small(r.eth_protocol));
    f.time_flow_start_ms = Some(millis(r.start));
    f.time_flow_end_ms = Some(millis(r.end));
    f.time_received = Some(received_secs);
    f.agent_ip = Some(r.agent_ip.unwrap_or(UNSPECIFIED));
    if r.dup_list.is_empty() {
        f.interfaces = Some(vec![recent.get(r.interface)]);
        f.if_directions = Some(vec![small(r.direction as u32)]);
        f.udns = Some(vec![recent.get("")]);
    } else {
        f.interfaces = Some(r.dup_list.iter().map(|d| recent.get(d.0)).collect());
        f.if_directions = Some(r.dup_list.iter().map(|d| small(d.1 as u32)).collect());
        f.udns = Some(r.dup_list.iter().map(|d| recent.get(d.2)).collect());
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
        f.src_addr = Some(r.src_addr.unwrap_or(UNSPECIFIED));
        f.dst_addr = Some(r.dst_addr.unwrap_or(UNSPECIFIED));
        f.proto = Some(small(r.protocol));
        f.dscp = Some(small(r.dscp));
        match r.protocol {
            1 | 58 => {
                f.icmp_type = Some(small(r.icmp_type));
                f.icmp_code = Some(small(r.icmp_code));
            }
            6 | 17 | 132 => {
                f.src_port = Some(small(r.src_port));
                f.dst_port = Some(small(r.dst_port));
                if r.protocol == 6 {
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
        f.dns_flags_response_code = Some(intern(dns_rcode_name(r.dns_flags & 0xF)));
        f.dns_latency_ms = Some(nanos(r.dns_latency) / 1_000_000);
    }
    if r.pkt_drop_latest_drop_cause != 0 || r.pkt_drop_packets != 0 {
        f.pkt_drop_bytes = Some(r.pkt_drop_bytes);
        f.pkt_drop_packets = Some(r.pkt_drop_packets);
        f.pkt_drop_latest_flags = Some(small(r.pkt_drop_latest_flags));
        f.pkt_drop_latest_state = Some(intern(tcp_state_name(r.pkt_drop_latest_state)));
        f.pkt_drop_latest_drop_cause = Some(intern(drop_cause_name(r.pkt_drop_latest_drop_cause)));
    }
    if let Some(x) = &r.xlat
        && let (Some(src), Some(dst)) = (x.src, x.dst)
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
    let rtt = nanos(r.rtt);
    if rtt != 0 {
        f.time_flow_rtt_ns = Some(rtt);
    }
    if !r.events.is_empty() {
        f.network_events = Some(
            r.events
                .iter()
                .map(|e| NetworkEvent(e.iter().map(|(k, v)| (intern(k), intern(v))).collect()))
                .collect(),
        );
    }
    if r.ipsec_encrypted {
        f.ipsec_ret_code = Some(r.ipsec_ret);
        f.ipsec_status = Some(intern(if r.ipsec_ret == 0 {
            "success"
        } else {
            "failure"
        }));
    }
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
        assert_eq!(f.src_mac.unwrap().to_string(), "0a:58:0a:80:00:01");
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

    use proptest::prelude::*;

    fn ip_strategy() -> impl Strategy<Value = Option<Ip>> {
        prop_oneof![
            Just(None),
            any::<u32>().prop_map(|v| Some(Ip {
                ip_family: Some(IpAddrKind::Ipv4(v))
            })),
            any::<[u8; 16]>().prop_map(|b| Some(Ip {
                ip_family: Some(IpAddrKind::Ipv6(b.to_vec()))
            })),
            any::<[u8; 4]>().prop_map(|b| Some(Ip::from_ip(IpAddr::from(b)))),
            proptest::collection::vec(any::<u8>(), 0..20).prop_map(|b| Some(Ip {
                ip_family: Some(IpAddrKind::Ipv6(b))
            })),
            Just(Some(Ip { ip_family: None })),
        ]
    }

    fn record_strategy() -> impl Strategy<Value = Record> {
        let head = (
            prop_oneof![Just(0x0800u32), Just(0x86DD), Just(0x0806), any::<u32>()],
            any::<i32>(),
            proptest::option::of((any::<i64>(), any::<i32>())),
            proptest::option::of((0i64..2_000_000_000, 0i32..1_000_000_000)),
            (any::<u64>(), any::<u64>()),
            (ip_strategy(), ip_strategy(), 0u32..80),
            (
                any::<u32>(),
                any::<u32>(),
                prop_oneof![
                    Just(1u32),
                    Just(6),
                    Just(17),
                    Just(58),
                    Just(132),
                    any::<u32>()
                ],
            ),
            (
                any::<u64>(),
                any::<u64>(),
                "[a-z0-9]{0,12}",
                any::<bool>(),
                ip_strategy(),
            ),
        );
        let tail = (
            (any::<u32>(), any::<u32>(), any::<u32>()),
            (
                prop_oneof![Just(0u64), any::<u64>()],
                prop_oneof![Just(0u64), any::<u64>()],
                any::<u32>(),
                0u32..14,
                prop_oneof![Just(0u32), any::<u32>()],
            ),
            (
                prop_oneof![Just(0u32), any::<u32>()],
                any::<u32>(),
                proptest::option::of((0i64..100, 0i32..1_000_000_000)),
                proptest::option::of((0i64..100, 0i32..1_000_000_000)),
                prop_oneof![Just(0u32), any::<u32>()],
            ),
            proptest::collection::vec(("[a-z0-9_]{0,8}", -2i32..3, "[a-z]{0,4}"), 0..3),
            proptest::collection::vec(
                proptest::collection::btree_map("[A-Za-z]{1,6}", "[a-z ]{0,6}", 0..3),
                0..3,
            ),
            proptest::option::of((
                ip_strategy(),
                ip_strategy(),
                any::<u32>(),
                any::<u32>(),
                any::<u32>(),
                any::<u32>(),
            )),
            (any::<u32>(), any::<bool>(), any::<i32>()),
        );
        (head, tail).prop_map(|(h, t)| Record {
            eth_protocol: h.0,
            direction: h.1,
            time_flow_start: h.2.map(|(seconds, nanos)| Timestamp { seconds, nanos }),
            time_flow_end: h.3.map(|(seconds, nanos)| Timestamp { seconds, nanos }),
            data_link: Some(DataLink {
                src_mac: h.4.0,
                dst_mac: h.4.1,
            }),
            network: Some(Network {
                src_addr: h.5.0,
                dst_addr: h.5.1,
                dscp: h.5.2,
            }),
            transport: Some(Transport {
                src_port: h.6.0,
                dst_port: h.6.1,
                protocol: h.6.2,
            }),
            bytes: h.7.0,
            packets: h.7.1,
            interface: h.7.2,
            duplicate: h.7.3,
            agent_ip: h.7.4,
            flags: t.0.0,
            icmp_type: t.0.1,
            icmp_code: t.0.2,
            pkt_drop_bytes: t.1.0,
            pkt_drop_packets: t.1.1,
            pkt_drop_latest_flags: t.1.2,
            pkt_drop_latest_state: t.1.3,
            pkt_drop_latest_drop_cause: t.1.4,
            dns_id: t.2.0,
            dns_flags: t.2.1,
            dns_latency: t.2.2.map(|(seconds, nanos)| Duration { seconds, nanos }),
            time_flow_rtt: t.2.3.map(|(seconds, nanos)| Duration { seconds, nanos }),
            dns_errno: t.2.4,
            dup_list: t
                .3
                .into_iter()
                .map(|(interface, direction, udn)| DupMapEntry {
                    interface,
                    direction,
                    udn,
                })
                .collect(),
            network_events_metadata: t
                .4
                .into_iter()
                .map(|events| PbNetworkEvent { events })
                .collect(),
            xlat: t.5.map(|x| Xlat {
                src_addr: x.0,
                dst_addr: x.1,
                src_port: x.2,
                dst_port: x.3,
                zone_id: x.4,
                icmp_id: x.5,
            }),
            sampling: t.6.0,
            ipsec_encrypted: t.6.1,
            ipsec_encrypted_ret: t.6.2,
        })
    }

    proptest! {
        /// The direct wire decoder agrees with prost decoding followed by `to_flow`, including on
        /// concatenated messages (protobuf merge) and on every truncation.
        #[test]
        fn direct_decoder_matches_prost(records in proptest::collection::vec(record_strategy(), 1..4), cut in any::<prop::sample::Index>()) {
            let bytes = Records { entries: records }.encode_to_vec();
            let via_prost: Vec<Flow> = Records::decode(bytes.as_slice()).unwrap().entries.iter().map(|r| to_flow(r, 9)).collect();
            prop_assert_eq!(decode_records(&bytes, 9).unwrap(), via_prost);
            let mut twice = bytes.clone();
            twice.extend_from_slice(&bytes);
            let via_prost: Vec<Flow> = Records::decode(twice.as_slice()).unwrap().entries.iter().map(|r| to_flow(r, 9)).collect();
            prop_assert_eq!(decode_records(&twice, 9).unwrap(), via_prost);
            let cut = cut.index(bytes.len());
            let ours = decode_records(&bytes[..cut], 9).is_ok();
            let theirs = Records::decode(&bytes[..cut]).is_ok();
            prop_assert_eq!(ours, theirs, "cut at {}", cut);
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
