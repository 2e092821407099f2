//! The JSON form of each storage type of the catalogue.

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;
use std::sync::Arc;

use serde::de::{self, DeserializeSeed, Deserializer, SeqAccess, Visitor};

use super::fast::{FastItem, FastValue, parse_ipv4_fast};
use super::write::{write_ip, write_json_str};
use crate::flow::{MacAddr, NetworkEvent, TcpFlags, intern};

/// A storage type of the catalogue that has a JSON form: how the writer, serde's decoder and the
/// fast path handle it. Implemented for the same types as [`crate::flow::Scalar`].
pub trait JsonScalar: Sized {
    /// Writes the JSON form.
    fn write_json(&self, out: &mut Vec<u8>);
    /// Reads the JSON form.
    fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Self, D::Error>;
    /// Converts a value of the JSON fast path; `None` sends the line to the full decoder (which
    /// then decides, and words the error).
    fn from_fast(_v: &FastValue<'_>) -> Option<Self> {
        None
    }
}

struct ScalarSeed<T>(std::marker::PhantomData<T>);

impl<'de, T: JsonScalar> DeserializeSeed<'de> for ScalarSeed<T> {
    type Value = T;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<T, D::Error> {
        T::deserialize(d)
    }
}

/// Deserializes a catalogue field's value through its [`JsonScalar`] impl.
pub(super) struct JsonSlot<T>(pub(super) T);

impl<'de, T: JsonScalar> serde::Deserialize<'de> for JsonSlot<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        T::deserialize(d).map(JsonSlot)
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
    ($($t:ty => $desc:literal;)*) => {$(
        impl<'de> Visitor<'de> for IntVisitor<$t> {
            type Value = $t;
            int_visitor_methods!($t);
        }
        impl JsonScalar for $t {
            fn from_fast(v: &FastValue<'_>) -> Option<Self> {
                match v {
                    FastValue::UInt(u) => <$t>::try_from(*u).ok(),
                    FastValue::Int(i) => <$t>::try_from(*i).ok(),
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
    u8 => "an integer from 0 to 255";
    u16 => "an integer from 0 to 65535";
    u32 => "a 32-bit unsigned integer";
    u64 => "a 64-bit unsigned integer";
    i32 => "a 32-bit integer";
    i64 => "a 64-bit integer";
}

impl JsonScalar for bool {
    fn write_json(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(if *self { b"true" } else { b"false" });
    }
    fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        <bool as serde::Deserialize>::deserialize(d)
    }
    fn from_fast(v: &FastValue<'_>) -> Option<Self> {
        match v {
            FastValue::Bool(b) => Some(*b),
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

impl JsonScalar for IpAddr {
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
    fn from_fast(v: &FastValue<'_>) -> Option<Self> {
        match v {
            FastValue::Str(s) => parse_ipv4_fast(s)
                .map(IpAddr::V4)
                .or_else(|| s.parse().ok()),
            _ => None,
        }
    }
}

impl JsonScalar for MacAddr {
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
    fn from_fast(v: &FastValue<'_>) -> Option<Self> {
        match v {
            FastValue::Str(s) => s.parse().ok(),
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

impl JsonScalar for Arc<str> {
    fn write_json(&self, out: &mut Vec<u8>) {
        write_json_str(out, self);
    }
    fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_str(ArcStrVisitor)
    }
    fn from_fast(v: &FastValue<'_>) -> Option<Self> {
        match v {
            FastValue::Str(s) => Some(intern(s)),
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

impl JsonScalar for Vec<Arc<str>> {
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
    fn from_fast(v: &FastValue<'_>) -> Option<Self> {
        match v {
            FastValue::List(items) => items
                .iter()
                .map(|i| match i {
                    FastItem::Str(s) => Some(intern(s)),
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

impl JsonScalar for Vec<u8> {
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
    fn from_fast(v: &FastValue<'_>) -> Option<Self> {
        match v {
            FastValue::List(items) => items
                .iter()
                .map(|i| match i {
                    FastItem::UInt(u) => u8::try_from(*u).ok(),
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

impl JsonScalar for TcpFlags {
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
    fn from_fast(v: &FastValue<'_>) -> Option<Self> {
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

impl JsonScalar for Vec<NetworkEvent> {
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
