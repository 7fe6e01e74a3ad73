//! The test control plane does what the README promises: Deployments become Available,
//! images under `pull-backoff.invalid/` and `crash-loop.invalid/` fail as documented, and
//! user `limited` may edit namespace `limited` only. Driven with kubectl, as a person would.

use std::time::{Duration, Instant};

#[path = "../../tests/support/kubectl.rs"]
mod kubectl;

fn admin() -> String {
    std::env::var("KUBECONFIG")
        .expect("cluster tests need KUBECONFIG: run them with `cargo xtask test`")
}

/// Run kubectl as admin; panics with its stderr unless it succeeds; its stdout.
fn kubectl_ok(args: &[&str]) -> String {
    let out = kubectl::run(&admin(), args, None);
    assert!(
        out.status.success(),
        "kubectl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn deployment(ns: &str, name: &str, image: &str) -> String {
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: {name}, namespace: {ns}}}\n\
         spec:\n  replicas: 2\n  selector: {{matchLabels: {{app: {name}}}}}\n\
         \x20 template:\n    metadata: {{labels: {{app: {name}}}}}\n\
         \x20   spec: {{containers: [{{name: main, image: {image}}}, {{name: side, image: busybox:1}}]}}\n---\n"
    )
}

/// Polls until `f` returns Some, or panics after `timeout` with the last value seen.
fn eventually<T>(timeout: Duration, mut f: impl FnMut() -> Result<T, String>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        match f() {
            Ok(v) => return v,
            Err(last) if Instant::now() > deadline => panic!("timed out; last seen: {last}"),
            Err(_) => std::thread::sleep(Duration::from_millis(250)),
        }
    }
}

#[test]
#[ignore = "needs the control plane: cargo xtask test"]
fn deployments_become_available_and_marked_images_fail_as_documented() {
    let ns = format!("testenv-smoke-{}", std::process::id());
    kubectl_ok(&["create", "namespace", &ns]);
    let manifests = deployment(&ns, "ok", "nginx:1")
        + &deployment(&ns, "pull", "pull-backoff.invalid/runner:1")
        + &deployment(&ns, "crash", "crash-loop.invalid/runner:1");
    let out = kubectl::run(&admin(), &["apply", "-f", "-"], Some(&manifests));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    kubectl_ok(&[
        "wait",
        "-n",
        &ns,
        "--for=condition=Available",
        "deployment/ok",
        "--timeout=60s",
    ]);
    let phases = kubectl_ok(&[
        "get",
        "pods",
        "-n",
        &ns,
        "-l",
        "app=ok",
        "-o",
        "jsonpath={.items[*].status.phase}",
    ]);
    assert_eq!(phases, "Running Running");

    // The failing container waits with the documented reason; its healthy sidecar runs.
    for (app, reason, phase) in [
        ("pull", "ImagePullBackOff", "Pending"),
        ("crash", "CrashLoopBackOff", "Running"),
    ] {
        let seen = eventually(Duration::from_secs(60), || {
            let jsonpath = "jsonpath={range .items[*]}{.status.phase} {.status.containerStatuses[?(@.name==\"main\")].state.waiting.reason} {.status.containerStatuses[?(@.name==\"side\")].ready}{\"\\n\"}{end}";
            let lines = kubectl_ok(&[
                "get",
                "pods",
                "-n",
                &ns,
                "-l",
                &format!("app={app}"),
                "-o",
                jsonpath,
            ]);
            let want = format!("{phase} {reason} true");
            let lines: Vec<&str> = lines.lines().collect();
            if lines.len() == 2 && lines.iter().all(|l| *l == want) {
                Ok(lines.len())
            } else {
                Err(format!("{lines:?}"))
            }
        });
        assert_eq!(seen, 2);
        let available = kubectl_ok(&[
            "get",
            "deployment",
            app,
            "-n",
            &ns,
            "-o",
            "jsonpath={.status.availableReplicas}",
        ]);
        assert!(
            available.is_empty() || available == "0",
            "{app}: {available}"
        );
    }
    let restarts = kubectl_ok(&[
        "get",
        "pods",
        "-n",
        &ns,
        "-l",
        "app=crash",
        "-o",
        "jsonpath={.items[0].status.containerStatuses[?(@.name==\"main\")].restartCount}",
    ]);
    assert_eq!(restarts, "5");

    // Namespace finalisation: kwok deletes the pods, the namespace goes away.
    kubectl_ok(&["delete", "namespace", &ns, "--timeout=90s"]);
}

#[test]
#[ignore = "needs the control plane: cargo xtask test"]
fn the_limited_identity_may_edit_its_namespace_only() {
    let limited = std::env::var("RUNNERCTL_TEST_LIMITED_KUBECONFIG").expect(
        "cluster tests need RUNNERCTL_TEST_LIMITED_KUBECONFIG: run them with `cargo xtask test`",
    );
    let can = |args: &[&str]| {
        kubectl::run(&limited, &[&["auth", "can-i"][..], args].concat(), None)
            .status
            .success()
    };
    assert!(can(&["create", "deployments.apps", "-n", "limited"]));
    assert!(can(&["delete", "secrets", "-n", "limited"]));
    assert!(!can(&["create", "deployments.apps", "-n", "default"]));
    assert!(!can(&["list", "nodes"]));
    assert!(!can(&["create", "namespaces"]));
    assert!(!can(&["create", "rolebindings", "-n", "limited"]));
    // Its kubeconfig defaults to namespace `limited`.
    let out = kubectl::run(
        &limited,
        &[
            "get",
            "serviceaccount",
            "default",
            "-o",
            "jsonpath={.metadata.namespace}",
        ],
        None,
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "limited",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
