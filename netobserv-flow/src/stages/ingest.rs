//! Line-oriented JSON ingest: `stdin`, `file`, `file_loop`, `file_chunks`.
//!
//! Input is NetObserv JSON, one flow per line (blank lines are skipped); a file may instead hold
//! one JSON array of flows. The source only reads: it cuts the input into chunks of whole lines
//! that the pipeline's workers decode. A line that does not decode is counted in
//! `ingest_errors{stage,kind="json"}` and logged (at most once per second) with its byte offset;
//! the other lines go on.

use std::io::Read;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::value::RawValue;
use tokio::sync::mpsc;

use crate::codec::{DecodeError, json};
use crate::config::{DecoderType, IngestFile, IngestStdin};
use crate::flow::Flow;
use crate::pipeline::{
    BuildContext, Decode, FlowBatch, RawBatch, Recycle, Shutdown, Source, SourceContext,
    StageMetrics,
};
use crate::{Error, Result};

/// Default flows per batch of a JSON array file.
pub const DEFAULT_BATCH: usize = 1000;

/// Bytes read at a time; a chunk holds the whole lines of one or more reads.
const CHUNK: usize = 256 * 1024;

/// Decodes NetObserv JSON lines.
pub struct JsonLines {
    metrics: StageMetrics,
    what: Arc<str>,
}

impl JsonLines {
    /// A decoder counting rejected lines in `metrics`, naming the input `what` in its logs.
    pub fn new(metrics: StageMetrics, what: &str) -> Self {
        JsonLines {
            metrics,
            what: Arc::from(what),
        }
    }
}

impl Decode for JsonLines {
    fn decode(&self, data: &[u8], offset: u64, out: &mut Vec<Flow>) -> usize {
        decode_lines(data, offset, out, |e| {
            self.metrics.reject_decode(&self.what, &e)
        })
    }
}

/// Decodes the JSON lines of `data`, which starts at byte `offset` of the input, into `out`;
/// hands each line that does not decode to `rejected` (its offset counted in the whole input)
/// and says how many there were.
fn decode_lines(
    data: &[u8],
    offset: u64,
    out: &mut Vec<Flow>,
    mut rejected: impl FnMut(DecodeError),
) -> usize {
    let mut start = 0;
    let mut count = 0;
    out.reserve(data.len() / 320 + 1);
    while start < data.len() {
        let end = memchr::memchr(b'\n', &data[start..]).map_or(data.len(), |i| start + i);
        let line = data[start..end].trim_ascii();
        if !line.is_empty() {
            out.push(Flow::default());
            if let Some(slot) = out.last_mut()
                && let Err(e) = json::decode_into(line, slot)
            {
                out.pop();
                count += 1;
                let line_start = line.as_ptr() as usize - data.as_ptr() as usize;
                rejected(e.shifted(offset + line_start as u64));
            }
        }
        start = end + 1;
    }
    count
}

/// Buffers the workers hand back once they decoded them: the reader reuses them instead of
/// allocating and zeroing a new chunk for every read.
#[derive(Default)]
struct BufferPool(Mutex<Vec<Vec<u8>>>);

impl BufferPool {
    const KEEP: usize = 8;

    /// A buffer whose first `tail.len()` bytes are `tail`; its length (all initialized) is
    /// whatever it had.
    fn take_with(&self, tail: &[u8]) -> Vec<u8> {
        let mut v = self
            .0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .pop()
            .unwrap_or_default();
        if v.len() < tail.len() {
            v.resize(tail.len(), 0);
        }
        v[..tail.len()].copy_from_slice(tail);
        v
    }

    fn give(&self, v: Vec<u8>) {
        let mut pool = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if pool.len() < Self::KEEP {
            pool.push(v);
        }
    }
}

/// A chunk read: a buffer, how many of its bytes are input, and their offset in the input.
type Chunk = std::io::Result<(Vec<u8>, usize, u64)>;

