//! Values: the embedded defaults, user files and `--set` flags merged with helm's rules.
//!
//! ```
//! use runnerctl::values::ValuesBuilder;
//!
//! let (values, warnings) = ValuesBuilder::new()
//!     .values_file("my.yaml", "gitlabUrl: https://gitlab.example.com/\nconcurrent: 4\n")
//!     .set("runners.tags=k8s\\,linux,rbac.create=true,imagePullSecrets={regcred,mirror}")
//!     .build()
//!     .unwrap();
//! assert_eq!(values.get("concurrent"), Some(&serde_json::json!(4)));
//! assert_eq!(values.get("runners.tags"), Some(&serde_json::json!("k8s,linux")));
//! assert_eq!(values.get("imagePullSecrets[1]"), Some(&serde_json::json!("mirror")));
//! assert!(warnings.is_empty());
//! ```
//!
//! Order of precedence (helm's, whatever the order of the builder calls): defaults, then `-f`
//! files, then `--set-json`, `--set`, `--set-string`, `--set-file`, each group in the order
//! given. Maps merge deeply, lists and scalars replace, `null` removes the key (also from the
//! defaults). The `--set` grammar is written down in the `strvals` module docs (see
//! [`ValuesBuilder::set`]).
//!
//! Checks: each source (a values file, one `--set`-family assignment) is validated against the
//! values schema ([`VALUES_SCHEMA_JSON`]: the type, range or choices of every key, also of keys
//! whose default is `null`), then against the defaults' types; the first problem is an
//! [`Error::Type`] naming the place, the key, what was expected and what was given. A key the
//! chart does not know is a [`Warning`] naming the nearest known key (an error with
//! [`ValuesBuilder::strict`]), never a schema error; below a default that is `{}`, `[]` or
//! `null`, and below `securityContext`/`podSecurityContext`, any key is allowed. Deprecated keys
//! give a warning naming the replacement. `{}` where the schema says list counts as `[]` (values
//! exported from Rancher write empty lists so). Values of keys named like `*token*`,
//! `*password*`, `*secret*`, token-like values and URLs with credentials never appear in
//! messages.

pub(crate) mod check;
mod error;
mod merge;
pub(crate) mod path;
mod schema;
mod strvals;
mod yaml;

use std::sync::OnceLock;

use serde_json::{Map, Value};

pub use error::{Error, Warning};
pub(crate) use yaml::parse_document;

use check::Source;
use strvals::{Assignment, Mode};

/// The embedded default values (`values/values.yaml`).
pub const DEFAULT_VALUES_YAML: &str = include_str!("../../values/values.yaml");

/// The embedded JSON Schema (draft-07) of the values (`values/values.schema.json`).
pub const VALUES_SCHEMA_JSON: &str = schema::SCHEMA_JSON;

/// Largest list index `--set` accepts (`a[65536]=x`), as helm.
pub const MAX_LIST_INDEX: usize = 65_536;
/// Most list entries that the list indexes of `--set`-family assignments may create in all,
/// across one [`ValuesBuilder::build`]: each `a[i]=x` grows the list at `a` to `i + 1` entries
/// (filling with `null`), so `a[65536]=1,b[65536]=1,...` or `a[60000][60000]=1` could otherwise
/// allocate without bound from a few kilobytes of flags. Four times [`MAX_LIST_INDEX`]: room
/// for any one index and more than any real chart value needs. Checked before the list grows.
pub const MAX_LIST_SLOTS: usize = 4 * MAX_LIST_INDEX;
/// Most unknown keys reported one by one (each with the nearest known key); beyond them, the
/// report ends with one `... and N more unknown keys` line (a warning, or a line of
/// [`Error::UnknownKeys`]), so that a file of many unknown keys is checked in linear time and
/// its report stays readable.
pub const MAX_REPORTED_UNKNOWN_KEYS: usize = 100;
/// Deepest nesting accepted: key segments of a `--set` key, levels of a values file or JSON value.
pub const MAX_NESTING_DEPTH: usize = 64;
/// Largest values file (and `--set-file` content) accepted, in bytes (8 MiB).
pub const MAX_VALUES_FILE_BYTES: usize = 8 * 1024 * 1024;
/// Largest single `--set`/`--set-string`/`--set-json` expression accepted, in bytes (1 MiB).
pub const MAX_SET_EXPR_BYTES: usize = 1024 * 1024;

