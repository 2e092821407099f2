//! Dedup across interfaces, the ring-buffer fallback, sampling, filter rules, DNS, drops and RTT,
//! each with real traffic in namespaces the test makes.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use netobserv_ebpf::FlowAgent;
use netobserv_ebpf::filter;
use netobserv_flow::Flow;

use super::{UdpSocketIn, Veth, capture_full, capture_with, find, in_netns, sh};

fn flow_packets(flows: &[Flow], proto: u8, pred: impl Fn(&Flow) -> bool) -> u64 {
    flows
        .iter()
        .filter(|f| f.proto() == Some(proto) && pred(f))
        .map(|f| f.packets().unwrap_or(0))
        .sum()
}

#[test]
fn a_full_map_hands_new_flows_to_the_ring_buffer() -> Result<()> {
    // A one-entry map: the first flow takes it, the other ICMP direction goes through the ring
    // buffer one packet at a time and is summed in user space; nothing is lost. Only ICMP over
    // IPv4 is tracked: a stray IPv6 neighbour discovery packet taking the one entry would send
    // both ping directions to the ring buffer, whose user-space table is capped at the map's size.
    let v = Veth::new()?;
    let icmp_only = || -> Result<_> {
        Ok(filter::compile(&filter::parse_rules(
            r#"[{"ip_cidr":"0.0.0.0/0","action":"Accept","protocol":"ICMP"}]"#,
        )?)?)
    };
    let (a4, b4) = (v.a4.clone(), v.b4.clone());
    let ping = |v: &Veth| {
        let (ns, target) = (v.a.clone(), v.b4.clone());
        move || {
            sh(&[
                "ip", "netns", "exec", &ns, "ping", "-c", "3", "-i", "0.2", "-W", "2", &target,
            ])
        }
    };
    let (ev, counters) = capture_full(
        &v,
        FlowAgent::builder()
            .with_max_flows(1)
            .with_filter(icmp_only()?)
            .with_ringbuf_fallback(true),
        ping(&v),
    )?;
    let req = find(&ev.flows, 1, &a4, &b4, |f| f.icmp_type() == Some(8))?;
    let rep = find(&ev.flows, 1, &b4, &a4, |f| f.icmp_type() == Some(0))?;
    assert_eq!((req.packets(), req.bytes()), (Some(3), Some(294)));
    assert_eq!((rep.packets(), rep.bytes()), (Some(3), Some(294)));
    assert_eq!(ev.map_flows, 1, "{:#?}", ev.flows);
    assert!(ev.ringbuf_flows >= 1 && ev.ringbuf_records >= 3, "{ev:?}");
    assert_eq!(
        counters.ringbuf_fallback, ev.ringbuf_records,
        "{counters:?}"
    );
    assert_eq!(counters.ringbuf_full, 0);

    // Without the fallback, the packets of flows that find the map full are counted as lost.
    let (ev, counters) = capture_full(
        &v,
        FlowAgent::builder()
            .with_max_flows(1)
            .with_filter(icmp_only()?)
            .with_ringbuf_fallback(false),
        ping(&v),
    )?;
    assert_eq!(ev.flows.len(), 1, "{:#?}", ev.flows);
    assert_eq!(ev.ringbuf_flows, 0);
    // One ICMP direction holds the map; the other's 3 packets are counted as lost.
    assert_eq!(flow_packets(&ev.flows, 1, |_| true), 3, "{:#?}", ev.flows);
    assert_eq!(
        counters.ringbuf_full, 3,
        "lost packets counted: {counters:?}"
    );
    Ok(())
}

/// Three namespaces: `r` routes between `b` (10.N.1.0/24, veth rb/b) and `c` (10.N.2.0/24, veth
/// rc/c). Deleted on drop.
struct Routed {
    r: String,
    b: String,
    c: String,
    rb: String,
    rc: String,
    b4: String,
    c4: String,
}

