//! Helpers of the cluster tests: the real `runnerctl` binary and kubectl against the control
//! plane of `cargo xtask test` (KUBECONFIG), one namespace per test.

use std::process::{Command, Output, Stdio};

use super::kubectl;

/// The token the seed release sets; it must never appear in output.
pub const TOKEN: &str = "glrt-test-XXXX";
/// base64 of [`TOKEN`] (the Secret's data).
pub const TOKEN_B64: &str = "Z2xydC10ZXN0LVhYWFg=";
/// The release's object names (release `gitlab-runner`).
pub const NAME: &str = "gitlab-runner";

/// The admin kubeconfig; cluster tests need it.
pub fn kubeconfig() -> String {
    std::env::var("KUBECONFIG")
        .expect("cluster tests need KUBECONFIG: run them with `cargo xtask test`")
}

/// A test's namespace name; the namespace is deleted (without waiting) when the test ends,
/// whether it passed or not.
pub struct TestNamespace(pub String);

impl std::ops::Deref for TestNamespace {
    type Target = String;
    fn deref(&self) -> &String {
        &self.0
    }
}

impl std::fmt::Display for TestNamespace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl Drop for TestNamespace {
    fn drop(&mut self) {
        cleanup(&self.0);
    }
}

/// A fresh namespace name for a test (unique across runs against one control plane).
pub fn namespace(test: &str) -> TestNamespace {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    TestNamespace(format!(
        "rc-{test}-{:x}",
        (std::process::id() ^ nanos) & 0xffffff
    ))
}

/// stdout, stderr and exit code of a command.
pub struct Run {
    /// stdout.
    pub stdout: String,
    /// stderr.
    pub stderr: String,
    /// exit code.
    pub code: i32,
}

impl Run {
    fn from(out: Output) -> Self {
        Run {
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            code: out.status.code().unwrap_or(-1),
        }
    }
    /// Panic with both streams unless the exit code is `code`.
    pub fn expect(self, code: i32) -> Self {
        assert_eq!(
            self.code, code,
            "exit code\n--- stdout\n{}\n--- stderr\n{}",
            self.stdout, self.stderr
        );
        self
    }
    /// Both streams.
    pub fn all(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }
}

/// Run `runnerctl` with the admin kubeconfig. Asserts that no token reaches its output
/// (unless the arguments ask for --show-secrets).
pub fn runnerctl(args: &[&str]) -> Run {
    runnerctl_as(&kubeconfig(), args)
}

/// Run `runnerctl` with a given kubeconfig.
pub fn runnerctl_as(kubeconfig: &str, args: &[&str]) -> Run {
    runnerctl_at(kubeconfig, &super::root(), &[], args)
}

/// Run `runnerctl` with the admin kubeconfig in directory `dir`.
pub fn runnerctl_in(dir: &std::path::Path, args: &[&str]) -> Run {
    runnerctl_at(&kubeconfig(), dir, &[], args)
}

/// Run `runnerctl` with the admin kubeconfig and these environment variables.
pub fn runnerctl_env(env: &[(&str, &str)], args: &[&str]) -> Run {
    runnerctl_at(&kubeconfig(), &super::root(), env, args)
}

fn runnerctl_at(
    kubeconfig: &str,
    dir: &std::path::Path,
    env: &[(&str, &str)],
    args: &[&str],
) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_runnerctl"))
        .args(args)
        .envs(env.iter().copied())
        .current_dir(dir)
        .env("KUBECONFIG", kubeconfig)
        .env_remove("RUNNERCTL_NAMESPACE")
        .stdin(Stdio::null())
        .output()
        .expect("run runnerctl");
    let run = Run::from(out);
    if !args.contains(&"--show-secrets") {
        for secret in [TOKEN, TOKEN_B64] {
            assert!(
                !run.all().contains(secret),
                "token in output of runnerctl {args:?}:\n{}",
                run.all()
            );
        }
    }
    run
}

