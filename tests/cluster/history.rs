//! Cluster tests of revisions, rollback and reviewed plans, against the real control plane of
//! `cargo xtask test`: history after applies, rollback restoring the earlier objects,
//! rollback on a failed wait (kwok fails pods whose image is under `pull-backoff.invalid/`),
//! `--history-max`, uninstall removing the history, plans applied as written or refused after
//! a concurrent change, and no token in clear in any revision or plan.

use serde_json::Value;

use crate::support::cluster::*;

/// The release's revision Secrets, as kubectl shows them (raw: base64 of the gzip record).
fn revision_secrets(ns: &str) -> Vec<Value> {
    let list = get_json(&[
        "secret",
        "-n",
        ns,
        "-l",
        "runnerctl.io/release=gitlab-runner",
    ]);
    list["items"].as_array().unwrap().clone()
}

/// The names of the release's revision Secrets, sorted.
fn revision_names(ns: &str) -> Vec<String> {
    let mut names: Vec<String> = revision_secrets(ns)
        .iter()
        .map(|s| s["metadata"]["name"].as_str().unwrap().to_string())
        .collect();
    names.sort();
    names
}

/// `runnerctl history -n ns -o json`, parsed: the revisions.
fn history(ns: &str) -> Vec<Value> {
    let r = runnerctl(&["history", "-n", ns, "-o", "json"]).expect(0);
    let v: Value = serde_json::from_str(&r.stdout).unwrap();
    v["revisions"].as_array().unwrap().clone()
}

/// No revision Secret holds the token in clear (nor its base64).
fn assert_no_token_in_revisions(ns: &str) {
    for s in revision_secrets(ns) {
        let text = s.to_string();
        assert!(!text.contains(TOKEN) && !text.contains(TOKEN_B64), "{text}");
    }
}

/// What a rollback must restore: the Deployment's pod template and the runner config.
fn deployment_and_config(ns: &str) -> (Value, Value) {
    let dep = get_json(&["deployment", "-n", ns, NAME]);
    let cm = get_json(&["configmap", "-n", ns, NAME]);
    (dep["spec"]["template"].clone(), cm["data"].clone())
}

fn apply(ns: &str, extra: &[&str]) -> Run {
    let mut a = vec!["--yes", "--timeout", "2m"];
    a.extend_from_slice(extra);
    runnerctl(&seed_args("apply", ns, &a))
}

/// An apply of the seed with `concurrent` and a pod annotation `rev` (both change the
/// Deployment's pod template).
fn apply_revision(ns: &str, concurrent: u32, rev: &str) -> Run {
    let concurrent = format!("concurrent={concurrent}");
    let rev = format!("podAnnotations.rev={rev}");
    apply(ns, &["--set", &concurrent, "--set", &rev])
}

