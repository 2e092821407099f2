//! The `netobserv-agent` binary, run as an operator runs it: configured by environment variables,
//! inside a network namespace, stopped with SIGTERM. The kernel tests need root, `ip`, `ethtool`,
//! `ping` and `setpriv`; a machine where namespaces cannot be made fails them, it does not skip.

#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use serde_json::Value as Json;

/// A flowlogs-pipeline config that follows the agent's `preset-ingester` and writes every flow
/// as a JSON line on standard output.
const STDOUT_JSON: &str = include_str!("../../testdata/configs/agent-direct-flp.yaml");

/// The binary with an empty environment (only `PATH`), so the developer's variables do not leak
/// in; run inside namespace `netns` when one is given.
fn agent(netns: Option<&str>) -> Command {
    let bin = env!("CARGO_BIN_EXE_netobserv-agent");
    let mut c = match netns {
        Some(ns) => {
            let mut c = Command::new("ip");
            c.args(["netns", "exec", ns, bin]);
            c
        }
        None => Command::new(bin),
    };
    // Only the namespace the agent runs in: other tests' namespaces are not this test's.
    c.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("NETNS_WATCH", "none");
    c
}

fn run(c: &mut Command) -> Output {
    c.stdin(Stdio::null()).output().unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn sh(args: &[&str]) -> Result<()> {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .with_context(|| format!("running {args:?}"))?;
    ensure!(
        out.status.success(),
        "{args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}

/// A unique suffix per test in this process: names of namespaces and interfaces (at most 15
/// bytes) and a /24 of 10/8.
fn unique() -> (String, String) {
    static N: AtomicU32 = AtomicU32::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let id = std::process::id() % 100_000;
    (
        format!("{id}x{n}"),
        format!("{}.{}", 20 + n % 200, id % 250),
    )
}

/// A network namespace, deleted on drop (with the interfaces in it), also when the test fails.
struct Netns(String);

impl Netns {
    fn new(name: String) -> Result<Self> {
        sh(&["ip", "netns", "add", &name]).context("creating a network namespace (needs root)")?;
        let ns = Netns(name);
        ns.exec(&["ip", "link", "set", "lo", "up"])?;
        Ok(ns)
    }

    fn exec(&self, rest: &[&str]) -> Result<()> {
        let mut args = vec!["ip", "netns", "exec", self.0.as_str()];
        args.extend_from_slice(rest);
        sh(&args)
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = sh(&["ip", "netns", "del", &self.0]);
    }
}

/// A veth pair `dev_a` in `a` (`{net}.1/24`) and `dev_b` in `b` (`{net}.2/24`), offloads off so
/// every packet is one frame, both ends up.
fn veth(a: &Netns, dev_a: &str, b: &Netns, dev_b: &str, net: &str) -> Result<()> {
    sh(&[
        "ip", "link", "add", dev_a, "netns", &a.0, "type", "veth", "peer", "name", dev_b, "netns",
        &b.0,
    ])?;
    for (ns, dev, host) in [(a, dev_a, 1), (b, dev_b, 2)] {
        ns.exec(&["ip", "addr", "add", &format!("{net}.{host}/24"), "dev", dev])?;
        ns.exec(&[
            "ethtool", "-K", dev, "tso", "off", "gso", "off", "gro", "off",
        ])?;
        ns.exec(&["ip", "link", "set", dev, "up"])?;
    }
    Ok(())
}

/// Runs `f` on a new thread that has entered network namespace `ns`.
fn in_netns<T: Send + 'static>(
    ns: &str,
    f: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    let path = format!("/run/netns/{ns}");
    thread::spawn(move || {
        let fd = rustix::fs::open(
            &path,
            rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::CLOEXEC,
            rustix::fs::Mode::empty(),
        )
        .with_context(|| format!("opening {path}"))?;
        rustix::thread::move_into_link_name_space(
            std::os::fd::AsFd::as_fd(&fd),
            Some(rustix::thread::LinkNameSpaceType::Network),
        )
        .with_context(|| format!("entering {path}"))?;
        f()
    })
    .join()
    .map_err(|_| anyhow::anyhow!("thread in {ns} panicked"))?
}

/// TCX programs attached to `dev` in namespace `ns`: (ingress, egress).
fn tcx_programs(ns: &str, dev: &str) -> Result<(usize, usize)> {
    use aya::programs::SchedClassifier;
    use aya::programs::tc::TcAttachType;
    let dev = dev.to_string();
    in_netns(ns, move || {
        let count = |at| -> Result<usize> { Ok(SchedClassifier::query_tcx(&dev, at)?.1.len()) };
        Ok((count(TcAttachType::Ingress)?, count(TcAttachType::Egress)?))
    })
}

/// The agent running in the background: its standard output collected, its standard error
/// passed on line by line.
struct Running {
    child: Child,
    stdout: thread::JoinHandle<String>,
    stderr_lines: mpsc::Receiver<String>,
    stderr: String,
}

impl Running {
    fn start(mut c: Command) -> Result<Self> {
        let mut child = c
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .context("starting the agent")?;
        let mut out = child.stdout.take().context("stdout")?;
        let err = child.stderr.take().context("stderr")?;
        let stdout = thread::spawn(move || {
            let mut s = String::new();
            let _ = out.read_to_string(&mut s);
            s
        });
        let (tx, stderr_lines) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(err).lines() {
                let Ok(line) = line else { break };
                eprintln!("agent: {line}");
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Ok(Running {
            child,
            stdout,
            stderr_lines,
            stderr: String::new(),
        })
    }

    /// Waits until a line of standard error satisfies `pred`.
    fn wait_log(&mut self, what: &str, pred: impl Fn(&str) -> bool) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.stderr_lines.recv_timeout(left) {
                Ok(line) => {
                    let hit = pred(&line);
                    self.stderr.push_str(&line);
                    self.stderr.push('\n');
                    if hit {
                        return Ok(());
                    }
                }
                Err(_) => bail!("no log line {what} within 20 s; stderr:\n{}", self.stderr),
            }
        }
    }

    /// Sends SIGTERM and waits for the exit: the status, standard output, standard error.
    fn stop(mut self) -> Result<(ExitStatus, String, String)> {
        let pid = rustix::process::Pid::from_child(&self.child);
        rustix::process::kill_process(pid, rustix::process::Signal::TERM)
            .context("sending SIGTERM")?;
        let deadline = Instant::now() + Duration::from_secs(30);
        let status = loop {
            if let Some(s) = self.child.try_wait()? {
                break s;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                bail!("the agent did not exit within 30 s of SIGTERM");
            }
            thread::sleep(Duration::from_millis(50));
        };
        let stdout = self
            .stdout
            .join()
            .map_err(|_| anyhow::anyhow!("stdout reader panicked"))?;
        while let Ok(line) = self.stderr_lines.recv_timeout(Duration::from_secs(2)) {
            self.stderr.push_str(&line);
            self.stderr.push('\n');
        }
        Ok((status, stdout, self.stderr))
    }
}

/// The JSON flows of the agent's standard output.
fn flows(stdout: &str) -> Result<Vec<Json>> {
    stdout
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).with_context(|| format!("not a JSON flow: {l}")))
        .collect()
}

