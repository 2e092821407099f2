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
    /// The configuration document is invalid: [`ConfigError`] says where (the YAML path, the
    /// stage) and why.
    #[error("invalid configuration: {0}")]
    Config(#[from] ConfigError),
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
    /// Input that does not decode as the expected format: [`DecodeError`] says which format,
    /// where and why.
    #[error("{0}")]
    Decode(#[from] DecodeError),
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

impl From<ConfigErrorKind> for Error {
    fn from(kind: ConfigErrorKind) -> Self {
        Error::Config(kind.into())
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

/// An invalid configuration: where (the YAML path, such as
/// `parameters[2].transform.filter.rules[0]`, and the stage), what is wrong
/// ([`kind`](Self::kind)), and the underlying error when there is one
/// ([`std::error::Error::source`]: the YAML parser's, the query parser's...).
///
/// One pointer wide, so that results of this crate stay small.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct ConfigError(Box<ConfigErrorKind>);

impl ConfigError {
    /// What is wrong, with its context.
    pub fn kind(&self) -> &ConfigErrorKind {
        &self.0
    }

    /// The YAML path the error concerns, when it has one (`parameters[1].transform.filter
    /// .rules[0]`, `pipeline`, `metricsSettings.prefix`).
    pub fn path(&self) -> Option<&str> {
        self.0.path()
    }

    /// The stage the error concerns, when it concerns one.
    pub fn stage(&self) -> Option<&str> {
        self.0.stage()
    }

    /// A value that stage `stage` refuses, at `path` when known.
    pub fn invalid(stage: &str, path: Option<&str>, message: impl fmt::Display) -> Self {
        ConfigErrorKind::Invalid {
            stage: stage.to_string(),
            path: path.map(str::to_string),
            message: message.to_string(),
        }
        .into()
    }
}

impl From<ConfigErrorKind> for ConfigError {
    fn from(kind: ConfigErrorKind) -> Self {
        ConfigError(Box::new(kind))
    }
}

/// What is wrong with a configuration, with where: each variant names the YAML path and the
/// stage as far as they apply, and holds the underlying error when there is one.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigErrorKind {
    /// The document is not YAML, or does not match the schema (an unknown key, a wrong type, a
    /// missing field).
    #[error("{}{source}", Prefix(path.as_deref()))]
    Yaml {
        /// The YAML path of the offending key (`runtime.drainTimeout`); `None` at the top level.
        path: Option<String>,
        /// The 1-based line in the document, when the parser knows it.
        line: Option<usize>,
        /// The 1-based column in the document, when the parser knows it.
        column: Option<usize>,
        /// The parser's error.
        #[source]
        source: serde_yaml_ng::Error,
    },
    /// A stage's settings that do not match the settings of its type.
    #[error("{path}: {source}")]
    Settings {
        /// The YAML path of the offending key (`parameters[1].write.loki.url`).
        path: String,
        /// The deserializer's error.
        #[source]
        source: serde_json::Error,
    },
    /// Settings or a document that cannot be written out (a value serde cannot represent).
    #[error("{}{source}", Prefix(what.as_deref()))]
    Serialize {
        /// What was being written (`settings \`loki\``); `None` for the whole document.
        what: Option<String>,
        /// The serializer's error.
        #[source]
        source: BoxError,
    },
    /// Keys of a stage's section that its type does not read.
    #[error(
        "{path}: unknown key{} {} for {kind} type {type_name:?} ({})",
        if keys.len() > 1 { "s" } else { "" },
        Ticked(keys),
        Reads(reads)
    )]
    UnknownKeys {
        /// The stage name.
        stage: String,
        /// The YAML path of the section (`parameters[0].ingest`).
        path: String,
        /// The stage kind.
        kind: StageKind,
        /// The stage type.
        type_name: String,
        /// The keys not read.
        keys: Vec<String>,
        /// The keys the type reads besides `type`.
        reads: Vec<String>,
    },
    /// A section that the stage type or rule needs is absent.
    #[error("{}: {owner} needs a `{key}:` section", At(stage, path.as_deref()))]
    MissingSection {
        /// The stage name.
        stage: String,
        /// The YAML path of what needs the section (`parameters[0].ingest`).
        path: Option<String>,
        /// What needs it (`ingest type "file"`, `filter rule "add_field"`).
        owner: String,
        /// The missing key.
        key: String,
    },
    /// A `parameters` entry with no stage kind, or with several.
    #[error("{}: {}", At(stage, None), KindCount(found))]
    StageKind {
        /// The stage name.
        stage: String,
        /// The kinds the entry has (none, or more than one).
        found: Vec<StageKind>,
    },
    /// A stage of the pipeline with no `parameters` entry.
    #[error("stage {stage:?} is in the pipeline but has no parameters")]
    NoParameters {
        /// The stage name.
        stage: String,
    },
    /// A stage name given twice in `pipeline` or in `parameters`.
    #[error(
        "{path}: stage {stage:?} is {} twice",
        if path == "parameters" { "defined" } else { "listed" }
    )]
    DuplicateStage {
        /// The stage name.
        stage: String,
        /// `pipeline` or `parameters`.
        path: String,
    },
    /// `pipeline` lists no stage.
    #[error("pipeline is empty: list the stages under `pipeline`")]
    EmptyPipeline,
    /// A stage that follows a stage the pipeline does not have.
    #[error(
        "pipeline: stage {stage:?} follows {follows:?}, which is not a stage (stages: {})",
        stages.join(", ")
    )]
    UnknownFollows {
        /// The stage name.
        stage: String,
        /// The stage it follows.
        follows: String,
        /// The stages of the pipeline.
        stages: Vec<String>,
    },
    /// A stage that follows the same stage twice.
    #[error("pipeline: stage {stage:?} follows {follows:?} twice")]
    FollowsTwice {
        /// The stage name.
        stage: String,
        /// The stage it follows twice.
        follows: String,
    },
    /// Stages that follow each other in a circle.
    #[error("pipeline: cycle {}", Cycle(cycle))]
    Cycle {
        /// The stages of one cycle, the first repeated at the end (`a`, `b`, `a`).
        cycle: Vec<String>,
    },
    /// A stage that does not fit where the graph puts it (a stage that starts a pipeline
    /// without being an ingest stage, an ingest stage that follows one...).
    #[error("stage {stage:?}: {message}")]
    Graph {
        /// The stage name.
        stage: String,
        /// What is wrong and what to do.
        message: String,
    },
    /// A terminal stage (a sink: no output) that other stages follow.
    #[error("stage {stage:?} is a terminal stage (no output), but {followers} stage(s) follow it")]
    SinkFollowed {
        /// The stage name.
        stage: String,
        /// How many stages follow it.
        followers: usize,
    },
    /// `metricsSettings.prefix` that Prometheus does not allow at the start of a metric name.
    #[error(
        "metricsSettings.prefix {prefix:?}: a metric name may only hold letters, digits (not first), `_` and `:`"
    )]
    MetricsPrefix {
        /// The prefix.
        prefix: String,
    },
    /// A query (`keepEntryQuery`) that does not parse.
    #[error("{}: {source}", At(stage, path.as_deref()))]
    Query {
        /// The stage name.
        stage: String,
        /// The YAML path of the rule.
        path: Option<String>,
        /// The parser's error, with the column.
        #[source]
        source: crate::query::ParseError,
    },
    /// A regular expression that does not compile.
    #[error(
        "{}: {rule}: invalid regular expression {pattern:?}: {source}",
        At(stage, path.as_deref())
    )]
    Regex {
        /// The stage name.
        stage: String,
        /// The YAML path of the rule.
        path: Option<String>,
        /// The rule type (`add_regex_if`).
        rule: String,
        /// The expression.
        pattern: String,
        /// The compiler's error.
        #[source]
        source: regex::Error,
    },
    /// A value that the stage type refuses.
    #[error("{}: {message}", At(stage, path.as_deref()))]
    Invalid {
        /// The stage name.
        stage: String,
        /// The YAML path of the section or rule.
        path: Option<String>,
        /// What is wrong and what to do.
        message: String,
    },
}

