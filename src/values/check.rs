//! Checks of user values against the defaults: types, unknown keys, deprecated keys.

use std::collections::HashSet;

use serde_json::{Map, Value};

use super::MAX_REPORTED_UNKNOWN_KEYS;
use super::error::Error;
use super::path::{KeyPath, Seg, lookup_in};
use super::yaml::Locations;
use crate::secret::{REDACTED, looks_like_token};

/// Top-level keys holding Kubernetes objects whose fields the defaults only sample: any key
/// is allowed below them (known ones are still type-checked).
pub(crate) const FREE_FORM: &[&str] = &["securityContext", "podSecurityContext"];

/// Keys the chart still reads but has deprecated, with what to use instead.
pub(crate) const DEPRECATED: &[(&str, &str)] = &[
    (
        "runnerRegistrationToken",
        "deprecated registration token (runnerRegistrationToken); use runnerToken (glrt-...), created in GitLab",
    ),
    (
        "rbac.serviceAccountAnnotations",
        "\"rbac.serviceAccountAnnotations\" is deprecated; use \"serviceAccount.annotations\"",
    ),
    (
        "rbac.imagePullSecrets",
        "\"rbac.imagePullSecrets\" is deprecated; use \"serviceAccount.imagePullSecrets\"",
    ),
    (
        "rbac.generatedServiceAccountName",
        "\"rbac.generatedServiceAccountName\" is deprecated; use \"serviceAccount.name\"",
    ),
];

/// Where user values come from, for messages.
#[derive(Debug, Clone)]
pub(crate) enum Source {
    File(String),
    Flag(&'static str),
}

impl Source {
    /// `values file x.yaml` / `--set`, with `:line:column` for files when known.
    pub(crate) fn describe(&self, at: Option<(u64, u64)>) -> String {
        match (self, at) {
            (Source::File(name), Some((l, c))) => format!("values file {name}:{l}:{c}"),
            (Source::File(name), None) => format!("values file {name}"),
            (Source::Flag(flag), _) => (*flag).to_owned(),
        }
    }
}

/// A known key: its display path, last key and parent's display path.
pub(crate) struct Known {
    path: String,
    last: String,
    parent: String,
}

/// Where the known key paths come from: called only when a suggestion is worked out, so a
/// run without unknown keys never builds the list.
pub(crate) type KnownPaths = fn() -> &'static [Known];

/// The known key paths of the embedded defaults, worked out once per process.
pub(crate) fn default_known_paths() -> &'static [Known] {
    static KNOWN: std::sync::OnceLock<Vec<Known>> = std::sync::OnceLock::new();
    KNOWN.get_or_init(|| known_paths(super::default_tree()))
}

/// Every key path the unknown-key check knows, in defaults order.
pub(crate) fn known_paths(defaults: &Value) -> Vec<Known> {
    fn walk(m: &Map<String, Value>, path: &mut KeyPath, out: &mut Vec<Known>) {
        for (k, v) in m {
            let parent = path.to_string();
            path.push_key(k);
            out.push(Known {
                path: path.to_string(),
                last: k.to_ascii_lowercase(),
                parent,
            });
            if let Value::Object(child) = v
                && structured(path, v)
            {
                walk(child, path, out);
            }
            path.pop();
        }
    }
    let mut out = Vec::new();
    if let Value::Object(m) = defaults {
        walk(m, &mut KeyPath::default(), &mut out);
    }
    out
}

/// Whether unknown keys below `default` (at `path`) are reported.
fn structured(path: &KeyPath, default: &Value) -> bool {
    let free = matches!(path.0.first(), Some(Seg::Key(k)) if FREE_FORM.contains(&k.as_str()));
    matches!(default, Value::Object(m) if !m.is_empty()) && !free
}

