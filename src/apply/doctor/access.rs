//! `permissions`: may the caller do everything apply will do? Derived from the manifest: per
//! rendered kind and namespace get, list, create, patch and delete (plan reads, server-side
//! apply creates and patches, prune lists and deletes); the ApplySet parent Secret; the
//! lock Lease (optional: apply runs without it, with a warning); the Namespace when runnerctl
//! creates it; and every permission a rendered Role or ClusterRole grants, as Kubernetes
//! lets a caller grant only what it holds itself (unless it may `escalate`). Each is asked of
//! the server with a SelfSubjectAccessReview.
use std::collections::{BTreeSet, HashMap};

use kube::core::{ApiResource, GroupVersionKind};
use serde::Serialize;
use serde_json::{Value, json};

use super::{Check, Status};
use crate::apply::{BoxFut, Engine, concurrently};
use crate::k8s::{CreateMode, Kind, split_api_version};
use crate::render::{Manifest, Release};

/// One permission: a verb on a resource (`pods`, `pods/exec`) of an API group, in a
/// namespace or cluster-wide.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Access {
    /// The verb: get, list, create, patch, delete, ...
    pub verb: String,
    /// The resource, with its subresource if any (`pods/log`).
    pub resource: String,
    /// The API group (`""` for the core group).
    pub group: String,
    /// The namespace; `None` for cluster-scoped resources or cluster-wide access.
    pub namespace: Option<String>,
    /// Apply fails without it (`false`: it runs with a warning, as for the lock).
    pub required: bool,
}

impl std::fmt::Display for Access {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.verb, self.resource)?;
        if !self.group.is_empty() {
            write!(f, ".{}", self.group)?;
        }
        match &self.namespace {
            Some(ns) => write!(f, " in namespace {ns}"),
            None => f.write_str(" cluster-wide"),
        }
    }
}

impl Access {
    fn new(verb: &str, group: &str, resource: &str, namespace: Option<&str>) -> Access {
        Access {
            verb: verb.into(),
            resource: resource.into(),
            group: group.into(),
            namespace: namespace.map(str::to_string),
            required: true,
        }
    }

    /// The `resourceAttributes` of an access review.
    pub(super) fn attributes(&self) -> Value {
        let (resource, sub) = self
            .resource
            .split_once('/')
            .unwrap_or((&self.resource, ""));
        let mut a = json!({"verb": self.verb, "group": self.group, "resource": resource});
        if !sub.is_empty() {
            a["subresource"] = json!(sub);
        }
        if let Some(ns) = &self.namespace {
            a["namespace"] = json!(ns);
        }
        a
    }
}

/// The verbs apply uses on a rendered object: plan gets it, server-side apply creates or
/// patches it, prune lists its kind and deletes.
const OBJECT_VERBS: &[&str] = &["get", "list", "create", "patch", "delete"];

/// Every permission apply needs for `manifest`; `resolve` gives the kind of an apiVersion and
/// kind (plural, scope), `None` when the server does not serve it. Sorted, no duplicates.
pub fn required_access(
    release: &Release,
    manifest: &Manifest,
    resolve: impl Fn(&str, &str) -> Option<Kind>,
) -> Vec<Access> {
    let ns = release.namespace.as_str();
    let mut out = BTreeSet::new();
    for o in &manifest.objects {
        let Some(kind) = resolve(o.api_version(), o.kind()) else {
            continue;
        };
        let r = &kind.resource;
        let at = kind.namespaced.then(|| o.namespace().unwrap_or(ns));
        let verbs: &[&str] = if o.kind() == "Namespace" {
            &["get", "create", "patch"]
        } else {
            OBJECT_VERBS
        };
        for v in verbs {
            out.insert(Access::new(v, &r.group, &r.plural, at));
        }
        if matches!(o.kind(), "Role" | "ClusterRole") {
            let at = (o.kind() == "Role").then(|| o.namespace().unwrap_or(ns));
            for rule in o.value["rules"].as_array().into_iter().flatten() {
                out.extend(rule_accesses(rule, at));
            }
        }
    }
    // The ApplySet parent.
    for v in ["get", "create", "patch"] {
        out.insert(Access::new(v, "", "secrets", Some(ns)));
    }
    // The lock: optional.
    for v in ["get", "create", "patch", "delete"] {
        let mut a = Access::new(v, "coordination.k8s.io", "leases", Some(ns));
        a.required = false;
        out.insert(a);
    }
    // An access needed both ways is required.
    let required: BTreeSet<(String, String, String, Option<String>)> = out
        .iter()
        .filter(|a| a.required)
        .map(|a| {
            (
                a.verb.clone(),
                a.resource.clone(),
                a.group.clone(),
                a.namespace.clone(),
            )
        })
        .collect();
    out.into_iter()
        .filter(|a| {
            a.required
                || !required.contains(&(
                    a.verb.clone(),
                    a.resource.clone(),
                    a.group.clone(),
                    a.namespace.clone(),
                ))
        })
        .collect()
}