#[test]
#[ignore = "needs the control plane: cargo xtask test"]
fn history_after_three_applies_and_rollbacks_restore_earlier_revisions() {
    let ns = namespace("hist");
    let first = install_seed(&ns);
    assert!(
        first.stderr.contains("recorded revision 1"),
        "{}",
        first.stderr
    );
    let v1 = deployment_and_config(&ns);
    apply_revision(&ns, 20, "two").expect(0);
    apply_revision(&ns, 30, "three").expect(0);
    let v3 = deployment_and_config(&ns);
    assert_ne!(v1, v3);
    // A no-op apply records nothing.
    let noop = apply_revision(&ns, 30, "three").expect(0);
    assert!(
        !noop.stderr.contains("recorded revision"),
        "{}",
        noop.stderr
    );

    let revs = history(&ns);
    assert_eq!(revs.len(), 3, "{revs:?}");
    for (i, r) in revs.iter().enumerate() {
        assert_eq!(r["revision"], i as u64 + 1);
        assert_eq!(r["outcome"]["state"], "ready", "{r}");
        assert_eq!(r["operation"]["type"], "apply", "{r}");
        let who = r["appliedBy"].as_str().unwrap();
        assert!(!who.is_empty() && who != "unknown", "{r}");
        assert!(r["time"].as_str().unwrap().ends_with('Z'), "{r}");
    }
    assert_eq!(revs[0]["summary"]["add"], 7);
    let changed: Vec<&str> = revs[2]["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    assert_eq!(
        changed,
        [
            format!("update ConfigMap/{ns}/{NAME}"),
            format!("update Deployment/{ns}/{NAME}")
        ]
    );
    let table = runnerctl(&["history", "-n", &ns]).expect(0).stdout;
    assert!(table.starts_with("REVISION"), "{table}");
    assert!(
        table.contains(&format!("update Deployment/{ns}/{NAME}")),
        "{table}"
    );
    assert_eq!(table.lines().count(), 4, "{table}");

    // Roll back to revision 1: its Deployment pod template and config come back.
    let back = runnerctl(&["rollback", "-n", &ns, "1", "--yes", "--timeout", "2m"]).expect(0);
    assert!(
        back.stdout
            .contains("0 to add, 2 to change, 0 to delete, 5 unchanged"),
        "{}",
        back.stdout
    );
    assert!(
        back.stderr.contains("recorded revision 4"),
        "{}",
        back.stderr
    );
    assert_eq!(deployment_and_config(&ns), v1);
    let revs = history(&ns);
    assert_eq!(
        revs[3]["operation"],
        serde_json::json!({"type": "rollback", "to": 1})
    );
    // The default target is the revision before the latest: 3.
    runnerctl(&["rollback", "-n", &ns, "--yes", "--timeout", "2m"]).expect(0);
    assert_eq!(deployment_and_config(&ns), v3);
    assert_eq!(history(&ns).len(), 5);
    // A revision that does not exist: an error listing those that do.
    let r = runnerctl(&["rollback", "-n", &ns, "9", "--yes"]).expect(1);
    assert!(
        r.stderr
            .contains("revision 9 not found (revisions: 1, 2, 3, 4, 5)"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("hint: "), "{}", r.stderr);
    assert_no_token_in_revisions(&ns);
}

#[test]
#[ignore = "needs the control plane: cargo xtask test"]
fn rollback_on_failure_converges_to_the_last_good_revision() {
    let ns = namespace("rbfail");
    install_seed(&ns);
    let good = deployment_and_config(&ns);
    let r = apply_unpullable(&ns, &["--timeout", "15s", "--rollback-on-failure"]).expect(1);
    assert!(r.stderr.contains("ImagePullBackOff"), "{}", r.stderr);
    assert!(
        r.stderr.contains(
            "wait timed out after 15s: 1 object(s) not ready; rolled back to revision 1 (ready)"
        ),
        "{}",
        r.stderr
    );
    assert_eq!(deployment_and_config(&ns), good);
    let dep = get_json(&["deployment", "-n", &ns, NAME]);
    assert_eq!(dep["status"]["readyReplicas"], 1, "{dep}");
    let revs = history(&ns);
    assert_eq!(revs.len(), 3, "{revs:?}");
    assert_eq!(revs[1]["outcome"]["state"], "failed");
    assert!(
        revs[1]["outcome"]["message"]
            .as_str()
            .unwrap()
            .contains("timed out"),
        "{revs:?}"
    );
    assert_eq!(
        revs[2]["operation"],
        serde_json::json!({"type": "rollback", "to": 1})
    );
    assert_eq!(revs[2]["outcome"]["state"], "ready");
    // Without the wait there is nothing to roll back on: a usage error.
    let r = runnerctl(&seed_args(
        "apply",
        &ns,
        &["--rollback-on-failure", "--wait=false"],
    ))
    .expect(1);
    assert!(
        r.stderr.contains("--rollback-on-failure needs the wait"),
        "{}",
        r.stderr
    );
}

#[test]
#[ignore = "needs the control plane: cargo xtask test"]
fn history_max_prunes_old_revisions_and_uninstall_removes_them_all() {
    let ns = namespace("histmax");
    for n in 1..=4 {
        apply(
            &ns,
            &["--set", &format!("concurrent={n}"), "--history-max", "2"],
        )
        .expect(0);
    }
    assert_eq!(
        revision_names(&ns),
        [
            "runnerctl.revision.gitlab-runner.v3",
            "runnerctl.revision.gitlab-runner.v4"
        ]
    );
    let revs = history(&ns);
    assert_eq!(
        revs.iter()
            .map(|r| r["revision"].as_u64().unwrap())
            .collect::<Vec<_>>(),
        [3, 4]
    );
    // The record is a Secret of its own type, immutable, compressed: no token in clear.
    let s = &revision_secrets(&ns)[0];
    assert_eq!(s["type"], "runnerctl.io/revision.v1");
    assert_eq!(s["immutable"], true);
    assert_no_token_in_revisions(&ns);

    let r = runnerctl(&["uninstall", "-n", &ns]).expect(0);
    assert!(
        r.stderr.contains(&format!(
            "Secret/{ns}/runnerctl.revision.gitlab-runner.v4 deleted"
        )),
        "{}",
        r.stderr
    );
    assert!(revision_names(&ns).is_empty(), "{:?}", revision_names(&ns));
    let r = runnerctl(&["history", "-n", &ns]).expect(0);
    assert!(r.stderr.contains("has no revisions"), "{}", r.stderr);
    let r = runnerctl(&["rollback", "-n", &ns, "--yes"]).expect(1);
    assert!(
        r.stderr
            .contains("no earlier revision to roll back to (revisions: none)"),
        "{}",
        r.stderr
    );
}

/// A plan file path for a test (in the temp dir, named after its namespace).
fn plan_path(ns: &str, name: &str) -> String {
    std::env::temp_dir()
        .join(format!("{ns}-{name}.json"))
        .to_string_lossy()
        .into_owned()
}

fn read_plan(path: &str) -> (String, Value) {
    let text = std::fs::read_to_string(path).unwrap();
    let v = serde_json::from_str(&text).unwrap();
    (text, v)
}

#[test]
#[ignore = "needs the control plane: cargo xtask test"]
fn a_reviewed_plan_is_applied_as_written_and_holds_no_token() {
    let ns = namespace("plan");
    install_seed(&ns);
    let path = plan_path(&ns, "plan");
    let d = runnerctl(&seed_args(
        "diff",
        &ns,
        &["--set", "concurrent=20", "--out", &path, "--exit-code"],
    ))
    .expect(2);
    assert!(d.stderr.contains("secret values masked"), "{}", d.stderr);
    let (text, plan) = read_plan(&path);
    assert!(!text.contains(TOKEN) && !text.contains(TOKEN_B64), "{text}");
    assert_eq!(plan["format"], "runnerctl.io/plan.v1");
    assert_eq!(plan["secrets"], "masked");
    let objects = plan["objects"].as_array().unwrap();
    let of = |kind: &str| {
        objects
            .iter()
            .find(|o| o["object"]["kind"] == kind)
            .unwrap()
    };
    assert!(
        of("Secret")["sealed"]
            .as_str()
            .unwrap()
            .starts_with("sha256:")
    );
    assert_eq!(of("Secret")["action"], "unchanged");
    assert_eq!(of("ConfigMap")["action"], "update");
    let cm_rv = get_json(&["configmap", "-n", &ns, NAME])["metadata"]["resourceVersion"].clone();
    assert_eq!(of("ConfigMap")["liveResourceVersion"], cm_rv);
    assert_eq!(of("Deployment")["action"], "update");

    // Value flags do not go with a plan.
    let r = runnerctl(&["apply", "--plan", &path, "--set", "concurrent=3"]).expect(1);
    assert!(r.stderr.contains("cannot be used with"), "{}", r.stderr);
    // Nothing changed since: applied as written, without naming the release or namespace.
    let r = runnerctl(&["apply", "--plan", &path, "--yes", "--timeout", "2m"]).expect(0);
    assert!(
        r.stdout.contains(&format!("update ConfigMap/{ns}/{NAME}")),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .contains("0 to add, 2 to change, 0 to delete, 5 unchanged"),
        "{}",
        r.stdout
    );
    let cm = get_json(&["configmap", "-n", &ns, NAME]);
    assert!(
        cm["data"]["config.toml"]
            .as_str()
            .unwrap()
            .contains("concurrent = 20"),
        "{cm}"
    );
    runnerctl(&seed_args(
        "diff",
        &ns,
        &["--set", "concurrent=20", "--exit-code"],
    ))
    .expect(0);
    let revs = history(&ns);
    assert_eq!(revs[1]["operation"]["type"], "applyPlan");
    // Its revision holds the sealed Secret's content (from revision 1): it can be rolled
    // back to after a rollback to 1.
    runnerctl(&["rollback", "-n", &ns, "1", "--yes"]).expect(0);
    runnerctl(&["rollback", "-n", &ns, "2", "--yes"]).expect(0);
    runnerctl(&seed_args(
        "diff",
        &ns,
        &["--set", "concurrent=20", "--exit-code"],
    ))
    .expect(0);
    assert_no_token_in_revisions(&ns);

    // A plan that changes the token needs the secret values; written with them it says so
    // in its header, is private to its owner, and applies.
    let rotate = ["--set", "runnerToken=glrt-rotated-ZZZZ", "--out", &path];
    runnerctl(&seed_args("diff", &ns, &rotate)).expect(0);
    let (text, _) = read_plan(&path);
    assert!(!text.contains("glrt-rotated-ZZZZ"), "{text}");
    let r = runnerctl(&["apply", "--plan", &path, "--yes"]).expect(1);
    assert!(
        r.stderr.contains(&format!(
            "the plan holds no secret values, but it creates or changes objects that hold secrets: Secret/{ns}/{NAME}"
        )),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr
            .contains("hint: write the plan with --show-secrets"),
        "{}",
        r.stderr
    );
    let mut shown = rotate.to_vec();
    shown.push("--show-secrets");
    runnerctl(&seed_args("diff", &ns, &shown)).expect(0);
    let (text, plan) = read_plan(&path);
    assert_eq!(plan["secrets"], "included");
    assert!(text.contains("glrt-rotated-ZZZZ"));
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&path).unwrap().permissions().mode();
    assert_eq!(mode & 0o077, 0, "{mode:o}");
    runnerctl(&["apply", "--plan", &path, "--yes", "--timeout", "2m"]).expect(0);
    let secret = get_json(&["secret", "-n", &ns, NAME]);
    assert_eq!(secret["data"]["runner-token"], "Z2xydC1yb3RhdGVkLVpaWlo=");
    let _ = std::fs::remove_file(&path);
}

