//! Stage parameter types, one struct per upstream API section.
//!
//! Sub-objects whose exact upstream shape varies between FLP releases (network rule bodies,
//! conntrack scheduling, OTLP options) are kept as free-form values; the stage types that read
//! them validate them when they are built.

use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

/// Payload decoder.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Decoder {
    /// `json` or `protobuf`.
    pub r#type: DecoderType,
}

/// Decoder kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DecoderType {
    /// NetObserv JSON.
    #[default]
    Json,
    /// pbflow.
    Protobuf,
}

/// `ingest.file`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct IngestFile {
    /// The file: JSON lines, or one JSON array.
    pub filename: String,
    /// Decoder (only `json` is read from files).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decoder: Option<Decoder>,
    /// Loop over the file (same as type `file_loop`).
    #[serde(default, rename = "loop", skip_serializing_if = "Option::is_none")]
    pub r#loop: Option<bool>,
    /// Lines per batch (type `file_chunks`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chunks: Option<usize>,
}

/// `ingest.synthetic`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct IngestSynthetic {
    /// Number of distinct connections (default 100).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connections: Option<usize>,
    /// Flows per batch (default 10).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch_max_len: Option<usize>,
    /// Rate; 0 means as fast as possible (default 2000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flow_logs_per_min: Option<u64>,
    /// netobserv-rs: random seed (default 1): the same seed gives the same flows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// netobserv-rs: stop after this many flows (default: never).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_flows: Option<u64>,
}

/// `ingest.stdin`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct IngestStdin {
    /// Lines per batch (default 1000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch_max_len: Option<usize>,
}

/// TLS client settings.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ClientTls {
    /// Skip server certificate verification.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub insecure_skip_verify: Option<bool>,
    /// CA certificate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_cert_path: Option<String>,
    /// Client certificate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_cert_path: Option<String>,
    /// Client key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_key_path: Option<String>,
}

/// SASL settings.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sasl {
    /// `plain` or `scramSHA512`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub r#type: Option<String>,
    /// File holding the user name.
    #[serde(
        rename = "clientIDPath",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub client_id_path: Option<String>,
    /// File holding the password.
    #[serde(
        rename = "clientSecretPath",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub client_secret_path: Option<String>,
}

/// `ingest.kafka`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct IngestKafka {
    /// Brokers.
    #[serde(default)]
    pub brokers: Vec<String>,
    /// Topic.
    #[serde(default)]
    pub topic: String,
    /// Consumer group.
    #[serde(default)]
    pub groupid: String,
    /// Balancers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_balancers: Option<Vec<String>>,
    /// `FirstOffset` or `LastOffset`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_offset: Option<String>,
    /// Milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch_read_timeout: Option<i64>,
    /// Decoder.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decoder: Option<Decoder>,
    /// Flows per batch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch_max_len: Option<usize>,
    /// Queue capacity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pull_queue_capacity: Option<usize>,
    /// Max bytes per pull.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pull_max_bytes: Option<usize>,
    /// Milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit_interval: Option<i64>,
    /// TLS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<ClientTls>,
    /// SASL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sasl: Option<Sasl>,
}

/// `ingest.grpc`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct IngestGrpc {
    /// Port.
    #[serde(default)]
    pub port: u16,
    /// Channel length in batches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub buffer_length: Option<usize>,
}

/// `ingest.collector`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct IngestCollector {
    /// Listen host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_name: Option<String>,
    /// IPFIX / NetFlow v9 port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// NetFlow v5 port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port_legacy: Option<u16>,
    /// Flows per batch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch_max_len: Option<usize>,
}

/// Key policy of the generic transform.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GenericPolicy {
    /// Add the new keys next to the old ones.
    #[default]
    PreserveOriginalKeys,
    /// Keep only the new keys.
    ReplaceKeys,
}

/// `transform.generic`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransformGeneric {
    /// Key policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<GenericPolicy>,
    /// Rules.
    #[serde(default)]
    pub rules: Vec<GenericRule>,
}

