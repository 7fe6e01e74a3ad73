//! Apply a plan: Namespace first, then the ApplySet parent (with the union of old and new
//! group-kinds, so an interrupted apply never loses track of a member), then the rest in
//! install order, writing only the objects the plan says differ; prune and shrink the parent
//! only when every write succeeded.
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::delete::Propagation;
use super::managed_fields::take_over;
use super::plan::{Change, Plan, PlannedAction};
use super::{Action, ApplySet, Engine, Error, ObjectResult, Report, record};
use crate::k8s::ApplyParams;

/// How long `recreate` waits for the old object to disappear.
const RECREATE_WAIT: Duration = Duration::from_secs(120);

/// The group-kinds and namespaces an ApplySet parent lists.
type Inventory = (BTreeSet<String>, BTreeSet<String>);

impl Engine {
    /// Apply a plan. `on_result` is called as each object is handled (for progress output).
    /// Stops at the first failed write; objects already written stay consistent and the
    /// ApplySet parent still lists every group-kind, so running apply again converges.
    /// Nothing is pruned unless every write succeeded.
    pub async fn apply(
        &self,
        plan: &Plan,
        mut on_result: impl FnMut(&ObjectResult) + Send,
    ) -> Result<Report, Error> {
        self.check_recreate(plan)?;
        let mut report = Report::default();
        let target: Inventory = plan.inventory();
        let live: Inventory = (
            plan.parent.group_kinds.clone(),
            plan.parent.namespaces.clone(),
        );
        let union: Inventory = (
            target.0.union(&live.0).cloned().collect(),
            target.1.union(&live.1).cloned().collect(),
        );
        let parent_current = plan.parent.exists
            && live == union
            && plan.parent.tooling.as_deref() == Some(ApplySet::tooling().as_str());

        // Stage 1: namespaces. Stage 2: the parent. Stage 3: everything else, in order.
        let (namespaces, rest): (Vec<&Change>, Vec<&Change>) =
            plan.changes.iter().partition(|c| c.object.is_namespace());
        for c in namespaces {
            let r = self.apply_one(c, &mut report).await?;
            record(&mut report.results, &mut on_result, r);
        }
        let mut rv = plan.parent.resource_version.clone();
        let written = if parent_current {
            live
        } else {
            report.writes += 1;
            rv = self
                .write_parent(&plan.applyset, &union.0, &union.1, rv.as_deref())
                .await?;
            union
        };
        for c in rest {
            let r = self.apply_one(c, &mut report).await?;
            record(&mut report.results, &mut on_result, r);
        }

        // Prune, then shrink the parent to what is left.
        self.prune(&plan.prune, &mut report, &mut on_result).await?;
        if target != written {
            report.writes += 1;
            self.write_parent(&plan.applyset, &target.0, &target.1, rv.as_deref())
                .await?;
        }
        Ok(report)
    }

    /// Without the recreate option, every immutable-field change is an error before
    /// anything is written.
    fn check_recreate(&self, plan: &Plan) -> Result<(), Error> {
        if self.opts.recreate {
            return Ok(());
        }
        Error::collect(
            plan.changes
                .iter()
                .filter(|c| c.action == PlannedAction::Recreate && c.immutable.is_some())
                .map(immutable)
                .collect(),
        )
    }

    /// The one real server-side apply of an object's desired state (counted as a write).
    async fn write(&self, c: &Change, force: bool, report: &mut Report) -> Result<(), Error> {
        let p = ApplyParams {
            manager: &self.opts.field_manager,
            force,
            dry_run: false,
        };
        report.writes += 1;
        self.cluster
            .apply(
                &c.kind,
                c.object.namespace.as_deref(),
                &c.object.name,
                &c.desired,
                p,
            )
            .await
            .map_err(|e| Error::api(&c.object, "apply", e))?;
        Ok(())
    }

    /// Write one object as planned.
    async fn apply_one(&self, c: &Change, report: &mut Report) -> Result<ObjectResult, Error> {
        let mut note = None;
        let action = match c.action {
            PlannedAction::Unchanged => Action::Unchanged,
            PlannedAction::Keep => {
                note = Some("existed before; left alone".to_string());
                Action::Skipped
            }
            PlannedAction::Prune => unreachable!("prunes are handled apart"),
            PlannedAction::Recreate => {
                self.recreate(c, report).await?;
                Action::Recreated
            }
            PlannedAction::Create | PlannedAction::Update => {
                let adopted = self.take_over_fields(c, report).await?;
                self.write(c, self.opts.force_conflicts || adopted, report)
                    .await?;
                if c.live.is_some() {
                    Action::Configured
                } else {
                    Action::Created
                }
            }
        };
        Ok(ObjectResult {
            object: c.object.clone(),
            action,
            note,
        })
    }

    /// Delete the object, wait until it is gone, and create it again.
    /// An object already being deleted (an interrupted recreate) needs no permission.
    async fn recreate(&self, c: &Change, report: &mut Report) -> Result<(), Error> {
        if !self.opts.recreate && c.immutable.is_some() {
            return Err(immutable(c));
        }
        report.writes += 1;
        self.delete_one(
            &c.kind,
            &c.object,
            c.live.as_ref(),
            Propagation::Foreground,
            "delete",
        )
        .await?;
        self.wait_gone(
            &[(c.kind.clone(), c.object.clone())],
            Instant::now(),
            RECREATE_WAIT,
        )
        .await?;
        self.write(c, true, report).await
    }

    /// For an object to adopt, move the fields of the adoptable managers to runnerctl's
    /// `Apply` entry (one JSON patch guarded by the resourceVersion). Returns whether the
    /// object is adopted, in which case the apply that follows is forced.
    async fn take_over_fields(&self, c: &Change, report: &mut Report) -> Result<bool, Error> {
        let Some(live) = &c.live else {
            return Ok(false);
        };
        if c.adopt.is_empty() {
            return Ok(false);
        }
        if let Some(managed) = take_over(live, &self.opts.field_manager, &c.object.api_version) {
            let ops =
                super::guarded_replace(live, &["metadata", "managedFields"], Value::Array(managed));
            report.writes += 1;
            self.cluster
                .json_patch(&c.kind, c.object.namespace.as_deref(), &c.object.name, ops)
                .await
                .map_err(|e| Error::api(&c.object, "take over managed fields", e))?;
        }
        Ok(true)
    }
}

/// The error for a planned recreate that was not allowed.
fn immutable(c: &Change) -> Error {
    Error::Immutable {
        object: c.object.clone(),
        message: c.immutable.clone().unwrap_or_default(),
        source: None,
    }
}