/// One merged values tree. Its `Debug` redacts the values of sensitive keys (`*token*`,
/// `*password*`, `*secret*`) and token-like strings.
///
/// It also remembers whether it was built with [`ValuesBuilder::strict`]: render then makes its
/// own checks of keys inside values strict too (see [`Values::is_strict`]).
#[derive(Clone, PartialEq)]
pub struct Values {
    /// The merged tree.
    tree: Value,
    /// Built with [`ValuesBuilder::strict`]: render's own key checks are strict too.
    strict: bool,
}

impl std::fmt::Debug for Values {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut shown = self.tree.clone();
        crate::secret::redact_sensitive(&mut shown);
        f.debug_tuple("Values").field(&shown).finish()
    }
}

/// The embedded defaults as JSON, converted from `values/values.yaml` at build time.
const DEFAULT_VALUES_JSON: &str = include_str!(concat!(env!("OUT_DIR"), "/default-values.json"));

/// The parsed embedded defaults, parsed once per process.
pub(crate) fn default_tree() -> &'static Value {
    static DEFAULTS: OnceLock<Value> = OnceLock::new();
    DEFAULTS.get_or_init(|| {
        serde_json::from_str(DEFAULT_VALUES_JSON).expect("the build script wrote valid JSON")
    })
}

impl Values {
    /// The embedded defaults (`values/values.yaml`), parsed.
    pub fn defaults() -> Values {
        Values {
            tree: default_tree().clone(),
            strict: false,
        }
    }

    /// Wraps a JSON tree as it is, without defaults or checks (for tests and library callers
    /// that build values themselves).
    pub fn from_json(value: Value) -> Values {
        Values {
            tree: value,
            strict: false,
        }
    }

    /// Whether these values were built with [`ValuesBuilder::strict`]. Render checks more
    /// keys than the values schema knows (the TOML keys of `runners.config` against GitLab
    /// Runner's own): their warnings are errors for strict values.
    pub fn is_strict(&self) -> bool {
        self.strict
    }

    /// The same values, strict or not (see [`Values::is_strict`]); for library callers that
    /// build values with [`Values::from_json`].
    #[must_use]
    pub fn with_strict(mut self, strict: bool) -> Values {
        self.strict = strict;
        self
    }

    /// The merged tree as JSON.
    pub fn as_json(&self) -> &Value {
        &self.tree
    }

    /// The merged tree, by value.
    pub fn into_json(self) -> Value {
        self.tree
    }

    /// The value at a key path in `--set` syntax (`runners.config`, `tolerations[0].key`,
    /// `podAnnotations.example\.com/x`); `None` when absent or the path does not parse.
    pub fn get(&self, dotted_path: &str) -> Option<&Value> {
        strvals::parse_key(dotted_path).ok()?.find(&self.tree)
    }
}

/// Builds [`Values`] from the embedded defaults, values files and `--set` flags.
///
/// Nothing is read from disk: the caller passes file contents in.
#[derive(Default, Clone)]
pub struct ValuesBuilder {
    files: Vec<(String, String)>,
    set_json: Vec<String>,
    set: Vec<String>,
    set_string: Vec<String>,
    set_file: Vec<(String, String)>,
    strict: bool,
}

/// `Debug` names the inputs but never shows their text (it may hold tokens).
impl std::fmt::Debug for ValuesBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.files.iter().map(|(n, _)| n.as_str()).collect();
        f.debug_struct("ValuesBuilder")
            .field("files", &names)
            .field("set_json", &self.set_json.len())
            .field("set", &self.set.len())
            .field("set_string", &self.set_string.len())
            .field("set_file", &self.set_file.len())
            .field("strict", &self.strict)
            .finish()
    }
}

impl ValuesBuilder {
    /// A builder starting from the embedded defaults.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a values file (`-f`): `source_name` is its path or `<stdin>`, used in messages.
    #[must_use]
    pub fn values_file(
        mut self,
        source_name: impl Into<String>,
        yaml_text: impl Into<String>,
    ) -> Self {
        self.files.push((source_name.into(), yaml_text.into()));
        self
    }

