//! The agent's environment variables: upstream netobserv-ebpf-agent v1.12's names, formats and
//! defaults (`pkg/config/config.go`, read with caarlos0/env).
//!
//! As upstream: an empty value is the default when the variable has one; booleans are Go's
//! `strconv.ParseBool`; integers are decimal and in the range of upstream's Go type; durations are
//! Go's (`5s`, `1m30s`); lists are comma-separated. A value that does not parse is an error naming
//! the variable and the format it expects. Variables upstream reads that this build does not
//! implement are listed in [`UNSUPPORTED`] and give one warning each when set to something other
//! than their default.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::Duration;

use netobserv_flow::config::GoDuration;
use serde_json::{Value as Json, json};
use tracing::level_filters::LevelFilter;

/// A variable whose value cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{var}={value:?}: {message}")]
pub struct EnvError {
    /// The variable.
    pub var: &'static str,
    /// Its value.
    pub value: String,
    /// What is wrong and what is expected.
    pub message: String,
}

/// `EXPORT`: where the agent sends its flows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Export {
    /// `grpc` (upstream's default).
    Grpc,
    /// `kafka`.
    Kafka,
    /// `ipfix+udp`.
    IpfixUdp,
    /// `ipfix+tcp`.
    IpfixTcp,
    /// `direct-flp`: an in-process flowlogs-pipeline (`FLP_CONFIG`).
    DirectFlp,
}

impl Export {
    /// Upstream's names, in its order.
    pub const NAMES: &[&str] = &["grpc", "kafka", "ipfix+udp", "ipfix+tcp", "direct-flp"];

    /// The value as written in `EXPORT`.
    pub fn name(self) -> &'static str {
        match self {
            Export::Grpc => "grpc",
            Export::Kafka => "kafka",
            Export::IpfixUdp => "ipfix+udp",
            Export::IpfixTcp => "ipfix+tcp",
            Export::DirectFlp => "direct-flp",
        }
    }
}

/// `AGENT_IP_IFACE`: where the agent's own address is taken from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AgentIpIface {
    /// The local address of the route to the internet (`external`, the default).
    External,
    /// The first suitable address of any interface (`local`).
    Local,
    /// The first suitable address of this interface (`name:<iface>`).
    Name(String),
}

/// `AGENT_IP_TYPE`: which address family the agent's address is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AgentIpType {
    /// IPv4 when there is one, else IPv6 (`any`, the default).
    Any,
    /// `ipv4`.
    Ipv4,
    /// `ipv6`.
    Ipv6,
}

/// The agent's configuration, as read from the environment.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentEnv {
    /// `EXPORT` (default `grpc`).
    pub export: Export,
    /// `TARGET_HOST` (or the deprecated `FLOWS_TARGET_HOST`).
    pub target_host: String,
    /// `TARGET_PORT` (or the deprecated `FLOWS_TARGET_PORT`, `PCA_SERVER_PORT`).
    pub target_port: u16,
    /// `CACHE_MAX_FLOWS` (default 5000).
    pub cache_max_flows: u32,
    /// `CACHE_ACTIVE_TIMEOUT` (default 5s).
    pub cache_active_timeout: Duration,
    /// `SAMPLING` (default 0: every packet).
    pub sampling: u32,
    /// `INTERFACES`: allow list, exact names or `/regex/` (default: all).
    pub interfaces: Vec<String>,
    /// `EXCLUDE_INTERFACES`: deny list (default `lo`).
    pub exclude_interfaces: Vec<String>,
    /// `DIRECTION`: `ingress`, `egress` or `both` (default; also what an unknown value means).
    pub direction: &'static str,
    /// `TC_ATTACH_MODE`: `tcx` (default), `tc`, anything else `any`.
    pub tc_attach_mode: &'static str,
    /// `AGENT_IP`.
    pub agent_ip: Option<IpAddr>,
    /// `AGENT_IP_IFACE` (default `external`).
    pub agent_ip_iface: AgentIpIface,
    /// `AGENT_IP_TYPE` (default `any`).
    pub agent_ip_type: AgentIpType,
    /// `ENABLE_DNS_TRACKING`.
    pub enable_dns_tracking: bool,
    /// `DNS_TRACKING_PORT` (default 53; 0 is 53).
    pub dns_tracking_port: u16,
    /// `ENABLE_PKT_DROPS`.
    pub enable_pkt_drops: bool,
    /// `ENABLE_RTT`.
    pub enable_rtt: bool,
    /// `FLOW_FILTER_RULES`, checked, as the JSON array given (empty: no rules).
    pub flow_filter_rules: Vec<Json>,
    /// `ENABLE_FLOWS_RINGBUF_FALLBACK` (default false).
    pub enable_flows_ringbuf_fallback: bool,
    /// `LISTEN_INTERFACES`: `watch` (default; also what an unknown value means) or `poll`.
    pub listen_interfaces: &'static str,
    /// `LISTEN_POLL_PERIOD` (default 10s).
    pub listen_poll_period: Duration,
    /// `NETNS_WATCH` (netobserv-rs; upstream has no such variable and always watches every
    /// namespace): the named namespaces under /run/netns whose interfaces are attached too, as
    /// names or `/regex/`; default `/.*/` (all, as upstream); `none`: only the agent's own.
    pub netns_watch: Vec<String>,
    /// `METRICS_ENABLE` (default false).
    pub metrics_enable: bool,
    /// `METRICS_SERVER_ADDRESS` (default empty: every address).
    pub metrics_server_address: String,
    /// `METRICS_SERVER_PORT` (default 9090; 0 is 9090).
    pub metrics_server_port: u16,
    /// `METRICS_PREFIX` (default `ebpf_agent_`).
    pub metrics_prefix: String,
    /// `LOG_LEVEL` (default info; an unknown level is info, with a warning).
    pub log_level: LevelFilter,
    /// `LOG_LEVEL` is `debug` or `trace`.
    pub log_debug: bool,
    /// `FLP_CONFIG`: the flowlogs-pipeline config of `direct-flp`, YAML or JSON.
    pub flp_config: String,
    /// `GRPC_MESSAGE_MAX_FLOWS` (default 10000): flows per gRPC message at most.
    pub grpc_message_max_flows: usize,
    /// `EXPORT=kafka`'s producer: `KAFKA_BROKERS` (required then), `KAFKA_TOPIC`
    /// (`network-flows`), `KAFKA_BATCH_MESSAGES` (1000), `KAFKA_BATCH_SIZE` (1 MiB),
    /// `KAFKA_COMPRESSION` (`none`), `KAFKA_ENABLE_TLS` / `KAFKA_TLS_*`, `KAFKA_ENABLE_SASL` /
    /// `KAFKA_SASL_*`.
    pub kafka: KafkaEnv,
    /// `TARGET_TLS_CA_CERT_PATH`: TLS to the collector when set.
    pub target_tls_ca_cert_path: String,
    /// `TARGET_TLS_USER_CERT_PATH`: mutual TLS with the key below.
    pub target_tls_user_cert_path: String,
    /// `TARGET_TLS_USER_KEY_PATH`.
    pub target_tls_user_key_path: String,
}

