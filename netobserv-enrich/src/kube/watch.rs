//! The reflectors feeding a [`KubeIndex`]: kube-rs watchers of Pods, Services and Nodes, and
//! metadata-only watchers of ReplicaSets and Jobs (the owner steps; Deployments too when the
//! tracked owner kinds name them), started from in-cluster configuration or a kubeconfig.
//!
//! A watcher lists its kind in pages of 500 (the API server's newest state, not its watch
//! cache: a list at `resourceVersion=0` ignores the page size, and 20,000 pods in one answer is
//! the memory spike of flowlogs-pipeline#641), then watches from the list's
//! `resourceVersion` with bookmarks. A `410 Gone` (history compacted) makes it list again; the
//! index then deletes, with the grace period, what the new list no longer has. Errors are
//! retried with kube-rs's default backoff, counted and kept for [`KubeCache::status`].
//!
//! The objects are decoded into slim types holding only what enrichment reads: a pod's
//! containers, a node's images, every object's `managedFields` are skipped by the decoder,
//! never allocated.
//!
//! Events go through one channel to one task that applies them to the index in batches,
//! publishing at most once per [`CacheConfig::publish_interval`] (each publish rebuilds the
//! address table), and expires deleted objects when nothing comes.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::api::Api;
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::core::PartialObjectMeta;
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event as WatchEvent};
use serde::{Deserialize, Deserializer};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use super::index::{Event, IndexConfig, KubeIndex};
use super::objects::{Kind, Meta, Node, Object, OwnerRef, Pod, PodNetwork, Service};
use crate::identity::{IdentityLookup, ObjectTags, SecondaryKey, SecondaryMatch};

/// The zone label of nodes.
const ZONE_LABEL: &str = "topology.kubernetes.io/zone";

/// Multus' annotation of a pod's interfaces, one entry per network.
const NETWORK_STATUS: &str = "k8s.v1.cni.cncf.io/network-status";

/// Settings of a [`KubeCache`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CacheConfig {
    /// The index's settings (grace period, CronJob owners).
    pub index: IndexConfig,
    /// How long [`KubeCache::start`] waits for every kind's first list (60 s).
    pub sync_timeout: Duration,
    /// The shortest time between two publishes of the address table (250 ms): events arriving
    /// meanwhile are applied together.
    pub publish_interval: Duration,
    /// How often deleted objects past their grace period are dropped when no event comes (5 s).
    pub expire_interval: Duration,
    /// Objects per list page (500, as client-go).
    pub page_size: u32,
}

impl Default for CacheConfig {
    fn default() -> Self {
        Self {
            index: IndexConfig::default(),
            sync_timeout: Duration::from_secs(60),
            publish_interval: Duration::from_millis(250),
            expire_interval: Duration::from_secs(5),
            page_size: 500,
        }
    }
}

/// Why the cache cannot start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CacheError {
    /// Neither in-cluster configuration nor a kubeconfig was found.
    #[error(
        "no Kubernetes API server is configured: neither in-cluster configuration \
         (KUBERNETES_SERVICE_HOST, KUBERNETES_SERVICE_PORT and the service account token) nor a \
         kubeconfig (set KUBECONFIG, create ~/.kube/config, or name one in \
         kubeConfig.configPath) was found: {0}"
    )]
    NoConfig(String),
    /// The named kubeconfig cannot be read or used.
    #[error("kubeconfig {path}: {message}")]
    Kubeconfig {
        /// The file.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// The client cannot be built from the configuration (TLS material, proxy...).
    #[error("cannot build a Kubernetes client: {0}")]
    Client(String),
    /// Some kinds were not listed within the sync timeout.
    #[error("the Kubernetes cache did not sync within {}s: {}", waited.as_secs_f64(), pending_list(pending))]
    SyncTimeout {
        /// How long it waited.
        waited: Duration,
        /// The kinds not listed yet, with the last error of each.
        pending: Vec<(Kind, Option<String>)>,
    },
}

