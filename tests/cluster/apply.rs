//! Cluster tests of install, no-op re-apply, a values change, prune, status and uninstall,
//! against the real control plane of `cargo xtask test`.

use crate::support::cluster::*;

#[test]
#[ignore = "needs the control plane: cargo xtask test"]
fn install_then_reapply_makes_no_writes() {
    let ns = namespace("noop");
    let first = install_seed(&ns);
    for obj in [
        "Namespace/",
        "ServiceAccount/",
        "Secret/",
        "ConfigMap/",
        "Role/",
        "RoleBinding/",
        "Deployment/",
    ] {
        assert!(
            first.stderr.contains(obj),
            "{obj} in progress output:\n{}",
            first.stderr
        );
    }
    assert!(
        first
            .stderr
            .contains(&format!("Deployment/{ns}/{NAME} ready")),
        "{}",
        first.stderr
    );
    // The ApplySet parent follows KEP-3659.
    let parent = get_json(&["secret", "-n", &ns, "gitlab-runner-applyset"]);
    let id = parent["metadata"]["labels"]["applyset.kubernetes.io/id"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(id.starts_with("applyset-") && id.ends_with("-v1"), "{id}");
    assert!(
        parent["metadata"]["annotations"]["applyset.kubernetes.io/tooling"]
            .as_str()
            .unwrap()
            .starts_with("runnerctl/")
    );
    assert_eq!(
        parent["metadata"]["annotations"]["applyset.kubernetes.io/contains-group-kinds"],
        "ConfigMap,Deployment.apps,Namespace,Role.rbac.authorization.k8s.io,RoleBinding.rbac.authorization.k8s.io,Secret,ServiceAccount"
    );
    let dep = get_json(&["deployment", "-n", &ns, NAME]);
    assert_eq!(
        dep["metadata"]["labels"]["applyset.kubernetes.io/part-of"],
        id.as_str()
    );

    let before = resource_versions(&ns);
    let parent_rv = parent["metadata"]["resourceVersion"].clone();
    let again = runnerctl(&seed_args("apply", &ns, &["--yes", "--stats"])).expect(0);
    assert!(
        again
            .stdout
            .contains("0 to add, 0 to change, 0 to delete, 7 unchanged"),
        "{}",
        again.stdout
    );
    assert!(
        !again.stdout.contains("@@"),
        "no diff expected:\n{}",
        again.stdout
    );
    assert!(again.stderr.contains("no changes"), "{}", again.stderr);
    assert_eq!(
        resource_versions(&ns),
        before,
        "a no-op apply must not write"
    );
    let parent = get_json(&["secret", "-n", &ns, "gitlab-runner-applyset"]);
    assert_eq!(
        parent["metadata"]["resourceVersion"], parent_rv,
        "nor rewrite the ApplySet parent"
    );

    runnerctl(&seed_args("diff", &ns, &["--exit-code"])).expect(0);

    let status = runnerctl(&["status", "-n", &ns, "-o", "json"]).expect(0);
    let v: serde_json::Value = serde_json::from_str(&status.stdout).unwrap();
    let objs = v["objects"].as_array().unwrap();
    assert_eq!(objs.len(), 7, "{}", status.stdout);
    assert!(
        objs.iter().all(|o| o["readiness"]["state"] == "Ready"),
        "{}",
        status.stdout
    );
    assert_eq!(objs[0]["object"]["kind"], "Namespace");
    let text = runnerctl(&["status", "-n", &ns]).expect(0);
    assert!(
        text.stdout
            .lines()
            .any(|l| l.starts_with(&format!("Deployment/{ns}/{NAME} ")) && l.ends_with(" ready")),
        "{}",
        text.stdout
    );
}

#[test]
#[ignore = "needs the control plane: cargo xtask test"]
fn values_change_gives_the_expected_diff_and_rolls_the_deployment() {
    let ns = namespace("change");
    install_seed(&ns);
    let gen_before = get_json(&["deployment", "-n", &ns, NAME])["metadata"]["generation"]
        .as_i64()
        .unwrap();

    let diff = runnerctl(&seed_args(
        "diff",
        &ns,
        &["--set", "concurrent=20", "--exit-code"],
    ))
    .expect(2);
    assert!(
        diff.stdout
            .contains("0 to add, 2 to change, 0 to delete, 5 unchanged"),
        "{}",
        diff.stdout
    );
    assert!(
        diff.stdout
            .contains(&format!("--- ConfigMap/{ns}/{NAME} (live)")),
        "{}",
        diff.stdout
    );
    assert!(
        diff.stdout
            .contains(&format!("--- Deployment/{ns}/{NAME} (live)")),
        "{}",
        diff.stdout
    );
    assert!(
        diff.stdout.contains("-    concurrent = 10"),
        "{}",
        diff.stdout
    );
    assert!(
        diff.stdout.contains("+    concurrent = 20"),
        "{}",
        diff.stdout
    );
    assert!(
        diff.stdout.contains("checksum/configmap"),
        "{}",
        diff.stdout
    );
    assert!(!diff.stdout.contains('\x1b'), "no color off a terminal");
    // Nothing but the config and its checksum changes: every +/- line is about them.
    let changed: Vec<&str> = diff
        .stdout
        .lines()
        .filter(|l| {
            (l.starts_with('+') || l.starts_with('-'))
                && !l.starts_with("+++")
                && !l.starts_with("---")
        })
        .collect();
    assert_eq!(changed.len(), 4, "{changed:#?}");
    // A token change shows which keys change, never the values.
    let token = runnerctl(&seed_args(
        "diff",
        &ns,
        &["--set", "runnerToken=glrt-other-YYYY", "--exit-code"],
    ))
    .expect(2);
    assert!(
        token.stdout.contains("-  runner-token: \"*** (before)\""),
        "{}",
        token.stdout
    );
    assert!(
        token.stdout.contains("+  runner-token: \"*** (after)\""),
        "{}",
        token.stdout
    );
    assert!(
        !token.stdout.contains("glrt-other-YYYY") && !token.stdout.contains("Z2xydC1vdGhlci1ZWVlZ"),
        "{}",
        token.stdout
    );
    assert!(
        token.stdout.contains("checksum/secrets"),
        "the pods roll on a token change: {}",
        token.stdout
    );
    // Neither the diff nor apply --dry-run wrote anything.
    let dry = runnerctl(&seed_args(
        "apply",
        &ns,
        &["--set", "concurrent=20", "--dry-run"],
    ))
    .expect(0);
    assert!(
        dry.stdout
            .contains("0 to add, 2 to change, 0 to delete, 5 unchanged"),
        "{}",
        dry.stdout
    );
    assert!(!dry.stderr.contains("configured"), "{}", dry.stderr);
    runnerctl(&seed_args(
        "diff",
        &ns,
        &["--set", "concurrent=20", "--exit-code"],
    ))
    .expect(2);

    let apply = runnerctl(&seed_args(
        "apply",
        &ns,
        &["--set", "concurrent=20", "--yes", "--timeout", "2m"],
    ))
    .expect(0);
    assert!(
        apply
            .stderr
            .contains(&format!("ConfigMap/{ns}/{NAME} configured")),
        "{}",
        apply.stderr
    );
    assert!(
        apply
            .stderr
            .contains(&format!("Deployment/{ns}/{NAME} configured")),
        "{}",
        apply.stderr
    );
    assert!(
        apply
            .stderr
            .contains(&format!("Deployment/{ns}/{NAME} ready")),
        "{}",
        apply.stderr
    );
    let dep = get_json(&["deployment", "-n", &ns, NAME]);
    assert_eq!(
        dep["metadata"]["generation"].as_i64().unwrap(),
        gen_before + 1,
        "the pod template changed"
    );
    assert_eq!(dep["status"]["updatedReplicas"], 1);
    let cm = get_json(&["configmap", "-n", &ns, NAME]);
    assert!(
        cm["data"]["config.toml"]
            .as_str()
            .unwrap()
            .contains("concurrent = 20")
    );
    runnerctl(&seed_args(
        "diff",
        &ns,
        &["--set", "concurrent=20", "--exit-code"],
    ))
    .expect(0);
}

#[test]
#[ignore = "needs the control plane: cargo xtask test"]
fn turning_rbac_off_prunes_role_and_binding_only() {
    let ns = namespace("prune");
    install_seed(&ns);
    // An unlabelled Role of someone else in the same namespace is never touched.
    kubectl(
        &[
            "create",
            "role",
            "not-ours",
            "-n",
            &ns,
            "--verb=get",
            "--resource=pods",
        ],
        None,
    )
    .expect(0);

    let diff = runnerctl(&seed_args("diff", &ns, &["--set", "rbac.create=false"])).expect(0);
    assert!(
        diff.stdout
            .contains("0 to add, 0 to change, 2 to delete, 5 unchanged"),
        "{}",
        diff.stdout
    );
    assert!(
        diff.stdout
            .contains(&format!("--- Role/{ns}/{NAME} (live)")),
        "{}",
        diff.stdout
    );

    let r = runnerctl(&seed_args(
        "apply",
        &ns,
        &["--set", "rbac.create=false", "--yes"],
    ))
    .expect(0);
    assert!(
        r.stderr
            .contains(&format!("RoleBinding/{ns}/{NAME} pruned")),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains(&format!("Role/{ns}/{NAME} pruned")),
        "{}",
        r.stderr
    );
    kubectl(&["get", "role", "-n", &ns, NAME], None).expect(1);
    kubectl(&["get", "rolebinding", "-n", &ns, NAME], None).expect(1);
    kubectl(&["get", "role", "-n", &ns, "not-ours"], None).expect(0);
    kubectl(&["get", "serviceaccount", "-n", &ns, NAME], None).expect(0);
    let parent = get_json(&["secret", "-n", &ns, "gitlab-runner-applyset"]);
    assert_eq!(
        parent["metadata"]["annotations"]["applyset.kubernetes.io/contains-group-kinds"],
        "ConfigMap,Deployment.apps,Namespace,Secret,ServiceAccount"
    );
    // And back.
    let r = runnerctl(&seed_args("apply", &ns, &["--yes"])).expect(0);
    assert!(
        r.stdout
            .contains("2 to add, 0 to change, 0 to delete, 5 unchanged"),
        "{}",
        r.stdout
    );
}

#[test]
#[ignore = "needs the control plane: cargo xtask test"]
fn uninstall_leaves_nothing_behind() {
    let ns = namespace("uninst");
    install_seed(&ns);
    let r = runnerctl(&["uninstall", "-n", &ns]).expect(0);
    assert!(
        r.stderr
            .contains(&format!("Deployment/{ns}/{NAME} deleted")),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains(&format!("Namespace/{ns} skipped")),
        "{}",
        r.stderr
    );
    let left = get_json(&[
        "-n",
        &ns,
        "all,configmap,secret,serviceaccount,role,rolebinding",
    ]);
    let names: Vec<String> = left["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            format!(
                "{}/{}",
                i["kind"].as_str().unwrap(),
                i["metadata"]["name"].as_str().unwrap()
            )
        })
        .filter(|n| n != "ConfigMap/kube-root-ca.crt" && n != "ServiceAccount/default")
        .collect();
    assert!(names.is_empty(), "left behind: {names:?}");
    kubectl(&["get", "namespace", &ns], None).expect(0);
    // Not installed any more.
    let r = runnerctl(&["status", "-n", &ns]).expect(1);
    assert!(r.stderr.contains("not installed"), "{}", r.stderr);

    // With --delete-namespace, the namespace runnerctl created goes too. (The kept Namespace
    // still carries the member label, so the reinstall finds it unchanged.)
    let r = runnerctl(&seed_args("apply", &ns, &["--yes"])).expect(0);
    assert!(
        r.stdout
            .contains("6 to add, 0 to change, 0 to delete, 1 unchanged"),
        "{}",
        r.stdout
    );
    runnerctl(&["uninstall", "-n", &ns, "--delete-namespace"]).expect(0);
    kubectl(&["get", "namespace", &ns], None).expect(1);
}

