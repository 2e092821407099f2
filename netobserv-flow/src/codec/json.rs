//! NetObserv's JSON flow format, read and written the way upstream (Go's `encoding/json`) does.
//!
//! Writing matches Go byte for byte: keys sorted bytewise, no spaces, `<`, `>`, `&`, U+2028 and
//! U+2029 escaped as `\u003c`-style escapes, floats in Go's shortest form (`1` not `1.0`, exponent
//! form below 1e-6 and from 1e21). Reading accepts one JSON object per call; catalogue keys go to
//! typed fields (resolved without allocating), other keys to [`Flow::extra`].

use std::fmt;
use std::sync::Arc;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

use crate::flow::{FieldId, Flow};
use crate::value::Value;

/// Decodes one JSON object into a flow.
pub fn decode(bytes: &[u8]) -> Result<Flow, serde_json::Error> {
    let mut flow = Flow::default();
    decode_into(bytes, &mut flow)?;
    Ok(flow)
}

/// Decodes one JSON object into a flow, from text.
///
/// Flat objects of catalogue fields with plain values (the agent's and FLP's output) take a
/// hand-written fast path; anything else (escapes, floats, nested or run-time fields, errors) is
/// decoded by serde_json, which also words the errors. Both give the same flow (fuzzed).
pub fn decode_str(text: &str) -> Result<Flow, serde_json::Error> {
    let mut flow = Flow::default();
    decode_str_into(text, &mut flow)?;
    Ok(flow)
}

/// Decodes one JSON object into `flow`, which must be empty ([`Flow::default`]); on error it is
/// left empty. Decoding into a flow already in place (the last slot of a batch) saves moving a
/// whole [`Flow`] per line.
pub fn decode_into(bytes: &[u8], flow: &mut Flow) -> Result<(), serde_json::Error> {
    let text = std::str::from_utf8(bytes).map_err(|e| {
        <serde_json::Error as de::Error>::custom(format_args!(
            "invalid UTF-8 at byte {}",
            e.valid_up_to()
        ))
    })?;
    decode_str_into(text, flow)
}

fn decode_str_into(text: &str, flow: &mut Flow) -> Result<(), serde_json::Error> {
    if fast::decode_into(text, flow).is_some() {
        return Ok(());
    }
    // The fast path may have set some fields before giving up: the full decoder's flow (or an
    // empty one, on error) replaces them.
    match decode_full(text) {
        Ok(f) => {
            *flow = f;
            Ok(())
        }
        Err(e) => {
            *flow = Flow::default();
            Err(e)
        }
    }
}

/// Decodes with serde_json only (the reference for the fast path).
pub fn decode_full(text: &str) -> Result<Flow, serde_json::Error> {
    let mut de = serde_json::Deserializer::from_str(text);
    let flow = FlowSeed.deserialize(&mut de)?;
    de.end()?;
    Ok(flow)
}

/// Decodes a JSON array of objects into flows.
pub fn decode_array(bytes: &[u8]) -> Result<Vec<Flow>, serde_json::Error> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let flows = de.deserialize_seq(FlowsVisitor)?;
    de.end()?;
    Ok(flows)
}

/// Encodes a flow as one JSON object (no trailing newline), appended to `out`.
pub fn encode(flow: &Flow, out: &mut Vec<u8>) {
    flow.write_json_object(out);
}

/// Encodes a flow as a JSON string.
pub fn to_string(flow: &Flow) -> String {
    let mut out = Vec::with_capacity(512);
    encode(flow, &mut out);
    String::from_utf8(out).unwrap_or_default()
}

/// A value as the JSON fast path sees it.
#[derive(Debug)]
pub enum FastValue<'a> {
    /// `null`.
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// A non-negative integer.
    UInt(u64),
    /// A negative integer.
    Int(i64),
    /// A string without escapes.
    Str(&'a str),
    /// An array of strings and non-negative integers.
    List(&'a [FastItem<'a>]),
}

