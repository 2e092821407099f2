//! What the eBPF agent costs, measured on this machine's kernel: the programs' nanoseconds per
//! packet from the kernel's own statistics (`run_time_ns / run_cnt` while
//! `kernel.bpf_stats_enabled` is 1), user-space CPU per evicted flow, and the process's peak RSS
//! at 10k new flows per second. Needs root; makes two network namespaces joined by a veth pair
//! (offloads off), sends traffic only inside them, and deletes them at the end.
//!
//! ```sh
//! cargo run --release -p benches --bin ebpf-cost            # every scenario
//! cargo run --release -p benches --bin ebpf-cost -- quick   # fewer packets
//! # and the agent binary's own RSS and CPU at 10k new flows/s:
//! cargo build --release -p netobserv-bins
//! cargo run --release -p benches --bin ebpf-cost -- --agent target/release/netobserv-agent
//! ```

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use netobserv_ebpf::{FlowAgent, FlowAgentBuilder, ProgramStats, filter};

fn sh(args: &[&str]) -> Result<()> {
    let out = Command::new(args[0]).args(&args[1..]).output()?;
    ensure!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}

struct Net {
    a: String,
    b: String,
    va: String,
    a4: String,
    b4: String,
}

impl Net {
    fn new() -> Result<Self> {
        let id = std::process::id() % 100_000;
        let n = Net {
            a: format!("nocost{id}a"),
            b: format!("nocost{id}b"),
            va: format!("ncost{id}a"),
            a4: "10.250.77.1".into(),
            b4: "10.250.77.2".into(),
        };
        let vb = format!("ncost{id}b");
        sh(&["ip", "netns", "add", &n.a]).context("needs root")?;
        sh(&["ip", "netns", "add", &n.b])?;
        sh(&[
            "ip", "link", "add", &n.va, "netns", &n.a, "type", "veth", "peer", "name", &vb,
            "netns", &n.b,
        ])?;
        for (ns, dev, addr) in [(&n.a, &n.va, &n.a4), (&n.b, &vb, &n.b4)] {
            let ex = |rest: &[&str]| {
                let mut v = vec!["ip", "netns", "exec", ns.as_str()];
                v.extend_from_slice(rest);
                sh(&v)
            };
            ex(&["ip", "addr", "add", &format!("{addr}/24"), "dev", dev])?;
            ex(&[
                "ethtool", "-K", dev, "tso", "off", "gso", "off", "gro", "off",
            ])?;
            ex(&["ip", "link", "set", dev, "up"])?;
            ex(&["ip", "link", "set", "lo", "up"])?;
        }
        let ex_b = |rest: &[&str]| {
            let mut v = vec!["ip", "netns", "exec", n.b.as_str(), "nft"];
            v.extend_from_slice(rest);
            sh(&v)
        };
        ex_b(&["add", "table", "inet", "cost"])?;
        ex_b(&[
            "add",
            "chain",
            "inet",
            "cost",
            "in",
            "{ type filter hook input priority 0; }",
        ])?;
        ex_b(&[
            "add", "rule", "inet", "cost", "in", "udp", "dport", "9", "drop",
        ])?;
        Ok(n)
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        let _ = sh(&["ip", "netns", "del", &self.a]);
        let _ = sh(&["ip", "netns", "del", &self.b]);
    }
}

fn enter(ns: &str) -> Result<()> {
    let fd = rustix::fs::open(
        format!("/run/netns/{ns}"),
        rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )?;
    rustix::thread::move_into_link_name_space(
        std::os::fd::AsFd::as_fd(&fd),
        Some(rustix::thread::LinkNameSpaceType::Network),
    )?;
    Ok(())
}

/// Runs `f` on a thread inside namespace `ns`.
fn in_ns<T: Send + 'static>(ns: &str, f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    let ns = ns.to_string();
    thread::spawn(move || {
        enter(&ns)?;
        f()
    })
    .join()
    .map_err(|_| anyhow::anyhow!("thread panicked"))?
}

/// UDP datagrams from a to b cycling over `flows` destination ports (5-tuples).
fn udp(dst: &str, packets: u64, flows: u16, base: u16) -> Result<()> {
    let s = UdpSocket::bind("0.0.0.0:0")?;
    let payload = [0u8; 64];
    for i in 0..packets {
        let port = base + (i % u64::from(flows)) as u16;
        // A full socket buffer (ENOBUFS) only means the veth is busy: retry.
        while s.send_to(&payload, (dst, port)).is_err() {}
    }
    Ok(())
}

fn tcp_ping_pong(net: &Net, rounds: usize) -> Result<()> {
    let bind = format!("{}:5999", net.b4);
    let listener = {
        let bind = bind.clone();
        in_ns(&net.b, move || Ok(TcpListener::bind(bind)?))?
    };
    let server = thread::spawn(move || -> Result<()> {
        let (mut c, _) = listener.accept()?;
        let mut buf = [0u8; 32];
        for _ in 0..rounds {
            c.read_exact(&mut buf)?;
            c.write_all(&buf)?;
        }
        Ok(())
    });
    in_ns(&net.a, move || {
        let mut c = TcpStream::connect(bind)?;
        c.set_nodelay(true)?;
        let mut buf = [1u8; 32];
        for _ in 0..rounds {
            c.write_all(&buf)?;
            c.read_exact(&mut buf)?;
        }
        Ok(())
    })?;
    server
        .join()
        .map_err(|_| anyhow::anyhow!("server panicked"))?
}

