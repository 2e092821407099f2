//! Operational metrics of a pipeline, in Prometheus text format, named after flowlogs-pipeline's
//! (`ingest_flows_processed`, `records_written`, `stage_duration_ms`, `stage_in_queue_size`,
//! `ingest_errors`...) with the `metricsSettings.prefix` in front.

use std::sync::Arc;
use std::time::{Duration, Instant};

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry, TextEncoder,
};

/// The metric families of one pipeline.
#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    prefix: Arc<str>,
    ingest_flows: IntCounterVec,
    ingest_errors: IntCounterVec,
    flows_in: IntCounterVec,
    flows_out: IntCounterVec,
    records_written: IntCounterVec,
    queue: IntGaugeVec,
    duration: HistogramVec,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::build("")
    }
}

/// Whether `prefix` can start a Prometheus metric name (`[a-zA-Z_:][a-zA-Z0-9_:]*`, or empty).
fn valid_prefix(prefix: &str) -> bool {
    prefix.chars().enumerate().all(|(i, c)| {
        c.is_ascii_alphabetic() || c == '_' || c == ':' || (i > 0 && c.is_ascii_digit())
    })
}

/// The totals of one stage over a run, from its metrics.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StageSummary {
    /// The stage.
    pub stage: String,
    /// Flows a source read (`ingest_flows_processed`).
    pub ingested: u64,
    /// Flows in and out of a transform or stateful stage (`stage_flows_in`, `stage_flows_out`);
    /// a sink's flows in.
    pub flows_in: u64,
    /// Flows out.
    pub flows_out: u64,
    /// Records a sink wrote (`records_written`).
    pub written: u64,
    /// Rejected input by kind (`ingest_errors`).
    pub rejected: Vec<(String, u64)>,
}

impl std::fmt::Display for StageSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut parts = Vec::new();
        if self.ingested > 0 {
            parts.push(format!("{} read", self.ingested));
        }
        if self.ingested > 0 && self.flows_in == 0 {
            // A source: what it read is what it sent on.
        } else if self.flows_out > 0 || (self.flows_in > 0 && self.written == 0) {
            parts.push(format!("{} in, {} out", self.flows_in, self.flows_out));
        } else if self.flows_in > 0 {
            parts.push(format!("{} in", self.flows_in));
        }
        if self.written > 0 {
            parts.push(format!("{} written", self.written));
        }
        let rejected: u64 = self.rejected.iter().map(|(_, n)| n).sum();
        if rejected > 0 {
            let kinds: Vec<String> = self
                .rejected
                .iter()
                .map(|(k, n)| format!("{k}: {n}"))
                .collect();
            parts.push(format!("{rejected} rejected ({})", kinds.join(", ")));
        }
        if parts.is_empty() {
            parts.push("no flows".into());
        }
        write!(f, "stage {:?}: {}", self.stage, parts.join(", "))
    }
}

#[allow(clippy::expect_used)] // metric definitions are static: a failure is a programming error
impl Metrics {
    /// Metrics whose names start with `prefix` (written as is: `netobserv_` gives
    /// `netobserv_ingest_flows_processed`). A prefix Prometheus does not allow in a metric name
    /// (`flp-`) is a configuration error.
    pub fn new(prefix: &str) -> crate::Result<Self> {
        if !valid_prefix(prefix) {
            return Err(crate::ConfigErrorKind::MetricsPrefix {
                prefix: prefix.to_string(),
            }
            .into());
        }
        Ok(Metrics::build(prefix))
    }

