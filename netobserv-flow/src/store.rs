//! The [`FlowStore`] trait: what the console, the CLI and SQL users ask of any store of flows
//! (ClickHouse, the embedded store, Loki), and the query model they ask it in.
//!
//! - [`FlowStore::records`]: flows in a time range that match a filter, sorted, at most `limit`.
//! - [`FlowStore::metrics`]: time series of one [`Function`] of one [`Measure`], grouped by any set
//!   of fields, over buckets of `step` (or the whole range), optionally only the `top_k` groups.
//!
//! Filters are the query language of `keep_entry_query` and the console ([`crate::query`]), so a
//! filter means the same thing in the pipeline and in every store. Export (`export(query, format)`
//! in DESIGN.md) is not part of the trait yet: [`FlowStore::records`] returns flows that any codec of
//! this crate writes.
//!
//! ```
//! use netobserv_flow::store::{Function, Measure, MetricsQuery, TimeRange};
//! // Bytes per second between namespaces, the 50 busiest pairs, per minute over an hour.
//! let q = MetricsQuery::new(TimeRange::new(1_700_000_000_000, 1_700_003_600_000), Function::Rate, Measure::field("Bytes"))
//!     .with_group_by(["SrcK8S_Namespace", "DstK8S_Namespace"])
//!     .with_filter(r#"SrcK8S_Namespace!="" and Proto=6"#).unwrap()
//!     .with_step_seconds(60)
//!     .with_top_k(50);
//! assert_eq!(q.group_by.len(), 2);
//! ```

use std::collections::BTreeMap;
use std::fmt;

use crate::error::BoxError;
use crate::flow::Flow;
use crate::query::{ParseError, Query};

/// A time range of flow end times (`TimeFlowEndMs`), in Unix milliseconds: `start` included,
/// `end` excluded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TimeRange {
    /// First millisecond in the range.
    pub start_ms: i64,
    /// First millisecond after the range.
    pub end_ms: i64,
}

/// The longest step a metrics query takes: 100 years (its milliseconds fit any store's integers).
pub const MAX_STEP_SECONDS: u64 = 100 * 366 * 86_400;

impl TimeRange {
    /// `[start_ms, end_ms)`.
    pub fn new(start_ms: i64, end_ms: i64) -> TimeRange {
        TimeRange { start_ms, end_ms }
    }

    /// The range's length in milliseconds (0 when empty or reversed).
    pub fn duration_ms(&self) -> i64 {
        self.end_ms.saturating_sub(self.start_ms).max(0)
    }

    /// Whether both ends fall on a multiple of `seconds`.
    pub fn aligned_to(&self, seconds: u64) -> bool {
        let w = (seconds as i64).saturating_mul(1000);
        w > 0 && self.start_ms.rem_euclid(w) == 0 && self.end_ms.rem_euclid(w) == 0
    }
}

/// A sort direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Order {
    /// Smallest first.
    Asc,
    /// Largest first.
    #[default]
    Desc,
}

/// One sort key of [`RecordsQuery::sort`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Sort {
    /// A flow field name (`TimeFlowEndMs`, `Bytes`, ...).
    pub field: String,
    /// The direction.
    pub order: Order,
}

impl Sort {
    /// Sort by `field` in `order`.
    pub fn new(field: impl Into<String>, order: Order) -> Sort {
        Sort {
            field: field.into(),
            order,
        }
    }
}

/// The default number of records returned (the console's default page).
pub const DEFAULT_LIMIT: usize = 100;

/// Which flows [`FlowStore::records`] returns.
#[derive(Debug, Clone)]
pub struct RecordsQuery {
    /// Flows whose `TimeFlowEndMs` is in this range.
    pub range: TimeRange,
    /// Only flows that match (the `keep_entry_query` language); `None` keeps all.
    pub filter: Option<Query>,
    /// Sort keys, first the most significant; empty means `TimeFlowEndMs` newest first.
    pub sort: Vec<Sort>,
    /// At most this many flows.
    pub limit: usize,
}

