//! `runners.config`: evaluated (see [`gotmpl`] for the expressions), parsed as TOML with errors
//! at line:column of the user's text, checked for at least one `[[runners]]` (several are
//! split into a text per runner, see [`process`]), its keys checked
//! against the ones GitLab Runner knows, with `privileged = true` added when
//! `runners.privileged` asks for it and a Docker-in-Docker check.
//!
//! **Keys.** GitLab Runner's TOML decoder ignores keys it does not know, so a key in the wrong
//! section (`environment` under `[runners.kubernetes]`) or misspelt (`pull_polcy`) silently
//! does nothing. Every such key gets a warning with its line:column, the nearest known key of
//! its section and the sections where it does exist; with strict values
//! ([`Values::is_strict`](crate::values::Values::is_strict), the `--strict` flag) they are an
//! [`Error::UnknownKeys`]. The known keys come from `runner_keys.json`, generated from the
//! `toml` tags of the runner's config structs by `cargo xtask runner-keys` (see
//! [`KNOWN_KEYS_SOURCE`] and [`known_keys_module`]). Keys match case-insensitively, as in
//! the runner's decoder; below a map (`[runners.feature_flags]`, `node_selector`) any key is
//! accepted. Keys at the top level are ignored by the runner's registration (it takes only
//! the `[[runners]]` entry) and are reported too.
//!
//! **Privileged.** `privileged = true` is set with a TOML document editor (`toml_edit`) in
//! `[runners.kubernetes]` of the one `[[runners]]` (the table is created if missing), so the
//! user's comments and layout stay and the line can never land inside a multi-line string.

use super::build_mode::{BuildMode, Conflict, MergeError};
use super::gotmpl::{self, Evaluated, Scope};
use super::toml_text::{self, key_indent, line_indent, set_key_indent};
use crate::secret::SecretValues;

/// The value this module reads, as errors name it.
pub use super::toml_text::KEY;

/// Errors in `runners.config`.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum Error {
    /// A template expression that cannot be evaluated.
    #[error(transparent)]
    Template(#[from] gotmpl::Error),
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
    /// No `[[runners]]`.
    #[error(
        "runners.config: expected a [[runners]] section, found {found}; write one [[runners]] \
         per runner (the default config has one)"
    )]
    RunnerCount {
        /// How many were found.
        found: usize,
    },
    /// An error in one runner of several.
    #[error("runners.config: [[runners]] number {number} (name {name:?}): {source}")]
    InRunner {
        /// 1-based, in the config's order.
        number: usize,
        /// Its name (empty without one).
        name: String,
        /// What is wrong.
        source: Box<Error>,
    },
    /// Keys GitLab Runner does not know, with strict values: one message per key.
    #[error(
        "runners.config has keys GitLab Runner ignores (strict mode; remove or fix them):\n  {}",
        .0.join("\n  ")
    )]
    UnknownKeys(Vec<String>),
    /// `runners.privileged: true` but the config sets `privileged = false`.
    #[error(
        "runners.privileged is true but runners.config sets privileged = false in \
         [runners.kubernetes]; remove one of the two"
    )]
    PrivilegedConflict,
    /// The build mode cannot be merged into the config.
    #[error(transparent)]
    BuildMode(#[from] super::build_mode::MergeError),
}

/// The result of checking an evaluated config (the default: no config).
#[derive(Debug, Clone, Default)]
pub struct RunnerConfig {
    /// The final config.template.toml text (with `privileged = true` added when asked).
    pub text: String,
    /// The runner's `name`, if it has one.
    pub name: Option<String>,
    /// Job pods run privileged.
    pub privileged: bool,
    /// The config sets a `namespace` for job pods.
    pub sets_namespace: bool,
    /// The job pods' namespace when the config names one (`[runners.kubernetes] namespace`).
    pub namespace: Option<String>,
    /// Each job gets a namespace of its own (`[runners.kubernetes] namespace_per_job`).
    pub namespace_per_job: bool,
    /// The string values under sensitive keys (tokens, passwords, access and secret keys of
    /// the cache...), to be masked in output.
    pub credentials: SecretValues,
    /// Warnings for the user.
    pub warnings: Vec<String>,
    /// The `[[runners]]` entry of the final text, parsed.
    pub runner: toml::Table,
}

/// The config a build mode starts from when the values have none.
pub const EMPTY_CONFIG: &str = "[[runners]]\n  [runners.kubernetes]\n";

/// How [`process`] treats the config.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// `runners.privileged`: add `privileged = true` to every runner.
    pub privileged: bool,
    /// The build mode whose settings are merged into every runner.
    pub mode: Option<BuildMode>,
    /// Keys GitLab Runner does not know are an error instead of warnings.
    pub strict: bool,
    /// Set `FF_DISABLE_AUTOMATIC_TOKEN_ROTATION = true` in every runner's
    /// `[runners.feature_flags]` unless the runner sets that flag itself (a warning then).
    pub disable_token_rotation: bool,
    /// Each runner gets a template of its own, even a single one (tokens given per runner).
    pub per_runner: bool,
    /// The job namespace of a runner that names none (`runners.jobNamespace`, else the
    /// release's): written into each runner's own template.
    pub job_namespace: String,
}

/// A processed `runners.config`: each `[[runners]]` on its own, in the config's order.
#[derive(Debug, Clone, Default)]
pub struct Processed {
    /// One entry per `[[runners]]`. With one, its text is the whole config as processed;
    /// with several, each text holds that one `[[runners]]` (what `register
    /// --template-config` takes). Each runner's own text (several, or
    /// [`Options::per_runner`]) names its job namespace.
    pub runners: Vec<RunnerConfig>,
    /// Warnings about the config as a whole (keys GitLab Runner ignores).
    pub warnings: Vec<String>,
}

