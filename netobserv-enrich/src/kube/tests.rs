use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use netobserv_flow::flow::K8sIdentity;

use super::*;
use crate::IdentityLookup;
use crate::identity::{SecondaryIndex, SecondaryKey};

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// A clock that moves only when told.
struct ManualClock(Mutex<Instant>);

impl ManualClock {
    fn new() -> Arc<Self> {
        Arc::new(Self(Mutex::new(Instant::now())))
    }
    fn advance(&self, by: Duration) {
        *self.0.lock().unwrap() += by;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Instant {
        *self.0.lock().unwrap()
    }
}

fn owner(id: &K8sIdentity) -> (Option<&str>, Option<&str>) {
    (id.owner_name.as_deref(), id.owner_type.as_deref())
}

fn node1() -> Node {
    Node::new("worker-1", [ip("10.0.0.1"), ip("fd00::1")])
        .with_external_ips([ip("203.0.113.1")])
        .with_zone("eu-west-1a")
}

fn pod(name: &str, owner: Option<(&str, &str)>, ips: &[&str]) -> Pod {
    let mut meta = Meta::new("shop", name, &format!("uid-{name}"));
    if let Some((kind, owner)) = owner {
        meta = meta.with_owner(kind, owner);
    }
    Pod::new(meta, ips.iter().map(|s| ip(s))).on_node("worker-1", ip("10.0.0.1"))
}

fn apply(index: &KubeIndex, objects: Vec<Object>) {
    index.apply(objects.into_iter().map(Event::Apply));
}

#[test]
fn owner_chains_of_each_kind() {
    let index = KubeIndex::new(IndexConfig::default());
    apply(
        &index,
        vec![
            Object::Node(node1()),
            Object::ReplicaSet(Meta::new("shop", "web-7c9", "rs1").with_owner("Deployment", "web")),
            Object::ReplicaSet(Meta::new("shop", "bare-rs", "rs2")),
            Object::Job(Meta::new("shop", "report-2891", "j1").with_owner("CronJob", "report")),
            Object::Job(Meta::new("shop", "once", "j2")),
            Object::Pod(pod(
                "web-7c9-a",
                Some(("ReplicaSet", "web-7c9")),
                &["10.128.0.1"],
            )),
            Object::Pod(pod(
                "bare-rs-a",
                Some(("ReplicaSet", "bare-rs")),
                &["10.128.0.2"],
            )),
            Object::Pod(pod(
                "lost-a",
                Some(("ReplicaSet", "unknown-rs")),
                &["10.128.0.3"],
            )),
            Object::Pod(pod(
                "report-2891-a",
                Some(("Job", "report-2891")),
                &["10.128.0.4"],
            )),
            Object::Pod(pod("once-a", Some(("Job", "once")), &["10.128.0.5"])),
            Object::Pod(pod("db-0", Some(("StatefulSet", "db")), &["10.128.0.6"])),
            Object::Pod(pod(
                "agent-x",
                Some(("DaemonSet", "agent")),
                &["10.128.0.7"],
            )),
            Object::Pod(pod("lonely", None, &["10.128.0.8"])),
        ],
    );
    let o = |s: &str| index.identity(ip(s)).expect(s);
    assert_eq!(owner(&o("10.128.0.1")), (Some("web"), Some("Deployment")));
    // A ReplicaSet without owner, or not known (yet): the ReplicaSet, as upstream.
    assert_eq!(
        owner(&o("10.128.0.2")),
        (Some("bare-rs"), Some("ReplicaSet"))
    );
    assert_eq!(
        owner(&o("10.128.0.3")),
        (Some("unknown-rs"), Some("ReplicaSet"))
    );
    assert_eq!(owner(&o("10.128.0.4")), (Some("report"), Some("CronJob")));
    assert_eq!(owner(&o("10.128.0.5")), (Some("once"), Some("Job")));
    assert_eq!(owner(&o("10.128.0.6")), (Some("db"), Some("StatefulSet")));
    assert_eq!(owner(&o("10.128.0.7")), (Some("agent"), Some("DaemonSet")));
    assert_eq!(owner(&o("10.128.0.8")), (Some("lonely"), Some("Pod")));

    let web = o("10.128.0.1");
    assert_eq!(web.name.as_deref(), Some("web-7c9-a"));
    assert_eq!(web.namespace.as_deref(), Some("shop"));
    assert_eq!(web.kind.as_deref(), Some("Pod"));
    assert_eq!(web.host_ip, Some(ip("10.0.0.1")));
    assert_eq!(web.host_name.as_deref(), Some("worker-1"));
    assert_eq!(web.zone.as_deref(), Some("eu-west-1a"));
    assert_eq!(web.network_name.as_deref(), Some("primary"));

    // Upstream's values: a Job stays the owner.
    let upstream = KubeIndex::new(IndexConfig::default().with_resolve_cron_jobs(false));
    apply(
        &upstream,
        vec![
            Object::Job(Meta::new("shop", "report-2891", "j1").with_owner("CronJob", "report")),
            Object::Pod(pod(
                "report-2891-a",
                Some(("Job", "report-2891")),
                &["10.128.0.4"],
            )),
        ],
    );
    let id = upstream.identity(ip("10.128.0.4")).unwrap();
    assert_eq!(owner(&id), (Some("report-2891"), Some("Job")));
}

#[test]
fn owner_known_after_the_pod_is_resolved_at_the_next_batch() {
    let index = KubeIndex::new(IndexConfig::default());
    apply(
        &index,
        vec![Object::Pod(pod(
            "web-1-a",
            Some(("ReplicaSet", "web-1")),
            &["10.128.1.1"],
        ))],
    );
    let id = index.identity(ip("10.128.1.1")).unwrap();
    assert_eq!(owner(&id), (Some("web-1"), Some("ReplicaSet")));
    apply(
        &index,
        vec![Object::ReplicaSet(
            Meta::new("shop", "web-1", "rs").with_owner("Deployment", "web"),
        )],
    );
    let id = index.identity(ip("10.128.1.1")).unwrap();
    assert_eq!(owner(&id), (Some("web"), Some("Deployment")));
}

#[test]
fn dual_stack_pod_shares_one_identity() {
    let index = KubeIndex::new(IndexConfig::default());
    apply(
        &index,
        vec![
            Object::Node(node1()),
            Object::Pod(pod("web-a", None, &["10.128.0.9", "fd01:0:0:1::9"])),
        ],
    );
    let v4 = index.identity(ip("10.128.0.9")).unwrap();
    let v6 = index.identity(ip("fd01:0:0:1::9")).unwrap();
    assert!(Arc::ptr_eq(&v4, &v6), "one shared identity per object");
    assert_eq!(v6.name.as_deref(), Some("web-a"));
    // An IPv4-mapped IPv6 address is the IPv4 address.
    let mapped = index.identity(ip("::ffff:10.128.0.9")).unwrap();
    assert!(Arc::ptr_eq(&v4, &mapped));
    assert!(index.identity(ip("fd01:0:0:1::10")).is_none());
}

#[test]
fn host_network_pods_resolve_to_their_node() {
    let index = KubeIndex::new(IndexConfig::default());
    apply(
        &index,
        vec![
            Object::Node(node1()),
            Object::Pod(
                pod(
                    "ovnkube-node-x",
                    Some(("DaemonSet", "ovnkube-node")),
                    &["10.0.0.1"],
                )
                .with_host_network(true),
            ),
            // Not flagged, but its IP is the host's (as upstream filters them).
            Object::Pod(pod("other", None, &["10.0.0.1", "10.128.0.10"])),
        ],
    );
    let id = index.identity(ip("10.0.0.1")).unwrap();
    assert_eq!(id.kind.as_deref(), Some("Node"));
    assert_eq!(id.name.as_deref(), Some("worker-1"));
    assert_eq!(owner(&id), (Some("worker-1"), Some("Node")));
    assert_eq!(id.namespace, None);
    let other = index.identity(ip("10.128.0.10")).unwrap();
    assert_eq!(other.name.as_deref(), Some("other"));
}

#[test]
fn services_by_cluster_and_external_ips() {
    let index = KubeIndex::new(IndexConfig::default());
    apply(
        &index,
        vec![Object::Service(
            Service::new(
                Meta::new("shop", "front", "s1"),
                [ip("172.30.0.10"), ip("fd02::a")],
            )
            .with_external_ips([ip("198.51.100.7")]),
        )],
    );
    for addr in ["172.30.0.10", "fd02::a", "198.51.100.7"] {
        let id = index.identity(ip(addr)).expect(addr);
        assert_eq!(id.name.as_deref(), Some("front"));
        assert_eq!(id.namespace.as_deref(), Some("shop"));
        assert_eq!(id.kind.as_deref(), Some("Service"));
        assert_eq!(owner(&id), (Some("front"), Some("Service")));
        assert_eq!(id.zone, None);
        assert_eq!(id.host_ip, None);
    }
    assert_eq!(index.len(), 3);
}

#[test]
fn nodes_by_internal_and_external_ips_with_zone_and_host() {
    let index = KubeIndex::new(IndexConfig::default());
    apply(
        &index,
        vec![
            Object::Node(node1()),
            Object::Node(Node::new("worker-2", [ip("10.0.0.2")])),
        ],
    );
    for addr in ["10.0.0.1", "fd00::1", "203.0.113.1"] {
        let id = index.identity(ip(addr)).expect(addr);
        assert_eq!(id.name.as_deref(), Some("worker-1"));
        assert_eq!(id.kind.as_deref(), Some("Node"));
        assert_eq!(id.zone.as_deref(), Some("eu-west-1a"));
        assert_eq!(id.host_ip, Some(ip("10.0.0.1")));
        assert_eq!(id.host_name.as_deref(), Some("worker-1"));
    }
    let w2 = index.identity(ip("10.0.0.2")).unwrap();
    assert_eq!(w2.zone, None);
}

#[test]
fn pod_zone_and_host_name_come_from_its_node() {
    let index = KubeIndex::new(IndexConfig::default());
    let mut unnamed = pod("unnamed", None, &["10.128.0.12"]);
    unnamed.node_name = None;
    apply(
        &index,
        vec![
            Object::Node(node1()),
            Object::Pod(pod("a", None, &["10.128.0.11"])),
            Object::Pod(unnamed),
        ],
    );
    let a = index.identity(ip("10.128.0.11")).unwrap();
    assert_eq!(a.zone.as_deref(), Some("eu-west-1a"));
    // No node name: found by the host IP, as upstream.
    let u = index.identity(ip("10.128.0.12")).unwrap();
    assert_eq!(u.host_name.as_deref(), Some("worker-1"));
    assert_eq!(u.zone.as_deref(), Some("eu-west-1a"));
    // The node's zone label changes: the pod follows at the next publish.
    apply(&index, vec![Object::Node(node1().with_zone("eu-west-1b"))]);
    let a = index.identity(ip("10.128.0.11")).unwrap();
    assert_eq!(a.zone.as_deref(), Some("eu-west-1b"));
}

#[test]
fn pod_beats_node_beats_service_on_a_shared_address() {
    let index = KubeIndex::new(IndexConfig::default());
    apply(
        &index,
        vec![
            Object::Service(Service::new(Meta::new("ns", "svc", "s"), [ip("10.9.9.9")])),
            Object::Node(Node::new("n", [ip("10.9.9.9"), ip("10.9.9.8")])),
            Object::Pod(Pod::new(Meta::new("ns", "p", "p"), [ip("10.9.9.9")])),
        ],
    );
    assert_eq!(
        index.identity(ip("10.9.9.9")).unwrap().kind.as_deref(),
        Some("Pod")
    );
    assert_eq!(
        index.identity(ip("10.9.9.8")).unwrap().kind.as_deref(),
        Some("Node")
    );
}

#[test]
fn update_moves_an_ip() {
    let index = KubeIndex::new(IndexConfig::default());
    apply(&index, vec![Object::Pod(pod("a", None, &["10.128.0.20"]))]);
    assert_eq!(
        index.identity(ip("10.128.0.20")).unwrap().name.as_deref(),
        Some("a")
    );
    // The pod gets another address; the old one goes to a new pod, in one batch.
    apply(
        &index,
        vec![
            Object::Pod(pod("a", None, &["10.128.0.21"])),
            Object::Pod(pod("b", None, &["10.128.0.20"])),
        ],
    );
    assert_eq!(
        index.identity(ip("10.128.0.20")).unwrap().name.as_deref(),
        Some("b")
    );
    assert_eq!(
        index.identity(ip("10.128.0.21")).unwrap().name.as_deref(),
        Some("a")
    );
    assert_eq!(index.len(), 2);
}

#[test]
fn deleted_objects_answer_for_the_grace_period_then_go() {
    let clock = ManualClock::new();
    let index = KubeIndex::with_clock(
        IndexConfig::default().with_grace(Duration::from_secs(30)),
        clock.clone(),
    );
    let a = pod("a", None, &["10.128.0.30"]);
    let svc = Service::new(Meta::new("shop", "s", "s"), [ip("172.30.0.30")]);
    apply(
        &index,
        vec![Object::Pod(a.clone()), Object::Service(svc.clone())],
    );
    index.apply([Event::Delete(Object::Pod(a.clone()))]);
    clock.advance(Duration::from_secs(29));
    index.expire();
    assert_eq!(
        index.identity(ip("10.128.0.30")).unwrap().name.as_deref(),
        Some("a")
    );

    // A new pod takes the address during the grace period: live beats deleted.
    apply(&index, vec![Object::Pod(pod("b", None, &["10.128.0.30"]))]);
    assert_eq!(
        index.identity(ip("10.128.0.30")).unwrap().name.as_deref(),
        Some("b")
    );
    index.apply([Event::Delete(Object::Pod(pod("b", None, &["10.128.0.30"])))]);

    clock.advance(Duration::from_secs(1));
    index.expire();
    // "a" is gone (30 s); "b" was deleted 1 s ago and still answers.
    assert_eq!(
        index.identity(ip("10.128.0.30")).unwrap().name.as_deref(),
        Some("b")
    );
    clock.advance(Duration::from_secs(29));
    index.expire();
    assert!(index.identity(ip("10.128.0.30")).is_none());
    // Untouched objects stay.
    assert!(index.identity(ip("172.30.0.30")).is_some());

    // Deleting an unknown object is a no-op; deleting twice keeps the first time.
    index.apply([Event::Delete(Object::Pod(pod(
        "ghost",
        None,
        &["10.128.0.31"],
    )))]);
    index.apply([Event::Delete(Object::Service(svc.clone()))]);
    clock.advance(Duration::from_secs(20));
    index.apply([Event::Delete(Object::Service(svc))]);
    clock.advance(Duration::from_secs(10));
    index.expire();
    assert!(index.identity(ip("172.30.0.30")).is_none());
    assert!(index.is_empty());
}

#[test]
fn re_added_object_is_live_again() {
    let clock = ManualClock::new();
    let index = KubeIndex::with_clock(IndexConfig::default(), clock.clone());
    let n = node1();
    apply(&index, vec![Object::Node(n.clone())]);
    index.apply([Event::Delete(Object::Node(n.clone()))]);
    apply(&index, vec![Object::Node(n)]);
    clock.advance(Duration::from_secs(3600));
    index.expire();
    assert_eq!(
        index.identity(ip("10.0.0.1")).unwrap().name.as_deref(),
        Some("worker-1")
    );
}

#[test]
fn lookups_during_concurrent_updates_never_block_or_miss() {
    let index = Arc::new(KubeIndex::new(IndexConfig::default()));
    // A stable pod that every snapshot has, and pods that come and go.
    apply(
        &index,
        vec![Object::Pod(pod("stable", None, &["10.1.0.1"]))],
    );
    let stop = Arc::new(AtomicBool::new(false));
    let lookups = Arc::new(AtomicU64::new(0));
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let (index, stop, lookups) = (index.clone(), stop.clone(), lookups.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let id = index
                        .identity(ip("10.1.0.1"))
                        .expect("stable pod always there");
                    assert_eq!(id.name.as_deref(), Some("stable"));
                    if let Some(id) = index.identity(ip("10.2.0.1")) {
                        assert!(id.name.as_deref().unwrap().starts_with("churn-"));
                    }
                    lookups.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    for round in 0..200 {
        let churn: Vec<Object> = (0..50)
            .map(|i| {
                Object::Pod(pod(
                    &format!("churn-{i}"),
                    None,
                    &[&format!("10.2.{}.{}", round % 2, i + 1)],
                ))
            })
            .collect();
        let deletes: Vec<Event> = churn.iter().cloned().map(Event::Delete).collect();
        index.apply(churn.into_iter().map(Event::Apply));
        index.apply(deletes);
    }
    stop.store(true, Ordering::Relaxed);
    for r in readers {
        r.join().expect("reader panicked");
    }
    assert!(lookups.load(Ordering::Relaxed) > 0);
    assert!(index.identity(ip("10.1.0.1")).is_some());
}

#[test]
fn a_relist_deletes_what_it_no_longer_has_after_the_grace_period() {
    let clock = ManualClock::new();
    let index = KubeIndex::with_clock(IndexConfig::default(), clock.clone());
    apply(
        &index,
        vec![
            Object::Node(node1()),
            Object::Pod(pod("stays", None, &["10.128.0.1"])),
            Object::Pod(pod("goes", None, &["10.128.0.2"])),
        ],
    );
    // The relist has `stays` (moved to a new address) and a new pod, not `goes`; the node is
    // of another kind and is not swept.
    index.apply([Event::Replace {
        kind: Kind::Pod,
        objects: vec![
            Object::Pod(pod("stays", None, &["10.128.0.3"])),
            Object::Pod(pod("new", None, &["10.128.0.4"])),
        ],
    }]);
    let name = |s: &str| index.identity(ip(s)).and_then(|id| id.name.clone());
    assert_eq!(name("10.128.0.3").as_deref(), Some("stays"));
    assert_eq!(name("10.128.0.4").as_deref(), Some("new"));
    assert_eq!(name("10.128.0.1"), None, "an updated pod's old address");
    assert_eq!(
        name("10.128.0.2").as_deref(),
        Some("goes"),
        "in its grace period"
    );
    assert_eq!(name("10.0.0.1").as_deref(), Some("worker-1"));
    assert_eq!(index.objects(Kind::Pod), 3);
    clock.advance(Duration::from_secs(30));
    index.expire();
    assert_eq!(name("10.128.0.2"), None);
    assert_eq!(index.objects(Kind::Pod), 2);
    assert_eq!(index.objects(Kind::Node), 1);
}

#[test]
fn tags_follow_the_object_an_address_resolves_to() {
    use crate::identity::ObjectTags;
    let tags = |k: &str| {
        Some(Arc::new(ObjectTags {
            labels: vec![(Arc::from("app"), Arc::from(k))],
            annotations: Vec::new(),
        }))
    };
    let index = KubeIndex::new(IndexConfig::default());
    let tags_of = |addr: &str| {
        let id = index.identity(ip(addr))?;
        index.tags(ip(addr), &id)
    };
    // A service and a pod on the same address: the pod wins, with its tags (none), not the
    // service's.
    let mut svc = Service::new(Meta::new("shop", "svc", "s1"), [ip("10.128.0.9")]);
    svc.tags = tags("svc");
    let mut p = pod("p", None, &["10.128.0.9"]);
    let mut tagged = pod("q", None, &["10.128.0.10"]);
    tagged.tags = tags("q");
    apply(
        &index,
        vec![
            Object::Service(svc),
            Object::Pod(p.clone()),
            Object::Pod(tagged),
        ],
    );
    assert_eq!(
        index.identity(ip("10.128.0.9")).unwrap().name.as_deref(),
        Some("p")
    );
    assert_eq!(tags_of("10.128.0.9"), None);
    assert_eq!(&*tags_of("10.128.0.10").unwrap().labels[0].1, "q");
    // The zone-free form of the identity is the same object: same tags.
    let [zoneless, _] = index.identities([Some(ip("10.128.0.10")), None], [false, true]);
    let zoneless = zoneless.unwrap();
    assert_eq!(zoneless.zone, None);
    assert_eq!(
        &*index.tags(ip("10.128.0.10"), &zoneless).unwrap().labels[0].1,
        "q"
    );
    // The pod gets tags later: they are found.
    p.tags = tags("p");
    apply(&index, vec![Object::Pod(p)]);
    assert_eq!(&*tags_of("10.128.0.9").unwrap().labels[0].1, "p");
    // The address goes to another object between a flow's identity lookup and its tags
    // lookup: no tags rather than the new object's.
    let before = index.identity(ip("10.128.0.10")).unwrap();
    let mut r = pod("r", None, &["10.128.0.10"]);
    r.tags = tags("r");
    index.apply([
        Event::Delete(Object::Pod(pod("q", None, &["10.128.0.10"]))),
        Event::Apply(Object::Pod(r)),
    ]);
    assert_eq!(index.tags(ip("10.128.0.10"), &before), None);
    assert_eq!(&*tags_of("10.128.0.10").unwrap().labels[0].1, "r");
}

fn mac(s: &str) -> netobserv_flow::flow::MacAddr {
    s.parse().unwrap()
}

fn index_of(ip: bool, mac: bool, interface: bool) -> SecondaryIndex {
    SecondaryIndex { ip, mac, interface }
}

/// upstream's `TestExtractNetStatusKeys` entry: `macvlan-conf` on `net1`.
fn macvlan() -> PodNetwork {
    PodNetwork::new("macvlan-conf", "net1")
        .with_ips([ip("192.168.1.205")])
        .with_mac(mac("86:1D:96:FF:55:0D"))
}

fn keys_of(network: &PodNetwork, index: SecondaryIndex) -> Vec<String> {
    let mut keys = Vec::new();
    network.keys(index, &mut keys);
    keys.iter().map(ToString::to_string).collect()
}

#[test]
fn secondary_keys_of_a_pod_interface_as_upstream() {
    // Upstream's two cases: mac only, and all three parts; the MAC lower-cased.
    assert_eq!(
        keys_of(&macvlan(), index_of(false, true, false)),
        ["~~86:1d:96:ff:55:0d"]
    );
    assert_eq!(
        keys_of(&macvlan(), index_of(true, true, true)),
        ["net1~192.168.1.205~86:1d:96:ff:55:0d"]
    );
    // One key per address; IPv4-mapped addresses as IPv4.
    let dual =
        PodNetwork::new("storage", "net1").with_ips([ip("::ffff:192.168.10.5"), ip("fd10::5")]);
    assert_eq!(
        keys_of(&dual, index_of(true, false, true)),
        ["net1~192.168.10.5~", "net1~fd10::5~"]
    );
    // An interface missing a part its index names gives no key.
    assert!(keys_of(&dual, index_of(false, true, false)).is_empty());
    let no_ip = PodNetwork::new("l2", "net2").with_mac(mac("a2:4c:11:9e:00:07"));
    assert!(keys_of(&no_ip, index_of(true, true, false)).is_empty());
    assert!(
        keys_of(
            &PodNetwork::new("x", "").with_ips([ip("192.168.1.9")]),
            index_of(true, false, true)
        )
        .is_empty()
    );
    assert_eq!(
        keys_of(&no_ip, index_of(false, true, true)),
        ["net2~~a2:4c:11:9e:00:07"]
    );
    // An index naming none of the parts (`udn` only) gives nothing.
    assert!(keys_of(&macvlan(), SecondaryIndex::default()).is_empty());
}

fn storage_pod() -> Pod {
    pod(
        "storage-0",
        Some(("StatefulSet", "storage")),
        &["10.128.0.30"],
    )
    .with_network(
        PodNetwork::new("shop/macvlan-storage", "net1")
            .with_ips([ip("192.168.10.5"), ip("fd10::5")])
            .with_mac(mac("86:1d:96:ff:55:0d")),
    )
    .with_network(PodNetwork::new("shop/sriov-data", "net2").with_mac(mac("a2:4c:11:9e:00:07")))
}

fn key(interface: &str, addr: Option<&str>, m: Option<&str>) -> SecondaryKey {
    SecondaryKey::new(interface, addr.map(ip), m.map(mac))
}

#[test]
fn secondary_interfaces_are_indexed_with_their_network_name() {
    let config = IndexConfig::default().with_secondary_networks([
        index_of(true, true, false),
        index_of(false, true, true),
        SecondaryIndex::default(),
    ]);
    assert_eq!(
        config.secondary_networks.len(),
        2,
        "the empty index is left out"
    );
    let index = KubeIndex::new(config);
    apply(
        &index,
        vec![Object::Node(node1()), Object::Pod(storage_pod())],
    );
    // macvlan-storage: 2 addresses under index 1, 1 key under index 2; sriov-data: index 2.
    assert_eq!(index.secondary_keys(), 4);
    let primary = index.identity(ip("10.128.0.30")).unwrap();
    assert_eq!(primary.network_name.as_deref(), Some("primary"));
    let found = |k: SecondaryKey| index.secondary(&[k]).map(|m| m.identity);
    let storage = found(key("", Some("fd10::5"), Some("86:1D:96:FF:55:0D"))).unwrap();
    assert_eq!(
        storage.network_name.as_deref(),
        Some("shop/macvlan-storage")
    );
    // The pod's identity otherwise, shared by the network's keys.
    let mut expected = (*primary).clone();
    expected.network_name = Some("shop/macvlan-storage".into());
    assert_eq!(*storage, expected);
    let by_v4 = found(key("", Some("192.168.10.5"), Some("86:1d:96:ff:55:0d"))).unwrap();
    let by_intf = found(key("net1", None, Some("86:1d:96:ff:55:0d"))).unwrap();
    assert!(Arc::ptr_eq(&storage, &by_v4) && Arc::ptr_eq(&storage, &by_intf));
    let sriov = found(key("net2", None, Some("a2:4c:11:9e:00:07"))).unwrap();
    assert_eq!(sriov.network_name.as_deref(), Some("shop/sriov-data"));
    assert_eq!(sriov.name.as_deref(), Some("storage-0"));
    assert_eq!(owner(&sriov), (Some("storage"), Some("StatefulSet")));
    // Keys not indexed: a part missing, or a part not indexed.
    assert!(found(key("", Some("192.168.10.5"), None)).is_none());
    assert!(found(key("net2", Some("192.168.10.5"), Some("a2:4c:11:9e:00:07"))).is_none());
    // The first known key of several wins; the secondary address is not a primary one.
    let first = index
        .secondary(&[
            key("eth9", None, Some("a2:4c:11:9e:00:07")),
            key("net2", None, Some("a2:4c:11:9e:00:07")),
            key("net1", None, Some("86:1d:96:ff:55:0d")),
        ])
        .unwrap();
    assert!(Arc::ptr_eq(&first.identity, &sriov));
    assert!(index.identity(ip("192.168.10.5")).is_none());
    assert!(index.secondary(&[]).is_none());
}

#[test]
fn secondary_interfaces_are_not_indexed_without_secondary_networks() {
    let index = KubeIndex::new(IndexConfig::default());
    apply(&index, vec![Object::Pod(storage_pod())]);
    assert_eq!(index.secondary_keys(), 0);
    assert!(
        index
            .secondary(&[key("net2", None, Some("a2:4c:11:9e:00:07"))])
            .is_none()
    );
    assert_eq!(
        index
            .identity(ip("10.128.0.30"))
            .unwrap()
            .network_name
            .as_deref(),
        Some("primary")
    );
}

#[test]
fn secondary_keys_follow_updates_deletes_and_tags() {
    use crate::identity::ObjectTags;
    let clock = ManualClock::new();
    let index = KubeIndex::with_clock(
        IndexConfig::default().with_secondary_networks([index_of(false, true, false)]),
        clock.clone(),
    );
    let mut p = storage_pod();
    p.tags = Some(Arc::new(ObjectTags {
        labels: vec![(Arc::from("app"), Arc::from("storage"))],
        annotations: Vec::new(),
    }));
    apply(&index, vec![Object::Pod(p.clone())]);
    let sriov = key("", None, Some("a2:4c:11:9e:00:07"));
    let found = index.secondary(std::slice::from_ref(&sriov)).unwrap();
    assert_eq!(&*found.tags.unwrap().labels[0].1, "storage");
    // The interface moves to another pod.
    p.networks.pop();
    let other = pod("storage-1", None, &["10.128.0.31"]).with_network(
        PodNetwork::new("shop/sriov-data", "net2").with_mac(mac("a2:4c:11:9e:00:07")),
    );
    apply(
        &index,
        vec![Object::Pod(p.clone()), Object::Pod(other.clone())],
    );
    let name = || {
        index
            .secondary(std::slice::from_ref(&sriov))
            .and_then(|m| m.identity.name.clone())
    };
    assert_eq!(name().as_deref(), Some("storage-1"));
    // Deleted: answers for the grace period, then not.
    index.apply([Event::Delete(Object::Pod(other))]);
    assert_eq!(name().as_deref(), Some("storage-1"));
    clock.advance(Duration::from_secs(31));
    index.expire();
    assert_eq!(name(), None);
    assert_eq!(index.secondary_keys(), 1);
}

#[test]
fn a_pod_without_host_ip_has_no_host_name_as_upstream() {
    let index = KubeIndex::new(IndexConfig::default());
    // Scheduled (node name set) but its host IP not reported yet.
    let mut p = Pod::new(Meta::new("shop", "early", "u1"), [ip("10.128.0.30")]);
    p.node_name = Some("worker-1".into());
    apply(&index, vec![Object::Node(node1()), Object::Pod(p)]);
    let id = index.identity(ip("10.128.0.30")).unwrap();
    assert_eq!((id.host_ip, id.host_name.as_deref()), (None, None));
    // The zone still comes from the named node.
    assert_eq!(id.zone.as_deref(), Some("eu-west-1a"));
    // Reported: both.
    let p = pod("early", None, &["10.128.0.30"]);
    apply(&index, vec![Object::Pod(p)]);
    let id = index.identity(ip("10.128.0.30")).unwrap();
    assert_eq!(
        (id.host_ip, id.host_name.as_deref()),
        (Some(ip("10.0.0.1")), Some("worker-1"))
    );
}

#[test]
fn label_strings_are_shared_across_objects() {
    use crate::identity::ObjectTags;
    let tagged = |name: &str| {
        let mut p = pod(
            name,
            None,
            &[if name == "a" {
                "10.128.0.40"
            } else {
                "10.128.0.41"
            }],
        );
        p.tags = Some(Arc::new(ObjectTags {
            labels: vec![(Arc::from("app"), Arc::from("web"))],
            annotations: Vec::new(),
        }));
        p
    };
    let index = KubeIndex::new(IndexConfig::default());
    apply(
        &index,
        vec![Object::Pod(tagged("a")), Object::Pod(tagged("b"))],
    );
    let tags = |addr: &str| {
        let id = index.identity(ip(addr)).unwrap();
        index.tags(ip(addr), &id).unwrap()
    };
    let (a, b) = (tags("10.128.0.40"), tags("10.128.0.41"));
    assert!(Arc::ptr_eq(&a.labels[0].0, &b.labels[0].0), "the key");
    assert!(Arc::ptr_eq(&a.labels[0].1, &b.labels[0].1), "the value");
}
