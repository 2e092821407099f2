//! The SQL compiler of the ClickHouse [`FlowStore`](netobserv_flow::store::FlowStore): a
//! [`RecordsQuery`] or [`MetricsQuery`] becomes one `SELECT` over the raw table or a rollup.
//!
//! Values never enter the SQL text on [`Flavor::Modern`] servers: each one is a query parameter
//! (`{p0:String}` in the text, `param_p0` in the request). [`Flavor::Legacy`] servers (18.16) have
//! no query parameters: values are written as literals by [`sql::string_literal`], numbers from
//! their parsed value. Identifiers come only from the table's own column list and are quoted by
//! [`sql::identifier`]. Time buckets are `intDiv` over milliseconds (or rollup seconds), which
//! both flavors run (18.16 has no `toStartOfInterval`).
//!
//! Filters keep the meaning of [`netobserv_flow::query`] as far as a table can: a quoted value
//! compares with the column's text; a bare number compares numerically (a text column's number
//! read with `toFloat64OrNull`, so a column without one fails, `!=` included); regular expressions
//! are RE2 `match`, unanchored; an absent value is a `NULL` of a `Nullable` column, or an empty
//! string or array (numbers of non-`Nullable` columns are always present).

use std::collections::BTreeSet;
use std::fmt::Write;

use netobserv_flow::compare::Op;
use netobserv_flow::flow::{FieldId, FieldKind};
use netobserv_flow::query::Expr;
use netobserv_flow::store::{
    Function, Measure, MetricsQuery, Order, RecordsQuery, StoreError, TimeRange,
};

use super::{Flavor, ROLLUP_KEYS, ROLLUP_SUMS, Rollup, TIME_BUCKET, sql};

/// The column the time range and buckets of the raw table use.
pub const TIME_COLUMN: &str = "TimeFlowEndMs";

/// The prefix of the output name of a column [`records_sql`] converts (`__out_SrcAddr`): the
/// reader strips it to get the field's name.
pub const CONVERTED_PREFIX: &str = "__out_";

/// A table as the server describes it: its physical columns (no `ALIAS` or `MATERIALIZED`) with
/// their ClickHouse types, in table order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableInfo {
    /// The table's name.
    pub name: String,
    /// (column, type) pairs.
    pub columns: Vec<(String, String)>,
}

impl TableInfo {
    /// The type of `column`, if the table has it.
    pub fn column_type(&self, column: &str) -> Option<&str> {
        self.columns
            .iter()
            .find(|(c, _)| c == column)
            .map(|(_, t)| t.as_str())
    }

    fn column(&self, column: &str) -> Result<Column<'_>, StoreError> {
        let (name, ty) = self
            .columns
            .iter()
            .find(|(c, _)| c == column)
            .ok_or_else(|| {
                StoreError::invalid(format!(
                    "unknown field {column:?}: table {} has no such column",
                    self.name
                ))
            })?;
        Ok(Column::new(name, ty))
    }
}

/// What the store queries: the raw table and the rollups that exist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    /// The database (`None`: the connection's default).
    pub database: Option<String>,
    /// The raw flows table.
    pub raw: TableInfo,
    /// The rollup tables found, finest first.
    pub rollups: Vec<(Rollup, TableInfo)>,
}

impl Layout {
    fn qualified(&self, table: &str) -> String {
        match &self.database {
            Some(db) => format!("{}.{}", sql::identifier(db), sql::identifier(table)),
            None => sql::identifier(table),
        }
    }
}

/// A query parameter's value (sent as `param_{name}` on [`Flavor::Modern`] servers).
#[derive(Debug, Clone, PartialEq)]
pub enum ParamValue {
    /// A `String`.
    Str(String),
    /// An `Int64`.
    Int(i64),
    /// A `Float64`.
    Float(f64),
}

/// A compiled statement: its text and, on [`Flavor::Modern`], its parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct Sql {
    /// The SQL text, without `FORMAT`.
    pub text: String,
    /// (name, value) of each `{name:Type}` in the text.
    pub params: Vec<(String, ParamValue)>,
}

/// Which table answers a metrics query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The raw flows.
    Raw,
    /// A rollup table.
    Rollup(Rollup),
}

/// Writes values as parameters or escaped literals, by flavor.
struct Builder {
    flavor: Flavor,
    params: Vec<(String, ParamValue)>,
}

impl Builder {
    fn new(flavor: Flavor) -> Builder {
        Builder {
            flavor,
            params: Vec::new(),
        }
    }

    fn bind(&mut self, ty: &str, value: ParamValue) -> String {
        let name = format!("p{}", self.params.len());
        let placeholder = format!("{{{name}:{ty}}}");
        self.params.push((name, value));
        placeholder
    }

    fn string(&mut self, v: &str) -> String {
        match self.flavor {
            Flavor::Modern => self.bind("String", ParamValue::Str(v.to_string())),
            Flavor::Legacy => sql::string_literal(v),
        }
    }

