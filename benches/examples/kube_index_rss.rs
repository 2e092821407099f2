//! Memory of the Kubernetes identity index with the reference cache (20,000 pods, 5,000
//! services, 500 nodes, 10,000 ReplicaSets): this process's `VmRSS` before and after building it,
//! and the time of one full publish.
//!
//! Run: `cargo run --release -p benches --example kube_index_rss`

#![allow(clippy::unwrap_used, clippy::print_stdout, missing_docs)]

use std::time::Instant;

use benches::{ClusterSize, kube_cluster, process_status_kb};
use netobserv_enrich::kube::{IndexConfig, KubeIndex};

fn main() {
    let before = process_status_kb(None, "VmRSS");
    let (events, addresses) = kube_cluster(ClusterSize::REFERENCE);
    let known = addresses.len();
    drop(addresses);
    let index = KubeIndex::new(IndexConfig::default());
    let start = Instant::now();
    index.apply(events);
    let publish = start.elapsed();
    let after = process_status_kb(None, "VmRSS");
    println!(
        "kube index: {} addresses ({} in the cluster), VmRSS {} kB before, {} kB after: {} kB for the index; first apply + publish {:?}",
        index.len(),
        known,
        before,
        after,
        after.saturating_sub(before),
        publish
    );
    // One more publish (an update batch): the cost of a rebuild.
    let start = Instant::now();
    index.apply(std::iter::empty());
    println!("rebuild: {:?}", start.elapsed());
}
