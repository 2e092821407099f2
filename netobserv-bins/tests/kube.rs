//! `flowlogs-pipeline` with the Kubernetes cache: the operator's `network` stages
//! (`testdata/configs/operator-network.yaml`, unchanged) enriching flows from a cluster served
//! by the in-test peer standing in for kube-apiserver (netobserv-enrich's
//! `tests/support/apiserver.rs`, holding the hand-written `testdata/kube/cluster.json`), reached
//! through `KUBECONFIG`; and the start-up errors without a cluster.

#![allow(clippy::unwrap_used)]

#[path = "../../netobserv-enrich/tests/support/apiserver.rs"]
mod apiserver;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use apiserver::ApiServer;
use serde_json::{Value, json};

fn repo(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(rel)
}

/// The pipeline with no Kubernetes configuration but what the test gives: no in-cluster
/// variables, no `~/.kube/config` (HOME is `home`), no inherited KUBECONFIG.
fn flp(home: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_flowlogs-pipeline"));
    c.env_remove("RUST_LOG")
        .env_remove("KUBECONFIG")
        .env_remove("KUBERNETES_SERVICE_HOST")
        .env_remove("KUBERNETES_SERVICE_PORT")
        .env("HOME", home)
        .env("NO_COLOR", "1");
    c
}

