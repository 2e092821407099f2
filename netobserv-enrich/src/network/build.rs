//! From settings to rules: validation, files read at start-up, field names resolved once, and the
//! start-up warnings about what this build leaves undone.

use std::path::Path;
use std::sync::Arc;

use netobserv_flow::field::{FieldPath, FieldRegistry};
use netobserv_flow::flow::FieldId;
use netobserv_flow::value::Value;

use super::config::{NetworkConfig, NetworkRule, RuleType};
use super::location::{LocationDb, OpenError};
use super::rules::{
    Infra, KubeOutput, KubeRule, Network, Rule, SecondaryFields, SubnetRule, TagCopy, TagFilter,
};
use super::services::{EMBEDDED_PROTOCOLS, EMBEDDED_SERVICES, ServiceNames};
use super::subnet::{Cidr, SubnetLabels};
use crate::error::{Error, Result};
use crate::identity::{IdentityLookup, SecondaryIndex};

/// A built transform and its start-up warnings (each starting with the YAML path it is about).
pub struct Built {
    /// The transform.
    pub network: Network,
    /// What the configuration asks for that this build does not do, or that has no effect.
    pub warnings: Vec<String>,
}

struct Cx<'a> {
    fields: &'a mut FieldRegistry,
    stage: &'a str,
    warnings: Vec<String>,
}

impl Cx<'_> {
    fn read(&mut self, path: &str, what: &str, name: &str) -> Result<FieldPath> {
        if name.is_empty() {
            return Err(Error::invalid(
                path,
                format!("`{what}` is empty: name a field"),
            ));
        }
        Ok(self.fields.read(self.stage, name))
    }

    fn write(&mut self, path: &str, what: &str, name: &str) -> Result<FieldPath> {
        if name.is_empty() {
            return Err(Error::invalid(
                path,
                format!("`{what}` is empty: name a field"),
            ));
        }
        Ok(self.fields.write(name))
    }

    fn warn(&mut self, path: &str, message: impl std::fmt::Display) {
        self.warnings.push(format!("{path}: {message}"));
    }
}

