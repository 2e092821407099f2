//! Where the series of a stage live: label values interned once in a [`Dict`], and one table
//! per distinct label list ([`Group`]) whose entries hold, for one label set, the series of
//! every metric that uses that list. A flow then costs one lookup per label list rather than
//! one per metric, and a lookup compares numbers rather than strings.

use std::hash::BuildHasher;

use foldhash::fast::FixedState;
use hashbrown::HashTable;

/// Label values, each stored once and named by a number; a value lives while a series key
/// holds it.
pub(crate) struct Dict {
    hasher: FixedState,
    /// `(hash of the text, id)`.
    table: HashTable<(u64, u32)>,
    texts: Vec<Box<str>>,
    /// How many series keys hold each id.
    refs: Vec<u32>,
    free: Vec<u32>,
    /// The id of "" (the value of absent fields), if held.
    empty: Option<u32>,
}

impl Dict {
    pub(crate) fn new(hasher: FixedState) -> Dict {
        Dict {
            hasher,
            table: HashTable::new(),
            texts: Vec::new(),
            refs: Vec::new(),
            free: Vec::new(),
            empty: None,
        }
    }

    /// The id of a value some series key holds.
    #[inline]
    pub(crate) fn find(&self, text: &str) -> Option<u32> {
        let h = self.hasher.hash_one(text);
        self.table
            .find(h, |&(eh, id)| eh == h && *self.texts[id as usize] == *text)
            .map(|&(_, id)| id)
    }

    /// The id of "", if some series key holds it.
    #[inline]
    pub(crate) fn empty(&self) -> Option<u32> {
        self.empty
    }

    /// The id of a value, interned if new, held once more.
    pub(crate) fn acquire(&mut self, text: &str) -> u32 {
        if let Some(id) = self.find(text) {
            self.refs[id as usize] += 1;
            return id;
        }
        let id = match self.free.pop() {
            Some(id) => {
                self.texts[id as usize] = text.into();
                self.refs[id as usize] = 1;
                id
            }
            None => {
                // Ids index a Vec: u32::MAX values cannot fit in memory before it is reached.
                debug_assert!(self.texts.len() < u32::MAX as usize);
                self.texts.push(text.into());
                self.refs.push(1);
                (self.texts.len() - 1) as u32
            }
        };
        let h = self.hasher.hash_one(text);
        self.table.insert_unique(h, (h, id), |&(h, _)| h);
        if text.is_empty() {
            self.empty = Some(id);
        }
        id
    }

    /// Holds an id once more.
    pub(crate) fn hold(&mut self, id: u32) {
        self.refs[id as usize] += 1;
    }

    /// Lets go of an id; the value is forgotten when no key holds it.
    pub(crate) fn release(&mut self, id: u32) {
        let r = &mut self.refs[id as usize];
        *r -= 1;
        if *r > 0 {
            return;
        }
        let text = std::mem::take(&mut self.texts[id as usize]);
        if text.is_empty() {
            self.empty = None;
        }
        let h = self.hasher.hash_one(&*text);
        if let Ok(e) = self.table.find_entry(h, |&(_, i)| i == id) {
            e.remove();
        }
        self.free.push(id);
    }

    pub(crate) fn text(&self, id: u32) -> &str {
        &self.texts[id as usize]
    }

    /// Number of distinct values held.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.table.len()
    }
}

/// The state of one series.
pub(crate) enum SeriesValue {
    Scalar(f64),
    Hist {
        /// Per bucket, not cumulative; the last one is `+Inf`.
        counts: Box<[u64]>,
        sum: f64,
        count: u64,
    },
}

/// One series: its value and when a flow last touched it.
pub(crate) struct Cell {
    /// Milliseconds since the stage state was created.
    pub(crate) last: u64,
    pub(crate) value: SeriesValue,
}

/// One label set of a group: the series of the group's metrics that have one for it.
pub(crate) struct Entry {
    pub(crate) hash: u64,
    /// The label values, as [`Dict`] ids, in the order of the group's label list.
    pub(crate) ids: Box<[u32]>,
    /// One per metric of the group.
    pub(crate) cells: Box<[Option<Cell>]>,
}

impl Entry {
    /// Whether this is the entry of a label set.
    #[inline]
    pub(crate) fn is(&self, hash: u64, ids: &[u32]) -> bool {
        self.hash == hash && *self.ids == *ids
    }
}

/// The metrics sharing one label list (for a flattened metric: that metric alone).
pub(crate) struct Group {
    /// The metrics, by index in the stage.
    pub(crate) metrics: Vec<usize>,
    /// The stage field index of each label read from the flow, in label order.
    pub(crate) labels: Vec<usize>,
    pub(crate) entries: HashTable<Entry>,
}

impl Group {
    pub(crate) fn new(labels: Vec<usize>) -> Group {
        Group {
            metrics: Vec::new(),
            labels,
            entries: HashTable::new(),
        }
    }

    /// Adds the entry of a label set not in the table, with `cells` empty series slots (its
    /// ids are held by the caller).
    pub(crate) fn insert<'e>(
        entries: &'e mut HashTable<Entry>,
        cells: usize,
        hash: u64,
        ids: &[u32],
    ) -> &'e mut Entry {
        let cells = (0..cells).map(|_| None).collect();
        entries
            .insert_unique(
                hash,
                Entry {
                    hash,
                    ids: ids.into(),
                    cells,
                },
                |e| e.hash,
            )
            .into_mut()
    }

    /// Removes the series no flow touched for `ttl` since `now` and the entries left without
    /// series; returns how many series per metric of the group were removed (added to
    /// `removed`).
    pub(crate) fn expire(&mut self, now: u64, ttl: u64, dict: &mut Dict, removed: &mut [usize]) {
        let metrics = &self.metrics;
        self.entries.retain(|e| {
            let mut live = false;
            for (k, cell) in e.cells.iter_mut().enumerate() {
                if let Some(c) = cell {
                    if now.saturating_sub(c.last) > ttl {
                        *cell = None;
                        removed[metrics[k]] += 1;
                    } else {
                        live = true;
                    }
                }
            }
            if !live {
                for id in e.ids.iter() {
                    dict.release(*id);
                }
            }
            live
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dict_values_live_while_held() {
        let mut d = Dict::new(FixedState::with_seed(1));
        let a = d.acquire("a");
        let b = d.acquire("b");
        assert_ne!(a, b);
        assert_eq!(d.acquire("a"), a);
        assert_eq!(d.find("a"), Some(a));
        assert_eq!(d.find("c"), None);
        d.release(a);
        assert_eq!(d.find("a"), Some(a), "still held once");
        d.release(a);
        assert_eq!(d.find("a"), None);
        assert_eq!(d.empty(), None);
        let e = d.acquire("");
        assert_eq!((d.empty(), d.find("")), (Some(e), Some(e)));
        d.release(e);
        assert_eq!((d.empty(), d.find("")), (None, None));
        assert_eq!(d.len(), 1);
        // The freed id is reused for the next new value.
        let c = d.acquire("c");
        assert_eq!(c, a);
        assert_eq!(d.text(c), "c");
        assert_eq!(d.text(b), "b");
        d.hold(b);
        d.release(b);
        assert_eq!(d.find("b"), Some(b));
    }
}
