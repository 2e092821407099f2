//! `write: clickhouse`: flows batched into RowBinary INSERTs over HTTP.
//!
//! - **Batches.** The pipeline's [`Batcher`] collects flows until `batchRows` or `maxWait`; each
//!   batch is one `INSERT ... FORMAT RowBinary` (LZ4-compressed by default), encoded from the
//!   flows by [`RowEncoder`].
//! - **Acknowledgement.** A batch is acknowledged once ClickHouse answered 200 for its INSERT
//!   (the rows and the materialized views feeding the rollups are written).
//! - **Retries and back-pressure.** A failed INSERT is retried with exponential backoff; while
//!   it is, the sink reads no input, so the pipeline's bounded queues fill and the sources wait.
//!   Memory stays bounded by one batch and the queues. With `maxRetries: 0` (the default) it
//!   retries until ClickHouse answers again, so nothing is lost while it is down.
//! - **Rejection.** A flow the schema cannot hold ([`RowError`]) is rejected alone: counted in
//!   the stage's errors (kind `clickhouse`), logged, left out of the INSERT. If ClickHouse itself
//!   refuses a batch's data (a parse or type error, not a server or network failure), the batch
//!   is split in halves until the refused rows are alone; the others go in.

use std::time::{Duration, Instant};

use netobserv_flow::Flow;
use netobserv_flow::pipeline::{
    AckStatus, BatchLimits, Batcher, BuildContext, Component, Healthcheck, Shutdown, Sink,
    SinkContext, StageFactory, StageMetrics,
};

use super::config::ClickHouseConfig;
use super::row::{RowEncoder, RowError};
use super::schema::{self, Schema};
use super::{Flavor, schema::TIME_COLUMN};
use crate::{Error, Result};

/// The write stage type.
pub const TYPE: &str = "clickhouse";

/// The rejection kind counted in the stage's errors.
pub const REJECT_KIND: &str = "clickhouse";

/// ClickHouse error codes that mean "this data", not "this server": a batch refused with one of
/// them is split to find the rows, never retried whole.
const DATA_ERROR_CODES: &[u32] = &[
    6,   // CANNOT_PARSE_TEXT
    26,  // CANNOT_PARSE_QUOTED_STRING
    27,  // CANNOT_PARSE_INPUT_ASSERTION_FAILED
    32,  // ATTEMPT_TO_READ_AFTER_EOF
    33,  // CANNOT_READ_ALL_DATA
    38,  // CANNOT_PARSE_DATE
    41,  // CANNOT_PARSE_DATETIME
    53,  // TYPE_MISMATCH
    69,  // ARGUMENT_OUT_OF_BOUND
    70,  // CANNOT_CONVERT_TYPE
    72,  // CANNOT_PARSE_NUMBER
    117, // INCORRECT_DATA
    131, // TOO_LARGE_STRING_SIZE
    321, // VALUE_IS_OUT_OF_RANGE_OF_DATA_TYPE
    441, // CANNOT_PARSE_IPV6 (modern)
    469, // VIOLATED_CONSTRAINT (modern)
];

/// Bytes per chunk of an INSERT body handed to the client (each is compressed on its own).
const CHUNK: usize = 1 << 20;

/// What became of one batch of flows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WriteOutcome {
    /// Rows ClickHouse accepted.
    pub written: usize,
    /// Flows rejected alone (the schema cannot hold them, or ClickHouse refused their row).
    pub rejected: usize,
    /// Flows not delivered because the retries ran out (or an immediate shutdown).
    pub errored: usize,
}

impl WriteOutcome {
    /// The acknowledgement status of the batch.
    pub fn status(&self) -> AckStatus {
        if self.errored > 0 {
            AckStatus::Errored
        } else if self.rejected > 0 {
            AckStatus::Rejected
        } else {
            AckStatus::Delivered
        }
    }
}

/// The ClickHouse writer: the client, the schema it writes and the row encoding.
pub struct ClickHouseWriter {
    client: clickhouse::Client,
    config: ClickHouseConfig,
    /// Set once connected: the schema and the encoder of the table's columns.
    state: Option<(Schema, RowEncoder, String)>,
    metrics: Option<StageMetrics>,
    /// When old partitions were last dropped (18.16 retention; modern servers use `TTL`).
    retention_run: Instant,
}

/// How often a running sink drops expired partitions on servers without `TTL`.
const RETENTION_EVERY: Duration = Duration::from_secs(3600);

