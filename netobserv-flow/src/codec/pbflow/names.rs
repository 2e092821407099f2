//! The names upstream gives to DNS response codes, TCP states, drop causes and the agent's TLS
//! and QUIC values.

use std::borrow::Cow;

/// DNS response code names (RFC 6895 registry), as upstream's `DNSRcodeToStr`.
pub fn dns_rcode_name(rcode: u32) -> &'static str {
    match rcode {
        0 => "NoError",
        1 => "FormErr",
        2 => "ServFail",
        3 => "NXDomain",
        4 => "NotImp",
        5 => "Refused",
        6 => "YXDomain",
        7 => "YXRRSet",
        8 => "NXRRSet",
        9 => "NotAuth",
        10 => "NotZone",
        16 => "BADVERS",
        17 => "BADKEY",
        18 => "BADTIME",
        19 => "BADMODE",
        20 => "BADNAME",
        21 => "BADALG",
        _ => "UnDefined",
    }
}

/// TCP state names as upstream's `TCPStateToStr` gives them, index = value. Upstream's list has
/// no `TCP_TIME_WAIT`, so from 6 on its names are one state behind the kernel's
/// (`include/net/tcp_states.h`: 6 is `TCP_TIME_WAIT`, 7 `TCP_CLOSE`...); kept as upstream has it so
/// the output matches.
const TCP_STATES: [&str; 12] = [
    "TCP_INVALID_STATE",
    "TCP_ESTABLISHED",
    "TCP_SYN_SENT",
    "TCP_SYN_RECV",
    "TCP_FIN_WAIT1",
    "TCP_FIN_WAIT2",
    "TCP_CLOSE",
    "TCP_CLOSE_WAIT",
    "TCP_LAST_ACK",
    "TCP_LISTEN",
    "TCP_CLOSING",
    "TCP_NEW_SYN_RECV",
];

/// The `PktDropLatestState` upstream writes for a TCP state; 0 and unknown states are
/// `TCP_INVALID_STATE`.
pub fn tcp_state_name(state: u32) -> &'static str {
    TCP_STATES
        .get(state as usize)
        .copied()
        .unwrap_or(TCP_STATES[0])
}

pub(super) fn tcp_state_value(name: &str) -> Option<u32> {
    TCP_STATES.iter().position(|s| *s == name).map(|p| p as u32)
}

