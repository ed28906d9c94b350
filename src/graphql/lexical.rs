//! One pass over a document's text before anything parses it.
//!
//! The parser (pest, then async-graphql's tree builder) and every validation rule after it
//! recurse once per level of `{`, `[` and `(`: a document of 100,000 nested braces
//! overflows a worker's stack and aborts the whole process. This scan is a loop, not a
//! recursion, so it measures any depth safely, and the gateway refuses a document nested
//! deeper than `MAX_NESTING` before the first recursive step runs.
//!
//! The same pass finds block strings that use the `\"""` escape, which async-graphql's
//! parser keeps verbatim (the spec says it stands for `"""`): see `fix_block_strings`.

use std::ops::Range;

/// The deepest nesting of `{`, `[` and `(` a document may have. Real queries stay far
/// below it (graphql-js's introspection query, the deepest any tool sends, nests about
/// 20); the depth limit proper (fields) is async-graphql's, applied later.
pub const MAX_NESTING: usize = 64;

/// What the scan found.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Lexed {
    /// The deepest nesting of brackets outside strings and comments.
    pub nesting: usize,
    /// Lexical tokens (names, numbers, strings, punctuators), as graphql-js's `maxTokens`
    /// counts them: what parsing will cost, known before it starts.
    pub tokens: usize,
    /// Block strings (quotes included) whose content holds the `\"""` escape.
    pub escaped_block_strings: Vec<Range<usize>>,
}

/// Scans `text` token by token as far as brackets, strings and comments go.
pub fn scan(text: &str) -> Lexed {
    let bytes = text.as_bytes();
    let mut lexed = Lexed::default();
    let mut depth = 0usize;
    let mut at = 0;
    while at < bytes.len() {
        if !matches!(bytes[at], b' ' | b'\t' | b'\n' | b'\r' | b',' | b'#') {
            lexed.tokens += 1;
        }
        match bytes[at] {
            b'#' => at = line_end(bytes, at),
            b'"' if bytes[at..].starts_with(b"\"\"\"") => {
                let (end, escaped) = block_string_end(bytes, at + 3);
                if escaped {
                    lexed.escaped_block_strings.push(at..end);
                }
                at = end;
            }
            b'"' => at = string_end(bytes, at + 1),
            b'{' | b'[' | b'(' => {
                depth += 1;
                lexed.nesting = lexed.nesting.max(depth);
                at += 1;
            }
            b'}' | b']' | b')' => {
                depth = depth.saturating_sub(1);
                at += 1;
            }
            b'.' if bytes[at..].starts_with(b"...") => at += 3,
            byte if is_word(byte) => {
                at += bytes[at..]
                    .iter()
                    .position(|b| !is_word(*b))
                    .unwrap_or(bytes.len() - at);
            }
            _ => at += 1,
        }
    }
    lexed
}

/// Bytes of names and numbers (a name or number is one token however long).
fn is_word(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'_' | b'-' | b'+' | b'.')
}

fn line_end(bytes: &[u8], from: usize) -> usize {
    bytes[from..]
        .iter()
        .position(|b| matches!(b, b'\n' | b'\r'))
        .map_or(bytes.len(), |offset| from + offset)
}

/// The end of a quoted string whose content starts at `from` (an unterminated one ends
/// at the line's end: the parser reports it).
fn string_end(bytes: &[u8], from: usize) -> usize {
    let mut at = from;
    while at < bytes.len() {
        match bytes[at] {
            b'\\' => at += 2,
            b'"' => return at + 1,
            b'\n' | b'\r' => return at,
            _ => at += 1,
        }
    }
    bytes.len()
}

/// The end of a block string whose content starts at `from`, and whether it holds `\"""`.
fn block_string_end(bytes: &[u8], from: usize) -> (usize, bool) {
    let mut at = from;
    let mut escaped = false;
    while at < bytes.len() {
        if bytes[at..].starts_with(b"\\\"\"\"") {
            escaped = true;
            at += 4;
        } else if bytes[at..].starts_with(b"\"\"\"") {
            return (at + 3, escaped);
        } else {
            at += 1;
        }
    }
    (bytes.len(), escaped)
}

/// Whether a document may write or stream: it names the `mutation` or `subscription`
/// keyword outside strings and comments (a query-only document never does). Conservative:
/// a document holding a query and a mutation counts as writing whichever it runs.
pub fn may_write(text: &str) -> bool {
    let bytes = text.as_bytes();
    let mut at = 0;
    while at < bytes.len() {
        match bytes[at] {
            b'#' => at = line_end(bytes, at),
            b'"' if bytes[at..].starts_with(b"\"\"\"") => at = block_string_end(bytes, at + 3).0,
            b'"' => at = string_end(bytes, at + 1),
            byte if is_word(byte) => {
                let len = bytes[at..]
                    .iter()
                    .position(|b| !is_word(*b))
                    .unwrap_or(bytes.len() - at);
                if matches!(&bytes[at..at + len], b"mutation" | b"subscription") {
                    return true;
                }
                at += len;
            }
            _ => at += 1,
        }
    }
    false
}

