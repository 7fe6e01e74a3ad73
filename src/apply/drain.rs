//! Drain: the runner pods of a release and the CI job pods running on them, so that status
//! can show them, a diff can say how many jobs a restart drains, and uninstall and prune can
//! wait until the jobs are done before they take the runner's RBAC and token away.
//!
//! Facts from GitLab Runner's source (v18.9.0):
//! - job pods carry `manager.runner.gitlab.com/name` (the `[[runners]]` name; without one,
//!   `register` names the runner after the host, the runner pod) and
//!   `manager.runner.gitlab.com/id-short` (the token shortened), both through `sanitizeLabel`
//!   (`executors/kubernetes/kubernetes.go` buildLabels, `executors/kubernetes/util.go`);
//! - the short token strips `glrt-` (with an optional `t1_`/`t2_`/`t3_`), a bare `t1_`..`t3_`
//!   or `glrtr-`, then keeps 9 characters (`helpers/shorten_token.go`).
//!
//! A job pod belongs to this release when its `id-short` is the release token's (when the
//! token is readable: a `glrt-` token in the Secret the Deployment mounts), else when its
//! `name` is a runner pod's name or the configured runner name. It is shown under the runner
//! pod that created it: the pod whose name it carries, else the one pod that was taking jobs
//! when it was created (a draining pod takes none); else under the release.
use std::collections::BTreeSet;
use std::fmt;
use std::time::{Duration, Instant};

use k8s_openapi::jiff::Timestamp;
use serde::Serialize;
use serde_json::Value;

use super::applyset::Members;
use super::token::{env_value, token_place};
use super::{Engine, Error, ObjectRef};
use crate::object::pointer;

/// The job pod label that names the runner (`[[runners]]` name) that created it.
pub const LABEL_MANAGER_NAME: &str = "manager.runner.gitlab.com/name";
/// The job pod label that holds the creating runner's short token.
pub const LABEL_MANAGER_ID_SHORT: &str = "manager.runner.gitlab.com/id-short";
/// The job pod label with the project's id.
pub const LABEL_PROJECT_ID: &str = "project.runner.gitlab.com/id";

/// One CI job pod.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct JobPod {
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// The GitLab project's id (`project.runner.gitlab.com/id`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub project_id: Option<String>,
    /// How long it has existed, in seconds.
    pub age_seconds: u64,
    /// Its phase (`Pending`, `Running`).
    pub phase: String,
}

impl JobPod {
    /// The pod as an object reference.
    pub fn object(&self) -> ObjectRef {
        ObjectRef {
            api_version: "v1".into(),
            kind: "Pod".into(),
            namespace: Some(self.namespace.clone()),
            name: self.name.clone(),
        }
    }
}

impl fmt::Display for JobPod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Pod/{}/{} ({}, {}",
            self.namespace,
            self.name,
            self.phase,
            age(self.age_seconds)
        )?;
        if let Some(p) = &self.project_id {
            write!(f, ", project {p}")?;
        }
        f.write_str(")")
    }
}

/// One runner pod and the jobs it runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RunnerPod {
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// Its phase.
    pub phase: String,
    /// Its Ready condition is true.
    pub ready: bool,
    /// It is stopping: it takes no new jobs and finishes those it runs.
    pub draining: bool,
    /// While draining: seconds left before Kubernetes kills it (and any job still running).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grace_left_seconds: Option<u64>,
    /// Its running job pods, oldest first.
    pub jobs: Vec<JobPod>,
}

impl RunnerPod {
    /// The age of its oldest job, in seconds.
    pub fn oldest_job_seconds(&self) -> Option<u64> {
        self.jobs.iter().map(|j| j.age_seconds).max()
    }
}

/// The runner of a release: its pods, their jobs, and what could not be seen.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Runners {
    /// The runner pods.
    pub pods: Vec<RunnerPod>,
    /// Running jobs of this runner that cannot be tied to one of its pods.
    pub other_jobs: Vec<JobPod>,
    /// The namespaces where its job pods were looked for.
    pub job_namespaces: Vec<String>,
    /// The pods' grace period (`terminationGracePeriodSeconds`), in seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grace_seconds: Option<u64>,
    /// What could not be looked at (a namespace whose pods cannot be listed).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

