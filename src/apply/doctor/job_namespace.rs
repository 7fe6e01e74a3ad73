//! `job-namespace` and `job-pod-admission`: the namespace where job pods run exists (or
//! runnerctl will create it), and its admission (Pod Security above all) accepts the job pod:
//! a server-side dry-run create answers as the real admission would.
use serde_json::Value;

use super::{Check, Status};
use crate::apply::Engine;
use crate::k8s::CreateMode;
use crate::render::{Manifest, Release};

/// The label Pod Security Admission enforces.
const ENFORCE: &str = "pod-security.kubernetes.io/enforce";

/// What is known about the job namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum JobNamespace {
    /// It exists.
    Exists,
    /// It does not exist; runnerctl creates it, with this Pod Security level.
    WillBeCreated(String),
    /// It does not exist and nothing creates it (or it could not be read).
    Missing,
}

/// The Namespace object runnerctl renders for `ns`, if any.
fn rendered_namespace<'a>(manifest: &'a Manifest, ns: &str) -> Option<&'a Value> {
    manifest
        .objects
        .iter()
        .find(|o| o.kind() == "Namespace" && o.name() == ns)
        .map(|o| &o.value)
}

impl Engine {
    /// `job-namespace`: GET the namespace.
    pub(super) async fn check_job_namespace(
        &self,
        release: &Release,
        manifest: &Manifest,
    ) -> (Check, JobNamespace) {
        const ID: &str = "job-namespace";
        let ns = &manifest.jobs.namespace;
        let per_job = if manifest.jobs.namespace_per_job {
            " (namespace_per_job: each job gets its own namespace; checked with this one)"
        } else {
            ""
        };
        let kind = match self.cluster.resolve("v1", "Namespace").await {
            Ok(Some(k)) => k,
            _ => {
                return (
                    Check::new(ID, Status::Failed, "the cluster does not serve namespaces"),
                    JobNamespace::Missing,
                );
            }
        };
        match self.cluster.get(&kind, None, ns).await {
            Ok(Some(live)) => {
                let level = live
                    .pointer(&format!("/metadata/labels/{}", ENFORCE.replace('/', "~1")))
                    .and_then(Value::as_str)
                    .unwrap_or("not set: privileged unless the cluster's default says otherwise");
                let phase = live.pointer("/status/phase").and_then(Value::as_str);
                if phase == Some("Terminating") {
                    return (
                        Check::new(
                            ID,
                            Status::Failed,
                            format!("namespace {ns} is being deleted"),
                        )
                        .fix(format!(
                            "wait until namespace {ns} is gone, then create it again"
                        )),
                        JobNamespace::Missing,
                    );
                }
                (
                    Check::new(
                        ID,
                        Status::Ok,
                        format!("namespace {ns} exists (Pod Security enforce: {level}){per_job}"),
                    ),
                    JobNamespace::Exists,
                )
            }
            Ok(None) => match rendered_namespace(manifest, ns) {
                Some(obj) => {
                    let level = obj["metadata"]["labels"][ENFORCE]
                        .as_str()
                        .unwrap_or("privileged")
                        .to_string();
                    (
                        Check::new(
                            ID,
                            Status::Ok,
                            format!(
                                "namespace {ns} does not exist yet; apply creates it with Pod \
                                 Security enforce: {level}{per_job}"
                            ),
                        ),
                        JobNamespace::WillBeCreated(level),
                    )
                }
                None => {
                    let fix = if *ns == release.namespace {
                        format!("pass --create-namespace, or kubectl create namespace {ns}")
                    } else {
                        format!(
                            "kubectl create namespace {ns} (runnerctl creates only the release namespace)"
                        )
                    };
                    (
                        Check::new(
                            ID,
                            Status::Failed,
                            format!("namespace {ns}, where job pods run, does not exist and apply will not create it"),
                        )
                        .fix(fix),
                        JobNamespace::Missing,
                    )
                }
            },
            // Reading namespaces is cluster-wide: many namespace-bound callers may not.
            Err(kube::Error::Api(s)) if s.code == 403 => (
                Check::new(
                    ID,
                    Status::Warning,
                    format!(
                        "the caller may not read namespace {ns}: cannot tell whether it exists"
                    ),
                ),
                JobNamespace::Exists,
            ),
            Err(e) => (
                Check::new(
                    ID,
                    Status::Failed,
                    format!("cannot read namespace {ns}: {}", super::said(&e)),
                ),
                JobNamespace::Missing,
            ),
        }
    }