    /// Adds a `--set` expression: `a.b=c,list={x,y},l[0].k=v`, scalars typed like helm.
    ///
    /// Grammar:
    /// ```text
    /// expr   = [ pair *( "," pair ) [ "," ] ]
    /// pair   = key "=" value
    /// key    = name *( "." name / "[" index "]" )     ; index 0..=MAX_LIST_INDEX
    /// value  = "{" [ item *( "," item ) ] "}" / scalar ; "\" escapes the next character
    /// ```
    /// `true`/`false`/`null` and decimal integers (not `0`-prefixed, within i64) are typed,
    /// everything else is a string; `key=` is the empty string; `key=null` deletes the key.
    #[must_use]
    pub fn set(mut self, expr: impl Into<String>) -> Self {
        self.set.push(expr.into());
        self
    }

    /// Adds a `--set-string` expression: the `--set` grammar, every value a string.
    #[must_use]
    pub fn set_string(mut self, expr: impl Into<String>) -> Self {
        self.set_string.push(expr.into());
        self
    }

    /// Adds a `--set-json` expression: `key=<JSON>[,key=<JSON>...]`, e.g. `a.b={"x":1}`.
    #[must_use]
    pub fn set_json(mut self, expr: impl Into<String>) -> Self {
        self.set_json.push(expr.into());
        self
    }

    /// Adds a `--set-file key=path`: `key` in the `--set` key grammar, `content` the file's
    /// text (read by the caller; see [`parse_set_file_arg`]).
    #[must_use]
    pub fn set_file(mut self, key: impl Into<String>, content: impl Into<String>) -> Self {
        self.set_file.push((key.into(), content.into()));
        self
    }

    /// Makes unknown keys an error ([`Error::UnknownKeys`]) instead of warnings. The built
    /// [`Values`] remember it ([`Values::is_strict`]), so render's checks of keys inside
    /// values (`runners.config`'s TOML keys) are errors too.
    #[must_use]
    pub fn strict(mut self, yes: bool) -> Self {
        self.strict = yes;
        self
    }

    /// Merges everything in helm's order and checks it.
    ///
    /// Warnings come in a fixed order: per source (in merge order), unknown keys in the order
    /// they appear (at most [`MAX_REPORTED_UNKNOWN_KEYS`], then one `... and N more` line),
    /// then deprecations.
    pub fn build(self) -> Result<(Values, Vec<Warning>), Error> {
        let defaults = match Values::defaults().tree {
            Value::Object(m) => m,
            _ => unreachable!("the embedded defaults are a map"),
        };
        let mut tree = UserTree::new(&defaults);
        for (name, text) in &self.files {
            tree.add_file(name, text)?;
        }
        let groups: [(&'static str, &Vec<String>, Option<Mode>); 3] = [
            ("--set-json", &self.set_json, None),
            ("--set", &self.set, Some(Mode::Typed)),
            ("--set-string", &self.set_string, Some(Mode::Strings)),
        ];
        for (flag, exprs, mode) in groups {
            for expr in exprs {
                check_size(flag.to_owned(), expr.len(), MAX_SET_EXPR_BYTES)?;
                let parsed = match mode {
                    None => strvals::parse_set_json(expr),
                    Some(m) => strvals::parse_set(expr, m),
                };
                for a in parsed.map_err(|e| syntax_error(flag, expr, e))? {
                    tree.assign(flag, a)?;
                }
            }
        }
        for (key, content) in &self.set_file {
            let flag = "--set-file";
            check_size(
                format!("{flag} {key}"),
                content.len(),
                MAX_VALUES_FILE_BYTES,
            )?;
            let path = strvals::parse_key(key).map_err(|e| syntax_error(flag, key, e))?;
            let value = Value::String(content.clone());
            tree.assign(flag, Assignment { path, value })?;
        }
        let (user, warnings) = tree.finish(self.strict)?;
        let mut merged = defaults;
        merge::coalesce(&mut merged, user);
        Ok((
            Values {
                tree: Value::Object(merged),
                strict: self.strict,
            },
            warnings,
        ))
    }
}

/// `TooLarge` when `size` is over `limit`.
fn check_size(source_desc: String, size: usize, limit: usize) -> Result<(), Error> {
    if size > limit {
        return Err(Error::TooLarge {
            source_desc,
            size,
            limit,
        });
    }
    Ok(())
}

/// The user's values as they are merged (without the defaults), checked against the defaults
/// on the way, with the unknown and deprecated keys found.
struct UserTree<'d> {
    defaults: &'d Map<String, Value>,
    known: check::KnownPaths,
    user: Map<String, Value>,
    /// The unknown keys, in the order found.
    unknown: check::Unknown,
    /// Indexes into [`check::DEPRECATED`] and where each was first seen.
    deprecated: Vec<(usize, String)>,
    /// List entries created by `--set`-family indexes so far (see [`MAX_LIST_SLOTS`]).
    list_slots: usize,
}

