//! The Kubernetes cache (`kube::KubeCache`: kube-rs watchers feeding the identity index) against
//! the in-test peer standing in for kube-apiserver (`tests/support/apiserver.rs`: list pages,
//! watches with bookmarks, ADDED / MODIFIED / DELETED, 410 Gone), loaded with the hand-written
//! objects of `testdata/kube/cluster.json` (its README lists them).

#![cfg(feature = "kube")]
#![allow(clippy::unwrap_used)]

#[path = "support/apiserver.rs"]
mod apiserver;

use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use apiserver::{ApiServer, METADATA_LIST_ACCEPT};
use netobserv_enrich::IdentityLookup;
use netobserv_enrich::kube::{
    CacheConfig, CacheError, Clock, IndexConfig, Kind, KubeCache, KubeIndex, client,
};
use netobserv_flow::flow::K8sIdentity;
use serde_json::json;

/// How long a test waits for the cache to see a change.
const WAIT: Duration = Duration::from_secs(20);

/// A clock that moves only when told.
struct ManualClock(Mutex<Instant>);

impl ManualClock {
    fn advance(&self, by: Duration) {
        *self.0.lock().unwrap() += by;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Instant {
        *self.0.lock().unwrap()
    }
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn config() -> CacheConfig {
    CacheConfig {
        publish_interval: Duration::from_millis(20),
        expire_interval: Duration::from_millis(50),
        sync_timeout: Duration::from_secs(20),
        ..CacheConfig::default()
    }
}

/// A peer holding `files` of `testdata/kube/`, and a kubeconfig pointing at it (in the
/// directory returned, which must live as long).
async fn peer(files: &[&str]) -> Result<(ApiServer, tempfile::TempDir, PathBuf)> {
    let server = ApiServer::start().await;
    let data = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("testdata/kube");
    for file in files {
        server.load(&data.join(file));
    }
    let dir = tempfile::tempdir()?;
    let kubeconfig = dir.path().join("kubeconfig");
    server.write_kubeconfig(&kubeconfig);
    Ok((server, dir, kubeconfig))
}

/// A peer holding `cluster.json`, the kubeconfig pointing at it, and the cache started from
/// that kubeconfig over an index on a manual clock.
async fn cluster() -> Result<(ApiServer, KubeCache, Arc<ManualClock>, tempfile::TempDir)> {
    let (server, dir, kubeconfig) = peer(&["cluster.json"]).await?;
    let clock = Arc::new(ManualClock(Mutex::new(Instant::now())));
    let index = Arc::new(KubeIndex::with_clock(IndexConfig::default(), clock.clone()));
    let cache = KubeCache::spawn_into(client(Some(&kubeconfig)).await?, config(), index);
    cache.wait_synced(WAIT).await?;
    Ok((server, cache, clock, dir))
}

fn id(cache: &KubeCache, addr: &str) -> Option<Arc<K8sIdentity>> {
    cache.identity(ip(addr))
}

/// `(kind, namespace, name, owner type, owner name, host name, zone)` of an address.
type Row<'a> = (
    Option<&'a str>,
    Option<&'a str>,
    Option<&'a str>,
    Option<&'a str>,
    Option<&'a str>,
    Option<&'a str>,
    Option<&'a str>,
);

fn row(id: &K8sIdentity) -> Row<'_> {
    (
        id.kind.as_deref(),
        id.namespace.as_deref(),
        id.name.as_deref(),
        id.owner_type.as_deref(),
        id.owner_name.as_deref(),
        id.host_name.as_deref(),
        id.zone.as_deref(),
    )
}