impl RecordsQuery {
    /// All flows in `range`, newest first, at most [`DEFAULT_LIMIT`].
    pub fn new(range: TimeRange) -> RecordsQuery {
        RecordsQuery {
            range,
            filter: None,
            sort: Vec::new(),
            limit: DEFAULT_LIMIT,
        }
    }

    /// Keeps only flows matching `filter` (parsed with [`Query::parse`]).
    pub fn with_filter(mut self, filter: &str) -> Result<RecordsQuery, ParseError> {
        self.filter = Some(Query::parse(filter)?);
        Ok(self)
    }

    /// Adds a sort key after the existing ones.
    pub fn with_sort(mut self, field: impl Into<String>, order: Order) -> RecordsQuery {
        self.sort.push(Sort::new(field, order));
        self
    }

    /// Returns at most `limit` flows.
    pub fn with_limit(mut self, limit: usize) -> RecordsQuery {
        self.limit = limit;
        self
    }
}

/// What a metric is computed over.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Measure {
    /// A numeric flow field: `Bytes`, `Packets`, `PktDropBytes`, `TimeFlowRttNs`, `DnsLatencyMs`...
    Field(String),
    /// The number of flow records.
    Flows,
}

impl Measure {
    /// A numeric flow field.
    pub fn field(name: impl Into<String>) -> Measure {
        Measure::Field(name.into())
    }

    /// Whether a value of 0 means "not measured" for this field, as for NetObserv's latency
    /// fields (`TimeFlowRttNs`, `MaxTimeFlowRttNs`, `DnsLatencyMs`): [`Function::Avg`],
    /// [`Function::Max`] and the percentiles skip those flows.
    pub fn zero_is_absent(&self) -> bool {
        matches!(self, Measure::Field(f) if LATENCY_FIELDS.contains(&f.as_str()))
    }
}

impl fmt::Display for Measure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Measure::Field(name) => f.write_str(name),
            Measure::Flows => f.write_str("flows"),
        }
    }
}

/// The latency fields, where 0 means the flow carries no measurement.
pub const LATENCY_FIELDS: &[&str] = &["TimeFlowRttNs", "MaxTimeFlowRttNs", "DnsLatencyMs"];

/// How a bucket's flows become one value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Function {
    /// The sum divided by the bucket's length in seconds (bytes/s, flows/s).
    Rate,
    /// The sum.
    Sum,
    /// The mean over flows.
    Avg,
    /// The largest value.
    Max,
    /// The 90th percentile over flows (stores may estimate it).
    P90,
    /// The 99th percentile over flows (stores may estimate it).
    P99,
}

impl Function {
    /// Every function.
    pub const ALL: [Function; 6] = [
        Function::Rate,
        Function::Sum,
        Function::Avg,
        Function::Max,
        Function::P90,
        Function::P99,
    ];

    /// Whether the value of a bucket follows from per-group sums alone (so a store may answer
    /// from pre-summed rollups).
    pub fn from_sums(self) -> bool {
        matches!(self, Function::Rate | Function::Sum)
    }

    /// The percentile's level (0.9, 0.99), for the percentile functions.
    pub fn quantile(self) -> Option<f64> {
        match self {
            Function::P90 => Some(0.9),
            Function::P99 => Some(0.99),
            _ => None,
        }
    }
}

impl fmt::Display for Function {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Function::Rate => "rate",
            Function::Sum => "sum",
            Function::Avg => "avg",
            Function::Max => "max",
            Function::P90 => "p90",
            Function::P99 => "p99",
        })
    }
}

