//! Label values of the Kubernetes identities of flows (`SrcK8S_*`, `DstK8S_*`), looked up once
//! per identity rather than once per flow.
//!
//! Enrichment and the decoders hand every flow of an endpoint the same `Arc<K8sIdentity>`
//! ([`Flow::src_k8s`]), and a shared identity never changes (writing one copies it first). So
//! the [`Dict`] ids of an identity's label values are kept by the identity's address; holding
//! a clone of the `Arc` keeps the address from being reused for another identity.

use std::sync::Arc;

use hashbrown::HashTable;
use netobserv_flow::flow::{FieldId, Flow, K8sIdentity};

use super::series::Dict;

/// One member of a [`K8sIdentity`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Member {
    HostIp,
    HostName,
    Name,
    Namespace,
    NetworkName,
    OwnerName,
    OwnerType,
    Kind,
    Zone,
}

impl Member {
    /// The member a catalogue field reads, and whether on the source side.
    fn of(id: FieldId) -> Option<(bool, Member)> {
        use FieldId as F;
        Some(match id {
            F::SrcK8sHostIp => (true, Member::HostIp),
            F::SrcK8sHostName => (true, Member::HostName),
            F::SrcK8sName => (true, Member::Name),
            F::SrcK8sNamespace => (true, Member::Namespace),
            F::SrcK8sNetworkName => (true, Member::NetworkName),
            F::SrcK8sOwnerName => (true, Member::OwnerName),
            F::SrcK8sOwnerType => (true, Member::OwnerType),
            F::SrcK8sType => (true, Member::Kind),
            F::SrcK8sZone => (true, Member::Zone),
            F::DstK8sHostIp => (false, Member::HostIp),
            F::DstK8sHostName => (false, Member::HostName),
            F::DstK8sName => (false, Member::Name),
            F::DstK8sNamespace => (false, Member::Namespace),
            F::DstK8sNetworkName => (false, Member::NetworkName),
            F::DstK8sOwnerName => (false, Member::OwnerName),
            F::DstK8sOwnerType => (false, Member::OwnerType),
            F::DstK8sType => (false, Member::Kind),
            F::DstK8sZone => (false, Member::Zone),
            _ => return None,
        })
    }

    /// The label id of the member's text ("" when absent, as upstream), if some series holds
    /// it.
    fn find(self, i: &K8sIdentity, dict: &Dict) -> Option<u32> {
        let s = match self {
            Member::HostIp => {
                return match i.host_ip {
                    Some(ip) => dict.find(&ip.to_string()),
                    None => dict.empty(),
                };
            }
            Member::HostName => &i.host_name,
            Member::Name => &i.name,
            Member::Namespace => &i.namespace,
            Member::NetworkName => &i.network_name,
            Member::OwnerName => &i.owner_name,
            Member::OwnerType => &i.owner_type,
            Member::Kind => &i.kind,
            Member::Zone => &i.zone,
        };
        match s {
            Some(s) => dict.find(s),
            None => dict.empty(),
        }
    }
}

struct Known {
    identity: Arc<K8sIdentity>,
    /// Per member read, its id (`None`: no series held the value when last looked up).
    ids: Box<[Option<u32>]>,
}

