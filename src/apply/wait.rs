//! Wait until objects are ready, kstatus-like; explain why when they are not.
//!
//! Rules: a Deployment is ready when the controller observed its generation, every replica
//! is updated, ready and available and no old replica is left; `Progressing=False` with
//! `ProgressDeadlineExceeded` is a failure. StatefulSets and DaemonSets follow the same
//! idea; a Pod must be Ready; a Namespace Active. Other kinds are ready once they exist.
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::Value;

use super::{BoxFut, Engine, Error, ObjectRef, concurrently};
use crate::k8s::Kind;

/// Readiness of one object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", content = "message")]
pub enum Readiness {
    /// Ready (kstatus "Current").
    Ready,
    /// Not yet; why.
    InProgress(String),
    /// Will not become ready without a change; why.
    Failed(String),
    /// Does not exist.
    Missing,
}

impl std::fmt::Display for Readiness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Readiness::Ready => f.write_str("ready"),
            Readiness::InProgress(m) => write!(f, "in progress: {m}"),
            Readiness::Failed(m) => write!(f, "failed: {m}"),
            Readiness::Missing => f.write_str("missing"),
        }
    }
}

fn int(v: &Value, ptr: &str) -> Option<i64> {
    v.pointer(ptr).and_then(Value::as_i64)
}

fn condition<'a>(v: &'a Value, ty: &str) -> Option<&'a Value> {
    v.pointer("/status/conditions")?
        .as_array()?
        .iter()
        .find(|c| c.get("type").and_then(Value::as_str) == Some(ty))
}

fn cond_str<'a>(c: &'a Value, k: &str) -> &'a str {
    c.get(k).and_then(Value::as_str).unwrap_or("")
}

/// Ready when `want` pods are both ready and updated (StatefulSet, DaemonSet).
fn ready_and_updated(obj: &Value, want: i64, ready_at: &str, updated_at: &str) -> Readiness {
    let ready = int(obj, ready_at).unwrap_or(0);
    let updated = int(obj, updated_at).unwrap_or(0);
    if ready < want || updated < want {
        return Readiness::InProgress(format!("{ready} of {want} ready, {updated} updated"));
    }
    Readiness::Ready
}

/// The readiness of a live object (pure: no requests).
pub fn readiness(obj: &Value) -> Readiness {
    let kind = obj.get("kind").and_then(Value::as_str).unwrap_or("");
    let generation = int(obj, "/metadata/generation").unwrap_or(0);
    let observed = int(obj, "/status/observedGeneration");
    let observed_ok = || observed.is_some_and(|o| o >= generation);
    if obj.pointer("/metadata/deletionTimestamp").is_some() {
        return Readiness::InProgress("being deleted".into());
    }
    if kind == "Deployment"
        && let Some(c) = condition(obj, "Progressing")
        && cond_str(c, "status") == "False"
        && cond_str(c, "reason") == "ProgressDeadlineExceeded"
    {
        return Readiness::Failed(format!(
            "progress deadline exceeded: {}",
            cond_str(c, "message")
        ));
    }
    if matches!(kind, "Deployment" | "StatefulSet" | "DaemonSet") && !observed_ok() {
        return Readiness::InProgress(
            "waiting for the controller to observe the new generation".into(),
        );
    }
    match kind {
        "Deployment" => {
            let want = int(obj, "/spec/replicas").unwrap_or(1);
            let total = int(obj, "/status/replicas").unwrap_or(0);
            let updated = int(obj, "/status/updatedReplicas").unwrap_or(0);
            let ready = int(obj, "/status/readyReplicas").unwrap_or(0);
            let available = int(obj, "/status/availableReplicas").unwrap_or(0);
            if updated < want {
                return Readiness::InProgress(format!("{updated} of {want} replicas updated"));
            }
            if total > updated {
                return Readiness::InProgress(format!(
                    "{} old replicas pending termination",
                    total - updated
                ));
            }
            if ready < want {
                return Readiness::InProgress(format!("{ready} of {want} replicas ready"));
            }
            if available < want {
                return Readiness::InProgress(format!("{available} of {want} replicas available"));
            }
            Readiness::Ready
        }
        "StatefulSet" => ready_and_updated(
            obj,
            int(obj, "/spec/replicas").unwrap_or(1),
            "/status/readyReplicas",
            "/status/updatedReplicas",
        ),
        "DaemonSet" => ready_and_updated(
            obj,
            int(obj, "/status/desiredNumberScheduled").unwrap_or(0),
            "/status/numberReady",
            "/status/updatedNumberScheduled",
        ),
        "Pod" => {
            let phase = obj
                .pointer("/status/phase")
                .and_then(Value::as_str)
                .unwrap_or("Pending");
            match phase {
                "Succeeded" => Readiness::Ready,
                "Failed" => Readiness::Failed("pod failed".into()),
                _ if condition(obj, "Ready").is_some_and(|c| cond_str(c, "status") == "True") => {
                    Readiness::Ready
                }
                _ => Readiness::InProgress(format!("pod {phase}")),
            }
        }
        "Namespace" => match obj.pointer("/status/phase").and_then(Value::as_str) {
            Some("Terminating") => Readiness::Failed("namespace is terminating".into()),
            _ => Readiness::Ready,
        },
        _ => Readiness::Ready,
    }
}

