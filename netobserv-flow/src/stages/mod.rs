//! The stock stages that need no outside system: ingest `stdin`, `file`, `file_loop`,
//! `file_chunks`, `synthetic`; transform `generic`, `filter`, `none`; write `stdout`, `file`,
//! `none`, `fake`.

pub mod filter;
pub mod generic;
pub mod ingest;
pub mod synthetic;
pub mod write;

use crate::config::{
    IngestSynthetic, StageKind, TransformFilter, TransformGeneric, WriteFile, WriteStdout,
};
use crate::pipeline::{BuildContext, Component, StageRegistry, Transform};

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
        r.register_reading(
            StageKind::Ingest,
            t,
            &["file"],
            |cx: &mut BuildContext<'_>| ingest::FileSource::build(cx).map(Component::source),
        );
    }
    r.register(StageKind::Ingest, "stdin", |cx: &mut BuildContext<'_>| {
        ingest::StdinSource::build(cx).map(Component::source)
    });
    r.register(
        StageKind::Ingest,
        "synthetic",
        |cx: &mut BuildContext<'_>| {
            let cfg: IngestSynthetic = cx.settings_or_default()?;
            for id in synthetic::FIELDS {
                cx.fields().produce(id.name());
            }
            Ok(Component::source(synthetic::SyntheticSource::new(&cfg)))
        },
    );
    r.register(
        StageKind::Transform,
        "generic",
        |cx: &mut BuildContext<'_>| {
            let cfg: TransformGeneric = cx.required_settings_at("generic")?;
            let (stage, metrics) = (cx.stage().to_string(), cx.metrics().clone());
            Ok(Component::transform(generic::Generic::new(
                &cfg,
                &stage,
                cx.fields(),
                metrics,
            )))
        },
    );
    r.register(
        StageKind::Transform,
        "filter",
        |cx: &mut BuildContext<'_>| {
            let cfg: TransformFilter = cx.required_settings_at("filter")?;
            let stage = cx.stage().to_string();
            let path = format!("{}.filter", cx.path());
            Ok(Component::transform(filter::Filter::new(
                &cfg,
                &stage,
                &path,
                cx.fields(),
            )?))
        },
    );
    r.register(StageKind::Transform, "none", |_: &mut BuildContext<'_>| {
        Ok(Component::transform(Identity))
    });
    r.register(StageKind::Write, "stdout", |cx: &mut BuildContext<'_>| {
        let cfg: WriteStdout = cx.settings_or_default()?;
        Ok(write::StdoutSink::component(cfg.format.unwrap_or_default()))
    });
    r.register(StageKind::Write, "file", |cx: &mut BuildContext<'_>| {
        let cfg: WriteFile = cx.required_settings_at("file")?;
        Ok(write::FileSink::open(&cfg)?.component())
    });
    for t in ["none", "fake"] {
        r.register(StageKind::Write, t, |_: &mut BuildContext<'_>| {
            Ok(Component::sink(write::NullSink))
        });
    }
}

/// The `none` transform: flows pass unchanged.
#[derive(Clone, Copy, Debug)]
pub struct Identity;

impl Transform for Identity {
    fn transform(&mut self, _flow: &mut crate::Flow) -> bool {
        true
    }
}
