//! The per-flow work of the `network` transform: each rule with upstream's semantics
//! (flowlogs-pipeline `pkg/pipeline/transform/transform_network.go`).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use netobserv_flow::field::FieldPath;
use netobserv_flow::flow::{FieldId, FieldRef, Flow, K8sIdentity, TCP_FLAG_NAMES, TcpFlags};
use netobserv_flow::pipeline::{StageMetrics, Transform};
use netobserv_flow::value::Value;

use super::location::LocationDb;
use super::services::ServiceNames;
use super::subnet::{Cidr, SubnetLabels};
use crate::identity::IdentityLookup;

type Hasher = foldhash::fast::FixedState;

/// Entries a per-worker cache holds before it is cleared.
const CACHE_MAX: usize = 4096;

/// Upstream's direction values.
const INGRESS: u64 = 0;
const EGRESS: u64 = 1;
const INNER: u64 = 2;

/// The `network` transform: its rules in configuration order. Each worker runs its own copy
/// (with its own small caches); what the rules share (tables, databases, the identity lookup)
/// is behind `Arc`s.
#[derive(Clone)]
pub struct Network {
    rules: Vec<Rule>,
    metrics: Option<StageMetrics>,
}

impl Network {
    pub(super) fn new(rules: Vec<Rule>) -> Self {
        Network {
            rules,
            metrics: None,
        }
    }

    /// Counts inputs a rule cannot read (an address field holding something else than an
    /// address) in `ingest_errors{stage,kind}`, with a log line at most once a second; the flow
    /// goes on without that rule's output, as upstream.
    pub fn with_metrics(mut self, metrics: StageMetrics) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// How many rules run (an `add_kubernetes` rule skipped for want of a cache is not counted).
    pub fn len(&self) -> usize {
        self.rules.len()
    }

    /// Whether no rule runs.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }
}

#[derive(Clone)]
pub(super) enum Rule {
    Subnet(SubnetRule),
    Location(LocationRule),
    Service {
        port: FieldPath,
        protocol: FieldPath,
        output: FieldPath,
        db: Arc<ServiceNames>,
        /// The empty name, written for a known protocol number without that service.
        empty: Value,
    },
    Kube(KubeRule),
    Infra(Infra),
    Direction {
        reporter: FieldPath,
        src_host: FieldPath,
        dst_host: FieldPath,
        direction: FieldPath,
        if_direction: Option<FieldPath>,
    },
    SubnetLabel {
        input: FieldPath,
        output: FieldPath,
        labels: Arc<SubnetLabels>,
    },
    TcpFlags {
        input: FieldPath,
        output: FieldPath,
        same: bool,
    },
    ClusterName(Value),
}

/// What an address field holds, as the rules read it.
enum Addr {
    Absent,
    Ip(IpAddr),
    /// Present but not an address (counted by the rules that report it).
    NotIp,
}

fn addr(path: &FieldPath, flow: &Flow) -> Addr {
    match path.get_ref(flow) {
        None => Addr::Absent,
        Some(FieldRef::Ip(ip)) => Addr::Ip(ip),
        Some(FieldRef::Str(s)) => s.parse().map_or(Addr::NotIp, Addr::Ip),
        Some(_) => Addr::NotIp,
    }
}

/// The address a rule reads; a present value that is not one is counted as `rule`'s rejection.
/// Upstream logs a warning for each such flow; an empty string is the usual "no address" and
/// not worth a log.
fn reported_ip(
    path: &FieldPath,
    flow: &Flow,
    metrics: Option<&StageMetrics>,
    rule: &str,
) -> Option<IpAddr> {
    match addr(path, flow) {
        Addr::Ip(ip) => Some(ip),
        Addr::Absent => None,
        Addr::NotIp => {
            if !matches!(path.get_ref(flow), Some(FieldRef::Str(""))) {
                reject(metrics, rule, path, flow);
            }
            None
        }
    }
}

#[derive(Clone)]
pub(super) struct SubnetRule {
    input: FieldPath,
    output: FieldPath,
    prefix: u8,
    cache: HashMap<Cidr, Value, Hasher>,
}

impl SubnetRule {
    pub(super) fn new(input: FieldPath, output: FieldPath, prefix: u8) -> Self {
        SubnetRule {
            input,
            output,
            prefix,
            cache: HashMap::default(),
        }
    }