impl ConfigErrorKind {
    /// The YAML path the error concerns, when it has one.
    pub fn path(&self) -> Option<&str> {
        use ConfigErrorKind as E;
        match self {
            E::Yaml { path, .. }
            | E::MissingSection { path, .. }
            | E::Query { path, .. }
            | E::Regex { path, .. }
            | E::Invalid { path, .. } => path.as_deref(),
            E::Settings { path, .. }
            | E::UnknownKeys { path, .. }
            | E::DuplicateStage { path, .. } => Some(path),
            E::EmptyPipeline
            | E::UnknownFollows { .. }
            | E::FollowsTwice { .. }
            | E::Cycle { .. } => Some("pipeline"),
            E::MetricsPrefix { .. } => Some("metricsSettings.prefix"),
            E::Serialize { .. }
            | E::StageKind { .. }
            | E::NoParameters { .. }
            | E::Graph { .. }
            | E::SinkFollowed { .. } => None,
        }
    }

    /// The stage the error concerns, when it concerns one.
    pub fn stage(&self) -> Option<&str> {
        use ConfigErrorKind as E;
        match self {
            E::UnknownKeys { stage, .. }
            | E::MissingSection { stage, .. }
            | E::StageKind { stage, .. }
            | E::NoParameters { stage }
            | E::DuplicateStage { stage, .. }
            | E::UnknownFollows { stage, .. }
            | E::FollowsTwice { stage, .. }
            | E::Graph { stage, .. }
            | E::SinkFollowed { stage, .. }
            | E::Query { stage, .. }
            | E::Regex { stage, .. }
            | E::Invalid { stage, .. } => Some(stage),
            E::Yaml { .. }
            | E::Settings { .. }
            | E::Serialize { .. }
            | E::EmptyPipeline
            | E::Cycle { .. }
            | E::MetricsPrefix { .. } => None,
        }
    }
}

