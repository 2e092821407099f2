/* Structs shared by the kernel programs and user space (mirrored in src/types.rs; keep the layout
 * tests there in step with any change here). Every field is naturally aligned with explicit
 * padding so the C and Rust layouts agree without packing. */
#ifndef NETOBSERV_FLOW_H
#define NETOBSERV_FLOW_H

#include <linux/types.h>
#include <linux/bpf.h>

#define DIRECTION_INGRESS 0
#define DIRECTION_EGRESS 1
/* An interface that saw the flow both ways (upstream's OBSERVED_DIRECTION_BOTH). */
#define DIRECTION_BOTH 3

/* NetObserv's pseudo flags, set when ACK comes with SYN, FIN or RST. */
#define TCP_FIN 0x01
#define TCP_SYN 0x02
#define TCP_RST 0x04
#define TCP_PSH 0x08
#define TCP_ACK 0x10
#define TCP_URG 0x20
#define TCP_ECE 0x40
#define TCP_CWR 0x80
#define TCP_SYN_ACK 0x100
#define TCP_FIN_ACK 0x200
#define TCP_RST_ACK 0x400

/* Interfaces besides the first one a flow is remembered on (upstream's MAX_OBSERVED_INTERFACES). */
#define MAX_OBSERVED 6
/* Longest DNS name the kernel copies (the agent's DNS_NAME_MAX_LEN may ask for less). */
#define DNS_NAME_CAP 64
/* Filter rules (upstream's MAX_FILTER_ENTRIES). */
#define MAX_FILTER_RULES 16

/* 44 bytes. Addresses are 16 bytes; IPv4 is stored IPv4-mapped (::ffff:a.b.c.d). Ports are in host
 * order; for ICMP they are zero and icmp_type/icmp_code are set. The interface and direction are
 * not part of the key: a flow crossing several interfaces of the host is one entry (dedup). */
struct flow_key {
    __u8 src_ip[16];
    __u8 dst_ip[16];
    __u16 eth_protocol;
    __u16 src_port;
    __u16 dst_port;
    __u8 proto;
    __u8 icmp_type;
    __u8 icmp_code;
    __u8 pad[3];
};

/* 88 bytes. Times are bpf_ktime_get_ns() (CLOCK_MONOTONIC). Bytes, packets, DSCP and sampling
 * count only packets seen on the first interface; other interfaces add themselves to `observed_*`
 * and move the end time and flags. */
struct flow_value {
    __u64 start_ns;
    __u64 end_ns;
    __u64 bytes;
    __u32 packets;
    __u16 flags;
    __u8 dscp;
    __u8 direction;
    __u8 src_mac[6];
    __u8 dst_mac[6];
    __u32 if_index;
    __u32 sampling;
    struct bpf_spin_lock lock;
    __u8 nb_observed;
    /* The positive errno of the failed insert that sent this flow through the ring buffer. */
    __u8 errno_;
    __u8 observed_direction[MAX_OBSERVED];
    __u32 observed_if_index[MAX_OBSERVED];
};

/* What goes through the ring buffer when the flow map refuses an insert (full). */
struct flow_record {
    struct flow_key key;
    __u32 pad;
    struct flow_value value;
};

/* Per-feature records, keyed by the flow's key; user space merges them into the flow at
 * eviction. */
struct dns_record {
    __u64 latency_ns;
    __u16 id;
    __u16 flags;
    __u8 errno_;
    __u8 pad[3];
    char name[DNS_NAME_CAP];
};

struct drop_record {
    __u64 bytes;
    __u32 packets;
    __u32 latest_cause;
    __u16 latest_flags;
    __u8 latest_state;
    __u8 pad[5];
};

struct rtt_record {
    /* The largest smoothed RTT seen, nanoseconds. */
    __u64 rtt_ns;
};

/* DNS queries waiting for their answer: who asked, to whom, which id. */
struct dns_query_key {
    __u8 src_ip[16];
    __u8 dst_ip[16];
    __u16 src_port;
    __u16 dst_port;
    __u16 id;
    __u8 proto;
    __u8 pad;
};

/* Filter rules, as an LPM trie on the rule's CIDR (`FLOW_FILTER_RULES`). */
struct filter_key {
    __u32 prefix_len;
    __u8 ip[16];
};

#define FILTER_ACCEPT 0
#define FILTER_REJECT 1

struct filter_rule {
    __u16 src_port_start;
    __u16 src_port_end;
    __u16 src_port1;
    __u16 src_port2;
    __u16 dst_port_start;
    __u16 dst_port_end;
    __u16 dst_port1;
    __u16 dst_port2;
    __u16 port_start;
    __u16 port_end;
    __u16 port1;
    __u16 port2;
    __u16 tcp_flags;
    __u8 proto;
    __u8 icmp_type;
    __u8 icmp_code;
    /* 0 ingress, 1 egress, 2 any */
    __u8 direction;
    __u8 action;
    __u8 drops_only;
    __u8 peer_cidr;
    __u8 pad[3];
    __u32 sample;
};

/* Counters user space reads from the `counters` per-CPU array. */
enum counter {
    /* Flows sent through the ring buffer because the map refused an insert. */
    COUNTER_RINGBUF_FALLBACK,
    /* Packets of new flows lost: the map was full and the ring buffer full or off. */
    COUNTER_RINGBUF_FULL,
    /* Inserts or updates of an existing flow that failed. */
    COUNTER_MAP_UPDATE_FAIL,
    COUNTER_FILTER_REJECT,
    COUNTER_FILTER_ACCEPT,
    COUNTER_FILTER_NOMATCH,
    COUNTER_DNS_FAIL,
    COUNTER_DROPS_FAIL,
    COUNTER_RTT_FAIL,
    /* A flow seen on more interfaces than MAX_OBSERVED + 1. */
    COUNTER_OBSERVED_FULL,
    COUNTER_MAX,
};

#endif
