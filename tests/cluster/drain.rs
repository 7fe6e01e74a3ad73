//! Cluster tests of a runner's life with CI jobs running: status shows the runner pods and
//! their job pods, diff says a restart drains them, uninstall deletes the Deployment first and
//! keeps RBAC and the token until the runner has drained, --create-namespace creates the job
//! namespace too.
//!
//! Job pods are made as GitLab Runner's Kubernetes executor makes them (its labels, from
//! `executors/kubernetes/kubernetes.go` buildLabels). A runner pod that drains is one whose
//! `test.runnerctl.io/drain-for` annotation makes the test control plane's kwok stage
//! (`xtask/testenv/kwok-stages.yaml`, `pod-drain`) keep it Terminating that long.
use std::time::Duration;

use serde_json::json;

use crate::support::cluster::*;

const NAME: &str = "gitlab-runner";
/// The short token of the seed's `glrt-test-XXXX` (`helpers/shorten_token.go`).
const ID_SHORT: &str = "test-XXXX";

/// A job pod in `ns` as the runner creates one, by runner `id_short`.
fn job_pod(ns: &str, name: &str, id_short: &str) {
    let pod = json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": ns,
            "labels": {
                "manager.runner.gitlab.com/name": "k8s-job-pods",
                "manager.runner.gitlab.com/id-short": id_short,
                "project.runner.gitlab.com/id": "42",
                "job.runner.gitlab.com/pod": "runner-test-project-42-concurrent-0",
            },
        },
        "spec": {"containers": [{"name": "build", "image": "alpine"}]},
    });
    kubectl(&["apply", "-f", "-"], Some(&pod.to_string())).expect(0);
}

/// Delete a job pod, as its runner does when the job ends.
fn finish_job(ns: &str, name: &str) {
    kubectl(&["delete", "pod", "-n", ns, name, "--wait=false"], None).expect(0);
}

fn status_json(ns: &str) -> serde_json::Value {
    let r = runnerctl(&["status", "-n", ns, "-o", "json"]).expect(0);
    serde_json::from_str(&r.stdout).unwrap()
}

/// Whether an object exists.
fn exists(ns: &str, what: &str) -> bool {
    kubectl(&["get", "-n", ns, what], None).code == 0
}

/// Install the seed with runner pods that take `drain` to stop.
fn install_draining(ns: &str, drain: &str) {
    let set = format!("podAnnotations.test\\.runnerctl\\.io/drain-for={drain}");
    apply_seed_set_string(ns, &set);
}

/// Install the seed with one more `--set-string` expression.
fn apply_seed_set_string(ns: &str, set: &str) {
    runnerctl(&seed_args(
        "apply",
        ns,
        &["--yes", "--timeout", "2m", "--set-string", set],
    ))
    .expect(0);
}

