//! Line-oriented JSON ingest: `stdin`, `file`, `file_loop`, `file_chunks`.
//!
//! Input is NetObserv JSON, one flow per line (blank lines are skipped); a file may instead hold
//! one JSON array of flows. A line that does not decode is counted in
//! `ingest_errors{stage,kind="json"}` and logged (at most once per second) with its line number;
//! the other lines go on.

use std::path::PathBuf;

use serde_json::value::RawValue;
use tokio::io::{AsyncRead, AsyncReadExt};

use crate::codec::json;
use crate::config::{DecoderType, StageParam};
use crate::flow::Flow;
use crate::pipeline::{FlowBatch, Source, SourceContext};
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

    fn decode_line(&mut self, line: &[u8], ctx: &SourceContext) {
        self.line += 1;
        let trimmed = line.trim_ascii();
        if trimmed.is_empty() {
            return;
        }
        match json::decode(trimmed) {
            Ok(f) => self.flows.push(f),
            Err(e) => ctx
                .metrics
                .reject("json", format_args!("line {}: {e}", self.line)),
        }
    }

    /// Feeds bytes; returns the full batches ready to send.
    pub fn feed(&mut self, mut data: &[u8], ctx: &SourceContext, ready: &mut Vec<Vec<Flow>>) {
        while let Some(nl) = data.iter().position(|b| *b == b'\n') {
            let (line, rest) = data.split_at(nl);
            if self.pending.is_empty() {
                self.decode_line(line, ctx);
            } else {
                let mut full = std::mem::take(&mut self.pending);
                full.extend_from_slice(line);
                self.decode_line(&full, ctx);
                full.clear();
                self.pending = full;
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
    pub fn finish(&mut self, ctx: &SourceContext) -> Vec<Flow> {
        if !self.pending.is_empty() {
            let last = std::mem::take(&mut self.pending);
            self.decode_line(&last, ctx);
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

/// Reads JSON lines from `r` until EOF or shutdown. Returns `false` when it stopped early.
pub async fn ingest_lines<R: AsyncRead + Unpin>(
    mut r: R,
    ctx: &mut SourceContext,
    batch: usize,
) -> Result<bool> {
    let mut dec = LineDecoder::new(batch);
    let mut buf = vec![0u8; CHUNK];
    let mut ready = Vec::new();
    loop {
        let mut shutdown = ctx.shutdown.clone();
        let n = tokio::select! {
            biased;
            _ = shutdown.wait() => {
                // Lines already read are still delivered.
                send(ctx, dec.finish(ctx)).await;
                return Ok(false);
            }
            n = r.read(&mut buf) => n?,
        };
        if n == 0 {
            let rest = dec.finish(ctx);
            return Ok(send(ctx, rest).await);
        }
        dec.feed(&buf[..n], ctx, &mut ready);
        for b in ready.drain(..) {
            if !send(ctx, b).await {
                return Ok(false);
            }
        }
        // A short read means no more data is waiting: do not hold flows back.
        if n < buf.len() && !send(ctx, dec.take_partial()).await {
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
    async fn run(self: Box<Self>, mut ctx: SourceContext) -> Result<()> {
        ingest_lines(tokio::io::stdin(), &mut ctx, self.batch).await?;
        Ok(())
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
        let mut f = tokio::fs::File::open(&self.path)
            .await
            .map_err(|e| Error::io(&self.path, e))?;
        let mut head = [0u8; 64];
        let n = f
            .read(&mut head)
            .await
            .map_err(|e| Error::io(&self.path, e))?;
        let is_array = head[..n].iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[');
        if is_array {
            let bytes = tokio::fs::read(&self.path)
                .await
                .map_err(|e| Error::io(&self.path, e))?;
            return Ok(self.ingest_array(&bytes, ctx).await);
        }
        let reader = std::io::Cursor::new(head[..n].to_vec()).chain(f);
        ingest_lines(reader, ctx, self.batch).await
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
