//! Naming and ordering Kubernetes objects: [`ObjectRef`] (`Kind/namespace/name`), the
//! Namespace predicate, and helm's install order, shared by render, plan, apply, prune,
//! uninstall and status.
use std::cmp::Ordering;
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// What `value.pointer(ptr)` finds (RFC 6901), without the copy of each reference token that
/// serde_json makes: paths with no `~` escape are followed as they are.
pub fn pointer<'a>(value: &'a Value, ptr: &str) -> Option<&'a Value> {
    if ptr.contains('~') {
        return value.pointer(ptr);
    }
    if ptr.is_empty() {
        return Some(value);
    }
    ptr.strip_prefix('/')?
        .split('/')
        .try_fold(value, |target, token| match target {
            Value::Object(map) => map.get(token),
            Value::Array(list) => array_index(token).and_then(|i| list.get(i)),
            _ => None,
        })
}

/// A reference token as an array index: digits, no sign, no leading zero.
fn array_index(token: &str) -> Option<usize> {
    if token.starts_with('+') || (token.starts_with('0') && token.len() != 1) {
        return None;
    }
    token.parse().ok()
}

/// One object, shown as `Kind/namespace/name` (or `Kind/name` when cluster-scoped).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ObjectRef {
    /// `apiVersion`.
    #[serde(rename = "apiVersion")]
    pub api_version: String,
    /// `kind`.
    pub kind: String,
    /// Namespace, `None` for cluster-scoped objects.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Name.
    pub name: String,
}

impl ObjectRef {
    /// The reference of a JSON object (apiVersion, kind, metadata.namespace, metadata.name).
    pub fn of(v: &Value) -> Self {
        let s = |p: &str| pointer(v, p).and_then(Value::as_str);
        ObjectRef {
            api_version: s("/apiVersion").unwrap_or("").to_string(),
            kind: s("/kind").unwrap_or("").to_string(),
            namespace: s("/metadata/namespace").map(str::to_string),
            name: s("/metadata/name").unwrap_or("").to_string(),
        }
    }

    /// A cluster-scoped core `Namespace`.
    pub fn namespace(name: &str) -> Self {
        ObjectRef {
            api_version: "v1".into(),
            kind: "Namespace".into(),
            namespace: None,
            name: name.to_string(),
        }
    }

    /// The API group (`""` for the core group).
    pub fn group(&self) -> &str {
        self.api_version
            .split_once('/')
            .map_or("", |(group, _)| group)
    }

    /// Whether this is a core `Namespace`.
    pub fn is_namespace(&self) -> bool {
        is_namespace(self.group(), &self.kind)
    }
}

impl fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.namespace {
            Some(ns) => write!(f, "{}/{}/{}", self.kind, ns, self.name),
            None => write!(f, "{}/{}", self.kind, self.name),
        }
    }
}

/// A label of an object (`metadata.labels[key]`), if it is a string.
pub fn label<'a>(obj: &'a Value, key: &str) -> Option<&'a str> {
    metadata_entry(obj, "labels", key)
}

/// An annotation of an object (`metadata.annotations[key]`), if it is a string.
pub fn annotation<'a>(obj: &'a Value, key: &str) -> Option<&'a str> {
    metadata_entry(obj, "annotations", key)
}

fn metadata_entry<'a>(obj: &'a Value, map: &str, key: &str) -> Option<&'a str> {
    obj.get("metadata")?.get(map)?.get(key)?.as_str()
}

/// Whether a group and kind name the core `Namespace` (the one kind that is never pruned and
/// is deleted only on request).
pub fn is_namespace(group: &str, kind: &str) -> bool {
    group.is_empty() && kind == "Namespace"
}

/// Kinds in the order helm installs them.
pub const INSTALL_ORDER: &[&str] = &[
    "PriorityClass",
    "Namespace",
    "NetworkPolicy",
    "ResourceQuota",
    "LimitRange",
    "PodSecurityPolicy",
    "PodDisruptionBudget",
    "ServiceAccount",
    "Secret",
    "SecretList",
    "ConfigMap",
    "StorageClass",
    "PersistentVolume",
    "PersistentVolumeClaim",
    "CustomResourceDefinition",
    "ClusterRole",
    "ClusterRoleList",
    "ClusterRoleBinding",
    "ClusterRoleBindingList",
    "Role",
    "RoleList",
    "RoleBinding",
    "RoleBindingList",
    "Service",
    "DaemonSet",
    "Pod",
    "ReplicationController",
    "ReplicaSet",
    "Deployment",
    "HorizontalPodAutoscaler",
    "StatefulSet",
    "Job",
    "CronJob",
    "IngressClass",
    "Ingress",
    "APIService",
    "MutatingWebhookConfiguration",
    "ValidatingWebhookConfiguration",
];

/// Position of a kind in the install order; unknown kinds sort after all known ones.
pub fn install_rank(kind: &str) -> usize {
    INSTALL_ORDER
        .iter()
        .position(|k| *k == kind)
        .unwrap_or(INSTALL_ORDER.len())
}

