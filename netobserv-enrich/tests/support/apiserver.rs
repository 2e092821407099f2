//! A stand-in for kube-apiserver in tests: an HTTP/1.1 server on `127.0.0.1` that serves `list`,
//! `watch` and `get` of pods, services and nodes (`/api/v1`), replicasets and deployments
//! (`/apis/apps/v1`) and jobs (`/apis/batch/v1`) on the wire as the Kubernetes API server does,
//! so that kube-rs (`kube::Api`, `kube::runtime::watcher`, metadata watchers:
//! `Api<PartialObjectMeta<K>>` or the deprecated `metadata_watcher`) talks to it unchanged. No kube-apiserver runs where these tests
//! run; this peer is what they talk to.
//!
//! Include it with `#[path = "support/apiserver.rs"] mod apiserver;`. It depends only on tokio,
//! axum (features `tokio`, `http1`), serde_json, bytes, futures-util and std.
//!
//! What it implements, each point as the Kubernetes API server (1.33) does it:
//! - **Paths**: `/api/v1/{plural}`, `/api/v1/namespaces/{ns}/{plural}`, the
//!   `/apis/{group}/{version}/...` forms, and `.../{name}` for a get. Any other path answers `404`
//!   with a `Status` (reason `NotFound`); a method other than GET answers `405`.
//! - **One resourceVersion counter** for every kind, as etcd's revision: each `apply`/`delete`
//!   bumps it and stamps `metadata.resourceVersion` (plus a `uid` and a `creationTimestamp` when
//!   missing; an update keeps the stored ones).
//! - **List**: `{"kind":"PodList","apiVersion":"v1","metadata":{"resourceVersion":..},"items":..}`
//!   whose items carry no `kind`/`apiVersion` (the real server leaves them out of typed lists),
//!   ordered by namespace then name (etcd key order). `limit` + `continue` pagination is
//!   consistent: every page is served as of the first page's resourceVersion (changes made since
//!   are undone from the history) and `remainingItemCount` is set while items remain (not with a
//!   selector). A continue token older than the last `compact` answers `410` (reason `Expired`).
//!   `resourceVersion` follows the API's table: unset = most recent, `"0"` = any, `N` with `limit`
//!   = exact (`410` when compacted), `N` without `limit` = not older than; a version newer than the
//!   store answers `504` ("Too large resource version"). `continue` with a non-zero
//!   `resourceVersion` answers `400`; `resourceVersionMatch` and `sendInitialEvents` are validated
//!   as the server validates `ListOptions` (`422` Invalid).
//! - **Metadata only**: `Accept: application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1`
//!   on a list answers a `PartialObjectMetadataList` whose items are
//!   `{"kind":"PartialObjectMetadata","apiVersion":"meta.k8s.io/v1","metadata":{..}}`; on a watch
//!   or a get, `as=PartialObjectMetadata` makes every object such a `PartialObjectMetadata`. The
//!   response's `Content-Type` echoes the media type chosen. The single-object form asked of a
//!   list, or anything the peer cannot produce (`as=Table`, protobuf alone), answers `406`.
//! - **Watch** (`watch=true`/`1`): `200`, chunked, one `{"type":..,"object":..}` JSON object per
//!   line, objects with `kind`/`apiVersion`. `resourceVersion` unset or `"0"`: synthetic `ADDED`
//!   events for the current state first; `N`: every change newer than `N` replayed from the
//!   history; then live events. `N` older than the last `compact`: `200`, one `ERROR` event
//!   carrying a `Status` (code `410`, reason `Expired`, message `too old resource version: N (C)`),
//!   then the end of the stream, as the watch cache does. `DELETED` carries the last state with
//!   the deletion's resourceVersion. With `allowWatchBookmarks=true` the watch gets the bookmarks
//!   of [`ApiServer::bookmark`], shaped as the real server's: kind, apiVersion and
//!   `metadata: {"resourceVersion": .., "creationTimestamp": null}` (for a Pod also the
//!   `"spec":{"containers":null},"status":{}` a Go zero value serialises to). `timeoutSeconds`
//!   ends the stream after that many seconds (default 1800). `sendInitialEvents` is refused as a
//!   server without the `WatchList` feature gate refuses it: `422` Invalid,
//!   `sendInitialEvents is forbidden for watch unless the WatchList feature gate is enabled`
//!   (kube-rs sends it only with `watcher::Config::streaming_lists()`; its default lists, then
//!   watches).
//! - **Faults**: [`ApiServer::fail`] makes list, watch and get of one resource answer a status
//!   code with a `Status` body (a 403 worded as the RBAC refusal); [`ApiServer::compact`] forgets
//!   the history and ends open watches with the `410` ERROR event; [`ApiServer::close_watches`]
//!   ends them cleanly, as the server does at `timeoutSeconds`.
//! - Bad parameters (`limit=x`, a bad continue token, a bad boolean) answer `400` with a `Status`;
//!   nothing a client sends makes the peer panic.
//!
//! What it does not do: `labelSelector` and `fieldSelector` are recorded (see
//! [`ApiServer::requests`]) but not applied; no create/update/patch/delete over HTTP (tests drive
//! the state with [`ApiServer::apply`] and [`ApiServer::delete`]); no discovery, tables, protobuf,
//! authentication, or the `Status.metadata.continue` of an expired list; a watch asked for
//! `as=PartialObjectMetadataList` gets `PartialObjectMetadata` objects like one asked for
//! `as=PartialObjectMetadata` (not checked against a real server). The continue token is the
//! peer's own (hex of the list's resourceVersion and the last key), opaque as the real one is.
#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap};
use std::convert::Infallible;
use std::ops::Bound;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use bytes::{BufMut, Bytes, BytesMut};
use serde_json::{Map, Value, json};
use tokio::sync::{mpsc, oneshot};

/// `Accept` value kube-rs sends for `Api::list_metadata`.
pub const METADATA_LIST_ACCEPT: &str =
    "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1";
/// `Accept` value kube-rs sends for `Api::watch_metadata` and `Api::get_metadata`.
pub const METADATA_ACCEPT: &str = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1";

/// Seconds a watch stays open when the request names no `timeoutSeconds` (the API server's
/// `--min-request-timeout` default).
const DEFAULT_WATCH_TIMEOUT: u64 = 1800;

/// A resource type the peer serves.
struct Kind {
    kind: &'static str,
    list_kind: &'static str,
    plural: &'static str,
    group: &'static str,
    api_version: &'static str,
    namespaced: bool,
}

