//! What the templates see besides `Values` and `Release`: names, labels and decisions the
//! chart computes in helpers, worked out once here.
use serde::Serialize;
use serde_json::{Map, Value, json};

use super::{Error, Release};
use crate::runner_config::{self, RunnerConfig, Scope};

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
    json!([
        {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch", "create", "delete"]},
        {"apiGroups": [""], "resources": ["pods/exec", "pods/attach"], "verbs": ["create", "delete", "get", "patch"]},
        {"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get", "list"]},
        {"apiGroups": [""], "resources": ["secrets", "configmaps"], "verbs": ["get", "create", "update", "delete"]},
        {"apiGroups": [""], "resources": ["serviceaccounts"], "verbs": ["get"]},
        {"apiGroups": [""], "resources": ["services"], "verbs": ["get", "create"]},
        {"apiGroups": [""], "resources": ["events"], "verbs": ["list", "watch"]}
    ])
}

/// Derived values for the templates (the `chart` variable).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Derived {
    pub fullname: String,
    pub namespace: String,
    pub job_namespace: String,
    pub labels: Map<String, Value>,
    pub selector: Map<String, Value>,
    pub pod_labels: Map<String, Value>,
    pub image: String,
    pub config_dir: String,
    pub create_service_account: bool,
    pub service_account_name: String,
    pub token_secret: bool,
    pub secret_name: Option<String>,
    pub runner_token: String,
    pub registration_token: String,
    pub runner_config: String,
    pub sets_namespace: bool,
    pub privileged_jobs: bool,
    pub rbac_rules: Value,
    pub session_server: bool,
    pub hpa: bool,
    pub monitoring_api: bool,
    pub pod_security_level: &'static str,
    pub create_namespace: bool,
    pub pod_image_pull_secrets: Vec<Value>,
    pub service_account_image_pull_secrets: Vec<Value>,
    pub service_monitor_endpoint: Map<String, Value>,
    pub pod_monitor_endpoint: Map<String, Value>,
}

/// Look up a dotted path in a values tree; `null` counts as absent.
pub fn lookup<'a>(values: &'a Value, path: &str) -> Option<&'a Value> {
    let mut cur = values;
    for key in path.split('.') {
        cur = cur.as_object()?.get(key)?;
    }
    (!cur.is_null()).then_some(cur)
}