/// The unknown keys found so far, each once per source and place: the first
/// [`MAX_REPORTED_UNKNOWN_KEYS`] as warning lines with a suggestion, the rest only counted (no
/// suggestion is worked out for them), so that many unknown keys cost time linear in their
/// number and the report stays short.
#[derive(Debug, Default)]
pub(crate) struct Unknown {
    /// The reported lines, in the order found.
    pub(crate) lines: Vec<String>,
    /// How many more distinct unknown keys were found than reported.
    pub(crate) more: usize,
    /// `unknown key "x" (from y)` of every key noted, for deduplication.
    seen: HashSet<String>,
}

impl Unknown {
    /// Notes the unknown key at `path`, from `from` (a source as described in messages).
    fn note(&mut self, path: &KeyPath, from: String, known: KnownPaths) {
        let head = format!("unknown key \"{path}\" (from {from})");
        if self.seen.contains(&head) {
            return;
        }
        self.seen.insert(head.clone());
        if self.lines.len() >= MAX_REPORTED_UNKNOWN_KEYS {
            self.more += 1;
            return;
        }
        let mut line = head;
        match suggest(path, known()) {
            Some(s) => line.push_str(&format!("; did you mean \"{s}\"?")),
            None => line.push_str("; the chart does not read it"),
        }
        self.lines.push(line);
    }

    /// The report: the lines, then `... and N more unknown keys` when some were not listed.
    pub(crate) fn into_lines(self) -> Vec<String> {
        let mut lines = self.lines;
        if self.more > 0 {
            lines.push(format!(
                "... and {} more unknown keys (only the first {MAX_REPORTED_UNKNOWN_KEYS} are listed)",
                self.more
            ));
        }
        lines
    }

    /// Whether no unknown key was found.
    pub(crate) fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }
}

fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// The nearest known key: a close sibling, or the same name elsewhere in the tree.
pub(crate) fn suggest(path: &KeyPath, known: &[Known]) -> Option<String> {
    let Some(Seg::Key(last)) = path.0.last() else {
        return None;
    };
    let last = last.to_ascii_lowercase();
    let parent = KeyPath(path.0[..path.0.len() - 1].to_vec()).to_string();
    let len = last.chars().count();
    let limit = 2.max(len / 3);
    known
        .iter()
        .filter_map(|k| {
            // The distance is at least the difference in length: skip those too far apart
            // without working it out (a long key would cost its length times each key's).
            if len.abs_diff(k.last.chars().count()) > limit {
                return None;
            }
            let d = levenshtein(&last, &k.last);
            let score = if k.parent == parent { d } else { d + 1 };
            (score <= limit && (k.parent == parent || d == 0)).then_some((score, &k.path))
        })
        .min_by_key(|(score, _)| *score)
        .map(|(_, p)| p.clone())
}

/// What a default accepts: `None` = anything (a null default).
fn expected(default: &Value) -> Option<&'static str> {
    match default {
        Value::Null => None,
        Value::Bool(_) => Some("a boolean"),
        Value::Number(n) if n.is_f64() => Some("a number"),
        Value::Number(_) => Some("an integer"),
        Value::String(_) => Some("a string"),
        Value::Array(_) => Some("a list"),
        Value::Object(_) => Some("a map"),
    }
}

fn fits(default: &Value, user: &Value) -> bool {
    match default {
        Value::Null => true,
        Value::Bool(_) => user.is_boolean(),
        Value::Number(n) if n.is_f64() => user.is_number(),
        // A percentage too, for Kubernetes' int-or-string fields (a disruption budget's
        // maxUnavailable); where only an integer goes, the schema (checked first) refuses it.
        Value::Number(_) => user.is_i64() || user.is_u64() || is_percentage(user),
        // Numbers render fine where a string is expected (e.g. a tag of 18).
        Value::String(_) => user.is_string() || user.is_number(),
        // Values exported from Rancher write an empty list as `{}`.
        Value::Array(_) => user.is_array() || user.as_object().is_some_and(Map::is_empty),
        Value::Object(_) => user.is_object(),
    }
}

