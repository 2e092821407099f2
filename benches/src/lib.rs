//! Inputs shared by the netobserv-rs benchmarks (`benches/`).

mod kube_json;

pub use kube_json::kube_cluster_json;

use netobserv_flow::Flow;
use netobserv_flow::config::IngestSynthetic;
use netobserv_flow::stages::synthetic::SyntheticSource;

/// `n` enriched flows (agent + Kubernetes fields, about 800 bytes of JSON each), as
/// flowlogs-pipeline writes them after enrichment.
pub fn enriched_flows(n: usize) -> Vec<Flow> {
    let mut src = SyntheticSource::new(&IngestSynthetic {
        connections: Some(500),
        seed: Some(1),
        ..Default::default()
    });
    (0..n)
        .map(|i| src.next_flow(1_732_185_420_000 + i as i64))
        .collect()
}

/// `n` agent flows between random addresses of `cluster` (a fixed-seed LCG), one address in ten
/// unknown (`8.8.x.y`): the input of the Kubernetes enrichment benches.
pub fn cluster_flows(n: usize, cluster: &[std::net::IpAddr]) -> Vec<Flow> {
    use std::net::{IpAddr, Ipv4Addr};
    let mut seed = 0x2545_f491_4f6c_dd1d_u64;
    let mut pick = || {
        seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
        let r = (seed >> 33) as usize;
        if r.is_multiple_of(10) || cluster.is_empty() {
            IpAddr::V4(Ipv4Addr::new(8, 8, (r >> 8) as u8, r as u8))
        } else {
            cluster[r % cluster.len()]
        }
    };
    agent_flows(n)
        .into_iter()
        .map(|mut f| {
            f.set_src_addr(pick());
            f.set_dst_addr(pick());
            f
        })
        .collect()
}

/// `n` flows as the eBPF agent exports them (no Kubernetes fields; about 450 bytes of JSON).
pub fn agent_flows(n: usize) -> Vec<Flow> {
    enriched_flows(n)
        .into_iter()
        .map(|mut f| {
            f.clear_src_k8s();
            f.clear_dst_k8s();
            f.clear_k8s_flow_layer();
            f
        })
        .collect()
}

/// Flows as JSON lines.
pub fn json_lines(flows: &[Flow]) -> Vec<u8> {
    let mut out = Vec::new();
    encode_lines(flows, &mut out);
    out
}

/// Appends flows to `out` as JSON lines.
pub fn encode_lines(flows: &[Flow], out: &mut Vec<u8>) {
    for f in flows {
        netobserv_flow::codec::json::encode(f, out);
        out.push(b'\n');
    }
}

/// Decodes JSON lines as the line ingest does, each flow in its slot of `batch` (cleared first).
pub fn decode_lines_into(
    lines: &[u8],
    batch: &mut Vec<Flow>,
) -> Result<(), netobserv_flow::codec::DecodeError> {
    batch.clear();
    for line in lines.split(|c| *c == b'\n').filter(|l| !l.is_empty()) {
        batch.push(Flow::default());
        if let Some(slot) = batch.last_mut() {
            netobserv_flow::codec::json::decode_into(line, slot)?;
        }
    }
    Ok(())
}

/// A process's user + system CPU time in seconds (fields 14 and 15 of `/proc/PID/stat`, in clock
/// ticks of 1/100 s).
pub fn process_cpu_seconds(pid: u32) -> std::io::Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // The command name may hold spaces: count fields after its closing parenthesis.
    let after = stat.rsplit_once(") ").map_or("", |(_, r)| r);
    let f: Vec<&str> = after.split_whitespace().collect();
    let tick = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    Ok((tick(11) + tick(12)) / 100.0)
}

