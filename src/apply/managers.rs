//! The runner managers GitLab knows for a release's runner, tied to its pods: each runner pod
//! registers a manager under its system id, which runnerctl's entrypoint derives from the
//! pod's name ([`system_id_of_pod`]). A manager whose pod is gone, and that GitLab no longer
//! sees online, is stale; pruning deletes it (`DELETE /api/v4/runners/managers` with the
//! runner token and its system id: that manager only, never the runner).
use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;

use super::token::{TOKEN_KEY, token_place};
use super::{Engine, Error, ObjectRef};
use crate::gitlab::{Manager, Token};
use crate::render::system_id_of_pod;

/// One manager and what runnerctl makes of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ManagerState {
    /// As GitLab lists it.
    #[serde(flatten)]
    pub manager: Manager,
    /// The live runner pod it belongs to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pod: Option<String>,
    /// No live runner pod, and GitLab does not see it online.
    pub stale: bool,
    /// Deleted by this run.
    pub deleted: bool,
}

/// The managers of a release's runner.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Managers {
    /// The runner's id in GitLab.
    pub runner_id: i64,
    /// Each manager, in GitLab's order.
    pub managers: Vec<ManagerState>,
}

impl std::fmt::Display for Managers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "Runner #{}: {} manager(s), {} stale",
            self.runner_id,
            self.managers.len(),
            self.managers.iter().filter(|m| m.stale).count()
        )?;
        let dash = "-".to_string();
        for m in &self.managers {
            // `kept`: no live pod has its id, but GitLab sees it online (a pod that stopped
            // a moment ago, or one whose system id runnerctl did not give).
            let mark = match (m.deleted, m.stale, &m.pod) {
                (true, _, _) => "deleted",
                (false, true, _) => "stale",
                (false, false, Some(_)) => "live",
                (false, false, None) => "kept",
            };
            writeln!(
                f,
                "  {}  {:8}  {:15}  contacted {}  pod {}",
                m.manager.system_id,
                mark,
                m.manager.status.as_deref().unwrap_or("?"),
                m.manager.contacted_at.as_deref().unwrap_or("never"),
                m.pod.as_ref().unwrap_or(&dash)
            )?;
        }
        Ok(())
    }
}

impl Engine {
    /// The managers GitLab knows for the release's runner (`key`: its token's Secret key),
    /// listed with a user's `access` token; with `prune`, the stale ones are deleted.
    pub async fn managers(
        &self,
        applyset: &super::ApplySet,
        key: Option<&str>,
        access: &Token,
        prune: bool,
        timeout: Duration,
    ) -> Result<Managers, Error> {
        let (_, members) = self.installed(applyset).await?;
        let place = token_place(members.iter().map(|(_, v)| v)).ok_or_else(|| Error::Token {
            object: applyset.parent_ref(),
            message: "the release has no runner Deployment".into(),
        })?;
        let key = key.unwrap_or(TOKEN_KEY);
        let token = self
            .read_secret(&place.secret)
            .await
            .and_then(|s| crate::secret::secret_text(&s, key))
            .map(Token::new)
            .filter(|t| t.expose().starts_with("glrt-"))
            .ok_or_else(|| Error::Token {
                object: place.secret.clone(),
                message: format!("no runner authentication token (glrt-) under key {key}"),
            })?;
        let client = self.gitlab_client_or_error(&place, timeout).await?;
        let gitlab = |source| Error::Gitlab {
            object: place.secret.clone(),
            source,
        };
        let runner_id = client
            .verify(&token)
            .await
            .map_err(gitlab)?
            .id
            .ok_or_else(|| Error::Token {
                object: place.secret.clone(),
                message: "GitLab's verify answer has no runner id".into(),
            })?;
        let listed = client.managers(runner_id, access).await.map_err(gitlab)?;
        let selector = self.runner_selector(&members).await;
        let pods: BTreeMap<String, String> = self
            .observe_runners(&selector)
            .await?
            .pods
            .into_iter()
            .map(|p| (system_id_of_pod(&p.name), p.name))
            .collect();
        let mut out = Managers {
            runner_id,
            managers: Vec::new(),
        };
        for manager in listed {
            let pod = pods.get(&manager.system_id).cloned();
            let online = manager.status.as_deref() == Some("online");
            let stale = pod.is_none() && !online;
            let mut deleted = false;
            if stale && prune {
                client
                    .delete_manager(&token, &manager.system_id)
                    .await
                    .map_err(|source| Error::Gitlab {
                        object: ObjectRef {
                            name: format!("{} (manager {})", place.secret.name, manager.system_id),
                            ..place.secret.clone()
                        },
                        source,
                    })?;
                deleted = true;
            }
            out.managers.push(ManagerState {
                manager,
                pod,
                stale,
                deleted,
            });
        }
        Ok(out)
    }
}
