//! The metric state of one `encode: prom` stage: flows in, series updated, expired series
//! removed, and the families handed to a Prometheus registry (it is a
//! [`prometheus::core::Collector`]).
//!
//! A flow is read once per stage, not once per metric: each field it needs (label, filter key,
//! value) is read once, each distinct filter evaluated once, each label value looked up once in
//! the stage's [`Dict`], and each distinct label list ([`Group`]) costs one lookup, whose entry
//! holds the series of every metric using that list.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use netobserv_flow::field::FieldPath;
use netobserv_flow::flow::{FieldRef, Flow};
use netobserv_flow::value::Value;
use prometheus::core::{Collector, Desc};
use prometheus::proto;

use super::config::{MetricType, PromEncodeConfig, parse_go_duration};
use super::identity::IdentityIds;
use super::metric::{Compiled, Filter, part_label_text};
use super::read::Reader;
use super::series::{Cell, Dict, Entry, Group, SeriesValue};
use crate::{Error, Result};

/// Upstream's default `expiryTime`.
pub const DEFAULT_EXPIRY: Duration = Duration::from_secs(120);

struct MetricState {
    def: Compiled,
    /// The group holding its series, and its place among the group's metrics.
    group: usize,
    pos: usize,
    /// Number of series.
    series: usize,
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
    /// The groups of metrics without flattening, then one group per flattened metric.
    groups: Vec<Group>,
    flat_start: usize,
    /// The fields and filters of the stage, with what the current flow gave.
    memo: FlowMemo,
    dict: Dict,
    identities: IdentityIds,
    series_count: usize,
    max_series: usize,
    expiry: Duration,
    start: Instant,
    ids: Vec<u32>,
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
        let mut compiled: Vec<Compiled> = Vec::new();
        let mut descs = Vec::new();
        for def in &config.metrics {
            let c = Compiled::new(def, prefix)?;
            if compiled.iter().any(|m| m.name == c.name) {
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
            compiled.push(c);
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
        let (mut fields, mut filters) = (Vec::new(), Vec::new());
        for c in &mut compiled {
            c.assign_slots(&mut fields, &mut filters);
        }
        // Metrics without flattening share a group when they read the same label fields in
        // the same order (the label names may differ: remap is per metric).
        let mut groups: Vec<Group> = Vec::new();
        let mut placed = vec![(0, 0); compiled.len()];
        let label_fields = |c: &Compiled| c.labels.iter().map(|l| l.field).collect::<Vec<_>>();
        for (i, c) in compiled.iter().enumerate() {
            if c.is_flattened() {
                continue;
            }
            let labels = label_fields(c);
            let gi = match groups.iter().position(|g| g.labels == labels) {
                Some(gi) => gi,
                None => {
                    groups.push(Group::new(labels));
                    groups.len() - 1
                }
            };
            placed[i] = (gi, groups[gi].metrics.len());
            groups[gi].metrics.push(i);
        }
        let flat_start = groups.len();
        for (i, c) in compiled.iter().enumerate() {
            if c.is_flattened() {
                let mut g = Group::new(label_fields(c));
                g.metrics.push(i);
                placed[i] = (groups.len(), 0);
                groups.push(g);
            }
        }
        let metrics: Vec<MetricState> = compiled
            .into_iter()
            .zip(placed)
            .map(|(def, (group, pos))| MetricState {
                def,
                group,
                pos,
                series: 0,
            })
            .collect();
        let mut label_fields: Vec<usize> = groups[..flat_start]
            .iter()
            .flat_map(|g| g.labels.iter().copied())
            .collect();
        label_fields.sort_unstable();
        label_fields.dedup();
        let mut num_fields: Vec<usize> = metrics.iter().filter_map(|m| m.def.value_field).collect();
        num_fields.sort_unstable();
        num_fields.dedup();
        let identities = IdentityIds::new(label_fields.iter().filter_map(|&f| match &fields[f] {
            FieldPath::Typed(id) => Some((f, *id)),
            _ => None,
        }));
        Ok(PromEncoder {
            state: Arc::new(Mutex::new(State {
                metrics,
                groups,
                flat_start,
                memo: FlowMemo::new(fields, filters, label_fields, num_fields, &identities),
                dict: Dict::new(foldhash::fast::FixedState::with_seed(0x6e65_746f_6273)),
                identities,
                series_count: 0,
                max_series: config.max_metrics.unwrap_or(0),
                expiry,
                start: Instant::now(),
                ids: Vec::with_capacity(32),
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
        let mut guard = self.lock();
        let now = guard.start.elapsed().as_millis() as u64;
        let mut out = ObserveOutcome::default();
        let State {
            metrics,
            groups,
            flat_start,
            memo,
            dict,
            identities,
            series_count,
            max_series,
            ids,
            ..
        } = &mut *guard;
        let mut room = Room {
            count: series_count,
            max: *max_series,
        };
        let (plain, flat) = groups.split_at_mut(*flat_start);
        for flow in flows {
            memo.read(flow, dict, identities);
            let reads = memo.view();
            for group in plain.iter_mut() {
                observe_group(
                    group, metrics, flow, &reads, dict, ids, &mut room, now, &mut out,
                );
            }
            for group in flat.iter_mut() {
                let m = &mut metrics[group.metrics[0]];
                let Some(parts) = m.def.flat_parts(flow) else {
                    continue;
                };
                let Some(values) = value_of(&m.def, flow, &reads, &mut out) else {
                    continue;
                };
                let common: Vec<String> = group
                    .labels
                    .iter()
                    .map(|&f| reads.label_text(f, flow))
                    .collect();
                for part in &parts {
                    let texts: Vec<String> = m
                        .def
                        .flat_labels
                        .iter()
                        .map(|l| part_label_text(l, part))
                        .chain(common.iter().cloned())
                        .collect();
                    ids.clear();
                    let complete = texts
                        .iter()
                        .all(|t| dict.find(t).map(|id| ids.push(id)).is_some());
                    let hash = key_hash(ids.iter().copied());
                    let found = if complete {
                        group.entries.find_mut(hash, |e| e.is(hash, ids))
                    } else {
                        None
                    };
                    let e = match found {
                        Some(e) => e,
                        None => {
                            if !room.take(&mut out) {
                                break;
                            }
                            if complete {
                                ids.iter().for_each(|id| dict.hold(*id));
                            } else {
                                ids.clear();
                                ids.extend(texts.iter().map(|t| dict.acquire(t)));
                            }
                            let hash = key_hash(ids.iter().copied());
                            Group::insert(&mut group.entries, 1, hash, ids)
                        }
                    };
                    let cell = e.cells[0].get_or_insert_with(|| {
                        m.series += 1;
                        new_cell(&m.def, now)
                    });
                    apply(&m.def, cell, now, &values);
                }
            }
        }
        out
    }

    /// Removes the series no flow touched for the expiry time; returns how many.
    pub fn expire(&self) -> usize {
        let mut guard = self.lock();
        let st = &mut *guard;
        let now = st.start.elapsed().as_millis() as u64;
        let ttl = st.expiry.as_millis() as u64;
        let mut removed = vec![0; st.metrics.len()];
        for g in &mut st.groups {
            g.expire(now, ttl, &mut st.dict, &mut removed);
        }
        for (m, r) in st.metrics.iter_mut().zip(&removed) {
            m.series -= r;
        }
        let removed: usize = removed.iter().sum();
        if removed > 0 {
            // Label ids may have been freed.
            st.identities.clear();
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

/// Updates the metrics of one group (without flattening) with a flow.
#[allow(clippy::too_many_arguments)]
#[inline]
fn observe_group(
    group: &mut Group,
    metrics: &mut [MetricState],
    flow: &Flow,
    reads: &Reads<'_>,
    dict: &mut Dict,
    ids: &mut Vec<u32>,
    room: &mut Room<'_>,
    now: u64,
    out: &mut ObserveOutcome,
) {
    let Group {
        metrics: members,
        labels,
        entries,
    } = group;
    let mut found: Lookup<'_> = Lookup::NotYet;
    for (k, &mi) in members.iter().enumerate() {
        let m = &mut metrics[mi];
        if !reads.passes(&m.def.filter_slots) {
            continue;
        }
        let Some(values) = value_of(&m.def, flow, reads, out) else {
            continue;
        };
        if let Lookup::NotYet = found {
            found = Lookup::Missing;
            ids.resize(labels.len(), NO_ID);
            if let Some(hash) = gather(labels, reads.label_ids, ids)
                && let Some(e) = entries.find_mut(hash, |e| e.is(hash, ids))
            {
                found = Lookup::Found(e);
            }
        }
        if let Lookup::Missing = found {
            if !room.take(out) {
                continue;
            }
            // A value no series held when the flow was read may have been added since by
            // another group: `acquire` finds it then.
            for (id, &f) in ids.iter_mut().zip(labels.iter()) {
                if *id == NO_ID {
                    *id = dict.acquire(&reads.label_text(f, flow));
                } else {
                    dict.hold(*id);
                }
            }
            let hash = key_hash(ids.iter().copied());
            let e = Group::insert(entries, members.len(), hash, ids);
            e.cells[k] = Some(new_cell(&m.def, now));
            m.series += 1;
            found = Lookup::Found(e);
        }
        let Lookup::Found(e) = &mut found else {
            continue;
        };
        let cell = match &mut e.cells[k] {
            Some(c) => c,
            cell => {
                if !room.take(out) {
                    continue;
                }
                m.series += 1;
                cell.insert(new_cell(&m.def, now))
            }
        };
        apply(&m.def, cell, now, &values);
    }
}

/// Copies a group's label ids from the flow's into `ids` (as long as `labels`); the key hash
/// when every value is held by some series.
#[inline(never)]
fn gather(labels: &[usize], label_ids: &[u32], ids: &mut [u32]) -> Option<u64> {
    let mut h = KEY_SEED;
    let mut complete = true;
    for (id, &f) in ids.iter_mut().zip(labels) {
        *id = label_ids[f];
        complete &= *id != NO_ID;
        h = key_mix(h, *id);
    }
    complete.then(|| key_finish(h))
}

/// A label value no series holds.
const NO_ID: u32 = u32::MAX;

/// The hash of a series key (label value ids): ids are small numbers, a multiply-rotate per id
/// spreads them over the bits hashbrown uses (the top seven and the low ones).
#[inline]
fn key_hash(ids: impl Iterator<Item = u32>) -> u64 {
    key_finish(ids.fold(KEY_SEED, key_mix))
}

const KEY_SEED: u64 = 0x243f_6a88_85a3_08d3;

#[inline(always)]
fn key_mix(h: u64, id: u32) -> u64 {
    (h ^ u64::from(id))
        .wrapping_mul(0x9e37_79b9_7f4a_7c15)
        .rotate_left(29)
}

#[inline(always)]
fn key_finish(h: u64) -> u64 {
    h ^ (h >> 32)
}

/// Where a flow's label set stands in a group while its metrics are updated.
enum Lookup<'e> {
    NotYet,
    Found(&'e mut Entry),
    /// Not in the table (and not added: the stage is full).
    Missing,
}

/// The `maxMetrics` budget of one call.
struct Room<'a> {
    count: &'a mut usize,
    max: usize,
}

impl Room<'_> {
    /// Takes room for a new series; false (counted as dropped) when the stage is full.
    fn take(&mut self, out: &mut ObserveOutcome) -> bool {
        if self.max > 0 && *self.count >= self.max {
            out.dropped += 1;
            return false;
        }
        *self.count += 1;
        true
    }
}

/// The fields and filters a stage reads on flows, and what the current flow gave: filter
/// results, label value ids, numbers. Each distinct field is read once per flow, each distinct
/// filter evaluated once, however many metrics use them.
struct FlowMemo {
    /// The distinct fields read on the flow (see [`Compiled::assign_slots`]).
    fields: Vec<Reader>,
    /// The distinct filters of metrics without flattening.
    filters: Vec<Filter>,
    /// The fields filters read, each with its filters (evaluated on one read of the field).
    filter_fields: Vec<(usize, Vec<usize>)>,
    /// The value fields of metrics without flattening.
    num_fields: Vec<usize>,
    /// The label fields of metrics without flattening, and those of them not read through
    /// [`IdentityIds`].
    labels: Vec<usize>,
    other_labels: Vec<usize>,
    /// Per filter, its result.
    filter_val: Vec<bool>,
    /// Per field: its id when it is a label field ([`NO_ID`] when no series holds the value),
    /// its number when it is a value field.
    label_ids: Vec<u32>,
    num_val: Vec<Num>,
}

/// A field read as a number.
#[derive(Clone, Copy)]
enum Num {
    Absent,
    Is(f64),
    NotANumber,
}

impl FlowMemo {
    fn new(
        fields: Vec<FieldPath>,
        filters: Vec<Filter>,
        labels: Vec<usize>,
        num_fields: Vec<usize>,
        identities: &IdentityIds,
    ) -> Self {
        let n = fields.len();
        let mut filter_fields: Vec<(usize, Vec<usize>)> = Vec::new();
        for (j, f) in filters.iter().enumerate() {
            match filter_fields
                .iter_mut()
                .find(|(field, _)| *field == f.field)
            {
                Some((_, js)) => js.push(j),
                None => filter_fields.push((f.field, vec![j])),
            }
        }
        FlowMemo {
            fields: fields.into_iter().map(Reader::new).collect(),
            filter_val: vec![false; filters.len()],
            filters,
            filter_fields,
            num_fields,
            other_labels: labels
                .iter()
                .copied()
                .filter(|f| !identities.covers(*f))
                .collect(),
            labels,
            label_ids: vec![NO_ID; n],
            num_val: vec![Num::Absent; n],
        }
    }

    /// Reads a flow: filter results, label ids ("" when absent, as upstream), numbers.
    #[inline]
    fn read(&mut self, flow: &Flow, dict: &Dict, identities: &mut IdentityIds) {
        for (field, js) in &self.filter_fields {
            let value = self.fields[*field].get_ref(flow);
            for &j in js {
                self.filter_val[j] = self.filters[j].on_ref(value.as_ref());
            }
        }
        let ids = &mut self.label_ids;
        let rest = if identities.resolve(flow, dict, |f, id| ids[f] = id.unwrap_or(NO_ID)) {
            &self.other_labels
        } else {
            &self.labels
        };
        for &f in rest {
            let id = match self.fields[f].get_ref(flow) {
                None => dict.empty(),
                Some(FieldRef::Str(s)) => dict.find(s),
                Some(r) => r.with_text(|t| dict.find(t)),
            };
            ids[f] = id.unwrap_or(NO_ID);
        }
        for &f in &self.num_fields {
            self.num_val[f] = match self.fields[f].get_ref(flow) {
                None => Num::Absent,
                Some(r) => r.as_f64().map_or(Num::NotANumber, Num::Is),
            };
        }
    }

    fn view(&self) -> Reads<'_> {
        Reads {
            fields: &self.fields,
            filters: &self.filter_val,
            label_ids: &self.label_ids,
            nums: &self.num_val,
        }
    }
}

/// What [`FlowMemo::read`] read of the current flow.
struct Reads<'a> {
    fields: &'a [Reader],
    filters: &'a [bool],
    label_ids: &'a [u32],
    nums: &'a [Num],
}

impl Reads<'_> {
    /// Whether the flow passes a metric's filter groups.
    #[inline]
    fn passes(&self, groups: &[Vec<usize>]) -> bool {
        groups.iter().all(|g| g.iter().any(|&j| self.filters[j]))
    }

    /// The text of the flow's value of label field `i` ("" when absent).
    fn label_text(&self, i: usize, flow: &Flow) -> String {
        self.fields[i]
            .get_ref(flow)
            .map_or_else(String::new, |r| r.with_text(str::to_string))
    }
}

/// The value(s) a flow gives a metric; `None` when it gives none (no value field: skipped, as
/// upstream; an unusable value: counted as an error).
#[inline(always)]
fn value_of(
    def: &Compiled,
    flow: &Flow,
    reads: &Reads<'_>,
    out: &mut ObserveOutcome,
) -> Option<Values> {
    match def.value_field {
        Some(i) => match reads.nums[i] {
            Num::Absent => None,
            Num::Is(f) => number(def, f, out),
            Num::NotANumber => value_of_read(def, flow, out),
        },
        None if def.value.is_none() => Some(Values::One(1.0)),
        None => value_of_read(def, flow, out),
    }
}

#[inline(always)]
fn number(def: &Compiled, f: f64, out: &mut ObserveOutcome) -> Option<Values> {
    let v = scale(def, f);
    if (def.kind == MetricType::Counter && v < 0.0) || f.is_nan() {
        return value_error(def, f, out);
    }
    Some(Values::One(v))
}

#[cold]
fn value_error(def: &Compiled, f: f64, out: &mut ObserveOutcome) -> Option<Values> {
    let what = if f.is_nan() {
        format!("{:?} is NaN", def.value_name)
    } else {
        format!(
            "{:?} is negative ({f}): a counter only grows",
            def.value_name
        )
    };
    count_error(def, what, out)
}

fn count_error(def: &Compiled, what: String, out: &mut ObserveOutcome) -> Option<Values> {
    out.errors += 1;
    if out.first_error.is_none() {
        out.first_error = Some(format!("metric {:?}: {what}", def.name));
    }
    None
}

/// [`value_of`] reading the field itself: flattened metrics, `agg_histogram` lists, values
/// that are not numbers.
#[cold]
fn value_of_read(def: &Compiled, flow: &Flow, out: &mut ObserveOutcome) -> Option<Values> {
    let path = def.value.as_ref()?;
    if def.kind == MetricType::AggHistogram {
        let v = path.get(flow)?;
        let Value::List(items) = v else {
            let what = format!("{:?} is not a list of numbers", def.value_name);
            return count_error(def, what, out);
        };
        let mut values = Vec::with_capacity(items.len());
        for i in &items {
            match i.as_f64() {
                Some(f) => values.push(scale(def, f)),
                None => {
                    let what = format!("{:?} holds {i}, not a number", def.value_name);
                    return count_error(def, what, out);
                }
            }
        }
        return Some(Values::Many(values));
    }
    let r = path.get_ref(flow)?;
    match r.as_f64() {
        Some(f) => number(def, f, out),
        None => {
            let what = format!(
                "{:?} holds {}, not a number",
                def.value_name,
                r.with_text(str::to_string)
            );
            count_error(def, what, out)
        }
    }
}

fn scale(def: &Compiled, v: f64) -> f64 {
    if def.scale != 0.0 { v / def.scale } else { v }
}

enum Values {
    One(f64),
    Many(Vec<f64>),
}

fn new_cell(def: &Compiled, now: u64) -> Cell {
    let value = match def.kind {
        MetricType::Counter | MetricType::Gauge => SeriesValue::Scalar(0.0),
        MetricType::Histogram | MetricType::AggHistogram => SeriesValue::Hist {
            counts: vec![0; def.buckets.len() + 1].into_boxed_slice(),
            sum: 0.0,
            count: 0,
        },
    };
    Cell { last: now, value }
}

/// Applies a flow's value(s) to a series.
#[inline]
fn apply(def: &Compiled, cell: &mut Cell, now: u64, values: &Values) {
    cell.last = now;
    match (&mut cell.value, values) {
        (SeriesValue::Scalar(v), Values::One(x)) => {
            if def.kind == MetricType::Gauge {
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
                let i = def.buckets.partition_point(|b| b < x);
                counts[i] += 1;
                *sum += *x;
                *count += 1;
            }
        }
        (SeriesValue::Scalar(_), Values::Many(_)) => {}
    }
}

impl Collector for PromEncoder {
    fn desc(&self) -> Vec<&Desc> {
        self.descs.iter().collect()
    }

    fn collect(&self) -> Vec<proto::MetricFamily> {
        let st = self.lock();
        let mut families = Vec::with_capacity(st.metrics.len());
        for m in &st.metrics {
            if m.series == 0 {
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
            let mut out = Vec::with_capacity(m.series);
            for e in st.groups[m.group].entries.iter() {
                let Some(s) = &e.cells[m.pos] else {
                    continue;
                };
                let mut metric = proto::Metric::default();
                let labels = e
                    .ids
                    .iter()
                    .zip(&names)
                    .map(|(id, n)| {
                        let mut p = proto::LabelPair::default();
                        p.set_name(n.to_string());
                        p.set_value(st.dict.text(*id).to_string());
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
