//! The managed schema: DDL generated from the flow catalogue for each [`Flavor`], versioned
//! migrations recorded in `{table}_schema`, and retention.
//!
//! Column types, by catalogue kind (`Nullable` keeps "absent" apart from zero, as NetObserv's JSON
//! does by omitting the key):
//!
//! | kind | [`Flavor::Modern`] | [`Flavor::Legacy`] (18.16) |
//! |---|---|---|
//! | unsigned / signed integer | `Nullable(UIntN / IntN)` | same |
//! | `TimeFlowEndMs` (required) | `DateTime64(3, 'UTC')` | `Int64` (Unix ms) |
//! | `TimeFlowStartMs` | `Nullable(DateTime64(3, 'UTC'))` | `Nullable(Int64)` |
//! | bool | `Nullable(Bool)` | `Nullable(UInt8)` |
//! | IP | `Nullable(IPv6)` (IPv4 mapped) | `Nullable(String)` (text form) |
//! | MAC | `Nullable(UInt64)` | same |
//! | TCP flags | `Nullable(UInt16)` (the bits) | same |
//! | string | `LowCardinality(String)` when the catalogue marks it dictionary-encoded, else `String`; `''` when absent | `String`; `''` when absent |
//! | string list | `Array(LowCardinality(String))` | `Array(String)` |
//! | u8 list | `Array(UInt8)` | same |
//! | network events | `Array(Map(String, String))` | `Array(Array(Tuple(String, String)))` |
//!
//! Both flavors encode the same RowBinary bytes for a flow except for IPs (16 bytes vs text).
//! Use [`time_ms_expr`] and [`bucket_expr`] to read the time columns the same way on both.

use std::fmt::Write as _;

use netobserv_flow::flow::{FieldId, FieldKind};

use super::sql::{identifier, string_literal};
use super::{BLOG_ALIASES, Flavor, ROLLUP_KEYS, ROLLUP_SUMS, Rollup, TIME_BUCKET};
use crate::{Error, Result};

/// The newest schema version this build knows.
pub const SCHEMA_VERSION: u32 = 2;

/// The catalogue fields that schema version 2 added to the raw table (TLS and QUIC tracking,
/// which upstream added after the first releases of the flow format). Version 1 has every other
/// field.
pub const V2_FIELDS: &[FieldId] = &[
    FieldId::QuicSeenLongHdr,
    FieldId::QuicSeenShortHdr,
    FieldId::QuicVersion,
    FieldId::TlsCipherSuite,
    FieldId::TlsGroup,
    FieldId::TlsTypes,
    FieldId::TlsVersion,
];

/// The column whose day partitions the raw table, and which every flow must have.
pub const TIME_COLUMN: FieldId = FieldId::TimeFlowEndMs;

/// Where the schema lives and how long it keeps data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schema {
    /// The server's flavor.
    pub flavor: Flavor,
    /// The database (created if missing).
    pub database: String,
    /// The raw table; the rollups and the versions table are named after it.
    pub table: String,
    /// Days the raw flows are kept; 0 keeps them forever.
    pub retention_days: u32,
    /// Days the rollups are kept; 0 keeps them forever.
    pub rollup_retention_days: u32,
}

impl Schema {
    /// A schema for `database.table` on a server of `flavor`, keeping everything.
    pub fn new(flavor: Flavor, database: impl Into<String>, table: impl Into<String>) -> Self {
        Schema {
            flavor,
            database: database.into(),
            table: table.into(),
            retention_days: 0,
            rollup_retention_days: 0,
        }
    }

    /// Sets the retention of raw flows and rollups, in days (0: forever).
    #[must_use]
    pub fn with_retention(mut self, raw_days: u32, rollup_days: u32) -> Self {
        self.retention_days = raw_days;
        self.rollup_retention_days = rollup_days;
        self
    }