#[test]
#[ignore = "needs the control plane: cargo xtask test"]
fn status_shows_the_runner_pods_and_the_jobs_on_them() {
    let ns = namespace("drstatus");
    install_seed(&ns);
    job_pod(&ns, "job-a", ID_SHORT);
    job_pod(&ns, "job-b", ID_SHORT);
    // Another runner's job in the same namespace is not this release's.
    job_pod(&ns, "other-runner-job", "otherrunn");

    let status = status_json(&ns);
    let runner = &status["runner"];
    let pods = runner["pods"].as_array().unwrap();
    assert_eq!(pods.len(), 1, "{runner:#}");
    assert_eq!(pods[0]["draining"], json!(false), "{runner:#}");
    let mut jobs: Vec<&str> = pods[0]["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["name"].as_str().unwrap())
        .collect();
    jobs.sort_unstable();
    assert_eq!(jobs, ["job-a", "job-b"], "{runner:#}");
    assert_eq!(runner["jobNamespaces"], json!([ns.as_str()]));
    assert_eq!(runner["graceSeconds"], json!(3600));

    let text = runnerctl(&["status", "-n", &ns]).expect(0).stdout;
    assert!(
        text.contains("Runner: 1 runner pod, 2 jobs running (oldest"),
        "{text}"
    );
    assert!(text.contains(&format!("Pod/{ns}/job-a (")), "{text}");
    assert!(!text.contains("other-runner-job"), "{text}");
}

#[test]
#[ignore = "needs the control plane: cargo xtask test"]
fn diff_says_the_runner_restarts_and_how_many_jobs_drain() {
    let ns = namespace("drdiff");
    install_seed(&ns);
    for j in ["job-1", "job-2", "job-3"] {
        job_pod(&ns, j, ID_SHORT);
    }
    // concurrent is in the ConfigMap, whose checksum is in the pod template.
    let r = runnerctl(&seed_args("diff", &ns, &["--set", "concurrent=7"])).expect(0);
    assert!(
        r.stdout.contains(&format!(
            "Deployment/{ns}/{NAME}: the pod template changes, so the runner restarts; \
             3 jobs running on it drain for up to 1h00m"
        )),
        "{}",
        r.stdout
    );
    // A change that does not touch the pod template says nothing of a restart.
    let r = runnerctl(&seed_args(
        "diff",
        &ns,
        &["--set-string", "serviceAccount.annotations.team=a"],
    ))
    .expect(0);
    assert!(!r.stdout.contains("restarts"), "{}", r.stdout);
}

#[test]
#[ignore = "needs the control plane: cargo xtask test"]
fn uninstall_waits_until_the_runner_drained_before_rbac_and_token_go() {
    let ns = namespace("drain");
    install_draining(&ns, "6s");
    job_pod(&ns, "job-running", ID_SHORT);
    let finisher = {
        let ns = ns.to_string();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_secs(3));
            finish_job(&ns, "job-running");
        })
    };
    let r = runnerctl(&["uninstall", "-n", &ns, "--timeout", "90s"]).expect(0);
    finisher.join().unwrap();
    let lines: Vec<&str> = r.stderr.lines().collect();
    let at = |needle: &str| {
        lines
            .iter()
            .position(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("no line with {needle:?} in:\n{}", r.stderr))
    };
    let deployment = at(&format!("Deployment/{ns}/{NAME} deleted"));
    let draining = at("waiting for the runner to drain: 1 runner pod (1 draining)");
    let role = at(&format!("Role/{ns}/{NAME} deleted"));
    let secret = at(&format!("Secret/{ns}/{NAME} deleted"));
    assert!(
        deployment < draining && draining < role && draining < secret,
        "{}",
        r.stderr
    );
    assert!(!exists(&ns, &format!("role/{NAME}")));
}

#[test]
#[ignore = "needs the control plane: cargo xtask test"]
fn uninstall_that_times_out_with_jobs_running_keeps_rbac_and_the_token() {
    let ns = namespace("drkeep");
    install_draining(&ns, "10m");
    job_pod(&ns, "job-long", ID_SHORT);
    let r = runnerctl(&["uninstall", "-n", &ns, "--timeout", "5s"]).expect(1);
    assert!(r.stderr.contains("while the runner drains"), "{}", r.stderr);
    assert!(
        r.stderr.contains(&format!("job Pod/{ns}/job-long (")),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains(&format!("Role/{ns}/{NAME}")),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("--no-drain"), "{}", r.stderr);
    for kept in [
        "role",
        "rolebinding",
        "secret",
        "configmap",
        "serviceaccount",
    ] {
        assert!(exists(&ns, &format!("{kept}/{NAME}")), "{kept} was deleted");
    }
    // Status still works and shows the pod draining with its job.
    let status = status_json(&ns);
    let pod = &status["runner"]["pods"][0];
    assert_eq!(pod["draining"], json!(true), "{status:#}");
    assert_eq!(pod["jobs"][0]["name"], json!("job-long"), "{status:#}");
    assert!(pod["graceLeftSeconds"].as_u64().unwrap() > 0, "{status:#}");

    // Run again: still draining, still kept.
    runnerctl(&["uninstall", "-n", &ns, "--timeout", "3s"]).expect(1);
    assert!(exists(&ns, &format!("role/{NAME}")));

    // --no-drain deletes the rest at once.
    runnerctl(&["uninstall", "-n", &ns, "--no-drain", "--wait=false"]).expect(0);
    for gone in [
        "role",
        "rolebinding",
        "secret",
        "configmap",
        "serviceaccount",
    ] {
        assert!(!exists(&ns, &format!("{gone}/{NAME}")), "{gone} was kept");
    }
}

