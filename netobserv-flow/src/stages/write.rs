//! Writers: `stdout` (json, printf, fields), `file` (JSON lines), `none` / `fake` (discard).

use std::fs::OpenOptions;
use std::io::Write;
use std::path::PathBuf;

use std::sync::Arc;

use crate::codec::json;
use crate::config::{StdoutFormat, WriteFile};
use crate::flow::Flow;
use crate::pipeline::{AckStatus, Component, Encode, Input, Shutdown, Sink, SinkContext};
use crate::{Error, Result};

/// Appends one flow in a stdout format.
pub fn format_flow(format: StdoutFormat, flow: &Flow, out: &mut Vec<u8>) {
    match format {
        StdoutFormat::Json => {
            json::encode(flow, out);
            out.push(b'\n');
        }
        StdoutFormat::Printf => {
            // Go's `fmt.Print` of a map: `map[k1:v1 k2:v2]`, keys sorted.
            out.extend_from_slice(b"map[");
            for (i, (k, v)) in flow.fields().iter().enumerate() {
                if i > 0 {
                    out.push(b' ');
                }
                out.extend_from_slice(k.as_bytes());
                out.push(b':');
                out.extend_from_slice(v.to_string().as_bytes());
            }
            out.extend_from_slice(b"]\n");
        }
        StdoutFormat::Fields => {
            // As upstream prints it: a time-stamped header, then `name = value` lines with the
            // names padded to one column (Go's tabwriter), keys sorted, a blank line after.
            let now = chrono::Local::now().format("%b %e %H:%M:%S%.3f");
            let fields = flow.fields();
            let width = fields.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
            let _ = write!(out, "\n\nFlow record at {now}:\n");
            for (k, v) in &fields {
                let _ = writeln!(out, "{k:<width$} = {v}");
            }
            out.push(b'\n');
        }
    }
}

/// Encodes flows in a stdout format, on the pipeline's workers.
pub struct FormatEncoder(pub StdoutFormat);

impl Encode for FormatEncoder {
    fn encode(&self, flows: &[Flow], out: &mut Vec<u8>) {
        for f in flows {
            format_flow(self.0, f, out);
        }
    }
}

/// Writes the encoded batches to `w` on a blocking thread; each batch is delivered once the OS
/// took its bytes, errored (and the stage fails) when the write fails.
async fn blocking_writer(
    mut input: Input,
    shutdown: Shutdown,
    mut w: Box<dyn Write + Send>,
    what: PathBuf,
) -> Result<()> {
    let stage = input.metrics().stage().to_string();
    let thread_stage = stage.clone();
    let fail = move |e: std::io::Error| Error::stage(thread_stage.clone(), Error::io(&what, e));
    tokio::task::spawn_blocking(move || {
        while let Some(batch) = input.blocking_recv_encoded() {
            if shutdown.is_immediate() {
                // The run is over and reported what is left as lost: write no more of it.
                return Ok(());
            }
            let res = w
                .write_all(&batch.data)
                .and_then(|_| if input.is_empty() { w.flush() } else { Ok(()) });
            if let Err(e) = res {
                batch.ack.error();
                return Err(fail(e));
            }
            input.metrics().written(batch.flows);
            batch.ack.deliver();
        }
        w.flush().map_err(fail)
    })
    .await
    .map_err(|e| Error::stage(stage, format!("writer thread failed: {e}")))?
}

/// `write: {type: stdout}`.
pub struct StdoutSink;

impl StdoutSink {
    /// A stdout writer; the workers encode in `format`.
    pub fn component(format: StdoutFormat) -> Component {
        Component::encoded_sink(StdoutSink, Arc::new(FormatEncoder(format)))
    }
}

#[async_trait::async_trait]
impl Sink for StdoutSink {
    async fn run(self: Box<Self>, cx: SinkContext) -> Result<()> {
        super::grow_pipe(std::io::stdout());
        blocking_writer(
            cx.input,
            cx.shutdown,
            Box::new(std::io::stdout()),
            PathBuf::from("<stdout>"),
        )
        .await
    }
}

/// `write: {type: file}`: NetObserv JSON lines.
pub struct FileSink {
    path: PathBuf,
    file: std::fs::File,
}

impl FileSink {
    /// Opens (creates, truncates unless `append`) the file.
    pub fn open(cfg: &WriteFile) -> Result<FileSink> {
        let path = PathBuf::from(&cfg.filename);
        let append = cfg.append.unwrap_or(false);
        let file = OpenOptions::new()
            .create(true)
            .write(true)
            .append(append)
            .truncate(!append)
            .open(&path)
            .map_err(|e| Error::io(&path, e))?;
        Ok(FileSink { path, file })
    }

    /// The component: the workers encode JSON lines.
    pub fn component(self) -> Component {
        Component::encoded_sink(self, Arc::new(FormatEncoder(StdoutFormat::Json)))
    }
}

#[async_trait::async_trait]
impl Sink for FileSink {
    async fn run(self: Box<Self>, cx: SinkContext) -> Result<()> {
        blocking_writer(cx.input, cx.shutdown, Box::new(self.file), self.path).await
    }
}

/// `write: {type: none}` and `{type: fake}`: counts and discards (delivered).
pub struct NullSink;

#[async_trait::async_trait]
impl Sink for NullSink {
    async fn run(self: Box<Self>, mut cx: SinkContext) -> Result<()> {
        while let Some(b) = cx.input.recv().await {
            cx.metrics.written(b.len());
            b.resolve(AckStatus::Delivered);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Flow {
        let mut f = json::decode(
            br#"{"Bytes":1500,"Interfaces":["eth0","br-ex"],"Proto":6,"SrcAddr":"10.0.0.1","SrcK8S_Namespace":"default"}"#,
        )
        .unwrap();
        f.extra_insert("custom", crate::value::Value::Float(0.5));
        f
    }

    #[test]
    fn printf_is_go_map_printing() {
        let mut out = Vec::new();
        format_flow(StdoutFormat::Printf, &sample(), &mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "map[Bytes:1500 Interfaces:[eth0 br-ex] Proto:6 SrcAddr:10.0.0.1 SrcK8S_Namespace:default custom:0.5]\n"
        );
    }

    #[test]
    fn fields_are_aligned_like_go_tabwriter() {
        let mut out = Vec::new();
        format_flow(StdoutFormat::Fields, &sample(), &mut out);
        let text = String::from_utf8(out).unwrap();
        let (header, body) = text
            .strip_prefix("\n\nFlow record at ")
            .and_then(|t| t.split_once(":\n"))
            .unwrap_or_else(|| panic!("no header in {text:?}"));
        // `Jan _2 15:04:05.000`
        assert_eq!(header.len(), "Nov 23 19:55:01.123".len(), "{header:?}");
        assert_eq!(
            body,
            "Bytes            = 1500\n\
             Interfaces       = [eth0 br-ex]\n\
             Proto            = 6\n\
             SrcAddr          = 10.0.0.1\n\
             SrcK8S_Namespace = default\n\
             custom           = 0.5\n\n"
        );
    }
}
