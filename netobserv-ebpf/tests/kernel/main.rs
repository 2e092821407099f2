//! The flow programs in the real kernel: two network namespaces joined by a veth pair, the agent
//! attached to one end inside its namespace, real traffic, exact counts. Needs root (CI runs as
//! root); a machine where namespaces cannot be made fails these tests, it does not skip them.

use std::io::{Read, Write};
use std::net::{IpAddr, TcpListener, TcpStream, UdpSocket};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread;
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use netobserv_ebpf::FlowAgent;
use netobserv_ebpf::loader::AttachMode;
use netobserv_flow::Flow;

mod features;
mod source;

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

/// Two namespaces `a` and `b` with veth `va` (10.N.M.1, fd00:N:M::1) in `a` and `vb` (.2, ::2)
/// in `b`; deleted on drop, also when the test fails.
struct Veth {
    a: String,
    b: String,
    va: String,
    a4: String,
    b4: String,
    b6: String,
}

impl Veth {
    fn new() -> Result<Self> {
        static N: AtomicU32 = AtomicU32::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let id = std::process::id() % 100_000;
        let net = format!("{}.{}", 10 + n % 200, id % 250);
        let v = Veth {
            a: format!("nob{id}x{n}a"),
            b: format!("nob{id}x{n}b"),
            va: format!("nv{id}x{n}a"),
            a4: format!("10.{net}.1"),
            b4: format!("10.{net}.2"),
            b6: format!("fd00:{:x}:{:x}::2", 10 + n % 200, id % 250),
        };
        let vb = format!("nv{id}x{n}b");
        let a6 = v.b6.replace("::2", "::1");
        sh(&["ip", "netns", "add", &v.a]).context("creating a network namespace (needs root)")?;
        sh(&["ip", "netns", "add", &v.b])?;
        sh(&[
            "ip", "link", "add", &v.va, "netns", &v.a, "type", "veth", "peer", "name", &vb,
            "netns", &v.b,
        ])?;
        for (ns, dev, v4, v6) in [(&v.a, &v.va, &v.a4, &a6), (&v.b, &vb, &v.b4, &v.b6)] {
            let ex = |rest: &[&str]| {
                let mut args = vec!["ip", "netns", "exec", ns.as_str()];
                args.extend_from_slice(rest);
                sh(&args)
            };
            ex(&["ip", "addr", "add", &format!("{v4}/24"), "dev", dev])?;
            ex(&[
                "ip",
                "addr",
                "add",
                &format!("{v6}/64"),
                "dev",
                dev,
                "nodad",
            ])?;
            ex(&[
                "ethtool", "-K", dev, "tso", "off", "gso", "off", "gro", "off",
            ])?;
            ex(&["ip", "link", "set", dev, "up"])?;
            ex(&["ip", "link", "set", "lo", "up"])?;
        }
        Ok(v)
    }
}

impl Drop for Veth {
    fn drop(&mut self) {
        // Deleting the namespaces deletes the veth pair with them.
        let _ = sh(&["ip", "netns", "del", &self.a]);
        let _ = sh(&["ip", "netns", "del", &self.b]);
    }
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

/// Loads the agent and attaches it to `va` inside namespace `a`, runs `traffic` there, evicts.
fn capture(v: &Veth, traffic: impl FnOnce() -> Result<()> + Send + 'static) -> Result<Vec<Flow>> {
    capture_with(v, FlowAgent::builder(), traffic)
}

fn capture_with(
    v: &Veth,
    builder: netobserv_ebpf::FlowAgentBuilder,
    traffic: impl FnOnce() -> Result<()> + Send + 'static,
) -> Result<Vec<Flow>> {
    Ok(capture_full(v, builder, traffic)?.0.flows)
}

/// As [`capture_with`], with the whole eviction and the kernel's counters.
fn capture_full(
    v: &Veth,
    builder: netobserv_ebpf::FlowAgentBuilder,
    traffic: impl FnOnce() -> Result<()> + Send + 'static,
) -> Result<(netobserv_ebpf::Eviction, netobserv_ebpf::Counters)> {
    let va = v.va.clone();
    in_netns(&v.a, move || {
        let mut agent = builder.load()?;
        let mode = agent.attach(&va)?;
        ensure!(mode == AttachMode::Tcx, "this kernel has TCX, got {mode:?}");
        traffic()?;
        thread::sleep(Duration::from_millis(200));
        let ev = agent.evict()?;
        Ok((ev, agent.counters()?))
    })
}

fn find<'a>(
    flows: &'a [Flow],
    proto: u8,
    src: &str,
    dst: &str,
    pred: impl Fn(&Flow) -> bool,
) -> Result<&'a Flow> {
    let (src, dst): (IpAddr, IpAddr) = (src.parse()?, dst.parse()?);
    let hits: Vec<&Flow> = flows
        .iter()
        .filter(|f| {
            f.proto() == Some(proto)
                && f.src_addr() == Some(src)
                && f.dst_addr() == Some(dst)
                && pred(f)
        })
        .collect();
    match hits.as_slice() {
        [one] => Ok(one),
        _ => bail!(
            "expected one proto {proto} flow {src} -> {dst}, found {}: {flows:#?}",
            hits.len()
        ),
    }
}

