//! One comparison engine for field values, used by the query language of `keep_entry_query`
//! ([`crate::query`]) and by the filter stage's `add_field_if` / `add_label_if` conditions and
//! `remove_entry_if_equal` / `_not_equal` rules.
//!
//! The syntaxes differ (the query language writes `Bytes>1000 and Proto=6`, a condition writes
//! `>=10` or `!="x"`); once parsed, both become an [`Op`] and an [`Operand`] and are decided by
//! [`holds`] with these rules:
//!
//! 1. An operand that holds a number (a bare literal that reads as one, or a number from the
//!    config) compares numerically. A field's number is its integer or float value, or the number
//!    a string field holds (`"443"`, `"1.5"`); booleans, IPs and other text are not numbers.
//!    Integers compare exactly (no rounding through `f64`).
//! 2. Any other operand compares with the field's text form (Go's `fmt.Sprint`: `10.0.0.1`, `6`):
//!    `=` / `!=` as equal strings, `<` `<=` `>` `>=` in byte order, as Go compares strings.
//! 3. `=~` / `!~` run an unanchored regular expression over the text form.
//! 4. An absent field has no number and no text: it equals nothing and matches no expression,
//!    so only `!=` and `!~` hold (and not `!=` against a number under [`Numbers::CastInt`]).
//! 5. [`Numbers`] says what a numeric comparison does with the field's number; it is the one
//!    place where upstream's two features really differ: the query language casts the field to an
//!    integer and fails when it cannot ([`Numbers::CastInt`]), govaluate compares `float64`s
//!    ([`Numbers::Exact`]).
//!
//! ```
//! use netobserv_flow::compare::{holds, Numbers, Op, Operand};
//! use netobserv_flow::flow::FieldRef;
//! let ten = Operand::number_or_text("10");
//! assert!(holds(Some(&FieldRef::UInt(443)), Op::Gt, &ten, Numbers::Exact));
//! assert!(holds(Some(&FieldRef::Str("12")), Op::Gt, &ten, Numbers::Exact));
//! // A quoted "10" is text, and "443" > "10" in byte order.
//! assert!(holds(Some(&FieldRef::UInt(443)), Op::Gt, &Operand::text("10"), Numbers::Exact));
//! assert!(holds(None, Op::Ne, &ten, Numbers::Exact));
//! assert!(!holds(None, Op::Ne, &ten, Numbers::CastInt));
//! ```

use std::cmp::Ordering;
use std::fmt;
use std::sync::Arc;

use regex::Regex;

use crate::flow::FieldRef;
use crate::value::Value;

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `=` (`==` in conditions)
    Eq,
    /// `!=`
    Ne,
    /// `=~`
    Match,
    /// `!~`
    NotMatch,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
}

impl Op {
    /// Whether an ordering says the operator holds.
    fn accepts(self, ord: Ordering) -> bool {
        match self {
            Op::Eq => ord == Ordering::Equal,
            Op::Ne => ord != Ordering::Equal,
            Op::Lt => ord == Ordering::Less,
            Op::Le => ord != Ordering::Greater,
            Op::Gt => ord == Ordering::Greater,
            Op::Ge => ord != Ordering::Less,
            Op::Match | Op::NotMatch => false,
        }
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Op::Eq => "=",
            Op::Ne => "!=",
            Op::Match => "=~",
            Op::NotMatch => "!~",
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
        })
    }
}

/// What a numeric comparison does with the field's number (rule 5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Numbers {
    /// The number as it is; a field without one is simply not equal (`!=` holds, the other
    /// operators fail). Upstream's `add_field_if` / `add_label_if` (govaluate: numbers are
    /// `float64`, `==` is `reflect.DeepEqual`, ordering a non-number is an error, read as false).
    Exact,
    /// The number truncated toward zero; a field without one fails every operator, `!=`
    /// included. Upstream's query language (`filters.castIntAndCheck`, `utils.ConvertToInt`) and
    /// `remove_entry_if_*` with `castInt: true`.
    CastInt,
}