/// The hash of an identity's address: allocations are aligned, so the low bits are zero; the
/// high bits of the product are folded onto them.
#[inline]
fn addr_hash(identity: &Arc<K8sIdentity>) -> u64 {
    let h = (Arc::as_ptr(identity) as usize as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    h ^ (h >> 29)
}

/// The identities of one side seen lately.
struct Side {
    src: bool,
    /// The label fields of the stage on this side: field index and member.
    members: Vec<(usize, Member)>,
    known: HashTable<Known>,
}

/// Bound of the identities kept per side; past it, they are forgotten and learnt again.
const MAX_KNOWN: usize = 16_384;

/// The label ids of identity members, by identity.
pub(crate) struct IdentityIds {
    sides: Vec<Side>,
}

impl IdentityIds {
    /// For the label fields of a stage (index among the stage's fields, field id).
    pub(crate) fn new(labels: impl IntoIterator<Item = (usize, FieldId)>) -> IdentityIds {
        let mut sides: Vec<Side> = Vec::new();
        for (field, id) in labels {
            let Some((src, member)) = Member::of(id) else {
                continue;
            };
            let side = match sides.iter_mut().position(|s| s.src == src) {
                Some(i) => &mut sides[i],
                None => {
                    sides.push(Side {
                        src,
                        members: Vec::new(),
                        known: HashTable::new(),
                    });
                    sides.last_mut().expect("just pushed")
                }
            };
            if !side.members.iter().any(|(f, _)| *f == field) {
                side.members.push((field, member));
            }
        }
        IdentityIds { sides }
    }

    /// Whether field `f` is read through the identities.
    pub(crate) fn covers(&self, f: usize) -> bool {
        self.sides
            .iter()
            .any(|s| s.members.iter().any(|(field, _)| *field == f))
    }

    /// Forgets every identity (when ids may have been freed).
    pub(crate) fn clear(&mut self) {
        for s in &mut self.sides {
            s.known.clear();
        }
    }

    /// Calls `set(field, id)` for every identity label field of the stage with the id of the
    /// flow's value (`None`: no series holds it yet). Returns false, doing nothing, for a flow
    /// with run-time fields (a catalogue name can hold a value there, see [`FieldPath::get`]).
    ///
    /// [`FieldPath::get`]: netobserv_flow::field::FieldPath::get
    #[inline]
    pub(crate) fn resolve(
        &mut self,
        flow: &Flow,
        dict: &Dict,
        mut set: impl FnMut(usize, Option<u32>),
    ) -> bool {
        if flow.extra_len() != 0 {
            return false;
        }
        for side in &mut self.sides {
            let identity = if side.src {
                flow.src_k8s()
            } else {
                flow.dst_k8s()
            };
            let Some(identity) = identity else {
                let empty = dict.empty();
                for (field, _) in &side.members {
                    set(*field, empty);
                }
                continue;
            };
            let hash = addr_hash(identity);
            let known = match side
                .known
                .find_mut(hash, |k| Arc::ptr_eq(&k.identity, identity))
            {
                Some(k) => k,
                None => {
                    if side.known.len() >= MAX_KNOWN {
                        side.known.clear();
                    }
                    let ids = side.members.iter().map(|_| None).collect();
                    side.known
                        .insert_unique(
                            hash,
                            Known {
                                identity: identity.clone(),
                                ids,
                            },
                            |k| addr_hash(&k.identity),
                        )
                        .into_mut()
                }
            };
            for ((field, member), id) in side.members.iter().zip(known.ids.iter_mut()) {
                if id.is_none() {
                    *id = member.find(&known.identity, dict);
                }
                set(*field, *id);
            }
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_identity_field_maps_to_its_member() {
        // A field of each side and member, set to a distinct value, is read back through the
        // member it maps to.
        let mut n = 0;
        for id in FieldId::ALL {
            let Some((src, member)) = Member::of(*id) else {
                assert!(
                    !id.name().contains("K8S_")
                        || id.name() == "K8S_ClusterName"
                        || id.name() == "K8S_FlowLayer",
                    "{} is an identity field without a member",
                    id.name()
                );
                continue;
            };
            n += 1;
            assert_eq!(src, id.name().starts_with("Src"), "{}", id.name());
            let value = if member == Member::HostIp {
                netobserv_flow::value::Value::str("10.1.2.3")
            } else {
                netobserv_flow::value::Value::str(id.name())
            };
            let mut flow = Flow::default();
            flow.set_field(*id, &value).unwrap();
            let identity = if src { flow.src_k8s() } else { flow.dst_k8s() }.unwrap();
            let mut dict = Dict::new(foldhash::fast::FixedState::with_seed(3));
            let expected = dict.acquire(&value.to_text());
            assert_eq!(
                member.find(identity, &dict),
                Some(expected),
                "{}",
                id.name()
            );
        }
        assert_eq!(n, 18);
    }
}
