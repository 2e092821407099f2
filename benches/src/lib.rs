//! Inputs shared by the netobserv-rs benchmarks (`benches/`).

use netobserv_flow::Flow;
use netobserv_flow::config::IngestSynthetic;
use netobserv_flow::stages::synthetic::SyntheticSource;

/// `n` enriched flows (agent + Kubernetes fields, about 800 bytes of JSON each), as
/// flowlogs-pipeline writes them after enrichment.
pub fn enriched_flows(n: usize) -> Vec<Flow> {
    let mut src = SyntheticSource::new(&IngestSynthetic {
        connections: Some(500),
        seed: Some(1),
        ..Default::default()
    });
    (0..n)
        .map(|i| src.next_flow(1_732_185_420_000 + i as i64))
        .collect()
}

/// `n` flows as the eBPF agent exports them (no Kubernetes fields; about 450 bytes of JSON).
pub fn agent_flows(n: usize) -> Vec<Flow> {
    enriched_flows(n)
        .into_iter()
        .map(|mut f| {
            f.clear_src_k8s();
            f.clear_dst_k8s();
            f.clear_k8s_flow_layer();
            f
        })
        .collect()
}

/// Flows as JSON lines.
pub fn json_lines(flows: &[Flow]) -> Vec<u8> {
    let mut out = Vec::new();
    encode_lines(flows, &mut out);
    out
}

/// Appends flows to `out` as JSON lines.
pub fn encode_lines(flows: &[Flow], out: &mut Vec<u8>) {
    for f in flows {
        netobserv_flow::codec::json::encode(f, out);
        out.push(b'\n');
    }
}

/// Decodes JSON lines as the line ingest does, each flow in its slot of `batch` (cleared first).
pub fn decode_lines_into(
    lines: &[u8],
    batch: &mut Vec<Flow>,
) -> Result<(), netobserv_flow::codec::DecodeError> {
    batch.clear();
    for line in lines.split(|c| *c == b'\n').filter(|l| !l.is_empty()) {
        batch.push(Flow::default());
        if let Some(slot) = batch.last_mut() {
            netobserv_flow::codec::json::decode_into(line, slot)?;
        }
    }
    Ok(())
}

/// A process's user + system CPU time in seconds (fields 14 and 15 of `/proc/PID/stat`, in clock
/// ticks of 1/100 s).
pub fn process_cpu_seconds(pid: u32) -> std::io::Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // The command name may hold spaces: count fields after its closing parenthesis.
    let after = stat.rsplit_once(") ").map_or("", |(_, r)| r);
    let f: Vec<&str> = after.split_whitespace().collect();
    let tick = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    Ok((tick(11) + tick(12)) / 100.0)
}

/// A `kB` field of `/proc/PID/status` (`VmHWM`, `VmRSS`...), of this process when `pid` is
/// `None`; 0 when absent.
pub fn process_status_kb(pid: Option<u32>, field: &str) -> u64 {
    let path = match pid {
        Some(p) => format!("/proc/{p}/status"),
        None => "/proc/self/status".to_string(),
    };
    std::fs::read_to_string(path)
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.strip_prefix(field).is_some_and(|r| r.starts_with(':')))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}