/// A number, kept as an integer when it is one so that large counters compare exactly.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Number {
    Int(i128),
    Float(f64),
}

impl Number {
    /// Reads text as a number: an integer, or a finite float (`inf` and `NaN` are text).
    fn parse(s: &str) -> Option<Number> {
        if let Ok(i) = s.parse::<i128>() {
            return Some(Number::Int(i));
        }
        s.parse::<f64>()
            .ok()
            .filter(|f| f.is_finite())
            .map(Number::Float)
    }

    fn of_value(v: &Value) -> Option<Number> {
        match v {
            Value::UInt(u) => Some(Number::Int(i128::from(*u))),
            Value::Int(i) => Some(Number::Int(i128::from(*i))),
            Value::Float(f) => Some(Number::Float(*f)),
            Value::Str(s) => Number::parse(s),
            _ => None,
        }
    }

    fn of_field(v: &FieldRef<'_>) -> Option<Number> {
        match v {
            FieldRef::UInt(u) => Some(Number::Int(i128::from(*u))),
            FieldRef::Int(i) => Some(Number::Int(i128::from(*i))),
            FieldRef::Str(s) => Number::parse(s),
            FieldRef::Ip(_) => None,
            FieldRef::Other(v) => Number::of_value(v),
        }
    }

    fn truncated(self) -> Number {
        match self {
            Number::Float(f) => Number::Float(f.trunc()),
            int => int,
        }
    }

    #[inline]
    fn cmp(self, other: Number) -> Option<Ordering> {
        match (self, other) {
            (Number::Int(a), Number::Int(b)) => Some(a.cmp(&b)),
            (a, b) => a.as_f64().partial_cmp(&b.as_f64()),
        }
    }

    fn as_f64(self) -> f64 {
        match self {
            Number::Int(i) => i as f64,
            Number::Float(f) => f,
        }
    }
}

/// The right-hand side of a comparison: its text, its number when it is one, and its compiled
/// regular expression for `=~` / `!~`.
#[derive(Debug, Clone)]
pub struct Operand {
    text: Arc<str>,
    number: Option<Number>,
    regex: Option<Regex>,
}

impl Operand {
    /// An operand that compares by text, even when it reads as a number (a quoted literal).
    pub fn text(s: &str) -> Operand {
        Operand {
            text: Arc::from(s),
            number: None,
            regex: None,
        }
    }

    /// A number when `s` reads as one, text otherwise (a bare literal).
    pub fn number_or_text(s: &str) -> Operand {
        Operand {
            number: Number::parse(s),
            ..Operand::text(s)
        }
    }

    /// A regular expression, for `=~` / `!~`; also keeps the pattern as text.
    pub fn regex(pattern: &str) -> Result<Operand, regex::Error> {
        Ok(Operand {
            regex: Some(Regex::new(pattern)?),
            ..Operand::text(pattern)
        })
    }

    /// A config value: numbers stay numbers, anything else compares by its text form.
    pub fn from_value(v: &Value) -> Operand {
        let number = match v {
            Value::UInt(_) | Value::Int(_) | Value::Float(_) => Number::of_value(v),
            _ => None,
        };
        Operand {
            number,
            ..Operand::text(&v.to_string())
        }
    }

    /// The same operand with its number truncated toward zero (upstream's `castInt: true`
    /// turns the config value into an `int`).
    pub fn truncated(mut self) -> Operand {
        self.number = self.number.map(Number::truncated);
        self
    }

    /// The operand's text (without quotes).
    pub fn as_text(&self) -> &str {
        &self.text
    }

    /// The operand's number, when it compares numerically.
    pub fn number(&self) -> Option<f64> {
        self.number.map(Number::as_f64)
    }
}

