//! A small YAML emitter for JSON values: block style, plain scalars where they read back as
//! the same string, double quotes otherwise, literal blocks for multi-line text. Output is
//! deterministic and reads back (YAML 1.1 and 1.2) as the same value.
use serde_json::Value;

/// Text for one line of a YAML comment: as it is when it has no control characters (a
/// newline would end the comment and start YAML), else JSON-escaped.
pub(crate) fn one_line(s: &str) -> std::borrow::Cow<'_, str> {
    if s.chars().any(char::is_control) {
        serde_json::to_string(s).map_or(std::borrow::Cow::Borrowed(""), std::borrow::Cow::Owned)
    } else {
        std::borrow::Cow::Borrowed(s)
    }
}

/// `value` as one YAML document without `---`: how runnerctl prints an object (block style,
/// keys in the object's order, strings quoted only where a reader would take them for
/// something else).
///
/// ```
/// let text = runnerctl::render::to_yaml(&serde_json::json!({"kind": "Secret", "data": {"a": "true"}}));
/// assert_eq!(text, "kind: Secret\ndata:\n  a: \"true\"\n");
/// ```
pub fn to_yaml(value: &Value) -> String {
    let mut out = String::new();
    write_document(&mut out, value);
    out
}

/// Append `value` as a YAML document body (no `---`) to `out`.
pub fn write_document(out: &mut String, value: &Value) {
    match value {
        Value::Object(map) if !map.is_empty() => write_map(out, map, 0),
        Value::Array(items) if !items.is_empty() => write_seq(out, items, 0),
        scalar => {
            write_scalar(out, scalar, 0);
            out.push('\n');
        }
    }
}

fn indent(out: &mut String, n: usize) {
    const SPACES: &str = "                                                                ";
    let mut left = n;
    while left > 0 {
        let step = left.min(SPACES.len());
        out.push_str(&SPACES[..step]);
        left -= step;
    }
}

fn write_map(out: &mut String, map: &serde_json::Map<String, Value>, level: usize) {
    for (i, (key, value)) in map.iter().enumerate() {
        // The first key of a map inside a list item shares the line with its `- `.
        if i > 0 || level == 0 || !out.ends_with("- ") {
            indent(out, level);
        }
        write_string(out, key, level, true);
        out.push(':');
        write_child(out, value, level);
    }
}

fn write_seq(out: &mut String, items: &[Value], level: usize) {
    for (i, item) in items.iter().enumerate() {
        if i > 0 || level == 0 || !out.ends_with("- ") {
            indent(out, level);
        }
        out.push_str("- ");
        match item {
            Value::Object(map) if !map.is_empty() => write_map(out, map, level + 2),
            Value::Array(inner) if !inner.is_empty() => write_seq(out, inner, level + 2),
            scalar => {
                write_scalar(out, scalar, level + 2);
                out.push('\n');
            }
        }
    }
}

/// What follows `key:`: a nested block on the next lines, or a scalar on the same line.
fn write_child(out: &mut String, value: &Value, level: usize) {
    match value {
        Value::Object(map) if !map.is_empty() => {
            out.push('\n');
            write_map(out, map, level + 2);
        }
        // Lists under a key sit at the key's indentation, as kubectl prints them.
        Value::Array(items) if !items.is_empty() => {
            out.push('\n');
            write_seq(out, items, level);
        }
        scalar => {
            out.push(' ');
            write_scalar(out, scalar, level + 2);
            out.push('\n');
        }
    }
}

fn write_scalar(out: &mut String, value: &Value, level: usize) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&n.to_string()),
        Value::String(s) => write_string(out, s, level, false),
        Value::Object(_) => out.push_str("{}"),
        Value::Array(_) => out.push_str("[]"),
    }
}

fn write_string(out: &mut String, s: &str, level: usize, is_key: bool) {
    if is_plain_safe(s) {
        out.push_str(s);
    } else if !is_key && s.contains('\n') && literal_block_safe(s) {
        write_literal(out, s, level);
    } else {
        write_quoted(out, s);
    }
}

/// A double-quoted scalar: JSON's escapes, and `\uXXXX` also for the characters YAML does not
/// allow as they are (C1 controls, NEL) or that readers may take for line breaks or a byte
/// order mark (U+2028, U+2029, U+FEFF).
fn write_quoted(out: &mut String, s: &str) {
    use std::fmt::Write as _;
    out.push('"');
    let mut start = 0;
    for (i, c) in s.char_indices() {
        let escape = match c {
            '"' => "\\\"",
            '\\' => "\\\\",
            '\n' => "\\n",
            '\t' => "\\t",
            '\r' => "\\r",
            '\u{8}' => "\\b",
            '\u{c}' => "\\f",
            c if c.is_control() || matches!(c, '\u{2028}' | '\u{2029}' | '\u{feff}') => "",
            _ => continue,
        };
        out.push_str(&s[start..i]);
        if escape.is_empty() {
            let _ = write!(out, "\\u{:04x}", c as u32);
        } else {
            out.push_str(escape);
        }
        start = i + c.len_utf8();
    }
    out.push_str(&s[start..]);
    out.push('"');
}

