//! `ingest: kafka` across `flowlogs-pipeline` processes sharing a consumer group, against the
//! Kafka-API broker `.ci/run` starts (tansu, `.ci/services.d/kafka.sh`) at `KAFKA_BROKERS`
//! (default 127.0.0.1:9092; unreachable fails the tests). Every test uses a topic and a group of
//! its own.
//!
//! Each produced message is one flow whose `Bytes` is a unique id; each process writes what it
//! delivers to a file of its own, so the tests see which flows arrived, how often, and where.
//! Delivery reports give every id's partition and offset. Progress is read from those files and
//! from the group's committed offsets, never from the broker's high watermark (tansu's is wrong).
//!
//! What may be processed twice. The consumer reads rounds of at most `batchMaxLen` (B) messages
//! and sends one batch per partition per round; the pipeline holds at most `queueBatches` (Q)
//! batches in the workers' queue, one per worker (W), Q in the file sink's queue and one being
//! written, and the consumer one more waiting for room: at most (2Q + W + 2) * B messages read
//! and not yet delivered (the in-flight window). A revocation waits for the revoked partitions'
//! batches, then commits what was delivered: when they were all delivered (the log says
//! `not_committed_batches=0`) the next owner starts right after them and nothing is processed
//! twice; otherwise what is re-read is the batches left in flight and those delivered behind
//! them, within the in-flight window unless batches finish far out of order. A SIGTERM drains and
//! commits, leaving nothing. A kill -9 leaves what the process read past the group's last commit:
//! the in-flight window plus what was delivered since the last commit (`commitInterval`, 100 ms
//! here, and the round in progress).
#![cfg(target_os = "linux")]
#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use rdkafka::producer::{BaseRecord, Producer};

/// `batchMaxLen` of the consumers.
const BATCH: usize = 100;
/// `runtime.queueBatches` of the pipelines.
const QUEUE: usize = 4;
/// `runtime.workers` of the pipelines.
const WORKERS: usize = 2;
/// Messages one process may have read and not yet delivered (see the module docs).
const IN_FLIGHT: usize = (2 * QUEUE + WORKERS + 2) * BATCH;
/// The consumers' `session.timeout.ms`. tansu completes a join round after half the session
/// timeout (librdkafka's default 45 s would make each rebalance take about 23 s), and a member
/// killed with SIGKILL leaves the group only when its session times out.
const SESSION_MS: u64 = 6000;
/// How long a condition may take before a test fails: generous, the machine may be busy.
const PATIENCE: Duration = Duration::from_secs(40);

#[path = "../../netobserv-sinks/tests/support/kafka.rs"]
mod kafka_support;
use kafka_support::{Deliveries, Group, brokers, produce, unique};

fn create_topic(name: &str, partitions: i32) -> Result<()> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(kafka_support::create_topic(name, partitions))
}

/// Produces flows with ids `0..`, spread over the partitions, from a thread of its own.
struct Producing {
    topic: String,
    deliveries: Deliveries,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<Result<u64>>>,
}

fn flow_json(id: u64) -> String {
    format!(
        r#"{{"SrcAddr":"10.0.{}.{}","DstAddr":"10.1.0.1","SrcPort":40000,"DstPort":443,"Proto":6,"Bytes":{id},"Packets":1}}"#,
        (id >> 8) & 0xff,
        id & 0xff
    )
}

/// The partition of flow `id`.
fn partition_of(id: u64, partitions: i32) -> i32 {
    (id % partitions as u64) as i32
}

