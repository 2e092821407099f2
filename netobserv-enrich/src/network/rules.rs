//! The per-flow work of the `network` transform: each rule with upstream's semantics
//! (flowlogs-pipeline `pkg/pipeline/transform/transform_network.go`).

use std::borrow::Cow;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use netobserv_flow::field::FieldPath;
use netobserv_flow::flow::{
    FieldId, FieldRef, Flow, K8sIdentity, MacAddr, TCP_FLAG_NAMES, TcpFlags,
};
use netobserv_flow::pipeline::{StageMetrics, Transform};
use netobserv_flow::value::Value;

use super::location::LocationDb;
use super::services::ServiceNames;
use super::subnet::{Cidr, SubnetLabels};
use crate::identity::{IdentityLookup, ObjectTags, SecondaryIndex, SecondaryKey};

type Hasher = foldhash::fast::FixedState;

/// Entries a per-worker cache holds before it is cleared.
const CACHE_MAX: usize = 4096;

/// A per-worker cache of a value derived from a shared object, keyed by the object's address:
/// the object is held with its value, so that its address is not reused while cached, and a
/// hit is checked to be the same object. Cleared when full ([`CACHE_MAX`]).
#[derive(Clone)]
struct ByArc<K, V> {
    map: HashMap<usize, (Arc<K>, V), Hasher>,
}

impl<K, V> Default for ByArc<K, V> {
    fn default() -> Self {
        Self {
            map: HashMap::default(),
        }
    }
}

