//! The query language of `keep_entry_query` (and the console's filters), as flowlogs-pipeline
//! documents it: comparisons joined by `and` / `or` (case-insensitive; `and` binds tighter),
//! parentheses, and the operators `=`, `!=`, `=~`, `!~`, `<`, `<=`, `>`, `>=`, `with(Field)`,
//! `without(Field)`.
//!
//! ```
//! use netobserv_flow::query::Query;
//! let q = Query::parse(r#"SrcK8S_Namespace="prod" and (Proto=6 or DstPort>=1024)"#).unwrap();
//! let flow = netobserv_flow::codec::json::decode(br#"{"SrcK8S_Namespace":"prod","Proto":17,"DstPort":5353}"#).unwrap();
//! assert!(q.matches(&flow));
//! ```
//!
//! Comparisons follow the rules of [`crate::compare`] with [`Numbers::CastInt`], as upstream's
//! `pkg/dsl`: a bare number compares numerically with the field's number truncated to an integer,
//! and fails (`!=` included) when the field has none; a quoted literal compares with the field's
//! text form; `<`, `<=`, `>`, `>=` need a number (quoted or not); regular expressions are
//! unanchored. A missing field fails every comparison except `!=` against text and `!~`.

use std::fmt;

use crate::compare::{Numbers, holds};
pub use crate::compare::{Op, Operand};
use crate::field::{FieldPath, FieldRegistry};
use crate::flow::Flow;

/// A parse error, with the 1-based column where it was found.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("query {query:?}: at column {column}: {message}")]
pub struct ParseError {
    /// The query text.
    pub query: String,
    /// 1-based column (in characters).
    pub column: usize,
    /// What is wrong.
    pub message: String,
}

/// A parsed expression.
#[derive(Debug, Clone)]
pub enum Expr {
    /// Both hold.
    And(Box<Expr>, Box<Expr>),
    /// Either holds.
    Or(Box<Expr>, Box<Expr>),
    /// A comparison.
    Cmp {
        /// The field.
        field: FieldPath,
        /// The operator.
        op: Op,
        /// The literal.
        lit: Operand,
    },
    /// The field is present.
    With(FieldPath),
    /// The field is absent.
    Without(FieldPath),
}

/// A parsed, ready-to-evaluate query.
#[derive(Debug, Clone)]
pub struct Query {
    text: String,
    expr: Expr,
}

impl Query {
    /// Parses a query.
    pub fn parse(text: &str) -> Result<Query, ParseError> {
        let tokens = lex(text)?;
        let mut p = Parser {
            text,
            tokens,
            pos: 0,
        };
        let expr = p.or()?;
        if let Some(t) = p.peek() {
            return Err(p.err(t.col, format!("unexpected {}", t.kind)));
        }
        Ok(Query {
            text: text.to_string(),
            expr,
        })
    }

    /// Parses a query and checks its field names against what is known at this point.
    pub fn parse_checked(
        text: &str,
        stage: &str,
        fields: &mut FieldRegistry,
    ) -> Result<Query, ParseError> {
        let q = Query::parse(text)?;
        q.expr.visit_fields(&mut |f| {
            fields.read(stage, f.name());
        });
        Ok(q)
    }

    /// The query text.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The expression tree.
    pub fn expr(&self) -> &Expr {
        &self.expr
    }

    /// Whether the flow matches.
    pub fn matches(&self, flow: &Flow) -> bool {
        self.expr.eval(flow)
    }
}

impl Expr {
    fn visit_fields(&self, f: &mut impl FnMut(&FieldPath)) {
        match self {
            Expr::And(a, b) | Expr::Or(a, b) => {
                a.visit_fields(f);
                b.visit_fields(f);
            }
            Expr::Cmp { field, .. } | Expr::With(field) | Expr::Without(field) => f(field),
        }
    }

