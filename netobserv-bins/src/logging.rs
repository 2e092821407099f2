//! Logging shared by the binaries (included with `#[path]` by each: the crate has no library):
//! `RUST_LOG` or a level, on standard error, coloured only for a person at a terminal.

use std::ffi::OsString;
use std::io::IsTerminal;

use tracing::level_filters::LevelFilter;
use tracing_subscriber::EnvFilter;

/// The filter: `RUST_LOG` when it is set and not empty, else `level`.
pub fn log_filter(rust_log: Option<OsString>, level: LevelFilter) -> Result<EnvFilter, String> {
    match rust_log.filter(|v| !v.is_empty()) {
        None => Ok(EnvFilter::default().add_directive(level.into())),
        Some(v) => {
            let v = v
                .into_string()
                .map_err(|v| format!("RUST_LOG: {v:?} is not valid UTF-8"))?;
            EnvFilter::builder()
                .parse(&v)
                .map_err(|e| format!("RUST_LOG: {v:?}: {e}"))
        }
    }
}

/// Colour only for a person at a terminal, and never with `NO_COLOR` set (no-color.org).
pub fn use_colour(stderr_is_terminal: bool, no_color: Option<OsString>) -> bool {
    stderr_is_terminal && no_color.is_none_or(|v| v.is_empty())
}

/// Installs the subscriber: `filter`, standard error, colour as [`use_colour`] says.
pub fn init_logging(filter: EnvFilter) {
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(use_colour(
            std::io::stderr().is_terminal(),
            std::env::var_os("NO_COLOR"),
        ))
        .with_writer(std::io::stderr)
        .init();
}
