//! One metric definition compiled for the hot path: field names resolved once, filters grouped
//! by key, regular expressions built, flattened labels and filters told apart (upstream's
//! `metrics.Preprocess`).

use std::sync::Arc;

use netobserv_flow::field::FieldPath;
use netobserv_flow::flow::{FieldRef, Flow};
use netobserv_flow::value::Value;
use regex::Regex;

use super::config::{FilterType, MetricDef, MetricType};
use crate::{Error, Result};

/// Prometheus' default histogram buckets (client_golang's `DefBuckets`).
pub const DEFAULT_BUCKETS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// One flattened item: the keys of one list element (`NetworkEvents>Action`), or the list's own
/// name for a list of scalars.
pub(crate) type FlatPart = Vec<(Arc<str>, Value)>;

pub(crate) struct Filter {
    key: FieldPath,
    key_name: Arc<str>,
    kind: FilterType,
    value: String,
    /// `value` as an integer when that is its canonical text, to compare integers without text.
    value_int: Option<i128>,
    regex: Option<Regex>,
    /// The key names a flattened list item.
    flat: bool,
    /// Index of this filter among the stage's distinct filters (see [`Memo`]).
    pub(crate) slot: usize,
}

/// Per-flow memory of results shared by several metrics (the same filter, the same label
/// field): entries are valid while their generation is the current one.
#[derive(Default)]
pub(crate) struct Memo {
    cur: u32,
    filter_gen: Vec<u32>,
    filter_val: Vec<bool>,
    label_gen: Vec<u32>,
    label_span: Vec<(u32, u32)>,
    text: Vec<u8>,
}

impl Memo {
    pub(crate) fn new(filters: usize, labels: usize) -> Memo {
        Memo {
            cur: 1,
            filter_gen: vec![0; filters],
            filter_val: vec![false; filters],
            label_gen: vec![0; labels],
            label_span: vec![(0, 0); labels],
            text: Vec::with_capacity(1024),
        }
    }

    /// Forgets the previous flow.
    pub(crate) fn next_flow(&mut self) {
        self.cur = self.cur.wrapping_add(1);
        if self.cur == 0 {
            self.filter_gen.fill(0);
            self.label_gen.fill(0);
            self.cur = 1;
        }
        self.text.clear();
    }

    /// Appends the flow's value of `label` to a series key, reading the field once per flow.
    pub(crate) fn push_label(&mut self, key: &mut Vec<u8>, label: &Label, flow: &Flow) {
        let i = label.slot;
        if self.label_gen[i] != self.cur {
            let start = self.text.len();
            if let Some(r) = label.source.get_ref(flow) {
                let text = &mut self.text;
                r.with_text(|t| text.extend_from_slice(t.as_bytes()));
            }
            self.label_span[i] = (start as u32, (self.text.len() - start) as u32);
            self.label_gen[i] = self.cur;
        }
        let (start, len) = self.label_span[i];
        let bytes = &self.text[start as usize..(start + len) as usize];
        key.extend_from_slice(&len.to_le_bytes());
        key.extend_from_slice(bytes);
    }

    fn filter(&mut self, f: &Filter, flow: &Flow) -> bool {
        let i = f.slot;
        if self.filter_gen[i] != self.cur {
            self.filter_val[i] = f.on_flow(flow);
            self.filter_gen[i] = self.cur;
        }
        self.filter_val[i]
    }
}

impl Filter {
    fn on_text(&self, text: Option<&str>) -> bool {
        match self.kind {
            FilterType::Presence => text.is_some(),
            FilterType::Absence => text.is_none(),
            FilterType::Equal => text == Some(self.value.as_str()),
            FilterType::NotEqual => text != Some(self.value.as_str()),
            FilterType::MatchRegex => text.is_some_and(|t| self.regex_match(t)),
            FilterType::NotMatchRegex => !text.is_some_and(|t| self.regex_match(t)),
        }
    }

    fn regex_match(&self, t: &str) -> bool {
        self.regex.as_ref().is_some_and(|r| r.is_match(t))
    }

    fn on_flow(&self, flow: &Flow) -> bool {
        match self.kind {
            FilterType::Presence => self.key.has(flow),
            FilterType::Absence => !self.key.has(flow),
            _ => match self.key.get_ref(flow) {
                None => self.on_text(None),
                Some(r) => {
                    let int = match r {
                        FieldRef::UInt(u) => Some(u as i128),
                        FieldRef::Int(i) => Some(i as i128),
                        _ => None,
                    };
                    match (int, self.kind) {
                        (Some(v), FilterType::Equal) => self.value_int == Some(v),
                        (Some(v), FilterType::NotEqual) => self.value_int != Some(v),
                        _ => r.with_text(|t| self.on_text(Some(t))),
                    }
                }
            },
        }
    }

    fn on_part(&self, part: &FlatPart) -> bool {
        match part.iter().find(|(k, _)| **k == *self.key_name) {
            None => self.on_text(None),
            Some((_, v)) => match v {
                Value::Str(s) => self.on_text(Some(s)),
                other => self.on_text(Some(&other.to_text())),
            },
        }
    }
}

