//! Building a pipeline from a [`Config`]: graph checks, the factories (async), health checks.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::time::Duration;

use super::component::{Component, Healthcheck};
use super::metrics::Metrics;
use super::registry::{BuildContext, Missing, StageRegistry};
use crate::config::{Config, HealthcheckMode, StageKind};
use crate::error::{ConfigErrorKind, HealthcheckFailure, UnsupportedStage};
use crate::field::FieldRegistry;
use crate::{Error, Result};

/// Default drain deadline: under Kubernetes' 30 s termination grace period.
pub const DEFAULT_DRAIN_TIMEOUT: Duration = Duration::from_secs(25);
/// Default capacity of a stage's input queue, in batches.
pub const DEFAULT_QUEUE_BATCHES: usize = 16;
/// Default capacity of a stage's input queue, in bytes.
pub const DEFAULT_QUEUE_MAX_BYTES: usize = 64 << 20;
/// Default time a health check may take.
pub const DEFAULT_HEALTHCHECK_TIMEOUT: Duration = Duration::from_secs(10);

/// How a pipeline runs: read from the config's `runtime` section, overridden by the binaries'
/// flags.
#[derive(Debug, Clone, PartialEq)]
pub struct RuntimeOptions {
    /// Workers per segment of the per-flow path, and shards of keyed stateful stages.
    pub workers: usize,
    /// How long a drain may take before what is left is reported lost.
    pub drain_timeout: Duration,
    /// What a failed health check does.
    pub healthchecks: HealthcheckMode,
    /// How long a health check may take.
    pub healthcheck_timeout: Duration,
    /// Batches a queue holds.
    pub queue_batches: usize,
    /// Bytes a queue holds.
    pub queue_max_bytes: usize,
}

impl Default for RuntimeOptions {
    fn default() -> Self {
        RuntimeOptions {
            workers: std::thread::available_parallelism().map_or(1, |n| n.get()),
            drain_timeout: DEFAULT_DRAIN_TIMEOUT,
            healthchecks: HealthcheckMode::Require,
            healthcheck_timeout: DEFAULT_HEALTHCHECK_TIMEOUT,
            queue_batches: DEFAULT_QUEUE_BATCHES,
            queue_max_bytes: DEFAULT_QUEUE_MAX_BYTES,
        }
    }
}

impl RuntimeOptions {
    /// The defaults with the config's `runtime` section applied.
    pub fn from_config(config: &Config) -> Self {
        let mut o = RuntimeOptions::default();
        if let Some(r) = &config.runtime {
            if let Some(w) = r.workers {
                o.workers = w.max(1);
            }
            if let Some(d) = r.drain_timeout {
                o.drain_timeout = d.0;
            }
            if let Some(m) = r.healthchecks {
                o.healthchecks = m;
            }
            if let Some(d) = r.healthcheck_timeout {
                o.healthcheck_timeout = d.0;
            }
            if let Some(b) = r.queue_batches {
                o.queue_batches = b.max(1);
            }
            if let Some(b) = r.queue_max_bytes {
                o.queue_max_bytes = b.max(1);
            }
        }
        o
    }

    /// Sets the number of workers (at least 1).
    pub fn with_workers(mut self, n: usize) -> Self {
        self.workers = n.max(1);
        self
    }

    /// Sets the drain deadline.
    pub fn with_drain_timeout(mut self, d: Duration) -> Self {
        self.drain_timeout = d;
        self
    }

    /// Sets what a failed health check does.
    pub fn with_healthchecks(mut self, m: HealthcheckMode) -> Self {
        self.healthchecks = m;
        self
    }

    /// Sets the queue capacity in batches (at least 1).
    pub fn with_queue_batches(mut self, n: usize) -> Self {
        self.queue_batches = n.max(1);
        self
    }

    /// Sets the queue capacity in bytes.
    pub fn with_queue_max_bytes(mut self, n: usize) -> Self {
        self.queue_max_bytes = n.max(1);
        self
    }
}

/// A built stage in the graph.
pub(crate) struct Node {
    pub(crate) name: String,
    pub(crate) parents: Vec<usize>,
    pub(crate) component: Component,
}

