//! The flow record: one typed struct for every field of NetObserv's JSON flow format.
//!
//! Every catalogue field is an `Option`: `None` means the key is absent from the JSON form, which
//! is how upstream tells "not measured" from zero. Fields created at run time by configs
//! (`add_field`, renamed keys, labels) live in [`Flow::extra`], a map sorted by key. The field
//! table below is the single source of the catalogue: names, typed storage, JSON codec, name
//! lookup and Arrow columns are all generated from it.

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;
use std::sync::Arc;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

use crate::codec::json::{write_json_str, write_json_value};
use crate::value::Value;

/// A 48-bit Ethernet address, written `0a:58:0a:80:00:01`: lower-case hex, colon-separated, as
/// Go's `net.HardwareAddr` prints it (the agent's `model.MacAddr` and flowlogs-pipeline's IPFIX
/// ingest both use it). Parsing accepts either case and `-` separators.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub struct MacAddr(pub [u8; 6]);

impl MacAddr {
    /// The address from the low 48 bits of a `u64` (pbflow's encoding: `11:22:..` is `0x1122..`).
    pub fn from_u64(v: u64) -> Self {
        let b = v.to_be_bytes();
        MacAddr([b[2], b[3], b[4], b[5], b[6], b[7]])
    }

    /// The address as the low 48 bits of a `u64`.
    pub fn to_u64(self) -> u64 {
        let m = self.0;
        u64::from_be_bytes([0, 0, m[0], m[1], m[2], m[3], m[4], m[5]])
    }

    /// The text form, `0a:58:0a:80:00:01`; every writer (JSON, Arrow, `Display`) goes through it.
    pub(crate) fn to_text(self) -> [u8; 17] {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut out = [b':'; 17];
        for (k, b) in self.0.iter().enumerate() {
            out[3 * k] = HEX[(b >> 4) as usize];
            out[3 * k + 1] = HEX[(b & 0xf) as usize];
        }
        out
    }
}

impl fmt::Display for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = self.to_text();
        // Always ASCII: hex digits and colons.
        f.write_str(std::str::from_utf8(&text).map_err(|_| fmt::Error)?)
    }
}

impl fmt::Debug for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl FromStr for MacAddr {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        // Fast path for the colon-separated form, in either case.
        let b = s.as_bytes();
        if b.len() == 17 && (2..17).step_by(3).all(|i| b[i] == b':') {
            let hex = |c: u8| match c {
                b'0'..=b'9' => Some(c - b'0'),
                b'a'..=b'f' => Some(c - b'a' + 10),
                b'A'..=b'F' => Some(c - b'A' + 10),
                _ => None,
            };
            let mut out = [0u8; 6];
            let mut ok = true;
            for (k, byte) in out.iter_mut().enumerate() {
                match (hex(b[3 * k]), hex(b[3 * k + 1])) {
                    (Some(h), Some(l)) => *byte = h << 4 | l,
                    _ => ok = false,
                }
            }
            if ok {
                return Ok(MacAddr(out));
            }
        }
        let mut out = [0u8; 6];
        let mut parts = s.split([':', '-']);
        for byte in &mut out {
            let p = parts
                .next()
                .ok_or_else(|| format!("invalid MAC address {s:?}"))?;
            if p.len() != 2 {
                return Err(format!("invalid MAC address {s:?}"));
            }
            *byte = u8::from_str_radix(p, 16).map_err(|_| format!("invalid MAC address {s:?}"))?;
        }
        if parts.next().is_some() {
            return Err(format!("invalid MAC address {s:?}"));
        }
        Ok(MacAddr(out))
    }
}

/// TCP flags as the agent reports them: RFC 9293 bits plus NetObserv's per-packet combinations
/// SYN+ACK (0x100), FIN+ACK (0x200) and RST+ACK (0x400).
///
/// `decoded` records whether the JSON form is the number (agent output) or the list of names
/// (after FLP's `decode_tcp_flags` network rule); both forms carry the same bits.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct TcpFlags {
    /// The flag bits.
    pub bits: u16,
    /// Whether the flags are written as a list of names.
    pub decoded: bool,
}

/// Flag names in upstream's order, which is the order of the decoded list.
pub const TCP_FLAG_NAMES: [(u16, &str); 11] = [
    (0x1, "FIN"),
    (0x2, "SYN"),
    (0x4, "RST"),
    (0x8, "PSH"),
    (0x10, "ACK"),
    (0x20, "URG"),
    (0x40, "ECE"),
    (0x80, "CWR"),
    (0x100, "SYN_ACK"),
    (0x200, "FIN_ACK"),
    (0x400, "RST_ACK"),
];

impl TcpFlags {
    /// Raw flags, written as a number.
    pub fn raw(bits: u16) -> Self {
        TcpFlags {
            bits,
            decoded: false,
        }
    }

    /// The names of the set bits, in upstream's order.
    pub fn names(self) -> impl Iterator<Item = &'static str> {
        TCP_FLAG_NAMES
            .iter()
            .filter(move |(bit, _)| self.bits & bit != 0)
            .map(|(_, name)| *name)
    }

    /// The bit for a flag name.
    pub fn bit_of(name: &str) -> Option<u16> {
        TCP_FLAG_NAMES
            .iter()
            .find(|(_, n)| *n == name)
            .map(|(bit, _)| *bit)
    }
}

/// One network event (OVN ACL decision and the like): string keys to string values, sorted by key.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct NetworkEvent(pub Vec<(Arc<str>, Arc<str>)>);

impl NetworkEvent {
    /// Builds an event from key/value pairs; keys end up sorted, as upstream's JSON writes them.
    pub fn from_pairs(pairs: impl IntoIterator<Item = (Arc<str>, Arc<str>)>) -> Self {
        let mut v: Vec<_> = pairs.into_iter().collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        NetworkEvent(v)
    }

    /// The value of a key.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| &**k == key).map(|(_, v)| &**v)
    }
}

