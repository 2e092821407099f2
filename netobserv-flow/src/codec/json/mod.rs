//! NetObserv's JSON flow format, read and written the way upstream (Go's `encoding/json`) does.
//!
//! Writing matches Go byte for byte: keys sorted bytewise, no spaces, `<`, `>`, `&`, U+2028 and
//! U+2029 escaped as `\u003c`-style escapes, floats in Go's shortest form (`1` not `1.0`, exponent
//! form below 1e-6 and from 1e21). Reading accepts one JSON object per call; catalogue keys go to
//! typed fields (resolved without allocating), other keys to
//! the run-time fields ([`Flow::extra_get`](crate::flow::Flow::extra_get)).

mod decode;
mod fast;
mod scalar;
#[cfg(test)]
mod tests;
mod write;

pub use decode::{FlowSeed, ValueSeed, decode, decode_array, decode_full, decode_into, decode_str};
pub use fast::{FastItem, FastValue};
pub use scalar::JsonScalar;
pub use write::{encode, to_string, write_go_float, write_json_str, write_json_value};