    fn apply(&mut self, flow: &mut Flow, metrics: Option<&StageMetrics>) {
        let Some(ip) = reported_ip(&self.input, flow, metrics, "add_subnet") else {
            return;
        };
        // Go parses the text form, so a mapped address is an IPv4 one.
        let Some(net) = Cidr::new(ip.to_canonical(), self.prefix) else {
            return;
        };
        if self.cache.len() >= CACHE_MAX {
            self.cache.clear();
        }
        let v = self
            .cache
            .entry(net)
            .or_insert_with(|| Value::str(net.to_string()))
            .clone();
        self.output.set(flow, v);
    }
}

#[derive(Clone)]
pub(super) struct LocationRule {
    input: FieldPath,
    outputs: [FieldPath; 6],
    db: Arc<LocationDb>,
    cache: HashMap<IpAddr, Option<Arc<[Value; 6]>>, Hasher>,
}

impl LocationRule {
    pub(super) fn new(input: FieldPath, outputs: [FieldPath; 6], db: Arc<LocationDb>) -> Self {
        LocationRule {
            input,
            outputs,
            db,
            cache: HashMap::default(),
        }
    }

    fn apply(&mut self, flow: &mut Flow, metrics: Option<&StageMetrics>) {
        let Some(ip) = reported_ip(&self.input, flow, metrics, "add_location") else {
            return;
        };
        if self.cache.len() >= CACHE_MAX {
            self.cache.clear();
        }
        let db = &self.db;
        let values = self.cache.entry(ip).or_insert_with(|| {
            db.lookup(ip).map(|l| {
                // Go's `%f`: six decimals.
                Arc::new([
                    Value::str(&l.country_short),
                    Value::str(&l.country_long),
                    Value::str(&l.region),
                    Value::str(&l.city),
                    Value::str(format!("{:.6}", l.latitude)),
                    Value::str(format!("{:.6}", l.longitude)),
                ])
            })
        });
        if let Some(values) = values.clone() {
            for (out, v) in self.outputs.iter().zip(values.iter()) {
                out.set(flow, v.clone());
            }
        }
    }
}

/// Where `add_kubernetes` writes.
#[derive(Clone)]
pub(super) enum KubeOutput {
    /// The flow's shared source identity (`SrcK8S_*`).
    Src,
    /// The flow's shared destination identity (`DstK8S_*`).
    Dst,
    /// Fields by name: namespace, name, type, owner name, owner type, network name, host IP,
    /// host name, zone.
    Named(Box<[FieldPath; 9]>),
}

#[derive(Clone)]
pub(super) struct KubeRule {
    ip: FieldPath,
    output: KubeOutput,
    zone: bool,
    lookup: Arc<dyn IdentityLookup>,
    /// Identities without their zone (`add_zone: false`), by the identity they come from; the
    /// key is held so that its address is not reused while cached.
    zoneless: HashMap<usize, (Arc<K8sIdentity>, Arc<K8sIdentity>), Hasher>,
}

impl KubeRule {
    pub(super) fn new(
        ip: FieldPath,
        output: KubeOutput,
        zone: bool,
        lookup: Arc<dyn IdentityLookup>,
    ) -> Self {
        KubeRule {
            ip,
            output,
            zone,
            lookup,
            zoneless: HashMap::default(),
        }
    }

    fn apply(&mut self, flow: &mut Flow) {
        let Addr::Ip(ip) = addr(&self.ip, flow) else {
            return;
        };
        let Some(mut id) = self.lookup.identity(ip) else {
            return;
        };
        if !self.zone && id.zone.is_some() {
            if self.zoneless.len() >= CACHE_MAX {
                self.zoneless.clear();
            }
            let key = Arc::as_ptr(&id) as usize;
            id = match self.zoneless.get(&key) {
                Some((orig, stripped)) if Arc::ptr_eq(orig, &id) => stripped.clone(),
                _ => {
                    let mut copy = (*id).clone();
                    copy.zone = None;
                    let stripped = Arc::new(copy);
                    self.zoneless.insert(key, (id, stripped.clone()));
                    stripped
                }
            };
        }
        match &self.output {
            KubeOutput::Src => flow.set_src_k8s(id),
            KubeOutput::Dst => flow.set_dst_k8s(id),
            KubeOutput::Named(keys) => {
                let s = |v: &Option<Arc<str>>| v.clone().map(Value::Str);
                let values = [
                    s(&id.namespace),
                    s(&id.name),
                    s(&id.kind),
                    s(&id.owner_name),
                    s(&id.owner_type),
                    s(&id.network_name),
                    id.host_ip.map(Value::Ip),
                    id.host_ip.and(s(&id.host_name)),
                    if self.zone { s(&id.zone) } else { None },
                ];
                for (k, v) in keys.iter().zip(values) {
                    if let Some(v) = v {
                        k.set(flow, v);
                    }
                }
            }
        }
    }
}