const KINDS: &[Kind] = &[
    Kind {
        kind: "Pod",
        list_kind: "PodList",
        plural: "pods",
        group: "",
        api_version: "v1",
        namespaced: true,
    },
    Kind {
        kind: "Service",
        list_kind: "ServiceList",
        plural: "services",
        group: "",
        api_version: "v1",
        namespaced: true,
    },
    Kind {
        kind: "Node",
        list_kind: "NodeList",
        plural: "nodes",
        group: "",
        api_version: "v1",
        namespaced: false,
    },
    Kind {
        kind: "ReplicaSet",
        list_kind: "ReplicaSetList",
        plural: "replicasets",
        group: "apps",
        api_version: "apps/v1",
        namespaced: true,
    },
    Kind {
        kind: "Job",
        list_kind: "JobList",
        plural: "jobs",
        group: "batch",
        api_version: "batch/v1",
        namespaced: true,
    },
    Kind {
        kind: "Deployment",
        list_kind: "DeploymentList",
        plural: "deployments",
        group: "apps",
        api_version: "apps/v1",
        namespaced: true,
    },
];

/// Why [`ApiServer::try_apply`], [`ApiServer::try_load`] or [`ApiServer::try_start`] refused.
#[derive(Debug)]
pub struct PeerError(String);

impl std::fmt::Display for PeerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for PeerError {}

/// One HTTP request the peer received.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    /// `GET`, `POST`, ...
    pub method: String,
    /// The path, as sent (not percent-decoded).
    pub path: String,
    /// The query pairs in order, percent-decoded (empty when the query could not be decoded).
    pub query: Vec<(String, String)>,
    /// The `Accept` header, if any.
    pub accept: Option<String>,
}

impl Request {
    /// The first value of query parameter `k`.
    pub fn param(&self, k: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.as_str())
    }

    /// Whether this is a watch (`watch=true` or `watch=1`).
    pub fn is_watch(&self) -> bool {
        matches!(self.param("watch").map(parse_bool), Some(Ok(true)))
    }
}

/// A stored object: the JSON without `kind`/`apiVersion` (as typed list items are served), its
/// serialisation and that of its metadata, both made once at apply time.
struct Stored {
    value: Value,
    json: Bytes,
    meta: Bytes,
    namespace: Option<String>,
}

