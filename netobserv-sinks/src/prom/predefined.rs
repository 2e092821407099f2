//! NetObserv's predefined metric families, as the network-observability-operator defines them
//! (`internal/pkg/metrics/predefined_metrics.go`) and renders them into flowlogs-pipeline's
//! `encode: prom` (`flowMetricToFLP`: the direction becomes a `FlowDirection` filter, the divider
//! `valueScale`).

use std::collections::BTreeMap;

use super::config::{FilterType, MetricDef, MetricFilter, MetricType};
use crate::{Error, Result};

/// The operator's default `processor.metrics.includeList` (with Loki enabled).
pub const DEFAULT_INCLUDE_LIST: &[&str] = &[
    "node_ingress_bytes_total",
    "node_egress_bytes_total",
    "node_ingress_packets_total",
    "node_drop_packets_total",
    "workload_sampling",
    "workload_ingress_bytes_total",
    "workload_egress_bytes_total",
    "namespace_flows_total",
    "namespace_ingress_packets_total",
    "namespace_drop_packets_total",
    "namespace_rtt_seconds",
    "namespace_dns_latency_seconds",
    "namespace_network_policy_events_total",
    "node_ipsec_flows_total",
    "node_to_node_ingress_flows_total",
];

const LATENCY_BUCKETS: &[f64] = &[0.005, 0.01, 0.02, 0.03, 0.04, 0.05, 0.075, 0.1, 0.25, 1.0];

const NODE_LABELS: &[&str] = &[
    "K8S_ClusterName",
    "SrcK8S_Zone",
    "DstK8S_Zone",
    "SrcK8S_HostName",
    "DstK8S_HostName",
];
const NAMESPACE_LABELS: &[&str] = &[
    "K8S_ClusterName",
    "SrcK8S_Zone",
    "DstK8S_Zone",
    "SrcK8S_Namespace",
    "DstK8S_Namespace",
    "K8S_FlowLayer",
    "SrcSubnetLabel",
    "DstSubnetLabel",
];
const WORKLOAD_EXTRA: &[&str] = &[
    "SrcK8S_OwnerName",
    "DstK8S_OwnerName",
    "SrcK8S_OwnerType",
    "DstK8S_OwnerType",
    "SrcK8S_Type",
    "DstK8S_Type",
];

fn group_labels(group: &str) -> Vec<String> {
    let base: Vec<&str> = match group {
        "node" => NODE_LABELS.to_vec(),
        "namespace" => NAMESPACE_LABELS.to_vec(),
        _ => NAMESPACE_LABELS
            .iter()
            .chain(WORKLOAD_EXTRA)
            .copied()
            .collect(),
    };
    base.into_iter().map(String::from).collect()
}

fn filter(key: &str, r#type: FilterType, value: &str) -> MetricFilter {
    MetricFilter {
        key: key.into(),
        value: value.into(),
        r#type,
    }
}

fn def(
    name: String,
    r#type: MetricType,
    help: String,
    value_key: &str,
    labels: Vec<String>,
) -> MetricDef {
    MetricDef {
        name,
        r#type,
        help,
        value_key: value_key.into(),
        labels,
        ..Default::default()
    }
}

