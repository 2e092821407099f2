//! Line-oriented JSON ingest: `stdin`, `file`, `file_loop`, `file_chunks`.
//!
//! Input is NetObserv JSON, one flow per line (blank lines are skipped); a file may instead hold
//! one JSON array of flows. A line that does not decode is counted in
//! `ingest_errors{stage,kind="json"}` and logged (at most once per second) with its line number;
//! the other lines go on.

use std::path::PathBuf;

use std::io::Read;
use std::sync::{Arc, Mutex};

use serde_json::value::RawValue;

use crate::codec::json;
use crate::config::{DecoderType, StageParam};
use crate::flow::Flow;
use crate::pipeline::{FlowBatch, Output, Shutdown, Source, SourceContext, StageMetrics};
use crate::{Error, Result};

/// Default flows per batch.
pub const DEFAULT_BATCH: usize = 1000;

const CHUNK: usize = 256 * 1024;

/// Splits a byte stream into lines and decodes them into batches.
pub struct LineDecoder {
    pending: Vec<u8>,
    flows: Vec<Flow>,
    line: u64,
    batch: usize,
}

impl LineDecoder {
    /// A decoder emitting batches of `batch` flows.
    pub fn new(batch: usize) -> Self {
        LineDecoder {
            pending: Vec::new(),
            flows: Vec::with_capacity(batch),
            line: 0,
            batch: batch.max(1),
        }
    }

    fn decode_line(flows: &mut Vec<Flow>, line_no: &mut u64, line: &[u8], metrics: &StageMetrics) {
        *line_no += 1;
        let trimmed = line.trim_ascii();
        if trimmed.is_empty() {
            return;
        }
        flows.push(Flow::default());
        let Some(slot) = flows.last_mut() else { return };
        if let Err(e) = json::decode_into(trimmed, slot) {
            flows.pop();
            metrics.reject("json", format_args!("line {line_no}: {e}"));
        }
    }

    /// Feeds bytes; pushes the full batches ready to send to `ready`.
    pub fn feed(&mut self, mut data: &[u8], metrics: &StageMetrics, ready: &mut Vec<Vec<Flow>>) {
        while let Some(nl) = memchr::memchr(b'\n', data) {
            let (line, rest) = data.split_at(nl);
            if self.pending.is_empty() {
                Self::decode_line(&mut self.flows, &mut self.line, line, metrics);
            } else {
                self.pending.extend_from_slice(line);
                Self::decode_line(&mut self.flows, &mut self.line, &self.pending, metrics);
                self.pending.clear();
            }
            data = &rest[1..];
            if self.flows.len() >= self.batch {
                ready.push(std::mem::replace(
                    &mut self.flows,
                    Vec::with_capacity(self.batch),
                ));
            }
        }
        self.pending.extend_from_slice(data);
    }

    /// Takes the flows decoded so far (a partial batch).
    pub fn take_partial(&mut self) -> Vec<Flow> {
        std::mem::take(&mut self.flows)
    }

    /// Ends the input: decodes a last line without newline; returns the remaining flows.
    pub fn finish(&mut self, metrics: &StageMetrics) -> Vec<Flow> {
        if !self.pending.is_empty() {
            let last = std::mem::take(&mut self.pending);
            Self::decode_line(&mut self.flows, &mut self.line, &last, metrics);
        }
        self.take_partial()
    }

    /// Lines seen so far.
    pub fn lines(&self) -> u64 {
        self.line
    }
}

async fn send(ctx: &SourceContext, flows: Vec<Flow>) -> bool {
    if flows.is_empty() {
        return true;
    }
    ctx.metrics.ingested(flows.len());
    ctx.out.send(FlowBatch::new(flows)).await.is_ok()
}

/// The output of a source read on a blocking thread; the async side can take it away on
/// shutdown, which closes the channels even while the thread is parked in a read.
type SharedOutput = Arc<Mutex<Option<Output>>>;

fn send_blocking(out: &SharedOutput, metrics: &StageMetrics, flows: Vec<Flow>) -> bool {
    if flows.is_empty() {
        return true;
    }
    let guard = out.lock().unwrap_or_else(|p| p.into_inner());
    let Some(o) = guard.as_ref() else {
        return false;
    };
    metrics.ingested(flows.len());
    o.blocking_send(FlowBatch::new(flows)).is_ok()
}

/// Reads JSON lines from `r` on the calling (blocking) thread until EOF, shutdown, or the output
/// is closed. Returns `false` when it stopped before EOF.
pub fn read_lines_blocking<R: Read>(
    mut r: R,
    out: &SharedOutput,
    metrics: &StageMetrics,
    shutdown: &Shutdown,
    batch: usize,
) -> std::io::Result<bool> {
    let mut dec = LineDecoder::new(batch);
    let mut buf = vec![0u8; CHUNK];
    let mut ready = Vec::new();
    loop {
        if shutdown.is_triggered() {
            send_blocking(out, metrics, dec.finish(metrics));
            return Ok(false);
        }
        let n = match r.read(&mut buf) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if n == 0 {
            let rest = dec.finish(metrics);
            return Ok(send_blocking(out, metrics, rest));
        }
        dec.feed(&buf[..n], metrics, &mut ready);
        for b in ready.drain(..) {
            if !send_blocking(out, metrics, b) {
                return Ok(false);
            }
        }
        // A short read means no more data is waiting: do not hold flows back.
        if n < buf.len() && !send_blocking(out, metrics, dec.take_partial()) {
            return Ok(false);
        }
    }
}

/// `ingest: {type: stdin}`.
pub struct StdinSource {
    batch: usize,
}

