//! Errors and warnings of values loading.

use std::fmt;

/// Why values could not be built. Every message says what was wrong, where, and what would fix
/// it; values of secret keys (`*token*`, `*password*`, `*secret*`) are shown as `<redacted>`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A values file is not valid YAML.
    #[error("values file {source_name}:{line}:{column}: {message}")]
    Yaml {
        /// The file's path as given (or `<stdin>`).
        source_name: String,
        /// 1-based line (0 when unknown).
        line: u64,
        /// 1-based column (0 when unknown).
        column: u64,
        /// The YAML parser's message.
        message: String,
    },
    /// A values file whose top level is not a map.
    #[error(
        "values file {source_name}: the top level is {found}, but a values file must be a map of keys to values (`key: value` lines)"
    )]
    NotAMap {
        /// The file's path as given (or `<stdin>`).
        source_name: String,
        /// What the top level is ("a list", "a string", ...).
        found: &'static str,
    },
    /// A `--set`, `--set-string`, `--set-json` or `--set-file` expression that does not parse.
    #[error("{flag} \"{expr}\": {message}")]
    SetSyntax {
        /// The flag (`--set`, ...).
        flag: &'static str,
        /// The expression, secret values replaced by `<redacted>`.
        expr: String,
        /// What is wrong, where (character position when shown) and what is expected.
        message: String,
    },
    /// Input over one of the size limits ([`MAX_VALUES_FILE_BYTES`](super::MAX_VALUES_FILE_BYTES),
    /// [`MAX_SET_EXPR_BYTES`](super::MAX_SET_EXPR_BYTES)).
    #[error(
        "{source_desc}: {size} bytes is over the limit of {limit} bytes; split it or use a smaller input"
    )]
    TooLarge {
        /// Which input (`values file x.yaml`, `--set`, ...).
        source_desc: String,
        /// Its size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// A value nested deeper than [`MAX_NESTING_DEPTH`](super::MAX_NESTING_DEPTH).
    #[error(
        "{source_desc}: {path}: nested deeper than {limit} levels (MAX_NESTING_DEPTH); values this deep are not supported"
    )]
    TooDeep {
        /// Which input.
        source_desc: String,
        /// Key path where the limit was crossed.
        path: String,
        /// The limit.
        limit: usize,
    },
    /// `--set`-family list indexes that would create more than
    /// [`MAX_LIST_SLOTS`](super::MAX_LIST_SLOTS) list entries in all.
    #[error(
        "{source_desc}: {path}: list indexes would create more than {limit} list entries in all (MAX_LIST_SLOTS); use fewer or smaller list indexes, or a values file"
    )]
    TooManyListSlots {
        /// Which input (`--set`, ...).
        source_desc: String,
        /// Key path of the assignment that crossed the limit.
        path: String,
        /// The limit.
        limit: usize,
    },
    /// A value that does not fit the values schema (type, range, choices, format) or the
    /// type of the chart's default for that key.
    #[error("{source_desc}: {path}: expected {expected}{default_hint}, got {got}")]
    Type {
        /// Which input, with `:line:column` for files when known.
        source_desc: String,
        /// Key path.
        path: String,
        /// What is expected ("an integer from 1 to 65535", "one of ClusterIP, NodePort,
        /// LoadBalancer", ...).
        expected: String,
        /// ` (default 10)` or empty.
        default_hint: String,
        /// What was given (`the string "ten"`, `a map`, `the string <redacted>`).
        got: String,
    },
    /// Keys the chart does not know, with `strict` on.
    #[error("unknown values keys (strict mode; remove or fix them):\n  {}", .keys.join("\n  "))]
    UnknownKeys {
        /// One line per key, as in the warning: at most
        /// [`MAX_REPORTED_UNKNOWN_KEYS`](super::MAX_REPORTED_UNKNOWN_KEYS), then one
        /// `... and N more unknown keys` line when there are more.
        keys: Vec<String>,
    },
}

/// Something worth telling the user that does not stop the build (unknown or deprecated key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// The whole message, e.g.
    /// `unknown key "runners.privilegd" (from --set); did you mean "runners.privileged"?`.
    pub message: String,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}
