//! Reading a template's output into JSON values in one pass: JSON texts one after another,
//! where a comma may trail the last member of an object or list (so templates can add
//! members conditionally) and a member whose value is `null` is left out (Kubernetes reads
//! `null` as "not set").
//!
//! Each object and list is built at its final size: its members are collected on a stack
//! shared by all levels and moved into the map or list when it closes.
use serde_json::{Map, Number, Value};

/// Nesting this deep is an error, not a stack overflow (serde_json's limit).
const MAX_DEPTH: usize = 128;

/// Where reading stopped and why; the position is a byte offset into the text.
#[derive(Debug)]
pub(super) struct ReadError {
    /// What was wrong, without the text's content (it may hold tokens).
    pub what: &'static str,
    /// Byte offset of the problem.
    pub at: usize,
}

impl ReadError {
    /// 1-based line and column of the problem in `text`.
    pub fn line_column(&self, text: &str) -> (usize, usize) {
        let before = &text.as_bytes()[..self.at.min(text.len())];
        let line = 1 + memchr::memchr_iter(b'\n', before).count();
        let start = memchr::memrchr(b'\n', before).map_or(0, |i| i + 1);
        (line, self.at.min(text.len()) - start + 1)
    }
}

thread_local! {
    /// The member and item stacks of the last reader on this thread, kept for the next one.
    static SPARE_STACKS: std::cell::Cell<Stacks> = const { std::cell::Cell::new((Vec::new(), Vec::new())) };
}

/// A reader's stacks: members of the objects being read, items of the lists being read.
type Stacks = (Vec<(String, Value)>, Vec<Value>);

/// All JSON texts in `text`, in order.
pub(super) fn read_all(text: &str) -> Result<Vec<Value>, ReadError> {
    let (members, items) = SPARE_STACKS.try_with(|s| s.take()).unwrap_or_default();
    let mut reader = Reader {
        src: text,
        at: 0,
        members,
        items,
    };
    let values = reader.read_all();
    let (mut members, mut items) = (reader.members, reader.items);
    members.clear();
    items.clear();
    // Small stacks (a few hundred entries at most for any object) are kept; a huge one is not.
    if members.capacity() <= 1024 && items.capacity() <= 1024 {
        let _ = SPARE_STACKS.try_with(|s| s.set((members, items)));
    }
    values
}

struct Reader<'a> {
    src: &'a str,
    at: usize,
    /// Members of the objects being read, innermost last.
    members: Vec<(String, Value)>,
    /// Items of the lists being read, innermost last.
    items: Vec<Value>,
}

/// JSON's whitespace.
fn is_whitespace(b: u8) -> bool {
    matches!(b, b' ' | b'\n' | b'\t' | b'\r')
}

impl<'a> Reader<'a> {
    fn read_all(&mut self) -> Result<Vec<Value>, ReadError> {
        let mut values = Vec::new();
        loop {
            self.skip_whitespace();
            if self.at == self.src.len() {
                return Ok(values);
            }
            let value = self.value(0)?;
            // A number, `true`, `false` or `null` must end before the next text starts.
            let delimited = matches!(value, Value::Object(_) | Value::Array(_) | Value::String(_));
            let ends = match self.peek() {
                None => true,
                Some(b) => is_whitespace(b) || b"\"[]{},:".contains(&b),
            };
            if !delimited && !ends {
                return self.fail("trailing characters");
            }
            values.push(value);
        }
    }

