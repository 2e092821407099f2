//! `transform: {type: filter}` with every rule type flowlogs-pipeline documents.
//!
//! As upstream: `keep_entry_query` rules are decided first, together, wherever they appear: when a
//! stage has any, a flow is kept only if one of them matches and its `keepEntrySampling` (1 in N)
//! lets it through; a match that is sampled out falls through to the next keep rule. Sampling
//! keeps every N-th matching flow (deterministic, the same rate as upstream's random draw); when
//! `samplingField` is set, the kept flow's field is multiplied by N (set to N when absent).
//! Then the other rules run in order; a `remove_entry_*` rule that matches drops the flow at once.
//!
//! `add_field_if` tests `<input> <parameters>` (for example `parameters: ">=10"`), then sets the
//! output to the assignee and `<output>_Evaluate` to `true`; `add_regex_if` sets the output to the
//! input's value and `<output>_Matched` to `true`. `add_label` / `add_label_if` collect labels
//! that end up in one string field, `labels`: `key=value` pairs joined by commas (upstream joins
//! them in Go's random map order; here they are sorted by key).

use std::sync::Arc;

use crate::compare::{Numbers, Op, Operand, holds};
use crate::config::{
    FilterGeneric, FilterRule, FilterRuleType, FilterWithAssignee, RemoveEntryRule, TransformFilter,
};
use crate::field::{FieldPath, FieldRegistry};
use crate::flow::{FieldRef, Flow};
use crate::pipeline::Transform;
use crate::query::Query;
use crate::value::Value;
use crate::{ConfigError, ConfigErrorKind, Result};

/// A value test from `add_field_if` / `add_label_if` parameters: `>=10`, `==5`, `!="x"`, `<3.5`.
///
/// Decided by [`crate::compare`] with [`Numbers::Exact`], as upstream's govaluate compares:
/// a bare number compares numerically, anything else (quoted, or not a number) with the field's
/// text form, ordering included; an absent field satisfies only `!=`.
#[derive(Debug, Clone)]
pub struct Condition {
    op: Op,
    operand: Operand,
}

impl Condition {
    /// Parses `<op><value>`, a `parameters` value of stage `stage` at YAML path `path`.
    pub fn parse(stage: &str, path: &str, s: &str) -> Result<Condition> {
        let s = s.trim();
        let ops = [
            ("==", Op::Eq),
            ("!=", Op::Ne),
            (">=", Op::Ge),
            ("<=", Op::Le),
            (">", Op::Gt),
            ("<", Op::Lt),
            ("=", Op::Eq),
        ];
        let (token, op) = ops.iter().find(|(t, _)| s.starts_with(t)).ok_or_else(|| {
            ConfigError::invalid(
                stage,
                Some(path),
                format_args!("condition {s:?} must start with one of ==, !=, >=, <=, >, <"),
            )
        })?;
        let rest = s[token.len()..].trim();
        let text = rest.trim_matches(|c| c == '"' || c == '\'');
        let operand = if text.len() != rest.len() {
            Operand::text(text)
        } else {
            Operand::number_or_text(text)
        };
        Ok(Condition { op: *op, operand })
    }

    /// Tests a value; `None` is an absent field.
    pub fn test(&self, v: Option<&FieldRef<'_>>) -> bool {
        holds(v, self.op, &self.operand, Numbers::Exact)
    }
}

#[derive(Debug, Clone)]
enum RemoveKind {
    Exists,
    DoesntExist,
    Equal,
    NotEqual,
}

#[derive(Debug, Clone)]
struct RemoveCond {
    kind: RemoveKind,
    field: FieldPath,
    value: Operand,
    numbers: Numbers,
}

