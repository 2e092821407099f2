//! FLP configuration documents: upstream shapes parse, round-trip, and build (or fail clearly,
//! naming every stage this build cannot run at once).

use netobserv_flow::Error;
use netobserv_flow::config::{Config, IngestKafka, StageKind, TransformNetwork};
use netobserv_flow::pipeline::{BuildContext, Component, Metrics, Pipeline, StageRegistry};

use super::testdata;

fn load(name: &str) -> Config {
    let text = std::fs::read_to_string(testdata(&format!("configs/{name}"))).unwrap();
    Config::from_yaml(&text).unwrap_or_else(|e| panic!("{name}: {e}"))
}

async fn build(c: &Config, reg: &StageRegistry) -> netobserv_flow::Result<Pipeline> {
    Pipeline::build(c, reg, Metrics::default()).await
}

async fn build_err(yaml: &str) -> String {
    match build(
        &Config::from_yaml(yaml).unwrap(),
        &StageRegistry::with_builtins(),
    )
    .await
    {
        Err(e) => e.to_string(),
        Ok(_) => panic!("built: {yaml}"),
    }
}

#[test]
fn upstream_configs_parse_and_round_trip() {
    for name in [
        "operator-default.yaml",
        "operator-full.yaml",
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
    let kafka: IngestKafka = k.parameters[0]
        .ingest
        .as_ref()
        .unwrap()
        .parse("parameters[0].ingest", "kafka")
        .unwrap()
        .unwrap();
    assert_eq!(kafka.topic, "network-flows");
    let full = load("operator-full.yaml");
    let network = full
        .stage("subnets")
        .and_then(|p| p.transform.as_ref())
        .unwrap();
    assert_eq!(network.type_name, "network");
    assert!(network.settings["network"]["subnetLabels"].is_array());
}

#[test]
fn the_operators_network_sections_read_into_upstreams_shape() {
    let mut seen = 0;
    for name in ["operator-default.yaml", "operator-full.yaml"] {
        let c = load(name);
        for (i, p) in c.parameters.iter().enumerate() {
            let Some(t) = p.transform.as_ref().filter(|t| t.type_name == "network") else {
                continue;
            };
            let n: TransformNetwork = t
                .parse(&format!("parameters[{i}].transform"), "network")
                .unwrap_or_else(|e| panic!("{name}: {e}"))
                .unwrap();
            assert!(!n.rules.is_empty(), "{name} {}", p.name);
            seen += 1;
            if p.name == "subnets" {
                let labels = n.subnet_labels.unwrap();
                assert_eq!(labels[0].name, "Databases");
                assert_eq!(labels[0].cidrs, ["10.128.200.0/24", "192.168.50.0/24"]);
            }
        }
    }
    assert_eq!(seen, 3);
}

#[tokio::test]
async fn every_stage_this_build_cannot_run_is_named_at_once() {
    let reg = StageRegistry::with_builtins();
    let unsupported = |c: &Config| {
        let reg = reg.clone();
        let c = c.clone();
        async move {
            match build(&c, &reg).await {
                Err(Error::Unsupported(list)) => list,
                Err(e) => panic!("unexpected error {e}"),
                Ok(_) => panic!("built a pipeline this build cannot run"),
            }
        }
    };
    let list = unsupported(&load("operator-default.yaml")).await;
    let names: Vec<(&str, StageKind, &str)> = list
        .iter()
        .map(|u| (u.stage.as_str(), u.kind, u.type_name.as_str()))
        .collect();
    assert_eq!(
        names,
        [
            ("grpc", StageKind::Ingest, "grpc"),
            ("enrich", StageKind::Transform, "network"),
            ("loki", StageKind::Write, "loki"),
            ("prometheus", StageKind::Encode, "prom"),
        ]
    );
    assert!(list.iter().all(|u| u.known.is_none()));
    let full = load("operator-full.yaml");
    let list = unsupported(&full).await;
    let mut got: Vec<&str> = list.iter().map(|u| u.stage.as_str()).collect();
    got.sort();
    let mut want: Vec<&str> = full.pipeline.iter().map(|l| l.name.as_str()).collect();
    want.sort();
    assert_eq!(
        got, want,
        "every stage of the Kafka transformer is upstream-only here"
    );
    let msg = Error::Unsupported(list).to_string();
    for stage in &want {
        assert!(msg.contains(&format!("stage {stage:?}")), "{msg}");
    }
    assert!(msg.contains("extract type \"conntrack\""), "{msg}");
}

#[tokio::test]
async fn unknown_types_list_the_known_ones_including_registered() {
    let mut reg = StageRegistry::with_builtins();
    reg.register(
        StageKind::Write,
        "clickhouse",
        |_: &mut BuildContext<'_>| Ok(Component::sink(netobserv_flow::stages::write::NullSink)),
    );
    let c = Config::from_yaml(
        "pipeline:\n  - name: k\n  - name: w\n    follows: k\nparameters:\n  - name: k\n    ingest: {type: kafak}\n  - name: w\n    write: {type: clickhose}\n",
    )
    .unwrap();
    let msg = match build(&c, &reg).await {
        Err(e @ Error::Unsupported(_)) => e.to_string(),
        other => panic!("{other:?}"),
    };
    assert!(msg.contains("ingest type \"kafak\" is unknown"), "{msg}");
    assert!(msg.contains("kafka"), "{msg}");
    assert!(msg.contains("write type \"clickhose\" is unknown"), "{msg}");
    assert!(msg.contains("clickhouse"), "{msg}");
    // The registered type builds, from another "crate", without this crate knowing it.
    let c = Config::from_yaml(
        "pipeline:\n  - name: s\n  - name: w\n    follows: s\nparameters:\n  - name: s\n    ingest: {type: synthetic, synthetic: {maxFlows: 1}}\n  - name: w\n    write: {type: clickhouse}\n",
    )
    .unwrap();
    build(&c, &reg).await.unwrap();
}

#[tokio::test]
async fn settings_keys_are_checked_with_their_path_once() {
    let msg = build_err(
        "pipeline:\n  - name: a\n  - name: f\n    follows: a\nparameters:\n  - name: a\n    ingest: {type: stdin}\n  - name: f\n    transform:\n      type: filter\n      filter:\n        rules:\n          - type: keep_entry_query\n            keepEntryQery: 'Proto=6'\n",
    )
    .await;
    assert!(
        msg.contains("parameters[1].transform.filter.rules[0]"),
        "{msg}"
    );
    assert!(msg.contains("keepEntryQery"), "{msg}");
    assert_eq!(msg.matches("parameters[1]").count(), 1, "{msg}");
    assert_eq!(msg.matches("invalid configuration").count(), 1, "{msg}");
    let msg = build_err(
        "pipeline:\n  - name: a\nparameters:\n  - name: a\n    ingest:\n      type: stdin\n      stdn: {}\n",
    )
    .await;
    assert!(
        msg.contains("parameters[0].ingest: unknown key `stdn`"),
        "{msg}"
    );
    let msg = build_err(
        "pipeline:\n  - name: a\n  - name: g\n    follows: a\nparameters:\n  - name: a\n    ingest: {type: stdin}\n  - name: g\n    transform: {type: generic, generic: {policy: keep_all}}\n",
    )
    .await;
    assert!(
        msg.contains("parameters[1].transform.generic.policy"),
        "{msg}"
    );
    // A key of another type is refused before any factory runs, naming what the type reads.
    let msg = build_err(
        "pipeline:\n  - name: a\nparameters:\n  - name: a\n    ingest: {type: file_loop, fil: {filename: x}}\n",
    )
    .await;
    assert!(
        msg.contains("parameters[0].ingest: unknown key `fil` for ingest type \"file_loop\" (it reads `file`)"),
        "{msg}"
    );
    let msg = build_err(
        "pipeline:\n  - name: a\nparameters:\n  - name: a\n    ingest: {type: file_chunks, file: {filename: /dev/null, chunks: 0}}\n",
    )
    .await;
    assert!(msg.contains("`chunks` must be at least 1"), "{msg}");
}

#[tokio::test]
async fn graph_errors() {
    let params = "parameters:\n  - name: a\n    ingest: {type: stdin}\n  - name: b\n    transform: {type: none}\n  - name: c\n    write: {type: none}\n";
    let cases = [
        ("pipeline:\n  - name: a\n  - name: a", "listed twice"),
        (
            "pipeline:\n  - name: a\n  - name: b\n    follows: x",
            "not a stage",
        ),
        (
            "pipeline:\n  - name: a\n  - name: b\n    follows: c\n  - name: c\n    follows: b",
            "cycle b -> c -> b",
        ),
        (
            "pipeline:\n  - name: a\n  - name: b\n    follows: [a, c]\n  - name: c\n    follows: b",
            "cycle",
        ),
        (
            "pipeline:\n  - name: a\n  - name: c\n    follows: a\n  - name: b\n    follows: c",
            "terminal stage",
        ),
        ("pipeline:\n  - name: a\n  - name: b", "follows no stage"),
        (
            "pipeline:\n  - name: a\n  - name: b\n    follows: [a, a]",
            "follows \"a\" twice",
        ),
        ("pipeline: []", "empty"),
    ];
    for (p, want) in cases {
        let err = build_err(&format!("{p}\n{params}")).await;
        assert!(err.contains(want), "{p}: {err}");
    }
}

#[tokio::test]
async fn runnable_config_builds_without_warnings() {
    let p = build(
        &load("synthetic-filter-stdout.yaml"),
        &StageRegistry::with_builtins(),
    )
    .await
    .unwrap();
    assert!(p.warnings().is_empty(), "{:?}", p.warnings());
}

#[tokio::test]
async fn typo_in_a_field_name_warns_with_the_nearest_names() {
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
    let p = build(
        &Config::from_yaml(yaml).unwrap(),
        &StageRegistry::with_builtins(),
    )
    .await
    .unwrap();
    assert_eq!(p.warnings().len(), 1, "{:?}", p.warnings());
    assert!(
        p.warnings()[0].contains("SrcK8S_Namespace"),
        "{}",
        p.warnings()[0]
    );
}

async fn build_config_err(yaml: &str) -> netobserv_flow::ConfigError {
    match build(
        &Config::from_yaml(yaml).unwrap(),
        &StageRegistry::with_builtins(),
    )
    .await
    {
        Err(Error::Config(c)) => c,
        Err(e) => panic!("not a config error: {e:?}"),
        Ok(_) => panic!("built: {yaml}"),
    }
}

#[tokio::test]
async fn graph_and_section_errors_are_structured() {
    use netobserv_flow::ConfigErrorKind as K;
    let params = "parameters:\n  - name: a\n    ingest: {type: stdin}\n  - name: b\n    transform: {type: none}\n  - name: c\n    write: {type: none}\n";
    let c = build_config_err(&format!(
        "pipeline:\n  - name: a\n  - name: b\n    follows: c\n  - name: c\n    follows: b\n{params}"
    ))
    .await;
    let K::Cycle { cycle } = c.kind() else {
        panic!("{c:?}")
    };
    assert_eq!(cycle, &["b", "c", "b"]);
    assert_eq!(c.path(), Some("pipeline"));

    let c = build_config_err(&format!("pipeline:\n  - name: a\n  - name: a\n{params}")).await;
    assert!(
        matches!(c.kind(), K::DuplicateStage { stage, .. } if stage == "a"),
        "{c:?}"
    );

    let c = build_config_err(&format!(
        "pipeline:\n  - name: a\n  - name: b\n    follows: x\n{params}"
    ))
    .await;
    assert!(
        matches!(c.kind(), K::UnknownFollows { stage, follows, .. } if stage == "b" && follows == "x"),
        "{c:?}"
    );

    let c = build_config_err(
        "pipeline:\n  - name: a\nparameters:\n  - name: a\n    ingest: {type: file_loop, fil: {filename: x}}\n",
    )
    .await;
    let K::UnknownKeys {
        keys, reads, kind, ..
    } = c.kind()
    else {
        panic!("{c:?}")
    };
    assert_eq!(
        (keys.as_slice(), reads.as_slice()),
        (&["fil".to_string()][..], &["file".to_string()][..])
    );
    assert_eq!(*kind, StageKind::Ingest);
    assert_eq!(
        (c.stage(), c.path()),
        (Some("a"), Some("parameters[0].ingest"))
    );

    let c = build_config_err(
        "pipeline:\n  - name: a\nparameters:\n  - name: a\n    ingest: {type: file}\n",
    )
    .await;
    assert!(
        matches!(c.kind(), K::MissingSection { key, .. } if key == "file"),
        "{c:?}"
    );
    assert_eq!(
        (c.stage(), c.path()),
        (Some("a"), Some("parameters[0].ingest"))
    );

    let c = build_config_err(
        "pipeline:\n  - name: a\nparameters:\n  - name: a\n    ingest: {type: file_chunks, file: {filename: /dev/null, chunks: 0}}\n",
    )
    .await;
    assert!(matches!(c.kind(), K::Invalid { .. }), "{c:?}");
    assert_eq!(
        (c.stage(), c.path()),
        (Some("a"), Some("parameters[0].ingest"))
    );
}
