//! The parts of Kubernetes objects that enrichment needs, and nothing else: what a reflector
//! keeps of a `Pod`, `Service`, `Node`, `ReplicaSet` or `Job`.

use std::net::IpAddr;
use std::sync::Arc;

use netobserv_flow::flow::MacAddr;

use crate::identity::{ObjectTags, SecondaryIndex, SecondaryKey};

/// One entry of `metadata.ownerReferences`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OwnerRef {
    /// `kind`: `ReplicaSet`, `Job`, `StatefulSet`, `DaemonSet`, `CronJob`, `Deployment`...
    pub kind: Arc<str>,
    /// `name`, in the namespace of the owned object.
    pub name: Arc<str>,
}

impl OwnerRef {
    /// An owner reference of `kind` named `name`.
    pub fn new(kind: &str, name: &str) -> Self {
        Self {
            kind: kind.into(),
            name: name.into(),
        }
    }
}

/// Metadata of an object known only as an owner step (`ReplicaSet`, `Job`, `Deployment`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Meta {
    /// `metadata.namespace`.
    pub namespace: Arc<str>,
    /// `metadata.name`.
    pub name: Arc<str>,
    /// `metadata.uid`.
    pub uid: Arc<str>,
    /// `metadata.ownerReferences`, in order (the first one counts, as upstream).
    pub owners: Vec<OwnerRef>,
}

impl Meta {
    /// Metadata of `namespace/name` with `uid` and no owner.
    pub fn new(namespace: &str, name: &str, uid: &str) -> Self {
        Self {
            namespace: namespace.into(),
            name: name.into(),
            uid: uid.into(),
            owners: Vec::new(),
        }
    }

    /// Adds an owner reference.
    pub fn with_owner(mut self, kind: &str, name: &str) -> Self {
        self.owners.push(OwnerRef::new(kind, name));
        self
    }
}

/// What enrichment keeps of a `Pod`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Pod {
    /// Namespace, name, uid and owner references.
    pub meta: Meta,
    /// `status.podIPs`, IPv4 and IPv6.
    pub ips: Vec<IpAddr>,
    /// `status.hostIP`: the node's IP.
    pub host_ip: Option<IpAddr>,
    /// `spec.nodeName`.
    pub node_name: Option<Arc<str>>,
    /// `spec.hostNetwork`: the pod's IPs are its node's, and resolve to the node.
    pub host_network: bool,
    /// Labels and annotations, when kept (a rule copies them).
    pub tags: Option<Arc<ObjectTags>>,
    /// Its interfaces on secondary networks (Multus), when read (secondary networks are
    /// configured).
    pub networks: Vec<PodNetwork>,
}

impl Pod {
    /// A pod with `meta` and `ips`, not yet scheduled.
    pub fn new(meta: Meta, ips: impl IntoIterator<Item = IpAddr>) -> Self {
        Self {
            meta,
            ips: ips.into_iter().collect(),
            ..Self::default()
        }
    }

    /// Scheduled on `node_name` whose IP is `host_ip`.
    pub fn on_node(mut self, node_name: &str, host_ip: IpAddr) -> Self {
        self.node_name = Some(node_name.into());
        self.host_ip = Some(host_ip);
        self
    }

    /// Sets `spec.hostNetwork`.
    pub fn with_host_network(mut self, host_network: bool) -> Self {
        self.host_network = host_network;
        self
    }

    /// Adds an interface on a secondary network.
    pub fn with_network(mut self, network: PodNetwork) -> Self {
        self.networks.push(network);
        self
    }
}

/// A pod's interface on a secondary network: an entry of its
/// `k8s.v1.cni.cncf.io/network-status` annotation (Multus) that is not the default network.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PodNetwork {
    /// `name`: the network (`namespace/network-attachment-definition`), written as the flow's
    /// `<output>_NetworkName`.
    pub name: Arc<str>,
    /// `interface`: the interface's name in the pod (`net1`).
    pub interface: Option<Arc<str>>,
    /// `ips`.
    pub ips: Vec<IpAddr>,
    /// `mac`.
    pub mac: Option<MacAddr>,
}

impl PodNetwork {
    /// The interface `interface` on network `name`, with no address yet.
    pub fn new(name: &str, interface: &str) -> Self {
        Self {
            name: name.into(),
            interface: (!interface.is_empty()).then(|| Arc::from(interface)),
            ips: Vec::new(),
            mac: None,
        }
    }

    /// Sets the addresses.
    pub fn with_ips(mut self, ips: impl IntoIterator<Item = IpAddr>) -> Self {
        self.ips = ips.into_iter().collect();
        self
    }

    /// Sets the MAC address.
    pub fn with_mac(mut self, mac: MacAddr) -> Self {
        self.mac = Some(mac);
        self
    }