impl RemoveCond {
    fn holds(&self, flow: &Flow) -> bool {
        match self.kind {
            RemoveKind::Exists => self.field.has(flow),
            RemoveKind::DoesntExist => !self.field.has(flow),
            RemoveKind::Equal | RemoveKind::NotEqual => {
                // As upstream: neither rule removes a flow that lacks the field.
                let Some(v) = self.field.get_ref(flow) else {
                    return false;
                };
                let eq = holds(Some(&v), Op::Eq, &self.value, self.numbers);
                eq == matches!(self.kind, RemoveKind::Equal)
            }
        }
    }
}

#[derive(Debug, Clone)]
enum Rule {
    RemoveField(FieldPath),
    Remove(RemoveCond),
    RemoveAll(Vec<RemoveCond>),
    Sample(Vec<(u16, Vec<RemoveCond>, u64)>),
    AddField(FieldPath, Value, bool),
    AddFieldIf {
        input: FieldPath,
        output: FieldPath,
        eval: FieldPath,
        cond: Condition,
        assignee: Option<Value>,
    },
    AddRegexIf {
        input: FieldPath,
        output: FieldPath,
        matched: FieldPath,
        re: Operand,
    },
    AddLabel(Arc<str>, Arc<str>),
    AddLabelIf {
        input: FieldPath,
        key: Arc<str>,
        cond: Condition,
        assignee: Arc<str>,
    },
}

/// The filter transform.
#[derive(Debug, Clone)]
pub struct Filter {
    rules: Vec<Rule>,
    keep: Vec<(Query, u16, u64)>,
    sampling_field: Option<FieldPath>,
    /// The `labels` field, when the stage has label rules.
    labels: Option<FieldPath>,
}

/// The rule type as the config writes it (`add_field`).
fn rule_name(ty: FilterRuleType) -> String {
    serde_json::to_value(ty)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_else(|| format!("{ty:?}"))
}