/// `path: ` when there is a path.
struct Prefix<'a>(Option<&'a str>);

impl fmt::Display for Prefix<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(p) if !p.is_empty() => write!(f, "{p}: "),
            _ => Ok(()),
        }
    }
}

/// `stage "x"`, or `stage "x" (path)`.
struct At<'a>(&'a str, Option<&'a str>);

impl fmt::Display for At<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "stage {:?}", self.0)?;
        match self.1 {
            Some(p) => write!(f, " ({p})"),
            None => Ok(()),
        }
    }
}

/// Keys in backticks, comma-separated.
struct Ticked<'a>(&'a [String]);

impl fmt::Display for Ticked<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, k) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "`{k}`")?;
        }
        Ok(())
    }
}

/// What a stage type reads, for [`ConfigErrorKind::UnknownKeys`].
struct Reads<'a>(&'a [String]);

impl fmt::Display for Reads<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            f.write_str("it takes no settings")
        } else {
            write!(f, "it reads {}", Ticked(self.0))
        }
    }
}

/// The kinds of a `parameters` entry that has none or several.
struct KindCount<'a>(&'a [StageKind]);

impl fmt::Display for KindCount<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str(
                "parameters must have one of ingest, transform, extract, encode, write",
            );
        }
        f.write_str("parameters have several kinds (")?;
        for (i, k) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            f.write_str(k.as_str())?;
        }
        f.write_str("); a stage has exactly one")
    }
}

/// `a -> b -> a`.
struct Cycle<'a>(&'a [String]);

impl fmt::Display for Cycle<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("(not found)");
        }
        f.write_str(&self.0.join(" -> "))
    }
}

/// A wire format of flows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Format {
    /// NetObserv JSON ([`crate::codec::json`]).
    Json,
    /// The eBPF agent's protobuf ([`crate::codec::pbflow`]).
    Pbflow,
    /// Arrow record batches (`codec::arrow`).
    Arrow,
}

