//! Run-time fields: names that are not in the catalogue (`add_field` outputs, renamed keys,
//! labels, unknown JSON keys).
//!
//! A name a config uses is resolved once, when the pipeline is built, to a [`SlotKey`]: an
//! interned name compared by address, so writing it on a flow costs no string comparison and no
//! reference-count write. Names known only at run time (unknown JSON keys, one field per pod label)
//! go to an overflow map. A name lives in one place at a time: writing a slot removes the same
//! name from the overflow map, and writing by name replaces a slot of that name.

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::sync::{Arc, Mutex};

use smallvec::SmallVec;

use crate::value::Value;

/// A run-time field name interned at configuration time. Equal names give the same key.
///
/// Interned names live for the whole process: resolve them from configuration (bounded), not from
/// per-flow data — keys seen only in data belong in [`Flow::extra_insert`](super::Flow::extra_insert).
#[derive(Clone, Copy)]
pub struct SlotKey(&'static str);

impl SlotKey {
    /// How many names the process interns at most.
    pub const MAX: usize = 16_384;

    /// The key for a name, interning it on first use; `None` once [`SlotKey::MAX`] names are
    /// interned and this one is not among them (then use the name: [`Flow::extra_insert`]).
    ///
    /// [`Flow::extra_insert`]: super::Flow::extra_insert
    pub fn try_intern(name: &str) -> Option<SlotKey> {
        static NAMES: Mutex<Option<HashSet<&'static str>>> = Mutex::new(None);
        let mut names = NAMES
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let names = names.get_or_insert_with(HashSet::new);
        if let Some(n) = names.get(name) {
            return Some(SlotKey(n));
        }
        if names.len() >= Self::MAX {
            return None;
        }
        let leaked: &'static str = Box::leak(name.to_owned().into_boxed_str());
        names.insert(leaked);
        Some(SlotKey(leaked))
    }

    /// The name.
    pub fn name(self) -> &'static str {
        self.0
    }
}

impl PartialEq for SlotKey {
    fn eq(&self, other: &SlotKey) -> bool {
        // Interned: one address per name.
        std::ptr::eq(self.0, other.0)
    }
}

impl Eq for SlotKey {}

impl std::hash::Hash for SlotKey {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.0.hash(state)
    }
}

impl fmt::Debug for SlotKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.0, f)
    }
}

/// The run-time fields of one flow: slots sorted by name, then the overflow map.
#[derive(Clone, Default)]
pub(super) struct Extra {
    slots: SmallVec<[(SlotKey, Value); 2]>,
    overflow: BTreeMap<Arc<str>, Value>,
}

impl Extra {
    pub(super) fn len(&self) -> usize {
        self.slots.len() + self.overflow.len()
    }

    pub(super) fn mem_size(&self) -> usize {
        let entry = std::mem::size_of::<(SlotKey, Value)>();
        std::mem::size_of::<Extra>()
            + self.slots.len().saturating_sub(self.slots.inline_size()) * entry
            // A B-tree entry: key, value and about a third of a node's overhead.
            + self.overflow.len() * (entry + 24)
    }

    pub(super) fn get(&self, name: &str) -> Option<&Value> {
        match self.slots.iter().find(|(k, _)| k.0 == name) {
            Some((_, v)) => Some(v),
            None => self.overflow.get(name),
        }
    }

    pub(super) fn slot(&self, key: SlotKey) -> Option<&Value> {
        match self.slots.iter().find(|(k, _)| *k == key) {
            Some((_, v)) => Some(v),
            // Written by name (a decoder's unknown key) before any slot of that name.
            None if !self.overflow.is_empty() => self.overflow.get(key.0),
            None => None,
        }
    }

    pub(super) fn set_slot(&mut self, key: SlotKey, value: Value) -> Option<Value> {
        let old = if self.overflow.is_empty() {
            None
        } else {
            self.overflow.remove(key.0)
        };
        match self.slots.binary_search_by(|(k, _)| k.0.cmp(key.0)) {
            Ok(i) => Some(std::mem::replace(&mut self.slots[i].1, value)),
            Err(i) => {
                self.slots.insert(i, (key, value));
                old
            }
        }
    }

