//! A thin, counted REST layer over untyped JSON objects, with a small discovery cache.
//!
//! Every request runnerctl sends goes through [`Cluster`], which counts them
//! ([`Cluster::requests`]) so that `--stats` can report how many API requests an operation took.
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

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
    ("coordination.k8s.io/v1", "Lease", "leases", true),
    ("authentication.k8s.io/v1", "SelfSubjectReview", "selfsubjectreviews", false),
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

/// Send a request through the counter, retrying transient failures (a macro: the future
/// borrows `self`).
macro_rules! send {
    ($self:expr, $req:expr) => {
        $self.send($req, true).await
    };
}

/// The one retry policy for API requests: requests that fail for a passing reason
/// (connection refused or reset, no answer in time, 429 Too Many Requests, 500, 502, 503,
/// 504) are sent again with a doubling pause, but never past the caller's deadline
/// ([`Cluster::set_deadline`]).
///
/// The bound: one request takes at most `attempts` tries of at most `request_timeout` each,
/// with pauses of at most `max_delay` between them (the server's Retry-After included); no
/// retry starts when its pause would reach the deadline, so an operation ends at the latest
/// one `request_timeout` after its deadline. Without a deadline, the defaults bound one
/// request by 5 tries of 30 s and pauses of 0.25 + 0.5 + 1 + 2 s: 2 min 34 s at worst.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct RetryPolicy {
    /// Tries in all, the first included (1: no retry).
    pub attempts: u32,
    /// The pause before the first retry; it doubles with each further one.
    pub first_delay: Duration,
    /// The longest pause, the server's Retry-After included.
    pub max_delay: Duration,
    /// How long one try may wait for its answer before it counts as failed (and is retried
    /// when it may be).
    pub request_timeout: Duration,
}

/// The default [`RetryPolicy::request_timeout`].
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 5,
            first_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(8),
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
        }
    }
}

setters!(RetryPolicy {
    /// Set how many tries a request gets in all, the first included (0 counts as 1).
    attempts: u32,
    /// Set the pause before the first retry.
    first_delay: Duration,
    /// Set the longest pause.
    max_delay: Duration,
    /// Set how long one try may wait for its answer.
    request_timeout: Duration,
});

impl RetryPolicy {
    /// The pause before retry number `n` (1-based), or the server's wish when it said one.
    fn delay(&self, n: u32, server: Option<Duration>) -> Duration {
        let backoff = self
            .first_delay
            .saturating_mul(1u32.checked_shl(n.saturating_sub(1)).unwrap_or(u32::MAX));
        server.unwrap_or(backoff).min(self.max_delay)
    }
}

/// A try that got no answer in time.
#[derive(Debug, thiserror::Error)]
#[error("no answer within {}", seconds(*.0))]
pub struct NoAnswer(Duration);

/// A duration in whole seconds, or milliseconds below one second.
fn seconds(d: Duration) -> String {
    if d >= Duration::from_secs(1) {
        format!("{}s", d.as_secs())
    } else {
        format!("{}ms", d.as_millis())
    }
}

/// Whether a failed request may succeed when sent again, and after how long the server
/// asked to wait (429 with Retry-After).
fn transient(e: &kube::Error) -> Option<Option<Duration>> {
    match e {
        kube::Error::Api(s) if s.code == 429 => Some(
            s.details
                .as_ref()
                .filter(|d| d.retry_after_seconds > 0)
                .map(|d| Duration::from_secs(u64::from(d.retry_after_seconds))),
        ),
        kube::Error::Api(s) if matches!(s.code, 500 | 502 | 503 | 504) => Some(None),
        kube::Error::HyperError(_) | kube::Error::Service(_) => Some(None),
        _ => None,
    }
}

/// Whether the server turned the request away as too many (429 Too Many Requests).
fn is_429(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 429)
}

