//! The crate's error type.

use std::fmt;
use std::path::PathBuf;

use crate::config::StageKind;

/// A boxed error from a stage of another crate (a client library's error, say).
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Errors of the flow crate: configuration, decoding, pipeline construction and run, I/O.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The configuration document is invalid; the message names the YAML path or the stage.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// Stages whose type this build cannot run, all of them at once.
    #[error("{}", UnsupportedList(.0))]
    Unsupported(Vec<UnsupportedStage>),
    /// Sink health checks that failed at start-up.
    #[error("{}", HealthcheckList(.0))]
    Healthcheck(Vec<HealthcheckFailure>),
    /// A stage failed; `source` says why.
    #[error("stage {stage:?}: {source}")]
    Stage {
        /// The stage name.
        stage: String,
        /// What failed.
        #[source]
        source: BoxError,
    },
    /// A pipeline run that did not end cleanly: a stage failed, or flows were not delivered.
    #[cfg(feature = "runtime")]
    #[error("{0}")]
    Run(Box<crate::pipeline::RunReport>),
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

/// A stage whose type this build cannot run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnsupportedStage {
    /// The stage name.
    pub stage: String,
    /// Its kind.
    pub kind: StageKind,
    /// Its type.
    pub type_name: String,
    /// `None` for a type upstream flowlogs-pipeline has and this build does not include; for a
    /// type nobody knows, the types of this kind that are known.
    pub known: Option<Vec<String>>,
}

struct UnsupportedList<'a>(&'a [UnsupportedStage]);

impl fmt::Display for UnsupportedList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "this build cannot run {} of the configured stages:",
            self.0.len()
        )?;
        for u in self.0 {
            write!(
                f,
                "\n  stage {:?}: {} type {:?} ",
                u.stage, u.kind, u.type_name
            )?;
            match &u.known {
                None => f.write_str(
                    "is an upstream flowlogs-pipeline type that this build does not include",
                )?,
                Some(k) => write!(f, "is unknown (expected one of: {})", k.join(", "))?,
            }
        }
        f.write_str(
            "\nremove these stages or use a build that includes them; no flow is dropped silently",
        )
    }
}

/// A sink health check that failed at start-up.
#[derive(Debug)]
pub struct HealthcheckFailure {
    /// The stage name.
    pub stage: String,
    /// What the check talks to (a URL, `host:port`, a path).
    pub endpoint: String,
    /// Why it failed.
    pub error: BoxError,
}

struct HealthcheckList<'a>(&'a [HealthcheckFailure]);

impl fmt::Display for HealthcheckList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("health check failed:")?;
        for h in self.0 {
            write!(f, "\n  stage {:?} ({}): {}", h.stage, h.endpoint, h.error)?;
        }
        f.write_str(
            "\nstart the service, fix its address, or set `runtime: {healthchecks: warn}` \
             (--healthchecks warn) to start anyway",
        )
    }
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

    /// A stage failure with its cause.
    pub fn stage(stage: impl Into<String>, source: impl Into<BoxError>) -> Self {
        Error::Stage {
            stage: stage.into(),
            source: source.into(),
        }
    }

    /// Whether the error is about the configuration (exit code 2 in the binaries) rather than a
    /// failure while running.
    pub fn is_config(&self) -> bool {
        matches!(
            self,
            Error::Config(_) | Error::Unsupported(_) | Error::Query(_)
        )
    }
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