impl Runners {
    /// Every running job, oldest first.
    pub fn jobs(&self) -> Vec<&JobPod> {
        let mut jobs: Vec<&JobPod> = self
            .pods
            .iter()
            .flat_map(|p| &p.jobs)
            .chain(&self.other_jobs)
            .collect();
        jobs.sort_by_key(|j| std::cmp::Reverse(j.age_seconds));
        jobs
    }

    /// Nothing left: no runner pod and no running job.
    pub fn is_idle(&self) -> bool {
        self.pods.is_empty() && self.other_jobs.is_empty()
    }

    /// One line: `2 runner pods (1 draining), 3 jobs running (oldest 12m)`.
    pub fn summary(&self) -> String {
        let draining = self.pods.iter().filter(|p| p.draining).count();
        let mut text = plural(self.pods.len(), "runner pod");
        if draining > 0 {
            text.push_str(&format!(" ({draining} draining)"));
        }
        let jobs = self.jobs();
        text.push_str(&format!(", {} running", plural(jobs.len(), "job")));
        if let Some(oldest) = jobs.first() {
            text.push_str(&format!(" (oldest {})", age(oldest.age_seconds)));
        }
        text
    }
}

impl Runners {
    /// What runs, without ages: which pods, draining or not, and which jobs (a drain is
    /// reported again when this changes).
    fn shape(&self) -> String {
        let pods = self.pods.iter().map(|p| {
            let jobs: Vec<&str> = p.jobs.iter().map(|j| j.name.as_str()).collect();
            format!("{} {} [{}]", p.name, p.draining, jobs.join(" "))
        });
        let others = self.other_jobs.iter().map(|j| j.name.clone());
        pods.chain(others).collect::<Vec<_>>().join(";")
    }
}

impl fmt::Display for Runners {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "Runner: {}", self.summary())?;
        for pod in &self.pods {
            let state = if pod.draining {
                match pod.grace_left_seconds {
                    Some(left) => format!("draining, {} of grace left", age(left)),
                    None => "draining".to_string(),
                }
            } else if pod.ready {
                "ready".to_string()
            } else {
                pod.phase.to_lowercase()
            };
            write!(
                f,
                "  Pod/{}/{}  {state}, {}",
                pod.namespace,
                pod.name,
                plural(pod.jobs.len(), "job")
            )?;
            match pod.oldest_job_seconds() {
                Some(oldest) => writeln!(f, " (oldest {})", age(oldest))?,
                None => writeln!(f)?,
            }
            for job in &pod.jobs {
                writeln!(f, "    {job}")?;
            }
        }
        if !self.other_jobs.is_empty() {
            writeln!(f, "  jobs not tied to one runner pod:")?;
            for job in &self.other_jobs {
                writeln!(f, "    {job}")?;
            }
        }
        if !self.job_namespaces.is_empty() {
            writeln!(
                f,
                "  jobs looked for in: {}",
                self.job_namespaces.join(", ")
            )?;
        }
        for note in &self.notes {
            writeln!(f, "  note: {note}")?;
        }
        Ok(())
    }
}

/// A runner Deployment whose pod template changes: its pods are replaced, each old one
/// draining (finishing its jobs) for up to its grace period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Restart {
    /// The Deployment.
    pub object: ObjectRef,
    /// CI jobs running on its pods now (`None`: they could not be looked at).
    pub jobs: Option<usize>,
    /// The age of the oldest of them, in seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oldest_job_seconds: Option<u64>,
    /// How long an old pod may drain (its `terminationGracePeriodSeconds`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grace_seconds: Option<u64>,
}