/// Whether `value <op> operand` holds, by the rules in the module docs; `None` is an absent
/// field. A match operator with an operand not built by [`Operand::regex`] never matches.
#[inline]
pub fn holds(value: Option<&FieldRef<'_>>, op: Op, operand: &Operand, numbers: Numbers) -> bool {
    if let Op::Match | Op::NotMatch = op {
        return matches(value, operand) == (op == Op::Match);
    }
    if let Some(n) = operand.number {
        // Integer fields against an integer, the common case, need no conversion.
        let field = match value {
            Some(FieldRef::UInt(u)) => Some(Number::Int(i128::from(*u))),
            Some(v) => Number::of_field(v).map(|x| match numbers {
                Numbers::Exact => x,
                Numbers::CastInt => x.truncated(),
            }),
            None => None,
        };
        return match field {
            Some(x) => x.cmp(n).is_some_and(|o| op.accepts(o)),
            None => numbers == Numbers::Exact && op == Op::Ne,
        };
    }
    match value {
        Some(v) => v.with_text(|t| op.accepts(t.cmp(&operand.text))),
        None => op == Op::Ne,
    }
}

#[inline]
fn matches(value: Option<&FieldRef<'_>>, operand: &Operand) -> bool {
    match (value, &operand.regex) {
        (Some(v), Some(re)) => v.with_text(|t| re.is_match(t)),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv4Addr};

    use super::*;

    /// Every operator over every kind of value, under both number rules. Each row: the field
    /// value, the operand, then the expected result for `= != < <= > >=` with [`Numbers::Exact`]
    /// and, where it differs, with [`Numbers::CastInt`].
    #[test]
    fn rules_over_value_kinds_and_operators() {
        use Op::*;
        const OPS: [Op; 6] = [Eq, Ne, Lt, Le, Gt, Ge];
        let ip = FieldRef::Ip(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)));
        let num = Operand::number_or_text;
        let text = Operand::text;
        type Row<'a> = (
            &'a str,
            Option<FieldRef<'a>>,
            Operand,
            [bool; 6],
            Option<[bool; 6]>,
        );
        #[rustfmt::skip]
        let rows: Vec<Row<'_>> = vec![
            // Integers against a number; u64 beyond 2^53 stays exact.
            ("uint=", Some(FieldRef::UInt(6)), num("6"), [true, false, false, true, false, true], None),
            ("uint<", Some(FieldRef::UInt(5)), num("6"), [false, true, true, true, false, false], None),
            ("int<0", Some(FieldRef::Int(-3)), num("0"), [false, true, true, true, false, false], None),
            ("u64 max", Some(FieldRef::UInt(u64::MAX)), num("18446744073709551614"), [false, true, false, false, true, true], None),
            ("uint vs float", Some(FieldRef::UInt(6)), num("6.5"), [false, true, true, true, false, false], None),
            // A float field: exact, or truncated toward zero.
            ("float", Some(FieldRef::Other(Value::Float(6.7))), num("6"), [false, true, false, false, true, true], Some([true, false, false, true, false, true])),
            ("neg float", Some(FieldRef::Other(Value::Float(-0.5))), num("0"), [false, true, true, true, false, false], Some([true, false, false, true, false, true])),
            // A string holding a number is that number.
            ("str num", Some(FieldRef::Str("12")), num("6"), [false, true, false, false, true, true], None),
            ("str float", Some(FieldRef::Str("1.5")), num("1"), [false, true, false, false, true, true], Some([true, false, false, true, false, true])),
            // No number in the field: not equal (Exact) or nothing holds (CastInt).
            ("str text", Some(FieldRef::Str("abc")), num("6"), [false, true, false, false, false, false], Some([false; 6])),
            ("str nan", Some(FieldRef::Str("NaN")), num("6"), [false, true, false, false, false, false], Some([false; 6])),
            ("bool", Some(FieldRef::Other(Value::Bool(true))), num("1"), [false, true, false, false, false, false], Some([false; 6])),
            ("ip", Some(ip.clone()), num("10"), [false, true, false, false, false, false], Some([false; 6])),
            ("absent num", None, num("6"), [false, true, false, false, false, false], Some([false; 6])),
            // Text operands compare with the text form, in byte order; the number rule does not
            // apply.
            ("text=", Some(FieldRef::Str("prod")), text("prod"), [true, false, false, true, false, true], None),
            ("text<", Some(FieldRef::Str("dev")), text("prod"), [false, true, true, true, false, false], None),
            ("quoted num", Some(FieldRef::UInt(6)), text("6"), [true, false, false, true, false, true], None),
            ("quoted order", Some(FieldRef::UInt(500)), text("1000"), [false, true, false, false, true, true], None),
            ("bare word", Some(FieldRef::Str("web")), num("web"), [true, false, false, true, false, true], None),
            ("ip text", Some(ip.clone()), text("10.0.0.1"), [true, false, false, true, false, true], None),
            ("ip bare", Some(ip), num("10.0.0.1"), [true, false, false, true, false, true], None),
            ("bool text", Some(FieldRef::Other(Value::Bool(true))), num("true"), [true, false, false, true, false, true], None),
            ("absent text", None, text("x"), [false, true, false, false, false, false], None),
        ];
        for (name, value, operand, exact, cast) in &rows {
            for (numbers, want) in [
                (Numbers::Exact, exact),
                (Numbers::CastInt, cast.as_ref().unwrap_or(exact)),
            ] {
                for (op, want) in OPS.iter().zip(want) {
                    assert_eq!(
                        holds(value.as_ref(), *op, operand, numbers),
                        *want,
                        "{name}: {value:?} {op} {:?} with {numbers:?}",
                        operand.as_text()
                    );
                }
            }
        }
    }

    #[test]
    fn regex_ops_run_over_the_text_form_and_absent_matches_nothing() {
        let re = Operand::regex(r"^10\.").unwrap();
        let ip = FieldRef::Ip(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)));
        for numbers in [Numbers::Exact, Numbers::CastInt] {
            assert!(holds(Some(&ip), Op::Match, &re, numbers));
            assert!(!holds(Some(&ip), Op::NotMatch, &re, numbers));
            assert!(!holds(Some(&FieldRef::UInt(105)), Op::Match, &re, numbers));
            assert!(holds(
                Some(&FieldRef::Str("a10.b")),
                Op::Match,
                &Operand::regex(r"10\.").unwrap(),
                numbers
            ));
            assert!(!holds(None, Op::Match, &re, numbers));
            assert!(holds(None, Op::NotMatch, &re, numbers));
            // An operand without a compiled expression never matches.
            assert!(!holds(Some(&ip), Op::Match, &Operand::text("10"), numbers));
        }
    }

    #[test]
    fn config_values_keep_their_kind() {
        let seventeen = Operand::from_value(&Value::UInt(17));
        assert_eq!(seventeen.number(), Some(17.0));
        assert!(holds(
            Some(&FieldRef::Str("17")),
            Op::Eq,
            &seventeen,
            Numbers::Exact
        ));
        let quoted = Operand::from_value(&Value::str("17"));
        assert_eq!(quoted.number(), None);
        assert!(holds(
            Some(&FieldRef::UInt(17)),
            Op::Eq,
            &quoted,
            Numbers::Exact
        ));
        let truncated = Operand::from_value(&Value::Float(6.9)).truncated();
        assert!(holds(
            Some(&FieldRef::UInt(6)),
            Op::Eq,
            &truncated,
            Numbers::CastInt
        ));
        assert!(holds(
            Some(&FieldRef::Other(Value::Float(6.2))),
            Op::Eq,
            &truncated,
            Numbers::CastInt
        ));
        assert!(!holds(
            Some(&FieldRef::Other(Value::Bool(true))),
            Op::Eq,
            &Operand::from_value(&Value::UInt(1)),
            Numbers::Exact
        ));
    }
}