#[test]
fn icmp_echo_counts_exact_packets_and_frame_bytes() -> Result<()> {
    let v = Veth::new()?;
    let (a4, b4) = (v.a4.clone(), v.b4.clone());
    let ns = v.a.clone();
    let target = b4.clone();
    let flows = capture(&v, move || {
        sh(&[
            "ip", "netns", "exec", &ns, "ping", "-c", "3", "-i", "0.2", "-Q", "184", "-s", "56",
            "-W", "2", &target,
        ])
    })?;
    // 56 bytes of payload + 8 ICMP + 20 IPv4 + 14 Ethernet.
    let req = find(&flows, 1, &a4, &b4, |f| f.icmp_type() == Some(8))?;
    assert_eq!(req.packets(), Some(3));
    assert_eq!(req.bytes(), Some(3 * 98));
    assert_eq!(req.icmp_code(), Some(0));
    assert_eq!(req.flow_direction(), Some(1), "requests leave va: egress");
    assert_eq!(req.etype(), Some(0x0800));
    assert_eq!(req.dscp(), Some(46), "TOS 184 is DSCP 46 (EF)");
    let rep = find(&flows, 1, &b4, &a4, |f| f.icmp_type() == Some(0))?;
    assert_eq!(rep.packets(), Some(3));
    assert_eq!(rep.bytes(), Some(3 * 98));
    assert_eq!(
        rep.flow_direction(),
        Some(0),
        "replies arrive on va: ingress"
    );
    assert!(rep.time_flow_start_ms() <= rep.time_flow_end_ms());
    assert_ne!(rep.src_mac(), rep.dst_mac());
    assert_eq!(req.src_mac(), rep.dst_mac());
    Ok(())
}

#[test]
fn icmpv6_echo_counts_exact_packets_and_frame_bytes() -> Result<()> {
    let v = Veth::new()?;
    let b6 = v.b6.clone();
    let a6 = b6.replace("::2", "::1");
    let ns = v.a.clone();
    let target = b6.clone();
    let flows = capture(&v, move || {
        sh(&[
            "ip", "netns", "exec", &ns, "ping", "-6", "-c", "3", "-i", "0.2", "-s", "56", "-W",
            "2", &target,
        ])
    })?;
    // 56 + 8 ICMPv6 + 40 IPv6 + 14 Ethernet.
    let req = find(&flows, 58, &a6, &b6, |f| f.icmp_type() == Some(128))?;
    assert_eq!((req.packets(), req.bytes()), (Some(3), Some(3 * 118)));
    assert_eq!(req.etype(), Some(0x86DD));
    let rep = find(&flows, 58, &b6, &a6, |f| f.icmp_type() == Some(129))?;
    assert_eq!((rep.packets(), rep.bytes()), (Some(3), Some(3 * 118)));
    Ok(())
}

#[test]
fn udp_datagrams_count_exactly() -> Result<()> {
    const N: u64 = 20;
    const SIZE: usize = 300;
    let v = Veth::new()?;
    let (a4, b4) = (v.a4.clone(), v.b4.clone());
    let bind = format!("{b4}:5353");
    let receiver = UdpSocketIn::bind(&v.b, &bind)?;
    let target = bind.clone();
    let flows = capture(&v, move || {
        let s = UdpSocket::bind("0.0.0.0:40001")?;
        for _ in 0..N {
            s.send_to(&[7u8; SIZE], &target)?;
        }
        Ok(())
    })?;
    assert_eq!(receiver.count()?, N as usize);
    let f = find(&flows, 17, &a4, &b4, |_| true)?;
    assert_eq!(f.packets(), Some(N));
    // payload + 8 UDP + 20 IPv4 + 14 Ethernet.
    assert_eq!(f.bytes(), Some(N * (SIZE as u64 + 42)));
    assert_eq!((f.src_port(), f.dst_port()), (Some(40001), Some(5353)));
    assert_eq!(f.flags(), None, "no TCP flags on UDP");
    Ok(())
}

/// A UDP socket bound in another namespace, read on its own thread.
struct UdpSocketIn(thread::JoinHandle<Result<usize>>);