    /// `database`.`name`, quoted.
    pub fn qualified(&self, name: &str) -> String {
        format!("{}.{}", identifier(&self.database), identifier(name))
    }

    /// The versions table's name.
    pub fn versions_table(&self) -> String {
        format!("{}_schema", self.table)
    }

    /// The migrations up to `version`, oldest first.
    pub fn migrations(&self) -> Vec<Migration> {
        vec![
            Migration {
                version: 1,
                description: "raw flows table with the blog aliases, per-minute rollup",
                steps: {
                    let mut s = vec![Step::Sql(self.raw_table_ddl(|f| !V2_FIELDS.contains(&f)))];
                    s.extend(self.rollup_ddl(Rollup::Minute).into_iter().map(Step::Sql));
                    s
                },
            },
            Migration {
                version: 2,
                description: "TLS and QUIC columns, per-hour rollup backfilled from the per-minute one",
                steps: {
                    let mut s: Vec<Step> = V2_FIELDS
                        .iter()
                        .map(|f| Step::AddColumn {
                            table: self.table.clone(),
                            column: f.name(),
                            definition: self.column_definition(*f),
                        })
                        .collect();
                    let mut sql = Vec::new();
                    // Dropped first so that a migration interrupted after the backfill and run
                    // again does not count the backfilled rows twice.
                    sql.push(format!(
                        "DROP TABLE IF EXISTS {}",
                        self.qualified(&Rollup::Hour.view(&self.table))
                    ));
                    sql.push(format!(
                        "DROP TABLE IF EXISTS {}",
                        self.qualified(&Rollup::Hour.table(&self.table))
                    ));
                    sql.extend(self.rollup_ddl(Rollup::Hour));
                    sql.push(self.backfill_hour_from_minute());
                    s.extend(sql.into_iter().map(Step::Sql));
                    s
                },
            },
        ]
    }

    /// `CREATE TABLE` of the raw table with the catalogue fields `keep` selects.
    fn raw_table_ddl(&self, keep: impl Fn(FieldId) -> bool) -> String {
        let mut ddl = format!(
            "CREATE TABLE IF NOT EXISTS {} (",
            self.qualified(&self.table)
        );
        let mut first = true;
        for f in FieldId::ALL.iter().copied().filter(|f| keep(*f)) {
            if !first {
                ddl.push_str(", ");
            }
            first = false;
            ddl.push_str(&self.column_definition(f));
        }
        for (alias, column) in BLOG_ALIASES {
            let id = FieldId::from_name(column);
            let (ty, expr) = match id.map(FieldId::kind) {
                Some(FieldKind::Int(_)) => (
                    "UInt64",
                    format!("toUInt64(ifNull({}, 0))", time_ms_expr(self.flavor, column)),
                ),
                Some(FieldKind::UInt(_)) => {
                    ("UInt64", format!("ifNull({}, 0)", identifier(column)))
                }
                Some(FieldKind::Ip) => match self.flavor {
                    // IPv4 flows as NetObserv writes them (`10.0.0.1`), not IPv4-mapped.
                    Flavor::Modern => (
                        "String",
                        format!(
                            "ifNull(replaceRegexpOne(IPv6NumToString({}), '^::ffff:([0-9.]+)$', {}), '')",
                            identifier(column),
                            string_literal(r"\1")
                        ),
                    ),
                    Flavor::Legacy => ("String", format!("ifNull({}, '')", identifier(column))),
                },
                _ => ("String", identifier(column)),
            };
            let _ = write!(ddl, ", {} {ty} ALIAS {expr}", identifier(alias));
        }
        let time = identifier(TIME_COLUMN.name());
        let (partition, hour) = match self.flavor {
            Flavor::Modern => (format!("toDate({time})"), format!("toStartOfHour({time})")),
            Flavor::Legacy => (
                format!("toDate(toDateTime(intDiv({time}, 1000), 'UTC'))"),
                format!("intDiv({time}, 3600000)"),
            ),
        };
        let _ = write!(
            ddl,
            ") ENGINE = MergeTree PARTITION BY {partition} ORDER BY ({hour}, {}, {}, {time})",
            identifier("SrcK8S_Namespace"),
            identifier("DstK8S_Namespace"),
        );
        if self.flavor == Flavor::Modern && self.retention_days > 0 {
            let _ = write!(
                ddl,
                " TTL toDateTime({time}) + INTERVAL {} DAY SETTINGS ttl_only_drop_parts = 1",
                self.retention_days
            );
        }
        ddl
    }

