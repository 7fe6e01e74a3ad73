//! The apply engine: plan (server-side dry-run), diff, apply, prune, wait, status, uninstall.
//!
//! An [`Engine`] wraps a [`kube::Client`] and [`EngineOptions`]. Each verb lives in its own
//! file and returns data, which the CLI prints:
//!
//! - [`Engine::plan`]: a server-side dry-run apply (field manager `runnerctl`) of every
//!   rendered object, compared with the live object after [normalisation](normalize),
//!   plus the ApplySet members that are no longer rendered (to prune) -> [`Plan`].
//! - [`Plan::diff`] / [`Change::diff`]: unified diffs, Secret values masked.
//! - [`Engine::apply`]: writes only what the plan says differs, Namespace first, then the
//!   rest in install order; prunes only when every write succeeded -> [`Report`].
//! - [`Engine::wait`]: kstatus-like readiness, with the reasons when it fails -> [`WaitReport`].
//! - [`Engine::status`] and [`Engine::uninstall`] work from the ApplySet inventory alone.
//!
//! The inventory is an [ApplySet](https://github.com/kubernetes/enhancements/tree/master/keps/sig-cli/3659-kubectl-apply-prune)
//! (KEP-3659): a parent Secret `<release>-applyset` in the release namespace, members
//! labelled `applyset.kubernetes.io/part-of=<id>`. See [`ApplySet`].
//!
//! ```no_run
//! use runnerctl::apply::{ApplySet, Engine, EngineOptions, WaitOptions};
//! # async fn example(manifest: runnerctl::Manifest) -> Result<(), Box<dyn std::error::Error>> {
//! let client = kube::Client::try_default().await?;
//! let engine = Engine::new(client, EngineOptions::default());
//! let applyset = ApplySet::for_release("gitlab-runner", "gitlab-runner");
//! let plan = engine.plan(&applyset, &manifest.objects).await?;
//! print!("{}", plan.diff(&Default::default()));
//! println!("{}", plan.summary());
//! let report = engine.apply(&plan, |r| eprintln!("{r}")).await?;
//! let waited = engine.wait(&report.objects(), &WaitOptions::default(), |o, r| eprintln!("{o}: {r}")).await?;
//! assert!(waited.is_ready());
//! # Ok(()) }
//! ```
use std::fmt;
use std::future::Future;
use std::pin::Pin;

use serde::Serialize;

use crate::k8s::Cluster;
pub use crate::object::ObjectRef;

#[allow(clippy::module_inception)] // one file per verb, the verb `apply` included
mod apply;
mod delete;
mod diff;
mod plan;
mod prune;
mod status;
mod wait;

pub use delete::UninstallOptions;
pub use diff::{DiffOptions, Summary, mask_secrets, normalize};
pub use plan::{Change, Plan, PlannedAction};
pub use prune::{ApplySet, ParentState};
pub use status::{ObjectStatus, StatusReport};
pub use wait::{NotReady, Readiness, WaitOptions, WaitReport, readiness};

/// The field manager runnerctl applies with.
pub const FIELD_MANAGER: &str = "runnerctl";

/// Field managers whose `Update` entries runnerctl takes over when it adopts an object
/// (client-side `kubectl apply`, helm, and the server's pre-SSA placeholder).
pub const ADOPTABLE_MANAGERS: &[&str] =
    &["kubectl-client-side-apply", "helm", "before-first-apply"];

/// What happened to one object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// It did not exist and was created.
    Created,
    /// It existed and was changed.
    Configured,
    /// It was already as rendered: no write.
    Unchanged,
    /// An immutable field changed: deleted and created again (`--recreate`).
    Recreated,
    /// It is no longer rendered and was deleted from the ApplySet.
    Pruned,
    /// Deleted by uninstall.
    Deleted,
    /// Left alone on purpose (see the note).
    Skipped,
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Action::Created => "created",
            Action::Configured => "configured",
            Action::Unchanged => "unchanged",
            Action::Recreated => "recreated",
            Action::Pruned => "pruned",
            Action::Deleted => "deleted",
            Action::Skipped => "skipped",
        })
    }
}

/// Hand one outcome to the caller's progress callback and keep it in `results`.
pub(crate) fn record(
    results: &mut Vec<ObjectResult>,
    on_result: &mut dyn FnMut(&ObjectResult),
    result: ObjectResult,
) {
    on_result(&result);
    results.push(result);
}

/// The outcome for one object.
#[derive(Debug, Clone, Serialize)]
pub struct ObjectResult {
    /// The object.
    pub object: ObjectRef,
    /// What was done.
    pub action: Action,
    /// Why, when the action needs explaining (skipped objects).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl fmt::Display for ObjectResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.object, self.action)?;
        if let Some(n) = &self.note {
            write!(f, " ({n})")?;
        }
        Ok(())
    }
}

/// What [`Engine::apply`] or [`Engine::uninstall`] did, one entry per object.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    /// One entry per object, in the order they were handled.
    pub results: Vec<ObjectResult>,
    /// Write requests sent (applies, patches, deletes; the ApplySet parent included).
    pub writes: usize,
}

