/* The few kernel structures the tracepoint programs read, declared with only the fields used:
 * `preserve_access_index` makes every access a CO-RE relocation, so the loader finds each field
 * at its offset in the running kernel's BTF (fields inside the kernel's anonymous unions and
 * structs are found by name). */
#ifndef NETOBSERV_KERNEL_H
#define NETOBSERV_KERNEL_H

struct sock_common {
    unsigned char skc_state;
} __attribute__((preserve_access_index));

struct sock {
    struct sock_common __sk_common;
} __attribute__((preserve_access_index));

struct tcp_sock {
    __u32 srtt_us;
} __attribute__((preserve_access_index));

struct sk_buff {
    struct sock *sk;
    unsigned int len;
    int skb_iif;
    __u16 transport_header;
    __u16 network_header;
    __u16 mac_header;
    __be16 protocol;
    unsigned char *head;
} __attribute__((preserve_access_index));

/* Rebuilds a flow key from a socket buffer's headers (IPv4 / IPv6, then TCP, UDP, SCTP or ICMP),
 * in the packet's own orientation, so it is the key TC gave the same packet. Returns 0 when the
 * buffer holds no IP packet. */
static __always_inline int skb_flow_key(struct sk_buff *skb, struct pkt *p)
{
    unsigned char *head = skb->head;
    __u16 net = skb->network_header;
    __u16 proto = bpf_ntohs(skb->protocol);
    __u32 l4;
    p->key.eth_protocol = proto;
    if (proto == ETH_P_IP) {
        struct iphdr ip;
        if (bpf_probe_read_kernel(&ip, sizeof(ip), head + net) < 0)
            return 0;
        p->key.src_ip[10] = 0xff;
        p->key.src_ip[11] = 0xff;
        __builtin_memcpy(&p->key.src_ip[12], &ip.saddr, 4);
        p->key.dst_ip[10] = 0xff;
        p->key.dst_ip[11] = 0xff;
        __builtin_memcpy(&p->key.dst_ip[12], &ip.daddr, 4);
        p->key.proto = ip.protocol;
        p->dscp = ip.tos >> 2;
        l4 = net + ip.ihl * 4;
    } else if (proto == ETH_P_IPV6) {
        struct ipv6hdr ip6;
        if (bpf_probe_read_kernel(&ip6, sizeof(ip6), head + net) < 0)
            return 0;
        __builtin_memcpy(p->key.src_ip, &ip6.saddr, 16);
        __builtin_memcpy(p->key.dst_ip, &ip6.daddr, 16);
        p->key.proto = ip6.nexthdr;
        l4 = net + sizeof(ip6);
    } else {
        return 0;
    }
    switch (p->key.proto) {
    case IPPROTO_TCP: {
        struct tcphdr th;
        if (bpf_probe_read_kernel(&th, sizeof(th), head + l4) < 0)
            return 0;
        p->key.src_port = bpf_ntohs(th.source);
        p->key.dst_port = bpf_ntohs(th.dest);
        p->flags = tcp_flags(&th);
        break;
    }
    case IPPROTO_UDP:
    case IPPROTO_SCTP_: {
        struct ports_ ports;
        if (bpf_probe_read_kernel(&ports, sizeof(ports), head + l4) < 0)
            return 0;
        p->key.src_port = bpf_ntohs(ports.src);
        p->key.dst_port = bpf_ntohs(ports.dst);
        break;
    }
    case IPPROTO_ICMP:
    case IPPROTO_ICMPV6: {
        struct icmp_ ih;
        if (bpf_probe_read_kernel(&ih, sizeof(ih), head + l4) < 0)
            return 0;
        p->key.icmp_type = ih.type;
        p->key.icmp_code = ih.code;
        break;
    }
    }
    return 1;
}

/* The sampling and filter decision of the tracepoint programs: the same rate and rules as TC,
 * with the direction taken as ingress (as upstream). */
static __always_inline int trace_keep(struct pkt *p, __u32 drop_cause)
{
    __u32 rate = sampling;
    if (filter_enabled && !filter_keep(p, drop_cause, &rate))
        return 0;
    return rate <= 1 || (bpf_get_prandom_u32() % rate) == 0;
}

#endif