impl Routed {
    fn new() -> Result<Self> {
        static N: AtomicU32 = AtomicU32::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let id = std::process::id() % 100_000;
        let net = format!("10.{}.{}", 210 + n % 40, id % 125 * 2);
        let net2 = format!("10.{}.{}", 210 + n % 40, id % 125 * 2 + 1);
        let t = Routed {
            r: format!("nor{id}x{n}r"),
            b: format!("nor{id}x{n}b"),
            c: format!("nor{id}x{n}c"),
            rb: format!("nr{id}x{n}b"),
            rc: format!("nr{id}x{n}c"),
            b4: format!("{net}.2"),
            c4: format!("{net2}.2"),
        };
        for ns in [&t.r, &t.b, &t.c] {
            sh(&["ip", "netns", "add", ns]).context("creating a network namespace (needs root)")?;
        }
        let ex = |ns: &str, rest: &[&str]| {
            let mut args = vec!["ip", "netns", "exec", ns];
            args.extend_from_slice(rest);
            sh(&args)
        };
        for (side, peer_ns, dev, net) in [(&t.rb, &t.b, "eth0", &net), (&t.rc, &t.c, "eth0", &net2)]
        {
            sh(&[
                "ip", "link", "add", side, "netns", &t.r, "type", "veth", "peer", "name", dev,
                "netns", peer_ns,
            ])?;
            ex(
                &t.r,
                &["ip", "addr", "add", &format!("{net}.1/24"), "dev", side],
            )?;
            ex(
                peer_ns,
                &["ip", "addr", "add", &format!("{net}.2/24"), "dev", dev],
            )?;
            for (ns, d) in [(t.r.as_str(), side.as_str()), (peer_ns.as_str(), dev)] {
                ex(
                    ns,
                    &["ethtool", "-K", d, "tso", "off", "gso", "off", "gro", "off"],
                )?;
                ex(ns, &["ip", "link", "set", d, "up"])?;
                ex(ns, &["ip", "link", "set", "lo", "up"])?;
            }
            ex(
                peer_ns,
                &["ip", "route", "add", "default", "via", &format!("{net}.1")],
            )?;
        }
        ex(&t.r, &["sysctl", "-q", "-w", "net.ipv4.ip_forward=1"])?;
        Ok(t)
    }
}

impl Drop for Routed {
    fn drop(&mut self) {
        for ns in [&self.r, &self.b, &self.c] {
            let _ = sh(&["ip", "netns", "del", ns]);
        }
    }
}

#[test]
fn a_flow_crossing_two_interfaces_is_counted_once_and_lists_both() -> Result<()> {
    let t = Routed::new()?;
    let (rb, rc) = (t.rb.clone(), t.rc.clone());
    let (ns_b, c4) = (t.b.clone(), t.c4.clone());
    let flows = in_netns(&t.r, move || {
        let mut agent = FlowAgent::load()?;
        agent.attach(&rb)?;
        agent.attach(&rc)?;
        sh(&[
            "ip", "netns", "exec", &ns_b, "ping", "-c", "3", "-i", "0.2", "-W", "2", &c4,
        ])?;
        thread::sleep(Duration::from_millis(200));
        Ok(agent.evict()?.flows)
    })?;
    // b -> c enters the router on rb (ingress, counted) and leaves on rc (egress, listed). The
    // router's forwarding keeps the frame size: 98 bytes each hop.
    let req = find(&flows, 1, &t.b4, &t.c4, |f| f.icmp_type() == Some(8))?;
    assert_eq!(
        (req.packets(), req.bytes()),
        (Some(3), Some(294)),
        "{req:#?}"
    );
    let names = |f: &Flow| -> Vec<String> {
        f.interfaces()
            .map(|v| v.iter().map(|s| s.to_string()).collect())
            .unwrap_or_default()
    };
    assert_eq!(names(req), vec![t.rb.clone(), t.rc.clone()]);
    assert_eq!(req.if_directions().map(|d| d.to_vec()), Some(vec![0, 1]));
    assert_eq!(req.flow_direction(), Some(0));
    let rep = find(&flows, 1, &t.c4, &t.b4, |f| f.icmp_type() == Some(0))?;
    assert_eq!((rep.packets(), rep.bytes()), (Some(3), Some(294)));
    assert_eq!(names(rep), vec![t.rc.clone(), t.rb.clone()]);
    assert_eq!(rep.if_directions().map(|d| d.to_vec()), Some(vec![0, 1]));
    Ok(())
}