/// Every predefined definition, in the operator's order.
fn all() -> Vec<MetricDef> {
    const GROUPS: [&str; 3] = ["node", "namespace", "workload"];
    let mut out = Vec::new();
    for g in GROUPS {
        for (vt, field) in [("bytes", "Bytes"), ("packets", "Packets")] {
            // The operator's direction filter: egress is FlowDirection 1 or 2, ingress 0 or 2.
            for (dir, not) in [("egress", "0"), ("ingress", "1")] {
                let mut d = def(
                    format!("{g}_{dir}_{vt}_total"),
                    MetricType::Counter,
                    format!("Total {vt} per {g} in {dir} direction"),
                    field,
                    group_labels(g),
                );
                d.filters
                    .push(filter("FlowDirection", FilterType::NotEqual, not));
                out.push(d);
            }
        }
        out.push(def(
            format!("{g}_sampling"),
            MetricType::Gauge,
            format!("Sampling per {g}"),
            "Sampling",
            group_labels(g),
        ));
        out.push(def(
            format!("{g}_flows_total"),
            MetricType::Counter,
            format!("Total flows per {g}"),
            "",
            group_labels(g),
        ));
    }
    for g in GROUPS {
        let mut d = def(
            format!("{g}_rtt_seconds"),
            MetricType::Histogram,
            format!("Round-trip time latency in seconds per {g}"),
            "TimeFlowRttNs",
            group_labels(g),
        );
        d.filters
            .push(filter("TimeFlowRttNs", FilterType::Presence, ""));
        d.value_scale = Some(1e9);
        d.buckets = LATENCY_BUCKETS.to_vec();
        out.push(d);
    }
    for g in GROUPS {
        let mut labels = group_labels(g);
        labels.extend(["PktDropLatestState".into(), "PktDropLatestDropCause".into()]);
        for (vt, field) in [("packets", "PktDropPackets"), ("bytes", "PktDropBytes")] {
            let mut d = def(
                format!("{g}_drop_{vt}_total"),
                MetricType::Counter,
                format!("Total dropped {vt} per {g}"),
                field,
                labels.clone(),
            );
            d.filters.push(filter(field, FilterType::Presence, ""));
            out.push(d);
        }
    }
    for g in GROUPS {
        let mut labels = group_labels(g);
        labels.push("DnsFlagsResponseCode".into());
        let mut d = def(
            format!("{g}_dns_latency_seconds"),
            MetricType::Histogram,
            format!("DNS latency in seconds per {g}"),
            "DnsLatencyMs",
            labels,
        );
        d.filters.push(filter("DnsId", FilterType::Presence, ""));
        d.value_scale = Some(1000.0);
        d.buckets = LATENCY_BUCKETS.to_vec();
        out.push(d);
    }
    for g in GROUPS {
        let mut labels = group_labels(g);
        let mut remap = BTreeMap::new();
        for (k, target) in [
            ("Type", "type"),
            ("Namespace", "namespace"),
            ("Name", "name"),
            ("Action", "action"),
            ("Direction", "direction"),
        ] {
            labels.push(format!("NetworkEvents>{k}"));
            remap.insert(format!("NetworkEvents>{k}"), target.to_string());
        }
        let mut d = def(
            format!("{g}_network_policy_events_total"),
            MetricType::Counter,
            format!("Total network policy events per {g}"),
            "",
            labels,
        );
        d.filters
            .push(filter("NetworkEvents>Feature", FilterType::Equal, "acl"));
        d.flatten = vec!["NetworkEvents".into()];
        d.remap = remap;
        out.push(d);
    }
    for g in GROUPS {
        let mut labels = group_labels(g);
        labels.push("IPSecStatus".into());
        let mut d = def(
            format!("{g}_ipsec_flows_total"),
            MetricType::Counter,
            format!("Total IPsec encrypted flows per {g}"),
            "",
            labels,
        );
        d.filters
            .push(filter("IPSecStatus", FilterType::Presence, ""));
        out.push(d);
    }
    let mut d = def(
        "node_to_node_ingress_flows_total".into(),
        MetricType::Counter,
        "Total ingress flows between nodes".into(),
        "",
        group_labels("node"),
    );
    d.filters = vec![
        filter("FlowDirection", FilterType::NotEqual, "2"),
        filter("SrcK8S_HostName", FilterType::Presence, ""),
        filter("DstK8S_HostName", FilterType::Presence, ""),
    ];
    out.push(d);
    out
}

/// The names of every predefined metric, in the operator's order.
pub fn predefined_names() -> Vec<String> {
    all().into_iter().map(|d| d.name).collect()
}

/// The definitions of the predefined metrics named (FlowCollector's
/// `processor.metrics.includeList`), in the operator's order, with every label (zones and
/// cluster name included; remove those you do not enrich with). An unknown name is an error
/// listing the known ones.
pub fn predefined<S: AsRef<str>>(names: &[S]) -> Result<Vec<MetricDef>> {
    let all = all();
    for n in names {
        let n = n.as_ref();
        if !all.iter().any(|d| d.name == n) {
            let known: Vec<&str> = all.iter().map(|d| d.name.as_str()).collect();
            return Err(Error::Settings(format!(
                "unknown predefined metric {n:?} (expected one of: {})",
                known.join(", ")
            )));
        }
    }
    Ok(all
        .into_iter()
        .filter(|d| names.iter().any(|n| n.as_ref() == d.name))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_label_sets_match_the_operator() {
        let names = predefined_names();
        assert_eq!(names.len(), 37);
        for g in ["node", "namespace", "workload"] {
            for suffix in [
                "ingress_bytes_total",
                "egress_bytes_total",
                "ingress_packets_total",
                "egress_packets_total",
                "flows_total",
                "sampling",
                "rtt_seconds",
                "dns_latency_seconds",
                "drop_packets_total",
                "drop_bytes_total",
                "network_policy_events_total",
                "ipsec_flows_total",
            ] {
                assert!(names.contains(&format!("{g}_{suffix}")), "{g}_{suffix}");
            }
        }
        let defs = predefined(&[
            "namespace_flows_total",
            "node_ingress_bytes_total",
            "workload_egress_packets_total",
        ])
        .unwrap();
        assert_eq!(defs[0].name, "node_ingress_bytes_total");
        assert_eq!(defs[0].value_key, "Bytes");
        assert_eq!(
            defs[0].labels,
            [
                "K8S_ClusterName",
                "SrcK8S_Zone",
                "DstK8S_Zone",
                "SrcK8S_HostName",
                "DstK8S_HostName"
            ]
        );
        assert_eq!(
            defs[0].filters,
            [filter("FlowDirection", FilterType::NotEqual, "1")]
        );
        assert_eq!(defs[1].name, "namespace_flows_total");
        assert!(defs[1].value_key.is_empty());
        assert_eq!(defs[2].labels.len(), 14);
        for n in DEFAULT_INCLUDE_LIST {
            assert!(names.iter().any(|x| x == n), "{n}");
        }
        let err = predefined(&["namespace_flow_total"])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("unknown predefined metric \"namespace_flow_total\""),
            "{err}"
        );
        // Every definition compiles (label names valid once remapped).
        let cfg = super::super::PromEncodeConfig {
            metrics: predefined(&names).unwrap(),
            ..Default::default()
        };
        super::super::PromEncoder::new(&cfg).unwrap();
    }
}