fn make_client(config: &ClickHouseConfig) -> Result<clickhouse::Client> {
    let c = match &config.tls {
        Some(tls) => super::tls::client(tls)?,
        None => clickhouse::Client::default(),
    };
    let mut c = c
        .with_url(&config.url)
        .with_validation(false)
        .with_compression(if config.compression {
            clickhouse::Compression::Lz4
        } else {
            clickhouse::Compression::None
        });
    if let Some(u) = &config.user {
        c = c.with_user(u);
    }
    if let Some(p) = &config.password {
        c = c.with_password(p);
    }
    Ok(c)
}

impl ClickHouseWriter {
    /// A writer as `config` says; connects on [`Self::connect`] (or the first batch).
    pub fn new(config: &ClickHouseConfig) -> Result<Self> {
        config.validate().map_err(Error::Settings)?;
        Ok(ClickHouseWriter {
            client: make_client(config)?,
            config: config.clone(),
            state: None,
            metrics: None,
            retention_run: Instant::now(),
        })
    }

    /// Counts rejections and written rows in `metrics`.
    #[must_use]
    pub fn with_metrics(mut self, metrics: StageMetrics) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// The client (for queries next to the writes).
    pub fn client(&self) -> &clickhouse::Client {
        &self.client
    }

    /// The schema, once connected.
    pub fn schema(&self) -> Option<&Schema> {
        self.state.as_ref().map(|(s, _, _)| s)
    }

    /// Detects the server's flavor, creates or migrates the schema (`createSchema`), drops
    /// expired partitions (18.16) and reads the table's columns. Once.
    pub async fn connect(&mut self) -> Result<&Schema> {
        if self.state.is_none() {
            let (version, flavor) = schema::detect(&self.client).await?;
            let schema = Schema::new(flavor, &self.config.database, &self.config.table)
                .with_retention(
                    self.config.retention_days,
                    self.config.rollup_retention_days,
                );
            if self.config.create_schema {
                schema::migrate(&self.client, &schema).await?;
            }
            if flavor == Flavor::Legacy {
                schema::drop_expired_partitions(&self.client, &schema, unix_now()).await?;
                self.retention_run = Instant::now();
            }
            let fields = schema::table_fields(&self.client, &schema).await?;
            tracing::info!(url = %self.config.url, %version, ?flavor, table = %schema.table, columns = fields.len(), "clickhouse connected");
            let encoder = RowEncoder::new(flavor, fields);
            let sql = encoder.insert_sql(&schema);
            self.state = Some((schema, encoder, sql));
        }
        Ok(&self.state.as_ref().expect("set above").0)
    }

    /// Writes `flows`: encodes them (rejecting alone those the schema cannot hold), INSERTs the
    /// rows with retries, and splits a batch whose data ClickHouse refuses. `shutdown` stops the
    /// retries when it turns immediate.
    pub async fn write(&mut self, flows: &[Flow], shutdown: Option<&Shutdown>) -> WriteOutcome {
        let mut outcome = WriteOutcome::default();
        if flows.is_empty() {
            return outcome;
        }
        // Connect first (retried like an INSERT: ClickHouse may be down at start).
        let mut backoff = Backoff::new(&self.config);
        loop {
            match self.connect().await {
                Ok(_) => break,
                Err(e) => {
                    if !backoff.wait(shutdown, &e.to_string()).await {
                        outcome.errored = flows.len();
                        return outcome;
                    }
                }
            }
        }
        self.enforce_retention().await;
        let (_, encoder, _) = self.state.as_ref().expect("connected");
        let mut body = Vec::with_capacity(flows.len() * 256);
        let mut rows: Vec<(usize, usize)> = Vec::with_capacity(flows.len());
        for (i, flow) in flows.iter().enumerate() {
            let start = body.len();
            match encoder.encode(flow, &mut body) {
                Ok(()) => rows.push((i, start)),
                Err(e) => {
                    outcome.rejected += 1;
                    self.reject(&e, flow);
                }
            }
        }
        let body = bytes::Bytes::from(body);
        // Row i spans offsets[i]..offsets[i + 1].
        let mut offsets: Vec<usize> = rows.iter().map(|r| r.1).collect();
        offsets.push(body.len());
        // INSERTs of at most `batchBytes` (at least one row each), last first on the stack.
        let mut pending = Vec::new();
        let mut lo = 0;
        for hi in 1..=rows.len() {
            if hi == rows.len() || offsets[hi + 1] - offsets[lo] > self.config.batch_bytes {
                pending.push((lo, hi));
                lo = hi;
            }
        }
        pending.reverse();
        // Rows ClickHouse refused alone: (row, its error).
        let mut refused: Vec<(usize, String)> = Vec::new();
        while let Some((lo, hi)) = pending.pop() {
            if lo == hi {
                continue;
            }
            let part = body.slice(offsets[lo]..offsets[hi]);
            match self.insert_with_retries(part, hi - lo, shutdown).await {
                Sent::Ok => outcome.written += hi - lo,
                Sent::GaveUp => outcome.errored += hi - lo,
                Sent::DataRefused(msg) if hi - lo == 1 => refused.push((lo, msg)),
                Sent::DataRefused(_) => {
                    let mid = lo + (hi - lo) / 2;
                    pending.push((mid, hi));
                    pending.push((lo, mid));
                }
            }
        }
        if outcome.written == 0 && refused.len() > 1 {
            // Every row refused alone is not bad data but a table that does not match what the
            // sink writes (a column altered, another encoding): not acknowledged, so a source
            // that commits (Kafka) keeps the flows for a retry once the table is fixed.
            tracing::error!(
                rows = refused.len(),
                table = %self.config.table,
                first_error = %refused[0].1,
                "clickhouse refused every row of the batch alone: the table's schema does not match what the sink writes; the batch is not acknowledged"
            );
            outcome.errored += refused.len();
        } else {
            for (row, msg) in refused {
                outcome.rejected += 1;
                let flow = &flows[rows[row].0];
                if let Some(m) = &self.metrics {
                    m.reject(
                        REJECT_KIND,
                        format_args!("clickhouse refused the row of flow {flow:?}: {msg}"),
                    );
                } else {
                    tracing::warn!(error = %msg, ?flow, "clickhouse refused a row");
                }
            }
        }
        if let Some(m) = &self.metrics {
            m.written(outcome.written);
        }
        outcome
    }