    fn int(&mut self, v: i64) -> String {
        match self.flavor {
            Flavor::Modern => self.bind("Int64", ParamValue::Int(v)),
            Flavor::Legacy => format!("toInt64({v})"),
        }
    }

    fn float(&mut self, v: f64) -> String {
        match self.flavor {
            Flavor::Modern => self.bind("Float64", ParamValue::Float(v)),
            // `{:?}` writes a finite f64 so that it reads back exactly (`1e300`, `0.5`).
            Flavor::Legacy => format!("toFloat64({v:?})"),
        }
    }

    fn finish(self, text: String) -> Sql {
        Sql {
            text,
            params: self.params,
        }
    }
}

/// How a column's type is compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Str,
    Int,
    Float,
    Bool,
    Ip,
    DateTime,
    DateTime64,
    Array,
    Other,
}

struct Column<'a> {
    sql: String,
    kind: Kind,
    nullable: bool,
    ipv6: bool,
    name: &'a str,
}

impl<'a> Column<'a> {
    fn new(name: &'a str, ty: &str) -> Column<'a> {
        let mut base = ty.trim();
        let mut nullable = false;
        loop {
            if let Some(inner) = strip_wrapper(base, "Nullable") {
                nullable = true;
                base = inner;
            } else if let Some(inner) = strip_wrapper(base, "LowCardinality") {
                base = inner;
            } else {
                break;
            }
        }
        let kind =
            if base == "String" || base.starts_with("FixedString") || base.starts_with("Enum") {
                Kind::Str
            } else if base == "Bool" {
                Kind::Bool
            } else if base.starts_with("Int") || base.starts_with("UInt") {
                Kind::Int
            } else if base.starts_with("Float") || base.starts_with("Decimal") {
                Kind::Float
            } else if base == "IPv4" || base == "IPv6" {
                Kind::Ip
            } else if base.starts_with("DateTime64") {
                Kind::DateTime64
            } else if base.starts_with("DateTime") {
                Kind::DateTime
            } else if base.starts_with("Array") {
                Kind::Array
            } else {
                Kind::Other
            };
        Column {
            sql: sql::identifier(name),
            kind,
            nullable,
            ipv6: base == "IPv6",
            name,
        }
    }

    /// The column as text, as NetObserv writes it (IPv4 in IPv6 as dotted quad).
    fn text(&self) -> String {
        match self.kind {
            Kind::Str => self.sql.clone(),
            Kind::Ip if self.ipv6 => {
                format!("replaceRegexpOne(toString({}), '^::ffff:', '')", self.sql)
            }
            Kind::Bool => format!("if({} != 0, 'true', 'false')", self.sql),
            _ => format!("toString({})", self.sql),
        }
    }

    /// The column as a number (`NULL` for text that is not one).
    fn number(&self) -> String {
        match self.kind {
            Kind::Int | Kind::Bool => self.sql.clone(),
            Kind::Float => format!("trunc({})", self.sql),
            Kind::Str => format!("trunc(toFloat64OrNull({}))", self.sql),
            Kind::DateTime64 => format!("toUnixTimestamp64Milli({})", self.sql),
            _ => format!("toFloat64OrNull(toString({}))", self.sql),
        }
    }

    /// Unix milliseconds, for a time column.
    fn millis(&self) -> Result<String, StoreError> {
        match self.kind {
            Kind::Int => Ok(self.sql.clone()),
            Kind::DateTime64 => Ok(format!("toUnixTimestamp64Milli({})", self.sql)),
            Kind::DateTime => Ok(format!("(toInt64(toUInt32({})) * 1000)", self.sql)),
            _ => Err(StoreError::invalid(format!(
                "column {:?} is not a time (integer milliseconds or DateTime)",
                self.name
            ))),
        }
    }

    fn present(&self) -> String {
        let c = &self.sql;
        match (self.nullable, self.kind) {
            (true, _) => format!("isNotNull({c})"),
            (false, Kind::Str) => format!("({c} != '')"),
            (false, Kind::Array) => format!("notEmpty({c})"),
            (false, _) => "1".to_string(),
        }
    }
}

fn strip_wrapper<'t>(ty: &'t str, wrapper: &str) -> Option<&'t str> {
    ty.strip_prefix(wrapper)?
        .strip_prefix('(')?
        .strip_suffix(')')
        .map(str::trim)
}