    /// The text as bytes.
    fn text(&self) -> &'a [u8] {
        self.src.as_bytes()
    }

    fn fail<T>(&self, what: &'static str) -> Result<T, ReadError> {
        Err(ReadError { what, at: self.at })
    }

    fn peek(&self) -> Option<u8> {
        self.text().get(self.at).copied()
    }

    fn skip_whitespace(&mut self) {
        while self.peek().is_some_and(is_whitespace) {
            self.at += 1;
        }
    }

    /// After an opening bracket: whether the container is empty (`{}`, `{ , }`: a lone
    /// trailing comma is one too), stepping over the closer if so.
    fn empty(&mut self, close: u8) -> bool {
        self.skip_whitespace();
        let start = self.at;
        if self.peek() == Some(b',') {
            self.at += 1;
            self.skip_whitespace();
            if self.peek() != Some(close) {
                self.at = start;
                return false;
            }
        }
        if self.peek() == Some(close) {
            self.at += 1;
            return true;
        }
        false
    }

    /// After a member or item: `true` when the container goes on (a comma not followed by
    /// the closer), `false` when it closed.
    fn next(&mut self, close: u8, expected: &'static str) -> Result<bool, ReadError> {
        self.skip_whitespace();
        match self.peek() {
            Some(b',') => {
                self.at += 1;
                self.skip_whitespace();
                if self.peek() == Some(close) {
                    self.at += 1;
                    return Ok(false);
                }
                Ok(true)
            }
            Some(b) if b == close => {
                self.at += 1;
                Ok(false)
            }
            _ => self.fail(expected),
        }
    }

    fn value(&mut self, depth: usize) -> Result<Value, ReadError> {
        self.skip_whitespace();
        match self.peek() {
            Some(b'{') => self.object(depth + 1),
            Some(b'[') => self.list(depth + 1),
            Some(b'"') => Ok(Value::String(self.string()?)),
            Some(b't') => self.literal("true", Value::Bool(true)),
            Some(b'f') => self.literal("false", Value::Bool(false)),
            Some(b'n') => self.literal("null", Value::Null),
            Some(b'-' | b'0'..=b'9') => self.number(),
            None => self.fail("EOF while parsing a value"),
            Some(_) => self.fail("expected value"),
        }
    }

    fn literal(&mut self, word: &str, value: Value) -> Result<Value, ReadError> {
        if self.text()[self.at..].starts_with(word.as_bytes()) {
            self.at += word.len();
            Ok(value)
        } else {
            self.fail("expected value")
        }
    }

    /// On an opening bracket: steps over it; `true` when the container is empty (and
    /// closed).
    fn open(&mut self, depth: usize, close: u8) -> Result<bool, ReadError> {
        if depth >= MAX_DEPTH {
            return self.fail("recursion limit exceeded");
        }
        self.at += 1;
        Ok(self.empty(close))
    }

    fn object(&mut self, depth: usize) -> Result<Value, ReadError> {
        if self.open(depth, b'}')? {
            return Ok(Value::Object(Map::new()));
        }
        let first = self.members.len();
        loop {
            self.skip_whitespace();
            if self.peek() != Some(b'"') {
                return self.fail("key must be a string");
            }
            let key = self.string()?;
            self.skip_whitespace();
            if self.peek() != Some(b':') {
                return self.fail("expected `:`");
            }
            self.at += 1;
            let value = self.value(depth)?;
            self.members.push((key, value));
            if !self.next(b'}', "expected `,` or `}`")? {
                break;
            }
        }
        let mut map = Map::with_capacity(self.members.len() - first);
        for (key, value) in self.members.drain(first..) {
            // A later member with the same key replaces the earlier one in its place, and a
            // `null` one removes it: the order of the other members stays.
            if value.is_null() {
                map.shift_remove(&key);
            } else {
                map.insert(key, value);
            }
        }
        Ok(Value::Object(map))
    }

    fn list(&mut self, depth: usize) -> Result<Value, ReadError> {
        if self.open(depth, b']')? {
            return Ok(Value::Array(Vec::new()));
        }
        let first = self.items.len();
        loop {
            let value = self.value(depth)?;
            self.items.push(value);
            if !self.next(b']', "expected `,` or `]`")? {
                break;
            }
        }
        Ok(Value::Array(self.items.drain(first..).collect()))
    }

    /// A string, the reader on its opening quote.
    fn string(&mut self) -> Result<String, ReadError> {
        self.at += 1;
        let mut plain = self.at;
        let mut out: Option<String> = None;
        loop {
            self.at = special_byte(self.text(), self.at);
            match self.peek() {
                Some(b'"') => {
                    let tail = &self.src[plain..self.at];
                    self.at += 1;
                    return Ok(match out {
                        None => tail.to_string(),
                        Some(mut s) => {
                            s.push_str(tail);
                            s
                        }
                    });
                }
                Some(b'\\') => {
                    // The unescaped string is shorter than its text: room for all of it at once.
                    let s = out.get_or_insert_with(|| {
                        String::with_capacity(string_end(self.text(), self.at) - plain)
                    });
                    s.push_str(&self.src[plain..self.at]);
                    self.at += 1;
                    let c = self.escape()?;
                    out.as_mut().expect("set above").push(c);
                    plain = self.at;
                }
                Some(_) => {
                    return self
                        .fail("control character (\\u0000-\\u001F) found while parsing a string");
                }
                None => return self.fail("EOF while parsing a string"),
            }
        }
    }

    /// One escape, the reader after its backslash.
    fn escape(&mut self) -> Result<char, ReadError> {
        let Some(b) = self.peek() else {
            return self.fail("EOF while parsing a string");
        };
        self.at += 1;
        Ok(match b {
            b'"' => '"',
            b'\\' => '\\',
            b'/' => '/',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'u' => {
                let first = self.hex4()?;
                if !(0xD800..0xDC00).contains(&first) {
                    return match char::from_u32(u32::from(first)) {
                        Some(c) => Ok(c),
                        None => self.fail("lone trailing surrogate in hex escape"),
                    };
                }
                if !self.text()[self.at..].starts_with(b"\\u") {
                    return self.fail("lone leading surrogate in hex escape");
                }
                self.at += 2;
                let second = self.hex4()?;
                if !(0xDC00..0xE000).contains(&second) {
                    return self.fail("lone leading surrogate in hex escape");
                }
                let c =
                    0x10000 + ((u32::from(first) - 0xD800) << 10) + (u32::from(second) - 0xDC00);
                char::from_u32(c).expect("a surrogate pair is a character")
            }
            _ => {
                self.at -= 1;
                return self.fail("invalid escape");
            }
        })
    }

    fn hex4(&mut self) -> Result<u16, ReadError> {
        let digits = self.text().get(self.at..self.at + 4);
        let value = digits
            .and_then(|d| std::str::from_utf8(d).ok())
            .filter(|d| d.bytes().all(|b| b.is_ascii_hexdigit()))
            .and_then(|d| u16::from_str_radix(d, 16).ok());
        match value {
            Some(v) => {
                self.at += 4;
                Ok(v)
            }
            None => self.fail("invalid escape"),
        }
    }

    /// A number: its extent found here, its value read by serde_json (same rules, same
    /// integer and float types).
    fn number(&mut self) -> Result<Value, ReadError> {
        let start = self.at;
        while let Some(b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E') = self.peek() {
            self.at += 1;
        }
        match self.src[start..self.at].parse::<Number>() {
            Ok(n) => Ok(Value::Number(n)),
            Err(_) => {
                self.at = start;
                self.fail("invalid number")
            }
        }
    }
}

