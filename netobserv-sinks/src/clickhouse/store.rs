//! [`ClickHouseStore`]: the [`FlowStore`] over the raw table and its rollups (see the layout in
//! [`super`]), through the `clickhouse` crate's HTTP client.
//!
//! At [`ClickHouseStore::connect`] the store reads the server's version (which [`Flavor`] of SQL
//! it gets) and the columns of the raw table and of the rollups that exist; queries are compiled by
//! [`super::query`] and answers read as `JSONEachRow`. Records come back as [`Flow`]s decoded by
//! the NetObserv JSON codec (columns are named as the JSON fields), with empty strings, empty
//! arrays and `NULL`s read as absent fields.
//!
//! The table stores an absent text field as `''`, so filters on text cannot tell the two apart:
//! `F=""` matches flows without `F` and `F!=""` excludes them (the pipeline's `keep_entry_query`
//! keeps them), and a regular expression matching the empty string matches them; use
//! `with(F)` / `without(F)` for presence.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use netobserv_flow::store::{FlowStore, Function, Measure, MetricsQuery, TimeRange};
//! use netobserv_sinks::clickhouse::store::ClickHouseStore;
//! let client = clickhouse::Client::default().with_url("http://127.0.0.1:8123");
//! let store = ClickHouseStore::connect(client, "flows").await?;
//! let top = MetricsQuery::new(TimeRange::new(0, 3_600_000), Function::Sum, Measure::field("Bytes"))
//!     .with_group_by(["SrcK8S_Namespace", "DstK8S_Namespace"])
//!     .with_top_k(50);
//! for s in store.metrics(&top).await?.series {
//!     println!("{:?} {:?}", s.labels, s.total);
//! }
//! # Ok(()) }
//! ```

use std::collections::{BTreeMap, HashMap};

use netobserv_flow::codec::json;
use netobserv_flow::flow::{FieldId, FieldKind, Flow};
use netobserv_flow::store::{
    FlowStore, MetricsQuery, MetricsResult, Point, RecordsQuery, Series, StoreError,
};
use serde_json::{Map, Value as Json};

use super::query::{
    CONVERTED_PREFIX, Layout, ParamValue, Shape, Source, Sql, TableInfo, choose_source,
    metrics_sql, records_sql,
};
use super::{Flavor, Rollup, sql};

const STORE: &str = "clickhouse";

fn backend(
    context: impl Into<String>,
    e: impl std::error::Error + Send + Sync + 'static,
) -> StoreError {
    StoreError::Backend {
        store: STORE,
        context: context.into(),
        source: Box::new(e),
    }
}

/// The [`FlowStore`] of a ClickHouse server.
#[derive(Clone)]
pub struct ClickHouseStore {
    client: clickhouse::Client,
    flavor: Flavor,
    layout: Layout,
}

impl std::fmt::Debug for ClickHouseStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClickHouseStore")
            .field("flavor", &self.flavor)
            .field("layout", &self.layout)
            .finish_non_exhaustive()
    }
}

impl ClickHouseStore {
    /// Connects to the server `client` points at (its URL, database, user) and reads the layout
    /// of raw table `table` and of its rollups. Fails when the server cannot be reached or the
    /// raw table does not exist.
    pub async fn connect(
        client: clickhouse::Client,
        table: &str,
    ) -> Result<ClickHouseStore, StoreError> {
        // 18.16 cannot validate row types; the store reads JSON anyway.
        let client = client.with_validation(false);
        let version = fetch_json(&client, &Sql::plain("SELECT version() AS v"))
            .await?
            .first()
            .and_then(|r| r.get("v"))
            .and_then(Json::as_str)
            .map(str::to_string)
            .ok_or_else(|| StoreError::Backend {
                store: STORE,
                context: "reading the server version".into(),
                source: "no version in the answer".into(),
            })?;
        let flavor = Flavor::from_version(&version);
        let database = match client.database() {
            Some(db) => db.to_string(),
            None => fetch_json(&client, &Sql::plain("SELECT currentDatabase() AS d"))
                .await?
                .first()
                .and_then(|r| r.get("d"))
                .and_then(Json::as_str)
                .map(str::to_string)
                .unwrap_or_else(|| "default".to_string()),
        };
        let raw = describe(&client, &database, table).await?.ok_or_else(|| {
            StoreError::invalid(format!("table {database}.{table} does not exist"))
        })?;
        let mut rollups = Vec::new();
        for r in Rollup::ALL {
            if let Some(t) = describe(&client, &database, &r.table(table)).await? {
                rollups.push((r, t));
            }
        }
        tracing::debug!(%version, ?flavor, table, rollups = rollups.len(), "clickhouse store connected");
        Ok(ClickHouseStore {
            client,
            flavor,
            layout: Layout {
                database: Some(database),
                raw,
                rollups,
            },
        })
    }