fn pending_list(pending: &[(Kind, Option<String>)]) -> String {
    pending
        .iter()
        .map(|(kind, error)| match error {
            Some(e) => format!("{kind} ({e})"),
            None => format!("{kind} (no answer yet)"),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// A Kubernetes client from the kubeconfig at `path`, or, without one, from in-cluster
/// configuration or `KUBECONFIG` / `~/.kube/config` (kube-rs's inference: a kubeconfig first).
pub async fn client(path: Option<&Path>) -> Result<kube::Client, CacheError> {
    let config = match path {
        Some(path) => {
            let error = |e: &dyn fmt::Display| CacheError::Kubeconfig {
                path: path.display().to_string(),
                message: e.to_string(),
            };
            let file = Kubeconfig::read_from(path).map_err(|e| error(&e))?;
            kube::Config::from_custom_kubeconfig(file, &KubeConfigOptions::default())
                .await
                .map_err(|e| error(&e))?
        }
        None => kube::Config::infer()
            .await
            .map_err(|e| CacheError::NoConfig(e.to_string()))?,
    };
    kube::Client::try_from(config).map_err(|e| CacheError::Client(e.to_string()))
}

/// The state of one kind's watcher.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KindStatus {
    /// Whether its first list is in the index.
    pub synced: bool,
    /// Complete lists applied (1 after start; more after `410 Gone` or lost watches).
    pub lists: u64,
    /// Errors seen (each retried with backoff).
    pub errors: u64,
    /// The last error, until the next complete list.
    pub last_error: Option<String>,
    /// Addresses that could not be read (not an IP; a MAC that is not one), and pods'
    /// `k8s.v1.cni.cncf.io/network-status` annotations that could not be read (each counted
    /// once, the pod indexed without its secondary interfaces), left out of the index.
    pub rejected_addresses: u64,
    /// Why the kind is not watched, when the API server forbids listing it and the kind is
    /// optional (Jobs: the NetObserv operator's RBAC does not grant them; pods of a Job then
    /// have the Job as owner, as upstream).
    pub disabled: Option<String>,
}

/// What [`KubeCache::status`] reports.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CacheStatus {
    /// By kind watched, in [`Kind::ALL`]'s order (`Deployment` only when `trackedKinds` names it).
    pub kinds: Vec<(Kind, KindStatus)>,
}

impl CacheStatus {
    /// Whether every kind is synced.
    pub fn synced(&self) -> bool {
        self.kinds
            .iter()
            .all(|(_, s)| s.synced || s.disabled.is_some())
    }

    /// The status of `kind`.
    pub fn kind(&self, kind: Kind) -> &KindStatus {
        static NONE: KindStatus = KindStatus {
            synced: false,
            lists: 0,
            errors: 0,
            last_error: None,
            rejected_addresses: 0,
            disabled: None,
        };
        self.kinds
            .iter()
            .find(|(k, _)| *k == kind)
            .map_or(&NONE, |(_, s)| s)
    }
}

/// State shared by the watcher tasks, the applier and [`KubeCache`].
struct Shared {
    kinds: Mutex<BTreeMap<Kind, KindStatus>>,
    /// Bumped each time a kind becomes synced.
    synced: watch::Sender<usize>,
}

impl Shared {
    fn update(&self, kind: Kind, f: impl FnOnce(&mut KindStatus)) {
        let mut kinds = self.kinds.lock().unwrap_or_else(|e| e.into_inner());
        f(kinds.entry(kind).or_default());
    }

    fn status(&self) -> CacheStatus {
        let kinds = self.kinds.lock().unwrap_or_else(|e| e.into_inner());
        CacheStatus {
            kinds: kinds.iter().map(|(k, s)| (*k, s.clone())).collect(),
        }
    }
}

/// The Kubernetes cache: the watchers, the task applying their events, and the index they feed.
/// Dropping it stops the tasks; lookups through it ([`IdentityLookup`]) read the index.
///
/// ```no_run
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// use netobserv_enrich::IdentityLookup;
/// use netobserv_enrich::kube::{CacheConfig, KubeCache, client};
///
/// // In-cluster configuration, else KUBECONFIG / ~/.kube/config.
/// let cache = KubeCache::start(client(None).await?, CacheConfig::default()).await?;
/// if let Some(id) = cache.identity("10.128.0.7".parse()?) {
///     println!("{:?}/{:?} owned by {:?}", id.namespace, id.name, id.owner_name);
/// }
/// # Ok(())
/// # }
/// ```
pub struct KubeCache {
    index: Arc<KubeIndex>,
    shared: Arc<Shared>,
    tasks: Vec<JoinHandle<()>>,
    config: CacheConfig,
}

impl fmt::Debug for KubeCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KubeCache")
            .field("index", &self.index)
            .field("status", &self.status())
            .finish_non_exhaustive()
    }
}

impl Drop for KubeCache {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

impl IdentityLookup for KubeCache {
    fn identity(&self, ip: IpAddr) -> Option<Arc<netobserv_flow::flow::K8sIdentity>> {
        self.index.identity(ip)
    }

    fn identities(
        &self,
        ips: [Option<IpAddr>; 2],
        zones: [bool; 2],
    ) -> [Option<Arc<netobserv_flow::flow::K8sIdentity>>; 2] {
        self.index.identities(ips, zones)
    }

    fn tags(
        &self,
        ip: IpAddr,
        of: &Arc<netobserv_flow::flow::K8sIdentity>,
    ) -> Option<Arc<ObjectTags>> {
        self.index.tags(ip, of)
    }

    fn secondary(&self, keys: &[SecondaryKey]) -> Option<SecondaryMatch> {
        self.index.secondary(keys)
    }
}

impl KubeCache {
    /// Starts the watchers on the current tokio runtime and waits until every kind is listed
    /// (at most [`CacheConfig::sync_timeout`]).
    pub async fn start(client: kube::Client, config: CacheConfig) -> Result<Self, CacheError> {
        let cache = Self::spawn(client, config);
        cache.wait_synced(cache.config.sync_timeout).await?;
        Ok(cache)
    }

    /// Starts the watchers on the current tokio runtime without waiting for them.
    pub fn spawn(client: kube::Client, config: CacheConfig) -> Self {
        let index = Arc::new(KubeIndex::new(config.index.clone()));
        Self::spawn_into(client, config, index)
    }