/// The SQL condition of a filter expression over `table`.
fn filter_sql(expr: &Expr, table: &TableInfo, b: &mut Builder) -> Result<String, StoreError> {
    Ok(match expr {
        Expr::And(l, r) => format!(
            "({} AND {})",
            filter_sql(l, table, b)?,
            filter_sql(r, table, b)?
        ),
        Expr::Or(l, r) => format!(
            "({} OR {})",
            filter_sql(l, table, b)?,
            filter_sql(r, table, b)?
        ),
        Expr::With(f) => table.column(f.name())?.present(),
        Expr::Without(f) => format!("NOT {}", table.column(f.name())?.present()),
        Expr::Cmp { field, op, lit } => {
            let col = table.column(field.name())?;
            let absent_ok = |cond: String| {
                if col.nullable {
                    format!("({} IS NULL OR {cond})", col.sql)
                } else {
                    cond
                }
            };
            match op {
                Op::Match => format!("match({}, {})", col.text(), b.string(lit.as_text())),
                Op::NotMatch => absent_ok(format!(
                    "NOT match({}, {})",
                    col.text(),
                    b.string(lit.as_text())
                )),
                Op::Eq | Op::Ne => {
                    let sym = if *op == Op::Eq { "=" } else { "!=" };
                    match lit.number() {
                        // A bare number: numeric comparison, absent or non-numbers fail.
                        Some(n) => format!("({} {sym} {})", col.number(), number(lit_int(n), b)),
                        None => {
                            let cond =
                                format!("({} {sym} {})", col.text(), b.string(lit.as_text()));
                            if *op == Op::Ne { absent_ok(cond) } else { cond }
                        }
                    }
                }
                Op::Lt | Op::Le | Op::Gt | Op::Ge => {
                    let n = lit.number().ok_or_else(|| {
                        StoreError::invalid(format!(
                            "{op} needs a number, found {:?}",
                            lit.as_text()
                        ))
                    })?;
                    format!("({} {op} {})", col.number(), number(lit_int(n), b))
                }
            }
        }
    })
}

/// A number operand: an integer when it is one (so large counters compare exactly).
enum Num {
    Int(i64),
    Float(f64),
}

fn lit_int(n: f64) -> Num {
    if n.fract() == 0.0 && n.abs() < 9.0e15 {
        Num::Int(n as i64)
    } else {
        Num::Float(n)
    }
}

fn number(n: Num, b: &mut Builder) -> String {
    match n {
        Num::Int(i) => b.int(i),
        Num::Float(f) => b.float(f),
    }
}

/// The fields a filter reads.
pub fn filter_fields(expr: &Expr, out: &mut BTreeSet<String>) {
    match expr {
        Expr::And(l, r) | Expr::Or(l, r) => {
            filter_fields(l, out);
            filter_fields(r, out);
        }
        Expr::Cmp { field, .. } | Expr::With(field) | Expr::Without(field) => {
            out.insert(field.name().to_string());
        }
    }
}

fn where_clause(
    table: &TableInfo,
    time: &str,
    range: TimeRange,
    filter: Option<&Expr>,
    b: &mut Builder,
) -> Result<String, StoreError> {
    let mut w = format!(
        "{time} >= {} AND {time} < {}",
        b.int(range.start_ms),
        b.int(range.end_ms)
    );
    if let Some(f) = filter {
        let _ = write!(w, " AND {}", filter_sql(f, table, b)?);
    }
    Ok(w)
}

/// The `SELECT` of [`RecordsQuery`]: every physical column, named as the NetObserv JSON field,
/// times as integer milliseconds and IPs as text so that each row reads as a NetObserv JSON flow.
pub fn records_sql(layout: &Layout, flavor: Flavor, q: &RecordsQuery) -> Result<Sql, StoreError> {
    let raw = &layout.raw;
    let mut b = Builder::new(flavor);
    let time = raw.column(TIME_COLUMN)?.millis()?;
    // A converted column gets an alias of its own: an alias named as the column would shadow
    // it in WHERE and ORDER BY (ClickHouse resolves aliases first).
    let select = raw
        .columns
        .iter()
        .map(|(name, ty)| {
            let c = Column::new(name, ty);
            let mac = FieldId::from_name(name).is_some_and(|f| f.kind() == FieldKind::Mac);
            let alias = sql::identifier(&format!("{CONVERTED_PREFIX}{name}"));
            match c.kind {
                // The schema stores MACs as their 48-bit number.
                Kind::Int if mac => format!("MACNumToString({}) AS {alias}", c.sql),
                Kind::Ip => format!("{} AS {alias}", c.text()),
                Kind::DateTime64 | Kind::DateTime => {
                    format!("{} AS {alias}", c.millis().unwrap_or_default())
                }
                _ => c.sql,
            }
        })
        .collect::<Vec<_>>()
        .join(", ");
    let filter = q.filter.as_ref().map(|f| f.expr());
    let mut w = where_clause(raw, &time, q.range, filter, &mut b)?;
    let table = layout.qualified(&raw.name);
    // A page of the newest (or oldest) flows: the time of its last flow comes from the time and
    // filter columns alone, and whole rows are read only from there on (18.16 cannot read in key
    // order; sorting every column of a range costs seconds on millions of rows).
    let by_time = match q.sort.first() {
        None => Some(Order::Desc),
        Some(s) => (s.field == TIME_COLUMN).then_some(s.order),
    };
    if let Some(order) = by_time {
        let (agg, op, dir) = match order {
            Order::Desc => ("min", ">=", "DESC"),
            Order::Asc => ("max", "<=", "ASC"),
        };
        let inner = where_clause(raw, &time, q.range, filter, &mut b)?;
        let _ = write!(
            w,
            " AND {time} {op} (SELECT {agg}(t) FROM (SELECT {time} AS t FROM {table} \
             WHERE {inner} ORDER BY t {dir} LIMIT {}))",
            q.limit
        );
    }
    let mut order = Vec::new();
    for s in &q.sort {
        let c = raw.column(&s.field)?;
        let dir = match s.order {
            Order::Asc => "ASC",
            Order::Desc => "DESC",
        };
        order.push(format!("{} {dir}", c.sql));
    }
    if order.is_empty() {
        order.push(format!("{} DESC", sql::identifier(TIME_COLUMN)));
    }
    let text = format!(
        "SELECT {select} FROM {table} WHERE {w} ORDER BY {} LIMIT {}",
        order.join(", "),
        q.limit
    );
    Ok(b.finish(text))
}

