//! The fast path of the JSON decoder: flat objects of catalogue fields with plain values.

use std::net::IpAddr;
use std::sync::Arc;

use super::scalar::JsonScalar;
use crate::flow::{FieldId, Flow, MacAddr, NetworkEvent, TcpFlags, with_catalogue};

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
            if !set_field(flow, id, &v) {
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

macro_rules! fast_setter {
    ($( $(#[doc = $doc:literal])* $ident:ident : $ty:ty => $name:literal, $variant:ident, $dict:literal, $storage:tt; )*) => {
        /// Sets a catalogue field from a value of the fast path; `false` if it does not fit.
        fn set_field(flow: &mut Flow, id: FieldId, v: &FastValue<'_>) -> bool {
            if matches!(v, FastValue::Null) {
                flow.clear_field(id);
                return true;
            }
            match id {
                $(FieldId::$variant => match <$ty as JsonScalar>::from_fast(v) {
                    Some(x) => { pastey::paste! { flow.[<set_ $ident>](x) }; true }
                    None => false,
                },)*
            }
        }
    };
}

with_catalogue!(fast_setter);

/// Dotted-quad IPv4 without the general parser (the common case in flows); `None` for anything
/// else, which the caller hands to `IpAddr::from_str`.
#[inline]
pub(super) fn parse_ipv4_fast(s: &str) -> Option<std::net::Ipv4Addr> {
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
                assert_eq!(flow.src_k8s_name(), Some(body.as_str()));
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
        assert_eq!(decode(&max).unwrap().bytes(), Some(u64::MAX));
        assert!(decode(r#"{"Bytes":18446744073709551616}"#).is_none());
        assert!(decode(r#"{"Bytes":99999999999999999999}"#).is_none());
        assert_eq!(
            decode(r#"{"Bytes":9999999999999999999}"#).unwrap().bytes(),
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
