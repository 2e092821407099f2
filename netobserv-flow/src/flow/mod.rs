//! The flow record: one typed struct for every field of NetObserv's JSON flow format.
//!
//! Every catalogue field is an `Option`: `None` means the key is absent from the JSON form, which
//! is how upstream tells "not measured" from zero. Fields created at run time by configs
//! (`add_field`, renamed keys, labels) live in [`Flow::extra`], a map sorted by key. One field
//! table is the single source of the catalogue: the struct, names, typed storage and name lookup
//! are generated from it here, and the codecs (JSON, Arrow) generate their per-field code from the
//! same table. The model does not depend on its codecs.

mod catalogue;
mod intern;
mod mac;
mod network_event;
mod scalar;
mod tcp_flags;

pub(crate) use catalogue::with_catalogue;
pub use catalogue::{FieldId, FieldTypeError, Flow};
pub use intern::{INTERN_MAX, intern};
pub use mac::MacAddr;
pub use network_event::NetworkEvent;
pub use scalar::{FieldKind, FieldRef, Scalar};
pub use tcp_flags::{TCP_FLAG_NAMES, TcpFlags};
