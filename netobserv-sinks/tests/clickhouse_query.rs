//! The ClickHouse `FlowStore` against real engines: Debian's ClickHouse 18.16 (`CLICKHOUSE_URL`,
//! started by `.ci/services.d/clickhouse.sh`), which gets the legacy SQL (escaped literals, no
//! query parameters, `intDiv` buckets), and chDB behind `tests/support/chdb_http.py`, which stands
//! in for a modern ClickHouse server (26.x engine; query parameters sent as the crate sends them).
//!
//! Each test creates the managed schema (`schema::migrate`: raw table, `_1m` / `_1h` rollups and
//! their views) in a database of its own, writes synthetic flows with the sink's RowBinary
//! encoder, and compares what the store answers with a reference evaluation of the same query
//! over the same flows in Rust (the filter evaluated by `netobserv_flow::query`, the pipeline's
//! own engine). Values with quotes, backslashes, `--` and `;` are matched literally and the table
//! survives them.
#![cfg(feature = "clickhouse")]
#![allow(clippy::unwrap_used)]

mod support;

use std::collections::BTreeMap;

use netobserv_flow::codec::json;
use netobserv_flow::field::FieldPath;
use netobserv_flow::flow::Flow;
use netobserv_flow::query::Query;
use netobserv_flow::store::{
    FlowStore, Function, Measure, MetricsQuery, Order, RecordsQuery, Series, TimeRange,
};
use netobserv_sinks::clickhouse::row::RowEncoder;
use netobserv_sinks::clickhouse::schema::{self, Schema};
use netobserv_sinks::clickhouse::store::ClickHouseStore;
use netobserv_sinks::clickhouse::{Flavor, Rollup};
use support::clickhouse::{ChdbServer, client, shared_url, unique};

/// An hour boundary: rollup-aligned ranges start here.
const T0: i64 = 1_699_999_200_000;
const MINUTE: i64 = 60_000;
const HOUR: i64 = 3_600_000;

/// Namespaces, the hostile ones included: every test runs over them.
const NAMESPACES: &[&str] = &[
    "prod",
    "dev",
    "kube-system",
    "o'brien",
    r"back\slash",
    "x'; DROP TABLE flows; --",
    r"\'); SELECT 1; --",
    "",
];

/// A server of either flavor: the shared 18.16 (`CLICKHOUSE_URL`) or a chDB shim of its own.
enum Server {
    Legacy,
    Modern(ChdbServer),
}

impl Server {
    fn url(&self) -> String {
        match self {
            Server::Legacy => shared_url(),
            Server::Modern(s) => s.url(),
        }
    }
}

async fn count(c: &clickhouse::Client, table: &str) -> u64 {
    let body = c
        .query_raw(&format!("SELECT count() AS n FROM {table}"))
        .fetch_bytes("TabSeparated")
        .unwrap()
        .collect()
        .await
        .unwrap();
    std::str::from_utf8(&body).unwrap().trim().parse().unwrap()
}

/// A deterministic generator (64-bit LCG), so failures reproduce.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % n
    }
}

/// `n` flows over [T0 - 10 min, T0 + 2 h + 10 min), as NetObserv JSON; unique `Bytes`.
fn synthetic(n: usize) -> Vec<String> {
    let mut r = Lcg(42);
    let pick = |r: &mut Lcg| NAMESPACES[r.next(NAMESPACES.len() as u64) as usize];
    (0..n)
        .map(|i| {
            let end = T0 - 10 * MINUTE + r.next((2 * HOUR + 20 * MINUTE) as u64) as i64;
            let (src, dst) = (pick(&mut r), pick(&mut r));
            let dst_port = [80, 443, 53, 5432][r.next(4) as usize];
            let proto = [6, 17][r.next(2) as usize];
            let rtt = if r.next(4) == 0 {
                0
            } else {
                1000 + r.next(90_000)
            };
            let mut obj = serde_json::json!({
                "TimeFlowStartMs": end - 500,
                "TimeFlowEndMs": end,
                "SrcAddr": format!("10.0.{}.{}", r.next(4), r.next(250)),
                "DstAddr": format!("10.1.0.{}", r.next(250)),
                "SrcPort": 1024 + r.next(60000),
                "DstPort": dst_port,
                "Proto": proto,
                "Bytes": i as u64 * 1000 + r.next(1000),
                "Packets": 1 + r.next(50),
                "SrcK8S_Namespace": src,
                "DstK8S_Namespace": dst,
                "SrcK8S_OwnerName": format!("{src}-owner{}", r.next(3)),
                "DstK8S_OwnerName": format!("{dst}-owner{}", r.next(3)),
                "SrcK8S_HostName": format!("node-{}", r.next(3)),
                "PktDropBytes": 0,
                "PktDropPackets": r.next(3),
                "TimeFlowRttNs": rtt,
                "DnsLatencyMs": 0,
            });
            if r.next(3) == 0 {
                obj["DnsName"] = serde_json::json!(format!("svc{}.{src}.cluster.local", r.next(5)));
            }
            obj.to_string()
        })
        .collect()
}

