//! The settings of `transform: {type: network}`: every key of upstream's `api.TransformNetwork`
//! (flowlogs-pipeline `pkg/api/transform_network.go`), typed, with upstream's key spellings (a
//! mix of camelCase and snake_case, as upstream has them). Unknown keys are refused with their
//! YAML path.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

use crate::identity::SecondaryIndex;

/// `transform.network`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct NetworkConfig {
    /// The rules, applied in order to each flow.
    #[serde(default)]
    pub rules: Vec<NetworkRule>,
    /// Kubernetes settings, read by the Kubernetes cache behind `add_kubernetes`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kube_config: Option<KubeConfig>,
    /// A file in the `/etc/services` format for `add_service`. Upstream reads `/etc/services`
    /// when unset; this build then uses its embedded table (IANA's well-known ports).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub services_file: Option<String>,
    /// A file in the `/etc/protocols` format for `add_service`. Upstream reads `/etc/protocols`
    /// when unset; this build then uses its embedded table.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocols_file: Option<String>,
    /// Named CIDR lists for `add_subnet_label`: the first label (in this order) with a CIDR
    /// holding the address wins.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subnet_labels: Vec<SubnetLabel>,
    /// The fields `reinterpret_direction` reads and writes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub direction_info: Option<DirectionInfo>,
    /// netobserv-rs: writes this cluster name in `K8S_ClusterName` of every flow that has none
    /// (upstream's operator does it with a `filter` rule `add_field_if_doesnt_exist`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_name: Option<String>,
}

/// `transform.network.kubeConfig`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct KubeConfig {
    /// A kubeconfig file (in-cluster configuration when unset).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_path: Option<String>,
    /// Secondary networks (Multus, UDN) and the keys their interfaces are indexed by.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secondary_networks: Vec<SecondaryNetwork>,
    /// The CNIs whose annotations are read for extra interfaces (upstream knows `ovn`).
    #[serde(rename = "managedCNI", default, skip_serializing_if = "Vec::is_empty")]
    pub managed_cni: Vec<String>,
    /// Owner kinds followed up the ownership chain (`ReplicaSet`, `Deployment`, `Gateway`...).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tracked_kinds: Vec<String>,
}

/// One entry of `kubeConfig.secondaryNetworks`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecondaryNetwork {
    /// Name (upstream: deprecated, unused).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The index keys, any of `mac`, `ip`, `interface`, `udn` (values are ignored).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub index: BTreeMap<String, Json>,
}

impl SecondaryNetwork {
    /// The Multus part of the index: which of `ip`, `mac`, `interface` it names.
    pub fn multus_index(&self) -> SecondaryIndex {
        SecondaryIndex {
            ip: self.index.contains_key("ip"),
            mac: self.index.contains_key("mac"),
            interface: self.index.contains_key("interface"),
        }
    }
}

impl KubeConfig {
    /// The Multus part of each secondary network's index, in order, those naming none of
    /// `ip`, `mac`, `interface` left out: what pods and flows are keyed by.
    pub fn multus_indexes(&self) -> Vec<SecondaryIndex> {
        self.secondary_networks
            .iter()
            .map(SecondaryNetwork::multus_index)
            .filter(|i| !i.is_empty())
            .collect()
    }
}

/// A rule type, as upstream's `TransformNetworkOperationEnum`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RuleType {
    /// Adds the subnet of an address (`add_subnet` section).
    AddSubnet,
    /// Adds geographic location fields of an address (`add_location` section).
    AddLocation,
    /// Adds the service name of a port and protocol (`add_service` section).
    AddService,
    /// Adds the Kubernetes identity of an address (`kubernetes` section).
    AddKubernetes,
    /// Tags flows as `infra` or `app` (`kubernetes_infra` section).
    AddKubernetesInfra,
    /// Rewrites the flow direction at the node level (stage-level `directionInfo`).
    ReinterpretDirection,
    /// Labels addresses with the names of `subnetLabels` (`add_subnet_label` section).
    AddSubnetLabel,
    /// Writes TCP flags as a list of names (`decode_tcp_flags` section).
    DecodeTcpFlags,
}

