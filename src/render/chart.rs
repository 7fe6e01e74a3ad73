//! [`Chart`], the template variable `chart`: what the templates see besides `Values` and
//! `Release`, in small named parts (names and labels, image, service account, tokens, jobs and
//! Pod Security, RBAC rules, session server, monitors, the pod's lifecycle).
use serde::Serialize;
use std::sync::OnceLock;

use serde_json::{Map, Value, json};

use super::build_mode::{self, BuildMode};
use super::gotmpl::{self, Scope};
use super::job_pod::{self, JobPod};
use super::lifecycle::{self, Lifecycle};
use super::pod_security::Level;
use super::runner_config::{self, RunnerConfig};
use super::{Error, Release, names};
use crate::values::path::lookup;

/// The image tag when `image.tag` is unset: the runner version the chart ships.
pub const DEFAULT_IMAGE_TAG: &str = "alpine-v18.9.0";
/// The chart's own name, the default of `nameOverride`.
pub const CHART_NAME: &str = "gitlab-runner";
/// Longest Kubernetes object name the chart produces.
pub const MAX_NAME_LEN: usize = 63;
/// The config dir of a non-root runner.
pub const CONFIG_DIR_USER: &str = "/home/gitlab-runner/.gitlab-runner";
/// The config dir when the pod runs as root.
pub const CONFIG_DIR_ROOT: &str = "/etc/gitlab-runner";

/// Least-privilege rules for the Kubernetes executor (used when `rbac.rules` is empty).
pub fn default_rules() -> Value {
    Value::Array(default_rule_list())
}

fn default_rule_list() -> Vec<Value> {
    vec![
        json!({"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch", "create", "delete"]}),
        json!({"apiGroups": [""], "resources": ["pods/exec", "pods/attach"], "verbs": ["create", "delete", "get", "patch"]}),
        json!({"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get", "list"]}),
        json!({"apiGroups": [""], "resources": ["secrets", "configmaps"], "verbs": ["get", "create", "update", "delete"]}),
        json!({"apiGroups": [""], "resources": ["serviceaccounts"], "verbs": ["get"]}),
        json!({"apiGroups": [""], "resources": ["services"], "verbs": ["get", "create"]}),
        json!({"apiGroups": [""], "resources": ["events"], "verbs": ["list", "watch"]}),
    ]
}

/// The scalar at `path` as a string; `None` when absent, empty or not a scalar.
pub(super) fn string_at(values: &Value, path: &str) -> Option<String> {
    match lookup(values, path)? {
        Value::String(s) if s.is_empty() => None,
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// The boolean at `path`; `None` when absent or not a boolean.
fn bool_at(values: &Value, path: &str) -> Option<bool> {
    lookup(values, path).and_then(Value::as_bool)
}

/// Helm's fullname: fullnameOverride, else the release when it contains the name, else both.
pub fn fullname(release: &str, values: &Value) -> String {
    let name = if let Some(full) = string_at(values, "fullnameOverride") {
        full
    } else {
        let chart = string_at(values, "nameOverride").unwrap_or_else(|| CHART_NAME.to_string());
        if release.contains(&chart) {
            release.to_string()
        } else {
            format!("{release}-{chart}")
        }
    };
    let mut cut: String = name.chars().take(MAX_NAME_LEN).collect();
    while cut.ends_with('-') {
        cut.pop();
    }
    cut
}

/// `base` with the entries of the map `extra` (when it is one) added or replacing.
fn merged(base: &Map<String, Value>, extra: Option<&Value>) -> Map<String, Value> {
    let mut out = base.clone();
    if let Some(Value::Object(extra)) = extra {
        for (k, v) in extra {
            out.insert(k.clone(), v.clone());
        }
    }
    out
}

/// Image pull secrets from the first non-empty list among `paths`; plain names become `{name}`.
fn pull_secrets(values: &Value, paths: &[&str]) -> Vec<Value> {
    let list = paths.iter().find_map(|p| {
        lookup(values, p)
            .and_then(Value::as_array)
            .filter(|l| !l.is_empty())
    });
    list.into_iter()
        .flatten()
        .map(|p| match p {
            Value::String(name) => json!({ "name": name }),
            other => other.clone(),
        })
        .collect()
}

/// The endpoint fields of a ServiceMonitor/PodMonitor that the user set.
fn monitor_endpoint(values: &Value, base: &str) -> Map<String, Value> {
    let mut out = Map::new();
    let Some(Value::Object(monitor)) = lookup(values, base) else {
        return out;
    };
    for key in [
        "interval",
        "scheme",
        "path",
        "tlsConfig",
        "metricRelabelings",
        "relabelings",
    ] {
        let set = monitor.get(key).filter(|v| match v {
            Value::String(s) => !s.is_empty(),
            Value::Array(a) => !a.is_empty(),
            Value::Object(o) => !o.is_empty(),
            _ => true,
        });
        if let Some(v) = set {
            out.insert(key.into(), v.clone());
        }
    }
    out
}

/// What the templates see as `chart`: the names, labels and decisions the official chart
/// computes in helpers, worked out once. Every part's fields serialise into `chart` itself, so
/// a template reads `chart.fullname`, `chart.image`, `chart.rbacRules`, ...
///
/// No `Debug`: it holds the tokens.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Chart {
    /// Names and labels.
    #[serde(flatten)]
    pub names: Names,
    /// The runner image and where its config lives.
    #[serde(flatten)]
    pub image: Image,
    /// The runner's ServiceAccount.
    #[serde(flatten)]
    pub service_account: ServiceAccount,
    /// The tokens and the Secret that holds them.
    #[serde(flatten)]
    pub tokens: Tokens,
    /// `runners.config` and what it means for the job pods' namespace.
    #[serde(flatten)]
    pub jobs: Jobs,
    /// The rules of the runner's Role (or ClusterRole), as the template reads them.
    pub rbac_rules: tera::Value,
    /// The runner container's environment and probes.
    #[serde(flatten)]
    pub container: Container,
    /// The session server and the autoscaler that rules it out.
    #[serde(flatten)]
    pub session: Session,
    /// ServiceMonitor and PodMonitor settings.
    #[serde(flatten)]
    pub monitors: Monitors,
    /// How the runner pod stops: the PodDisruptionBudget.
    #[serde(flatten)]
    pub lifecycle: Lifecycle,
}

impl Chart {
    /// Work out everything the templates need but should not compute themselves; warnings
    /// for the user are added to `warnings`.
    pub fn new(release: &Release, warnings: &mut Vec<String>) -> Result<Chart, Error> {
        let values = release.values.as_json();
        if string_at(values, "gitlabUrl").is_none() {
            return Err(Error::MissingGitlabUrl);
        }
        let names = Names::new(release)?;
        let tokens = Tokens::new(values, &names.fullname, warnings)?;
        let scope = Scope {
            release_name: &release.name,
            release_namespace: &release.namespace,
            values,
        };
        let image = Image::new(values, &scope)?;
        let service_account = ServiceAccount::new(values, &names.fullname);
        let jobs = Jobs::new(release, &names.job_namespace, &scope, warnings)?;
        let mut tokens = tokens;
        tokens.pair(&jobs)?;
        let rbac_rules = rbac_rules(values, &jobs, warnings)?;
        let session = Session::new(values, warnings);
        let container = Container::new(values, &names, jobs.sets_namespace, session.session_server);
        let monitors = Monitors::new(release, warnings);
        warnings.extend(lifecycle::grace_warning(values));
        let lifecycle = Lifecycle::new(values, warnings)?;
        Ok(Chart {
            names,
            image,
            service_account,
            tokens,
            jobs,
            rbac_rules,
            container,
            session,
            monitors,
            lifecycle,
        })
    }
}

/// The release's names and labels.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Names {
    /// Helm's fullname (see [`fullname`]): the name of most objects.
    pub fullname: String,
    /// The namespace of the objects: `namespace`, else the release namespace.
    pub namespace: String,
    /// Where job pods run unless `runners.config` says otherwise: `runners.jobNamespace`,
    /// else [`namespace`](Self::namespace).
    pub job_namespace: String,
    /// The labels of every object.
    pub labels: Map<String, Value>,
    /// The Deployment's selector: `app`.
    pub selector: Map<String, Value>,
    /// The selector of the Services and monitors, as the chart's: `app` and `release`.
    pub service_selector: Map<String, Value>,
    /// The pod's labels: the selector, the release and `podLabels`.
    pub pod_labels: Map<String, Value>,
    /// The session server's Service: `<fullname>-session-server`, cut to 63 characters.
    pub session_server_name: String,
}

