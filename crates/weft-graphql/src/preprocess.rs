//! A pass over the query text before it is parsed.
//!
//! - The v3 Python client writes `objectLimit: 10tenant: "t1"` (no separator). Weaviate's
//!   lexer ends a number where its digits end; async-graphql's grammar refuses a name right
//!   after a number. A space is inserted there (outside strings and comments).
//! - The parser recurses on nested lists, objects and selection sets: a document nesting
//!   deeper than [`MAX_NESTING`] is refused before it is parsed, so no query can exhaust the
//!   stack.

use std::borrow::Cow;

/// Deepest `{`, `[` and `(` nesting a query may have.
pub const MAX_NESTING: usize = 128;

/// The query, with separators inserted where the v3 client leaves them out; `Err` when it
/// nests deeper than [`MAX_NESTING`].
pub fn prepare(query: &str) -> Result<Cow<'_, str>, String> {
    let bytes = query.as_bytes();
    let mut inserts: Vec<usize> = Vec::new();
    let mut depth = 0usize;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        match b {
            b'#' => {
                while i < bytes.len() && bytes[i] != b'\n' && bytes[i] != b'\r' {
                    i += 1;
                }
                continue;
            }
            b'"' if bytes[i..].starts_with(b"\"\"\"") => {
                i += 3;
                while i < bytes.len() && !bytes[i..].starts_with(b"\"\"\"") {
                    // `\"""` is an escaped delimiter inside a block string.
                    i += if bytes[i..].starts_with(b"\\\"\"\"") {
                        4
                    } else {
                        1
                    };
                }
                i += 3;
                continue;
            }
            b'"' => {
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' && bytes[i] != b'\n' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
                i += 1;
                continue;
            }
            b'{' | b'[' | b'(' => {
                depth += 1;
                if depth > MAX_NESTING {
                    return Err(format!(
                        "Syntax Error GraphQL request: the query nests deeper than {MAX_NESTING} levels"
                    ));
                }
            }
            b'}' | b']' | b')' => depth = depth.saturating_sub(1),
            b'-' | b'0'..=b'9' if i == 0 || !is_name_continue(bytes[i - 1]) => {
                let end = number_end(bytes, i);
                if end > i && end < bytes.len() && is_name_start(bytes[end]) {
                    inserts.push(end);
                }
                i = end.max(i + 1);
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    if inserts.is_empty() {
        return Ok(Cow::Borrowed(query));
    }
    let mut out = String::with_capacity(query.len() + inserts.len());
    let mut last = 0;
    for at in inserts {
        // Every insertion point follows an ASCII digit, so it is a char boundary.
        out.push_str(query.get(last..at).unwrap_or_default());
        out.push(' ');
        last = at;
    }
    out.push_str(query.get(last..).unwrap_or_default());
    Ok(Cow::Owned(out))
}

/// Where the number token starting at `start` ends (GraphQL's `IntValue` / `FloatValue`).
fn number_end(bytes: &[u8], start: usize) -> usize {
    let digits = |mut i: usize| {
        while i < bytes.len() && bytes[i].is_ascii_digit() {
            i += 1;
        }
        i
    };
    let mut i = start;
    if bytes.get(i) == Some(&b'-') {
        i += 1;
    }
    let int_end = digits(i);
    if int_end == i {
        return start;
    }
    i = int_end;
    if bytes.get(i) == Some(&b'.') && bytes.get(i + 1).is_some_and(u8::is_ascii_digit) {
        i = digits(i + 1);
    }
    if matches!(bytes.get(i), Some(b'e' | b'E')) {
        let mut j = i + 1;
        if matches!(bytes.get(j), Some(b'+' | b'-')) {
            j += 1;
        }
        if bytes.get(j).is_some_and(u8::is_ascii_digit) {
            i = digits(j);
        }
    }
    i
}

fn is_name_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_'
}

fn is_name_continue(b: u8) -> bool {
    is_name_start(b) || b.is_ascii_digit()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_space_goes_between_a_number_and_a_name() {
        assert_eq!(
            prepare(r#"{Aggregate{Book(objectLimit: 10tenant: "t1"limit: 5){meta{count}}}}"#)
                .unwrap(),
            r#"{Aggregate{Book(objectLimit: 10 tenant: "t1"limit: 5){meta{count}}}}"#
        );
        assert_eq!(prepare("a: 1.5e3x").unwrap(), "a: 1.5e3 x");
        assert_eq!(prepare("a: -2limit").unwrap(), "a: -2 limit");
        assert_eq!(prepare("a: 10else").unwrap(), "a: 10 else");
    }

    #[test]
    fn names_strings_and_comments_are_left_alone() {
        for q in [
            "{Get{Book2{title3}}}",
            r#"{Get{Book(where: {valueText: "10tenant"})}}"#,
            "{Get{Book # 10tenant\n{title}}}",
            r#"{Get{Book(bm25: {query: """ 10x """}){title}}}"#,
            r#"{Get{Book(bm25: {query: "a \" 1b"}){title}}}"#,
            "a: 1.5e-3 b: 7",
        ] {
            assert!(matches!(prepare(q).unwrap(), Cow::Borrowed(_)), "{q}");
        }
    }

    #[test]
    fn deep_nesting_is_refused_before_parsing() {
        let deep = "[".repeat(1_000_000);
        assert!(prepare(&deep).unwrap_err().contains("nests deeper"));
        let ok = format!("{}{}", "[".repeat(MAX_NESTING), "]".repeat(MAX_NESTING));
        assert!(prepare(&ok).is_ok());
        // Brackets inside strings do not count.
        let quoted = format!("\"{}\"", "[".repeat(1000));
        assert!(prepare(&quoted).is_ok());
    }
}
