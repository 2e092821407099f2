//! ClickHouse: the managed schema and `write: clickhouse`, against Debian's ClickHouse 18.16
//! (`CLICKHOUSE_URL`, started by `.ci/services.d/clickhouse.sh`; private servers for the
//! kill/restart test) and chDB behind `tests/support/chdb_http.py`, which stands in for a modern
//! ClickHouse server (no modern server runs on the test machines).
#![cfg(feature = "clickhouse")]
#![allow(clippy::unwrap_used)]

mod support;

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result, ensure};
use netobserv_flow::config::{Config, StageKind};
use netobserv_flow::flow::{FieldId, FieldKind, Flow, NetworkEvent};
use netobserv_flow::pipeline::{
    Ack, AckStatus, BuildContext, Component, FlowBatch, Metrics, Pipeline, RunReport, Shutdown,
    Source, SourceContext, StageRegistry,
};
use netobserv_flow::value::Value;
use netobserv_sinks::clickhouse::row::RowEncoder;
use netobserv_sinks::clickhouse::schema::{self, Schema};
use netobserv_sinks::clickhouse::{Flavor, Rollup};
use support::clickhouse::{ChdbServer, LegacyServer, client, shared_url, unique};

async fn count(c: &clickhouse::Client, sql: &str) -> Result<u64> {
    Ok(c.query(sql).fetch_one::<u64>().await?)
}

/// Migrating from version 1 keeps the rows, adds the version-2 columns and backfills the hourly
/// rollup from the per-minute one; running the migration again changes nothing.
async fn migration_keeps_data(url: &str, want: Flavor) -> Result<()> {
    let c = client(url);
    let (version, flavor) = schema::detect(&c).await?;
    assert_eq!(flavor, want, "server version {version}");
    let s = Schema::new(flavor, unique("mig"), "flows");
    assert_eq!(schema::migrate_to(&c, &s, 1).await?, 1);
    let fields = schema::table_fields(&c, &s).await?;
    assert!(!fields.contains(&netobserv_flow::FieldId::TlsVersion));
    let t = s.qualified("flows");
    let time = match flavor {
        Flavor::Modern => "fromUnixTimestamp64Milli(toInt64(1700000000000 + number * 1000), 'UTC')",
        Flavor::Legacy => "toInt64(1700000000000 + number * 1000)",
    };
    c.query(&format!(
        "INSERT INTO {t} (TimeFlowEndMs, SrcK8S_Namespace, Bytes) SELECT {time}, 'ns', toUInt64(number) FROM numbers(300)"
    ))
    .execute()
    .await?;
    assert_eq!(schema::current_version(&c, &s).await?, 1);
    assert_eq!(schema::migrate(&c, &s).await?, schema::SCHEMA_VERSION);
    assert_eq!(schema::migrate(&c, &s).await?, schema::SCHEMA_VERSION);
    assert_eq!(count(&c, &format!("SELECT count() FROM {t}")).await?, 300);
    assert_eq!(
        count(
            &c,
            &format!("SELECT toUInt64(sum(ifNull(Bytes, 0))) FROM {t}")
        )
        .await?,
        (0..300).sum::<u64>()
    );
    assert!(
        schema::table_fields(&c, &s)
            .await?
            .contains(&netobserv_flow::FieldId::TlsVersion)
    );
    for r in Rollup::ALL {
        let rt = s.qualified(&r.table("flows"));
        assert_eq!(
            count(&c, &format!("SELECT toUInt64(sum(Bytes)) FROM {rt}")).await?,
            (0..300).sum::<u64>(),
            "{rt}"
        );
        assert_eq!(
            count(&c, &format!("SELECT toUInt64(sum(Flows)) FROM {rt}")).await?,
            300,
            "{rt}"
        );
    }
    let versions = count(
        &c,
        &format!("SELECT count() FROM {}", s.qualified(&s.versions_table())),
    )
    .await?;
    assert_eq!(versions, u64::from(schema::SCHEMA_VERSION));
    Ok(())
}

#[tokio::test]
async fn migration_keeps_data_on_18_16() -> Result<()> {
    migration_keeps_data(&shared_url(), Flavor::Legacy).await
}

#[tokio::test]
async fn migration_keeps_data_on_modern_chdb() -> Result<()> {
    let chdb = ChdbServer::start()?;
    migration_keeps_data(&chdb.url(), Flavor::Modern).await
}