    /// [`KubeCache::spawn`] feeding an index of the caller's (one on an injected clock, in tests).
    pub fn spawn_into(client: kube::Client, config: CacheConfig, index: Arc<KubeIndex>) -> Self {
        let (synced, _) = watch::channel(0);
        let deployments = config.index.follows_deployments();
        let watched = Kind::ALL
            .iter()
            .filter(|k| **k != Kind::Deployment || deployments);
        let shared = Arc::new(Shared {
            kinds: Mutex::new(watched.map(|k| (*k, KindStatus::default())).collect()),
            synced,
        });
        let (tx, rx) = mpsc::channel(1024);
        let wc = watcher::Config::default().page_size(config.page_size);
        let mut tasks = vec![tokio::spawn(apply_events(
            index.clone(),
            rx,
            shared.clone(),
            config.publish_interval,
            config.expire_interval,
        ))];
        let sink = || (tx.clone(), shared.clone());
        let (t, s) = sink();
        let keep = Keep {
            labels: config.index.keep_labels,
            annotations: config.index.keep_annotations,
            networks: !config.index.secondary_networks.is_empty(),
        };
        let pods = watcher(Api::<SlimPod>::all(client.clone()), &wc);
        let convert = move |p, r: &mut u64| pod(p, r, keep);
        tasks.push(tokio::spawn(pump(Kind::Pod, pods, convert, t, s)));
        let (t, s) = sink();
        let services = watcher(Api::<SlimService>::all(client.clone()), &wc);
        let convert = move |v, r: &mut u64| service(v, r, keep);
        tasks.push(tokio::spawn(pump(Kind::Service, services, convert, t, s)));
        let (t, s) = sink();
        let nodes = watcher(Api::<SlimNode>::all(client.clone()), &wc);
        let convert = move |n, r: &mut u64| node(n, r, keep);
        tasks.push(tokio::spawn(pump(Kind::Node, nodes, convert, t, s)));
        let (t, s) = sink();
        // Metadata only (`Accept: ...;as=PartialObjectMetadataList`): owners, nothing else.
        let sets = watcher(
            Api::<PartialObjectMeta<ReplicaSet>>::all(client.clone()),
            &wc,
        );
        let set = |m: PartialObjectMeta<ReplicaSet>, _: &mut u64| {
            meta(m.metadata).map(Object::ReplicaSet)
        };
        tasks.push(tokio::spawn(pump(Kind::ReplicaSet, sets, set, t, s)));
        let (t, s) = sink();
        let jobs = watcher(Api::<PartialObjectMeta<Job>>::all(client.clone()), &wc);
        let job = |m: PartialObjectMeta<Job>, _: &mut u64| meta(m.metadata).map(Object::Job);
        tasks.push(tokio::spawn(pump(Kind::Job, jobs, job, t, s)));
        if deployments {
            let (t, s) = sink();
            let api = Api::<PartialObjectMeta<Deployment>>::all(client);
            let deploy = |m: PartialObjectMeta<Deployment>, _: &mut u64| {
                meta(m.metadata).map(Object::Deployment)
            };
            tasks.push(tokio::spawn(pump(
                Kind::Deployment,
                watcher(api, &wc),
                deploy,
                t,
                s,
            )));
        }
        Self {
            index,
            shared,
            tasks,
            config,
        }
    }

    /// Waits until every kind's first list is in the index, at most `timeout`; the error names
    /// the kinds still missing with the last error of each (`403 Forbidden`: RBAC).
    pub async fn wait_synced(&self, timeout: Duration) -> Result<(), CacheError> {
        let start = Instant::now();
        let mut rx = self.shared.synced.subscribe();
        let all = tokio::time::timeout(timeout, async {
            loop {
                if self.status().synced() {
                    return;
                }
                if rx.changed().await.is_err() {
                    // The applier is gone (runtime shutting down): nothing more will sync.
                    std::future::pending::<()>().await;
                }
            }
        })
        .await;
        match all {
            Ok(()) => Ok(()),
            Err(_) => Err(CacheError::SyncTimeout {
                waited: start.elapsed(),
                pending: self
                    .status()
                    .kinds
                    .into_iter()
                    .filter(|(_, s)| !s.synced)
                    .map(|(k, s)| (k, s.last_error))
                    .collect(),
            }),
        }
    }

    /// The index the watchers feed.
    pub fn index(&self) -> &Arc<KubeIndex> {
        &self.index
    }

    /// Each kind's watcher state: synced, lists, errors.
    pub fn status(&self) -> CacheStatus {
        self.shared.status()
    }
}

/// The cache's state as Prometheus metrics, read at each scrape: `kube_cache_synced{kind}`
/// (1 once listed), `kube_cache_lists_total{kind}`, `kube_cache_watch_errors_total{kind}`,
/// `kube_cache_rejected_addresses_total{kind}`, `kube_cache_objects{kind}` (deleted ones in
/// their grace period included) and `kube_cache_addresses`, each name after `prefix`.
pub struct CacheMetrics {
    cache: std::sync::Weak<KubeCache>,
    synced: prometheus::IntGaugeVec,
    lists: prometheus::IntCounterVec,
    errors: prometheus::IntCounterVec,
    rejected: prometheus::IntCounterVec,
    objects: prometheus::IntGaugeVec,
    addresses: prometheus::IntGauge,
}

impl CacheMetrics {
    /// Metrics of `cache` (held weakly: once it is dropped, they stay at their last values).
    pub fn new(cache: &Arc<KubeCache>, prefix: &str) -> prometheus::Result<Self> {
        use prometheus::{IntCounterVec, IntGauge, IntGaugeVec, Opts};
        let opts = |name: &str, help: &str| Opts::new(format!("{prefix}{name}"), help);
        Ok(Self {
            cache: Arc::downgrade(cache),
            synced: IntGaugeVec::new(
                opts(
                    "kube_cache_synced",
                    "1 once the kind's first list is in the Kubernetes cache",
                ),
                &["kind"],
            )?,
            lists: IntCounterVec::new(
                opts(
                    "kube_cache_lists_total",
                    "Complete lists of the kind applied to the Kubernetes cache (more than 1: relists after 410 Gone or lost watches)",
                ),
                &["kind"],
            )?,
            errors: IntCounterVec::new(
                opts(
                    "kube_cache_watch_errors_total",
                    "Errors of the kind's Kubernetes watcher, each retried with backoff",
                ),
                &["kind"],
            )?,
            rejected: IntCounterVec::new(
                opts(
                    "kube_cache_rejected_addresses_total",
                    "Addresses of the kind's objects that are not IPs, left out of the Kubernetes cache",
                ),
                &["kind"],
            )?,
            objects: IntGaugeVec::new(
                opts(
                    "kube_cache_objects",
                    "Objects of the kind in the Kubernetes cache, deleted ones in their grace period included",
                ),
                &["kind"],
            )?,
            addresses: IntGauge::with_opts(opts(
                "kube_cache_addresses",
                "Addresses the Kubernetes cache resolves",
            ))?,
        })
    }
}

impl prometheus::core::Collector for CacheMetrics {
    fn desc(&self) -> Vec<&prometheus::core::Desc> {
        let mut d = self.synced.desc();
        d.extend(self.lists.desc());
        d.extend(self.errors.desc());
        d.extend(self.rejected.desc());
        d.extend(self.objects.desc());
        d.extend(self.addresses.desc());
        d
    }

