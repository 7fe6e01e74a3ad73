//! A thin, counted REST layer over untyped JSON objects, with a small discovery cache.
//!
//! Every request runnerctl sends goes through [`Cluster`], which counts them
//! ([`Cluster::requests`]) so that `--stats` can report how many API requests an operation took.
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use kube::Client;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, Preconditions};
use kube::core::{ApiResource, GroupVersion, GroupVersionKind, Request};
use serde_json::Value;

/// A resolved kind: where its objects live in the API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Kind {
    /// Group, version, kind and plural.
    pub resource: ApiResource,
    /// Whether objects of this kind live in a namespace.
    pub namespaced: bool,
}

impl Kind {
    fn new(group: &str, version: &str, kind: &str, plural: &str, namespaced: bool) -> Self {
        let gvk = GroupVersionKind::gvk(group, version, kind);
        Kind {
            resource: ApiResource::from_gvk_with_plural(&gvk, plural),
            namespaced,
        }
    }

    /// `Kind` or `Kind.group`, as in the ApplySet `contains-group-kinds` annotation.
    pub fn group_kind(&self) -> String {
        group_kind(&self.resource.group, &self.resource.kind)
    }

    /// The collection URL for a namespace (ignored for cluster-scoped kinds), or for all
    /// namespaces when `ns` is `None`.
    pub fn url(&self, ns: Option<&str>) -> String {
        let r = &self.resource;
        let base = if r.group.is_empty() {
            format!("/api/{}", r.version)
        } else {
            format!("/apis/{}/{}", r.group, r.version)
        };
        match ns {
            Some(ns) if self.namespaced => format!("{base}/namespaces/{ns}/{}", r.plural),
            _ => format!("{base}/{}", r.plural),
        }
    }
}

/// `Kind` for the core group, `Kind.group` otherwise.
pub fn group_kind(group: &str, kind: &str) -> String {
    if group.is_empty() {
        kind.to_string()
    } else {
        format!("{kind}.{group}")
    }
}

/// Kinds runnerctl renders or reads, known without asking the server (saves discovery
/// requests): apiVersion, kind, plural, namespaced.
#[rustfmt::skip]
const BUILTIN_KINDS: &[(&str, &str, &str, bool)] = &[
    ("v1", "Namespace", "namespaces", false),
    ("v1", "ServiceAccount", "serviceaccounts", true),
    ("v1", "Secret", "secrets", true),
    ("v1", "ConfigMap", "configmaps", true),
    ("v1", "Service", "services", true),
    ("v1", "Pod", "pods", true),
    ("v1", "Event", "events", true),
    ("v1", "PersistentVolumeClaim", "persistentvolumeclaims", true),
    ("v1", "LimitRange", "limitranges", true),
    ("v1", "ResourceQuota", "resourcequotas", true),
    ("rbac.authorization.k8s.io/v1", "Role", "roles", true),
    ("rbac.authorization.k8s.io/v1", "RoleBinding", "rolebindings", true),
    ("rbac.authorization.k8s.io/v1", "ClusterRole", "clusterroles", false),
    ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding", "clusterrolebindings", false),
    ("apps/v1", "Deployment", "deployments", true),
    ("apps/v1", "ReplicaSet", "replicasets", true),
    ("apps/v1", "StatefulSet", "statefulsets", true),
    ("apps/v1", "DaemonSet", "daemonsets", true),
    ("autoscaling/v2", "HorizontalPodAutoscaler", "horizontalpodautoscalers", true),
    ("networking.k8s.io/v1", "Ingress", "ingresses", true),
    ("networking.k8s.io/v1", "NetworkPolicy", "networkpolicies", true),
    ("policy/v1", "PodDisruptionBudget", "poddisruptionbudgets", true),
    ("batch/v1", "Job", "jobs", true),
    ("batch/v1", "CronJob", "cronjobs", true),
];

fn builtin_kinds() -> impl Iterator<Item = Kind> {
    BUILTIN_KINDS
        .iter()
        .map(|&(api_version, kind, plural, namespaced)| {
            let (group, version) = split_api_version(api_version);
            Kind::new(group, version, kind, plural, namespaced)
        })
}

/// Split an `apiVersion` into group and version (`v1` -> ("", "v1")).
pub fn split_api_version(api_version: &str) -> (&str, &str) {
    match api_version.split_once('/') {
        Some((g, v)) => (g, v),
        None => ("", api_version),
    }
}