// ---- flows, a feeding source, the pipeline ----

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// Flow `i` with every catalogue field set, to values that survive the schema (non-empty
/// strings, raw TCP flags); `TimeFlowEndMs` is `base + i`, unique per flow.
fn full_flow(i: u64, base: i64) -> Flow {
    let mut f = Flow::default();
    for (n, id) in FieldId::ALL.iter().enumerate() {
        let k = i.wrapping_mul(7).wrapping_add(n as u64);
        let v = match id.kind() {
            FieldKind::UInt(bits) => Value::UInt(k & (u64::MAX >> (64 - u32::from(bits)))),
            FieldKind::Int(bits) => Value::Int(-((k % (1 << (bits - 2))) as i64)),
            FieldKind::Bool => Value::Bool(k.is_multiple_of(2)),
            FieldKind::Ip if i.is_multiple_of(2) => {
                Value::Ip(IpAddr::from([10, (k >> 16) as u8, (k >> 8) as u8, k as u8]))
            }
            FieldKind::Ip => Value::Ip(IpAddr::from([
                0xfd00,
                0,
                0,
                0,
                0,
                0,
                (k >> 16) as u16,
                k as u16,
            ])),
            FieldKind::Mac => Value::Mac(netobserv_flow::MacAddr::from_u64(k & 0xffff_ffff_ffff)),
            FieldKind::Str => Value::str(format!("{}-{}", id.name(), k % 5)),
            FieldKind::StrList => Value::List(vec![
                Value::str("eth0"),
                Value::str(format!("br-{}", k % 3)),
            ]),
            FieldKind::U8List => Value::List(vec![Value::UInt(0), Value::UInt(k % 2)]),
            FieldKind::TcpFlags => Value::UInt(k & 0x7ff),
            FieldKind::NetworkEvents => continue,
        };
        f.set_field(*id, &v).unwrap();
    }
    f.set_network_events(vec![NetworkEvent::from_pairs([
        ("Action".into(), "allow".into()),
        ("Feature".into(), format!("acl-{}", i % 3).into()),
    ])]);
    // Quotes, backslashes and SQL in values go in as they are.
    f.set_dns_name(format!("o'k\\n-- ; {i}").into());
    f.set_src_k8s_namespace(format!("ns{}", i % 3).into());
    f.set_dst_k8s_namespace(format!("ns{}", (i + 1) % 3).into());
    f.set_bytes(1000 + i);
    f.set_packets(1 + i % 10);
    f.set_time_flow_end_ms(base + i as i64);
    f.set_time_flow_start_ms(base + i as i64 - 1000);
    f.set_time_received((base + i as i64) / 1000);
    f
}

/// A source sending its batches, `every` apart, each acknowledged into `acks`; then it ends.
struct Feed {
    batches: Vec<Vec<Flow>>,
    every: Duration,
    acks: Arc<Mutex<Vec<AckStatus>>>,
}

#[async_trait::async_trait]
impl Source for Feed {
    async fn run(self: Box<Self>, cx: SourceContext) -> netobserv_flow::Result<()> {
        for b in self.batches {
            let acks = self.acks.clone();
            let batch = FlowBatch::with_ack(b, Ack::new(move |s| acks.lock().unwrap().push(s)));
            if cx.out.send(batch).await.is_err() {
                return Ok(());
            }
            tokio::time::sleep(self.every).await;
        }
        Ok(())
    }
}

/// Runs feed → `write: clickhouse` (settings `ch`, YAML flow mapping entries) to the end.
async fn run_pipeline(
    batches: Vec<Vec<Flow>>,
    every: Duration,
    ch: &str,
) -> Result<(RunReport, Vec<AckStatus>)> {
    let acks = Arc::new(Mutex::new(Vec::new()));
    let feed = Mutex::new(Some(Feed {
        batches,
        every,
        acks: acks.clone(),
    }));
    let mut registry = StageRegistry::with_builtins();
    netobserv_sinks::register(&mut registry);
    registry.register(
        StageKind::Ingest,
        "test_feed",
        move |_: &mut BuildContext<'_>| Ok(Component::source(feed.lock().unwrap().take().unwrap())),
    );
    let yaml = format!(
        r#"
pipeline:
  - name: feed
  - name: ch
    follows: feed
parameters:
  - name: feed
    ingest: {{type: test_feed}}
  - name: ch
    write:
      type: clickhouse
      clickhouse: {{{ch}}}
"#
    );
    let config = Config::from_yaml(&yaml)?;
    let pipeline = Pipeline::build(&config, &registry, Metrics::new("test")?).await?;
    let (_trigger, shutdown) = Shutdown::new();
    let report = tokio::time::timeout(Duration::from_secs(300), pipeline.run(shutdown)).await??;
    let acks = acks.lock().unwrap().clone();
    Ok((report, acks))
}

