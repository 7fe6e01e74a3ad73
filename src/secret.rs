//! Secrets, in one place: what looks like a token, which names say their value is secret,
//! the masks, the secret values of a release ([`SecretValues`]), and the masking of objects,
//! diffs and messages.
//!
//! Two replacements, for two kinds of output:
//! - [`MASK`] (`***`) stands for a value in an object that runnerctl prints: a Secret's
//!   entries, a known secret value wherever it appears, an environment variable named like a
//!   secret, a token in a log line.
//! - [`REDACTED`] (`<redacted>`) stands for user text in a message or a `Debug` print: a value
//!   under a sensitive key, a string or key that looks like a token, a secret-looking pair of a
//!   bad `--set` expression.
//!
//! Nothing here prints: callers decide, and `--show-secrets` is theirs to honour. The module is
//! a leaf (it uses nothing else of the crate), so every module can use it.
use serde_json::Value;

/// What masked secret values are shown as.
pub const MASK: &str = "***";

/// What user text that may hold a secret is shown as in messages and `Debug` prints.
pub const REDACTED: &str = "<redacted>";

/// Secret values shorter than this are not masked inside other text (they would mask common
/// words; tokens are far longer).
pub const MIN_MASKED_SECRET_LEN: usize = 6;

/// The annotation in which `kubectl apply` keeps the last applied object (for a Secret, with
/// its values).
pub const LAST_APPLIED_ANNOTATION: &str = "kubectl.kubernetes.io/last-applied-configuration";

// ---------------------------------------------------------------------------------------------
// What is secret

/// Whether a string looks like a GitLab token whatever its key (runner, registration, PAT):
/// it contains `glrt-`, `GR1348941` or `glpat-` (any case), or a run of 16 or more letters and
/// digits mixing upper case, lower case and digits, as generated tokens and keys are (names
/// people give keys are words: no digits in the mix).
pub fn looks_like_token(s: &str) -> bool {
    ["glrt-", "gr1348941", "glpat-"]
        .iter()
        .any(|prefix| contains_ignoring_case(s, prefix))
        || random_looking(s)
}

/// Whether `s` contains `needle` (lower-case ASCII), upper or lower case alike.
fn contains_ignoring_case(s: &str, needle: &str) -> bool {
    s.as_bytes()
        .windows(needle.len())
        .any(|w| w.eq_ignore_ascii_case(needle.as_bytes()))
}

/// Whether a run of letters and digits of `s` looks generated (see [`looks_like_token`]).
fn random_looking(s: &str) -> bool {
    s.split(|c: char| !c.is_ascii_alphanumeric()).any(|run| {
        run.len() >= 16
            && run.chars().any(|c| c.is_ascii_digit())
            && run.chars().any(|c| c.is_ascii_uppercase())
            && run.chars().any(|c| c.is_ascii_lowercase())
    })
}

/// Whether a values key says its value is never printed: anything named like `*token*`,
/// `*password*`, `*secret*`, in any case.
pub fn is_sensitive_key(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    k.contains("token") || k.contains("password") || k.contains("secret")
}

/// Whether a name (a values key, an environment variable, a TOML key) says its value is
/// secret: a [sensitive key](is_sensitive_key), or an access key, API key, credential or
/// private key; `_` and `-` are ignored (`AWS_SECRET_ACCESS_KEY`, `api-key`).
pub fn is_sensitive_name(name: &str) -> bool {
    let l = name.to_ascii_lowercase().replace(['_', '-'], "");
    is_sensitive_key(&l)
        || ["accesskey", "apikey", "credential", "privatekey"]
            .iter()
            .any(|w| l.contains(w))
}

/// Whether a string is a URL with `user:password@` (or `token@`) in it.
pub fn url_has_credentials(s: &str) -> bool {
    s.split_once("://").is_some_and(|(_, rest)| {
        let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
        authority.contains('@')
    })
}

// ---------------------------------------------------------------------------------------------
// Messages and Debug prints

/// A name from user input as a message shows it: [`REDACTED`] when it
/// [looks like a token](looks_like_token), else as it is.
pub fn redact_token(s: &str) -> &str {
    if looks_like_token(s) { REDACTED } else { s }
}

