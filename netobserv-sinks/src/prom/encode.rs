//! The metric state of one `encode: prom` stage: flows in, series updated, expired series
//! removed, and the families handed to a Prometheus registry (it is a
//! [`prometheus::core::Collector`]).

use std::hash::BuildHasher;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use hashbrown::HashTable;
use netobserv_flow::flow::Flow;
use netobserv_flow::value::Value;
use prometheus::core::{Collector, Desc};
use prometheus::proto;

use super::config::{MetricType, PromEncodeConfig, parse_go_duration};
use super::metric::{Compiled, Memo, push_flow_label, push_part_label, split_key};
use crate::{Error, Result};

/// Upstream's default `expiryTime`.
pub const DEFAULT_EXPIRY: Duration = Duration::from_secs(120);

enum SeriesValue {
    Scalar(f64),
    Hist {
        /// Per bucket, not cumulative; the last one is `+Inf`.
        counts: Box<[u64]>,
        sum: f64,
        count: u64,
    },
}

struct Series {
    hash: u64,
    key: Box<[u8]>,
    /// Milliseconds since the state was created, when a flow last touched the series.
    last: u64,
    value: SeriesValue,
}

struct MetricState {
    def: Compiled,
    series: HashTable<Series>,
}

/// What one call to [`PromEncoder::observe`] could not count.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ObserveOutcome {
    /// Updates dropped because the stage holds `maxMetrics` series already.
    pub dropped: u64,
    /// Flows whose value could not be used (not a number, a negative counter increment, an
    /// `agg_histogram` value that is not a list of numbers), with the first case's details.
    pub errors: u64,
    /// The first error, for the log.
    pub first_error: Option<String>,
}

struct State {
    metrics: Vec<MetricState>,
    series_count: usize,
    max_series: usize,
    expiry: Duration,
    start: Instant,
    hasher: foldhash::fast::FixedState,
    key: Vec<u8>,
    /// For each distinct (non-flattened) label list: the metrics using it, so that the series
    /// key of a flow is built once per list.
    label_groups: Vec<Vec<usize>>,
    flattened: Vec<usize>,
    memo: Memo,
}

/// The metric state of a stage, shared by the sink that updates it and the registries that
/// expose it. Cheap to clone.
#[derive(Clone)]
pub struct PromEncoder {
    state: Arc<Mutex<State>>,
    descs: Arc<Vec<Desc>>,
}

impl std::fmt::Debug for PromEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PromEncoder")
    }
}