/// Evaluate, parse and check `runners.config` (at least one `[[runners]]`), then apply
/// `options` to each runner: the build mode's settings, `privileged = true` when
/// `runners.privileged` asks for it, the token rotation flag and, with several runners, the
/// job namespace.
pub fn process(source: &str, scope: &Scope<'_>, options: &Options) -> Result<Processed, Error> {
    let evaluated = gotmpl::evaluate(KEY, source, scope)?;
    let table = parse(&evaluated)?;
    // The keys are checked on the table; only a config with a key GitLab Runner does not know
    // is parsed again as a document, whose spans place each such key in the user's text.
    let unknown = if has_unknown_keys(&table) {
        toml_edit::Document::parse(evaluated.text.as_str())
            .map(|doc| unknown_keys(&evaluated, &doc))
            .unwrap_or_default()
    } else {
        Vec::new()
    };
    let found = table
        .get("runners")
        .and_then(|r| r.as_array())
        .map_or(0, |r| r.len());
    let runners = match found {
        0 => return Err(Error::RunnerCount { found }),
        1 => {
            let namespace = options.per_runner.then_some(options.job_namespace.as_str());
            vec![process_runner(
                evaluated.text.clone(),
                table,
                options,
                namespace,
            )?]
        }
        _ => split_runners(&evaluated.text)?
            .into_iter()
            .enumerate()
            .map(|(index, text)| {
                let table = reparse(&text, "after taking one [[runners]] out")?;
                let name = table_name(&table);
                process_runner(text, table, options, Some(&options.job_namespace)).map_err(
                    |source| Error::InRunner {
                        number: index + 1,
                        name: name.unwrap_or_default(),
                        source: Box::new(source),
                    },
                )
            })
            .collect::<Result<_, _>>()?,
    };
    if options.strict && !unknown.is_empty() {
        return Err(Error::UnknownKeys(unknown));
    }
    Ok(Processed {
        runners,
        warnings: unknown,
    })
}

/// One `[[runners]]` (`text`, parsed as `table`) with `options` applied; `job_namespace`
/// is written into `[runners.kubernetes]` unless the runner names a namespace.
fn process_runner(
    mut text: String,
    mut table: toml::Table,
    options: &Options,
    job_namespace: Option<&str>,
) -> Result<RunnerConfig, Error> {
    let want_privileged = options.privileged;
    if let Some(mode) = options.mode {
        if want_privileged && !mode.privileged() {
            return Err(Error::BuildMode(MergeError::Conflict(Conflict {
                source_key: "runners.privileged".into(),
                key: "runners.kubernetes.privileged".into(),
                configured: "true".into(),
                mode,
                wanted: "false".into(),
            })));
        }
        text = mode.merge_into(&text)?;
        table = reparse(&text, &format!("after merging build mode {mode}"))?;
    }
    let configured = kubernetes_table(&table)
        .and_then(|k| k.get("privileged"))
        .and_then(|p| p.as_bool());
    let privileged = decide_privileged(&mut text, want_privileged, configured)?;
    if privileged && configured.is_none() {
        table = reparse(&text, "after adding privileged = true")?;
    }
    let mut warnings = Vec::new();
    if options.disable_token_rotation {
        let flag = runner_table(&table)
            .and_then(|r| r.get("feature_flags"))
            .and_then(|f| f.as_table())
            .and_then(|f| f.get(ROTATION_FLAG));
        match flag {
            None => {
                text = set_in_runner(&text, "feature_flags", ROTATION_FLAG, true.into())
                    .map_err(|message| edit_error(&format!("{ROTATION_FLAG} = true"), &message))?;
                table = reparse(&text, "after adding the token rotation flag")?;
            }
            Some(toml::Value::Boolean(true)) => {}
            Some(_) => warnings.push(format!(
                "runners.config sets {ROTATION_FLAG} other than true in [runners.feature_flags], \
                 which wins over runnerctl.tokenRotation=runnerctl: the runner rotates its token \
                 itself and writes the new one only to the pod's config.toml"
            )),
        }
    }
    if let Some(ns) = job_namespace
        && !kubernetes_table(&table).is_some_and(|k| k.contains_key("namespace"))
    {
        text = set_in_runner(&text, "kubernetes", "namespace", ns.into())
            .map_err(|message| edit_error("namespace", &message))?;
        table = reparse(&text, "after adding the job namespace")?;
    }
    let kubernetes = kubernetes_table(&table);
    let sets_namespace = kubernetes.is_some_and(|k| k.contains_key("namespace"));
    let namespace = kubernetes
        .and_then(|k| k.get("namespace"))
        .and_then(|n| n.as_str())
        .filter(|n| !n.is_empty())
        .map(str::to_string);
    let namespace_per_job = kubernetes
        .and_then(|k| k.get("namespace_per_job"))
        .and_then(|n| n.as_bool())
        .unwrap_or(false);
    let mut credentials = SecretValues::default();
    add_credentials(&mut credentials, &table);
    let name = table_name(&table);
    let runner = take_runner(table);
    warnings.extend(dind_warning(&text, privileged));
    Ok(RunnerConfig {
        text,
        name,
        privileged,
        sets_namespace,
        namespace,
        namespace_per_job,
        credentials,
        warnings,
        runner,
    })
}

/// The feature flag that stops GitLab Runner from rotating its token itself; read only from
/// each `[[runners]]`' `[runners.feature_flags]` (common/config.go, IsFeatureFlagOn).
pub const ROTATION_FLAG: &str = "FF_DISABLE_AUTOMATIC_TOKEN_ROTATION";

/// The error of an edit runnerctl could not make: adding `key` to the runner.
fn edit_error(key: &str, message: &str) -> Error {
    Error::Toml {
        line: 0,
        column: 0,
        message: format!("could not add {key}: {message}"),
    }
}

/// The `name` of the one `[[runners]]` of a parsed config.
fn table_name(table: &toml::Table) -> Option<String> {
    runner_table(table)
        .and_then(|r| r.get("name"))
        .and_then(|n| n.as_str())
        .map(str::to_string)
}

