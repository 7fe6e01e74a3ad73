//! `job-rbac`: does the runner's service account hold, where jobs run, what GitLab Runner's
//! Kubernetes executor needs ("Configure runner API permissions" in its documentation)?
//!
//! | resource | verbs | when |
//! |---|---|---|
//! | pods | create, delete, get, list, watch | always |
//! | pods/attach | create, delete, get, patch | default strategy (`FF_USE_LEGACY_KUBERNETES_EXECUTION_STRATEGY` off) |
//! | pods/exec | create, delete, get, patch | legacy strategy (the flag on) |
//! | pods/log | get, list | always |
//! | secrets | create, delete, get, update | always |
//! | serviceaccounts | get | always |
//! | services | create, get | jobs with services (the config or build mode names one) |
//! | events | list, watch | `FF_PRINT_POD_EVENTS` on |
//! | namespaces | create, delete | `namespace_per_job` (cluster-wide) |
//!
//! Rendered Role and ClusterRole rules bound to the runner's service account are matched
//! here; without rendered RBAC (`rbac.create=false`), the server is asked with a
//! SubjectAccessReview for the service account.
use serde::Serialize;
use serde_json::Value;

use super::access::{Access, review};
use super::{Check, Status};
use crate::apply::Engine;
use crate::render::{Manifest, Release};

/// A permission the runner needs for jobs, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Permission {
    /// The permission (namespace `None`: cluster-wide).
    pub access: Access,
    /// When GitLab Runner needs it.
    pub because: &'static str,
    /// Only some jobs need it (services a job may name): a warning when missing.
    pub optional: bool,
}

/// The feature flag that switches the executor back to `exec` instead of `attach`.
const LEGACY_STRATEGY: &str = "FF_USE_LEGACY_KUBERNETES_EXECUTION_STRATEGY";
/// The feature flag that prints pod warning events into the job log.
const PRINT_POD_EVENTS: &str = "FF_PRINT_POD_EVENTS";