#[derive(Clone)]
pub(super) struct Infra {
    pub(super) pairs: Vec<(FieldPath, FieldPath)>,
    pub(super) output: FieldPath,
    pub(super) prefixes: Arc<[String]>,
    pub(super) refs: Arc<[(String, String)]>,
    /// `app` and `infra`.
    pub(super) layers: [Value; 2],
}

impl Infra {
    /// Upstream's rule: `app` as soon as one side has a namespace that is neither under an
    /// infra prefix nor, with its name, an infra reference; `infra` otherwise (no namespace on
    /// either side included).
    fn is_app(&self, flow: &Flow) -> bool {
        self.pairs.iter().any(|(ns, name)| {
            let Some(FieldRef::Str(ns)) = ns.get_ref(flow) else {
                return false;
            };
            if ns.is_empty() {
                return false;
            }
            let name = match name.get_ref(flow) {
                Some(FieldRef::Str(n)) => n,
                _ => "",
            };
            !self.prefixes.iter().any(|p| ns.starts_with(p.as_str()))
                && !self.refs.iter().any(|(rns, rn)| rns == ns && rn == name)
        })
    }
}

/// Host identity as `reinterpret_direction` compares it: upstream compares the text of string
/// fields; here an address is compared as an address whatever its field's type.
#[derive(PartialEq)]
enum Host {
    Ip(IpAddr),
    Text(String),
}

fn host(path: &FieldPath, flow: &Flow) -> Option<Host> {
    match path.get_ref(flow)? {
        FieldRef::Ip(ip) => Some(Host::Ip(ip)),
        FieldRef::Str("") => None,
        FieldRef::Str(s) => Some(
            s.parse()
                .map_or_else(|_| Host::Text(s.to_string()), Host::Ip),
        ),
        // Upstream reads strings only.
        _ => None,
    }
}

/// The names of the set flags among the known ones, in upstream's order.
fn flag_names(bits: u64) -> Value {
    Value::List(
        TCP_FLAG_NAMES
            .iter()
            .filter(|(bit, _)| bits & u64::from(*bit) != 0)
            .map(|(_, n)| Value::str(n))
            .collect(),
    )
}

fn reject(metrics: Option<&StageMetrics>, rule: &str, input: &FieldPath, flow: &Flow) {
    if let Some(m) = metrics {
        let v = input.get(flow).map(|v| v.to_string()).unwrap_or_default();
        m.reject(
            rule,
            format_args!(
                "{rule}: {} holds {v:?}, not an IP address; rule skipped",
                input.name()
            ),
        );
    }
}

