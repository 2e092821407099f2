/* Structs shared by the kernel programs and user space (mirrored in src/types.rs; keep the layout
 * tests there in step with any change here). Every field is naturally aligned with explicit
 * padding so the C and Rust layouts agree without packing. */
#ifndef NETOBSERV_FLOW_H
#define NETOBSERV_FLOW_H

#include <linux/types.h>
#include <linux/bpf.h>

#define DIRECTION_INGRESS 0
#define DIRECTION_EGRESS 1

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

/* 48 bytes. Addresses are 16 bytes; IPv4 is stored IPv4-mapped (::ffff:a.b.c.d). Ports are in host
 * order; for ICMP they are zero and icmp_type/icmp_code are set. */
struct flow_key {
    __u8 src_ip[16];
    __u8 dst_ip[16];
    __u16 eth_protocol;
    __u16 src_port;
    __u16 dst_port;
    __u8 proto;
    __u8 icmp_type;
    __u8 icmp_code;
    __u8 direction;
    __u8 pad[2];
    __u32 if_index;
};

/* 48 bytes. Times are bpf_ktime_get_ns() (CLOCK_MONOTONIC). */
struct flow_value {
    __u64 start_ns;
    __u64 end_ns;
    __u64 bytes;
    __u32 packets;
    __u16 flags;
    __u8 dscp;
    __u8 pad0;
    __u8 src_mac[6];
    __u8 dst_mac[6];
    struct bpf_spin_lock lock;
};

#endif
