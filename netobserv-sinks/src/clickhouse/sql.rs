//! SQL text for ClickHouse: the one escaper for string literals and identifiers.
//!
//! Modern servers get values as query parameters (`{name:Type}` in the text, `param_name` in the
//! request); old ones (18.16 has no query parameters) get literals written by [`string_literal`].
//! ClickHouse reads backslash escapes in both quoted strings and quoted identifiers, so escaping
//! the backslash and the quote is what makes a value unable to end its literal; control characters
//! are escaped too, so the text stays one line in logs.

use std::fmt::Write;

/// `value` as a ClickHouse string literal, quotes included: `O'Brien` → `'O\'Brien'`.
pub fn string_literal(value: &str) -> String {
    quoted(value, '\'')
}

/// `name` as a quoted ClickHouse identifier (database, table or column): `` my`t `` →
/// `` `my\`t` ``.
pub fn identifier(name: &str) -> String {
    quoted(name, '`')
}

fn quoted(value: &str, quote: char) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push(quote);
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\0' => out.push_str("\\0"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_control() => {
                // Control characters below U+0080 as \xHH; others are valid UTF-8 text.
                if (c as u32) < 0x80 {
                    let _ = write!(out, "\\x{:02X}", c as u32);
                } else {
                    out.push(c);
                }
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_escape_quote_backslash_and_controls() {
        assert_eq!(string_literal("plain"), "'plain'");
        assert_eq!(string_literal("O'Brien"), r"'O\'Brien'");
        assert_eq!(string_literal(r"a\b"), r"'a\\b'");
        assert_eq!(string_literal(r"\'"), r"'\\\''");
        assert_eq!(
            string_literal("x'; DROP TABLE t; --"),
            r"'x\'; DROP TABLE t; --'"
        );
        assert_eq!(string_literal("a\nb\0c\u{1}"), r"'a\nb\0c\x01'");
        assert_eq!(string_literal("é`\""), "'é`\"'");
        assert_eq!(string_literal(""), "''");
    }

    #[test]
    fn identifiers_escape_backquote() {
        assert_eq!(identifier("flows"), "`flows`");
        assert_eq!(identifier("a`b"), r"`a\`b`");
        assert_eq!(identifier(r"a\"), r"`a\\`");
    }
}