impl Names {
    /// Names and labels of `release`, each checked as Kubernetes and helm check them.
    fn new(release: &Release) -> Result<Names, Error> {
        let values = release.values.as_json();
        names::check_release_name(&release.name)?;
        // The descriptions are written only for an error.
        names::check_label(
            format_args!("namespace {:?}", release.namespace),
            &release.namespace,
        )?;
        let fullname = fullname(&release.name, values);
        names::check_label(
            format_args!(
                "object name {fullname:?} (the release name, nameOverride or fullnameOverride)"
            ),
            &fullname,
        )?;
        let namespace = string_at(values, "namespace").unwrap_or_else(|| release.namespace.clone());
        let job_namespace =
            string_at(values, "runners.jobNamespace").unwrap_or_else(|| namespace.clone());
        for (key, ns) in [
            ("namespace", &namespace),
            ("runners.jobNamespace", &job_namespace),
        ] {
            names::check_label(format_args!("{key}: namespace {ns:?}"), ns)?;
        }
        let mut labels = Map::new();
        labels.insert("app".into(), fullname.clone().into());
        labels.insert("release".into(), release.name.clone().into());
        labels.insert("app.kubernetes.io/name".into(), CHART_NAME.into());
        labels.insert(
            "app.kubernetes.io/instance".into(),
            release.name.clone().into(),
        );
        labels.insert("app.kubernetes.io/managed-by".into(), "runnerctl".into());
        let mut selector = Map::new();
        selector.insert("app".into(), fullname.clone().into());
        let mut service_selector = selector.clone();
        service_selector.insert("release".into(), release.name.clone().into());
        let pod_labels = merged(&service_selector, lookup(values, "podLabels"));
        Ok(Names {
            session_server_name: names::suffixed(&fullname, "-session-server"),
            fullname,
            namespace,
            job_namespace,
            labels,
            selector,
            service_selector,
            pod_labels,
        })
    }
}

/// The runner image, its pull secrets and the config dir that goes with its user.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Image {
    /// `registry/image:tag`, the tag's template expressions evaluated.
    pub image: String,
    /// The runner's config dir: root's when `podSecurityContext.runAsUser` is 0.
    pub config_dir: String,
    /// The pod's `imagePullSecrets`, each as `{name}`.
    pub pod_image_pull_secrets: Vec<Value>,
}

impl Image {
    /// The image from `image.*`; `image.tag` may hold template expressions.
    fn new(values: &Value, scope: &Scope<'_>) -> Result<Image, Error> {
        let registry = string_at(values, "image.registry").unwrap_or_default();
        let repo =
            string_at(values, "image.image").unwrap_or_else(|| "gitlab-org/gitlab-runner".into());
        let tag_source = string_at(values, "image.tag").unwrap_or_else(|| DEFAULT_IMAGE_TAG.into());
        let tag = gotmpl::evaluate("image.tag", &tag_source, scope)?.text;
        let image = if registry.is_empty() {
            format!("{repo}:{tag}")
        } else {
            format!("{registry}/{repo}:{tag}")
        };
        let run_as_root =
            lookup(values, "podSecurityContext.runAsUser").and_then(Value::as_i64) == Some(0);
        let config_dir = if run_as_root {
            CONFIG_DIR_ROOT
        } else {
            CONFIG_DIR_USER
        }
        .to_string();
        Ok(Image {
            image,
            config_dir,
            pod_image_pull_secrets: pull_secrets(values, &["imagePullSecrets"]),
        })
    }
}

/// The runner's ServiceAccount: created or named.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceAccount {
    /// Render a ServiceAccount (`serviceAccount.create`, else `rbac.create`).
    pub create_service_account: bool,
    /// Its name; empty for the namespace's default account.
    pub service_account_name: String,
    /// Its `imagePullSecrets`, each as `{name}`.
    pub service_account_image_pull_secrets: Vec<Value>,
}

impl ServiceAccount {
    /// The ServiceAccount from `serviceAccount.*` and the older `rbac.*` keys.
    fn new(values: &Value, fullname: &str) -> ServiceAccount {
        let rbac_create = bool_at(values, "rbac.create").unwrap_or(false);
        let create_service_account =
            bool_at(values, "serviceAccount.create").unwrap_or(rbac_create);
        let service_account_name = if create_service_account {
            string_at(values, "serviceAccount.name").unwrap_or_else(|| fullname.to_string())
        } else {
            string_at(values, "serviceAccount.name")
                .or_else(|| string_at(values, "rbac.serviceAccountName"))
                .unwrap_or_default()
        };
        ServiceAccount {
            create_service_account,
            service_account_name,
            service_account_image_pull_secrets: pull_secrets(
                values,
                &["serviceAccount.imagePullSecrets", "rbac.imagePullSecrets"],
            ),
        }
    }
}

/// Values only a legacy registration uses: GitLab keeps them on the runner itself when it
/// has a `glrt-` runner authentication token.
const REGISTRATION_ONLY: &[&str] = &[
    "runners.tags",
    "runners.locked",
    "runners.runUntagged",
    "runners.protected",
    "runners.maximumTimeout",
];

