//! Enrichment of flows for the netobserv-rs pipeline: upstream flowlogs-pipeline's
//! `transform: {type: network}` stage, registered in a
//! [`netobserv_flow::pipeline::StageRegistry`] with [`register`].
//!
//! | rule | what it writes | needs |
//! |---|---|---|
//! | `add_subnet` | the network of an address (`10.0.0.0/16`) | — |
//! | `add_subnet_label` | the name of the first `subnetLabels` entry holding the address (IPv4, IPv6) | `subnetLabels` |
//! | `add_service` | the service name of a port and protocol (`https`) | the embedded table, or `servicesFile` / `protocolsFile` |
//! | `add_location` | `<output>_CountryName`, `_CountryLongName`, `_RegionName`, `_CityName`, `_Latitude`, `_Longitude` | an ip2location BIN file (`file_path`) |
//! | `decode_tcp_flags` | the TCP flags as a list of names (`["SYN","ACK"]`), from agent and JSON input alike | — |
//! | `reinterpret_direction` | `FlowDirection` at the node level (0 ingress, 1 egress, 2 inner) from the agent's IP and the hosts' IPs | `directionInfo` |
//! | `add_kubernetes_infra` | `K8S_FlowLayer`: `infra` or `app` from namespaces and names | — |
//! | `add_kubernetes` | `SrcK8S_*` / `DstK8S_*` identities, by address; first by a pod interface's secondary network (Multus) keys when `kubeConfig.secondaryNetworks` is set | an [`IdentityLookup`]: the Kubernetes cache (`register_with_kube`, feature `kube`) or a table of yours ([`register_with_identities`]); without one the rule is skipped with a start-up warning |
//!
//! Registered with [`register`] (no identities), `add_kubernetes` is a warning, not an error: a
//! program embedding the stage without a cluster can still run the operator's configuration;
//! flows then pass without Kubernetes fields (or with those they arrived with), which the
//! warning says at start-up. With `register_with_kube`, a missing cluster configuration is an
//! error.
//!
//! ```
//! let mut registry = netobserv_flow::pipeline::StageRegistry::with_builtins();
//! netobserv_enrich::register(&mut registry);
//! assert!(registry.supports(netobserv_flow::config::StageKind::Transform, "network"));
//! ```
//!
//! [`kube::KubeIndex`] is the Kubernetes identity index behind `add_kubernetes`: fed with
//! add/update/delete events (by `kube::KubeCache`'s watchers, feature `kube`), read without
//! locks.
//!
//! Cargo feature `kube`: `kube::KubeCache`, the kube-rs watchers feeding the index from a
//! Kubernetes API server, and `register_with_kube`, which starts one for `add_kubernetes`.

pub mod error;
pub mod identity;
pub mod kube;
pub mod network;

use std::sync::Arc;

use netobserv_flow::config::StageKind;
use netobserv_flow::pipeline::{BuildContext, Component, StageFactory, StageRegistry};

pub use error::{Error, Result};
pub use identity::{
    IdentityLookup, ObjectTags, SecondaryIndex, SecondaryKey, SecondaryMatch, StaticIdentities,
};
pub use network::{Network, NetworkConfig};

/// Registers `transform: network`, with no Kubernetes cache: `add_kubernetes` rules are skipped
/// with a start-up warning.
pub fn register(registry: &mut StageRegistry) {
    registry.register(
        StageKind::Transform,
        "network",
        NetworkFactory {
            identities: Identities::None,
        },
    );
}

/// Registers `transform: network` with `identities` behind `add_kubernetes`.
pub fn register_with_identities(registry: &mut StageRegistry, identities: Arc<dyn IdentityLookup>) {
    registry.register(
        StageKind::Transform,
        "network",
        NetworkFactory {
            identities: Identities::Fixed(identities),
        },
    );
}

/// How `register_with_kube` gets its Kubernetes cache.
#[cfg(feature = "kube")]
#[derive(Clone, Debug, Default)]
pub struct KubeOptions {
    /// The cache's settings (sync timeout, grace period...).
    pub cache: kube::CacheConfig,
    /// Build only: check that a Kubernetes configuration exists (a warning when none does) but
    /// do not connect (`--check`); `add_kubernetes` rules are then skipped.
    pub check_only: bool,
}

/// Registers `transform: network` with a Kubernetes cache behind `add_kubernetes`: the first
/// stage with an `add_kubernetes` rule starts it (from `kubeConfig.configPath`, else in-cluster
/// configuration or `KUBECONFIG` / `~/.kube/config`) and waits for its first sync; every stage
/// naming the same kubeconfig shares it. No configuration is a configuration error naming what
/// was looked for; no sync within the timeout fails the stage with the kinds missing.
#[cfg(feature = "kube")]
pub fn register_with_kube(registry: &mut StageRegistry, options: KubeOptions) {
    registry.register(
        StageKind::Transform,
        "network",
        NetworkFactory {
            identities: Identities::Kube(Arc::new(KubeSource {
                options,
                caches: tokio::sync::Mutex::new(Vec::new()),
            })),
        },
    );
}

/// Where `add_kubernetes` looks addresses up.
enum Identities {
    None,
    Fixed(Arc<dyn IdentityLookup>),
    #[cfg(feature = "kube")]
    Kube(Arc<KubeSource>),
}

