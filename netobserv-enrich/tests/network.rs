//! `transform: network`: golden cases of every rule (`testdata/network/golden.yaml`), the
//! operator's network stages run unchanged through the stage registry, `add_kubernetes` with an
//! in-memory identity table, and configuration errors and warnings with their YAML paths.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use netobserv_enrich::network::location::{BinWriter, Location};
use netobserv_enrich::network::{self, NetworkConfig};
use netobserv_enrich::{IdentityLookup, StaticIdentities};
use netobserv_flow::codec::json;
use netobserv_flow::config::{Config, StageSection};
use netobserv_flow::field::FieldRegistry;
use netobserv_flow::flow::K8sIdentity;
use netobserv_flow::pipeline::{Metrics, Pipeline, Shutdown, StageRegistry, Transform};
use serde_json::Value as Json;

fn testdata(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../testdata")
        .join(rel)
}

fn ip(s: &str) -> IpAddr {
    s.parse().expect("test address")
}

/// The files the golden cases name: a services table and a location database.
fn fixtures(dir: &Path) -> Result<(PathBuf, PathBuf)> {
    let services = dir.join("services");
    std::fs::write(
        &services,
        "# site table\nmy-console 8443/tcp\nmy-dns 53/udp\n",
    )?;
    let us = Location {
        country_short: "US".into(),
        country_long: "United States of America".into(),
        region: "California".into(),
        city: "Mountain View".into(),
        latitude: 37.38605,
        longitude: -122.08385,
    };
    let fr = Location {
        country_short: "FR".into(),
        country_long: "France".into(),
        region: "Ile-de-France".into(),
        city: "Paris".into(),
        latitude: 48.85341,
        longitude: 2.3488,
    };
    let db = BinWriter::new()
        .range(ip("8.8.8.0"), us)
        .range(ip("8.8.9.0"), Location::default())
        .range(ip("2a01:e00::"), fr)
        .range(ip("2a01:e01::"), Location::default())
        .build();
    let location = dir.join("IP2LOCATION-TEST-DB9.BIN");
    std::fs::write(&location, db)?;
    Ok((services, location))
}

fn parse_network(yaml: &Json) -> Result<NetworkConfig> {
    Ok(serde_json::from_value(yaml.clone())?)
}

fn run(net: &mut network::Network, input: &Json) -> Result<Json> {
    let mut flow = json::decode(serde_json::to_string(input)?.as_bytes())?;
    assert!(
        net.transform(&mut flow),
        "the network transform never drops"
    );
    Ok(serde_json::from_str(&json::to_string(&flow))?)
}