/// A pipeline ready to run.
pub struct Pipeline {
    pub(crate) nodes: Vec<Node>,
    pub(crate) warnings: Vec<String>,
    pub(crate) metrics: Metrics,
    pub(crate) options: RuntimeOptions,
}

impl std::fmt::Debug for Pipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pipeline")
            .field(
                "stages",
                &self.nodes.iter().map(|n| &n.name).collect::<Vec<_>>(),
            )
            .field("options", &self.options)
            .finish()
    }
}

impl Pipeline {
    /// Checks the stage graph, builds every stage and runs the sinks' health checks, with the
    /// options of the config's `runtime` section.
    pub async fn build(
        config: &Config,
        registry: &StageRegistry,
        metrics: Metrics,
    ) -> Result<Pipeline> {
        Self::build_with(
            config,
            registry,
            metrics,
            RuntimeOptions::from_config(config),
        )
        .await
    }

    /// [`Self::build`] with explicit options.
    pub async fn build_with(
        config: &Config,
        registry: &StageRegistry,
        metrics: Metrics,
        options: RuntimeOptions,
    ) -> Result<Pipeline> {
        let order = validate(config)?;
        let mut warnings = Vec::new();
        if config.dynamic_parameters.is_some() {
            warnings.push(
                "dynamicParameters: this build does not fetch stages from Kubernetes; the stages it would add must be listed under parameters".to_string(),
            );
        }
        for p in &config.parameters {
            if !config.pipeline.iter().any(|l| l.name == p.name) {
                warnings.push(format!(
                    "stage {:?} has parameters but is not in the pipeline; it is not run",
                    p.name
                ));
            }
        }
        // Every stage's parameters and type first, so that all the stages this build cannot
        // run are named at once, before any factory connects anywhere.
        let mut planned = Vec::new();
        let mut unsupported = Vec::new();
        for (name, parents) in &order {
            let (index, param) = config
                .parameters
                .iter()
                .enumerate()
                .find(|(_, p)| &p.name == name)
                .ok_or_else(|| ConfigErrorKind::NoParameters {
                    stage: name.clone(),
                })?;
            let (kind, section) = param.kind()?;
            match registry.factory(kind, &section.type_name) {
                Ok(f) => {
                    let unknown: Vec<String> = section
                        .settings
                        .keys()
                        .filter(|k| !f.keys.contains(k))
                        .cloned()
                        .collect();
                    if !unknown.is_empty() {
                        return Err(ConfigErrorKind::UnknownKeys {
                            stage: name.clone(),
                            path: format!("parameters[{index}].{kind}"),
                            kind,
                            type_name: section.type_name.clone(),
                            keys: unknown,
                            reads: f.keys.clone(),
                        }
                        .into());
                    }
                    planned.push((name, parents, index, kind, section, f.factory))
                }
                Err(missing) => unsupported.push(UnsupportedStage {
                    stage: name.clone(),
                    kind,
                    type_name: section.type_name.clone(),
                    known: match missing {
                        Missing::NotIncluded => None,
                        Missing::Unknown(k) => Some(k),
                    },
                }),
            }
        }
        if !unsupported.is_empty() {
            return Err(Error::Unsupported(unsupported));
        }
        let mut index_of: HashMap<&str, usize> = HashMap::new();
        let mut field_regs: Vec<FieldRegistry> = Vec::new();
        let mut nodes: Vec<Node> = Vec::new();
        for (name, parent_names, param_index, kind, section, factory) in planned {
            let parents: Vec<usize> = parent_names.iter().map(|p| index_of[p.as_str()]).collect();
            let mut fields = FieldRegistry::new();
            for p in &parents {
                fields.merge(&field_regs[*p]);
            }
            let mut cx = BuildContext {
                stage: name,
                kind,
                section,
                path: format!("parameters[{param_index}].{kind}"),
                fields: &mut fields,
                metrics: metrics.stage(name),
                registry: metrics.registry().clone(),
                metrics_prefix: metrics.prefix().into(),
                workers: options.workers,
            };
            let component = factory.build(&mut cx).await?;
            check_shape(name, kind, &parents, &component)?;
            warnings.extend(fields.take_warnings());
            index_of.insert(name, nodes.len());
            field_regs.push(fields);
            nodes.push(Node {
                name: name.clone(),
                parents,
                component,
            });
        }
        for (i, n) in nodes.iter().enumerate() {
            let followers = nodes.iter().filter(|o| o.parents.contains(&i)).count();
            match (&n.component, followers) {
                (Component::Sink { .. }, f) if f > 0 => {
                    return Err(ConfigErrorKind::SinkFollowed {
                        stage: n.name.clone(),
                        followers: f,
                    }
                    .into());
                }
                (Component::Sink { .. }, _) => {}
                (_, 0) => warnings.push(format!(
                    "stage {:?} has no following stage: its flows are discarded",
                    n.name
                )),
                _ => {}
            }
        }
        let mut p = Pipeline {
            nodes,
            warnings,
            metrics,
            options,
        };
        p.run_healthchecks().await?;
        Ok(p)
    }

