//! The direct wire decoder: `pbflow.Records` bytes into flows, without the prost structs.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::to_flow::{Recent, fill_flow, flow_from_view};
use crate::codec::{DecodeError, DecodeErrorKind, Format};
use crate::flow::Flow;

/// Decodes a `pbflow.Records` message into flows; `received_secs` fills `TimeReceived`.
///
/// This reads the wire format directly into flows (no intermediate message structs, strings
/// borrowed and interned); it accepts and rejects exactly what prost decoding of
/// [`Records`](super::Records) followed by [`to_flow`](super::to_flow) does, which a property test
/// checks.
pub fn decode_records(bytes: &[u8], received_secs: i64) -> Result<Vec<Flow>, DecodeError> {
    let mut out = Vec::new();
    decode_records_into(bytes, received_secs, &mut out)?;
    Ok(out)
}

/// Like [`decode_records`], appending to `out`; on error `out` is left as it was. An error's
/// offset is the byte of `bytes` where the malformed part starts.
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
            return Err(e.in_message(bytes));
        }
    }
    Ok(())
}

/// Decodes one `pbflow.Record` message into a flow.
pub fn decode_record(bytes: &[u8], received_secs: i64) -> Result<Flow, DecodeError> {
    let mut view = RecordView::default();
    view.parse(bytes).map_err(|e| e.in_message(bytes))?;
    Ok(flow_from_view(&view, received_secs))
}

/// What is malformed, and where: the address of the byte at which it starts, made an offset
/// into the message by [`WireError::in_message`]. Two words, as a `Result<u64, _>`: the reader's
/// hot path returns it.
#[derive(Debug, Clone, Copy)]
struct WireError {
    at: usize,
    what: Malformed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Malformed {
    TruncatedVarint,
    VarintOverflow,
    InvalidKey,
    FieldZero,
    TruncatedField,
    NotLengthDelimited,
    LengthOverflow,
    NotUtf8,
    NotVarint,
    NotFixed32,
    Group,
    InvalidWireType,
}

impl Malformed {
    fn message(self) -> &'static str {
        match self {
            Malformed::TruncatedVarint => "truncated varint",
            Malformed::VarintOverflow => "varint overflows 64 bits",
            Malformed::InvalidKey => "invalid key",
            Malformed::FieldZero => "invalid field number 0",
            Malformed::TruncatedField => "truncated field",
            Malformed::NotLengthDelimited => "wrong wire type for a length-delimited field",
            Malformed::LengthOverflow => "length overflow",
            Malformed::NotUtf8 => "string is not UTF-8",
            Malformed::NotVarint => "wrong wire type for a varint field",
            Malformed::NotFixed32 => "wrong wire type for ipv4",
            Malformed::Group => "groups are not supported",
            Malformed::InvalidWireType => "invalid wire type",
        }
    }

    fn kind(self) -> DecodeErrorKind {
        match self {
            Malformed::TruncatedVarint | Malformed::TruncatedField => DecodeErrorKind::Truncated,
            Malformed::NotUtf8 => DecodeErrorKind::Utf8,
            _ => DecodeErrorKind::Syntax,
        }
    }
}

impl WireError {
    /// The error, its offset counted from the start of `message` (which holds every slice the
    /// reader read).
    fn in_message(self, message: &[u8]) -> DecodeError {
        let offset = self
            .at
            .saturating_sub(message.as_ptr() as usize)
            .min(message.len());
        DecodeError::new(Format::Pbflow, self.what.kind(), self.what.message())
            .with_offset(offset as u64)
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

    /// The current position (an address: see [`WireError`]).
    #[inline]
    fn pos(&self) -> usize {
        self.buf.as_ptr() as usize
    }

    /// `what`, at the current position.
    fn err(&self, what: Malformed) -> WireError {
        WireError {
            at: self.pos(),
            what,
        }
    }

    #[inline]
    fn varint(&mut self) -> Result<u64, WireError> {
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
    fn varint_slow(&mut self) -> Result<u64, WireError> {
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
                // Byte k's low seven bits, at bit 8k of x, belong at bit 7k: close the gaps
                // pairwise, in 16-, 32- then 64-bit lanes.
                let x = (x & 0x007f_007f_007f_007f) | ((x & 0x7f00_7f00_7f00_7f00) >> 1);
                let x = (x & 0x0000_3fff_0000_3fff) | ((x & 0x3fff_0000_3fff_0000) >> 2);
                let v = (x & 0x0000_0000_0fff_ffff) | ((x & 0x0fff_ffff_0000_0000) >> 4);
                self.buf = &self.buf[len..];
                return Ok(v);
            }
        }
        // Nine or ten bytes (large or negative numbers), or the end of the buffer.
        let at = self.pos();
        let mut v = 0u64;
        for i in 0..10 {
            let Some((&b, rest)) = self.buf.split_first() else {
                return Err(WireError {
                    at,
                    what: Malformed::TruncatedVarint,
                });
            };
            self.buf = rest;
            if i == 9 && b > 1 {
                return Err(WireError {
                    at,
                    what: Malformed::VarintOverflow,
                });
            }
            v |= u64::from(b & 0x7f) << (7 * i);
            if b < 0x80 {
                return Ok(v);
            }
        }
        Err(WireError {
            at,
            what: Malformed::VarintOverflow,
        })
    }

