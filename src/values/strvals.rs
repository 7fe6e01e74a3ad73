//! The `--set` family of flags: helm's `strvals` grammar.
//!
//! # Grammar
//!
//! ```text
//! expr    = [ pair *( "," pair ) [ "," ] ]     ; pairs are applied left to right
//! pair    = key "=" value
//! key     = name *( "." name / "[" index "]" ) ; must start with a name: "a", "a.b", "a[0].b", "a[1][2]"
//! name    = 1*( any char except . [ ] = , \  /  "\" any-char )
//! index   = 1*DIGIT                            ; 0 ..= MAX_LIST_INDEX; a list grows with nulls to reach it
//! value   = list / scalar
//! list    = "{" [ item *( "," item ) ] "}"     ; "{}" is an empty list; must end the pair
//! item    = *( any char except , } \  /  "\" any-char )
//! scalar  = *( any char except , \  /  "\" any-char )   ; "=" is allowed: a=b=c sets a to "b=c"
//! ```
//!
//! - `\` escapes the next character in keys and values (`\,` `\.` `\=` `\[` `\\`); a trailing `\`
//!   stays literal.
//! - `--set` types each scalar and list item like helm: `true`/`false`/`null` (any case) become a
//!   boolean / null, `0` and decimal integers that fit in i64 and do not start with `0` become
//!   integers (`+5`, `-3` too); everything else, including `007`, `1.5` and integers beyond i64,
//!   stays a string. `name=` is the empty string. `null` deletes the key from the result.
//! - `--set-string` keeps every value a string (`a=null` is the string "null").
//! - `--set-json`: `key=<JSON value>`, pairs separated by commas: `a.b={"x":1},c=[1,2]`.
//! - `--set-file key=path`: the key uses the `key` grammar above; the value is the file's text.
//!
//! Limits: [`MAX_LIST_INDEX`] per index, [`MAX_LIST_SLOTS`](super::MAX_LIST_SLOTS) list
//! entries created by indexes in all (checked when assignments are applied, before a list
//! grows), [`MAX_NESTING_DEPTH`] key segments, [`MAX_SET_EXPR_BYTES`] per expression.

use serde_json::Value;

#[allow(unused_imports)] // for the docs
use super::MAX_SET_EXPR_BYTES;
use super::path::{KeyPath, Seg};
use super::{MAX_LIST_INDEX, MAX_NESTING_DEPTH};

/// One `key=value` of an expression.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Assignment {
    pub(crate) path: KeyPath,
    pub(crate) value: Value,
}

/// A parse failure: what is wrong and at which character (1-based) it was found.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ParseError {
    pub(crate) pos: usize,
    pub(crate) message: String,
}

/// How scalars are typed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// `--set`: helm's typing.
    Typed,
    /// `--set-string`: everything a string.
    Strings,
}

/// A key as far as it is read: the segments so far and the name being read.
#[derive(Default)]
struct KeyParts {
    segs: Vec<Seg>,
    name: String,
    /// Right after `]`: an empty name is fine before `=`, `[` or `.`.
    after_index: bool,
}

impl KeyParts {
    /// The name read so far (if any) becomes a segment.
    fn end_name(&mut self) {
        if !self.name.is_empty() {
            self.segs.push(Seg::Key(std::mem::take(&mut self.name)));
        }
    }
}

struct Parser<'a> {
    text: &'a str,
    chars: Vec<char>,
    /// Byte offset of each char, plus text.len() at the end.
    offsets: Vec<usize>,
    i: usize,
}