/// The permissions one RBAC rule grants (resource names and non-resource URLs aside).
fn rule_accesses(rule: &Value, namespace: Option<&str>) -> Vec<Access> {
    let list = |k: &str| -> Vec<&str> {
        rule[k]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect()
    };
    let mut out = Vec::new();
    for g in list("apiGroups") {
        for r in list("resources") {
            for v in list("verbs") {
                out.push(Access::new(v, g, r, namespace));
            }
        }
    }
    out
}

/// The kind of `SelfSubjectAccessReview` or `SubjectAccessReview`.
pub(super) fn review_kind(kind: &str) -> Kind {
    let plural = format!("{}s", kind.to_lowercase());
    let gvk = GroupVersionKind::gvk("authorization.k8s.io", "v1", kind);
    Kind {
        resource: ApiResource::from_gvk_with_plural(&gvk, &plural),
        namespaced: false,
    }
}

/// Ask the server about each access (concurrently): for the caller
/// (SelfSubjectAccessReview), or for `user` in `groups` (SubjectAccessReview). `Ok` holds
/// whether each is allowed, in order.
pub(super) async fn review(
    engine: &Engine,
    accesses: &[Access],
    subject: Option<(&str, &[String])>,
) -> Result<Vec<bool>, kube::Error> {
    let (kind, base) = match subject {
        None => (review_kind("SelfSubjectAccessReview"), json!({})),
        Some((user, groups)) => (
            review_kind("SubjectAccessReview"),
            json!({"user": user, "groups": groups}),
        ),
    };
    let futs: Vec<BoxFut<Result<bool, kube::Error>>> = accesses
        .iter()
        .map(|a| {
            let mut spec = base.clone();
            spec["resourceAttributes"] = a.attributes();
            let body = json!({
                "apiVersion": "authorization.k8s.io/v1",
                "kind": kind.resource.kind,
                "spec": spec,
            });
            let (cluster, kind) = (engine.cluster.clone(), kind.clone());
            Box::pin(async move {
                let answer = cluster.create(&kind, None, &body, CreateMode::Once).await?;
                Ok(answer.pointer("/status/allowed").and_then(Value::as_bool) == Some(true))
            }) as BoxFut<_>
        })
        .collect();
    concurrently(futs).await.into_iter().collect()
}