/// Core kernel drop reasons (`enum skb_drop_reason`), index = value.
const CORE_DROP_CAUSES: &[&str] = &[
    "SKB_NOT_DROPPED_YET",
    "SKB_CONSUMED",
    "SKB_DROP_REASON_NOT_SPECIFIED",
    "SKB_DROP_REASON_NO_SOCKET",
    "SKB_DROP_REASON_PKT_TOO_SMALL",
    "SKB_DROP_REASON_TCP_CSUM",
    "SKB_DROP_REASON_SOCKET_FILTER",
    "SKB_DROP_REASON_UDP_CSUM",
    "SKB_DROP_REASON_NETFILTER_DROP",
    "SKB_DROP_REASON_OTHERHOST",
    "SKB_DROP_REASON_IP_CSUM",
    "SKB_DROP_REASON_IP_INHDR",
    "SKB_DROP_REASON_IP_RPFILTER",
    "SKB_DROP_REASON_UNICAST_IN_L2_MULTICAST",
    "SKB_DROP_REASON_XFRM_POLICY",
    "SKB_DROP_REASON_IP_NOPROTO",
    "SKB_DROP_REASON_SOCKET_RCVBUFF",
    "SKB_DROP_REASON_PROTO_MEM",
    "SKB_DROP_REASON_TCP_MD5NOTFOUND",
    "SKB_DROP_REASON_TCP_MD5UNEXPECTED",
    "SKB_DROP_REASON_TCP_MD5FAILURE",
    "SKB_DROP_REASON_SOCKET_BACKLOG",
    "SKB_DROP_REASON_TCP_FLAGS",
    "SKB_DROP_REASON_TCP_ZEROWINDOW",
    "SKB_DROP_REASON_TCP_OLD_DATA",
    "SKB_DROP_REASON_TCP_OVERWINDOW",
    "SKB_DROP_REASON_TCP_OFOMERGE",
    "SKB_DROP_REASON_TCP_RFC7323_PAWS",
    "SKB_DROP_REASON_TCP_INVALID_SEQUENCE",
    "SKB_DROP_REASON_TCP_RESET",
    "SKB_DROP_REASON_TCP_INVALID_SYN",
    "SKB_DROP_REASON_TCP_CLOSE",
    "SKB_DROP_REASON_TCP_FASTOPEN",
    "SKB_DROP_REASON_TCP_OLD_ACK",
    "SKB_DROP_REASON_TCP_TOO_OLD_ACK",
    "SKB_DROP_REASON_TCP_ACK_UNSENT_DATA",
    "SKB_DROP_REASON_TCP_OFO_QUEUE_PRUNE",
    "SKB_DROP_REASON_TCP_OFO_DROP",
    "SKB_DROP_REASON_IP_OUTNOROUTES",
    "SKB_DROP_REASON_BPF_CGROUP_EGRESS",
    "SKB_DROP_REASON_IPV6DISABLED",
    "SKB_DROP_REASON_NEIGH_CREATEFAIL",
    "SKB_DROP_REASON_NEIGH_FAILED",
    "SKB_DROP_REASON_NEIGH_QUEUEFULL",
    "SKB_DROP_REASON_NEIGH_DEAD",
    "SKB_DROP_REASON_TC_EGRESS",
    "SKB_DROP_REASON_QDISC_DROP",
    "SKB_DROP_REASON_CPU_BACKLOG",
    "SKB_DROP_REASON_XDP",
    "SKB_DROP_REASON_TC_INGRESS",
    "SKB_DROP_REASON_UNHANDLED_PROTO",
    "SKB_DROP_REASON_SKB_CSUM",
    "SKB_DROP_REASON_SKB_GSO_SEG",
    "SKB_DROP_REASON_SKB_UCOPY_FAULT",
    "SKB_DROP_REASON_DEV_HDR",
    "SKB_DROP_REASON_DEV_READY",
    "SKB_DROP_REASON_FULL_RING",
    "SKB_DROP_REASON_NOMEM",
    "SKB_DROP_REASON_HDR_TRUNC",
    "SKB_DROP_REASON_TAP_FILTER",
    "SKB_DROP_REASON_TAP_TXFILTER",
    "SKB_DROP_REASON_ICMP_CSUM",
    "SKB_DROP_REASON_INVALID_PROTO",
    "SKB_DROP_REASON_IP_INADDRERRORS",
    "SKB_DROP_REASON_IP_INNOROUTES",
    "SKB_DROP_REASON_PKT_TOO_BIG",
    "SKB_DROP_REASON_DUP_FRAG",
    "SKB_DROP_REASON_FRAG_REASM_TIMEOUT",
    "SKB_DROP_REASON_FRAG_TOO_FAR",
    "SKB_DROP_REASON_TCP_MINTTL",
    "SKB_DROP_REASON_IPV6_BAD_EXTHDR",
    "SKB_DROP_REASON_IPV6_NDISC_FRAG",
    "SKB_DROP_REASON_IPV6_NDISC_HOP_LIMIT",
    "SKB_DROP_REASON_IPV6_NDISC_BAD_CODE",
    "SKB_DROP_REASON_IPV6_NDISC_BAD_OPTIONS",
    "SKB_DROP_REASON_IPV6_NDISC_NS_OTHERHOST",
    "SKB_DROP_REASON_QUEUE_PURGE",
    "SKB_DROP_REASON_TC_COOKIE_ERROR",
    "SKB_DROP_REASON_PACKET_SOCK_ERROR",
    "SKB_DROP_REASON_TC_CHAIN_NOTFOUND",
    "SKB_DROP_REASON_TC_RECLASSIFY_LOOP",
];

