//! Key paths (`runners.cache.secretName`, `tolerations[0].key`) for lookups and messages.

use std::fmt;

/// One step of a key path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Seg {
    /// A map key.
    Key(String),
    /// A list index.
    Index(usize),
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
    /// Whether a key of this path names something secret (token, password, secret).
    pub(crate) fn is_sensitive(&self) -> bool {
        self.0
            .iter()
            .any(|s| matches!(s, Seg::Key(k) if is_sensitive_key(k)))
    }
}

/// Keys whose values are never printed: anything named like `*token*`, `*password*`, `*secret*`.
pub(crate) fn is_sensitive_key(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    k.contains("token") || k.contains("password") || k.contains("secret")
}

impl fmt::Display for KeyPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, seg) in self.0.iter().enumerate() {
            match seg {
                Seg::Key(k) => {
                    if i > 0 {
                        f.write_str(".")?;
                    }
                    for c in k.chars() {
                        if matches!(c, '.' | '[' | ']' | '=' | ',' | '\\') {
                            f.write_str("\\")?;
                        }
                        write!(f, "{c}")?;
                    }
                }
                Seg::Index(n) => write!(f, "[{n}]")?,
            }
        }
        Ok(())
    }
}
