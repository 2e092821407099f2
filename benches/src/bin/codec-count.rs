//! Runs one codec operation over generated flows, for instruction counts under callgrind, which
//! are repeatable on a shared machine where timings are not:
//!
//! ```text
//! valgrind --tool=callgrind --callgrind-out-file=/dev/null \
//!   target/release/codec-count pbflow-decode agent 10000 20
//! ```
//!
//! Run it with `REPS` 0 and N: the difference of the two totals over `N × FLOWS` is the cost per
//! flow without the set-up (generating the flows and their wire form).
//! Usage: `codec-count OP SHAPE FLOWS REPS`, OP one of json-decode, json-encode, pbflow-decode;
//! SHAPE agent or enriched.

#![allow(missing_docs)]

use std::hint::black_box;

use anyhow::{Context, bail};
use benches::{agent_flows, decode_lines_into, encode_lines, enriched_flows, json_lines};
use netobserv_flow::Flow;
use netobserv_flow::codec::pbflow;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [op, shape, flows, reps] = args.as_slice() else {
        bail!("usage: codec-count OP SHAPE FLOWS REPS");
    };
    let n: usize = flows.parse().context("FLOWS")?;
    let reps: usize = reps.parse().context("REPS")?;
    let flows = match shape.as_str() {
        "agent" => agent_flows(n),
        "enriched" => enriched_flows(n),
        other => bail!("unknown shape {other:?} (expected agent or enriched)"),
    };
    let mut done = 0usize;
    match op.as_str() {
        "json-decode" => {
            let lines = json_lines(&flows);
            let mut batch: Vec<Flow> = Vec::with_capacity(n);
            for _ in 0..reps {
                decode_lines_into(&lines, &mut batch).context("decode")?;
                done += black_box(batch.len());
            }
        }
        "json-encode" => {
            let mut out = Vec::new();
            for _ in 0..reps {
                out.clear();
                encode_lines(&flows, &mut out);
                done += black_box(out.len()).min(1) * flows.len();
            }
        }
        "pbflow-decode" => {
            let records = pbflow::encode_records(&flows);
            for _ in 0..reps {
                done += black_box(pbflow::decode_records(&records, 1).context("decode")?).len();
            }
        }
        other => bail!("unknown op {other:?} (expected json-decode, json-encode, pbflow-decode)"),
    }
    println!("{done} flows");
    Ok(())
}