/// `|` block: the text's lines indented one level deeper than the key.
fn write_literal(out: &mut String, s: &str, level: usize) {
    let trailing = s.len() - s.trim_end_matches('\n').len();
    out.push('|');
    if s.starts_with(' ') {
        out.push('2');
    }
    match trailing {
        0 => out.push('-'),
        1 => {}
        _ => out.push('+'),
    }
    let body = if trailing > 0 { &s[..s.len() - 1] } else { s };
    for line in body.split('\n') {
        out.push('\n');
        if !line.is_empty() {
            indent(out, level);
            out.push_str(line);
        }
    }
}

/// Literal blocks keep every character except control characters (other than tab) and
/// carriage returns, and cannot express trailing spaces reliably on the last line.
fn literal_block_safe(s: &str) -> bool {
    !has_unprintable(s, true) && !s.trim_end_matches('\n').ends_with([' ', '\t'])
}

/// Whether `s` holds a character no unquoted YAML scalar keeps as written: a control
/// character (C0, DEL, C1, NEL), a byte order mark, a line or paragraph separator; newline
/// and tab do not count when `lines` (a literal block holds them). Scans bytes: the UTF-8
/// forms of the non-ASCII ones are matched directly.
fn has_unprintable(s: &str, lines: bool) -> bool {
    let bytes = s.as_bytes();
    let at = |i: usize| match bytes[i] {
        b'\n' | b'\t' => !lines,
        0..=0x1f | 0x7f => true,
        // U+0080..U+009F (C1 controls, NEL among them).
        0xc2 => matches!(bytes.get(i + 1), Some(0x80..=0x9f)),
        // U+2028, U+2029.
        0xe2 => bytes.get(i + 1) == Some(&0x80) && matches!(bytes.get(i + 2), Some(0xa8 | 0xa9)),
        // U+FEFF.
        0xef => bytes.get(i + 1) == Some(&0xbb) && bytes.get(i + 2) == Some(&0xbf),
        _ => false,
    };
    // Eight bytes at a time: a word of printable ASCII only (0x20..=0x7e) holds nothing to
    // find; any other word is looked at byte by byte.
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGH: u64 = u64::from_ne_bytes([0x80; 8]);
    let mut chunks = bytes.chunks_exact(8);
    for (n, chunk) in chunks.by_ref().enumerate() {
        let x = u64::from_ne_bytes(chunk.try_into().expect("8 bytes"));
        let below_space = x.wrapping_sub(ONES * 0x20) & !x & HIGH;
        let above_tilde = (x.wrapping_add(ONES) | x) & HIGH;
        if below_space | above_tilde != 0 && (n * 8..n * 8 + 8).any(at) {
            return true;
        }
    }
    let tail = bytes.len() - chunks.remainder().len();
    (tail..bytes.len()).any(at)
}

/// A string that reads back as itself when written without quotes.
fn is_plain_safe(s: &str) -> bool {
    let Some(first) = s.chars().next() else {
        return false;
    };
    if s.starts_with([' ', '\t']) || s.ends_with([' ', '\t', ':']) {
        return false;
    }
    if "-?:,[]{}#&*!|>'\"%@`".contains(first)
        && !(matches!(first, '-' | '?' | ':') && s.len() > 1 && !s[1..].starts_with([' ', '\t']))
    {
        return false;
    }
    let bytes = s.as_bytes();
    if bytes
        .windows(2)
        .any(|w| matches!(w, [b':', b' '] | [b' ', b'#']))
    {
        return false;
    }
    if has_unprintable(s, false) {
        return false;
    }
    !resolves_to_non_string(s)
}

