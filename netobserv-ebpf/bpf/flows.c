/* Flow aggregation in TC: one classifier per direction parses the packet and adds it to the
 * `flows` hash map; user space reads and deletes the entries. The programs never change the
 * packet's fate: they return TC_ACT_UNSPEC (-1), which is TCX_NEXT on a TCX link and "continue"
 * on a clsact filter, so other programs on the same hook still run.
 *
 * A flow is keyed by its addresses, ports and protocol, not by the interface: the first interface
 * that sees it counts its bytes and packets, the others only add themselves to its list (dedup,
 * as upstream's agent). When the map refuses an insert (full), the packet goes to user space
 * through the `direct_flows` ring buffer and is aggregated there.
 *
 * Features, each switched by a constant user space sets at load time: sampling, filter rules
 * (filter.h), DNS tracking (dns.h); the tracepoint programs for drops (drops.h) and RTT (rtt.h)
 * are only loaded when asked for. */
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
#define EEXIST_ 17

/* Set by user space before load (EbpfLoader::override_global). */
volatile const __u32 sampling = 0;
volatile const __u8 filter_enabled = 0;
volatile const __u8 filter_has_sampling = 0;
volatile const __u8 dns_enabled = 0;
volatile const __u16 dns_port = 53;
volatile const __u8 dns_name_len = 0;
volatile const __u8 ringbuf_enabled = 1;
/* The running kernel's SKB_DROP_REASON_NOT_SPECIFIED: reasons above it are drops. */
volatile const __u32 drop_reason_not_specified = 2;

/* Not preallocated (as upstream): an entry user space deletes while a program still updates it
 * is freed after an RCU grace period, so the late update is lost rather than landing in the
 * entry of another flow that reused the slot. */
struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 100000);
    __uint(map_flags, BPF_F_NO_PREALLOC);
    __type(key, struct flow_key);
    __type(value, struct flow_value);
} flows SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_RINGBUF);
    __uint(max_entries, 1 << 20);
} direct_flows SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, COUNTER_MAX);
    __type(key, __u32);
    __type(value, __u64);
} counters SEC(".maps");

static __always_inline void count(__u32 which)
{
    __u64 *c = bpf_map_lookup_elem(&counters, &which);
    if (c)
        *c += 1;
}

/* What the parser learned of one packet. */
struct pkt {
    struct flow_key key;
    __u16 flags;
    __u8 dscp;
    __u8 direction;
    __u32 l4_off;
};

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

static __always_inline void parse_l4(void *l4, void *end, struct pkt *p)
{
    switch (p->key.proto) {
    case IPPROTO_TCP: {
        struct tcphdr *th = l4;
        if ((void *)(th + 1) > end)
            return;
        p->key.src_port = bpf_ntohs(th->source);
        p->key.dst_port = bpf_ntohs(th->dest);
        p->flags = tcp_flags(th);
        return;
    }
    case IPPROTO_UDP:
    case IPPROTO_SCTP_: {
        struct ports_ *ports = l4;
        if ((void *)(ports + 1) > end)
            return;
        p->key.src_port = bpf_ntohs(ports->src);
        p->key.dst_port = bpf_ntohs(ports->dst);
        return;
    }
    case IPPROTO_ICMP:
    case IPPROTO_ICMPV6: {
        struct icmp_ *ih = l4;
        if ((void *)(ih + 1) > end)
            return;
        p->key.icmp_type = ih->type;
        p->key.icmp_code = ih->code;
        return;
    }
    }
}

#include "filter.h"
#include "dns.h"
#include "kernel.h"
#include "drops.h"
#include "rtt.h"

/* Parses Ethernet (one VLAN tag), IPv4 / IPv6 and the transport ports. Returns the Ethernet
 * header, or NULL when the frame holds no whole IPv4 or IPv6 header (ARP, LLDP, a cut-off
 * packet): those are not flows, as upstream. */
static __always_inline struct ethhdr *parse(struct __sk_buff *skb, struct pkt *p)
{
    void *data = (void *)(long)skb->data;
    void *end = (void *)(long)skb->data_end;
    struct ethhdr *eth = data;

    if ((void *)(eth + 1) > end)
        return 0;
    __u16 proto = bpf_ntohs(eth->h_proto);
    void *l3 = eth + 1;
    if (proto == ETH_P_8021Q_ || proto == ETH_P_8021AD_) {
        struct vlan_hdr_ *vh = l3;
        if ((void *)(vh + 1) > end)
            return 0;
        proto = bpf_ntohs(vh->encapsulated_proto);
        l3 = vh + 1;
    }
    p->key.eth_protocol = proto;

    if (proto == ETH_P_IP) {
        struct iphdr *ip = l3;
        if ((void *)(ip + 1) > end)
            return 0;
        p->key.src_ip[10] = 0xff;
        p->key.src_ip[11] = 0xff;
        __builtin_memcpy(&p->key.src_ip[12], &ip->saddr, 4);
        p->key.dst_ip[10] = 0xff;
        p->key.dst_ip[11] = 0xff;
        __builtin_memcpy(&p->key.dst_ip[12], &ip->daddr, 4);
        p->key.proto = ip->protocol;
        p->dscp = ip->tos >> 2;
        void *l4 = (void *)ip + ip->ihl * 4;
        p->l4_off = l4 - data;
        parse_l4(l4, end, p);
    } else if (proto == ETH_P_IPV6) {
        struct ipv6hdr *ip6 = l3;
        if ((void *)(ip6 + 1) > end)
            return 0;
        __builtin_memcpy(p->key.src_ip, &ip6->saddr, 16);
        __builtin_memcpy(p->key.dst_ip, &ip6->daddr, 16);
        /* Extension headers are not walked: the next header is taken as the transport. */
        p->key.proto = ip6->nexthdr;
        p->dscp = ((ip6->priority << 4) | (ip6->flow_lbl[0] >> 4)) >> 2;
        p->l4_off = (void *)(ip6 + 1) - data;
        parse_l4(ip6 + 1, end, p);
    } else {
        return 0;
    }
    return eth;
}

