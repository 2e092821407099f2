//! The field catalogue: one table from which the flow struct, field ids and per-field code are
//! generated. The model generates its part here; each codec generates its own per-field code from
//! the same table through [`with_catalogue`], so the table is written once and the model does not
//! depend on any codec.

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;

use super::extra::SlotKey;
use super::layout::{Flow, Interfaces, K8sIdentity, place};
use super::{FieldKind, FieldRef, MacAddr, NetworkEvent, Scalar, TcpFlags};
use crate::value::Value;

/// A value that a field could not take: the wrong type for a typed field.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("field {field}: cannot store {value} (expected {expected:?})")]
pub struct FieldTypeError {
    /// The field name.
    pub field: &'static str,
    /// The rejected value, as text.
    pub value: String,
    /// What the field stores.
    pub expected: FieldKind,
}

/// Calls the macro `$m` with the field table, one entry per catalogue field:
/// `$(#[doc = ...])* ident: Type => "JsonName", Variant, dictionary;`.
///
/// The types are written as the model imports them (`IpAddr`, `Arc<str>`, `MacAddr`, `TcpFlags`,
/// `NetworkEvent`): a module that expands the table must have those names in scope.
macro_rules! with_catalogue {
    ($m:ident) => {
        $m! {
            // Sorted by JSON name, bytewise (Go's map key order): the JSON writer relies on it.
            /// IP of the agent that observed the flow.
            agent_ip: IpAddr => "AgentIP", AgentIp, false, [inline 20];
            /// Number of bytes.
            bytes: u64 => "Bytes", Bytes, false, [inline 0];
            /// Bytes from A to B.
            bytes_ab: u64 => "Bytes_AB", BytesAb, false, [boxed conv];
            /// Bytes from B to A.
            bytes_ba: u64 => "Bytes_BA", BytesBa, false, [boxed conv];
            /// Error number from the DNS tracker.
            dns_errno: u32 => "DnsErrno", DnsErrno, false, [boxed dns];
            /// DNS header flags.
            dns_flags: u16 => "DnsFlags", DnsFlags, false, [boxed dns];
            /// DNS response code name.
            dns_flags_response_code: Arc<str> => "DnsFlagsResponseCode", DnsFlagsResponseCode, true, [boxed dns];
            /// DNS transaction id.
            dns_id: u16 => "DnsId", DnsId, false, [boxed dns];
            /// DNS request-to-response latency, milliseconds.
            dns_latency_ms: i64 => "DnsLatencyMs", DnsLatencyMs, false, [boxed dns];
            /// DNS query name.
            dns_name: Arc<str> => "DnsName", DnsName, false, [boxed dns];
            /// Differentiated Services Code Point.
            dscp: u8 => "Dscp", Dscp, false, [inline 12];
            /// Destination IP address (IPv4 or IPv6).
            dst_addr: IpAddr => "DstAddr", DstAddr, false, [inline 19];
            /// Destination node IP.
            dst_k8s_host_ip: IpAddr => "DstK8S_HostIP", DstK8sHostIp, false, [k8s dst_k8s host_ip];
            /// Destination node name.
            dst_k8s_host_name: Arc<str> => "DstK8S_HostName", DstK8sHostName, true, [k8s dst_k8s host_name];
            /// Destination Kubernetes object name.
            dst_k8s_name: Arc<str> => "DstK8S_Name", DstK8sName, false, [k8s dst_k8s name];
            /// Destination namespace.
            dst_k8s_namespace: Arc<str> => "DstK8S_Namespace", DstK8sNamespace, true, [k8s dst_k8s namespace];
            /// Destination network name.
            dst_k8s_network_name: Arc<str> => "DstK8S_NetworkName", DstK8sNetworkName, true, [k8s dst_k8s network_name];
            /// Destination owner name.
            dst_k8s_owner_name: Arc<str> => "DstK8S_OwnerName", DstK8sOwnerName, true, [k8s dst_k8s owner_name];
            /// Destination owner kind.
            dst_k8s_owner_type: Arc<str> => "DstK8S_OwnerType", DstK8sOwnerType, true, [k8s dst_k8s owner_type];
            /// Destination Kubernetes object kind.
            dst_k8s_type: Arc<str> => "DstK8S_Type", DstK8sType, true, [k8s dst_k8s kind];
            /// Destination zone.
            dst_k8s_zone: Arc<str> => "DstK8S_Zone", DstK8sZone, true, [k8s dst_k8s zone];
            /// Destination MAC address.
            dst_mac: MacAddr => "DstMac", DstMac, false, [inline 22];
            /// Destination port.
            dst_port: u16 => "DstPort", DstPort, false, [inline 9];
            /// Destination subnet label.
            dst_subnet_label: Arc<str> => "DstSubnetLabel", DstSubnetLabel, true, [opt];
            /// Whether the flow was also seen on another interface (older agents).
            duplicate: bool => "Duplicate", Duplicate, false, [inline 17];
            /// Ethernet type (ETH_P_*).
            etype: u16 => "Etype", Etype, false, [inline 7];
            /// TCP flags (number, or names after `decode_tcp_flags`).
            flags: TcpFlags => "Flags", Flags, false, [inline 10];
            /// Node-level flow direction: 0 ingress, 1 egress, 2 inner.
            flow_direction: u8 => "FlowDirection", FlowDirection, false, [inline 15];
            /// Kernel return code of the IPsec encryption or decryption.
            ipsec_ret_code: i32 => "IPSecRetCode", IpsecRetCode, false, [boxed rare];
            /// IPsec outcome: `success`, or `error` with a non-zero `IPSecRetCode`.
            ipsec_status: Arc<str> => "IPSecStatus", IpsecStatus, true, [boxed rare];
            /// ICMP code.
            icmp_code: u8 => "IcmpCode", IcmpCode, false, [inline 14];
            /// ICMP type.
            icmp_type: u8 => "IcmpType", IcmpType, false, [inline 13];
            /// Interface direction (older agents, or set by `reinterpret_direction`).
            if_direction: u8 => "IfDirection", IfDirection, false, [inline 16];
            /// Direction per interface (0 ingress, 1 egress), parallel to `Interfaces`.
            if_directions: Vec<u8> => "IfDirections", IfDirections, false, [shared ifaces];
            /// Single interface (older agents).
            interface: Arc<str> => "Interface", Interface, true, [boxed rare];
            /// Interfaces the flow was seen on.
            interfaces: Vec<Arc<str>> => "Interfaces", Interfaces, false, [shared ifaces];
            /// Cluster name.
            k8s_cluster_name: Arc<str> => "K8S_ClusterName", K8sClusterName, true, [boxed rare];
            /// Flow layer: `app` or `infra`.
            k8s_flow_layer: Arc<str> => "K8S_FlowLayer", K8sFlowLayer, true, [opt];
            /// Largest RTT seen in the conversation, nanoseconds.
            max_time_flow_rtt_ns: i64 => "MaxTimeFlowRttNs", MaxTimeFlowRttNs, false, [boxed conv];
            /// Network events (OVN ACL decisions and the like).
            network_events: Vec<NetworkEvent> => "NetworkEvents", NetworkEvents, false, [boxed rare];
            /// Number of packets.
            packets: u64 => "Packets", Packets, false, [inline 1];
            /// Packets from A to B.
            packets_ab: u64 => "Packets_AB", PacketsAb, false, [boxed conv];
            /// Packets from B to A.
            packets_ba: u64 => "Packets_BA", PacketsBa, false, [boxed conv];
            /// Bytes dropped by the kernel.
            pkt_drop_bytes: u64 => "PktDropBytes", PktDropBytes, false, [boxed rare];
            /// Kernel drop reason of the latest drop.
            pkt_drop_latest_drop_cause: Arc<str> => "PktDropLatestDropCause", PktDropLatestDropCause, true, [boxed rare];
            /// TCP flags of the latest dropped packet.
            pkt_drop_latest_flags: u16 => "PktDropLatestFlags", PktDropLatestFlags, false, [boxed rare];
            /// TCP state at the latest drop.
            pkt_drop_latest_state: Arc<str> => "PktDropLatestState", PktDropLatestState, true, [boxed rare];
            /// Packets dropped by the kernel.
            pkt_drop_packets: u64 => "PktDropPackets", PktDropPackets, false, [boxed rare];
            /// L4 protocol (IPPROTO_*).
            proto: u8 => "Proto", Proto, false, [inline 11];
            /// Whether the agent saw a QUIC long header (1) on the flow.
            quic_seen_long_hdr: u8 => "QuicSeenLongHdr", QuicSeenLongHdr, false, [boxed rare];
            /// Whether the agent saw a QUIC short header (1) on the flow.
            quic_seen_short_hdr: u8 => "QuicSeenShortHdr", QuicSeenShortHdr, false, [boxed rare];
            /// QUIC version name (`QUIC v1`, `QUIC v2`, `QUIC Unknown (n)`).
            quic_version: Arc<str> => "QuicVersion", QuicVersion, true, [boxed rare];
            /// Sampling rate the agent used (1 flow in N).
            sampling: u32 => "Sampling", Sampling, false, [inline 6];
            /// Source IP address (IPv4 or IPv6).
            src_addr: IpAddr => "SrcAddr", SrcAddr, false, [inline 18];
            /// Source node IP.
            src_k8s_host_ip: IpAddr => "SrcK8S_HostIP", SrcK8sHostIp, false, [k8s src_k8s host_ip];
            /// Source node name.
            src_k8s_host_name: Arc<str> => "SrcK8S_HostName", SrcK8sHostName, true, [k8s src_k8s host_name];
            /// Source Kubernetes object name.
            src_k8s_name: Arc<str> => "SrcK8S_Name", SrcK8sName, false, [k8s src_k8s name];
            /// Source namespace.
            src_k8s_namespace: Arc<str> => "SrcK8S_Namespace", SrcK8sNamespace, true, [k8s src_k8s namespace];
            /// Source network name (secondary networks, UDNs).
            src_k8s_network_name: Arc<str> => "SrcK8S_NetworkName", SrcK8sNetworkName, true, [k8s src_k8s network_name];
            /// Source owner name.
            src_k8s_owner_name: Arc<str> => "SrcK8S_OwnerName", SrcK8sOwnerName, true, [k8s src_k8s owner_name];
            /// Source owner kind.
            src_k8s_owner_type: Arc<str> => "SrcK8S_OwnerType", SrcK8sOwnerType, true, [k8s src_k8s owner_type];
            /// Source Kubernetes object kind (Pod, Service, Node).
            src_k8s_type: Arc<str> => "SrcK8S_Type", SrcK8sType, true, [k8s src_k8s kind];
            /// Source zone.
            src_k8s_zone: Arc<str> => "SrcK8S_Zone", SrcK8sZone, true, [k8s src_k8s zone];
            /// Source MAC address.
            src_mac: MacAddr => "SrcMac", SrcMac, false, [inline 21];
            /// Source port.
            src_port: u16 => "SrcPort", SrcPort, false, [inline 8];
            /// Source subnet label.
            src_subnet_label: Arc<str> => "SrcSubnetLabel", SrcSubnetLabel, true, [opt];
            /// TLS cipher suite name (`TLS_AES_128_GCM_SHA256`), or `0x%04X` when unknown.
            tls_cipher_suite: Arc<str> => "TLSCipherSuite", TlsCipherSuite, true, [boxed rare];
            /// TLS key exchange group (`X25519`, `CurveP256`), or `CurveID(n)` when unknown.
            tls_group: Arc<str> => "TLSGroup", TlsGroup, true, [boxed rare];
            /// TLS record types seen (`ClientHello`, `ServerHello`, `AppData`...).
            tls_types: Vec<Arc<str>> => "TLSTypes", TlsTypes, false, [boxed rare];
            /// TLS version (`TLS 1.3`), prefixed `~ ` when the two sides' versions differ.
            tls_version: Arc<str> => "TLSVersion", TlsVersion, true, [boxed rare];
            /// End of the flow, Unix milliseconds.
            time_flow_end_ms: i64 => "TimeFlowEndMs", TimeFlowEndMs, false, [inline 3];
            /// Smoothed TCP round-trip time, nanoseconds.
            time_flow_rtt_ns: i64 => "TimeFlowRttNs", TimeFlowRttNs, false, [inline 5];
            /// Start of the flow, Unix milliseconds.
            time_flow_start_ms: i64 => "TimeFlowStartMs", TimeFlowStartMs, false, [inline 2];
            /// When the collector received the flow, Unix seconds.
            time_received: i64 => "TimeReceived", TimeReceived, false, [inline 4];
            /// User-defined network per interface, parallel to `Interfaces`.
            udns: Vec<Arc<str>> => "Udns", Udns, false, [shared ifaces];
            /// Translated (NAT) destination address.
            xlat_dst_addr: IpAddr => "XlatDstAddr", XlatDstAddr, false, [boxed rare];
            /// Translated destination port.
            xlat_dst_port: u16 => "XlatDstPort", XlatDstPort, false, [boxed rare];
            /// Translated (NAT) source address.
            xlat_src_addr: IpAddr => "XlatSrcAddr", XlatSrcAddr, false, [boxed rare];
            /// Translated source port.
            xlat_src_port: u16 => "XlatSrcPort", XlatSrcPort, false, [boxed rare];
            /// Conntrack zone of the translation.
            zone_id: u16 => "ZoneId", ZoneId, false, [boxed rare];
            /// Conversation id.
            hash_id: Arc<str> => "_HashId", HashId, false, [boxed conv];
            /// Whether this is the first flow log of its conversation.
            is_first: bool => "_IsFirst", IsFirst, false, [boxed conv];
            /// Record type: flowLog, newConnection, heartbeat, endConnection.
            record_type: Arc<str> => "_RecordType", RecordType, true, [boxed conv];
            /// Number of flow logs aggregated in a conversation record.
            num_flow_logs: u64 => "numFlowLogs", NumFlowLogs, false, [boxed conv];
        }
    };
}
pub(crate) use with_catalogue;

