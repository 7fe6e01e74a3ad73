//! The apply engine: plan (server-side dry-run), diff, apply, prune, wait, status, uninstall.
//!
//! An [`Engine`] wraps a [`kube::Client`] and [`EngineOptions`]. Each verb lives in its own
//! file and returns data, which the CLI prints:
//!
//! Files, in the order data flows through them: `applyset.rs` (the inventory: parent,
//! ids, members), `managed_fields.rs` (normalisation, ownership, takeover), `plan.rs`
//! (dry-run and compare), `diff.rs` (presenting a plan), `apply.rs`, `prune.rs`,
//! `delete.rs` (delete one object, wait until gone), `drain.rs` (runner pods and the CI
//! job pods on them), `uninstall.rs`, `wait.rs`, `status.rs`, `history.rs` (revision records, rollback plans), `plan_file.rs` (reviewed
//! plans), and `error.rs`.
//!
//! - [`Engine::plan`]: a server-side dry-run apply (field manager `runnerctl`) of every
//!   rendered object, compared with the live object after [normalisation](normalize),
//!   plus the ApplySet members that are no longer rendered (to prune) -> [`Plan`].
//! - [`Plan::diff`] / [`Change::diff`]: unified diffs, Secret values masked.
//! - [`Engine::apply`]: writes only what the plan says differs, Namespace first, then the
//!   rest in install order; prunes only when every write succeeded -> [`Report`].
//! - [`Engine::wait`]: kstatus-like readiness, with the reasons when it fails -> [`WaitReport`].
//! - [`Engine::status`] and [`Engine::uninstall`] work from the ApplySet inventory alone;
//!   status includes the runner pods and their CI jobs ([`Runners`]), and uninstall deletes
//!   the Deployment first and waits until the runner has drained before its RBAC and token
//!   go. A [`Plan`] lists the [`Restart`]s it causes, with the jobs that drain.
//! - [`Engine::record`] keeps a [`Revision`] of each apply that changed something;
//!   [`Engine::history`] lists them and [`Engine::plan_revision`] plans a rollback to one,
//!   which [`Engine::apply`] then applies like any plan.
//! - [`PlanFile`]: a plan as data to write and review; [`Engine::plan_from_file`] checks
//!   that the live state is still as the plan saw it and gives the [`Plan`] to apply.
//! - [`Engine::doctor`]: before and after install, a checklist of what would keep the runner
//!   from working (permissions, Pod Security, RBAC for jobs, token, GitLab's TLS, the
//!   runner's log) -> [`doctor::Checklist`].
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
// Errors carry the object they are about as data (and the API error as their source), so
// callers can match on them; they are built on the failure path only.
#![allow(clippy::result_large_err)]

use std::fmt;
use std::future::Future;
use std::pin::Pin;

use serde::Serialize;

use crate::k8s::{Cluster, RetryNotice, RetryPolicy};
pub use crate::object::ObjectRef;

#[allow(clippy::module_inception)] // one file per verb, the verb `apply` included
mod apply;
mod applyset;
mod delete;
mod diff;
pub mod doctor;
mod drain;
mod error;
mod helm;
mod history;
mod lock;
mod managed_fields;
mod managers;
mod plan;
mod plan_file;
mod prune;
mod status;
mod token;
mod uninstall;
mod wait;

pub use applyset::{
    ANNOTATION_CREATED_NAMESPACE, ANNOTATION_GROUP_KINDS, ANNOTATION_NAMESPACES,
    ANNOTATION_TOOLING, ApplySet, LABEL_ID, LABEL_PART_OF, ParentState,
};
pub use diff::DiffOptions;
pub use drain::{
    JobPod, LABEL_MANAGER_ID_SHORT, LABEL_MANAGER_NAME, LABEL_PROJECT_ID, PROGRESS_EVERY, Restart,
    RunnerPod, Runners,
};
pub use error::{Error, FieldConflict, Remedy};
pub use history::{
    DEFAULT_HISTORY_MAX, LABEL_RELEASE, LABEL_REVISION, NewRevision, Operation, Outcome,
    REVISION_SECRET_TYPE, Revision, RevisionContent, RevisionInfo, change_lines, last_good,
    rollback_target,
};
pub use lock::{LEASE_DURATION, Lock, LockOptions};
pub use managed_fields::{ADOPTABLE_MANAGERS, normalize};
pub use managers::{ManagerState, Managers};
pub use plan::{Adoption, Change, Plan, PlannedAction, Summary};
pub use plan_file::{PLAN_FORMAT, PlanFile, PlannedObject, SecretsInPlan, digest};
pub use status::{ObjectStatus, StatusOptions, StatusReport};
pub use token::{
    ANNOTATION_REPLACED, ANNOTATION_ROTATION, Rotation, TOKEN_KEY, TokenStatus, token_digest,
    token_key,
};
pub use uninstall::{Progress, UninstallOptions};
pub use wait::{NotReady, Readiness, WaitOptions, WaitReport, readiness};