/// What a typed field stores, for generic code (Arrow columns, filters, docs).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum FieldKind {
    /// Unsigned integer of the given bit width.
    UInt(u8),
    /// Signed integer of the given bit width.
    Int(u8),
    /// Boolean.
    Bool,
    /// IP address.
    Ip,
    /// MAC address.
    Mac,
    /// String.
    Str,
    /// List of strings.
    StrList,
    /// List of small unsigned integers.
    U8List,
    /// TCP flags.
    TcpFlags,
    /// List of network events.
    NetworkEvents,
}

/// A value type a catalogue field can hold. Implemented for the handful of storage types the
/// catalogue uses; each knows its JSON form and its conversions from [`Value`].
pub trait Scalar: Sized + Clone + PartialEq + fmt::Debug {
    /// The kind of this storage type.
    const KIND: FieldKind;
    /// Converts to a dynamic value.
    fn to_value(&self) -> Value;
    /// Converts from a dynamic value, if it has a compatible type.
    fn from_value(v: &Value) -> Option<Self>;
    /// Writes the JSON form.
    fn write_json(&self, out: &mut Vec<u8>);
    /// Reads the JSON form.
    fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Self, D::Error>;
    /// A cheap borrowed view, for comparisons on hot paths.
    fn field_ref(&self) -> FieldRef<'_> {
        FieldRef::Other(self.to_value())
    }
    /// Converts a value of the JSON fast path; `None` sends the line to the full decoder (which
    /// then decides, and words the error).
    fn from_fast(_v: &crate::codec::json::FastValue<'_>) -> Option<Self> {
        None
    }
}

/// A borrowed view of a field value: numbers and strings without allocation, other kinds as a
/// [`Value`].
#[derive(Debug, Clone, PartialEq)]
pub enum FieldRef<'a> {
    /// An unsigned integer.
    UInt(u64),
    /// A signed integer.
    Int(i64),
    /// A string.
    Str(&'a str),
    /// An IP address.
    Ip(IpAddr),
    /// Anything else.
    Other(Value),
}

impl FieldRef<'_> {
    /// The value as a float, when numeric (or a string holding a number).
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            FieldRef::UInt(v) => Some(*v as f64),
            FieldRef::Int(v) => Some(*v as f64),
            FieldRef::Str(s) => s.trim().parse().ok(),
            FieldRef::Ip(_) => None,
            FieldRef::Other(v) => v.as_f64(),
        }
    }

    /// Calls `f` with the text form (Go's `fmt.Sprint`), allocating only for non-string kinds.
    pub fn with_text<R>(&self, f: impl FnOnce(&str) -> R) -> R {
        match self {
            FieldRef::Str(s) => f(s),
            FieldRef::UInt(v) => f(itoa::Buffer::new().format(*v)),
            FieldRef::Int(v) => f(itoa::Buffer::new().format(*v)),
            FieldRef::Ip(ip) => f(&ip.to_string()),
            FieldRef::Other(v) => f(&v.to_string()),
        }
    }
}

struct ScalarSeed<T>(std::marker::PhantomData<T>);

impl<'de, T: Scalar> DeserializeSeed<'de> for ScalarSeed<T> {
    type Value = T;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<T, D::Error> {
        T::deserialize(d)
    }
}

struct IntVisitor<T>(&'static str, std::marker::PhantomData<T>);

macro_rules! int_visitor_methods {
    ($t:ty) => {
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            write!(f, "{}", self.0)
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<$t, E> {
            <$t>::try_from(v)
                .map_err(|_| E::custom(format_args!("{v} is out of range for {}", self.0)))
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<$t, E> {
            <$t>::try_from(v)
                .map_err(|_| E::custom(format_args!("{v} is out of range for {}", self.0)))
        }
        fn visit_f64<E: de::Error>(self, v: f64) -> Result<$t, E> {
            if v.fract() == 0.0 && v >= <$t>::MIN as f64 && v <= <$t>::MAX as f64 {
                Ok(v as $t)
            } else {
                Err(E::custom(format_args!("{v} is not a valid {}", self.0)))
            }
        }
    };
}

macro_rules! int_scalar {
    ($($t:ty => $kind:expr, $desc:literal;)*) => {$(
        impl<'de> Visitor<'de> for IntVisitor<$t> {
            type Value = $t;
            int_visitor_methods!($t);
        }
        impl Scalar for $t {
            const KIND: FieldKind = $kind;
            fn to_value(&self) -> Value {
                #[allow(clippy::unnecessary_fallible_conversions, irrefutable_let_patterns)]
                if let Ok(u) = u64::try_from(*self) { Value::UInt(u) } else { Value::Int(*self as i64) }
            }
            fn from_fast(v: &crate::codec::json::FastValue<'_>) -> Option<Self> {
                match v {
                    crate::codec::json::FastValue::UInt(u) => <$t>::try_from(*u).ok(),
                    crate::codec::json::FastValue::Int(i) => <$t>::try_from(*i).ok(),
                    _ => None,
                }
            }
            fn field_ref(&self) -> FieldRef<'_> {
                #[allow(clippy::unnecessary_fallible_conversions, irrefutable_let_patterns)]
                if let Ok(u) = u64::try_from(*self) { FieldRef::UInt(u) } else { FieldRef::Int(*self as i64) }
            }
            fn from_value(v: &Value) -> Option<Self> {
                match v {
                    Value::Int(_) | Value::UInt(_) | Value::Float(_) | Value::Str(_) => {
                        if let Some(u) = v.as_u64() { <$t>::try_from(u).ok() }
                        else { v.as_i64().and_then(|i| <$t>::try_from(i).ok()) }
                    }
                    Value::Bool(b) => Some(<$t>::from(*b)),
                    _ => None,
                }
            }
            fn write_json(&self, out: &mut Vec<u8>) {
                out.extend_from_slice(itoa::Buffer::new().format(*self).as_bytes());
            }
            fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                d.deserialize_any(IntVisitor::<$t>($desc, std::marker::PhantomData))
            }
        }
    )*};
}

