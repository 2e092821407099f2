//! The mapping from a record to a flow, as upstream's `pbflow.RecordToMap`.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use super::decode::{QuicView, RecordView, XlatView};
use super::names::{
    dns_name_kept, dns_rcode_name, drop_cause_name, quic_version_name, tcp_state_name,
    tls_cipher_suite_name, tls_group_name, tls_type_names, tls_version_name,
};
use super::proto::{Duration, Ip, Record, Timestamp};
use crate::flow::{Flow, Interfaces, MacAddr, NetworkEvent, TcpFlags, intern};

fn nanos((s, n): (i64, i32)) -> i64 {
    s.saturating_mul(1_000_000_000).saturating_add(i64::from(n))
}

impl<'a> RecordView<'a> {
    fn of(r: &'a Record) -> RecordView<'a> {
        let dl = r.data_link.unwrap_or_default();
        let net = r.network.as_ref();
        let tr = r.transport.unwrap_or_default();
        let t = |ts: Option<Timestamp>| ts.map(|t| (t.seconds, t.nanos)).unwrap_or_default();
        let d = |du: Option<Duration>| du.map(|d| (d.seconds, d.nanos)).unwrap_or_default();
        RecordView {
            eth_protocol: r.eth_protocol,
            direction: r.direction,
            start: t(r.time_flow_start),
            end: t(r.time_flow_end),
            src_mac: dl.src_mac,
            dst_mac: dl.dst_mac,
            src_addr: net.and_then(|n| n.src_addr.as_ref()).and_then(Ip::to_ip),
            dst_addr: net.and_then(|n| n.dst_addr.as_ref()).and_then(Ip::to_ip),
            dscp: net.map(|n| n.dscp).unwrap_or(0),
            src_port: tr.src_port,
            dst_port: tr.dst_port,
            protocol: tr.protocol,
            bytes: r.bytes,
            packets: r.packets,
            interface: &r.interface,
            agent_ip: r.agent_ip.as_ref().and_then(Ip::to_ip),
            flags: r.flags,
            icmp_type: r.icmp_type,
            icmp_code: r.icmp_code,
            pkt_drop_bytes: r.pkt_drop_bytes,
            pkt_drop_packets: r.pkt_drop_packets,
            pkt_drop_latest_flags: r.pkt_drop_latest_flags,
            pkt_drop_latest_state: r.pkt_drop_latest_state,
            pkt_drop_latest_drop_cause: r.pkt_drop_latest_drop_cause,
            dns_id: r.dns_id,
            dns_flags: r.dns_flags,
            dns_latency: d(r.dns_latency),
            rtt: d(r.time_flow_rtt),
            dns_errno: r.dns_errno,
            dup_list: r
                .dup_list
                .iter()
                .map(|e| (e.interface.as_str(), e.direction, e.udn.as_str()))
                .collect(),
            events: r
                .network_events_metadata
                .iter()
                .map(|e| {
                    e.events
                        .iter()
                        .map(|(k, v)| (k.as_str(), v.as_str()))
                        .collect()
                })
                .collect(),
            xlat: r.xlat.as_ref().map(|x| XlatView {
                src: x.src_addr.as_ref().and_then(Ip::to_ip),
                dst: x.dst_addr.as_ref().and_then(Ip::to_ip),
                src_port: x.src_port,
                dst_port: x.dst_port,
                zone_id: x.zone_id,
            }),
            sampling: r.sampling,
            ipsec_encrypted: r.ipsec_encrypted != 0,
            ipsec_ret: r.ipsec_encrypted_ret,
            dns_name: &r.dns_name,
            ssl_version: r.ssl_version,
            ssl_mismatch: r.ssl_mismatch,
            tls_types: r.tls_types,
            tls_cipher_suite: r.tls_cipher_suite,
            tls_key_share: r.tls_key_share,
            quic: r.quic.map(|q| QuicView {
                version: q.version,
                seen_long_hdr: q.seen_long_hdr,
                seen_short_hdr: q.seen_short_hdr,
            }),
        }
    }
}

fn millis((s, n): (i64, i32)) -> i64 {
    s.saturating_mul(1000)
        .saturating_add(i64::from(n) / 1_000_000)
}

fn small<T: TryFrom<u32> + Default>(v: u32) -> T {
    T::try_from(v).unwrap_or_default()
}

// Go's `net.IP(nil).String()` is "<nil>"; the agent always fills addresses, so an absent one is
// written as the unspecified address rather than an unparsable string.
const UNSPECIFIED: IpAddr = IpAddr::V4(Ipv4Addr::UNSPECIFIED);

/// Maps a record to a flow the way upstream's `RecordToMap` does.
pub fn to_flow(r: &Record, received_secs: i64) -> Flow {
    flow_from_view(&RecordView::of(r), received_secs)
}

/// The interface lists of recent records: a node's records repeat a handful of lists, so most
/// records get the shared [`Interfaces`] of an earlier one (one reference-count write) instead of
/// three vectors and their strings.
#[derive(Default)]
pub(super) struct Recent {
    lists: Vec<(Arc<Interfaces>, u32)>,
    clock: u32,
}

impl Recent {
    const SIZE: usize = 8;

