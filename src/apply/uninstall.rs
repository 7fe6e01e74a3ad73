//! Uninstall: delete the runner's Deployment first and wait until the runner has drained
//! (its pods gone, their CI jobs finished), then the other members in reverse install order
//! (RBAC, ServiceAccount, Secrets, ConfigMap: what the runner needs to clean up after its
//! jobs), then the ApplySet parent and the release's revisions, and wait until they are gone.
//! A namespace goes only when asked and only if runnerctl created it (the Namespace object is
//! a member).
use std::time::{Duration, Instant};

use serde_json::Value;

use super::applyset::{ANNOTATION_CREATED_NAMESPACE, ApplySet, Members};
use super::delete::Propagation;
use super::drain::{Runners, is_deployment};
use super::{Action, Engine, Error, ObjectRef, ObjectResult, Report, record};
use crate::k8s::Kind;
use crate::object::uninstall_order;

/// Options of [`Engine::uninstall`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct UninstallOptions {
    /// Also delete the Namespace, if runnerctl created it (it is a member and carries
    /// [`ANNOTATION_CREATED_NAMESPACE`](super::ANNOTATION_CREATED_NAMESPACE) with this
    /// release's ApplySet id). A namespace that existed before is never deleted.
    pub delete_namespace: bool,
    /// Wait until every deleted object is gone.
    pub wait: bool,
    /// How long to wait: for the runner to drain and for the deleted objects to be gone,
    /// together.
    pub timeout: Duration,
    /// Delete the Deployment first and wait until its runner pods are gone (they finish
    /// their jobs) before deleting the rest. When the time runs out first, the rest is kept
    /// and [`Error::Draining`] names what still runs.
    pub drain: bool,
}

setters!(UninstallOptions {
    /// Set whether the Namespace runnerctl created is deleted too.
    delete_namespace: bool,
    /// Set whether to wait until every deleted object is gone.
    wait: bool,
    /// Set how long to wait.
    timeout: Duration,
    /// Set whether the runner drains before its RBAC and token go.
    drain: bool,
});

impl Default for UninstallOptions {
    fn default() -> Self {
        UninstallOptions {
            delete_namespace: false,
            wait: true,
            timeout: Duration::from_secs(300),
            drain: true,
        }
    }
}

/// Why a job pod is left alone.
pub(crate) const STRANDED: &str = "a CI job pod whose runner is gone: nothing will finish it; delete it \
                        when its logs are no longer needed";

/// Why a namespace is kept when its deletion was asked for.
const NOT_CREATED: &str = "not created by runnerctl; kept";

/// Whether runnerctl created this Namespace for the ApplySet `id` (it records so at creation).
fn created_by(namespace: &Value, id: &str) -> bool {
    crate::object::annotation(namespace, ANNOTATION_CREATED_NAMESPACE) == Some(id)
}

/// What an uninstall reports while it works.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub enum Progress<'a> {
    /// One object was handled.
    Object(&'a ObjectResult),
    /// The runner is draining: what still runs.
    Draining(&'a Runners),
}

impl std::fmt::Display for Progress<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Progress::Object(r) => write!(f, "{r}"),
            Progress::Draining(r) => {
                write!(f, "waiting for the runner to drain: {}", r.summary())
            }
        }
    }
}

/// One uninstall under way: the report so far and the progress callback.
struct Run<'a> {
    report: Report,
    on_progress: &'a mut (dyn FnMut(Progress<'_>) + Send),
}

impl Run<'_> {
    fn record(&mut self, object: ObjectRef, action: Action, note: Option<&str>) {
        let on_progress = &mut *self.on_progress;
        record(
            &mut self.report.results,
            &mut |r| on_progress(Progress::Object(r)),
            ObjectResult {
                object,
                action,
                note: note.map(str::to_string),
            },
        );
    }
}