/// Now, RFC 3339 in seconds, UTC.
pub(crate) fn now_rfc3339() -> String {
    k8s_openapi::jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

/// The field manager runnerctl applies with.
pub const FIELD_MANAGER: &str = "runnerctl";

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
    on_result: &mut (dyn FnMut(&ObjectResult) + Send),
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

/// Engine settings.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct EngineOptions {
    /// The field manager, `runnerctl` by default.
    pub field_manager: String,
    /// Take fields owned by other managers (`--force-conflicts`).
    pub force_conflicts: bool,
    /// Delete and recreate objects whose immutable fields change (`--recreate`).
    pub recreate: bool,
    /// Adopt existing objects that are not members of the release (`--adopt`). Without it,
    /// only objects helm created for the same release name and namespace are adopted.
    pub adopt: bool,
    /// How requests that fail for a passing reason (connection refused or reset, no answer in
    /// time, 429, 5xx) are retried, and how long one try may take.
    pub retry: RetryPolicy,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            field_manager: FIELD_MANAGER.into(),
            force_conflicts: false,
            recreate: false,
            adopt: false,
            retry: RetryPolicy::default(),
        }
    }
}

setters!(EngineOptions {
    /// Set the field manager.
    field_manager: String,
    /// Set whether fields owned by other managers are taken over.
    force_conflicts: bool,
    /// Set whether objects whose immutable fields change are deleted and created again.
    recreate: bool,
    /// Set whether existing objects that are not members are adopted.
    adopt: bool,
    /// Set the retry policy.
    retry: RetryPolicy,
});

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
            cluster: Cluster::new(client).with_retry(opts.retry),
            opts,
        }
    }

    /// Start no retry of an API request that would end after `deadline` (see
    /// [`Cluster::set_deadline`]); shared with the engine's clones.
    pub fn set_deadline(&self, deadline: Option<std::time::Instant>) {
        self.cluster.set_deadline(deadline);
    }

    /// Call `notice` before each retry of a failed request (e.g. to say so on stderr).
    #[must_use]
    pub fn with_retry_notice(mut self, notice: RetryNotice) -> Self {
        self.cluster = self.cluster.with_retry_notice(notice);
        self
    }

    /// The counted REST layer.
    pub fn cluster(&self) -> &Cluster {
        &self.cluster
    }

    /// The options.
    pub fn options(&self) -> &EngineOptions {
        &self.opts
    }

    /// The kind of a reference (built in or discovered).
    pub(crate) async fn resolve_ref(&self, o: &ObjectRef) -> Result<crate::k8s::Kind, Error> {
        self.cluster
            .resolve(&o.api_version, &o.kind)
            .await
            .map_err(|e| Error::api(o, "discovery", e))?
            .ok_or_else(|| Error::UnknownKind { object: o.clone() })
    }

    /// API requests sent so far.
    pub fn requests(&self) -> u64 {
        self.cluster.requests()
    }
}

/// A JSON patch that replaces the field at `path` of `live` with `value`, on condition that
/// the object is still at the resourceVersion it was read at.
pub(crate) fn guarded_replace(
    live: &serde_json::Value,
    path: &[&str],
    value: serde_json::Value,
) -> json_patch::Patch {
    use json_patch::jsonptr::PointerBuf;
    use json_patch::{PatchOperation, ReplaceOperation, TestOperation};
    let rv = live
        .pointer("/metadata/resourceVersion")
        .cloned()
        .unwrap_or(serde_json::Value::Null);
    json_patch::Patch(vec![
        PatchOperation::Test(TestOperation {
            path: PointerBuf::from_tokens(["metadata", "resourceVersion"]),
            value: rv,
        }),
        PatchOperation::Replace(ReplaceOperation {
            path: PointerBuf::from_tokens(path.iter().copied()),
            value,
        }),
    ])
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
