//! The inventory: an ApplySet (KEP-3659) with a parent Secret: its id, labels and
//! annotations, reading and writing the parent, and listing the members.
//!
//! Parent: Secret `<release>-applyset` in the release namespace, labelled
//! `applyset.kubernetes.io/id=applyset-<base64url(sha256("<name>.<namespace>.Secret."))>-v1`,
//! annotated with `applyset.kubernetes.io/tooling: runnerctl/<version>`,
//! `applyset.kubernetes.io/contains-group-kinds` and, when members live in other
//! namespaces, `applyset.kubernetes.io/additional-namespaces`.
//! Members carry the label `applyset.kubernetes.io/part-of=<id>`. Objects without that
//! label are never listed, hence never pruned.
use std::collections::BTreeSet;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::{BoxFut, Engine, Error, ObjectRef, concurrently};
use crate::k8s::{ApplyParams, Kind};

/// Label on the parent holding the ApplySet id.
pub const LABEL_ID: &str = "applyset.kubernetes.io/id";
/// Label on every member holding the ApplySet id.
pub const LABEL_PART_OF: &str = "applyset.kubernetes.io/part-of";
/// Annotation on the parent naming the tool and its version.
pub const ANNOTATION_TOOLING: &str = "applyset.kubernetes.io/tooling";
/// Annotation on the parent listing the members' group-kinds.
pub const ANNOTATION_GROUP_KINDS: &str = "applyset.kubernetes.io/contains-group-kinds";
/// Annotation runnerctl puts on a Namespace it creates, holding the ApplySet id: only such
/// a namespace is ever deleted (a namespace that existed before is never touched).
pub const ANNOTATION_CREATED_NAMESPACE: &str = "runnerctl.io/created-by";
/// Annotation on the parent listing the members' namespaces other than its own.
pub const ANNOTATION_NAMESPACES: &str = "applyset.kubernetes.io/additional-namespaces";

/// An ApplySet's identity: its parent Secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApplySet {
    /// The release the ApplySet holds.
    pub release: String,
    /// The parent Secret's name.
    pub name: String,
    /// The parent Secret's namespace (the release namespace).
    pub namespace: String,
}

/// What the live parent says (empty when it does not exist yet); a plan file keeps it as its
/// plan saw it.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ParentState {
    /// Whether the parent exists.
    pub exists: bool,
    /// The parent's resourceVersion as read: the next write of the parent is conditional on
    /// it (optimistic concurrency), so a parent changed since is never overwritten blindly.
    pub resource_version: Option<String>,
    /// `Kind` / `Kind.group` of the members, from `contains-group-kinds`.
    pub group_kinds: BTreeSet<String>,
    /// Namespaces of members other than the parent's, from `additional-namespaces`.
    pub namespaces: BTreeSet<String>,
    /// The tooling annotation.
    pub tooling: Option<String>,
}

impl ApplySet {
    /// The ApplySet of a release: parent `<release>-applyset` in the release namespace.
    pub fn for_release(release: &str, namespace: &str) -> Self {
        ApplySet {
            release: release.to_string(),
            name: format!("{release}-applyset"),
            namespace: namespace.to_string(),
        }
    }

    /// The id (KEP-3659): `applyset-<base64url(sha256("<name>.<namespace>.Secret."))>-v1`.
    pub fn id(&self) -> String {
        let digest = Sha256::digest(format!("{}.{}.Secret.", self.name, self.namespace).as_bytes());
        format!("applyset-{}-v1", URL_SAFE_NO_PAD.encode(digest))
    }

    /// `runnerctl/<version>`.
    pub fn tooling() -> String {
        format!("runnerctl/{}", env!("CARGO_PKG_VERSION"))
    }

    /// The parent as an object reference.
    pub fn parent_ref(&self) -> ObjectRef {
        ObjectRef {
            api_version: "v1".into(),
            kind: "Secret".into(),
            namespace: Some(self.namespace.clone()),
            name: self.name.clone(),
        }
    }

    /// The label selector of the members.
    pub fn selector(&self) -> String {
        format!("{LABEL_PART_OF}={}", self.id())
    }