macro_rules! flow_catalogue {
    ($( $(#[doc = $doc:literal])* $ident:ident : $ty:ty => $name:literal, $variant:ident, $dict:literal, $place:tt; )*) => {
        pastey::paste! {
            impl Flow {
                $(
                    $(#[doc = $doc])*
                    #[doc = concat!("\n\nJSON: `", $name, "`; `None` when absent.")]
                    #[inline]
                    pub fn $ident(&self) -> Option<<$ty as Scalar>::View<'_>> {
                        place!(get self, $place, $ident).map(Scalar::view)
                    }

                    #[doc = concat!("Sets `", $name, "`.")]
                    #[inline]
                    pub fn [<set_ $ident>](&mut self, v: $ty) {
                        place!(put self, $place, $ident, Some(v));
                    }

                    #[doc = concat!("Removes `", $name, "`.")]
                    #[inline]
                    pub fn [<clear_ $ident>](&mut self) {
                        place!(put self, $place, $ident, None::<$ty>);
                    }

                    #[doc = concat!("Returns the flow with `", $name, "` set.")]
                    #[inline]
                    #[must_use]
                    pub fn [<with_ $ident>](mut self, v: $ty) -> Self {
                        place!(put self, $place, $ident, Some(v));
                        self
                    }

                    // Codec hooks: the stored value by reference, for the per-field code the
                    // codecs generate from the table (JSON writer, Arrow columns) where a view
                    // would lose the storage type their traits are implemented for.
                    #[inline]
                    #[allow(dead_code)]
                    pub(crate) fn [<$ident _stored>](&self) -> Option<&$ty> {
                        place!(get self, $place, $ident)
                    }

                    // Codec hook: sets or clears from an `Option` read off the wire (JSON
                    // `deserialize_map`, Arrow column readers).
                    #[inline]
                    #[allow(dead_code)]
                    pub(crate) fn [<put_ $ident>](&mut self, v: Option<$ty>) {
                        place!(put self, $place, $ident, v);
                    }
                )*
            }

            impl PartialEq for Flow {
                fn eq(&self, other: &Flow) -> bool {
                    $( self.[<$ident _stored>]() == other.[<$ident _stored>]() && )*
                        self.extra_iter().eq(other.extra_iter())
                }
            }

            impl fmt::Debug for Flow {
                fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                    let mut d = f.debug_struct("Flow");
                    $( if let Some(v) = self.[<$ident _stored>]() { d.field(stringify!($ident), v); } )*
                    if self.extra_len() != 0 {
                        d.field("extra", &self.extra);
                    }
                    d.finish()
                }
            }
        }

        /// A catalogue field, resolved from its JSON name.
        #[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
        #[allow(missing_docs)]
        pub enum FieldId { $( $variant, )* }

        impl FieldId {
            /// Every catalogue field, in declaration order.
            pub const ALL: &'static [FieldId] = &[$(FieldId::$variant,)*];

            /// The JSON name.
            pub fn name(self) -> &'static str {
                match self { $(FieldId::$variant => $name,)* }
            }

            /// The field for a JSON name.
            pub fn from_name(name: &str) -> Option<FieldId> {
                match name { $($name => Some(FieldId::$variant),)* _ => None }
            }

            /// What the field stores.
            pub fn kind(self) -> FieldKind {
                match self { $(FieldId::$variant => <$ty as Scalar>::KIND,)* }
            }

            /// Whether the column is dictionary-encoded in Arrow (low-cardinality strings).
            pub fn dictionary(self) -> bool {
                match self { $(FieldId::$variant => $dict,)* }
            }
        }

        pastey::paste! {
            impl Flow {
                /// The value of a catalogue field.
                pub fn get_field(&self, id: FieldId) -> Option<Value> {
                    match id { $(FieldId::$variant => self.[<$ident _stored>]().map(Scalar::to_value),)* }
                }

                /// A borrowed view of a catalogue field.
                pub fn field_ref(&self, id: FieldId) -> Option<FieldRef<'_>> {
                    match id { $(FieldId::$variant => self.[<$ident _stored>]().map(Scalar::field_ref),)* }
                }

                /// Whether a catalogue field is present.
                pub fn has_field(&self, id: FieldId) -> bool {
                    match id { $(FieldId::$variant => self.[<$ident _stored>]().is_some(),)* }
                }

                /// Removes a catalogue field.
                pub fn clear_field(&mut self, id: FieldId) {
                    match id { $(FieldId::$variant => self.[<clear_ $ident>](),)* }
                }

                /// Sets a catalogue field from a dynamic value, converting when the types are
                /// compatible.
                pub fn set_field(&mut self, id: FieldId, value: &Value) -> Result<(), FieldTypeError> {
                    match id {
                        $(FieldId::$variant => {
                            if matches!(value, Value::Null) { self.[<clear_ $ident>](); return Ok(()); }
                            let v = <$ty as Scalar>::from_value(value).ok_or_else(|| FieldTypeError {
                                field: $name, value: value.to_string(), expected: <$ty as Scalar>::KIND,
                            })?;
                            self.[<set_ $ident>](v);
                        })*
                    }
                    Ok(())
                }

                /// Moves a catalogue field's value out, leaving it absent.
                pub fn take_field(&mut self, id: FieldId) -> Option<Value> {
                    let v = self.get_field(id);
                    self.clear_field(id);
                    v
                }
            }
        }
    };
}