/// Every row of the raw table, decoded, ordered by `TimeFlowEndMs`.
async fn read_back(c: &clickhouse::Client, s: &Schema) -> Result<Vec<Flow>> {
    let enc = RowEncoder::new(s.flavor, schema::table_fields(c, s).await?);
    let cols: Vec<String> = enc
        .fields()
        .iter()
        .map(|f| format!("`{}`", f.name()))
        .collect();
    let mut cur = c
        .query(&format!(
            "SELECT {} FROM {} ORDER BY TimeFlowEndMs",
            cols.join(", "),
            s.qualified(&s.table)
        ))
        .fetch_bytes("RowBinary")?;
    let bytes = cur.collect().await?;
    Ok(enc.decode_rows(&bytes)?)
}

/// Sums of (bytes, flows) by source namespace in a rollup table.
async fn rollup_sums(
    c: &clickhouse::Client,
    s: &Schema,
    r: Rollup,
) -> Result<BTreeMap<String, (u64, u64)>> {
    let mut cur = c
        .query(&format!(
            "SELECT SrcK8S_Namespace, toUInt64(sum(Bytes)), toUInt64(sum(Flows)) FROM {} GROUP BY SrcK8S_Namespace",
            s.qualified(&r.table(&s.table))
        ))
        .fetch_bytes("TabSeparated")?;
    let text = String::from_utf8(cur.collect().await?.to_vec())?;
    let mut out = BTreeMap::new();
    for line in text.lines() {
        let mut it = line.split('\t');
        let ns = it.next().unwrap_or_default().to_string();
        let b: u64 = it.next().unwrap_or_default().parse()?;
        let n: u64 = it.next().unwrap_or_default().parse()?;
        out.insert(ns, (b, n));
    }
    Ok(out)
}

fn expected_sums(flows: &[Flow]) -> BTreeMap<String, (u64, u64)> {
    let mut out = BTreeMap::new();
    for f in flows {
        let e = out
            .entry(f.src_k8s_namespace().unwrap_or_default().to_string())
            .or_insert((0, 0));
        e.0 += f.bytes().unwrap_or(0);
        e.1 += 1;
    }
    out
}

