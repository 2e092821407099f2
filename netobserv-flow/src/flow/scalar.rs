//! The storage types of catalogue fields and what generic code knows of them.

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;

use super::{MacAddr, NetworkEvent, TcpFlags};
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
/// catalogue uses; each knows its kind and its conversions to and from [`Value`]. Wire forms
/// live with the codecs, which sit above the model (`JsonScalar`, `ArrowScalar`).
pub trait Scalar: Sized + Clone + PartialEq + fmt::Debug {
    /// The kind of this storage type.
    const KIND: FieldKind;
    /// What a typed getter returns (`Flow::bytes`): the value itself for `Copy` scalars, a borrow
    /// (`&str`, `&[T]`) for the others, so callers never depend on how the model stores it.
    type View<'a>
    where
        Self: 'a;
    /// The getter's view of a stored value.
    fn view(&self) -> Self::View<'_>;
    /// Converts to a dynamic value.
    fn to_value(&self) -> Value;
    /// Converts from a dynamic value, if it has a compatible type.
    fn from_value(v: &Value) -> Option<Self>;
    /// A cheap borrowed view, for comparisons on hot paths.
    fn field_ref(&self) -> FieldRef<'_> {
        FieldRef::Other(self.to_value())
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

macro_rules! int_scalar {
    ($($t:ty => $kind:expr;)*) => {$(
        impl Scalar for $t {
            const KIND: FieldKind = $kind;
            type View<'a> = $t;
            #[inline]
            fn view(&self) -> $t { *self }
            fn to_value(&self) -> Value {
                #[allow(clippy::unnecessary_fallible_conversions, irrefutable_let_patterns)]
                if let Ok(u) = u64::try_from(*self) { Value::UInt(u) } else { Value::Int(*self as i64) }
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
        }
    )*};
}

int_scalar! {
    u8 => FieldKind::UInt(8);
    u16 => FieldKind::UInt(16);
    u32 => FieldKind::UInt(32);
    u64 => FieldKind::UInt(64);
    i32 => FieldKind::Int(32);
    i64 => FieldKind::Int(64);
}

impl Scalar for bool {
    const KIND: FieldKind = FieldKind::Bool;
    type View<'a> = bool;
    #[inline]
    fn view(&self) -> bool {
        *self
    }
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
}

impl Scalar for IpAddr {
    const KIND: FieldKind = FieldKind::Ip;
    type View<'a> = IpAddr;
    #[inline]
    fn view(&self) -> IpAddr {
        *self
    }
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
    fn field_ref(&self) -> FieldRef<'_> {
        FieldRef::Ip(*self)
    }
}

impl Scalar for MacAddr {
    const KIND: FieldKind = FieldKind::Mac;
    type View<'a> = MacAddr;
    #[inline]
    fn view(&self) -> MacAddr {
        *self
    }
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
}

impl Scalar for Arc<str> {
    const KIND: FieldKind = FieldKind::Str;
    type View<'a> = &'a str;
    #[inline]
    fn view(&self) -> &str {
        self
    }
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
    fn field_ref(&self) -> FieldRef<'_> {
        FieldRef::Str(self)
    }
}

impl Scalar for Vec<Arc<str>> {
    const KIND: FieldKind = FieldKind::StrList;
    type View<'a> = &'a [Arc<str>];
    #[inline]
    fn view(&self) -> &[Arc<str>] {
        self
    }
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
}

impl Scalar for Vec<u8> {
    const KIND: FieldKind = FieldKind::U8List;
    type View<'a> = &'a [u8];
    #[inline]
    fn view(&self) -> &[u8] {
        self
    }
    fn to_value(&self) -> Value {
        Value::List(self.iter().map(|v| Value::UInt(u64::from(*v))).collect())
    }
    fn from_value(v: &Value) -> Option<Self> {
        match v {
            Value::List(items) => items.iter().map(u8::from_value).collect(),
            other => u8::from_value(other).map(|v| vec![v]),
        }
    }
}

impl Scalar for TcpFlags {
    const KIND: FieldKind = FieldKind::TcpFlags;
    type View<'a> = TcpFlags;
    #[inline]
    fn view(&self) -> TcpFlags {
        *self
    }
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
}

impl Scalar for Vec<NetworkEvent> {
    const KIND: FieldKind = FieldKind::NetworkEvents;
    type View<'a> = &'a [NetworkEvent];
    #[inline]
    fn view(&self) -> &[NetworkEvent] {
        self
    }
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
}