impl<K, V: Clone> ByArc<K, V> {
    /// The value of `key`, made with `make` when not cached.
    fn get_or_make(&mut self, key: Arc<K>, make: impl FnOnce(&K) -> V) -> V {
        let addr = Arc::as_ptr(&key) as usize;
        if let Some((held, value)) = self.map.get(&addr)
            && Arc::ptr_eq(held, &key)
        {
            return value.clone();
        }
        if self.map.len() >= CACHE_MAX {
            self.map.clear();
        }
        let value = make(&key);
        self.map.insert(addr, (key, value.clone()));
        value
    }
}

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
    /// The rules as configured, with each `add_kubernetes` rule that can share its lookup with
    /// the one before it fused with it (see [`KubeRule::pairs_with`]).
    pub(super) fn new(rules: Vec<Rule>) -> Self {
        let mut fused = Vec::with_capacity(rules.len());
        for rule in rules {
            match (fused.pop(), rule) {
                (Some(Rule::Kube(first)), Rule::Kube(next)) if first.pairs_with(&next) => {
                    fused.push(Rule::KubePair(Box::new([first, next])));
                }
                (last, rule) => {
                    fused.extend(last);
                    fused.push(rule);
                }
            }
        }
        Network {
            rules: fused,
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
        self.rules
            .iter()
            .map(|r| if matches!(r, Rule::KubePair(_)) { 2 } else { 1 })
            .sum()
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
    /// Two consecutive `add_kubernetes` rules whose addresses are read and looked up together:
    /// one read of the identity source per flow instead of two.
    KubePair(Box<[KubeRule; 2]>),
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

/// The flow's own address fields, which `add_kubernetes` usually reads: read through their
/// accessors rather than the generic field access (a good part of the rule's cost otherwise).
#[derive(Clone, Copy, PartialEq, Eq)]
enum AddrField {
    SrcAddr,
    DstAddr,
    Other,
}

/// Which labels (or annotations) `add_kubernetes` copies, and as what: upstream's
/// `labels_prefix`, `label_inclusions`, `label_exclusions`, `label_value_max_length`.
#[derive(Clone, Debug)]
pub(super) struct TagFilter {
    /// The field names are `<prefix>_<key>`.
    pub(super) prefix: String,
    /// Only these keys, when not empty.
    pub(super) include: Vec<String>,
    /// Never these keys (before `include`).
    pub(super) exclude: Vec<String>,
    /// Values longer than this many characters are cut to it, `...` included; 0 or less
    /// writes empty values, as upstream.
    pub(super) max_len: Option<i64>,
}

impl TagFilter {
    fn fields(&self, tags: &[(Arc<str>, Arc<str>)], out: &mut Vec<(Arc<str>, Value)>) {
        for (key, value) in tags {
            let key: &str = key;
            if self.exclude.iter().any(|e| e == key)
                || (!self.include.is_empty() && !self.include.iter().any(|i| i == key))
            {
                continue;
            }
            let value = match self.max_len {
                Some(max) => Value::str(truncate(value, max)),
                None => Value::Str(value.clone()),
            };
            out.push((format!("{}_{key}", self.prefix).into(), value));
        }
    }
}

/// Upstream's cut of a label value: at most `max` characters with the suffix `...` included.
fn truncate(s: &str, max: i64) -> String {
    const SUFFIX: &str = "...";
    let Ok(max) = usize::try_from(max) else {
        return String::new();
    };
    if s.chars().count() <= max {
        return s.to_string();
    }
    if max <= SUFFIX.len() {
        return SUFFIX[..max].to_string();
    }
    let mut cut: String = s.chars().take(max - SUFFIX.len()).collect();
    cut.push_str(SUFFIX);
    cut
}

/// The fields an object's tags give: `(<prefix>_<key>, value)`.
type TagFields = Arc<[(Arc<str>, Value)]>;

/// The labels and annotations an `add_kubernetes` rule copies.
#[derive(Clone)]
pub(super) struct TagCopy {
    pub(super) labels: Option<TagFilter>,
    pub(super) annotations: Option<TagFilter>,
    /// The fields written for an object's tags, by the tags they come from.
    cache: ByArc<ObjectTags, TagFields>,
}

impl TagCopy {
    pub(super) fn new(labels: Option<TagFilter>, annotations: Option<TagFilter>) -> Self {
        Self {
            labels,
            annotations,
            cache: ByArc::default(),
        }
    }

    fn write(&mut self, flow: &mut Flow, tags: Arc<ObjectTags>) {
        let (labels, annotations) = (&self.labels, &self.annotations);
        let fields = self.cache.get_or_make(tags, |tags| {
            let mut fields = Vec::new();
            if let Some(f) = labels {
                f.fields(&tags.labels, &mut fields);
            }
            if let Some(f) = annotations {
                f.fields(&tags.annotations, &mut fields);
            }
            TagFields::from(fields)
        });
        for (name, value) in fields.iter() {
            flow.extra_insert(name.clone(), value.clone());
        }
    }
}

/// The flow's side of upstream's Multus lookup: the keys a flow gives for the secondary
/// networks, from the rule's address and its `macField` and `interfacesField`.
#[derive(Clone)]
pub(super) struct SecondaryFields {
    /// The Multus part of each `kubeConfig.secondaryNetworks` index, in order.
    networks: Arc<[SecondaryIndex]>,
    /// `macField`.
    mac: Option<FieldPath>,
    /// `interfacesField`.
    interfaces: Option<FieldPath>,
    /// The flow's keys (reused from flow to flow).
    keys: Vec<SecondaryKey>,
}

/// A flow's MAC as the keys read it: `Err` when the network gives no key (absent, or not a
/// MAC), `Ok(None)` for an empty string (upstream's empty part).
fn flow_mac(path: &FieldPath, flow: &Flow) -> Result<Option<MacAddr>, ()> {
    match path.get_ref(flow) {
        Some(FieldRef::Other(Value::Mac(m))) => Ok(Some(m)),
        Some(FieldRef::Str("")) => Ok(None),
        Some(FieldRef::Str(s)) => s.parse().map(Some).map_err(|_| ()),
        _ => Err(()),
    }
}

/// A flow's interface names: `None` when the network gives no key (absent, or not a list of
/// strings). The flow's own `Interfaces` is borrowed.
fn flow_interfaces<'a>(path: &FieldPath, flow: &'a Flow) -> Option<Cow<'a, [Arc<str>]>> {
    if *path == FieldPath::Typed(FieldId::Interfaces)
        && let Some(list) = flow.interface_list().and_then(|l| l.interfaces.as_ref())
    {
        return Some(Cow::Borrowed(list));
    }
    match path.get_ref(flow)? {
        FieldRef::Other(Value::List(items)) => items
            .into_iter()
            .map(|v| match v {
                Value::Str(s) => Some(s),
                _ => None,
            })
            .collect::<Option<Vec<_>>>()
            .map(Cow::Owned),
        _ => None,
    }
}

impl SecondaryFields {
    pub(super) fn new(
        networks: Arc<[SecondaryIndex]>,
        mac: Option<FieldPath>,
        interfaces: Option<FieldPath>,
    ) -> Self {
        Self {
            networks,
            mac,
            interfaces,
            keys: Vec::new(),
        }
    }

