//! The crate's error type.

use std::path::PathBuf;

/// Errors of the flow crate: configuration, decoding, pipeline construction and I/O.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The configuration document is invalid; the message names the YAML path or the stage.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// A stage type this build cannot run.
    #[error("stage {stage:?}: {kind} type {type_name:?} is not supported by this build ({hint})")]
    Unsupported {
        /// The stage name.
        stage: String,
        /// ingest, transform, extract, encode or write.
        kind: &'static str,
        /// The stage type.
        type_name: String,
        /// What to do instead.
        hint: &'static str,
    },
    /// Bytes that do not decode as the expected format.
    #[error("decode error: {0}")]
    Decode(String),
    /// A query expression that does not parse.
    #[error("{0}")]
    Query(#[from] crate::query::ParseError),
    /// An I/O error, with the file it concerns when there is one.
    #[error("{}{source}", path.as_ref().map(|p| format!("{}: ", p.display())).unwrap_or_default())]
    Io {
        /// The file concerned.
        path: Option<PathBuf>,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// An Arrow conversion error.
    #[cfg(feature = "arrow")]
    #[error("arrow: {0}")]
    Arrow(#[from] arrow_schema::ArrowError),
}

impl From<std::io::Error> for Error {
    fn from(source: std::io::Error) -> Self {
        Error::Io { path: None, source }
    }
}

impl Error {
    /// An I/O error on a file.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: Some(path.into()),
            source,
        }
    }
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