impl fmt::Display for Restart {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: the pod template changes, so the runner restarts; ",
            self.object
        )?;
        let grace = self
            .grace_seconds
            .map(|g| format!(" for up to {}", age(g)))
            .unwrap_or_default();
        match self.jobs {
            None => write!(f, "running jobs (not visible here) drain{grace}"),
            Some(0) => write!(f, "no job is running on it"),
            Some(n) => {
                let verb = if n == 1 { "drains" } else { "drain" };
                write!(f, "{} running on it {verb}{grace}", plural(n, "job"))?;
                if let Some(oldest) = self.oldest_job_seconds {
                    write!(f, " (oldest {})", age(oldest))?;
                }
                Ok(())
            }
        }
    }
}

/// `1 job`, `3 jobs`.
pub(crate) fn plural(n: usize, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{n} {what}s")
    }
}

/// A duration for people: `45s`, `12m`, `1h05m`.
pub(crate) fn age(seconds: u64) -> String {
    match seconds {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m", s / 60),
        s => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
    }
}

/// GitLab Runner's short token (`helpers/shorten_token.go`), as a label value.
pub(crate) fn short_token(token: &str) -> String {
    let mut rest = token.trim();
    if let Some(r) = rest.strip_prefix("glrt-") {
        rest = r;
        rest = strip_partition(rest);
    } else if let Some(r) = rest.strip_prefix("glrtr-") {
        rest = r;
    } else {
        rest = strip_partition(rest);
    }
    sanitize_label(&rest.chars().take(9).collect::<String>())
}

/// `t1_`, `t2_` or `t3_` at the start, stripped.
fn strip_partition(s: &str) -> &str {
    for p in ["t1_", "t2_", "t3_"] {
        if let Some(r) = s.strip_prefix(p) {
            return r;
        }
    }
    s
}

/// A label value as GitLab Runner makes one (`executors/kubernetes/util.go` sanitizeLabel).
pub(crate) fn sanitize_label(value: &str) -> String {
    let mapped: String = value
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect();
    let trim = |s: &str| s.trim_matches(['-', '_', '.']).to_string();
    let mut v = trim(&mapped);
    if v.len() > 63 {
        v.truncate(63);
        v = trim(&v);
    }
    v
}

/// Where to look for a release's runner and its jobs, worked out once from its live objects
/// (kept across the Deployment's deletion, so uninstall can follow the pods it leaves).
#[derive(Clone, Default)]
pub(crate) struct RunnerSelector {
    /// Each Deployment's namespace, name and pod label selector.
    deployments: Vec<(String, String, String)>,
    /// Where job pods run.
    job_namespaces: BTreeSet<String>,
    /// The release token's short form, when readable (never printed).
    id_short: Option<String>,
    /// Configured runner names (`RUNNER_NAME`, `[[runners]] name`).
    names: BTreeSet<String>,
    /// The pods' grace period.
    grace_seconds: Option<u64>,
}

impl fmt::Debug for RunnerSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RunnerSelector")
            .field("deployments", &self.deployments)
            .field("job_namespaces", &self.job_namespaces)
            .field("names", &self.names)
            .finish_non_exhaustive()
    }
}

impl RunnerSelector {
    /// Whether the release has a runner (a Deployment) at all.
    pub(crate) fn is_empty(&self) -> bool {
        self.deployments.is_empty()
    }
}

/// Whether a live object is an apps/v1 Deployment.
pub(crate) fn is_deployment(v: &Value) -> bool {
    let o = ObjectRef::of(v);
    o.group() == "apps" && o.kind == "Deployment"
}

/// `a=b,c=d` from a Deployment's `spec.selector.matchLabels`.
fn selector_of(deployment: &Value) -> Option<String> {
    let labels = pointer(deployment, "/spec/selector/matchLabels")?.as_object()?;
    let parts: Vec<String> = labels
        .iter()
        .filter_map(|(k, v)| Some(format!("{k}={}", v.as_str()?)))
        .collect();
    (!parts.is_empty()).then(|| parts.join(","))
}