/// Whether a request failed before it could reach the server (no connection was made).
fn never_sent(e: &kube::Error) -> bool {
    let mut cause: Option<&dyn std::error::Error> = Some(e);
    while let Some(c) = cause {
        if c.to_string().contains("client error (Connect)") {
            return true;
        }
        if let Some(io) = c.downcast_ref::<std::io::Error>()
            && io.kind() == std::io::ErrorKind::ConnectionRefused
        {
            return true;
        }
        cause = c.source();
    }
    false
}

/// A copy of a request, to send it again.
fn copy_request(r: &http::Request<Vec<u8>>) -> http::Request<Vec<u8>> {
    let mut b = http::Request::builder()
        .method(r.method().clone())
        .uri(r.uri().clone())
        .version(r.version());
    for (k, v) in r.headers() {
        b = b.header(k, v);
    }
    b.body(r.body().clone())
        .expect("a copy of a valid request is valid")
}

/// Called before each retry with a line saying what failed and when it is tried again.
pub type RetryNotice = Arc<dyn Fn(&str) + Send + Sync>;

#[derive(Default)]
struct Cache {
    /// (group, version, kind) -> kind; `None` when the server does not know it.
    by_gvk: HashMap<(String, String, String), Option<Kind>>,
    /// (group, kind) -> the preferred version's kind.
    by_gk: HashMap<(String, String), Option<Kind>>,
}

/// How [`Cluster::create`] sends a create.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CreateMode {
    /// Persisted, and not repeated after a lost answer (a second create would fail although
    /// the first succeeded), unless the server cannot have acted on it.
    Once,
    /// Persisted, and repeated after a passing failure like a read: for a caller that tells
    /// its own object from another's when a repeat answers 409 (a lost answer to the first
    /// try may have created it).
    Retried,
    /// A server-side dry run (`dryRun=All`): admission (Pod Security included) answers as for
    /// a real create, nothing is persisted, and so it is repeated like a read.
    DryRun,
}

/// A counted REST client over untyped JSON objects.
#[derive(Clone)]
pub struct Cluster {
    client: Client,
    requests: Arc<AtomicU64>,
    cache: Arc<Mutex<Cache>>,
    retries: Arc<AtomicU64>,
    retry: RetryPolicy,
    deadline: Arc<Mutex<Option<tokio::time::Instant>>>,
    notice: Option<RetryNotice>,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field("requests", &self.requests())
            .field("retries", &self.retries())
            .field("retry", &self.retry)
            .finish_non_exhaustive()
    }
}

/// Options of a server-side apply request.
#[derive(Debug, Clone, Copy, Default)]
#[non_exhaustive]
pub struct ApplyParams<'a> {
    /// Field manager (`runnerctl`).
    pub manager: &'a str,
    /// Take fields owned by other managers.
    pub force: bool,
    /// Server-side dry run: nothing is persisted.
    pub dry_run: bool,
}

impl<'a> ApplyParams<'a> {
    /// An apply by field manager `manager`, not forced, not a dry run.
    pub fn new(manager: &'a str) -> Self {
        ApplyParams {
            manager,
            ..Default::default()
        }
    }
}