/// Through the pipeline into `url`: every field of every flow reads back equal, the acks are
/// all delivered, and both rollups sum what went in.
async fn round_trip(url: &str, flavor: Flavor, compression: bool) -> Result<()> {
    let db = unique("rt");
    let base = now_ms() - 3_600_000;
    let flows: Vec<Flow> = (0..3000).map(|i| full_flow(i, base)).collect();
    let batches: Vec<Vec<Flow>> = flows.chunks(250).map(<[Flow]>::to_vec).collect();
    let (report, acks) = run_pipeline(
        batches,
        Duration::from_millis(5),
        &format!("url: '{url}', database: {db}, table: flows, batchRows: 1000, batchBytes: 200000, maxWait: 100ms, compression: {compression}"),
    )
    .await?;
    ensure!(report.is_clean(), "{report:?}");
    assert_eq!(acks.len(), 12);
    assert!(acks.iter().all(|a| *a == AckStatus::Delivered), "{acks:?}");
    let c = client(url);
    let s = Schema::new(flavor, &db, "flows");
    assert_eq!(schema::detect(&c).await?.1, flavor);
    let back = read_back(&c, &s).await?;
    assert_eq!(back.len(), flows.len());
    for (got, want) in back.iter().zip(&flows) {
        for id in FieldId::ALL {
            assert_eq!(
                got.get_field(*id),
                want.get_field(*id),
                "{} of flow {:?}",
                id.name(),
                want.time_flow_end_ms()
            );
        }
        assert_eq!(got, want);
    }
    let want = expected_sums(&flows);
    for r in Rollup::ALL {
        assert_eq!(rollup_sums(&c, &s, r).await?, want, "{r:?}");
    }
    // The blog's query on the blog's column names (18.16 has no fromUnixTimestamp: toDateTime).
    let from_unix = match flavor {
        Flavor::Modern => "fromUnixTimestamp",
        Flavor::Legacy => "toDateTime",
    };
    let blog = format!(
        "SELECT {from_unix}(intDiv(start,1000)) AS start,{from_unix}(intDiv(end,1000)) as end,src_ip,dst_ip,src_name,dst_name,src_kind,dst_kind,src_namespace,dst_namespace,bytes,packets FROM {} LIMIT 100",
        s.qualified("flows")
    );
    let mut cur = c.query(&blog).fetch_bytes("TabSeparated")?;
    let text = String::from_utf8(cur.collect().await?.to_vec())?;
    assert_eq!(text.lines().count(), 100, "{text}");
    let by_end: BTreeMap<String, &Flow> = flows
        .iter()
        .map(|f| {
            let t = f.time_flow_end_ms().unwrap() / 1000;
            (format!("{}|{}", f.src_addr().unwrap(), t), f)
        })
        .collect();
    for line in text.lines() {
        let cols: Vec<&str> = line.split('\t').collect();
        assert_eq!(cols.len(), 12, "{line}");
        // Any flow with that source address ending in that second.
        let f = flows
            .iter()
            .find(|f| {
                f.src_addr().unwrap().to_string() == cols[2]
                    && f.bytes().unwrap().to_string() == cols[10]
            })
            .unwrap_or_else(|| panic!("no flow matches {line}"));
        assert_eq!(cols[3], f.dst_addr().unwrap().to_string());
        assert_eq!(cols[4], f.src_k8s_name().unwrap());
        assert_eq!(cols[7], f.dst_k8s_type().unwrap());
        assert_eq!(cols[8], f.src_k8s_namespace().unwrap());
        assert_eq!(cols[11], f.packets().unwrap().to_string());
        assert!(by_end.contains_key(&format!(
            "{}|{}",
            cols[2],
            f.time_flow_end_ms().unwrap() / 1000
        )));
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_trip_through_the_pipeline_into_18_16() -> Result<()> {
    round_trip(&shared_url(), Flavor::Legacy, true).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_trip_through_the_pipeline_into_modern_chdb() -> Result<()> {
    let chdb = ChdbServer::start()?;
    round_trip(&chdb.url(), Flavor::Modern, false).await
}

/// Flows the schema cannot hold (no `TimeFlowEndMs`, one past 2106) are rejected alone:
/// counted in the stage's errors, their batch acknowledged as rejected, the others written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unrepresentable_flows_are_rejected_alone() -> Result<()> {
    let url = shared_url();
    let db = unique("rej");
    let base = now_ms();
    let mut batch: Vec<Flow> = (0..100).map(|i| full_flow(i, base)).collect();
    let mut missing = full_flow(100, base);
    missing.clear_time_flow_end_ms();
    batch.insert(10, missing);
    batch.insert(50, full_flow(101, base).with_time_flow_end_ms(i64::MAX));
    let good: Vec<Flow> = (200..300).map(|i| full_flow(i, base)).collect();
    let (report, acks) = run_pipeline(
        vec![batch, good],
        Duration::from_millis(300),
        &format!("url: '{url}', database: {db}, table: flows, batchRows: 1000, maxWait: 50ms"),
    )
    .await?;
    assert_eq!(acks, [AckStatus::Rejected, AckStatus::Delivered]);
    let stage = report.stages.iter().find(|s| s.stage == "ch").unwrap();
    assert_eq!(stage.rejected, [("clickhouse".to_string(), 2)], "{stage:?}");
    let c = client(&url);
    let back = read_back(&c, &Schema::new(Flavor::Legacy, &db, "flows")).await?;
    let ends: Vec<i64> = back.iter().map(|f| f.time_flow_end_ms().unwrap()).collect();
    let want: Vec<i64> = (0..100).chain(200..300).map(|i| base + i).collect();
    assert_eq!(ends, want);
    Ok(())
}

/// Rows the server itself refuses (here a CHECK constraint on the modern engine) are found by
/// splitting the batch: they are rejected alone and the rest of the batch goes in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_the_server_refuses_are_rejected_alone() -> Result<()> {
    let chdb = ChdbServer::start()?;
    let c = client(&chdb.url());
    let s = Schema::new(Flavor::Modern, unique("refuse"), "flows");
    schema::migrate(&c, &s).await?;
    c.query(&format!(
        "ALTER TABLE {} ADD CONSTRAINT small_bytes CHECK ifNull(Bytes, 0) < 1000000",
        s.qualified("flows")
    ))
    .execute()
    .await?;
    let base = now_ms();
    let mut batch: Vec<Flow> = (0..64).map(|i| full_flow(i, base)).collect();
    batch[5].set_bytes(5_000_000);
    batch[40].set_bytes(7_000_000);
    let (report, acks) = run_pipeline(
        vec![batch],
        Duration::ZERO,
        &format!(
            "url: '{}', database: {}, table: flows, maxWait: 50ms, compression: false",
            chdb.url(),
            s.database
        ),
    )
    .await?;
    assert_eq!(acks, [AckStatus::Rejected]);
    let stage = report.stages.iter().find(|s| s.stage == "ch").unwrap();
    assert_eq!(stage.rejected, [("clickhouse".to_string(), 2)], "{stage:?}");
    let back = read_back(&c, &s).await?;
    let ends: Vec<i64> = back.iter().map(|f| f.time_flow_end_ms().unwrap()).collect();
    let want: Vec<i64> = (0..64)
        .filter(|i| *i != 5 && *i != 40)
        .map(|i| base + i)
        .collect();
    assert_eq!(ends, want);
    Ok(())
}

/// A table whose columns have other types than the sink writes (here a column altered by hand)
/// is refused at start with the columns named: RowBinary has no types on the wire, so writing
/// would misread every row.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_table_with_other_column_types_is_refused_at_start() -> Result<()> {
    let url = shared_url();
    let c = client(&url);
    let s = Schema::new(Flavor::Legacy, unique("types"), "flows");
    schema::migrate(&c, &s).await?;
    c.query(&format!(
        "ALTER TABLE {} MODIFY COLUMN Packets UInt64",
        s.qualified("flows")
    ))
    .execute()
    .await?;
    let base = now_ms();
    let run = run_pipeline(
        vec![(0..4).map(|i| full_flow(i, base)).collect()],
        Duration::ZERO,
        &format!(
            "url: '{url}', database: {}, table: flows, maxWait: 50ms",
            s.database
        ),
    )
    .await;
    let err = format!("{:#}", run.err().context("the run succeeded")?);
    assert!(
        err.contains("Packets is UInt64, not Nullable(UInt64)"),
        "{err}"
    );
    let rows = count(&c, &format!("SELECT count() FROM {}", s.qualified("flows"))).await?;
    assert_eq!(rows, 0);
    Ok(())
}