/// The default of a variable this build does not implement: a value equal to it is not warned
/// about.
#[derive(Debug, Clone, Copy)]
pub enum Unset {
    /// A boolean (Go `ParseBool`).
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A Go duration.
    Duration(Duration),
    /// A string, compared as is.
    Text(&'static str),
}

/// Variables upstream v1.12 reads (and a few older versions read) that this build does not
/// implement, with their defaults.
pub const UNSUPPORTED: &[(&str, Unset)] = &[
    ("INTERFACE_IPS", Unset::Text("")),
    ("BUFFERS_LENGTH", Unset::Int(50)),
    ("EXPORTER_BUFFER_LENGTH", Unset::Int(0)),
    ("TC_ATTACH_RETRIES", Unset::Int(4)),
    ("TCX_ATTACH_ANCHOR_INGRESS", Unset::Text("none")),
    ("TCX_ATTACH_ANCHOR_EGRESS", Unset::Text("none")),
    ("GRPC_RECONNECT_TIMER", Unset::Duration(Duration::ZERO)),
    (
        "GRPC_RECONNECT_TIMER_RANDOMIZATION",
        Unset::Duration(Duration::ZERO),
    ),
    // Always asynchronous here: delivery reports resolve the acknowledgements.
    ("KAFKA_ASYNC", Unset::Bool(true)),
    ("PPROF_ADDR", Unset::Text("")),
    ("FORCE_GARBAGE_COLLECTION", Unset::Bool(true)),
    (
        "STALE_ENTRIES_EVICT_TIMEOUT",
        Unset::Duration(Duration::from_secs(5)),
    ),
    ("ENABLE_PCA", Unset::Bool(false)),
    ("METRICS_LEVEL", Unset::Text("info")),
    ("METRICS_TLS_CERT_PATH", Unset::Text("")),
    ("METRICS_TLS_KEY_PATH", Unset::Text("")),
    ("ENABLE_NETWORK_EVENTS_MONITORING", Unset::Bool(false)),
    ("NETWORK_EVENTS_MONITORING_GROUP_ID", Unset::Int(10)),
    ("ENABLE_PKT_TRANSLATION", Unset::Bool(false)),
    ("EBPF_PROGRAM_MANAGER_MODE", Unset::Bool(false)),
    ("BPFMAN_BPF_FS_PATH", Unset::Text("/run/netobserv/maps")),
    ("ENABLE_UDN_MAPPING", Unset::Bool(false)),
    ("ENABLE_IPSEC_TRACKING", Unset::Bool(false)),
    ("PREFERRED_INTERFACE_FOR_MAC_PREFIX", Unset::Text("")),
    ("ENABLE_OPENSSL_TRACKING", Unset::Bool(false)),
    ("OPENSSL_PATH", Unset::Text("/usr/bin/openssl")),
    ("ENABLE_TLS_TRACKING", Unset::Bool(false)),
    ("QUIC_TRACKING_MODE", Unset::Int(0)),
    // Removed upstream before v1.12; an operator may still set them.
    ("DEDUPER", Unset::Text("none")),
    ("DEDUPER_FC_EXPIRY", Unset::Text("")),
    ("DEDUPER_JUST_MARK", Unset::Bool(false)),
    ("DEDUPER_MERGE", Unset::Bool(false)),
    ("ENABLE_FLOW_FILTER", Unset::Bool(false)),
    ("PCA_FILTER", Unset::Text("")),
    ("PROFILE_PORT", Unset::Int(0)),
];

/// Prefixes of upstream's variable families: a variable under one of them that is neither read
/// nor in [`UNSUPPORTED`] (an older single-rule `FILTER_*` variable, say) is warned about too.
const UNSUPPORTED_PREFIXES: &[&str] = &[
    "DEDUPER",
    "KAFKA_",
    "GRPC_",
    "TARGET_TLS_",
    "METRICS_TLS_",
    "TCX_ATTACH_ANCHOR_",
    "FLOW_FILTER_",
    "FILTER_",
];

/// The variables this build reads.
const READ: &[&str] = &[
    "EXPORT",
    "KAFKA_BROKERS",
    "KAFKA_TOPIC",
    "KAFKA_BATCH_MESSAGES",
    "KAFKA_BATCH_SIZE",
    "KAFKA_COMPRESSION",
    "KAFKA_ENABLE_TLS",
    "KAFKA_TLS_INSECURE_SKIP_VERIFY",
    "KAFKA_TLS_CA_CERT_PATH",
    "KAFKA_TLS_USER_CERT_PATH",
    "KAFKA_TLS_USER_KEY_PATH",
    "KAFKA_ENABLE_SASL",
    "KAFKA_SASL_TYPE",
    "KAFKA_SASL_CLIENT_ID_PATH",
    "KAFKA_SASL_CLIENT_SECRET_PATH",
    "TARGET_HOST",
    "TARGET_PORT",
    "FLOWS_TARGET_HOST",
    "FLOWS_TARGET_PORT",
    "PCA_SERVER_PORT",
    "CACHE_MAX_FLOWS",
    "CACHE_ACTIVE_TIMEOUT",
    "SAMPLING",
    "INTERFACES",
    "EXCLUDE_INTERFACES",
    "DIRECTION",
    "TC_ATTACH_MODE",
    "AGENT_IP",
    "AGENT_IP_IFACE",
    "AGENT_IP_TYPE",
    "ENABLE_DNS_TRACKING",
    "DNS_TRACKING_PORT",
    "ENABLE_PKT_DROPS",
    "ENABLE_RTT",
    "FLOW_FILTER_RULES",
    "ENABLE_FLOWS_RINGBUF_FALLBACK",
    "LISTEN_INTERFACES",
    "LISTEN_POLL_PERIOD",
    "NETNS_WATCH",
    "METRICS_ENABLE",
    "METRICS_SERVER_ADDRESS",
    "METRICS_SERVER_PORT",
    "METRICS_PREFIX",
    "LOG_LEVEL",
    "FLP_CONFIG",
    "GRPC_MESSAGE_MAX_FLOWS",
    "TARGET_TLS_CA_CERT_PATH",
    "TARGET_TLS_USER_CERT_PATH",
    "TARGET_TLS_USER_KEY_PATH",
];

/// Go's `strconv.ParseBool`.
fn parse_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// Logrus's level names, case-insensitive; fatal and panic, which tracing does not have, are
/// error.
fn parse_level(s: &str) -> Option<LevelFilter> {
    match s.to_ascii_lowercase().as_str() {
        "trace" => Some(LevelFilter::TRACE),
        "debug" => Some(LevelFilter::DEBUG),
        "info" => Some(LevelFilter::INFO),
        "warning" | "warn" => Some(LevelFilter::WARN),
        "error" | "fatal" | "panic" => Some(LevelFilter::ERROR),
        _ => None,
    }
}

/// The environment being read: the variables, and the warnings reading them gave.
struct Reader<'a> {
    vars: &'a BTreeMap<String, String>,
    warnings: Vec<String>,
}

