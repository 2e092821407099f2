//! The eBPF agent's protobuf format, wire-compatible with upstream netobserv-ebpf-agent's
//! `proto/flow.proto` (package `pbflow`): the same messages, field numbers and types, written as
//! prost structs so that no `protoc` is needed to build.
//!
//! [`to_flow`] maps a [`Record`] to a [`Flow`](crate::flow::Flow) the way upstream's
//! `pbflow.RecordToMap` does: which keys appear and when (for example `Bytes` only when non-zero,
//! ports only for TCP/UDP/SCTP, DNS fields only with a DNS id), and the names it gives to DNS
//! response codes, TCP states and kernel drop causes.
//!
//! Field numbers 1–28 are those of `flow.proto` as published; `sampling` (29), the IPsec fields
//! (30, 31), `dns_name` (32), the TLS fields (33–37) and `quic` (38) follow the newer agent
//! releases.

mod decode;
mod encode;
mod names;
mod proto;
#[cfg(test)]
mod tests;
mod to_flow;

pub use decode::{decode_record, decode_records, decode_records_into};
pub use encode::{encode_records, from_flow};
pub use names::{
    dns_name_kept, dns_rcode_name, drop_cause_name, quic_version_name, tcp_state_name,
    tls_cipher_suite_name, tls_group_name, tls_type_names, tls_version_name,
};
pub use proto::{
    DataLink, DupMapEntry, Duration, Ip, IpAddrKind, Network, PbNetworkEvent, Quic, Record,
    Records, Timestamp, Transport, Xlat,
};
pub use to_flow::to_flow;