/// Reads `r` on the calling (blocking) thread, sending chunks of whole lines (and, at EOF, the
/// last line without newline). A chunk is sent when it is full, when a read came back short (no
/// more input is waiting: flows are not held back), and after at most `max_lines` lines. Stops at
/// EOF, when the receiver is gone, or after the read during which shutdown was requested (then
/// the whole lines read go; a partial last line, cut by the stop, is logged with its offset).
fn read_chunks<R: Read>(
    mut r: R,
    tx: &mpsc::Sender<Chunk>,
    shutdown: &Shutdown,
    max_lines: Option<usize>,
    pool: &BufferPool,
) -> bool {
    // `buf[..filled]` is input not sent yet; `buf` beyond it is initialized scratch.
    let mut buf = pool.take_with(&[]);
    let mut filled = 0;
    let mut offset = 0u64;
    // Sends `buf[..end]`, keeping `buf[end..filled]` for the next chunk.
    let mut send = |buf: &mut Vec<u8>, end: usize, filled: &mut usize| {
        let next = pool.take_with(&buf[end..*filled]);
        let chunk = std::mem::replace(buf, next);
        *filled -= end;
        let sent = tx.blocking_send(Ok((chunk, end, offset))).is_ok();
        if !sent && shutdown.is_triggered() {
            tracing::warn!(
                bytes = end,
                offset,
                "input read during shutdown was not processed (the pipeline stopped taking it)"
            );
        }
        offset += end as u64;
        sent
    };
    loop {
        if buf.len() < filled + CHUNK {
            buf.resize(filled + CHUNK, 0);
        }
        let n = match r.read(&mut buf[filled..filled + CHUNK]) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                let _ = tx.blocking_send(Err(e));
                return false;
            }
        };
        if n == 0 {
            return filled == 0 || send(&mut buf, filled, &mut filled);
        }
        filled += n;
        let stopping = shutdown.is_triggered();
        if let Some(max) = max_lines {
            while let Some(cut) = nth_newline(&buf[..filled], max.max(1)) {
                if !send(&mut buf, cut + 1, &mut filled) {
                    return false;
                }
            }
        }
        let full = filled >= CHUNK;
        let short = n < CHUNK;
        if (full || short || stopping)
            && let Some(nl) = memchr::memrchr(b'\n', &buf[..filled])
            && !send(&mut buf, nl + 1, &mut filled)
        {
            return false;
        }
        if stopping {
            if filled > 0 {
                // Cut by the stop, not malformed: said, not counted as a rejection.
                tracing::info!(
                    offset,
                    bytes = filled,
                    "stopped reading on shutdown; the partial line read last is not processed"
                );
            }
            return true;
        }
    }
}

fn nth_newline(data: &[u8], n: usize) -> Option<usize> {
    memchr::memchr_iter(b'\n', data).nth(n - 1)
}

/// Reads `reader` on its own thread and sends what it reads to the workers, until EOF or
/// shutdown. No lock is held across a send: the thread hands chunks over a channel, and on
/// shutdown this side stops taking them (after a short grace for what was already read), which
/// ends the thread even if it is parked in a read that never returns.
async fn forward_chunks<R: Read + Send + 'static>(
    reader: R,
    what: &str,
    cx: &SourceContext,
    decoder: Arc<dyn Decode>,
    max_lines: Option<usize>,
) -> Result<bool> {
    let (tx, mut rx) = mpsc::channel(2);
    let thread_shutdown = cx.shutdown.clone();
    let pool = Arc::new(BufferPool::default());
    let thread_pool = pool.clone();
    std::thread::Builder::new()
        .name(format!("read {what}"))
        .spawn(move || read_chunks(reader, &tx, &thread_shutdown, max_lines, &thread_pool))
        .map_err(|e| Error::io(what, e))?;
    let mut shutdown = cx.shutdown.clone();
    let recycle: Recycle = Arc::new(move |buf| pool.give(buf));
    let send = |data, len, offset| {
        cx.out.send_raw(
            RawBatch::from_buffer(data, len, offset, decoder.clone()).with_recycle(recycle.clone()),
        )
    };
    loop {
        tokio::select! {
            biased;
            _ = shutdown.wait() => break,
            msg = rx.recv() => match msg {
                None => return Ok(true),
                Some(Ok((data, len, offset))) => {
                    if send(data, len, offset).await.is_err() {
                        return Ok(false);
                    }
                }
                Some(Err(e)) => return Err(Error::io(what, e)),
            },
        }
    }
    // Shutdown: forward what the reader already read, then let it go.
    while let Ok(Some(msg)) = tokio::time::timeout(Duration::from_millis(50), rx.recv()).await {
        match msg {
            Ok((data, len, offset)) => {
                if send(data, len, offset).await.is_err() {
                    break;
                }
            }
            Err(e) => return Err(Error::io(what, e)),
        }
    }
    Ok(false)
}

