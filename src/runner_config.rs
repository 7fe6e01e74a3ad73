//! `runners.config`: template expressions, TOML parsing with line:column, privileged and
//! Docker-in-Docker checks.
//!
//! Users of the official chart write Go-template expressions in `runners.config`. runnerctl
//! evaluates the small subset that such configs use and rejects anything else by name:
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
use serde_json::Value;

/// Most expressions evaluated in one config; more is hostile input.
pub const MAX_EXPRESSIONS: usize = 1024;

/// Errors in `runners.config`.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum Error {
    /// An expression outside the supported subset.
    #[error(
        "runners.config:{line}:{column}: unsupported template expression `{{{{{expr}}}}}`: {reason}; \
         supported are .Release.Name, .Release.Namespace, .Values.<path>, `default A B`, `quote X` \
         and pipes of them"
    )]
    Unsupported {
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
    #[error("runners.config:{line}:{column}: `{{{{` is not closed by `}}}}`")]
    Unclosed {
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
    },
    /// Too many expressions.
    #[error("runners.config: more than {MAX_EXPRESSIONS} template expressions")]
    TooManyExpressions,
    /// The evaluated text is not valid TOML.
    #[error("runners.config:{line}:{column}: invalid TOML: {message}")]
    Toml {
        /// 1-based line in the user's text.
        line: usize,
        /// 1-based column in the user's text.
        column: usize,
        /// The parser's message.
        message: String,
    },
    /// Not exactly one `[[runners]]`.
    #[error(
        "runners.config: expected exactly one [[runners]] section, found {found}; \
         each runnerctl release registers one runner (install another release for another runner)"
    )]
    RunnerCount {
        /// How many were found.
        found: usize,
    },
    /// `runners.privileged: true` but the config sets `privileged = false`.
    #[error(
        "runners.privileged is true but runners.config sets privileged = false in \
         [runners.kubernetes]; remove one of the two"
    )]
    PrivilegedConflict,
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

fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

/// Evaluate the template expressions in `source`.
pub fn evaluate(source: &str, scope: &Scope<'_>) -> Result<Evaluated, Error> {
    let mut out = String::with_capacity(source.len());
    let mut segments = Vec::new();
    let mut rest_start = 0;
    let mut trim_next = false;
    while let Some(rel) = source[rest_start..].find("{{") {
        if segments.len() >= MAX_EXPRESSIONS {
            return Err(Error::TooManyExpressions);
        }
        let open = rest_start + rel;
        let mut literal = &source[rest_start..open];
        if trim_next {
            literal = literal.trim_start();
        }
        let inner_start = open + 2;
        let Some(close_rel) = source[inner_start..].find("}}") else {
            let (line, column) = line_column(source, open);
            return Err(Error::Unclosed { line, column });
        };
        let close = inner_start + close_rel;
        let mut inner = &source[inner_start..close];
        if let Some(s) = inner.strip_prefix('-') {
            literal = literal.trim_end();
            inner = s;
        }
        trim_next = false;
        if let Some(s) = inner.strip_suffix('-') {
            trim_next = true;
            inner = s;
        }
        push_literal(&mut out, &mut segments, literal, source, rest_start, open);
        let value = eval_expression(inner.trim(), scope).map_err(|reason| {
            let (line, column) = line_column(source, open);
            Error::Unsupported {
                line,
                column,
                expr: inner.to_string(),
                reason,
            }
        })?;
        segments.push(Segment {
            out_start: out.len(),
            in_start: open,
            in_len: close + 2 - open,
            out_len: value.len(),
            literal: false,
        });
        out.push_str(&value);
        rest_start = close + 2;
    }
    let mut tail = &source[rest_start..];
    if trim_next {
        tail = tail.trim_start();
    }
    push_literal(
        &mut out,
        &mut segments,
        tail,
        source,
        rest_start,
        source.len(),
    );
    Ok(Evaluated {
        text: out,
        source: source.to_string(),
        segments,
    })
}

