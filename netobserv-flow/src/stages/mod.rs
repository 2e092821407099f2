//! The stock stages that need no outside system: ingest `stdin`, `file`, `file_loop`,
//! `file_chunks`, `synthetic`; transform `generic`, `filter`, `none`; write `stdout`, `file`,
//! `none`, `fake`.

pub mod filter;
pub mod generic;
pub mod ingest;
pub mod synthetic;
pub mod write;

use crate::Error;
use crate::config::StageParam;
use crate::pipeline::{Component, StageRegistry, Transform};

/// Grows the kernel buffer of `fd` to 1 MiB when it is a pipe (Linux; best effort, silently
/// nothing otherwise). With the default 64 KiB, a writer of 256 KiB batches blocks and wakes its
/// reader several times per batch; this halves the system time of `... | flowlogs-pipeline | ...`.
pub(crate) fn grow_pipe<Fd: std::os::fd::AsFd>(fd: Fd) {
    #[cfg(target_os = "linux")]
    if let Err(e) = rustix::pipe::fcntl_setpipe_size(fd, 1 << 20) {
        // EINVAL: not a pipe; EPERM: above /proc/sys/fs/pipe-max-size.
        tracing::trace!("pipe buffer not grown: {e}");
    }
    #[cfg(not(target_os = "linux"))]
    let _ = fd;
}

pub(crate) fn register_builtins(r: &mut StageRegistry) {
    for t in ["file", "file_loop", "file_chunks"] {
        r.register("ingest", t, move |p, _| {
            ingest::FileSource::from_param(p).map(|s| Component::Source(Box::new(s)))
        });
    }
    r.register("ingest", "stdin", |p, _| {
        let len = p
            .ingest
            .as_ref()
            .and_then(|i| i.stdin.as_ref())
            .and_then(|s| s.batch_max_len);
        Ok(Component::Source(Box::new(ingest::StdinSource::new(
            len.unwrap_or(ingest::DEFAULT_BATCH),
        ))))
    });
    r.register("ingest", "synthetic", |p, ctx| {
        let cfg = p
            .ingest
            .as_ref()
            .and_then(|i| i.synthetic.clone())
            .unwrap_or_default();
        for id in synthetic::FIELDS {
            ctx.fields.produce(id.name());
        }
        Ok(Component::Source(Box::new(
            synthetic::SyntheticSource::new(&cfg),
        )))
    });
    r.register("transform", "generic", |p, ctx| {
        let cfg = sub(
            p,
            "generic",
            p.transform.as_ref().and_then(|t| t.generic.as_ref()),
        )?;
        Ok(Component::Transform(Box::new(generic::Generic::new(
            cfg, ctx.stage, ctx.fields,
        ))))
    });
    r.register("transform", "filter", |p, ctx| {
        let cfg = sub(
            p,
            "filter",
            p.transform.as_ref().and_then(|t| t.filter.as_ref()),
        )?;
        Ok(Component::Transform(Box::new(filter::Filter::new(
            cfg, ctx.stage, ctx.fields,
        )?)))
    });
    r.register("transform", "none", |_, _| {
        Ok(Component::Transform(Box::new(Identity)))
    });
    r.register("write", "stdout", |p, _| {
        let format = p
            .write
            .as_ref()
            .and_then(|w| w.stdout.as_ref())
            .and_then(|s| s.format)
            .unwrap_or_default();
        Ok(Component::Sink(Box::new(write::StdoutSink::new(format))))
    });
    r.register("write", "file", |p, _| {
        let cfg = sub(p, "file", p.write.as_ref().and_then(|w| w.file.as_ref()))?;
        Ok(Component::Sink(Box::new(write::FileSink::open(cfg)?)))
    });
    for t in ["none", "fake"] {
        r.register("write", t, |_, _| {
            Ok(Component::Sink(Box::new(write::NullSink)))
        });
    }
}

fn sub<'a, T>(p: &StageParam, key: &str, v: Option<&'a T>) -> Result<&'a T, Error> {
    v.ok_or_else(|| {
        Error::Config(format!(
            "stage {:?}: type {key:?} needs a `{key}:` section",
            p.name
        ))
    })
}

/// The `none` transform: flows pass unchanged.
pub struct Identity;

impl Transform for Identity {
    fn transform(&mut self, _flow: &mut crate::Flow) -> bool {
        true
    }
}