impl<'a> Parser<'a> {
    fn new(text: &'a str) -> Self {
        let mut chars = Vec::with_capacity(text.len());
        let mut offsets = Vec::with_capacity(text.len() + 1);
        for (o, c) in text.char_indices() {
            chars.push(c);
            offsets.push(o);
        }
        offsets.push(text.len());
        Parser {
            text,
            chars,
            offsets,
            i: 0,
        }
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.i).copied()
    }

    fn err<T>(&self, pos: usize, message: impl Into<String>) -> Result<T, ParseError> {
        Err(ParseError {
            pos: pos + 1,
            message: message.into(),
        })
    }

    fn shown(segs: &[Seg], name: &str) -> String {
        let mut p = KeyPath(segs.to_vec());
        if !name.is_empty() {
            p.push_key(name);
        }
        p.to_string()
    }

    /// Reads a key up to (not including) `=`. With `to_end`, the key may also end the input.
    ///
    /// Steps: [`name_char`](Self::name_char) and [`escaped`](Self::escaped) build a name,
    /// [`dot`](Self::dot) ends it, [`index`](Self::index) reads `[n]`, and
    /// [`key_done`](Self::key_done) / [`key_cut`](Self::key_cut) end the key.
    fn key(&mut self, to_end: bool) -> Result<KeyPath, ParseError> {
        let start = self.i;
        let mut k = KeyParts::default();
        loop {
            if k.segs.len() > MAX_NESTING_DEPTH {
                return self.too_deep(start);
            }
            match self.peek() {
                None | Some(',') => return self.key_cut(k, to_end),
                Some('\\') => self.escaped(&mut k),
                Some('=') => return self.key_done(start, k),
                Some('.') => self.dot(&mut k)?,
                Some('[') => self.index(&mut k, to_end)?,
                Some(']') => return self.err(self.i, "unexpected ']' in a key; escape it as \\]"),
                Some(c) => self.name_char(&mut k, c)?,
            }
        }
    }

    /// The error for a key deeper than [`MAX_NESTING_DEPTH`], at the key's start.
    fn too_deep<T>(&self, start: usize) -> Result<T, ParseError> {
        self.err(
            start,
            format!("key has more than {MAX_NESTING_DEPTH} levels (MAX_NESTING_DEPTH); use a shorter key"),
        )
    }

    /// The key ends at `,` or the end of the input: a whole key with `to_end` at the end, an
    /// error (a pair without `=`) otherwise.
    fn key_cut(&self, mut k: KeyParts, to_end: bool) -> Result<KeyPath, ParseError> {
        let shown = Self::shown(&k.segs, &k.name);
        if to_end && self.peek().is_none() {
            if k.name.is_empty() && !k.after_index {
                return self.err(self.i, "empty key: expected a key name");
            }
            k.end_name();
            return Ok(KeyPath(k.segs));
        }
        if shown.is_empty() {
            return self.err(self.i, "empty pair: expected key=value");
        }
        self.err(
            self.i,
            format!("key \"{shown}\" has no value; use key=value"),
        )
    }

    /// The key ends at `=` (not consumed).
    fn key_done(&self, start: usize, mut k: KeyParts) -> Result<KeyPath, ParseError> {
        if k.name.is_empty() && !k.after_index {
            return self.err(self.i, "empty key name before '='; use key=value");
        }
        k.end_name();
        if k.segs.len() > MAX_NESTING_DEPTH {
            return self.too_deep(start);
        }
        Ok(KeyPath(k.segs))
    }

    /// `\` and the character it escapes (a trailing `\` stays literal) join the name.
    fn escaped(&mut self, k: &mut KeyParts) {
        self.i += 1;
        k.name.push(self.peek().unwrap_or('\\'));
        self.i += 1;
        k.after_index = false;
    }

    /// A plain character joins the name; right after `]` only `.`, `[` or `=` may follow.
    fn name_char(&mut self, k: &mut KeyParts, c: char) -> Result<(), ParseError> {
        if k.after_index {
            return self.unexpected_after_index(c);
        }
        k.name.push(c);
        self.i += 1;
        Ok(())
    }

    /// `.` ends a name (or follows `]`); a name must come next.
    fn dot(&mut self, k: &mut KeyParts) -> Result<(), ParseError> {
        if k.name.is_empty() && !k.after_index {
            return self.err(
                self.i,
                "empty key name before '.'; write a.b, or escape a dot in a key as \\.",
            );
        }
        k.end_name();
        k.after_index = false;
        self.i += 1;
        match self.peek() {
            None | Some('.') | Some('=') | Some('[') | Some(',') => {
                self.err(self.i, "expected a key name after '.'")
            }
            _ => Ok(()),
        }
    }

    /// `[n]` after a name or another index; then `.`, `[`, `=` (or the end with `to_end`).
    fn index(&mut self, k: &mut KeyParts, to_end: bool) -> Result<(), ParseError> {
        if k.name.is_empty() && !k.after_index {
            return self.err(self.i, "a list index needs a key before it, as in a[0]=x");
        }
        k.end_name();
        let index = self.list_index()?;
        k.segs.push(Seg::Index(index));
        k.after_index = true;
        match self.peek() {
            Some('.') | Some('[') | Some('=') => Ok(()),
            None if to_end => Ok(()),
            None | Some(',') => {
                let shown = Self::shown(&k.segs, "");
                self.err(
                    self.i,
                    format!("key \"{shown}\" has no value; use key=value"),
                )
            }
            Some(c) => self.unexpected_after_index(c),
        }
    }

    /// The error for `c` right after `]`.
    fn unexpected_after_index<T>(&self, c: char) -> Result<T, ParseError> {
        self.err(
            self.i,
            format!("unexpected '{c}' after ']': expected '.', '[' or '='"),
        )
    }

    /// `[digits]` (at `[`): the index, at most [`MAX_LIST_INDEX`]; consumes the `]`.
    fn list_index(&mut self) -> Result<usize, ParseError> {
        let open = self.i;
        self.i += 1;
        let mut digits = String::new();
        loop {
            match self.peek() {
                Some(']') => break,
                Some(c) if c.is_ascii_digit() => {
                    digits.push(c);
                    self.i += 1;
                }
                None => return self.err(open, "list index not closed: expected ']'"),
                Some(c) => {
                    return self.err(
                        self.i,
                        format!("unexpected '{c}' in a list index: expected a non-negative integer, as in a[0]"),
                    );
                }
            }
        }
        if digits.is_empty() {
            return self.err(
                self.i,
                "empty list index: expected a non-negative integer, as in a[0]",
            );
        }
        let index = digits.parse::<usize>().unwrap_or(usize::MAX);
        if index > MAX_LIST_INDEX {
            return self.err(
                open,
                format!(
                    "list index {digits} is over the limit of {MAX_LIST_INDEX} (MAX_LIST_INDEX)"
                ),
            );
        }
        self.i += 1; // ']'
        Ok(index)
    }

    /// Reads text up to an unescaped stop character (not consumed).
    fn until(&mut self, stops: &[char]) -> String {
        let mut s = String::new();
        while let Some(c) = self.peek() {
            if stops.contains(&c) {
                break;
            }
            if c == '\\' {
                self.i += 1;
                match self.peek() {
                    Some(n) => s.push(n),
                    None => {
                        s.push('\\');
                        break;
                    }
                }
                self.i += 1;
                continue;
            }
            s.push(c);
            self.i += 1;
        }
        s
    }

    /// Reads a value (after `=`) up to the `,` or the end: a `{...}` list or a scalar.
    fn value(&mut self, mode: Mode) -> Result<Value, ParseError> {
        if self.peek() == Some('{') {
            self.list(mode)
        } else {
            let s = self.until(&[',']);
            Ok(typed(&s, mode))
        }
    }

    /// `{item,item,...}` (at `{`), which must end the pair.
    fn list(&mut self, mode: Mode) -> Result<Value, ParseError> {
        let open = self.i;
        self.i += 1;
        let mut items = Vec::new();
        if self.peek() == Some('}') {
            self.i += 1;
        } else {
            while self.list_item(open, mode, &mut items)? {}
        }
        match self.peek() {
            None | Some(',') => Ok(Value::Array(items)),
            Some(c) => self.err(
                self.i,
                format!("unexpected '{c}' after '}}': expected ',' or the end"),
            ),
        }
    }

    /// One list item and the `,` or `}` after it (consumed); false after the `}`.
    fn list_item(
        &mut self,
        open: usize,
        mode: Mode,
        items: &mut Vec<Value>,
    ) -> Result<bool, ParseError> {
        let item = self.until(&[',', '}']);
        let Some(stop) = self.peek() else {
            return self.err(open, "list not closed: expected '}' as in a={x,y}");
        };
        items.push(typed(&item, mode));
        self.i += 1;
        Ok(stop != '}')
    }

    /// After a pair: the end, or a `,` (consumed). Returns false at the end.
    fn next_pair(&mut self) -> bool {
        match self.peek() {
            Some(',') => {
                self.i += 1;
                self.peek().is_some()
            }
            _ => false,
        }
    }
}

