//! flowlogs-pipeline's YAML configuration document, typed.
//!
//! Key names and shapes follow upstream FLP (`docs/api.md` and `pkg/api`), so existing FLP configs
//! (including the one the NetObserv operator generates) parse unchanged. Every struct rejects
//! unknown keys; parse errors carry the YAML path of the offending key (`parameters[2].transform
//! .filter.rules[0].type`). Free-form values (filter values, Loki client config, per-rule
//! `parameters`) are kept as JSON-shaped values.

mod duration;
mod section;
mod stages;

pub use duration::GoDuration;
pub use section::{Follows, StageSection};
pub use stages::*;

use serde::{Deserialize, Serialize};

use crate::{ConfigErrorKind, Error};

/// The whole document.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// `trace`, `debug`, `info` (default), `warn`, `error`, `fatal`, `panic`.
    #[serde(rename = "log-level", default, skip_serializing_if = "Option::is_none")]
    pub log_level: Option<String>,
    /// Operational metrics.
    #[serde(
        rename = "metricsSettings",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub metrics_settings: Option<MetricsSettings>,
    /// Go runtime tuning in upstream; accepted and ignored here.
    #[serde(
        rename = "perfSettings",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub perf_settings: Option<serde_json::Value>,
    /// pprof server in upstream; accepted and ignored here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<serde_json::Value>,
    /// Health server (`{port}`): the operator still writes it, current upstream ignores it (its
    /// flag became `--healthAddr`); accepted and ignored here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<serde_json::Value>,
    /// Where upstream fetches hot-reloadable stages (a ConfigMap through the Kubernetes API);
    /// accepted here, not fetched: this build has no Kubernetes client.
    #[serde(
        rename = "dynamicParameters",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub dynamic_parameters: Option<serde_json::Value>,
    /// The stage graph: each stage names the stage it follows.
    #[serde(default)]
    pub pipeline: Vec<PipelineLink>,
    /// Stage parameters, by name.
    #[serde(default)]
    pub parameters: Vec<StageParam>,
    /// netobserv-rs: how the runtime runs the pipeline (workers, drain deadline, health checks,
    /// queue limits). Upstream has no such section.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime: Option<RuntimeSettings>,
}

/// `runtime` (netobserv-rs): how the pipeline runs. Every key is optional; the command line of
/// the binaries overrides them.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RuntimeSettings {
    /// Workers running the per-flow path (decode, consecutive stateless transforms, encode) and
    /// shards of stateful stages that declare a key. Default: the number of cores available.
    /// With more than one, flows may leave in another order than they came in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workers: Option<usize>,
    /// How long shutdown waits for every stage to drain (default `25s`, under Kubernetes' 30 s
    /// grace period); what is not delivered by then is reported lost.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drain_timeout: Option<GoDuration>,
    /// What a failed sink health check at start-up does: `require` (default: refuse to start),
    /// `warn` (log and start; for a service that comes up later) or `off` (do not check).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healthchecks: Option<HealthcheckMode>,
    /// How long a health check may take (default `10s`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healthcheck_timeout: Option<GoDuration>,
    /// Batches a stage's input queue holds (default 16).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue_batches: Option<usize>,
    /// Bytes a stage's input queue holds, counting a decoded flow as its in-memory size (not the
    /// strings and lists it points to, which are mostly shared) and raw or encoded data as its
    /// length (default 64 MiB).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue_max_bytes: Option<usize>,
}

/// What a failed health check does at start-up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HealthcheckMode {
    /// Refuse to start, naming the stage and endpoint.
    #[default]
    Require,
    /// Log a warning and start.
    Warn,
    /// Do not run health checks.
    Off,
}

/// One edge of the stage graph.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PipelineLink {
    /// The stage name.
    pub name: String,
    /// The stage it reads from (netobserv-rs: or a list of stages); absent for an ingest stage.
    #[serde(default, skip_serializing_if = "Follows::is_empty")]
    pub follows: Follows,
}

/// `metricsSettings`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct MetricsSettings {
    /// Listen address (default `0.0.0.0`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// Listen port (default 9102; 0 disables the server).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// TLS for the metrics server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<PromTls>,
    /// Prefix of every operational metric name (default `flp_`... upstream uses none; the
    /// operator sets `netobserv_`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    /// Do not panic on metric registration errors.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub no_panic: Option<bool>,
    /// Serve only the per-stage prom encoders, not the global server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disable_global_server: Option<bool>,
    /// Do not export Go runtime metrics (there are none here; accepted for compatibility).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suppress_go_metrics: Option<bool>,
}

/// TLS files for a server.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PromTls {
    /// Certificate file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert_path: Option<String>,
    /// Key file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_path: Option<String>,
}

