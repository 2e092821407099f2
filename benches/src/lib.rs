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