impl Format {
    /// The lower-case name (`json`), also the `kind` label of `ingest_errors`.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Json => "json",
            Format::Pbflow => "pbflow",
            Format::Arrow => "arrow",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What is wrong with input that does not decode, whatever its format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DecodeErrorKind {
    /// Not well-formed in its format: JSON syntax, an invalid protobuf key, wire type or varint.
    Syntax,
    /// The input ends in the middle of a value.
    Truncated,
    /// Text that is not UTF-8.
    Utf8,
    /// Well-formed, but a value does not fit the flow: a wrong type, a number out of range, text
    /// that is not an address, an unknown column.
    Value,
}

/// Input that does not decode, in the same shape for every format and every stage: the format,
/// where (the byte offset, the record, the field, as far as known), what is wrong, and the
/// decoder's own error as [`source`](std::error::Error::source) when there is one
/// (`serde_json::Error`, with its line and column; `prost::DecodeError`).
///
/// One pointer wide, as `serde_json::Error` is: decoders return it on their hot paths.
#[derive(Debug)]
pub struct DecodeError(Box<DecodeErrorInner>);

#[derive(Debug)]
struct DecodeErrorInner {
    format: Format,
    kind: DecodeErrorKind,
    offset: Option<u64>,
    record: Option<u64>,
    field: Option<String>,
    message: std::borrow::Cow<'static, str>,
    source: Option<BoxError>,
}

impl DecodeError {
    /// An error of `format`, with no location yet.
    pub fn new(
        format: Format,
        kind: DecodeErrorKind,
        message: impl Into<std::borrow::Cow<'static, str>>,
    ) -> Self {
        DecodeError(Box::new(DecodeErrorInner {
            format,
            kind,
            offset: None,
            record: None,
            field: None,
            message: message.into(),
            source: None,
        }))
    }

    /// A JSON error of serde_json on `input`: the byte offset comes from serde_json's line and
    /// column, the message is serde_json's without them.
    pub(crate) fn json(e: serde_json::Error, input: &[u8]) -> Self {
        use serde_json::error::Category;
        let kind = match e.classify() {
            Category::Eof => DecodeErrorKind::Truncated,
            Category::Syntax | Category::Io => DecodeErrorKind::Syntax,
            Category::Data => DecodeErrorKind::Value,
        };
        let text = e.to_string();
        let suffix = format!(" at line {} column {}", e.line(), e.column());
        let message = text.strip_suffix(&suffix).unwrap_or(&text).to_string();
        let offset = json_offset(input, e.line(), e.column());
        let mut d = DecodeError::new(Format::Json, kind, message).with_source(e);
        d.0.offset = offset;
        d
    }

    /// With `context` said before the message (`not a JSON array of flows: ...`).
    #[cfg(feature = "runtime")]
    pub(crate) fn prefixed(mut self, context: &str) -> Self {
        self.0.message = format!("{context}: {}", self.0.message).into();
        self
    }

    /// With the byte offset in the input where the malformed part starts.
    pub fn with_offset(mut self, offset: u64) -> Self {
        self.0.offset = Some(offset);
        self
    }

    /// With the offset made relative to a larger input in which the decoded bytes start at
    /// byte `base` (a line of a file, a message of a stream).
    pub fn shifted(mut self, base: u64) -> Self {
        self.0.offset = Some(self.0.offset.unwrap_or(0).saturating_add(base));
        self
    }

    /// With the index of the record in its batch (an array element, a row).
    pub fn at_record(mut self, record: u64) -> Self {
        self.0.record = Some(record);
        self
    }

    /// With the flow field (or column) whose value is wrong.
    pub fn in_field(mut self, field: impl Into<String>) -> Self {
        self.0.field = Some(field.into());
        self
    }

    /// With the decoder's own error.
    pub fn with_source(mut self, source: impl Into<BoxError>) -> Self {
        self.0.source = Some(source.into());
        self
    }

    /// The format.
    pub fn format(&self) -> Format {
        self.0.format
    }

    /// What kind of problem.
    pub fn kind(&self) -> DecodeErrorKind {
        self.0.kind
    }

    /// The byte offset in the input where the malformed part starts, when known (for JSON, the
    /// byte serde_json stopped at).
    pub fn offset(&self) -> Option<u64> {
        self.0.offset
    }

    /// The index of the record in its batch, when known.
    pub fn record(&self) -> Option<u64> {
        self.0.record
    }

    /// The field (or column) whose value is wrong, when known.
    pub fn field(&self) -> Option<&str> {
        self.0.field.as_deref()
    }

