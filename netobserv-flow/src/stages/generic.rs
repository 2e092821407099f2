//! `transform: {type: generic}`: copy or rename fields, optionally scaling numbers.
//!
//! As upstream: with `policy: replace_keys` the output holds only the rules' outputs; a rule with
//! a `multiplier` drops the flow when its input is absent or not a number (counted in
//! `ingest_errors{stage,kind="multiplier"}` and logged at most once a second). One difference: a
//! rule without multiplier whose input is absent writes nothing, where upstream writes `null`.

use crate::config::{GenericPolicy, TransformGeneric};
use crate::field::{FieldPath, FieldRegistry};
use crate::flow::Flow;
use crate::pipeline::{StageMetrics, Transform};
use crate::value::Value;

#[derive(Clone)]
struct Rule {
    input: FieldPath,
    output: FieldPath,
    multiplier: Option<i64>,
}

/// The generic transform.
#[derive(Clone)]
pub struct Generic {
    rules: Vec<Rule>,
    replace: bool,
    metrics: Option<StageMetrics>,
    scratch: Vec<Option<Value>>,
}

impl Generic {
    /// Builds from config, resolving field names; drops are counted in `metrics`.
    pub fn new(
        cfg: &TransformGeneric,
        stage: &str,
        fields: &mut FieldRegistry,
        metrics: StageMetrics,
    ) -> Self {
        let rules: Vec<Rule> = cfg
            .rules
            .iter()
            .map(|r| Rule {
                input: fields.read(stage, &r.input),
                output: FieldPath::resolve(&r.output),
                multiplier: r.multiplier,
            })
            .collect();
        // Outputs become known after every input is checked: a rule cannot read a later output.
        for r in &cfg.rules {
            fields.write(&r.output);
        }
        Generic {
            rules,
            replace: cfg.policy == Some(GenericPolicy::ReplaceKeys),
            metrics: Some(metrics),
            scratch: Vec::new(),
        }
    }

    /// The rule's output value: `Ok(None)` when there is nothing to write, `Err` when the flow
    /// must be dropped (a multiplier without a number to multiply).
    fn value(rule: &Rule, flow: &Flow) -> Result<Option<Value>, Option<Value>> {
        let v = rule.input.get(flow);
        // Upstream treats a multiplier of 0 as none.
        let Some(m) = rule.multiplier.filter(|m| *m != 0) else {
            return Ok(v);
        };
        Ok(Some(match v {
            Some(Value::UInt(u)) if m >= 0 => Value::UInt(u.saturating_mul(m as u64)),
            Some(Value::UInt(u)) => {
                Value::Int(i64::try_from(u).unwrap_or(i64::MAX).saturating_mul(m))
            }
            Some(Value::Int(i)) => Value::Int(i.saturating_mul(m)),
            Some(Value::Float(f)) => Value::Float(f * m as f64),
            other => return Err(other),
        }))
    }

    fn reject(&self, rule: &Rule, v: Option<Value>) {
        if let Some(m) = &self.metrics {
            let what = v.map_or_else(|| "an absent field".to_string(), |v| format!("{v:?}"));
            m.reject(
                "multiplier",
                format_args!(
                    "{}: cannot multiply {what}; flow dropped",
                    rule.input.name()
                ),
            );
        }
    }
}

impl Transform for Generic {
    fn transform(&mut self, flow: &mut Flow) -> bool {
        // Every rule reads the flow as it came in (upstream reads the input map and writes a new
        // one), so the values are taken before any is written.
        let mut values = std::mem::take(&mut self.scratch);
        values.clear();
        for r in &self.rules {
            match Self::value(r, flow) {
                Ok(v) => values.push(v),
                Err(v) => {
                    self.reject(r, v);
                    self.scratch = values;
                    return false;
                }
            }
        }
        if self.replace {
            *flow = Flow::default();
        }
        for (r, v) in self.rules.iter().zip(values.drain(..)) {
            if let Some(v) = v {
                r.output.set(flow, v);
            }
        }
        self.scratch = values;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::json;
    use crate::config::GenericRule;
    use crate::pipeline::Metrics;

    fn rule(i: &str, o: &str, m: Option<i64>) -> GenericRule {
        GenericRule {
            input: i.into(),
            output: o.into(),
            multiplier: m,
        }
    }

    #[test]
    fn preserve_and_replace() {
        let flow = json::decode(br#"{"SrcAddr":"10.0.0.1","Bytes":100,"Proto":6}"#).unwrap();
        let cfg = TransformGeneric {
            policy: None,
            rules: vec![
                rule("SrcAddr", "srcIP", None),
                rule("Bytes", "Bytes", Some(10)),
            ],
        };
        let mut t = Generic::new(
            &cfg,
            "g",
            &mut FieldRegistry::new(),
            Metrics::default().stage("g"),
        );
        let mut f = flow.clone();
        assert!(t.transform(&mut f));
        assert_eq!(
            json::to_string(&f),
            r#"{"Bytes":1000,"Proto":6,"SrcAddr":"10.0.0.1","srcIP":"10.0.0.1"}"#
        );

        let cfg = TransformGeneric {
            policy: Some(GenericPolicy::ReplaceKeys),
            ..cfg
        };
        let mut t = Generic::new(
            &cfg,
            "g",
            &mut FieldRegistry::new(),
            Metrics::default().stage("g"),
        );
        let mut f = flow;
        t.transform(&mut f);
        assert_eq!(json::to_string(&f), r#"{"Bytes":1000,"srcIP":"10.0.0.1"}"#);
    }

    #[test]
    fn rules_read_the_incoming_flow() {
        let cfg = TransformGeneric {
            policy: None,
            rules: vec![
                rule("SrcPort", "DstPort", None),
                rule("DstPort", "SrcPort", None),
            ],
        };
        let mut t = Generic::new(
            &cfg,
            "g",
            &mut FieldRegistry::new(),
            Metrics::default().stage("g"),
        );
        let mut f = json::decode(br#"{"SrcPort":1,"DstPort":2}"#).unwrap();
        assert!(t.transform(&mut f));
        assert_eq!(json::to_string(&f), r#"{"DstPort":1,"SrcPort":2}"#);
    }

    #[test]
    fn multiplier_without_a_number_drops_the_flow_and_counts_it() {
        let cfg = TransformGeneric {
            policy: None,
            rules: vec![
                rule("Bytes", "Bytes", Some(2)),
                rule("SrcK8S_Name", "n", Some(0)),
            ],
        };
        let metrics = Metrics::default().stage("g");
        let mut t = Generic::new(&cfg, "g", &mut FieldRegistry::new(), metrics.clone());
        let mut ok = json::decode(br#"{"Bytes":21,"SrcK8S_Name":"a"}"#).unwrap();
        assert!(t.transform(&mut ok));
        assert_eq!(
            json::to_string(&ok),
            r#"{"Bytes":42,"SrcK8S_Name":"a","n":"a"}"#
        );
        let mut absent = json::decode(br#"{"Packets":1}"#).unwrap();
        assert!(!t.transform(&mut absent));
        let mut text = json::decode(br#"{"Bytes":1}"#).unwrap();
        text.clear_bytes();
        text.extra_insert("Bytes", Value::str("many"));
        assert!(!t.transform(&mut text));
        assert_eq!(metrics.errors("multiplier"), 2);
    }
}
