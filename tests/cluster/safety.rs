//! Cluster tests of apply safety: one writer at a time (the release's Lease), a parent
//! edited by hand, and concurrent runs.

use crate::support::cluster::*;

/// The release's Lease held by another runnerctl run (`someone-else`), renewed at `renewed`.
fn foreign_lease(ns: &str, renewed: &str) {
    let lease = format!(
        r#"{{"apiVersion":"coordination.k8s.io/v1","kind":"Lease",
            "metadata":{{"name":"gitlab-runner-lock","namespace":"{ns}",
              "labels":{{"app.kubernetes.io/managed-by":"runnerctl"}}}},
            "spec":{{"holderIdentity":"someone-else","leaseDurationSeconds":30,
            "acquireTime":"{renewed}","renewTime":"{renewed}"}}}}"#
    );
    kubectl(&["apply", "-f", "-"], Some(&lease)).expect(0);
}

/// Now as a MicroTime (the control plane runs on this machine's clock).
fn recent_time() -> String {
    let t = k8s_openapi::jiff::Timestamp::now();
    format!("{}Z", t.strftime("%Y-%m-%dT%H:%M:%S%.6f"))
}

#[test]
#[ignore = "needs the control plane: cargo xtask test"]
fn a_held_lock_makes_a_second_run_wait_then_fail_naming_the_holder() {
    let ns = namespace("locked");
    install_seed(&ns);
    foreign_lease(&ns, &recent_time());
    let before = resource_versions(&ns);
    let r = runnerctl(&seed_args(
        "apply",
        &ns,
        &["--yes", "--set", "concurrent=3", "--timeout", "3s"],
    ))
    .expect(1);
    assert!(
        r.stderr
            .contains("waiting for the release's lock, held by someone-else"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains(&format!(
            "Lease/{ns}/gitlab-runner-lock: the release is locked by someone-else since"
        )),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("--force-unlock"), "{}", r.stderr);
    assert_eq!(
        resource_versions(&ns),
        before,
        "nothing written while locked"
    );
    let r = runnerctl(&["uninstall", "-n", &ns, "--timeout", "2s"]).expect(1);
    assert!(r.stderr.contains("locked by someone-else"), "{}", r.stderr);

    // --force-unlock takes it; the lease is given back at the end.
    runnerctl(&seed_args(
        "apply",
        &ns,
        &[
            "--yes",
            "--set",
            "concurrent=3",
            "--force-unlock",
            "--wait=false",
        ],
    ))
    .expect(0);
    kubectl(&["get", "lease", "-n", &ns, "gitlab-runner-lock"], None).expect(1);
}

#[test]
#[ignore = "needs the control plane: cargo xtask test"]
fn an_expired_lock_is_taken_over() {
    let ns = namespace("expired");
    install_seed(&ns);
    foreign_lease(&ns, "2020-01-01T00:00:00.000000Z");
    let r = runnerctl(&seed_args("apply", &ns, &["--yes", "--wait=false"])).expect(0);
    assert!(!r.stderr.contains("waiting"), "{}", r.stderr);
    kubectl(&["get", "lease", "-n", &ns, "gitlab-runner-lock"], None).expect(1);
}

#[test]
#[ignore = "needs the control plane: cargo xtask test"]
fn two_applies_at_once_write_one_after_the_other() {
    let ns = namespace("twice");
    install_seed(&ns);
    let spawn = |concurrent: &str| {
        let mut args: Vec<String> = seed_args("apply", &ns, &["--yes", "--timeout", "90s"])
            .iter()
            .map(|s| s.to_string())
            .collect();
        args.extend(["--set".to_string(), format!("concurrent={concurrent}")]);
        std::process::Command::new(env!("CARGO_BIN_EXE_runnerctl"))
            .args(&args)
            .current_dir(crate::support::root())
            .env("KUBECONFIG", kubeconfig())
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap()
    };
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(|| spawn("21"));
        let b = s.spawn(|| spawn("22"));
        (a.join().unwrap(), b.join().unwrap())
    });
    for out in [&a, &b] {
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let config = get_json(&["configmap", "-n", &ns, NAME]);
    let toml = config["data"]["config.toml"].as_str().unwrap();
    assert!(
        toml.contains("concurrent = 21") || toml.contains("concurrent = 22"),
        "{toml}"
    );
    // Whichever ran second converged on its own values: the release is exactly that state.
    let last = if toml.contains("concurrent = 21") {
        "concurrent=21"
    } else {
        "concurrent=22"
    };
    runnerctl(&seed_args("diff", &ns, &["--set", last, "--exit-code"])).expect(0);
    kubectl(&["get", "lease", "-n", &ns, "gitlab-runner-lock"], None).expect(1);
    let parent = get_json(&["secret", "-n", &ns, "gitlab-runner-applyset"]);
    assert!(
        parent["metadata"]["annotations"]["applyset.kubernetes.io/contains-group-kinds"]
            .as_str()
            .unwrap()
            .contains("Deployment.apps"),
        "{}",
        parent["metadata"]
    );
}

