//! The Go-template subset that values may hold: `runners.config`, `extraObjects` and `image.tag`.
//!
//! Users of the official chart write Go-template expressions in these values. runnerctl
//! evaluates the small subset that they use and rejects anything else by name:
//!
//! | expression | result |
//! |---|---|
//! | `.Release.Name`, `.Release.Namespace` | the release's name and namespace |
//! | `.Values.a.b` | the value at `a.b` (empty for `null`; an error if the key is unknown) |
//! | `default A B` | `B` unless it is empty, else `A` |
//! | `quote X` | `X` as a double-quoted string |
//! | `X \| f ARGS` | a pipe: `f ARGS X` |
//! | `"text"`, `42`, `true` | literals |
//!
//! `{{-` and `-}}` trim the whitespace before and after, as in Go templates.
//!
//! Errors name the value the text came from and the 1-based line and column in it:
//! `runners.config:2:5: unsupported template expression ...`.
use serde_json::Value;

/// Most expressions evaluated in one value; more is hostile input.
pub const MAX_EXPRESSIONS: usize = 1024;

/// Most bytes [`evaluate`] produces for one value (3 MiB, the Kubernetes API server's largest
/// request body: no object holding more could be applied). Without it, `{{ .Values.big }}`
/// repeated [`MAX_EXPRESSIONS`] times would copy a large value a thousand times over.
pub const MAX_EXPANSION_BYTES: usize = 3 * 1024 * 1024;

/// Errors in a value's template expressions; each names the value (`key`) it came from.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum Error {
    /// An expression outside the supported subset.
    #[error(
        "{key}:{line}:{column}: unsupported template expression `{{{{{expr}}}}}`: {reason}; \
         supported are .Release.Name, .Release.Namespace, .Values.<path>, `default A B`, `quote X` \
         and pipes of them"
    )]
    Unsupported {
        /// The value the text came from, e.g. `runners.config` or `extraObjects[0]`.
        key: String,
        /// 1-based line in the user's text.
        line: usize,
        /// 1-based column in the user's text.
        column: usize,
        /// The expression between the braces.
        expr: String,
        /// What is wrong with it.
        reason: String,
    },
    /// `{{` without a closing `}}`.
    #[error("{key}:{line}:{column}: `{{{{` is not closed by `}}}}`")]
    Unclosed {
        /// The value the text came from.
        key: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
    },
    /// Too many expressions.
    #[error("{key}: more than {MAX_EXPRESSIONS} template expressions")]
    TooManyExpressions {
        /// The value the text came from.
        key: String,
    },
    /// The evaluated text would be longer than [`MAX_EXPANSION_BYTES`].
    #[error(
        "{key}: the template expressions expand to more than {MAX_EXPANSION_BYTES} bytes \
         (MAX_EXPANSION_BYTES); refer to large values fewer times"
    )]
    TooLarge {
        /// The value the text came from.
        key: String,
    },
}

/// What [`evaluate`] resolves names against.
#[derive(Debug, Clone, Copy)]
pub struct Scope<'a> {
    /// Release name.
    pub release_name: &'a str,
    /// Release namespace.
    pub release_namespace: &'a str,
    /// The merged values.
    pub values: &'a Value,
}

/// A span of evaluated output and the input span it came from, for mapping error positions.
#[derive(Debug, Clone, Copy)]
struct Segment {
    out_start: usize,
    in_start: usize,
    in_len: usize,
    out_len: usize,
    literal: bool,
}

/// Text after template evaluation, able to map positions back to the user's text.
#[derive(Debug, Clone)]
pub struct Evaluated {
    /// The evaluated text.
    pub text: String,
    source: String,
    segments: Vec<Segment>,
}

impl Evaluated {
    /// Map a byte offset of the evaluated text to 1-based line and column in the user's text.
    pub fn source_position(&self, out_offset: usize) -> (usize, usize) {
        let mut in_offset = out_offset;
        for seg in &self.segments {
            if out_offset < seg.out_start {
                break;
            }
            if out_offset < seg.out_start + seg.out_len {
                in_offset = seg.in_start
                    + if seg.literal {
                        out_offset - seg.out_start
                    } else {
                        0
                    };
                break;
            }
            in_offset = out_offset - (seg.out_start + seg.out_len) + seg.in_start + seg.in_len;
        }
        line_column(&self.source, in_offset)
    }
}

/// 1-based line and column (in characters) of a byte offset of `text`.
pub(crate) fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

