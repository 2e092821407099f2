//! The RowBinary encoding of a flow, one column per catalogue field (see [`super::schema`] for
//! the types), written straight from the flow: no intermediate row struct.

use std::io::Write as _;
use std::net::IpAddr;

use netobserv_flow::flow::{FieldId, FieldKind, FieldRef, Flow, NetworkEvent};
use netobserv_flow::value::Value;

use super::Flavor;
use super::schema::{Schema, TIME_COLUMN};
use super::sql::identifier;

/// The largest `TimeFlowEndMs` the schema holds: the end of `DateTime`'s range (2106), which the
/// day partitions and the rollup buckets use.
pub const MAX_TIME_MS: i64 = u32::MAX as i64 * 1000 + 999;

/// Why a flow cannot be written: the schema cannot hold one of its values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RowError {
    /// The flow has no `TimeFlowEndMs`, which partitions the table.
    #[error("flow has no TimeFlowEndMs (the table is partitioned by it)")]
    MissingTime,
    /// `TimeFlowEndMs` is outside `DateTime`'s range.
    #[error("TimeFlowEndMs {0} is outside 0..={MAX_TIME_MS} (1970 to 2106)")]
    TimeOutOfRange(i64),
    /// A value of the wrong type for its column (a field set through a dynamic value).
    #[error("field {field}: cannot store {value}")]
    Value {
        /// The field.
        field: &'static str,
        /// The value, as text.
        value: String,
    },
}

/// Encodes flows as RowBinary rows of a given column list.
#[derive(Debug, Clone)]
pub struct RowEncoder {
    flavor: Flavor,
    fields: Vec<FieldId>,
}

impl RowEncoder {
    /// Rows of `fields` (in this order) for a server of `flavor`.
    pub fn new(flavor: Flavor, fields: Vec<FieldId>) -> Self {
        RowEncoder { flavor, fields }
    }

    /// Rows of every catalogue field.
    pub fn all(flavor: Flavor) -> Self {
        Self::new(flavor, FieldId::ALL.to_vec())
    }

    /// The columns, in order.
    pub fn fields(&self) -> &[FieldId] {
        &self.fields
    }

    /// `INSERT INTO db.table (columns) FORMAT RowBinary`.
    pub fn insert_sql(&self, schema: &Schema) -> String {
        let cols: Vec<String> = self.fields.iter().map(|f| identifier(f.name())).collect();
        format!(
            "INSERT INTO {} ({}) FORMAT RowBinary",
            schema.qualified(&schema.table),
            cols.join(", ")
        )
    }

    /// Appends one row to `out`; on error `out` is left as it was.
    pub fn encode(&self, flow: &Flow, out: &mut Vec<u8>) -> Result<(), RowError> {
        let start = out.len();
        let r = self.encode_inner(flow, out);
        if r.is_err() {
            out.truncate(start);
        }
        r
    }