/// One generic rule.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenericRule {
    /// Input field.
    pub input: String,
    /// Output field.
    pub output: String,
    /// Scaling factor (sampling compensation), applied to numeric values.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub multiplier: Option<i64>,
}

/// `transform.filter`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct TransformFilter {
    /// Rules, applied in order.
    #[serde(default)]
    pub rules: Vec<FilterRule>,
    /// Field that records the sampling applied by sampling rules.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sampling_field: Option<String>,
}

/// Filter rule types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[allow(missing_docs)]
pub enum FilterRuleType {
    RemoveField,
    RemoveEntryIfExists,
    RemoveEntryIfDoesntExist,
    RemoveEntryIfEqual,
    RemoveEntryIfNotEqual,
    RemoveEntryAllSatisfied,
    ConditionalSampling,
    KeepEntryQuery,
    AddField,
    AddFieldIfDoesntExist,
    AddFieldIf,
    AddRegexIf,
    AddLabel,
    AddLabelIf,
}

/// One filter rule: a type and the body its type reads.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct FilterRule {
    /// The rule type.
    pub r#type: FilterRuleType,
    /// For `remove_field`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remove_field: Option<FilterGeneric>,
    /// For `remove_entry_if_*`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remove_entry: Option<FilterGeneric>,
    /// For `remove_entry_all_satisfied`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remove_entry_all_satisfied: Option<Vec<RemoveEntryRule>>,
    /// For `conditional_sampling`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conditional_sampling: Option<Vec<SamplingCondition>>,
    /// For `keep_entry_query`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_entry_query: Option<String>,
    /// For `keep_entry_query`: keep 1 matching flow in N.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_entry_sampling: Option<u16>,
    /// For `add_field`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub add_field: Option<FilterGeneric>,
    /// For `add_field_if_doesnt_exist`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub add_field_if_doesnt_exist: Option<FilterGeneric>,
    /// For `add_field_if`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub add_field_if: Option<FilterWithAssignee>,
    /// For `add_regex_if`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub add_regex_if: Option<FilterWithAssignee>,
    /// For `add_label`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub add_label: Option<FilterGeneric>,
    /// For `add_label_if`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub add_label_if: Option<FilterWithAssignee>,
}

/// Input, value and cast of most filter rules.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct FilterGeneric {
    /// The field.
    pub input: String,
    /// The value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<Json>,
    /// Compare as integers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cast_int: Option<bool>,
}

/// Rules with a condition and an assignee.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FilterWithAssignee {
    /// The field tested.
    pub input: String,
    /// The field set.
    pub output: String,
    /// The condition (`>=10`, a regular expression...).
    #[serde(default)]
    pub parameters: String,
    /// The value set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assignee: Option<String>,
}

/// A `remove_entry_*` rule inside `remove_entry_all_satisfied` or `conditional_sampling`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RemoveEntryRule {
    /// One of the `remove_entry_if_*` types.
    pub r#type: FilterRuleType,
    /// The rule body.
    pub remove_entry: FilterGeneric,
}

/// One condition of `conditional_sampling`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SamplingCondition {
    /// Keep 1 flow in `value` among those matching.
    pub value: u16,
    /// Conditions that must all hold (in `remove_entry` form: they select flows).
    pub rules: Vec<RemoveEntryRule>,
}

/// `transform.network`, as upstream's `api.TransformNetwork` (rule bodies are free-form here: the
/// enrichment crate that runs the stage types them).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct TransformNetwork {
    /// Rules, applied in order.
    #[serde(default)]
    pub rules: Vec<NetworkRule>,
    /// Kubernetes client settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kube_config: Option<NetworkKubeConfig>,
    /// `/etc/services` replacement.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub services_file: Option<String>,
    /// `/etc/protocols` replacement.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocols_file: Option<String>,
    /// Named CIDR sets, for `add_subnet_label`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subnet_labels: Option<Vec<SubnetLabel>>,
    /// Fields `reinterpret_direction` reads.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub direction_info: Option<DirectionInfo>,
}