/// The ICMP flows from `src` to `dst`, and their packets and bytes summed (an eviction may fall
/// between two pings and split the flow in two records).
fn icmp<'a>(flows: &'a [Json], src: &str, dst: &str) -> (Vec<&'a Json>, u64, u64) {
    let hits: Vec<&Json> = flows
        .iter()
        .filter(|f| f["Proto"] == 1 && f["SrcAddr"] == src && f["DstAddr"] == dst)
        .collect();
    let sum = |k: &str| hits.iter().filter_map(|f| f[k].as_u64()).sum();
    let (p, b) = (sum("Packets"), sum("Bytes"));
    (hits, p, b)
}

fn interfaces(f: &Json) -> Vec<&str> {
    f["Interfaces"]
        .as_array()
        .map(|a| a.iter().filter_map(Json::as_str).collect())
        .unwrap_or_default()
}

/// GET `/metrics` on 127.0.0.1:`port` in namespace `ns`.
fn scrape(ns: &str, port: u16) -> Result<String> {
    in_netns(ns, move || {
        let mut s = TcpStream::connect(("127.0.0.1", port))?;
        s.write_all(b"GET /metrics HTTP/1.1\r\nHost: agent\r\nConnection: close\r\n\r\n")?;
        let mut text = String::new();
        s.read_to_string(&mut text)?;
        Ok(text)
    })
}