    async fn run_healthchecks(&mut self) -> Result<()> {
        let mode = self.options.healthchecks;
        let timeout = self.options.healthcheck_timeout;
        let mut checks = tokio::task::JoinSet::new();
        let mut checked = HashMap::new();
        for n in &mut self.nodes {
            if let Component::Sink { healthcheck, .. } = &mut n.component
                && let Some(Healthcheck { endpoint, check }) = healthcheck.take()
                && mode != HealthcheckMode::Off
            {
                let stage = n.name.clone();
                let what = (stage.clone(), endpoint.clone());
                let h = checks.spawn(async move {
                    let res = match tokio::time::timeout(timeout, check).await {
                        Ok(r) => r,
                        Err(_) => Err(format!("no answer within {timeout:?}").into()),
                    };
                    (stage, endpoint, res)
                });
                checked.insert(h.id(), what);
            }
        }
        let mut failures = Vec::new();
        while let Some(done) = checks.join_next().await {
            match done {
                Ok((_, _, Ok(()))) => {}
                Ok((stage, endpoint, Err(error))) => failures.push(HealthcheckFailure {
                    stage,
                    endpoint,
                    error,
                }),
                Err(e) => {
                    let (stage, endpoint) = checked.remove(&e.id()).unwrap_or_default();
                    failures.push(HealthcheckFailure {
                        stage,
                        endpoint,
                        error: format!("the health check panicked: {e}").into(),
                    });
                }
            }
        }
        failures.sort_by(|a, b| a.stage.cmp(&b.stage));
        if failures.is_empty() {
            return Ok(());
        }
        if mode == HealthcheckMode::Require {
            return Err(Error::Healthcheck(failures));
        }
        for f in failures {
            let w = format!(
                "stage {:?}: health check of {} failed: {} (starting anyway: healthchecks is warn)",
                f.stage, f.endpoint, f.error
            );
            tracing::warn!("{w}");
            self.warnings.push(w);
        }
        Ok(())
    }

    /// Start-up warnings: unknown field names (with the nearest known ones), unused stages,
    /// health checks that failed in `warn` mode.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// The pipeline's metrics.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// The options it runs with.
    pub fn options(&self) -> &RuntimeOptions {
        &self.options
    }

    /// The stage names, in an order where each comes after those it follows.
    pub fn stages(&self) -> impl Iterator<Item = &str> {
        self.nodes.iter().map(|n| n.name.as_str())
    }
}

fn check_shape(name: &str, kind: StageKind, parents: &[usize], c: &Component) -> Result<()> {
    let bad = |why: String| {
        Err(ConfigErrorKind::Graph {
            stage: name.to_string(),
            message: why,
        }
        .into())
    };
    match c {
        Component::Source(_) if kind != StageKind::Ingest => {
            bad(format!("a {kind} stage cannot be a source"))
        }
        Component::Source(_) if !parents.is_empty() => {
            bad("an ingest stage follows no stage: remove its `follows`".into())
        }
        Component::Source(_) => Ok(()),
        _ if kind == StageKind::Ingest => bad(format!("an ingest stage built {}", c.what())),
        _ if parents.is_empty() => {
            bad("follows no stage; only ingest stages start a pipeline".into())
        }
        Component::Stateful { shards, .. } if shards.is_empty() => {
            bad("a stateful stage with no instance".into())
        }
        Component::Stateful { shards, key: None } if shards.len() > 1 => {
            bad("a stateful stage with several shards needs a shard key".into())
        }
        _ => Ok(()),
    }
}

