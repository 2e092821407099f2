//! Who an address belongs to: the interface between the `network` transform and a source of
//! Kubernetes identities (the Kubernetes cache, `kube::KubeCache`, or a fixed table).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use netobserv_flow::flow::K8sIdentity;

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
    /// [`Self::identity`] answers it. A source that changes answers both from one view of its
    /// state, and one read of it where a read has a cost of its own (the snapshot load of the
    /// Kubernetes cache); by default, two lookups.
    fn identities(&self, ips: [Option<IpAddr>; 2]) -> [Option<Arc<K8sIdentity>>; 2] {
        ips.map(|ip| ip.and_then(|ip| self.identity(ip)))
    }

    /// The labels and annotations of the object owning `ip`, for the rules that copy them
    /// (`labels_prefix`, `annotations_prefix`); `None` when unknown or not kept (the default).
    fn tags(&self, ip: IpAddr) -> Option<Arc<ObjectTags>> {
        let _ = ip;
        None
    }
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

    fn tags(&self, ip: IpAddr) -> Option<Arc<ObjectTags>> {
        self.tags.get(&ip.to_canonical()).cloned()
    }
}