int_scalar! {
    u8 => FieldKind::UInt(8), "an integer from 0 to 255";
    u16 => FieldKind::UInt(16), "an integer from 0 to 65535";
    u32 => FieldKind::UInt(32), "a 32-bit unsigned integer";
    u64 => FieldKind::UInt(64), "a 64-bit unsigned integer";
    i32 => FieldKind::Int(32), "a 32-bit integer";
    i64 => FieldKind::Int(64), "a 64-bit integer";
}

impl Scalar for bool {
    const KIND: FieldKind = FieldKind::Bool;
    fn to_value(&self) -> Value {
        Value::Bool(*self)
    }
    fn from_value(v: &Value) -> Option<Self> {
        match v {
            Value::Bool(b) => Some(*b),
            Value::Str(s) => s.parse().ok(),
            _ => None,
        }
    }
    fn write_json(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(if *self { b"true" } else { b"false" });
    }
    fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        <bool as serde::Deserialize>::deserialize(d)
    }
    fn from_fast(v: &crate::codec::json::FastValue<'_>) -> Option<Self> {
        match v {
            crate::codec::json::FastValue::Bool(b) => Some(*b),
            _ => None,
        }
    }
}

/// Visits a string, borrowed or not, and parses it.
struct ParseVisitor<T>(&'static str, std::marker::PhantomData<T>);

impl<'de, T: FromStr> Visitor<'de> for ParseVisitor<T> {
    type Value = T;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "{}", self.0)
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<T, E> {
        v.parse()
            .map_err(|_| E::custom(format_args!("{v:?} is not {}", self.0)))
    }
}

/// Writes an address in its text form; IPv4 without going through `fmt` (hot in JSON encoding).
pub(crate) fn write_ip(out: &mut Vec<u8>, ip: IpAddr) {
    match ip {
        IpAddr::V4(v4) => {
            let mut buf = itoa::Buffer::new();
            for (i, o) in v4.octets().iter().enumerate() {
                if i > 0 {
                    out.push(b'.');
                }
                out.extend_from_slice(buf.format(*o).as_bytes());
            }
        }
        IpAddr::V6(v6) => {
            use std::io::Write;
            let _ = write!(out, "{v6}");
        }
    }
}

impl Scalar for IpAddr {
    const KIND: FieldKind = FieldKind::Ip;
    fn to_value(&self) -> Value {
        Value::Ip(*self)
    }
    fn from_value(v: &Value) -> Option<Self> {
        match v {
            Value::Ip(ip) => Some(*ip),
            Value::Str(s) => s.parse().ok(),
            _ => None,
        }
    }
    fn write_json(&self, out: &mut Vec<u8>) {
        out.push(b'"');
        write_ip(out, *self);
        out.push(b'"');
    }
    fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_str(ParseVisitor::<IpAddr>(
            "an IP address",
            std::marker::PhantomData,
        ))
    }
    fn field_ref(&self) -> FieldRef<'_> {
        FieldRef::Ip(*self)
    }
    fn from_fast(v: &crate::codec::json::FastValue<'_>) -> Option<Self> {
        match v {
            crate::codec::json::FastValue::Str(s) => parse_ipv4_fast(s)
                .map(IpAddr::V4)
                .or_else(|| s.parse().ok()),
            _ => None,
        }
    }
}

/// Dotted-quad IPv4 without the general parser (the common case in flows); `None` for anything
/// else, which the caller hands to `IpAddr::from_str`.
#[inline]
fn parse_ipv4_fast(s: &str) -> Option<std::net::Ipv4Addr> {
    let b = s.as_bytes();
    if b.len() < 7 || b.len() > 15 {
        return None;
    }
    let mut octets = [0u8; 4];
    let mut n = 0;
    let mut cur: u16 = 0;
    let mut digits = 0;
    for &c in b {
        match c {
            b'0'..=b'9' => {
                // No leading zeros, as Rust's parser.
                if digits == 1 && cur == 0 {
                    return None;
                }
                cur = cur * 10 + u16::from(c - b'0');
                digits += 1;
                if cur > 255 {
                    return None;
                }
            }
            b'.' if digits > 0 && n < 3 => {
                octets[n] = cur as u8;
                n += 1;
                cur = 0;
                digits = 0;
            }
            _ => return None,
        }
    }
    if n != 3 || digits == 0 {
        return None;
    }
    octets[3] = cur as u8;
    Some(std::net::Ipv4Addr::from(octets))
}

impl Scalar for MacAddr {
    const KIND: FieldKind = FieldKind::Mac;
    fn to_value(&self) -> Value {
        Value::Mac(*self)
    }
    fn from_value(v: &Value) -> Option<Self> {
        match v {
            Value::Mac(m) => Some(*m),
            Value::Str(s) => s.parse().ok(),
            _ => None,
        }
    }
    fn write_json(&self, out: &mut Vec<u8>) {
        out.push(b'"');
        out.extend_from_slice(&self.to_text());
        out.push(b'"');
    }
    fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_str(ParseVisitor::<MacAddr>(
            "a MAC address",
            std::marker::PhantomData,
        ))
    }
    fn from_fast(v: &crate::codec::json::FastValue<'_>) -> Option<Self> {
        match v {
            crate::codec::json::FastValue::Str(s) => s.parse().ok(),
            _ => None,
        }
    }
}

/// Shares one allocation per distinct short string among the flows decoded on a thread: flow
/// strings (namespaces, pod and node names, interfaces) repeat across flows, so this saves an
/// allocation per string per flow and most of their memory. The table is bounded: it is
/// cleared when it reaches [`INTERN_MAX`] entries.
pub fn intern(v: &str) -> Arc<str> {
    use std::cell::RefCell;
    use std::collections::HashSet;
    thread_local! {
        static TABLE: RefCell<HashSet<Arc<str>, foldhash::fast::FixedState>> =
            RefCell::new(HashSet::with_hasher(foldhash::fast::FixedState::default()));
    }
    if v.len() > 96 {
        return Arc::from(v);
    }
    TABLE.with(|t| {
        let mut t = t.borrow_mut();
        if let Some(a) = t.get(v) {
            return a.clone();
        }
        if t.len() >= INTERN_MAX {
            t.clear();
        }
        let a: Arc<str> = Arc::from(v);
        t.insert(a.clone());
        a
    })
}

