//! Flows back to `pbflow` records and messages.

use prost::Message;

use super::names::{
    drop_cause_value, quic_version_value, tcp_state_value, tls_cipher_suite_value, tls_group_value,
    tls_types_value, tls_version_value,
};
use super::proto::{
    DataLink, DupMapEntry, Duration, Ip, Network, PbNetworkEvent, Quic, Record, Records, Timestamp,
    Transport, Xlat,
};
use crate::flow::{Flow, MacAddr};

/// Builds the record a flow came from (the inverse of [`to_flow`](super::to_flow) for agent
/// fields).
pub fn from_flow(f: &Flow) -> Record {
    let ts = |ms: Option<i64>| {
        ms.map(|ms| Timestamp {
            seconds: ms.div_euclid(1000),
            nanos: (ms.rem_euclid(1000) * 1_000_000) as i32,
        })
    };
    let dur = |ns: i64| Duration {
        seconds: ns / 1_000_000_000,
        nanos: (ns % 1_000_000_000) as i32,
    };
    let ifaces = f.interfaces().unwrap_or_default();
    let dirs = f.if_directions().unwrap_or_default();
    let udns = f.udns().unwrap_or_default();
    let tls_version = f.tls_version().and_then(tls_version_value);
    let has_quic = f.quic_version().is_some()
        || f.quic_seen_long_hdr().is_some()
        || f.quic_seen_short_hdr().is_some();
    Record {
        eth_protocol: f.etype().map(u32::from).unwrap_or(0),
        direction: dirs.first().copied().map(i32::from).unwrap_or(0),
        time_flow_start: ts(f.time_flow_start_ms()),
        time_flow_end: ts(f.time_flow_end_ms()),
        data_link: Some(DataLink {
            src_mac: f.src_mac().map(MacAddr::to_u64).unwrap_or(0),
            dst_mac: f.dst_mac().map(MacAddr::to_u64).unwrap_or(0),
        }),
        network: Some(Network {
            src_addr: f.src_addr().map(Ip::from_ip),
            dst_addr: f.dst_addr().map(Ip::from_ip),
            dscp: f.dscp().map(u32::from).unwrap_or(0),
        }),
        transport: Some(Transport {
            src_port: f.src_port().map(u32::from).unwrap_or(0),
            dst_port: f.dst_port().map(u32::from).unwrap_or(0),
            protocol: f.proto().map(u32::from).unwrap_or(0),
        }),
        bytes: f.bytes().unwrap_or(0),
        packets: f.packets().unwrap_or(0),
        interface: ifaces.first().map(|s| s.to_string()).unwrap_or_default(),
        duplicate: f.duplicate().unwrap_or(false),
        agent_ip: f.agent_ip().map(Ip::from_ip),
        flags: f.flags().map(|fl| u32::from(fl.bits)).unwrap_or(0),
        icmp_type: f.icmp_type().map(u32::from).unwrap_or(0),
        icmp_code: f.icmp_code().map(u32::from).unwrap_or(0),
        pkt_drop_bytes: f.pkt_drop_bytes().unwrap_or(0),
        pkt_drop_packets: f.pkt_drop_packets().unwrap_or(0),
        pkt_drop_latest_flags: f.pkt_drop_latest_flags().map(u32::from).unwrap_or(0),
        pkt_drop_latest_state: f
            .pkt_drop_latest_state()
            .and_then(tcp_state_value)
            .unwrap_or(0),
        pkt_drop_latest_drop_cause: f
            .pkt_drop_latest_drop_cause()
            .and_then(drop_cause_value)
            .unwrap_or(0),
        dns_id: f.dns_id().map(u32::from).unwrap_or(0),
        dns_flags: f.dns_flags().map(u32::from).unwrap_or(0),
        dns_latency: f
            .dns_latency_ms()
            .map(|ms| dur(ms.saturating_mul(1_000_000))),
        time_flow_rtt: f.time_flow_rtt_ns().map(dur),
        dns_errno: f.dns_errno().unwrap_or(0),
        dup_list: ifaces
            .iter()
            .enumerate()
            .map(|(i, name)| DupMapEntry {
                interface: name.to_string(),
                direction: dirs.get(i).copied().map(i32::from).unwrap_or(0),
                udn: udns.get(i).map(|s| s.to_string()).unwrap_or_default(),
            })
            .collect(),
        network_events_metadata: f
            .network_events()
            .unwrap_or_default()
            .iter()
            .map(|e| PbNetworkEvent {
                events: e
                    .0
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            })
            .collect(),
        xlat: f.xlat_src_addr().map(|src| Xlat {
            src_addr: Some(Ip::from_ip(src)),
            dst_addr: f.xlat_dst_addr().map(Ip::from_ip),
            src_port: f.xlat_src_port().map(u32::from).unwrap_or(0),
            dst_port: f.xlat_dst_port().map(u32::from).unwrap_or(0),
            zone_id: f.zone_id().map(u32::from).unwrap_or(0),
        }),
        sampling: f.sampling().unwrap_or(0),
        ipsec_encrypted: u32::from(f.ipsec_status().is_some()),
        ipsec_encrypted_ret: f.ipsec_ret_code().unwrap_or(0),
        dns_name: f.dns_name().unwrap_or_default().to_string(),
        ssl_version: tls_version.map(|v| u32::from(v.0)).unwrap_or(0),
        ssl_mismatch: tls_version.is_some_and(|v| v.1),
        tls_types: f.tls_types().map(tls_types_value).unwrap_or(0),
        tls_cipher_suite: f
            .tls_cipher_suite()
            .and_then(tls_cipher_suite_value)
            .map(u32::from)
            .unwrap_or(0),
        tls_key_share: f
            .tls_group()
            .and_then(tls_group_value)
            .map(u32::from)
            .unwrap_or(0),
        quic: has_quic.then(|| Quic {
            version: f.quic_version().and_then(quic_version_value).unwrap_or(0),
            seen_long_hdr: f.quic_seen_long_hdr().map(u32::from).unwrap_or(0),
            seen_short_hdr: f.quic_seen_short_hdr().map(u32::from).unwrap_or(0),
        }),
    }
}

/// Encodes flows as a `pbflow.Records` message.
pub fn encode_records(flows: &[Flow]) -> Vec<u8> {
    Records {
        entries: flows.iter().map(from_flow).collect(),
    }
    .encode_to_vec()
}
