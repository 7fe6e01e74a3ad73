//! `runner-deployment` and `runner-log`: the installed runner. The Deployment's readiness
//! with the reasons `wait` gives (conditions, container waiting reasons, restarts, events),
//! then its newest pod's runner container log (the last lines) against [`SIGNATURES`].
//!
//! [`SIGNATURES`]: super::SIGNATURES
use serde_json::Value;

use super::job_rbac::deployment;
use super::signatures::scan_log;
use super::{Check, DoctorOptions, Status};
use crate::apply::wait::{newest_first, selector};
use crate::apply::{Engine, ObjectRef};
use crate::apply::{Readiness, readiness};
use crate::render::{Manifest, Release};
use crate::secret::mask_tokens;

impl Engine {
    /// The post-install checks; `Skipped` ones when the runner is not installed.
    pub(super) async fn check_runner(
        &self,
        release: &Release,
        manifest: &Manifest,
        opts: &DoctorOptions,
    ) -> Vec<Check> {
        let ns = deployment(manifest)
            .and_then(|d| d.pointer("/metadata/namespace"))
            .and_then(Value::as_str)
            .unwrap_or(&release.namespace)
            .to_string();
        let name = manifest.jobs.runner.clone();
        let o = ObjectRef {
            api_version: "apps/v1".into(),
            kind: "Deployment".into(),
            namespace: Some(ns.clone()),
            name: name.clone(),
        };
        let live = match self.resolve_ref(&o).await {
            Ok(kind) => self.cluster.get(&kind, Some(&ns), &name).await,
            Err(e) => {
                return vec![Check::new(
                    "runner-deployment",
                    Status::Failed,
                    e.to_string(),
                )];
            }
        };
        let live = match live {
            Ok(Some(l)) => l,
            Ok(None) => {
                return vec![
                    Check::new(
                        "runner-deployment",
                        Status::Skipped,
                        format!("{o} is not installed: the after-install checks need it"),
                    ),
                    Check::new("runner-log", Status::Skipped, "no runner installed"),
                ];
            }
            Err(e) => {
                return vec![
                    Check::new(
                        "runner-deployment",
                        Status::Failed,
                        format!("cannot read {o}: {}", super::said(&e)),
                    )
                    .fix("run doctor as someone who may read the release's namespace"),
                ];
            }
        };
        let state = readiness(&live);
        let deployment = match &state {
            Readiness::Ready => {
                Check::new("runner-deployment", Status::Ok, format!("{o} is ready"))
            }
            other => {
                let reasons = self.explain(&o, &live).await;
                let status = if matches!(other, Readiness::Failed(_))
                    || reasons.iter().any(|r| {
                        [
                            "BackOff",
                            "ErrImage",
                            "Error",
                            "Invalid",
                            "FailedMount",
                            "FailedScheduling",
                        ]
                        .iter()
                        .any(|w| r.contains(w))
                    }) {
                    Status::Failed
                } else {
                    Status::Warning
                };
                Check::new("runner-deployment", status, format!("{o}: {other}"))
                    .details(reasons)
                    .fix("act on the reasons above (image, Secret, config); the runner log check below may name the cause")
            }
        };
        let jobs_ns = &manifest.jobs.namespace;
        vec![deployment, self.check_log(&o, &live, jobs_ns, opts).await]
    }

    /// `runner-log`: the newest pod's runner container, last `opts.log_lines` lines.
    async fn check_log(
        &self,
        o: &ObjectRef,
        live: &Value,
        jobs_ns: &str,
        opts: &DoctorOptions,
    ) -> Check {
        const ID: &str = "runner-log";
        let ns = o.namespace.as_deref().unwrap_or_default();
        let selector = selector(live).unwrap_or_default();
        let pods = match self.cluster.resolve("v1", "Pod").await {
            Ok(Some(kind)) => {
                self.cluster
                    .list(&kind, Some(ns), Some(&selector), None)
                    .await
            }
            _ => Ok(Vec::new()),
        };
        let mut pods = match pods {
            Ok(p) => p,
            Err(e) => {
                return Check::new(
                    ID,
                    Status::Warning,
                    format!("cannot list the runner's pods: {}", super::said(&e)),
                );
            }
        };
        newest_first(&mut pods);
        let Some(pod) = pods.first() else {
            return Check::new(
                ID,
                Status::Warning,
                format!("{o} has no pods: no log to read"),
            );
        };
        let pod_name = pod
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("");
        let log = match self
            .cluster
            .log(ns, pod_name, &o.name, opts.log_lines)
            .await
        {
            Ok(l) => l,
            Err(e) => {
                return Check::new(
                    ID,
                    Status::Warning,
                    format!(
                        "cannot read the log of pod/{pod_name} container {}: {}",
                        o.name,
                        super::said(&e)
                    ),
                )
                .fix(format!(
                    "kubectl logs -n {ns} pod/{pod_name} -c {} --tail {}",
                    o.name, opts.log_lines
                ));
            }
        };
        let found = scan_log(&log);
        let lines = log.lines().count();
        if found.is_empty() {
            return Check::new(
                ID,
                Status::Ok,
                format!("pod/{pod_name}: no known failure in the last {lines} log lines"),
            );
        }
        let mut details = Vec::new();
        for f in &found {
            details.push(format!(
                "{} ({}x): {}",
                f.signature.id, f.count, f.signature.cause
            ));
            details.push(format!("  log: {}", mask_tokens(&f.line)));
            if f.signature.id == "rbac-forbidden"
                && f.line.contains(&format!("in the namespace \"{jobs_ns}\""))
            {
                details.push(format!(
                    "  it names the job namespace {jobs_ns}: the Role and RoleBinding must be there, not only in the runner's namespace"
                ));
            }
            details.push(format!("  fix: {}", f.signature.fix));
        }
        let ids: Vec<&str> = found.iter().map(|f| f.signature.id).collect();
        Check::new(
            ID,
            Status::Failed,
            format!(
                "pod/{pod_name}: known failures in the last {lines} log lines: {}",
                ids.join(", ")
            ),
        )
        .details(details)
        .fix(found[0].signature.fix)
    }
}
