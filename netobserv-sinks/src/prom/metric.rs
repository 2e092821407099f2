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

#[derive(Clone)]
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
    /// Index of the key among the stage's distinct fields (see [`Compiled::assign_slots`]).
    pub(crate) field: usize,
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

    /// The filter on the value of its key (`None`: the flow has no such field).
    pub(crate) fn on_ref(&self, value: Option<&FieldRef<'_>>) -> bool {
        match (self.kind, value) {
            (FilterType::Presence, v) => v.is_some(),
            (FilterType::Absence, v) => v.is_none(),
            (_, None) => self.on_text(None),
            (kind, Some(r)) => {
                let int = match r {
                    FieldRef::UInt(u) => Some(*u as i128),
                    FieldRef::Int(i) => Some(*i as i128),
                    _ => None,
                };
                match (int, kind) {
                    (Some(v), FilterType::Equal) => self.value_int == Some(v),
                    (Some(v), FilterType::NotEqual) => self.value_int != Some(v),
                    _ => r.with_text(|t| self.on_text(Some(t))),
                }
            }
        }
    }

    fn on_flow(&self, flow: &Flow) -> bool {
        self.on_ref(self.key.get_ref(flow).as_ref())
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

    /// Whether two filters always give the same answer.
    fn same_as(&self, other: &Filter) -> bool {
        self.key_name == other.key_name && self.kind == other.kind && self.value == other.value
    }
}

/// A label: where its value comes from and what it is called.
pub(crate) struct Label {
    pub(crate) source: FieldPath,
    /// Index of the field among the stage's distinct fields (see [`Compiled::assign_slots`]).
    pub(crate) field: usize,
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
    /// The same groups as indexes among the stage's distinct filters (metrics without
    /// flattening; see [`Compiled::assign_slots`]).
    pub(crate) filter_slots: Vec<Vec<usize>>,
    /// Index of the value field among the stage's distinct fields.
    pub(crate) value_field: Option<usize>,
    flatten: Vec<(FieldPath, Arc<str>)>,
    /// A filter group only items can pass: flows without flattened items never count.
    needs_items: bool,
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
                field: 0,
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
                field: 0,
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
        let needs_items = filters
            .iter()
            .any(|g| g.iter().all(|f| f.flat && !f.on_part(&Vec::new())));
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
            filter_slots: Vec::new(),
            value_field: None,
            flatten: def
                .flatten
                .iter()
                .map(|f| (FieldPath::resolve(f), Arc::from(f.as_str())))
                .collect(),
            needs_items,
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

    /// Gives every field this metric reads on the flow (labels, filters and value, for a
    /// metric without flattening; the flow labels of a flattened one) its index among the
    /// stage's distinct `fields`, and every filter its index among the stage's distinct
    /// `filters`, so that a flow's field is read and a filter evaluated once per flow however
    /// many metrics use them.
    pub(crate) fn assign_slots(&mut self, fields: &mut Vec<FieldPath>, filters: &mut Vec<Filter>) {
        let mut slot = |path: &FieldPath| match fields.iter().position(|p| p.name() == path.name())
        {
            Some(i) => i,
            None => {
                fields.push(path.clone());
                fields.len() - 1
            }
        };
        for l in &mut self.labels {
            l.field = slot(&l.source);
        }
        if self.is_flattened() {
            return;
        }
        if self.kind != MetricType::AggHistogram {
            self.value_field = self.value.as_ref().map(&mut slot);
        }
        for f in self.filters.iter_mut().flatten() {
            f.field = slot(&f.key);
        }
        self.filter_slots = self
            .filters
            .iter()
            .map(|group| {
                group
                    .iter()
                    .map(|f| match filters.iter().position(|x| x.same_as(f)) {
                        Some(i) => i,
                        None => {
                            filters.push(f.clone());
                            filters.len() - 1
                        }
                    })
                    .collect()
            })
            .collect();
    }

    /// The flattened items of a flow that pass the filters; `None` when the flow does not.
    /// Upstream's `GenerateFlatParts` then `ApplyFilters`: the cartesian product of the
    /// flattened lists (one empty item when none is present).
    pub(crate) fn flat_parts(&self, flow: &Flow) -> Option<Vec<FlatPart>> {
        if !self.flatten.iter().any(|(path, _)| path.has(flow)) {
            if self.needs_items {
                return None;
            }
            // The one empty item: decide on the filters before allocating it.
            let empty: FlatPart = Vec::new();
            let passes = self.filters.iter().all(|group| {
                group.iter().any(|f| {
                    if f.flat {
                        f.on_part(&empty)
                    } else {
                        f.on_flow(flow)
                    }
                })
            });
            return passes.then(|| vec![empty]);
        }
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

/// The text of a flattened item's value of `label` ("" when absent, as upstream).
pub(crate) fn part_label_text(label: &Label, part: &FlatPart) -> String {
    match part.iter().find(|(k, _)| **k == *label.source_name) {
        None => String::new(),
        Some((_, Value::Str(s))) => s.to_string(),
        Some((_, v)) => v.to_text(),
    }
}