    /// `` `Name` Type [CODEC(...)] `` of a catalogue field's column.
    pub fn column_definition(&self, f: FieldId) -> String {
        let mut d = format!("{} {}", identifier(f.name()), column_type(self.flavor, f));
        if self.flavor == Flavor::Modern {
            d.push_str(codec(f));
        }
        d
    }

    /// The rollup table and its materialized view.
    fn rollup_ddl(&self, rollup: Rollup) -> Vec<String> {
        let table = self.qualified(&rollup.table(&self.table));
        let key_type = match self.flavor {
            Flavor::Modern => "LowCardinality(String)",
            Flavor::Legacy => "String",
        };
        let mut cols = format!("{} DateTime('UTC')", identifier(TIME_BUCKET));
        for k in ROLLUP_KEYS {
            let _ = write!(cols, ", {} {key_type}", identifier(k));
        }
        for (s, _) in ROLLUP_SUMS {
            let _ = write!(cols, ", {} UInt64", identifier(s));
        }
        let sums: Vec<String> = ROLLUP_SUMS.iter().map(|(s, _)| identifier(s)).collect();
        let keys: Vec<String> = std::iter::once(TIME_BUCKET)
            .chain(ROLLUP_KEYS.iter().copied())
            .map(identifier)
            .collect();
        let bucket = identifier(TIME_BUCKET);
        let partition = match rollup {
            Rollup::Minute => format!("toDate({bucket})"),
            Rollup::Hour => format!("toYYYYMM({bucket})"),
        };
        let mut create = format!(
            "CREATE TABLE IF NOT EXISTS {table} ({cols}) ENGINE = SummingMergeTree(({})) PARTITION BY {partition} ORDER BY ({})",
            sums.join(", "),
            keys.join(", ")
        );
        if self.flavor == Flavor::Modern && self.rollup_retention_days > 0 {
            let _ = write!(
                create,
                " TTL {bucket} + INTERVAL {} DAY SETTINGS ttl_only_drop_parts = 1",
                self.rollup_retention_days
            );
        }
        let mut select = format!(
            "SELECT {} AS {bucket}",
            bucket_expr(self.flavor, rollup.seconds())
        );
        for k in ROLLUP_KEYS {
            let _ = write!(select, ", {}", identifier(k));
        }
        for (s, source) in ROLLUP_SUMS {
            match source {
                Some(c) => {
                    let _ = write!(
                        select,
                        ", toUInt64(sum(ifNull({}, 0))) AS {}",
                        identifier(c),
                        identifier(s)
                    );
                }
                None => {
                    let _ = write!(select, ", toUInt64(count()) AS {}", identifier(s));
                }
            }
        }
        let _ = write!(
            select,
            " FROM {} GROUP BY {}",
            self.qualified(&self.table),
            keys.join(", ")
        );
        let view = format!(
            "CREATE MATERIALIZED VIEW IF NOT EXISTS {} TO {table} AS {select}",
            self.qualified(&rollup.view(&self.table))
        );
        vec![create, view]
    }