/// A table that refuses every row alone (here a CHECK no row passes, standing in for a column
/// altered under the sink) is a schema problem, not bad data: the batch is errored (a Kafka source
/// does not commit it), nothing is counted as rejected.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_table_refusing_every_row_errors_the_batch() -> Result<()> {
    let chdb = ChdbServer::start()?;
    let c = client(&chdb.url());
    let s = Schema::new(Flavor::Modern, unique("refuse_all"), "flows");
    schema::migrate(&c, &s).await?;
    c.query(&format!(
        "ALTER TABLE {} ADD CONSTRAINT no_rows CHECK ifNull(Bytes, 0) > 1000000000000",
        s.qualified("flows")
    ))
    .execute()
    .await?;
    let base = now_ms();
    let batch: Vec<Flow> = (0..8).map(|i| full_flow(i, base)).collect();
    let run = run_pipeline(
        vec![batch],
        Duration::ZERO,
        &format!(
            "url: '{}', database: {}, table: flows, maxWait: 50ms, compression: false",
            chdb.url(),
            s.database
        ),
    )
    .await;
    // The run ends with the flows reported lost: errored, neither delivered nor rejected.
    let err = run.err().context("the run succeeded")?.to_string();
    assert!(
        err.contains("8 flows not delivered (0 delivered, 0 rejected)"),
        "{err}"
    );
    assert!(read_back(&c, &s).await?.is_empty());
    Ok(())
}