impl Engine {
    /// Delete the release: the Deployment first (foreground, so it is gone only when its
    /// pods are) and, with [`UninstallOptions::drain`], wait until the runner has drained;
    /// then the other members in reverse install order, the parent, and (if asked) the
    /// Namespaces runnerctl created. `on_progress` reports each object and the drain.
    pub async fn uninstall(
        &self,
        applyset: &ApplySet,
        opts: &UninstallOptions,
        mut on_progress: impl FnMut(Progress<'_>) + Send,
    ) -> Result<Report, Error> {
        let (_, mut members) = self.installed(applyset).await?;
        members.sort_by(|(_, a), (_, b)| uninstall_order(&ObjectRef::of(a), &ObjectRef::of(b)));
        let start = Instant::now();
        let selector = self.runner_selector(&members).await;
        let (namespaces, members): (Members, Members) = members
            .into_iter()
            .partition(|(_, v)| ObjectRef::of(v).is_namespace());
        let (workloads, members): (Members, Members) =
            members.into_iter().partition(|(_, v)| is_deployment(v));
        let mut run = Run {
            report: Report::default(),
            on_progress: &mut on_progress,
        };
        let mut gone = self.delete_members(&workloads, &mut run).await?;
        if opts.drain && !selector.is_empty() {
            let kept = || {
                let namespaces = namespaces.iter().filter(|_| opts.delete_namespace);
                members
                    .iter()
                    .chain(namespaces)
                    .map(|(_, v)| ObjectRef::of(v))
                    .collect()
            };
            let until = (start + opts.timeout, opts.timeout);
            let stranded = self
                .drain(&selector, until, kept, &mut |r| {
                    (run.on_progress)(Progress::Draining(r))
                })
                .await?;
            for job in stranded {
                run.record(job.object(), Action::Skipped, Some(STRANDED));
            }
            // The Deployment itself goes too (foreground: after its ReplicaSets) before the
            // rest, so an interrupted uninstall still finds the release to finish.
            self.wait_gone(&gone, start, opts.timeout).await?;
        }
        gone.extend(self.delete_members(&members, &mut run).await?);
        gone.push(self.delete_parent(applyset, &mut run).await?);
        // The release's revisions go with it (after the parent: an interrupted uninstall
        // leaves the history to roll back with).
        for (kind, object) in self.delete_history(applyset).await? {
            run.report.writes += 1;
            run.record(object.clone(), Action::Deleted, None);
            gone.push((kind, object));
        }
        if opts.wait {
            self.wait_gone(&gone, start, opts.timeout).await?;
        }
        let id = applyset.id();
        let (created, before): (Members, Members) = namespaces
            .into_iter()
            .partition(|(_, v)| created_by(v, &id));
        for (_, v) in &before {
            run.record(ObjectRef::of(v), Action::Skipped, Some(NOT_CREATED));
        }
        if !opts.delete_namespace {
            for (_, v) in &created {
                run.record(
                    ObjectRef::of(v),
                    Action::Skipped,
                    Some("kept; not asked to delete the namespace"),
                );
            }
            return Ok(run.report);
        }
        if created.is_empty() {
            if before.is_empty() {
                run.record(
                    ObjectRef::namespace(&applyset.namespace),
                    Action::Skipped,
                    Some(NOT_CREATED),
                );
            }
            return Ok(run.report);
        }
        let namespaces = created;
        let gone = self.delete_members(&namespaces, &mut run).await?;
        if opts.wait {
            self.wait_gone(&gone, start, opts.timeout).await?;
        }
        Ok(run.report)
    }

    /// Delete members (foreground); every failure is reported together.
    async fn delete_members(
        &self,
        members: &[(Kind, Value)],
        run: &mut Run<'_>,
    ) -> Result<Vec<(Kind, ObjectRef)>, Error> {
        let mut gone = Vec::new();
        let mut errs = Vec::new();
        for (kind, live) in members {
            let object = ObjectRef::of(live);
            run.report.writes += 1;
            match self
                .delete_one(kind, &object, Some(live), Propagation::Foreground, "delete")
                .await
            {
                Ok(()) => {
                    run.record(object.clone(), Action::Deleted, None);
                    gone.push((kind.clone(), object));
                }
                Err(e) => errs.push(e),
            }
        }
        Error::collect(errs)?;
        Ok(gone)
    }

    /// Delete the ApplySet parent, last of the release's objects.
    async fn delete_parent(
        &self,
        applyset: &ApplySet,
        run: &mut Run<'_>,
    ) -> Result<(Kind, ObjectRef), Error> {
        let secret = self.secret_kind().await?;
        let parent = applyset.parent_ref();
        run.report.writes += 1;
        self.delete_one(&secret, &parent, None, Propagation::Background, "delete")
            .await?;
        Ok((secret, parent))
    }
}