#[test]
fn sampling_keeps_about_one_packet_in_n() -> Result<()> {
    const N: u64 = 3000;
    let v = Veth::new()?;
    let (a4, b4) = (v.a4.clone(), v.b4.clone());
    let target = format!("{b4}:7000");
    let flows = capture_with(&v, FlowAgent::builder().with_sampling(10), move || {
        let s = UdpSocket::bind("0.0.0.0:0")?;
        for _ in 0..N {
            s.send_to(&[0u8; 32], &target)?;
        }
        Ok(())
    })?;
    let f = find(&flows, 17, &a4, &b4, |f| f.dst_port() == Some(7000))?;
    let p = f.packets().unwrap_or(0);
    // Binomial(3000, 0.1): mean 300, standard deviation 16.4; the bounds are 6 deviations wide.
    assert!(
        (200..=400).contains(&p),
        "{p} of {N} packets sampled at 1/10"
    );
    assert_eq!(f.bytes(), Some(p * 74));
    assert_eq!(f.sampling(), Some(10));

    // A filter rule's own rate, with no global one.
    let rules = filter::parse_rules(&format!(
        r#"[{{"ip_cidr":"{b4}/32","action":"Accept","protocol":"UDP","sample":20}}]"#
    ))?;
    let target = format!("{b4}:7001");
    let flows = capture_with(
        &v,
        FlowAgent::builder().with_filter(filter::compile(&rules)?),
        move || {
            let s = UdpSocket::bind("0.0.0.0:0")?;
            for _ in 0..N {
                s.send_to(&[0u8; 32], &target)?;
            }
            Ok(())
        },
    )?;
    let f = find(&flows, 17, &a4, &b4, |f| f.dst_port() == Some(7001))?;
    let p = f.packets().unwrap_or(0);
    // Binomial(3000, 0.05): mean 150, standard deviation 11.9.
    assert!(
        (80..=220).contains(&p),
        "{p} of {N} packets sampled at 1/20"
    );
    assert_eq!(f.sampling(), Some(20));
    Ok(())
}

#[test]
fn filter_rules_accept_reject_and_drop_what_no_rule_matches() -> Result<()> {
    let v = Veth::new()?;
    let (a4, b4, b6) = (v.a4.clone(), v.b4.clone(), v.b6.clone());
    let rules = filter::parse_rules(&format!(
        r#"[{{"ip_cidr":"{b4}/32","action":"Accept","protocol":"ICMP"}},
            {{"ip_cidr":"{a4}/32","action":"Reject","protocol":"UDP","destination_port":5353}}]"#
    ))?;
    let kernel = filter::compile(&rules)?;
    // Listeners, so b sends no port-unreachable errors back (ICMP to a that b's rule accepts).
    let r1 = UdpSocketIn::bind(&v.b, &format!("{b4}:5353"))?;
    let r2 = UdpSocketIn::bind(&v.b, &format!("{b4}:6000"))?;
    let r3 = UdpSocketIn::bind(&v.a, &format!("{a4}:6000"))?;
    let (ns, t4, t6) = (v.a.clone(), b4.clone(), b6.clone());
    let (ns_b, back) = (v.b.clone(), format!("{a4}:6000"));
    let (ev, counters) = capture_full(&v, FlowAgent::builder().with_filter(kernel), move || {
        let s = UdpSocket::bind("0.0.0.0:0")?;
        for _ in 0..4 {
            s.send_to(b"x", format!("{t4}:5353"))?;
            s.send_to(b"y", format!("{t4}:6000"))?;
        }
        in_netns(&ns_b, move || {
            let s = UdpSocket::bind("0.0.0.0:0")?;
            for _ in 0..3 {
                s.send_to(b"z", &back)?;
            }
            Ok(())
        })?;
        sh(&[
            "ip", "netns", "exec", &ns, "ping", "-c", "2", "-i", "0.2", "-W", "2", &t4,
        ])?;
        sh(&[
            "ip", "netns", "exec", &ns, "ping", "-6", "-c", "2", "-i", "0.2", "-W", "2", &t6,
        ])
    })?;
    let flows = &ev.flows;
    // Accepted: ICMP to b (the request matches b's rule by its destination, the reply by its
    // source).
    let echo = |t: u8| move |f: &Flow| f.icmp_type() == Some(t);
    assert_eq!(find(flows, 1, &a4, &b4, echo(8))?.packets(), Some(2));
    assert_eq!(find(flows, 1, &b4, &a4, echo(0))?.packets(), Some(2));
    assert_eq!(
        (r1.count()?, r2.count()?, r3.count()?),
        (4, 4, 3),
        "the filter never drops packets"
    );
    // Rejected: UDP to 5353 from a.
    assert_eq!(flow_packets(flows, 17, |f| f.dst_port() == Some(5353)), 0);
    // As upstream, the last rule looked up sets the action even when its other conditions fail:
    // UDP a -> b:6000 finds a's Reject rule (port mismatch), then b's Accept rule (protocol
    // mismatch): no match under an Accept, not recorded. UDP b -> a:6000 finds b's rule, then
    // a's Reject rule whose port does not match: a partial Reject match is kept.
    assert_eq!(
        flow_packets(flows, 17, |f| f.dst_addr() == b4.parse().ok()
            && f.dst_port() == Some(6000)),
        0
    );
    assert_eq!(
        find(flows, 17, &b4, &a4, |f| f.dst_port() == Some(6000))?.packets(),
        Some(3)
    );
    // No rule covers IPv6 (IPv4 CIDRs never match it here): not recorded.
    assert_eq!(flow_packets(flows, 58, |_| true), 0, "{flows:#?}");
    assert_eq!(counters.filter_reject, 4, "{counters:?}");
    assert!(counters.filter_accept >= 4, "{counters:?}");
    assert!(counters.filter_nomatch >= 4 + 3 + 4, "{counters:?}");
    Ok(())
}