impl<'d> UserTree<'d> {
    /// An empty tree checked against `defaults`.
    fn new(defaults: &'d Map<String, Value>) -> Self {
        UserTree {
            defaults,
            known: check::default_known_paths,
            user: Map::new(),
            unknown: check::Unknown::default(),
            deprecated: Vec::new(),
            list_slots: 0,
        }
    }

    /// Checks `tree` from `source` against the defaults, noting unknown and deprecated keys.
    fn check(
        &mut self,
        tree: &Map<String, Value>,
        source: &Source,
        locs: Option<&yaml::Locations>,
    ) -> Result<(), Error> {
        schema::check_source(tree, source, locs)?;
        check::check_source(
            self.defaults,
            tree,
            source,
            locs,
            self.known,
            &mut self.unknown,
        )?;
        for i in check::deprecated_in(tree) {
            if !self.deprecated.iter().any(|(j, _)| *j == i) {
                self.deprecated.push((i, source.describe(None)));
            }
        }
        Ok(())
    }

    /// A values file (`-f`): loaded, its depth checked, then added.
    fn add_file(&mut self, name: &str, text: &str) -> Result<(), Error> {
        let (tree, locs) = yaml::load(name, text)?;
        let source = Source::File(name.to_owned());
        for (k, v) in &tree {
            if 1 + merge::depth(v) > MAX_NESTING_DEPTH {
                return Err(Error::TooDeep {
                    source_desc: source.describe(None),
                    path: k.clone(),
                    limit: MAX_NESTING_DEPTH,
                });
            }
        }
        self.check(&tree, &source, Some(&locs))?;
        merge::merge_user(&mut self.user, tree);
        Ok(())
    }

    /// One `--set`-family assignment: its depth checked, checked as a one-key tree, then set
    /// at its path (an index writes into the list there).
    fn assign(&mut self, flag: &'static str, a: Assignment) -> Result<(), Error> {
        if a.path.0.len() + merge::depth(&a.value) > MAX_NESTING_DEPTH {
            return Err(Error::TooDeep {
                source_desc: flag.to_owned(),
                path: a.path.to_string(),
                limit: MAX_NESTING_DEPTH,
            });
        }
        let created = merge::new_list_slots(&self.user, &a.path);
        if created > MAX_LIST_SLOTS.saturating_sub(self.list_slots) {
            return Err(Error::TooManyListSlots {
                source_desc: flag.to_owned(),
                path: a.path.to_string(),
                limit: MAX_LIST_SLOTS,
            });
        }
        self.list_slots += created;
        // The checks never look inside lists (only at whether there is one, and whether it is
        // empty), so the one-key tree puts every index at 0 and allocates nothing for it.
        let at_zero = path::KeyPath(
            a.path
                .0
                .iter()
                .map(|s| match s {
                    path::Seg::Index(_) => path::Seg::Index(0),
                    key => key.clone(),
                })
                .collect(),
        );
        let mut mini = Map::new();
        merge::set_path(&mut mini, &at_zero, a.value.clone());
        self.check(&mini, &Source::Flag(flag), None)?;
        merge::set_path(&mut self.user, &a.path, a.value);
        Ok(())
    }

