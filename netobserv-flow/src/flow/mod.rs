//! The flow record: one typed struct for every field of NetObserv's JSON flow format.
//!
//! Every catalogue field is an `Option`: `None` means the key is absent from the JSON form, which
//! is how upstream tells "not measured" from zero. Fields created at run time by configs
//! (`add_field`, renamed keys, labels) live in [`Flow::extra`], a map sorted by key. The field
//! table below is the single source of the catalogue: names, typed storage, JSON codec, name
//! lookup and Arrow columns are all generated from it.

mod catalogue;
mod intern;
mod mac;
mod network_event;
mod scalar;
mod tcp_flags;

#[cfg(feature = "arrow")]
pub(crate) use catalogue::arrow_columns;
pub use catalogue::{FieldId, FieldTypeError, Flow};
pub use intern::{INTERN_MAX, intern};
pub use mac::MacAddr;
pub use network_event::NetworkEvent;
pub(crate) use scalar::write_ip;
pub use scalar::{FieldKind, FieldRef, Scalar};
pub use tcp_flags::{TCP_FLAG_NAMES, TcpFlags};
