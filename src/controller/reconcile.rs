//! One reconcile of a `GitLabRunner`: its values merged and checked, rendered, planned and
//! applied by the same [`Engine`] as `runnerctl apply` (server-side apply, ApplySet prune, the
//! ownership rules, the drain of a pruned runner), a revision recorded when something changed,
//! and the status written (kstatus conditions `Ready`, `Reconciling`, `Stalled`). A deletion
//! runs the same uninstall as `runnerctl uninstall` (the runner drains first) behind a
//! finalizer.
use std::sync::Arc;
use std::time::{Duration, Instant};

use kube::api::{Api, Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::finalizer::{Event, finalizer};
use serde_json::{Value, json};

use super::metrics::Metrics;
use super::resource::GitLabRunner;
use crate::apply::{
    ApplySet, Engine, Error as EngineError, NewRevision, Operation, Outcome, UninstallOptions,
};
use crate::{Release, ValuesBuilder, render};

/// The finalizer the controller puts on every GitLabRunner.
pub const FINALIZER: &str = "runnerctl.io/uninstall";
/// The field manager of the controller's status writes.
pub const STATUS_MANAGER: &str = "runnerctl-controller";

/// How often a Ready runner is looked at again without any event (the slow resync).
pub const RESYNC: Duration = Duration::from_secs(30 * 60);
/// How soon a runner that is not Ready yet is looked at again, at the latest: the watch on
/// its Deployment brings it back as soon as that changes (ready, or failing), so this is only
/// a safety net, and a short one would plan every runner of a large fleet over and over.
const NOT_READY_RETRY: Duration = Duration::from_secs(60);
/// How long one reconcile waits for a deleted runner to drain before it looks again.
const DRAIN_STEP: Duration = Duration::from_secs(5);

/// What every reconcile shares.
pub struct Context {
    /// The client.
    pub client: kube::Client,
    /// The engine (one discovery cache for all).
    pub engine: Engine,
    /// Counters for /metrics.
    pub metrics: Arc<Metrics>,
    /// Revisions kept per runner.
    pub history_max: usize,
}

/// Why a reconcile failed (it is retried; [`Stalled`](Condition) reasons are not errors).
#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    /// The engine failed (an API error worth retrying).
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// A request of the controller's own failed.
    #[error(transparent)]
    Kube(#[from] kube::Error),
    /// The runner is still draining: the finalizer stays.
    #[error("the runner is still draining: {0}")]
    Draining(String),
    /// The finalizer machinery failed.
    #[error("finalizer: {0}")]
    Finalizer(String),
}

/// The outcome the status says.
struct Outcome2 {
    ready: bool,
    reconciling: bool,
    stalled: bool,
    reason: String,
    message: String,
}

impl Outcome2 {
    fn stalled(reason: &str, message: impl Into<String>) -> Self {
        Outcome2 {
            ready: false,
            reconciling: false,
            stalled: true,
            reason: reason.into(),
            message: message.into(),
        }
    }
}

/// Reconcile one GitLabRunner.
pub async fn reconcile(
    obj: Arc<GitLabRunner>,
    ctx: Arc<Context>,
) -> Result<Action, ReconcileError> {
    let started = Instant::now();
    let api: Api<GitLabRunner> = Api::namespaced(ctx.client.clone(), obj.namespace());
    let result = finalizer(&api, FINALIZER, obj, |event| async {
        match event {
            Event::Apply(o) => apply(&o, &ctx, &api).await,
            Event::Cleanup(o) => cleanup(&o, &ctx).await,
        }
    })
    .await
    .map_err(|e| match e {
        kube::runtime::finalizer::Error::ApplyFailed(e)
        | kube::runtime::finalizer::Error::CleanupFailed(e) => e,
        other => ReconcileError::Finalizer(other.to_string()),
    });
    ctx.metrics.reconciled(started.elapsed(), result.is_ok());
    result
}

/// What to do after an error: look again soon.
pub fn error_policy(_obj: Arc<GitLabRunner>, _err: &ReconcileError, _ctx: Arc<Context>) -> Action {
    Action::requeue(Duration::from_secs(15))
}

/// The merged, checked values of a GitLabRunner, and the warnings (unknown keys, ...).
async fn values(
    obj: &GitLabRunner,
    engine: &Engine,
) -> Result<(crate::Values, Vec<String>), Outcome2> {
    let mut b = ValuesBuilder::new();
    for from in &obj.spec.values_from {
        let what = format!("{} {} key {}", from.kind, from.name, from.key());
        let text = engine
            .object_text(&from.kind, obj.namespace(), &from.name, from.key())
            .await
            .map_err(|e| Outcome2::stalled("ValuesFromFailed", format!("{what}: {e}")))?;
        match text {
            Some(t) => b = b.values_file(format!("valuesFrom {what}"), t),
            None if from.optional => {}
            None => {
                return Err(Outcome2::stalled(
                    "ValuesFromMissing",
                    format!("{what} does not exist (mark it optional: true to go on without it)"),
                ));
            }
        }
    }
    if let Some(v) = &obj.spec.values {
        b = b.values_file("spec.values", v.to_string());
    }
    if let Some(mode) = &obj.spec.build_mode {
        b = b.set_string(format!("runnerctl.buildMode={mode}"));
    }
    let (values, warnings) = b
        .build()
        .map_err(|e| Outcome2::stalled("InvalidValues", e.to_string()))?;
    Ok((values, warnings.into_iter().map(|w| w.message).collect()))
}

async fn apply(
    obj: &GitLabRunner,
    ctx: &Context,
    api: &Api<GitLabRunner>,
) -> Result<Action, ReconcileError> {
    let old = obj.status.clone().unwrap_or(Value::Null);
    if obj.spec.suspend {
        let outcome = Outcome2 {
            ready: old_ready(&old),
            reconciling: false,
            stalled: false,
            reason: "Suspended".into(),
            message: "spec.suspend is true: not reconciled".into(),
        };
        write_status(obj, api, &old, outcome, json!({})).await?;
        return Ok(Action::await_change());
    }
    let (values, mut warnings) = match values(obj, &ctx.engine).await {
        Ok(v) => v,
        Err(outcome) => {
            write_status(obj, api, &old, outcome, json!({})).await?;
            return Ok(Action::await_change());
        }
    };
    let release = Release {
        name: obj.name().to_string(),
        namespace: obj.namespace().to_string(),
        values,
        create_namespace: false,
        api_versions: Vec::new(),
    };
    let manifest = match render(&release) {
        Ok(m) => m,
        Err(e) => {
            let o = Outcome2::stalled("RenderFailed", e.to_string());
            write_status(obj, api, &old, o, json!({})).await?;
            return Ok(Action::await_change());
        }
    };
    warnings.extend(manifest.warnings.iter().cloned());
    let set = ApplySet::for_release(&release.name, &release.namespace);
    let plan = match ctx.engine.plan_manifest(&set, &manifest).await {
        Ok(p) => p,
        Err(e) if stalls(&e) => {
            let o = Outcome2::stalled("PlanRefused", manifest.secrets.mask_str(&e.to_string()));
            write_status(obj, api, &old, o, json!({})).await?;
            return Ok(Action::await_change());
        }
        Err(e) => return Err(e.into()),
    };
    warnings.extend(plan.warnings.iter().cloned());
    let mut revision = old.get("lastAppliedRevision").cloned();
    if plan.summary().has_changes() {
        match ctx.engine.apply(&plan, |_| {}).await {
            Ok(_) => {}
            Err(e) if stalls(&e) => {
                let o =
                    Outcome2::stalled("ApplyRefused", manifest.secrets.mask_str(&e.to_string()));
                write_status(obj, api, &old, o, json!({})).await?;
                return Ok(Action::await_change());
            }
            Err(e) => return Err(e.into()),
        }
        let new = NewRevision::of_plan(
            &plan,
            Operation::Apply,
            Outcome::Applied,
            release.values.as_json(),
        );
        if let Ok(r) = ctx.engine.record(&set, new, ctx.history_max).await {
            revision = Some(json!(r.info.revision));
        }
    }
    if revision.is_none() {
        revision = ctx
            .engine
            .history(&set)
            .await?
            .iter()
            .map(|r| r.info.revision)
            .max()
            .map(|n| json!(n));
    }
    let status = ctx.engine.status(&set).await?;
    let not_ready: Vec<String> = status
        .objects
        .iter()
        .filter(|o| o.readiness != crate::apply::Readiness::Ready)
        .map(|o| format!("{}: {}", o.object, o.readiness))
        .collect();
    let ready = not_ready.is_empty();
    let (pods, jobs) = status
        .runner
        .as_ref()
        .map_or((0, 0), |r| (r.pods.len(), r.jobs().len()));
    let outcome = Outcome2 {
        ready,
        reconciling: !ready,
        stalled: false,
        reason: if ready { "Ready" } else { "Progressing" }.into(),
        message: if ready {
            format!("{} objects ready", status.objects.len())
        } else {
            not_ready.join("; ")
        },
    };
    let mut extra = json!({"runnerPods": pods, "runningJobs": jobs});
    if let Some(r) = revision {
        extra["lastAppliedRevision"] = r;
    }
    warnings.sort();
    warnings.dedup();
    extra["warnings"] = json!(warnings);
    write_status(obj, api, &old, outcome, extra).await?;
    Ok(Action::requeue(if ready {
        RESYNC
    } else {
        NOT_READY_RETRY
    }))
}

/// Errors that a retry cannot fix: the user must change something.
fn stalls(e: &EngineError) -> bool {
    match e {
        EngineError::Conflict { .. }
        | EngineError::NotOwned { .. }
        | EngineError::Immutable { .. }
        | EngineError::Invalid { .. } => true,
        EngineError::Api { source, .. } => {
            matches!(source.as_ref(), kube::Error::Api(s) if matches!(s.code, 400 | 403 | 404 | 422))
        }
        EngineError::Many(errs) => errs.iter().any(stalls),
        _ => false,
    }
}

fn old_ready(old: &Value) -> bool {
    condition(old, "Ready").is_some_and(|c| c["status"] == "True")
}

fn condition<'a>(status: &'a Value, kind: &str) -> Option<&'a Value> {
    status
        .get("conditions")?
        .as_array()?
        .iter()
        .find(|c| c["type"] == kind)
}