impl Reader<'_> {
    /// The value, `None` when unset or empty (upstream's "empty is the default").
    fn get(&self, var: &str) -> Option<&str> {
        self.vars
            .get(var)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    fn err(var: &'static str, value: &str, message: impl Into<String>) -> EnvError {
        EnvError {
            var,
            value: value.to_string(),
            message: message.into(),
        }
    }

    fn string(&self, var: &'static str, default: &str) -> String {
        self.get(var).unwrap_or(default).to_string()
    }

    fn bool(&self, var: &'static str, default: bool) -> Result<bool, EnvError> {
        match self.get(var) {
            None => Ok(default),
            Some(v) => parse_bool(v).ok_or_else(|| {
                Self::err(
                    var,
                    v,
                    "expected a boolean (true, false, 1, 0, t, f, TRUE, FALSE, True, False)",
                )
            }),
        }
    }

    /// A non-negative integer that fits both upstream's Go type (at most `max`) and ours.
    fn uint<T: TryFrom<u64>>(
        &self,
        var: &'static str,
        default: T,
        max: u64,
    ) -> Result<T, EnvError> {
        let Some(v) = self.get(var) else {
            return Ok(default);
        };
        v.parse::<u64>()
            .ok()
            .filter(|n| *n <= max)
            .and_then(|n| T::try_from(n).ok())
            .ok_or_else(|| {
                Self::err(
                    var,
                    v,
                    format!("expected a non-negative decimal integer, at most {max}"),
                )
            })
    }

    fn duration(&self, var: &'static str, default: Duration) -> Result<Duration, EnvError> {
        match self.get(var) {
            None => Ok(default),
            Some(v) => GoDuration::parse(v)
                .map(|d| d.0)
                .map_err(|e| Self::err(var, v, format!("expected a Go duration: {e}"))),
        }
    }

    /// A comma list, split as upstream does (entries are trimmed by the interface filter).
    fn list(&self, var: &'static str, default: &[&str]) -> Vec<String> {
        match self.get(var) {
            None => default.iter().map(|s| s.to_string()).collect(),
            Some(v) => v.split(',').map(str::to_string).collect(),
        }
    }

    /// One of `choices`; anything else is `fallback`, with a warning (upstream's behaviour for
    /// DIRECTION and LISTEN_INTERFACES).
    fn choice(
        &mut self,
        var: &'static str,
        choices: &[&'static str],
        fallback: &'static str,
    ) -> &'static str {
        let Some(v) = self.get(var) else {
            return fallback;
        };
        match choices.iter().find(|c| **c == v) {
            Some(c) => c,
            None => {
                let msg = format!(
                    "{var}={v:?} is not one of {}; using {fallback}",
                    choices.join(", ")
                );
                self.warnings.push(msg);
                fallback
            }
        }
    }
}