#[test]
#[ignore = "needs the control plane: cargo xtask test"]
fn delete_namespace_keeps_a_namespace_runnerctl_did_not_create() {
    let ns = namespace("keepns");
    kubectl(&["create", "namespace", &ns], None).expect(0);
    let mut args = vec!["apply", "-n", ns.as_str()];
    args.extend_from_slice(SEED);
    args.push("--yes");
    runnerctl(&args).expect(0);
    let r = runnerctl(&["uninstall", "-n", &ns, "--delete-namespace"]).expect(0);
    assert!(
        r.stderr.contains("not created by runnerctl"),
        "{}",
        r.stderr
    );
    kubectl(&["get", "namespace", &ns], None).expect(0);
}

#[test]
#[ignore = "needs the control plane: cargo xtask test"]
fn members_in_another_namespace_are_tracked_and_pruned() {
    let ns = namespace("multi");
    let jobs = namespace("jobs");
    kubectl(&["create", "namespace", &jobs], None).expect(0);
    let job_ns = format!("runners.jobNamespace={jobs}");
    runnerctl(&seed_args("apply", &ns, &["--set", &job_ns, "--yes"])).expect(0);
    let parent = get_json(&["secret", "-n", &ns, "gitlab-runner-applyset"]);
    assert_eq!(
        parent["metadata"]["annotations"]["applyset.kubernetes.io/additional-namespaces"],
        jobs.as_str()
    );
    let role = get_json(&["role", "-n", &jobs, NAME]);
    assert_eq!(
        role["metadata"]["labels"]["applyset.kubernetes.io/part-of"],
        parent["metadata"]["labels"]["applyset.kubernetes.io/id"]
    );

    let r = runnerctl(&seed_args(
        "apply",
        &ns,
        &["--set", &job_ns, "--set", "rbac.create=false", "--yes"],
    ))
    .expect(0);
    assert!(
        r.stderr.contains(&format!("Role/{jobs}/{NAME} pruned")),
        "{}",
        r.stderr
    );
    kubectl(&["get", "role", "-n", &jobs, NAME], None).expect(1);
    let parent = get_json(&["secret", "-n", &ns, "gitlab-runner-applyset"]);
    assert!(
        parent["metadata"]["annotations"]
            .get("applyset.kubernetes.io/additional-namespaces")
            .is_none(),
        "{}",
        parent["metadata"]
    );
}