/// Write the status when it changed (an unchanged status is not written: a write would wake
/// the controller again).
async fn write_status(
    obj: &GitLabRunner,
    api: &Api<GitLabRunner>,
    old: &Value,
    mut o: Outcome2,
    extra: Value,
) -> Result<(), ReconcileError> {
    // Messages come from errors about values and objects; whatever looks like a token in
    // them (a value quoted by a parser) never reaches the status.
    o.message = crate::secret::mask_tokens(&o.message);
    let now = crate::apply::now_rfc3339();
    let generation = obj.generation();
    let cond = |kind: &str, on: bool, reason: &str, message: &str| {
        let status = if on { "True" } else { "False" };
        let since = condition(old, kind)
            .filter(|c| c["status"] == status)
            .and_then(|c| c["lastTransitionTime"].as_str())
            .unwrap_or(&now)
            .to_string();
        json!({"type": kind, "status": status, "reason": reason, "message": message,
               "observedGeneration": generation, "lastTransitionTime": since})
    };
    let stalled_reason = if o.stalled {
        o.reason.as_str()
    } else {
        "Reconciled"
    };
    let mut status = json!({
        "observedGeneration": generation,
        "conditions": [
            cond("Ready", o.ready, &o.reason, &o.message),
            cond("Reconciling", o.reconciling, &o.reason, &o.message),
            cond("Stalled", o.stalled, stalled_reason, if o.stalled { &o.message } else { "" }),
        ],
    });
    if let (Value::Object(s), Value::Object(e)) = (&mut status, extra) {
        s.extend(e);
    }
    if let Some(rev) = old.get("lastAppliedRevision")
        && status.get("lastAppliedRevision").is_none()
    {
        status["lastAppliedRevision"] = rev.clone();
    }
    if same_status(old, &status) {
        return Ok(());
    }
    let patch = json!({"status": status});
    api.patch_status(
        obj.name(),
        &PatchParams {
            field_manager: Some(STATUS_MANAGER.into()),
            ..Default::default()
        },
        &Patch::Merge(&patch),
    )
    .await?;
    Ok(())
}

/// Whether two statuses say the same, times aside.
fn same_status(old: &Value, new: &Value) -> bool {
    fn strip(v: &Value) -> Value {
        let mut v = v.clone();
        if let Some(cs) = v.get_mut("conditions").and_then(Value::as_array_mut) {
            for c in cs {
                if let Some(m) = c.as_object_mut() {
                    m.remove("lastTransitionTime");
                }
            }
        }
        v
    }
    strip(old) == strip(new)
}

/// The GitLabRunner is being deleted: uninstall as `runnerctl uninstall` does, the runner
/// draining first. While it drains, the finalizer stays and the reconcile comes back.
async fn cleanup(obj: &GitLabRunner, ctx: &Context) -> Result<Action, ReconcileError> {
    let set = ApplySet::for_release(obj.name(), obj.namespace());
    let opts = UninstallOptions::default()
        .drain(true)
        .wait(false)
        .timeout(DRAIN_STEP);
    match ctx.engine.uninstall(&set, &opts, |_| {}).await {
        Ok(_) | Err(EngineError::NotInstalled { .. }) => Ok(Action::await_change()),
        Err(EngineError::Draining { still, .. }) => Err(ReconcileError::Draining(still.join(", "))),
        Err(e) => Err(e.into()),
    }
}