/// Evaluate the template expressions in `source`, the text of the value `key` (which errors
/// name, e.g. `runners.config`).
pub fn evaluate(key: &str, source: &str, scope: &Scope<'_>) -> Result<Evaluated, Error> {
    let mut out = String::with_capacity(source.len().min(MAX_EXPANSION_BYTES));
    let mut segments = Vec::new();
    let mut rest_start = 0;
    let mut trim_next = false;
    while let Some(rel) = source[rest_start..].find("{{") {
        if segments.len() >= MAX_EXPRESSIONS {
            return Err(Error::TooManyExpressions { key: key.into() });
        }
        let open = rest_start + rel;
        let action = action(key, source, open)?;
        let mut literal = &source[rest_start..open];
        if trim_next {
            literal = literal.trim_start();
        }
        if action.trim_before {
            literal = literal.trim_end();
        }
        trim_next = action.trim_after;
        push_literal(key, &mut out, &mut segments, literal, source)?;
        let value = eval_expression(action.inner.trim(), scope).map_err(|reason| {
            let (line, column) = line_column(source, open);
            Error::Unsupported {
                key: key.into(),
                line,
                column,
                expr: action.inner.to_string(),
                reason,
            }
        })?;
        room_for(key, &out, value.len())?;
        segments.push(Segment {
            out_start: out.len(),
            in_start: open,
            in_len: action.end - open,
            out_len: value.len(),
            literal: false,
        });
        out.push_str(&value);
        rest_start = action.end;
    }
    let mut tail = &source[rest_start..];
    if trim_next {
        tail = tail.trim_start();
    }
    push_literal(key, &mut out, &mut segments, tail, source)?;
    Ok(Evaluated {
        text: out,
        source: source.to_string(),
        segments,
    })
}

/// One `{{ ... }}` action of the source.
struct Action<'s> {
    /// The text between the braces, without the `-` trim markers.
    inner: &'s str,
    /// Byte offset just after the closing `}}`.
    end: usize,
    /// `{{-`: trim the whitespace before.
    trim_before: bool,
    /// `-}}`: trim the whitespace after.
    trim_after: bool,
}

/// The action that opens at byte `open` (at `{{`) of `source`; an error when it is not closed.
fn action<'s>(key: &str, source: &'s str, open: usize) -> Result<Action<'s>, Error> {
    let inner_start = open + 2;
    let Some(close_rel) = source[inner_start..].find("}}") else {
        let (line, column) = line_column(source, open);
        return Err(Error::Unclosed {
            key: key.into(),
            line,
            column,
        });
    };
    let close = inner_start + close_rel;
    let mut inner = &source[inner_start..close];
    let trim_before = inner.starts_with('-');
    if trim_before {
        inner = &inner[1..];
    }
    let trim_after = inner.ends_with('-');
    if trim_after {
        inner = &inner[..inner.len() - 1];
    }
    Ok(Action {
        inner,
        end: close + 2,
        trim_before,
        trim_after,
    })
}

/// `TooLarge` unless `add` more bytes fit in `out` within [`MAX_EXPANSION_BYTES`].
fn room_for(key: &str, out: &str, add: usize) -> Result<(), Error> {
    if add > MAX_EXPANSION_BYTES.saturating_sub(out.len()) {
        return Err(Error::TooLarge { key: key.into() });
    }
    Ok(())
}

/// Append literal text (a subslice of `source`, possibly trimmed on either side) with a
/// segment mapping it back; `TooLarge` when it does not fit.
fn push_literal(
    key: &str,
    out: &mut String,
    segments: &mut Vec<Segment>,
    literal: &str,
    source: &str,
) -> Result<(), Error> {
    if literal.is_empty() {
        return Ok(());
    }
    room_for(key, out, literal.len())?;
    // `literal` is a subslice of `source`; find where it starts.
    let in_start = literal.as_ptr() as usize - source.as_ptr() as usize;
    debug_assert!(in_start + literal.len() <= source.len());
    segments.push(Segment {
        out_start: out.len(),
        in_start,
        in_len: literal.len(),
        out_len: literal.len(),
        literal: true,
    });
    out.push_str(literal);
    Ok(())
}