/// Bound of the per-thread string table of [`intern`].
pub const INTERN_MAX: usize = 65_536;

struct ArcStrVisitor;

impl Visitor<'_> for ArcStrVisitor {
    type Value = Arc<str>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Arc<str>, E> {
        Ok(intern(v))
    }
}

impl Scalar for Arc<str> {
    const KIND: FieldKind = FieldKind::Str;
    fn to_value(&self) -> Value {
        Value::Str(self.clone())
    }
    fn from_value(v: &Value) -> Option<Self> {
        match v {
            Value::Str(s) => Some(s.clone()),
            Value::Null | Value::List(_) | Value::Map(_) => None,
            other => Some(Arc::from(other.to_string())),
        }
    }
    fn write_json(&self, out: &mut Vec<u8>) {
        write_json_str(out, self);
    }
    fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_str(ArcStrVisitor)
    }
    fn field_ref(&self) -> FieldRef<'_> {
        FieldRef::Str(self)
    }
    fn from_fast(v: &crate::codec::json::FastValue<'_>) -> Option<Self> {
        match v {
            crate::codec::json::FastValue::Str(s) => Some(intern(s)),
            _ => None,
        }
    }
}

struct StrListVisitor;

impl<'de> Visitor<'de> for StrListVisitor {
    type Value = Vec<Arc<str>>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a list of strings")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(2));
        while let Some(s) =
            seq.next_element_seed(ScalarSeed::<Arc<str>>(std::marker::PhantomData))?
        {
            out.push(s);
        }
        Ok(out)
    }
}

impl Scalar for Vec<Arc<str>> {
    const KIND: FieldKind = FieldKind::StrList;
    fn to_value(&self) -> Value {
        Value::List(self.iter().map(|s| Value::Str(s.clone())).collect())
    }
    fn from_value(v: &Value) -> Option<Self> {
        match v {
            Value::List(items) => items.iter().map(<Arc<str>>::from_value).collect(),
            Value::Str(s) => Some(vec![s.clone()]),
            _ => None,
        }
    }
    fn write_json(&self, out: &mut Vec<u8>) {
        out.push(b'[');
        for (i, s) in self.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            write_json_str(out, s);
        }
        out.push(b']');
    }
    fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_seq(StrListVisitor)
    }
    fn from_fast(v: &crate::codec::json::FastValue<'_>) -> Option<Self> {
        match v {
            crate::codec::json::FastValue::List(items) => items
                .iter()
                .map(|i| match i {
                    crate::codec::json::FastItem::Str(s) => Some(intern(s)),
                    _ => None,
                })
                .collect(),
            _ => None,
        }
    }
}

struct U8ListVisitor;

impl<'de> Visitor<'de> for U8ListVisitor {
    type Value = Vec<u8>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a list of small integers")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(2));
        while let Some(v) = seq.next_element_seed(ScalarSeed::<u8>(std::marker::PhantomData))? {
            out.push(v);
        }
        Ok(out)
    }
}

impl Scalar for Vec<u8> {
    const KIND: FieldKind = FieldKind::U8List;
    fn to_value(&self) -> Value {
        Value::List(self.iter().map(|v| Value::UInt(u64::from(*v))).collect())
    }
    fn from_value(v: &Value) -> Option<Self> {
        match v {
            Value::List(items) => items.iter().map(u8::from_value).collect(),
            other => u8::from_value(other).map(|v| vec![v]),
        }
    }
    fn write_json(&self, out: &mut Vec<u8>) {
        out.push(b'[');
        for (i, v) in self.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            v.write_json(out);
        }
        out.push(b']');
    }
    fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_seq(U8ListVisitor)
    }
    fn from_fast(v: &crate::codec::json::FastValue<'_>) -> Option<Self> {
        match v {
            crate::codec::json::FastValue::List(items) => items
                .iter()
                .map(|i| match i {
                    crate::codec::json::FastItem::UInt(u) => u8::try_from(*u).ok(),
                    _ => None,
                })
                .collect(),
            _ => None,
        }
    }
}

struct FlagsVisitor;

impl<'de> Visitor<'de> for FlagsVisitor {
    type Value = TcpFlags;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("TCP flags as a number or a list of flag names")
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<TcpFlags, E> {
        u16::try_from(v)
            .map(TcpFlags::raw)
            .map_err(|_| E::custom(format_args!("TCP flags {v} out of range")))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<TcpFlags, E> {
        u16::try_from(v)
            .map(TcpFlags::raw)
            .map_err(|_| E::custom(format_args!("TCP flags {v} out of range")))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<TcpFlags, E> {
        if v.fract() == 0.0 && (0.0..=65535.0).contains(&v) {
            Ok(TcpFlags::raw(v as u16))
        } else {
            Err(E::custom(format_args!("TCP flags {v} out of range")))
        }
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<TcpFlags, A::Error> {
        let mut bits = 0u16;
        while let Some(name) =
            seq.next_element_seed(ScalarSeed::<Arc<str>>(std::marker::PhantomData))?
        {
            bits |= TcpFlags::bit_of(&name)
                .ok_or_else(|| de::Error::custom(format_args!("unknown TCP flag name {name:?}")))?;
        }
        Ok(TcpFlags {
            bits,
            decoded: true,
        })
    }
}

impl Scalar for TcpFlags {
    const KIND: FieldKind = FieldKind::TcpFlags;
    fn to_value(&self) -> Value {
        if self.decoded {
            Value::List(self.names().map(Value::str).collect())
        } else {
            Value::UInt(u64::from(self.bits))
        }
    }
    fn from_value(v: &Value) -> Option<Self> {
        match v {
            Value::List(items) => {
                let mut bits = 0;
                for item in items {
                    bits |= TcpFlags::bit_of(&item.to_string())?;
                }
                Some(TcpFlags {
                    bits,
                    decoded: true,
                })
            }
            other => u16::from_value(other).map(TcpFlags::raw),
        }
    }
    fn write_json(&self, out: &mut Vec<u8>) {
        if self.decoded {
            out.push(b'[');
            for (i, name) in self.names().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_json_str(out, name);
            }
            out.push(b']');
        } else {
            self.bits.write_json(out);
        }
    }
    fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(FlagsVisitor)
    }
    fn from_fast(v: &crate::codec::json::FastValue<'_>) -> Option<Self> {
        use crate::codec::json::{FastItem, FastValue};
        match v {
            FastValue::UInt(u) => u16::try_from(*u).ok().map(TcpFlags::raw),
            FastValue::List(items) => {
                let mut bits = 0;
                for i in items.iter() {
                    let FastItem::Str(name) = i else { return None };
                    bits |= TcpFlags::bit_of(name)?;
                }
                Some(TcpFlags {
                    bits,
                    decoded: true,
                })
            }
            _ => None,
        }
    }
}

struct EventsVisitor;

impl<'de> Visitor<'de> for EventsVisitor {
    type Value = Vec<NetworkEvent>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a list of objects with string values")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut out = Vec::new();
        while let Some(map) = seq.next_element::<BTreeMap<String, String>>()? {
            out.push(NetworkEvent(
                map.into_iter()
                    .map(|(k, v)| (Arc::from(k), Arc::from(v)))
                    .collect(),
            ));
        }
        Ok(out)
    }
}