fn run(mut cmd: Command, input: &str) -> Output {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn cluster() -> (ApiServer, tempfile::TempDir) {
    let server = ApiServer::start_in_thread();
    server.load(&repo("netobserv-enrich/testdata/kube/cluster.json"));
    server.load(&repo("netobserv-enrich/testdata/kube/gateway.json"));
    let dir = tempfile::tempdir().unwrap();
    server.write_kubeconfig(&dir.path().join("kubeconfig"));
    (server, dir)
}

#[test]
fn the_operators_network_stages_enrich_flows_from_the_cluster() {
    let (_server, dir) = cluster();
    let mut cmd = flp(dir.path());
    cmd.env("KUBECONFIG", dir.path().join("kubeconfig")).args([
        "--config",
        repo("testdata/configs/operator-network.yaml")
            .to_str()
            .unwrap(),
    ]);
    let input = [
        // Pod web-5d4f-x9 (Deployment web, on worker-1) to Service web, seen on worker-1.
        json!({"AgentIP": "10.0.0.1", "SrcAddr": "10.128.0.7", "DstAddr": "172.30.0.10",
            "FlowDirection": 0, "Flags": 18, "Bytes": 100}),
        // worker-2 (its host-network pod's address) to the CronJob's pod on worker-1, seen on
        // worker-2.
        json!({"AgentIP": "10.0.0.2", "SrcAddr": "10.0.0.2", "DstAddr": "10.128.0.12",
            "FlowDirection": 1, "Flags": 1, "Bytes": 200}),
        // Nobody's.
        json!({"AgentIP": "10.0.0.1", "SrcAddr": "10.128.0.99", "DstAddr": "8.8.8.8",
            "FlowDirection": 1, "Flags": 2, "Bytes": 300}),
        // The Gateway's pod (ReplicaSet → Deployment → Gateway, as the config's trackedKinds
        // ask) to the web pod, seen on worker-1 where the web pod runs.
        json!({"AgentIP": "10.0.0.1", "SrcAddr": "10.129.0.9", "DstAddr": "10.128.0.7",
            "FlowDirection": 0, "Flags": 16, "Bytes": 400}),
    ];
    let text: String = input.iter().map(|f| format!("{f}\n")).collect();
    let out = run(cmd, &text);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{:?}: {stderr}", out.status);
    assert!(stderr.contains("Kubernetes cache synced"), "{stderr}");
    let mut got: Vec<Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    got.sort_by_key(|f| f["Bytes"].as_u64());
    let want = [
        json!({"AgentIP": "10.0.0.1", "SrcAddr": "10.128.0.7", "DstAddr": "172.30.0.10", "Bytes": 100,
            "SrcK8S_Name": "web-5d4f-x9", "SrcK8S_Namespace": "shop", "SrcK8S_Type": "Pod",
            "SrcK8S_OwnerName": "web", "SrcK8S_OwnerType": "Deployment", "SrcK8S_NetworkName": "primary",
            "SrcK8S_HostIP": "10.0.0.1", "SrcK8S_HostName": "worker-1",
            "DstK8S_Name": "web", "DstK8S_Namespace": "shop", "DstK8S_Type": "Service",
            "DstK8S_OwnerName": "web", "DstK8S_OwnerType": "Service", "DstK8S_NetworkName": "primary",
            // The agent's node is the source's: egress at the node level.
            "FlowDirection": 1, "Flags": ["SYN", "ACK"], "K8S_FlowLayer": "app",
            "SrcSubnetLabel": "Pods", "DstSubnetLabel": "Services"}),
        json!({"AgentIP": "10.0.0.2", "SrcAddr": "10.0.0.2", "DstAddr": "10.128.0.12", "Bytes": 200,
            "SrcK8S_Name": "worker-2", "SrcK8S_Type": "Node",
            "SrcK8S_OwnerName": "worker-2", "SrcK8S_OwnerType": "Node", "SrcK8S_NetworkName": "primary",
            "SrcK8S_HostIP": "10.0.0.2", "SrcK8S_HostName": "worker-2",
            "DstK8S_Name": "report-29-q7w4n", "DstK8S_Namespace": "reports", "DstK8S_Type": "Pod",
            "DstK8S_OwnerName": "report", "DstK8S_OwnerType": "CronJob", "DstK8S_NetworkName": "primary",
            "DstK8S_HostIP": "10.0.0.1", "DstK8S_HostName": "worker-1",
            "FlowDirection": 1, "Flags": ["FIN"], "K8S_FlowLayer": "app",
            "SrcSubnetLabel": "Machines", "DstSubnetLabel": "Pods"}),
        json!({"AgentIP": "10.0.0.1", "SrcAddr": "10.128.0.99", "DstAddr": "8.8.8.8", "Bytes": 300,
            "FlowDirection": 1, "Flags": ["SYN"], "K8S_FlowLayer": "infra",
            "SrcSubnetLabel": "Pods"}),
        json!({"AgentIP": "10.0.0.1", "SrcAddr": "10.129.0.9", "DstAddr": "10.128.0.7", "Bytes": 400,
            "SrcK8S_Name": "edge-istio-6c8b9-t2x4z", "SrcK8S_Namespace": "shop", "SrcK8S_Type": "Pod",
            "SrcK8S_OwnerName": "edge", "SrcK8S_OwnerType": "Gateway", "SrcK8S_NetworkName": "primary",
            "SrcK8S_HostIP": "10.0.0.2", "SrcK8S_HostName": "worker-2",
            "DstK8S_Name": "web-5d4f-x9", "DstK8S_Namespace": "shop", "DstK8S_Type": "Pod",
            "DstK8S_OwnerName": "web", "DstK8S_OwnerType": "Deployment", "DstK8S_NetworkName": "primary",
            "DstK8S_HostIP": "10.0.0.1", "DstK8S_HostName": "worker-1",
            // The agent's node is the destination's: ingress.
            "FlowDirection": 0, "Flags": ["ACK"], "K8S_FlowLayer": "app",
            "SrcSubnetLabel": "Pods", "DstSubnetLabel": "Pods"}),
    ];
    assert_eq!(got, want);
}

#[test]
fn without_a_cluster_add_kubernetes_refuses_to_start_and_says_what_it_looked_for() {
    let home = tempfile::tempdir().unwrap();
    let mut cmd = flp(home.path());
    cmd.args([
        "--config",
        repo("testdata/configs/operator-network.yaml")
            .to_str()
            .unwrap(),
    ]);
    let out = run(cmd, "");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    for part in [
        "stage \"enrich\"",
        "add_kubernetes: no Kubernetes API server is configured",
        "KUBERNETES_SERVICE_HOST",
        "KUBECONFIG",
        "kubeConfig.configPath",
    ] {
        assert!(stderr.contains(part), "{part:?} not in {stderr}");
    }
    // --check does not connect: the missing cluster is a warning there.
    let mut cmd = flp(home.path());
    cmd.args([
        "--config",
        repo("testdata/configs/operator-network.yaml")
            .to_str()
            .unwrap(),
        "--check",
    ]);
    let out = run(cmd, "");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("add_kubernetes will not start here: no Kubernetes API server"),
        "{stderr}"
    );
    assert!(stdout.contains("configuration is valid"), "{stdout}");
}

#[test]
fn a_cluster_that_refuses_a_kind_fails_the_start_naming_it() {
    let (server, dir) = cluster();
    server.fail("pods", 403);
    let mut cmd = flp(dir.path());
    cmd.env("KUBECONFIG", dir.path().join("kubeconfig")).args([
        "--config",
        repo("testdata/configs/operator-network.yaml")
            .to_str()
            .unwrap(),
        "--kube-sync-timeout",
        "2s",
    ]);
    let out = run(cmd, "");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("stage \"enrich\": the Kubernetes cache did not sync within 2"),
        "{stderr}"
    );
    assert!(
        stderr.contains("Pod (") && stderr.contains("403"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("Service ("),
        "only pods are refused: {stderr}"
    );
}
