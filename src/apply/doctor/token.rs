//! `token`: the kind of token and what goes with it. A `glrt-` runner authentication token
//! with registration-only values (GitLab Runner refuses them at registration: `FATAL: Runner
//! configuration other than name and executor configuration is reserved ... and cannot be
//! specified when registering with a runner authentication token`); whitespace around a
//! token (`net/http: invalid header field value`); a legacy registration token (deprecated by
//! GitLab). The token comes from the values, else from the Secret `runners.secret` names.
use serde_json::Value;

use super::{Check, Status, str_value};
use crate::apply::Engine;
use crate::render::Release;
use crate::secret::secret_text;

/// Values GitLab keeps on the runner once it has a `glrt-` token: registration refuses them.
pub(super) const REGISTRATION_ONLY: &[(&str, &str)] = &[
    ("/runners/tags", "runners.tags"),
    ("/runners/locked", "runners.locked"),
    ("/runners/runUntagged", "runners.runUntagged"),
    ("/runners/protected", "runners.protected"),
    ("/runners/maximumTimeout", "runners.maximumTimeout"),
];

/// The runner's token as doctor found it. `Debug` never shows the value.
#[derive(Clone, Default)]
pub struct Tokens {
    /// The value as written (whitespace included).
    raw: Option<String>,
    /// Where it was found: a values key or `Secret ns/name key k`.
    pub from: String,
    /// It is a registration token (`runnerRegistrationToken`, `runner-registration-token`).
    pub registration: bool,
    /// It was read from an existing Secret (runnerctl does not trim it there).
    pub in_secret: bool,
    /// Why no token could be read (the Secret is missing or unreadable), if so.
    pub unreadable: Option<(Status, String)>,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokens")
            .field("found", &self.raw.is_some())
            .field("from", &self.from)
            .field("registration", &self.registration)
            .finish_non_exhaustive()
    }
}

impl Tokens {
    /// A token found at `from`.
    pub fn found(
        raw: &str,
        from: impl Into<String>,
        registration: bool,
        in_secret: bool,
    ) -> Tokens {
        Tokens {
            raw: Some(raw.to_string()),
            from: from.into(),
            registration,
            in_secret,
            unreadable: None,
        }
    }

    /// The token the runner authenticates with (trimmed), for GitLab's runner API: a
    /// `glrt-` token wherever it was given, or a runner token that is not a registration one.
    pub fn runner(&self) -> Option<&str> {
        let t = self.raw.as_deref()?.trim();
        (!t.is_empty() && (t.starts_with("glrt-") || !self.registration)).then_some(t)
    }

    /// The value as written, to mask it wherever it might show.
    pub(super) fn raw(&self) -> Option<&str> {
        self.raw.as_deref()
    }
}

/// `token`: pure, from the values and the token found.
pub fn check_token(values: &Value, tokens: &Tokens) -> Check {
    const ID: &str = "token";
    let Some(raw) = tokens.raw.as_deref() else {
        return match &tokens.unreadable {
            Some((status, why)) => Check::new(ID, *status, why.clone()).fix(
                "create the Secret runners.secret names, with the key runner-token holding the glrt- token",
            ),
            None => Check::new(ID, Status::Failed, "no runner token is set").fix(
                "set runnerToken to the runner authentication token (glrt-...) created in GitLab",
            ),
        };
    };
    let from = &tokens.from;
    let trimmed = raw.trim();
    if trimmed.len() != raw.len() {
        return if tokens.in_secret {
            Check::new(
                ID,
                Status::Failed,
                format!("{from}: the token has whitespace or a newline around it; the runner fails with `invalid header field value`"),
            )
            .fix("write the Secret without the newline: kubectl create secret generic NAME --from-literal=runner-token=glrt-... (or printf %s instead of echo)")
        } else {
            Check::new(
                ID,
                Status::Warning,
                format!("{from}: whitespace or a newline around the token (runnerctl removes it; the runner would fail with `invalid header field value`)"),
            )
            .fix("remove the newline from the file (printf %s instead of echo) so other tools read the same token")
        };
    }
    if trimmed.starts_with("glrt-") {
        let set: Vec<&str> = REGISTRATION_ONLY
            .iter()
            .filter(|(p, _)| values.pointer(p).is_some_and(|v| !v.is_null()))
            .map(|(_, k)| *k)
            .collect();
        if !set.is_empty() {
            return Check::new(
                ID,
                Status::Warning,
                format!(
                    "{from}: a glrt- runner authentication token, with {} set: GitLab Runner refuses these at registration (`FATAL: ... reserved`); runnerctl leaves them out, so they have no effect",
                    set.join(", ")
                ),
            )
            .fix("remove them from the values and set tags, locking, untagged jobs, protection and timeout on the runner in GitLab (Settings > CI/CD > Runners)");
        }
        return Check::new(
            ID,
            Status::Ok,
            format!("{from}: a glrt- runner authentication token"),
        );
    }
    if tokens.registration {
        return Check::new(
            ID,
            Status::Warning,
            format!("{from}: a legacy registration token; GitLab deprecated them and disables them by default (registration then fails with 410 Gone)"),
        )
        .fix("create the runner in GitLab (Settings > CI/CD > Runners > New runner) and set runnerToken to its glrt- token");
    }
    Check::new(
        ID,
        Status::Warning,
        format!("{from}: not a glrt- runner authentication token (an older authentication token, or a registration token in the wrong key)"),
    )
    .fix("create the runner in GitLab and set runnerToken to its glrt- token")
}

