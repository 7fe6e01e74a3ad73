//! The controller: `GitLabRunner` resources (runnerctl.io/v1alpha1) reconciled in the cluster
//! by the same [`Engine`](crate::apply::Engine) as `runnerctl apply`.
//!
//! Files: `crd.rs` (the CustomResourceDefinition, its `spec.values` schema translated from the
//! values schema), `resource.rs` (the resource as read), `reconcile.rs` (one reconcile, the
//! status conditions, the finalizer's uninstall), `leader.rs` (leader election on a Lease),
//! `metrics.rs` (`/metrics`, `/healthz`, `/readyz`).
//!
//! kube-runtime's `Controller` drives it: a watch on GitLabRunners, and watches on the objects
//! runnerctl renders (label `app.kubernetes.io/managed-by=runnerctl`), mapped back to their
//! GitLabRunner by `app.kubernetes.io/instance`, so drift is corrected when it happens, not on a
//! timer; a Ready runner is looked at again every [`RESYNC`](reconcile::RESYNC) as well.
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use futures::StreamExt;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind};
use kube::runtime::controller::{Config, Controller};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;

pub mod crd;
mod export;
pub mod install;
mod leader;
pub mod metrics;
pub mod reconcile;
pub mod resource;

pub use crd::crd;
pub use export::{export, list_runners, overlay};
pub use resource::GitLabRunner;

/// The label every object runnerctl renders carries.
const MANAGED_BY: &str = "app.kubernetes.io/managed-by=runnerctl";
/// The label naming the release (the GitLabRunner) an object belongs to.
const INSTANCE: &str = "app.kubernetes.io/instance";

/// Options of [`run`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ControllerOptions {
    /// Watch GitLabRunners in this namespace only (`None`: every namespace).
    pub namespace: Option<String>,
    /// Reconciles running at once.
    pub concurrency: u16,
    /// Where `/metrics`, `/healthz` and `/readyz` are served (`None`: nowhere).
    pub metrics_address: Option<SocketAddr>,
    /// Take part in leader election on Lease `runnerctl-controller` in this namespace
    /// (`None`: run without, as the only replica).
    pub leader_election_namespace: Option<String>,
    /// Revisions kept per runner.
    pub history_max: usize,
}

setters!(ControllerOptions {
    /// Set the namespace watched.
    namespace: Option<String>,
    /// Set how many reconciles run at once.
    concurrency: u16,
    /// Set where the metrics and health endpoints are served.
    metrics_address: Option<SocketAddr>,
    /// Set the namespace of the leader election Lease.
    leader_election_namespace: Option<String>,
    /// Set how many revisions are kept per runner.
    history_max: usize,
});

impl Default for ControllerOptions {
    fn default() -> Self {
        ControllerOptions {
            namespace: None,
            concurrency: 16,
            metrics_address: None,
            leader_election_namespace: None,
            history_max: crate::apply::DEFAULT_HISTORY_MAX,
        }
    }
}

/// Why the controller stopped.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The metrics address could not be served.
    #[error("serving metrics on {addr}: {source}")]
    Metrics {
        /// The address.
        addr: SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Leader election failed.
    #[error("leader election: {0}")]
    Leader(#[source] kube::Error),
    /// This replica lost the lead: it stops, so that two never write at once.
    #[error("lost the leader Lease to {0}")]
    LostLead(String),
}

/// The objects runnerctl renders that the controller watches for drift.
fn watched_kinds() -> Vec<ApiResource> {
    [
        ("apps", "v1", "Deployment", "deployments"),
        ("", "v1", "ConfigMap", "configmaps"),
        ("", "v1", "Secret", "secrets"),
        ("", "v1", "ServiceAccount", "serviceaccounts"),
        ("rbac.authorization.k8s.io", "v1", "Role", "roles"),
        (
            "rbac.authorization.k8s.io",
            "v1",
            "RoleBinding",
            "rolebindings",
        ),
    ]
    .into_iter()
    .map(|(g, v, k, p)| ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(g, v, k), p))
    .collect()
}