/* Remembers that `if_index` saw the flow in `direction`; 1 when the list is full. */
static __always_inline int observe(struct flow_value *v, __u32 if_index, __u8 direction)
{
    __u8 n = v->nb_observed;
    for (int i = 0; i < MAX_OBSERVED; i++) {
        if (i >= n)
            break;
        if (v->observed_if_index[i] == if_index) {
            if (v->observed_direction[i] != direction)
                v->observed_direction[i] = DIRECTION_BOTH;
            return 0;
        }
    }
    if (n >= MAX_OBSERVED)
        return 1;
    v->observed_if_index[n] = if_index;
    v->observed_direction[n] = direction;
    v->nb_observed = n + 1;
    return 0;
}

/* Adds one packet to an existing entry: counters only on the interface that saw it first. */
static __always_inline void update(struct flow_value *v, const struct pkt *p, __u64 len,
                                   __u32 if_index, __u32 rate, __u64 now)
{
    int full = 0;
    bpf_spin_lock(&v->lock);
    if (v->if_index == if_index) {
        v->packets += 1;
        v->bytes += len;
        v->end_ns = now;
        v->flags |= p->flags;
        v->dscp = p->dscp;
        v->sampling = rate;
    } else {
        v->end_ns = now;
        v->flags |= p->flags;
        full = observe(v, if_index, p->direction);
    }
    bpf_spin_unlock(&v->lock);
    if (full)
        count(COUNTER_OBSERVED_FULL);
}

static __always_inline int record(struct __sk_buff *skb, __u8 direction)
{
    __u32 rate = sampling;
    /* Without per-rule rates, sample before parsing anything (as upstream). */
    if (!filter_has_sampling && rate > 1 && (bpf_get_prandom_u32() % rate) != 0)
        return TC_ACT_UNSPEC;
    struct pkt p = {};
    p.direction = direction;
    struct ethhdr *eth = parse(skb, &p);
    if (!eth)
        return TC_ACT_UNSPEC;
    if (filter_enabled) {
        if (!filter_keep(&p, 0, &rate))
            return TC_ACT_UNSPEC;
        if (filter_has_sampling && rate > 1 && (bpf_get_prandom_u32() % rate) != 0)
            return TC_ACT_UNSPEC;
    }

    __u64 now = bpf_ktime_get_ns();
    if (dns_enabled)
        dns_track(skb, &p, now);

    __u32 if_index = skb->ifindex;
    struct flow_value *v = bpf_map_lookup_elem(&flows, &p.key);
    if (v) {
        update(v, &p, skb->len, if_index, rate, now);
        return TC_ACT_UNSPEC;
    }

    struct flow_value nv = {};
    nv.start_ns = now;
    nv.end_ns = now;
    nv.bytes = skb->len;
    nv.packets = 1;
    nv.flags = p.flags;
    nv.dscp = p.dscp;
    nv.direction = direction;
    nv.if_index = if_index;
    nv.sampling = rate;
    __builtin_memcpy(nv.src_mac, eth->h_source, 6);
    __builtin_memcpy(nv.dst_mac, eth->h_dest, 6);
    long err = bpf_map_update_elem(&flows, &p.key, &nv, BPF_NOEXIST);
    if (err == 0)
        return TC_ACT_UNSPEC;
    if (err == -EEXIST_) {
        /* Another CPU inserted the key meanwhile: add to its entry. */
        v = bpf_map_lookup_elem(&flows, &p.key);
        if (v)
            update(v, &p, skb->len, if_index, rate, now);
        else
            count(COUNTER_MAP_UPDATE_FAIL);
        return TC_ACT_UNSPEC;
    }
    /* The map is full (or busy): hand the packet to user space. */
    if (!ringbuf_enabled) {
        count(COUNTER_RINGBUF_FULL);
        return TC_ACT_UNSPEC;
    }
    struct flow_record *r = bpf_ringbuf_reserve(&direct_flows, sizeof(*r), 0);
    if (!r) {
        count(COUNTER_RINGBUF_FULL);
        return TC_ACT_UNSPEC;
    }
    nv.errno_ = (__u8)(-err);
    r->key = p.key;
    r->pad = 0;
    r->value = nv;
    bpf_ringbuf_submit(r, 0);
    count(COUNTER_RINGBUF_FALLBACK);
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