/// `[runners.kubernetes]` of the one `[[runners]]` of a parsed config.
fn kubernetes_table(table: &toml::Table) -> Option<&toml::Table> {
    runner_table(table)
        .and_then(|r| r.get("kubernetes"))
        .and_then(|k| k.as_table())
}

/// A config of several `[[runners]]` as one text per runner: the document with every other
/// runner taken out, so that each keeps its comments and layout.
fn split_runners(text: &str) -> Result<Vec<String>, Error> {
    let doc: toml_edit::DocumentMut =
        text.parse()
            .map_err(|e: toml_edit::TomlError| Error::Toml {
                line: 0,
                column: 0,
                message: e.message().trim().to_string(),
            })?;
    let count = doc
        .get("runners")
        .and_then(toml_edit::Item::as_array_of_tables)
        .map_or(0, toml_edit::ArrayOfTables::len);
    Ok((0..count)
        .map(|keep| {
            let mut one = doc.clone();
            if let Some(runners) = one
                .get_mut("runners")
                .and_then(toml_edit::Item::as_array_of_tables_mut)
            {
                let mut index = 0;
                runners.retain(|_| {
                    index += 1;
                    index - 1 == keep
                });
            }
            one.to_string().trim_start_matches('\n').to_string()
        })
        .collect())
}

/// The `[[runners]]` entry the runner works with when there is no config: nothing set but
/// `[runners.kubernetes] privileged` when `privileged`.
pub fn runner_defaults(privileged: bool) -> toml::Table {
    let mut runner = toml::Table::new();
    if privileged {
        let mut kubernetes = toml::Table::new();
        kubernetes.insert("privileged".into(), toml::Value::Boolean(true));
        runner.insert("kubernetes".into(), toml::Value::Table(kubernetes));
    }
    runner
}

/// The one `[[runners]]` entry of a parsed config.
fn runner_table(table: &toml::Table) -> Option<&toml::Table> {
    table
        .get("runners")
        .and_then(|r| r.as_array())
        .and_then(|r| r.first())
        .and_then(|r| r.as_table())
}

/// The one `[[runners]]` entry of a parsed config, taken out of it (empty if there is none).
fn take_runner(mut table: toml::Table) -> toml::Table {
    match table.remove("runners") {
        Some(toml::Value::Array(runners)) => runners.into_iter().next(),
        _ => None,
    }
    .and_then(|r| match r {
        toml::Value::Table(t) => Some(t),
        _ => None,
    })
    .unwrap_or_default()
}

/// The string values under sensitive keys of a TOML table, at any depth.
fn add_credentials(secrets: &mut SecretValues, table: &toml::Table) {
    for (key, value) in table {
        match value {
            toml::Value::String(s) => secrets.add_named(key, s),
            toml::Value::Table(t) => add_credentials(secrets, t),
            toml::Value::Array(items) => {
                for item in items {
                    if let toml::Value::Table(t) = item {
                        add_credentials(secrets, t);
                    }
                }
            }
            _ => {}
        }
    }
}

/// Whether job pods run privileged: `privileged` in the config, or `runners.privileged`
/// (`want`), which adds `privileged = true` to `text`; an error when the two disagree.
fn decide_privileged(
    text: &mut String,
    want: bool,
    configured: Option<bool>,
) -> Result<bool, Error> {
    Ok(match (want, configured) {
        (true, Some(false)) => return Err(Error::PrivilegedConflict),
        (true, None) => {
            *text = set_in_runner(text, "kubernetes", "privileged", true.into())
                .map_err(|message| edit_error("privileged = true", &message))?;
            true
        }
        (_, Some(p)) => p,
        (false, None) => false,
    })
}

/// The warning for a config that uses Docker-in-Docker while job pods are not privileged.
fn dind_warning(text: &str, privileged: bool) -> Option<String> {
    let lower = text.to_ascii_lowercase();
    let dind = lower.contains("docker:dind")
        || lower.contains("docker:2375")
        || lower.contains("docker:2376");
    (!privileged && dind).then(|| {
        "runners.config uses Docker-in-Docker (docker:dind) but job pods are not privileged, \
         so dockerd will not start; set runners.privileged=true (or privileged = true in \
         [runners.kubernetes])"
            .to_string()
    })
}

/// Parse the text runnerctl changed (`after` says how); an error here is runnerctl's, and has
/// no place in the user's text.
fn reparse(text: &str, after: &str) -> Result<toml::Table, Error> {
    toml::from_str(text).map_err(|e| Error::Toml {
        line: 0,
        column: 0,
        message: format!("{after}: {}", e.message().trim()),
    })
}

/// Parse the evaluated text; TOML errors point into the user's text.
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

/// Set `key = value` in the table `section` (`kubernetes`, `feature_flags`) of the one
/// `[[runners]]`, creating the table when missing, with a document editor: everything else of
/// the text stays as written. The new line is indented like its neighbours. `Err` names what
/// stood in the way.
fn set_in_runner(
    text: &str,
    section: &str,
    key: &str,
    value: toml_edit::Value,
) -> Result<String, String> {
    use toml_edit::{DocumentMut, Item, Table, Value};

    let mut doc: DocumentMut = text
        .parse()
        .map_err(|e: toml_edit::TomlError| e.message().trim().to_string())?;
    let runner = toml_text::runner_mut(&mut doc).ok_or("no [[runners]] table")?;
    let runner_indent = line_indent(runner.decor().prefix().and_then(|p| p.as_str()));
    match runner.get_mut(section) {
        None => {
            let mut table = Table::new();
            table.decor_mut().set_prefix(format!("{runner_indent}  "));
            table.insert(key, Item::Value(value));
            set_key_indent(&mut table, key, &format!("{runner_indent}    "));
            runner.insert(section, Item::Table(table));
        }
        Some(Item::Table(table)) => {
            if table.is_implicit() && !table.is_dotted() {
                // Only sub-tables were written (`[runners.kubernetes.volumes]`): the header
                // appears now, before them.
                table.set_implicit(false);
                table.decor_mut().set_prefix(format!("{runner_indent}  "));
            }
            let indent = key_indent(table);
            table.insert(key, Item::Value(value));
            if !table.is_dotted() {
                set_key_indent(table, key, &indent);
            }
        }
        Some(Item::Value(Value::InlineTable(table))) => {
            // The space before `}` moves from the last value to the new one.
            let trailing = table.iter_mut().last().map(|(_, v)| {
                let suffix = v.decor().suffix().and_then(|s| s.as_str()).unwrap_or("");
                let suffix = suffix.to_string();
                v.decor_mut().set_suffix("");
                suffix
            });
            table.insert(key, value);
            if let (Some(suffix), Some(v)) = (trailing, table.get_mut(key)) {
                v.decor_mut().set_suffix(suffix);
            }
        }
        Some(_) => return Err(format!("runners.{section} is not a table")),
    }
    Ok(doc.to_string())
}