    /// `job-pod-admission`: a dry-run create (`dryRun=All`) of the job pod in the job
    /// namespace; when the namespace does not exist yet, the level runnerctl gives it.
    pub(super) async fn check_job_pod_admission(
        &self,
        manifest: &Manifest,
        ns: &JobNamespace,
    ) -> Check {
        const ID: &str = "job-pod-admission";
        let jobs = &manifest.jobs;
        let needs = jobs.job_pod.assessment.level;
        let why = || {
            needs
                .stricter()
                .map(|s| jobs.job_pod.assessment.reasons_against(s).to_vec())
                .unwrap_or_default()
        };
        match ns {
            JobNamespace::Missing => {
                return Check::new(
                    ID,
                    Status::Skipped,
                    "the job namespace does not exist: nothing to ask",
                );
            }
            JobNamespace::WillBeCreated(level) => {
                // A level admits pods that need it or a stricter one.
                let rank = |l: &str| {
                    ["privileged", "baseline", "restricted"]
                        .iter()
                        .position(|x| *x == l)
                };
                let admitted = rank(level).is_some_and(|given| Some(given) <= rank(needs.as_str()));
                return if admitted {
                    Check::new(
                        ID,
                        Status::Ok,
                        format!(
                            "job pods need Pod Security {needs}; apply labels namespace {} {level}",
                            jobs.namespace
                        ),
                    )
                } else {
                    Check::new(
                        ID,
                        Status::Failed,
                        format!("job pods need Pod Security {needs}, but apply labels namespace {} {level}", jobs.namespace),
                    )
                    .details(why())
                    .fix("report this: runnerctl should label the namespace for its job pods")
                };
            }
            JobNamespace::Exists => {}
        }
        let pod = manifest.job_pod(false);
        let kind = match self.cluster.resolve("v1", "Pod").await {
            Ok(Some(k)) => k,
            _ => return Check::new(ID, Status::Failed, "the cluster does not serve pods"),
        };
        match self
            .cluster
            .create(&kind, Some(&jobs.namespace), &pod, CreateMode::DryRun)
            .await {
            Ok(_) => Check::new(
                ID,
                Status::Ok,
                format!(
                    "namespace {} admits the job pod (needs Pod Security {needs}; server-side dry run)",
                    jobs.namespace
                ),
            ),
            Err(kube::Error::Api(s)) if s.message.contains("violates PodSecurity") => Check::new(
                ID,
                Status::Failed,
                format!(
                    "namespace {} rejects the job pod: {}",
                    jobs.namespace, s.message
                ),
            )
            .details(why())
            .fix(format!(
                "kubectl label --overwrite namespace {} {ENFORCE}={needs}, or choose a build mode whose job pods need less (--build-mode buildkit-rootless or none)",
                jobs.namespace
            )),
            Err(kube::Error::Api(s)) if s.code == 403 => Check::new(
                ID,
                Status::Warning,
                format!(
                    "the caller may not create pods in namespace {}: admission not asked ({})",
                    jobs.namespace, s.message
                ),
            )
            .fix(format!(
                "run doctor as someone who may create pods in {}, or check its {ENFORCE} label admits {needs}",
                jobs.namespace
            )),
            Err(kube::Error::Api(s)) => Check::new(
                ID,
                Status::Failed,
                format!("namespace {} rejects the job pod: {}", jobs.namespace, s.message),
            )
            .fix("look at the namespace's admission policies (ResourceQuota, LimitRange, policy engines)"),
            Err(e) => Check::new(ID, Status::Failed, format!("cannot ask the server: {}", super::said(&e))),
        }
    }
}