#[test]
#[ignore = "needs the control plane: cargo xtask test"]
fn a_plan_is_refused_after_a_concurrent_change_and_nothing_is_written() {
    let ns = namespace("planrace");
    install_seed(&ns);
    let path = plan_path(&ns, "plan");
    runnerctl(&seed_args(
        "diff",
        &ns,
        &["--set", "concurrent=20", "--out", &path],
    ))
    .expect(0);
    // Someone changes the ConfigMap after the review.
    kubectl(
        &[
            "annotate",
            "configmap",
            "-n",
            &ns,
            NAME,
            "reviewed-by=someone-else",
        ],
        None,
    )
    .expect(0);
    let before = resource_versions(&ns);
    let r = runnerctl(&["apply", "--plan", &path, "--yes"]).expect(1);
    assert!(
        r.stderr
            .contains("the live state changed since the plan was made; nothing was written"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains(&format!(
            "ConfigMap/{ns}/{NAME}: changed since (resourceVersion"
        )),
        "{}",
        r.stderr
    );
    assert!(
        !r.stderr
            .contains(&format!("Deployment/{ns}/{NAME}: changed")),
        "only what moved is named: {}",
        r.stderr
    );
    assert!(r.stderr.contains("hint: write a new plan"), "{}", r.stderr);
    assert_eq!(
        resource_versions(&ns),
        before,
        "a refused plan writes nothing"
    );
    assert_eq!(history(&ns).len(), 1);
    // The release and namespace come from the plan; naming others is an error.
    let r = runnerctl(&["apply", "--plan", &path, "-n", "elsewhere", "--yes"]).expect(1);
    assert!(
        r.stderr
            .contains(&format!("is for release gitlab-runner in namespace {ns}")),
        "{}",
        r.stderr
    );
    let _ = std::fs::remove_file(&path);
}