    pub(super) fn insert(&mut self, name: Arc<str>, value: Value) -> Option<Value> {
        match self.slots.iter_mut().find(|(k, _)| k.0 == &*name) {
            Some((_, v)) => Some(std::mem::replace(v, value)),
            None => self.overflow.insert(name, value),
        }
    }

    pub(super) fn remove(&mut self, name: &str) -> Option<Value> {
        match self.slots.iter().position(|(k, _)| k.0 == name) {
            Some(i) => Some(self.slots.remove(i).1),
            None => self.overflow.remove(name),
        }
    }

    pub(super) fn remove_slot(&mut self, key: SlotKey) -> Option<Value> {
        match self.slots.iter().position(|(k, _)| *k == key) {
            Some(i) => Some(self.slots.remove(i).1),
            None if !self.overflow.is_empty() => self.overflow.remove(key.0),
            None => None,
        }
    }

    /// Slots and overflow merged, sorted by name (bytewise).
    pub(super) fn iter(&self) -> Merged<'_> {
        Merged {
            slots: &self.slots,
            overflow: self.overflow.iter().peekable(),
        }
    }
}

impl fmt::Debug for Extra {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

/// The fields of an [`Extra`] in name order.
pub(super) struct Merged<'a> {
    slots: &'a [(SlotKey, Value)],
    overflow: std::iter::Peekable<std::collections::btree_map::Iter<'a, Arc<str>, Value>>,
}

impl<'a> Iterator for Merged<'a> {
    type Item = (&'a str, &'a Value);

    fn next(&mut self) -> Option<Self::Item> {
        let slot_first = match (self.slots.first(), self.overflow.peek()) {
            (None, None) => return None,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (Some((k, _)), Some((n, _))) => k.0.as_bytes() < n.as_bytes(),
        };
        if slot_first {
            let ((k, v), rest) = self.slots.split_first()?;
            self.slots = rest;
            Some((k.0, v))
        } else {
            self.overflow.next().map(|(k, v)| (&**k, v))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::Flow;

    #[test]
    fn a_name_lives_in_one_place_and_iterates_in_order() {
        let key = |n| SlotKey::try_intern(n).unwrap();
        let (b, d) = (key("b_slot"), key("d_slot"));
        assert_eq!(b, key("b_slot"));
        let mut f = Flow::default();
        // Decoded by name first, then written through a slot: one entry.
        f.extra_insert("d_slot", Value::UInt(1));
        f.extra_insert("c", Value::UInt(2));
        assert_eq!(f.slot_get(d), Some(&Value::UInt(1)));
        assert_eq!(f.slot_set(d, Value::UInt(3)), Some(Value::UInt(1)));
        f.slot_set(b, Value::UInt(4));
        f.extra_insert("a", Value::UInt(5));
        // Written by name while a slot holds it: the slot is replaced.
        assert_eq!(
            f.extra_insert("b_slot", Value::UInt(6)),
            Some(Value::UInt(4))
        );
        let all: Vec<_> = f.extra_iter().map(|(k, v)| (k, v.clone())).collect();
        assert_eq!(
            all,
            [
                ("a", Value::UInt(5)),
                ("b_slot", Value::UInt(6)),
                ("c", Value::UInt(2)),
                ("d_slot", Value::UInt(3)),
            ]
        );
        assert_eq!(f.extra_len(), 4);
        assert_eq!(f.extra_get("d_slot"), Some(&Value::UInt(3)));
        assert_eq!(f.slot_remove(d), Some(Value::UInt(3)));
        assert_eq!(f.extra_remove("b_slot"), Some(Value::UInt(6)));
        assert_eq!(f.slot_get(b), None);
        assert_eq!(f.extra_len(), 2);
        // Equality is by name and value, wherever the value is kept.
        let mut g = Flow::default();
        g.extra_insert("c", Value::UInt(2));
        g.extra_insert("a", Value::UInt(5));
        assert_eq!(f, g);
    }
}
