//! Query latency of the ClickHouse `FlowStore` over 10M flows: records (a page of the newest
//! flows, unfiltered and filtered) and a namespace-to-namespace top-50, from the raw table and
//! from the rollups, plus a per-5-minute rate and a p99 RTT.
//!
//! The flows are generated server-side (`INSERT ... SELECT ... FROM numbers(N)` into the managed
//! schema, so the materialized views fill the rollups as the sink's inserts would): 24 hours,
//! 50 namespaces, 200 owners, 10 nodes. Each query runs once to warm up, then `RUNS` times; the
//! median and the fastest are printed.
//!
//! ```sh
//! # Debian's ClickHouse 18.16 on 127.0.0.1:8123 (see .ci/services.d/clickhouse.sh), then:
//! cargo run --release -p benches --bin clickhouse-query -- [rows] [url]
//! ```

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use netobserv_flow::store::{
    FlowStore, Function, Measure, MetricsQuery, Order, RecordsQuery, TimeRange,
};
use netobserv_sinks::clickhouse::schema::{self, Schema};
use netobserv_sinks::clickhouse::store::ClickHouseStore;

const RUNS: usize = 7;
/// Midnight UTC, 2023-11-14.
const T0: i64 = 1_699_920_000_000;
const DAY: i64 = 86_400_000;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let rows: u64 = args
        .get(1)
        .and_then(|r| r.parse().ok())
        .unwrap_or(10_000_000);
    let url = args
        .get(2)
        .cloned()
        .or_else(|| std::env::var("CLICKHOUSE_URL").ok())
        .unwrap_or_else(|| "http://127.0.0.1:8123".to_string());
    let client = clickhouse::Client::default()
        .with_url(&url)
        .with_compression(clickhouse::Compression::None)
        .with_validation(false);
    let (version, flavor) = schema::detect(&client).await?;
    let db = format!("bench_query_{}", std::process::id());
    let s = Schema::new(flavor, &db, "flows");
    schema::migrate(&client, &s).await?;
    println!("server {version} ({flavor:?}), database {db}, {rows} rows over 24 h");

    let step = DAY as f64 / rows as f64;
    let t = format!("({T0} + toInt64(number * {step:?}))");
    let end = match flavor {
        netobserv_sinks::clickhouse::Flavor::Modern => {
            format!("fromUnixTimestamp64Milli(toInt64({t}), 'UTC')")
        }
        netobserv_sinks::clickhouse::Flavor::Legacy => format!("toInt64({t})"),
    };
    // Flows repeat conversations, as in a cluster: 2,000 (source owner, destination owner)
    // pairs with their namespaces and nodes; ports, sizes and RTTs vary per flow.
    let insert = format!(
        "INSERT INTO {table} (TimeFlowEndMs, SrcK8S_Namespace, DstK8S_Namespace, \
         SrcK8S_OwnerName, DstK8S_OwnerName, SrcK8S_OwnerType, DstK8S_OwnerType, \
         SrcK8S_HostName, DstK8S_HostName, Proto, DstPort, Bytes, Packets, TimeFlowRttNs) \
         SELECT {end}, concat('ns-', toString(c % 50)), concat('ns-', toString(intDiv(c, 50) % 50)), \
         concat('owner-', toString(c % 200)), concat('owner-', toString(intDiv(c, 7) % 200)), \
         'Deployment', 'Deployment', concat('node-', toString(c % 10)), \
         concat('node-', toString(intDiv(c, 3) % 10)), toUInt8(if(h % 3 = 0, 17, 6)), \
         toUInt16(h % 1000), toUInt64(h % 100000), toUInt64(1 + h % 70), toInt64(h % 5000000) \
         FROM (SELECT number, h, h % 2000 AS c FROM \
         (SELECT number, intHash32(number) AS h FROM numbers({rows})))",
        table = s.qualified("flows"),
    );
    let start = Instant::now();
    client
        .query_raw(&insert)
        .execute()
        .await
        .context("generating the flows")?;
    println!(
        "generated {rows} rows in {:.1} s (INSERT ... SELECT, views included)",
        start.elapsed().as_secs_f64()
    );

    let store = ClickHouseStore::connect(client.clone().with_database(&db), "flows").await?;
    let day = TimeRange::new(T0, T0 + DAY);
    let hour = TimeRange::new(T0 + 12 * 3_600_000, T0 + 13 * 3_600_000);
    let pair = ["SrcK8S_Namespace", "DstK8S_Namespace"];
    let top50 = MetricsQuery::new(day, Function::Sum, Measure::field("Bytes"))
        .with_group_by(pair)
        .with_top_k(50);
    let rate = MetricsQuery::new(day, Function::Rate, Measure::field("Bytes"))
        .with_group_by(pair)
        .with_step_seconds(300)
        .with_top_k(10);

    println!(
        "{:<58} {:>10} {:>10} {:>8}  source",
        "query", "median ms", "min ms", "rows"
    );
    let records = [
        ("records: newest 100 of the day", RecordsQuery::new(day)),
        (
            "records: 100 of ns-7 in one hour, by bytes",
            RecordsQuery::new(hour)
                .with_filter(r#"SrcK8S_Namespace="ns-7""#)?
                .with_sort("Bytes", Order::Desc),
        ),
        (
            "records: 100 of ns-7 -> ns-3, TCP, over the day",
            RecordsQuery::new(day).with_filter(
                r#"SrcK8S_Namespace="ns-7" and DstK8S_Namespace="ns-3" and Proto=6"#,
            )?,
        ),
    ];
    for (name, q) in &records {
        let (med, min, n) = time_it(|| async { Ok(store.records(q).await?.len()) }).await?;
        row(name, med, min, n, "flows");
    }
    let metrics = [
        (
            "top-50 ns->ns bytes, 24 h, raw",
            top50.clone().with_allow_rollup(false),
        ),
        ("top-50 ns->ns bytes, 24 h, rollup", top50.clone()),
        (
            "top-50 ns->ns bytes per minute, 24 h",
            top50.clone().with_step_seconds(60).with_top_k(50),
        ),
        (
            "rate ns->ns per 5 min, top 10, raw",
            rate.clone().with_allow_rollup(false),
        ),
        ("rate ns->ns per 5 min, top 10, rollup", rate.clone()),
        (
            "p99 RTT by namespace per hour, raw",
            MetricsQuery::new(day, Function::P99, Measure::field("TimeFlowRttNs"))
                .with_group_by(["SrcK8S_Namespace"])
                .with_step_seconds(3600),
        ),
    ];
    for (name, q) in &metrics {
        let (med, min, n) = time_it(|| async {
            let r = store.metrics(q).await?;
            Ok(r.series.iter().map(|s| s.points.len()).sum())
        })
        .await?;
        row(name, med, min, n, &store.source_of(q));
    }
    // The raw and rollup top-50 must agree; a bench that measured wrong answers measures nothing.
    let raw = store
        .metrics(&top50.clone().with_allow_rollup(false))
        .await?;
    let rolled = store.metrics(&top50).await?;
    anyhow::ensure!(
        raw.series == rolled.series,
        "raw and rollup top-50 differ: {:?} vs {:?}",
        raw.series.first(),
        rolled.series.first()
    );
    client
        .query_raw(&format!(
            "DROP DATABASE {}",
            netobserv_sinks::clickhouse::sql::identifier(&db)
        ))
        .execute()
        .await?;
    Ok(())
}

fn row(name: &str, med: Duration, min: Duration, n: usize, source: &str) {
    println!(
        "{name:<58} {:>10.1} {:>10.1} {n:>8}  {source}",
        med.as_secs_f64() * 1000.0,
        min.as_secs_f64() * 1000.0
    );
}

async fn time_it<F, Fut>(mut f: F) -> Result<(Duration, Duration, usize)>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<usize>>,
{
    let n = f().await?;
    let mut times = Vec::with_capacity(RUNS);
    for _ in 0..RUNS {
        let start = Instant::now();
        f().await?;
        times.push(start.elapsed());
    }
    times.sort();
    Ok((times[RUNS / 2], times[0], n))
}