with_catalogue!(flow_catalogue);

impl Flow {
    /// The source's Kubernetes identity (`SrcK8S_*`), shared with the other flows of the endpoint.
    #[inline]
    pub fn src_k8s(&self) -> Option<&Arc<K8sIdentity>> {
        self.src_k8s.as_ref()
    }

    /// Sets the source's Kubernetes identity: one reference-count write, whatever its size.
    #[inline]
    pub fn set_src_k8s(&mut self, identity: Arc<K8sIdentity>) {
        self.src_k8s = Some(identity);
    }

    /// Removes every `SrcK8S_*` field.
    #[inline]
    pub fn clear_src_k8s(&mut self) {
        self.src_k8s = None;
    }

    /// The destination's Kubernetes identity (`DstK8S_*`).
    #[inline]
    pub fn dst_k8s(&self) -> Option<&Arc<K8sIdentity>> {
        self.dst_k8s.as_ref()
    }

    /// Sets the destination's Kubernetes identity.
    #[inline]
    pub fn set_dst_k8s(&mut self, identity: Arc<K8sIdentity>) {
        self.dst_k8s = Some(identity);
    }

    /// Removes every `DstK8S_*` field.
    #[inline]
    pub fn clear_dst_k8s(&mut self) {
        self.dst_k8s = None;
    }