fn stats_delta(before: &[ProgramStats], after: &[ProgramStats]) -> Vec<(String, u64, f64)> {
    after
        .iter()
        .filter_map(|a| {
            let b = before.iter().find(|b| b.name == a.name)?;
            let n = a.run_count - b.run_count;
            let t = a.run_time.saturating_sub(b.run_time);
            (n > 0).then(|| (a.name.clone(), n, t.as_nanos() as f64 / n as f64))
        })
        .collect()
}

fn thread_cpu() -> Duration {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
}

/// Loads `builder` in a, attaches to va, runs `traffic`, prints ns per run for each program.
fn scenario(
    net: &Net,
    label: &str,
    builder: FlowAgentBuilder,
    traffic: impl FnOnce() -> Result<()>,
) -> Result<()> {
    let va = net.va.clone();
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let (res_tx, res_rx) = std::sync::mpsc::channel();
    let ns = net.a.clone();
    // The agent lives on a thread in a; it evicts every second while the traffic runs.
    let agent = thread::spawn(move || -> Result<()> {
        enter(&ns)?;
        let mut agent = builder.load()?;
        agent.attach(&va)?;
        let before = agent.program_stats();
        res_tx.send(None).ok();
        let (mut flows, mut cpu) = (0usize, Duration::ZERO);
        loop {
            let stop = rx.recv_timeout(Duration::from_secs(1)).is_ok();
            let t0 = thread_cpu();
            let ev = agent.evict()?;
            cpu += thread_cpu() - t0;
            flows += ev.flows.len();
            if stop {
                break;
            }
        }
        let after = agent.program_stats();
        res_tx
            .send(Some((stats_delta(&before, &after), flows, cpu)))
            .ok();
        Ok(())
    });
    res_rx.recv()?; // attached
    let started = Instant::now();
    traffic()?;
    let secs = started.elapsed().as_secs_f64();
    tx.send(()).ok();
    let Some((stats, flows, cpu)) = res_rx.recv()? else {
        bail!("agent ended early");
    };
    agent
        .join()
        .map_err(|_| anyhow::anyhow!("agent panicked"))??;
    for (name, runs, ns) in stats {
        println!("{label:<44} {name:<11} {runs:>9} runs {ns:>7.1} ns/run");
    }
    if flows > 0 {
        println!(
            "{label:<44} user space  {flows:>9} flows {:>7.1} µs/flow evicted ({secs:.1} s of traffic)",
            cpu.as_secs_f64() * 1e6 / flows as f64
        );
    }
    Ok(())
}

/// 10k new flows per second for `seconds` (1k datagrams every 100 ms, each to another port).
fn new_flows(net: &Net, seconds: u64) -> Result<()> {
    let dst = net.b4.clone();
    in_ns(&net.a, move || {
        let s = UdpSocket::bind("0.0.0.0:0")?;
        let mut port: u32 = 0;
        let start = Instant::now();
        for tick in 0..seconds * 10 {
            for _ in 0..1000 {
                port = port % 60_000 + 1;
                let p = 1024 + port as u16 % 60_000;
                while s.send_to(&[0u8; 64], (dst.as_str(), p)).is_err() {}
            }
            let next = start + Duration::from_millis(100 * (tick + 1));
            thread::sleep(next.saturating_duration_since(Instant::now()));
        }
        Ok(())
    })
}

/// The `netobserv-agent` binary at `path`, run in namespace a as upstream's defaults for the
/// operator would (100k-entry map, 5 s eviction) with the flows discarded after the pipeline:
/// its own peak RSS and CPU time at 10k new flows/s.
fn agent_binary(net: &Net, path: &str, seconds: u64) -> Result<()> {
    let mut child = Command::new("ip")
        .args(["netns", "exec", &net.a, path])
        .env("EXPORT", "direct-flp")
        .env("CACHE_MAX_FLOWS", "100000")
        .env("CACHE_ACTIVE_TIMEOUT", "5s")
        .env("INTERFACES", &net.va)
        .env("NETNS_WATCH", "none")
        .env("AGENT_IP", &net.a4)
        .env("LOG_LEVEL", "warn")
        .env(
            "FLP_CONFIG",
            "pipeline: [{name: out, follows: preset-ingester}]\nparameters: [{name: out, write: {type: none}}]",
        )
        .spawn()
        .context("starting the agent")?;
    let pid = child.id();
    thread::sleep(Duration::from_secs(2));
    let before = benches::process_cpu_seconds(pid)?;
    new_flows(net, seconds)?;
    thread::sleep(Duration::from_secs(6)); // the last eviction
    let used = benches::process_cpu_seconds(pid)? - before;
    let hwm = benches::process_status_kb(Some(pid), "VmHWM");
    sh(&["kill", "-TERM", &pid.to_string()])?;
    let code = child.wait()?;
    let flows = seconds * 10_000;
    println!(
        "netobserv-agent binary, 10k new flows/s for {seconds} s: {used:.2} CPU-s ({:.2} µs per flow), peak RSS (VmHWM) {hwm} kB, exit {code}",
        used * 1e6 / flows as f64
    );
    Ok(())
}

