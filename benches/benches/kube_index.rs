//! Cost of Kubernetes enrichment over the identity index, per flow (source and destination
//! looked up), with the reference cache of the issue: 20,000 pods, 5,000 services, 500 nodes,
//! 10,000 ReplicaSets. Two cases: the index's two lookups with the identities set on the flow,
//! and `transform: network` with two `add_kubernetes` rules (zone on) over the index. Time is the
//! thread's CPU time. 9 addresses in 10 are the cluster's, the rest unknown.
//!
//! Run: `cargo bench -p benches --bench kube_index`

#![allow(clippy::unwrap_used, missing_docs)]

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use benches::{ClusterSize, cluster_flows, kube_cluster};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use netobserv_enrich::IdentityLookup;
use netobserv_enrich::kube::{IndexConfig, KubeIndex};
use netobserv_enrich::network::{self, NetworkConfig};
use netobserv_flow::field::FieldRegistry;
use netobserv_flow::pipeline::Transform;

const N: usize = 10_000;

fn thread_cpu() -> Duration {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
}

fn kube_index(c: &mut Criterion) {
    let (events, addresses) = kube_cluster(ClusterSize::REFERENCE);
    let index = Arc::new(KubeIndex::new(IndexConfig::default()));
    index.apply(events);
    let flows = cluster_flows(N, &addresses);

    let cfg: NetworkConfig = serde_yaml_ng::from_str(
        r#"
rules:
  - type: add_kubernetes
    kubernetes: {ipField: SrcAddr, output: SrcK8S, add_zone: true}
  - type: add_kubernetes
    kubernetes: {ipField: DstAddr, output: DstK8S, add_zone: true}
"#,
    )
    .unwrap();
    let lookup: Arc<dyn IdentityLookup> = index.clone();
    let mut net = network::build(
        &cfg,
        "bench",
        "bench",
        &mut FieldRegistry::new(),
        Some(lookup),
    )
    .unwrap()
    .network;

    let mut g = c.benchmark_group("netobserv_enrich::kube::KubeIndex");
    g.throughput(Throughput::Elements(N as u64));
    let mut timed = |name: &str, per_flow: &mut dyn FnMut(&mut netobserv_flow::Flow)| {
        g.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let mut spent = Duration::ZERO;
                for _ in 0..iters {
                    let mut batch = flows.clone();
                    let start = thread_cpu();
                    for f in batch.iter_mut() {
                        per_flow(f);
                    }
                    spent += thread_cpu() - start;
                    drop(black_box(batch));
                }
                spent
            })
        });
    };
    timed("identity_src_dst", &mut |f| {
        if let Some(id) = f.src_addr().and_then(|ip| index.identity(ip)) {
            f.set_src_k8s(id);
        }
        if let Some(id) = f.dst_addr().and_then(|ip| index.identity(ip)) {
            f.set_dst_k8s(id);
        }
    });
    timed("network_add_kubernetes_src_dst", &mut |f| {
        black_box(net.transform(f));
    });
    g.finish();
}

criterion_group!(benches, kube_index);
criterion_main!(benches);