/// Helm's typing of a `--set` scalar (see the module docs).
pub(crate) fn typed(s: &str, mode: Mode) -> Value {
    if mode == Mode::Strings {
        return Value::String(s.to_owned());
    }
    if s.eq_ignore_ascii_case("true") {
        return Value::Bool(true);
    }
    if s.eq_ignore_ascii_case("false") {
        return Value::Bool(false);
    }
    if s.eq_ignore_ascii_case("null") {
        return Value::Null;
    }
    if s == "0" {
        return Value::from(0);
    }
    if !s.is_empty()
        && !s.starts_with('0')
        && let Ok(i) = s.parse::<i64>()
    {
        return Value::from(i);
    }
    Value::String(s.to_owned())
}

/// `key=value[,key=value...]`: the pair loop shared by `--set` and `--set-json`; `value`
/// reads one value right after the `=`.
fn parse_pairs(
    expr: &str,
    mut value: impl FnMut(&mut Parser<'_>, &KeyPath) -> Result<Value, ParseError>,
) -> Result<Vec<Assignment>, ParseError> {
    let mut p = Parser::new(expr);
    let mut out = Vec::new();
    if p.peek().is_none() {
        return Ok(out);
    }
    loop {
        let path = p.key(false)?;
        p.i += 1; // '='
        let value = value(&mut p, &path)?;
        out.push(Assignment { path, value });
        if !p.next_pair() {
            return Ok(out);
        }
    }
}

/// Parses a `--set` / `--set-string` expression.
pub(crate) fn parse_set(expr: &str, mode: Mode) -> Result<Vec<Assignment>, ParseError> {
    parse_pairs(expr, |p, _| p.value(mode))
}

/// Parses a `--set-json` expression: `key=<json>[,key=<json>...]`.
pub(crate) fn parse_set_json(expr: &str) -> Result<Vec<Assignment>, ParseError> {
    parse_pairs(expr, json_value)
}

/// One JSON value after `key=`, which must be followed by `,` or the end.
fn json_value(p: &mut Parser<'_>, path: &KeyPath) -> Result<Value, ParseError> {
    let start_byte = p.offsets[p.i];
    let rest = &p.text[start_byte..];
    let mut stream = serde_json::Deserializer::from_str(rest).into_iter::<Value>();
    let value = match stream.next() {
        Some(Ok(v)) => v,
        Some(Err(e)) => {
            return p.err(
                p.i,
                format!("the value of \"{path}\" is not valid JSON ({e}); write key=<JSON>, as in a={{\"x\":1}}"),
            );
        }
        None => {
            return p.err(
                p.i,
                format!("key \"{path}\" has no JSON value; write key=<JSON>, as in a=\"x\""),
            );
        }
    };
    let end_byte = start_byte + stream.byte_offset();
    p.i = p.offsets.partition_point(|&o| o < end_byte);
    match p.peek() {
        None | Some(',') => {}
        Some(c) => {
            return p.err(
                p.i,
                format!(
                    "unexpected '{c}' after the JSON value of \"{path}\": expected ',' or the end"
                ),
            );
        }
    }
    Ok(value)
}

/// Parses a bare key (`--set-file` keys): `a.b[0].c`.
pub(crate) fn parse_key(key: &str) -> Result<KeyPath, ParseError> {
    let mut p = Parser::new(key);
    let path = p.key(true)?;
    if p.peek().is_some() {
        return p.err(p.i, "unexpected '=' in a key; escape it as \\=");
    }
    Ok(path)
}