impl Stored {
    fn new(value: Value) -> Stored {
        let json = Bytes::from(serde_json::to_vec(&value).unwrap_or_default());
        let meta = Bytes::from(serde_json::to_vec(&value["metadata"]).unwrap_or_default());
        let namespace = value["metadata"]["namespace"].as_str().map(str::to_owned);
        Stored {
            value,
            json,
            meta,
            namespace,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum EventType {
    Added,
    Modified,
    Deleted,
}

impl EventType {
    fn as_str(self) -> &'static str {
        match self {
            EventType::Added => "ADDED",
            EventType::Modified => "MODIFIED",
            EventType::Deleted => "DELETED",
        }
    }
}

/// One change in the history: the state after it (for a delete, the last state stamped with the
/// deletion's resourceVersion) and the state before it (to serve lists as of an older version).
struct Change {
    rv: u64,
    kind: usize,
    key: String,
    event: EventType,
    object: Arc<Stored>,
    previous: Option<Arc<Stored>>,
}

enum WatchMsg {
    Event(Arc<Change>),
    Bookmark(u64),
    Expired(String),
    Close,
}

struct Watcher {
    kind: usize,
    namespace: Option<String>,
    bookmarks: bool,
    /// The newest resourceVersion this watch has been sent.
    last_rv: u64,
    tx: mpsc::UnboundedSender<WatchMsg>,
}

impl Watcher {
    fn wants(&self, change: &Change) -> bool {
        change.kind == self.kind
            && (self.namespace.is_none()
                || self.namespace.as_deref() == change.object.namespace.as_deref())
    }
}

struct Store {
    rv: u64,
    /// Changes at or below this version are forgotten.
    compacted: u64,
    objects: Vec<BTreeMap<String, Arc<Stored>>>,
    /// Changes newer than `compacted`, by ascending `rv`.
    history: Vec<Arc<Change>>,
    watchers: Vec<Watcher>,
    failures: HashMap<String, u16>,
    uids: u64,
}

impl Store {
    fn new() -> Store {
        Store {
            rv: 1,
            compacted: 0,
            objects: KINDS.iter().map(|_| BTreeMap::new()).collect(),
            history: Vec::new(),
            watchers: Vec::new(),
            failures: HashMap::new(),
            uids: 0,
        }
    }

    fn record(&mut self, change: Change) {
        let change = Arc::new(change);
        self.watchers.retain_mut(|w| {
            if !w.wants(&change) {
                return !w.tx.is_closed();
            }
            w.last_rv = change.rv;
            w.tx.send(WatchMsg::Event(Arc::clone(&change))).is_ok()
        });
        self.history.push(change);
    }

    /// The objects of `kind` as of version `at` (which must not be older than `compacted`), keyed
    /// after `start` and within `namespace`, at most `limit` of them (plus whether more remain and
    /// how many).
    fn page(
        &self,
        kind: usize,
        namespace: Option<&str>,
        at: u64,
        start: Option<&str>,
        limit: Option<usize>,
    ) -> (Vec<Arc<Stored>>, Option<usize>) {
        // The value at `at` of every key changed since: the `previous` of its first later change.
        let mut overlay: BTreeMap<&str, Option<&Arc<Stored>>> = BTreeMap::new();
        let first_later = self.history.partition_point(|c| c.rv <= at);
        for change in &self.history[first_later..] {
            if change.kind == kind {
                overlay
                    .entry(change.key.as_str())
                    .or_insert(change.previous.as_ref());
            }
        }
        let prefix = namespace.map(|ns| format!("{ns}/"));
        let lower = match (start, prefix.as_deref()) {
            (Some(s), _) => Bound::Excluded(s),
            (None, Some(p)) => Bound::Included(p),
            (None, None) => Bound::Unbounded,
        };
        let current = self.objects[kind]
            .range::<str, _>((lower, Bound::Unbounded))
            .map(|(k, v)| (k.as_str(), Some(v)));
        let older = overlay
            .range::<str, _>((lower, Bound::Unbounded))
            .map(|(k, v)| (*k, *v));
        let mut items = Vec::new();
        let mut remaining = 0usize;
        for (key, value) in merge_sorted(current, older) {
            if let Some(p) = &prefix
                && !key.starts_with(p.as_str())
            {
                break;
            }
            let Some(value) = value else { continue };
            if limit.is_some_and(|l| items.len() >= l) {
                remaining += 1;
            } else {
                items.push(Arc::clone(value));
            }
        }
        (items, (remaining > 0).then_some(remaining))
    }
}

/// Merges two key-sorted sequences; on equal keys the second one's value wins (the state at an
/// older version overrides the current one).
fn merge_sorted<'a, A, B>(a: A, b: B) -> impl Iterator<Item = (&'a str, Option<&'a Arc<Stored>>)>
where
    A: Iterator<Item = (&'a str, Option<&'a Arc<Stored>>)>,
    B: Iterator<Item = (&'a str, Option<&'a Arc<Stored>>)>,
{
    let mut a = a.peekable();
    let mut b = b.peekable();
    std::iter::from_fn(move || match (a.peek(), b.peek()) {
        (Some((ka, _)), Some((kb, _))) => match ka.cmp(kb) {
            std::cmp::Ordering::Less => a.next(),
            std::cmp::Ordering::Greater => b.next(),
            std::cmp::Ordering::Equal => {
                a.next();
                b.next()
            }
        },
        (Some(_), None) => a.next(),
        (None, _) => b.next(),
    })
}

struct Shared {
    store: Mutex<Store>,
    requests: Mutex<Vec<Request>>,
}

impl Shared {
    fn store(&self) -> MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

enum Stopper {
    Task(tokio::task::JoinHandle<()>),
    Thread(
        Option<oneshot::Sender<()>>,
        Option<std::thread::JoinHandle<()>>,
    ),
}

struct Inner {
    shared: Arc<Shared>,
    addr: std::net::SocketAddr,
    stopper: Mutex<Stopper>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        close_all(&mut self.shared.store());
        match &mut *self.stopper.lock().unwrap_or_else(PoisonError::into_inner) {
            Stopper::Task(task) => task.abort(),
            Stopper::Thread(stop, thread) => {
                if let Some(stop) = stop.take() {
                    let _ = stop.send(());
                }
                if let Some(thread) = thread.take() {
                    let _ = thread.join();
                }
            }
        }
    }
}

fn close_all(store: &mut Store) {
    for w in store.watchers.drain(..) {
        let _ = w.tx.send(WatchMsg::Close);
    }
}

/// The peer: a handle to a running server. Clones share it; dropping the last one stops it.
#[derive(Clone)]
pub struct ApiServer {
    inner: Arc<Inner>,
}

impl ApiServer {
    /// Binds `127.0.0.1:0` and serves on the current tokio runtime.
    ///
    /// # Panics
    /// When no port can be bound (see [`ApiServer::try_start`] for the fallible form).
    pub async fn start() -> ApiServer {
        match ApiServer::try_start().await {
            Ok(server) => server,
            Err(e) => panic!("{e}"),
        }
    }

    /// [`ApiServer::start`], reporting a bind failure.
    pub async fn try_start() -> Result<ApiServer, PeerError> {
        let shared = new_shared();
        let (addr, task) = bind(Arc::clone(&shared)).await?;
        Ok(ApiServer {
            inner: Arc::new(Inner {
                shared,
                addr,
                stopper: Mutex::new(Stopper::Task(task)),
            }),
        })
    }

    /// Serves from a thread of its own with its own (current-thread) runtime, for callers without
    /// a runtime (bench binaries). Dropping the last handle stops the runtime and joins the thread.
    ///
    /// # Panics
    /// When the thread, the runtime or the port cannot be had.
    pub fn start_in_thread() -> ApiServer {
        match ApiServer::try_start_in_thread() {
            Ok(server) => server,
            Err(e) => panic!("{e}"),
        }
    }

    /// [`ApiServer::start_in_thread`], reporting a failure.
    pub fn try_start_in_thread() -> Result<ApiServer, PeerError> {
        let shared = new_shared();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let for_thread = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("apiserver-peer".into())
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(runtime) => runtime,
                    Err(e) => {
                        let _ = ready_tx.send(Err(PeerError(format!(
                            "apiserver peer: cannot build a runtime: {e}"
                        ))));
                        return;
                    }
                };
                runtime.block_on(async move {
                    match bind(for_thread).await {
                        Ok((addr, _task)) => {
                            let _ = ready_tx.send(Ok(addr));
                            let _ = stop_rx.await;
                        }
                        Err(e) => {
                            let _ = ready_tx.send(Err(e));
                        }
                    }
                });
            })
            .map_err(|e| PeerError(format!("apiserver peer: cannot spawn its thread: {e}")))?;
        let addr = ready_rx.recv().map_err(|_| {
            PeerError("apiserver peer: its thread ended before it was ready".into())
        })??;
        let stopper = Mutex::new(Stopper::Thread(Some(stop_tx), Some(thread)));
        Ok(ApiServer {
            inner: Arc::new(Inner {
                shared,
                addr,
                stopper,
            }),
        })
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.inner.addr)
    }

    /// Writes a kubeconfig (YAML) whose current context points at [`ApiServer::url`], namespace
    /// `default`, without credentials.
    ///
    /// # Panics
    /// When the file cannot be written (see [`ApiServer::try_write_kubeconfig`]).
    pub fn write_kubeconfig(&self, path: &Path) {
        if let Err(e) = self.try_write_kubeconfig(path) {
            panic!("{e}");
        }
    }

    /// [`ApiServer::write_kubeconfig`], reporting a write failure.
    pub fn try_write_kubeconfig(&self, path: &Path) -> Result<(), PeerError> {
        let yaml = format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: peer\n  cluster:\n    server: {}\n\
             users:\n- name: peer\n  user: {{}}\ncontexts:\n- name: peer\n  context:\n    cluster: peer\n    \
             user: peer\n    namespace: default\ncurrent-context: peer\npreferences: {{}}\n",
            self.url()
        );
        std::fs::write(path, yaml).map_err(|e| {
            PeerError(format!(
                "apiserver peer: cannot write kubeconfig {}: {e}",
                path.display()
            ))
        })
    }

    /// Creates or updates (by kind, namespace and name) one object, as the API server stores it.
    ///
    /// # Panics
    /// When the object is not one the peer serves (see [`ApiServer::try_apply`]): a test that
    /// hands it a wrong fixture stops there, with the reason.
    pub fn apply(&self, object: Value) {
        if let Err(e) = self.try_apply(object) {
            panic!("{e}");
        }
    }

    /// [`ApiServer::apply`], returning the resourceVersion stamped or why the object was refused.
    pub fn try_apply(&self, object: Value) -> Result<u64, PeerError> {
        let mut store = self.inner.shared.store();
        apply_locked(&mut store, object)
    }

    /// Deletes one object: open watches get `DELETED` with its last state and a new
    /// resourceVersion. `false` when there was no such object (or no such kind).
    pub fn delete(&self, kind: &str, namespace: Option<&str>, name: &str) -> bool {
        let Some(k) = KINDS.iter().position(|k| k.kind == kind) else {
            return false;
        };
        let key = object_key(namespace, name);
        let mut store = self.inner.shared.store();
        let Some(previous) = store.objects[k].remove(&key) else {
            return false;
        };
        store.rv += 1;
        let rv = store.rv;
        let mut last = previous.value.clone();
        last["metadata"]["resourceVersion"] = Value::String(rv.to_string());
        let change = Change {
            rv,
            kind: k,
            key,
            event: EventType::Deleted,
            object: Arc::new(Stored::new(last)),
            previous: Some(previous),
        };
        store.record(change);
        true
    }

    /// Applies every object of a file holding a `v1` `List` (`kind: List`, `items`) or a JSON
    /// array.
    ///
    /// # Panics
    /// When the file cannot be read or holds an object the peer does not serve (see
    /// [`ApiServer::try_load`]).
    pub fn load(&self, path: &Path) {
        if let Err(e) = self.try_load(path) {
            panic!("{e}");
        }
    }

    /// [`ApiServer::load`], returning how many objects were applied or why the file was refused
    /// (objects before the refused one stay applied).
    pub fn try_load(&self, path: &Path) -> Result<usize, PeerError> {
        let at = || format!("apiserver peer: {}", path.display());
        let text =
            std::fs::read(path).map_err(|e| PeerError(format!("{}: cannot read: {e}", at())))?;
        let value: Value = serde_json::from_slice(&text)
            .map_err(|e| PeerError(format!("{}: not JSON: {e}", at())))?;
        let items = match value {
            Value::Array(items) => items,
            Value::Object(mut list) if list.get("kind").and_then(Value::as_str) == Some("List") => {
                match list.remove("items") {
                    Some(Value::Array(items)) => items,
                    _ => {
                        return Err(PeerError(format!(
                            "{}: a List without an `items` array",
                            at()
                        )));
                    }
                }
            }
            _ => {
                return Err(PeerError(format!(
                    "{}: expected a v1 List (kind: List) or a JSON array",
                    at()
                )));
            }
        };
        let count = items.len();
        let mut store = self.inner.shared.store();
        for (i, item) in items.into_iter().enumerate() {
            apply_locked(&mut store, item)
                .map_err(|e| PeerError(format!("{}: item {i}: {e}", at())))?;
        }
        Ok(count)
    }

    /// Sends a `BOOKMARK` with the current resourceVersion to every open watch that asked
    /// `allowWatchBookmarks=true`.
    pub fn bookmark(&self) {
        let mut store = self.inner.shared.store();
        let rv = store.rv;
        store.watchers.retain_mut(|w| {
            if !w.bookmarks {
                return !w.tx.is_closed();
            }
            w.last_rv = rv;
            w.tx.send(WatchMsg::Bookmark(rv)).is_ok()
        });
    }

    /// Ends every open watch stream cleanly (as the server does at `timeoutSeconds`).
    pub fn close_watches(&self) {
        close_all(&mut self.inner.shared.store());
    }

    /// Forgets the history up to now: a later watch or continue token from an older
    /// resourceVersion gets `410 Expired`; open watches get the `410` ERROR event and end.
    pub fn compact(&self) {
        let mut store = self.inner.shared.store();
        store.compacted = store.rv;
        store.history.clear();
        let compacted = store.compacted;
        for w in store.watchers.drain(..) {
            let _ = w.tx.send(WatchMsg::Expired(too_old(w.last_rv, compacted)));
        }
    }

    /// From now on list, watch and get of `plural` answer `code` with a `Status` body.
    pub fn fail(&self, plural: &str, code: u16) {
        self.inner
            .shared
            .store()
            .failures
            .insert(plural.to_owned(), code);
    }

    /// Undoes [`ApiServer::fail`] for `plural`.
    pub fn heal(&self, plural: &str) {
        self.inner.shared.store().failures.remove(plural);
    }

    /// Every request received, in order.
    pub fn requests(&self) -> Vec<Request> {
        self.inner
            .shared
            .requests
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// How many objects (of every kind) are stored.
    pub fn object_count(&self) -> usize {
        self.inner
            .shared
            .store()
            .objects
            .iter()
            .map(BTreeMap::len)
            .sum()
    }

    /// The current (global) resourceVersion.
    pub fn resource_version(&self) -> u64 {
        self.inner.shared.store().rv
    }

    /// How many watch streams are open.
    pub fn open_watches(&self) -> usize {
        let mut store = self.inner.shared.store();
        store.watchers.retain(|w| !w.tx.is_closed());
        store.watchers.len()
    }
}