impl AgentEnv {
    /// Reads the process environment; also returns the warnings to log once logging is set up.
    /// A variable that is not valid UTF-8 is an error when this build reads it, and skipped
    /// otherwise.
    pub fn from_process() -> Result<(AgentEnv, Vec<String>), EnvError> {
        let mut vars = BTreeMap::new();
        for (k, v) in std::env::vars_os() {
            let Ok(k) = k.into_string() else { continue };
            match v.into_string() {
                Ok(v) => {
                    vars.insert(k, v);
                }
                Err(v) => {
                    if let Some(var) = READ.iter().find(|r| **r == k) {
                        return Err(Reader::err(var, &v.to_string_lossy(), "not valid UTF-8"));
                    }
                }
            }
        }
        Self::from_vars(&vars)
    }

    /// Reads `vars`, the environment as a map; also returns the warnings.
    pub fn from_vars(vars: &BTreeMap<String, String>) -> Result<(AgentEnv, Vec<String>), EnvError> {
        let mut r = Reader {
            vars,
            warnings: Vec::new(),
        };
        let export = match r.get("EXPORT") {
            None => Export::Grpc,
            Some(v) => match Export::NAMES.iter().position(|n| *n == v) {
                Some(0) => Export::Grpc,
                Some(1) => Export::Kafka,
                Some(2) => Export::IpfixUdp,
                Some(3) => Export::IpfixTcp,
                Some(_) => Export::DirectFlp,
                None => {
                    return Err(Reader::err(
                        "EXPORT",
                        v,
                        format!(
                            "wrong flow export type (expected one of: {})",
                            Export::NAMES.join(", ")
                        ),
                    ));
                }
            },
        };
        // Deprecated aliases win when set, as upstream's ManageDeprecatedConfigs does.
        let mut target_host = r.string("TARGET_HOST", "");
        if let Some(h) = r.get("FLOWS_TARGET_HOST") {
            target_host = h.to_string();
        }
        let mut target_port: u16 = r
            .uint("TARGET_PORT", 0, i32::MAX as u64)
            .and_then(|p: u32| port("TARGET_PORT", vars, p))?;
        for alias in ["FLOWS_TARGET_PORT", "PCA_SERVER_PORT"] {
            let p: u16 = r
                .uint(alias, 0u32, i32::MAX as u64)
                .and_then(|p| port(alias, vars, p))?;
            if p != 0 {
                target_port = p;
                break;
            }
        }
        let cache_max_flows: u32 = r.uint("CACHE_MAX_FLOWS", 5000, i32::MAX as u64)?;
        if cache_max_flows == 0 {
            return Err(Reader::err(
                "CACHE_MAX_FLOWS",
                "0",
                "expected a positive number of flows",
            ));
        }
        let cache_active_timeout = r.duration("CACHE_ACTIVE_TIMEOUT", Duration::from_secs(5))?;
        if cache_active_timeout.is_zero() {
            return Err(Reader::err(
                "CACHE_ACTIVE_TIMEOUT",
                r.get("CACHE_ACTIVE_TIMEOUT").unwrap_or_default(),
                "expected a positive Go duration (5s, 500ms)",
            ));
        }
        let sampling = r.uint("SAMPLING", 0, i32::MAX as u64)?;
        let interfaces = r.list("INTERFACES", &[]);
        let exclude_interfaces = r.list(
            "EXCLUDE_INTERFACES",
            netobserv_ebpf::interfaces::DEFAULT_EXCLUDE,
        );
        netobserv_ebpf::interfaces::InterfaceFilter::new(&interfaces, &exclude_interfaces)
            .map_err(|e| {
                let var = e.list;
                Reader::err(var, r.get(var).unwrap_or_default(), e.to_string())
            })?;
        let direction = r.choice("DIRECTION", &["ingress", "egress", "both"], "both");
        let tc_attach_mode = match r.get("TC_ATTACH_MODE") {
            None | Some("tcx") => "tcx",
            Some("tc") => "tc",
            Some(_) => "any",
        };
        let agent_ip = match r.get("AGENT_IP") {
            None => None,
            Some(v) => Some(v.parse::<IpAddr>().map_err(|_| {
                Reader::err(
                    "AGENT_IP",
                    v,
                    "can't parse provided IP (expected an IPv4 or IPv6 address)",
                )
            })?),
        };
        let agent_ip_iface = match r.get("AGENT_IP_IFACE") {
            None | Some("external") => AgentIpIface::External,
            Some("local") => AgentIpIface::Local,
            Some(v) => match v.strip_prefix("name:") {
                Some(name) if !name.is_empty() => AgentIpIface::Name(name.to_string()),
                _ => {
                    return Err(Reader::err(
                        "AGENT_IP_IFACE",
                        v,
                        "invalid IP interface (valid values are: local, external or name:<iface_name>)",
                    ));
                }
            },
        };
        let agent_ip_type = match r.get("AGENT_IP_TYPE") {
            None | Some("any") => AgentIpType::Any,
            Some("ipv4") => AgentIpType::Ipv4,
            Some("ipv6") => AgentIpType::Ipv6,
            Some(v) => {
                return Err(Reader::err(
                    "AGENT_IP_TYPE",
                    v,
                    "invalid IP type (valid values are: any, ipv4 or ipv6)",
                ));
            }
        };
        let enable_dns_tracking = r.bool("ENABLE_DNS_TRACKING", false)?;
        let dns_tracking_port = match r.uint("DNS_TRACKING_PORT", 53u16, u64::from(u16::MAX))? {
            0 => 53,
            p => p,
        };
        let enable_pkt_drops = r.bool("ENABLE_PKT_DROPS", false)?;
        let enable_rtt = r.bool("ENABLE_RTT", false)?;
        let flow_filter_rules = match r.get("FLOW_FILTER_RULES") {
            None => Vec::new(),
            Some(v) => filter_rules(v)?,
        };
        let enable_flows_ringbuf_fallback = r.bool("ENABLE_FLOWS_RINGBUF_FALLBACK", false)?;
        let listen_interfaces = r.choice("LISTEN_INTERFACES", &["watch", "poll"], "watch");
        let listen_poll_period = r.duration("LISTEN_POLL_PERIOD", Duration::from_secs(10))?;
        if listen_poll_period.is_zero() {
            return Err(Reader::err(
                "LISTEN_POLL_PERIOD",
                r.get("LISTEN_POLL_PERIOD").unwrap_or_default(),
                "expected a positive Go duration (10s, 1m)",
            ));
        }
        let netns_watch = match r.get("NETNS_WATCH").map(str::trim) {
            Some("none") => Vec::new(),
            _ => r.list("NETNS_WATCH", &["/.*/"]),
        };
        netobserv_ebpf::interfaces::InterfaceFilter::new(&netns_watch, &[]).map_err(|e| {
            Reader::err(
                "NETNS_WATCH",
                r.get("NETNS_WATCH").unwrap_or_default(),
                e.source.to_string(),
            )
        })?;
        let metrics_enable = r.bool("METRICS_ENABLE", false)?;
        let metrics_server_address = r.string("METRICS_SERVER_ADDRESS", "");
        let metrics_server_port = match r
            .uint("METRICS_SERVER_PORT", 9090u32, i32::MAX as u64)
            .and_then(|p| port("METRICS_SERVER_PORT", vars, p))?
        {
            0 => 9090,
            p => p,
        };
        let metrics_prefix = r.string("METRICS_PREFIX", "ebpf_agent_");
        let level_text = r.string("LOG_LEVEL", "info");
        let log_level = parse_level(&level_text).unwrap_or_else(|| {
            r.warnings.push(format!(
                "LOG_LEVEL={level_text:?} is not a level (expected one of: panic, fatal, error, warn, warning, info, debug, trace); assuming 'info' logger level as default"
            ));
            LevelFilter::INFO
        });
        let log_debug = matches!(level_text.as_str(), "debug" | "trace");
        let flp_config = r.string("FLP_CONFIG", "");
        let grpc_message_max_flows: usize =
            r.uint("GRPC_MESSAGE_MAX_FLOWS", 10_000usize, i32::MAX as u64)?;
        if grpc_message_max_flows == 0 {
            return Err(Reader::err(
                "GRPC_MESSAGE_MAX_FLOWS",
                "0",
                "must be at least 1".to_string(),
            ));
        }
        let path =
            |r: &Reader<'_>, var: &'static str| Some(r.string(var, "")).filter(|p| !p.is_empty());
        let kafka = KafkaEnv {
            brokers: r
                .list("KAFKA_BROKERS", &[])
                .into_iter()
                .map(|b| b.trim().to_string())
                .filter(|b| !b.is_empty())
                .collect(),
            topic: r.string("KAFKA_TOPIC", "network-flows"),
            batch_messages: r.uint("KAFKA_BATCH_MESSAGES", 1000usize, i32::MAX as u64)?,
            batch_bytes: r.uint("KAFKA_BATCH_SIZE", 1_048_576usize, i32::MAX as u64)?,
            compression: r.string("KAFKA_COMPRESSION", "none"),
            tls: r
                .bool("KAFKA_ENABLE_TLS", false)?
                .then(|| netobserv_flow::config::ClientTls {
                    insecure_skip_verify: Some(false),
                    ca_cert_path: path(&r, "KAFKA_TLS_CA_CERT_PATH"),
                    user_cert_path: path(&r, "KAFKA_TLS_USER_CERT_PATH"),
                    user_key_path: path(&r, "KAFKA_TLS_USER_KEY_PATH"),
                }),
            sasl: r
                .bool("KAFKA_ENABLE_SASL", false)?
                .then(|| netobserv_flow::config::Sasl {
                    r#type: Some(r.string("KAFKA_SASL_TYPE", "plain")),
                    client_id_path: path(&r, "KAFKA_SASL_CLIENT_ID_PATH"),
                    client_secret_path: path(&r, "KAFKA_SASL_CLIENT_SECRET_PATH"),
                }),
        };
        let skip_verify = r.bool("KAFKA_TLS_INSECURE_SKIP_VERIFY", false)?;
        let kafka = KafkaEnv {
            tls: kafka.tls.map(|mut t| {
                t.insecure_skip_verify = Some(skip_verify);
                t
            }),
            ..kafka
        };
        let target_tls_ca_cert_path = r.string("TARGET_TLS_CA_CERT_PATH", "");
        let target_tls_user_cert_path = r.string("TARGET_TLS_USER_CERT_PATH", "");
        let target_tls_user_key_path = r.string("TARGET_TLS_USER_KEY_PATH", "");
        r.warnings.extend(unsupported(vars));
        Ok((
            AgentEnv {
                export,
                target_host,
                target_port,
                cache_max_flows,
                cache_active_timeout,
                sampling,
                interfaces,
                exclude_interfaces,
                direction,
                tc_attach_mode,
                agent_ip,
                agent_ip_iface,
                agent_ip_type,
                enable_dns_tracking,
                dns_tracking_port,
                enable_pkt_drops,
                enable_rtt,
                flow_filter_rules,
                enable_flows_ringbuf_fallback,
                listen_interfaces,
                listen_poll_period,
                netns_watch,
                metrics_enable,
                metrics_server_address,
                metrics_server_port,
                metrics_prefix,
                log_level,
                log_debug,
                flp_config,
                grpc_message_max_flows,
                kafka,
                target_tls_ca_cert_path,
                target_tls_user_cert_path,
                target_tls_user_key_path,
            },
            r.warnings,
        ))
    }