#[test]
fn upstreams_default_export_grpc_needs_a_target() {
    let out = run(&mut agent(None));
    let e = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{e}");
    assert!(
        e.contains("EXPORT=grpc needs the collector's address: set TARGET_HOST and TARGET_PORT"),
        "{e}"
    );
}

#[test]
fn kafka_export_needs_brokers_and_ipfix_is_refused() {
    let out = run(agent(None).env("EXPORT", "kafka"));
    let e = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{e}");
    assert!(
        e.contains("EXPORT=kafka needs at least one Kafka broker: set KAFKA_BROKERS"),
        "{e}"
    );
    let out = run(agent(None)
        .env("EXPORT", "kafka")
        .env("KAFKA_BROKERS", "127.0.0.1:9092")
        .env("KAFKA_COMPRESSION", "brotli"));
    let e = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{e}");
    assert!(e.contains("KAFKA_COMPRESSION=\"brotli\""), "{e}");
    let out = run(agent(None)
        .env("EXPORT", "ipfix+udp")
        .env("KAFKA_ASYNC", "false"));
    let e = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{e}");
    assert!(
        e.contains("EXPORT=\"ipfix+udp\": this build exports with grpc, kafka and direct-flp only"),
        "{e}"
    );
    // The unsupported variable is warned about, once.
    assert_eq!(
        e.matches("KAFKA_ASYNC=\"false\": not supported by this build, ignored")
            .count(),
        1,
        "{e}"
    );
}

#[test]
fn unknown_export_lists_upstreams_values() {
    let out = run(agent(None).env("EXPORT", "http"));
    let e = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{e}");
    assert!(
        e.contains("grpc, kafka, ipfix+udp, ipfix+tcp, direct-flp"),
        "{e}"
    );
}

#[test]
fn bad_flow_filter_rules_are_refused_with_their_message() {
    let out = run(agent(None)
        .env("EXPORT", "direct-flp")
        .env("FLP_CONFIG", STDOUT_JSON)
        .env("FLOW_FILTER_RULES", "[{\"ip_cidr\": "));
    let e = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{e}");
    assert!(
        e.contains("FLOW_FILTER_RULES=") && e.contains("FLOW_FILTER_RULES: invalid JSON"),
        "{e}"
    );
}

#[test]
fn bad_duration_names_the_variable() {
    let out = run(agent(None)
        .env("EXPORT", "direct-flp")
        .env("CACHE_ACTIVE_TIMEOUT", "5"));
    let e = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{e}");
    assert!(
        e.contains("CACHE_ACTIVE_TIMEOUT=\"5\": expected a Go duration"),
        "{e}"
    );
}

#[test]
fn without_bpf_permission_the_agent_says_which_capability() {
    let bin = env!("CARGO_BIN_EXE_netobserv-agent");
    let out = run(Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--inh-caps=-all",
            "--bounding-set=-all",
            bin,
        ])
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("EXPORT", "direct-flp")
        .env("AGENT_IP", "192.0.2.1")
        .env("FLP_CONFIG", STDOUT_JSON));
    let e = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{e}");
    assert!(e.contains("CAP_BPF"), "{e}");
}

