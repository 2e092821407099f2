//! `ingest: {type: synthetic}`: realistic flows from a simulated cluster.
//!
//! The cluster has nodes, namespaces, pods (owned by deployments or daemonsets) and services.
//! Each of `connections` connections is fixed at start (client pod, server pod or service, protocol,
//! ports, IPv4 or IPv6); every flow log reports traffic on one of them, with the agent and
//! Kubernetes fields filled as the eBPF agent and the enrichment stage would. The same `seed` gives
//! the same flows; only the time fields follow the clock (the first flow starts when the stage
//! starts). `flowLogsPerMin: 0` generates as fast as the pipeline takes them.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::Result;
use crate::config::IngestSynthetic;
use crate::flow::{FieldId, Flow, Interfaces, K8sIdentity, MacAddr, TcpFlags};
use crate::pipeline::{FlowBatch, Source, SourceContext};

/// Fields every synthetic flow may carry.
pub const FIELDS: &[FieldId] = &[
    FieldId::SrcAddr,
    FieldId::DstAddr,
    FieldId::SrcPort,
    FieldId::DstPort,
    FieldId::Proto,
    FieldId::Etype,
    FieldId::SrcMac,
    FieldId::DstMac,
    FieldId::Dscp,
    FieldId::IcmpType,
    FieldId::IcmpCode,
    FieldId::Bytes,
    FieldId::Packets,
    FieldId::Flags,
    FieldId::TimeFlowStartMs,
    FieldId::TimeFlowEndMs,
    FieldId::TimeReceived,
    FieldId::AgentIp,
    FieldId::Interfaces,
    FieldId::IfDirections,
    FieldId::FlowDirection,
    FieldId::Sampling,
    FieldId::TimeFlowRttNs,
    FieldId::SrcK8sName,
    FieldId::SrcK8sType,
    FieldId::SrcK8sNamespace,
    FieldId::SrcK8sOwnerName,
    FieldId::SrcK8sOwnerType,
    FieldId::SrcK8sHostIp,
    FieldId::SrcK8sHostName,
    FieldId::DstK8sName,
    FieldId::DstK8sType,
    FieldId::DstK8sNamespace,
    FieldId::DstK8sOwnerName,
    FieldId::DstK8sOwnerType,
    FieldId::DstK8sHostIp,
    FieldId::DstK8sHostName,
    FieldId::K8sFlowLayer,
];

const NAMESPACES: &[&str] = &[
    "frontend",
    "backend",
    "payments",
    "monitoring",
    "openshift-dns",
    "kube-system",
];
const APPS: &[&str] = &[
    "web", "api", "cart", "db", "cache", "worker", "auth", "search",
];

#[derive(Clone)]
struct Endpoint {
    // Shared by every flow of the endpoint, as the enrichment index hands it out.
    identity: Arc<K8sIdentity>,
    node: usize,
    v4: IpAddr,
    v6: IpAddr,
    mac: MacAddr,
}

/// An endpoint's Kubernetes identity, with its node's when it runs on one.
fn identity(
    name: &str,
    kind: &str,
    namespace: &str,
    owner: &str,
    owner_type: &str,
    node: Option<&Node>,
) -> Arc<K8sIdentity> {
    Arc::new(K8sIdentity {
        name: Some(s(name)),
        kind: Some(s(kind)),
        namespace: Some(s(namespace)),
        owner_name: Some(s(owner)),
        owner_type: Some(s(owner_type)),
        host_ip: node.map(|n| n.ip),
        host_name: node.map(|n| n.name.clone()),
        ..K8sIdentity::default()
    })
}

#[derive(Clone)]
struct Node {
    name: Arc<str>,
    ip: IpAddr,
}

struct Conn {
    src: usize,
    dst: usize,
    proto: u8,
    sport: u16,
    dport: u16,
    v6: bool,
    mean_bytes: u64,
}

/// The synthetic source.
pub struct SyntheticSource {
    rng: ChaCha8Rng,
    nodes: Vec<Node>,
    eps: Vec<Endpoint>,
    conns: Vec<Conn>,
    batch: usize,
    per_min: u64,
    max: Option<u64>,
    // `K8S_FlowLayer` values: app, infra.
    layers: [Arc<str>; 2],
    // eth0 ingress, eth0 egress, genev_sys_6081 ingress, genev_sys_6081 egress: shared lists.
    iface_lists: [Arc<Interfaces>; 4],
}

fn s(v: &str) -> Arc<str> {
    Arc::from(v)
}