fn new_shared() -> Arc<Shared> {
    Arc::new(Shared {
        store: Mutex::new(Store::new()),
        requests: Mutex::new(Vec::new()),
    })
}

async fn bind(
    shared: Arc<Shared>,
) -> Result<(std::net::SocketAddr, tokio::task::JoinHandle<()>), PeerError> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| PeerError(format!("apiserver peer: cannot bind 127.0.0.1:0: {e}")))?;
    let addr = listener
        .local_addr()
        .map_err(|e| PeerError(format!("apiserver peer: no local address: {e}")))?;
    let app = axum::Router::new().fallback(handle).with_state(shared);
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok((addr, task))
}

fn object_key(namespace: Option<&str>, name: &str) -> String {
    match namespace {
        Some(ns) => format!("{ns}/{name}"),
        None => name.to_owned(),
    }
}

fn apply_locked(store: &mut Store, object: Value) -> Result<u64, PeerError> {
    let Value::Object(mut object) = object else {
        return Err(PeerError(
            "apiserver peer: an object must be a JSON object".into(),
        ));
    };
    let kind_name = object
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let Some(k) = KINDS.iter().position(|k| k.kind == kind_name) else {
        let served: Vec<&str> = KINDS.iter().map(|k| k.kind).collect();
        return Err(PeerError(format!(
            "apiserver peer: unknown kind {kind_name:?} (expected one of: {})",
            served.join(", ")
        )));
    };
    let kind = &KINDS[k];
    match object.remove("apiVersion") {
        None => {}
        Some(Value::String(v)) if v == kind.api_version => {}
        Some(other) => {
            return Err(PeerError(format!(
                "apiserver peer: {} has apiVersion {other}, the peer serves {}",
                kind.kind, kind.api_version
            )));
        }
    }
    object.remove("kind");
    let Some(Value::Object(meta)) = object.get_mut("metadata") else {
        return Err(PeerError(format!(
            "apiserver peer: {} without a metadata object",
            kind.kind
        )));
    };
    let name = match meta.get("name").and_then(Value::as_str) {
        Some(name) if !name.is_empty() && !name.contains('/') => name.to_owned(),
        _ => {
            return Err(PeerError(format!(
                "apiserver peer: {} without a valid metadata.name",
                kind.kind
            )));
        }
    };
    let namespace = match (kind.namespaced, meta.get("namespace")) {
        (true, None) => {
            meta.insert("namespace".into(), Value::String("default".into()));
            Some("default".to_owned())
        }
        (true, Some(Value::String(ns))) if !ns.is_empty() && !ns.contains('/') => Some(ns.clone()),
        (false, None) => None,
        (true, Some(_)) => {
            return Err(PeerError(format!(
                "apiserver peer: {} {name}: metadata.namespace is not a valid name",
                kind.kind
            )));
        }
        (false, Some(_)) => {
            return Err(PeerError(format!(
                "apiserver peer: {} {name} is cluster-scoped: drop metadata.namespace",
                kind.kind
            )));
        }
    };
    let key = object_key(namespace.as_deref(), &name);
    let previous = store.objects[k].get(&key).cloned();
    let keep = |field: &str, meta: &mut Map<String, Value>| {
        if !meta.contains_key(field)
            && let Some(old) = previous
                .as_ref()
                .and_then(|p| p.value["metadata"].get(field))
        {
            meta.insert(field.to_owned(), old.clone());
        }
    };
    keep("uid", meta);
    keep("creationTimestamp", meta);
    if !meta.contains_key("uid") {
        store.uids += 1;
        meta.insert(
            "uid".into(),
            Value::String(format!("00000000-0000-4000-8000-{:012x}", store.uids)),
        );
    }
    if !meta.contains_key("creationTimestamp") {
        meta.insert("creationTimestamp".into(), Value::String(rfc3339_now()));
    }
    store.rv += 1;
    let rv = store.rv;
    meta.insert("resourceVersion".into(), Value::String(rv.to_string()));
    let stored = Arc::new(Stored::new(Value::Object(object)));
    store.objects[k].insert(key.clone(), Arc::clone(&stored));
    let event = if previous.is_some() {
        EventType::Modified
    } else {
        EventType::Added
    };
    store.record(Change {
        rv,
        kind: k,
        key,
        event,
        object: stored,
        previous,
    });
    Ok(rv)
}