/// ClickHouse killed (SIGKILL) mid-stream and restarted: the sink holds the pipeline back while
/// it is down and resumes; every flow produced is in the table (distinct rows == flows), every
/// batch acknowledged as delivered. Duplicates (an INSERT the server wrote but could not answer
/// before dying) are counted and printed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clickhouse_killed_and_restarted_loses_nothing() -> Result<()> {
    let mut server = LegacyServer::start()?;
    let url = server.url();
    let db = unique("kill");
    let base = now_ms();
    let n_batches = 150u64;
    let per = 400u64;
    let batches: Vec<Vec<Flow>> = (0..n_batches)
        .map(|b| (0..per).map(|i| full_flow(b * per + i, base)).collect())
        .collect();
    let cfg = format!(
        "url: '{url}', database: {db}, table: flows, batchRows: 2000, maxWait: 50ms, retryInitialBackoff: 100ms, retryMaxBackoff: 1s, timeout: 5s"
    );
    let run =
        tokio::spawn(async move { run_pipeline(batches, Duration::from_millis(20), &cfg).await });
    // Kill it once the first rows are in.
    let c = client(&url);
    let mut before = 0;
    for _ in 0..600 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        if let Ok(n) = count(&c, &format!("SELECT count() FROM `{db}`.flows")).await {
            before = n;
            if n > 0 {
                break;
            }
        }
    }
    server.kill()?;
    tokio::time::sleep(Duration::from_secs(3)).await;
    server.restart()?;
    let (report, acks) = run.await??;
    assert_eq!(acks.len() as u64, n_batches);
    assert!(acks.iter().all(|a| *a == AckStatus::Delivered), "{acks:?}");
    ensure!(report.is_clean(), "{report:?}");
    let total = count(&c, &format!("SELECT count() FROM `{db}`.flows")).await?;
    let distinct = count(
        &c,
        &format!("SELECT uniqExact(TimeFlowEndMs) FROM `{db}`.flows"),
    )
    .await?;
    println!(
        "rows before the kill: {before}; after: {total} rows, {distinct} distinct, {} duplicates, {} flows produced",
        total - distinct,
        n_batches * per
    );
    assert!(
        before > 0 && before < n_batches * per,
        "the kill happened mid-stream ({before} rows before)"
    );
    assert_eq!(distinct, n_batches * per);
    // The flows' identity: every one present once or more, none foreign.
    let mut cur = c
        .query(&format!(
            "SELECT min(TimeFlowEndMs), max(TimeFlowEndMs) FROM `{db}`.flows"
        ))
        .fetch_bytes("TabSeparated")?;
    let text = String::from_utf8(cur.collect().await?.to_vec())?;
    let bounds: Vec<i64> = text
        .split_whitespace()
        .map(|v| v.parse().unwrap())
        .collect();
    assert_eq!(bounds, [base, base + (n_batches * per) as i64 - 1]);
    Ok(())
}

/// Retention on 18.16 (no `TTL`): partitions older than the retention are dropped from the raw
/// table and the rollups; recent ones stay.
#[tokio::test]
async fn retention_drops_old_partitions_on_18_16() -> Result<()> {
    let c = client(&shared_url());
    let s = Schema::new(Flavor::Legacy, unique("ret"), "flows").with_retention(3, 40);
    schema::migrate(&c, &s).await?;
    let day = 86_400_000i64;
    let now = now_ms();
    // One flow a day for 60 days, ending now.
    c.query(&format!(
        "INSERT INTO {} (TimeFlowEndMs, Bytes) SELECT toInt64({now} - number * {day}), toUInt64(1) FROM numbers(60)",
        s.qualified("flows")
    ))
    .execute()
    .await?;
    let dropped = schema::drop_expired_partitions(&c, &s, (now / 1000) as u64).await?;
    let raw = count(&c, &format!("SELECT count() FROM {}", s.qualified("flows"))).await?;
    let minute = count(
        &c,
        &format!(
            "SELECT toUInt64(sum(Flows)) FROM {}",
            s.qualified("flows_1m")
        ),
    )
    .await?;
    let hour_min_age = count(
        &c,
        &format!(
            "SELECT toUInt64(intDiv({} - toUInt64(min(TimeBucket)) * 1000, {day})) FROM {}",
            now,
            s.qualified("flows_1h")
        ),
    )
    .await?;
    // Raw: days 0..=3 before today's cutoff day are kept (the cutoff day itself stays).
    assert!((3..=4).contains(&raw), "raw rows kept: {raw}");
    assert!(
        (40..=41).contains(&minute),
        "per-minute rows kept: {minute}"
    );
    // Monthly partitions go only once the whole month is past the cutoff.
    assert!(
        (40..=71).contains(&hour_min_age),
        "oldest hourly bucket: {hour_min_age} days"
    );
    assert!(dropped >= 56 + 19, "partitions dropped: {dropped}");
    assert_eq!(
        schema::drop_expired_partitions(&c, &s, (now / 1000) as u64).await?,
        0
    );
    Ok(())
}

