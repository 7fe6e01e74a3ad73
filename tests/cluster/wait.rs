//! Cluster tests of waiting: failures are explained with the pods' reasons. The test control
//! plane's kwok makes pods fail on purpose for images under `pull-backoff.invalid/` and
//! `crash-loop.invalid/` (xtask/testenv/kwok-stages.yaml).

use crate::support::cluster::*;

#[test]
#[ignore = "needs the control plane: cargo xtask test"]
fn image_pull_backoff_is_reported_after_the_timeout() {
    let ns = namespace("pull");
    let r = apply_unpullable(&ns, &["--timeout", "15s"]).expect(1);
    assert!(r.stderr.contains("timed out after 15s"), "{}", r.stderr);
    assert!(
        r.stderr
            .contains(&format!("Deployment/{ns}/{NAME}: in progress")),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("ImagePullBackOff"), "{}", r.stderr);
    assert!(r.stderr.contains(&format!("pod/{NAME}-")), "{}", r.stderr);
    assert!(
        r.stderr.contains(&format!("ConfigMap/{ns}/{NAME} ready")),
        "{}",
        r.stderr
    );
    // --wait=false returns at once, successfully.
    apply_unpullable(&ns, &["--wait=false"]).expect(0);
}

#[test]
#[ignore = "needs the control plane: cargo xtask test"]
fn crash_loop_is_reported() {
    let ns = namespace("crash");
    let r = runnerctl(&seed_args(
        "apply",
        &ns,
        &[
            "--set",
            "image.registry=crash-loop.invalid",
            "--yes",
            "--timeout",
            "15s",
        ],
    ))
    .expect(1);
    assert!(r.stderr.contains("CrashLoopBackOff"), "{}", r.stderr);
    assert!(r.stderr.contains("not ready"), "{}", r.stderr);
    // A fixed image makes the next apply converge.
    let r = runnerctl(&seed_args("apply", &ns, &["--yes", "--timeout", "2m"])).expect(0);
    assert!(
        r.stderr.contains(&format!("Deployment/{ns}/{NAME} ready")),
        "{}",
        r.stderr
    );
}