/// `now` as RFC 3339 in UTC, second precision (as `metav1.Time` serialises).
fn rfc3339_now() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

fn too_old(rv: u64, compacted: u64) -> String {
    format!("too old resource version: {rv} ({compacted})")
}

// ---------------------------------------------------------------------------------------------
// HTTP
// ---------------------------------------------------------------------------------------------

/// What the request addresses.
struct Target {
    kind: usize,
    namespace: Option<String>,
    name: Option<String>,
}

fn route(path: &str) -> Option<Target> {
    let (api_version, rest) = if let Some(rest) = path.strip_prefix("/api/v1/") {
        ("v1".to_owned(), rest)
    } else {
        let mut parts = path.strip_prefix("/apis/")?.splitn(3, '/');
        let (group, version, rest) = (parts.next()?, parts.next()?, parts.next()?);
        (format!("{group}/{version}"), rest)
    };
    let segments: Vec<&str> = rest.split('/').collect();
    if segments.iter().any(|s| s.is_empty()) {
        return None;
    }
    let (namespace, plural, name) = match segments.as_slice() {
        ["namespaces", ns, plural] => (Some(*ns), *plural, None),
        ["namespaces", ns, plural, name] => (Some(*ns), *plural, Some(*name)),
        [plural] => (None, *plural, None),
        [plural, name] => (None, *plural, Some(*name)),
        _ => return None,
    };
    let kind = KINDS
        .iter()
        .position(|k| k.plural == plural && k.api_version == api_version)?;
    let namespaced = KINDS[kind].namespaced;
    if (namespace.is_some() && !namespaced) || (namespace.is_none() && name.is_some() && namespaced)
    {
        return None;
    }
    Some(Target {
        kind,
        namespace: namespace.map(str::to_owned),
        name: name.map(str::to_owned),
    })
}

/// The representation a request asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Form {
    Full,
    /// `PartialObjectMetadata` (one object per event or get) in `meta.k8s.io/{version}`.
    Meta(&'static str),
    /// `PartialObjectMetadataList` in `meta.k8s.io/{version}`.
    MetaList(&'static str),
}

/// Picks the first media type of `Accept` the peer can produce.
fn negotiate(accept: Option<&str>) -> Option<(Form, String)> {
    let Some(accept) = accept.filter(|a| !a.trim().is_empty()) else {
        return Some((Form::Full, "application/json".into()));
    };
    for entry in accept.split(',') {
        let mut parts = entry.split(';').map(str::trim);
        let media = parts.next().unwrap_or_default();
        if !matches!(media, "application/json" | "application/*" | "*/*") {
            continue;
        }
        let params: HashMap<&str, &str> = parts
            .filter_map(|p| p.split_once('='))
            .map(|(k, v)| (k.trim(), v.trim()))
            .collect();
        let Some(as_kind) = params.get("as") else {
            return Some((Form::Full, "application/json".into()));
        };
        let version = match params.get("v") {
            Some(&"v1") => "v1",
            Some(&"v1beta1") => "v1beta1",
            _ => continue,
        };
        if params.get("g") != Some(&"meta.k8s.io") {
            continue;
        }
        let form = match *as_kind {
            "PartialObjectMetadata" => Form::Meta(version),
            "PartialObjectMetadataList" => Form::MetaList(version),
            _ => continue,
        };
        return Some((
            form,
            format!("application/json;as={as_kind};g=meta.k8s.io;v={version}"),
        ));
    }
    None
}

async fn handle(State(shared): State<Arc<Shared>>, req: axum::extract::Request) -> Response {
    let method = req.method().as_str().to_owned();
    let path = req.uri().path().to_owned();
    let query = parse_query(req.uri().query().unwrap_or(""));
    let accept = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    shared
        .requests
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(Request {
            method: method.clone(),
            path: path.clone(),
            query: query.clone().unwrap_or_default(),
            accept: accept.clone(),
        });
    let Some(target) = route(&path) else {
        return status(
            404,
            "NotFound",
            "the server could not find the requested resource",
            None,
        );
    };
    if method != "GET" {
        return status(
            405,
            "MethodNotAllowed",
            "the server does not allow this method on the requested resource",
            None,
        );
    }
    let query = match query {
        Ok(query) => Query(query),
        Err(e) => return status(400, "BadRequest", &e, None),
    };
    let watch = match query.get("watch").map(parse_bool).transpose() {
        Ok(watch) => watch.unwrap_or(false),
        Err(e) => return status(400, "BadRequest", &e, None),
    };
    let kind = &KINDS[target.kind];
    let failure = shared.store().failures.get(kind.plural).copied();
    if let Some(code) = failure {
        let verb = match (&target.name, watch) {
            (Some(_), _) => "get",
            (None, true) => "watch",
            (None, false) => "list",
        };
        return injected_failure(code, verb, kind, target.namespace.as_deref());
    }
    let Some((form, content_type)) = negotiate(accept.as_deref()) else {
        return status(
            406,
            "NotAcceptable",
            "only the following media types are accepted: application/json",
            None,
        );
    };
    match (&target.name, watch) {
        (Some(name), _) => get(&shared, &target, name, form, &content_type),
        (None, true) => serve_watch(&shared, &target, &query, form, &content_type),
        (None, false) => list(&shared, &target, &query, form, &content_type),
    }
}

struct Query(Vec<(String, String)>);

impl Query {
    fn get(&self, k: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.as_str())
    }
}