fn string_at(values: &Value, path: &str) -> Option<String> {
    match lookup(values, path)? {
        Value::String(s) if s.is_empty() => None,
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

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
    for key in [
        "interval",
        "scheme",
        "path",
        "tlsConfig",
        "metricRelabelings",
        "relabelings",
    ] {
        let set = lookup(values, &format!("{base}.{key}")).filter(|v| match v {
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

impl Derived {
    /// Work out everything the templates need but should not compute themselves.
    pub fn new(release: &Release, warnings: &mut Vec<String>) -> Result<Derived, Error> {
        let values = release.values.as_json();
        if string_at(values, "gitlabUrl").is_none() {
            return Err(Error::MissingGitlabUrl);
        }
        let runner_token = string_at(values, "runnerToken").unwrap_or_default();
        let registration_token = string_at(values, "runnerRegistrationToken").unwrap_or_default();
        let token_secret = !runner_token.is_empty() || !registration_token.is_empty();
        let fullname = fullname(&release.name, values);
        let user_secret = string_at(values, "runners.secret");
        if !token_secret && user_secret.is_none() {
            return Err(Error::MissingToken);
        }
        let secret_name = if token_secret {
            Some(fullname.clone())
        } else {
            user_secret
        };
        let namespace = string_at(values, "namespace").unwrap_or_else(|| release.namespace.clone());
        let job_namespace =
            string_at(values, "runners.jobNamespace").unwrap_or_else(|| namespace.clone());

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
        let mut pod_base = selector.clone();
        pod_base.insert("release".into(), release.name.clone().into());
        let pod_labels = merged(&pod_base, lookup(values, "podLabels"));

        let registry = string_at(values, "image.registry").unwrap_or_default();
        let repo =
            string_at(values, "image.image").unwrap_or_else(|| "gitlab-org/gitlab-runner".into());
        let tag_source = string_at(values, "image.tag").unwrap_or_else(|| DEFAULT_IMAGE_TAG.into());
        let scope = Scope {
            release_name: &release.name,
            release_namespace: &release.namespace,
            values,
        };
        let tag = runner_config::evaluate(&tag_source, &scope)
            .map_err(|e| Error::InvalidValue {
                key: "image.tag".into(),
                message: e.to_string(),
            })?
            .text;
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

        let rbac_create = bool_at(values, "rbac.create").unwrap_or(false);
        let create_service_account =
            bool_at(values, "serviceAccount.create").unwrap_or(rbac_create);
        let service_account_name = if create_service_account {
            string_at(values, "serviceAccount.name").unwrap_or_else(|| fullname.clone())
        } else {
            string_at(values, "serviceAccount.name")
                .or_else(|| string_at(values, "rbac.serviceAccountName"))
                .unwrap_or_default()
        };

        let want_privileged = bool_at(values, "runners.privileged").unwrap_or(false);
        let RunnerConfig {
            text: runner_config,
            privileged: privileged_jobs,
            sets_namespace,
            namespace: config_namespace,
            warnings: cfg_warnings,
        } = match string_at(values, "runners.config") {
            Some(source) => runner_config::process(&source, &scope, want_privileged)?,
            None => RunnerConfig {
                text: String::new(),
                privileged: want_privileged,
                sets_namespace: false,
                namespace: None,
                warnings: Vec::new(),
            },
        };
        warnings.extend(cfg_warnings);
        // Where the job pods really run: the config's namespace wins over the values.
        let pods_namespace = config_namespace
            .as_deref()
            .unwrap_or(&job_namespace)
            .to_string();
        if privileged_jobs && (!release.create_namespace || pods_namespace != release.namespace) {
            let hint = if pods_namespace == release.namespace {
                ", or pass --create-namespace to let runnerctl manage it"
            } else {
                " (runnerctl creates only the release namespace)"
            };
            warnings.push(format!(
                "job pods are privileged: namespace \"{pods_namespace}\" must allow privileged pods under \
                 Pod Security Admission (kubectl label namespace {pods_namespace} \
                 pod-security.kubernetes.io/enforce=privileged){hint}"
            ));
        }

        let rbac_rules = match lookup(values, "rbac.rules") {
            Some(Value::Array(rules)) if !rules.is_empty() => Value::Array(
                rules
                    .iter()
                    .map(|rule| {
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
                    })
                    .collect(),
            ),
            _ => default_rules(),
        };
        let mut rbac_rules = rbac_rules;
        if bool_at(values, "rbac.podSecurityPolicy.enabled").unwrap_or(false)
            && let Value::Array(rules) = &mut rbac_rules
        {
            let names = lookup(values, "rbac.podSecurityPolicy.resourceNames")
                .cloned()
                .unwrap_or(json!([]));
            rules.push(json!({"apiGroups": ["policy"], "resources": ["podsecuritypolicies"], "verbs": ["use"], "resourceNames": names}));
        }

        let hpa = matches!(lookup(values, "hpa"), Some(Value::Object(m)) if !m.is_empty());
        let replicas = lookup(values, "replicas").and_then(Value::as_i64);
        let session_server = bool_at(values, "sessionServer.enabled").unwrap_or(false)
            && replicas.unwrap_or(1) == 1
            && !hpa;
        if bool_at(values, "sessionServer.enabled").unwrap_or(false) && !session_server {
            warnings.push("sessionServer.enabled needs exactly one replica (replicas: 1, no hpa); the session server is not rendered".into());
        }
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

        Ok(Derived {
            fullname,
            namespace,
            job_namespace,
            labels,
            selector,
            pod_labels,
            image,
            config_dir,
            create_service_account,
            service_account_name,
            token_secret,
            secret_name,
            runner_token,
            registration_token,
            runner_config,
            sets_namespace,
            privileged_jobs,
            rbac_rules,
            session_server,
            hpa,
            monitoring_api,
            pod_security_level: if privileged_jobs && pods_namespace == release.namespace {
                "privileged"
            } else {
                "baseline"
            },
            create_namespace: release.create_namespace,
            pod_image_pull_secrets: pull_secrets(values, &["imagePullSecrets"]),
            service_account_image_pull_secrets: pull_secrets(
                values,
                &["serviceAccount.imagePullSecrets", "rbac.imagePullSecrets"],
            ),
            service_monitor_endpoint: monitor_endpoint(values, "metrics.serviceMonitor"),
            pod_monitor_endpoint: monitor_endpoint(values, "metrics.podMonitor"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