    /// Upstream's keys of a flow whose address is `ip`, network by network: the parts its
    /// index names and the rule has a field for (`~ip~mac`), once per interface of the list
    /// when it names `interface`; none for a network whose named field is missing, or when no
    /// part is set.
    fn keys(&mut self, flow: &Flow, ip: IpAddr) -> &[SecondaryKey] {
        self.keys.clear();
        let mac = self.mac.as_ref().map(|p| flow_mac(p, flow));
        let interfaces = self.interfaces.as_ref().map(|p| flow_interfaces(p, flow));
        for net in self.networks.iter() {
            let ip = net.ip.then(|| ip.to_canonical());
            let mac = match (&mac, net.mac) {
                (Some(Err(())), true) => continue,
                (Some(Ok(m)), true) => *m,
                _ => None,
            };
            let list = match (&interfaces, net.interface) {
                (Some(None), true) => continue,
                (Some(Some(list)), true) => Some(list),
                _ => None,
            };
            match list {
                None if ip.is_none() && mac.is_none() => {}
                None => self.keys.push(SecondaryKey {
                    interface: None,
                    ip,
                    mac,
                }),
                Some(list) => self.keys.extend(list.iter().map(|i| SecondaryKey {
                    interface: (!i.is_empty()).then(|| i.clone()),
                    ip,
                    mac,
                })),
            }
        }
        &self.keys
    }
}

#[derive(Clone)]
pub(super) struct KubeRule {
    ip: FieldPath,
    field: AddrField,
    output: KubeOutput,
    zone: bool,
    lookup: Arc<dyn IdentityLookup>,
    /// Labels and annotations copied (`labels_prefix`, `annotations_prefix`).
    tags: Option<Box<TagCopy>>,
    /// The secondary network keys looked up first, when secondary networks are configured.
    secondary: Option<Box<SecondaryFields>>,
    /// Identities without their zone (`add_zone: false`), by the identity they come from (for
    /// sources that do not keep that form themselves, as the Kubernetes index does).
    zoneless: ByArc<K8sIdentity, Arc<K8sIdentity>>,
}

impl KubeRule {
    pub(super) fn new(
        ip: FieldPath,
        output: KubeOutput,
        zone: bool,
        lookup: Arc<dyn IdentityLookup>,
    ) -> Self {
        let field = match ip {
            FieldPath::Typed(FieldId::SrcAddr) => AddrField::SrcAddr,
            FieldPath::Typed(FieldId::DstAddr) => AddrField::DstAddr,
            _ => AddrField::Other,
        };
        KubeRule {
            ip,
            field,
            output,
            zone,
            lookup,
            tags: None,
            secondary: None,
            zoneless: ByArc::default(),
        }
    }

    /// Looks the flow's secondary network keys up first (upstream's Multus lookup).
    pub(super) fn with_secondary(mut self, secondary: SecondaryFields) -> Self {
        self.secondary = Some(Box::new(secondary));
        self
    }

    /// Copies the looked-up object's labels and annotations too.
    pub(super) fn with_tags(mut self, tags: TagCopy) -> Self {
        self.tags = Some(Box::new(tags));
        self
    }

    /// Whether `next`, the rule after this one, may read its address before this rule writes
    /// its output, so that both addresses are looked up at once: `next` reads the flow's own
    /// `SrcAddr` or `DstAddr`, which this rule does not write, from the same identity source.
    /// Rules looking secondary keys up are not fused (their lookup is not by address alone).
    fn pairs_with(&self, next: &KubeRule) -> bool {
        next.field != AddrField::Other
            && self.secondary.is_none()
            && next.secondary.is_none()
            && Arc::ptr_eq(&self.lookup, &next.lookup)
            && match &self.output {
                KubeOutput::Src | KubeOutput::Dst => true,
                KubeOutput::Named(keys) => !keys.contains(&next.ip),
            }
    }

    /// The address the rule looks up: the generic read of its field (see [`addr`]) as it
    /// answers, with the flow's own address fields read directly first.
    fn ip(&self, flow: &Flow) -> Option<IpAddr> {
        let direct = match self.field {
            AddrField::SrcAddr => flow.src_addr(),
            AddrField::DstAddr => flow.dst_addr(),
            AddrField::Other => None,
        };
        // Not in the typed storage: the field may still be held by name (a value of another
        // type), which only the generic read sees.
        direct.or_else(|| match addr(&self.ip, flow) {
            Addr::Ip(ip) => Some(ip),
            Addr::Absent | Addr::NotIp => None,
        })
    }

    /// As upstream: without an address, nothing; then the flow's secondary network keys, the
    /// first known one winning; then the address.
    fn apply(&mut self, flow: &mut Flow) {
        let Some(ip) = self.ip(flow) else {
            return;
        };
        if let Some(secondary) = &mut self.secondary {
            let keys = secondary.keys(flow, ip);
            if let Some(found) = self.lookup.secondary(keys) {
                self.write(flow, found.identity, found.tags);
                return;
            }
        }
        let [found, _] = self.lookup.identities([Some(ip), None], [self.zone, true]);
        if let Some(id) = found {
            let tags = self.tags_of(ip, &id);
            self.write(flow, id, tags);
        }
    }