fn needs_polling(kind: &str) -> bool {
    matches!(kind, "Deployment" | "StatefulSet" | "DaemonSet" | "Pod")
}

/// An object being waited for: its kind, last readiness and last live state.
struct Watched {
    kind: Kind,
    object: ObjectRef,
    state: Readiness,
    live: Option<Value>,
}

/// How long and how often to wait.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct WaitOptions {
    /// Give up after this long (default 5 minutes).
    pub timeout: Duration,
    /// Poll interval (default 1 s).
    pub interval: Duration,
}

setters!(WaitOptions {
    /// Set how long to wait.
    timeout: Duration,
    /// Set the poll interval.
    interval: Duration,
});

impl Default for WaitOptions {
    fn default() -> Self {
        WaitOptions {
            timeout: Duration::from_secs(300),
            interval: Duration::from_secs(1),
        }
    }
}

/// An object that did not become ready, and why.
#[derive(Debug, Clone, Serialize)]
pub struct NotReady {
    /// The object.
    pub object: ObjectRef,
    /// Its last readiness.
    pub readiness: Readiness,
    /// Explanations: pod phases, container waiting reasons, recent events.
    pub reasons: Vec<String>,
}

/// The outcome of [`Engine::wait`].
#[derive(Debug, Clone, Default, Serialize)]
pub struct WaitReport {
    /// Objects that became ready, in the order they did.
    pub ready: Vec<ObjectRef>,
    /// Objects that failed or were still not ready at the timeout.
    pub not_ready: Vec<NotReady>,
    /// Whether the timeout was reached.
    pub timed_out: bool,
}

impl WaitReport {
    /// Everything became ready.
    pub fn is_ready(&self) -> bool {
        self.not_ready.is_empty()
    }
}

impl std::fmt::Display for WaitReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for n in &self.not_ready {
            writeln!(f, "{}: {}", n.object, n.readiness)?;
            for r in &n.reasons {
                writeln!(f, "  {r}")?;
            }
        }
        Ok(())
    }
}

impl Engine {
    /// Wait until `objects` are ready or `opts.timeout` passes. `on_change` is called when an
    /// object's readiness changes: once with [`Readiness::Ready`] as it becomes ready, and
    /// with the new explanation while it is in progress. Failures are data in the report,
    /// with reasons. Workloads (Deployment, StatefulSet, DaemonSet, Pod) are polled; other
    /// kinds are ready once applied.
    pub async fn wait(
        &self,
        objects: &[ObjectRef],
        opts: &WaitOptions,
        mut on_change: impl FnMut(&ObjectRef, &Readiness),
    ) -> Result<WaitReport, Error> {
        let start = Instant::now();
        let mut report = WaitReport::default();
        let mut pending = Vec::new();
        for o in objects {
            if needs_polling(&o.kind) {
                pending.push(Watched {
                    kind: self.resolve_ref(o).await?,
                    object: o.clone(),
                    state: Readiness::InProgress("not checked yet".into()),
                    live: None,
                });
            } else {
                on_change(o, &Readiness::Ready);
                report.ready.push(o.clone());
            }
        }
        let mut failed = Vec::new();
        loop {
            pending = self
                .poll(pending, &mut report, &mut failed, &mut on_change)
                .await?;
            if pending.is_empty() {
                break;
            }
            if start.elapsed() >= opts.timeout {
                report.timed_out = true;
                break;
            }
            let left = opts.timeout.saturating_sub(start.elapsed());
            tokio::time::sleep(opts.interval.min(left)).await;
        }
        for w in failed.into_iter().chain(pending) {
            let reasons = match &w.live {
                Some(l) => self.explain(&w.object, l).await,
                None => Vec::new(),
            };
            report.not_ready.push(NotReady {
                object: w.object,
                readiness: w.state,
                reasons,
            });
        }
        Ok(report)
    }