/// A value during evaluation: Go templates print nil as empty.
fn render_value(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Whether a value counts as set, in Go templates (`if`, `default`: Go's "empty" is the
/// opposite) and in Tera alike: `false`, `null`, `0`, `""`, `[]` and `{}` do not.
pub(crate) fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64() != Some(0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

fn eval_expression(expr: &str, scope: &Scope<'_>) -> Result<String, String> {
    if expr.is_empty() {
        return Err("empty expression".into());
    }
    let mut acc: Option<Value> = None;
    for stage in split_pipes(expr)? {
        let tokens = tokenize(stage)?;
        acc = Some(eval_command(&tokens, acc, scope)?);
    }
    Ok(render_value(&acc.unwrap_or(Value::Null)))
}

fn split_pipes(expr: &str) -> Result<Vec<&str>, String> {
    let mut parts = Vec::new();
    let mut in_str = false;
    let mut escaped = false;
    let mut start = 0;
    for (i, c) in expr.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if in_str => escaped = true,
            '"' => in_str = !in_str,
            '|' if !in_str => {
                parts.push(expr[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    if in_str {
        return Err("unterminated string literal".into());
    }
    parts.push(expr[start..].trim());
    if parts.iter().any(|p| p.is_empty()) {
        return Err("empty pipeline stage".into());
    }
    Ok(parts)
}

fn tokenize(stage: &str) -> Result<Vec<&str>, String> {
    let mut tokens = Vec::new();
    let bytes = stage.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i].is_ascii_whitespace() {
            i += 1;
            continue;
        }
        let start = i;
        if bytes[i] == b'"' {
            i += 1;
            while i < bytes.len() && bytes[i] != b'"' {
                if bytes[i] == b'\\' {
                    i += 1;
                }
                i += 1;
            }
            if i >= bytes.len() {
                return Err("unterminated string literal".into());
            }
            i += 1;
        } else if bytes[i] == b'(' || bytes[i] == b')' {
            return Err("parentheses are not supported".into());
        } else {
            while i < bytes.len() && !bytes[i].is_ascii_whitespace() {
                i += 1;
            }
        }
        tokens.push(&stage[start..i]);
    }
    Ok(tokens)
}

fn eval_operand(token: &str, scope: &Scope<'_>) -> Result<Value, String> {
    if token.starts_with('"') {
        return serde_json::from_str::<String>(token)
            .map(Value::String)
            .map_err(|e| format!("bad string literal {token}: {e}"));
    }
    if let Some(path) = token.strip_prefix(".Values") {
        let mut cur = scope.values;
        let mut walked = String::from(".Values");
        for key in path.split('.').filter(|k| !k.is_empty()) {
            walked.push('.');
            walked.push_str(key);
            match cur {
                Value::Object(map) => match map.get(key) {
                    Some(v) => cur = v,
                    None => return Err(format!("{walked} is not a key of the values")),
                },
                Value::Null => return Ok(Value::Null),
                _ => return Err(format!("{walked}: the parent is not a map")),
            }
        }
        return Ok(cur.clone());
    }
    match token {
        ".Release.Name" => Ok(Value::String(scope.release_name.to_string())),
        ".Release.Namespace" => Ok(Value::String(scope.release_namespace.to_string())),
        "true" => Ok(Value::Bool(true)),
        "false" => Ok(Value::Bool(false)),
        "nil" => Ok(Value::Null),
        t if t.parse::<i64>().is_ok() => Ok(Value::from(t.parse::<i64>().unwrap_or_default())),
        t if t.starts_with('.') || t.starts_with('$') => Err(format!("`{t}` is not available")),
        t => Err(format!("unknown function `{t}`")),
    }
}

fn eval_command(tokens: &[&str], piped: Option<Value>, scope: &Scope<'_>) -> Result<Value, String> {
    let Some((&head, rest)) = tokens.split_first() else {
        return Err("empty expression".into());
    };
    let is_function = matches!(head, "default" | "quote");
    if !is_function {
        if !rest.is_empty() || piped.is_some() {
            return Err(format!("unknown function `{head}`"));
        }
        return eval_operand(head, scope);
    }
    let mut args = rest
        .iter()
        .map(|t| eval_operand(t, scope))
        .collect::<Result<Vec<_>, _>>()?;
    args.extend(piped);
    match (head, args.as_slice()) {
        ("default", [fallback, given]) => Ok(if truthy(given) {
            given.clone()
        } else {
            fallback.clone()
        }),
        ("default", _) => Err("`default` takes two arguments: default FALLBACK VALUE".into()),
        ("quote", [v]) => Ok(Value::String(
            serde_json::to_string(&render_value(v)).unwrap_or_default(),
        )),
        _ => Err("`quote` takes one argument: quote VALUE".into()),
    }
}

/// A scope for tests: release `rel` in namespace `ns`.
#[cfg(test)]
pub(crate) fn scope(values: &Value) -> Scope<'_> {
    Scope {
        release_name: "rel",
        release_namespace: "ns",
        values,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn evaluates_the_supported_subset() {
        let values = json!({"runners": {"jobNamespace": null, "tags": "a,b"}});
        let s = scope(&values);
        let cases = [
            ("{{ .Release.Name }}", "rel"),
            ("{{.Release.Namespace}}", "ns"),
            (
                "{{ default .Release.Namespace .Values.runners.jobNamespace }}",
                "ns",
            ),
            (
                "{{ .Values.runners.jobNamespace | default \"jobs\" }}",
                "jobs",
            ),
            ("{{ quote .Values.runners.tags }}", "\"a,b\""),
            ("{{ .Values.runners.tags | quote }}", "\"a,b\""),
            ("a {{- \" b \" -}} c", "a b c"),
            ("x{{ 42 }}", "x42"),
        ];
        for (input, want) in cases {
            assert_eq!(
                evaluate("runners.config", input, &s).unwrap().text,
                want,
                "{input}"
            );
        }
    }

    #[test]
    fn rejects_other_expressions_with_position() {
        let values = json!({});
        let err = evaluate(
            "runners.config",
            "a = 1\nb = {{ include \"x\" . }}",
            &scope(&values),
        )
        .unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.starts_with("runners.config:2:5: unsupported template expression"),
            "{msg}"
        );
        assert!(msg.contains("unknown function `include`"), "{msg}");
        let err = evaluate("v", "{{ .Values.nope.deeper }}", &scope(&values)).unwrap_err();
        assert!(
            err.to_string().contains(".Values.nope is not a key"),
            "{err}"
        );
        assert!(matches!(
            evaluate("v", "{{ .Chart.Name }}", &scope(&values)),
            Err(Error::Unsupported { .. })
        ));
        assert!(matches!(
            evaluate("v", "x {{ .Release.Name", &scope(&values)),
            Err(Error::Unclosed {
                line: 1,
                column: 3,
                ..
            })
        ));
    }

    #[test]
    fn errors_name_the_value_they_came_from() {
        let values = json!({});
        let err = evaluate("extraObjects[0]", "a\nb\n  x {{ nope }}", &scope(&values)).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("extraObjects[0]:3:5: unsupported"),
            "{err}"
        );
        let err = evaluate("image.tag", "{{", &scope(&values)).unwrap_err();
        assert_eq!(err.to_string(), "image.tag:1:1: `{{` is not closed by `}}`");
        let many = "{{ 1 }}".repeat(MAX_EXPRESSIONS + 1);
        assert_eq!(
            evaluate("image.tag", &many, &scope(&values))
                .unwrap_err()
                .to_string(),
            format!("image.tag: more than {MAX_EXPRESSIONS} template expressions")
        );
    }

    #[test]
    fn expansion_is_bounded() {
        // One large value referred to many times: 1 KiB of template, far more output.
        let big = "x".repeat(64 * 1024);
        let values = json!({ "big": big });
        let template = "{{ .Values.big }}".repeat(MAX_EXPRESSIONS);
        let err = evaluate("runners.config", &template, &scope(&values)).unwrap_err();
        assert_eq!(
            err,
            Error::TooLarge {
                key: "runners.config".into()
            }
        );
        assert_eq!(
            err.to_string(),
            format!(
                "runners.config: the template expressions expand to more than \
                 {MAX_EXPANSION_BYTES} bytes (MAX_EXPANSION_BYTES); refer to large values fewer times"
            )
        );
        // Exactly at the limit is fine: expressions and literals count alike.
        let fits = MAX_EXPANSION_BYTES / big.len();
        let mut template = "{{ .Values.big }}".repeat(fits);
        let rest = MAX_EXPANSION_BYTES - fits * big.len();
        template.push_str(&"y".repeat(rest));
        let out = evaluate("image.tag", &template, &scope(&values)).unwrap();
        assert_eq!(out.text.len(), MAX_EXPANSION_BYTES);
        template.push('y');
        assert!(matches!(
            evaluate("image.tag", &template, &scope(&values)),
            Err(Error::TooLarge { key }) if key == "image.tag"
        ));
        // Literal text alone counts too.
        let literal = "z".repeat(MAX_EXPANSION_BYTES + 1);
        assert!(matches!(
            evaluate("extraObjects[0]", &literal, &scope(&values)),
            Err(Error::TooLarge { .. })
        ));
    }
}