    /// The labels and annotations of `ip`'s object, when the rule copies them.
    fn tags_of(&self, ip: IpAddr, id: &Arc<K8sIdentity>) -> Option<Arc<ObjectTags>> {
        self.tags.as_ref().and_then(|_| self.lookup.tags(ip, id))
    }

    /// Applies `first` then `next` (see [`Self::pairs_with`]), with one lookup of both
    /// addresses.
    fn apply_pair(first: &mut KubeRule, next: &mut KubeRule, flow: &mut Flow) {
        let ips = [first.ip(flow), next.ip(flow)];
        let [a, b] = match ips {
            [None, None] => return,
            ips => first.lookup.identities(ips, [first.zone, next.zone]),
        };
        if let (Some(id), Some(ip)) = (a, ips[0]) {
            let tags = first.tags_of(ip, &id);
            first.write(flow, id, tags);
        }
        if let (Some(id), Some(ip)) = (b, ips[1]) {
            let tags = next.tags_of(ip, &id);
            next.write(flow, id, tags);
        }
    }

    /// Writes the identity found, without its zone unless the rule adds it, and the labels and
    /// annotations the rule copies (`tags`: the object's).
    fn write(&mut self, flow: &mut Flow, mut id: Arc<K8sIdentity>, tags: Option<Arc<ObjectTags>>) {
        if let Some(copy) = &mut self.tags
            && let Some(tags) = tags
        {
            copy.write(flow, tags);
        }
        if !self.zone && id.zone.is_some() {
            id = self.zoneless.get_or_make(id, |id| {
                let mut copy = id.clone();
                copy.zone = None;
                Arc::new(copy)
            });
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
                Rule::KubePair(pair) => {
                    let [first, next] = &mut **pair;
                    KubeRule::apply_pair(first, next, flow);
                }
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

#[cfg(test)]
impl Network {
    /// The rules one by one (pairs split), reading their addresses directly or not.
    fn split(&self, direct: bool) -> Vec<Rule> {
        let kube = |r: &KubeRule| {
            let mut r = r.clone();
            if !direct {
                r.field = AddrField::Other;
            }
            Rule::Kube(r)
        };
        self.rules
            .iter()
            .flat_map(|r| match r {
                Rule::Kube(k) => vec![kube(k)],
                Rule::KubePair(pair) => pair.iter().map(kube).collect(),
                other => vec![other.clone()],
            })
            .collect()
    }

    /// The same rules run one by one, each reading its address through the generic field
    /// access: the reference the fused rules and the direct reads are compared with.
    fn generic(&self) -> Network {
        Network {
            rules: self.split(false),
            metrics: None,
        }
    }

    fn pairs(&self) -> usize {
        self.rules
            .iter()
            .filter(|r| matches!(r, Rule::KubePair(_)))
            .count()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::net::IpAddr;
    use std::sync::Arc;

    use netobserv_flow::field::{FieldPath, FieldRegistry};
    use netobserv_flow::flow::{Flow, K8sIdentity};
    use netobserv_flow::pipeline::Transform;
    use netobserv_flow::value::Value;

    use super::{Network, Rule};
    use crate::identity::{IdentityLookup, StaticIdentities};
    use crate::kube::{Event, IndexConfig, KubeIndex, Meta, Node, Object, Pod, Service};
    use crate::network::{self, NetworkConfig};

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    /// A rule reading what the one before it writes (2 after 1: not fused), pairs fused (2-3
    /// and 4-5), zone on and off, the flow's identity slots and named outputs.
    const RULES: &str = r#"
rules:
  - type: add_kubernetes
    kubernetes: {ipField: SrcAddr, output: SrcK8S}
  - type: add_kubernetes
    kubernetes: {ipField: SrcK8S_HostIP, output: SrcNode, add_zone: true}
  - type: add_kubernetes
    kubernetes: {ipField: DstAddr, output: DstK8S, add_zone: true}
  - type: add_kubernetes
    kubernetes: {ipField: DstAddr, output: Dst2}
  - type: add_kubernetes
    kubernetes: {ipField: SrcAddr, output: "src.", assignee: otel, add_zone: true}
"#;

    /// Every mix of source and destination among: a pod (IPv4, IPv6, IPv4-mapped), a node, a
    /// service, an unknown address, no address, and text that is no address (kept by name);
    /// with and without identities already on the flow.
    fn flows() -> Vec<Flow> {
        let set = |f: &mut Flow, field: &str, v: &str| match v {
            "" => {}
            "text" => FieldPath::resolve(field).set(f, Value::str("not an address")),
            "empty" => FieldPath::resolve(field).set(f, Value::str("")),
            a => FieldPath::resolve(field).set(f, Value::Ip(ip(a))),
        };
        let addrs = [
            "10.128.0.5",
            "fd01::7",
            "::ffff:10.128.0.5",
            "10.0.0.1",
            "172.30.0.9",
            "8.8.8.8",
            "",
            "text",
            "empty",
        ];
        let mut old = K8sIdentity::default();
        old.name = Some("stale".into());
        let old = Arc::new(old);
        let mut flows = Vec::new();
        for src in addrs {
            for dst in addrs {
                for stale in [false, true] {
                    let mut f = Flow::default();
                    set(&mut f, "SrcAddr", src);
                    set(&mut f, "DstAddr", dst);
                    if stale {
                        f.set_src_k8s(old.clone());
                        f.set_dst_k8s(old.clone());
                    }
                    flows.push(f);
                }
            }
        }
        flows
    }

    fn table() -> StaticIdentities {
        let id = |name: &str, kind: &str, host: Option<&str>, zone: Option<&str>| {
            let mut id = K8sIdentity::default();
            id.name = Some(name.into());
            id.namespace = Some("shop".into());
            id.kind = Some(kind.into());
            id.owner_name = Some(name.into());
            id.owner_type = Some(kind.into());
            id.host_ip = host.map(ip);
            id.host_name = host.map(|_| "n1".into());
            id.zone = zone.map(Into::into);
            id
        };
        StaticIdentities::new()
            .with(
                ip("10.128.0.5"),
                id("web", "Pod", Some("10.0.0.1"), Some("z1")),
            )
            .with(ip("fd01::7"), id("db", "Pod", Some("10.0.0.1"), None))
            .with(
                ip("10.0.0.1"),
                id("n1", "Node", Some("10.0.0.1"), Some("z1")),
            )
            .with(ip("172.30.0.9"), id("api", "Service", None, None))
    }

    fn index() -> KubeIndex {
        let index = KubeIndex::new(IndexConfig::default());
        index.apply(
            [
                Object::Node(Node::new("n1", [ip("10.0.0.1")]).with_zone("z1")),
                Object::Pod(
                    Pod::new(
                        Meta::new("shop", "web", "p1"),
                        [ip("10.128.0.5"), ip("fd01::7")],
                    )
                    .on_node("n1", ip("10.0.0.1")),
                ),
                Object::Service(Service::new(
                    Meta::new("shop", "api", "s1"),
                    [ip("172.30.0.9")],
                )),
            ]
            .map(Event::Apply),
        );
        index
    }

    fn json(f: &Flow) -> String {
        let mut out = Vec::new();
        netobserv_flow::codec::json::encode(f, &mut out);
        String::from_utf8(out).unwrap()
    }

    fn same_output_as_generic(lookup: Arc<dyn IdentityLookup>) {
        let cfg: NetworkConfig = serde_yaml_ng::from_str(RULES).unwrap();
        let mut fast = network::build(&cfg, "p", "s", &mut FieldRegistry::new(), Some(lookup))
            .unwrap()
            .network;
        let mut generic = fast.generic();
        assert_eq!(fast.pairs(), 2);
        assert_eq!((fast.len(), generic.len()), (5, 5));
        let mut found = 0;
        for flow in flows() {
            let (mut a, mut b) = (flow.clone(), flow);
            assert!(fast.transform(&mut a));
            assert!(generic.transform(&mut b));
            assert_eq!(json(&a), json(&b));
            assert_eq!(a.src_k8s(), b.src_k8s());
            assert_eq!(a.dst_k8s(), b.dst_k8s());
            found += usize::from(
                a.dst_k8s()
                    .is_some_and(|id| id.name.as_deref() != Some("stale")),
            );
        }
        // Not a comparison of two flows left alone.
        assert!(found > 50, "{found}");
    }

    #[test]
    fn fused_rules_and_direct_reads_write_what_the_generic_rules_write() {
        same_output_as_generic(Arc::new(table()));
        same_output_as_generic(Arc::new(index()));
    }

    #[test]
    fn rules_over_different_sources_are_not_fused() {
        let cfg: NetworkConfig = serde_yaml_ng::from_str(RULES).unwrap();
        let built = |lookup: Arc<dyn IdentityLookup>| {
            network::build(&cfg, "p", "s", &mut FieldRegistry::new(), Some(lookup))
                .unwrap()
                .network
        };
        let one = built(Arc::new(table()));
        let mut rules = one.split(true);
        assert_eq!(Network::new(rules.clone()).pairs(), 2);
        // The second rule asks another table.
        if let Rule::Kube(r) = &mut rules[1] {
            r.lookup = Arc::new(table());
        }
        let net = Network::new(rules);
        // 4-5 only.
        assert_eq!((net.pairs(), net.len()), (1, 5));
    }

    #[test]
    fn labels_and_annotations_are_copied_filtered_and_cut_as_upstream() {
        use crate::identity::ObjectTags;
        let t = |pairs: &[(&str, &str)]| -> Vec<(Arc<str>, Arc<str>)> {
            pairs
                .iter()
                .map(|(k, v)| (Arc::from(*k), Arc::from(*v)))
                .collect()
        };
        let mut pod = K8sIdentity::default();
        pod.name = Some("web-1".into());
        let lookup = StaticIdentities::new()
            .with(ip("10.128.0.5"), pod.clone())
            .with_tags(
                ip("10.128.0.5"),
                ObjectTags {
                    labels: t(&[
                        ("app", "web"),
                        ("team", "shop"),
                        ("secret", "x"),
                        ("long", "abcdefghij"),
                    ]),
                    annotations: t(&[("note", "hello world")]),
                },
            )
            .with(ip("10.128.0.6"), pod);
        // Source: labels (not `secret`, values cut at 6 characters); destination: all
        // annotations (cut at 2 characters: the suffix alone, as upstream), only the `app` label.
        // The pair is fused (one lookup of both sides).
        let cfg: NetworkConfig = serde_yaml_ng::from_str(
            r#"
rules:
  - type: add_kubernetes
    kubernetes: {ipField: SrcAddr, output: SrcK8S, labels_prefix: SrcK8S_labels, label_exclusions: [secret], label_value_max_length: 6}
  - type: add_kubernetes
    kubernetes: {ipField: DstAddr, output: DstK8S, labels_prefix: DstK8S_labels, label_inclusions: [app], annotations_prefix: DstK8S_annotations, annotation_value_max_length: 2}
  - type: add_kubernetes
    kubernetes: {ipField: SrcAddr, output: Other, labels_prefix: ""}
"#,
        )
        .unwrap();
        let lookup: Arc<dyn IdentityLookup> = Arc::new(lookup);
        let built =
            network::build(&cfg, "t", "t", &mut FieldRegistry::new(), Some(lookup)).unwrap();
        assert!(built.warnings.is_empty(), "{:?}", built.warnings);
        let mut net = built.network;
        assert!(net.rules.iter().any(|r| matches!(r, Rule::KubePair(_))));
        let mut flow = Flow::default();
        flow.set_src_addr(ip("10.128.0.5"));
        flow.set_dst_addr(ip("10.128.0.5"));
        for _ in 0..2 {
            // Twice: the second time from the rule's cache of prepared fields.
            let mut f = flow.clone();
            assert!(net.transform(&mut f));
            let mut extra: Vec<(String, String)> = f
                .extra_iter()
                .filter(|(k, _)| k.contains("_labels_") || k.contains("_annotations_"))
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            extra.sort();
            let want = [
                ("DstK8S_annotations_note", ".."),
                ("DstK8S_labels_app", "web"),
                ("SrcK8S_labels_app", "web"),
                ("SrcK8S_labels_long", "abc..."),
                ("SrcK8S_labels_team", "shop"),
            ]
            .map(|(k, v)| (k.to_string(), v.to_string()));
            assert_eq!(extra, want);
        }
        // An object without tags writes none.
        let mut f = Flow::default();
        f.set_src_addr(ip("10.128.0.6"));
        assert!(net.transform(&mut f));
        assert_eq!(
            f.src_k8s().and_then(|k| k.name.clone()).as_deref(),
            Some("web-1")
        );
        assert_eq!(
            f.extra_iter()
                .filter(|(k, _)| k.contains("_labels_"))
                .count(),
            0
        );
    }

    #[test]
    fn label_filters_without_a_prefix_are_a_warning() {
        let cfg: NetworkConfig = serde_yaml_ng::from_str(
            "rules:\n  - type: add_kubernetes\n    kubernetes: {ipField: SrcAddr, output: SrcK8S, label_inclusions: [app], annotations_prefix: '', annotation_value_max_length: 3}\n",
        )
        .unwrap();
        let lookup: Arc<dyn IdentityLookup> = Arc::new(StaticIdentities::new());
        let built =
            network::build(&cfg, "t", "t", &mut FieldRegistry::new(), Some(lookup)).unwrap();
        assert_eq!(
            built.warnings,
            [
                "t.rules[0].kubernetes.label_inclusions: has no effect without a non-empty `labels_prefix`",
                "t.rules[0].kubernetes.annotation_value_max_length: has no effect without a non-empty `annotations_prefix`",
            ]
        );
    }

    #[test]
    fn upstreams_cut_of_values() {
        use super::truncate;
        assert_eq!(truncate("abcdef", 6), "abcdef");
        assert_eq!(truncate("abcdefg", 6), "abc...");
        assert_eq!(truncate("abcdefg", 3), "...");
        assert_eq!(truncate("abcdefg", 2), "..");
        assert_eq!(truncate("abcdefg", 0), "");
        assert_eq!(truncate("abcdefg", -1), "");
        // Characters, not bytes.
        assert_eq!(truncate("éééééé", 5), "éé...");
    }
    /// The kube rules of a built network, pairs split.
    fn kube_rules(net: &Network) -> Vec<super::KubeRule> {
        net.split(true)
            .into_iter()
            .filter_map(|r| match r {
                Rule::Kube(k) => Some(k),
                _ => None,
            })
            .collect()
    }

    const SECONDARY: &str = r#"
rules:
  - type: add_kubernetes
    kubernetes: {ipField: SrcAddr, macField: SrcMac, interfacesField: Interfaces, output: SrcK8S}
  - type: add_kubernetes
    kubernetes: {ipField: DstAddr, macField: Mac2, output: DstK8S}
kubeConfig:
  secondaryNetworks:
    - index: {mac: null, interface: null}
    - index: {ip: null, mac: null}
    - index: {udn: null}
"#;

    fn secondary_flow(interfaces: &[&str]) -> Flow {
        use netobserv_flow::flow::Interfaces;
        let mut f = Flow::default();
        FieldPath::resolve("SrcAddr").set(&mut f, Value::Ip(ip("::ffff:192.168.10.5")));
        FieldPath::resolve("DstAddr").set(&mut f, Value::Ip(ip("fd10::5")));
        f.set_src_mac("86:1D:96:FF:55:0D".parse().unwrap());
        f.set_interface_list(Arc::new(Interfaces::new(
            interfaces.iter().map(|i| Arc::from(*i)).collect(),
            vec![0; interfaces.len()],
            vec![Arc::from(""); interfaces.len()],
        )));
        f
    }

    #[test]
    fn a_flow_gives_upstreams_secondary_keys() {
        let cfg: NetworkConfig = serde_yaml_ng::from_str(SECONDARY).unwrap();
        let lookup: Arc<dyn IdentityLookup> = Arc::new(StaticIdentities::new());
        let net = network::build(&cfg, "t", "t", &mut FieldRegistry::new(), Some(lookup))
            .unwrap()
            .network;
        assert_eq!(net.pairs(), 0, "rules with secondary lookups are not fused");
        let [mut src, mut dst] = <[_; 2]>::try_from(kube_rules(&net)).ok().unwrap();
        let keys = |rule: &mut super::KubeRule, flow: &Flow| -> Vec<String> {
            let ip = rule.ip(flow).unwrap();
            let fields = rule.secondary.as_mut().unwrap();
            fields
                .keys(flow, ip)
                .iter()
                .map(ToString::to_string)
                .collect()
        };
        let flow = secondary_flow(&["eth0", "net1"]);
        // One key per interface for the first network, `~ip~mac` for the second; the MAC in
        // lower case, the IPv4-mapped address as IPv4; nothing for the `udn` one.
        assert_eq!(
            keys(&mut src, &flow),
            [
                "eth0~~86:1d:96:ff:55:0d",
                "net1~~86:1d:96:ff:55:0d",
                "~192.168.10.5~86:1d:96:ff:55:0d"
            ]
        );
        // No `Mac2`: both networks name `mac`, no key.
        assert!(keys(&mut dst, &flow).is_empty());
        let mut with_mac2 = flow.clone();
        FieldPath::resolve("Mac2").set(&mut with_mac2, Value::str("A2-4C-11-9E-00-07"));
        assert_eq!(
            keys(&mut dst, &with_mac2),
            ["~~a2:4c:11:9e:00:07", "~fd10::5~a2:4c:11:9e:00:07"]
        );
        // A MAC field holding no MAC: no key; an empty one: the empty part.
        FieldPath::resolve("Mac2").set(&mut with_mac2, Value::str("not a mac"));
        assert!(keys(&mut dst, &with_mac2).is_empty());
        FieldPath::resolve("Mac2").set(&mut with_mac2, Value::str(""));
        assert_eq!(keys(&mut dst, &with_mac2), ["~fd10::5~"]);
        // No interface list: the first network gives nothing.
        let mut bare = flow.clone();
        bare.set_interface_list(Arc::new(netobserv_flow::flow::Interfaces::default()));
        assert_eq!(keys(&mut src, &bare), ["~192.168.10.5~86:1d:96:ff:55:0d"]);
        // An interface list read by name (not the flow's own `Interfaces`).
        let cfg: NetworkConfig = serde_yaml_ng::from_str(
            &SECONDARY.replace("interfacesField: Interfaces", "interfacesField: MyIfs"),
        )
        .unwrap();
        let lookup: Arc<dyn IdentityLookup> = Arc::new(StaticIdentities::new());
        let net = network::build(&cfg, "t", "t", &mut FieldRegistry::new(), Some(lookup))
            .unwrap()
            .network;
        let mut src = kube_rules(&net).remove(0);
        let mut named = flow.clone();
        FieldPath::resolve("MyIfs").set(&mut named, Value::List(vec![Value::str("net9")]));
        assert_eq!(
            keys(&mut src, &named),
            ["net9~~86:1d:96:ff:55:0d", "~192.168.10.5~86:1d:96:ff:55:0d"]
        );
        // Not a list of strings: no key from that network.
        FieldPath::resolve("MyIfs").set(&mut named, Value::List(vec![Value::UInt(3)]));
        assert_eq!(keys(&mut src, &named), ["~192.168.10.5~86:1d:96:ff:55:0d"]);
    }

    #[test]
    fn without_secondary_networks_no_key_is_built_and_rules_are_fused() {
        let cfg: NetworkConfig =
            serde_yaml_ng::from_str(SECONDARY.split("kubeConfig").next().unwrap()).unwrap();
        let lookup: Arc<dyn IdentityLookup> = Arc::new(StaticIdentities::new());
        let net = network::build(&cfg, "t", "t", &mut FieldRegistry::new(), Some(lookup))
            .unwrap()
            .network;
        assert_eq!(net.pairs(), 1);
        assert!(kube_rules(&net).iter().all(|r| r.secondary.is_none()));
        // An index of `udn` only is no Multus network either.
        let cfg: NetworkConfig = serde_yaml_ng::from_str(
            &SECONDARY
                .replace("    - index: {mac: null, interface: null}\n", "")
                .replace("    - index: {ip: null, mac: null}\n", ""),
        )
        .unwrap();
        assert_eq!(
            cfg.kube_config.as_ref().unwrap().secondary_networks.len(),
            1
        );
        let lookup: Arc<dyn IdentityLookup> = Arc::new(StaticIdentities::new());
        let net = network::build(&cfg, "t", "t", &mut FieldRegistry::new(), Some(lookup))
            .unwrap()
            .network;
        assert!(kube_rules(&net).iter().all(|r| r.secondary.is_none()));
    }

    #[test]
    fn secondary_keys_are_looked_up_first_then_the_address() {
        use crate::identity::SecondaryKey;
        let named = |name: &str, network: &str| {
            let mut id = K8sIdentity::default();
            id.name = Some(name.into());
            id.kind = Some("Pod".into());
            id.network_name = Some(network.into());
            id
        };
        let mac = "86:1d:96:ff:55:0d".parse().unwrap();
        let lookup: Arc<dyn IdentityLookup> = Arc::new(
            StaticIdentities::new()
                .with(ip("192.168.10.5"), named("by-ip", "primary"))
                .with_secondary(
                    SecondaryKey::new("net1", None, Some(mac)),
                    named("storage-0", "shop/macvlan-storage"),
                )
                .with_secondary(
                    SecondaryKey::new("", Some(ip("192.168.10.5")), Some(mac)),
                    named("storage-1", "shop/other"),
                ),
        );
        let cfg: NetworkConfig = serde_yaml_ng::from_str(SECONDARY).unwrap();
        let mut net = network::build(&cfg, "t", "t", &mut FieldRegistry::new(), Some(lookup))
            .unwrap()
            .network;
        let src = |flow: &Flow| {
            let id = flow.src_k8s().unwrap();
            (id.name.clone().unwrap(), id.network_name.clone().unwrap())
        };
        // The keys in order: `net1~~mac` comes before `~ip~mac`.
        let mut flow = secondary_flow(&["eth0", "net1"]);
        net.transform(&mut flow);
        assert_eq!(
            src(&flow),
            ("storage-0".into(), "shop/macvlan-storage".into())
        );
        let mut flow = secondary_flow(&["eth0"]);
        net.transform(&mut flow);
        assert_eq!(src(&flow), ("storage-1".into(), "shop/other".into()));
        // Another MAC: no key known, the address.
        let mut flow = secondary_flow(&["net1"]);
        flow.set_src_mac("02:00:00:00:00:01".parse().unwrap());
        net.transform(&mut flow);
        assert_eq!(src(&flow), ("by-ip".into(), "primary".into()));
    }
}
