//! TCP flags.

/// TCP flags as the agent reports them: RFC 9293 bits plus NetObserv's per-packet combinations
/// SYN+ACK (0x100), FIN+ACK (0x200) and RST+ACK (0x400).
///
/// `decoded` records whether the JSON form is the number (agent output) or the list of names
/// (after FLP's `decode_tcp_flags` network rule); both forms carry the same bits.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct TcpFlags {
    /// The flag bits.
    pub bits: u16,
    /// Whether the flags are written as a list of names.
    pub decoded: bool,
}

/// Flag names in upstream's order, which is the order of the decoded list.
pub const TCP_FLAG_NAMES: [(u16, &str); 11] = [
    (0x1, "FIN"),
    (0x2, "SYN"),
    (0x4, "RST"),
    (0x8, "PSH"),
    (0x10, "ACK"),
    (0x20, "URG"),
    (0x40, "ECE"),
    (0x80, "CWR"),
    (0x100, "SYN_ACK"),
    (0x200, "FIN_ACK"),
    (0x400, "RST_ACK"),
];

impl TcpFlags {
    /// Raw flags, written as a number.
    pub fn raw(bits: u16) -> Self {
        TcpFlags {
            bits,
            decoded: false,
        }
    }

    /// The names of the set bits, in upstream's order.
    pub fn names(self) -> impl Iterator<Item = &'static str> {
        TCP_FLAG_NAMES
            .iter()
            .filter(move |(bit, _)| self.bits & bit != 0)
            .map(|(_, name)| *name)
    }

    /// The bit for a flag name.
    pub fn bit_of(name: &str) -> Option<u16> {
        TCP_FLAG_NAMES
            .iter()
            .find(|(_, n)| *n == name)
            .map(|(bit, _)| *bit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tcp_flag_names_follow_upstream_order() {
        let f = TcpFlags {
            bits: 0x112,
            decoded: true,
        };
        assert_eq!(f.names().collect::<Vec<_>>(), ["SYN", "ACK", "SYN_ACK"]);
    }
}
