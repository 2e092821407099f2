//! Whole-process memory of `flowlogs-pipeline` with the Kubernetes cache of the issue's reference
//! cluster (20,000 pods, 5,000 services, 500 nodes, 10,000 ReplicaSets), fed through kube-rs from
//! the in-test API server peer (`netobserv-enrich/tests/support/apiserver.rs`, standing in for
//! kube-apiserver: list pages and watches as it serves them) holding the cluster as realistic API
//! JSON (`benches::kube_cluster_json`: containers, statuses, managedFields...).
//!
//! Three runs of the release binary, each `ingest: synthetic` (50,000 flows a minute) → the
//! operator's `network` rules → `write: none`: without `add_kubernetes` (the baseline), with the
//! two `add_kubernetes` rules (the cache), and with them copying labels (`labels_prefix`: the
//! cache keeps every object's labels). For each it prints the time from spawn to "Kubernetes
//! cache synced", then `VmRSS` and `VmHWM` (the peak, which includes the initial list) of the
//! pipeline process 5 s after the sync.
//!
//! ```sh
//! cargo build --release -p netobserv-bins --bin flowlogs-pipeline
//! cargo run --release -p benches --bin kube-rss [-- --flp target/release/flowlogs-pipeline]
//! ```

#![allow(clippy::unwrap_used, clippy::print_stdout, missing_docs)]

#[path = "../../../netobserv-enrich/tests/support/apiserver.rs"]
mod apiserver;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use benches::{ClusterSize, kube_cluster_json, process_status_kb};

const KUBE_RULES: &str = r#"
          - type: add_kubernetes
            kubernetes: {ipField: SrcAddr, output: SrcK8S, add_zone: true}
          - type: add_kubernetes
            kubernetes: {ipField: DstAddr, output: DstK8S, add_zone: true}"#;

/// The same with the objects' labels copied (the cache then keeps them).
const KUBE_RULES_LABELS: &str = r#"
          - type: add_kubernetes
            kubernetes: {ipField: SrcAddr, output: SrcK8S, add_zone: true, labels_prefix: SrcK8S_labels}
          - type: add_kubernetes
            kubernetes: {ipField: DstAddr, output: DstK8S, add_zone: true, labels_prefix: DstK8S_labels}"#;

fn config(rules: &str) -> String {
    format!(
        r#"log-level: info
metricsSettings: {{port: 0}}
pipeline:
  - name: in
  - name: enrich
    follows: in
  - name: out
    follows: enrich
parameters:
  - name: in
    ingest: {{type: synthetic, synthetic: {{flowLogsPerMin: 50000, connections: 5000}}}}
  - name: enrich
    transform:
      type: network
      network:
        rules:{}
          - type: reinterpret_direction
          - type: add_kubernetes_infra
            kubernetes_infra:
              namespaceNameFields:
                - {{name: SrcK8S_Name, namespace: SrcK8S_Namespace}}
                - {{name: DstK8S_Name, namespace: DstK8S_Namespace}}
              output: K8S_FlowLayer
              infra_prefixes: [netobserv, openshift]
        directionInfo:
          reporterIPField: AgentIP
          srcHostField: SrcK8S_HostIP
          dstHostField: DstK8S_HostIP
          flowDirectionField: FlowDirection
          ifDirectionField: IfDirection
  - name: out
    write: {{type: none}}
"#,
        rules
    )
}

struct Run {
    synced: Option<Duration>,
    rss_kb: u64,
    hwm_kb: u64,
}

fn run(
    flp: &PathBuf,
    dir: &std::path::Path,
    kubeconfig: &std::path::Path,
    rules: &str,
) -> Result<Run> {
    let kube = !rules.is_empty();
    let cfg = dir.join("flp.yaml");
    std::fs::write(&cfg, config(rules))?;
    let start = Instant::now();
    let mut child = Command::new(flp)
        .arg("--config")
        .arg(&cfg)
        .env("KUBECONFIG", kubeconfig)
        .env("HOME", dir)
        .env_remove("KUBERNETES_SERVICE_HOST")
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("starting {}", flp.display()))?;
    let stderr = child.stderr.take().context("stderr")?;
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if line.contains("Kubernetes cache synced") || line.contains("pipeline started") {
                let _ = tx.send(start.elapsed());
            }
            if line.contains("ERROR") {
                eprintln!("flowlogs-pipeline: {line}");
            }
        }
    });
    let synced = if kube {
        Some(
            rx.recv_timeout(Duration::from_secs(120))
                .context("no \"Kubernetes cache synced\" within 120 s")?,
        )
    } else {
        None
    };
    std::thread::sleep(Duration::from_secs(5));
    if let Some(status) = child.try_wait()? {
        bail!("flowlogs-pipeline exited: {status}");
    }
    let pid = child.id();
    let r = Run {
        synced,
        rss_kb: process_status_kb(Some(pid), "VmRSS"),
        hwm_kb: process_status_kb(Some(pid), "VmHWM"),
    };
    child.kill()?;
    child.wait()?;
    Ok(r)
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let flp = match args.iter().position(|a| a == "--flp") {
        Some(i) => PathBuf::from(args.get(i + 1).context("--flp PATH")?),
        None => std::env::current_exe()?
            .parent()
            .context("exe dir")?
            .join("flowlogs-pipeline"),
    };
    let size = ClusterSize::REFERENCE;
    let objects = kube_cluster_json(size);
    let bytes: usize = objects.iter().map(|o| o.to_string().len()).sum();
    println!(
        "cluster: {} pods, {} services, {} nodes, {} ReplicaSets: {} objects, {:.1} MB of API JSON",
        size.pods,
        size.services,
        size.nodes,
        size.replica_sets,
        objects.len(),
        bytes as f64 / 1e6
    );
    let server = apiserver::ApiServer::start_in_thread();
    for o in objects {
        server.apply(o);
    }
    let dir = tempfile::tempdir()?;
    let kubeconfig = dir.path().join("kubeconfig");
    server.write_kubeconfig(&kubeconfig);
    let base = run(&flp, dir.path(), &kubeconfig, "")?;
    println!(
        "without add_kubernetes: VmRSS {:.1} MB, VmHWM {:.1} MB",
        base.rss_kb as f64 / 1024.0,
        base.hwm_kb as f64 / 1024.0
    );
    for (what, rules) in [
        ("with the cache", KUBE_RULES),
        ("with the cache and labels copied", KUBE_RULES_LABELS),
    ] {
        let kube = run(&flp, dir.path(), &kubeconfig, rules)?;
        println!(
            "{what}: synced {:.2?} after spawn; VmRSS {:.1} MB, VmHWM {:.1} MB (cache: +{:.1} MB RSS)",
            kube.synced.unwrap_or_default(),
            kube.rss_kb as f64 / 1024.0,
            kube.hwm_kb as f64 / 1024.0,
            kube.rss_kb.saturating_sub(base.rss_kb) as f64 / 1024.0
        );
    }
    let lists = server
        .requests()
        .iter()
        .filter(|r| !r.is_watch() && r.method == "GET")
        .count();
    println!("API requests: {lists} list pages");
    Ok(())
}