#[test]
#[ignore = "needs the control plane: cargo xtask test"]
fn a_parent_edited_by_hand_does_not_orphan_members() {
    let ns = namespace("handedit");
    install_seed(&ns);
    let parent = get_json(&["secret", "-n", &ns, "gitlab-runner-applyset"]);
    let kinds = parent["metadata"]["annotations"]["applyset.kubernetes.io/contains-group-kinds"]
        .as_str()
        .unwrap()
        .to_string();
    let without_role: Vec<&str> = kinds
        .split(',')
        .filter(|k| !k.starts_with("Role.") && !k.starts_with("RoleBinding."))
        .collect();
    kubectl(
        &[
            "annotate",
            "secret",
            "-n",
            &ns,
            "gitlab-runner-applyset",
            "--overwrite",
            &format!(
                "applyset.kubernetes.io/contains-group-kinds={}",
                without_role.join(",")
            ),
        ],
        None,
    )
    .expect(0);
    // rbac.create=false: the Role and RoleBinding are no longer rendered and must be pruned
    // although the parent forgot their kinds.
    let r = runnerctl(&seed_args(
        "apply",
        &ns,
        &["--yes", "--set", "rbac.create=false", "--wait=false"],
    ))
    .expect(0);
    assert!(
        r.stderr.contains(&format!("Role/{ns}/{NAME} pruned")),
        "{}",
        r.stderr
    );
    kubectl(&["get", "role", "-n", &ns, NAME], None).expect(1);
    kubectl(&["get", "rolebinding", "-n", &ns, NAME], None).expect(1);
}

#[test]
#[ignore = "needs the control plane: cargo xtask test"]
fn an_object_left_being_deleted_is_created_again() {
    let ns = namespace("deleting");
    install_seed(&ns);
    // A recreate interrupted after its delete: the object lingers with a deletionTimestamp
    // (held here by a finalizer, released while apply waits).
    kubectl(
        &[
            "patch",
            "configmap",
            NAME,
            "-n",
            &ns,
            "--type=merge",
            "-p",
            r#"{"metadata":{"finalizers":["example.com/hold"]}}"#,
        ],
        None,
    )
    .expect(0);
    kubectl(
        &["delete", "configmap", NAME, "-n", &ns, "--wait=false"],
        None,
    )
    .expect(0);
    let args = seed_args("apply", &ns, &["--yes", "--wait=false"]);
    let r = thread_with_release(&ns, &args);
    assert!(
        r.stdout
            .contains("is being deleted (an interrupted recreate?)"),
        "{}",
        r.stdout
    );
    assert!(
        r.stderr
            .contains(&format!("ConfigMap/{ns}/{NAME} recreated")),
        "{}",
        r.stderr
    );
    let cm = get_json(&["configmap", "-n", &ns, NAME]);
    assert!(
        cm["metadata"].get("deletionTimestamp").is_none(),
        "{}",
        cm["metadata"]
    );
    runnerctl(&seed_args("diff", &ns, &["--exit-code"])).expect(0);
}

/// Run runnerctl `args` while, two seconds in, the test finalizer is removed.
fn thread_with_release(ns: &str, args: &[&str]) -> Run {
    std::thread::scope(|s| {
        let run = s.spawn(|| runnerctl(args));
        std::thread::sleep(std::time::Duration::from_secs(2));
        kubectl(
            &[
                "patch",
                "configmap",
                NAME,
                "-n",
                ns,
                "--type=json",
                "-p",
                r#"[{"op":"remove","path":"/metadata/finalizers"}]"#,
            ],
            None,
        )
        .expect(0);
        run.join().unwrap()
    })
    .expect(0)
}