    /// What is wrong, without the location.
    pub fn message(&self) -> &str {
        &self.0.message
    }
}

/// The byte offset of serde_json's 1-based `line` and `column` (bytes since the line's start,
/// the offending byte included) in `input`; `None` when serde_json gave no position.
fn json_offset(input: &[u8], line: usize, column: usize) -> Option<u64> {
    if line == 0 {
        return None;
    }
    let line_start = if line == 1 {
        0
    } else {
        memchr::memchr_iter(b'\n', input).nth(line - 2)? + 1
    };
    let at = (line_start + column.saturating_sub(1)).min(input.len());
    Some(at as u64)
}

impl From<prost::DecodeError> for DecodeError {
    /// A pbflow message that prost (decoding [`Records`](crate::codec::pbflow::Records)) rejects.
    fn from(e: prost::DecodeError) -> Self {
        DecodeError::new(Format::Pbflow, DecodeErrorKind::Syntax, e.to_string()).with_source(e)
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid {}", self.0.format)?;
        if let Some(o) = self.0.offset {
            write!(f, " at byte {o}")?;
        }
        match (self.0.record, &self.0.field) {
            (Some(r), Some(c)) => write!(f, " (record {r}, field {c})")?,
            (Some(r), None) => write!(f, " (record {r})")?,
            (None, Some(c)) => write!(f, " (field {c})")?,
            (None, None) => {}
        }
        write!(f, ": {}", self.0.message)
    }
}

impl std::error::Error for DecodeError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0
            .source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use std::error::Error as _;

    use super::*;
    use crate::config::{Config, StageSection};

    fn config_error(e: Error) -> ConfigError {
        assert!(e.is_config(), "{e}");
        match e {
            Error::Config(c) => c,
            other => panic!("not a config error: {other:?}"),
        }
    }

    #[test]
    fn a_yaml_error_carries_its_path_position_and_the_parser_error() {
        let err = Config::from_yaml("pipeline: []\nruntime: {drainTimeout: 5}\n").unwrap_err();
        let msg = err.to_string();
        // The wrapper's source is the config error, whose source is the parser's.
        let inner = err.source().and_then(|s| s.downcast_ref::<ConfigError>());
        assert!(inner.is_some(), "{msg}");
        let c = config_error(err);
        assert_eq!(c.path(), Some("runtime.drainTimeout"), "{c}");
        let ConfigErrorKind::Yaml { line, column, .. } = c.kind() else {
            panic!("{c:?}");
        };
        assert_eq!(*line, Some(2), "{c}");
        assert!(column.is_some(), "{c}");
        let source = c
            .source()
            .and_then(|s| s.downcast_ref::<serde_yaml_ng::Error>());
        assert!(source.is_some(), "{c:?}");
        assert!(
            msg.starts_with("invalid configuration: runtime.drainTimeout: "),
            "{msg}"
        );

        // A syntax error has a position too.
        let c = config_error(Config::from_yaml("pipeline: [").unwrap_err());
        assert!(
            matches!(c.kind(), ConfigErrorKind::Yaml { line: Some(2), .. }),
            "{c:?}"
        );
    }

    #[test]
    fn a_settings_error_carries_the_full_path_and_the_deserializer_error() {
        #[derive(Debug, serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        #[allow(dead_code)]
        struct Loki {
            url: String,
        }
        let s: StageSection =
            serde_yaml_ng::from_str("type: loki\nloki: {url: a, urll: b}\n").unwrap();
        let c = config_error(s.parse::<Loki>("parameters[2].write", "loki").unwrap_err());
        assert_eq!(c.path(), Some("parameters[2].write.loki.urll"), "{c}");
        assert!(
            matches!(c.kind(), ConfigErrorKind::Settings { .. }),
            "{c:?}"
        );
        assert!(
            c.source()
                .and_then(|s| s.downcast_ref::<serde_json::Error>())
                .is_some(),
            "{c:?}"
        );
    }

    #[test]
    fn a_parameters_entry_without_a_kind_names_the_stage() {
        let p = crate::config::StageParam {
            name: "x".into(),
            ingest: Some(StageSection::new("stdin")),
            write: Some(StageSection::new("stdout")),
            ..Default::default()
        };
        let c = config_error(p.kind().unwrap_err());
        assert_eq!(c.stage(), Some("x"));
        let ConfigErrorKind::StageKind { found, .. } = c.kind() else {
            panic!("{c:?}");
        };
        assert_eq!(found, &[StageKind::Ingest, StageKind::Write]);
        assert!(
            c.to_string().contains("several kinds (ingest, write)"),
            "{c}"
        );
    }
}
