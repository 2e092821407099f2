//! The stage registry: a factory per (kind, type), built-in or added by another crate.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use serde::de::DeserializeOwned;

use super::component::Component;
use super::metrics::StageMetrics;
use crate::config::{StageKind, StageSection};
use crate::field::FieldRegistry;
use crate::{ConfigError, ConfigErrorKind, Error, Result};

/// The stage types upstream flowlogs-pipeline defines (`pkg/api/api.go`), by kind.
pub const UPSTREAM_TYPES: &[(StageKind, &[&str])] = &[
    (
        StageKind::Ingest,
        &[
            "file",
            "file_loop",
            "file_chunks",
            "synthetic",
            "collector",
            "ipfix",
            "stdin",
            "grpc",
            "fake",
            "kafka",
        ],
    ),
    (
        StageKind::Transform,
        &["generic", "filter", "network", "none"],
    ),
    (
        StageKind::Extract,
        &["aggregates", "conntrack", "timebased", "none"],
    ),
    (
        StageKind::Encode,
        &[
            "prom",
            "kafka",
            "s3",
            "otlplogs",
            "otlpmetrics",
            "otlptraces",
            "none",
        ],
    ),
    (
        StageKind::Write,
        &["stdout", "none", "loki", "ipfix", "grpc", "fake"],
    ),
];

fn upstream_types(kind: StageKind) -> &'static [&'static str] {
    UPSTREAM_TYPES
        .iter()
        .find(|(k, _)| *k == kind)
        .map(|(_, t)| *t)
        .unwrap_or(&[])
}

/// Builds a stage from its section. Implement it on a type for factories that connect to
/// something (`async`); a closure `Fn(&mut BuildContext) -> Result<Component>` is a factory too.
#[async_trait::async_trait]
pub trait StageFactory: Send + Sync {
    /// Builds the stage: reads its settings with [`BuildContext::settings`], resolves the field
    /// names it reads and writes through [`BuildContext::fields`], may connect or wait for a
    /// cache to sync.
    async fn build(&self, cx: &mut BuildContext<'_>) -> Result<Component>;
}

#[async_trait::async_trait]
impl<F> StageFactory for F
where
    F: Fn(&mut BuildContext<'_>) -> Result<Component> + Send + Sync,
{
    async fn build(&self, cx: &mut BuildContext<'_>) -> Result<Component> {
        self(cx)
    }
}

/// What a stage factory is given.
pub struct BuildContext<'a> {
    pub(crate) stage: &'a str,
    pub(crate) kind: StageKind,
    pub(crate) section: &'a StageSection,
    pub(crate) path: String,
    pub(crate) fields: &'a mut FieldRegistry,
    pub(crate) metrics: StageMetrics,
    pub(crate) registry: prometheus::Registry,
    pub(crate) metrics_prefix: std::sync::Arc<str>,
    pub(crate) workers: usize,
}

impl BuildContext<'_> {
    /// The stage name.
    pub fn stage(&self) -> &str {
        self.stage
    }

    /// The stage kind.
    pub fn kind(&self) -> StageKind {
        self.kind
    }

    /// The stage type.
    pub fn type_name(&self) -> &str {
        &self.section.type_name
    }

    /// The YAML path of the stage's section (`parameters[2].write`).
    pub fn path(&self) -> &str {
        &self.path
    }

    /// Adds a start-up warning naming the stage: it joins [`crate::pipeline::Pipeline::warnings`]
    /// (logged by `flowlogs-pipeline`, counted by `--check`).
    pub fn warn(&mut self, message: impl std::fmt::Display) {
        self.fields.warn(self.stage, message);
    }

    /// The names known at this point of the pipeline: resolve the fields the stage reads
    /// ([`FieldRegistry::read`] warns about unknown ones) and record those it writes.
    pub fn fields(&mut self) -> &mut FieldRegistry {
        self.fields
    }

    /// The stage's metrics.
    pub fn metrics(&self) -> &StageMetrics {
        &self.metrics
    }

    /// The pipeline's shared Prometheus registry (what the `metricsSettings` server exposes):
    /// a stage registers its own collectors here to be served there (`encode: prom` without an
    /// address of its own).
    pub fn prometheus_registry(&self) -> &prometheus::Registry {
        &self.registry
    }

    /// The `metricsSettings.prefix` the pipeline's own metrics are named with, for a stage's
    /// operational metrics to be named alike.
    pub fn metrics_prefix(&self) -> &str {
        &self.metrics_prefix
    }

    /// How many workers the pipeline runs: the number of shards a stateful stage with a key
    /// should have.
    pub fn workers(&self) -> usize {
        self.workers
    }