/// The caches started by the stages.
#[cfg(feature = "kube")]
struct KubeSource {
    options: KubeOptions,
    /// By the settings of their index (see [`CacheKey`]).
    caches: tokio::sync::Mutex<Vec<(CacheKey, Arc<kube::KubeCache>)>>,
}

/// What tells two stages' caches apart: kubeconfig path, tracked kinds, whether labels and
/// annotations are kept, and the secondary network indexes.
#[cfg(feature = "kube")]
type CacheKey = (
    Option<String>,
    Vec<String>,
    bool,
    bool,
    Vec<identity::SecondaryIndex>,
);

#[cfg(feature = "kube")]
impl KubeSource {
    async fn get(
        &self,
        cfg: &NetworkConfig,
        cx: &mut BuildContext<'_>,
    ) -> netobserv_flow::Result<Option<Arc<dyn IdentityLookup>>> {
        let path = cfg.kube_config.as_ref().and_then(|k| k.config_path.clone());
        let tracked = cfg
            .kube_config
            .as_ref()
            .map(|k| k.tracked_kinds.clone())
            .unwrap_or_default();
        let key = if path.is_some() {
            format!("{}.network.kubeConfig.configPath", cx.path())
        } else {
            format!("{}.network", cx.path())
        };
        let mut caches = self.caches.lock().await;
        // Labels and annotations are kept only when a rule copies them.
        let kube_rules = || {
            cfg.rules
                .iter()
                .filter(|r| r.r#type == network::config::RuleType::AddKubernetes)
                .filter_map(|r| r.kubernetes.as_ref())
        };
        let keep_labels =
            kube_rules().any(|k| k.labels_prefix.as_ref().is_some_and(|p| !p.is_empty()));
        let keep_annotations =
            kube_rules().any(|k| k.annotations_prefix.as_ref().is_some_and(|p| !p.is_empty()));
        // Pods' secondary interfaces are read only when secondary networks are configured.
        let secondary = cfg
            .kube_config
            .as_ref()
            .map(|k| k.multus_indexes())
            .unwrap_or_default();
        let id: CacheKey = (
            path.clone(),
            tracked.clone(),
            keep_labels,
            keep_annotations,
            secondary.clone(),
        );
        if let Some((_, cache)) = caches.iter().find(|(k, _)| *k == id) {
            return Ok(Some(cache.clone()));
        }
        let client = match kube::client(path.as_deref().map(std::path::Path::new)).await {
            Ok(c) => c,
            Err(e) if self.options.check_only => {
                cx.warn(format!("{key}: add_kubernetes will not start here: {e}"));
                return Ok(None);
            }
            Err(e) => {
                let message = format!("add_kubernetes: {e}");
                return Err(
                    netobserv_flow::ConfigError::invalid(cx.stage(), Some(&key), message).into(),
                );
            }
        };
        if self.options.check_only {
            return Ok(None);
        }
        let started = std::time::Instant::now();
        let mut config = self.options.cache.clone();
        config.index = config.index.with_tracked_kinds(&tracked);
        config.index.keep_labels = keep_labels;
        config.index.keep_annotations = keep_annotations;
        config.index = config.index.with_secondary_networks(secondary);
        let cache = kube::KubeCache::start(client, config).await.map_err(|e| {
            netobserv_flow::Error::Stage {
                stage: cx.stage().to_string(),
                source: Box::new(e),
            }
        })?;
        tracing::info!(
            stage = cx.stage(),
            addresses = cache.index().len(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "Kubernetes cache synced"
        );
        let cache = Arc::new(cache);
        // Served with the pipeline's metrics; a second cache (another kubeconfig) would repeat
        // the names: its metrics are left out, with a warning.
        match kube::CacheMetrics::new(&cache, cx.metrics_prefix()) {
            Ok(m) => {
                if let Err(e) = cx.prometheus_registry().register(Box::new(m)) {
                    cx.warn(format!(
                        "{key}: the Kubernetes cache's metrics are not served: {e}"
                    ));
                }
            }
            Err(e) => cx.warn(format!(
                "{key}: the Kubernetes cache's metrics are not served: {e}"
            )),
        }
        caches.push((id, cache.clone()));
        Ok(Some(cache))
    }
}

struct NetworkFactory {
    identities: Identities,
}

#[async_trait::async_trait]
impl StageFactory for NetworkFactory {
    async fn build(&self, cx: &mut BuildContext<'_>) -> netobserv_flow::Result<Component> {
        let cfg: NetworkConfig = cx.settings_or_default()?;
        let identities = match &self.identities {
            Identities::None => None,
            Identities::Fixed(f) => Some(f.clone()),
            #[cfg(feature = "kube")]
            Identities::Kube(source) => {
                let wanted = cfg
                    .rules
                    .iter()
                    .any(|r| r.r#type == network::config::RuleType::AddKubernetes);
                if wanted {
                    source.get(&cfg, cx).await?
                } else {
                    None
                }
            }
        };
        let stage = cx.stage().to_string();
        let base = format!("{}.network", cx.path());
        let metrics = cx.metrics().clone();
        let built = network::build(&cfg, &base, &stage, cx.fields(), identities)
            .map_err(|e| e.into_config_error(&stage))?;
        for w in &built.warnings {
            cx.warn(w);
        }
        Ok(Component::transform(built.network.with_metrics(metrics)))
    }
}
