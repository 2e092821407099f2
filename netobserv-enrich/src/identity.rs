//! Who an address belongs to: the interface between the `network` transform and a source of
//! Kubernetes identities (the Kubernetes cache, `kube::KubeCache`, or a fixed table).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use netobserv_flow::flow::{K8sIdentity, MacAddr};

/// A source of Kubernetes identities by IP address, as `add_kubernetes` reads it.
///
/// The identity carries what the flow's `<output>_*` fields hold: name, kind (`Pod`, `Service`,
/// `Node`), namespace, owner, the node's IP and name (`HostIP`, `HostName`: what
/// `reinterpret_direction` compares with the agent's IP), zone and network name. Lookups run on
/// every flow on every worker: an implementation answers without blocking on updates (no write
/// lock on this path) and hands out shared identities, not copies.
pub trait IdentityLookup: Send + Sync + 'static {
    /// The identity owning `ip`, if known.
    fn identity(&self, ip: IpAddr) -> Option<Arc<K8sIdentity>>;

    /// The identities of two addresses (a flow's source and destination), each as
    /// [`Self::identity`] answers it, without its zone where `zones` says so (`add_zone: false`)
    /// if the source keeps that form (the Kubernetes index does); the caller strips a zone it
    /// did not ask for. A source that changes answers both from one view of its state, and one
    /// read of it where a read has a cost of its own (the snapshot load of the Kubernetes
    /// cache); by default, two lookups, zones as they are.
    fn identities(
        &self,
        ips: [Option<IpAddr>; 2],
        zones: [bool; 2],
    ) -> [Option<Arc<K8sIdentity>>; 2] {
        let _ = zones;
        ips.map(|ip| ip.and_then(|ip| self.identity(ip)))
    }

    /// The labels and annotations of the object owning `ip`, for the rules that copy them
    /// (`labels_prefix`, `annotations_prefix`), if that object is still the one whose identity
    /// `of` is (as [`Self::identity`] or [`Self::identities`] gave it: the tags never come from
    /// another object than the identity written); `None` when unknown, not kept (the default)
    /// or no longer `of`'s.
    fn tags(&self, ip: IpAddr, of: &Arc<K8sIdentity>) -> Option<Arc<ObjectTags>> {
        let _ = (ip, of);
        None
    }

    /// The pod interface on a secondary network known by the first of `keys` that is known
    /// (upstream's Multus lookup, tried before the lookup by IP): its pod's identity with the
    /// network's name as `network_name`, and the pod's labels and annotations when kept. `None`
    /// by default: a source without secondary networks.
    fn secondary(&self, keys: &[SecondaryKey]) -> Option<SecondaryMatch> {
        let _ = keys;
        None
    }
}

/// The parts of a secondary network's index (`kubeConfig.secondaryNetworks[].index`) that
/// Multus' `k8s.v1.cni.cncf.io/network-status` annotation gives: which of an interface's IP,
/// MAC and name identify it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct SecondaryIndex {
    /// `ip`: one key per address of the interface.
    pub ip: bool,
    /// `mac`.
    pub mac: bool,
    /// `interface`: the interface's name in the pod (`net1`).
    pub interface: bool,
}

impl SecondaryIndex {
    /// Whether no part is indexed (an index of `udn` only, say): it gives no Multus key.
    pub fn is_empty(&self) -> bool {
        !(self.ip || self.mac || self.interface)
    }
}

/// A key a pod's interface on a secondary network is known by, as upstream's `interface~ip~mac`
/// (its [`Display`](std::fmt::Display) form): each part set only when the network's index
/// names it. Parts are compared as values (an address, a MAC in any case), not as text.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct SecondaryKey {
    /// The interface name; `None` for upstream's empty name.
    pub interface: Option<Arc<str>>,
    /// The address (IPv4-mapped IPv6 addresses as IPv4).
    pub ip: Option<IpAddr>,
    /// The MAC address.
    pub mac: Option<MacAddr>,
}

impl SecondaryKey {
    /// The key of `interface` (empty: none), `ip` and `mac`.
    pub fn new(interface: &str, ip: Option<IpAddr>, mac: Option<MacAddr>) -> Self {
        Self {
            interface: (!interface.is_empty()).then(|| Arc::from(interface)),
            ip: ip.map(|ip| ip.to_canonical()),
            mac,
        }
    }
}

impl std::fmt::Display for SecondaryKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(i) = &self.interface {
            f.write_str(i)?;
        }
        f.write_str("~")?;
        if let Some(ip) = &self.ip {
            write!(f, "{ip}")?;
        }
        f.write_str("~")?;
        if let Some(mac) = &self.mac {
            write!(f, "{mac}")?;
        }
        Ok(())
    }
}

/// What a [`SecondaryKey`] leads to.
#[derive(Clone, Debug, PartialEq)]
pub struct SecondaryMatch {
    /// The pod's identity, with the secondary network's name as `network_name`.
    pub identity: Arc<K8sIdentity>,
    /// The pod's labels and annotations, when kept (a rule copies them).
    pub tags: Option<Arc<ObjectTags>>,
}

/// The labels and annotations of a pod, service or node, as `add_kubernetes` copies them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ObjectTags {
    /// `metadata.labels`, by key.
    pub labels: Vec<(Arc<str>, Arc<str>)>,
    /// `metadata.annotations`, by key.
    pub annotations: Vec<(Arc<str>, Arc<str>)>,
}

impl ObjectTags {
    /// Whether there is neither label nor annotation.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty() && self.annotations.is_empty()
    }
}

/// A fixed table of identities: for tests, and for address plans known in advance.
#[derive(Debug, Default, Clone)]
pub struct StaticIdentities {
    by_ip: HashMap<IpAddr, Arc<K8sIdentity>>,
    tags: HashMap<IpAddr, Arc<ObjectTags>>,
    secondary: HashMap<SecondaryKey, SecondaryMatch>,
}

impl StaticIdentities {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces) the identity of `ip`.
    pub fn with(mut self, ip: IpAddr, identity: K8sIdentity) -> Self {
        self.by_ip.insert(ip, Arc::new(identity));
        self
    }

    /// Sets the labels and annotations of the object owning `ip`.
    pub fn with_tags(mut self, ip: IpAddr, tags: ObjectTags) -> Self {
        self.tags.insert(ip, Arc::new(tags));
        self
    }

    /// Adds (or replaces) the identity of a pod interface on a secondary network, known by
    /// `key` (`identity.network_name` is the network's name).
    pub fn with_secondary(mut self, key: SecondaryKey, identity: K8sIdentity) -> Self {
        let found = SecondaryMatch {
            identity: Arc::new(identity),
            tags: None,
        };
        self.secondary.insert(key, found);
        self
    }

    /// How many addresses the table knows.
    pub fn len(&self) -> usize {
        self.by_ip.len()
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.by_ip.is_empty()
    }
}

impl IdentityLookup for StaticIdentities {
    fn identity(&self, ip: IpAddr) -> Option<Arc<K8sIdentity>> {
        self.by_ip.get(&ip.to_canonical()).cloned()
    }

    fn tags(&self, ip: IpAddr, of: &Arc<K8sIdentity>) -> Option<Arc<ObjectTags>> {
        let ip = ip.to_canonical();
        let id = self.by_ip.get(&ip)?;
        if Arc::ptr_eq(id, of) {
            self.tags.get(&ip).cloned()
        } else {
            None
        }
    }

    fn secondary(&self, keys: &[SecondaryKey]) -> Option<SecondaryMatch> {
        keys.iter().find_map(|k| self.secondary.get(k).cloned())
    }
}
