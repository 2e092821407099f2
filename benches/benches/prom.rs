//! Cost of `encode: prom` with NetObserv's predefined metrics: flows per second on one core
//! (one thread), which is flows per CPU-second.
//!
//! Run: `cargo bench -p benches --bench prom`

#![allow(clippy::unwrap_used, missing_docs)]

use std::hint::black_box;

use benches::enriched_flows;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use netobserv_sinks::prom::{
    DEFAULT_INCLUDE_LIST, PromEncodeConfig, PromEncoder, predefined, predefined_names,
};

const N: usize = 10_000;

fn prom(c: &mut Criterion) {
    let flows = enriched_flows(N);
    let mut g = c.benchmark_group("netobserv_sinks::prom::PromEncoder::observe");
    g.throughput(Throughput::Elements(N as u64));
    for (name, metrics) in [
        (
            "default_include_list",
            predefined(DEFAULT_INCLUDE_LIST).unwrap(),
        ),
        ("all_predefined", predefined(&predefined_names()).unwrap()),
    ] {
        let encoder = PromEncoder::new(&PromEncodeConfig {
            metrics,
            prefix: Some("netobserv_".into()),
            ..Default::default()
        })
        .unwrap();
        // Series exist after the first pass: the steady state is measured.
        encoder.observe(&flows);
        eprintln!("{name}: {} series", encoder.series_count());
        g.bench_function(name, |b| {
            b.iter(|| black_box(encoder.observe(black_box(&flows))))
        });
    }
    g.finish();
}

criterion_group!(benches, prom);
criterion_main!(benches);
