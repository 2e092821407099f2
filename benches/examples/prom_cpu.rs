//! `encode: prom` with NetObserv's predefined metrics, measured in flows per CPU-second of the
//! process (one thread; steady state: series exist), for runs on a busy machine where wall
//! time says little, and for callgrind.
//!
//! ```text
//! cargo run --release -p benches --example prom_cpu -- [default|all] [rounds of 10,000 flows]
//! valgrind --tool=callgrind --toggle-collect='prom_cpu::run*' \
//!     target/release/examples/prom_cpu default 2      # instructions per flow: Ir / 20,000
//! ```

#![allow(clippy::unwrap_used, missing_docs)]

use benches::{enriched_flows, process_cpu_seconds};
use netobserv_flow::Flow;
use netobserv_sinks::prom::{
    DEFAULT_INCLUDE_LIST, PromEncodeConfig, PromEncoder, predefined, predefined_names,
};

#[inline(never)]
fn run(encoder: &PromEncoder, flows: &[Flow], rounds: usize) {
    for _ in 0..rounds {
        std::hint::black_box(encoder.observe(std::hint::black_box(flows)));
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let which = args.next().unwrap_or_else(|| "default".into());
    let rounds: usize = args.next().map_or(300, |s| s.parse().unwrap());
    let flows = enriched_flows(10_000);
    let metrics = match which.as_str() {
        "all" => predefined(&predefined_names()).unwrap(),
        _ => predefined(DEFAULT_INCLUDE_LIST).unwrap(),
    };
    let encoder = PromEncoder::new(&PromEncodeConfig {
        metrics,
        prefix: Some("netobserv_".into()),
        ..Default::default()
    })
    .unwrap();
    encoder.observe(&flows);
    // The process has this one thread (CPU time in ticks of 10 ms: run a second or more).
    let cpu = || process_cpu_seconds(std::process::id()).unwrap();
    let start = cpu();
    run(&encoder, &flows, rounds);
    let cpu = cpu() - start;
    println!(
        "{which}: {} series, {:.0} flows per CPU-second",
        encoder.series_count(),
        (rounds * flows.len()) as f64 / cpu
    );
}
