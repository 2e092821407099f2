/* DNS tracking in TC: a query (QR=0) to or from `dns_port` over UDP or TCP remembers when it was
 * seen, keyed by who asked whom and the DNS id; its response (QR=1, addresses and ports swapped,
 * same id) gives the latency. As upstream's agent, the response's flow gets the id, the flags, the
 * latency and the first question's name in `dns_records`, which user space merges into the flow
 * at eviction; the query's flow gets nothing. */
#ifndef NETOBSERV_DNS_H
#define NETOBSERV_DNS_H

struct {
    __uint(type, BPF_MAP_TYPE_LRU_HASH);
    __uint(max_entries, 16384);
    __type(key, struct dns_query_key);
    __type(value, __u64);
} dns_queries SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 100000);
    __uint(map_flags, BPF_F_NO_PREALLOC);
    __type(key, struct flow_key);
    __type(value, struct dns_record);
} dns_records SEC(".maps");

struct dns_header_ {
    __be16 id;
    __be16 flags;
    __be16 qdcount;
    __be16 ancount;
    __be16 nscount;
    __be16 arcount;
};

/* Copies the first question's name as it is on the wire (length-prefixed labels), up to its
 * terminating zero or `dns_name_len` bytes; user space turns it into dotted text. */
static __always_inline void dns_name(struct __sk_buff *skb, __u32 off, struct dns_record *rec)
{
    __u32 next_len = 0;
    __u32 limit = dns_name_len;
    for (__u32 j = 0; j < DNS_NAME_CAP; j++) {
        if (j >= limit)
            break;
        __u8 c;
        if (bpf_skb_load_bytes(skb, off + j, &c, 1) < 0)
            break;
        if (j == next_len) {
            if (c == 0)
                break;
            next_len = j + c + 1;
        }
        rec->name[j] = c;
    }
}

static __always_inline void dns_track(struct __sk_buff *skb, const struct pkt *p, __u64 now)
{
    const struct flow_key *k = &p->key;
    if (k->src_port != dns_port && k->dst_port != dns_port && k->src_port != 53 && k->dst_port != 53)
        return;
    __u32 off = p->l4_off;
    if (k->proto == IPPROTO_UDP) {
        off += 8;
    } else if (k->proto == IPPROTO_TCP) {
        __u8 doff;
        /* Data offset: the high nibble of byte 12 of the TCP header. */
        if (bpf_skb_load_bytes(skb, off + 12, &doff, 1) < 0)
            return;
        /* DNS over TCP puts a two-byte length before the message. */
        off += (doff >> 4) * 4 + 2;
    } else {
        return;
    }
    struct dns_header_ h;
    if (bpf_skb_load_bytes(skb, off, &h, sizeof(h)) < 0)
        return;
    __u16 id = bpf_ntohs(h.id);
    __u16 flags = bpf_ntohs(h.flags);

    struct dns_query_key q = {};
    q.id = id;
    q.proto = k->proto;
    struct dns_record rec = {};
    rec.id = id;
    rec.flags = flags;
    if (!(flags & 0x8000)) {
        __builtin_memcpy(q.src_ip, k->src_ip, 16);
        __builtin_memcpy(q.dst_ip, k->dst_ip, 16);
        q.src_port = k->src_port;
        q.dst_port = k->dst_port;
        /* The first sighting wins (a query crossing two interfaces is seen twice). */
        bpf_map_update_elem(&dns_queries, &q, &now, BPF_NOEXIST);
        return;
    }
    {
        __builtin_memcpy(q.src_ip, k->dst_ip, 16);
        __builtin_memcpy(q.dst_ip, k->src_ip, 16);
        q.src_port = k->dst_port;
        q.dst_port = k->src_port;
        __u64 *asked = bpf_map_lookup_elem(&dns_queries, &q);
        if (asked) {
            rec.latency_ns = now - *asked;
            bpf_map_delete_elem(&dns_queries, &q);
        }
    }
    if (dns_name_len > 0 && h.qdcount != 0)
        dns_name(skb, off + sizeof(h), &rec);
    /* A response whose query was not found (it was matched on another interface the response
     * crossed first) must not overwrite the record that has the latency. */
    long err = bpf_map_update_elem(&dns_records, k, &rec, rec.latency_ns ? BPF_ANY : BPF_NOEXIST);
    if (err != 0 && err != -EEXIST_)
        count(COUNTER_DNS_FAIL);
}

#endif