fn get(shared: &Shared, target: &Target, name: &str, form: Form, content_type: &str) -> Response {
    let kind = &KINDS[target.kind];
    if let Form::MetaList(_) = form {
        return not_a_list();
    }
    let store = shared.store();
    let Some(object) =
        store.objects[target.kind].get(&object_key(target.namespace.as_deref(), name))
    else {
        let details = json!({"name": name, "group": kind.group, "kind": kind.plural});
        let message = format!("{} \"{name}\" not found", kind.plural);
        return status(404, "NotFound", &message, Some(details));
    };
    let mut out = BytesMut::new();
    write_object(&mut out, kind, object, form);
    ok(content_type, out.freeze())
}

fn list(
    shared: &Shared,
    target: &Target,
    query: &Query,
    form: Form,
    content_type: &str,
) -> Response {
    let kind = &KINDS[target.kind];
    if let Form::Meta(_) = form {
        return status(
            406,
            "NotAcceptable",
            "you requested PartialObjectMetadata, but the requested object is a list",
            None,
        );
    }
    let limit = match query.get("limit").map(str::parse::<i64>).transpose() {
        Ok(limit) => limit
            .filter(|l| *l > 0)
            .map(|l| usize::try_from(l).unwrap_or(usize::MAX)),
        Err(_) => {
            return status(
                400,
                "BadRequest",
                "limit: invalid value, expected an integer",
                None,
            );
        }
    };
    let rv_param = query.get("resourceVersion").filter(|v| !v.is_empty());
    let rv_match = query.get("resourceVersionMatch").filter(|v| !v.is_empty());
    let continue_token = query.get("continue").filter(|v| !v.is_empty());
    let mut invalid = Vec::new();
    if let Some(m) = rv_match {
        if rv_param.is_none() {
            invalid.push((
                "resourceVersionMatch",
                "Forbidden",
                "resourceVersionMatch is forbidden unless resourceVersion is provided".to_owned(),
            ));
        }
        if continue_token.is_some() {
            invalid.push((
                "resourceVersionMatch",
                "Forbidden",
                "resourceVersionMatch is forbidden when continue is provided".to_owned(),
            ));
        }
        if m != "Exact" && m != "NotOlderThan" {
            invalid.push((
                "resourceVersionMatch",
                "Unsupported value",
                format!("\"{m}\": supported values: \"Exact\", \"NotOlderThan\", \"\""),
            ));
        }
        if m == "Exact" && rv_param == Some("0") {
            invalid.push((
                "resourceVersionMatch",
                "Forbidden",
                "resourceVersionMatch \"exact\" is forbidden for resourceVersion \"0\"".to_owned(),
            ));
        }
    }
    if query.get("sendInitialEvents").is_some() {
        invalid.push((
            "sendInitialEvents",
            "Forbidden",
            "sendInitialEvents is forbidden for list".to_owned(),
        ));
    }
    if !invalid.is_empty() {
        return invalid_options(&invalid);
    }
    let store = shared.store();
    let (at, start) = match continue_token {
        Some(token) => {
            if rv_param.is_some_and(|rv| rv != "0") {
                return status(
                    400,
                    "BadRequest",
                    "specifying resource version is not allowed when using continue",
                    None,
                );
            }
            let Some((at, start)) = decode_continue(token) else {
                return status(
                    400,
                    "BadRequest",
                    "continue key is not valid: malformed token",
                    None,
                );
            };
            if at < store.compacted {
                let message = "The provided continue parameter is too old to display a consistent list result. \
                               You can start a new list without the continue parameter.";
                return status(410, "Expired", message, None);
            }
            if at > store.rv {
                return status(
                    400,
                    "BadRequest",
                    "continue key is not valid: resource version is in the future",
                    None,
                );
            }
            (at, Some(start))
        }
        None => match rv_param {
            None | Some("0") => (store.rv, None),
            Some(rv) => {
                let Ok(rv) = rv.parse::<u64>() else {
                    return status(
                        400,
                        "BadRequest",
                        &format!("invalid resource version: {rv:?}"),
                        None,
                    );
                };
                if rv > store.rv {
                    let message =
                        format!("Too large resource version: {rv}, current: {}", store.rv);
                    let cause = json!({
                        "reason": "ResourceVersionTooLarge",
                        "message": "Too large resource version",
                    });
                    let details = json!({"causes": [cause], "retryAfterSeconds": 1});
                    return status(504, "Timeout", &message, Some(details));
                }
                let exact = rv_match == Some("Exact") || (rv_match.is_none() && limit.is_some());
                if exact {
                    if rv < store.compacted {
                        return status(410, "Expired", &too_old(rv, store.compacted), None);
                    }
                    (rv, None)
                } else {
                    (store.rv, None)
                }
            }
        },
    };
    let (items, remaining) = store.page(
        target.kind,
        target.namespace.as_deref(),
        at,
        start.as_deref(),
        limit,
    );
    drop(store);
    let selectors = query.get("labelSelector").is_some_and(|s| !s.is_empty())
        || query.get("fieldSelector").is_some_and(|s| !s.is_empty());
    let next = remaining.and_then(|_| items.last()).map(|last| {
        let key = object_key(
            last.namespace.as_deref(),
            last.value["metadata"]["name"].as_str().unwrap_or_default(),
        );
        encode_continue(at, &key)
    });

    let mut out =
        BytesMut::with_capacity(64 + items.iter().map(|i| i.json.len() + 1).sum::<usize>());
    let (list_kind, api_version) = match form {
        Form::MetaList(v) => ("PartialObjectMetadataList", meta_api_version(v)),
        _ => (kind.list_kind, kind.api_version),
    };
    let head = format!(
        "{{\"kind\":\"{list_kind}\",\"apiVersion\":\"{api_version}\",\
         \"metadata\":{{\"resourceVersion\":\"{at}\""
    );
    out.put_slice(head.as_bytes());
    if let Some(next) = &next {
        out.put_slice(format!(",\"continue\":\"{next}\"").as_bytes());
        if let (Some(remaining), false) = (remaining, selectors) {
            out.put_slice(format!(",\"remainingItemCount\":{remaining}").as_bytes());
        }
    }
    out.put_slice(b"},\"items\":[");
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.put_u8(b',');
        }
        match form {
            Form::MetaList(v) => write_partial(&mut out, v, &item.meta),
            _ => out.put_slice(&item.json),
        }
    }
    out.put_slice(b"]}");
    ok(content_type, out.freeze())
}

