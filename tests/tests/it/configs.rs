//! FLP configuration documents: upstream shapes parse, round-trip, and build (or fail clearly).

use netobserv_flow::Error;
use netobserv_flow::config::Config;
use netobserv_flow::pipeline::{Metrics, Pipeline, StageRegistry};

use super::testdata;

fn load(name: &str) -> Config {
    let text = std::fs::read_to_string(testdata(&format!("configs/{name}"))).unwrap();
    Config::from_yaml(&text).unwrap_or_else(|e| panic!("{name}: {e}"))
}

#[test]
fn upstream_configs_parse_and_round_trip() {
    for name in [
        "operator-default.yaml",
        "kafka-consumer.yaml",
        "synthetic-filter-stdout.yaml",
    ] {
        let c = load(name);
        let yaml = c.to_yaml().unwrap();
        assert_eq!(Config::from_yaml(&yaml).unwrap(), c, "{name}");
    }
    let c = load("operator-default.yaml");
    assert_eq!(c.parameters.len(), 4);
    assert_eq!(
        c.metrics_settings.unwrap().prefix.as_deref(),
        Some("netobserv_")
    );
    let k = load("kafka-consumer.yaml");
    let kafka = k.parameters[0]
        .ingest
        .as_ref()
        .unwrap()
        .kafka
        .as_ref()
        .unwrap();
    assert_eq!(kafka.topic, "network-flows");
}

#[test]
fn stages_this_build_cannot_run_fail_at_start_naming_the_stage() {
    let reg = StageRegistry::with_builtins();
    match Pipeline::build(&load("operator-default.yaml"), &reg, Metrics::default()) {
        Err(Error::Unsupported {
            stage,
            kind,
            type_name,
            ..
        }) => {
            assert_eq!(
                (stage.as_str(), kind, type_name.as_str()),
                ("grpc", "ingest", "grpc")
            );
        }
        Err(e) => panic!("unexpected error {e}"),
        Ok(_) => panic!("built a pipeline with a grpc ingest"),
    }
    let err = Pipeline::build(&load("kafka-consumer.yaml"), &reg, Metrics::default())
        .err()
        .unwrap();
    assert!(err.to_string().contains("\"kafka-read\""), "{err}");
}

#[test]
fn runnable_config_builds_without_warnings() {
    let p = Pipeline::build(
        &load("synthetic-filter-stdout.yaml"),
        &StageRegistry::with_builtins(),
        Metrics::default(),
    )
    .unwrap();
    assert!(p.warnings().is_empty(), "{:?}", p.warnings());
}

#[test]
fn typo_in_a_field_name_warns_with_the_nearest_names() {
    let yaml = r#"
pipeline:
  - name: in
  - name: f
    follows: in
  - name: out
    follows: f
parameters:
  - name: in
    ingest: {type: stdin}
  - name: f
    transform:
      type: filter
      filter:
        rules:
          - type: keep_entry_query
            keepEntryQuery: 'SrcK8S_Namepsace="a"'
  - name: out
    write: {type: none}
"#;
    let p = Pipeline::build(
        &Config::from_yaml(yaml).unwrap(),
        &StageRegistry::with_builtins(),
        Metrics::default(),
    )
    .unwrap();
    assert_eq!(p.warnings().len(), 1, "{:?}", p.warnings());
    assert!(
        p.warnings()[0].contains("SrcK8S_Namespace"),
        "{}",
        p.warnings()[0]
    );
}
