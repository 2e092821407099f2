//! The flow record: one typed struct for every field of NetObserv's JSON flow format.
//!
//! Every catalogue field is an `Option`: `None` means the key is absent from the JSON form, which
//! is how upstream tells "not measured" from zero. Fields created at run time by configs
//! (`add_field`, renamed keys, labels) live beside them, sorted by key ([`Flow::extra_get`],
//! [`Flow::extra_iter`]). One field table is the single source of the catalogue: the struct, names,
//! typed storage, accessors and name lookup are generated from it here, and the codecs (JSON,
//! Arrow) generate their per-field code from the same table. The storage is private to this
//! module: callers use the accessors, so the layout can change without touching them. The model
//! does not depend on its codecs.
//!
//! The layout (`docs/flow-model-v2.md`): 240 bytes, hot scalars inline behind a presence mask,
//! each side's Kubernetes identity ([`K8sIdentity`]) and the interface list ([`Interfaces`]) as
//! shared `Arc`s copied on write, rare groups boxed, run-time fields by [`SlotKey`] or by name.

mod catalogue;
mod extra;
mod intern;
mod layout;
mod mac;
mod network_event;
mod scalar;
mod share;
mod tcp_flags;

pub(crate) use catalogue::with_catalogue;
pub use catalogue::{FieldId, FieldTypeError};
pub use extra::SlotKey;
pub use intern::{INTERN_MAX, intern};
pub use layout::{Flow, Interfaces, K8sIdentity};
pub use mac::MacAddr;
pub use network_event::NetworkEvent;
pub use scalar::{FieldKind, FieldRef, Scalar};
pub use tcp_flags::{TCP_FLAG_NAMES, TcpFlags};