/// The runner's tokens and the Secret that holds them. No `Debug`: it holds the tokens.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Tokens {
    /// runnerctl renders a Secret with the tokens (a token is set in the values).
    pub token_secret: bool,
    /// The Secret the runner reads its tokens from: `runners.secret`, else `<fullname>`. With
    /// [`token_secret`](Self::token_secret) runnerctl renders it under that name (as the
    /// chart does), else it is the user's own Secret.
    pub secret_name: Option<String>,
    /// `runnerToken`, empty when unset.
    pub runner_token: String,
    /// `runnerRegistrationToken`, empty when unset.
    pub registration_token: String,
    /// `runnerctl.runnerTokens`: each runner's token under its Secret key, in the config's
    /// order once [paired](Self::pair) with the runners.
    pub runner_tokens: Vec<RunnerToken>,
    /// The Secret keys the runners read their tokens from when the tokens are given per
    /// runner (`runner-token-<name>`, in the config's order); empty in the chart's layout.
    pub token_keys: Vec<String>,
}

/// One runner's token, as the Secret holds it. No `Debug`: it holds the token.
#[derive(Serialize)]
pub struct RunnerToken {
    /// The runner's name (the key under `runnerctl.runnerTokens`).
    #[serde(skip)]
    pub name: String,
    /// The Secret key: `runner-token-<name>`.
    pub key: String,
    /// The token.
    pub token: String,
}

/// The values key of the tokens given per runner: `[[runners]]` name -> token.
pub const RUNNER_TOKENS: &str = "runnerctl.runnerTokens";

/// The Secret key of a runner's token when the tokens are given per runner.
pub fn runner_token_key(name: &str) -> String {
    format!("runner-token-{name}")
}

/// Whether a `[[runners]]` name can be part of a Secret key: letters, digits, `-`, `.`, `_`,
/// short enough for the 253 characters of a key.
fn valid_runner_name(name: &str) -> bool {
    !name.is_empty()
        && runner_token_key(name).len() <= names::MAX_SUBDOMAIN_LEN
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'))
}

impl Tokens {
    /// The tokens; an error when there is neither a token nor `runners.secret`. Whitespace
    /// around a token (a newline from `echo glrt-... > file` then `--set-file`) is removed
    /// with a warning: the runner fails on it with `invalid header field`.
    fn new(values: &Value, fullname: &str, warnings: &mut Vec<String>) -> Result<Tokens, Error> {
        let mut trimmed = |key: &str, raw: &str| {
            let trimmed = raw.trim();
            if trimmed.len() != raw.len() {
                warnings.push(format!(
                    "{key}: whitespace or a newline around the token was removed (the runner \
                     would fail with `invalid header field`)"
                ));
            }
            trimmed.to_string()
        };
        let runner_token = trimmed(
            "runnerToken",
            &string_at(values, "runnerToken").unwrap_or_default(),
        );
        let registration_token = trimmed(
            "runnerRegistrationToken",
            &string_at(values, "runnerRegistrationToken").unwrap_or_default(),
        );
        let mut runner_tokens = Vec::new();
        if let Some(Value::Object(given)) = lookup(values, RUNNER_TOKENS) {
            for (name, token) in given {
                let key = format!("{RUNNER_TOKENS}.{}", crate::secret::redact_token(name));
                let Some(token) = token.as_str().filter(|t| !t.trim().is_empty()) else {
                    return Err(Error::InvalidValue {
                        key,
                        message: "expected the runner's token (glrt-...) as a string; remove the \
                                  key if the runner has no token"
                            .into(),
                    });
                };
                runner_tokens.push(RunnerToken {
                    name: name.clone(),
                    key: runner_token_key(name),
                    token: trimmed(&key, token),
                });
            }
        }
        if runner_token.starts_with("glrt-") || registration_token.starts_with("glrt-") {
            let set: Vec<&str> = REGISTRATION_ONLY
                .iter()
                .copied()
                .filter(|k| lookup(values, k).is_some())
                .collect();
            if !set.is_empty() {
                warnings.push(format!(
                    "{} set, but a glrt- runner authentication token ignores them: tags, \
                     locking, untagged jobs, protection and timeout are now set on the runner \
                     in GitLab (Settings > CI/CD > Runners)",
                    set.join(", ")
                ));
            }
        }
        let token_secret =
            !runner_token.is_empty() || !registration_token.is_empty() || !runner_tokens.is_empty();
        let user_secret = string_at(values, "runners.secret");
        if !token_secret && user_secret.is_none() {
            return Err(Error::MissingToken);
        }
        // With a token in the values, the chart's secret.yaml writes it into the Secret
        // `runners.secret` names (its `gitlab-runner.secret` helper), else into `<fullname>`:
        // either way a Secret of the release. Without one, `runners.secret` is the user's.
        if let Some(name) = &user_secret {
            names::check_subdomain(format_args!("runners.secret: Secret name {name:?}"), name)?;
        }
        let secret_name = if token_secret {
            Some(user_secret.unwrap_or_else(|| fullname.to_string()))
        } else {
            user_secret
        };
        Ok(Tokens {
            token_secret,
            secret_name,
            runner_token,
            registration_token,
            runner_tokens,
            token_keys: Vec::new(),
        })
    }

    /// Pair the tokens with the runners of `jobs` when it gives each runner a template of its
    /// own: every runner needs a name usable in a Secret key, unique, and (with
    /// `runnerctl.runnerTokens`) a token; every token needs a runner; `runnerToken` and
    /// `runnerRegistrationToken` cannot be one runner's of several.
    fn pair(&mut self, jobs: &Jobs) -> Result<(), Error> {
        let templates = &jobs.runner_templates;
        if templates.is_empty() {
            return Ok(());
        }
        let count = templates.len();
        for (key, token) in [
            ("runnerToken", &self.runner_token),
            ("runnerRegistrationToken", &self.registration_token),
        ] {
            if !token.is_empty() {
                let why = if count > 1 {
                    format!("runners.config has {count} [[runners]], each needs a token of its own")
                } else {
                    format!("{RUNNER_TOKENS} gives the tokens per runner")
                };
                return Err(Error::InvalidValue {
                    key: key.into(),
                    message: format!(
                        "{why}: give each runner its token in {RUNNER_TOKENS}.<name> (or in the \
                         Secret runners.secret names, under runner-token-<name>) and remove {key}"
                    ),
                });
            }
        }
        let names: Vec<&str> = templates.iter().map(|t| t.name.as_str()).collect();
        for (i, name) in names.iter().enumerate() {
            let problem = if name.is_empty() {
                Some("has no name")
            } else if !valid_runner_name(name) {
                Some("has a name that cannot be part of a Secret key")
            } else if names[..i].contains(name) {
                Some("has the name of an earlier one")
            } else {
                None
            };
            if let Some(problem) = problem {
                return Err(Error::InvalidValue {
                    key: runner_config::KEY.into(),
                    message: format!(
                        "[[runners]] number {} {problem}: with a token per runner, each \
                         [[runners]] needs name = \"...\" of its own (letters, digits, '-', '.', \
                         '_'; its token's key is runner-token-<name>)",
                        i + 1
                    ),
                });
            }
        }
        self.token_keys = names.iter().map(|n| runner_token_key(n)).collect();
        if self.runner_tokens.is_empty() {
            // The user's Secret (runners.secret) holds the keys; doctor checks them.
            return Ok(());
        }
        let shown = || names.join(", ");
        if let Some(extra) = self
            .runner_tokens
            .iter()
            .find(|t| !names.contains(&t.name.as_str()))
        {
            return Err(Error::InvalidValue {
                key: format!(
                    "{RUNNER_TOKENS}.{}",
                    crate::secret::redact_token(&extra.name)
                ),
                message: format!(
                    "runners.config has no [[runners]] of that name (its runners: {}); rename \
                     the key to a runner's name or remove it",
                    shown()
                ),
            });
        }
        let mut paired = Vec::with_capacity(count);
        for name in &names {
            let Some(i) = self.runner_tokens.iter().position(|t| t.name == *name) else {
                return Err(Error::InvalidValue {
                    key: format!("{RUNNER_TOKENS}.{name}"),
                    message: format!(
                        "runner {name:?} of runners.config has no token: set \
                         {RUNNER_TOKENS}.{name} to its runner authentication token (glrt-...)"
                    ),
                });
            };
            paired.push(self.runner_tokens.swap_remove(i));
        }
        self.runner_tokens = paired;
        Ok(())
    }
}