impl Report {
    /// The objects that exist after the operation (everything but pruned/deleted ones).
    pub fn objects(&self) -> Vec<ObjectRef> {
        self.results
            .iter()
            .filter(|r| !matches!(r.action, Action::Pruned | Action::Deleted | Action::Skipped))
            .map(|r| r.object.clone())
            .collect()
    }
}

/// One field owned by another field manager.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldConflict {
    /// The field path, e.g. `.spec.replicas`.
    pub field: String,
    /// The manager that owns it, e.g. `kubectl-edit`.
    pub manager: String,
}

/// Errors of the apply engine. Every variant names the object it is about.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An API request failed (unreachable server, forbidden, invalid, ...).
    #[error("{object}: {verb} failed: {message}")]
    Api {
        /// The object, `Kind/ns/name`.
        object: String,
        /// What runnerctl was doing: `apply`, `dry-run apply`, `get`, `prune`, ...
        verb: &'static str,
        /// The server's message, or the transport error.
        message: String,
        /// The HTTP status code, when the server answered.
        code: Option<u16>,
    },
    /// Fields are owned by another field manager and `--force-conflicts` was not given.
    #[error(
        "{object}: apply failed: {n} field(s) owned by another field manager:\n{list}\nrerun with --force-conflicts to take them over, or change the values to match",
        n = conflicts.len(),
        list = conflicts.iter().map(|c| format!("  {} (owned by {:?})", c.field, c.manager)).collect::<Vec<_>>().join("\n")
    )]
    Conflict {
        /// The object.
        object: String,
        /// The contested fields and their owners.
        conflicts: Vec<FieldConflict>,
    },
    /// A change to an immutable field (e.g. a Deployment's selector).
    #[error(
        "{object}: an immutable field would change ({message}); rerun with --recreate to delete and recreate the object"
    )]
    Immutable {
        /// The object.
        object: String,
        /// The server's explanation.
        message: String,
    },
    /// The server does not serve the object's apiVersion/kind.
    #[error("{object}: the server does not serve {api_version} {kind} (is the CRD installed?)")]
    UnknownKind {
        /// The object.
        object: String,
        /// Its apiVersion.
        api_version: String,
        /// Its kind.
        kind: String,
    },
    /// The ApplySet parent exists but belongs to another tool or another ApplySet.
    #[error("{parent}: ApplySet is owned by {owner}, not runnerctl; refusing to touch it")]
    ForeignApplySet {
        /// The parent, `Secret/ns/name`.
        parent: String,
        /// Its tooling annotation or id label, as found.
        owner: String,
    },
    /// A live object is a member of another ApplySet.
    #[error("{object}: belongs to another ApplySet ({id}); refusing to take it over")]
    ForeignMember {
        /// The object.
        object: String,
        /// The other ApplySet id.
        id: String,
    },
    /// No ApplySet parent: the release is not installed (in this namespace).
    #[error("{parent} not found: release not installed in this namespace")]
    NotInstalled {
        /// The parent, `Secret/ns/name`.
        parent: String,
    },
    /// A rendered object is not usable (no name, no kind).
    #[error("{object}: {message}")]
    Invalid {
        /// The object as far as known.
        object: String,
        /// What is wrong.
        message: String,
    },
    /// Waiting for deletion timed out.
    #[error("timed out after {secs}s waiting for {what}")]
    Timeout {
        /// What was being waited for.
        what: String,
        /// The timeout.
        secs: u64,
    },
    /// Several objects failed; each is listed.
    #[error("{} errors:\n{}", .0.len(), .0.iter().map(|e| format!("  {e}")).collect::<Vec<_>>().join("\n"))]
    Many(Vec<Error>),
}

impl Error {
    /// Classify a failed request about `object`.
    pub fn api(object: &ObjectRef, verb: &'static str, err: kube::Error) -> Self {
        let object = object.to_string();
        match err {
            kube::Error::Api(s) => {
                if s.code == 409 && s.reason == "Conflict" && s.message.contains("conflict") {
                    let conflicts = conflicts_of(&s);
                    if !conflicts.is_empty() {
                        return Error::Conflict { object, conflicts };
                    }
                }
                if s.code == 422 && s.message.contains("immutable") {
                    return Error::Immutable {
                        object,
                        message: s.message,
                    };
                }
                let mut message = if s.message.is_empty() {
                    s.reason.clone()
                } else {
                    s.message.clone()
                };
                if s.code == 403 {
                    message = format!("forbidden: {message}");
                }
                if s.code == 404 && message.starts_with("namespaces \"") {
                    message.push_str(" (create it first, or pass --create-namespace)");
                }
                Error::Api {
                    object,
                    verb,
                    message,
                    code: Some(s.code),
                }
            }
            other => {
                // Transport errors: the whole cause chain ("... connection refused").
                let mut message = other.to_string();
                let mut cause = std::error::Error::source(&other);
                while let Some(c) = cause {
                    let text = c.to_string();
                    if !message.contains(&text) {
                        message = format!("{message}: {text}");
                    }
                    cause = c.source();
                }
                Error::Api {
                    object,
                    verb,
                    message,
                    code: None,
                }
            }
        }
    }