/// A label: where its value comes from and what it is called.
pub(crate) struct Label {
    pub(crate) source: FieldPath,
    /// Index of the field among the stage's distinct label fields (see [`Memo`]).
    pub(crate) slot: usize,
    pub(crate) source_name: Arc<str>,
    pub(crate) target: String,
}

/// A compiled metric.
pub(crate) struct Compiled {
    pub(crate) name: String,
    pub(crate) help: String,
    pub(crate) kind: MetricType,
    pub(crate) value: Option<FieldPath>,
    pub(crate) value_name: String,
    pub(crate) scale: f64,
    /// Labels read from a flattened item, first in the label order (as upstream).
    pub(crate) flat_labels: Vec<Label>,
    /// Labels read from the flow.
    pub(crate) labels: Vec<Label>,
    /// Filters grouped by key: every group must have a passing filter.
    filters: Vec<Vec<Filter>>,
    flatten: Vec<(FieldPath, Arc<str>)>,
    pub(crate) buckets: Vec<f64>,
}

fn valid_metric_name(n: &str) -> bool {
    !n.is_empty()
        && n.chars().enumerate().all(|(i, c)| {
            c.is_ascii_alphabetic() || c == '_' || c == ':' || (i > 0 && c.is_ascii_digit())
        })
}

fn valid_label_name(n: &str) -> bool {
    !n.is_empty()
        && !n.starts_with("__")
        && n.chars()
            .enumerate()
            .all(|(i, c)| c.is_ascii_alphabetic() || c == '_' || (i > 0 && c.is_ascii_digit()))
}