/// `runners.config` checked (with the build mode merged in), each runner's job pod and the
/// Pod Security level it needs.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Jobs {
    /// The final `config.template.toml` of the chart's layout: one runner, its token in
    /// `runner-token` (empty without `runners.config` and build mode, and with
    /// [`runner_templates`](Self::runner_templates)).
    pub runner_config: String,
    /// One template per runner, in the config's order, when the tokens are given per runner
    /// (several `[[runners]]`, or `runnerctl.runnerTokens`): the ConfigMap's
    /// `config.template.<index>.toml` and `runner-names`.
    pub runner_templates: Vec<RunnerTemplate>,
    /// The config names the job pods' namespace (every runner's, with several).
    pub sets_namespace: bool,
    /// The build mode (`runnerctl.buildMode`), if one is set.
    pub build_mode: Option<BuildMode>,
    /// Render a Namespace object for the release namespace (and the job namespaces).
    pub create_namespace: bool,
    /// The namespaces runnerctl creates (`--create-namespace`): the release namespace, then
    /// each job namespace where job pods run elsewhere (not with `namespace_per_job`, where
    /// the runner makes one per job).
    pub created_namespaces: Vec<String>,
    /// Where the first runner's job pods run (the config's `[runners.kubernetes] namespace`,
    /// else `runners.jobNamespace`, else the namespace).
    pub rbac_namespace: String,
    /// Every namespace where job pods run, each once, in the config's order: a Role and a
    /// RoleBinding go to each.
    pub rbac_namespaces: Vec<String>,
    /// A runner gives each job a namespace of its own (`namespace_per_job = true`).
    pub namespace_per_job: bool,
    /// Credentials written in the config, masked in output.
    #[serde(skip)]
    pub credentials: crate::secret::SecretValues,
    /// Each runner's jobs, in the config's order (one without a config).
    #[serde(skip)]
    pub runners: Vec<RunnerJobs>,
}

/// One runner's template in the ConfigMap, with the name that pairs it with its token.
#[derive(Debug, Serialize)]
pub struct RunnerTemplate {
    /// The `[[runners]]` name.
    pub name: String,
    /// The template: that one `[[runners]]`, processed.
    pub text: String,
}

/// What one runner's CI jobs get.
#[derive(Debug)]
pub struct RunnerJobs {
    /// The `[[runners]]` name, if it has one.
    pub name: Option<String>,
    /// Where its job pods run.
    pub namespace: String,
    /// Each of its jobs gets a namespace of its own.
    pub namespace_per_job: bool,
    /// The pod it creates for a job.
    pub job_pod: JobPod,
}

/// The build mode the values ask for (`runnerctl.buildMode`; null or absent: none).
fn build_mode(values: &Value) -> Result<Option<BuildMode>, Error> {
    match lookup(values, build_mode::KEY) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => {
            s.parse()
                .map(Some)
                .map_err(|e: build_mode::UnknownMode| Error::InvalidValue {
                    key: build_mode::KEY.into(),
                    message: e.to_string(),
                })
        }
        Some(_) => Err(Error::InvalidValue {
            key: build_mode::KEY.into(),
            message: format!("expected a string, one of: {}", BuildMode::NAMES.join(", ")),
        }),
    }
}

/// The values key that says who rotates the runners' tokens.
pub const TOKEN_ROTATION: &str = "runnerctl.tokenRotation";

/// Who rotates the runners' tokens (`runnerctl.tokenRotation`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenRotation {
    /// The runner, at 75% of the token's life, writing the new token only to the pod's
    /// config.toml (GitLab Runner's behaviour).
    Runner,
    /// `runnerctl token rotate`: every runner gets `FF_DISABLE_AUTOMATIC_TOKEN_ROTATION`.
    Runnerctl,
}

/// `runnerctl.tokenRotation`: `None` when null or absent (the runner's behaviour).
fn token_rotation(values: &Value) -> Result<Option<TokenRotation>, Error> {
    match lookup(values, TOKEN_ROTATION) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s == "runner" => Ok(Some(TokenRotation::Runner)),
        Some(Value::String(s)) if s == "runnerctl" => Ok(Some(TokenRotation::Runnerctl)),
        Some(_) => Err(Error::InvalidValue {
            key: TOKEN_ROTATION.into(),
            message: "expected null, \"runner\" (the runner rotates its token itself) or \
                      \"runnerctl\" (runnerctl token rotate does)"
                .into(),
        }),
    }
}

/// Whether the values give the tokens per runner (`runnerctl.runnerTokens` is a non-empty map).
fn tokens_per_runner(values: &Value) -> bool {
    matches!(lookup(values, RUNNER_TOKENS), Some(Value::Object(m)) if !m.is_empty())
}

