//! How a [`Flow`] is stored: hot scalars inline behind a presence mask, each side's Kubernetes
//! identity and the interface observations as shared `Arc`s, rare groups boxed out of line. The
//! catalogue (`catalogue.rs`) names each field's place; nothing outside this module reads the
//! layout, so it can change without touching callers. See `docs/flow-model-v2.md`.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use super::extra::Extra;
use super::{MacAddr, NetworkEvent, TcpFlags};

/// One network flow, in NetObserv's field catalogue. See the module docs of [`crate::flow`].
///
/// Fields are read and written through the generated accessors (`bytes()`, `set_bytes`,
/// `clear_bytes`, `with_bytes`, and `extra_*` for run-time fields), or by
/// [`FieldId`](super::FieldId) and name; the storage is private to the model.
#[derive(Clone)]
pub struct Flow {
    // One bit per inline field (the `[inline N]` entries of the catalogue). A field whose bit is
    // clear is absent, whatever its storage holds: equality and `Debug` go through the getters.
    pub(super) present: u32,
    pub(super) bytes: u64,
    pub(super) packets: u64,
    pub(super) time_flow_start_ms: i64,
    pub(super) time_flow_end_ms: i64,
    pub(super) time_received: i64,
    pub(super) time_flow_rtt_ns: i64,
    pub(super) sampling: u32,
    pub(super) etype: u16,
    pub(super) src_port: u16,
    pub(super) dst_port: u16,
    pub(super) flags: TcpFlags,
    pub(super) proto: u8,
    pub(super) dscp: u8,
    pub(super) icmp_type: u8,
    pub(super) icmp_code: u8,
    pub(super) flow_direction: u8,
    pub(super) if_direction: u8,
    pub(super) duplicate: bool,
    pub(super) src_addr: IpAddr,
    pub(super) dst_addr: IpAddr,
    pub(super) agent_ip: IpAddr,
    pub(super) src_mac: MacAddr,
    pub(super) dst_mac: MacAddr,
    pub(super) src_subnet_label: Option<Arc<str>>,
    pub(super) dst_subnet_label: Option<Arc<str>>,
    pub(super) k8s_flow_layer: Option<Arc<str>>,
    pub(super) ifaces: Option<Arc<Interfaces>>,
    pub(super) src_k8s: Option<Arc<K8sIdentity>>,
    pub(super) dst_k8s: Option<Arc<K8sIdentity>>,
    pub(super) dns: Option<Box<Dns>>,
    pub(super) rare: Option<Box<Rare>>,
    pub(super) conv: Option<Box<Conversation>>,
    pub(super) extra: Option<Box<Extra>>,
}

const NO_IP: IpAddr = IpAddr::V4(Ipv4Addr::UNSPECIFIED);

impl Default for Flow {
    fn default() -> Self {
        Flow {
            present: 0,
            bytes: 0,
            packets: 0,
            time_flow_start_ms: 0,
            time_flow_end_ms: 0,
            time_received: 0,
            time_flow_rtt_ns: 0,
            sampling: 0,
            etype: 0,
            src_port: 0,
            dst_port: 0,
            flags: TcpFlags::default(),
            proto: 0,
            dscp: 0,
            icmp_type: 0,
            icmp_code: 0,
            flow_direction: 0,
            if_direction: 0,
            duplicate: false,
            src_addr: NO_IP,
            dst_addr: NO_IP,
            agent_ip: NO_IP,
            src_mac: MacAddr::default(),
            dst_mac: MacAddr::default(),
            src_subnet_label: None,
            dst_subnet_label: None,
            k8s_flow_layer: None,
            ifaces: None,
            src_k8s: None,
            dst_k8s: None,
            dns: None,
            rare: None,
            conv: None,
            extra: None,
        }
    }
}