fn main() -> Result<()> {
    let quick = std::env::args().any(|a| a == "quick");
    let packets: u64 = if quick { 50_000 } else { 300_000 };
    let net = Net::new()?;
    let _stats = aya::sys::enable_stats(aya::sys::Stats::RunTime)
        .context("BPF_ENABLE_STATS (needs root)")?;
    let dst = net.b4.clone();
    let a = net.a.clone();
    let send = |flows: u16, base: u16| {
        let (a, dst) = (a.clone(), dst.clone());
        move || in_ns(&a, move || udp(&dst, packets, flows, base))
    };
    let all_tc = || -> Result<FlowAgentBuilder> {
        let rules = filter::parse_rules(r#"[{"ip_cidr":"0.0.0.0/0","action":"Accept"}]"#)?;
        Ok(FlowAgent::builder()
            .with_max_flows(100_000)
            .with_dns_tracking(Some(53))
            .with_filter(filter::compile(&rules)?))
    };
    let flows_only = || FlowAgent::builder().with_max_flows(100_000);
    println!(
        "# {packets} UDP datagrams of 64 bytes per scenario, a -> b across a veth, offloads off"
    );
    scenario(&net, "flows only, 1 flow", flows_only(), send(1, 7000))?;
    scenario(
        &net,
        "flows only, 5000 flows",
        flows_only(),
        send(5000, 10000),
    )?;
    scenario(&net, "DNS + filter rule, 1 flow", all_tc()?, send(1, 7000))?;
    scenario(
        &net,
        "DNS + filter rule, 5000 flows",
        all_tc()?,
        send(5000, 10000),
    )?;
    scenario(
        &net,
        "DNS + filter + drops + RTT, 5000 flows",
        all_tc()?.with_pkt_drops(true).with_rtt(true),
        send(5000, 10000),
    )?;
    scenario(
        &net,
        "sampling 1/50, 5000 flows",
        flows_only().with_sampling(50),
        send(5000, 10000),
    )?;
    scenario(
        &net,
        "drops: every datagram to a dropped port",
        flows_only().with_pkt_drops(true),
        send(1, 9),
    )?;
    let rounds = if quick { 5_000 } else { 20_000 };
    scenario(
        &net,
        "RTT: TCP ping-pong",
        flows_only().with_rtt(true),
        || tcp_ping_pong(&net, rounds),
    )?;

    // RSS: 10k new flows per second for 10 s (1k datagrams every 100 ms, each to a new port),
    // evicted every 5 s as the operator's defaults do (cacheMaxFlows 100000).
    let va = net.va.clone();
    let ns = net.a.clone();
    let rss_before = benches::process_status_kb(None, "VmRSS");
    let seconds = if quick { 4 } else { 10 };
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stop = done.clone();
    let agent = thread::spawn(move || -> Result<(usize, Duration)> {
        enter(&ns)?;
        let mut agent = FlowAgent::builder().with_max_flows(100_000).load()?;
        agent.attach(&va)?;
        let (mut flows, mut cpu) = (0, Duration::ZERO);
        let mut next = Instant::now() + Duration::from_secs(5);
        while !stop.load(std::sync::atomic::Ordering::Relaxed) {
            thread::sleep(Duration::from_millis(100));
            agent.drain_ringbuf();
            if Instant::now() >= next {
                next += Duration::from_secs(5);
                let t0 = thread_cpu();
                flows += agent.evict()?.flows.len();
                cpu += thread_cpu() - t0;
            }
        }
        let t0 = thread_cpu();
        flows += agent.evict()?.flows.len();
        cpu += thread_cpu() - t0;
        Ok((flows, cpu))
    });
    thread::sleep(Duration::from_millis(300));
    new_flows(&net, seconds)?;
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    let (flows, cpu) = agent
        .join()
        .map_err(|_| anyhow::anyhow!("agent panicked"))??;
    let args: Vec<String> = std::env::args().collect();
    let agent = args
        .iter()
        .position(|a| a == "--agent")
        .and_then(|i| args.get(i + 1));
    println!(
        "10k new flows/s for {seconds} s: {flows} flows evicted, {:.2} µs user-space CPU per flow, RSS {} kB before, peak (VmHWM) {} kB",
        cpu.as_secs_f64() * 1e6 / flows.max(1) as f64,
        rss_before,
        benches::process_status_kb(None, "VmHWM")
    );
    if let Some(path) = agent {
        agent_binary(&net, path, seconds)?;
    }
    Ok(())
}
