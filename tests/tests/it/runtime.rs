//! The pipeline runtime in-process: acknowledgements on every path, back-pressure, fan-out and
//! fan-in, workers, stateful stages with timers and shards, health checks, drain and its
//! deadline, rejected input counted next to valid input.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use netobserv_flow::codec::json;
use netobserv_flow::config::{Config, HealthcheckMode, StageKind};
use netobserv_flow::pipeline::{
    Ack, AckSet, AckStatus, BuildContext, Component, FlowBatch, Healthcheck, Metrics, Pipeline,
    RunReport, RuntimeOptions, Shutdown, Sink, SinkContext, Source, SourceContext, StageRegistry,
    Stateful, StatefulContext, Transform,
};
use netobserv_flow::{Error, Flow};

/// Reads one sample's value from the Prometheus text exposition.
pub fn metric(text: &str, name_and_labels: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(name_and_labels) && l[name_and_labels.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

/// What the source heard back, per batch it sent.
type Acks = Arc<Mutex<BTreeMap<usize, AckStatus>>>;

/// Sends `batches` batches of `per_batch` flows (`Bytes` = the flow's global index, `SrcPort` =
/// index % 50), each with an ack recorded under the batch index; then, with `idle`, waits for
/// shutdown instead of ending.
#[derive(Clone)]
struct TestSource {
    batches: usize,
    per_batch: usize,
    acks: Acks,
    sent: Arc<AtomicUsize>,
    idle: bool,
}

impl TestSource {
    fn new(batches: usize, per_batch: usize) -> Self {
        TestSource {
            batches,
            per_batch,
            acks: Acks::default(),
            sent: Arc::default(),
            idle: false,
        }
    }

    fn statuses(&self) -> Vec<AckStatus> {
        self.acks.lock().unwrap().values().copied().collect()
    }
}

fn test_flow(i: usize) -> Flow {
    Flow::default()
        .with_bytes(i as u64)
        .with_src_port((i % 50) as u16)
        .with_proto(if i.is_multiple_of(2) { 6 } else { 17 })
}

#[async_trait::async_trait]
impl Source for TestSource {
    async fn run(self: Box<Self>, mut cx: SourceContext) -> netobserv_flow::Result<()> {
        for b in 0..self.batches {
            if cx.shutdown.is_triggered() {
                break;
            }
            let flows = (0..self.per_batch)
                .map(|i| test_flow(b * self.per_batch + i))
                .collect();
            let acks = self.acks.clone();
            let ack = Ack::new(move |st| {
                acks.lock().unwrap().insert(b, st);
            });
            self.sent.fetch_add(1, Ordering::SeqCst);
            if cx.out.send(FlowBatch::with_ack(flows, ack)).await.is_err() {
                break;
            }
        }
        if self.idle {
            cx.shutdown.wait().await;
        }
        Ok(())
    }
}

/// What a test sink does with each batch.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Behaviour {
    Deliver,
    Reject,
    /// Returns an error on the n-th batch (from 1), without resolving it.
    FailAt(usize),
    /// Panics on the n-th batch.
    PanicAt(usize),
    /// Returns `Ok` on the n-th batch, closing its input.
    StopAt(usize),
    /// Keeps every batch, never resolves, never ends.
    Hold,
    /// Merges batches in threes into one "request", resolved together.
    MergeThree,
    /// Delivers; at the end of its input, waits for the shutdown signal before it returns.
    DeliverThenAwaitShutdown,
}

#[derive(Clone, Default)]
struct Seen {
    flows: Arc<Mutex<Vec<Flow>>>,
    /// The address of each batch's flows, to tell shared from copied.
    ptrs: Arc<Mutex<Vec<usize>>>,
}

struct TestSink {
    behaviour: Behaviour,
    seen: Seen,
    delay: Duration,
}

#[async_trait::async_trait]
impl Sink for TestSink {
    async fn run(self: Box<Self>, mut cx: SinkContext) -> netobserv_flow::Result<()> {
        let mut n = 0;
        let mut held = Vec::new();
        let mut merged = AckSet::new();
        while let Some(batch) = cx.input.recv().await {
            n += 1;
            if !self.delay.is_zero() {
                tokio::time::sleep(self.delay).await;
            }
            self.seen
                .ptrs
                .lock()
                .unwrap()
                .push(batch.flows().as_ptr() as usize);
            self.seen
                .flows
                .lock()
                .unwrap()
                .extend(batch.flows().iter().cloned());
            match self.behaviour {
                Behaviour::Deliver | Behaviour::DeliverThenAwaitShutdown => {
                    batch.resolve(AckStatus::Delivered)
                }
                Behaviour::Reject => batch.resolve(AckStatus::Rejected),
                Behaviour::FailAt(k) if n == k => {
                    return Err(Error::stage(cx.metrics.stage(), "the service said no"));
                }
                Behaviour::PanicAt(k) if n == k => panic!("sink bug"),
                Behaviour::StopAt(k) if n == k => return Ok(()),
                Behaviour::FailAt(_) | Behaviour::PanicAt(_) | Behaviour::StopAt(_) => {
                    batch.resolve(AckStatus::Delivered)
                }
                Behaviour::Hold => held.push(batch),
                Behaviour::MergeThree => {
                    merged.push(batch.into_ack());
                    if merged.len() == 3 {
                        std::mem::take(&mut merged).resolve(AckStatus::Delivered);
                    }
                }
            }
        }
        merged.resolve(AckStatus::Delivered);
        if self.behaviour == Behaviour::DeliverThenAwaitShutdown {
            cx.shutdown.wait().await;
        }
        if self.behaviour == Behaviour::Hold {
            std::future::pending::<()>().await;
        }
        Ok(())
    }
}

/// A transform that panics on the flow whose `Bytes` is `poison`.
#[derive(Clone)]
struct Poison(u64);

impl Transform for Poison {
    fn transform(&mut self, flow: &mut Flow) -> bool {
        assert_ne!(flow.bytes(), Some(self.0), "poisoned flow");
        true
    }
}

struct Harness {
    registry: StageRegistry,
    seen: BTreeMap<&'static str, Seen>,
}

impl Harness {
    fn new(source: &TestSource) -> Self {
        let mut registry = StageRegistry::with_builtins();
        let s = source.clone();
        registry.register(
            StageKind::Ingest,
            "test",
            move |_: &mut BuildContext<'_>| Ok(Component::source(s.clone())),
        );
        registry.register(
            StageKind::Transform,
            "poison",
            |_: &mut BuildContext<'_>| Ok(Component::transform(Poison(13))),
        );
        Harness {
            registry,
            seen: BTreeMap::new(),
        }
    }

    /// Registers `write: {type: NAME}` as a test sink.
    fn sink(&mut self, name: &'static str, behaviour: Behaviour, delay: Duration) -> Seen {
        let seen = Seen::default();
        let s = seen.clone();
        self.registry
            .register(StageKind::Write, name, move |_: &mut BuildContext<'_>| {
                Ok(Component::sink(TestSink {
                    behaviour,
                    seen: s.clone(),
                    delay,
                }))
            });
        self.seen.insert(name, seen.clone());
        seen
    }

    async fn run(&self, yaml: &str, options: RuntimeOptions) -> netobserv_flow::Result<RunReport> {
        let cfg = Config::from_yaml(yaml).unwrap();
        let p = Pipeline::build_with(&cfg, &self.registry, Metrics::default(), options).await?;
        tokio::time::timeout(Duration::from_secs(30), p.run(Shutdown::new().1))
            .await
            .expect("pipeline did not end")
    }
}

