//! Bad input: each case gets a clear message naming the place, exit code 1 and empty stdout.
use std::path::Path;

use crate::support;

/// One bad command line and what its error must say.
struct Case {
    name: &'static str,
    args: Vec<&'static str>,
    files: Vec<(&'static str, &'static str)>,
    stdin: Option<&'static str>,
    /// Substrings the error must contain.
    expect: &'static [&'static str],
}

impl Case {
    /// `runnerctl render <args>`.
    fn render(name: &'static str, args: &[&'static str], expect: &'static [&'static str]) -> Self {
        let mut all = vec!["render"];
        all.extend_from_slice(args);
        Case {
            name,
            args: all,
            files: Vec::new(),
            stdin: None,
            expect,
        }
    }

    /// `runnerctl render --set gitlabUrl=... --set runnerToken=glrt-x <args>`.
    fn render_with_token(
        name: &'static str,
        args: &[&'static str],
        expect: &'static [&'static str],
    ) -> Self {
        Case::render(name, &[URL_AND_TOKEN, args].concat(), expect)
    }

    /// A file the command reads, written to its working directory first.
    fn file(mut self, name: &'static str, text: &'static str) -> Self {
        self.files.push((name, text));
        self
    }

    /// Text fed to the command's stdin.
    fn stdin(mut self, text: &'static str) -> Self {
        self.stdin = Some(text);
        self
    }
}

const URL: &str = "gitlabUrl=https://gitlab.example.com";
/// The least a render needs: a GitLab URL and a token.
const URL_AND_TOKEN: &[&str] = &["--set", URL, "--set", "runnerToken=glrt-x"];