/// From the ConfigMap's `config.template.toml` (or `config.toml`): each `[[runners]]` name
/// and `[runners.kubernetes] namespace`.
fn config_names_and_namespaces(configmap: &Value) -> (Vec<String>, Vec<String>) {
    let mut names = Vec::new();
    let mut namespaces = Vec::new();
    for key in ["config.template.toml", "config.toml"] {
        let Some(text) = pointer(configmap, &format!("/data/{key}")).and_then(Value::as_str) else {
            continue;
        };
        let Ok(doc) = text.parse::<toml::Table>() else {
            continue;
        };
        let runners = doc.get("runners").and_then(toml::Value::as_array);
        for r in runners.into_iter().flatten() {
            if let Some(n) = r.get("name").and_then(toml::Value::as_str) {
                names.push(n.to_string());
            }
            if let Some(ns) = r
                .get("kubernetes")
                .and_then(|k| k.get("namespace"))
                .and_then(toml::Value::as_str)
            {
                namespaces.push(ns.to_string());
            }
        }
    }
    (names, namespaces)
}

/// A timestamp of an object (`/metadata/creationTimestamp`...), if it parses.
fn time_at(v: &Value, ptr: &str) -> Option<Timestamp> {
    pointer(v, ptr)?.as_str()?.parse().ok()
}

/// Seconds from `t` to now (0 when `t` is ahead).
fn seconds_since(t: Timestamp, now: Timestamp) -> u64 {
    now.duration_since(t).as_secs().max(0) as u64
}

fn str_at(v: &Value, ptr: &str) -> String {
    pointer(v, ptr)
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string()
}

/// Whether a pod has finished (its phase says so).
fn finished(pod: &Value) -> bool {
    matches!(
        pointer(pod, "/status/phase").and_then(Value::as_str),
        Some("Succeeded" | "Failed")
    )
}

/// A runner pod as seen, and when it took jobs.
struct SeenRunner {
    pod: RunnerPod,
    started: Option<Timestamp>,
    /// When it began draining (its deletion request).
    stopped: Option<Timestamp>,
}

impl Engine {
    /// Where the runner of these members (an installed release's) and its jobs are.
    pub(crate) async fn runner_selector(&self, members: &Members) -> RunnerSelector {
        let mut sel = RunnerSelector::default();
        for (_, v) in members {
            let o = ObjectRef::of(v);
            let ns = o.namespace.clone().unwrap_or_default();
            if is_deployment(v) {
                if let Some(s) = selector_of(v) {
                    sel.deployments.push((ns.clone(), o.name.clone(), s));
                }
                if let Some(n) = env_value(v, "RUNNER_NAME") {
                    sel.names.insert(sanitize_label(n));
                }
                if let Some(n) = env_value(v, "KUBERNETES_NAMESPACE") {
                    sel.job_namespaces.insert(n.to_string());
                }
                sel.grace_seconds = pointer(v, "/spec/template/spec/terminationGracePeriodSeconds")
                    .and_then(Value::as_u64)
                    .or(sel.grace_seconds);
            } else if o.group().is_empty() && o.kind == "ConfigMap" {
                let (names, namespaces) = config_names_and_namespaces(v);
                sel.names.extend(names.iter().map(|n| sanitize_label(n)));
                sel.job_namespaces.extend(namespaces);
            } else if o.group() == "rbac.authorization.k8s.io" && o.kind == "Role" {
                sel.job_namespaces.insert(ns);
            }
        }
        if sel.job_namespaces.is_empty() {
            sel.job_namespaces
                .extend(sel.deployments.iter().map(|(ns, _, _)| ns.clone()));
        }
        if let Some(place) = token_place(members.iter().map(|(_, v)| v))
            && let Some(secret) = self.read_secret(&place.secret).await
        {
            sel.id_short = ["runner-token", "runner-registration-token"]
                .iter()
                .filter_map(|k| crate::secret::secret_text(&secret, k))
                .map(|t| t.trim().to_string())
                .find(|t| {
                    ["glrt-", "t1_", "t2_", "t3_"]
                        .iter()
                        .any(|p| t.starts_with(p))
                })
                .map(|t| short_token(&t));
        }
        sel
    }