/// One entry of `parameters`: a name and exactly one of the five stage kinds, each a
/// [`StageSection`] (`{type: X, X: {...}}`) read by the factory registered for its type.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StageParam {
    /// The stage name, referenced by `pipeline`.
    pub name: String,
    /// An ingest stage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ingest: Option<StageSection>,
    /// A transform stage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transform: Option<StageSection>,
    /// An extract stage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extract: Option<StageSection>,
    /// An encode stage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encode: Option<StageSection>,
    /// A write stage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub write: Option<StageSection>,
}

/// The five stage kinds of a flowlogs-pipeline config.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum StageKind {
    /// `ingest`: reads flows.
    Ingest,
    /// `transform`: edits or drops flows.
    Transform,
    /// `extract`: derives records (aggregates, conversations, top-k).
    Extract,
    /// `encode`: turns flows into another form (metrics, Kafka messages).
    Encode,
    /// `write`: delivers flows.
    Write,
}

impl StageKind {
    /// Every kind, in config order.
    pub const ALL: [StageKind; 5] = [
        StageKind::Ingest,
        StageKind::Transform,
        StageKind::Extract,
        StageKind::Encode,
        StageKind::Write,
    ];

    /// The config key.
    pub fn as_str(self) -> &'static str {
        match self {
            StageKind::Ingest => "ingest",
            StageKind::Transform => "transform",
            StageKind::Extract => "extract",
            StageKind::Encode => "encode",
            StageKind::Write => "write",
        }
    }
}

impl std::fmt::Display for StageKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl StageParam {
    /// The section of one kind.
    pub fn section(&self, kind: StageKind) -> Option<&StageSection> {
        match kind {
            StageKind::Ingest => self.ingest.as_ref(),
            StageKind::Transform => self.transform.as_ref(),
            StageKind::Extract => self.extract.as_ref(),
            StageKind::Encode => self.encode.as_ref(),
            StageKind::Write => self.write.as_ref(),
        }
    }

    /// The stage kind and its section, or an error when the entry has none or several kinds.
    pub fn kind(&self) -> Result<(StageKind, &StageSection), Error> {
        let kinds: Vec<_> = StageKind::ALL
            .iter()
            .filter_map(|k| self.section(*k).map(|s| (*k, s)))
            .collect();
        match kinds.as_slice() {
            [one] => Ok(*one),
            _ => Err(ConfigErrorKind::StageKind {
                stage: self.name.clone(),
                found: kinds.iter().map(|k| k.0).collect(),
            }
            .into()),
        }
    }
}

impl Config {
    /// Parses a YAML (or JSON) document; errors name the YAML path.
    pub fn from_yaml(text: &str) -> Result<Config, Error> {
        let de = serde_yaml_ng::Deserializer::from_str(text);
        serde_path_to_error::deserialize(de).map_err(|e| {
            let path = e.path().to_string();
            let source = e.into_inner();
            let location = source.location();
            ConfigErrorKind::Yaml {
                path: (!path.is_empty() && path != ".").then_some(path),
                line: location.as_ref().map(|l| l.line()),
                column: location.as_ref().map(|l| l.column()),
                source,
            }
            .into()
        })
    }

    /// Reads and parses a config file; `-` reads standard input.
    pub fn from_path(path: &str) -> Result<Config, Error> {
        let text = if path == "-" {
            std::io::read_to_string(std::io::stdin()).map_err(|e| Error::io("<stdin>", e))?
        } else {
            std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?
        };
        Config::from_yaml(&text)
    }

    /// Serializes back to YAML.
    pub fn to_yaml(&self) -> Result<String, Error> {
        serde_yaml_ng::to_string(self).map_err(|e| {
            ConfigErrorKind::Serialize {
                what: None,
                source: e.into(),
            }
            .into()
        })
    }

    /// The parameters of a stage.
    pub fn stage(&self, name: &str) -> Option<&StageParam> {
        self.parameters.iter().find(|p| p.name == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runtime_section_and_fan_in_parse() {
        let c = Config::from_yaml(
            "runtime: {workers: 3, drainTimeout: 5s, healthchecks: warn}\npipeline:\n  - name: a\n  - name: b\n  - name: c\n    follows: [a, b]\n",
        )
        .unwrap();
        let rt = c.runtime.clone().unwrap();
        assert_eq!(rt.workers, Some(3));
        assert_eq!(
            rt.drain_timeout.unwrap().0,
            std::time::Duration::from_secs(5)
        );
        assert_eq!(rt.healthchecks, Some(HealthcheckMode::Warn));
        assert_eq!(c.pipeline[2].follows.names(), ["a", "b"]);
        let err = Config::from_yaml("runtime: {workrs: 3}\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("runtime") && err.contains("workrs"), "{err}");
        let err = Config::from_yaml("runtime: {drainTimeout: 5}\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("runtime.drainTimeout"), "{err}");
    }

    #[test]
    fn stage_kind_must_be_unique() {
        let p = StageParam {
            name: "x".into(),
            ..Default::default()
        };
        assert!(p.kind().is_err());
    }
}