    /// One round: read every pending object (concurrently) and sort it into ready (in the
    /// report), failed, or still pending (returned); `on_change` hears of each change.
    async fn poll(
        &self,
        pending: Vec<Watched>,
        report: &mut WaitReport,
        failed: &mut Vec<Watched>,
        on_change: &mut impl FnMut(&ObjectRef, &Readiness),
    ) -> Result<Vec<Watched>, Error> {
        let futs: Vec<BoxFut<Result<Option<Value>, Error>>> = pending
            .iter()
            .map(|w| {
                let (e, k, o) = (self.clone(), w.kind.clone(), w.object.clone());
                Box::pin(async move {
                    e.cluster
                        .get(&k, o.namespace.as_deref(), &o.name)
                        .await
                        .map_err(|err| Error::api(&o, "get", err))
                }) as BoxFut<_>
            })
            .collect();
        let results = concurrently(futs).await;
        let mut still = Vec::new();
        for (mut w, r) in pending.into_iter().zip(results) {
            w.live = r?;
            let state = w.live.as_ref().map(readiness).unwrap_or(Readiness::Missing);
            let changed = state != w.state;
            w.state = state;
            match w.state {
                Readiness::Ready => {
                    on_change(&w.object, &w.state);
                    report.ready.push(w.object);
                }
                Readiness::Failed(_) => {
                    on_change(&w.object, &w.state);
                    failed.push(w);
                }
                _ => {
                    if changed {
                        on_change(&w.object, &w.state);
                    }
                    still.push(w);
                }
            }
        }
        Ok(still)
    }

    /// Why a workload is not ready: its failing conditions, its pods' phases and container
    /// states, and the newest pod's recent events. Best effort: request errors become reasons.
    pub(crate) async fn explain(&self, o: &ObjectRef, live: &Value) -> Vec<String> {
        let mut out = Vec::new();
        for c in live
            .pointer("/status/conditions")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if cond_str(c, "status") != "True" {
                out.push(format!(
                    "condition {}={}: {} {}",
                    cond_str(c, "type"),
                    cond_str(c, "status"),
                    cond_str(c, "reason"),
                    cond_str(c, "message")
                ));
            }
        }
        let Some(labels) = selector(live) else {
            return out;
        };
        let (Ok(Some(pod_kind)), Ok(Some(event_kind))) = (
            self.cluster.resolve("v1", "Pod").await,
            self.cluster.resolve("v1", "Event").await,
        ) else {
            return out;
        };
        let ns = o.namespace.as_deref();
        let mut pods = match self.cluster.list(&pod_kind, ns, Some(&labels), None).await {
            Ok(p) => p,
            Err(e) => {
                out.push(format!(
                    "cannot list pods: {}",
                    Error::api(o, "list pods", e)
                ));
                return out;
            }
        };
        if pods.is_empty() {
            out.push(format!("no pods match {labels}"));
        }
        newest_first(&mut pods);
        for p in pods.iter().take(3) {
            out.extend(pod_reasons(p));
        }
        if let Some(p) = pods.first() {
            let name = p
                .pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or("");
            let fs = format!("involvedObject.name={name}");
            if let Ok(mut events) = self.cluster.list(&event_kind, ns, None, Some(&fs)).await {
                let ts = |e: &Value| {
                    [
                        "/lastTimestamp",
                        "/eventTime",
                        "/metadata/creationTimestamp",
                    ]
                    .iter()
                    .find_map(|p| e.pointer(p).and_then(Value::as_str))
                    .unwrap_or("")
                    .to_string()
                };
                events.sort_by_key(ts);
                let skip = events.len().saturating_sub(5);
                for e in events.iter().skip(skip) {
                    let s = |p: &str| e.pointer(p).and_then(Value::as_str).unwrap_or("");
                    out.push(format!(
                        "event pod/{name}: {} {}: {}",
                        s("/type"),
                        s("/reason"),
                        s("/message")
                    ));
                }
            }
        }
        out
    }
}

/// A workload's `matchLabels` as a label selector (`app=x,release=y`).
pub(crate) fn selector(live: &Value) -> Option<String> {
    let m = live
        .pointer("/spec/selector/matchLabels")
        .and_then(Value::as_object)?;
    Some(
        m.iter()
            .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
            .collect::<Vec<_>>()
            .join(","),
    )
}