fn cases() -> Vec<Case> {
    vec![
        Case::render(
            "malformed YAML names file:line:column",
            &["-f", "bad.yaml"],
            &["bad.yaml:"],
        )
        .file(
            "bad.yaml",
            "gitlabUrl: https://gitlab.example.com\nrunners:\n  tags: [k8s\n  locked: false\n",
        ),
        Case::render("malformed YAML on stdin", &["-f", "-"], &["<stdin>:"])
            .stdin("gitlabUrl: {x\n"),
        Case::render(
            "bad --set",
            &["--set", "gitlabUrl"],
            &["--set", "gitlabUrl", "key=value"],
        ),
        Case::render(
            "wrong type from a file",
            &["-f", "ten.yaml", "--set", "runnerToken=glrt-x"],
            &["ten.yaml", "concurrent", "integer", "\"ten\""],
        )
        .file(
            "ten.yaml",
            "gitlabUrl: https://gitlab.example.com\nconcurrent: \"ten\"\n",
        ),
        Case::render(
            "bad TOML in runners.config",
            &["-f", "toml.yaml"],
            &["runners.config:3:", "invalid TOML"],
        )
        .file(
            "toml.yaml",
            "gitlabUrl: https://gitlab.example.com\nrunnerToken: glrt-x\nrunners:\n  config: |\n    [[runners]]\n      [runners.kubernetes]\n        image = alpine\n",
        ),
        Case::render(
            "unsupported template expression",
            &["-f", "tpl.yaml"],
            &[
                "runners.config:2:",
                "unsupported template expression",
                "include",
                "supported are",
            ],
        )
        .file(
            "tpl.yaml",
            "gitlabUrl: https://gitlab.example.com\nrunnerToken: glrt-x\nrunners:\n  config: |\n    [[runners]]\n      name = \"{{ include \\\"name\\\" . }}\"\n",
        ),
        Case::render(
            "missing gitlabUrl",
            &["--set", "runnerToken=glrt-x"],
            &["gitlabUrl is not set", "--set gitlabUrl="],
        ),
        Case::render(
            "no token and no runners.secret",
            &["--set", URL],
            &["no runner token", "runnerToken", "runners.secret"],
        ),
        Case::render_with_token(
            "two [[runners]]",
            &["--set", "runners.config=[[runners]]\n[[runners]]\n"],
            &[
                "runnerToken: runners.config has 2 [[runners]]",
                "runnerctl.runnerTokens.<name>",
            ],
        ),
        Case::render_with_token(
            "privileged conflict",
            &[
                "--set",
                "runners.privileged=true",
                "--set",
                "runners.config=[[runners]]\n[runners.kubernetes]\nprivileged = false\n",
            ],
            &["runners.privileged is true", "privileged = false"],
        ),
        Case::render_with_token(
            "typo in affinity is caught by the schema",
            &["--set-json", "affinity={\"nodeAfinity\":{}}"],
            &["Deployment/", "nodeAfinity", "unknown field"],
        ),
        Case::render_with_token(
            "a string in replicas names the key and the expected type",
            &["-f", "replicas.yaml"],
            &[
                "values file replicas.yaml:2:11: replicas: expected an integer of 0 or more, got the string \"two\"",
            ],
        )
        .file("replicas.yaml", "# scale\nreplicas: two\n"),
        Case::render_with_token(
            "a service type Kubernetes does not have",
            &["--set", "sessionServer.serviceType=Loadbalancer"],
            &[
                "--set: sessionServer.serviceType: expected one of ClusterIP, NodePort, LoadBalancer (default \"LoadBalancer\"), got the string \"Loadbalancer\"",
            ],
        ),
        Case::render_with_token(
            "a port out of range",
            &["-f", "port.yaml"],
            &[
                "values file port.yaml:3:13: sessionServer.nodePort: expected an integer from 1 to 65535, got the integer 70000",
            ],
        )
        .file(
            "port.yaml",
            "sessionServer:\n  enabled: true\n  nodePort: 70000\n",
        ),
        Case::render(
            "a gitlabUrl with credentials in it, not echoed",
            &["--set", "runnerToken=glrt-x", "--set", "gitlabUrl=https://root:hunter2@gitlab.example.com/"],
            &[
                "--set: gitlabUrl: expected an http:// or https:// URL without user:password in it, got the string <redacted>",
            ],
        ),
        Case::render(
            "a token with the wrong type, its value not echoed",
            &["--set", URL, "--set", "runnerToken=8812345678"],
            &["--set: runnerToken: expected a string, got the integer <redacted>"],
        ),
        Case::render_with_token(
            "unknown key with --strict",
            &["--strict", "--set", "runners.privilegd=true"],
            &["runners.privilegd", "runners.privileged"],
        ),
        Case::render_with_token(
            "runners.config key GitLab Runner ignores, with --strict",
            &["--strict", "--set-file", "runners.config=runner.toml"],
            &[
                "strict mode",
                "runners.config:3:5: unknown key \"tls_verify\" in [runners.kubernetes]",
                "\"tls_verify\" is a key of [runners.docker]",
            ],
        )
        .file("runner.toml", RUNNER_TOML_WITH_IGNORED_KEYS),
        Case::render(
            "missing values file",
            &["-f", "does-not-exist.yaml"],
            &["does-not-exist.yaml"],
        ),
        Case::render(
            "an endless values file is refused at the size limit",
            &["-f", "/dev/zero"],
            &["values file /dev/zero is larger than 8 MiB"],
        ),
        Case::render_with_token(
            "an endless --set-file is refused at the size limit",
            &["--set-file", "runners.config=/dev/zero"],
            &["--set-file runners.config: file /dev/zero is larger than 8 MiB"],
        ),
        Case::render_with_token(
            "a release name helm refuses",
            &["My_Runner"],
            &["release name \"My_Runner\"", "'M' at position 1", "lowercase"],
        ),
        Case::render_with_token(
            "a release name longer than helm's 53",
            &["a-very-long-release-name-that-is-longer-than-helm-allows"],
            &["helm allows at most 53"],
        ),
        Case::render_with_token(
            "a namespace Kubernetes refuses",
            &["-n", "Team_A"],
            &["namespace \"Team_A\"", "DNS-1123"],
        ),
        Case::render_with_token(
            "a fullnameOverride Kubernetes refuses",
            &["--set", "fullnameOverride=Runner.X"],
            &["object name \"Runner.X\"", "fullnameOverride"],
        ),
        Case::render_with_token(
            "a job namespace Kubernetes refuses",
            &["--set", "runners.jobNamespace=jobs_ns"],
            &["runners.jobNamespace: namespace \"jobs_ns\""],
        ),
        Case::render_with_token(
            "an rbac rule that is not a map",
            &["--set", "rbac.create=true", "--set", "rbac.rules={pods}"],
            &["rbac.rules[0]", "must be a map"],
        ),
        Case {
            name: "a usage error exits 1, not 2 (2 means changes found)",
            args: vec!["render", "--no-such-flag"],
            files: Vec::new(),
            stdin: None,
            expect: &["--no-such-flag", "Usage:"],
        },
        Case {
            name: "a bad --timeout is a usage error",
            args: vec!["apply", "--timeout", "5x"],
            files: Vec::new(),
            stdin: None,
            expect: &["--timeout", "5x"],
        },
    ]
}