#[test]
fn golden_cases_of_every_rule() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let (services, location) = fixtures(dir.path())?;
    let text = std::fs::read_to_string(testdata("network/golden.yaml"))?
        .replace("@SERVICES_FILE@", &services.display().to_string())
        .replace("@LOCATION_DB@", &location.display().to_string());
    let cases: Vec<Json> = serde_yaml_ng::from_str(&text)?;
    let mut rules_seen = std::collections::BTreeSet::new();
    let mut flows = 0;
    for case in &cases {
        let name = case["name"].as_str().context("case name")?;
        let cfg = parse_network(&case["network"]).with_context(|| name.to_string())?;
        rules_seen.extend(cfg.rules.iter().map(|r| r.r#type.name()));
        let built = network::build(&cfg, "golden", "golden", &mut FieldRegistry::new(), None)
            .with_context(|| name.to_string())?;
        let want_warnings: Vec<&str> = case["warnings"]
            .as_array()
            .map(|w| w.iter().filter_map(Json::as_str).collect())
            .unwrap_or_default();
        assert_eq!(
            built.warnings.len(),
            want_warnings.len(),
            "{name}: {:?}",
            built.warnings
        );
        for (got, want) in built.warnings.iter().zip(want_warnings) {
            assert!(got.contains(want), "{name}: {got:?} lacks {want:?}");
        }
        let mut net = built.network;
        for f in case["flows"].as_array().context("flows")? {
            let got = run(&mut net, &f["in"])?;
            if got != f["out"] {
                bail!(
                    "{name}:\n  in:   {}\n  got:  {got}\n  want: {}",
                    f["in"],
                    f["out"]
                );
            }
            flows += 1;
        }
    }
    // Every rule but add_kubernetes (tested below with an identity table) has golden cases.
    assert_eq!(
        rules_seen.into_iter().collect::<Vec<_>>(),
        [
            "add_kubernetes_infra",
            "add_location",
            "add_service",
            "add_subnet",
            "add_subnet_label",
            "decode_tcp_flags",
            "reinterpret_direction",
        ]
    );
    assert!(flows >= 35, "{flows}");
    Ok(())
}

fn identities() -> StaticIdentities {
    let pod = |name: &str, ns: &str, owner: &str, host: &str, node: &str| {
        let mut id = K8sIdentity::default();
        id.name = Some(name.into());
        id.namespace = Some(ns.into());
        id.kind = Some("Pod".into());
        id.owner_name = Some(owner.into());
        id.owner_type = Some("Deployment".into());
        id.host_ip = Some(ip(host));
        id.host_name = Some(node.into());
        id.zone = Some(format!("zone-{node}").into());
        id
    };
    StaticIdentities::new()
        .with(
            ip("10.128.0.5"),
            pod("web-1", "shop", "web", "10.0.0.1", "n1"),
        )
        .with(ip("fd01::7"), pod("db-0", "shop", "db", "10.0.0.2", "n2"))
}

#[test]
fn add_kubernetes_with_an_identity_table_feeds_reinterpret_direction() -> Result<()> {
    let cfg: NetworkConfig = serde_yaml_ng::from_str(
        r#"
rules:
  - type: add_kubernetes
    kubernetes: {ipField: SrcAddr, macField: SrcMac, interfacesField: Interfaces, udnsField: Udns, output: SrcK8S}
  - type: add_kubernetes
    kubernetes: {ipField: DstAddr, output: DstK8S, add_zone: true}
  - type: add_kubernetes
    kubernetes: {ipField: XlatSrcAddr, output: XlatSrcK8S}
  - type: add_kubernetes
    kubernetes: {ipField: DstAddr, output: "dst.", assignee: otel}
  - type: reinterpret_direction
directionInfo:
  reporterIPField: AgentIP
  srcHostField: SrcK8S_HostIP
  dstHostField: DstK8S_HostIP
  flowDirectionField: FlowDirection
"#,
    )?;
    let lookup: Arc<dyn IdentityLookup> = Arc::new(identities());
    let built = network::build(&cfg, "p", "s", &mut FieldRegistry::new(), Some(lookup))?;
    // Only the otel assignee's missing names are warned about.
    assert_eq!(built.warnings.len(), 1, "{:?}", built.warnings);
    assert!(
        built.warnings[0].contains("kubernetes.assignee"),
        "{:?}",
        built.warnings
    );
    let mut net = built.network;
    let got = run(
        &mut net,
        &serde_json::json!({"AgentIP": "10.0.0.1", "SrcAddr": "10.128.0.5", "DstAddr": "fd01::7",
            "XlatSrcAddr": "10.128.0.5", "FlowDirection": 0}),
    )?;
    let want = serde_json::json!({
        "AgentIP": "10.0.0.1", "SrcAddr": "10.128.0.5", "DstAddr": "fd01::7", "XlatSrcAddr": "10.128.0.5",
        // The source's node reported it: egress.
        "FlowDirection": 1,
        "SrcK8S_Name": "web-1", "SrcK8S_Namespace": "shop", "SrcK8S_Type": "Pod",
        "SrcK8S_OwnerName": "web", "SrcK8S_OwnerType": "Deployment",
        "SrcK8S_HostIP": "10.0.0.1", "SrcK8S_HostName": "n1",
        "DstK8S_Name": "db-0", "DstK8S_Namespace": "shop", "DstK8S_Type": "Pod",
        "DstK8S_OwnerName": "db", "DstK8S_OwnerType": "Deployment",
        "DstK8S_HostIP": "10.0.0.2", "DstK8S_HostName": "n2", "DstK8S_Zone": "zone-n2",
        "XlatSrcK8S_Name": "web-1", "XlatSrcK8S_Namespace": "shop", "XlatSrcK8S_Type": "Pod",
        "XlatSrcK8S_OwnerName": "web", "XlatSrcK8S_OwnerType": "Deployment",
        "XlatSrcK8S_HostIP": "10.0.0.1", "XlatSrcK8S_HostName": "n1",
        "dst.k8s.name": "db-0", "dst.k8s.namespace.name": "shop", "dst.k8s.type": "Pod",
        "dst.k8s.owner.name": "db", "dst.k8s.owner.type": "Deployment",
        "dst.k8s.host.ip": "10.0.0.2", "dst.k8s.host.name": "n2",
    });
    assert_eq!(got, want);
    // An address the table does not know: no identity, and no direction change.
    let got = run(
        &mut net,
        &serde_json::json!({"AgentIP": "10.0.0.1", "SrcAddr": "8.8.8.8", "FlowDirection": 0}),
    )?;
    assert_eq!(
        got,
        serde_json::json!({"AgentIP": "10.0.0.1", "SrcAddr": "8.8.8.8", "FlowDirection": 0})
    );
    Ok(())
}

#[test]
fn add_kubernetes_over_the_kube_index() -> Result<()> {
    use netobserv_enrich::kube::{Event, IndexConfig, KubeIndex, Meta, Node, Object, Pod, Service};
    let ip = |s: &str| -> std::net::IpAddr { s.parse().unwrap() };
    let index = Arc::new(KubeIndex::new(IndexConfig::default()));
    index.apply(
        [
            Object::Node(Node::new("n1", [ip("10.0.0.1")]).with_zone("z1")),
            Object::ReplicaSet(Meta::new("shop", "web-7c", "rs").with_owner("Deployment", "web")),
            Object::Pod(
                Pod::new(
                    Meta::new("shop", "web-7c-a", "p").with_owner("ReplicaSet", "web-7c"),
                    [ip("10.128.0.5")],
                )
                .on_node("n1", ip("10.0.0.1")),
            ),
            Object::Service(Service::new(Meta::new("shop", "db", "s"), [ip("fd02::7")])),
        ]
        .map(Event::Apply),
    );
    let cfg: NetworkConfig = serde_yaml_ng::from_str(
        r#"
rules:
  - type: add_kubernetes
    kubernetes: {ipField: SrcAddr, output: SrcK8S, add_zone: true}
  - type: add_kubernetes
    kubernetes: {ipField: DstAddr, output: DstK8S, add_zone: true}
"#,
    )?;
    let lookup: Arc<dyn IdentityLookup> = index;
    let mut net = network::build(&cfg, "p", "s", &mut FieldRegistry::new(), Some(lookup))?.network;
    let got = run(
        &mut net,
        &serde_json::json!({"SrcAddr": "10.128.0.5", "DstAddr": "fd02::7"}),
    )?;
    let want = serde_json::json!({
        "SrcAddr": "10.128.0.5", "DstAddr": "fd02::7",
        "SrcK8S_Name": "web-7c-a", "SrcK8S_Namespace": "shop", "SrcK8S_Type": "Pod",
        "SrcK8S_OwnerName": "web", "SrcK8S_OwnerType": "Deployment", "SrcK8S_NetworkName": "primary",
        "SrcK8S_HostIP": "10.0.0.1", "SrcK8S_HostName": "n1", "SrcK8S_Zone": "z1",
        "DstK8S_Name": "db", "DstK8S_Namespace": "shop", "DstK8S_Type": "Service",
        "DstK8S_OwnerName": "db", "DstK8S_OwnerType": "Service", "DstK8S_NetworkName": "primary",
    });
    assert_eq!(got, want);
    Ok(())
}

/// Upstream's Multus lookup: flows looked up by the keys of their MAC, address and interfaces
/// first (`<output>_NetworkName` the network's name), then by address (`primary`).
#[test]
fn add_kubernetes_on_secondary_networks() -> Result<()> {
    use netobserv_enrich::SecondaryIndex;
    use netobserv_enrich::kube::{Event, IndexConfig, KubeIndex, Meta, Object, Pod, PodNetwork};
    let mac = |s: &str| s.parse().unwrap();
    let index_of = |ip, mac, interface| SecondaryIndex { ip, mac, interface };
    let indexes = [index_of(false, true, true), index_of(true, true, false)];
    let index = Arc::new(KubeIndex::new(
        IndexConfig::default().with_secondary_networks(indexes),
    ));
    index.apply([Event::Apply(Object::Pod(
        Pod::new(
            Meta::new("shop", "storage-gw-0", "p").with_owner("StatefulSet", "storage-gw"),
            [ip("10.128.0.30")],
        )
        .on_node("n1", ip("10.0.0.1"))
        .with_network(
            PodNetwork::new("shop/macvlan-storage", "net1")
                .with_ips([ip("192.168.10.5"), ip("fd10::5")])
                .with_mac(mac("86:1d:96:ff:55:0d")),
        )
        .with_network(
            PodNetwork::new("shop/sriov-data", "net2").with_mac(mac("a2:4c:11:9e:00:07")),
        ),
    ))]);
    let rules = r#"
rules:
  - type: add_kubernetes
    kubernetes: {ipField: SrcAddr, macField: SrcMac, interfacesField: Interfaces, output: SrcK8S}
  - type: add_kubernetes
    kubernetes: {ipField: DstAddr, macField: DstMac, output: DstK8S}
"#;
    let with_networks = format!(
        "{rules}kubeConfig:\n  secondaryNetworks:\n    - name: unused\n      index: {{mac: null, interface: null}}\n    - index: {{ip: null, mac: null}}\n"
    );
    let build = |yaml: &str| -> Result<network::Built> {
        let cfg: NetworkConfig = serde_yaml_ng::from_str(yaml)?;
        let lookup: Arc<dyn IdentityLookup> = index.clone();
        Ok(network::build(
            &cfg,
            "p",
            "s",
            &mut FieldRegistry::new(),
            Some(lookup),
        )?)
    };
    let built = build(&with_networks)?;
    assert!(built.warnings.is_empty(), "{:?}", built.warnings);
    let mut net = built.network;
    let identity = |side: &str, network: &str| -> Json {
        serde_json::json!({
            format!("{side}_Name"): "storage-gw-0", format!("{side}_Namespace"): "shop",
            format!("{side}_Type"): "Pod", format!("{side}_OwnerName"): "storage-gw",
            format!("{side}_OwnerType"): "StatefulSet", format!("{side}_NetworkName"): network,
            format!("{side}_HostIP"): "10.0.0.1", format!("{side}_HostName"): "n1",
        })
    };
    let merged = |parts: &[&Json]| -> Json {
        let mut out = serde_json::Map::new();
        for p in parts {
            out.extend(p.as_object().unwrap().clone());
        }
        Json::Object(out)
    };
    // Source: macvlan-storage by `~192.168.10.5~86:1d:96:ff:55:0d` (the MAC written in upper
    // case); destination: sriov-data has no address, and the rule reads no interface list, so
    // by address: the pod on the cluster network.
    let flow = serde_json::json!({
        "SrcAddr": "192.168.10.5", "SrcMac": "86:1D:96:FF:55:0D", "Interfaces": ["eth0", "br-ex"],
        "DstAddr": "10.128.0.30", "DstMac": "a2:4c:11:9e:00:07"
    });
    let got = run(&mut net, &flow)?;
    let mut want_flow = flow.clone();
    want_flow["SrcMac"] = "86:1d:96:ff:55:0d".into();
    let want = merged(&[
        &want_flow,
        &identity("SrcK8S", "shop/macvlan-storage"),
        &identity("DstK8S", "primary"),
    ]);
    assert_eq!(got, want);
    // sriov-data by `net2~~a2:4c:11:9e:00:07`: the second interface of the list.
    let flow = serde_json::json!({
        "SrcAddr": "10.128.0.30", "SrcMac": "a2:4c:11:9e:00:07", "Interfaces": ["eth0", "net2"],
        "DstAddr": "fd10::5", "DstMac": "86:1d:96:ff:55:0d"
    });
    let got = run(&mut net, &flow)?;
    let want = merged(&[
        &flow,
        &identity("SrcK8S", "shop/sriov-data"),
        &identity("DstK8S", "shop/macvlan-storage"),
    ]);
    assert_eq!(got, want);
    // Without a MAC, no network gives a key (both name `mac`): the secondary address is no
    // cluster address, nothing is written.
    let flow = serde_json::json!({"SrcAddr": "192.168.10.5", "Interfaces": ["net1"]});
    assert_eq!(run(&mut net, &flow)?, flow);
    // Without `secondaryNetworks`, the same flows are looked up by address only.
    let mut net = build(rules)?.network;
    let flow = serde_json::json!({
        "SrcAddr": "10.128.0.30", "SrcMac": "a2:4c:11:9e:00:07", "Interfaces": ["eth0", "net2"],
        "DstAddr": "fd10::5", "DstMac": "86:1d:96:ff:55:0d"
    });
    let got = run(&mut net, &flow)?;
    assert_eq!(got, merged(&[&flow, &identity("SrcK8S", "primary")]));
    Ok(())
}

/// Runs `config` with its ingest and write ends replaced by files: `input` lines in, the
/// output lines back.
async fn run_pipeline(
    mut config: Config,
    registry: &StageRegistry,
    input: &[Json],
) -> Result<Vec<Json>> {
    let dir = tempfile::tempdir()?;
    let (inp, out) = (dir.path().join("in.jsonl"), dir.path().join("out.jsonl"));
    let lines: Vec<String> = input.iter().map(Json::to_string).collect();
    std::fs::write(&inp, lines.join("\n") + "\n")?;
    for p in &mut config.parameters {
        if p.ingest.is_some() {
            p.ingest = Some(StageSection::new("file").with_settings(
                "file",
                serde_json::json!({"filename": inp.display().to_string()}),
            )?);
        }
        if p.write.is_some() {
            p.write = Some(StageSection::new("file").with_settings(
                "file",
                serde_json::json!({"filename": out.display().to_string()}),
            )?);
        }
    }
    let pipeline = Pipeline::build(&config, registry, Metrics::default()).await?;
    let report = pipeline.run(Shutdown::new().1).await?;
    assert!(report.failures.is_empty(), "{:?}", report.failures);
    let mut got = Vec::new();
    for line in std::fs::read_to_string(&out)?.lines() {
        got.push(serde_json::from_str(line)?);
    }
    Ok(got)
}

#[tokio::test]
async fn the_operators_network_stages_run_unchanged() -> Result<()> {
    let text = std::fs::read_to_string(testdata("configs/operator-network.yaml"))?;
    let config = Config::from_yaml(&text)?;
    let mut registry = StageRegistry::with_builtins();
    netobserv_enrich::register(&mut registry);
    // Flows as an agent sends them, plus host IPs as a flow enriched upstream carries them.
    let input = [
        serde_json::json!({"AgentIP": "10.0.0.1", "SrcAddr": "10.128.0.5", "DstAddr": "172.30.0.10",
            "SrcK8S_HostIP": "10.0.0.1", "DstK8S_HostIP": "10.0.0.2", "FlowDirection": 0, "Flags": 18,
            "SrcK8S_Namespace": "shop", "SrcK8S_Name": "web-1"}),
        serde_json::json!({"AgentIP": "10.0.0.2", "SrcAddr": "10.0.3.4", "DstAddr": "8.8.8.8",
            "FlowDirection": 1, "Flags": 1}),
    ];
    // The missing cache is a pipeline start-up warning (what `--check` counts), not only a log.
    let warnings = Pipeline::build(&config, &registry, Metrics::default())
        .await?
        .warnings()
        .to_vec();
    assert!(
        warnings.iter().any(|w| w.starts_with("stage \"enrich\": ")
            && w.contains("add_kubernetes has no source of Kubernetes identities")),
        "{warnings:?}"
    );
    let mut got = run_pipeline(config, &registry, &input).await?;
    got.sort_by_key(|f| f["AgentIP"].as_str().map(str::to_string));
    let want = [
        serde_json::json!({"AgentIP": "10.0.0.1", "SrcAddr": "10.128.0.5", "DstAddr": "172.30.0.10",
            "SrcK8S_HostIP": "10.0.0.1", "DstK8S_HostIP": "10.0.0.2", "FlowDirection": 1,
            "Flags": ["SYN", "ACK"], "SrcK8S_Namespace": "shop", "SrcK8S_Name": "web-1",
            "K8S_FlowLayer": "app", "SrcSubnetLabel": "Pods", "DstSubnetLabel": "Services"}),
        serde_json::json!({"AgentIP": "10.0.0.2", "SrcAddr": "10.0.3.4", "DstAddr": "8.8.8.8",
            "FlowDirection": 1, "Flags": ["FIN"], "K8S_FlowLayer": "infra",
            "SrcSubnetLabel": "Machines"}),
    ];
    assert_eq!(got, want);
    Ok(())
}

#[tokio::test]
async fn the_operators_network_stage_warns_about_the_missing_cache() -> Result<()> {
    let text = std::fs::read_to_string(testdata("configs/operator-network.yaml"))?;
    let config = Config::from_yaml(&text)?;
    let enrich = config
        .stage("enrich")
        .and_then(|p| p.transform.as_ref())
        .context("enrich stage")?;
    let cfg: NetworkConfig = enrich
        .parse("parameters[1].transform", "network")?
        .context("network section")?;
    let built = network::build(
        &cfg,
        "parameters[1].transform.network",
        "enrich",
        &mut FieldRegistry::new(),
        None,
    )?;
    assert_eq!(built.warnings.len(), 1, "{:?}", built.warnings);
    let w = &built.warnings[0];
    for part in [
        "parameters[1].transform.network:",
        "add_kubernetes has no source of Kubernetes identities",
        "parameters[1].transform.network.rules[0], parameters[1].transform.network.rules[1] skipped",
        "`kubeConfig` is not read",
        "reinterpret_direction",
    ] {
        assert!(w.contains(part), "{part:?} not in {w}");
    }
    // add_kubernetes skipped: reinterpret_direction, decode_tcp_flags, add_kubernetes_infra run.
    assert_eq!(built.network.len(), 3);
    Ok(())
}

async fn build_error(network: &str) -> String {
    let yaml = format!(
        "pipeline:\n  - name: in\n  - name: enrich\n    follows: in\n  - name: out\n    follows: enrich\n\
         parameters:\n  - name: in\n    ingest: {{type: stdin}}\n  - name: enrich\n    transform:\n      type: network\n      network:\n{}\n  - name: out\n    write: {{type: none}}\n",
        network
            .lines()
            .map(|l| format!("        {l}"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    let config = Config::from_yaml(&yaml).unwrap_or_else(|e| panic!("{e}\n{yaml}"));
    let mut registry = StageRegistry::with_builtins();
    netobserv_enrich::register(&mut registry);
    match Pipeline::build(&config, &registry, Metrics::default()).await {
        Err(e) => {
            assert!(e.is_config(), "{e}");
            e.to_string()
        }
        Ok(_) => panic!("built: {network}"),
    }
}

#[tokio::test]
async fn unknown_keys_are_refused_with_their_yaml_path() {
    for (network, path, key) in [
        (
            "rules:\n  - type: add_subnet\n    add_subnet: {input: SrcAddr, output: s, subnet_mask: /8, inptu: x}",
            "parameters[1].transform.network.rules[0].add_subnet.inptu",
            "inptu",
        ),
        (
            "rules: []\nsubnetLabel: []",
            "parameters[1].transform.network.subnetLabel",
            "subnetLabel",
        ),
        (
            "rules: []\ndirectionInfo: {reporterIpField: AgentIP}",
            "parameters[1].transform.network.directionInfo.reporterIpField",
            "reporterIpField",
        ),
        (
            "rules:\n  - type: add_kubernetes\n    kubernetes: {ipField: SrcAddr, output: SrcK8S, addZone: true}",
            "parameters[1].transform.network.rules[0].kubernetes.addZone",
            "addZone",
        ),
        (
            "rules: []\nkubeConfig: {trackedKind: [Deployment]}",
            "parameters[1].transform.network.kubeConfig.trackedKind",
            "trackedKind",
        ),
        (
            "subnetLabels:\n  - {name: a, cidr: [10.0.0.0/8]}",
            "parameters[1].transform.network.subnetLabels[0].cidr",
            "cidr",
        ),
    ] {
        let e = build_error(network).await;
        assert!(e.contains(path), "{path} not in: {e}");
        assert!(e.contains(&format!("unknown field `{key}`")), "{e}");
    }
    let e = build_error("rules:\n  - type: add_kubernets").await;
    assert!(
        e.contains("parameters[1].transform.network.rules[0].type"),
        "{e}"
    );
    assert!(
        e.contains("add_kubernetes_infra") && e.contains("decode_tcp_flags"),
        "{e}"
    );
}

#[tokio::test]
async fn settings_that_cannot_work_are_start_up_errors() {
    for (network, want) in [
        (
            "rules:\n  - type: add_location\n    add_location: {input: DstAddr, output: Loc, file_path: /nonexistent/db.bin}",
            "parameters[1].transform.network.rules[0].add_location.file_path): cannot read /nonexistent/db.bin",
        ),
        (
            "rules:\n  - type: add_location\n    add_location: {input: DstAddr, output: Loc}",
            "does not download a location database",
        ),
        (
            "rules:\n  - type: add_subnet\n    add_subnet: {input: SrcAddr, output: s, subnet_mask: \"24\"}",
            "rules[0].add_subnet.subnet_mask): \"24\" is not a prefix length",
        ),
        (
            "subnetLabels:\n  - {name: Pods, cidrs: [10.0.0.0/8, 10.300.0.0/16]}",
            "subnetLabels[0].cidrs[1]): label \"Pods\": invalid CIDR address \"10.300.0.0/16\"",
        ),
        (
            "rules:\n  - type: reinterpret_direction\ndirectionInfo: {reporterIPField: AgentIP, srcHostField: a, dstHostField: b}",
            "directionInfo.flowDirectionField): rule parameters[1].transform.network.rules[0] (reinterpret_direction) needs",
        ),
        (
            "rules:\n  - type: decode_tcp_flags",
            "rules[0]): a rule of type decode_tcp_flags needs a `decode_tcp_flags:` section",
        ),
        (
            "rules:\n  - type: add_service\n    add_service: {input: DstPort, output: svc}",
            "rules[0].add_service): `protocol` is empty",
        ),
        (
            "servicesFile: /nonexistent/services\nrules:\n  - type: add_service\n    add_service: {input: DstPort, protocol: Proto, output: svc}",
            "servicesFile): cannot read /nonexistent/services",
        ),
    ] {
        let e = build_error(network).await;
        assert!(e.contains(want), "{want:?} not in: {e}");
        assert!(e.contains("\"enrich\""), "the stage is named: {e}");
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let bad = dir.path().join("bad.bin");
    std::fs::write(&bad, [0u8; 100]).expect("write");
    let e = build_error(&format!(
        "rules:\n  - type: add_location\n    add_location: {{input: DstAddr, output: Loc, file_path: {}}}",
        bad.display()
    ))
    .await;
    assert!(
        e.contains("is not an ip2location BIN database: database type 0"),
        "{e}"
    );
}

#[test]
fn what_this_build_does_not_do_is_warned_about() -> Result<()> {
    let cfg: NetworkConfig = serde_yaml_ng::from_str(
        r#"
rules:
  - type: add_kubernetes
    kubernetes: {ipField: SrcAddr, output: SrcK8S, label_inclusions: [app]}
  - type: add_subnet
    add_subnet: {input: SrcAddr, output: s, subnet_mask: /64}
    add_service: {input: SrcPort, output: x, protocol: Proto}
  - type: add_subnet_label
    add_subnet_label: {input: SrcAddr, output: SrcSubnetLabel}
servicesFile: /etc/services
kubeConfig:
  secondaryNetworks:
    - name: ovn-k
      index: {udn: null}
    - index: {mac: null, vlan: null}
    - index: {}
  managedCNI: [ovn]
"#,
    )?;
    let lookup: Arc<dyn IdentityLookup> = Arc::new(identities());
    let w = network::build(&cfg, "n", "s", &mut FieldRegistry::new(), Some(lookup))?.warnings;
    let want = [
        "n.servicesFile: read by `add_service` rules only",
        "n.rules[0].kubernetes.label_inclusions: has no effect without a non-empty `labels_prefix`",
        "n.rules[1].add_service: ignored: a rule of type add_subnet does not read it",
        "n.rules[1].add_subnet.subnet_mask: /64 applies to IPv6 addresses only",
        "n.rules[2]: add_subnet_label labels nothing",
        "n.kubeConfig.secondaryNetworks[0].index.udn: not implemented yet (issue 11): user-defined networks",
        "n.kubeConfig.secondaryNetworks[1].index.vlan: not an index key (expected ip, mac, interface or udn)",
        "n.kubeConfig.secondaryNetworks[2].index: empty",
        "n.kubeConfig.managedCNI: not implemented yet (issue 11): the node addresses a CNI annotates",
    ];
    assert_eq!(w.len(), want.len(), "{w:#?}");
    for (got, want) in w.iter().zip(want) {
        assert!(
            got.starts_with(want),
            "{got:?} does not start with {want:?}"
        );
    }
    Ok(())
}

#[test]
fn every_network_section_of_the_operator_configs_builds() -> Result<()> {
    let mut seen = 0;
    for name in [
        "operator-default.yaml",
        "operator-full.yaml",
        "operator-network.yaml",
    ] {
        let config = Config::from_yaml(&std::fs::read_to_string(testdata(&format!(
            "configs/{name}"
        )))?)?;
        for (i, p) in config.parameters.iter().enumerate() {
            let Some(t) = p.transform.as_ref().filter(|t| t.type_name == "network") else {
                continue;
            };
            let base = format!("parameters[{i}].transform");
            let cfg: NetworkConfig = t.parse(&base, "network")?.context("network section")?;
            let built = network::build(
                &cfg,
                &format!("{base}.network"),
                &p.name,
                &mut FieldRegistry::new(),
                None,
            )
            .with_context(|| format!("{name} {}", p.name))?;
            let count = |t: &str| cfg.rules.iter().filter(|r| r.r#type.name() == t).count();
            // The warnings: add_kubernetes without a cache (one for the stage), and (the older
            // operator-default.yaml) add_subnet_label rules without any subnetLabels.
            let kube = usize::from(count("add_kubernetes") > 0);
            let unlabelled = if cfg.subnet_labels.is_empty() {
                count("add_subnet_label")
            } else {
                0
            };
            assert_eq!(
                built.warnings.len(),
                kube + unlabelled,
                "{name}: {:?}",
                built.warnings
            );
            assert!(!built.network.is_empty(), "{name} {}", p.name);
            seen += 1;
        }
    }
    assert_eq!(seen, 5);
    Ok(())
}
