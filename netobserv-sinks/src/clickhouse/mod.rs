//! ClickHouse (feature `clickhouse`, the `clickhouse` crate over HTTP).
//!
//! The layout every part of this module shares (the sink writes it, the schema manager creates and
//! migrates it, the `FlowStore` queries it):
//!
//! - `{table}`: the raw flows, one column per field of the flow catalogue, **named as the
//!   NetObserv JSON field** (`SrcAddr`, `TimeFlowEndMs`, `Bytes`, `SrcK8S_Namespace`, ...), plus
//!   the columns of NetObserv's "Deploying without Loki" blog table as `ALIAS` columns ([`BLOG_ALIASES`]).
//!   Partitioned by day of `TimeFlowEndMs`.
//! - `{table}_1m` and `{table}_1h` ([`Rollup`]): `SummingMergeTree` tables fed by the
//!   materialized views `{table}_1m_mv` and `{table}_1h_mv`, keyed by [`TIME_BUCKET`] (start of the
//!   bucket of `TimeFlowEndMs`, a `DateTime` in UTC) and [`ROLLUP_KEYS`], summing [`ROLLUP_SUMS`].
//! - `{table}_schema`: the schema versions applied (migrations are idempotent and versioned).
//!
//! [`Flavor`] says which types a server gets: modern servers get `LowCardinality`, `DateTime64`,
//! `IPv6`, codecs and `TTL`; old ones (Debian's 18.16) plain types, and retention by dropping
//! partitions.
//!
//! Parts: [`schema`] (DDL from the flow catalogue, column types per flavor, migrations,
//! retention, [`schema::time_ms_expr`] / [`schema::bucket_expr`] to read time the same way on both
//! flavors), [`row`] (the RowBinary encoding of a flow, and its decoding for reads), [`sink`]
//! (`write: clickhouse`), [`config`] (its settings), [`mod@tls`] (the HTTPS client of its `tls` section), [`sql`] (the escaper).

pub mod config;
pub mod query;
pub mod row;
pub mod schema;
pub mod sink;
pub mod sql;
pub mod store;
pub mod tls;

pub use config::ClickHouseConfig;
pub use sink::{ClickHouseSink, ClickHouseWriter, WriteOutcome};

/// `e` and its causes, each once (a network error's TLS cause is two sources down, under hyper's
/// "client error (Connect)").
pub(crate) fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let t = c.to_string();
        if !text.contains(&t) {
            text.push_str(": ");
            text.push_str(&t);
        }
        cause = c.source();
    }
    text
}

/// The time bucket column of the rollup tables: the start of the bucket of `TimeFlowEndMs`.
pub const TIME_BUCKET: &str = "TimeBucket";

/// The key columns of the rollup tables besides [`TIME_BUCKET`]: namespace, owner, node and zone
/// pairs. Named as the raw table's columns.
pub const ROLLUP_KEYS: &[&str] = &[
    "SrcK8S_Namespace",
    "DstK8S_Namespace",
    "SrcK8S_OwnerName",
    "DstK8S_OwnerName",
    "SrcK8S_OwnerType",
    "DstK8S_OwnerType",
    "SrcK8S_HostName",
    "DstK8S_HostName",
    "SrcK8S_Zone",
    "DstK8S_Zone",
];

/// The summed columns of the rollup tables: (rollup column, what it sums in the raw table; `None`
/// counts the flows).
pub const ROLLUP_SUMS: &[(&str, Option<&str>)] = &[
    ("Bytes", Some("Bytes")),
    ("Packets", Some("Packets")),
    ("Flows", None),
    ("PktDropBytes", Some("PktDropBytes")),
    ("PktDropPackets", Some("PktDropPackets")),
];

/// The blog table's columns, as `ALIAS` columns of the raw table: (alias, raw column).
/// `start`/`end` are UInt64 milliseconds, so the blog's `intDiv(start,1000)` works.
pub const BLOG_ALIASES: &[(&str, &str)] = &[
    ("start", "TimeFlowStartMs"),
    ("end", "TimeFlowEndMs"),
    ("src_ip", "SrcAddr"),
    ("dst_ip", "DstAddr"),
    ("src_name", "SrcK8S_Name"),
    ("dst_name", "DstK8S_Name"),
    ("src_kind", "SrcK8S_Type"),
    ("dst_kind", "DstK8S_Type"),
    ("src_namespace", "SrcK8S_Namespace"),
    ("dst_namespace", "DstK8S_Namespace"),
    ("bytes", "Bytes"),
    ("packets", "Packets"),
];

/// A rollup table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Rollup {
    /// Per minute: `{table}_1m`.
    Minute,
    /// Per hour: `{table}_1h`.
    Hour,
}

impl Rollup {
    /// Both, finest first.
    pub const ALL: [Rollup; 2] = [Rollup::Minute, Rollup::Hour];

    /// The bucket width in seconds.
    pub fn seconds(self) -> u64 {
        match self {
            Rollup::Minute => 60,
            Rollup::Hour => 3600,
        }
    }

    /// The table's name for raw table `table`.
    pub fn table(self, table: &str) -> String {
        match self {
            Rollup::Minute => format!("{table}_1m"),
            Rollup::Hour => format!("{table}_1h"),
        }
    }

    /// The materialized view feeding it.
    pub fn view(self, table: &str) -> String {
        format!("{}_mv", self.table(table))
    }
}

/// Which schema and SQL dialect a server gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Flavor {
    /// Old servers (before 22.0, e.g. Debian's 18.16): no `DateTime64`, `IPv6`, `CODEC`, `TTL`,
    /// query parameters, `toStartOfInterval`, `fromUnixTimestamp`; IPs stored as text, literals
    /// escaped client-side.
    Legacy,
    /// 22.0 and later.
    Modern,
}

impl Flavor {
    /// The flavor of a server from its `version()` text (`18.16.1`, `26.9.2.1`); unreadable
    /// versions are treated as [`Flavor::Legacy`], the safe side.
    pub fn from_version(version: &str) -> Flavor {
        let major = version
            .trim()
            .split('.')
            .next()
            .and_then(|m| m.parse::<u32>().ok());
        match major {
            Some(m) if m >= 22 => Flavor::Modern,
            _ => Flavor::Legacy,
        }
    }
}

/// Registers `write: clickhouse`.
pub fn register(registry: &mut netobserv_flow::pipeline::StageRegistry) {
    registry.register(
        netobserv_flow::config::StageKind::Write,
        sink::TYPE,
        sink::Factory,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flavor_follows_the_major_version() {
        assert_eq!(Flavor::from_version("18.16.1"), Flavor::Legacy);
        assert_eq!(Flavor::from_version("21.8.15.7"), Flavor::Legacy);
        assert_eq!(Flavor::from_version("22.3.1"), Flavor::Modern);
        assert_eq!(Flavor::from_version("26.9.2.1\n"), Flavor::Modern);
        assert_eq!(Flavor::from_version("garbage"), Flavor::Legacy);
    }

    #[test]
    fn rollup_names() {
        assert_eq!(Rollup::Minute.table("flows"), "flows_1m");
        assert_eq!(Rollup::Hour.view("f"), "f_1h_mv");
        assert_eq!(Rollup::Hour.seconds(), 3600);
    }
}
