//! The Kubernetes identity index: pods, services and nodes (and the ReplicaSets and Jobs their
//! owners are resolved through) by IP address, read by `add_kubernetes` through
//! [`IdentityLookup`](crate::IdentityLookup); and, with feature `kube`, `KubeCache`: the kube-rs
//! watchers that feed it from a Kubernetes API server.

mod index;
mod objects;
#[cfg(test)]
mod tests;
#[cfg(feature = "kube")]
mod watch;

pub use index::{Clock, Event, IndexConfig, KubeIndex, SystemClock};
pub use objects::{Kind, Meta, Node, Object, OwnerRef, Pod, PodNetwork, Service};
#[cfg(feature = "kube")]
pub use watch::{
    CacheConfig, CacheError, CacheMetrics, CacheStatus, KindStatus, KubeCache, client,
};