    /// Evaluates against a flow.
    pub fn eval(&self, flow: &Flow) -> bool {
        match self {
            Expr::And(a, b) => a.eval(flow) && b.eval(flow),
            Expr::Or(a, b) => a.eval(flow) || b.eval(flow),
            Expr::With(f) => f.has(flow),
            Expr::Without(f) => !f.has(flow),
            Expr::Cmp { field, op, lit } => {
                holds(field.get_ref(flow).as_ref(), *op, lit, Numbers::CastInt)
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Kind {
    Ident(String),
    Str(String),
    Num(String),
    Op(Op),
    LParen,
    RParen,
    And,
    Or,
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Kind::Ident(s) => write!(f, "name {s:?}"),
            Kind::Str(s) => write!(f, "string {s:?}"),
            Kind::Num(s) => write!(f, "number {s}"),
            Kind::Op(o) => write!(f, "operator {o:?}", o = o.to_string()),
            Kind::LParen => f.write_str("'('"),
            Kind::RParen => f.write_str("')'"),
            Kind::And => f.write_str("'and'"),
            Kind::Or => f.write_str("'or'"),
        }
    }
}

#[derive(Debug, Clone)]
struct Token {
    kind: Kind,
    col: usize,
}

fn lex(text: &str) -> Result<Vec<Token>, ParseError> {
    let err = |col: usize, message: String| ParseError {
        query: text.to_string(),
        column: col,
        message,
    };
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let col = i + 1;
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        let two: String = chars[i..chars.len().min(i + 2)].iter().collect();
        let op = match two.as_str() {
            "!=" => Some((Op::Ne, 2)),
            "=~" => Some((Op::Match, 2)),
            "!~" => Some((Op::NotMatch, 2)),
            "<=" => Some((Op::Le, 2)),
            ">=" => Some((Op::Ge, 2)),
            _ => match c {
                '=' => Some((Op::Eq, 1)),
                '<' => Some((Op::Lt, 1)),
                '>' => Some((Op::Gt, 1)),
                _ => None,
            },
        };
        if let Some((op, n)) = op {
            out.push(Token {
                kind: Kind::Op(op),
                col,
            });
            i += n;
            continue;
        }
        match c {
            '(' => {
                out.push(Token {
                    kind: Kind::LParen,
                    col,
                });
                i += 1;
            }
            ')' => {
                out.push(Token {
                    kind: Kind::RParen,
                    col,
                });
                i += 1;
            }
            '"' | '\'' => {
                let quote = c;
                let mut s = String::new();
                i += 1;
                loop {
                    match chars.get(i) {
                        None => return Err(err(col, "unterminated string".into())),
                        Some('\\') => {
                            match chars.get(i + 1) {
                                Some(e) if *e == quote || *e == '\\' => s.push(*e),
                                Some(e) => {
                                    s.push('\\');
                                    s.push(*e);
                                }
                                None => return Err(err(col, "unterminated string".into())),
                            }
                            i += 2;
                        }
                        Some(ch) if *ch == quote => {
                            i += 1;
                            break;
                        }
                        Some(ch) => {
                            s.push(*ch);
                            i += 1;
                        }
                    }
                }
                out.push(Token {
                    kind: Kind::Str(s),
                    col,
                });
            }
            c if c.is_ascii_digit() || c == '-' || c == '+' || c == '.' => {
                let start = i;
                i += 1;
                while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '.') {
                    i += 1;
                }
                let s: String = chars[start..i].iter().collect();
                out.push(Token {
                    kind: Kind::Num(s),
                    col,
                });
            }
            c if c.is_alphabetic() || c == '_' => {
                let start = i;
                while i < chars.len()
                    && (chars[i].is_alphanumeric() || matches!(chars[i], '_' | '.' | '-' | '/'))
                {
                    i += 1;
                }
                let s: String = chars[start..i].iter().collect();
                let kind = match s.to_ascii_lowercase().as_str() {
                    "and" => Kind::And,
                    "or" => Kind::Or,
                    _ => Kind::Ident(s),
                };
                out.push(Token { kind, col });
            }
            other => return Err(err(col, format!("unexpected character {other:?}"))),
        }
    }
    Ok(out)
}