    fn collect(&self) -> Vec<prometheus::proto::MetricFamily> {
        if let Some(cache) = self.cache.upgrade() {
            let raise = |c: &prometheus::IntCounterVec, kind: &str, to: u64| {
                let c = c.with_label_values(&[kind]);
                c.inc_by(to.saturating_sub(c.get()));
            };
            for (kind, s) in cache.status().kinds {
                let k = kind.as_str();
                self.synced.with_label_values(&[k]).set(i64::from(s.synced));
                raise(&self.lists, k, s.lists);
                raise(&self.errors, k, s.errors);
                raise(&self.rejected, k, s.rejected_addresses);
                let n = cache.index().objects(kind);
                self.objects
                    .with_label_values(&[k])
                    .set(i64::try_from(n).unwrap_or(i64::MAX));
            }
            self.addresses
                .set(i64::try_from(cache.index().len()).unwrap_or(i64::MAX));
        }
        let mut m = self.synced.collect();
        m.extend(self.lists.collect());
        m.extend(self.errors.collect());
        m.extend(self.rejected.collect());
        m.extend(self.objects.collect());
        m.extend(self.addresses.collect());
        m
    }
}

/// What a watcher task hands the applier.
enum Message {
    Event(Event),
    /// A complete list of a kind.
    Listed(Kind, Vec<Object>),
}

type Events<T> = futures_util::stream::BoxStream<'static, Result<WatchEvent<T>, watcher::Error>>;

fn watcher<K>(api: Api<K>, wc: &watcher::Config) -> Events<K>
where
    K: kube::Resource<DynamicType = ()>
        + Clone
        + serde::de::DeserializeOwned
        + fmt::Debug
        + Send
        + 'static,
{
    watcher::watcher(api, wc.clone()).default_backoff().boxed()
}

/// One kind's watcher: turns its objects into index objects (`f`: `None` for one without a
/// name), buffers a (re)list until it is complete, passes other events on.
async fn pump<K: Send + 'static>(
    kind: Kind,
    mut events: Events<K>,
    mut f: impl FnMut(K, &mut u64) -> Option<Object> + Send + 'static,
    tx: mpsc::Sender<Message>,
    shared: Arc<Shared>,
) {
    let mut listing: Vec<Object> = Vec::new();
    while let Some(event) = events.next().await {
        let mut rejected = 0;
        let message = match event {
            Ok(WatchEvent::Init) => {
                listing.clear();
                None
            }
            Ok(WatchEvent::InitApply(k)) => {
                listing.extend(f(k, &mut rejected));
                None
            }
            Ok(WatchEvent::InitDone) => Some(Message::Listed(kind, std::mem::take(&mut listing))),
            Ok(WatchEvent::Apply(k)) => {
                f(k, &mut rejected).map(|o| Message::Event(Event::Apply(o)))
            }
            Ok(WatchEvent::Delete(k)) => {
                f(k, &mut rejected).map(|o| Message::Event(Event::Delete(o)))
            }
            Err(error) if kind == Kind::Job && forbidden_list(&error) => {
                // Optional: the CronJob step is this build's extension, and the operator's
                // RBAC does not grant Jobs. Forbidden: go on without them.
                tracing::warn!(
                    %error,
                    "listing Jobs is forbidden: pods of Jobs get the Job as owner, not its CronJob \
                     (grant list and watch on jobs.batch for the CronJob)"
                );
                shared.update(kind, |s| {
                    s.errors += 1;
                    s.disabled = Some(error.to_string());
                });
                shared.synced.send_modify(|n| *n += 1);
                return;
            }
            Err(error) => {
                tracing::warn!(%kind, %error, "Kubernetes watcher error (retried with backoff)");
                shared.update(kind, |s| {
                    s.errors += 1;
                    s.last_error = Some(error.to_string());
                });
                None
            }
        };
        if rejected > 0 {
            shared.update(kind, |s| s.rejected_addresses += rejected);
        }
        if let Some(message) = message
            && tx.send(message).await.is_err()
        {
            return;
        }
    }
}

/// Whether `error` is the API server forbidding the first list (RBAC).
fn forbidden_list(error: &watcher::Error) -> bool {
    matches!(error, watcher::Error::InitialListFailed(kube::Error::Api(status)) if status.is_forbidden())
}