/// Run kubectl with the admin kubeconfig, optionally feeding stdin.
pub fn kubectl(args: &[&str], stdin: Option<&str>) -> Run {
    Run::from(kubectl::run(&kubeconfig(), args, stdin))
}

/// Create namespace `ns` enforcing the Pod Security `level` (deleted by its test's
/// [`TestNamespace`]).
pub fn create_namespace_enforcing(ns: &str, level: &str) {
    kubectl(&["create", "namespace", ns], None).expect(0);
    let label = format!("pod-security.kubernetes.io/enforce={level}");
    kubectl(&["label", "namespace", ns, &label], None).expect(0);
}

/// Value flags that give the runner an image kwok never starts (ImagePullBackOff; see
/// xtask/testenv's kwok stages).
pub const PULL_BACKOFF: [&str; 2] = ["--set", "image.registry=pull-backoff.invalid"];

/// `runnerctl apply` of the seed release in `ns` with the runner image kwok never starts
/// ([`PULL_BACKOFF`]), `--yes` and `extra` flags.
pub fn apply_unpullable(ns: &str, extra: &[&str]) -> Run {
    runnerctl(&seed_args(
        "apply",
        ns,
        &[&PULL_BACKOFF[..], &["--yes"], extra].concat(),
    ))
}

/// kubectl get ... -o json, parsed.
pub fn get_json(args: &[&str]) -> serde_json::Value {
    let mut a = vec!["get"];
    a.extend_from_slice(args);
    a.extend_from_slice(&["-o", "json"]);
    let r = kubectl(&a, None).expect(0);
    serde_json::from_str(&r.stdout).unwrap()
}

/// The seed release's value flags.
pub const SEED: &[&str] = &[
    "--set",
    "gitlabUrl=https://gitlab.example.com",
    "--set",
    "runnerToken=glrt-test-XXXX",
    "--set",
    "rbac.create=true",
    "--set",
    "serviceAccount.create=true",
    "--set",
    "runners.privileged=true",
];

/// `runnerctl <verb> -n ns [--create-namespace] <seed flags> <extra>`.
pub fn seed_args<'a>(verb: &'a str, ns: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut a = vec![verb, "-n", ns, "--create-namespace"];
    a.extend_from_slice(SEED);
    a.extend_from_slice(extra);
    a
}

/// Install the seed release in `ns` and check it went well.
pub fn install_seed(ns: &str) -> Run {
    let r = runnerctl(&seed_args("apply", ns, &["--yes", "--timeout", "2m"])).expect(0);
    assert!(
        r.stdout
            .contains("7 to add, 0 to change, 0 to delete, 0 unchanged"),
        "{}",
        r.stdout
    );
    r
}

/// `Kind/name -> resourceVersion` of the release's objects and the ApplySet parent.
pub fn resource_versions(ns: &str) -> std::collections::BTreeMap<String, String> {
    let mut out = std::collections::BTreeMap::new();
    let list = get_json(&[
        "-n",
        ns,
        "serviceaccount,secret,configmap,role,rolebinding,deployment",
    ]);
    for it in list["items"].as_array().unwrap() {
        let name = it["metadata"]["name"].as_str().unwrap();
        if name == "default" || name == "kube-root-ca.crt" {
            continue;
        }
        out.insert(
            format!("{}/{}", it["kind"].as_str().unwrap(), name),
            it["metadata"]["resourceVersion"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    let nsobj = get_json(&["namespace", ns]);
    out.insert(
        format!("Namespace/{ns}"),
        nsobj["metadata"]["resourceVersion"]
            .as_str()
            .unwrap()
            .to_string(),
    );
    out
}

/// Delete a test namespace without waiting (best effort cleanup).
pub fn cleanup(ns: &str) {
    let _ = kubectl(
        &[
            "delete",
            "namespace",
            ns,
            "--wait=false",
            "--ignore-not-found",
        ],
        None,
    );
}
