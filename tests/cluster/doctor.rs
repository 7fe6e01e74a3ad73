//! Cluster tests of `runnerctl doctor` against the real control plane: every cluster check
//! in its passing and failing form. Missing permissions come from the limited identity
//! (`edit` in namespace `limited` only); Pod Security rejection from a namespace enforcing
//! `baseline`; GitLab is a local fake (tests/support/fake_gitlab.rs).

use crate::support::cluster::*;
use crate::support::fake_gitlab;

/// The line of a check in the text output, e.g. `line(&out, "permissions")`.
fn line<'a>(out: &'a str, id: &str) -> &'a str {
    out.lines()
        .find(|l| l.split_whitespace().nth(1) == Some(id))
        .unwrap_or_else(|| panic!("no {id} line in:\n{out}"))
}

/// The status of a check in the text output.
fn status<'a>(out: &'a str, id: &str) -> &'a str {
    line(out, id).split_whitespace().next().unwrap()
}

/// Value flags of a release without privileged jobs: the seed's without
/// `runners.privileged` and `serviceAccount.create`.
const PLAIN: &[&str] = SEED.split_at(6).0;

fn args<'a>(ns: &'a str, flags: &[&'a str], extra: &[&'a str]) -> Vec<&'a str> {
    let mut a = vec!["doctor", "-n", ns];
    a.extend_from_slice(flags);
    a.extend_from_slice(extra);
    a
}

#[test]
#[ignore = "needs the control plane: cargo xtask test"]
fn before_install_everything_passes_for_an_admin() {
    let ns = namespace("doc-ok");
    let r = runnerctl(&seed_args("doctor", &ns, &["--offline"])).expect(0);
    let out = &r.stdout;
    assert_eq!(status(out, "kubernetes-version"), "ok", "{out}");
    assert!(line(out, "kubernetes-version").contains("v1.37"), "{out}");
    assert_eq!(status(out, "permissions"), "ok", "{out}");
    assert_eq!(status(out, "job-namespace"), "ok", "{out}");
    assert!(
        line(out, "job-namespace")
            .contains("apply creates it with Pod Security enforce: privileged"),
        "{out}"
    );
    assert_eq!(status(out, "job-pod-admission"), "ok", "{out}");
    assert_eq!(status(out, "job-rbac"), "ok", "{out}");
    assert_eq!(status(out, "token"), "ok", "{out}");
    assert_eq!(status(out, "gitlab-tls"), "skipped", "{out}");
    assert_eq!(status(out, "runner-deployment"), "skipped", "{out}");
    // JSON carries the same checks.
    let r = runnerctl(&seed_args("doctor", &ns, &["--offline", "-o", "json"])).expect(0);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let ids: Vec<&str> = v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [
            "kubernetes-version",
            "permissions",
            "job-namespace",
            "job-pod-admission",
            "job-rbac",
            "token",
            "gitlab-tls",
            "runner-deployment",
            "runner-log",
            "gitlab-registration"
        ]
    );
    assert!(v["requests"].as_u64().unwrap() > 10, "{v}");
}

#[test]
#[ignore = "needs the control plane: cargo xtask test"]
fn the_limited_identity_lacks_what_the_roles_need() {
    let limited = std::env::var("RUNNERCTL_TEST_LIMITED_KUBECONFIG").expect(
        "cluster tests need RUNNERCTL_TEST_LIMITED_KUBECONFIG: run them with `cargo xtask test`",
    );
    let r = runnerctl_as(&limited, &args("limited", SEED, &["--offline"])).expect(1);
    let out = &r.stdout;
    assert_eq!(status(out, "permissions"), "failed", "{out}");
    assert!(
        out.contains("missing: create roles.rbac.authorization.k8s.io in namespace limited"),
        "{out}"
    );
    assert!(
        out.contains("missing: create rolebindings.rbac.authorization.k8s.io in namespace limited"),
        "{out}"
    );
    // What `edit` has is not listed.
    assert!(!out.contains("missing: create deployments.apps"), "{out}");
    assert!(
        line(out, "permissions").contains("fix:") || out.contains("fix: ask a cluster admin"),
        "{out}"
    );
    // Without RBAC objects the same identity lacks at most the lock.
    let r = runnerctl_as(
        &limited,
        &args(
            "limited",
            SEED,
            &["--offline", "--set", "rbac.create=false"],
        ),
    );
    assert_ne!(status(&r.stdout, "permissions"), "failed", "{}", r.stdout);
}