/// Send a request through the counter (a macro: the `http` types are not named here).
macro_rules! send {
    ($self:expr, $req:expr) => {{
        let req = $req;
        $self.requests.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(method = %req.method(), uri = %req.uri(), "request");
        $self.client.request::<Value>(req).await
    }};
}

#[derive(Default)]
struct Cache {
    /// (group, version, kind) -> kind; `None` when the server does not know it.
    by_gvk: HashMap<(String, String, String), Option<Kind>>,
    /// (group, kind) -> the preferred version's kind.
    by_gk: HashMap<(String, String), Option<Kind>>,
}

/// A counted REST client over untyped JSON objects.
#[derive(Clone)]
pub struct Cluster {
    client: Client,
    requests: Arc<AtomicU64>,
    cache: Arc<Mutex<Cache>>,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field("requests", &self.requests())
            .finish_non_exhaustive()
    }
}

/// Options of a server-side apply request.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApplyParams<'a> {
    /// Field manager (`runnerctl`).
    pub manager: &'a str,
    /// Take fields owned by other managers.
    pub force: bool,
    /// Server-side dry run: nothing is persisted.
    pub dry_run: bool,
}

impl Cluster {
    /// Wrap a client.
    pub fn new(client: Client) -> Self {
        let mut cache = Cache::default();
        for k in builtin_kinds() {
            let r = &k.resource;
            cache
                .by_gk
                .insert((r.group.clone(), r.kind.clone()), Some(k.clone()));
            cache.by_gvk.insert(
                (r.group.clone(), r.version.clone(), r.kind.clone()),
                Some(k),
            );
        }
        Cluster {
            client,
            requests: Arc::new(AtomicU64::new(0)),
            cache: Arc::new(Mutex::new(cache)),
        }
    }

    /// The underlying client.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// How many API requests were sent so far (discovery included).
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    /// Resolve `apiVersion` + `kind`; `Ok(None)` when the server does not serve it.
    pub async fn resolve(
        &self,
        api_version: &str,
        kind: &str,
    ) -> Result<Option<Kind>, kube::Error> {
        let (group, version) = split_api_version(api_version);
        let key = (group.to_string(), version.to_string(), kind.to_string());
        if let Some(k) = self.cache.lock().expect("cache").by_gvk.get(&key) {
            return Ok(k.clone());
        }
        self.requests.fetch_add(1, Ordering::Relaxed);
        let found =
            match kube::discovery::pinned_group(&self.client, &GroupVersion::gv(group, version))
                .await
            {
                Ok(g) => g
                    .versioned_resources(version)
                    .into_iter()
                    .find(|(r, _)| r.kind == kind)
                    .map(|(r, caps)| Kind {
                        resource: r,
                        namespaced: caps.scope == kube::discovery::Scope::Namespaced,
                    }),
                Err(kube::Error::Api(s)) if s.code == 404 => None,
                Err(e) => return Err(e),
            };
        self.cache
            .lock()
            .expect("cache")
            .by_gvk
            .insert(key, found.clone());
        Ok(found)
    }

    /// Resolve a group and kind to the server's preferred version; `Ok(None)` when the
    /// server does not serve it (e.g. a CRD that was removed).
    pub async fn resolve_group_kind(
        &self,
        group: &str,
        kind: &str,
    ) -> Result<Option<Kind>, kube::Error> {
        let key = (group.to_string(), kind.to_string());
        if let Some(k) = self.cache.lock().expect("cache").by_gk.get(&key) {
            return Ok(k.clone());
        }
        self.requests.fetch_add(1, Ordering::Relaxed);
        let found = match kube::discovery::group(&self.client, group).await {
            Ok(g) => g.recommended_kind(kind).map(|(r, caps)| Kind {
                resource: r,
                namespaced: caps.scope == kube::discovery::Scope::Namespaced,
            }),
            Err(kube::Error::Api(s)) if s.code == 404 => None,
            Err(kube::Error::Discovery(_)) => None,
            Err(e) => return Err(e),
        };
        self.cache
            .lock()
            .expect("cache")
            .by_gk
            .insert(key, found.clone());
        Ok(found)
    }

