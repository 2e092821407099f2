//! flowlogs-pipeline's YAML configuration document, typed.
//!
//! Key names and shapes follow upstream FLP (`docs/api.md` and `pkg/api`), so existing FLP configs
//! (including the one the NetObserv operator generates) parse unchanged. Every struct rejects
//! unknown keys; parse errors carry the YAML path of the offending key (`parameters[2].transform
//! .filter.rules[0].type`). Free-form values (filter values, Loki client config, per-rule
//! `parameters`) are kept as JSON-shaped values.

mod stages;

pub use stages::*;

use serde::{Deserialize, Serialize};

use crate::Error;

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
    /// The stage graph: each stage names the stage it follows.
    #[serde(default)]
    pub pipeline: Vec<PipelineLink>,
    /// Stage parameters, by name.
    #[serde(default)]
    pub parameters: Vec<StageParam>,
}

/// One edge of the stage graph.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PipelineLink {
    /// The stage name.
    pub name: String,
    /// The stage it reads from; absent for an ingest stage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub follows: Option<String>,
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

/// One entry of `parameters`: a name and exactly one of the five stage kinds.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StageParam {
    /// The stage name, referenced by `pipeline`.
    pub name: String,
    /// An ingest stage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ingest: Option<Ingest>,
    /// A transform stage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transform: Option<Transform>,
    /// An extract stage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extract: Option<Extract>,
    /// An encode stage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encode: Option<Encode>,
    /// A write stage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub write: Option<Write>,
}

impl StageParam {
    /// The stage kind (`ingest`, `transform`, ...) and its type name, or an error when the entry
    /// has none or several kinds.
    pub fn kind(&self) -> Result<(&'static str, String), Error> {
        let mut kinds = Vec::new();
        if let Some(i) = &self.ingest {
            kinds.push(("ingest", i.r#type.clone()));
        }
        if let Some(t) = &self.transform {
            kinds.push(("transform", t.r#type.clone()));
        }
        if let Some(e) = &self.extract {
            kinds.push(("extract", e.r#type.clone()));
        }
        if let Some(e) = &self.encode {
            kinds.push(("encode", e.r#type.clone()));
        }
        if let Some(w) = &self.write {
            kinds.push(("write", w.r#type.clone()));
        }
        match kinds.len() {
            1 => Ok(kinds.remove(0)),
            0 => Err(Error::Config(format!(
                "stage {:?}: parameters must have one of ingest, transform, extract, encode, write",
                self.name
            ))),
            _ => Err(Error::Config(format!(
                "stage {:?}: parameters have several kinds ({}); a stage has exactly one",
                self.name,
                kinds.iter().map(|k| k.0).collect::<Vec<_>>().join(", ")
            ))),
        }
    }
}

impl Config {
    /// Parses a YAML (or JSON) document; errors name the YAML path.
    pub fn from_yaml(text: &str) -> Result<Config, Error> {
        let de = serde_yaml_ng::Deserializer::from_str(text);
        serde_path_to_error::deserialize(de).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner();
            if path.is_empty() || path == "." {
                Error::Config(inner.to_string())
            } else {
                Error::Config(format!("{path}: {inner}"))
            }
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
        serde_yaml_ng::to_string(self).map_err(|e| Error::Config(e.to_string()))
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
    fn unknown_key_error_names_the_path() {
        let yaml = r#"
pipeline:
  - name: in
parameters:
  - name: in
    ingest:
      type: stdin
  - name: f
    transform:
      type: filter
      filter:
        rules:
          - type: keep_entry_query
            keepEntryQery: 'Proto=6'
"#;
        let err = Config::from_yaml(yaml).unwrap_err().to_string();
        assert!(
            err.contains("parameters[1].transform.filter.rules[0]"),
            "{err}"
        );
        assert!(err.contains("keepEntryQery"), "{err}");
    }

    #[test]
    fn bad_enum_value_is_rejected() {
        let yaml = "parameters:\n  - name: g\n    transform:\n      type: generic\n      generic:\n        policy: keep_all\n";
        let err = Config::from_yaml(yaml).unwrap_err().to_string();
        assert!(
            err.contains("parameters[0].transform.generic.policy"),
            "{err}"
        );
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