impl UdpSocketIn {
    fn bind(ns: &str, addr: &str) -> Result<Self> {
        let addr = addr.to_string();
        let s = in_netns(ns, move || Ok(UdpSocket::bind(&addr)?))?;
        s.set_read_timeout(Some(Duration::from_secs(3)))?;
        Ok(UdpSocketIn(thread::spawn(move || {
            let mut n = 0;
            let mut buf = [0u8; 2048];
            while s.recv(&mut buf).is_ok() {
                n += 1;
            }
            Ok(n)
        })))
    }

    fn count(self) -> Result<usize> {
        self.0
            .join()
            .map_err(|_| anyhow::anyhow!("receiver panicked"))?
    }
}

#[test]
fn tcp_transfer_has_syn_and_exact_frame_bytes() -> Result<()> {
    // The server in `b` sends: the data then arrives on `va`'s ingress one segment per frame. The
    // other way, TC egress sees TCP's GSO packets before they are split (the stack builds them even
    // with offloads off), so only the client's pure ACKs are counted on egress.
    const SIZE: u64 = 100_000;
    let v = Veth::new()?;
    let (a4, b4) = (v.a4.clone(), v.b4.clone());
    let bind = format!("{b4}:5001");
    let listener = {
        let bind = bind.clone();
        in_netns(&v.b, move || Ok(TcpListener::bind(&bind)?))?
    };
    let server = thread::spawn(move || -> Result<()> {
        let (mut c, _) = listener.accept()?;
        c.write_all(&vec![1u8; SIZE as usize])?;
        c.shutdown(std::net::Shutdown::Write)?;
        let mut rest = Vec::new();
        c.read_to_end(&mut rest)?;
        Ok(())
    });
    let flows = capture(&v, move || {
        let mut c = TcpStream::connect(&bind)?;
        let mut got = Vec::new();
        c.read_to_end(&mut got)?;
        ensure!(got.len() as u64 == SIZE, "received {} bytes", got.len());
        Ok(())
    })?;
    server
        .join()
        .map_err(|_| anyhow::anyhow!("server panicked"))??;
    const SYN: u16 = 0x02;
    const ACK: u16 = 0x10;
    const SYN_ACK: u16 = 0x100;
    const FIN_ACK: u16 = 0x200;
    let out = find(&flows, 6, &a4, &b4, |_| true)?;
    let back = find(&flows, 6, &b4, &a4, |_| true)?;
    assert_eq!(out.dst_port(), Some(5001));
    assert_eq!(back.src_port(), Some(5001));
    assert_eq!(out.src_port(), back.dst_port());
    let of = out.flags().map(|f| f.bits).unwrap_or(0);
    let bf = back.flags().map(|f| f.bits).unwrap_or(0);
    assert_eq!(
        of & (SYN | ACK | FIN_ACK),
        SYN | ACK | FIN_ACK,
        "client flags {of:#x}"
    );
    assert_eq!(
        bf & (SYN_ACK | FIN_ACK),
        SYN_ACK | FIN_ACK,
        "server flags {bf:#x}"
    );
    // Linux uses TCP timestamps: a SYN or SYN-ACK has a 40-byte TCP header, every other segment
    // 32; every frame adds 14 (Ethernet) + 20 (IPv4). Segments carry at most the MSS, 1448.
    let (bp, bb) = (back.packets().unwrap_or(0), back.bytes().unwrap_or(0));
    assert!(bp > SIZE.div_ceil(1448), "{bp} packets for {SIZE} bytes");
    assert_eq!(
        bb,
        SIZE + 74 + (bp - 1) * 66,
        "server bytes for {bp} packets"
    );
    let (op, ob) = (out.packets().unwrap_or(0), out.bytes().unwrap_or(0));
    assert!(op >= 3, "SYN, ACKs, FIN: {op} packets");
    assert_eq!(
        ob,
        74 + (op - 1) * 66,
        "client sent no payload: {op} packets"
    );
    Ok(())
}

#[test]
fn drop_detaches_both_programs_and_unknown_interfaces_fail() -> Result<()> {
    use aya::programs::SchedClassifier;
    use aya::programs::tc::TcAttachType;
    let v = Veth::new()?;
    let va = v.va.clone();
    in_netns(&v.a, move || {
        let count = |at| -> Result<usize> { Ok(SchedClassifier::query_tcx(&va, at)?.1.len()) };
        let mut agent = FlowAgent::load()?;
        agent.attach(&va)?;
        assert_eq!(count(TcAttachType::Ingress)?, 1);
        assert_eq!(count(TcAttachType::Egress)?, 1);
        let err = agent.attach("nosuchdev0").err().map(|e| e.to_string());
        assert_eq!(
            err.as_deref(),
            Some("interface \"nosuchdev0\" not found in this network namespace")
        );
        drop(agent);
        assert_eq!(
            count(TcAttachType::Ingress)?,
            0,
            "ingress program left after drop"
        );
        assert_eq!(
            count(TcAttachType::Egress)?,
            0,
            "egress program left after drop"
        );
        Ok(())
    })
}
