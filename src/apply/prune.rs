//! Prune: delete the ApplySet members the release no longer renders. The plan never lists a
//! Namespace to prune (that would delete everything in it): see [`Plan::kept`](super::Plan::kept).
use super::delete::Propagation;
use super::plan::Change;
use super::{Action, Engine, Error, ObjectResult, Report, record};

impl Engine {
    /// Delete the planned prunes; every failure is reported together.
    pub(crate) async fn prune(
        &self,
        prunes: &[Change],
        report: &mut Report,
        on_result: &mut dyn FnMut(&ObjectResult),
    ) -> Result<(), Error> {
        let mut errs = Vec::new();
        for c in prunes {
            report.writes += 1;
            let deleted = self
                .delete_one(
                    &c.kind,
                    &c.object,
                    c.live.as_ref(),
                    Propagation::Background,
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
