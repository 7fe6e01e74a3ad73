//! Key paths (`runners.cache.secretName`, `tolerations[0].key`) for lookups and messages, and
//! the one walker that reads a value at a path ([`walk`]).

use std::fmt;

use serde_json::{Map, Value};

use crate::secret::{REDACTED, is_sensitive_key, looks_like_token};

/// One step of a key path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Seg {
    /// A map key.
    Key(String),
    /// A list index.
    Index(usize),
}

impl Seg {
    /// The step this segment takes.
    fn step(&self) -> Step<'_> {
        match self {
            Seg::Key(k) => Step::Key(k),
            Seg::Index(i) => Step::Index(*i),
        }
    }
}

/// One step of a walk, borrowed: a map key or a list index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step<'k> {
    /// A map key.
    Key(&'k str),
    /// A list index.
    Index(usize),
}

/// The value reached from `root` by `steps`; `None` where a key or index is absent or the
/// value on the way is not a map (for a key) or a list (for an index).
pub(crate) fn walk<'a, 'k>(
    root: &'a Value,
    steps: impl IntoIterator<Item = Step<'k>>,
) -> Option<&'a Value> {
    steps.into_iter().try_fold(root, |cur, step| match step {
        Step::Key(k) => cur.as_object()?.get(k),
        Step::Index(i) => cur.as_array()?.get(i),
    })
}

/// The value at a dotted path of plain map keys (`runners.cache.secretName`, no escapes or
/// indices); `null` counts as absent.
pub(crate) fn lookup<'a>(values: &'a Value, dotted: &str) -> Option<&'a Value> {
    lookup_in(values.as_object()?, dotted)
}

/// [`lookup`] below a map.
pub(crate) fn lookup_in<'a>(map: &'a Map<String, Value>, dotted: &str) -> Option<&'a Value> {
    let mut keys = dotted.split('.');
    let first = map.get(keys.next()?)?;
    walk(first, keys.map(Step::Key)).filter(|v| !v.is_null())
}

/// A key path, displayed in `--set` syntax: `a.b[0].c`, dots inside keys escaped as `\.`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct KeyPath(pub(crate) Vec<Seg>);

impl KeyPath {
    pub(crate) fn push_key(&mut self, k: &str) {
        self.0.push(Seg::Key(k.to_owned()));
    }
    pub(crate) fn push_index(&mut self, i: usize) {
        self.0.push(Seg::Index(i));
    }
    pub(crate) fn pop(&mut self) {
        self.0.pop();
    }
    /// The value at this path below `root` (a `null` there is returned as it is).
    pub(crate) fn find<'a>(&self, root: &'a Value) -> Option<&'a Value> {
        walk(root, self.0.iter().map(Seg::step))
    }
    /// Whether a key of this path names something secret (token, password, secret).
    pub(crate) fn is_sensitive(&self) -> bool {
        self.0
            .iter()
            .any(|s| matches!(s, Seg::Key(k) if is_sensitive_key(k)))
    }
}

/// How a key path prints in messages: a segment that looks like a token (someone passed
/// `--set glrt-...`) prints as [`REDACTED`], so no message echoes it.
impl fmt::Display for KeyPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, seg) in self.0.iter().enumerate() {
            match seg {
                Seg::Key(k) => {
                    if i > 0 {
                        f.write_str(".")?;
                    }
                    if looks_like_token(k) {
                        f.write_str(REDACTED)?;
                        continue;
                    }
                    // Runs without special characters are written whole.
                    let mut rest = k.as_str();
                    while let Some(i) = rest.find(['.', '[', ']', '=', ',', '\\']) {
                        f.write_str(&rest[..i])?;
                        f.write_str("\\")?;
                        f.write_str(&rest[i..=i])?;
                        rest = &rest[i + 1..];
                    }
                    f.write_str(rest)?;
                }
                Seg::Index(n) => write!(f, "[{n}]")?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn one_walker_for_dotted_paths_and_key_paths() {
        let v = json!({"a": {"b": [{"c": 1}], "n": null}});
        assert_eq!(lookup(&v, "a.b"), Some(&json!([{"c": 1}])));
        assert_eq!(lookup(&v, "a.n"), None, "null counts as absent");
        assert_eq!(lookup(&v, "a.b.c"), None, "a list has no keys");
        assert_eq!(lookup(&v, "a.x"), None);
        let mut p = KeyPath::default();
        p.push_key("a");
        p.push_key("b");
        p.push_index(0);
        p.push_key("c");
        assert_eq!(p.find(&v), Some(&json!(1)));
        p.pop();
        p.pop();
        p.push_index(1);
        assert_eq!(p.find(&v), None);
        let mut n = KeyPath::default();
        n.push_key("a");
        n.push_key("n");
        assert_eq!(n.find(&v), Some(&Value::Null), "find keeps null");
    }
}