/// The rollup that answers `q` exactly, coarsest first, or [`Source::Raw`]: a function of sums
/// ([`Function::from_sums`]) of a summed measure ([`ROLLUP_SUMS`]), group and filter fields all
/// in [`ROLLUP_KEYS`], a step that is a multiple of the rollup's width, and a range aligned to it
/// (a rollup bucket is all or nothing).
pub fn choose_source(layout: &Layout, q: &MetricsQuery) -> Source {
    if !q.allow_rollup || !q.function.from_sums() || rollup_sum_column(&q.measure).is_none() {
        return Source::Raw;
    }
    let mut fields: BTreeSet<String> = q.group_by.iter().cloned().collect();
    if let Some(f) = &q.filter {
        filter_fields(f.expr(), &mut fields);
    }
    if !fields.iter().all(|f| ROLLUP_KEYS.contains(&f.as_str())) {
        return Source::Raw;
    }
    for (rollup, table) in layout.rollups.iter().rev() {
        let w = rollup.seconds();
        let step_ok = q.step_seconds.is_none_or(|s| s % w == 0);
        let has_columns = fields
            .iter()
            .map(String::as_str)
            .chain([
                TIME_BUCKET,
                rollup_sum_column(&q.measure).unwrap_or_default(),
            ])
            .all(|c| table.column_type(c).is_some());
        if step_ok && q.range.aligned_to(w) && has_columns {
            return Source::Rollup(*rollup);
        }
    }
    Source::Raw
}

fn rollup_sum_column(m: &Measure) -> Option<&'static str> {
    match m {
        Measure::Flows => ROLLUP_SUMS
            .iter()
            .find(|(_, src)| src.is_none())
            .map(|(c, _)| *c),
        Measure::Field(f) => ROLLUP_SUMS
            .iter()
            .find(|(_, src)| *src == Some(f.as_str()))
            .map(|(c, _)| *c),
    }
}

/// The shape of a metrics `SELECT`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// One row per group and bucket (`g0..gN`, `t`, `v`), ordered by group then time.
    Buckets,
    /// One row per group over the whole range (`g0..gN`, `v`), largest `v` first, `LIMIT k` when
    /// `q.top_k` is set.
    Totals,
}

