//! How the runner pod stops (docs/guide/lifecycle.md): whether the entrypoint unregisters the
//! runner once it has drained, and whether the grace period leaves the jobs time to finish.
use serde_json::Value;

use super::gotmpl;
use crate::values::path::lookup;

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
    use serde_json::json;

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