    fn encode_inner(&self, flow: &Flow, out: &mut Vec<u8>) -> Result<(), RowError> {
        for &f in &self.fields {
            if f == TIME_COLUMN {
                let t = match flow.field_ref(f) {
                    Some(FieldRef::Int(v)) => v,
                    Some(FieldRef::UInt(v)) => i64::try_from(v).unwrap_or(i64::MAX),
                    _ => return Err(RowError::MissingTime),
                };
                if !(0..=MAX_TIME_MS).contains(&t) {
                    return Err(RowError::TimeOutOfRange(t));
                }
                out.extend_from_slice(&t.to_le_bytes());
                continue;
            }
            match f.kind() {
                FieldKind::UInt(bits) => match flow.field_ref(f) {
                    None => out.push(1),
                    Some(FieldRef::UInt(v)) => {
                        out.push(0);
                        out.extend_from_slice(&v.to_le_bytes()[..usize::from(bits / 8)]);
                    }
                    Some(other) => return Err(bad(f, other)),
                },
                FieldKind::Int(bits) => {
                    let v = match flow.field_ref(f) {
                        None => {
                            out.push(1);
                            continue;
                        }
                        Some(FieldRef::Int(v)) => v,
                        Some(FieldRef::UInt(v)) => v as i64,
                        Some(other) => return Err(bad(f, other)),
                    };
                    out.push(0);
                    out.extend_from_slice(&v.to_le_bytes()[..usize::from(bits / 8)]);
                }
                FieldKind::Str => match flow.field_ref(f) {
                    Some(FieldRef::Str(s)) => put_str(out, s),
                    None => out.push(0),
                    Some(other) => return Err(bad(f, other)),
                },
                FieldKind::Ip => match flow.field_ref(f) {
                    None => out.push(1),
                    Some(FieldRef::Ip(ip)) => {
                        out.push(0);
                        self.put_ip(out, ip);
                    }
                    Some(other) => return Err(bad(f, other)),
                },
                FieldKind::Bool => match flow.get_field(f) {
                    None => out.push(1),
                    Some(Value::Bool(b)) => out.extend_from_slice(&[0, u8::from(b)]),
                    Some(other) => return Err(bad_value(f, &other)),
                },
                FieldKind::Mac => match flow.get_field(f) {
                    None => out.push(1),
                    Some(Value::Mac(m)) => {
                        out.push(0);
                        out.extend_from_slice(&m.to_u64().to_le_bytes());
                    }
                    Some(other) => return Err(bad_value(f, &other)),
                },
                FieldKind::TcpFlags => {
                    // The bits; whether they print as names is a JSON rendering choice.
                    let bits = match f {
                        FieldId::Flags => flow.flags().map(|t| t.bits),
                        _ => match flow.get_field(f) {
                            None => None,
                            Some(v) => Some(
                                <netobserv_flow::flow::TcpFlags as netobserv_flow::flow::Scalar>::from_value(&v)
                                    .ok_or_else(|| bad_value(f, &v))?
                                    .bits,
                            ),
                        },
                    };
                    match bits {
                        None => out.push(1),
                        Some(b) => {
                            out.push(0);
                            out.extend_from_slice(&b.to_le_bytes());
                        }
                    }
                }
                FieldKind::StrList => {
                    let fast = match f {
                        FieldId::Interfaces => Some(flow.interfaces()),
                        FieldId::Udns => Some(flow.udns()),
                        FieldId::TlsTypes => Some(flow.tls_types()),
                        _ => None,
                    };
                    match fast {
                        Some(list) => {
                            let list = list.unwrap_or(&[]);
                            put_varint(out, list.len() as u64);
                            for s in list {
                                put_str(out, s);
                            }
                        }
                        None => self.put_list_value(flow, f, out)?,
                    }
                }
                FieldKind::U8List => match f {
                    FieldId::IfDirections => {
                        let list = flow.if_directions().unwrap_or(&[]);
                        put_varint(out, list.len() as u64);
                        out.extend_from_slice(list);
                    }
                    _ => self.put_list_value(flow, f, out)?,
                },
                FieldKind::NetworkEvents => match f {
                    FieldId::NetworkEvents => put_events(out, flow.network_events().unwrap_or(&[])),
                    _ => {
                        let events = match flow.get_field(f) {
                            None => Vec::new(),
                            Some(v) => {
                                <Vec<NetworkEvent> as netobserv_flow::flow::Scalar>::from_value(&v)
                                    .ok_or_else(|| bad_value(f, &v))?
                            }
                        };
                        put_events(out, &events);
                    }
                },
            }
        }
        Ok(())
    }

    fn put_ip(&self, out: &mut Vec<u8>, ip: IpAddr) {
        match self.flavor {
            // IPv6 is 16 bytes in network order; IPv4 addresses are stored mapped (::ffff:a.b.c.d).
            Flavor::Modern => {
                let v6 = match ip {
                    IpAddr::V4(v4) => v4.to_ipv6_mapped(),
                    IpAddr::V6(v6) => v6,
                };
                out.extend_from_slice(&v6.octets());
            }
            Flavor::Legacy => {
                let mut buf = [0u8; 48];
                let mut cur = std::io::Cursor::new(&mut buf[..]);
                // 48 bytes hold the longest IPv6 text (45 bytes).
                let _ = write!(cur, "{ip}");
                let n = cur.position() as usize;
                put_varint(out, n as u64);
                out.extend_from_slice(&buf[..n]);
            }
        }
    }

    /// A list field without a typed fast path, through its dynamic value.
    fn put_list_value(&self, flow: &Flow, f: FieldId, out: &mut Vec<u8>) -> Result<(), RowError> {
        let items = match flow.get_field(f) {
            None => Vec::new(),
            Some(Value::List(items)) => items,
            Some(other) => return Err(bad_value(f, &other)),
        };
        put_varint(out, items.len() as u64);
        for item in &items {
            match (f.kind(), item) {
                (FieldKind::U8List, v) => match v.as_u64().and_then(|n| u8::try_from(n).ok()) {
                    Some(n) => out.push(n),
                    None => return Err(bad_value(f, v)),
                },
                (_, Value::Str(s)) => put_str(out, s),
                (_, v) => put_str(out, &v.to_string()),
            }
        }
        Ok(())
    }
}