fn opts(workers: usize) -> RuntimeOptions {
    RuntimeOptions::default()
        .with_workers(workers)
        .with_queue_batches(2)
        .with_drain_timeout(Duration::from_secs(10))
}

/// `src -> [t ->] sink` with the given write types.
fn chain(transform: Option<&str>, sinks: &[&str]) -> String {
    let mut y = String::from("pipeline:\n  - name: src\n");
    let last = if let Some(t) = transform {
        y.push_str("  - name: t\n    follows: src\n");
        let _ = t;
        "t"
    } else {
        "src"
    };
    for s in sinks {
        y.push_str(&format!("  - name: {s}\n    follows: {last}\n"));
    }
    y.push_str("parameters:\n  - name: src\n    ingest: {type: test}\n");
    if let Some(t) = transform {
        y.push_str(&format!("  - name: t\n    transform: {t}\n"));
    }
    for s in sinks {
        y.push_str(&format!("  - name: {s}\n    write: {{type: {s}}}\n"));
    }
    y
}

fn run_report(res: netobserv_flow::Result<RunReport>) -> RunReport {
    match res {
        Err(Error::Run(r)) => *r,
        Ok(r) => panic!("run reported clean: {r}"),
        Err(e) => panic!("unexpected error: {e}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sink_error_with_batches_queued_reports_errored_never_delivered() {
    let src = TestSource::new(30, 10);
    let mut h = Harness::new(&src);
    h.sink("out", Behaviour::FailAt(1), Duration::ZERO);
    let report = run_report(h.run(&chain(None, &["out"]), opts(2)).await);
    assert_eq!(report.failures.len(), 1, "{report}");
    assert_eq!(report.failures[0].stage, "out");
    assert!(
        report.failures[0].error.contains("the service said no"),
        "{report}"
    );
    let st = src.statuses();
    assert_eq!(
        st.len(),
        src.sent.load(Ordering::SeqCst),
        "every sent batch resolved"
    );
    assert!(!st.is_empty());
    assert!(st.iter().all(|s| *s == AckStatus::Errored), "{st:?}");
    assert_eq!(report.deliveries.delivered, 0, "{report}");
    assert_eq!(report.deliveries.errored, st.len() as u64 * 10, "{report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transform_whose_downstream_closed_reports_errored() {
    let src = TestSource::new(40, 10);
    let mut h = Harness::new(&src);
    h.sink("out", Behaviour::StopAt(3), Duration::ZERO);
    let report = run_report(h.run(&chain(Some("{type: none}"), &["out"]), opts(1)).await);
    let st = src.statuses();
    assert_eq!(st.len(), src.sent.load(Ordering::SeqCst));
    // Batches 0 and 1 were delivered; the third was dropped by the sink and everything after
    // it found the sink gone.
    assert_eq!(&st[..2], [AckStatus::Delivered, AckStatus::Delivered]);
    assert!(st[2..].iter().all(|s| *s == AckStatus::Errored), "{st:?}");
    assert!(
        st.len() > 3,
        "the source stopped before the sink did: {st:?}"
    );
    assert_eq!(report.deliveries.delivered, 20, "{report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn panicking_transform_and_sink_report_errored() {
    // Flow 13 is in batch 1.
    let src = TestSource::new(10, 10);
    let mut h = Harness::new(&src);
    h.sink("out", Behaviour::Deliver, Duration::ZERO);
    let report = run_report(
        h.run(&chain(Some("{type: poison}"), &["out"]), opts(1))
            .await,
    );
    assert!(
        report
            .failures
            .iter()
            .any(|f| f.stage == "t" && f.error.contains("poisoned flow")),
        "{report}"
    );
    let st = src.statuses();
    assert_eq!(st.len(), src.sent.load(Ordering::SeqCst));
    assert_eq!(st[0], AckStatus::Delivered);
    assert!(st[1..].iter().all(|s| *s == AckStatus::Errored), "{st:?}");

    let src = TestSource::new(10, 10);
    let mut h = Harness::new(&src);
    h.sink("out", Behaviour::PanicAt(2), Duration::ZERO);
    // One worker: batches reach the sink in order, so the first is the one delivered.
    let report = run_report(h.run(&chain(None, &["out"]), opts(1)).await);
    assert!(
        report
            .failures
            .iter()
            .any(|f| f.stage == "out" && f.error.contains("sink bug")),
        "{report}"
    );
    let st = src.statuses();
    assert_eq!(st[0], AckStatus::Delivered);
    assert!(st[1..].iter().all(|s| *s == AckStatus::Errored), "{st:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partial_fan_out_combines_to_errored() {
    let src = TestSource::new(20, 10);
    let mut h = Harness::new(&src);
    let good = h.sink("good", Behaviour::Deliver, Duration::ZERO);
    h.sink("bad", Behaviour::FailAt(1), Duration::ZERO);
    let report = run_report(h.run(&chain(None, &["good", "bad"]), opts(2)).await);
    let st = src.statuses();
    assert_eq!(st.len(), src.sent.load(Ordering::SeqCst));
    // "good" delivered its copies, "bad" lost every one of its: no batch counts as delivered.
    assert!(st.iter().all(|s| *s == AckStatus::Errored), "{st:?}");
    assert_eq!(good.flows.lock().unwrap().len(), st.len() * 10);
    assert_eq!(report.deliveries.delivered, 0);
}

/// Runs `batches` batches of 10 flows into a sink that holds them and never resolves them;
/// returns once the source sent them all.
async fn run_into_a_held_sink(
    batches: usize,
    options: RuntimeOptions,
) -> (
    TestSource,
    netobserv_flow::pipeline::ShutdownTrigger,
    tokio::task::JoinHandle<netobserv_flow::Result<RunReport>>,
) {
    let mut src = TestSource::new(batches, 10);
    src.idle = true;
    let mut h = Harness::new(&src);
    h.sink("out", Behaviour::Hold, Duration::ZERO);
    let cfg = Config::from_yaml(&chain(None, &["out"])).unwrap();
    let p = Pipeline::build_with(&cfg, &h.registry, Metrics::default(), options)
        .await
        .unwrap();
    let (trigger, shutdown) = Shutdown::new();
    let run = tokio::spawn(p.run(shutdown));
    while src.sent.load(Ordering::SeqCst) < batches {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    (src, trigger, run)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drain_deadline_with_a_sink_that_never_delivers() {
    let (src, trigger, run) =
        run_into_a_held_sink(5, opts(2).with_drain_timeout(Duration::from_millis(300))).await;
    trigger.trigger();
    let report = run_report(
        tokio::time::timeout(Duration::from_secs(10), run)
            .await
            .expect("the deadline did not stop the run")
            .unwrap(),
    );
    assert!(report.deadline_passed, "{report}");
    assert_eq!(report.deliveries.errored, 50, "{report}");
    assert!(
        report.to_string().contains("50 flows not delivered"),
        "{report}"
    );
    assert_eq!(src.statuses(), vec![AckStatus::Errored; 5]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn second_signal_stops_at_once() {
    let (src, trigger, run) =
        run_into_a_held_sink(3, opts(1).with_drain_timeout(Duration::from_secs(3600))).await;
    trigger.trigger();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(
        !run.is_finished(),
        "a held batch should keep the drain going"
    );
    trigger.trigger_immediate();
    let report = run_report(
        tokio::time::timeout(Duration::from_secs(10), run)
            .await
            .expect("an immediate stop did not stop the run")
            .unwrap(),
    );
    assert!(
        report.stopped_at_once && !report.deadline_passed,
        "{report}"
    );
    assert_eq!(src.statuses(), vec![AckStatus::Errored; 3]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejected_merged_and_filtered_batches() {
    let src = TestSource::new(9, 10);
    let mut h = Harness::new(&src);
    h.sink("out", Behaviour::Reject, Duration::ZERO);
    let report = h.run(&chain(None, &["out"]), opts(2)).await.unwrap();
    assert_eq!(src.statuses(), vec![AckStatus::Rejected; 9]);
    assert_eq!(report.deliveries.rejected, 90);

    let src = TestSource::new(9, 10);
    let mut h = Harness::new(&src);
    h.sink("out", Behaviour::MergeThree, Duration::ZERO);
    h.run(&chain(None, &["out"]), opts(2)).await.unwrap();
    assert_eq!(src.statuses(), vec![AckStatus::Delivered; 9]);

    // A filter that drops every flow: delivered (on purpose), the sink sees nothing.
    let src = TestSource::new(9, 10);
    let mut h = Harness::new(&src);
    let seen = h.sink("out", Behaviour::Deliver, Duration::ZERO);
    let filter =
        "{type: filter, filter: {rules: [{type: keep_entry_query, keepEntryQuery: 'Bytes>1000'}]}}";
    let report = h
        .run(&chain(Some(filter), &["out"]), opts(2))
        .await
        .unwrap();
    assert_eq!(src.statuses(), vec![AckStatus::Delivered; 9]);
    assert!(seen.flows.lock().unwrap().is_empty());
    assert_eq!(report.deliveries.delivered, 90);
}

const FANOUT: &str = r#"
pipeline:
  - name: src
  - name: tcp
    follows: src
  - name: slow
    follows: tcp
  - name: all
    follows: src
parameters:
  - name: src
    ingest: {type: test}
  - name: tcp
    transform:
      type: filter
      filter:
        rules:
          - type: keep_entry_query
            keepEntryQuery: Proto=6
  - name: slow
    write: {type: slow}
  - name: all
    write: {type: all}
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fan_out_shares_flows_and_back_pressure_reaches_the_source() {
    let src = TestSource::new(40, 10);
    let mut h = Harness::new(&src);
    let slow = h.sink("slow", Behaviour::Deliver, Duration::from_millis(2));
    let all = h.sink("all", Behaviour::Deliver, Duration::from_millis(2));
    let metrics = Metrics::new("t_").unwrap();
    let cfg = Config::from_yaml(FANOUT).unwrap();
    let p = Pipeline::build_with(&cfg, &h.registry, metrics.clone(), opts(1))
        .await
        .unwrap();
    let run = tokio::spawn(p.run(Shutdown::new().1));
    // With 2-batch queues and one worker, the source blocks long before it is done.
    let mut max_ahead = 0;
    while !run.is_finished() {
        let sent = src.sent.load(Ordering::SeqCst);
        let done = all.ptrs.lock().unwrap().len();
        max_ahead = max_ahead.max(sent.saturating_sub(done));
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let report = run.await.unwrap().unwrap();
    // Queues: the source's segment (2) and the sink's (2), one batch in the worker's hands,
    // one in the sink's, one being sent.
    assert!(
        max_ahead <= 7,
        "source ran {max_ahead} batches ahead of its sink"
    );
    assert_eq!(all.flows.lock().unwrap().len(), 400);
    assert_eq!(slow.flows.lock().unwrap().len(), 200);
    // "all" only reads: its batches are the very vectors the source sent, not copies.
    assert_eq!(src.statuses(), vec![AckStatus::Delivered; 40]);
    assert_eq!(report.deliveries.delivered, 400);
    let text = metrics.encode();
    assert_eq!(
        metric(&text, "t_ingest_flows_processed{stage=\"src\"}"),
        Some(400.0),
        "{text}"
    );
    assert_eq!(
        metric(&text, "t_stage_flows_in{stage=\"tcp\"}"),
        Some(400.0),
        "{text}"
    );
    assert_eq!(
        metric(&text, "t_stage_flows_out{stage=\"tcp\"}"),
        Some(200.0),
        "{text}"
    );
    assert!(
        text.contains("t_stage_duration_ms_bucket{stage=\"tcp\""),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fan_out_copies_only_for_the_branch_that_writes() {
    let src = TestSource::new(5, 10);
    let mut h = Harness::new(&src);
    let a = h.sink("a", Behaviour::Deliver, Duration::ZERO);
    let b = h.sink("b", Behaviour::Deliver, Duration::ZERO);
    let w = h.sink("w", Behaviour::Deliver, Duration::ZERO);
    let yaml = r#"
pipeline:
  - name: src
  - name: a
    follows: src
  - name: b
    follows: src
  - name: gen
    follows: src
  - name: w
    follows: gen
parameters:
  - name: src
    ingest: {type: test}
  - name: a
    write: {type: a}
  - name: b
    write: {type: b}
  - name: gen
    transform: {type: generic, generic: {rules: [{input: Bytes, output: Twice, multiplier: 2}]}}
  - name: w
    write: {type: w}
"#;
    h.run(yaml, opts(1)).await.unwrap();
    // The two read-only branches see the very vectors the source sent.
    let (pa, pb) = (
        a.ptrs.lock().unwrap().clone(),
        b.ptrs.lock().unwrap().clone(),
    );
    assert_eq!(pa.len(), 5);
    assert_eq!(pa, pb);
    // The writing branch wrote its own copies: the others do not see its field.
    let twice = |f: &Flow| f.extra_get("Twice").is_some();
    assert!(a.flows.lock().unwrap().iter().all(|f| !twice(f)));
    assert!(b.flows.lock().unwrap().iter().all(|f| !twice(f)));
    let w = w.flows.lock().unwrap();
    assert_eq!(w.len(), 50);
    assert!(w.iter().all(twice));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fan_in_merges_two_sources() {
    let one = TestSource::new(4, 10);
    let two = TestSource::new(6, 10);
    let mut h = Harness::new(&one);
    let t = two.clone();
    h.registry.register(
        StageKind::Ingest,
        "test2",
        move |_: &mut BuildContext<'_>| Ok(Component::source(t.clone())),
    );
    let seen = h.sink("out", Behaviour::Deliver, Duration::ZERO);
    let yaml = r#"
pipeline:
  - name: one
  - name: two
  - name: both
    follows: [one, two]
  - name: out
    follows: both
parameters:
  - name: one
    ingest: {type: test}
  - name: two
    ingest: {type: test2}
  - name: both
    transform: {type: none}
  - name: out
    write: {type: out}
"#;
    let report = h.run(yaml, opts(2)).await.unwrap();
    assert_eq!(seen.flows.lock().unwrap().len(), 100);
    assert_eq!(report.deliveries.delivered, 100);
    assert_eq!(one.statuses(), vec![AckStatus::Delivered; 4]);
    assert_eq!(two.statuses(), vec![AckStatus::Delivered; 6]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_worker_keeps_order_several_keep_every_flow() {
    let filter =
        "{type: filter, filter: {rules: [{type: keep_entry_query, keepEntryQuery: 'Proto=6'}]}}";
    for workers in [1, 4] {
        let src = TestSource::new(50, 20);
        let mut h = Harness::new(&src);
        let seen = h.sink("out", Behaviour::Deliver, Duration::ZERO);
        h.run(&chain(Some(filter), &["out"]), opts(workers))
            .await
            .unwrap();
        let got: Vec<u64> = seen
            .flows
            .lock()
            .unwrap()
            .iter()
            .map(|f| f.bytes().unwrap())
            .collect();
        let want: Vec<u64> = (0..1000).filter(|i| i % 2 == 0).collect();
        if workers == 1 {
            assert_eq!(got, want);
        } else {
            let mut sorted = got.clone();
            sorted.sort_unstable();
            assert_eq!(sorted, want);
        }
    }
}

/// The ports each shard saw.
type ShardKeys = Arc<Mutex<BTreeMap<usize, Vec<u16>>>>;

/// A stateful stage: absorbs flows into per-`SrcPort` byte totals (resolving them as delivered
/// when taken) and emits one record per port on every tick of its timer and at the end.
struct Totals {
    every: Duration,
    ticks: Arc<AtomicUsize>,
    keys: ShardKeys,
    /// Panic once this many flows were absorbed.
    panic_after: Option<usize>,
    /// Emit records with acknowledgements of their own, recorded here.
    own_acks: Option<Acks>,
}

#[async_trait::async_trait]
impl Stateful for Totals {
    async fn run(self: Box<Self>, mut cx: StatefulContext) -> netobserv_flow::Result<()> {
        let mut totals: BTreeMap<u16, u64> = BTreeMap::new();
        let mut absorbed = 0;
        let mut tick = tokio::time::interval(self.every);
        tick.tick().await;
        let own_acks = self.own_acks.clone();
        let mut emitted = 0;
        let mut emit = |totals: &mut BTreeMap<u16, u64>| {
            let flows: Vec<Flow> = std::mem::take(totals)
                .into_iter()
                .map(|(port, bytes)| Flow::default().with_src_port(port).with_bytes(bytes))
                .collect();
            emitted += 1;
            match &own_acks {
                Some(acks) => {
                    let (acks, i) = (acks.clone(), emitted);
                    let ack = Ack::new(move |st| {
                        acks.lock().unwrap().insert(i, st);
                    });
                    FlowBatch::with_ack(flows, ack)
                }
                None => FlowBatch::new(flows),
            }
        };
        loop {
            tokio::select! {
                batch = cx.input.recv() => {
                    let Some(batch) = batch else { break };
                    let (flows, ack) = batch.into_parts();
                    ack.deliver();
                    for f in flows {
                        let port = f.src_port().unwrap_or(0);
                        self.keys.lock().unwrap().entry(cx.shard).or_default().push(port);
                        *totals.entry(port).or_default() += f.bytes().unwrap_or(0);
                        absorbed += 1;
                        if self.panic_after.is_some_and(|n| absorbed >= n) {
                            panic!("aggregate bug");
                        }
                    }
                }
                _ = tick.tick() => {
                    self.ticks.fetch_add(1, Ordering::SeqCst);
                    if !totals.is_empty() && cx.out.send(emit(&mut totals)).await.is_err() {
                        break;
                    }
                }
            }
        }
        if !totals.is_empty() {
            let _ = cx.out.send(emit(&mut totals)).await;
        }
        Ok(())
    }
}

fn register_totals(
    h: &mut Harness,
    every: Duration,
    panic_after: Option<usize>,
) -> (Arc<AtomicUsize>, ShardKeys) {
    register_totals_acked(h, every, panic_after, None)
}

fn register_totals_acked(
    h: &mut Harness,
    every: Duration,
    panic_after: Option<usize>,
    own_acks: Option<Acks>,
) -> (Arc<AtomicUsize>, ShardKeys) {
    let ticks = Arc::new(AtomicUsize::new(0));
    let keys = Arc::new(Mutex::new(BTreeMap::new()));
    let (t, k) = (ticks.clone(), keys.clone());
    h.registry.register(
        StageKind::Extract,
        "totals",
        move |cx: &mut BuildContext<'_>| {
            let shards = (0..cx.workers())
                .map(|_| {
                    Box::new(Totals {
                        every,
                        ticks: t.clone(),
                        keys: k.clone(),
                        panic_after,
                        own_acks: own_acks.clone(),
                    }) as Box<dyn Stateful>
                })
                .collect();
            Ok(Component::sharded(
                shards,
                Arc::new(|f: &Flow| u64::from(f.src_port().unwrap_or(0))),
            ))
        },
    );
    (ticks, keys)
}

const STATEFUL: &str = r#"
pipeline:
  - name: src
  - name: agg
    follows: src
  - name: out
    follows: agg
parameters:
  - name: src
    ingest: {type: test}
  - name: agg
    extract: {type: totals}
  - name: out
    write: {type: out}
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stateful_timers_fire_with_no_input_and_absorbed_flows_are_delivered() {
    let mut src = TestSource::new(2, 50);
    src.idle = true;
    let mut h = Harness::new(&src);
    let seen = h.sink("out", Behaviour::Deliver, Duration::ZERO);
    let (ticks, _) = register_totals(&mut h, Duration::from_millis(50), None);
    let cfg = Config::from_yaml(STATEFUL).unwrap();
    let p = Pipeline::build_with(&cfg, &h.registry, Metrics::default(), opts(1))
        .await
        .unwrap();
    let (trigger, shutdown) = Shutdown::new();
    let run = tokio::spawn(p.run(shutdown));
    // The absorbed flows are acknowledged as soon as the stage took them, long before shutdown.
    while src.statuses().len() < 2 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(src.statuses(), vec![AckStatus::Delivered; 2]);
    // No input arrives any more, yet the timer keeps firing and the totals come out.
    let before = ticks.load(Ordering::SeqCst);
    while ticks.load(Ordering::SeqCst) < before + 3 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let records = seen.flows.lock().unwrap().clone();
    assert_eq!(records.len(), 50, "one record per port");
    let total: u64 = records.iter().map(|f| f.bytes().unwrap()).sum();
    assert_eq!(total, (0..100).sum::<u64>());
    trigger.trigger();
    let report = run.await.unwrap().unwrap();
    // 100 flows absorbed and 50 records emitted, all delivered.
    assert_eq!(report.deliveries.delivered, 150, "{report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stateful_input_is_sharded_by_key() {
    let src = TestSource::new(20, 50);
    let mut h = Harness::new(&src);
    let seen = h.sink("out", Behaviour::Deliver, Duration::ZERO);
    let (_, keys) = register_totals(&mut h, Duration::from_secs(3600), None);
    h.run(STATEFUL, opts(3)).await.unwrap();
    let keys = keys.lock().unwrap();
    assert_eq!(keys.len(), 3, "every shard got input: {keys:?}");
    let mut owner: BTreeMap<u16, usize> = BTreeMap::new();
    for (shard, ports) in keys.iter() {
        for p in ports {
            assert_eq!(
                *owner.entry(*p).or_insert(*shard),
                *shard,
                "port {p} on two shards"
            );
            assert_eq!(usize::from(*p) % 3, *shard);
        }
    }
    // Each shard emits its ports once, at the end.
    let records = seen.flows.lock().unwrap();
    assert_eq!(records.len(), 50);
    assert_eq!(
        records.iter().map(|f| f.bytes().unwrap()).sum::<u64>(),
        (0..1000).sum::<u64>()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stateful_crash_loses_its_state_not_the_raw_flows() {
    let src = TestSource::new(10, 20);
    let mut h = Harness::new(&src);
    let aggregates = h.sink("out", Behaviour::Deliver, Duration::ZERO);
    let raw = h.sink("raw", Behaviour::Deliver, Duration::ZERO);
    register_totals(&mut h, Duration::from_secs(3600), Some(30));
    let yaml = format!("{STATEFUL}  - name: raw\n    write: {{type: raw}}\n").replace(
        "  - name: out\n    follows: agg\n",
        "  - name: out\n    follows: agg\n  - name: raw\n    follows: src\n",
    );
    let report = run_report(h.run(&yaml, opts(1)).await);
    assert!(
        report
            .failures
            .iter()
            .any(|f| f.stage == "agg" && f.error.contains("aggregate bug")),
        "{report}"
    );
    // The aggregates held in memory are gone...
    assert!(aggregates.flows.lock().unwrap().is_empty());
    // ...but the raw branch wrote every flow the source sent.
    let sent = src.sent.load(Ordering::SeqCst);
    assert!(sent >= 2);
    assert_eq!(raw.flows.lock().unwrap().len(), sent * 20);
}

/// A sink whose health check connects to `addr`.
struct CheckedSink;

#[async_trait::async_trait]
impl Sink for CheckedSink {
    async fn run(self: Box<Self>, mut cx: SinkContext) -> netobserv_flow::Result<()> {
        while let Some(b) = cx.input.recv().await {
            b.resolve(AckStatus::Delivered);
        }
        Ok(())
    }
}

/// An async factory: waits (as for a cache to sync), then builds a sink checked against its
/// `address` setting.
struct CheckedFactory;

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct CheckedSettings {
    address: String,
}

#[async_trait::async_trait]
impl netobserv_flow::pipeline::StageFactory for CheckedFactory {
    async fn build(&self, cx: &mut BuildContext<'_>) -> netobserv_flow::Result<Component> {
        let settings: CheckedSettings = cx.required_settings_at("checked")?;
        tokio::time::sleep(Duration::from_millis(10)).await;
        let addr = settings.address.clone();
        Ok(
            Component::sink(CheckedSink).with_healthcheck(Healthcheck::new(
                format!("tcp://{addr}"),
                async move {
                    tokio::net::TcpStream::connect(&addr).await?;
                    Ok(())
                },
            )),
        )
    }
}

fn checked_config(addr: &str) -> Config {
    Config::from_yaml(&format!(
        "pipeline:\n  - name: src\n  - name: store\n    follows: src\nparameters:\n  - name: src\n    ingest: {{type: test}}\n  - name: store\n    write: {{type: checked, checked: {{address: \"{addr}\"}}}}\n"
    ))
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_checks_fail_start_up_or_warn() {
    let src = TestSource::new(1, 1);
    let mut h = Harness::new(&src);
    h.registry
        .register(StageKind::Write, "checked", CheckedFactory);
    // A port nothing listens on (bound, then released).
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().to_string()
    };
    let cfg = checked_config(&closed);
    let err = Pipeline::build_with(&cfg, &h.registry, Metrics::default(), opts(1))
        .await
        .unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, Error::Healthcheck(_)), "{msg}");
    assert!(
        msg.contains("stage \"store\"") && msg.contains(&format!("tcp://{closed}")),
        "{msg}"
    );
    let p = Pipeline::build_with(
        &cfg,
        &h.registry,
        Metrics::default(),
        opts(1).with_healthchecks(HealthcheckMode::Warn),
    )
    .await
    .unwrap();
    assert!(
        p.warnings()
            .iter()
            .any(|w| w.contains("store") && w.contains(&closed)),
        "{:?}",
        p.warnings()
    );
    // A listening service passes.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let open = listener.local_addr().unwrap().to_string();
    let p = Pipeline::build_with(
        &checked_config(&open),
        &h.registry,
        Metrics::default(),
        opts(1),
    )
    .await
    .unwrap();
    assert!(p.warnings().is_empty(), "{:?}", p.warnings());
    // Its settings are its own type: unknown keys are errors with the full path, said once.
    let bad = Config::from_yaml(
        "pipeline:\n  - name: src\n  - name: store\n    follows: src\nparameters:\n  - name: src\n    ingest: {type: test}\n  - name: store\n    write: {type: checked, checked: {address: x, adress: y}}\n",
    )
    .unwrap();
    let msg = Pipeline::build_with(&bad, &h.registry, Metrics::default(), opts(1))
        .await
        .unwrap_err()
        .to_string();
    assert!(msg.contains("parameters[1].write.checked"), "{msg}");
    assert!(msg.contains("adress"), "{msg}");
    assert_eq!(msg.matches("parameters[1]").count(), 1, "{msg}");
    assert_eq!(msg.matches("invalid configuration").count(), 1, "{msg}");
}

fn file_pipeline(input: &std::path::Path, output: &std::path::Path, ingest_type: &str) -> Config {
    Config::from_yaml(&format!(
        r#"
pipeline:
  - name: in
  - name: out
    follows: in
parameters:
  - name: in
    ingest:
      type: {ingest_type}
      file: {{filename: "{}"}}
  - name: out
    write:
      type: file
      file: {{filename: "{}"}}
"#,
        input.display(),
        output.display()
    ))
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_lines_are_counted_and_the_rest_goes_through() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.jsonl");
    let output = dir.path().join("out.jsonl");
    let mut text = String::new();
    let mut want = Vec::new();
    for i in 0..3000u64 {
        match i % 500 {
            7 => text.push_str("{\"Bytes\":\"many\"}\n"),
            8 => text.push_str("{\"Bytes\":12\n"),
            9 => text.push_str("not json at all\n"),
            10 => text.push('\n'),
            _ => {
                let line = format!(r#"{{"Bytes":{i},"SrcAddr":"10.0.0.{}"}}"#, i % 200);
                text.push_str(&line);
                text.push('\n');
                want.push(line);
            }
        }
    }
    // A last line with no newline is still read.
    text.push_str(r#"{"Bytes":1}"#);
    want.push(r#"{"Bytes":1}"#.to_string());
    std::fs::write(&input, text).unwrap();
    for (workers, ingest) in [(1, "file"), (2, "file"), (2, "file_chunks")] {
        let metrics = Metrics::default();
        let p = Pipeline::build_with(
            &file_pipeline(&input, &output, ingest),
            &StageRegistry::with_builtins(),
            metrics.clone(),
            opts(workers),
        )
        .await
        .unwrap();
        let report = p.run(Shutdown::new().1).await.unwrap();
        let mut got: Vec<String> = std::fs::read_to_string(&output)
            .unwrap()
            .lines()
            .map(str::to_string)
            .collect();
        let mut want = want.clone();
        if workers > 1 {
            got.sort();
            want.sort();
        }
        assert_eq!(got, want, "{workers} workers, {ingest}");
        assert_eq!(report.deliveries.delivered, want.len() as u64);
        let text = metrics.encode();
        assert_eq!(
            metric(&text, "ingest_errors{kind=\"json\",stage=\"in\"}"),
            Some(18.0),
            "{text}"
        );
        assert_eq!(
            metric(&text, "ingest_flows_processed{stage=\"in\"}"),
            Some(want.len() as f64),
            "{text}"
        );
        assert_eq!(
            metric(&text, "stage_flows_out{stage=\"in\"}"),
            Some(want.len() as f64),
            "{text}"
        );
        assert_eq!(
            metric(&text, "records_written{stage=\"out\"}"),
            Some(want.len() as f64),
            "{text}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_array_file_with_a_bad_element() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.json");
    let output = dir.path().join("out.jsonl");
    std::fs::write(
        &input,
        r#" [{"Bytes":1},{"Bytes":"x"},{"Proto":6,"SrcPort":80}]"#,
    )
    .unwrap();
    let metrics = Metrics::default();
    let p = Pipeline::build_with(
        &file_pipeline(&input, &output, "file"),
        &StageRegistry::with_builtins(),
        metrics.clone(),
        opts(1),
    )
    .await
    .unwrap();
    p.run(Shutdown::new().1).await.unwrap();
    assert_eq!(
        std::fs::read_to_string(&output).unwrap(),
        "{\"Bytes\":1}\n{\"Proto\":6,\"SrcPort\":80}\n"
    );
    assert_eq!(
        metric(
            &metrics.encode(),
            "ingest_errors{kind=\"json\",stage=\"in\"}"
        ),
        Some(1.0)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_drains_everything_that_was_read() {
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("out.jsonl");
    let cfg = Config::from_yaml(&format!(
        r#"
pipeline:
  - name: syn
  - name: f
    follows: syn
  - name: out
    follows: f
parameters:
  - name: syn
    ingest:
      type: synthetic
      synthetic: {{connections: 100, flowLogsPerMin: 0, batchMaxLen: 100, seed: 3}}
  - name: f
    transform: {{type: none}}
  - name: out
    write:
      type: file
      file: {{filename: "{}"}}
"#,
        output.display()
    ))
    .unwrap();
    let metrics = Metrics::default();
    let p = Pipeline::build_with(
        &cfg,
        &StageRegistry::with_builtins(),
        metrics.clone(),
        opts(2),
    )
    .await
    .unwrap();
    let (trigger, shutdown) = Shutdown::new();
    let run = tokio::spawn(p.run(shutdown));
    tokio::time::sleep(Duration::from_millis(300)).await;
    trigger.trigger();
    let report = tokio::time::timeout(Duration::from_secs(20), run)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let text = metrics.encode();
    let ingested = metric(&text, "ingest_flows_processed{stage=\"syn\"}").unwrap();
    let written = metric(&text, "records_written{stage=\"out\"}").unwrap();
    assert!(ingested >= 100.0, "{text}");
    assert_eq!(ingested, written, "flows lost on shutdown");
    assert_eq!(report.deliveries.delivered as f64, written);
    let lines = std::fs::read_to_string(&output).unwrap();
    let mut n = 0;
    for l in lines.lines() {
        json::decode(l.as_bytes()).unwrap();
        n += 1;
    }
    assert_eq!(n as f64, written);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_a_stateful_stage_emits_with_their_own_ack_are_counted() {
    let src = TestSource::new(4, 25);
    let mut h = Harness::new(&src);
    h.sink("out", Behaviour::StopAt(1), Duration::ZERO);
    let own = Acks::default();
    register_totals_acked(&mut h, Duration::from_secs(3600), None, Some(own.clone()));
    // One shard emits its 50 records at the end; the sink takes the batch and stops.
    let report = run_report(h.run(STATEFUL, opts(1)).await);
    assert_eq!(
        own.lock().unwrap().values().copied().collect::<Vec<_>>(),
        [AckStatus::Errored]
    );
    assert_eq!(report.deliveries.errored, 50, "{report}");
    assert_eq!(report.deliveries.delivered, 100, "{report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signal_during_the_end_of_input_drain_reaches_the_stages() {
    let src = TestSource::new(3, 10);
    let mut h = Harness::new(&src);
    let seen = h.sink("out", Behaviour::DeliverThenAwaitShutdown, Duration::ZERO);
    let cfg = Config::from_yaml(&chain(None, &["out"])).unwrap();
    // No deadline to speak of: only the signal can end this run.
    let p = Pipeline::build_with(
        &cfg,
        &h.registry,
        Metrics::default(),
        opts(1).with_drain_timeout(Duration::MAX),
    )
    .await
    .unwrap();
    let (trigger, shutdown) = Shutdown::new();
    let run = tokio::spawn(p.run(shutdown));
    while seen.flows.lock().unwrap().len() < 30 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(!run.is_finished(), "the sink waits for the signal");
    trigger.trigger();
    let report = tokio::time::timeout(Duration::from_secs(10), run)
        .await
        .expect("the signal did not reach the sink")
        .unwrap()
        .unwrap();
    assert_eq!(report.deliveries.delivered, 30);
}

/// Sends raw JSON lines: one chunk with good and bad lines, one with bad lines only.
#[derive(Clone)]
struct RawSource {
    acks: Acks,
}

#[async_trait::async_trait]
impl Source for RawSource {
    async fn run(self: Box<Self>, cx: SourceContext) -> netobserv_flow::Result<()> {
        let decoder: Arc<dyn netobserv_flow::pipeline::Decode> = Arc::new(
            netobserv_flow::stages::ingest::JsonLines::new(cx.metrics.clone(), "test"),
        );
        let chunks: [&[u8]; 2] = [
            b"{\"Bytes\":1}\nnot json\n{\"Bytes\":2}\n",
            b"{\"Bytes\":\nnope\n",
        ];
        let mut offset = 0;
        for (i, data) in chunks.into_iter().enumerate() {
            let acks = self.acks.clone();
            let ack = Ack::new(move |st| {
                acks.lock().unwrap().insert(i, st);
            });
            let raw =
                netobserv_flow::pipeline::RawBatch::new(data.to_vec(), offset, decoder.clone())
                    .with_ack(ack);
            offset += data.len() as u64;
            if cx.out.send_raw(raw).await.is_err() {
                break;
            }
        }
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_input_is_rejected_not_delivered() {
    let acks = Acks::default();
    let mut h = Harness::new(&TestSource::new(0, 0));
    let a = acks.clone();
    h.registry.register(
        StageKind::Ingest,
        "test",
        move |_: &mut BuildContext<'_>| Ok(Component::source(RawSource { acks: a.clone() })),
    );
    let seen = h.sink("out", Behaviour::Deliver, Duration::ZERO);
    let report = h.run(&chain(None, &["out"]), opts(2)).await.unwrap();
    assert_eq!(seen.flows.lock().unwrap().len(), 2);
    let st = acks.lock().unwrap().clone();
    // The chunk with good flows was delivered (its bad line counted); the chunk with nothing
    // but bad records was refused for good.
    assert_eq!(st[&0], AckStatus::Delivered);
    assert_eq!(st[&1], AckStatus::Rejected);
    assert_eq!(report.deliveries.rejected_input, 3, "{report}");
    assert_eq!(report.deliveries.delivered, 2, "{report}");
}

/// Sends `n` one-flow batches `gap` apart.
#[derive(Clone)]
struct Trickle {
    n: usize,
    gap: Duration,
}

#[async_trait::async_trait]
impl Source for Trickle {
    async fn run(self: Box<Self>, cx: SourceContext) -> netobserv_flow::Result<()> {
        for i in 0..self.n {
            tokio::time::sleep(self.gap).await;
            if cx
                .out
                .send(FlowBatch::new(vec![test_flow(i)]))
                .await
                .is_err()
            {
                break;
            }
        }
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stage_duration_counts_processing_not_waiting() {
    let mut h = Harness::new(&TestSource::new(0, 0));
    h.registry
        .register(StageKind::Ingest, "test", |_: &mut BuildContext<'_>| {
            Ok(Component::source(Trickle {
                n: 5,
                gap: Duration::from_millis(100),
            }))
        });
    h.sink("out", Behaviour::Deliver, Duration::ZERO);
    let metrics = Metrics::default();
    let cfg = Config::from_yaml(&chain(Some("{type: none}"), &["out"])).unwrap();
    let p = Pipeline::build_with(&cfg, &h.registry, metrics.clone(), opts(1))
        .await
        .unwrap();
    p.run(Shutdown::new().1).await.unwrap();
    let text = metrics.encode();
    assert_eq!(
        metric(&text, "stage_duration_ms_count{stage=\"t\"}"),
        Some(5.0),
        "{text}"
    );
    // Five batches of one flow through `none`: microseconds of work, against 100 ms waits
    // between batches that a measure of waiting would add up to about 400 ms.
    let total = metric(&text, "stage_duration_ms_sum{stage=\"t\"}").unwrap();
    assert!(
        total < 100.0,
        "stage_duration_ms sums {total} ms for trivial work"
    );
}

/// A sink sending requests of up to 25 flows or 50 ms, recording each request's size.
struct Requests(Arc<Mutex<Vec<usize>>>);

#[async_trait::async_trait]
impl Sink for Requests {
    async fn run(self: Box<Self>, mut cx: SinkContext) -> netobserv_flow::Result<()> {
        let mut b = netobserv_flow::pipeline::Batcher::new(netobserv_flow::pipeline::BatchLimits {
            max_flows: 25,
            max_bytes: 1 << 20,
            max_wait: Duration::from_millis(50),
        });
        while let Some(req) = b.next(&mut cx.input).await {
            self.0.lock().unwrap().push(req.payload.len());
            req.resolve(AckStatus::Delivered);
        }
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batcher_fills_requests_by_size_then_by_time() {
    // Size: ten batches of ten make requests of 20 (a third batch would pass 25; batches are not
    // split, it starts the next request).
    let src = TestSource::new(10, 10);
    let mut h = Harness::new(&src);
    let sizes = Arc::new(Mutex::new(Vec::new()));
    let s = sizes.clone();
    h.registry
        .register(StageKind::Write, "out", move |_: &mut BuildContext<'_>| {
            Ok(Component::sink(Requests(s.clone())))
        });
    h.run(&chain(None, &["out"]), opts(1)).await.unwrap();
    assert_eq!(*sizes.lock().unwrap(), [20, 20, 20, 20, 20]);
    assert_eq!(src.statuses(), vec![AckStatus::Delivered; 10]);

    // Time: a source that goes quiet after one batch still has it sent, long before shutdown.
    let mut src = TestSource::new(1, 10);
    src.idle = true;
    let mut h = Harness::new(&src);
    let sizes = Arc::new(Mutex::new(Vec::new()));
    let s = sizes.clone();
    h.registry
        .register(StageKind::Write, "out", move |_: &mut BuildContext<'_>| {
            Ok(Component::sink(Requests(s.clone())))
        });
    let cfg = Config::from_yaml(&chain(None, &["out"])).unwrap();
    let p = Pipeline::build_with(&cfg, &h.registry, Metrics::default(), opts(1))
        .await
        .unwrap();
    let (trigger, shutdown) = Shutdown::new();
    let run = tokio::spawn(p.run(shutdown));
    while src.statuses().is_empty() {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(*sizes.lock().unwrap(), [10]);
    assert!(!run.is_finished());
    trigger.trigger();
    run.await.unwrap().unwrap();
}

/// A sink of encoded requests of at most 1 byte (so: one batch each), recording their lines.
struct EncodedRequests(Arc<Mutex<Vec<usize>>>);

#[async_trait::async_trait]
impl Sink for EncodedRequests {
    async fn run(self: Box<Self>, mut cx: SinkContext) -> netobserv_flow::Result<()> {
        let mut b = netobserv_flow::pipeline::Batcher::new(netobserv_flow::pipeline::BatchLimits {
            max_flows: 1000,
            max_bytes: 1,
            max_wait: Duration::from_secs(5),
        });
        while let Some(req) = b.next_encoded(&mut cx.input).await {
            let lines = req.payload.iter().filter(|c| **c == b'\n').count();
            assert_eq!(lines, req.flows);
            self.0.lock().unwrap().push(lines);
            req.resolve(AckStatus::Delivered);
        }
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batcher_limits_encoded_requests_by_bytes() {
    let src = TestSource::new(4, 10);
    let mut h = Harness::new(&src);
    let lines = Arc::new(Mutex::new(Vec::new()));
    let l = lines.clone();
    h.registry
        .register(StageKind::Write, "out", move |_: &mut BuildContext<'_>| {
            Ok(Component::encoded_sink(
                EncodedRequests(l.clone()),
                Arc::new(netobserv_flow::stages::write::FormatEncoder(
                    netobserv_flow::config::StdoutFormat::Json,
                )),
            ))
        });
    h.run(&chain(None, &["out"]), opts(1)).await.unwrap();
    assert_eq!(*lines.lock().unwrap(), [10, 10, 10, 10]);
    assert_eq!(src.statuses(), vec![AckStatus::Delivered; 4]);
}
