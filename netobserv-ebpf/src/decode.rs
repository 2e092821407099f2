//! Decoding what the kernel programs hand to user space from packets: DNS names as they are on
//! the wire, and ring-buffer records. Both are bytes an outside party controls (a packet's DNS
//! question) or that cross the kernel boundary, so neither panics on any input (fuzzed in
//! `fuzz/fuzz_targets/ebpf_decode.rs`).

use crate::types::FlowRecord;

/// A DNS name from its wire form (length-prefixed labels), keeping the whole labels that fit in
/// `limit` bytes of `raw`; a compression pointer, a zero length or a label cut short ends it.
/// Bytes that are not UTF-8 become U+FFFD.
pub fn dns_name(raw: &[u8], limit: usize) -> String {
    let raw = &raw[..raw.len().min(limit)];
    let mut out = String::new();
    let mut at = 0;
    while let Some(&len) = raw.get(at) {
        let len = usize::from(len);
        if len == 0 || len & 0xc0 != 0 {
            break;
        }
        let Some(label) = raw.get(at + 1..at + 1 + len) else {
            break;
        };
        if !out.is_empty() {
            out.push('.');
        }
        out.push_str(&String::from_utf8_lossy(label));
        at += 1 + len;
    }
    out
}

/// A ring-buffer record, when `bytes` is exactly one.
pub fn flow_record(bytes: &[u8]) -> Option<FlowRecord> {
    (bytes.len() == std::mem::size_of::<FlowRecord>()).then(|| crate::batch::from_bytes(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dns_names_keep_whole_labels() {
        let raw = b"\x03www\x07example\x03com\x00";
        assert_eq!(dns_name(raw, 64), "www.example.com");
        assert_eq!(
            dns_name(raw, 13),
            "www.example",
            "com does not fit in 13 bytes"
        );
        assert_eq!(dns_name(raw, 12), "www.example");
        assert_eq!(dns_name(raw, 11), "www");
        assert_eq!(
            dns_name(b"\x03www\xc0\x0c", 64),
            "www",
            "a pointer ends the name"
        );
        assert_eq!(dns_name(b"", 64), "");
        assert_eq!(dns_name(b"\x05ab", 64), "", "a label cut short is dropped");
    }

    #[test]
    fn ring_buffer_records_have_one_size() {
        assert!(flow_record(&[0u8; 135]).is_none());
        assert!(flow_record(&[0u8; 137]).is_none());
        let mut bytes = [0u8; 136];
        bytes[34] = 0x35; // src_port, little-endian
        bytes[48 + 24] = 3; // value.packets
        let r = flow_record(&bytes).unwrap_or_default();
        assert_eq!((r.key.src_port, r.value.packets), (0x35, 3));
    }
}