    /// A store with a known flavor and layout (no round trip).
    pub fn new(client: clickhouse::Client, flavor: Flavor, layout: Layout) -> ClickHouseStore {
        ClickHouseStore {
            client: client.with_validation(false),
            flavor,
            layout,
        }
    }

    /// The SQL flavor the server gets.
    pub fn flavor(&self) -> Flavor {
        self.flavor
    }

    /// The tables and columns found at connect.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// Which table would answer `q` (the raw table's name or a rollup's).
    pub fn source_of(&self, q: &MetricsQuery) -> String {
        self.source_name(choose_source(&self.layout, q))
    }

    fn source_name(&self, s: Source) -> String {
        match s {
            Source::Raw => self.layout.raw.name.clone(),
            Source::Rollup(r) => r.table(&self.layout.raw.name),
        }
    }
}

impl Sql {
    fn plain(text: &str) -> Sql {
        Sql {
            text: text.to_string(),
            params: Vec::new(),
        }
    }
}

/// The physical columns of `database.table`, or `None` when it does not exist.
async fn describe(
    client: &clickhouse::Client,
    database: &str,
    table: &str,
) -> Result<Option<TableInfo>, StoreError> {
    let name = format!("{}.{}", sql::identifier(database), sql::identifier(table));
    let exists = fetch_json(client, &Sql::plain(&format!("EXISTS TABLE {name}"))).await?;
    let found = exists
        .first()
        .and_then(|r| r.get("result"))
        .and_then(Json::as_u64)
        .is_some_and(|v| v == 1);
    if !found {
        return Ok(None);
    }
    let rows = fetch_json(client, &Sql::plain(&format!("DESCRIBE TABLE {name}"))).await?;
    let columns = rows
        .iter()
        .filter(|r| {
            !matches!(
                r.get("default_type").and_then(Json::as_str),
                Some("ALIAS" | "MATERIALIZED" | "EPHEMERAL")
            )
        })
        .filter_map(|r| {
            Some((
                r.get("name")?.as_str()?.to_string(),
                r.get("type")?.as_str()?.to_string(),
            ))
        })
        .collect();
    Ok(Some(TableInfo {
        name: table.to_string(),
        columns,
    }))
}

/// Runs `sql` and reads its `JSONEachRow` answer.
async fn fetch_json(
    client: &clickhouse::Client,
    sql: &Sql,
) -> Result<Vec<Map<String, Json>>, StoreError> {
    let mut q = client
        .query_raw(&sql.text)
        .with_setting("output_format_json_quote_64bit_integers", "0");
    for (name, value) in &sql.params {
        q = match value {
            ParamValue::Str(s) => q.param(name, s.as_str()),
            ParamValue::Int(i) => q.param(name, i),
            ParamValue::Float(f) => q.param(name, f),
        };
    }
    let body = q
        .fetch_bytes("JSONEachRow")
        .map_err(|e| backend(format!("query {:?}", sql.text), e))?
        .collect()
        .await
        .map_err(|e| backend(format!("query {:?}", sql.text), e))?;
    body.split(|b| *b == b'\n')
        .filter(|l| !l.iter().all(u8::is_ascii_whitespace))
        .map(|line| {
            serde_json::from_slice::<Map<String, Json>>(line)
                .map_err(|e| backend(format!("reading the answer to {:?}", sql.text), e))
        })
        .collect()
}