/// Checks the stage graph; returns stages in an order where every stage comes after those it
/// follows, each with the stages it follows.
fn validate(config: &Config) -> Result<Vec<(String, Vec<String>)>> {
    if config.pipeline.is_empty() {
        return Err(ConfigErrorKind::EmptyPipeline.into());
    }
    let mut seen = BTreeSet::new();
    for l in &config.pipeline {
        if !seen.insert(l.name.as_str()) {
            return Err(ConfigErrorKind::DuplicateStage {
                stage: l.name.clone(),
                path: "pipeline".into(),
            }
            .into());
        }
    }
    let mut pnames = BTreeSet::new();
    for p in &config.parameters {
        if !pnames.insert(p.name.as_str()) {
            return Err(ConfigErrorKind::DuplicateStage {
                stage: p.name.clone(),
                path: "parameters".into(),
            }
            .into());
        }
    }
    for l in &config.pipeline {
        let mut once = BTreeSet::new();
        for f in l.follows.names() {
            if !seen.contains(f.as_str()) {
                return Err(ConfigErrorKind::UnknownFollows {
                    stage: l.name.clone(),
                    follows: f.clone(),
                    stages: seen.iter().map(|s| s.to_string()).collect(),
                }
                .into());
            }
            if !once.insert(f.as_str()) {
                return Err(ConfigErrorKind::FollowsTwice {
                    stage: l.name.clone(),
                    follows: f.clone(),
                }
                .into());
            }
        }
    }
    // Kahn's algorithm; what is left over lies on or behind a cycle.
    let mut pending: HashMap<&str, usize> = config
        .pipeline
        .iter()
        .map(|l| (l.name.as_str(), l.follows.names().len()))
        .collect();
    let mut queue: VecDeque<&str> = config
        .pipeline
        .iter()
        .filter(|l| l.follows.is_empty())
        .map(|l| l.name.as_str())
        .collect();
    let mut order = Vec::new();
    while let Some(n) = queue.pop_front() {
        let link = config.pipeline.iter().find(|l| l.name == n);
        order.push((
            n.to_string(),
            link.map(|l| l.follows.names().to_vec()).unwrap_or_default(),
        ));
        for l in &config.pipeline {
            if l.follows.names().iter().any(|f| f == n)
                && let Some(c) = pending.get_mut(l.name.as_str())
            {
                *c -= 1;
                if *c == 0 {
                    queue.push_back(&l.name);
                }
            }
        }
    }
    if order.len() < config.pipeline.len() {
        return Err(ConfigErrorKind::Cycle {
            cycle: find_cycle(config),
        }
        .into());
    }
    Ok(order)
}

/// A cycle of the graph, `a`, `b`, `a` (following `follows` links); empty when there is none.
fn find_cycle(config: &Config) -> Vec<String> {
    let follows = |n: &str| -> Vec<&str> {
        config
            .pipeline
            .iter()
            .find(|l| l.name == n)
            .map(|l| l.follows.names().iter().map(String::as_str).collect())
            .unwrap_or_default()
    };
    for start in &config.pipeline {
        let mut path = vec![start.name.as_str()];
        let mut stack = vec![follows(&start.name)];
        while let Some(next) = stack.last_mut() {
            match next.pop() {
                Some(n) if n == start.name => {
                    path.push(n);
                    return path.into_iter().map(str::to_string).collect();
                }
                Some(n) if !path.contains(&n) => {
                    path.push(n);
                    stack.push(follows(n));
                }
                Some(_) => {}
                None => {
                    stack.pop();
                    path.pop();
                }
            }
        }
    }
    Vec::new()
}
