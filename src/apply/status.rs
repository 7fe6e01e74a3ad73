//! Status: the release's objects (ApplySet members) and their readiness, and the runner's
//! pods with the CI jobs running on them.
use serde::Serialize;

use super::applyset::ApplySet;
use super::drain::Runners;
use super::token::TokenStatus;
use super::wait::{Readiness, readiness};
use super::{Engine, Error, ObjectRef};

/// One member and its readiness.
#[derive(Debug, Clone, Serialize)]
pub struct ObjectStatus {
    /// The object.
    pub object: ObjectRef,
    /// Its readiness.
    pub readiness: Readiness,
}

/// The status of a release.
#[derive(Debug, Clone, Serialize)]
pub struct StatusReport {
    /// The ApplySet parent, `Secret/ns/name`.
    pub parent: String,
    /// The ApplySet id.
    pub id: String,
    /// The tooling that last wrote the parent.
    pub tooling: Option<String>,
    /// Members, in install order.
    pub objects: Vec<ObjectStatus>,
    /// The runner pods and the CI jobs running on them (when the release has a Deployment).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub runner: Option<Runners>,
    /// How GitLab sees the runner's tokens (with [`StatusOptions::gitlab`]).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tokens: Vec<TokenStatus>,
}

/// Options of [`Engine::status_with`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct StatusOptions {
    /// Ask GitLab about the runner's tokens (`POST /api/v4/runners/verify`).
    pub gitlab: bool,
    /// Warn when a token expires within this many days.
    pub token_warning_days: u32,
    /// The longest a network step to GitLab may take.
    pub network_timeout: std::time::Duration,
}

setters!(StatusOptions {
    /// Set whether GitLab is asked about the tokens.
    gitlab: bool,
    /// Set how many days before its expiry a token is warned about.
    token_warning_days: u32,
    /// Set the longest a network step to GitLab may take.
    network_timeout: std::time::Duration,
});

impl Default for StatusOptions {
    fn default() -> Self {
        StatusOptions {
            gitlab: false,
            token_warning_days: crate::gitlab::DEFAULT_WARNING_DAYS,
            network_timeout: std::time::Duration::from_secs(10),
        }
    }
}

impl StatusReport {
    /// Every member is ready.
    pub fn is_ready(&self) -> bool {
        self.objects.iter().all(|o| o.readiness == Readiness::Ready)
    }

    /// A token GitLab rejects or that has expired.
    pub fn token_failed(&self) -> bool {
        self.tokens.iter().any(|t| t.failed)
    }
}

impl std::fmt::Display for StatusReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "ApplySet {} ({})",
            self.parent,
            self.tooling.as_deref().unwrap_or("?")
        )?;
        let width = self
            .objects
            .iter()
            .map(|o| o.object.to_string().len())
            .max()
            .unwrap_or(0);
        for o in &self.objects {
            writeln!(f, "{:width$}  {}", o.object.to_string(), o.readiness)?;
        }
        if let Some(runner) = &self.runner {
            write!(f, "{runner}")?;
        }
        for t in &self.tokens {
            writeln!(f, "{t}")?;
        }
        Ok(())
    }
}

impl Engine {
    /// The members of the release's ApplySet and their readiness, and the runner's pods and
    /// jobs (GitLab is not asked: see [`Engine::status_with`]).
    pub async fn status(&self, applyset: &ApplySet) -> Result<StatusReport, Error> {
        self.status_with(applyset, &StatusOptions::default()).await
    }

    /// [`Engine::status`], and with [`StatusOptions::gitlab`] how GitLab sees the tokens.
    pub async fn status_with(
        &self,
        applyset: &ApplySet,
        opts: &StatusOptions,
    ) -> Result<StatusReport, Error> {
        let (parent, members) = self.installed(applyset).await?;
        let tokens = if opts.gitlab {
            self.token_status(&members, opts.token_warning_days, opts.network_timeout)
                .await
        } else {
            Vec::new()
        };
        let sel = self.runner_selector(&members).await;
        let runner = if sel.is_empty() {
            None
        } else {
            Some(self.observe_runners(&sel).await?)
        };
        let mut objects: Vec<ObjectStatus> = members
            .into_iter()
            .map(|(_, v)| ObjectStatus {
                object: ObjectRef::of(&v),
                readiness: readiness(&v),
            })
            .collect();
        objects.sort_by(|a, b| crate::object::install_order(&a.object, &b.object));
        Ok(StatusReport {
            parent: applyset.parent_ref().to_string(),
            id: applyset.id(),
            tooling: parent.tooling,
            objects,
            runner,
            tokens,
        })
    }
}