impl Flow {
    /// The memory this flow holds on its own, roughly: the struct, its boxed groups, the shared
    /// groups no other flow holds, and its run-time fields. Interned strings are not counted.
    /// Queues weigh batches by it.
    pub fn mem_size(&self) -> usize {
        use std::mem::size_of;
        fn alone<T>(g: &Option<Arc<T>>) -> usize {
            match g {
                Some(a) if Arc::strong_count(a) == 1 => size_of::<T>() + 16,
                _ => 0,
            }
        }
        size_of::<Flow>()
            + self.dns.as_ref().map_or(0, |_| size_of::<Dns>())
            + self.rare.as_ref().map_or(0, |_| size_of::<Rare>())
            + self.conv.as_ref().map_or(0, |_| size_of::<Conversation>())
            + self.extra.as_ref().map_or(0, |e| e.mem_size())
            + alone(&self.src_k8s)
            + alone(&self.dst_k8s)
            + alone(&self.ifaces)
    }
}

/// The Kubernetes identity of one side of a flow (`SrcK8S_*` or `DstK8S_*`): the object the
/// address belongs to, its owner, node and zone.
///
/// Enrichment hands out one shared `Arc` per endpoint ([`Flow::set_src_k8s`]), so tagging a flow
/// costs one reference-count write per side; editing one field of a flow's identity
/// (`set_src_k8s_zone`, a rename) copies it first, leaving other flows' copies untouched.
#[derive(Clone, Debug, Default, PartialEq)]
#[non_exhaustive]
pub struct K8sIdentity {
    /// `*K8S_HostIP`: the node's IP.
    pub host_ip: Option<IpAddr>,
    /// `*K8S_HostName`: the node's name.
    pub host_name: Option<Arc<str>>,
    /// `*K8S_Name`: the object's name.
    pub name: Option<Arc<str>>,
    /// `*K8S_Namespace`.
    pub namespace: Option<Arc<str>>,
    /// `*K8S_NetworkName`: secondary network or UDN.
    pub network_name: Option<Arc<str>>,
    /// `*K8S_OwnerName`.
    pub owner_name: Option<Arc<str>>,
    /// `*K8S_OwnerType`: owner kind (`Deployment`...).
    pub owner_type: Option<Arc<str>>,
    /// `*K8S_Type`: object kind (`Pod`, `Service`, `Node`).
    pub kind: Option<Arc<str>>,
    /// `*K8S_Zone`.
    pub zone: Option<Arc<str>>,
}

impl K8sIdentity {
    /// Whether no field is set.
    pub fn is_empty(&self) -> bool {
        *self == K8sIdentity::default()
    }
}

/// The interfaces a flow was seen on, with the direction and user-defined network of each
/// (`Interfaces`, `IfDirections`, `Udns`). Shared: a node has few distinct lists, and decoders
/// hand the same `Arc` to every flow with the same list.
#[derive(Clone, Debug, Default, PartialEq)]
#[non_exhaustive]
pub struct Interfaces {
    /// `Interfaces`.
    pub interfaces: Option<Vec<Arc<str>>>,
    /// `IfDirections`, parallel to `interfaces`.
    pub if_directions: Option<Vec<u8>>,
    /// `Udns`, parallel to `interfaces`.
    pub udns: Option<Vec<Arc<str>>>,
}

impl Interfaces {
    /// A list of observations: interface names with the direction (0 ingress, 1 egress) and
    /// user-defined network of each.
    pub fn new(interfaces: Vec<Arc<str>>, if_directions: Vec<u8>, udns: Vec<Arc<str>>) -> Self {
        Interfaces {
            interfaces: Some(interfaces),
            if_directions: Some(if_directions),
            udns: Some(udns),
        }
    }
}

/// DNS tracking fields, boxed: most flows have none.
#[derive(Clone, Debug, Default, PartialEq)]
pub(super) struct Dns {
    pub(super) dns_errno: Option<u32>,
    pub(super) dns_flags: Option<u16>,
    pub(super) dns_flags_response_code: Option<Arc<str>>,
    pub(super) dns_id: Option<u16>,
    pub(super) dns_latency_ms: Option<i64>,
    pub(super) dns_name: Option<Arc<str>>,
}