    fn interfaces(&mut self, r: &RecordView<'_>) -> Arc<Interfaces> {
        let single = [(r.interface, r.direction, "")];
        let obs: &[(&str, i32, &str)] = if r.dup_list.is_empty() {
            &single
        } else {
            &r.dup_list
        };
        self.clock = self.clock.wrapping_add(1);
        let same = |l: &Interfaces| {
            let (Some(names), Some(dirs), Some(udns)) = (&l.interfaces, &l.if_directions, &l.udns)
            else {
                return false;
            };
            names.len() == obs.len()
                && obs.iter().enumerate().all(|(i, (name, dir, udn))| {
                    *names[i] == **name && dirs[i] == small::<u8>(*dir as u32) && *udns[i] == **udn
                })
        };
        if let Some(e) = self.lists.iter_mut().find(|e| same(&e.0)) {
            e.1 = self.clock;
            return e.0.clone();
        }
        let list = Arc::new(Interfaces::new(
            obs.iter().map(|o| intern(o.0)).collect(),
            obs.iter().map(|o| small(o.1 as u32)).collect(),
            obs.iter().map(|o| intern(o.2)).collect(),
        ));
        if self.lists.len() < Self::SIZE {
            self.lists.push((list.clone(), self.clock));
        } else if let Some(oldest) = self.lists.iter_mut().min_by_key(|e| e.1) {
            *oldest = (list.clone(), self.clock);
        }
        list
    }
}

pub(super) fn flow_from_view(r: &RecordView<'_>, received_secs: i64) -> Flow {
    let mut f = Flow::default();
    fill_flow(&mut f, r, received_secs, &mut Recent::default());
    f
}

/// Sets the fields of `f` (empty on entry) from a record: filling a flow already in place (the
/// last slot of the output) saves moving a whole [`Flow`] per record.
pub(super) fn fill_flow(f: &mut Flow, r: &RecordView<'_>, received_secs: i64, recent: &mut Recent) {
    f.set_src_mac(MacAddr::from_u64(r.src_mac));
    f.set_dst_mac(MacAddr::from_u64(r.dst_mac));
    f.set_etype(small(r.eth_protocol));
    f.set_time_flow_start_ms(millis(r.start));
    f.set_time_flow_end_ms(millis(r.end));
    f.set_time_received(received_secs);
    f.set_agent_ip(r.agent_ip.unwrap_or(UNSPECIFIED));
    f.set_interface_list(recent.interfaces(r));
    if r.bytes != 0 {
        f.set_bytes(r.bytes);
    }
    if r.packets != 0 {
        f.set_packets(r.packets);
    }
    if r.sampling != 0 {
        f.set_sampling(r.sampling);
    }
    // The TLS ids are 16-bit (the types 8-bit) in the agent's model: upstream truncates the
    // record's 32-bit values, then writes a key only when the truncated value is non-zero.
    let tls_version = r.ssl_version as u16;
    if tls_version != 0 {
        f.set_tls_version(intern(&tls_version_name(tls_version, r.ssl_mismatch)));
    }
    let tls_types = r.tls_types as u8;
    if tls_types != 0 {
        // Upstream writes `null` when only the unnamed bits 6 and 7 are set; a flow has no null,
        // so the key is left out then (JSON input reads `null` as absent too).
        let names: Vec<Arc<str>> = tls_type_names(tls_types).map(intern).collect();
        if !names.is_empty() {
            f.set_tls_types(names);
        }
    }
    let cipher = r.tls_cipher_suite as u16;
    if cipher != 0 {
        f.set_tls_cipher_suite(intern(&tls_cipher_suite_name(cipher)));
    }
    let group = r.tls_key_share as u16;
    if group != 0 {
        f.set_tls_group(intern(&tls_group_name(group)));
    }
    if r.eth_protocol == 0x0800 || r.eth_protocol == 0x86DD {
        f.set_src_addr(r.src_addr.unwrap_or(UNSPECIFIED));
        f.set_dst_addr(r.dst_addr.unwrap_or(UNSPECIFIED));
        f.set_proto(small(r.protocol));
        f.set_dscp(small(r.dscp));
        match r.protocol {
            1 | 58 => {
                f.set_icmp_type(small(r.icmp_type));
                f.set_icmp_code(small(r.icmp_code));
            }
            6 | 17 | 132 => {
                f.set_src_port(small(r.src_port));
                f.set_dst_port(small(r.dst_port));
                if r.protocol == 6 {
                    f.set_flags(TcpFlags::raw(small(r.flags)));
                }
            }
            _ => {}
        }
    }
    // The agent's model holds the DNS id and flags in 16 bits and the errno in 8: upstream
    // truncates the record's values and tests the truncated ones. The errno is written whatever
    // the id.
    let dns_errno = r.dns_errno as u8;
    if dns_errno != 0 {
        f.set_dns_errno(u32::from(dns_errno));
    }
    let dns_id = r.dns_id as u16;
    if dns_id != 0 {
        let flags = r.dns_flags as u16;
        f.set_dns_id(dns_id);
        f.set_dns_flags(flags);
        f.set_dns_flags_response_code(intern(dns_rcode_name(u32::from(flags & 0xF))));
        f.set_dns_latency_ms(nanos(r.dns_latency) / 1_000_000);
        let name = dns_name_kept(r.dns_name);
        if !name.is_empty() {
            f.set_dns_name(intern(&name));
        }
    }
    // Drops are written only with a drop cause, as upstream. Upstream's model holds the dropped
    // bytes and packets in 16 bits (the record's fields are 64-bit): a flow that dropped 70000
    // bytes reads 4464. Replicated so the output matches; the flags are 16-bit, the state 8-bit.
    if r.pkt_drop_latest_drop_cause != 0 {
        f.set_pkt_drop_bytes(u64::from(r.pkt_drop_bytes as u16));
        f.set_pkt_drop_packets(u64::from(r.pkt_drop_packets as u16));
        f.set_pkt_drop_latest_flags(r.pkt_drop_latest_flags as u16);
        f.set_pkt_drop_latest_state(intern(tcp_state_name(u32::from(
            r.pkt_drop_latest_state as u8,
        ))));
        f.set_pkt_drop_latest_drop_cause(intern(drop_cause_name(r.pkt_drop_latest_drop_cause)));
    }
    if let Some(x) = &r.xlat
        && let (Some(src), Some(dst)) = (x.src, x.dst)
        && !src.is_unspecified()
        && !dst.is_unspecified()
    {
        // The zone always, the ports only when non-zero, all 16-bit in the agent's model.
        f.set_zone_id(x.zone_id as u16);
        let (src_port, dst_port) = (x.src_port as u16, x.dst_port as u16);
        if src_port != 0 {
            f.set_xlat_src_port(src_port);
        }
        if dst_port != 0 {
            f.set_xlat_dst_port(dst_port);
        }
        f.set_xlat_src_addr(src);
        f.set_xlat_dst_addr(dst);
    }
    let rtt = nanos(r.rtt);
    if rtt != 0 {
        f.set_time_flow_rtt_ns(rtt);
    }
    if !r.events.is_empty() {
        f.set_network_events(
            r.events
                .iter()
                .map(|e| NetworkEvent(e.iter().map(|(k, v)| (intern(k), intern(v))).collect()))
                .collect(),
        );
    }
    // Written whenever the record has the QUIC message, even all zero.
    if let Some(q) = &r.quic {
        f.set_quic_version(intern(&quic_version_name(q.version)));
        f.set_quic_seen_long_hdr(q.seen_long_hdr as u8);
        f.set_quic_seen_short_hdr(q.seen_short_hdr as u8);
    }
    // A non-zero return code is an error whether or not the record says it was encrypted.
    if r.ipsec_ret != 0 {
        f.set_ipsec_ret_code(r.ipsec_ret);
        f.set_ipsec_status(intern("error"));
    } else if r.ipsec_encrypted {
        f.set_ipsec_ret_code(0);
        f.set_ipsec_status(intern("success"));
    }
}