impl Jobs {
    /// Process `runners.config` with the build mode and warn when job pods that need the
    /// privileged Pod Security level meet a namespace that runnerctl does not label for them.
    fn new(
        release: &Release,
        job_namespace: &str,
        scope: &Scope<'_>,
        warnings: &mut Vec<String>,
    ) -> Result<Jobs, Error> {
        let values = release.values.as_json();
        let want_privileged = bool_at(values, "runners.privileged").unwrap_or(false);
        let mode = build_mode(values)?;
        let options = runner_config::Options {
            privileged: want_privileged,
            mode,
            strict: release.values.is_strict(),
            disable_token_rotation: token_rotation(values)? == Some(TokenRotation::Runnerctl),
            per_runner: tokens_per_runner(values),
            job_namespace: job_namespace.to_string(),
        };
        let source = string_at(values, "runners.config").or_else(|| {
            (mode.is_some() || options.disable_token_rotation)
                .then(|| runner_config::EMPTY_CONFIG.to_string())
        });
        let processed = match source {
            Some(source) => runner_config::process(&source, scope, &options)?,
            // No config: the runner's defaults, with `runners.privileged` as the config
            // would carry it.
            None => runner_config::Processed {
                runners: vec![RunnerConfig {
                    privileged: want_privileged,
                    runner: runner_config::runner_defaults(want_privileged),
                    ..Default::default()
                }],
                warnings: Vec::new(),
            },
        };
        warnings.extend(processed.warnings);
        let own_templates = processed.runners.len() > 1 || options.per_runner;
        let mut jobs = Jobs {
            runner_config: String::new(),
            runner_templates: Vec::new(),
            sets_namespace: true,
            build_mode: mode,
            create_namespace: release.create_namespace,
            created_namespaces: Vec::new(),
            rbac_namespace: String::new(),
            rbac_namespaces: Vec::new(),
            namespace_per_job: false,
            credentials: crate::secret::SecretValues::default(),
            runners: Vec::new(),
        };
        if release.create_namespace {
            jobs.created_namespaces.push(release.namespace.clone());
        }
        for config in processed.runners {
            let RunnerConfig {
                text,
                name,
                privileged: _,
                sets_namespace,
                namespace: config_namespace,
                namespace_per_job,
                credentials,
                warnings: cfg_warnings,
                runner,
            } = config;
            warnings.extend(cfg_warnings);
            jobs.sets_namespace &= sets_namespace;
            jobs.namespace_per_job |= namespace_per_job;
            jobs.credentials.extend(&credentials);
            if own_templates {
                jobs.runner_templates.push(RunnerTemplate {
                    name: name.clone().unwrap_or_default(),
                    text,
                });
            } else {
                jobs.runner_config = text;
            }
            // Where the job pods really run: the config's namespace wins over the values.
            let pods_namespace = config_namespace.as_deref().unwrap_or(job_namespace);
            let job_pod = job_pod::job_pod(runner, pods_namespace, mode);
            if let Some(mode) = mode {
                mode.check_pod(&job_pod.assessment)?;
            }
            if !jobs.rbac_namespaces.iter().any(|ns| ns == pods_namespace) {
                jobs.rbac_namespaces.push(pods_namespace.to_string());
            }
            if release.create_namespace
                && !namespace_per_job
                && !jobs
                    .created_namespaces
                    .iter()
                    .any(|ns| ns == pods_namespace)
            {
                jobs.created_namespaces.push(pods_namespace.to_string());
            }
            jobs.runners.push(RunnerJobs {
                name,
                namespace: pods_namespace.to_string(),
                namespace_per_job,
                job_pod,
            });
        }
        for runner in &jobs.runners {
            let ns = runner.namespace.as_str();
            let level = runner.job_pod.assessment.level;
            if level == Level::Privileged && !jobs.created_namespaces.iter().any(|c| c == ns) {
                warnings.push(privileged_warning(
                    ns,
                    runner.namespace_per_job,
                    &runner.job_pod,
                ));
            }
        }
        let rbac_create = bool_at(values, "rbac.create").unwrap_or(false);
        let cluster_wide = bool_at(values, "rbac.clusterWideAccess").unwrap_or(false);
        for pods_namespace in &jobs.rbac_namespaces {
            if rbac_create && !cluster_wide && pods_namespace != job_namespace {
                warnings.push(format!(
                    "the Role and RoleBinding go to namespace \"{pods_namespace}\", where \
                     runners.config sends the job pods (the chart would put them in \
                     \"{job_namespace}\", where they would not cover the jobs)"
                ));
            }
        }
        jobs.rbac_namespace = jobs.rbac_namespaces[0].clone();
        Ok(jobs)
    }
}

/// The warning that job pods in `pods_namespace` need Pod Security to allow privileged pods.
fn privileged_warning(pods_namespace: &str, namespace_per_job: bool, pod: &JobPod) -> String {
    let hint = if namespace_per_job {
        " (namespace_per_job: the runner creates each job's namespace; runnerctl cannot label it)"
    } else {
        ", or pass --create-namespace to let runnerctl create it with that level"
    };
    let reasons = &pod.assessment.not_baseline;
    let why = match reasons.len() {
        0 | 1 => reasons.join(""),
        n => format!("{} and {} more", reasons[0], n - 1),
    };
    format!(
        "job pods need the privileged Pod Security level ({why}): namespace \"{pods_namespace}\" \
         must allow privileged pods under Pod Security Admission (kubectl label namespace \
         {pods_namespace} pod-security.kubernetes.io/enforce=privileged){hint}"
    )
}

/// The runner container's environment and probes: the Deployment template writes them as
/// they are, so this is the one place that decides them.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Container {
    /// The environment, in this order: the runner's own entries ([`runner_env`]), `envVars`
    /// (scalar values as strings, as the chart quotes them: `value: true` -> `"true"`),
    /// `extraEnv` (name -> value, as text) and `extraEnvFrom` (name -> `valueFrom`).
    pub env: Vec<Value>,
    /// The liveness probe: see [`probe`].
    pub liveness_probe: Probe,
    /// The readiness probe: see [`probe`].
    pub readiness_probe: Probe,
}

impl Container {
    /// The container's environment and probes from the values; `sets_namespace` and
    /// `session_server` as [`runner_env`] takes them.
    fn new(values: &Value, names: &Names, sets_namespace: bool, session_server: bool) -> Self {
        let mut env = runner_env(values, names, sets_namespace, session_server);
        if let Some(Value::Array(vars)) = lookup(values, "envVars") {
            env.extend(vars.iter().map(|var| {
                let mut var = var.clone();
                if let Some(value) = var.get_mut("value")
                    && (value.is_boolean() || value.is_number())
                {
                    *value = Value::String(value.to_string());
                }
                var
            }));
        }
        if let Some(Value::Object(vars)) = lookup(values, "extraEnv") {
            env.extend(
                vars.iter()
                    .map(|(name, value)| json!({"name": name, "value": tera_text(value)})),
            );
        }
        if let Some(Value::Object(vars)) = lookup(values, "extraEnvFrom") {
            env.extend(
                vars.iter()
                    .map(|(name, from)| json!({"name": name, "valueFrom": from})),
            );
        }
        Container {
            env,
            liveness_probe: probe(values, "livenessProbe", LIVENESS_COMMAND, true),
            readiness_probe: probe(values, "readinessProbe", READINESS_COMMAND, false),
        }
    }
}