#[test]
#[ignore = "needs the control plane: cargo xtask test"]
fn a_baseline_namespace_rejects_privileged_job_pods() {
    let ns = namespace("doc-psa");
    create_namespace_enforcing(&ns, "baseline");
    // runners.privileged: the job pod needs privileged; the real admission says no.
    let r = runnerctl(&args(&ns, SEED, &["--offline"])).expect(1);
    let out = &r.stdout;
    assert_eq!(status(out, "job-namespace"), "ok", "{out}");
    assert!(
        line(out, "job-namespace").contains("enforce: baseline"),
        "{out}"
    );
    assert_eq!(status(out, "job-pod-admission"), "failed", "{out}");
    assert!(
        line(out, "job-pod-admission").contains("violates PodSecurity"),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "fix: kubectl label --overwrite namespace {ns} pod-security.kubernetes.io/enforce=privileged"
        )),
        "{out}"
    );
    // The default job pod passes baseline.
    let r = runnerctl(&args(&ns, PLAIN, &["--offline"])).expect(0);
    assert_eq!(status(&r.stdout, "job-pod-admission"), "ok", "{}", r.stdout);
    // Nothing was created by the dry runs.
    let pods = get_json(&["pods", "-n", &ns]);
    assert_eq!(pods["items"].as_array().unwrap().len(), 0, "{pods}");
}

#[test]
#[ignore = "needs the control plane: cargo xtask test"]
fn a_missing_job_namespace_fails() {
    let ns = namespace("doc-nons");
    let r = runnerctl(&args(&ns, PLAIN, &["--offline"])).expect(1);
    let out = &r.stdout;
    assert_eq!(status(out, "job-namespace"), "failed", "{out}");
    assert!(out.contains("fix: pass --create-namespace"), "{out}");
    assert_eq!(status(out, "job-pod-admission"), "skipped", "{out}");
}

#[test]
#[ignore = "needs the control plane: cargo xtask test"]
fn an_existing_service_account_is_asked_about() {
    let ns = namespace("doc-sar");
    kubectl(&["create", "namespace", &ns], None).expect(0);
    let flags = [
        "--set",
        "gitlabUrl=https://gitlab.example.com",
        "--set",
        "runnerToken=glrt-test-XXXX",
        "--set",
        "rbac.create=false",
    ];
    // The namespace's default service account may do nothing.
    let r = runnerctl(&args(&ns, &flags, &["--offline"])).expect(1);
    let out = &r.stdout;
    assert_eq!(status(out, "job-rbac"), "failed", "{out}");
    assert!(
        line(out, "job-rbac").contains(&format!("service account {ns}/default")),
        "{out}"
    );
    assert!(line(out, "job-rbac").contains("asked the server"), "{out}");
    assert!(
        out.contains(&format!("missing: create pods in namespace {ns}")),
        "{out}"
    );
    // Bound to `edit`, it holds GitLab's table.
    kubectl(
        &[
            "create",
            "rolebinding",
            "runner-edit",
            "-n",
            &ns,
            "--clusterrole=edit",
            &format!("--serviceaccount={ns}:default"),
        ],
        None,
    )
    .expect(0);
    let r = runnerctl(&args(&ns, &flags, &["--offline"])).expect(0);
    assert_eq!(status(&r.stdout, "job-rbac"), "ok", "{}", r.stdout);
}

#[test]
#[ignore = "needs the control plane: cargo xtask test"]
fn narrow_rules_miss_what_jobs_need() {
    let ns = namespace("doc-rules");
    let r = runnerctl(&seed_args(
        "doctor",
        &ns,
        &[
            "--offline",
            "--set",
            "rbac.rules[0].resources={pods}",
            "--set",
            "rbac.rules[0].verbs={get,list,watch,create,delete}",
        ],
    ))
    .expect(1);
    let out = &r.stdout;
    assert_eq!(status(out, "job-rbac"), "failed", "{out}");
    assert!(
        out.contains(&format!("missing: create pods/attach in namespace {ns}")),
        "{out}"
    );
}

