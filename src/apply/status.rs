//! Status: the release's objects (ApplySet members) and their readiness, and the runner's
//! pods with the CI jobs running on them.
use serde::Serialize;

use super::applyset::ApplySet;
use super::drain::Runners;
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
}

impl StatusReport {
    /// Every member is ready.
    pub fn is_ready(&self) -> bool {
        self.objects.iter().all(|o| o.readiness == Readiness::Ready)
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
        Ok(())
    }
}

impl Engine {
    /// The members of the release's ApplySet and their readiness.
    pub async fn status(&self, applyset: &ApplySet) -> Result<StatusReport, Error> {
        let (parent, members) = self.installed(applyset).await?;
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
        })
    }
}