/// What breaks ties within one rank: kind, namespace, name, apiVersion, in this order.
pub(crate) fn tie_key<'a>(
    kind: &'a str,
    namespace: Option<&'a str>,
    name: &'a str,
    api_version: &'a str,
) -> (&'a str, Option<&'a str>, &'a str, &'a str) {
    (kind, namespace, name, api_version)
}

/// Ties within one rank (see [`tie_key`]).
fn tie_break(a: &ObjectRef, b: &ObjectRef) -> Ordering {
    tie_key(&a.kind, a.namespace.as_deref(), &a.name, &a.api_version).cmp(&tie_key(
        &b.kind,
        b.namespace.as_deref(),
        &b.name,
        &b.api_version,
    ))
}

/// helm's install order: by kind rank, then kind, namespace and name.
pub fn install_order(a: &ObjectRef, b: &ObjectRef) -> Ordering {
    install_rank(&a.kind)
        .cmp(&install_rank(&b.kind))
        .then_with(|| tie_break(a, b))
}

/// The order of deletion (prune, uninstall): kinds in reverse install order, names ascending.
pub fn uninstall_order(a: &ObjectRef, b: &ObjectRef) -> Ordering {
    install_rank(&b.kind)
        .cmp(&install_rank(&a.kind))
        .then_with(|| tie_break(a, b))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn pointer_finds_what_serde_json_finds() {
        let v = json!({"a": {"b/c": 1, "m~n": 2, "": {"": 3}, "l": [10, {"x": 11}]},
                        "0": "zero", "k": null});
        let paths = [
            "",
            "/",
            "/a",
            "/a/b~1c",
            "/a/m~0n",
            "/a/b/c",
            "/a/",
            "/a//",
            "/a/l",
            "/a/l/0",
            "/a/l/1/x",
            "/a/l/2",
            "/a/l/01",
            "/a/l/+1",
            "/a/l/-1",
            "/a/l/x",
            "/0",
            "/k",
            "/k/x",
            "a",
            "/a/l/1/x/y",
            "/a/l/18446744073709551616",
        ];
        for p in paths {
            assert_eq!(pointer(&v, p), v.pointer(p), "{p:?}");
        }
        assert_eq!(pointer(&v, "/a/l/1/x"), Some(&json!(11)));
    }

    fn r(kind: &str, ns: Option<&str>, name: &str) -> ObjectRef {
        ObjectRef {
            api_version: "v1".into(),
            kind: kind.into(),
            namespace: ns.map(str::to_string),
            name: name.into(),
        }
    }

    #[test]
    fn display() {
        let v = json!({"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"r","namespace":"ns"}});
        assert_eq!(ObjectRef::of(&v).to_string(), "Deployment/ns/r");
        assert_eq!(ObjectRef::of(&v).group(), "apps");
        let v = json!({"apiVersion":"v1","kind":"Namespace","metadata":{"name":"ns"}});
        assert_eq!(ObjectRef::of(&v).to_string(), "Namespace/ns");
        assert!(ObjectRef::of(&v).is_namespace());
        assert_eq!(ObjectRef::of(&v), ObjectRef::namespace("ns"));
    }

    #[test]
    fn labels_and_annotations() {
        let v = json!({"metadata":{"labels":{"a":"1","n":2},"annotations":{"b":"2"}}});
        assert_eq!(label(&v, "a"), Some("1"));
        assert_eq!(label(&v, "n"), None, "not a string");
        assert_eq!(label(&v, "b"), None);
        assert_eq!(annotation(&v, "b"), Some("2"));
        assert_eq!(annotation(&json!({}), "b"), None);
    }

    #[test]
    fn namespace_predicate_needs_the_core_group() {
        assert!(is_namespace("", "Namespace"));
        assert!(!is_namespace("example.com", "Namespace"));
        assert!(!is_namespace("", "Secret"));
    }

    #[test]
    fn ranks() {
        assert!(install_rank("Namespace") < install_rank("Secret"));
        assert!(install_rank("RoleBinding") < install_rank("Deployment"));
        assert_eq!(install_rank("Whatever"), INSTALL_ORDER.len());
        assert_eq!(install_rank("Whatever"), install_rank("Whatever2"));
    }

    #[test]
    fn install_and_uninstall_orders() {
        let mut objs = [
            r("Deployment", Some("a"), "d"),
            r("Widget", Some("a"), "w"),
            r("Secret", Some("a"), "s2"),
            r("Namespace", None, "a"),
            r("Secret", Some("a"), "s1"),
        ];
        objs.sort_by(install_order);
        let names: Vec<String> = objs.iter().map(ToString::to_string).collect();
        assert_eq!(
            names,
            [
                "Namespace/a",
                "Secret/a/s1",
                "Secret/a/s2",
                "Deployment/a/d",
                "Widget/a/w"
            ]
        );
        objs.sort_by(uninstall_order);
        let names: Vec<String> = objs.iter().map(ToString::to_string).collect();
        assert_eq!(
            names,
            [
                "Widget/a/w",
                "Deployment/a/d",
                "Secret/a/s1",
                "Secret/a/s2",
                "Namespace/a"
            ]
        );
    }
}