/// Which series [`FlowStore::metrics`] returns.
#[derive(Debug, Clone)]
pub struct MetricsQuery {
    /// Flows whose `TimeFlowEndMs` is in this range.
    pub range: TimeRange,
    /// Only flows that match; `None` keeps all.
    pub filter: Option<Query>,
    /// One series per distinct value of these fields (none: one series).
    pub group_by: Vec<String>,
    /// The function.
    pub function: Function,
    /// What it is computed over.
    pub measure: Measure,
    /// Bucket width in seconds; buckets start at multiples of it since the Unix epoch. `None`:
    /// one bucket, the whole range (a table rather than a time series; a rate is then per second
    /// of the range).
    pub step_seconds: Option<u64>,
    /// Only the `k` groups whose value over the whole range is the largest, largest first.
    pub top_k: Option<usize>,
    /// Whether the store may answer from pre-aggregated data when it gives the same answer
    /// (true by default; false forces the raw flows, e.g. to compare).
    pub allow_rollup: bool,
}

impl MetricsQuery {
    /// `function(measure)` over `range`, one series, one bucket.
    pub fn new(range: TimeRange, function: Function, measure: Measure) -> MetricsQuery {
        MetricsQuery {
            range,
            filter: None,
            group_by: Vec::new(),
            function,
            measure,
            step_seconds: None,
            top_k: None,
            allow_rollup: true,
        }
    }

    /// Keeps only flows matching `filter`.
    pub fn with_filter(mut self, filter: &str) -> Result<MetricsQuery, ParseError> {
        self.filter = Some(Query::parse(filter)?);
        Ok(self)
    }

    /// Groups by these fields.
    pub fn with_group_by<I, S>(mut self, fields: I) -> MetricsQuery
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.group_by = fields.into_iter().map(Into::into).collect();
        self
    }

    /// Buckets of `seconds`.
    pub fn with_step_seconds(mut self, seconds: u64) -> MetricsQuery {
        self.step_seconds = Some(seconds);
        self
    }

    /// Only the `k` largest groups.
    pub fn with_top_k(mut self, k: usize) -> MetricsQuery {
        self.top_k = Some(k);
        self
    }

    /// Whether pre-aggregated data may answer.
    pub fn with_allow_rollup(mut self, allow: bool) -> MetricsQuery {
        self.allow_rollup = allow;
        self
    }

    /// Checks what every store needs: a non-empty range, a step > 0, `k` > 0, no field grouped
    /// twice.
    pub fn validate(&self) -> Result<(), StoreError> {
        if self.range.duration_ms() == 0 {
            return Err(StoreError::invalid(format!(
                "empty time range [{}, {})",
                self.range.start_ms, self.range.end_ms
            )));
        }
        match self.step_seconds {
            Some(0) => return Err(StoreError::invalid("step must be at least 1 second")),
            Some(s) if s > MAX_STEP_SECONDS => {
                return Err(StoreError::invalid(format!(
                    "step of {s} seconds is longer than 100 years"
                )));
            }
            _ => {}
        }
        if self.top_k == Some(0) {
            return Err(StoreError::invalid("top_k must be at least 1"));
        }
        for (i, f) in self.group_by.iter().enumerate() {
            if self.group_by[..i].contains(f) {
                return Err(StoreError::invalid(format!("field {f:?} grouped twice")));
            }
        }
        Ok(())
    }
}

/// One point of a series.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    /// Start of the bucket, Unix milliseconds (the range's start when there is one bucket).
    pub time_ms: i64,
    /// The value.
    pub value: f64,
}

/// One group's series.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// The group's values of [`MetricsQuery::group_by`], as text (empty for an absent field).
    pub labels: BTreeMap<String, String>,
    /// The buckets that hold flows of the group, oldest first.
    pub points: Vec<Point>,
    /// The function over the whole range (the top-k order), when the store computed it.
    pub total: Option<f64>,
}

/// What [`FlowStore::metrics`] returns.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MetricsResult {
    /// The series; with `top_k`, largest total first.
    pub series: Vec<Series>,
    /// What answered, for operators and tests: a table name, `"raw"`, a rollup.
    pub source: String,
}