/// Sort pods newest first (by creation time).
pub(crate) fn newest_first(pods: &mut [Value]) {
    let created = |p: &Value| {
        p.pointer("/metadata/creationTimestamp")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    pods.sort_by_key(|p| std::cmp::Reverse(created(p)));
}

/// One line per interesting fact about a pod: phase, unready conditions, container states.
pub(crate) fn pod_reasons(p: &Value) -> Vec<String> {
    let s = |v: &Value, ptr: &str| {
        v.pointer(ptr)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    let name = s(p, "/metadata/name");
    let mut out = vec![format!("pod/{name}: phase {}", s(p, "/status/phase"))];
    for c in p
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if cond_str(c, "status") == "False" && !cond_str(c, "reason").is_empty() {
            out.push(format!(
                "pod/{name}: {} {}: {}",
                cond_str(c, "type"),
                cond_str(c, "reason"),
                cond_str(c, "message")
            ));
        }
    }
    for list in ["/status/initContainerStatuses", "/status/containerStatuses"] {
        for cs in p
            .pointer(list)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let cname = s(cs, "/name");
            let restarts = int(cs, "/restartCount").unwrap_or(0);
            if let Some(w) = cs.pointer("/state/waiting") {
                out.push(
                    format!(
                        "pod/{name} container {cname}: waiting: {} {}",
                        s(w, "/reason"),
                        s(w, "/message")
                    )
                    .trim_end()
                    .to_string(),
                );
            }
            if let Some(t) = cs.pointer("/state/terminated") {
                out.push(format!(
                    "pod/{name} container {cname}: terminated: {} exit code {}",
                    s(t, "/reason"),
                    int(t, "/exitCode").unwrap_or(0)
                ));
            }
            if let Some(t) = cs.pointer("/lastState/terminated") {
                out.push(format!(
                    "pod/{name} container {cname}: last terminated: {} exit code {} ({restarts} restarts)",
                    s(t, "/reason"),
                    int(t, "/exitCode").unwrap_or(0)
                ));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn deploy(generation: i64, status: Value) -> Value {
        json!({"kind":"Deployment","metadata":{"generation":generation},"spec":{"replicas":1},"status":status})
    }

    #[test]
    fn deployment_rules() {
        assert_eq!(
            readiness(&deploy(
                2,
                json!({"observedGeneration":2,"replicas":1,"updatedReplicas":1,"readyReplicas":1,"availableReplicas":1})
            )),
            Readiness::Ready
        );
        assert!(matches!(
            readiness(&deploy(
                3,
                json!({"observedGeneration":2,"replicas":1,"updatedReplicas":1,"readyReplicas":1,"availableReplicas":1})
            )),
            Readiness::InProgress(_)
        ));
        assert!(matches!(
            readiness(&deploy(2, json!({"observedGeneration":2,"replicas":2,"updatedReplicas":1,"readyReplicas":1,"availableReplicas":1}))),
            Readiness::InProgress(m) if m.contains("old replicas")
        ));
        assert!(matches!(
            readiness(&deploy(2, json!({"observedGeneration":2,"replicas":1,"updatedReplicas":1,"readyReplicas":0}))),
            Readiness::InProgress(m) if m.contains("0 of 1 replicas ready")
        ));
        assert!(matches!(
            readiness(&deploy(2, json!({"observedGeneration":2,"conditions":[{"type":"Progressing","status":"False","reason":"ProgressDeadlineExceeded","message":"too slow"}]}))),
            Readiness::Failed(m) if m.contains("too slow")
        ));
        assert_eq!(readiness(&json!({"kind":"ConfigMap"})), Readiness::Ready);
        let mut deleting = deploy(
            2,
            json!({"observedGeneration":2,"replicas":1,"updatedReplicas":1,"readyReplicas":1,"availableReplicas":1}),
        );
        deleting["metadata"]["deletionTimestamp"] = json!("2026-01-01T00:00:00Z");
        assert_eq!(
            readiness(&deleting),
            Readiness::InProgress("being deleted".into())
        );
    }

    #[test]
    fn pod_reasons_name_waiting_containers() {
        let p = json!({"metadata":{"name":"r-1"},"status":{"phase":"Pending",
            "conditions":[{"type":"Ready","status":"False","reason":"ContainersNotReady","message":"containers with unready status: [r]"}],
            "containerStatuses":[{"name":"r","restartCount":3,"state":{"waiting":{"reason":"ImagePullBackOff","message":"Back-off pulling image"}},
              "lastState":{"terminated":{"reason":"Error","exitCode":1}}}]}});
        let r = pod_reasons(&p).join("\n");
        assert!(r.contains("pod/r-1: phase Pending"), "{r}");
        assert!(
            r.contains("waiting: ImagePullBackOff Back-off pulling image"),
            "{r}"
        );
        assert!(
            r.contains("last terminated: Error exit code 1 (3 restarts)"),
            "{r}"
        );
    }
}