    /// The runner pods and their running jobs, now.
    pub(crate) async fn observe_runners(&self, sel: &RunnerSelector) -> Result<Runners, Error> {
        let kind = self.builtin_kind("v1", "Pod").await?;
        let now = Timestamp::now();
        let mut out = Runners {
            job_namespaces: sel.job_namespaces.iter().cloned().collect(),
            grace_seconds: sel.grace_seconds,
            ..Default::default()
        };
        let mut runners = Vec::new();
        for (ns, deployment, selector) in &sel.deployments {
            let pods = self
                .cluster
                .list(&kind, Some(ns), Some(selector), None)
                .await
                .map_err(|e| Error::api(&ObjectRef::namespace(ns), "list pods in", e))?;
            // The Deployment's own pods: their ReplicaSet is named `<deployment>-<hash>` (another
            // Deployment may select the same labels).
            let owned = |p: &&Value| {
                pointer(p, "/metadata/ownerReferences")
                    .and_then(Value::as_array)
                    .is_some_and(|refs| {
                        refs.iter().any(|r| {
                            r.get("kind").and_then(Value::as_str) == Some("ReplicaSet")
                                && r.get("name")
                                    .and_then(Value::as_str)
                                    .and_then(|n| n.strip_prefix(deployment.as_str()))
                                    .is_some_and(|rest| rest.starts_with('-'))
                        })
                    })
            };
            for p in pods.iter().filter(|p| !finished(p)).filter(owned) {
                let stopped = time_at(p, "/metadata/deletionTimestamp").map(|end| {
                    let grace = pointer(p, "/metadata/deletionGracePeriodSeconds")
                        .and_then(Value::as_i64)
                        .unwrap_or(0);
                    (
                        end,
                        end - k8s_openapi::jiff::SignedDuration::from_secs(grace),
                    )
                });
                let ready = pointer(p, "/status/conditions")
                    .and_then(Value::as_array)
                    .is_some_and(|cs| {
                        cs.iter().any(|c| {
                            c.get("type").and_then(Value::as_str) == Some("Ready")
                                && c.get("status").and_then(Value::as_str) == Some("True")
                        })
                    });
                runners.push(SeenRunner {
                    pod: RunnerPod {
                        namespace: ns.clone(),
                        name: str_at(p, "/metadata/name"),
                        phase: str_at(p, "/status/phase"),
                        ready,
                        draining: stopped.is_some(),
                        grace_left_seconds: stopped
                            .map(|(end, _)| end.duration_since(now).as_secs().max(0) as u64),
                        jobs: Vec::new(),
                    },
                    started: time_at(p, "/metadata/creationTimestamp"),
                    stopped: stopped.map(|(_, start)| start),
                });
            }
        }
        let pod_names: BTreeSet<String> = runners
            .iter()
            .map(|r| sanitize_label(&r.pod.name))
            .collect();
        for ns in &sel.job_namespaces {
            let listed = self
                .cluster
                .list(&kind, Some(ns), Some(LABEL_MANAGER_NAME), None)
                .await;
            let pods = match listed {
                Ok(p) => p,
                Err(e) => {
                    out.notes.push(format!(
                        "cannot list the job pods in namespace {ns}: {}",
                        super::doctor::said(&e)
                    ));
                    continue;
                }
            };
            // A job pod being deleted is done: its runner cleans up after it.
            let running = pods
                .iter()
                .filter(|p| !finished(p) && pointer(p, "/metadata/deletionTimestamp").is_none());
            for p in running {
                let name = crate::object::label(p, LABEL_MANAGER_NAME).unwrap_or("");
                let ours = match &sel.id_short {
                    Some(id) => crate::object::label(p, LABEL_MANAGER_ID_SHORT) == Some(id),
                    None => pod_names.contains(name) || sel.names.contains(name),
                };
                if !ours {
                    continue;
                }
                let created = time_at(p, "/metadata/creationTimestamp");
                let job = JobPod {
                    namespace: ns.clone(),
                    name: str_at(p, "/metadata/name"),
                    project_id: crate::object::label(p, LABEL_PROJECT_ID).map(str::to_string),
                    age_seconds: created.map_or(0, |t| seconds_since(t, now)),
                    phase: str_at(p, "/status/phase"),
                };
                match owner(&runners, name, created) {
                    Some(i) => runners[i].pod.jobs.push(job),
                    None => out.other_jobs.push(job),
                }
            }
        }
        for r in &mut runners {
            r.pod.jobs.sort_by_key(|j| std::cmp::Reverse(j.age_seconds));
        }
        out.other_jobs
            .sort_by_key(|j| std::cmp::Reverse(j.age_seconds));
        out.pods = runners.into_iter().map(|r| r.pod).collect();
        Ok(out)
    }