    /// The interface observations (`Interfaces`, `IfDirections`, `Udns`), shared between flows
    /// with the same list.
    #[inline]
    pub fn interface_list(&self) -> Option<&Arc<Interfaces>> {
        self.ifaces.as_ref()
    }

    /// Sets the interface observations at once (a decoder's cached list, say).
    #[inline]
    pub fn set_interface_list(&mut self, list: Arc<Interfaces>) {
        self.ifaces = Some(list);
    }
}

impl Flow {
    /// Reads any field by name: a catalogue field or a run-time one.
    pub fn get(&self, name: &str) -> Option<Value> {
        match FieldId::from_name(name) {
            Some(id) => self.get_field(id),
            None => self.extra_get(name).cloned(),
        }
    }

    /// Writes any field by name. A catalogue field must receive a value of a compatible type.
    pub fn set(&mut self, name: &str, value: Value) -> Result<(), FieldTypeError> {
        match FieldId::from_name(name) {
            Some(id) => self.set_field(id, &value),
            None => {
                self.extra_insert(name, value);
                Ok(())
            }
        }
    }

    /// A run-time field (one not in the catalogue) by name.
    #[inline]
    pub fn extra_get(&self, name: &str) -> Option<&Value> {
        self.extra.as_ref()?.get(name)
    }

