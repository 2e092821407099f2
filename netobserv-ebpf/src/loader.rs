//! Loading, attaching and evicting the flow programs.

use std::collections::HashMap as StdHashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aya::maps::{HashMap, LpmTrie, Map, MapData, PerCpuArray, RingBuf, lpm_trie::Key};
use aya::programs::tc::{
    self, NlOptions, SchedClassifier, SchedClassifierLinkId, TcAttachOptions, TcAttachType, TcError,
};
use aya::programs::{BtfTracePoint, LinkOrder, ProgramError};
use aya::{Btf, Ebpf, EbpfLoader, Pod};
use netobserv_flow::codec::pbflow::{dns_rcode_name, drop_cause_name, tcp_state_name};
use netobserv_flow::flow::{Interfaces, intern};
use netobserv_flow::{Flow, MacAddr, TcpFlags};
use rustix::time::{ClockId, clock_gettime};

use crate::batch;
use crate::error::{Error, Result};
use crate::filter::KernelFilter;
use crate::types::{DNS_NAME_CAP, DnsRecord, DropRecord, FlowKey, FlowValue, RttRecord};

/// The compiled `bpf/flows.c` (see `bpf/build.sh`).
static OBJECT: &[u8] = aya::include_bytes_aligned!("../bpf/flows.bpf.o");

const INGRESS: &str = "tc_ingress";
const EGRESS: &str = "tc_egress";
const DROPS: &str = "kfree_skb";
const RTT: &str = "tcp_probe";
const FLOWS: &str = "flows";
const RINGBUF: &str = "direct_flows";
const COUNTERS: &str = "counters";
const DNS_QUERIES: &str = "dns_queries";
const DNS_RECORDS: &str = "dns_records";
const DROP_RECORDS: &str = "drop_records";
const RTT_RECORDS: &str = "rtt_records";
const FILTER_RULES: &str = "filter_rules";
const FILTER_PEERS: &str = "filter_peers";

/// The ring buffer's size when the fallback is on (1 MiB: about 7,700 one-packet records).
const RINGBUF_BYTES: u32 = 1 << 20;

/// How a program was attached to an interface.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum AttachMode {
    /// A TCX link (kernel 6.6+); removed when the link is dropped.
    Tcx,
    /// A filter on a clsact qdisc (older kernels).
    Clsact,
}

/// Which attach method to use (upstream's `TC_ATTACH_MODE`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TcAttachMode {
    /// TCX only.
    Tcx,
    /// A clsact qdisc filter only.
    Tc,
    /// TCX, falling back to a clsact filter (the default).
    #[default]
    Any,
}

/// Which directions to trace (upstream's `DIRECTION`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Direction {
    /// Ingress only.
    Ingress,
    /// Egress only.
    Egress,
    /// Both (the default).
    #[default]
    Both,
}

/// The flow map's size unless set, upstream's `CACHE_MAX_FLOWS` default.
pub const DEFAULT_MAX_FLOWS: u32 = 5_000;
/// The longest DNS name kept unless set, in wire bytes: upstream's 32-byte buffer less its NUL.
pub const DEFAULT_DNS_NAME_LEN: u8 = 31;

/// Options for loading a [`FlowAgent`].
#[derive(Clone, Debug)]
pub struct FlowAgentBuilder {
    max_flows: u32,
    sampling: u32,
    filter: KernelFilter,
    dns_port: Option<u16>,
    dns_name_len: u8,
    drops: bool,
    rtt: bool,
    /// The tracepoint the RTT program attaches to (another name only in tests, to see a refusal).
    rtt_tracepoint: &'static str,
    ringbuf: bool,
    direction: Direction,
    attach_mode: TcAttachMode,
}

impl Default for FlowAgentBuilder {
    fn default() -> Self {
        FlowAgentBuilder {
            max_flows: DEFAULT_MAX_FLOWS,
            sampling: 0,
            filter: KernelFilter::default(),
            dns_port: None,
            dns_name_len: DEFAULT_DNS_NAME_LEN,
            drops: false,
            rtt: false,
            rtt_tracepoint: "tcp_probe",
            ringbuf: false,
            direction: Direction::Both,
            attach_mode: TcAttachMode::Any,
        }
    }
}

impl FlowAgentBuilder {
    /// The flow map's capacity (upstream's `CACHE_MAX_FLOWS`); the per-feature maps get the same.
    pub fn with_max_flows(mut self, max_flows: u32) -> Self {
        self.max_flows = max_flows.max(1);
        self
    }

    /// Records one packet in `n`, chosen at random (0 or 1: every packet).
    pub fn with_sampling(mut self, n: u32) -> Self {
        self.sampling = n;
        self
    }

    /// Filter rules (see [`crate::filter`]); none by default.
    pub fn with_filter(mut self, filter: KernelFilter) -> Self {
        self.filter = filter;
        self
    }

    /// DNS tracking on `port` (and 53), as upstream's `ENABLE_DNS_TRACKING` /
    /// `DNS_TRACKING_PORT`; off by default.
    pub fn with_dns_tracking(mut self, port: Option<u16>) -> Self {
        self.dns_port = port.map(|p| if p == 0 { 53 } else { p });
        self
    }