/// Drops, translation, IPsec, network events, TLS, QUIC and legacy fields, boxed: rare on a flow.
#[derive(Clone, Debug, Default, PartialEq)]
pub(super) struct Rare {
    pub(super) pkt_drop_bytes: Option<u64>,
    pub(super) pkt_drop_packets: Option<u64>,
    pub(super) pkt_drop_latest_flags: Option<u16>,
    pub(super) pkt_drop_latest_state: Option<Arc<str>>,
    pub(super) pkt_drop_latest_drop_cause: Option<Arc<str>>,
    pub(super) xlat_src_addr: Option<IpAddr>,
    pub(super) xlat_dst_addr: Option<IpAddr>,
    pub(super) xlat_src_port: Option<u16>,
    pub(super) xlat_dst_port: Option<u16>,
    pub(super) zone_id: Option<u16>,
    pub(super) ipsec_ret_code: Option<i32>,
    pub(super) ipsec_status: Option<Arc<str>>,
    pub(super) network_events: Option<Vec<NetworkEvent>>,
    pub(super) interface: Option<Arc<str>>,
    pub(super) k8s_cluster_name: Option<Arc<str>>,
    pub(super) tls_version: Option<Arc<str>>,
    pub(super) tls_types: Option<Vec<Arc<str>>>,
    pub(super) tls_cipher_suite: Option<Arc<str>>,
    pub(super) tls_group: Option<Arc<str>>,
    pub(super) quic_version: Option<Arc<str>>,
    pub(super) quic_seen_long_hdr: Option<u8>,
    pub(super) quic_seen_short_hdr: Option<u8>,
}

/// Conversation (conntrack) fields, boxed: only records a conntrack stage emits have them.
#[derive(Clone, Debug, Default, PartialEq)]
pub(super) struct Conversation {
    pub(super) hash_id: Option<Arc<str>>,
    pub(super) record_type: Option<Arc<str>>,
    pub(super) is_first: Option<bool>,
    pub(super) num_flow_logs: Option<u64>,
    pub(super) bytes_ab: Option<u64>,
    pub(super) bytes_ba: Option<u64>,
    pub(super) packets_ab: Option<u64>,
    pub(super) packets_ba: Option<u64>,
    pub(super) max_time_flow_rtt_ns: Option<i64>,
}

/// Reads and writes a field at its place. `get` gives `Option<&T>`; `put` takes `Option<T>`
/// (`None` clears).
macro_rules! place {
    (get $f:ident, [inline $bit:literal], $ident:ident) => {
        if $f.present & (1u32 << $bit) != 0 { Some(&$f.$ident) } else { None }
    };
    (get $f:ident, [opt], $ident:ident) => {
        $f.$ident.as_ref()
    };
    (get $f:ident, [boxed $g:ident], $ident:ident) => {
        match &$f.$g { Some(g) => g.$ident.as_ref(), None => None }
    };
    (get $f:ident, [shared $g:ident], $ident:ident) => {
        match &$f.$g { Some(g) => g.$ident.as_ref(), None => None }
    };
    (get $f:ident, [k8s $g:ident $m:ident], $ident:ident) => {
        match &$f.$g { Some(g) => g.$m.as_ref(), None => None }
    };
    (put $f:ident, [inline $bit:literal], $ident:ident, $v:expr) => {
        match $v {
            Some(v) => { $f.$ident = v; $f.present |= 1u32 << $bit; }
            None => $f.present &= !(1u32 << $bit),
        }
    };
    (put $f:ident, [opt], $ident:ident, $v:expr) => {
        $f.$ident = $v
    };
    (put $f:ident, [boxed $g:ident], $ident:ident, $v:expr) => {
        match $v {
            Some(v) => $f.$g.get_or_insert_with(Default::default).$ident = Some(v),
            None => if let Some(g) = &mut $f.$g { g.$ident = None },
        }
    };
    (put $f:ident, [shared $g:ident], $ident:ident, $v:expr) => {
        place!(put_shared $f, $g, $ident, $v)
    };
    (put $f:ident, [k8s $g:ident $m:ident], $ident:ident, $v:expr) => {
        place!(put_shared $f, $g, $m, $v)
    };
    (put_shared $f:ident, $g:ident, $m:ident, $v:expr) => {
        match $v {
            Some(v) => Arc::make_mut($f.$g.get_or_insert_with(super::share::fresh)).$m = Some(v),
            None => if let Some(g) = &mut $f.$g {
                if g.$m.is_some() { Arc::make_mut(g).$m = None; }
            },
        }
    };
}
pub(super) use place;