/// A string such as `"25%"`.
fn is_percentage(v: &Value) -> bool {
    v.as_str()
        .and_then(|s| s.strip_suffix('%'))
        .is_some_and(|digits| !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()))
}

pub(crate) fn describe(v: &Value, sensitive: bool) -> String {
    let sensitive = sensitive || v.as_str().is_some_and(looks_like_token);
    let scalar = |kind: &str, shown: String| {
        if sensitive {
            format!("the {kind} {REDACTED}")
        } else {
            format!("the {kind} {shown}")
        }
    };
    match v {
        Value::Null => "null".to_owned(),
        Value::Bool(b) => scalar("boolean", b.to_string()),
        Value::Number(n) if n.is_f64() => scalar("number", n.to_string()),
        Value::Number(n) => scalar("integer", n.to_string()),
        Value::String(s) => {
            let mut shown: String = s.chars().take(60).collect();
            if shown.len() < s.len() {
                shown.push_str("...");
            }
            scalar("string", Value::String(shown).to_string())
        }
        Value::Array(_) => "a list".to_owned(),
        Value::Object(_) => "a map".to_owned(),
    }
}

pub(crate) fn default_hint(v: &Value, sensitive: bool) -> String {
    if sensitive {
        return String::new();
    }
    match v {
        Value::Bool(_) | Value::Number(_) | Value::String(_) => format!(" (default {v})"),
        Value::Array(a) if a.is_empty() => " (default [])".to_owned(),
        Value::Object(m) if m.is_empty() => " (default {})".to_owned(),
        _ => String::new(),
    }
}

/// Checks one source's tree: the first type error is returned; unknown keys are noted in
/// `unknown`.
pub(crate) fn check_source(
    defaults: &Map<String, Value>,
    user: &Map<String, Value>,
    source: &Source,
    locs: Option<&Locations>,
    known: KnownPaths,
    unknown: &mut Unknown,
) -> Result<(), Error> {
    let mut path = KeyPath::default();
    walk(
        defaults, user, true, &mut path, source, locs, known, unknown,
    )
}

#[allow(clippy::too_many_arguments)]
fn walk(
    defaults: &Map<String, Value>,
    user: &Map<String, Value>,
    check_unknown: bool,
    path: &mut KeyPath,
    source: &Source,
    locs: Option<&Locations>,
    known: KnownPaths,
    unknown: &mut Unknown,
) -> Result<(), Error> {
    for (k, uv) in user {
        path.push_key(k);
        let at = || locs.and_then(|l| l.get(&path.to_string()).copied());
        if !uv.is_null() {
            match defaults.get(k) {
                None => {
                    if check_unknown {
                        unknown.note(path, source.describe(at()), known);
                    }
                }
                Some(dv) => {
                    if !fits(dv, uv) {
                        let sensitive = path.is_sensitive();
                        return Err(Error::Type {
                            source_desc: source.describe(at()),
                            path: path.to_string(),
                            expected: expected(dv).unwrap_or("any value").to_owned(),
                            default_hint: default_hint(dv, sensitive),
                            got: describe(uv, sensitive),
                        });
                    }
                    if let (Value::Object(dm), Value::Object(um)) = (dv, uv) {
                        let below = check_unknown && structured(path, dv);
                        walk(dm, um, below, path, source, locs, known, unknown)?;
                    }
                }
            }
        }
        path.pop();
    }
    Ok(())
}

/// Deprecated keys set (not null or empty) in a source, as indexes into [`DEPRECATED`].
pub(crate) fn deprecated_in(user: &Map<String, Value>) -> Vec<usize> {
    DEPRECATED
        .iter()
        .enumerate()
        .filter(|(_, (p, _))| {
            lookup_in(user, p).is_some_and(|v| match v {
                Value::String(s) => !s.is_empty(),
                Value::Array(a) => !a.is_empty(),
                Value::Object(m) => !m.is_empty(),
                _ => true,
            })
        })
        .map(|(i, _)| i)
        .collect()
}
