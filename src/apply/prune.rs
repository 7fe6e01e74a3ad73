//! Prune: delete the ApplySet members the release no longer renders. The plan never lists a
//! Namespace to prune (that would delete everything in it): see [`Plan::kept`](super::Plan::kept).
//! A runner Deployment goes first, and the rest (its RBAC, token, ConfigMap) only once its
//! runner has drained, as in uninstall.
use std::time::{Duration, Instant};

use super::applyset::Members;
use super::delete::Propagation;
use super::drain::is_deployment;
use super::plan::Change;
use super::{Action, Engine, Error, ObjectResult, Report, record};

/// How long a prune waits for a pruned runner to drain when the caller set no deadline.
const DRAIN_WITHOUT_DEADLINE: Duration = Duration::from_secs(300);

impl Engine {
    /// Delete the planned prunes, runner Deployments first; every failure is reported
    /// together.
    pub(crate) async fn prune(
        &self,
        prunes: &[Change],
        report: &mut Report,
        on_result: &mut (dyn FnMut(&ObjectResult) + Send),
    ) -> Result<(), Error> {
        let (workloads, rest): (Vec<&Change>, Vec<&Change>) =
            prunes.iter().partition(|c| is_deployment_change(c));
        if workloads.is_empty() {
            return self.prune_these(&rest, report, on_result).await;
        }
        let members: Members = prunes
            .iter()
            .filter_map(|c| Some((c.kind.clone(), c.live.clone()?)))
            .collect();
        let selector = self.runner_selector(&members).await;
        self.prune_these(&workloads, report, on_result).await?;
        let deadline = self
            .cluster
            .deadline()
            .unwrap_or_else(|| Instant::now() + DRAIN_WITHOUT_DEADLINE);
        let kept = || rest.iter().map(|c| c.object.clone()).collect();
        let until = (deadline, deadline.saturating_duration_since(Instant::now()));
        let stranded = self.drain(&selector, until, kept, &mut |_| {}).await?;
        for job in stranded {
            record(
                &mut report.results,
                on_result,
                ObjectResult {
                    object: job.object(),
                    action: Action::Skipped,
                    note: Some(super::uninstall::STRANDED.into()),
                },
            );
        }
        self.prune_these(&rest, report, on_result).await
    }

    async fn prune_these(
        &self,
        prunes: &[&Change],
        report: &mut Report,
        on_result: &mut (dyn FnMut(&ObjectResult) + Send),
    ) -> Result<(), Error> {
        let mut errs = Vec::new();
        for c in prunes {
            report.writes += 1;
            let deleted = self
                .delete_one(
                    &c.kind,
                    &c.object,
                    c.live.as_ref(),
                    // A Deployment stays until its pods are gone, so a later run still finds
                    // the runner it drains.
                    if is_deployment_change(c) {
                        Propagation::Foreground
                    } else {
                        Propagation::Background
                    },
                    "prune",
                )
                .await;
            match deleted {
                Ok(()) => record(
                    &mut report.results,
                    on_result,
                    ObjectResult {
                        object: c.object.clone(),
                        action: Action::Pruned,
                        note: None,
                    },
                ),
                Err(e) => errs.push(e),
            }
        }
        Error::collect(errs)
    }
}

fn is_deployment_change(c: &Change) -> bool {
    c.live.as_ref().is_some_and(is_deployment)
}
