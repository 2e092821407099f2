//! Building a pipeline from a [`Config`]: the stage registry, DAG validation and wiring.

use std::collections::{HashMap, HashSet, VecDeque};

use tokio::sync::mpsc;

use super::component::{Input, Output, Shutdown, Sink, Source, SourceContext, Transform};
use super::metrics::Metrics;
use crate::config::{Config, StageParam};
use crate::field::FieldRegistry;
use crate::{Error, Result};

/// A built stage.
pub enum Component {
    /// An ingest stage.
    Source(Box<dyn Source>),
    /// A per-flow transform stage.
    Transform(Box<dyn Transform>),
    /// A terminal stage (encode, write).
    Sink(Box<dyn Sink>),
}

/// What a stage factory sees.
pub struct BuildContext<'a> {
    /// The stage name.
    pub stage: &'a str,
    /// Names known at this point of the pipeline; factories resolve field names through it.
    pub fields: &'a mut FieldRegistry,
}

type Factory = Box<dyn Fn(&StageParam, &mut BuildContext<'_>) -> Result<Component> + Send + Sync>;

/// Stage types upstream flowlogs-pipeline documents, by kind.
pub const UPSTREAM_TYPES: &[(&str, &[&str])] = &[
    (
        "ingest",
        &[
            "file",
            "file_loop",
            "file_chunks",
            "synthetic",
            "stdin",
            "kafka",
            "grpc",
            "collector",
            "fake",
        ],
    ),
    ("transform", &["generic", "filter", "network", "none"]),
    ("extract", &["aggregates", "conntrack", "timebased", "none"]),
    (
        "encode",
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
        "write",
        &["stdout", "file", "none", "fake", "loki", "ipfix", "grpc"],
    ),
];

/// The stage types a program can build, by kind and type name. Other crates add theirs with
/// [`StageRegistry::register`].
#[derive(Default)]
pub struct StageRegistry {
    factories: HashMap<(String, String), Factory>,
}

impl StageRegistry {
    /// A registry with no stage types.
    pub fn empty() -> Self {
        Self::default()
    }

    /// A registry with the stages of this crate (stdin, file, file_loop, file_chunks, synthetic;
    /// generic, filter, none; stdout, file, none, fake).
    pub fn with_builtins() -> Self {
        let mut r = Self::empty();
        crate::stages::register_builtins(&mut r);
        r
    }

    /// Adds (or replaces) a stage type.
    pub fn register(
        &mut self,
        kind: &str,
        type_name: &str,
        factory: impl Fn(&StageParam, &mut BuildContext<'_>) -> Result<Component>
        + Send
        + Sync
        + 'static,
    ) {
        self.factories
            .insert((kind.to_string(), type_name.to_string()), Box::new(factory));
    }

    /// Whether a stage type is available.
    pub fn supports(&self, kind: &str, type_name: &str) -> bool {
        self.factories
            .contains_key(&(kind.to_string(), type_name.to_string()))
    }

    fn build(&self, param: &StageParam, ctx: &mut BuildContext<'_>) -> Result<Component> {
        let (kind, type_name) = param.kind()?;
        if let Some(f) = self.factories.get(&(kind.to_string(), type_name.clone())) {
            return f(param, ctx);
        }
        let upstream = UPSTREAM_TYPES
            .iter()
            .find(|(k, _)| *k == kind)
            .map(|(_, t)| *t)
            .unwrap_or(&[]);
        if upstream.contains(&type_name.as_str()) {
            return Err(Error::Unsupported {
                stage: param.name.clone(),
                kind,
                type_name,
                hint: "remove the stage or use a build that includes it; flows are never dropped silently",
            });
        }
        let mut known: Vec<&str> = upstream.to_vec();
        known.extend(
            self.factories
                .keys()
                .filter(|(k, t)| k == kind && !upstream.contains(&t.as_str()))
                .map(|(_, t)| t.as_str()),
        );
        Err(Error::Config(format!(
            "stage {:?}: unknown {kind} type {type_name:?} (expected one of: {})",
            param.name,
            known.join(", ")
        )))
    }
}

/// A pipeline ready to run.
pub struct Pipeline {
    stages: Vec<BuiltStage>,
    warnings: Vec<String>,
    metrics: Metrics,
    capacity: usize,
}

struct BuiltStage {
    name: String,
    component: Component,
    follows: Option<String>,
}

/// Default capacity of a stage's input queue, in batches.
pub const DEFAULT_QUEUE_BATCHES: usize = 16;

impl Pipeline {
    /// Validates the stage graph and builds every stage.
    pub fn build(config: &Config, registry: &StageRegistry, metrics: Metrics) -> Result<Pipeline> {
        let order = validate(config)?;
        let mut warnings = Vec::new();
        for p in &config.parameters {
            if !config.pipeline.iter().any(|l| l.name == p.name) {
                warnings.push(format!(
                    "stage {:?} has parameters but is not in the pipeline; it is not run",
                    p.name
                ));
            }
        }
        let mut field_regs: HashMap<String, FieldRegistry> = HashMap::new();
        let mut stages = Vec::new();
        for (name, follows) in order {
            let param = config.stage(&name).ok_or_else(|| {
                Error::Config(format!(
                    "stage {name:?} is in the pipeline but has no parameters"
                ))
            })?;
            let mut fields = match &follows {
                Some(parent) => field_regs
                    .get(parent)
                    .map(FieldRegistry::fork)
                    .unwrap_or_default(),
                None => FieldRegistry::new(),
            };
            let component = registry.build(
                param,
                &mut BuildContext {
                    stage: &name,
                    fields: &mut fields,
                },
            )?;
            warnings.extend(fields.take_warnings());
            match (&component, &follows) {
                (Component::Source(_), Some(f)) => {
                    return Err(Error::Config(format!(
                        "stage {name:?} is an ingest stage but follows {f:?}"
                    )));
                }
                (Component::Transform(_) | Component::Sink(_), None) => {
                    return Err(Error::Config(format!(
                        "stage {name:?} follows no stage; only ingest stages start a pipeline"
                    )));
                }
                _ => {}
            }
            field_regs.insert(name.clone(), fields);
            stages.push(BuiltStage {
                name,
                component,
                follows,
            });
        }
        for s in &stages {
            let followers = stages
                .iter()
                .filter(|o| o.follows.as_deref() == Some(&s.name))
                .count();
            match (&s.component, followers) {
                (Component::Sink(_), n) if n > 0 => {
                    return Err(Error::Config(format!(
                        "stage {:?} is an encode/write stage and has no output, but {n} stage(s) follow it",
                        s.name
                    )));
                }
                (Component::Source(_) | Component::Transform(_), 0) => warnings.push(format!(
                    "stage {:?} has no following stage: its flows are discarded",
                    s.name
                )),
                _ => {}
            }
        }
        Ok(Pipeline {
            stages,
            warnings,
            metrics,
            capacity: DEFAULT_QUEUE_BATCHES,
        })
    }

    /// Sets the capacity of every input queue, in batches (default [`DEFAULT_QUEUE_BATCHES`]).
    pub fn with_queue_capacity(mut self, batches: usize) -> Self {
        self.capacity = batches.max(1);
        self
    }

    /// Start-up warnings: unknown field names (with the nearest known ones), unused stages.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// The pipeline's metrics.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// Runs every stage until the sources end (end of input, or `shutdown`) and every queued flow
    /// has gone through the sinks. Returns the first stage error, after every stage has stopped.
    pub async fn run(self, shutdown: Shutdown) -> Result<()> {
        let Pipeline {
            stages,
            metrics,
            capacity,
            ..
        } = self;
        let mut receivers: HashMap<String, mpsc::Receiver<_>> = HashMap::new();
        let mut senders: HashMap<String, Vec<mpsc::Sender<_>>> = HashMap::new();
        for s in &stages {
            if let Some(parent) = &s.follows {
                let (tx, rx) = mpsc::channel(capacity);
                receivers.insert(s.name.clone(), rx);
                senders.entry(parent.clone()).or_default().push(tx);
            }
        }
        let mut tasks = Vec::new();
        for s in stages {
            let sm = metrics.stage(&s.name);
            let out = Output::new(senders.remove(&s.name).unwrap_or_default(), sm.clone());
            let name = s.name.clone();
            let handle = match s.component {
                Component::Source(src) => {
                    let ctx = SourceContext {
                        out,
                        shutdown: shutdown.clone(),
                        metrics: sm,
                    };
                    tokio::spawn(async move { src.run(ctx).await })
                }
                Component::Transform(mut t) => {
                    let rx = receivers
                        .remove(&s.name)
                        .ok_or_else(|| Error::Config(format!("stage {name:?} has no input")))?;
                    t.attach_metrics(&sm);
                    let mut input = Input::new(rx, sm);
                    tokio::spawn(async move {
                        while let Some(mut batch) = input.recv().await {
                            batch.flows.retain_mut(|f| t.transform(f));
                            if out.send(batch).await.is_err() {
                                break;
                            }
                        }
                        Ok(())
                    })
                }
                Component::Sink(sink) => {
                    let rx = receivers
                        .remove(&s.name)
                        .ok_or_else(|| Error::Config(format!("stage {name:?} has no input")))?;
                    let input = Input::new(rx, sm);
                    tokio::spawn(async move { sink.run(input).await })
                }
            };
            tasks.push((name, handle));
        }
        let mut first_err = None;
        for (name, handle) in tasks {
            let res = match handle.await {
                Ok(r) => r,
                Err(e) => Err(Error::Config(format!("stage {name:?} panicked: {e}"))),
            };
            if let Err(e) = res {
                tracing::error!(stage = %name, error = %e, "stage failed");
                first_err.get_or_insert(Error::Config(format!("stage {name:?}: {e}")));
            }
        }
        first_err.map_or(Ok(()), Err)
    }
}

/// Checks the stage graph; returns stages in an order where every stage comes after the one it
/// follows, with what it follows.
fn validate(config: &Config) -> Result<Vec<(String, Option<String>)>> {
    if config.pipeline.is_empty() {
        return Err(Error::Config(
            "pipeline is empty: list the stages under `pipeline`".into(),
        ));
    }
    let mut seen = HashSet::new();
    for l in &config.pipeline {
        if !seen.insert(l.name.as_str()) {
            return Err(Error::Config(format!(
                "pipeline: stage {:?} is listed twice",
                l.name
            )));
        }
    }
    let mut pnames = HashSet::new();
    for p in &config.parameters {
        if !pnames.insert(p.name.as_str()) {
            return Err(Error::Config(format!(
                "parameters: stage {:?} is defined twice",
                p.name
            )));
        }
    }
    let follows: HashMap<&str, Option<&str>> = config
        .pipeline
        .iter()
        .map(|l| (l.name.as_str(), l.follows.as_deref()))
        .collect();
    for l in &config.pipeline {
        if let Some(f) = &l.follows
            && !follows.contains_key(f.as_str())
        {
            let mut names: Vec<&str> = follows.keys().copied().collect();
            names.sort();
            return Err(Error::Config(format!(
                "pipeline: stage {:?} follows {f:?}, which is not a stage (stages: {})",
                l.name,
                names.join(", ")
            )));
        }
    }
    // Each stage follows at most one: a cycle is a chain that never reaches a root.
    for l in &config.pipeline {
        let mut cur = l.name.as_str();
        let mut path = vec![cur];
        while let Some(Some(next)) = follows.get(cur) {
            if path.contains(next) {
                path.push(next);
                return Err(Error::Config(format!(
                    "pipeline: cycle {}",
                    path.join(" -> ")
                )));
            }
            path.push(next);
            cur = next;
        }
    }
    let mut order = Vec::new();
    let mut queue: VecDeque<&str> = config
        .pipeline
        .iter()
        .filter(|l| l.follows.is_none())
        .map(|l| l.name.as_str())
        .collect();
    while let Some(n) = queue.pop_front() {
        order.push((
            n.to_string(),
            follows.get(n).copied().flatten().map(str::to_string),
        ));
        for l in &config.pipeline {
            if l.follows.as_deref() == Some(n) {
                queue.push_back(&l.name);
            }
        }
    }
    Ok(order)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(pipeline: &str) -> Config {
        let params = "parameters:\n  - name: a\n    ingest: {type: stdin}\n  - name: b\n    transform: {type: none}\n  - name: c\n    write: {type: none}\n";
        Config::from_yaml(&format!("{pipeline}\n{params}")).unwrap()
    }

    #[test]
    fn graph_errors() {
        let cases = [
            ("pipeline:\n  - name: a\n  - name: a", "listed twice"),
            (
                "pipeline:\n  - name: a\n  - name: b\n    follows: x",
                "not a stage",
            ),
            (
                "pipeline:\n  - name: a\n  - name: b\n    follows: c\n  - name: c\n    follows: b",
                "cycle",
            ),
            (
                "pipeline:\n  - name: a\n  - name: c\n    follows: a\n  - name: b\n    follows: c",
                "has no output",
            ),
            (
                "pipeline:\n  - name: a\n    follows: b\n  - name: b\n    follows: a",
                "cycle",
            ),
            ("pipeline: []", "empty"),
        ];
        let reg = StageRegistry::with_builtins();
        for (p, want) in cases {
            let err = match Pipeline::build(&cfg(p), &reg, Metrics::default()) {
                Err(e) => e.to_string(),
                Ok(_) => panic!("{p}: built"),
            };
            assert!(err.contains(want), "{p}: {err}");
        }
    }

    #[test]
    fn unsupported_and_unknown_types() {
        let reg = StageRegistry::with_builtins();
        let c = Config::from_yaml(
            "pipeline:\n  - name: k\nparameters:\n  - name: k\n    ingest: {type: kafka}\n",
        )
        .unwrap();
        let err = Pipeline::build(&c, &reg, Metrics::default())
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains("stage \"k\"") && err.contains("\"kafka\" is not supported"),
            "{err}"
        );
        let c = Config::from_yaml(
            "pipeline:\n  - name: k\nparameters:\n  - name: k\n    ingest: {type: kafak}\n",
        )
        .unwrap();
        let err = Pipeline::build(&c, &reg, Metrics::default())
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("unknown ingest type \"kafak\""), "{err}");
    }

    #[test]
    fn fan_out_builds() {
        let c = Config::from_yaml(
            "pipeline:\n  - name: a\n  - name: c\n    follows: a\n  - name: d\n    follows: a\nparameters:\n  - name: a\n    ingest: {type: stdin}\n  - name: c\n    write: {type: none}\n  - name: d\n    write: {type: none}\n",
        )
        .unwrap();
        let p = Pipeline::build(&c, &StageRegistry::with_builtins(), Metrics::default()).unwrap();
        assert!(p.warnings().is_empty(), "{:?}", p.warnings());
    }
}