    /// The prefix of the metric names.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    fn build(prefix: &str) -> Self {
        let registry = Registry::new();
        let name = |n: &str| format!("{prefix}{n}");
        let counter = |n: &str, help: &str, labels: &[&str]| {
            let c = IntCounterVec::new(Opts::new(name(n), help), labels).expect("valid metric");
            registry
                .register(Box::new(c.clone()))
                .expect("unique metric");
            c
        };
        let ingest_flows = counter(
            "ingest_flows_processed",
            "Number of flows received by the ingester",
            &["stage"],
        );
        let ingest_errors = counter(
            "ingest_errors",
            "Counter of errors during ingestion (malformed input), by stage and kind",
            &["stage", "kind"],
        );
        let flows_in = counter("stage_flows_in", "Flows entering a stage", &["stage"]);
        let flows_out = counter("stage_flows_out", "Flows leaving a stage", &["stage"]);
        let records_written = counter(
            "records_written",
            "Number of output records written",
            &["stage"],
        );
        let queue = IntGaugeVec::new(
            Opts::new(
                name("stage_in_queue_size"),
                "Batches waiting in a stage's input queue",
            ),
            &["stage"],
        )
        .expect("valid metric");
        registry
            .register(Box::new(queue.clone()))
            .expect("unique metric");
        let duration = HistogramVec::new(
            HistogramOpts::new(
                name("stage_duration_ms"),
                "Time spent in a stage per batch, ms",
            )
            .buckets(vec![
                0.01, 0.1, 0.5, 1.0, 5.0, 10.0, 50.0, 100.0, 500.0, 1000.0,
            ]),
            &["stage"],
        )
        .expect("valid metric");
        registry
            .register(Box::new(duration.clone()))
            .expect("unique metric");
        Metrics {
            registry,
            prefix: Arc::from(prefix),
            ingest_flows,
            ingest_errors,
            flows_in,
            flows_out,
            records_written,
            queue,
            duration,
        }
    }

    /// The handles of one stage.
    pub fn stage(&self, stage: &str) -> StageMetrics {
        StageMetrics {
            stage: Arc::from(stage),
            ingest_flows: self.ingest_flows.with_label_values(&[stage]),
            flows_in: self.flows_in.with_label_values(&[stage]),
            flows_out: self.flows_out.with_label_values(&[stage]),
            records_written: self.records_written.with_label_values(&[stage]),
            queue: self.queue.with_label_values(&[stage]),
            duration: self.duration.with_label_values(&[stage]),
            errors: self.ingest_errors.clone(),
            log_limiter: Arc::new(std::sync::Mutex::new(LogLimiter::default())),
        }
    }

    /// The totals of each stage that has any, sorted by stage name.
    pub fn summary(&self) -> Vec<StageSummary> {
        let mut by_stage: std::collections::BTreeMap<String, StageSummary> = Default::default();
        for family in self.registry.gather() {
            let name = family
                .name()
                .strip_prefix(&*self.prefix)
                .unwrap_or(family.name());
            for m in family.get_metric() {
                let label = |l: &str| {
                    m.get_label()
                        .iter()
                        .find(|p| p.name() == l)
                        .map(|p| p.value().to_string())
                };
                if !matches!(
                    name,
                    "ingest_flows_processed"
                        | "stage_flows_in"
                        | "stage_flows_out"
                        | "records_written"
                        | "ingest_errors"
                ) {
                    continue;
                }
                let Some(stage) = label("stage") else {
                    continue;
                };
                let v = m.get_counter().get_value() as u64;
                if v == 0 {
                    continue;
                }
                let s = by_stage
                    .entry(stage.clone())
                    .or_insert_with(|| StageSummary {
                        stage,
                        ..Default::default()
                    });
                match name {
                    "ingest_flows_processed" => s.ingested = v,
                    "stage_flows_in" => s.flows_in = v,
                    "stage_flows_out" => s.flows_out = v,
                    "records_written" => s.written = v,
                    "ingest_errors" => s.rejected.push((label("kind").unwrap_or_default(), v)),
                    _ => {}
                }
            }
        }
        by_stage.into_values().collect()
    }

    /// The registry, for callers adding their own metrics.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// The Prometheus text exposition.
    pub fn encode(&self) -> String {
        let mut out = Vec::new();
        // Encoding into a Vec cannot fail for well-formed families.
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut out);
        String::from_utf8(out).unwrap_or_default()
    }
}

#[derive(Default)]
struct LogLimiter {
    last: Option<Instant>,
    suppressed: u64,
}

/// The metric handles of one stage, cheap to clone.
#[derive(Clone)]
pub struct StageMetrics {
    stage: Arc<str>,
    ingest_flows: IntCounter,
    flows_in: IntCounter,
    flows_out: IntCounter,
    records_written: IntCounter,
    queue: IntGauge,
    duration: prometheus::Histogram,
    errors: IntCounterVec,
    log_limiter: Arc<std::sync::Mutex<LogLimiter>>,
}

