//! How the runner pod stops (docs/guide/lifecycle.md): whether the entrypoint unregisters the
//! runner once it has drained, whether the grace period leaves the jobs time to finish, and
//! the PodDisruptionBudget that paces evictions.
use serde::Serialize;
use serde_json::{Map, Value};

use super::{Error, gotmpl};
use crate::values::path::lookup;

/// The values of the PodDisruptionBudget.
const BUDGET: &str = "runnerctl.podDisruptionBudget";

/// What the templates see of how the runner pod stops (flattened into `chart`).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Lifecycle {
    /// The PodDisruptionBudget's spec without its selector: `minAvailable` when set, else
    /// `maxUnavailable`; `None` when `runnerctl.podDisruptionBudget.enabled` is off.
    pub pod_disruption_budget: Option<Map<String, Value>>,
}

impl Lifecycle {
    /// The budget from `runnerctl.podDisruptionBudget`; an error when it is enabled with
    /// neither field, a warning when it lets no runner pod be evicted (see [`evictable`]).
    pub(super) fn new(values: &Value, warnings: &mut Vec<String>) -> Result<Lifecycle, Error> {
        let set = |key: &'static str| {
            lookup(values, &format!("{BUDGET}.{key}"))
                .filter(|v| !v.is_null())
                .map(|v| (key, v))
        };
        let enabled = lookup(values, &format!("{BUDGET}.enabled")).and_then(Value::as_bool);
        if enabled != Some(true) {
            return Ok(Lifecycle {
                pod_disruption_budget: None,
            });
        }
        let Some((key, value)) = set("minAvailable").or_else(|| set("maxUnavailable")) else {
            return Err(Error::InvalidValue {
                key: BUDGET.into(),
                message: "enabled, but neither minAvailable nor maxUnavailable is set; \
                          set one, e.g. maxUnavailable: 1"
                    .into(),
            });
        };
        let replicas = lowest_replicas(values);
        if evictable(key, value, replicas) == Some(0) {
            warnings.push(format!(
                "{BUDGET}.{key} ({value}) lets no runner pod be evicted at {replicas} \
                 replica(s): kubectl drain and node upgrades wait until someone deletes the pod \
                 by hand; use maxUnavailable: 1, or more replicas"
            ));
        }
        let mut spec = Map::new();
        spec.insert(key.into(), value.clone());
        Ok(Lifecycle {
            pod_disruption_budget: Some(spec),
        })
    }
}

/// The fewest runner pods the Deployment runs: the autoscaler's `minReplicas` (default 1)
/// with `hpa`, else `replicas` (default 1).
fn lowest_replicas(values: &Value) -> u64 {
    let hpa = lookup(values, "hpa").is_some_and(gotmpl::truthy);
    let path = if hpa { "hpa.minReplicas" } else { "replicas" };
    lookup(values, path).and_then(Value::as_u64).unwrap_or(1)
}

/// How many of `replicas` healthy runner pods a budget with `key: value` lets be evicted, as
/// Kubernetes' disruption controller counts (a percentage of the pods rounded up); `None` for
/// a value it cannot read.
fn evictable(key: &str, value: &Value, replicas: u64) -> Option<u64> {
    let pods = match value {
        Value::Number(n) => n.as_u64()?,
        Value::String(s) => {
            let percent: u64 = s.strip_suffix('%')?.parse().ok()?;
            (percent * replicas).div_ceil(100)
        }
        _ => return None,
    };
    Some(match key {
        "minAvailable" => replicas.saturating_sub(pods),
        _ => pods.min(replicas),
    })
}

/// The grace period Kubernetes gives a pod that sets none.
const KUBERNETES_GRACE_SECONDS: f64 = 30.0;

/// Whether the entrypoint unregisters the runner (manager) when the pod stops, once the
/// runner has drained: `unregisterRunners`, unless `deploymentLifecycle` replaces the
/// lifecycle. The chart unregisters in a preStop hook instead, which runs before the stop
/// signal, while the jobs still run; runnerctl renders no preStop hook of its own.
pub(super) fn unregisters_after_drain(values: &Value) -> bool {
    let set = |path: &str| lookup(values, path).is_some_and(gotmpl::truthy);
    set("unregisterRunners") && !set("deploymentLifecycle")
}

