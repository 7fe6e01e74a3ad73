//! Leaving helm behind: once runnerctl has adopted a helm release's objects, helm's own
//! record of the release (its `sh.helm.release.v1.<release>.v<N>` Secrets) can be deleted,
//! so `helm list` no longer shows a release that helm no longer manages.
use super::delete::Propagation;
use super::{Action, ApplySet, Engine, Error, ObjectRef, ObjectResult};

impl Engine {
    /// Delete helm's release records (Secrets labelled `owner=helm,name=<release>`) in the
    /// release namespace. Only the records go: the objects stay, now runnerctl's. Call after
    /// an apply that adopted them.
    pub async fn forget_helm_release(
        &self,
        applyset: &ApplySet,
        mut on_result: impl FnMut(&ObjectResult),
    ) -> Result<Vec<ObjectResult>, Error> {
        let secret = self.secret_kind().await?;
        let selector = format!("owner=helm,name={}", applyset.release);
        let records = self
            .cluster
            .list(&secret, Some(&applyset.namespace), Some(&selector), None)
            .await
            .map_err(|e| {
                let mut r = applyset.parent_ref();
                r.name = format!("sh.helm.release.v1.{}.*", applyset.release);
                Error::api(&r, "list", e)
            })?;
        let mut out = Vec::new();
        for live in records {
            let object = ObjectRef::of(&live);
            self.delete_one(
                &secret,
                &object,
                Some(&live),
                Propagation::Background,
                "delete",
            )
            .await?;
            let result = ObjectResult {
                object,
                action: Action::Deleted,
                note: Some("helm's record of the release".into()),
            };
            on_result(&result);
            out.push(result);
        }
        Ok(out)
    }
}