/// Whether a feature flag is on for the runner: `[runners.feature_flags]` of the rendered
/// config, else the runner container's environment (`envVars`, `extraEnv`).
fn feature_flag(manifest: &Manifest, flag: &str) -> bool {
    let truthy = |s: &str| matches!(s.trim().to_ascii_lowercase().as_str(), "true" | "1" | "t");
    if let Some(v) = runner_config(manifest)
        .as_ref()
        .and_then(|r| r.get("feature_flags"))
        .and_then(|f| f.get(flag))
    {
        return v.as_bool().unwrap_or(false) || v.as_str().is_some_and(truthy);
    }
    deployment(manifest)
        .and_then(|d| d.pointer("/spec/template/spec/containers/0/env"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|e| e["name"] == flag)
        .any(|e| e["value"].as_str().is_some_and(truthy))
}

/// The rendered Deployment (the runner).
pub(super) fn deployment(manifest: &Manifest) -> Option<&Value> {
    manifest
        .objects
        .iter()
        .find(|o| o.kind() == "Deployment" && o.name() == manifest.jobs.runner)
        .map(|o| &o.value)
}

/// The `[[runners]]` entry of the rendered `config.template.toml`, if any.
fn runner_config(manifest: &Manifest) -> Option<toml::Table> {
    let text = manifest
        .objects
        .iter()
        .find(|o| o.kind() == "ConfigMap" && o.name() == manifest.jobs.runner)?
        .value
        .pointer("/data/config.template.toml")?
        .as_str()?;
    let t: toml::Table = toml::from_str(text).ok()?;
    t.get("runners")?.as_array()?.first()?.as_table().cloned()
}

/// Jobs use services: the config or the build mode names one.
fn uses_services(manifest: &Manifest) -> bool {
    let configured = runner_config(manifest)
        .as_ref()
        .and_then(|r| r.get("kubernetes"))
        .and_then(|k| k.get("services"))
        .and_then(toml::Value::as_array)
        .is_some_and(|s| !s.is_empty());
    configured
        || manifest
            .jobs
            .build_mode
            .and_then(crate::render::build_mode::BuildMode::service_image)
            .is_some()
}

/// What the runner needs for jobs, by GitLab's table and this config.
pub fn needed_job_permissions(manifest: &Manifest) -> Vec<Permission> {
    let ns = manifest.jobs.namespace.as_str();
    let legacy = feature_flag(manifest, LEGACY_STRATEGY);
    let (io, io_why) = if legacy {
        (
            "pods/exec",
            "the legacy execution strategy (FF_USE_LEGACY_KUBERNETES_EXECUTION_STRATEGY) runs scripts with exec",
        )
    } else {
        (
            "pods/attach",
            "the default execution strategy attaches to the build container",
        )
    };
    let mut table: Vec<(&str, &[&str], &'static str, bool)> = vec![
        (
            "pods",
            &["create", "delete", "get", "list", "watch"],
            "job pods",
            false,
        ),
        (io, &["create", "delete", "get", "patch"], io_why, false),
        ("pods/log", &["get", "list"], "job logs", false),
        (
            "secrets",
            &["create", "delete", "get", "update"],
            "job credentials (registry, variables)",
            false,
        ),
        (
            "serviceaccounts",
            &["get"],
            "the job pod's service account",
            false,
        ),
    ];
    let services = uses_services(manifest);
    table.push((
        "services",
        &["create", "get"],
        if services {
            "the config's services"
        } else {
            "jobs that name services: in .gitlab-ci.yml"
        },
        !services,
    ));
    if feature_flag(manifest, PRINT_POD_EVENTS) {
        table.push((
            "events",
            &["list", "watch"],
            "pod warning events (FF_PRINT_POD_EVENTS)",
            false,
        ));
    }
    let mut out = Vec::new();
    for (resource, verbs, because, optional) in table {
        for verb in verbs {
            out.push(Permission {
                access: access(verb, resource, Some(ns)),
                because,
                optional,
            });
        }
    }
    if manifest.jobs.namespace_per_job {
        for verb in ["create", "delete"] {
            out.push(Permission {
                access: access(verb, "namespaces", None),
                because: "a namespace per job (namespace_per_job)",
                optional: false,
            });
        }
    }
    out
}

fn access(verb: &str, resource: &str, ns: Option<&str>) -> Access {
    Access {
        verb: verb.into(),
        resource: resource.into(),
        group: String::new(),
        namespace: ns.map(str::to_string),
        required: true,
    }
}

/// Whether RBAC `rules` allow `a` (Kubernetes' matching: `*` for any group, resource or
/// verb, `*/sub` for a subresource of any resource; rules with `resourceNames` never cover
/// the runner's randomly named objects).
pub fn rules_allow(rules: &[Value], a: &Access) -> bool {
    let has = |rule: &Value, key: &str, want: &dyn Fn(&str) -> bool| {
        rule[key]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .any(want)
    };
    let sub = a.resource.split_once('/').map(|(_, s)| s);
    rules.iter().any(|rule| {
        rule["resourceNames"].as_array().is_none_or(Vec::is_empty)
            && has(rule, "apiGroups", &|g| g == "*" || g == a.group)
            && has(rule, "resources", &|r| {
                r == "*" || r == a.resource || sub.is_some_and(|s| r == format!("*/{s}"))
            })
            && has(rule, "verbs", &|v| v == "*" || v == a.verb)
    })
}

/// The runner's service account (`namespace`, `name`) from the rendered Deployment.
fn service_account(manifest: &Manifest, release: &Release) -> (String, String) {
    let d = deployment(manifest);
    let ns = d
        .and_then(|d| d.pointer("/metadata/namespace"))
        .and_then(Value::as_str)
        .unwrap_or(&release.namespace)
        .to_string();
    let name = d
        .and_then(|d| d.pointer("/spec/template/spec/serviceAccountName"))
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .unwrap_or("default")
        .to_string();
    (ns, name)
}

/// The rendered rules bound to the service account: `(namespace of the binding or None for
/// cluster-wide, rules)`. Empty when runnerctl renders no binding for it.
fn bound_rules(manifest: &Manifest, sa: &(String, String)) -> Vec<(Option<String>, Vec<Value>)> {
    let find = |kind: &str, name: &str, ns: Option<&str>| {
        manifest
            .objects
            .iter()
            .find(|o| o.kind() == kind && o.name() == name && o.namespace() == ns)
            .and_then(|o| o.value["rules"].as_array().cloned())
    };
    let mut out = Vec::new();
    for b in manifest
        .objects
        .iter()
        .filter(|o| matches!(o.kind(), "RoleBinding" | "ClusterRoleBinding"))
    {
        let binds_sa = b.value["subjects"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|s| {
                s["kind"] == "ServiceAccount"
                    && s["name"] == sa.1.as_str()
                    && s["namespace"].as_str().unwrap_or(sa.0.as_str()) == sa.0
            });
        if !binds_sa {
            continue;
        }
        let role = b.value["roleRef"]["name"].as_str().unwrap_or("");
        let rules = match b.value["roleRef"]["kind"].as_str() {
            Some("Role") => find("Role", role, b.namespace()),
            _ => find("ClusterRole", role, None),
        };
        let scope = (b.kind() == "RoleBinding").then(|| b.namespace().unwrap_or("").to_string());
        out.push((scope, rules.unwrap_or_default()));
    }
    out
}

impl Engine {
    /// `job-rbac`: the rendered rules, or a SubjectAccessReview for an existing account.
    pub(super) async fn check_job_rbac(&self, release: &Release, manifest: &Manifest) -> Check {
        const ID: &str = "job-rbac";
        let needed = needed_job_permissions(manifest);
        let sa = service_account(manifest, release);
        let who = format!("service account {}/{}", sa.0, sa.1);
        let bound = bound_rules(manifest, &sa);
        let (allowed, how) = if bound.is_empty() {
            let user = format!("system:serviceaccount:{}:{}", sa.0, sa.1);
            let groups = vec![
                "system:serviceaccounts".to_string(),
                format!("system:serviceaccounts:{}", sa.0),
                "system:authenticated".to_string(),
            ];
            let accesses: Vec<Access> = needed.iter().map(|p| p.access.clone()).collect();
            match review(self, &accesses, Some((&user, &groups))).await {
                Ok(a) => (a, "asked the server (no rendered RBAC)"),
                Err(e) => {
                    return Check::new(
                        ID,
                        Status::Warning,
                        format!("runnerctl renders no RBAC for {who} and cannot ask the server about it: {}", super::said(&e)),
                    )
                    .fix("check the account's permissions against GitLab's table (docs/guide/rendering.md, runnerctl doctor), or set rbac.create=true");
                }
            }
        } else {
            let allowed = needed
                .iter()
                .map(|p| {
                    bound.iter().any(|(scope, rules)| {
                        (scope.is_none() || *scope == p.access.namespace)
                            && rules_allow(rules, &p.access)
                    })
                })
                .collect();
            (allowed, "the rendered Role/ClusterRole rules")
        };
        let mut failed = Vec::new();
        let mut warned = Vec::new();
        for (p, ok) in needed.iter().zip(allowed) {
            if !ok {
                let line = format!("missing: {} (for {})", p.access, p.because);
                if p.optional {
                    warned.push(line)
                } else {
                    failed.push(line)
                }
            }
        }
        let jobs_ns = &manifest.jobs.namespace;
        if !failed.is_empty() {
            let n = failed.len();
            failed.extend(warned);
            Check::new(
                ID,
                Status::Failed,
                format!("{who} lacks {n} permission(s) jobs need in namespace {jobs_ns} ({how})"),
            )
            .details(failed)
            .fix("leave rbac.rules empty (runnerctl's defaults follow GitLab's table) or add the missing rules; with rbac.create=false, grant them to the account in the job namespace")
        } else if !warned.is_empty() {
            Check::new(
                ID,
                Status::Warning,
                format!(
                    "{who} may run jobs in namespace {jobs_ns}, but not jobs with services ({how})"
                ),
            )
            .details(warned)
            .fix("add create and get on services to rbac.rules if jobs use services:")
        } else {
            Check::new(
                ID,
                Status::Ok,
                format!(
                    "{who} holds the {} permissions jobs need in namespace {jobs_ns} ({how})",
                    needed.len()
                ),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn manifest(sets: &[&str]) -> Manifest {
        let sets: Vec<&str> = ["rbac.create=true"].iter().chain(sets).copied().collect();
        super::super::rendered(&sets, false).1
    }

    /// Assert that every one of `wanted` is in `list`.
    fn assert_has(list: &[String], wanted: &[&str]) {
        for w in wanted {
            assert!(list.iter().any(|l| l == w), "{w:?} missing from {list:#?}");
        }
    }

    fn resources(m: &Manifest) -> Vec<String> {
        needed_job_permissions(m)
            .iter()
            .map(|p| p.access.to_string())
            .collect()
    }

    #[test]
    fn attach_by_default_exec_with_the_legacy_strategy() {
        let r = resources(&manifest(&[]));
        assert_has(&r, &["create pods/attach in namespace ci"]);
        assert!(
            !r.iter()
                .any(|a| a.contains("pods/exec") || a.contains("events"))
        );
        let r = resources(&manifest(&[
            "envVars[0].name=FF_USE_LEGACY_KUBERNETES_EXECUTION_STRATEGY",
            "envVars[0].value=true",
            "envVars[1].name=FF_PRINT_POD_EVENTS",
            "envVars[1].value=true",
        ]));
        assert_has(
            &r,
            &[
                "patch pods/exec in namespace ci",
                "watch events in namespace ci",
            ],
        );
        assert!(!r.iter().any(|a| a.contains("pods/attach")));
    }

    #[test]
    fn feature_flags_in_the_config_and_namespace_per_job() {
        let m = manifest(&[
            "rbac.clusterWideAccess=true",
            "runners.config=[[runners]]\n[runners.feature_flags]\nFF_USE_LEGACY_KUBERNETES_EXECUTION_STRATEGY = true\n[runners.kubernetes]\nnamespace_per_job = true\n",
        ]);
        let r = resources(&m);
        assert_has(
            &r,
            &[
                "get pods/exec in namespace ci",
                "create namespaces cluster-wide",
            ],
        );
    }

    #[test]
    fn rule_matching_follows_kubernetes() {
        let a = access("create", "pods/exec", Some("ci"));
        assert!(rules_allow(
            &[json!({"apiGroups": [""], "resources": ["pods/exec"], "verbs": ["create"]})],
            &a
        ));
        assert!(rules_allow(
            &[json!({"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]})],
            &a
        ));
        assert!(rules_allow(
            &[json!({"apiGroups": [""], "resources": ["*/exec"], "verbs": ["*"]})],
            &a
        ));
        assert!(!rules_allow(
            &[json!({"apiGroups": [""], "resources": ["pods"], "verbs": ["*"]})],
            &a
        ));
        assert!(!rules_allow(
            &[json!({"apiGroups": ["apps"], "resources": ["pods/exec"], "verbs": ["*"]})],
            &a
        ));
        assert!(!rules_allow(
            &[
                json!({"apiGroups": [""], "resources": ["pods/exec"], "verbs": ["create"], "resourceNames": ["x"]})
            ],
            &a
        ));
    }

    #[test]
    fn default_rules_cover_the_table_and_narrow_rules_do_not() {
        let m = manifest(&[]);
        let sa = ("ci".to_string(), "gitlab-runner".to_string());
        let bound = bound_rules(&m, &sa);
        assert_eq!(bound.len(), 1, "{bound:?}");
        for p in needed_job_permissions(&m) {
            assert!(rules_allow(&bound[0].1, &p.access), "{}", p.access);
        }
        let m = manifest(&[
            "rbac.rules[0].resources={pods}",
            "rbac.rules[0].verbs={get,list,watch,create,delete}",
        ]);
        let bound = bound_rules(&m, &sa);
        let missing: Vec<String> = needed_job_permissions(&m)
            .iter()
            .filter(|p| !rules_allow(&bound[0].1, &p.access))
            .map(|p| p.access.to_string())
            .collect();
        assert_has(
            &missing,
            &[
                "create pods/attach in namespace ci",
                "update secrets in namespace ci",
            ],
        );
    }
}
