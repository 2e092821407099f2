//! The in-test kube-apiserver peer (`tests/support/apiserver.rs`) driven by kube-rs itself:
//! whatever kube-rs decodes here, it decodes from the peer exactly as it would from a cluster.

#[path = "support/apiserver.rs"]
mod apiserver;

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail, ensure};
use apiserver::{ApiServer, METADATA_ACCEPT, METADATA_LIST_ACCEPT};
use futures_util::stream::BoxStream;
use futures_util::{StreamExt, TryStreamExt};
use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::{Node, Pod, Service};
use kube::api::{Api, ListParams, WatchEvent, WatchParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::core::PartialObjectMeta;
use kube::runtime::watcher as watch_stream;
use kube::runtime::watcher::{self, Event};
use kube::{Client, Config, ResourceExt};
use serde_json::{Value, json};

/// Every pod of `testdata/kube/cluster.json`, in the API server's order (namespace, then name).
const ALL_PODS: [&str; 6] = [
    "debug-shell",
    "node-exporter-7kq2p",
    "report-29-q7w4n",
    "db-0",
    "pending-1",
    "web-5d4f-x9",
];
/// The pods of namespace `shop`, in order.
const SHOP_PODS: [&str; 3] = ["db-0", "pending-1", "web-5d4f-x9"];

/// How long a test waits for one event before it fails.
const WAIT: Duration = Duration::from_secs(10);

fn cluster_json() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("testdata/kube/cluster.json")
}

/// A peer holding `cluster.json` and a kube client built from its URL.
async fn peer() -> Result<(ApiServer, Client)> {
    let server = ApiServer::start().await;
    server.load(&cluster_json());
    let config = Config::new(server.url().parse()?);
    let client = Client::try_from(config)?;
    Ok((server, client))
}

fn pod(namespace: &str, name: &str, ip: &str) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": {"app": "test"}},
        "spec": {
            "containers": [{"name": "c", "image": "registry.example.com/c:1"}],
            "nodeName": "worker-1"
        },
        "status": {"phase": "Running", "hostIP": "10.0.0.1", "podIP": ip, "podIPs": [{"ip": ip}]}
    })
}

async fn next<K>(
    stream: &mut BoxStream<'_, watcher::Result<Event<K>>>,
) -> Result<watcher::Result<Event<K>>> {
    tokio::time::timeout(WAIT, stream.next())
        .await
        .context("no watcher event in time")?
        .ok_or_else(|| anyhow!("watcher stream ended"))
}

/// Reads `Init`, the `InitApply`s and `InitDone`; returns the names applied, in order.
async fn initial_names<K: ResourceExt>(
    stream: &mut BoxStream<'_, watcher::Result<Event<K>>>,
) -> Result<Vec<String>> {
    match next(stream).await?? {
        Event::Init => {}
        other => bail!("expected Init, got {:?}", kind_of(&other)),
    }
    let mut names = Vec::new();
    loop {
        match next(stream).await?? {
            Event::InitApply(object) => names.push(object.name_any()),
            Event::InitDone => return Ok(names),
            other => bail!("expected InitApply or InitDone, got {:?}", kind_of(&other)),
        }
    }
}

fn kind_of<K>(event: &Event<K>) -> &'static str {
    match event {
        Event::Apply(_) => "Apply",
        Event::Delete(_) => "Delete",
        Event::Init => "Init",
        Event::InitApply(_) => "InitApply",
        Event::InitDone => "InitDone",
    }
}

async fn expect_apply<K: ResourceExt>(
    stream: &mut BoxStream<'_, watcher::Result<Event<K>>>,
) -> Result<K> {
    match next(stream).await?? {
        Event::Apply(object) => Ok(object),
        other => bail!("expected Apply, got {}", kind_of(&other)),
    }
}

/// The list (non-watch) and watch requests the peer received for `path`.
fn requests_for(
    server: &ApiServer,
    path: &str,
) -> (Vec<apiserver::Request>, Vec<apiserver::Request>) {
    server
        .requests()
        .into_iter()
        .filter(|r| r.path == path)
        .partition(|r| !r.is_watch())
}

fn names<K: ResourceExt>(items: &[K]) -> Vec<String> {
    items.iter().map(ResourceExt::name_any).collect()
}

