//! Writing JSON the way Go's `encoding/json` does.

use std::net::IpAddr;
use std::sync::Arc;

use super::scalar::JsonScalar;
use crate::flow::{Flow, with_catalogue};
use crate::value::Value;

/// Encodes a flow as one JSON object (no trailing newline), appended to `out`.
pub fn encode(flow: &Flow, out: &mut Vec<u8>) {
    write_object(flow, out);
}

/// Encodes a flow as a JSON string.
pub fn to_string(flow: &Flow) -> String {
    let mut out = Vec::with_capacity(512);
    encode(flow, &mut out);
    String::from_utf8(out).unwrap_or_default()
}

macro_rules! object_writer {
    ($( $(#[doc = $doc:literal])* $ident:ident : $ty:ty => $name:literal, $variant:ident, $dict:literal, $storage:tt; )*) => {
        /// Writes the JSON object: catalogue fields in declaration order (which is sorted by
        /// name) merged with the sorted run-time fields.
        fn write_object(flow: &Flow, out: &mut Vec<u8>) {
            out.push(b'{');
            let mut first = true;
            let has_extra = flow.extra_len() != 0;
            let mut extras = flow.extra_iter().peekable();
            $(
                if has_extra {
                    while let Some((k, v)) = extras.next_if(|(k, _)| k.as_bytes() < $name.as_bytes()) {
                        if !first { out.push(b','); }
                        first = false;
                        write_extra(out, k, v);
                    }
                }
                if let Some(v) = pastey::paste! { flow.[<$ident _stored>]() } {
                    if !first { out.push(b','); }
                    first = false;
                    out.extend_from_slice(concat!("\"", $name, "\":").as_bytes());
                    JsonScalar::write_json(v, out);
                }
            )*
            for (k, v) in extras {
                if !first { out.push(b','); }
                first = false;
                write_extra(out, k, v);
            }
            out.push(b'}');
        }
    };
}

with_catalogue!(object_writer);

/// Writes a run-time field as a JSON object member.
fn write_extra(out: &mut Vec<u8>, key: &str, value: &Value) {
    write_json_str(out, key);
    out.push(b':');
    write_json_value(out, value);
}

/// Writes an address in its text form; IPv4 without going through `fmt` (hot in JSON encoding).
pub(super) fn write_ip(out: &mut Vec<u8>, ip: IpAddr) {
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

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Bytes that need work in a JSON string: controls, `"`, `\\`, `<`, `>`, `&`, and 0xE2 (the first
/// byte of U+2028 / U+2029).
static ESCAPE: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 0x20 {
        t[i] = true;
        i += 1;
    }
    t[b'"' as usize] = true;
    t[b'\\' as usize] = true;
    t[b'<' as usize] = true;
    t[b'>' as usize] = true;
    t[b'&' as usize] = true;
    t[0xE2] = true;
    t
};

/// Writes a JSON string literal with Go's escaping.
pub fn write_json_str(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    let bytes = s.as_bytes();
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if !ESCAPE[b as usize] {
            i += 1;
            continue;
        }
        let esc: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0xE2 => {
                if bytes.get(i + 1) == Some(&0x80)
                    && matches!(bytes.get(i + 2), Some(0xA8) | Some(0xA9))
                {
                    out.extend_from_slice(&bytes[start..i]);
                    out.extend_from_slice(if bytes[i + 2] == 0xA8 {
                        b"\\u2028"
                    } else {
                        b"\\u2029"
                    });
                    i += 3;
                    start = i;
                } else {
                    i += 1;
                }
                continue;
            }
            _ => b"",
        };
        out.extend_from_slice(&bytes[start..i]);
        if esc.is_empty() {
            out.extend_from_slice(b"\\u00");
            out.push(HEX[(b >> 4) as usize]);
            out.push(HEX[(b & 0xf) as usize]);
        } else {
            out.extend_from_slice(esc);
        }
        i += 1;
        start = i;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

/// Writes a float the way Go's `encoding/json` does (non-finite values become `null`).
#[inline]
pub fn write_go_float(out: &mut Vec<u8>, v: f64) {
    crate::value::write_go_float(out, v);
}

/// Writes a dynamic value as JSON; object keys are sorted as Go sorts map keys.
pub fn write_json_value(out: &mut Vec<u8>, v: &Value) {
    match v {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Value::Int(i) => out.extend_from_slice(itoa::Buffer::new().format(*i).as_bytes()),
        Value::UInt(u) => out.extend_from_slice(itoa::Buffer::new().format(*u).as_bytes()),
        Value::Float(f) => write_go_float(out, *f),
        Value::Str(s) => write_json_str(out, s),
        Value::Ip(ip) => {
            out.push(b'"');
            write_ip(out, *ip);
            out.push(b'"');
        }
        Value::Mac(m) => {
            out.push(b'"');
            out.extend_from_slice(&m.to_text());
            out.push(b'"');
        }
        Value::List(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_json_value(out, item);
            }
            out.push(b']');
        }
        Value::Map(kv) => {
            let mut sorted: Vec<&(Arc<str>, Value)> = kv.iter().collect();
            sorted.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            out.push(b'{');
            for (i, (k, v)) in sorted.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_json_str(out, k);
                out.push(b':');
                write_json_value(out, v);
            }
            out.push(b'}');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[u8]) -> &str {
        std::str::from_utf8(v).unwrap()
    }

    #[test]
    fn go_escaping() {
        let mut out = Vec::new();
        write_json_str(&mut out, "a<b>&\"\\\n\u{1}\u{2028}é");
        assert_eq!(s(&out), r#""a\u003cb\u003e\u0026\"\\\n\u0001\u2028é""#);
    }

    #[test]
    fn go_floats() {
        let cases = [
            (1.0, "1"),
            (0.5, "0.5"),
            (1e21, "1e+21"),
            (1e20, "100000000000000000000"),
            (1e-7, "1e-7"),
            (0.000001, "0.000001"),
            (-2.5e-8, "-2.5e-8"),
            (0.0, "0"),
            (123456.789, "123456.789"),
        ];
        for (v, want) in cases {
            let mut out = Vec::new();
            write_go_float(&mut out, v);
            assert_eq!(s(&out), want, "{v}");
        }
    }
}