setters!(ApplyParams<'_> {
    /// Set whether fields owned by other managers are taken.
    force: bool,
    /// Set whether this is a server-side dry run.
    dry_run: bool,
});

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
            retries: Arc::new(AtomicU64::new(0)),
            cache: Arc::new(Mutex::new(cache)),
            retry: RetryPolicy::default(),
            deadline: Arc::default(),
            notice: None,
        }
    }

    /// Retry transient failures by `policy`.
    #[must_use]
    pub fn with_retry(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }

    /// Start no retry that would end after `deadline` (`None`: retry by the policy alone).
    /// The deadline is shared with the clones of this cluster; a new one replaces it (e.g. a
    /// command's clock started again after it waited for the user).
    pub fn set_deadline(&self, deadline: Option<std::time::Instant>) {
        *self.deadline.lock().expect("deadline") = deadline.map(tokio::time::Instant::from_std);
    }

    /// The deadline set by [`Cluster::set_deadline`], if any.
    pub fn deadline(&self) -> Option<std::time::Instant> {
        self.deadline
            .lock()
            .expect("deadline")
            .map(|d| d.into_std())
    }

    /// The time left before the deadline, `None` without one.
    fn time_left(&self) -> Option<Duration> {
        let deadline = *self.deadline.lock().expect("deadline");
        deadline.map(|d| d.saturating_duration_since(tokio::time::Instant::now()))
    }

    /// Call `notice` before each retry (for a progress line on stderr).
    #[must_use]
    pub fn with_retry_notice(mut self, notice: RetryNotice) -> Self {
        self.notice = Some(notice);
        self
    }

    /// Send a request (counted); with `retry`, transient failures are sent again by the
    /// retry policy. Requests that must not be repeated blindly pass `retry = false`.
    async fn send(&self, req: http::Request<Vec<u8>>, retry: bool) -> Result<Value, kube::Error> {
        let what = format!("{} {}", req.method(), req.uri().path());
        self.with_retries(&what, retry, || {
            tracing::debug!(method = %req.method(), uri = %req.uri(), "request");
            self.client.request::<Value>(copy_request(&req))
        })
        .await
    }

    /// Run a counted request `call` until it succeeds, fails for good, the retry policy is
    /// spent or the deadline leaves no time for another try; `what` names it in notices.
    async fn with_retries<T, F, Fut>(
        &self,
        what: &str,
        retry: bool,
        mut call: F,
    ) -> Result<T, kube::Error>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, kube::Error>>,
    {
        let attempts = self.retry.attempts.max(1);
        let mut n = 1;
        loop {
            let limit = self.retry.request_timeout;
            self.requests.fetch_add(1, Ordering::Relaxed);
            let err = match tokio::time::timeout(limit, call()).await {
                Ok(Ok(v)) => return Ok(v),
                Ok(Err(e)) => e,
                Err(_) => kube::Error::Service(Box::new(NoAnswer(limit))),
            };
            // A request that must not be repeated is still sent again when the server cannot
            // have acted on it: the connection was never made, or the server said 429 (it
            // turns such requests away before acting on them).
            let server_delay = match transient(&err) {
                Some(d) if n < attempts && (retry || never_sent(&err) || is_429(&err)) => d,
                _ => return Err(err),
            };
            let delay = self.retry.delay(n, server_delay);
            if let Some(left) = self.time_left()
                && left <= delay
            {
                self.notify(|| {
                    format!(
                        "{what} failed ({}); not retried: {} left before the deadline",
                        short_error(&err),
                        seconds(left)
                    )
                });
                return Err(err);
            }
            self.notify(|| {
                format!(
                    "{what} failed ({}); retrying in {} ms (attempt {} of {attempts})",
                    short_error(&err),
                    delay.as_millis(),
                    n + 1
                )
            });
            self.retries.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(delay).await;
            n += 1;
        }
    }

    /// Hand a line to the retry notice, if there is one.
    fn notify(&self, line: impl FnOnce() -> String) {
        if let Some(notice) = &self.notice {
            notice(&line());
        }
    }

    /// How many requests were sent again after a passing failure.
    pub fn retries(&self) -> u64 {
        self.retries.load(Ordering::Relaxed)
    }

    /// The underlying client.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// How many API requests were sent so far (discovery and retries included).
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
        let gv = GroupVersion::gv(group, version);
        let found = match self
            .with_retries(&format!("discovery of {api_version}"), true, || {
                kube::discovery::pinned_group(&self.client, &gv)
            })
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
        let found = match self
            .with_retries(&format!("discovery of group {group:?}"), true, || {
                kube::discovery::group(&self.client, group)
            })
            .await
        {
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

    /// A JSON merge patch (RFC 7386) of one object, as field manager `manager`. Retried like
    /// a read: setting the same values twice does what setting them once does.
    pub async fn merge_patch(
        &self,
        kind: &Kind,
        ns: Option<&str>,
        name: &str,
        patch: &Value,
        manager: &str,
    ) -> Result<Value, kube::Error> {
        let pp = PatchParams {
            field_manager: Some(manager.to_string()),
            ..Default::default()
        };
        let req = Request::new(kind.url(ns))
            .patch(name, &pp, &Patch::Merge(patch))
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
        // Not repeated: guarded by a resourceVersion test, a second send after a lost answer
        // would fail although the first succeeded. A rerun converges instead.
        self.send(req, false).await
    }

    /// Create an object (POST), sent as `mode` says: an error with status 409 when it
    /// exists.
    pub async fn create(
        &self,
        kind: &Kind,
        ns: Option<&str>,
        body: &Value,
        mode: CreateMode,
    ) -> Result<Value, kube::Error> {
        let data = serde_json::to_vec(body).map_err(kube::Error::SerdeError)?;
        let pp = kube::api::PostParams {
            dry_run: mode == CreateMode::DryRun,
            ..Default::default()
        };
        let req = Request::new(kind.url(ns))
            .create(&pp, data)
            .map_err(kube::Error::BuildRequest)?;
        self.send(req, mode != CreateMode::Once).await
    }

    /// The server's version (`GET /version`): `major`, `minor`, `gitVersion`.
    pub async fn version(&self) -> Result<Value, kube::Error> {
        let req = http::Request::get("/version")
            .body(Vec::new())
            .map_err(kube::Error::HttpError)?;
        send!(self, req)
    }

    /// The last `tail_lines` lines of a container's log (`pods/log`).
    pub async fn log(
        &self,
        ns: &str,
        pod: &str,
        container: &str,
        tail_lines: i64,
    ) -> Result<String, kube::Error> {
        let lp = kube::api::LogParams {
            container: Some(container.to_string()),
            tail_lines: Some(tail_lines),
            ..Default::default()
        };
        let req = Request::new(format!("/api/v1/namespaces/{ns}/pods"))
            .logs(pod, &lp)
            .map_err(kube::Error::BuildRequest)?;
        self.with_retries(&format!("log of pod {ns}/{pod}"), true, || {
            self.client.request_text(copy_request(&req))
        })
        .await
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

/// A failed request in a few words: the server's message, or the transport error.
fn short_error(e: &kube::Error) -> String {
    match e {
        kube::Error::Api(s) => format!("{} {}", s.code, s.reason),
        other => {
            let mut text = other.to_string();
            let mut cause = std::error::Error::source(other);
            while let Some(c) = cause {
                text = c.to_string();
                cause = c.source();
            }
            text
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
    fn retry_delays_double_up_to_the_cap_and_honour_the_server() {
        let p = RetryPolicy::default();
        assert_eq!(p.delay(1, None), Duration::from_millis(250));
        assert_eq!(p.delay(2, None), Duration::from_millis(500));
        assert_eq!(p.delay(3, None), Duration::from_millis(1000));
        assert_eq!(p.delay(40, None), Duration::from_secs(8));
        assert_eq!(
            p.delay(1, Some(Duration::from_secs(3))),
            Duration::from_secs(3)
        );
        assert_eq!(
            p.delay(1, Some(Duration::from_secs(60))),
            Duration::from_secs(8)
        );
    }

    #[test]
    fn which_failures_are_transient() {
        let status = |code: u16, retry: u32| {
            kube::Error::Api(Box::new(
                serde_json::from_value(serde_json::json!({"status":"Failure","code":code,
                    "reason":"x","message":"m","details":{"retryAfterSeconds":retry}}))
                .unwrap(),
            ))
        };
        assert_eq!(
            transient(&status(429, 2)),
            Some(Some(Duration::from_secs(2)))
        );
        assert_eq!(transient(&status(429, 0)), Some(None));
        assert_eq!(transient(&status(503, 0)), Some(None));
        assert_eq!(transient(&status(404, 0)), None);
        assert_eq!(transient(&status(409, 0)), None);
        assert_eq!(transient(&status(422, 0)), None);
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