/// `transform.network.kubeConfig`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct NetworkKubeConfig {
    /// kubeconfig file (in-cluster config when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_path: Option<String>,
    /// Secondary networks (Multus, UDN) and how their interfaces are indexed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secondary_networks: Option<Vec<Json>>,
    /// The CNI whose annotations are read.
    #[serde(
        rename = "managedCNI",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub managed_cni: Option<Vec<String>>,
    /// Owner kinds resolved (`ReplicaSet`, `Deployment`, `Gateway`...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tracked_kinds: Option<Vec<String>>,
}

/// One network rule.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs)]
pub struct NetworkRule {
    /// `add_kubernetes`, `add_kubernetes_infra`, `add_subnet`, `add_location`, `add_service`,
    /// `add_subnet_label`, `reinterpret_direction`, `decode_tcp_flags`.
    pub r#type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kubernetes: Option<Json>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kubernetes_infra: Option<Json>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub add_subnet: Option<Json>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub add_location: Option<Json>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub add_subnet_label: Option<Json>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub add_service: Option<Json>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decode_tcp_flags: Option<Json>,
}

/// A named set of CIDRs (`subnetLabels`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubnetLabel {
    /// CIDRs.
    #[serde(default)]
    pub cidrs: Vec<String>,
    /// The label.
    pub name: String,
}

/// `directionInfo`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs)]
pub struct DirectionInfo {
    #[serde(
        rename = "reporterIPField",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub reporter_ip_field: Option<String>,
    #[serde(
        rename = "srcHostField",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub src_host_field: Option<String>,
    #[serde(
        rename = "dstHostField",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub dst_host_field: Option<String>,
    #[serde(
        rename = "flowDirectionField",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub flow_direction_field: Option<String>,
    #[serde(
        rename = "ifDirectionField",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub if_direction_field: Option<String>,
}

/// `extract.aggregates`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Aggregates {
    /// Default expiry (Go duration).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_expiry_time: Option<String>,
    /// Rules.
    #[serde(default)]
    pub rules: Vec<AggregateRule>,
}

/// One aggregation.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct AggregateRule {
    pub name: String,
    #[serde(default)]
    pub group_by_keys: Vec<String>,
    pub operation_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation_key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiry_time: Option<String>,
}

/// `extract.timebased`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Timebased {
    /// Rules.
    #[serde(default)]
    pub rules: Vec<TimebasedRule>,
}

/// One time-based rule.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct TimebasedRule {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index_key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index_keys: Option<Vec<String>>,
    pub operation_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation_key: Option<String>,
    #[serde(rename = "topK", default, skip_serializing_if = "Option::is_none")]
    pub top_k: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reversed: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_interval: Option<String>,
}

/// `encode.prom`, shaped as upstream's `api.PromEncode` (`pkg/api/encode_prom.go`); the stage
/// is `netobserv-sinks`' `prom` feature.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct EncodeProm {
    /// Address of this stage's own `/metrics` server (default all interfaces when `port` is set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// Port of this stage's own `/metrics` server; with neither `address` nor `port`, the metrics
    /// are served by the pipeline's `metricsSettings` server, as upstream does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// TLS of the stage's own server (accepted for compatibility; not served yet: an error).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<super::PromTls>,
    /// The metric definitions.
    #[serde(default)]
    pub metrics: Vec<PromMetric>,
    /// Prefix added to each metric name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    /// How long a label set may go without a flow before its series is deleted (Go duration,
    /// default `2m`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiry_time: Option<String>,
    /// Maximum number of series (label sets, over all metrics of the stage); new label sets
    /// beyond it are dropped and counted. 0 or absent: unlimited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_metrics: Option<usize>,
}