impl Engine {
    /// `permissions`: a SelfSubjectAccessReview per permission apply needs.
    pub(super) async fn check_permissions(&self, release: &Release, manifest: &Manifest) -> Check {
        const ID: &str = "permissions";
        let mut kinds = HashMap::new();
        for o in &manifest.objects {
            let key = (o.api_version().to_string(), o.kind().to_string());
            if kinds.contains_key(&key) {
                continue;
            }
            let kind = self
                .cluster
                .resolve(o.api_version(), o.kind())
                .await
                .ok()
                .flatten();
            kinds.insert(key, kind);
        }
        let unknown: Vec<String> = kinds
            .iter()
            .filter(|(_, k)| k.is_none())
            .map(|((v, k), _)| {
                let (group, _) = split_api_version(v);
                crate::k8s::group_kind(group, k)
            })
            .collect();
        let needed = required_access(release, manifest, |v, k| {
            kinds
                .get(&(v.to_string(), k.to_string()))
                .cloned()
                .flatten()
        });
        let allowed = match review(self, &needed, None).await {
            Ok(a) => a,
            Err(e) => {
                return Check::new(ID, Status::Failed, format!("cannot ask the server: {}", super::said(&e)))
                    .fix("the caller needs create on selfsubjectaccessreviews.authorization.k8s.io (every authenticated user has it by default)");
            }
        };
        let missing: Vec<&Access> = needed
            .iter()
            .zip(&allowed)
            .filter(|(_, ok)| !**ok)
            .map(|(a, _)| a)
            .collect();
        let (required, optional): (Vec<&Access>, Vec<&Access>) =
            missing.iter().partition(|a| a.required);
        let mut details: Vec<String> = required.iter().map(|a| format!("missing: {a}")).collect();
        details.extend(optional.iter().map(|a| format!("missing (the lock): {a}")));
        details.extend(
            unknown
                .iter()
                .map(|k| format!("kind {k} is not served by the cluster: apply cannot create it")),
        );
        let asked = needed.len();
        if !required.is_empty() || !unknown.is_empty() {
            Check::new(
                ID,
                Status::Failed,
                format!(
                    "the caller lacks {} of {asked} permissions apply needs",
                    required.len() + unknown.len()
                ),
            )
            .details(details)
            .fix(
                "ask a cluster admin for the permissions listed (a Role in each namespace named, \
                 a ClusterRole for cluster-wide ones), or render less (e.g. rbac.create=false \
                 with an existing service account)",
            )
        } else if !optional.is_empty() {
            Check::new(
                ID,
                Status::Warning,
                format!(
                    "the caller may do everything apply needs ({asked} permissions) but take \
                     the release's lock"
                ),
            )
            .details(details)
            .fix("grant get, create, patch and delete on leases.coordination.k8s.io in the release namespace, so concurrent runs are kept apart")
        } else {
            Check::new(
                ID,
                Status::Ok,
                format!("the caller may do everything apply needs ({asked} permissions)"),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(sets: &[&str], create_namespace: bool) -> (Release, Manifest) {
        super::super::rendered(sets, create_namespace)
    }

    fn resolve(v: &str, k: &str) -> Option<Kind> {
        let (group, version) = split_api_version(v);
        let plural = format!("{}s", k.to_lowercase());
        let gvk = GroupVersionKind::gvk(group, version, k);
        Some(Kind {
            resource: ApiResource::from_gvk_with_plural(&gvk, &plural),
            namespaced: !matches!(k, "Namespace" | "ClusterRole" | "ClusterRoleBinding"),
        })
    }

    fn texts(a: &[Access]) -> Vec<String> {
        a.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn apply_needs_every_verb_on_each_rendered_kind_and_the_parent() {
        let (r, m) = manifest(&[], false);
        let t = texts(&required_access(&r, &m, resolve));
        for want in [
            "patch deployments.apps in namespace ci",
            "delete configmaps in namespace ci",
            "list secrets in namespace ci",
            "create secrets in namespace ci",
            "create leases.coordination.k8s.io in namespace ci",
        ] {
            assert!(t.contains(&want.to_string()), "{want} not in {t:#?}");
        }
        assert!(!t.iter().any(|a| a.contains("roles")), "{t:#?}");
        assert!(!t.iter().any(|a| a.contains("namespaces")), "{t:#?}");
    }

    #[test]
    fn roles_need_what_they_grant_and_a_created_namespace_is_cluster_wide() {
        let (r, m) = manifest(&["rbac.create=true"], true);
        let a = required_access(&r, &m, resolve);
        let t = texts(&a);
        for want in [
            "create roles.rbac.authorization.k8s.io in namespace ci",
            "create pods/exec in namespace ci",
            "watch pods in namespace ci",
            "create namespaces cluster-wide",
        ] {
            assert!(t.contains(&want.to_string()), "{want} not in {t:#?}");
        }
        // The lock's leases are the only optional ones.
        assert!(
            a.iter()
                .filter(|a| !a.required)
                .all(|a| a.resource == "leases")
        );
        let exec = a.iter().find(|a| a.resource == "pods/exec").unwrap();
        assert_eq!(
            exec.attributes(),
            json!({"verb": exec.verb, "group": "", "resource": "pods", "subresource": "exec", "namespace": "ci"})
        );
    }
}