    /// The parent Secret to apply.
    pub fn parent_object(
        &self,
        group_kinds: &BTreeSet<String>,
        namespaces: &BTreeSet<String>,
    ) -> Value {
        let mut annotations = serde_json::Map::new();
        annotations.insert(ANNOTATION_TOOLING.into(), Value::String(Self::tooling()));
        annotations.insert(
            ANNOTATION_GROUP_KINDS.into(),
            Value::String(group_kinds.iter().cloned().collect::<Vec<_>>().join(",")),
        );
        if !namespaces.is_empty() {
            annotations.insert(
                ANNOTATION_NAMESPACES.into(),
                Value::String(namespaces.iter().cloned().collect::<Vec<_>>().join(",")),
            );
        }
        json!({
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {
                "name": self.name,
                "namespace": self.namespace,
                "labels": { LABEL_ID: self.id(), "app.kubernetes.io/managed-by": "runnerctl" },
                "annotations": annotations,
            },
            "type": "Opaque",
        })
    }

    /// Read a live parent; refuses one that belongs to another tool or ApplySet.
    pub fn parse_parent(&self, live: Option<&Value>) -> Result<ParentState, Error> {
        let Some(live) = live else {
            return Ok(ParentState::default());
        };
        let label = |k: &str| crate::object::label(live, k);
        let ann = |k: &str| crate::object::annotation(live, k);
        let parent = self.parent_ref();
        let id = self.id();
        match label(LABEL_ID) {
            Some(l) if l == id => {}
            other => {
                return Err(Error::ForeignApplySet {
                    parent,
                    owner: match other {
                        Some(l) => format!("ApplySet id {l:?} (expected {id:?})"),
                        None => "nobody (a Secret that is not an ApplySet parent)".into(),
                    },
                });
            }
        }
        let tooling = ann(ANNOTATION_TOOLING).map(str::to_string);
        match tooling.as_deref() {
            Some(t) if t.split('/').next() == Some("runnerctl") => {}
            Some(t) => {
                return Err(Error::ForeignApplySet {
                    parent,
                    owner: format!("tooling {t:?}"),
                });
            }
            None => {
                return Err(Error::ForeignApplySet {
                    parent,
                    owner: "an unknown tool (no tooling annotation)".into(),
                });
            }
        }
        let split = |s: Option<&str>| -> BTreeSet<String> {
            s.unwrap_or("")
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect()
        };
        Ok(ParentState {
            exists: true,
            group_kinds: split(ann(ANNOTATION_GROUP_KINDS)),
            namespaces: split(ann(ANNOTATION_NAMESPACES)),
            tooling,
            resource_version: live
                .pointer("/metadata/resourceVersion")
                .and_then(Value::as_str)
                .map(str::to_string),
        })
    }
}

/// The group-kinds runnerctl's templates render. Members are also looked for among these,
/// not only among the parent's `contains-group-kinds`: a member whose kind was lost from a
/// hand-edited parent is still found, pruned or deleted, and the parent repaired.
pub const RENDERED_GROUP_KINDS: &[&str] = &[
    "Namespace",
    "ServiceAccount",
    "Secret",
    "ConfigMap",
    "Service",
    "Role.rbac.authorization.k8s.io",
    "RoleBinding.rbac.authorization.k8s.io",
    "ClusterRole.rbac.authorization.k8s.io",
    "ClusterRoleBinding.rbac.authorization.k8s.io",
    "Deployment.apps",
    "HorizontalPodAutoscaler.autoscaling",
    "PodDisruptionBudget.policy",
    "Ingress.networking.k8s.io",
    "ServiceMonitor.monitoring.coreos.com",
    "PodMonitor.monitoring.coreos.com",
];

/// Live members with their kinds.
pub(crate) type Members = Vec<(Kind, Value)>;

/// Split `Kind.group` into (group, kind).
pub(crate) fn parse_group_kind(gk: &str) -> (String, String) {
    match gk.split_once('.') {
        Some((k, g)) => (g.to_string(), k.to_string()),
        None => (String::new(), gk.to_string()),
    }
}