impl RuleType {
    /// The name in configs.
    pub fn name(self) -> &'static str {
        match self {
            RuleType::AddSubnet => "add_subnet",
            RuleType::AddLocation => "add_location",
            RuleType::AddService => "add_service",
            RuleType::AddKubernetes => "add_kubernetes",
            RuleType::AddKubernetesInfra => "add_kubernetes_infra",
            RuleType::ReinterpretDirection => "reinterpret_direction",
            RuleType::AddSubnetLabel => "add_subnet_label",
            RuleType::DecodeTcpFlags => "decode_tcp_flags",
        }
    }

    /// The key of the rule's own section (`None`: the rule reads stage-level settings).
    pub fn section(self) -> Option<&'static str> {
        match self {
            RuleType::AddKubernetes => Some("kubernetes"),
            RuleType::AddKubernetesInfra => Some("kubernetes_infra"),
            RuleType::ReinterpretDirection => None,
            other => Some(other.name()),
        }
    }
}

impl std::fmt::Display for RuleType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// One rule: its type and the section of that type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkRule {
    /// The rule type.
    pub r#type: RuleType,
    /// `add_kubernetes_infra` settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kubernetes_infra: Option<K8sInfraRule>,
    /// `add_kubernetes` settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kubernetes: Option<K8sRule>,
    /// `add_subnet` settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub add_subnet: Option<AddSubnetRule>,
    /// `add_location` settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub add_location: Option<AddLocationRule>,
    /// `add_subnet_label` settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub add_subnet_label: Option<InputOutput>,
    /// `add_service` settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub add_service: Option<AddServiceRule>,
    /// `decode_tcp_flags` settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decode_tcp_flags: Option<InputOutput>,
}

impl NetworkRule {
    /// A rule of type `t` with no section.
    pub fn new(t: RuleType) -> Self {
        NetworkRule {
            r#type: t,
            kubernetes_infra: None,
            kubernetes: None,
            add_subnet: None,
            add_location: None,
            add_subnet_label: None,
            add_service: None,
            decode_tcp_flags: None,
        }
    }

    /// The keys of the sections this rule carries.
    pub fn sections(&self) -> Vec<&'static str> {
        let mut v = Vec::new();
        if self.kubernetes_infra.is_some() {
            v.push("kubernetes_infra");
        }
        if self.kubernetes.is_some() {
            v.push("kubernetes");
        }
        if self.add_subnet.is_some() {
            v.push("add_subnet");
        }
        if self.add_location.is_some() {
            v.push("add_location");
        }
        if self.add_subnet_label.is_some() {
            v.push("add_subnet_label");
        }
        if self.add_service.is_some() {
            v.push("add_service");
        }
        if self.decode_tcp_flags.is_some() {
            v.push("decode_tcp_flags");
        }
        v
    }
}

/// A namespace/name pair: field names in `namespaceNameFields`, object names in `infra_refs`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct K8sReference {
    /// The name (or the field holding it).
    #[serde(default)]
    pub name: String,
    /// The namespace (or the field holding it).
    #[serde(default)]
    pub namespace: String,
}

/// `add_kubernetes_infra` settings.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct K8sInfraRule {
    /// Pairs of fields holding a namespace and a name (one pair per side).
    #[serde(
        rename = "namespaceNameFields",
        default,
        skip_serializing_if = "Vec::is_empty"
    )]
    pub namespace_name_fields: Vec<K8sReference>,
    /// The output field (`K8S_FlowLayer`).
    #[serde(default)]
    pub output: String,
    /// Namespace prefixes whose objects are infrastructure.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub infra_prefixes: Vec<String>,
    /// More objects that are infrastructure.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub infra_refs: Vec<K8sReference>,
}

