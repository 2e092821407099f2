/* Filter rules (`FLOW_FILTER_RULES`): one rule per CIDR in an LPM trie, looked up with the source
 * address, then with the destination address; the longest prefix wins. A rule that matches
 * accepts or rejects the packet; when rules exist, a packet no rule matches is not recorded (as
 * upstream's agent), except when a Reject rule's CIDR matched and another of its conditions
 * did not. IPv4 CIDRs are stored IPv4-mapped (prefix 96 + n), so they never match IPv6
 * addresses; 0.0.0.0/0 and ::/0 are prefix 0 and match everything. */
#ifndef NETOBSERV_FILTER_H
#define NETOBSERV_FILTER_H

#define FILTER_NONE 2

struct {
    __uint(type, BPF_MAP_TYPE_LPM_TRIE);
    __uint(max_entries, MAX_FILTER_RULES);
    __uint(map_flags, BPF_F_NO_PREALLOC);
    __type(key, struct filter_key);
    __type(value, struct filter_rule);
} filter_rules SEC(".maps");

/* Every rule's PeerIP / PeerCIDR, in one set (as upstream). */
struct {
    __uint(type, BPF_MAP_TYPE_LPM_TRIE);
    __uint(max_entries, MAX_FILTER_RULES);
    __uint(map_flags, BPF_F_NO_PREALLOC);
    __type(key, struct filter_key);
    __type(value, __u8);
} filter_peers SEC(".maps");

/* Single port or pair: `port` is one of start, p1, p2; range: start <= port <= end. No
 * condition when all are zero. */
static __always_inline int port_matches(__u16 port, __u16 start, __u16 end, __u16 p1, __u16 p2)
{
    if ((start != 0 && end == 0) || p1 != 0 || p2 != 0)
        return port == start || port == p1 || port == p2;
    if (start != 0 && end != 0)
        return port >= start && port <= end;
    return 1;
}

static __always_inline int either_port_matches(const struct flow_key *k,
                                               const struct filter_rule *r)
{
    if ((r->port_start != 0 && r->port_end == 0) || r->port1 != 0 || r->port2 != 0)
        return port_matches(k->src_port, r->port_start, 0, r->port1, r->port2) ||
               port_matches(k->dst_port, r->port_start, 0, r->port1, r->port2);
    if (r->port_start != 0 && r->port_end != 0)
        return port_matches(k->src_port, r->port_start, r->port_end, 0, 0) ||
               port_matches(k->dst_port, r->port_start, r->port_end, 0, 0);
    return 1;
}

/* Looks `addr` up; 0: no rule; 1: a rule without a usable action; 2: a rule set *action. The
 * conditions besides the CIDR turn a match back into 0. */
static __always_inline int filter_lookup(const struct flow_key *k, const __u8 *addr,
                                         const __u8 *peer, __u16 flags, __u8 direction,
                                         __u32 drop_cause, __u8 *action, __u32 *rate)
{
    struct filter_key fk = {.prefix_len = 128};
    __builtin_memcpy(fk.ip, addr, 16);
    struct filter_rule *r = bpf_map_lookup_elem(&filter_rules, &fk);
    if (!r)
        return 0;
    int result = 1;
    if (r->action != FILTER_NONE) {
        *action = r->action;
        result = 2;
    }
    if (r->peer_cidr) {
        struct filter_key pk = {.prefix_len = 128};
        __builtin_memcpy(pk.ip, peer, 16);
        if (!bpf_map_lookup_elem(&filter_peers, &pk)) {
            *action = FILTER_NONE;
            return 0;
        }
    }
    if (rate && r->sample)
        *rate = r->sample;
    if (r->proto != 0 && r->proto != k->proto)
        return 0;
    if (k->proto == IPPROTO_TCP || k->proto == IPPROTO_UDP || k->proto == IPPROTO_SCTP_) {
        if (!port_matches(k->dst_port, r->dst_port_start, r->dst_port_end, r->dst_port1,
                          r->dst_port2))
            return 0;
        if (!port_matches(k->src_port, r->src_port_start, r->src_port_end, r->src_port1,
                          r->src_port2))
            return 0;
        if (!either_port_matches(k, r))
            return 0;
        if (k->proto == IPPROTO_TCP && r->tcp_flags != 0 && r->tcp_flags != flags)
            return 0;
    } else if (k->proto == IPPROTO_ICMP || k->proto == IPPROTO_ICMPV6) {
        if (r->icmp_type != 0) {
            if (r->icmp_type != k->icmp_type)
                return 0;
            if (r->icmp_code != 0 && r->icmp_code != k->icmp_code)
                return 0;
        }
    }
    if (r->direction != FILTER_NONE && r->direction != direction)
        return 0;
    if (r->drops_only && drop_cause == 0)
        return 0;
    return result;
}

/* Whether the packet is recorded; `rate` may be replaced by the matching rule's sampling. */
static __always_inline int filter_keep(const struct pkt *p, __u32 drop_cause, __u32 *rate)
{
    const struct flow_key *k = &p->key;
    __u8 action = FILTER_NONE;
    int result = filter_lookup(k, k->src_ip, k->dst_ip, p->flags, p->direction, drop_cause,
                               &action, rate);
    if (result == 0)
        result = filter_lookup(k, k->dst_ip, k->src_ip, p->flags, p->direction, drop_cause,
                               &action, rate);
    if (result == 2) {
        if (action == FILTER_REJECT) {
            count(COUNTER_FILTER_REJECT);
            return 0;
        }
        count(COUNTER_FILTER_ACCEPT);
        return 1;
    }
    count(COUNTER_FILTER_NOMATCH);
    return action == FILTER_REJECT;
}

#endif