/// Applies the watchers' events to the index in batches, at most one publish per `interval`.
async fn apply_events(
    index: Arc<KubeIndex>,
    mut rx: mpsc::Receiver<Message>,
    shared: Arc<Shared>,
    interval: Duration,
    expire_every: Duration,
) {
    let mut last_publish: Option<Instant> = None;
    loop {
        let first = tokio::select! {
            m = rx.recv() => m,
            () = tokio::time::sleep(expire_every) => {
                index.expire();
                continue;
            }
        };
        let Some(first) = first else { return };
        let mut batch = vec![first];
        if let Some(at) = last_publish {
            let until = tokio::time::Instant::from_std(at + interval);
            while let Ok(Some(m)) = tokio::time::timeout_at(until, rx.recv()).await {
                batch.push(m);
            }
        }
        while let Ok(m) = rx.try_recv() {
            batch.push(m);
        }
        let mut listed = Vec::new();
        index.apply(batch.into_iter().map(|m| match m {
            Message::Event(e) => e,
            Message::Listed(kind, objects) => {
                listed.push(kind);
                Event::Replace { kind, objects }
            }
        }));
        last_publish = Some(Instant::now());
        if !listed.is_empty() {
            for kind in listed {
                shared.update(kind, |s| {
                    s.synced = true;
                    s.lists += 1;
                    s.last_error = None;
                });
            }
            shared.synced.send_modify(|n| *n += 1);
        }
    }
}

// --- Slim objects: what enrichment reads of each kind, decoded from the API's JSON. ---

/// `metadata`, decoded without `managedFields`, annotations or anything else unused.
fn slim_meta<'de, D: Deserializer<'de>>(d: D) -> Result<ObjectMeta, D::Error> {
    #[derive(Deserialize, Default)]
    #[serde(default, rename_all = "camelCase")]
    struct SlimOwner {
        kind: String,
        name: String,
    }
    #[derive(Deserialize, Default)]
    #[serde(default, rename_all = "camelCase")]
    struct SlimMeta {
        name: Option<String>,
        namespace: Option<String>,
        uid: Option<String>,
        resource_version: Option<String>,
        labels: Option<BTreeMap<String, String>>,
        annotations: Option<BTreeMap<String, String>>,
        owner_references: Option<Vec<SlimOwner>>,
    }
    let m = SlimMeta::deserialize(d)?;
    Ok(ObjectMeta {
        name: m.name,
        namespace: m.namespace,
        uid: m.uid,
        resource_version: m.resource_version,
        labels: m.labels,
        annotations: m.annotations,
        owner_references: m.owner_references.map(|o| {
            o.into_iter()
                .map(|o| OwnerReference {
                    kind: o.kind,
                    name: o.name,
                    ..OwnerReference::default()
                })
                .collect()
        }),
        ..ObjectMeta::default()
    })
}

/// Implements `kube::Resource` for a slim type as the full k8s-openapi type it reads.
macro_rules! slim_resource {
    ($slim:ty, $full:ty) => {
        impl kube::Resource for $slim {
            type DynamicType = ();
            type Scope = <$full as k8s_openapi::Resource>::Scope;

            fn kind(_: &()) -> Cow<'_, str> {
                <$full as k8s_openapi::Resource>::KIND.into()
            }
            fn group(_: &()) -> Cow<'_, str> {
                <$full as k8s_openapi::Resource>::GROUP.into()
            }
            fn version(_: &()) -> Cow<'_, str> {
                <$full as k8s_openapi::Resource>::VERSION.into()
            }
            fn plural(_: &()) -> Cow<'_, str> {
                <$full as k8s_openapi::Resource>::URL_PATH_SEGMENT.into()
            }
            fn meta(&self) -> &ObjectMeta {
                &self.metadata
            }
            fn meta_mut(&mut self) -> &mut ObjectMeta {
                &mut self.metadata
            }
        }
    };
}