/// The runner container's own environment, in this order: the GitLab URL, the executor, the
/// registration settings (`REGISTER_LOCKED` and `RUNNER_TAG_LIST` always, name, untagged
/// jobs, protection and timeout only when set; a `glrt-` token ignores them, as they live in
/// GitLab), the job namespace unless the config sets one, the session server's service
/// and address for the entrypoint to complete `advertise_address` (not with a `publicIP`,
/// which goes into config.toml directly; for a LoadBalancer the entrypoint asks the API), and
/// `RUNNERCTL_UNREGISTER` when the entrypoint unregisters after the drain
/// ([`lifecycle::unregisters_after_drain`]).
///
/// Values are read as the templates read them: "set" means truthy in Tera's sense (`""`, `0`
/// and `null` are not) and numbers and booleans become text as Tera's `str` writes them.
fn runner_env(
    values: &Value,
    names: &Names,
    sets_namespace: bool,
    session_server: bool,
) -> Vec<Value> {
    let at = |path: &str| lookup(values, path).filter(|v| gotmpl::truthy(v));
    let var = |name: &str, value: &str| json!({"name": name, "value": value});
    let text = |name: &str, value: &Value| var(name, &tera_text(value));
    let mut env = vec![
        var(
            "CI_SERVER_URL",
            &string_at(values, "gitlabUrl").unwrap_or_default(),
        ),
        var(
            "RUNNER_EXECUTOR",
            &at("runners.executor").map_or_else(|| "kubernetes".into(), tera_text),
        ),
        var(
            "REGISTER_LOCKED",
            match lookup(values, "runners.locked") {
                Some(v) if !v.is_null() && !gotmpl::truthy(v) => "false",
                _ => "true",
            },
        ),
        text(
            "RUNNER_TAG_LIST",
            at("runners.tags").unwrap_or(&Value::Null),
        ),
    ];
    if let Some(name) = at("runners.name") {
        env.push(text("RUNNER_NAME", name));
    }
    if let Some(untagged) = lookup(values, "runners.runUntagged").filter(|v| !v.is_null()) {
        env.push(text("REGISTER_RUN_UNTAGGED", untagged));
    }
    if at("runners.protected").is_some() {
        env.push(var("REGISTER_ACCESS_LEVEL", "ref_protected"));
    }
    if let Some(timeout) = at("runners.maximumTimeout") {
        env.push(text("REGISTER_MAXIMUM_TIMEOUT", timeout));
    }
    if !sets_namespace {
        env.push(var("KUBERNETES_NAMESPACE", &names.job_namespace));
    }
    if session_server && at("sessionServer.publicIP").is_none() {
        let service = &names.session_server_name;
        env.push(var("SESSION_SERVER_SERVICE", service));
        let service_type = lookup(values, "sessionServer.serviceType");
        if service_type.and_then(Value::as_str) == Some("NodePort") {
            env.push(json!({
                "name": "SESSION_SERVER_ADDRESS",
                "valueFrom": {"fieldRef": {"fieldPath": "status.hostIP"}},
            }));
            if let Some(port) = at("sessionServer.nodePort") {
                env.push(text("SESSION_SERVER_PORT", port));
            }
        } else {
            if service_type.and_then(Value::as_str) != Some("LoadBalancer") {
                let address = format!("{service}.{}.svc.cluster.local", names.namespace);
                env.push(var("SESSION_SERVER_ADDRESS", &address));
            }
            let port = lookup(values, "sessionServer.externalPort").unwrap_or(&Value::Null);
            env.push(text("SESSION_SERVER_PORT", port));
        }
    }
    if lifecycle::unregisters_after_drain(values) {
        env.push(var("RUNNERCTL_UNREGISTER", "true"));
    }
    env
}

/// A probe of the runner container (a command to run, and its timings).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Probe {
    /// The command.
    pub exec: ExecAction,
    /// Seconds before the first probe.
    pub initial_delay_seconds: Value,
    /// Seconds between probes.
    pub period_seconds: Value,
    /// Seconds a probe may take (`null`: the field is left out).
    pub timeout_seconds: Value,
    /// Successes that make the container healthy again.
    pub success_threshold: Value,
    /// Failures that make it unhealthy.
    pub failure_threshold: Value,
    /// The grace period when the probe fails (liveness only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub termination_grace_period_seconds: Option<Value>,
}

/// A command a probe runs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExecAction {
    /// The program and its argument.
    pub command: [&'static str; 2],
}

/// The liveness probe's command: the check script in the ConfigMap.
const LIVENESS_COMMAND: [&str; 2] = ["/bin/bash", "/configmaps/check-live"];
/// The readiness probe's command: a runner process is up.
const READINESS_COMMAND: [&str; 2] = ["/usr/bin/pgrep", "gitlab.*runner"];

/// A probe of the runner container: `command`, with the timings of the values' map at `key`
/// (`livenessProbe`, `readinessProbe`) where set and the chart's defaults where not (initial
/// delay and period 60 s, one success, three failures), `probeTimeoutSeconds` as its timeout,
/// and for the liveness probe its own `terminationGracePeriodSeconds` when set.
fn probe(values: &Value, key: &str, command: [&'static str; 2], with_grace_period: bool) -> Probe {
    let overrides = lookup(values, key);
    let field = |name: &str| overrides.and_then(|probe| probe.get(name));
    let timing = |name: &str, default: u32| field(name).cloned().unwrap_or(default.into());
    Probe {
        exec: ExecAction { command },
        initial_delay_seconds: timing("initialDelaySeconds", 60),
        period_seconds: timing("periodSeconds", 60),
        timeout_seconds: lookup(values, "probeTimeoutSeconds")
            .cloned()
            .unwrap_or(Value::Null),
        success_threshold: timing("successThreshold", 1),
        failure_threshold: timing("failureThreshold", 3),
        termination_grace_period_seconds: field("terminationGracePeriodSeconds")
            .filter(|v| with_grace_period && gotmpl::truthy(v))
            .cloned(),
    }
}

/// `value` as a template writes it with the `str` filter (`null` as nothing).
fn tera_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => tera::Value::from_serializable(other).to_string(),
    }
}

/// The Role's rules: `rbac.rules` (missing fields defaulted) or [`default_rules`], plus the
/// PodSecurityPolicy rule when `rbac.podSecurityPolicy.enabled`, plus namespace rights when
/// the config gives each job a namespace of its own.
fn rbac_rules(
    values: &Value,
    jobs: &Jobs,
    warnings: &mut Vec<String>,
) -> Result<tera::Value, Error> {
    // `None`: the default rules, not yet needed as a list of our own.
    let mut rbac_rules = match lookup(values, "rbac.rules") {
        Some(Value::Array(rules)) if !rules.is_empty() => {
            if let Some(i) = rules.iter().position(|r| !r.is_object()) {
                return Err(Error::InvalidValue {
                    key: format!("rbac.rules[{i}]"),
                    message: "a rule must be a map (apiGroups, resources, verbs); \
                              write e.g. {resources: [pods], verbs: [get]}"
                        .into(),
                });
            }
            Some(rules.iter().map(with_rule_defaults).collect())
        }
        _ => None,
    };
    if jobs.namespace_per_job && bool_at(values, "rbac.create").unwrap_or(false) {
        if bool_at(values, "rbac.clusterWideAccess").unwrap_or(false) {
            rbac_rules.get_or_insert_with(default_rule_list).push(json!({"apiGroups": [""], "resources": ["namespaces"], "verbs": ["create", "delete", "get"]}));
        } else {
            warnings.push(
                "runners.config sets namespace_per_job: each job gets a namespace of its own, \
                 which a Role in one namespace cannot cover; set rbac.clusterWideAccess=true \
                 (a ClusterRole that may also create and delete namespaces)"
                    .into(),
            );
        }
    }
    if bool_at(values, "rbac.podSecurityPolicy.enabled").unwrap_or(false) {
        let names = lookup(values, "rbac.podSecurityPolicy.resourceNames")
            .cloned()
            .unwrap_or(json!([]));
        rbac_rules.get_or_insert_with(default_rule_list).push(json!({"apiGroups": ["policy"], "resources": ["podsecuritypolicies"], "verbs": ["use"], "resourceNames": names}));
    }
    // The default rules alone, the usual case, are converted for the templates once per
    // process.
    static DEFAULT_RULES: OnceLock<tera::Value> = OnceLock::new();
    Ok(match rbac_rules {
        None => DEFAULT_RULES
            .get_or_init(|| tera::Value::from_serializable(&default_rules()))
            .clone(),
        Some(rules) => tera::Value::from_serializable(&rules),
    })
}