impl Scalar for Vec<NetworkEvent> {
    const KIND: FieldKind = FieldKind::NetworkEvents;
    fn to_value(&self) -> Value {
        Value::List(
            self.iter()
                .map(|e| {
                    Value::Map(
                        e.0.iter()
                            .map(|(k, v)| (k.clone(), Value::Str(v.clone())))
                            .collect(),
                    )
                })
                .collect(),
        )
    }
    fn from_value(v: &Value) -> Option<Self> {
        let Value::List(items) = v else { return None };
        items
            .iter()
            .map(|item| match item {
                Value::Map(kv) => Some(NetworkEvent::from_pairs(
                    kv.iter()
                        .map(|(k, v)| (k.clone(), Arc::from(v.to_string()))),
                )),
                _ => None,
            })
            .collect()
    }
    fn write_json(&self, out: &mut Vec<u8>) {
        out.push(b'[');
        for (i, e) in self.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.push(b'{');
            for (j, (k, v)) in e.0.iter().enumerate() {
                if j > 0 {
                    out.push(b',');
                }
                write_json_str(out, k);
                out.push(b':');
                write_json_str(out, v);
            }
            out.push(b'}');
        }
        out.push(b']');
    }
    fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_seq(EventsVisitor)
    }
}

/// A value that a field could not take: the wrong type for a typed field.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("field {field}: cannot store {value} (expected {expected:?})")]
pub struct FieldTypeError {
    /// The field name.
    pub field: &'static str,
    /// The rejected value, as text.
    pub value: String,
    /// What the field stores.
    pub expected: FieldKind,
}

macro_rules! flow_catalogue {
    ($( $(#[doc = $doc:literal])* $ident:ident : $ty:ty => $name:literal, $variant:ident, $dict:literal; )*) => {
        /// One network flow, in NetObserv's field catalogue. See the module docs.
        #[derive(Clone, PartialEq, Debug, Default)]
        pub struct Flow {
            $( $(#[doc = $doc])* #[doc = concat!("\n\nJSON: `", $name, "`.")] pub $ident: Option<$ty>, )*
            /// Fields created at run time by configs, sorted by name.
            pub extra: BTreeMap<Arc<str>, Value>,
        }

        /// A catalogue field, resolved from its JSON name.
        #[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
        #[allow(missing_docs)]
        pub enum FieldId { $( $variant, )* }

        impl FieldId {
            /// Every catalogue field, in declaration order.
            pub const ALL: &'static [FieldId] = &[$(FieldId::$variant,)*];

            /// The JSON name.
            pub fn name(self) -> &'static str {
                match self { $(FieldId::$variant => $name,)* }
            }

            /// The field for a JSON name.
            pub fn from_name(name: &str) -> Option<FieldId> {
                match name { $($name => Some(FieldId::$variant),)* _ => None }
            }

            /// What the field stores.
            pub fn kind(self) -> FieldKind {
                match self { $(FieldId::$variant => <$ty as Scalar>::KIND,)* }
            }

            /// Whether the column is dictionary-encoded in Arrow (low-cardinality strings).
            pub fn dictionary(self) -> bool {
                match self { $(FieldId::$variant => $dict,)* }
            }
        }

        impl Flow {
            /// The value of a catalogue field.
            pub fn get_field(&self, id: FieldId) -> Option<Value> {
                match id { $(FieldId::$variant => self.$ident.as_ref().map(Scalar::to_value),)* }
            }

            /// A borrowed view of a catalogue field.
            pub fn field_ref(&self, id: FieldId) -> Option<FieldRef<'_>> {
                match id { $(FieldId::$variant => self.$ident.as_ref().map(Scalar::field_ref),)* }
            }

            /// Whether a catalogue field is present.
            pub fn has_field(&self, id: FieldId) -> bool {
                match id { $(FieldId::$variant => self.$ident.is_some(),)* }
            }

            /// Removes a catalogue field.
            pub fn clear_field(&mut self, id: FieldId) {
                match id { $(FieldId::$variant => self.$ident = None,)* }
            }

            /// Sets a catalogue field from a dynamic value, converting when the types are compatible.
            pub fn set_field(&mut self, id: FieldId, value: &Value) -> Result<(), FieldTypeError> {
                match id {
                    $(FieldId::$variant => {
                        if matches!(value, Value::Null) { self.$ident = None; return Ok(()); }
                        self.$ident = Some(<$ty as Scalar>::from_value(value).ok_or_else(|| FieldTypeError {
                            field: $name, value: value.to_string(), expected: <$ty as Scalar>::KIND,
                        })?);
                    })*
                }
                Ok(())
            }

            /// Moves a catalogue field's value out, leaving it absent.
            pub fn take_field(&mut self, id: FieldId) -> Option<Value> {
                match id { $(FieldId::$variant => self.$ident.take().map(|v| Scalar::to_value(&v)),)* }
            }

            /// Sets a catalogue field from a value of the JSON fast path; `false` if it does not fit.
            pub(crate) fn set_field_fast(&mut self, id: FieldId, v: &crate::codec::json::FastValue<'_>) -> bool {
                if matches!(v, crate::codec::json::FastValue::Null) {
                    self.clear_field(id);
                    return true;
                }
                match id {
                    $(FieldId::$variant => match <$ty as Scalar>::from_fast(v) {
                        Some(x) => { self.$ident = Some(x); true }
                        None => false,
                    },)*
                }
            }

            /// Writes the JSON object: catalogue fields in declaration order (which is sorted by
            /// name) merged with the sorted run-time fields.
            pub(crate) fn write_json_object(&self, out: &mut Vec<u8>) {
                out.push(b'{');
                let mut first = true;
                let has_extra = !self.extra.is_empty();
                let mut extras = self.extra.iter().peekable();
                $(
                    if has_extra {
                        while let Some((k, v)) = extras.next_if(|(k, _)| k.as_bytes() < $name.as_bytes()) {
                            if !first { out.push(b','); }
                            first = false;
                            Flow::write_extra_json(out, k, v);
                        }
                    }
                    if let Some(v) = &self.$ident {
                        if !first { out.push(b','); }
                        first = false;
                        out.extend_from_slice(concat!("\"", $name, "\":").as_bytes());
                        Scalar::write_json(v, out);
                    }
                )*
                for (k, v) in extras {
                    if !first { out.push(b','); }
                    first = false;
                    Flow::write_extra_json(out, k, v);
                }
                out.push(b'}');
            }

            /// Reads a catalogue field's value from a JSON map.
            pub(crate) fn read_field_json<'de, A: MapAccess<'de>>(&mut self, id: FieldId, map: &mut A) -> Result<(), A::Error> {
                match id {
                    $(FieldId::$variant => {
                        self.$ident = map.next_value::<Option<JsonSlot<$ty>>>()?.map(|s| s.0);
                    })*
                }
                Ok(())
            }
        }

        #[cfg(feature = "arrow")]
        pub(crate) mod arrow_columns {
            use super::*;
            use crate::codec::arrow::ArrowScalar;
            use arrow_array::ArrayRef;

            pub(crate) fn build(flows: &[Flow]) -> Vec<ArrayRef> {
                vec![$(<$ty as ArrowScalar>::build(flows.iter().map(|f| f.$ident.as_ref()), $dict),)*]
            }

            pub(crate) fn read(
                columns: &[Option<&ArrayRef>],
                flows: &mut [Flow],
            ) -> Result<(), crate::Error> {
                let mut i = 0usize;
                $(
                    if let Some(col) = columns[i] {
                        <$ty as ArrowScalar>::read(col, $name, flows, |f| &mut f.$ident)?;
                    }
                    i += 1;
                )*
                let _ = i;
                Ok(())
            }
        }
    };
}

/// Deserializes a catalogue field's value through its [`Scalar`] impl.
struct JsonSlot<T>(T);

impl<'de, T: Scalar> serde::Deserialize<'de> for JsonSlot<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        T::deserialize(d).map(JsonSlot)
    }
}