/// The `SELECT` of a metrics query from `source` (see [`choose_source`]). With `groups`, only
/// those groups (each the values of `q.group_by`, as text) are kept: the top-k of a
/// [`Shape::Totals`] query.
pub fn metrics_sql(
    layout: &Layout,
    flavor: Flavor,
    q: &MetricsQuery,
    source: Source,
    shape: Shape,
    groups: Option<&[Vec<String>]>,
) -> Result<Sql, StoreError> {
    q.validate()?;
    let mut b = Builder::new(flavor);
    let table = match source {
        Source::Raw => &layout.raw,
        Source::Rollup(r) => layout
            .rollups
            .iter()
            .find(|(x, _)| *x == r)
            .map(|(_, t)| t)
            .ok_or_else(|| StoreError::invalid(format!("no {} rollup table", r.table("*"))))?,
    };
    // Time in milliseconds and the value aggregate, by source.
    let (time, value) = match source {
        Source::Raw => {
            let time = table.column(TIME_COLUMN)?.millis()?;
            (time, raw_aggregate(table, q)?)
        }
        Source::Rollup(_) => {
            let time = table.column(TIME_BUCKET)?.millis()?;
            let col = rollup_sum_column(&q.measure)
                .ok_or_else(|| StoreError::invalid(format!("{} is not rolled up", q.measure)))?;
            let sum = format!("sum({})", table.column(col)?.sql);
            (time, rate_of(sum, q))
        }
    };
    let mut keys = Vec::new();
    for (i, g) in q.group_by.iter().enumerate() {
        let c = table.column(g)?;
        // Absent values group as '' (as they read back), also in a top-k's IN list.
        let text = if c.nullable {
            format!("ifNull({}, '')", c.text())
        } else {
            c.text()
        };
        keys.push((format!("g{i}"), text));
    }
    let mut select: Vec<String> = keys.iter().map(|(a, e)| format!("{e} AS {a}")).collect();
    let mut group: Vec<String> = keys.iter().map(|(a, _)| a.clone()).collect();
    if shape == Shape::Buckets {
        let step_ms = q
            .step_seconds
            .map_or(q.range.duration_ms(), |s| s as i64 * 1000);
        let bucket = match q.step_seconds {
            Some(_) => format!("(intDiv({time}, {step_ms}) * {step_ms})"),
            None => b.int(q.range.start_ms),
        };
        select.push(format!("{bucket} AS t"));
        group.push("t".to_string());
    }
    select.push(format!("{value} AS v"));
    let mut w = where_clause(
        table,
        &time,
        q.range,
        q.filter.as_ref().map(|f| f.expr()),
        &mut b,
    )?;
    if let Some(groups) = groups {
        if keys.is_empty() {
            return Err(StoreError::invalid(
                "groups given for a query without group_by",
            ));
        }
        let mut tuples = Vec::with_capacity(groups.len());
        for g in groups {
            if g.len() != keys.len() {
                return Err(StoreError::invalid(format!(
                    "group {g:?} has {} values, group_by has {}",
                    g.len(),
                    keys.len()
                )));
            }
            let vals: Vec<String> = g.iter().map(|v| b.string(v)).collect();
            tuples.push(format!("({})", vals.join(", ")));
        }
        let lhs: Vec<&str> = keys.iter().map(|(_, e)| e.as_str()).collect();
        if tuples.is_empty() {
            w.push_str(" AND 0");
        } else {
            let _ = write!(w, " AND ({}) IN ({})", lhs.join(", "), tuples.join(", "));
        }
    }
    let mut text = format!(
        "SELECT {} FROM {} WHERE {w}",
        select.join(", "),
        layout.qualified(&table.name)
    );
    if !group.is_empty() {
        let _ = write!(text, " GROUP BY {}", group.join(", "));
    }
    match shape {
        Shape::Buckets => {
            if !group.is_empty() {
                let _ = write!(text, " ORDER BY {}", group.join(", "));
            }
        }
        Shape::Totals => {
            // Ties broken by the group so that the top-k is deterministic.
            let mut order = vec!["v DESC".to_string()];
            order.extend(keys.iter().map(|(a, _)| a.clone()));
            let _ = write!(text, " ORDER BY {}", order.join(", "));
            if let Some(k) = q.top_k {
                let _ = write!(text, " LIMIT {k}");
            }
        }
    }
    Ok(b.finish(text))
}

/// `sum` divided by the bucket's seconds for [`Function::Rate`].
fn rate_of(sum: String, q: &MetricsQuery) -> String {
    match q.function {
        Function::Rate => {
            let secs = q
                .step_seconds
                .map_or(q.range.duration_ms() as f64 / 1000.0, |s| s as f64);
            format!("({sum} / {secs:?})")
        }
        _ => sum,
    }
}

