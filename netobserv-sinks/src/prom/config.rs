//! Settings of `encode: prom`, shaped as upstream's `api.PromEncode` (`pkg/api/encode_prom.go`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// `encode: {type: prom, prom: {...}}`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PromEncodeConfig {
    /// Address of this stage's own `/metrics` server (default all interfaces when `port` is set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// Port of this stage's own `/metrics` server; with neither `address` nor `port`, the metrics
    /// are served by the pipeline's `metricsSettings` server, as upstream does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// TLS of the stage's own server (accepted for compatibility; not served yet: an error).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<PromTlsConfig>,
    /// The metric definitions.
    #[serde(default)]
    pub metrics: Vec<MetricDef>,
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

/// TLS files of the stage's server.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PromTlsConfig {
    /// Certificate file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert_path: Option<String>,
    /// Key file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_path: Option<String>,
}

/// The kinds of metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MetricType {
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

/// How a filter matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FilterType {
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
pub struct MetricFilter {
    /// The field (`NetworkEvents>Action` for a key of a flattened list).
    pub key: String,
    /// The value or regular expression (ignored by presence and absence).
    #[serde(default)]
    pub value: String,
    /// How it matches (default `equal`).
    #[serde(default, rename = "type")]
    pub r#type: FilterType,
}

/// One metric definition (upstream's `api.MetricsItem`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct MetricDef {
    /// The metric name (the stage's `prefix` goes in front).
    pub name: String,
    /// The metric type.
    #[serde(rename = "type")]
    pub r#type: MetricType,
    /// Help text.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub help: String,
    /// Criteria a flow must meet to count.
    #[serde(default, deserialize_with = "null_as_default")]
    pub filters: Vec<MetricFilter>,
    /// Older single-filter form (`filter: {key, value}`), added to `filters`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<MetricFilter>,
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
    pub remap: BTreeMap<String, String>,
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

/// Parses a Go duration (`2m`, `1m30s`, `500ms`, `1h`): netobserv-flow's [`GoDuration`] reading.
///
/// [`GoDuration`]: netobserv_flow::config::GoDuration
pub fn parse_go_duration(text: &str) -> Option<std::time::Duration> {
    netobserv_flow::config::GoDuration::parse(text)
        .ok()
        .map(|d| d.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations() {
        use std::time::Duration;
        assert_eq!(parse_go_duration("2m"), Some(Duration::from_secs(120)));
        assert_eq!(parse_go_duration("1m30s"), Some(Duration::from_secs(90)));
        assert_eq!(parse_go_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_go_duration("1.5h"), Some(Duration::from_secs(5400)));
        assert_eq!(parse_go_duration("10"), None);
        assert_eq!(parse_go_duration("x"), None);
        assert_eq!(parse_go_duration(""), None);
    }

    #[test]
    fn upstream_shaped_config_parses() {
        let yaml = r#"
port: 9102
prefix: test_
expiryTime: 1m
maxMetrics: 10
metrics:
  - name: bytes_total
    type: counter
    filters: [{key: Proto, value: "6"}, {key: DnsId, type: presence}]
    valueKey: Bytes
    labels: [SrcAddr]
    remap: {SrcAddr: src}
    flatten:
    buckets:
  - name: rtt
    type: agg_histogram
    filters:
    valueKey: rtts
    labels:
"#;
        let c: PromEncodeConfig = serde_yaml_ng::from_str(yaml).unwrap();
        assert_eq!(c.port, Some(9102));
        assert_eq!(c.metrics[0].filters[1].r#type, FilterType::Presence);
        assert_eq!(c.metrics[0].remap["SrcAddr"], "src");
        assert_eq!(c.metrics[1].r#type, MetricType::AggHistogram);
        let bad = "metrics: [{name: a, type: counter, valueKy: Bytes}]";
        let err = serde_yaml_ng::from_str::<PromEncodeConfig>(bad).unwrap_err();
        assert!(err.to_string().contains("valueKy"), "{err}");
    }
}