/// OVS drop reasons (`SKB_DROP_REASON_SUBSYS_OPENVSWITCH`, 3 << 16), index = value - base - 1.
const OVS_DROP_CAUSES: &[&str] = &[
    "OVS_DROP_LAST_ACTION",
    "OVS_DROP_ACTION_ERROR",
    "OVS_DROP_EXPLICIT",
    "OVS_DROP_EXPLICIT_WITH_ERROR",
    "OVS_DROP_METER",
    "OVS_DROP_RECURSION_LIMIT",
    "OVS_DROP_DEFERRED_LIMIT",
    "OVS_DROP_FRAG_L2_TOO_LONG",
    "OVS_DROP_FRAG_INVALID_PROTO",
    "OVS_DROP_CONNTRACK",
    "OVS_DROP_IP_TTL",
];

pub(super) const OVS_BASE: u32 = 3 << 16;

/// Network-event (OVN ACL drop) causes the agent reports as drop causes from 1 << 24, index =
/// value - base; upstream prefixes them with `NetworkEvent_`.
const NETWORK_EVENT_DROP_CAUSES: &[&str] = &[
    "NetworkEvent_Unknown",
    "NetworkEvent_EgressFirewall",
    "NetworkEvent_AdminNetworkPolicy",
    "NetworkEvent_BaselineAdminNetworkPolicy",
    "NetworkEvent_NetworkPolicy",
    "NetworkEvent_MulticastNS",
    "NetworkEvent_MulticastCluster",
    "NetworkEvent_NetpolNode",
    "NetworkEvent_NetpolNamespace",
    "NetworkEvent_UDNIsolation",
];

pub(super) const NETWORK_EVENT_BASE: u32 = 1 << 24;

/// Drop cause names: kernel core and OVS subsystems, and the agent's network-event causes;
/// anything else is `SKB_DROP_UNKNOWN_CAUSE`.
pub fn drop_cause_name(cause: u32) -> &'static str {
    if (2..CORE_DROP_CAUSES.len() as u32).contains(&cause) {
        CORE_DROP_CAUSES[cause as usize]
    } else if cause > OVS_BASE && cause <= OVS_BASE + OVS_DROP_CAUSES.len() as u32 {
        OVS_DROP_CAUSES[(cause - OVS_BASE - 1) as usize]
    } else if let Some(name) = cause
        .checked_sub(NETWORK_EVENT_BASE)
        .and_then(|i| NETWORK_EVENT_DROP_CAUSES.get(i as usize))
    {
        name
    } else {
        "SKB_DROP_UNKNOWN_CAUSE"
    }
}

pub(super) fn drop_cause_value(name: &str) -> Option<u32> {
    if let Some(p) = CORE_DROP_CAUSES.iter().position(|s| *s == name) {
        return Some(p as u32);
    }
    if let Some(p) = OVS_DROP_CAUSES.iter().position(|s| *s == name) {
        return Some(OVS_BASE + 1 + p as u32);
    }
    NETWORK_EVENT_DROP_CAUSES
        .iter()
        .position(|s| *s == name)
        .map(|p| NETWORK_EVENT_BASE + p as u32)
}

/// TLS protocol version names (Go's `tls.VersionName`); 0x0300 is SSL 3.0.
const TLS_VERSIONS: [&str; 5] = ["SSLv3", "TLS 1.0", "TLS 1.1", "TLS 1.2", "TLS 1.3"];