impl std::fmt::Debug for StageMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "StageMetrics({})", self.stage)
    }
}

impl StageMetrics {
    /// The stage name.
    pub fn stage(&self) -> &str {
        &self.stage
    }
    /// Counts flows read by an ingest stage.
    pub fn ingested(&self, n: usize) {
        self.ingest_flows.inc_by(n as u64);
    }
    /// Counts flows entering the stage.
    pub fn flows_in(&self, n: usize) {
        self.flows_in.inc_by(n as u64);
    }
    /// Counts flows leaving the stage.
    pub fn flows_out(&self, n: usize) {
        self.flows_out.inc_by(n as u64);
    }
    /// Counts records written by a sink.
    pub fn written(&self, n: usize) {
        self.records_written.inc_by(n as u64);
    }
    /// Sets the input queue length.
    pub fn queue_len(&self, n: usize) {
        self.queue.set(n as i64);
    }
    /// Records time spent on a batch.
    pub fn observe(&self, d: Duration) {
        self.duration.observe(d.as_secs_f64() * 1000.0);
    }

    /// Counts a rejected input and logs it, at most once per second per stage (the log line
    /// says how many were not logged since the last one).
    pub fn reject(&self, kind: &str, detail: std::fmt::Arguments<'_>) {
        self.errors.with_label_values(&[&self.stage, kind]).inc();
        let mut lim = self.log_limiter.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        if lim
            .last
            .is_some_and(|t| now.duration_since(t) < Duration::from_secs(1))
        {
            lim.suppressed += 1;
            return;
        }
        let suppressed = std::mem::take(&mut lim.suppressed);
        lim.last = Some(now);
        drop(lim);
        tracing::warn!(stage = %self.stage, kind, suppressed, "rejected input: {detail}");
    }

    /// Counts input that did not decode (its kind is the format: `json`, `pbflow`) and logs it
    /// with where it came from, at most once per second per stage, as [`Self::reject`] does.
    pub fn reject_decode(&self, input: &str, error: &crate::codec::DecodeError) {
        self.reject(error.format().as_str(), format_args!("{input}: {error}"));
    }

    /// The number of rejections of a kind so far.
    pub fn errors(&self, kind: &str) -> u64 {
        self.errors.with_label_values(&[&self.stage, kind]).get()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_prefix_is_a_config_error_and_summary_reads_the_counters() {
        for bad in ["flp-", "1x", "a b"] {
            let err = Metrics::new(bad)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(err.contains("metricsSettings.prefix"), "{bad:?}: {err}");
        }
        let m = Metrics::new("netobserv:flp_").unwrap();
        let s = m.stage("in");
        s.ingested(10);
        s.reject("json", format_args!("bad"));
        m.stage("out").written(9);
        let sum = m.summary();
        assert_eq!(sum.len(), 2, "{sum:?}");
        assert_eq!(sum[0].stage, "in");
        assert_eq!(sum[0].ingested, 10);
        assert_eq!(sum[0].rejected, [("json".to_string(), 1)]);
        assert_eq!(sum[1].to_string(), "stage \"out\": 9 written");
        // A counter of the caller's own, with a stage label, adds no empty line.
        let own = IntCounterVec::new(Opts::new("mine", "a caller's counter"), &["stage"]).unwrap();
        m.registry().register(Box::new(own.clone())).unwrap();
        own.with_label_values(&["elsewhere"]).inc();
        assert_eq!(m.summary().len(), 2);
        assert_eq!(
            sum[0].to_string(),
            "stage \"in\": 10 read, 1 rejected (json: 1)"
        );
    }

    #[test]
    fn names_carry_the_prefix_and_no_total_suffix() {
        let m = Metrics::new("netobserv_").unwrap();
        let s = m.stage("in");
        s.ingested(3);
        s.reject("json", format_args!("line 2: bad"));
        s.reject("json", format_args!("line 3: bad"));
        let text = m.encode();
        assert!(
            text.contains("netobserv_ingest_flows_processed{stage=\"in\"} 3"),
            "{text}"
        );
        assert!(
            text.contains("netobserv_ingest_errors{kind=\"json\",stage=\"in\"} 2"),
            "{text}"
        );
        assert_eq!(s.errors("json"), 2);
    }
}