fn kube_status(error: &kube::Error) -> Result<&kube::core::Status> {
    match error {
        kube::Error::Api(status) => Ok(status),
        other => bail!("expected an API error, got {other}"),
    }
}

/// GET through the kube client, returning the body text (or the API error).
async fn raw_get(client: &Client, path: &str, accept: Option<&str>) -> Result<Value, kube::Error> {
    let mut request = axum::http::Request::get(path);
    if let Some(accept) = accept {
        request = request.header("accept", accept);
    }
    let request = request.body(Vec::new()).map_err(kube::Error::HttpError)?;
    let text = client.request_text(request).await?;
    serde_json::from_str(&text).map_err(kube::Error::SerdeError)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_pages_with_limit_and_continue_as_of_the_first_page() -> Result<()> {
    let (server, client) = peer().await?;
    let pods: Api<Pod> = Api::all(client);

    let first = pods.list(&ListParams::default().limit(2)).await?;
    assert_eq!(names(&first.items), ["debug-shell", "node-exporter-7kq2p"]);
    assert_eq!(first.metadata.remaining_item_count, Some(4));
    let list_rv = first
        .metadata
        .resource_version
        .clone()
        .context("list without resourceVersion")?;
    assert_eq!(list_rv, server.resource_version().to_string());

    // Changes after the first page do not show in the following pages (a consistent snapshot).
    server.apply(pod("zz-late", "late-1", "10.128.0.99"));
    assert!(server.delete("Pod", Some("shop"), "db-0"));

    let mut all = names(&first.items);
    let mut token = first.metadata.continue_.clone();
    let mut pages = 1;
    while let Some(t) = token.filter(|t| !t.is_empty()) {
        let page = pods
            .list(&ListParams::default().limit(2).continue_token(&t))
            .await?;
        ensure!(
            page.items.len() <= 2,
            "page of {} items for limit 2",
            page.items.len()
        );
        assert_eq!(
            page.metadata.resource_version.as_deref(),
            Some(list_rv.as_str())
        );
        all.extend(names(&page.items));
        token = page.metadata.continue_.clone();
        pages += 1;
        ensure!(pages <= 10, "pagination does not end");
    }
    assert_eq!(all, ALL_PODS);
    assert_eq!(pages, 3);

    // A new list sees the changes.
    let now = pods.list(&ListParams::default()).await?;
    assert_eq!(
        names(&now.items),
        [
            "debug-shell",
            "node-exporter-7kq2p",
            "report-29-q7w4n",
            "pending-1",
            "web-5d4f-x9",
            "late-1"
        ]
    );
    assert_eq!(now.metadata.continue_, None);

    let (lists, watches) = requests_for(&server, "/api/v1/pods");
    assert_eq!(lists.len(), 4);
    assert!(watches.is_empty());
    assert_eq!(lists[0].param("limit"), Some("2"));
    assert_eq!(lists[0].param("continue"), None);
    assert!(lists[1].param("continue").is_some() && lists[2].param("continue").is_some());
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typed_objects_decode_with_their_addresses_and_owners() -> Result<()> {
    let (_server, client) = peer().await?;
    let shop: Api<Pod> = Api::namespaced(client.clone(), "shop");
    let list = shop.list(&ListParams::default()).await?;
    assert_eq!(names(&list.items), SHOP_PODS);

    let web = shop.get("web-5d4f-x9").await?;
    let status = web.status.as_ref().context("web pod without status")?;
    let pod_ips: Vec<&str> = status
        .pod_ips
        .iter()
        .flatten()
        .map(|ip| ip.ip.as_str())
        .collect();
    assert_eq!(pod_ips, ["10.128.0.7", "fd01::7"]);
    assert_eq!(status.host_ip.as_deref(), Some("10.0.0.1"));
    assert_eq!(
        web.spec.as_ref().and_then(|s| s.node_name.as_deref()),
        Some("worker-1")
    );
    let owner = &web.owner_references()[0];
    assert_eq!(
        (owner.kind.as_str(), owner.name.as_str()),
        ("ReplicaSet", "web-5d4f")
    );
    assert_eq!(web.metadata.managed_fields.as_ref().map(Vec::len), Some(2));

    let services: Api<Service> = Api::namespaced(client.clone(), "shop");
    let web_svc = services.get("web").await?;
    let spec = web_svc.spec.context("service without spec")?;
    assert_eq!(
        spec.cluster_ips,
        Some(vec!["172.30.0.10".to_owned(), "fd02::10".to_owned()])
    );
    let external = services
        .get("payments")
        .await?
        .spec
        .context("service without spec")?;
    assert_eq!(
        (external.type_.as_deref(), external.cluster_ip),
        (Some("ExternalName"), None)
    );

    // On the wire: typed list items carry no kind/apiVersion, as the API server sends them.
    let raw = raw_get(&client, "/api/v1/namespaces/shop/pods", None).await?;
    assert_eq!(
        (raw["kind"].as_str(), raw["apiVersion"].as_str()),
        (Some("PodList"), Some("v1"))
    );
    let items = raw["items"].as_array().context("items")?;
    assert_eq!(items.len(), 3);
    assert!(
        items
            .iter()
            .all(|i| i.get("kind").is_none() && i.get("apiVersion").is_none())
    );
    // A get carries them.
    let one = raw_get(
        &client,
        "/apis/apps/v1/namespaces/shop/replicasets/web-5d4f",
        None,
    )
    .await?;
    assert_eq!(
        (one["kind"].as_str(), one["apiVersion"].as_str()),
        (Some("ReplicaSet"), Some("apps/v1"))
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_metadata_answers_partial_object_metadata_only() -> Result<()> {
    let (server, client) = peer().await?;
    let replicasets: Api<ReplicaSet> = Api::all(client.clone());
    let list = replicasets.list_metadata(&ListParams::default()).await?;
    assert_eq!(list.types.kind, "PartialObjectMetadataList");
    assert_eq!(list.types.api_version, "meta.k8s.io/v1");
    assert_eq!(names(&list.items), ["web-5d4f"]);
    let item = &list.items[0];
    let types = item
        .types
        .as_ref()
        .context("item without kind/apiVersion")?;
    assert_eq!(
        (types.kind.as_str(), types.api_version.as_str()),
        ("PartialObjectMetadata", "meta.k8s.io/v1")
    );
    let owner = &item
        .metadata
        .owner_references
        .as_ref()
        .context("no owner")?[0];
    assert_eq!(
        (owner.kind.as_str(), owner.name.as_str()),
        ("Deployment", "web")
    );

    let (lists, _) = requests_for(&server, "/apis/apps/v1/replicasets");
    assert_eq!(lists.len(), 1);
    assert_eq!(lists[0].accept.as_deref(), Some(METADATA_LIST_ACCEPT));

    // On the wire: metadata and type fields only.
    let raw = raw_get(
        &client,
        "/apis/apps/v1/replicasets",
        Some(METADATA_LIST_ACCEPT),
    )
    .await?;
    let fields: BTreeSet<&str> = raw["items"][0]
        .as_object()
        .context("item")?
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(fields, BTreeSet::from(["apiVersion", "kind", "metadata"]));

    // The single-object form asked of a list is refused as the API server refuses it.
    let refused = raw_get(&client, "/apis/apps/v1/replicasets", Some(METADATA_ACCEPT)).await;
    let error = refused
        .err()
        .context("PartialObjectMetadata for a list must be refused")?;
    assert_eq!(kube_status(&error)?.code, 406);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watcher_lists_then_watches_applies_and_deletes() -> Result<()> {
    let (server, client) = peer().await?;
    let shop: Api<Pod> = Api::namespaced(client, "shop");
    let mut stream = watch_stream(shop, watcher::Config::default()).boxed();
    assert_eq!(initial_names(&mut stream).await?, SHOP_PODS);
    let list_rv = server.resource_version();

    server.apply(pod("shop", "web-5d4f-y2", "10.128.0.8"));
    let added = expect_apply(&mut stream).await?;
    assert_eq!(added.name_any(), "web-5d4f-y2");
    assert_eq!(
        added.resource_version(),
        Some(server.resource_version().to_string())
    );
    let ip = added.status.and_then(|s| s.pod_ip);
    assert_eq!(ip.as_deref(), Some("10.128.0.8"));

    // Another namespace's pod does not reach this watch; the next event is the update.
    server.apply(pod("default", "elsewhere", "10.128.0.9"));
    server.apply(pod("shop", "pending-1", "10.128.0.10"));
    let updated = expect_apply(&mut stream).await?;
    assert_eq!(updated.name_any(), "pending-1");
    assert_eq!(
        updated.status.and_then(|s| s.pod_ip).as_deref(),
        Some("10.128.0.10")
    );

    assert!(server.delete("Pod", Some("shop"), "db-0"));
    match next(&mut stream).await?? {
        Event::Delete(gone) => {
            assert_eq!(gone.name_any(), "db-0");
            assert_eq!(
                gone.resource_version(),
                Some(server.resource_version().to_string())
            );
            // The last state: still the StatefulSet's pod with its address.
            assert_eq!(
                gone.status.and_then(|s| s.pod_ip).as_deref(),
                Some("10.129.0.5")
            );
        }
        other => bail!("expected Delete, got {}", kind_of(&other)),
    }
    assert!(!server.delete("Pod", Some("shop"), "db-0"));

    let (lists, watches) = requests_for(&server, "/api/v1/namespaces/shop/pods");
    assert_eq!(lists.len(), 1);
    assert_eq!(lists[0].param("limit"), Some("500"));
    assert_eq!(lists[0].param("resourceVersion"), None);
    assert_eq!(watches.len(), 1);
    assert_eq!(
        watches[0].param("resourceVersion"),
        Some(list_rv.to_string().as_str())
    );
    assert_eq!(watches[0].param("allowWatchBookmarks"), Some("true"));
    assert_eq!(watches[0].param("sendInitialEvents"), None);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_bookmark_and_a_close_the_watch_resumes_from_the_bookmark() -> Result<()> {
    let (server, client) = peer().await?;
    let pods: Api<Pod> = Api::all(client);
    let mut stream = watch_stream(pods, watcher::Config::default()).boxed();
    assert_eq!(initial_names(&mut stream).await?, ALL_PODS);
    let list_rv = server.resource_version();

    // The watch is open once it delivers.
    server.apply(pod("shop", "one", "10.128.0.31"));
    assert_eq!(expect_apply(&mut stream).await?.name_any(), "one");
    let seen_rv = server.resource_version();
    // A change the pod watch does not see moves the global resourceVersion on.
    server.apply(json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "worker-3"}}));
    let bookmark_rv = server.resource_version();
    assert!(bookmark_rv > seen_rv);

    server.bookmark();
    server.close_watches();
    server.apply(pod("shop", "two", "10.128.0.32"));
    assert_eq!(expect_apply(&mut stream).await?.name_any(), "two");

    let (lists, watches) = requests_for(&server, "/api/v1/pods");
    assert_eq!(lists.len(), 1, "no relist after a clean close");
    let from: Vec<Option<&str>> = watches.iter().map(|w| w.param("resourceVersion")).collect();
    assert_eq!(
        from,
        [
            Some(list_rv.to_string().as_str()),
            Some(bookmark_rv.to_string().as_str())
        ]
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compaction_makes_the_watcher_relist() -> Result<()> {
    let (server, client) = peer().await?;
    let pods: Api<Pod> = Api::all(client.clone());
    let mut stream = watch_stream(pods.clone(), watcher::Config::default()).boxed();
    assert_eq!(initial_names(&mut stream).await?, ALL_PODS);
    let old_rv = server.resource_version();
    server.apply(pod("shop", "one", "10.128.0.31"));
    assert_eq!(expect_apply(&mut stream).await?.name_any(), "one");

    server.compact();
    let compacted = server.resource_version();
    assert!(server.delete("Pod", Some("default"), "debug-shell"));
    server.apply(pod("shop", "two", "10.128.0.32"));

    match next(&mut stream).await? {
        Err(watcher::Error::WatchError(status)) => {
            assert_eq!((status.code, status.reason.as_str()), (410, "Expired"));
        }
        other => bail!(
            "expected the 410 watch error, got {:?}",
            other.map(|e| kind_of(&e))
        ),
    }
    assert_eq!(
        initial_names(&mut stream).await?,
        [
            "node-exporter-7kq2p",
            "report-29-q7w4n",
            "db-0",
            "one",
            "pending-1",
            "two",
            "web-5d4f-x9"
        ]
    );
    let (lists, watches) = requests_for(&server, "/api/v1/pods");
    assert_eq!(
        lists.len(),
        2,
        "one list before and one after the compaction"
    );
    assert_eq!(watches.len(), 1);

    // A watch from before the compaction: 200, one ERROR event, the end.
    let mut old = pods
        .watch(&WatchParams::default(), &old_rv.to_string())
        .await?
        .boxed();
    match tokio::time::timeout(WAIT, old.try_next()).await?? {
        Some(WatchEvent::Error(status)) => {
            assert_eq!((status.code, status.reason.as_str()), (410, "Expired"));
            assert_eq!(
                status.message,
                format!("too old resource version: {old_rv} ({compacted})")
            );
        }
        other => bail!("expected an ERROR event, got {other:?}"),
    }
    assert!(tokio::time::timeout(WAIT, old.next()).await?.is_none());
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_continue_token_from_before_a_compaction_expires() -> Result<()> {
    let (server, client) = peer().await?;
    let pods: Api<Pod> = Api::all(client);
    let first = pods.list(&ListParams::default().limit(2)).await?;
    let token = first.metadata.continue_.context("no continue token")?;

    // Unchanged since the first page: the token still reads a consistent snapshot.
    server.compact();
    let second = pods
        .list(&ListParams::default().limit(2).continue_token(&token))
        .await?;
    assert_eq!(names(&second.items), ["report-29-q7w4n", "db-0"]);

    server.apply(pod("shop", "one", "10.128.0.31"));
    server.compact();
    let error = pods
        .list(&ListParams::default().limit(2).continue_token(&token))
        .await
        .err()
        .context("expected 410")?;
    let status = kube_status(&error)?;
    assert_eq!((status.code, status.reason.as_str()), (410, "Expired"));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_injected_403_reads_as_forbidden_until_healed() -> Result<()> {
    let (server, client) = peer().await?;
    let pods: Api<Pod> = Api::all(client.clone());
    server.fail("pods", 403);

    let error = pods
        .list(&ListParams::default())
        .await
        .err()
        .context("expected a 403")?;
    let status = kube_status(&error)?;
    assert!(status.is_forbidden());
    assert_eq!(status.code, 403);
    assert_eq!(
        status.message,
        "pods is forbidden: User \"system:anonymous\" cannot list resource \"pods\" in API group \"\" at the cluster scope"
    );

    let mut stream = watch_stream(pods.clone(), watcher::Config::default()).boxed();
    assert!(matches!(next(&mut stream).await??, Event::Init));
    match next(&mut stream).await? {
        Err(watcher::Error::InitialListFailed(error)) => assert_eq!(kube_status(&error)?.code, 403),
        other => bail!(
            "expected InitialListFailed, got {:?}",
            other.map(|e| kind_of(&e))
        ),
    }
    // Other resources answer.
    let nodes: Api<Node> = Api::all(client);
    assert_eq!(
        names(&nodes.list(&ListParams::default()).await?.items),
        ["worker-1", "worker-2"]
    );

    server.heal("pods");
    assert_eq!(
        names(&pods.list(&ListParams::default()).await?.items),
        ALL_PODS
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_from_the_written_kubeconfig_reaches_the_peer() -> Result<()> {
    let server = ApiServer::start().await;
    server.load(&cluster_json());
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("kubeconfig");
    server.write_kubeconfig(&path);

    let kubeconfig = Kubeconfig::read_from(&path)?;
    let config = Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default()).await?;
    assert_eq!(config.default_namespace, "default");
    let client = Client::try_from(config)?;

    let nodes: Api<Node> = Api::all(client.clone());
    let list = nodes.list(&ListParams::default()).await?;
    assert_eq!(names(&list.items), ["worker-1", "worker-2"]);
    let addresses: Vec<(String, String)> = list.items[0]
        .status
        .iter()
        .flat_map(|s| s.addresses.iter().flatten())
        .map(|a| (a.type_.clone(), a.address.clone()))
        .collect();
    let expected = [
        ("InternalIP", "10.0.0.1"),
        ("ExternalIP", "203.0.113.1"),
        ("InternalIP", "fd00::1"),
        ("Hostname", "worker-1"),
    ];
    assert_eq!(
        addresses,
        expected.map(|(t, a)| (t.to_owned(), a.to_owned()))
    );

    let here: Api<Pod> = Api::default_namespaced(client);
    assert_eq!(
        names(&here.list(&ListParams::default()).await?.items),
        ["debug-shell"]
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_metadata_watcher_asks_for_and_gets_metadata_only() -> Result<()> {
    let (server, client) = peer().await?;
    // kube 5's form of a metadata watcher: `Api<PartialObjectMeta<K>>` sends the metadata Accept.
    let replicasets: Api<PartialObjectMeta<ReplicaSet>> = Api::all(client);
    let mut stream = watch_stream(replicasets, watcher::Config::default()).boxed();
    assert_eq!(initial_names(&mut stream).await?, ["web-5d4f"]);

    server.apply(json!({
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {
            "name": "web-7a1b",
            "namespace": "shop",
            "ownerReferences": [{
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "name": "web",
                "uid": "3f6e2a10-8c1b-4b7a-9d0e-5a4b3c2d1e00",
                "controller": true
            }]
        },
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}}}
    }));
    let applied = expect_apply(&mut stream).await?;
    assert_eq!(applied.name_any(), "web-7a1b");
    let types = applied.types.as_ref().context("no type fields")?;
    assert_eq!(types.kind, "PartialObjectMetadata");
    let owner = &applied
        .metadata
        .owner_references
        .as_ref()
        .context("no owner")?[0];
    assert_eq!(owner.name, "web");

    let (lists, watches) = requests_for(&server, "/apis/apps/v1/replicasets");
    assert_eq!(lists.len(), 1);
    assert_eq!(lists[0].accept.as_deref(), Some(METADATA_LIST_ACCEPT));
    assert_eq!(watches.len(), 1);
    assert_eq!(watches[0].accept.as_deref(), Some(METADATA_ACCEPT));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[allow(deprecated)] // kube 5 deprecates `metadata_watcher` for the form above; it still ships
async fn the_deprecated_metadata_watcher_gets_metadata_only() -> Result<()> {
    let (server, client) = peer().await?;
    let replicasets: Api<ReplicaSet> = Api::namespaced(client, "shop");
    let mut stream =
        kube::runtime::metadata_watcher(replicasets, watcher::Config::default()).boxed();
    assert_eq!(initial_names(&mut stream).await?, ["web-5d4f"]);
    assert!(server.delete("ReplicaSet", Some("shop"), "web-5d4f"));
    match next(&mut stream).await?? {
        Event::Delete(gone) => assert_eq!(gone.name_any(), "web-5d4f"),
        other => bail!("expected Delete, got {}", kind_of(&other)),
    }
    let (lists, watches) = requests_for(&server, "/apis/apps/v1/namespaces/shop/replicasets");
    let accepts: Vec<Option<&str>> = lists
        .iter()
        .chain(&watches)
        .map(|r| r.accept.as_deref())
        .collect();
    assert_eq!(accepts, [Some(METADATA_LIST_ACCEPT), Some(METADATA_ACCEPT)]);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watch_from_zero_starts_with_the_state_then_bookmarks_and_times_out() -> Result<()> {
    let (server, client) = peer().await?;
    let services: Api<Service> = Api::namespaced(client, "shop");
    let mut stream = services
        .watch(&WatchParams::default().timeout(2), "0")
        .await?
        .boxed();
    let mut added = Vec::new();
    for _ in 0..4 {
        match tokio::time::timeout(WAIT, stream.try_next()).await?? {
            Some(WatchEvent::Added(svc)) => added.push(svc.name_any()),
            other => bail!("expected ADDED, got {other:?}"),
        }
    }
    assert_eq!(added, ["db", "gateway", "payments", "web"]);

    server.bookmark();
    match tokio::time::timeout(WAIT, stream.try_next()).await?? {
        Some(WatchEvent::Bookmark(bookmark)) => {
            assert_eq!(
                bookmark.metadata.resource_version,
                server.resource_version().to_string()
            );
            assert_eq!(
                (
                    bookmark.types.kind.as_str(),
                    bookmark.types.api_version.as_str()
                ),
                ("Service", "v1")
            );
        }
        other => bail!("expected BOOKMARK, got {other:?}"),
    }
    // timeoutSeconds=2: the server ends the stream.
    let started = Instant::now();
    assert!(tokio::time::timeout(WAIT, stream.next()).await?.is_none());
    assert!(started.elapsed() < WAIT);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_are_status_objects() -> Result<()> {
    let (server, client) = peer().await?;

    let missing = raw_get(&client, "/api/v1/configmaps", None)
        .await
        .err()
        .context("expected 404")?;
    let status = kube_status(&missing)?;
    assert_eq!((status.code, status.reason.as_str()), (404, "NotFound"));

    let bad = raw_get(&client, "/api/v1/pods?limit=many", None)
        .await
        .err()
        .context("expected 400")?;
    assert_eq!(kube_status(&bad)?.code, 400);
    let bad = raw_get(&client, "/api/v1/pods?limit=2&continue=zz", None)
        .await
        .err()
        .context("expected 400")?;
    assert_eq!(kube_status(&bad)?.code, 400);

    // A server without the WatchList feature gate refuses a streaming list.
    let pods: Api<Pod> = Api::all(client.clone());
    let refused = pods
        .watch(&WatchParams::default().initial_events(), "")
        .await
        .err()
        .context("expected 422")?;
    let status = kube_status(&refused)?;
    assert_eq!((status.code, status.reason.as_str()), (422, "Invalid"));
    assert!(status.message.contains(
        "sendInitialEvents is forbidden for watch unless the WatchList feature gate is enabled"
    ));

    // A missing object is a NotFound Status, which kube-rs turns into `None`.
    let shop: Api<Pod> = Api::namespaced(client, "shop");
    assert!(shop.get_opt("nope").await?.is_none());
    assert!(shop.get_opt("db-0").await?.is_some());
    assert_eq!(server.requests().len(), 6);
    Ok(())
}

/// A GET over a plain TCP connection: (status line, body).
fn http_get(addr: &str, path: &str) -> Result<(String, Vec<u8>)> {
    let mut stream = std::net::TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(WAIT))?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response)?;
    let split = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .context("no end of headers")?;
    let head = String::from_utf8_lossy(&response[..split]).into_owned();
    let status_line = head.lines().next().unwrap_or_default().to_owned();
    Ok((status_line, response[split + 4..].to_vec()))
}

#[test]
fn a_peer_in_its_own_thread_serves_sync_callers_and_stops_on_drop() -> Result<()> {
    let server = ApiServer::start_in_thread();
    server.load(&cluster_json());
    assert_eq!(server.object_count(), 15);
    let addr = server.url().trim_start_matches("http://").to_owned();
    let (status_line, body) = http_get(&addr, "/api/v1/nodes")?;
    assert_eq!(status_line, "HTTP/1.1 200 OK");
    let list: Value = serde_json::from_slice(&body)?;
    let listed: Vec<&str> = list["items"]
        .as_array()
        .context("items")?
        .iter()
        .filter_map(|n| n["metadata"]["name"].as_str())
        .collect();
    assert_eq!(listed, ["worker-1", "worker-2"]);

    drop(server);
    assert!(
        std::net::TcpStream::connect(&addr).is_err(),
        "the peer still listens after drop"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_thousand_pods_list_in_pages_of_500() -> Result<()> {
    let server = ApiServer::start().await;
    let started = Instant::now();
    for i in 0..20_000u32 {
        let ip = format!("10.{}.{}.{}", 128 + i / 65_536, (i / 256) % 256, i % 256);
        server.apply(pod(
            &format!("ns-{:03}", i % 200),
            &format!("pod-{i:05}"),
            &ip,
        ));
    }
    let applied = started.elapsed();
    let client = Client::try_from(Config::new(server.url().parse()?))?;

    let started = Instant::now();
    let mut stream = watch_stream(Api::<Pod>::all(client), watcher::Config::default()).boxed();
    let listed = initial_names(&mut stream).await?;
    let elapsed = started.elapsed();
    assert_eq!(listed.len(), 20_000);
    assert_eq!(listed.iter().collect::<BTreeSet<_>>().len(), 20_000);
    let (lists, _) = requests_for(&server, "/api/v1/pods");
    assert_eq!(lists.len(), 40);
    println!(
        "apiserver peer: applied 20,000 pods in {applied:?}; kube-rs watcher listed them in 40 pages in {elapsed:?}"
    );
    Ok(())
}