#[test]
fn pings_become_flows_on_stdout_and_sigterm_detaches() -> Result<()> {
    let (id, net) = unique();
    let a = Netns::new(format!("noa{id}a"))?;
    let b = Netns::new(format!("noa{id}b"))?;
    let (va, vb) = (format!("na{id}a"), format!("na{id}b"));
    veth(&a, &va, &b, &vb, &format!("10.{net}"))?;
    let (a4, b4) = (format!("10.{net}.1"), format!("10.{net}.2"));

    let mut c = agent(Some(&a.0));
    c.env("EXPORT", "direct-flp")
        .env("CACHE_ACTIVE_TIMEOUT", "1s")
        .env("FLP_CONFIG", STDOUT_JSON)
        .env("METRICS_ENABLE", "true")
        .env("METRICS_SERVER_PORT", "9090");
    let mut agent = Running::start(c)?;
    agent.wait_log("attaching the veth", |l| {
        l.contains("attached") && l.contains(&va)
    })?;
    a.exec(&["ping", "-c", "3", "-i", "0.2", "-W", "2", &b4])?;
    thread::sleep(Duration::from_millis(2500));
    let metrics = scrape(&a.0, 9090)?;
    let (status, stdout, stderr) = agent.stop()?;
    ensure!(status.code() == Some(0), "exit {status}; stderr:\n{stderr}");

    let flows = flows(&stdout)?;
    let (requests, packets, bytes) = icmp(&flows, &a4, &b4);
    ensure!(
        !requests.is_empty(),
        "no ICMP flow {a4} -> {b4} in:\n{stdout}\nstderr:\n{stderr}"
    );
    assert_eq!(packets, 3, "{requests:#?}");
    assert_eq!(bytes, 3 * 98, "three 98-byte frames: {requests:#?}");
    let (replies, packets, _) = icmp(&flows, &b4, &a4);
    assert_eq!(packets, 3, "{replies:#?}");
    for f in requests.iter().chain(&replies) {
        assert!(interfaces(f).contains(&va.as_str()), "{f}");
        // No default route in the namespace: the agent IP is the watched veth's address.
        assert_eq!(f["AgentIP"], a4.as_str(), "{f}");
    }

    for name in ["ebpf_agent_evictions_total", "ebpf_agent_sampling_rate"] {
        assert!(metrics.contains(name), "{name} missing:\n{metrics}");
    }
    assert!(metrics.contains("stage_flows_in"), "{metrics}");

    let (ingress, egress) = tcx_programs(&a.0, &va)?;
    assert_eq!((ingress, egress), (0, 0), "TCX programs left after exit");
    Ok(())
}

#[test]
fn an_interface_added_after_start_is_attached() -> Result<()> {
    let (id, net) = unique();
    let a = Netns::new(format!("nol{id}a"))?;
    let b = Netns::new(format!("nol{id}b"))?;
    let (va, vb) = (format!("nl{id}a"), format!("nl{id}b"));
    let (a4, b4) = (format!("10.{net}.1"), format!("10.{net}.2"));

    let mut c = agent(Some(&a.0));
    c.env("EXPORT", "direct-flp")
        .env("CACHE_ACTIVE_TIMEOUT", "1s")
        .env("INTERFACES", format!("/^nl{id}/"))
        .env("AGENT_IP", "192.0.2.7")
        .env("FLP_CONFIG", STDOUT_JSON);
    let mut agent = Running::start(c)?;
    agent.wait_log("of a loaded agent", |l| l.contains("eBPF agent loaded"))?;
    thread::sleep(Duration::from_secs(1));
    veth(&a, &va, &b, &vb, &format!("10.{net}"))?;
    agent.wait_log("attaching the new veth", |l| {
        l.contains("attached") && l.contains(&va)
    })?;
    a.exec(&["ping", "-c", "3", "-i", "0.2", "-W", "2", &b4])?;
    thread::sleep(Duration::from_millis(2500));
    let (status, stdout, stderr) = agent.stop()?;
    ensure!(status.code() == Some(0), "exit {status}; stderr:\n{stderr}");

    let flows = flows(&stdout)?;
    let (requests, packets, bytes) = icmp(&flows, &a4, &b4);
    ensure!(
        !requests.is_empty(),
        "no ICMP flow {a4} -> {b4} in:\n{stdout}\nstderr:\n{stderr}"
    );
    assert_eq!((packets, bytes), (3, 3 * 98), "{requests:#?}");
    for f in &requests {
        assert_eq!(interfaces(f), [va.as_str()], "{f}");
        assert_eq!(f["AgentIP"], "192.0.2.7", "{f}");
    }
    assert_eq!(
        tcx_programs(&a.0, &va)?,
        (0, 0),
        "TCX programs left after exit"
    );
    Ok(())
}
