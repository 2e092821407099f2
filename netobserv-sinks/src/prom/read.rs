//! Reading a field of a flow through its typed accessor.
//!
//! [`FieldPath::get_ref`] dispatches on the field id on every call; a stage that reads the same
//! fields of every flow resolves each to its accessor once ([`Reader::new`]), which reads the
//! field directly.

use std::net::IpAddr;

use netobserv_flow::field::FieldPath;
use netobserv_flow::flow::{FieldId, FieldRef, Flow};

/// How a field is read.
#[derive(Clone, Copy)]
enum Access {
    Str(for<'a> fn(&'a Flow) -> Option<&'a str>),
    UInt(fn(&Flow) -> Option<u64>),
    Int(fn(&Flow) -> Option<i64>),
    Ip(fn(&Flow) -> Option<IpAddr>),
    /// Any other field: through [`FieldPath::get_ref`].
    Path,
}

/// A field resolved to its accessor.
pub(crate) struct Reader {
    path: FieldPath,
    access: Access,
}

impl Reader {
    pub(crate) fn new(path: FieldPath) -> Reader {
        let access = match &path {
            FieldPath::Typed(id) => typed(*id).unwrap_or(Access::Path),
            _ => Access::Path,
        };
        Reader { path, access }
    }

    /// The field's value: what [`FieldPath::get_ref`] gives.
    #[inline]
    pub(crate) fn get_ref<'a>(&self, flow: &'a Flow) -> Option<FieldRef<'a>> {
        let v = match self.access {
            Access::Str(f) => f(flow).map(FieldRef::Str),
            Access::UInt(f) => f(flow).map(FieldRef::UInt),
            // As the catalogue's signed fields give them: non-negative values as unsigned.
            Access::Int(f) => f(flow).map(|v| match u64::try_from(v) {
                Ok(u) => FieldRef::UInt(u),
                Err(_) => FieldRef::Int(v),
            }),
            Access::Ip(f) => f(flow).map(FieldRef::Ip),
            Access::Path => return self.path.get_ref(flow),
        };
        match v {
            Some(v) => Some(v),
            // A value the typed field could not hold lives among the run-time fields.
            None if flow.extra_len() != 0 => self.path.get_ref(flow),
            None => None,
        }
    }
}