/// Append literal text (possibly trimmed on either side) with a segment mapping it back.
fn push_literal(
    out: &mut String,
    segments: &mut Vec<Segment>,
    literal: &str,
    source: &str,
    from: usize,
    to: usize,
) {
    if literal.is_empty() {
        return;
    }
    // `literal` is a subslice of source[from..to]; find where it starts.
    let in_start = literal.as_ptr() as usize - source.as_ptr() as usize;
    debug_assert!(in_start >= from && in_start + literal.len() <= to);
    segments.push(Segment {
        out_start: out.len(),
        in_start,
        in_len: literal.len(),
        out_len: literal.len(),
        literal: true,
    });
    out.push_str(literal);
}

/// A value during evaluation: Go templates print nil as empty.
fn render_value(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
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
        ("default", [fallback, given]) => Ok(if is_empty(given) {
            fallback.clone()
        } else {
            given.clone()
        }),
        ("default", _) => Err("`default` takes two arguments: default FALLBACK VALUE".into()),
        ("quote", [v]) => Ok(Value::String(
            serde_json::to_string(&render_value(v)).unwrap_or_default(),
        )),
        _ => Err("`quote` takes one argument: quote VALUE".into()),
    }
}

/// The result of checking an evaluated config.
#[derive(Debug, Clone)]
pub struct RunnerConfig {
    /// The final config.template.toml text (with `privileged = true` added when asked).
    pub text: String,
    /// Job pods run privileged.
    pub privileged: bool,
    /// The config sets a `namespace` for job pods.
    pub sets_namespace: bool,
    /// The job pods' namespace when the config names one (`[runners.kubernetes] namespace`).
    pub namespace: Option<String>,
    /// Warnings for the user.
    pub warnings: Vec<String>,
}

/// Evaluate, parse and check `runners.config`; `want_privileged` is `runners.privileged`.
pub fn process(
    source: &str,
    scope: &Scope<'_>,
    want_privileged: bool,
) -> Result<RunnerConfig, Error> {
    let evaluated = evaluate(source, scope)?;
    let table = parse(&evaluated)?;
    let runners = table.get("runners").and_then(|r| r.as_array());
    let found = runners.map_or(0, |r| r.len());
    if found != 1 {
        return Err(Error::RunnerCount { found });
    }
    let runner = runners.and_then(|r| r.first()).and_then(|r| r.as_table());
    let kubernetes = runner
        .and_then(|r| r.get("kubernetes"))
        .and_then(|k| k.as_table());
    let configured = kubernetes
        .and_then(|k| k.get("privileged"))
        .and_then(|p| p.as_bool());
    let mut text = evaluated.text.clone();
    let privileged = match (want_privileged, configured) {
        (true, Some(false)) => return Err(Error::PrivilegedConflict),
        (true, None) => {
            text = insert_privileged(&text);
            // The inserted line must leave valid TOML that now says privileged = true.
            let check: toml::Table = toml::from_str(&text).map_err(|e| Error::Toml {
                line: 0,
                column: 0,
                message: format!("could not add privileged = true: {}", e.message()),
            })?;
            debug_assert!(check.contains_key("runners"));
            true
        }
        (_, Some(p)) => p,
        (false, None) => false,
    };
    let sets_namespace = kubernetes.is_some_and(|k| k.contains_key("namespace"));
    let namespace = kubernetes
        .and_then(|k| k.get("namespace"))
        .and_then(|n| n.as_str())
        .filter(|n| !n.is_empty())
        .map(str::to_string);
    let mut warnings = Vec::new();
    let lower = text.to_ascii_lowercase();
    if !privileged
        && (lower.contains("docker:dind")
            || lower.contains("docker:2375")
            || lower.contains("docker:2376"))
    {
        warnings.push(
            "runners.config uses Docker-in-Docker (docker:dind) but job pods are not privileged, \
             so dockerd will not start; set runners.privileged=true (or privileged = true in \
             [runners.kubernetes])"
                .to_string(),
        );
    }
    Ok(RunnerConfig {
        text,
        privileged,
        sets_namespace,
        namespace,
        warnings,
    })
}

fn parse(evaluated: &Evaluated) -> Result<toml::Table, Error> {
    toml::from_str::<toml::Table>(&evaluated.text).map_err(|e| {
        let offset = e.span().map_or(0, |s| s.start);
        let (line, column) = evaluated.source_position(offset);
        Error::Toml {
            line,
            column,
            message: e.message().trim().to_string(),
        }
    })
}

