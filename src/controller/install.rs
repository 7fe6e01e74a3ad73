//! The controller's own objects, installed the way runnerctl installs a runner (an ApplySet
//! release named [`RELEASE`]): the CRD, a ServiceAccount, the least RBAC it needs, its
//! Deployment and a metrics Service.
//!
//! The ClusterRole grants what reconciling needs and nothing more: GitLabRunners (read, the
//! status, the finalizer); the kinds the chart renders (Secrets, ConfigMaps, ServiceAccounts,
//! Services, Deployments, Roles, RoleBindings, PodDisruptionBudgets, HorizontalPodAutoscalers;
//! created, changed, deleted: apply, prune, uninstall); pods read (the runner's pods and jobs
//! in status, the drain); and the runner's own permissions ([`default_rules`]), which
//! Kubernetes requires of whoever creates a Role granting them. A GitLabRunner whose
//! `rbac.rules` grant more is refused by the API server (the status says so). A Role in the
//! controller's namespace covers the leader election Lease.
use serde_json::{Value, json};

use super::crd::crd;
use crate::render::Object;
use crate::render::default_rules;

/// The controller's release name (its ApplySet, its objects' names).
pub const RELEASE: &str = "runnerctl-controller";
/// The namespace it goes to unless told otherwise.
pub const DEFAULT_NAMESPACE: &str = "runnerctl-system";
/// The port of `/metrics`, `/healthz` and `/readyz`.
pub const METRICS_PORT: u16 = 8080;

fn labels() -> Value {
    json!({"app.kubernetes.io/name": RELEASE, "app.kubernetes.io/managed-by": "runnerctl-install"})
}

/// The ClusterRole's rules.
pub fn cluster_rules() -> Vec<Value> {
    let all = [
        "get", "list", "watch", "create", "update", "patch", "delete",
    ];
    let mut rules = vec![
        json!({"apiGroups": ["runnerctl.io"], "resources": ["gitlabrunners"], "verbs": ["get", "list", "watch", "update", "patch"]}),
        json!({"apiGroups": ["runnerctl.io"], "resources": ["gitlabrunners/status"], "verbs": ["get", "update", "patch"]}),
        json!({"apiGroups": ["runnerctl.io"], "resources": ["gitlabrunners/finalizers"], "verbs": ["update"]}),
        json!({"apiGroups": [""], "resources": ["secrets", "configmaps", "serviceaccounts", "services"], "verbs": all}),
        json!({"apiGroups": ["apps"], "resources": ["deployments"], "verbs": all}),
        json!({"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["roles", "rolebindings"], "verbs": all}),
        json!({"apiGroups": ["policy"], "resources": ["poddisruptionbudgets"], "verbs": all}),
        json!({"apiGroups": ["autoscaling"], "resources": ["horizontalpodautoscalers"], "verbs": all}),
        json!({"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch"]}),
        json!({"apiGroups": [""], "resources": ["namespaces"], "verbs": ["get"]}),
    ];
    if let Value::Array(runner) = default_rules() {
        rules.extend(runner);
    }
    rules
}

/// The objects, in install order; with `create_namespace`, the namespace first.
pub fn objects(namespace: &str, image: &str, create_namespace: bool) -> Vec<Object> {
    let meta = |name: &str| json!({"name": name, "namespace": namespace, "labels": labels()});
    let mut out = Vec::new();
    if create_namespace {
        out.push(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace, "labels": {
            "pod-security.kubernetes.io/enforce": "restricted", "app.kubernetes.io/managed-by": "runnerctl-install"}}}));
    }
    let selector = json!({"app.kubernetes.io/name": RELEASE});
    out.extend([
        json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta(RELEASE)}),
        crd(),
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
               "metadata": {"name": RELEASE, "labels": labels()}, "rules": cluster_rules()}),
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
               "metadata": {"name": RELEASE, "labels": labels()},
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": RELEASE},
               "subjects": [{"kind": "ServiceAccount", "name": RELEASE, "namespace": namespace}]}),
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": meta(RELEASE),
               "rules": [{"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["get", "create", "update"]}]}),
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": meta(RELEASE),
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": RELEASE},
               "subjects": [{"kind": "ServiceAccount", "name": RELEASE, "namespace": namespace}]}),
        json!({"apiVersion": "v1", "kind": "Service", "metadata": meta(&format!("{RELEASE}-metrics")),
               "spec": {"selector": selector, "ports": [{"name": "metrics", "port": METRICS_PORT, "targetPort": "metrics"}]}}),
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta(RELEASE),
               "spec": {
                   "replicas": 1,
                   "selector": {"matchLabels": selector},
                   "template": {
                       "metadata": {"labels": selector},
                       "spec": {
                           "serviceAccountName": RELEASE,
                           "securityContext": {"runAsNonRoot": true, "runAsUser": 65532, "seccompProfile": {"type": "RuntimeDefault"}},
                           "containers": [{
                               "name": "controller",
                               "image": image,
                               "args": ["controller", "run",
                                        "--metrics-address", format!("0.0.0.0:{METRICS_PORT}"),
                                        "--leader-election-namespace", namespace],
                               "env": [{"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}],
                               "ports": [{"name": "metrics", "containerPort": METRICS_PORT}],
                               "livenessProbe": {"httpGet": {"path": "/healthz", "port": "metrics"}},
                               "readinessProbe": {"httpGet": {"path": "/readyz", "port": "metrics"}},
                               "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}, "limits": {"memory": "256Mi"}},
                               "securityContext": {"allowPrivilegeEscalation": false, "readOnlyRootFilesystem": true,
                                                   "capabilities": {"drop": ["ALL"]}}
                           }]
                       }
                   }
               }}),
    ]);
    out.into_iter()
        .map(|value| Object {
            source: "runnerctl controller install".into(),
            value,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_objects_in_install_order() {
        let kinds: Vec<String> = objects("ops", "example.org/runnerctl:1", true)
            .iter()
            .map(|o| o.kind().to_string())
            .collect();
        assert_eq!(
            kinds,
            [
                "Namespace",
                "ServiceAccount",
                "CustomResourceDefinition",
                "ClusterRole",
                "ClusterRoleBinding",
                "Role",
                "RoleBinding",
                "Service",
                "Deployment"
            ]
        );
        // Nothing cluster-wide it does not need: no wildcard, no escalate or bind.
        let rules = serde_json::to_string(&cluster_rules()).unwrap();
        assert!(!rules.contains("\"*\""));
        assert!(!rules.contains("escalate") && !rules.contains("\"bind\""));
    }
}
