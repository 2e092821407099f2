//! Field names from configs, resolved once to an accessor.
//!
//! A name is either a catalogue field (typed storage in [`Flow`]) or a run-time field in
//! [`Flow::extra_get`]. Configs resolve every name they use when the pipeline is built; the
//! [`FieldRegistry`] tracks which names exist at each point of the pipeline so that a name that is
//! neither a catalogue field nor produced upstream gets a start-up warning naming the nearest known
//! names.

use std::collections::BTreeSet;
use std::sync::Arc;

use crate::flow::{FieldId, FieldRef, Flow, SlotKey};
use crate::value::Value;

/// A resolved field name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FieldPath {
    /// A catalogue field.
    Typed(FieldId),
    /// A run-time field, by its name interned when the config was resolved.
    Slot(SlotKey),
    /// A run-time field by name: when the process has interned [`SlotKey::MAX`] names already
    /// (names resolved from data rather than configuration, say), so memory stays bounded.
    Name(Arc<str>),
}

impl FieldPath {
    /// Resolves a name.
    pub fn resolve(name: &str) -> FieldPath {
        match FieldId::from_name(name) {
            Some(id) => FieldPath::Typed(id),
            None => match SlotKey::try_intern(name) {
                Some(k) => FieldPath::Slot(k),
                None => FieldPath::Name(Arc::from(name)),
            },
        }
    }

    /// The field's name.
    pub fn name(&self) -> &str {
        match self {
            FieldPath::Typed(id) => id.name(),
            FieldPath::Slot(k) => k.name(),
            FieldPath::Name(n) => n,
        }
    }

    /// The value, if present.
    pub fn get(&self, f: &Flow) -> Option<Value> {
        match self {
            FieldPath::Typed(id) => f.get_field(*id).or_else(|| self.spilled(f).cloned()),
            FieldPath::Slot(k) => f.slot_get(*k).cloned(),
            FieldPath::Name(n) => f.extra_get(n).cloned(),
        }
    }

    /// A borrowed view of the value, if present.
    pub fn get_ref<'a>(&self, f: &'a Flow) -> Option<FieldRef<'a>> {
        match self {
            FieldPath::Typed(id) => f.field_ref(*id).or_else(|| self.spilled(f).map(value_ref)),
            FieldPath::Slot(k) => f.slot_get(*k).map(value_ref),
            FieldPath::Name(n) => f.extra_get(n).map(value_ref),
        }
    }

    /// A catalogue name whose value had an incompatible type lives in `extra` (see [`Self::set`]).
    fn spilled<'a>(&self, f: &'a Flow) -> Option<&'a Value> {
        if f.extra_len() == 0 {
            None
        } else {
            f.extra_get(self.name())
        }
    }

    /// Whether the field is present.
    pub fn has(&self, f: &Flow) -> bool {
        match self {
            FieldPath::Typed(id) => f.has_field(*id) || self.spilled(f).is_some(),
            FieldPath::Slot(k) => f.slot_get(*k).is_some(),
            FieldPath::Name(n) => f.extra_get(n).is_some(),
        }
    }

    /// Sets the field. A value a catalogue field cannot hold (a string in `SrcPort`, say) is kept
    /// under the same name in the run-time map, so the JSON output is what upstream's map-based
    /// pipeline would write.
    pub fn set(&self, f: &mut Flow, value: Value) {
        match self {
            FieldPath::Typed(id) => {
                if f.set_field(*id, &value).is_err() {
                    f.clear_field(*id);
                    f.extra_insert(Arc::from(id.name()), value);
                } else if f.extra_len() != 0 {
                    f.extra_remove(id.name());
                }
            }
            FieldPath::Name(n) => {
                f.extra_insert(n.clone(), value);
            }
            FieldPath::Slot(k) => {
                f.slot_set(*k, value);
            }
        }
    }

    /// Removes the field, returning its value.
    pub fn take(&self, f: &mut Flow) -> Option<Value> {
        match self {
            FieldPath::Typed(id) => {
                let spilled = if f.extra_len() == 0 {
                    None
                } else {
                    f.extra_remove(id.name())
                };
                f.take_field(*id).or(spilled)
            }
            FieldPath::Slot(k) => f.slot_remove(*k),
            FieldPath::Name(n) => f.extra_remove(n),
        }
    }

    /// Removes the field.
    pub fn remove(&self, f: &mut Flow) {
        self.take(f);
    }
}

fn value_ref(v: &Value) -> FieldRef<'_> {
    match v {
        Value::Str(s) => FieldRef::Str(s),
        Value::UInt(u) => FieldRef::UInt(*u),
        Value::Int(i) => FieldRef::Int(*i),
        Value::Ip(ip) => FieldRef::Ip(*ip),
        other => FieldRef::Other(other.clone()),
    }
}