    fn backfill_hour_from_minute(&self) -> String {
        let bucket = identifier(TIME_BUCKET);
        let keys: Vec<String> = ROLLUP_KEYS.iter().map(|k| identifier(k)).collect();
        let sums: Vec<String> = ROLLUP_SUMS
            .iter()
            .map(|(s, _)| format!("sum({0}) AS {0}", identifier(s)))
            .collect();
        format!(
            "INSERT INTO {} SELECT toStartOfHour({bucket}) AS {bucket}, {}, {} FROM {} GROUP BY {bucket}, {}",
            self.qualified(&Rollup::Hour.table(&self.table)),
            keys.join(", "),
            sums.join(", "),
            self.qualified(&Rollup::Minute.table(&self.table)),
            keys.join(", "),
        )
    }
}

/// One schema version: steps that are safe to run again if a previous run stopped halfway.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Migration {
    /// The version it brings the schema to.
    pub version: u32,
    /// What it does, recorded in the versions table.
    pub description: &'static str,
    /// The steps, in order.
    pub steps: Vec<Step>,
}

/// One step of a migration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// A statement, idempotent by itself (`IF NOT EXISTS`, `DROP ... IF EXISTS`).
    Sql(String),
    /// Adds a column to a table of the schema unless it has it (18.16 has no
    /// `ADD COLUMN IF NOT EXISTS`: the column list is read first).
    AddColumn {
        /// The table.
        table: String,
        /// The column.
        column: &'static str,
        /// Its definition (`` `Name` Type ``).
        definition: String,
    },
}

/// The ClickHouse type of a catalogue field's column.
pub fn column_type(flavor: Flavor, field: FieldId) -> String {
    let modern = flavor == Flavor::Modern;
    if field == TIME_COLUMN {
        return if modern {
            "DateTime64(3, 'UTC')"
        } else {
            "Int64"
        }
        .to_string();
    }
    if field == FieldId::TimeFlowStartMs && modern {
        return "Nullable(DateTime64(3, 'UTC'))".to_string();
    }
    let nullable = |t: &str| format!("Nullable({t})");
    match field.kind() {
        FieldKind::UInt(bits) => nullable(&format!("UInt{bits}")),
        FieldKind::Int(bits) => nullable(&format!("Int{bits}")),
        FieldKind::Bool => nullable(if modern { "Bool" } else { "UInt8" }),
        FieldKind::Ip => nullable(if modern { "IPv6" } else { "String" }),
        FieldKind::Mac => nullable("UInt64"),
        FieldKind::TcpFlags => nullable("UInt16"),
        FieldKind::Str if modern && field.dictionary() => "LowCardinality(String)".to_string(),
        FieldKind::Str => "String".to_string(),
        FieldKind::StrList if modern => "Array(LowCardinality(String))".to_string(),
        FieldKind::StrList => "Array(String)".to_string(),
        FieldKind::U8List => "Array(UInt8)".to_string(),
        FieldKind::NetworkEvents if modern => "Array(Map(String, String))".to_string(),
        FieldKind::NetworkEvents => "Array(Array(Tuple(String, String)))".to_string(),
    }
}

fn codec(field: FieldId) -> &'static str {
    match field {
        FieldId::TimeFlowEndMs | FieldId::TimeFlowStartMs | FieldId::TimeReceived => {
            " CODEC(Delta, ZSTD(1))"
        }
        _ => match field.kind() {
            FieldKind::Str | FieldKind::StrList if field.dictionary() => "",
            _ => " CODEC(ZSTD(1))",
        },
    }
}

/// An expression for a time column of the raw table (`TimeFlowEndMs`, `TimeFlowStartMs`) as
/// Unix milliseconds (`Int64`), on either flavor.
pub fn time_ms_expr(flavor: Flavor, column: &str) -> String {
    match flavor {
        Flavor::Modern
            if column == TIME_COLUMN.name() || column == FieldId::TimeFlowStartMs.name() =>
        {
            format!("toUnixTimestamp64Milli({})", identifier(column))
        }
        _ => identifier(column),
    }
}