/// A process killed on drop.
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A DNS query for `name`, type A.
fn dns_query(id: u16, name: &str) -> Vec<u8> {
    let mut q = Vec::new();
    q.extend_from_slice(&id.to_be_bytes());
    q.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
    for label in name.split('.') {
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.extend_from_slice(&[0, 0, 1, 0, 1]);
    q
}

/// Sends the query until an answer comes (the server may still be starting); returns the
/// client's port and the answer's rcode.
fn ask(server: &str, id: u16, name: &str) -> Result<(u16, u8)> {
    let s = UdpSocket::bind("0.0.0.0:0")?;
    s.set_read_timeout(Some(Duration::from_millis(300)))?;
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut buf = [0u8; 512];
    loop {
        s.send_to(&dns_query(id, name), server)?;
        if let Ok(n) = s.recv(&mut buf) {
            ensure!(n >= 12 && buf[..2] == id.to_be_bytes(), "bad answer");
            return Ok((s.local_addr()?.port(), buf[3] & 0x0f));
        }
        ensure!(
            Instant::now() < deadline,
            "no answer from {server} for {name}"
        );
    }
}

#[test]
fn dns_responses_carry_id_rcode_name_and_latency() -> Result<()> {
    let v = Veth::new()?;
    let (a4, b4) = (v.a4.clone(), v.b4.clone());
    // A slow upstream for slow.test in b, answering after 60 ms; dnsmasq forwards to it.
    let slow = in_netns(&v.b, {
        let bind = format!("{b4}:5300");
        move || Ok(UdpSocket::bind(bind)?)
    })?;
    slow.set_read_timeout(Some(Duration::from_secs(8)))?;
    let slow_server = thread::spawn(move || {
        let mut buf = [0u8; 512];
        while let Ok((n, from)) = slow.recv_from(&mut buf) {
            thread::sleep(Duration::from_millis(60));
            let mut answer = buf[..n].to_vec();
            answer[2] |= 0x80; // QR
            answer[3] = 0x80; // RA, NoError, no answers
            let _ = slow.send_to(&answer, from);
        }
    });
    let _dnsmasq = Guard(
        Command::new("ip")
            .args([
                "netns",
                "exec",
                &v.b,
                "dnsmasq",
                "--keep-in-foreground",
                "--conf-file=/dev/null",
            ])
            .args([
                "--no-resolv",
                "--no-hosts",
                "--bind-interfaces",
                "--user=root",
            ])
            .arg(format!("--listen-address={b4}"))
            .args([
                "--address=/host.example.test/10.9.9.9",
                "--local=/example.test/",
            ])
            .arg(format!("--server=/slow.test/{b4}#5300"))
            .args(["--pid-file=", "--cache-size=0"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting dnsmasq (apt-get install dnsmasq-base)")?,
    );
    let server = format!("{b4}:53");
    // Wait for dnsmasq before the agent starts, so the test's queries are answered at once.
    in_netns(&v.a, {
        let server = server.clone();
        move || ask(&server, 1, "warmup.example.test").map(|_| ())
    })?;
    let ports = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let got = ports.clone();
    let tcp_port = std::sync::Arc::new(std::sync::Mutex::new(0u16));
    let tcp_got = tcp_port.clone();
    let tcp_server = format!("{b4}:53");
    let (ev, _) = capture_full(
        &v,
        FlowAgent::builder().with_dns_tracking(Some(53)),
        move || {
            for (id, name) in [
                (0x1234, "host.example.test"),
                (0x4321, "nope.example.test"),
                (0x5555, "a.slow.test"),
            ] {
                let (port, rcode) = ask(&server, id, name)?;
                got.lock()
                    .map_err(|_| anyhow::anyhow!("poisoned"))?
                    .push((id, port, rcode));
            }
            // The same over TCP: a two-byte length, then the message.
            let mut c = TcpStream::connect(&tcp_server)?;
            let q = dns_query(0x7777, "host.example.test");
            c.write_all(&(q.len() as u16).to_be_bytes())?;
            c.write_all(&q)?;
            let mut len = [0u8; 2];
            c.read_exact(&mut len)?;
            let mut answer = vec![0u8; usize::from(u16::from_be_bytes(len))];
            c.read_exact(&mut answer)?;
            ensure!(
                answer.get(..2) == Some(&[0x77, 0x77][..]),
                "TCP answer for another id"
            );
            *tcp_got.lock().map_err(|_| anyhow::anyhow!("poisoned"))? = c.local_addr()?.port();
            Ok(())
        },
    )?;
    let answers = ports
        .lock()
        .map_err(|_| anyhow::anyhow!("poisoned"))?
        .clone();
    let tcp_port = *tcp_port.lock().map_err(|_| anyhow::anyhow!("poisoned"))?;
    let rcodes: Vec<u8> = answers.iter().map(|a| a.2).collect();
    assert_eq!(rcodes, vec![0, 3, 0], "dnsmasq's answers");
    let flows = &ev.flows;
    let response = |port: u16| find(flows, 17, &b4, &a4, |f| f.dst_port() == Some(port));
    let ok = response(answers[0].1)?;
    assert_eq!(ok.dns_id(), Some(0x1234));
    assert_eq!(ok.dns_flags_response_code(), Some("NoError"));
    assert_eq!(
        ok.dns_flags().map(|f| f & 0x8000),
        Some(0x8000),
        "a response"
    );
    assert_eq!(ok.dns_name(), Some("host.example.test"));
    assert!(ok.dns_latency_ms().is_some_and(|l| (0..1000).contains(&l)));
    let nx = response(answers[1].1)?;
    assert_eq!(nx.dns_id(), Some(0x4321));
    assert_eq!(nx.dns_flags_response_code(), Some("NXDomain"));
    assert_eq!(nx.dns_name(), Some("nope.example.test"));
    let slow = response(answers[2].1)?;
    assert_eq!(slow.dns_id(), Some(0x5555));
    let latency = slow.dns_latency_ms().unwrap_or(-1);
    assert!(
        (60..1000).contains(&latency),
        "forwarded with 60 ms delay: {latency} ms"
    );
    let tcp = find(flows, 6, &b4, &a4, |f| f.dst_port() == Some(tcp_port))?;
    assert_eq!(tcp.dns_id(), Some(0x7777), "DNS over TCP");
    assert_eq!(tcp.dns_flags_response_code(), Some("NoError"));
    assert_eq!(tcp.dns_name(), Some("host.example.test"));
    // As upstream, the query's flow carries no DNS record.
    let query = find(flows, 17, &a4, &b4, |f| f.src_port() == Some(answers[0].1))?;
    assert_eq!(query.dns_id(), None);
    drop(_dnsmasq);
    let _ = slow_server.join();
    Ok(())
}

#[test]
fn netfilter_drops_are_counted_with_their_cause() -> Result<()> {
    const N: u64 = 5;
    let v = Veth::new()?;
    let (a4, b4) = (v.a4.clone(), v.b4.clone());
    let ex = |rest: &[&str]| {
        let mut args = vec!["ip", "netns", "exec", v.b.as_str(), "nft"];
        args.extend_from_slice(rest);
        sh(&args)
    };
    ex(&["add", "table", "inet", "nob"])?;
    ex(&[
        "add",
        "chain",
        "inet",
        "nob",
        "in",
        "{ type filter hook input priority 0; }",
    ])?;
    ex(&[
        "add", "rule", "inet", "nob", "in", "udp", "dport", "9999", "drop",
    ])?;
    let target = format!("{b4}:9999");
    let (ev, _) = capture_full(&v, FlowAgent::builder().with_pkt_drops(true), move || {
        let s = UdpSocket::bind("0.0.0.0:0")?;
        for _ in 0..N {
            s.send_to(&[1u8; 100], &target)?;
        }
        Ok(())
    })?;
    let f = find(&ev.flows, 17, &a4, &b4, |f| f.dst_port() == Some(9999))?;
    assert_eq!(f.packets(), Some(N), "TC counted them on the way out");
    assert_eq!(f.pkt_drop_packets(), Some(N));
    // Dropped in b's IP input: 100 bytes of payload + 8 UDP + 20 IPv4, no Ethernet header.
    assert_eq!(f.pkt_drop_bytes(), Some(N * 128));
    assert_eq!(
        f.pkt_drop_latest_drop_cause(),
        Some("SKB_DROP_REASON_NETFILTER_DROP")
    );
    assert_eq!(f.pkt_drop_latest_state(), Some("TCP_INVALID_STATE"));
    Ok(())
}

#[test]
fn tracepoint_features_load_on_this_kernel() -> Result<()> {
    let agent = FlowAgent::builder()
        .with_pkt_drops(true)
        .with_rtt(true)
        .with_dns_tracking(Some(53))
        .load()?;
    let f = agent.features();
    assert_eq!((&f.drops, &f.rtt, f.dns), (&Ok(true), &Ok(true), true));
    Ok(())
}

#[test]
fn tcp_flows_get_a_plausible_rtt() -> Result<()> {
    let v = Veth::new()?;
    let (a4, b4) = (v.a4.clone(), v.b4.clone());
    let bind = format!("{b4}:5002");
    let listener = {
        let bind = bind.clone();
        in_netns(&v.b, move || Ok(TcpListener::bind(&bind)?))?
    };
    let server = thread::spawn(move || -> Result<()> {
        let (mut c, _) = listener.accept()?;
        let mut buf = [0u8; 64];
        for _ in 0..20 {
            c.read_exact(&mut buf)?;
            c.write_all(&buf)?;
        }
        Ok(())
    });
    let flows = capture_with(&v, FlowAgent::builder().with_rtt(true), move || {
        let mut c = TcpStream::connect(&bind)?;
        let mut buf = [7u8; 64];
        for _ in 0..20 {
            c.write_all(&buf)?;
            c.read_exact(&mut buf)?;
        }
        Ok(())
    })?;
    server
        .join()
        .map_err(|_| anyhow::anyhow!("server panicked"))??;
    for (src, dst) in [(&b4, &a4), (&a4, &b4)] {
        let f = find(&flows, 6, src, dst, |_| true)?;
        let rtt = f.time_flow_rtt_ns().unwrap_or(0);
        // A veth between two namespaces: microseconds, far below a second.
        assert!(
            (1_000..1_000_000_000).contains(&rtt),
            "{src} -> {dst}: RTT {rtt} ns"
        );
    }
    Ok(())
}

#[test]
fn ipv6_tcp_counts_exact_frame_bytes() -> Result<()> {
    const SIZE: u64 = 20_000;
    let v = Veth::new()?;
    let b6 = v.b6.clone();
    let a6 = b6.replace("::2", "::1");
    let bind = format!("[{b6}]:5003");
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
    let flows = capture_with(&v, FlowAgent::builder(), move || {
        let mut c = TcpStream::connect(&bind)?;
        let mut got = Vec::new();
        c.read_to_end(&mut got)?;
        ensure!(got.len() as u64 == SIZE, "received {} bytes", got.len());
        Ok(())
    })?;
    server
        .join()
        .map_err(|_| anyhow::anyhow!("server panicked"))??;
    let back = find(&flows, 6, &b6, &a6, |_| true)?;
    assert_eq!(back.etype(), Some(0x86DD));
    assert_eq!(back.src_port(), Some(5003));
    let flags = back.flags().map(|f| f.bits).unwrap_or(0);
    assert_eq!(flags & 0x300, 0x300, "SYN_ACK and FIN_ACK: {flags:#x}");
    // SYN-ACK: 14 + 40 IPv6 + 40 TCP with options; the others 14 + 40 + 32.
    let (bp, bb) = (back.packets().unwrap_or(0), back.bytes().unwrap_or(0));
    assert_eq!(bb, SIZE + 94 + (bp - 1) * 86, "{bp} packets");
    Ok(())
}

#[test]
fn vlan_tagged_frames_are_parsed_behind_their_tag() -> Result<()> {
    // This kernel has no 802.1Q driver, so the tagged frames are written whole on `va` through a
    // packet socket (python3's AF_PACKET): Ethernet, tag 7, IPv4, UDP, 10 bytes of payload. TC
    // egress sees them as the stack would send them.
    let v = Veth::new()?;
    let script = format!(
        r#"
import socket, struct
src, dst = socket.inet_aton("{a4}"), socket.inet_aton("{b4}")
ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0xb8, 20 + 8 + 10, 1, 0, 64, 17, 0, src, dst)
udp = struct.pack("!HHHH", 40000, 7777, 8 + 10, 0) + b"0123456789"
frame = b"\x02\x00\x00\x00\x00\x02" + b"\x02\x00\x00\x00\x00\x01" + struct.pack("!HHH", 0x8100, 7, 0x0800) + ip + udp
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind(("{va}", 0))
for _ in range(3):
    s.send(frame)
"#,
        a4 = v.a4,
        b4 = v.b4,
        va = v.va
    );
    let ns = v.a.clone();
    let flows = capture_with(&v, FlowAgent::builder(), move || {
        sh(&["ip", "netns", "exec", &ns, "python3", "-c", &script])
    })?;
    let f = find(&flows, 17, &v.a4, &v.b4, |f| f.dst_port() == Some(7777))?;
    // 14 Ethernet + 4 tag + 20 IPv4 + 8 UDP + 10.
    assert_eq!((f.packets(), f.bytes()), (Some(3), Some(3 * 56)));
    assert_eq!(f.etype(), Some(0x0800), "the EtherType behind the tag");
    assert_eq!(f.src_port(), Some(40000));
    assert_eq!(f.dscp(), Some(46), "TOS 0xb8");
    Ok(())
}

#[test]
fn dns_latency_survives_a_response_crossing_two_interfaces() -> Result<()> {
    // The router sees the query on rb then rc, the response on rc then rb: the latency is
    // measured on rc and must not be overwritten by the second sighting on rb.
    let t = Routed::new()?;
    let c4 = t.c4.clone();
    let server = in_netns(&t.c, {
        let bind = format!("{c4}:53");
        move || Ok(UdpSocket::bind(bind)?)
    })?;
    server.set_read_timeout(Some(Duration::from_secs(5)))?;
    let responder = thread::spawn(move || {
        let mut buf = [0u8; 512];
        if let Ok((n, from)) = server.recv_from(&mut buf) {
            thread::sleep(Duration::from_millis(50));
            let mut answer = buf[..n].to_vec();
            answer[2] |= 0x80;
            answer[3] = 0x83; // RA, NXDomain
            let _ = server.send_to(&answer, from);
        }
    });
    let (rb, rc, ns_b) = (t.rb.clone(), t.rc.clone(), t.b.clone());
    let target = format!("{c4}:53");
    let flows = in_netns(&t.r, move || {
        let mut agent = FlowAgent::builder().with_dns_tracking(Some(53)).load()?;
        agent.attach(&rb)?;
        agent.attach(&rc)?;
        let (port, rcode) = in_netns(&ns_b, move || ask(&target, 0x2222, "x.test"))?;
        ensure!(rcode == 3, "rcode {rcode}");
        thread::sleep(Duration::from_millis(200));
        Ok((agent.evict()?.flows, port))
    })?;
    let _ = responder.join();
    let (flows, port) = flows;
    let response = find(&flows, 17, &t.c4, &t.b4, |f| f.dst_port() == Some(port))?;
    assert_eq!(response.dns_id(), Some(0x2222));
    assert_eq!(response.dns_flags_response_code(), Some("NXDomain"));
    let latency = response.dns_latency_ms().unwrap_or(-1);
    assert!((50..1000).contains(&latency), "{latency} ms");
    Ok(())
}

#[test]
fn filter_rules_match_port_ranges_pairs_peers_and_tcp_flags() -> Result<()> {
    let v = Veth::new()?;
    let (a4, b4, b6) = (v.a4.clone(), v.b4.clone(), v.b6.clone());
    let a6 = b6.replace("::2", "::1");
    let rules = filter::parse_rules(&format!(
        r#"[{{"ip_cidr":"{b4}/32","action":"Accept","protocol":"UDP","destination_port_range":"7100-7199","peer_ip":"{a4}"}},
            {{"ip_cidr":"{a4}/32","action":"Accept","protocol":"UDP","source_ports":"7300,7301"}},
            {{"ip_cidr":"{b6}/128","action":"Accept","protocol":"TCP","tcp_flags":"SYN"}}]"#
    ))?;
    let listener = {
        let bind = format!("[{b6}]:5004");
        in_netns(&v.b, move || Ok(TcpListener::bind(bind)?))?
    };
    let server = thread::spawn(move || -> Result<()> {
        let (mut c, _) = listener.accept()?;
        let mut buf = Vec::new();
        c.read_to_end(&mut buf)?;
        Ok(())
    });
    let (t4, t6) = (b4.clone(), b6.clone());
    let flows = capture_with(
        &v,
        FlowAgent::builder().with_filter(filter::compile(&rules)?),
        move || {
            let pair = UdpSocket::bind("0.0.0.0:7300")?;
            pair.send_to(b"a", format!("{t4}:9000"))?;
            let other = UdpSocket::bind("0.0.0.0:0")?;
            other.send_to(b"b", format!("{t4}:7150"))?;
            other.send_to(b"c", format!("{t4}:7250"))?;
            let mut c = TcpStream::connect(format!("[{t6}]:5004"))?;
            c.write_all(b"hello")?;
            Ok(())
        },
    )?;
    server
        .join()
        .map_err(|_| anyhow::anyhow!("server panicked"))??;
    // a's rule: source port 7300 is one of the pair.
    assert_eq!(
        find(&flows, 17, &a4, &b4, |f| f.dst_port() == Some(9000))?.packets(),
        Some(1)
    );
    // b's rule: 7150 is in the range and the peer is a.
    assert_eq!(
        find(&flows, 17, &a4, &b4, |f| f.dst_port() == Some(7150))?.packets(),
        Some(1)
    );
    // 7250: neither rule matches.
    assert_eq!(flow_packets(&flows, 17, |f| f.dst_port() == Some(7250)), 0);
    // b6's rule keeps only the packets whose flag is exactly SYN: the client's SYN.
    let syn = find(&flows, 6, &a6, &b6, |_| true)?;
    assert_eq!(syn.packets(), Some(1), "{syn:#?}");
    assert_eq!(syn.flags().map(|f| f.bits), Some(0x02));
    assert_eq!(flow_packets(&flows, 6, |f| f.src_port() == Some(5004)), 0);
    Ok(())
}

#[test]
fn the_clsact_path_counts_and_detaches_its_filters() -> Result<()> {
    // This kernel has TCX; tcAttachMode tc takes the older path: a clsact qdisc and filters.
    let v = Veth::new()?;
    let (a4, b4, va) = (v.a4.clone(), v.b4.clone(), v.va.clone());
    let (ns, target) = (v.a.clone(), v.b4.clone());
    let filters = |ns: &str, dev: &str| -> Result<String> {
        let out = Command::new("ip")
            .args([
                "netns", "exec", ns, "tc", "filter", "show", "dev", dev, "ingress",
            ])
            .output()?;
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    };
    let (flows, during) = in_netns(&v.a, {
        let (ns, va) = (ns.clone(), va.clone());
        move || {
            let mut agent = FlowAgent::builder()
                .with_attach_mode(netobserv_ebpf::loader::TcAttachMode::Tc)
                .load()?;
            let mode = agent.attach(&va)?;
            ensure!(
                mode == netobserv_ebpf::loader::AttachMode::Clsact,
                "{mode:?}"
            );
            let during = filters(&ns, &va)?;
            sh(&[
                "ip", "netns", "exec", &ns, "ping", "-c", "2", "-i", "0.2", "-W", "2", &target,
            ])?;
            thread::sleep(Duration::from_millis(200));
            Ok((agent.evict()?.flows, during))
        }
    })?;
    assert!(
        during.contains("tc_ingress"),
        "filter while attached: {during}"
    );
    let req = find(&flows, 1, &a4, &b4, |f| f.icmp_type() == Some(8))?;
    assert_eq!((req.packets(), req.bytes()), (Some(2), Some(196)));
    let after = filters(&ns, &va)?;
    assert!(
        !after.contains("tc_ingress"),
        "filter left after drop: {after}"
    );
    Ok(())
}