    /// The settings of the `ebpf` stage (`netobserv_ebpf::source::EbpfSettings`, camelCase),
    /// with `agent_ip` as the address written on every flow.
    pub fn ebpf_settings(&self, agent_ip: IpAddr) -> Json {
        json!({
            "cacheMaxFlows": self.cache_max_flows,
            "cacheActiveTimeout": go_duration(self.cache_active_timeout),
            "sampling": self.sampling,
            "interfaces": self.interfaces,
            "excludeInterfaces": self.exclude_interfaces,
            "direction": self.direction,
            "tcAttachMode": self.tc_attach_mode,
            "enableDnsTracking": self.enable_dns_tracking,
            "dnsTrackingPort": self.dns_tracking_port,
            "enablePktDrops": self.enable_pkt_drops,
            "enableRtt": self.enable_rtt,
            "flowFilterRules": self.flow_filter_rules,
            "enableFlowsRingbufFallback": self.enable_flows_ringbuf_fallback,
            "agentIp": agent_ip.to_string(),
            "listenInterfaces": self.listen_interfaces,
            "listenPollPeriod": go_duration(self.listen_poll_period),
            "netns": self.netns_watch,
        })
    }
}

/// The agent's Kafka producer settings.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct KafkaEnv {
    /// `KAFKA_BROKERS`.
    pub brokers: Vec<String>,
    /// `KAFKA_TOPIC`.
    pub topic: String,
    /// `KAFKA_BATCH_MESSAGES`.
    pub batch_messages: usize,
    /// `KAFKA_BATCH_SIZE`.
    pub batch_bytes: usize,
    /// `KAFKA_COMPRESSION`.
    pub compression: String,
    /// `KAFKA_ENABLE_TLS` and its paths.
    pub tls: Option<netobserv_flow::config::ClientTls>,
    /// `KAFKA_ENABLE_SASL` and its settings.
    pub sasl: Option<netobserv_flow::config::Sasl>,
}