/// An expression for the start of the `seconds`-wide bucket of `TimeFlowEndMs`, as a
/// `DateTime('UTC')`, on either flavor (18.16 has no `toStartOfInterval`: `intDiv`).
pub fn bucket_expr(flavor: Flavor, seconds: u64) -> String {
    let time = identifier(TIME_COLUMN.name());
    match flavor {
        Flavor::Modern => format!(
            "toDateTime(intDiv(toUnixTimestamp(toDateTime({time}, 'UTC')), {seconds}) * {seconds}, 'UTC')"
        ),
        Flavor::Legacy => {
            format!("toDateTime(intDiv(intDiv({time}, 1000), {seconds}) * {seconds}, 'UTC')")
        }
    }
}

/// The server's `version()` and the [`Flavor`] it gets.
pub async fn detect(client: &clickhouse::Client) -> Result<(String, Flavor)> {
    let version: String = client
        .query_raw("SELECT version()")
        .fetch_one()
        .await
        .map_err(|e| other("reading the server version (SELECT version())", e))?;
    let flavor = Flavor::from_version(&version);
    Ok((version, flavor))
}

/// The schema version recorded in the versions table (0 when there is none).
pub async fn current_version(client: &clickhouse::Client, schema: &Schema) -> Result<u32> {
    let exists: u8 = client
        .query_raw(&format!(
            "SELECT toUInt8(count()) FROM system.tables WHERE database = {} AND name = {}",
            string_literal(&schema.database),
            string_literal(&schema.versions_table())
        ))
        .fetch_one()
        .await
        .map_err(|e| other("reading system.tables", e))?;
    if exists == 0 {
        return Ok(0);
    }
    let v: u32 = client
        .query_raw(&format!(
            "SELECT toUInt32(max(version)) FROM {}",
            schema.qualified(&schema.versions_table())
        ))
        .fetch_one()
        .await
        .map_err(|e| other("reading the schema version", e))?;
    Ok(v)
}

/// Brings the schema to [`SCHEMA_VERSION`]: see [`migrate_to`].
pub async fn migrate(client: &clickhouse::Client, schema: &Schema) -> Result<u32> {
    migrate_to(client, schema, SCHEMA_VERSION).await
}

/// Creates the database and the versions table if missing, then runs the migrations newer than
/// the recorded version up to `target`, recording each once all its statements ran. Returns the
/// version the schema is at. A schema newer than this build is left alone.
pub async fn migrate_to(client: &clickhouse::Client, schema: &Schema, target: u32) -> Result<u32> {
    exec(
        client,
        &format!(
            "CREATE DATABASE IF NOT EXISTS {}",
            identifier(&schema.database)
        ),
    )
    .await?;
    exec(
        client,
        &format!(
            "CREATE TABLE IF NOT EXISTS {} (version UInt32, description String, applied DateTime('UTC')) ENGINE = MergeTree ORDER BY version",
            schema.qualified(&schema.versions_table())
        ),
    )
    .await?;
    let mut current = current_version(client, schema).await?;
    for m in schema.migrations() {
        if m.version <= current || m.version > target {
            continue;
        }
        for step in &m.steps {
            match step {
                Step::Sql(s) => exec(client, s).await?,
                Step::AddColumn {
                    table,
                    column,
                    definition,
                } => {
                    let has: u8 = client
                        .query_raw(&format!(
                            "SELECT toUInt8(count()) FROM system.columns WHERE database = {} AND table = {} AND name = {}",
                            string_literal(&schema.database),
                            string_literal(table),
                            string_literal(column)
                        ))
                        .fetch_one()
                        .await
                        .map_err(|e| other("reading system.columns", e))?;
                    if has == 0 {
                        exec(
                            client,
                            &format!(
                                "ALTER TABLE {} ADD COLUMN {definition}",
                                schema.qualified(table)
                            ),
                        )
                        .await?;
                    }
                }
            }
        }
        exec(
            client,
            &format!(
                "INSERT INTO {} (version, description, applied) VALUES ({}, {}, now())",
                schema.qualified(&schema.versions_table()),
                m.version,
                string_literal(m.description)
            ),
        )
        .await?;
        tracing::info!(version = m.version, table = %schema.table, description = m.description, "clickhouse schema migrated");
        current = m.version;
    }
    Ok(current)
}