// ---- TLS: `tls` (caCertPath, userCertPath / userKeyPath, insecureSkipVerify) against 18.16's
// own HTTPS (`https_port`, `<openSSL><server>`) ----

/// A private CA (`ca.pem`), a server certificate for 127.0.0.1 signed by it (`server.pem`,
/// `server-key.pem`), a client certificate signed by it (`client.pem`, `client-key.pem`) and an
/// unrelated CA (`other-ca.pem`).
struct Pki {
    dir: tempfile::TempDir,
}

impl Pki {
    fn new() -> Result<Self> {
        use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
        let dir = tempfile::tempdir()?;
        let write = |name: &str, text: String| std::fs::write(dir.path().join(name), text);
        // Distinct subject names (rcgen gives every certificate the same one by default, which
        // makes a leaf look self-signed to OpenSSL and to webpki).
        let named = |sans: Vec<String>, cn: &str| -> Result<CertificateParams> {
            let mut p = CertificateParams::new(sans)?;
            p.distinguished_name.push(DnType::CommonName, cn);
            Ok(p)
        };
        for name in ["ca", "other-ca"] {
            let mut params = named(Vec::new(), &format!("netobserv test {name}"))?;
            params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
            let ca = CertifiedIssuer::self_signed(params, KeyPair::generate()?)?;
            write(&format!("{name}.pem"), ca.pem())?;
            if name == "other-ca" {
                continue;
            }
            for (leaf, sans) in [("server", "127.0.0.1"), ("client", "flp.example")] {
                let key = KeyPair::generate()?;
                let cert = named(vec![sans.to_string()], leaf)?.signed_by(&key, &ca)?;
                write(&format!("{leaf}.pem"), cert.pem())?;
                write(&format!("{leaf}-key.pem"), key.serialize_pem())?;
            }
        }
        Ok(Pki { dir })
    }

    fn path(&self, name: &str) -> std::path::PathBuf {
        self.dir.path().join(name)
    }

    /// `path` as a single-quoted YAML scalar.
    fn yaml(&self, name: &str) -> String {
        format!("'{}'", self.path(name).display())
    }
}

/// Runs `n` flows through `write: clickhouse` with `ch`; checks every batch was delivered and
/// the table (read over plain HTTP) holds exactly the flows sent.
async fn tls_round_trip(server: &LegacyServer, db: &str, ch: &str, n: u64) -> Result<()> {
    let base = now_ms();
    let batches: Vec<Vec<Flow>> = (0..n / 100)
        .map(|b| (0..100).map(|i| full_flow(b * 100 + i, base)).collect())
        .collect();
    let (report, acks) = run_pipeline(batches, Duration::from_millis(5), ch).await?;
    ensure!(report.is_clean(), "{report:?}");
    assert_eq!(acks.len() as u64, n / 100);
    assert!(acks.iter().all(|a| *a == AckStatus::Delivered), "{acks:?}");
    let c = client(&server.url());
    let rows = count(&c, &format!("SELECT count() FROM `{db}`.flows")).await?;
    println!(
        "{rows} rows in `{db}`.flows after {n} flows sent over {}",
        server.https_url().unwrap_or_default()
    );
    assert_eq!(rows, n);
    assert_eq!(
        count(
            &c,
            &format!("SELECT uniqExact(TimeFlowEndMs) FROM `{db}`.flows")
        )
        .await?,
        n
    );
    Ok(())
}