fn raw_aggregate(table: &TableInfo, q: &MetricsQuery) -> Result<String, StoreError> {
    let field = match &q.measure {
        Measure::Flows => {
            return match q.function {
                Function::Rate | Function::Sum => Ok(rate_of("count()".to_string(), q)),
                f => Err(StoreError::invalid(format!(
                    "{f} of flows is not defined (use sum or rate)"
                ))),
            };
        }
        Measure::Field(f) => table.column(f)?,
    };
    if !matches!(field.kind, Kind::Int | Kind::Float) {
        return Err(StoreError::invalid(format!(
            "{} of {:?}: the field is not a number",
            q.function, field.name
        )));
    }
    let c = &field.sql;
    // Latency fields: 0 is "not measured", so avg/max/percentiles skip it (the `If` combinator).
    let skip_zero = q.measure.zero_is_absent();
    let (suffix, cond) = if skip_zero {
        ("If", format!(", {c} > 0"))
    } else {
        ("", String::new())
    };
    Ok(match q.function {
        Function::Rate | Function::Sum => rate_of(format!("sum({c})"), q),
        Function::Avg => format!("avg{suffix}({c}{cond})"),
        // maxIf over no row is 0, not NULL; a measured latency is never 0.
        Function::Max if skip_zero => format!("nullIf(maxIf({c}{cond}), 0)"),
        Function::Max => format!("max({c})"),
        Function::P90 | Function::P99 => {
            let level = q.function.quantile().unwrap_or_default();
            format!("quantile{suffix}({level})({c}{cond})")
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use netobserv_flow::store::{Measure, MetricsQuery, RecordsQuery, TimeRange};

    fn table(name: &str, cols: &[(&str, &str)]) -> TableInfo {
        TableInfo {
            name: name.to_string(),
            columns: cols
                .iter()
                .map(|(c, t)| (c.to_string(), t.to_string()))
                .collect(),
        }
    }

    fn layout(modern: bool) -> Layout {
        let s = if modern {
            "LowCardinality(String)"
        } else {
            "String"
        };
        let ip = if modern { "IPv6" } else { "String" };
        let mut rollup_cols = vec![(TIME_BUCKET, "DateTime")];
        rollup_cols.extend(ROLLUP_KEYS.iter().map(|k| (*k, s)));
        rollup_cols.extend(ROLLUP_SUMS.iter().map(|(c, _)| (*c, "UInt64")));
        Layout {
            database: Some("db".into()),
            raw: table(
                "flows",
                &[
                    ("TimeFlowEndMs", "Int64"),
                    ("SrcAddr", ip),
                    ("SrcK8S_Namespace", s),
                    ("DstK8S_Namespace", s),
                    ("DnsName", "Nullable(String)"),
                    ("Proto", "UInt8"),
                    ("Bytes", "UInt64"),
                    ("TimeFlowRttNs", "Int64"),
                    ("Interfaces", "Array(String)"),
                ],
            ),
            rollups: Rollup::ALL
                .iter()
                .map(|r| (*r, table(&r.table("flows"), &rollup_cols)))
                .collect(),
        }
    }

    const HOUR: i64 = 3_600_000;

    fn records(filter: &str, flavor: Flavor) -> Sql {
        let q = RecordsQuery::new(TimeRange::new(HOUR, 2 * HOUR))
            .with_filter(filter)
            .unwrap()
            .with_sort("Bytes", Order::Desc)
            .with_limit(10);
        records_sql(&layout(flavor == Flavor::Modern), flavor, &q).unwrap()
    }

    #[test]
    fn legacy_records_escape_values_in_the_text() {
        let s = records(
            r#"SrcK8S_Namespace="a'b\\c; --" and (Proto=6 or Bytes>=1000.5) and with(DnsName)"#,
            Flavor::Legacy,
        );
        assert!(s.params.is_empty());
        assert_eq!(
            s.text,
            "SELECT `TimeFlowEndMs`, `SrcAddr`, `SrcK8S_Namespace`, `DstK8S_Namespace`, `DnsName`, \
             `Proto`, `Bytes`, `TimeFlowRttNs`, `Interfaces` FROM `db`.`flows` \
             WHERE `TimeFlowEndMs` >= toInt64(3600000) AND `TimeFlowEndMs` < toInt64(7200000) \
             AND (((`SrcK8S_Namespace` = 'a\\'b\\\\c; --') AND ((`Proto` = toInt64(6)) OR \
             (`Bytes` >= toFloat64(1000.5)))) AND isNotNull(`DnsName`)) \
             ORDER BY `Bytes` DESC LIMIT 10"
        );
    }

    #[test]
    fn modern_records_bind_every_value() {
        let s = records(
            r#"SrcK8S_Namespace="x'); DROP TABLE flows; --" or SrcAddr=~"^10\." or DnsName!="a""#,
            Flavor::Modern,
        );
        assert!(!s.text.contains("DROP"), "{}", s.text);
        assert!(
            s.text.contains(
                "replaceRegexpOne(toString(`SrcAddr`), '^::ffff:', '') AS `__out_SrcAddr`"
            ),
            "{}",
            s.text
        );
        assert!(
            s.text.contains(
                "WHERE `TimeFlowEndMs` >= {p0:Int64} AND `TimeFlowEndMs` < {p1:Int64} AND \
             (((`SrcK8S_Namespace` = {p2:String}) OR match(replaceRegexpOne(toString(`SrcAddr`), \
             '^::ffff:', ''), {p3:String})) OR (`DnsName` IS NULL OR (`DnsName` != {p4:String})))"
            ),
            "{}",
            s.text
        );
        assert_eq!(
            s.params,
            vec![
                ("p0".into(), ParamValue::Int(HOUR)),
                ("p1".into(), ParamValue::Int(2 * HOUR)),
                (
                    "p2".into(),
                    ParamValue::Str("x'); DROP TABLE flows; --".into())
                ),
                ("p3".into(), ParamValue::Str(r"^10\.".into())),
                ("p4".into(), ParamValue::Str("a".into())),
            ]
        );
    }

    #[test]
    fn newest_records_find_their_time_cutoff_first() {
        let l = layout(false);
        let q = RecordsQuery::new(TimeRange::new(0, HOUR))
            .with_filter("Proto=6")
            .unwrap()
            .with_limit(7);
        let s = records_sql(&l, Flavor::Legacy, &q).unwrap();
        assert!(
            s.text.ends_with(
                "WHERE `TimeFlowEndMs` >= toInt64(0) AND `TimeFlowEndMs` < toInt64(3600000) AND \
             (`Proto` = toInt64(6)) AND `TimeFlowEndMs` >= (SELECT min(t) FROM (SELECT \
             `TimeFlowEndMs` AS t FROM `db`.`flows` WHERE `TimeFlowEndMs` >= toInt64(0) AND \
             `TimeFlowEndMs` < toInt64(3600000) AND (`Proto` = toInt64(6)) ORDER BY t DESC \
             LIMIT 7)) ORDER BY `TimeFlowEndMs` DESC LIMIT 7"
            ),
            "{}",
            s.text
        );
        let q = q.with_sort("TimeFlowEndMs", Order::Asc);
        let s = records_sql(&l, Flavor::Modern, &q).unwrap();
        assert!(
            s.text
                .contains("AND `TimeFlowEndMs` <= (SELECT max(t) FROM"),
            "{}",
            s.text
        );
        assert_eq!(s.params.len(), 6);
    }

    #[test]
    fn comparisons_follow_the_query_language() {
        let cases = [
            // A quoted number compares as text; a bare one as a number, text columns included.
            (r#"Proto="6""#, "(toString(`Proto`) = '6')"),
            (
                "SrcK8S_Namespace=6",
                "(trunc(toFloat64OrNull(`SrcK8S_Namespace`)) = toInt64(6))",
            ),
            ("Bytes<10", "(`Bytes` < toInt64(10))"),
            (r#"Bytes!~"^1""#, "NOT match(toString(`Bytes`), '^1')"),
            ("without(Interfaces)", "NOT notEmpty(`Interfaces`)"),
            ("with(SrcK8S_Namespace)", "(`SrcK8S_Namespace` != '')"),
            ("with(Bytes)", "1"),
        ];
        for (filter, want) in cases {
            let s = records(filter, Flavor::Legacy);
            assert!(
                s.text
                    .contains(&format!("< toInt64(7200000) AND {want} ORDER")),
                "{filter}: {}",
                s.text
            );
        }
    }

    #[test]
    fn unknown_fields_and_bad_sorts_are_invalid_queries() {
        let l = layout(false);
        let q = RecordsQuery::new(TimeRange::new(0, 1))
            .with_filter("Nope=1")
            .unwrap();
        let e = records_sql(&l, Flavor::Legacy, &q).unwrap_err().to_string();
        assert_eq!(
            e,
            r#"invalid query: unknown field "Nope": table flows has no such column"#
        );
        let q = RecordsQuery::new(TimeRange::new(0, 1)).with_sort("a`b", Order::Asc);
        assert!(
            records_sql(&l, Flavor::Legacy, &q)
                .unwrap_err()
                .to_string()
                .contains("a`b")
        );
        let q = MetricsQuery::new(
            TimeRange::new(0, 1),
            Function::Avg,
            Measure::field("SrcK8S_Namespace"),
        );
        let e = metrics_sql(&l, Flavor::Legacy, &q, Source::Raw, Shape::Buckets, None).unwrap_err();
        assert!(e.to_string().contains("not a number"), "{e}");
        let q = MetricsQuery::new(TimeRange::new(0, 1), Function::P90, Measure::Flows);
        assert!(metrics_sql(&l, Flavor::Legacy, &q, Source::Raw, Shape::Buckets, None).is_err());
    }

    fn ns_query() -> MetricsQuery {
        MetricsQuery::new(
            TimeRange::new(HOUR, 3 * HOUR),
            Function::Rate,
            Measure::field("Bytes"),
        )
        .with_group_by(["SrcK8S_Namespace", "DstK8S_Namespace"])
        .with_step_seconds(3600)
    }

    #[test]
    fn rollups_answer_only_what_they_can() {
        let l = layout(true);
        assert_eq!(choose_source(&l, &ns_query()), Source::Rollup(Rollup::Hour));
        let minute = ns_query().with_step_seconds(120);
        assert_eq!(choose_source(&l, &minute), Source::Rollup(Rollup::Minute));
        let cases = [
            ns_query().with_allow_rollup(false),
            ns_query().with_step_seconds(90),
            ns_query().with_group_by(["SrcAddr"]),
            ns_query().with_filter("Proto=6").unwrap(),
            MetricsQuery {
                function: Function::Avg,
                ..ns_query()
            },
            MetricsQuery {
                measure: Measure::field("TimeFlowRttNs"),
                ..ns_query()
            },
            MetricsQuery {
                range: TimeRange::new(HOUR + 1000, 2 * HOUR),
                ..ns_query()
            },
        ];
        for q in cases {
            assert_eq!(choose_source(&l, &q), Source::Raw, "{q:?}");
        }
        // Not aligned to the hour, aligned to the minute.
        let q = MetricsQuery {
            range: TimeRange::new(HOUR + 60_000, 2 * HOUR),
            step_seconds: None,
            ..ns_query()
        };
        assert_eq!(choose_source(&l, &q), Source::Rollup(Rollup::Minute));
        let no_rollups = Layout {
            rollups: vec![],
            ..l
        };
        assert_eq!(choose_source(&no_rollups, &ns_query()), Source::Raw);
    }

    #[test]
    fn metrics_sql_buckets_and_top_k() {
        let l = layout(false);
        let q = ns_query()
            .with_filter(r#"SrcK8S_Namespace!="kube-system""#)
            .unwrap();
        let s = metrics_sql(
            &l,
            Flavor::Legacy,
            &q,
            Source::Rollup(Rollup::Hour),
            Shape::Buckets,
            None,
        )
        .unwrap();
        assert_eq!(
            s.text,
            "SELECT `SrcK8S_Namespace` AS g0, `DstK8S_Namespace` AS g1, \
             (intDiv((toInt64(toUInt32(`TimeBucket`)) * 1000), 3600000) * 3600000) AS t, \
             (sum(`Bytes`) / 3600.0) AS v FROM `db`.`flows_1h` \
             WHERE (toInt64(toUInt32(`TimeBucket`)) * 1000) >= toInt64(3600000) AND \
             (toInt64(toUInt32(`TimeBucket`)) * 1000) < toInt64(10800000) AND \
             (`SrcK8S_Namespace` != 'kube-system') GROUP BY g0, g1, t ORDER BY g0, g1, t"
        );
        let top = ns_query().with_top_k(50);
        let s = metrics_sql(&l, Flavor::Legacy, &top, Source::Raw, Shape::Totals, None).unwrap();
        assert_eq!(
            s.text,
            "SELECT `SrcK8S_Namespace` AS g0, `DstK8S_Namespace` AS g1, (sum(`Bytes`) / 3600.0) AS v \
             FROM `db`.`flows` WHERE `TimeFlowEndMs` >= toInt64(3600000) AND \
             `TimeFlowEndMs` < toInt64(10800000) GROUP BY g0, g1 ORDER BY v DESC, g0, g1 LIMIT 50"
        );
        let groups = vec![vec!["a'".to_string(), "b".to_string()]];
        let s = metrics_sql(
            &l,
            Flavor::Modern,
            &top,
            Source::Raw,
            Shape::Buckets,
            Some(&groups),
        )
        .unwrap();
        assert!(
            s.text.ends_with(
                "AND (`SrcK8S_Namespace`, `DstK8S_Namespace`) IN (({p2:String}, {p3:String})) \
                 GROUP BY g0, g1, t ORDER BY g0, g1, t"
            ),
            "{}",
            s.text
        );
        assert_eq!(s.params[2], ("p2".into(), ParamValue::Str("a'".into())));

        // A Nullable group key groups absent values as '', in the series and the IN list alike.
        let dns = MetricsQuery {
            group_by: vec!["DnsName".into()],
            ..top
        };
        let groups = vec![vec![String::new()]];
        let s = metrics_sql(
            &l,
            Flavor::Legacy,
            &dns,
            Source::Raw,
            Shape::Buckets,
            Some(&groups),
        )
        .unwrap();
        assert!(
            s.text.starts_with("SELECT ifNull(`DnsName`, '') AS g0,"),
            "{}",
            s.text
        );
        assert!(
            s.text.contains("AND (ifNull(`DnsName`, '')) IN ((''))"),
            "{}",
            s.text
        );
    }

    #[test]
    fn latency_functions_skip_unmeasured_flows() {
        let l = layout(false);
        let want = [
            (Function::Avg, "avgIf(`TimeFlowRttNs`, `TimeFlowRttNs` > 0)"),
            (
                Function::Max,
                "nullIf(maxIf(`TimeFlowRttNs`, `TimeFlowRttNs` > 0), 0)",
            ),
            (
                Function::P90,
                "quantileIf(0.9)(`TimeFlowRttNs`, `TimeFlowRttNs` > 0)",
            ),
            (
                Function::P99,
                "quantileIf(0.99)(`TimeFlowRttNs`, `TimeFlowRttNs` > 0)",
            ),
            (Function::Sum, "sum(`TimeFlowRttNs`)"),
        ];
        for (f, agg) in want {
            let q = MetricsQuery::new(
                TimeRange::new(0, 60_000),
                f,
                Measure::field("TimeFlowRttNs"),
            );
            let s = metrics_sql(&l, Flavor::Legacy, &q, Source::Raw, Shape::Totals, None).unwrap();
            assert_eq!(
                s.text,
                format!(
                    "SELECT {agg} AS v FROM `db`.`flows` WHERE `TimeFlowEndMs` >= toInt64(0) AND `TimeFlowEndMs` < toInt64(60000) ORDER BY v DESC"
                )
            );
        }
        let q = MetricsQuery::new(
            TimeRange::new(0, 60_000),
            Function::P90,
            Measure::field("Bytes"),
        );
        let s = metrics_sql(&l, Flavor::Legacy, &q, Source::Raw, Shape::Totals, None).unwrap();
        assert!(
            s.text.starts_with("SELECT quantile(0.9)(`Bytes`) AS v"),
            "{}",
            s.text
        );
    }
}