/// A port read as upstream's Go `int`: anything above 65535 is refused here.
fn port(var: &'static str, vars: &BTreeMap<String, String>, p: u32) -> Result<u16, EnvError> {
    u16::try_from(p).map_err(|_| {
        Reader::err(
            var,
            vars.get(var).map(String::as_str).unwrap_or_default(),
            "expected a port, 0 to 65535",
        )
    })
}

/// `FLOW_FILTER_RULES`: parsed and compiled as the kernel will get them, so a bad rule stops the
/// agent at start; kept as the JSON given.
fn filter_rules(v: &str) -> Result<Vec<Json>, EnvError> {
    let bad = |message: String| Reader::err("FLOW_FILTER_RULES", v, message);
    let rules = netobserv_ebpf::filter::parse_rules(v).map_err(|e| bad(e.to_string()))?;
    netobserv_ebpf::filter::compile(&rules).map_err(|e| bad(e.to_string()))?;
    match serde_json::from_str(v) {
        Ok(Json::Array(rules)) => Ok(rules),
        Ok(_) => Err(bad("expected a JSON array of rules".into())),
        Err(e) => Err(bad(format!("invalid JSON: {e}"))),
    }
}

/// A duration in the notation [`GoDuration::parse`] reads back.
fn go_duration(d: Duration) -> String {
    format!("{}ns", d.as_nanos())
}

/// One warning for each variable this build does not implement that is set to something other
/// than its default.
fn unsupported(vars: &BTreeMap<String, String>) -> Vec<String> {
    let mut out = Vec::new();
    for (name, value) in vars {
        if value.is_empty() {
            continue;
        }
        let listed = UNSUPPORTED.iter().find(|(n, _)| n == name);
        let warn = match listed {
            Some((_, default)) => !is_default(value, *default),
            None => {
                !READ.contains(&name.as_str())
                    && UNSUPPORTED_PREFIXES.iter().any(|p| name.starts_with(p))
            }
        };
        if warn {
            out.push(format!(
                "{name}={value:?}: not supported by this build, ignored"
            ));
        }
    }
    out
}

