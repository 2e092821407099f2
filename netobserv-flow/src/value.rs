//! Dynamic values: what a field holds when it is read or written by name.
//!
//! Typed flow fields convert to and from [`Value`] only at the edges of generic code (config-driven
//! transforms, the run-time field map); the hot paths (codecs, filters on typed fields) read the
//! typed fields directly.

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;

use crate::flow::MacAddr;

/// A dynamically typed field value, shaped like a JSON value plus the network types flows carry.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// JSON `null`.
    Null,
    /// A boolean.
    Bool(bool),
    /// A signed integer.
    Int(i64),
    /// An unsigned integer (counters).
    UInt(u64),
    /// A floating point number.
    Float(f64),
    /// A string.
    Str(Arc<str>),
    /// An IP address (written as its text form).
    Ip(IpAddr),
    /// A MAC address (written as `0a:58:0a:80:00:01`, lower case, as upstream does).
    Mac(MacAddr),
    /// A list of values.
    List(Vec<Value>),
    /// An object, keys in insertion order.
    Map(Vec<(Arc<str>, Value)>),
}

impl Value {
    /// The value as a float, when it is a number or a string holding one.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Int(v) => Some(*v as f64),
            Value::UInt(v) => Some(*v as f64),
            Value::Float(v) => Some(*v),
            Value::Bool(b) => Some(if *b { 1.0 } else { 0.0 }),
            Value::Str(s) => s.trim().parse().ok(),
            _ => None,
        }
    }

    /// The value as a signed integer, when it is an integral number (or a string holding one).
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Int(v) => Some(*v),
            Value::UInt(v) => i64::try_from(*v).ok(),
            Value::Float(v) if v.fract() == 0.0 && v.abs() < 9.2e18 => Some(*v as i64),
            Value::Str(s) => s.trim().parse().ok(),
            _ => None,
        }
    }

    /// The value as an unsigned integer, when it is a non-negative integral number.
    pub fn as_u64(&self) -> Option<u64> {
        match self {
            Value::Int(v) => u64::try_from(*v).ok(),
            Value::UInt(v) => Some(*v),
            Value::Float(v) if v.fract() == 0.0 && *v >= 0.0 && *v < 1.8e19 => Some(*v as u64),
            Value::Str(s) => s.trim().parse().ok(),
            _ => None,
        }
    }

    /// Whether this value is a number.
    pub fn is_number(&self) -> bool {
        matches!(self, Value::Int(_) | Value::UInt(_) | Value::Float(_))
    }

    /// A string value from anything string-like.
    pub fn str(s: impl AsRef<str>) -> Value {
        Value::Str(Arc::from(s.as_ref()))
    }

    /// The text form used for comparisons and labels (`fmt.Sprint` in upstream Go).
    pub fn to_text(&self) -> String {
        self.to_string()
    }

    /// Parses a YAML/JSON scalar the way FLP configs give values: numbers stay numbers.
    pub fn from_json(v: &serde_json::Value) -> Value {
        match v {
            serde_json::Value::Null => Value::Null,
            serde_json::Value::Bool(b) => Value::Bool(*b),
            serde_json::Value::Number(n) => {
                if let Some(u) = n.as_u64() {
                    Value::UInt(u)
                } else if let Some(i) = n.as_i64() {
                    Value::Int(i)
                } else {
                    Value::Float(n.as_f64().unwrap_or(0.0))
                }
            }
            serde_json::Value::String(s) => Value::str(s),
            serde_json::Value::Array(a) => Value::List(a.iter().map(Value::from_json).collect()),
            serde_json::Value::Object(o) => Value::Map(
                o.iter()
                    .map(|(k, v)| (Arc::from(k.as_str()), Value::from_json(v)))
                    .collect(),
            ),
        }
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Null => f.write_str("<nil>"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Int(v) => write!(f, "{v}"),
            Value::UInt(v) => write!(f, "{v}"),
            Value::Float(v) => {
                let mut out = Vec::new();
                write_go_float(&mut out, *v);
                f.write_str(&String::from_utf8_lossy(&out))
            }
            Value::Str(s) => f.write_str(s),
            Value::Ip(ip) => write!(f, "{ip}"),
            Value::Mac(m) => write!(f, "{m}"),
            Value::List(items) => {
                f.write_str("[")?;
                for (i, v) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(" ")?;
                    }
                    write!(f, "{v}")?;
                }
                f.write_str("]")
            }
            Value::Map(kv) => {
                f.write_str("map[")?;
                for (i, (k, v)) in kv.iter().enumerate() {
                    if i > 0 {
                        f.write_str(" ")?;
                    }
                    write!(f, "{k}:{v}")?;
                }
                f.write_str("]")
            }
        }
    }
}

/// Writes a float the way Go's `encoding/json` does (non-finite values become `null`): the text
/// form of a float [`Value`], and the JSON codec's float writer.
pub(crate) fn write_go_float(out: &mut Vec<u8>, v: f64) {
    use std::io::Write;
    if !v.is_finite() {
        out.extend_from_slice(b"null");
        return;
    }
    let abs = v.abs();
    if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        let s = format!("{v:e}");
        // Rust writes `1e-7` / `1e21`; Go writes `1e-07` trimmed to `1e-7`, and `1e+21`.
        match s.split_once('e') {
            Some((mant, exp)) if !exp.starts_with('-') => {
                let _ = write!(out, "{mant}e+{exp}");
            }
            _ => out.extend_from_slice(s.as_bytes()),
        }
    } else {
        let _ = write!(out, "{v}");
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::str(s)
    }
}
impl From<u64> for Value {
    fn from(v: u64) -> Self {
        Value::UInt(v)
    }
}
impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Value::Int(v)
    }
}
impl From<f64> for Value {
    fn from(v: f64) -> Self {
        Value::Float(v)
    }
}
impl From<bool> for Value {
    fn from(v: bool) -> Self {
        Value::Bool(v)
    }
}
