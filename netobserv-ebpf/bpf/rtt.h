/* TCP round-trip time without fentry or kprobes (this kind of kernel refuses both): the
 * `tcp_probe` tracepoint (tp_btf) fires in tcp_rcv_established for every segment a socket
 * receives, as upstream's fentry on that function does; the socket's smoothed RTT
 * (srtt_us >> 3, in microseconds) is kept, at its largest, for the received packet's flow key in
 * `rtt_records` (nanoseconds), which user space merges into the flow's TimeFlowRttNs. */
#ifndef NETOBSERV_RTT_H
#define NETOBSERV_RTT_H

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 100000);
    __uint(map_flags, BPF_F_NO_PREALLOC);
    __type(key, struct flow_key);
    __type(value, struct rtt_record);
} rtt_records SEC(".maps");

SEC("tp_btf/tcp_probe")
int tcp_probe(unsigned long long *ctx)
{
    struct sock *sk = (struct sock *)ctx[0];
    struct sk_buff *skb = (struct sk_buff *)ctx[1];
    if (!sk || !skb)
        return 0;
    if (skb->skb_iif <= 1)
        return 0;
    /* The tracepoint types its argument as `struct sock`; tcp_sock's fields lie beyond it, so
     * they are read with a probe (the offset still comes from the kernel's BTF). */
    struct tcp_sock *tp = (struct tcp_sock *)sk;
    __u32 srtt = 0;
    bpf_probe_read_kernel(&srtt, sizeof(srtt), __builtin_preserve_access_index(&tp->srtt_us));
    __u64 rtt = (__u64)(srtt >> 3) * 1000;
    if (rtt == 0)
        return 0;
    struct pkt p = {};
    if (!skb_flow_key(skb, &p) || p.key.proto != IPPROTO_TCP)
        return 0;
    if (!trace_keep(&p, 0))
        return 0;
    struct rtt_record *r = bpf_map_lookup_elem(&rtt_records, &p.key);
    if (r) {
        if (rtt > r->rtt_ns)
            r->rtt_ns = rtt;
        return 0;
    }
    struct rtt_record nr = {.rtt_ns = rtt};
    if (bpf_map_update_elem(&rtt_records, &p.key, &nr, BPF_NOEXIST) != 0) {
        r = bpf_map_lookup_elem(&rtt_records, &p.key);
        if (r) {
            if (rtt > r->rtt_ns)
                r->rtt_ns = rtt;
        } else {
            count(COUNTER_RTT_FAIL);
        }
    }
    return 0;
}

#endif
