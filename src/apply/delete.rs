//! Uninstall: delete the ApplySet's members in reverse install order, then its parent, and
//! wait until they are gone. The namespace goes only when asked and only if runnerctl
//! created it (the Namespace object is a member).
use std::time::{Duration, Instant};

use serde_json::Value;

use super::prune::ApplySet;
use super::{Action, Engine, Error, ObjectRef, ObjectResult, Report};
use crate::k8s::Kind;

/// Options of [`Engine::uninstall`].
#[derive(Debug, Clone)]
pub struct UninstallOptions {
    /// Also delete the Namespace, if it is a member (runnerctl created it).
    pub delete_namespace: bool,
    /// Wait until every deleted object is gone.
    pub wait: bool,
    /// How long to wait.
    pub timeout: Duration,
}

impl Default for UninstallOptions {
    fn default() -> Self {
        UninstallOptions {
            delete_namespace: false,
            wait: true,
            timeout: Duration::from_secs(300),
        }
    }
}

impl Engine {
    /// Delete the release: members in reverse install order (foreground, so a Deployment
    /// is gone only when its pods are), then the parent. `on_result` reports each object.
    pub async fn uninstall(
        &self,
        applyset: &ApplySet,
        opts: &UninstallOptions,
        mut on_result: impl FnMut(&ObjectResult),
    ) -> Result<Report, Error> {
        let live = self.get_parent(applyset).await?;
        if live.is_none() {
            return Err(Error::NotInstalled {
                parent: applyset.parent_ref().to_string(),
            });
        }
        let parent = applyset.parse_parent(live.as_ref())?;
        let mut members = self.list_members(applyset, &parent).await?;
        members.sort_by(|(_, a), (_, b)| {
            crate::object::uninstall_order(&ObjectRef::of(a), &ObjectRef::of(b))
        });
        let mut report = Report::default();
        let mut gone: Vec<(Kind, ObjectRef)> = Vec::new();
        let mut namespaces: Vec<(Kind, Value)> = Vec::new();
        let mut errs = Vec::new();
        for (kind, v) in members {
            let object = ObjectRef::of(&v);
            if kind.resource.kind == "Namespace" && kind.resource.group.is_empty() {
                if opts.delete_namespace {
                    namespaces.push((kind, v));
                } else {
                    super::record(
                        &mut report.results,
                        &mut on_result,
                        ObjectResult {
                            object,
                            action: Action::Skipped,
                            note: Some("kept; --delete-namespace deletes it".into()),
                        },
                    );
                }
                continue;
            }
            let uid = v.pointer("/metadata/uid").and_then(Value::as_str);
            report.writes += 1;
            match self
                .cluster
                .delete(&kind, object.namespace.as_deref(), &object.name, true, uid)
                .await
            {
                Ok(_) => {
                    super::record(
                        &mut report.results,
                        &mut on_result,
                        ObjectResult {
                            object: object.clone(),
                            action: Action::Deleted,
                            note: None,
                        },
                    );
                    gone.push((kind, object));
                }
                Err(e) => errs.push(Error::api(&object, "delete", e)),
            }
        }
        Error::collect(errs)?;
        let secret = super::prune::secret_kind(self).await?;
        let parent_ref = applyset.parent_ref();
        report.writes += 1;
        self.cluster
            .delete(
                &secret,
                Some(&applyset.namespace),
                &applyset.name,
                false,
                None,
            )
            .await
            .map_err(|e| Error::api(&parent_ref, "delete", e))?;
        gone.push((secret, parent_ref));
        let start = Instant::now();
        if opts.wait {
            self.wait_deleted(&gone, start, opts.timeout).await?;
        }
        if opts.delete_namespace && namespaces.is_empty() {
            super::record(
                &mut report.results,
                &mut on_result,
                ObjectResult {
                    object: ObjectRef {
                        api_version: "v1".into(),
                        kind: "Namespace".into(),
                        namespace: None,
                        name: applyset.namespace.clone(),
                    },
                    action: Action::Skipped,
                    note: Some("not created by runnerctl; kept".into()),
                },
            );
        }
        let mut ns_gone = Vec::new();
        for (kind, v) in namespaces {
            let object = ObjectRef::of(&v);
            report.writes += 1;
            self.cluster
                .delete(&kind, None, &object.name, false, None)
                .await
                .map_err(|e| Error::api(&object, "delete", e))?;
            super::record(
                &mut report.results,
                &mut on_result,
                ObjectResult {
                    object: object.clone(),
                    action: Action::Deleted,
                    note: None,
                },
            );
            ns_gone.push((kind, object));
        }
        if opts.wait && !ns_gone.is_empty() {
            self.wait_deleted(&ns_gone, start, opts.timeout).await?;
        }
        Ok(report)
    }

    /// Poll until every object is gone.
    async fn wait_deleted(
        &self,
        objects: &[(Kind, ObjectRef)],
        start: Instant,
        timeout: Duration,
    ) -> Result<(), Error> {
        let mut left: Vec<&(Kind, ObjectRef)> = objects.iter().collect();
        loop {
            let mut still = Vec::new();
            for item in left {
                let (kind, o) = item;
                if self
                    .cluster
                    .get(kind, o.namespace.as_deref(), &o.name)
                    .await
                    .map_err(|e| Error::api(o, "get", e))?
                    .is_some()
                {
                    still.push(item);
                }
            }
            left = still;
            if left.is_empty() {
                return Ok(());
            }
            if start.elapsed() >= timeout {
                let names: Vec<String> = left.iter().map(|(_, o)| o.to_string()).collect();
                return Err(Error::Timeout {
                    what: format!("deletion of {}", names.join(", ")),
                    secs: timeout.as_secs(),
                });
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
}
