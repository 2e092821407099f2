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
//! | `add_kubernetes` | `SrcK8S_*` / `DstK8S_*` identities | an [`IdentityLookup`]; without one (this build has no Kubernetes cache yet) the rule is skipped with a start-up warning |
//!
//! `add_kubernetes` without a cache is a warning, not an error: the operator's default
//! configuration has it, and must start; flows then pass without Kubernetes fields (or with
//! those they arrived with, from another pipeline), which the warning says at start-up.
//!
//! ```
//! let mut registry = netobserv_flow::pipeline::StageRegistry::with_builtins();
//! netobserv_enrich::register(&mut registry);
//! assert!(registry.supports(netobserv_flow::config::StageKind::Transform, "network"));
//! ```
//!
//! [`kube::KubeIndex`] is the Kubernetes identity index behind `add_kubernetes`: fed with
//! add/update/delete events (by the reflectors of a later slice of issue 11), read without locks.
//!
//! This crate has no cargo features yet.

pub mod error;
pub mod identity;
pub mod kube;
pub mod network;

use std::sync::Arc;

use netobserv_flow::config::StageKind;
use netobserv_flow::pipeline::{BuildContext, Component, StageRegistry};

pub use error::{Error, Result};
pub use identity::{IdentityLookup, StaticIdentities};
pub use network::{Network, NetworkConfig};

/// Registers `transform: network`, with no Kubernetes cache: `add_kubernetes` rules are skipped
/// with a start-up warning.
pub fn register(registry: &mut StageRegistry) {
    register_stage(registry, None);
}

/// Registers `transform: network` with `identities` behind `add_kubernetes`.
pub fn register_with_identities(registry: &mut StageRegistry, identities: Arc<dyn IdentityLookup>) {
    register_stage(registry, Some(identities));
}

fn register_stage(registry: &mut StageRegistry, identities: Option<Arc<dyn IdentityLookup>>) {
    registry.register(
        StageKind::Transform,
        "network",
        move |cx: &mut BuildContext<'_>| {
            let cfg: NetworkConfig = cx.settings_or_default()?;
            let stage = cx.stage().to_string();
            let base = format!("{}.network", cx.path());
            let metrics = cx.metrics().clone();
            let built = network::build(&cfg, &base, &stage, cx.fields(), identities.clone())
                .map_err(|e| e.into_config_error(&stage))?;
            for w in &built.warnings {
                cx.warn(w);
            }
            Ok(Component::transform(built.network.with_metrics(metrics)))
        },
    );
}