fn is_default(value: &str, default: Unset) -> bool {
    match default {
        Unset::Bool(b) => parse_bool(value) == Some(b),
        Unset::Int(n) => value.parse::<i64>() == Ok(n),
        Unset::Duration(d) => GoDuration::parse(value).is_ok_and(|v| v.0 == d),
        Unset::Text(t) => value == t,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn read(pairs: &[(&str, &str)]) -> Result<(AgentEnv, Vec<String>), EnvError> {
        let vars = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        AgentEnv::from_vars(&vars)
    }

    fn env(pairs: &[(&str, &str)]) -> AgentEnv {
        read(pairs).unwrap().0
    }

    fn error(pairs: &[(&str, &str)]) -> String {
        read(pairs).unwrap_err().to_string()
    }

    #[test]
    fn defaults_are_upstreams() {
        let (e, warnings) = read(&[]).unwrap();
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(e.export, Export::Grpc);
        assert_eq!(e.cache_max_flows, 5000);
        assert_eq!(e.cache_active_timeout, Duration::from_secs(5));
        assert_eq!(e.sampling, 0);
        assert!(e.interfaces.is_empty());
        assert_eq!(e.exclude_interfaces, ["lo"]);
        assert_eq!(e.direction, "both");
        assert_eq!(e.tc_attach_mode, "tcx");
        assert_eq!(e.agent_ip, None);
        assert_eq!(e.agent_ip_iface, AgentIpIface::External);
        assert_eq!(e.agent_ip_type, AgentIpType::Any);
        assert!(!e.enable_dns_tracking && !e.enable_pkt_drops && !e.enable_rtt);
        assert_eq!(e.dns_tracking_port, 53);
        assert!(e.flow_filter_rules.is_empty());
        assert!(!e.enable_flows_ringbuf_fallback);
        assert_eq!(e.listen_interfaces, "watch");
        assert_eq!(e.listen_poll_period, Duration::from_secs(10));
        assert_eq!(
            e.netns_watch,
            vec!["/.*/".to_string()],
            "every namespace, as upstream"
        );
        assert!(!e.metrics_enable);
        assert_eq!(e.metrics_server_address, "");
        assert_eq!(e.metrics_server_port, 9090);
        assert_eq!(e.metrics_prefix, "ebpf_agent_");
        assert_eq!(e.log_level, LevelFilter::INFO);
        assert_eq!(e.flp_config, "");
    }

    #[test]
    fn empty_is_the_default() {
        let e = env(&[
            ("EXPORT", ""),
            ("CACHE_MAX_FLOWS", ""),
            ("CACHE_ACTIVE_TIMEOUT", ""),
            ("EXCLUDE_INTERFACES", ""),
            ("DIRECTION", ""),
            ("METRICS_PREFIX", ""),
            ("METRICS_SERVER_PORT", ""),
            ("ENABLE_RTT", ""),
            ("LOG_LEVEL", ""),
        ]);
        assert_eq!(e, env(&[]));
    }

    #[test]
    fn values_are_read_in_upstreams_formats() {
        let e = env(&[
            ("EXPORT", "direct-flp"),
            ("CACHE_MAX_FLOWS", "100"),
            ("CACHE_ACTIVE_TIMEOUT", "1m30s"),
            ("SAMPLING", "50"),
            ("INTERFACES", "eth0, /^veth/"),
            ("EXCLUDE_INTERFACES", "lo,/^cali/"),
            ("DIRECTION", "egress"),
            ("TC_ATTACH_MODE", "any"),
            ("AGENT_IP", "fd00::7"),
            ("AGENT_IP_IFACE", "name:eth1"),
            ("AGENT_IP_TYPE", "ipv6"),
            ("ENABLE_DNS_TRACKING", "T"),
            ("DNS_TRACKING_PORT", "0"),
            ("ENABLE_PKT_DROPS", "1"),
            ("ENABLE_RTT", "True"),
            ("ENABLE_FLOWS_RINGBUF_FALLBACK", "true"),
            ("LISTEN_INTERFACES", "poll"),
            ("LISTEN_POLL_PERIOD", "300ms"),
            ("METRICS_ENABLE", "TRUE"),
            ("METRICS_SERVER_ADDRESS", "127.0.0.1"),
            ("METRICS_SERVER_PORT", "0"),
            ("LOG_LEVEL", "DEBUG"),
        ]);
        assert_eq!(e.export, Export::DirectFlp);
        assert_eq!(e.cache_max_flows, 100);
        assert_eq!(e.cache_active_timeout, Duration::from_secs(90));
        assert_eq!(e.sampling, 50);
        assert_eq!(e.interfaces, ["eth0", " /^veth/"]);
        assert_eq!(e.exclude_interfaces, ["lo", "/^cali/"]);
        assert_eq!(e.direction, "egress");
        assert_eq!(e.tc_attach_mode, "any");
        assert_eq!(e.agent_ip, Some("fd00::7".parse().unwrap()));
        assert_eq!(e.agent_ip_iface, AgentIpIface::Name("eth1".into()));
        assert_eq!(e.agent_ip_type, AgentIpType::Ipv6);
        assert!(e.enable_dns_tracking && e.enable_pkt_drops && e.enable_rtt);
        assert_eq!(e.dns_tracking_port, 53, "0 is 53, as upstream");
        assert!(e.enable_flows_ringbuf_fallback);
        assert_eq!(e.listen_interfaces, "poll");
        assert_eq!(e.listen_poll_period, Duration::from_millis(300));
        assert!(e.metrics_enable);
        assert_eq!(e.metrics_server_port, 9090, "0 is 9090, as upstream");
        assert_eq!(e.log_level, LevelFilter::DEBUG);
        assert!(
            !e.log_debug,
            "bpf tracing needs the lowercase name, as upstream"
        );
        assert_eq!(env(&[("TC_ATTACH_MODE", "tc")]).tc_attach_mode, "tc");
        assert_eq!(env(&[("TC_ATTACH_MODE", "bogus")]).tc_attach_mode, "any");
    }

    #[test]
    fn bad_values_name_the_variable_and_the_format() {
        let e = error(&[("ENABLE_RTT", "yes")]);
        assert!(
            e.starts_with("ENABLE_RTT=\"yes\": expected a boolean"),
            "{e}"
        );
        let e = error(&[("CACHE_ACTIVE_TIMEOUT", "5")]);
        assert!(
            e.starts_with("CACHE_ACTIVE_TIMEOUT=\"5\": expected a Go duration"),
            "{e}"
        );
        let e = error(&[("CACHE_MAX_FLOWS", "lots")]);
        assert!(
            e.starts_with("CACHE_MAX_FLOWS=\"lots\": expected a non-negative decimal integer"),
            "{e}"
        );
        let e = error(&[("CACHE_MAX_FLOWS", "4294967296")]);
        assert!(e.contains("at most 2147483647"), "{e}");
        let e = error(&[("SAMPLING", "-1")]);
        assert!(e.starts_with("SAMPLING=\"-1\""), "{e}");
        let e = error(&[("DNS_TRACKING_PORT", "65536")]);
        assert!(e.starts_with("DNS_TRACKING_PORT=\"65536\""), "{e}");
        let e = error(&[("METRICS_SERVER_PORT", "70000")]);
        assert!(e.contains("expected a port"), "{e}");
        let e = error(&[("AGENT_IP", "10.0.0")]);
        assert!(
            e.starts_with("AGENT_IP=\"10.0.0\": can't parse provided IP"),
            "{e}"
        );
        let e = error(&[("AGENT_IP_IFACE", "eth0")]);
        assert!(e.contains("local, external or name:<iface_name>"), "{e}");
        let e = error(&[("AGENT_IP_TYPE", "IPv4")]);
        assert!(e.contains("any, ipv4 or ipv6"), "{e}");
        let e = error(&[("EXPORT", "http")]);
        assert_eq!(
            e,
            "EXPORT=\"http\": wrong flow export type (expected one of: grpc, kafka, ipfix+udp, ipfix+tcp, direct-flp)"
        );
    }

    #[test]
    fn interface_lists_take_regexes_and_check_them() {
        let e = env(&[("INTERFACES", "/^eth[0-9]+$/,br0")]);
        let f =
            netobserv_ebpf::interfaces::InterfaceFilter::new(&e.interfaces, &e.exclude_interfaces)
                .unwrap();
        assert!(f.allows("eth12") && f.allows("br0"));
        assert!(!f.allows("lo") && !f.allows("veth1"));
        let e = error(&[("EXCLUDE_INTERFACES", "lo,/(/")]);
        assert!(
            e.starts_with(
                "EXCLUDE_INTERFACES=\"lo,/(/\": EXCLUDE_INTERFACES: wrong interface regexp"
            ),
            "{e}"
        );
    }

    #[test]
    fn unknown_direction_and_listener_warn_and_fall_back() {
        let (e, warnings) =
            read(&[("DIRECTION", "Ingress"), ("LISTEN_INTERFACES", "netlink")]).unwrap();
        assert_eq!(e.direction, "both");
        assert_eq!(e.listen_interfaces, "watch");
        assert_eq!(
            warnings,
            [
                "DIRECTION=\"Ingress\" is not one of ingress, egress, both; using both",
                "LISTEN_INTERFACES=\"netlink\" is not one of watch, poll; using watch",
            ]
        );
        let (e, warnings) = read(&[("LOG_LEVEL", "verbose")]).unwrap();
        assert_eq!(e.log_level, LevelFilter::INFO);
        assert!(warnings[0].contains("assuming 'info'"), "{warnings:?}");
    }

    #[test]
    fn filter_rules_are_checked_and_kept() {
        let e = env(&[(
            "FLOW_FILTER_RULES",
            r#"[{"ip_cidr":"10.0.0.0/8","action":"Accept","protocol":"TCP","destination_port_range":"80-100"}]"#,
        )]);
        assert_eq!(e.flow_filter_rules.len(), 1);
        assert_eq!(e.flow_filter_rules[0]["protocol"], "TCP");
        let e = error(&[("FLOW_FILTER_RULES", "[{")]);
        assert!(
            e.starts_with("FLOW_FILTER_RULES=\"[{\": FLOW_FILTER_RULES: invalid JSON"),
            "{e}"
        );
        let e = error(&[("FLOW_FILTER_RULES", r#"[{"ip_cidr":"10.0.0.0/33"}]"#)]);
        assert!(e.contains("FLOW_FILTER_RULES[0]"), "{e}");
    }

    #[test]
    fn unsupported_variables_warn_once_when_not_default() {
        let (_, warnings) = read(&[
            ("ENABLE_PCA", "false"),
            ("KAFKA_TOPIC", "network-flows"),
            ("TC_ATTACH_RETRIES", "4"),
            ("STALE_ENTRIES_EVICT_TIMEOUT", "5000ms"),
            ("DEDUPER", "none"),
            ("INTERFACE_IPS", ""),
            ("UNRELATED", "x"),
        ])
        .unwrap();
        assert!(warnings.is_empty(), "{warnings:?}");
        let (_, warnings) = read(&[
            ("ENABLE_PKT_TRANSLATION", "true"),
            ("DEDUPER", "firstCome"),
            ("DEDUPER_NEW", "1"),
            ("KAFKA_ASYNC", "false"),
            ("QUIC_TRACKING_MODE", "1"),
            ("PPROF_ADDR", "127.0.0.1:6060"),
            ("FILTER_IP_CIDR", "10.0.0.0/8"),
        ])
        .unwrap();
        assert_eq!(
            warnings,
            [
                "DEDUPER=\"firstCome\": not supported by this build, ignored",
                "DEDUPER_NEW=\"1\": not supported by this build, ignored",
                "ENABLE_PKT_TRANSLATION=\"true\": not supported by this build, ignored",
                "FILTER_IP_CIDR=\"10.0.0.0/8\": not supported by this build, ignored",
                "KAFKA_ASYNC=\"false\": not supported by this build, ignored",
                "PPROF_ADDR=\"127.0.0.1:6060\": not supported by this build, ignored",
                "QUIC_TRACKING_MODE=\"1\": not supported by this build, ignored",
            ]
        );
    }

    #[test]
    fn settings_are_what_the_ebpf_stage_reads() {
        let e = env(&[
            ("CACHE_ACTIVE_TIMEOUT", "1s"),
            (
                "FLOW_FILTER_RULES",
                r#"[{"ip_cidr":"0.0.0.0/0","action":"Accept"}]"#,
            ),
            ("INTERFACES", "/^nv/"),
        ]);
        let v = e.ebpf_settings("10.1.2.3".parse().unwrap());
        let s: netobserv_ebpf::source::EbpfSettings = serde_json::from_value(v).unwrap();
        assert_eq!(s.cache_max_flows, Some(5000));
        assert_eq!(
            s.cache_active_timeout.map(|d| d.0),
            Some(Duration::from_secs(1))
        );
        assert_eq!(s.interfaces, ["/^nv/"]);
        assert_eq!(s.exclude_interfaces, Some(vec!["lo".to_string()]));
        assert_eq!(s.agent_ip, Some("10.1.2.3".parse().unwrap()));
        assert_eq!(s.enable_flows_ringbuf_fallback, Some(false));
        assert_eq!(s.flow_filter_rules.len(), 1);
        assert_eq!(
            s.listen_poll_period.map(|d| d.0),
            Some(Duration::from_secs(10))
        );
        s.builder().unwrap();
    }
}