/// Writes `flows` with the sink's RowBinary encoder.
async fn insert(c: &clickhouse::Client, schema: &Schema, flows: &[Flow]) {
    let enc = RowEncoder::all(schema.flavor);
    let mut body = Vec::new();
    for f in flows {
        enc.encode(f, &mut body).unwrap();
    }
    let mut ins = c.insert_formatted_with(enc.insert_sql(schema)).buffered();
    ins.write_buffered(&body);
    ins.end().await.unwrap();
}

/// The flows as the reference sees them: empty strings are absent fields (as the store reads
/// them).
fn reference_flows(rows: &[String]) -> Vec<Flow> {
    rows.iter()
        .map(|r| {
            let mut m: serde_json::Map<String, serde_json::Value> =
                serde_json::from_str(r).unwrap();
            m.retain(|_, v| v.as_str() != Some(""));
            json::decode(serde_json::to_string(&m).unwrap().as_bytes()).unwrap()
        })
        .collect()
}

fn in_range(f: &Flow, r: TimeRange) -> bool {
    let t = f.time_flow_end_ms().unwrap();
    t >= r.start_ms && t < r.end_ms
}

fn text_of(f: &Flow, field: &str) -> String {
    FieldPath::resolve(field)
        .get(f)
        .map(|v| v.to_string())
        .unwrap_or_default()
}

fn value_of(f: &Flow, m: &Measure) -> f64 {
    match m {
        Measure::Flows => 1.0,
        Measure::Field(name) => FieldPath::resolve(name)
            .get(f)
            .and_then(|v| v.to_string().parse::<f64>().ok())
            .unwrap_or(0.0),
    }
}

/// ClickHouse's `quantile` on few values: linear interpolation between the closest ranks.
fn quantile(mut v: Vec<f64>, level: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    let pos = level * (v.len() - 1) as f64;
    let (lo, frac) = (pos.floor() as usize, pos - pos.floor());
    if lo + 1 < v.len() {
        v[lo] + frac * (v[lo + 1] - v[lo])
    } else {
        v[lo]
    }
}

fn aggregate(vals: Vec<f64>, q: &MetricsQuery, seconds: f64) -> Option<f64> {
    let vals: Vec<f64> = if q.measure.zero_is_absent() && !q.function.from_sums() {
        vals.into_iter().filter(|v| *v > 0.0).collect()
    } else {
        vals
    };
    if vals.is_empty() && !q.function.from_sums() {
        return None;
    }
    Some(match q.function {
        Function::Sum => vals.iter().sum(),
        Function::Rate => vals.iter().sum::<f64>() / seconds,
        Function::Avg => vals.iter().sum::<f64>() / vals.len() as f64,
        Function::Max => vals.iter().copied().fold(f64::MIN, f64::max),
        Function::P90 | Function::P99 => quantile(vals, q.function.quantile().unwrap()),
    })
}

/// The reference answer: (labels, total, [(bucket, value)]), in the store's order.
type Expected = Vec<(Vec<String>, Option<f64>, Vec<(i64, f64)>)>;