/// A row as a NetObserv JSON flow: `NULL`, `""` and `[]` are absent fields.
fn row_to_flow(row: Map<String, Json>) -> Result<Flow, StoreError> {
    let mut row: Map<String, Json> = row
        .into_iter()
        .map(|(k, v)| match k.strip_prefix(CONVERTED_PREFIX) {
            Some(name) => (name.to_string(), v),
            None => (k, v),
        })
        .collect();
    row.retain(|_, v| match v {
        Json::Null => false,
        Json::String(s) => !s.is_empty(),
        Json::Array(a) => !a.is_empty(),
        _ => true,
    });
    // Servers that quote 64-bit integers in JSON (the default of modern ones, and the setting
    // that turns it off is not honoured everywhere): integers of integer fields as numbers.
    for (k, v) in row.iter_mut() {
        let integer = FieldId::from_name(k)
            .is_some_and(|f| matches!(f.kind(), FieldKind::UInt(_) | FieldKind::Int(_)));
        if let (true, Json::String(s)) = (integer, &v) {
            if let Ok(u) = s.parse::<u64>() {
                *v = Json::from(u);
            } else if let Ok(i) = s.parse::<i64>() {
                *v = Json::from(i);
            }
        }
    }
    let bytes = serde_json::to_vec(&row).map_err(|e| backend("re-encoding a row", e))?;
    json::decode(&bytes).map_err(|e| backend("decoding a row as a NetObserv flow", e))
}

fn labels(row: &Map<String, Json>, group_by: &[String]) -> Vec<String> {
    (0..group_by.len())
        .map(|i| match row.get(&format!("g{i}")) {
            Some(Json::String(s)) => s.clone(),
            Some(Json::Null) | None => String::new(),
            Some(other) => other.to_string(),
        })
        .collect()
}

fn number(row: &Map<String, Json>, key: &str) -> Option<f64> {
    match row.get(key)? {
        Json::String(s) => s.parse::<f64>().ok(),
        v => v.as_f64(),
    }
    .filter(|v| v.is_finite())
}

fn series(group_by: &[String], values: &[String]) -> Series {
    Series {
        labels: group_by
            .iter()
            .cloned()
            .zip(values.iter().cloned())
            .collect::<BTreeMap<_, _>>(),
        points: Vec::new(),
        total: None,
    }
}

#[async_trait::async_trait]
impl FlowStore for ClickHouseStore {
    async fn records(&self, query: &RecordsQuery) -> Result<Vec<Flow>, StoreError> {
        let sql = records_sql(&self.layout, self.flavor, query)?;
        fetch_json(&self.client, &sql)
            .await?
            .into_iter()
            .map(row_to_flow)
            .collect()
    }

    async fn metrics(&self, q: &MetricsQuery) -> Result<MetricsResult, StoreError> {
        q.validate()?;
        let source = choose_source(&self.layout, q);
        let name = self.source_name(source);
        let top = q.top_k.is_some() && !q.group_by.is_empty();
        let mut out = MetricsResult {
            series: Vec::new(),
            source: name,
        };
        let mut order: Vec<Vec<String>> = Vec::new();
        let mut by_group: HashMap<Vec<String>, Series> = HashMap::new();
        if q.step_seconds.is_none() || top {
            let sql = metrics_sql(&self.layout, self.flavor, q, source, Shape::Totals, None)?;
            for row in fetch_json(&self.client, &sql).await? {
                let g = labels(&row, &q.group_by);
                let mut s = series(&q.group_by, &g);
                s.total = number(&row, "v");
                if q.step_seconds.is_none()
                    && let Some(value) = s.total
                {
                    s.points.push(Point {
                        time_ms: q.range.start_ms,
                        value,
                    });
                }
                order.push(g.clone());
                by_group.insert(g, s);
            }
            if q.step_seconds.is_none() || order.is_empty() {
                out.series = order
                    .into_iter()
                    .filter_map(|g| by_group.remove(&g))
                    .collect();
                return Ok(out);
            }
        }
        let groups = top.then(|| order.clone());
        let sql = metrics_sql(
            &self.layout,
            self.flavor,
            q,
            source,
            Shape::Buckets,
            groups.as_deref(),
        )?;
        for row in fetch_json(&self.client, &sql).await? {
            let g = labels(&row, &q.group_by);
            let (Some(t), Some(value)) = (number(&row, "t"), number(&row, "v")) else {
                continue;
            };
            let s = by_group.entry(g.clone()).or_insert_with(|| {
                order.push(g.clone());
                series(&q.group_by, &g)
            });
            s.points.push(Point {
                time_ms: t as i64,
                value,
            });
        }
        out.series = order
            .into_iter()
            .filter_map(|g| by_group.remove(&g))
            .collect();
        Ok(out)
    }
}