/// `add_kubernetes` settings.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct K8sRule {
    /// The field holding the address to look up.
    #[serde(rename = "ipField", default)]
    pub ip_field: String,
    /// The field holding the interface list (secondary networks).
    #[serde(
        rename = "interfacesField",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub interfaces_field: Option<String>,
    /// The field holding the UDN list (secondary networks).
    #[serde(rename = "udnsField", default, skip_serializing_if = "Option::is_none")]
    pub udns_field: Option<String>,
    /// The field holding the MAC address (secondary networks).
    #[serde(rename = "macField", default, skip_serializing_if = "Option::is_none")]
    pub mac_field: Option<String>,
    /// The output prefix (`SrcK8S` gives `SrcK8S_Name`, `SrcK8S_Namespace`...).
    #[serde(default)]
    pub output: String,
    /// `otel` for OpenTelemetry names (`<output>k8s.namespace.name`...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assignee: Option<String>,
    /// Copies the object's labels as `<prefix>_<label>` when set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels_prefix: Option<String>,
    /// Labels to copy (all when empty).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub label_inclusions: Vec<String>,
    /// Labels not to copy.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub label_exclusions: Vec<String>,
    /// Label values longer than this are cut.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label_value_max_length: Option<i64>,
    /// Copies the object's annotations as `<prefix>_<annotation>` when set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations_prefix: Option<String>,
    /// Annotations to copy (all when empty).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub annotation_inclusions: Vec<String>,
    /// Annotations not to copy.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub annotation_exclusions: Vec<String>,
    /// Annotation values longer than this are cut.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotation_value_max_length: Option<i64>,
    /// Adds the zone (`topology.kubernetes.io/zone` of the node).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub add_zone: bool,
}

/// `add_subnet` settings.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddSubnetRule {
    /// The field holding the address.
    #[serde(default)]
    pub input: String,
    /// The output field.
    #[serde(default)]
    pub output: String,
    /// The prefix length, written as upstream appends it to the address: `/24`.
    #[serde(default)]
    pub subnet_mask: String,
}

/// `add_location` settings.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddLocationRule {
    /// The field holding the address.
    #[serde(default)]
    pub input: String,
    /// The output prefix (`<output>_CountryName`, ...).
    #[serde(default)]
    pub output: String,
    /// The ip2location database, a `.BIN` file (DB1 to DB26 layouts; upstream uses the LITE
    /// DB9). Required here: upstream downloads one when unset, which this build does not do.
    /// Upstream takes the zip archive the `.BIN` comes in; this build refuses a zip at start-up
    /// and asks for the unzipped file.
    #[serde(default)]
    pub file_path: String,
}

/// `add_service` settings.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddServiceRule {
    /// The field holding the port.
    #[serde(default)]
    pub input: String,
    /// The output field.
    #[serde(default)]
    pub output: String,
    /// The field holding the protocol, as a number (`6`) or a name (`tcp`).
    #[serde(default)]
    pub protocol: String,
}

/// An input field and an output field (`add_subnet_label`, `decode_tcp_flags`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputOutput {
    /// The input field.
    #[serde(default)]
    pub input: String,
    /// The output field.
    #[serde(default)]
    pub output: String,
}

/// A named CIDR list (`subnetLabels`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubnetLabel {
    /// CIDRs, IPv4 or IPv6 (`10.0.0.0/8`, `fd00::/8`).
    #[serde(default)]
    pub cidrs: Vec<String>,
    /// The label.
    #[serde(default)]
    pub name: String,
}

/// `directionInfo`: the fields of `reinterpret_direction`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DirectionInfo {
    /// The field holding the reporter (agent) host IP: `AgentIP`.
    #[serde(rename = "reporterIPField", default)]
    pub reporter_ip_field: String,
    /// The field holding the source's host IP: `SrcK8S_HostIP`.
    #[serde(rename = "srcHostField", default)]
    pub src_host_field: String,
    /// The field holding the destination's host IP: `DstK8S_HostIP`.
    #[serde(rename = "dstHostField", default)]
    pub dst_host_field: String,
    /// The direction field, rewritten: `FlowDirection`.
    #[serde(rename = "flowDirectionField", default)]
    pub flow_direction_field: String,
    /// Where the interface-level direction is copied to before the rewrite (optional):
    /// `IfDirection`.
    #[serde(
        rename = "ifDirectionField",
        default,
        skip_serializing_if = "String::is_empty"
    )]
    pub if_direction_field: String,
}
