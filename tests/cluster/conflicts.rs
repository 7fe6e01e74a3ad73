//! Cluster tests of field ownership: conflicts, adoption of client-side `kubectl apply`
//! objects, immutable fields, foreign ApplySets, and a forbidden identity.

use crate::support::cluster::*;

/// The seed flags without --create-namespace, for a namespace made beforehand.
fn seed_in(verb: &'static str, ns: &str, extra: &[&str]) -> Vec<String> {
    let mut a: Vec<String> = vec![verb.into(), "-n".into(), ns.into()];
    a.extend(SEED.iter().map(|s| s.to_string()));
    a.extend(extra.iter().map(|s| s.to_string()));
    a
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

#[test]
#[ignore = "needs the control plane: cargo xtask test"]
fn a_field_of_another_manager_conflicts_unless_forced() {
    let ns = namespace("conflict");
    install_seed(&ns);
    let dep = get_json(&["deployment", "-n", &ns, NAME]);
    assert_eq!(dep["spec"]["revisionHistoryLimit"], 10);
    kubectl(
        &[
            "patch",
            "deployment",
            NAME,
            "-n",
            &ns,
            "--type",
            "merge",
            "-p",
            r#"{"spec":{"revisionHistoryLimit":5}}"#,
        ],
        None,
    )
    .expect(0);

    let r = runnerctl(&seed_args("apply", &ns, &["--yes"])).expect(1);
    assert!(
        r.stderr
            .contains(&format!("Deployment/{ns}/{NAME}: apply failed")),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr
            .contains(".spec.revisionHistoryLimit (owned by \"kubectl-patch\")"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("--force-conflicts"), "{}", r.stderr);
    assert_eq!(
        get_json(&["deployment", "-n", &ns, NAME])["spec"]["revisionHistoryLimit"],
        5,
        "nothing written"
    );

    let r = runnerctl(&seed_args("apply", &ns, &["--yes", "--force-conflicts"])).expect(0);
    assert!(r.stdout.contains("1 to change"), "{}", r.stdout);
    let dep = get_json(&["deployment", "-n", &ns, NAME]);
    assert_eq!(dep["spec"]["revisionHistoryLimit"], 10);
    // runnerctl owns the field again: a later apply without --force-conflicts is a no-op.
    let r = runnerctl(&seed_args("apply", &ns, &["--yes"])).expect(0);
    assert!(
        r.stdout
            .contains("0 to add, 0 to change, 0 to delete, 7 unchanged"),
        "{}",
        r.stdout
    );
}

#[test]
#[ignore = "needs the control plane: cargo xtask test"]
fn objects_from_client_side_kubectl_apply_are_refused_then_adopted_on_request() {
    let ns = namespace("adopt");
    kubectl(&["create", "namespace", &ns], None).expect(0);
    // What someone installed earlier with `kubectl apply` (client-side), with an extra label.
    let render = seed_in(
        "render",
        &ns,
        &["--set", "deploymentLabels.legacy=yes", "--show-secrets"],
    );
    let rendered = runnerctl(&strs(&render)).expect(0).stdout;
    kubectl(&["apply", "-n", &ns, "-f", "-"], Some(&rendered)).expect(0);
    let dep = get_json(&["deployment", "-n", &ns, NAME]);
    assert_eq!(dep["metadata"]["labels"]["legacy"], "yes");

    // Not created by runnerctl nor by helm for this release: refused, nothing written.
    let before = resource_versions(&ns);
    let refused = runnerctl(&strs(&seed_in("apply", &ns, &["--yes"]))).expect(1);
    assert!(
        refused.stderr.contains(&format!(
            "Deployment/{ns}/{NAME}: exists and is not part of this release"
        )),
        "{}",
        refused.stderr
    );
    assert!(
        refused.stderr.contains("kubectl-client-side-apply"),
        "the owner is named: {}",
        refused.stderr
    );
    assert!(refused.stderr.contains("--adopt"), "{}", refused.stderr);
    assert_eq!(
        resource_versions(&ns),
        before,
        "a refused run writes nothing"
    );

    let diff = runnerctl(&strs(&seed_in("diff", &ns, &["--adopt"]))).expect(0);
    assert!(
        diff.stdout
            .contains("takes over the fields of kubectl-client-side-apply"),
        "{}",
        diff.stdout
    );
    assert!(
        diff.stdout.contains("adopt (as requested)"),
        "{}",
        diff.stdout
    );
    runnerctl(&strs(&seed_in("apply", &ns, &["--yes", "--adopt"]))).expect(0);

    let dep = get_json(&["deployment", "-n", &ns, NAME, "--show-managed-fields"]);
    assert!(
        dep["metadata"]["labels"].get("legacy").is_none(),
        "the label runnerctl does not render is removed: {}",
        dep["metadata"]["labels"]
    );
    assert!(
        dep["metadata"]["annotations"]
            .get("kubectl.kubernetes.io/last-applied-configuration")
            .is_none(),
        "{}",
        dep["metadata"]["annotations"]
    );
    let managers: Vec<&str> = dep["metadata"]["managedFields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["manager"].as_str().unwrap())
        .collect();
    assert!(
        !managers.contains(&"kubectl-client-side-apply"),
        "{managers:?}"
    );
    assert!(managers.contains(&"runnerctl"), "{managers:?}");
    // The Secret kubectl applied is adopted too, and its token was not printed (checked by runnerctl()).
    let secret = get_json(&["secret", "-n", &ns, NAME]);
    assert!(
        secret["metadata"]["annotations"]
            .get("kubectl.kubernetes.io/last-applied-configuration")
            .is_none()
    );
    let again = runnerctl(&strs(&seed_in("apply", &ns, &["--yes"]))).expect(0);
    assert!(
        again
            .stdout
            .contains("0 to add, 0 to change, 0 to delete, 6 unchanged"),
        "{}",
        again.stdout
    );
}

#[test]
#[ignore = "needs the control plane: cargo xtask test"]
fn an_immutable_selector_change_needs_recreate() {
    let ns = namespace("immut");
    kubectl(&["create", "namespace", &ns], None).expect(0);
    let old = serde_json::json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": NAME, "namespace": ns.as_str()},
        "spec": {"selector": {"matchLabels": {"app": NAME, "track": "old"}},
            "template": {"metadata": {"labels": {"app": NAME, "track": "old"}},
                "spec": {"containers": [{"name": "c", "image": "busybox"}]}}}
    });
    kubectl(
        &[
            "apply",
            "--server-side",
            "--field-manager=someone",
            "-f",
            "-",
        ],
        Some(&old.to_string()),
    )
    .expect(0);

    let r = runnerctl(&strs(&seed_in(
        "apply",
        &ns,
        &["--yes", "--force-conflicts", "--adopt"],
    )))
    .expect(1);
    assert!(
        r.stderr.contains(&format!(
            "Deployment/{ns}/{NAME}: an immutable field would change"
        )),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("--recreate"), "{}", r.stderr);
    kubectl(&["get", "configmap", "-n", &ns, NAME], None).expect(1);

    let r = runnerctl(&strs(&seed_in(
        "apply",
        &ns,
        &["--yes", "--force-conflicts", "--recreate", "--adopt"],
    )))
    .expect(0);
    assert!(
        r.stderr
            .contains(&format!("Deployment/{ns}/{NAME} recreated")),
        "{}",
        r.stderr
    );
    let dep = get_json(&["deployment", "-n", &ns, NAME]);
    assert_eq!(
        dep["spec"]["selector"]["matchLabels"],
        serde_json::json!({"app": NAME})
    );
}

#[test]
#[ignore = "needs the control plane: cargo xtask test"]
fn an_applyset_of_another_tool_is_refused() {
    let ns = namespace("foreign");
    kubectl(&["create", "namespace", &ns], None).expect(0);
    let id = runnerctl::apply::ApplySet::for_release("gitlab-runner", &ns).id();
    let parent = serde_json::json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "gitlab-runner-applyset", "namespace": ns.as_str(),
            "labels": {"applyset.kubernetes.io/id": id},
            "annotations": {"applyset.kubernetes.io/tooling": "kubectl/v1.32.4",
                "applyset.kubernetes.io/contains-group-kinds": "ConfigMap"}}
    });
    kubectl(&["create", "-f", "-"], Some(&parent.to_string())).expect(0);
    let r = runnerctl(&strs(&seed_in("apply", &ns, &["--yes"]))).expect(1);
    assert!(r.stderr.contains("kubectl/v1.32.4"), "{}", r.stderr);
    assert!(r.stderr.contains("refusing"), "{}", r.stderr);
    kubectl(&["get", "deployment", "-n", &ns, NAME], None).expect(1);
}

