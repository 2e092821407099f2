//! Names of the running kernel's enum values, read from its BTF (`/sys/kernel/btf/vmlinux`).
//!
//! The kernel renumbers `enum skb_drop_reason` between versions, so the drop cause a tracepoint
//! reports is named from the running kernel, not from a table of one version (upstream's agent
//! uses a fixed table; it is the fallback here when the kernel has no BTF).

use std::collections::HashMap;

const BTF_MAGIC: u16 = 0xeb9f;
const KIND_ENUM: u32 = 6;
const KIND_ENUM64: u32 = 19;

/// The members of the enum `name` in the BTF blob `data` (value → member name), or `None` when
/// the blob does not parse or has no such enum.
pub fn enum_values(data: &[u8], name: &str) -> Option<HashMap<u64, String>> {
    let u16_at = |o: usize| data.get(o..o + 2).map(|b| u16::from_le_bytes([b[0], b[1]]));
    let u32_at = |o: usize| {
        data.get(o..o + 4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    };
    if u16_at(0)? != BTF_MAGIC {
        return None;
    }
    let hdr_len = u32_at(4)? as usize;
    let (type_off, type_len) = (u32_at(8)? as usize, u32_at(12)? as usize);
    let (str_off, str_len) = (u32_at(16)? as usize, u32_at(20)? as usize);
    let types = hdr_len.checked_add(type_off)?;
    let types_end = types.checked_add(type_len)?;
    let strings = data.get(hdr_len + str_off..hdr_len + str_off + str_len)?;
    let string = |off: u32| -> Option<&str> {
        let rest = strings.get(off as usize..)?;
        let end = rest.iter().position(|b| *b == 0)?;
        std::str::from_utf8(&rest[..end]).ok()
    };
    let mut at = types;
    while at + 12 <= types_end {
        let name_off = u32_at(at)?;
        let info = u32_at(at + 4)?;
        let kind = (info >> 24) & 0x1f;
        let vlen = (info & 0xffff) as usize;
        let extra = match kind {
            1 | 14 | 17 => 4,
            3 => 12,
            4 | 5 | 15 | 19 => vlen * 12,
            6 | 13 => vlen * 8,
            2 | 7..=12 | 16 | 18 => 0,
            _ => return None,
        };
        let body = at + 12;
        if (kind == KIND_ENUM || kind == KIND_ENUM64) && string(name_off) == Some(name) {
            let mut out = HashMap::with_capacity(vlen);
            let step = if kind == KIND_ENUM { 8 } else { 12 };
            for i in 0..vlen {
                let m = body + i * step;
                let low = u64::from(u32_at(m + 4)?);
                let value = if kind == KIND_ENUM64 {
                    low | u64::from(u32_at(m + 8)?) << 32
                } else {
                    low
                };
                out.insert(value, string(u32_at(m)?)?.to_string());
            }
            return Some(out);
        }
        at = body + extra;
    }
    None
}

/// The running kernel's `enum skb_drop_reason`, when it has BTF.
pub fn kernel_drop_reasons() -> Option<HashMap<u64, String>> {
    let data = std::fs::read("/sys/kernel/btf/vmlinux").ok()?;
    enum_values(&data, "skb_drop_reason")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A BTF blob with an int type and one enum `colour { RED = 1, BLUE = 7 }`.
    fn blob() -> Vec<u8> {
        let strings = b"\0int\0colour\0RED\0BLUE\0";
        let mut types = Vec::new();
        let mut push = |v: u32| types.extend_from_slice(&v.to_le_bytes());
        // int: name "int" (1), kind 1, size 4, then its 4-byte encoding
        push(1);
        push(1 << 24);
        push(4);
        push(32);
        // enum colour: name 5, kind 6, vlen 2, size 4
        push(5);
        push((6 << 24) | 2);
        push(4);
        push(12);
        push(1);
        push(16);
        push(7);
        let mut out = Vec::new();
        out.extend_from_slice(&BTF_MAGIC.to_le_bytes());
        out.extend_from_slice(&[1, 0]);
        for v in [
            24u32,
            0,
            types.len() as u32,
            types.len() as u32,
            strings.len() as u32,
        ] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out.extend_from_slice(&types);
        out.extend_from_slice(strings);
        out
    }

    #[test]
    fn reads_an_enum_after_other_types() {
        let values = enum_values(&blob(), "colour").unwrap_or_default();
        assert_eq!(values.len(), 2);
        assert_eq!(values.get(&1).map(String::as_str), Some("RED"));
        assert_eq!(values.get(&7).map(String::as_str), Some("BLUE"));
        assert!(enum_values(&blob(), "shape").is_none());
        assert!(enum_values(&blob()[..20], "colour").is_none());
        assert!(enum_values(b"not btf at all, not at all", "colour").is_none());
    }

    #[test]
    fn this_kernel_names_netfilter_drops() {
        // Every kernel with drop reasons (5.17+) has SKB_DROP_REASON_NETFILTER_DROP; CI's has BTF.
        let reasons = kernel_drop_reasons().unwrap_or_default();
        assert!(
            reasons
                .values()
                .any(|n| n == "SKB_DROP_REASON_NETFILTER_DROP"),
            "{} reasons read from /sys/kernel/btf/vmlinux",
            reasons.len()
        );
    }
}
