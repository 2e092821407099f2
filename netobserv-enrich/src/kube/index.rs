//! The index: objects by kind and name (writers' side, behind a mutex), and the published
//! IP → identity snapshot (readers' side, behind an [`ArcSwap`]: a lookup never waits for an
//! update).

use std::collections::HashSet;
use std::fmt;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use netobserv_flow::flow::K8sIdentity;

use super::objects::{Kind, Meta, Node, Object, OwnerRef, Pod, Service};
use crate::identity::{IdentityLookup, ObjectTags, SecondaryIndex, SecondaryKey, SecondaryMatch};

/// A source of the current time, injected so that the grace period of deleted objects can be
/// tested without sleeping.
pub trait Clock: Send + Sync + 'static {
    /// The current time.
    fn now(&self) -> Instant;
}

/// The monotonic clock of the system ([`Instant::now`]).
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Instant {
        Instant::now()
    }
}

/// An add/update or a delete, as a reflector reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// The object was added or updated: it replaces any object of its kind with its name
    /// (a deleted one in its grace period too).
    Apply(Object),
    /// The object was deleted: it keeps answering lookups for the grace period (flows from a
    /// pod arrive after the pod is gone), then it is dropped.
    Delete(Object),
    /// The complete set of objects of `kind`, as a (re)list returned them: each replaces its
    /// namesake, and the live objects of `kind` missing from it are deleted (they went away
    /// while no watch was open), with the grace period of a delete. Objects of another kind in
    /// `objects` are applied and do not take part in the replacement.
    Replace {
        /// The kind listed.
        kind: Kind,
        /// Every object of that kind.
        objects: Vec<Object>,
    },
}

/// Settings of a [`KubeIndex`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IndexConfig {
    /// How long a deleted object keeps answering lookups (30 s).
    pub grace: Duration,
    /// Whether a pod of a `Job` owned by a `CronJob` gets the `CronJob` as owner (as a pod of a
    /// `ReplicaSet` gets its `Deployment`). Upstream resolves only ReplicaSets, and reports the
    /// `Job`; `false` gives upstream's values.
    pub resolve_cron_jobs: bool,
    /// Upstream's `kubeConfig.trackedKinds`: the owner kinds worth reporting. Empty (upstream's
    /// default): a pod's owner is its first owner reference, one step further for a ReplicaSet.
    /// Set (the operator sets `[ReplicaSet, Deployment, Gateway]`): the owner chain is walked up
    /// to 3 steps, through the kinds this index knows (ReplicaSet, Deployment, Job), stopping at
    /// a tracked owner whose own owner is not tracked, as upstream.
    pub tracked_kinds: Vec<Arc<str>>,
    /// Whether the reflectors keep the labels of pods, services and nodes (a rule copies them:
    /// `labels_prefix`); off, they cost no memory.
    pub keep_labels: bool,
    /// Whether the reflectors keep their annotations (`annotations_prefix`).
    pub keep_annotations: bool,
    /// The Multus part of each `kubeConfig.secondaryNetworks` index (those naming none of
    /// `ip`, `mac`, `interface` left out): pods' interfaces on secondary networks are indexed
    /// by the keys each gives. Empty: pods' `k8s.v1.cni.cncf.io/network-status` annotations
    /// are not read.
    pub secondary_networks: Vec<SecondaryIndex>,
}

impl Default for IndexConfig {
    fn default() -> Self {
        Self {
            grace: Duration::from_secs(30),
            resolve_cron_jobs: true,
            tracked_kinds: Vec::new(),
            keep_labels: false,
            keep_annotations: false,
            secondary_networks: Vec::new(),
        }
    }
}

impl IndexConfig {
    /// Sets the grace period of deleted objects.
    pub fn with_grace(mut self, grace: Duration) -> Self {
        self.grace = grace;
        self
    }

    /// Sets the tracked owner kinds (upstream's `trackedKinds`).
    pub fn with_tracked_kinds<S: AsRef<str>>(mut self, kinds: impl IntoIterator<Item = S>) -> Self {
        self.tracked_kinds = kinds.into_iter().map(|k| Arc::from(k.as_ref())).collect();
        self
    }