    /// How many wire bytes of a DNS name to keep, at most 64 (default 31, as upstream).
    pub fn with_dns_name_len(mut self, len: u8) -> Self {
        self.dns_name_len = len.min(DNS_NAME_CAP as u8);
        self
    }

    /// Packet drops from the `kfree_skb` tracepoint; off by default.
    pub fn with_pkt_drops(mut self, on: bool) -> Self {
        self.drops = on;
        self
    }

    /// TCP RTT from the `tcp_probe` tracepoint; off by default.
    pub fn with_rtt(mut self, on: bool) -> Self {
        self.rtt = on;
        self
    }

    /// When the flow map is full, hand new flows to user space through a ring buffer, where they
    /// are aggregated (up to the map's size in flows) until the next eviction. Off by default, as
    /// upstream's `ENABLE_FLOWS_RINGBUF_FALLBACK`: their packets are then counted as lost.
    pub fn with_ringbuf_fallback(mut self, on: bool) -> Self {
        self.ringbuf = on;
        self
    }

    /// Which directions [`FlowAgent::attach`] hooks.
    pub fn with_direction(mut self, direction: Direction) -> Self {
        self.direction = direction;
        self
    }

    /// TCX, clsact or either.
    pub fn with_attach_mode(mut self, mode: TcAttachMode) -> Self {
        self.attach_mode = mode;
        self
    }

    /// Loads the programs into the kernel (nothing is attached yet). A tracepoint feature the
    /// kernel refuses is turned off with one warning (see [`FlowAgent::features`]); the flow
    /// programs failing to load is an error.
    pub fn load(self) -> Result<FlowAgent> {
        let feature_size = |on: bool| if on { self.max_flows } else { 1 };
        let filter_on = u8::from(!self.filter.rules.is_empty());
        let filter_sampling = u8::from(self.filter.has_sampling());
        let dns_on = u8::from(self.dns_port.is_some());
        let dns_port = self.dns_port.unwrap_or(53);
        let ringbuf_on = u8::from(self.ringbuf);
        // The kernel's drop reasons, named (and the first real one found) from its BTF.
        let drop_reasons = if self.drops {
            crate::btf::kernel_drop_reasons()
        } else {
            None
        };
        let not_specified: u32 = drop_reasons
            .as_ref()
            .and_then(|r| {
                r.iter()
                    .find(|(_, n)| n.as_str() == "SKB_DROP_REASON_NOT_SPECIFIED")
                    .and_then(|(v, _)| u32::try_from(*v).ok())
            })
            .unwrap_or(2);
        let mut loader = EbpfLoader::new();
        loader
            .map_max_entries(FLOWS, self.max_flows)
            .map_max_entries(
                RINGBUF,
                if self.ringbuf {
                    RINGBUF_BYTES
                } else {
                    page_size()
                },
            )
            .map_max_entries(DNS_RECORDS, feature_size(self.dns_port.is_some()))
            .map_max_entries(DNS_QUERIES, if dns_on == 1 { 16_384 } else { 1 })
            .map_max_entries(DROP_RECORDS, feature_size(self.drops))
            .map_max_entries(RTT_RECORDS, feature_size(self.rtt))
            .override_global("sampling", &self.sampling, true)
            .override_global("filter_enabled", &filter_on, true)
            .override_global("filter_has_sampling", &filter_sampling, true)
            .override_global("dns_enabled", &dns_on, true)
            .override_global("dns_port", &dns_port, true)
            .override_global("dns_name_len", &self.dns_name_len, true)
            .override_global("ringbuf_enabled", &ringbuf_on, true)
            .override_global("drop_reason_not_specified", &not_specified, true);
        let ebpf = loader.load(OBJECT).map_err(Error::Load)?;
        FlowAgent::from_ebpf(ebpf, self, drop_reasons)
    }
}

/// The optional features and whether each runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Features {
    /// DNS tracking (in the TC programs).
    pub dns: bool,
    /// Packet drops: `Ok(true)` running, `Ok(false)` not asked for, `Err` why the kernel
    /// refused it.
    pub drops: Result<bool, String>,
    /// TCP RTT, as `drops`.
    pub rtt: Result<bool, String>,
    /// Filter rules loaded.
    pub filter_rules: usize,
    /// The ring-buffer fallback.
    pub ringbuf: bool,
}

/// The kernel's counters (`enum counter` in `flow.h`), summed over CPUs, since load.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// New flows handed to user space because the map was full.
    pub ringbuf_fallback: u64,
    /// Packets lost because the map and the ring buffer were both full (or the fallback off).
    pub ringbuf_full: u64,
    /// Updates of an existing flow that failed.
    pub map_update_fail: u64,
    /// Packets a Reject rule matched.
    pub filter_reject: u64,
    /// Packets an Accept rule matched.
    pub filter_accept: u64,
    /// Packets no rule matched.
    pub filter_nomatch: u64,
    /// DNS records that could not be stored.
    pub dns_fail: u64,
    /// Drop records that could not be stored.
    pub drops_fail: u64,
    /// RTT records that could not be stored.
    pub rtt_fail: u64,
    /// Flows seen on more interfaces than a flow remembers.
    pub observed_full: u64,
}