impl Engine {
    /// The kind of the parent (a built-in kind: no request).
    pub(crate) async fn secret_kind(&self) -> Result<Kind, Error> {
        self.builtin_kind("v1", "Secret").await
    }

    /// A built-in kind (no request), an error naming it when the cluster does not serve it.
    pub(crate) async fn builtin_kind(&self, api_version: &str, kind: &str) -> Result<Kind, Error> {
        let object = ObjectRef {
            api_version: api_version.into(),
            kind: kind.into(),
            namespace: None,
            name: String::new(),
        };
        match self.cluster.resolve(api_version, kind).await {
            Ok(Some(k)) => Ok(k),
            Ok(None) => Err(Error::UnknownKind { object }),
            Err(e) => Err(Error::api(&object, "discovery", e)),
        }
    }

    /// The live parent Secret, if any.
    pub(crate) async fn get_parent(&self, set: &ApplySet) -> Result<Option<Value>, Error> {
        let kind = self.secret_kind().await?;
        self.cluster
            .get(&kind, Some(&set.namespace), &set.name)
            .await
            .map_err(|e| Error::api(&set.parent_ref(), "get", e))
    }

    /// The parent and live members of an installed release; an error when the release is
    /// not installed (no parent).
    pub(crate) async fn installed(&self, set: &ApplySet) -> Result<(ParentState, Members), Error> {
        let live = self.get_parent(set).await?;
        if live.is_none() {
            return Err(Error::NotInstalled {
                parent: set.parent_ref(),
            });
        }
        let parent = set.parse_parent(live.as_ref())?;
        let members = self.list_members(set, &parent).await?;
        Ok((parent, members))
    }

    /// Write the parent with these group-kinds and namespaces, on condition that it is still
    /// at `resource_version` (when given: a parent changed since fails with a conflict).
    /// Returns the new resourceVersion.
    pub(crate) async fn write_parent(
        &self,
        set: &ApplySet,
        group_kinds: &BTreeSet<String>,
        namespaces: &BTreeSet<String>,
        resource_version: Option<&str>,
    ) -> Result<Option<String>, Error> {
        let kind = self.secret_kind().await?;
        let mut body = set.parent_object(group_kinds, namespaces);
        if let Some(rv) = resource_version {
            body["metadata"]["resourceVersion"] = Value::String(rv.to_string());
        }
        let p = ApplyParams {
            manager: &self.opts.field_manager,
            force: true,
            dry_run: false,
        };
        let written = self
            .cluster
            .apply(&kind, Some(&set.namespace), &set.name, &body, p)
            .await
            .map_err(|e| Error::api(&set.parent_ref(), "apply", e))?;
        Ok(written
            .pointer("/metadata/resourceVersion")
            .and_then(Value::as_str)
            .map(str::to_string))
    }

