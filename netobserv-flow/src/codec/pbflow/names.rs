//! The names upstream gives to DNS response codes, TCP states and kernel drop causes.

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

const TCP_STATES: [&str; 12] = [
    "TCP_INVALID_STATE",
    "TCP_ESTABLISHED",
    "TCP_SYN_SENT",
    "TCP_SYN_RECV",
    "TCP_FIN_WAIT1",
    "TCP_FIN_WAIT2",
    "TCP_TIME_WAIT",
    "TCP_CLOSE",
    "TCP_CLOSE_WAIT",
    "TCP_LAST_ACK",
    "TCP_LISTEN",
    "TCP_CLOSING",
];

/// Kernel TCP state names (`include/net/tcp_states.h`); 12 is `TCP_NEW_SYN_RECV`.
pub fn tcp_state_name(state: u32) -> &'static str {
    match state {
        1..=11 => TCP_STATES[state as usize],
        12 => "TCP_NEW_SYN_RECV",
        _ => "TCP_INVALID_STATE",
    }
}

pub(super) fn tcp_state_value(name: &str) -> Option<u32> {
    if name == "TCP_NEW_SYN_RECV" {
        return Some(12);
    }
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

/// Kernel drop cause names, core and OVS subsystems; anything else is `SKB_DROP_UNKNOWN_CAUSE`.
pub fn drop_cause_name(cause: u32) -> &'static str {
    if (2..CORE_DROP_CAUSES.len() as u32).contains(&cause) {
        CORE_DROP_CAUSES[cause as usize]
    } else if cause > OVS_BASE && cause <= OVS_BASE + OVS_DROP_CAUSES.len() as u32 {
        OVS_DROP_CAUSES[(cause - OVS_BASE - 1) as usize]
    } else {
        "SKB_DROP_UNKNOWN_CAUSE"
    }
}

pub(super) fn drop_cause_value(name: &str) -> Option<u32> {
    if let Some(p) = CORE_DROP_CAUSES.iter().position(|s| *s == name) {
        return Some(p as u32);
    }
    OVS_DROP_CAUSES
        .iter()
        .position(|s| *s == name)
        .map(|p| OVS_BASE + 1 + p as u32)
}
