//! The `ebpf` stage in a pipeline: interfaces that appear after start, a watched namespace, the
//! agent IP, the metrics, and nothing left attached after shutdown.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result};
use aya::programs::SchedClassifier;
use aya::programs::tc::TcAttachType;
use netobserv_ebpf::source::{self, AgentMetrics};
use netobserv_flow::Flow;
use netobserv_flow::config::{Config, StageKind};
use netobserv_flow::pipeline::{
    BuildContext, Component, Metrics, Pipeline, Shutdown, Sink, SinkContext, StageRegistry,
};

use super::{Veth, in_netns, sh};

type Collected = Arc<Mutex<Vec<Flow>>>;

struct Collect(Collected);

#[async_trait::async_trait]
impl Sink for Collect {
    async fn run(self: Box<Self>, mut cx: SinkContext) -> netobserv_flow::Result<()> {
        while let Some(batch) = cx.input.recv().await {
            self.0
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .extend(batch.flows().iter().cloned());
            batch.into_ack().deliver();
        }
        Ok(())
    }
}

fn tcx_programs(iface: &str) -> Result<usize> {
    Ok(SchedClassifier::query_tcx(iface, TcAttachType::Ingress)?
        .1
        .len()
        + SchedClassifier::query_tcx(iface, TcAttachType::Egress)?
            .1
            .len())
}