fn serve_watch(
    shared: &Shared,
    target: &Target,
    query: &Query,
    form: Form,
    content_type: &str,
) -> Response {
    let kind = &KINDS[target.kind];
    let send_initial = query.get("sendInitialEvents");
    let rv_match = query.get("resourceVersionMatch").filter(|v| !v.is_empty());
    let mut invalid = Vec::new();
    if send_initial.is_some() {
        if rv_match != Some("NotOlderThan") {
            invalid.push((
                "resourceVersionMatch",
                "Forbidden",
                "sendInitialEvents requires setting resourceVersionMatch to NotOlderThan"
                    .to_owned(),
            ));
        }
        invalid.push((
            "sendInitialEvents",
            "Forbidden",
            "sendInitialEvents is forbidden for watch unless the WatchList feature gate is enabled"
                .to_owned(),
        ));
    }
    if let Some(m) = rv_match {
        if send_initial.is_none() {
            invalid.push((
                "resourceVersionMatch",
                "Forbidden",
                "resourceVersionMatch is forbidden for watch unless sendInitialEvents is provided"
                    .to_owned(),
            ));
        }
        if m != "NotOlderThan" {
            invalid.push((
                "resourceVersionMatch",
                "Unsupported value",
                format!("\"{m}\": supported values: \"NotOlderThan\""),
            ));
        }
    }
    if !invalid.is_empty() {
        return invalid_options(&invalid);
    }
    let bookmarks = match query.get("allowWatchBookmarks").map(parse_bool).transpose() {
        Ok(b) => b.unwrap_or(false),
        Err(e) => return status(400, "BadRequest", &e, None),
    };
    let timeout = match query
        .get("timeoutSeconds")
        .map(str::parse::<u64>)
        .transpose()
    {
        Ok(t) => t.unwrap_or(DEFAULT_WATCH_TIMEOUT),
        Err(_) => {
            return status(
                400,
                "BadRequest",
                "timeoutSeconds: invalid value, expected a non-negative integer",
                None,
            );
        }
    };
    let from = match query
        .get("resourceVersion")
        .filter(|v| !v.is_empty() && *v != "0")
    {
        None => None,
        Some(rv) => match rv.parse::<u64>() {
            Ok(rv) => Some(rv),
            Err(_) => {
                return status(
                    400,
                    "BadRequest",
                    &format!("invalid resource version: {rv:?}"),
                    None,
                );
            }
        },
    };

    let (tx, rx) = mpsc::unbounded_channel();
    {
        let mut store = shared.store();
        let namespace = target.namespace.clone();
        match from {
            Some(rv) if rv < store.compacted => {
                let _ = tx.send(WatchMsg::Expired(too_old(rv, store.compacted)));
            }
            _ => {
                let mut watcher = Watcher {
                    kind: target.kind,
                    namespace,
                    bookmarks,
                    last_rv: store.rv,
                    tx,
                };
                match from {
                    // "Get State and Start at Most Recent/Any": synthetic ADDED for the current
                    // state, each object at its own resourceVersion.
                    None => {
                        for (key, object) in &store.objects[target.kind] {
                            let change = Change {
                                rv: store.rv,
                                kind: target.kind,
                                key: key.clone(),
                                event: EventType::Added,
                                object: Arc::clone(object),
                                previous: None,
                            };
                            if watcher.wants(&change) {
                                let _ = watcher.tx.send(WatchMsg::Event(Arc::new(change)));
                            }
                        }
                    }
                    // "Start at Exact": every change after `rv`.
                    Some(rv) => {
                        let first = store.history.partition_point(|c| c.rv <= rv);
                        for change in &store.history[first..] {
                            if watcher.wants(change) {
                                let _ = watcher.tx.send(WatchMsg::Event(Arc::clone(change)));
                            }
                        }
                        watcher.last_rv = watcher.last_rv.max(rv);
                    }
                }
                store.watchers.push(watcher);
            }
        }
    }

    let deadline = tokio::time::Instant::now() + Duration::from_secs(timeout);
    let stream = futures_util::stream::unfold((rx, false), move |(mut rx, done)| async move {
        if done {
            return None;
        }
        let msg = tokio::time::timeout_at(deadline, rx.recv())
            .await
            .ok()
            .flatten()?;
        let mut out = BytesMut::new();
        let done = match msg {
            WatchMsg::Event(change) => {
                out.put_slice(
                    format!("{{\"type\":\"{}\",\"object\":", change.event.as_str()).as_bytes(),
                );
                write_object(&mut out, kind, &change.object, form);
                false
            }
            WatchMsg::Bookmark(rv) => {
                out.put_slice(b"{\"type\":\"BOOKMARK\",\"object\":");
                write_bookmark(&mut out, kind, form, rv);
                false
            }
            WatchMsg::Expired(message) => {
                out.put_slice(b"{\"type\":\"ERROR\",\"object\":");
                out.put_slice(&status_body(410, "Expired", &message, None));
                true
            }
            WatchMsg::Close => return None,
        };
        out.put_slice(b"}\n");
        Some((Ok::<Bytes, Infallible>(out.freeze()), (rx, done)))
    });
    let mut response = Response::new(Body::from_stream(stream));
    set_content_type(&mut response, content_type);
    response
}

fn meta_api_version(version: &str) -> &'static str {
    if version == "v1beta1" {
        "meta.k8s.io/v1beta1"
    } else {
        "meta.k8s.io/v1"
    }
}

fn write_partial(out: &mut BytesMut, version: &str, meta: &[u8]) {
    out.put_slice(
        format!(
            "{{\"kind\":\"PartialObjectMetadata\",\"apiVersion\":\"{}\",\"metadata\":",
            meta_api_version(version)
        )
        .as_bytes(),
    );
    out.put_slice(meta);
    out.put_u8(b'}');
}