/// A RowBinary row that does not read as the encoder's columns.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("row {row}: column {field}: {problem}")]
pub struct DecodeError {
    /// The row, from 0.
    pub row: usize,
    /// The column.
    pub field: &'static str,
    /// What was wrong.
    pub problem: &'static str,
}

impl RowEncoder {
    /// Reads the rows of `SELECT <the encoder's columns> FROM ... FORMAT RowBinary` back into
    /// flows. Absent values come back absent; an empty string or list reads as absent (the
    /// schema stores absent strings as `''`); IPv4-mapped IPv6 addresses read as IPv4; TCP flags
    /// read as their number.
    pub fn decode_rows(&self, mut data: &[u8]) -> Result<Vec<Flow>, DecodeError> {
        let mut flows = Vec::new();
        while !data.is_empty() {
            let row = flows.len();
            let mut flow = Flow::default();
            for &f in &self.fields {
                let err = |problem| DecodeError {
                    row,
                    field: f.name(),
                    problem,
                };
                let r = &mut data;
                if f == TIME_COLUMN {
                    flow.set_time_flow_end_ms(i64::from_le_bytes(
                        take(r).ok_or_else(|| err("short"))?,
                    ));
                    continue;
                }
                let v = match f.kind() {
                    FieldKind::UInt(bits) | FieldKind::Int(bits) => {
                        if take::<1>(r).ok_or_else(|| err("short"))?[0] == 1 {
                            continue;
                        }
                        let n = usize::from(bits / 8);
                        let bytes = r.get(..n).ok_or_else(|| err("short"))?;
                        let mut b = [0u8; 8];
                        b[..n].copy_from_slice(bytes);
                        *r = &r[n..];
                        if matches!(f.kind(), FieldKind::Int(_)) {
                            // Sign-extend.
                            let shift = 64 - u32::from(bits);
                            Value::Int((i64::from_le_bytes(b) << shift) >> shift)
                        } else {
                            Value::UInt(u64::from_le_bytes(b))
                        }
                    }
                    FieldKind::Bool => match take::<1>(r).ok_or_else(|| err("short"))?[0] {
                        1 => continue,
                        _ => Value::Bool(take::<1>(r).ok_or_else(|| err("short"))?[0] != 0),
                    },
                    FieldKind::Mac => match take::<1>(r).ok_or_else(|| err("short"))?[0] {
                        1 => continue,
                        _ => Value::Mac(netobserv_flow::MacAddr::from_u64(u64::from_le_bytes(
                            take(r).ok_or_else(|| err("short"))?,
                        ))),
                    },
                    FieldKind::TcpFlags => match take::<1>(r).ok_or_else(|| err("short"))?[0] {
                        1 => continue,
                        _ => Value::UInt(u64::from(u16::from_le_bytes(
                            take(r).ok_or_else(|| err("short"))?,
                        ))),
                    },
                    FieldKind::Ip => {
                        if take::<1>(r).ok_or_else(|| err("short"))?[0] == 1 {
                            continue;
                        }
                        let ip = match self.flavor {
                            Flavor::Modern => {
                                let v6 = std::net::Ipv6Addr::from(
                                    take::<16>(r).ok_or_else(|| err("short"))?,
                                );
                                v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4)
                            }
                            Flavor::Legacy => get_str(r)
                                .ok_or_else(|| err("short"))?
                                .parse()
                                .map_err(|_| err("not an IP address"))?,
                        };
                        Value::Ip(ip)
                    }
                    FieldKind::Str => {
                        let s = get_str(r).ok_or_else(|| err("short or not UTF-8"))?;
                        if s.is_empty() {
                            continue;
                        }
                        Value::str(s)
                    }
                    FieldKind::StrList | FieldKind::U8List => {
                        let n = get_varint(r).ok_or_else(|| err("short"))?;
                        let mut items = Vec::new();
                        for _ in 0..n {
                            items.push(if f.kind() == FieldKind::U8List {
                                Value::UInt(u64::from(take::<1>(r).ok_or_else(|| err("short"))?[0]))
                            } else {
                                Value::str(get_str(r).ok_or_else(|| err("short or not UTF-8"))?)
                            });
                        }
                        if items.is_empty() {
                            continue;
                        }
                        Value::List(items)
                    }
                    FieldKind::NetworkEvents => {
                        let n = get_varint(r).ok_or_else(|| err("short"))?;
                        let mut events = Vec::new();
                        for _ in 0..n {
                            let m = get_varint(r).ok_or_else(|| err("short"))?;
                            let mut pairs = Vec::new();
                            for _ in 0..m {
                                let k = get_str(r).ok_or_else(|| err("short or not UTF-8"))?;
                                let v = get_str(r).ok_or_else(|| err("short or not UTF-8"))?;
                                pairs.push((k.into(), Value::str(v)));
                            }
                            events.push(Value::Map(pairs));
                        }
                        if events.is_empty() {
                            continue;
                        }
                        Value::List(events)
                    }
                };
                flow.set_field(f, &v)
                    .map_err(|_| err("value of another type"))?;
            }
            flows.push(flow);
        }
        Ok(flows)
    }
}

