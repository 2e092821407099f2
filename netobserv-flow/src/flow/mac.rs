//! Ethernet addresses.

use std::fmt;
use std::str::FromStr;

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

#[cfg(test)]
mod tests {
    use super::*;

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
}