/// Where the known keys come from: GitLab Runner's Go module at the pinned version, and the
/// command that regenerates `src/render/runner_keys.json` from it.
pub const KNOWN_KEYS_SOURCE: &str = "the toml tags of GitLab Runner's config structs \
     (module gitlab.com/gitlab-org/gitlab-runner, pinned in xtask/src/runner_keys.rs); \
     regenerate with `cargo xtask runner-keys`";

/// GitLab Runner's keys, from `runner_keys.json` (turned into static tables by the build
/// script: nothing is parsed at run time).
struct KnownKeys {
    /// `module@version` the keys were read from.
    module: &'static str,
    /// Section path (`runners.kubernetes`) and its keys, sorted by path.
    sections: &'static [(&'static str, Section)],
}

/// One section of the runner's config.
#[derive(Debug)]
struct Section {
    /// An array of tables (`[[runners.kubernetes.services]]`).
    array: bool,
    /// Key and what it holds (`value`, `table`, `array` (of tables) or `free`: any keys below),
    /// sorted by key.
    keys: &'static [(&'static str, &'static str)],
}

include!(concat!(env!("OUT_DIR"), "/runner_keys.rs"));

fn known_keys() -> &'static KnownKeys {
    static KEYS: KnownKeys = KnownKeys {
        module: KNOWN_MODULE,
        sections: KNOWN_SECTIONS,
    };
    &KEYS
}

impl KnownKeys {
    /// How `section` is written in TOML: `[[runners]]`, `[runners.kubernetes]`.
    fn section(&self, name: &str) -> Option<&'static Section> {
        let i = self.sections.binary_search_by_key(&name, |(n, _)| n).ok()?;
        Some(&self.sections[i].1)
    }

    fn display(&self, section: &str) -> String {
        if section.is_empty() {
            return "the top level".to_string();
        }
        match self.section(section) {
            Some(s) if s.array => format!("[[{section}]]"),
            _ => format!("[{section}]"),
        }
    }

    /// The known key of `section` that `key` names: exactly, else ignoring ASCII case (the
    /// runner's decoder matches names case-insensitively). The top level knows `runners`.
    /// What `key` of `section` is to the key checks.
    fn classify(&self, section: &str, key: &str) -> Known<'_> {
        match self.lookup(section, key) {
            None => Known::Unknown,
            Some((name, "table" | "array")) => Known::Section(name),
            Some(_) => Known::Value,
        }
    }

    fn lookup(&self, section: &str, key: &str) -> Option<(&str, &str)> {
        if section.is_empty() {
            return (key == "runners").then_some(("runners", "array"));
        }
        let keys = self.section(section)?.keys;
        let exact = keys.binary_search_by_key(&key, |(k, _)| k).ok();
        exact.map(|i| keys[i]).or_else(|| {
            keys.iter()
                .copied()
                .find(|(k, _)| k.eq_ignore_ascii_case(key))
        })
    }

    /// The key of `section` nearest to `key` by edit distance, when near enough to be a typo.
    fn nearest(&self, section: &str, key: &str) -> Option<&str> {
        let keys: Vec<&str> = if section.is_empty() {
            vec!["runners"]
        } else {
            self.section(section)?
                .keys
                .iter()
                .map(|(k, _)| *k)
                .collect()
        };
        let wanted = key.to_ascii_lowercase();
        let limit = (wanted.chars().count() / 4).clamp(1, 3);
        keys.into_iter()
            .map(|k| (levenshtein(&wanted, &k.to_ascii_lowercase()), k))
            .filter(|(d, _)| *d <= limit)
            .min()
            .map(|(_, k)| k)
    }

    /// The sections (as written in TOML) where `key` is known, shallowest first.
    fn sections_with(&self, key: &str) -> Vec<String> {
        let mut found: Vec<&str> = self
            .sections
            .iter()
            .filter(|(_, s)| s.keys.iter().any(|(k, _)| k.eq_ignore_ascii_case(key)))
            .map(|(name, _)| *name)
            .collect();
        found.sort_by_key(|name| (name.matches('.').count(), *name));
        found.into_iter().map(|name| self.display(name)).collect()
    }
}

/// Edit distance (insertions, deletions, substitutions) between two strings.
fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let next = (diagonal + usize::from(ca != *cb))
                .min(row[j] + 1)
                .min(row[j + 1] + 1);
            diagonal = row[j + 1];
            row[j + 1] = next;
        }
    }
    row[b.len()]
}

/// Longest key shown in a message, in characters (a longer one is cut with `...`).
const MAX_KEY_SHOWN: usize = 64;

/// One message per key GitLab Runner does not know, in the order of the text.
fn unknown_keys(evaluated: &Evaluated, doc: &toml_edit::Document<&str>) -> Vec<String> {
    let mut found = Vec::new();
    walk_table(known_keys(), doc.as_table(), "", &mut found);
    found.sort_by_key(|(offset, _)| *offset);
    found
        .into_iter()
        .map(|(offset, message)| {
            let (line, column) = evaluated.source_position(offset);
            format!("{KEY}:{line}:{column}: {message}")
        })
        .collect()
}