    /// The user tree and the warnings (unknown keys, then deprecations); with `strict`, unknown
    /// keys are an error.
    fn finish(self, strict: bool) -> Result<(Map<String, Value>, Vec<Warning>), Error> {
        if strict && !self.unknown.is_empty() {
            return Err(Error::UnknownKeys {
                keys: self.unknown.into_lines(),
            });
        }
        let mut user = self.user;
        schema::empty_maps_as_lists(&mut user);
        let mut warnings: Vec<Warning> = (self.unknown.into_lines().into_iter())
            .map(|message| Warning { message })
            .collect();
        let mut deprecated = self.deprecated;
        deprecated.sort_by_key(|(i, _)| *i);
        for (i, source) in deprecated {
            warnings.push(Warning {
                message: format!("{} (from {source})", check::DEPRECATED[i].1),
            });
        }
        Ok((user, warnings))
    }
}

/// How much of a bad expression an error message shows.
const SHOWN_EXPR_CHARS: usize = 200;

fn syntax_error(flag: &'static str, expr: &str, e: strvals::ParseError) -> Error {
    let (mut shown, redacted) = crate::secret::redact_set_expr(expr);
    if shown.chars().count() > SHOWN_EXPR_CHARS {
        shown = shown.chars().take(SHOWN_EXPR_CHARS).collect::<String>() + "...";
    }
    let message = if redacted {
        e.message
    } else {
        format!("{} (at character {})", e.message, e.pos)
    };
    Error::SetSyntax {
        flag,
        expr: shown,
        message,
    }
}

/// Splits a `--set-file` argument `key=path` at the first unescaped `=`.
///
/// Returns `(key, path)`; the key keeps its escapes (it is parsed by
/// [`ValuesBuilder::set_file`]).
pub fn parse_set_file_arg(arg: &str) -> Result<(String, String), Error> {
    let bad = |message: &str| Error::SetSyntax {
        flag: "--set-file",
        expr: arg.to_owned(),
        message: message.to_owned(),
    };
    let mut escaped = false;
    for (i, c) in arg.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            '=' => {
                let (key, path) = (&arg[..i], &arg[i + 1..]);
                if key.is_empty() {
                    return Err(bad("empty key; use key=path"));
                }
                if path.is_empty() {
                    return Err(bad("empty path; use key=path"));
                }
                strvals::parse_key(key).map_err(|e| syntax_error("--set-file", arg, e))?;
                return Ok((key.to_owned(), path.to_owned()));
            }
            _ => {}
        }
    }
    Err(bad("expected key=path"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn defaults_load() {
        let v = Values::defaults();
        assert_eq!(v.get("concurrent"), Some(&json!(10)));
        assert_eq!(
            v.get("securityContext.capabilities.drop[0]"),
            Some(&json!("ALL"))
        );
        assert_eq!(v.get("nope"), None);
        // The build-time JSON is exactly what the values loader reads from the YAML.
        let (map, _) = yaml::load("values.yaml", DEFAULT_VALUES_YAML).unwrap();
        assert_eq!(v.as_json(), &Value::Object(map));
    }

    #[test]
    fn typed_scalars_follow_helm() {
        use strvals::typed;
        assert_eq!(typed("TRUE", Mode::Typed), json!(true));
        assert_eq!(typed("007", Mode::Typed), json!("007"));
        assert_eq!(typed("0", Mode::Typed), json!(0));
        assert_eq!(typed("-3", Mode::Typed), json!(-3));
        assert_eq!(
            typed("99999999999999999999", Mode::Typed),
            json!("99999999999999999999")
        );
        assert_eq!(typed("1.5", Mode::Typed), json!("1.5"));
        assert_eq!(typed("null", Mode::Strings), json!("null"));
    }

    #[test]
    fn suggestion_prefers_siblings() {
        let d = Values::defaults().tree;
        let known = check::known_paths(&d);
        let p = strvals::parse_key("runners.privilegd").unwrap();
        assert_eq!(
            check::suggest(&p, &known).as_deref(),
            Some("runners.privileged")
        );
        let p = strvals::parse_key("privileged").unwrap();
        assert_eq!(
            check::suggest(&p, &known).as_deref(),
            Some("runners.privileged")
        );
        let p = strvals::parse_key("zzzzzzzzzz").unwrap();
        assert_eq!(check::suggest(&p, &known), None);
    }
}