fn reference(flows: &[Flow], q: &MetricsQuery) -> Expected {
    let mut groups: BTreeMap<Vec<String>, Vec<&Flow>> = BTreeMap::new();
    for f in flows
        .iter()
        .filter(|f| in_range(f, q.range) && q.filter.as_ref().is_none_or(|x| x.matches(f)))
    {
        let key = q.group_by.iter().map(|g| text_of(f, g)).collect();
        groups.entry(key).or_default().push(f);
    }
    let range_s = q.range.duration_ms() as f64 / 1000.0;
    let mut out: Expected = groups
        .into_iter()
        .map(|(k, fs)| {
            let total = aggregate(
                fs.iter().map(|f| value_of(f, &q.measure)).collect(),
                q,
                range_s,
            );
            let points = match q.step_seconds {
                None => total
                    .map(|t| vec![(q.range.start_ms, t)])
                    .unwrap_or_default(),
                Some(s) => {
                    let step = s as i64 * 1000;
                    let mut b: BTreeMap<i64, Vec<f64>> = BTreeMap::new();
                    for f in &fs {
                        let t = f.time_flow_end_ms().unwrap();
                        b.entry(t.div_euclid(step) * step)
                            .or_default()
                            .push(value_of(f, &q.measure));
                    }
                    b.into_iter()
                        .filter_map(|(t, v)| aggregate(v, q, s as f64).map(|v| (t, v)))
                        .collect()
                }
            };
            (k, total, points)
        })
        .filter(|(_, total, points)| total.is_some() || !points.is_empty())
        .collect();
    // Top-k and whole-range tables: largest first (ties by group); series: by group.
    let top = q.top_k.filter(|_| !q.group_by.is_empty());
    if top.is_some() || q.step_seconds.is_none() {
        out.sort_by(|a, b| {
            b.1.unwrap_or(f64::MIN)
                .total_cmp(&a.1.unwrap_or(f64::MIN))
                .then_with(|| a.0.cmp(&b.0))
        });
    }
    if let Some(k) = top {
        out.truncate(k);
    }
    out
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
}

fn check(got: &[Series], want: &Expected, q: &MetricsQuery, what: &str) {
    let got_labels: Vec<Vec<String>> = got
        .iter()
        .map(|s| q.group_by.iter().map(|g| s.labels[g].clone()).collect())
        .collect();
    let want_labels: Vec<Vec<String>> = want.iter().map(|w| w.0.clone()).collect();
    assert_eq!(got_labels, want_labels, "{what}: groups");
    assert!(!want.is_empty(), "{what}: the reference has no series");
    for (s, (labels, total, points)) in got.iter().zip(want) {
        let got_points: Vec<(i64, f64)> = s.points.iter().map(|p| (p.time_ms, p.value)).collect();
        assert_eq!(
            got_points.len(),
            points.len(),
            "{what} {labels:?}: {got_points:?} vs {points:?}"
        );
        for (g, w) in got_points.iter().zip(points) {
            assert!(
                g.0 == w.0 && close(g.1, w.1),
                "{what} {labels:?}: {g:?} vs {w:?}"
            );
        }
        if q.top_k.is_some() || q.step_seconds.is_none() {
            let (g, w) = (s.total.unwrap(), total.unwrap());
            assert!(close(g, w), "{what} {labels:?}: total {g} vs {w}");
        }
    }
}

/// A filter text for `field="value"` in the query language (backslash and quote escaped).
fn eq_filter(field: &str, op: &str, value: &str) -> String {
    format!(
        "{field}{op}\"{}\"",
        value.replace('\\', r"\\").replace('"', "\\\"")
    )
}