#[test]
#[ignore = "needs the control plane: cargo xtask test"]
fn create_namespace_creates_the_job_namespace_and_delete_namespace_deletes_what_it_created() {
    let ns = namespace("drns");
    let jobs = format!("{ns}-jobs");
    let _jobs_cleanup = TestNamespace(jobs.clone());
    let config = format!(
        "runners.config=[[runners]]\n  [runners.kubernetes]\n    namespace = \"{jobs}\"\n    privileged = true\n"
    );
    apply_seed_set_string(&ns, &config);
    let job_ns = get_json(&["namespace", &jobs]);
    assert_eq!(
        job_ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"],
        json!("privileged"),
        "{job_ns:#}"
    );
    // The Role follows the jobs.
    assert!(exists(&jobs, &format!("role/{NAME}")));

    runnerctl(&["uninstall", "-n", &ns, "--delete-namespace"]).expect(0);
    kubectl(&["get", "namespace", &jobs], None).expect(1);
    kubectl(&["get", "namespace", &ns], None).expect(1);

    // A job namespace that existed before is neither labelled nor deleted.
    let ns = namespace("drns2");
    let jobs = format!("{ns}-jobs");
    let _jobs_cleanup = TestNamespace(jobs.clone());
    kubectl(&["create", "namespace", &jobs], None).expect(0);
    let config =
        format!("runners.config=[[runners]]\n  [runners.kubernetes]\n    namespace = \"{jobs}\"\n");
    apply_seed_set_string(&ns, &config);
    let job_ns = get_json(&["namespace", &jobs]);
    assert!(
        job_ns["metadata"]["labels"]
            .get("pod-security.kubernetes.io/enforce")
            .is_none(),
        "{job_ns:#}"
    );
    runnerctl(&["uninstall", "-n", &ns, "--delete-namespace"]).expect(0);
    kubectl(&["get", "namespace", &jobs], None).expect(0);
}

#[test]
#[ignore = "needs the control plane: cargo xtask test"]
fn the_disruption_budget_is_applied_selecting_the_runner_pods_and_uninstalled() {
    let ns = namespace("drpdb");
    runnerctl(&seed_args(
        "apply",
        &ns,
        &[
            "--yes",
            "--timeout",
            "2m",
            "--set",
            "replicas=2",
            "--set",
            "runnerctl.podDisruptionBudget.enabled=true",
        ],
    ))
    .expect(0);
    let pdb = get_json(&["-n", &ns, "poddisruptionbudget", NAME]);
    assert_eq!(pdb["spec"]["maxUnavailable"], json!(1), "{pdb:#}");
    let deployment = get_json(&["-n", &ns, "deployment", NAME]);
    assert_eq!(
        pdb["spec"]["selector"]["matchLabels"],
        deployment["spec"]["selector"]["matchLabels"]
    );
    // The disruption controller counts the runner pods the budget selects.
    let mut expected = 0;
    for _ in 0..60 {
        let pdb = get_json(&["-n", &ns, "poddisruptionbudget", NAME]);
        expected = pdb["status"]["expectedPods"].as_i64().unwrap_or(0);
        if expected == 2 {
            break;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    assert_eq!(expected, 2);
    runnerctl(&["uninstall", "-n", &ns]).expect(0);
    assert!(!exists(&ns, &format!("poddisruptionbudget/{NAME}")));
}