/// One object with `kind`/`apiVersion` (of a watch event or a get), or its
/// `PartialObjectMetadata`.
fn write_object(out: &mut BytesMut, kind: &Kind, object: &Stored, form: Form) {
    match form {
        Form::Meta(v) | Form::MetaList(v) => write_partial(out, v, &object.meta),
        Form::Full => {
            out.put_slice(
                format!(
                    "{{\"kind\":\"{}\",\"apiVersion\":\"{}\"",
                    kind.kind, kind.api_version
                )
                .as_bytes(),
            );
            // The stored JSON always holds `metadata`: splice its fields after the type fields.
            if object.json.len() > 2 {
                out.put_u8(b',');
                out.put_slice(&object.json[1..]);
            } else {
                out.put_u8(b'}');
            }
        }
    }
}

/// The object of a BOOKMARK: what the API server sends, a zero value of the watched type with only
/// `metadata.resourceVersion` set (Go's encoder writes the zero `creationTimestamp` as null, and
/// a zero Pod's `spec.containers` as null).
fn write_bookmark(out: &mut BytesMut, kind: &Kind, form: Form, rv: u64) {
    let meta = format!("{{\"resourceVersion\":\"{rv}\",\"creationTimestamp\":null}}");
    match form {
        Form::Meta(v) | Form::MetaList(v) => write_partial(out, v, meta.as_bytes()),
        Form::Full => {
            let extra = if kind.kind == "Pod" {
                ",\"spec\":{\"containers\":null},\"status\":{}"
            } else {
                ""
            };
            out.put_slice(
                format!(
                    "{{\"kind\":\"{}\",\"apiVersion\":\"{}\",\"metadata\":{meta}{extra}}}",
                    kind.kind, kind.api_version
                )
                .as_bytes(),
            );
        }
    }
}

fn ok(content_type: &str, body: Bytes) -> Response {
    let mut response = Response::new(Body::from(body));
    set_content_type(&mut response, content_type);
    response
}

fn set_content_type(response: &mut Response, content_type: &str) {
    let value =
        HeaderValue::from_str(content_type).unwrap_or(HeaderValue::from_static("application/json"));
    response.headers_mut().insert(header::CONTENT_TYPE, value);
}

fn status_body(code: u16, reason: &str, message: &str, details: Option<Value>) -> Vec<u8> {
    let mut body = json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    });
    if let Some(details) = details {
        body["details"] = details;
    }
    serde_json::to_vec(&body).unwrap_or_default()
}

fn status(code: u16, reason: &str, message: &str, details: Option<Value>) -> Response {
    let mut response = Response::new(Body::from(status_body(code, reason, message, details)));
    *response.status_mut() =
        StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    set_content_type(&mut response, "application/json");
    response
}

fn not_a_list() -> Response {
    status(
        406,
        "NotAcceptable",
        "you requested PartialObjectMetadataList, but the requested object is not a list",
        None,
    )
}

/// `422 Invalid` for `ListOptions`, as the API server words it.
fn invalid_options(errors: &[(&str, &str, String)]) -> Response {
    let causes: Vec<Value> = errors
        .iter()
        .map(|(field, kind, detail)| {
            let reason = if *kind == "Forbidden" {
                "FieldValueForbidden"
            } else {
                "FieldValueNotSupported"
            };
            json!({"reason": reason, "message": format!("{kind}: {detail}"), "field": field})
        })
        .collect();
    let listed: Vec<String> = errors
        .iter()
        .map(|(field, kind, detail)| format!("{field}: {kind}: {detail}"))
        .collect();
    let joined = if listed.len() == 1 {
        listed[0].clone()
    } else {
        format!("[{}]", listed.join(", "))
    };
    let message = format!("ListOptions.meta.k8s.io \"\" is invalid: {joined}");
    status(
        422,
        "Invalid",
        &message,
        Some(json!({"group": "meta.k8s.io", "kind": "ListOptions", "causes": causes})),
    )
}

fn injected_failure(code: u16, verb: &str, kind: &Kind, namespace: Option<&str>) -> Response {
    let scope = match namespace {
        Some(ns) => format!("in the namespace \"{ns}\""),
        None => "at the cluster scope".to_owned(),
    };
    let (reason, message) = match code {
        400 => (
            "BadRequest",
            "the server rejected our request for an unknown reason".to_owned(),
        ),
        401 => ("Unauthorized", "Unauthorized".to_owned()),
        403 => (
            "Forbidden",
            format!(
                "{} is forbidden: User \"system:anonymous\" cannot {verb} resource \"{}\" in API group \"{}\" {scope}",
                kind.plural, kind.plural, kind.group
            ),
        ),
        404 => (
            "NotFound",
            "the server could not find the requested resource".to_owned(),
        ),
        409 => ("Conflict", "the server reported a conflict".to_owned()),
        410 => ("Expired", "the resource version is too old".to_owned()),
        429 => (
            "TooManyRequests",
            "the server has received too many requests and has asked us to try again later"
                .to_owned(),
        ),
        500 => (
            "InternalError",
            "an error on the server (\"\") has prevented the request from succeeding".to_owned(),
        ),
        503 => (
            "ServiceUnavailable",
            "the server is currently unable to handle the request".to_owned(),
        ),
        504 => (
            "Timeout",
            "the server was unable to return a response in the time allotted".to_owned(),
        ),
        _ => (
            "Unknown",
            format!("the server responded with the status code {code}"),
        ),
    };
    let details = (code == 403).then(|| json!({"group": kind.group, "kind": kind.plural}));
    status(code, reason, &message, details)
}

/// Go's `strconv.ParseBool`, which the API server uses for boolean parameters.
fn parse_bool(v: &str) -> Result<bool, String> {
    match v {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Ok(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Ok(false),
        _ => Err(format!("invalid boolean value {v:?}")),
    }
}

fn parse_query(raw: &str) -> Result<Vec<(String, String)>, String> {
    raw.split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            Ok((percent_decode(k)?, percent_decode(v)?))
        })
        .collect()
}

fn percent_decode(s: &str) -> Result<String, String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok());
                let byte = hex.and_then(|h| u8::from_str_radix(h, 16).ok());
                let Some(byte) = byte else {
                    return Err(format!("invalid percent-encoding in query: {s:?}"));
                };
                out.push(byte);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).map_err(|_| format!("query is not UTF-8 once decoded: {s:?}"))
}

/// An opaque continue token: the list's resourceVersion and the last key served, hex-encoded.
fn encode_continue(rv: u64, last_key: &str) -> String {
    format!("{rv}:{last_key}")
        .bytes()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn decode_continue(token: &str) -> Option<(u64, String)> {
    if !token.len().is_multiple_of(2) {
        return None;
    }
    let bytes: Option<Vec<u8>> = (0..token.len())
        .step_by(2)
        .map(|i| {
            token
                .get(i..i + 2)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        })
        .collect();
    let text = String::from_utf8(bytes?).ok()?;
    let (rv, key) = text.split_once(':')?;
    Some((rv.parse().ok()?, key.to_owned()))
}
