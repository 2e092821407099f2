//! ClickHouse: the managed schema and `write: clickhouse`, against Debian's ClickHouse 18.16
//! (`CLICKHOUSE_URL`, started by `.ci/services.d/clickhouse.sh`; private servers for the
//! kill/restart test) and chDB behind `tests/support/chdb_http.py`, which stands in for a modern
//! ClickHouse server (no modern server runs on the test machines).
#![cfg(feature = "clickhouse")]

mod support;

use anyhow::Result;
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

#[allow(dead_code)]
fn _uses(_: LegacyServer) {}