/// An array element on the JSON fast path.
#[derive(Debug)]
pub enum FastItem<'a> {
    /// A non-negative integer.
    UInt(u64),
    /// A string without escapes.
    Str(&'a str),
}

mod fast {
    use super::{FastItem, FastValue};
    use crate::flow::{FieldId, Flow};

    struct P<'a> {
        s: &'a str,
        b: &'a [u8],
        i: usize,
    }

    impl<'a> P<'a> {
        #[inline]
        fn ws(&mut self) {
            while let Some(c) = self.b.get(self.i) {
                if matches!(c, b' ' | b'\t' | b'\n' | b'\r') {
                    self.i += 1;
                } else {
                    break;
                }
            }
        }

        #[inline]
        fn peek(&self) -> Option<u8> {
            self.b.get(self.i).copied()
        }

        #[inline]
        fn eat(&mut self, c: u8) -> Option<()> {
            if self.peek() == Some(c) {
                self.i += 1;
                Some(())
            } else {
                None
            }
        }

        /// A string without escapes or control characters (the input is valid UTF-8).
        #[inline]
        fn string(&mut self) -> Option<&'a str> {
            self.eat(b'"')?;
            let start = self.i;
            // Flow strings are short: eight bytes at a time in a register (SWAR) beats both a
            // byte loop and a vectorized search.
            let mut end = start;
            while let Some(chunk) = self.b.get(end..end + 8) {
                let mut w = [0u8; 8];
                w.copy_from_slice(chunk);
                let found = special_bytes(u64::from_le_bytes(w));
                if found != 0 {
                    end += (found.trailing_zeros() / 8) as usize;
                    break;
                }
                end += 8;
            }
            loop {
                match *self.b.get(end)? {
                    b'"' => break,
                    b'\\' | 0..=0x1f => return None,
                    _ => end += 1,
                }
            }
            self.i = end + 1;
            let end = end - start;
            // Both ends are ASCII quote positions, so this slice of valid UTF-8 is valid too.
            self.s.get(start..start + end)
        }

        #[inline]
        fn uint(&mut self) -> Option<u64> {
            let start = self.i;
            let mut v: u64 = 0;
            while let Some(c @ b'0'..=b'9') = self.peek() {
                v = v.wrapping_mul(10).wrapping_add(u64::from(c - b'0'));
                self.i += 1;
            }
            let len = self.i - start;
            // Up to 19 digits cannot overflow; longer numbers are parsed again, checked.
            if len > 19 {
                v = self.s.get(start..self.i)?.parse().ok()?;
            }
            // Leading zeros are invalid JSON; fractions and exponents go to the full decoder.
            if len == 0
                || (len > 1 && self.b[start] == b'0')
                || matches!(self.peek(), Some(b'.' | b'e' | b'E'))
            {
                return None;
            }
            Some(v)
        }

        fn literal(&mut self, word: &[u8]) -> Option<()> {
            if self.b[self.i..].starts_with(word) {
                self.i += word.len();
                Some(())
            } else {
                None
            }
        }

        /// The next value; array items go to `items` (cleared first), which the value borrows.
        fn value<'s>(&mut self, items: &'s mut Vec<FastItem<'a>>) -> Option<FastValue<'s>>
        where
            'a: 's,
        {
            match self.peek()? {
                b'"' => self.string().map(FastValue::Str),
                b'0'..=b'9' => self.uint().map(FastValue::UInt),
                b'-' => {
                    self.i += 1;
                    let v = self.uint()?;
                    if v == 0 || v > i64::MAX as u64 {
                        return None;
                    }
                    Some(FastValue::Int(-(v as i64)))
                }
                b't' => self.literal(b"true").map(|_| FastValue::Bool(true)),
                b'f' => self.literal(b"false").map(|_| FastValue::Bool(false)),
                b'n' => self.literal(b"null").map(|_| FastValue::Null),
                b'[' => {
                    self.i += 1;
                    items.clear();
                    self.ws();
                    if self.eat(b']').is_some() {
                        return Some(FastValue::List(items));
                    }
                    loop {
                        self.ws();
                        let item = match self.peek()? {
                            b'"' => FastItem::Str(self.string()?),
                            b'0'..=b'9' => FastItem::UInt(self.uint()?),
                            _ => return None,
                        };
                        items.push(item);
                        self.ws();
                        match self.peek()? {
                            b',' => self.i += 1,
                            b']' => {
                                self.i += 1;
                                return Some(FastValue::List(items));
                            }
                            _ => return None,
                        }
                    }
                }
                _ => None,
            }
        }
    }

    /// Bytes that end a plain string (`"`, `\\`, controls) in a little-endian word: the lowest
    /// set high bit marks the first one. (Each test below is exact for the lowest matching byte
    /// and can only misfire above a true match, so the lowest bit of their union is a true match.)
    #[inline]
    fn special_bytes(w: u64) -> u64 {
        const LO: u64 = 0x0101_0101_0101_0101;
        const HI: u64 = 0x8080_8080_8080_8080;
        let zero = |x: u64| x.wrapping_sub(LO) & !x;
        let quote = zero(w ^ (LO * u64::from(b'"')));
        let backslash = zero(w ^ (LO * u64::from(b'\\')));
        let control = w.wrapping_sub(LO * 0x20) & !w;
        (quote | backslash | control) & HI
    }

    /// Decodes a flat object of catalogue fields into `flow` (empty on entry), or gives up
    /// (`None`, leaving `flow` partly set).
    pub(super) fn decode_into(s: &str, flow: &mut Flow) -> Option<()> {
        let b = s.as_bytes();
        let mut p = P { s, b, i: 0 };
        let mut items = Vec::new();
        p.ws();
        p.eat(b'{')?;
        p.ws();
        if p.eat(b'}').is_none() {
            loop {
                p.ws();
                let key = p.string()?;
                let id = FieldId::from_name(key)?;
                p.ws();
                p.eat(b':')?;
                p.ws();
                let v = p.value(&mut items)?;
                if !flow.set_field_fast(id, &v) {
                    return None;
                }
                p.ws();
                match p.peek()? {
                    b',' => p.i += 1,
                    b'}' => {
                        p.i += 1;
                        break;
                    }
                    _ => return None,
                }
            }
        }
        p.ws();
        (p.i == b.len()).then_some(())
    }

    /// Decodes a flat object of catalogue fields, or gives up (`None`).
    #[cfg(test)]
    fn decode(s: &str) -> Option<Flow> {
        let mut flow = Flow::default();
        decode_into(s, &mut flow).map(|()| flow)
    }

    #[cfg(test)]
    mod tests {
        use super::*;
        use crate::codec::json::decode_full;

        #[test]
        fn string_scan_finds_the_first_special_byte_at_every_offset() {
            // A special byte at each position of an 8-byte word, after plain ASCII and after
            // multi-byte UTF-8 (bytes >= 0x80 must not look special).
            for prefix in ["", "é", "ñandú-"] {
                for n in 0..20 {
                    let body = format!("{prefix}{}", "x".repeat(n));
                    let plain = format!(r#"{{"SrcK8S_Name":"{body}","Proto":6}}"#);
                    let flow = decode(&plain).unwrap_or_else(|| panic!("gave up on {plain}"));
                    assert_eq!(flow.src_k8s_name.as_deref(), Some(body.as_str()));
                    assert_eq!(flow, decode_full(&plain).unwrap());
                    for special in ["\\\"", "\\n", "\u{1}"] {
                        let line = format!(r#"{{"SrcK8S_Name":"{body}{special}tail","Proto":6}}"#);
                        assert!(decode(&line).is_none(), "fast path accepted {line:?}");
                    }
                }
            }
            assert_eq!(special_bytes(u64::from_le_bytes(*b"abcdefgh")), 0);
            assert_eq!(
                special_bytes(u64::from_le_bytes(*b"ab\"d\x01fgh")).trailing_zeros() / 8,
                2
            );
            assert_eq!(
                special_bytes(u64::from_le_bytes([
                    0xC3, 0xA9, 0xE2, 0x80, 0xA8, b'a', 0x1f, b'"'
                ]))
                .trailing_zeros()
                    / 8,
                6
            );
        }

        #[test]
        fn long_numbers_are_checked() {
            let max = format!(r#"{{"Bytes":{}}}"#, u64::MAX);
            assert_eq!(decode(&max).unwrap().bytes, Some(u64::MAX));
            assert!(decode(r#"{"Bytes":18446744073709551616}"#).is_none());
            assert!(decode(r#"{"Bytes":99999999999999999999}"#).is_none());
            assert_eq!(
                decode(r#"{"Bytes":9999999999999999999}"#).unwrap().bytes,
                Some(9_999_999_999_999_999_999)
            );
        }

        #[test]
        fn fast_path_agrees_with_serde_or_gives_up() {
            let cases = [
                r#"{"Bytes":10,"SrcAddr":"10.0.0.1","Interfaces":["eth0","br-ex"],"IfDirections":[0,1],"Flags":["SYN"],"Duplicate":false}"#,
                r#" { "Bytes" : 10 , "Proto" : 6 } "#,
                r#"{}"#,
                r#"{"Bytes":null,"Proto":6}"#,
                r#"{"IPSecRetCode":-3}"#,
                r#"{"TimeFlowRttNs":-1}"#,
            ];
            for c in cases {
                let fast = decode(c).unwrap_or_else(|| panic!("fast path gave up on {c}"));
                assert_eq!(fast, decode_full(c).unwrap(), "{c}");
            }
            let give_up = [
                r#"{"Bytes":1.5}"#,
                r#"{"Bytes":01}"#,
                r#"{"Bytes":1e3}"#,
                r#"{"custom":1}"#,
                r#"{"SrcK8S_Name":"a\"b"}"#,
                r#"{"Bytes":1,}"#,
                r#"{"Bytes":1} x"#,
                r#"{"Bytes":"1"}"#,
                r#"{"Proto":300}"#,
                r#"{"Bytes":-0}"#,
                r#"{"NetworkEvents":[{"a":"b"}]}"#,
                r#"{"Bytes":18446744073709551616}"#,
                r#"{"Bytes" 1}"#,
            ];
            for c in give_up {
                assert!(decode(c).is_none(), "fast path accepted {c}");
            }
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
pub fn write_go_float(out: &mut Vec<u8>, v: f64) {
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
            crate::flow::write_ip(out, *ip);
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

/// Deserializes one flow object.
pub struct FlowSeed;

impl<'de> DeserializeSeed<'de> for FlowSeed {
    type Value = Flow;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Flow, D::Error> {
        d.deserialize_map(FlowVisitor)
    }
}

struct FlowsVisitor;

impl<'de> Visitor<'de> for FlowsVisitor {
    type Value = Vec<Flow>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array of flow objects")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<Flow>, A::Error> {
        let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(64));
        while let Some(f) = seq.next_element_seed(FlowSeed)? {
            out.push(f);
        }
        Ok(out)
    }
}

struct FlowVisitor;

enum Key {
    Field(FieldId),
    Extra(Arc<str>),
}

struct KeySeed;

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = Key;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Key, D::Error> {
        d.deserialize_str(self)
    }
}

impl Visitor<'_> for KeySeed {
    type Value = Key;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a field name")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Key, E> {
        Ok(match FieldId::from_name(v) {
            Some(id) => Key::Field(id),
            None => Key::Extra(Arc::from(v)),
        })
    }
}

impl<'de> Visitor<'de> for FlowVisitor {
    type Value = Flow;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a flow object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Flow, A::Error> {
        let mut flow = Flow::default();
        while let Some(key) = map.next_key_seed(KeySeed)? {
            match key {
                Key::Field(id) => flow
                    .read_field_json(id, &mut map)
                    .map_err(|e| de::Error::custom(format_args!("{}: {e}", id.name())))?,
                Key::Extra(k) => {
                    let v = map.next_value_seed(ValueSeed)?;
                    flow.extra.insert(k, v);
                }
            }
        }
        Ok(flow)
    }
}

/// Deserializes any JSON value into a [`Value`].
pub struct ValueSeed;

impl<'de> DeserializeSeed<'de> for ValueSeed {
    type Value = Value;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ValueSeed {
    type Value = Value;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::UInt(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Int(v))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Value::Float(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::str(v))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::new();
        while let Some(v) = seq.next_element_seed(ValueSeed)? {
            out.push(v);
        }
        Ok(Value::List(out))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Vec::new();
        while let Some(k) = map.next_key::<String>()? {
            let v = map.next_value_seed(ValueSeed)?;
            out.push((Arc::from(k), v));
        }
        Ok(Value::Map(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[u8]) -> &str {
        std::str::from_utf8(v).unwrap()
    }

    #[test]
    fn macs_are_written_lower_case_like_go_hardware_addr() {
        // Upstream prints MACs with Go's `net.HardwareAddr.String()`: lower-case hex digits.
        let line = r#"{"DstMac":"0A:58:A7:A3:53:C9","SrcMac":"0a-58-A7-a3-53-C9"}"#;
        let want = r#"{"DstMac":"0a:58:a7:a3:53:c9","SrcMac":"0a:58:a7:a3:53:c9"}"#;
        assert_eq!(to_string(&decode(line.as_bytes()).unwrap()), want);
        assert_eq!(to_string(&decode_full(line).unwrap()), want);

        // A MAC held as a dynamic value (a field renamed or copied at run time).
        let mac: crate::flow::MacAddr = "0A:58:A7:A3:53:C9".parse().unwrap();
        let mut out = Vec::new();
        write_json_value(&mut out, &Value::Mac(mac));
        assert_eq!(s(&out), r#""0a:58:a7:a3:53:c9""#);
        assert_eq!(Value::Mac(mac).to_string(), "0a:58:a7:a3:53:c9");
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

    #[test]
    fn keys_sorted_across_typed_and_extra() {
        let line =
            br#"{"zz":1,"Bytes":10,"Aa":"x","SrcAddr":"10.0.0.1","_x":[1,{"b":2,"a":null}]}"#;
        let flow = decode(line).unwrap();
        assert_eq!(flow.bytes, Some(10));
        assert_eq!(
            to_string(&flow),
            r#"{"Aa":"x","Bytes":10,"SrcAddr":"10.0.0.1","_x":[1,{"a":null,"b":2}],"zz":1}"#
        );
    }

    #[test]
    fn wrong_type_is_an_error_naming_the_field() {
        let err = decode(br#"{"Bytes":"many"}"#).unwrap_err().to_string();
        assert!(err.contains("Bytes"), "{err}");
        assert!(decode(br#"{"SrcPort":70000}"#).is_err());
        assert!(decode(br#"{"Bytes":1"#).is_err());
        assert!(decode(br#"{"Bytes":1} x"#).is_err());
        assert_eq!(decode(br#"{"Bytes":null}"#).unwrap().bytes, None);
    }

    #[test]
    fn flags_number_and_names() {
        let raw = decode(br#"{"Flags":18}"#).unwrap();
        assert_eq!(to_string(&raw), r#"{"Flags":18}"#);
        let names = decode(br#"{"Flags":["SYN","ACK"]}"#).unwrap();
        assert_eq!(names.flags.unwrap().bits, 18);
        assert_eq!(to_string(&names), r#"{"Flags":["SYN","ACK"]}"#);
    }
}