/// The accessor of a catalogue field of a scalar kind.
fn typed(id: FieldId) -> Option<Access> {
    use Access::{Int, Ip, Str, UInt};
    use FieldId as F;
    Some(match id {
        F::DnsFlagsResponseCode => Str(Flow::dns_flags_response_code),
        F::DnsName => Str(Flow::dns_name),
        F::DstK8sHostName => Str(Flow::dst_k8s_host_name),
        F::DstK8sName => Str(Flow::dst_k8s_name),
        F::DstK8sNamespace => Str(Flow::dst_k8s_namespace),
        F::DstK8sNetworkName => Str(Flow::dst_k8s_network_name),
        F::DstK8sOwnerName => Str(Flow::dst_k8s_owner_name),
        F::DstK8sOwnerType => Str(Flow::dst_k8s_owner_type),
        F::DstK8sType => Str(Flow::dst_k8s_type),
        F::DstK8sZone => Str(Flow::dst_k8s_zone),
        F::DstSubnetLabel => Str(Flow::dst_subnet_label),
        F::IpsecStatus => Str(Flow::ipsec_status),
        F::Interface => Str(Flow::interface),
        F::K8sClusterName => Str(Flow::k8s_cluster_name),
        F::K8sFlowLayer => Str(Flow::k8s_flow_layer),
        F::PktDropLatestDropCause => Str(Flow::pkt_drop_latest_drop_cause),
        F::PktDropLatestState => Str(Flow::pkt_drop_latest_state),
        F::QuicVersion => Str(Flow::quic_version),
        F::SrcK8sHostName => Str(Flow::src_k8s_host_name),
        F::SrcK8sName => Str(Flow::src_k8s_name),
        F::SrcK8sNamespace => Str(Flow::src_k8s_namespace),
        F::SrcK8sNetworkName => Str(Flow::src_k8s_network_name),
        F::SrcK8sOwnerName => Str(Flow::src_k8s_owner_name),
        F::SrcK8sOwnerType => Str(Flow::src_k8s_owner_type),
        F::SrcK8sType => Str(Flow::src_k8s_type),
        F::SrcK8sZone => Str(Flow::src_k8s_zone),
        F::SrcSubnetLabel => Str(Flow::src_subnet_label),
        F::TlsCipherSuite => Str(Flow::tls_cipher_suite),
        F::TlsGroup => Str(Flow::tls_group),
        F::TlsVersion => Str(Flow::tls_version),
        F::HashId => Str(Flow::hash_id),
        F::RecordType => Str(Flow::record_type),
        F::Bytes => UInt(Flow::bytes),
        F::BytesAb => UInt(Flow::bytes_ab),
        F::BytesBa => UInt(Flow::bytes_ba),
        F::DnsErrno => UInt(|f| f.dns_errno().map(u64::from)),
        F::DnsFlags => UInt(|f| f.dns_flags().map(u64::from)),
        F::DnsId => UInt(|f| f.dns_id().map(u64::from)),
        F::Dscp => UInt(|f| f.dscp().map(u64::from)),
        F::DstPort => UInt(|f| f.dst_port().map(u64::from)),
        F::Etype => UInt(|f| f.etype().map(u64::from)),
        F::FlowDirection => UInt(|f| f.flow_direction().map(u64::from)),
        F::IcmpCode => UInt(|f| f.icmp_code().map(u64::from)),
        F::IcmpType => UInt(|f| f.icmp_type().map(u64::from)),
        F::IfDirection => UInt(|f| f.if_direction().map(u64::from)),
        F::Packets => UInt(Flow::packets),
        F::PacketsAb => UInt(Flow::packets_ab),
        F::PacketsBa => UInt(Flow::packets_ba),
        F::PktDropBytes => UInt(Flow::pkt_drop_bytes),
        F::PktDropLatestFlags => UInt(|f| f.pkt_drop_latest_flags().map(u64::from)),
        F::PktDropPackets => UInt(Flow::pkt_drop_packets),
        F::Proto => UInt(|f| f.proto().map(u64::from)),
        F::QuicSeenLongHdr => UInt(|f| f.quic_seen_long_hdr().map(u64::from)),
        F::QuicSeenShortHdr => UInt(|f| f.quic_seen_short_hdr().map(u64::from)),
        F::Sampling => UInt(|f| f.sampling().map(u64::from)),
        F::SrcPort => UInt(|f| f.src_port().map(u64::from)),
        F::XlatDstPort => UInt(|f| f.xlat_dst_port().map(u64::from)),
        F::XlatSrcPort => UInt(|f| f.xlat_src_port().map(u64::from)),
        F::ZoneId => UInt(|f| f.zone_id().map(u64::from)),
        F::NumFlowLogs => UInt(Flow::num_flow_logs),
        F::DnsLatencyMs => Int(Flow::dns_latency_ms),
        F::IpsecRetCode => Int(|f| f.ipsec_ret_code().map(i64::from)),
        F::MaxTimeFlowRttNs => Int(Flow::max_time_flow_rtt_ns),
        F::TimeFlowEndMs => Int(Flow::time_flow_end_ms),
        F::TimeFlowRttNs => Int(Flow::time_flow_rtt_ns),
        F::TimeFlowStartMs => Int(Flow::time_flow_start_ms),
        F::TimeReceived => Int(Flow::time_received),
        F::AgentIp => Ip(Flow::agent_ip),
        F::DstAddr => Ip(Flow::dst_addr),
        F::DstK8sHostIp => Ip(Flow::dst_k8s_host_ip),
        F::SrcAddr => Ip(Flow::src_addr),
        F::SrcK8sHostIp => Ip(Flow::src_k8s_host_ip),
        F::XlatDstAddr => Ip(Flow::xlat_dst_addr),
        F::XlatSrcAddr => Ip(Flow::xlat_src_addr),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use netobserv_flow::flow::FieldKind;
    use netobserv_flow::value::Value;

    use super::*;

    /// A value of a field's kind, for the scalar kinds.
    fn sample(kind: FieldKind, seed: i64) -> Option<Value> {
        Some(match kind {
            FieldKind::UInt(bits) => {
                Value::UInt(seed.unsigned_abs() & (u64::MAX >> (64 - u32::from(bits))))
            }
            FieldKind::Int(bits) => Value::Int(seed >> (64 - u32::from(bits)).min(63)),
            FieldKind::Str => Value::str(format!("s{seed}")),
            FieldKind::Ip => Value::Ip(IpAddr::from([10, 0, 0, seed as u8])),
            _ => return None,
        })
    }

    #[test]
    fn readers_read_what_the_field_path_reads() {
        for id in FieldId::ALL {
            let reader = Reader::new(FieldPath::Typed(*id));
            let scalar = sample(id.kind(), 1).is_some();
            assert_eq!(
                !matches!(reader.access, Access::Path),
                scalar,
                "{}: every scalar field has an accessor, no other",
                id.name()
            );
            let empty = Flow::default();
            assert_eq!(reader.get_ref(&empty), None, "{}", id.name());
            for seed in [0, 7, -7, i64::MIN, i64::MAX] {
                let Some(v) = sample(id.kind(), seed) else {
                    continue;
                };
                let mut flow = Flow::default();
                flow.set_field(*id, &v).unwrap();
                let path = FieldPath::Typed(*id);
                assert_eq!(
                    reader.get_ref(&flow),
                    path.get_ref(&flow),
                    "{} = {v}",
                    id.name()
                );
                assert!(reader.get_ref(&flow).is_some(), "{}", id.name());
            }
            // A value the field cannot hold is kept among the run-time fields: read there.
            let mut flow = Flow::default();
            let odd = Value::List(vec![Value::UInt(1)]);
            FieldPath::Typed(*id).set(&mut flow, odd.clone());
            let path = FieldPath::Typed(*id);
            assert_eq!(reader.get_ref(&flow), path.get_ref(&flow), "{}", id.name());
        }
    }
}