#[test]
fn the_ebpf_stage_follows_new_interfaces_and_watched_namespaces() -> Result<()> {
    let v = Veth::new()?;
    let id = std::process::id() % 100_000;
    // A namespace made after the agent starts, joined to `a` by nsx (in a) / nsy (in c).
    let c = format!("{}c", v.b.trim_end_matches('b'));
    let (nsx, nsy) = (format!("nsx{id}"), format!("nsy{id}"));
    let net = format!("10.{}.{}", 250, id % 250);
    let (x4, y4) = (format!("{net}.1"), format!("{net}.2"));
    let cleanup_c = c.clone();
    let _c_guard = scopeguard(move || {
        let _ = sh(&["ip", "netns", "del", &cleanup_c]);
    });
    let yaml = format!(
        r#"
pipeline:
  - name: agent
  - name: out
    follows: agent
parameters:
  - name: agent
    ingest:
      type: ebpf
      ebpf:
        cacheActiveTimeout: 500ms
        listenPollPeriod: 300ms
        agentIp: 192.0.2.7
        interfaces: ["{va}", "/^ns[xy]{id}$/"]
        netns: ["{c}"]
  - name: out
    write: {{type: collect}}
"#,
        va = v.va
    );
    let flows: Collected = Arc::default();
    let prom = prometheus::Registry::new();
    let (a, va, b4) = (v.a.clone(), v.va.clone(), v.b4.clone());
    let (sink_flows, prom2) = (flows.clone(), prom.clone());
    let (c2, nsx2, nsy2, x4b, y4b) = (c.clone(), nsx.clone(), nsy.clone(), x4.clone(), y4.clone());
    in_netns(&v.a, move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        rt.block_on(async move {
            let mut registry = StageRegistry::with_builtins();
            source::register(&mut registry, AgentMetrics::new("ebpf_agent_", &prom2)?);
            let collected = sink_flows.clone();
            registry.register(
                StageKind::Write,
                "collect",
                move |_: &mut BuildContext<'_>| Ok(Component::sink(Collect(collected.clone()))),
            );
            let config = Config::from_yaml(&yaml)?;
            let pipeline = Pipeline::build(&config, &registry, Metrics::default()).await?;
            let (trigger, shutdown) = Shutdown::new();
            let run = tokio::spawn(pipeline.run(shutdown));
            let blocking = |args: Vec<String>| async move {
                tokio::task::spawn_blocking(move || {
                    let a: Vec<&str> = args.iter().map(String::as_str).collect();
                    sh(&a)
                })
                .await?
            };
            let strings = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
            tokio::time::sleep(Duration::from_millis(300)).await;
            blocking(strings(&[
                "ip", "netns", "exec", &a, "ping", "-c", "2", "-i", "0.2", "-W", "2", &b4,
            ]))
            .await?;
            // The new namespace and interfaces, after start.
            blocking(strings(&["ip", "netns", "add", &c2])).await?;
            blocking(strings(&[
                "ip", "link", "add", &nsx2, "netns", &a, "type", "veth", "peer", "name", &nsy2,
                "netns", &c2,
            ]))
            .await?;
            for (ns, dev, addr) in [(&a, &nsx2, &x4b), (&c2, &nsy2, &y4b)] {
                let ex = |rest: &[&str]| {
                    let mut v = strings(&["ip", "netns", "exec", ns]);
                    v.extend(strings(rest));
                    v
                };
                blocking(ex(&[
                    "ip",
                    "addr",
                    "add",
                    &format!("{addr}/24"),
                    "dev",
                    dev,
                ]))
                .await?;
                blocking(ex(&[
                    "ethtool", "-K", dev, "tso", "off", "gso", "off", "gro", "off",
                ]))
                .await?;
                blocking(ex(&["ip", "link", "set", dev, "up"])).await?;
            }
            // Netlink reports nsx at once; c is found by the next rescan (300 ms).
            tokio::time::sleep(Duration::from_millis(1000)).await;
            blocking(strings(&[
                "ip", "netns", "exec", &a, "ping", "-c", "3", "-i", "0.2", "-W", "2", &y4b,
            ]))
            .await?;
            tokio::time::sleep(Duration::from_millis(700)).await;
            trigger.trigger();
            let report = run.await??;
            anyhow::ensure!(report.is_clean(), "{report}");
            anyhow::Ok(())
        })?;
        // Shutdown detached everything.
        anyhow::ensure!(tcx_programs(&va)? == 0, "programs left on {va}");
        anyhow::ensure!(tcx_programs(&nsx)? == 0, "programs left on {nsx}");
        Ok(())
    })?;
    let nsy_left = in_netns(&c, move || tcx_programs(&nsy))?;
    assert_eq!(nsy_left, 0, "programs left in the watched namespace");

    let flows = flows.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let names = |f: &Flow| -> Vec<String> {
        f.interfaces()
            .map(|v| v.iter().map(|s| s.to_string()).collect())
            .unwrap_or_default()
    };
    // An eviction every 500 ms may split a ping's packets between two flows of the same key:
    // add them up, each with the same interfaces.
    let total = |src: &str, dst: &str, want: &[String], dirs: &[u8]| -> (u64, u64) {
        let (src, dst) = (src.parse().ok(), dst.parse().ok());
        let mut sum = (0, 0);
        for f in flows.iter().filter(|f| {
            f.proto() == Some(1)
                && f.icmp_type() == Some(8)
                && f.src_addr() == src
                && f.dst_addr() == dst
        }) {
            assert_eq!(names(f), want, "{f:#?}");
            assert_eq!(f.if_directions().map(|d| d.to_vec()), Some(dirs.to_vec()));
            assert_eq!(f.agent_ip(), "192.0.2.7".parse().ok());
            sum.0 += f.packets().unwrap_or(0);
            sum.1 += f.bytes().unwrap_or(0);
        }
        sum
    };
    assert_eq!(
        total(&v.a4, &v.b4, std::slice::from_ref(&v.va), &[1]),
        (2, 196)
    );
    // Leaves a on nsx (counted), enters c on nsy (listed): one flow, both interfaces.
    assert_eq!(
        total(&x4, &y4, &[format!("nsx{id}"), format!("nsy{id}")], &[1, 0]),
        (3, 294)
    );

    let text = prometheus::TextEncoder::new()
        .encode_to_string(&prom.gather())
        .context("encoding metrics")?;
    let value = |prefix: &str| -> f64 {
        text.lines()
            .filter(|l| l.starts_with(prefix))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    };
    assert!(
        value("ebpf_agent_evictions_total{reason=\"\",source=\"hashmap\"}") >= 2.0,
        "{text}"
    );
    assert!(value("ebpf_agent_evicted_flows_total") >= 4.0, "{text}");
    assert_eq!(
        value("ebpf_agent_interface_events_total{"),
        3.0,
        "va, nsx, nsy attached: {text}"
    );
    Ok(())
}

/// Runs `f` on drop.
fn scopeguard(f: impl FnOnce()) -> impl Drop {
    struct G<F: FnOnce()>(Option<F>);
    impl<F: FnOnce()> Drop for G<F> {
        fn drop(&mut self) {
            if let Some(f) = self.0.take() {
                f();
            }
        }
    }
    G(Some(f))
}