/// The names known at a point of the pipeline: the catalogue plus what earlier stages produce.
#[derive(Clone, Debug, Default)]
pub struct FieldRegistry {
    produced: BTreeSet<String>,
    warnings: Vec<String>,
}

impl FieldRegistry {
    /// A registry knowing only the catalogue.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records a name produced by a stage.
    pub fn produce(&mut self, name: &str) {
        self.produced.insert(name.to_string());
    }

    /// Whether a name is known.
    pub fn knows(&self, name: &str) -> bool {
        FieldId::from_name(name).is_some() || self.produced.contains(name)
    }

    /// Resolves a name a stage reads; an unknown one adds a warning naming `stage` and the
    /// nearest known names.
    pub fn read(&mut self, stage: &str, name: &str) -> FieldPath {
        if !self.knows(name) {
            let near = self.nearest(name);
            let hint = if near.is_empty() {
                String::new()
            } else {
                format!("; did you mean {}?", near.join(", "))
            };
            self.warnings.push(format!(
                "stage {stage:?}: field {name:?} is neither a flow field nor produced by an earlier stage{hint}"
            ));
        }
        FieldPath::resolve(name)
    }

    /// Resolves a name a stage writes, recording it as produced.
    pub fn write(&mut self, name: &str) -> FieldPath {
        self.produce(name);
        FieldPath::resolve(name)
    }

    /// Up to three known names closest to `name`.
    pub fn nearest(&self, name: &str) -> Vec<String> {
        let lower = name.to_ascii_lowercase();
        let mut scored: Vec<(f64, &str)> = FieldId::ALL
            .iter()
            .map(|f| f.name())
            .chain(self.produced.iter().map(String::as_str))
            .map(|cand| {
                (
                    strsim::jaro_winkler(&lower, &cand.to_ascii_lowercase()),
                    cand,
                )
            })
            .filter(|(score, _)| *score >= 0.8)
            .collect();
        scored.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.cmp(b.1)));
        // A stage may re-produce a catalogue name (`fields.write("Bytes")`): name it once.
        scored.dedup_by(|a, b| a.1 == b.1);
        scored
            .into_iter()
            .take(3)
            .map(|(_, n)| n.to_string())
            .collect()
    }

    /// Adds a start-up warning of a stage's own (a setting it ignores, a feature it lacks).
    pub fn warn(&mut self, stage: &str, message: impl std::fmt::Display) {
        self.warnings.push(format!("stage {stage:?}: {message}"));
    }

    /// The warnings gathered so far, drained.
    pub fn take_warnings(&mut self) -> Vec<String> {
        std::mem::take(&mut self.warnings)
    }

    /// Adds the names another registry knows (for a stage that follows several stages).
    pub fn merge(&mut self, other: &FieldRegistry) {
        self.produced.extend(other.produced.iter().cloned());
    }

    /// A copy for a branch of the pipeline.
    pub fn fork(&self) -> Self {
        FieldRegistry {
            produced: self.produced.clone(),
            warnings: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typo_warns_with_nearest_names() {
        let mut reg = FieldRegistry::new();
        reg.read("filter", "SrcK8S_Namespace");
        assert!(reg.take_warnings().is_empty());
        reg.read("filter", "SrcK8S_Namspace");
        let w = reg.take_warnings();
        assert_eq!(w.len(), 1);
        assert!(w[0].contains("did you mean SrcK8S_Namespace"), "{}", w[0]);
        reg.write("my_label");
        reg.read("filter", "my_label");
        assert!(reg.take_warnings().is_empty());
        // A catalogue name also produced by a stage is suggested once.
        reg.write("SrcK8S_Namespace");
        assert_eq!(
            reg.nearest("SrcK8S_Namspace")
                .iter()
                .filter(|n| *n == "SrcK8S_Namespace")
                .count(),
            1
        );
    }

    #[test]
    fn incompatible_value_spills_to_extra_under_the_same_name() {
        let mut f = Flow::default();
        let port = FieldPath::resolve("SrcPort");
        port.set(&mut f, Value::str("http"));
        assert_eq!(f.src_port(), None);
        assert_eq!(port.get(&f), Some(Value::str("http")));
        port.set(&mut f, Value::UInt(80));
        assert_eq!(f.src_port(), Some(80));
        assert!(f.extra_len() == 0);
        assert_eq!(port.take(&mut f), Some(Value::UInt(80)));
        assert!(!port.has(&f));
    }
}