    fn key(&mut self) -> Result<(u32, u8), WireError> {
        let at = self.pos();
        let k = self.varint()?;
        if k > u64::from(u32::MAX) {
            return Err(WireError {
                at,
                what: Malformed::InvalidKey,
            });
        }
        let (field, wire) = ((k >> 3) as u32, (k & 7) as u8);
        if field == 0 {
            return Err(WireError {
                at,
                what: Malformed::FieldZero,
            });
        }
        Ok((field, wire))
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], WireError> {
        if n > self.buf.len() {
            return Err(self.err(Malformed::TruncatedField));
        }
        let (head, rest) = self.buf.split_at(n);
        self.buf = rest;
        Ok(head)
    }

    fn bytes(&mut self, wire: u8) -> Result<&'a [u8], WireError> {
        if wire != 2 {
            return Err(self.err(Malformed::NotLengthDelimited));
        }
        let at = self.pos();
        let n = self.varint()?;
        self.take(usize::try_from(n).map_err(|_| WireError {
            at,
            what: Malformed::LengthOverflow,
        })?)
    }

    fn str(&mut self, wire: u8) -> Result<&'a str, WireError> {
        let b = self.bytes(wire)?;
        std::str::from_utf8(b).map_err(|e| WireError {
            at: b.as_ptr() as usize + e.valid_up_to(),
            what: Malformed::NotUtf8,
        })
    }

    fn uint(&mut self, wire: u8) -> Result<u64, WireError> {
        if wire != 0 {
            return Err(self.err(Malformed::NotVarint));
        }
        self.varint()
    }

    fn skip(&mut self, wire: u8) -> Result<(), WireError> {
        match wire {
            0 => self.varint().map(|_| ()),
            1 => self.take(8).map(|_| ()),
            2 => self.bytes(2).map(|_| ()),
            5 => self.take(4).map(|_| ()),
            3 | 4 => Err(self.err(Malformed::Group)),
            _ => Err(self.err(Malformed::InvalidWireType)),
        }
    }
}

/// Everything of a record that the flow mapping reads, borrowed from the message bytes.
#[derive(Default, Debug, Clone, PartialEq)]
pub(super) struct RecordView<'a> {
    pub(super) eth_protocol: u32,
    pub(super) direction: i32,
    pub(super) start: (i64, i32),
    pub(super) end: (i64, i32),
    pub(super) src_mac: u64,
    pub(super) dst_mac: u64,
    pub(super) src_addr: Option<IpAddr>,
    pub(super) dst_addr: Option<IpAddr>,
    pub(super) dscp: u32,
    pub(super) src_port: u32,
    pub(super) dst_port: u32,
    pub(super) protocol: u32,
    pub(super) bytes: u64,
    pub(super) packets: u64,
    pub(super) interface: &'a str,
    pub(super) agent_ip: Option<IpAddr>,
    pub(super) flags: u32,
    pub(super) icmp_type: u32,
    pub(super) icmp_code: u32,
    pub(super) pkt_drop_bytes: u64,
    pub(super) pkt_drop_packets: u64,
    pub(super) pkt_drop_latest_flags: u32,
    pub(super) pkt_drop_latest_state: u32,
    pub(super) pkt_drop_latest_drop_cause: u32,
    pub(super) dns_id: u32,
    pub(super) dns_flags: u32,
    pub(super) dns_latency: (i64, i32),
    pub(super) rtt: (i64, i32),
    pub(super) dns_errno: u32,
    pub(super) dup_list: Vec<(&'a str, i32, &'a str)>,
    pub(super) events: Vec<Vec<(&'a str, &'a str)>>,
    pub(super) xlat: Option<XlatView>,
    pub(super) sampling: u32,
    pub(super) ipsec_encrypted: bool,
    pub(super) ipsec_ret: i32,
    pub(super) dns_name: &'a str,
    pub(super) ssl_version: u32,
    pub(super) ssl_mismatch: bool,
    pub(super) tls_types: u32,
    pub(super) tls_cipher_suite: u32,
    pub(super) tls_key_share: u32,
    pub(super) quic: Option<QuicView>,
}

