//! One writer at a time: a `coordination.k8s.io/v1` Lease per release, `<release>-lock` in
//! the release namespace, held while apply or uninstall writes and renewed in the
//! background. A second run waits for it up to its timeout, then fails naming the holder
//! and since when; a lease nobody renewed for its duration is taken over; the caller may
//! force a takeover (`LockOptions::force_unlock`).
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use json_patch::jsonptr::PointerBuf;
use json_patch::{PatchOperation, ReplaceOperation, TestOperation};
use serde_json::{Value, json};

use super::{ApplySet, Engine, Error, ObjectRef};
use crate::k8s::{CreateMode, Kind};

/// How long a lease lasts without renewal before another run may take it over.
pub const LEASE_DURATION: Duration = Duration::from_secs(30);
/// The label that marks a Lease as runnerctl's.
const MANAGED_BY: &str = "app.kubernetes.io/managed-by";
/// How often the holder renews its lease.
const RENEW_EVERY: Duration = Duration::from_secs(10);
/// How often a waiting run looks again.
const POLL: Duration = Duration::from_secs(1);

/// How to take a release's lock.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct LockOptions {
    /// How long to wait for another run to finish.
    pub wait: Duration,
    /// Take the lock even if another run holds it (for a lock left by a run that was killed
    /// and whose lease has not expired yet).
    pub force_unlock: bool,
}

setters!(LockOptions {
    /// Set how long to wait for another run.
    wait: Duration,
    /// Set whether the lock is taken even if another run holds it.
    force_unlock: bool,
});

impl Default for LockOptions {
    fn default() -> Self {
        LockOptions {
            wait: Duration::from_secs(300),
            force_unlock: false,
        }
    }
}

/// A held lock. Renewed in the background while the runtime runs; [`Lock::release`] gives
/// it back.
#[derive(Debug)]
pub struct Lock {
    engine: Engine,
    kind: Kind,
    lease: ObjectRef,
    holder: String,
    lost: Arc<AtomicBool>,
    renewer: tokio::task::JoinHandle<()>,
}

impl ApplySet {
    /// The release's lock: Lease `<release>-lock` in the release namespace.
    pub fn lease_ref(&self) -> ObjectRef {
        ObjectRef {
            api_version: "coordination.k8s.io/v1".into(),
            kind: "Lease".into(),
            namespace: Some(self.namespace.clone()),
            name: format!("{}-lock", self.release),
        }
    }
}

/// The current time as the API's MicroTime (RFC 3339, microseconds, UTC).
fn now() -> String {
    let t = k8s_openapi::jiff::Timestamp::now();
    format!("{}Z", t.strftime("%Y-%m-%dT%H:%M:%S%.6f"))
}

/// Seconds since a MicroTime, if it parses.
fn age(time: &str) -> Option<Duration> {
    let t: k8s_openapi::jiff::Timestamp = time.parse().ok()?;
    let d = k8s_openapi::jiff::Timestamp::now().duration_since(t);
    Some(Duration::from_secs_f64(d.as_secs_f64().max(0.0)))
}

/// Who this run is, for the holder field: `runnerctl@<host>/<pid>`.
fn identity() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "unknown-host".into());
    format!("runnerctl@{}/{}", host.trim(), std::process::id())
}

fn pointer(tokens: &[&str]) -> PointerBuf {
    PointerBuf::from_tokens(tokens.iter().copied())
}

impl Engine {
    /// Take the release's lock, waiting up to `opts.wait` for another holder. `Ok(None)` when
    /// the release namespace does not exist yet: nothing of the release exists to protect.
    /// `on_wait` is called once when the lock is held by someone else, with the holder.
    pub async fn lock(
        &self,
        applyset: &ApplySet,
        opts: &LockOptions,
        mut on_wait: impl FnMut(&str),
    ) -> Result<Option<Lock>, Error> {
        let lease = applyset.lease_ref();
        let kind = self.resolve_ref(&lease).await?;
        let holder = identity();
        let start = Instant::now();
        let mut told = false;
        loop {
            let body = lease_body(&lease, &holder);
            // Sent again after a passing failure: a repeat that finds the Lease made by a
            // lost first try sees this run's own holder below.
            match self
                .cluster
                .create(
                    &kind,
                    lease.namespace.as_deref(),
                    &body,
                    CreateMode::Retried,
                )
                .await
            {
                Ok(_) => return Ok(Some(self.held(kind, lease, holder))),
                Err(kube::Error::Api(s)) if s.code == 404 => return Ok(None),
                Err(kube::Error::Api(s)) if s.code == 409 => {}
                Err(e) => return Err(Error::api(&lease, "lock", e)),
            }
            let Some(live) = self
                .cluster
                .get(&kind, lease.namespace.as_deref(), &lease.name)
                .await
                .map_err(|e| Error::api(&lease, "get", e))?
            else {
                continue; // released in between: try again
            };
            // A Lease of that name that runnerctl did not make is someone else's: never
            // taken over, never deleted.
            if crate::object::label(&live, MANAGED_BY) != Some("runnerctl") {
                return Err(Error::NotOwned {
                    object: lease,
                    owner: "not runnerctl (no app.kubernetes.io/managed-by=runnerctl label)".into(),
                });
            }
            let spec = |k: &str| live.pointer(&format!("/spec/{k}")).and_then(Value::as_str);
            if spec("holderIdentity") == Some(holder.as_str()) {
                return Ok(Some(self.held(kind, lease, holder)));
            }
            let other = spec("holderIdentity").unwrap_or("someone").to_string();
            let duration = live
                .pointer("/spec/leaseDurationSeconds")
                .and_then(Value::as_u64)
                .map_or(LEASE_DURATION, Duration::from_secs);
            let expired = spec("renewTime")
                .or(spec("acquireTime"))
                .and_then(age)
                .is_none_or(|a| a > duration);
            if expired || opts.force_unlock {
                if self.take_over(&kind, &lease, &live, &holder).await.is_ok() {
                    return Ok(Some(self.held(kind, lease, holder)));
                }
                continue; // someone else was quicker: look again
            }
            if start.elapsed() >= opts.wait {
                return Err(Error::Locked {
                    lease,
                    holder: other,
                    since: spec("acquireTime").unwrap_or("?").to_string(),
                });
            }
            if !told {
                on_wait(&other);
                told = true;
            }
            tokio::time::sleep(POLL.min(opts.wait.saturating_sub(start.elapsed()))).await;
        }
    }