/// A table's entries: (key as written, its span start, the item).
fn entries(table: &dyn toml_edit::TableLike) -> Vec<(&str, Option<usize>, &toml_edit::Item)> {
    table
        .iter()
        .map(|(k, item)| {
            let span = table
                .key(k)
                .and_then(|key| key.span())
                .or_else(|| item.span())
                .map(|s| s.start);
            (k, span, item)
        })
        .collect()
}

/// What a key of a section is to the key checks.
enum Known<'k> {
    /// GitLab Runner does not know it.
    Unknown,
    /// A value, or a map or type that takes any keys.
    Value,
    /// A table, or an array of tables, whose keys are checked as the section of this name.
    Section(&'k str),
}

/// Checks the keys of `table`, the section `section` (`""` for the top level), and below.
fn walk_table(
    known: &KnownKeys,
    table: &dyn toml_edit::TableLike,
    section: &str,
    found: &mut Vec<(usize, String)>,
) {
    for (key, span, item) in entries(table) {
        match known.classify(section, key) {
            Known::Unknown => found.push((span.unwrap_or(0), unknown_message(known, section, key))),
            Known::Value => {}
            Known::Section(name) => {
                let child = if section.is_empty() {
                    name.to_string()
                } else {
                    format!("{section}.{name}")
                };
                walk_item(known, item, &child, found);
            }
        }
    }
}

/// Whether a parsed config has a key [`unknown_keys`] would report (the same walk, without
/// the positions it needs a document for).
fn has_unknown_keys(table: &toml::Table) -> bool {
    fn table_has(known: &KnownKeys, table: &toml::Table, section: &mut String) -> bool {
        table.iter().any(|(key, value)| {
            let name = match known.classify(section, key) {
                Known::Unknown => return true,
                Known::Value => return false,
                Known::Section(name) => name,
            };
            let len = section.len();
            if !section.is_empty() {
                section.push('.');
            }
            section.push_str(name);
            let found = match value {
                toml::Value::Table(t) => table_has(known, t, section),
                toml::Value::Array(items) => items
                    .iter()
                    .filter_map(toml::Value::as_table)
                    .any(|t| table_has(known, t, section)),
                _ => false,
            };
            section.truncate(len);
            found
        })
    }
    table_has(known_keys(), table, &mut String::new())
}

/// Checks a table, an inline table or an array of them, the section `section`.
fn walk_item(
    known: &KnownKeys,
    item: &toml_edit::Item,
    section: &str,
    found: &mut Vec<(usize, String)>,
) {
    match item {
        toml_edit::Item::ArrayOfTables(tables) => {
            for t in tables.iter() {
                walk_table(known, t, section, found);
            }
        }
        toml_edit::Item::Value(toml_edit::Value::Array(values)) => {
            for v in values.iter() {
                if let Some(t) = v.as_inline_table() {
                    walk_table(known, t, section, found);
                }
            }
        }
        other => {
            if let Some(t) = other.as_table_like() {
                walk_table(known, t, section, found);
            }
        }
    }
}

/// `unknown key "k" in [section]; GitLab Runner ignores it. Did you mean "x"? "k" is a key
/// of [[runners]]`.
fn unknown_message(known: &KnownKeys, section: &str, key: &str) -> String {
    let shown: String = if key.chars().count() > MAX_KEY_SHOWN {
        key.chars()
            .take(MAX_KEY_SHOWN)
            .chain("...".chars())
            .collect()
    } else {
        key.to_string()
    };
    let mut message = if section.is_empty() {
        format!(
            "key {shown:?} at the top level is ignored: GitLab Runner takes only the \
             [[runners]] entry from runners.config (global settings such as concurrent \
             come from the values)."
        )
    } else {
        format!(
            "unknown key {shown:?} in {}; GitLab Runner ignores it.",
            known.display(section)
        )
    };
    if let Some(near) = known.nearest(section, key) {
        message.push_str(&format!(" Did you mean {near:?}?"));
    }
    let elsewhere = known.sections_with(key);
    if !elsewhere.is_empty() {
        let mut list = elsewhere
            .iter()
            .take(3)
            .cloned()
            .collect::<Vec<_>>()
            .join(", ");
        if elsewhere.len() > 3 {
            list.push_str(&format!(" and {} more", elsewhere.len() - 3));
        }
        message.push_str(&format!(" {shown:?} is a key of {list}"));
    }
    message.trim_end_matches('.').to_string()
}