fn need<'a, T>(
    stage: &str,
    path: &str,
    r: &FilterRule,
    key: &str,
    v: Option<&'a T>,
) -> Result<&'a T> {
    v.ok_or_else(|| {
        ConfigErrorKind::MissingSection {
            stage: stage.to_string(),
            path: Some(path.to_string()),
            owner: format!("filter rule {:?}", rule_name(r.r#type)),
            key: key.to_string(),
        }
        .into()
    })
}

fn config_value(v: &Option<serde_json::Value>) -> Value {
    v.as_ref().map(Value::from_json).unwrap_or(Value::Null)
}

fn remove_cond(
    stage: &str,
    path: &str,
    ty: FilterRuleType,
    g: &FilterGeneric,
    fields: &mut FieldRegistry,
) -> Result<RemoveCond> {
    let kind = match ty {
        FilterRuleType::RemoveEntryIfExists => RemoveKind::Exists,
        FilterRuleType::RemoveEntryIfDoesntExist => RemoveKind::DoesntExist,
        FilterRuleType::RemoveEntryIfEqual => RemoveKind::Equal,
        FilterRuleType::RemoveEntryIfNotEqual => RemoveKind::NotEqual,
        other => {
            return Err(ConfigError::invalid(
                stage,
                Some(path),
                format_args!(
                    "{:?} is not a remove_entry_if_* rule type",
                    rule_name(other)
                ),
            )
            .into());
        }
    };
    // `castInt: true` makes the value an integer (upstream's preprocess) and compares the
    // field's number truncated; without it numbers compare by value, whatever their Go type.
    let value = Operand::from_value(&config_value(&g.value));
    let (value, numbers) = if g.cast_int.unwrap_or(false) {
        (value.truncated(), Numbers::CastInt)
    } else {
        (value, Numbers::Exact)
    };
    Ok(RemoveCond {
        kind,
        field: fields.read(stage, &g.input),
        value,
        numbers,
    })
}

/// The conditions of a list of rules at YAML path `path`.
fn remove_conds(
    stage: &str,
    path: &str,
    rules: &[RemoveEntryRule],
    fields: &mut FieldRegistry,
) -> Result<Vec<RemoveCond>> {
    rules
        .iter()
        .enumerate()
        .map(|(i, r)| {
            remove_cond(
                stage,
                &format!("{path}[{i}]"),
                r.r#type,
                &r.remove_entry,
                fields,
            )
        })
        .collect()
}

fn sample(every: u16, counter: &mut u64) -> bool {
    if every <= 1 {
        return true;
    }
    *counter += 1;
    if *counter >= u64::from(every) {
        *counter = 0;
        true
    } else {
        false
    }
}

impl Filter {
    /// Builds from config, resolving field names and compiling queries and regular expressions;
    /// `path` is the YAML path of the settings (`parameters[1].transform.filter`), which errors
    /// name.
    pub fn new(
        cfg: &TransformFilter,
        stage: &str,
        path: &str,
        fields: &mut FieldRegistry,
    ) -> Result<Filter> {
        use FilterRuleType as T;
        let mut rules = Vec::new();
        // Keep rules first, as they run first: their names are checked against what earlier
        // stages produce, not against what this stage's other rules add.
        let mut keep = Vec::new();
        let rule_path = |i: usize| format!("{path}.rules[{i}]");
        for (i, r) in cfg.rules.iter().enumerate() {
            if r.r#type != T::KeepEntryQuery {
                continue;
            }
            let at = rule_path(i);
            let q = need(stage, &at, r, "keepEntryQuery", r.keep_entry_query.as_ref())?;
            let q = Query::parse_checked(q, stage, fields).map_err(|source| {
                ConfigErrorKind::Query {
                    stage: stage.to_string(),
                    path: Some(at),
                    source,
                }
            })?;
            keep.push((q, r.keep_entry_sampling.unwrap_or(0), 0));
        }
        for (i, r) in cfg.rules.iter().enumerate() {
            let at = rule_path(i);
            match r.r#type {
                T::RemoveField => {
                    let g = need(stage, &at, r, "removeField", r.remove_field.as_ref())?;
                    rules.push(Rule::RemoveField(fields.read(stage, &g.input)));
                }
                T::RemoveEntryIfExists
                | T::RemoveEntryIfDoesntExist
                | T::RemoveEntryIfEqual
                | T::RemoveEntryIfNotEqual => {
                    let g = need(stage, &at, r, "removeEntry", r.remove_entry.as_ref())?;
                    rules.push(Rule::Remove(remove_cond(stage, &at, r.r#type, g, fields)?));
                }
                T::RemoveEntryAllSatisfied => {
                    let all = need(
                        stage,
                        &at,
                        r,
                        "removeEntryAllSatisfied",
                        r.remove_entry_all_satisfied.as_ref(),
                    )?;
                    rules.push(Rule::RemoveAll(remove_conds(
                        stage,
                        &format!("{at}.removeEntryAllSatisfied"),
                        all,
                        fields,
                    )?));
                }
                T::ConditionalSampling => {
                    let conds = need(
                        stage,
                        &at,
                        r,
                        "conditionalSampling",
                        r.conditional_sampling.as_ref(),
                    )?;
                    let mut out = Vec::new();
                    for (j, c) in conds.iter().enumerate() {
                        let list = format!("{at}.conditionalSampling[{j}].rules");
                        out.push((c.value, remove_conds(stage, &list, &c.rules, fields)?, 0));
                    }
                    rules.push(Rule::Sample(out));
                }
                T::KeepEntryQuery => {}
                T::AddLabel => {
                    let g = need(stage, &at, r, "addLabel", r.add_label.as_ref())?;
                    let v = config_value(&g.value).to_string();
                    rules.push(Rule::AddLabel(g.input.as_str().into(), v.into()));
                }
                T::AddField | T::AddFieldIfDoesntExist => {
                    let (key, g) = match r.r#type {
                        T::AddField => ("addField", r.add_field.as_ref()),
                        _ => (
                            "addFieldIfDoesntExist",
                            r.add_field_if_doesnt_exist.as_ref(),
                        ),
                    };
                    let g = need(stage, &at, r, key, g)?;
                    rules.push(Rule::AddField(
                        fields.write(&g.input),
                        config_value(&g.value),
                        r.r#type == T::AddFieldIfDoesntExist,
                    ));
                }
                T::AddFieldIf => {
                    let a = need(stage, &at, r, "addFieldIf", r.add_field_if.as_ref())?;
                    rules.push(Rule::AddFieldIf {
                        input: fields.read(stage, &a.input),
                        cond: Condition::parse(stage, &at, &a.parameters)?,
                        eval: fields.write(&format!("{}_Evaluate", a.output)),
                        output: fields.write(&a.output),
                        assignee: a.assignee.as_deref().map(Value::str),
                    });
                }
                T::AddRegexIf => {
                    let a: &FilterWithAssignee =
                        need(stage, &at, r, "addRegexIf", r.add_regex_if.as_ref())?;
                    let re =
                        Operand::regex(&a.parameters).map_err(|source| ConfigErrorKind::Regex {
                            stage: stage.to_string(),
                            path: Some(at.clone()),
                            rule: "add_regex_if".into(),
                            pattern: a.parameters.clone(),
                            source,
                        })?;
                    rules.push(Rule::AddRegexIf {
                        input: fields.read(stage, &a.input),
                        matched: fields.write(&format!("{}_Matched", a.output)),
                        output: fields.write(&a.output),
                        re,
                    });
                }
                T::AddLabelIf => {
                    let a = need(stage, &at, r, "addLabelIf", r.add_label_if.as_ref())?;
                    rules.push(Rule::AddLabelIf {
                        input: fields.read(stage, &a.input),
                        key: a.output.as_str().into(),
                        cond: Condition::parse(stage, &at, &a.parameters)?,
                        assignee: a.assignee.as_deref().unwrap_or_default().into(),
                    });
                }
            }
        }
        let sampling_field = cfg.sampling_field.as_deref().map(|f| fields.write(f));
        let labels = rules
            .iter()
            .any(|r| matches!(r, Rule::AddLabel(..) | Rule::AddLabelIf { .. }))
            .then(|| fields.write("labels"));
        Ok(Filter {
            rules,
            keep,
            sampling_field,
            labels,
        })
    }

    /// Whether the keep rules keep the flow (sampling it into `samplingField`).
    fn keep(&mut self, flow: &mut Flow) -> bool {
        for (q, n, counter) in &mut self.keep {
            if !q.matches(flow) {
                continue;
            }
            if *n == 0 {
                return true;
            }
            if sample(*n, counter) {
                if let Some(sf) = &self.sampling_field {
                    // Upstream multiplies an integer value (0 counts as 1), sets an absent one and
                    // leaves anything else alone.
                    let v = match sf.get(flow) {
                        None | Some(Value::Null) => Some(u64::from(*n)),
                        Some(cur) => cur.as_u64().map(|c| c.max(1).saturating_mul(u64::from(*n))),
                    };
                    if let Some(v) = v {
                        sf.set(flow, Value::UInt(v));
                    }
                }
                return true;
            }
        }
        false
    }
}

impl Transform for Filter {
    fn transform(&mut self, flow: &mut Flow) -> bool {
        if !self.keep.is_empty() && !self.keep(flow) {
            return false;
        }
        let mut labels: Vec<(Arc<str>, Arc<str>)> = Vec::new();
        for rule in &mut self.rules {
            match rule {
                Rule::RemoveField(f) => f.remove(flow),
                Rule::Remove(c) => {
                    if c.holds(flow) {
                        return false;
                    }
                }
                Rule::RemoveAll(cs) => {
                    if cs.iter().all(|c| c.holds(flow)) {
                        return false;
                    }
                }
                Rule::Sample(conds) => {
                    // The first condition that holds decides; sampling here does not touch
                    // `samplingField` (upstream neither).
                    if let Some((n, _, counter)) = conds
                        .iter_mut()
                        .find(|(_, cs, _)| cs.iter().all(|c| c.holds(flow)))
                        && !sample(*n, counter)
                    {
                        return false;
                    }
                }
                Rule::AddField(f, v, only_if_absent) => {
                    if !*only_if_absent || !f.has(flow) {
                        f.set(flow, v.clone());
                    }
                }
                Rule::AddFieldIf {
                    input,
                    output,
                    eval,
                    cond,
                    assignee,
                } => {
                    // Upstream evaluates an absent input as `nil`, which `!=` anything holds
                    // for; the output then gets the assignee, or null.
                    if cond.test(input.get_ref(flow).as_ref()) {
                        let v = match assignee {
                            Some(a) => a.clone(),
                            None => input.get(flow).unwrap_or(Value::Null),
                        };
                        output.set(flow, v);
                        eval.set(flow, Value::Bool(true));
                    }
                }
                Rule::AddRegexIf {
                    input,
                    output,
                    matched,
                    re,
                } => {
                    let hit = input
                        .get_ref(flow)
                        .is_some_and(|v| holds(Some(&v), Op::Match, re, Numbers::Exact));
                    if hit && let Some(v) = input.get(flow) {
                        output.set(flow, v);
                        matched.set(flow, Value::Bool(true));
                    }
                }
                Rule::AddLabel(key, value) => labels.push((key.clone(), value.clone())),
                Rule::AddLabelIf {
                    input,
                    key,
                    cond,
                    assignee,
                } => {
                    if cond.test(input.get_ref(flow).as_ref()) {
                        labels.push((key.clone(), assignee.clone()));
                    }
                }
            }
        }
        if let Some(field) = &self.labels
            && !labels.is_empty()
        {
            // A later rule's value for a key wins, as in upstream's map.
            labels.reverse();
            labels.sort_by(|a, b| a.0.cmp(&b.0));
            labels.dedup_by(|later, earlier| later.0 == earlier.0);
            let mut text = String::new();
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    text.push(',');
                }
                text.push_str(k);
                text.push('=');
                text.push_str(v);
            }
            field.set(flow, Value::str(text));
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::json;

    fn filter(yaml: &str) -> Filter {
        let cfg: TransformFilter = serde_yaml_ng::from_str(yaml).unwrap();
        Filter::new(&cfg, "f", "filter", &mut FieldRegistry::new()).unwrap()
    }

    fn run(f: &mut Filter, line: &str) -> Option<String> {
        let mut flow = json::decode(line.as_bytes()).unwrap();
        f.transform(&mut flow).then(|| json::to_string(&flow))
    }

    #[test]
    fn remove_rules() {
        let mut f = filter(
            r#"
rules:
  - type: remove_field
    removeField: {input: Dscp}
  - type: remove_entry_if_equal
    removeEntry: {input: Proto, value: 17}
  - type: remove_entry_if_not_equal
    removeEntry: {input: Etype, value: 2048}
  - type: remove_entry_if_exists
    removeEntry: {input: Dropme}
  - type: remove_entry_all_satisfied
    removeEntryAllSatisfied:
      - type: remove_entry_if_equal
        removeEntry: {input: SrcK8S_Namespace, value: ns1}
      - type: remove_entry_if_doesnt_exist
        removeEntry: {input: DstK8S_Namespace}
"#,
        );
        assert_eq!(
            run(&mut f, r#"{"Proto":6,"Dscp":0}"#).as_deref(),
            Some(r#"{"Proto":6}"#)
        );
        assert_eq!(run(&mut f, r#"{"Proto":17}"#), None);
        assert_eq!(run(&mut f, r#"{"Etype":34525}"#), None);
        assert!(run(&mut f, r#"{"Etype":2048}"#).is_some());
        assert_eq!(run(&mut f, r#"{"Dropme":1}"#), None);
        assert_eq!(run(&mut f, r#"{"SrcK8S_Namespace":"ns1"}"#), None);
        assert!(
            run(
                &mut f,
                r#"{"SrcK8S_Namespace":"ns1","DstK8S_Namespace":"x"}"#
            )
            .is_some()
        );
    }

    #[test]
    fn add_rules() {
        let mut f = filter(
            r#"
rules:
  - type: add_field
    addField: {input: cluster, value: east}
  - type: add_field_if_doesnt_exist
    addFieldIfDoesntExist: {input: Sampling, value: 1}
  - type: add_field_if
    addFieldIf: {input: Bytes, output: big, parameters: ">=1000", assignee: "true"}
  - type: add_regex_if
    addRegexIf: {input: SrcK8S_Name, output: web, parameters: "^web-"}
  - type: add_label
    addLabel: {input: team, value: 7}
  - type: add_label_if
    addLabelIf: {input: Proto, output: l4, parameters: "==6", assignee: tcp}
"#,
        );
        assert_eq!(
            run(
                &mut f,
                r#"{"Bytes":1500,"SrcK8S_Name":"web-1","Proto":6,"Sampling":50}"#
            )
            .as_deref(),
            Some(
                r#"{"Bytes":1500,"Proto":6,"Sampling":50,"SrcK8S_Name":"web-1","big":"true","big_Evaluate":true,"cluster":"east","labels":"l4=tcp,team=7","web":"web-1","web_Matched":true}"#
            )
        );
        assert_eq!(
            run(&mut f, r#"{"Bytes":10,"SrcK8S_Name":"db-1","Proto":17}"#).as_deref(),
            Some(
                r#"{"Bytes":10,"Proto":17,"Sampling":1,"SrcK8S_Name":"db-1","cluster":"east","labels":"team=7"}"#
            )
        );
    }

    /// `add_field_if` / `add_label_if` compare as upstream's govaluate through the shared engine:
    /// an absent input satisfies `!=` (upstream's `nil != "x"`), a bare number never orders text
    /// (before the shared engine `"abc" >= 10` compared as strings), a quoted value orders as text.
    #[test]
    fn conditions_compare_as_govaluate() {
        let mut f = filter(
            r#"
rules:
  - type: add_field_if
    addFieldIf: {input: team, output: other, parameters: '!="a"', assignee: "yes"}
  - type: add_field_if
    addFieldIf: {input: team, output: same, parameters: '!="a"'}
  - type: add_label_if
    addLabelIf: {input: team, output: ge10, parameters: ">=10", assignee: "y"}
  - type: add_label_if
    addLabelIf: {input: team, output: before_m, parameters: '<"m"', assignee: "y"}
  - type: add_label_if
    addLabelIf: {input: Bytes, output: big, parameters: ">1e3", assignee: "y"}
"#,
        );
        assert_eq!(
            run(&mut f, r#"{"Bytes":1500}"#).as_deref(),
            Some(
                r#"{"Bytes":1500,"labels":"big=y","other":"yes","other_Evaluate":true,"same":null,"same_Evaluate":true}"#
            )
        );
        assert_eq!(
            run(&mut f, r#"{"team":"abc"}"#).as_deref(),
            Some(
                r#"{"labels":"before_m=y","other":"yes","other_Evaluate":true,"same":"abc","same_Evaluate":true,"team":"abc"}"#
            )
        );
        assert_eq!(
            run(&mut f, r#"{"team":"a"}"#).as_deref(),
            Some(r#"{"labels":"before_m=y","team":"a"}"#)
        );
    }

    /// `castInt: true` truncates the value and the field's number; a text value still compares as
    /// text (upstream only casts `float64` values; before the shared engine it never matched).
    #[test]
    fn remove_entry_cast_int() {
        let mut f = filter(
            r#"
rules:
  - type: remove_entry_if_equal
    removeEntry: {input: Proto, value: 6.9, castInt: true}
  - type: remove_entry_if_equal
    removeEntry: {input: team, value: abc, castInt: true}
  - type: remove_entry_if_equal
    removeEntry: {input: Dscp, value: 1}
  - type: remove_entry_if_equal
    removeEntry: {input: flag, value: 1}
"#,
        );
        assert_eq!(run(&mut f, r#"{"Proto":6}"#), None);
        assert!(run(&mut f, r#"{"Proto":7}"#).is_some());
        assert_eq!(run(&mut f, r#"{"team":"abc"}"#), None);
        assert_eq!(run(&mut f, r#"{"Dscp":1}"#), None);
        // A boolean is not the number 1 (before the shared engine it was).
        assert!(run(&mut f, r#"{"flag":true,"Dscp":2}"#).is_some());
    }

    #[test]
    fn keep_query_and_sampling() {
        let mut f = filter(
            r#"
samplingField: Sampling
rules:
  - type: keep_entry_query
    keepEntryQuery: 'SrcK8S_Namespace="a"'
  - type: keep_entry_query
    keepEntryQuery: 'SrcK8S_Namespace="b"'
    keepEntrySampling: 3
"#,
        );
        assert!(run(&mut f, r#"{"SrcK8S_Namespace":"a"}"#).is_some());
        assert!(run(&mut f, r#"{"SrcK8S_Namespace":"c"}"#).is_none());
        let kept: Vec<_> = (0..9)
            .filter_map(|_| run(&mut f, r#"{"SrcK8S_Namespace":"b","Sampling":2}"#))
            .collect();
        assert_eq!(kept.len(), 3);
        assert!(kept[0].contains(r#""Sampling":6"#), "{}", kept[0]);
    }

    #[test]
    fn keep_rules_come_first_and_sampled_out_falls_through() {
        let mut f = filter(
            r#"
samplingField: Sampling
rules:
  - type: add_field
    addField: {input: SrcK8S_Namespace, value: a}
  - type: keep_entry_query
    keepEntryQuery: 'SrcK8S_Namespace="a"'
  - type: keep_entry_query
    keepEntryQuery: 'Proto=6'
    keepEntrySampling: 2
  - type: keep_entry_query
    keepEntryQuery: 'Bytes>100'
  - type: add_label
    addLabel: {input: x, value: "1"}
  - type: add_label
    addLabel: {input: x, value: "2"}
"#,
        );
        // The keep queries see the flow before add_field: no namespace yet.
        assert!(run(&mut f, r#"{"Proto":17,"Bytes":1}"#).is_none());
        // Proto=6 matches; sampled in every second time (Sampling set to 2), otherwise the next
        // keep rule decides.
        let out: Vec<_> = (0..4)
            .map(|_| run(&mut f, r#"{"Proto":6,"Bytes":500}"#).unwrap())
            .collect();
        assert_eq!(
            out.iter().filter(|o| o.contains(r#""Sampling":2"#)).count(),
            2
        );
        assert!(out.iter().all(|o| o.contains(r#""SrcK8S_Namespace":"a""#)));
        assert!(
            out.iter().all(|o| o.contains(r#""labels":"x=2""#)),
            "{out:?}"
        );
        let small: Vec<_> = (0..4)
            .map(|_| run(&mut f, r#"{"Proto":6,"Bytes":5,"Sampling":0}"#))
            .collect();
        assert_eq!(small.iter().flatten().count(), 2);
        assert!(
            small
                .iter()
                .flatten()
                .all(|o| o.contains(r#""Sampling":2"#))
        );
    }

    #[test]
    fn keep_queries_are_checked_before_the_fields_the_stage_adds() {
        let cfg: TransformFilter = serde_yaml_ng::from_str(
            r#"
rules:
  - type: add_field
    addField: {input: team, value: a}
  - type: keep_entry_query
    keepEntryQuery: 'team="a"'
  - type: remove_entry_if_equal
    removeEntry: {input: team, value: b}
"#,
        )
        .unwrap();
        let mut fields = FieldRegistry::new();
        Filter::new(&cfg, "f", "filter", &mut fields).unwrap();
        // The keep query runs before add_field, so `team` is unknown to it; the remove rule runs
        // after, so it is known there.
        let warnings = fields.take_warnings();
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(warnings[0].contains("team"), "{warnings:?}");
    }

    #[test]
    fn conditional_sampling() {
        let mut f = filter(
            r#"
rules:
  - type: conditional_sampling
    conditionalSampling:
      - value: 10
        rules:
          - type: remove_entry_if_equal
            removeEntry: {input: Proto, value: 17}
"#,
        );
        let kept = (0..100)
            .filter(|_| run(&mut f, r#"{"Proto":17}"#).is_some())
            .count();
        assert_eq!(kept, 10);
        assert!((0..5).all(|_| run(&mut f, r#"{"Proto":6}"#).is_some()));
    }

    #[test]
    fn bad_rules_name_their_path_and_keep_the_cause() {
        use std::error::Error as _;

        use crate::ConfigErrorKind;
        use crate::query::ParseError;
        let build = |yaml: &str| {
            let cfg: TransformFilter = serde_yaml_ng::from_str(yaml).unwrap();
            match Filter::new(
                &cfg,
                "f",
                "parameters[2].transform.filter",
                &mut FieldRegistry::new(),
            ) {
                Err(crate::Error::Config(c)) => c,
                other => panic!("{:?}", other.err()),
            }
        };
        let c = build(
            "rules:\n  - type: add_field\n    addField: {input: a, value: 1}\n  - type: add_regex_if\n    addRegexIf: {input: a, output: b, parameters: '('}\n",
        );
        assert_eq!(c.stage(), Some("f"));
        assert_eq!(
            c.path(),
            Some("parameters[2].transform.filter.rules[1]"),
            "{c}"
        );
        assert!(matches!(c.kind(), ConfigErrorKind::Regex { .. }), "{c:?}");
        assert!(
            c.source()
                .and_then(|s| s.downcast_ref::<regex::Error>())
                .is_some()
        );

        let c = build("rules:\n  - type: keep_entry_query\n    keepEntryQuery: 'Proto=='\n");
        assert_eq!(
            c.path(),
            Some("parameters[2].transform.filter.rules[0]"),
            "{c}"
        );
        let parse = c.source().and_then(|s| s.downcast_ref::<ParseError>());
        assert!(parse.is_some_and(|p| p.column == 7), "{c:?}");

        let c = build(
            "rules:\n  - type: conditional_sampling\n    conditionalSampling:\n      - value: 2\n        rules:\n          - type: remove_entry_if_equal\n            removeEntry: {input: a, value: 1}\n          - type: add_field\n            removeEntry: {input: a, value: 1}\n",
        );
        assert_eq!(
            c.path(),
            Some("parameters[2].transform.filter.rules[0].conditionalSampling[0].rules[1]"),
            "{c}"
        );
        assert!(
            c.to_string()
                .contains("\"add_field\" is not a remove_entry_if_*"),
            "{c}"
        );

        let c = build(
            "rules:\n  - type: add_field_if\n    addFieldIf: {input: a, output: b, parameters: '~1'}\n",
        );
        assert!(matches!(c.kind(), ConfigErrorKind::Invalid { .. }), "{c:?}");
        assert_eq!(
            c.path(),
            Some("parameters[2].transform.filter.rules[0]"),
            "{c}"
        );
    }

    #[test]
    fn bad_rules_are_config_errors() {
        let cfg: TransformFilter = serde_yaml_ng::from_str(
            "rules:\n  - type: keep_entry_query\n    keepEntryQuery: 'Proto=='\n",
        )
        .unwrap();
        let err = Filter::new(&cfg, "f", "filter", &mut FieldRegistry::new())
            .unwrap_err()
            .to_string();
        assert!(err.contains("column"), "{err}");
        let cfg: TransformFilter =
            serde_yaml_ng::from_str("rules:\n  - type: add_field\n").unwrap();
        assert!(
            Filter::new(&cfg, "f", "filter", &mut FieldRegistry::new())
                .unwrap_err()
                .to_string()
                .contains("addField")
        );
    }
}
