//! Filters NetObserv JSON flows from stdin with a query and prints the matching ones.
//!
//! Run:
//! `cargo run -p examples --example query_filter -- 'Proto=6 and DstPort<1024' < testdata/flows/flp-output.jsonl`

use std::io::{BufRead, Write};

use netobserv_flow::codec::json;
use netobserv_flow::query::Query;

fn main() -> anyhow::Result<()> {
    let text = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "with(Bytes)".to_string());
    let query = Query::parse(&text)?;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let mut buf = Vec::new();
    for (n, line) in std::io::stdin().lock().lines().enumerate() {
        let line = line?;
        match json::decode(line.as_bytes()) {
            Ok(flow) if query.matches(&flow) => {
                buf.clear();
                json::encode(&flow, &mut buf);
                buf.push(b'\n');
                out.write_all(&buf)?;
            }
            Ok(_) => {}
            Err(e) => eprintln!("line {}: {e}", n + 1),
        }
    }
    Ok(())
}