/// The catalogue fields that have a column in the raw table, in catalogue order (what the sink
/// writes: a table at an older version gets the fields it has). Every such column must have the
/// type [`column_type`] gives for `schema`'s flavor: RowBinary has no types on the wire, so a
/// column of another type (a table made by hand, or altered) would misread every row; that is a
/// settings error naming the columns.
pub async fn table_fields(client: &clickhouse::Client, schema: &Schema) -> Result<Vec<FieldId>> {
    let columns: Vec<(String, String)> = client
        .query_raw(&format!(
            "SELECT name, type FROM system.columns WHERE database = {} AND table = {} AND default_kind != 'ALIAS'",
            string_literal(&schema.database),
            string_literal(&schema.table)
        ))
        .fetch_all()
        .await
        .map_err(|e| other("reading system.columns", e))?;
    let mut fields = Vec::new();
    let mut wrong = Vec::new();
    for f in FieldId::ALL.iter().copied() {
        if let Some((_, ty)) = columns.iter().find(|(n, _)| n == f.name()) {
            let want = column_type(schema.flavor, f);
            if *ty != want {
                wrong.push(format!("{} is {ty}, not {want}", f.name()));
            }
            fields.push(f);
        }
    }
    if !wrong.is_empty() {
        return Err(Error::Settings(format!(
            "clickhouse table {}.{} does not have the column types this sink writes on a {:?} server ({}{}); recreate it, or write to a new table",
            schema.database,
            schema.table,
            schema.flavor,
            wrong.iter().take(5).cloned().collect::<Vec<_>>().join("; "),
            if wrong.len() > 5 {
                format!("; and {} more", wrong.len() - 5)
            } else {
                String::new()
            }
        )));
    }
    if !fields.contains(&TIME_COLUMN) {
        return Err(Error::Settings(format!(
            "clickhouse table {}.{} has no {} column: create it with createSchema: true",
            schema.database,
            schema.table,
            TIME_COLUMN.name()
        )));
    }
    Ok(fields)
}

/// Retention on servers without `TTL` ([`Flavor::Legacy`]): drops the partitions of the raw
/// table and the rollups whose data is all older than their retention, as of `now_unix`
/// seconds. Returns the partitions dropped. Modern servers expire rows by `TTL` (nothing to do).
pub async fn drop_expired_partitions(
    client: &clickhouse::Client,
    schema: &Schema,
    now_unix: u64,
) -> Result<usize> {
    if schema.flavor == Flavor::Modern {
        return Ok(0);
    }
    let day = 86_400;
    let mut dropped = 0;
    // (table, retention days, whether partitions are months rather than days)
    let tables = [
        (schema.table.clone(), schema.retention_days, false),
        (
            Rollup::Minute.table(&schema.table),
            schema.rollup_retention_days,
            false,
        ),
        (
            Rollup::Hour.table(&schema.table),
            schema.rollup_retention_days,
            true,
        ),
    ];
    for (table, days, monthly) in tables {
        if days == 0 {
            continue;
        }
        let cutoff = now_unix.saturating_sub(u64::from(days) * day);
        let cutoff_day = format!("toDate(toDateTime({cutoff}, 'UTC'))");
        // A partition goes once its last day is before the cutoff day; its id is `YYYYMMDD`
        // (daily) or `YYYYMM` (monthly).
        let expired = if monthly {
            format!(
                "addMonths(toDate(concat(substring(partition_id, 1, 4), '-', substring(partition_id, 5, 2), '-01')), 1) <= {cutoff_day}"
            )
        } else {
            format!(
                "toDate(concat(substring(partition_id, 1, 4), '-', substring(partition_id, 5, 2), '-', substring(partition_id, 7, 2))) < {cutoff_day}"
            )
        };
        let sql = format!(
            "SELECT DISTINCT partition FROM system.parts WHERE database = {} AND table = {} AND active AND {expired}",
            string_literal(&schema.database),
            string_literal(&table),
        );
        let partitions: Vec<String> = client
            .query_raw(&sql)
            .fetch_all()
            .await
            .map_err(|e| other("reading system.parts", e))?;
        for p in partitions {
            // `partition` is the partition key's value: a date (`2024-01-02`, quoted or not
            // depending on the server) or a month number (`202401`).
            let bare = p.trim_matches('\'');
            let literal = if bare.bytes().all(|b| b.is_ascii_digit()) {
                bare.to_string()
            } else {
                string_literal(bare)
            };
            exec(
                client,
                &format!(
                    "ALTER TABLE {} DROP PARTITION {literal}",
                    schema.qualified(&table)
                ),
            )
            .await?;
            tracing::info!(table = %table, partition = %p, "clickhouse partition dropped (retention)");
            dropped += 1;
        }
    }
    Ok(dropped)
}

