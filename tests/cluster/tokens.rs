//! Cluster tests of the runner token's life against the fake GitLab (tests/support/
//! fake_gitlab.rs, written from GitLab's API docs): status shows the expiry, `token rotate`
//! stores the new token before anything else, rolls out and records a revision, an apply of
//! values that still hold the old token keeps the new one, and a rotation interrupted after
//! GitLab answered (the Secret cannot be written: a real admission policy refuses it) or after
//! the Secret was written (rollout not started) is resumed, never lost.
use base64::Engine as _;
use serde_json::json;

use crate::support::cluster::*;
use crate::support::fake_gitlab::{ACCESS_TOKEN, FakeGitlab, VALID_TOKEN};

const NAME: &str = "gitlab-runner";

/// Install a release whose runner talks to `fake`.
fn install(ns: &str, fake: &FakeGitlab) -> Vec<String> {
    let args: Vec<String> = [
        "--set",
        &format!("gitlabUrl={}", fake.url),
        "--set",
        &format!("runnerToken={VALID_TOKEN}"),
        "--set",
        "rbac.create=true",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let mut all = vec![
        "apply",
        "-n",
        ns,
        "--create-namespace",
        "--yes",
        "--timeout",
        "2m",
    ];
    all.extend(args.iter().map(String::as_str));
    let r = runnerctl(&all);
    assert_eq!(r.code, 0, "{}", r.all());
    args
}

/// The token in the release's Secret.
fn secret_token(ns: &str) -> String {
    let s = get_json(&["-n", ns, "secret", NAME]);
    let b = s["data"]["runner-token"].as_str().unwrap();
    String::from_utf8(base64::engine::general_purpose::STANDARD.decode(b).unwrap()).unwrap()
}

fn no_token_in(out: &str, tokens: &[&str]) {
    for t in tokens {
        assert!(!out.contains(t), "a token in the output:\n{out}");
    }
}

/// A date `days` from now, as GitLab writes one.
fn in_days(days: i64) -> String {
    let t = k8s_openapi::jiff::Timestamp::now()
        + k8s_openapi::jiff::SignedDuration::from_hours(24 * days);
    t.strftime("%Y-%m-%dT%H:%M:%S.000Z").to_string()
}

#[test]
#[ignore = "needs the control plane: cargo xtask test"]
fn status_shows_the_expiry_and_rotate_stores_rolls_out_and_keeps_the_new_token() {
    let fake = FakeGitlab::http();
    let ns = namespace("tokrot");
    let values = install(&ns, &fake);
    fake.state.lock().unwrap().expires_at = Some(in_days(5));

    let r = runnerctl(&["status", "-n", &ns]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(
        r.stdout.contains(&format!(
            "Token: Secret/{ns}/{NAME} key runner-token: runner #"
        )),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .contains("days left; rotate it: runnerctl token rotate"),
        "{}",
        r.stdout
    );
    let json: serde_json::Value =
        serde_json::from_str(&runnerctl(&["status", "-n", &ns, "-o", "json"]).stdout).unwrap();
    assert_eq!(
        json["tokens"][0]["expiry"]["state"],
        json!("soon"),
        "{json:#}"
    );
    assert!(json["tokens"][0]["expiry"]["expiresAt"].is_string());

    let before = get_json(&["-n", &ns, "deployment", NAME]);
    let r = runnerctl(&["token", "rotate", "-n", &ns, "--timeout", "2m"]);
    assert_eq!(r.code, 0, "{}", r.all());
    println!("$ runnerctl token rotate -n {ns}\n{}", r.all());
    let new = fake.state.lock().unwrap().token.clone();
    assert_ne!(new, VALID_TOKEN);
    no_token_in(&r.all(), &[VALID_TOKEN, &new]);
    assert_eq!(secret_token(&ns), new, "the Secret holds the new token");
    let secret = get_json(&["-n", &ns, "secret", NAME]);
    assert_eq!(
        secret["metadata"]["annotations"]["runnerctl.io/token-rotation"],
        json!("done")
    );
    let after = get_json(&["-n", &ns, "deployment", NAME]);
    assert_ne!(
        before["spec"]["template"], after["spec"]["template"],
        "the pod template changed: the runner rolled out"
    );
    let history = runnerctl(&["history", "-n", &ns]).stdout;
    assert!(history.contains("token rotation"), "{history}");

    // GitLab takes the new token; the old one is gone.
    let r = runnerctl(&["status", "-n", &ns]);
    assert_eq!(r.code, 0, "{}", r.all());

    // The values still hold the old token: apply keeps the new one, and says so.
    let mut args = vec!["apply", "-n", ns.as_str(), "--create-namespace", "--yes"];
    args.extend(values.iter().map(String::as_str));
    let r = runnerctl(&args);
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(
        r.stderr
            .contains("the values hold the token `runnerctl token rotate` replaced"),
        "{}",
        r.stderr
    );
    no_token_in(&r.all(), &[VALID_TOKEN, &new]);
    assert_eq!(secret_token(&ns), new);
}

#[test]
#[ignore = "needs the control plane: cargo xtask test"]
fn a_rotation_interrupted_at_each_step_is_resumed_never_lost() {
    let fake = FakeGitlab::http();
    let ns = namespace("tokres");
    install(&ns, &fake);

    // Secret written, rollout not started: the next run only rolls out.
    kubectl(
        &[
            "annotate",
            "--overwrite",
            "-n",
            &ns,
            "secret",
            NAME,
            "runnerctl.io/token-rotation=rollout-pending",
        ],
        None,
    )
    .expect(0);
    let r = runnerctl(&["token", "rotate", "-n", &ns, "--timeout", "2m"]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(r.stderr.contains("resuming"), "{}", r.stderr);
    assert_eq!(
        fake.state.lock().unwrap().rotations,
        0,
        "GitLab was not asked again"
    );

    // GitLab answers, but the Secret cannot be written (an admission policy refuses updates).
    let policy = format!("rc-deny-{ns}");
    let objects = json!({"apiVersion": "v1", "kind": "List", "items": [
        {"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicy",
         "metadata": {"name": policy},
         "spec": {"failurePolicy": "Fail",
                  "matchConstraints": {"resourceRules": [{"apiGroups": [""], "apiVersions": ["v1"],
                      "operations": ["UPDATE"], "resources": ["secrets"]}]},
                  "validations": [{"expression": "object.metadata.name != 'gitlab-runner'",
                                   "message": "test: the token Secret is read-only"}]}},
        {"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicyBinding",
         "metadata": {"name": policy},
         "spec": {"policyName": policy, "validationActions": ["Deny"],
                  "matchResources": {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": ns.as_str()}}}}},
    ]});
    kubectl(&["apply", "-f", "-"], Some(&objects.to_string())).expect(0);
    let dir = std::env::temp_dir().join(format!("runnerctl-rotate-{ns}"));
    std::fs::create_dir_all(&dir).unwrap();
    // The policy takes a moment to be enforced.
    let mut refused = None;
    for _ in 0..30 {
        let probe = kubectl(
            &[
                "annotate",
                "--overwrite",
                "-n",
                &ns,
                "secret",
                NAME,
                "probe=1",
                "--dry-run=server",
            ],
            None,
        );
        if probe.code != 0 {
            refused = Some(probe);
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
    assert!(refused.is_some(), "the admission policy never took effect");
    let r = runnerctl_in(&dir, &["token", "rotate", "-n", &ns, "--timeout", "1m"]);
    assert_eq!(r.code, 1, "{}", r.all());
    println!("$ runnerctl token rotate -n {ns}\n{}", r.all());
    let new = fake.state.lock().unwrap().token.clone();
    assert_ne!(new, VALID_TOKEN, "GitLab rotated");
    no_token_in(&r.all(), &[VALID_TOKEN, &new]);
    assert!(
        r.stderr.contains("the old token no longer works"),
        "{}",
        r.stderr
    );
    let file = dir.join(format!("runnerctl-token-{ns}-{NAME}.pending"));
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&file).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        new,
        "the new token is kept"
    );
    assert_eq!(secret_token(&ns), VALID_TOKEN, "nothing half-written");

    // Once the Secret can be written, --resume stores it and rolls out.
    kubectl(
        &[
            "delete",
            "validatingadmissionpolicybinding,validatingadmissionpolicy",
            &policy,
        ],
        None,
    )
    .expect(0);
    let file_arg = file.to_str().unwrap().to_string();
    let mut stored = None;
    for _ in 0..30 {
        let r = runnerctl_in(
            &dir,
            &[
                "token",
                "rotate",
                "-n",
                &ns,
                "--resume",
                &file_arg,
                "--timeout",
                "1m",
            ],
        );
        if r.code == 0 {
            stored = Some(r);
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
    let r = stored.expect("--resume succeeds once the policy is gone");
    println!(
        "$ runnerctl token rotate -n {ns} --resume FILE\n{}",
        r.all()
    );
    no_token_in(&r.all(), &[VALID_TOKEN, &new]);
    assert_eq!(secret_token(&ns), new);
    assert!(!file.exists(), "the file is deleted once stored");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
#[ignore = "needs the control plane: cargo xtask test"]
fn managers_are_tied_to_the_runner_pods_and_only_stale_ones_are_pruned() {
    let fake = FakeGitlab::http();
    let ns = namespace("tokmgr");
    install(&ns, &fake);
    let pods = get_json(&["-n", &ns, "pods", "-l", "app=gitlab-runner"]);
    let pod = pods["items"][0]["metadata"]["name"]
        .as_str()
        .unwrap()
        .to_string();
    let live = runnerctl::render::system_id_of_pod(&pod);
    fake.state.lock().unwrap().managers = vec![
        json!({"id": 1, "system_id": live, "status": "online", "contacted_at": "2026-12-07T10:00:00Z"}),
        json!({"id": 2, "system_id": "r_000000000000", "status": "offline", "contacted_at": "2026-11-01T10:00:00Z"}),
        json!({"id": 3, "system_id": "r_111111111111", "status": "online", "contacted_at": "2026-12-07T10:00:00Z"}),
    ];

    // No access token: a clear error, nothing asked.
    let r = runnerctl(&["managers", "-n", &ns]);
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(r.stderr.contains("GITLAB_TOKEN is not set"), "{}", r.stderr);
    // A wrong one: GitLab's 401, named.
    let r = runnerctl_env(
        &[("GITLAB_TOKEN", "glpat-wrong-0000000000")],
        &["managers", "-n", &ns],
    );
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(r.stderr.contains("answered 401"), "{}", r.stderr);
    assert!(!r.all().contains("glpat-wrong"), "{}", r.all());

    let env = [("GITLAB_TOKEN", ACCESS_TOKEN)];
    let r = runnerctl_env(&env, &["managers", "-n", &ns, "-o", "json"]);
    assert_eq!(r.code, 0, "{}", r.all());
    no_token_in(&r.all(), &[VALID_TOKEN, ACCESS_TOKEN]);
    let report: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let state: Vec<(String, bool, Option<String>)> = report["managers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["system_id"].as_str().unwrap().to_string(),
                m["stale"].as_bool().unwrap(),
                m["pod"].as_str().map(str::to_string),
            )
        })
        .collect();
    assert_eq!(
        state,
        [
            (live.clone(), false, Some(pod.clone())),
            ("r_000000000000".to_string(), true, None),
            ("r_111111111111".to_string(), false, None),
        ]
    );

    let r = runnerctl_env(&env, &["managers", "-n", &ns, "--prune"]);
    assert_eq!(r.code, 0, "{}", r.all());
    println!("$ runnerctl managers -n {ns} --prune\n{}", r.stdout);
    assert!(r.stdout.contains("r_000000000000  deleted"), "{}", r.stdout);
    let deletes: Vec<serde_json::Value> = fake
        .requests
        .lock()
        .unwrap()
        .iter()
        .filter(|q| q.method == "DELETE")
        .map(|q| q.body.clone())
        .collect();
    assert_eq!(
        deletes,
        [json!({"token": VALID_TOKEN, "system_id": "r_000000000000"})]
    );
    let left: Vec<String> = fake
        .state
        .lock()
        .unwrap()
        .managers
        .iter()
        .map(|m| m["system_id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(left, [live, "r_111111111111".to_string()]);
}

#[test]
#[ignore = "needs the control plane: cargo xtask test"]
fn several_runners_under_one_manager_apply_with_rbac_in_every_job_namespace() {
    let ns = namespace("multi");
    let deploy = "deploy";
    let _deploy = TestNamespace(deploy.to_string());
    let example = crate::support::example("multi-runner.yaml");
    let file = example.to_str().unwrap();
    let r = runnerctl(&[
        "apply",
        "-n",
        &ns,
        "--create-namespace",
        "-f",
        file,
        "--yes",
        "--timeout",
        "2m",
    ]);
    assert_eq!(r.code, 0, "{}", r.all());
    no_token_in(
        &r.all(),
        &[
            "glrt-build-runner-token-example",
            "glrt-deploy-runner-token-example",
        ],
    );
    for job_ns in [ns.as_str(), deploy] {
        assert!(
            kubectl(&["get", "-n", job_ns, "role", NAME], None).code == 0,
            "Role in {job_ns}"
        );
        assert!(kubectl(&["get", "-n", job_ns, "rolebinding", NAME], None).code == 0);
    }
    let secret = get_json(&["-n", &ns, "secret", NAME]);
    let mut keys: Vec<&str> = secret["data"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(keys, ["runner-token-build", "runner-token-deploy"]);
    // status looks for jobs in both namespaces; doctor checks both runners without failing.
    let status: serde_json::Value =
        serde_json::from_str(&runnerctl(&["status", "-n", &ns, "-o", "json", "--offline"]).stdout)
            .unwrap();
    let mut job_namespaces: Vec<&str> = status["runner"]["jobNamespaces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    job_namespaces.sort_unstable();
    let mut expected = vec![deploy, ns.as_str()];
    expected.sort_unstable();
    assert_eq!(job_namespaces, expected);
    let r = runnerctl(&["doctor", "-n", &ns, "-f", file, "--offline", "-o", "json"]);
    let checklist: serde_json::Value =
        serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("{e}: {}", r.all()));
    let failed: Vec<&serde_json::Value> = checklist["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["status"] == "failed")
        .collect();
    assert!(failed.iter().all(|c| c["id"] != "token"), "{failed:#?}");
    runnerctl(&["uninstall", "-n", &ns, "--delete-namespace"]).expect(0);
    assert!(kubectl(&["get", "-n", deploy, "role", NAME], None).code != 0);
}