/// A store's error.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The query cannot be answered as asked (unknown field, empty range, a function the field
    /// does not support): fix the query.
    #[error("invalid query: {message}")]
    InvalidQuery {
        /// What is wrong.
        message: String,
    },
    /// The store failed (unreachable, refused the query, an answer it cannot read): retry may help.
    #[error("{store}: {context}")]
    Backend {
        /// Which store (`clickhouse`, `loki`, ...).
        store: &'static str,
        /// What was being done.
        context: String,
        /// The cause.
        #[source]
        source: BoxError,
    },
}

impl StoreError {
    /// An [`StoreError::InvalidQuery`].
    pub fn invalid(message: impl Into<String>) -> StoreError {
        StoreError::InvalidQuery {
            message: message.into(),
        }
    }
}

/// A store of flows that can be queried.
#[async_trait::async_trait]
pub trait FlowStore: Send + Sync {
    /// The flows of `query.range` matching `query.filter`, sorted, at most `query.limit`.
    async fn records(&self, query: &RecordsQuery) -> Result<Vec<Flow>, StoreError>;

    /// The series `query` describes.
    async fn metrics(&self, query: &MetricsQuery) -> Result<MetricsResult, StoreError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_align() {
        let r = TimeRange::new(120_000, 3_600_000);
        assert!(r.aligned_to(60));
        assert!(!r.aligned_to(3600));
        assert_eq!(r.duration_ms(), 3_480_000);
        assert_eq!(TimeRange::new(5, 1).duration_ms(), 0);
        assert_eq!(TimeRange::new(i64::MIN, i64::MAX).duration_ms(), i64::MAX);
        assert_eq!(TimeRange::new(i64::MAX, i64::MIN).duration_ms(), 0);
        assert!(TimeRange::new(-60_000, 0).aligned_to(60));
    }

    #[test]
    fn metrics_queries_are_validated() {
        let r = TimeRange::new(0, 60_000);
        let ok = MetricsQuery::new(r, Function::Sum, Measure::Flows);
        assert!(ok.validate().is_ok());
        let cases = [
            (
                MetricsQuery::new(TimeRange::new(5, 5), Function::Sum, Measure::Flows),
                "empty time range",
            ),
            (ok.clone().with_step_seconds(0), "step"),
            (ok.clone().with_step_seconds(u64::MAX), "100 years"),
            (ok.clone().with_top_k(0), "top_k"),
            (ok.clone().with_group_by(["A", "B", "A"]), "grouped twice"),
        ];
        for (q, msg) in cases {
            let e = q.validate().unwrap_err().to_string();
            assert!(e.contains(msg), "{e}");
        }
    }

    #[test]
    fn builders_parse_filters() {
        let q = RecordsQuery::new(TimeRange::new(0, 1))
            .with_filter("Proto=6")
            .unwrap()
            .with_sort("Bytes", Order::Desc)
            .with_limit(5);
        assert_eq!(q.filter.unwrap().text(), "Proto=6");
        assert_eq!(q.sort, vec![Sort::new("Bytes", Order::Desc)]);
        assert_eq!(q.limit, 5);
        let e = MetricsQuery::new(TimeRange::new(0, 1), Function::Max, Measure::Flows)
            .with_filter("Proto=")
            .unwrap_err();
        assert_eq!(e.column, 7);
    }

    #[test]
    fn latency_fields_skip_zero_and_sums_are_rollup_friendly() {
        assert!(Measure::field("TimeFlowRttNs").zero_is_absent());
        assert!(!Measure::field("Bytes").zero_is_absent());
        assert!(!Measure::Flows.zero_is_absent());
        let from_sums: Vec<_> = Function::ALL.iter().filter(|f| f.from_sums()).collect();
        assert_eq!(from_sums, [&Function::Rate, &Function::Sum]);
        assert_eq!(Function::P99.quantile(), Some(0.99));
        assert_eq!(Function::Avg.quantile(), None);
    }
}