struct Parser<'a> {
    text: &'a str,
    tokens: Vec<Token>,
    pos: usize,
}

impl Parser<'_> {
    fn err(&self, column: usize, message: String) -> ParseError {
        ParseError {
            query: self.text.to_string(),
            column,
            message,
        }
    }

    fn end_col(&self) -> usize {
        self.text.chars().count() + 1
    }

    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos)
    }

    fn next(&mut self, what: &str) -> Result<Token, ParseError> {
        let t = self.tokens.get(self.pos).cloned().ok_or_else(|| {
            self.err(
                self.end_col(),
                format!("expected {what}, found end of query"),
            )
        })?;
        self.pos += 1;
        Ok(t)
    }

    fn or(&mut self) -> Result<Expr, ParseError> {
        let mut left = self.and()?;
        while matches!(self.peek(), Some(Token { kind: Kind::Or, .. })) {
            self.pos += 1;
            left = Expr::Or(Box::new(left), Box::new(self.and()?));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Expr, ParseError> {
        let mut left = self.primary()?;
        while matches!(
            self.peek(),
            Some(Token {
                kind: Kind::And,
                ..
            })
        ) {
            self.pos += 1;
            left = Expr::And(Box::new(left), Box::new(self.primary()?));
        }
        Ok(left)
    }

    fn primary(&mut self) -> Result<Expr, ParseError> {
        let t = self.next("a comparison or '('")?;
        match t.kind {
            Kind::LParen => {
                let e = self.or()?;
                let close = self.next("')'")?;
                if close.kind != Kind::RParen {
                    return Err(self.err(close.col, format!("expected ')', found {}", close.kind)));
                }
                Ok(e)
            }
            Kind::Ident(name) => {
                let lower = name.to_ascii_lowercase();
                if (lower == "with" || lower == "without")
                    && matches!(
                        self.peek(),
                        Some(Token {
                            kind: Kind::LParen,
                            ..
                        })
                    )
                {
                    self.pos += 1;
                    let f = self.next("a field name")?;
                    let Kind::Ident(field) = f.kind else {
                        return Err(
                            self.err(f.col, format!("expected a field name, found {}", f.kind))
                        );
                    };
                    let close = self.next("')'")?;
                    if close.kind != Kind::RParen {
                        return Err(
                            self.err(close.col, format!("expected ')', found {}", close.kind))
                        );
                    }
                    let path = FieldPath::resolve(&field);
                    return Ok(if lower == "with" {
                        Expr::With(path)
                    } else {
                        Expr::Without(path)
                    });
                }
                let op_tok = self.next("an operator")?;
                let Kind::Op(op) = op_tok.kind else {
                    return Err(self.err(
                        op_tok.col,
                        format!("expected an operator after {name:?}, found {}", op_tok.kind),
                    ));
                };
                let lit_tok = self.next("a value")?;
                let (text, quoted) = match lit_tok.kind {
                    Kind::Str(s) => (s, true),
                    Kind::Num(s) | Kind::Ident(s) => (s, false),
                    other => {
                        return Err(self.err(
                            lit_tok.col,
                            format!("expected a value after {op}, found {other}"),
                        ));
                    }
                };
                // As upstream's grammar: a quoted value is text for `=` / `!=`, and the ordering
                // operators read their value as a number, quoted or not.
                let lit = match op {
                    Op::Match | Op::NotMatch => Operand::regex(&text).map_err(|e| {
                        self.err(lit_tok.col, format!("invalid regular expression: {e}"))
                    })?,
                    Op::Eq | Op::Ne if quoted => Operand::text(&text),
                    _ => Operand::number_or_text(&text),
                };
                if matches!(op, Op::Lt | Op::Le | Op::Gt | Op::Ge) && lit.number().is_none() {
                    return Err(
                        self.err(lit_tok.col, format!("{op} needs a number, found {text:?}"))
                    );
                }
                Ok(Expr::Cmp {
                    field: FieldPath::resolve(&name),
                    op,
                    lit,
                })
            }
            other => Err(self.err(
                t.col,
                format!("expected a comparison or '(', found {other}"),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::json::decode;

    fn flow() -> Flow {
        decode(br#"{"SrcK8S_Namespace":"prod","Proto":6,"DstPort":443,"Bytes":1500,"SrcAddr":"10.0.0.1","custom":"x"}"#).unwrap()
    }

    #[test]
    fn evaluates_operators() {
        let f = flow();
        let cases = [
            (r#"SrcK8S_Namespace="prod""#, true),
            (r#"SrcK8S_Namespace!="prod""#, false),
            (r#"SrcK8S_Namespace=~"^pr""#, true),
            (r#"SrcK8S_Namespace!~"dev""#, true),
            ("Proto=6", true),
            (r#"Proto="6""#, true),
            ("Bytes>1000 and Bytes<=1500", true),
            ("Bytes>=1501", false),
            ("DstPort<443 or Proto=17", false),
            ("DstPort<443 OR (Proto=6 AND with(custom))", true),
            ("without(DstK8S_Name) and with(SrcAddr)", true),
            (r#"SrcAddr="10.0.0.1""#, true),
            (r#"SrcAddr=~"^10\.""#, true),
            (r#"DstK8S_Name!="a""#, true),
            (r#"DstK8S_Name="a""#, false),
            ("Missing>1", false),
            (r#"custom='x'"#, true),
            ("Proto=6 or Proto=17 and Bytes>99999", true),
        ];
        for (q, want) in cases {
            assert_eq!(Query::parse(q).unwrap().matches(&f), want, "{q}");
        }
    }

    /// Upstream's `pkg/dsl` casts the field to an integer for a bare number and fails, `!=`
    /// included, when it cannot; before the shared engine a fractional field compared exactly and
    /// `!=` held for a field without a number.
    #[test]
    fn numbers_are_cast_to_integers_as_upstream() {
        let f = decode(br#"{"Proto":6,"rate":1000.5,"custom":"x","n":"42","flag":true}"#).unwrap();
        let cases = [
            ("rate>1000", false),
            ("rate=1000", true),
            ("rate>=1000.5", false),
            ("rate<1000.5", true),
            ("n=42", true),
            ("n>41", true),
            ("custom!=6", false),
            (r#"custom!="6""#, true),
            ("Bytes!=6", false),
            (r#"Bytes!="6""#, true),
            ("flag=1", false),
            ("flag=true", true),
            (r#"Proto="6""#, true),
            (r#"Proto>"5""#, true),
        ];
        for (q, want) in cases {
            assert_eq!(Query::parse(q).unwrap().matches(&f), want, "{q}");
        }
    }

    #[test]
    fn errors_point_at_the_column() {
        let cases = [
            ("Proto=", 7, "expected a value"),
            ("Proto=6 and", 12, "expected a comparison"),
            ("(Proto=6", 9, "expected ')'"),
            ("Proto 6", 7, "expected an operator"),
            (r#"Proto="6"#, 7, "unterminated string"),
            ("Proto=6 Bytes=1", 9, "unexpected name"),
            ("Bytes>abc", 7, "needs a number"),
            (r#"A=~"(""#, 4, "invalid regular expression"),
            ("Proto=6 & 1", 9, "unexpected character"),
        ];
        for (q, col, msg) in cases {
            let e = Query::parse(q).unwrap_err();
            assert_eq!(e.column, col, "{q}: {e}");
            assert!(e.message.contains(msg), "{q}: {e}");
        }
    }
}