flow_catalogue! {
    // Sorted by JSON name, bytewise (Go's map key order): the JSON writer relies on it.
    /// IP of the agent that observed the flow.
    agent_ip: IpAddr => "AgentIP", AgentIp, false;
    /// Number of bytes.
    bytes: u64 => "Bytes", Bytes, false;
    /// Bytes from A to B.
    bytes_ab: u64 => "Bytes_AB", BytesAb, false;
    /// Bytes from B to A.
    bytes_ba: u64 => "Bytes_BA", BytesBa, false;
    /// Error number from the DNS tracker.
    dns_errno: u32 => "DnsErrno", DnsErrno, false;
    /// DNS header flags.
    dns_flags: u16 => "DnsFlags", DnsFlags, false;
    /// DNS response code name.
    dns_flags_response_code: Arc<str> => "DnsFlagsResponseCode", DnsFlagsResponseCode, true;
    /// DNS transaction id.
    dns_id: u16 => "DnsId", DnsId, false;
    /// DNS request-to-response latency, milliseconds.
    dns_latency_ms: i64 => "DnsLatencyMs", DnsLatencyMs, false;
    /// DNS query name.
    dns_name: Arc<str> => "DnsName", DnsName, false;
    /// Differentiated Services Code Point.
    dscp: u8 => "Dscp", Dscp, false;
    /// Destination IP address (IPv4 or IPv6).
    dst_addr: IpAddr => "DstAddr", DstAddr, false;
    /// Destination node IP.
    dst_k8s_host_ip: IpAddr => "DstK8S_HostIP", DstK8sHostIp, false;
    /// Destination node name.
    dst_k8s_host_name: Arc<str> => "DstK8S_HostName", DstK8sHostName, true;
    /// Destination Kubernetes object name.
    dst_k8s_name: Arc<str> => "DstK8S_Name", DstK8sName, false;
    /// Destination namespace.
    dst_k8s_namespace: Arc<str> => "DstK8S_Namespace", DstK8sNamespace, true;
    /// Destination network name.
    dst_k8s_network_name: Arc<str> => "DstK8S_NetworkName", DstK8sNetworkName, true;
    /// Destination owner name.
    dst_k8s_owner_name: Arc<str> => "DstK8S_OwnerName", DstK8sOwnerName, true;
    /// Destination owner kind.
    dst_k8s_owner_type: Arc<str> => "DstK8S_OwnerType", DstK8sOwnerType, true;
    /// Destination Kubernetes object kind.
    dst_k8s_type: Arc<str> => "DstK8S_Type", DstK8sType, true;
    /// Destination zone.
    dst_k8s_zone: Arc<str> => "DstK8S_Zone", DstK8sZone, true;
    /// Destination MAC address.
    dst_mac: MacAddr => "DstMac", DstMac, false;
    /// Destination port.
    dst_port: u16 => "DstPort", DstPort, false;
    /// Destination subnet label.
    dst_subnet_label: Arc<str> => "DstSubnetLabel", DstSubnetLabel, true;
    /// Whether the flow was also seen on another interface (older agents).
    duplicate: bool => "Duplicate", Duplicate, false;
    /// Ethernet type (ETH_P_*).
    etype: u16 => "Etype", Etype, false;
    /// TCP flags (number, or names after `decode_tcp_flags`).
    flags: TcpFlags => "Flags", Flags, false;
    /// Node-level flow direction: 0 ingress, 1 egress, 2 inner.
    flow_direction: u8 => "FlowDirection", FlowDirection, false;
    /// Kernel return code of the IPsec encryption or decryption.
    ipsec_ret_code: i32 => "IPSecRetCode", IpsecRetCode, false;
    /// IPsec outcome: `success` or `failure`.
    ipsec_status: Arc<str> => "IPSecStatus", IpsecStatus, true;
    /// ICMP code.
    icmp_code: u8 => "IcmpCode", IcmpCode, false;
    /// ICMP type.
    icmp_type: u8 => "IcmpType", IcmpType, false;
    /// Interface direction (older agents, or set by `reinterpret_direction`).
    if_direction: u8 => "IfDirection", IfDirection, false;
    /// Direction per interface (0 ingress, 1 egress), parallel to `Interfaces`.
    if_directions: Vec<u8> => "IfDirections", IfDirections, false;
    /// Single interface (older agents).
    interface: Arc<str> => "Interface", Interface, true;
    /// Interfaces the flow was seen on.
    interfaces: Vec<Arc<str>> => "Interfaces", Interfaces, false;
    /// Cluster name.
    k8s_cluster_name: Arc<str> => "K8S_ClusterName", K8sClusterName, true;
    /// Flow layer: `app` or `infra`.
    k8s_flow_layer: Arc<str> => "K8S_FlowLayer", K8sFlowLayer, true;
    /// Largest RTT seen in the conversation, nanoseconds.
    max_time_flow_rtt_ns: i64 => "MaxTimeFlowRttNs", MaxTimeFlowRttNs, false;
    /// Network events (OVN ACL decisions and the like).
    network_events: Vec<NetworkEvent> => "NetworkEvents", NetworkEvents, false;
    /// Number of packets.
    packets: u64 => "Packets", Packets, false;
    /// Packets from A to B.
    packets_ab: u64 => "Packets_AB", PacketsAb, false;
    /// Packets from B to A.
    packets_ba: u64 => "Packets_BA", PacketsBa, false;
    /// Bytes dropped by the kernel.
    pkt_drop_bytes: u64 => "PktDropBytes", PktDropBytes, false;
    /// Kernel drop reason of the latest drop.
    pkt_drop_latest_drop_cause: Arc<str> => "PktDropLatestDropCause", PktDropLatestDropCause, true;
    /// TCP flags of the latest dropped packet.
    pkt_drop_latest_flags: u16 => "PktDropLatestFlags", PktDropLatestFlags, false;
    /// TCP state at the latest drop.
    pkt_drop_latest_state: Arc<str> => "PktDropLatestState", PktDropLatestState, true;
    /// Packets dropped by the kernel.
    pkt_drop_packets: u64 => "PktDropPackets", PktDropPackets, false;
    /// L4 protocol (IPPROTO_*).
    proto: u8 => "Proto", Proto, false;
    /// Sampling rate the agent used (1 flow in N).
    sampling: u32 => "Sampling", Sampling, false;
    /// Source IP address (IPv4 or IPv6).
    src_addr: IpAddr => "SrcAddr", SrcAddr, false;
    /// Source node IP.
    src_k8s_host_ip: IpAddr => "SrcK8S_HostIP", SrcK8sHostIp, false;
    /// Source node name.
    src_k8s_host_name: Arc<str> => "SrcK8S_HostName", SrcK8sHostName, true;
    /// Source Kubernetes object name.
    src_k8s_name: Arc<str> => "SrcK8S_Name", SrcK8sName, false;
    /// Source namespace.
    src_k8s_namespace: Arc<str> => "SrcK8S_Namespace", SrcK8sNamespace, true;
    /// Source network name (secondary networks, UDNs).
    src_k8s_network_name: Arc<str> => "SrcK8S_NetworkName", SrcK8sNetworkName, true;
    /// Source owner name.
    src_k8s_owner_name: Arc<str> => "SrcK8S_OwnerName", SrcK8sOwnerName, true;
    /// Source owner kind.
    src_k8s_owner_type: Arc<str> => "SrcK8S_OwnerType", SrcK8sOwnerType, true;
    /// Source Kubernetes object kind (Pod, Service, Node).
    src_k8s_type: Arc<str> => "SrcK8S_Type", SrcK8sType, true;
    /// Source zone.
    src_k8s_zone: Arc<str> => "SrcK8S_Zone", SrcK8sZone, true;
    /// Source MAC address.
    src_mac: MacAddr => "SrcMac", SrcMac, false;
    /// Source port.
    src_port: u16 => "SrcPort", SrcPort, false;
    /// Source subnet label.
    src_subnet_label: Arc<str> => "SrcSubnetLabel", SrcSubnetLabel, true;
    /// End of the flow, Unix milliseconds.
    time_flow_end_ms: i64 => "TimeFlowEndMs", TimeFlowEndMs, false;
    /// Smoothed TCP round-trip time, nanoseconds.
    time_flow_rtt_ns: i64 => "TimeFlowRttNs", TimeFlowRttNs, false;
    /// Start of the flow, Unix milliseconds.
    time_flow_start_ms: i64 => "TimeFlowStartMs", TimeFlowStartMs, false;
    /// When the collector received the flow, Unix seconds.
    time_received: i64 => "TimeReceived", TimeReceived, false;
    /// User-defined network per interface, parallel to `Interfaces`.
    udns: Vec<Arc<str>> => "Udns", Udns, false;
    /// Translated (NAT) destination address.
    xlat_dst_addr: IpAddr => "XlatDstAddr", XlatDstAddr, false;
    /// Translated destination port.
    xlat_dst_port: u16 => "XlatDstPort", XlatDstPort, false;
    /// Translated ICMP id.
    xlat_icmp_id: u16 => "XlatIcmpId", XlatIcmpId, false;
    /// Translated (NAT) source address.
    xlat_src_addr: IpAddr => "XlatSrcAddr", XlatSrcAddr, false;
    /// Translated source port.
    xlat_src_port: u16 => "XlatSrcPort", XlatSrcPort, false;
    /// Conntrack zone of the translation.
    zone_id: u16 => "ZoneId", ZoneId, false;
    /// Conversation id.
    hash_id: Arc<str> => "_HashId", HashId, false;
    /// Whether this is the first flow log of its conversation.
    is_first: bool => "_IsFirst", IsFirst, false;
    /// Record type: flowLog, newConnection, heartbeat, endConnection.
    record_type: Arc<str> => "_RecordType", RecordType, true;
    /// Number of flow logs aggregated in a conversation record.
    num_flow_logs: u64 => "numFlowLogs", NumFlowLogs, false;
}