    /// On servers without `TTL`, drops expired partitions again once [`RETENTION_EVERY`] has
    /// passed (a failure is logged and tried at the next interval: the flows still go in).
    async fn enforce_retention(&mut self) {
        let Some((schema, _, _)) = self.state.as_ref() else {
            return;
        };
        if schema.flavor != Flavor::Legacy
            || (self.config.retention_days == 0 && self.config.rollup_retention_days == 0)
            || self.retention_run.elapsed() < RETENTION_EVERY
        {
            return;
        }
        self.retention_run = Instant::now();
        if let Err(e) = schema::drop_expired_partitions(&self.client, schema, unix_now()).await {
            tracing::warn!(error = %e, table = %schema.table, "clickhouse: dropping expired partitions failed; tried again in an hour");
        }
    }

    fn reject(&self, e: &RowError, flow: &Flow) {
        let end = flow.get_field(TIME_COLUMN);
        match &self.metrics {
            Some(m) => m.reject(
                REJECT_KIND,
                format_args!(
                    "flow not written ({e}); its TimeFlowEndMs: {end:?}, SrcAddr: {:?}",
                    flow.src_addr()
                ),
            ),
            None => tracing::warn!(error = %e, "flow not written to clickhouse"),
        }
    }

    async fn insert_with_retries(
        &self,
        part: bytes::Bytes,
        rows: usize,
        shutdown: Option<&Shutdown>,
    ) -> Sent {
        let mut backoff = Backoff::new(&self.config);
        loop {
            let started = Instant::now();
            match self.insert(part.clone()).await {
                Ok(()) => {
                    tracing::debug!(rows, bytes = part.len(), took = ?started.elapsed(), "clickhouse insert");
                    return Sent::Ok;
                }
                Err(e) => {
                    let text = super::error_chain(&e);
                    if matches!(e, clickhouse::error::Error::BadResponse(_))
                        && error_code(&text).is_some_and(|c| DATA_ERROR_CODES.contains(&c))
                    {
                        return Sent::DataRefused(text);
                    }
                    if !backoff.wait(shutdown, &text).await {
                        return Sent::GaveUp;
                    }
                }
            }
        }
    }

    async fn insert(&self, part: bytes::Bytes) -> clickhouse::error::Result<()> {
        let (_, _, sql) = self.state.as_ref().expect("connected");
        let t = self.config.timeout.0;
        let mut insert = self
            .client
            .insert_formatted_with(sql.clone())
            .with_timeouts(Some(t), Some(t));
        let mut off = 0;
        while off < part.len() {
            let end = (off + CHUNK).min(part.len());
            insert.send(part.slice(off..end)).await?;
            off = end;
        }
        insert.end().await
    }
}

enum Sent {
    Ok,
    GaveUp,
    DataRefused(String),
}

