//! Settings of `encode: prom`, shaped as upstream's `api.PromEncode` (`pkg/api/encode_prom.go`):
//! the types live in netobserv-flow's configuration (one definition for the config model and
//! the stage); this module names them as the stage always has.

/// `encode: {type: prom, prom: {...}}`: netobserv-flow's [`EncodeProm`], the one settings type
/// of the stage (unknown keys are rejected with their YAML path when the pipeline is built).
///
/// [`EncodeProm`]: netobserv_flow::config::EncodeProm
pub use netobserv_flow::config::EncodeProm as PromEncodeConfig;
/// One filter of a metric (netobserv-flow's [`PromFilter`](netobserv_flow::config::PromFilter)).
pub use netobserv_flow::config::PromFilter as MetricFilter;
/// How a filter matches (netobserv-flow's
/// [`PromFilterType`](netobserv_flow::config::PromFilterType)).
pub use netobserv_flow::config::PromFilterType as FilterType;
/// One metric definition (netobserv-flow's [`PromMetric`](netobserv_flow::config::PromMetric)).
pub use netobserv_flow::config::PromMetric as MetricDef;
/// The kinds of metric (netobserv-flow's
/// [`PromMetricType`](netobserv_flow::config::PromMetricType)).
pub use netobserv_flow::config::PromMetricType as MetricType;
/// TLS files of the stage's server (netobserv-flow's [`PromTls`](netobserv_flow::config::PromTls)).
pub use netobserv_flow::config::PromTls as PromTlsConfig;

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