/// A program's statistics from the kernel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProgramStats {
    /// The program's name in `flows.c`.
    pub name: String,
    /// How many times it ran.
    pub run_count: u64,
    /// Its total run time.
    pub run_time: Duration,
}

/// What one eviction read.
#[derive(Debug, Default)]
pub struct Eviction {
    /// The flows, from the map and from the ring buffer.
    pub flows: Vec<Flow>,
    /// Entries read from the flow map.
    pub map_flows: usize,
    /// Flows aggregated in user space from ring-buffer records.
    pub ringbuf_flows: usize,
    /// Ring-buffer records (packets) those flows hold.
    pub ringbuf_records: u64,
    /// Ring-buffer records dropped because user space already held as many flows as the map.
    pub ringbuf_dropped: u64,
    /// Entries of each feature map: DNS, drops, RTT.
    pub feature_entries: [usize; 3],
    /// How long reading and deleting the maps took.
    pub duration: Duration,
    /// Whether the kernel's batch lookup-and-delete did it (else one entry at a time).
    pub batched: bool,
    /// Maps that failed part-way; `flows` still holds everything read from them.
    pub errors: Vec<Error>,
}

/// An interface's MAC address (when it could be read) and name.
type NamedInterface = (Option<[u8; 6]>, Arc<str>);

/// What one interface's attachment holds.
struct Attachment {
    mode: AttachMode,
    links: Vec<(&'static str, SchedClassifierLinkId)>,
    /// The namespace, when not the agent's own.
    netns: Option<String>,
    /// The interface's name and index when attached.
    interface: String,
    index: u32,
    mac: Option<[u8; 6]>,
}

/// An interface the programs are attached to.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Attached {
    /// `interface`, or `netns/interface` in a named namespace.
    pub name: String,
    /// Its index when it was attached: an interface deleted and made again under the same name
    /// has another one (and has lost its programs).
    pub if_index: u32,
    /// How.
    pub mode: AttachMode,
}

/// The loaded flow programs and their maps. Dropping it detaches every program (aya detaches
/// the links it owns when the programs drop).
pub struct FlowAgent {
    ebpf: Ebpf,
    flows: Map,
    dns: Map,
    drops: Map,
    rtt: Map,
    counters: PerCpuArray<MapData, u64>,
    ringbuf: RingBuf<MapData>,
    /// Ring-buffer records not evicted yet, aggregated by key.
    pending: StdHashMap<FlowKey, (FlowValue, u64)>,
    /// Ring-buffer records dropped since the last eviction: `pending` was full.
    ringbuf_dropped: u64,
    /// Interface names by index. Indexes are per network namespace, so with watched namespaces
    /// one index may name several interfaces: their MAC addresses tell them apart.
    names: StdHashMap<u32, Vec<NamedInterface>>,
    /// By attachment name: how, the links, and the namespace when not the agent's own.
    links: StdHashMap<String, Attachment>,
    features: Features,
    options: FlowAgentBuilder,
    drop_reasons: Option<StdHashMap<u64, String>>,
    batch_ok: bool,
}

impl FlowAgent {
    /// Loads the programs with default options (nothing is attached yet).
    pub fn load() -> Result<Self> {
        FlowAgentBuilder::default().load()
    }

    /// Options for loading.
    pub fn builder() -> FlowAgentBuilder {
        FlowAgentBuilder::default()
    }

