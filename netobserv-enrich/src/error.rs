//! Errors of this crate.

use std::path::PathBuf;

/// What can go wrong building an enrichment stage.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A setting that cannot work, at its YAML path.
    #[error("{path}: {message}")]
    Invalid {
        /// The YAML path (`parameters[1].transform.network.rules[0].add_subnet.subnet_mask`).
        path: String,
        /// What is wrong and what to do.
        message: String,
    },
    /// A file the configuration names cannot be read.
    #[error("{path}: cannot read {}: {source}", file.display())]
    Read {
        /// The YAML path of the setting naming the file.
        path: String,
        /// The file.
        file: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A location database that is not in the ip2location BIN format.
    #[error("{path}: {} is not an ip2location BIN database: {reason}", file.display())]
    Location {
        /// The YAML path of `file_path`.
        path: String,
        /// The file.
        file: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
}

impl Error {
    /// An invalid setting at `path`.
    pub fn invalid(path: impl Into<String>, message: impl std::fmt::Display) -> Self {
        Error::Invalid {
            path: path.into(),
            message: message.to_string(),
        }
    }

    /// The YAML path the error is about.
    pub fn path(&self) -> &str {
        match self {
            Error::Invalid { path, .. }
            | Error::Read { path, .. }
            | Error::Location { path, .. } => path,
        }
    }

    /// The error as a configuration error of the pipeline about stage `stage`, keeping the path.
    pub fn into_config_error(self, stage: &str) -> netobserv_flow::Error {
        let path = self.path().to_string();
        let full = self.to_string();
        // The pipeline's error prints the path itself.
        let message = full
            .strip_prefix(&format!("{path}: "))
            .unwrap_or(&full)
            .to_string();
        netobserv_flow::ConfigError::invalid(stage, Some(&path), message).into()
    }
}

/// A result of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
