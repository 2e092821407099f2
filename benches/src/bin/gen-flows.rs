//! Writes synthetic NetObserv JSON flows to stdout, for process-level measurements.
//!
//! `gen-flows agent|enriched COUNT > flows.jsonl` (see `benches/bar.sh`).

use std::io::Write;

fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (shape, count) = match args.as_slice() {
        [shape, count] if shape == "agent" || shape == "enriched" => match count.parse::<usize>() {
            Ok(n) => (shape.as_str(), n),
            Err(_) => usage(),
        },
        _ => usage(),
    };
    let mut out = std::io::BufWriter::with_capacity(1 << 20, std::io::stdout().lock());
    // In chunks, so that a large count does not hold every flow in memory.
    let mut left = count;
    while left > 0 {
        let n = left.min(100_000);
        let flows = if shape == "agent" {
            benches::agent_flows(n)
        } else {
            benches::enriched_flows(n)
        };
        out.write_all(&benches::json_lines(&flows))?;
        left -= n;
    }
    out.flush()
}

fn usage() -> ! {
    eprintln!("usage: gen-flows agent|enriched COUNT");
    std::process::exit(2)
}
