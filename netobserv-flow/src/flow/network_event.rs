//! Network events.

use std::sync::Arc;

/// One network event (OVN ACL decision and the like): string keys to string values, sorted by key.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct NetworkEvent(pub Vec<(Arc<str>, Arc<str>)>);

impl NetworkEvent {
    /// Builds an event from key/value pairs; keys end up sorted, as upstream's JSON writes them.
    pub fn from_pairs(pairs: impl IntoIterator<Item = (Arc<str>, Arc<str>)>) -> Self {
        let mut v: Vec<_> = pairs.into_iter().collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        NetworkEvent(v)
    }

    /// The value of a key.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| &**k == key).map(|(_, v)| &**v)
    }
}