    /// Sets the secondary network indexes (empty ones are left out).
    pub fn with_secondary_networks(
        mut self,
        indexes: impl IntoIterator<Item = SecondaryIndex>,
    ) -> Self {
        self.secondary_networks = indexes.into_iter().filter(|i| !i.is_empty()).collect();
        self
    }

    /// Whether `Deployment` objects are needed (a tracked kind may be a Deployment's owner).
    pub fn follows_deployments(&self) -> bool {
        self.tracked_kinds.iter().any(|k| &**k == "Deployment")
    }

    /// Sets whether Job owners resolve to their CronJob.
    pub fn with_resolve_cron_jobs(mut self, resolve: bool) -> Self {
        self.resolve_cron_jobs = resolve;
        self
    }
}

type Map<K, V> = foldhash::HashMap<K, V>;
/// `(namespace, name)`.
type Key = (Arc<str>, Arc<str>);

/// An object and, once deleted, when.
#[derive(Debug)]
struct Entry<T> {
    object: T,
    deleted_at: Option<Instant>,
}

/// The objects, by kind and name: what updates edit, and what snapshots are built from.
#[derive(Debug, Default)]
struct Objects {
    pods: Map<Key, Entry<Pod>>,
    services: Map<Key, Entry<Service>>,
    nodes: Map<Arc<str>, Entry<Node>>,
    replica_sets: Map<Key, Entry<Meta>>,
    jobs: Map<Key, Entry<Meta>>,
    deployments: Map<Key, Entry<Meta>>,
    /// One `Arc` per distinct namespace, node name, owner kind: 20,000 pods in 50 namespaces
    /// hold 50 strings, not 20,000.
    strings: HashSet<Arc<str>, foldhash::fast::RandomState>,
}

/// What readers see: one identity per object, shared by all its addresses. IPv4 and IPv6 apart:
/// 4-byte keys make the IPv4 table (most addresses) half the size of one keyed by `IpAddr`,
/// fewer cache lines per lookup.
#[derive(Debug, Default)]
struct Snapshot {
    v4: Map<u32, Ids>,
    v6: Map<u128, Ids>,
    /// Pods' interfaces on secondary networks by their keys (only with secondary networks
    /// configured): one identity per pod and network, shared by that network's keys.
    secondary: Map<SecondaryKey, SecondaryMatch>,
}

/// An object's identity, and the same without its zone when it has one (what rules without
/// `add_zone`, upstream's default, write): made once per publish, not per flow.
#[derive(Clone, Debug)]
struct Ids {
    id: Arc<K8sIdentity>,
    zoneless: Option<Arc<K8sIdentity>>,
    /// The object's labels and annotations, when kept (a rule copies them).
    tags: Option<Arc<ObjectTags>>,
}

impl Ids {
    fn new(id: K8sIdentity, tags: Option<&Arc<ObjectTags>>) -> Self {
        let zoneless = id.zone.is_some().then(|| {
            let mut copy = id.clone();
            copy.zone = None;
            Arc::new(copy)
        });
        Self {
            id: Arc::new(id),
            zoneless,
            tags: tags.cloned(),
        }
    }

    /// Whether `id` is this identity (with or without its zone).
    fn is(&self, id: &Arc<K8sIdentity>) -> bool {
        Arc::ptr_eq(&self.id, id) || self.zoneless.as_ref().is_some_and(|z| Arc::ptr_eq(z, id))
    }

    /// The identity, with its zone or not.
    fn get(&self, zone: bool) -> &Arc<K8sIdentity> {
        match (&self.zoneless, zone) {
            (Some(z), false) => z,
            _ => &self.id,
        }
    }
}

impl Snapshot {
    fn insert(&mut self, ip: IpAddr, id: &Ids) {
        match ip.to_canonical() {
            IpAddr::V4(a) => self.v4.insert(a.to_bits(), id.clone()),
            IpAddr::V6(a) => self.v6.insert(a.to_bits(), id.clone()),
        };
    }