    /// Fold a list of errors into one (`Ok` when empty).
    pub(crate) fn collect(mut errs: Vec<Error>) -> Result<(), Error> {
        match errs.len() {
            0 => Ok(()),
            1 => Err(errs.remove(0)),
            _ => Err(Error::Many(errs)),
        }
    }
}

/// The fields and managers of an SSA conflict status.
fn conflicts_of(s: &kube::core::Status) -> Vec<FieldConflict> {
    let Some(d) = &s.details else {
        return Vec::new();
    };
    d.causes
        .iter()
        .filter(|c| c.reason == "FieldManagerConflict" || c.message.starts_with("conflict with"))
        .map(|c| FieldConflict {
            field: c.field.clone(),
            manager: c
                .message
                .split('"')
                .nth(1)
                .unwrap_or(&c.message)
                .to_string(),
        })
        .collect()
}

/// Engine settings.
#[derive(Debug, Clone)]
pub struct EngineOptions {
    /// The field manager, `runnerctl` by default.
    pub field_manager: String,
    /// Take fields owned by other managers (`--force-conflicts`).
    pub force_conflicts: bool,
    /// Delete and recreate objects whose immutable fields change (`--recreate`).
    pub recreate: bool,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            field_manager: FIELD_MANAGER.into(),
            force_conflicts: false,
            recreate: false,
        }
    }
}

impl EngineOptions {
    /// Set `force_conflicts`.
    #[must_use]
    pub fn force_conflicts(mut self, yes: bool) -> Self {
        self.force_conflicts = yes;
        self
    }
    /// Set `recreate`.
    #[must_use]
    pub fn recreate(mut self, yes: bool) -> Self {
        self.recreate = yes;
        self
    }
}

/// The apply engine: a counted client plus options. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Engine {
    cluster: Cluster,
    opts: EngineOptions,
}

impl Engine {
    /// An engine over a client.
    pub fn new(client: kube::Client, opts: EngineOptions) -> Self {
        Engine {
            cluster: Cluster::new(client),
            opts,
        }
    }

    /// The counted REST layer.
    pub fn cluster(&self) -> &Cluster {
        &self.cluster
    }

    /// The options.
    pub fn options(&self) -> &EngineOptions {
        &self.opts
    }

    /// API requests sent so far.
    pub fn requests(&self) -> u64 {
        self.cluster.requests()
    }
}

/// A boxed future, for running requests concurrently.
pub(crate) type BoxFut<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// Run futures concurrently on the tokio runtime; results in input order.
pub(crate) async fn concurrently<T: Send + 'static>(futs: Vec<BoxFut<T>>) -> Vec<T> {
    let n = futs.len();
    if n == 1 {
        let mut futs = futs;
        return vec![futs.remove(0).await];
    }
    let mut set = tokio::task::JoinSet::new();
    for (i, f) in futs.into_iter().enumerate() {
        set.spawn(async move { (i, f.await) });
    }
    let mut out: Vec<Option<T>> = (0..n).map(|_| None).collect();
    while let Some(r) = set.join_next().await {
        match r {
            Ok((i, v)) => out[i] = Some(v),
            Err(e) => std::panic::resume_unwind(e.into_panic()),
        }
    }
    out.into_iter()
        .map(|v| v.expect("every task reports"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conflict_status_is_parsed() {
        let s: kube::core::Status = serde_json::from_value(serde_json::json!({
            "status": "Failure", "code": 409, "reason": "Conflict",
            "message": "Apply failed with 1 conflict: conflict with \"kubectl-edit\" using apps/v1: .spec.replicas",
            "details": {"causes": [{"reason": "FieldManagerConflict",
                "message": "conflict with \"kubectl-edit\" using apps/v1", "field": ".spec.replicas"}]}
        }))
        .unwrap();
        let obj = ObjectRef::of(
            &serde_json::json!({"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"r","namespace":"ns"}}),
        );
        let e = Error::api(&obj, "apply", kube::Error::Api(Box::new(s)));
        let text = e.to_string();
        assert!(matches!(e, Error::Conflict { .. }), "{text}");
        assert!(
            text.contains(".spec.replicas (owned by \"kubectl-edit\")"),
            "{text}"
        );
        assert!(text.starts_with("Deployment/ns/r: apply failed"), "{text}");
    }

    #[test]
    fn forbidden_names_object() {
        let s: kube::core::Status = serde_json::from_value(serde_json::json!({
            "status": "Failure", "code": 403, "reason": "Forbidden",
            "message": "roles.rbac.authorization.k8s.io \"x\" is forbidden: user cannot patch"
        }))
        .unwrap();
        let obj = ObjectRef::of(
            &serde_json::json!({"apiVersion":"v1","kind":"Role","metadata":{"name":"x","namespace":"ns"}}),
        );
        let e = Error::api(&obj, "apply", kube::Error::Api(Box::new(s)));
        assert_eq!(
            e.to_string(),
            "Role/ns/x: apply failed: forbidden: roles.rbac.authorization.k8s.io \"x\" is forbidden: user cannot patch"
        );
    }
}