/// `s` as a regular expression that matches it literally (RE2 and Rust's `regex` agree).
fn re_escape(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        if r"\.+*?()|[]{}^$-".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

struct Fixture {
    _server: Server,
    client: clickhouse::Client,
    schema: Schema,
    flows: Vec<Flow>,
    store: ClickHouseStore,
}

async fn fixture(flavor: Flavor, n: usize) -> Fixture {
    let server = match flavor {
        Flavor::Legacy => Server::Legacy,
        Flavor::Modern => Server::Modern(ChdbServer::start().unwrap()),
    };
    let client = client(&server.url());
    let (version, detected) = schema::detect(&client).await.unwrap();
    assert_eq!(detected, flavor, "server version {version}");
    let schema = Schema::new(flavor, unique("fq"), "flows");
    schema::migrate(&client, &schema).await.unwrap();
    let flows = reference_flows(&synthetic(n));
    insert(&client, &schema, &flows).await;
    let store = ClickHouseStore::connect(client.clone().with_database(&schema.database), "flows")
        .await
        .unwrap();
    assert_eq!(store.flavor(), flavor);
    Fixture {
        _server: server,
        client,
        schema,
        flows,
        store,
    }
}

#[tokio::test]
async fn records_follow_filters_range_sort_and_limit_on_18_16() {
    records_follow_filters_range_sort_and_limit(Flavor::Legacy).await;
}

#[tokio::test]
async fn records_follow_filters_range_sort_and_limit_on_modern_chdb() {
    records_follow_filters_range_sort_and_limit(Flavor::Modern).await;
}

async fn records_follow_filters_range_sort_and_limit(flavor: Flavor) {
    let fx = fixture(flavor, 3000).await;
    assert_eq!(fx.store.layout().rollups.len(), 2);
    // The ALIAS column is not a physical column: records do not carry it.
    assert!(fx.store.layout().raw.column_type("src_namespace").is_none());
    let range = TimeRange::new(T0 + 7 * MINUTE, T0 + 95 * MINUTE);
    let filters = [
        r#"SrcK8S_Namespace="prod""#,
        r#"SrcK8S_Namespace="prod" and (Proto=6 or DstPort>=5000)"#,
        r#"DstK8S_Namespace!="dev" and Bytes<900000"#,
        r#"SrcAddr=~"^10\.0\.[12]\." and DstPort=443"#,
        r#"DstK8S_Namespace!~"^(kube|dev)" or Packets>45"#,
        "with(DnsName) and Proto=17",
        "without(DnsName) and TimeFlowRttNs=0",
        "without(SrcK8S_Namespace)",
        r#"DnsName!="svc1.prod.cluster.local" and Proto="6""#,
        r#"SrcK8S_OwnerName=~"owner2$" or SrcK8S_HostName="node-1""#,
    ];
    for filter in filters {
        let q = RecordsQuery::new(range)
            .with_filter(filter)
            .unwrap()
            .with_sort("Bytes", Order::Desc)
            .with_limit(40);
        let got: Vec<u64> = fx
            .store
            .records(&q)
            .await
            .unwrap()
            .iter()
            .map(|f| f.bytes().unwrap())
            .collect();
        let mut want: Vec<u64> = fx
            .flows
            .iter()
            .filter(|f| in_range(f, range) && q.filter.as_ref().unwrap().matches(f))
            .map(|f| f.bytes().unwrap())
            .collect();
        want.sort_unstable_by(|a, b| b.cmp(a));
        want.truncate(40);
        assert!(!want.is_empty(), "{filter}: the reference matched nothing");
        assert_eq!(got, want, "{filter}");
    }
    // Whole flows come back, equal to what went in.
    let q = RecordsQuery::new(range)
        .with_sort("TimeFlowEndMs", Order::Asc)
        .with_sort("Bytes", Order::Asc)
        .with_limit(5);
    let got = fx.store.records(&q).await.unwrap();
    let mut want: Vec<&Flow> = fx.flows.iter().filter(|f| in_range(f, range)).collect();
    want.sort_by_key(|f| (f.time_flow_end_ms(), f.bytes()));
    let got_json: Vec<String> = got.iter().map(json::to_string).collect();
    let want_json: Vec<String> = want[..5].iter().map(|f| json::to_string(f)).collect();
    assert_eq!(got_json, want_json);
    // Unknown fields are a clear error, not SQL.
    let q = RecordsQuery::new(range)
        .with_filter("NoSuchField=1")
        .unwrap();
    let e = fx.store.records(&q).await.unwrap_err().to_string();
    assert!(e.contains(r#"unknown field "NoSuchField""#), "{e}");
}

#[tokio::test]
async fn metrics_match_the_reference_raw_and_rollup_on_18_16() {
    metrics_match_the_reference_raw_and_rollup(Flavor::Legacy).await;
}

#[tokio::test]
async fn metrics_match_the_reference_raw_and_rollup_on_modern_chdb() {
    metrics_match_the_reference_raw_and_rollup(Flavor::Modern).await;
}

async fn metrics_match_the_reference_raw_and_rollup(flavor: Flavor) {
    let fx = fixture(flavor, 3000).await;
    let aligned = TimeRange::new(T0, T0 + 2 * HOUR);
    let ns = ["SrcK8S_Namespace", "DstK8S_Namespace"];
    let mut cases = vec![
        (
            MetricsQuery::new(aligned, Function::Rate, Measure::field("Bytes"))
                .with_group_by(ns)
                .with_step_seconds(300),
            "flows_1m",
        ),
        (
            MetricsQuery::new(aligned, Function::Sum, Measure::Flows)
                .with_group_by(["SrcK8S_HostName"])
                .with_step_seconds(3600),
            "flows_1h",
        ),
        (
            MetricsQuery::new(aligned, Function::Sum, Measure::field("PktDropPackets"))
                .with_group_by(ns)
                .with_filter(r#"SrcK8S_Namespace!="prod""#)
                .unwrap()
                .with_top_k(5),
            "flows_1h",
        ),
        (
            MetricsQuery::new(aligned, Function::Sum, Measure::field("Bytes"))
                .with_group_by(ns)
                .with_top_k(4)
                .with_step_seconds(600),
            "flows_1m",
        ),
        (
            MetricsQuery::new(
                TimeRange::new(T0 + 3 * MINUTE, T0 + 47 * MINUTE),
                Function::Sum,
                Measure::field("Packets"),
            )
            .with_group_by(["DstK8S_OwnerName"]),
            "flows_1m",
        ),
    ];
    // Not answerable by a rollup: unaligned range, per-flow filter, a non-rollup field, latency.
    let raw = [
        MetricsQuery::new(
            TimeRange::new(T0 + 1234, T0 + HOUR),
            Function::Sum,
            Measure::field("Bytes"),
        )
        .with_group_by(ns)
        .with_step_seconds(60),
        MetricsQuery::new(aligned, Function::Rate, Measure::field("Bytes"))
            .with_filter("Proto=6")
            .unwrap()
            .with_group_by(["DstK8S_Namespace"])
            .with_step_seconds(900),
        MetricsQuery::new(aligned, Function::Sum, Measure::field("Bytes"))
            .with_group_by(["DstPort"])
            .with_top_k(2),
    ];
    cases.extend(raw.into_iter().map(|q| (q, "")));
    for f in [Function::Avg, Function::Max, Function::P90, Function::P99] {
        cases.push((
            MetricsQuery::new(aligned, f, Measure::field("TimeFlowRttNs"))
                .with_group_by(["SrcK8S_Namespace"])
                .with_step_seconds(1800),
            "",
        ));
        cases.push((
            MetricsQuery::new(aligned, f, Measure::field("TimeFlowRttNs"))
                .with_group_by(["DstK8S_Namespace"])
                .with_top_k(3),
            "",
        ));
    }
    for (q, rollup_suffix) in cases {
        let what = format!(
            "{} {} by {:?} step {:?} top {:?}",
            q.function, q.measure, q.group_by, q.step_seconds, q.top_k
        );
        let want = reference(&fx.flows, &q);
        let raw = fx
            .store
            .metrics(&q.clone().with_allow_rollup(false))
            .await
            .unwrap();
        assert_eq!(raw.source, "flows", "{what}");
        check(&raw.series, &want, &q, &format!("{what} (raw)"));
        let auto = fx.store.metrics(&q).await.unwrap();
        let expected_source = if rollup_suffix.is_empty() {
            "flows"
        } else {
            rollup_suffix
        };
        assert_eq!(auto.source, expected_source, "{what}");
        check(
            &auto.series,
            &want,
            &q,
            &format!("{what} ({})", auto.source),
        );
    }
}

#[tokio::test]
async fn hostile_values_are_matched_literally_on_18_16() {
    hostile_values_are_matched_literally(Flavor::Legacy).await;
}

#[tokio::test]
async fn hostile_values_are_matched_literally_on_modern_chdb() {
    hostile_values_are_matched_literally(Flavor::Modern).await;
}

async fn hostile_values_are_matched_literally(flavor: Flavor) {
    let fx = fixture(flavor, 2000).await;
    let table = fx.schema.qualified("flows");
    let before = count(&fx.client, &table).await;
    let range = TimeRange::new(T0 - HOUR, T0 + 3 * HOUR);
    for ns in NAMESPACES.iter().filter(|n| !n.is_empty()) {
        for (op, keep) in [("=", true), ("!=", false)] {
            let filter = eq_filter("SrcK8S_Namespace", op, ns);
            let parsed = Query::parse(&filter).unwrap();
            let want = fx.flows.iter().filter(|f| parsed.matches(f)).count();
            assert!(want > 0, "{filter}");
            let q = RecordsQuery::new(range)
                .with_filter(&filter)
                .unwrap()
                .with_limit(100_000);
            let got = fx.store.records(&q).await.unwrap();
            assert_eq!(got.len(), want, "{filter}");
            assert!(
                got.iter()
                    .all(|f| (f.src_k8s_namespace() == Some(*ns)) == keep),
                "{filter}"
            );
            // The same value through the rollup path (a metrics filter on a rollup key).
            let m = MetricsQuery::new(TimeRange::new(T0, T0 + HOUR), Function::Sum, Measure::Flows)
                .with_filter(&filter)
                .unwrap()
                .with_group_by(["SrcK8S_Namespace"]);
            let res = fx.store.metrics(&m).await.unwrap();
            assert!(res.source.ends_with("_1h"), "{}", res.source);
            check(&res.series, &reference(&fx.flows, &m), &m, &filter);
        }
        // As a regular expression (quoted for RE2 by the caller: the value must match itself).
        let pattern = re_escape(ns);
        let filter = eq_filter("DstK8S_Namespace", "=~", &format!("^{pattern}$"));
        let q = RecordsQuery::new(range)
            .with_filter(&filter)
            .unwrap()
            .with_limit(100_000);
        let got = fx.store.records(&q).await.unwrap();
        let want = fx
            .flows
            .iter()
            .filter(|f| f.dst_k8s_namespace() == Some(*ns))
            .count();
        assert_eq!(got.len(), want, "{filter}");
    }
    // Group labels come back byte for byte.
    let m =
        MetricsQuery::new(range, Function::Sum, Measure::Flows).with_group_by(["SrcK8S_Namespace"]);
    let mut labels: Vec<String> = fx
        .store
        .metrics(&m)
        .await
        .unwrap()
        .series
        .iter()
        .map(|s| s.labels["SrcK8S_Namespace"].clone())
        .collect();
    labels.sort();
    let mut want: Vec<String> = NAMESPACES.iter().map(|s| s.to_string()).collect();
    want.sort();
    assert_eq!(labels, want);
    // Nothing was dropped or added.
    assert_eq!(count(&fx.client, &table).await, before);
    let rollup = fx.schema.qualified(&Rollup::Minute.table("flows"));
    assert!(count(&fx.client, &rollup).await > 0);
}

/// Strings no escaping may change: quotes of every kind, backslashes before quotes and at the
/// end, comment and statement separators, control characters, non-ASCII text.
const NASTY: &[&str] = &[
    "'",
    "\\",
    "\\'",
    "'\\",
    "a\\",
    "\\\\'; DROP TABLE x; --",
    "`\"'",
    "-- comment",
    "/* c */ 1; SELECT 2",
    "\n\r\t\0\u{1}\u{7f}",
    "é ü 東京 🚀",
    "{p0:String}",
    "?",
    "",
];

/// A UInt64 of a JSON answer (quoted or not, by server default).
fn uint(v: &serde_json::Value) -> u64 {
    v.as_u64()
        .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
        .unwrap_or_else(|| panic!("not a UInt64: {v}"))
}

/// The escaper's literals read back as the same strings on 18.16, and the same strings sent as
/// query parameters (`{p:String}`, `param_p`) read back unchanged on the modern engine.
#[tokio::test]
async fn values_round_trip_as_literals_and_parameters() {
    let legacy = client(&shared_url());
    let chdb = ChdbServer::start().unwrap();
    let modern = client(&chdb.url());
    for s in NASTY {
        let lit = netobserv_sinks::clickhouse::sql::string_literal(s);
        let q = legacy.query_raw(&format!("SELECT {lit} AS s, length({lit}) AS n"));
        let got = q
            .fetch_bytes("JSONEachRow")
            .unwrap()
            .collect()
            .await
            .unwrap();
        let row: serde_json::Value = serde_json::from_slice(&got).unwrap();
        assert_eq!(row["s"], serde_json::json!(s), "literal {lit}");
        assert_eq!(uint(&row["n"]), s.len() as u64, "literal {lit}");
        let q = modern
            .query_raw("SELECT {p0:String} AS s, length({p0:String}) AS n")
            .param("p0", *s);
        let got = q
            .fetch_bytes("JSONEachRow")
            .unwrap()
            .collect()
            .await
            .unwrap();
        let row: serde_json::Value = serde_json::from_slice(&got).unwrap();
        assert_eq!(row["s"], serde_json::json!(s), "parameter {s:?}");
        assert_eq!(uint(&row["n"]), s.len() as u64, "parameter {s:?}");
    }
}