/// Rewrites each block string that uses `\"""` as the ordinary string of the same value.
///
/// async-graphql 7.2's parser applies the spec's indentation rules to block strings but
/// keeps `\"""` as four characters (it should be `"""`). Such block strings are rare, so
/// rather than patch the parser they are turned into plain strings here, value computed by
/// the spec's algorithm; the newlines they spanned follow the new string, so every later
/// token keeps its line number in error messages.
pub fn fix_block_strings(text: &str, ranges: &[Range<usize>]) -> String {
    let mut fixed = String::with_capacity(text.len());
    let mut copied = 0;
    for range in ranges {
        fixed.push_str(&text[copied..range.start]);
        let block = &text[range.clone()];
        let raw = block
            .strip_prefix("\"\"\"")
            .and_then(|inner| inner.strip_suffix("\"\"\""))
            .unwrap_or(block);
        // JSON's string escapes are all GraphQL string escapes too.
        let value = block_string_value(&raw.replace("\\\"\"\"", "\"\"\""));
        fixed.push_str(&serde_json::Value::String(value).to_string());
        let lines = block.matches('\n').count();
        fixed.extend(std::iter::repeat_n('\n', lines));
        copied = range.end;
    }
    fixed.push_str(&text[copied..]);
    fixed
}

/// The spec's BlockStringValue: common indentation removed, blank first and last lines
/// dropped, line terminators normalised to `\n`.
fn block_string_value(raw: &str) -> String {
    let lines: Vec<&str> = raw
        .split("\r\n")
        .flat_map(|l| l.split(['\n', '\r']))
        .collect();
    let indent_of = |line: &str| line.len() - line.trim_start_matches([' ', '\t']).len();
    let common = lines
        .iter()
        .skip(1)
        .filter(|line| indent_of(line) < line.len())
        .map(|line| indent_of(line))
        .min()
        .unwrap_or(0);
    let dedented: Vec<&str> = lines
        .iter()
        .enumerate()
        .map(|(index, line)| {
            if index == 0 {
                line
            } else {
                line.get(common.min(line.len())..).unwrap_or("")
            }
        })
        .collect();
    let blank = |line: &&str| line.trim_matches([' ', '\t']).is_empty();
    let first = dedented.iter().position(|l| !blank(l));
    let last = dedented.iter().rposition(|l| !blank(l));
    match (first, last) {
        (Some(first), Some(last)) => dedented[first..=last].join("\n"),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_are_told_from_queries() {
        assert!(may_write("mutation { x }"));
        assert!(may_write("query A { a } mutation B { b }"));
        assert!(may_write("subscription{unreadCount}"));
        assert!(!may_write("{ tickets { nodes { id } } }"));
        assert!(!may_write("query { t(search: \"mutation\") } # mutation"));
        assert!(!may_write("{ a(s: \"\"\"subscription\"\"\") }"));
        assert!(!may_write("{ mutations }"));
    }

    #[test]
    fn nesting_ignores_strings_and_comments() {
        assert_eq!(scan("{ a { b(x: [1, {y: 2}]) } }").nesting, 5);
        assert_eq!(scan("{ a(s: \"{{{{\\\"{{\") # {{{{{\n }").nesting, 2);
        assert_eq!(scan("{ a(s: \"\"\" {{{{ \\\"\"\" {{ \"\"\") }").nesting, 2);
        // Unbalanced closers never go below zero.
        assert_eq!(scan("}}}} { }").nesting, 1);
    }

    #[test]
    fn tokens_are_counted_like_graphql_js() {
        assert_eq!(scan("{ a }").tokens, 3);
        assert_eq!(
            scan("query Q($x: Int = 10) { f(a: \"s t\", b: 1.5e3) { ...F } }").tokens,
            25
        );
        assert_eq!(scan("# comment { a }\n{ a, b }").tokens, 4);
    }

    #[test]
    fn a_hundred_thousand_levels_are_measured_without_recursion() {
        let deep = "{a".repeat(100_000) + &"}".repeat(100_000);
        assert_eq!(scan(&deep).nesting, 100_000);
        let values = format!("{{ a(x: {}) }}", "[".repeat(100_000));
        assert_eq!(scan(&values).nesting, 100_002);
    }

    #[test]
    fn escaped_block_strings_become_plain_strings_with_the_spec_value() {
        let text = "mutation { m(a: \"\"\"a \\\"\"\" b\"\"\", b: \"\"\"plain\"\"\") }";
        let lexed = scan(text);
        assert_eq!(lexed.escaped_block_strings.len(), 1);
        let fixed = fix_block_strings(text, &lexed.escaped_block_strings);
        assert_eq!(
            fixed,
            "mutation { m(a: \"a \\\"\\\"\\\" b\", b: \"\"\"plain\"\"\") }"
        );
        let multi = "{ f(a: \"\"\"\n    x \\\"\"\"\n      y\n  \"\"\") b }";
        let lexed = scan(multi);
        let fixed = fix_block_strings(multi, &lexed.escaped_block_strings);
        assert_eq!(fixed, "{ f(a: \"x \\\"\\\"\\\"\\n  y\"\n\n\n) b }");
    }

    #[test]
    fn block_string_value_follows_the_spec() {
        assert_eq!(block_string_value(""), "");
        assert_eq!(block_string_value("\n  a\n    b\n  \n"), "a\n  b");
        assert_eq!(block_string_value("first\n   x\n   y"), "first\nx\ny");
    }
}
