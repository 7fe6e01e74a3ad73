//! Leader election on a Lease (`coordination.k8s.io/v1`, `runnerctl-controller`), written
//! here rather than taken from a crate: it is the same few rules as runnerctl's release lock
//! (holder, renew time, duration; a write conditional on the resourceVersion), and it keeps the
//! dependency list short. One replica leads; the others wait. The leader renews every
//! [`RENEW`]; a Lease not renewed for [`DURATION`] is taken over; a leader that cannot renew
//! before its Lease expires stops (so two never write at once).
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, PostParams};
use serde_json::json;

use super::Error;
use super::metrics::Metrics;

/// The Lease's name.
pub const LEASE: &str = "runnerctl-controller";
/// How long a Lease holds without renewal.
const DURATION: Duration = Duration::from_secs(15);
/// How often the leader renews.
const RENEW: Duration = Duration::from_secs(5);

fn now() -> String {
    let t = k8s_openapi::jiff::Timestamp::now();
    format!("{}Z", t.strftime("%Y-%m-%dT%H:%M:%S%.6f"))
}

/// This replica's identity: the pod's name in a cluster, else host and process.
fn identity() -> String {
    let host = std::env::var("POD_NAME")
        .or_else(|_| std::env::var("HOSTNAME"))
        .unwrap_or_else(|_| "runnerctl".into());
    format!("{host}/{}", std::process::id())
}

/// Whether a Lease's holder let it expire.
fn expired(lease: &DynamicObject) -> bool {
    let spec = &lease.data["spec"];
    let Some(renewed) = spec["renewTime"].as_str() else {
        return true;
    };
    let Ok(t) = renewed.parse::<k8s_openapi::jiff::Timestamp>() else {
        return true;
    };
    let secs = spec["leaseDurationSeconds"].as_i64().unwrap_or(15);
    k8s_openapi::jiff::Timestamp::now()
        .duration_since(t)
        .as_secs()
        > secs
}

fn body(me: &str, rv: Option<String>, acquired: Option<String>) -> DynamicObject {
    let ar = lease_resource();
    let mut o = DynamicObject::new(LEASE, &ar).data(json!({
        "spec": {
            "holderIdentity": me,
            "leaseDurationSeconds": DURATION.as_secs(),
            "acquireTime": acquired.unwrap_or_else(now),
            "renewTime": now(),
        }
    }));
    o.metadata.resource_version = rv;
    o
}

fn lease_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("coordination.k8s.io", "v1", "Lease"),
        "leases",
    )
}

/// Wait until this replica leads, then keep renewing in the background. The receiver gets
/// the new holder's name if the lead is lost.
pub async fn lead(
    client: kube::Client,
    ns: &str,
    metrics: Arc<Metrics>,
) -> Result<tokio::sync::mpsc::Receiver<String>, Error> {
    let api: Api<DynamicObject> = Api::namespaced_with(client, ns, &lease_resource());
    let me = identity();
    loop {
        match api.get_opt(LEASE).await.map_err(Error::Leader)? {
            None => {
                let created = api
                    .create(&PostParams::default(), &body(&me, None, None))
                    .await;
                match created {
                    Ok(_) => break,
                    Err(kube::Error::Api(s)) if s.code == 409 => {}
                    Err(e) => return Err(Error::Leader(e)),
                }
            }
            Some(l) if l.data["spec"]["holderIdentity"] == me.as_str() || expired(&l) => {
                let rv = l.metadata.resource_version.clone();
                match api
                    .replace(LEASE, &PostParams::default(), &body(&me, rv, None))
                    .await
                {
                    Ok(_) => break,
                    Err(kube::Error::Api(s)) if s.code == 409 => {}
                    Err(e) => return Err(Error::Leader(e)),
                }
            }
            Some(_) => {}
        }
        tokio::time::sleep(RENEW).await;
    }
    metrics.leader.store(true, Ordering::Relaxed);
    tracing::info!(lease = LEASE, identity = %me, "leading");
    let (tx, rx) = tokio::sync::mpsc::channel(1);
    tokio::spawn(async move {
        let acquired = Some(now());
        let mut last_renewal = std::time::Instant::now();
        loop {
            tokio::time::sleep(RENEW).await;
            let renewed = async {
                let l = api.get(LEASE).await?;
                let holder = l.data["spec"]["holderIdentity"]
                    .as_str()
                    .unwrap_or("")
                    .to_string();
                if holder != me {
                    return Ok::<_, kube::Error>(Err(holder));
                }
                let rv = l.metadata.resource_version.clone();
                api.replace(
                    LEASE,
                    &PostParams::default(),
                    &body(&me, rv, acquired.clone()),
                )
                .await?;
                Ok(Ok(()))
            }
            .await;
            match renewed {
                Ok(Ok(())) => last_renewal = std::time::Instant::now(),
                Ok(Err(holder)) => {
                    metrics.leader.store(false, Ordering::Relaxed);
                    let _ = tx.send(holder).await;
                    return;
                }
                Err(_) if last_renewal.elapsed() < DURATION => {}
                Err(e) => {
                    metrics.leader.store(false, Ordering::Relaxed);
                    let _ = tx.send(format!("nobody (renewing failed: {e})")).await;
                    return;
                }
            }
        }
    });
    Ok(rx)
}