/// The error building (health check included) a pipeline with `ch` gives, with its causes.
async fn build_error(ch: &str) -> String {
    match run_pipeline(Vec::new(), Duration::ZERO, ch).await {
        Ok(r) => panic!("a pipeline with {ch} was built and ran: {r:?}"),
        Err(e) => format!("{e:#}"),
    }
}

/// `https://` with `tls.caCertPath`: the server's certificate (signed by a private CA) is
/// verified against it and the flows go in; without the CA (system roots) or with another CA
/// the health check fails with the certificate error; `insecureSkipVerify` skips the check;
/// bad files are settings errors naming the file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_with_a_private_ca_on_18_16() -> Result<()> {
    let pki = Pki::new()?;
    let server =
        LegacyServer::start_https(&pki.path("server.pem"), &pki.path("server-key.pem"), None)?;
    let https = server.https_url().unwrap();

    let db = unique("tls_ca");
    tls_round_trip(
        &server,
        &db,
        &format!(
            "url: '{https}', database: {db}, batchRows: 300, maxWait: 20ms, tls: {{caCertPath: {}}}",
            pki.yaml("ca.pem")
        ),
        1000,
    )
    .await?;

    // The system's roots do not know the private CA, nor does another CA.
    for tls in [
        String::new(),
        format!(", tls: {{caCertPath: {}}}", pki.yaml("other-ca.pem")),
    ] {
        let err = build_error(&format!("url: '{https}', database: {db}{tls}")).await;
        assert!(
            err.contains("invalid peer certificate") && err.contains("UnknownIssuer"),
            "{err}"
        );
    }

    // No verification at all: in, unauthenticated.
    let db = unique("tls_insecure");
    tls_round_trip(
        &server,
        &db,
        &format!(
            "url: '{https}', database: {db}, maxWait: 20ms, tls: {{insecureSkipVerify: true}}"
        ),
        200,
    )
    .await?;

    // Settings errors, at build, naming the file.
    let missing = pki.path("missing.pem");
    let err = build_error(&format!(
        "url: '{https}', tls: {{caCertPath: '{}'}}",
        missing.display()
    ))
    .await;
    assert!(err.contains(&missing.display().to_string()), "{err}");
    let err = build_error(&format!(
        "url: '{https}', tls: {{caCertPath: {}}}",
        pki.yaml("server-key.pem")
    ))
    .await;
    assert!(
        err.contains("holds no PEM certificate")
            && err.contains(&pki.path("server-key.pem").display().to_string()),
        "{err}"
    );
    let err = build_error(&format!(
        "url: '{https}', tls: {{caCertPath: {ca}, userCertPath: {ca}, userKeyPath: {ca}}}",
        ca = pki.yaml("ca.pem")
    ))
    .await;
    assert!(
        err.contains("no usable PEM private key")
            && err.contains(&pki.path("ca.pem").display().to_string()),
        "{err}"
    );
    let err = build_error(&format!(
        "url: '{}', tls: {{caCertPath: {}}}",
        server.url(),
        pki.yaml("ca.pem")
    ))
    .await;
    assert!(err.contains("not an https:// URL"), "{err}");
    Ok(())
}

/// Mutual TLS: a server requiring a client certificate signed by the CA (`verificationMode`
/// strict) takes the flows of a sink with `userCertPath` / `userKeyPath`, and refuses the
/// handshake of one without.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutual_tls_on_18_16() -> Result<()> {
    let pki = Pki::new()?;
    let server = LegacyServer::start_https(
        &pki.path("server.pem"),
        &pki.path("server-key.pem"),
        Some(&pki.path("ca.pem")),
    )?;
    let https = server.https_url().unwrap();
    let db = unique("mtls");
    tls_round_trip(
        &server,
        &db,
        &format!(
            "url: '{https}', database: {db}, batchRows: 300, maxWait: 20ms, tls: {{caCertPath: {}, userCertPath: {}, userKeyPath: {}}}",
            pki.yaml("ca.pem"),
            pki.yaml("client.pem"),
            pki.yaml("client-key.pem")
        ),
        1000,
    )
    .await?;
    let err = build_error(&format!(
        "url: '{https}', database: {db}, tls: {{caCertPath: {}}}",
        pki.yaml("ca.pem")
    ))
    .await;
    assert!(err.contains("CertificateRequired"), "{err}");
    Ok(())
}
