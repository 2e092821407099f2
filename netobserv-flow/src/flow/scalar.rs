//! The storage types of catalogue fields and what generic code knows of them.

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;
use std::sync::Arc;

use serde::de::{self, DeserializeSeed, Deserializer, SeqAccess, Visitor};

use super::{MacAddr, NetworkEvent, TcpFlags, intern};
use crate::codec::json::write_json_str;
use crate::value::Value;

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

#[cfg(test)]
mod tests {
    use super::*;

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
}
