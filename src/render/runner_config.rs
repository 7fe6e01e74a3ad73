//! `runners.config`: evaluated (see [`gotmpl`] for the expressions), parsed as TOML with errors
//! at line:column of the user's text, checked for exactly one `[[runners]]`, with
//! `privileged = true` added when `runners.privileged` asks for it and a Docker-in-Docker check.
use super::gotmpl::{self, Evaluated, Scope};

/// The value this module reads, as errors name it.
pub const KEY: &str = "runners.config";

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
    let evaluated = gotmpl::evaluate(KEY, source, scope)?;
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
    let privileged = decide_privileged(&mut text, want_privileged, configured)?;
    let sets_namespace = kubernetes.is_some_and(|k| k.contains_key("namespace"));
    let namespace = kubernetes
        .and_then(|k| k.get("namespace"))
        .and_then(|n| n.as_str())
        .filter(|n| !n.is_empty())
        .map(str::to_string);
    let warnings = dind_warning(&text, privileged).into_iter().collect();
    Ok(RunnerConfig {
        text,
        privileged,
        sets_namespace,
        namespace,
        warnings,
    })
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
            *text = insert_privileged(text);
            // The inserted line must leave valid TOML that now says privileged = true.
            let check: toml::Table = toml::from_str(text).map_err(|e| Error::Toml {
                line: 0,
                column: 0,
                message: format!("could not add privileged = true: {}", e.message()),
            })?;
            debug_assert!(check.contains_key("runners"));
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
    use crate::render::gotmpl::scope;
    use serde_json::json;

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

    #[test]
    fn template_errors_name_runners_config() {
        let err =
            process("[[runners]]\n  x = {{ nope }}\n", &scope(&json!({})), false).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("runners.config:2:7: unsupported template expression"),
            "{err}"
        );
    }
}