/// Add `privileged = true` to the `[runners.kubernetes]` table, keeping the user's text.
fn insert_privileged(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 32);
    let mut done = false;
    for line in text.split_inclusive('\n') {
        out.push_str(line);
        let header: String = line.chars().filter(|c| !c.is_whitespace()).collect();
        if !done && header.starts_with("[runners.kubernetes]") {
            if !line.ends_with('\n') {
                out.push('\n');
            }
            let indent: String = line.chars().take_while(|c| c.is_whitespace()).collect();
            out.push_str(&format!("{indent}  privileged = true\n"));
            done = true;
        }
    }
    if !done {
        if !out.ends_with('\n') {
            out.push('\n');
        }
        out.push_str("  [runners.kubernetes]\n    privileged = true\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn scope(values: &Value) -> Scope<'_> {
        Scope {
            release_name: "rel",
            release_namespace: "ns",
            values,
        }
    }

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
            assert_eq!(evaluate(input, &s).unwrap().text, want, "{input}");
        }
    }

    #[test]
    fn rejects_other_expressions_with_position() {
        let values = json!({});
        let err = evaluate("a = 1\nb = {{ include \"x\" . }}", &scope(&values)).unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.starts_with("runners.config:2:5: unsupported template expression"),
            "{msg}"
        );
        assert!(msg.contains("unknown function `include`"), "{msg}");
        let err = evaluate("{{ .Values.nope.deeper }}", &scope(&values)).unwrap_err();
        assert!(
            err.to_string().contains(".Values.nope is not a key"),
            "{err}"
        );
        assert!(matches!(
            evaluate("{{ .Chart.Name }}", &scope(&values)),
            Err(Error::Unsupported { .. })
        ));
        assert!(matches!(
            evaluate("x {{ .Release.Name", &scope(&values)),
            Err(Error::Unclosed { line: 1, column: 3 })
        ));
    }

    #[test]
    fn toml_errors_point_into_the_users_text() {
        let values = json!({});
        let src = "[[runners]]\n  name = \"{{ .Release.Namespace }}-long-name\"\n  bad = = 1\n";
        let err = process(src, &scope(&values), false).unwrap_err();
        match err {
            Error::Toml { line, column, .. } => assert_eq!((line, column), (3, 9)),
            other => panic!("{other}"),
        }
    }

    #[test]
    fn privileged_is_added_or_conflicts() {
        let values = json!({});
        let src = "[[runners]]\n  [runners.kubernetes]\n    image = \"alpine\"\n";
        let cfg = process(src, &scope(&values), true).unwrap();
        assert!(cfg.privileged);
        let parsed: toml::Table = toml::from_str(&cfg.text).unwrap();
        assert_eq!(
            parsed["runners"][0]["kubernetes"]["privileged"].as_bool(),
            Some(true)
        );
        let no_table = process("[[runners]]\n  name = \"x\"\n", &scope(&values), true).unwrap();
        let parsed: toml::Table = toml::from_str(&no_table.text).unwrap();
        assert_eq!(
            parsed["runners"][0]["kubernetes"]["privileged"].as_bool(),
            Some(true)
        );
        let conflict = "[[runners]]\n  [runners.kubernetes]\n    privileged = false\n";
        assert_eq!(
            process(conflict, &scope(&values), true).unwrap_err(),
            Error::PrivilegedConflict
        );
    }

    #[test]
    fn counts_runners_and_warns_on_dind() {
        let values = json!({});
        let two = "[[runners]]\nname = \"a\"\n[[runners]]\nname = \"b\"\n";
        assert_eq!(
            process(two, &scope(&values), false).unwrap_err(),
            Error::RunnerCount { found: 2 }
        );
        assert_eq!(
            process("concurrent = 1\n", &scope(&values), false).unwrap_err(),
            Error::RunnerCount { found: 0 }
        );
        let dind = "[[runners]]\n  [runners.kubernetes]\n  [[runners.kubernetes.services]]\n    name = \"docker:dind\"\n";
        let cfg = process(dind, &scope(&values), false).unwrap();
        assert_eq!(cfg.warnings.len(), 1);
        assert!(cfg.warnings[0].contains("runners.privileged=true"));
        assert!(
            process(dind, &scope(&values), true)
                .unwrap()
                .warnings
                .is_empty()
        );
    }
}