fn take<const N: usize>(r: &mut &[u8]) -> Option<[u8; N]> {
    let (head, rest) = r.split_first_chunk::<N>()?;
    *r = rest;
    Some(*head)
}

fn get_varint(r: &mut &[u8]) -> Option<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let b = take::<1>(r)?[0];
        v |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Some(v);
        }
    }
    None
}

fn get_str<'a>(r: &mut &'a [u8]) -> Option<&'a str> {
    let n = usize::try_from(get_varint(r)?).ok()?;
    let bytes = r.get(..n)?;
    *r = &r[n..];
    std::str::from_utf8(bytes).ok()
}

fn bad(f: FieldId, v: FieldRef<'_>) -> RowError {
    RowError::Value {
        field: f.name(),
        value: v.with_text(str::to_string),
    }
}

fn bad_value(f: FieldId, v: &Value) -> RowError {
    RowError::Value {
        field: f.name(),
        value: v.to_string(),
    }
}

fn put_events(out: &mut Vec<u8>, events: &[NetworkEvent]) {
    // Array(Map(String, String)) and Array(Array(Tuple(String, String))) are the same bytes.
    put_varint(out, events.len() as u64);
    for e in events {
        put_varint(out, e.0.len() as u64);
        for (k, v) in &e.0 {
            put_str(out, k);
            put_str(out, v);
        }
    }
}

#[inline]
fn put_str(out: &mut Vec<u8>, s: &str) {
    put_varint(out, s.len() as u64);
    out.extend_from_slice(s.as_bytes());
}

#[inline]
fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varint_is_leb128() {
        let mut out = Vec::new();
        put_varint(&mut out, 0);
        put_varint(&mut out, 127);
        put_varint(&mut out, 300);
        assert_eq!(out, [0, 127, 0xac, 0x02]);
    }

    #[test]
    fn a_row_is_rejected_whole_and_leaves_the_buffer_as_it_was() {
        let enc = RowEncoder::new(Flavor::Legacy, vec![FieldId::Bytes, TIME_COLUMN]);
        let mut out = vec![9];
        let flow = Flow::default().with_bytes(5);
        assert_eq!(enc.encode(&flow, &mut out), Err(RowError::MissingTime));
        assert_eq!(out, [9]);
        let late = flow.clone().with_time_flow_end_ms(MAX_TIME_MS + 1);
        assert_eq!(
            enc.encode(&late, &mut out),
            Err(RowError::TimeOutOfRange(MAX_TIME_MS + 1))
        );
        let ok = flow.with_time_flow_end_ms(1_000);
        enc.encode(&ok, &mut out).unwrap();
        let mut want = vec![9, 0];
        want.extend_from_slice(&5u64.to_le_bytes());
        want.extend_from_slice(&1000i64.to_le_bytes());
        assert_eq!(out, want);
    }

    #[test]
    fn ips_are_text_on_legacy_and_mapped_ipv6_on_modern() {
        let flow = Flow::default().with_src_addr("10.1.2.3".parse().unwrap());
        let mut legacy = Vec::new();
        RowEncoder::new(Flavor::Legacy, vec![FieldId::SrcAddr])
            .encode(&flow, &mut legacy)
            .unwrap();
        assert_eq!(legacy, b"\x00\x0810.1.2.3");
        let mut modern = Vec::new();
        RowEncoder::new(Flavor::Modern, vec![FieldId::SrcAddr])
            .encode(&flow, &mut modern)
            .unwrap();
        assert_eq!(modern[0], 0);
        assert_eq!(
            &modern[1..],
            &"::ffff:10.1.2.3"
                .parse::<std::net::Ipv6Addr>()
                .unwrap()
                .octets()
        );
    }
}