/// The `TLSVersion` upstream writes for a record's `ssl_version`: the version name, or `0x%04X`
/// for an unknown one, prefixed with `~ ` when the agent saw mismatching versions.
pub fn tls_version_name(version: u16, mismatch: bool) -> Cow<'static, str> {
    let name = match version.checked_sub(0x0300) {
        Some(i) if usize::from(i) < TLS_VERSIONS.len() => {
            Cow::Borrowed(TLS_VERSIONS[usize::from(i)])
        }
        _ => Cow::Owned(format!("0x{version:04X}")),
    };
    if mismatch {
        Cow::Owned(format!("~ {name}"))
    } else {
        name
    }
}

/// The cipher suites Go's `tls.CipherSuiteName` knows (its secure and insecure lists), by id.
pub(super) const CIPHER_SUITES: &[(u16, &str)] = &[
    (0x0005, "TLS_RSA_WITH_RC4_128_SHA"),
    (0x000a, "TLS_RSA_WITH_3DES_EDE_CBC_SHA"),
    (0x002f, "TLS_RSA_WITH_AES_128_CBC_SHA"),
    (0x0035, "TLS_RSA_WITH_AES_256_CBC_SHA"),
    (0x003c, "TLS_RSA_WITH_AES_128_CBC_SHA256"),
    (0x009c, "TLS_RSA_WITH_AES_128_GCM_SHA256"),
    (0x009d, "TLS_RSA_WITH_AES_256_GCM_SHA384"),
    (0x1301, "TLS_AES_128_GCM_SHA256"),
    (0x1302, "TLS_AES_256_GCM_SHA384"),
    (0x1303, "TLS_CHACHA20_POLY1305_SHA256"),
    (0xc007, "TLS_ECDHE_ECDSA_WITH_RC4_128_SHA"),
    (0xc009, "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA"),
    (0xc00a, "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA"),
    (0xc011, "TLS_ECDHE_RSA_WITH_RC4_128_SHA"),
    (0xc012, "TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA"),
    (0xc013, "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA"),
    (0xc014, "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA"),
    (0xc023, "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256"),
    (0xc027, "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256"),
    (0xc02b, "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"),
    (0xc02c, "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384"),
    (0xc02f, "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"),
    (0xc030, "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384"),
    (0xcca8, "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256"),
    (0xcca9, "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256"),
];

/// The `TLSCipherSuite` upstream writes: Go's `tls.CipherSuiteName`, `0x%04X` when unknown
/// (including `TLS_FALLBACK_SCSV`, which Go lists in neither table).
pub fn tls_cipher_suite_name(id: u16) -> Cow<'static, str> {
    match CIPHER_SUITES.binary_search_by_key(&id, |e| e.0) {
        Ok(i) => Cow::Borrowed(CIPHER_SUITES[i].1),
        Err(_) => Cow::Owned(format!("0x{id:04X}")),
    }
}

/// Key exchange group names, as Go 1.26's `tls.CurveID.String` (the toolchain upstream's images
/// build with; Go 1.24/1.25 name only 4588 of the hybrid groups).
pub(super) const TLS_GROUPS: &[(u16, &str)] = &[
    (23, "CurveP256"),
    (24, "CurveP384"),
    (25, "CurveP521"),
    (29, "X25519"),
    (4587, "SecP256r1MLKEM768"),
    (4588, "X25519MLKEM768"),
    (4589, "SecP384r1MLKEM1024"),
];

/// The `TLSGroup` upstream writes for a record's `tls_key_share`: the group name, or
/// `CurveID(<decimal>)` when unknown.
pub fn tls_group_name(id: u16) -> Cow<'static, str> {
    match TLS_GROUPS.binary_search_by_key(&id, |e| e.0) {
        Ok(i) => Cow::Borrowed(TLS_GROUPS[i].1),
        Err(_) => Cow::Owned(format!("CurveID({id})")),
    }
}

/// TLS record types the agent saw, one bit each from bit 0; bits 6 and 7 have no name.
const TLS_TYPES: [&str; 6] = [
    "ClientHello",
    "ServerHello",
    "OtherHandshake",
    "ChangeCipher",
    "Alert",
    "AppData",
];