/// An upper bound of where the string that goes on at `from` ends: the offset of its closing
/// quote (the first `"` after an even number of backslashes), or the text's end.
fn string_end(text: &[u8], from: usize) -> usize {
    let mut at = from;
    while let Some(quote) = memchr::memchr(b'"', &text[at..]).map(|i| at + i) {
        let backslashes = text[from..quote]
            .iter()
            .rev()
            .take_while(|&&b| b == b'\\')
            .count();
        if backslashes % 2 == 0 {
            return quote;
        }
        at = quote + 1;
    }
    text.len()
}

/// The offset of the first `"`, `\\` or control character (below 0x20) at or after `from`, or
/// the text's length: eight bytes at a time, as most strings have none for a while.
fn special_byte(text: &[u8], from: usize) -> usize {
    const ONES: u64 = u64::from_ne_bytes([1; 8]);
    const HIGH: u64 = u64::from_ne_bytes([0x80; 8]);
    let mut at = from;
    while let Some(chunk) = text.get(at..at + 8) {
        let word = u64::from_le_bytes(chunk.try_into().expect("eight bytes"));
        let quote = word ^ (ONES * u64::from(b'"'));
        let backslash = word ^ (ONES * u64::from(b'\\'));
        // A byte's high bit is set here if it is zero (quote, backslash) or below 0x20
        // (control); bits above the lowest such byte may be wrong, the lowest never is.
        let found = (quote.wrapping_sub(ONES) & !quote)
            | (backslash.wrapping_sub(ONES) & !backslash)
            | (word.wrapping_sub(ONES * 0x20) & !word);
        let found = found & HIGH;
        if found != 0 {
            return at + (found.trailing_zeros() / 8) as usize;
        }
        at += 8;
    }
    while let Some(&b) = text.get(at) {
        if b == b'"' || b == b'\\' || b < 0x20 {
            return at;
        }
        at += 1;
    }
    at
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The definition, in three steps: remove every comma outside strings that is followed
    /// (after whitespace) by `}` or `]`, read the texts with serde_json, drop `null` members.
    fn reference(text: &str) -> Option<Vec<Value>> {
        let bytes = text.as_bytes();
        let (mut stripped, mut in_string, mut escaped) = (Vec::new(), false, false);
        for (i, &b) in bytes.iter().enumerate() {
            let next = bytes[i + 1..].iter().find(|c| !c.is_ascii_whitespace());
            match b {
                _ if in_string && escaped => escaped = false,
                b'\\' if in_string => escaped = true,
                b'"' => in_string = !in_string,
                b',' if !in_string && matches!(next, Some(b'}' | b']')) => continue,
                _ => {}
            }
            stripped.push(b);
        }
        fn drop_nulls(v: &mut Value) {
            match v {
                Value::Object(map) => {
                    map.retain(|_, x| !x.is_null());
                    map.values_mut().for_each(drop_nulls);
                }
                Value::Array(items) => items.iter_mut().for_each(drop_nulls),
                _ => {}
            }
        }
        let text = String::from_utf8(stripped).ok()?;
        let mut out = Vec::new();
        for value in serde_json::Deserializer::from_str(&text).into_iter::<Value>() {
            let mut value = value.ok()?;
            drop_nulls(&mut value);
            out.push(value);
        }
        Some(out)
    }

    /// Equal, with maps compared in order.
    fn same(a: &[Value], b: &[Value]) -> bool {
        serde_json::to_string(a).unwrap() == serde_json::to_string(b).unwrap()
    }

    fn check(text: &str) {
        let ours = read_all(text).ok();
        let theirs = reference(text);
        match (&ours, &theirs) {
            (Some(a), Some(b)) => assert!(same(a, b), "{text:?}: {a:?} vs {b:?}"),
            (None, None) => {}
            _ => panic!("{text:?}: read {ours:?}, reference {theirs:?}"),
        }
    }

    /// Every text of up to `max` pieces of `alphabet`.
    fn every_text(alphabet: &[&str], max: u32) {
        for len in 0..=max {
            for n in 0..alphabet.len().pow(len) {
                let (mut text, mut rest) = (String::new(), n);
                for _ in 0..len {
                    text.push_str(alphabet[rest % alphabet.len()]);
                    rest /= alphabet.len();
                }
                check(&text);
            }
        }
    }

    #[test]
    fn agrees_with_the_definition_on_every_short_text() {
        // Structure, a key, a value, a null, whitespace and a string with an escape.
        every_text(
            &[
                "{", "}", "[", "]", ",", ":", "\"k\"", "1", "null", " ", "\"\\n\"",
            ],
            6,
        );
        // Strings cut anywhere: quotes and backslashes on their own.
        every_text(&["\"", "\\", ",", "]", "}", " ", "a", "["], 6);
    }

    #[test]
    fn agrees_with_the_definition_on_strings_numbers_and_members() {
        for text in [
            r#"{"a": [1, 2, ], "b": ",}", "c": {"d": "\",]",
              },
            }
            {"e": 1,}"#,
            r#"{"a": "x\\", "b": ["\\\"", ] , }"#,
            r#"{"a": 1, "b": null, "a": 2}"#,
            r#"{"a": 1, "b": 2, "a": null, "c": [null, {"x": null}]}"#,
            r#"{"s": "\u00e9\u2028\ud83d\ude00 \/ \b\f\r\t", "t": "ü漢"}"#,
            r#"{"s": "\ud83d"}"#,
            r#"{"s": "\ude00"}"#,
            r#"{"s": "\ud83d\u0041"}"#,
            r#"{"s": "\x"}"#,
            r#"{"s": "\u12"}"#,
            "{\"s\": \"a\u{1}b\"}",
            "{\"s\": \"a\tb\"}",
            r#"[0, -0, 1.5, -2e3, 1E+2, 18446744073709551615, 18446744073709551616, -9223372036854775808, 01, 1., .5, -, 1e, 2-1]"#,
            r#"[1.0e-400, 1e400]"#,
            r#"{"a": tru}"#,
            r#"{"a": true false}"#,
            r#"{"a" 1}"#,
            r#"{1: 2}"#,
            r#"{"a": 1}}"#,
            r#"{"a": 1},{"b": 2}"#,
            r#"{"a": 1}{"b": 2}"#,
            r#"null"#,
            r#"{"a": "unterminated"#,
            "\"\\",
            "",
            "   \n ",
        ] {
            check(text);
        }
        for depth in [MAX_DEPTH - 1, MAX_DEPTH, MAX_DEPTH + 1] {
            check(&("[".repeat(depth) + &"]".repeat(depth)));
            check(&("{\"a\":".repeat(depth) + "1" + &"}".repeat(depth)));
        }
    }

    #[test]
    fn special_bytes_are_found_at_every_offset() {
        for special in [b'"', b'\\', 0, 0x1f, b'\n'] {
            for len in 0..20 {
                for pos in 0..=len {
                    let mut text = vec![b'a'; len];
                    // Bytes just above the special ones, and non-ASCII, are not special.
                    for (i, b) in text.iter_mut().enumerate() {
                        *b = [b'a', b'#', b']', 0x20, 0x80, 0xff][i % 6];
                    }
                    if pos < len {
                        text[pos] = special;
                        // A second special byte later must not hide the first.
                        if pos + 3 < len {
                            text[pos + 3] = b'"';
                        }
                    }
                    assert_eq!(special_byte(&text, 0), pos, "{text:?}");
                    assert_eq!(special_byte(&text, pos), pos, "{text:?}");
                }
            }
        }
    }

    #[test]
    fn string_end_is_the_closing_quote() {
        for (text, end) in [
            (r#""a\nb" x"#, 5),
            (r#""\"" x"#, 3),
            (r#""\\" x"#, 3),
            (r#""a\\\"b\\\\" x"#, 11),
            (r#""\u0022" x"#, 7),
            (r#""\n no end"#, 10),
        ] {
            let from = text.find('\\').unwrap();
            assert_eq!(string_end(text.as_bytes(), from), end, "{text}");
            // The reader reads the string up to the same quote.
            if end < text.len() {
                assert!(read_all(&text[..=end]).is_ok(), "{text}");
            }
        }
    }

    #[test]
    fn errors_say_where() {
        let text = "{\n  \"a\": 1,\n  \"b\": x\n}";
        let e = read_all(text).unwrap_err();
        assert_eq!(e.what, "expected value");
        assert_eq!(e.line_column(text), (3, 8));
        let e = read_all("[1, 2").unwrap_err();
        assert_eq!(e.what, "expected `,` or `]`");
        assert_eq!(e.line_column("[1, 2"), (1, 6));
    }
}