    /// Appends the keys `index` gives this interface, as upstream's Multus handler: the parts
    /// `index` names, one key per address when it names `ip`; none when the interface lacks a
    /// part `index` names.
    pub fn keys(&self, index: SecondaryIndex, out: &mut Vec<SecondaryKey>) {
        if index.is_empty()
            || (index.mac && self.mac.is_none())
            || (index.interface && self.interface.is_none())
            || (index.ip && self.ips.is_empty())
        {
            return;
        }
        let key = |ip: Option<IpAddr>| SecondaryKey {
            interface: self.interface.clone().filter(|_| index.interface),
            ip: ip.map(|ip| ip.to_canonical()),
            mac: self.mac.filter(|_| index.mac),
        };
        if index.ip {
            out.extend(self.ips.iter().map(|ip| key(Some(*ip))));
        } else {
            out.push(key(None));
        }
    }
}

/// What enrichment keeps of a `Service`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Service {
    /// Namespace, name and uid (owners are not used: a service is its own owner).
    pub meta: Meta,
    /// `spec.clusterIPs` that are addresses (`None` and empty ones are left out by the reflector).
    pub cluster_ips: Vec<IpAddr>,
    /// `spec.externalIPs`.
    pub external_ips: Vec<IpAddr>,
    /// Labels and annotations, when kept (a rule copies them).
    pub tags: Option<Arc<ObjectTags>>,
}

impl Service {
    /// A service with its cluster IPs and no external IP.
    pub fn new(meta: Meta, cluster_ips: impl IntoIterator<Item = IpAddr>) -> Self {
        Self {
            meta,
            cluster_ips: cluster_ips.into_iter().collect(),
            external_ips: Vec::new(),
            tags: None,
        }
    }

    /// Sets `spec.externalIPs`.
    pub fn with_external_ips(mut self, ips: impl IntoIterator<Item = IpAddr>) -> Self {
        self.external_ips = ips.into_iter().collect();
        self
    }
}

/// What enrichment keeps of a `Node`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Node {
    /// `metadata.name`.
    pub name: Arc<str>,
    /// `metadata.uid`.
    pub uid: Arc<str>,
    /// `status.addresses` of type `InternalIP`, in order.
    pub internal_ips: Vec<IpAddr>,
    /// `status.addresses` of type `ExternalIP`, in order.
    pub external_ips: Vec<IpAddr>,
    /// The `topology.kubernetes.io/zone` label.
    pub zone: Option<Arc<str>>,
    /// Labels and annotations, when kept (a rule copies them).
    pub tags: Option<Arc<ObjectTags>>,
}

impl Node {
    /// A node named `name` with its internal IPs.
    pub fn new(name: &str, internal_ips: impl IntoIterator<Item = IpAddr>) -> Self {
        Self {
            name: name.into(),
            internal_ips: internal_ips.into_iter().collect(),
            ..Self::default()
        }
    }

    /// Sets the external IPs.
    pub fn with_external_ips(mut self, ips: impl IntoIterator<Item = IpAddr>) -> Self {
        self.external_ips = ips.into_iter().collect();
        self
    }

    /// Sets the `topology.kubernetes.io/zone` label.
    pub fn with_zone(mut self, zone: &str) -> Self {
        self.zone = Some(zone.into());
        self
    }

    /// The node's IP as flows report it (`HostIP`): its first internal IP, else its first
    /// external one.
    pub fn host_ip(&self) -> Option<IpAddr> {
        self.internal_ips
            .first()
            .or(self.external_ips.first())
            .copied()
    }
}

/// The kinds of object the index follows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// `Pod`.
    Pod,
    /// `Service`.
    Service,
    /// `Node`.
    Node,
    /// `ReplicaSet`.
    ReplicaSet,
    /// `Job`.
    Job,
    /// `Deployment` (followed only when `trackedKinds` names it: the step to a Gateway).
    Deployment,
}

impl Kind {
    /// Every kind, in the order they are reported.
    pub const ALL: [Kind; 6] = [
        Kind::Pod,
        Kind::Service,
        Kind::Node,
        Kind::ReplicaSet,
        Kind::Job,
        Kind::Deployment,
    ];

    /// The Kubernetes kind (`Pod`, `ReplicaSet`...).
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Pod => "Pod",
            Kind::Service => "Service",
            Kind::Node => "Node",
            Kind::ReplicaSet => "ReplicaSet",
            Kind::Job => "Job",
            Kind::Deployment => "Deployment",
        }
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One object of a kind the index follows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Object {
    /// A `Pod`.
    Pod(Pod),
    /// A `Service`.
    Service(Service),
    /// A `Node`.
    Node(Node),
    /// A `ReplicaSet` (metadata only: the step from a pod to its `Deployment`).
    ReplicaSet(Meta),
    /// A `Job` (metadata only: the step from a pod to its `CronJob`).
    Job(Meta),
    /// A `Deployment` (metadata only: the step to its owner, a `Gateway`...).
    Deployment(Meta),
}

impl Object {
    /// The object's kind.
    pub fn kind(&self) -> Kind {
        match self {
            Object::Pod(_) => Kind::Pod,
            Object::Service(_) => Kind::Service,
            Object::Node(_) => Kind::Node,
            Object::ReplicaSet(_) => Kind::ReplicaSet,
            Object::Job(_) => Kind::Job,
            Object::Deployment(_) => Kind::Deployment,
        }
    }
}