impl Compiled {
    pub(crate) fn new(def: &MetricDef, prefix: &str) -> Result<Compiled> {
        let name = format!("{prefix}{}", def.name);
        let err = |m: String| Error::Settings(format!("metric {name:?}: {m}"));
        if !valid_metric_name(&name) {
            return Err(err(
                "not a valid Prometheus metric name ([a-zA-Z_:][a-zA-Z0-9_:]*)".into(),
            ));
        }
        let is_flat = |field: &str| {
            def.flatten.iter().any(|f| {
                field == f
                    || field
                        .strip_prefix(f.as_str())
                        .is_some_and(|r| r.starts_with('>'))
            })
        };
        let mut labels = Vec::new();
        let mut flat_labels = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for l in &def.labels {
            let target = def
                .remap
                .get(l)
                .filter(|t| !t.is_empty())
                .unwrap_or(l)
                .clone();
            if !valid_label_name(&target) {
                return Err(err(format!(
                    "label {target:?} is not a valid Prometheus label name: rename it with remap"
                )));
            }
            if !seen.insert(target.clone()) {
                return Err(err(format!("label {target:?} appears twice")));
            }
            let label = Label {
                source: FieldPath::resolve(l),
                slot: 0,
                source_name: Arc::from(l.as_str()),
                target,
            };
            if is_flat(l) {
                flat_labels.push(label);
            } else {
                labels.push(label);
            }
        }
        let mut filters: Vec<Vec<Filter>> = Vec::new();
        for f in def.filters.iter().chain(def.filter.iter()) {
            let regex = match f.r#type {
                FilterType::MatchRegex | FilterType::NotMatchRegex => {
                    Some(Regex::new(&f.value).map_err(|e| {
                        err(format!(
                            "filter on {:?}: bad regular expression: {e}",
                            f.key
                        ))
                    })?)
                }
                _ => None,
            };
            let value_int = f
                .value
                .parse::<i128>()
                .ok()
                .filter(|v| v.to_string() == f.value);
            let filter = Filter {
                key: FieldPath::resolve(&f.key),
                key_name: Arc::from(f.key.as_str()),
                kind: f.r#type,
                value: f.value.clone(),
                value_int,
                regex,
                flat: is_flat(&f.key),
                slot: 0,
            };
            match filters.iter_mut().find(|g| *g[0].key_name == *f.key) {
                Some(g) => g.push(filter),
                None => filters.push(vec![filter]),
            }
        }
        let scale = def.value_scale.unwrap_or(0.0);
        if !scale.is_finite() {
            return Err(err("valueScale must be a finite number".into()));
        }
        let buckets = match def.r#type {
            MetricType::Histogram | MetricType::AggHistogram => {
                let mut b: Vec<f64> = if def.buckets.is_empty() {
                    DEFAULT_BUCKETS.to_vec()
                } else {
                    def.buckets.clone()
                };
                if b.iter().any(|v| v.is_nan()) || b.windows(2).any(|w| w[0] >= w[1]) {
                    return Err(err("buckets must be increasing numbers".into()));
                }
                if b.last() == Some(&f64::INFINITY) {
                    b.pop();
                }
                b
            }
            _ => Vec::new(),
        };
        Ok(Compiled {
            help: if def.help.is_empty() {
                name.clone()
            } else {
                def.help.clone()
            },
            name,
            kind: def.r#type,
            value: (!def.value_key.is_empty()).then(|| FieldPath::resolve(&def.value_key)),
            value_name: def.value_key.clone(),
            scale,
            flat_labels,
            labels,
            filters,
            flatten: def
                .flatten
                .iter()
                .map(|f| (FieldPath::resolve(f), Arc::from(f.as_str())))
                .collect(),
            buckets,
        })
    }

    /// The label names in series order (flattened ones first, as upstream's `TargetLabels`).
    pub(crate) fn label_names(&self) -> impl Iterator<Item = &str> {
        self.flat_labels
            .iter()
            .chain(&self.labels)
            .map(|l| l.target.as_str())
    }

    pub(crate) fn is_flattened(&self) -> bool {
        !self.flatten.is_empty()
    }

    /// Whether the flow passes the filters (for a metric without flattening).
    pub(crate) fn passes(&self, flow: &Flow, memo: &mut Memo) -> bool {
        self.filters
            .iter()
            .all(|group| group.iter().any(|f| memo.filter(f, flow)))
    }

    /// Gives every filter and label field its slot among the stage's distinct ones.
    pub(crate) fn assign_slots(
        &mut self,
        filters: &mut Vec<(Arc<str>, FilterType, String)>,
        labels: &mut Vec<Arc<str>>,
    ) {
        for f in self.filters.iter_mut().flatten() {
            let id = (f.key_name.clone(), f.kind, f.value.clone());
            f.slot = match filters.iter().position(|x| *x == id) {
                Some(i) => i,
                None => {
                    filters.push(id);
                    filters.len() - 1
                }
            };
        }
        for l in self.labels.iter_mut().chain(self.flat_labels.iter_mut()) {
            l.slot = match labels.iter().position(|x| *x == l.source_name) {
                Some(i) => i,
                None => {
                    labels.push(l.source_name.clone());
                    labels.len() - 1
                }
            };
        }
    }

    /// The flattened items of a flow that pass the filters; `None` when the flow does not.
    /// Upstream's `GenerateFlatParts` then `ApplyFilters`: the cartesian product of the
    /// flattened lists (one empty item when none is present).
    pub(crate) fn flat_parts(&self, flow: &Flow) -> Option<Vec<FlatPart>> {
        let mut per_field: Vec<Vec<FlatPart>> = Vec::new();
        for (path, name) in &self.flatten {
            let Some(Value::List(items)) = path.get(flow) else {
                continue;
            };
            let parts: Vec<FlatPart> = items
                .into_iter()
                .map(|item| match item {
                    Value::Map(kv) => kv
                        .into_iter()
                        .map(|(k, v)| (Arc::from(format!("{name}>{k}")), v))
                        .collect(),
                    scalar => vec![(name.clone(), scalar)],
                })
                .collect();
            if !parts.is_empty() {
                per_field.push(parts);
            }
        }
        let mut parts: Vec<FlatPart> = vec![Vec::new()];
        for field_parts in per_field {
            let mut next = Vec::with_capacity(parts.len() * field_parts.len());
            for p in &parts {
                for fp in &field_parts {
                    let mut merged = p.clone();
                    merged.extend(fp.iter().cloned());
                    next.push(merged);
                }
            }
            parts = next;
        }
        for group in &self.filters {
            // A group passes with its first filter that passes; a flattened filter narrows the
            // items down to those it accepts.
            let mut passed = false;
            for f in group {
                if f.flat {
                    let kept: Vec<FlatPart> =
                        parts.iter().filter(|p| f.on_part(p)).cloned().collect();
                    if !kept.is_empty() {
                        parts = kept;
                        passed = true;
                        break;
                    }
                } else if f.on_flow(flow) {
                    passed = true;
                    break;
                }
            }
            if !passed {
                return None;
            }
        }
        Some(parts)
    }
}

/// Appends a label value to a series key: its length then its bytes, so that keys of different
/// label values never collide.
pub(crate) fn push_label(key: &mut Vec<u8>, text: &str) {
    key.extend_from_slice(&(text.len() as u32).to_le_bytes());
    key.extend_from_slice(text.as_bytes());
}

/// Appends the flow's value of `label` ("" when absent, as upstream).
pub(crate) fn push_flow_label(key: &mut Vec<u8>, label: &Label, flow: &Flow) {
    match label.source.get_ref(flow) {
        None => push_label(key, ""),
        Some(r) => r.with_text(|t| push_label(key, t)),
    }
}

/// Appends a flattened item's value of `label`.
pub(crate) fn push_part_label(key: &mut Vec<u8>, label: &Label, part: &FlatPart) {
    match part.iter().find(|(k, _)| **k == *label.source_name) {
        None => push_label(key, ""),
        Some((_, Value::Str(s))) => push_label(key, s),
        Some((_, v)) => push_label(key, &v.to_text()),
    }
}

/// Splits a series key back into its label values.
pub(crate) fn split_key(mut key: &[u8]) -> Vec<String> {
    let mut out = Vec::new();
    while key.len() >= 4 {
        let n = u32::from_le_bytes([key[0], key[1], key[2], key[3]]) as usize;
        let end = (4 + n).min(key.len());
        out.push(String::from_utf8_lossy(&key[4..end]).into_owned());
        key = &key[end..];
    }
    out
}
