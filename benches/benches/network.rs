//! Cost of `transform: network` in flows per CPU-second of one thread (criterion's time is the
//! thread's CPU time here). Two rule sets: subnet + decode_tcp_flags + add_service (the issue's comparison
//! with upstream, which does about 60k flows per CPU-second on a subnet + decode_tcp_flags
//! config), and the operator's default network stages (`testdata/configs/operator-network.yaml`:
//! add_kubernetes on both addresses, reinterpret_direction, decode_tcp_flags,
//! add_kubernetes_infra, then add_subnet_label on both addresses) without the Kubernetes cache
//! (add_kubernetes skipped), and with it: the identity index holding the reference cluster
//! (20,000 pods, 5,000 services, 500 nodes, 10,000 ReplicaSets), flows between its addresses.
//!
//! Run: `cargo bench -p benches --bench network`

#![allow(clippy::unwrap_used, missing_docs)]

use std::hint::black_box;
use std::time::Duration;

use std::sync::Arc;

use benches::{ClusterSize, cluster_flows, enriched_flows, kube_cluster};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use netobserv_enrich::IdentityLookup;
use netobserv_enrich::kube::{IndexConfig, KubeIndex};
use netobserv_enrich::network::{self, Network, NetworkConfig};
use netobserv_flow::Flow;
use netobserv_flow::config::Config;
use netobserv_flow::field::FieldRegistry;
use netobserv_flow::pipeline::Transform;

const N: usize = 10_000;

const SUBNET_FLAGS_SERVICE: &str = r#"
rules:
  - type: add_subnet
    add_subnet: {input: SrcAddr, output: SrcSubnet, subnet_mask: /16}
  - type: add_subnet
    add_subnet: {input: DstAddr, output: DstSubnet, subnet_mask: /16}
  - type: decode_tcp_flags
    decode_tcp_flags: {input: Flags, output: Flags}
  - type: add_service
    add_service: {input: DstPort, protocol: Proto, output: DstService}
"#;

fn thread_cpu() -> Duration {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
}

fn build(cfg: &NetworkConfig, lookup: Option<Arc<dyn IdentityLookup>>) -> Network {
    network::build(cfg, "bench", "bench", &mut FieldRegistry::new(), lookup)
        .unwrap()
        .network
}

fn operator_stages(lookup: Option<Arc<dyn IdentityLookup>>) -> Vec<Network> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../testdata/configs/operator-network.yaml"
    );
    let config = Config::from_yaml(&std::fs::read_to_string(path).unwrap()).unwrap();
    ["enrich", "subnets"]
        .iter()
        .map(|name| {
            let cfg: NetworkConfig = config
                .stage(name)
                .and_then(|p| p.transform.as_ref())
                .unwrap()
                .parse("bench", "network")
                .unwrap()
                .unwrap();
            build(&cfg, lookup.clone())
        })
        .collect()
}

fn network(c: &mut Criterion) {
    // Agent-shaped flows with the host IPs reinterpret_direction reads (as a cache would set).
    let flows = enriched_flows(N);
    let mut g = c.benchmark_group("netobserv_enrich::network::Network::transform");
    g.throughput(Throughput::Elements(N as u64));
    // The reference cluster in the identity index, and agent flows between its addresses.
    let (events, addresses) = kube_cluster(ClusterSize::REFERENCE);
    let index = Arc::new(KubeIndex::new(IndexConfig::default()));
    index.apply(events);
    let cluster = cluster_flows(N, &addresses);
    let cases: [(&str, Vec<Network>, &[Flow]); 3] = [
        (
            "subnet_flags_service",
            vec![build(
                &serde_yaml_ng::from_str(SUBNET_FLAGS_SERVICE).unwrap(),
                None,
            )],
            &flows,
        ),
        (
            "operator_default_without_cache",
            operator_stages(None),
            &flows,
        ),
        (
            "operator_default_with_cache",
            operator_stages(Some(index.clone())),
            &cluster,
        ),
    ];
    for (name, mut stages, flows) in cases {
        // Timed in this thread's CPU time, not wall time: the figure is flows per CPU-second
        // whatever else the machine runs. Copying the input flows is not timed.
        g.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let mut spent = Duration::ZERO;
                for _ in 0..iters {
                    let mut batch = flows.to_vec();
                    let start = thread_cpu();
                    for f in batch.iter_mut() {
                        for s in stages.iter_mut() {
                            black_box(s.transform(f));
                        }
                    }
                    spent += thread_cpu() - start;
                    drop(black_box(batch));
                }
                spent
            })
        });
    }
    g.finish();
}

criterion_group!(benches, network);
criterion_main!(benches);