impl Engine {
    /// The token: `runnerToken`, `runnerRegistrationToken`, else the `runners.secret` Secret's
    /// `runner-token` / `runner-registration-token` (GET secret).
    pub(super) async fn tokens(&self, release: &Release) -> Tokens {
        let values = release.values.as_json();
        if let Some(t) = str_value(values, "/runnerToken") {
            return Tokens::found(t, "runnerToken", false, false);
        }
        if let Some(t) = str_value(values, "/runnerRegistrationToken") {
            return Tokens::found(t, "runnerRegistrationToken", true, false);
        }
        let Some(name) = str_value(values, "/runners/secret") else {
            return Tokens::default();
        };
        let ns = str_value(values, "/namespace").unwrap_or(&release.namespace);
        let secret = match self.cluster.resolve("v1", "Secret").await {
            Ok(Some(kind)) => self.cluster.get(&kind, Some(ns), name).await,
            Ok(None) => Ok(None),
            Err(e) => Err(e),
        };
        let unreadable = |status, why: String| Tokens {
            unreadable: Some((status, why)),
            ..Default::default()
        };
        let secret = match secret {
            Ok(Some(s)) => s,
            Ok(None) => {
                return unreadable(
                    Status::Failed,
                    format!(
                        "Secret {ns}/{name} (runners.secret) does not exist: the runner pod cannot start"
                    ),
                );
            }
            Err(e) => {
                return unreadable(
                    Status::Warning,
                    format!(
                        "cannot read Secret {ns}/{name} (runners.secret): {}",
                        super::said(&e)
                    ),
                );
            }
        };
        for (key, registration) in [("runner-token", false), ("runner-registration-token", true)] {
            if let Some(text) = secret_text(&secret, key).filter(|t| !t.trim().is_empty()) {
                return Tokens::found(
                    &text,
                    format!("Secret {ns}/{name} key {key}"),
                    registration,
                    true,
                );
            }
        }
        unreadable(
            Status::Failed,
            format!(
                "Secret {ns}/{name} (runners.secret) has no runner-token nor runner-registration-token"
            ),
        )
    }
}

impl Engine {
    /// `token` for one of several runners: its token is there and is a runner
    /// authentication token (`glrt-`).
    pub(super) async fn check_runner_token(
        &self,
        release: &Release,
        runner: &crate::render::RunnerEntry,
    ) -> Check {
        use crate::render::TokenSource;
        let name = runner.name.as_deref().unwrap_or("?");
        let from = match &runner.token {
            TokenSource::Values { key, .. } => key.clone(),
            TokenSource::Secret { name, key } => format!("Secret {name} key {key}"),
        };
        match self.runner_token(release, &runner.token).await {
            Some(t) if t.starts_with("glrt-") => Check::new(
                "token",
                Status::Ok,
                format!("runner {name}: a runner authentication token (glrt-) from {from}"),
            ),
            Some(t) if !t.is_empty() => Check::new(
                "token",
                Status::Failed,
                format!("runner {name}: {from} is not a runner authentication token (glrt-)"),
            )
            .fix("create the runner in GitLab (Settings > CI/CD > Runners > New runner) and use its glrt- token"),
            _ => Check::new(
                "token",
                Status::Failed,
                format!("runner {name}: no token in {from}"),
            )
            .fix(format!("set runnerctl.runnerTokens.{name}, or the key runner-token-{name} in the Secret runners.secret names")),
        }
    }