/// What enrichment reads of a `Pod`.
#[derive(Clone, Debug, Deserialize)]
struct SlimPod {
    #[serde(deserialize_with = "slim_meta")]
    metadata: ObjectMeta,
    #[serde(default)]
    spec: SlimPodSpec,
    #[serde(default)]
    status: SlimPodStatus,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct SlimPodSpec {
    node_name: Option<String>,
    host_network: Option<bool>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct SlimPodStatus {
    phase: Option<String>,
    #[serde(rename = "hostIP")]
    host_ip: Option<String>,
    #[serde(rename = "podIP")]
    pod_ip: Option<String>,
    #[serde(rename = "podIPs")]
    pod_ips: Option<Vec<SlimPodIp>>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
struct SlimPodIp {
    ip: String,
}

slim_resource!(SlimPod, k8s_openapi::api::core::v1::Pod);

/// What enrichment reads of a `Service`.
#[derive(Clone, Debug, Deserialize)]
struct SlimService {
    #[serde(deserialize_with = "slim_meta")]
    metadata: ObjectMeta,
    #[serde(default)]
    spec: SlimServiceSpec,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct SlimServiceSpec {
    #[serde(rename = "clusterIP")]
    cluster_ip: Option<String>,
    #[serde(rename = "clusterIPs")]
    cluster_ips: Option<Vec<String>>,
    #[serde(rename = "externalIPs")]
    external_ips: Option<Vec<String>>,
}

slim_resource!(SlimService, k8s_openapi::api::core::v1::Service);

/// What enrichment reads of a `Node`.
#[derive(Clone, Debug, Deserialize)]
struct SlimNode {
    #[serde(deserialize_with = "slim_meta")]
    metadata: ObjectMeta,
    #[serde(default)]
    status: SlimNodeStatus,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
struct SlimNodeStatus {
    addresses: Option<Vec<SlimNodeAddress>>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
struct SlimNodeAddress {
    #[serde(rename = "type")]
    kind: String,
    address: String,
}

slim_resource!(SlimNode, k8s_openapi::api::core::v1::Node);

/// The index's metadata of an object; `None` without a name (nothing to key it by).
fn meta(m: ObjectMeta) -> Option<Meta> {
    let name = m.name?;
    let mut meta = Meta::new(
        m.namespace.as_deref().unwrap_or(""),
        &name,
        m.uid.as_deref().unwrap_or(""),
    );
    for o in m.owner_references.unwrap_or_default() {
        meta.owners.push(OwnerRef::new(&o.kind, &o.name));
    }
    Some(meta)
}

/// Parses the addresses of `values`, counting in `rejected` (and logging) those that are not
/// IPs; empty strings and `None` (a headless service's cluster IP) are not addresses to read.
fn addresses<'a>(
    values: impl IntoIterator<Item = &'a str>,
    what: &str,
    name: &str,
    rejected: &mut u64,
) -> Vec<IpAddr> {
    let mut ips = Vec::new();
    for v in values {
        if v.is_empty() || v == "None" {
            continue;
        }
        match v.parse::<IpAddr>() {
            Ok(ip) if !ips.contains(&ip) => ips.push(ip),
            Ok(_) => {}
            Err(_) => {
                *rejected += 1;
                tracing::warn!(
                    object = name,
                    address = v,
                    "{what}: not an IP address, left out"
                );
            }
        }
    }
    ips
}

/// What of an object's metadata is kept besides what identities need.
#[derive(Clone, Copy, Debug, Default)]
struct Keep {
    labels: bool,
    annotations: bool,
    /// Pods' interfaces on secondary networks (the network-status annotation).
    networks: bool,
}

/// The labels and annotations `keep` asks for, taken out of `m`; `None` when there are none.
fn tags(m: &mut ObjectMeta, keep: Keep) -> Option<Arc<ObjectTags>> {
    let pairs = |map: Option<BTreeMap<String, String>>| -> Vec<(Arc<str>, Arc<str>)> {
        map.into_iter()
            .flatten()
            .map(|(k, v)| (Arc::from(k), Arc::from(v)))
            .collect()
    };
    let t = ObjectTags {
        labels: if keep.labels {
            pairs(m.labels.take())
        } else {
            Vec::new()
        },
        annotations: if keep.annotations {
            pairs(m.annotations.take())
        } else {
            Vec::new()
        },
    };
    (!t.is_empty()).then(|| Arc::new(t))
}

/// One entry of the network-status annotation, as Multus writes it
/// (<https://k8snetworkplumbingwg.github.io/multus-cni/docs/quickstart.html#network-status-annotations>);
/// the rest (`dns`, `device-info`...) is skipped.
#[derive(Deserialize)]
struct NetworkStatus {
    name: Option<String>,
    default: Option<bool>,
    interface: Option<String>,
    ips: Option<Vec<String>>,
    mac: Option<String>,
}

/// The secondary interfaces of pod `name` from its network-status annotation: the entries that
/// are not the default network. An annotation that cannot be read counts one rejection (the
/// pod keeps its other addresses, as upstream); so does each address or MAC that is not one.
fn networks(annotation: &str, name: &str, rejected: &mut u64) -> Vec<PodNetwork> {
    let entries: Option<Vec<NetworkStatus>> = match serde_json::from_str(annotation) {
        Ok(entries) => entries,
        Err(error) => {
            *rejected += 1;
            tracing::warn!(
                pod = name,
                %error,
                "{NETWORK_STATUS} annotation: not a list of network statuses, secondary interfaces not indexed"
            );
            return Vec::new();
        }
    };
    let mut networks = Vec::new();
    for e in entries.into_iter().flatten() {
        if e.default.unwrap_or(false) {
            continue;
        }
        let mut n = PodNetwork::new(
            e.name.as_deref().unwrap_or(""),
            e.interface.as_deref().unwrap_or(""),
        );
        let ips = e.ips.iter().flatten().map(String::as_str);
        n.ips = addresses(ips, NETWORK_STATUS, name, rejected);
        match e.mac.as_deref() {
            None | Some("") => {}
            Some(mac) => match mac.parse() {
                Ok(mac) => n.mac = Some(mac),
                Err(_) => {
                    *rejected += 1;
                    tracing::warn!(
                        pod = name,
                        mac,
                        "{NETWORK_STATUS}: not a MAC address, left out"
                    );
                }
            },
        }
        networks.push(n);
    }
    networks
}

fn pod(mut p: SlimPod, rejected: &mut u64, keep: Keep) -> Option<Object> {
    // Read before the annotations are (maybe) taken.
    let status = keep
        .networks
        .then(|| {
            p.metadata
                .annotations
                .as_ref()?
                .get(NETWORK_STATUS)
                .cloned()
        })
        .flatten();
    let tags = tags(&mut p.metadata, keep);
    let meta = meta(p.metadata)?;
    let status_annotation = status;
    let status = p.status;
    // A pod that ended (Succeeded, Failed) has given its addresses back, on every network: a new
    // pod may hold them.
    let ended = matches!(status.phase.as_deref(), Some("Succeeded" | "Failed"));
    let networks = match status_annotation {
        Some(s) if !ended => networks(&s, &meta.name, rejected),
        _ => Vec::new(),
    };
    let ips = if ended {
        Vec::new()
    } else {
        let listed = status.pod_ips.iter().flatten().map(|p| p.ip.as_str());
        addresses(
            listed.chain(status.pod_ip.as_deref()),
            "status.podIPs",
            &meta.name,
            rejected,
        )
    };
    let host_ip = addresses(
        status.host_ip.as_deref(),
        "status.hostIP",
        &meta.name,
        rejected,
    )
    .first()
    .copied();
    let mut pod = Pod::new(meta, ips).with_host_network(p.spec.host_network.unwrap_or(false));
    pod.host_ip = host_ip;
    pod.tags = tags;
    pod.networks = networks;
    pod.node_name = p.spec.node_name.as_deref().map(Arc::from);
    Some(Object::Pod(pod))
}

fn service(mut s: SlimService, rejected: &mut u64, keep: Keep) -> Option<Object> {
    let tags = tags(&mut s.metadata, keep);
    let meta = meta(s.metadata)?;
    let spec = s.spec;
    let cluster = addresses(
        spec.cluster_ips
            .iter()
            .flatten()
            .map(String::as_str)
            .chain(spec.cluster_ip.as_deref()),
        "spec.clusterIPs",
        &meta.name,
        rejected,
    );
    let external = addresses(
        spec.external_ips.iter().flatten().map(String::as_str),
        "spec.externalIPs",
        &meta.name,
        rejected,
    );
    let mut service = Service::new(meta, cluster).with_external_ips(external);
    service.tags = tags;
    Some(Object::Service(service))
}

fn node(n: SlimNode, rejected: &mut u64, keep: Keep) -> Option<Object> {
    let mut metadata = n.metadata;
    // The zone is read from the labels before they are (maybe) taken.
    let zone = metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(ZONE_LABEL))
        .cloned();
    let tags = tags(&mut metadata, keep);
    let name = metadata.name?;
    let of_type = |t: &str| -> Vec<&str> {
        n.status
            .addresses
            .iter()
            .flatten()
            .filter(|a| a.kind == t)
            .map(|a| a.address.as_str())
            .collect()
    };
    let internal = addresses(of_type("InternalIP"), "status.addresses", &name, rejected);
    let external = addresses(of_type("ExternalIP"), "status.addresses", &name, rejected);
    let mut node = Node::new(&name, internal).with_external_ips(external);
    node.uid = metadata.uid.as_deref().unwrap_or("").into();
    if let Some(zone) = zone {
        node = node.with_zone(&zone);
    }
    node.tags = tags;
    Some(Object::Node(node))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode<T: serde::de::DeserializeOwned>(json: serde_json::Value) -> T {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn a_pod_keeps_its_addresses_node_and_owner_and_skips_the_rest() {
        let p: SlimPod = decode(serde_json::json!({
            "metadata": {"name": "web-1", "namespace": "shop", "uid": "u1",
                "managedFields": [{"manager": "kubelet", "fieldsV1": {"f:status": {}}}],
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-5d", "uid": "u0", "controller": true}]},
            "spec": {"nodeName": "worker-1", "containers": [{"name": "c", "image": "x"}]},
            "status": {"phase": "Running", "hostIP": "10.0.0.1", "podIP": "10.128.0.7",
                "podIPs": [{"ip": "10.128.0.7"}, {"ip": "fd01::7"}, {"ip": "bogus"}]}
        }));
        let mut rejected = 0;
        let Some(Object::Pod(pod)) = pod(p, &mut rejected, Keep::default()) else {
            panic!("not a pod")
        };
        assert_eq!(rejected, 1);
        assert_eq!(
            pod.ips,
            vec![
                "10.128.0.7".parse::<IpAddr>().unwrap(),
                "fd01::7".parse().unwrap()
            ]
        );
        assert_eq!(pod.host_ip, Some("10.0.0.1".parse().unwrap()));
        assert_eq!(pod.node_name.as_deref(), Some("worker-1"));
        assert_eq!(pod.meta.owners, vec![OwnerRef::new("ReplicaSet", "web-5d")]);
        assert!(!pod.host_network);
    }

    #[test]
    fn an_ended_pod_gives_its_addresses_back_on_every_network() {
        let status = r#"[{"name": "ovn-kubernetes", "default": true, "ips": ["10.128.0.9"]},
            {"name": "shop/storage", "interface": "net1", "ips": ["192.168.10.5"], "mac": "0a:58:c0:a8:0a:05"}]"#;
        let json = |phase: &str| {
            serde_json::json!({
                "metadata": {"name": "job-1", "namespace": "shop",
                    "annotations": {"k8s.v1.cni.cncf.io/network-status": status}},
                "status": {"phase": phase, "podIP": "10.128.0.9", "podIPs": [{"ip": "10.128.0.9"}]}
            })
        };
        let keep = Keep {
            networks: true,
            ..Keep::default()
        };
        let Some(Object::Pod(running)) = pod(decode(json("Running")), &mut 0, keep) else {
            panic!("not a pod")
        };
        assert_eq!(running.ips.len(), 1);
        assert_eq!(
            running.networks.len(),
            1,
            "the secondary network, not the default"
        );
        for phase in ["Succeeded", "Failed"] {
            let Some(Object::Pod(ended)) = pod(decode(json(phase)), &mut 0, keep) else {
                panic!("not a pod")
            };
            assert!(ended.ips.is_empty(), "{phase}");
            assert!(ended.networks.is_empty(), "{phase}");
        }
    }

    #[test]
    fn services_skip_none_and_nodes_split_address_types() {
        let s: SlimService = decode(serde_json::json!({
            "metadata": {"name": "db", "namespace": "shop"},
            "spec": {"clusterIP": "None", "clusterIPs": ["None"], "externalIPs": ["198.51.100.4"]}
        }));
        let Some(Object::Service(s)) = service(s, &mut 0, Keep::default()) else {
            panic!("not a service")
        };
        assert!(s.cluster_ips.is_empty());
        assert_eq!(
            s.external_ips,
            vec!["198.51.100.4".parse::<IpAddr>().unwrap()]
        );

        let n: SlimNode = decode(serde_json::json!({
            "metadata": {"name": "w1", "uid": "n1", "labels": {"topology.kubernetes.io/zone": "eu-1a"}},
            "status": {"addresses": [
                {"type": "Hostname", "address": "w1"},
                {"type": "InternalIP", "address": "10.0.0.1"},
                {"type": "ExternalIP", "address": "203.0.113.1"},
                {"type": "InternalIP", "address": "fd00::1"}
            ]}
        }));
        let Some(Object::Node(n)) = node(n, &mut 0, Keep::default()) else {
            panic!("not a node")
        };
        assert_eq!(
            n.internal_ips,
            vec![
                "10.0.0.1".parse::<IpAddr>().unwrap(),
                "fd00::1".parse().unwrap()
            ]
        );
        assert_eq!(
            n.external_ips,
            vec!["203.0.113.1".parse::<IpAddr>().unwrap()]
        );
        assert_eq!(n.zone.as_deref(), Some("eu-1a"));
        assert_eq!(&*n.uid, "n1");
    }

    #[test]
    fn an_object_without_a_name_is_not_used() {
        let p: SlimPod = decode(serde_json::json!({"metadata": {"namespace": "shop"}}));
        assert!(pod(p, &mut 0, Keep::default()).is_none());
    }
    fn multus_pod(status: &str) -> SlimPod {
        decode(serde_json::json!({
            "metadata": {"name": "storage-gw-0", "namespace": "shop",
                "annotations": {"k8s.v1.cni.cncf.io/network-status": status, "team": "storage"}},
            "status": {"phase": "Running", "hostIP": "10.0.0.1", "podIP": "10.128.0.30",
                "podIPs": [{"ip": "10.128.0.30"}]}
        }))
    }

    const NETWORKS: Keep = Keep {
        labels: false,
        annotations: false,
        networks: true,
    };

    #[test]
    fn the_network_status_annotation_gives_the_secondary_interfaces() {
        let status = r#"[
            {"name": "ovn-kubernetes", "interface": "eth0", "ips": ["10.128.0.30"],
             "mac": "0a:58:0a:80:00:1e", "default": true, "dns": {}},
            {"name": "shop/macvlan-storage", "interface": "net1",
             "ips": ["192.168.10.5", "fd10::5"], "mac": "86:1D:96:FF:55:0D", "dns": {}},
            {"name": "shop/sriov-data", "interface": "net2", "mac": "a2:4c:11:9e:00:07",
             "device-info": {"type": "pci", "pci": {"pci-address": "0000:3b:02.4"}}},
            {"name": "shop/bad", "interface": "net3", "ips": ["192.168.300.1"], "mac": "zz"}
        ]"#;
        let mut rejected = 0;
        let Some(Object::Pod(p)) = pod(multus_pod(status), &mut rejected, NETWORKS) else {
            panic!("not a pod")
        };
        // The bad address and the bad MAC.
        assert_eq!(rejected, 2);
        let mac = |s: &str| s.parse::<netobserv_flow::flow::MacAddr>().unwrap();
        assert_eq!(
            p.networks,
            vec![
                PodNetwork::new("shop/macvlan-storage", "net1")
                    .with_ips(["192.168.10.5".parse().unwrap(), "fd10::5".parse().unwrap()])
                    .with_mac(mac("86:1d:96:ff:55:0d")),
                PodNetwork::new("shop/sriov-data", "net2").with_mac(mac("a2:4c:11:9e:00:07")),
                PodNetwork::new("shop/bad", "net3"),
            ]
        );
        assert_eq!(p.ips, vec!["10.128.0.30".parse::<IpAddr>().unwrap()]);
        assert!(p.tags.is_none(), "annotations not kept");

        // Not read when no secondary network is configured.
        let Some(Object::Pod(p)) = pod(multus_pod(status), &mut rejected, Keep::default()) else {
            panic!("not a pod")
        };
        assert!(p.networks.is_empty());
        assert_eq!(rejected, 2);

        // Read before the annotations are taken for copying.
        let keep = Keep {
            annotations: true,
            ..NETWORKS
        };
        let Some(Object::Pod(p)) = pod(multus_pod(status), &mut 0, keep) else {
            panic!("not a pod")
        };
        assert_eq!(p.networks.len(), 3);
        assert_eq!(p.tags.unwrap().annotations.len(), 2);
    }

    #[test]
    fn a_malformed_network_status_is_counted_and_the_pod_kept() {
        for bad in [
            r#"[{"name": "shop/macvlan-storage", "interface": "net1", "ips": ["192.168.10.6""#,
            "whatever",
            r#"{"name": "shop/macvlan-storage"}"#,
            r#"[{"name": "shop/macvlan-storage", "ips": "192.168.10.6"}]"#,
        ] {
            let mut rejected = 0;
            let Some(Object::Pod(pod)) = pod(multus_pod(bad), &mut rejected, NETWORKS) else {
                panic!("not a pod")
            };
            assert_eq!(rejected, 1, "{bad}");
            assert!(pod.networks.is_empty(), "{bad}");
            assert_eq!(pod.ips, vec!["10.128.0.30".parse::<IpAddr>().unwrap()]);
        }
        // `null`, as Go reads it: no network, no error.
        let mut rejected = 0;
        let Some(Object::Pod(pod)) = pod(multus_pod("null"), &mut rejected, NETWORKS) else {
            panic!("not a pod")
        };
        assert_eq!((rejected, pod.networks.len()), (0, 0));
    }
}