    /// Wait until the runner pods are gone (each finishes its jobs and exits), reporting what
    /// still runs when it changes and every [`PROGRESS_EVERY`]. Returns the job pods left
    /// running once no runner pod is left (nothing will finish them). At `deadline`:
    /// [`Error::Draining`] naming what still runs and the objects `kept` names.
    pub(crate) async fn drain(
        &self,
        sel: &RunnerSelector,
        (deadline, allowed): (Instant, Duration),
        kept: impl Fn() -> Vec<ObjectRef>,
        on_progress: &mut (dyn FnMut(&Runners) + Send),
    ) -> Result<Vec<JobPod>, Error> {
        let mut said: Option<(Instant, String)> = None;
        let mut poll = DRAIN_FIRST_POLL;
        loop {
            let now = self.observe_runners(sel).await?;
            if now.pods.is_empty() {
                return Ok(now.jobs().into_iter().cloned().collect());
            }
            let text = now.shape();
            let due = said
                .as_ref()
                .is_none_or(|(at, last)| *last != text || at.elapsed() >= PROGRESS_EVERY);
            if due {
                on_progress(&now);
                said = Some((Instant::now(), text));
            }
            if Instant::now() >= deadline {
                let pods = now.pods.iter().map(|p| {
                    let state = if p.draining { "draining" } else { "running" };
                    format!("Pod/{}/{} ({state})", p.namespace, p.name)
                });
                let jobs = now.jobs().into_iter().map(|j| format!("job {j}"));
                return Err(Error::Draining {
                    still: pods.chain(jobs).collect(),
                    kept: kept(),
                    secs: allowed.as_secs(),
                });
            }
            // Quick looks first (a runner with no job is gone in a moment), then fewer
            // requests for a drain that takes its time.
            let pause = poll.min(deadline.saturating_duration_since(Instant::now()));
            tokio::time::sleep(pause).await;
            poll = (poll * 2).min(DRAIN_POLL);
        }
    }

    /// The runner Deployments among `changes` whose pod template changes, with the jobs
    /// running on them now.
    pub(crate) async fn restarts(&self, changes: &[super::Change]) -> Vec<Restart> {
        let restarting: Vec<&super::Change> = changes
            .iter()
            .filter(|c| {
                let (Some(live), Some(after)) = (&c.live, &c.after) else {
                    return false;
                };
                is_deployment(live)
                    && pointer(live, "/spec/template") != pointer(after, "/spec/template")
            })
            .collect();
        if restarting.is_empty() {
            return Vec::new();
        }
        let members: Members = changes
            .iter()
            .filter_map(|c| Some((c.kind.clone(), c.live.clone()?)))
            .collect();
        let mut out = Vec::new();
        for c in restarting {
            let live = c.live.as_ref().expect("filtered on live");
            let own: Members = members
                .iter()
                .filter(|(_, v)| !is_deployment(v) || ObjectRef::of(v) == c.object)
                .cloned()
                .collect();
            let sel = self.runner_selector(&own).await;
            let seen = self.observe_runners(&sel).await.ok();
            let jobs = seen.as_ref().map(Runners::jobs);
            out.push(Restart {
                object: c.object.clone(),
                jobs: jobs.as_ref().map(Vec::len),
                oldest_job_seconds: jobs.as_ref().and_then(|j| j.first().map(|j| j.age_seconds)),
                grace_seconds: pointer(live, "/spec/template/spec/terminationGracePeriodSeconds")
                    .and_then(Value::as_u64),
            });
        }
        out
    }

