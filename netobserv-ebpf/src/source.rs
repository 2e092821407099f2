//! The agent as a pipeline source: stage type `ebpf`, so a flowlogs-pipeline config can start
//! with it.
//!
//! ```yaml
//! pipeline:
//!   - name: agent
//!   - name: out
//!     follows: agent
//! parameters:
//!   - name: agent
//!     ingest:
//!       type: ebpf
//!       ebpf:
//!         cacheActiveTimeout: 5s
//!         sampling: 50
//!         excludeInterfaces: [lo, "/^cali/"]
//!         enableDnsTracking: true
//!   - name: out
//!     write: {type: stdout, stdout: {format: json}}
//! ```
//!
//! The agent runs on a thread of its own, in the network namespace the stage was built in: it
//! attaches to every interface the filter allows (and to those that appear later, as netlink
//! reports them or the poll period finds them; those that vanish are forgotten), drains the ring
//! buffer every 100 ms, and every `cacheActiveTimeout` evicts the maps and sends the flows
//! downstream. On shutdown it evicts once more, sends, and detaches from every interface.

use std::net::IpAddr;
use std::os::fd::OwnedFd;
use std::sync::Arc;
use std::time::{Duration, Instant};

use netobserv_flow::config::{GoDuration, StageKind};
use netobserv_flow::pipeline::{
    BuildContext, Component, FlowBatch, Shutdown, Source, SourceContext, StageRegistry,
};
use prometheus::{Gauge, GaugeVec, Histogram, HistogramOpts, IntCounterVec, Opts, Registry};
use serde::{Deserialize, Serialize};

use crate::filter::{self, FlowFilterRule};
use crate::interfaces::{self, DEFAULT_EXCLUDE, InterfaceFilter, LinkEvents};
use crate::loader::{
    AttachMode, Counters, DEFAULT_DNS_NAME_LEN, DEFAULT_MAX_FLOWS, Direction, FlowAgent,
    FlowAgentBuilder, TcAttachMode, attachment_name,
};

/// An interface's index and name.
type Interface = (u32, String);

/// The stage type.
pub const TYPE: &str = "ebpf";

/// `ingest: {type: ebpf, ebpf: {...}}`: the agent's settings, named after upstream's
/// environment variables in camelCase (`CACHE_MAX_FLOWS` is `cacheMaxFlows`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct EbpfSettings {
    /// Flow map size (default 5000).
    #[serde(default)]
    pub cache_max_flows: Option<u32>,
    /// How often the maps are evicted (default `5s`).
    #[serde(default)]
    pub cache_active_timeout: Option<GoDuration>,
    /// One packet in N (0 or 1: all).
    #[serde(default)]
    pub sampling: Option<u32>,
    /// Interfaces to attach to (exact names or `/regex/`); empty: all.
    #[serde(default)]
    pub interfaces: Vec<String>,
    /// Interfaces never attached to (default `[lo]`).
    #[serde(default)]
    pub exclude_interfaces: Option<Vec<String>>,
    /// `ingress`, `egress` or `both` (default).
    #[serde(default)]
    pub direction: Option<String>,
    /// `tcx`, `tc` or `any` (default: TCX, then clsact).
    #[serde(default)]
    pub tc_attach_mode: Option<String>,
    /// DNS tracking.
    #[serde(default)]
    pub enable_dns_tracking: bool,
    /// DNS port besides 53 (default 53).
    #[serde(default)]
    pub dns_tracking_port: Option<u16>,
    /// Wire bytes of a DNS name kept, at most 64 (default 31, as upstream).
    #[serde(default)]
    pub dns_name_max_length: Option<u8>,
    /// Packet drops (`kfree_skb` tracepoint).
    #[serde(default)]
    pub enable_pkt_drops: bool,
    /// TCP RTT (`tcp_probe` tracepoint).
    #[serde(default)]
    pub enable_rtt: bool,
    /// Filter rules, upstream's `FLOW_FILTER_RULES` objects.
    #[serde(default)]
    pub flow_filter_rules: Vec<FlowFilterRule>,
    /// The ring-buffer fallback when the flow map is full (default off, as upstream's
    /// `ENABLE_FLOWS_RINGBUF_FALLBACK`).
    #[serde(default)]
    pub enable_flows_ringbuf_fallback: Option<bool>,
    /// `AgentIP` written on every flow.
    #[serde(default)]
    pub agent_ip: Option<IpAddr>,
    /// `watch` (netlink, the default) or `poll`.
    #[serde(default)]
    pub listen_interfaces: Option<String>,
    /// Rescan period in poll mode (default `10s`; watch mode also rescans every 10 s).
    #[serde(default)]
    pub listen_poll_period: Option<GoDuration>,
    /// Named network namespaces (`/run/netns`, as `ip netns` makes them) whose interfaces are
    /// attached too: names or `/regex/`; `["/.*/"]` is every one, as upstream's agent always
    /// does. Empty (the default): the agent's own namespace only. Namespaces are rescanned with
    /// the interfaces.
    #[serde(default)]
    pub netns: Vec<String>,
}