/// `ingest: {type: stdin}`.
pub struct StdinSource {
    max_lines: Option<usize>,
    decoder: Arc<dyn Decode>,
}

impl StdinSource {
    /// Builds from the stage's settings (`stdin: {batchMaxLen}`, netobserv-rs; upstream's stdin
    /// takes none).
    pub fn build(cx: &mut BuildContext<'_>) -> Result<StdinSource> {
        let cfg: IngestStdin = cx.settings_or_default()?;
        Ok(StdinSource {
            max_lines: cfg.batch_max_len,
            decoder: Arc::new(JsonLines::new(cx.metrics().clone(), "<stdin>")),
        })
    }
}

#[async_trait::async_trait]
impl Source for StdinSource {
    async fn run(self: Box<Self>, cx: SourceContext) -> Result<()> {
        super::grow_pipe(std::io::stdin());
        forward_chunks(
            std::io::stdin(),
            "<stdin>",
            &cx,
            self.decoder,
            self.max_lines,
        )
        .await?;
        Ok(())
    }
}

/// `ingest: {type: file | file_loop | file_chunks}`.
pub struct FileSource {
    path: PathBuf,
    looping: bool,
    max_lines: Option<usize>,
    batch: usize,
    decoder: Arc<dyn Decode>,
}

impl FileSource {
    /// Builds from the stage's `file:` settings.
    pub fn build(cx: &mut BuildContext<'_>) -> Result<FileSource> {
        let file: IngestFile = cx.required_settings_at("file")?;
        if file.chunks == Some(0) {
            return Err(cx.config_error("`chunks` must be at least 1 (lines per batch)"));
        }
        if file
            .decoder
            .as_ref()
            .is_some_and(|d| d.r#type == DecoderType::Protobuf)
        {
            return Err(cx.config_error(
                "files are read as JSON; the protobuf decoder applies to kafka and grpc",
            ));
        }
        let path = PathBuf::from(&file.filename);
        if !path.is_file() {
            return Err(cx.config_error(format_args!(
                "file {:?} does not exist or is not a file",
                file.filename
            )));
        }
        let chunks = cx.type_name() == "file_chunks";
        Ok(FileSource {
            decoder: Arc::new(JsonLines::new(cx.metrics().clone(), &file.filename)),
            looping: cx.type_name() == "file_loop" || file.r#loop == Some(true),
            max_lines: chunks.then(|| file.chunks.unwrap_or(100)),
            batch: if chunks {
                file.chunks.unwrap_or(100)
            } else {
                DEFAULT_BATCH
            },
            path,
        })
    }

    async fn once(&self, cx: &SourceContext) -> Result<bool> {
        let mut head = [0u8; 64];
        let mut f = std::fs::File::open(&self.path).map_err(|e| Error::io(&self.path, e))?;
        let n = f.read(&mut head).map_err(|e| Error::io(&self.path, e))?;
        let is_array = head[..n].iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[');
        if is_array {
            let bytes = tokio::fs::read(&self.path)
                .await
                .map_err(|e| Error::io(&self.path, e))?;
            return Ok(self.ingest_array(&bytes, cx).await);
        }
        let reader = std::io::Cursor::new(head[..n].to_vec()).chain(f);
        let what = self.path.display().to_string();
        forward_chunks(reader, &what, cx, self.decoder.clone(), self.max_lines).await
    }

    async fn ingest_array(&self, bytes: &[u8], cx: &SourceContext) -> bool {
        let what = self.path.display().to_string();
        let items: Vec<&RawValue> = match serde_json::from_slice(bytes) {
            Ok(v) => v,
            Err(e) => {
                let e = DecodeError::json(e, bytes).prefixed("not a JSON array of flows");
                cx.metrics.reject_decode(&what, &e);
                return true;
            }
        };
        for (c, chunk) in items.chunks(self.batch.max(1)).enumerate() {
            if cx.shutdown.is_triggered() {
                return false;
            }
            let mut flows = Vec::with_capacity(chunk.len());
            for (j, raw) in chunk.iter().enumerate() {
                let i = c * self.batch + j;
                match json::decode(raw.get().as_bytes()) {
                    Ok(f) => flows.push(f),
                    Err(e) => {
                        // The element is a slice of `bytes`: its offset in the file.
                        let at =
                            (raw.get().as_ptr() as usize).saturating_sub(bytes.as_ptr() as usize);
                        let e = e.shifted(at as u64).at_record(i as u64);
                        cx.metrics.reject_decode(&what, &e);
                    }
                }
            }
            if !flows.is_empty() && cx.out.send(FlowBatch::new(flows)).await.is_err() {
                return false;
            }
        }
        true
    }
}

#[async_trait::async_trait]
impl Source for FileSource {
    async fn run(self: Box<Self>, cx: SourceContext) -> Result<()> {
        loop {
            let completed = self.once(&cx).await?;
            if !completed || !self.looping || cx.shutdown.is_triggered() {
                return Ok(());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunks(input: &[u8], max_lines: Option<usize>) -> Vec<(Vec<u8>, u64)> {
        let (tx, mut rx) = mpsc::channel(1024);
        let (_t, shutdown) = Shutdown::new();
        assert!(read_chunks(
            input,
            &tx,
            &shutdown,
            max_lines,
            &BufferPool::default()
        ));
        drop(tx);
        let mut out = Vec::new();
        while let Ok(c) = rx.try_recv() {
            let (mut data, len, offset) = c.unwrap();
            data.truncate(len);
            out.push((data, offset));
        }
        out
    }

    #[test]
    fn chunks_hold_whole_lines_at_their_offsets() {
        let mut input = Vec::new();
        for i in 0..20_000 {
            input.extend_from_slice(format!("{{\"Bytes\":{i}}}\n").as_bytes());
        }
        input.extend_from_slice(b"{\"Bytes\":1}");
        let got = chunks(&input, None);
        assert!(got.len() > 1, "{} chunks", got.len());
        let mut joined = Vec::new();
        for (data, offset) in &got {
            assert_eq!(*offset as usize, joined.len());
            joined.extend_from_slice(data);
        }
        assert_eq!(joined, input);
        for (data, _) in &got[..got.len() - 1] {
            assert_eq!(data.last(), Some(&b'\n'));
        }
        let by_lines = chunks(&input, Some(1000));
        assert!(
            by_lines
                .iter()
                .all(|(d, _)| memchr::memchr_iter(b'\n', d).count() <= 1000)
        );
        assert_eq!(
            by_lines.iter().map(|(d, _)| d.len()).sum::<usize>(),
            input.len()
        );
    }

    #[test]
    fn bad_lines_are_counted_with_their_offset() {
        let m = crate::pipeline::Metrics::default();
        let d = JsonLines::new(m.stage("in"), "<stdin>");
        let mut out = Vec::new();
        let rejected = d.decode(b"{\"Bytes\":1}\n\n  not json\n{\"Bytes\":2}", 100, &mut out);
        assert_eq!((out.len(), rejected), (2, 1));
        assert_eq!(m.stage("in").errors("json"), 1);
    }

    #[test]
    fn a_bad_line_is_a_json_decode_error_at_its_offset_in_the_input() {
        use crate::codec::{DecodeErrorKind, Format};
        let mut out = Vec::new();
        let mut errors = Vec::new();
        // The chunk starts at byte 100 of the input; the bad value `x` is at byte 12 + 9 of it.
        let n = decode_lines(
            b"{\"Bytes\":1}\n  {\"Bytes\":x}\n{\"Bytes\":2}",
            100,
            &mut out,
            |e| errors.push(e),
        );
        assert_eq!((out.len(), n, errors.len()), (2, 1, 1));
        let e = &errors[0];
        assert_eq!(
            (e.format(), e.kind()),
            (Format::Json, DecodeErrorKind::Value),
            "{e}"
        );
        assert_eq!(e.offset(), Some(100 + 14 + 9), "{e}");
        assert!(
            std::error::Error::source(e)
                .and_then(|s| s.downcast_ref::<serde_json::Error>())
                .is_some()
        );
    }
}