/// The kinds of Prometheus metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PromMetricType {
    /// A monotonic sum of the values (of 1 per flow without `valueKey`).
    #[default]
    Counter,
    /// The last value seen.
    Gauge,
    /// A distribution of the values in `buckets`.
    Histogram,
    /// A distribution fed with lists of values (`valueKey` names a list, from an aggregate stage).
    AggHistogram,
}

/// How a metric filter matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PromFilterType {
    /// The field's text equals `value`.
    #[default]
    Equal,
    /// The field is absent or its text differs from `value`.
    NotEqual,
    /// The field is present.
    Presence,
    /// The field is absent.
    Absence,
    /// The field's text matches the regular expression `value`.
    MatchRegex,
    /// The field is absent or its text does not match the regular expression `value`.
    NotMatchRegex,
}

/// One filter of a metric. Filters on different keys must all pass; several filters on the
/// same key pass when any of them does (upstream's grouping by key).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PromFilter {
    /// The field (`NetworkEvents>Action` for a key of a flattened list).
    pub key: String,
    /// The value or regular expression (ignored by presence and absence).
    #[serde(default)]
    pub value: String,
    /// How it matches (default `equal`).
    #[serde(default, rename = "type")]
    pub r#type: PromFilterType,
}

/// One Prometheus metric definition (upstream's `api.MetricsItem`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PromMetric {
    /// The metric name (the stage's `prefix` goes in front).
    pub name: String,
    /// The metric type.
    #[serde(rename = "type")]
    pub r#type: PromMetricType,
    /// Help text.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub help: String,
    /// Criteria a flow must meet to count.
    #[serde(default, deserialize_with = "null_as_default")]
    pub filters: Vec<PromFilter>,
    /// Older single-filter form (`filter: {key, value}`), added to `filters`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<PromFilter>,
    /// Field holding the value; empty counts flows (value 1).
    #[serde(default, deserialize_with = "null_as_default")]
    pub value_key: String,
    /// The value is divided by this (0: not scaled).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_scale: Option<f64>,
    /// Fields whose values label the series.
    #[serde(default, deserialize_with = "null_as_default")]
    pub labels: Vec<String>,
    /// Label renames: field name to label name.
    #[serde(default, deserialize_with = "null_as_default")]
    pub remap: std::collections::BTreeMap<String, String>,
    /// List fields whose items each make their own series (`NetworkEvents`: one series per
    /// event, its keys addressed as `NetworkEvents>Key`).
    #[serde(default, deserialize_with = "null_as_default")]
    pub flatten: Vec<String>,
    /// Histogram bucket upper bounds (default Prometheus' .005 … 10). Upstream ignores them;
    /// netobserv-rs honours them.
    #[serde(default, deserialize_with = "null_as_default")]
    pub buckets: Vec<f64>,
}

/// YAML `key:` with nothing after it (a null) means the default, as in Go.
fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// `encode.kafka`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct EncodeKafka {
    pub address: String,
    pub topic: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub balancer: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub write_timeout: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_timeout: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch_bytes: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch_size: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<ClientTls>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sasl: Option<Sasl>,
}

/// `write.stdout`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WriteStdout {
    /// `printf` (default), `fields` or `json`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<StdoutFormat>,
}

/// Formats of the stdout writer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StdoutFormat {
    /// Go's default map printing: `map[Bytes:10 SrcAddr:10.0.0.1]`, one flow per line.
    #[default]
    Printf,
    /// A `Flow record at <time>:` header, then one aligned `key = value` line per field.
    Fields,
    /// NetObserv JSON, one flow per line.
    Json,
}

/// `write.file` (netobserv-rs): NetObserv JSON lines to a file.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WriteFile {
    /// The file; created or truncated at start unless `append`.
    pub filename: String,
    /// Append instead of truncating.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub append: Option<bool>,
}

/// `write.loki`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct WriteLoki {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(rename = "tenantID", default, skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch_wait: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch_size: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_backoff: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_backoff: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_retries: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub static_labels: Option<std::collections::BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ignore_list: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_config: Option<Json>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp_label: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp_scale: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reorder: Option<bool>,
}