async fn exec(client: &clickhouse::Client, sql: &str) -> Result<()> {
    client
        .query_raw(sql)
        .execute()
        .await
        .map_err(|e| other(format!("clickhouse statement failed: {sql}"), e))
}

fn other(context: impl Into<String>, e: clickhouse::error::Error) -> Error {
    Error::Other {
        context: context.into(),
        source: super::error_chain(&e).into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_field_has_a_column_type_in_both_flavors() {
        for f in FieldId::ALL {
            for flavor in [Flavor::Legacy, Flavor::Modern] {
                let t = column_type(flavor, *f);
                assert!(!t.is_empty(), "{}", f.name());
                if flavor == Flavor::Legacy {
                    for modern_only in ["LowCardinality", "DateTime64", "IPv6", "Map", "Bool"] {
                        assert!(!t.contains(modern_only), "{}: {t}", f.name());
                    }
                }
            }
        }
        assert_eq!(
            column_type(Flavor::Modern, FieldId::SrcK8sNamespace),
            "LowCardinality(String)"
        );
        assert_eq!(column_type(Flavor::Modern, FieldId::DnsName), "String");
        assert_eq!(
            column_type(Flavor::Modern, FieldId::SrcAddr),
            "Nullable(IPv6)"
        );
        assert_eq!(
            column_type(Flavor::Legacy, FieldId::SrcAddr),
            "Nullable(String)"
        );
        assert_eq!(
            column_type(Flavor::Legacy, FieldId::Bytes),
            "Nullable(UInt64)"
        );
    }

    #[test]
    fn legacy_ddl_has_no_modern_syntax() {
        let s = Schema::new(Flavor::Legacy, "db", "flows").with_retention(7, 90);
        for m in s.migrations() {
            for st in m.steps {
                let Step::Sql(st) = st else { continue };
                for modern_only in ["TTL", "CODEC", "toStartOfInterval", "LowCardinality", "{"] {
                    assert!(!st.contains(modern_only), "{modern_only} in {st}");
                }
            }
        }
        let m = Schema::new(Flavor::Modern, "db", "flows")
            .with_retention(7, 90)
            .migrations();
        assert!(
            matches!(&m[0].steps[0], Step::Sql(s) if s.contains("TTL toDateTime(`TimeFlowEndMs`) + INTERVAL 7 DAY"))
        );
    }

    #[test]
    fn versions_are_consecutive_and_end_at_the_current_one() {
        let m = Schema::new(Flavor::Legacy, "db", "flows").migrations();
        let versions: Vec<u32> = m.iter().map(|m| m.version).collect();
        assert_eq!(versions, (1..=SCHEMA_VERSION).collect::<Vec<_>>());
    }
}