impl Producing {
    /// Produces `burst` messages at once, then `chunk` messages every `every` until
    /// [`Producing::finish`].
    fn start(
        topic: &str,
        partitions: i32,
        burst: u64,
        chunk: u64,
        every: Duration,
    ) -> Result<Producing> {
        let deliveries = Deliveries::default();
        let producer = deliveries.producer(&brokers(), &[("linger.ms", "5")])?;
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        let topic = topic.to_string();
        let thread_topic = topic.clone();
        let thread = std::thread::spawn(move || -> Result<u64> {
            let topic = thread_topic;
            let mut id = 0u64;
            let mut n = burst.max(chunk);
            loop {
                for _ in 0..n {
                    let payload = flow_json(id);
                    let record = BaseRecord::with_opaque_to(&topic, Box::new(id))
                        .payload(&payload)
                        .partition(partition_of(id, partitions));
                    if let Err((e, _)) = producer.send::<(), _>(record) {
                        bail!("produce id {id} to topic {topic}: {e}");
                    }
                    id += 1;
                }
                producer.poll(Duration::ZERO);
                if stopping.load(Ordering::Acquire) {
                    break;
                }
                std::thread::sleep(every);
                n = chunk;
            }
            producer
                .flush(Duration::from_secs(30))
                .with_context(|| format!("flush to topic {topic}"))?;
            Ok(id)
        });
        Ok(Producing {
            topic,
            deliveries,
            stop,
            thread: Some(thread),
        })
    }

    /// Stops producing; every id and where it landed.
    fn finish(mut self) -> Result<HashMap<u64, (i32, i64)>> {
        self.stop.store(true, Ordering::Release);
        let n = self.thread.take().unwrap().join().unwrap()?;
        self.deliveries.all(&self.topic, n)
    }
}

impl Drop for Producing {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
    }
}

/// Produces `ids` at once and waits for their delivery reports: where each id landed.
fn produce_all(
    topic: &str,
    partitions: i32,
    ids: std::ops::Range<u64>,
) -> Result<HashMap<u64, (i32, i64)>> {
    let messages: Vec<_> = ids
        .clone()
        .map(|id| {
            (
                Some(partition_of(id, partitions)),
                flow_json(id).into_bytes(),
            )
        })
        .collect();
    Ok(ids.zip(produce(topic, &messages)?).collect())
}

/// A `flowlogs-pipeline` process consuming the topic into a file of its own.
struct Flp {
    name: String,
    child: Child,
    out: PathBuf,
    log: PathBuf,
}

/// The pipeline's config: `ingest: kafka` into `write: file`, and the extra sinks given.
fn config(topic: &str, group: &str, out: &Path, extra_sinks: &[&str]) -> String {
    let mut pipeline = String::from("  - name: in\n  - name: out\n    follows: in\n");
    let mut params = String::new();
    for (i, path) in extra_sinks.iter().enumerate() {
        pipeline.push_str(&format!("  - name: extra{i}\n    follows: in\n"));
        params.push_str(&format!(
            "  - name: extra{i}\n    write:\n      type: file\n      file: {{filename: \"{path}\", append: true}}\n"
        ));
    }
    format!(
        r#"metricsSettings: {{port: 0}}
runtime: {{workers: {WORKERS}, queueBatches: {QUEUE}}}
pipeline:
{pipeline}parameters:
  - name: in
    ingest:
      type: kafka
      kafka:
        brokers: ["{b}"]
        topic: {topic}
        groupid: {group}
        batchMaxLen: {BATCH}
        batchReadTimeout: 200
        commitInterval: 100
        decoder: {{type: json}}
  - name: out
    write:
      type: file
      file: {{filename: "{out}", append: true}}
{params}"#,
        b = brokers(),
        out = out.display(),
    )
}