/// Replace the values of [sensitive keys](is_sensitive_key) (scalars, and every scalar of a
/// map under one, such as `runnerctl.runnerTokens`; a list under one is searched further) and
/// every [token-like](redact_token_like) string by [`REDACTED`], at any depth, in maps inside
/// lists too.
pub fn redact_sensitive(v: &mut Value) {
    match v {
        Value::Object(map) => {
            for (k, x) in map.iter_mut() {
                if is_sensitive_key(k) && !x.is_null() && !x.is_object() && !x.is_array() {
                    *x = Value::String(REDACTED.into());
                } else if is_sensitive_key(k) && x.is_object() {
                    redact_scalars(x);
                } else {
                    redact_sensitive(x);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(redact_sensitive),
        other => redact_token_like(other),
    }
}

/// Every scalar (not null) at any depth becomes [`REDACTED`].
fn redact_scalars(v: &mut Value) {
    match v {
        Value::Object(map) => map.values_mut().for_each(redact_scalars),
        Value::Array(items) => items.iter_mut().for_each(redact_scalars),
        Value::Null => {}
        other => *other = Value::String(REDACTED.into()),
    }
}

/// Replace every string that [looks like a token](looks_like_token) by [`REDACTED`], at any
/// depth (map keys are left alone).
pub fn redact_token_like(v: &mut Value) {
    match v {
        Value::String(s) if looks_like_token(s) => *s = REDACTED.into(),
        Value::Array(items) => items.iter_mut().for_each(redact_token_like),
        Value::Object(map) => map.values_mut().for_each(redact_token_like),
        _ => {}
    }
}

/// A `--set`-family expression as an error message shows it: each top-level `key=value` pair
/// that names a [sensitive key](is_sensitive_key) or [looks like a token](looks_like_token)
/// (anywhere in it) becomes `key=<redacted>`, or `<redacted>` whole when the key itself looks
/// like a token or there is no `=`. Returns whether anything was replaced.
///
/// Pairs are split at commas outside `{}`, `[]` and `"..."` (a `--set-json` value is one pair)
/// and not escaped by `\`.
///
/// ```
/// use runnerctl::secret::redact_set_expr;
///
/// let (shown, redacted) = redact_set_expr("a=1,runnerToken=glrt-abc,b");
/// assert_eq!(shown, "a=1,runnerToken=<redacted>,b");
/// assert!(redacted);
/// ```
pub fn redact_set_expr(expr: &str) -> (String, bool) {
    let mut any = false;
    let pairs: Vec<String> = split_pairs(expr)
        .into_iter()
        .map(|pair| {
            if !is_sensitive_key(pair) && !looks_like_token(pair) {
                return pair.to_owned();
            }
            any = true;
            match pair.split_once('=') {
                Some((key, _)) if !looks_like_token(key) => format!("{key}={REDACTED}"),
                _ => REDACTED.to_owned(),
            }
        })
        .collect();
    (pairs.join(","), any)
}

/// The top-level pairs of a `--set` expression: split at commas outside `{}`, `[]` and
/// `"..."`, honouring backslash escapes.
fn split_pairs(expr: &str) -> Vec<&str> {
    let mut pairs = Vec::new();
    let (mut start, mut depth, mut in_quotes, mut escaped) = (0, 0usize, false, false);
    for (i, c) in expr.char_indices() {
        if escaped {
            escaped = false;
            continue;
        }
        match c {
            '\\' => escaped = true,
            '"' => in_quotes = !in_quotes,
            '{' | '[' if !in_quotes => depth += 1,
            '}' | ']' if !in_quotes => depth = depth.saturating_sub(1),
            ',' if depth == 0 && !in_quotes => {
                pairs.push(&expr[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    pairs.push(&expr[start..]);
    pairs
}

/// Mask words of a log line that look like a GitLab token: starting with `glrt-`, `glrtr-`,
/// `GR1348941` or `glpat-` and more than 12 characters long (the short form by which the
/// runner names itself, as in `runner=glrt-t3`, stays, so a line still names its runner).
/// Words end at white space, `"` and `=`.
pub fn mask_tokens(line: &str) -> String {
    line.split_inclusive(ends_word)
        .map(|w| {
            let word = w.trim_end_matches(ends_word);
            if is_log_token(word) {
                w.replacen(word, MASK, 1)
            } else {
                w.to_string()
            }
        })
        .collect()
}

/// Where a word of a log line ends (see [`mask_tokens`]).
fn ends_word(c: char) -> bool {
    c.is_whitespace() || c == '"' || c == '='
}

/// Whether a word of a log line is a token (see [`mask_tokens`]).
fn is_log_token(word: &str) -> bool {
    ["glrt-", "glrtr-", "GR1348941", "glpat-"]
        .iter()
        .any(|p| word.starts_with(p))
        && word.len() > 12
}

// ---------------------------------------------------------------------------------------------
// Objects

/// Where a Secret holds secret values: (JSON pointer of a map, the one key in it or `None` for
/// every key).
const SECRET_PLACES: [(&str, Option<&str>); 3] = [
    ("/data", None),
    ("/stringData", None),
    ("/metadata/annotations", Some(LAST_APPLIED_ANNOTATION)),
];

/// Replace every secret value of a Secret with what `mask` returns; other kinds are left as
/// they are.
///
/// The places are the entries of `data` and `stringData` and the
/// [`LAST_APPLIED_ANNOTATION`] annotation. `mask` gets the JSON pointer of the map
/// (`/data`, `/stringData` or `/metadata/annotations`), the key in it and the old value.
///
/// ```
/// use runnerctl::secret::mask_secret_values;
/// use serde_json::json;
///
/// let mut secret = json!({"kind": "Secret", "data": {"runner-token": "Z2xydC0x"}});
/// mask_secret_values(&mut secret, |map, key, _old| json!(format!("<{map} {key}>")));
/// assert_eq!(secret["data"]["runner-token"], "</data runner-token>");
/// ```
pub fn mask_secret_values(obj: &mut Value, mut mask: impl FnMut(&str, &str, &Value) -> Value) {
    if obj.get("kind").and_then(Value::as_str) != Some("Secret") {
        return;
    }
    for (ptr, only) in SECRET_PLACES {
        if let Some(Value::Object(map)) = obj.pointer_mut(ptr) {
            for (key, value) in map.iter_mut() {
                if only.is_none_or(|k| k == key) {
                    *value = mask(ptr, key, value);
                }
            }
        }
    }
}

/// A copy of `value` with each secret value of a Secret (see [`mask_secret_values`]) replaced
/// by [`MASK`].
pub fn mask_secret(value: &Value) -> Value {
    let mut v = value.clone();
    mask_secret_values(&mut v, |_, _, _| Value::String(MASK.into()));
    v
}

/// The two sides of a diff with Secret values replaced by markers that show which keys
/// changed but not their values: `*** (unchanged)`, `*** (before)`/`*** (after)`, or `***`
/// for a key on one side only. Covers every place [`mask_secret_values`] knows (`data`,
/// `stringData`, the last-applied annotation). Other kinds are returned as they are.
pub fn mask_secrets(
    before: Option<&Value>,
    after: Option<&Value>,
) -> (Option<Value>, Option<Value>) {
    let mut b = before.cloned();
    let mut a = after.cloned();
    if let Some(v) = b.as_mut() {
        mask_secret_values(v, |ptr, key, old| {
            marker(old, other_side(after, ptr, key), "before")
        });
    }
    if let Some(v) = a.as_mut() {
        mask_secret_values(v, |ptr, key, new| {
            marker(new, other_side(before, ptr, key), "after")
        });
    }
    (b, a)
}

/// The same secret place on the other side of a diff.
fn other_side<'a>(other: Option<&'a Value>, ptr: &str, key: &str) -> Option<&'a Value> {
    other?.pointer(ptr)?.get(key)
}

/// The marker for one secret value, compared with the other side.
fn marker(mine: &Value, other: Option<&Value>, side: &str) -> Value {
    Value::String(match other {
        Some(o) if o == mine => format!("{MASK} (unchanged)"),
        Some(_) => format!("{MASK} ({side})"),
        None => MASK.into(),
    })
}

/// Mask the values of environment variables whose [names say they are
/// secret](is_sensitive_name), in every container and init container of a pod.
pub fn mask_environment(pod: &mut Value) {
    for field in ["initContainers", "containers"] {
        let containers = pod
            .pointer_mut(&format!("/spec/{field}"))
            .and_then(Value::as_array_mut)
            .into_iter()
            .flatten();
        let env = containers.filter_map(|c| c.get_mut("env").and_then(Value::as_array_mut));
        for var in env.flatten() {
            let name = var["name"].as_str().unwrap_or("");
            if is_sensitive_name(name) {
                var["value"] = Value::String(MASK.into());
            }
        }
    }
}

/// Values that are secret wherever they appear in an object: the runner and registration
/// tokens, sensitive environment variables, credentials in `runners.config`, and every value
/// of a rendered or live Secret. [`SecretValues::mask`] replaces each occurrence inside any
/// string (a token pasted into `runners.config`, an env value, an annotation, a
/// last-applied-configuration) by [`MASK`]. Its `Debug` shows only how many it holds.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct SecretValues(Vec<String>);

impl std::fmt::Debug for SecretValues {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SecretValues({} redacted)", self.0.len())
    }
}

impl SecretValues {
    /// Add a secret value, trimmed (ignored when shorter than [`MIN_MASKED_SECRET_LEN`]).
    /// Longer values are masked first, so a value that contains another is masked whole.
    pub fn add(&mut self, value: &str) {
        let value = value.trim();
        if value.len() < MIN_MASKED_SECRET_LEN || self.0.iter().any(|v| v == value) {
            return;
        }
        let at = self.0.partition_point(|v| v.len() >= value.len());
        self.0.insert(at, value.to_string());
    }

    /// Add `value` if its [name says it is secret](is_sensitive_name).
    pub fn add_named(&mut self, name: &str, value: &str) {
        if is_sensitive_name(name) {
            self.add(value);
        }
    }

    /// Add every value of another set.
    pub fn extend(&mut self, other: &SecretValues) {
        for v in &other.0 {
            self.add(v);
        }
    }

    /// Add the values of every Secret among `objects`: `stringData` as is, `data` decoded
    /// from base64 (when it is text).
    pub fn add_secrets_of<'a>(&mut self, objects: impl IntoIterator<Item = &'a Value>) {
        use base64::Engine as _;
        for obj in objects {
            if obj.get("kind").and_then(Value::as_str) != Some("Secret") {
                continue;
            }
            for (field, encoded) in [("stringData", false), ("data", true)] {
                let Some(map) = obj.get(field).and_then(Value::as_object) else {
                    continue;
                };
                for v in map.values().filter_map(Value::as_str) {
                    if !encoded {
                        self.add(v);
                    } else if let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(v)
                        && let Ok(text) = String::from_utf8(bytes)
                    {
                        self.add(&text);
                    }
                }
            }
        }
    }

    /// The values held, longest first (for storing them where secrets may be kept, e.g. a
    /// revision record, which is itself a Secret).
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }

    /// How many values are held.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether none is held.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `text` with every occurrence of a secret value replaced by [`MASK`].
    pub fn mask_str(&self, text: &str) -> String {
        self.replaced(text).unwrap_or_else(|| text.to_string())
    }

    /// `text` with every occurrence of a secret value replaced by [`MASK`], longest value
    /// first; `None` when none occurs (nothing is copied then).
    fn replaced(&self, text: &str) -> Option<String> {
        let mut out: Option<String> = None;
        for v in &self.0 {
            let current = out.as_deref().unwrap_or(text);
            if current.contains(v.as_str()) {
                out = Some(current.replace(v.as_str(), MASK));
            }
        }
        out
    }

    /// Whether a known secret value appears in a string of `value` (what [`Self::mask`]
    /// would change).
    pub fn appear_in(&self, value: &Value) -> bool {
        match value {
            Value::String(s) => self.0.iter().any(|v| s.contains(v.as_str())),
            Value::Array(items) => items.iter().any(|v| self.appear_in(v)),
            Value::Object(map) => map.values().any(|v| self.appear_in(v)),
            _ => false,
        }
    }

    /// Mask every string in `value` (map keys are left alone).
    pub fn mask(&self, value: &mut Value) {
        match value {
            Value::String(s) => {
                if let Some(m) = self.replaced(s) {
                    *s = m;
                }
            }
            Value::Array(items) => items.iter_mut().for_each(|v| self.mask(v)),
            Value::Object(map) => map.values_mut().for_each(|v| self.mask(v)),
            _ => {}
        }
    }
}

/// `value` as shown without `--show-secrets`: Secret values masked, and every known secret
/// value masked wherever else it appears.
pub fn masked(value: &Value, secrets: &SecretValues) -> Value {
    let mut v = mask_secret(value);
    secrets.mask(&mut v);
    v
}

/// A Secret's `data` entry decoded as text.
pub fn secret_text(secret: &Value, key: &str) -> Option<String> {
    use base64::Engine as _;
    let encoded = secret.pointer(&format!("/data/{key}"))?.as_str()?;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .ok()?;
    String::from_utf8(bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// `test` holds for every one of `yes` and for none of `no`.
    fn assert_splits(test: fn(&str) -> bool, yes: &[&str], no: &[&str]) {
        for s in yes {
            assert!(test(s), "{s:?} should pass");
        }
        for s in no {
            assert!(!test(s), "{s:?} should not pass");
        }
    }

    #[test]
    fn token_prefixes_are_found_in_any_case_anywhere() {
        for token in [
            "glrt-x",
            "GLRT-X",
            "a GlRt-b",
            "xxglpat-y",
            "GR1348941abc",
            "gr1348941",
        ] {
            assert!(looks_like_token(token), "{token}");
        }
        for plain in ["", "g", "glrt", "glr-t", "gr134894", "runner-name", "glpat"] {
            assert!(!looks_like_token(plain), "{plain}");
        }
    }

    #[test]
    fn generated_looking_runs_are_tokens() {
        assert_splits(
            looks_like_token,
            &[
                "AbCdEfGh12345678",
                "x-AbCdEfGh12345678-y",
                "1234567890abcdeF",
            ],
            &[
                "AbCdEfGh1234567",   // 15 characters
                "AbCdEfGhIjKlMnOp",  // no digit
                "abcdefgh12345678",  // no upper case
                "ABCDEFGH12345678",  // no lower case
                "AbCdEfGh-12345678", // two runs, neither long and mixed
                "abcdefghijklmnop",
            ],
        );
    }

    #[test]
    fn sensitive_keys_and_names() {
        for key in ["runnerToken", "PASSWORD", "mySecret", "secretName"] {
            assert!(is_sensitive_key(key), "{key}");
            assert!(is_sensitive_name(key), "{key}");
        }
        for key in ["name", "image", "pass_word", "api-key"] {
            assert!(!is_sensitive_key(key), "{key}");
        }
        for name in [
            "AWS_SECRET_ACCESS_KEY",
            "ACCESS_KEY",
            "api-key",
            "S3_CREDENTIALS",
            "PRIVATE_KEY",
            "pass_word",
            "CI-JOB-TOKEN",
        ] {
            assert!(is_sensitive_name(name), "{name}");
        }
        for name in ["NAME", "PATH", "KEY", "PRIVATE", ""] {
            assert!(!is_sensitive_name(name), "{name}");
        }
    }

    #[test]
    fn credentials_in_urls() {
        assert_splits(
            url_has_credentials,
            &[
                "https://u:p@gitlab.example.com/",
                "http://token@h",
                "https://a@b?x",
            ],
            &[
                "https://gitlab.example.com/",
                "https://h/a@b",
                "https://h?x=a@b",
                "https://h#a@b",
                "mailto:a@b",
                "",
            ],
        );
    }

    #[test]
    fn token_like_names_are_redacted() {
        assert_eq!(redact_token("glrt-x"), REDACTED);
        assert_eq!(redact_token("build"), "build");
    }

    #[test]
    fn values_are_redacted_under_sensitive_keys_and_where_they_look_like_tokens() {
        let mut v = json!({
            "runnerToken": "abc",
            "password": 7,
            "secretEnabled": false,
            "secretRef": null,
            "tokens": ["plain", "glrt-x"],
            "secret": {"inner": "plain", "k": "glrt-y"},
            "runnerTokens": {"build": "not-like-a-token", "n": null},
            "list": [{"password": "in a map in a list"}, "glrt-z"],
            "s": "glrt-z",
            "keep": "plain",
            "n": 1,
        });
        redact_sensitive(&mut v);
        assert_eq!(
            v,
            json!({
                "runnerToken": REDACTED,
                "password": REDACTED,
                "secretEnabled": REDACTED,
                "secretRef": null,
                "runnerTokens": {"build": REDACTED, "n": null},
                "tokens": ["plain", REDACTED],
                "secret": {"inner": REDACTED, "k": REDACTED},
                "list": [{"password": REDACTED}, REDACTED],
                "s": REDACTED,
                "keep": "plain",
                "n": 1,
            })
        );
        let mut s = json!("glrt-top");
        redact_sensitive(&mut s);
        assert_eq!(s, json!(REDACTED));
    }

    #[test]
    fn token_like_strings_are_redacted_at_any_depth_but_not_keys() {
        let mut v =
            json!({"glrt-key": "v", "a": [1, "glrt-1", {"b": "glrt-2", "c": "x"}], "t": true});
        redact_token_like(&mut v);
        assert_eq!(
            v,
            json!({"glrt-key": "v", "a": [1, REDACTED, {"b": REDACTED, "c": "x"}], "t": true})
        );
    }

    /// Each case: expression, what a message shows, whether anything was redacted.
    #[test]
    fn set_expressions_are_redacted_pair_by_pair() {
        for (expr, shown, redacted) in [
            ("a=1,b=2", "a=1,b=2", false),
            ("", "", false),
            (
                "a=1,runnerToken=glrt-abc,b",
                "a=1,runnerToken=<redacted>,b",
                true,
            ),
            // A secret-named key whose value does not look like a token.
            ("password=hunter2,x=1", "password=<redacted>,x=1", true),
            // A token-looking value under a plain key.
            ("a=glrt-x,b=2", "a=<redacted>,b=2", true),
            // A token used as a key: the whole pair goes.
            ("glrt-abc=1,b=2", "<redacted>,b=2", true),
            ("a.glrt-abc.c=1", "<redacted>", true),
            // A pair without `=`.
            ("runnerToken,b=2", "<redacted>,b=2", true),
            // Only the first `=` ends the key.
            ("myToken=a=b", "myToken=<redacted>", true),
            // A --set-json object with several members is one pair.
            (r#"a={"x":1,"token":"y"},b=2"#, "a=<redacted>,b=2", true),
            (r#"a=[1,"glrt-x"],b=2"#, "a=<redacted>,b=2", true),
            (r#"a={"k":[1,2],"token":"y"},b=2"#, "a=<redacted>,b=2", true),
            // The list closes: the next pair is its own.
            ("a={},token=x", "a={},token=<redacted>", true),
            ("a=[],token=x", "a=[],token=<redacted>", true),
            // A stray closing bracket does not open anything.
            ("a=}],token=x", "a=}],token=<redacted>", true),
            // A quoted value holding a comma is one pair.
            (r#"note="hi, password",b=1"#, "note=<redacted>,b=1", true),
            // Brackets inside quotes count for nothing.
            (r#"a="{",token=x"#, r#"a="{",token=<redacted>"#, true),
            (r#"a="[",token=x"#, r#"a="[",token=<redacted>"#, true),
            (r#"a={"k":"}","token":"x"},b=1"#, "a=<redacted>,b=1", true),
            (r#"a={"k":"]","token":"x"},b=1"#, "a=<redacted>,b=1", true),
            // An escaped comma does not split; an escaped quote does not open quotes.
            (r"a=x\,token=y", "a=<redacted>", true),
            (r#"a=\",token=y,b=1"#, r#"a=\",token=<redacted>,b=1"#, true),
            (r"a=\\,token=y", r"a=\\,token=<redacted>", true),
            (r"a=\{,token=y", r"a=\{,token=<redacted>", true),
        ] {
            assert_eq!(
                redact_set_expr(expr),
                (shown.to_owned(), redacted),
                "{expr}"
            );
        }
    }

    #[test]
    fn pairs_are_slices_between_top_level_commas() {
        assert_eq!(split_pairs("a=1,b=2,"), ["a=1", "b=2", ""]);
        assert_eq!(split_pairs(",a"), ["", "a"]);
        assert_eq!(split_pairs("é=1,ü=2"), ["é=1", "ü=2"]);
    }

    #[test]
    fn tokens_in_log_lines_are_masked() {
        let line = r#"net/http: invalid header field value "glrt-AAAABBBBCCCCDDDD\n" for key PRIVATE-TOKEN runner=glrt-t3"#;
        assert_eq!(
            mask_tokens(line),
            r#"net/http: invalid header field value "***" for key PRIVATE-TOKEN runner=glrt-t3"#
        );
        for (line, shown) in [
            ("token=GR1348941abcdefghij end", "token=*** end"),
            ("a glrtr-0123456789 b", "a *** b"),
            ("glpat-0123456789\tx", "***\tx"),
            ("\"glrt-0123456789\"", "\"***\""),
            ("k=glrt-0123456789=v", "k=***=v"),
            // 12 characters: the runner's short form, kept; 13 are masked.
            ("glrt-1234567 glrt-12345678", "glrt-1234567 ***"),
            // Long words without a token prefix, or with it inside, stay.
            (
                "runner-name-is-long xglrt-0123456789",
                "runner-name-is-long xglrt-0123456789",
            ),
            ("gr1348941abcdefghij", "gr1348941abcdefghij"),
            ("", ""),
        ] {
            assert_eq!(mask_tokens(line), shown, "{line}");
        }
    }

    #[test]
    fn every_secret_place_is_visited_once_and_nothing_else() {
        let mut secret = json!({
            "kind": "Secret",
            "metadata": {"name": "s", "annotations": {LAST_APPLIED_ANNOTATION: "{...}", "note": "keep"}},
            "data": {"a": "YQ==", "b": "Yg=="},
            "stringData": {"c": "c"},
            "type": "Opaque",
        });
        let mut seen = Vec::new();
        mask_secret_values(&mut secret, |map, key, old| {
            seen.push(format!("{map} {key} {old}"));
            json!("x")
        });
        seen.sort();
        assert_eq!(
            seen,
            [
                "/data a \"YQ==\"",
                "/data b \"Yg==\"",
                format!("/metadata/annotations {LAST_APPLIED_ANNOTATION} \"{{...}}\"").as_str(),
                "/stringData c \"c\"",
            ]
        );
        assert_eq!(
            secret,
            json!({
                "kind": "Secret",
                "metadata": {"name": "s", "annotations": {LAST_APPLIED_ANNOTATION: "x", "note": "keep"}},
                "data": {"a": "x", "b": "x"},
                "stringData": {"c": "x"},
                "type": "Opaque",
            })
        );
    }

    #[test]
    fn other_kinds_are_left_alone() {
        let cm = json!({"kind": "ConfigMap", "data": {"a": "1"}});
        let mut masked = cm.clone();
        mask_secret_values(&mut masked, |_, _, _| json!("x"));
        assert_eq!(masked, cm);
        assert_eq!(mask_secret(&cm), cm);
        let secret = json!({"kind": "Secret", "stringData": {"t": "glrt-1"}, "data": [1]});
        assert_eq!(
            mask_secret(&secret),
            json!({"kind": "Secret", "stringData": {"t": MASK}, "data": [1]})
        );
    }

    #[test]
    fn diff_markers_tell_what_changed_but_not_the_values() {
        let before = json!({"kind": "Secret",
            "metadata": {"annotations": {LAST_APPLIED_ANNOTATION: "{\"t\":\"glrt-old\"}", "note": "n"}},
            "data": {"same": "YQ==", "changed": "Yg==", "gone": "Yw=="}});
        let after = json!({"kind": "Secret",
            "metadata": {"annotations": {LAST_APPLIED_ANNOTATION: "{\"t\":\"glrt-old\"}"}},
            "data": {"same": "YQ==", "changed": "Qg==", "new": "ZA=="}});
        let (b, a) = mask_secrets(Some(&before), Some(&after));
        assert_eq!(
            b,
            Some(json!({"kind": "Secret",
                "metadata": {"annotations": {LAST_APPLIED_ANNOTATION: "*** (unchanged)", "note": "n"}},
                "data": {"same": "*** (unchanged)", "changed": "*** (before)", "gone": "***"}}))
        );
        assert_eq!(
            a,
            Some(json!({"kind": "Secret",
                "metadata": {"annotations": {LAST_APPLIED_ANNOTATION: "*** (unchanged)"}},
                "data": {"same": "*** (unchanged)", "changed": "*** (after)", "new": "***"}}))
        );
        let (b, a) = mask_secrets(None, Some(&before));
        assert_eq!(b, None);
        assert_eq!(
            a.unwrap()["data"],
            json!({"same": MASK, "changed": MASK, "gone": MASK})
        );
        let (b, a) = mask_secrets(Some(&after), None);
        assert_eq!(a, None);
        assert_eq!(b.unwrap()["data"]["changed"], MASK);
        let cm = json!({"kind": "ConfigMap", "data": {"k": "v"}});
        assert_eq!(
            mask_secrets(Some(&cm), Some(&cm)),
            (Some(cm.clone()), Some(cm))
        );
    }

    #[test]
    fn secret_environment_values_are_masked_in_every_container() {
        let mut pod = json!({"spec": {
            "initContainers": [{"env": [{"name": "API_KEY", "value": "k1"}, {"name": "A", "value": "1"}]}],
            "containers": [
                {"name": "no-env"},
                {"env": [{"name": "AWS_SECRET_ACCESS_KEY", "value": "xyz"}, {"value": "no name"},
                         {"name": "B", "value": "2"}]},
            ],
        }});
        mask_environment(&mut pod);
        assert_eq!(
            pod,
            json!({"spec": {
                "initContainers": [{"env": [{"name": "API_KEY", "value": MASK}, {"name": "A", "value": "1"}]}],
                "containers": [
                    {"name": "no-env"},
                    {"env": [{"name": "AWS_SECRET_ACCESS_KEY", "value": MASK}, {"value": "no name"},
                             {"name": "B", "value": "2"}]},
                ],
            }})
        );
        let mut empty = json!({"spec": {}});
        mask_environment(&mut empty);
        assert_eq!(empty, json!({"spec": {}}));
    }

    #[test]
    fn values_are_held_trimmed_once_longest_first() {
        let mut s = SecretValues::default();
        assert!(s.is_empty());
        s.add("12345");
        assert!(
            s.is_empty(),
            "shorter than {MIN_MASKED_SECRET_LEN}: not held"
        );
        s.add("  12345 \n");
        assert!(s.is_empty(), "trimmed before it is measured");
        s.add("aaaaaa");
        s.add(" bbbbbb ");
        s.add("cccccccc");
        s.add("aaaaaa");
        s.add("dddddd");
        assert!(!s.is_empty());
        assert_eq!(s.len(), 4);
        assert_eq!(
            s.iter().collect::<Vec<_>>(),
            ["cccccccc", "aaaaaa", "bbbbbb", "dddddd"],
            "longest first, then in the order added"
        );
        assert_eq!(format!("{s:?}"), "SecretValues(4 redacted)");
        let mut t = SecretValues::default();
        t.add("eeeeeeeee");
        t.add("aaaaaa");
        t.extend(&s);
        assert_eq!(
            t.iter().collect::<Vec<_>>(),
            ["eeeeeeeee", "cccccccc", "aaaaaa", "bbbbbb", "dddddd"]
        );
    }

    #[test]
    fn named_values_are_held_when_the_name_is_secret() {
        let mut s = SecretValues::default();
        s.add_named("API_KEY", "value-1");
        s.add_named("PATH", "value-2");
        assert_eq!(s.iter().collect::<Vec<_>>(), ["value-1"]);
    }

    #[test]
    fn secret_objects_give_their_values() {
        let mut s = SecretValues::default();
        let secret = json!({"kind": "Secret",
            "data": {"t": "Z2xydC1mcm9tLWRhdGE=", "bad": "not base64!", "binary": "//79/A==", "n": 1},
            "stringData": {"u": "plain-secret", "m": {"x": "nested-value"}}});
        let cm = json!({"kind": "ConfigMap", "data": {"t": "not-a-secret"}});
        let no_data = json!({"kind": "Secret", "data": "Z2xydC1mcm9tLWRhdGE="});
        s.add_secrets_of([&cm, &no_data, &secret]);
        assert_eq!(
            s.iter().collect::<Vec<_>>(),
            ["glrt-from-data", "plain-secret"]
        );
    }

    #[test]
    fn known_values_are_masked_anywhere_in_text() {
        let mut s = SecretValues::default();
        s.add("glrt-abcdef");
        s.add("glrt-abcdef-longer");
        assert_eq!(
            s.mask_str("token = \"glrt-abcdef-longer\"\nother = glrt-abcdef glrt-abcdef"),
            "token = \"***\"\nother = *** ***"
        );
        assert_eq!(s.mask_str("nothing here"), "nothing here");
        assert_eq!(s.replaced("nothing here"), None, "nothing copied");
        assert_eq!(s.replaced("x glrt-abcdef"), Some("x ***".to_owned()));
        assert_eq!(
            SecretValues::default().mask_str("glrt-abcdef"),
            "glrt-abcdef"
        );
    }

    #[test]
    fn known_values_are_masked_in_every_string_of_a_value() {
        let mut s = SecretValues::default();
        s.add("glrt-abcdef");
        let v = json!({"data": {"config.toml": "token = \"glrt-abcdef\""},
            "list": ["x glrt-abcdef y", ["glrt-abcdef"]], "glrt-abcdef": "key", "n": 1, "b": null});
        assert!(s.appear_in(&v));
        let mut m = v.clone();
        s.mask(&mut m);
        assert_eq!(
            m,
            json!({"data": {"config.toml": "token = \"***\""},
                "list": ["x *** y", ["***"]], "glrt-abcdef": "key", "n": 1, "b": null})
        );
        assert!(!s.appear_in(&m), "map keys are not masked, nor looked at");
        for v in [
            json!("glrt-abcdef"),
            json!(["glrt-abcdef"]),
            json!({"k": "glrt-abcdef"}),
        ] {
            assert!(s.appear_in(&v), "{v}");
        }
        for v in [
            json!("glrt-abc"),
            json!([1, "x"]),
            json!({"k": 1}),
            json!(12),
            json!(null),
        ] {
            assert!(!s.appear_in(&v), "{v}");
        }
    }

    #[test]
    fn masked_hides_secret_entries_and_known_values() {
        let mut s = SecretValues::default();
        s.add("glrt-abcdef");
        let secret = json!({"kind": "Secret", "metadata": {"annotations": {"a": "glrt-abcdef"}},
            "stringData": {"t": "short"}});
        assert_eq!(
            masked(&secret, &s),
            json!({"kind": "Secret", "metadata": {"annotations": {"a": MASK}},
                "stringData": {"t": MASK}})
        );
    }
}