    /// Replace an expired (or forcibly taken) lease's holder, guarded by its resourceVersion.
    async fn take_over(
        &self,
        kind: &Kind,
        lease: &ObjectRef,
        live: &Value,
        holder: &str,
    ) -> Result<(), Error> {
        let ops =
            super::guarded_replace(live, &["spec"], lease_body(lease, holder)["spec"].clone());
        self.cluster
            .json_patch(kind, lease.namespace.as_deref(), &lease.name, ops)
            .await
            .map_err(|e| Error::api(lease, "take over lock", e))?;
        Ok(())
    }

    /// A held lock, with its renewer started.
    fn held(&self, kind: Kind, lease: ObjectRef, holder: String) -> Lock {
        let lost = Arc::new(AtomicBool::new(false));
        let (engine, k, l, h, flag) = (
            self.clone(),
            kind.clone(),
            lease.clone(),
            holder.clone(),
            lost.clone(),
        );
        let renewer = tokio::spawn(async move {
            loop {
                tokio::time::sleep(RENEW_EVERY).await;
                if engine.renew(&k, &l, &h).await.is_err() {
                    flag.store(true, Ordering::SeqCst);
                    return;
                }
            }
        });
        Lock {
            engine: self.clone(),
            kind,
            lease,
            holder,
            lost,
            renewer,
        }
    }

    /// Renew a lease this run holds (fails when another run took it over).
    async fn renew(&self, kind: &Kind, lease: &ObjectRef, holder: &str) -> Result<(), Error> {
        let ops = json_patch::Patch(vec![
            PatchOperation::Test(TestOperation {
                path: pointer(&["spec", "holderIdentity"]),
                value: Value::String(holder.into()),
            }),
            PatchOperation::Replace(ReplaceOperation {
                path: pointer(&["spec", "renewTime"]),
                value: Value::String(now()),
            }),
        ]);
        self.cluster
            .json_patch(kind, lease.namespace.as_deref(), &lease.name, ops)
            .await
            .map_err(|e| Error::api(lease, "renew lock", e))?;
        Ok(())
    }
}

/// A Lease held by `holder` from now.
fn lease_body(lease: &ObjectRef, holder: &str) -> Value {
    let t = now();
    json!({
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {
            "name": lease.name,
            "namespace": lease.namespace,
            "labels": {MANAGED_BY: "runnerctl"},
        },
        "spec": {
            "holderIdentity": holder,
            "leaseDurationSeconds": LEASE_DURATION.as_secs(),
            "acquireTime": t,
            "renewTime": t,
        },
    })
}

impl Lock {
    /// Make sure the lock is still this run's (renewing it now): call before writing after
    /// a pause (a confirmation prompt) during which the renewer could not run.
    pub async fn confirm(&self) -> Result<(), Error> {
        if self.lost.load(Ordering::SeqCst) {
            return Err(Error::LockLost {
                lease: self.lease.clone(),
            });
        }
        self.engine
            .renew(&self.kind, &self.lease, &self.holder)
            .await
            .map_err(|_| Error::LockLost {
                lease: self.lease.clone(),
            })
    }

    /// Give the lock back: stop renewing and delete the lease if it is still this run's.
    pub async fn release(self) -> Result<(), Error> {
        self.renewer.abort();
        let Some(live) = self
            .engine
            .cluster
            .get(
                &self.kind,
                self.lease.namespace.as_deref(),
                &self.lease.name,
            )
            .await
            .map_err(|e| Error::api(&self.lease, "get", e))?
        else {
            return Ok(());
        };
        if live.pointer("/spec/holderIdentity").and_then(Value::as_str) != Some(&self.holder) {
            return Ok(()); // taken over: not ours to delete
        }
        self.engine
            .delete_one(
                &self.kind,
                &self.lease,
                Some(&live),
                super::delete::Propagation::Background,
                "unlock",
            )
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_round_trip() {
        let t = now();
        assert!(
            t.ends_with('Z') && t.len() == "2026-12-01T13:47:56.123456Z".len(),
            "{t}"
        );
        assert!(age(&t).unwrap() < Duration::from_secs(5));
        assert!(age("2020-01-01T00:00:00.000000Z").unwrap() > LEASE_DURATION);
        assert_eq!(age("not a time"), None);
    }

    #[test]
    fn the_lease_is_named_after_the_release() {
        let set = ApplySet::for_release("gitlab-runner", "ci");
        let l = set.lease_ref();
        assert_eq!(l.to_string(), "Lease/ci/gitlab-runner-lock");
        let body = lease_body(&l, "me");
        assert_eq!(body["spec"]["holderIdentity"], "me");
        assert_eq!(body["spec"]["leaseDurationSeconds"], 30);
    }
}