/// The first `Code: N` of a ClickHouse exception text.
fn error_code(text: &str) -> Option<u32> {
    let rest = &text[text.find("Code: ")? + 6..];
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

struct Backoff {
    next: Duration,
    max: Duration,
    attempts: u32,
    max_retries: u32,
}

impl Backoff {
    fn new(c: &ClickHouseConfig) -> Self {
        Backoff {
            next: c.retry_initial_backoff.0.max(Duration::from_millis(1)),
            max: c.retry_max_backoff.0.max(Duration::from_millis(1)),
            attempts: 0,
            max_retries: c.max_retries,
        }
    }

    /// Waits before the next attempt; `false` when there is none (retries spent, or an
    /// immediate shutdown).
    async fn wait(&mut self, shutdown: Option<&Shutdown>, error: &str) -> bool {
        self.attempts += 1;
        if (self.max_retries > 0 && self.attempts > self.max_retries)
            || shutdown.is_some_and(Shutdown::is_immediate)
        {
            tracing::warn!(
                error,
                attempts = self.attempts,
                "clickhouse insert failed; the flows are not delivered"
            );
            return false;
        }
        tracing::warn!(error, attempt = self.attempts, backoff = ?self.next, "clickhouse insert failed; retrying");
        match shutdown {
            Some(s) => {
                let mut s = s.clone();
                tokio::select! {
                    _ = tokio::time::sleep(self.next) => {}
                    _ = s.wait_immediate() => {}
                }
            }
            None => tokio::time::sleep(self.next).await,
        }
        self.next = (self.next * 2).min(self.max);
        !shutdown.is_some_and(Shutdown::is_immediate)
    }
}

/// The sink: batches from the pipeline, written by a [`ClickHouseWriter`].
pub struct ClickHouseSink {
    writer: ClickHouseWriter,
    limits: BatchLimits,
}

impl ClickHouseSink {
    /// A sink as `config` says (no I/O until it runs).
    pub fn new(config: &ClickHouseConfig) -> Result<Self> {
        Ok(ClickHouseSink {
            writer: ClickHouseWriter::new(config)?,
            limits: BatchLimits {
                max_flows: config.batch_rows,
                max_bytes: config.batch_bytes,
                max_wait: config.max_wait.0,
            },
        })
    }

    /// The sink as a pipeline component, with a healthcheck (`SELECT version()`).
    pub fn into_component(self) -> Component {
        let client = self.writer.client.clone();
        let url = self.writer.config.url.clone();
        Component::sink(self).with_healthcheck(Healthcheck::new(url, async move {
            schema::detect(&client)
                .await
                .map(drop)
                .map_err(|e| Box::new(e) as netobserv_flow::error::BoxError)
        }))
    }
}

#[async_trait::async_trait]
impl Sink for ClickHouseSink {
    async fn run(self: Box<Self>, mut cx: SinkContext) -> netobserv_flow::Result<()> {
        let ClickHouseSink { writer, limits } = *self;
        let mut writer = writer.with_metrics(cx.metrics.clone());
        // The schema exists from the start, even before the first flow (retried while
        // ClickHouse is down; the first write connects if the shutdown came first).
        let mut backoff = Backoff::new(&writer.config);
        while let Err(e) = writer.connect().await {
            if let Error::Settings(_) = e {
                // A table this sink cannot write (not something a retry fixes).
                return Err(netobserv_flow::Error::stage(cx.metrics.stage(), e));
            }
            if cx.shutdown.is_triggered() || !backoff.wait(Some(&cx.shutdown), &e.to_string()).await
            {
                break;
            }
        }
        let mut batcher = Batcher::new(limits);
        while let Some(req) = batcher.next(&mut cx.input).await {
            let started = Instant::now();
            let outcome = writer.write(&req.payload, Some(&cx.shutdown)).await;
            cx.metrics.observe(started.elapsed());
            req.resolve(outcome.status());
        }
        Ok(())
    }
}

/// Builds `write: clickhouse`.
pub(super) struct Factory;

#[async_trait::async_trait]
impl StageFactory for Factory {
    async fn build(&self, cx: &mut BuildContext<'_>) -> netobserv_flow::Result<Component> {
        let config: ClickHouseConfig = cx.required_settings_at(TYPE)?;
        let sink = ClickHouseSink::new(&config).map_err(|e| match e {
            Error::Settings(m) => cx.config_error(m),
            other => netobserv_flow::Error::stage(cx.stage(), other),
        })?;
        Ok(sink.into_component())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_codes_are_read_from_exception_texts() {
        assert_eq!(
            error_code("bad response: Code: 27, e.displayText() = DB::Exception: Cannot parse"),
            Some(27)
        );
        assert_eq!(error_code("Code: 1. DB::Exception: x"), Some(1));
        assert_eq!(error_code("network error"), None);
    }

    #[test]
    fn outcome_status_is_the_worst() {
        let mut o = WriteOutcome {
            written: 3,
            ..Default::default()
        };
        assert_eq!(o.status(), AckStatus::Delivered);
        o.rejected = 1;
        assert_eq!(o.status(), AckStatus::Rejected);
        o.errored = 1;
        assert_eq!(o.status(), AckStatus::Errored);
    }
}