/// A user's rule with `apiGroups`, `resources` and `verbs` defaulted as the chart does.
fn with_rule_defaults(rule: &Value) -> Value {
    let mut r = rule.as_object().cloned().unwrap_or_default();
    for (key, default) in [
        ("apiGroups", json!([""])),
        ("resources", json!(["*"])),
        ("verbs", json!(["*"])),
    ] {
        if r.get(key).is_none_or(Value::is_null) {
            r.insert(key.into(), default);
        }
    }
    Value::Object(r)
}

/// The session server, which needs exactly one replica.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Session {
    /// Render the session server: enabled, one replica and no autoscaler.
    pub session_server: bool,
    /// Render a HorizontalPodAutoscaler (`hpa` is a non-empty map).
    pub hpa: bool,
}

impl Session {
    /// The session server from `sessionServer.enabled`, `replicas` and `hpa`; a warning
    /// when it is enabled but cannot be rendered.
    fn new(values: &Value, warnings: &mut Vec<String>) -> Session {
        let hpa = matches!(lookup(values, "hpa"), Some(Value::Object(m)) if !m.is_empty());
        let replicas = lookup(values, "replicas").and_then(Value::as_i64);
        let enabled = bool_at(values, "sessionServer.enabled").unwrap_or(false);
        let session_server = enabled && replicas.unwrap_or(1) == 1 && !hpa;
        if enabled && !session_server {
            warnings.push("sessionServer.enabled needs exactly one replica (replicas: 1, no hpa); the session server is not rendered".into());
        }
        Session {
            session_server,
            hpa,
        }
    }
}

/// ServiceMonitor and PodMonitor: whether the cluster has their API, and their endpoints.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Monitors {
    /// The cluster offers `monitoring.coreos.com/v1` (from `--api-versions`).
    pub monitoring_api: bool,
    /// The ServiceMonitor endpoint fields the user set.
    pub service_monitor_endpoint: Map<String, Value>,
    /// The PodMonitor endpoint fields the user set.
    pub pod_monitor_endpoint: Map<String, Value>,
}