    /// The runner pods of an installed release and the jobs running on them.
    pub async fn runners(&self, members: &Members) -> Result<Runners, Error> {
        let sel = self.runner_selector(members).await;
        self.observe_runners(&sel).await
    }
}

/// The runner pod that created a job: the one whose name the job carries, else the only one
/// that was taking jobs when the job was created.
fn owner(runners: &[SeenRunner], name: &str, created: Option<Timestamp>) -> Option<usize> {
    if let Some(i) = runners
        .iter()
        .position(|r| sanitize_label(&r.pod.name) == name)
    {
        return Some(i);
    }
    let created = created?;
    let taking: Vec<usize> = runners
        .iter()
        .enumerate()
        .filter(|(_, r)| {
            // Timestamps have whole seconds: a job of the second a pod began draining is its.
            r.started.is_none_or(|s| s <= created) && r.stopped.is_none_or(|s| created <= s)
        })
        .map(|(i, _)| i)
        .collect();
    match taking.as_slice() {
        [one] => Some(*one),
        _ => None,
    }
}

/// The first pause between looks while draining; it doubles up to [`DRAIN_POLL`].
const DRAIN_FIRST_POLL: Duration = Duration::from_millis(250);

/// The longest pause between looks while draining.
const DRAIN_POLL: Duration = Duration::from_secs(2);

/// How often a drain that did not change is reported again.
pub const PROGRESS_EVERY: Duration = Duration::from_secs(30);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_tokens_follow_the_runner() {
        assert_eq!(short_token("glrt-t1_abcdefghijkl"), "abcdefghi");
        assert_eq!(short_token("glrt-abcdefghijkl"), "abcdefghi");
        assert_eq!(short_token("t3_abcdefghijkl"), "abcdefghi");
        assert_eq!(short_token("glrtr-xyz"), "xyz");
        assert_eq!(short_token("abc_-"), "abc");
    }

    #[test]
    fn labels_are_sanitised_like_the_runner() {
        assert_eq!(sanitize_label("-my runner!-"), "my_runner");
        assert_eq!(sanitize_label(&"a".repeat(70)), "a".repeat(63));
    }

    #[test]
    fn ages_read_like_people_write_them() {
        assert_eq!(age(45), "45s");
        assert_eq!(age(720), "12m");
        assert_eq!(age(3900), "1h05m");
    }

    fn seen(name: &str, started: &str, stopped: Option<&str>) -> SeenRunner {
        SeenRunner {
            pod: RunnerPod {
                namespace: "ns".into(),
                name: name.into(),
                phase: "Running".into(),
                ready: true,
                draining: stopped.is_some(),
                grace_left_seconds: None,
                jobs: Vec::new(),
            },
            started: Some(started.parse().unwrap()),
            stopped: stopped.map(|s| s.parse().unwrap()),
        }
    }

    #[test]
    fn a_job_goes_to_the_pod_it_names_else_the_only_one_taking_jobs() {
        let runners = [
            seen("old", "2026-01-01T00:00:00Z", Some("2026-01-01T02:00:00Z")),
            seen("new", "2026-01-01T01:00:00Z", None),
        ];
        let at = |t: &str| Some(t.parse().unwrap());
        assert_eq!(owner(&runners, "new", at("2026-01-01T00:30:00Z")), Some(1));
        // Only the old pod was up.
        assert_eq!(owner(&runners, "x", at("2026-01-01T00:30:00Z")), Some(0));
        // Both were taking jobs: cannot tell.
        assert_eq!(owner(&runners, "x", at("2026-01-01T01:30:00Z")), None);
        // The old one was draining.
        assert_eq!(owner(&runners, "x", at("2026-01-01T02:30:00Z")), Some(1));
        // Created in the second the old one began draining, before the new one was up.
        let alone = [seen(
            "old",
            "2026-01-01T00:00:00Z",
            Some("2026-01-01T02:00:00Z"),
        )];
        assert_eq!(owner(&alone, "x", at("2026-01-01T02:00:00Z")), Some(0));
        assert_eq!(owner(&runners, "x", None), None);
    }
}