#[derive(Default, Debug, Clone, Copy, PartialEq)]
pub(super) struct QuicView {
    pub(super) version: u32,
    pub(super) seen_long_hdr: u32,
    pub(super) seen_short_hdr: u32,
}

#[derive(Default, Debug, Clone, Copy, PartialEq)]
pub(super) struct XlatView {
    pub(super) src: Option<IpAddr>,
    pub(super) dst: Option<IpAddr>,
    pub(super) src_port: u32,
    pub(super) dst_port: u32,
    pub(super) zone_id: u32,
}

/// Merges an `IP` message into `ip` (protobuf merge: fields present in `body` win).
fn parse_ip(body: &[u8], ip: &mut Option<IpAddr>) -> Result<(), WireError> {
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
            (1, _) => return Err(r.err(Malformed::NotFixed32)),
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
fn parse_time(body: &[u8], t: &mut (i64, i32)) -> Result<(), WireError> {
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

impl<'a> RecordView<'a> {
    fn clear(&mut self) {
        let mut dup = std::mem::take(&mut self.dup_list);
        dup.clear();
        *self = RecordView {
            dup_list: dup,
            ..RecordView::default()
        };
    }

    fn parse(&mut self, body: &'a [u8]) -> Result<(), WireError> {
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
                            _ => m.skip(w)?,
                        }
                    }
                }
                29 => self.sampling = r.uint(wire)? as u32,
                30 => self.ipsec_encrypted = r.uint(wire)? != 0,
                31 => self.ipsec_ret = r.uint(wire)? as i32,
                32 => self.dns_name = r.str(wire)?,
                33 => self.ssl_version = r.uint(wire)? as u32,
                34 => self.ssl_mismatch = r.uint(wire)? != 0,
                35 => self.tls_types = r.uint(wire)? as u32,
                36 => self.tls_cipher_suite = r.uint(wire)? as u32,
                37 => self.tls_key_share = r.uint(wire)? as u32,
                38 => {
                    let mut m = Wire::new(r.bytes(wire)?);
                    let q = self.quic.get_or_insert_with(QuicView::default);
                    while !m.is_empty() {
                        let (f, w) = m.key()?;
                        match f {
                            1 => q.version = m.uint(w)? as u32,
                            2 => q.seen_long_hdr = m.uint(w)? as u32,
                            3 => q.seen_short_hdr = m.uint(w)? as u32,
                            _ => m.skip(w)?,
                        }
                    }
                }
                _ => r.skip(wire)?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_of_every_length_agree_with_prost() {
        // Values around each 7-bit boundary, so every length from 1 to 10 bytes and both the
        // one-word and the byte-loop paths are taken, with and without bytes after the varint.
        let mut values = vec![0u64, 1, u64::MAX];
        for bits in (7..64).step_by(7) {
            values.extend([(1u64 << bits) - 1, 1u64 << bits, (1u64 << bits) + 0x55]);
        }
        for v in values {
            let mut buf = Vec::new();
            prost::encoding::encode_varint(v, &mut buf);
            for tail in [&[][..], &[0xff; 9][..]] {
                let mut bytes = buf.clone();
                bytes.extend_from_slice(tail);
                let mut w = Wire::new(&bytes);
                assert_eq!(
                    w.varint().ok(),
                    Some(v),
                    "{v:#x} with {} bytes after",
                    tail.len()
                );
                assert_eq!(w.buf.len(), tail.len());
            }
        }
    }
}
