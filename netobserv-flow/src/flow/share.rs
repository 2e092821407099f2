//! Sharing of repeated groups between the flows decoded on a thread.
//!
//! Decoders build each side's [`K8sIdentity`] and the [`Interfaces`] list field by field; the
//! same identities and lists repeat across flows (one per endpoint, a few per node).
//! [`Flow::share_groups`] swaps a freshly built group for an equal one seen recently, so the flows
//! of an endpoint hold one allocation, and keeps the fresh one (emptied) as the next decode's
//! storage, so decoding a known endpoint allocates nothing.

use std::cell::RefCell;
use std::sync::Arc;

use super::layout::{Flow, Interfaces, K8sIdentity};

/// Entries of each per-thread table: direct-mapped by the addresses of interned strings.
const SLOTS: usize = 1024;
/// Emptied groups kept for reuse, per type.
const SPARES: usize = 4;

pub(super) struct Table<T> {
    recent: Vec<Option<Arc<T>>>,
    spares: Vec<Arc<T>>,
}

impl<T> Table<T> {
    fn new() -> Self {
        Table {
            recent: (0..SLOTS).map(|_| None).collect(),
            spares: Vec::with_capacity(SPARES),
        }
    }
}

/// A group that can be shared through a per-thread table.
pub(super) trait Shared: Default + PartialEq + Sized + 'static {
    /// A cheap key: interned strings have one address per thread for equal text.
    fn key(&self) -> usize;
    /// Empties the group.
    fn reset(&mut self);
    fn with_table<R>(f: impl FnOnce(&mut Table<Self>) -> R) -> R;
}

fn addr(s: &Option<Arc<str>>) -> usize {
    s.as_ref()
        .map_or(0, |s| Arc::as_ptr(s).cast::<u8>() as usize)
}

impl Shared for K8sIdentity {
    fn key(&self) -> usize {
        addr(&self.name)
            ^ addr(&self.namespace).rotate_left(17)
            ^ addr(&self.host_name).rotate_left(31)
    }

    fn reset(&mut self) {
        *self = K8sIdentity::default();
    }

    fn with_table<R>(f: impl FnOnce(&mut Table<Self>) -> R) -> R {
        thread_local! {
            static T: RefCell<Table<K8sIdentity>> = RefCell::new(Table::new());
        }
        T.with(|t| f(&mut t.borrow_mut()))
    }
}

impl Shared for Interfaces {
    fn key(&self) -> usize {
        let first = |v: &Option<Vec<Arc<str>>>| {
            v.as_ref()
                .and_then(|v| v.first())
                .map_or(0, |s| Arc::as_ptr(s).cast::<u8>() as usize)
        };
        let dirs = self.if_directions.as_ref().map_or(0, |d| {
            d.iter().fold(d.len(), |h, b| h * 3 + usize::from(*b))
        });
        first(&self.interfaces) ^ first(&self.udns).rotate_left(17) ^ dirs.rotate_left(40)
    }

    fn reset(&mut self) {
        *self = Interfaces::default();
    }

    fn with_table<R>(f: impl FnOnce(&mut Table<Self>) -> R) -> R {
        thread_local! {
            static T: RefCell<Table<Interfaces>> = RefCell::new(Table::new());
        }
        T.with(|t| f(&mut t.borrow_mut()))
    }
}

/// A new group to fill: an emptied spare of this thread, or a new allocation.
pub(super) fn fresh<T: Shared>() -> Arc<T> {
    T::with_table(|t| t.spares.pop()).unwrap_or_default()
}

/// Replaces a group held only by this flow with an equal recent one, keeping the fresh one for
/// reuse; a group with no equal recent one becomes the recent one of its slot.
fn share<T: Shared>(slot: &mut Option<Arc<T>>) {
    let Some(mine) = slot.as_mut() else { return };
    if Arc::get_mut(mine).is_none() {
        // Already shared (handed out by enrichment, or copied from another flow).
        return;
    }
    // Fibonacci hashing: the keys are addresses, whose low bits are always zero.
    let i = (mine.key().wrapping_mul(0x9E37_79B9_7F4A_7C15_u64 as usize)
        >> (usize::BITS - SLOTS.trailing_zeros()))
        % SLOTS;
    T::with_table(|t| match &t.recent[i] {
        Some(known) if **known == **mine => {
            let mut spare = std::mem::replace(mine, known.clone());
            if t.spares.len() < SPARES
                && let Some(s) = Arc::get_mut(&mut spare)
            {
                s.reset();
                t.spares.push(spare);
            }
        }
        _ => t.recent[i] = Some(mine.clone()),
    });
}

impl Flow {
    /// Shares this flow's Kubernetes identities and interface list with equal ones recently
    /// decoded on this thread. Decoders call it once per flow; the fields do not change.
    pub fn share_groups(&mut self) {
        share(&mut self.src_k8s);
        share(&mut self.dst_k8s);
        share(&mut self.ifaces);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use crate::codec::json;

    #[test]
    fn decoded_flows_of_one_endpoint_share_its_identity_and_stay_equal() {
        let line = r#"{"Bytes":1,"Interfaces":["eth0"],"IfDirections":[0],"SrcK8S_Name":"a","SrcK8S_Namespace":"ns","DstK8S_Name":"b","DstK8S_Namespace":"ns"}"#;
        let other = r#"{"Bytes":1,"SrcK8S_Name":"c","SrcK8S_Namespace":"ns"}"#;
        let f1 = json::decode(line.as_bytes()).unwrap();
        let f2 = json::decode(other.as_bytes()).unwrap();
        let mut f3 = json::decode(line.as_bytes()).unwrap();
        assert_eq!(f1, f3);
        assert!(Arc::ptr_eq(f1.src_k8s().unwrap(), f3.src_k8s().unwrap()));
        assert!(Arc::ptr_eq(f1.dst_k8s().unwrap(), f3.dst_k8s().unwrap()));
        assert!(Arc::ptr_eq(
            f1.interface_list().unwrap(),
            f3.interface_list().unwrap()
        ));
        assert!(!Arc::ptr_eq(f1.src_k8s().unwrap(), f2.src_k8s().unwrap()));
        assert_eq!(f2.src_k8s_name(), Some("c"));
        // Writing one flow's shared identity copies it: the others keep theirs.
        f3.set_src_k8s_zone("z".into());
        assert_eq!(f3.src_k8s_zone(), Some("z"));
        assert_eq!(f1.src_k8s_zone(), None);
        assert_eq!(f3.src_k8s_name(), Some("a"));
        // f3's identity is its own now; f1's is shared with the thread's table.
        assert!(f3.mem_size() > f1.mem_size());
        assert!(f1.mem_size() >= std::mem::size_of::<crate::Flow>());
    }
}