    /// Sets a run-time field, returning its previous value. The name should not be a catalogue
    /// name (use [`Flow::set`] for any name).
    #[inline]
    pub fn extra_insert(&mut self, name: impl Into<Arc<str>>, value: Value) -> Option<Value> {
        self.extra
            .get_or_insert_with(Default::default)
            .insert(name.into(), value)
    }

    /// A run-time field by its configuration-time key.
    #[inline]
    pub fn slot_get(&self, key: SlotKey) -> Option<&Value> {
        self.extra.as_ref()?.slot(key)
    }

    /// Sets a run-time field by its configuration-time key, returning its previous value.
    #[inline]
    pub fn slot_set(&mut self, key: SlotKey, value: Value) -> Option<Value> {
        self.extra
            .get_or_insert_with(Default::default)
            .set_slot(key, value)
    }

    /// Removes a run-time field by its configuration-time key, returning its value.
    #[inline]
    pub fn slot_remove(&mut self, key: SlotKey) -> Option<Value> {
        self.extra.as_mut()?.remove_slot(key)
    }

    /// Removes a run-time field, returning its value.
    #[inline]
    pub fn extra_remove(&mut self, name: &str) -> Option<Value> {
        self.extra.as_mut()?.remove(name)
    }

    /// The run-time fields, sorted by name (bytewise).
    #[inline]
    pub fn extra_iter(&self) -> impl Iterator<Item = (&str, &Value)> + '_ {
        self.extra.iter().flat_map(|m| m.iter())
    }

    /// Number of run-time fields.
    #[inline]
    pub fn extra_len(&self) -> usize {
        self.extra.as_ref().map_or(0, |m| m.len())
    }

    /// Number of present fields (catalogue and run-time).
    pub fn len(&self) -> usize {
        FieldId::ALL.iter().filter(|f| self.has_field(**f)).count() + self.extra_len()
    }

    /// Whether no field is present.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Present fields with their values, in JSON key order.
    pub fn fields(&self) -> Vec<(Arc<str>, Value)> {
        // The catalogue is declared in JSON key order (a test checks it).
        let mut out: Vec<(Arc<str>, Value)> = FieldId::ALL
            .iter()
            .filter_map(|id| self.get_field(*id).map(|v| (Arc::from(id.name()), v)))
            .collect();
        out.extend(self.extra_iter().map(|(k, v)| (Arc::from(k), v.clone())));
        out.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
        out
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    #[test]
    fn names_resolve_both_ways_and_are_unique() {
        let mut seen = std::collections::HashSet::new();
        for id in FieldId::ALL {
            assert!(seen.insert(id.name()), "duplicate name {}", id.name());
            assert_eq!(FieldId::from_name(id.name()), Some(*id));
        }
        assert_eq!(
            FieldId::from_name("SrcK8S_Namespace"),
            Some(FieldId::SrcK8sNamespace)
        );
        assert_eq!(FieldId::from_name("srck8s_namespace"), None);
    }

    #[test]
    fn catalogue_is_declared_in_json_key_order() {
        // The JSON codec's object writer and `Flow::fields` rely on it: Go's bytewise map key
        // order.
        for w in FieldId::ALL.windows(2) {
            assert!(
                w[0].name().as_bytes() < w[1].name().as_bytes(),
                "{} is declared before {}",
                w[0].name(),
                w[1].name()
            );
        }
    }

    #[test]
    fn sorted_order_is_go_bytewise() {
        let names: Vec<_> = FieldId::ALL.iter().map(|f| f.name()).collect();
        let a = names.iter().position(|n| *n == "ZoneId").unwrap();
        let b = names.iter().position(|n| *n == "_HashId").unwrap();
        let c = names.iter().position(|n| *n == "numFlowLogs").unwrap();
        assert!(a < b && b < c, "upper case < '_' < lower case");
    }

    #[test]
    fn set_converts_compatible_values_and_rejects_others() {
        let mut f = Flow::default();
        f.set("Bytes", Value::Float(12.0)).unwrap();
        assert_eq!(f.bytes(), Some(12));
        f.set("SrcAddr", Value::str("10.0.0.1")).unwrap();
        assert_eq!(f.src_addr(), Some("10.0.0.1".parse().unwrap()));
        let err = f.set("SrcPort", Value::str("http")).unwrap_err();
        assert_eq!(err.field, "SrcPort");
        assert_eq!(f.src_port(), None);
        f.set("custom", Value::UInt(3)).unwrap();
        assert_eq!(f.get("custom"), Some(Value::UInt(3)));
    }

    #[test]
    fn accessors_read_write_and_clear() {
        let mut f = Flow::default()
            .with_bytes(7)
            .with_src_k8s_namespace("ns".into())
            .with_interfaces(vec!["eth0".into()]);
        assert_eq!(f.bytes(), Some(7));
        assert_eq!(f.src_k8s_namespace(), Some("ns"));
        assert_eq!(f.interfaces().map(|v| v.len()), Some(1));
        f.set_bytes(8);
        assert_eq!(f.get_field(FieldId::Bytes), Some(Value::UInt(8)));
        f.clear_bytes();
        assert_eq!(f.bytes(), None);
        assert_eq!(f.extra_insert("b", Value::UInt(1)), None);
        f.extra_insert("a", Value::UInt(2));
        let names: Vec<_> = f.extra_iter().map(|(k, _)| k).collect();
        assert_eq!(names, ["a", "b"]);
        assert_eq!(f.extra_len(), 2);
        assert_eq!(f.extra_get("a"), Some(&Value::UInt(2)));
        assert_eq!(f.extra_remove("a"), Some(Value::UInt(2)));
        assert_eq!(f.extra_get("a"), None);
    }

    /// A value of the field's kind, from a seed (`None` for kinds a dynamic value cannot build).
    fn sample(id: FieldId, seed: u64) -> Option<Value> {
        use std::net::Ipv4Addr;
        Some(match id.kind() {
            FieldKind::UInt(bits) => Value::UInt(seed & (u64::MAX >> (64 - u32::from(bits)))),
            FieldKind::Int(bits) => Value::Int((seed as i64) >> (64 - u32::from(bits))),
            FieldKind::Bool => Value::Bool(seed & 1 == 1),
            FieldKind::Ip => Value::Ip(IpAddr::V4(Ipv4Addr::from(seed as u32))),
            FieldKind::Mac => Value::Mac(MacAddr::from_u64(seed & 0xffff_ffff_ffff)),
            FieldKind::Str => Value::str(format!("s{}", seed % 5)),
            FieldKind::StrList => Value::List(vec![Value::str(format!("eth{}", seed % 3))]),
            FieldKind::U8List => Value::List(vec![Value::UInt(seed % 2)]),
            FieldKind::TcpFlags => Value::UInt(seed & 0x7ff),
            FieldKind::NetworkEvents => return None,
        })
    }

    proptest::proptest! {
        /// Setting or clearing one field by id never disturbs another, whatever its place
        /// (inline bit, shared identity, boxed group); flows with the same fields are equal
        /// however they were reached, so stale storage behind a cleared field never shows.
        #[test]
        fn set_and_clear_touch_one_field(ops in proptest::collection::vec((0..FieldId::ALL.len(), proptest::option::of(proptest::prelude::any::<u64>())), 0..60)) {
            let mut f = Flow::default();
            let mut model: BTreeMap<FieldId, Value> = BTreeMap::new();
            for (i, op) in ops {
                let id = FieldId::ALL[i];
                match op.and_then(|seed| sample(id, seed)) {
                    Some(v) => {
                        f.set_field(id, &v).unwrap();
                        let got = f.get_field(id);
                        proptest::prop_assert!(got.is_some(), "{} set but absent", id.name());
                        model.insert(id, got.unwrap());
                    }
                    None => {
                        f.clear_field(id);
                        model.remove(&id);
                    }
                }
                for other in FieldId::ALL {
                    proptest::prop_assert_eq!(f.get_field(*other), model.get(other).cloned(), "{}", other.name());
                }
            }
            let mut fresh = Flow::default();
            for (k, v) in f.fields() {
                fresh.set(&k, v).unwrap();
            }
            proptest::prop_assert_eq!(&fresh, &f);
            proptest::prop_assert_eq!(f.len(), model.len());
            proptest::prop_assert_eq!(&f.clone(), &f);
        }
    }

    #[test]
    fn flow_size_is_visible() {
        // Issue 7: a flow fits in four cache lines.
        let size = std::mem::size_of::<Flow>();
        println!("size_of::<Flow>() = {size}");
        assert!(size <= 256, "size_of::<Flow>() = {size}");
    }
}