#[test]
fn bad_input_is_reported_with_exit_code_1_and_no_output() {
    let dir = std::env::temp_dir().join(format!("runnerctl-cli-errors-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut failures = Vec::new();
    for case in cases() {
        for (name, text) in &case.files {
            std::fs::write(dir.join(name), text).unwrap();
        }
        let out = support::runnerctl(&case.args, case.stdin, Some(Path::new(&dir)));
        let (stdout, stderr) = support::texts(&out);
        let mut problems = Vec::new();
        if out.status.code() != Some(1) {
            problems.push(format!("exit code {:?}", out.status.code()));
        }
        if !stdout.is_empty() {
            problems.push(format!("stdout not empty: {stdout:.200}"));
        }
        if !stderr.starts_with("runnerctl: ") {
            problems.push("stderr does not start with `runnerctl: `".to_string());
        }
        for want in case.expect {
            if !stderr.contains(want) {
                problems.push(format!("stderr lacks {want:?}"));
            }
        }
        if !problems.is_empty() {
            failures.push(format!(
                "{}: {}\n  stderr: {stderr}",
                case.name,
                problems.join("; ")
            ));
        }
    }
    std::fs::remove_dir_all(&dir).ok();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn tokens_never_reach_error_messages() {
    // Each command line holds the secret SECRET123 somewhere a careless message would echo.
    let url = "gitlabUrl=https://gitlab.example.com";
    let token = "runnerToken=glrt-SECRET123";
    let cases: &[&[&str]] = &[
        &[
            "--set",
            token,
            "--set",
            "runners.config=[[runners]]\nx = = 1",
        ],
        &["--set", url, "--set", "glrt-SECRET123"],
        &["--set", url, "--set", "a[glrt-SECRET123]=1"],
        &["--set", url, "--set", "Ab3SECRET123xYz9QwErTy=1"],
        &[
            "--set",
            url,
            "--set-json",
            "runnerToken={\"x\":glrt-SECRET123",
        ],
        &[
            "--set",
            url,
            "--set-string",
            token,
            "--set",
            "concurrent=glrt-SECRET123",
        ],
        &[
            "--set",
            url,
            "--set",
            token,
            "--set",
            "extraObjects[0]=a: [glrt-SECRET123",
        ],
        &[
            "--set",
            url,
            "--set",
            token,
            "--set-json",
            "extraObjects=[{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"data\":{\"t\":\"glrt-SECRET123\"}}]",
        ],
        &[
            "--set",
            url,
            "--set",
            token,
            "--set-json",
            "affinity={\"nodeAfinity\":\"glrt-SECRET123\"}",
        ],
        &[
            "--set",
            token,
            "--set",
            "gitlabUrl=https://me:SECRET123@gitlab.example.com",
        ],
        &[
            "--set",
            url,
            "--set-json",
            "runnerToken={\"t\":\"SECRET123\"}",
        ],
        &[
            "--set",
            url,
            "--set-json",
            "runnerToken=[\"glrt-SECRET123\"]",
        ],
        &[
            "--set",
            url,
            "--set",
            token,
            "--set",
            "replicas=glrt-SECRET123",
        ],
    ];
    for args in cases {
        let all: Vec<&str> = std::iter::once("render")
            .chain(args.iter().copied())
            .collect();
        let out = support::runnerctl(&all, None, None);
        let (stdout, stderr) = support::texts(&out);
        assert!(!stderr.contains("SECRET123"), "{args:?}: {stderr}");
        assert!(!stdout.contains("SECRET123"), "{args:?}: {stdout}");
    }
}

/// Run runnerctl expecting success; returns stdout and stderr.
fn run_ok(args: &[&str]) -> (String, String) {
    let out = support::runnerctl(args, None, None);
    let (stdout, stderr) = support::texts(&out);
    assert!(out.status.success(), "{args:?}: {stderr}");
    (stdout, stderr)
}

/// `render` with a URL and a token plus `extra`, expecting success.
fn render_ok(extra: &[&str]) -> (String, String) {
    run_ok(&[&["render"], URL_AND_TOKEN, extra].concat())
}

#[test]
fn unknown_key_is_a_warning_with_a_suggestion() {
    let (stdout, stderr) = render_ok(&["--set", "concurent=3"]);
    assert!(!stdout.is_empty());
    assert!(
        stderr.contains("warning")
            && stderr.contains("concurent")
            && stderr.contains("\"concurrent\""),
        "{stderr}"
    );
}

/// A `runners.config` with keys in the wrong section (both from public values files).
const RUNNER_TOML_WITH_IGNORED_KEYS: &str = "[[runners]]\n  [runners.kubernetes]\n    tls_verify = false\n    environment = [\"A=1\"]\n    pull_polcy = \"always\"\n";

#[test]
fn runner_config_keys_gitlab_runner_ignores_are_warnings() {
    let dir = std::env::temp_dir().join(format!("runnerctl-cli-keys-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("runner.toml"), RUNNER_TOML_WITH_IGNORED_KEYS).unwrap();
    let out = support::runnerctl(
        &[
            &["render"],
            URL_AND_TOKEN,
            &["--set-file", "runners.config=runner.toml"],
        ]
        .concat(),
        None,
        Some(&dir),
    );
    let _ = std::fs::remove_dir_all(&dir);
    let (stdout, stderr) = support::texts(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stdout.contains("tls_verify = false"),
        "the config is rendered as written"
    );
    for expected in [
        "runners.config:3:5: unknown key \"tls_verify\" in [runners.kubernetes]; GitLab Runner ignores it. \"tls_verify\" is a key of [runners.docker]",
        "runners.config:4:5: unknown key \"environment\" in [runners.kubernetes]; GitLab Runner ignores it. \"environment\" is a key of [[runners]]",
        "runners.config:5:5: unknown key \"pull_polcy\" in [runners.kubernetes]; GitLab Runner ignores it. Did you mean \"pull_policy\"?",
    ] {
        assert!(
            stderr.contains(expected),
            "missing {expected:?} in:\n{stderr}"
        );
    }
}

#[test]
fn dind_without_privileged_warns() {
    let config = "runners.config=[[runners]]\n[runners.kubernetes]\n[[runners.kubernetes.services]]\nname = \"docker:dind\"\n";
    let (_, stderr) = render_ok(&["--set", config]);
    assert!(
        stderr.contains("docker:dind") && stderr.contains("runners.privileged=true"),
        "{stderr}"
    );
}

/// Every `--help`, root and subcommands, as a reviewed snapshot (`help_help`,
/// `help_<verb>_help`).
#[test]
fn help_texts() {
    for verb in [
        "",
        "render",
        "diff",
        "apply",
        "status",
        "doctor",
        "uninstall",
        "history",
        "rollback",
        "completion",
        "job-pod",
        "ci-example",
        "values",
        "token rotate",
        "managers",
        "controller run",
        "controller install",
        "controller uninstall",
        "controller export",
    ] {
        let args: Vec<&str> = verb
            .split(' ')
            .chain(["--help"])
            .filter(|a| !a.is_empty())
            .collect();
        let (stdout, _) = run_ok(&args);
        let name = format!("help_{}", args.join("_").replace("--", ""));
        insta::assert_snapshot!(name, stdout);
    }
}

/// `completion SHELL` prints a script for that shell that knows the verbs and their flags.
#[test]
fn completion_scripts_know_the_verbs_and_flags() {
    for (shell, marker) in [
        ("bash", "complete -F _runnerctl"),
        ("zsh", "#compdef runnerctl"),
        ("fish", "complete -c runnerctl"),
        ("powershell", "Register-ArgumentCompleter"),
    ] {
        let (stdout, _) = run_ok(&["completion", shell]);
        assert!(stdout.contains(marker), "{shell}: {marker}");
        for word in ["render", "uninstall", "show-secrets", "create-namespace"] {
            assert!(stdout.contains(word), "{shell} script knows {word}");
        }
    }
}

#[test]
fn privileged_job_namespace_warning_names_where_the_pods_run() {
    let seed = |ns: &'static str, create: bool| {
        let mut args = vec![
            "render",
            "-n",
            ns,
            "-f",
            "values/examples/seed.yaml",
            "-o",
            "json",
        ];
        if create {
            args.push("--create-namespace");
        }
        let (stdout, stderr) = run_ok(&args);
        let list: serde_json::Value = serde_json::from_str(&stdout).unwrap();
        let levels: Vec<(String, String)> = list["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|o| o["kind"] == "Namespace")
            .map(|o| {
                let labels = &o["metadata"]["labels"];
                (
                    o["metadata"]["name"].as_str().unwrap().to_string(),
                    labels["pod-security.kubernetes.io/enforce"]
                        .as_str()
                        .unwrap()
                        .to_string(),
                )
            })
            .collect();
        (levels, stderr)
    };
    let pair = |ns: &str, level: &str| (ns.to_string(), level.to_string());
    // The config sends job pods to "gitlab-runner"; the release lives in "ci", which hosts
    // only the runner manager: baseline is enough there. --create-namespace creates both,
    // the job namespace privileged, so nothing is left to warn about.
    let (levels, stderr) = seed("ci", true);
    assert_eq!(
        levels,
        [pair("ci", "baseline"), pair("gitlab-runner", "privileged")]
    );
    assert!(!stderr.contains("must allow privileged pods"), "{stderr}");
    // Without it, the warning names the job namespace and the flag that would create it.
    let (levels, stderr) = seed("ci", false);
    assert!(levels.is_empty());
    assert!(
        stderr.contains("namespace \"gitlab-runner\" must allow privileged pods"),
        "{stderr}"
    );
    assert!(stderr.contains("or pass --create-namespace"), "{stderr}");
    // Same namespace for both: one namespace, privileged, and no warning.
    let (levels, stderr) = seed("gitlab-runner", true);
    assert!(!stderr.contains("must allow privileged pods"), "{stderr}");
    assert_eq!(levels, [pair("gitlab-runner", "privileged")]);
}

/// Without `-n`, `render` puts the release in the kubeconfig context's namespace: the rule the
/// cluster verbs use too, so `render` and `diff` agree on where objects go.
#[test]
fn render_defaults_to_the_kubeconfig_context_namespace() {
    let dir = std::env::temp_dir().join(format!("runnerctl-cli-ns-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let kubeconfig = dir.join("config");
    std::fs::write(
        &kubeconfig,
        "apiVersion: v1\nkind: Config\ncurrent-context: a\n\
         contexts: [{name: a, context: {cluster: c, user: u, namespace: team-a}}]\n\
         clusters: [{name: c, cluster: {server: 'https://127.0.0.1:6443'}}]\n\
         users: [{name: u, user: {}}]\n",
    )
    .unwrap();
    let namespaces = |extra: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_runnerctl"))
            .args([&["render", "-o", "json"], URL_AND_TOKEN, extra].concat())
            .env("KUBECONFIG", &kubeconfig)
            .env_remove("RUNNERCTL_NAMESPACE")
            .env_remove("KUBERNETES_SERVICE_HOST")
            .output()
            .unwrap();
        let (stdout, stderr) = support::texts(&out);
        assert!(out.status.success(), "{stderr}");
        let list: serde_json::Value = serde_json::from_str(&stdout).unwrap();
        let mut seen: Vec<String> = list["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["metadata"]["namespace"].as_str().unwrap().to_string())
            .collect();
        seen.dedup();
        seen
    };
    assert_eq!(namespaces(&[]), ["team-a"]);
    assert_eq!(namespaces(&["-n", "ci"]), ["ci"]);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn render_masks_known_secrets_wherever_they_land() {
    let file = "gitlabUrl: https://gitlab.example.com
runnerToken: glrt-LEAK-runner-1
envVars:
  - name: S3_SECRET_KEY
    value: env-secret-LEAK-2
extraEnv:
  API_TOKEN: extra-secret-LEAK-3
runners:
  config: |
    [[runners]]
      token = \"{{ .Values.runnerToken }}\"
      [runners.cache.s3]
        AccessKey = \"cache-access-LEAK-4\"
        SecretKey = \"cache-secret-LEAK-5\"
extraObjects:
  - apiVersion: v1
    kind: Secret
    metadata: {name: extra}
    stringData: {password: object-secret-LEAK-6}
  - apiVersion: v1
    kind: ConfigMap
    metadata:
      name: extra-cm
      annotations: {copied: \"object-secret-LEAK-6 and glrt-LEAK-runner-1\"}
    data: {a: b}
";
    let dir = std::env::temp_dir().join(format!("runnerctl-mask-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("v.yaml"), file).unwrap();
    for format in ["yaml", "json"] {
        let out = support::runnerctl(&["render", "-f", "v.yaml", "-o", format], None, Some(&dir));
        let (stdout, stderr) = support::texts(&out);
        assert!(out.status.success(), "{stderr}");
        assert!(
            !stdout.contains("LEAK") && !stderr.contains("LEAK"),
            "{stdout}{stderr}"
        );
        assert!(
            stdout.contains("token = \\\"***\\\"") || stdout.contains("token = \"***\""),
            "{stdout}"
        );
        let out = support::runnerctl(
            &["render", "-f", "v.yaml", "-o", format, "--show-secrets"],
            None,
            Some(&dir),
        );
        let (stdout, _) = support::texts(&out);
        for n in 1..=6 {
            assert!(
                stdout.contains(&format!("LEAK-{n}")) || n == 1 && stdout.contains("Z2xyd"),
                "LEAK-{n} shown on request"
            );
        }
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn env_values_render_as_strings_like_the_chart() {
    let (stdout, _) = render_ok(&[
        "--set",
        "envVars[0].name=FF_USE_FASTZIP,envVars[0].value=true",
        "--set",
        "envVars[1].name=RETRIES,envVars[1].value=9",
        "--set",
        "extraEnv.FF_X=false",
    ]);
    assert!(
        stdout.contains("name: FF_USE_FASTZIP\n          value: \"true\""),
        "{stdout}"
    );
    assert!(
        stdout.contains("name: RETRIES\n          value: \"9\""),
        "{stdout}"
    );
    assert!(
        stdout.contains("name: FF_X\n          value: \"false\""),
        "{stdout}"
    );
}

#[test]
fn tokens_with_a_newline_and_registration_fields_with_glrt_warn() {
    let dir = std::env::temp_dir().join(format!("runnerctl-token-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("token"), "glrt-from-a-file\n").unwrap();
    let out = support::runnerctl(
        &[
            "render",
            "--set",
            URL,
            "--set-file",
            "runnerToken=token",
            "--set",
            "runners.tags=k8s",
            "--set",
            "runners.locked=false",
            "--show-secrets",
        ],
        None,
        Some(&dir),
    );
    let (stdout, stderr) = support::texts(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("runnerToken: whitespace or a newline around the token was removed"),
        "{stderr}"
    );
    assert!(
        stderr.contains(
            "runners.tags, runners.locked set, but a glrt- runner authentication token ignores them"
        ),
        "{stderr}"
    );
    // base64 of "glrt-from-a-file" without the newline.
    assert!(stdout.contains("Z2xydC1mcm9tLWEtZmlsZQ=="), "{stdout}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn the_role_goes_where_the_config_sends_the_jobs() {
    let config =
        "runners.config=[[runners]]\n  [runners.kubernetes]\n    namespace = \"ci-jobs\"\n";
    let (stdout, stderr) =
        render_ok(&["-n", "runner", "--set", "rbac.create=true", "--set", config]);
    assert!(
        stdout.contains("kind: Role\nmetadata:\n  name: gitlab-runner\n  namespace: ci-jobs"),
        "{stdout}"
    );
    assert!(
        stderr.contains("the Role and RoleBinding go to namespace \"ci-jobs\""),
        "{stderr}"
    );
    let per_job =
        "runners.config=[[runners]]\n  [runners.kubernetes]\n    namespace_per_job = true\n";
    let (_, stderr) = render_ok(&["--set", "rbac.create=true", "--set", per_job]);
    assert!(
        stderr.contains("namespace_per_job") && stderr.contains("rbac.clusterWideAccess=true"),
        "{stderr}"
    );
    let (stdout, _) = render_ok(&[
        "--set",
        "rbac.create=true",
        "--set",
        "rbac.clusterWideAccess=true",
        "--set",
        per_job,
    ]);
    assert!(stdout.contains("- namespaces"), "{stdout}");
}

/// A values file nested as deep as values may be parses on the command's main thread whatever
/// its stack size limit: on its own stack when the limit leaves room, else on a stack of its
/// own. The file's innermost map is then refused by the schema (a pod annotation must be
/// text), which shows the parse finished.
#[test]
fn deep_values_parse_under_any_stack_limit() {
    let dir = std::env::temp_dir().join(format!("runnerctl-deep-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let depth = runnerctl::values::MAX_NESTING_DEPTH;
    let mut text = String::from("podAnnotations:\n");
    for level in 1..depth - 1 {
        text.push_str(&format!("{}k{level}:\n", "  ".repeat(level)));
    }
    text.push_str(&format!("{}v: 1\n", "  ".repeat(depth - 1)));
    std::fs::write(dir.join("deep.yaml"), text).unwrap();
    for limit in ["256", "1024", "8192", "unlimited"] {
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!(
                "ulimit -s {limit} && exec \"$0\" render --set gitlabUrl=https://gitlab.example.com --set runnerToken=glrt-x -f deep.yaml"
            ))
            .arg(env!("CARGO_BIN_EXE_runnerctl"))
            .current_dir(&dir)
            .env("KUBECONFIG", "/nonexistent/kubeconfig")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "stack limit {limit}: {stderr}");
        assert!(
            stderr.contains("deep.yaml:3:5: podAnnotations.k1: expected a string"),
            "stack limit {limit}: {stderr}"
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
