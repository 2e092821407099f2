/* Flow aggregation in TC: one classifier per direction parses the packet and adds it to the
 * `flows` hash map; user space reads and deletes the entries. The programs never change the
 * packet's fate: they return TC_ACT_UNSPEC (-1), which is TCX_NEXT on a TCX link and "continue"
 * on a clsact filter, so other programs on the same hook still run. */
#include <linux/types.h>
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/in.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "flow.h"

#define VLAN_HLEN 4
#define ETH_P_8021Q_ 0x8100
#define ETH_P_8021AD_ 0x88A8
#define IPPROTO_SCTP_ 132

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 100000);
    __type(key, struct flow_key);
    __type(value, struct flow_value);
} flows SEC(".maps");

struct vlan_hdr_ {
    __be16 tci;
    __be16 encapsulated_proto;
};

/* The first two bytes of ICMP and ICMPv6 (linux/icmp.h pulls in libc headers). */
struct icmp_ {
    __u8 type;
    __u8 code;
};

/* Source and destination ports sit at the same offsets in TCP, UDP and SCTP. */
struct ports_ {
    __be16 src;
    __be16 dst;
};

static __always_inline __u16 tcp_flags(const struct tcphdr *th)
{
    /* As upstream: one flag per packet, the pseudo ACK combinations first. */
    if (th->ack && th->syn)
        return TCP_SYN_ACK;
    if (th->ack && th->fin)
        return TCP_FIN_ACK;
    if (th->ack && th->rst)
        return TCP_RST_ACK;
    if (th->fin)
        return TCP_FIN;
    if (th->syn)
        return TCP_SYN;
    if (th->ack)
        return TCP_ACK;
    if (th->rst)
        return TCP_RST;
    if (th->psh)
        return TCP_PSH;
    if (th->urg)
        return TCP_URG;
    if (th->ece)
        return TCP_ECE;
    if (th->cwr)
        return TCP_CWR;
    return 0;
}

static __always_inline void parse_l4(void *l4, void *end, struct flow_key *key, __u16 *flags)
{
    switch (key->proto) {
    case IPPROTO_TCP: {
        struct tcphdr *th = l4;
        if ((void *)(th + 1) > end)
            return;
        key->src_port = bpf_ntohs(th->source);
        key->dst_port = bpf_ntohs(th->dest);
        *flags = tcp_flags(th);
        return;
    }
    case IPPROTO_UDP:
    case IPPROTO_SCTP_: {
        struct ports_ *p = l4;
        if ((void *)(p + 1) > end)
            return;
        key->src_port = bpf_ntohs(p->src);
        key->dst_port = bpf_ntohs(p->dst);
        return;
    }
    case IPPROTO_ICMP:
    case IPPROTO_ICMPV6: {
        struct icmp_ *ih = l4;
        if ((void *)(ih + 1) > end)
            return;
        key->icmp_type = ih->type;
        key->icmp_code = ih->code;
        return;
    }
    }
}

static __always_inline int record(struct __sk_buff *skb, __u8 direction)
{
    void *data = (void *)(long)skb->data;
    void *end = (void *)(long)skb->data_end;
    struct ethhdr *eth = data;
    struct flow_key key = {};
    __u16 flags = 0;
    __u8 dscp = 0;

    if ((void *)(eth + 1) > end)
        return TC_ACT_UNSPEC;
    __u16 proto = bpf_ntohs(eth->h_proto);
    void *l3 = eth + 1;
    if (proto == ETH_P_8021Q_ || proto == ETH_P_8021AD_) {
        struct vlan_hdr_ *vh = l3;
        if ((void *)(vh + 1) > end)
            return TC_ACT_UNSPEC;
        proto = bpf_ntohs(vh->encapsulated_proto);
        l3 = vh + 1;
    }
    key.eth_protocol = proto;
    key.direction = direction;
    key.if_index = skb->ifindex;

    if (proto == ETH_P_IP) {
        struct iphdr *ip = l3;
        if ((void *)(ip + 1) > end)
            return TC_ACT_UNSPEC;
        key.src_ip[10] = 0xff;
        key.src_ip[11] = 0xff;
        __builtin_memcpy(&key.src_ip[12], &ip->saddr, 4);
        key.dst_ip[10] = 0xff;
        key.dst_ip[11] = 0xff;
        __builtin_memcpy(&key.dst_ip[12], &ip->daddr, 4);
        key.proto = ip->protocol;
        dscp = ip->tos >> 2;
        parse_l4((void *)ip + ip->ihl * 4, end, &key, &flags);
    } else if (proto == ETH_P_IPV6) {
        struct ipv6hdr *ip6 = l3;
        if ((void *)(ip6 + 1) > end)
            return TC_ACT_UNSPEC;
        __builtin_memcpy(key.src_ip, &ip6->saddr, 16);
        __builtin_memcpy(key.dst_ip, &ip6->daddr, 16);
        /* Extension headers are not walked: the next header is taken as the transport. */
        key.proto = ip6->nexthdr;
        dscp = ((ip6->priority << 4) | (ip6->flow_lbl[0] >> 4)) >> 2;
        parse_l4(ip6 + 1, end, &key, &flags);
    }

    __u64 now = bpf_ktime_get_ns();
    struct flow_value *v = bpf_map_lookup_elem(&flows, &key);
    if (v) {
        bpf_spin_lock(&v->lock);
        v->packets += 1;
        v->bytes += skb->len;
        v->flags |= flags;
        v->end_ns = now;
        v->dscp = dscp;
        bpf_spin_unlock(&v->lock);
        return TC_ACT_UNSPEC;
    }

    struct flow_value nv = {};
    nv.start_ns = now;
    nv.end_ns = now;
    nv.bytes = skb->len;
    nv.packets = 1;
    nv.flags = flags;
    nv.dscp = dscp;
    __builtin_memcpy(nv.src_mac, eth->h_source, 6);
    __builtin_memcpy(nv.dst_mac, eth->h_dest, 6);
    /* BPF_NOEXIST: if another CPU inserted the key meanwhile, add to its entry instead. */
    if (bpf_map_update_elem(&flows, &key, &nv, BPF_NOEXIST) != 0) {
        v = bpf_map_lookup_elem(&flows, &key);
        if (v) {
            bpf_spin_lock(&v->lock);
            v->packets += 1;
            v->bytes += skb->len;
            v->flags |= flags;
            v->end_ns = now;
            bpf_spin_unlock(&v->lock);
        }
    }
    return TC_ACT_UNSPEC;
}

SEC("classifier")
int tc_ingress(struct __sk_buff *skb)
{
    return record(skb, DIRECTION_INGRESS);
}

SEC("classifier")
int tc_egress(struct __sk_buff *skb)
{
    return record(skb, DIRECTION_EGRESS);
}

char _license[] SEC("license") = "GPL";