impl StdinSource {
    /// A stdin source with the given batch size.
    pub fn new(batch: usize) -> Self {
        StdinSource { batch }
    }
}

#[async_trait::async_trait]
impl Source for StdinSource {
    async fn run(self: Box<Self>, ctx: SourceContext) -> Result<()> {
        let SourceContext {
            out,
            mut shutdown,
            metrics,
        } = ctx;
        let shared: SharedOutput = Arc::new(Mutex::new(Some(out)));
        let (done_tx, done_rx) = tokio::sync::oneshot::channel();
        let (thread_out, thread_shutdown, batch) = (shared.clone(), shutdown.clone(), self.batch);
        std::thread::Builder::new()
            .name("stdin-reader".into())
            .spawn(move || {
                super::grow_pipe(std::io::stdin());
                let stdin = std::io::stdin().lock();
                let res =
                    read_lines_blocking(stdin, &thread_out, &metrics, &thread_shutdown, batch);
                let _ = done_tx.send(res);
            })
            .map_err(|e| Error::io("<stdin>", e))?;
        tokio::select! {
            res = done_rx => match res {
                Ok(r) => r.map(|_| ()).map_err(|e| Error::io("<stdin>", e)),
                Err(_) => Err(Error::Decode("stdin reader stopped unexpectedly".into())),
            },
            _ = shutdown.wait() => {
                // The reader may be parked in a read that never returns: close its output so
                // the rest of the pipeline drains and ends.
                let taken = {
                    let mut g = shared.lock().unwrap_or_else(|p| p.into_inner());
                    g.take()
                };
                drop(taken);
                Ok(())
            }
        }
    }
}

/// `ingest: {type: file | file_loop | file_chunks}`.
pub struct FileSource {
    path: PathBuf,
    looping: bool,
    batch: usize,
}

impl FileSource {
    /// Builds from stage parameters.
    pub fn from_param(p: &StageParam) -> Result<FileSource> {
        let ingest = p
            .ingest
            .as_ref()
            .ok_or_else(|| Error::Config(format!("stage {:?}: not an ingest stage", p.name)))?;
        let file = ingest.file.as_ref().ok_or_else(|| {
            Error::Config(format!(
                "stage {:?}: type {:?} needs a `file:` section with `filename`",
                p.name, ingest.r#type
            ))
        })?;
        if file
            .decoder
            .as_ref()
            .is_some_and(|d| d.r#type == DecoderType::Protobuf)
        {
            return Err(Error::Config(format!(
                "stage {:?}: files are read as JSON; the protobuf decoder applies to kafka and grpc",
                p.name
            )));
        }
        let path = PathBuf::from(&file.filename);
        if !path.is_file() {
            return Err(Error::Config(format!(
                "stage {:?}: file {:?} does not exist or is not a file",
                p.name, file.filename
            )));
        }
        Ok(FileSource {
            path,
            looping: ingest.r#type == "file_loop" || file.r#loop == Some(true),
            batch: if ingest.r#type == "file_chunks" {
                file.chunks.unwrap_or(100)
            } else {
                DEFAULT_BATCH
            },
        })
    }

    async fn once(&self, ctx: &mut SourceContext) -> Result<bool> {
        let mut head = [0u8; 64];
        let mut f = std::fs::File::open(&self.path).map_err(|e| Error::io(&self.path, e))?;
        let n = f.read(&mut head).map_err(|e| Error::io(&self.path, e))?;
        let is_array = head[..n].iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[');
        if is_array {
            let bytes = tokio::fs::read(&self.path)
                .await
                .map_err(|e| Error::io(&self.path, e))?;
            return Ok(self.ingest_array(&bytes, ctx).await);
        }
        let shared: SharedOutput = Arc::new(Mutex::new(Some(ctx.out.clone())));
        let (metrics, shutdown, batch, path) = (
            ctx.metrics.clone(),
            ctx.shutdown.clone(),
            self.batch,
            self.path.clone(),
        );
        let reader = std::io::Cursor::new(head[..n].to_vec()).chain(f);
        tokio::task::spawn_blocking(move || {
            read_lines_blocking(reader, &shared, &metrics, &shutdown, batch)
        })
        .await
        .map_err(|e| Error::Decode(format!("file reader failed: {e}")))?
        .map_err(|e| Error::io(path, e))
    }

    async fn ingest_array(&self, bytes: &[u8], ctx: &SourceContext) -> bool {
        let items: Vec<&RawValue> = match serde_json::from_slice(bytes) {
            Ok(v) => v,
            Err(e) => {
                ctx.metrics.reject(
                    "json",
                    format_args!("{}: not a JSON array of flows: {e}", self.path.display()),
                );
                return true;
            }
        };
        for (c, chunk) in items.chunks(self.batch).enumerate() {
            let mut flows = Vec::with_capacity(chunk.len());
            for (j, raw) in chunk.iter().enumerate() {
                let i = c * self.batch + j;
                match json::decode(raw.get().as_bytes()) {
                    Ok(f) => flows.push(f),
                    Err(e) => ctx
                        .metrics
                        .reject("json", format_args!("array element {i}: {e}")),
                }
            }
            if !send(ctx, flows).await {
                return false;
            }
        }
        true
    }
}

#[async_trait::async_trait]
impl Source for FileSource {
    async fn run(self: Box<Self>, mut ctx: SourceContext) -> Result<()> {
        loop {
            let completed = self.once(&mut ctx).await?;
            if !completed || !self.looping || ctx.shutdown.is_triggered() {
                return Ok(());
            }
        }
    }
}
