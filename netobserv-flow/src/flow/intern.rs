//! Sharing of repeated flow strings.

use std::sync::Arc;

/// Shares one allocation per distinct short string among the flows decoded on a thread: flow
/// strings (namespaces, pod and node names, interfaces) repeat across flows, so this saves an
/// allocation per string per flow and most of their memory. The table is bounded: it is
/// cleared when it reaches [`INTERN_MAX`] entries.
pub fn intern(v: &str) -> Arc<str> {
    use std::cell::RefCell;
    use std::collections::HashSet;
    thread_local! {
        static TABLE: RefCell<HashSet<Arc<str>, foldhash::fast::FixedState>> =
            RefCell::new(HashSet::with_hasher(foldhash::fast::FixedState::default()));
    }
    if v.len() > 96 {
        return Arc::from(v);
    }
    TABLE.with(|t| {
        let mut t = t.borrow_mut();
        if let Some(a) = t.get(v) {
            return a.clone();
        }
        if t.len() >= INTERN_MAX {
            t.clear();
        }
        let a: Arc<str> = Arc::from(v);
        t.insert(a.clone());
        a
    })
}

/// Bound of the per-thread string table of [`intern`].
pub const INTERN_MAX: usize = 65_536;