#[test]
#[ignore = "needs the control plane: cargo xtask test"]
fn dropping_create_namespace_never_deletes_the_namespace() {
    let ns = namespace("dropns");
    install_seed(&ns);
    let mut args = vec!["apply", "-n", ns.as_str()];
    args.extend_from_slice(SEED);
    args.push("--yes");
    let r = runnerctl(&args).expect(0);
    assert!(
        r.stdout
            .contains("0 to add, 0 to change, 0 to delete, 6 unchanged"),
        "{}",
        r.stdout
    );
    kubectl(&["get", "namespace", &ns], None).expect(0);
    let mut diff = args.clone();
    diff[0] = "diff";
    diff.pop();
    diff.push("--exit-code");
    runnerctl(&diff).expect(0);
    // It stays a member: uninstall --delete-namespace still removes the namespace runnerctl made.
    runnerctl(&["uninstall", "-n", &ns, "--delete-namespace"]).expect(0);
    kubectl(&["get", "namespace", &ns], None).expect(1);
}

#[test]
#[ignore = "needs the control plane: cargo xtask test"]
fn a_namespace_made_beforehand_survives_create_namespace_and_delete_namespace() {
    let ns = namespace("before");
    create_namespace_enforcing(&ns, "baseline");
    kubectl(
        &[
            "create",
            "configmap",
            "theirs",
            "-n",
            &ns,
            "--from-literal=a=b",
        ],
        None,
    )
    .expect(0);
    let r = runnerctl(&seed_args("apply", &ns, &["--yes", "--wait=false"])).expect(0);
    assert!(
        r.stdout
            .contains("6 to add, 0 to change, 0 to delete, 1 unchanged"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains(&format!(
            "Namespace/{ns}: existed before runnerctl: left alone"
        )),
        "{}",
        r.stdout
    );
    assert!(
        r.stderr.contains(&format!(
            "kubectl label namespace {ns} pod-security.kubernetes.io/enforce=privileged --overwrite"
        )),
        "the PSA fix is printed: {}",
        r.stderr
    );
    let labels = get_json(&["namespace", &ns])["metadata"]["labels"].clone();
    assert_eq!(
        labels["pod-security.kubernetes.io/enforce"], "baseline",
        "{labels}"
    );
    assert!(
        labels.get("applyset.kubernetes.io/part-of").is_none(),
        "never relabelled: {labels}"
    );
    let r = runnerctl(&["uninstall", "-n", &ns, "--delete-namespace"]).expect(0);
    assert!(
        r.stderr.contains("not created by runnerctl"),
        "{}",
        r.stderr
    );
    kubectl(&["get", "namespace", &ns], None).expect(0);
    kubectl(&["get", "configmap", "theirs", "-n", &ns], None).expect(0);
}