/// The GitLabRunner an object runnerctl rendered belongs to.
fn owner_of(o: DynamicObject) -> Option<ObjectRef<GitLabRunner>> {
    let ns = o.metadata.namespace.as_deref()?;
    let name = o.metadata.labels.as_ref()?.get(INSTANCE)?;
    Some(ObjectRef::new(name).within(ns))
}

/// Run the controller until a shutdown signal (SIGTERM, Ctrl-C) or the loss of the lead.
pub async fn run(client: kube::Client, opts: ControllerOptions) -> Result<(), Error> {
    let metrics = Arc::new(metrics::Metrics::default());
    if let Some(addr) = opts.metrics_address {
        let listener_check = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| Error::Metrics { addr, source })?;
        drop(listener_check);
        let m = metrics.clone();
        tokio::spawn(async move {
            let _ = metrics::serve(addr, m).await;
        });
    }
    let lost = match &opts.leader_election_namespace {
        Some(ns) => Some(leader::lead(client.clone(), ns, metrics.clone()).await?),
        None => {
            metrics.leader.store(true, Ordering::Relaxed);
            None
        }
    };
    // The GitLabRunner is the truth: a field someone else took (kubectl edit) is taken back.
    let engine = crate::apply::Engine::new(
        client.clone(),
        crate::apply::EngineOptions::default().force_conflicts(true),
    );
    let ctx = Arc::new(reconcile::Context {
        client: client.clone(),
        engine,
        metrics: metrics.clone(),
        history_max: opts.history_max,
    });
    let api: Api<GitLabRunner> = match &opts.namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    };
    let mut controller = Controller::new(api, watcher::Config::default())
        .with_config(Config::default().concurrency(opts.concurrency));
    for ar in watched_kinds() {
        let objects: Api<DynamicObject> = match &opts.namespace {
            Some(ns) => Api::namespaced_with(client.clone(), ns, &ar),
            None => Api::all_with(client.clone(), &ar),
        };
        controller = controller.watches_with(
            objects,
            ar,
            watcher::Config::default().labels(MANAGED_BY),
            owner_of,
        );
    }
    metrics.watching.store(true, Ordering::Relaxed);
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<String>();
    let mut stop_tx = Some(stop_tx);
    if let Some(mut lost) = lost {
        let tx = stop_tx.take();
        tokio::spawn(async move {
            if let (Some(holder), Some(tx)) = (lost.recv().await, tx) {
                let _ = tx.send(holder);
            }
        });
    }
    let lost_to = Arc::new(std::sync::Mutex::new(None::<String>));
    let lost_to_w = lost_to.clone();
    let shutdown = async move {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = terminate() => {}
            holder = stop_rx => {
                if let Ok(h) = holder {
                    *lost_to_w.lock().expect("lost") = Some(h);
                }
            }
        }
    };
    let ticking = metrics.clone();
    controller
        .graceful_shutdown_on(shutdown)
        .run(
            move |obj, ctx: Arc<reconcile::Context>| {
                ticking.started();
                reconcile::reconcile(obj, ctx)
            },
            reconcile::error_policy,
            ctx,
        )
        .for_each(|result| {
            match result {
                Ok((o, _)) => tracing::debug!(name = %o.name, "reconciled"),
                Err(e) => eprintln!("runnerctl: controller: {}", describe(&e)),
            }
            futures::future::ready(())
        })
        .await;
    metrics.watching.store(false, Ordering::Relaxed);
    drop(stop_tx);
    match lost_to.lock().expect("lost").take() {
        Some(holder) => Err(Error::LostLead(holder)),
        None => Ok(()),
    }
}

/// A controller error with its causes on one line (never a token: errors name objects and
/// keys, not values).
fn describe(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}

/// SIGTERM (how Kubernetes stops a pod).
async fn terminate() {
    match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(mut s) => {
            s.recv().await;
        }
        Err(_) => std::future::pending::<()>().await,
    }
}
