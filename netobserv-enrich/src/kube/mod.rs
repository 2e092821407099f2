//! The Kubernetes identity index: pods, services and nodes (and the ReplicaSets and Jobs their
//! owners are resolved through) by IP address, fed with add/update/delete events by the
//! reflectors of a later slice of issue 11, read by `add_kubernetes` through
//! [`IdentityLookup`](crate::IdentityLookup).

mod index;
mod objects;
#[cfg(test)]
mod tests;
#[cfg(feature = "kube")]
mod watch;

pub use index::{Clock, Event, IndexConfig, KubeIndex, SystemClock};
pub use objects::{Kind, Meta, Node, Object, OwnerRef, Pod, Service};
#[cfg(feature = "kube")]
pub use watch::{CacheConfig, CacheError, CacheStatus, KindStatus, KubeCache, client};