/// Polls `f` until it holds, at most [`WAIT`].
async fn eventually(what: &str, mut f: impl FnMut() -> bool) -> Result<()> {
    let start = Instant::now();
    while !f() {
        if start.elapsed() > WAIT {
            bail!("not within {WAIT:?}: {what}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}

fn pod(namespace: &str, name: &str, ip: &str) -> serde_json::Value {
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "uid": format!("uid-{name}")},
        "spec": {"nodeName": "worker-2", "containers": [{"name": "c", "image": "registry.example.com/c:1"}]},
        "status": {"phase": "Running", "hostIP": "10.0.0.2", "podIP": ip, "podIPs": [{"ip": ip}]}
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cache_resolves_every_object_of_the_cluster() -> Result<()> {
    let (server, cache, _clock, _dir) = cluster().await?;
    let pod = Some("Pod");
    let node = Some("Node");
    let service = Some("Service");
    let cases: [(&str, Row<'_>); 14] = [
        // Pod → ReplicaSet → Deployment, on worker-1 (zone eu-1a); IPv4 and IPv6.
        (
            "10.128.0.7",
            (
                pod,
                Some("shop"),
                Some("web-5d4f-x9"),
                Some("Deployment"),
                Some("web"),
                Some("worker-1"),
                Some("eu-1a"),
            ),
        ),
        (
            "fd01::7",
            (
                pod,
                Some("shop"),
                Some("web-5d4f-x9"),
                Some("Deployment"),
                Some("web"),
                Some("worker-1"),
                Some("eu-1a"),
            ),
        ),
        (
            "10.129.0.5",
            (
                pod,
                Some("shop"),
                Some("db-0"),
                Some("StatefulSet"),
                Some("db"),
                Some("worker-2"),
                Some("eu-1b"),
            ),
        ),
        // Pod → Job → CronJob.
        (
            "10.128.0.12",
            (
                pod,
                Some("reports"),
                Some("report-29-q7w4n"),
                Some("CronJob"),
                Some("report"),
                Some("worker-1"),
                Some("eu-1a"),
            ),
        ),
        // A bare pod owns itself.
        (
            "10.128.0.20",
            (
                pod,
                Some("default"),
                Some("debug-shell"),
                Some("Pod"),
                Some("debug-shell"),
                Some("worker-1"),
                Some("eu-1a"),
            ),
        ),
        // The host-network DaemonSet pod's address is its node's.
        (
            "10.0.0.2",
            (
                node,
                None,
                Some("worker-2"),
                Some("Node"),
                Some("worker-2"),
                Some("worker-2"),
                Some("eu-1b"),
            ),
        ),
        (
            "10.0.0.1",
            (
                node,
                None,
                Some("worker-1"),
                Some("Node"),
                Some("worker-1"),
                Some("worker-1"),
                Some("eu-1a"),
            ),
        ),
        (
            "fd00::1",
            (
                node,
                None,
                Some("worker-1"),
                Some("Node"),
                Some("worker-1"),
                Some("worker-1"),
                Some("eu-1a"),
            ),
        ),
        (
            "203.0.113.1",
            (
                node,
                None,
                Some("worker-1"),
                Some("Node"),
                Some("worker-1"),
                Some("worker-1"),
                Some("eu-1a"),
            ),
        ),
        (
            "172.30.0.1",
            (
                service,
                Some("default"),
                Some("kubernetes"),
                Some("Service"),
                Some("kubernetes"),
                None,
                None,
            ),
        ),
        (
            "172.30.0.10",
            (
                service,
                Some("shop"),
                Some("web"),
                Some("Service"),
                Some("web"),
                None,
                None,
            ),
        ),
        (
            "fd02::10",
            (
                service,
                Some("shop"),
                Some("web"),
                Some("Service"),
                Some("web"),
                None,
                None,
            ),
        ),
        (
            "172.30.0.20",
            (
                service,
                Some("shop"),
                Some("gateway"),
                Some("Service"),
                Some("gateway"),
                None,
                None,
            ),
        ),
        (
            "198.51.100.7",
            (
                service,
                Some("shop"),
                Some("gateway"),
                Some("Service"),
                Some("gateway"),
                None,
                None,
            ),
        ),
    ];
    for (addr, want) in cases {
        let got = id(&cache, addr).with_context(|| format!("{addr} unknown"))?;
        assert_eq!(row(&got), want, "{addr}");
    }
    // One shared identity per object, whatever the address.
    assert!(Arc::ptr_eq(
        &id(&cache, "10.128.0.7").unwrap(),
        &id(&cache, "fd01::7").unwrap()
    ));
    assert_eq!(
        id(&cache, "10.128.0.7").unwrap().host_ip,
        Some(ip("10.0.0.1"))
    );
    // 5 pod addresses + 4 of nodes + 5 of services: the pending pod, the host-network pod,
    // the headless and the
    // ExternalName services have none.
    assert_eq!(cache.index().len(), 14);
    assert!(id(&cache, "10.128.0.99").is_none());
    // Both sides of a flow from one snapshot: the same identities as one by one.
    let web = Some(ip("10.128.0.7"));
    let [a, b] = cache.identities([web, Some(ip("10.128.0.99"))], [true, true]);
    assert!(Arc::ptr_eq(&a.unwrap(), &id(&cache, "10.128.0.7").unwrap()));
    assert!(b.is_none());
    // Without the zone (`add_zone: false`): the same identity but the zone, made once per
    // publish and shared, not per lookup.
    let [zoned, zoneless] = cache.identities([web, web], [true, false]);
    let (zoned, zoneless) = (zoned.unwrap(), zoneless.unwrap());
    assert_eq!(zoned.zone.as_deref(), Some("eu-1a"));
    assert_eq!(zoneless.zone, None);
    let mut same = (*zoned).clone();
    same.zone = None;
    assert_eq!(*zoneless, same);
    let [again, _] = cache.identities([web, None], [false, true]);
    assert!(Arc::ptr_eq(&again.unwrap(), &zoneless));

    let status = cache.status();
    let watched: Vec<Kind> = status.kinds.iter().map(|(k, _)| *k).collect();
    assert_eq!(
        watched,
        [
            Kind::Pod,
            Kind::Service,
            Kind::Node,
            Kind::ReplicaSet,
            Kind::Job
        ],
        "no Deployment watch without trackedKinds naming it"
    );
    for kind in watched {
        let s = status.kind(kind);
        assert!(s.synced, "{kind}: {s:?}");
        assert_eq!(
            (s.lists, s.errors, s.rejected_addresses),
            (1, 0, 0),
            "{kind}"
        );
    }
    assert_eq!(cache.index().objects(Kind::Pod), 6);
    assert_eq!(cache.index().objects(Kind::Job), 1);

    // Lists in pages of 500, owners by metadata only; every kind listed once and watched (the
    // watches start right after the lists).
    eventually("5 watches", || {
        server.requests().iter().filter(|r| r.is_watch()).count() == 5
    })
    .await?;
    let requests = server.requests();
    for (path, metadata) in [
        ("/api/v1/pods", false),
        ("/api/v1/services", false),
        ("/api/v1/nodes", false),
        ("/apis/apps/v1/replicasets", true),
        ("/apis/batch/v1/jobs", true),
    ] {
        let lists: Vec<_> = requests
            .iter()
            .filter(|r| r.path == path && !r.is_watch())
            .collect();
        assert_eq!(lists.len(), 1, "{path}");
        assert_eq!(lists[0].param("limit"), Some("500"), "{path}");
        assert_eq!(
            lists[0].accept.as_deref() == Some(METADATA_LIST_ACCEPT),
            metadata,
            "{path}: {:?}",
            lists[0].accept
        );
        let watch = requests.iter().find(|r| r.path == path && r.is_watch());
        assert!(
            watch.is_some_and(|w| w.param("allowWatchBookmarks") == Some("true")),
            "{path}: {watch:?}"
        );
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_events_reach_the_index_and_deleted_pods_answer_for_the_grace_period() -> Result<()> {
    let (server, cache, clock, _dir) = cluster().await?;
    // ADDED.
    server.apply(pod("shop", "cart-1", "10.129.0.40"));
    eventually("the new pod", || {
        id(&cache, "10.129.0.40").is_some_and(|i| i.name.as_deref() == Some("cart-1"))
    })
    .await?;
    let cart = id(&cache, "10.129.0.40").unwrap();
    assert_eq!(
        row(&cart),
        (
            Some("Pod"),
            Some("shop"),
            Some("cart-1"),
            Some("Pod"),
            Some("cart-1"),
            Some("worker-2"),
            Some("eu-1b")
        )
    );
    // MODIFIED: a new ReplicaSet owner appears, then the pod moves to it.
    server.apply(json!({
        "apiVersion": "apps/v1", "kind": "ReplicaSet",
        "metadata": {"name": "cart-7f", "namespace": "shop", "uid": "rs-cart",
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": "cart", "uid": "d-cart", "controller": true}]},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "cart"}}}
    }));
    let mut moved = pod("shop", "cart-1", "10.129.0.41");
    moved["metadata"]["ownerReferences"] = json!([{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "cart-7f", "uid": "rs-cart", "controller": true}]);
    server.apply(moved);
    eventually("the pod's new address and owner", || {
        id(&cache, "10.129.0.41").is_some_and(|i| i.owner_name.as_deref() == Some("cart"))
    })
    .await?;
    assert!(id(&cache, "10.129.0.40").is_none(), "the old address");
    // DELETED: still answers during the grace period, gone after it.
    assert!(server.delete("Pod", Some("shop"), "cart-1"));
    // Events of a kind arrive in order on its watch: once a pod applied after the delete is
    // seen, the delete was applied.
    server.apply(pod("shop", "marker-1", "10.129.0.42"));
    eventually("the pod after the delete", || {
        id(&cache, "10.129.0.42").is_some()
    })
    .await?;
    assert_eq!(
        id(&cache, "10.129.0.41")
            .and_then(|i| i.name.clone())
            .as_deref(),
        Some("cart-1"),
        "deleted, in its grace period"
    );
    clock.advance(Duration::from_secs(31));
    eventually("the grace period's end", || {
        id(&cache, "10.129.0.41").is_none()
    })
    .await?;
    assert_eq!(
        cache.index().objects(Kind::Pod),
        7,
        "6 of the cluster + marker-1"
    );
    // No relist for any of this.
    assert!(cache.status().kinds.iter().all(|(_, s)| s.lists == 1));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_watch_resumes_from_the_last_bookmark_without_relisting() -> Result<()> {
    let (server, cache, _clock, _dir) = cluster().await?;
    // Changes to other kinds move the resourceVersion past what the pod watch has seen; the
    // bookmark tells it.
    server.apply(json!({"apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "extra", "namespace": "shop"}, "spec": {"clusterIP": "172.30.0.77"}}));
    eventually("the new service", || id(&cache, "172.30.0.77").is_some()).await?;
    let watches_before = |server: &ApiServer| {
        server
            .requests()
            .iter()
            .filter(|r| r.path == "/api/v1/pods" && r.is_watch())
            .count()
    };
    let before = watches_before(&server);
    server.bookmark();
    let rv = server.resource_version().to_string();
    tokio::time::sleep(Duration::from_millis(200)).await;
    server.close_watches();
    eventually("a new pod watch", || watches_before(&server) > before).await?;
    let requests = server.requests();
    let resumed = requests
        .iter()
        .rfind(|r| r.path == "/api/v1/pods" && r.is_watch())
        .unwrap();
    assert_eq!(resumed.param("resourceVersion"), Some(rv.as_str()));
    let lists = requests
        .iter()
        .filter(|r| r.path == "/api/v1/pods" && !r.is_watch())
        .count();
    assert_eq!(lists, 1, "no relist");
    // The resumed watch delivers.
    server.apply(pod("shop", "late-1", "10.129.0.50"));
    eventually("a pod after the resumed watch", || {
        id(&cache, "10.129.0.50").is_some()
    })
    .await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_compacted_history_relists_and_deletes_what_vanished_unseen() -> Result<()> {
    let (server, cache, clock, _dir) = cluster().await?;
    // The pod watch is cut and cannot come back (500; kube-rs's client itself retries a 503)
    // while a pod is deleted and another
    // created: no watch sees either. Then the history is compacted: the watch from its old
    // resourceVersion gets 410 Gone and kube-rs lists again.
    server.fail("pods", 500);
    server.close_watches();
    assert!(server.delete("Pod", Some("default"), "debug-shell"));
    server.apply(pod("shop", "unseen-1", "10.129.0.60"));
    server.compact();
    eventually("a failed pod watch", || {
        cache.status().kind(Kind::Pod).errors > 0
    })
    .await?;
    server.heal("pods");
    eventually("the relist", || cache.status().kind(Kind::Pod).lists == 2).await?;
    assert!(
        id(&cache, "10.129.0.60").is_some(),
        "created while unwatched"
    );
    // Deleted while unwatched: the relist no longer has it, and it answers for the grace
    // period like any deleted pod.
    assert_eq!(
        id(&cache, "10.128.0.20")
            .and_then(|i| i.name.clone())
            .as_deref(),
        Some("debug-shell")
    );
    clock.advance(Duration::from_secs(31));
    eventually("the grace period's end", || {
        id(&cache, "10.128.0.20").is_none()
    })
    .await?;
    let status = cache.status();
    assert!(
        status.kind(Kind::Pod).last_error.is_none(),
        "cleared by the relist"
    );
    // The other kinds' watches were cut too and met the compacted history: relisted, synced.
    for kind in [Kind::Service, Kind::Node, Kind::ReplicaSet, Kind::Job] {
        ensure!(status.kind(kind).synced, "{kind}");
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kind_that_cannot_be_listed_fails_the_sync_naming_it_and_why() -> Result<()> {
    let (server, _dir, kubeconfig) = peer(&["cluster.json"]).await?;
    server.fail("replicasets", 403);
    let config = CacheConfig {
        sync_timeout: Duration::from_secs(3),
        ..config()
    };
    let err = KubeCache::start(client(Some(&kubeconfig)).await?, config)
        .await
        .expect_err("ReplicaSets cannot be listed");
    let CacheError::SyncTimeout { pending, .. } = &err else {
        bail!("{err}");
    };
    assert_eq!(pending.len(), 1, "{err}");
    assert_eq!(pending[0].0, Kind::ReplicaSet);
    let text = err.to_string();
    assert!(
        text.starts_with("the Kubernetes cache did not sync within 3")
            && text.contains("ReplicaSet (")
            && text.contains("403"),
        "{text}"
    );
    Ok(())
}

#[tokio::test]
async fn an_unreadable_kubeconfig_is_a_clear_error() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let missing = dir.path().join("nope");
    let Err(err) = client(Some(&missing)).await else {
        bail!("a client from a missing file")
    };
    let text = err.to_string();
    assert!(
        text.starts_with(&format!("kubeconfig {}: ", missing.display())),
        "{text}"
    );
    let bad = dir.path().join("bad");
    std::fs::write(&bad, "clusters: [not: a: kubeconfig")?;
    let Err(err) = client(Some(&bad)).await else {
        bail!("a client from a broken file")
    };
    assert!(err.to_string().starts_with("kubeconfig "), "{err}");
    Ok(())
}

/// `(owner type, owner name)` of an address.
fn owner(cache: &KubeCache, addr: &str) -> (Option<String>, Option<String>) {
    let id = id(cache, addr).unwrap();
    (
        id.owner_type.as_deref().map(str::to_string),
        id.owner_name.as_deref().map(str::to_string),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tracked_kinds_walk_the_owner_chain_up_to_a_gateway_as_upstream() -> Result<()> {
    let (server, _dir, kubeconfig) = peer(&["cluster.json", "gateway.json"]).await?;
    let start = |tracked: &[&str]| {
        let mut config = config();
        config.index = config.index.with_tracked_kinds(tracked);
        let kubeconfig = kubeconfig.clone();
        async move {
            KubeCache::start(client(Some(&kubeconfig)).await?, config)
                .await
                .map_err(anyhow::Error::from)
        }
    };
    let some = |kind: &str, name: &str| (Some(kind.to_string()), Some(name.to_string()));

    // The operator's trackedKinds: Pod → ReplicaSet → Deployment → Gateway.
    let cache = start(&["ReplicaSet", "Deployment", "Gateway"]).await?;
    assert!(cache.status().kind(Kind::Deployment).synced);
    assert_eq!(cache.index().objects(Kind::Deployment), 2);
    assert_eq!(owner(&cache, "10.129.0.9"), some("Gateway", "edge"));
    // A Deployment without owner stays the owner.
    assert_eq!(owner(&cache, "10.128.0.7"), some("Deployment", "web"));
    // Kinds this index cannot walk (StatefulSet) stay; Job → CronJob is this build's step.
    assert_eq!(owner(&cache, "10.129.0.5"), some("StatefulSet", "db"));
    assert_eq!(owner(&cache, "10.128.0.12"), some("CronJob", "report"));
    drop(cache);

    // Deployment tracked, Gateway not: stops at the Deployment.
    let cache = start(&["Deployment"]).await?;
    assert_eq!(
        owner(&cache, "10.129.0.9"),
        some("Deployment", "edge-istio")
    );
    drop(cache);

    // No trackedKinds (upstream's default): one step from the ReplicaSet, no Deployment watch.
    let requests_before = server.requests().len();
    let cache = start(&[]).await?;
    assert_eq!(
        owner(&cache, "10.129.0.9"),
        some("Deployment", "edge-istio")
    );
    assert!(
        cache
            .status()
            .kinds
            .iter()
            .all(|(k, _)| *k != Kind::Deployment)
    );
    assert!(
        !server.requests()[requests_before..]
            .iter()
            .any(|r| r.path.ends_with("/deployments")),
        "deployments are not watched without trackedKinds naming them"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_network_stage_starts_the_cache_from_its_config_path_and_serves_its_metrics()
-> Result<()> {
    use netobserv_flow::config::Config;
    use netobserv_flow::pipeline::{Metrics, Pipeline, StageRegistry};

    let (server, _dir, kubeconfig) = peer(&["cluster.json"]).await?;
    // Two stages naming the same kubeconfig share one cache (one list per kind).
    let stage = |name: &str| {
        format!(
            "  - name: {name}\n    transform:\n      type: network\n      network:\n        rules:\n          - type: add_kubernetes\n            kubernetes: {{ipField: SrcAddr, output: SrcK8S}}\n        kubeConfig: {{configPath: {}}}\n",
            kubeconfig.display()
        )
    };
    let yaml = format!(
        "pipeline:\n  - name: in\n  - name: a\n    follows: in\n  - name: b\n    follows: a\n  - name: out\n    follows: b\nparameters:\n  - name: in\n    ingest: {{type: stdin}}\n{}{}  - name: out\n    write: {{type: none}}\n",
        stage("a"),
        stage("b")
    );
    let config = Config::from_yaml(&yaml)?;
    let mut registry = StageRegistry::with_builtins();
    netobserv_enrich::register_with_kube(&mut registry, netobserv_enrich::KubeOptions::default());
    let metrics = Metrics::new("flp_")?;
    let pipeline = Pipeline::build(&config, &registry, metrics.clone()).await?;
    assert!(pipeline.warnings().is_empty(), "{:?}", pipeline.warnings());
    let lists = server
        .requests()
        .iter()
        .filter(|r| r.path == "/api/v1/pods" && !r.is_watch())
        .count();
    assert_eq!(lists, 1, "one cache for both stages");
    let text = metrics.encode();
    for line in [
        "flp_kube_cache_synced{kind=\"Pod\"} 1",
        "flp_kube_cache_synced{kind=\"Job\"} 1",
        "flp_kube_cache_lists_total{kind=\"Node\"} 1",
        "flp_kube_cache_watch_errors_total{kind=\"Pod\"} 0",
        "flp_kube_cache_objects{kind=\"Pod\"} 6",
        "flp_kube_cache_objects{kind=\"Service\"} 5",
        "flp_kube_cache_addresses 14",
    ] {
        assert!(text.lines().any(|l| l == line), "{line:?} not in\n{text}");
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn labels_and_annotations_are_kept_only_when_asked_for() -> Result<()> {
    let (_server, _dir, kubeconfig) = peer(&["cluster.json"]).await?;
    let start = |labels: bool, annotations: bool| {
        let mut config = config();
        config.index.keep_labels = labels;
        config.index.keep_annotations = annotations;
        let kubeconfig = kubeconfig.clone();
        async move {
            KubeCache::start(client(Some(&kubeconfig)).await?, config)
                .await
                .map_err(anyhow::Error::from)
        }
    };
    let tags = |cache: &KubeCache, addr: &str| {
        let id = cache.identity(ip(addr))?;
        cache.tags(ip(addr), &id)
    };
    let pairs = |v: &[(Arc<str>, Arc<str>)]| -> Vec<(String, String)> {
        v.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    let owned = |v: &[(&str, &str)]| -> Vec<(String, String)> {
        v.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };

    let cache = start(true, false).await?;
    let web = tags(&cache, "10.128.0.7").context("the web pod's labels")?;
    assert_eq!(
        pairs(&web.labels),
        owned(&[("app", "web"), ("pod-template-hash", "5d4f")])
    );
    assert!(web.annotations.is_empty());
    // A node's labels, its zone still read.
    let node = tags(&cache, "10.0.0.1").context("worker-1's labels")?;
    assert!(pairs(&node.labels).contains(&("topology.kubernetes.io/zone".into(), "eu-1a".into())));
    assert_eq!(
        id(&cache, "10.0.0.1").unwrap().zone.as_deref(),
        Some("eu-1a")
    );
    // The gateway service has annotations only: nothing kept.
    assert!(tags(&cache, "172.30.0.20").is_none());
    drop(cache);

    let cache = start(false, true).await?;
    let gateway = tags(&cache, "198.51.100.7").context("the gateway's annotations")?;
    assert_eq!(
        pairs(&gateway.annotations),
        owned(&[("example.com/owner", "team-edge")])
    );
    assert!(gateway.labels.is_empty());
    drop(cache);

    let cache = start(false, false).await?;
    assert!(tags(&cache, "10.128.0.7").is_none());
    assert_eq!(
        id(&cache, "10.0.0.1").unwrap().zone.as_deref(),
        Some("eu-1a")
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pods_secondary_interfaces_are_indexed_from_the_network_status_annotation() -> Result<()> {
    use netobserv_enrich::{SecondaryIndex, SecondaryKey};
    let (_server, _dir, kubeconfig) = peer(&["cluster.json", "multus.json"]).await?;
    let start = |indexes: Vec<SecondaryIndex>| {
        let mut config = config();
        config.index = config.index.with_secondary_networks(indexes);
        let kubeconfig = kubeconfig.clone();
        async move {
            KubeCache::start(client(Some(&kubeconfig)).await?, config)
                .await
                .map_err(anyhow::Error::from)
        }
    };
    let mac = |s: &str| Some(s.parse().unwrap());
    let network = |cache: &KubeCache, key: SecondaryKey| -> Option<(String, String)> {
        let id = cache.secondary(&[key])?.identity;
        Some((
            id.name.as_deref()?.into(),
            id.network_name.as_deref()?.into(),
        ))
    };
    let storage = |n: &str| Some(("storage-gw-0".to_string(), n.to_string()));

    let cache = start(vec![
        SecondaryIndex {
            ip: true,
            mac: true,
            interface: true,
        },
        SecondaryIndex {
            ip: false,
            mac: true,
            interface: false,
        },
    ])
    .await?;
    // macvlan-storage: 2 addresses under the first index, its MAC under the second; sriov-data
    // (no address): its MAC only.
    assert_eq!(cache.index().secondary_keys(), 4);
    let macvlan = "86:1d:96:ff:55:0d";
    assert_eq!(
        network(
            &cache,
            SecondaryKey::new("net1", Some(ip("fd10::5")), mac(macvlan))
        ),
        storage("shop/macvlan-storage")
    );
    assert_eq!(
        network(
            &cache,
            SecondaryKey::new("net1", Some(ip("192.168.10.5")), mac(macvlan))
        ),
        storage("shop/macvlan-storage")
    );
    assert_eq!(
        network(
            &cache,
            SecondaryKey::new("", None, mac("A2:4C:11:9E:00:07"))
        ),
        storage("shop/sriov-data")
    );
    // The default network's entry is not a secondary interface.
    assert_eq!(
        network(
            &cache,
            SecondaryKey::new("", None, mac("0a:58:0a:80:00:1e"))
        ),
        None
    );
    let primary = id(&cache, "10.128.0.30").context("storage-gw-0 by its address")?;
    assert_eq!(
        (primary.name.as_deref(), primary.network_name.as_deref()),
        (Some("storage-gw-0"), Some("primary"))
    );
    assert_eq!(
        (primary.owner_type.as_deref(), primary.owner_name.as_deref()),
        (Some("StatefulSet"), Some("storage-gw"))
    );
    // The cut-short annotation: one rejection, the pod still known by its address.
    assert_eq!(cache.status().kind(Kind::Pod).rejected_addresses, 1);
    assert_eq!(
        id(&cache, "10.128.0.31")
            .and_then(|i| i.name.clone())
            .as_deref(),
        Some("broken-status")
    );
    drop(cache);

    // Without secondary networks the annotation is not read: no key, no rejection.
    let cache = start(Vec::new()).await?;
    assert_eq!(cache.index().secondary_keys(), 0);
    assert_eq!(cache.status().kind(Kind::Pod).rejected_addresses, 0);
    assert_eq!(
        network(
            &cache,
            SecondaryKey::new("", None, mac("a2:4c:11:9e:00:07"))
        ),
        None
    );
    assert_eq!(
        id(&cache, "10.128.0.31")
            .and_then(|i| i.name.clone())
            .as_deref(),
        Some("broken-status")
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stages_with_other_secondary_networks_get_their_own_cache() -> Result<()> {
    use netobserv_flow::config::Config;
    use netobserv_flow::pipeline::{Metrics, Pipeline, StageRegistry};

    let (server, _dir, kubeconfig) = peer(&["cluster.json", "multus.json"]).await?;
    let stage = |name: &str, secondary: &str| {
        format!(
            "  - name: {name}\n    transform:\n      type: network\n      network:\n        rules:\n          - type: add_kubernetes\n            kubernetes: {{ipField: SrcAddr, macField: SrcMac, output: SrcK8S}}\n        kubeConfig: {{configPath: {}{secondary}}}\n",
            kubeconfig.display()
        )
    };
    let yaml = format!(
        "pipeline:\n  - name: in\n  - name: a\n    follows: in\n  - name: b\n    follows: a\n  - name: c\n    follows: b\n  - name: out\n    follows: c\nparameters:\n  - name: in\n    ingest: {{type: stdin}}\n{}{}{}  - name: out\n    write: {{type: none}}\n",
        stage("a", ""),
        stage("b", ", secondaryNetworks: [{index: {mac: null}}]"),
        stage(
            "c",
            ", secondaryNetworks: [{name: again, index: {mac: null}}]"
        ),
    );
    let config = Config::from_yaml(&yaml)?;
    let mut registry = StageRegistry::with_builtins();
    netobserv_enrich::register_with_kube(&mut registry, netobserv_enrich::KubeOptions::default());
    let pipeline = Pipeline::build(&config, &registry, Metrics::new("flp_")?).await?;
    // Only the second cache's metrics are left out (the names are taken).
    let warnings = pipeline.warnings();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].contains("the Kubernetes cache's metrics are not served"),
        "{warnings:?}"
    );
    let lists = server
        .requests()
        .iter()
        .filter(|r| r.path == "/api/v1/pods" && !r.is_watch())
        .count();
    assert_eq!(lists, 2, "a: one cache; b and c (same index): another");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forbidden_jobs_are_done_without_and_their_pods_keep_the_job_as_owner() -> Result<()> {
    // The NetObserv operator's RBAC grants no Jobs: the cache starts without them.
    let (server, _dir, kubeconfig) = peer(&["cluster.json"]).await?;
    server.fail("jobs", 403);
    let cache = KubeCache::start(client(Some(&kubeconfig)).await?, config()).await?;
    let status = cache.status();
    assert!(status.synced());
    let jobs = status.kind(Kind::Job);
    assert!(!jobs.synced);
    assert!(
        jobs.disabled.as_deref().is_some_and(|d| d.contains("403")),
        "{jobs:?}"
    );
    // Upstream's owner for a CronJob's pod: its Job.
    let report = id(&cache, "10.128.0.12").unwrap();
    assert_eq!(
        (report.owner_type.as_deref(), report.owner_name.as_deref()),
        (Some("Job"), Some("report-29"))
    );
    // The other kinds as usual; the Job watcher stopped (one list attempt, no watch).
    assert_eq!(
        row(&id(&cache, "10.128.0.7").unwrap()).3,
        Some("Deployment")
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    let job_requests: Vec<_> = server
        .requests()
        .into_iter()
        .filter(|r| r.path == "/apis/batch/v1/jobs")
        .collect();
    assert_eq!(job_requests.len(), 1, "{job_requests:?}");
    Ok(())
}