#[test]
#[ignore = "needs the control plane: cargo xtask test"]
fn after_install_the_runner_is_checked() {
    let ns = namespace("doc-inst");
    install_seed(&ns);
    let r = runnerctl(&seed_args("doctor", &ns, &["--offline"])).expect(0);
    let out = &r.stdout;
    assert_eq!(status(out, "runner-deployment"), "ok", "{out}");
    assert!(
        line(out, "runner-deployment").contains(&format!("Deployment/{ns}/{NAME} is ready")),
        "{out}"
    );
    // kwok runs no containers: the log is either empty or unreadable, never a failure.
    assert_ne!(status(out, "runner-log"), "failed", "{out}");
    // A runner that cannot pull its image: failed, with the pod's reason.
    apply_unpullable(&ns, &["--wait=false"]).expect(0);
    let started = std::time::Instant::now();
    loop {
        let r = runnerctl(&seed_args("doctor", &ns, &["--offline"]));
        if r.stdout.contains("ImagePullBackOff") {
            assert_eq!(r.code, 1, "{}", r.stdout);
            assert_eq!(
                status(&r.stdout, "runner-deployment"),
                "failed",
                "{}",
                r.stdout
            );
            break;
        }
        assert!(
            started.elapsed().as_secs() < 60,
            "no ImagePullBackOff in:\n{}",
            r.stdout
        );
        std::thread::sleep(std::time::Duration::from_secs(2));
    }
}

#[test]
#[ignore = "needs the control plane: cargo xtask test"]
fn gitlab_checks_with_a_fake_gitlab_and_the_ca_from_certs_secret_name() {
    let ns = namespace("doc-gl");
    let dir = std::env::temp_dir().join(format!("runnerctl-doctor-{ns}"));
    let fake = fake_gitlab::FakeGitlab::https(&dir);
    let url = format!("gitlabUrl={}", fake.url);
    let token = format!("runnerToken={}", fake_gitlab::VALID_TOKEN);
    let base = [
        "--create-namespace",
        "--set",
        &url,
        "--set",
        &token,
        "--set",
        "rbac.create=true",
    ];
    // The CA is not trusted: x509, as the runner would say.
    let r = runnerctl(&args(&ns, &base, &[]));
    assert!(!r.all().contains(fake_gitlab::VALID_TOKEN), "{}", r.all());
    let out = r.expect(1).stdout;
    assert_eq!(status(&out, "gitlab-tls"), "failed", "{out}");
    assert!(
        line(&out, "gitlab-tls").contains("x509: certificate signed by unknown authority"),
        "{out}"
    );
    // certsSecretName names a Secret that does not exist yet: said so.
    let with_certs: Vec<&str> = base
        .iter()
        .copied()
        .chain(["--set", "certsSecretName=gitlab-ca"])
        .collect();
    let out = runnerctl(&args(&ns, &with_certs, &[])).expect(1).stdout;
    assert!(
        out.contains("Secret") && out.contains("gitlab-ca") && out.contains("does not exist"),
        "{out}"
    );
    // With the CA under <host>.crt, TLS passes and GitLab accepts the token.
    kubectl(&["create", "namespace", &ns], None).expect(0);
    kubectl(
        &[
            "create",
            "secret",
            "generic",
            "gitlab-ca",
            "-n",
            &ns,
            &format!("--from-file=127.0.0.1.crt={}", dir.join("ca.crt").display()),
        ],
        None,
    )
    .expect(0);
    let r = runnerctl(&args(&ns, &with_certs, &[]));
    assert!(!r.all().contains(fake_gitlab::VALID_TOKEN), "{}", r.all());
    let out = r.expect(0).stdout;
    assert_eq!(status(&out, "gitlab-tls"), "ok", "{out}");
    assert!(
        line(&out, "gitlab-tls").contains("key 127.0.0.1.crt"),
        "{out}"
    );
    assert_eq!(status(&out, "gitlab-registration"), "ok", "{out}");
    assert!(
        line(&out, "gitlab-registration").contains("runner #12345"),
        "{out}"
    );
    // A token GitLab does not know.
    let bad = [
        "--create-namespace",
        "--set",
        &url,
        "--set",
        "runnerToken=glrt-unknown-0000000000",
        "--set",
        "certsSecretName=gitlab-ca",
    ];
    let out = runnerctl(&args(&ns, &bad, &[])).expect(1).stdout;
    assert_eq!(status(&out, "gitlab-registration"), "failed", "{out}");
    let _ = std::fs::remove_dir_all(&dir);
}