/// The GitLab Runner module version (`module@version`) the known keys were read from.
pub fn known_keys_module() -> &'static str {
    known_keys().module
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The quick check on the table finds an unknown key exactly when the walk of the
    /// document does: at every depth, in tables, arrays of tables, inline tables and arrays
    /// of them, dotted keys, and keys matched ignoring case.
    #[test]
    fn the_table_check_agrees_with_the_document_walk() {
        let texts = [
            EMPTY_CONFIG,
            "[[runners]]\n  name = \"a\"\n  [runners.kubernetes]\n    privileged = true\n",
            "[[runners]]\n  nmae = \"a\"\n",
            "concurrent = 4\n[[runners]]\n",
            "[[runners]]\n[runners.kubernetes]\nprivilegd = true\n",
            "[[runners]]\n[runners.kubernetes]\nPrivileged = true\n",
            "[[runners]]\nkubernetes = { privileged = true, imagee = \"x\" }\n",
            "[[runners]]\nkubernetes.privileged = true\nkubernetes.bogus.deep = 1\n",
            "[[runners]]\n[runners.kubernetes]\nvolumes = { empty_dir = [{ name = \"e\", mount_path = \"/e\" }] }\n",
            "[[runners]]\n[runners.kubernetes]\nvolumes = { empty_dir = [{ name = \"e\", mount_pth = \"/e\" }] }\n",
            "[[runners]]\n[[runners.kubernetes.volumes.host_path]]\nname = \"d\"\nmount_path = \"/d\"\n",
            "[[runners]]\n[[runners.kubernetes.volumes.host_path]]\nname = \"d\"\nhost_pth = \"/d\"\n",
            "[[runners]]\n[runners.kubernetes.node_selector]\n\"any/key\" = \"v\"\n",
            "[[runners]]\nenvironment = [\"A=1\"]\n[runners.cache]\nType = \"s3\"\n[runners.cache.s3]\nServerAddress = \"s3\"\n",
            "[[runners]]\n[runners.cache.s3]\nServerAdress = \"s3\"\n",
            "[[runners]]\nkubernetes = 5\n[[runners]]\nname = \"two\"\nbad = 1\n",
            "[[runners]]\n[runners.kubernetes]\nservices = [{ name = \"docker:dind\" }, { nme = \"x\" }]\n",
        ];
        let mut both = [0, 0];
        for text in texts {
            let doc = toml_edit::Document::parse(text).unwrap();
            let table: toml::Table = toml::from_str(text).unwrap();
            let values = serde_json::json!({});
            let evaluated =
                gotmpl::evaluate(KEY, text, &crate::render::gotmpl::scope(&values)).unwrap();
            let walk = !unknown_keys(&evaluated, &doc).is_empty();
            assert_eq!(has_unknown_keys(&table), walk, "{text}");
            both[usize::from(walk)] += 1;
        }
        assert!(both[0] >= 5 && both[1] >= 5, "{both:?}");
    }
    use crate::render::gotmpl::scope;
    use serde_json::json;

    /// [`process`] for a config of one runner, as the tests below take it: that runner, with
    /// the config's warnings before its own.
    fn process_one(
        src: &str,
        scope: &Scope<'_>,
        privileged: bool,
        mode: Option<BuildMode>,
        strict: bool,
    ) -> Result<RunnerConfig, Error> {
        let options = Options {
            privileged,
            mode,
            strict,
            ..Options::default()
        };
        let Processed {
            mut runners,
            mut warnings,
        } = process(src, scope, &options)?;
        assert_eq!(runners.len(), 1, "one runner");
        let mut runner = runners.remove(0);
        warnings.append(&mut runner.warnings);
        runner.warnings = warnings;
        Ok(runner)
    }

    #[test]
    fn toml_errors_point_into_the_users_text() {
        let values = json!({});
        let src = "[[runners]]\n  name = \"{{ .Release.Namespace }}-long-name\"\n  bad = = 1\n";
        let err = process_one(src, &scope(&values), false, None, false).unwrap_err();
        match err {
            Error::Toml { line, column, .. } => assert_eq!((line, column), (3, 9)),
            other => panic!("{other}"),
        }
    }

    /// `runners.config` processed with `runners.privileged: true`; the text, after checking
    /// that it parses with `privileged = true` in `[runners.kubernetes]`.
    fn privileged_text(src: &str) -> String {
        let values = json!({});
        let cfg = process_one(src, &scope(&values), true, None, false).unwrap();
        assert!(cfg.privileged);
        let parsed: toml::Table = toml::from_str(&cfg.text).unwrap();
        assert_eq!(
            parsed["runners"][0]["kubernetes"]["privileged"].as_bool(),
            Some(true),
            "{}",
            cfg.text
        );
        cfg.text
    }

    #[test]
    fn privileged_is_added_or_conflicts() {
        let values = json!({});
        privileged_text("[[runners]]\n  [runners.kubernetes]\n    image = \"alpine\"\n");
        privileged_text("[[runners]]\n  name = \"x\"\n");
        let conflict = "[[runners]]\n  [runners.kubernetes]\n    privileged = false\n";
        assert_eq!(
            process_one(conflict, &scope(&values), true, None, false).unwrap_err(),
            Error::PrivilegedConflict
        );
    }

    #[test]
    fn several_runners_are_processed_one_by_one_in_texts_of_their_own() {
        let src = "# two\n[[runners]]\n  name = \"a\" # first\n[[runners]]\n  name = \"b\"\n  [runners.kubernetes]\n    namespace = \"elsewhere\"\n";
        let options = Options {
            privileged: true,
            disable_token_rotation: true,
            job_namespace: "jobs".into(),
            ..Options::default()
        };
        let done = process(src, &scope(&json!({})), &options).unwrap();
        let texts: Vec<&str> = done.runners.iter().map(|r| r.text.as_str()).collect();
        assert_eq!(
            texts,
            [
                "# two\n[[runners]]\n  name = \"a\" # first\n  [runners.kubernetes]\n    privileged = true\n    namespace = \"jobs\"\n  [runners.feature_flags]\n    FF_DISABLE_AUTOMATIC_TOKEN_ROTATION = true\n",
                "[[runners]]\n  name = \"b\"\n  [runners.kubernetes]\n    namespace = \"elsewhere\"\n    privileged = true\n  [runners.feature_flags]\n    FF_DISABLE_AUTOMATIC_TOKEN_ROTATION = true\n",
            ]
        );
        let names: Vec<_> = done.runners.iter().map(|r| r.name.as_deref()).collect();
        assert_eq!(names, [Some("a"), Some("b")]);
        assert_eq!(done.runners[1].namespace.as_deref(), Some("elsewhere"));
    }

    #[test]
    fn the_rotation_flag_of_the_config_wins_with_a_warning() {
        let options = Options {
            disable_token_rotation: true,
            ..Options::default()
        };
        let src = "[[runners]]\n  [runners.feature_flags]\n    FF_DISABLE_AUTOMATIC_TOKEN_ROTATION = false\n";
        let done = process(src, &scope(&json!({})), &options).unwrap();
        assert_eq!(done.runners[0].text, src);
        assert!(done.runners[0].warnings[0].contains("wins over runnerctl.tokenRotation"));
        let set = src.replace("false", "true");
        let done = process(&set, &scope(&json!({})), &options).unwrap();
        assert_eq!(
            (
                done.runners[0].text.as_str(),
                done.runners[0].warnings.len()
            ),
            (set.as_str(), 0)
        );
        // Without the option the config is left alone.
        let plain = "[[runners]]\n";
        let done = process(plain, &scope(&json!({})), &Options::default()).unwrap();
        assert_eq!(done.runners[0].text, plain);
    }

    #[test]
    fn counts_runners_and_warns_on_dind() {
        let values = json!({});
        assert_eq!(
            process_one("concurrent = 1\n", &scope(&values), false, None, false).unwrap_err(),
            Error::RunnerCount { found: 0 }
        );
        let dind = "[[runners]]\n  [runners.kubernetes]\n  [[runners.kubernetes.services]]\n    name = \"docker:dind\"\n";
        let cfg = process_one(dind, &scope(&values), false, None, false).unwrap();
        assert_eq!(cfg.warnings.len(), 1);
        assert!(cfg.warnings[0].contains("runners.privileged=true"));
        assert!(
            process_one(dind, &scope(&values), true, None, false)
                .unwrap()
                .warnings
                .is_empty()
        );
    }

    /// The warnings about unknown keys for `src` (evaluated with empty values).
    fn key_warnings(src: &str) -> Vec<String> {
        let cfg = process_one(src, &scope(&json!({})), false, None, false).unwrap();
        cfg.warnings
    }

    #[test]
    fn keys_in_the_wrong_section_or_misspelt_are_named() {
        // `environment` and `tls_verify` under [runners.kubernetes] are both seen in public
        // values files: they belong to [[runners]] and [runners.docker].
        let cases: &[(&str, &[&str])] = &[
            (
                "[[runners]]\n  [runners.kubernetes]\n    image = \"alpine\"\n    environment = [\"A=1\"]\n    tls_verify = false\n",
                &[
                    "runners.config:4:5: unknown key \"environment\" in [runners.kubernetes]; GitLab \
                     Runner ignores it. \"environment\" is a key of [[runners]], \
                     [[runners.docker.services]], [[runners.kubernetes.services]]",
                    "runners.config:5:5: unknown key \"tls_verify\" in [runners.kubernetes]; GitLab \
                     Runner ignores it. \"tls_verify\" is a key of [runners.docker]",
                ],
            ),
            (
                "[[runners]]\n  [runners.kubernetes]\n    pull_polcy = \"always\"\n",
                &[
                    "runners.config:3:5: unknown key \"pull_polcy\" in [runners.kubernetes]; GitLab \
                   Runner ignores it. Did you mean \"pull_policy\"?",
                ],
            ),
        ];
        for (src, want) in cases {
            assert_eq!(key_warnings(src), *want);
        }
    }

    /// The warnings for `src` start with the given prefixes, one each, in order.
    fn assert_warning_starts(src: &str, prefixes: &[&str]) -> Vec<String> {
        let w = key_warnings(src);
        assert_eq!(w.len(), prefixes.len(), "{w:#?}");
        for (got, want) in w.iter().zip(prefixes) {
            assert!(got.starts_with(want), "{got}\ndoes not start with\n{want}");
        }
        w
    }

    #[test]
    fn keys_in_arrays_dotted_keys_and_inline_tables_are_checked() {
        let w = assert_warning_starts(
            "[[runners]]\n  cache.s3.BucketNme = \"b\"\n  [runners.kubernetes]\n    pod_security_context = { run_as_usr = 1 }\n  [[runners.kubernetes.services]]\n    nme = \"postgres\"\n",
            &[
                "runners.config:2:12: unknown key \"BucketNme\" in [runners.cache.s3]",
                "runners.config:4:30: unknown key \"run_as_usr\" in [runners.kubernetes.pod_security_context]",
                "runners.config:6:5: unknown key \"nme\" in [[runners.kubernetes.services]]",
            ],
        );
        assert!(w[0].ends_with("Did you mean \"BucketName\"?"), "{}", w[0]);
    }

    #[test]
    fn positions_are_in_the_users_text_and_top_level_keys_are_reported() {
        let w = assert_warning_starts(
            "concurrent = 4\n[[runners]]\n  name = \"{{ .Release.Namespace }}-a-long-name\"\n  envirnment = [\"A=1\"]\n",
            &[
                "runners.config:1:1: key \"concurrent\" at the top level is ignored",
                "runners.config:4:3: unknown key \"envirnment\" in [[runners]]; GitLab Runner \
                 ignores it. Did you mean \"environment\"?",
            ],
        );
        assert_eq!(w.len(), 2);
    }

    #[test]
    fn a_correct_full_config_gives_no_warning() {
        let src = r#"
[[runners]]
  name = "k8s"
  environment = ["GIT_DEPTH=10"]
  pre_build_script = "echo hi"
  output_limit = 8192
  Executor = "kubernetes" # the runner matches names case-insensitively
  [runners.feature_flags]
    FF_USE_FASTZIP = true
    FF_ANY_NEW_FLAG_AT_ALL = false
  [runners.cache]
    Type = "s3"
    Shared = true
    [runners.cache.s3]
      ServerAddress = "minio:9000"
      BucketName = "cache"
      Insecure = true
    [runners.cache.gcs]
      BucketName = "g"
      CredentialsFile = "/secrets/gcs.json"
    [runners.cache.azure]
      ContainerName = "c"
  [runners.kubernetes]
    namespace = "ci"
    image = "alpine"
    privileged = true
    pull_policy = ["always", "if-not-present"]
    cpu_request = "100m"
    memory_limit = "1Gi"
    service_account = "runner"
    poll_timeout = 600
    [runners.kubernetes.node_selector]
      "kubernetes.io/os" = "linux"
    [runners.kubernetes.pod_labels]
      anything = "goes"
    [runners.kubernetes.pod_security_context]
      run_as_non_root = true
      run_as_user = 1000
      fs_group = 1000
    [runners.kubernetes.build_container_security_context.capabilities]
      drop = ["ALL"]
    [[runners.kubernetes.volumes.empty_dir]]
      name = "docker-certs"
      mount_path = "/certs/client"
      medium = "Memory"
    [[runners.kubernetes.volumes.host_path]]
      name = "h"
      mount_path = "/h"
      host_path = "/h"
    [[runners.kubernetes.services]]
      name = "docker:dind"
      alias = "docker"
    [runners.kubernetes.affinity.node_affinity.required_during_scheduling_ignored_during_execution]
      [[runners.kubernetes.affinity.node_affinity.required_during_scheduling_ignored_during_execution.node_selector_terms]]
        [[runners.kubernetes.affinity.node_affinity.required_during_scheduling_ignored_during_execution.node_selector_terms.match_expressions]]
          key = "pool"
          operator = "In"
          values = ["ci"]
    [[runners.kubernetes.pod_spec]]
      name = "p"
      patch_type = "strategic"
      patch = "x"
    [runners.kubernetes.dns_config]
      nameservers = ["1.1.1.1"]
      options = [{ name = "ndots", value = "2" }]
"#;
        assert_eq!(key_warnings(src), Vec::<String>::new());
    }

    #[test]
    fn strict_makes_unknown_keys_an_error() {
        let src = "[[runners]]\n  [runners.kubernetes]\n    tls_verify = false\n";
        let err = process_one(src, &scope(&json!({})), false, None, true).unwrap_err();
        let Error::UnknownKeys(keys) = &err else {
            panic!("{err}")
        };
        assert_eq!(keys.len(), 1);
        assert!(err.to_string().starts_with(
            "runners.config has keys GitLab Runner ignores (strict mode; remove or fix them):\n  \
             runners.config:3:5: unknown key \"tls_verify\""
        ));
        // A clean config passes strict.
        assert!(
            process_one(
                "[[runners]]\n  name = \"a\"\n",
                &scope(&json!({})),
                false,
                None,
                true
            )
            .is_ok()
        );
    }

    #[test]
    fn the_table_names_its_runner_module_and_holds_the_sections_we_rely_on() {
        assert!(known_keys_module().starts_with("gitlab.com/gitlab-org/gitlab-runner@"));
        let known = known_keys();
        for (section, key) in [
            ("runners", "environment"),
            ("runners.kubernetes", "privileged"),
            ("runners.kubernetes.pod_security_context", "run_as_user"),
            ("runners.kubernetes.volumes.empty_dir", "medium"),
            ("runners.kubernetes.services", "alias"),
            ("runners.cache.s3", "BucketName"),
            ("runners.cache.gcs", "AccessID"),
            ("runners.cache.azure", "AccountName"),
            (
                "runners.kubernetes.affinity.node_affinity",
                "required_during_scheduling_ignored_during_execution",
            ),
        ] {
            assert!(known.lookup(section, key).is_some(), "{section} {key}");
        }
        assert_eq!(
            known.lookup("runners", "feature_flags"),
            Some(("feature_flags", "free"))
        );
        assert!(known.section("runners.kubernetes.services").unwrap().array);
        assert_eq!(
            known.display("runners.kubernetes.volumes.empty_dir"),
            "[[runners.kubernetes.volumes.empty_dir]]"
        );
    }

    #[test]
    fn privileged_is_set_with_the_document_editor() {
        let values = json!({});
        // A multi-line string holding a `[runners.kubernetes]` line: the line-matching editor
        // inserted inside it.
        let src = "[[runners]]\n  # the runner\n  pre_build_script = \"\"\"\n[runners.kubernetes]\necho\n\"\"\"\n  [runners.kubernetes]\n    # job pods\n    image = \"alpine\" # default image\n\n  # caches\n  [runners.cache]\n    Type = \"s3\"\n";
        let cfg = process_one(src, &scope(&values), true, None, false).unwrap();
        assert_eq!(
            cfg.text,
            "[[runners]]\n  # the runner\n  pre_build_script = \"\"\"\n[runners.kubernetes]\necho\n\"\"\"\n  [runners.kubernetes]\n    # job pods\n    image = \"alpine\" # default image\n    privileged = true\n\n  # caches\n  [runners.cache]\n    Type = \"s3\"\n"
        );
        let parsed: toml::Table = toml::from_str(&cfg.text).unwrap();
        assert_eq!(
            parsed["runners"][0]["pre_build_script"].as_str(),
            Some("[runners.kubernetes]\necho\n")
        );

        // No table: one is created after the runner's keys, indented like the default config.
        assert_eq!(
            privileged_text("[[runners]]\n  name = \"x\" # me\n"),
            "[[runners]]\n  name = \"x\" # me\n  [runners.kubernetes]\n    privileged = true\n"
        );

        // Only a sub-table was written: the header appears, before it.
        let src = "[[runners]]\n  [[runners.kubernetes.services]]\n    name = \"docker:dind\"\n";
        assert_eq!(
            privileged_text(src),
            "[[runners]]\n  [runners.kubernetes]\n    privileged = true\n  \
             [[runners.kubernetes.services]]\n    name = \"docker:dind\"\n"
        );

        // Inline and dotted tables keep their form.
        assert_eq!(
            privileged_text("[[runners]]\n  kubernetes = { image = \"a\" }\n"),
            "[[runners]]\n  kubernetes = { image = \"a\", privileged = true }\n"
        );
        let text = privileged_text("[[runners]]\n  kubernetes.image = \"a\"\n");
        assert!(text.contains("kubernetes.privileged = true"), "{text}");
    }

    #[test]
    fn template_errors_name_runners_config() {
        let err = process_one(
            "[[runners]]\n  x = {{ nope }}\n",
            &scope(&json!({})),
            false,
            None,
            false,
        )
        .unwrap_err();
        assert!(
            err.to_string()
                .starts_with("runners.config:2:7: unsupported template expression"),
            "{err}"
        );
    }
}