impl Monitors {
    /// The monitors from `metrics.*`; a warning for each one enabled without the API.
    fn new(release: &Release, warnings: &mut Vec<String>) -> Monitors {
        let values = release.values.as_json();
        let monitoring_api = release
            .api_versions
            .iter()
            .any(|v| v == "monitoring.coreos.com/v1");
        for kind in ["serviceMonitor", "podMonitor"] {
            if bool_at(values, &format!("metrics.{kind}.enabled")).unwrap_or(false)
                && !monitoring_api
            {
                warnings.push(format!(
                    "metrics.{kind}.enabled is set but the monitoring.coreos.com/v1 API is not available; \
                     pass --api-versions monitoring.coreos.com/v1 if the cluster has the Prometheus operator"
                ));
            }
        }
        Monitors {
            monitoring_api,
            service_monitor_endpoint: monitor_endpoint(values, "metrics.serviceMonitor"),
            pod_monitor_endpoint: monitor_endpoint(values, "metrics.podMonitor"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::tests::{object_of, with_token};

    #[test]
    fn fullname_follows_helm() {
        let none = json!({});
        assert_eq!(fullname("gitlab-runner", &none), "gitlab-runner");
        assert_eq!(fullname("my-gitlab-runner-x", &none), "my-gitlab-runner-x");
        assert_eq!(fullname("ci", &none), "ci-gitlab-runner");
        assert_eq!(
            fullname("ci", &json!({"nameOverride": "runner"})),
            "ci-runner"
        );
        assert_eq!(
            fullname("ci", &json!({"fullnameOverride": "exact"})),
            "exact"
        );
        let long = "a".repeat(62) + "-b";
        assert_eq!(
            fullname("x", &json!({"fullnameOverride": long})),
            "a".repeat(62)
        );
    }

    /// A release `rel` in `ns` with `values` added to a URL and a token.
    fn release(mut values: Value) -> Release {
        values["gitlabUrl"] = json!("https://gitlab.example.com");
        values["runnerToken"] = json!("glrt-secret");
        Release {
            name: "rel".into(),
            namespace: "ns".into(),
            values: crate::values::Values::from_json(values),
            create_namespace: true,
            api_versions: vec![],
        }
    }

    #[test]
    fn chart_serialises_flat_with_the_template_names() {
        let release = release(json!({"sessionServer": {"enabled": true}, "replicas": 2}));
        let mut warnings = Vec::new();
        let chart = Chart::new(&release, &mut warnings).unwrap();
        let v = serde_json::to_value(&chart).unwrap();
        let mut keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
            [
                "buildMode",
                "configDir",
                "createNamespace",
                "createServiceAccount",
                "createdNamespaces",
                "env",
                "fullname",
                "hpa",
                "image",
                "jobNamespace",
                "labels",
                "livenessProbe",
                "monitoringApi",
                "namespace",
                "namespacePerJob",
                "podDisruptionBudget",
                "podImagePullSecrets",
                "podLabels",
                "podMonitorEndpoint",
                "rbacNamespace",
                "rbacNamespaces",
                "rbacRules",
                "readinessProbe",
                "registrationToken",
                "runnerConfig",
                "runnerTemplates",
                "runnerToken",
                "runnerTokens",
                "secretName",
                "selector",
                "serviceAccountImagePullSecrets",
                "serviceAccountName",
                "serviceMonitorEndpoint",
                "serviceSelector",
                "sessionServer",
                "sessionServerName",
                "setsNamespace",
                "tokenKeys",
                "tokenSecret",
            ]
        );
        assert_eq!(v["fullname"], "rel-gitlab-runner");
        assert_eq!(v["secretName"], "rel-gitlab-runner");
        assert_eq!(v["sessionServer"], false);
        assert_eq!(warnings.len(), 1, "{warnings:?}");
    }

    /// `release`'s Deployment.
    fn deployment(release: &Release) -> Value {
        let manifest = crate::render::render(release).unwrap();
        object_of(&manifest, "Deployment").unwrap()
    }

    /// The runner container of `release`'s Deployment.
    fn runner_container(release: &Release) -> Value {
        deployment(release)["spec"]["template"]["spec"]["containers"][0].clone()
    }

    #[test]
    fn a_new_runner_pod_is_ready_before_an_old_one_drains_unless_a_strategy_is_given() {
        for replicas in ["replicas=1", "replicas=4", "hpa.maxReplicas=3"] {
            assert_eq!(
                deployment(&with_token(&[replicas]))["spec"]["strategy"],
                json!({"type": "RollingUpdate",
                    "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 0}}),
                "{replicas}"
            );
        }
        assert_eq!(
            deployment(&with_token(&["strategy.type=Recreate"]))["spec"]["strategy"],
            json!({"type": "Recreate"})
        );
        let given = "strategy.rollingUpdate.maxUnavailable=1";
        assert_eq!(
            deployment(&with_token(&[given]))["spec"]["strategy"],
            json!({"rollingUpdate": {"maxUnavailable": 1}})
        );
    }

    /// The value of the environment variable `name`, if the container has it.
    fn env_value<'a>(container: &'a Value, name: &str) -> Option<&'a str> {
        let env = container["env"].as_array().unwrap();
        env.iter()
            .find(|e| e["name"] == name)
            .map(|e| e["value"].as_str().unwrap())
    }

    #[test]
    fn the_entrypoint_unregisters_after_the_drain_instead_of_a_pre_stop_hook() {
        // The default, unregisterRunners: true.
        let container = runner_container(&with_token(&[]));
        assert!(container.get("lifecycle").is_none(), "{container}");
        assert_eq!(env_value(&container, "RUNNERCTL_UNREGISTER"), Some("true"));
        // After the runner's own entries, before the user's.
        let container = runner_container(&with_token(&["extraEnv.A=b"]));
        let names: Vec<&str> = container["env"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["name"].as_str().unwrap())
            .collect();
        assert_eq!(names[names.len() - 2..], ["RUNNERCTL_UNREGISTER", "A"]);

        let container = runner_container(&with_token(&["unregisterRunners=false"]));
        assert!(container.get("lifecycle").is_none());
        assert_eq!(env_value(&container, "RUNNERCTL_UNREGISTER"), None);
    }

    #[test]
    fn deployment_lifecycle_is_kept_and_replaces_unregistering() {
        let container = runner_container(&with_token(&[
            "deploymentLifecycle.preStop.exec.command={/bin/sh,-c,sleep 5}",
        ]));
        let lifecycle = json!({"preStop": {"exec": {"command": ["/bin/sh", "-c", "sleep 5"]}}});
        assert_eq!(container["lifecycle"], lifecycle);
        assert_eq!(env_value(&container, "RUNNERCTL_UNREGISTER"), None);
    }

    /// The names of the rendered Secrets, and the Secret sources of the runner's projected
    /// secrets volume.
    fn token_secrets(release: &Release) -> (Vec<String>, Vec<Value>) {
        let manifest = crate::render::render(release).unwrap();
        let secrets = manifest.objects.iter().filter(|o| o.kind() == "Secret");
        let names = secrets.map(|o| o.name().to_string()).collect();
        let volume = &deployment(release)["spec"]["template"]["spec"]["volumes"][0];
        let sources = volume["projected"]["sources"].as_array().unwrap().clone();
        (names, sources)
    }

    #[test]
    fn runners_secret_with_a_token_is_the_rendered_secret_s_name() {
        let items = json!([
            {"key": "runner-registration-token", "path": "runner-registration-token"},
            {"key": "runner-token", "path": "runner-token"},
        ]);
        // Both set (a Terraform module's values do): the chart's secret.yaml writes the token
        // into the Secret runners.secret names, and the Deployment reads that one.
        let release = with_token(&["runners.secret=runner-token-secret"]);
        let (names, sources) = token_secrets(&release);
        assert_eq!(names, ["runner-token-secret"]);
        assert_eq!(
            sources,
            [json!({"secret": {"name": "runner-token-secret", "items": items}})]
        );
        let annotations = &deployment(&release)["spec"]["template"]["metadata"]["annotations"];
        let sum = annotations["checksum/secrets"].clone();
        assert!(sum.is_string(), "{annotations}");
        // The checksum follows the token.
        let other = crate::render::tests::release(&[
            "runners.secret=runner-token-secret",
            "runnerToken=glrt-other",
        ]);
        let other_sum = &deployment(&other)["spec"]["template"]["metadata"]["annotations"];
        assert_ne!(other_sum["checksum/secrets"], sum);

        // Without runners.secret: the fullname, as before.
        let (names, sources) = token_secrets(&with_token(&[]));
        assert_eq!(names, ["r-gitlab-runner"]);
        assert_eq!(sources[0]["secret"]["name"], "r-gitlab-runner");

        // Without a token: the user's Secret, mounted whole, not rendered.
        let users = crate::render::tests::release(&["runners.secret=made-elsewhere"]);
        let (names, sources) = token_secrets(&users);
        assert!(names.is_empty(), "{names:?}");
        assert_eq!(sources, [json!({"secret": {"name": "made-elsewhere"}})]);
    }

    #[test]
    fn a_runners_secret_kubernetes_refuses_is_an_error_naming_the_key() {
        let release = with_token(&["runners.secret=Runner_Token"]);
        let err = crate::render::render(&release).unwrap_err().to_string();
        assert!(
            err.starts_with("runners.secret: Secret name \"Runner_Token\": 'R' at position 1"),
            "{err}"
        );
    }

    #[test]
    fn token_rotation_by_runnerctl_turns_the_runner_s_own_off() {
        let template = |sets: &[&str]| {
            let manifest = crate::render::render(&with_token(sets)).unwrap();
            let configmap = object_of(&manifest, "ConfigMap").unwrap();
            configmap["data"]["config.template.toml"].clone()
        };
        let flag = "FF_DISABLE_AUTOMATIC_TOKEN_ROTATION = true";
        // Unset or `runner`: as before.
        let default = template(&[]);
        assert!(!default.as_str().unwrap().contains("FF_"), "{default}");
        assert_eq!(template(&["runnerctl.tokenRotation=runner"]), default);
        let text = template(&["runners.config=", "runnerctl.tokenRotation=runnerctl"]);
        assert!(text.as_str().unwrap().contains(flag), "{text}");
        let config = "runners.config=[[runners]]\n  [runners.kubernetes]\n    image = \"a\"\n";
        let text = template(&[config, "runnerctl.tokenRotation=runnerctl"]);
        assert!(text.as_str().unwrap().contains(flag), "{text}");
        let text = template(&["runnerctl.tokenRotation=runnerctl"]);
        assert!(text.as_str().unwrap().contains(flag), "{text}");
        assert!(!template(&[config]).as_str().unwrap().contains("FF_"));
        // The schema refuses it first; values that skip it get the render's error.
        let bad = release(json!({"runnerctl": {"tokenRotation": "gitlab"}}));
        let Err(err) = Chart::new(&bad, &mut Vec::new()) else {
            panic!("an unknown tokenRotation is refused");
        };
        let err = err.to_string();
        assert!(
            err.starts_with("runnerctl.tokenRotation: expected null"),
            "{err}"
        );
    }

    #[test]
    fn image_tag_errors_name_image_tag() {
        let release = release(json!({"image": {"tag": "v{{ .Chart.AppVersion }}"}}));
        let Err(err) = Chart::new(&release, &mut Vec::new()) else {
            panic!("image.tag with an unsupported expression is refused");
        };
        assert!(
            err.to_string().starts_with("image.tag:1:2: unsupported"),
            "{err}"
        );
    }
}