    /// GET one object; `Ok(None)` when it does not exist.
    pub async fn get(
        &self,
        kind: &Kind,
        ns: Option<&str>,
        name: &str,
    ) -> Result<Option<Value>, kube::Error> {
        let req = Request::new(kind.url(ns))
            .get(name, &Default::default())
            .map_err(kube::Error::BuildRequest)?;
        match send!(self, req) {
            Ok(v) => Ok(Some(v)),
            Err(kube::Error::Api(s)) if s.code == 404 => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// LIST objects (in `ns`, or everywhere when `None`), with `apiVersion` and `kind` set on
    /// each item.
    pub async fn list(
        &self,
        kind: &Kind,
        ns: Option<&str>,
        labels: Option<&str>,
        fields: Option<&str>,
    ) -> Result<Vec<Value>, kube::Error> {
        let mut lp = ListParams::default();
        if let Some(l) = labels {
            lp = lp.labels(l);
        }
        if let Some(f) = fields {
            lp = lp.fields(f);
        }
        let req = Request::new(kind.url(ns))
            .list(&lp)
            .map_err(kube::Error::BuildRequest)?;
        let list = send!(self, req)?;
        let items = match list.get("items") {
            Some(Value::Array(items)) => items.clone(),
            _ => Vec::new(),
        };
        Ok(items
            .into_iter()
            .map(|it| match it {
                // apiVersion and kind first, as in a GET.
                Value::Object(m) => {
                    let mut out = serde_json::Map::with_capacity(m.len() + 2);
                    out.insert(
                        "apiVersion".into(),
                        Value::String(kind.resource.api_version.clone()),
                    );
                    out.insert("kind".into(), Value::String(kind.resource.kind.clone()));
                    out.extend(
                        m.into_iter()
                            .filter(|(k, _)| k != "apiVersion" && k != "kind"),
                    );
                    Value::Object(out)
                }
                other => other,
            })
            .collect())
    }

    /// Server-side apply of `body` (which must carry apiVersion, kind and metadata.name).
    pub async fn apply(
        &self,
        kind: &Kind,
        ns: Option<&str>,
        name: &str,
        body: &Value,
        p: ApplyParams<'_>,
    ) -> Result<Value, kube::Error> {
        let mut pp = PatchParams::apply(p.manager);
        if p.force {
            pp = pp.force();
        }
        if p.dry_run {
            pp = pp.dry_run();
        }
        let req = Request::new(kind.url(ns))
            .patch(name, &pp, &Patch::Apply(body))
            .map_err(kube::Error::BuildRequest)?;
        send!(self, req)
    }

    /// A JSON patch (RFC 6902) of one object.
    pub async fn json_patch(
        &self,
        kind: &Kind,
        ns: Option<&str>,
        name: &str,
        ops: json_patch::Patch,
    ) -> Result<Value, kube::Error> {
        let req = Request::new(kind.url(ns))
            .patch(name, &PatchParams::default(), &Patch::<()>::Json(ops))
            .map_err(kube::Error::BuildRequest)?;
        send!(self, req)
    }

    /// DELETE one object; `Ok(false)` when it was already gone. `foreground` waits for
    /// dependents (pods of a Deployment) before the object disappears; `uid` is a precondition.
    pub async fn delete(
        &self,
        kind: &Kind,
        ns: Option<&str>,
        name: &str,
        foreground: bool,
        uid: Option<&str>,
    ) -> Result<bool, kube::Error> {
        let mut dp = if foreground {
            DeleteParams::foreground()
        } else {
            DeleteParams::background()
        };
        if let Some(uid) = uid {
            dp = dp.preconditions(Preconditions {
                uid: Some(uid.to_string()),
                resource_version: None,
            });
        }
        let req = Request::new(kind.url(ns))
            .delete(name, &dp)
            .map_err(kube::Error::BuildRequest)?;
        match send!(self, req) {
            Ok(_) => Ok(true),
            Err(kube::Error::Api(s)) if s.code == 404 => Ok(false),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let k = Kind::new("apps", "v1", "Deployment", "deployments", true);
        assert_eq!(k.url(Some("ns")), "/apis/apps/v1/namespaces/ns/deployments");
        assert_eq!(k.url(None), "/apis/apps/v1/deployments");
        let n = Kind::new("", "v1", "Namespace", "namespaces", false);
        assert_eq!(n.url(Some("ns")), "/api/v1/namespaces");
        assert_eq!(k.group_kind(), "Deployment.apps");
        assert_eq!(n.group_kind(), "Namespace");
    }

    #[test]
    fn api_versions() {
        assert_eq!(split_api_version("v1"), ("", "v1"));
        assert_eq!(
            split_api_version("rbac.authorization.k8s.io/v1"),
            ("rbac.authorization.k8s.io", "v1")
        );
    }
}