#[test]
#[ignore = "needs the control plane: cargo xtask test"]
fn a_forbidden_object_is_named_and_nothing_is_written() {
    let limited = std::env::var("RUNNERCTL_TEST_LIMITED_KUBECONFIG").expect(
        "cluster tests need RUNNERCTL_TEST_LIMITED_KUBECONFIG: run them with `cargo xtask test`",
    );
    // `edit` in namespace `limited` may not create Roles.
    let r = runnerctl_as(&limited, &strs(&seed_in("apply", "limited", &["--yes"]))).expect(1);
    // Named with the object and the cause (`edit` cannot even read Roles, so the GET fails).
    assert!(
        r.stderr.contains(&format!("Role/limited/{NAME}: ")),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("failed: forbidden"), "{}", r.stderr);
    assert!(
        r.stderr.contains(&format!("RoleBinding/limited/{NAME}")),
        "{}",
        r.stderr
    );
    kubectl(
        &["get", "secret", "-n", "limited", "gitlab-runner-applyset"],
        None,
    )
    .expect(1);
    kubectl(&["get", "deployment", "-n", "limited", NAME], None).expect(1);

    // Without RBAC objects the same identity can install, see and remove the release.
    let r = runnerctl_as(
        &limited,
        &strs(&seed_in(
            "apply",
            "limited",
            &["--set", "rbac.create=false", "--yes", "--timeout", "2m"],
        )),
    );
    let r = r.expect(0);
    assert!(
        r.stderr
            .contains(&format!("Deployment/limited/{NAME} ready")),
        "{}",
        r.stderr
    );
    runnerctl_as(&limited, &["status", "-n", "limited"]).expect(0);
    runnerctl_as(&limited, &["uninstall", "-n", "limited"]).expect(0);
    kubectl(&["get", "deployment", "-n", "limited", NAME], None).expect(1);
}