/// A warning when `runners.maximumTimeout` (seconds; a number or its digits) is longer than
/// the pod's grace period (`terminationGracePeriodSeconds`, Kubernetes' 30 when unset): the
/// runner drains when its pod stops, but a job still running when the grace period ends is
/// killed.
pub(super) fn grace_warning(values: &Value) -> Option<String> {
    let seconds = |path: &str| match lookup(values, path)? {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.parse::<f64>().ok(),
        _ => None,
    };
    let timeout = seconds("runners.maximumTimeout")?;
    let (grace, grace_text) = match seconds("terminationGracePeriodSeconds") {
        Some(grace) => (grace, format!("{grace}")),
        None => (
            KUBERNETES_GRACE_SECONDS,
            format!("unset, Kubernetes' {KUBERNETES_GRACE_SECONDS}"),
        ),
    };
    (timeout > grace).then(|| {
        format!(
            "runners.maximumTimeout ({timeout}) is greater than terminationGracePeriodSeconds \
             ({grace_text}): a job running longer than {grace} seconds is killed when the \
             runner pod stops (an upgrade, an uninstall, a node drain); set \
             terminationGracePeriodSeconds to {timeout} or more"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::tests::{object_of, with_token};
    use crate::render::{Manifest, render};
    use serde_json::json;

    /// A release with the default values, a token and these `--set`s, rendered.
    fn rendered(sets: &[&str]) -> Result<Manifest, Error> {
        render(&with_token(sets))
    }

    #[test]
    fn no_disruption_budget_by_default() {
        let manifest = rendered(&["replicas=3"]).unwrap();
        assert_eq!(object_of(&manifest, "PodDisruptionBudget"), None);
    }

    #[test]
    fn the_disruption_budget_selects_the_runner_pods() {
        let manifest =
            rendered(&["replicas=3", "runnerctl.podDisruptionBudget.enabled=true"]).unwrap();
        let budget = object_of(&manifest, "PodDisruptionBudget").unwrap();
        let deployment = object_of(&manifest, "Deployment").unwrap();
        assert_eq!(budget["apiVersion"], "policy/v1");
        assert_eq!(budget["metadata"]["name"], deployment["metadata"]["name"]);
        assert_eq!(
            budget["metadata"]["namespace"],
            deployment["metadata"]["namespace"]
        );
        assert_eq!(
            budget["spec"],
            json!({"maxUnavailable": 1, "selector": deployment["spec"]["selector"]})
        );
        assert!(manifest.warnings.is_empty(), "{:?}", manifest.warnings);
        // minAvailable, when set, is used instead of maxUnavailable; percentages as given.
        let manifest = rendered(&[
            "replicas=3",
            "runnerctl.podDisruptionBudget.enabled=true",
            "runnerctl.podDisruptionBudget.minAvailable=50%",
        ])
        .unwrap();
        let spec = &object_of(&manifest, "PodDisruptionBudget").unwrap()["spec"];
        assert_eq!(spec["minAvailable"], "50%");
        assert!(spec.get("maxUnavailable").is_none(), "{spec}");
    }

    #[test]
    fn a_budget_without_a_limit_is_refused() {
        let err = rendered(&[
            "runnerctl.podDisruptionBudget.enabled=true",
            "runnerctl.podDisruptionBudget.maxUnavailable=null",
        ])
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "runnerctl.podDisruptionBudget: enabled, but neither minAvailable nor \
             maxUnavailable is set; set one, e.g. maxUnavailable: 1"
        );
    }

    #[test]
    fn a_budget_that_blocks_every_eviction_is_warned_about() {
        let warned = |sets: &[&str]| {
            let mut sets = sets.to_vec();
            sets.push("runnerctl.podDisruptionBudget.enabled=true");
            let warnings = rendered(&sets).unwrap().warnings;
            warnings
                .iter()
                .any(|w| w.contains("lets no runner pod be evicted"))
        };
        assert!(warned(&["runnerctl.podDisruptionBudget.minAvailable=1"]));
        assert!(warned(&[
            "replicas=2",
            "runnerctl.podDisruptionBudget.minAvailable=100%"
        ]));
        assert!(warned(&[
            "replicas=4",
            "runnerctl.podDisruptionBudget.maxUnavailable=0"
        ]));
        assert!(warned(&[
            "hpa.minReplicas=2",
            "hpa.maxReplicas=5",
            "runnerctl.podDisruptionBudget.minAvailable=2",
        ]));
        assert!(!warned(&[]));
        assert!(!warned(&[
            "replicas=2",
            "runnerctl.podDisruptionBudget.minAvailable=1"
        ]));
        assert!(!warned(&[
            "replicas=3",
            "runnerctl.podDisruptionBudget.minAvailable=50%"
        ]));
        assert!(!warned(&[
            "replicas=1",
            "runnerctl.podDisruptionBudget.maxUnavailable=1%"
        ]));
    }

    #[test]
    fn a_job_timeout_longer_than_the_grace_period_is_warned_about() {
        let warning = |values: Value| grace_warning(&values);
        let w = warning(json!({"runners": {"maximumTimeout": 7200},
            "terminationGracePeriodSeconds": 3600}))
        .unwrap();
        assert_eq!(
            w,
            "runners.maximumTimeout (7200) is greater than terminationGracePeriodSeconds \
             (3600): a job running longer than 3600 seconds is killed when the runner pod \
             stops (an upgrade, an uninstall, a node drain); set terminationGracePeriodSeconds \
             to 7200 or more"
        );
        // Digits as a string, and no grace period at all (Kubernetes' 30 seconds).
        let w = warning(json!({"runners": {"maximumTimeout": "60"}})).unwrap();
        assert!(
            w.contains(
                "(60) is greater than terminationGracePeriodSeconds (unset, Kubernetes' 30)"
            ),
            "{w}"
        );
        // Through a render, with the default grace period (3600).
        let release = crate::render::tests::release(&[
            "runnerRegistrationToken=GR1348941x",
            "runners.maximumTimeout=7200",
        ]);
        let rendered = crate::render::render(&release).unwrap();
        assert!(
            rendered.warnings.iter().any(|w| w.starts_with(
                "runners.maximumTimeout (7200) is greater than terminationGracePeriodSeconds (3600)"
            )),
            "{:?}",
            rendered.warnings
        );
        for quiet in [
            json!({"runners": {"maximumTimeout": 3600}, "terminationGracePeriodSeconds": 3600}),
            json!({"runners": {"maximumTimeout": null}, "terminationGracePeriodSeconds": 0}),
            json!({"runners": {"maximumTimeout": ""}, "terminationGracePeriodSeconds": 0}),
            json!({"runners": {}, "terminationGracePeriodSeconds": 10}),
        ] {
            assert_eq!(warning(quiet.clone()), None, "{quiet}");
        }
    }
}