/// The `TLSTypes` names of a record's `tls_types` bitfield, in bit order.
pub fn tls_type_names(bits: u8) -> impl Iterator<Item = &'static str> {
    TLS_TYPES
        .iter()
        .enumerate()
        .filter(move |(i, _)| bits & (1 << i) != 0)
        .map(|(_, name)| *name)
}

/// The `QuicVersion` upstream writes. Upstream maps 0 to v1 and 1 to v2 although the agent
/// stores the wire version (v1 is 0x00000001 on the wire); this follows upstream, so a wire v1
/// reads "QUIC v2".
pub fn quic_version_name(version: u32) -> Cow<'static, str> {
    match version {
        0 => Cow::Borrowed("QUIC v1"),
        1 => Cow::Borrowed("QUIC v2"),
        n => Cow::Owned(format!("QUIC Unknown ({n})")),
    }
}

/// The `DnsName` upstream writes for a record's `dns_name`: the agent's model keeps a name in a
/// 32-byte label buffer, so upstream keeps the leading non-empty labels that fit in 31 bytes
/// (one length byte each) and drops the rest; a label with a NUL byte ends the name before it.
/// Empty labels are skipped, so `a..b` reads `a.b`.
pub fn dns_name_kept(name: &str) -> Cow<'_, str> {
    let mut used = 0;
    let mut labels = name.split('.').filter(|l| !l.is_empty()).take_while(|l| {
        used += l.len() + 1;
        used <= 31 && !l.as_bytes().contains(&0)
    });
    let mut out = String::new();
    if let Some(first) = labels.next() {
        out.push_str(first);
    }
    for l in labels {
        out.push('.');
        out.push_str(l);
    }
    if out.len() == name.len() {
        Cow::Borrowed(name)
    } else {
        Cow::Owned(out)
    }
}

/// The `0x%04X` fallback read back.
fn hex_id(name: &str) -> Option<u16> {
    u16::from_str_radix(name.strip_prefix("0x")?, 16).ok()
}

/// The `ssl_version` and `ssl_mismatch` a `TLSVersion` name came from.
pub(super) fn tls_version_value(name: &str) -> Option<(u16, bool)> {
    let (name, mismatch) = match name.strip_prefix("~ ") {
        Some(rest) => (rest, true),
        None => (name, false),
    };
    let v = match TLS_VERSIONS.iter().position(|v| *v == name) {
        Some(i) => 0x0300 + i as u16,
        None => hex_id(name)?,
    };
    Some((v, mismatch))
}

/// The id a `TLSCipherSuite` name came from.
pub(super) fn tls_cipher_suite_value(name: &str) -> Option<u16> {
    CIPHER_SUITES
        .iter()
        .find(|e| e.1 == name)
        .map(|e| e.0)
        .or_else(|| hex_id(name))
}

/// The id a `TLSGroup` name came from.
pub(super) fn tls_group_value(name: &str) -> Option<u16> {
    TLS_GROUPS
        .iter()
        .find(|e| e.1 == name)
        .map(|e| e.0)
        .or_else(|| {
            name.strip_prefix("CurveID(")?
                .strip_suffix(')')?
                .parse()
                .ok()
        })
}

/// The bitfield `TLSTypes` names came from (unknown names are skipped).
pub(super) fn tls_types_value<S: AsRef<str>>(names: &[S]) -> u32 {
    names
        .iter()
        .filter_map(|n| TLS_TYPES.iter().position(|t| *t == n.as_ref()))
        .fold(0, |bits, i| bits | 1 << i)
}

/// The version a `QuicVersion` name came from.
pub(super) fn quic_version_value(name: &str) -> Option<u32> {
    match name {
        "QUIC v1" => Some(0),
        "QUIC v2" => Some(1),
        _ => name
            .strip_prefix("QUIC Unknown (")?
            .strip_suffix(')')?
            .parse()
            .ok(),
    }
}