/// Builds the transform of `cfg`, whose YAML path is `base` (`parameters[1].transform.network`)
/// in stage `stage`, resolving field names in `fields`. `identities` is what `add_kubernetes`
/// looks addresses up in; without one, `add_kubernetes` rules are skipped with a warning.
pub fn build(
    cfg: &NetworkConfig,
    base: &str,
    stage: &str,
    fields: &mut FieldRegistry,
    identities: Option<Arc<dyn IdentityLookup>>,
) -> Result<Built> {
    let mut cx = Cx {
        fields,
        stage,
        warnings: Vec::new(),
    };
    let labels = subnet_labels(cfg, base)?;
    let needs_services = cfg.rules.iter().any(|r| r.r#type == RuleType::AddService);
    let services = if needs_services {
        Some(Arc::new(services(cfg, base)?))
    } else {
        for (key, set) in [
            ("servicesFile", cfg.services_file.is_some()),
            ("protocolsFile", cfg.protocols_file.is_some()),
        ] {
            if set {
                cx.warn(
                    &format!("{base}.{key}"),
                    "read by `add_service` rules only, and this stage has none",
                );
            }
        }
        None
    };
    let multus: Arc<[SecondaryIndex]> = cfg
        .kube_config
        .as_ref()
        .map(|k| k.multus_indexes())
        .unwrap_or_default()
        .into();
    let mut rules = Vec::new();
    let mut skipped_kube = Vec::new();
    for (i, rule) in cfg.rules.iter().enumerate() {
        let path = format!("{base}.rules[{i}]");
        for extra in rule.sections() {
            if Some(extra) != rule.r#type.section() {
                cx.warn(
                    &format!("{path}.{extra}"),
                    format!("ignored: a rule of type {} does not read it", rule.r#type),
                );
            }
        }
        match rule.r#type {
            RuleType::AddKubernetes => match &identities {
                Some(lookup) => {
                    rules.push(kube_rule(&mut cx, rule, &path, lookup.clone(), &multus)?)
                }
                None => {
                    // Still validated, so that the config is right when the cache comes.
                    section(&rule.kubernetes, &path, rule.r#type)?;
                    skipped_kube.push(path);
                }
            },
            RuleType::AddKubernetesInfra => {
                let r = section(&rule.kubernetes_infra, &path, rule.r#type)?;
                let p = format!("{path}.kubernetes_infra");
                let mut pairs = Vec::new();
                for (j, f) in r.namespace_name_fields.iter().enumerate() {
                    let fp = format!("{p}.namespaceNameFields[{j}]");
                    pairs.push((
                        cx.read(&fp, "namespace", &f.namespace)?,
                        cx.read(&fp, "name", &f.name)?,
                    ));
                }
                rules.push(Rule::Infra(Infra {
                    pairs,
                    output: cx.write(&p, "output", &r.output)?,
                    prefixes: r.infra_prefixes.clone().into(),
                    refs: r
                        .infra_refs
                        .iter()
                        .map(|x| (x.namespace.clone(), x.name.clone()))
                        .collect::<Vec<_>>()
                        .into(),
                    layers: [Value::str("app"), Value::str("infra")],
                }));
            }
            RuleType::AddSubnet => {
                let r = section(&rule.add_subnet, &path, rule.r#type)?;
                let p = format!("{path}.add_subnet");
                let prefix = r
                    .subnet_mask
                    .strip_prefix('/')
                    .filter(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
                    .and_then(|d| d.parse::<u8>().ok())
                    .filter(|n| *n <= 128)
                    .ok_or_else(|| {
                        Error::invalid(
                            format!("{p}.subnet_mask"),
                            format!(
                                "{:?} is not a prefix length: write it as upstream appends it to the address, `/24`",
                                r.subnet_mask
                            ),
                        )
                    })?;
                if prefix > 32 {
                    cx.warn(
                        &format!("{p}.subnet_mask"),
                        format!(
                            "/{prefix} applies to IPv6 addresses only: IPv4 ones get no subnet"
                        ),
                    );
                }
                rules.push(Rule::Subnet(SubnetRule::new(
                    cx.read(&p, "input", &r.input)?,
                    cx.write(&p, "output", &r.output)?,
                    prefix,
                )));
            }
            RuleType::AddLocation => {
                let r = section(&rule.add_location, &path, rule.r#type)?;
                let p = format!("{path}.add_location");
                let db = location_db(&r.file_path, &format!("{p}.file_path"))?;
                let input = cx.read(&p, "input", &r.input)?;
                if r.output.is_empty() {
                    return Err(Error::invalid(
                        &p,
                        "`output` is empty: name the output prefix",
                    ));
                }
                let outputs = [
                    "_CountryName",
                    "_CountryLongName",
                    "_RegionName",
                    "_CityName",
                    "_Latitude",
                    "_Longitude",
                ]
                .map(|s| cx.fields.write(&format!("{}{s}", r.output)));
                rules.push(Rule::Location(super::rules::LocationRule::new(
                    input,
                    outputs,
                    Arc::new(db),
                )));
            }
            RuleType::AddService => {
                let r = section(&rule.add_service, &path, rule.r#type)?;
                let p = format!("{path}.add_service");
                rules.push(Rule::Service {
                    port: cx.read(&p, "input", &r.input)?,
                    protocol: cx.read(&p, "protocol", &r.protocol)?,
                    output: cx.write(&p, "output", &r.output)?,
                    db: services
                        .clone()
                        .ok_or_else(|| Error::invalid(&p, "no services table"))?,
                    empty: Value::str(""),
                });
            }
            RuleType::ReinterpretDirection => {
                let p = format!("{base}.directionInfo");
                let d = cfg.direction_info.clone().unwrap_or_default();
                for (key, v) in [
                    ("flowDirectionField", &d.flow_direction_field),
                    ("reporterIPField", &d.reporter_ip_field),
                    ("srcHostField", &d.src_host_field),
                    ("dstHostField", &d.dst_host_field),
                ] {
                    if v.is_empty() {
                        return Err(Error::invalid(
                            format!("{p}.{key}"),
                            format!(
                                "rule {path} (reinterpret_direction) needs `directionInfo.{key}`"
                            ),
                        ));
                    }
                }
                let if_direction = if d.if_direction_field.is_empty() {
                    None
                } else {
                    Some(cx.fields.write(&d.if_direction_field))
                };
                rules.push(Rule::Direction {
                    reporter: cx.fields.read(stage, &d.reporter_ip_field),
                    src_host: cx.fields.read(stage, &d.src_host_field),
                    dst_host: cx.fields.read(stage, &d.dst_host_field),
                    direction: cx.fields.write(&d.flow_direction_field),
                    if_direction,
                });
            }
            RuleType::AddSubnetLabel => {
                let r = section(&rule.add_subnet_label, &path, rule.r#type)?;
                let p = format!("{path}.add_subnet_label");
                if labels.is_empty() {
                    cx.warn(
                        &path,
                        format!(
                            "add_subnet_label labels nothing: `{base}.subnetLabels` has no CIDR"
                        ),
                    );
                }
                rules.push(Rule::SubnetLabel {
                    input: cx.read(&p, "input", &r.input)?,
                    output: cx.write(&p, "output", &r.output)?,
                    labels: labels.clone(),
                });
            }
            RuleType::DecodeTcpFlags => {
                let r = section(&rule.decode_tcp_flags, &path, rule.r#type)?;
                let p = format!("{path}.decode_tcp_flags");
                let input = cx.read(&p, "input", &r.input)?;
                let output = cx.write(&p, "output", &r.output)?;
                rules.push(Rule::TcpFlags {
                    same: input == output,
                    input,
                    output,
                });
            }
        }
    }
    if let (Some(kube), Some(_)) = (&cfg.kube_config, &identities)
        && cfg
            .rules
            .iter()
            .any(|r| r.r#type == RuleType::AddKubernetes)
    {
        for (i, net) in kube.secondary_networks.iter().enumerate() {
            let p = format!("{base}.kubeConfig.secondaryNetworks[{i}].index");
            if net.index.is_empty() {
                cx.warn(&p, "empty: this secondary network indexes nothing");
            }
            for key in net.index.keys() {
                match key.as_str() {
                    "ip" | "mac" | "interface" => {}
                    "udn" => cx.warn(
                        &format!("{p}.udn"),
                        "not implemented yet (issue 11): user-defined networks (OVN-Kubernetes' \
                         `k8s.ovn.org/pod-networks` annotation and the UDN custom resources) are \
                         not indexed, and no flow is looked up by its `udnsField`",
                    ),
                    other => cx.warn(
                        &format!("{p}.{other}"),
                        "not an index key (expected ip, mac, interface or udn): ignored, as upstream does",
                    ),
                }
            }
        }
        if !kube.managed_cni.is_empty() {
            cx.warn(
                &format!("{base}.kubeConfig.managedCNI"),
                "not implemented yet (issue 11): the node addresses a CNI annotates (OVN-Kubernetes' \
                 management port address, from `k8s.ovn.org/node-subnets`) are not read; nodes are \
                 known by their status addresses only",
            );
        }
    }
    if !skipped_kube.is_empty() {
        let mut msg = format!(
            "add_kubernetes has no source of Kubernetes identities here (a program registering the \
             stage with `netobserv_enrich::register` rather than `register_with_kube`, or \
             `--check`, which does not connect): {} skipped, flows pass without their Kubernetes fields",
            skipped_kube.join(", ")
        );
        if cfg.kube_config.is_some() {
            msg.push_str("; `kubeConfig` is not read");
        }
        if cfg
            .rules
            .iter()
            .any(|r| r.r#type == RuleType::ReinterpretDirection)
        {
            msg.push_str("; reinterpret_direction rewrites only flows that arrive with host IPs");
        }
        cx.warn(base, msg);
    }
    if let Some(name) = &cfg.cluster_name {
        rules.push(Rule::ClusterName(Value::str(name)));
        cx.fields.write(FieldId::K8sClusterName.name());
    }
    let warnings = cx.warnings;
    Ok(Built {
        network: Network::new(rules),
        warnings,
    })
}

fn section<'a, T>(s: &'a Option<T>, path: &str, t: RuleType) -> Result<&'a T> {
    s.as_ref().ok_or_else(|| {
        let key = t.section().unwrap_or_default();
        Error::invalid(path, format!("a rule of type {t} needs a `{key}:` section"))
    })
}

fn kube_rule(
    cx: &mut Cx<'_>,
    rule: &NetworkRule,
    path: &str,
    lookup: Arc<dyn IdentityLookup>,
    multus: &Arc<[SecondaryIndex]>,
) -> Result<Rule> {
    let r = section(&rule.kubernetes, path, rule.r#type)?;
    let p = format!("{path}.kubernetes");
    let ip = cx.read(&p, "ipField", &r.ip_field)?;
    if r.output.is_empty() {
        return Err(Error::invalid(
            &p,
            "`output` is empty: name the output prefix (`SrcK8S`)",
        ));
    }
    let otel = match r.assignee.as_deref() {
        None | Some("") => false,
        Some("otel") => true,
        Some(other) => {
            return Err(Error::invalid(
                format!("{p}.assignee"),
                format!("{other:?} is not an assignee (expected `otel`, or no assignee)"),
            ));
        }
    };
    // As upstream: an empty prefix copies nothing, and the filters only act with a prefix.
    let filter =
        |prefix: &Option<String>, include: &[String], exclude: &[String], max_len: Option<i64>| {
            prefix
                .as_deref()
                .filter(|p| !p.is_empty())
                .map(|prefix| TagFilter {
                    prefix: prefix.to_string(),
                    include: include.to_vec(),
                    exclude: exclude.to_vec(),
                    max_len,
                })
        };
    let labels = filter(
        &r.labels_prefix,
        &r.label_inclusions,
        &r.label_exclusions,
        r.label_value_max_length,
    );
    let annotations = filter(
        &r.annotations_prefix,
        &r.annotation_inclusions,
        &r.annotation_exclusions,
        r.annotation_value_max_length,
    );
    for (what, on, keys) in [
        (
            "labels_prefix",
            labels.is_some(),
            [
                ("label_inclusions", !r.label_inclusions.is_empty()),
                ("label_exclusions", !r.label_exclusions.is_empty()),
                ("label_value_max_length", r.label_value_max_length.is_some()),
            ],
        ),
        (
            "annotations_prefix",
            annotations.is_some(),
            [
                ("annotation_inclusions", !r.annotation_inclusions.is_empty()),
                ("annotation_exclusions", !r.annotation_exclusions.is_empty()),
                (
                    "annotation_value_max_length",
                    r.annotation_value_max_length.is_some(),
                ),
            ],
        ),
    ] {
        for (key, set) in keys {
            if set && !on {
                cx.warn(
                    &format!("{p}.{key}"),
                    format!("has no effect without a non-empty `{what}`"),
                );
            }
        }
    }
    if otel {
        cx.warn(
            &format!("{p}.assignee"),
            "the OpenTelemetry names are written, except `k8s.{pod,node,service}.{name,uid}` (not implemented yet, issue 11)",
        );
    }
    let output = if otel {
        KubeOutput::Named(Box::new(kube_keys(cx, &r.output, true)))
    } else if r.output == "SrcK8S" {
        KubeOutput::Src
    } else if r.output == "DstK8S" {
        KubeOutput::Dst
    } else {
        KubeOutput::Named(Box::new(kube_keys(cx, &r.output, false)))
    };
    if matches!(output, KubeOutput::Src | KubeOutput::Dst) {
        for s in KUBE_SUFFIXES {
            cx.fields.write(&format!("{}{s}", r.output));
        }
    }
    // As upstream, an empty field name is no field; and the fields are read only for the
    // secondary networks (the operator names them in every configuration: no warning without).
    let named = |f: &Option<String>| f.as_deref().filter(|f| !f.is_empty()).map(str::to_string);
    let mac_field = named(&r.mac_field);
    let interfaces_field = named(&r.interfaces_field);
    let mut rule = KubeRule::new(ip, output, r.add_zone, lookup);
    if !multus.is_empty() {
        let mut read = |f: Option<String>| f.map(|f| cx.fields.read(cx.stage, &f));
        let mac = read(mac_field);
        let interfaces = read(interfaces_field);
        rule = rule.with_secondary(SecondaryFields::new(multus.clone(), mac, interfaces));
    }
    if labels.is_some() || annotations.is_some() {
        rule = rule.with_tags(TagCopy::new(labels, annotations));
    }
    Ok(Rule::Kube(rule))
}

/// The fields `add_kubernetes` writes after its output prefix (e.g. `SrcK8S`), in the
/// order of the rule's outputs.
const KUBE_SUFFIXES: [&str; 9] = [
    "_Namespace",
    "_Name",
    "_Type",
    "_OwnerName",
    "_OwnerType",
    "_NetworkName",
    "_HostIP",
    "_HostName",
    "_Zone",
];

fn kube_keys(cx: &mut Cx<'_>, out: &str, otel: bool) -> [FieldPath; 9] {
    let names: [&str; 9] = if otel {
        [
            "k8s.namespace.name",
            "k8s.name",
            "k8s.type",
            "k8s.owner.name",
            "k8s.owner.type",
            "k8s.net.name",
            "k8s.host.ip",
            "k8s.host.name",
            "k8s.zone",
        ]
    } else {
        KUBE_SUFFIXES
    };
    names.map(|n| cx.fields.write(&format!("{out}{n}")))
}

fn subnet_labels(cfg: &NetworkConfig, base: &str) -> Result<Arc<SubnetLabels>> {
    let mut parsed = Vec::new();
    for (i, l) in cfg.subnet_labels.iter().enumerate() {
        let mut cidrs = Vec::new();
        for (j, c) in l.cidrs.iter().enumerate() {
            let cidr = Cidr::parse(c).map_err(|e| {
                Error::invalid(
                    format!("{base}.subnetLabels[{i}].cidrs[{j}]"),
                    format!("label {:?}: {e}", l.name),
                )
            })?;
            cidrs.push(cidr);
        }
        parsed.push((l.name.as_str(), cidrs));
    }
    Ok(Arc::new(SubnetLabels::new(parsed)))
}

fn read_file(file: &str, path: String) -> Result<String> {
    std::fs::read_to_string(file).map_err(|source| Error::Read {
        path,
        file: file.into(),
        source,
    })
}

fn services(cfg: &NetworkConfig, base: &str) -> Result<ServiceNames> {
    let protocols = match &cfg.protocols_file {
        Some(f) => read_file(f, format!("{base}.protocolsFile"))?,
        None => EMBEDDED_PROTOCOLS.to_string(),
    };
    let services = match &cfg.services_file {
        Some(f) => read_file(f, format!("{base}.servicesFile"))?,
        None => EMBEDDED_SERVICES.to_string(),
    };
    Ok(ServiceNames::parse(&protocols, &services))
}

fn location_db(file: &str, path: &str) -> Result<LocationDb> {
    if file.is_empty() {
        return Err(Error::invalid(
            path,
            "empty: this build does not download a location database; set it to an ip2location BIN file (such as IP2LOCATION-LITE-DB9.BIN)",
        ));
    }
    LocationDb::open(Path::new(file)).map_err(|e| match e {
        OpenError::Read(source) => Error::Read {
            path: path.to_string(),
            file: file.into(),
            source,
        },
        OpenError::Format(reason) => Error::Location {
            path: path.to_string(),
            file: file.into(),
            reason,
        },
    })
}