    fn get(&self, ip: IpAddr) -> Option<&Ids> {
        match ip.to_canonical() {
            IpAddr::V4(a) => self.v4.get(&a.to_bits()),
            IpAddr::V6(a) => self.v6.get(&a.to_bits()),
        }
    }

    fn len(&self) -> usize {
        self.v4.len() + self.v6.len()
    }
}

/// The strings every identity of a kind shares.
#[derive(Debug)]
struct Names {
    pod: Arc<str>,
    service: Arc<str>,
    node: Arc<str>,
    primary: Arc<str>,
}

/// Pods, services and nodes by IP address, with owners resolved, kept from add/update/delete
/// [`Event`]s and read through [`IdentityLookup`].
///
/// Readers load an immutable snapshot (one atomic load, no lock); [`KubeIndex::apply`] edits the
/// objects and publishes a new snapshot once per batch of events, so a reflector should hand
/// over what it has received together rather than one event at a time. Precedence when objects
/// share an address, as upstream's lookup order: a pod, then a node, then a service; live objects
/// before deleted ones. Pods on the host network (and pod IPs equal to the host IP) are not
/// indexed: their address resolves to the node.
///
/// ```
/// use std::net::IpAddr;
/// use netobserv_enrich::IdentityLookup;
/// use netobserv_enrich::kube::{Event, IndexConfig, KubeIndex, Meta, Node, Object, Pod};
///
/// let index = KubeIndex::new(IndexConfig::default());
/// let ip: IpAddr = "10.128.0.7".parse().unwrap();
/// let node_ip: IpAddr = "10.0.0.1".parse().unwrap();
/// index.apply([
///     Event::Apply(Object::Node(Node::new("worker-1", [node_ip]).with_zone("eu-1a"))),
///     Event::Apply(Object::ReplicaSet(
///         Meta::new("shop", "web-5d4f", "u1").with_owner("Deployment", "web"),
///     )),
///     Event::Apply(Object::Pod(
///         Pod::new(Meta::new("shop", "web-5d4f-x9", "u2").with_owner("ReplicaSet", "web-5d4f"), [ip])
///             .on_node("worker-1", node_ip),
///     )),
/// ]);
/// let id = index.identity(ip).unwrap();
/// assert_eq!(id.owner_name.as_deref(), Some("web"));
/// assert_eq!(id.owner_type.as_deref(), Some("Deployment"));
/// assert_eq!(id.zone.as_deref(), Some("eu-1a"));
/// ```
pub struct KubeIndex {
    snapshot: ArcSwap<Snapshot>,
    objects: Mutex<Objects>,
    config: IndexConfig,
    clock: Arc<dyn Clock>,
    names: Names,
}