impl Flow {
    /// Reads any field by name: a catalogue field or a run-time one.
    pub fn get(&self, name: &str) -> Option<Value> {
        match FieldId::from_name(name) {
            Some(id) => self.get_field(id),
            None => self.extra.get(name).cloned(),
        }
    }

    /// Writes any field by name. A catalogue field must receive a value of a compatible type.
    pub fn set(&mut self, name: &str, value: Value) -> Result<(), FieldTypeError> {
        match FieldId::from_name(name) {
            Some(id) => self.set_field(id, &value),
            None => {
                self.extra.insert(Arc::from(name), value);
                Ok(())
            }
        }
    }

    /// Number of present fields (catalogue and run-time).
    pub fn len(&self) -> usize {
        FieldId::ALL.iter().filter(|f| self.has_field(**f)).count() + self.extra.len()
    }

    /// Whether no field is present.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Present fields with their values, in JSON key order.
    pub fn fields(&self) -> Vec<(Arc<str>, Value)> {
        // The catalogue is declared in JSON key order (a test checks it).
        let mut out: Vec<(Arc<str>, Value)> = FieldId::ALL
            .iter()
            .filter_map(|id| self.get_field(*id).map(|v| (Arc::from(id.name()), v)))
            .collect();
        out.extend(self.extra.iter().map(|(k, v)| (k.clone(), v.clone())));
        out.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
        out
    }