impl SyntheticSource {
    /// Builds the simulated cluster.
    pub fn new(cfg: &IngestSynthetic) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed.unwrap_or(1));
        let connections = cfg.connections.unwrap_or(100).max(1);
        let node_count = (connections / 50).clamp(3, 50);
        let nodes: Vec<Node> = (0..node_count)
            .map(|i| Node {
                name: s(&format!("worker-{i}")),
                ip: IpAddr::V4(Ipv4Addr::new(10, 0, (i / 250) as u8, (i % 250) as u8 + 2)),
            })
            .collect();
        let pod_count = (connections / 2).clamp(8, 5000);
        let mut eps = Vec::with_capacity(pod_count + 16);
        for i in 0..pod_count {
            let ns = NAMESPACES[rng.random_range(0..NAMESPACES.len())];
            let app = APPS[rng.random_range(0..APPS.len())];
            let daemon = ns == "kube-system" || ns == "monitoring";
            let owner = if daemon {
                format!("{app}-agent")
            } else {
                app.to_string()
            };
            let suffix: u32 = rng.random();
            let node = rng.random_range(0..node_count);
            eps.push(Endpoint {
                identity: identity(
                    &format!("{owner}-{:05x}", suffix & 0xfffff),
                    "Pod",
                    ns,
                    &owner,
                    if daemon { "DaemonSet" } else { "Deployment" },
                    nodes.get(node),
                ),
                node,
                v4: IpAddr::V4(Ipv4Addr::new(
                    10,
                    128 + (node as u8 % 100),
                    (i / 250) as u8,
                    (i % 250) as u8 + 2,
                )),
                v6: IpAddr::V6(Ipv6Addr::new(
                    0xfd01,
                    0,
                    0,
                    node as u16,
                    0,
                    0,
                    (i >> 16) as u16,
                    i as u16 + 2,
                )),
                mac: MacAddr([
                    0x0a,
                    0x58,
                    10,
                    128 + (node as u8 % 100),
                    (i / 250) as u8,
                    (i % 250) as u8 + 2,
                ]),
            });
        }
        // One service in front of a few pods.
        for (j, app) in APPS.iter().enumerate() {
            let ns = NAMESPACES[j % NAMESPACES.len()];
            eps.push(Endpoint {
                identity: identity(app, "Service", ns, app, "Service", None),
                node: usize::MAX,
                v4: IpAddr::V4(Ipv4Addr::new(172, 30, 0, j as u8 + 10)),
                v6: IpAddr::V6(Ipv6Addr::new(0xfd02, 0, 0, 0, 0, 0, 0, j as u16 + 10)),
                mac: MacAddr([0x0a, 0x58, 0, 0, 0, 1]),
            });
        }
        let services = pod_count..eps.len();
        let conns = (0..connections)
            .map(|_| {
                let src = rng.random_range(0..pod_count);
                let dst = if rng.random_bool(0.4) {
                    rng.random_range(services.clone())
                } else {
                    rng.random_range(0..pod_count)
                };
                let roll: f64 = rng.random();
                let (proto, dport) = if roll < 0.70 {
                    (6, [80, 443, 8080, 5432, 6379, 9090][rng.random_range(0..6)])
                } else if roll < 0.92 {
                    (17, [53, 5353, 123, 4789][rng.random_range(0..4)])
                } else {
                    (1, 0)
                };
                let v6 = rng.random_bool(0.2);
                Conn {
                    src,
                    dst,
                    proto: if proto == 1 && v6 { 58 } else { proto },
                    sport: if proto == 1 {
                        0
                    } else {
                        rng.random_range(32768..61000)
                    },
                    dport,
                    v6,
                    mean_bytes: [120, 1500, 20_000, 400_000][rng.random_range(0..4)],
                }
            })
            .collect();
        SyntheticSource {
            rng,
            nodes,
            eps,
            conns,
            batch: cfg.batch_max_len.unwrap_or(10).max(1),
            per_min: cfg.flow_logs_per_min.unwrap_or(2000),
            max: cfg.max_flows,
            iface_lists: [
                ("eth0", 0),
                ("eth0", 1),
                ("genev_sys_6081", 0),
                ("genev_sys_6081", 1),
            ]
            .map(|(name, dir)| {
                Arc::new(Interfaces {
                    interfaces: Some(vec![s(name)]),
                    if_directions: Some(vec![dir]),
                    ..Interfaces::default()
                })
            }),
            layers: [s("app"), s("infra")],
        }
    }

    /// The next flow; `now_ms` is the flow's end time.
    pub fn next_flow(&mut self, now_ms: i64) -> Flow {
        let ci = self.rng.random_range(0..self.conns.len());
        let c = &self.conns[ci];
        let (src, dst) = (&self.eps[c.src], &self.eps[c.dst]);
        let node_of = |e: &Endpoint| {
            if e.node == usize::MAX {
                None
            } else {
                Some(e.node)
            }
        };
        let egress = self.rng.random_bool(0.5);
        let agent = node_of(if egress { src } else { dst })
            .or(node_of(src))
            .unwrap_or(0);
        let packets = self.rng.random_range(1..=(c.mean_bytes / 500).max(2));
        let bytes = (packets * 66).max(
            self.rng
                .random_range(c.mean_bytes / 2..=c.mean_bytes * 3 / 2),
        );
        let duration = self.rng.random_range(0..5000);
        let mut f = Flow::default();
        f.set_etype(if c.v6 { 0x86DD } else { 0x0800 });
        f.set_src_addr(if c.v6 { src.v6 } else { src.v4 });
        f.set_dst_addr(if c.v6 { dst.v6 } else { dst.v4 });
        f.set_proto(c.proto);
        f.set_dscp(0);
        f.set_src_mac(src.mac);
        f.set_dst_mac(dst.mac);
        f.set_bytes(bytes);
        f.set_packets(packets);
        f.set_time_flow_start_ms(now_ms - duration);
        f.set_time_flow_end_ms(now_ms);
        f.set_time_received(now_ms / 1000);
        f.set_agent_ip(self.nodes[agent].ip);
        let iface = usize::from(!self.rng.random_bool(0.8));
        f.set_interface_list(self.iface_lists[iface * 2 + usize::from(egress)].clone());
        f.set_flow_direction(u8::from(egress));
        f.set_sampling(50);
        f.set_src_k8s(src.identity.clone());
        f.set_dst_k8s(dst.identity.clone());
        let infra = src
            .identity
            .namespace
            .as_deref()
            .is_some_and(|ns| ns.starts_with("kube") || ns.starts_with("openshift"));
        f.set_k8s_flow_layer(self.layers[usize::from(infra)].clone());

        match c.proto {
            6 | 17 => {
                f.set_src_port(c.sport);
                f.set_dst_port(c.dport);
                if c.proto == 6 {
                    let flags =
                        [0x10, 0x18, 0x12, 0x02, 0x11, 0x110, 0x04][self.rng.random_range(0..7)];
                    f.set_flags(TcpFlags::raw(flags));
                    f.set_time_flow_rtt_ns(self.rng.random_range(50_000..5_000_000));
                }
            }
            _ => {
                let echo_request = if c.proto == 58 { 128 } else { 8 };
                f.set_icmp_type(if self.rng.random_bool(0.5) {
                    echo_request
                } else {
                    0
                });
                f.set_icmp_code(0);
            }
        }
        f
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

#[async_trait::async_trait]
impl Source for SyntheticSource {
    async fn run(mut self: Box<Self>, ctx: SourceContext) -> Result<()> {
        // `Output::send` counts what a source sends in `ingest_flows_processed`.
        let mut produced = 0u64;
        let period = (self.per_min > 0)
            .then(|| Duration::from_secs_f64(60.0 * self.batch as f64 / self.per_min as f64));
        let mut ticker = period.map(tokio::time::interval);
        let mut shutdown = ctx.shutdown.clone();
        loop {
            if let Some(t) = &mut ticker {
                tokio::select! {
                    biased;
                    _ = shutdown.wait() => return Ok(()),
                    _ = t.tick() => {}
                }
            } else if ctx.shutdown.is_triggered() {
                return Ok(());
            }
            let n = match self.max {
                Some(max) if produced >= max => return Ok(()),
                Some(max) => (max - produced).min(self.batch as u64) as usize,
                None => self.batch,
            };
            let now = now_ms();
            let flows: Vec<Flow> = (0..n).map(|_| self.next_flow(now)).collect();
            produced += n as u64;
            if ctx.out.send(FlowBatch::new(flows)).await.is_err() {
                return Ok(());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strip_time(mut f: Flow) -> Flow {
        f.clear_time_flow_start_ms();
        f.clear_time_flow_end_ms();
        f.clear_time_received();
        f
    }

    #[test]
    fn same_seed_same_flows_and_mix_is_realistic() {
        let cfg = IngestSynthetic {
            connections: Some(200),
            seed: Some(7),
            ..Default::default()
        };
        let mut a = SyntheticSource::new(&cfg);
        let mut b = SyntheticSource::new(&cfg);
        let fa: Vec<Flow> = (0..500).map(|i| a.next_flow(1_000 + i)).collect();
        let fb: Vec<Flow> = (0..500).map(|i| b.next_flow(9_000 + i)).collect();
        assert_eq!(
            fa.iter().cloned().map(strip_time).collect::<Vec<_>>(),
            fb.into_iter().map(strip_time).collect::<Vec<_>>()
        );
        let other = SyntheticSource::new(&IngestSynthetic {
            seed: Some(8),
            ..cfg
        })
        .next_flow(0);
        assert_ne!(strip_time(other), strip_time(fa[0].clone()));
        let count = |p: &dyn Fn(&Flow) -> bool| fa.iter().filter(|f| p(f)).count();
        assert!(count(&|f| f.proto() == Some(6)) > 200);
        assert!(count(&|f| f.proto() == Some(17)) > 30);
        assert!(count(&|f| matches!(f.proto(), Some(1 | 58))) > 5);
        assert!(count(&|f| f.etype() == Some(0x86DD)) > 30);
        assert!(count(&|f| f.dst_k8s_type() == Some("Service")) > 50);
        for f in &fa {
            assert!(f.bytes().unwrap() >= f.packets().unwrap() * 66);
            assert!(f.time_flow_start_ms() <= f.time_flow_end_ms());
            assert_eq!(f.src_port().is_some(), matches!(f.proto(), Some(6 | 17)));
        }
    }
}