    /// Every live member of the ApplySet (objects labelled part-of its id), with their kinds,
    /// found by listing each group-kind of the parent in each of its namespaces.
    pub(crate) async fn list_members(
        &self,
        set: &ApplySet,
        parent: &ParentState,
    ) -> Result<Members, Error> {
        let mut futs: Vec<BoxFut<Result<Members, Error>>> = Vec::new();
        let mut namespaces: BTreeSet<String> = parent.namespaces.clone();
        namespaces.insert(set.namespace.clone());
        let extra = RENDERED_GROUP_KINDS
            .iter()
            .map(|gk| gk.to_string())
            .filter(|gk| !parent.group_kinds.contains(gk));
        let all: Vec<(String, bool)> = parent
            .group_kinds
            .iter()
            .map(|gk| (gk.clone(), false))
            .chain(extra.map(|gk| (gk, true)))
            .collect();
        for (gk, repair_only) in all {
            let (group, kind_name) = parse_group_kind(&gk);
            let kind = match self.cluster.resolve_group_kind(&group, &kind_name).await {
                Ok(Some(k)) => k,
                Ok(None) => continue, // the API is gone (CRD removed): nothing to list
                Err(e) => return Err(Error::api(&set.parent_ref(), "discovery", e)),
            };
            let scopes: Vec<Option<String>> = if kind.namespaced {
                namespaces.iter().cloned().map(Some).collect()
            } else {
                vec![None]
            };
            for ns in scopes {
                let engine = self.clone();
                let kind = kind.clone();
                let selector = set.selector();
                let parent_ref = set.parent_ref();
                futs.push(Box::pin(async move {
                    let listed = engine
                        .cluster
                        .list(&kind, ns.as_deref(), Some(&selector), None)
                        .await;
                    // A kind listed only to repair a hand-edited parent may be out of this
                    // identity's reach (cluster-scoped kinds): then there is nothing to repair.
                    if repair_only && matches!(&listed, Err(kube::Error::Api(s)) if s.code == 403) {
                        return Ok(Vec::new());
                    }
                    let items = listed.map_err(|e| {
                        let mut r = parent_ref.clone();
                        r.kind = kind.resource.kind.clone();
                        r.api_version = kind.resource.api_version.clone();
                        r.name = "*".into();
                        r.namespace = ns.clone();
                        Error::api(&r, "list", e)
                    })?;
                    Ok(items.into_iter().map(|v| (kind.clone(), v)).collect())
                }));
            }
        }
        let mut out = Vec::new();
        let mut errs = Vec::new();
        for r in concurrently(futs).await {
            match r {
                Ok(v) => out.extend(v),
                Err(e) => errs.push(e),
            }
        }
        Error::collect(errs)?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_follows_the_kep() {
        // The KEP's example: a Secret parent "my-set" in "my-ns". sha256 is 32 bytes -> 43 chars.
        let set = ApplySet {
            release: "my".into(),
            name: "my-set".into(),
            namespace: "my-ns".into(),
        };
        let id = set.id();
        assert!(id.starts_with("applyset-") && id.ends_with("-v1"), "{id}");
        assert_eq!(id.len(), "applyset-".len() + 43 + "-v1".len());
        let digest = Sha256::digest(b"my-set.my-ns.Secret.");
        assert_eq!(
            id,
            format!("applyset-{}-v1", URL_SAFE_NO_PAD.encode(digest))
        );
        assert!(id.len() <= 63, "label values are at most 63 characters");
    }

    #[test]
    fn parent_round_trips() {
        let set = ApplySet::for_release("r", "ns");
        let gks: BTreeSet<String> = ["Deployment.apps", "Secret"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let nss: BTreeSet<String> = ["jobs".to_string()].into();
        let p = set.parent_object(&gks, &nss);
        assert_eq!(
            p["metadata"]["annotations"][ANNOTATION_GROUP_KINDS],
            "Deployment.apps,Secret"
        );
        assert_eq!(p["metadata"]["annotations"][ANNOTATION_NAMESPACES], "jobs");
        let st = set.parse_parent(Some(&p)).unwrap();
        assert!(st.exists);
        assert_eq!(st.group_kinds, gks);
        assert_eq!(st.namespaces, nss);
        assert!(set.parse_parent(None).unwrap().group_kinds.is_empty());
    }

    #[test]
    fn foreign_parent_is_refused() {
        let set = ApplySet::for_release("r", "ns");
        let mut p = set.parent_object(&BTreeSet::new(), &BTreeSet::new());
        p["metadata"]["annotations"][ANNOTATION_TOOLING] = "kubectl/v1.32".into();
        let e = set.parse_parent(Some(&p)).unwrap_err();
        assert!(e.to_string().contains("kubectl/v1.32"), "{e}");
        let mut p = set.parent_object(&BTreeSet::new(), &BTreeSet::new());
        p["metadata"]["labels"][LABEL_ID] = "applyset-other-v1".into();
        assert!(matches!(
            set.parse_parent(Some(&p)),
            Err(Error::ForeignApplySet { .. })
        ));
    }

    #[test]
    fn group_kinds_parse() {
        assert_eq!(parse_group_kind("Secret"), (String::new(), "Secret".into()));
        assert_eq!(
            parse_group_kind("Role.rbac.authorization.k8s.io"),
            ("rbac.authorization.k8s.io".into(), "Role".into())
        );
    }
}