    fn from_ebpf(
        mut ebpf: Ebpf,
        options: FlowAgentBuilder,
        drop_reasons: Option<StdHashMap<u64, String>>,
    ) -> Result<Self> {
        for name in [INGRESS, EGRESS] {
            classifier(&mut ebpf, name)?
                .load()
                .map_err(|source| Error::Program {
                    program: name,
                    source,
                })?;
        }
        let mut features = Features {
            dns: options.dns_port.is_some(),
            drops: Ok(false),
            rtt: Ok(false),
            filter_rules: options.filter.rules.len(),
            ringbuf: options.ringbuf,
        };
        if options.drops || options.rtt {
            let btf = Btf::from_sys_fs().map_err(|e| e.to_string());
            for (on, prog, point, slot, what) in [
                (
                    options.drops,
                    DROPS,
                    "kfree_skb",
                    &mut features.drops,
                    "packet drops",
                ),
                (
                    options.rtt,
                    RTT,
                    options.rtt_tracepoint,
                    &mut features.rtt,
                    "RTT",
                ),
            ] {
                if !on {
                    continue;
                }
                *slot = match &btf {
                    Ok(btf) => tracepoint(&mut ebpf, prog, point, btf).map(|()| true),
                    Err(e) => Err(format!("the kernel has no BTF: {e}")),
                };
                if let Err(why) = slot {
                    tracing::warn!(
                        feature = what,
                        tracepoint = point,
                        "{what} turned off: the kernel refused the tracepoint program: {why}"
                    );
                }
            }
        }
        let take = |ebpf: &mut Ebpf, name: &'static str| {
            ebpf.take_map(name).ok_or(Error::Map {
                map: name,
                source: aya::maps::MapError::InvalidName { name: name.into() },
            })
        };
        let flows = take(&mut ebpf, FLOWS)?;
        let dns = take(&mut ebpf, DNS_RECORDS)?;
        let drops = take(&mut ebpf, DROP_RECORDS)?;
        let rtt = take(&mut ebpf, RTT_RECORDS)?;
        let counters =
            PerCpuArray::try_from(take(&mut ebpf, COUNTERS)?).map_err(|source| Error::Map {
                map: COUNTERS,
                source,
            })?;
        let ringbuf =
            RingBuf::try_from(take(&mut ebpf, RINGBUF)?).map_err(|source| Error::Map {
                map: RINGBUF,
                source,
            })?;
        if !options.filter.rules.is_empty() {
            let map_err = |source| Error::Map {
                map: FILTER_RULES,
                source,
            };
            let mut rules: LpmTrie<_, [u8; 16], crate::types::FilterRule> =
                LpmTrie::try_from(take(&mut ebpf, FILTER_RULES)?).map_err(map_err)?;
            for (key, rule) in &options.filter.rules {
                rules
                    .insert(&Key::new(key.prefix_len, key.ip), rule, 0)
                    .map_err(map_err)?;
            }
            let map_err = |source| Error::Map {
                map: FILTER_PEERS,
                source,
            };
            let mut peers: LpmTrie<_, [u8; 16], u8> =
                LpmTrie::try_from(take(&mut ebpf, FILTER_PEERS)?).map_err(map_err)?;
            for key in &options.filter.peers {
                peers
                    .insert(&Key::new(key.prefix_len, key.ip), 1, 0)
                    .map_err(map_err)?;
            }
        }
        Ok(FlowAgent {
            ebpf,
            flows,
            dns,
            drops,
            rtt,
            counters,
            ringbuf,
            pending: StdHashMap::new(),
            ringbuf_dropped: 0,
            names: StdHashMap::new(),
            links: StdHashMap::new(),
            features,
            options,
            drop_reasons,
            batch_ok: true,
        })
    }

    /// Which optional features run.
    pub fn features(&self) -> &Features {
        &self.features
    }

    /// Attaches the programs (ingress, egress or both, as built) to `interface`, looked up in the
    /// calling thread's network namespace: TCX first, a clsact qdisc filter when TCX is refused
    /// (as the attach mode allows). Attaching an interface twice does nothing.
    pub fn attach(&mut self, interface: &str) -> Result<AttachMode> {
        self.attach_in(None, interface)
    }

    /// As [`FlowAgent::attach`], in the named network namespace (`/run/netns/NAME`, as
    /// `ip netns` makes them) when `netns` is given: the calling thread enters it for the attach
    /// and comes back. The attachment is known as `NAME/interface` ([`FlowAgent::attached`]).
    pub fn attach_in(&mut self, netns: Option<&str>, interface: &str) -> Result<AttachMode> {
        let key = attachment_name(netns, interface);
        if let Some(a) = self.links.get(&key) {
            return Ok(a.mode);
        }
        match netns {
            Some(ns) => {
                let (ns_owned, k) = (ns.to_string(), key.clone());
                crate::interfaces::in_netns(ns, || self.attach_here(k, Some(ns_owned), interface))
                    .map_err(|source| Error::Interface {
                    interface: key,
                    source,
                })?
            }
            None => self.attach_here(key, None, interface),
        }
    }

    fn attach_here(
        &mut self,
        key: String,
        netns: Option<String>,
        interface: &str,
    ) -> Result<AttachMode> {
        let index = if_index(interface)?;
        let mut mode = AttachMode::Tcx;
        let mut links = Vec::new();
        let hooks: &[(&'static str, TcAttachType)] = match self.options.direction {
            Direction::Ingress => &[(INGRESS, TcAttachType::Ingress)],
            Direction::Egress => &[(EGRESS, TcAttachType::Egress)],
            Direction::Both => &[
                (INGRESS, TcAttachType::Ingress),
                (EGRESS, TcAttachType::Egress),
            ],
        };
        let attach_mode = self.options.attach_mode;
        let result = (|| {
            for &(name, at) in hooks {
                let prog = classifier(&mut self.ebpf, name)?;
                let tcx = TcAttachOptions::TcxOrder(LinkOrder::default());
                let first = match attach_mode {
                    TcAttachMode::Tc => None,
                    _ => Some(prog.attach_with_options(interface, at, tcx)),
                };
                let link = match first {
                    Some(Ok(link)) => link,
                    Some(Err(source)) if attach_mode == TcAttachMode::Tcx => {
                        return Err(Error::Attach {
                            program: name,
                            interface: interface.into(),
                            source,
                        });
                    }
                    other => {
                        if let Some(Err(error)) = other {
                            tracing::debug!(%error, interface, program = name, "tcx attach failed, trying clsact");
                        }
                        match tc::qdisc_add_clsact(interface) {
                            // An existing clsact qdisc is what we want.
                            Ok(()) | Err(TcError::AlreadyAttached) => {}
                            Err(TcError::NetlinkError(e))
                                if e.to_string().contains("Exclusivity") => {}
                            Err(e) => {
                                return Err(Error::Attach {
                                    program: name,
                                    interface: interface.into(),
                                    source: ProgramError::TcError(e),
                                });
                            }
                        }
                        let nl = TcAttachOptions::Netlink(NlOptions::default());
                        mode = AttachMode::Clsact;
                        prog.attach_with_options(interface, at, nl)
                            .map_err(|source| Error::Attach {
                                program: name,
                                interface: interface.into(),
                                source,
                            })?
                    }
                };
                links.push((name, link));
            }
            Ok(())
        })();
        if let Err(e) = result {
            // Leave nothing half attached.
            for (name, link) in links {
                if let Ok(prog) = classifier(&mut self.ebpf, name) {
                    let _ = prog.detach(link);
                }
            }
            return Err(e);
        }
        let mac = crate::interfaces::mac(interface).ok();
        let named = self.names.entry(index).or_default();
        named.retain(|(m, n)| !(&**n == interface && *m == mac));
        named.push((mac, intern(interface)));
        self.links.insert(
            key,
            Attachment {
                mode,
                links,
                netns,
                interface: interface.to_string(),
                index,
                mac,
            },
        );
        Ok(mode)
    }

    /// Detaches the programs from an attachment ([`FlowAgent::attached`]'s name: `interface` or
    /// `netns/interface`); `false` when there was none. An interface that vanished took its
    /// links with it: detaching it only forgets them.
    pub fn detach(&mut self, interface: &str) -> bool {
        let Some(Attachment {
            mode,
            links,
            netns,
            interface: if_name,
            index,
            mac,
        }) = self.links.remove(interface)
        else {
            return false;
        };
        if let Some(named) = self.names.get_mut(&index) {
            named.retain(|(m, n)| !(**n == *if_name && *m == mac));
            if named.is_empty() {
                self.names.remove(&index);
            }
        }
        let ebpf = &mut self.ebpf;
        let detach_all = || {
            for (name, link) in links {
                if let Ok(prog) = classifier(ebpf, name)
                    && let Err(error) = prog.detach(link)
                {
                    tracing::debug!(%error, interface, program = name, "detach");
                }
            }
        };
        match (&netns, mode) {
            // A clsact filter is removed by netlink, in its interface's namespace; a TCX link is
            // a descriptor, closed from anywhere.
            (Some(ns), AttachMode::Clsact) => {
                if let Err(error) = crate::interfaces::in_netns(ns, detach_all) {
                    tracing::debug!(%error, interface, "entering the namespace to detach");
                }
            }
            _ => detach_all(),
        }
        true
    }

    /// The interfaces attached, by name.
    pub fn attached(&self) -> Vec<Attached> {
        let mut v: Vec<_> = self
            .links
            .iter()
            .map(|(name, a)| Attached {
                name: name.clone(),
                if_index: a.index,
                mode: a.mode,
            })
            .collect();
        v.sort();
        v
    }

    /// Each loaded program's run count and total run time, as the kernel keeps them while
    /// `kernel.bpf_stats_enabled` is 1 (or a `BPF_ENABLE_STATS` descriptor is held).
    pub fn program_stats(&self) -> Vec<ProgramStats> {
        let mut out = Vec::new();
        for (name, prog) in self.ebpf.programs() {
            if let Ok(info) = prog.info() {
                out.push(ProgramStats {
                    name: name.to_string(),
                    run_count: info.run_count(),
                    run_time: info.run_time(),
                });
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        out
    }

    /// The kernel's counters, summed over CPUs.
    pub fn counters(&self) -> Result<Counters> {
        let mut v = [0u64; 10];
        for (i, slot) in v.iter_mut().enumerate() {
            let per_cpu = self
                .counters
                .get(&(i as u32), 0)
                .map_err(|source| Error::Map {
                    map: COUNTERS,
                    source,
                })?;
            *slot = per_cpu.iter().sum();
        }
        Ok(Counters {
            ringbuf_fallback: v[0],
            ringbuf_full: v[1],
            map_update_fail: v[2],
            filter_reject: v[3],
            filter_accept: v[4],
            filter_nomatch: v[5],
            dns_fail: v[6],
            drops_fail: v[7],
            rtt_fail: v[8],
            observed_full: v[9],
        })
    }

    /// Reads what the ring buffer holds and aggregates it by key until the next eviction (as
    /// upstream's accounter: summed, no dedup across interfaces). Returns the records read.
    /// Call it often (the ring holds about 7,700 records); [`FlowAgent::evict`] calls it too.
    pub fn drain_ringbuf(&mut self) -> usize {
        let mut n = 0;
        while let Some(item) = self.ringbuf.next() {
            n += 1;
            let Some(r) = crate::decode::flow_record(&item) else {
                tracing::warn!(len = item.len(), "ring-buffer record of an unexpected size");
                continue;
            };
            if !self.pending.contains_key(&r.key)
                && self.pending.len() >= self.options.max_flows as usize
            {
                // As upstream's accounter, at most the map's size in flows.
                self.ringbuf_dropped += 1;
                continue;
            }
            let entry = self.pending.entry(r.key).or_insert_with(|| (r.value, 0));
            if entry.1 > 0 {
                let v = &mut entry.0;
                v.start_ns = v.start_ns.min(r.value.start_ns);
                v.end_ns = v.end_ns.max(r.value.end_ns);
                v.bytes += r.value.bytes;
                v.packets += r.value.packets;
                v.flags |= r.value.flags;
                v.dscp = r.value.dscp;
            }
            entry.1 += 1;
        }
        n
    }

    /// Reads and deletes every entry of the flow map and the feature maps, merges them by key,
    /// adds the flows aggregated from the ring buffer, and returns them as [`Flow`]s. Uses the
    /// kernel's batch lookup-and-delete (5.6+); on a kernel without it, reads and deletes one
    /// entry at a time (a packet arriving between the two is lost). A map that fails part-way is
    /// reported in [`Eviction::errors`] with what was read from it in the flows.
    pub fn evict(&mut self) -> Result<Eviction> {
        let started = Instant::now();
        self.drain_ringbuf();
        let clock = Clock::now();
        let mut batched = self.batch_ok;
        // Whatever was drained is merged and returned even when a map fails: it is gone from
        // the kernel. The failures come back in `errors`.
        let mut errors = Vec::new();
        let main: Vec<(FlowKey, FlowValue)> = keep(
            &mut errors,
            drain(&mut self.flows, FLOWS, true, &mut batched),
        );
        let dns: Vec<(FlowKey, DnsRecord)> = if self.features.dns {
            keep(
                &mut errors,
                drain(&mut self.dns, DNS_RECORDS, false, &mut batched),
            )
        } else {
            Vec::new()
        };
        let drops: Vec<(FlowKey, DropRecord)> = if self.features.drops == Ok(true) {
            keep(
                &mut errors,
                drain(&mut self.drops, DROP_RECORDS, false, &mut batched),
            )
        } else {
            Vec::new()
        };
        let rtt: Vec<(FlowKey, RttRecord)> = if self.features.rtt == Ok(true) {
            keep(
                &mut errors,
                drain(&mut self.rtt, RTT_RECORDS, false, &mut batched),
            )
        } else {
            Vec::new()
        };
        self.batch_ok = batched;
        let duration = started.elapsed();

        let mut index: StdHashMap<FlowKey, usize> = StdHashMap::with_capacity(main.len());
        let mut flows = Vec::with_capacity(main.len() + self.pending.len());
        for (key, value) in &main {
            index.insert(*key, flows.len());
            flows.push(self.to_flow(key, value, &clock));
        }
        let feature_entries = [dns.len(), drops.len(), rtt.len()];
        // A feature record whose flow the map does not hold (a drop before TC saw the packet, a
        // DNS response evicted a moment before) is a flow of its own, as upstream's agent does.
        // Such a flow has no packet times of its own: it is stamped with the eviction's time.
        let now_ms = clock.wall_ms(clock.mono_ns as u64);
        let mut flow_for = |key: &FlowKey, flows: &mut Vec<Flow>| -> usize {
            *index.entry(*key).or_insert_with(|| {
                let mut f = key_only_flow(key);
                f.set_time_flow_start_ms(now_ms);
                f.set_time_flow_end_ms(now_ms);
                flows.push(f);
                flows.len() - 1
            })
        };
        for (key, d) in &dns {
            let i = flow_for(key, &mut flows);
            self.put_dns(&mut flows[i], d);
        }
        for (key, d) in &drops {
            let i = flow_for(key, &mut flows);
            self.put_drop(&mut flows[i], d);
        }
        for (key, r) in &rtt {
            let i = flow_for(key, &mut flows);
            if r.rtt_ns > 0 {
                flows[i].set_time_flow_rtt_ns(i64::try_from(r.rtt_ns).unwrap_or(i64::MAX));
            }
        }
        let pending = std::mem::take(&mut self.pending);
        let ringbuf_flows = pending.len();
        let mut ringbuf_records = 0;
        for (key, (value, records)) in &pending {
            ringbuf_records += records;
            flows.push(self.to_flow(key, value, &clock));
        }
        Ok(Eviction {
            flows,
            errors,
            ringbuf_dropped: std::mem::take(&mut self.ringbuf_dropped),
            map_flows: main.len(),
            ringbuf_flows,
            ringbuf_records,
            feature_entries,
            duration,
            batched,
        })
    }

    fn put_dns(&self, f: &mut Flow, d: &DnsRecord) {
        if d.errno != 0 {
            f.set_dns_errno(u32::from(d.errno));
        }
        if d.id == 0 {
            return;
        }
        f.set_dns_id(d.id);
        f.set_dns_flags(d.flags);
        f.set_dns_flags_response_code(intern(dns_rcode_name(u32::from(d.flags & 0xf))));
        f.set_dns_latency_ms(i64::try_from(d.latency_ns / 1_000_000).unwrap_or(i64::MAX));
        let name = crate::decode::dns_name(&d.name, usize::from(self.options.dns_name_len));
        if !name.is_empty() {
            f.set_dns_name(intern(&name));
        }
    }

    fn put_drop(&self, f: &mut Flow, d: &DropRecord) {
        f.set_pkt_drop_bytes(d.bytes);
        f.set_pkt_drop_packets(u64::from(d.packets));
        f.set_pkt_drop_latest_flags(d.latest_flags);
        f.set_pkt_drop_latest_state(intern(tcp_state_name(u32::from(d.latest_state))));
        let cause = match &self.drop_reasons {
            Some(names) => match names.get(&u64::from(d.latest_cause)) {
                Some(n) => intern(n),
                None => intern(drop_cause_name(d.latest_cause)),
            },
            None => intern(drop_cause_name(d.latest_cause)),
        };
        f.set_pkt_drop_latest_drop_cause(cause);
    }

    /// The name of interface `index`; when several interfaces (of different namespaces) have
    /// that index, the one whose MAC is `local_mac` (upstream's heuristic: the frame's source
    /// MAC on egress, its destination on ingress).
    fn interface_name(&self, index: u32, local_mac: [u8; 6]) -> Arc<str> {
        match self.names.get(&index).map(Vec::as_slice) {
            Some([(_, only)]) => only.clone(),
            Some(several @ [(_, first), ..]) => several
                .iter()
                .find(|(mac, _)| *mac == Some(local_mac))
                .map_or_else(|| first.clone(), |(_, n)| n.clone()),
            _ => intern(&index.to_string()),
        }
    }

    fn to_flow(&self, k: &FlowKey, v: &FlowValue, clock: &Clock) -> Flow {
        let mut f = key_only_flow(k);
        f.set_bytes(v.bytes);
        f.set_packets(u64::from(v.packets));
        f.set_time_flow_start_ms(clock.wall_ms(v.start_ns));
        f.set_time_flow_end_ms(clock.wall_ms(v.end_ns));
        f.set_src_mac(MacAddr(v.src_mac));
        f.set_dst_mac(MacAddr(v.dst_mac));
        f.set_flow_direction(v.direction);
        if v.sampling != 0 {
            f.set_sampling(v.sampling);
        }
        let n = usize::from(v.nb_observed).min(v.observed_if_index.len());
        let mut names = Vec::with_capacity(n + 1);
        let mut dirs = Vec::with_capacity(n + 1);
        let local = |direction: u8| {
            if direction == crate::types::DIRECTION_EGRESS {
                v.src_mac
            } else {
                v.dst_mac
            }
        };
        names.push(self.interface_name(v.if_index, local(v.direction)));
        dirs.push(v.direction);
        for i in 0..n {
            let d = v.observed_direction[i];
            names.push(self.interface_name(v.observed_if_index[i], local(d)));
            dirs.push(v.observed_direction[i]);
        }
        let udns = vec![intern(""); names.len()];
        f.set_interface_list(Arc::new(Interfaces::new(names, dirs, udns)));
        if k.eth_protocol == 0x0800 || k.eth_protocol == 0x86DD {
            f.set_dscp(v.dscp);
            if k.proto == 6 {
                f.set_flags(TcpFlags::raw(v.flags));
            }
        }
        f
    }
}

/// The fields a flow takes from its key alone.
fn key_only_flow(k: &FlowKey) -> Flow {
    let mut f = Flow::default();
    f.set_etype(k.eth_protocol);
    if k.eth_protocol == 0x0800 || k.eth_protocol == 0x86DD {
        f.set_src_addr(ip(k.src_ip));
        f.set_dst_addr(ip(k.dst_ip));
        f.set_proto(k.proto);
        match k.proto {
            1 | 58 => {
                f.set_icmp_type(k.icmp_type);
                f.set_icmp_code(k.icmp_code);
            }
            6 | 17 | 132 => {
                f.set_src_port(k.src_port);
                f.set_dst_port(k.dst_port);
            }
            _ => {}
        }
    }
    f
}

/// The entries of a drain, its error set aside.
fn keep<T>(errors: &mut Vec<Error>, (entries, error): (Vec<T>, Option<Error>)) -> Vec<T> {
    errors.extend(error);
    entries
}

/// Reads and deletes every entry of a hash map: batch lookup-and-delete when `batched` (and the
/// kernel has it; `batched` turns false when it does not), else a walk and per-key deletes.
/// Values with a spin lock (`locked`) are copied under it. An error comes with the entries read
/// before it: they are deleted from the kernel already.
fn drain<V: Pod + Default>(
    map: &mut Map,
    name: &'static str,
    locked: bool,
    batched: &mut bool,
) -> (Vec<(FlowKey, V)>, Option<Error>) {
    let map_err = |source| Error::Map { map: name, source };
    if *batched {
        let data = match map {
            Map::HashMap(d) | Map::LruHashMap(d) => d,
            _ => {
                return (
                    Vec::new(),
                    Some(map_err(aya::maps::MapError::InvalidName {
                        name: name.into(),
                    })),
                );
            }
        };
        let flags = if locked { batch::BPF_F_LOCK } else { 0 };
        match batch::lookup_and_delete::<FlowKey, V>(data.fd(), flags) {
            (entries, None) => return (entries, None),
            (entries, Some(e)) if entries.is_empty() && batch::unsupported(&e) => {
                tracing::info!(map = name, error = %e, "batch lookup-and-delete unavailable, evicting one entry at a time");
                *batched = false;
            }
            (entries, Some(source)) => {
                return (entries, Some(Error::Batch { map: name, source }));
            }
        }
    }
    let mut typed: HashMap<&mut MapData, FlowKey, V> = match HashMap::try_from(map) {
        Ok(t) => t,
        Err(source) => return (Vec::new(), Some(map_err(source))),
    };
    let mut entries = Vec::new();
    let mut error = None;
    for item in typed.iter() {
        match item {
            Ok(kv) => entries.push(kv),
            // The entry was deleted between the key walk and the lookup.
            Err(aya::maps::MapError::KeyNotFound) => {}
            Err(source) => {
                error = Some(map_err(source));
                break;
            }
        }
    }
    for (key, _) in &entries {
        match typed.remove(key) {
            Ok(()) | Err(aya::maps::MapError::KeyNotFound) => {}
            Err(source) => {
                error.get_or_insert(map_err(source));
            }
        }
    }
    (entries, error)
}

fn page_size() -> u32 {
    u32::try_from(rustix::param::page_size()).unwrap_or(4096)
}

fn classifier<'a>(ebpf: &'a mut Ebpf, name: &'static str) -> Result<&'a mut SchedClassifier> {
    let prog = ebpf.program_mut(name).ok_or(Error::Program {
        program: name,
        source: ProgramError::UnexpectedProgramType,
    })?;
    prog.try_into().map_err(|source| Error::Program {
        program: name,
        source,
    })
}

fn tracepoint(ebpf: &mut Ebpf, name: &'static str, point: &str, btf: &Btf) -> Result<(), String> {
    let prog: &mut BtfTracePoint = ebpf
        .program_mut(name)
        .ok_or_else(|| format!("program {name} missing from the object"))?
        .try_into()
        .map_err(|e: ProgramError| e.to_string())?;
    prog.load(point, btf).map_err(|e| error_chain(&e))?;
    prog.attach().map_err(|e| error_chain(&e))?;
    Ok(())
}

/// An error and its causes, `: `-separated.
pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

fn if_index(interface: &str) -> Result<u32> {
    let err = |e: rustix::io::Errno| Error::Interface {
        interface: interface.into(),
        source: e.into(),
    };
    let sock = rustix::net::socket(
        rustix::net::AddressFamily::INET,
        rustix::net::SocketType::DGRAM,
        None,
    )
    .map_err(err)?;
    rustix::net::netdevice::name_to_index(&sock, interface).map_err(err)
}

/// An address as the kernel stores it: IPv4-mapped IPv6 back to IPv4.
fn ip(b: [u8; 16]) -> IpAddr {
    let v6 = Ipv6Addr::from(b);
    match v6.to_ipv4_mapped() {
        Some(v4) => IpAddr::V4(v4),
        None => IpAddr::V6(v6),
    }
}

/// How [`FlowAgent::attached`] names an attachment: `interface` in the agent's own namespace,
/// `netns/interface` in a named one.
pub fn attachment_name(netns: Option<&str>, interface: &str) -> String {
    match netns {
        Some(ns) => format!("{ns}/{interface}"),
        None => interface.to_string(),
    }
}

/// The offset between the kernel's monotonic clock and wall-clock time, read once per eviction.
struct Clock {
    mono_ns: i128,
    real_ns: i128,
}

impl Clock {
    fn now() -> Self {
        let ns = |t: rustix::time::Timespec| {
            i128::from(t.tv_sec) * 1_000_000_000 + i128::from(t.tv_nsec)
        };
        Clock {
            mono_ns: ns(clock_gettime(ClockId::Monotonic)),
            real_ns: ns(clock_gettime(ClockId::Realtime)),
        }
    }

    fn wall_ms(&self, mono: u64) -> i64 {
        let real = self.real_ns - (self.mono_ns - i128::from(mono));
        i64::try_from(real / 1_000_000).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv4_mapped_addresses_come_back_as_ipv4() {
        let mut b = [0u8; 16];
        b[10] = 0xff;
        b[11] = 0xff;
        b[12..].copy_from_slice(&[10, 1, 2, 3]);
        assert_eq!(
            ip(b),
            "10.1.2.3".parse::<IpAddr>().unwrap_or(IpAddr::V4(0.into()))
        );
        let v6: Ipv6Addr = "fd00::1".parse().unwrap_or(Ipv6Addr::UNSPECIFIED);
        assert_eq!(ip(v6.octets()), IpAddr::V6(v6));
    }

    #[test]
    fn a_refused_tracepoint_turns_its_feature_off_and_the_agent_runs() {
        // Needs root, as the kernel tests (CI runs as root).
        let mut builder = FlowAgentBuilder::default()
            .with_rtt(true)
            .with_pkt_drops(true);
        builder.rtt_tracepoint = "no_such_tracepoint";
        let mut agent = match builder.load() {
            Ok(a) => a,
            Err(e) => panic!("loading: {}", error_chain(&e)),
        };
        let f = agent.features().clone();
        assert!(
            matches!(&f.rtt, Err(why) if why.contains("no_such_tracepoint")),
            "{f:?}"
        );
        assert_eq!(f.drops, Ok(true), "the other feature still runs");
        assert!(agent.evict().is_ok());
    }

    #[test]
    fn monotonic_time_maps_to_wall_clock() {
        let c = Clock {
            mono_ns: 5_000_000_000,
            real_ns: 1_700_000_000_000_000_000,
        };
        assert_eq!(c.wall_ms(4_000_000_000), 1_699_999_999_000);
    }
}