    /// One runner's token, from the values or the Secret its source names (`None` when it
    /// cannot be read).
    pub(super) async fn runner_token(
        &self,
        release: &Release,
        source: &crate::render::TokenSource,
    ) -> Option<String> {
        use crate::render::TokenSource;
        let values = release.values.as_json();
        let ns = str_value(values, "/namespace").unwrap_or(&release.namespace);
        let (name, key) = match source {
            TokenSource::Values {
                key, secret_key, ..
            } => {
                let runner = secret_key.strip_prefix("runner-token-");
                let at = match (key.as_str(), runner) {
                    ("runnerToken", _) => values.get("runnerToken"),
                    ("runnerRegistrationToken", _) => values.get("runnerRegistrationToken"),
                    (_, Some(n)) => values
                        .pointer("/runnerctl/runnerTokens")
                        .and_then(|m| m.get(n)),
                    _ => None,
                };
                return at
                    .and_then(serde_json::Value::as_str)
                    .map(|t| t.trim().to_string());
            }
            TokenSource::Secret { name, key } => (name, key),
        };
        let kind = self.cluster.resolve("v1", "Secret").await.ok()??;
        let secret = self.cluster.get(&kind, Some(ns), name).await.ok()??;
        secret_text(&secret, key).map(|t| t.trim().to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const TOKEN: &str = "glrt-unit-SECRET-0123";

    fn check(values: Value, t: Tokens) -> Check {
        let c = check_token(&values, &t);
        assert!(!format!("{c:?}").contains("SECRET"), "{c:?}");
        assert!(!format!("{t:?}").contains("SECRET"), "{t:?}");
        c
    }

    #[test]
    fn a_glrt_token_alone_is_ok() {
        let c = check(json!({}), Tokens::found(TOKEN, "runnerToken", false, false));
        assert_eq!(c.status, Status::Ok, "{c:?}");
        assert_eq!(
            Tokens::found(TOKEN, "x", false, false).runner(),
            Some(TOKEN)
        );
    }

    #[test]
    fn registration_only_values_with_a_glrt_token_warn() {
        let values = json!({"runners": {"tags": "docker", "runUntagged": true, "locked": null}});
        let c = check(values, Tokens::found(TOKEN, "runnerToken", false, false));
        assert_eq!(c.status, Status::Warning, "{c:?}");
        assert!(
            c.summary.contains("runners.tags, runners.runUntagged"),
            "{c:?}"
        );
        assert!(!c.summary.contains("locked"), "{c:?}");
        assert!(c.fix.unwrap().contains("in GitLab"));
    }

    #[test]
    fn a_newline_fails_in_a_secret_and_warns_in_the_values() {
        let raw = format!("{TOKEN}\n");
        let c = check(
            json!({}),
            Tokens::found(&raw, "Secret ci/t key runner-token", false, true),
        );
        assert_eq!(c.status, Status::Failed, "{c:?}");
        assert!(c.summary.contains("invalid header field value"), "{c:?}");
        let c = check(json!({}), Tokens::found(&raw, "runnerToken", false, false));
        assert_eq!(c.status, Status::Warning, "{c:?}");
        assert_eq!(Tokens::found(&raw, "x", false, true).runner(), Some(TOKEN));
    }

    #[test]
    fn a_registration_token_is_deprecated_and_not_verified() {
        let t = Tokens::found(
            "GR1348941-SECRET-abc",
            "runnerRegistrationToken",
            true,
            false,
        );
        let c = check(json!({}), t.clone());
        assert_eq!(c.status, Status::Warning, "{c:?}");
        assert!(c.summary.contains("legacy registration token"), "{c:?}");
        assert_eq!(t.runner(), None);
    }

    #[test]
    fn no_token_fails() {
        let c = check(json!({}), Tokens::default());
        assert_eq!(c.status, Status::Failed, "{c:?}");
        let t = Tokens {
            unreadable: Some((
                Status::Failed,
                "Secret ci/x (runners.secret) does not exist".into(),
            )),
            ..Default::default()
        };
        let c = check(json!({}), t);
        assert_eq!(c.status, Status::Failed);
        assert!(c.summary.contains("does not exist"), "{c:?}");
    }
}