    /// The settings under the key named after the type (`loki:` for `type: loki`); `None` when
    /// absent. Unknown keys are errors with their YAML path when `T` says
    /// `#[serde(deny_unknown_fields)]`, as every settings type should.
    pub fn settings<T: DeserializeOwned>(&mut self) -> Result<Option<T>> {
        let key = self.section.type_name.clone();
        self.settings_at(&key)
    }

    /// The settings under `key` (for types that read another key: `file_loop` reads `file`).
    pub fn settings_at<T: DeserializeOwned>(&mut self, key: &str) -> Result<Option<T>> {
        self.section.parse(&self.path, key)
    }

    /// [`Self::settings`], or the type's defaults when absent.
    pub fn settings_or_default<T: DeserializeOwned + Default>(&mut self) -> Result<T> {
        Ok(self.settings()?.unwrap_or_default())
    }

    /// [`Self::settings_at`], with an error naming the key when absent.
    pub fn required_settings_at<T: DeserializeOwned>(&mut self, key: &str) -> Result<T> {
        self.settings_at(key)?.ok_or_else(|| {
            ConfigErrorKind::MissingSection {
                stage: self.stage.to_string(),
                path: Some(self.path.clone()),
                owner: format!("{} type {:?}", self.kind, self.section.type_name),
                key: key.to_string(),
            }
            .into()
        })
    }

    /// A configuration error about this stage.
    pub fn config_error(&self, message: impl std::fmt::Display) -> Error {
        ConfigError::invalid(self.stage, Some(&self.path), message).into()
    }
}

/// A registered type: its factory and the keys of its section it reads besides `type`.
#[derive(Clone)]
pub(crate) struct Registered {
    pub(crate) factory: Arc<dyn StageFactory>,
    pub(crate) keys: Vec<String>,
}

/// The stage types a program can build, by kind and type name. Other crates add theirs with
/// [`StageRegistry::register`] without touching this crate.
#[derive(Default, Clone)]
pub struct StageRegistry {
    factories: HashMap<(StageKind, String), Registered>,
}

/// Why a type cannot be built.
pub(crate) enum Missing {
    /// Upstream has it, this build does not.
    NotIncluded,
    /// Nobody knows it; the known types of its kind.
    Unknown(Vec<String>),
}

impl StageRegistry {
    /// A registry with no stage types.
    pub fn empty() -> Self {
        Self::default()
    }

    /// A registry with the stages of this crate (ingest stdin, file, file_loop, file_chunks,
    /// synthetic; transform generic, filter, none; write stdout, file, none, fake).
    pub fn with_builtins() -> Self {
        let mut r = Self::empty();
        crate::stages::register_builtins(&mut r);
        r
    }

    /// Adds (or replaces) a stage type whose settings sit under the key named after it
    /// (`write: {type: clickhouse, clickhouse: {...}}`).
    pub fn register(
        &mut self,
        kind: StageKind,
        type_name: &str,
        factory: impl StageFactory + 'static,
    ) -> &mut Self {
        self.register_reading(kind, type_name, &[type_name], factory)
    }

    /// Adds (or replaces) a stage type whose section holds the keys `keys` besides `type`
    /// (`file_loop` reads `file:`). Any other key is refused before any factory runs.
    pub fn register_reading(
        &mut self,
        kind: StageKind,
        type_name: &str,
        keys: &[&str],
        factory: impl StageFactory + 'static,
    ) -> &mut Self {
        self.factories.insert(
            (kind, type_name.to_string()),
            Registered {
                factory: Arc::new(factory),
                keys: keys.iter().map(|k| k.to_string()).collect(),
            },
        );
        self
    }

    /// Whether a stage type is available.
    pub fn supports(&self, kind: StageKind, type_name: &str) -> bool {
        self.factories.contains_key(&(kind, type_name.to_string()))
    }

    /// The registered types of a kind, sorted.
    pub fn types(&self, kind: StageKind) -> Vec<String> {
        let mut v: Vec<String> = self
            .factories
            .keys()
            .filter(|(k, _)| *k == kind)
            .map(|(_, t)| t.clone())
            .collect();
        v.sort();
        v
    }

    pub(crate) fn factory(&self, kind: StageKind, type_name: &str) -> Result<Registered, Missing> {
        if let Some(f) = self.factories.get(&(kind, type_name.to_string())) {
            return Ok(f.clone());
        }
        let upstream = upstream_types(kind);
        if upstream.contains(&type_name) {
            return Err(Missing::NotIncluded);
        }
        let mut known: BTreeSet<String> = upstream.iter().map(|s| s.to_string()).collect();
        known.extend(self.types(kind));
        Err(Missing::Unknown(known.into_iter().collect()))
    }
}