impl Transform for Network {
    fn transform(&mut self, flow: &mut Flow) -> bool {
        let metrics = self.metrics.as_ref();
        for rule in &mut self.rules {
            match rule {
                Rule::Subnet(r) => r.apply(flow, metrics),
                Rule::Location(r) => r.apply(flow, metrics),
                Rule::Kube(r) => r.apply(flow),
                Rule::Service {
                    port,
                    protocol,
                    output,
                    db,
                    empty,
                } => {
                    // Upstream logs an error for every flow without a port (ICMP...): here that
                    // is the normal case of a flow without one, and passes quietly.
                    let port = match port.get_ref(flow) {
                        Some(FieldRef::UInt(u)) => i64::try_from(u).ok(),
                        Some(FieldRef::Int(i)) => Some(i),
                        Some(FieldRef::Str(s)) => s.parse().ok(),
                        Some(FieldRef::Other(Value::Float(f))) if f.fract() == 0.0 => {
                            Some(f as i64)
                        }
                        _ => None,
                    };
                    let Some(port) = port else { continue };
                    // As upstream: a protocol whose text is a number is a protocol number, and
                    // then an unknown port writes an empty name; a protocol name with an
                    // unknown port writes nothing. An absent protocol is the name "<nil>".
                    let found = match protocol.get_ref(flow) {
                        Some(FieldRef::UInt(u)) => {
                            Some(i64::try_from(u).ok().and_then(|p| db.by_number(port, p)))
                        }
                        Some(FieldRef::Int(i)) => Some(db.by_number(port, i)),
                        Some(FieldRef::Str(s)) => match s.parse::<i64>() {
                            Ok(n) => Some(db.by_number(port, n)),
                            Err(_) => db.by_name(port, s).map(Some),
                        },
                        None => db.by_name(port, "<nil>").map(Some),
                        Some(other) => other.with_text(|t| match t.parse::<i64>() {
                            Ok(n) => Some(db.by_number(port, n)),
                            Err(_) => db.by_name(port, t).map(Some),
                        }),
                    };
                    match found {
                        Some(Some(name)) => output.set(flow, Value::Str(name.clone())),
                        Some(None) => output.set(flow, empty.clone()),
                        None => {}
                    }
                }
                Rule::Infra(r) => {
                    let layer = r.layers[usize::from(!r.is_app(flow))].clone();
                    r.output.set(flow, layer);
                }
                Rule::Direction {
                    reporter,
                    src_host,
                    dst_host,
                    direction,
                    if_direction,
                } => {
                    if let Some(out) = if_direction
                        && let Some(v) = direction.get(flow)
                    {
                        out.set(flow, v);
                    }
                    let Some(reporter) = host(reporter, flow) else {
                        continue;
                    };
                    let src = host(src_host, flow);
                    let dst = host(dst_host, flow);
                    let d = if src != dst {
                        if src.as_ref() == Some(&reporter) {
                            Some(EGRESS)
                        } else if dst.as_ref() == Some(&reporter) {
                            Some(INGRESS)
                        } else {
                            None
                        }
                    } else if src.is_some() {
                        Some(INNER)
                    } else {
                        None
                    };
                    if let Some(d) = d {
                        direction.set(flow, Value::UInt(d));
                    }
                }
                Rule::SubnetLabel {
                    input,
                    output,
                    labels,
                } => {
                    // Upstream labels string fields only; an address field of any type here.
                    if let Addr::Ip(ip) = addr(input, flow)
                        && let Some(l) = labels.label(ip)
                    {
                        output.set(flow, Value::Str(l.clone()));
                    }
                }
                Rule::TcpFlags {
                    input,
                    output,
                    same,
                } => {
                    // The catalogue's `Flags` in place: the same bits, written as names.
                    if *same && *input == FieldPath::Typed(FieldId::Flags) {
                        if let Some(f) = flow.flags() {
                            flow.set_flags(TcpFlags {
                                bits: f.bits,
                                decoded: true,
                            });
                        }
                        continue;
                    }
                    // Upstream decodes unsigned integers only, which JSON input never has
                    // (its numbers are floats): any whole non-negative number here.
                    let bits = match input.get_ref(flow) {
                        Some(FieldRef::UInt(u)) => u,
                        Some(FieldRef::Int(i)) if i >= 0 => i as u64,
                        Some(FieldRef::Other(Value::Float(f))) if f >= 0.0 && f.fract() == 0.0 => {
                            f as u64
                        }
                        _ if *input == FieldPath::Typed(FieldId::Flags) => match flow.flags() {
                            Some(f) => u64::from(f.bits),
                            None => continue,
                        },
                        _ => continue,
                    };
                    if *output == FieldPath::Typed(FieldId::Flags) {
                        flow.set_flags(TcpFlags {
                            bits: (bits & 0xffff) as u16,
                            decoded: true,
                        });
                        continue;
                    }
                    // Written when there is a flag, or always when rewriting in place (so that
                    // the field's type does not depend on the value).
                    if bits & 0x7ff != 0 || *same {
                        output.set(flow, flag_names(bits));
                    }
                }
                Rule::ClusterName(v) => {
                    if flow.k8s_cluster_name().is_none() {
                        let v = v.clone();
                        FieldPath::Typed(FieldId::K8sClusterName).set(flow, v);
                    }
                }
            }
        }
        true
    }
}