    /// Writes an extra (run-time) value as JSON; used by the JSON codec.
    pub(crate) fn write_extra_json(out: &mut Vec<u8>, key: &str, value: &Value) {
        write_json_str(out, key);
        out.push(b':');
        write_json_value(out, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_resolve_both_ways_and_are_unique() {
        let mut seen = std::collections::HashSet::new();
        for id in FieldId::ALL {
            assert!(seen.insert(id.name()), "duplicate name {}", id.name());
            assert_eq!(FieldId::from_name(id.name()), Some(*id));
        }
        assert_eq!(
            FieldId::from_name("SrcK8S_Namespace"),
            Some(FieldId::SrcK8sNamespace)
        );
        assert_eq!(FieldId::from_name("srck8s_namespace"), None);
    }

    #[test]
    fn catalogue_is_declared_in_json_key_order() {
        // `write_json_object` and `Flow::fields` rely on it: Go's bytewise map key order.
        for w in FieldId::ALL.windows(2) {
            assert!(
                w[0].name().as_bytes() < w[1].name().as_bytes(),
                "{} is declared before {}",
                w[0].name(),
                w[1].name()
            );
        }
    }

    #[test]
    fn sorted_order_is_go_bytewise() {
        let names: Vec<_> = FieldId::ALL.iter().map(|f| f.name()).collect();
        let a = names.iter().position(|n| *n == "ZoneId").unwrap();
        let b = names.iter().position(|n| *n == "_HashId").unwrap();
        let c = names.iter().position(|n| *n == "numFlowLogs").unwrap();
        assert!(a < b && b < c, "upper case < '_' < lower case");
    }

    #[test]
    fn set_converts_compatible_values_and_rejects_others() {
        let mut f = Flow::default();
        f.set("Bytes", Value::Float(12.0)).unwrap();
        assert_eq!(f.bytes, Some(12));
        f.set("SrcAddr", Value::str("10.0.0.1")).unwrap();
        assert_eq!(f.src_addr, Some("10.0.0.1".parse().unwrap()));
        let err = f.set("SrcPort", Value::str("http")).unwrap_err();
        assert_eq!(err.field, "SrcPort");
        assert_eq!(f.src_port, None);
        f.set("custom", Value::UInt(3)).unwrap();
        assert_eq!(f.get("custom"), Some(Value::UInt(3)));
    }

    #[test]
    fn fast_ipv4_parse_agrees_with_std() {
        for s in [
            "10.0.0.1",
            "255.255.255.255",
            "0.0.0.0",
            "1.2.3",
            "1.2.3.4.5",
            "01.2.3.4",
            "256.1.1.1",
            "1..2.3",
            "a.b.c.d",
            "1.2.3.",
            ".1.2.3",
            "192.168.100.200",
        ] {
            assert_eq!(parse_ipv4_fast(s), s.parse().ok(), "{s}");
        }
    }

    #[test]
    fn mac_round_trips_through_u64() {
        let m: MacAddr = "0a:58:0A:80:00:01".parse().unwrap();
        assert_eq!(m.to_string(), "0a:58:0a:80:00:01");
        assert_eq!(MacAddr::from_u64(m.to_u64()), m);
        assert_eq!(
            MacAddr::from_u64(0x112233445566).to_string(),
            "11:22:33:44:55:66"
        );
        assert!("0a:58".parse::<MacAddr>().is_err());
    }

    #[test]
    fn tcp_flag_names_follow_upstream_order() {
        let f = TcpFlags {
            bits: 0x112,
            decoded: true,
        };
        assert_eq!(f.names().collect::<Vec<_>>(), ["SYN", "ACK", "SYN_ACK"]);
    }
}
