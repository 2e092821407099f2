//! `transform: {type: generic}`: copy or rename fields, optionally scaling numbers.

use crate::config::{GenericPolicy, TransformGeneric};
use crate::field::{FieldPath, FieldRegistry};
use crate::flow::Flow;
use crate::pipeline::Transform;
use crate::value::Value;

struct Rule {
    input: FieldPath,
    output: FieldPath,
    multiplier: Option<i64>,
}

/// The generic transform.
pub struct Generic {
    rules: Vec<Rule>,
    replace: bool,
}

impl Generic {
    /// Builds from config, resolving field names.
    pub fn new(cfg: &TransformGeneric, stage: &str, fields: &mut FieldRegistry) -> Self {
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
        }
    }

    fn value(rule: &Rule, flow: &Flow) -> Option<Value> {
        let v = rule.input.get(flow)?;
        Some(match rule.multiplier {
            Some(m) if m != 1 => match v {
                Value::UInt(u) if m >= 0 => Value::UInt(u.saturating_mul(m as u64)),
                Value::UInt(u) => Value::Int((u as i64).saturating_mul(m)),
                Value::Int(i) => Value::Int(i.saturating_mul(m)),
                Value::Float(f) => Value::Float(f * m as f64),
                other => other,
            },
            _ => v,
        })
    }
}

impl Transform for Generic {
    fn transform(&mut self, flow: &mut Flow) -> bool {
        if self.replace {
            let old = std::mem::take(flow);
            for r in &self.rules {
                if let Some(v) = Self::value(r, &old) {
                    r.output.set(flow, v);
                }
            }
        } else {
            for r in &self.rules {
                if let Some(v) = Self::value(r, flow) {
                    r.output.set(flow, v);
                }
            }
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::json;
    use crate::config::GenericRule;

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
        let mut t = Generic::new(&cfg, "g", &mut FieldRegistry::new());
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
        let mut t = Generic::new(&cfg, "g", &mut FieldRegistry::new());
        let mut f = flow;
        t.transform(&mut f);
        assert_eq!(json::to_string(&f), r#"{"Bytes":1000,"srcIP":"10.0.0.1"}"#);
    }
}