/// Would a YAML 1.1 or 1.2 reader take this plain scalar for a null, bool or number?
fn resolves_to_non_string(s: &str) -> bool {
    const WORDS: &[&str] = &[
        "~", "null", "true", "false", "yes", "no", "on", "off", "y", "n", ".inf", "-.inf", "+.inf",
        ".nan",
    ];
    if s.len() <= 5 && WORDS.iter().any(|w| w.eq_ignore_ascii_case(s)) {
        return true;
    }
    let body = s.strip_prefix(['+', '-']).unwrap_or(s);
    if body.is_empty() {
        return false;
    }
    // Numbers as YAML 1.1 or 1.2 readers see them: 0x/0o/0b forms, and decimals, floats,
    // exponents and sexagesimals (1:30), with underscores. Quoted: cheap and safe.
    for (prefix, digits) in [
        (b'x', "0123456789abcdef_"),
        (b'o', "01234567_"),
        (b'b', "01_"),
    ] {
        if let [b'0', p, rest @ ..] = body.as_bytes()
            && p.eq_ignore_ascii_case(&prefix)
        {
            return !rest.is_empty()
                && rest
                    .iter()
                    .all(|c| digits.as_bytes().contains(&c.to_ascii_lowercase()));
        }
    }
    let starts_numeric = body.starts_with(|c: char| c.is_ascii_digit())
        || (body.starts_with('.') && body[1..].starts_with(|c: char| c.is_ascii_digit()));
    starts_numeric
        && body
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '.' | '_' | ':' | 'e' | 'E' | '+' | '-'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn roundtrip(v: &Value) -> String {
        let out = to_yaml(v);
        let back: Value = serde_saphyr::from_str(&out).unwrap_or_else(|e| panic!("{e}\n{out}"));
        assert_eq!(&back, v, "\n{out}");
        out
    }

    #[test]
    fn round_trips_tricky_values() {
        let strings = [
            "",
            " lead",
            "trail ",
            "true",
            "False",
            "yes",
            "on",
            "null",
            "~",
            "10",
            "0x1F",
            "0o17",
            "0b101",
            "7814fee",
            "1e3",
            "1_000",
            "1.5",
            "-1",
            "0755",
            "1:30",
            ".5",
            ".inf",
            "- item",
            "key: value",
            "a #comment",
            "#x",
            "@at",
            "`tick",
            "*ref",
            "&anchor",
            "!tag",
            "|pipe",
            ">fold",
            "%pct",
            "'q'",
            "\"dq\"",
            "{x}",
            "[x]",
            "a,b",
            "colon:",
            "::",
            "http://x.example/a?b=c",
            "glrt-abc",
            "gitlab.*runner",
            "-",
            "--config",
            "?",
            "tab\there",
            "line\nnext\n",
            "no newline\nat end",
            "two\n\n",
            "  indented\nblock\n",
            "\nstarts",
            "ctrl\u{1}",
            "trailing space \nx\n",
            "unicode ü ✓",
            "k8s",
            "app.kubernetes.io/name",
            "*",
            "a: b\nc: d\n",
            "nel\u{85}x",
            "c1\u{9f}",
            "del\u{7f}",
            "ls\u{2028}x",
            "bom\u{feff}x",
            "cr\r\nx\n",
            "block\nwith\u{85}nel\n",
            "0X1f",
            "0B",
            "0x",
            "NULL",
            "-.Inf",
            "FALSE",
            "Y",
            "n",
            "nulls",
        ];
        for s in strings {
            roundtrip(&json!({ "k": s, s: 1, "list": [s, {"k": s}] }));
        }
    }

    /// The byte scan finds exactly the characters it names, wherever they sit in the text.
    #[test]
    fn unprintable_scan_matches_the_characters() {
        let special = |c: char, lines: bool| {
            (c.is_control() && !(lines && matches!(c, '\n' | '\t')))
                || matches!(c, '\u{feff}' | '\u{2028}' | '\u{2029}')
        };
        let probes = [
            'a',
            ' ',
            '\n',
            '\t',
            '\r',
            '\u{0}',
            '\u{1f}',
            '\u{7f}',
            '\u{80}',
            '\u{85}',
            '\u{9f}',
            '\u{a0}',
            '\u{c2}',
            'ü',
            '\u{2027}',
            '\u{2028}',
            '\u{2029}',
            '\u{202a}',
            '\u{feff}',
            '\u{fefe}',
            '\u{ffbf}',
            '✓',
            '\u{1f600}',
        ];
        for c in probes {
            for lines in [false, true] {
                let texts = [
                    format!("{c}"),
                    format!("ab{c}"),
                    format!("{c}cd"),
                    format!("é{c}é"),
                ];
                // Every position of an eight-byte word, and across the edge of two words.
                let around = (0..=17).map(|n| format!("{}{c}{}", "x".repeat(n), "~".repeat(20)));
                for text in texts.into_iter().chain(around) {
                    assert_eq!(
                        has_unprintable(&text, lines),
                        special(c, lines),
                        "{text:?} lines={lines}"
                    );
                }
            }
        }
    }

    /// Quoting writes what JSON writes, except for the characters YAML needs escaped.
    #[test]
    fn quoting_is_json_plus_yaml_escapes() {
        for s in ["a\"b\\c", "\u{0}\u{8}\u{c}\u{1b}\r\n\t", "ü ✓ 😀", "a/b"] {
            let mut out = String::new();
            write_quoted(&mut out, s);
            assert_eq!(out, serde_json::to_string(s).unwrap(), "{s:?}");
        }
        let mut out = String::new();
        write_quoted(&mut out, "\u{7f}\u{85}\u{9f}\u{2028}\u{2029}\u{feff}x");
        assert_eq!(out, r#""\u007f\u0085\u009f\u2028\u2029\ufeffx""#);
    }

    #[test]
    fn shapes() {
        let v = json!({"a": {"b": [1, {"c": [], "d": {}}, [2, 3]], "e": null}, "f": [{"g": 1, "h": [{"i": true}]}]});
        let out = roundtrip(&v);
        assert_eq!(
            out,
            "a:\n  b:\n  - 1\n  - c: []\n    d: {}\n  - - 2\n    - 3\n  e: null\nf:\n- g: 1\n  h:\n  - i: true\n"
        );
    }

    #[test]
    fn multi_line_text_is_a_literal_block() {
        let out = roundtrip(&json!({"data": {"script": "#!/bin/bash\necho hi\n"}}));
        assert_eq!(out, "data:\n  script: |\n    #!/bin/bash\n    echo hi\n");
    }
}
