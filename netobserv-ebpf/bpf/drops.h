/* Packet drops from the kernel's `kfree_skb` tracepoint (tp_btf: no tracefs, no kprobes), with
 * upstream's rules: drop reasons above SKB_DROP_REASON_NOT_SPECIFIED only (its value is read from
 * the running kernel's BTF: 2 on current kernels, not on 5.17-6.0), packets that came
 * in on an interface (skb_iif > 1) only; the flow key is rebuilt from the packet's headers and
 * the drop added to `drop_records`, which user space merges into the flow (or emits as a flow of
 * its own when the flow map has no such key). */
#ifndef NETOBSERV_DROPS_H
#define NETOBSERV_DROPS_H

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 100000);
    __uint(map_flags, BPF_F_NO_PREALLOC);
    __type(key, struct flow_key);
    __type(value, struct drop_record);
} drop_records SEC(".maps");

SEC("tp_btf/kfree_skb")
int kfree_skb(unsigned long long *ctx)
{
    struct sk_buff *skb = (struct sk_buff *)ctx[0];
    __u32 reason = (__u32)ctx[2];
    if (!skb || reason <= drop_reason_not_specified)
        return 0;
    if (skb->skb_iif <= 1)
        return 0;
    struct pkt p = {};
    if (!skb_flow_key(skb, &p))
        return 0;
    if (!trace_keep(&p, reason))
        return 0;
    __u8 state = 0;
    struct sock *sk = skb->sk;
    if (sk)
        state = sk->__sk_common.skc_state;
    __u32 len = skb->len;

    struct drop_record *r = bpf_map_lookup_elem(&drop_records, &p.key);
    if (r) {
        __sync_fetch_and_add(&r->packets, 1);
        __sync_fetch_and_add(&r->bytes, len);
        r->latest_cause = reason;
        r->latest_flags = p.flags;
        r->latest_state = state;
        return 0;
    }
    struct drop_record nr = {};
    nr.packets = 1;
    nr.bytes = len;
    nr.latest_cause = reason;
    nr.latest_flags = p.flags;
    nr.latest_state = state;
    if (bpf_map_update_elem(&drop_records, &p.key, &nr, BPF_NOEXIST) != 0) {
        r = bpf_map_lookup_elem(&drop_records, &p.key);
        if (r) {
            __sync_fetch_and_add(&r->packets, 1);
            __sync_fetch_and_add(&r->bytes, len);
        } else {
            count(COUNTER_DROPS_FAIL);
        }
    }
    return 0;
}

#endif