/// A `kB` field of `/proc/PID/status` (`VmHWM`, `VmRSS`...), of this process when `pid` is
/// `None`; 0 when absent.
pub fn process_status_kb(pid: Option<u32>, field: &str) -> u64 {
    let path = match pid {
        Some(p) => format!("/proc/{p}/status"),
        None => "/proc/self/status".to_string(),
    };
    std::fs::read_to_string(path)
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.strip_prefix(field).is_some_and(|r| r.starts_with(':')))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// Sizes of a synthetic cluster for the Kubernetes index benchmarks.
#[derive(Clone, Copy, Debug)]
pub struct ClusterSize {
    /// Pods (IPv4, every fourth one dual-stack), each owned by a ReplicaSet.
    pub pods: usize,
    /// Services, one cluster IP each.
    pub services: usize,
    /// Nodes, one internal IP each, in 3 zones.
    pub nodes: usize,
    /// ReplicaSets, 5 per Deployment.
    pub replica_sets: usize,
}

impl ClusterSize {
    /// The reference cluster: 20,000 pods, 5,000 services, 500 nodes, 10,000
    /// ReplicaSets.
    pub const REFERENCE: Self = Self {
        pods: 20_000,
        services: 5_000,
        nodes: 500,
        replica_sets: 10_000,
    };
}

/// A synthetic cluster as add events for [`netobserv_enrich::kube::KubeIndex`], in 100
/// namespaces with names of realistic lengths, and the addresses it holds (pods, then
/// services, then nodes).
pub fn kube_cluster(
    size: ClusterSize,
) -> (Vec<netobserv_enrich::kube::Event>, Vec<std::net::IpAddr>) {
    use netobserv_enrich::kube::{Event, Meta, Node, Object, Pod, Service};
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
    let v4 = |base: u32, i: usize| IpAddr::V4(Ipv4Addr::from(base + i as u32));
    let ns = |i: usize| format!("team-{:02}-applications", i % 100);
    let mut events = Vec::new();
    let mut addresses = Vec::new();
    let node_ip = |i: usize| v4(0x0a00_0000, i + 1); // 10.0.0.0/16
    for i in 0..size.nodes {
        let ip = node_ip(i);
        addresses.push(ip);
        let node = Node::new(
            &format!("ip-10-0-{}-{}.ec2.internal", i / 256, i % 256),
            [ip],
        )
        .with_zone(&format!("us-east-1{}", ["a", "b", "c"][i % 3]));
        events.push(Event::Apply(Object::Node(node)));
    }
    let rs_name = |i: usize| format!("deployment-{:05}-5d4f8b7c{}", i / 5, i % 5);
    for i in 0..size.replica_sets {
        let meta = Meta::new(
            &ns(i / 5),
            &rs_name(i),
            &format!("{i:08}-aaaa-bbbb-cccc-dddddddddddd"),
        )
        .with_owner("Deployment", &format!("deployment-{:05}", i / 5));
        events.push(Event::Apply(Object::ReplicaSet(meta)));
    }
    let mut services = Vec::new();
    for i in 0..size.services {
        let ip = v4(0xac1e_0000, i + 1); // 172.30.0.0/16
        services.push(ip);
        let meta = Meta::new(&ns(i), &format!("service-{i:05}"), &format!("s{i:07}"));
        events.push(Event::Apply(Object::Service(Service::new(meta, [ip]))));
    }
    for i in 0..size.pods {
        let rs = i % size.replica_sets.max(1);
        let ip = v4(0x0a80_0000, i + 1); // 10.128.0.0/14
        addresses.push(ip);
        let mut ips = vec![ip];
        if i % 4 == 0 {
            let ip6 = IpAddr::V6(Ipv6Addr::from(0xfd01_u128 << 112 | (i as u128 + 1)));
            addresses.push(ip6);
            ips.push(ip6);
        }
        let meta = Meta::new(
            &ns(rs / 5),
            &format!("{}-{i:05}", rs_name(rs)),
            &format!("p{i:07}"),
        )
        .with_owner("ReplicaSet", &rs_name(rs));
        let n = i % size.nodes.max(1);
        let pod = Pod::new(meta, ips).on_node(
            &format!("ip-10-0-{}-{}.ec2.internal", n / 256, n % 256),
            node_ip(n),
        );
        events.push(Event::Apply(Object::Pod(pod)));
    }
    addresses.extend(services);
    (events, addresses)
}
