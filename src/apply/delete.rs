//! Deleting: one object with a uid precondition, and waiting until objects are gone. Prune,
//! uninstall and `recreate` share these.
use std::time::{Duration, Instant};

use serde_json::Value;

use super::{Engine, Error, ObjectRef};
use crate::k8s::Kind;

/// How often to look whether deleted objects are gone.
const GONE_POLL: Duration = Duration::from_millis(250);

/// How dependents of a deleted object go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Propagation {
    /// The object disappears only after its dependents (a Deployment's pods) are gone.
    Foreground,
    /// The object disappears at once; the garbage collector removes dependents later.
    Background,
}

impl Engine {
    /// Delete one object, with the live object's uid as a precondition (so a same-named
    /// object created since is never deleted). Deleting an object that is already gone
    /// succeeds. `verb` names the operation in errors (`prune`, `delete`).
    pub(crate) async fn delete_one(
        &self,
        kind: &Kind,
        object: &ObjectRef,
        live: Option<&Value>,
        propagation: Propagation,
        verb: &'static str,
    ) -> Result<(), Error> {
        let uid = live
            .and_then(|l| l.pointer("/metadata/uid"))
            .and_then(Value::as_str);
        self.cluster
            .delete(
                kind,
                object.namespace.as_deref(),
                &object.name,
                propagation == Propagation::Foreground,
                uid,
            )
            .await
            .map_err(|e| Error::api(object, verb, e))?;
        Ok(())
    }

    /// Poll until every object is gone; an error naming those left once `timeout` has passed
    /// since `start`.
    pub(crate) async fn wait_gone(
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
                let live = self
                    .cluster
                    .get(kind, o.namespace.as_deref(), &o.name)
                    .await
                    .map_err(|e| Error::api(o, "get", e))?;
                if live.is_some() {
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
            tokio::time::sleep(GONE_POLL).await;
        }
    }
}