/// A settings value that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// A bad interface pattern.
    #[error(transparent)]
    Interfaces(#[from] interfaces::PatternError),
    /// A bad filter rule.
    #[error(transparent)]
    Filter(#[from] filter::FilterError),
    /// Another bad value.
    #[error("{key}: {message}")]
    Value {
        /// The setting.
        key: &'static str,
        /// What is wrong.
        message: String,
    },
}

impl EbpfSettings {
    /// The loader options these settings ask for.
    pub fn builder(&self) -> Result<FlowAgentBuilder, SettingsError> {
        let direction = match self.direction.as_deref() {
            None | Some("") | Some("both") => Direction::Both,
            Some("ingress") => Direction::Ingress,
            Some("egress") => Direction::Egress,
            Some(other) => {
                return Err(SettingsError::Value {
                    key: "direction",
                    message: format!("{other:?}: expected ingress, egress or both"),
                });
            }
        };
        let mode = match self.tc_attach_mode.as_deref() {
            None | Some("") | Some("any") => TcAttachMode::Any,
            Some("tcx") => TcAttachMode::Tcx,
            Some("tc") => TcAttachMode::Tc,
            Some(other) => {
                return Err(SettingsError::Value {
                    key: "tcAttachMode",
                    message: format!("{other:?}: expected tcx, tc or any"),
                });
            }
        };
        let kernel_filter = filter::compile(&self.flow_filter_rules)?;
        Ok(FlowAgentBuilder::default()
            .with_max_flows(self.cache_max_flows.unwrap_or(DEFAULT_MAX_FLOWS))
            .with_sampling(self.sampling.unwrap_or(0))
            .with_filter(kernel_filter)
            .with_dns_tracking(
                self.enable_dns_tracking
                    .then_some(self.dns_tracking_port.unwrap_or(53)),
            )
            .with_dns_name_len(self.dns_name_max_length.unwrap_or(DEFAULT_DNS_NAME_LEN))
            .with_pkt_drops(self.enable_pkt_drops)
            .with_rtt(self.enable_rtt)
            .with_ringbuf_fallback(self.enable_flows_ringbuf_fallback.unwrap_or(false))
            .with_direction(direction)
            .with_attach_mode(mode))
    }

    /// The interface filter.
    pub fn interface_filter(&self) -> Result<InterfaceFilter, SettingsError> {
        let deny: Vec<String> = match &self.exclude_interfaces {
            Some(v) => v.clone(),
            None => DEFAULT_EXCLUDE.iter().map(|s| s.to_string()).collect(),
        };
        Ok(InterfaceFilter::new(&self.interfaces, &deny)?)
    }

    /// The namespace filter, or none when no namespace is watched.
    fn netns_filter(&self) -> Result<Option<InterfaceFilter>, SettingsError> {
        if self.netns.iter().all(|s| s.trim().is_empty()) {
            return Ok(None);
        }
        Ok(Some(InterfaceFilter::new(&self.netns, &[]).map_err(
            |e| SettingsError::Value {
                key: "netns",
                message: e.to_string().replacen("INTERFACES", "netns", 1),
            },
        )?))
    }

    fn poll_mode(&self) -> Result<bool, SettingsError> {
        match self.listen_interfaces.as_deref() {
            None | Some("") | Some("watch") => Ok(false),
            Some("poll") => Ok(true),
            Some(other) => Err(SettingsError::Value {
                key: "listenInterfaces",
                message: format!("{other:?}: expected watch or poll"),
            }),
        }
    }
}

/// The agent's metrics, upstream's names under a prefix (upstream's default `ebpf_agent_`).
#[derive(Clone)]
pub struct AgentMetrics {
    evictions: IntCounterVec,
    evicted_flows: IntCounterVec,
    evicted_packets: IntCounterVec,
    dropped_flows: IntCounterVec,
    filtered_flows: IntCounterVec,
    lookup_and_delete: Histogram,
    buffer_size: GaugeVec,
    errors: IntCounterVec,
    sampling: Gauge,
    interface_events: IntCounterVec,
}

impl AgentMetrics {
    /// Creates the metrics and registers them in `registry`.
    pub fn new(prefix: &str, registry: &Registry) -> prometheus::Result<Self> {
        let counter = |name: &str, help: &str, labels: &[&str]| {
            IntCounterVec::new(Opts::new(format!("{prefix}{name}"), help), labels)
        };
        let m = AgentMetrics {
            evictions: counter(
                "evictions_total",
                "Number of times the flows were evicted",
                &["source", "reason"],
            )?,
            evicted_flows: counter(
                "evicted_flows_total",
                "Number of flows evicted",
                &["source", "reason"],
            )?,
            evicted_packets: counter(
                "evicted_packets_total",
                "Number of packets evicted through the ring buffer",
                &["source", "reason"],
            )?,
            dropped_flows: counter(
                "dropped_flows_total",
                "Number of flows (packets) dropped",
                &["source", "reason"],
            )?,
            filtered_flows: counter(
                "filtered_flows_total",
                "Number of packets filtered by the flow filter rules",
                &["source", "reason"],
            )?,
            lookup_and_delete: Histogram::with_opts(
                HistogramOpts::new(
                    format!("{prefix}lookup_and_delete_map_duration_seconds"),
                    "How long reading and deleting the maps took",
                )
                .buckets(vec![0.001, 0.01, 0.1, 1.0, 10.0, 100.0, 1000.0, 10000.0]),
            )?,
            buffer_size: GaugeVec::new(
                Opts::new(format!("{prefix}buffer_size"), "Size of internal buffers"),
                &["name"],
            )?,
            errors: counter(
                "errors_total",
                "Errors by component",
                &["component", "error", "severity"],
            )?,
            sampling: Gauge::new(format!("{prefix}sampling_rate"), "Sampling rate")?,
            interface_events: counter(
                "interface_events_total",
                "Interfaces attached and detached",
                &["type", "ifname", "ifindex", "netns", "mac", "retries"],
            )?,
        };
        registry.register(Box::new(m.evictions.clone()))?;
        registry.register(Box::new(m.evicted_flows.clone()))?;
        registry.register(Box::new(m.evicted_packets.clone()))?;
        registry.register(Box::new(m.dropped_flows.clone()))?;
        registry.register(Box::new(m.filtered_flows.clone()))?;
        registry.register(Box::new(m.lookup_and_delete.clone()))?;
        registry.register(Box::new(m.buffer_size.clone()))?;
        registry.register(Box::new(m.errors.clone()))?;
        registry.register(Box::new(m.sampling.clone()))?;
        registry.register(Box::new(m.interface_events.clone()))?;
        Ok(m)
    }

    /// Sets the counters that mirror the kernel's (which count from load) to their totals.
    fn kernel_counters(&self, now: &Counters, before: &Counters) {
        let add = |c: &IntCounterVec, labels: &[&str], now: u64, before: u64| {
            if now > before {
                c.with_label_values(labels).inc_by(now - before);
            }
        };
        let fetcher = "flow-fetcher";
        add(
            &self.dropped_flows,
            &[fetcher, "CannotCreateFlowsHashMap"],
            now.ringbuf_full,
            before.ringbuf_full,
        );
        add(
            &self.dropped_flows,
            &[fetcher, "CannotUpdateFlowsHashMap"],
            now.map_update_fail,
            before.map_update_fail,
        );
        add(
            &self.dropped_flows,
            &[fetcher, "CannotUpdateDNSHashMap"],
            now.dns_fail,
            before.dns_fail,
        );
        add(
            &self.dropped_flows,
            &[fetcher, "CannotUpdateDropsHashMap"],
            now.drops_fail,
            before.drops_fail,
        );
        add(
            &self.dropped_flows,
            &[fetcher, "CannotUpdateRTTHashMap"],
            now.rtt_fail,
            before.rtt_fail,
        );
        let filtering = "flow-filtering";
        add(
            &self.filtered_flows,
            &[filtering, "FilterReject"],
            now.filter_reject,
            before.filter_reject,
        );
        add(
            &self.filtered_flows,
            &[filtering, "FilterAccept"],
            now.filter_accept,
            before.filter_accept,
        );
        add(
            &self.filtered_flows,
            &[filtering, "FilterNoMatch"],
            now.filter_nomatch,
            before.filter_nomatch,
        );
        add(
            &self.errors,
            &[fetcher, "MaxObservedInterfacesReached", "low"],
            now.observed_full,
            before.observed_full,
        );
        add(
            &self.evicted_packets,
            &["ringbuffer", "map full"],
            now.ringbuf_fallback,
            before.ringbuf_fallback,
        );
    }

    fn interface_event(&self, kind: &str) {
        self.interface_events
            .with_label_values(&[kind, "", "", "", "", ""])
            .inc();
    }
}

/// The `ebpf` source: the loaded agent and what it attaches to.
pub struct EbpfSource {
    agent: FlowAgent,
    filter: InterfaceFilter,
    netns_filter: Option<InterfaceFilter>,
    period: Duration,
    rescan: Duration,
    poll_only: bool,
    agent_ip: Option<IpAddr>,
    metrics: AgentMetrics,
    netns: Option<OwnedFd>,
    first_attach_error: Option<String>,
}

impl EbpfSource {
    /// Loads the agent (the programs, the maps, the features) in the calling thread's network
    /// namespace, where it will attach and run.
    pub fn new(settings: &EbpfSettings, metrics: AgentMetrics) -> crate::Result<Self> {
        let invalid = |e: SettingsError| crate::Error::Settings(e.to_string());
        let builder = settings.builder().map_err(invalid)?;
        let filter = settings.interface_filter().map_err(invalid)?;
        let poll_only = settings.poll_mode().map_err(invalid)?;
        let netns_filter = settings.netns_filter().map_err(invalid)?;
        let agent = builder.load()?;
        metrics
            .sampling
            .set(f64::from(settings.sampling.unwrap_or(0)));
        let netns = rustix::fs::open(
            "/proc/thread-self/ns/net",
            rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::CLOEXEC,
            rustix::fs::Mode::empty(),
        )
        .ok();
        Ok(EbpfSource {
            agent,
            filter,
            netns_filter,
            period: settings
                .cache_active_timeout
                .map_or(Duration::from_secs(5), |d| d.0),
            rescan: settings
                .listen_poll_period
                .map_or(Duration::from_secs(10), |d| d.0),
            poll_only,
            agent_ip: settings.agent_ip,
            metrics,
            netns,
            first_attach_error: None,
        })
    }

    /// The loaded agent (features, counters).
    pub fn agent(&self) -> &FlowAgent {
        &self.agent
    }

    /// Attaches to every allowed interface not attached yet (in the agent's namespace and the
    /// watched ones) and forgets those that vanished; returns the attachments made now.
    fn rescan(&mut self) -> Vec<String> {
        // (namespace, interfaces present there)
        let mut present: Vec<(Option<String>, Vec<Interface>)> = Vec::new();
        match interfaces::list() {
            Ok(v) => present.push((None, v)),
            Err(error) => {
                tracing::warn!(%error, "cannot list interfaces");
                return Vec::new();
            }
        }
        if let Some(nsf) = &self.netns_filter {
            for ns in interfaces::namespaces() {
                if !nsf.allows(&ns) {
                    continue;
                }
                match interfaces::in_netns(&ns, interfaces::list) {
                    Ok(Ok(v)) => present.push((Some(ns), v)),
                    Ok(Err(error)) | Err(error) => {
                        tracing::debug!(%error, netns = %ns, "cannot list the namespace's interfaces")
                    }
                }
            }
        }
        let key = |ns: &Option<String>, name: &str| attachment_name(ns.as_deref(), name);
        // Gone, or made again under the same name (another index: its programs went with the
        // old one).
        for a in self.agent.attached() {
            let still = present.iter().any(|(ns, list)| {
                list.iter()
                    .any(|(i, n)| key(ns, n) == a.name && *i == a.if_index)
            });
            if !still {
                self.agent.detach(&a.name);
                self.metrics.interface_event("detach_tcx");
                tracing::info!(interface = %a.name, "interface gone, forgotten");
            }
        }
        let attached = self.agent.attached();
        let mut added = Vec::new();
        for (ns, list) in &present {
            for (_, name) in list {
                let k = key(ns, name);
                if !self.filter.allows(name) || attached.iter().any(|a| a.name == k) {
                    continue;
                }
                match self.agent.attach_in(ns.as_deref(), name) {
                    Ok(mode) => {
                        let kind = match mode {
                            AttachMode::Tcx => "attach_tcx",
                            AttachMode::Clsact => "attach_tc",
                        };
                        self.metrics.interface_event(kind);
                        tracing::info!(interface = %k, ?mode, "attached");
                        added.push(k);
                    }
                    Err(error) => {
                        if self.first_attach_error.is_none() {
                            self.first_attach_error =
                                Some(format!("{k}: {}", crate::loader::error_chain(&error)));
                        }
                        self.metrics.interface_event("attach_fail");
                        self.metrics
                            .errors
                            .with_label_values(&["InterfaceEvents", "Attach:CantAttach", "low"])
                            .inc();
                        tracing::warn!(%error, interface = %k, "cannot attach");
                    }
                }
            }
        }
        added
    }

    /// Evicts and returns the flows, with the metrics of the eviction.
    fn evict(&mut self, counters_before: &mut Counters) -> Vec<netobserv_flow::Flow> {
        let ev = match self.agent.evict() {
            Ok(ev) => ev,
            Err(error) => {
                self.metrics
                    .errors
                    .with_label_values(&["flow-fetcher", "CannotDeleteFlows", "high"])
                    .inc();
                tracing::warn!(%error, "eviction failed");
                return Vec::new();
            }
        };
        let m = &self.metrics;
        for error in &ev.errors {
            m.errors
                .with_label_values(&["flow-fetcher", "CannotDeleteFlows", "high"])
                .inc();
            tracing::warn!(%error, "eviction failed part-way; what was read goes on");
        }
        if ev.ringbuf_dropped > 0 {
            m.dropped_flows
                .with_label_values(&["accounter", "full"])
                .inc_by(ev.ringbuf_dropped);
        }
        m.evictions.with_label_values(&["hashmap", ""]).inc();
        m.evicted_flows
            .with_label_values(&["hashmap", ""])
            .inc_by(ev.map_flows as u64);
        if ev.ringbuf_flows > 0 {
            m.evictions
                .with_label_values(&["accounter", "timeout"])
                .inc();
            m.evicted_flows
                .with_label_values(&["accounter", "timeout"])
                .inc_by(ev.ringbuf_flows as u64);
        }
        m.lookup_and_delete.observe(ev.duration.as_secs_f64());
        m.buffer_size
            .with_label_values(&["flowmap"])
            .set(ev.map_flows as f64);
        for (name, n) in ["dnsmap", "pktdropsmap", "additionalmap"]
            .iter()
            .zip(ev.feature_entries)
        {
            m.buffer_size.with_label_values(&[name]).set(n as f64);
        }
        m.buffer_size
            .with_label_values(&["accounter-entries"])
            .set(ev.ringbuf_flows as f64);
        if let Ok(now) = self.agent.counters() {
            m.kernel_counters(&now, counters_before);
            *counters_before = now;
        }
        let mut flows = ev.flows;
        if let Some(ip) = self.agent_ip {
            for f in &mut flows {
                f.set_agent_ip(ip);
            }
        }
        flows
    }

    /// The agent's loop, on its own thread: rescans, drains, evicts and sends until shutdown.
    fn run_blocking(
        mut self,
        out: netobserv_flow::pipeline::Output,
        shutdown: Shutdown,
        handle: tokio::runtime::Handle,
    ) -> netobserv_flow::Result<()> {
        if let Some(fd) = &self.netns
            && let Err(error) = rustix::thread::move_into_link_name_space(
                std::os::fd::AsFd::as_fd(fd),
                Some(rustix::thread::LinkNameSpaceType::Network),
            )
        {
            tracing::warn!(%error, "cannot enter the agent's network namespace");
        }
        let events = if self.poll_only {
            None
        } else {
            match LinkEvents::open() {
                Ok(e) => Some(e),
                Err(error) => {
                    tracing::warn!(%error, "no netlink link events; polling interfaces instead");
                    None
                }
            }
        };
        let attached = self.rescan();
        if attached.is_empty() {
            if let Some(error) = self.first_attach_error.take() {
                // Interfaces were there to attach to and the kernel refused every one: this
                // kernel cannot run the agent as configured (no TCX with tcAttachMode tcx, no
                // clsact, no permission).
                return Err(netobserv_flow::Error::Stage {
                    stage: "ebpf".into(),
                    source: format!("no interface could be attached: {error}").into(),
                });
            }
            tracing::warn!("no interface to attach to yet");
        }
        let mut counters = Counters::default();
        let mut next_evict = Instant::now() + self.period;
        let mut next_rescan = Instant::now() + self.rescan;
        let tick = Duration::from_millis(100);
        loop {
            let changed = match &events {
                Some(e) => e.wait(tick),
                None => {
                    std::thread::sleep(tick);
                    false
                }
            };
            if changed || Instant::now() >= next_rescan {
                self.rescan();
                next_rescan = Instant::now() + self.rescan;
            }
            self.agent.drain_ringbuf();
            let stopping = shutdown.is_triggered();
            if stopping || Instant::now() >= next_evict {
                next_evict = Instant::now() + self.period;
                let flows = self.evict(&mut counters);
                if !flows.is_empty() && handle.block_on(out.send(FlowBatch::new(flows))).is_err() {
                    tracing::info!("downstream closed; the agent stops");
                    break;
                }
            }
            if stopping {
                break;
            }
        }
        for a in self.agent.attached() {
            self.agent.detach(&a.name);
        }
        Ok(())
    }
}

#[async_trait::async_trait]
impl Source for EbpfSource {
    async fn run(self: Box<Self>, cx: SourceContext) -> netobserv_flow::Result<()> {
        let handle = tokio::runtime::Handle::current();
        let (tx, rx) = tokio::sync::oneshot::channel();
        let source = *self;
        // A thread of its own (not the blocking pool): it enters the agent's network namespace.
        let spawned = std::thread::Builder::new()
            .name("ebpf-agent".into())
            .spawn(move || {
                let _ = tx.send(source.run_blocking(cx.out, cx.shutdown, handle));
            });
        if let Err(e) = spawned {
            return Err(netobserv_flow::Error::Io {
                path: None,
                source: e,
            });
        }
        rx.await.unwrap_or_else(|_| {
            Err(netobserv_flow::Error::Stage {
                stage: "ebpf".into(),
                source: "the agent thread panicked".into(),
            })
        })
    }
}

/// Registers the `ebpf` ingest type; its flows' agent metrics go to `metrics`.
pub fn register(registry: &mut StageRegistry, metrics: AgentMetrics) {
    let metrics = Arc::new(metrics);
    registry.register(
        StageKind::Ingest,
        TYPE,
        move |cx: &mut BuildContext<'_>| -> netobserv_flow::Result<Component> {
            let settings: EbpfSettings = cx.settings()?.unwrap_or_default();
            let source = match EbpfSource::new(&settings, (*metrics).clone()) {
                Ok(s) => s,
                Err(e @ crate::Error::Settings(_)) => return Err(cx.config_error(e)),
                Err(e) => {
                    return Err(netobserv_flow::Error::Stage {
                        stage: cx.stage().to_string(),
                        source: Box::new(e),
                    });
                }
            };
            let f = source.agent().features();
            tracing::info!(
                dns = f.dns,
                drops = ?f.drops,
                rtt = ?f.rtt,
                filter_rules = f.filter_rules,
                ringbuf = f.ringbuf,
                "eBPF agent loaded"
            );
            Ok(Component::source(source))
        },
    );
}