impl PromEncoder {
    /// Compiles the definitions of a stage (names, labels, filters, regular expressions,
    /// buckets are checked here).
    pub fn new(config: &PromEncodeConfig) -> Result<PromEncoder> {
        let prefix = config.prefix.as_deref().unwrap_or("");
        let mut metrics = Vec::new();
        let mut descs = Vec::new();
        for def in &config.metrics {
            let c = Compiled::new(def, prefix)?;
            if metrics.iter().any(|m: &MetricState| m.def.name == c.name) {
                return Err(Error::Settings(format!(
                    "metric {:?} is defined twice",
                    c.name
                )));
            }
            let desc = Desc::new(
                c.name.clone(),
                c.help.clone(),
                c.label_names().map(str::to_string).collect(),
                Default::default(),
            )
            .map_err(|e| Error::Settings(format!("metric {:?}: {e}", c.name)))?;
            descs.push(desc);
            metrics.push(MetricState {
                def: c,
                series: HashTable::new(),
            });
        }
        let expiry = match config.expiry_time.as_deref() {
            None | Some("") => DEFAULT_EXPIRY,
            Some(t) => match parse_go_duration(t) {
                Some(d) if d.is_zero() => DEFAULT_EXPIRY,
                Some(d) => d,
                None => {
                    return Err(Error::Settings(format!(
                        "expiryTime {t:?} is not a duration (expected e.g. 2m, 30s, 500ms)"
                    )));
                }
            },
        };
        let (mut filter_ids, mut label_ids) = (Vec::new(), Vec::new());
        for m in &mut metrics {
            m.def.assign_slots(&mut filter_ids, &mut label_ids);
        }
        let memo = Memo::new(filter_ids.len(), label_ids.len());
        let mut label_groups: Vec<Vec<usize>> = Vec::new();
        let mut flattened = Vec::new();
        for (i, m) in metrics.iter().enumerate() {
            if m.def.is_flattened() {
                flattened.push(i);
                continue;
            }
            let same = |j: &usize| {
                let other = &metrics[*j].def;
                other.labels.len() == m.def.labels.len()
                    && other
                        .labels
                        .iter()
                        .zip(&m.def.labels)
                        .all(|(a, b)| a.source_name == b.source_name)
            };
            match label_groups.iter_mut().find(|g| same(&g[0])) {
                Some(g) => g.push(i),
                None => label_groups.push(vec![i]),
            }
        }
        Ok(PromEncoder {
            state: Arc::new(Mutex::new(State {
                metrics,
                series_count: 0,
                max_series: config.max_metrics.unwrap_or(0),
                expiry,
                start: Instant::now(),
                hasher: foldhash::fast::FixedState::with_seed(0x6e65_746f_6273),
                key: Vec::with_capacity(256),
                label_groups,
                flattened,
                memo,
            })),
            descs: Arc::new(descs),
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The expiry time in force.
    pub fn expiry(&self) -> Duration {
        self.lock().expiry
    }

    /// Updates the metrics with a batch of flows.
    pub fn observe(&self, flows: &[Flow]) -> ObserveOutcome {
        let mut st = self.lock();
        let now = st.start.elapsed().as_millis() as u64;
        let mut out = ObserveOutcome::default();
        let st = &mut *st;
        for flow in flows {
            st.memo.next_flow();
            for gi in 0..st.label_groups.len() {
                let mut built = false;
                let mut hash = 0;
                for k in 0..st.label_groups[gi].len() {
                    let mi = st.label_groups[gi][k];
                    let m = &st.metrics[mi];
                    if !m.def.passes(flow, &mut st.memo) {
                        continue;
                    }
                    let Some(values) = value_of(&m.def, flow, &mut out) else {
                        continue;
                    };
                    if !built {
                        st.key.clear();
                        for l in &m.def.labels {
                            st.memo.push_label(&mut st.key, l, flow);
                        }
                        hash = st.hasher.hash_one(&st.key[..]);
                        built = true;
                    }
                    update(st, mi, hash, now, &values, &mut out);
                }
            }
            for k in 0..st.flattened.len() {
                let mi = st.flattened[k];
                let m = &st.metrics[mi];
                let Some(parts) = m.def.flat_parts(flow) else {
                    continue;
                };
                let Some(values) = value_of(&m.def, flow, &mut out) else {
                    continue;
                };
                let mut common = Vec::new();
                for l in &m.def.labels {
                    push_flow_label(&mut common, l, flow);
                }
                for part in &parts {
                    let m = &st.metrics[mi];
                    st.key.clear();
                    for l in &m.def.flat_labels {
                        push_part_label(&mut st.key, l, part);
                    }
                    st.key.extend_from_slice(&common);
                    let hash = st.hasher.hash_one(&st.key[..]);
                    if !update(st, mi, hash, now, &values, &mut out) {
                        break;
                    }
                }
            }
        }
        out
    }

    /// Removes the series no flow touched for the expiry time; returns how many.
    pub fn expire(&self) -> usize {
        let mut st = self.lock();
        let now = st.start.elapsed().as_millis() as u64;
        let ttl = st.expiry.as_millis() as u64;
        let mut removed = 0;
        for m in &mut st.metrics {
            let before = m.series.len();
            m.series.retain(|s| now.saturating_sub(s.last) <= ttl);
            removed += before - m.series.len();
        }
        st.series_count -= removed;
        removed
    }

    /// Number of series held, over all metrics.
    pub fn series_count(&self) -> usize {
        self.lock().series_count
    }

    /// The metrics in the Prometheus text format (what this stage's own server answers).
    pub fn encode_text(&self) -> String {
        let mut out = Vec::new();
        // Encoding into a Vec cannot fail for families built here.
        let _ =
            prometheus::Encoder::encode(&prometheus::TextEncoder::new(), &self.collect(), &mut out);
        String::from_utf8(out).unwrap_or_default()
    }
}

/// The value(s) a flow gives a metric; `None` when it gives none (no value field: skipped, as
/// upstream; an unusable value: counted as an error).
fn value_of(def: &Compiled, flow: &Flow, out: &mut ObserveOutcome) -> Option<Values> {
    let Some(path) = &def.value else {
        return Some(Values::One(1.0));
    };
    let mut error = |what: String| {
        out.errors += 1;
        if out.first_error.is_none() {
            out.first_error = Some(format!("metric {:?}: {what}", def.name));
        }
        None
    };
    if def.kind == MetricType::AggHistogram {
        let v = path.get(flow)?;
        let Value::List(items) = v else {
            return error(format!("{:?} is not a list of numbers", def.value_name));
        };
        let mut values = Vec::with_capacity(items.len());
        for i in &items {
            match i.as_f64() {
                Some(f) => values.push(scale(def, f)),
                None => return error(format!("{:?} holds {i}, not a number", def.value_name)),
            }
        }
        return Some(Values::Many(values));
    }
    let r = path.get_ref(flow)?;
    match r.as_f64() {
        Some(f) if def.kind == MetricType::Counter && scale(def, f) < 0.0 => error(format!(
            "{:?} is negative ({f}): a counter only grows",
            def.value_name
        )),
        Some(f) if f.is_nan() => error(format!("{:?} is NaN", def.value_name)),
        Some(f) => Some(Values::One(scale(def, f))),
        None => error(format!(
            "{:?} holds {}, not a number",
            def.value_name,
            r.with_text(str::to_string)
        )),
    }
}

fn scale(def: &Compiled, v: f64) -> f64 {
    if def.scale != 0.0 { v / def.scale } else { v }
}

enum Values {
    One(f64),
    Many(Vec<f64>),
}

/// Applies a value to the series of `st.key` in metric `mi`; false when the series is new and
/// the stage is full (counted as dropped).
fn update(
    st: &mut State,
    mi: usize,
    hash: u64,
    now: u64,
    values: &Values,
    out: &mut ObserveOutcome,
) -> bool {
    let key = &st.key;
    let m = &mut st.metrics[mi];
    let series = match m
        .series
        .find_mut(hash, |s| s.hash == hash && *s.key == **key)
    {
        Some(s) => s,
        None => {
            if st.max_series > 0 && st.series_count >= st.max_series {
                out.dropped += 1;
                return false;
            }
            st.series_count += 1;
            let value = match m.def.kind {
                MetricType::Counter | MetricType::Gauge => SeriesValue::Scalar(0.0),
                MetricType::Histogram | MetricType::AggHistogram => SeriesValue::Hist {
                    counts: vec![0; m.def.buckets.len() + 1].into_boxed_slice(),
                    sum: 0.0,
                    count: 0,
                },
            };
            m.series
                .insert_unique(
                    hash,
                    Series {
                        hash,
                        key: key.clone().into_boxed_slice(),
                        last: now,
                        value,
                    },
                    |s| s.hash,
                )
                .into_mut()
        }
    };
    series.last = now;
    match (&mut series.value, values) {
        (SeriesValue::Scalar(v), Values::One(x)) => {
            if m.def.kind == MetricType::Gauge {
                *v = *x;
            } else {
                *v += *x;
            }
        }
        (SeriesValue::Hist { counts, sum, count }, values) => {
            let one;
            let values: &[f64] = match values {
                Values::One(x) => {
                    one = [*x];
                    &one
                }
                Values::Many(v) => v,
            };
            for x in values {
                let i = m.def.buckets.partition_point(|b| b < x);
                counts[i] += 1;
                *sum += *x;
                *count += 1;
            }
        }
        (SeriesValue::Scalar(_), Values::Many(_)) => {}
    }
    true
}

impl Collector for PromEncoder {
    fn desc(&self) -> Vec<&Desc> {
        self.descs.iter().collect()
    }

    fn collect(&self) -> Vec<proto::MetricFamily> {
        let st = self.lock();
        let mut families = Vec::with_capacity(st.metrics.len());
        for m in &st.metrics {
            if m.series.is_empty() {
                continue;
            }
            let names: Vec<&str> = m.def.label_names().collect();
            let mut family = proto::MetricFamily::default();
            family.set_name(m.def.name.clone());
            family.set_help(m.def.help.clone());
            family.set_field_type(match m.def.kind {
                MetricType::Counter => proto::MetricType::COUNTER,
                MetricType::Gauge => proto::MetricType::GAUGE,
                _ => proto::MetricType::HISTOGRAM,
            });
            let mut out = Vec::with_capacity(m.series.len());
            for s in m.series.iter() {
                let mut metric = proto::Metric::default();
                let labels = split_key(&s.key)
                    .into_iter()
                    .zip(&names)
                    .map(|(v, n)| {
                        let mut p = proto::LabelPair::default();
                        p.set_name(n.to_string());
                        p.set_value(v);
                        p
                    })
                    .collect();
                metric.set_label(labels);
                match &s.value {
                    SeriesValue::Scalar(v) if m.def.kind == MetricType::Gauge => {
                        let mut g = proto::Gauge::default();
                        g.set_value(*v);
                        metric.set_gauge(g);
                    }
                    SeriesValue::Scalar(v) => {
                        let mut c = proto::Counter::default();
                        c.set_value(*v);
                        metric.set_counter(c);
                    }
                    SeriesValue::Hist { counts, sum, count } => {
                        let mut h = proto::Histogram::default();
                        h.set_sample_count(*count);
                        h.set_sample_sum(*sum);
                        let mut cumulative = 0;
                        let buckets = m
                            .def
                            .buckets
                            .iter()
                            .zip(counts.iter())
                            .map(|(bound, n)| {
                                cumulative += n;
                                let mut b = proto::Bucket::default();
                                b.set_upper_bound(*bound);
                                b.set_cumulative_count(cumulative);
                                b
                            })
                            .collect();
                        h.set_bucket(buckets);
                        metric.set_histogram(h);
                    }
                }
                out.push(metric);
            }
            family.set_metric(out);
            families.push(family);
        }
        families
    }
}