impl Flp {
    fn start(dir: &Path, name: &str, yaml: &str) -> Result<Flp> {
        let cfg = dir.join(format!("{name}.yaml"));
        std::fs::write(&cfg, yaml)?;
        let log = dir.join(format!("{name}.log"));
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_flowlogs-pipeline"));
        // KAFKA_GROUP_TEST_LOG, when set, is the processes' RUST_LOG (to debug a failure).
        match std::env::var("KAFKA_GROUP_TEST_LOG") {
            Ok(filter) => cmd.env("RUST_LOG", filter),
            Err(_) => cmd.env_remove("RUST_LOG"),
        };
        let child = cmd
            .env(
                "FLP_KAFKA_CONSUMER_PROPERTIES",
                format!("session.timeout.ms={SESSION_MS},heartbeat.interval.ms=1000"),
            )
            .env("NO_COLOR", "1")
            .args(["--config", cfg.to_str().unwrap()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log)?)
            .spawn()?;
        Ok(Flp {
            name: name.into(),
            child,
            out: dir.join(format!("{name}.json")),
            log,
        })
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn signal(&self, signal: rustix::process::Signal) -> Result<()> {
        let pid = rustix::process::Pid::from_child(&self.child);
        rustix::process::kill_process(pid, signal)?;
        Ok(())
    }

    /// Waits for the process to exit.
    fn wait(&mut self, limit: Duration) -> Result<ExitStatus> {
        let end = Instant::now() + limit;
        loop {
            if let Some(s) = self.child.try_wait()? {
                return Ok(s);
            }
            if Instant::now() > end {
                bail!("{} did not exit: {}", self.name, self.log());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGTERM, then the exit status, which must be a clean exit.
    fn terminate(&mut self) -> Result<()> {
        self.signal(rustix::process::Signal::TERM)?;
        let status = self.wait(PATIENCE)?;
        ensure!(
            status.success(),
            "{} after SIGTERM: {status}\n{}",
            self.name,
            self.log()
        );
        Ok(())
    }

    /// The ids this process wrote, in order, and how many lines were cut short (only the last
    /// line of a killed process may be).
    fn ids(&self) -> (Vec<u64>, usize) {
        read_ids(&self.out)
    }

    /// Waits until the log holds `text`.
    fn wait_log(&self, text: &str) -> Result<()> {
        wait_for(&format!("{:?} in the log of {}", text, self.name), || {
            Ok(self.log().contains(text))
        })
        .with_context(|| self.log())
    }
}

impl Drop for Flp {
    /// A failed test still stops its process, and shows its log.
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("--- log of {} ---\n{}", self.name, self.log());
        }
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn read_ids(path: &Path) -> (Vec<u64>, usize) {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let mut ids = Vec::new();
    let mut cut = 0;
    for line in text.lines().filter(|l| !l.is_empty()) {
        match serde_json::from_str::<serde_json::Value>(line)
            .ok()
            .and_then(|v| v.get("Bytes").and_then(serde_json::Value::as_u64))
        {
            Some(id) => ids.push(id),
            None => cut += 1,
        }
    }
    (ids, cut)
}

/// The test's folder (configs, outputs, logs); kept when KAFKA_GROUP_TEST_KEEP is set.
fn workdir() -> Result<tempfile::TempDir> {
    let keep = std::env::var_os("KAFKA_GROUP_TEST_KEEP").is_some();
    let dir = tempfile::Builder::new()
        .prefix("kafka-group-")
        .disable_cleanup(keep)
        .tempdir()?;
    if keep {
        eprintln!("files in {}", dir.path().display());
    }
    Ok(dir)
}

/// Polls `cond` until it holds; fails after [`PATIENCE`].
fn wait_for(what: &str, mut cond: impl FnMut() -> Result<bool>) -> Result<()> {
    let start = Instant::now();
    let end = start + PATIENCE;
    while !cond()? {
        if Instant::now() > end {
            bail!("waited {PATIENCE:?} for {what}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    eprintln!("{:>6.1}s for {what}", start.elapsed().as_secs_f64());
    Ok(())
}

/// Whether a process handed its partitions over cleanly: every revocation found its batches
/// committed (`not_committed_batches=0`), no commit failed, and a stop left nothing undelivered.
/// Then the next owner starts exactly after what this process wrote.
fn clean_handover(log: &str) -> bool {
    log.lines()
        .filter(|l| l.contains("partitions revoked"))
        .all(|l| l.contains("not_committed_batches=0"))
        && !log.contains("commit on rebalance failed")
        && !log.contains("offset commit failed")
        && !log.contains("stopping with batches not delivered")
}

/// How often each id was written, over all the outputs.
fn tally(outputs: &[&[u64]]) -> HashMap<u64, usize> {
    let mut seen = HashMap::new();
    for ids in outputs {
        for id in *ids {
            *seen.entry(*id).or_insert(0) += 1;
        }
    }
    seen
}

/// Extra copies written (an id written three times counts two).
fn duplicates(seen: &HashMap<u64, usize>) -> usize {
    seen.values().map(|n| n - 1).sum()
}

/// The offset after the last message of each partition, from the delivery reports.
fn ends(placed: &HashMap<u64, (i32, i64)>) -> BTreeMap<i32, i64> {
    let mut ends = BTreeMap::new();
    for (p, o) in placed.values() {
        let e = ends.entry(*p).or_insert(0);
        *e = (*e).max(o + 1);
    }
    ends
}

/// Two processes in one group over a 4-partition topic: A starts alone, B joins mid-stream (A's
/// partitions are revoked and split), A stops on SIGTERM while producing goes on (B takes them
/// all). Every flow arrives, both processes had a share, duplicates stay within the in-flight
/// window of the revocations, and the group ends committed to the end of every partition.
#[test]
fn a_group_of_two_processes_rebalances_without_loss() -> Result<()> {
    let topic = unique("kgroup-rebalance");
    let group = unique("g");
    let partitions = 4;
    create_topic(&topic, partitions)?;
    let group_offsets = Group::new(&topic, &group, partitions)?;
    let dir = workdir()?;
    let producing = Producing::start(&topic, partitions, 0, 20, Duration::from_millis(10))?;

    let yaml_a = config(&topic, &group, &dir.path().join("a.json"), &[]);
    let mut a = Flp::start(dir.path(), "a", &yaml_a)?;
    a.wait_log("partitions assigned")?;
    wait_for("A writes flows", || Ok(a.ids().0.len() >= 500))?;

    let yaml_b = config(&topic, &group, &dir.path().join("b.json"), &[]);
    let mut b = Flp::start(dir.path(), "b", &yaml_b)?;
    // B got partitions of its own: A gave up its own and took back a share.
    b.wait_log("partitions assigned")?;
    a.wait_log("partitions revoked")?;
    let b_start = b.ids().0.len();
    wait_for("B writes flows", || Ok(b.ids().0.len() >= b_start + 300))?;
    let a_mid = a.ids().0.len();
    wait_for("A still writes flows after the rebalance", || {
        Ok(a.ids().0.len() >= a_mid + 200)
    })?;

    let b_share: HashSet<u64> = b.ids().0.iter().map(|id| id % partitions as u64).collect();
    assert!(
        b_share.len() < partitions as usize,
        "B had a share, not every partition: {b_share:?}"
    );
    a.terminate()?;
    let b_alone = b.ids().0.len();
    wait_for("B writes every partition after A left", || {
        let ids = b.ids().0;
        let now: HashSet<u64> = ids[b_alone.min(ids.len())..]
            .iter()
            .map(|id| id % partitions as u64)
            .collect();
        Ok(now.len() == partitions as usize)
    })?;
    let placed = producing.finish()?;
    let want: HashSet<u64> = placed.keys().copied().collect();
    wait_for("every produced flow written", || {
        let (ia, ib) = (a.ids().0, b.ids().0);
        let seen = tally(&[&ia, &ib]);
        Ok(want.iter().all(|id| seen.contains_key(id)))
    })?;
    b.terminate()?;

    let ((ia, cut_a), (ib, cut_b)) = (a.ids(), b.ids());
    assert_eq!((cut_a, cut_b), (0, 0), "no line cut short");
    let seen = tally(&[&ia, &ib]);
    let unknown: Vec<_> = seen.keys().filter(|id| !want.contains(id)).collect();
    assert!(unknown.is_empty(), "ids never produced: {unknown:?}");
    assert_eq!(seen.len(), want.len(), "every flow arrives at least once");
    let dups = duplicates(&seen);
    let clean = clean_handover(&a.log()) && clean_handover(&b.log());
    // Two rebalances (B joins, A leaves), each revoking every partition of every member.
    let bound = 2 * 2 * IN_FLIGHT;
    eprintln!(
        "rebalance: {} flows produced over {partitions} partitions, A wrote {}, B wrote {}, {dups} duplicates; hand-overs {} (bound {}: 2 rebalances x 2 members x in-flight window {IN_FLIGHT})",
        want.len(),
        ia.len(),
        ib.len(),
        if clean { "clean" } else { "not clean" },
        if clean { 0 } else { bound },
    );
    if clean {
        assert_eq!(
            dups, 0,
            "every batch was delivered and committed before each hand-over"
        );
    } else {
        assert!(dups <= bound, "{dups} duplicates > {bound}");
    }
    group_offsets.wait_committed(&ends(&placed), PATIENCE)?;
    Ok(())
}

/// One process is killed (SIGKILL) mid-stream and started again in the same group while
/// producing goes on. Every flow arrives; the flows written twice are exactly ones the killed
/// process wrote past the group's last commit before the kill.
#[test]
fn kill_9_mid_stream_then_restart_loses_nothing() -> Result<()> {
    let topic = unique("kgroup-kill");
    let group = unique("g");
    let partitions = 3;
    create_topic(&topic, partitions)?;
    let group_offsets = Group::new(&topic, &group, partitions)?;
    let dir = workdir()?;
    let mut first = Flp::start(
        dir.path(),
        "first",
        &config(&topic, &group, &dir.path().join("first.json"), &[]),
    )?;
    // Producing starts once it is consuming, with a burst: the kill comes while it catches up,
    // with flows read and written past its last commit.
    first.wait_log("partitions assigned")?;
    let producing = Producing::start(&topic, partitions, 12_000, 20, Duration::from_millis(10))?;
    // Well into the stream: its commits reach the broker.
    wait_for("the first process commits", || {
        Ok(group_offsets.committed()?.values().sum::<i64>() >= 3000)
    })?;
    let before_kill = group_offsets.committed()?;
    first.signal(rustix::process::Signal::KILL)?;
    let status = first.wait(PATIENCE)?;
    assert!(!status.success(), "killed: {status}");

    let mut second = Flp::start(
        dir.path(),
        "second",
        &config(&topic, &group, &dir.path().join("second.json"), &[]),
    )?;
    wait_for("the restarted process writes flows", || {
        Ok(second.ids().0.len() >= 1000)
    })?;
    let placed = producing.finish()?;
    let want: HashSet<u64> = placed.keys().copied().collect();
    wait_for("every produced flow written", || {
        let (i1, i2) = (first.ids().0, second.ids().0);
        let seen = tally(&[&i1, &i2]);
        Ok(want.iter().all(|id| seen.contains_key(id)))
    })?;
    second.terminate()?;

    let ((i1, cut1), (i2, cut2)) = (first.ids(), second.ids());
    assert!(
        cut1 <= 1,
        "only the last line of the killed process may be cut"
    );
    assert_eq!(cut2, 0);
    let seen = tally(&[&i1, &i2]);
    assert_eq!(seen.len(), want.len(), "every flow arrives at least once");
    assert!(seen.keys().all(|id| want.contains(id)));
    // The first process had no rebalance; the second hands nothing over twice when its
    // rebalances (the killed member leaving the group) were clean.
    assert_eq!(
        duplicates(&tally(&[&i1])),
        0,
        "first process wrote a flow twice"
    );
    let within_second = duplicates(&tally(&[&i2]));
    if clean_handover(&second.log()) {
        assert_eq!(within_second, 0, "second process wrote a flow twice");
    } else {
        eprintln!(
            "kill -9: the second process's rebalance was not clean: it wrote {within_second} flows twice"
        );
    }
    let in_second: HashSet<u64> = i2.iter().copied().collect();
    let dups: Vec<u64> = {
        let mut d: Vec<u64> = i1
            .iter()
            .copied()
            .filter(|id| in_second.contains(id))
            .collect();
        d.sort_unstable();
        d.dedup();
        d
    };
    // The window the kill left: what the first process wrote past the commit seen before it.
    let window: HashSet<u64> = i1
        .iter()
        .copied()
        .filter(|id| {
            let (p, o) = placed[id];
            o >= before_kill.get(&p).copied().unwrap_or(0)
        })
        .collect();
    let outside: Vec<_> = dups.iter().filter(|id| !window.contains(id)).collect();
    eprintln!(
        "kill -9: {} flows produced, the killed process wrote {} ({cut1} line cut), the restarted one {}, {} written by both; the group had committed {} before the kill ({before_kill:?}), the killed process wrote {} flows past that",
        want.len(),
        i1.len(),
        i2.len(),
        dups.len(),
        before_kill.values().sum::<i64>(),
        window.len()
    );
    assert!(
        outside.is_empty(),
        "flows read again although committed before the kill: {outside:?}"
    );
    group_offsets.wait_committed(&ends(&placed), PATIENCE)?;
    Ok(())
}

/// A second sink that fails (writes to /dev/full) errors every batch: the pipeline stops with
/// exit 1 and commits nothing past what was committed before; a restarted pipeline reads those
/// flows again, and only those.
#[test]
fn a_failing_sink_commits_nothing_and_the_flows_are_read_again() -> Result<()> {
    let topic = unique("kgroup-fail");
    let group = unique("g");
    let partitions = 2;
    create_topic(&topic, partitions)?;
    let group_offsets = Group::new(&topic, &group, partitions)?;
    let dir = workdir()?;
    let (n1, n2) = (600u64, 900u64);

    // A healthy run commits the first flows.
    let first = produce_all(&topic, partitions, 0..n1)?;
    let mut healthy = Flp::start(
        dir.path(),
        "healthy",
        &config(&topic, &group, &dir.path().join("healthy.json"), &[]),
    )?;
    group_offsets.wait_committed(&ends(&first), PATIENCE)?;
    healthy.terminate()?;
    let (ih, _) = healthy.ids();
    assert_eq!(ih.len() as u64, n1);
    let committed_before = group_offsets.committed()?;

    // The failing run: its file sink delivers, /dev/full errors.
    let second = produce_all(&topic, partitions, n1..n1 + n2)?;
    let mut failing = Flp::start(
        dir.path(),
        "failing",
        &config(
            &topic,
            &group,
            &dir.path().join("failing.json"),
            &["/dev/full"],
        ),
    )?;
    let status = failing.wait(PATIENCE)?;
    let log = failing.log();
    assert_eq!(status.code(), Some(1), "{log}");
    assert!(
        log.contains("/dev/full"),
        "the failure names the file: {log}"
    );
    assert_eq!(
        group_offsets.committed()?,
        committed_before,
        "nothing committed past the errored flows"
    );
    let (ifail, _) = failing.ids();
    assert!(
        ifail.iter().all(|id| second.contains_key(id)),
        "the failing run read only new flows"
    );

    // Restarted with a working sink: exactly the flows not committed are read again.
    let mut again = Flp::start(
        dir.path(),
        "again",
        &config(&topic, &group, &dir.path().join("again.json"), &[]),
    )?;
    let mut all = first.clone();
    all.extend(second.iter().map(|(k, v)| (*k, *v)));
    group_offsets.wait_committed(&ends(&all), PATIENCE)?;
    again.terminate()?;
    let (ia, cut) = again.ids();
    assert_eq!(cut, 0);
    let got: HashSet<u64> = ia.iter().copied().collect();
    let want: HashSet<u64> = second.keys().copied().collect();
    assert_eq!(ia.len(), got.len(), "no flow read twice after the restart");
    assert_eq!(got, want, "the flows not committed, and only those");
    let reread = ifail.iter().filter(|id| got.contains(id)).count();
    eprintln!(
        "failing sink: {n1} flows committed by a healthy run, {n2} more: the failing run wrote {} of them to its working sink, committed none; the restart read all {n2} again ({reread} written twice)",
        ifail.len()
    );
    assert_eq!(reread, ifail.len());
    Ok(())
}