impl fmt::Debug for KubeIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KubeIndex")
            .field("addresses", &self.len())
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl KubeIndex {
    /// An empty index on the system clock.
    pub fn new(config: IndexConfig) -> Self {
        Self::with_clock(config, Arc::new(SystemClock))
    }

    /// An empty index reading the time from `clock`.
    pub fn with_clock(config: IndexConfig, clock: Arc<dyn Clock>) -> Self {
        Self {
            snapshot: ArcSwap::from_pointee(Snapshot::default()),
            objects: Mutex::new(Objects::default()),
            config,
            clock,
            names: Names {
                pod: "Pod".into(),
                service: "Service".into(),
                node: "Node".into(),
                primary: "primary".into(),
            },
        }
    }

    /// How many addresses the published snapshot knows.
    pub fn len(&self) -> usize {
        self.snapshot.load().len()
    }

    /// Whether the published snapshot knows no address.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// How many keys of pods' secondary interfaces the published snapshot knows.
    pub fn secondary_keys(&self) -> usize {
        self.snapshot.load().secondary.len()
    }

    /// Applies a batch of events, drops deleted objects past their grace period, and publishes
    /// one new snapshot.
    pub fn apply(&self, events: impl IntoIterator<Item = Event>) {
        let now = self.clock.now();
        let mut objects = self.lock();
        for event in events {
            match event {
                Event::Apply(object) => objects.insert(object),
                Event::Delete(object) => objects.delete(&object, now),
                Event::Replace {
                    kind,
                    objects: listed,
                } => objects.replace(kind, listed, now),
            }
        }
        objects.expire(now, self.config.grace);
        self.publish(&mut objects);
    }

    /// Drops deleted objects past their grace period, publishing a new snapshot if any was
    /// dropped; to be called periodically (every few seconds) when no event comes.
    pub fn expire(&self) {
        let now = self.clock.now();
        let mut objects = self.lock();
        if objects.expire(now, self.config.grace) {
            self.publish(&mut objects);
        }
    }

    /// How many objects of `kind` the index holds, deleted ones in their grace period included.
    pub fn objects(&self, kind: Kind) -> usize {
        self.lock().count(kind)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Objects> {
        // A writer that panicked left whole objects (each edit is one map operation): the
        // objects are consistent, go on with them.
        self.objects.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn publish(&self, objects: &mut Objects) {
        objects.strings.retain(|s| Arc::strong_count(s) > 1);
        let snapshot = self.build(objects);
        self.snapshot.store(Arc::new(snapshot));
    }

    fn build(&self, objects: &Objects) -> Snapshot {
        let mut by_ip = Snapshot::default();
        let mut keys = Vec::new();
        by_ip
            .v4
            .reserve(objects.pods.len() + objects.services.len() + objects.nodes.len() * 2);
        // Lowest precedence first: later inserts win.
        for deleted in [true, false] {
            for entry in objects.services.values() {
                if entry.deleted_at.is_some() == deleted {
                    let s = &entry.object;
                    let id = Ids::new(self.service_identity(s), s.tags.as_ref());
                    for ip in s.cluster_ips.iter().chain(&s.external_ips) {
                        by_ip.insert(*ip, &id);
                    }
                }
            }
            for entry in objects.nodes.values() {
                if entry.deleted_at.is_some() == deleted {
                    let n = &entry.object;
                    let id = Ids::new(self.node_identity(n), n.tags.as_ref());
                    for ip in n.internal_ips.iter().chain(&n.external_ips) {
                        by_ip.insert(*ip, &id);
                    }
                }
            }
            for entry in objects.pods.values() {
                let p = &entry.object;
                if entry.deleted_at.is_some() != deleted {
                    continue;
                }
                let mut ips = p
                    .ips
                    .iter()
                    .filter(|ip| !p.host_network && Some(**ip) != p.host_ip)
                    .peekable();
                // As upstream, a pod's secondary interfaces are indexed whatever its own IPs.
                let networks = !self.config.secondary_networks.is_empty() && !p.networks.is_empty();
                if ips.peek().is_none() && !networks {
                    continue;
                }
                let id = Ids::new(self.pod_identity(objects, p), p.tags.as_ref());
                for ip in ips {
                    by_ip.insert(*ip, &id);
                }
                if networks {
                    self.index_networks(&mut by_ip, p, &id.id, &mut keys);
                }
            }
        }
        by_ip
    }

    /// Indexes the keys of `pod`'s secondary interfaces: for each, one identity (`id` with the
    /// network's name), shared by its keys. A key given twice is the last one's (upstream's
    /// order: the annotation's entries, then the configured indexes).
    fn index_networks(
        &self,
        by_ip: &mut Snapshot,
        pod: &Pod,
        id: &K8sIdentity,
        keys: &mut Vec<SecondaryKey>,
    ) {
        for network in &pod.networks {
            keys.clear();
            for index in &self.config.secondary_networks {
                network.keys(*index, keys);
            }
            if keys.is_empty() {
                continue;
            }
            let mut named = id.clone();
            named.network_name = Some(network.name.clone());
            let found = SecondaryMatch {
                identity: Arc::new(named),
                tags: pod.tags.clone(),
            };
            for key in keys.drain(..) {
                by_ip.secondary.insert(key, found.clone());
            }
        }
    }

    fn pod_identity(&self, objects: &Objects, pod: &Pod) -> K8sIdentity {
        let (owner_name, owner_type) = self.owner(objects, &pod.meta);
        let node = match &pod.node_name {
            Some(name) => objects.nodes.get(name).map(|e| &e.object),
            // Not scheduled by name yet: the node whose address is the host IP, as upstream.
            None => pod.host_ip.and_then(|ip| {
                objects
                    .nodes
                    .values()
                    .map(|e| &e.object)
                    .find(|n| n.internal_ips.contains(&ip) || n.external_ips.contains(&ip))
            }),
        };
        let mut id = K8sIdentity::default();
        id.name = Some(pod.meta.name.clone());
        id.namespace = non_empty(&pod.meta.namespace);
        id.kind = Some(self.names.pod.clone());
        id.owner_name = Some(owner_name);
        id.owner_type = Some(owner_type);
        id.host_ip = pod.host_ip;
        // As upstream: a host name only with a host IP (a pod scheduled but not yet reported
        // running has a node name and no IP; both output forms then write neither).
        id.host_name = pod.host_ip.and_then(|_| {
            pod.node_name
                .clone()
                .or_else(|| node.map(|n| n.name.clone()))
        });
        id.zone = node.and_then(|n| n.zone.clone());
        id.network_name = Some(self.names.primary.clone());
        id
    }

    /// Upstream's owner: the first owner reference, then up the chain: one step for a
    /// ReplicaSet (to its Deployment) and, unless configured otherwise, a Job (to its CronJob);
    /// with tracked kinds, up to 3 steps as upstream's `checkParent`. The pod itself without
    /// owner.
    fn owner(&self, objects: &Objects, meta: &Meta) -> (Arc<str>, Arc<str>) {
        let Some(first) = meta.owners.first() else {
            return (meta.name.clone(), self.names.pod.clone());
        };
        // The first owner of `owner`, when this index knows `owner`'s kind and has it.
        let parent = |owner: &OwnerRef| -> Option<&OwnerRef> {
            let map = match &*owner.kind {
                "ReplicaSet" => &objects.replica_sets,
                "Job" if self.config.resolve_cron_jobs => &objects.jobs,
                "Deployment" => &objects.deployments,
                _ => return None,
            };
            map.get(&key(&meta.namespace, &owner.name))?
                .object
                .owners
                .first()
        };
        let tracked = &self.config.tracked_kinds;
        let mut owner = first;
        if tracked.is_empty() {
            if matches!(&*owner.kind, "ReplicaSet" | "Job")
                && let Some(p) = parent(owner)
            {
                owner = p;
            }
        } else {
            let is_tracked = |kind: &str| tracked.iter().any(|t| &**t == kind);
            for _ in 0..3 {
                let Some(p) = parent(owner) else { break };
                // A tracked owner is kept unless its own owner is tracked too.
                if is_tracked(&owner.kind) && !is_tracked(&p.kind) {
                    break;
                }
                owner = p;
            }
        }
        (owner.name.clone(), owner.kind.clone())
    }

    fn service_identity(&self, service: &Service) -> K8sIdentity {
        let mut id = K8sIdentity::default();
        id.name = Some(service.meta.name.clone());
        id.namespace = non_empty(&service.meta.namespace);
        id.kind = Some(self.names.service.clone());
        id.owner_name = Some(service.meta.name.clone());
        id.owner_type = Some(self.names.service.clone());
        id.network_name = Some(self.names.primary.clone());
        id
    }

    fn node_identity(&self, node: &Node) -> K8sIdentity {
        let mut id = K8sIdentity::default();
        id.name = Some(node.name.clone());
        id.kind = Some(self.names.node.clone());
        id.owner_name = Some(node.name.clone());
        id.owner_type = Some(self.names.node.clone());
        // Upstream duplicates the node as its own host, so that filtering by host finds
        // host-to-host flows too.
        id.host_ip = node.host_ip();
        id.host_name = Some(node.name.clone());
        id.zone = node.zone.clone();
        id.network_name = Some(self.names.primary.clone());
        id
    }
}

impl IdentityLookup for KubeIndex {
    fn identity(&self, ip: IpAddr) -> Option<Arc<K8sIdentity>> {
        self.snapshot.load().get(ip).map(|ids| ids.id.clone())
    }

    fn identities(
        &self,
        ips: [Option<IpAddr>; 2],
        zones: [bool; 2],
    ) -> [Option<Arc<K8sIdentity>>; 2] {
        // One snapshot for both sides: one load (each costs about as much as a table probe).
        let snapshot = self.snapshot.load();
        let [a, b] = ips;
        [
            a.and_then(|ip| snapshot.get(ip))
                .map(|ids| ids.get(zones[0]).clone()),
            b.and_then(|ip| snapshot.get(ip))
                .map(|ids| ids.get(zones[1]).clone()),
        ]
    }

    fn tags(&self, ip: IpAddr, of: &Arc<K8sIdentity>) -> Option<Arc<ObjectTags>> {
        let snapshot = self.snapshot.load();
        let ids = snapshot.get(ip)?;
        // A publish between the identity's lookup and this one may have given the address to
        // another object: its tags are not `of`'s.
        if ids.is(of) { ids.tags.clone() } else { None }
    }

    fn secondary(&self, keys: &[SecondaryKey]) -> Option<SecondaryMatch> {
        if keys.is_empty() {
            return None;
        }
        let snapshot = self.snapshot.load();
        keys.iter().find_map(|k| snapshot.secondary.get(k).cloned())
    }
}

fn non_empty(s: &Arc<str>) -> Option<Arc<str>> {
    (!s.is_empty()).then(|| s.clone())
}

fn key(namespace: &Arc<str>, name: &Arc<str>) -> Key {
    (namespace.clone(), name.clone())
}

impl Objects {
    fn intern(&mut self, s: &mut Arc<str>) {
        match self.strings.get(s) {
            Some(shared) => *s = shared.clone(),
            None => {
                self.strings.insert(s.clone());
            }
        }
    }

    fn intern_meta(&mut self, meta: &mut Meta) {
        self.intern(&mut meta.namespace);
        for owner in &mut meta.owners {
            self.intern(&mut owner.kind);
        }
    }

    /// Shares label and annotation strings across objects (20,000 pods have a few distinct
    /// keys, and values shared by each ReplicaSet's pods), when the tags are not shared yet.
    fn intern_tags(&mut self, tags: &mut Option<Arc<ObjectTags>>) {
        if let Some(t) = tags.as_mut().and_then(Arc::get_mut) {
            for (k, v) in t.labels.iter_mut().chain(t.annotations.iter_mut()) {
                self.intern(k);
                self.intern(v);
            }
        }
    }

    fn insert(&mut self, object: Object) {
        fn live<T>(object: T) -> Entry<T> {
            Entry {
                object,
                deleted_at: None,
            }
        }
        match object {
            Object::Pod(mut p) => {
                self.intern_meta(&mut p.meta);
                self.intern_tags(&mut p.tags);
                if let Some(node) = &mut p.node_name {
                    self.intern(node);
                }
                for network in &mut p.networks {
                    self.intern(&mut network.name);
                }
                self.pods
                    .insert(key(&p.meta.namespace, &p.meta.name), live(p));
            }
            Object::Service(mut s) => {
                self.intern_meta(&mut s.meta);
                self.intern_tags(&mut s.tags);
                self.services
                    .insert(key(&s.meta.namespace, &s.meta.name), live(s));
            }
            Object::Node(mut n) => {
                self.intern(&mut n.name);
                self.intern_tags(&mut n.tags);
                if let Some(zone) = &mut n.zone {
                    self.intern(zone);
                }
                self.nodes.insert(n.name.clone(), live(n));
            }
            Object::ReplicaSet(mut m) => {
                self.intern_meta(&mut m);
                self.replica_sets
                    .insert(key(&m.namespace, &m.name), live(m));
            }
            Object::Job(mut m) => {
                self.intern_meta(&mut m);
                self.jobs.insert(key(&m.namespace, &m.name), live(m));
            }
            Object::Deployment(mut m) => {
                self.intern_meta(&mut m);
                self.deployments.insert(key(&m.namespace, &m.name), live(m));
            }
        }
    }

    /// Marks the object deleted (an unknown one is ignored: nothing to keep answering for).
    fn delete(&mut self, object: &Object, now: Instant) {
        let deleted_at = match object {
            Object::Pod(p) => self
                .pods
                .get_mut(&key(&p.meta.namespace, &p.meta.name))
                .map(|e| &mut e.deleted_at),
            Object::Service(s) => self
                .services
                .get_mut(&key(&s.meta.namespace, &s.meta.name))
                .map(|e| &mut e.deleted_at),
            Object::Node(n) => self.nodes.get_mut(&n.name).map(|e| &mut e.deleted_at),
            Object::ReplicaSet(m) => self
                .replica_sets
                .get_mut(&key(&m.namespace, &m.name))
                .map(|e| &mut e.deleted_at),
            Object::Job(m) => self
                .jobs
                .get_mut(&key(&m.namespace, &m.name))
                .map(|e| &mut e.deleted_at),
            Object::Deployment(m) => self
                .deployments
                .get_mut(&key(&m.namespace, &m.name))
                .map(|e| &mut e.deleted_at),
        };
        if let Some(at) = deleted_at {
            at.get_or_insert(now);
        }
    }

    /// Applies `listed` and marks deleted the live objects of `kind` not in it.
    fn replace(&mut self, kind: Kind, listed: Vec<Object>, now: Instant) {
        fn sweep<K: Eq + std::hash::Hash + Clone, T>(
            map: &mut Map<K, Entry<T>>,
            seen: &HashSet<K, foldhash::fast::RandomState>,
            now: Instant,
        ) {
            for (k, e) in map.iter_mut() {
                if e.deleted_at.is_none() && !seen.contains(k) {
                    e.deleted_at = Some(now);
                }
            }
        }
        let mut keys: HashSet<Key, foldhash::fast::RandomState> = HashSet::default();
        let mut node_names: HashSet<Arc<str>, foldhash::fast::RandomState> = HashSet::default();
        for object in listed {
            if object.kind() == kind {
                match &object {
                    Object::Pod(p) => keys.insert(key(&p.meta.namespace, &p.meta.name)),
                    Object::Service(s) => keys.insert(key(&s.meta.namespace, &s.meta.name)),
                    Object::Node(n) => node_names.insert(n.name.clone()),
                    Object::ReplicaSet(m) | Object::Job(m) | Object::Deployment(m) => {
                        keys.insert(key(&m.namespace, &m.name))
                    }
                };
            }
            self.insert(object);
        }
        match kind {
            Kind::Pod => sweep(&mut self.pods, &keys, now),
            Kind::Service => sweep(&mut self.services, &keys, now),
            Kind::Node => sweep(&mut self.nodes, &node_names, now),
            Kind::ReplicaSet => sweep(&mut self.replica_sets, &keys, now),
            Kind::Job => sweep(&mut self.jobs, &keys, now),
            Kind::Deployment => sweep(&mut self.deployments, &keys, now),
        }
    }

    /// Drops the objects deleted `grace` or longer ago; whether any was.
    fn expire(&mut self, now: Instant, grace: Duration) -> bool {
        fn keep<T>(e: &Entry<T>, now: Instant, grace: Duration) -> bool {
            e.deleted_at
                .is_none_or(|at| now.saturating_duration_since(at) < grace)
        }
        let before = self.len();
        self.pods.retain(|_, e| keep(e, now, grace));
        self.services.retain(|_, e| keep(e, now, grace));
        self.nodes.retain(|_, e| keep(e, now, grace));
        self.replica_sets.retain(|_, e| keep(e, now, grace));
        self.jobs.retain(|_, e| keep(e, now, grace));
        self.deployments.retain(|_, e| keep(e, now, grace));
        self.len() != before
    }

    fn count(&self, kind: Kind) -> usize {
        match kind {
            Kind::Pod => self.pods.len(),
            Kind::Service => self.services.len(),
            Kind::Node => self.nodes.len(),
            Kind::ReplicaSet => self.replica_sets.len(),
            Kind::Job => self.jobs.len(),
            Kind::Deployment => self.deployments.len(),
        }
    }

    fn len(&self) -> usize {
        self.pods.len()
            + self.services.len()
            + self.nodes.len()
            + self.replica_sets.len()
            + self.jobs.len()
            + self.deployments.len()
    }
}
